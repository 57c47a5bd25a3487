#ifndef RADA_IMAGE_CODECS_H
#define RADA_IMAGE_CODECS_H
#include <stddef.h>
#include <stdint.h>
/* Placeholder; the decoders land with the image issue. */
int rada_image_codecs_version(void);
#endif
