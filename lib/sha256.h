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

/* The digest cache: a file's sha256 remembered under its identity, as
 * git's index does it: device, inode, size, modification and status-change
 * times (nanoseconds).  Any write to the file, a rename over it or a touch
 * changes that identity, so a stale entry is never used.  One small entry
 * per file (<dir>/sha256-<dev>-<ino>), written to a temporary name and
 * renamed, checked field by field when read (owner, size, format); at most
 * SHA256_CACHE_MAX entries, the least recently written removed first.
 * Files whose times are less than two seconds old are not remembered (a
 * write in the same timestamp tick would not change them).
 *
 * The directory: $CAM_CACHE_DIR, else $XDG_CACHE_HOME/cam, else
 * $HOME/.cache/cam.  CAM_NO_CACHE set to anything but "" or "0" turns the
 * cache off.  Failures are silent: the caller then hashes the file. */
#define SHA256_CACHE_MAX 256
/* The cache directory (malloc'd), or NULL when the cache is off
 * (CAM_NO_CACHE) or no place is known. */
char *cache_dir(void);
/* mkdir -p of dir, mode 0700 for what it creates: 0, or -1. */
int   cache_dir_make(char *dir);
/* Removes the least recently modified regular files of dir whose names
 * start with prefix (and hold no '.': temporaries) until at most max_files
 * remain and, max_bytes > 0, their sizes sum to at most max_bytes; the
 * file named keep (NULL: none) stays. */
void  cache_dir_prune(const char *dir, const char *prefix, size_t max_files, uint64_t max_bytes,
                      const char *keep);
struct stat;
/* The digest remembered for the file whose fstat is st: 0 and hex filled
 * (64 lowercase hex digits and a NUL), or -1 (no valid entry, no cache). */
int  sha256_cache_get(const struct stat *st, char hex[65]);
/* Remembers hex (64 lowercase hex digits) for the file whose fstat is st. */
void sha256_cache_put(const struct stat *st, const char *hex);

#endif
