#ifndef RADA_CNUMERICS_BF16_H
#define RADA_CNUMERICS_BF16_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bf16 GEMM: one packed layout, two kernels ---------------------------------------------
 * X (fp32, m×k) · W (k×n, packed once into bf16) with fp32 accumulation. The weight is held in
 * bf16 only (half the memory and half the streamed bytes of fp32); activations are rounded to
 * bf16 (round to nearest even) once per product. The packed layout is the one Intel AMX's
 * TDPBF16PS reads for its B tile, and each 64-byte row of such a tile is also exactly the operand
 * AVX512-BF16's VDPBF16PS takes (16 columns × a pair of inputs), so both kernels share it. */

/** 1 when the CPU has AMX-BF16 and AVX512-BF16 and the kernel granted this process the AMX tile
 *  state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once); 0 otherwise. */
int rada_amx_available(void);
/** 1 when the CPU has AVX512F, AVX512BW and AVX512-BF16 and the OS saves the zmm state. */
int rada_avx512bf16_available(void);

/** Output columns per packed panel (two 16-column tiles). */
#define RADA_BF16_NR 32
/** Inputs per tile step (16 rows of bf16 pairs). */
#define RADA_BF16_KB 32

/** bf16 values (uint16_t) needed to pack a k×n weight. */
size_t rada_bf16_packed_count(int k, int n);
/** Number of 32-column panels of an n-column weight. */
int rada_bf16_panels(int n);
/** Packs row-major fp32 w (k×n, leading dimension ldw) into bf16 tiles (zero padding). */
void rada_bf16_pack_weight(const float *w, int k, int n, int ldw, uint16_t *packed);
/** bf16 values needed for m activation rows of k inputs (rows padded to 16, inputs to 32). */
size_t rada_bf16_activation_count(int m, int k);
/** Rounds fp32 rows a (m×k, leading dimension lda) to bf16 into `out` in the padded layout the
 *  kernels read (zero padding). Rows [row_begin, row_end) only, for splitting. */
void rada_bf16_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end);
/** Round-to-nearest-even fp32 → bf16 → fp32, the rounding the kernels apply (for tests). */
float rada_bf16_round(float x);

/** c[r, j] = (accumulate ? c[r, j] : 0) + bias[j] + Σ_k a[r, k] · w[k, j] for rows r < m and the
 *  columns of panels [panel_begin, panel_end). `a16` comes from `rada_bf16_convert_rows`; `bias`
 *  may be NULL. Disjoint panel ranges may run on different threads. Call only when
 *  `rada_amx_available()`. */
void rada_amx_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                   float *c, int ldc, int accumulate, int panel_begin, int panel_end);
/** The same product with VDPBF16PS. Call only when `rada_avx512bf16_available()`. */
void rada_avx512bf16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                          float *c, int ldc, int accumulate, int panel_begin, int panel_end);

#ifdef __cplusplus
}
#endif
#endif
