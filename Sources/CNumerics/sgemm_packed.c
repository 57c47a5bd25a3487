#include "cnumerics_packed.h"
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* MR: rows per register tile. KC: inputs per chunk. Each chunk after the first re-reads and
 * re-writes the output block, and at the towers' shapes (400 rows × up to 3072 columns, 1.2–4.9
 * MB) that output lives in L3, not L2: with 256-input chunks the k = 768 products ran at 160–168
 * GFLOP/s on two Zen 4 cores, with 1024 at 179–195 (medians of 5–7 alternating runs). A panel
 * chunk (KC × 32 floats, 128 KiB) then streams from L2 rather than L1, which the hardware
 * prefetcher hides. MB: rows per block, so that each weight is read from memory once per MB rows
 * (once per call up to 9 B/32 images). */
#ifndef RADA_PACK_KC
#define RADA_PACK_KC 1024
#endif
#ifndef RADA_PACK_MB
#define RADA_PACK_MB 480
#endif
enum { NR = RADA_PACK_NR, MR = 12 };

/* RADA_PACK_BLOCKING="MB,KC" replaces the two for this process (read once; out-of-range values
 * are ignored): the blocking suits one cache hierarchy, and trying others on a new CPU should
 * not need a rebuild. */
static int KC = RADA_PACK_KC, MB = RADA_PACK_MB;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;
static void read_blocking(void) {
    const char *value = getenv("RADA_PACK_BLOCKING");
    if (value == NULL) return;
    char *end;
    long mb = strtol(value, &end, 10);
    if (*end != ',') return;
    long kc = strtol(end + 1, &end, 10);
    if (*end != 0 || mb < MR || mb > 4096 || kc < 16 || kc > 4096) return;
    MB = (int)mb;
    KC = (int)kc;
}

int rada_packed_panels(int n) { return (n + NR - 1) / NR; }

size_t rada_packed_size(int k, int n) { return (size_t)rada_packed_panels(n) * NR * (size_t)k; }

/* Columns per run of a panel: AVX2 reads a panel as two 16-column halves, each stored whole
 * (k × 16, then k × 16), so that a pass over one half streams contiguous lines; with the 32
 * columns of an input side by side it touched every other line, and at 50 rows the kernel was
 * 1.07-1.08× slower (1.02× at 400; weights streaming, on a Zen 3 core). The other kernels read
 * all 32 columns of an input at once (k × 32). */
static int panel_run(int kernel) { return kernel == RADA_F32_AVX2 ? 16 : NR; }

void rada_pack_weight(int kernel, const float *w, int k, int n, int ldw, float *packed) {
    int panels = rada_packed_panels(n), run = panel_run(kernel);
    for (int p = 0; p < panels; p++) {
        int cols = n - p * NR < NR ? n - p * NR : NR;
        for (int first = 0; first < NR; first += run) {
            float *out = packed + (size_t)p * NR * k + (size_t)first * k;
            int width = cols - first < 0 ? 0 : cols - first < run ? cols - first : run;
            for (int kk = 0; kk < k; kk++) {
                memcpy(out + (size_t)kk * run, w + (size_t)kk * ldw + p * NR + first, sizeof(float) * width);
                for (int j = width; j < run; j++) out[(size_t)kk * run + j] = 0;
            }
        }
    }
}

/* A tile: c[0..rows) × [0..cols) (+)= a · panel over k inputs. `a` holds the rows' inputs
 * k-major (MR values per input, the first `rows` used); `panel` holds NR weights per input.
 * `next`: the tile's share of the next panel chunk, fetched over its k steps. */
typedef void (*tile_fn)(int rows, int cols, int k, const float *a, const float *panel, const float *bias,
                        float *c, int ldc, int accumulate, rada_prefetch next);

/* Writes a rows × cols block of accumulators (row stride acc_ld) to c, plus bias, plus c. */
static void write_block(const float *acc, int acc_ld, int rows, int cols, const float *bias, float *c, int ldc,
                        int accumulate) {
    for (int r = 0; r < rows; r++) {
        float *out = c + (size_t)r * ldc;
        const float *src = acc + (size_t)r * acc_ld;
        for (int j = 0; j < cols; j++) out[j] = (accumulate ? out[j] : 0.0f) + (bias ? bias[j] : 0.0f) + src[j];
    }
}

/* Portable version: the same walk, plain loops for the compiler to vectorise. */
static void tile_portable(int rows, int cols, int k, const float *a, const float *panel, const float *bias,
                          float *c, int ldc, int accumulate, rada_prefetch next) {
    float acc[MR][NR];
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = 0;
    for (int kk = 0; kk < k; kk++) {
        const float *b = panel + (size_t)kk * NR;
        rada_prefetch_step(next, kk);
        for (int r = 0; r < rows; r++) {
            float x = a[(size_t)kk * MR + r];
            for (int j = 0; j < NR; j++) acc[r][j] += x * b[j];
        }
    }
    write_block(&acc[0][0], NR, rows, cols, bias, c, ldc, accumulate);
}

#if defined(__x86_64__)
/* rows × 32: 2·rows accumulators (24 at most) + 2 weight vectors + the broadcast fit the 32 zmm
 * registers. Instantiated per constant `rows` so that the accumulators stay in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512_rows(const int rows, int cols, int k, const float *a, const float *panel, const float *bias, float *c,
                 int ldc, int accumulate, rada_prefetch next) {
    __m512 lo[MR], hi[MR];
    for (int r = 0; r < rows; r++) {
        lo[r] = _mm512_setzero_ps();
        hi[r] = _mm512_setzero_ps();
    }
#define RADA_AVX512_STEP(kk)                                                                       \
    {                                                                                              \
        __m512 b0 = _mm512_loadu_ps(panel + (size_t)(kk) * NR);                                   \
        __m512 b1 = _mm512_loadu_ps(panel + (size_t)(kk) * NR + 16);                              \
        for (int r = 0; r < rows; r++) {                                                           \
            __m512 x = _mm512_set1_ps(a[(size_t)(kk) * MR + r]);                                   \
            lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);                                                 \
            hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);                                                 \
        }                                                                                          \
    }
    /* The steps that prefetch, then a loop with nothing but the step: asked every step, the
     * prefetch's bounds took about 30 scalar instructions beside the 24 FMAs and 14 loads of a
     * 12-row step (and kept pointers on the stack), though at 400 rows a tile's share is kc/17
     * lines, one a step over its first kc/17 steps. */
    int kk = 0, asking = rada_prefetch_steps(next);
    if (asking > k) asking = k;
    for (; kk < asking; kk++) {
        RADA_AVX512_STEP(kk)
        rada_prefetch_step(next, kk);
    }
    for (; kk < k; kk++) RADA_AVX512_STEP(kk)
#undef RADA_AVX512_STEP
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

#define RADA_AVX512_CASE(R) \
    case R: tile_avx512_rows(R, cols, k, a, panel, bias, c, ldc, accumulate, next); break;

__attribute__((target("avx512f"))) static void tile_avx512(int rows, int cols, int k, const float *a,
                                                           const float *panel, const float *bias, float *c,
                                                           int ldc, int accumulate, rada_prefetch next) {
    switch (rows) {
        RADA_AVX512_CASE(1) RADA_AVX512_CASE(2) RADA_AVX512_CASE(3) RADA_AVX512_CASE(4)
        RADA_AVX512_CASE(5) RADA_AVX512_CASE(6) RADA_AVX512_CASE(7) RADA_AVX512_CASE(8)
        RADA_AVX512_CASE(9) RADA_AVX512_CASE(10) RADA_AVX512_CASE(11) RADA_AVX512_CASE(12)
    default: break;
    }
}

/* rows (≤ 6) × 16 columns of a panel half (16 weights per input): 12 accumulators + 2 weight
 * vectors + the broadcast within the 16 ymm registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
micro_avx2(const int rows, int cols, int k, const float *a, const float *b, const float *bias, float *c, int ldc,
           int accumulate) {
    __m256 lo[6], hi[6];
    for (int r = 0; r < rows; r++) {
        lo[r] = _mm256_setzero_ps();
        hi[r] = _mm256_setzero_ps();
    }
    /* Four inputs per trip, by pointer steps: with one, the loop's own instructions held the
     * narrower tiles (4 and 5 rows: batch 1's 50 rows, the end of a batch's) to 60-80 % of
     * the 6-row tile's rate on a Zen 3 core. */
#define RADA_AVX2_STEP(o)                                                                          \
    {                                                                                              \
        __m256 b0 = _mm256_loadu_ps(bp + (o) * 16), b1 = _mm256_loadu_ps(bp + (o) * 16 + 8);       \
        for (int r = 0; r < rows; r++) {                                                           \
            __m256 x = _mm256_broadcast_ss(ap + (o) * MR + r);                                     \
            lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);                                                 \
            hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);                                                 \
        }                                                                                          \
    }
    const float *ap = a, *bp = b;
    for (int trips = k >> 2; trips > 0; trips--, ap += 4 * MR, bp += 4 * 16) {
        RADA_AVX2_STEP(0) RADA_AVX2_STEP(1) RADA_AVX2_STEP(2) RADA_AVX2_STEP(3)
    }
    for (int rest = k & 3; rest > 0; rest--, ap += MR, bp += 16) RADA_AVX2_STEP(0)
#undef RADA_AVX2_STEP
    if (cols == 16) {
        __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
        __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
        for (int r = 0; r < rows; r++) {
            float *out = c + (size_t)r * ldc;
            __m256 v0 = _mm256_add_ps(lo[r], bias0), v1 = _mm256_add_ps(hi[r], bias1);
            if (accumulate) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(out));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(out + 8));
            }
            _mm256_storeu_ps(out, v0);
            _mm256_storeu_ps(out + 8, v1);
        }
        return;
    }
    float acc[6 * 16];
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(acc + r * 16, lo[r]);
        _mm256_storeu_ps(acc + r * 16 + 8, hi[r]);
    }
    write_block(acc, 16, rows, cols, bias, c, ldc, accumulate);
}

/* Inputs [k0, k0 + kc) of a panel (all k inputs at `panel`, two halves of k × 16) against a
 * whole block of rows (full tiles of MR, packed as for the other kernels), as 6 × 16 blocks, one
 * half at a time: the half's chunk (kc × 16 weights) is then re-read from L1/L2 by every row of
 * the block before the other half. Walked tile by tile instead, each 12-row tile reading both
 * halves in turn, the kernel was 1.10× slower at 50 rows (batch 1) and 1.03-1.05× at 400
 * (batch 8), weights streaming, on a Zen 3 core. No prefetch: asked for by the first block, it
 * made this kernel 1.25× slower (71–74 → 56–59 GFLOP/s, one thread, 200 rows, weights
 * streaming, on an Intel Xeon family 6 model 207). */
__attribute__((target("avx2,fma"))) static void panel_avx2(int rows, int cols, int k, int k0, int kc,
                                                           const float *block, const float *panel, const float *bias,
                                                           float *c, int ldc, int accumulate) {
    for (int half = 0; half < cols; half += 16) {
        int w = cols - half < 16 ? cols - half : 16;
        const float *b = bias ? bias + half : NULL;
        const float *weights = panel + (size_t)half * k + (size_t)k0 * 16;
        for (int t0 = 0; t0 < rows; t0 += MR) {
            const float *a = block + (size_t)(t0 / MR) * MR * kc;
            int tile_rows = rows - t0 < MR ? rows - t0 : MR;
            for (int sub = 0; sub < tile_rows; sub += 6) {
                float *out = c + (size_t)(t0 + sub) * ldc + half;
                switch (tile_rows - sub < 6 ? tile_rows - sub : 6) {
#define RADA_AVX2_CASE(R) \
    case R: micro_avx2(R, w, kc, a + sub, weights, b, out, ldc, accumulate); break;
                    RADA_AVX2_CASE(1) RADA_AVX2_CASE(2) RADA_AVX2_CASE(3)
                    RADA_AVX2_CASE(4) RADA_AVX2_CASE(5) RADA_AVX2_CASE(6)
#undef RADA_AVX2_CASE
                default: break;
                }
            }
        }
    }
}
#endif

/* The tile of every kernel but AVX2, which walks a whole panel chunk (panel_avx2). */
static tile_fn tile_for(int kernel) {
#if defined(__x86_64__)
    if (kernel == RADA_F32_AVX512) return tile_avx512;
#endif
    (void)kernel;
    return tile_portable;
}

/* Per-thread scratch for one block of packed activations, freed when its thread ends (pool
 * threads come and go). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

static float *scratch(void) {
    pthread_once(&scratch_once, make_scratch_key);
    pthread_once(&blocking_once, read_blocking);
    float *block = pthread_getspecific(scratch_key);
    if (block == NULL) {
        /* Whole tiles of MR rows, and a multiple of the alignment as aligned_alloc wants. */
        size_t bytes = sizeof(float) * (size_t)((MB + MR - 1) / MR * MR) * (size_t)KC;
        block = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (block == NULL) abort();
        pthread_setspecific(scratch_key, block);
    }
    return block;
}

/* Copies rows [r0, r1) × inputs [k0, k0 + kc) of a into tile `t` of the block: k-major, MR values
 * per input (the first r1 − r0 used), so that the tile loop reads activations sequentially. The
 * tile is written in order (input by input): row by row, each of its lines was written MR times
 * over a 48 KiB tile, and a 200-row share of fc2 (k = 3072) spent 9 % of its product packing,
 * against 4 % now. */
static void pack_rows(const float *a, int lda, int r0, int r1, int k0, int kc, float *tile) {
    int rows = r1 - r0;
    const float *src = a + (size_t)r0 * lda + k0;
    for (int kk = 0; kk < kc; kk++)
        for (int r = 0; r < rows; r++) tile[(size_t)kk * MR + r] = src[(size_t)r * lda + kk];
}

/* First row of tile t of a block's `tiles` tiles. AVX-512 splits the rows into equal tiles of
 * at most MR (50 rows: 5 × 10, not 4 × 12 + 2), so that no tile runs with a handful of rows.
 * AVX2 runs 6-row blocks, so full tiles of MR leave one short block at the end (50 rows:
 * 8 × 6 + 2, not 5 × (6 + 4)): 2-4 % faster on a Zen 3 core at 50 and 400 rows. */
static inline int tile_start(int kernel, int rows, int tiles, int t) {
    if (kernel == RADA_F32_AVX2) return t * MR < rows ? t * MR : rows;
    return rows * t / tiles;
}

/* Loop order: a block of up to MB rows × KC inputs is packed once (it stays in L2), then this
 * thread's panel chunks (KC × NR each) pass over it, each reused from L1/L2 by every row tile.
 * Later k chunks accumulate into c, so the bias is added by the first chunk only. */
void rada_sgemm_packed(int kernel, int m, int n, int k, const float *a, int lda, const float *packed,
                       const float *bias, float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    if (m <= 0 || k <= 0 || panel_begin >= panel_end) return;
    tile_fn tile = tile_for(kernel);
    float *block = scratch(); /* first, so that MB and KC are read */
    for (int r0 = 0; r0 < m; r0 += MB) {
        int rows = m - r0 < MB ? m - r0 : MB;
        int tiles = (rows + MR - 1) / MR;
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kc = k - k0 < KC ? k - k0 : KC;
            for (int t = 0; t < tiles; t++)
                pack_rows(a, lda, r0 + tile_start(kernel, rows, tiles, t),
                          r0 + tile_start(kernel, rows, tiles, t + 1), k0, kc, block + (size_t)t * MR * kc);
            int first = k0 == 0;
            for (int p = panel_begin; p < panel_end; p++) {
                int cols = n - p * NR < NR ? n - p * NR : NR;
                const float *panel = packed + (size_t)p * NR * k + (size_t)k0 * NR;
                const float *next = p + 1 < panel_end ? panel + (size_t)NR * k : NULL;
                const float *panel_bias = first && bias ? bias + p * NR : NULL;
#if defined(__x86_64__)
                if (kernel == RADA_F32_AVX2) {
                    panel_avx2(rows, cols, k, k0, kc, block, packed + (size_t)p * NR * k, panel_bias,
                               c + (size_t)r0 * ldc + p * NR, ldc, accumulate || !first);
                    continue;
                }
#endif
                for (int t = 0; t < tiles; t++) {
                    int t0 = tile_start(kernel, rows, tiles, t), t1 = tile_start(kernel, rows, tiles, t + 1);
                    tile(t1 - t0, cols, kc, block + (size_t)t * MR * kc, panel, panel_bias,
                         c + (size_t)(r0 + t0) * ldc + p * NR, ldc, accumulate || !first,
                         rada_prefetch_share(next, sizeof(float) * NR * (size_t)kc, tiles, t, kc));
                }
            }
        }
    }
}
