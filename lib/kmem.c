/* kmem.c - pools of packed weights (see kmem.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kmem.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define KMEM_CHUNK ((size_t)64 << 20)   /* address space mapped at a time */
#define KMEM_HUGE  ((size_t)2 << 20)    /* transparent huge page */
#define KMEM_MAGIC 0x6b6d656d70696563ull
/* Pieces up to this size (a depthwise layer's weights, a first
 * convolution's) go to chunks of 4 KB pages of their own: a fresh 2 MB
 * huge page costs 0.15-0.5 ms on a virtual machine (zeroed, often backed
 * anew by the host), which a model whose large layers wait to be packed
 * (engine_opts.lazy_pack) would pay for a few tens of kilobytes.
 * uint8 MobileNetV2 at two threads, first-run packing 1.33 -> 0.89 ms. */
#define KMEM_SMALL ((size_t)64 << 10)
#define KMEM_SMALL_CHUNK ((size_t)2 << 20)

typedef struct chunk {
    struct chunk  *next;
    unsigned char *base;
    size_t         len, used;
} chunk;

struct kmem {
    chunk  *head;           /* the chunk pieces come from; older ones after */
    chunk  *small;          /* the same for small pieces, in 4 KB pages */
    size_t  limit, used, mapped;
    void   *last;           /* the last piece handed out, NULL once released */
    chunk  *last_chunk;     /* the chunk it came from */
    size_t  last_prev;      /* last_chunk->used before it */
};

/* Every block starts with this header, KMEM_ALIGN bytes before the
 * pointer handed out. */
typedef struct {
    uint64_t magic;
    kmem    *owner;         /* NULL: malloc'd, base is what to free */
    void    *base;
    size_t   size;          /* bytes from the header to the block's end */
} piece;

_Static_assert(sizeof(piece) <= KMEM_ALIGN, "piece header larger than the alignment");

static _Thread_local kmem *current;
static _Thread_local kmem_log *recording, *replaying;

/* ranges kmem_put leaves alone (kmem_adopt) */
#define KMEM_ADOPT_MAX 16
static struct {
    uintptr_t lo, hi;
} adopted[KMEM_ADOPT_MAX];
static int nadopted;
static pthread_mutex_t adopt_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t page_size(void)
{
    /* packing threads may ask at once: the same value, stored atomically */
    static size_t ps;
    size_t v = __atomic_load_n(&ps, __ATOMIC_RELAXED);
    if (!v) {
        long p = sysconf(_SC_PAGESIZE);
        v = p > 0 ? (size_t)p : 4096;
        __atomic_store_n(&ps, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Header plus n rounded up to KMEM_ALIGN; 0 when that overflows. */
static size_t piece_size(size_t n)
{
    if (n > SIZE_MAX - 2 * KMEM_ALIGN)
        return 0;
    return KMEM_ALIGN + ((n + KMEM_ALIGN - 1) & ~(size_t)(KMEM_ALIGN - 1));
}

kmem *kmem_create(size_t limit)
{
    kmem *m = calloc(1, sizeof *m);
    if (m)
        m->limit = limit;
    return m;
}

void kmem_destroy(kmem *m)
{
    if (!m)
        return;
    if (current == m)
        current = NULL;
    for (int l = 0; l < 2; l++)
        for (chunk *c = l ? m->small : m->head, *next; c; c = next) {
            next = c->next;
            munmap(c->base, c->len);
            free(c);
        }
    free(m);
}

/* A chunk of 4 KB pages for small pieces (need <= KMEM_SMALL). */
static int new_small_chunk(kmem *m, err_t *e)
{
    chunk *c = malloc(sizeof *c);
    if (!c)
        return err_set(e, "out of memory");
    void *p = mmap(NULL, KMEM_SMALL_CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(c);
        return err_set(e, "out of memory for weights");
    }
#ifdef MADV_NOHUGEPAGE
    madvise(p, KMEM_SMALL_CHUNK, MADV_NOHUGEPAGE);
#endif
    c->base = p;
    c->len = KMEM_SMALL_CHUNK;
    c->used = 0;
    c->next = m->small;
    m->small = c;
    m->mapped += KMEM_SMALL_CHUNK;
    return 0;
}

static int new_chunk(kmem *m, size_t need, err_t *e)
{
    size_t len = KMEM_CHUNK;
    if (need > len - KMEM_HUGE) {
        if (need > SIZE_MAX - 2 * KMEM_HUGE)
            return err_set(e, "out of memory for %zu bytes of weights", need);
        len = (need + 2 * KMEM_HUGE - 1) & ~(KMEM_HUGE - 1);
    }
    chunk *c = malloc(sizeof *c);
    if (!c)
        return err_set(e, "out of memory");
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        free(c);
        return err_set(e, "out of memory for %zu bytes of weights", need);
    }
    c->base = p;
    c->len = len;
    /* start on a huge page boundary when the mapping does not */
    c->used = (KMEM_HUGE - (uintptr_t)p % KMEM_HUGE) % KMEM_HUGE;
    if (c->used > len - need)
        c->used = 0;
#ifdef MADV_HUGEPAGE
    /* the whole chunk: small pieces share huge pages too (kmem_trim gives
     * back what the last one leaves unused) */
    madvise(p, len, MADV_HUGEPAGE);
#endif
    c->next = m->head;
    m->head = c;
    m->mapped += len;
    return 0;
}

void *kmem_alloc(kmem *m, size_t n, err_t *e)
{
    size_t need = piece_size(n);
    if (!need)
        return err_set(e, "out of memory for %zu bytes of weights", n), NULL;
    if (m->limit && (need > m->limit || m->used > m->limit - need))
        return err_set(e, "weights need more than the %zu bytes allowed", m->limit), NULL;
    chunk *c;
    if (need <= KMEM_SMALL) {
        if ((!m->small || m->small->len - m->small->used < need) && new_small_chunk(m, e) < 0)
            return NULL;
        c = m->small;
    } else {
        if ((!m->head || m->head->len - m->head->used < need) && new_chunk(m, need, e) < 0)
            return NULL;
        c = m->head;
    }
    unsigned char *start = c->base + c->used;
    m->last_prev = c->used;
    m->last_chunk = c;
    c->used += need;
    m->used += need;
    /* every page of the piece faulted in at once */
    uintptr_t a = (uintptr_t)start, b = a + need;
    size_t ps = page_size();
    uintptr_t plo = a & ~(uintptr_t)(ps - 1), phi = (b + ps - 1) & ~(uintptr_t)(ps - 1);
    madvise((void *)plo, phi - plo, MADV_POPULATE_WRITE);   /* a hint: failure is harmless */
    piece *h = (piece *)(void *)start;
    h->magic = KMEM_MAGIC;
    h->owner = m;
    h->base = start;
    h->size = need;
    m->last = start + KMEM_ALIGN;
    return m->last;
}

void kmem_release(kmem *m, void *p)
{
    if (!p)
        return;
    piece *h = (piece *)(void *)((unsigned char *)p - KMEM_ALIGN);
    if (h->magic != KMEM_MAGIC || h->owner != m || !h->size)
        return;
    size_t size = h->size;
    m->used -= size;
    if (p == m->last) {
        /* the last piece: the next one takes its place (pages kept) */
        m->last_chunk->used = m->last_prev;
        m->last = NULL;
        return;
    }
    h->size = 0;
    /* else its whole pages go back to the system (read as zeros if touched) */
    size_t ps = page_size();
    uintptr_t a = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t b = ((uintptr_t)h + size) & ~(uintptr_t)(ps - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

void kmem_trim(kmem *m)
{
    if (!m)
        return;
    size_t ps = page_size();
    for (chunk *c = m->head; c; c = c->next) {
        uintptr_t a = ((uintptr_t)c->base + c->used + ps - 1) & ~(uintptr_t)(ps - 1);
        uintptr_t b = ((uintptr_t)c->base + c->used + KMEM_HUGE - 1) & ~(uintptr_t)(KMEM_HUGE - 1);
        uintptr_t end = (uintptr_t)c->base + c->len;
        if (b > end)
            b = end;
        if (b > a)
            madvise((void *)a, b - a, MADV_DONTNEED);
    }
}

size_t kmem_used(const kmem *m)
{
    return m ? m->used : 0;
}

size_t kmem_mapped(const kmem *m)
{
    return m ? m->mapped : 0;
}

void kmem_set_current(kmem *m)
{
    current = m;
}

kmem *kmem_current(void)
{
    return current;
}

static void log_add(kmem_log *log, void *p, size_t n)
{
    if (log->n == log->cap) {
        int cap = log->cap ? 2 * log->cap : 8;
        kmem_piece *v = cap > 0 && (size_t)cap < SIZE_MAX / sizeof *v
                            ? realloc(log->v, (size_t)cap * sizeof *v) : NULL;
        if (!v) {
            log->failed = 1;
            return;
        }
        log->v = v;
        log->cap = cap;
    }
    log->v[log->n].p = p;
    log->v[log->n].n = n;
    log->n++;
}

static void *get(size_t n)
{
    if (current)
        return kmem_alloc(current, n, NULL);
    size_t need = piece_size(n);
    void *base;
    if (!need || posix_memalign(&base, KMEM_ALIGN, need))
        return NULL;
    piece *h = base;
    h->magic = KMEM_MAGIC;
    h->owner = NULL;
    h->base = base;
    h->size = need;
    return (unsigned char *)base + KMEM_ALIGN;
}

void *kmem_get(size_t n)
{
    if (replaying) {
        kmem_log *l = replaying;
        if (l->failed || l->pos >= l->n || l->v[l->pos].n != n) {
            l->failed = 1;
            return NULL;
        }
        return l->v[l->pos++].p;
    }
    void *p = get(n);
    if (p && recording)
        log_add(recording, p, n);
    return p;
}

void *kmem_get_zero(size_t n)
{
    void *p = kmem_get(n);
    if (p && !replaying)        /* a replayed piece comes filled, read-only */
        memset(p, 0, n);
    return p;
}

static int is_adopted(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    int hit = 0;
    pthread_mutex_lock(&adopt_lock);
    for (int i = 0; i < nadopted && !hit; i++)
        hit = a >= adopted[i].lo && a < adopted[i].hi;
    pthread_mutex_unlock(&adopt_lock);
    return hit;
}

void kmem_put(void *p)
{
    if (!p)
        return;
    if (is_adopted(p))
        return;
    if (recording)
        for (int i = 0; i < recording->n; i++)
            if (recording->v[i].p == p)
                recording->dropped = 1;
    piece *h = (piece *)(void *)((unsigned char *)p - KMEM_ALIGN);
    if (h->magic != KMEM_MAGIC)
        return;
    if (!h->owner)
        free(h->base);
    else if (h->owner == current)
        kmem_release(h->owner, p);
}

void kmem_hint_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = (uintptr_t)p, b = a + n;
    uintptr_t lo = (a + KMEM_HUGE - 1) & ~(uintptr_t)(KMEM_HUGE - 1);
    uintptr_t hi = b & ~(uintptr_t)(KMEM_HUGE - 1);
    if (p && b > a && hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void *kmem_map(size_t n)
{
    if (n == 0 || n > SIZE_MAX / 2)
        return NULL;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    madvise(p, n, MADV_POPULATE_WRITE);
    return p;
}

void kmem_unmap(void *p, size_t n)
{
    if (p && n)
        munmap(p, n);
}

void kmem_record(kmem_log *log)
{
    recording = log;
}

void kmem_replay(kmem_log *log)
{
    replaying = log;
    if (log) {
        log->pos = 0;
        log->tagged = 0;
    }
}

void kmem_tag(uint64_t t)
{
    if (recording) {
        recording->tag = t;
        recording->tagged = 1;
    }
    if (replaying) {
        if (replaying->tag != t)
            replaying->failed = 1;
        else
            replaying->tagged = 1;
    }
}

int kmem_replaying(void)
{
    return replaying != NULL;
}

int kmem_adopt(const void *base, size_t len)
{
    int rc = -1;
    pthread_mutex_lock(&adopt_lock);
    if (nadopted < KMEM_ADOPT_MAX) {
        adopted[nadopted].lo = (uintptr_t)base;
        adopted[nadopted].hi = (uintptr_t)base + len;
        nadopted++;
        rc = 0;
    }
    pthread_mutex_unlock(&adopt_lock);
    return rc;
}

void kmem_disown(const void *base)
{
    pthread_mutex_lock(&adopt_lock);
    for (int i = 0; i < nadopted; i++)
        if (adopted[i].lo == (uintptr_t)base) {
            adopted[i] = adopted[--nadopted];
            break;
        }
    pthread_mutex_unlock(&adopt_lock);
}

void kmem_log_free(kmem_log *log)
{
    if (log) {
        free(log->v);
        memset(log, 0, sizeof *log);
    }
}
