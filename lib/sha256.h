/* sha256.h - SHA-256 of a buffer, with the x86 SHA extensions when the CPU
 * has them (about 5x faster than the portable code: hashing a 28 MB model
 * would otherwise dominate its load time) and libmd otherwise.
 * sha256_hex() (graph.h) uses it. */
#ifndef CAM_SHA256_H
#define CAM_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* The digest of buf[0..n) by the fastest implementation available. */
void sha256_digest(const void *buf, size_t n, uint8_t out[32]);

/* The portable implementation (libmd). */
void sha256_digest_portable(const void *buf, size_t n, uint8_t out[32]);

/* The SHA-NI implementation; returns -1 (out untouched) when the CPU or
 * the build does not have it. */
int sha256_digest_shani(const void *buf, size_t n, uint8_t out[32]);

#endif
