#include "cnumerics_bf16.h"
#include "bf16_internal.h"
#include "prefetch.h"

#include <string.h>

#if RADA_BF16_X86
#include <immintrin.h>

#define RADA_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
/* Rows per micro-tile: 12 rows × 2 column vectors = 24 accumulators, plus the two weight
 * vectors and the broadcast pair, within the 32 zmm registers. */
#define MR 12

/* acc (mr × 32, row stride 32) = rows a[0..mr) · one packed panel, over all `blocks` input blocks.
 * Each step takes one 64-byte row of each of the panel's two tiles (16 columns × an input pair)
 * and, per activation row, that row's input pair broadcast to every lane: VDPBF16PS adds
 * a[2q]·w[2q][c] + a[2q+1]·w[2q+1][c] into lane c, in fp32. */
RADA_BF16_TARGET __attribute__((always_inline)) static inline void
micro_tile(const int mr, const uint16_t *a, int kpad, const uint16_t *panel, int blocks, float *acc, rada_prefetch next) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    for (int kb = 0; kb < blocks; kb++) {
        const uint16_t *w = panel + (size_t)kb * 2 * RADA_BF16_TILE_VALUES;
        const uint16_t *ak = a + kb * RADA_BF16_KB;
        rada_prefetch_step(next, kb);
        for (int r = 0; r < 16; r++) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(w + r * 32));
            __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(w + RADA_BF16_TILE_VALUES + r * 32));
            for (int i = 0; i < mr; i++) {
                int32_t pair;
                memcpy(&pair, ak + (size_t)i * kpad + 2 * r, sizeof pair);
                __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
                c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);
                c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);
            }
        }
    }
    for (int i = 0; i < mr; i++) {
        _mm512_store_ps(acc + i * 32, c0[i]);
        _mm512_store_ps(acc + i * 32 + 16, c1[i]);
    }
}

/* One instance per row count, so that each keeps its accumulators in registers. */
#define RADA_MICRO(R) \
    case R: micro_tile(R, a, kpad, panel, blocks, acc, next); break;

RADA_BF16_TARGET
void rada_avx512bf16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                          float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    if (m <= 0 || panel_begin >= panel_end) return;
    int kpad = rada_round_up(k, RADA_BF16_KB), blocks = kpad / RADA_BF16_KB;
    float acc[MR * 32] __attribute__((aligned(64)));
    /* Panel-major: a panel's weights (kpad × 32 bf16, 192 KiB at k = 3072) stay in L2 while every
     * row block passes over them. */
    size_t panel_values = (size_t)blocks * 2 * RADA_BF16_TILE_VALUES;
    int tiles = (m + MR - 1) / MR;
    for (int p = panel_begin; p < panel_end; p++) {
        const uint16_t *panel = packed + (size_t)p * panel_values;
        const uint16_t *next_panel = p + 1 < panel_end ? panel + panel_values : NULL;
        int col0 = p * RADA_BF16_NR, cols = n - col0 < RADA_BF16_NR ? n - col0 : RADA_BF16_NR;
        const float *panel_bias = bias ? bias + col0 : 0;
        for (int row = 0; row < m; row += MR) {
            int rows = m - row < MR ? m - row : MR;
            const uint16_t *a = a16 + (size_t)row * kpad;
            rada_prefetch next = rada_prefetch_share(next_panel, 2 * panel_values, tiles, row / MR, blocks);
            switch (rows) {
                RADA_MICRO(1) RADA_MICRO(2) RADA_MICRO(3) RADA_MICRO(4) RADA_MICRO(5) RADA_MICRO(6)
                RADA_MICRO(7) RADA_MICRO(8) RADA_MICRO(9) RADA_MICRO(10) RADA_MICRO(11) RADA_MICRO(12)
            }
            rada_bf16_write_block(acc, 32, rows, cols, panel_bias, c + (size_t)row * ldc + col0, ldc, accumulate);
        }
    }
}
#else
/* A stub per kernel off x86 (bf16_amx.c has its own): callers check availability first, so it
   never runs; the linker needs it. */
void rada_avx512bf16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                          float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    (void)m; (void)n; (void)k; (void)a16; (void)packed; (void)bias; (void)c; (void)ldc; (void)accumulate;
    (void)panel_begin; (void)panel_end;
}
#endif
