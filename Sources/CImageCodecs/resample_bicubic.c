/*
 * Pillow-identical bicubic resize of RGB8 images (Pillow's ImagingResample with BICUBIC and
 * box = the whole image). CLIP's reference preprocessing runs Pillow on uint8 images, so the
 * resized pixels must match it bit for bit; the details below are what make them match:
 *  - the filter is the a = -0.5 cubic; when shrinking, its support is widened by the scale
 *    factor (area averaging), never narrowed when enlarging;
 *  - window bounds are rounded with (int)(x + 0.5) and each window's weights normalised to 1;
 *  - weights become 22-bit fixed point (round half away from zero), sums start at 0.5 in that
 *    fixed point, and results are floored and clamped to 0..255;
 *  - the two passes are rounded to 8 bits in between, so their order matters. Pillow runs the
 *    horizontal pass first (over just the rows the vertical pass reads) unless the height
 *    shrinks by more than twice as many pixels as the width does: since Pillow 13
 *    (python-pillow/Pillow#9549) the vertical pass then goes first. The rule was measured
 *    against the pinned Pillow 13.0 (1486 size combinations where the order shows, all match);
 *    Pillow <= 12 always went horizontal first;
 *  - an axis whose size does not change is skipped entirely.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_codecs.h"

enum { precision_bits = 32 - 8 - 2 };

static double bicubic_kernel(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Per output position: first input index, tap count, and `taps` fixed-point weights. */
typedef struct {
    int taps;    /* weights stored per output position */
    int *first;  /* out_size */
    int *count;  /* out_size */
    int32_t *weights; /* out_size * taps */
} resample_axis;

static void axis_free(resample_axis *axis) {
    free(axis->first);
    free(axis->count);
    free(axis->weights);
    axis->first = axis->count = NULL;
    axis->weights = NULL;
}

static int axis_init(resample_axis *axis, int in_size, int out_size) {
    const double support_unscaled = 2.0;
    double scale = (double)in_size / out_size;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = support_unscaled * filter_scale;
    double inverse_scale = 1.0 / filter_scale; /* multiply by it, as Pillow does: not divide */
    axis->taps = (int)ceil(support) * 2 + 1;
    axis->first = malloc(sizeof(int) * (size_t)out_size);
    axis->count = malloc(sizeof(int) * (size_t)out_size);
    axis->weights = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)axis->taps);
    double *w = malloc(sizeof(double) * (size_t)axis->taps);
    if (!axis->first || !axis->count || !axis->weights || !w) {
        free(w);
        axis_free(axis);
        return -1;
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        if (n > axis->taps) n = axis->taps; /* cannot happen (n <= 2*support + 1); guards w[] */
        double total = 0.0;
        for (int i = 0; i < n; i++) {
            w[i] = bicubic_kernel((i + lo - center + 0.5) * inverse_scale);
            total += w[i];
        }
        int32_t *fixed = axis->weights + (size_t)o * (size_t)axis->taps;
        for (int i = 0; i < axis->taps; i++) {
            double v = i < n ? (total != 0.0 ? w[i] / total : w[i]) : 0.0;
            double scaled = v * (double)(1 << precision_bits);
            fixed[i] = (int32_t)(v < 0 ? scaled - 0.5 : scaled + 0.5);
        }
        axis->first[o] = lo;
        axis->count[o] = n;
    }
    free(w);
    return 0;
}

static inline uint8_t clamp_fixed(int64_t sum) {
    int64_t v = sum >> precision_bits; /* arithmetic shift: floor */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* out[y][x] = sum_i in[y + row_offset][first[x] + i] * w[x][i] for y < rows. */
static void resample_rows(const uint8_t *in, int in_w, int row_offset, int rows, uint8_t *out,
                          int out_w, const resample_axis *axis) {
    const int64_t half = (int64_t)1 << (precision_bits - 1);
    for (int y = 0; y < rows; y++) {
        const uint8_t *src = in + (size_t)(y + row_offset) * (size_t)in_w * 3u;
        uint8_t *dst = out + (size_t)y * (size_t)out_w * 3u;
        for (int x = 0; x < out_w; x++) {
            const int32_t *w = axis->weights + (size_t)x * (size_t)axis->taps;
            const uint8_t *p = src + (size_t)axis->first[x] * 3u;
            int64_t r = half, g = half, b = half;
            for (int i = 0; i < axis->count[x]; i++) {
                r += (int64_t)p[3 * i] * w[i];
                g += (int64_t)p[3 * i + 1] * w[i];
                b += (int64_t)p[3 * i + 2] * w[i];
            }
            dst[3 * x] = clamp_fixed(r);
            dst[3 * x + 1] = clamp_fixed(g);
            dst[3 * x + 2] = clamp_fixed(b);
        }
    }
}

/* out[y][x] = sum_i in[first[y] + i][x] * w[y][i]. */
static void resample_columns(const uint8_t *in, int width, uint8_t *out, int out_h,
                             const resample_axis *axis) {
    const int64_t half = (int64_t)1 << (precision_bits - 1);
    size_t stride = (size_t)width * 3u;
    for (int y = 0; y < out_h; y++) {
        const int32_t *w = axis->weights + (size_t)y * (size_t)axis->taps;
        const uint8_t *top = in + (size_t)axis->first[y] * stride;
        uint8_t *dst = out + (size_t)y * stride;
        for (size_t c = 0; c < stride; c++) {
            int64_t s = half;
            for (int i = 0; i < axis->count[y]; i++) s += (int64_t)top[(size_t)i * stride + c] * w[i];
            dst[c] = clamp_fixed(s);
        }
    }
}

/* Whether Pillow 13 runs the vertical pass first (see the comment at the top). */
static int vertical_first(int in_w, int in_h, int out_w, int out_h) {
    return out_h < in_h && (int64_t)(in_h - out_h) > 2 * (int64_t)(in_w - out_w);
}

int rada_resize_bicubic_rgb8(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w,
                             int out_h) {
    if (in == NULL || out == NULL || in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0)
        return -1;
    int need_horizontal = out_w != in_w;
    int need_vertical = out_h != in_h;
    if (!need_horizontal && !need_vertical) {
        memcpy(out, in, (size_t)in_w * (size_t)in_h * 3u);
        return 0;
    }
    int status = -1;
    resample_axis vertical = {0}, horizontal = {0};
    uint8_t *temp = NULL;
    if (need_vertical && axis_init(&vertical, in_h, out_h) != 0) goto done;
    if (need_horizontal && axis_init(&horizontal, in_w, out_w) != 0) goto done;

    if (!need_horizontal) {
        resample_columns(in, in_w, out, out_h, &vertical);
    } else if (!need_vertical) {
        resample_rows(in, in_w, 0, in_h, out, out_w, &horizontal);
    } else if (vertical_first(in_w, in_h, out_w, out_h)) {
        temp = malloc((size_t)in_w * (size_t)out_h * 3u);
        if (temp == NULL) goto done;
        resample_columns(in, in_w, temp, out_h, &vertical);
        resample_rows(temp, in_w, 0, out_h, out, out_w, &horizontal);
    } else {
        /* Only rows [first_row, last_row) feed the vertical pass. */
        int first_row = vertical.first[0];
        int last_row = vertical.first[out_h - 1] + vertical.count[out_h - 1];
        for (int y = 0; y < out_h; y++) vertical.first[y] -= first_row;
        temp = malloc((size_t)out_w * (size_t)(last_row - first_row) * 3u);
        if (temp == NULL) goto done;
        resample_rows(in, in_w, first_row, last_row - first_row, temp, out_w, &horizontal);
        resample_columns(temp, out_w, out, out_h, &vertical);
    }
    status = 0;
done:
    free(temp);
    axis_free(&horizontal);
    axis_free(&vertical);
    return status;
}
