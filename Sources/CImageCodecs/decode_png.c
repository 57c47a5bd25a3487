/*
 * PNG -> RGB8 with libpng, reproducing Pillow's open + convert("RGB"):
 *  - palette (with or without tRNS), gray+alpha and RGBA: colours kept, alpha dropped, never
 *    composited;
 *  - 1/2/4-bit gray scaled to 0..255 (Pillow's "1", "L;2", "L;4" unpackers do the same);
 *  - 16-bit gray opens as "I;16" and Pillow's I;16 -> RGB conversion CLIPS the value to 255;
 *  - every other 16-bit type keeps the most significant byte (Pillow's "*;16B" unpackers).
 * libpng reports errors by longjmp. The jump target is set in decode_png_inner and every
 * callback that may jump is called from inside it, so no jump crosses a non-C frame.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
    char message[192];
} png_reader;

static void png_fail(png_structp png, png_const_charp message) {
    png_reader *reader = png_get_error_ptr(png);
    snprintf(reader->message, sizeof reader->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp message) {
    /* Warnings (bad ancillary CRCs, unknown chunks) do not stop Pillow either. */
    (void)png;
    (void)message;
}

static void png_read_memory(png_structp png, png_bytep dest, size_t count) {
    png_reader *reader = png_get_io_ptr(png);
    if (count > reader->len - reader->pos) {
        png_error(png, "truncated file: the data ends before the image does");
    }
    memcpy(dest, reader->data + reader->pos, count);
    reader->pos += count;
}

/* One decoded row (after libpng's transforms) to RGB8. */
static void png_row_to_rgb(const uint8_t *row, uint32_t width, int channels, int bit_depth,
                           uint8_t *rgb) {
    if (bit_depth == 16) { /* only 16-bit gray reaches here, see the transforms below */
        for (uint32_t x = 0; x < width; x++) {
            unsigned v = ((unsigned)row[2 * x] << 8) | row[2 * x + 1];
            uint8_t g = v > 255 ? 255 : (uint8_t)v;
            rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = g;
        }
        return;
    }
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *p = row + (size_t)x * (size_t)channels;
        if (channels <= 2) {
            rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = p[0];
        } else {
            rgb[3 * x] = p[0];
            rgb[3 * x + 1] = p[1];
            rgb[3 * x + 2] = p[2];
        }
    }
}

/*
 * Upper bound of the heap a decode of this header takes, output included: the RGB pixels; our
 * row (or, interlaced, the whole image) after libpng's transforms, `out` bytes a pixel (palette
 * with tRNS and RGBA: 4; RGB: 3; gray+alpha and 16-bit gray: 2; gray: 1; other 16-bit types
 * are stripped to 8 bits); libpng's current and previous rows, which it sizes for the wider of
 * the stored pixel and the expanded one (png_read_start_row: palette 4, sub-byte gray with
 * tRNS 2, up to 8 for 16-bit RGBA), plus 8 pixels of rounding; the row pointers of an
 * interlaced image; and a fixed allowance for libpng's structures, chunk buffers (each capped
 * at 1 MiB below, text and ICC chunks skipped) and zlib's window.
 */
static uint64_t png_decode_bytes(uint32_t width, uint32_t height, int bit_depth, int color_type,
                                 int interlace) {
    uint64_t w = width, h = height;
    uint64_t channels = color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2u
                        : color_type == PNG_COLOR_TYPE_RGB        ? 3u
                        : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4u
                                                                  : 1u; /* gray, palette */
    uint64_t stored = (channels * (uint64_t)bit_depth + 7u) / 8u;
    uint64_t out = color_type == PNG_COLOR_TYPE_PALETTE ? 4u
                   : color_type == PNG_COLOR_TYPE_GRAY   ? (bit_depth == 16 ? 2u : 1u)
                                                         : channels;
    uint64_t widest = stored > out ? stored : out;
    if (widest < 2u) widest = 2u; /* sub-byte gray with tRNS expands to 16 bits */
    uint64_t bytes = 3u * w * h + 2u * (widest * (w + 8u) + 64u) + (2u << 20);
    bytes += interlace != PNG_INTERLACE_NONE ? out * w * h + sizeof(void *) * h : out * w;
    return bytes;
}

/* Everything that can longjmp happens in here; `status` reports how it ended. */
static int decode_png_inner(png_structp png, png_infop info, png_reader *reader,
                            uint64_t max_pixels, rada_image *out, uint64_t *probe_bytes,
                            char *err, size_t err_len) {
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile scratch = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(scratch);
        free(rows);
        rada_codec_set_error(err, err_len, "corrupt PNG: %s", reader->message);
        return RADA_IMAGE_CORRUPT;
    }

    png_set_read_fn(png, reader, png_read_memory);
    /* Our own pixel limit decides what is too large; libpng's default 1e6 x 1e6 would
       turn a merely large image into a "corrupt" one. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* Text, ICC and other metadata never change the pixels we produce (no colour management,
       as Pillow's convert), yet compressed ones inflate into libpng buffers before the first
       pixel: skip them, and cap what any one kept chunk may allocate. */
    static const png_byte ignored[] = {'t', 'E', 'X', 't', 0, 'z', 'T', 'X', 't', 0, 'i', 'T', 'X', 't', 0,
                                       'i', 'C', 'C', 'P', 0, 's', 'P', 'L', 'T', 0, 'e', 'X', 'I', 'f', 0};
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored, (int)(sizeof ignored / 5));
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_chunk_malloc_max(png, 1u << 20);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    int status = rada_codec_check_size(width, height, max_pixels, out, "PNG", err, err_len);
    if (status != RADA_IMAGE_OK) return status;
    if (probe_bytes != NULL) {
        *probe_bytes = png_decode_bytes(width, height, bit_depth, color_type, interlace);
        return RADA_IMAGE_OK;
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png); /* may add alpha from tRNS; dropped per row */
    } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (bit_depth == 16 && color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (out_depth != 8 && out_depth != 16) ||
        row_bytes < (size_t)width * (size_t)channels * (size_t)(out_depth / 8)) {
        png_error(png, "unexpected pixel layout after expansion");
    }

    pixels = rada_codec_alloc_rgb(width, height);
    if (pixels == NULL) {
        rada_codec_set_error(err, err_len, "out of memory for a %ux%u PNG", width, height);
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    size_t rgb_stride = (size_t)width * 3u;
    if (passes == 1) {
        scratch = malloc(row_bytes);
        if (scratch == NULL) png_error(png, "out of memory for a row");
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, scratch, NULL);
            png_row_to_rgb(scratch, width, channels, out_depth, pixels + y * rgb_stride);
        }
    } else {
        /* Adam7 fills rows over seven passes, so the whole decoded image must be held. */
        if ((uint64_t)row_bytes * height > SIZE_MAX) png_error(png, "image too large");
        scratch = malloc(row_bytes * height);
        rows = malloc(sizeof(png_bytep) * height);
        if (scratch == NULL || rows == NULL) png_error(png, "out of memory for an interlaced image");
        for (png_uint_32 y = 0; y < height; y++) rows[y] = scratch + (size_t)y * row_bytes;
        png_read_image(png, rows);
        for (png_uint_32 y = 0; y < height; y++)
            png_row_to_rgb(rows[y], width, channels, out_depth, pixels + y * rgb_stride);
    }
    /* Like Pillow, stop once the pixels are complete: trailing chunks are not needed. */
    free(scratch);
    free(rows);
    out->pixels = pixels;
    return RADA_IMAGE_OK;
}

int rada_decode_png(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                    uint64_t *probe_bytes, char *err, size_t err_len) {
    png_reader reader = {.data = data, .len = len, .pos = 0, .message = ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_fail, png_warn);
    if (png == NULL) {
        rada_codec_set_error(err, err_len, "out of memory creating the PNG decoder");
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        rada_codec_set_error(err, err_len, "out of memory creating the PNG decoder");
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    int status = decode_png_inner(png, info, &reader, max_pixels, out, probe_bytes, err, err_len);
    png_destroy_read_struct(&png, &info, NULL);
    return status;
}
