/*
 * Gray8 / RGB8 -> baseline JPEG in memory with libjpeg(-turbo) at a given quality: the real
 * codec, so the benchmark's jpeg_compression corruption carries libjpeg's blocking and ringing.
 * libjpeg reports errors by longjmp; the only setjmp is in encode_jpeg_inner.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "codec_internal.h"

typedef struct {
    struct jpeg_error_mgr base; /* first member: libjpeg hands us a pointer to it */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_encode_error;

static void jpeg_encode_fail(j_common_ptr cinfo) {
    jpeg_encode_error *ctx = (jpeg_encode_error *)cinfo->err;
    cinfo->err->format_message(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

static void jpeg_encode_silent(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

static int encode_jpeg_inner(struct jpeg_compress_struct *cinfo, jpeg_encode_error *ctx,
                             const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                             int quality, unsigned char **bytes, unsigned long *length) {
    if (setjmp(ctx->jump)) return RADA_IMAGE_CORRUPT;
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, bytes, length);
    cinfo->image_width = width;
    cinfo->image_height = height;
    cinfo->input_components = channels;
    cinfo->in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo->next_scanline);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return RADA_IMAGE_OK;
}

int rada_encode_jpeg(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                     int quality, rada_buffer *out, char *err, size_t err_len) {
    out->bytes = NULL;
    out->length = 0;
    if (!pixels || width == 0 || height == 0 || width > 65500 || height > 65500 ||
        (channels != 1 && channels != 3) || quality < 1 || quality > 100) {
        rada_codec_set_error(err, err_len, "JPEG encoder: bad image or quality (%ux%u, %d channels, quality %d)",
                             width, height, channels, quality);
        return RADA_IMAGE_BAD_ARGUMENT;
    }
    struct jpeg_compress_struct cinfo;
    memset(&cinfo, 0, sizeof cinfo);
    jpeg_encode_error ctx;
    memset(&ctx, 0, sizeof ctx);
    cinfo.err = jpeg_std_error(&ctx.base);
    ctx.base.error_exit = jpeg_encode_fail;
    ctx.base.emit_message = jpeg_encode_silent;
    /* Owned by this frame, which never calls setjmp, so a longjmp cannot clobber it. */
    unsigned char *bytes = NULL;
    unsigned long length = 0;
    int status = encode_jpeg_inner(&cinfo, &ctx, pixels, width, height, channels, quality,
                                   &bytes, &length);
    jpeg_destroy_compress(&cinfo);
    if (status != RADA_IMAGE_OK) {
        free(bytes);
        rada_codec_set_error(err, err_len, "JPEG encoder: %s", ctx.message);
        return status;
    }
    /* jpeg_mem_dest allocates with malloc, so the buffer can be handed out as is. */
    out->bytes = bytes;
    out->length = length;
    return RADA_IMAGE_OK;
}
