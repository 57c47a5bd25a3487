#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

int rada_image_sniff_format(const uint8_t *data, size_t len) {
    if (data == NULL) return RADA_IMAGE_FORMAT_UNKNOWN;
    if (len >= sizeof png_magic && memcmp(data, png_magic, sizeof png_magic) == 0)
        return RADA_IMAGE_FORMAT_PNG;
    /* SOI followed by the first marker's 0xFF: every JPEG (JFIF, Exif, Adobe, raw) starts so. */
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return RADA_IMAGE_FORMAT_JPEG;
    return RADA_IMAGE_FORMAT_UNKNOWN;
}

void rada_codec_set_error(char *err, size_t err_len, const char *fmt, ...) {
    if (err == NULL || err_len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);
}

int rada_codec_check_size(uint32_t width, uint32_t height, uint64_t max_pixels, rada_image *out,
                          const char *format_name, char *err, size_t err_len) {
    out->width = width;
    out->height = height;
    if (width == 0 || height == 0) {
        rada_codec_set_error(err, err_len, "%s header declares an empty image (%ux%u)",
                             format_name, width, height);
        return RADA_IMAGE_CORRUPT;
    }
    uint64_t pixels = (uint64_t)width * (uint64_t)height; /* both < 2^32: no overflow */
    if (pixels > max_pixels) {
        rada_codec_set_error(err, err_len,
                             "%s is %ux%u = %llu pixels, over the limit of %llu pixels",
                             format_name, width, height, (unsigned long long)pixels,
                             (unsigned long long)max_pixels);
        return RADA_IMAGE_TOO_LARGE;
    }
    return RADA_IMAGE_OK;
}

uint8_t *rada_codec_alloc_rgb(uint32_t width, uint32_t height) {
    uint64_t bytes = (uint64_t)width * (uint64_t)height * 3u;
    if (bytes == 0 || bytes > (uint64_t)SIZE_MAX) return NULL;
    return malloc((size_t)bytes);
}

/* Shared by decoding and probing: `probe_bytes` NULL decodes, non-NULL reads the header only. */
static int decode_or_probe(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                           uint64_t *probe_bytes, char *err, size_t err_len) {
    if (out == NULL) return RADA_IMAGE_CORRUPT;
    memset(out, 0, sizeof *out);
    if (err != NULL && err_len > 0) err[0] = '\0';
    if (data == NULL || len == 0) {
        rada_codec_set_error(err, err_len, "the image data is empty (0 bytes)");
        return RADA_IMAGE_EMPTY;
    }
    int format = rada_image_sniff_format(data, len);
    out->format = format;
    switch (format) {
    case RADA_IMAGE_FORMAT_PNG:
        return rada_decode_png(data, len, max_pixels, out, probe_bytes, err, err_len);
    case RADA_IMAGE_FORMAT_JPEG:
        return rada_decode_jpeg(data, len, max_pixels, out, probe_bytes, err, err_len);
    default:
        rada_codec_set_error(err, err_len,
                             "not a PNG or JPEG (first bytes %02x %02x %02x %02x)",
                             data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0,
                             len > 3 ? data[3] : 0);
        return RADA_IMAGE_UNSUPPORTED;
    }
}

int rada_decode_image(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                      char *err, size_t err_len) {
    return decode_or_probe(data, len, max_pixels, out, NULL, err, err_len);
}

int rada_probe_image(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image_info *out,
                     char *err, size_t err_len) {
    rada_image image;
    uint64_t bytes = 0;
    int status = decode_or_probe(data, len, max_pixels, &image, &bytes, err, err_len);
    if (out != NULL) {
        out->width = image.width;
        out->height = image.height;
        out->format = image.format;
        out->decode_bytes = status == RADA_IMAGE_OK ? bytes : 0;
    }
    return status;
}

void rada_image_free(rada_image *image) {
    if (image == NULL) return;
    free(image->pixels);
    image->pixels = NULL;
}
