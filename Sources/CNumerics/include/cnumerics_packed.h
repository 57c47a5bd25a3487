#ifndef RADA_CNUMERICS_PACKED_H
#define RADA_CNUMERICS_PACKED_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM against a weight matrix packed once --------------------------------------------
 * The towers multiply few rows (50 tokens per B/32 image) by large fixed weights. OpenBLAS
 * re-packs the weight on every call and its blocking targets large M; packing the weight once
 * into column panels and streaming activations past it avoids both costs. */

/** Columns per packed panel. */
#define RADA_PACK_NR 32

/** Floats needed to pack a k×n weight: ceil(n / RADA_PACK_NR) panels of k × RADA_PACK_NR. */
size_t rada_packed_size(int k, int n);
/** Number of column panels of an n-column weight. */
int rada_packed_panels(int n);
/** Packs row-major w (k×n, leading dimension ldw) into `packed` (zero-padding the last panel). */
void rada_pack_weight(const float *w, int k, int n, int ldw, float *packed);

/** c[r, j] = (accumulate ? c[r, j] : 0) + bias[j] + Σ_k a[r, k] · w[k, j] for rows r < m and
 *  columns j in panels [panel_begin, panel_end). `bias` may be NULL. a is m×k row-major (lda),
 *  c is m×n row-major (ldc). Disjoint panel ranges may run on different threads. */
void rada_sgemm_packed(int m, int n, int k, const float *a, int lda, const float *packed,
                       const float *bias, float *c, int ldc, int accumulate, int panel_begin,
                       int panel_end);

#ifdef __cplusplus
}
#endif
#endif
