/* wcache.c - the packed-weight cache (see wcache.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include "sha256.h"
#include "wcache.h"

#define MAGIC "CAMPACK1"
#define VERSION 3u
#define HEADER 48u
#define NODE_REC 24u
#define PIECE_REC 16u
#define DATA_ALIGN 4096u

/* ---------------------------------------------------------------- key */

struct find_id {
    uintptr_t addr;         /* an address inside the object wanted */
    uint8_t   id[64];
    size_t    n;
};

/* The GNU build-id note of the object that holds f->addr. */
static int find_id_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
    struct find_id *f = ctx;
    (void)size;
    int inside = 0;
    for (int i = 0; i < info->dlpi_phnum && !inside; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        inside = ph->p_type == PT_LOAD && f->addr >= lo && f->addr - lo < ph->p_memsz;
    }
    if (!inside)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            memcpy(&nh, p, sizeof nh);
            size_t name = (nh.n_namesz + 3u) & ~3u, desc = (nh.n_descsz + 3u) & ~3u;
            size_t rec = sizeof nh + name + desc;
            if (name > left || desc > left || rec > left)
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp(p + sizeof nh, "GNU", 4) == 0 && nh.n_descsz > 0 &&
                nh.n_descsz <= sizeof f->id) {
                memcpy(f->id, p + sizeof nh + name, nh.n_descsz);
                f->n = nh.n_descsz;
                return 1;
            }
            p += rec;
            left -= rec;
        }
    }
    return 1;               /* the object, without a build-id */
}

int wcache_key_make(const char *desc, size_t n, wcache_key *k)
{
    static const char hx[] = "0123456789abcdef";
    static const char head[] = "cam packed weights 2\nbuild ";
    struct find_id f;
    memset(k, 0, sizeof *k);
    memset(&f, 0, sizeof f);
    f.addr = (uintptr_t)(void *)&wcache_key_make;
    dl_iterate_phdr(find_id_cb, &f);
    if (!f.n || n > WCACHE_MAX_KEY / 2)
        return -1;
    size_t len = sizeof head - 1 + 2 * f.n + 1 + n;
    char *t = malloc(len + 1);
    if (!t)
        return -1;
    memcpy(t, head, sizeof head - 1);
    size_t o = sizeof head - 1;
    for (size_t i = 0; i < f.n; i++) {
        t[o++] = hx[f.id[i] >> 4];
        t[o++] = hx[f.id[i] & 15];
    }
    t[o++] = '\n';
    memcpy(t + o, desc, n);
    t[len] = '\0';
    k->text = t;
    k->len = len;
    return 0;
}

void wcache_key_free(wcache_key *k)
{
    if (k) {
        free(k->text);
        k->text = NULL;
        k->len = 0;
    }
}

uint64_t wcache_hash(uint64_t h, const void *b, size_t n)
{
    const unsigned char *s = b;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void wcache_name(const wcache_key *k, char out[24])
{
    static const char hx[] = "0123456789abcdef";
    uint64_t h = wcache_hash(WCACHE_HASH_INIT, k->text, k->len);
    memcpy(out, "packed-", 7);
    for (int i = 0; i < 16; i++)
        out[7 + i] = hx[(h >> (60 - 4 * i)) & 15];
    out[23] = '\0';
}

/* The offset after a piece of n bytes at off: the next piece's. */
static uint64_t after_piece(uint64_t off, uint64_t n)
{
    return (off + n + KMEM_ALIGN - 1) / KMEM_ALIGN * KMEM_ALIGN;
}

/* Bytes from the start to the node table: header and key, padded. */
static uint64_t table_start(uint64_t keylen)
{
    return HEADER + (keylen + 7) / 8 * 8;
}

/* ---------------------------------------------------------------- image */

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

void wcache_clear(wcache *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nnodes; i++)
        kmem_log_free(&w->nodes[i].log);
    free(w->nodes);
    w->nodes = NULL;
    w->nnodes = 0;
}

int wcache_parse(const void *buf, size_t len, const wcache_key *key, wcache *w, err_t *e)
{
    const unsigned char *b = buf;
    memset(w, 0, sizeof *w);
    if (len < HEADER || memcmp(b, MAGIC, 8) != 0)
        return err_set(e, "not a packed-weight cache file");
    uint32_t version = get32(b + 8), nn = get32(b + 12);
    uint64_t np = get64(b + 16), data = get64(b + 24), total = get64(b + 32);
    uint64_t klen = get64(b + 40);
    if (version != VERSION)
        return err_set(e, "packed-weight cache version %u, not %u", version, VERSION);
    if (klen != key->len || klen > len - HEADER || memcmp(b + HEADER, key->text, key->len) != 0)
        return err_set(e, "packed-weight cache made for another model or build");
    if (total != len)
        return err_set(e, "packed-weight cache: %llu bytes, header says %llu",
                       (unsigned long long)len, (unsigned long long)total);
    if (nn > WCACHE_MAX_NODES || np > WCACHE_MAX_PIECES)
        return err_set(e, "packed-weight cache: %u nodes, %llu pieces", nn, (unsigned long long)np);
    uint64_t t0 = table_start(klen);
    uint64_t table = t0 + (uint64_t)nn * NODE_REC + np * PIECE_REC;
    if (data < table || data > len || data % KMEM_ALIGN)
        return err_set(e, "packed-weight cache: data at %llu", (unsigned long long)data);
    w->nodes = calloc((size_t)nn + 1, sizeof *w->nodes);
    if (!w->nodes)
        return err_set(e, "out of memory");
    w->nnodes = (int)nn;
    const unsigned char *pt = b + t0 + (size_t)nn * NODE_REC;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < nn; i++) {
        const unsigned char *r = b + t0 + (size_t)i * NODE_REC;
        uint32_t node = get32(r), cached = get32(r + 4), first = get32(r + 8), cnt = get32(r + 12);
        uint64_t tag = get64(r + 16);
        wcache_node *wn = &w->nodes[i];
        if (node > INT32_MAX || cached > 1 || (!cached && cnt) || first > np || cnt > np - first ||
            first != seen) {
            wcache_clear(w);
            return err_set(e, "packed-weight cache: bad record of node %u", i);
        }
        seen += cnt;
        wn->node = (int)node;
        wn->cached = (int)cached;
        wn->log.tag = tag;
        if (!cnt)
            continue;
        wn->log.v = malloc(sizeof *wn->log.v * cnt);
        if (!wn->log.v) {
            wcache_clear(w);
            return err_set(e, "out of memory");
        }
        wn->log.n = wn->log.cap = (int)cnt;
        for (uint32_t k = 0; k < cnt; k++) {
            const unsigned char *q = pt + (size_t)(first + k) * PIECE_REC;
            uint64_t off = get64(q), n = get64(q + 8);
            if (off < data || off > len || off % KMEM_ALIGN || n > len - off) {
                wcache_clear(w);
                return err_set(e, "packed-weight cache: piece %u of node %u out of the file", k, i);
            }
            wn->log.v[k].p = (void *)(b + off);
            wn->log.v[k].n = (size_t)n;
        }
    }
    if (seen != np) {
        wcache_clear(w);
        return err_set(e, "packed-weight cache: %llu pieces, %llu used", (unsigned long long)np,
                       (unsigned long long)seen);
    }
    w->map = (void *)b;
    w->len = len;
    return 0;
}

/* Offsets of the image of nodes: the table's end, each piece's offset
 * (in order), the total.  -1 when too large. */
static int layout(const wcache_key *key, const wcache_node *nodes, int n, uint64_t *data,
                  uint64_t *total, uint64_t *np)
{
    uint64_t pieces = 0;
    for (int i = 0; i < n; i++)
        if (nodes[i].cached)
            pieces += (uint64_t)nodes[i].log.n;
    if (n < 0 || n > WCACHE_MAX_NODES || pieces > WCACHE_MAX_PIECES || key->len > WCACHE_MAX_KEY)
        return -1;
    uint64_t off = table_start(key->len) + (uint64_t)n * NODE_REC + pieces * PIECE_REC;
    off = (off + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
    *data = off;
    for (int i = 0; i < n; i++)
        for (int k = 0; nodes[i].cached && k < nodes[i].log.n; k++) {
            uint64_t sz = nodes[i].log.v[k].n;
            if (sz > ((uint64_t)1 << 40))
                return -1;
            off = after_piece(off, sz);
        }
    *total = off;
    *np = pieces;
    return 0;
}

/* The header and table of nodes (data offset data, total bytes): into
 * dst[0..data), zero padded. */
static void write_table(unsigned char *dst, const wcache_key *key, const wcache_node *nodes, int n,
                        uint64_t np, uint64_t data, uint64_t total)
{
    memset(dst, 0, (size_t)data);
    memcpy(dst, MAGIC, 8);
    put32(dst + 8, VERSION);
    put32(dst + 12, (uint32_t)n);
    put64(dst + 16, np);
    put64(dst + 24, data);
    put64(dst + 32, total);
    put64(dst + 40, key->len);
    memcpy(dst + HEADER, key->text, key->len);
    uint64_t t0 = table_start(key->len);
    unsigned char *pt = dst + t0 + (size_t)n * NODE_REC;
    uint64_t first = 0, off = data;
    for (int i = 0; i < n; i++) {
        unsigned char *r = dst + t0 + (size_t)i * NODE_REC;
        uint32_t cnt = nodes[i].cached ? (uint32_t)nodes[i].log.n : 0;
        put32(r, (uint32_t)nodes[i].node);
        put32(r + 4, nodes[i].cached ? 1u : 0u);
        put32(r + 8, (uint32_t)first);
        put32(r + 12, cnt);
        put64(r + 16, nodes[i].log.tag);
        for (uint32_t k = 0; k < cnt; k++) {
            unsigned char *q = pt + (size_t)(first + k) * PIECE_REC;
            uint64_t sz = nodes[i].log.v[k].n;
            put64(q, off);
            put64(q + 8, sz);
            off = after_piece(off, sz);
        }
        first += cnt;
    }
}

int wcache_build(const wcache_key *key, const wcache_node *nodes, int n, void **buf, size_t *len,
                 err_t *e)
{
    uint64_t data, total, np;
    if (layout(key, nodes, n, &data, &total, &np) < 0 || total > SIZE_MAX)
        return err_set(e, "packed weights too large for a cache file");
    unsigned char *b = calloc(1, (size_t)total);
    if (!b)
        return err_set(e, "out of memory");
    write_table(b, key, nodes, n, np, data, total);
    uint64_t off = data;
    for (int i = 0; i < n; i++)
        for (int k = 0; nodes[i].cached && k < nodes[i].log.n; k++) {
            const kmem_piece *pc = &nodes[i].log.v[k];
            if (pc->n)
                memcpy(b + off, pc->p, pc->n);
            off = after_piece(off, pc->n);
        }
    *buf = b;
    *len = (size_t)total;
    return 0;
}

/* ---------------------------------------------------------------- files */

static char *file_path(const char *dir, const wcache_key *key)
{
    char name[24], *s = NULL;
    wcache_name(key, name);
    if (asprintf(&s, "%s/%s", dir, name) < 0)
        return NULL;
    return s;
}

int wcache_open(const wcache_key *key, wcache *w, err_t *e)
{
    memset(w, 0, sizeof *w);
    char *dir = cache_dir();
    if (!dir)
        return err_set(e, "cache off");
    char *path = file_path(dir, key);
    free(dir);
    if (!path)
        return err_set(e, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return err_set(e, "no packed-weight cache file");
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)HEADER ||
        (uint64_t)st.st_size > SIZE_MAX || st.st_uid != geteuid()) {
        close(fd);
        return err_set(e, "packed-weight cache file unusable");
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return err_set(e, "packed-weight cache file: %s", strerror(errno));
    }
    /* used: it is the last one pruning removes */
    futimens(fd, NULL);
    close(fd);
    if (wcache_parse(m, len, key, w, e) < 0) {
        munmap(m, len);
        return -1;
    }
    return 0;
}

void wcache_close(wcache *w)
{
    if (!w)
        return;
    wcache_clear(w);
    if (w->map)
        munmap(w->map, w->len);
    w->map = NULL;
    w->len = 0;
}

static int write_all(int fd, const void *buf, size_t n, off_t off)
{
    const unsigned char *p = buf;
    while (n) {
        ssize_t r = pwrite(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* The writer's lock: path.lock, made with O_EXCL.  0 with *lfd open, or
 * -1: another process holds it (made less than WCACHE_LOCK_S seconds
 * ago), or it cannot be made.  An older one is a crashed writer's: taken
 * over. */
static int take_lock(const char *lock, int *lfd, err_t *e)
{
    for (int tries = 0; tries < 2; tries++) {
        *lfd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*lfd >= 0)
            return 0;
        if (errno != EEXIST)
            return err_set(e, "%s: %s", lock, strerror(errno));
        struct stat st;
        if (lstat(lock, &st) == 0 && time(NULL) - st.st_mtime < WCACHE_LOCK_S)
            return err_set(e, "%s: another process is writing this file", lock);
        unlink(lock);
    }
    return err_set(e, "%s: cannot take it", lock);
}

struct wcache_out {
    char *dir, *path, *tmp, *lock;
    int fd, lfd;
    int ok;                     /* 0 once a write failed (any thread) */
    int missing;                /* nodes whose pieces are still to come */
    unsigned char *due;         /* per node: 1 until wcache_put wrote it */
    int n;
    uint64_t *off;              /* per node: where its first piece goes */
    unsigned char *cached;      /* per node: cached (its pieces in the file) */
    size_t *count;              /* per node: its pieces */
    size_t *first;              /* per node: its first piece in sizes */
    uint64_t *sizes;            /* every piece's size, in order */
    uint64_t total;
    char name[24];
};

/* Starts writeback of [off, off + n) to the disk (the final flush then
 * waits for less). */
static void start_writeback(int fd, uint64_t off, uint64_t n)
{
#ifdef SYNC_FILE_RANGE_WRITE
    sync_file_range(fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)off, (void)n;
#endif
}

static void out_free(wcache_out *o)
{
    if (!o)
        return;
    if (o->fd >= 0) {
        close(o->fd);
        unlink(o->tmp);
    }
    if (o->lfd >= 0) {
        close(o->lfd);
        unlink(o->lock);
    }
    free(o->lock);
    free(o->tmp);
    free(o->path);
    free(o->dir);
    free(o->off);
    free(o->cached);
    free(o->count);
    free(o->due);
    free(o->first);
    free(o->sizes);
    free(o);
}

wcache_out *wcache_begin(const wcache_key *key, const wcache_node *nodes, int n, err_t *e)
{
    uint64_t data, total, np;
    if (layout(key, nodes, n, &data, &total, &np) < 0 || total > (uint64_t)WCACHE_MAX_BYTES / 2)
        return err_set(e, "packed weights too large for the cache"), NULL;
    wcache_out *o = calloc(1, sizeof *o);
    if (!o)
        return err_set(e, "out of memory"), NULL;
    o->fd = o->lfd = -1;
    o->ok = 1;
    o->n = n;
    o->total = total;
    wcache_name(key, o->name);
    unsigned char *table = NULL;
    if (!(o->dir = cache_dir())) {
        err_set(e, "cache off");
        goto fail;
    }
    o->path = cache_dir_make(o->dir) == 0 ? file_path(o->dir, key) : NULL;
    if (!o->path || asprintf(&o->tmp, "%s.%ld.tmp", o->path, (long)getpid()) < 0) {
        o->tmp = NULL;
        err_set(e, "cannot write to the cache directory %s", o->dir);
        goto fail;
    }
    /* processes started together (GNU parallel) all pack the model the
     * first time; one of them writes the file */
    if (asprintf(&o->lock, "%s.lock", o->path) < 0) {
        o->lock = NULL;
        err_set(e, "out of memory");
        goto fail;
    }
    if (take_lock(o->lock, &o->lfd, e) < 0)
        goto fail;
    /* a cache must not fill the disk: what the file would leave free */
    struct statvfs vs;
    if (statvfs(o->dir, &vs) == 0) {
        double left = (double)vs.f_bavail * vs.f_frsize - (double)total;
        double size = (double)vs.f_blocks * vs.f_frsize;
        if (left < WCACHE_MIN_FREE || left < size * 0.01) {
            err_set(e, "%s: too little free space left for a packed-weight cache file", o->dir);
            goto fail;
        }
    }
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (o->fd < 0) {
        err_set(e, "%s: %s", o->tmp, strerror(errno));
        goto fail;
    }
    o->off = malloc(sizeof *o->off * (size_t)(n > 0 ? n : 1));
    o->cached = malloc((size_t)(n > 0 ? n : 1));
    o->count = malloc(sizeof *o->count * (size_t)(n > 0 ? n : 1));
    o->due = calloc((size_t)(n > 0 ? n : 1), 1);
    o->first = malloc(sizeof *o->first * (size_t)(n > 0 ? n : 1));
    o->sizes = malloc(sizeof *o->sizes * (size_t)(np > 0 ? np : 1));
    table = malloc((size_t)data);
    if (!o->off || !o->cached || !o->count || !o->due || !o->first || !o->sizes || !table) {
        err_set(e, "out of memory");
        goto fail;
    }
    write_table(table, key, nodes, n, np, data, total);
    int ok = write_all(o->fd, table, (size_t)data, 0) == 0;
    free(table);
    table = NULL;
    /* the pieces there are (those still to come leave holes until
     * wcache_put), and the padding after the last */
    uint64_t off = data;
    size_t pi = 0;
    for (int i = 0; i < n; i++) {
        o->off[i] = off;
        o->cached[i] = nodes[i].cached != 0;
        o->count[i] = nodes[i].cached ? (size_t)nodes[i].log.n : 0;
        o->first[i] = pi;
        for (int k = 0; nodes[i].cached && k < nodes[i].log.n; k++) {
            const kmem_piece *pc = &nodes[i].log.v[k];
            o->sizes[pi++] = pc->n;
            if (pc->p && ok)
                ok = write_all(o->fd, pc->p, pc->n, (off_t)off) == 0;
            else if (!pc->p && !o->due[i]) {
                o->due[i] = 1;
                o->missing++;
            }
            off = after_piece(off, pc->n);
        }
    }
    ok = ok && ftruncate(o->fd, (off_t)total) == 0;
    if (!ok) {
        err_set(e, "%s: %s", o->tmp, strerror(errno));
        goto fail;
    }
    start_writeback(o->fd, 0, data);
    return o;
fail:
    free(table);
    out_free(o);
    return NULL;
}

int wcache_put(wcache_out *o, int i, const kmem_log *log)
{
    if (!o || i < 0 || i >= o->n || !o->cached[i] || !o->due[i] || !log ||
        (size_t)log->n != o->count[i] || log->failed || log->dropped) {
        if (o)
            __atomic_store_n(&o->ok, 0, __ATOMIC_RELAXED);
        return -1;
    }
    uint64_t off = o->off[i], start = off;
    for (int k = 0; k < log->n; k++) {
        if (!log->v[k].p || log->v[k].n != o->sizes[o->first[i] + (size_t)k] ||
            write_all(o->fd, log->v[k].p, log->v[k].n, (off_t)off) != 0) {
            __atomic_store_n(&o->ok, 0, __ATOMIC_RELAXED);
            return -1;
        }
        off = after_piece(off, log->v[k].n);
    }
    start_writeback(o->fd, start, off - start);
    o->due[i] = 0;              /* (one thread per node) */
    __atomic_fetch_sub(&o->missing, 1, __ATOMIC_RELEASE);
    return 0;
}

int wcache_end(wcache_out *o, int ok, err_t *e)
{
    if (!o)
        return err_set(e, "no cache file being written");
    ok = ok && __atomic_load_n(&o->ok, __ATOMIC_RELAXED) &&
         __atomic_load_n(&o->missing, __ATOMIC_ACQUIRE) == 0;
    /* on disk before the name: a crash never leaves a named file with
     * holes where weights should be */
    ok = ok && fdatasync(o->fd) == 0;
    ok = close(o->fd) == 0 && ok;
    o->fd = -1;
    int rc = 0;
    if (!ok || rename(o->tmp, o->path) < 0) {
        rc = err_set(e, "%s: %s", o->tmp, ok ? strerror(errno) : "a piece was not written");
        unlink(o->tmp);
    } else
        cache_dir_prune(o->dir, "packed-", (size_t)-1, WCACHE_MAX_BYTES, o->name);
    out_free(o);
    return rc;
}

int wcache_write(const wcache_key *key, const wcache_node *nodes, int n, err_t *e)
{
    wcache_out *o = wcache_begin(key, nodes, n, e);
    return o ? wcache_end(o, 1, e) : -1;
}
