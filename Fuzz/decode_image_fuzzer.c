/*
 * libFuzzer target for the image decoders and the resampler (`make fuzz-images`).
 * Built with -fsanitize=fuzzer,address,undefined against Sources/CImageCodecs/*.c, so any
 * out-of-bounds access, leak, undefined behaviour or escaped longjmp in our code or in how we
 * drive libpng / libjpeg shows up as a crash. A decoded image is also resized, as the server
 * would, to exercise the resampler on arbitrary sizes. The header probe must agree with the
 * decode (same status and size; its memory bound at least the decoded pixels), and the
 * crop-only resize must give exactly the bytes of the same window of the whole resize.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_codecs.h"

/* Large enough for real fixtures, small enough to keep each run fast. */
enum { fuzz_max_pixels = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rada_image image;
    char message[256];
    rada_image_info info;
    int probed = rada_probe_image(data, size, fuzz_max_pixels, &info, message, sizeof message);
    if (memchr(message, 0, sizeof message) == NULL) abort();
    int status = rada_decode_image(data, size, fuzz_max_pixels, &image, message, sizeof message);
    if (memchr(message, 0, sizeof message) == NULL) abort(); /* message must be terminated */
    /* A header that probes fine may still hold corrupt pixels; the reverse must not happen. */
    if (status == RADA_IMAGE_OK && (probed != RADA_IMAGE_OK || info.width != image.width ||
                                    info.height != image.height ||
                                    info.decode_bytes < (uint64_t)image.width * image.height * 3u))
        abort();
    if (status != RADA_IMAGE_OK) {
        if (image.pixels != NULL) abort(); /* failures must not hand out pixels */
        return 0;
    }
    if (image.width == 0 || image.height == 0 || (uint64_t)image.width * image.height > fuzz_max_pixels)
        abort();
    /* Touch every byte so a short allocation would be caught by ASan. */
    volatile unsigned sum = 0;
    for (size_t i = 0; i < (size_t)image.width * image.height * 3u; i++) sum += image.pixels[i];
    int out_w = 1 + (int)(image.width * 7 / 10), out_h = 1 + (int)(image.height * 13 / 10 % 97);
    uint8_t *resized = malloc((size_t)out_w * (size_t)out_h * 3u);
    if (resized != NULL) {
        if (rada_resize_bicubic_rgb8(image.pixels, (int)image.width, (int)image.height, resized,
                                     out_w, out_h) != 0)
            abort();
        int crop_x = out_w / 3, crop_y = out_h / 4;
        int crop_w = out_w - crop_x - out_w / 5, crop_h = out_h - crop_y - out_h / 7;
        if (crop_w > 0 && crop_h > 0) {
            uint8_t *crop = malloc((size_t)crop_w * (size_t)crop_h * 3u);
            if (crop != NULL) {
                if (rada_resize_crop_bicubic_rgb8(image.pixels, (int)image.width, (int)image.height, out_w,
                                                  out_h, crop_x, crop_y, crop_w, crop_h, crop) != 0)
                    abort();
                for (int y = 0; y < crop_h; y++)
                    if (memcmp(crop + (size_t)y * crop_w * 3u,
                               resized + ((size_t)(crop_y + y) * out_w + crop_x) * 3u, (size_t)crop_w * 3u) != 0)
                        abort();
                free(crop);
            }
        }
        free(resized);
    }
    rada_image_free(&image);
    return 0;
}
