#include "cnumerics_packed.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { NR = RADA_PACK_NR, MR = 12, KC = 256, MB = 144 };

int rada_packed_panels(int n) { return (n + NR - 1) / NR; }

size_t rada_packed_size(int k, int n) { return (size_t)rada_packed_panels(n) * NR * (size_t)k; }

void rada_pack_weight(const float *w, int k, int n, int ldw, float *packed) {
    int panels = rada_packed_panels(n);
    for (int p = 0; p < panels; p++) {
        int cols = n - p * NR < NR ? n - p * NR : NR;
        float *out = packed + (size_t)p * NR * k;
        for (int kk = 0; kk < k; kk++) {
            memcpy(out + (size_t)kk * NR, w + (size_t)kk * ldw + p * NR, sizeof(float) * cols);
            for (int j = cols; j < NR; j++) out[(size_t)kk * NR + j] = 0;
        }
    }
}

/* Portable version: the same panel walk, plain loops for the compiler to vectorise. */
static void tile_generic(int rows, int cols, int k, const float *a, const float *panel,
                         const float *bias, float *c, int ldc, int accumulate) {
    float acc[MR][NR];
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = 0;
    for (int kk = 0; kk < k; kk++) {
        const float *b = panel + (size_t)kk * NR;
        for (int r = 0; r < rows; r++) {
            float x = a[(size_t)kk * MR + r];
            for (int j = 0; j < NR; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        float *out = c + (size_t)r * ldc;
        for (int j = 0; j < cols; j++)
            out[j] = (accumulate ? out[j] : 0.0f) + (bias ? bias[j] : 0.0f) + acc[r][j];
    }
}

#if defined(__x86_64__)
/* rows × 32 tile: 2·rows accumulators (24 at most) + 2 weight vectors + 1 broadcast fit the 32
 * zmm registers. Called with constant `rows` so that the compiler unrolls and keeps acc in
 * registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512(const int rows, int cols, int k, const float *a, const float *panel,
            const float *bias, float *c, int ldc, int accumulate) {
    __m512 lo[MR], hi[MR];
    for (int r = 0; r < rows; r++) {
        lo[r] = _mm512_setzero_ps();
        hi[r] = _mm512_setzero_ps();
    }
    for (int kk = 0; kk < k; kk++) {
        __m512 b0 = _mm512_loadu_ps(panel + (size_t)kk * NR);
        __m512 b1 = _mm512_loadu_ps(panel + (size_t)kk * NR + 16);
        for (int r = 0; r < rows; r++) {
            __m512 x = _mm512_set1_ps(a[(size_t)kk * MR + r]);
            lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
        }
    }
    __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
        float *out = c + (size_t)r * ldc;
        __m512 v0 = _mm512_add_ps(lo[r], bias0);
        __m512 v1 = _mm512_add_ps(hi[r], bias1);
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, out));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, out + 16));
        }
        _mm512_mask_storeu_ps(out, m0, v0);
        _mm512_mask_storeu_ps(out + 16, m1, v1);
    }
}

#define RADA_TILE_CASE(R) \
    case R: tile_avx512(R, cols, k, a, panel, bias, c, ldc, accumulate); break;

__attribute__((target("avx512f"))) static void tile_dispatch_avx512(
    int rows, int cols, int k, const float *a, const float *panel, const float *bias,
    float *c, int ldc, int accumulate) {
    switch (rows) {
        RADA_TILE_CASE(1) RADA_TILE_CASE(2) RADA_TILE_CASE(3) RADA_TILE_CASE(4)
        RADA_TILE_CASE(5) RADA_TILE_CASE(6) RADA_TILE_CASE(7) RADA_TILE_CASE(8)
        RADA_TILE_CASE(9) RADA_TILE_CASE(10) RADA_TILE_CASE(11) RADA_TILE_CASE(12)
    default: break;
    }
}
#endif

typedef void (*tile_fn)(int, int, int, const float *, const float *, const float *, float *, int,
                        int);

static tile_fn pick_tile(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return tile_dispatch_avx512;
#endif
    return tile_generic;
}

/* Copies rows [r0, r1) × columns [k0, k1) of a into tiles of MR rows, k-major (MR values per
 * k, rows past r1 zero), so that the tile loop reads activations sequentially from L1. */
static void pack_rows(const float *a, int lda, int r0, int r1, int k0, int k1, float *out) {
    int kc = k1 - k0;
    for (int t = r0; t < r1; t += MR) {
        int rows = r1 - t < MR ? r1 - t : MR;
        float *tile = out + (size_t)(t - r0) * kc;
        for (int r = 0; r < rows; r++) {
            const float *src = a + (size_t)(t + r) * lda + k0;
            for (int kk = 0; kk < kc; kk++) tile[(size_t)kk * MR + r] = src[kk];
        }
        for (int r = rows; r < MR; r++)
            for (int kk = 0; kk < kc; kk++) tile[(size_t)kk * MR + r] = 0;
    }
}

/* Loop order: a block of MB rows and KC inputs is packed once (it stays in L1/L2), then swept
 * across this thread's weight panels (KC × NR each, 32 KiB: L1/L2), tile by tile. Later k chunks
 * accumulate into c, so the bias is added by the first chunk only. */
void rada_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *packed,
                       const float *bias, float *c, int ldc, int accumulate, int panel_begin,
                       int panel_end) {
    static tile_fn tile = NULL; /* benign race: every thread computes the same pointer */
    if (tile == NULL) tile = pick_tile();
    /* Per-thread scratch, allocated on first use (pool threads live as long as the process). */
    static _Thread_local float *apack = NULL;
    if (apack == NULL) apack = malloc(sizeof(float) * MB * KC);
    if (apack == NULL) abort();
    for (int r0 = 0; r0 < m; r0 += MB) {
        int r1 = r0 + MB < m ? r0 + MB : m;
        for (int k0 = 0; k0 < k; k0 += KC) {
            int k1 = k0 + KC < k ? k0 + KC : k;
            pack_rows(a, lda, r0, r1, k0, k1, apack);
            int first = k0 == 0;
            for (int p = panel_begin; p < panel_end; p++) {
                int cols = n - p * NR < NR ? n - p * NR : NR;
                const float *panel = packed + (size_t)p * NR * k + (size_t)k0 * NR;
                const float *pbias = first && bias ? bias + p * NR : NULL;
                for (int r = r0; r < r1; r += MR) {
                    int rows = r1 - r < MR ? r1 - r : MR;
                    tile(rows, cols, k1 - k0, apack + (size_t)(r - r0) * (k1 - k0), panel, pbias,
                         c + (size_t)r * ldc + p * NR, ldc, accumulate || !first);
                }
            }
        }
    }
}
