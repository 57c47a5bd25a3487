#include "cnumerics_amx.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define RADA_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))
#define RADA_HAS_AMX_BUILD 1
#else
#define RADA_HAS_AMX_BUILD 0
#endif

#define TILE_VALUES 512 /* one 16×32 bf16 tile */

static int round_up(int x, int to) { return (x + to - 1) / to * to; }

static int amx_state = -1;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
    amx_state = 0;
#if RADA_HAS_AMX_BUILD
    unsigned int a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    int avx512_bf16 = (a >> 5) & 1;
    if (!(amx_bf16 && amx_tile && avx512f && avx512bw && avx512_bf16)) return;
    /* Linux hands out the 8 KiB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA). */
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return;
    amx_state = 1;
#endif
}

int rada_amx_available(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_state;
}

float rada_bf16_round(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu)) {
        bits |= 0x00400000u; /* quiet NaN stays NaN */
    } else {
        bits += 0x7fffu + ((bits >> 16) & 1u);
    }
    bits &= 0xffff0000u;
    float y;
    memcpy(&y, &bits, 4);
    return y;
}

static uint16_t to_bf16(float x) {
    float r = rada_bf16_round(x);
    uint32_t bits;
    memcpy(&bits, &r, 4);
    return (uint16_t)(bits >> 16);
}

int rada_amx_panels(int n) { return (n + RADA_AMX_NR - 1) / RADA_AMX_NR; }

size_t rada_amx_packed_count(int k, int n) {
    return (size_t)rada_amx_panels(n) * (size_t)(round_up(k, RADA_AMX_KB) / RADA_AMX_KB) * 2 * TILE_VALUES;
}

/* Panel p, input block kb, tile t (columns 32p + 16t ...): 16 rows of 16 (input pair) columns,
 * value [r][c][j] = w[32 kb + 2 r + j][32 p + 16 t + c], the layout TDPBF16PS reads for B. The
 * tiles of one panel are contiguous in kb, so the kernel streams them in order. */
void rada_amx_pack_weight(const float *w, int k, int n, int ldw, uint16_t *packed) {
    int panels = rada_amx_panels(n), blocks = round_up(k, RADA_AMX_KB) / RADA_AMX_KB;
    for (int p = 0; p < panels; p++)
        for (int kb = 0; kb < blocks; kb++)
            for (int t = 0; t < 2; t++) {
                uint16_t *tile = packed + ((size_t)(p * blocks + kb) * 2 + t) * TILE_VALUES;
                for (int r = 0; r < 16; r++)
                    for (int c = 0; c < 16; c++)
                        for (int j = 0; j < 2; j++) {
                            int row = kb * RADA_AMX_KB + 2 * r + j, col = p * RADA_AMX_NR + 16 * t + c;
                            tile[r * 32 + c * 2 + j] = (row < k && col < n) ? to_bf16(w[(size_t)row * ldw + col]) : 0;
                        }
            }
}

size_t rada_amx_activation_count(int m, int k) { return (size_t)round_up(m, 16) * (size_t)round_up(k, RADA_AMX_KB); }

#if RADA_HAS_AMX_BUILD
RADA_AMX_TARGET
static void convert_rows_avx512(const float *a, int k, int lda, uint16_t *out, int kpad, int row_begin, int row_end) {
    for (int r = row_begin; r < row_end; r++) {
        const float *src = a + (size_t)r * lda;
        uint16_t *dst = out + (size_t)r * kpad;
        int i = 0;
        for (; i + 32 <= k; i += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
            _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
        }
        for (; i < k; i++) dst[i] = to_bf16(src[i]);
        for (; i < kpad; i++) dst[i] = 0;
    }
}
#endif

void rada_amx_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end) {
    int kpad = round_up(k, RADA_AMX_KB), mpad = round_up(m, 16);
    int real_end = row_end < m ? row_end : m;
#if RADA_HAS_AMX_BUILD
    if (rada_amx_available()) {
        if (row_begin < real_end) convert_rows_avx512(a, k, lda, out, kpad, row_begin, real_end);
    } else
#endif
    {
        for (int r = row_begin; r < real_end; r++)
            for (int i = 0; i < kpad; i++) out[(size_t)r * kpad + i] = i < k ? to_bf16(a[(size_t)r * lda + i]) : 0;
    }
    /* Padding rows (between m and the next multiple of 16) belong to whoever converts the last row. */
    if (row_end >= m) memset(out + (size_t)m * kpad, 0, (size_t)(mpad - m) * kpad * sizeof(uint16_t));
}

#if RADA_HAS_AMX_BUILD
typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} rada_tile_config;

/* Writes up to 32 rows × 32 columns of accumulators (in `acc`, 32 floats per row) to c. */
static void write_block(const float *acc, int rows, int cols, const float *bias, float *c, int ldc, int accumulate) {
    for (int r = 0; r < rows; r++) {
        float *dst = c + (size_t)r * ldc;
        const float *src = acc + r * 32;
        for (int j = 0; j < cols; j++) dst[j] = (accumulate ? dst[j] : 0.0f) + src[j] + (bias ? bias[j] : 0.0f);
    }
}

RADA_AMX_TARGET
void rada_amx_gemm(int m, int n, int k, const uint16_t *a16, const uint16_t *packed, const float *bias,
                   float *c, int ldc, int accumulate, int panel_begin, int panel_end) {
    if (m <= 0 || panel_begin >= panel_end) return;
    /* Tiles 0–3: fp32 accumulators (rows 0–15 / 16–31 × columns 0–15 / 16–31); 4, 5: activation
     * rows; 6, 7: the panel's two weight tiles. Configured per call: the state is per thread. */
    rada_tile_config config;
    memset(&config, 0, sizeof config);
    config.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.colsb[t] = 64;
    }
    _tile_loadconfig(&config);
    int kpad = round_up(k, RADA_AMX_KB), blocks = kpad / RADA_AMX_KB;
    size_t a_stride = (size_t)kpad * sizeof(uint16_t);
    float acc[32 * 32] __attribute__((aligned(64)));
    for (int p = panel_begin; p < panel_end; p++) {
        const uint16_t *panel = packed + (size_t)p * blocks * 2 * TILE_VALUES;
        int col0 = p * RADA_AMX_NR, cols = n - col0 < RADA_AMX_NR ? n - col0 : RADA_AMX_NR;
        const float *panel_bias = bias ? bias + col0 : 0;
        for (int row = 0; row < m; row += 32) {
            /* Two row tiles while more than 16 rows remain (the second may be partly padding),
             * else one. */
            int pair = m - row > 16;
            const uint16_t *a0 = a16 + (size_t)row * kpad, *a1 = a0 + (size_t)16 * kpad;
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            for (int kb = 0; kb < blocks; kb++) {
                const uint16_t *w = panel + (size_t)kb * 2 * TILE_VALUES;
                _tile_loadd(4, a0 + kb * RADA_AMX_KB, a_stride);
                _tile_loadd(6, w, 64);
                _tile_loadd(7, w + TILE_VALUES, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                if (pair) {
                    _tile_loadd(5, a1 + kb * RADA_AMX_KB, a_stride);
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
            write_block(acc, rows, cols, panel_bias, c + (size_t)row * ldc + col0, ldc, accumulate);
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
