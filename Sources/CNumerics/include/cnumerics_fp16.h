#ifndef RADA_CNUMERICS_FP16_H
#define RADA_CNUMERICS_FP16_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fp16 GEMM on AVX512-FP16 -----------------------------------------------------------------
 * X (fp32, m×k) · W (k×n, packed once into fp16) for Intel cores that have AVX512-FP16 but no
 * usable AMX (Sapphire Rapids and later with AMX withheld, as in many virtual machines). There
 * VFMADD231PH does 32 multiply-adds per instruction at the rate of fp32's 16, while VDPBF16PS
 * runs at half fp32's rate, so fp16 is the only 16-bit arithmetic that is faster than fp32.
 *
 * fp16 has 11 significant bits (bf16 8) but a range of only ±65504, so both operands are scaled
 * by powers of two (exact) into a safe range: the weight by one factor per matrix (largest
 * magnitude in [0.5, 1)), each activation row by its own (largest magnitude in [64, 128)).
 * Products accumulate in fp16 for 128 terms per lane at most (|sum| < 16384: no overflow), then
 * into fp32; the error of an output is about 1.7e-3 of the sum of its terms' magnitudes, against
 * 2.2e-3 for bf16's operand rounding alone. The layout is the bf16
 * kernels' (cnumerics_bf16.h): panels of 32 columns, steps of 32 inputs, pairs of inputs per
 * column interleaved; only the element format differs. */

/** 1 when the CPU has AVX512F, AVX512BW and AVX512-FP16 and the OS saves the zmm state. */
int rada_avx512fp16_available(void);

/** fp16 values (uint16_t) needed to pack a k×n weight (the bf16 layout's count). */
size_t rada_fp16_packed_count(int k, int n);
/** The power of two the weight is multiplied by before rounding: largest |w|·scale in [0.5, 1);
 *  1 for an all-zero or non-finite weight. */
float rada_fp16_weight_scale(const float *w, int k, int n, int ldw);
/** Packs row-major fp32 w (k×n, leading dimension ldw), multiplied by `scale`, into fp16 tiles
 *  (round to nearest even, as `rada_f32_to_f16`; zero padding). Call only when
 *  `rada_avx512fp16_available()`. */
void rada_fp16_pack_weight(const float *w, int k, int n, int ldw, float scale, uint16_t *packed);
/** uint16_t values of scratch for m activation rows of k inputs: the fp16 rows (padded as the bf16
 *  layout) followed by one fp32 factor per row (the inverse of the row's scale). */
size_t rada_fp16_activation_count(int m, int k);
/** Scales rows [row_begin, row_end) of fp32 a (m×k, leading dimension lda) and rounds them to fp16
 *  (nearest even) into `out`, with each row's factor. Call only when `rada_avx512fp16_available()`. */
void rada_fp16_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end);

/** c[r, j] = (accumulate ? c[r, j] : 0) + bias[j] + Σ_k a[r, k] · w[k, j] for rows r < m and the
 *  columns of panels [panel_begin, panel_end). `a16` comes from `rada_fp16_convert_rows` (m
 *  rows), `packed` from `rada_fp16_pack_weight` with `weight_scale`; `bias` may be NULL. Disjoint
 *  panel ranges may run on different threads. Call only when `rada_avx512fp16_available()`. */
void rada_avx512fp16_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, float weight_scale,
                          const float *bias, float *c, int ldc, int accumulate, int panel_begin, int panel_end);

#ifdef __cplusplus
}
#endif
#endif
