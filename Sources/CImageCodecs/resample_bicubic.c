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
 * Only a window of the resized image is ever computed (rada_resize_crop_bicubic_rgb8): every
 * resized pixel depends only on its own position's weights, so computing just the centre crop
 * gives the same bytes as resizing the whole image and cropping, while memory and time depend
 * on the crop and the input, never on the (possibly enormous) resized size. A 16,000,000 x 1
 * image "resized" to 3,584,000,000 x 224 costs a 224 x 224 output and a few input rows.
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

/* Per output position of a window [o0, o0 + n) of an axis resized to `full` positions: first
   input index, tap count, and `taps` fixed-point weights. */
typedef struct {
    int taps;         /* weights stored per output position */
    int64_t *first;   /* n */
    int *count;       /* n */
    int32_t *weights; /* n * taps */
} resample_axis;

static void axis_free(resample_axis *axis) {
    free(axis->first);
    free(axis->count);
    free(axis->weights);
    axis->first = NULL;
    axis->count = NULL;
    axis->weights = NULL;
}

/* Taps per output position when `in_size` positions become `full`. */
static int axis_taps(int64_t in_size, int64_t full) {
    double scale = (double)in_size / (double)full;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    return (int)ceil(2.0 * filter_scale) * 2 + 1;
}

/* The input window [lo, hi) output position `o` reads (Pillow's precompute_coeffs bounds). */
static void axis_bounds(int64_t in_size, int64_t full, int64_t o, int64_t *lo, int64_t *hi) {
    double scale = (double)in_size / (double)full;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filter_scale;
    double center = ((double)o + 0.5) * scale;
    int64_t l = (int64_t)(center - support + 0.5);
    int64_t h = (int64_t)(center + support + 0.5);
    *lo = l < 0 ? 0 : l;
    *hi = h > in_size ? in_size : h;
}

static uint64_t axis_bytes(int taps, int n) {
    return (uint64_t)n * (sizeof(int64_t) + sizeof(int) + sizeof(int32_t) * (uint64_t)taps) +
           sizeof(double) * (uint64_t)taps;
}

/* An axis that does not change size: output o is input o (weight exactly 1.0, which the
   fixed-point sum reproduces bit for bit). */
static int axis_identity(resample_axis *axis, int64_t o0, int n) {
    axis->taps = 1;
    axis->first = malloc(sizeof(int64_t) * (size_t)n);
    axis->count = malloc(sizeof(int) * (size_t)n);
    axis->weights = malloc(sizeof(int32_t) * (size_t)n);
    if (!axis->first || !axis->count || !axis->weights) {
        axis_free(axis);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        axis->first[i] = o0 + i;
        axis->count[i] = 1;
        axis->weights[i] = (int32_t)1 << precision_bits;
    }
    return 0;
}

static int axis_init(resample_axis *axis, int64_t in_size, int64_t full, int64_t o0, int n) {
    double scale = (double)in_size / (double)full;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double inverse_scale = 1.0 / filter_scale; /* multiply by it, as Pillow does: not divide */
    axis->taps = axis_taps(in_size, full);
    axis->first = malloc(sizeof(int64_t) * (size_t)n);
    axis->count = malloc(sizeof(int) * (size_t)n);
    axis->weights = malloc(sizeof(int32_t) * (size_t)n * (size_t)axis->taps);
    double *w = malloc(sizeof(double) * (size_t)axis->taps);
    if (!axis->first || !axis->count || !axis->weights || !w) {
        free(w);
        axis_free(axis);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int64_t o = o0 + i;
        double center = ((double)o + 0.5) * scale;
        int64_t lo, hi;
        axis_bounds(in_size, full, o, &lo, &hi);
        int64_t span = hi - lo;
        int count = span < 0 ? 0 : span > axis->taps ? axis->taps : (int)span; /* guards w[] */
        double total = 0.0;
        for (int k = 0; k < count; k++) {
            w[k] = bicubic_kernel(((double)(k + lo) - center + 0.5) * inverse_scale);
            total += w[k];
        }
        int32_t *fixed = axis->weights + (size_t)i * (size_t)axis->taps;
        for (int k = 0; k < axis->taps; k++) {
            double v = k < count ? (total != 0.0 ? w[k] / total : w[k]) : 0.0;
            double scaled = v * (double)(1 << precision_bits);
            fixed[k] = (int32_t)(v < 0 ? scaled - 0.5 : scaled + 0.5);
        }
        axis->first[i] = lo;
        axis->count[i] = count;
    }
    free(w);
    return 0;
}

static inline uint8_t clamp_fixed(int64_t sum) {
    int64_t v = sum >> precision_bits; /* arithmetic shift: floor */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* out[y][x] = sum_i in[y][first[x] - col_offset + i] * w[x][i] for y < rows, x < out_w;
   `in` rows are `in_w` pixels apart. */
static void resample_rows(const uint8_t *in, int64_t in_w, int64_t col_offset, int64_t rows,
                          uint8_t *out, int out_w, const resample_axis *axis) {
    const int64_t half = (int64_t)1 << (precision_bits - 1);
    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *src = in + (size_t)y * (size_t)in_w * 3u;
        uint8_t *dst = out + (size_t)y * (size_t)out_w * 3u;
        for (int x = 0; x < out_w; x++) {
            const int32_t *w = axis->weights + (size_t)x * (size_t)axis->taps;
            const uint8_t *p = src + (size_t)(axis->first[x] - col_offset) * 3u;
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

/* out[y][x] = sum_i in[first[y] - row_offset + i][col_offset + x] * w[y][i] for y < out_h,
   x < cols; `in` rows are `in_w` pixels apart, `out` rows `cols` pixels. */
static void resample_columns(const uint8_t *in, int64_t in_w, int64_t row_offset, int64_t col_offset,
                             int64_t cols, uint8_t *out, int out_h, const resample_axis *axis) {
    const int64_t half = (int64_t)1 << (precision_bits - 1);
    size_t in_stride = (size_t)in_w * 3u, out_stride = (size_t)cols * 3u;
    for (int y = 0; y < out_h; y++) {
        const int32_t *w = axis->weights + (size_t)y * (size_t)axis->taps;
        const uint8_t *top = in + (size_t)(axis->first[y] - row_offset) * in_stride + (size_t)col_offset * 3u;
        uint8_t *dst = out + (size_t)y * out_stride;
        for (size_t c = 0; c < out_stride; c++) {
            int64_t s = half;
            for (int i = 0; i < axis->count[y]; i++) s += (int64_t)top[(size_t)i * in_stride + c] * w[i];
            dst[c] = clamp_fixed(s);
        }
    }
}

/* Whether Pillow 13 runs the vertical pass first (see the comment at the top). */
static int vertical_first(int64_t in_w, int64_t in_h, int64_t out_w, int64_t out_h) {
    return out_h < in_h && in_h - out_h > 2 * (in_w - out_w);
}

/* Everything about one crop-resize that does not need the pixels. */
typedef struct {
    int need_horizontal, need_vertical, vertical_first;
    int64_t span_first, span_count; /* input rows (horizontal first) or columns (vertical first) read */
    uint64_t workspace;             /* bytes malloc'd besides in and out */
} crop_plan;

static int plan_crop(int in_w, int in_h, int64_t full_w, int64_t full_h, int64_t crop_x,
                     int64_t crop_y, int crop_w, int crop_h, crop_plan *plan) {
    if (in_w <= 0 || in_h <= 0 || full_w <= 0 || full_h <= 0 || crop_w <= 0 || crop_h <= 0)
        return -1;
    if (full_w > ((int64_t)1 << 52) || full_h > ((int64_t)1 << 52)) return -1; /* exact in double */
    if (crop_x < 0 || crop_y < 0 || crop_x > full_w - crop_w || crop_y > full_h - crop_h) return -1;
    memset(plan, 0, sizeof *plan);
    plan->need_horizontal = full_w != in_w;
    plan->need_vertical = full_h != in_h;
    plan->vertical_first = vertical_first(in_w, in_h, full_w, full_h);
    uint64_t bytes = 0;
    int h_taps = plan->need_horizontal ? axis_taps(in_w, full_w) : 1;
    int v_taps = plan->need_vertical ? axis_taps(in_h, full_h) : 1;
    bytes += axis_bytes(h_taps, crop_w) + axis_bytes(v_taps, crop_h);
    int64_t lo, hi, lo2, hi2;
    /* The two branches mirror each other (columns vs rows); kept apart so each reads as the pass
       order it plans, with its own byte count. */
    if (plan->vertical_first) {
        /* Vertical pass over just the columns the horizontal window reads. */
        if (plan->need_horizontal) {
            axis_bounds(in_w, full_w, crop_x, &lo, &hi);
            axis_bounds(in_w, full_w, crop_x + crop_w - 1, &lo2, &hi2);
        } else {
            lo = crop_x;
            hi2 = crop_x + crop_w;
        }
        plan->span_first = lo;
        plan->span_count = hi2 - lo;
        bytes += (uint64_t)plan->span_count * (uint64_t)crop_h * 3u;
    } else {
        /* Horizontal pass over just the rows the vertical window reads. */
        if (plan->need_vertical) {
            axis_bounds(in_h, full_h, crop_y, &lo, &hi);
            axis_bounds(in_h, full_h, crop_y + crop_h - 1, &lo2, &hi2);
        } else {
            lo = crop_y;
            hi2 = crop_y + crop_h;
        }
        plan->span_first = lo;
        plan->span_count = hi2 - lo;
        bytes += (uint64_t)crop_w * (uint64_t)plan->span_count * 3u;
    }
    if (plan->span_count <= 0) return -1;
    plan->workspace = bytes;
    return 0;
}

int64_t rada_resize_crop_workspace(int in_w, int in_h, int64_t full_w, int64_t full_h,
                                   int64_t crop_x, int64_t crop_y, int crop_w, int crop_h) {
    crop_plan plan;
    if (plan_crop(in_w, in_h, full_w, full_h, crop_x, crop_y, crop_w, crop_h, &plan) != 0) return -1;
    return plan.workspace > (uint64_t)INT64_MAX ? -1 : (int64_t)plan.workspace;
}

int rada_resize_crop_bicubic_rgb8(const uint8_t *in, int in_w, int in_h, int64_t full_w,
                                  int64_t full_h, int64_t crop_x, int64_t crop_y, int crop_w,
                                  int crop_h, uint8_t *out) {
    crop_plan plan;
    if (in == NULL || out == NULL ||
        plan_crop(in_w, in_h, full_w, full_h, crop_x, crop_y, crop_w, crop_h, &plan) != 0)
        return -1;
    int status = -1;
    resample_axis vertical = {0}, horizontal = {0};
    uint8_t *temp = NULL;
    if (!plan.need_horizontal && !plan.need_vertical) {
        for (int y = 0; y < crop_h; y++)
            memcpy(out + (size_t)y * (size_t)crop_w * 3u,
                   in + ((size_t)(crop_y + y) * (size_t)in_w + (size_t)crop_x) * 3u, (size_t)crop_w * 3u);
        return 0;
    }
    if ((plan.need_vertical ? axis_init(&vertical, in_h, full_h, crop_y, crop_h)
                            : axis_identity(&vertical, crop_y, crop_h)) != 0)
        goto done;
    if ((plan.need_horizontal ? axis_init(&horizontal, in_w, full_w, crop_x, crop_w)
                              : axis_identity(&horizontal, crop_x, crop_w)) != 0)
        goto done;
    if (plan.vertical_first) {
        temp = malloc((size_t)plan.span_count * (size_t)crop_h * 3u);
        if (temp == NULL) goto done;
        resample_columns(in, in_w, 0, plan.span_first, plan.span_count, temp, crop_h, &vertical);
        resample_rows(temp, plan.span_count, plan.span_first, crop_h, out, crop_w, &horizontal);
    } else {
        temp = malloc((size_t)crop_w * (size_t)plan.span_count * 3u);
        if (temp == NULL) goto done;
        resample_rows(in + (size_t)plan.span_first * (size_t)in_w * 3u, in_w, 0, plan.span_count,
                      temp, crop_w, &horizontal);
        resample_columns(temp, crop_w, plan.span_first, 0, crop_w, out, crop_h, &vertical);
    }
    status = 0;
done:
    free(temp);
    axis_free(&horizontal);
    axis_free(&vertical);
    return status;
}

int rada_resize_bicubic_rgb8(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w,
                             int out_h) {
    return rada_resize_crop_bicubic_rgb8(in, in_w, in_h, out_w, out_h, 0, 0, out_w, out_h, out);
}
