#ifndef RADA_FAST_EXPF_H
#define RADA_FAST_EXPF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Cephes-style expf: range reduction by ln 2 and a degree-6 minimax polynomial; written
 * branch-free so that the compiler vectorises the loops that inline it. */
static inline float fast_expf(float x) {
    x = fminf(fmaxf(x, -87.33654f), 88.37626f);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
