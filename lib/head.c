/* head.c - find the CAM layer and the linear head of a classifier graph
 * (see head.h).
 *
 * After shape inference: the global average pooling that ends the
 * convolutional part is the LAST node (in topological order) of these kinds
 * whose input is a 4-D map:
 *   GlobalAveragePool; AveragePool whose kernel covers the whole H x W with
 *   no padding; ReduceMean over exactly the axes {2, 3}.
 * From its output the walk goes forward through shape-only nodes (Flatten,
 * Reshape, Squeeze, Unsqueeze, Identity, Dropout) to
 *   Gemm (transB, alpha, beta), MatMul [+ Add of a constant], or a 1x1 Conv
 *   on the 1x1 map,
 * whose constant weights give W (nclasses x K) and b, dequantised; then
 * through shape-only nodes again to the logits (the input of the Softmax).
 * When the walk meets a Softmax or the graph's end first, the classes are
 * the channels: the identity head.
 *
 * This file reads the graph's structure directly (graph.h's structs) and
 * needs nothing else of the loaders.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "head.h"

#define LABELS_MAX_BYTES ((size_t)16 << 20)

/* ---------------------------------------------------------------- graph helpers */

static const gattr *attr_get(const gnode *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (n->attr[i].name && strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

static int64_t attr_int(const gnode *n, const char *name, int64_t dflt)
{
    const gattr *a = attr_get(n, name);
    return a && a->type == ATTR_INT ? a->i : dflt;
}

static float attr_float(const gnode *n, const char *name, float dflt)
{
    const gattr *a = attr_get(n, name);
    if (!a)
        return dflt;
    if (a->type == ATTR_FLOAT)
        return a->f;
    if (a->type == ATTR_INT)
        return (float)a->i;
    return dflt;
}

static const char *meta_get(const graph *g, const char *key)
{
    for (int i = 0; i < g->nmeta; i++)
        if (g->meta[i].key && strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].val;
    return NULL;
}

static const char *tname(const graph *g, int ti)
{
    return ti >= 0 && ti < g->ntensors && g->tensors[ti].name ? g->tensors[ti].name : "?";
}

static const char *nname(const gnode *n)
{
    return n->name && n->name[0] ? n->name : n->op;
}

/* Tensor index by name; for TFLite also "T<index>" (as graph_find_tensor). */
static int find_tensor(const graph *g, const char *name)
{
    for (int i = 0; i < g->ntensors; i++)
        if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0)
            return i;
    if (g->format == GRAPH_TFLITE && name[0] == 'T' && isdigit((unsigned char)name[1])) {
        char *end;
        long v = strtol(name + 1, &end, 10);
        if (!*end && v >= 0 && v < g->ntensors)
            return (int)v;
    }
    return -1;
}

/* Nodes reading tensor ti, in order; returns the count (fills up to max). */
static int consumers(const graph *g, int ti, int *out, int max)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *nd = &g->nodes[i];
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] == ti) {
                if (n < max)
                    out[n] = i;
                n++;
                break;
            }
    }
    return n;
}

static int is_const(const graph *g, int ti)
{
    return ti >= 0 && ti < g->ntensors && g->tensors[ti].data != NULL;
}

static int64_t numel(const gtensor *t)
{
    int64_t n = 1;
    if (t->ndim < 0)
        return -1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0 || (t->dims[i] > 0 && n > INT64_MAX / t->dims[i]))
            return -1;
        n *= t->dims[i];
    }
    return n;
}

static int const_value(const gtensor *t, int64_t idx, float *v)
{
    size_t es = dtype_size(t->dtype);
    double q;
    if (es == 0 || (size_t)(idx + 1) * es > t->nbytes)
        return -1;
    switch (t->dtype) {
    case DT_F32: { float x; memcpy(&x, (const char *)t->data + idx * 4, 4); q = x; break; }
    case DT_F64: { double x; memcpy(&x, (const char *)t->data + idx * 8, 8); q = x; break; }
    case DT_F16: { uint16_t x; memcpy(&x, (const char *)t->data + idx * 2, 2); q = f16_to_f32(x); break; }
    case DT_U8:  q = ((const uint8_t *)t->data)[idx]; break;
    case DT_I8:  q = ((const int8_t *)t->data)[idx]; break;
    case DT_I16: { int16_t x; memcpy(&x, (const char *)t->data + idx * 2, 2); q = x; break; }
    case DT_U16: { uint16_t x; memcpy(&x, (const char *)t->data + idx * 2, 2); q = x; break; }
    case DT_I32: { int32_t x; memcpy(&x, (const char *)t->data + idx * 4, 4); q = x; break; }
    case DT_I64: { int64_t x; memcpy(&x, (const char *)t->data + idx * 8, 8); q = (double)x; break; }
    default: return -1;
    }
    if (t->nq > 0) {
        int ch = 0;
        if (t->nq > 1) {
            int64_t stride = 1;
            if (t->qaxis < 0 || t->qaxis >= t->ndim || t->dims[t->qaxis] != t->nq)
                return -1;
            for (int i = t->qaxis + 1; i < t->ndim; i++)
                stride *= t->dims[i];
            ch = (int)((idx / stride) % t->nq);
        }
        q = (double)t->scale[ch] * (q - t->zero_point[ch]);
    }
    *v = (float)q;
    return 0;
}

/* Integer values of a constant (ReduceMean axes given as an input). */
static int const_ints(const gtensor *t, int64_t *out, int max)
{
    int64_t n = numel(t);
    if (n < 0 || n > max)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == DT_I64 && (size_t)(i + 1) * 8 <= t->nbytes)
            memcpy(&out[i], (const char *)t->data + i * 8, 8);
        else if (t->dtype == DT_I32 && (size_t)(i + 1) * 4 <= t->nbytes) {
            int32_t x;
            memcpy(&x, (const char *)t->data + i * 4, 4);
            out[i] = x;
        } else
            return -1;
    }
    return (int)n;
}

/* ---------------------------------------------------------------- GAP */

/* 1 when node n averages its 4-D input over the whole H x W. */
static int is_gap(const graph *g, const gnode *n)
{
    const gtensor *in;
    if (n->nin < 1 || n->nout < 1 || n->in[0] < 0 || n->in[0] >= g->ntensors)
        return 0;
    in = &g->tensors[n->in[0]];
    if (in->ndim != 4 || in->dims[2] <= 0 || in->dims[3] <= 0)
        return 0;
    if (strcmp(n->op, "GlobalAveragePool") == 0)
        return 1;
    if (strcmp(n->op, "AveragePool") == 0) {
        const gattr *k = attr_get(n, "kernel_shape"), *p = attr_get(n, "pads");
        const char *ap = NULL;
        const gattr *a = attr_get(n, "auto_pad");
        if (a && a->type == ATTR_STRING)
            ap = a->s;
        if (!k || k->type != ATTR_INTS || k->n != 2 || k->ints[0] != in->dims[2] || k->ints[1] != in->dims[3])
            return 0;
        if (p && p->type == ATTR_INTS)
            for (int i = 0; i < p->n; i++)
                if (p->ints[i] != 0)
                    return 0;
        if (ap && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0 &&
            !(in->dims[2] == 1 && in->dims[3] == 1))
            return 0;
        return 1;
    }
    if (strcmp(n->op, "ReduceMean") == 0) {
        int64_t axes[8];
        int na = -1, seen2 = 0, seen3 = 0;
        const gattr *a = attr_get(n, "axes");
        if (a && a->type == ATTR_INTS && a->n <= 8) {
            na = a->n;
            memcpy(axes, a->ints, (size_t)na * sizeof axes[0]);
        } else if (n->nin >= 2 && is_const(g, n->in[1])) {
            na = const_ints(&g->tensors[n->in[1]], axes, 8);
        }
        if (na != 2)
            return 0;
        for (int i = 0; i < 2; i++) {
            int64_t ax = axes[i] < 0 ? axes[i] + 4 : axes[i];
            seen2 |= ax == 2;
            seen3 |= ax == 3;
        }
        return seen2 && seen3;
    }
    return 0;
}

/* ---------------------------------------------------------------- walking */

static int is_reshape_like(const char *op)
{
    static const char *ops[] = {"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, ops[i]) == 0)
            return 1;
    return 0;
}

/* Follows tensor ti forward through single-consumer shape-only nodes;
 * returns the last tensor reached, *next the node consuming it (-1: none
 * or several). */
static int walk_reshapes(const graph *g, int ti, int *next)
{
    for (int guard = 0; guard < g->nnodes + 1; guard++) {
        int c[2], nc = consumers(g, ti, c, 2);
        if (nc != 1) {
            *next = -1;
            return ti;
        }
        const gnode *n = &g->nodes[c[0]];
        if (!is_reshape_like(n->op) || n->nout < 1 || n->in[0] != ti || n->out[0] < 0) {
            *next = c[0];
            return ti;
        }
        ti = n->out[0];
    }
    *next = -1;
    return ti;
}

/* ---------------------------------------------------------------- labels */

/* Splits text into lines (a final newline ends the last line; \r\n
 * accepted).  Returns the count, fills *lines when count == want. */
static int split_lines(const char *text, size_t len, int want, char ***lines)
{
    int n = 0;
    size_t i, start;
    for (i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    if (len > 0 && text[len - 1] != '\n')
        n++;
    if (n != want || want <= 0)
        return n;
    char **l = calloc((size_t)want, sizeof *l);
    if (!l)
        return -1;
    int k = 0;
    for (i = 0, start = 0; i <= len && k < want; i++) {
        if (i == len || text[i] == '\n') {
            size_t e = i;
            if (e > start && text[e - 1] == '\r')
                e--;
            l[k] = malloc(e - start + 1);
            if (!l[k]) {
                for (int j = 0; j < k; j++)
                    free(l[j]);
                free(l);
                return -1;
            }
            memcpy(l[k], text + start, e - start);
            l[k][e - start] = '\0';
            k++;
            start = i + 1;
        }
    }
    *lines = l;
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            char *nb;
            if (cap >= LABELS_MAX_BYTES) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void free_labels(char **l, int n)
{
    if (!l)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int load_labels(const graph *g, const char *labels_path, cam_head *h, err_t *e)
{
    const char *m = meta_get(g, "labels");
    size_t len;
    char *text;
    int n;

    /* A labels file named by the user wins over the model's own labels. */
    if (labels_path) {
        text = slurp(labels_path, &len);
        if (!text)
            return err_set(e, "labels %s: %s", labels_path, strerror(errno));
        n = split_lines(text, len, h->nclasses, &h->labels);
        free(text);
        if (n != h->nclasses) {
            h->labels = NULL;
            return err_set(e, "labels %s: %d lines for %d classes", labels_path, n, h->nclasses);
        }
        return 0;
    }
    if (m && split_lines(m, strlen(m), h->nclasses, &h->labels) == h->nclasses)
        return 0;
    h->labels = NULL;
    /* The single *labels*.txt beside the model with exactly nclasses lines. */
    if (g->path) {
        char dir[4096];
        const char *slash = strrchr(g->path, '/');
        int nfound = 0;
        DIR *d;
        struct dirent *de;
        if (slash)
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - g->path), g->path);
        else
            snprintf(dir, sizeof dir, ".");
        if (slash == g->path)
            snprintf(dir, sizeof dir, "/");
        d = opendir(dir);
        if (!d)
            return 0;
        while ((de = readdir(d)) != NULL) {
            size_t nl = strlen(de->d_name);
            char p[4096 + 256];
            char **tmp = NULL;
            if (nl < 4 || strcmp(de->d_name + nl - 4, ".txt") != 0 || !strstr(de->d_name, "labels"))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            text = slurp(p, &len);
            if (!text)
                continue;
            n = split_lines(text, len, h->nclasses, &tmp);
            free(text);
            if (n == h->nclasses) {
                nfound++;
                free_labels(h->labels, h->nclasses);
                h->labels = tmp;
            }
        }
        closedir(d);
        if (nfound != 1) {
            free_labels(h->labels, h->nclasses);
            h->labels = NULL;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- linear head */

/* Bias of nclasses values from constant ti (shape [N], [1,N] or a scalar
 * broadcast), times mul. */
static int read_bias(const graph *g, int ti, int nclasses, float mul, float **out, err_t *e)
{
    const gtensor *t = &g->tensors[ti];
    int64_t n = numel(t);
    float *b;
    if (nclasses <= 0)
        return err_set(e, "no classes");
    if (n != nclasses && n != 1)
        return err_set(e, "bias '%s' has %lld values for %d classes", tname(g, ti), (long long)n, nclasses);
    b = malloc((size_t)nclasses * sizeof *b);
    if (!b)
        return err_set(e, "out of memory");
    for (int c = 0; c < nclasses; c++) {
        if (const_value(t, n == 1 ? 0 : c, &b[c]) < 0) {
            free(b);
            return err_set(e, "bias '%s': unreadable constant", tname(g, ti));
        }
        b[c] *= mul;
    }
    *out = b;
    return 0;
}

/* Where W (nclasses x K) lies: constant t, element (c, k) at c*sc + k*sk,
 * times mul; 8-bit weights on one grid (TFLite's uint8 classifiers) go
 * through a table of the 256 values, each computed as const_value does. */
typedef struct {
    const gtensor *t;
    int      nclasses, K;
    int64_t  sc, sk;
    float    mul;
    int      kind;        /* 0: const_value, 1: float32 as stored, 2: table */
    float    lut[256];
} wsource;

static void wsource_init(wsource *s, const gtensor *t, int nclasses, int K, int64_t sc, int64_t sk,
                         float mul)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->nclasses = nclasses;
    s->K = K;
    s->sc = sc;
    s->sk = sk;
    s->mul = mul;
    if (t->dtype == DT_F32 && t->nq == 0 && t->data &&
        t->nbytes >= (size_t)nclasses * (size_t)K * sizeof(float))
        s->kind = 1;
    else if ((t->dtype == DT_U8 || t->dtype == DT_I8) && t->nq == 1 && t->data &&
             t->nbytes >= (size_t)nclasses * (size_t)K) {
        s->kind = 2;
        for (int q = 0; q < 256; q++) {
            double x = t->dtype == DT_U8 ? q : (double)(int8_t)(uint8_t)q;
            s->lut[q] = (float)((double)t->scale[0] * (x - t->zero_point[0]));
        }
    }
}

/* Row c of W (K floats) into w: 0, or -1 when a value is unreadable. */
static int wsource_row(const wsource *s, int c, float *w)
{
    int K = s->K;
    if (s->kind == 1) {
        /* plain float weights (the payload may point into the model file,
         * unaligned): rows contiguous (Gemm transB = 1, TFLite) copied
         * whole, else read one by one */
        const char *src = s->t->data;
        if (s->sk == 1) {
            memcpy(w, src + (size_t)(c * s->sc) * sizeof *w, (size_t)K * sizeof *w);
            if (s->mul != 1.0f)
                for (int k = 0; k < K; k++)
                    w[k] *= s->mul;
            return 0;
        }
        for (int k = 0; k < K; k++) {
            float v;
            memcpy(&v, src + (size_t)(c * s->sc + k * s->sk) * sizeof v, sizeof v);
            w[k] = v * s->mul;
        }
        return 0;
    }
    if (s->kind == 2) {
        const uint8_t *src = s->t->data;
        for (int k = 0; k < K; k++)
            w[k] = s->lut[src[c * s->sc + k * s->sk]] * s->mul;
        return 0;
    }
    for (int k = 0; k < K; k++) {
        float v;
        if (const_value(s->t, c * s->sc + k * s->sk, &v) < 0)
            return -1;
        w[k] = v * s->mul;
    }
    return 0;
}

/* W (nclasses x K) from constant ti with element (c, k) at c*sc + k*sk:
 * values = 1: read into *out; values = 2: only where it lies (h->w_*), its
 * first and last rows read to show that every row can be (the indices
 * grow with c and k). */
static int read_weights(const graph *g, int ti, int nclasses, int K, int64_t sc, int64_t sk,
                        float mul, int values, cam_head *h, err_t *e)
{
    wsource s;
    float *w;
    if (nclasses <= 0 || K <= 0)
        return err_set(e, "no classes");
    if ((size_t)nclasses > SIZE_MAX / sizeof *w / (size_t)K)
        return err_set(e, "weights '%s' too large", tname(g, ti));
    wsource_init(&s, &g->tensors[ti], nclasses, K, sc, sk, mul);
    h->w_tensor = ti;
    h->w_sc = sc;
    h->w_sk = sk;
    h->w_mul = mul;
    int nrows = values == 2 ? 2 : nclasses;     /* rows read into w */
    w = malloc((size_t)nrows * (size_t)K * sizeof *w);
    if (!w)
        return err_set(e, "out of memory for weights '%s'", tname(g, ti));
    for (int i = 0; i < nrows; i++)
        if (wsource_row(&s, values == 2 && i == 1 ? nclasses - 1 : i, w + (size_t)i * K) < 0) {
            free(w);
            return err_set(e, "weights '%s': unreadable constant", tname(g, ti));
        }
    if (values == 2)
        free(w);
    else
        h->W = w;
    return 0;
}

int head_weight_row(const graph *g, const cam_head *h, int c, float *row)
{
    if (h->identity || c < 0 || c >= h->nclasses)
        return -1;
    if (h->W) {
        memcpy(row, h->W + (size_t)c * h->K, sizeof *row * (size_t)h->K);
        return 0;
    }
    if (!g || h->w_tensor < 0 || h->w_tensor >= g->ntensors)
        return -1;
    wsource s;
    wsource_init(&s, &g->tensors[h->w_tensor], h->nclasses, h->K, h->w_sc, h->w_sk, h->w_mul);
    return wsource_row(&s, c, row);
}

/* Fills W, b, nclasses and returns the tensor produced by the linear node
 * li (whose data input is tensor a; for MatMul the output of an Add of a
 * constant that follows it), or -1 with e set. */
static int linear_head(const graph *g, int li, int a, int values, cam_head *h, err_t *e)
{
    const gnode *n = &g->nodes[li];
    int K = h->K;

    if (strcmp(n->op, "Gemm") == 0) {
        int tb = (int)attr_int(n, "transB", 0), ta = (int)attr_int(n, "transA", 0);
        float alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
        const gtensor *B;
        int N;
        if (n->nin < 2 || n->in[0] != a || ta != 0 || !is_const(g, n->in[1]))
            return err_set(e, "node '%s' (Gemm): not a linear layer on the pooled features "
                           "with constant weights", nname(n));
        B = &g->tensors[n->in[1]];
        if (B->ndim != 2 || B->dims[tb ? 1 : 0] != K)
            return err_set(e, "node '%s' (Gemm): weights '%s' do not take %d inputs", nname(n), B->name, K);
        N = B->dims[tb ? 0 : 1] > (1 << 24) ? -1 : (int)B->dims[tb ? 0 : 1];
        if (N <= 0 || N > (1 << 24))
            return err_set(e, "node '%s' (Gemm): %d classes", nname(n), N);
        h->nclasses = N;
        /* transB: B is N x K (c*K + k); else K x N (k*N + c). */
        if (values && read_weights(g, n->in[1], N, K, tb ? K : 1, tb ? 1 : N, alpha, values, h, e) < 0)
            return err_prefix(e, "node '%s' (Gemm)", nname(n));
        if (n->nin >= 3 && n->in[2] >= 0) {
            if (!is_const(g, n->in[2]))
                return err_set(e, "node '%s' (Gemm): bias is not a constant", nname(n));
            if (values && read_bias(g, n->in[2], N, beta, &h->b, e) < 0)
                return err_prefix(e, "node '%s' (Gemm)", nname(n));
        }
        return n->out[0];
    }
    if (strcmp(n->op, "MatMul") == 0) {
        const gtensor *B;
        int N, out, c[2];
        if (n->nin < 2 || n->in[0] != a || !is_const(g, n->in[1]))
            return err_set(e, "node '%s' (MatMul): not a linear layer on the pooled features "
                           "with constant weights", nname(n));
        B = &g->tensors[n->in[1]];
        if (B->ndim != 2 || B->dims[0] != K)
            return err_set(e, "node '%s' (MatMul): weights '%s' do not take %d inputs", nname(n), B->name, K);
        N = B->dims[1] > (1 << 24) ? -1 : (int)B->dims[1];
        if (N <= 0 || N > (1 << 24))
            return err_set(e, "node '%s' (MatMul): %d classes", nname(n), N);
        h->nclasses = N;
        if (values && read_weights(g, n->in[1], N, K, 1, N, 1.0f, values, h, e) < 0)
            return err_prefix(e, "node '%s' (MatMul)", nname(n));
        out = n->out[0];
        if (consumers(g, out, c, 2) == 1 && strcmp(g->nodes[c[0]].op, "Add") == 0 &&
            g->nodes[c[0]].nin == 2) {
            const gnode *ad = &g->nodes[c[0]];
            int other = ad->in[0] == out ? ad->in[1] : ad->in[0];
            if (is_const(g, other)) {
                if (values && read_bias(g, other, N, 1.0f, &h->b, e) < 0)
                    return err_prefix(e, "node '%s' (Add)", nname(ad));
                out = ad->out[0];
            }
        }
        return out;
    }
    if (strcmp(n->op, "Conv") == 0) {
        const gtensor *in = &g->tensors[a], *Wt;
        int N;
        if (n->nin < 2 || n->in[0] != a || !is_const(g, n->in[1]))
            return err_set(e, "node '%s' (Conv): not a linear layer on the pooled features "
                           "with constant weights", nname(n));
        if (in->ndim != 4 || in->dims[2] != 1 || in->dims[3] != 1)
            return err_set(e, "node '%s' (Conv): input '%s' is not a 1x1 map", nname(n), in->name);
        Wt = &g->tensors[n->in[1]];
        if (Wt->ndim != 4 || Wt->dims[1] != K || Wt->dims[2] != 1 || Wt->dims[3] != 1 ||
            attr_int(n, "group", 1) != 1)
            return err_set(e, "node '%s' (Conv): weights '%s' are not a 1x1 convolution of %d channels",
                           nname(n), Wt->name, K);
        N = Wt->dims[0] > (1 << 24) ? -1 : (int)Wt->dims[0];
        if (N <= 0 || N > (1 << 24))
            return err_set(e, "node '%s' (Conv): %d classes", nname(n), N);
        h->nclasses = N;
        if (values && read_weights(g, n->in[1], N, K, K, 1, 1.0f, values, h, e) < 0)
            return err_prefix(e, "node '%s' (Conv)", nname(n));
        if (n->nin >= 3 && n->in[2] >= 0) {
            if (!is_const(g, n->in[2]))
                return err_set(e, "node '%s' (Conv): bias is not a constant", nname(n));
            if (values && read_bias(g, n->in[2], N, 1.0f, &h->b, e) < 0)
                return err_prefix(e, "node '%s' (Conv)", nname(n));
        }
        return n->out[0];
    }
    return err_set(e, "node '%s' (%s) after the global average pooling is not a linear layer "
                   "(Gemm, MatMul, 1x1 Conv) or Softmax", nname(n), n->op);
}

/* ---------------------------------------------------------------- head_find */

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int head_find_mode(const graph *g, const char *feature, const char *labels_path, int values,
                          cam_head *h, err_t *e)
{
    int gap = -1, fi = -1, pooled, t, next;

    memset(h, 0, sizeof *h);
    h->w_tensor = -1;
    if (feature) {
        fi = find_tensor(g, feature);
        if (fi < 0)
            return err_set(e, "no tensor '%s' in the model", feature);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (is_gap(g, &g->nodes[i]) && (fi < 0 || g->nodes[i].in[0] == fi))
            gap = i;
    if (gap < 0) {
        if (fi >= 0)
            return err_set(e, "tensor '%s' does not feed a global average pooling", feature);
        return err_set(e, "no global average pooling of a 4-D feature map in the model "
                       "(GlobalAveragePool, AveragePool over the whole map, ReduceMean over H and W)");
    }
    fi = g->nodes[gap].in[0];
    pooled = g->nodes[gap].out[0];
    if (g->tensors[fi].dims[1] <= 0 || g->tensors[fi].dims[1] > (1 << 24))
        return err_set(e, "feature tensor '%s' has %lld channels", tname(g, fi),
                       (long long)g->tensors[fi].dims[1]);
    h->K = (int)g->tensors[fi].dims[1];

    t = walk_reshapes(g, pooled, &next);
    if (next < 0) {
        /* The end of the graph, or several consumers: a single linear one
         * among them is the head. */
        int c[16], nc = consumers(g, t, c, 16), nlin = 0;
        for (int i = 0; i < nc && i < 16; i++) {
            const char *op = g->nodes[c[i]].op;
            if (strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0 || strcmp(op, "Conv") == 0) {
                nlin++;
                next = c[i];
            }
        }
        if (nlin > 1) {
            head_free(h);
            return err_set(e, "the pooled tensor '%s' feeds %d linear layers: no single head",
                           tname(g, t), nlin);
        }
    }
    if (next < 0 || strcmp(g->nodes[next].op, "Softmax") == 0 || strcmp(g->nodes[next].op, "LogSoftmax") == 0) {
        /* Identity head: the classes are the channels. */
        h->identity = 1;
        h->nclasses = h->K;
        h->logits = dupstr(tname(g, t));
    } else {
        int lo = linear_head(g, next, t, values, h, e);
        int nx;
        if (lo < 0) {
            head_free(h);
            return -1;
        }
        lo = walk_reshapes(g, lo, &nx);
        h->logits = dupstr(tname(g, lo));
    }
    h->feature = dupstr(tname(g, fi));
    h->pooled = dupstr(tname(g, pooled));
    if (!h->feature || !h->pooled || !h->logits) {
        head_free(h);
        return err_set(e, "out of memory");
    }
    if (values && load_labels(g, labels_path, h, e) < 0) {
        head_free(h);
        return -1;
    }
    return 0;
}

int head_find(const graph *g, const char *feature, const char *labels_path, cam_head *h, err_t *e)
{
    return head_find_mode(g, feature, labels_path, 1, h, e);
}

int head_find_rows(const graph *g, const char *feature, const char *labels_path, cam_head *h,
                   err_t *e)
{
    return head_find_mode(g, feature, labels_path, 2, h, e);
}

int head_locate(const graph *g, const char *feature, cam_head *h, err_t *e)
{
    return head_find_mode(g, feature, NULL, 0, h, e);
}

void head_free(cam_head *h)
{
    if (!h)
        return;
    free(h->feature);
    free(h->pooled);
    free(h->logits);
    free(h->W);
    free(h->b);
    free_labels(h->labels, h->nclasses);
    memset(h, 0, sizeof *h);
}
