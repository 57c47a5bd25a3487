#ifndef RADA_BF16_INTERNAL_H
#define RADA_BF16_INTERNAL_H

#include <stdint.h>

/* Shared by the bf16 packing code and its kernels; not part of the module's interface. */
#if defined(__x86_64__) && defined(__linux__)
#define RADA_BF16_X86 1
#else
#define RADA_BF16_X86 0
#endif

#define RADA_BF16_TILE_VALUES 512 /* one 16×32 bf16 tile */

#if RADA_BF16_X86
#include <immintrin.h>
#include <string.h>

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} rada_tile_config;

/* The configuration both AMX kernels (the GEMM, the attention head) use: tiles 0–7, each 16 rows
 * × 64 bytes. The tile state is per thread, so each call configures its own. */
__attribute__((target("amx-tile"), always_inline)) static inline void rada_amx_configure(void) {
    rada_tile_config config;
    memset(&config, 0, sizeof config);
    config.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.colsb[t] = 64;
    }
    _tile_loadconfig(&config);
}
#endif

static inline int rada_round_up(int x, int to) { return (x + to - 1) / to * to; }

/* Packs row-major w (k×n, leading dimension ldw) into the 16-bit tile layout both formats share
 * (cnumerics_bf16.h), each value stored as `convert(value, scale)`; zero padding. */
void rada_pack_pair_tiles(const float *w, int k, int n, int ldw, uint16_t (*convert)(float, float), float scale,
                          uint16_t *packed);

/* Writes `rows` × `cols` accumulators (row stride acc_ld) to c: plus bias, plus c when accumulating. */
void rada_bf16_write_block(const float *acc, int acc_ld, int rows, int cols, const float *bias, float *c, int ldc, int accumulate);

#endif
