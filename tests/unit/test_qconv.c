/* test_qconv.c - the integer convolution kernels (kern_q.h) against the
 * plain reference (lib/ref/qconv.c) on random shapes, zero points, scales
 * and weight types, at every SIMD level this CPU has and at 1-3 threads.
 * Integer sums are exact, so the outputs must be equal bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "kern_q.h"
#include "threadpool.h"

static unsigned rng = 12345;
static int n_in8, n_out8;      /* cases run with uint8 input / output */
static int n_lazy_gemm, n_lazy_dw;  /* cases whose kernel took p.lazy */
static int rnd(int lo, int hi)   /* inclusive */
{
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 8) % (unsigned)(hi - lo + 1));
}
static float rndf(float lo, float hi)
{
    return lo + (hi - lo) * (float)rnd(0, 1 << 20) / (float)(1 << 20);
}

typedef struct {
    int cin, h, w, cout, k, s, pad, dw, group;
} shape;

/* Runs k on in into o (n outputs) and counts the outputs that differ from
 * want bit for bit (a diagnostic naming what when any do). */
static int diffs_of(const qconv_kernel *k, const float *in, const float *want, float *o, size_t n,
                    int nthreads, threadpool *tp, const char *what)
{
    void *scr = aligned_alloc(64, (qconv_scratch_bytes(k, nthreads) + 63) & ~(size_t)63);
    for (size_t i = 0; i < n; i++) o[i] = NAN;
    qconv_run(k, in, o, scr, tp);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += memcmp(&want[i], &o[i], 4) != 0;
    if (bad)
        tap_diag("%s: %d differences", what, bad);
    free(scr);
    return bad;
}

/* One case: builds params, weights and an input on the grid, runs the
 * reference and the fast kernel, returns the number of differing outputs
 * (-1: the kernel refused the case). */
static int run_case(const shape *sh, int wsigned, int perch, int insigned, int act, int nthreads,
                    const char **impl)
{
    qconv_params qp;
    memset(&qp, 0, sizeof qp);
    conv_params *p = &qp.p;
    p->cin = sh->cin; p->h = sh->h; p->w = sh->w; p->cout = sh->cout;
    p->kh = p->kw = sh->k; p->sh = p->sw = sh->s; p->dh = p->dw = sh->dw;
    p->pt = p->pl = p->pb = p->pr = sh->pad; p->group = sh->group;
    p->oh = (p->h + 2 * sh->pad - (sh->k - 1) * sh->dw - 1) / sh->s + 1;
    p->ow = (p->w + 2 * sh->pad - (sh->k - 1) * sh->dw - 1) / sh->s + 1;
    qp.in_scale = rndf(0.005f, 0.1f);
    qp.in_lo = insigned ? -128 : 0;
    qp.in_hi = insigned ? 127 : 255;
    qp.in_zp = rnd(qp.in_lo, qp.in_hi);
    qp.out_scale = rndf(0.01f, 0.3f);
    qp.out_lo = insigned ? -128 : 0;
    qp.out_hi = insigned ? 127 : 255;
    qp.out_zp = rnd(qp.out_lo, qp.out_hi);
    if (act == 1) qp.out_lo = qp.out_zp;                       /* Relu */
    if (act == 2) {                                            /* Relu6-like */
        int top = qp.out_zp + rnd(1, 100);
        qp.out_lo = qp.out_zp;
        qp.out_hi = top < qp.out_hi ? top : qp.out_hi;
    }
    int cig = p->cin / p->group;
    size_t wn = (size_t)p->cout * cig * p->kh * p->kw;
    size_t in_n = (size_t)p->cin * p->h * p->w, out_n = (size_t)p->cout * p->oh * p->ow;
    int16_t *wq = malloc(wn * sizeof *wq);
    int32_t *wzp = malloc((size_t)p->cout * sizeof *wzp), *bias = malloc((size_t)p->cout * 4);
    float *ws = malloc((size_t)p->cout * sizeof *ws);
    float *in = malloc(in_n * sizeof *in), *o1 = malloc(out_n * 4), *o2 = malloc(out_n * 4);
    int wz0 = wsigned ? rnd(-10, 10) : rnd(90, 170);
    float wsc = rndf(0.002f, 0.05f);
    for (int m = 0; m < p->cout; m++) {
        wzp[m] = perch ? (wsigned ? 0 : rnd(60, 200)) : wz0;
        ws[m] = perch ? rndf(0.002f, 0.05f) : wsc;
        bias[m] = rnd(-20000, 20000);
    }
    /* every third row close to its zero point (stored as w - zw), the
     * others over the whole range (stored with an offset) */
    size_t per = wn / (size_t)p->cout;
    for (size_t i = 0; i < wn; i++) {
        int m = (int)(i / per), lo = wsigned ? -128 : 0, hi = wsigned ? 127 : 255;
        int v = m % 3 == 0 ? wzp[m] + rnd(-100, 100) : rnd(lo, hi);
        wq[i] = (int16_t)(v < lo ? lo : v > hi ? hi : v);
    }
    unsigned char *in8 = malloc(in_n), *out8 = malloc(out_n);
    for (size_t i = 0; i < in_n; i++) {
        int q = rnd(qp.in_lo, qp.in_hi);
        in8[i] = (unsigned char)q;
        in[i] = qp.in_scale * (float)(q - qp.in_zp);
    }
    ref_qconv(&qp, wq, wzp, ws, bias, in, o1);
    err_t e;
    qconv_kernel *k = qconv_prepare(&qp, wq, wzp, ws, bias, 0, &e);
    int bad = -1;
    if (k) {
        *impl = qconv_impl_name(k);
        void *scr = aligned_alloc(64, (qconv_scratch_bytes(k, nthreads) + 63) & ~(size_t)63);
        threadpool *tp = nthreads > 1 ? tp_create(nthreads) : NULL;
        for (size_t i = 0; i < out_n; i++) o2[i] = NAN;
        qconv_run(k, in, o2, scr, tp);
        bad = 0;
        for (size_t i = 0; i < out_n; i++)
            if (memcmp(&o1[i], &o2[i], 4)) {
                if (!bad)
                    tap_diag("first difference at %zu: ref %g, kernel %g", i, o1[i], o2[i]);
                bad++;
            }
        /* held as uint8: the same integers */
        int io = qconv_io_u8(k);
        if (io) {
            n_in8 += (io & QCONV_READS_U8) != 0;
            n_out8 += (io & QCONV_WRITES_U8) != 0;
            memset(out8, 0, out_n);
            qconv_run_io(k, in, io & QCONV_READS_U8 ? in8 : NULL, o2,
                         io & QCONV_WRITES_U8 ? out8 : NULL, scr, tp);
            int bad8 = 0;
            for (size_t i = 0; i < out_n; i++) {
                float r = io & QCONV_WRITES_U8
                              ? qp.out_scale * (float)((int)out8[i] - qp.out_zp) : o2[i];
                bad8 += memcmp(&r, &o1[i], 4) != 0 && !(r == 0 && o1[i] == 0);
            }
            if (bad8)
                tap_diag("uint8 i/o (%d): %d differences", io, bad8);
            bad += bad8;
        }
        /* the same weights read as the model stores them, one byte each
         * (uint8 or int8), by the kernel and by the reference path */
        unsigned char *wb = malloc(wn + 1);
        for (size_t i = 0; i < wn; i++)
            wb[i + 1] = (unsigned char)wq[i];
        for (int r = 0; r < 2; r++) {
            qconv_kernel *kb = qconv_prepare_bytes(&qp, wb + 1, wsigned, wzp, ws, bias, r, &e);
            if (!kb) {
                tap_diag("stored bytes refused: %s", e.msg);
                bad++;
                continue;
            }
            bad += diffs_of(kb, in, o1, o2, out_n, nthreads, tp,
                            r ? "from stored bytes (reference)" : "from stored bytes (kernel)");
            qconv_free(kb);
        }
        /* left reading the stored bytes (p.lazy): the panels packed per
         * run give the same outputs, and so does the kernel packed later */
        {
            qconv_params ql = qp;
            ql.p.lazy = 1;
            qconv_kernel *kl = qconv_prepare_bytes(&ql, wb + 1, wsigned, wzp, ws, bias, 0, &e);
            qconv_kernel *kp = kl && qconv_is_lazy(kl) ? qconv_pack_lazy(kl, &e) : NULL;
            if (qconv_is_lazy(kl)) {
                if (!strcmp(qconv_impl_name(kl), "qdw"))
                    n_lazy_dw++;
                else
                    n_lazy_gemm++;
            }
            for (int pass = 0; kl && pass < 2; pass++) {
                const qconv_kernel *kr = pass ? kp : kl;
                if (!kr) {
                    if (qconv_is_lazy(kl)) {
                        tap_diag("qconv_pack_lazy failed: %s", e.msg);
                        bad++;
                    }
                    continue;
                }
                bad += diffs_of(kr, in, o1, o2, out_n, nthreads, tp,
                                pass ? "lazy, packed later" : "lazy, per run");
            }
            if (!kl) {
                tap_diag("lazy refused: %s", e.msg);
                bad++;
            }
            qconv_free(kl);
            qconv_free(kp);
        }
        free(wb);
        if (tp) tp_free(tp);
        free(scr);
        qconv_free(k);
    } else {
        tap_diag("refused: %s", e.msg);
    }
    free(wq), free(wzp), free(bias), free(ws), free(in), free(o1), free(o2), free(in8), free(out8);
    return bad;
}

int main(void)
{
    static const shape shapes[] = {
        /* cin h w cout k s pad dil group */
        {16, 8, 8, 24, 1, 1, 0, 1, 1},        /* 1x1, direct */
        {37, 7, 7, 53, 1, 1, 0, 1, 1},        /* odd K and M, 49 pixels */
        {3, 17, 19, 32, 3, 2, 1, 1, 1},       /* first layer: im2col, K = 27 */
        {8, 9, 9, 5, 3, 1, 1, 2, 1},          /* dilation */
        {3, 10, 40, 8, 3, 1, 1, 1, 1},        /* panels inside one output row and across */
        {4, 5, 64, 8, 3, 2, 1, 1, 1},         /* two panels per output row, stride 2 */
        {64, 1, 1, 33, 1, 1, 0, 1, 1},        /* one pixel (a classifier) */
        {5, 6, 11, 7, 2, 2, 0, 1, 1},         /* even kernel, no pad */
        {24, 12, 12, 24, 3, 1, 1, 1, 24},     /* depthwise s1 */
        {32, 15, 15, 32, 3, 2, 1, 1, 32},     /* depthwise s2 */
        {16, 30, 30, 16, 3, 1, 1, 1, 16},     /* depthwise, wide rows */
        {12, 7, 7, 12, 5, 1, 2, 1, 12},       /* depthwise 5x5 */
    };
    int nsh = (int)(sizeof shapes / sizeof shapes[0]);
    int top = simd_level();
    for (int lvl = top; lvl >= SIMD_PORTABLE; lvl--) {
        simd_cap(lvl);
        for (int si = 0; si < nsh; si++)
            for (int v = 0; v < 4; v++) {
                int wsigned = v & 1, perch = v >> 1, insigned = si % 3 == 2, act = (si + v) % 3;
                int nt = 1 + (si + v) % 3;
                const char *impl = "?";
                const shape *s = &shapes[si];
                int bad = run_case(s, wsigned, perch, insigned, act, nt, &impl);
                tap_ok(bad == 0,
                       "%s cap %s: %dx%dx%d -> %d, k%d s%d p%d d%d g%d, %s weights%s%s, act %d, "
                       "%d thread%s: %d differences",
                       impl, simd_name(lvl), s->cin, s->h, s->w, s->cout, s->k, s->s, s->pad, s->dw,
                       s->group, wsigned ? "int8" : "uint8", perch ? " per channel" : "",
                       insigned ? ", int8 input" : "", act, nt, nt > 1 ? "s" : "", bad);
            }
    }
    simd_cap(SIMD_AVX512);
    tap_diag("VNNI on this CPU: %s", qconv_has_vnni() ? "yes" : "no");
    tap_ok(n_in8 > 0 && n_out8 > 0, "uint8 input in %d cases, uint8 output in %d", n_in8, n_out8);
    tap_ok(n_lazy_dw > 0 && (qconv_has_vnni() ? n_lazy_gemm > 0 : n_lazy_gemm == 0),
           "weights left in place, made per run: %d depthwise cases, %d GEMM ones (VNNI only)",
           n_lazy_dw, n_lazy_gemm);

    /* what the kernels refuse (the engine keeps the float path then) */
    {
        qconv_params qp;
        memset(&qp, 0, sizeof qp);
        qp.p = (conv_params){4, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0};
        qp.in_scale = qp.out_scale = 0.1f;
        qp.in_hi = qp.out_hi = 255;
        int16_t w[8] = {0, 300, 0, 0, 0, 0, 0, 0};
        int32_t z[4] = {0, 0, 0, 0};
        float s[4] = {1, 1, 1, 1};
        err_t e;
        qconv_kernel *k = qconv_prepare(&qp, w, z, s, NULL, 0, &e);
        tap_ok(!k, "weights out of the 8-bit range refused (%s)", k ? "" : e.msg);
        qconv_free(k);
        qp.p.group = 1;
        int16_t w2[16] = {0};
        qp.in_scale = 0;
        k = qconv_prepare(&qp, w2, z, s, NULL, 0, &e);
        tap_ok(!k, "zero input scale refused (%s)", k ? "" : e.msg);
        qconv_free(k);
    }
    return tap_done();
}
