/* onnx.c - ONNX ModelProto / TensorProto -> the graph IR of graph.h.
 *
 * Parsing is done by protobuf-c (code generated from Debian's onnx.proto)
 * with two guards against hostile files:
 *  - a bounded allocator: the unpacked message may not take more than
 *    4 x file size + 64 MiB in total;
 *  - a pre-scan of the wire format that rejects submessages nested deeper
 *    than PB_MAX_DEPTH (protobuf-c recurses once per level, so a few bytes
 *    per level could otherwise exhaust the stack).
 *
 * Initializers' raw_data (nearly all of a model's bytes) never go through
 * protobuf-c, which would copy them: a scan of the wire format first writes
 * a copy of the model without them (a few hundred kilobytes) and notes
 * where each one lies in the file; after unpacking, each initializer's
 * raw_data is pointed at its bytes in the caller's buffer.  graph_load
 * (onnx_load_borrowed) keeps those pointers: the graph's constants point
 * into the file mapping.  onnx_load_buffer copies each payload once.  Other
 * payloads (float_data, ..., attribute tensors) are taken over from the
 * unpacked message rather than copied: the allocator hands out plain
 * malloc blocks, so the graph can own and free() them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <protobuf-c/protobuf-c.h>
#include "onnx.pb-c.h"
#include "graph.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader keeps tensor payloads in host order and assumes a little-endian host"
#endif

#define PB_MAX_DEPTH 64
#define S(x) ((x) ? (x) : "")

/* ---------------------------------------------------------------- allocator */

struct budget {
    size_t used, cap;
    int    exceeded;
};

static void *budget_alloc(void *ud, size_t n)
{
    struct budget *b = ud;
    if (n > b->cap - b->used) {
        b->exceeded = 1;
        return NULL;
    }
    b->used += n;
    return malloc(n ? n : 1);
}

static void budget_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

static size_t budget_cap(size_t n)
{
    const size_t extra = (size_t)64 << 20;
    if (n > (SIZE_MAX - extra) / 4)
        return SIZE_MAX;
    return 4 * n + extra;
}

/* ---------------------------------------------------------------- wire pre-scan */

static int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t c = *p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Walks the message in [p,end) as described by d and checks that nested
 * messages are at most PB_MAX_DEPTH deep.  Malformed wire data is left for
 * protobuf-c to reject (returns 0); only excessive depth returns -1. */
static int pb_depth_ok(const uint8_t *p, const uint8_t *end,
                       const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > PB_MAX_DEPTH)
        return -1;
    while (p < end) {
        uint64_t key, len, v;
        if (pb_varint(&p, end, &key) < 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (pb_varint(&p, end, &v) < 0)
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        case 2: {
            if (pb_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
                return 0;
            uint64_t fno = key >> 3;
            const ProtobufCFieldDescriptor *f =
                d && fno <= UINT_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)fno) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                pb_depth_ok(p, p + len, f->descriptor, depth + 1) < 0)
                return -1;
            p += len;
            break;
        }
        default:
            return 0;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- dtypes */

static int dtype_from_onnx(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:   return DT_F32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:   return DT_U8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:    return DT_I8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:  return DT_U16;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:   return DT_I16;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:   return DT_I32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:   return DT_I64;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:    return DT_BOOL;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: return DT_F16;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:  return DT_F64;
    default:                                     return DT_NONE;
    }
}

static const char *onnx_type_name(int32_t t)
{
    static const char *names[] = {
        "undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
        "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
        "complex128", "bfloat16"
    };
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

/* Bytes per element of our dtypes (kept here so that the loader depends on
 * nothing but the graph IR). */
static size_t elem_size(int dt)
{
    switch (dt) {
    case DT_F32: case DT_I32:           return 4;
    case DT_F16: case DT_U16: case DT_I16: return 2;
    case DT_F64: case DT_I64:           return 8;
    case DT_U8: case DT_I8: case DT_BOOL: return 1;
    default:                            return 0;
    }
}

/* ---------------------------------------------------------------- tensor data */

struct tdata {
    int     dtype;
    int     ndim;
    int64_t dims[TENSOR_MAXDIM];
    void   *data;       /* NULL when nbytes == 0 */
    size_t  nbytes;
    int     borrowed;   /* data points into the model buffer: not to be freed */
};

/* Parses a non-negative decimal without sign or junk into *v. */
static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t r = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned dgt = (unsigned)(*s - '0');
        if (r > (UINT64_MAX - dgt) / 10)
            return -1;
        r = r * 10 + dgt;
    }
    *v = r;
    return 0;
}

/* A relative path with no ".." component and no empty name. */
static int safe_relpath(const char *p)
{
    if (!*p || *p == '/')
        return 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += len;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* Reads the external payload of tp (keys location, offset, length) from
 * base_dir; the length must be nbytes. */
static int read_external(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                         size_t nbytes, void **out, err_t *e)
{
    const char *loc = NULL, *soff = NULL, *slen = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        const char *k = S(kv->key);
        if (strcmp(k, "location") == 0)
            loc = S(kv->value);
        else if (strcmp(k, "offset") == 0)
            soff = S(kv->value);
        else if (strcmp(k, "length") == 0)
            slen = S(kv->value);
    }
    if (!base_dir)
        return err_set(e, "%s: external data is not available when loading from memory", what);
    if (!loc)
        return err_set(e, "%s: external data without a location", what);
    if (!safe_relpath(loc))
        return err_set(e, "%s: external data location '%s' must be a relative path without '..'", what, loc);
    uint64_t off = 0, len = 0;
    if (soff && parse_u64(soff, &off) < 0)
        return err_set(e, "%s: external data offset '%s' is not a number", what, soff);
    if (slen && parse_u64(slen, &len) < 0)
        return err_set(e, "%s: external data length '%s' is not a number", what, slen);

    size_t plen = strlen(base_dir) + 1 + strlen(loc) + 1;
    char *path = malloc(plen);
    if (!path)
        return err_set(e, "%s: out of memory", what);
    snprintf(path, plen, "%s/%s", base_dir, loc);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "%s: external data %s: %s", what, path, strerror(errno));
        free(path);
        return -1;
    }
    struct stat st;
    int rc = -1;
    void *buf = NULL;
    if (fstat(fd, &st) < 0) {
        err_set(e, "%s: external data %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, "%s: external data %s: not a regular file", what, path);
        goto out;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (off > fsize) {
        err_set(e, "%s: external data offset %llu is past the end of %s (%llu bytes)", what,
                (unsigned long long)off, path, (unsigned long long)fsize);
        goto out;
    }
    if (!slen)
        len = fsize - off;
    if (len > fsize - off) {
        err_set(e, "%s: external data %llu+%llu is past the end of %s (%llu bytes)", what,
                (unsigned long long)off, (unsigned long long)len, path, (unsigned long long)fsize);
        goto out;
    }
    if (len != nbytes) {
        err_set(e, "%s: external data has %llu bytes, its shape needs %zu", what,
                (unsigned long long)len, nbytes);
        goto out;
    }
    if (nbytes) {
        buf = malloc(nbytes);
        if (!buf) {
            err_set(e, "%s: out of memory", what);
            goto out;
        }
        size_t got = 0;
        while (got < nbytes) {
            ssize_t r = pread(fd, (char *)buf + got, nbytes - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err_set(e, "%s: external data %s: %s", what, path, r < 0 ? strerror(errno) : "short read");
                goto out;
            }
            got += (size_t)r;
        }
    }
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    free(path);
    return rc;
}

/* Converts one TensorProto (shape, element type, payload) into td, taking
 * over payload buffers from tp where possible.  what names the tensor in
 * messages.  raw_in_buf: tp->raw_data points into the model buffer (not
 * owned by the message); it is then borrowed (borrow = 1) or copied. */
static int convert_tensor(Onnx__TensorProto *tp, const char *base_dir, const char *what,
                          int raw_in_buf, int borrow, struct tdata *td, err_t *e)
{
    memset(td, 0, sizeof *td);
    int dt = dtype_from_onnx(tp->data_type);
    if (dt == DT_NONE)
        return err_set(e, "%s: unsupported data type %s (%d)", what,
                       onnx_type_name(tp->data_type), (int)tp->data_type);
    if (tp->segment)
        return err_set(e, "%s: segmented tensors are not supported", what);
    if (tp->n_dims > TENSOR_MAXDIM)
        return err_set(e, "%s: %zu dimensions (at most %d supported)", what, tp->n_dims, TENSOR_MAXDIM);
    size_t esz = elem_size(dt);
    uint64_t numel = 1;
    for (size_t k = 0; k < tp->n_dims; k++) {
        int64_t d = tp->dims[k];
        if (d < 0)
            return err_set(e, "%s: negative dimension %lld", what, (long long)d);
        if (d != 0 && numel > (TENSOR_MAX_BYTES / esz) / (uint64_t)d)
            return err_set(e, "%s: shape too large", what);
        numel *= (uint64_t)d;
        td->dims[k] = d;
    }
    td->dtype = dt;
    td->ndim = (int)tp->n_dims;
    td->nbytes = (size_t)numel * esz;

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return read_external(tp, base_dir, what, td->nbytes, &td->data, e);

    if (tp->has_raw_data) {
        if (tp->raw_data.len != td->nbytes)
            return err_set(e, "%s: raw data has %zu bytes, its shape needs %zu", what,
                           tp->raw_data.len, td->nbytes);
        if (td->nbytes && raw_in_buf && borrow) {
            td->data = tp->raw_data.data;
            td->borrowed = 1;
        } else if (td->nbytes && raw_in_buf) {
            td->data = malloc(td->nbytes);
            if (!td->data)
                return err_set(e, "%s: out of memory", what);
            memcpy(td->data, tp->raw_data.data, td->nbytes);
        } else if (td->nbytes) {
            td->data = tp->raw_data.data;
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
        }
        return 0;
    }

    /* Typed repeated fields. */
    size_t have;
    const char *field;
    switch (dt) {
    case DT_F32: have = tp->n_float_data;  field = "float_data";  break;
    case DT_F64: have = tp->n_double_data; field = "double_data"; break;
    case DT_I64: have = tp->n_int64_data;  field = "int64_data";  break;
    default:     have = tp->n_int32_data;  field = "int32_data";  break;
    }
    if (have != numel)
        return err_set(e, "%s: %s has %zu values, its shape needs %llu", what, field, have,
                       (unsigned long long)numel);
    if (numel == 0)
        return 0;
    switch (dt) {
    case DT_F32:
        td->data = tp->float_data;
        tp->float_data = NULL;
        tp->n_float_data = 0;
        break;
    case DT_F64:
        td->data = tp->double_data;
        tp->double_data = NULL;
        tp->n_double_data = 0;
        break;
    case DT_I64:
        td->data = tp->int64_data;
        tp->int64_data = NULL;
        tp->n_int64_data = 0;
        break;
    case DT_I32:
        td->data = tp->int32_data;
        tp->int32_data = NULL;
        tp->n_int32_data = 0;
        break;
    default: {
        /* int8/uint8/bool/int16/uint16/float16 travel in int32_data, one
         * value (float16: its bit pattern) per entry. */
        void *buf = malloc(td->nbytes);
        if (!buf)
            return err_set(e, "%s: out of memory", what);
        if (esz == 1)
            for (size_t i = 0; i < numel; i++)
                ((uint8_t *)buf)[i] = (uint8_t)tp->int32_data[i];
        else
            for (size_t i = 0; i < numel; i++)
                ((uint16_t *)buf)[i] = (uint16_t)tp->int32_data[i];
        td->data = buf;
        break;
    }
    }
    return 0;
}

/* ---------------------------------------------------------------- names */

struct names {
    int   *slot;        /* tensor index + 1; 0 = empty */
    size_t mask;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int names_find(const struct names *h, const graph *g, const char *name)
{
    for (size_t i = hash_str(name) & h->mask;; i = (i + 1) & h->mask) {
        int v = h->slot[i];
        if (!v)
            return -1;
        if (strcmp(g->tensors[v - 1].name, name) == 0)
            return v - 1;
    }
}

/* Appends a tensor named name (copied); the caller has checked that the
 * name is new and that the arrays have room.  Returns its index. */
static int add_tensor(graph *g, struct names *h, const char *name, err_t *e)
{
    gtensor *t = &g->tensors[g->ntensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return err_set(e, "out of memory");
    t->ndim = -1;
    int idx = g->ntensors++;
    size_t i = hash_str(name) & h->mask;
    while (h->slot[i])
        i = (i + 1) & h->mask;
    h->slot[i] = idx + 1;
    return idx;
}

/* A name not yet in the graph, derived from base ("base", "base#1", ...). */
static char *unique_name(const struct names *h, const graph *g, const char *base)
{
    size_t len = strlen(base) + 24;
    char *s = malloc(len);
    if (!s)
        return NULL;
    snprintf(s, len, "%s", base);
    for (unsigned long k = 1; names_find(h, g, s) >= 0; k++)
        snprintf(s, len, "%s#%lu", base, k);
    return s;
}

/* ---------------------------------------------------------------- model */

/* Shape and element type of a value_info into t.  strict: an unsupported
 * element type or a non-tensor type is an error (graph inputs); otherwise
 * the dtype is left unknown. */
static int apply_type(gtensor *t, const Onnx__TypeProto *tp, int strict, const char *what, err_t *e)
{
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        if (strict)
            return err_set(e, "%s '%s': not a tensor", what, t->name);
        return 0;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int dt = dtype_from_onnx(tt->elem_type);
    if (dt == DT_NONE && strict)
        return err_set(e, "%s '%s': unsupported element type %s (%d)", what, t->name,
                       onnx_type_name(tt->elem_type), (int)tt->elem_type);
    t->dtype = dt;
    if (!tt->shape)
        return 0;
    if (tt->shape->n_dim > TENSOR_MAXDIM)
        return err_set(e, "%s '%s': %zu dimensions (at most %d supported)", what, t->name,
                       tt->shape->n_dim, TENSOR_MAXDIM);
    t->ndim = (int)tt->shape->n_dim;
    for (int k = 0; k < t->ndim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
        t->dims[k] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                     d->dim_value > 0 ? d->dim_value : 0;
    }
    return 0;
}

static void node_label(char *buf, size_t n, const Onnx__NodeProto *np, size_t i)
{
    if (np->name && *np->name)
        snprintf(buf, n, "node '%.200s' (%.60s)", np->name, S(np->op_type));
    else
        snprintf(buf, n, "node #%zu (%.60s)", i, S(np->op_type));
}

static int convert_attr(graph *g, struct names *h, Onnx__NodeProto *np, const char *label,
                        Onnx__AttributeProto *a, gattr *ga, err_t *e)
{
    const char *an = S(a->name);
    if (!*an)
        return err_set(e, "%s: attribute without a name", label);
    ga->name = strdup(an);
    if (!ga->name)
        return err_set(e, "out of memory");
    ga->tensor = -1;
    switch (a->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        ga->type = ATTR_FLOAT;
        ga->f = a->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        ga->type = ATTR_INT;
        ga->i = a->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        ga->type = ATTR_STRING;
        ga->s = malloc(a->s.len + 1);
        if (!ga->s)
            return err_set(e, "out of memory");
        if (a->s.len)
            memcpy(ga->s, a->s.data, a->s.len);
        ga->s[a->s.len] = '\0';
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        if (a->n_floats > INT_MAX)
            return err_set(e, "%s: attribute '%s': too many values", label, an);
        ga->type = ATTR_FLOATS;
        ga->n = (int)a->n_floats;
        ga->floats = a->floats;
        a->floats = NULL;
        a->n_floats = 0;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        if (a->n_ints > INT_MAX)
            return err_set(e, "%s: attribute '%s': too many values", label, an);
        ga->type = ATTR_INTS;
        ga->n = (int)a->n_ints;
        ga->ints = a->ints;
        a->ints = NULL;
        a->n_ints = 0;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        if (!a->t)
            return err_set(e, "%s: attribute '%s': tensor missing", label, an);
        /* Attribute tensors live outside the graph's namespace: give them
         * a fresh name derived from the node. */
        char base[512], what[700];
        snprintf(base, sizeof base, "%.400s:%.100s",
                 np->n_output && np->output[0] && *np->output[0] ? np->output[0] : S(np->op_type), an);
        snprintf(what, sizeof what, "%s: attribute '%.100s'", label, an);
        struct tdata td;
        if (convert_tensor(a->t, NULL, what, 0, 0, &td, e) < 0)
            return -1;
        char *name = unique_name(h, g, base);
        int ti = name ? add_tensor(g, h, name, e) : err_set(e, "out of memory");
        free(name);
        if (ti < 0) {
            free(td.data);
            return -1;
        }
        gtensor *t = &g->tensors[ti];
        t->dtype = td.dtype;
        t->ndim = td.ndim;
        memcpy(t->dims, td.dims, sizeof t->dims);
        t->data = td.data ? td.data : malloc(1);   /* non-NULL marks a constant */
        t->nbytes = td.nbytes;
        if (!t->data)
            return err_set(e, "out of memory");
        ga->type = ATTR_TENSOR;
        ga->tensor = ti;
        break;
    }
    default: {
        static const char *tn[] = {
            "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS",
            "STRINGS", "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS",
            "TYPE_PROTO", "TYPE_PROTOS"
        };
        int ty = (int)a->type;
        return err_set(e, "%s: attribute '%s': unsupported type %s", label, an,
                       ty >= 0 && ty < (int)(sizeof tn / sizeof tn[0]) ? tn[ty] : "unknown");
    }
    }
    return 0;
}

/* Orders g->nodes so that every node comes after the producers of its
 * inputs (stable when the file is already sorted, as ONNX requires). */
static int topo_sort(graph *g, err_t *e)
{
    int nn = g->nnodes, rc = -1;
    if (nn == 0)
        return 0;
    int *prod = malloc(sizeof *prod * (size_t)(g->ntensors ? g->ntensors : 1));
    int *indeg = calloc((size_t)nn, sizeof *indeg);
    int *start = calloc((size_t)nn + 1, sizeof *start);
    int *edges = NULL, *queue = NULL, *fill = NULL;
    gnode *sorted = NULL;
    if (!prod || !indeg || !start)
        goto oom;
    for (int i = 0; i < g->ntensors; i++)
        prod[i] = -1;
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].nout; k++)
            prod[g->nodes[i].out[k]] = i;
    int sorted_already = 1;
    size_t nedges = 0;
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int ti = g->nodes[i].in[k];
            int p = ti >= 0 ? prod[ti] : -1;
            if (p < 0)
                continue;
            if (p >= i)
                sorted_already = 0;
            start[p + 1]++;
            indeg[i]++;
            nedges++;
        }
    if (sorted_already) {
        rc = 0;
        goto out;
    }
    for (int i = 0; i < nn; i++)
        start[i + 1] += start[i];
    edges = malloc(sizeof *edges * (nedges ? nedges : 1));
    fill = malloc(sizeof *fill * (size_t)nn);
    queue = malloc(sizeof *queue * (size_t)nn);
    sorted = malloc(sizeof *sorted * (size_t)nn);
    if (!edges || !fill || !queue || !sorted)
        goto oom;
    memcpy(fill, start, sizeof *fill * (size_t)nn);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int ti = g->nodes[i].in[k];
            int p = ti >= 0 ? prod[ti] : -1;
            if (p >= 0)
                edges[fill[p]++] = i;
        }
    int qh = 0, qt = 0;
    for (int i = 0; i < nn; i++)
        if (!indeg[i])
            queue[qt++] = i;
    while (qh < qt) {
        int i = queue[qh++];
        for (int j = start[i]; j < start[i + 1]; j++)
            if (--indeg[edges[j]] == 0)
                queue[qt++] = edges[j];
    }
    if (qt < nn) {
        int bad = 0;
        while (bad < nn && !indeg[bad])
            bad++;
        const gnode *b = &g->nodes[bad];
        rc = err_set(e, "the graph has a cycle through node '%.200s' (%.60s)", b->name, b->op);
        goto out;
    }
    for (int i = 0; i < nn; i++)
        sorted[i] = g->nodes[queue[i]];
    memcpy(g->nodes, sorted, sizeof *sorted * (size_t)nn);
    rc = 0;
    goto out;
oom:
    rc = err_set(e, "out of memory");
out:
    free(prod);
    free(indeg);
    free(start);
    free(edges);
    free(fill);
    free(queue);
    free(sorted);
    return rc;
}

/* raw_in_buf, borrow: see convert_tensor (for the initializers). */
static int convert_model(Onnx__ModelProto *m, const char *base_dir, int raw_in_buf, int borrow,
                         graph *g, err_t *e)
{
    char label[320];
    g->format = GRAPH_ONNX;

    /* Opset of the default domain; models before IR 3 imply opset 1. */
    g->opset = 1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = S(o->domain);
        if ((!*d || strcmp(d, "ai.onnx") == 0) && o->has_version) {
            if (o->version < 1 || o->version > INT_MAX)
                return err_set(e, "opset version %lld out of range", (long long)o->version);
            g->opset = (int)o->version;
        }
    }

    if (m->n_metadata_props > INT_MAX / 2)
        return err_set(e, "too many metadata entries");
    if (m->n_metadata_props) {
        g->meta = calloc(m->n_metadata_props, sizeof *g->meta);
        if (!g->meta)
            return err_set(e, "out of memory");
        for (size_t i = 0; i < m->n_metadata_props; i++) {
            const Onnx__StringStringEntryProto *kv = m->metadata_props[i];
            g->meta[i].key = strdup(S(kv->key));
            g->meta[i].val = strdup(S(kv->value));
            g->nmeta++;
            if (!g->meta[i].key || !g->meta[i].val)
                return err_set(e, "out of memory");
        }
    }

    Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return err_set(e, "the model has no graph");
    if (gp->n_sparse_initializer)
        return err_set(e, "sparse initializers are not supported");

    /* Every tensor is an initializer, a graph input, a node output or an
     * attribute tensor: size the arrays once. */
    size_t total = gp->n_initializer + gp->n_input;
    if (gp->n_node > INT_MAX / 4 || total > INT_MAX / 4)
        return err_set(e, "too many nodes or tensors");
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        total += np->n_output;
        if (np->n_input > INT_MAX / 4 || np->n_output > INT_MAX / 4 || np->n_attribute > INT_MAX / 4)
            return err_set(e, "node #%zu: too many inputs, outputs or attributes", i);
        for (size_t k = 0; k < np->n_attribute; k++)
            if (np->attribute[k]->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)
                total++;
        if (total > INT_MAX / 4)
            return err_set(e, "too many tensors");
    }
    g->tensors = calloc(total ? total : 1, sizeof *g->tensors);
    size_t cap = 16;
    while (cap < 2 * total + 1)
        cap *= 2;
    struct names h = { calloc(cap, sizeof(int)), cap - 1 };
    if (!g->tensors || !h.slot) {
        free(h.slot);
        return err_set(e, "out of memory");
    }
    int rc = -1;

    /* Initializers. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        const char *nm = S(tp->name);
        if (!*nm) {
            err_set(e, "initializer #%zu has no name", i);
            goto out;
        }
        if (names_find(&h, g, nm) >= 0) {
            err_set(e, "initializer '%.200s' is defined twice", nm);
            goto out;
        }
        snprintf(label, sizeof label, "initializer '%.200s'", nm);
        struct tdata td;
        if (convert_tensor(tp, base_dir, label, raw_in_buf, borrow, &td, e) < 0)
            goto out;
        int ti = add_tensor(g, &h, nm, e);
        if (ti < 0) {
            if (!td.borrowed)
                free(td.data);
            goto out;
        }
        gtensor *t = &g->tensors[ti];
        t->dtype = td.dtype;
        t->ndim = td.ndim;
        memcpy(t->dims, td.dims, sizeof t->dims);
        t->data = td.data ? td.data : malloc(1);   /* non-NULL marks a constant */
        t->nbytes = td.nbytes;
        if (!t->data) {
            err_set(e, "out of memory");
            goto out;
        }
    }

    /* Graph inputs that are not initializers. */
    g->inputs = malloc(sizeof *g->inputs * (gp->n_input ? gp->n_input : 1));
    if (!g->inputs) {
        err_set(e, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *nm = S(vi->name);
        if (!*nm) {
            err_set(e, "graph input #%zu has no name", i);
            goto out;
        }
        int ti = names_find(&h, g, nm);
        if (ti >= 0) {
            if (g->tensors[ti].data)
                continue;                       /* an initializer: a constant */
            err_set(e, "graph input '%.200s' is listed twice", nm);
            goto out;
        }
        ti = add_tensor(g, &h, nm, e);
        if (ti < 0 || apply_type(&g->tensors[ti], vi->type, 1, "graph input", e) < 0)
            goto out;
        g->inputs[g->ninputs++] = ti;
    }

    /* Nodes: outputs first (they may be consumed before their producer
     * appears when the file is not sorted), then inputs and attributes. */
    g->nodes = calloc(gp->n_node ? gp->n_node : 1, sizeof *g->nodes);
    if (!g->nodes) {
        err_set(e, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        Onnx__NodeProto *np = gp->node[i];
        gnode *n = &g->nodes[i];
        g->nnodes++;
        node_label(label, sizeof label, np, i);
        if (!np->op_type || !*np->op_type) {
            err_set(e, "%s: no op_type", label);
            goto out;
        }
        const char *dom = S(np->domain);
        n->name = strdup(S(np->name));
        n->op = strdup(np->op_type);
        n->domain = strdup(strcmp(dom, "ai.onnx") == 0 ? "" : dom);
        n->in = malloc(sizeof *n->in * (np->n_input ? np->n_input : 1));
        n->out = malloc(sizeof *n->out * (np->n_output ? np->n_output : 1));
        n->attr = calloc(np->n_attribute ? np->n_attribute : 1, sizeof *n->attr);
        if (!n->name || !n->op || !n->domain || !n->in || !n->out || !n->attr) {
            err_set(e, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < np->n_output; k++) {
            const char *on = S(np->output[k]);
            int ti;
            if (!*on) {
                /* An omitted optional output still gets a tensor of its
                 * own, so that out[] never holds -1. */
                char base[300];
                if (np->name && *np->name)
                    snprintf(base, sizeof base, "%.200s:out%zu", np->name, k);
                else
                    snprintf(base, sizeof base, "%.60s#%zu:out%zu", np->op_type, i, k);
                char *nm = unique_name(&h, g, base);
                ti = nm ? add_tensor(g, &h, nm, e) : err_set(e, "out of memory");
                free(nm);
            } else if (names_find(&h, g, on) >= 0) {
                ti = err_set(e, "%s: output '%.200s' is already defined", label, on);
            } else {
                ti = add_tensor(g, &h, on, e);
            }
            if (ti < 0)
                goto out;
            n->out[n->nout++] = ti;
        }
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        Onnx__NodeProto *np = gp->node[i];
        gnode *n = &g->nodes[i];
        node_label(label, sizeof label, np, i);
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = S(np->input[k]);
            int ti = -1;
            if (*in && (ti = names_find(&h, g, in)) < 0) {
                err_set(e, "%s: input '%.200s' is not defined", label, in);
                goto out;
            }
            n->in[n->nin++] = ti;
        }
        for (size_t k = 0; k < np->n_attribute; k++) {
            if (convert_attr(g, &h, np, label, np->attribute[k], &n->attr[k], e) < 0) {
                n->nattr = (int)k + 1;
                goto out;
            }
            n->nattr = (int)k + 1;
        }
    }

    /* Shapes of intermediate tensors, when the exporter recorded them. */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int ti = names_find(&h, g, S(vi->name));
        if (ti >= 0 && !g->tensors[ti].data &&
            apply_type(&g->tensors[ti], vi->type, 0, "value", e) < 0)
            goto out;
    }

    g->outputs = malloc(sizeof *g->outputs * (gp->n_output ? gp->n_output : 1));
    if (!g->outputs) {
        err_set(e, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *nm = S(vi->name);
        int ti = names_find(&h, g, nm);
        if (ti < 0) {
            err_set(e, "graph output '%.200s' is not defined", nm);
            goto out;
        }
        if (!g->tensors[ti].data && apply_type(&g->tensors[ti], vi->type, 0, "graph output", e) < 0)
            goto out;
        g->outputs[g->noutputs++] = ti;
    }

    rc = topo_sort(g, e);
out:
    free(h.slot);
    return rc;
}

/* ---------------------------------------------------------------- raw_data out of the way */

/* Where one initializer's raw_data lies in the model buffer. */
struct rawref {
    size_t off, len;
    int    have;
};

struct strip {
    const uint8_t *base;        /* the model buffer */
    struct rawref *r;           /* one per initializer, in wire order */
    size_t n, cap;
    int    fail;                /* wire data the scan does not follow */
};

enum { LV_MODEL, LV_GRAPH, LV_TENSOR };
#define F_MODEL_GRAPH        7  /* ModelProto.graph */
#define F_GRAPH_INITIALIZER  5  /* GraphProto.initializer */
#define F_TENSOR_RAW_DATA    9  /* TensorProto.raw_data */

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t k = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        if (out)
            out[k] = c | (v ? 0x80 : 0);
        k++;
    } while (v);
    return k;
}

/* Writes (out != NULL) or sizes (out == NULL) the message [p,end) at level
 * lv without the raw_data of GraphProto initializers; the write pass notes
 * where each initializer's raw_data was (the last one, as protobuf keeps
 * the last value of a repeated scalar field).  Returns the output size;
 * sets s->fail on anything it does not follow (protobuf-c then gets the
 * original bytes). */
static size_t strip_msg(const uint8_t *p, const uint8_t *end, int lv, uint8_t *out,
                        struct strip *s)
{
    size_t o = 0;
    struct rawref raw = { 0, 0, 0 };
    while (p < end && !s->fail) {
        const uint8_t *field = p;
        uint64_t key, len = 0, v;
        if (pb_varint(&p, end, &key) < 0) {
            s->fail = 1;
            break;
        }
        uint64_t fno = key >> 3;
        switch (key & 7) {
        case 0:
            if (pb_varint(&p, end, &v) < 0)
                s->fail = 1;
            break;
        case 1:
            if (end - p < 8)
                s->fail = 1;
            else
                p += 8;
            break;
        case 5:
            if (end - p < 4)
                s->fail = 1;
            else
                p += 4;
            break;
        case 2:
            if (pb_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p)) {
                s->fail = 1;
                break;
            }
            if ((lv == LV_MODEL && fno == F_MODEL_GRAPH) ||
                (lv == LV_GRAPH && fno == F_GRAPH_INITIALIZER)) {
                int sub = lv == LV_MODEL ? LV_GRAPH : LV_TENSOR;
                size_t sz = strip_msg(p, p + len, sub, NULL, s);
                o += put_varint(out ? out + o : NULL, key);
                o += put_varint(out ? out + o : NULL, sz);
                if (out)
                    strip_msg(p, p + len, sub, out + o, s);
                o += sz;
                p += len;
                continue;
            }
            if (lv == LV_TENSOR && fno == F_TENSOR_RAW_DATA) {
                raw.off = (size_t)(p - s->base);
                raw.len = (size_t)len;
                raw.have = 1;
                p += len;
                continue;
            }
            p += len;
            break;
        default:
            s->fail = 1;            /* groups: protobuf-c does not take them either */
            break;
        }
        if (s->fail)
            break;
        if (out)
            memcpy(out + o, field, (size_t)(p - field));
        o += (size_t)(p - field);
    }
    if (lv == LV_TENSOR && out && !s->fail) {
        if (s->n == s->cap) {
            size_t nc = s->cap ? 2 * s->cap : 64;
            struct rawref *nr = nc < SIZE_MAX / sizeof *nr ? realloc(s->r, nc * sizeof *nr) : NULL;
            if (!nr) {
                s->fail = 1;
                return o;
            }
            s->r = nr;
            s->cap = nc;
        }
        s->r[s->n++] = raw;
    }
    return o;
}

/* Unpacks the model with the initializers' raw_data pointing into buf
 * (*raw_in_buf = 1), or, when the scan cannot follow the bytes, as
 * protobuf-c reads them (*raw_in_buf = 0).  NULL: not a model. */
static Onnx__ModelProto *unpack_model(const uint8_t *p, size_t n, ProtobufCAllocator *al,
                                      int *raw_in_buf)
{
    struct strip s = { p, NULL, 0, 0, 0 };
    uint8_t *lean = NULL;
    Onnx__ModelProto *m = NULL;
    *raw_in_buf = 0;
    size_t ln = strip_msg(p, p + n, LV_MODEL, NULL, &s);
    if (!s.fail && (lean = malloc(ln ? ln : 1)) != NULL) {
        strip_msg(p, p + n, LV_MODEL, lean, &s);
        if (!s.fail)
            m = onnx__model_proto__unpack(al, ln, lean);
        free(lean);
    }
    if (m) {
        Onnx__GraphProto *gp = m->graph;
        size_t ni = gp ? gp->n_initializer : 0;
        if (ni != s.n) {
            /* protobuf-c saw the initializers differently: do not guess */
            onnx__model_proto__free_unpacked(m, al);
            m = NULL;
        } else {
            for (size_t i = 0; i < ni; i++) {
                Onnx__TensorProto *tp = gp->initializer[i];
                if (!s.r[i].have)
                    continue;
                tp->has_raw_data = 1;
                tp->raw_data.data = (uint8_t *)(p + s.r[i].off);
                tp->raw_data.len = s.r[i].len;
            }
            *raw_in_buf = 1;
        }
    }
    free(s.r);
    if (!m)
        m = onnx__model_proto__unpack(al, n, p);
    return m;
}

/* Detaches the raw_data pointers into the model buffer before the message
 * is freed. */
static void unpoint_raw(Onnx__ModelProto *m, const uint8_t *p, size_t n)
{
    Onnx__GraphProto *gp = m->graph;
    for (size_t i = 0; gp && i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        if (tp->has_raw_data && tp->raw_data.data >= p && tp->raw_data.data <= p + n) {
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
            tp->has_raw_data = 0;
        }
    }
}

static int onnx_load(const void *buf, size_t n, const char *base_dir, int borrow, graph *g,
                     err_t *e)
{
    graph_init(g);
    if (!buf && n)
        return err_set(e, "no data");
    const uint8_t *p = buf;
    if (pb_depth_ok(p, p + n, &onnx__model_proto__descriptor, 0) < 0)
        return err_set(e, "not a usable ONNX model: messages nested more than %d deep", PB_MAX_DEPTH);
    struct budget b = { 0, budget_cap(n), 0 };
    ProtobufCAllocator al = { budget_alloc, budget_free, &b };
    int raw_in_buf;
    Onnx__ModelProto *m = unpack_model(p, n, &al, &raw_in_buf);
    if (!m && b.exceeded)
        return err_set(e, "not a usable ONNX model: parsing it would take more than %zu MiB",
                       b.cap >> 20);
    if (!m)
        return err_set(e, "not an ONNX model (protobuf parse error)");
    int rc = convert_model(m, base_dir, raw_in_buf, borrow, g, e);
    if (raw_in_buf)
        unpoint_raw(m, p, n);
    onnx__model_proto__free_unpacked(m, &al);
    if (rc < 0) {
        /* borrowed payloads are the caller's, not the graph's */
        for (int i = 0; i < g->ntensors; i++) {
            const uint8_t *d = g->tensors[i].data;
            if (d && d >= p && d < p + n)
                g->tensors[i].data = NULL;
        }
        graph_free(g);
    }
    return rc;
}

int onnx_load_buffer(const void *buf, size_t n, const char *base_dir, graph *g, err_t *e)
{
    return onnx_load(buf, n, base_dir, 0, g, e);
}

int onnx_load_borrowed(const void *buf, size_t n, const char *base_dir, graph *g, err_t *e)
{
    return onnx_load(buf, n, base_dir, 1, g, e);
}

int onnx_tensor_parse(const void *buf, size_t n, tensor *t, err_t *e)
{
    memset(t, 0, sizeof *t);
    if (!buf && n)
        return err_set(e, "no data");
    const uint8_t *p = buf;
    if (pb_depth_ok(p, p + n, &onnx__tensor_proto__descriptor, 0) < 0)
        return err_set(e, "TensorProto nested too deep");
    struct budget b = { 0, budget_cap(n), 0 };
    ProtobufCAllocator al = { budget_alloc, budget_free, &b };
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&al, n, p);
    if (!tp)
        return err_set(e, b.exceeded ? "TensorProto needs too much memory to parse"
                                     : "not an ONNX TensorProto (protobuf parse error)");
    char what[256];
    snprintf(what, sizeof what, "tensor '%.200s'", S(tp->name));
    struct tdata td;
    int rc = convert_tensor(tp, NULL, what, 0, 0, &td, e);
    if (rc == 0) {
        t->name = strdup(S(tp->name));
        if (!t->name) {
            free(td.data);
            rc = err_set(e, "out of memory");
        } else {
            t->dtype = td.dtype;
            t->ndim = td.ndim;
            memcpy(t->dims, td.dims, sizeof t->dims);
            t->data = td.data;
            t->nbytes = td.nbytes;
        }
    }
    onnx__tensor_proto__free_unpacked(tp, &al);
    return rc;
}
