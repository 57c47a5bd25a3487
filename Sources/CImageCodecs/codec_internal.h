#ifndef RADA_CODEC_INTERNAL_H
#define RADA_CODEC_INTERNAL_H
/* Shared by the PNG and JPEG decoders; not part of the public header. */
#include "image_codecs.h"

/* printf-style message into a caller buffer that may be NULL or empty. */
void rada_codec_set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Records the claimed size in `out` and says whether it is within `max_pixels`; called right
 * after the header is parsed so an oversized image is refused before pixel memory exists.
 */
int rada_codec_check_size(uint32_t width, uint32_t height, uint64_t max_pixels, rada_image *out,
                          const char *format_name, char *err, size_t err_len);

/* malloc(width*height*3) with overflow checking; NULL on overflow or failure. */
uint8_t *rada_codec_alloc_rgb(uint32_t width, uint32_t height);

/* With `probe_bytes` non-NULL only the header is read: out->width/height are set, no pixels
   are decoded, and *probe_bytes receives the decode's memory bound (see rada_probe_image). */
int rada_decode_png(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                    uint64_t *probe_bytes, char *err, size_t err_len);
int rada_decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                     uint64_t *probe_bytes, char *err, size_t err_len);

#endif
