#ifndef RADA_BASE64_H
#define RADA_BASE64_H
/*
 * Standard base64 (RFC 4648 alphabet, '=' padding) decoded with AVX2 where the CPU has it.
 * Only the canonical form is decoded: a length that is a multiple of 4, padding only as the
 * last one or two characters, zero bits after the last byte. Anything else, and any CPU without
 * AVX2, returns RADA_BASE64_DECLINED: the caller then asks a general decoder, which decides
 * (so this one never accepts what the general one would refuse).
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RADA_BASE64_DECLINED (-1L)

/* Bytes `out` must hold for `length` characters: the decoded size plus room for the last
 * 32-byte vector store. */
size_t rada_base64_capacity(size_t length);

/* Decodes `length` characters at `in` into `out` (at least rada_base64_capacity(length) bytes);
 * returns the decoded size, or RADA_BASE64_DECLINED. */
long rada_base64_decode(const uint8_t *in, size_t length, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
