#ifndef RADA_ATTENTION_INTERNAL_H
#define RADA_ATTENTION_INTERNAL_H

/* The AVX-512 pieces both attention heads share (fp32 in attention_head.c, bf16 in
 * attention_bf16.c): the dispatch on a block's row count, the 16 × 16 transpose and the softmax
 * of one row of scores. */

#include "fast_expf.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* Calls CALL(R) with R the compile-time row count of a block of `rows` (1 … 8 for score blocks,
 * 1 … 4 for value blocks), so that each count gets its own unrolled register block. */
#define RADA_SCORE_CASES(rows, CALL) \
    switch (rows) {                  \
    case 1: CALL(1); break;          \
    case 2: CALL(2); break;          \
    case 3: CALL(3); break;          \
    case 4: CALL(4); break;          \
    case 5: CALL(5); break;          \
    case 6: CALL(6); break;          \
    case 7: CALL(7); break;          \
    default: CALL(8); break;         \
    }
#define RADA_VALUE_CASES(rows, CALL) \
    switch (rows) {                  \
    case 1: CALL(1); break;          \
    case 2: CALL(2); break;          \
    case 3: CALL(3); break;          \
    default: CALL(4); break;         \
    }

/* Transposes a 16 × 16 block of 32-bit lanes in registers (r[i] lane c becomes r[c] lane i):
 * unpack pairs of rows, then 64- and 128-bit lanes. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16_registers(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[4q + s] now holds, in each 128-bit lane l, column 4l + s of rows 4q … 4q + 3. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/* dst[c · ldd + r] = src[r · lds + c] for a 16 × 16 block, rows r ≥ valid read as 0. */
__attribute__((target("avx512f"), always_inline)) static inline void
transpose16(const float *src, int lds, int valid, float *dst, int ldd) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = i < valid ? _mm512_loadu_ps(src + (size_t)i * lds) : _mm512_setzero_ps();
    transpose16_registers(r);
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}

/* Softmax of row[0, n) after scaling, as `rada_softmax_rows` computes it but on masked vectors:
 * 50–200-wide rows would otherwise spend a third of their time in scalar tails. */
__attribute__((target("avx512f"), always_inline)) static inline void softmax_row(float *row, int n, float scale) {
    __m512 vs = _mm512_set1_ps(scale), m = _mm512_set1_ps(-INFINITY);
    for (int c = 0; c < n; c += 16) {
        __mmask16 k = n - c >= 16 ? 0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        m = _mm512_mask_max_ps(m, k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), vs));
    }
    __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(m)), sum = _mm512_setzero_ps();
    for (int c = 0; c < n; c += 16) {
        __mmask16 k = n - c >= 16 ? 0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        __m512 e = fast_expf_avx512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, row + c), vs, shift));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(row + c, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int c = 0; c < n; c += 16) {
        __mmask16 k = n - c >= 16 ? 0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        _mm512_mask_storeu_ps(row + c, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), inverse));
    }
}

#endif

#endif
