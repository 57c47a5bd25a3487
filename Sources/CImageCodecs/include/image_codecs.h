#ifndef RADA_IMAGE_CODECS_H
#define RADA_IMAGE_CODECS_H
/*
 * PNG / JPEG decoding to 8-bit RGB, matching what Pillow's `Image.open(f).convert("RGB")` gives,
 * and Pillow's bicubic resampling. libpng and libjpeg report errors by longjmp; every setjmp and
 * longjmp stays inside these C functions, so callers only ever see a status code and a message.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RADA_IMAGE_OK = 0,
    RADA_IMAGE_EMPTY = 1,          /* zero bytes */
    RADA_IMAGE_UNSUPPORTED = 2,    /* neither PNG nor JPEG magic bytes */
    RADA_IMAGE_TOO_LARGE = 3,      /* width*height above the caller's limit; width/height are set */
    RADA_IMAGE_CORRUPT = 4,        /* the codec rejected the data; see the message */
    RADA_IMAGE_OUT_OF_MEMORY = 5,
    RADA_IMAGE_BAD_ARGUMENT = 6,   /* encoders: zero size, bad channel count or quality */
} rada_image_status;

typedef enum {
    RADA_IMAGE_FORMAT_UNKNOWN = 0,
    RADA_IMAGE_FORMAT_PNG = 1,
    RADA_IMAGE_FORMAT_JPEG = 2,
} rada_image_format;

/* A decoded image: `pixels` holds width*height*3 bytes, RGB interleaved, row-major, malloc'd. */
typedef struct {
    uint32_t width;
    uint32_t height;
    uint8_t *pixels;
    int format; /* rada_image_format */
} rada_image;

/* The format named by the first bytes of `data`, without decoding. */
int rada_image_sniff_format(const uint8_t *data, size_t len);

/*
 * Decodes a PNG or JPEG. The header is read first and images with more than `max_pixels`
 * pixels are refused before any pixel memory is allocated (then out->width/height say how big
 * the image claimed to be). On success out->pixels must be released with rada_image_free.
 * On failure out->pixels is NULL and `err` (if not NULL) holds a NUL-terminated message.
 * Returns a rada_image_status.
 */
int rada_decode_image(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image *out,
                      char *err, size_t err_len);

/* What a header says, without decoding the pixels. */
typedef struct {
    uint32_t width;
    uint32_t height;
    int format;            /* rada_image_format */
    uint64_t decode_bytes; /* upper bound of the heap rada_decode_image takes, output included */
} rada_image_info;

/*
 * Reads only the header (libpng's info chunks / libjpeg's markers up to the first scan):
 * the size, the format, and a bound on the memory decoding would take, so that a caller can
 * budget memory before any pixel is allocated. Same statuses and size refusal as
 * rada_decode_image; out->width/height are set whenever the header was readable.
 */
int rada_probe_image(const uint8_t *data, size_t len, uint64_t max_pixels, rada_image_info *out,
                     char *err, size_t err_len);

/* Frees out->pixels and clears it; safe on a zeroed or already freed image. */
void rada_image_free(rada_image *image);

/*
 * The window [crop_x, crop_x + crop_w) x [crop_y, crop_y + crop_h) of what
 * rada_resize_bicubic_rgb8 to full_w x full_h would give, bit for bit, computed without the
 * full resized image: memory is the crop, a strip of at most crop x (input rows or columns the
 * window reads), and the weights of the window's positions. The window must lie inside
 * full_w x full_h (at most 2^52 each). `out` holds crop_w*crop_h*3 bytes.
 * Returns 0, or -1 on bad sizes / allocation failure.
 */
int rada_resize_crop_bicubic_rgb8(const uint8_t *in, int in_w, int in_h, int64_t full_w,
                                  int64_t full_h, int64_t crop_x, int64_t crop_y, int crop_w,
                                  int crop_h, uint8_t *out);

/* The bytes rada_resize_crop_bicubic_rgb8 would malloc besides `in` and `out`, or -1 for
   arguments it would refuse. Needs no pixels. */
int64_t rada_resize_crop_workspace(int in_w, int in_h, int64_t full_w, int64_t full_h,
                                   int64_t crop_x, int64_t crop_y, int crop_w, int crop_h);

/*
 * Resizes an RGB8 image exactly as Pillow's `Image.resize((out_w, out_h), Image.BICUBIC)` does
 * (separable a=-0.5 cubic, support widened by the downscale factor, 22-bit fixed point,
 * horizontal pass first, 8-bit rounding between passes). `out` holds out_w*out_h*3 bytes.
 * Returns 0, or -1 on bad sizes / allocation failure.
 */
int rada_resize_bicubic_rgb8(const uint8_t *in, int in_w, int in_h, uint8_t *out, int out_w,
                             int out_h);

/* An encoded file in memory; `bytes` is malloc'd: release it with rada_buffer_free. */
typedef struct {
    uint8_t *bytes;
    size_t length;
} rada_buffer;

/* Frees buffer->bytes and clears it; safe on a zeroed or already freed buffer. */
void rada_buffer_free(rada_buffer *buffer);

/*
 * Encodes 8-bit pixels (`channels` 1 = gray, 3 = RGB; interleaved, row-major) as a PNG
 * (no interlacing, zlib's default compression). Returns a rada_image_status; on failure
 * out->bytes is NULL and `err` holds a message. libpng's longjmps stay inside.
 */
int rada_encode_png(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    rada_buffer *out, char *err, size_t err_len);

/*
 * Encodes 8-bit pixels (`channels` 1 = gray, 3 = RGB) as a baseline JPEG at `quality`
 * (1...100, libjpeg's standard IJG quantisation tables scaled by jpeg_set_quality; 4:2:0
 * chroma subsampling for RGB, libjpeg's defaults otherwise). Returns a rada_image_status.
 */
int rada_encode_jpeg(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                     int quality, rada_buffer *out, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
