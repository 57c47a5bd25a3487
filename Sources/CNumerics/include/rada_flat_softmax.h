#ifndef RADA_FLAT_SOFTMAX_H
#define RADA_FLAT_SOFTMAX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** x <- softmax(scale * x) over all n values as one distribution (scale > 0). Maximum and sum
 *  are accumulated in 16 independent lanes so that they vectorise; for the K*K flat attention
 *  maps of the RAda mask, where one scalar accumulator made the row kernel the bottleneck. */
void rada_softmax_flat(float *x, size_t n, float scale);
/** The largest of x[0, n) (−∞ when n is 0), in 16 lanes; also the row softmax's maximum. */
float rada_flat_max(const float *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
