#include "cnumerics.h"
#include "cnumerics_packed.h"
#include "fast_expf.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

int rada_attention_head_supported(int head_width) {
#if defined(__x86_64__)
    return head_width == RADA_ATTENTION_HEAD_WIDTH && rada_f32_kernel_available(RADA_F32_AVX512);
#else
    (void)head_width;
    return 0;
#endif
}

/* Scores (length rows of lp, lp = length rounded up to 16), then the transposed keys (64 × lp). */
size_t rada_attention_scratch_size(int length) {
    size_t lp = (size_t)(length + 15) / 16 * 16;
    return ((size_t)length + RADA_ATTENTION_HEAD_WIDTH) * lp;
}

#if defined(__x86_64__)
/* QS query rows per block of scores (2·QS accumulators: with 8, sixteen independent FMA chains
 * hide the FMA latency, where 4 rows' eight only just did, and each transposed key vector serves
 * twice the rows); QV rows per block of values (4·QV accumulators). */
enum { D = RADA_ATTENTION_HEAD_WIDTH, QS = 8, QV = 4 };

/* dst[c · ldd + r] = src[r · lds + c] for a 16 × 16 block, rows r ≥ valid read as 0: unpack
 * pairs of rows, then 64- and 128-bit lanes, in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
transpose16(const float *src, int lds, int valid, float *dst, int ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < valid ? _mm512_loadu_ps(src + (size_t)i * lds) : _mm512_setzero_ps();
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
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}

/* Scores of up to QS query rows against 32 keys starting at c0 (16 where lp ends there; keys
 * transposed: kt[dd·lp + j]; score rows at stride lp);
 * 2·QS accumulators, so that FMAs of different rows overlap their latency. */
__attribute__((target("avx512f"), always_inline)) static inline void
score_block(const int rows, const float *q, int ld, const float *kt, int lp, int c0, float *scores) {
    __m512 lo[QS], hi[QS];
    for (int r = 0; r < rows; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    int wide = lp - c0 >= 32;
    for (int dd = 0; dd < D; dd++) {
        __m512 k0 = _mm512_loadu_ps(kt + (size_t)dd * lp + c0);
        __m512 k1 = wide ? _mm512_loadu_ps(kt + (size_t)dd * lp + c0 + 16) : _mm512_setzero_ps();
        for (int r = 0; r < rows; r++) {
            __m512 x = _mm512_set1_ps(q[(size_t)r * ld + dd]);
            lo[r] = _mm512_fmadd_ps(x, k0, lo[r]);
            hi[r] = _mm512_fmadd_ps(x, k1, hi[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_ps(scores + (size_t)r * lp + c0, lo[r]);
        if (wide) _mm512_storeu_ps(scores + (size_t)r * lp + c0 + 16, hi[r]);
    }
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

/* out rows = P rows (at `stride`) · V over keys [0, keys): 4 vectors of 16 per row, QV rows at
 * once. */
__attribute__((target("avx512f"), always_inline)) static inline void
value_block(const int rows, const float *p, int stride, int keys, const float *v, int ld, float *out, int ldo) {
    __m512 acc[QV][4];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    for (int j = 0; j < keys; j++) {
        const float *vj = v + (size_t)j * ld;
        __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16);
        __m512 v2 = _mm512_loadu_ps(vj + 32), v3 = _mm512_loadu_ps(vj + 48);
        for (int r = 0; r < rows; r++) {
            __m512 x = _mm512_set1_ps(p[(size_t)r * stride + j]);
            acc[r][0] = _mm512_fmadd_ps(x, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(x, v2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(x, v3, acc[r][3]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) _mm512_storeu_ps(out + (size_t)r * ldo + 16 * t, acc[r][t]);
}

#define RADA_SCORE_CASES(CALL) \
    switch (rows) {            \
    case 1: CALL(1); break;    \
    case 2: CALL(2); break;    \
    case 3: CALL(3); break;    \
    case 4: CALL(4); break;    \
    case 5: CALL(5); break;    \
    case 6: CALL(6); break;    \
    case 7: CALL(7); break;    \
    default: CALL(8); break;   \
    }
#define RADA_VALUE_CASES(CALL) \
    switch (value_rows) {      \
    case 1: CALL(1); break;    \
    case 2: CALL(2); break;    \
    case 3: CALL(3); break;    \
    default: CALL(4); break;   \
    }

__attribute__((target("avx512f"))) static void attention_head_avx512(int length, int first, int count, const float *q,
                                                                    const float *k, const float *v, int ld, float scale,
                                                                    int causal, float *scratch, float *out, int ldo) {
    int lp = (length + 15) / 16 * 16;
    float *scores = scratch, *kt = scratch + (size_t)length * lp;
    for (int j0 = 0; j0 < lp; j0 += 16)
        for (int d0 = 0; d0 < D; d0 += 16) transpose16(k + (size_t)j0 * ld + d0, ld, length - j0, kt + (size_t)d0 * lp + j0, lp);
    /* Each query row is computed alone (its own accumulators, the same order of keys) whichever
     * rows share its block, so a row asked for alone has the bits it has in the whole head. */
    int end = first + count;
    for (int i0 = first; i0 < end; i0 += QS) {
        int rows = end - i0 < QS ? end - i0 : QS;
        /* Under the causal mask a query row needs keys up to itself only. */
        int keys = causal ? i0 + rows : length;
        for (int c0 = 0; c0 < keys; c0 += 32) {
#define RADA_SCORE(R) score_block(R, q + (size_t)i0 * ld, ld, kt, lp, c0, scores + (size_t)i0 * lp)
            RADA_SCORE_CASES(RADA_SCORE)
#undef RADA_SCORE
        }
        /* Under the causal mask row r's probabilities end at r; the value loop reads up to keys. */
        for (int r = i0; r < i0 + rows; r++) {
            float *row = scores + (size_t)r * lp;
            int n = causal ? r + 1 : length;
            softmax_row(row, n, scale);
            for (int j = n; j < keys; j++) row[j] = 0.0f;
        }
        for (int v0 = i0; v0 < i0 + rows; v0 += QV) {
            int value_rows = i0 + rows - v0 < QV ? i0 + rows - v0 : QV;
#define RADA_VALUE(R) value_block(R, scores + (size_t)v0 * lp, lp, keys, v, ld, out + (size_t)(v0 - first) * ldo, ldo)
            RADA_VALUE_CASES(RADA_VALUE)
#undef RADA_VALUE
        }
    }
}
#endif

void rada_attention_head(int length, const float *q, const float *k, const float *v, int ld, float scale, int causal,
                         float *scratch, float *out, int ldo) {
    rada_attention_head_rows(length, 0, length, q, k, v, ld, scale, causal, scratch, out, ldo);
}

void rada_attention_head_rows(int length, int first, int count, const float *q, const float *k, const float *v, int ld,
                              float scale, int causal, float *scratch, float *out, int ldo) {
#if defined(__x86_64__)
    if (first < 0 || count <= 0 || first + count > length) return;
    attention_head_avx512(length, first, count, q, k, v, ld, scale, causal, scratch, out, ldo);
#else
    (void)length; (void)first; (void)count; (void)q; (void)k; (void)v; (void)ld; (void)scale; (void)causal;
    (void)scratch; (void)out; (void)ldo;
#endif
}
