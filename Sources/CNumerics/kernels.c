#include "cnumerics.h"
#include "target_clones.h"
#include "fast_expf.h"
#include "rada_flat_softmax.h"

#include <math.h>
#include <string.h>

/* Separate loops for in-place and out-of-place calls: with x == y the compiler's run-time
 * overlap check fails and the generic loop would run scalar. */
RADA_CLONES
static void vexp_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = fast_expf(x[i]);
}

RADA_CLONES
static void vexp_distinct(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = fast_expf(x[i]);
}

void rada_vexp(const float *x, float *y, size_t n) {
    if ((const float *)y == x) vexp_inplace(y, n);
    else vexp_distinct(x, y, n);
}

/* Sums with 16 independent partial sums: a single float accumulator is a serial dependency
 * chain the compiler may not reorder (no -ffast-math), which keeps reductions scalar. */
static inline float lane_sum(const float *x, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += x[i + l];
    float total = 0.0f;
    for (; i < n; i++) total += x[i];
    for (int l = 0; l < 16; l++) total += acc[l];
    return total;
}

/* The row maximum comes from the flat softmax's 16-lane maximum (one running fmaxf was a serial
 * chain of 3-cycle steps, a third of a 50-wide row's softmax). With scale > 0, rounding s·x is
 * monotonic in x, so s·max(x) is exactly max(s·x). */
RADA_CLONES
void rada_softmax_rows(float *x, size_t rows, size_t cols, float scale) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float m = scale * rada_flat_max(row, cols);
        for (size_t c = 0; c < cols; c++) row[c] = fast_expf(row[c] * scale - m);
        float inv = 1.0f / lane_sum(row, cols);
        for (size_t c = 0; c < cols; c++) row[c] *= inv;
    }
}

RADA_CLONES
void rada_layernorm_rows(const float *x, float *y, const float *gamma, const float *beta,
                         size_t rows, size_t cols, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *in = x + r * cols;
        float *out = y + r * cols;
        float mean = lane_sum(in, cols) / (float)cols;
        float acc[16] = {0};
        size_t c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16)
            for (int l = 0; l < 16; l++) {
                float d = in[c0 + l] - mean;
                acc[l] += d * d;
            }
        float sq = 0.0f;
        for (; c0 < cols; c0++) sq += (in[c0] - mean) * (in[c0] - mean);
        for (int l = 0; l < 16; l++) sq += acc[l];
        float inv = 1.0f / sqrtf(sq / (float)cols + eps);
        for (size_t c = 0; c < cols; c++) out[c] = (in[c] - mean) * inv * gamma[c] + beta[c];
    }
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd-extended. */
static inline float fast_erff(float x) {
    float ax = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                 t * (-1.453152027f + t * 1.061405429f))));
    float y = 1.0f - poly * fast_expf(-ax * ax);
    return copysignf(y, x);
}

RADA_CLONES
void rada_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + fast_erff(v * 0.70710678118654752f));
    }
}

RADA_CLONES
void rada_quick_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + fast_expf(-1.702f * v));
    }
}

RADA_CLONES
void rada_add_bias_rows(float *x, const float *bias, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        for (size_t c = 0; c < cols; c++) row[c] += bias[c];
    }
}

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) { mant <<= 1; exp--; }
            mant &= 0x3FFu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void rada_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

void rada_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &bits, sizeof(float));
    }
}

/* Round-to-nearest-even float to half, with overflow to infinity and subnormals. */
void rada_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &src[i], sizeof x);
        uint32_t sign = (x >> 16) & 0x8000u;
        uint32_t absx = x & 0x7FFFFFFFu;
        uint16_t h;
        if (absx >= 0x7F800000u) {
            h = (uint16_t)(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0));
        } else if (absx >= 0x477FF000u) { /* rounds to >= 65520: infinity */
            h = (uint16_t)(sign | 0x7C00u);
        } else if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
            float f;
            memcpy(&f, &absx, sizeof f);
            float scaled = f * 16777216.0f; /* 2^24: one unit = smallest subnormal */
            uint32_t m = (uint32_t)nearbyintf(scaled);
            h = (uint16_t)(sign | m);
        } else {
            uint32_t mant = absx & 0x7FFFFFu;
            uint32_t exp = (absx >> 23) - 127 + 15;
            uint32_t half = (exp << 10) | (mant >> 13);
            uint32_t rest = mant & 0x1FFFu;
            if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half += 1;
            h = (uint16_t)(sign | half);
        }
        dst[i] = h;
    }
}
