/* npy.c - NumPy .npy files <-> tensor records (see npy.h).
 *
 * File layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0,
 * u32 LE for 2.0 and 3.0), then the header: a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1024, 7, 7), }
 * padded with spaces and a newline, then the raw array bytes.
 * We write the header exactly as NumPy >= 1.24 does (keys sorted, spare
 * room after the shape, total aligned to 64 bytes), so that a file read
 * and written back is byte-identical.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "npy.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21

static const struct {
    int dt;
    char kind;
    int size;
    const char *descr;      /* as written */
} npy_types[] = {
    { DT_F32, 'f', 4, "<f4" }, { DT_F16, 'f', 2, "<f2" }, { DT_F64, 'f', 8, "<f8" },
    { DT_U8, 'u', 1, "|u1" },  { DT_I8, 'i', 1, "|i1" },  { DT_U16, 'u', 2, "<u2" },
    { DT_I16, 'i', 2, "<i2" }, { DT_I32, 'i', 4, "<i4" }, { DT_I64, 'i', 8, "<i8" },
    { DT_BOOL, 'b', 1, "|b1" },
};
#define NTYPES (sizeof npy_types / sizeof npy_types[0])

/* ---------------------------------------------------------------- header parser */

typedef struct {
    const char *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, into out (NUL-terminated). */
static int pystr(cur *c, char *out, size_t outsz)
{
    char q;
    size_t n = 0;
    ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= outsz)
            return -1;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    out[n] = '\0';
    return 0;
}

static int word(cur *c, const char *w)
{
    size_t n = strlen(w);
    ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; ints may carry an L. */
static int pytuple(cur *c, int *ndim, int64_t *dims, err_t *e)
{
    int n = 0;
    if (!eat(c, '('))
        return err_set(e, "npy header: 'shape' is not a tuple");
    for (;;) {
        int64_t d = 0;
        const char *s;
        if (eat(c, ')'))
            break;
        ws(c);
        s = c->p;
        if (c->p < c->end && *c->p == '-')
            return err_set(e, "npy header: shape dimension %d is negative", n);
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (d > (INT64_MAX - (*c->p - '0')) / 10)
                return err_set(e, "npy header: shape dimension %d is too large", n);
            d = d * 10 + (*c->p - '0');
            c->p++;
        }
        if (c->p == s)
            return err_set(e, "npy header: shape dimension %d is not a number", n);
        if (c->p < c->end && *c->p == 'L')
            c->p++;
        if (n >= TENSOR_MAXDIM)
            return err_set(e, "npy header: more than %d dimensions", TENSOR_MAXDIM);
        dims[n++] = d;
        if (eat(c, ','))
            continue;
        if (eat(c, ')'))
            break;
        return err_set(e, "npy header: malformed shape tuple");
    }
    *ndim = n;
    return 0;
}

/* Maps a descr such as '<f4' to a dtype; *swap is set for big-endian. */
static int parse_descr(const char *d, int *dt, int *swap, err_t *e)
{
    char order = d[0];
    char kind;
    long size;
    char *end;
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return err_set(e, "npy header: unsupported descr '%.20s'", d);
    kind = d[1];
    if (kind == '?' && d[2] == '\0') {
        *dt = DT_BOOL;
        *swap = 0;
        return 0;
    }
    if (!kind || d[2] < '0' || d[2] > '9')
        return err_set(e, "npy header: unsupported descr '%.20s'", d);
    errno = 0;
    size = strtol(d + 2, &end, 10);
    if (errno || *end)
        return err_set(e, "npy header: unsupported descr '%.20s'", d);
    for (size_t i = 0; i < NTYPES; i++)
        if (npy_types[i].kind == kind && npy_types[i].size == size) {
            *dt = npy_types[i].dt;
            *swap = order == '>' && size > 1;
            return 0;
        }
    return err_set(e, "npy: dtype '%.20s' is not supported (f2 f4 f8 u1 i1 u2 i2 i4 i8 b1)", d);
}

static void byteswap(unsigned char *p, size_t n, size_t es)
{
    for (size_t i = 0; i < n; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Fortran-ordered src (column-major over dims) to C order in dst. */
static void fortran_to_c(const unsigned char *src, unsigned char *dst, int ndim,
                         const int64_t *dims, size_t numel, size_t es)
{
    size_t fstride[TENSOR_MAXDIM];
    int64_t idx[TENSOR_MAXDIM] = { 0 };
    size_t off = 0, s = 1;
    for (int i = 0; i < ndim; i++) {
        fstride[i] = s;
        s *= (size_t)dims[i];
    }
    for (size_t k = 0; k < numel; k++) {
        memcpy(dst + k * es, src + off * es, es);
        for (int i = ndim - 1; i >= 0; i--) {   /* C order: last index fastest */
            if (++idx[i] < dims[i]) {
                off += fstride[i];
                break;
            }
            off -= fstride[i] * (size_t)(dims[i] - 1);
            idx[i] = 0;
        }
    }
}

int npy_parse(const void *buf, size_t n, tensor *t, err_t *e)
{
    const unsigned char *b = buf;
    size_t hlen, hstart, numel_sz, es, nbytes;
    int major, have_descr = 0, have_fo = 0, have_shape = 0, fortran = 0, swap = 0;
    int dt = DT_NONE, ndim = 0;
    int64_t dims[TENSOR_MAXDIM] = { 0 };
    char key[32], descr[32];
    cur c;
    tensor tmp;

    tensor_free(t);
    if (n < 10 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return err_set(e, "not a .npy file (bad magic)");
    major = b[6];
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12)
            return err_set(e, "npy: file truncated in the preamble");
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return err_set(e, "npy: unsupported format version %d.%d", major, b[7]);
    }
    if (hlen > n - hstart)
        return err_set(e, "npy: header truncated (%zu of %zu bytes)", n - hstart, hlen);

    c.p = (const char *)b + hstart;
    c.end = c.p + hlen;
    if (!eat(&c, '{'))
        return err_set(e, "npy header: not a dict");
    for (;;) {
        if (eat(&c, '}'))
            break;
        if (pystr(&c, key, sizeof key) < 0)
            return err_set(e, "npy header: bad key");
        if (!eat(&c, ':'))
            return err_set(e, "npy header: missing ':' after '%s'", key);
        if (strcmp(key, "descr") == 0) {
            if (have_descr++)
                return err_set(e, "npy header: duplicate key 'descr'");
            if (pystr(&c, descr, sizeof descr) < 0)
                return err_set(e, "npy header: 'descr' is not a simple type string");
            if (parse_descr(descr, &dt, &swap, e) < 0)
                return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fo++)
                return err_set(e, "npy header: duplicate key 'fortran_order'");
            if (word(&c, "True"))
                fortran = 1;
            else if (word(&c, "False"))
                fortran = 0;
            else
                return err_set(e, "npy header: 'fortran_order' is not True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return err_set(e, "npy header: duplicate key 'shape'");
            if (pytuple(&c, &ndim, dims, e) < 0)
                return -1;
        } else {
            return err_set(e, "npy header: unexpected key '%s'", key);
        }
        if (eat(&c, ','))
            continue;
        if (eat(&c, '}'))
            break;
        return err_set(e, "npy header: expected ',' or '}'");
    }
    ws(&c);
    if (c.p != c.end)
        return err_set(e, "npy header: text after the dict");
    if (!have_descr || !have_fo || !have_shape)
        return err_set(e, "npy header: missing key '%s'",
                       !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");

    tensor_init(&tmp);
    tmp.ndim = ndim;
    memcpy(tmp.dims, dims, sizeof dims);
    {
        int64_t numel = tensor_numel(&tmp);
        es = dtype_size(dt);
        if (numel < 0 || (uint64_t)numel > TENSOR_MAX_BYTES / es)
            return err_set(e, "npy: shape too large (overflow or more than 4 GiB)");
        numel_sz = (size_t)numel;
    }
    nbytes = numel_sz * es;
    if (n - hstart - hlen < nbytes)
        return err_set(e, "npy: data truncated (got %zu of %zu bytes)", n - hstart - hlen, nbytes);
    if (n - hstart - hlen > nbytes)
        return err_set(e, "npy: %zu bytes after the array data", n - hstart - hlen - nbytes);

    if (tensor_alloc(t, "", dt, ndim, dims, NULL, e) < 0)
        return -1;
    if (fortran && ndim > 1)
        fortran_to_c(b + hstart + hlen, t->data, ndim, dims, numel_sz, es);
    else if (nbytes)
        memcpy(t->data, b + hstart + hlen, nbytes);
    if (swap)
        byteswap(t->data, numel_sz, es);
    return 0;
}

int npy_read_file(const char *path, tensor *t, err_t *e)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (!f)
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        size_t k;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *p;
            if (cap > TENSOR_MAX_BYTES + 65536 * 4) {
                free(buf);
                fclose(f);
                return err_set(e, "%s: file too large", path);
            }
            if (!(p = realloc(buf, ncap))) {
                free(buf);
                fclose(f);
                return err_set(e, "%s: out of memory", path);
            }
            buf = p;
            cap = ncap;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return err_set(e, "%s: read error", path);
    }
    fclose(f);
    rc = npy_parse(buf, n, t, e);
    free(buf);
    if (rc < 0)
        return err_prefix(e, "%s", path);
    return 0;
}

/* ---------------------------------------------------------------- writer */

int npy_format(const tensor *t, void **out, size_t *outlen, err_t *e)
{
    char hdr[512], shape[256];
    const char *descr = NULL;
    size_t hl, pre, pad, total, sl = 0;
    int64_t numel = tensor_numel(t);
    unsigned char *p;

    *out = NULL;
    *outlen = 0;
    for (size_t i = 0; i < NTYPES; i++)
        if (npy_types[i].dt == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return err_set(e, "npy: cannot store dtype %s", dtype_name(t->dtype));
    if (numel < 0 || t->nbytes != (size_t)numel * dtype_size(t->dtype) || (t->nbytes && !t->data))
        return err_set(e, "npy: payload does not match the shape");

    sl += (size_t)snprintf(shape, sizeof shape, "(");
    for (int i = 0; i < t->ndim; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, i ? ", %lld" : "%lld",
                               (long long)t->dims[i]);
    snprintf(shape + sl, sizeof shape - sl, t->ndim == 1 ? ",)" : ")");
    hl = (size_t)snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                          descr, shape);
    if (t->ndim > 0) {
        /* NumPy's spare room for growing the first axis in place. */
        char d0[32];
        int dl = snprintf(d0, sizeof d0, "%lld", (long long)t->dims[0]);
        for (int i = dl; i < NPY_GROWTH_DIGITS; i++)
            hdr[hl++] = ' ';
    }
    pre = NPY_MAGIC_LEN + 2 + 2;
    pad = NPY_ALIGN - (pre + hl + 1) % NPY_ALIGN;
    if (pad == NPY_ALIGN)
        pad = 0;
    if (hl + pad + 1 > 65535) {
        pre = NPY_MAGIC_LEN + 2 + 4;
        pad = NPY_ALIGN - (pre + hl + 1) % NPY_ALIGN;
        if (pad == NPY_ALIGN)
            pad = 0;
    }
    total = pre + hl + pad + 1 + t->nbytes;
    if (!(p = malloc(total)))
        return err_set(e, "out of memory");
    memcpy(p, NPY_MAGIC, NPY_MAGIC_LEN);
    {
        size_t h = hl + pad + 1;
        p[6] = pre == 10 ? 1 : 2;
        p[7] = 0;
        p[8] = (unsigned char)h;
        p[9] = (unsigned char)(h >> 8);
        if (pre == 12) {
            p[10] = (unsigned char)(h >> 16);
            p[11] = (unsigned char)(h >> 24);
        }
    }
    memcpy(p + pre, hdr, hl);
    memset(p + pre + hl, ' ', pad);
    p[pre + hl + pad] = '\n';
    if (t->nbytes)
        memcpy(p + pre + hl + pad + 1, t->data, t->nbytes);
    *out = p;
    *outlen = total;
    return 0;
}

int npy_write_file(const char *path, const tensor *t, err_t *e)
{
    void *buf;
    size_t n;
    FILE *f;
    int rc = 0;

    if (npy_format(t, &buf, &n, e) < 0)
        return -1;
    if (!(f = fopen(path, "wb"))) {
        free(buf);
        return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    }
    if (fwrite(buf, 1, n, f) != n)
        rc = err_set(e, "%s: write error: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, "%s: write error: %s", path, strerror(errno));
    free(buf);
    return rc;
}
