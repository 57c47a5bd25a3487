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

#ifdef __cplusplus
}
#endif
#endif
