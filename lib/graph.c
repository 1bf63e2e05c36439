/* graph.c - the model graph (see graph.h): lifetime, loading a file by
 * content, lookups, and the model file's sha256.
 *
 * graph_load maps the file, hashes it on a second thread while the format
 * loader parses it (both read the same private read-only mapping), and
 * dispatches to the ONNX or TFLite loader by the bytes: a TFLite flatbuffer
 * carries the identifier "TFL3" at offset 4; everything else is parsed as
 * ONNX.  Constants keep pointing into the mapping (zero copy; TFLite conv
 * weights that must be transposed excepted), which the graph then owns.
 *
 * A file of 1 MB or more whose digest the digest cache holds (sha256.h:
 * same device, inode, size and times) is not hashed again.
 *
 * Memory: the mapping is not populated up front.  The hash thread drops
 * each megabyte from the process's memory once hashed, and the ONNX parser
 * skips over raw_data without reading it, so loading a model leaves only
 * its metadata resident; the engine then reads each weight once and may
 * drop it again (graph_drop_tensor).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "graph.h"
#include "sha256.h"

void graph_init(graph *g)
{
    memset(g, 0, sizeof *g);
}

static void gnode_free(gnode *n)
{
    free(n->name);
    free(n->op);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int k = 0; k < n->nattr; k++) {
        gattr *a = &n->attr[k];
        free(a->name);
        free(a->s);
        free(a->floats);
        free(a->ints);
    }
    free(n->attr);
}

/* 1 when p points into the file bytes the graph keeps. */
static int in_file(const graph *g, const void *p)
{
    const unsigned char *c = p;
    return g->file && c >= g->file && c < g->file + g->file_len;
}

void graph_free(graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->ntensors; i++) {
        gtensor *t = &g->tensors[i];
        free(t->name);
        if (!in_file(g, t->data))
            free(t->data);
        free(t->scale);
        free(t->zero_point);
    }
    free(g->tensors);
    for (int i = 0; i < g->nnodes; i++)
        gnode_free(&g->nodes[i]);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->nmeta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].val);
    }
    free(g->meta);
    free(g->path);
    if (g->file && g->file_mapped)
        munmap((void *)g->file, g->file_len);
    else
        free((void *)g->file);
    graph_init(g);
}

/* Drops the whole pages inside [p, p+n) of the graph's file mapping. */
static void drop_pages(const graph *g, const void *p, size_t n)
{
    if (!g || !g->file || !g->file_mapped || !in_file(g, p) || n == 0)
        return;
    static size_t page;
    if (!page) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (size_t)ps : 4096;
    }
    uintptr_t a = (uintptr_t)p, b = a + n;
    uintptr_t end = (uintptr_t)g->file + g->file_len;
    if (b > end)
        b = end;
    a = (a + page - 1) & ~(uintptr_t)(page - 1);
    b &= ~(uintptr_t)(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

void graph_drop_tensor(const graph *g, int ti)
{
    if (!g || ti < 0 || ti >= g->ntensors)
        return;
    const gtensor *t = &g->tensors[ti];
    if (t->data)
        drop_pages(g, t->data, t->nbytes);
}

void graph_prefetch_tensor(const graph *g, int ti)
{
    if (!g || ti < 0 || ti >= g->ntensors || !g->file || !g->file_mapped)
        return;
    const gtensor *t = &g->tensors[ti];
    if (!t->data || !t->nbytes || !in_file(g, t->data))
        return;
    uintptr_t a = (uintptr_t)t->data, b = a + t->nbytes;
    uintptr_t end = (uintptr_t)g->file + g->file_len;
    if (b > end)
        b = end;
    long ps = sysconf(_SC_PAGESIZE);
    a &= ~(uintptr_t)((ps > 0 ? (size_t)ps : 4096) - 1);   /* the mapping starts on a page */
    if (b <= a)
        return;
#ifdef MADV_POPULATE_READ
    if (madvise((void *)a, b - a, MADV_POPULATE_READ) == 0)
        return;
#endif
    madvise((void *)a, b - a, MADV_WILLNEED);
}

void graph_drop_range(const graph *g, const void *p, size_t n)
{
    drop_pages(g, p, n);
}

void graph_drop_file(const graph *g)
{
    if (g && g->file)
        drop_pages(g, g->file, g->file_len);
}

void sha256_hex(const void *buf, size_t n, char out[65])
{
    static const char hexdig[] = "0123456789abcdef";
    uint8_t d[32];
    if (sha256_digest(buf, n, d) < 0) {
        out[0] = '\0';
        return;
    }
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hexdig[d[i] >> 4];
        out[2 * i + 1] = hexdig[d[i] & 15];
    }
    out[64] = '\0';
}

/* ---------------------------------------------------------------- loading */

struct hash_job {
    const unsigned char *buf;
    size_t      n;
    int         mapped;         /* buf is a private file mapping */
    char        hex[65];        /* "" when the digest failed */
};

/* Hashes the file a megabyte at a time; pieces of a mapping leave memory
 * once hashed (the parser, reading the same mapping at the same time, only
 * faults back in the pages it needs). */
static void *hash_thread(void *arg)
{
    static const char hexdig[] = "0123456789abcdef";
    const size_t piece = (size_t)1 << 20;
    struct hash_job *j = arg;
    sha256_ctx c;
    uint8_t d[32];
    j->hex[0] = '\0';
    if (sha256_begin(&c) < 0)
        return NULL;
    for (size_t off = 0; off < j->n; off += piece) {
        size_t len = j->n - off < piece ? j->n - off : piece;
        sha256_update(&c, j->buf + off, len);
        if (j->mapped)
            madvise((void *)(j->buf + off), len & ~(size_t)4095, MADV_DONTNEED);
    }
    if (sha256_end(&c, d) < 0)
        return NULL;
    for (int i = 0; i < 32; i++) {
        j->hex[2 * i] = hexdig[d[i] >> 4];
        j->hex[2 * i + 1] = hexdig[d[i] & 15];
    }
    j->hex[64] = '\0';
    return NULL;
}

/* Reads a whole non-mappable file (a pipe, a character device) into memory.
 * The size is capped at TENSOR_MAX_BYTES. */
static int read_all(int fd, const char *path, unsigned char **out, size_t *outn, err_t *e)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    if (!b)
        return err_set(e, "%s: out of memory", path);
    for (;;) {
        if (n == cap) {
            if (cap >= TENSOR_MAX_BYTES) {
                free(b);
                return err_set(e, "%s: file too large", path);
            }
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return err_set(e, "%s: out of memory", path);
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int en = errno;
            free(b);
            return err_set(e, "%s: %s", path, strerror(en));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = b;
    *outn = n;
    return 0;
}

/* Directory part of path ("." when it has none); malloc'd or NULL. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int graph_load(const char *path, graph *g, err_t *e)
{
    graph_init(g);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int en = errno;
        close(fd);
        return err_set(e, "%s: %s", path, strerror(en));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: is a directory", path);
    }

    unsigned char *buf = NULL;  /* read() copy, or NULL when mapped */
    const unsigned char *data;
    size_t n = 0;
    void *map = MAP_FAILED;
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size > TENSOR_MAX_BYTES) {
            close(fd);
            return err_set(e, "%s: file too large (%lld bytes)", path, (long long)st.st_size);
        }
        n = (size_t)st.st_size;
        map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int en = errno;
            close(fd);
            return err_set(e, "%s: mmap: %s", path, strerror(en));
        }
        data = map;
    } else {
        if (read_all(fd, path, &buf, &n, e) < 0) {
            close(fd);
            return -1;
        }
        data = buf;
    }
    close(fd);

    if (n == 0) {
        free(buf);
        return err_set(e, "%s: empty file", path);
    }

    /* A large regular file's digest may be known from the digest cache
     * (sha256.h); else hash on a second thread while parsing, inline if
     * no thread can be made. */
    struct hash_job job = { data, n, map != MAP_FAILED, "" };
    pthread_t tid;
    int threaded = 0, cached = 0, cacheable = map != MAP_FAILED && n >= (1 << 20);
    if (cacheable && sha256_cache_get(&st, job.hex) == 0)
        cached = 1;
    else if (n >= (1 << 20) && pthread_create(&tid, NULL, hash_thread, &job) == 0)
        threaded = 1;
    else
        hash_thread(&job);

    int rc;
    char *dir = dir_of(path);
    if (!dir)
        rc = err_set(e, "out of memory");
    else if (n >= 8 && memcmp(data + 4, "TFL3", 4) == 0)
        rc = tflite_load_borrowed(data, n, g, e);
    else
        rc = onnx_load_borrowed(data, n, dir, g, e);
    free(dir);

    if (threaded)
        pthread_join(tid, NULL);
    if (rc == 0) {
        /* constants point into the file: the graph keeps it */
        g->file = data;
        g->file_len = n;
        g->file_mapped = map != MAP_FAILED;
    } else {
        if (map != MAP_FAILED)
            munmap(map, n);
        free(buf);
    }

    if (rc == 0 && !job.hex[0])
        rc = err_set(e, "%s: cannot compute the sha256 of the file", path);
    if (rc < 0) {
        graph_free(g);
        /* Name the file unless the loader already did. */
        if (e && strncmp(e->msg, path, strlen(path)) != 0)
            err_prefix(e, "%s", path);
        return -1;
    }
    memcpy(g->sha256, job.hex, sizeof g->sha256);
    if (cacheable && !cached)
        sha256_cache_put(&st, job.hex);
    g->path = strdup(path);
    if (!g->path) {
        graph_free(g);
        return err_set(e, "%s: out of memory", path);
    }
    return 0;
}

/* ---------------------------------------------------------------- lookups */

int graph_find_tensor(const graph *g, const char *name)
{
    if (!g || !name)
        return -1;
    for (int i = 0; i < g->ntensors; i++)
        if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0)
            return i;
    /* TFLite tensors keep their model order: "T<index>" names tensor index. */
    if (g->format == GRAPH_TFLITE && name[0] == 'T' && name[1] >= '0' && name[1] <= '9') {
        long v = 0;
        for (const char *p = name + 1; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            if (p > name + 1 && name[1] == '0')
                return -1;              /* no leading zeros: "T01" is not T1 */
            v = v * 10 + (*p - '0');
            if (v >= g->ntensors)
                return -1;
        }
        return (int)v;
    }
    return -1;
}

const char *graph_meta_get(const graph *g, const char *key)
{
    if (!g || !key)
        return NULL;
    for (int i = 0; i < g->nmeta; i++)
        if (g->meta[i].key && strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].val;
    return NULL;
}

const gattr *gnode_attr(const gnode *n, const char *name)
{
    if (!n || !name)
        return NULL;
    for (int k = 0; k < n->nattr; k++)
        if (n->attr[k].name && strcmp(n->attr[k].name, name) == 0)
            return &n->attr[k];
    return NULL;
}

int64_t gnode_attr_int(const gnode *n, const char *name, int64_t dflt)
{
    const gattr *a = gnode_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : dflt;
}

float gnode_attr_float(const gnode *n, const char *name, float dflt)
{
    const gattr *a = gnode_attr(n, name);
    if (!a)
        return dflt;
    if (a->type == ATTR_FLOAT)
        return a->f;
    if (a->type == ATTR_INT)
        return (float)a->i;
    return dflt;
}

const char *gnode_attr_str(const gnode *n, const char *name, const char *dflt)
{
    const gattr *a = gnode_attr(n, name);
    return a && a->type == ATTR_STRING && a->s ? a->s : dflt;
}

int graph_producer(const graph *g, int ti)
{
    if (!g || ti < 0 || ti >= g->ntensors)
        return -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i].nout; k++)
            if (g->nodes[i].out[k] == ti)
                return i;
    return -1;
}
