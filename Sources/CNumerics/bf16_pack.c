#include "cnumerics_bf16.h"
#include "bf16_internal.h"

#include <string.h>

#if RADA_BF16_X86
#include <immintrin.h>
#endif

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

int rada_bf16_panels(int n) { return (n + RADA_BF16_NR - 1) / RADA_BF16_NR; }

size_t rada_bf16_packed_count(int k, int n) {
    return (size_t)rada_bf16_panels(n) * (size_t)(rada_round_up(k, RADA_BF16_KB) / RADA_BF16_KB) * 2 * RADA_BF16_TILE_VALUES;
}

/* Panel p, input block kb, tile t (columns 32p + 16t ...): 16 rows of 16 (input pair) columns,
 * value [r][c][j] = w[32 kb + 2 r + j][32 p + 16 t + c], the layout TDPBF16PS reads for B. The
 * tiles of one panel are contiguous in kb, so the kernels stream them in order. */
void rada_pack_pair_tiles(const float *w, int k, int n, int ldw, uint16_t (*convert)(float, float), float scale,
                          uint16_t *packed) {
    int panels = rada_bf16_panels(n), blocks = rada_round_up(k, RADA_BF16_KB) / RADA_BF16_KB;
    for (int p = 0; p < panels; p++)
        for (int kb = 0; kb < blocks; kb++)
            for (int t = 0; t < 2; t++) {
                uint16_t *tile = packed + ((size_t)(p * blocks + kb) * 2 + t) * RADA_BF16_TILE_VALUES;
                for (int r = 0; r < 16; r++)
                    for (int c = 0; c < 16; c++)
                        for (int j = 0; j < 2; j++) {
                            int row = kb * RADA_BF16_KB + 2 * r + j, col = p * RADA_BF16_NR + 16 * t + c;
                            tile[r * 32 + c * 2 + j] = (row < k && col < n) ? convert(w[(size_t)row * ldw + col], scale) : 0;
                        }
            }
}

static uint16_t to_bf16_unscaled(float x, float scale) {
    (void)scale;
    return to_bf16(x);
}

void rada_bf16_pack_weight(const float *w, int k, int n, int ldw, uint16_t *packed) {
    rada_pack_pair_tiles(w, k, n, ldw, to_bf16_unscaled, 1, packed);
}

size_t rada_bf16_activation_count(int m, int k) { return (size_t)rada_round_up(m, 16) * (size_t)rada_round_up(k, RADA_BF16_KB); }

#if RADA_BF16_X86
__attribute__((target("avx512f,avx512bw,avx512bf16")))
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

void rada_bf16_convert_rows(const float *a, int m, int k, int lda, uint16_t *out, int row_begin, int row_end) {
    int kpad = rada_round_up(k, RADA_BF16_KB), mpad = rada_round_up(m, 16);
    int real_end = row_end < m ? row_end : m;
#if RADA_BF16_X86
    if (rada_avx512bf16_available()) {
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

void rada_bf16_write_block(const float *acc, int acc_ld, int rows, int cols, const float *bias, float *c, int ldc, int accumulate) {
    for (int r = 0; r < rows; r++) {
        float *dst = c + (size_t)r * ldc;
        const float *src = acc + (size_t)r * acc_ld;
        for (int j = 0; j < cols; j++) dst[j] = (accumulate ? dst[j] : 0.0f) + src[j] + (bias ? bias[j] : 0.0f);
    }
}
