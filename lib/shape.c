/* shape.c - the first half of planning, shared by graph_infer_shapes() and
 * engine_create(): a private copy of the graph's tensors (constants
 * converted to float32 or int64 and dequantised), nodes mapped to
 * operators, shapes inferred from the input shape in node order, and every
 * node whose inputs are all constant evaluated at plan time.
 */
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "engine_int.h"
#include "kmem.h"

static size_t stored_size(int dt)
{
    switch (dt) {
    case DT_F32: case DT_I32: return 4;
    case DT_F16: case DT_U16: case DT_I16: return 2;
    case DT_F64: case DT_I64: return 8;
    case DT_U8: case DT_I8: case DT_BOOL: return 1;
    default: return 0;
    }
}

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, m = h & 1023, u;
    float f;
    if (ex == 31)
        u = s | 0x7f800000u | (m << 13);
    else if (ex == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    } else
        u = s | ((ex + 112) << 23) | (m << 13);
    memcpy(&f, &u, 4);
    return f;
}

/* Element i of a stored payload as double (integers exactly up to 2^53). */
static double stored_get(const void *data, int dt, int64_t i)
{
    const unsigned char *p = data;
    switch (dt) {
    case DT_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case DT_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return half_to_float(v); }
    case DT_U8: return p[i];
    case DT_I8: return (int8_t)p[i];
    case DT_BOOL: return p[i] != 0;
    case DT_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    default: return 0;
    }
}

static int64_t stored_get_i64(const void *data, int dt, int64_t i)
{
    if (dt == DT_I64) {
        int64_t v;
        memcpy(&v, (const char *)data + 8 * i, 8);
        return v;
    }
    return (int64_t)stored_get(data, dt, i);
}

int node_err(const enode *n, err_t *e, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(e, "node '%s' (%s): %s", n->name, n->g ? n->g->op : (n->op ? n->op->name : "?"), msg);
}

int et_numel(const int64_t *dims, int ndim, int64_t *out)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] > 0 && n > ENGINE_MAX_NUMEL / dims[i])
            return -1;
        n *= dims[i];
    }
    *out = n;
    return 0;
}

int et_setshape(ectx *c, int ti, int dtype, int ndim, const int64_t *dims, err_t *e)
{
    etensor *t = &c->t[ti];
    int64_t n;
    if (ndim < 0 || ndim > TENSOR_MAXDIM)
        return err_set(e, "tensor '%s': rank %d out of range", t->name, ndim);
    if (et_numel(dims, ndim, &n) < 0)
        return err_set(e, "tensor '%s': negative dimension or more than %lld elements",
                       t->name, (long long)ENGINE_MAX_NUMEL);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->numel = n;
    t->dtype = dtype;
    return 0;
}

int attr_ints(const gnode *g, const char *name, int64_t *v, int maxn)
{
    const gattr *a = gnode_attr(g, name);
    if (!a)
        return -1;
    if (a->type == ATTR_INT) {
        if (maxn >= 1)
            v[0] = a->i;
        return 1;
    }
    if (a->type != ATTR_INTS)
        return -2;
    if (a->n > maxn)
        return -2;
    for (int i = 0; i < a->n; i++)
        v[i] = a->ints[i];
    return a->n;
}

int norm_axis(int64_t axis, int rank, int64_t *out)
{
    if (axis < -rank || axis >= rank)
        return -1;
    *out = axis < 0 ? axis + rank : axis;
    return 0;
}

int et_const_ints(const ectx *c, int ti, int64_t *v, int maxn, int *n, err_t *e)
{
    const etensor *t = &c->t[ti];
    if (!t->cdata)
        return err_set(e, "tensor '%s' must be constant", t->name);
    if (t->numel > maxn)
        return err_set(e, "tensor '%s': %lld values, at most %d accepted", t->name,
                       (long long)t->numel, maxn);
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == DT_I64)
            v[i] = ((const int64_t *)t->cdata)[i];
        else {
            float f = ((const float *)t->cdata)[i];
            if (!(f > -9.2e18f && f < 9.2e18f))
                return err_set(e, "tensor '%s': value out of range", t->name);
            v[i] = (int64_t)f;
        }
    }
    *n = (int)t->numel;
    return 0;
}

int et_const_float(const ectx *c, int ti, float *v, err_t *e)
{
    const etensor *t = &c->t[ti];
    if (!t->cdata)
        return err_set(e, "tensor '%s' must be constant", t->name);
    if (t->numel != 1)
        return err_set(e, "tensor '%s' must hold one value", t->name);
    *v = t->dtype == DT_I64 ? (float)((const int64_t *)t->cdata)[0] : ((const float *)t->cdata)[0];
    return 0;
}

static int qrange(int dt, float *lo, float *hi)
{
    switch (dt) {
    case DT_U8: *lo = 0; *hi = 255; return 0;
    case DT_I8: *lo = -128; *hi = 127; return 0;
    case DT_U16: *lo = 0; *hi = 65535; return 0;
    case DT_I16: *lo = -32768; *hi = 32767; return 0;
    case DT_I32: *lo = -2147483648.0f; *hi = 2147483647.0f; return 0;
    default: return -1;
    }
}

/* 1 when constant gt's stored bytes are the engine's float values as
 * they are (float32, not quantised). */
static int stored_as_f32(const gtensor *gt)
{
    return gt->dtype == DT_F32 && gt->nq == 0;
}

/* The n values of constant gt as the engine's type dt (DT_I64, or DT_F32:
 * dequantised per channel) into dst. */
static void convert_values(void *dst, int dt, const gtensor *gt, int64_t n)
{
    int isfloat = gt->dtype == DT_F32 || gt->dtype == DT_F16 || gt->dtype == DT_F64;
    if (dt == DT_I64) {
        int64_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = stored_get_i64(gt->data, gt->dtype, i);
    } else if (stored_as_f32(gt)) {
        memcpy(dst, gt->data, (size_t)n * 4);
    } else {
        float *d = dst;
        int64_t inner = 1, nch = 1;
        if (gt->nq > 1) {
            for (int i = gt->qaxis + 1; i < gt->ndim; i++)
                inner *= gt->dims[i];
            nch = gt->nq;
        }
        for (int64_t i = 0; i < n; i++) {
            double v = stored_get(gt->data, gt->dtype, i);
            if (gt->nq > 0 && !isfloat) {
                int64_t ch = gt->nq > 1 ? (i / inner) % nch : 0;
                v = (double)gt->scale[ch] * (v - gt->zero_point[ch]);
            }
            d[i] = (float)v;
        }
    }
}

const float *ectx_const_values(ectx *c, int ti, err_t *e)
{
    etensor *t = &c->t[ti];
    if (!t->deferred)
        return t->cdata;
    size_t n = (size_t)(t->numel ? t->numel : 1);
    if (n > c->nstage) {
        if (c->stage_map) {
            /* a mapping sized for other layers: not realloc's to grow */
            kmem_unmap(c->stage, c->stage_map);
            c->stage = NULL;
            c->nstage = c->stage_map = 0;
        }
        float *s = realloc(c->stage, n * sizeof *s);
        if (!s)
            return err_set(e, "tensor '%s': out of memory", t->name), NULL;
        c->stage = s;
        c->nstage = n;
    }
    return ectx_const_into(c, ti, c->stage, e) < 0 ? NULL : c->stage;
}

const void *ectx_const_raw(const ectx *c, int ti)
{
    const etensor *t = &c->t[ti];
    if (!t->deferred || !c->g || ti >= c->g->ntensors)
        return NULL;
    const gtensor *gt = &c->g->tensors[ti];
    return stored_as_f32(gt) && gt->data ? gt->data : NULL;
}

int ectx_const_into(ectx *c, int ti, float *dst, err_t *e)
{
    etensor *t = &c->t[ti];
    if (!t->deferred) {
        if (t->numel > 0)
            memcpy(dst, t->cdata, (size_t)t->numel * sizeof *dst);
        return 0;
    }
    if (!c->g || ti >= c->g->ntensors)
        return err_set(e, "tensor '%s': values no longer available", t->name);
    convert_values(dst, DT_F32, &c->g->tensors[ti], t->numel);
    graph_drop_tensor(c->g, ti);
    return 0;
}

int ectx_materialize(ectx *c, int ti, err_t *e)
{
    etensor *t = &c->t[ti];
    if (!t->deferred || !t->cdata)
        return 0;
    if (!c->g || ti >= c->g->ntensors)
        return err_set(e, "tensor '%s': values no longer available", t->name);
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    if (!v)
        return err_set(e, "tensor '%s': out of memory", t->name);
    convert_values(v, DT_F32, &c->g->tensors[ti], t->numel);
    ectx_drop_const(c, t);
    t->cdata = v;
    t->deferred = 0;
    return 0;
}

void ectx_drop_const(ectx *c, etensor *t)
{
    if (t->cdata != c->zeros)
        free(t->cdata);
    t->cdata = NULL;
}

/* Converts one graph tensor into an etensor (constants: payload converted;
 * quantised constants dequantised per channel).  values = 0: a float
 * constant is "deferred": zeros (a read-only mapping at least as large,
 * or an untouched calloc when zeros is NULL) stand for its values, which
 * ectx_const_values reads from the graph when needed (see weights_only). */
static int import_tensor(etensor *t, const gtensor *gt, int values, float *zeros, size_t zbytes,
                         err_t *e)
{
    t->name = strdup(gt->name ? gt->name : "");
    if (!t->name)
        return err_set(e, "out of memory");
    t->producer = -1;
    t->alias = -1;
    t->ndim = -1;
    t->dtype = DT_F32;
    if (gt->ndim > TENSOR_MAXDIM)
        return err_set(e, "tensor '%s': rank %d out of range", t->name, gt->ndim);
    if (gt->nq < 0 || (gt->nq > 0 && (!gt->scale || !gt->zero_point)))
        return err_set(e, "tensor '%s': bad quantisation parameters", t->name);
    if (gt->data) {
        size_t es = stored_size(gt->dtype);
        int64_t n;
        if (!es)
            return err_set(e, "tensor '%s': unsupported constant type", t->name);
        if (gt->ndim < 0 || et_numel(gt->dims, gt->ndim, &n) < 0)
            return err_set(e, "tensor '%s': bad constant shape", t->name);
        if ((uint64_t)n * es != gt->nbytes)
            return err_set(e, "tensor '%s': %zu bytes of data for %lld elements", t->name,
                           gt->nbytes, (long long)n);
        int isfloat = gt->dtype == DT_F32 || gt->dtype == DT_F16 || gt->dtype == DT_F64;
        int dt = (isfloat || gt->nq > 0) ? DT_F32 : DT_I64;
        if (gt->nq > 1) {
            if (gt->qaxis < 0 || gt->qaxis >= gt->ndim || gt->dims[gt->qaxis] != gt->nq)
                return err_set(e, "tensor '%s': %d quantisation channels do not match axis %d",
                               t->name, gt->nq, gt->qaxis);
        }
        if (!values && dt == DT_F32 && zeros && (uint64_t)n <= zbytes / 4)
            t->cdata = zeros;
        else if (!values && dt == DT_F32)
            t->cdata = calloc((size_t)(n ? n : 1), 4);
        else
            t->cdata = malloc((size_t)(n ? n : 1) * (dt == DT_F32 ? 4 : 8));
        if (!t->cdata)
            return err_set(e, "tensor '%s': out of memory", t->name);
        t->ndim = gt->ndim;
        memcpy(t->dims, gt->dims, sizeof t->dims);
        t->numel = n;
        t->dtype = dt;
        if (!values && dt == DT_F32) {
            t->deferred = 1;
            return 0;
        }
        convert_values(t->cdata, dt, gt, n);
        return 0;
    }
    if (gt->ndim >= 0) {
        t->ndim = gt->ndim;
        memcpy(t->dims, gt->dims, sizeof t->dims);
    }
    if (gt->nq > 0) {
        if (qrange(gt->dtype, &t->qmin, &t->qmax) < 0)
            return err_set(e, "tensor '%s': quantisation on an unsupported type", t->name);
        t->nq = gt->nq;
        t->qaxis = gt->qaxis;
        t->qscale = malloc(sizeof(float) * gt->nq);
        t->qzp = malloc(sizeof(float) * gt->nq);
        if (!t->qscale || !t->qzp)
            return err_set(e, "out of memory");
        for (int i = 0; i < gt->nq; i++) {
            if (!(gt->scale[i] > 0) || !isfinite(gt->scale[i]))
                return err_set(e, "tensor '%s': quantisation scale must be positive", t->name);
            /* a zero point is a value of the stored type (and, for int32,
             * one a float holds exactly: the kernels take it as an int) */
            if (gt->zero_point[i] < t->qmin || gt->zero_point[i] > t->qmax ||
                gt->zero_point[i] < -(1 << 24) || gt->zero_point[i] > (1 << 24))
                return err_set(e, "tensor '%s': zero point %d outside the range of its type",
                               t->name, (int)gt->zero_point[i]);
            t->qscale[i] = gt->scale[i];
            t->qzp[i] = (float)gt->zero_point[i];
        }
    }
    return 0;
}

/* Marks the constants that only ever feed Conv or Gemm as
 * their weights (input 1): no shape depends on their values, and a Conv
 * reads them only to pack them (ectx_const_values).  NULL when out of
 * memory. */
static unsigned char *weights_only(const graph *g)
{
    unsigned char *w = calloc((size_t)g->ntensors + 1, 1);
    if (!w)
        return NULL;
    /* 0: no use seen, 1: only as weights, 2: some other use */
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *n = &g->nodes[i];
        int wop = n->op && (!strcmp(n->op, "Conv") || !strcmp(n->op, "Gemm")) &&
                  (!n->domain || !*n->domain);
        for (int k = 0; k < n->nin; k++) {
            int ti = n->in[k];
            if (ti >= 0 && ti < g->ntensors)
                w[ti] = wop && k == 1 && w[ti] != 2 ? 1 : 2;
        }
        for (int k = 0; k < n->nattr; k++) {
            int ti = n->attr[k].tensor;
            if (n->attr[k].type == ATTR_TENSOR && ti >= 0 && ti < g->ntensors)
                w[ti] = 2;
        }
    }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->ntensors)
            w[g->outputs[i]] = 2;
    for (int i = 0; i < g->ntensors; i++)
        w[i] = w[i] == 1 && g->tensors[i].data != NULL;
    return w;
}

/* ectx_init: the weights of Conv are deferred (read from the graph one layer
 * at a time when packed), and those of Gemm (read when the node runs: the
 * engine materialises them once it knows the node is needed, so that a
 * classifier nobody asked for is never copied).  So the weights are never
 * all copied at once, and their pages in the model file are read once. */
int ectx_init(ectx *c, const graph *g, err_t *e)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->opset = g->opset;
    if (g->ntensors < 0 || g->nnodes < 0)
        return err_set(e, "bad graph");
    c->t = calloc((size_t)g->ntensors + 1, sizeof *c->t);
    c->n = calloc((size_t)g->nnodes + 1, sizeof *c->n);
    if (!c->t || !c->n)
        return err_set(e, "out of memory");
    c->ntensors = g->ntensors;
    c->nnodes = g->nnodes;
    unsigned char *skip = weights_only(g);
    if (!skip)
        return err_set(e, "out of memory");
    /* one mapping of zeros for every deferred constant: the largest's size */
    int64_t zmax = 0;
    for (int i = 0; i < g->ntensors; i++) {
        int64_t n;
        const gtensor *gt = &g->tensors[i];
        if (skip[i] && gt->ndim >= 0 && gt->ndim <= TENSOR_MAXDIM &&
            et_numel(gt->dims, gt->ndim, &n) == 0 && n > zmax)
            zmax = n;
    }
    if (zmax > 0 && (uint64_t)zmax <= SIZE_MAX / 8) {
        size_t len = ((size_t)zmax * 4 + 4095) & ~(size_t)4095;
        void *z = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (z != MAP_FAILED) {
            c->zeros = z;
            c->zeros_bytes = len;
        }
    }
    for (int i = 0; i < g->ntensors; i++) {
        if (import_tensor(&c->t[i], &g->tensors[i], !skip[i], c->zeros, c->zeros_bytes, e) < 0) {
            free(skip);
            return -1;
        }
        if (!skip[i])
            graph_drop_tensor(g, i);    /* copied: the file's pages may go */
    }
    free(skip);
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *gn = &g->nodes[i];
        enode *n = &c->n[i];
        n->g = gn;
        n->c = c;
        n->name = strdup(gn->name && *gn->name ? gn->name : (gn->nout > 0 && gn->out[0] >= 0 && gn->out[0] < g->ntensors ? g->tensors[gn->out[0]].name : "?"));
        if (!n->name)
            return err_set(e, "out of memory");
        n->op = op_find(gn->op ? gn->op : "", gn->domain);
        if (gn->nin < 0 || gn->nout < 0 || gn->nin > 1024 || gn->nout > 64)
            return node_err(n, e, "bad number of inputs or outputs");
        n->nin = gn->nin;
        n->nout = gn->nout;
        n->in = malloc(sizeof(int) * (size_t)(gn->nin + 1));
        n->out = malloc(sizeof(int) * (size_t)(gn->nout + 1));
        n->ip = calloc((size_t)gn->nin + 1, sizeof *n->ip);
        n->opp = calloc((size_t)gn->nout + 1, sizeof *n->opp);
        if (!n->in || !n->out || !n->ip || !n->opp)
            return err_set(e, "out of memory");
        for (int k = 0; k < gn->nin; k++) {
            int ti = gn->in[k];
            if (ti < -1 || ti >= g->ntensors)
                return node_err(n, e, "input %d refers to no tensor", k);
            n->in[k] = ti;
        }
        for (int k = 0; k < gn->nout; k++) {
            int ti = gn->out[k];
            if (ti < -1 || ti >= g->ntensors)
                return node_err(n, e, "output %d refers to no tensor", k);
            if (ti >= 0) {
                if (c->t[ti].cdata)
                    return node_err(n, e, "output '%s' is a constant", c->t[ti].name);
                if (c->t[ti].producer >= 0)
                    return node_err(n, e, "tensor '%s' has two producers", c->t[ti].name);
                c->t[ti].producer = i;
            }
            n->out[k] = ti;
        }
    }
    return 0;
}

void ectx_free(ectx *c)
{
    if (c->n) {
        for (int i = 0; i < c->nnodes; i++) {
            enode *n = &c->n[i];
            if (n->p && n->op && n->op->pfree)
                n->op->pfree(n->p);
            else
                free(n->p);
            free(n->name);
            free(n->in);
            free(n->out);
            free(n->ip);
            free(n->opp);
        }
    }
    if (c->t) {
        for (int i = 0; i < c->ntensors; i++) {
            free(c->t[i].name);
            ectx_drop_const(c, &c->t[i]);
            free(c->t[i].qscale);
            free(c->t[i].qzp);
        }
    }
    free(c->stage);
    free(c->t);
    if (c->zeros)
        munmap(c->zeros, c->zeros_bytes);
    free(c->n);
    memset(c, 0, sizeof *c);
}

int ectx_default_input(const ectx *c, int *src, int *ndim, int64_t *dims, err_t *e)
{
    const graph *g = c->g;
    if (g->ninputs < 1)
        return err_set(e, "the model has no input");
    int ti = g->inputs[0];
    if (ti < 0 || ti >= c->ntensors)
        return err_set(e, "bad graph input");
    const gtensor *gt = &g->tensors[ti];
    if (gt->ndim < 0)
        return err_set(e, "input '%s': shape unknown; give it explicitly", gt->name);
    *src = ti;
    *ndim = gt->ndim;
    for (int i = 0; i < gt->ndim; i++) {
        dims[i] = gt->dims[i];
        if (dims[i] <= 0) {
            if (i == 0)
                dims[i] = 1;
            else
                return err_set(e, "input '%s': dimension %d unknown; give the shape explicitly",
                               gt->name, i);
        }
    }
    return 0;
}

static int parse_fused_act(ectx *c, enode *n, err_t *e)
{
    const char *s = gnode_attr_str(n->g, "fused_activation", NULL);
    n->act = EACT_NONE;
    if (!s || !strcmp(s, "NONE") || !*s)
        return 0;
    if (!strcmp(s, "RELU"))
        n->act = EACT_RELU;
    else if (!strcmp(s, "RELU6")) {
        n->act = EACT_CLIP;
        n->amin = 0;
        n->amax = 6;
    } else if (!strcmp(s, "RELU_N1_TO_1")) {
        n->act = EACT_CLIP;
        n->amin = -1;
        n->amax = 1;
    } else if (!strcmp(s, "TANH"))
        n->act = EACT_TANH;
    else
        return node_err(n, e, "unsupported fused activation '%s'", s);
    return 0;
}

/* Evaluates a node whose inputs are all constant; its outputs become
 * constants. */
static int fold_node(ectx *c, enode *n, err_t *e)
{
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && ectx_materialize(c, n->in[k], e) < 0)
            return -1;
    for (int k = 0; k < n->nin; k++)
        n->ip[k] = n->in[k] >= 0 ? c->t[n->in[k]].cdata : NULL;
    for (int k = 0; k < n->nout; k++) {
        n->opp[k] = NULL;
        if (n->out[k] < 0)
            continue;
        etensor *t = &c->t[n->out[k]];
        size_t es = t->dtype == DT_I64 ? 8 : 4;
        t->cdata = calloc((size_t)(t->numel ? t->numel : 1), es);
        if (!t->cdata)
            return node_err(n, e, "out of memory");
        n->opp[k] = t->cdata;
    }
    if (n->op->prepare && n->op->prepare(c, n, e) < 0)
        return -1;
    void *scratch = NULL;
    if (n->op->scratch) {
        size_t sb = n->op->scratch(n, 1);
        if (sb > ENGINE_MAX_ARENA)
            return node_err(n, e, "too much scratch memory");
        scratch = aligned_alloc(64, ((sb + 63) & ~(size_t)63) + 64);
        if (!scratch)
            return node_err(n, e, "out of memory");
    }
    n->op->run(n, scratch, NULL);
    free(scratch);
    for (int k = 0; k < n->nout; k++) {
        const etensor *t = n->out[k] >= 0 ? &c->t[n->out[k]] : NULL;
        if (!t || t->dtype != DT_F32)
            continue;
        if (k == 0)
            epilogue_apply(n, n->opp[0], t->numel, n->act_in_kernel);
        else
            quant_round(t, n->opp[k], t->numel);
    }
    return 0;
}

int ectx_infer(ectx *c, int src, int ndim, const int64_t *dims, const unsigned char *need,
               err_t *e)
{
    /* forget what a previous pass derived */
    for (int i = 0; i < c->ntensors; i++) {
        etensor *t = &c->t[i];
        if (t->producer >= 0) {
            free(t->cdata);
            t->cdata = NULL;
        }
        if (!t->cdata) {
            t->ndim = -1;
            t->numel = 0;
            t->dtype = DT_F32;
        }
    }
    for (int i = 0; i < c->nnodes; i++) {
        enode *n = &c->n[i];
        if (n->p) {
            if (n->op && n->op->pfree)
                n->op->pfree(n->p);
            else
                free(n->p);
            n->p = NULL;
        }
        n->live = 0;
    }
    if (src < 0 || src >= c->ntensors)
        return err_set(e, "no such input tensor");
    if (c->t[src].cdata)
        return err_set(e, "input '%s' is a constant", c->t[src].name);
    if (et_setshape(c, src, DT_F32, ndim, dims, e) < 0)
        return err_prefix(e, "input");
    for (int i = 0; i < c->nnodes; i++) {
        enode *n = &c->n[i];
        int known = 1, allconst = 1, isrc = 0;
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] == src)
                isrc = 1;
        if (isrc || !n->op || (need && !need[i]))
            continue;
        for (int k = 0; k < n->nin && known; k++) {
            if (n->in[k] < 0)
                continue;
            etensor *t = &c->t[n->in[k]];
            if (t->ndim < 0)
                known = 0;
            if (!t->cdata)
                allconst = 0;
        }
        if (!known)
            continue;
        if (parse_fused_act(c, n, e) < 0)
            return -1;
        if (n->op->infer(c, n, e) < 0)
            return -1;
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] >= 0 && c->t[n->out[k]].ndim < 0)
                return node_err(n, e, "output %d has no shape", k);
        if (!strcmp(n->op->name, "Shape"))
            allconst = 1;
        if (allconst) {
            if (fold_node(c, n, e) < 0)
                return -1;
            n->live = -1;   /* folded */
        } else {
            for (int k = 0; k < n->nout; k++)
                if (n->out[k] >= 0 && c->t[n->out[k]].dtype != DT_F32)
                    return node_err(n, e, "output '%s' would be an integer tensor computed at run time; not supported",
                                    c->t[n->out[k]].name);
            n->live = 1;    /* reachable, runs */
        }
    }
    return 0;
}

static int resolve_source(const ectx *c, const graph *g, const char *input, int in_ndim,
                          const int64_t *in_dims, int *src, int *ndim, int64_t *dims, err_t *e);

/* graph_infer_shapes' work, left built in c on success (freed on failure). */
static int infer_into(ectx *c, graph *g, const char *input, int in_ndim, const int64_t *in_dims,
                      err_t *e)
{
    int src, ndim;
    int64_t dims[TENSOR_MAXDIM];
    if (ectx_init(c, g, e) < 0 || resolve_source(c, g, input, in_ndim, in_dims, &src, &ndim, dims, e) < 0 ||
        ectx_infer(c, src, ndim, dims, NULL, e) < 0) {
        ectx_free(c);
        return -1;
    }
    for (int i = 0; i < g->ntensors; i++) {
        const etensor *t = &c->t[i];
        gtensor *gt = &g->tensors[i];
        if (t->ndim < 0 || gt->data)
            continue;
        gt->ndim = t->ndim;
        for (int k = 0; k < TENSOR_MAXDIM; k++)
            gt->dims[k] = k < t->ndim ? t->dims[k] : 0;
    }
    return 0;
}

int graph_infer_shapes(graph *g, const char *input, int in_ndim, const int64_t *in_dims, err_t *e)
{
    ectx c;
    int rc = infer_into(&c, g, input, in_ndim, in_dims, e);
    if (rc == 0)
        ectx_free(&c);
    malloc_trim(0);     /* the copies of the weights go back to the system */
    return rc;
}

engine_shapes *engine_infer_shapes(graph *g, int in_ndim, const int64_t *in_dims, err_t *e)
{
    engine_shapes *s = malloc(sizeof *s);
    if (!s) {
        err_set(e, "out of memory");
        return NULL;
    }
    if (infer_into(&s->c, g, NULL, in_ndim, in_dims, e) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

int ectx_init_from(ectx *c, const graph *g, engine_shapes **s, err_t *e)
{
    if (!*s || (*s)->c.g != g)
        return ectx_init(c, g, e);
    *c = (*s)->c;
    free(*s);
    *s = NULL;
    for (int i = 0; i < c->nnodes; i++)
        c->n[i].c = c;          /* the context's new address */
    return 0;
}

void engine_shapes_free(engine_shapes *s)
{
    if (s) {
        ectx_free(&s->c);
        free(s);
    }
}

/* The input tensor and its shape from the caller's request: NULL input =
 * the graph's first input; no shape = the declared one (batch 1) for a graph
 * input, or the shape inferred from the graph's input for an inner tensor. */
static int resolve_source(const ectx *c0, const graph *g, const char *input, int in_ndim,
                          const int64_t *in_dims, int *src, int *ndim, int64_t *dims, err_t *e)
{
    ectx *c = (ectx *)c0;
    int dsrc, dnd;
    int64_t dd[TENSOR_MAXDIM];
    int ti;
    if (input) {
        ti = graph_find_tensor(g, input);
        if (ti < 0 || ti >= c->ntensors)
            return err_set(e, "no tensor named '%s' in the model", input);
    } else {
        if (g->ninputs < 1)
            return err_set(e, "the model has no input");
        ti = g->inputs[0];
        if (ti < 0 || ti >= c->ntensors)
            return err_set(e, "bad graph input");
    }
    if (c->t[ti].cdata)
        return err_set(e, "tensor '%s' is a constant, not an input", c->t[ti].name);
    *src = ti;
    if (in_ndim > 0) {
        if (in_ndim > TENSOR_MAXDIM)
            return err_set(e, "input shape: rank %d out of range", in_ndim);
        for (int i = 0; i < in_ndim; i++)
            if (in_dims[i] < 0)
                return err_set(e, "input shape: dimension %d is negative", i);
        *ndim = in_ndim;
        memcpy(dims, in_dims, sizeof(int64_t) * (size_t)in_ndim);
        return 0;
    }
    int isinput = 0;
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] == ti)
            isinput = 1;
    if (isinput) {
        const gtensor *gt = &g->tensors[ti];
        if (gt->ndim < 0)
            return err_set(e, "input '%s': shape unknown; give it explicitly", gt->name);
        *ndim = gt->ndim;
        for (int i = 0; i < gt->ndim; i++) {
            dims[i] = gt->dims[i];
            if (dims[i] <= 0) {
                if (i != 0)
                    return err_set(e, "input '%s': dimension %d unknown; give the shape explicitly",
                                   gt->name, i);
                dims[i] = 1;
            }
        }
        return 0;
    }
    /* an inner tensor: its shape as computed from the graph's input */
    if (ectx_default_input(c, &dsrc, &dnd, dd, e) < 0)
        return err_prefix(e, "shape of '%s'", c->t[ti].name);
    if (ectx_infer(c, dsrc, dnd, dd, NULL, e) < 0)
        return -1;
    if (c->t[ti].ndim < 0)
        return err_set(e, "tensor '%s': shape unknown; give it explicitly", c->t[ti].name);
    *ndim = c->t[ti].ndim;
    memcpy(dims, c->t[ti].dims, sizeof(int64_t) * (size_t)*ndim);
    return 0;
}

/* Exposed to engine.c. */
int ectx_resolve_source(ectx *c, const char *input, int in_ndim, const int64_t *in_dims,
                        int *src, int *ndim, int64_t *dims, err_t *e)
{
    return resolve_source(c, c->g, input, in_ndim, in_dims, src, ndim, dims, e);
}
