/*
 * Gray8 / RGB8 -> PNG in memory with libpng. libpng reports errors by longjmp; the only setjmp
 * is in encode_png_inner, so the caller sees a status code and a message.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "codec_internal.h"

typedef struct {
    rada_buffer buffer;
    size_t capacity;
    int out_of_memory;
    char message[256];
} png_writer;

/* libpng's callbacks for writing; decode_png.c has their reading twins, which carry a
   different state (a cursor over the input, not a growing buffer), so each file keeps its own. */
static void png_write_fail(png_structp png, png_const_charp message) {
    png_writer *writer = png_get_error_ptr(png);
    snprintf(writer->message, sizeof writer->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_write_warn(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void png_write_memory(png_structp png, png_bytep data, size_t count) {
    png_writer *writer = png_get_io_ptr(png);
    size_t needed = writer->buffer.length + count;
    if (needed > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 1024;
        while (capacity < needed) capacity *= 2;
        uint8_t *grown = realloc(writer->buffer.bytes, capacity);
        if (!grown) {
            writer->out_of_memory = 1;
            png_error(png, "out of memory while writing the PNG");
        }
        writer->buffer.bytes = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->buffer.bytes + writer->buffer.length, data, count);
    writer->buffer.length = needed;
}

static void png_flush_memory(png_structp png) { (void)png; }

static int encode_png_inner(png_structp png, png_infop info, png_writer *writer,
                            const uint8_t *pixels, uint32_t width, uint32_t height, int channels) {
    if (setjmp(png_jmpbuf(png))) return writer->out_of_memory ? RADA_IMAGE_OUT_OF_MEMORY : RADA_IMAGE_CORRUPT;
    png_set_write_fn(png, writer, png_write_memory, png_flush_memory);
    /* Any size PNG allows (libpng's default stops writing at 1,000,000 a side). */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_IHDR(png, info, width, height, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) png_write_row(png, pixels + stride * y);
    png_write_end(png, NULL);
    return RADA_IMAGE_OK;
}

void rada_buffer_free(rada_buffer *buffer) {
    if (!buffer) return;
    free(buffer->bytes);
    buffer->bytes = NULL;
    buffer->length = 0;
}

int rada_encode_png(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    rada_buffer *out, char *err, size_t err_len) {
    out->bytes = NULL;
    out->length = 0;
    if (!pixels || width == 0 || height == 0 || (channels != 1 && channels != 3)) {
        rada_codec_set_error(err, err_len, "PNG encoder: bad image (%ux%u, %d channels)", width, height, channels);
        return RADA_IMAGE_BAD_ARGUMENT;
    }
    png_writer writer = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, png_write_fail, png_write_warn);
    if (!png) {
        rada_codec_set_error(err, err_len, "PNG encoder: out of memory");
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        rada_codec_set_error(err, err_len, "PNG encoder: out of memory");
        return RADA_IMAGE_OUT_OF_MEMORY;
    }
    int status = encode_png_inner(png, info, &writer, pixels, width, height, channels);
    png_destroy_write_struct(&png, &info);
    if (status != RADA_IMAGE_OK) {
        rada_buffer_free(&writer.buffer);
        rada_codec_set_error(err, err_len, "PNG encoder: %s", writer.message);
        return status;
    }
    *out = writer.buffer;
    return RADA_IMAGE_OK;
}
