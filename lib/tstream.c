/* tstream.c - reading and writing the tensor stream (cam-tensor(5)).
 *
 * Reader layers:
 *   raw bytes   read(2) on a descriptor, or a memory buffer (tsr_mem);
 *   logical     plain bytes, or the output of zlib's inflate over gzip
 *               members.  A gzip member may start at the beginning of the
 *               stream, at any record boundary, or right after another
 *               member; the decompressed bytes are simply the stream.
 *   records     header lines, then exactly the payload the header promises.
 *
 * We drive inflate ourselves instead of using gzread: gzread fills its
 * whole input buffer before returning, so on a pipe a small record would sit
 * unread until 8 KiB more arrived.  Here every read(2) result is passed on at
 * once, so a record is delivered as soon as its last byte arrives, and the
 * memory reader used by the fuzzer runs exactly the same code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#define ZLIB_CONST
#include <zlib.h>
#include "tstream.h"

#define RAWBUF   65536
#define INFBUF   65536
#define DEFBUF   65536
#define PAYLOAD_FIRST_ALLOC ((size_t)1 << 16)

enum { GZ_PLAIN = 0, GZ_MEMBER = 1, GZ_ENDED = 2 };

struct tsr {
    int fd, own_fd;
    const unsigned char *mem;      /* tsr_mem: the whole input */
    size_t memlen;
    unsigned char *rawbuf;         /* descriptor input */
    const unsigned char *rp;       /* raw bytes not yet consumed */
    size_t ravail;
    int raw_eof;
    int gz;                        /* GZ_* */
    int zinit;
    z_stream zs;
    unsigned char *inf;            /* inflate output */
    const unsigned char *lp;       /* logical bytes not yet consumed */
    size_t lavail;
    long index;
    int failed;
    char *label;
    char *hdr;                     /* raw text of the last header */
    size_t hdrlen, hdrcap;
};

/* "label: record N: message" */
__attribute__((format(printf, 3, 4)))
static int rerr(const tsr *r, err_t *e, const char *fmt, ...)
{
    if (e) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        err_set(e, "%s: record %ld: %s", r->label, r->index, msg);
    }
    return -1;
}

/* ---------------------------------------------------------------- raw layer */

/* Makes raw bytes available.  1: ravail > 0, 0: end of input, -1: error. */
static int raw_fill(tsr *r, err_t *e)
{
    if (r->ravail)
        return 1;
    if (r->raw_eof)
        return 0;
    if (r->mem) {
        r->rp = r->mem;
        r->ravail = r->memlen;
        r->raw_eof = 1;
        return r->ravail ? 1 : 0;
    }
    for (;;) {
        ssize_t k = read(r->fd, r->rawbuf, RAWBUF);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return rerr(r, e, "read error: %s", strerror(errno));
        }
        if (k == 0) {
            r->raw_eof = 1;
            return 0;
        }
        r->rp = r->rawbuf;
        r->ravail = (size_t)k;
        return 1;
    }
}

/* Tries to have at least 2 raw bytes available (fewer only at the end of
 * input).  Returns the number available (0..), or -1 on error. */
static long raw_peek2(tsr *r, err_t *e)
{
    while (r->ravail < 2 && !r->raw_eof) {
        if (r->mem || r->ravail == 0) {
            if (raw_fill(r, e) < 0)
                return -1;
            continue;
        }
        memmove(r->rawbuf, r->rp, r->ravail);
        r->rp = r->rawbuf;
        for (;;) {
            ssize_t k = read(r->fd, r->rawbuf + r->ravail, RAWBUF - r->ravail);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                return rerr(r, e, "read error: %s", strerror(errno));
            }
            if (k == 0)
                r->raw_eof = 1;
            r->ravail += (size_t)k;
            break;
        }
    }
    return (long)r->ravail;
}

static int is_gzip_magic(const unsigned char *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static int start_member(tsr *r, err_t *e)
{
    int zr;
    if (!r->zinit) {
        memset(&r->zs, 0, sizeof r->zs);
        zr = inflateInit2(&r->zs, 16 + MAX_WBITS);
        if (zr != Z_OK)
            return rerr(r, e, "zlib initialisation failed (%d)", zr);
        r->zinit = 1;
    } else if ((zr = inflateReset(&r->zs)) != Z_OK) {
        return rerr(r, e, "zlib reset failed (%d)", zr);
    }
    if (!r->inf && !(r->inf = malloc(INFBUF)))
        return rerr(r, e, "out of memory");
    r->gz = GZ_MEMBER;
    return 0;
}

/* ---------------------------------------------------------------- logical layer */

/* Makes logical bytes available.  1: lavail > 0, 0: end, -1: error. */
static int fill(tsr *r, err_t *e)
{
    while (!r->lavail) {
        if (r->gz == GZ_ENDED) {
            /* After a gzip member: another member, plain bytes, or the end. */
            long n = raw_peek2(r, e);
            if (n < 0)
                return -1;
            if (is_gzip_magic(r->rp, (size_t)n)) {
                if (start_member(r, e) < 0)
                    return -1;
            } else {
                r->gz = GZ_PLAIN;
            }
            continue;
        }
        if (r->gz == GZ_PLAIN) {
            /* Plain: hand the raw buffer over as it is (no copy). */
            int rc = raw_fill(r, e);
            if (rc <= 0)
                return rc;
            r->lp = r->rp;
            r->lavail = r->ravail;
            r->rp += r->ravail;
            r->ravail = 0;
            return 1;
        }
        /* Inside a gzip member. */
        {
            int rc, zr;
            size_t used, got;
            if (!r->ravail) {
                rc = raw_fill(r, e);
                if (rc < 0)
                    return -1;
                if (rc == 0)
                    return rerr(r, e, "compressed stream cut short");
            }
            r->zs.next_in = r->rp;
            r->zs.avail_in = r->ravail > UINT32_MAX ? UINT32_MAX : (uInt)r->ravail;
            r->zs.next_out = r->inf;
            r->zs.avail_out = INFBUF;
            zr = inflate(&r->zs, Z_NO_FLUSH);
            used = (size_t)(r->zs.next_in - r->rp);
            got = INFBUF - r->zs.avail_out;
            r->rp += used;
            r->ravail -= used;
            if (zr == Z_STREAM_END) {
                r->gz = GZ_ENDED;
            } else if (zr == Z_BUF_ERROR) {
                if (!used && !got && r->ravail)
                    return rerr(r, e, "compressed data corrupt (no progress)");
            } else if (zr != Z_OK) {
                return rerr(r, e, "compressed data corrupt (%s)",
                            r->zs.msg ? r->zs.msg : "zlib error");
            }
            if (got) {
                r->lp = r->inf;
                r->lavail = got;
            }
        }
    }
    return 1;
}

/* Next logical byte: 0..255, -1 at the end, -2 on error. */
static int getb(tsr *r, err_t *e)
{
    if (!r->lavail) {
        int rc = fill(r, e);
        if (rc < 0)
            return -2;
        if (rc == 0)
            return -1;
    }
    r->lavail--;
    return *r->lp++;
}

/* At a record boundary in plain mode: switch to gzip when a member starts
 * here.  (A record cannot start with 0x1f, so this is unambiguous.) */
static int boundary(tsr *r, err_t *e)
{
    long n;
    if (r->gz != GZ_PLAIN)
        return 0;
    if (r->lavail >= 2) {
        if (!is_gzip_magic(r->lp, r->lavail))
            return 0;
    }
    /* In plain mode the logical bytes are the tail of the raw buffer: give
     * them back and look at the raw bytes. */
    if (r->lavail) {
        r->rp = r->lp;
        r->ravail = r->lavail;
        r->lavail = 0;
    }
    if ((n = raw_peek2(r, e)) < 0)
        return -1;
    if (is_gzip_magic(r->rp, (size_t)n))
        return start_member(r, e);
    return 0;
}

/* ---------------------------------------------------------------- reader */

static tsr *tsr_new(const char *label, err_t *e)
{
    tsr *r = calloc(1, sizeof *r);
    if (!r || !(r->label = strdup(label))) {
        free(r);
        err_set(e, "out of memory");
        return NULL;
    }
    r->fd = -1;
    return r;
}

tsr *tsr_open(const char *path, err_t *e)
{
    int fd;
    tsr *r;
    if (!path || strcmp(path, "-") == 0)
        return tsr_fdopen(0, 0, "stdin", e);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (!(r = tsr_fdopen(fd, 1, path, e)))
        close(fd);
    return r;
}

tsr *tsr_fdopen(int fd, int own_fd, const char *label, err_t *e)
{
    tsr *r = tsr_new(label ? label : "stdin", e);
    if (!r)
        return NULL;
    if (!(r->rawbuf = malloc(RAWBUF))) {
        tsr_close(r);
        err_set(e, "out of memory");
        return NULL;
    }
    r->fd = fd;
    r->own_fd = own_fd;
    return r;
}

tsr *tsr_fdopen_prefix(int fd, int own_fd, const void *prefix, size_t n, const char *label,
                       err_t *e)
{
    tsr *r = tsr_new(label ? label : "stdin", e);
    if (!r)
        return NULL;
    if (!(r->rawbuf = malloc(n > RAWBUF ? n : RAWBUF))) {
        tsr_close(r);
        err_set(e, "out of memory");
        return NULL;
    }
    if (n)
        memcpy(r->rawbuf, prefix, n);
    r->rp = r->rawbuf;
    r->ravail = n;
    r->fd = fd;
    r->own_fd = own_fd;
    return r;
}

tsr *tsr_mem(const void *buf, size_t n, err_t *e)
{
    tsr *r = tsr_new("memory", e);
    if (!r)
        return NULL;
    r->mem = buf ? buf : (const void *)"";
    r->memlen = buf ? n : 0;
    return r;
}

long tsr_index(const tsr *r)
{
    return r->index;
}

const char *tsr_label(const tsr *r)
{
    return r->label;
}

const char *tsr_header(const tsr *r, size_t *len)
{
    if (len)
        *len = r->hdrlen;
    return r->hdr ? r->hdr : "";
}

void tsr_close(tsr *r)
{
    if (!r)
        return;
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    if (r->zinit)
        inflateEnd(&r->zs);
    free(r->rawbuf);
    free(r->inf);
    free(r->label);
    free(r->hdr);
    free(r);
}

static int hdr_put(tsr *r, int c, err_t *e)
{
    if (r->hdrlen >= TSTREAM_MAX_HEADER)
        return rerr(r, e, "header too long (more than %d bytes)", TSTREAM_MAX_HEADER);
    if (r->hdrlen + 1 >= r->hdrcap) {
        size_t cap = r->hdrcap ? r->hdrcap * 2 : 1024;
        char *p;
        if (cap > TSTREAM_MAX_HEADER + 1)
            cap = TSTREAM_MAX_HEADER + 1;
        if (!(p = realloc(r->hdr, cap)))
            return rerr(r, e, "out of memory");
        r->hdr = p;
        r->hdrcap = cap;
    }
    r->hdr[r->hdrlen++] = (char)c;
    r->hdr[r->hdrlen] = '\0';
    return 0;
}

static int key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Parses the value of a shape line into t->ndim, t->dims. */
static int parse_shape(tsr *r, const char *v, tensor *t, err_t *e)
{
    const char *p = v;
    int n = 0;
    while (*p == ' ')
        p++;
    while (*p) {
        int64_t d = 0;
        const char *q = p;
        if (n >= TENSOR_MAXDIM)
            return rerr(r, e, "field 'shape': more than %d dimensions", TENSOR_MAXDIM);
        if (*q == '-' && q[1] >= '0' && q[1] <= '9')
            return rerr(r, e, "field 'shape': dimension %d is negative", n);
        while (*q >= '0' && *q <= '9') {
            if (d > (INT64_MAX - (*q - '0')) / 10)
                return rerr(r, e, "field 'shape': dimension %d is too large", n);
            d = d * 10 + (*q - '0');
            q++;
        }
        if (q == p || (*q && *q != ' '))
            return rerr(r, e, "field 'shape': dimension %d is not a number", n);
        t->dims[n++] = d;
        p = q;
        while (*p == ' ')
            p++;
    }
    t->ndim = n;
    return 0;
}

/* Splits the value of an axes line into t->axes (after the shape is known). */
static int parse_axes(tsr *r, const char *v, tensor *t, err_t *e)
{
    const char *p = v;
    int n = 0;
    while (*p == ' ')
        p++;
    while (*p) {
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (n < t->ndim) {
            if (!(t->axes[n] = strndup(p, (size_t)(q - p))))
                return rerr(r, e, "out of memory");
        }
        n++;
        p = q;
        while (*p == ' ')
            p++;
    }
    if (n != t->ndim)
        return rerr(r, e, "field 'axes': %d names for %d dimensions", n, t->ndim);
    return 0;
}

/* The metadata of a record being read: t->meta grows by doubling, and an
 * open-addressing hash of the keys finds duplicates, so that a 64 KiB header
 * of tiny keys costs linear time.  (t->meta may end up larger than
 * t->nmeta entries; tensor_meta_set only ever reallocs, so that is fine.) */
typedef struct {
    int *slot;          /* index + 1 into t->meta, 0 = empty */
    size_t nslot;       /* power of two */
    size_t cap;         /* entries allocated in t->meta */
} keyset;

static size_t key_hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* 0: added, 1: duplicate key, -1: out of memory. */
static int meta_add(keyset *ks, tensor *t, const char *key, const char *val)
{
    size_t i;
    if ((size_t)t->nmeta + 1 > ks->nslot / 2) {
        size_t n = ks->nslot ? ks->nslot * 2 : 64;
        int *slot = calloc(n, sizeof *slot);
        if (!slot)
            return -1;
        for (int k = 0; k < t->nmeta; k++) {
            for (i = key_hash(t->meta[k].key) & (n - 1); slot[i]; i = (i + 1) & (n - 1))
                ;
            slot[i] = k + 1;
        }
        free(ks->slot);
        ks->slot = slot;
        ks->nslot = n;
    }
    for (i = key_hash(key) & (ks->nslot - 1); ks->slot[i]; i = (i + 1) & (ks->nslot - 1))
        if (strcmp(t->meta[ks->slot[i] - 1].key, key) == 0)
            return 1;
    if ((size_t)t->nmeta == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        tensor_kv *m = realloc(t->meta, cap * sizeof *m);
        if (!m)
            return -1;
        t->meta = m;
        ks->cap = cap;
    }
    t->meta[t->nmeta].key = strdup(key);
    t->meta[t->nmeta].val = strdup(val);
    if (!t->meta[t->nmeta].key || !t->meta[t->nmeta].val) {
        free(t->meta[t->nmeta].key);
        free(t->meta[t->nmeta].val);
        return -1;
    }
    ks->slot[i] = ++t->nmeta;
    return 0;
}

/* Reads one record.  1: a record, 0: clean end, -1: error. */
static int read_record(tsr *r, tensor *t, err_t *e)
{
    static const char magic[] = TSTREAM_MAGIC "\n";
    int have_name = 0, have_dtype = 0, have_shape = 0, lineno = 1;
    char *axes = NULL;
    keyset keys = { NULL, 0, 0 };
    size_t i, line0;
    int64_t numel;
    size_t es, nbytes, got, cap;
    unsigned char *buf;

    r->hdrlen = 0;
    if (boundary(r, e) < 0)
        return -1;
    for (i = 0; i < sizeof magic - 1; i++) {
        int c = getb(r, e);
        if (c == -2)
            return -1;
        if (c == -1) {
            if (i == 0)
                return 0;
            return rerr(r, e, "header truncated (in the magic line)");
        }
        if (c != magic[i]) {
            if (i >= sizeof TSTREAM_MAGIC - 2)
                return rerr(r, e, "unsupported format version (expected '%s')", TSTREAM_MAGIC);
            if (r->index > 0)
                return rerr(r, e, "garbage after the previous record "
                                  "(expected '%s' or the end of the stream)", TSTREAM_MAGIC);
            return rerr(r, e, "wrong magic (not a tensor stream: expected '%s')", TSTREAM_MAGIC);
        }
        if (hdr_put(r, c, e) < 0)
            return -1;
    }

    for (;;) {
        char *line, *key, *val, *sp;
        int c;
        lineno++;
        line0 = r->hdrlen;
        for (;;) {
            c = getb(r, e);
            if (c == -2)
                goto fail;
            if (c == -1) {
                rerr(r, e, "header truncated (line %d, no %s line)", lineno, TSTREAM_END);
                goto fail;
            }
            if (c == 0) {
                rerr(r, e, "header line %d contains a NUL byte", lineno);
                goto fail;
            }
            if (hdr_put(r, c, e) < 0)
                goto fail;
            if (c == '\n')
                break;
        }
        line = r->hdr + line0;
        r->hdr[r->hdrlen - 1] = '\0';             /* the newline, restored below */
        sp = strchr(line, ' ');
        key = line;
        val = sp ? sp + 1 : line + strlen(line);
        if (sp)
            *sp = '\0';
        if (!sp && strcmp(key, TSTREAM_END) == 0) {
            r->hdr[r->hdrlen - 1] = '\n';
            break;
        }
        for (const char *k = key; ; k++) {
            if (!*k) {
                if (k == key) {
                    if (sp)
                        *sp = ' ';
                    rerr(r, e, "header line %d: empty key", lineno);
                    goto fail;
                }
                break;
            }
            if (!key_char((unsigned char)*k)) {
                rerr(r, e, "header line %d: bad key '%.40s'", lineno, key);
                goto fail;
            }
        }
        if (strcmp(key, TSTREAM_END) == 0) {
            rerr(r, e, "header line %d: '%s' takes no value", lineno, TSTREAM_END);
            goto fail;
        }
        if (strcmp(key, "name") == 0) {
            if (have_name++)
                goto dup;
            if (!(t->name = strdup(val)))
                goto oom;
        } else if (strcmp(key, "dtype") == 0) {
            if (have_dtype++)
                goto dup;
            if ((t->dtype = dtype_parse(val)) == DT_NONE) {
                rerr(r, e, "field 'dtype': unknown type '%.40s'", val);
                goto fail;
            }
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                goto dup;
            if (parse_shape(r, val, t, e) < 0)
                goto fail;
        } else if (strcmp(key, "axes") == 0) {
            if (axes)
                goto dup;
            if (!(axes = strdup(val)))
                goto oom;
        } else {
            int rc = meta_add(&keys, t, key, val);
            if (rc == 1)
                goto dup;
            if (rc < 0)
                goto oom;
        }
        if (sp)
            *sp = ' ';
        r->hdr[r->hdrlen - 1] = '\n';
        continue;
dup:
        rerr(r, e, "duplicate key '%.40s' (line %d)", key, lineno);
        goto fail;
    }

    if (!have_name) {
        rerr(r, e, "field 'name' missing");
        goto fail;
    }
    if (!have_dtype) {
        rerr(r, e, "field 'dtype' missing");
        goto fail;
    }
    if (!have_shape) {
        rerr(r, e, "field 'shape' missing");
        goto fail;
    }
    if (axes) {
        if (parse_axes(r, axes, t, e) < 0)
            goto fail;
        free(axes);
        axes = NULL;
    }
    numel = tensor_numel(t);
    es = dtype_size(t->dtype);
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / es) {
        rerr(r, e, "field 'shape': byte size overflows");
        goto fail;
    }
    if ((uint64_t)numel > TENSOR_MAX_BYTES / es) {
        rerr(r, e, "field 'shape': payload of %llu bytes exceeds the %zu-byte cap",
             (unsigned long long)numel * es, (size_t)TENSOR_MAX_BYTES);
        goto fail;
    }

    /* Payload: grow the buffer as bytes arrive, so that a header promising
     * gigabytes costs memory only when the bytes really come. */
    nbytes = (size_t)numel * es;
    cap = nbytes < PAYLOAD_FIRST_ALLOC ? nbytes : PAYLOAD_FIRST_ALLOC;
    if (!(buf = malloc(cap ? cap : 1)))
        goto oom;
    t->data = buf;
    got = 0;
    while (got < nbytes) {
        size_t k;
        if (got == cap) {
            size_t ncap = cap > nbytes / 2 ? nbytes : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb)
                goto oom;
            t->data = buf = nb;
            cap = ncap;
        }
        if (!r->lavail) {
            int rc = fill(r, e);
            if (rc < 0)
                goto fail;
            if (rc == 0) {
                rerr(r, e, "payload truncated (got %zu of %zu bytes)", got, nbytes);
                goto fail;
            }
        }
        k = r->lavail < cap - got ? r->lavail : cap - got;
        memcpy(buf + got, r->lp, k);
        r->lp += k;
        r->lavail -= k;
        got += k;
    }
    t->nbytes = nbytes;
    free(keys.slot);
    return 1;

oom:
    rerr(r, e, "out of memory");
fail:
    free(axes);
    free(keys.slot);
    return -1;
}

int tsr_next(tsr *r, tensor *t, err_t *e)
{
    int rc;
    tensor_free(t);
    if (r->failed)
        return rerr(r, e, "stream unusable after an earlier error");
    rc = read_record(r, t, e);
    if (rc < 0) {
        tensor_free(t);
        r->failed = 1;
        return -1;
    }
    if (rc == 1)
        r->index++;
    return rc;
}

int tstream_sniff(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    size_t m = sizeof TSTREAM_MAGIC - 1;
    if (!p || n < 2)
        return 0;
    if (is_gzip_magic(p, n))
        return 1;
    return memcmp(p, TSTREAM_MAGIC, n < m ? n : m) == 0;
}

/* ---------------------------------------------------------------- writer */

struct tsw {
    int fd, own_fd, flags;
    int zinit;
    z_stream zs;
    unsigned char *zbuf;
    char *label;
};

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(p = realloc(b->s, cap))) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* "key value\n", or "key\n" for an empty value. */
static void sb_kv(sbuf *b, const char *k, const char *v)
{
    sb_str(b, k);
    if (v && *v) {
        sb_add(b, " ", 1);
        sb_str(b, v);
    }
    sb_add(b, "\n", 1);
}

static int key_ok(const char *k)
{
    if (!*k)
        return 0;
    for (; *k; k++)
        if (!key_char((unsigned char)*k))
            return 0;
    return 1;
}

char *tstream_format_header(const tensor *t, int dtype_out, err_t *e)
{
    sbuf b = { 0 };
    const char *name = t->name ? t->name : "";
    int naxes = 0;

    if (strchr(name, '\n')) {
        err_set(e, "record '%.40s': name contains a newline", name);
        return NULL;
    }
    if (!dtype_size(dtype_out)) {
        err_set(e, "record '%.40s': unknown dtype %d", name, dtype_out);
        return NULL;
    }
    if (t->ndim < 0 || t->ndim > TENSOR_MAXDIM) {
        err_set(e, "record '%.40s': %d dimensions (at most %d)", name, t->ndim, TENSOR_MAXDIM);
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0) {
            err_set(e, "record '%.40s': dimension %d is negative", name, i);
            return NULL;
        }
        if (t->axes[i]) {
            naxes++;
            if (!*t->axes[i] || strpbrk(t->axes[i], " \n")) {
                err_set(e, "record '%.40s': axis name %d is empty or has a space or newline",
                        name, i);
                return NULL;
            }
        }
    }
    if (naxes && naxes != t->ndim) {
        err_set(e, "record '%.40s': %d axis names for %d dimensions", name, naxes, t->ndim);
        return NULL;
    }
    for (int i = 0; i < t->nmeta; i++) {
        const char *k = t->meta[i].key, *v = t->meta[i].val ? t->meta[i].val : "";
        if (!k || !key_ok(k) || !strcmp(k, "name") || !strcmp(k, "dtype") ||
            !strcmp(k, "shape") || !strcmp(k, "axes") || !strcmp(k, TSTREAM_END)) {
            err_set(e, "record '%.40s': bad metadata key '%.40s'", name, k ? k : "");
            return NULL;
        }
        if (strchr(v, '\n')) {
            err_set(e, "record '%.40s': metadata '%.40s': value contains a newline", name, k);
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(t->meta[j].key, k) == 0) {
                err_set(e, "record '%.40s': duplicate metadata key '%.40s'", name, k);
                return NULL;
            }
    }

    sb_str(&b, TSTREAM_MAGIC "\n");
    sb_kv(&b, "name", name);
    sb_kv(&b, "dtype", dtype_name(dtype_out));
    sb_str(&b, "shape");
    for (int i = 0; i < t->ndim; i++) {
        char d[32];
        snprintf(d, sizeof d, " %lld", (long long)t->dims[i]);
        sb_str(&b, d);
    }
    sb_add(&b, "\n", 1);
    if (naxes) {
        sb_str(&b, "axes");
        for (int i = 0; i < t->ndim; i++) {
            sb_add(&b, " ", 1);
            sb_str(&b, t->axes[i]);
        }
        sb_add(&b, "\n", 1);
    }
    for (int i = 0; i < t->nmeta; i++)
        sb_kv(&b, t->meta[i].key, t->meta[i].val);
    sb_str(&b, TSTREAM_END "\n");
    if (b.oom) {
        free(b.s);
        err_set(e, "out of memory");
        return NULL;
    }
    if (b.len > TSTREAM_MAX_HEADER) {
        free(b.s);
        err_set(e, "record '%.40s': header longer than %d bytes", name, TSTREAM_MAX_HEADER);
        return NULL;
    }
    return b.s;
}

tsw *tsw_open(const char *path, int flags, err_t *e)
{
    tsw *w = calloc(1, sizeof *w);
    int zr;
    if (!w) {
        err_set(e, "out of memory");
        return NULL;
    }
    w->flags = flags;
    if (!path || strcmp(path, "-") == 0) {
        w->fd = 1;
        w->label = strdup("standard output");
    } else {
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (w->fd < 0) {
            err_set(e, "%s: cannot create: %s", path, strerror(errno));
            free(w);
            return NULL;
        }
        w->own_fd = 1;
        w->label = strdup(path);
    }
    if (!w->label)
        goto oom;
    if (flags & TSW_GZIP) {
        if (!(w->zbuf = malloc(DEFBUF)))
            goto oom;
        zr = deflateInit2(&w->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                          Z_DEFAULT_STRATEGY);
        if (zr != Z_OK) {
            err_set(e, "zlib initialisation failed (%d)", zr);
            goto fail;
        }
        w->zinit = 1;
    }
    return w;
oom:
    err_set(e, "out of memory");
fail:
    if (w->own_fd)
        close(w->fd);
    free(w->zbuf);
    free(w->label);
    free(w);
    return NULL;
}

/* Writes all of iov (modified), restarting after partial writes. */
static int write_iov(tsw *w, struct iovec *iov, int n, err_t *e)
{
    while (n > 0) {
        ssize_t k = writev(w->fd, iov, n > IOV_MAX ? IOV_MAX : n);
        if (k < 0) {
            int saved = errno;
            if (errno == EINTR)
                continue;
            err_set(e, "write error on %s: %s", w->label, strerror(saved));
            errno = saved;
            return -1;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
    return 0;
}

/* Feeds n bytes to deflate, writing what comes out; flush: Z_NO_FLUSH,
 * Z_SYNC_FLUSH (end of a record: readers see it at once) or Z_FINISH. */
static int gz_put(tsw *w, const void *buf, size_t n, int flush, err_t *e)
{
    const unsigned char *p = buf;
    do {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        int fl;
        w->zs.next_in = p;
        w->zs.avail_in = (uInt)chunk;
        p += chunk;
        n -= chunk;
        fl = n ? Z_NO_FLUSH : flush;
        do {
            struct iovec iov;
            int zr;
            w->zs.next_out = w->zbuf;
            w->zs.avail_out = DEFBUF;
            zr = deflate(&w->zs, fl);
            if (zr == Z_STREAM_ERROR)
                return err_set(e, "zlib compression failed");
            iov.iov_base = w->zbuf;
            iov.iov_len = DEFBUF - w->zs.avail_out;
            if (iov.iov_len && write_iov(w, &iov, 1, e) < 0)
                return -1;
        } while (w->zs.avail_out == 0);
    } while (n);
    return 0;
}

int tsw_write(tsw *w, const tensor *t, err_t *e)
{
    int64_t numel = tensor_numel(t);
    size_t es = dtype_size(t->dtype);
    int dtype_out = t->dtype;
    const void *payload = t->data;
    uint16_t *half = NULL;
    size_t plen = t->nbytes;
    char *hdr;
    int rc;

    if (!es)
        return err_set(e, "record '%.40s': unknown dtype", t->name ? t->name : "");
    if (numel < 0 || (uint64_t)numel > TENSOR_MAX_BYTES / es)
        return err_set(e, "record '%.40s': bad or too large shape", t->name ? t->name : "");
    if (t->nbytes != (size_t)numel * es || (t->nbytes && !t->data))
        return err_set(e, "record '%.40s': payload of %zu bytes does not match the shape",
                       t->name ? t->name : "", t->nbytes);
    if ((w->flags & TSW_F16) && t->dtype == DT_F32) {
        const float *f = t->data;
        dtype_out = DT_F16;
        plen = (size_t)numel * 2;
        if (!(half = malloc(plen ? plen : 1)))
            return err_set(e, "out of memory");
        for (size_t i = 0; i < (size_t)numel; i++)
            half[i] = f32_to_f16(f[i]);
        payload = half;
    }
    if (!(hdr = tstream_format_header(t, dtype_out, e))) {
        free(half);
        return -1;
    }
    if (w->zinit) {
        rc = gz_put(w, hdr, strlen(hdr), Z_NO_FLUSH, e);
        if (rc == 0)
            rc = gz_put(w, payload, plen, Z_SYNC_FLUSH, e);
    } else {
        struct iovec iov[2];
        iov[0].iov_base = hdr;
        iov[0].iov_len = strlen(hdr);
        iov[1].iov_base = (void *)payload;
        iov[1].iov_len = plen;
        rc = write_iov(w, iov, plen ? 2 : 1, e);
    }
    {
        int saved = errno;
        free(hdr);
        free(half);
        errno = saved;
    }
    return rc;
}

int tsw_close(tsw *w, err_t *e)
{
    int rc = 0;
    if (!w)
        return 0;
    if (w->zinit) {
        rc = gz_put(w, "", 0, Z_FINISH, e);
        deflateEnd(&w->zs);
    }
    if (w->own_fd && close(w->fd) < 0 && rc == 0)
        rc = err_set(e, "closing %s: %s", w->label, strerror(errno));
    free(w->zbuf);
    free(w->label);
    free(w);
    return rc;
}
