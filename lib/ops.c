/* ops.c - element-wise, broadcasting, data-movement, softmax and reduction
 * operators, the epilogue (fused activation + quantisation rounding) and
 * the operator table.  Shapes are ONNX logical shapes; data C order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "engine_int.h"

/* GCC at -O2 only vectorises loops that need no run-time checks; these
 * element loops are the whole cost of the operators, so ask for more. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* ------------------------------------------------------------ epilogue */

/* Rounds x (count elements laid out as t's shape) to t's grid:
 * q = clamp(nearbyint(x / s) + zp, qmin, qmax), x = s * (q - zp). */
/* round half to even: (v + 1.5 * 2^23) - 1.5 * 2^23 for |v| < 2^22 under the
 * default rounding mode, in a form compilers vectorise (nearbyintf is a
 * call). */
/* x = s * clamp(round(x / s), lo - zp, hi - zp) for one scale / zero point. */
static void quant_round_run(float *x, int64_t count, float s, float zp, float lo, float hi)
{
    const float a = lo - zp, b = hi - zp;
    if (b - a < 4194304.0f) {
        for (int64_t i = 0; i < count; i++) {
            float v = x[i] / s;
            v = v < a ? a : v;
            v = v > b ? b : v;
            x[i] = s * ((v + 12582912.0f) - 12582912.0f);
        }
    } else {
        for (int64_t i = 0; i < count; i++) {
            float q = nearbyintf(x[i] / s) + zp;
            q = q < lo ? lo : q > hi ? hi : q;
            x[i] = s * (q - zp);
        }
    }
}

/* Rounds x (count elements laid out as t's shape) to t's grid:
 * q = clamp(nearbyint(x / s) + zp, qmin, qmax), x = s * (q - zp). */
void quant_round(const etensor *t, float *x, int64_t count)
{
    if (t->nq <= 0)
        return;
    if (t->nq == 1) {
        quant_round_run(x, count, t->qscale[0], t->qzp[0], t->qmin, t->qmax);
        return;
    }
    int64_t inner = 1;
    for (int i = t->qaxis + 1; i < t->ndim; i++)
        inner *= t->dims[i];
    for (int64_t i = 0; i < count; i += inner) {
        int64_t ch = (i / inner) % t->nq;
        quant_round_run(x + i, count - i < inner ? count - i : inner, t->qscale[ch], t->qzp[ch],
                        t->qmin, t->qmax);
    }
}

void epilogue_apply(const enode *n, float *x, int64_t count, int act_done)
{
    if (!act_done) {
        switch (n->act) {
        case EACT_RELU:
            for (int64_t i = 0; i < count; i++)
                x[i] = x[i] > 0 ? x[i] : 0;
            break;
        case EACT_CLIP: {
            const float lo = n->amin, hi = n->amax;
            for (int64_t i = 0; i < count; i++)
                x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
            break;
        }
        case EACT_TANH:
            for (int64_t i = 0; i < count; i++)
                x[i] = tanhf(x[i]);
            break;
        default:
            break;
        }
    }
    if (n->nout > 0 && n->out[0] >= 0)
        quant_round(&n->c->t[n->out[0]], x, count);
}

/* ------------------------------------------------------------ helpers */

static int need_f32(const enode *n, int k, err_t *e)
{
    if (k < n->nin && n->in[k] >= 0 && IN(n, k)->dtype != DT_F32)
        return node_err(n, e, "input '%s' is an integer tensor; only float is supported here",
                        IN(n, k)->name);
    return 0;
}

static int need_inputs(const enode *n, int lo, int hi, err_t *e)
{
    if (n->nin < lo || n->nin > hi)
        return node_err(n, e, "%d inputs, expected %d..%d", n->nin, lo, hi);
    for (int k = 0; k < lo; k++)
        if (n->in[k] < 0)
            return node_err(n, e, "input %d is missing", k);
    if (n->nout < 1 || n->out[0] < 0)
        return node_err(n, e, "no output");
    return 0;
}

static size_t esize(const etensor *t)
{
    return t->dtype == DT_I64 ? 8 : 4;
}

/* ------------------------------------------------------------ unary */

enum { U_COPY, U_RELU, U_CLIP, U_SIGMOID, U_TANH, U_LEAKY, U_HARDSWISH, U_HARDSIGMOID, U_EXP, U_LOG,
       U_SQRT, U_NEG, U_ABS, U_ELU };

typedef struct {
    int kind;
    float lo, hi, alpha;
    int64_t count;
    size_t esz;
} unary_p;

static int unary_setup(ectx *c, enode *n, int kind, err_t *e)
{
    unary_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->kind = kind;
    p->count = IN(n, 0)->numel;
    p->esz = esize(IN(n, 0));
    for (int k = 1; k < n->nout; k++)
        if (n->out[k] >= 0 && kind == U_COPY) {
            /* Dropout mask: all true in inference */
            int64_t *d = IN(n, 0)->dims;
            if (et_setshape(c, n->out[k], DT_F32, IN(n, 0)->ndim, d, e) < 0)
                return -1;
        }
    return et_setshape(c, n->out[0], IN(n, 0)->dtype, IN(n, 0)->ndim, IN(n, 0)->dims, e);
}

static void unary_run(enode *n, void *scratch, threadpool *tp)
{
    const unary_p *p = n->p;
    const float *x = n->ip[0];
    float *y = n->opp[0];
    int64_t cnt = p->count;
    switch (p->kind) {
    case U_COPY:
        if ((const void *)x != (void *)y)
            memcpy(y, x, (size_t)cnt * p->esz);
        for (int k = 1; k < n->nout; k++)
            if (n->opp[k])
                for (int64_t i = 0; i < cnt; i++)
                    n->opp[k][i] = 1.0f;
        break;
    case U_RELU:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case U_CLIP: {
        const float lo = p->lo, hi = p->hi;
        for (int64_t i = 0; i < cnt; i++) {
            float v = x[i];
            v = v < lo ? lo : v;
            y[i] = v > hi ? hi : v;
        }
        break;
    }
    case U_SIGMOID:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case U_TANH:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = tanhf(x[i]);
        break;
    case U_LEAKY:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = x[i] >= 0 ? x[i] : p->alpha * x[i];
        break;
    case U_HARDSIGMOID:
        for (int64_t i = 0; i < cnt; i++) {
            float v = p->alpha * x[i] + p->lo;
            y[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    case U_EXP:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = expf(x[i]);
        break;
    case U_LOG:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = logf(x[i]);
        break;
    case U_SQRT:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = sqrtf(x[i]);
        break;
    case U_NEG:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = -x[i];
        break;
    case U_ABS:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = fabsf(x[i]);
        break;
    case U_ELU:
        for (int64_t i = 0; i < cnt; i++)
            y[i] = x[i] >= 0 ? x[i] : p->alpha * (expf(x[i]) - 1);
        break;
    case U_HARDSWISH:
        for (int64_t i = 0; i < cnt; i++) {
            float v = x[i] / 6.0f + 0.5f;
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            y[i] = x[i] * v;
        }
        break;
    }
}

static int relu_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    return unary_setup(c, n, U_RELU, e);
}

static int sigmoid_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    return unary_setup(c, n, U_SIGMOID, e);
}

static int tanh_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    return unary_setup(c, n, U_TANH, e);
}

static int leaky_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    if (unary_setup(c, n, U_LEAKY, e) < 0)
        return -1;
    ((unary_p *)n->p)->alpha = gnode_attr_float(n->g, "alpha", 0.01f);
    return 0;
}

static int hardswish_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    return unary_setup(c, n, U_HARDSWISH, e);
}

/* The plain element-wise functions, by op type. */
static int elementwise_infer(ectx *c, enode *n, err_t *e)
{
    static const struct {
        const char *op;
        int kind;
        float alpha, beta;
    } fns[] = {{"HardSigmoid", U_HARDSIGMOID, 0.2f, 0.5f}, {"Exp", U_EXP, 0, 0}, {"Log", U_LOG, 0, 0},
               {"Sqrt", U_SQRT, 0, 0}, {"Neg", U_NEG, 0, 0}, {"Abs", U_ABS, 0, 0}, {"Elu", U_ELU, 1.0f, 0}};
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(fns[i].op, n->g->op)) {
            if (unary_setup(c, n, fns[i].kind, e) < 0)
                return -1;
            unary_p *p = n->p;
            p->alpha = gnode_attr_float(n->g, "alpha", fns[i].alpha);
            p->lo = gnode_attr_float(n->g, "beta", fns[i].beta);
            return 0;
        }
    return node_err(n, e, "not an element-wise function");
}

static int clip_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 3, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    float lo = -INFINITY, hi = INFINITY;
    if (gnode_attr(n->g, "min"))
        lo = gnode_attr_float(n->g, "min", lo);
    if (gnode_attr(n->g, "max"))
        hi = gnode_attr_float(n->g, "max", hi);
    if (n->nin > 1 && n->in[1] >= 0 && et_const_float(c, n->in[1], &lo, e) < 0)
        return node_err(n, e, "min must be a constant scalar");
    if (n->nin > 2 && n->in[2] >= 0 && et_const_float(c, n->in[2], &hi, e) < 0)
        return node_err(n, e, "max must be a constant scalar");
    if (unary_setup(c, n, U_CLIP, e) < 0)
        return -1;
    ((unary_p *)n->p)->lo = lo;
    ((unary_p *)n->p)->hi = hi;
    return 0;
}

void clip_bounds(const enode *n, float *lo, float *hi)
{
    const unary_p *p = n->p;
    *lo = p->lo;
    *hi = p->hi;
}

static int identity_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 3, e) < 0)
        return -1;
    if (!strcmp(n->g->op, "Dropout")) {
        if (gnode_attr_int(n->g, "training_mode", 0) != 0)
            return node_err(n, e, "training mode is not supported");
        if (n->nin > 2 && n->in[2] >= 0) {
            const etensor *tm = IN(n, 2);
            if (!tm->cdata || tm->numel != 1)
                return node_err(n, e, "training_mode must be a constant");
            if (tm->dtype == DT_I64 ? ((int64_t *)tm->cdata)[0] != 0 : ((float *)tm->cdata)[0] != 0)
                return node_err(n, e, "training mode is not supported");
        }
    } else if (n->nin != 1)
        return node_err(n, e, "expected one input");
    return unary_setup(c, n, U_COPY, e);
}

/* ------------------------------------------------------------ reshaping */

static int reshape_common(ectx *c, enode *n, int ndim, const int64_t *dims, err_t *e)
{
    const etensor *x = IN(n, 0);
    int64_t cnt;
    if (et_numel(dims, ndim, &cnt) < 0 || cnt != x->numel)
        return node_err(n, e, "cannot reshape %lld elements to the requested shape", (long long)x->numel);
    unary_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->kind = U_COPY;
    p->count = x->numel;
    p->esz = esize(x);
    return et_setshape(c, n->out[0], x->dtype, ndim, dims, e);
}

static int reshape_infer(ectx *c, enode *n, err_t *e)
{
    int64_t sh[TENSOR_MAXDIM], out[TENSOR_MAXDIM];
    int ns;
    if (need_inputs(n, 1, 2, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (n->nin >= 2 && n->in[1] >= 0) {
        if (et_const_ints(c, n->in[1], sh, TENSOR_MAXDIM, &ns, e) < 0)
            return node_err(n, e, "the shape input must be a constant of at most %d values", TENSOR_MAXDIM);
    } else {
        ns = attr_ints(n->g, "shape", sh, TENSOR_MAXDIM);
        if (ns < 0)
            return node_err(n, e, "no shape given");
    }
    int allowzero = (int)gnode_attr_int(n->g, "allowzero", 0);
    int neg = -1;
    int64_t known = 1;
    for (int i = 0; i < ns; i++) {
        int64_t d = sh[i];
        if (d == 0 && !allowzero) {
            if (i >= x->ndim)
                return node_err(n, e, "shape[%d] = 0 but the input has rank %d", i, x->ndim);
            d = x->dims[i];
        } else if (d == -1) {
            if (neg >= 0)
                return node_err(n, e, "more than one -1 in the shape");
            neg = i;
            out[i] = 1;
            continue;
        } else if (d < -1)
            return node_err(n, e, "shape[%d] = %lld is invalid", i, (long long)d);
        out[i] = d;
        if (d > 0 && known > ENGINE_MAX_NUMEL / d)
            return node_err(n, e, "shape too large");
        known *= d;
    }
    if (neg >= 0) {
        if (known == 0 || x->numel % known != 0)
            return node_err(n, e, "cannot infer the -1 dimension for %lld elements", (long long)x->numel);
        out[neg] = x->numel / known;
    }
    return reshape_common(c, n, ns, out, e);
}

static int flatten_infer(ectx *c, enode *n, err_t *e)
{
    int64_t ax, d[2] = {1, 1};
    if (need_inputs(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    ax = gnode_attr_int(n->g, "axis", 1);
    if (ax < 0)
        ax += x->ndim;
    if (ax < 0 || ax > x->ndim)
        return node_err(n, e, "axis out of range");
    for (int i = 0; i < x->ndim; i++)
        d[i < ax ? 0 : 1] *= x->dims[i];
    return reshape_common(c, n, 2, d, e);
}

static int get_axes(ectx *c, enode *n, int64_t *axes, int *na, err_t *e)
{
    *na = -1;
    if (n->nin >= 2 && n->in[1] >= 0) {
        if (et_const_ints(c, n->in[1], axes, TENSOR_MAXDIM, na, e) < 0)
            return node_err(n, e, "axes must be a constant of at most %d values", TENSOR_MAXDIM);
        return 0;
    }
    int k = attr_ints(n->g, "axes", axes, TENSOR_MAXDIM);
    if (k == -2)
        return node_err(n, e, "bad axes attribute");
    *na = k;
    return 0;
}

static int squeeze_infer(ectx *c, enode *n, err_t *e)
{
    int64_t axes[TENSOR_MAXDIM], out[TENSOR_MAXDIM];
    int na, no = 0, drop[TENSOR_MAXDIM] = {0};
    if (need_inputs(n, 1, 2, e) < 0 || get_axes(c, n, axes, &na, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (na < 0) {
        for (int i = 0; i < x->ndim; i++)
            drop[i] = x->dims[i] == 1;
    } else {
        for (int i = 0; i < na; i++) {
            int64_t a;
            if (norm_axis(axes[i], x->ndim, &a) < 0)
                return node_err(n, e, "axis %lld out of range", (long long)axes[i]);
            if (x->dims[a] != 1)
                return node_err(n, e, "cannot squeeze axis %lld of size %lld", (long long)a,
                                (long long)x->dims[a]);
            drop[a] = 1;
        }
    }
    for (int i = 0; i < x->ndim; i++)
        if (!drop[i])
            out[no++] = x->dims[i];
    return reshape_common(c, n, no, out, e);
}

static int unsqueeze_infer(ectx *c, enode *n, err_t *e)
{
    int64_t axes[TENSOR_MAXDIM], out[TENSOR_MAXDIM];
    int na, ins[TENSOR_MAXDIM] = {0};
    if (need_inputs(n, 1, 2, e) < 0 || get_axes(c, n, axes, &na, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (na < 0)
        return node_err(n, e, "axes missing");
    int r = x->ndim + na;
    if (r > TENSOR_MAXDIM)
        return node_err(n, e, "output rank %d too large", r);
    for (int i = 0; i < na; i++) {
        int64_t a;
        if (norm_axis(axes[i], r, &a) < 0 || ins[a])
            return node_err(n, e, "axis %lld out of range or repeated", (long long)axes[i]);
        ins[a] = 1;
    }
    for (int i = 0, k = 0; i < r; i++)
        out[i] = ins[i] ? 1 : x->dims[k++];
    return reshape_common(c, n, r, out, e);
}

/* ------------------------------------------------------------ broadcasting binary ops */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_PRELU };

typedef struct {
    int kind, nd, i64;
    int64_t dims[TENSOR_MAXDIM];       /* coalesced output dims */
    int64_t sa[TENSOR_MAXDIM], sb[TENSOR_MAXDIM];
    int64_t rows, count;
    /* quantised Add of two same-shape tensors (binary_prepare): integer
     * arithmetic as XNNPACK's uint8 add, rounding in the store */
    int qadd;
    float inv_a, inv_b, so, qlo, qhi;       /* qlo, qhi relative to the zero point */
    int32_t am, bm, shift;
    int32_t za, zb, zo;                     /* zero points, for uint8 storage */
    int level;                              /* SIMD_* */
} binary_p;

/* Computes the broadcast output shape of a and b and coalesced loops. */
static int broadcast_plan(const etensor *a, const etensor *b, int *ondim, int64_t *odims,
                          int *nd, int64_t *dims, int64_t *sa, int64_t *sb)
{
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t da[TENSOR_MAXDIM], db[TENSOR_MAXDIM], ea[TENSOR_MAXDIM], eb[TENSOR_MAXDIM];
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        da[i] = ia >= 0 ? a->dims[ia] : 1;
        db[i] = ib >= 0 ? b->dims[ib] : 1;
        if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
            return -1;
        odims[i] = da[i] == 1 ? db[i] : da[i];
    }
    *ondim = r;
    /* element strides, 0 on broadcast dims */
    int64_t s1 = 1, s2 = 1;
    for (int i = r - 1; i >= 0; i--) {
        ea[i] = da[i] == 1 && odims[i] != 1 ? 0 : s1;
        eb[i] = db[i] == 1 && odims[i] != 1 ? 0 : s2;
        s1 *= da[i];
        s2 *= db[i];
    }
    /* drop size-1 dims and merge contiguous ones */
    int k = 0;
    for (int i = 0; i < r; i++) {
        if (odims[i] == 1)
            continue;
        if (k > 0 && sa[k - 1] == ea[i] * odims[i] && sb[k - 1] == eb[i] * odims[i]) {
            dims[k - 1] *= odims[i];
            sa[k - 1] = ea[i];
            sb[k - 1] = eb[i];
            continue;
        }
        dims[k] = odims[i];
        sa[k] = ea[i];
        sb[k] = eb[i];
        k++;
    }
    if (k == 0) {
        dims[0] = 1;
        sa[0] = sb[0] = 0;
        k = 1;
    }
    *nd = k;
    return 0;
}

static int binary_infer_kind(ectx *c, enode *n, int kind, err_t *e)
{
    int64_t od[TENSOR_MAXDIM];
    int ond;
    if (need_inputs(n, 2, 2, e) < 0)
        return -1;
    const etensor *a = IN(n, 0), *b = IN(n, 1);
    if (a->dtype != b->dtype)
        return node_err(n, e, "inputs of different types");
    binary_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->kind = kind;
    p->i64 = a->dtype == DT_I64;
    if (broadcast_plan(a, b, &ond, od, &p->nd, p->dims, p->sa, p->sb) < 0)
        return node_err(n, e, "shapes of '%s' and '%s' do not broadcast", a->name, b->name);
    if (et_setshape(c, n->out[0], a->dtype, ond, od, e) < 0)
        return -1;
    p->count = OUT(n, 0)->numel;
    p->rows = p->dims[p->nd - 1] ? p->count / p->dims[p->nd - 1] : 0;
    return 0;
}

static int add_infer(ectx *c, enode *n, err_t *e) { return binary_infer_kind(c, n, B_ADD, e); }
static int sub_infer(ectx *c, enode *n, err_t *e) { return binary_infer_kind(c, n, B_SUB, e); }
static int mul_infer(ectx *c, enode *n, err_t *e) { return binary_infer_kind(c, n, B_MUL, e); }
static int div_infer(ectx *c, enode *n, err_t *e) { return binary_infer_kind(c, n, B_DIV, e); }

/* PRelu: the slope broadcasts to the input, whose shape the output keeps. */
static int prelu_infer(ectx *c, enode *n, err_t *e)
{
    if (binary_infer_kind(c, n, B_PRELU, e) < 0)
        return -1;
    const etensor *x = IN(n, 0), *y = OUT(n, 0);
    int same = x->ndim == y->ndim;
    for (int i = 0; same && i < x->ndim; i++)
        same = x->dims[i] == y->dims[i];
    if (!same)
        return node_err(n, e, "slope '%s' does not broadcast to the input", IN(n, 1)->name);
    return 0;
}

static void binary_run(enode *n, void *scratch, threadpool *tp);

/* Max / Min: one input is a copy; more than two are refused. */
static int maxmin_infer(ectx *c, enode *n, err_t *e)
{
    if (n->nin == 1) {
        if (need_inputs(n, 1, 1, e) < 0)
            return -1;
        return unary_setup(c, n, U_COPY, e);
    }
    if (n->nin > 2)
        return node_err(n, e, "%d inputs: at most two are supported", n->nin);
    return binary_infer_kind(c, n, !strcmp(n->g->op, "Max") ? B_MAX : B_MIN, e);
}

static void maxmin_run(enode *n, void *scratch, threadpool *tp)
{
    if (n->nin == 1)
        unary_run(n, scratch, tp);
    else
        binary_run(n, scratch, tp);
}

#define BIN_LOOP(OP)                                                           \
    do {                                                                       \
        if (ia == 1 && ib == 1)                                                \
            for (int64_t j = 0; j < len; j++) { float x = a[j], y = b[j]; c[j] = OP; } \
        else if (ia == 1 && ib == 0) {                                         \
            const float y = b[0];                                              \
            for (int64_t j = 0; j < len; j++) { float x = a[j]; c[j] = OP; }   \
        } else if (ia == 0 && ib == 1) {                                       \
            const float x = a[0];                                              \
            for (int64_t j = 0; j < len; j++) { float y = b[j]; c[j] = OP; }   \
        } else                                                                 \
            for (int64_t j = 0; j < len; j++) { float x = a[j * ia], y = b[j * ib]; c[j] = OP; } \
    } while (0)

static void binary_row_f32(int kind, const float *a, int64_t ia, const float *b, int64_t ib,
                           float *c, int64_t len)
{
    switch (kind) {
    case B_ADD: BIN_LOOP(x + y); break;
    case B_SUB: BIN_LOOP(x - y); break;
    case B_MUL: BIN_LOOP(x * y); break;
    case B_DIV: BIN_LOOP(x / y); break;
    case B_MAX: BIN_LOOP(x >= y || y != y ? x : y); break;
    case B_MIN: BIN_LOOP(x <= y || y != y ? x : y); break;
    case B_PRELU: BIN_LOOP(x < 0 ? x * y : x); break;
    }
}

static void binary_row_i64(int kind, const int64_t *a, int64_t ia, const int64_t *b, int64_t ib,
                           int64_t *c, int64_t len)
{
    for (int64_t j = 0; j < len; j++) {
        int64_t x = a[j * ia], y = b[j * ib];
        switch (kind) {
        case B_ADD: c[j] = (int64_t)((uint64_t)x + (uint64_t)y); break;
        case B_SUB: c[j] = (int64_t)((uint64_t)x - (uint64_t)y); break;
        case B_MUL: c[j] = (int64_t)((uint64_t)x * (uint64_t)y); break;
        case B_DIV: c[j] = y == 0 || (y == -1 && x == INT64_MIN) ? 0 : x / y; break;
        case B_MAX: c[j] = x > y ? x : y; break;
        case B_MIN: c[j] = x < y ? x : y; break;
        case B_PRELU: c[j] = x < 0 ? (int64_t)((uint64_t)x * (uint64_t)y) : x; break;
        }
    }
}


/* Rows [r0, r1) of the coalesced iteration space. */
static void binary_rows(const enode *n, int64_t r0, int64_t r1)
{
    const binary_p *p = n->p;
    int nd = p->nd;
    int64_t len = p->dims[nd - 1], idx[TENSOR_MAXDIM] = {0};
    int64_t oa = 0, ob = 0, r = r0;
    for (int i = nd - 2; i >= 0; i--) {
        idx[i] = r % p->dims[i];
        r /= p->dims[i];
        oa += idx[i] * p->sa[i];
        ob += idx[i] * p->sb[i];
    }
    for (int64_t row = r0; row < r1; row++) {
        if (p->i64)
            binary_row_i64(p->kind, (const int64_t *)(const void *)n->ip[0] + oa, p->sa[nd - 1],
                           (const int64_t *)(const void *)n->ip[1] + ob, p->sb[nd - 1],
                           (int64_t *)(void *)n->opp[0] + row * len, len);
        else
            binary_row_f32(p->kind, n->ip[0] + oa, p->sa[nd - 1], n->ip[1] + ob, p->sb[nd - 1],
                           n->opp[0] + row * len, len);
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            oa += p->sa[i];
            ob += p->sb[i];
            if (idx[i] < p->dims[i])
                break;
            oa -= p->sa[i] * idx[i];
            ob -= p->sb[i] * idx[i];
            idx[i] = 0;
        }
    }
}

/* Quantised Add over [i0, i1): the inputs' integers (relative to their
 * zero points) read back from their grids, then
 *   q = (am * qa + bm * qb + 2^(shift-1)) >> shift    (arithmetic shift)
 * clamped, stored as so * q. */
/* The operands and the result as floats on their grids or, where a8 / b8
 * / y8 is set, as their uint8 integers (one byte per value). */
typedef struct {
    const void *a, *b;
    void *y;
    int a8, b8, y8;
} qadd_io;

static void qadd_c(const binary_p *p, const qadd_io *io, int64_t i0, int64_t n)
{
    const float ia = p->inv_a, ib = p->inv_b, lo = p->qlo, hi = p->qhi, so = p->so;
    const int32_t am = p->am, bm = p->bm, rnd = (int32_t)1 << (p->shift - 1);
    const int sh = p->shift;
    for (int64_t i = i0; i < i0 + n; i++) {
        int32_t qa, qb;
        if (io->a8) {
            qa = ((const unsigned char *)io->a)[i] - p->za;
        } else {
            float fa = ((const float *)io->a)[i] * ia;
            fa = fa > -255.0f ? fa : -255.0f;       /* on the grid these are */
            fa = fa < 255.0f ? fa : 255.0f;         /* integers within +-255 */
            qa = (int32_t)((fa + 12582912.0f) - 12582912.0f);
        }
        if (io->b8) {
            qb = ((const unsigned char *)io->b)[i] - p->zb;
        } else {
            float fb = ((const float *)io->b)[i] * ib;
            fb = fb > -255.0f ? fb : -255.0f;
            fb = fb < 255.0f ? fb : 255.0f;
            qb = (int32_t)((fb + 12582912.0f) - 12582912.0f);
        }
        int32_t acc = am * qa + bm * qb + rnd;
        float q = (float)(acc >> sh);
        q = q > lo ? q : lo;
        q = q < hi ? q : hi;
        if (io->y8)
            ((unsigned char *)io->y)[i] = (unsigned char)((int)q + p->zo);
        else
            ((float *)io->y)[i] = so * q;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void qadd_avx512(const binary_p *p, const qadd_io *io, int64_t i0, int64_t n)
{
    const __m512 ia = _mm512_set1_ps(p->inv_a), ib = _mm512_set1_ps(p->inv_b),
                 lo = _mm512_set1_ps(p->qlo), hi = _mm512_set1_ps(p->qhi),
                 so = _mm512_set1_ps(p->so), m255 = _mm512_set1_ps(255.0f),
                 n255 = _mm512_set1_ps(-255.0f);
    const __m512i am = _mm512_set1_epi32(p->am), bm = _mm512_set1_epi32(p->bm),
                  rnd = _mm512_set1_epi32((int32_t)1 << (p->shift - 1)),
                  za = _mm512_set1_epi32(p->za), zb = _mm512_set1_epi32(p->zb),
                  zo = _mm512_set1_epi32(p->zo);
    const __m128i sh = _mm_cvtsi32_si128(p->shift);
    for (int64_t i = i0; i < i0 + n; i += 16) {
        __mmask16 m = i0 + n - i >= 16 ? 0xffff : (__mmask16)((1u << (i0 + n - i)) - 1);
        __m512i qa, qb;
        if (io->a8) {
            qa = _mm512_sub_epi32(_mm512_cvtepu8_epi32(
                     _mm_maskz_loadu_epi8(m, (const unsigned char *)io->a + i)), za);
        } else {
            __m512 fa = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, (const float *)io->a + i), ia);
            qa = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(fa, n255), m255));
        }
        if (io->b8) {
            qb = _mm512_sub_epi32(_mm512_cvtepu8_epi32(
                     _mm_maskz_loadu_epi8(m, (const unsigned char *)io->b + i)), zb);
        } else {
            __m512 fb = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, (const float *)io->b + i), ib);
            qb = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(fb, n255), m255));
        }
        __m512i acc = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(qa, am),
                                                        _mm512_mullo_epi32(qb, bm)), rnd);
        __m512 q = _mm512_cvtepi32_ps(_mm512_sra_epi32(acc, sh));
        q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
        if (io->y8)
            _mm512_mask_cvtepi32_storeu_epi8((unsigned char *)io->y + i, m,
                                             _mm512_add_epi32(_mm512_cvttps_epi32(q), zo));
        else
            _mm512_mask_storeu_ps((float *)io->y + i, m, _mm512_mul_ps(q, so));
    }
}

__attribute__((target("avx2,fma")))
static void qadd_avx2(const binary_p *p, const qadd_io *io, int64_t i0, int64_t n)
{
    if (io->a8 || io->b8 || io->y8) {
        qadd_c(p, io, i0, n);
        return;
    }
    const float *a = (const float *)io->a, *b = (const float *)io->b;
    float *y = io->y;
    const __m256 ia = _mm256_set1_ps(p->inv_a), ib = _mm256_set1_ps(p->inv_b),
                 lo = _mm256_set1_ps(p->qlo), hi = _mm256_set1_ps(p->qhi),
                 so = _mm256_set1_ps(p->so), m255 = _mm256_set1_ps(255.0f),
                 n255 = _mm256_set1_ps(-255.0f);
    const __m256i am = _mm256_set1_epi32(p->am), bm = _mm256_set1_epi32(p->bm),
                  rnd = _mm256_set1_epi32((int32_t)1 << (p->shift - 1));
    const __m128i sh = _mm_cvtsi32_si128(p->shift);
    int64_t i = i0;
    for (; i + 8 <= i0 + n; i += 8) {
        __m256 fa = _mm256_mul_ps(_mm256_loadu_ps(a + i), ia);
        __m256 fb = _mm256_mul_ps(_mm256_loadu_ps(b + i), ib);
        fa = _mm256_min_ps(_mm256_max_ps(fa, n255), m255);
        fb = _mm256_min_ps(_mm256_max_ps(fb, n255), m255);
        __m256i qa = _mm256_cvtps_epi32(fa), qb = _mm256_cvtps_epi32(fb);
        __m256i acc = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(qa, am),
                                                        _mm256_mullo_epi32(qb, bm)), rnd);
        __m256 q = _mm256_cvtepi32_ps(_mm256_sra_epi32(acc, sh));
        q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(q, so));
    }
    qadd_c(p, io, i, i0 + n - i);
}
#endif

/* Quantised Add over [i0, i1): the inputs' integers (relative to their
 * zero points) read back from their grids or bytes, then
 *   q = (am * qa + bm * qb + 2^(shift-1)) >> shift    (arithmetic shift)
 * clamped, stored as so * q (or as the byte q + zo). */
static void qadd_range(const enode *n, int64_t i0, int64_t i1)
{
    const binary_p *p = n->p;
    qadd_io io = {n->ip[0], n->ip[1], n->opp[0], IN(n, 0)->qstore, IN(n, 1)->qstore,
                  OUT(n, 0)->qstore};
#if defined(__x86_64__)
    if (p->level >= SIMD_AVX512)
        qadd_avx512(p, &io, i0, i1 - i0);
    else if (p->level >= SIMD_AVX2)
        qadd_avx2(p, &io, i0, i1 - i0);
    else
#endif
        qadd_c(p, &io, i0, i1 - i0);
}

/* One coalesced row (same shapes, or a scalar operand): elements [i0, i1)
 * of it, so that threads can share it. */
static void binary_flat_fn(void *ctx, long long i0, long long i1, int thread)
{
    const enode *n = ctx;
    const binary_p *p = n->p;
    binary_row_f32(p->kind, n->ip[0] + i0 * p->sa[0], p->sa[0], n->ip[1] + i0 * p->sb[0],
                   p->sb[0], n->opp[0] + i0, i1 - i0);
}

static void binary_task_fn(void *ctx, long long r0, long long r1, int thread)
{
    const enode *n = ctx;
    const binary_p *p = n->p;
    if (p->qadd)
        qadd_range(n, r0, r1);
    else
        binary_rows(ctx, r0, r1);
}

static int is_q8(const etensor *t)
{
    return t->nq == 1 && ((t->qmin == 0 && t->qmax == 255) || (t->qmin == -128 && t->qmax == 127));
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* An Add of two quantised tensors of the output's shape computes as
 * TFLite's XNNPACK delegate does (uint8 add): multipliers
 * round(s_a/s_y * 2^shift), round(s_b/s_y * 2^shift) with the larger in
 * [2^20, 2^21), the sum rounded half up by the shift.  Its store puts the
 * result on the output grid (and applies a fused Relu/Clip). */
static int binary_prepare(ectx *c, enode *n, err_t *e)
{
    binary_p *p = n->p;
    if (p->kind != B_ADD || p->i64 || n->nout < 1 || n->out[0] < 0)
        return 0;
    const etensor *a = IN(n, 0), *b = IN(n, 1), *y = OUT(n, 0);
    if (!is_q8(a) || !is_q8(b) || !is_q8(y) || a->cdata || b->cdata || a->numel != p->count ||
        b->numel != p->count || (n->act != EACT_NONE && n->act != EACT_RELU && n->act != EACT_CLIP))
        return 0;
    float sa = a->qscale[0] / y->qscale[0], sb = b->qscale[0] / y->qscale[0];
    float smax = sa > sb ? sa : sb;
    if (!(sa >= 0x1.0p-10f && sb >= 0x1.0p-10f && smax < 0x1.0p+8f))
        return 0;
    int32_t shift = 20 - ((int32_t)(f32_bits(smax) >> 23) - 127);
    if (shift < 12 || shift > 30)
        return 0;
    p->am = (int32_t)lrintf(ldexpf(sa, shift));
    p->bm = (int32_t)lrintf(ldexpf(sb, shift));
    p->shift = shift;
    p->inv_a = 1.0f / a->qscale[0];
    p->inv_b = 1.0f / b->qscale[0];
    p->so = y->qscale[0];
    double lo = y->qmin - y->qzp[0], hi = y->qmax - y->qzp[0];
    if (n->act == EACT_RELU && lo < 0)
        lo = 0;
    if (n->act == EACT_CLIP) {
        double l = nearbyint((double)n->amin / y->qscale[0]), h = nearbyint((double)n->amax / y->qscale[0]);
        if (l > lo) lo = l;
        if (h < hi) hi = h;
        if (hi < lo) hi = lo;
    }
    p->qlo = (float)lo;
    p->qhi = (float)hi;
    p->qadd = 1;
    p->level = c->reference ? SIMD_PORTABLE : simd_level();
    p->za = (int32_t)a->qzp[0];
    p->zb = (int32_t)b->qzp[0];
    p->zo = (int32_t)y->qzp[0];
    if (!c->reference && a->qmin == 0 && b->qmin == 0 && y->qmin == 0 && lo + p->zo >= 0 &&
        hi + p->zo <= 255)
        n->qio = QIO_READ | QIO_WRITE;
    n->act_in_kernel = 1;
    n->quant_in_kernel = 1;
    return 0;
}

static void binary_run(enode *n, void *scratch, threadpool *tp)
{
    const binary_p *p = n->p;
    int nt = tp_size(tp);
    if (p->qadd) {
        if (nt > 1 && p->count >= 65536)
            tp_run_range(tp, p->count, 16, binary_task_fn, n);
        else
            qadd_range(n, 0, p->count);
        return;
    }
    if (p->rows == 0)
        return;
    /* same-shape operands coalesce into one row (ResNet-18's residual
     * Adds, 64 x 56x56): split it by elements */
    if (nt > 1 && p->count >= 32768 && p->nd == 1 && !p->i64)
        tp_run_range(tp, p->count, 16, binary_flat_fn, n);
    else if (nt > 1 && p->count >= 65536 && p->rows >= nt && !p->i64)
        tp_run_range(tp, p->rows, 1, binary_task_fn, n);
    else
        binary_rows(n, 0, p->rows);
}

/* ------------------------------------------------------------ Softmax */

typedef struct {
    int64_t outer, len, inner;
    float beta;
    int log;
} softmax_p;

static int softmax_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    int legacy = c->opset > 0 && c->opset < 13;
    int64_t ax;
    if (x->ndim < 1)
        return node_err(n, e, "input must have rank >= 1");
    if (norm_axis(gnode_attr_int(n->g, "axis", legacy ? 1 : -1), x->ndim, &ax) < 0)
        return node_err(n, e, "axis out of range");
    softmax_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->beta = gnode_attr_float(n->g, "beta", 1.0f);
    p->log = !strcmp(n->g->op, "LogSoftmax");
    p->outer = p->len = p->inner = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < ax)
            p->outer *= x->dims[i];
        else if (i == ax || legacy)
            p->len *= x->dims[i];
        else
            p->inner *= x->dims[i];
    }
    return et_setshape(c, n->out[0], DT_F32, x->ndim, x->dims, e);
}

static void softmax_run(enode *n, void *scratch, threadpool *tp)
{
    const softmax_p *p = n->p;
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t in = 0; in < p->inner; in++) {
            const float *x = n->ip[0] + o * p->len * p->inner + in;
            float *y = n->opp[0] + o * p->len * p->inner + in;
            int64_t st = p->inner;
            float mx = -INFINITY;
            for (int64_t j = 0; j < p->len; j++)
                mx = x[j * st] > mx ? x[j * st] : mx;
            double sum = 0;
            for (int64_t j = 0; j < p->len; j++) {
                float v = expf(p->beta * (x[j * st] - mx));
                y[j * st] = v;
                sum += v;
            }
            if (p->log) {
                float ls = (float)log(sum);
                for (int64_t j = 0; j < p->len; j++)
                    y[j * st] = p->beta * (x[j * st] - mx) - ls;
            } else {
                float inv = (float)(1.0 / sum);
                for (int64_t j = 0; j < p->len; j++)
                    y[j * st] *= inv;
            }
        }
}

/* ------------------------------------------------------------ Concat */

typedef struct {
    int64_t outer, total;        /* total = output chunk per outer step */
    size_t esz;
    int n;
    int64_t chunk[];             /* per input: dims[axis] * inner */
} concat_p;

static int concat_infer(ectx *c, enode *n, err_t *e)
{
    int64_t ax, od[TENSOR_MAXDIM];
    if (need_inputs(n, 1, 1024, e) < 0)
        return -1;
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] < 0)
            return node_err(n, e, "input %d missing", k);
    const etensor *x0 = IN(n, 0);
    if (x0->ndim < 1)
        return node_err(n, e, "inputs must have rank >= 1");
    if (!gnode_attr(n->g, "axis"))
        return node_err(n, e, "axis missing");
    if (norm_axis(gnode_attr_int(n->g, "axis", 0), x0->ndim, &ax) < 0)
        return node_err(n, e, "axis out of range");
    concat_p *p = calloc(1, sizeof *p + sizeof(int64_t) * (size_t)n->nin);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->n = n->nin;
    p->esz = esize(x0);
    memcpy(od, x0->dims, sizeof od);
    od[ax] = 0;
    int64_t inner = 1;
    p->outer = 1;
    for (int i = 0; i < x0->ndim; i++) {
        if (i < ax)
            p->outer *= x0->dims[i];
        else if (i > ax)
            inner *= x0->dims[i];
    }
    for (int k = 0; k < n->nin; k++) {
        const etensor *x = IN(n, k);
        if (x->ndim != x0->ndim || x->dtype != x0->dtype)
            return node_err(n, e, "input '%s' has another rank or type", x->name);
        for (int i = 0; i < x->ndim; i++)
            if (i != ax && x->dims[i] != x0->dims[i])
                return node_err(n, e, "input '%s': dimension %d is %lld, expected %lld", x->name, i,
                                (long long)x->dims[i], (long long)x0->dims[i]);
        od[ax] += x->dims[ax];
        if (od[ax] > ENGINE_MAX_NUMEL)
            return node_err(n, e, "output too large");
        p->chunk[k] = x->dims[ax] * inner;
    }
    if (et_setshape(c, n->out[0], x0->dtype, x0->ndim, od, e) < 0)
        return -1;
    p->total = od[ax] * inner;
    return 0;
}

long long concat_slice_offset(const enode *n, int k)
{
    const concat_p *p = n->p;
    long long off = 0;
    if (!p || p->outer != 1 || p->esz != 4 || k < 0 || k >= p->n)
        return -1;
    for (int i = 0; i < k; i++)
        off += (long long)p->chunk[i] * 4;
    return off;
}

/* Copies each input into its slice of the output; an input that the
 * planner placed in its slice already (same address) is not copied. */
static void concat_run(enode *n, void *scratch, threadpool *tp)
{
    const concat_p *p = n->p;
    char *y = (char *)n->opp[0];
    for (int64_t o = 0; o < p->outer; o++) {
        for (int k = 0; k < p->n; k++) {
            size_t b = (size_t)p->chunk[k] * p->esz;
            const char *x = (const char *)n->ip[k] + (size_t)o * b;
            if (x != y)
                memcpy(y, x, b);
            y += b;
        }
    }
}

/* ------------------------------------------------------------ Transpose */

typedef struct {
    int nd;
    size_t esz;
    int64_t dims[TENSOR_MAXDIM];     /* output dims */
    int64_t st[TENSOR_MAXDIM];       /* input stride for each output dim */
    int64_t count;
} transpose_p;

static int transpose_infer(ectx *c, enode *n, err_t *e)
{
    int64_t perm[TENSOR_MAXDIM], od[TENSOR_MAXDIM], ist[TENSOR_MAXDIM];
    int used[TENSOR_MAXDIM] = {0};
    if (need_inputs(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    int np = attr_ints(n->g, "perm", perm, TENSOR_MAXDIM);
    if (np < 0) {
        if (np == -2)
            return node_err(n, e, "bad perm");
        np = x->ndim;
        for (int i = 0; i < np; i++)
            perm[i] = np - 1 - i;
    }
    if (np != x->ndim)
        return node_err(n, e, "perm has %d entries for rank %d", np, x->ndim);
    for (int i = 0; i < np; i++) {
        if (perm[i] < 0 || perm[i] >= np || used[perm[i]])
            return node_err(n, e, "perm is not a permutation");
        used[perm[i]] = 1;
    }
    int64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        ist[i] = s;
        s *= x->dims[i];
    }
    transpose_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->esz = esize(x);
    p->count = x->numel;
    int k = 0;
    for (int i = 0; i < np; i++) {
        od[i] = x->dims[perm[i]];
        if (od[i] == 1)
            continue;
        if (k > 0 && p->st[k - 1] == ist[perm[i]] * od[i]) {
            p->dims[k - 1] *= od[i];
            p->st[k - 1] = ist[perm[i]];
            continue;
        }
        p->dims[k] = od[i];
        p->st[k] = ist[perm[i]];
        k++;
    }
    if (k == 0) {
        p->dims[0] = 1;
        p->st[0] = 1;
        k = 1;
    }
    p->nd = k;
    return et_setshape(c, n->out[0], x->dtype, np, od, e);
}

static void transpose_run(enode *n, void *scratch, threadpool *tp)
{
    const transpose_p *p = n->p;
    int nd = p->nd;
    int64_t idx[TENSOR_MAXDIM] = {0}, off = 0, len = p->dims[nd - 1], s = p->st[nd - 1];
    if (p->count == 0)
        return;
    int64_t rows = p->count / len;
    for (int64_t r = 0; r < rows; r++) {
        if (p->esz == 4) {
            const float *x = n->ip[0] + off;
            float *y = n->opp[0] + r * len;
            for (int64_t j = 0; j < len; j++)
                y[j] = x[j * s];
        } else {
            const int64_t *x = (const int64_t *)(const void *)n->ip[0] + off;
            int64_t *y = (int64_t *)(void *)n->opp[0] + r * len;
            for (int64_t j = 0; j < len; j++)
                y[j] = x[j * s];
        }
        for (int i = nd - 2; i >= 0; i--) {
            idx[i]++;
            off += p->st[i];
            if (idx[i] < p->dims[i])
                break;
            off -= p->st[i] * idx[i];
            idx[i] = 0;
        }
    }
}

/* ------------------------------------------------------------ Gather */

typedef struct {
    int64_t outer, axlen, inner, nidx;
    size_t esz;
    int64_t idx[];
} gather_p;

static int gather_infer(ectx *c, enode *n, err_t *e)
{
    int64_t ax, od[TENSOR_MAXDIM];
    if (need_inputs(n, 2, 2, e) < 0)
        return -1;
    const etensor *x = IN(n, 0), *ix = IN(n, 1);
    if (!ix->cdata)
        return node_err(n, e, "indices must be constant");
    if (x->ndim < 1)
        return node_err(n, e, "data must have rank >= 1");
    if (norm_axis(gnode_attr_int(n->g, "axis", 0), x->ndim, &ax) < 0)
        return node_err(n, e, "axis out of range");
    int r = x->ndim - 1 + ix->ndim;
    if (r > TENSOR_MAXDIM)
        return node_err(n, e, "output rank too large");
    gather_p *p = calloc(1, sizeof *p + sizeof(int64_t) * (size_t)(ix->numel + 1));
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->esz = esize(x);
    p->nidx = ix->numel;
    p->axlen = x->dims[ax];
    p->outer = p->inner = 1;
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i < ax) {
            p->outer *= x->dims[i];
            od[k++] = x->dims[i];
        } else if (i == ax) {
            for (int j = 0; j < ix->ndim; j++)
                od[k++] = ix->dims[j];
        } else {
            p->inner *= x->dims[i];
            od[k++] = x->dims[i];
        }
    }
    for (int64_t i = 0; i < ix->numel; i++) {
        int64_t v = ix->dtype == DT_I64 ? ((int64_t *)ix->cdata)[i] : (int64_t)((float *)ix->cdata)[i];
        if (v < -p->axlen || v >= p->axlen)
            return node_err(n, e, "index %lld out of range", (long long)v);
        p->idx[i] = v < 0 ? v + p->axlen : v;
    }
    return et_setshape(c, n->out[0], x->dtype, r, od, e);
}

static void gather_run(enode *n, void *scratch, threadpool *tp)
{
    const gather_p *p = n->p;
    size_t b = (size_t)p->inner * p->esz;
    const char *x = (const char *)n->ip[0];
    char *y = (char *)n->opp[0];
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t i = 0; i < p->nidx; i++) {
            memcpy(y, x + ((size_t)(o * p->axlen + p->idx[i])) * b, b);
            y += b;
        }
}

/* ------------------------------------------------------------ Shape, Constant */

typedef struct {
    int n;
    int64_t v[TENSOR_MAXDIM];
} shape_p;

static int shape_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    int64_t r = x->ndim, s = gnode_attr_int(n->g, "start", 0), en = gnode_attr_int(n->g, "end", r);
    if (s < 0)
        s += r;
    if (en < 0)
        en += r;
    s = s < 0 ? 0 : s > r ? r : s;
    en = en < 0 ? 0 : en > r ? r : en;
    shape_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    for (int64_t i = s; i < en; i++)
        p->v[p->n++] = x->dims[i];
    int64_t d = p->n;
    return et_setshape(c, n->out[0], DT_I64, 1, &d, e);
}

static void shape_run(enode *n, void *scratch, threadpool *tp)
{
    const shape_p *p = n->p;
    memcpy(n->opp[0], p->v, sizeof(int64_t) * (size_t)p->n);
}

typedef struct {
    size_t nbytes;
    unsigned char data[];
} const_p;

static int constant_infer(ectx *c, enode *n, err_t *e)
{
    const gattr *a;
    int64_t d;
    if (n->nin != 0 || n->nout < 1 || n->out[0] < 0)
        return node_err(n, e, "expected no input and one output");
    const_p *p = NULL;
    if ((a = gnode_attr(n->g, "value"))) {
        if (a->type != ATTR_TENSOR || a->tensor < 0 || a->tensor >= c->ntensors || !c->t[a->tensor].cdata)
            return node_err(n, e, "attribute 'value' is not a tensor");
        const etensor *v = &c->t[a->tensor];
        size_t nb = (size_t)v->numel * esize(v);
        p = malloc(sizeof *p + nb + 8);
        if (!p)
            return node_err(n, e, "out of memory");
        p->nbytes = nb;
        memcpy(p->data, v->cdata, nb);
        n->p = p;
        return et_setshape(c, n->out[0], v->dtype, v->ndim, v->dims, e);
    }
    if ((a = gnode_attr(n->g, "value_float")) || (a = gnode_attr(n->g, "value_floats"))) {
        int cnt = a->type == ATTR_FLOAT ? 1 : a->n;
        if (a->type != ATTR_FLOAT && a->type != ATTR_FLOATS)
            return node_err(n, e, "bad value_float(s)");
        p = malloc(sizeof *p + 4 * (size_t)cnt + 8);
        if (!p)
            return node_err(n, e, "out of memory");
        p->nbytes = 4 * (size_t)cnt;
        if (a->type == ATTR_FLOAT)
            memcpy(p->data, &a->f, 4);
        else if (cnt)
            memcpy(p->data, a->floats, 4 * (size_t)cnt);
        n->p = p;
        d = cnt;
        return et_setshape(c, n->out[0], DT_F32, a->type == ATTR_FLOAT ? 0 : 1, &d, e);
    }
    if ((a = gnode_attr(n->g, "value_int")) || (a = gnode_attr(n->g, "value_ints"))) {
        int cnt = a->type == ATTR_INT ? 1 : a->n;
        if (a->type != ATTR_INT && a->type != ATTR_INTS)
            return node_err(n, e, "bad value_int(s)");
        p = malloc(sizeof *p + 8 * (size_t)cnt + 8);
        if (!p)
            return node_err(n, e, "out of memory");
        p->nbytes = 8 * (size_t)cnt;
        if (a->type == ATTR_INT)
            memcpy(p->data, &a->i, 8);
        else if (cnt)
            memcpy(p->data, a->ints, 8 * (size_t)cnt);
        n->p = p;
        d = cnt;
        return et_setshape(c, n->out[0], DT_I64, a->type == ATTR_INT ? 0 : 1, &d, e);
    }
    return node_err(n, e, "no supported value attribute (value, value_float(s), value_int(s))");
}

static void constant_run(enode *n, void *scratch, threadpool *tp)
{
    const const_p *p = n->p;
    memcpy(n->opp[0], p->data, p->nbytes);
}

/* ------------------------------------------------------------ ReduceMean */

enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD };

typedef struct {
    int kind;
    int contiguous;
    int64_t outer, len, inner;       /* contiguous case */
    int nd;                          /* general case */
    int64_t dims[TENSOR_MAXDIM], ost[TENSOR_MAXDIM];
    int64_t count, ocount;
    float scale;
} reduce_p;

static int reduce_infer(ectx *c, enode *n, err_t *e)
{
    int64_t axes[TENSOR_MAXDIM], od[TENSOR_MAXDIM];
    int na, red[TENSOR_MAXDIM] = {0};
    if (need_inputs(n, 1, 2, e) < 0 || need_f32(n, 0, e) < 0 || get_axes(c, n, axes, &na, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    int keep = (int)gnode_attr_int(n->g, "keepdims", 1);
    int noop = (int)gnode_attr_int(n->g, "noop_with_empty_axes", 0);
    if (na <= 0) {
        for (int i = 0; i < x->ndim; i++)
            red[i] = !noop;
    } else
        for (int i = 0; i < na; i++) {
            int64_t a;
            if (norm_axis(axes[i], x->ndim, &a) < 0)
                return node_err(n, e, "axis %lld out of range", (long long)axes[i]);
            red[a] = 1;
        }
    reduce_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    const char *op = n->g->op;
    p->kind = !strcmp(op, "ReduceSum") ? R_SUM : !strcmp(op, "ReduceMax") ? R_MAX
            : !strcmp(op, "ReduceMin") ? R_MIN : !strcmp(op, "ReduceProd") ? R_PROD : R_MEAN;
    int k = 0, first = -1, last = -1;
    int64_t rlen = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (red[i]) {
            rlen *= x->dims[i];
            if (first < 0)
                first = i;
            last = i;
            if (keep)
                od[k++] = 1;
        } else
            od[k++] = x->dims[i];
    }
    if (et_setshape(c, n->out[0], DT_F32, k, od, e) < 0)
        return -1;
    p->count = x->numel;
    p->ocount = OUT(n, 0)->numel;
    p->scale = p->kind != R_MEAN ? 1.0f : rlen ? 1.0f / (float)rlen : NAN;
    p->contiguous = 1;
    for (int i = first; i >= 0 && i <= last; i++)
        if (!red[i])
            p->contiguous = 0;
    p->outer = p->len = p->inner = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (first < 0 || i < first)
            p->outer *= x->dims[i];
        else if (i <= last)
            p->len *= x->dims[i];
        else
            p->inner *= x->dims[i];
    }
    /* general: output stride of each input dim (0 when reduced) */
    int64_t s = 1;
    p->nd = x->ndim;
    for (int i = x->ndim - 1; i >= 0; i--) {
        p->dims[i] = x->dims[i];
        p->ost[i] = red[i] ? 0 : s;
        if (!red[i])
            s *= x->dims[i];
    }
    return 0;
}

static double reduce_init(int kind)
{
    return kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : kind == R_PROD ? 1 : 0;
}

static inline double reduce_step(int kind, double acc, float v)
{
    switch (kind) {
    case R_MAX: return v > acc || v != v ? v : acc;
    case R_MIN: return v < acc || v != v ? v : acc;
    case R_PROD: return acc * v;
    default: return acc + v;
    }
}

static void reduce_run(enode *n, void *scratch, threadpool *tp)
{
    const reduce_p *p = n->p;
    const float *x = n->ip[0];
    float *y = n->opp[0];
    const int kind = p->kind;
    if (p->contiguous) {
        for (int64_t o = 0; o < p->outer; o++)
            for (int64_t in = 0; in < p->inner; in++) {
                double s = reduce_init(kind);
                const float *xp = x + o * p->len * p->inner + in;
                for (int64_t j = 0; j < p->len; j++)
                    s = reduce_step(kind, s, xp[j * p->inner]);
                y[o * p->inner + in] = kind == R_MEAN ? (float)(s * p->scale) : (float)s;
            }
        return;
    }
    /* accumulate in the output, then scale */
    int64_t idx[TENSOR_MAXDIM] = {0}, off = 0;
    for (int64_t i = 0; i < p->ocount; i++)
        y[i] = (float)reduce_init(kind);
    for (int64_t i = 0; i < p->count; i++) {
        y[off] = (float)reduce_step(kind, y[off], x[i]);
        for (int d = p->nd - 1; d >= 0; d--) {
            idx[d]++;
            off += p->ost[d];
            if (idx[d] < p->dims[d])
                break;
            off -= p->ost[d] * idx[d];
            idx[d] = 0;
        }
    }
    if (kind == R_MEAN)
        for (int64_t i = 0; i < p->ocount; i++)
            y[i] *= p->scale;
}

/* ------------------------------------------------------------ Pad */

enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT };

typedef struct {
    int nd, mode;
    float value;
    int64_t idims[TENSOR_MAXDIM], odims[TENSOR_MAXDIM], before[TENSOR_MAXDIM];
    int64_t count;
} pad_p;

static int pad_infer(ectx *c, enode *n, err_t *e)
{
    int64_t pads[2 * TENSOR_MAXDIM], od[TENSOR_MAXDIM];
    int np;
    if (need_inputs(n, 1, 3, e) < 0 || need_f32(n, 0, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (n->nin >= 2 && n->in[1] >= 0) {
        if (et_const_ints(c, n->in[1], pads, 2 * TENSOR_MAXDIM, &np, e) < 0)
            return node_err(n, e, "pads must be a constant");
    } else if ((np = attr_ints(n->g, "pads", pads, 2 * TENSOR_MAXDIM)) < 0)
        return node_err(n, e, "pads missing");
    if (np != 2 * x->ndim)
        return node_err(n, e, "%d pads for rank %d", np, x->ndim);
    pad_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    const char *mode = gnode_attr_str(n->g, "mode", "constant");
    p->mode = !strcmp(mode, "edge") ? PAD_EDGE : !strcmp(mode, "reflect") ? PAD_REFLECT : PAD_CONSTANT;
    if (p->mode == PAD_CONSTANT && strcmp(mode, "constant"))
        return node_err(n, e, "unsupported mode '%s'", mode);
    p->value = gnode_attr_float(n->g, "value", 0.0f);
    if (n->nin >= 3 && n->in[2] >= 0 && et_const_float(c, n->in[2], &p->value, e) < 0)
        return node_err(n, e, "constant_value must be a constant scalar");
    p->nd = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        int64_t b = pads[i], a = pads[x->ndim + i];
        if (b < 0 || a < 0 || b > ENGINE_MAX_NUMEL || a > ENGINE_MAX_NUMEL)
            return node_err(n, e, "negative or huge pads are not supported");
        if (p->mode != PAD_CONSTANT && (x->dims[i] == 0 || (p->mode == PAD_REFLECT && (b >= x->dims[i] || a >= x->dims[i]))))
            return node_err(n, e, "pads too large for %s mode", mode);
        od[i] = x->dims[i] + b + a;
        p->idims[i] = x->dims[i];
        p->before[i] = b;
        p->odims[i] = od[i];
    }
    if (et_setshape(c, n->out[0], DT_F32, x->ndim, od, e) < 0)
        return -1;
    p->count = OUT(n, 0)->numel;
    return 0;
}

static void pad_run(enode *n, void *scratch, threadpool *tp)
{
    const pad_p *p = n->p;
    int64_t idx[TENSOR_MAXDIM] = {0};
    const float *x = n->ip[0];
    float *y = n->opp[0];
    for (int64_t o = 0; o < p->count; o++) {
        int64_t off = 0, inside = 1;
        for (int d = 0; d < p->nd; d++) {
            int64_t i = idx[d] - p->before[d], len = p->idims[d];
            if (i < 0 || i >= len) {
                if (p->mode == PAD_CONSTANT)
                    inside = 0;
                else if (p->mode == PAD_EDGE)
                    i = i < 0 ? 0 : len - 1;
                else
                    i = i < 0 ? -i : 2 * (len - 1) - i;
            }
            off = off * len + i;
        }
        y[o] = inside ? x[off] : p->value;
        for (int d = p->nd - 1; d >= 0; d--) {
            if (++idx[d] < p->odims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* ------------------------------------------------------------ Slice */

typedef struct {
    int nd;
    size_t esz;
    int64_t dims[TENSOR_MAXDIM];    /* output dims */
    int64_t st[TENSOR_MAXDIM];      /* input element step per output dim */
    int64_t off, count;
} slice_p;

static int slice_infer(ectx *c, enode *n, err_t *e)
{
    int64_t st[TENSOR_MAXDIM], en[TENSOR_MAXDIM], ax[TENSOR_MAXDIM], sp[TENSOR_MAXDIM];
    int ns, ne, na = -1, nsp = -1;
    if (need_inputs(n, 1, 5, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    if (n->nin >= 3) {
        if (n->in[1] < 0 || n->in[2] < 0 || et_const_ints(c, n->in[1], st, TENSOR_MAXDIM, &ns, e) < 0 ||
            et_const_ints(c, n->in[2], en, TENSOR_MAXDIM, &ne, e) < 0)
            return node_err(n, e, "starts and ends must be constants");
        if (n->nin >= 4 && n->in[3] >= 0 && et_const_ints(c, n->in[3], ax, TENSOR_MAXDIM, &na, e) < 0)
            return node_err(n, e, "axes must be a constant");
        if (n->nin >= 5 && n->in[4] >= 0 && et_const_ints(c, n->in[4], sp, TENSOR_MAXDIM, &nsp, e) < 0)
            return node_err(n, e, "steps must be a constant");
    } else {
        ns = attr_ints(n->g, "starts", st, TENSOR_MAXDIM);
        ne = attr_ints(n->g, "ends", en, TENSOR_MAXDIM);
        na = attr_ints(n->g, "axes", ax, TENSOR_MAXDIM);
        if (ns < 0 || ne < 0 || na == -2)
            return node_err(n, e, "starts and ends missing");
    }
    if (ns != ne || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return node_err(n, e, "starts, ends, axes and steps differ in length");
    int64_t b[TENSOR_MAXDIM], step[TENSOR_MAXDIM], od[TENSOR_MAXDIM], ist[TENSOR_MAXDIM];
    int seen[TENSOR_MAXDIM] = {0};
    for (int i = 0; i < x->ndim; i++) {
        b[i] = 0;
        step[i] = 1;
        od[i] = x->dims[i];
    }
    for (int i = 0; i < ns; i++) {
        int64_t a = i;
        if (na >= 0 && norm_axis(ax[i], x->ndim, &a) < 0)
            return node_err(n, e, "axis %lld out of range", (long long)ax[i]);
        if (a >= x->ndim || seen[a])
            return node_err(n, e, "axis repeated or out of range");
        seen[a] = 1;
        int64_t d = x->dims[a], s0 = st[i], e0 = en[i], k = nsp >= 0 ? sp[i] : 1;
        if (k == 0 || k == INT64_MIN)
            return node_err(n, e, "step 0");
        if (s0 < 0)
            s0 = s0 < -d ? 0 : s0 + d;
        if (e0 < 0)
            e0 = e0 < -d ? -1 : e0 + d;
        if (k > 0) {
            s0 = s0 > d ? d : s0;
            e0 = e0 < 0 ? 0 : e0 > d ? d : e0;
            od[a] = e0 > s0 ? (e0 - s0 + k - 1) / k : 0;
        } else {
            s0 = s0 > d - 1 ? d - 1 : s0;
            e0 = e0 > d - 1 ? d - 1 : e0;
            od[a] = s0 > e0 ? (s0 - e0 + (-k) - 1) / (-k) : 0;
        }
        b[a] = s0;
        step[a] = k;
    }
    slice_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->esz = esize(x);
    int64_t sz = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        ist[i] = sz;
        sz *= x->dims[i];
    }
    p->nd = x->ndim > 0 ? x->ndim : 1;
    p->dims[0] = 1;
    p->st[0] = 0;
    for (int i = 0; i < x->ndim; i++) {
        p->dims[i] = od[i];
        p->st[i] = step[i] * ist[i];
        if (od[i] > 0)
            p->off += b[i] * ist[i];
    }
    if (et_setshape(c, n->out[0], x->dtype, x->ndim, od, e) < 0)
        return -1;
    p->count = OUT(n, 0)->numel;
    return 0;
}

static void slice_run(enode *n, void *scratch, threadpool *tp)
{
    const slice_p *p = n->p;
    int64_t idx[TENSOR_MAXDIM] = {0}, off = p->off;
    const char *x = (const char *)n->ip[0];
    char *y = (char *)n->opp[0];
    for (int64_t o = 0; o < p->count; o++) {
        memcpy(y + (size_t)o * p->esz, x + (size_t)off * p->esz, p->esz);
        for (int d = p->nd - 1; d >= 0; d--) {
            idx[d]++;
            off += p->st[d];
            if (idx[d] < p->dims[d])
                break;
            off -= p->st[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* ------------------------------------------------------------ Cast */

typedef struct {
    int64_t count;
    int from_i64, to_i64, to_f16;
} cast_p;

static int cast_infer(ectx *c, enode *n, err_t *e)
{
    if (need_inputs(n, 1, 1, e) < 0)
        return -1;
    const etensor *x = IN(n, 0);
    int64_t to = gnode_attr_int(n->g, "to", 0);
    /* ONNX TensorProto types: 1 float, 10 float16, 11 double; integer and
     * bool types become int64 (plan-time values only) */
    int isf = to == 1 || to == 10 || to == 11;
    int isi = (to >= 2 && to <= 7) || to == 9 || to == 12 || to == 13;
    if (!isf && !isi)
        return node_err(n, e, "unsupported target type %lld", (long long)to);
    cast_p *p = calloc(1, sizeof *p);
    if (!p)
        return node_err(n, e, "out of memory");
    n->p = p;
    p->count = x->numel;
    p->from_i64 = x->dtype == DT_I64;
    p->to_i64 = isi;
    p->to_f16 = to == 10;
    return et_setshape(c, n->out[0], isi ? DT_I64 : DT_F32, x->ndim, x->dims, e);
}

static void cast_run(enode *n, void *scratch, threadpool *tp)
{
    const cast_p *p = n->p;
    const void *x = n->ip[0];
    void *y = n->opp[0];
    for (int64_t i = 0; i < p->count; i++) {
        double v = p->from_i64 ? (double)((const int64_t *)x)[i] : ((const float *)x)[i];
        if (p->to_i64)
            ((int64_t *)y)[i] = v != v ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
        else
            ((float *)y)[i] = p->to_f16 ? f16_to_f32(f32_to_f16((float)v)) : (float)v;
    }
}

/* ------------------------------------------------------------ table */

/* ops_nn.c */
extern const opdef op_conv, op_batchnorm, op_gemm, op_matmul, op_maxpool, op_avgpool,
    op_gap, op_gmp, op_lrn;

static const opdef op_table[] = {
    {"Relu", relu_infer, NULL, unary_run, NULL, NULL, 0},
    {"Clip", clip_infer, NULL, unary_run, NULL, NULL, 0},
    {"Sigmoid", sigmoid_infer, NULL, unary_run, NULL, NULL, 0},
    {"Tanh", tanh_infer, NULL, unary_run, NULL, NULL, 0},
    {"LeakyRelu", leaky_infer, NULL, unary_run, NULL, NULL, 0},
    {"Identity", identity_infer, NULL, unary_run, NULL, NULL, 1},
    {"Dropout", identity_infer, NULL, unary_run, NULL, NULL, 1},
    {"Reshape", reshape_infer, NULL, unary_run, NULL, NULL, 1},
    {"Flatten", flatten_infer, NULL, unary_run, NULL, NULL, 1},
    {"Squeeze", squeeze_infer, NULL, unary_run, NULL, NULL, 1},
    {"Unsqueeze", unsqueeze_infer, NULL, unary_run, NULL, NULL, 1},
    {"Add", add_infer, binary_prepare, binary_run, NULL, NULL, 0},
    {"Sub", sub_infer, NULL, binary_run, NULL, NULL, 0},
    {"Mul", mul_infer, NULL, binary_run, NULL, NULL, 0},
    {"Div", div_infer, NULL, binary_run, NULL, NULL, 0},
    {"Softmax", softmax_infer, NULL, softmax_run, NULL, NULL, 0},
    {"LogSoftmax", softmax_infer, NULL, softmax_run, NULL, NULL, 0},
    {"Concat", concat_infer, NULL, concat_run, NULL, NULL, 0},
    {"Transpose", transpose_infer, NULL, transpose_run, NULL, NULL, 0},
    {"Gather", gather_infer, NULL, gather_run, NULL, NULL, 0},
    {"Shape", shape_infer, NULL, shape_run, NULL, NULL, 0},
    {"Constant", constant_infer, NULL, constant_run, NULL, NULL, 0},
    {"ReduceMean", reduce_infer, NULL, reduce_run, NULL, NULL, 0},
    {"ReduceSum", reduce_infer, NULL, reduce_run, NULL, NULL, 0},
    {"ReduceMax", reduce_infer, NULL, reduce_run, NULL, NULL, 0},
    {"ReduceMin", reduce_infer, NULL, reduce_run, NULL, NULL, 0},
    {"ReduceProd", reduce_infer, NULL, reduce_run, NULL, NULL, 0},
    {"Max", maxmin_infer, NULL, maxmin_run, NULL, NULL, 0},
    {"Min", maxmin_infer, NULL, maxmin_run, NULL, NULL, 0},
    {"HardSwish", hardswish_infer, NULL, unary_run, NULL, NULL, 0},
    {"HardSigmoid", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Exp", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Log", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Sqrt", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Neg", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Abs", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"Elu", elementwise_infer, NULL, unary_run, NULL, NULL, 0},
    {"PRelu", prelu_infer, NULL, binary_run, NULL, NULL, 0},
    {"Pad", pad_infer, NULL, pad_run, NULL, NULL, 0},
    {"Slice", slice_infer, NULL, slice_run, NULL, NULL, 0},
    {"Cast", cast_infer, NULL, cast_run, NULL, NULL, 0},
};

const opdef *op_find(const char *name, const char *domain)
{
    static const opdef *const nn[] = {&op_conv, &op_batchnorm, &op_gemm, &op_matmul, &op_maxpool,
                                      &op_avgpool, &op_gap, &op_gmp, &op_lrn};
    if (domain && *domain && strcmp(domain, "ai.onnx"))
        return NULL;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (!strcmp(op_table[i].name, name))
            return &op_table[i];
    for (size_t i = 0; i < sizeof nn / sizeof nn[0]; i++)
        if (!strcmp(nn[i]->name, name))
            return nn[i];
    return NULL;
}
