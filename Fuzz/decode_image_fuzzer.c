/*
 * libFuzzer target for the image decoders and the resampler (`make fuzz-images`).
 * Built with -fsanitize=fuzzer,address,undefined against Sources/CImageCodecs/*.c, so any
 * out-of-bounds access, leak, undefined behaviour or escaped longjmp in our code or in how we
 * drive libpng / libjpeg shows up as a crash. A decoded image is also resized, as the server
 * would, to exercise the resampler on arbitrary sizes.
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
    int status = rada_decode_image(data, size, fuzz_max_pixels, &image, message, sizeof message);
    if (memchr(message, 0, sizeof message) == NULL) abort(); /* message must be terminated */
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
        free(resized);
    }
    rada_image_free(&image);
    return 0;
}
