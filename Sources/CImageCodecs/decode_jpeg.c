/*
 * JPEG -> RGB8 with libjpeg(-turbo), reproducing Pillow's open + convert("RGB"):
 *  - gray replicated to three channels; YCbCr converted by libjpeg (islow IDCT, fancy
 *    upsampling: libjpeg's defaults, which Pillow keeps);
 *  - 4-component (CMYK or YCCK) images: Pillow always reads them as Adobe-inverted CMYK
 *    ("CMYK;I", with or without an Adobe marker) and converts with
 *    R = (255-K) - round((C)(255-K)/255), C and K being the inverted stored values.
 * A truncated file is an error (libjpeg would pad it with grey and warn); other warnings are
 * ignored, as Pillow ignores them. All longjmps land in decode_jpeg_inner.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "codec_internal.h"

/* A progressive JPEG may carry any number of scans; cap them so a hostile file cannot keep
   the decoder busy for minutes (real encoders write well under 100). */
enum { max_jpeg_scans = 1000 };

typedef struct {
    struct jpeg_error_mgr base; /* first member: libjpeg hands us a pointer to it */
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 32];
} jpeg_error_context;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_error_context *ctx = (jpeg_error_context *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    ctx->base.format_message(cinfo, text);
    snprintf(ctx->message, sizeof ctx->message, "%s", text);
    longjmp(ctx->jump, 1);
}

static void jpeg_emit(j_common_ptr cinfo, int level) {
    /* level -1 is a warning; running out of data is the only one we treat as fatal. */
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_error_context *ctx = (jpeg_error_context *)cinfo->err;
        snprintf(ctx->message, sizeof ctx->message,
                 "truncated file: the data ends before the image does");
        longjmp(ctx->jump, 1);
    }
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->input_scan_number > max_jpeg_scans) {
        jpeg_error_context *ctx = (jpeg_error_context *)cinfo->err;
        snprintf(ctx->message, sizeof ctx->message, "more than %d scans", max_jpeg_scans);
        longjmp(ctx->jump, 1);
    }
}

static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128u;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_row_to_rgb(const uint8_t *row, uint32_t width, uint8_t *rgb) {
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *p = row + 4 * (size_t)x;
        unsigned not_k = p[3]; /* stored K is inverted: 255 - K */
        for (int c = 0; c < 3; c++) {
            unsigned ink = 255u - p[c];
            rgb[3 * x + c] = (uint8_t)(not_k - muldiv255(ink, not_k));
        }
    }
}

/*
 * Upper bound of the heap a decode of this header takes, output included: the RGB pixels and
 * our one-row scratch; for progressive / multi-scan files libjpeg's whole-image coefficient
 * buffer (64 two-byte coefficients per 8x8 block per component, every component counted at
 * full resolution, block rows rounded up to a vertical sampling factor of at most 4, so 8 block
 * rows of margin); libjpeg's strip buffers (main buffer with context rows: up to 4 x (8 + 2)
 * rows per component at sampling factor 4; upsampling and colour conversion rows; 96 rows of
 * every component covers them); and a fixed allowance for its tables.
 */
static uint64_t jpeg_decode_bytes(const struct jpeg_decompress_struct *cinfo) {
    uint64_t w = cinfo->image_width, h = cinfo->image_height;
    uint64_t components = (uint64_t)cinfo->num_components;
    uint64_t bytes = 3u * w * h + 4u * w + 96u * (w + 64u) * components + (1u << 20);
    if (jpeg_has_multiple_scans((j_decompress_ptr)cinfo))
        bytes += components * (w / 8u + 2u) * (h / 8u + 8u) * 128u;
    return bytes;
}

static int decode_jpeg_inner(struct jpeg_decompress_struct *cinfo, jpeg_error_context *ctx,
                             const uint8_t *data, size_t len, uint64_t max_pixels,
                             rada_image *out, uint64_t *probe_bytes, char *err, size_t err_len) {
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile scratch = NULL;
    if (setjmp(ctx->jump)) {
        free(pixels);
        free(scratch);
        rada_codec_set_error(err, err_len, "corrupt JPEG: %s", ctx->message);
        return RADA_IMAGE_CORRUPT;
    }
    jpeg_create_decompress(cinfo);
    ctx->progress.progress_monitor = jpeg_progress;
    cinfo->progress = &ctx->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)len);
    jpeg_read_header(cinfo, TRUE);

    int status = rada_codec_check_size(cinfo->image_width, cinfo->image_height, max_pixels, out,
                                       "JPEG", err, err_len);
    if (status != RADA_IMAGE_OK) return status;
    if (probe_bytes != NULL) {
        *probe_bytes = jpeg_decode_bytes(cinfo);
        return RADA_IMAGE_OK;
    }

    switch (cinfo->num_components) {
    case 1: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo->out_color_space = JCS_RGB; break;
    case 4: cinfo->out_color_space = JCS_CMYK; break;
    default:
        snprintf(ctx->message, sizeof ctx->message, "%d colour components (1, 3 or 4 supported)",
                 cinfo->num_components);
        longjmp(ctx->jump, 1);
    }
    jpeg_start_decompress(cinfo);

    uint32_t width = cinfo->output_width, height = cinfo->output_height;
    int components = cinfo->output_components;
    pixels = rada_codec_alloc_rgb(width, height);
    scratch = malloc((size_t)width * (size_t)components);
    if (pixels == NULL || scratch == NULL) {
        free(pixels);
        free(scratch);
        rada_codec_set_error(err, err_len, "out of memory for a %ux%u JPEG", width, height);
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    while (cinfo->output_scanline < height) {
        uint8_t *rgb = pixels + (size_t)cinfo->output_scanline * width * 3u;
        JSAMPROW row = components == 3 ? rgb : scratch;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
            snprintf(ctx->message, sizeof ctx->message, "decoder stalled at row %u",
                     cinfo->output_scanline);
            longjmp(ctx->jump, 1);
        }
        if (components == 1) {
            for (uint32_t x = 0; x < width; x++) rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = scratch[x];
        } else if (components == 4) {
            cmyk_row_to_rgb(scratch, width, rgb);
        }
    }
    /* Pixels are complete; like Pillow, do not insist on reading up to EOI. */
    free(scratch);
    out->pixels = pixels;
    return RADA_IMAGE_OK;
}

int rada_decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                     uint64_t *probe_bytes, char *err, size_t err_len) {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context ctx;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&ctx, 0, sizeof ctx);
    cinfo.err = jpeg_std_error(&ctx.base);
    ctx.base.error_exit = jpeg_fail;
    ctx.base.emit_message = jpeg_emit;
    ctx.base.output_message = jpeg_silent;
    int status = decode_jpeg_inner(&cinfo, &ctx, data, len, max_pixels, out, probe_bytes, err, err_len);
    jpeg_destroy_decompress(&cinfo);
    return status;
}
