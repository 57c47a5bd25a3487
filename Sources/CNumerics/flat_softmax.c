#include "rada_flat_softmax.h"
#include "cnumerics.h"

#include <math.h>

#if defined(__x86_64__) && defined(__linux__)
#define FLAT_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define FLAT_CLONES
#endif

enum { LANES = 16 };

FLAT_CLONES
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

FLAT_CLONES
float rada_flat_sum(const float *x, size_t n) {
    float lanes[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) lanes[j] += x[i + j];
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += lanes[j];
    for (; i < n; i++) s += x[i];
    return s;
}

FLAT_CLONES
void rada_flat_affine(float *x, size_t n, float scale, float shift) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] * scale - shift;
}

void rada_softmax_flat(float *x, size_t n, float scale) {
    if (n == 0) return;
    /* A positive scale is monotonic: max(scale * x) = scale * max(x). */
    float shift = scale * rada_flat_max(x, n);
    rada_flat_affine(x, n, scale, shift);
    rada_vexp(x, x, n); /* rada_vexp has its own vectorised in-place loop */
    float inverse = 1.0f / rada_flat_sum(x, n);
    rada_flat_affine(x, n, inverse, 0.0f);
}
