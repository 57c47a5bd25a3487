#ifndef RADA_CNUMERICS_H
#define RADA_CNUMERICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- BLAS, loaded at run time ------------------------------------------------------------
 * OpenBLAS picks its kernels when it is loaded. Debian's 0.3.21 does not recognise recent
 * Intel cores and falls back to "Prescott". Loading it with dlopen after choosing
 * OPENBLAS_CORETYPE (unless the user already chose) gives us the right kernels. */

/** Serial sections (BLAS.serially), counted per thread: inside one, rada's own kernels run
 *  unsplit on the calling thread. */
void rada_enter_serial_section(void);
void rada_leave_serial_section(void);
int rada_in_serial_section(void);

/** rada's kernel threads (BLAS.parallel): runs part(context, i) once for each i in [0, parts),
 *  on the calling thread and on pool threads that spin between jobs (no more threads than
 *  rada_pool_cores()), and returns 1 once every part has run. Returns 0 having run nothing when
 *  the pool is busy (another caller, or a part splitting again), parts is below 2 or above
 *  65535, or a thread cannot start: the caller then runs the parts another way. */
typedef void (*rada_pool_part)(void *context, int part);
int rada_pool_run(int parts, rada_pool_part part, void *context);
/** The threads a job may run on: the cores of this process's affinity mask, or fewer once
 *  rada_pool_cap_cores has lowered it. */
int rada_pool_cores(void);
/** The cores in this process's affinity mask, as read at first use. */
int rada_affinity_cores(void);
/** Sets rada_pool_cores() to `cap` (the CPU budget: a cgroup's quota), never above the
 *  affinity mask's cores. */
void rada_pool_cap_cores(int cap);
/** How long a pool thread, or a caller waiting for one, spins before it sleeps (RADA_POOL_SPIN_US,
 *  0-1000000; default 200; other values are ignored). */
int rada_pool_spin_us(void);

/** Loads the BLAS library once. Returns 0 on success, non-zero with a message in `error`. */
int rada_blas_load(char *error, size_t error_len);
/** The core type OpenBLAS runs (e.g. "SkylakeX"), or "unknown". Valid after a successful load. */
const char *rada_blas_corename(void);
/** The path or soname that was loaded. */
const char *rada_blas_library(void);
/** The OPENBLAS_CORETYPE this process chose before loading ("" when the user set it or none). */
const char *rada_blas_chosen_coretype(void);
/** The OPENBLAS_THREAD_TIMEOUT OpenBLAS was loaded with (log2 of the cycles its idle workers spin
 * before sleeping), and whether rada chose it (the user's value is kept). */
const char *rada_blas_thread_timeout(int *chosen_by_rada);
void rada_blas_set_threads(int threads);
int rada_blas_get_threads(void);
/** The single-threaded BLAS (BLIS's serial build) loaded beside the threaded OpenBLAS ("" when
 * none was found). Calls
 * made on a thread inside rada_blas_enter_caller_thread/leave go to it: they run on the calling
 * thread alone, so many threads can each run their own products at once, and the threaded
 * library's thread count (the backbone's) is never touched. */
const char *rada_blas_serial_library(void);
/** BLIS's configuration in the caller-thread library ("skx", "zen3", ...; empty when unknown or
 *  no such library). */
const char *rada_blas_serial_config(void);
void rada_blas_enter_caller_thread(void);
void rada_blas_leave_caller_thread(void);
/** Products this thread has sent to the threaded library since it started. */
long rada_blas_threaded_calls(void);

/* Row-major single-precision GEMM: C = alpha * op(A) op(B) + beta * C. */
void rada_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* Row-major double-precision GEMM (used by Float64 gradient checks). */
void rada_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
                const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);
/* Row-major symmetric rank-k update of C's lower triangle (n×n): C = alpha·op(A)·op(A)ᵀ + beta·C,
 * op(A) = A (n×k) or, with trans_a, Aᵀ (A k×n). The upper triangle is not touched. */
void rada_dsyrk(int trans_a, int n, int k, double alpha, const double *a, int lda, double beta, double *c, int ldc);
/* Row-major triangular solve from the right against the transpose of a lower-triangular n×n L
 * (non-unit diagonal): B (m×n) = alpha·B·L⁻ᵀ, i.e. X with X·Lᵀ = alpha·B. */
void rada_dtrsm_right_lower_t(int m, int n, double alpha, const double *l, int ldl, double *b, int ldb);
void rada_strsm_right_lower_t(int m, int n, float alpha, const float *l, int ldl, float *b, int ldb);

/* ---- the floating-point control word (fp_mode.c) ------------------------------------------
 * Per thread. On x86 an operation that reads or writes a subnormal float (below 1.2e-38) takes a
 * microcode assist of about a hundred cycles; flushing them to zero keeps such values at full
 * speed. */
/** This thread's control word (MXCSR on x86, FPCR on arm64; 0 elsewhere). */
uint32_t rada_fp_control(void);
/** Sets this thread's control word (a value from rada_fp_control or rada_fp_flushing). */
void rada_fp_set_control(uint32_t control);
/** `control` with subnormal inputs and results flushed to zero (unchanged where unsupported). */
uint32_t rada_fp_flushing(uint32_t control);

/* ---- vectorised element-wise kernels ------------------------------------------------------ */

/** y[i] = exp(x[i]); accurate to about 2 ulp for |x| < 87. In place allowed. */
void rada_vexp(const float *x, float *y, size_t n);
/** Row-wise softmax of a rows×cols matrix, in place; each row scaled by `scale` (> 0) first. */
void rada_softmax_rows(float *x, size_t rows, size_t cols, float scale);

/** One Adam / AdamW step's constants (Sources/Adaptation/Optimizer.swift says what each is). */
typedef struct {
    float decoupled;           /* AdamW's decay factor for these parameters (1: none) */
    float coupled;             /* Adam's L2 weight decay added to the gradient (0: none) */
    float one_minus_b1, b2, one_minus_b2;
    float root_correction;     /* sqrt(1 - b2^step) */
    float eps;
    float step_size;           /* lr · share / (1 - b1^step) */
    float parameter_bound, first_moment_bound, second_moment_bound; /* where each result is held */
} rada_adam_step;
/** theta ← decoupled·theta; g = grad (+ coupled·theta); m ← m + (g − m)(1 − b1); v ← v·b2 +
 *  (1 − b2)·g·g; theta ← theta − step_size·m / (sqrt(v)/root_correction + eps); each result held
 *  within its bound. No two of the four arrays may overlap. */
void rada_adam_update(float *theta, const float *grad, float *m, float *v, size_t n, const rada_adam_step *step);

/* ---- one attention head (attention_head.c) -------------------------------------------------
 * softmax(scale · Q·Kᵀ) · V for one head of one sequence, register-blocked on AVX-512F or on
 * AVX2 + FMA: at the towers' 50–200 tokens two library GEMM calls per head cost more in call
 * overhead than in FLOPs. Only for heads of RADA_ATTENTION_HEAD_WIDTH values, the width of every
 * CLIP tower's heads. */
#define RADA_ATTENTION_HEAD_WIDTH 64
/** The kernel (RADA_F32_AVX512 or RADA_F32_AVX2, cnumerics_packed.h) that runs heads of
 *  `head_width` values on this CPU, the widest available; -1 where none does. */
int rada_attention_head_kernel(int head_width);
/** 1 when `rada_attention_head` runs heads of `head_width` values on this CPU. */
int rada_attention_head_supported(int head_width);
/** Floats of scratch `rada_attention_head` needs for `length` tokens. */
size_t rada_attention_scratch_size(int length);
/** out[i, :] = Σ_j softmax_j(scale · q_i·k_j) v_j for i < length (only j ≤ i when causal; the
 *  softmax is `rada_softmax_rows`'s, up to its vector width). q, k, v: length rows at stride ld;
 *  out: length rows at stride ldo; scratch: `rada_attention_scratch_size(length)` floats, on
 *  `rada_attention_head_kernel`'s kernel. Call only where `rada_attention_head_supported`. */
void rada_attention_head(int length, const float *q, const float *k, const float *v, int ld, float scale, int causal,
                         float *scratch, float *out, int ldo);
/** Query rows [first, first + count) of `rada_attention_head` on `kernel` (RADA_F32_AVX512 or
 *  RADA_F32_AVX2; nothing is written unless it is available), bit for bit as the whole head
 *  computes them on that kernel, into out rows 0 … count − 1 (stride ldo): the keys and values
 *  are all `length` rows. A tower whose output is read at one position needs its last layer for
 *  that row only. */
void rada_attention_head_rows(int kernel, int length, int first, int count, const float *q, const float *k,
                              const float *v, int ld, float scale, int causal, float *scratch, float *out, int ldo);
/* ---- one attention head in bf16 (attention_bf16.c) ----------------------------------------
 * The same head for towers whose weight products run in bf16: Q, K, V and the probabilities
 * rounded to bf16 once, both products accumulated in fp32 on AMX-BF16 tiles or with
 * AVX512-BF16's VDPBF16PS; scores, softmax and outputs in fp32. Which towers use it, on which
 * kernel, is the caller's choice (the CLIP module's `TowerPrecision.attentionHeadBF16Kernel`). */
#define RADA_ATTENTION_BF16_AVX512 1
#define RADA_ATTENTION_BF16_AMX 2
/** Floats of scratch `rada_attention_bf16_head_rows` needs for `length` tokens. */
size_t rada_attention_bf16_scratch_size(int length);
/** Query rows [first, first + count) of the bf16 head on `kernel` into out rows 0 … count − 1
 *  (stride ldo), as `rada_attention_head_rows` with its arguments; each row bit for bit as the
 *  whole head computes it on that kernel. Nothing is written where the kernel is unavailable. */
void rada_attention_bf16_head_rows(int kernel, int length, int first, int count, const float *q, const float *k,
                                   const float *v, int ld, float scale, int causal, float *scratch, float *out, int ldo);
/** Row-wise layer norm: y = (x - mean) / sqrt(var + eps) * gamma + beta. In place allowed. */
void rada_layernorm_rows(const float *x, float *y, const float *gamma, const float *beta,
                         size_t rows, size_t cols, float eps);
/** GELU with the exact erf form, in place. */
void rada_gelu(float *x, size_t n);
/** QuickGELU x * sigmoid(1.702 x), in place. */
void rada_quick_gelu(float *x, size_t n);
/** x[r, :] += bias for every row. */
void rada_add_bias_rows(float *x, const float *bias, size_t rows, size_t cols);
/** Half (IEEE binary16) and bfloat16 to float conversion of n values. */
void rada_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void rada_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void rada_f32_to_f16(const float *src, uint16_t *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
