/* sha256.h - SHA-256 through OpenSSL's libcrypto (EVP_sha256), which uses
 * the x86 SHA extensions when the CPU has them: hashing a 28 MB model takes
 * about 16 ms of CPU on the project's reference machine (libmd's portable
 * code: about 110 ms).  sha256_hex() (graph.h) uses it.
 *
 * The incremental form lets a caller hash a large mapping piece by piece
 * (graph_load drops each piece of the model file from memory once hashed). */
#ifndef CAM_SHA256_H
#define CAM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *md;                   /* EVP_MD_CTX */
} sha256_ctx;

/* Starts a digest.  Returns 0, or -1 when libcrypto cannot (out of memory);
 * then c holds nothing to release. */
int  sha256_begin(sha256_ctx *c);
/* Adds buf[0..n).  Returns 0, or -1 (the digest is then unusable, but
 * sha256_end must still be called to release c). */
int  sha256_update(sha256_ctx *c, const void *buf, size_t n);
/* Writes the digest and releases c.  Returns 0, or -1 when a step failed
 * (out untouched). */
int  sha256_end(sha256_ctx *c, uint8_t out[32]);

/* The digest of buf[0..n) in one call: 0, or -1 when libcrypto fails. */
int  sha256_digest(const void *buf, size_t n, uint8_t out[32]);

#endif
