#ifndef RADA_CZLIB_H
#define RADA_CZLIB_H
/* gzip decompression through zlib, for the benchmark's datasets (Fashion-MNIST ships .gz). */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RADA_GUNZIP_OK = 0,
    RADA_GUNZIP_CORRUPT = 1,       /* not gzip, bad checksum, or bad deflate data */
    RADA_GUNZIP_TRUNCATED = 2,     /* the data ends inside the stream */
    RADA_GUNZIP_TOO_LARGE = 3,     /* the output would exceed max_output */
    RADA_GUNZIP_OUT_OF_MEMORY = 4,
} rada_gunzip_status;

/*
 * Inflates a gzip file (one or more concatenated members) held in memory. On success *output
 * is malloc'd (free it with free()) and *output_length is set; on failure *output is NULL and
 * `err` (if not NULL) holds a message. Refuses to produce more than `max_output` bytes.
 */
int rada_gunzip(const uint8_t *input, size_t input_length, size_t max_output, uint8_t **output,
                size_t *output_length, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
