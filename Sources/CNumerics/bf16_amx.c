#include "cnumerics_bf16.h"
#include "bf16_internal.h"

#include <string.h>

#if RADA_BF16_X86
#include <immintrin.h>

/* Blocks of 32 output rows × 32 output columns: four 16×16 fp32 accumulator tiles per step of
 * 32 inputs. */
__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
void rada_amx_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                   float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    if (m <= 0 || panel_begin >= panel_end) return;
    /* Tiles 0–3: fp32 accumulators (rows 0–15 / 16–31 × columns 0–15 / 16–31); 4, 5: activation
     * rows; 6, 7: the panel's two weight tiles. */
    rada_amx_configure();
    int kpad = rada_round_up(k, RADA_BF16_KB), blocks = kpad / RADA_BF16_KB;
    size_t a_stride = (size_t)kpad * sizeof(uint16_t);
    float acc[32 * 32] __attribute__((aligned(64)));
    for (int p = panel_begin; p < panel_end; p++) {
        const uint16_t *panel = packed + (size_t)p * blocks * 2 * RADA_BF16_TILE_VALUES;
        int col0 = p * RADA_BF16_NR, cols = n - col0 < RADA_BF16_NR ? n - col0 : RADA_BF16_NR;
        const float *panel_bias = bias ? bias + col0 : 0;
        for (int row = 0; row < m; row += 32) {
            /* Two row tiles while more than 16 rows remain (the second may be partly padding),
             * else one. */
            int pair = m - row > 16;
            const uint16_t *a0 = a16 + (size_t)row * kpad, *a1 = a0 + (size_t)16 * kpad;
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            for (int kb = 0; kb < blocks; kb++) {
                const uint16_t *w = panel + (size_t)kb * 2 * RADA_BF16_TILE_VALUES;
                _tile_loadd(4, a0 + kb * RADA_BF16_KB, a_stride);
                _tile_loadd(6, w, 64);
                _tile_loadd(7, w + RADA_BF16_TILE_VALUES, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                if (pair) {
                    _tile_loadd(5, a1 + kb * RADA_BF16_KB, a_stride);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
            }
            _tile_stored(0, acc, 128);
            _tile_stored(1, acc + 16, 128);
            if (pair) {
                _tile_stored(2, acc + 16 * 32, 128);
                _tile_stored(3, acc + 16 * 32 + 16, 128);
            }
            int rows = m - row < 32 ? m - row : 32;
            rada_bf16_write_block(acc, 32, rows, cols, panel_bias, c + (size_t)row * ldc + col0, ldc, accumulate);
        }
    }
    _tile_release();
}
#else
void rada_amx_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                   float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    (void)m; (void)n; (void)k; (void)a16; (void)packed; (void)bias; (void)c; (void)ldc; (void)accumulate;
    (void)panel_begin; (void)panel_end;
}
#endif
