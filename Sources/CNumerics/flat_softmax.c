#include "rada_flat_softmax.h"
#include "cnumerics.h"
#include "target_clones.h"
#include "fast_expf.h"

#include <math.h>

enum { LANES = 16 };

RADA_CLONES
float rada_flat_max(const float *x, size_t n) {
    float lanes[LANES];
    for (int j = 0; j < LANES; j++) lanes[j] = -INFINITY;
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
    float m = -INFINITY;
    for (int j = 0; j < LANES; j++) m = lanes[j] > m ? lanes[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* x <- exp(x * scale - shift) in place, returning the sum of the results: one pass instead of
 * an affine pass, an exponential pass and a summing pass over the K*K map (it lives in L3, so
 * passes cost bandwidth). The lanes and their order are those of a separate lane sum. */
RADA_CLONES
static float exp_shifted_sum(float *x, size_t n, float scale, float shift) {
    float lanes[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float e = fast_expf(x[i + j] * scale - shift);
            x[i + j] = e;
            lanes[j] += e;
        }
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += lanes[j];
    for (; i < n; i++) {
        float e = fast_expf(x[i] * scale - shift);
        x[i] = e;
        s += e;
    }
    return s;
}

RADA_CLONES
void rada_flat_affine(float *x, size_t n, float scale, float shift) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] * scale - shift;
}

void rada_softmax_flat(float *x, size_t n, float scale) {
    if (n == 0) return;
    /* A positive scale is monotonic: max(scale * x) = scale * max(x). */
    float shift = scale * rada_flat_max(x, n);
    float inverse = 1.0f / exp_shifted_sum(x, n, scale, shift);
    rada_flat_affine(x, n, inverse, 0.0f);
}
