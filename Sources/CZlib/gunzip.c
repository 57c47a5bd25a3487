#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "czlib.h"

static void set_error(char *err, size_t err_len, const char *message, const char *detail) {
    if (!err || err_len == 0) return;
    snprintf(err, err_len, "%s%s%s", message, detail ? ": " : "", detail ? detail : "");
}

int rada_gunzip(const uint8_t *input, size_t input_length, size_t max_output, uint8_t **output,
                size_t *output_length, char *err, size_t err_len) {
    *output = NULL;
    *output_length = 0;
    if (input_length < 18 || input[0] != 0x1f || input[1] != 0x8b) {
        set_error(err, err_len, "not a gzip file (no 1f 8b magic bytes)", NULL);
        return RADA_GUNZIP_CORRUPT;
    }
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    /* 16 + MAX_WBITS: expect the gzip wrapper and check its CRC-32 and length. */
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        set_error(err, err_len, "zlib could not start", stream.msg);
        return RADA_GUNZIP_OUT_OF_MEMORY;
    }
    if (max_output == 0) {
        set_error(err, err_len, "the decompressed data exceeds the size limit", NULL);
        return RADA_GUNZIP_TOO_LARGE;
    }
    size_t capacity = input_length < SIZE_MAX / 4 ? input_length * 4 : SIZE_MAX;
    if (capacity < 64) capacity = 64;
    if (capacity > max_output) capacity = max_output;
    uint8_t *buffer = malloc(capacity);
    if (!buffer) {
        inflateEnd(&stream);
        set_error(err, err_len, "out of memory", NULL);
        return RADA_GUNZIP_OUT_OF_MEMORY;
    }
    size_t produced = 0;
    const uint8_t *next = input;
    size_t remaining = input_length;
    int status = RADA_GUNZIP_OK;
    for (;;) {
        if (produced == capacity) {
            if (capacity >= max_output) {
                set_error(err, err_len, "the decompressed data exceeds the size limit", NULL);
                status = RADA_GUNZIP_TOO_LARGE;
                break;
            }
            size_t grown_capacity = capacity * 2 < max_output ? capacity * 2 : max_output;
            uint8_t *grown = realloc(buffer, grown_capacity);
            if (!grown) {
                set_error(err, err_len, "out of memory", NULL);
                status = RADA_GUNZIP_OUT_OF_MEMORY;
                break;
            }
            buffer = grown;
            capacity = grown_capacity;
        }
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        uInt in_chunk = remaining > (1u << 30) ? (1u << 30) : (uInt)remaining;
        size_t out_room = capacity - produced;
        uInt out_chunk = out_room > (1u << 30) ? (1u << 30) : (uInt)out_room;
        stream.next_in = (Bytef *)next;
        stream.avail_in = in_chunk;
        stream.next_out = buffer + produced;
        stream.avail_out = out_chunk;
        int rc = inflate(&stream, Z_NO_FLUSH);
        size_t consumed = in_chunk - stream.avail_in;
        next += consumed;
        remaining -= consumed;
        produced += out_chunk - stream.avail_out;
        if (rc == Z_STREAM_END) {
            /* Another member may follow (gzip allows concatenation). */
            if (remaining == 0) break;
            if (remaining < 2 || next[0] != 0x1f || next[1] != 0x8b) break; /* trailing garbage: ignored, as gzip(1) warns and ignores */
            inflateReset(&stream);
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR) {
            if (stream.avail_out == 0) continue; /* needs room: grow */
            set_error(err, err_len, "truncated gzip data (the file ends inside the stream)", NULL);
            status = RADA_GUNZIP_TRUNCATED;
            break;
        }
        if (rc == Z_MEM_ERROR) {
            set_error(err, err_len, "out of memory", NULL);
            status = RADA_GUNZIP_OUT_OF_MEMORY;
            break;
        }
        set_error(err, err_len, "corrupt gzip data", stream.msg);
        status = RADA_GUNZIP_CORRUPT;
        break;
    }
    inflateEnd(&stream);
    if (status != RADA_GUNZIP_OK) {
        free(buffer);
        return status;
    }
    *output = buffer;
    *output_length = produced;
    return RADA_GUNZIP_OK;
}
