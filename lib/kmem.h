/* kmem.h - one block of memory for a model's packed weights.
 *
 * Packing every layer's weights into blocks of their own (posix_memalign
 * per layer) costs one page fault per 4 KB written, each page zeroed by the
 * kernel, and one mapping per large block to set up and tear down.  A kmem
 * pool instead hands out 64-byte aligned pieces of large anonymous
 * mappings (bump allocation) asked for as transparent huge pages
 * (MADV_HUGEPAGE), and every piece is faulted in by one call
 * (MADV_POPULATE_WRITE) when the kernel has it, so a 10 MB layer takes a
 * handful of faults instead of 2500 and small layers share huge pages.
 * The huge page the last piece ends in is whole in memory: kmem_trim gives
 * its unused part back once packing is done.  Small pieces (64 KB and
 * less) come from chunks of 4 KB pages instead, where a fresh huge page
 * would cost more than the piece.
 *
 * Pieces are not freed one by one: kmem_release gives back the last piece
 * handed out (so that a kernel that packs one form, drops it and packs
 * another reuses the same memory) and otherwise only returns the piece's
 * whole pages to the system; kmem_destroy unmaps everything.
 *
 * A pool is used by one thread at a time.  Kernels do not see pools: they
 * call kmem_get / kmem_put, which take from the calling thread's current
 * pool (kmem_set_current) or, when there is none, from malloc.  A piece
 * remembers where it came from, so kmem_put is right either way.
 */
#ifndef CAM_KMEM_H
#define CAM_KMEM_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define KMEM_ALIGN 64

typedef struct kmem kmem;

/* An empty pool that will hold at most limit bytes of pieces (0: no limit
 * but the address space).  NULL when out of memory. */
kmem  *kmem_create(size_t limit);
/* Unmaps every piece of the pool (NULL: nothing). */
void   kmem_destroy(kmem *m);
/* n bytes (n may be 0), KMEM_ALIGN-aligned, contents unspecified (zero
 * when fresh from the kernel, not after a kmem_release).  NULL with e set
 * when the pool's limit or the system's memory is exhausted. */
void  *kmem_alloc(kmem *m, size_t n, err_t *e);
/* Gives piece p of m back (see above); p NULL: nothing. */
void   kmem_release(kmem *m, void *p);
/* Gives back the pages past the last piece of each chunk (those of the
 * huge page it ends in): to call once the pool is filled.  Pieces stay
 * valid and more may be taken. */
void   kmem_trim(kmem *m);
/* Bytes of pieces handed out and not given back, and bytes mapped. */
size_t kmem_used(const kmem *m);
size_t kmem_mapped(const kmem *m);

/* The calling thread's current pool (NULL: none, malloc is used). */
void   kmem_set_current(kmem *m);
kmem  *kmem_current(void);
/* n bytes, KMEM_ALIGN-aligned, from the current pool or malloc; NULL when
 * out of memory.  kmem_get_zero: the same, zero-filled.  kmem_put frees a
 * block from either (NULL: nothing); a pool's piece is released to its pool
 * only by the thread that has that pool current, else left to
 * kmem_destroy. */
void  *kmem_get(size_t n);
void  *kmem_get_zero(size_t n);
void   kmem_put(void *p);

/* A mapping of its own of n > 0 bytes (page-aligned), asked for as huge
 * pages and faulted in at once, for a large temporary that is written in
 * full; kmem_unmap(p, n) releases it at once.  NULL when out of memory. */
void  *kmem_map(size_t n);
void   kmem_unmap(void *p, size_t n);

/* Recording and replaying the pieces a kernel takes (the packed-weight
 * cache, wcache.h).  While a log is being recorded on a thread, every
 * piece kmem_get hands out there is appended to it; a kmem_put of one of
 * them marks the log "dropped" (its pieces are then not a layer's final
 * packed form).  While a log is replayed, kmem_get hands out its pieces
 * in order instead of new memory (read-only: the kernel must not write
 * them, see kmem_replaying); a size that differs from the recorded one, or
 * one piece too many, gives NULL and marks the log failed.
 *
 * kmem_tag(t): the kernel's fingerprint of what its packed form depends on
 * besides the weights themselves (shapes, folded scales and biases,
 * quantisation): recorded in the log, or, replaying, compared with the
 * recorded one (a difference marks the log failed, an equal one checked). */
typedef struct {
    void   *p;
    size_t  n;
} kmem_piece;
typedef struct {
    kmem_piece *v;
    int         n, cap;
    int         pos;            /* replay: pieces handed out */
    int         failed;         /* replay: out of step; record: out of memory */
    int         dropped;        /* record: a piece was given back */
    uint64_t    tag;            /* kmem_tag's fingerprint */
    int         tagged;         /* record: tag set; replay: tag checked */
} kmem_log;
/* Starts (log) or stops (NULL) recording on the calling thread. */
void   kmem_record(kmem_log *log);
/* Starts (log, pos reset) or stops (NULL) replaying on the calling thread. */
void   kmem_replay(kmem_log *log);
void   kmem_tag(uint64_t t);
/* 1 while the calling thread replays: pieces come filled, kernels skip
 * packing (and need not read the weights). */
int    kmem_replaying(void);
/* Registers [base, base + len) as memory kmem does not own (a mapped cache
 * file): kmem_put ignores pointers inside it.  kmem_disown removes it.
 * Returns 0, or -1 when too many ranges are registered. */
int    kmem_adopt(const void *base, size_t len);
void   kmem_disown(const void *base);
void   kmem_log_free(kmem_log *log);

/* Asks for the whole 2 MB ranges inside [p, p + n) to be transparent huge
 * pages: for a large malloc'd block about to be written in full. */
void   kmem_hint_huge(void *p, size_t n);

#endif
