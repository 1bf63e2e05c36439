/* ops_nn.c - the neural-network operators: Conv (through conv_prepare /
 * conv_run), BatchNormalization, Gemm and MatMul (through sgemm), max and
 * average pooling, global pooling, LRN.  Activations are N x C x spatial,
 * C order; the kernels work one image (C x H x W) at a time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine_int.h"
#include "kern_dw.h"
#include "kern_gemv.h"
#include "kern_q.h"
#include "kmem.h"
#include "wcache.h"

/* GCC at -O2 only vectorises loops that need no run-time checks; these
 * element loops are the whole cost of the operators, so ask for more. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int need_in(const enode *n, int lo, int hi, err_t *e)
{
    if (n->nin < lo || n->nin > hi)
        return node_err(n, e, "%d inputs, expected %d..%d", n->nin, lo, hi);
    for (int k = 0; k < lo; k++)
        if (n->in[k] < 0)
            return node_err(n, e, "input %d is missing", k);
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && IN(n, k)->dtype != DT_F32)
            return node_err(n, e, "input '%s' is an integer tensor; only float is supported",
                            IN(n, k)->name);
    if (n->nout < 1 || n->out[0] < 0)
        return node_err(n, e, "no output");
    return 0;
}

static int fits_int(int64_t v)
{
    return v >= 0 && v <= INT32_MAX;
}

/* Output size and pads along one spatial axis.  pads in/out: begin, end
 * (explicit pads when auto_pad is NOTSET).  Returns -1 when the window does
 * not fit. */
static int window_out(int64_t in, int64_t k, int64_t s, int64_t d, const char *auto_pad,
                      int ceil_mode, int64_t *pb, int64_t *pe, int64_t *out)
{
    int64_t dk = (k - 1) * d + 1;
    if (k < 1 || s < 1 || d < 1 || k > ENGINE_MAX_NUMEL || s > ENGINE_MAX_NUMEL || d > ENGINE_MAX_NUMEL)
        return -1;
    if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + dk - in;
        if (total < 0)
            total = 0;
        if (!strcmp(auto_pad, "SAME_UPPER"))
            *pb = total / 2;
        else
            *pb = total - total / 2;
        *pe = total - *pb;
        *out = o;
        return o >= 1 ? 0 : -1;
    }
    if (!strcmp(auto_pad, "VALID")) {
        *pb = *pe = 0;
    } else if (strcmp(auto_pad, "NOTSET") && *auto_pad)
        return -2;
    if (*pb < 0 || *pe < 0 || *pb > ENGINE_MAX_NUMEL || *pe > ENGINE_MAX_NUMEL)
        return -1;
    int64_t span = in + *pb + *pe - dk;
    if (span < 0)
        return -1;
    int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
    if (ceil_mode && (o - 1) * s >= in + *pb)
        o--;
    *out = o;
    return o >= 1 ? 0 : -1;
}

/* Spatial attributes shared by Conv and the pools: kernel (given), strides,
 * dilations, pads, auto_pad.  nsp = 1 or 2 spatial dims. */
typedef struct {
    int64_t k[2], s[2], d[2], pb[2], pe[2], o[2];
} window;

static int parse_window(const enode *n, int nsp, const int64_t *in, const int64_t *k, int ceil_mode,
                        int allow_dil, window *w, err_t *e)
{
    int64_t v[8];
    int c;
    const char *ap = gnode_attr_str(n->g, "auto_pad", "NOTSET");
    for (int i = 0; i < nsp; i++) {
        w->k[i] = k[i];
        w->s[i] = w->d[i] = 1;
        w->pb[i] = w->pe[i] = 0;
    }
    if ((c = attr_ints(n->g, "strides", v, 8)) >= 0) {
        if (c != nsp)
            return node_err(n, e, "strides: %d values for %d spatial dims", c, nsp);
        for (int i = 0; i < nsp; i++)
            w->s[i] = v[i];
    } else if (c == -2)
        return node_err(n, e, "bad strides");
    if ((c = attr_ints(n->g, "dilations", v, 8)) >= 0) {
        if (c != nsp)
            return node_err(n, e, "dilations: %d values for %d spatial dims", c, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] != 1 && !allow_dil)
                return node_err(n, e, "dilations are not supported");
            w->d[i] = v[i];
        }
    } else if (c == -2)
        return node_err(n, e, "bad dilations");
    if ((c = attr_ints(n->g, "pads", v, 8)) >= 0) {
        if (c != 2 * nsp)
            return node_err(n, e, "pads: %d values for %d spatial dims", c, nsp);
        for (int i = 0; i < nsp; i++) {
            w->pb[i] = v[i];
            w->pe[i] = v[nsp + i];
        }
    } else if (c == -2)
        return node_err(n, e, "bad pads");
    for (int i = 0; i < nsp; i++) {
        int r = window_out(in[i], w->k[i], w->s[i], w->d[i], ap, ceil_mode, &w->pb[i], &w->pe[i], &w->o[i]);
        if (r == -2)
            return node_err(n, e, "unsupported auto_pad '%s'", ap);
        if (r < 0)
            return node_err(n, e, "kernel %lld (stride %lld, dilation %lld, pads %lld+%lld) does not fit input size %lld",
                            (long long)w->k[i], (long long)w->s[i], (long long)w->d[i],
                            (long long)w->pb[i], (long long)w->pe[i], (long long)in[i]);
        if (!fits_int(w->o[i]) || !fits_int(w->k[i]) || !fits_int(w->pb[i]) || !fits_int(w->pe[i]))
            return node_err(n, e, "sizes out of range");
    }
    return 0;
}

/* ------------------------------------------------------------ Conv */

typedef struct conv_p_ {
    conv_params cp;
    int64_t N, in_img, out_img;
    const float *w;               /* W's constant data, until prepare (not copied) */
    float *wscale;                /* per output channel, from a folded BN, or NULL */
    float *b;                     /* until prepare */
    int64_t wn;
    conv_kernel *k;
    qconv_kernel *qk;             /* quantised model: the integer kernel instead */
    const struct conv_p_ *xa;     /* an expanding 1x1 Conv run inside this one
                                     (conv_run_expand_dw), reading its input */
    uint64_t fp;                  /* conv_fingerprint, for a deferred packing */
    int wt;                       /* the weights' tensor */
} conv_p;

static void conv_pfree(void *pp)
{
    conv_p *p = pp;
    if (!p)
        return;
    free(p->wscale);
    free(p->b);
    if (p->k)
        conv_free(p->k);
    qconv_free(p->qk);
    free(p);
}

static int conv_infer(ectx *c, enode *n, err_t *e)
{
    if (need_in(n, 2, 3, e) < 0)
        return -1;
    const etensor *x = IN(n, 0), *W = IN(n, 1), *B = n->nin > 2 && n->in[2] >= 0 ? IN(n, 2) : NULL;
    if (x->ndim == 5)
        return node_err(n, e, "3-D convolution is not supported");
    if (x->ndim != 3 && x->ndim != 4)
        return node_err(n, e, "input '%s' must be N x C x L or N x C x H x W (rank %d)", x->name, x->ndim);
    if (!W->cdata || (B && !B->cdata))
        return node_err(n, e, "weights and bias must be constant");
    if (W->ndim != x->ndim)
        return node_err(n, e, "weights '%s' have rank %d, input rank %d", W->name, W->ndim, x->ndim);
    int nsp = x->ndim - 2;
    int64_t group = gnode_attr_int(n->g, "group", 1);
    int64_t C = x->dims[1], M = W->dims[0];
    if (group < 1 || C % group || M % group || W->dims[1] * group != C)
        return node_err(n, e, "weights %lld x %lld do not match %lld input channels in %lld groups",
                        (long long)M, (long long)W->dims[1], (long long)C, (long long)group);
    if (B && (B->ndim != 1 || B->dims[0] != M))
        return node_err(n, e, "bias must have %lld values", (long long)M);
    int64_t ks[2], kattr[8], in[2];
    for (int i = 0; i < nsp; i++) {
        ks[i] = W->dims[2 + i];
        in[i] = x->dims[2 + i];
    }
    int kc = attr_ints(n->g, "kernel_shape", kattr, 8);
    if (kc >= 0) {
        if (kc != nsp)
            return node_err(n, e, "kernel_shape has %d values", kc);
        for (int i = 0; i < nsp; i++)
            if (kattr[i] != ks[i])
                return node_err(n, e, "kernel_shape does not match the weights");
    }
    window w;
    if (parse_window(n, nsp, in, ks, 0, 1, &w, e) < 0)
        return -1;
    if (!fits_int(C) || !fits_int(M) || !fits_int(in[0]) || (nsp == 2 && !fits_int(in[1])))
        return node_err(n, e, "sizes out of range");
    if (C < 1 || M < 1 || in[0] < 1 || (nsp == 2 && in[1] < 1))
        return node_err(n, e, "empty input or weights");
    conv_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    conv_params *cp = &p->cp;
    cp->cin = (int)C;
    cp->cout = (int)M;
    cp->group = (int)group;
    if (nsp == 1) {
        cp->h = 1; cp->w = (int)in[0];
        cp->kh = 1; cp->kw = (int)ks[0];
        cp->sh = 1; cp->sw = (int)w.s[0];
        cp->dh = 1; cp->dw = (int)w.d[0];
        cp->pt = cp->pb = 0; cp->pl = (int)w.pb[0]; cp->pr = (int)w.pe[0];
        cp->oh = 1; cp->ow = (int)w.o[0];
    } else {
        cp->h = (int)in[0]; cp->w = (int)in[1];
        cp->kh = (int)ks[0]; cp->kw = (int)ks[1];
        cp->sh = (int)w.s[0]; cp->sw = (int)w.s[1];
        cp->dh = (int)w.d[0]; cp->dw = (int)w.d[1];
        cp->pt = (int)w.pb[0]; cp->pl = (int)w.pb[1]; cp->pb = (int)w.pe[0]; cp->pr = (int)w.pe[1];
        cp->oh = (int)w.o[0]; cp->ow = (int)w.o[1];
    }
    cp->act = ACT_NONE;
    int64_t od[4] = {x->dims[0], M, w.o[0], nsp == 2 ? w.o[1] : 0};
    if (et_setshape(c, n->out[0], DT_F32, x->ndim, od, e) < 0)
        return -1;
    p->N = x->dims[0];
    p->in_img = p->N ? x->numel / p->N : 0;
    p->out_img = p->N ? OUT(n, 0)->numel / p->N : 0;
    p->wn = W->numel;
    /* the weights are read where they are (no copy of every layer's
     * weights at once): a folded BN scales them at prepare */
    p->w = W->cdata;
    p->b = malloc(sizeof(float) * (size_t)M + 4);
    if (!p->b)
        return node_err(n, e, "out of memory");
    if (B)
        memcpy(p->b, B->cdata, sizeof(float) * (size_t)M);
    else
        memset(p->b, 0, sizeof(float) * (size_t)M);
    return 0;
}

static uint64_t fnv_int(uint64_t h, int64_t v)
{
    return wcache_hash(h, &v, sizeof v);
}

static uint64_t fnv_ints(uint64_t h, const int *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = fnv_int(h, v[i]);
    return h;
}

static uint64_t fnv_quant(uint64_t h, const etensor *t)
{
    h = fnv_int(h, t->nq);
    if (t->nq > 0 && t->qscale && t->qzp) {
        h = wcache_hash(h, t->qscale, sizeof(float) * (size_t)t->nq);
        h = wcache_hash(h, t->qzp, sizeof(float) * (size_t)t->nq);
    }
    return h;
}

/* What a Conv's packed form depends on besides its weights' values: the
 * shapes, the fused activation, the BatchNormalization folded into it
 * (scales and biases) and the quantisation of its input, weights and
 * output.  The packed-weight cache checks it (kmem_tag). */
static uint64_t conv_fingerprint(const ectx *c, const enode *n, const conv_p *p)
{
    const conv_params *q = &p->cp;
    const int f[] = {q->cin, q->h, q->w, q->cout, q->oh, q->ow, q->kh, q->kw, q->sh, q->sw,
                     q->dh, q->dw, q->pt, q->pl, q->pb, q->pr, q->group, n->act, c->reference};
    uint64_t h = fnv_ints(WCACHE_HASH_INIT, f, sizeof f / sizeof *f);
    h = wcache_hash(h, &n->amin, sizeof n->amin);
    h = wcache_hash(h, &n->amax, sizeof n->amax);
    h = fnv_int(h, p->wscale != NULL);
    if (p->wscale)
        h = wcache_hash(h, p->wscale, sizeof(float) * (size_t)q->cout);
    h = wcache_hash(h, p->b, sizeof(float) * (size_t)q->cout);
    h = fnv_int(h, p->wn);
    for (int k = 0; k < n->nin && k < 3; k++)
        if (n->in[k] >= 0)
            h = fnv_quant(h, IN(n, k));
    return fnv_quant(h, OUT(n, 0));
}

static int conv_prepare_op(ectx *c, enode *n, err_t *e)
{
    conv_p *p = n->p;
    p->cp.wino_keep = c->wino_keep;
    p->fp = conv_fingerprint(c, n, p);
    p->wt = n->in[1];
    kmem_tag(p->fp);
    /* quantised: integer kernel, activation and rounding in its store */
    int qr = qconv_node_prepare(c, n, &p->cp, p->wscale != NULL, &p->qk, e);
    if (qr < 0)
        return -1;
    if (qr > 0) {
        n->act_in_kernel = 1;
        n->quant_in_kernel = 1;
        if (!c->reference) {
            int io = qconv_io_u8(p->qk);
            n->qio = (io & QCONV_READS_U8 ? QIO_READ : 0) | (io & QCONV_WRITES_U8 ? QIO_WRITE : 0);
        }
        free(p->b);
        p->b = NULL;
        p->w = NULL;
        return 0;
    }
    if (n->act == EACT_RELU || n->act == EACT_CLIP) {
        p->cp.act = n->act == EACT_RELU ? ACT_RELU : ACT_CLIP;
        p->cp.act_min = n->amin;
        p->cp.act_max = n->amax;
        n->act_in_kernel = 1;
    }
    const etensor *W = IN(n, 1);
    if (kmem_replaying()) {
        /* the packed weights come from the packed-weight cache: the
         * model's are not read */
        p->k = conv_prepare(&p->cp, NULL, p->b, c->reference, e);
        if (!p->k)
            return err_prefix(e, "node '%s' (Conv)", n->name);
        free(p->wscale);
        free(p->b);
        p->w = NULL;
        p->wscale = p->b = NULL;
        return 0;
    }
    /* The weights packed where they are: float32 in the model file read
     * in place, else (other types, converted) from c->stage, or the
     * constant's values; a folded BN's scale is applied as they are
     * packed.  Copying every layer into the stage and scaling it there
     * first cost ResNet-18's first run 7 of its 24 ms, and the stage's
     * fresh memory more. */
    const void *raw = W->deferred ? ectx_const_raw(c, n->in[1]) : NULL;
    conv_wsrc src = {raw ? raw : W->cdata, p->wscale, NULL, NULL};  /* cdata: given since infer perhaps */
    if (W->deferred && !raw && !(src.w = ectx_const_values(c, n->in[1], e)))
        return err_prefix(e, "node '%s' (Conv)", n->name);
    /* left in the model (the model outlives the engine then) */
    p->cp.lazy = c->lazy_pack && raw && !c->reference;
    p->k = conv_prepare_src(&p->cp, &src, p->b, c->reference, e);
    if (raw && !conv_is_lazy(p->k))
        graph_drop_tensor(c->g, n->in[1]);
    if (!p->k)
        return err_prefix(e, "node '%s' (Conv)", n->name);
    free(p->wscale);
    free(p->b);
    p->w = NULL;
    p->wscale = p->b = NULL;
    return 0;
}

static size_t conv_scratch(const enode *n, int nthreads)
{
    const conv_p *p = n->p;
    if (p->qk)
        return qconv_scratch_bytes(p->qk, nthreads);
    if (p->xa)
        return conv_expand_dw_scratch(p->xa->k, p->k, nthreads);
    return p->k ? conv_scratch_bytes_n(p->k, p->N, nthreads) : 0;
}

int conv_node_fuse_expand(enode *a, enode *b, size_t min_bytes)
{
    conv_p *pa = a->p, *pb = b->p;
    if (!pa || !pb || !pa->k || !pb->k || pa->qk || pb->qk || pa->xa || pb->xa ||
        pa->N != pb->N || (!a->act_in_kernel && a->act != EACT_NONE) ||
        (!b->act_in_kernel && b->act != EACT_NONE) || !conv_expand_dw_ok(pa->k, pb->k) ||
        (size_t)pa->out_img * sizeof(float) < min_bytes)
        return 0;
    pb->xa = pa;
    return 1;
}

static void conv_run_op(enode *n, void *scratch, threadpool *tp)
{
    const conv_p *p = n->p;
    if (p->qk) {
        /* a tensor held as uint8 has one byte per value */
        const unsigned char *i8 = IN(n, 0)->qstore ? (const unsigned char *)n->ip[0] : NULL;
        unsigned char *o8 = OUT(n, 0)->qstore ? (unsigned char *)n->opp[0] : NULL;
        for (int64_t i = 0; i < p->N; i++)
            qconv_run_io(p->qk, n->ip[0] + i * p->in_img, i8 ? i8 + i * p->in_img : NULL,
                         n->opp[0] + i * p->out_img, o8 ? o8 + i * p->out_img : NULL, scratch, tp);
        return;
    }
    if (p->xa) {
        /* ip[0] is the expanding Conv's input */
        for (int64_t i = 0; i < p->N; i++)
            conv_run_expand_dw(p->xa->k, p->k, n->ip[0] + i * p->xa->in_img,
                               n->opp[0] + i * p->out_img, scratch, tp);
        return;
    }
    /* a batch: the images at once where the kernel gains from it */
    conv_run_n(p->k, p->N, n->ip[0], (size_t)p->in_img, n->opp[0], (size_t)p->out_img,
               scratch, tp);
}

int conv_node_batches(const enode *n)
{
    const conv_p *p = n->p;
    return p && !p->qk && p->k && conv_batches(p->k);
}

size_t conv_node_weight_bytes(const enode *n)
{
    const conv_p *p = n->p;
    if (p && p->qk)
        return qconv_weight_bytes(p->qk);
    return p && p->k ? conv_weight_bytes(p->k) : 0;
}

/* ------------------------------------------------------------ BatchNormalization */

typedef struct {
    int64_t N, C, inner;
    float *a, *b;       /* y = a[c] * x + b[c] */
} bn_p;

static void bn_pfree(void *pp)
{
    bn_p *p = pp;
    if (p) {
        free(p->a);
        free(p->b);
        free(p);
    }
}

static int bn_infer(ectx *c, enode *n, err_t *e)
{
    if (need_in(n, 5, 5, e) < 0)
        return -1;
    if (gnode_attr_int(n->g, "training_mode", 0) != 0)
        return node_err(n, e, "training mode is not supported");
    if (gnode_attr_int(n->g, "spatial", 1) != 1)
        return node_err(n, e, "spatial = 0 is not supported");
    for (int k = 1; k < n->nout; k++)
        if (n->out[k] >= 0)
            return node_err(n, e, "training outputs (mean, var) are not supported");
    const etensor *x = IN(n, 0);
    if (x->ndim < 2)
        return node_err(n, e, "input must have rank >= 2");
    int64_t C = x->dims[1];
    for (int k = 1; k < 5; k++) {
        const etensor *t = IN(n, k);
        if (!t->cdata)
            return node_err(n, e, "parameter '%s' must be constant", t->name);
        if (t->numel != C)
            return node_err(n, e, "parameter '%s' has %lld values for %lld channels", t->name,
                            (long long)t->numel, (long long)C);
    }
    float eps = gnode_attr_float(n->g, "epsilon", 1e-5f);
    bn_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->a = malloc(sizeof(float) * (size_t)(C + 1));
    p->b = malloc(sizeof(float) * (size_t)(C + 1));
    if (!p->a || !p->b)
        return node_err(n, e, "out of memory");
    const float *sc = IN(n, 1)->cdata, *bi = IN(n, 2)->cdata, *mu = IN(n, 3)->cdata, *va = IN(n, 4)->cdata;
    for (int64_t i = 0; i < C; i++) {
        float a = sc[i] / sqrtf(va[i] + eps);
        p->a[i] = a;
        p->b[i] = bi[i] - mu[i] * a;
    }
    p->N = x->dims[0];
    p->C = C;
    p->inner = p->N > 0 && C > 0 ? x->numel / (p->N * C) : 0;
    return et_setshape(c, n->out[0], DT_F32, x->ndim, x->dims, e);
}

static void bn_run(enode *n, void *scratch, threadpool *tp)
{
    const bn_p *p = n->p;
    const float *x = n->ip[0];
    float *y = n->opp[0];
    for (int64_t i = 0; i < p->N; i++)
        for (int64_t ch = 0; ch < p->C; ch++) {
            const float a = p->a[ch], b = p->b[ch];
            int64_t o = (i * p->C + ch) * p->inner;
            for (int64_t j = 0; j < p->inner; j++)
                y[o + j] = x[o + j] * a + b;
        }
}

/* Folds BatchNormalization bn into the convolution conv (before prepare):
 * w'[m] = a[m] w[m], b'[m] = a[m] b[m] + shift[m]. */
int conv_fold_bn(enode *conv, const enode *bn, err_t *e)
{
    conv_p *p = conv->p;
    const bn_p *q = bn->p;
    if (!p || !p->w || !q || q->C != p->cp.cout)
        return node_err(bn, e, "cannot fold into '%s'", conv->name);
    if (!p->wscale) {
        p->wscale = malloc(sizeof(float) * (size_t)p->cp.cout);
        if (!p->wscale)
            return node_err(bn, e, "out of memory");
        for (int m = 0; m < p->cp.cout; m++)
            p->wscale[m] = 1.0f;
    }
    for (int m = 0; m < p->cp.cout; m++) {
        p->wscale[m] *= q->a[m];
        p->b[m] = p->b[m] * q->a[m] + q->b[m];
    }
    return 0;
}

/* ------------------------------------------------------------ Gemm */

typedef struct {
    int M, N, K, ta, tb, lda, ldb, ref;
    float alpha, beta;
    float *bias;            /* beta * C as a per-column vector, or NULL */
    int fill;               /* 1: out = beta * C broadcast first */
    int64_t cm, cn;         /* C's broadcast dims */
    const float *w;         /* B, a constant read from the model: its values
                               kept by prepare (a kmem piece, so that the
                               packed-weight cache holds them), else NULL */
    int deferred;           /* w points into the model (ectx.lazy_pack) */
    uint64_t fp;            /* the kmem tag of w's piece */
} gemm_p;

static void gemm_pfree(void *pp)
{
    gemm_p *p = pp;
    if (p) {
        free(p->bias);
        free(p);
    }
}

static int gemm_infer(ectx *c, enode *n, err_t *e)
{
    if (need_in(n, 2, 3, e) < 0)
        return -1;
    const etensor *A = IN(n, 0), *B = IN(n, 1), *C = n->nin > 2 && n->in[2] >= 0 ? IN(n, 2) : NULL;
    if (A->ndim != 2 || B->ndim != 2)
        return node_err(n, e, "A and B must be 2-D (ranks %d, %d)", A->ndim, B->ndim);
    int ta = gnode_attr_int(n->g, "transA", 0) != 0, tb = gnode_attr_int(n->g, "transB", 0) != 0;
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t K2 = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != K2)
        return node_err(n, e, "inner dimensions differ: A '%s' gives %lld, B '%s' gives %lld",
                        A->name, (long long)K, B->name, (long long)K2);
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return node_err(n, e, "sizes out of range");
    gemm_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->M = (int)M; p->N = (int)N; p->K = (int)K;
    p->ta = ta; p->tb = tb;
    p->lda = (int)A->dims[1];
    p->ldb = (int)B->dims[1];
    p->alpha = gnode_attr_float(n->g, "alpha", 1.0f);
    p->beta = gnode_attr_float(n->g, "beta", 1.0f);
    p->ref = c->reference;
    if (C) {
        int64_t cm = 1, cn = 1;
        if (C->ndim == 1)
            cn = C->dims[0];
        else if (C->ndim == 2) {
            cm = C->dims[0];
            cn = C->dims[1];
        } else if (C->ndim != 0)
            return node_err(n, e, "C must have rank <= 2");
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            return node_err(n, e, "C does not broadcast to %lld x %lld", (long long)M, (long long)N);
        p->cm = cm;
        p->cn = cn;
        if (cm == 1 && C->cdata) {
            p->bias = malloc(sizeof(float) * (size_t)(N + 1));
            if (!p->bias)
                return node_err(n, e, "out of memory");
            for (int64_t j = 0; j < N; j++)
                p->bias[j] = p->beta * ((const float *)C->cdata)[cn == 1 ? 0 : j];
        } else
            p->fill = 1;
    }
    int64_t od[2] = {M, N};
    return et_setshape(c, n->out[0], DT_F32, 2, od, e);
}

static void gemm_call(int ref, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc, const float *bias,
                      threadpool *tp)
{
    if (ref)
        ref_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
    else
        sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, tp);
}

static void gemm_run(enode *n, void *scratch, threadpool *tp)
{
    const gemm_p *p = n->p;
    float *y = n->opp[0];
    float beta = 0;
    if (p->fill) {
        const float *C = n->ip[2];
        for (int i = 0; i < p->M; i++)
            for (int j = 0; j < p->N; j++)
                y[(int64_t)i * p->N + j] = p->beta * C[(p->cm == 1 ? 0 : (int64_t)i * p->cn) + (p->cn == 1 ? 0 : j)];
        beta = 1;
    }
    if (p->M == 0 || p->N == 0)
        return;
    if (p->K == 0) {
        if (!p->fill)
            for (int64_t i = 0; i < (int64_t)p->M * p->N; i++)
                y[i] = p->bias ? p->bias[i % p->N] : 0;
        return;
    }
    gemm_call(p->ref, p->ta, p->tb, p->M, p->N, p->K, p->alpha, n->ip[0], p->lda,
              p->w ? p->w : n->ip[1], p->ldb, beta, y, p->N, p->bias, tp);
}

/* A classifier's weights (B read from the model file, not yet in memory):
 * copied once into the engine's weight pool, which the packed-weight cache
 * records, so that a later run maps them from the cache file instead of
 * copying them from the model again (4-5 MB for GoogLeNet's and
 * MobileNetV2's).  Any other B is read where it is. */
static int gemm_prepare(ectx *c, enode *n, err_t *e)
{
    gemm_p *p = n->p;
    const etensor *B = IN(n, 1);
    if (!B->deferred)
        return 0;
    const int f[] = {p->M, p->N, p->K, p->ta, p->tb, p->ldb};
    p->fp = fnv_quant(fnv_ints(WCACHE_HASH_INIT, f, sizeof f / sizeof *f), B);
    kmem_tag(p->fp);
    if (!kmem_replaying() && node_defer_ok(c, n)) {
        /* read where it is until the engine's thread has copied it */
        p->w = ectx_const_raw(c, n->in[1]);
        p->deferred = 1;
        return 0;
    }
    size_t bn = (size_t)p->K * (size_t)p->N;
    float *w = kmem_get((bn ? bn : 1) * sizeof *w);
    if (!w)
        return node_err(n, e, "out of memory");
    if (!kmem_replaying() && ectx_const_into(c, n->in[1], w, e) < 0)
        return err_prefix(e, "node '%s' (Gemm)", n->name);
    p->w = w;
    return 0;
}

int node_deferred(const enode *n)
{
    if (!strcmp(n->op->name, "Conv")) {
        const conv_p *p = n->p;
        return p && (conv_is_lazy(p->k) || qconv_is_lazy(p->qk));
    }
    if (!strcmp(n->op->name, "Gemm")) {
        const gemm_p *p = n->p;
        return p && p->deferred;
    }
    return 0;
}

int node_defer_ok(const ectx *c, const enode *n)
{
    if (!c->lazy_pack || c->reference || n->nin < 2 || n->in[1] < 0)
        return 0;
    int conv = !strcmp(n->op->name, "Conv");
    const conv_p *cv = conv ? n->p : NULL;
    if (cv && IN(n, 0)->nq && IN(n, 1)->nq)
        /* an integer GEMM layer of a quantised model, with VNNI */
        return cv->cp.group == 1 && qconv_has_vnni();
    const void *raw = ectx_const_raw(c, n->in[1]);
    if (!raw)
        return 0;
    if (!strcmp(n->op->name, "Gemm")) {
        /* read in place at any alignment by the matrix-vector path (a
         * classifier on a few images); other products want floats */
        const gemm_p *g = n->p;
        return ((uintptr_t)raw % sizeof(float)) == 0 || (g && g->M <= GEMV_MAX_M);
    }
    if (cv && !IN(n, 0)->nq && !IN(n, 1)->nq) {
        conv_params cp = cv->cp;
        cp.wino_keep = c->wino_keep;
        return conv_lazy_ok(&cp);
    }
    return 0;
}

/* conv_wsrc.done: the model's pages a packer is through with go, a
 * megabyte or more at a time (every call to madvise interrupts the other
 * threads of the process to flush their TLBs: a call per panel cost the
 * first image's threads more than the pages were worth) */
typedef struct {
    const graph *g;
    const char *lo, *hi;        /* read, not yet dropped */
} drop_ctx;

#define DROP_STEP ((size_t)1 << 20)

static void drop_done(void *ctx, const void *p, size_t n)
{
    drop_ctx *d = ctx;
    const char *a = p, *b = a + n;
    if (d->hi != a) {           /* not where the last one ended: start anew */
        if (d->hi)
            graph_drop_range(d->g, d->lo, (size_t)(d->hi - d->lo));
        d->lo = a;
    }
    d->hi = b;
    if ((size_t)(d->hi - d->lo) >= DROP_STEP) {
        graph_drop_range(d->g, d->lo, (size_t)(d->hi - d->lo));
        /* the last page may hold the next rows: it goes with them */
        d->lo = (const char *)((uintptr_t)d->hi & ~(uintptr_t)4095);
        if (d->lo < a)
            d->lo = a;
    }
}

void *node_defer_pack(const graph *g, const enode *n, err_t *e)
{
    if (!strcmp(n->op->name, "Conv")) {
        const conv_p *p = n->p;
        kmem_tag(p->fp);
        drop_ctx d = {g, NULL, NULL};
        void *k = p->qk ? (void *)qconv_pack_lazy(p->qk, e)
                        : (void *)conv_pack_lazy(p->k, g ? drop_done : NULL, &d, e);
        if (!k)
            err_prefix(e, "node '%s' (Conv)", n->name);
        if (g)
            graph_drop_tensor(g, p->wt);    /* the rest */
        return k;
    }
    const gemm_p *p = n->p;
    kmem_tag(p->fp);
    size_t bn = (size_t)p->K * (size_t)p->N;
    float *w = kmem_get((bn ? bn : 1) * sizeof *w);
    if (!w) {
        node_err(n, e, "out of memory");
        return NULL;
    }
    /* a megabyte at a time, each let go once copied */
    const size_t step = ((size_t)1 << 20) / sizeof *w;
    for (size_t i = 0; i < bn; i += step) {
        size_t c = bn - i < step ? bn - i : step;
        memcpy(w + i, p->w + i, c * sizeof *w);
        if (g)
            graph_drop_range(g, p->w + i, c * sizeof *w);
    }
    return w;
}

int node_defer_pieces(const enode *n, size_t *sizes, int max, uint64_t *tag)
{
    if (!strcmp(n->op->name, "Conv")) {
        const conv_p *p = n->p;
        *tag = p->fp;
        return p->qk ? qconv_lazy_pieces(p->qk, sizes, max) : conv_lazy_pieces(p->k, sizes, max);
    }
    const gemm_p *p = n->p;
    if (!p->deferred || max < 1)
        return -1;
    *tag = p->fp;
    size_t bn = (size_t)p->K * (size_t)p->N;
    sizes[0] = (bn ? bn : 1) * sizeof(float);
    return 1;
}

int node_defer_reads(const enode *n, const enode *m)
{
    if (n == m)
        return 1;
    if (strcmp(n->op->name, "Conv") || strcmp(m->op->name, "Conv"))
        return 0;
    const conv_p *p = n->p;
    return p && p->xa && p->xa == m->p;
}

void node_defer_release(const graph *g, const enode *n)
{
    if (!g)
        return;
    if (!strcmp(n->op->name, "Conv")) {
        const conv_p *p = n->p;
        if (p && (conv_is_lazy(p->k) || qconv_is_lazy(p->qk)))
            graph_drop_tensor(g, p->wt);
        if (p && p->xa && conv_is_lazy(p->xa->k))
            graph_drop_tensor(g, p->xa->wt);
    } else if (!strcmp(n->op->name, "Gemm")) {
        const gemm_p *p = n->p;
        if (p && p->deferred)
            graph_drop_tensor(g, n->in[1]);
    }
}

void node_defer_adopt(enode *n, void *packed)
{
    if (!strcmp(n->op->name, "Conv")) {
        conv_p *p = n->p;
        if (p->qk) {
            qconv_kernel *old = p->qk;
            p->qk = packed;
            qconv_free(old);
            return;
        }
        conv_kernel *old = p->k;
        p->k = packed;
        conv_free(old);
        return;
    }
    gemm_p *p = n->p;
    p->w = packed;
    p->deferred = 0;
}

/* ------------------------------------------------------------ MatMul */

typedef struct {
    int M, N, K, ref;
    int64_t nb;
    int64_t *aoff, *boff;       /* per batch element offsets */
} matmul_p;

static void matmul_pfree(void *pp)
{
    matmul_p *p = pp;
    if (p) {
        free(p->aoff);
        free(p->boff);
        free(p);
    }
}

static int matmul_infer(ectx *c, enode *n, err_t *e)
{
    if (need_in(n, 2, 2, e) < 0)
        return -1;
    const etensor *A = IN(n, 0), *B = IN(n, 1);
    if (A->ndim < 1 || B->ndim < 1)
        return node_err(n, e, "inputs must have rank >= 1");
    int64_t ad[TENSOR_MAXDIM + 1], bd[TENSOR_MAXDIM + 1], od[TENSOR_MAXDIM + 1];
    int an = A->ndim, bn = B->ndim;
    memcpy(ad, A->dims, sizeof(int64_t) * (size_t)an);
    memcpy(bd, B->dims, sizeof(int64_t) * (size_t)bn);
    int a1 = an == 1, b1 = bn == 1;
    if (a1) { ad[1] = ad[0]; ad[0] = 1; an = 2; }
    if (b1) { bd[1] = 1; bn = 2; }
    int64_t M = ad[an - 2], K = ad[an - 1], K2 = bd[bn - 2], N = bd[bn - 1];
    if (K != K2)
        return node_err(n, e, "inner dimensions differ (%lld vs %lld)", (long long)K, (long long)K2);
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return node_err(n, e, "sizes out of range");
    int r = (an > bn ? an : bn) - 2, k = 0;
    int64_t bdims[TENSOR_MAXDIM], nb = 1;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - (an - 2)), ib = i - (r - (bn - 2));
        int64_t x = ia >= 0 ? ad[ia] : 1, y = ib >= 0 ? bd[ib] : 1;
        if (x != y && x != 1 && y != 1)
            return node_err(n, e, "batch dimensions do not broadcast");
        bdims[i] = x == 1 ? y : x;
        od[k++] = bdims[i];
        nb *= bdims[i];
        if (nb > ENGINE_MAX_NUMEL)
            return node_err(n, e, "too many batches");
    }
    if (!a1)
        od[k++] = M;
    if (!b1)
        od[k++] = N;
    if (k > TENSOR_MAXDIM)
        return node_err(n, e, "output rank too large");
    matmul_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->ref = c->reference;
    p->K = (int)K;
    p->N = (int)N;
    p->M = (int)M;
    /* B without batch dims and A's batches contiguous: one GEMM of nb*M rows */
    if (bn == 2 && nb * M <= INT32_MAX) {
        p->M = (int)(nb * M);
        nb = 1;
    }
    p->nb = nb;
    p->aoff = malloc(sizeof(int64_t) * (size_t)nb);
    p->boff = malloc(sizeof(int64_t) * (size_t)nb);
    if (!p->aoff || !p->boff)
        return node_err(n, e, "out of memory");
    for (int64_t b = 0; b < nb; b++) {
        int64_t rem = b, oa = 0, ob = 0, sa = M * K, sb = K * N;
        for (int i = r - 1; i >= 0; i--) {
            int64_t idx = rem % bdims[i];
            rem /= bdims[i];
            int ia = i - (r - (an - 2)), ib = i - (r - (bn - 2));
            if (ia >= 0) {
                if (ad[ia] != 1)
                    oa += idx * sa;
                sa *= ad[ia];
            }
            if (ib >= 0) {
                if (bd[ib] != 1)
                    ob += idx * sb;
                sb *= bd[ib];
            }
        }
        p->aoff[b] = oa;
        p->boff[b] = ob;
    }
    return et_setshape(c, n->out[0], DT_F32, k, od, e);
}

static void matmul_run(enode *n, void *scratch, threadpool *tp)
{
    const matmul_p *p = n->p;
    if (p->M == 0 || p->N == 0)
        return;
    for (int64_t b = 0; b < p->nb; b++) {
        float *y = n->opp[0] + b * (int64_t)p->M * p->N;
        if (p->K == 0) {
            memset(y, 0, sizeof(float) * (size_t)p->M * (size_t)p->N);
            continue;
        }
        gemm_call(p->ref, 0, 0, p->M, p->N, p->K, 1.0f, n->ip[0] + p->aoff[b], p->K,
                  n->ip[1] + p->boff[b], p->N, 0.0f, y, p->N, NULL, tp);
    }
}

/* ------------------------------------------------------------ pooling */

typedef struct {
    int64_t planes;
    int h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int max, include_pad;
    int same;               /* stride 1, dilation 1, output as large as input */
    int level;              /* max pooling: SIMD level of maxpool_plane_rows */
    int64_t rowlen;         /* its padded row, floats; 0: not used */
    const uint16_t *hmask;  /* "same" max pooling with AVX-512: per 16 values
                               of a plane, per window column, the lanes whose
                               column stays in the row (after the struct);
                               NULL: not used */
} pool_p;

static int pool_infer_kind(ectx *c, enode *n, int max, err_t *e)
{
    if (need_in(n, 1, 1, e) < 0)
        return -1;
    for (int k = 1; k < n->nout; k++)
        if (n->out[k] >= 0)
            return node_err(n, e, "the Indices output is not supported");
    const etensor *x = IN(n, 0);
    if (x->ndim == 5)
        return node_err(n, e, "3-D pooling is not supported");
    if (x->ndim != 3 && x->ndim != 4)
        return node_err(n, e, "input must be N x C x L or N x C x H x W (rank %d)", x->ndim);
    int nsp = x->ndim - 2;
    int64_t ks[8], in[2] = {x->dims[2], nsp == 2 ? x->dims[3] : 1};
    if (attr_ints(n->g, "kernel_shape", ks, 8) != nsp)
        return node_err(n, e, "kernel_shape must have %d values", nsp);
    window w;
    int ceil_mode = gnode_attr_int(n->g, "ceil_mode", 0) != 0;
    if (parse_window(n, nsp, in, ks, ceil_mode, max, &w, e) < 0)
        return -1;
    if (!fits_int(in[0]) || !fits_int(in[1]))
        return node_err(n, e, "sizes out of range");
    pool_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->max = max;
    p->include_pad = gnode_attr_int(n->g, "count_include_pad", 0) != 0;
    p->planes = x->dims[0] * x->dims[1];
    if (nsp == 1) {
        p->h = p->oh = p->kh = p->sh = p->dh = 1;
        p->pt = p->pb = 0;
        p->w = (int)in[0]; p->ow = (int)w.o[0]; p->kw = (int)w.k[0]; p->sw = (int)w.s[0];
        p->dw = (int)w.d[0]; p->pl = (int)w.pb[0]; p->pr = (int)w.pe[0];
    } else {
        p->h = (int)in[0]; p->w = (int)in[1];
        p->oh = (int)w.o[0]; p->ow = (int)w.o[1];
        p->kh = (int)w.k[0]; p->kw = (int)w.k[1];
        p->sh = (int)w.s[0]; p->sw = (int)w.s[1];
        p->dh = (int)w.d[0]; p->dw = (int)w.d[1];
        p->pt = (int)w.pb[0]; p->pl = (int)w.pb[1]; p->pb = (int)w.pe[0]; p->pr = (int)w.pe[1];
    }
    p->same = p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->oh == p->h &&
              p->ow == p->w && p->pt < p->kh && p->pl < p->kw &&
              p->pt + p->pb == p->kh - 1 && p->pl + p->pr == p->kw - 1;
    /* the vector path: dilation 1, stride 1 or 2 along the row; its row
     * covers every window column of every 16-column chunk and the input.
     * Not for "same" pools, whose flat passes are faster (GoogLeNet's
     * 3x3 stride-1 pools on 14x14 maps: 0.10 ms against 0.18, 1 core),
     * where the stride-2 ones gain 2-3x (SqueezeNet's first pool, 64 x
     * 113x113: 0.44 -> 0.19 ms; GoogLeNet's: 0.49 -> 0.16 ms). */
    p->level = c->reference ? SIMD_PORTABLE : simd_level();
#if defined(__x86_64__)
    if (max && !p->same && p->level >= SIMD_AVX2 && p->dh == 1 && p->dw == 1 &&
        (p->sw == 1 || p->sw == 2)) {
        int64_t len = (int64_t)p->sw * ((p->ow + 15) / 16 * 16) + p->kw + 16;
        if (len < (int64_t)p->pl + p->w)
            len = (int64_t)p->pl + p->w;
        len = (len + 15) / 16 * 16;
        if (len <= (int64_t)INT32_MAX / 4)
            p->rowlen = len;
    }
    /* "same" pools with AVX-512: flat masked passes over the plane
     * (maxpool_plane_same_avx512), their column masks made here; planes
     * up to 64K values (a 3x3 window: 24 KB of masks) */
    int64_t area = (int64_t)p->h * p->w;
    if (max && p->same && p->level >= SIMD_AVX512 && area <= 65536 && p->kw <= 32) {
        int64_t nch = (area + 15) / 16;
        pool_p *q = realloc(p, sizeof *p + (size_t)(nch * p->kw) * sizeof(uint16_t));
        if (!q)
            return node_err(n, e, "out of memory");
        n->p = p = q;
        uint16_t *hm = (uint16_t *)(p + 1);
        for (int64_t j = 0; j < nch; j++)
            for (int k = 0; k < p->kw; k++) {
                unsigned m = 0;
                for (int l = 0; l < 16; l++) {
                    int64_t i = 16 * j + l;
                    int col = (int)(i % p->w) + k - p->pl;
                    if (i < area && col >= 0 && col < p->w)
                        m |= 1u << l;
                }
                hm[j * p->kw + k] = (uint16_t)m;
            }
        p->hmask = hm;
    }
#endif
    int64_t od[4] = {x->dims[0], x->dims[1], w.o[0], nsp == 2 ? w.o[1] : 0};
    return et_setshape(c, n->out[0], DT_F32, x->ndim, od, e);
}

static int maxpool_infer(ectx *c, enode *n, err_t *e) { return pool_infer_kind(c, n, 1, e); }
static int avgpool_infer(ectx *c, enode *n, err_t *e) { return pool_infer_kind(c, n, 0, e); }

static void pool_plane(const pool_p *p, const float *x, float *y)
{
    for (int oy = 0; oy < p->oh; oy++) {
        int hs = oy * p->sh - p->pt;
        for (int ox = 0; ox < p->ow; ox++) {
            int ws = ox * p->sw - p->pl;
            if (p->max) {
                float m = -INFINITY;
                for (int ky = 0; ky < p->kh; ky++) {
                    int iy = hs + ky * p->dh;
                    if (iy < 0 || iy >= p->h)
                        continue;
                    const float *row = x + (int64_t)iy * p->w;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int ix = ws + kx * p->dw;
                        if (ix >= 0 && ix < p->w && row[ix] > m)
                            m = row[ix];
                    }
                }
                y[(int64_t)oy * p->ow + ox] = m;
            } else {
                int he = hs + p->kh, we = ws + p->kw;
                int hp = he < p->h + p->pb ? he : p->h + p->pb;
                int wp = we < p->w + p->pr ? we : p->w + p->pr;
                int padded = (hp - hs) * (wp - ws);
                int y0 = hs < 0 ? 0 : hs, x0 = ws < 0 ? 0 : ws;
                int y1 = he < p->h ? he : p->h, x1 = we < p->w ? we : p->w;
                float s = 0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        s += x[(int64_t)iy * p->w + ix];
                int cnt = p->include_pad ? padded : (y1 - y0) * (x1 - x0);
                y[(int64_t)oy * p->ow + ox] = cnt > 0 ? s / (float)cnt : 0;
            }
        }
    }
}

/* Max pooling of one plane, separably: tmp[iy][ox] = max over the window's
 * columns, then y[oy][ox] = max over the window's rows of tmp.  tmp holds
 * h x ow floats.  Windows with no input element give -inf. */
static void maxpool_plane_sep(const pool_p *p, const float *x, float *y, float *tmp)
{
    const int w = p->w, ow = p->ow, sw = p->sw, dw = p->dw, kw = p->kw, pl = p->pl;
    /* columns whose window lies inside the row: ox in [lo, hi) */
    int lo = (pl + sw - 1) / sw, hi;
    int last = w - 1 - (kw - 1) * dw + pl;      /* ox * sw <= last */
    hi = last < 0 ? 0 : last / sw + 1;
    if (hi > ow)
        hi = ow;
    if (lo > hi)
        lo = hi;
    for (int iy = 0; iy < p->h; iy++) {
        const float *r = x + (int64_t)iy * w;
        float *t = tmp + (int64_t)iy * ow;
        for (int ox = 0; ox < ow; ox++) {
            if (ox == lo && lo < hi) {
                ox = hi - 1;
                continue;
            }
            float m = -INFINITY;
            for (int kx = 0; kx < kw; kx++) {
                int ix = ox * sw - pl + kx * dw;
                if (ix >= 0 && ix < w && r[ix] > m)
                    m = r[ix];
            }
            t[ox] = m;
        }
        if (lo < hi) {
            const float *rb = r - pl;
            if (sw == 1) {
                for (int ox = lo; ox < hi; ox++)
                    t[ox] = rb[ox];
                for (int kx = 1; kx < kw; kx++) {
                    const float *rk = rb + kx * dw;
                    for (int ox = lo; ox < hi; ox++)
                        t[ox] = rk[ox] > t[ox] ? rk[ox] : t[ox];
                }
            } else {
                for (int ox = lo; ox < hi; ox++)
                    t[ox] = rb[(int64_t)ox * sw];
                for (int kx = 1; kx < kw; kx++) {
                    const float *rk = rb + kx * dw;
                    for (int ox = lo; ox < hi; ox++)
                        t[ox] = rk[(int64_t)ox * sw] > t[ox] ? rk[(int64_t)ox * sw] : t[ox];
                }
            }
        }
    }
    for (int oy = 0; oy < p->oh; oy++) {
        float *yr = y + (int64_t)oy * ow;
        int first = 1;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = oy * p->sh - p->pt + ky * p->dh;
            if (iy < 0 || iy >= p->h)
                continue;
            const float *t = tmp + (int64_t)iy * ow;
            if (first) {
                memcpy(yr, t, sizeof(float) * (size_t)ow);
                first = 0;
            } else
                for (int ox = 0; ox < ow; ox++)
                    yr[ox] = t[ox] > yr[ox] ? t[ox] : yr[ox];
        }
        if (first)
            for (int ox = 0; ox < ow; ox++)
                yr[ox] = -INFINITY;
    }
}

/* Max pooling with stride 1, dilation 1 and "same" pads (output as large
 * as the input): each pass runs flat over the whole plane (long vector
 * loops even for 14x14 planes); the few border columns and rows whose
 * window leaves the plane are then redone with checks. */
static void maxpool_plane_same(const pool_p *p, const float *x, float *y, float *t)
{
    const int w = p->w, h = p->h, kw = p->kw, kh = p->kh, pl = p->pl, pt = p->pt;
    const int64_t n = (int64_t)h * w;
    /* horizontal: t[i] = max_k x[i - pl + k] where the window is inside */
    int64_t a = pl, b = n - (kw - 1 - pl);
    if (a < b) {
        memcpy(t + a, x, sizeof(float) * (size_t)(b - a));
        for (int k = 1; k < kw; k++) {
            const float *xk = x + k - a;
            for (int64_t i = a; i < b; i++)
                t[i] = xk[i] > t[i] ? xk[i] : t[i];
        }
    }
    for (int iy = 0; iy < h; iy++) {
        const float *r = x + (int64_t)iy * w;
        float *tr = t + (int64_t)iy * w;
        for (int ox = 0; ox < w; ox++) {
            if (ox == pl && w - (kw - 1 - pl) > pl) {
                ox = w - (kw - 1 - pl) - 1;
                continue;
            }
            float m = -INFINITY;
            for (int k = 0; k < kw; k++) {
                int ix = ox - pl + k;
                if (ix >= 0 && ix < w && r[ix] > m)
                    m = r[ix];
            }
            tr[ox] = m;
        }
    }
    /* vertical: y[i] = max_k t[i + (k - pt) * w] where the window is inside */
    a = (int64_t)pt * w;
    b = n - (int64_t)(kh - 1 - pt) * w;
    if (a < b) {
        memcpy(y + a, t, sizeof(float) * (size_t)(b - a));
        for (int k = 1; k < kh; k++) {
            const float *tk = t + (int64_t)k * w - a;
            for (int64_t i = a; i < b; i++)
                y[i] = tk[i] > y[i] ? tk[i] : y[i];
        }
    }
    for (int oy = 0; oy < h; oy++) {
        if (oy == pt && h - (kh - 1 - pt) > pt) {
            oy = h - (kh - 1 - pt) - 1;
            continue;
        }
        float *yr = y + (int64_t)oy * w;
        for (int ox = 0; ox < w; ox++)
            yr[ox] = -INFINITY;
        for (int k = 0; k < kh; k++) {
            int iy = oy - pt + k;
            if (iy < 0 || iy >= h)
                continue;
            const float *tr = t + (int64_t)iy * w;
            for (int ox = 0; ox < w; ox++)
                yr[ox] = tr[ox] > yr[ox] ? tr[ox] : yr[ox];
        }
    }
}

#if defined(__x86_64__)
/* Max pooling of one plane, dilation 1, horizontal stride 1 or 2, any
 * window, stride and pads (p->rowlen set): for each output row, the max
 * over the window's rows of the input goes into the row t, input column x
 * at t[pl + x] and -inf elsewhere (pads, and past the input up to
 * p->rowlen), then 16 (8) output columns at a time take the max over the
 * window's columns, t[ox*sw + kx].  -inf starts every max and max_ps(v,
 * acc) keeps acc when v is NaN, so NaNs are skipped as pool_plane skips
 * them, and the result is exactly pool_plane's. */
__attribute__((target("avx512f")))
static void maxpool_plane_avx512(const pool_p *p, const float *x, float *y, float *t)
{
    const int w = p->w, pl = p->pl, ow = p->ow, sw = p->sw, kw = p->kw;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t i = 0; i < p->rowlen; i += 16)
        _mm512_storeu_ps(t + i, ninf);
    float *tr = t + pl;
    const __mmask16 wtail = (__mmask16)((1u << (w & 15)) - 1);
    const __mmask16 otail = (__mmask16)((1u << (ow & 15)) - 1);
    for (int oy = 0; oy < p->oh; oy++) {
        int iy0 = oy * p->sh - p->pt, first = 1;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = iy0 + ky;
            if (iy < 0 || iy >= p->h)
                continue;
            const float *r = x + (int64_t)iy * w;
            int xx = 0;
            for (; xx + 16 <= w; xx += 16) {
                __m512 v = _mm512_loadu_ps(r + xx);
                _mm512_storeu_ps(tr + xx, _mm512_max_ps(v, first ? ninf : _mm512_loadu_ps(tr + xx)));
            }
            if (wtail) {
                __m512 v = _mm512_maskz_loadu_ps(wtail, r + xx);
                __m512 a = first ? ninf : _mm512_maskz_loadu_ps(wtail, tr + xx);
                _mm512_mask_storeu_ps(tr + xx, wtail, _mm512_max_ps(v, a));
            }
            first = 0;
        }
        if (first)
            for (int xx = 0; xx < w; xx++)
                tr[xx] = -INFINITY;
        float *yr = y + (int64_t)oy * ow;
        for (int ox = 0; ox < ow; ox += 16) {
            __m512 acc = ninf;
            if (sw == 1)
                for (int kx = 0; kx < kw; kx++)
                    acc = _mm512_max_ps(_mm512_loadu_ps(t + ox + kx), acc);
            else
                for (int kx = 0; kx < kw; kx++) {
                    const float *s = t + 2 * ox + kx;
                    __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(s), even,
                                                      _mm512_loadu_ps(s + 16));
                    acc = _mm512_max_ps(v, acc);
                }
            if (ox + 16 <= ow)
                _mm512_storeu_ps(yr + ox, acc);
            else
                _mm512_mask_storeu_ps(yr + ox, otail, acc);
        }
    }
}

/* 3x3 windows, stride 2, dilation 1 (the stride-2 pools of SqueezeNet
 * and GoogLeNet): per 16 outputs of a row, the 33 input columns from
 * 32c - pl of each window row are loaded once (columns off the row as
 * -inf) and their maximum taken down the rows in registers, then split
 * into the even columns (kx = 0), the odd ones (kx = 1) and the even ones
 * moved by one lane (kx = 2) as the depthwise kernel does: no pass
 * through a row buffer.  The maxima run in maxpool_plane_avx512's order
 * (rows, then columns, each from -inf, the new value first), so NaNs are
 * skipped and the result is its result to the bit.  1 core, each node's
 * fastest of 40 runs: SqueezeNet's three pools 0.150, 0.105, 0.097 ms ->
 * 0.12-0.135, 0.055, 0.030; GoogLeNet's four 0.124, 0.157, 0.182, 0.149
 * -> 0.111, 0.083, 0.058, 0.053. */
__attribute__((target("avx512f")))
static void maxpool_s2k3_avx512(const pool_p *p, const float *x, float *y)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int ow = p->ow;
    dw_s2_cols m;
    int nch = dw_s2_cols_init(&m, p->w, p->pl, ow);
    for (int oy = 0; oy < p->oh; oy++) {
        float *yr = y + (int64_t)oy * ow;
        for (int c = 0; c < nch; c++) {
            __m512 va = ninf, vb = ninf, vc = ninf;
            for (int ky = 0; ky < 3; ky++) {
                int iy = oy * 2 - p->pt + ky;
                if (iy < 0 || iy >= p->h)
                    continue;
                const float *s = (const float *)((uintptr_t)(x + (int64_t)iy * p->w) + m.boff[c]);
                va = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, m.ma[c], s), va);
                vb = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, m.mb[c], s + 16), vb);
                vc = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, m.mc[c], s + 32), vc);
            }
            __m512 e = _mm512_permutex2var_ps(va, even, vb);
            __m512 od = _mm512_permutex2var_ps(va, odd, vb);
            __m512 e2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(vc),
                                                                _mm512_castps_si512(e), 1));
            __m512 acc = _mm512_max_ps(e, ninf);
            acc = _mm512_max_ps(od, acc);
            acc = _mm512_max_ps(e2, acc);
            _mm512_mask_storeu_ps(yr + 16 * c, m.st[c], acc);
        }
    }
}

/* "Same" max pooling (stride 1, dilation 1, output as large as the
 * input; p->hmask set) of one plane, flat over it 16 values at a time, so
 * that 14x14 or 7x7 planes fill whole vectors: t = the max over the
 * window's columns, each tap one masked load (the mask keeps the lanes
 * whose column stays in the row), then y = the max over the window's rows
 * of t, each row offset masked to the plane.  -inf starts every max and
 * max_ps(v, acc) keeps acc when v is NaN, so NaNs are skipped as
 * pool_plane skips them, and the result is exactly pool_plane's.
 * GoogLeNet's nine 3x3 pools, 1 core, sums of each node's fastest run:
 * 0.93 ms with maxpool_plane_same, 0.45 ms with this; one masked load per
 * tap of the whole window instead, with no pass through t, took 0.67 ms. */
__attribute__((target("avx512f")))
static void maxpool_plane_same_avx512(const pool_p *p, const float *x, float *y, float *t)
{
    const int64_t n = (int64_t)p->h * p->w;
    const int kw = p->kw, kh = p->kh, pl = p->pl, pt = p->pt, w = p->w;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const uint16_t *hm = p->hmask;
    for (int64_t i = 0; i < n; i += 16, hm += kw) {
        __m512 acc = ninf;
        for (int k = 0; k < kw; k++) {
            __mmask16 m = hm[k];
            acc = _mm512_mask_max_ps(acc, m, _mm512_maskz_loadu_ps(m, x + i + k - pl), acc);
        }
        __mmask16 all = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(t + i, all, acc);
    }
    for (int64_t i = 0; i < n; i += 16) {
        int64_t end = n - i < 16 ? n - i : 16;
        __m512 acc = ninf;
        for (int k = 0; k < kh; k++) {
            /* lanes l with 0 <= i + l + d < n: the row stays in the plane */
            int64_t d = (int64_t)(k - pt) * w, a = -d - i, b = n - d - i;
            if (a < 0) a = 0;
            if (b > end) b = end;
            if (a >= b)
                continue;
            __mmask16 m = (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
            acc = _mm512_mask_max_ps(acc, m, _mm512_maskz_loadu_ps(m, t + i + d), acc);
        }
        _mm512_mask_storeu_ps(y + i, (__mmask16)((1u << end) - 1), acc);
    }
}

/* The same with AVX2, 8 output columns at a time. */
__attribute__((target("avx2")))
static void maxpool_plane_avx2(const pool_p *p, const float *x, float *y, float *t)
{
    const int w = p->w, pl = p->pl, ow = p->ow, sw = p->sw, kw = p->kw;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int64_t i = 0; i < p->rowlen; i += 8)
        _mm256_storeu_ps(t + i, ninf);
    float *tr = t + pl;
    for (int oy = 0; oy < p->oh; oy++) {
        int iy0 = oy * p->sh - p->pt, first = 1;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy = iy0 + ky;
            if (iy < 0 || iy >= p->h)
                continue;
            const float *r = x + (int64_t)iy * w;
            int xx = 0;
            for (; xx + 8 <= w; xx += 8) {
                __m256 v = _mm256_loadu_ps(r + xx);
                _mm256_storeu_ps(tr + xx, _mm256_max_ps(v, first ? ninf : _mm256_loadu_ps(tr + xx)));
            }
            for (; xx < w; xx++) {
                float a = first ? -INFINITY : tr[xx];
                tr[xx] = r[xx] > a ? r[xx] : a;
            }
            first = 0;
        }
        if (first)
            for (int xx = 0; xx < w; xx++)
                tr[xx] = -INFINITY;
        float *yr = y + (int64_t)oy * ow;
        int ox = 0;
        for (; ox + 8 <= ow; ox += 8) {
            __m256 acc = ninf;
            if (sw == 1)
                for (int kx = 0; kx < kw; kx++)
                    acc = _mm256_max_ps(_mm256_loadu_ps(t + ox + kx), acc);
            else
                for (int kx = 0; kx < kw; kx++) {
                    const float *s = t + 2 * ox + kx;
                    /* even lanes of s[0..16): 0 2 8 10 4 6 12 14, then
                     * the 64-bit lanes reordered */
                    __m256 v = _mm256_shuffle_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8),
                                                 _MM_SHUFFLE(2, 0, 2, 0));
                    v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v),
                                                               _MM_SHUFFLE(3, 1, 2, 0)));
                    acc = _mm256_max_ps(v, acc);
                }
            _mm256_storeu_ps(yr + ox, acc);
        }
        for (; ox < ow; ox++) {
            float m = -INFINITY;
            for (int kx = 0; kx < kw; kx++) {
                float v = t[ox * sw + kx];
                m = v > m ? v : m;
            }
            yr[ox] = m;
        }
    }
}
#endif

typedef struct {
    const enode *n;
    float *scratch;
} plane_task;

/* Floats of max-pool scratch per thread: the separable passes' h x ow,
 * or the vector path's row (a multiple of 16 floats: slices stay 64-byte
 * aligned). */
static size_t pool_scratch_floats(const pool_p *p)
{
    if (p->rowlen)
        return (size_t)p->rowlen;
    return (size_t)p->h * (size_t)p->ow;
}

/* Planes [i0, i1); thread picks its slice of the max-pool scratch. */
static void pool_task(void *ctx, long long i0, long long i1, int thread)
{
    const plane_task *t = ctx;
    const pool_p *p = t->n->p;
    int64_t in_sz = (int64_t)p->h * p->w, out_sz = (int64_t)p->oh * p->ow;
    float *tmp = t->scratch ? t->scratch + (int64_t)thread * pool_scratch_floats(p) : NULL;
#if defined(__x86_64__)
    if (p->max && tmp && p->hmask) {
        for (int64_t i = i0; i < i1; i++)
            maxpool_plane_same_avx512(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz, tmp);
        return;
    }
    if (p->max && tmp && p->rowlen) {
        for (int64_t i = i0; i < i1; i++) {
            if (p->level >= SIMD_AVX512 && p->kh == 3 && p->kw == 3 && p->sh == 2 && p->sw == 2 &&
                p->ow <= 16 * DW_S2_MAXCH)
                maxpool_s2k3_avx512(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz);
            else if (p->level >= SIMD_AVX512)
                maxpool_plane_avx512(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz, tmp);
            else
                maxpool_plane_avx2(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz, tmp);
        }
        return;
    }
#endif
    for (int64_t i = i0; i < i1; i++) {
        if (p->max && tmp && p->same)
            maxpool_plane_same(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz, tmp);
        else if (p->max && tmp)
            maxpool_plane_sep(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz, tmp);
        else
            pool_plane(p, t->n->ip[0] + i * in_sz, t->n->opp[0] + i * out_sz);
    }
}

static size_t pool_scratch(const enode *n, int nthreads)
{
    const pool_p *p = n->p;
    if (!p->max)
        return 0;
    return sizeof(float) * pool_scratch_floats(p) * (size_t)(nthreads > 1 ? nthreads : 1);
}

static void pool_run(enode *n, void *scratch, threadpool *tp)
{
    const pool_p *p = n->p;
    int nt = tp_size(tp);
    int64_t work = p->planes * p->oh * p->ow * p->kh * p->kw;
    plane_task t = {n, scratch};
    if (nt > 1 && work > 100000 && p->planes >= nt) {
        tp_run_range(tp, p->planes, 1, pool_task, &t);
    } else {
        pool_task(&t, 0, p->planes, 0);
    }
}

/* ------------------------------------------------------------ global pooling */

typedef struct {
    int64_t planes, size;
    int max;
    int level;              /* SIMD level of the average's sums */
} gpool_p;

static int gpool_infer_kind(ectx *c, enode *n, int max, err_t *e)
{
    if (need_in(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (x->ndim < 3)
        return node_err(n, e, "input must have rank >= 3");
    gpool_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->max = max;
    p->level = c->reference ? SIMD_PORTABLE : simd_level();
    p->planes = x->dims[0] * x->dims[1];
    p->size = p->planes ? x->numel / p->planes : 0;
    int64_t od[TENSOR_MAXDIM];
    for (int i = 0; i < x->ndim; i++)
        od[i] = i < 2 ? x->dims[i] : 1;
    return et_setshape(c, n->out[0], DT_F32, x->ndim, od, e);
}

static int gap_infer(ectx *c, enode *n, err_t *e) { return gpool_infer_kind(c, n, 0, e); }
static int gmp_infer(ectx *c, enode *n, err_t *e) { return gpool_infer_kind(c, n, 1, e); }

#if defined(__x86_64__)
/* Sum of x[0..n) in double, 16 floats at a time into two vectors of
 * doubles.  Floats of one activation span few binades, so these double
 * sums are exact in practice and match the plain loop's. */
__attribute__((target("avx512f")))
static double sum_f64_avx512(const float *x, int64_t n)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_loadu_ps(x + j)));
        a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_loadu_ps(x + j + 8)));
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; j < n; j++)
        s += x[j];
    return s;
}
#endif

static void gpool_run(enode *n, void *scratch, threadpool *tp)
{
    const gpool_p *p = n->p;
    for (int64_t i = 0; i < p->planes; i++) {
        const float *x = n->ip[0] + i * p->size;
#if defined(__x86_64__)
        if (!p->max && p->level >= SIMD_AVX512) {
            n->opp[0][i] = p->size ? (float)(sum_f64_avx512(x, p->size) / (double)p->size) : 0;
            continue;
        }
#endif
        if (p->max) {
            float m = -INFINITY;
            for (int64_t j = 0; j < p->size; j++)
                m = x[j] > m ? x[j] : m;
            n->opp[0][i] = m;
        } else {
            double s = 0;
            for (int64_t j = 0; j < p->size; j++)
                s += x[j];
            n->opp[0][i] = p->size ? (float)(s / (double)p->size) : 0;
        }
    }
}

/* ------------------------------------------------------------ LRN */

typedef struct {
    int64_t N, C, inner;
    int size;
    float alpha, beta, bias;
    int level;          /* beta 0.75: SIMD_AVX512 or SIMD_AVX2 for lrn_channel_*,
                         * else the generic loops */
} lrn_p;

static int lrn_infer(ectx *c, enode *n, err_t *e)
{
    if (need_in(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (x->ndim < 2)
        return node_err(n, e, "input must have rank >= 2");
    int64_t size = gnode_attr_int(n->g, "size", 0);
    if (size < 1 || size > 1 << 20)
        return node_err(n, e, "size must be a positive integer");
    lrn_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->size = (int)size;
    p->alpha = gnode_attr_float(n->g, "alpha", 1e-4f);
    p->beta = gnode_attr_float(n->g, "beta", 0.75f);
    p->bias = gnode_attr_float(n->g, "bias", 1.0f);
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->inner = p->N > 0 && p->C > 0 ? x->numel / (p->N * p->C) : 0;
    p->level = !c->reference && p->beta == 0.75f ? simd_level() : SIMD_PORTABLE;
    return et_setshape(c, n->out[0], DT_F32, x->ndim, x->dims, e);
}

#if defined(__x86_64__)
/* One output channel, beta 0.75, 16 values at a time: the window's squares
 * summed from the input directly (no pass over a temporary per channel of
 * the window), then x / (s^(1/2) * s^(1/4)).  The same operations in the
 * same order as lrn_range's, so the same bits. */
__attribute__((target("avx512f")))
static void lrn_channel_avx512(const float *x, float *yc, int64_t ch, int64_t lo, int64_t hi,
                               int64_t in, float bias, float k)
{
    const __m512 vb = _mm512_set1_ps(bias), vk = _mm512_set1_ps(k);
    const float *xc = x + ch * in;
    for (int64_t j = 0; j < in; j += 16) {
        __mmask16 m = in - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (in - j)) - 1);
        __m512 s = _mm512_setzero_ps();
        for (int64_t cc = lo; cc <= hi; cc++) {
            __m512 v = _mm512_maskz_loadu_ps(m, x + cc * in + j);
            s = _mm512_add_ps(s, _mm512_mul_ps(v, v));
        }
        s = _mm512_add_ps(vb, _mm512_mul_ps(vk, s));
        __m512 r = _mm512_sqrt_ps(s);
        __m512 d = _mm512_mul_ps(r, _mm512_sqrt_ps(r));
        _mm512_mask_storeu_ps(yc + j, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, xc + j), d));
    }
}

/* The same 8 values at a time; the tail as lrn_range's scalar loop. */
__attribute__((target("avx2")))
static void lrn_channel_avx2(const float *x, float *yc, int64_t ch, int64_t lo, int64_t hi,
                             int64_t in, float bias, float k)
{
    const __m256 vb = _mm256_set1_ps(bias), vk = _mm256_set1_ps(k);
    const float *xc = x + ch * in;
    int64_t j = 0;
    for (; j + 8 <= in; j += 8) {
        __m256 s = _mm256_setzero_ps();
        for (int64_t cc = lo; cc <= hi; cc++) {
            __m256 v = _mm256_loadu_ps(x + cc * in + j);
            s = _mm256_add_ps(s, _mm256_mul_ps(v, v));
        }
        s = _mm256_add_ps(vb, _mm256_mul_ps(vk, s));
        __m256 r = _mm256_sqrt_ps(s);
        __m256 d = _mm256_mul_ps(r, _mm256_sqrt_ps(r));
        _mm256_storeu_ps(yc + j, _mm256_div_ps(_mm256_loadu_ps(xc + j), d));
    }
    for (; j < in; j++) {
        float s = 0;
        for (int64_t cc = lo; cc <= hi; cc++)
            s += x[cc * in + j] * x[cc * in + j];
        s = bias + k * s;
        yc[j] = xc[j] / (sqrtf(s) * sqrtf(sqrtf(s)));
    }
}
#endif

/* Channels [c0, c1) of every image: y = x / (bias + alpha/size * sum x^2)^beta
 * over channels c - floor((size-1)/2) .. c + ceil((size-1)/2). */
static void lrn_range(const enode *n, int64_t c0, int64_t c1)
{
    const lrn_p *p = n->p;
    int64_t lo_off = (p->size - 1) / 2, hi_off = p->size - 1 - lo_off, in = p->inner;
    const float k = p->alpha / (float)p->size;
    int b075 = p->beta == 0.75f;
    for (int64_t b = 0; b < p->N; b++) {
        const float *x = n->ip[0] + b * p->C * in;
        float *y = n->opp[0] + b * p->C * in;
        for (int64_t ch = c0; ch < c1; ch++) {
            float *yc = y + ch * in;
            int64_t lo = ch - lo_off < 0 ? 0 : ch - lo_off;
            int64_t hi = ch + hi_off >= p->C ? p->C - 1 : ch + hi_off;
#if defined(__x86_64__)
            if (p->level == SIMD_AVX512) {
                lrn_channel_avx512(x, yc, ch, lo, hi, in, p->bias, k);
                continue;
            }
            if (p->level == SIMD_AVX2) {
                lrn_channel_avx2(x, yc, ch, lo, hi, in, p->bias, k);
                continue;
            }
#endif
            for (int64_t j = 0; j < in; j++)
                yc[j] = 0;
            for (int64_t cc = lo; cc <= hi; cc++) {
                const float *xc = x + cc * in;
                for (int64_t j = 0; j < in; j++)
                    yc[j] += xc[j] * xc[j];
            }
            const float *xc = x + ch * in;
            int64_t j = 0;
#if defined(__SSE2__)
            if (b075) {
                const __m128 vb = _mm_set1_ps(p->bias), vk = _mm_set1_ps(k);
                for (; j + 4 <= in; j += 4) {
                    __m128 s = _mm_add_ps(vb, _mm_mul_ps(vk, _mm_loadu_ps(yc + j)));
                    __m128 r = _mm_sqrt_ps(s);
                    _mm_storeu_ps(yc + j, _mm_div_ps(_mm_loadu_ps(xc + j), _mm_mul_ps(r, _mm_sqrt_ps(r))));
                }
            }
#endif
            for (; j < in; j++) {
                float s = p->bias + k * yc[j];
                float d = b075 ? sqrtf(s) * sqrtf(sqrtf(s)) : powf(s, p->beta);
                yc[j] = xc[j] / d;
            }
        }
    }
}

static void lrn_task(void *ctx, long long c0, long long c1, int thread)
{
    lrn_range(ctx, c0, c1);
}

static void lrn_run(enode *n, void *scratch, threadpool *tp)
{
    const lrn_p *p = n->p;
    int nt = tp_size(tp);
    if (nt > 1 && p->C >= nt && p->C * p->inner > 10000)
        tp_run_range(tp, p->C, 1, lrn_task, n);
    else
        lrn_range(n, 0, p->C);
}

/* ------------------------------------------------------------ definitions */

const opdef op_conv = {"Conv", conv_infer, conv_prepare_op, conv_run_op, conv_scratch, conv_pfree, 0};
const opdef op_batchnorm = {"BatchNormalization", bn_infer, NULL, bn_run, NULL, bn_pfree, 0};
const opdef op_gemm = {"Gemm", gemm_infer, gemm_prepare, gemm_run, NULL, gemm_pfree, 0};
const opdef op_matmul = {"MatMul", matmul_infer, NULL, matmul_run, NULL, matmul_pfree, 0};
const opdef op_maxpool = {"MaxPool", maxpool_infer, NULL, pool_run, pool_scratch, NULL, 0};
const opdef op_avgpool = {"AveragePool", avgpool_infer, NULL, pool_run, NULL, NULL, 0};
const opdef op_gap = {"GlobalAveragePool", gap_infer, NULL, gpool_run, NULL, NULL, 0};
const opdef op_gmp = {"GlobalMaxPool", gmp_infer, NULL, gpool_run, NULL, NULL, 0};
const opdef op_lrn = {"LRN", lrn_infer, NULL, lrn_run, NULL, NULL, 0};
