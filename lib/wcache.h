/* wcache.h - the packed-weight cache.
 *
 * Packing a model's weights into the kernels' panels (and, for Winograd,
 * transforming its filters) reads and writes every weight once and, in a
 * new process, has the kernel hand over and zero fresh memory for all of
 * them: for ResNet-18 more time than one inference.  One process per image
 * (GNU parallel's way) would pay it for every image.  So the first process
 * that packs a model writes the packed form to a file in the cache
 * directory (sha256.h: $CAM_CACHE_DIR, $XDG_CACHE_HOME/cam or
 * ~/.cache/cam; CAM_NO_CACHE turns it off), and later ones map that file
 * read-only instead of packing: the pages are the page cache's, shared by
 * every process that maps them, and nothing is read from the model but
 * the small parameters.
 *
 * The key is a text naming everything that decides the packed form: the
 * model file's sha256, the program's build (its GNU build-id), the SIMD
 * level, the input size, the nodes run with their fused activations, the
 * outputs asked for, the thread count and the kernel choices set in the
 * environment.  The file is named after a 64-bit hash
 * of it and holds it whole: a file whose key differs is not used (and is
 * replaced).  A file is written to a temporary name, flushed and renamed;
 * read, it is checked whole before use (format, key, every piece inside
 * the file), and while the engine replays it every piece must have the
 * size its kernel asks for and every layer the fingerprint it had when
 * written (kmem_tag: shapes, folded scales and biases, quantisation), or
 * the engine packs from the model after all.
 * At most WCACHE_MAX_BYTES of such files are kept, the least recently
 * used removed first.
 *
 * Layout (native byte order; the build-id in the key ties a file to one
 * build of one machine type):
 *   0   "CAMPACK1"
 *   8   u32 version (3), u32 nnodes
 *   16  u64 npieces, u64 data offset, u64 file size
 *   40  u64 key length (at most WCACHE_MAX_KEY)
 *   48  the key, zero-padded to a multiple of 8
 *       nnodes x {u32 node, u32 cached (0/1), u32 first piece, u32 count,
 *                 u64 tag (kmem_tag's fingerprint)}
 *       npieces x {u64 offset, u64 bytes}
 *   data: each piece at a KMEM_ALIGN-aligned offset
 */
#ifndef CAM_WCACHE_H
#define CAM_WCACHE_H
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "kmem.h"

#define WCACHE_MAX_BYTES ((uint64_t)2 << 30)
#define WCACHE_MAX_NODES (1 << 20)
#define WCACHE_MAX_PIECES (1 << 24)
#define WCACHE_MAX_KEY (1 << 20)
/* No file is written that would leave less free space on its file
 * system than this, or than 1 % of the file system. */
#define WCACHE_MIN_FREE (256.0 * 1024 * 1024)
/* A writer's lock (packed-....lock) younger than this holds others off. */
#define WCACHE_LOCK_S 120

typedef struct {
    char   *text;
    size_t  len;
} wcache_key;

typedef struct {
    int      node;          /* the engine's node index */
    int      cached;        /* 1: its pieces are in the file */
    kmem_log log;           /* its pieces (read: pointing into the mapping) */
} wcache_node;

typedef struct {
    void        *map;       /* the mapped file, or the parsed buffer */
    size_t       len;
    int          nnodes;
    wcache_node *nodes;
} wcache;

/* 64-bit FNV-1a of b[0..n) continuing from h (start: WCACHE_HASH_INIT):
 * names cache files, and fingerprints layers (kmem_tag). */
#define WCACHE_HASH_INIT 0xcbf29ce484222325ull
uint64_t wcache_hash(uint64_t h, const void *b, size_t n);

/* The key of a plan described by desc[0..n): the format version, this
 * program's build-id and desc.  0, or -1 when the program has no build-id
 * or memory is short (no cache then).  wcache_key_free releases it. */
int  wcache_key_make(const char *desc, size_t n, wcache_key *k);
void wcache_key_free(wcache_key *k);
/* The file name of key in the cache directory: "packed-" and 16 hex
 * digits of its 64-bit FNV-1a hash (out holds 24 bytes). */
void wcache_name(const wcache_key *k, char out[24]);
/* Checks a cache image buf[0..len) made for key and fills w (its pieces
 * pointing into buf; w->map = buf).  0, or -1 with e set.  Release with
 * wcache_clear. */
int  wcache_parse(const void *buf, size_t len, const wcache_key *key, wcache *w, err_t *e);
/* The image of nodes (their logs' pieces) for key, malloc'd into *buf,
 * *len.  0, or -1 with e set. */
int  wcache_build(const wcache_key *key, const wcache_node *nodes, int n, void **buf, size_t *len,
                  err_t *e);
/* Maps and parses the cache file of key: 0 with w filled (release with
 * wcache_close), or -1 (none, off, or not valid: e says which). */
int  wcache_open(const wcache_key *key, wcache *w, err_t *e);
/* Writes the cache file of key (temporary, fdatasync, rename) and keeps
 * the directory within WCACHE_MAX_BYTES; one writer at a time per key
 * (a lock file: another writer's makes this one give up).  0, or -1 with
 * e set; a failure leaves no file behind. */
int  wcache_write(const wcache_key *key, const wcache_node *nodes, int n, err_t *e);
/* The same in steps, for pieces still being made: wcache_begin takes the
 * lock, checks the room and writes the table (from every cached node's
 * piece sizes) and the pieces that have their bytes (p != NULL), leaving
 * the others' places empty; wcache_put writes cached node i's pieces
 * there (log: the same count and sizes; any thread, for distinct nodes);
 * wcache_end flushes the file and gives it its name when ok and every
 * node's pieces were written, else removes it.  Writeback to the disk starts as pieces
 * come, so that the final flush waits for less.  wcache_begin: NULL (e
 * set) when no file is to be written. */
typedef struct wcache_out wcache_out;
wcache_out *wcache_begin(const wcache_key *key, const wcache_node *nodes, int n, err_t *e);
int  wcache_put(wcache_out *o, int i, const kmem_log *log);
int  wcache_end(wcache_out *o, int ok, err_t *e);
/* Frees w's node table (not the buffer). */
void wcache_clear(wcache *w);
/* wcache_clear and unmaps the file. */
void wcache_close(wcache *w);

#endif
