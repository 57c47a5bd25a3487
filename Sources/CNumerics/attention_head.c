#include "cnumerics.h"
#include "cnumerics_packed.h"
#include "attention_internal.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

int rada_attention_head_kernel(int head_width) {
#if defined(__x86_64__)
    if (head_width != RADA_ATTENTION_HEAD_WIDTH) return -1;
    if (rada_f32_kernel_available(RADA_F32_AVX512)) return RADA_F32_AVX512;
    if (rada_f32_kernel_available(RADA_F32_AVX2)) return RADA_F32_AVX2;
#else
    (void)head_width;
#endif
    return -1;
}

int rada_attention_head_supported(int head_width) { return rada_attention_head_kernel(head_width) >= 0; }

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

/* The AVX-512F steps of `attention_head` below. */
__attribute__((target("avx512f"))) static void keys_avx512(const float *k, int ld, int length, int lp, float *kt) {
    for (int j0 = 0; j0 < lp; j0 += 16)
        for (int d0 = 0; d0 < D; d0 += 16) transpose16(k + (size_t)j0 * ld + d0, ld, length - j0, kt + (size_t)d0 * lp + j0, lp);
}

__attribute__((target("avx512f"))) static void scores_avx512(int rows, const float *q, int ld, const float *kt, int lp,
                                                            int keys, float *scores) {
    for (int c0 = 0; c0 < keys; c0 += 32) {
#define RADA_SCORE(R) score_block(R, q, ld, kt, lp, c0, scores)
        RADA_SCORE_CASES(rows, RADA_SCORE)
#undef RADA_SCORE
    }
}

__attribute__((target("avx512f"))) static void softmax_avx512(float *row, int n, float scale) { softmax_row(row, n, scale); }

__attribute__((target("avx512f"))) static void values_avx512(int rows, const float *p, int stride, int keys,
                                                            const float *v, int ld, float *out, int ldo) {
    for (int v0 = 0; v0 < rows; v0 += QV) {
        int value_rows = rows - v0 < QV ? rows - v0 : QV;
#define RADA_VALUE(R) value_block(R, p + (size_t)v0 * stride, stride, keys, v, ld, out + (size_t)v0 * ldo, ldo)
        RADA_VALUE_CASES(value_rows, RADA_VALUE)
#undef RADA_VALUE
    }
}

/* The same head on AVX2 + FMA (8-wide, 16 ymm registers): score blocks of QS2 query rows × 16
 * keys (2·QS2 accumulators), value blocks of QV2 rows × one 32-value half of the head (4·QV2),
 * keys transposed 8 × 8 in registers, the softmax's tail lanes masked. Each query row has its own
 * accumulators and the same order of keys whichever rows share its block, as above. */
enum { QS2 = 6, QV2 = 2 };

/* dst[c · ldd + r] = src[r · lds + c] for an 8 × 8 block, rows r ≥ valid read as 0. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
transpose8(const float *src, int lds, int valid, float *dst, int ldd) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = i < valid ? _mm256_loadu_ps(src + (size_t)i * lds) : _mm256_setzero_ps();
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4h + s] holds, in each 128-bit lane l, column 4l + s of rows 4h … 4h + 3. */
    for (int h = 0; h < 8; h += 4) {
        r[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
        r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    for (int s = 0; s < 4; s++) {
        _mm256_storeu_ps(dst + (size_t)s * ldd, _mm256_permute2f128_ps(r[s], r[s + 4], 0x20));
        _mm256_storeu_ps(dst + (size_t)(s + 4) * ldd, _mm256_permute2f128_ps(r[s], r[s + 4], 0x31));
    }
}

/* Scores of up to QS2 query rows against the 16 keys starting at c0 (lp is a multiple of 16). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
score_block_avx2(const int rows, const float *q, int ld, const float *kt, int lp, int c0, float *scores) {
    __m256 lo[QS2], hi[QS2];
    for (int r = 0; r < rows; r++) lo[r] = hi[r] = _mm256_setzero_ps();
    for (int dd = 0; dd < D; dd++) {
        __m256 k0 = _mm256_loadu_ps(kt + (size_t)dd * lp + c0);
        __m256 k1 = _mm256_loadu_ps(kt + (size_t)dd * lp + c0 + 8);
        for (int r = 0; r < rows; r++) {
            __m256 x = _mm256_broadcast_ss(q + (size_t)r * ld + dd);
            lo[r] = _mm256_fmadd_ps(x, k0, lo[r]);
            hi[r] = _mm256_fmadd_ps(x, k1, hi[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(scores + (size_t)r * lp + c0, lo[r]);
        _mm256_storeu_ps(scores + (size_t)r * lp + c0 + 8, hi[r]);
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline float horizontal_max8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma"), always_inline)) static inline float horizontal_sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Softmax of row[0, n) after scaling. Reads and writes whole vectors up to n rounded up to 8,
 * within the row's lp floats: lanes at or past n count as −∞ for the maximum and 0 in the sum,
 * and are stored as 0 (the callers read no further than n, or zero those lanes themselves). */
__attribute__((target("avx2,fma"), always_inline)) static inline void softmax_row_avx2(float *row, int n, float scale) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 vs = _mm256_set1_ps(scale), m = _mm256_set1_ps(-INFINITY), minus = _mm256_set1_ps(-INFINITY);
    for (int c = 0; c < n; c += 8) {
        __m256 inside = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - c), lane));
        __m256 x = _mm256_blendv_ps(minus, _mm256_mul_ps(_mm256_loadu_ps(row + c), vs), inside);
        m = _mm256_max_ps(m, x);
    }
    __m256 shift = _mm256_set1_ps(horizontal_max8(m)), sum = _mm256_setzero_ps();
    for (int c = 0; c < n; c += 8) {
        __m256 inside = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - c), lane));
        __m256 e = _mm256_and_ps(fast_expf_avx2(_mm256_fmsub_ps(_mm256_loadu_ps(row + c), vs, shift)), inside);
        _mm256_storeu_ps(row + c, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inverse = _mm256_set1_ps(1.0f / horizontal_sum8(sum));
    for (int c = 0; c < n; c += 8) _mm256_storeu_ps(row + c, _mm256_mul_ps(_mm256_loadu_ps(row + c), inverse));
}

/* out rows = P rows (at `stride`) · V over keys [0, keys), for the 32 values from `half`·32:
 * 4 vectors of 8 per row, QV2 rows at once. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
value_block_avx2(const int rows, const float *p, int stride, int keys, const float *v, int ld, int half, float *out,
                 int ldo) {
    __m256 acc[QV2][4];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) acc[r][t] = _mm256_setzero_ps();
    for (int j = 0; j < keys; j++) {
        const float *vj = v + (size_t)j * ld + 32 * half;
        __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
        __m256 v2 = _mm256_loadu_ps(vj + 16), v3 = _mm256_loadu_ps(vj + 24);
        for (int r = 0; r < rows; r++) {
            __m256 x = _mm256_broadcast_ss(p + (size_t)r * stride + j);
            acc[r][0] = _mm256_fmadd_ps(x, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, v1, acc[r][1]);
            acc[r][2] = _mm256_fmadd_ps(x, v2, acc[r][2]);
            acc[r][3] = _mm256_fmadd_ps(x, v3, acc[r][3]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) _mm256_storeu_ps(out + (size_t)r * ldo + 32 * half + 8 * t, acc[r][t]);
}

#define RADA_SCORE_CASES_AVX2(CALL) \
    switch (rows) {                 \
    case 1: CALL(1); break;         \
    case 2: CALL(2); break;         \
    case 3: CALL(3); break;         \
    case 4: CALL(4); break;         \
    case 5: CALL(5); break;         \
    default: CALL(6); break;        \
    }

/* The AVX2 + FMA steps of `attention_head` below. */
__attribute__((target("avx2,fma"))) static void keys_avx2(const float *k, int ld, int length, int lp, float *kt) {
    for (int j0 = 0; j0 < lp; j0 += 8)
        for (int d0 = 0; d0 < D; d0 += 8) transpose8(k + (size_t)j0 * ld + d0, ld, length - j0, kt + (size_t)d0 * lp + j0, lp);
}

__attribute__((target("avx2,fma"))) static void scores_avx2(int rows, const float *q, int ld, const float *kt, int lp,
                                                           int keys, float *scores) {
    for (int c0 = 0; c0 < keys; c0 += 16) {
#define RADA_SCORE(R) score_block_avx2(R, q, ld, kt, lp, c0, scores)
        RADA_SCORE_CASES_AVX2(RADA_SCORE)
#undef RADA_SCORE
    }
}

__attribute__((target("avx2,fma"))) static void softmax_avx2(float *row, int n, float scale) { softmax_row_avx2(row, n, scale); }

__attribute__((target("avx2,fma"))) static void values_avx2(int rows, const float *p, int stride, int keys, const float *v,
                                                           int ld, float *out, int ldo) {
    for (int v0 = 0; v0 < rows; v0 += QV2) {
        const float *pv = p + (size_t)v0 * stride;
        float *o = out + (size_t)v0 * ldo;
        for (int half = 0; half < 2; half++) {
            if (rows - v0 >= QV2)
                value_block_avx2(QV2, pv, stride, keys, v, ld, half, o, ldo);
            else
                value_block_avx2(1, pv, stride, keys, v, ld, half, o, ldo);
        }
    }
}

/* One instruction set's steps of a head: keys transposed into kt, scores of `rows` query rows
 * against keys [0, keys) (rows at stride lp, blocks may run past keys up to lp), one row's
 * softmax (it may write zeros up to lp past n), and `rows` output rows from their probabilities. */
struct head_steps {
    int query_block;
    void (*keys)(const float *k, int ld, int length, int lp, float *kt);
    void (*scores)(int rows, const float *q, int ld, const float *kt, int lp, int keys, float *scores);
    void (*softmax)(float *row, int n, float scale);
    void (*values)(int rows, const float *p, int stride, int keys, const float *v, int ld, float *out, int ldo);
};

static const struct head_steps avx512_steps = {QS, keys_avx512, scores_avx512, softmax_avx512, values_avx512};
static const struct head_steps avx2_steps = {QS2, keys_avx2, scores_avx2, softmax_avx2, values_avx2};

static void attention_head(const struct head_steps *steps, int length, int first, int count, const float *q,
                           const float *k, const float *v, int ld, float scale, int causal, float *scratch, float *out,
                           int ldo) {
    int lp = (length + 15) / 16 * 16;
    float *scores = scratch, *kt = scratch + (size_t)length * lp;
    steps->keys(k, ld, length, lp, kt);
    /* Each query row is computed alone (its own accumulators, the same order of keys) whichever
     * rows share its block, so a row asked for alone has the bits it has in the whole head. */
    int end = first + count;
    for (int i0 = first; i0 < end; i0 += steps->query_block) {
        int rows = end - i0 < steps->query_block ? end - i0 : steps->query_block;
        /* Under the causal mask a query row needs keys up to itself only. */
        int keys = causal ? i0 + rows : length;
        steps->scores(rows, q + (size_t)i0 * ld, ld, kt, lp, keys, scores + (size_t)i0 * lp);
        /* Under the causal mask row r's probabilities end at r; the value loop reads up to keys. */
        for (int r = i0; r < i0 + rows; r++) {
            float *row = scores + (size_t)r * lp;
            int n = causal ? r + 1 : length;
            steps->softmax(row, n, scale);
            for (int j = n; j < keys; j++) row[j] = 0.0f;
        }
        steps->values(rows, scores + (size_t)i0 * lp, lp, keys, v, ld, out + (size_t)(i0 - first) * ldo, ldo);
    }
}
#endif

void rada_attention_head(int length, const float *q, const float *k, const float *v, int ld, float scale, int causal,
                         float *scratch, float *out, int ldo) {
    rada_attention_head_rows(rada_attention_head_kernel(RADA_ATTENTION_HEAD_WIDTH), length, 0, length, q, k, v, ld,
                             scale, causal, scratch, out, ldo);
}

void rada_attention_head_rows(int kernel, int length, int first, int count, const float *q, const float *k,
                              const float *v, int ld, float scale, int causal, float *scratch, float *out, int ldo) {
    if (first < 0 || count <= 0 || first + count > length || !rada_f32_kernel_available(kernel)) return;
#if defined(__x86_64__)
    switch (kernel) {
    case RADA_F32_AVX512:
        attention_head(&avx512_steps, length, first, count, q, k, v, ld, scale, causal, scratch, out, ldo);
        break;
    case RADA_F32_AVX2:
        attention_head(&avx2_steps, length, first, count, q, k, v, ld, scale, causal, scratch, out, ldo);
        break;
    default: break;
    }
#else
    (void)q; (void)k; (void)v; (void)ld; (void)scale; (void)causal; (void)scratch; (void)out; (void)ldo;
#endif
}
