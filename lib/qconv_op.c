/* qconv_op.c - when a Conv node of a quantised model runs on the integer
 * kernels of qconv.c (kern_q.h), and their parameters from the model.
 *
 * A Conv qualifies when its input and output are activations on one
 * uint8/int8 grid each (per tensor), its weights are stored uint8/int8 in
 * the model (per tensor or per output channel), its bias (if any) is
 * stored int32, no BatchNormalization was folded into it, and its fused
 * activation is none, Relu or Clip.  The integers are read from the model
 * itself (the engine's copies are dequantised floats).  Anything else, or
 * values the integer kernels cannot take, keeps the float path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine_int.h"
#include "kern_q.h"
#include "kmem.h"

static int is_q8(const etensor *t)
{
    return t->nq == 1 && ((t->qmin == 0 && t->qmax == 255) || (t->qmin == -128 && t->qmax == 127));
}

/* Output clamp: the stored range narrowed by the activation, in q. */
static void act_range(const enode *n, const etensor *y, int *lo, int *hi)
{
    double s = y->qscale[0], zp = y->qzp[0];
    double l = y->qmin, h = y->qmax;
    if (n->act == EACT_RELU) {
        if (zp > l) l = zp;
    } else if (n->act == EACT_CLIP) {
        double a = (double)n->amin / s, b = (double)n->amax / s;
        if (a > -1e6 && nearbyint(a) + zp > l) l = nearbyint(a) + zp;
        if (b < 1e6 && nearbyint(b) + zp < h) h = nearbyint(b) + zp;
        if (h < l) h = l;
    }
    *lo = (int)l;
    *hi = (int)h;
}

int qconv_node_prepare(ectx *c, enode *n, const conv_params *cp, int folded_bn,
                       qconv_kernel **out, err_t *e)
{
    *out = NULL;
    if (folded_bn || !c->g || n->nin < 2 || n->in[0] < 0 || n->in[1] < 0)
        return 0;
    if (n->act != EACT_NONE && n->act != EACT_RELU && n->act != EACT_CLIP)
        return 0;
    const etensor *x = IN(n, 0), *y = OUT(n, 0);
    if (!is_q8(x) || !is_q8(y) || n->in[1] >= c->g->ntensors)
        return 0;
    const gtensor *gw = &c->g->tensors[n->in[1]];
    const gtensor *gb = n->nin > 2 && n->in[2] >= 0 && n->in[2] < c->g->ntensors
                            ? &c->g->tensors[n->in[2]] : NULL;
    if (n->nin > 2 && n->in[2] >= 0 && !gb)
        return 0;
    int M = cp->cout;
    size_t wn = (size_t)M * (size_t)(cp->cin / cp->group) * (size_t)cp->kh * (size_t)cp->kw;
    if ((gw->dtype != DT_U8 && gw->dtype != DT_I8) || !gw->data || gw->nbytes != wn ||
        gw->nq < 1 || !gw->scale || !gw->zero_point ||
        (gw->nq > 1 && (gw->nq != M || gw->qaxis != 0)))
        return 0;
    if (gb && (gb->dtype != DT_I32 || !gb->data || gb->nbytes != (size_t)M * 4))
        return 0;

    qconv_params qp;
    memset(&qp, 0, sizeof qp);
    qp.p = *cp;
    qp.p.act = ACT_NONE;
    /* left reading the stored bytes (the model outlives the engine then) */
    qp.p.lazy = c->lazy_pack && !c->reference;
    qp.in_scale = x->qscale[0];
    qp.in_zp = (int)x->qzp[0];
    qp.in_lo = (int)x->qmin;
    qp.in_hi = (int)x->qmax;
    qp.out_scale = y->qscale[0];
    qp.out_zp = (int)y->qzp[0];
    act_range(n, y, &qp.out_lo, &qp.out_hi);

    /* the stored bytes are read in place, a row at a time (no widened
     * copy of the layer); replaying the packed-weight cache, not at all */
    int replay = kmem_replaying();
    int32_t *wzp = malloc(sizeof(int32_t) * (size_t)M);
    float *ws = malloc(sizeof(float) * (size_t)M);
    int32_t *bias = gb ? malloc(sizeof(int32_t) * (size_t)M) : NULL;
    if (!wzp || !ws || (gb && !bias)) {
        free(wzp), free(ws), free(bias);
        return node_err(n, e, "out of memory");
    }
    for (int m = 0; m < M; m++) {
        int ch = gw->nq > 1 ? m : 0;
        wzp[m] = gw->zero_point[ch];
        ws[m] = gw->scale[ch];
    }
    if (gb)
        memcpy(bias, gb->data, sizeof(int32_t) * (size_t)M);
    err_t qe;
    *out = qconv_prepare_bytes(&qp, replay ? NULL : gw->data, gw->dtype == DT_I8, wzp, ws, bias,
                               c->reference, &qe);
    if (!replay && !qconv_is_lazy(*out))
        graph_drop_tensor(c->g, n->in[1]);
    free(wzp), free(ws), free(bias);
    /* values the integer kernels do not take: the float path */
    return *out ? 1 : 0;
}

/* Tensors kept as uint8 between the integer kernels: a quarter of the
 * memory traffic of floats.  Conditions (all): one producer in the run
 * list that can write uint8 (qio), a uint8 grid (0..255), every reader
 * can read uint8, and none of: requested, the input, a constant, memory
 * shared with another tensor (aliases, Concat slices). */
void quant_choose_u8(ectx *c, const int *run, int nrun)
{
    if (c->reference)
        return;
    unsigned char *ok = calloc((size_t)c->ntensors + 1, 1);
    if (!ok)
        return;                 /* floats everywhere: still correct */
    for (int r = 0; r < nrun; r++) {
        const enode *n = &c->n[run[r]];
        int t = n->nout > 0 ? n->out[0] : -1;
        if (t >= 0 && (n->qio & QIO_WRITE) && n->quant_in_kernel)
            ok[t] = 1;
    }
    for (int i = 0; i < c->ntensors; i++) {
        const etensor *t = &c->t[i];
        if (!ok[i])
            continue;
        if (t->requested || t->is_input || t->cdata || t->alias >= 0 || t->nq != 1 ||
            t->qmin != 0 || t->qmax != 255)
            ok[i] = 0;
    }
    for (int i = 0; i < c->ntensors; i++)
        if (c->t[i].alias >= 0)
            ok[c->t[i].alias] = 0;
    for (int r = 0; r < nrun; r++) {
        const enode *n = &c->n[run[r]];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && !(n->qio & QIO_READ))
                ok[n->in[k]] = 0;
        for (int k = 1; k < n->nout; k++)
            if (n->out[k] >= 0)
                ok[n->out[k]] = 0;
    }
    for (int i = 0; i < c->ntensors; i++)
        c->t[i].qstore = ok[i];
    free(ok);
}
