#ifndef RADA_BF16_INTERNAL_H
#define RADA_BF16_INTERNAL_H

/* Shared by the bf16 packing code and its kernels; not part of the module's interface. */
#if defined(__x86_64__) && defined(__linux__)
#define RADA_BF16_X86 1
#else
#define RADA_BF16_X86 0
#endif

#define RADA_BF16_TILE_VALUES 512 /* one 16×32 bf16 tile */

static inline int rada_round_up(int x, int to) { return (x + to - 1) / to * to; }

/* Writes `rows` × `cols` accumulators (row stride acc_ld) to c: plus bias, plus c when accumulating. */
void rada_bf16_write_block(const float *acc, int acc_ld, int rows, int cols, const float *bias, float *c, int ldc, int accumulate);

#endif
