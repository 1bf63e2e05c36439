/* test_kernels.c - every fast kernel against the reference ones: convs of
 * many shapes (odd sizes, pads, strides, dilations, groups, depthwise,
 * 1x1, activations, no bias), sgemm with every transpose combination,
 * alpha, beta and bias; each SIMD level this CPU has, 1 to 3 threads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "kernels.h"
#include "threadpool.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void)     /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static int irand(int lo, int hi)   /* lo..hi inclusive */
{
    frand();
    return lo + (int)((rng >> 33) % (uint64_t)(hi - lo + 1));
}

static float *randv(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

/* max |got - want| / max(max |want|, 1e-3) */
static double relerr(const float *got, const float *want, size_t n)
{
    double mx = 1e-3, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
        double x = fabs((double)got[i] - want[i]);
        if (!(x <= d)) d = x;      /* NaN counts as an error */
    }
    return d / mx;
}

static void set_out(conv_params *p)
{
    p->oh = (p->h + p->pt + p->pb - (p->kh - 1) * p->dh - 1) / p->sh + 1;
    p->ow = (p->w + p->pl + p->pr - (p->kw - 1) * p->dw - 1) / p->sw + 1;
}

static threadpool *pools[4];
static int levels[3], nlevels;

static const char *act_name(int a)
{
    return a == ACT_RELU ? "relu" : a == ACT_CLIP ? "clip" : "none";
}

/* The weights packed from a model's bytes in place (conv_prepare_src: at
 * an odd address, each row times a scale) give, bit for bit, what
 * conv_prepare gives of the rows scaled beforehand (reference = 1: the
 * reference kernel's copy). */
static int same_from_src(const conv_params *p, const float *w, const float *b, const float *in,
                         int reference)
{
    size_t per = (size_t)(p->cin / p->group) * p->kh * p->kw, nw = per * p->cout;
    size_t nout = (size_t)p->cout * p->oh * p->ow;
    float *scale = malloc(sizeof(float) * (size_t)p->cout), *scaled = malloc(sizeof(float) * nw);
    char *bytes = malloc(nw * sizeof(float) + 3);
    float *o1 = malloc(sizeof(float) * nout), *o2 = malloc(sizeof(float) * nout);
    for (int co = 0; co < p->cout; co++) {
        scale[co] = 0.5f + 0.75f * (frand() + 1.0f);
        for (size_t j = 0; j < per; j++)
            scaled[co * per + j] = w[co * per + j] * scale[co];
    }
    memcpy(bytes + 3, w, nw * sizeof(float));
    err_t e = {{0}};
    conv_wsrc src = {bytes + 3, scale, NULL, NULL};
    conv_kernel *k1 = conv_prepare(p, scaled, b, reference, &e);
    conv_kernel *k2 = conv_prepare_src(p, &src, b, reference, &e);
    int same = 0;
    if (k1 && k2 && !strcmp(conv_impl_name(k1), conv_impl_name(k2)) &&
        conv_weight_bytes(k1) == conv_weight_bytes(k2)) {
        size_t sb = conv_scratch_bytes(k1, 1);
        void *scratch = NULL;
        if (sb && posix_memalign(&scratch, 64, sb)) abort();
        conv_run(k1, in, o1, scratch, NULL);
        conv_run(k2, in, o2, scratch, NULL);
        same = !memcmp(o1, o2, sizeof(float) * nout);
        free(scratch);
    }
    conv_free(k1);
    conv_free(k2);
    free(scale); free(scaled); free(bytes); free(o1); free(o2);
    return same;
}

/* A kernel left reading the weights (conv_params.lazy: each run packs its
 * tasks' panels from unaligned, scaled bytes) gives, bit for bit, what the
 * kernel packed from them gives, at 1..3 threads, and so does the packed
 * kernel conv_pack_lazy makes of it (same form, same weight bytes).
 * Returns 1 when so; *lazy: whether the kernel took lazy (GEMM forms). */
static int same_lazy(const conv_params *p, const float *w, const float *b, const float *in, int *lazy)
{
    size_t per = (size_t)(p->cin / p->group) * p->kh * p->kw, nw = per * p->cout;
    size_t nout = (size_t)p->cout * p->oh * p->ow;
    float *scale = malloc(sizeof(float) * (size_t)p->cout);
    char *bytes = malloc(nw * sizeof(float) + 1);
    float *o1 = malloc(sizeof(float) * nout), *o2 = malloc(sizeof(float) * nout);
    if (!scale || !bytes || !o1 || !o2) abort();
    for (int co = 0; co < p->cout; co++)
        scale[co] = 0.5f + 0.75f * (frand() + 1.0f);
    memcpy(bytes + 1, w, nw * sizeof(float));
    err_t e = {{0}};
    conv_wsrc src = {bytes + 1, scale, NULL, NULL};
    conv_params pl = *p;
    pl.lazy = 1;
    conv_kernel *k1 = conv_prepare_src(p, &src, b, 0, &e);
    conv_kernel *k2 = conv_prepare_src(&pl, &src, b, 0, &e);
    scale[0] = -scale[0];       /* the lazy kernel keeps a copy of the scales */
    conv_kernel *k3 = k2 && conv_is_lazy(k2) ? conv_pack_lazy(k2, NULL, NULL, &e) : NULL;
    *lazy = conv_is_lazy(k2);
    int same = k1 && k2 && !conv_is_lazy(k1) && !strcmp(conv_impl_name(k1), conv_impl_name(k2)) &&
               (!*lazy || (k3 && !conv_is_lazy(k3) && conv_weight_bytes(k3) == conv_weight_bytes(k1)));
    for (int t = 1; same && t <= 3; t++) {
        int nt = tp_size(pools[t]);
        size_t sb = conv_scratch_bytes(k2, nt);
        void *scratch = NULL;
        if (sb && posix_memalign(&scratch, 64, sb)) abort();
        conv_run(k1, in, o1, scratch, pools[t]);
        for (size_t i = 0; i < nout; i++) o2[i] = NAN;
        conv_run(k2, in, o2, scratch, pools[t]);
        same &= !memcmp(o1, o2, sizeof(float) * nout);
        if (k3) {
            for (size_t i = 0; i < nout; i++) o2[i] = NAN;
            conv_run(k3, in, o2, scratch, pools[t]);
            same &= !memcmp(o1, o2, sizeof(float) * nout);
        }
        free(scratch);
    }
    conv_free(k1);
    conv_free(k2);
    conv_free(k3);
    free(scale); free(bytes); free(o1); free(o2);
    return same;
}

/* One conv shape at every SIMD level and 1..3 threads. */
static void check_conv(const conv_params *p, int with_bias)
{
    size_t nin = (size_t)p->cin * p->h * p->w;
    size_t nw = (size_t)p->cout * (p->cin / p->group) * p->kh * p->kw;
    size_t nout = (size_t)p->cout * p->oh * p->ow;
    float *in = randv(nin), *w = randv(nw), *b = with_bias ? randv(p->cout) : NULL;
    float *want = randv(nout), *got = malloc(nout * sizeof *got), *pre = randv(nout);
    ref_conv2d(p, in, w, b, want);
    /* Winograd's error is relative to the values before the activation
     * (a clamp to [0, 6] hides how large they were) */
    conv_params pa = *p;
    pa.act = ACT_NONE;
    ref_conv2d(&pa, in, w, b, pre);
    double premax = 1e-3;
    for (size_t i = 0; i < nout; i++)
        if (fabs(pre[i]) > premax) premax = fabs(pre[i]);
    char desc[200];
    snprintf(desc, sizeof desc, "cin %d %dx%d cout %d k %dx%d s %dx%d d %dx%d pad %d,%d,%d,%d g %d %s%s",
             p->cin, p->h, p->w, p->cout, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw,
             p->pt, p->pl, p->pb, p->pr, p->group, act_name(p->act), with_bias ? "" : " nobias");
    for (int l = 0; l < nlevels; l++) {
        simd_cap(levels[l]);
        err_t e = {{0}};
        conv_kernel *k = conv_prepare(p, w, b, 0, &e);
        if (!k) {
            tap_ok(0, "%s: prepare: %s", desc, e.msg);
            continue;
        }
        double worst = 0;
        for (int t = 1; t <= 3; t++) {
            size_t sb = conv_scratch_bytes(k, tp_size(pools[t]));
            void *scratch = NULL;
            if (sb && posix_memalign(&scratch, 64, sb)) abort();
            for (size_t i = 0; i < nout; i++) got[i] = NAN;
            conv_run(k, in, got, scratch, pools[t]);
            double r = relerr(got, want, nout);
            if (!strncmp(conv_impl_name(k), "winograd", 8)) {
                double mx = 1e-3;
                for (size_t i = 0; i < nout; i++)
                    if (fabs(want[i]) > mx) mx = fabs(want[i]);
                r = r * mx / premax;
            }
            if (!(r <= worst)) worst = r;
            free(scratch);
        }
        /* Winograd F(4x4, 3x3) rounds through transforms whose entries
         * reach 8 and 1/24: about 2x the direct sum's error on these
         * uniform inputs (at most 1.0e-5 seen), 2e-5 allowed */
        double tol = !strncmp(conv_impl_name(k), "winograd", 8) ? 2e-5 : 1e-5;
        tap_ok(worst <= tol, "%s %s [%s] rel err %.2g", simd_name(levels[l]),
               conv_impl_name(k), desc, worst);
        tap_ok(same_from_src(p, w, b, in, 0), "%s %s [%s] packed from unaligned bytes, scaled",
               simd_name(levels[l]), conv_impl_name(k), desc);
        int lazy = 0, sl = same_lazy(p, w, b, in, &lazy);
        tap_ok(sl && lazy == conv_lazy_ok(p), "%s %s [%s] %s", simd_name(levels[l]), conv_impl_name(k),
               desc, lazy ? "lazy: packed per run, the same bits at 1-3 threads, and packed later"
                          : "not lazy, as conv_lazy_ok says");
        conv_free(k);
    }
    simd_cap(SIMD_AVX512);
    tap_ok(same_from_src(p, w, b, in, 1), "reference [%s] from unaligned bytes, scaled", desc);
    free(in); free(w); free(b); free(want); free(got); free(pre);
}

/* conv_run_n on nimg images gives each image exactly conv_run's output
 * (every SIMD level, 1..3 threads). */
static void check_conv_n(const conv_params *p, int nimg)
{
    size_t nin = (size_t)p->cin * p->h * p->w, nout = (size_t)p->cout * p->oh * p->ow;
    size_t nw = (size_t)p->cout * (p->cin / p->group) * p->kh * p->kw;
    float *in = randv(nin * nimg), *w = randv(nw), *b = randv(p->cout);
    float *want = malloc(nout * nimg * sizeof *want), *got = malloc(nout * nimg * sizeof *got);
    if (!want || !got) abort();
    for (int l = 0; l < nlevels; l++) {
        simd_cap(levels[l]);
        err_t e = {{0}};
        conv_kernel *k = conv_prepare(p, w, b, 0, &e);
        if (!k) {
            tap_ok(0, "batch: prepare: %s", e.msg);
            continue;
        }
        int same = 1;
        for (int t = 1; t <= 3; t++) {
            size_t sb = conv_scratch_bytes_n(k, nimg, tp_size(pools[t]));
            void *scratch = NULL;
            if (sb && posix_memalign(&scratch, 64, sb)) abort();
            for (int i = 0; i < nimg; i++)
                conv_run(k, in + i * nin, want + i * nout, scratch, pools[t]);
            for (size_t i = 0; i < nout * nimg; i++) got[i] = NAN;
            conv_run_n(k, nimg, in, nin, got, nout, scratch, pools[t]);
            same &= !memcmp(got, want, nout * nimg * sizeof *got);
            free(scratch);
        }
        tap_ok(same, "%s %s cin %d %dx%d cout %d k %d: %d images at once, the same bits as one by one",
               simd_name(levels[l]), conv_impl_name(k), p->cin, p->h, p->w, p->cout, p->kh, nimg);
        conv_free(k);
    }
    simd_cap(SIMD_AVX512);
    free(in); free(w); free(b); free(want); free(got);
}

/* An expanding 1x1 conv (cin -> ce, h x w) then a 3x3 stride-2 depthwise
 * one with padding pad: conv_run_expand_dw gives what the two give run one
 * after the other, at 1..3 threads (up to the last bit of a few expanded
 * values, where a band ends a GEMM tile that the whole map does not: the
 * partial-tile kernels sum in another order, as between thread counts);
 * want_ok: the pair must run together on AVX-512 (below it never does). */
static void check_expand_dw(int cin, int ce, int h, int w, int pad, int act, int want_ok)
{
    conv_params pa = { .cin = cin, .h = h, .w = w, .cout = ce, .kh = 1, .kw = 1, .sh = 1, .sw = 1,
                       .dh = 1, .dw = 1, .group = 1, .act = act, .act_min = 0.0f, .act_max = 6.0f };
    set_out(&pa);
    conv_params pb = { .cin = ce, .h = h, .w = w, .cout = ce, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                       .dh = 1, .dw = 1, .pt = pad, .pl = pad, .pb = pad, .pr = pad, .group = ce,
                       .act = act, .act_min = 0.0f, .act_max = 6.0f };
    set_out(&pb);
    size_t nin = (size_t)cin * h * w, nmid = (size_t)ce * h * w, nout = (size_t)ce * pb.oh * pb.ow;
    float *in = randv(nin), *wa = randv((size_t)ce * cin), *ba = randv(ce);
    float *wb = randv((size_t)ce * 9), *bb = randv(ce);
    float *mid = malloc(nmid * sizeof *mid), *want = malloc(nout * sizeof *want);
    float *got = malloc(nout * sizeof *got);
    if (!mid || !want || !got) abort();
    for (int l = 0; l < nlevels; l++) {
        simd_cap(levels[l]);
        err_t e = {{0}};
        conv_kernel *ka = conv_prepare(&pa, wa, ba, 0, &e), *kb = conv_prepare(&pb, wb, bb, 0, &e);
        if (!ka || !kb) {
            tap_ok(0, "expand + depthwise: prepare: %s", e.msg);
            conv_free(ka);
            conv_free(kb);
            continue;
        }
        int ok = conv_expand_dw_ok(ka, kb), same = 0, lazy_same = 1;
        double worst = 0;
        for (int t = 1; ok && t <= 3; t++) {
            int nt = tp_size(pools[t]);
            size_t sa = conv_scratch_bytes(ka, nt), sb = conv_scratch_bytes(kb, nt);
            size_t sf = conv_expand_dw_scratch(ka, kb, nt), sm = sa > sb ? sa : sb;
            void *scratch = NULL, *fs = NULL;
            if ((sm && posix_memalign(&scratch, 64, sm)) || posix_memalign(&fs, 64, sf)) abort();
            conv_run(ka, in, mid, scratch, pools[t]);
            conv_run(kb, mid, want, scratch, pools[t]);
            for (size_t i = 0; i < nout; i++) got[i] = NAN;
            conv_run_expand_dw(ka, kb, in, got, fs, pools[t]);
            same += !memcmp(got, want, nout * sizeof *got);
            double r = relerr(got, want, nout);
            if (!(r <= worst)) worst = r;
            /* both convs left reading their weights: the same bits */
            conv_params pl = pa, pbl = pb;
            pl.lazy = pbl.lazy = 1;
            conv_kernel *kl = conv_prepare(&pl, wa, ba, 0, &e), *kbl = conv_prepare(&pbl, wb, bb, 0, &e);
            void *fl = NULL;
            if (!kl || !kbl || !conv_is_lazy(kl) || !conv_is_lazy(kbl) || !conv_expand_dw_ok(kl, kbl) ||
                posix_memalign(&fl, 64, conv_expand_dw_scratch(kl, kbl, nt)))
                lazy_same = 0;
            else {
                memcpy(mid, got, nout * sizeof *got);
                for (size_t i = 0; i < nout; i++) got[i] = NAN;
                conv_run_expand_dw(kl, kbl, in, got, fl, pools[t]);
                lazy_same &= !memcmp(got, mid, nout * sizeof *got);
            }
            free(fl);
            conv_free(kl);
            conv_free(kbl);
            free(scratch);
            free(fs);
        }
        if (ok && levels[l] >= SIMD_AVX512)
            tap_ok(lazy_same, "%s %s expand %d -> %d on %dx%d: both layers' weights made per run, the same bits",
                   simd_name(levels[l]), act_name(act), cin, ce, h, w);
        char desc[160];
        snprintf(desc, sizeof desc, "%s expand %d -> %d on %dx%d, depthwise 3x3 s2 pad %d %s",
                 simd_name(levels[l]), cin, ce, h, w, pad, act_name(act));
        if (levels[l] >= SIMD_AVX512 && want_ok)
            tap_ok(ok && worst <= 1e-6, "%s: together in bands, rel err %.2g (bit for bit at %d of 3 "
                   "thread counts)", desc, worst, same);
        else if (levels[l] >= SIMD_AVX512)
            tap_ok(!ok || worst <= 1e-6, "%s: %s, rel err %.2g", desc,
                   ok ? "together in bands" : "one after the other", worst);
        else
            tap_ok(!ok, "%s: not run together", desc);
        conv_free(ka);
        conv_free(kb);
    }
    simd_cap(SIMD_AVX512);
    free(in); free(wa); free(ba); free(wb); free(bb); free(mid); free(want); free(got);
}

static conv_params cp(int cin, int h, int w, int cout, int k, int s, int pad, int g, int act)
{
    conv_params p = { .cin = cin, .h = h, .w = w, .cout = cout, .kh = k, .kw = k,
                      .sh = s, .sw = s, .dh = 1, .dw = 1,
                      .pt = pad, .pl = pad, .pb = pad, .pr = pad, .group = g, .act = act,
                      .act_min = 0.0f, .act_max = 6.0f };
    set_out(&p);
    return p;
}

static void check_sgemm(int ta, int tb, int m, int n, int k, float alpha, float beta, int bias)
{
    int lda = (ta ? m : k) + irand(0, 3), ldb = (tb ? k : n) + irand(0, 3), ldc = n + irand(0, 3);
    float *a = randv((size_t)lda * (ta ? k : m)), *b = randv((size_t)ldb * (tb ? n : k));
    float *bv = bias ? randv(n) : NULL;
    float *c0 = randv((size_t)ldc * m), *want = malloc((size_t)ldc * m * sizeof *want);
    float *got = malloc((size_t)ldc * m * sizeof *got);
    if (beta == 0.0f)       /* beta 0 must ignore C, even NaNs */
        for (size_t i = 0; i < (size_t)ldc * m; i++) c0[i] = NAN;
    memcpy(want, c0, (size_t)ldc * m * sizeof *want);
    ref_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc, bv);
    for (int l = 0; l < nlevels; l++) {
        simd_cap(levels[l]);
        double worst = 0;
        for (int t = 1; t <= 3; t++) {
            memcpy(got, c0, (size_t)ldc * m * sizeof *got);
            sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc, bv, pools[t]);
            /* compare the m x n part only; padding columns must be untouched */
            double r = 0;
            for (int i = 0; i < m; i++) {
                double x = relerr(got + (size_t)i * ldc, want + (size_t)i * ldc, n);
                if (!(x <= r)) r = x;
                for (int j = n; j < ldc; j++)
                    if (memcmp(&got[(size_t)i * ldc + j], &c0[(size_t)i * ldc + j], sizeof(float)))
                        r = 1;
            }
            if (!(r <= worst)) worst = r;
        }
        tap_ok(worst <= 1e-5, "sgemm %s ta %d tb %d m %d n %d k %d alpha %g beta %g%s rel err %.2g",
               simd_name(levels[l]), ta, tb, m, n, k, alpha, beta, bias ? " bias" : "", worst);
    }
    simd_cap(SIMD_AVX512);
    free(a); free(b); free(bv); free(c0); free(want); free(got);
}

static int counter[64];
static void count_task(void *ctx, int task, int thread)
{
    int *seen = ctx;
    __atomic_add_fetch(&seen[task], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&counter[thread], 1, __ATOMIC_RELAXED);
}

/* a task that runs a parallel loop itself: it must run inline */
static void nested_task(void *ctx, int task, int thread)
{
    int inner[8] = {0};
    tp_run(pools[2], 8, count_task, inner);
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= inner[i] == 1;
    if (ok) count_task(ctx, task, thread);
}

static void check_pool(void)
{
    for (int t = 1; t <= 3; t++) {
        tap_ok(tp_size(pools[t]) == t, "pool of %d has %d threads", t, tp_size(pools[t]));
        int ok = 1;
        for (int rep = 0; rep < 200; rep++) {
            int n = rep % 37, seen[40] = {0};
            tp_run(pools[t], n, count_task, seen);
            for (int i = 0; i < n; i++) ok &= seen[i] == 1;
            for (int i = n; i < 40; i++) ok &= seen[i] == 0;
        }
        int total = 0, bad = 0;
        for (int i = 0; i < 64; i++) {
            total += counter[i];
            if (i >= t && counter[i]) bad = 1;
            counter[i] = 0;
        }
        tap_ok(ok && !bad && total > 0, "pool of %d: 200 runs, every task once, thread ids < %d",
               t, t);
    }
    tap_ok(tp_size(NULL) == 1, "NULL pool has size 1");
    /* back-to-back jobs of uneven tasks: tp_run returns when the tasks
     * are done, not when every worker has seen the job, so a late worker
     * must never run a task of the next job twice or with the old one's
     * context */
    for (int t = 2; t <= 3; t++) {
        int ok = 1;
        for (int rep = 0; rep < 20000 && ok; rep++) {
            int n = rep % 23, seen[40] = {0};
            tp_run(pools[t], n, rep % 5 ? count_task : nested_task, seen);
            for (int i = 0; i < 40; i++) ok &= seen[i] == (i < n);
        }
        for (int i = 0; i < 64; i++) counter[i] = 0;
        tap_ok(ok, "pool of %d: 20000 back-to-back jobs, nested ones inline, every task once", t);
    }
}

int main(void)
{
    int top = simd_level();
    for (int l = SIMD_PORTABLE; l <= top; l++) levels[nlevels++] = l;
    tap_diag("SIMD levels: %s up to %s", simd_name(SIMD_PORTABLE), simd_name(top));
    for (int t = 1; t <= 3; t++)
        if (!(pools[t] = tp_create(t))) abort();
    check_pool();

    /* fixed shapes: the layers real networks have, at reduced sizes */
    static const int acts[3] = { ACT_NONE, ACT_RELU, ACT_CLIP };
    conv_params list[64];
    int nl = 0;
    list[nl++] = cp(3, 23, 23, 16, 7, 2, 3, 1, ACT_RELU);     /* stem */
    list[nl++] = cp(16, 14, 14, 24, 1, 1, 0, 1, ACT_NONE);    /* 1x1 */
    list[nl++] = cp(17, 9, 11, 33, 1, 1, 0, 1, ACT_RELU);     /* 1x1 odd */
    /* 1x1 in place, short K on wide maps: row panels sweep the columns
     * (K <= 64 at 256 columns per task), several column chunks with a
     * tail, cout not whole panels; K = 65 just past it */
    list[nl++] = cp(16, 37, 41, 100, 1, 1, 0, 1, ACT_CLIP);
    list[nl++] = cp(64, 20, 30, 20, 1, 1, 0, 1, ACT_RELU);
    list[nl++] = cp(65, 20, 30, 20, 1, 1, 0, 1, ACT_NONE);
    list[nl++] = cp(24, 13, 12, 40, 3, 1, 1, 1, ACT_RELU);    /* 3x3 */
    list[nl++] = cp(35, 7, 7, 70, 3, 1, 1, 1, ACT_CLIP);      /* 3x3 at 7x7 */
    list[nl++] = cp(16, 15, 15, 24, 3, 2, 1, 1, ACT_NONE);    /* 3x3 s2 */
    list[nl++] = cp(32, 17, 17, 32, 3, 1, 1, 32, ACT_CLIP);   /* depthwise */
    list[nl++] = cp(32, 17, 16, 32, 3, 2, 1, 32, ACT_CLIP);   /* depthwise s2 */
    list[nl++] = cp(19, 9, 33, 19, 3, 1, 1, 19, ACT_RELU);    /* depthwise odd */
    list[nl++] = cp(7, 40, 37, 7, 3, 2, 0, 7, ACT_NONE);      /* depthwise s2 no pad */
    list[nl++] = cp(8, 6, 6, 8, 5, 1, 2, 8, ACT_NONE);        /* depthwise 5x5 */
    list[nl++] = cp(24, 7, 7, 24, 3, 1, 1, 24, ACT_CLIP);     /* depthwise, narrow rows */
    list[nl++] = cp(16, 14, 14, 16, 3, 1, 1, 16, ACT_RELU);
    list[nl++] = cp(5, 5, 16, 5, 3, 1, 0, 5, ACT_NONE);       /* 14 wide, 3 rows */
    /* depthwise read in place: flat maps, wide rows, stride 2 with tails */
    list[nl++] = cp(3, 30, 50, 3, 3, 1, 0, 3, ACT_RELU);      /* s1 rows: ow 48 != w */
    list[nl++] = cp(3, 9, 83, 3, 3, 1, 0, 3, ACT_CLIP);       /* s1 rows: 6 chunks */
    list[nl++] = cp(4, 21, 113, 4, 3, 2, 1, 4, ACT_RELU);     /* s2 rows: 57 wide */
    list[nl++] = cp(2, 12, 140, 2, 3, 2, 1, 2, ACT_NONE);     /* s2 rows: 70 wide, 5 chunks */
    list[nl++] = cp(3, 56, 56, 3, 3, 1, 1, 3, ACT_CLIP);      /* flat, 196 chunks */
    list[nl++] = cp(5, 1, 1, 5, 3, 1, 1, 5, ACT_RELU);        /* flat, one pixel */
    /* 3x3 "same" rolling down strips of 1-4 chunks (s1k3): 10 wide (the
     * narrowest it takes), one row, two rows, 4 + 1 and 4 + 3 chunks */
    list[nl++] = cp(4, 9, 10, 4, 3, 1, 1, 4, ACT_RELU);
    list[nl++] = cp(3, 1, 37, 3, 3, 1, 1, 3, ACT_CLIP);
    list[nl++] = cp(2, 2, 16, 2, 3, 1, 1, 2, ACT_NONE);
    list[nl++] = cp(3, 11, 80, 3, 3, 1, 1, 3, ACT_RELU);
    list[nl++] = cp(2, 13, 112, 2, 3, 1, 1, 2, ACT_CLIP);
    /* stride 2 through stride-phase planes: stems, odd sizes, no pad */
    list[nl++] = cp(3, 67, 61, 20, 3, 2, 0, 1, ACT_RELU);     /* SqueezeNet conv1 */
    list[nl++] = cp(3, 50, 45, 12, 7, 2, 3, 1, ACT_CLIP);     /* 7x7 stem */
    list[nl++] = cp(9, 30, 33, 17, 3, 2, 1, 1, ACT_NONE);
    list[nl++] = cp(24, 10, 10, 36, 3, 1, 1, 4, ACT_RELU);    /* grouped */
    list[nl++] = cp(64, 8, 8, 64, 3, 1, 1, 2, ACT_NONE);      /* 2 groups */
    list[nl++] = cp(16, 9, 9, 24, 1, 2, 0, 1, ACT_NONE);      /* 1x1 s2 */
    list[nl++] = cp(16, 9, 9, 24, 1, 1, 1, 1, ACT_RELU);      /* 1x1 padded */
    list[nl++] = cp(96, 13, 13, 130, 3, 1, 1, 1, ACT_RELU);   /* bigger K */
    list[nl++] = cp(5, 31, 29, 11, 5, 1, 2, 1, ACT_CLIP);     /* 5x5 */
    list[nl++] = cp(3, 5, 5, 4, 5, 1, 0, 1, ACT_NONE);        /* kernel = input */
    list[nl++] = cp(4, 1, 1, 5, 1, 1, 0, 1, ACT_RELU);        /* 1x1 image */
    /* small maps, many channels: the transposed ("pixels") form */
    list[nl++] = cp(120, 7, 7, 64, 3, 1, 1, 1, ACT_RELU);
    list[nl++] = cp(300, 7, 7, 128, 3, 1, 1, 1, ACT_CLIP);    /* several k blocks */
    list[nl++] = cp(115, 7, 7, 48, 3, 1, 1, 1, ACT_RELU);     /* cout and K past whole 16 x 16 blocks */
    list[nl++] = cp(1040, 7, 7, 32, 1, 1, 0, 1, ACT_NONE);    /* 1x1 in place */
    list[nl++] = cp(1040, 7, 7, 32, 1, 1, 1, 1, ACT_RELU);    /* 1x1 padded: im2col */
    list[nl++] = cp(128, 14, 14, 64, 3, 2, 1, 1, ACT_RELU);   /* stride 2 to 7x7 */
    list[nl++] = cp(64, 14, 14, 96, 3, 1, 1, 1, ACT_NONE);
    list[nl++] = cp(120, 5, 6, 100, 3, 1, 1, 1, ACT_RELU);    /* cout not whole panels */
    list[nl++] = cp(114, 6, 6, 40, 3, 1, 1, 1, ACT_CLIP);     /* K just above 1024 */
    /* K = 75600: col^T (16.9 MB) too long to share, each thread packs
     * its own k blocks */
    list[nl++] = cp(8400, 7, 7, 32, 3, 1, 1, 1, ACT_RELU);
    for (int i = 0; i < nl; i++) {
        check_conv(&list[i], 1);
        list[i].act = acts[(i + 1) % 3];
        check_conv(&list[i], 0);
    }
    /* asymmetric pads and dilations */
    conv_params q = cp(6, 12, 15, 10, 3, 1, 0, 1, ACT_RELU);
    q.pt = 0; q.pl = 2; q.pb = 1; q.pr = 0; q.dh = 2; q.dw = 3; set_out(&q);
    check_conv(&q, 1);
    q.group = 2; q.sh = 2; set_out(&q);
    check_conv(&q, 0);
    q = cp(6, 9, 11, 6, 3, 1, 0, 6, ACT_RELU);                /* narrow depthwise, dilated */
    q.pt = 2; q.pb = 0; q.pl = 3; q.pr = 1; q.dh = 2; q.dw = 2; set_out(&q);
    check_conv(&q, 1);
    q = cp(4, 20, 45, 4, 3, 1, 0, 4, ACT_RELU);               /* flat, dilated, uneven pads */
    q.pt = 2; q.pb = 2; q.pl = 3; q.pr = 3; q.dh = 2; q.dw = 3; set_out(&q);
    check_conv(&q, 1);
    q = cp(3, 23, 70, 3, 3, 1, 0, 3, ACT_NONE);               /* rows: sh 2, sw 1, dilated */
    q.pt = 1; q.pb = 0; q.pl = 0; q.pr = 2; q.sh = 2; q.dw = 2; set_out(&q);
    check_conv(&q, 0);
    q = cp(5, 21, 26, 11, 3, 1, 0, 1, ACT_RELU);              /* planes: dilated, uneven pads */
    q.pt = 2; q.pb = 0; q.pl = 1; q.pr = 3; q.sh = 2; q.sw = 2; q.dh = 2; q.dw = 2; set_out(&q);
    check_conv(&q, 1);
    q = cp(12, 11, 13, 12, 3, 1, 0, 12, ACT_CLIP);
    q.pt = 2; q.pb = 2; q.pl = 1; q.pr = 3; q.dh = 2; q.dw = 2; q.sw = 2; set_out(&q);
    check_conv(&q, 1);
    /* depthwise 3-wide stride 2 (s2k3): 3 chunks per row, the 33rd
     * column on the row, 5 kernel rows, vertical stride 1, uneven pads */
    q = cp(3, 9, 70, 3, 3, 1, 0, 3, ACT_RELU);
    q.kh = 5; q.pt = 2; q.pb = 1; q.pl = 0; q.pr = 2; q.sw = 2; set_out(&q);
    check_conv(&q, 1);
    q = cp(4, 12, 33, 4, 3, 2, 1, 4, ACT_CLIP);               /* 17 wide: 2 chunks */
    check_conv(&q, 0);
    q = cp(2, 7, 129, 2, 3, 2, 0, 2, ACT_NONE);               /* 65 wide: 4 + 1 chunks */
    q.pr = 2; set_out(&q);
    check_conv(&q, 1);
    /* ... walking down strips of 1-4 chunks (kernel 3 high, vertical
     * stride 2): TensorFlow's "same" (pad 0 above, 1 below), odd heights,
     * 6 = 4 + 2 chunks, two rows */
    q = cp(3, 16, 96, 3, 3, 2, 0, 3, ACT_CLIP);
    q.pb = 1; q.pr = 1; set_out(&q);
    check_conv(&q, 1);
    q = cp(2, 15, 190, 2, 3, 2, 1, 2, ACT_RELU);
    check_conv(&q, 0);
    q = cp(2, 2, 100, 2, 3, 2, 1, 2, ACT_NONE);
    check_conv(&q, 1);
    /* random shapes */
    for (int r = 0; r < 80; r++) {
        conv_params p = { 0 };
        int dw = irand(0, 3) == 0;
        p.group = dw ? 1 : (irand(0, 3) == 0 ? irand(1, 3) : 1);
        p.cin = p.group * irand(1, 12);
        p.cout = p.group * irand(1, 20);
        if (dw) { p.cin = p.cout = p.group = irand(1, 20); }
        p.kh = irand(1, 4); p.kw = irand(1, 4);
        p.sh = irand(1, 3); p.sw = irand(1, 3);
        p.dh = irand(1, 2); p.dw = irand(1, 2);
        p.pt = irand(0, 2); p.pl = irand(0, 2); p.pb = irand(0, 2); p.pr = irand(0, 2);
        p.h = irand((p.kh - 1) * p.dh + 1, 25);
        p.w = irand((p.kw - 1) * p.dw + 1, 40);
        p.act = acts[irand(0, 2)];
        p.act_min = -0.5f; p.act_max = 0.75f;
        set_out(&p);
        check_conv(&p, irand(0, 1));
    }

    /* Winograd F(4x4, 3x3) forced on 3x3 stride-1 shapes it would not
     * get by itself, and the GEMM paths on the shapes it does get: sizes
     * not multiples of 4, asymmetric and no pads, one tile, several tile
     * blocks, cin over one k block, cout not whole panels, channel splits
     * at 2 and 3 threads */
    {
        static const int wl[][8] = {
            /* cin, h, w, cout, pt, pl, pb, pr */
            { 1, 3, 3, 1, 0, 0, 0, 0 },       /* one output pixel */
            { 3, 4, 4, 5, 1, 1, 1, 1 },       /* one tile */
            { 8, 9, 7, 9, 1, 1, 1, 1 },
            { 16, 13, 11, 24, 0, 2, 1, 0 },   /* asymmetric pads */
            { 24, 30, 30, 40, 1, 1, 1, 1 },
            { 64, 28, 28, 64, 1, 1, 1, 1 },   /* several blocks */
            { 130, 15, 17, 70, 2, 2, 2, 2 },
            { 300, 14, 14, 33, 1, 1, 1, 1 },  /* two k blocks */
            { 520, 7, 7, 96, 1, 1, 1, 1 },    /* three k blocks */
            { 17, 57, 5, 200, 1, 0, 1, 0 },   /* tall and thin */
            { 32, 56, 56, 16, 1, 1, 1, 1 },   /* many tiles, one panel */
        };
        for (size_t i = 0; i < sizeof wl / sizeof wl[0]; i++)
            for (int force = 2; force >= 0; force--) {
                setenv("CAM_WINO", force == 2 ? "2" : force ? "1" : "0", 1);
                /* (the GEMM paths' error is measured after the clamp:
                 * no narrow clip for them with K up to 4680) */
                conv_params p = cp(wl[i][0], wl[i][1], wl[i][2], wl[i][3], 3, 1, 0, 1,
                                   force ? acts[i % 3] : acts[i % 2]);
                p.pt = wl[i][4]; p.pl = wl[i][5]; p.pb = wl[i][6]; p.pr = wl[i][7];
                if (force) { p.act_min = -0.5f; p.act_max = 0.75f; }
                set_out(&p);
                check_conv(&p, (int)(i + force) % 2);
            }
        /* F(2x2, 5x5) the same way */
        static const int wl5[][8] = {
            { 3, 5, 5, 4, 0, 0, 0, 0 },       /* one output pixel */
            { 7, 9, 11, 5, 0, 1, 2, 3 },
            { 16, 28, 28, 32, 2, 2, 2, 2 },   /* GoogLeNet 3a */
            { 130, 14, 13, 40, 2, 2, 2, 2 },  /* two k blocks */
            { 48, 7, 7, 128, 2, 2, 2, 2 },
        };
        for (size_t i = 0; i < sizeof wl5 / sizeof wl5[0]; i++)
            for (int force = 2; force >= 0; force--) {
                setenv("CAM_WINO", force == 2 ? "2" : force ? "1" : "0", 1);
                conv_params p = cp(wl5[i][0], wl5[i][1], wl5[i][2], wl5[i][3], 5, 1, 0, 1,
                                   force ? acts[i % 3] : acts[i % 2]);
                p.pt = wl5[i][4]; p.pl = wl5[i][5]; p.pb = wl5[i][6]; p.pr = wl5[i][7];
                if (force) { p.act_min = -0.5f; p.act_max = 0.75f; }
                set_out(&p);
                check_conv(&p, (int)(i + force) % 2);
            }
        /* random 3x3 stride-1 shapes in both forms */
        for (int r = 0; r < 24; r++) {
            setenv("CAM_WINO", r % 2 ? "1" : "2", 1);
            conv_params p = cp(irand(1, 70), irand(3, 30), irand(3, 30), irand(1, 90), 3, 1, 0, 1,
                               acts[irand(0, 2)]);
            p.pt = irand(0, 2); p.pl = irand(0, 2); p.pb = irand(0, 2); p.pr = irand(0, 2);
            p.act_min = -0.5f; p.act_max = 0.75f;
            set_out(&p);
            check_conv(&p, irand(0, 1));
        }
        /* CAM_WINO=1 leaves the shapes Winograd cannot do to the others */
        conv_params p = cp(16, 15, 15, 24, 3, 2, 1, 1, ACT_NONE);
        check_conv(&p, 1);
        p = cp(24, 10, 10, 36, 3, 1, 1, 4, ACT_RELU);
        check_conv(&p, 1);
        unsetenv("CAM_WINO");
        /* GoogLeNet's 5x5 convs keep transformed filters by default */
        {
            p = cp(32, 28, 28, 96, 5, 1, 2, 1, ACT_RELU);
            float *w5 = randv((size_t)96 * 32 * 25);
            err_t e = {{0}};
            conv_kernel *k = conv_prepare(&p, w5, NULL, 0, &e);
            const char *name = k ? conv_impl_name(k) : "?";
            tap_ok(k && !strncmp(name, "winograd-", 9) && strncmp(name, "winograd-lazy", 13) &&
                   conv_weight_bytes(k) >= (size_t)96 * 32 * 36 * sizeof(float),
                   "32x28x28 5x5 runs as %s, %zu weight bytes", name, conv_weight_bytes(k));
            conv_free(k);
            free(w5);
        }
        /* and by default ResNet-18's layer 1 keeps transformed filters,
         * layer 3 transforms them per run, layer 4 does not use it */
        float *w = randv((size_t)256 * 256 * 9);
        static const int dflt[3][2] = { { 64, 56 }, { 256, 14 }, { 256, 7 } };
        static const char *const want[3] = { "winograd-", "winograd-lazy-", "pixels-" };
        static const size_t wmul[3] = { 36, 9, 9 };
        for (int i = 0; i < 3; i++) {
            int c = dflt[i][0], hw = dflt[i][1];
            p = cp(c, hw, hw, c, 3, 1, 1, 1, ACT_RELU);
            err_t e = {{0}};
            conv_kernel *k = conv_prepare(&p, w, NULL, 0, &e);
            const char *name = k ? conv_impl_name(k) : "?";
            int lazy = !strncmp(name, "winograd-lazy-", 14);
            /* layer 4: the transposed form where the micro-kernel's
             * shape makes it pay (AVX-512, AVX2), plain GEMM otherwise */
            int form = !strncmp(name, want[i], strlen(want[i])) ||
                       (i == 2 && !strncmp(name, "gemm-", 5));
            tap_ok(k && form && (i == 1 || !lazy) &&
                   conv_weight_bytes(k) >= (size_t)c * c * wmul[i] * sizeof(float) &&
                   conv_weight_bytes(k) < (size_t)c * c * wmul[i] * sizeof(float) * 5 / 4,
                   "%dx%dx%d 3x3 runs as %s, %zu weight bytes", c, hw, hw, name,
                   conv_weight_bytes(k));
            conv_free(k);
        }
        free(w);
    }

    /* few input channels: the direct kernel (kern_direct.h) on cin 1-4,
     * kernels 1-7, strides 1-2, every pad and activation; widths around
     * whole vectors and tiles (16, 48 pixels), rows fewer than threads */
    {
        static const int ows[] = { 1, 7, 8, 9, 15, 16, 17, 31, 33, 47, 48, 49, 63, 64, 65, 112, 113 };
        int n = 0;
        for (int cin = 1; cin <= 4; cin++)
            for (int k = 1; k <= 7; k++)
                for (int s = 1; s <= 2; s++) {
                    int ow = ows[n++ % (int)(sizeof ows / sizeof ows[0])];
                    conv_params p = cp(cin, 1, 1, irand(1, 40), k, s, 0, 1, acts[n % 3]);
                    p.pt = irand(0, k - 1); p.pb = irand(0, k - 1);
                    p.pl = irand(0, k - 1); p.pr = irand(0, k - 1);
                    p.act_min = -0.5f; p.act_max = 0.75f;
                    /* input width and height giving ow columns, 1-9 rows */
                    p.w = (ow - 1) * s + k - p.pl - p.pr;
                    if (p.w < 1) { p.pl = p.pr = 0; p.w = (ow - 1) * s + k; }
                    p.h = (irand(1, 9) - 1) * s + k - p.pt - p.pb;
                    if (p.h < 1) { p.pt = p.pb = 0; p.h = k; }
                    set_out(&p);
                    check_conv(&p, n % 4 != 0);
                }
        /* dilated, uneven strides, 8 and 9 output channels, the stems */
        conv_params p = cp(3, 20, 37, 9, 3, 1, 1, 1, ACT_RELU);
        p.dh = 2; p.dw = 3; p.sw = 2; set_out(&p);
        check_conv(&p, 1);
        p = cp(2, 17, 40, 8, 5, 2, 2, 1, ACT_CLIP);
        p.sh = 1; set_out(&p);
        check_conv(&p, 0);
        p = cp(3, 45, 45, 64, 7, 2, 3, 1, ACT_RELU);              /* GoogLeNet, ResNet-18 */
        check_conv(&p, 1);
        p = cp(3, 51, 51, 64, 3, 2, 0, 1, ACT_RELU);              /* SqueezeNet 1.1 */
        check_conv(&p, 1);
        p = cp(3, 40, 40, 32, 3, 2, 1, 1, ACT_CLIP);              /* MobileNetV2 */
        check_conv(&p, 1);
        /* the stems pick it by default, CAM_DIRECT=0 turns it off */
        float *w = randv((size_t)64 * 3 * 49);
        for (int off = 0; off < 2; off++) {
            if (off) setenv("CAM_DIRECT", "0", 1);
            p = cp(3, 224, 224, 64, 7, 2, 3, 1, ACT_RELU);
            err_t e = {{0}};
            conv_kernel *k = conv_prepare(&p, w, NULL, 0, &e);
            const char *name = k ? conv_impl_name(k) : "?";
            tap_ok(k && !strncmp(name, "direct-", 7) == !off, "3x224x224 7x7 s2%s runs as %s",
                   off ? " with CAM_DIRECT=0" : "", name);
            conv_free(k);
        }
        unsetenv("CAM_DIRECT");
        free(w);
    }

    /* several images at once: lazy Winograd (one filter transform for
     * them all; 5 images: two calls of at most 4), kept Winograd, GEMM */
    {
        static const int sh[][5] = {
            { 256, 14, 14, 256, 5 },    /* ResNet-18 layer 3, lazy by default */
            { 160, 14, 14, 320, 2 },    /* GoogLeNet 4e */
            { 20, 9, 13, 37, 3 },
            { 64, 28, 28, 64, 2 },      /* transformed filters kept */
            { 256, 7, 7, 256, 3 },      /* pixels / GEMM */
        };
        for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
            if (i == 2) setenv("CAM_WINO", "2", 1);
            conv_params p = cp(sh[i][0], sh[i][1], sh[i][2], sh[i][3], 3, 1, 1, 1, acts[i % 3]);
            p.act_min = -0.5f; p.act_max = 0.75f;
            check_conv_n(&p, sh[i][4]);
            unsetenv("CAM_WINO");
        }
        conv_params p = cp(48, 7, 7, 128, 5, 1, 2, 1, ACT_RELU);   /* F(2x2, 5x5) */
        check_conv_n(&p, 2);
        p = cp(32, 20, 20, 32, 3, 1, 1, 32, ACT_CLIP);            /* depthwise */
        check_conv_n(&p, 3);
    }

    /* expand + depthwise 3x3 stride 2 in bands: MobileNetV2's two
     * (112x112 and 56x56), odd sizes, no padding, bands of one output row
     * (wide expansions), maps of one or two rows */
    check_expand_dw(16, 96, 112, 112, 1, ACT_CLIP, 1);
    check_expand_dw(24, 144, 56, 56, 1, ACT_CLIP, 1);
    check_expand_dw(5, 24, 23, 37, 1, ACT_RELU, 1);
    check_expand_dw(7, 40, 20, 18, 0, ACT_NONE, 1);
    check_expand_dw(8, 512, 30, 64, 1, ACT_CLIP, 1);
    check_expand_dw(4, 16, 2, 5, 1, ACT_NONE, 0);
    check_expand_dw(4, 16, 1, 20, 1, ACT_RELU, 0);

    /* reference = 1 and bad parameters */
    {
        conv_params p = cp(4, 5, 5, 4, 3, 1, 1, 1, ACT_NONE);
        float w[144] = {0};
        err_t e = {{0}};
        conv_kernel *k = conv_prepare(&p, w, NULL, 1, &e);
        tap_ok(k && !strcmp(conv_impl_name(k), "ref"), "reference = 1 picks the reference kernel");
        tap_ok(k && conv_weight_bytes(k) >= sizeof w, "weight bytes counted");
        conv_free(k);
        p.oh = 6;
        tap_ok(!conv_prepare(&p, w, NULL, 0, &e) && e.msg[0], "wrong output size refused: %s", e.msg);
        p = cp(4, 5, 5, 4, 3, 1, 1, 3, ACT_NONE);
        tap_ok(!conv_prepare(&p, w, NULL, 0, &e), "group not dividing channels refused");
        p = cp(4, 5, 5, 4, 3, 1, 1, 1, ACT_NONE);
        p.sh = 0;
        tap_ok(!conv_prepare(&p, w, NULL, 0, &e), "zero stride refused");
        /* pads near INT_MAX with a stride that keeps the output small */
        p = cp(4, 5, 5, 4, 1, 1, 0, 4, ACT_NONE);
        p.pt = p.pb = 1 << 30;
        p.sh = 1 << 30;
        p.oh = (int)(((int64_t)p.h + p.pt + p.pb - 1) / p.sh + 1);
        tap_ok(!conv_prepare(&p, w, NULL, 0, &e), "huge pads refused: %s", e.msg);
    }

    /* sgemm */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_sgemm(ta, tb, 1, 1, 1, 1.0f, 0.0f, 0);
            check_sgemm(ta, tb, 7, 13, 5, 1.0f, 0.0f, 1);
            check_sgemm(ta, tb, 33, 47, 65, 0.5f, 1.0f, 0);
            check_sgemm(ta, tb, 64, 96, 300, 1.0f, -0.5f, 1);
            check_sgemm(ta, tb, 17, 1000, 129, 2.0f, 0.0f, 1);
            check_sgemm(ta, tb, 1, 1000, 1024, 1.0f, 0.0f, 1);
            check_sgemm(ta, tb, 150, 3, 31, 1.0f, 0.25f, 0);
            /* tiles ending in 1..8 columns past whole vectors */
            check_sgemm(ta, tb, 19, 49, 70, 1.0f, 0.0f, 1);
            check_sgemm(ta, tb, 13, 230, 9, 0.5f, 1.0f, 1);
            check_sgemm(ta, tb, 11, 6, 300, 1.0f, 0.5f, 0);
            /* few rows: the matrix-vector path */
            check_sgemm(ta, tb, 3, 37, 77, 1.5f, 0.0f, 1);
            check_sgemm(ta, tb, 4, 129, 300, 1.0f, 0.5f, 1);
            check_sgemm(ta, tb, 2, 1000, 7, 1.0f, 1.0f, 0);
        }
    check_sgemm(0, 0, 5, 6, 0, 1.0f, 0.5f, 1);   /* k = 0: C = beta C + bias */

    /* pieces that share out evenly over the threads */
    tap_ok(tp_span(6, 2, 2) == 4 && tp_span(6, 1, 2) == 3 && tp_span(10, 3, 2) == 6,
           "tp_span: the busiest thread's units");
    tap_ok(tp_chunk(6, 2, 2) == 1 && tp_chunk(8, 2, 2) == 2 && tp_chunk(12, 3, 2) == 3 &&
           tp_chunk(7, 3, 1) == 3 && tp_chunk(5, 9, 2) == 3 && tp_chunk(4, 0, 2) == 1,
           "tp_chunk: 6 in pieces of 1, 8 of 2, 12 of 3, 5 of 3 over 2 threads; the wish with 1 thread");
    int chunk_ok = 1;
    for (int n = 1; n <= 80; n++)
        for (int nt = 2; nt <= 3; nt++)
            for (int per = 1; per <= n; per++) {
                int c = tp_chunk(n, per, nt), sp = tp_span(n, c, nt), ideal = (n + nt - 1) / nt;
                int best = sp;
                for (int d = 1; d <= per; d++)
                    if (tp_span(n, d, nt) < best) best = tp_span(n, d, nt);
                if (c < 1 || c > per || sp > tp_span(n, per, nt) ||
                    (sp * 100 > ideal * 103 && sp != best) ||
                    (c < per && tp_span(n, per, nt) * 100 <= ideal * 103))
                    chunk_ok = 0;
            }
    tap_ok(chunk_ok, "tp_chunk: never larger than asked, never less even, within 3%% of an "
                     "even share when any piece size is");

    for (int t = 1; t <= 3; t++) tp_free(pools[t]);
    return tap_done();
}
