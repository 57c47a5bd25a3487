#ifndef RADA_CNUMERICS_PACKED_H
#define RADA_CNUMERICS_PACKED_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fp32 GEMM against a weight matrix packed once -----------------------------------------
 * The towers multiply a few hundred rows (50 tokens per B/32 image) by large fixed weights.
 * OpenBLAS re-packs the weight on every call (340 MB per B/32 pass) and blocks for large M;
 * packing each weight once, at load, into column panels and streaming activations past them
 * avoids both costs. */

/** Columns per packed panel. */
#define RADA_PACK_NR 32

/** The microkernels, chosen at run time by `rada_f32_kernel_available` (cpu_features.c). */
enum {
    /** Plain C loops the compiler vectorises for the baseline target; runs everywhere. */
    RADA_F32_PORTABLE = 0,
    /** AVX2 + FMA: 6 rows × 16 columns in 12 ymm accumulators. */
    RADA_F32_AVX2 = 1,
    /** AVX-512F: up to 12 rows × 32 columns in 24 zmm accumulators. */
    RADA_F32_AVX512 = 2,
};

/** 1 when this CPU and OS run `kernel` (one of the RADA_F32_* values), 0 otherwise. */
int rada_f32_kernel_available(int kernel);

/** RADA_CPU_LIMIT's cap on the kernel families the probe reports (cpu_features.c), read once:
 *  a level below, NONE when unset (or "amx"), INVALID for an unknown name. */
enum {
    RADA_CPU_LIMIT_INVALID = -2,
    RADA_CPU_LIMIT_NONE = -1,
    RADA_CPU_LIMIT_PORTABLE = 0,
    RADA_CPU_LIMIT_AVX2 = 1,
    RADA_CPU_LIMIT_AVX512F = 2,
    RADA_CPU_LIMIT_AVX512BF16 = 3,
    RADA_CPU_LIMIT_AVX512FP16 = 4,
    RADA_CPU_LIMIT_AMX = 5,
};
int rada_cpu_limit(void);
/** The name RADA_CPU_LIMIT gives a level (PORTABLE ... AMX), NULL for any other value. */
const char *rada_cpu_limit_name(int level);

/** Floats needed to pack a k×n weight: ceil(n / RADA_PACK_NR) panels of k × RADA_PACK_NR. */
size_t rada_packed_size(int k, int n);
/** Number of column panels of an n-column weight. */
int rada_packed_panels(int n);
/** Packs row-major w (k×n, leading dimension ldw) into `packed` (zero-padding the last panel)
 *  for `kernel`: AVX2 stores each panel as two 16-column halves one after the other, the others
 *  an input's 32 columns side by side, so a packed weight serves the kernel it was packed for. */
void rada_pack_weight(int kernel, const float *w, int k, int n, int ldw, float *packed);

/** c[r, j] = (accumulate ? c[r, j] : 0) + bias[j] + Σ_k a[r, k] · w[k, j] for rows r < m and
 *  columns j in panels [panel_begin, panel_end), on `kernel` (which must be available, and be
 *  the one `packed` was packed for). `bias` may be NULL. a is m×k row-major (lda), c is m×n
 *  row-major (ldc). Disjoint panel ranges may run on different threads. */
void rada_sgemm_packed(int kernel, int m, int n, int k, const float *a, int lda, const float *packed,
                       const float *bias, float *c, int ldc, int accumulate, int panel_begin,
                       int panel_end);

#ifdef __cplusplus
}
#endif
#endif
