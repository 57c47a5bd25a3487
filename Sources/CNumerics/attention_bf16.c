#include "cnumerics.h"
#include "cnumerics_bf16.h"
#include "bf16_internal.h"
#include "attention_internal.h"

#include <string.h>

/* One attention head with both products in bf16 (fp32 accumulation), for towers that run their
 * weight products in bf16: on AMX-BF16 the products take the tile unit, where the fp32 head spent
 * 7.5 % of an AMX pass on FMAs and shuffles. Q, K, V and the probabilities are rounded to bf16
 * (round to nearest even) once; scores, softmax and outputs stay fp32.
 *
 * Per head, in the scratch (32-bit lanes are bf16 pairs):
 *   qb  rows × 64 bf16      the query rows (A of the scores)
 *   kv  32 × lp pairs       kv[p][j] = (K[j][2p], K[j][2p + 1]) (B of the scores)
 *   s   rows × lp fp32      scores, then probabilities
 *   pb  rows × kp bf16      probabilities, zero past each row's keys (A of the values)
 *   vv  kp/2 × 64 pairs     vv[p][d] = (V[2p][d], V[2p + 1][d]) (B of the values)
 *   acc 16 × 64 fp32        AMX: one block of output rows before it is copied out
 * with rows = the query rows asked for rounded up to 16, lp = length rounded up to 16 (score
 * columns), kp = length rounded up to 32 (the values' input steps). Both kernels read this
 * layout: a 64-byte row of kv or vv is the B-tile row TDPBF16PS takes and the operand VDPBF16PS
 * takes, so each output row is the same sum of pair products on either, in its own order. */

enum { D = RADA_ATTENTION_HEAD_WIDTH, PAIRS = D / 2, QS = 8, QV = 4 };

typedef struct {
    size_t rows, lp, kp;
    uint16_t *qb, *pb;
    uint32_t *kv, *vv;
    float *scores, *acc;
} head_layout;

/* The parts' places in the scratch, each on its own 64-byte line; returns the bytes they take.
 * With no scratch, only the size. */
static size_t layout(int length, int count, float *scratch, head_layout *l) {
    l->rows = (size_t)rada_round_up(count, 16);
    l->lp = (size_t)rada_round_up(length, 16);
    l->kp = (size_t)rada_round_up(length, 32);
    size_t at = 0;
    char *base = (char *)scratch;
#define RADA_TAKE(field, type, n)                                  \
    if (base) l->field = (type *)(void *)(base + at);              \
    at += (size_t)rada_round_up((int)((n) * sizeof(type)), 64)
    RADA_TAKE(qb, uint16_t, l->rows * D);
    RADA_TAKE(kv, uint32_t, PAIRS * l->lp);
    RADA_TAKE(scores, float, l->rows * l->lp);
    RADA_TAKE(pb, uint16_t, l->rows * l->kp);
    RADA_TAKE(vv, uint32_t, l->kp / 2 * D);
    RADA_TAKE(acc, float, 16 * D);
#undef RADA_TAKE
    return at;
}

size_t rada_attention_bf16_scratch_size(int length) {
    if (length <= 0) return 0;
    head_layout l;
    return layout(length, length, NULL, &l) / sizeof(float);
}

static int kernel_available(int kernel) {
    switch (kernel) {
    case RADA_ATTENTION_BF16_AMX: return rada_amx_available();
    case RADA_ATTENTION_BF16_AVX512: return rada_avx512bf16_available();
    default: return 0;
    }
}

#if defined(__x86_64__) && defined(__linux__)
#define RADA_BF16_HEAD __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* 32 fp32 values → 16 bf16 pairs in one 32-bit-lane vector (pair i = values 2i, 2i + 1). */
RADA_BF16_HEAD __attribute__((always_inline)) static inline __m512 pairs(__m512 lo, __m512 hi) {
    return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* The query rows [first, first + count) into qb, zero rows up to rows. */
RADA_BF16_HEAD static void pack_queries(const float *q, int ld, int first, int count, head_layout l) {
    for (size_t r = 0; r < l.rows; r++) {
        float *dst = (float *)(l.qb + r * D);
        for (int h = 0; h < D; h += 32) {
            __m512 p = _mm512_setzero_ps();
            if ((int)r < count) {
                const float *src = q + (size_t)(first + (int)r) * ld + h;
                p = pairs(_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16));
            }
            _mm512_storeu_ps(dst + h / 2, p);
        }
    }
}

/* kv[p][j] for p < 32, j < lp (zero past length): 16 keys' pairs transposed at a time. */
RADA_BF16_HEAD static void pack_keys(const float *k, int ld, int length, head_layout l) {
    for (size_t j0 = 0; j0 < l.lp; j0 += 16)
        for (int p0 = 0; p0 < PAIRS; p0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const float *src = k + (j0 + (size_t)i) * ld + 2 * p0;
                r[i] = (int)j0 + i < length ? pairs(_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16)) : _mm512_setzero_ps();
            }
            transpose16_registers(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps((float *)(l.kv + (size_t)(p0 + i) * l.lp + j0), r[i]);
        }
}

/* vv[p][d] for p < kp/2 (zero rows past length): two value rows interleaved. */
RADA_BF16_HEAD static void pack_values(const float *v, int ld, int length, head_layout l) {
    for (size_t p = 0; p < l.kp / 2; p++)
        for (int d = 0; d < D; d += 16) {
            __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
            if ((int)(2 * p) < length)
                even = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v + 2 * p * ld + d)));
            if ((int)(2 * p + 1) < length)
                odd = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v + (2 * p + 1) * ld + d)));
            _mm512_storeu_si512(l.vv + p * D + d, _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
        }
}

/* Softmax of each asked row's scores over its keys, then the probabilities in bf16 (zero from
 * its keys to kp), rows past count zero. */
RADA_BF16_HEAD static void probabilities(int first, int count, int length, float scale, int causal, head_layout l) {
    for (size_t r = 0; r < l.rows; r++) {
        float *row = l.scores + r * l.lp;
        uint16_t *dst = l.pb + r * l.kp;
        int n = (int)r >= count ? 0 : causal ? first + (int)r + 1 : length;
        if (n > 0) softmax_row(row, n, scale);
        for (int c = 0; c < (int)l.kp; c += 32) {
            __mmask16 k0 = n - c >= 16 ? 0xFFFF : n - c <= 0 ? 0 : (__mmask16)((1u << (n - c)) - 1);
            __mmask16 k1 = n - c >= 32 ? 0xFFFF : n - c <= 16 ? 0 : (__mmask16)((1u << (n - c - 16)) - 1);
            __m512 p = pairs(_mm512_maskz_loadu_ps(k0, row + c), _mm512_maskz_loadu_ps(k1, row + c + 16));
            _mm512_storeu_ps((float *)(dst + c), p);
        }
    }
}

/* ---- VDPBF16PS: QS query rows × 32 keys per score block, QV rows × 64 values per value block. */

RADA_BF16_HEAD __attribute__((always_inline)) static inline void
score_block(const int rows, const uint32_t *q, const uint32_t *kv, size_t lp, size_t c0, float *scores) {
    __m512 lo[QS], hi[QS];
    for (int r = 0; r < rows; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    int wide = lp - c0 >= 32;
    for (int p = 0; p < PAIRS; p++) {
        __m512bh k0 = (__m512bh)_mm512_loadu_si512(kv + p * lp + c0);
        __m512bh k1 = wide ? (__m512bh)_mm512_loadu_si512(kv + p * lp + c0 + 16) : (__m512bh)_mm512_setzero_si512();
        for (int r = 0; r < rows; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)q[(size_t)r * PAIRS + p]);
            lo[r] = _mm512_dpbf16_ps(lo[r], x, k0);
            hi[r] = _mm512_dpbf16_ps(hi[r], x, k1);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_storeu_ps(scores + r * lp + c0, lo[r]);
        if (wide) _mm512_storeu_ps(scores + r * lp + c0 + 16, hi[r]);
    }
}

RADA_BF16_HEAD __attribute__((always_inline)) static inline void
value_block(const int rows, const uint32_t *p, size_t kp, const uint32_t *vv, float *out, int ldo) {
    __m512 acc[QV][4];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    for (size_t j = 0; j < kp / 2; j++) {
        const uint32_t *vj = vv + j * D;
        __m512bh v0 = (__m512bh)_mm512_loadu_si512(vj), v1 = (__m512bh)_mm512_loadu_si512(vj + 16);
        __m512bh v2 = (__m512bh)_mm512_loadu_si512(vj + 32), v3 = (__m512bh)_mm512_loadu_si512(vj + 48);
        for (int r = 0; r < rows; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)p[(size_t)r * (kp / 2) + j]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, v0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, v1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, v2);
            acc[r][3] = _mm512_dpbf16_ps(acc[r][3], x, v3);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < 4; t++) _mm512_storeu_ps(out + (size_t)r * ldo + 16 * t, acc[r][t]);
}

/* The two products of a head around its softmax (`probabilities`, the same on both kernels). */
typedef struct {
    int first, count, length, keys, causal;
    float scale;
} head_rows;

RADA_BF16_HEAD static void head_avx512(head_rows h, head_layout l, float *out, int ldo) {
    const uint32_t *q = (const uint32_t *)l.qb, *p = (const uint32_t *)l.pb;
    int count = h.count, keys = h.keys;
    for (int i0 = 0; i0 < count; i0 += QS) {
        int rows = count - i0 < QS ? count - i0 : QS;
        for (size_t c0 = 0; c0 < (size_t)keys; c0 += 32) {
#define RADA_SCORE(R) score_block(R, q + (size_t)i0 * PAIRS, l.kv, l.lp, c0, l.scores + (size_t)i0 * l.lp)
            RADA_SCORE_CASES(rows, RADA_SCORE)
#undef RADA_SCORE
        }
    }
    probabilities(h.first, count, h.length, h.scale, h.causal, l);
    for (int i0 = 0; i0 < count; i0 += QV) {
        int rows = count - i0 < QV ? count - i0 : QV;
#define RADA_VALUE(R) value_block(R, p + (size_t)i0 * (l.kp / 2), l.kp, l.vv, out + (size_t)i0 * ldo, ldo)
        RADA_VALUE_CASES(rows, RADA_VALUE)
#undef RADA_VALUE
    }
}

/* ---- AMX-BF16: 16-row tiles. Tiles 0–3 accumulate, 4 and 5 hold query or probability rows,
 * 6 and 7 key or value pairs; every tile 16 rows × 64 bytes (the bf16 GEMM's configuration). */

__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
static void head_amx(head_rows h, head_layout l, float *out, int ldo) {
    int count = h.count, keys = h.keys;
    rada_amx_configure();
    /* Scores: per 16 query rows, both halves of the head (tiles 4, 5), then 16 keys at a
     * time into two accumulators in turn. */
    size_t key_end = (size_t)rada_round_up(keys, 16);
    for (int i0 = 0; i0 < count; i0 += 16) {
        _tile_loadd(4, l.qb + (size_t)i0 * D, D * sizeof(uint16_t));
        _tile_loadd(5, l.qb + (size_t)i0 * D + 32, D * sizeof(uint16_t));
        for (size_t c0 = 0; c0 < key_end; c0 += 32) {
            int two = key_end - c0 > 16;
            _tile_zero(0);
            _tile_loadd(6, l.kv + c0, l.lp * sizeof(uint32_t));
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(7, l.kv + 16 * l.lp + c0, l.lp * sizeof(uint32_t));
            _tile_dpbf16ps(0, 5, 7);
            _tile_stored(0, l.scores + (size_t)i0 * l.lp + c0, l.lp * sizeof(float));
            if (two) {
                _tile_zero(1);
                _tile_loadd(6, l.kv + c0 + 16, l.lp * sizeof(uint32_t));
                _tile_dpbf16ps(1, 4, 6);
                _tile_loadd(7, l.kv + 16 * l.lp + c0 + 16, l.lp * sizeof(uint32_t));
                _tile_dpbf16ps(1, 5, 7);
                _tile_stored(1, l.scores + (size_t)i0 * l.lp + c0 + 16, l.lp * sizeof(float));
            }
        }
    }
    probabilities(h.first, count, h.length, h.scale, h.causal, l);
    /* Values: per 16 rows, the head's 64 outputs in four accumulators, 32 keys per step. */
    for (int i0 = 0; i0 < count; i0 += 16) {
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (size_t s = 0; s < l.kp / 32; s++) {
            const uint32_t *v = l.vv + s * 16 * D;
            _tile_loadd(4, l.pb + (size_t)i0 * l.kp + 32 * s, l.kp * sizeof(uint16_t));
            _tile_loadd(6, v, D * sizeof(uint32_t));
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(7, v + 16, D * sizeof(uint32_t));
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(6, v + 32, D * sizeof(uint32_t));
            _tile_dpbf16ps(2, 4, 6);
            _tile_loadd(7, v + 48, D * sizeof(uint32_t));
            _tile_dpbf16ps(3, 4, 7);
        }
        _tile_stored(0, l.acc, D * sizeof(float));
        _tile_stored(1, l.acc + 16, D * sizeof(float));
        _tile_stored(2, l.acc + 32, D * sizeof(float));
        _tile_stored(3, l.acc + 48, D * sizeof(float));
        int rows = count - i0 < 16 ? count - i0 : 16;
        for (int r = 0; r < rows; r++) memcpy(out + (size_t)(i0 + r) * ldo, l.acc + (size_t)r * D, D * sizeof(float));
    }
    _tile_release();
}
#endif

void rada_attention_bf16_head_rows(int kernel, int length, int first, int count, const float *q, const float *k,
                                   const float *v, int ld, float scale, int causal, float *scratch, float *out, int ldo) {
    if (length <= 0 || first < 0 || count <= 0 || first + count > length || !kernel_available(kernel)) return;
#if defined(__x86_64__) && defined(__linux__)
    head_layout l;
    layout(length, count, scratch, &l);
    /* Under the causal mask the asked rows need keys up to their last only. */
    head_rows h = {first, count, length, causal ? first + count : length, causal, scale};
    pack_queries(q, ld, first, count, l);
    pack_keys(k, ld, length, l);
    pack_values(v, ld, length, l);
    if (kernel == RADA_ATTENTION_BF16_AMX) head_amx(h, l, out, ldo);
    else head_avx512(h, l, out, ldo);
#else
    (void)q; (void)k; (void)v; (void)ld; (void)scale; (void)causal; (void)scratch; (void)out; (void)ldo;
#endif
}
