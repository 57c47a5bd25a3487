#include "cnumerics_fp16.h"
#include "cnumerics_bf16.h"
#include "bf16_internal.h"
#include "prefetch.h"

#include <math.h>
#include <string.h>

size_t rada_fp16_packed_count(int k, int n) { return rada_bf16_packed_count(k, n); }

size_t rada_fp16_activation_count(int m, int k) {
    /* The fp16 rows, then one fp32 (two uint16_t) per padded row; the rows' part is a multiple of
     * 32 values, so the factors start 64-byte aligned when the scratch does. */
    return rada_bf16_activation_count(m, k) + 2 * (size_t)rada_round_up(m, 16);
}

/* 2^e with magnitude·2^e in [2^(target-1), 2^target); 1 for zero or non-finite magnitudes. e
 * stays within fp32's normal exponents, so neither the scale nor its inverse overflows (a row of
 * fp32 subnormals is scaled by 2^127 only, which still puts it well inside fp16's range). */
static float power_of_two_scale(float magnitude, int target) {
    if (!(magnitude > 0) || !isfinite(magnitude)) return 1.0f;
    int exponent;
    frexpf(magnitude, &exponent); /* magnitude = f·2^exponent, f in [0.5, 1) */
    int e = target - exponent;
    return ldexpf(1.0f, e > 127 ? 127 : e < -126 ? -126 : e);
}

float rada_fp16_weight_scale(const float *w, int k, int n, int ldw) {
    float largest = 0;
    for (int r = 0; r < k; r++)
        for (int c = 0; c < n; c++) {
            float v = fabsf(w[(size_t)r * ldw + c]);
            if (!(v <= largest)) largest = v; /* a NaN makes `largest` NaN: scale 1 */
        }
    return power_of_two_scale(largest, 0);
}

#if RADA_BF16_X86
#include <immintrin.h>

#define RADA_FP16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16,f16c")))

/* x·scale rounded to fp16 by F16C: the same round to nearest even as `rada_f32_to_f16`, which the
 * packing of ViT-B/32 took 0.4–0.9 s longer to load with (a software conversion per value). */
RADA_FP16_TARGET static uint16_t to_fp16(float x, float scale) { return _cvtss_sh(x * scale, _MM_FROUND_TO_NEAREST_INT); }

void rada_fp16_pack_weight(const float *w, int k, int n, int ldw, float scale, uint16_t *packed) {
    rada_pack_pair_tiles(w, k, n, ldw, to_fp16, scale, packed);
}
/* Rows per micro-tile: 12 rows × 2 fp16 accumulators (16 columns × an input pair each), plus
 * the two weight vectors and the broadcast pair, within the 32 zmm registers, as the bf16 kernel. */
#define MR 12
/* Input blocks (of 32) summed in fp16 before they are added to fp32: 128 products per lane, each
 * below 128 in magnitude (|sum| < 16384 < 65504). Flushing every 4 blocks was 1.4× more
 * accurate (relative error 1.2e-3 against 1.7e-3 of the terms' magnitude; bf16's is 2.2e-3) and
 * 2–5 % slower on single products, 9 % on the median tower pass of five alternating runs. */
#define FLUSH_BLOCKS 8
/* Activation rows are scaled so their largest magnitude lies in [64, 128). */
#define ROW_TARGET_EXPONENT 7

static const float *row_factors(const uint16_t *a16, int m, int k) {
    return (const float *)(const void *)(a16 + rada_bf16_activation_count(m, k));
}

RADA_FP16_TARGET void rada_fp16_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end) {
    int kpad = rada_round_up(k, RADA_BF16_KB);
    int real_end = row_end < m ? row_end : m;
    float *factors = (float *)(void *)(out + rada_bf16_activation_count(m, k));
    for (int r = row_begin; r < real_end; r++) {
        const float *src = a + (size_t)r * lda;
        uint16_t *dst = out + (size_t)r * kpad;
        /* The largest magnitude, and whether any value is NaN or infinite (then scale 1: the
         * outputs are NaN or infinite, as in fp32). */
        const __m512 infinity = _mm512_set1_ps(INFINITY);
        __m512 largest = _mm512_setzero_ps();
        __mmask16 non_finite = 0;
        int i = 0;
        for (; i + 16 <= k; i += 16) {
            __m512 v = _mm512_abs_ps(_mm512_loadu_ps(src + i));
            non_finite |= _mm512_cmp_ps_mask(v, infinity, _CMP_NLT_UQ);
            largest = _mm512_max_ps(largest, v);
        }
        float magnitude = _mm512_reduce_max_ps(largest);
        for (; i < k; i++) {
            float v = fabsf(src[i]);
            if (!(v < INFINITY)) non_finite = 1;
            magnitude = fmaxf(magnitude, v);
        }
        if (non_finite) magnitude = NAN;
        float scale = power_of_two_scale(magnitude, ROW_TARGET_EXPONENT);
        factors[r] = 1.0f / scale;
        __m512 s = _mm512_set1_ps(scale);
        for (i = 0; i + 16 <= k; i += 16)
            _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                                _mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(src + i), s), _MM_FROUND_TO_NEAREST_INT));
        for (; i < k; i++) dst[i] = to_fp16(src[i], scale);
        for (; i < kpad; i++) dst[i] = 0;
    }
    /* Rows past m (the bf16 layout pads to 16 for AMX) are never read by this kernel. */
}

/* acc (mr × 64 fp32, row stride 64) = rows a[0..mr) · one packed panel, in the interleaved order
 * of the tiles' lanes (column c's even input in lane 2c, its odd input in lane 2c + 1). Each step
 * broadcasts a row's input pair to every lane; VFMADD231PH then adds a[2q]·w[2q][c] into lane 2c
 * and a[2q + 1]·w[2q + 1][c] into lane 2c + 1, in fp16, for FLUSH_BLOCKS blocks at a time. */
RADA_FP16_TARGET __attribute__((always_inline)) static inline void
micro_tile(const int mr, const uint16_t *a, int kpad, const uint16_t *panel, int blocks, float *acc, rada_prefetch next) {
    __m512h c0[MR], c1[MR];
    for (int i = 0; i < mr * 4; i++) _mm512_store_ps(acc + 16 * i, _mm512_setzero_ps());
    for (int kb0 = 0; kb0 < blocks; kb0 += FLUSH_BLOCKS) {
        for (int i = 0; i < mr; i++) {
            c0[i] = _mm512_setzero_ph();
            c1[i] = _mm512_setzero_ph();
        }
        int kend = kb0 + FLUSH_BLOCKS < blocks ? kb0 + FLUSH_BLOCKS : blocks;
        for (int kb = kb0; kb < kend; kb++) {
            const uint16_t *w = panel + (size_t)kb * 2 * RADA_BF16_TILE_VALUES;
            const uint16_t *ak = a + kb * RADA_BF16_KB;
            rada_prefetch_step(next, kb);
            for (int r = 0; r < 16; r++) {
                __m512h b0 = _mm512_castsi512_ph(_mm512_loadu_si512((const void *)(w + r * 32)));
                __m512h b1 = _mm512_castsi512_ph(_mm512_loadu_si512((const void *)(w + RADA_BF16_TILE_VALUES + r * 32)));
                for (int i = 0; i < mr; i++) {
                    int32_t pair;
                    memcpy(&pair, ak + (size_t)i * kpad + 2 * r, sizeof pair);
                    __m512h av = _mm512_castsi512_ph(_mm512_set1_epi32(pair));
                    c0[i] = _mm512_fmadd_ph(av, b0, c0[i]);
                    c1[i] = _mm512_fmadd_ph(av, b1, c1[i]);
                }
            }
        }
        for (int i = 0; i < mr; i++) {
            float *q = acc + i * 64;
            __m512i x0 = _mm512_castph_si512(c0[i]), x1 = _mm512_castph_si512(c1[i]);
            _mm512_store_ps(q, _mm512_add_ps(_mm512_load_ps(q), _mm512_cvtph_ps(_mm512_castsi512_si256(x0))));
            _mm512_store_ps(q + 16, _mm512_add_ps(_mm512_load_ps(q + 16), _mm512_cvtph_ps(_mm512_extracti64x4_epi64(x0, 1))));
            _mm512_store_ps(q + 32, _mm512_add_ps(_mm512_load_ps(q + 32), _mm512_cvtph_ps(_mm512_castsi512_si256(x1))));
            _mm512_store_ps(q + 48, _mm512_add_ps(_mm512_load_ps(q + 48), _mm512_cvtph_ps(_mm512_extracti64x4_epi64(x1, 1))));
        }
    }
}

#define RADA_MICRO(R) \
    case R: micro_tile(R, a, kpad, panel, blocks, acc, next); break;

RADA_FP16_TARGET
void rada_avx512fp16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, float weight_scale,
                          const float *bias, float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    if (m <= 0 || panel_begin >= panel_end) return;
    int kpad = rada_round_up(k, RADA_BF16_KB), blocks = kpad / RADA_BF16_KB;
    const float *factors = row_factors(a16, m, k);
    float weight_factor = 1.0f / weight_scale;
    float acc[MR * 64] __attribute__((aligned(64)));
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    size_t panel_values = (size_t)blocks * 2 * RADA_BF16_TILE_VALUES;
    for (int p = panel_begin; p < panel_end; p++) {
        const uint16_t *panel = packed + (size_t)p * panel_values;
        const uint16_t *next_panel = p + 1 < panel_end ? panel + panel_values : NULL;
        int col0 = p * RADA_BF16_NR, cols = n - col0 < RADA_BF16_NR ? n - col0 : RADA_BF16_NR;
        const float *panel_bias = bias ? bias + col0 : 0;
        __mmask16 mask0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
        __mmask16 mask1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
        /* Row tiles of equal height (50 rows: 5 × 10), so that none runs with a handful of rows. */
        int tiles = (m + MR - 1) / MR;
        for (int tile = 0; tile < tiles; tile++) {
            int row = (int)((long)m * tile / tiles), rows = (int)((long)m * (tile + 1) / tiles) - row;
            const uint16_t *a = a16 + (size_t)row * kpad;
            rada_prefetch next = rada_prefetch_share(next_panel, 2 * panel_values, tiles, tile, blocks);
            switch (rows) {
                RADA_MICRO(1) RADA_MICRO(2) RADA_MICRO(3) RADA_MICRO(4) RADA_MICRO(5) RADA_MICRO(6)
                RADA_MICRO(7) RADA_MICRO(8) RADA_MICRO(9) RADA_MICRO(10) RADA_MICRO(11) RADA_MICRO(12)
            }
            /* Each column's even and odd lanes summed, both scales undone (exact: powers of two),
             * then the bias and, when accumulating, the old value added; masked at the last panel. */
            for (int i = 0; i < rows; i++) {
                const float *q = acc + i * 64;
                float *out = c + (size_t)(row + i) * ldc + col0;
                __m512 factor = _mm512_set1_ps(factors[row + i] * weight_factor);
                __m512 z0 = _mm512_load_ps(q), z1 = _mm512_load_ps(q + 16), z2 = _mm512_load_ps(q + 32), z3 = _mm512_load_ps(q + 48);
                __m512 s0 = _mm512_add_ps(_mm512_permutex2var_ps(z0, even, z1), _mm512_permutex2var_ps(z0, odd, z1));
                __m512 s1 = _mm512_add_ps(_mm512_permutex2var_ps(z2, even, z3), _mm512_permutex2var_ps(z2, odd, z3));
                s0 = _mm512_mul_ps(s0, factor);
                s1 = _mm512_mul_ps(s1, factor);
                if (panel_bias) {
                    s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(mask0, panel_bias));
                    s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(mask1, panel_bias + 16));
                }
                if (accumulate) {
                    s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(mask0, out));
                    s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(mask1, out + 16));
                }
                _mm512_mask_storeu_ps(out, mask0, s0);
                _mm512_mask_storeu_ps(out + 16, mask1, s1);
            }
        }
    }
}
#else
/* Stubs off x86: callers check `rada_avx512fp16_available()` first, so they never run. */
void rada_fp16_pack_weight(const float *w, int k, int n, int ldw, float scale, uint16_t *packed) {
    (void)w; (void)k; (void)n; (void)ldw; (void)scale; (void)packed;
}
void rada_fp16_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end) {
    (void)a; (void)m; (void)k; (void)lda; (void)out; (void)row_begin; (void)row_end;
}
void rada_avx512fp16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, float weight_scale,
                          const float *bias, float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    (void)m; (void)n; (void)k; (void)a16; (void)packed; (void)weight_scale; (void)bias; (void)c; (void)ldc;
    (void)accumulate; (void)panel_begin; (void)panel_end;
}
#endif
