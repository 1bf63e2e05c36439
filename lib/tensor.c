/* tensor.c - in-memory tensor records: shape, metadata, dtype conversion
 * (see tensor.h and cam-tensor(5)). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensor.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[DT_COUNT] = {
    [DT_NONE] = { "none", 0 },
    [DT_F32]  = { "f32", 4 },
    [DT_F16]  = { "f16", 2 },
    [DT_F64]  = { "f64", 8 },
    [DT_U8]   = { "u8", 1 },
    [DT_I8]   = { "i8", 1 },
    [DT_U16]  = { "u16", 2 },
    [DT_I16]  = { "i16", 2 },
    [DT_I32]  = { "i32", 4 },
    [DT_I64]  = { "i64", 8 },
    [DT_BOOL] = { "bool", 1 },
};

size_t dtype_size(int dt)
{
    return dt > DT_NONE && dt < DT_COUNT ? dtypes[dt].size : 0;
}

const char *dtype_name(int dt)
{
    return dt > DT_NONE && dt < DT_COUNT ? dtypes[dt].name : "none";
}

int dtype_parse(const char *s)
{
    if (!s)
        return DT_NONE;
    for (int i = DT_NONE + 1; i < DT_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0)
            return i;
    return DT_NONE;
}

int64_t tensor_numel(const tensor *t)
{
    int64_t n = 1;
    if (t->ndim < 0 || t->ndim > TENSOR_MAXDIM)
        return -1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0)
            return -1;
        if (t->dims[i] == 0)
            n = 0;
    }
    if (n == 0)
        return 0;   /* a zero dimension: empty, however large the others */
    for (int i = 0; i < t->ndim; i++) {
        if (n > INT64_MAX / t->dims[i])
            return -1;
        n *= t->dims[i];
    }
    return n;
}

void tensor_init(tensor *t)
{
    memset(t, 0, sizeof *t);
}

void tensor_free(tensor *t)
{
    if (!t)
        return;
    free(t->name);
    for (int i = 0; i < TENSOR_MAXDIM; i++)
        free(t->axes[i]);
    for (int i = 0; i < t->nmeta; i++) {
        free(t->meta[i].key);
        free(t->meta[i].val);
    }
    free(t->meta);
    free(t->data);
    tensor_init(t);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Splits a space-separated axes list into t->axes; needs exactly t->ndim
 * names (an empty list is allowed for any ndim and means "no names"). */
static int set_axes(tensor *t, const char *axes, err_t *e)
{
    const char *p = axes;
    int n = 0;
    char *tmp[TENSOR_MAXDIM] = { 0 };

    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    while (*p) {
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (n >= t->ndim) {
            for (int i = 0; i < n; i++) free(tmp[i]);
            return err_set(e, "axes '%s': more names than the %d dimensions", axes, t->ndim);
        }
        if (memchr(p, '\n', (size_t)(q - p))) {
            for (int i = 0; i < n; i++) free(tmp[i]);
            return err_set(e, "axes: a name contains a newline");
        }
        tmp[n] = malloc((size_t)(q - p) + 1);
        if (!tmp[n]) {
            for (int i = 0; i < n; i++) free(tmp[i]);
            return err_set(e, "out of memory");
        }
        memcpy(tmp[n], p, (size_t)(q - p));
        tmp[n][q - p] = '\0';
        n++;
        p = q;
        while (*p == ' ')
            p++;
    }
    if (n != t->ndim) {
        for (int i = 0; i < n; i++) free(tmp[i]);
        return err_set(e, "axes '%s': %d names for %d dimensions", axes, n, t->ndim);
    }
    for (int i = 0; i < n; i++) {
        free(t->axes[i]);
        t->axes[i] = tmp[i];
    }
    return 0;
}

int tensor_describe(tensor *t, const char *name, int dtype, int ndim, const int64_t *dims,
                    const char *axes, err_t *e)
{
    int64_t numel;
    size_t es = dtype_size(dtype);

    tensor_free(t);
    if (!es)
        return err_set(e, "unknown dtype %d", dtype);
    if (ndim < 0 || ndim > TENSOR_MAXDIM)
        return err_set(e, "%d dimensions (at most %d)", ndim, TENSOR_MAXDIM);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    numel = tensor_numel(t);
    if (numel < 0 || (uint64_t)numel > TENSOR_MAX_BYTES / es) {
        tensor_free(t);
        return err_set(e, numel < 0 ? "shape: negative dimension or size overflow"
                                    : "shape: payload larger than the 4 GiB cap");
    }
    t->nbytes = (size_t)numel * es;
    t->name = xstrdup(name ? name : "");
    if (!t->name) {
        tensor_free(t);
        return err_set(e, "out of memory");
    }
    if (axes && set_axes(t, axes, e) < 0) {
        tensor_free(t);
        return -1;
    }
    return 0;
}

int tensor_alloc(tensor *t, const char *name, int dtype, int ndim, const int64_t *dims,
                 const char *axes, err_t *e)
{
    if (tensor_describe(t, name, dtype, ndim, dims, axes, e) < 0)
        return -1;
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    if (!t->data) {
        tensor_free(t);
        return err_set(e, "out of memory");
    }
    return 0;
}

int tensor_copy(tensor *dst, const tensor *src, err_t *e)
{
    tensor_init(dst);
    dst->name = xstrdup(src->name ? src->name : "");
    dst->dtype = src->dtype;
    dst->ndim = src->ndim;
    memcpy(dst->dims, src->dims, sizeof dst->dims);
    dst->data = malloc(src->nbytes ? src->nbytes : 1);
    if (!dst->name || !dst->data)
        goto oom;
    if (src->nbytes)
        memcpy(dst->data, src->data, src->nbytes);
    dst->nbytes = src->nbytes;
    for (int i = 0; i < TENSOR_MAXDIM; i++)
        if (src->axes[i] && !(dst->axes[i] = xstrdup(src->axes[i])))
            goto oom;
    if (tensor_meta_copy(dst, src, e) < 0) {
        tensor_free(dst);
        return -1;
    }
    return 0;
oom:
    tensor_free(dst);
    return err_set(e, "out of memory");
}

/* ---------------------------------------------------------------- metadata */

static int key_ok(const char *k)
{
    if (!k || !*k)
        return 0;
    for (; *k; k++) {
        char c = *k;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Keys that are header fields, not free metadata. */
static int key_reserved(const char *k)
{
    return !strcmp(k, "name") || !strcmp(k, "dtype") || !strcmp(k, "shape") ||
           !strcmp(k, "axes") || !strcmp(k, "ENDHDR");
}

const char *tensor_meta_get(const tensor *t, const char *key)
{
    for (int i = 0; i < t->nmeta; i++)
        if (strcmp(t->meta[i].key, key) == 0)
            return t->meta[i].val;
    return NULL;
}

int tensor_meta_set(tensor *t, const char *key, const char *val, err_t *e)
{
    char *v;
    if (!key_ok(key))
        return err_set(e, "metadata key '%s': not of the form [A-Za-z0-9_.-]+", key ? key : "");
    if (key_reserved(key))
        return err_set(e, "metadata key '%s' is reserved for the header", key);
    if (!val)
        val = "";
    if (strchr(val, '\n'))
        return err_set(e, "metadata '%s': value contains a newline", key);
    if (!(v = xstrdup(val)))
        return err_set(e, "out of memory");
    for (int i = 0; i < t->nmeta; i++)
        if (strcmp(t->meta[i].key, key) == 0) {
            free(t->meta[i].val);
            t->meta[i].val = v;
            return 0;
        }
    {
        tensor_kv *m = realloc(t->meta, ((size_t)t->nmeta + 1) * sizeof *m);
        char *k = xstrdup(key);
        if (!m || !k) {
            if (m)
                t->meta = m;
            free(k);
            free(v);
            return err_set(e, "out of memory");
        }
        t->meta = m;
        m[t->nmeta].key = k;
        m[t->nmeta].val = v;
        t->nmeta++;
    }
    return 0;
}

int tensor_meta_setf(tensor *t, const char *key, err_t *e, const char *fmt, ...)
{
    va_list ap;
    int n;
    char buf[256], *p = buf;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set(e, "metadata '%s': formatting failed", key);
    if ((size_t)n >= sizeof buf) {
        if (!(p = malloc((size_t)n + 1)))
            return err_set(e, "out of memory");
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    n = tensor_meta_set(t, key, p, e);
    if (p != buf)
        free(p);
    return n;
}

int tensor_meta_del(tensor *t, const char *key)
{
    for (int i = 0; i < t->nmeta; i++)
        if (strcmp(t->meta[i].key, key) == 0) {
            free(t->meta[i].key);
            free(t->meta[i].val);
            memmove(&t->meta[i], &t->meta[i + 1], (size_t)(t->nmeta - i - 1) * sizeof *t->meta);
            t->nmeta--;
            return 0;
        }
    return -1;
}

int tensor_meta_copy(tensor *dst, const tensor *src, err_t *e)
{
    for (int i = 0; i < src->nmeta; i++)
        if (tensor_meta_set(dst, src->meta[i].key, src->meta[i].val, e) < 0)
            return -1;
    return 0;
}

int tensor_meta_long(const tensor *t, const char *key, long *out)
{
    const char *v = tensor_meta_get(t, key);
    char *end;
    long x;
    if (!v || !*v)
        return -1;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

int tensor_meta_double(const tensor *t, const char *key, double *out)
{
    const char *v = tensor_meta_get(t, key);
    char *end;
    double x;
    if (!v || !*v)
        return -1;
    errno = 0;
    x = strtod(v, &end);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

/* ---------------------------------------------------------------- f16 */

uint16_t f32_to_f16(float f)
{
    uint32_t x, ax, sign, m;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {                      /* Inf or NaN */
        if (ax == 0x7f800000u)
            return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));   /* quiet NaN */
    }
    if (ax >= 0x477ff000u)                        /* >= 65520: rounds to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) {                      /* normal half */
        uint32_t h = ((ax >> 23) - 112u) << 10 | ((ax >> 13) & 0x3ffu);
        uint32_t rem = ax & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++;                                  /* may carry into the exponent: fine */
        return (uint16_t)(sign | h);
    }
    if (ax <= 0x33000000u)                        /* <= 2^-25: rounds to zero */
        return (uint16_t)sign;
    {                                             /* subnormal half */
        uint32_t e = ax >> 23, shift = 126u - e;  /* 14..24 */
        uint32_t h, rem, half;
        m = (ax & 0x7fffffu) | 0x800000u;
        h = m >> shift;
        rem = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    float f;
    if (e == 0) {
        if (m == 0) {
            x = sign;
        } else {
            int ex = 1;
            while (!(m & 0x400u)) {
                m <<= 1;
                ex--;
            }
            x = sign | (uint32_t)(ex + 112) << 23 | (m & 0x3ffu) << 13;
        }
    } else if (e == 31) {
        x = sign | 0x7f800000u | m << 13;
    } else {
        x = sign | (e + 112u) << 23 | m << 13;
    }
    memcpy(&f, &x, 4);
    return f;
}

int tensor_to_f32(tensor *t, err_t *e)
{
    int64_t numel = tensor_numel(t);
    size_t n, i;
    float *out;
    const unsigned char *p = t->data;

    if (t->dtype == DT_F32)
        return 0;
    if (!dtype_size(t->dtype))
        return err_set(e, "record '%s': unknown dtype", t->name ? t->name : "");
    if (numel < 0 || (uint64_t)numel > TENSOR_MAX_BYTES / 4)
        return err_set(e, "record '%s': too large to convert to f32", t->name ? t->name : "");
    n = (size_t)numel;
    if (t->nbytes != n * dtype_size(t->dtype))
        return err_set(e, "record '%s': payload size does not match its shape",
                       t->name ? t->name : "");
    if (!(out = malloc(n ? n * 4 : 1)))
        return err_set(e, "out of memory");
    for (i = 0; i < n; i++) {
        switch (t->dtype) {
        case DT_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = f16_to_f32(v); break; }
        case DT_F64: { double v; memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
        case DT_U8:   out[i] = (float)p[i]; break;
        case DT_I8:   out[i] = (float)(int8_t)p[i]; break;
        case DT_BOOL: out[i] = p[i] ? 1.0f : 0.0f; break;
        case DT_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = (float)v; break; }
        case DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); out[i] = (float)v; break; }
        case DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = (float)v; break; }
        case DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
        }
    }
    free(t->data);
    t->data = out;
    t->nbytes = n * 4;
    t->dtype = DT_F32;
    return 0;
}
