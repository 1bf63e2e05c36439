/* conv_wino.c - 3x3 stride-1 convolutions by Winograd F(4x4, 3x3); see
 * kern_wino.h for the method and the data layout. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kern_wino.h"
#include "kern_grid.h"
#include "kmem.h"

/* ------------------------------------------------ transforms per level */

#define WB_W 4
#define WB_NAME(x) wino_c_##x
#define WB_ATTR
#include "kern_wino_body.h"
#undef WB_W
#undef WB_NAME
#undef WB_ATTR

#if defined(__x86_64__)
#define WB_W 8
#define WB_NAME(x) wino_avx2_##x
#define WB_ATTR __attribute__((target("avx2,fma")))
#include "kern_wino_body.h"
#undef WB_W
#undef WB_NAME
#undef WB_ATTR

#define WB_W 16
#define WB_NAME(x) wino_avx512_##x
#define WB_ATTR __attribute__((target("avx512f")))
#include "kern_wino_body.h"
#undef WB_W
#undef WB_NAME
#undef WB_ATTR
#endif

#define WINO_VMAX 16          /* widest vector: buffers are padded to it */
#define NX 36                 /* transformed 6x6 patch */
#ifndef LAZY_ROWS
#define LAZY_ROWS 6
#endif
#ifndef LAZY_KC
#define LAZY_KC 128
#endif

struct wino_plan {
    conv_params p;
    const gemm_arch *ar;
    int level;                /* transforms: SIMD level */
    wino_rows_fn rows;
    wino_out_fn out;
    wino_wt_fn wt;
    int m, r, taps;           /* F(m x m, r x r): 4 and 3, or 2 and 5; r*r */
    int ntx, nty, ntiles;     /* m x m output tiles across, down, in all */
    int tb, tbp;              /* tiles per block, rounded up to MR */
    int nblk;                 /* tile blocks */
    int mp;                   /* cout rounded up to NR (B panels) */
    int ldm;                  /* row length of the products M */
    int nb, kcl;              /* k blocks over cin and their length */
    int lw;                   /* padded line length: m ntx + r - 1, rounded */
    int lazy;                 /* filters transformed per run, not kept */
    float *u;                 /* NX x (cin x mp) packed B panels */
    float *bias;              /* ldm floats, zero past cout */
    size_t wbytes;
};

int wino_shape_ok(const conv_params *p)
{
    return ((p->kh == 3 && p->kw == 3) || (p->kh == 5 && p->kw == 5)) && p->sh == 1 &&
           p->sw == 1 && p->dh == 1 && p->dw == 1 && p->group == 1;
}

/* Floats of one thread's scratch: V (NX x tbp x cin), M (NX x tbp x ldm),
 * 12 lines, the output tile (16 x ldm), each 64-byte aligned. */
/* The 36 products' V (or M) lie this many floats apart: whole cache lines,
 * an odd number of them, so that the 36 lines one tile touches map to
 * different L1 sets (an even stride such as 10 KB put them all in two
 * sets and made the transforms 3x slower). */
static size_t odd_lines(size_t n)
{
    size_t l = (n + 15) / 16;
    return (l | 1) * 16;
}
static size_t vstride(const wino_plan *w) { return odd_lines((size_t)w->tbp * w->p.cin); }
static size_t mstride(const wino_plan *w) { return odd_lines((size_t)w->tbp * w->ldm); }
static size_t sz_v(const wino_plan *w) { return NX * vstride(w); }
static size_t sz_m(const wino_plan *w) { return NX * mstride(w); }
static size_t sz_l(const wino_plan *w) { return (size_t)12 * w->lw; }
static size_t sz_y(const wino_plan *w) { return (size_t)16 * w->ldm; }
static size_t sz_thread(const wino_plan *w) { return sz_v(w) + sz_m(w) + sz_l(w) + sz_y(w); }
/* lazy: LAZY_ROWS rows of U (6 products each) for one k block of at most
 * LAZY_KC input channels and one NR panel at a time.  Measured on 256 ->
 * 256 and 160 -> 320 channels at 14x14 (ms, 3 runs each, a busy machine):
 * all 36 products over 64 channels 1.32-1.71 and 1.18-1.29, over 128
 * 1.41-1.49 and 0.94-1.32, two rows over 128: 1.53-2.14 and 1.19-1.63,
 * one row over 256: 2.36-2.89 and 1.85-2.15 (reading the filters once per
 * row, and U beside V and M no longer fitting in L2); a second series, all
 * 36 products: over 16 channels 1.69-1.72 and 1.10-1.65, 32: 1.30-1.69
 * and 1.18-1.38, 64: 1.55-2.04 and 0.97-1.82, 128: 1.22-1.45 and
 * 0.88-1.06.  128 (U 590 KB for NR = 32) it is. */
static size_t ustride(const wino_plan *w) { return odd_lines((size_t)w->kcl * w->ar->nr); }
static size_t sz_u(const wino_plan *w) { return (size_t)LAZY_ROWS * 6 * ustride(w); }
static size_t sz_lazy_thread(const wino_plan *w) { return sz_l(w) + sz_y(w) + sz_u(w); }

wino_plan *wino_prepare(const conv_params *p, const gemm_arch *ar, int level,
                        const conv_wsrc *wt, const float *bias, int lazy, err_t *e)
{
    if (!wino_shape_ok(p)) {
        err_set(e, "conv: Winograd needs a 3x3 or 5x5 stride-1 convolution");
        return NULL;
    }
    wino_plan *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, "conv: out of memory");
        return NULL;
    }
    w->p = *p;
    w->ar = ar;
    w->level = level;
#if defined(__x86_64__)
    if (level >= SIMD_AVX512) {
        w->rows = wino_avx512_rows;
        w->out = p->kh == 5 ? wino_avx512_out2 : wino_avx512_out;
        w->wt = p->kh == 5 ? wino_avx512_wt5 : wino_avx512_wt;
    } else if (level >= SIMD_AVX2) {
        w->rows = wino_avx2_rows;
        w->out = p->kh == 5 ? wino_avx2_out2 : wino_avx2_out;
        w->wt = p->kh == 5 ? wino_avx2_wt5 : wino_avx2_wt;
    } else
#endif
    {
        w->level = SIMD_PORTABLE;
        w->rows = wino_c_rows;
        w->out = p->kh == 5 ? wino_c_out2 : wino_c_out;
        w->wt = p->kh == 5 ? wino_c_wt5 : wino_c_wt;
    }
    int mr = ar->mr, nr = ar->nr, cin = p->cin, cout = p->cout;
    int m = w->m = p->kh == 3 ? 4 : 2, taps = w->taps = p->kh * p->kh;
    w->r = p->kh;
    w->ntx = (p->ow + m - 1) / m;
    w->nty = (p->oh + m - 1) / m;
    w->ntiles = w->ntx * w->nty;
    w->mp = (cout + nr - 1) / nr * nr;
    w->ldm = (w->mp + WINO_VMAX - 1) / WINO_VMAX * WINO_VMAX;
    w->nb = gemm_kblocks(cin, lazy ? LAZY_KC : GEMM_KC_MAX);
    w->kcl = gemm_kblock_len(cin, w->nb);
    w->lw = ((m * w->ntx + w->r - 1 + WINO_VMAX - 1) / WINO_VMAX + 1) * WINO_VMAX;
    /* Tiles per block: V and M of a block in about 640 KB (L2 is 1 MB on
     * the machine measured, 512 KB on older x86): 40 tiles for 64 -> 64
     * channels, 16 for 256 -> 256 (measured: 320 KB to 1 MB give the same
     * speed within noise on ResNet-18's layers; above that it drops). */
    double per_tile = (double)NX * (cin + w->ldm) * sizeof(float);
    int tb = (int)(640.0 * 1024 / per_tile) / mr * mr;
    if (tb < mr) tb = mr;
    int tall = (w->ntiles + mr - 1) / mr * mr;
    if (tb > tall) tb = tall;
    if (lazy) tb = tall;     /* one block: V and M shared by the threads */
    w->nblk = (w->ntiles + tb - 1) / tb;
    /* Blocks of whole MR-row panels, the last one shorter.  (Spreading the
     * tiles evenly over the blocks left rows of every block's panels empty,
     * and on ResNet-18's 64x56x56 layers made 7 blocks of 28 tiles, 4 and
     * 3 for two threads; 6 blocks of 32 and one of 4 split 100/96.) */
    w->tb = tb;
    w->tbp = (tb + mr - 1) / mr * mr;

    w->lazy = lazy;
    size_t un = (size_t)(lazy ? taps : NX) * cin * w->mp;
    if ((size_t)cin * w->mp > SIZE_MAX / sizeof(float) / NX ||
        !(w->u = kmem_get(un * sizeof(float))) ||
        !(w->bias = kmem_get((size_t)w->ldm * sizeof(float)))) {
        wino_free(w);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    w->wbytes = un * sizeof(float) + (size_t)w->ldm * sizeof(float);
    if (kmem_replaying())
        return w;       /* u and bias come packed (the packed-weight cache) */
    memset(w->bias, 0, (size_t)w->ldm * sizeof(float));
    if (bias) memcpy(w->bias, bias, (size_t)cout * sizeof(float));
    /* U_x[ci][co] = (G g G^T)[x], g = weights[co][ci], as B panels:
     * element (ci, co) at k0*mp + q*NR*kc + (ci-k0)*NR + j, co = q*NR + j;
     * one panel row (NR filters) at a time, vectorised along them.
     * lazy: the filters themselves, tap t of that element at taps times
     * that offset + t*NR + j, transformed by each run.  The loops below
     * write every element of u (padding columns as transformed zeros), so
     * it is not cleared first. */
    /* per panel row: its NR filters gathered as [ci][tap][NR] from one
     * filter at a time read in order (cin * taps * NR floats, 288 KB at
     * cin 512, kept in cache), then transformed (or, lazy, copied) one
     * input channel at a time; gathering NR filters cin * taps floats apart
     * at once missed on every line */
    size_t per = (size_t)cin * taps;
    float *gt = malloc(per * (nr + 1) * sizeof(float)), *row = gt + per * nr;
    if (!gt) {
        wino_free(w);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    for (int q = 0; q < w->mp / nr; q++) {
        for (int j = 0; j < nr; j++) {
            int co = q * nr + j;
            if (co < cout)
                conv_wsrc_row(wt, co, per, row);
            else
                memset(row, 0, per * sizeof *row);
            for (size_t i = 0; i < per; i++)
                gt[i * nr + j] = row[i];
        }
        for (int k0 = 0; k0 < cin; k0 += w->kcl) {
            int kc = cin - k0 < w->kcl ? cin - k0 : w->kcl;
            for (int ci = k0; ci < k0 + kc; ci++) {
                size_t off = (size_t)k0 * w->mp + (size_t)q * nr * kc + (size_t)(ci - k0) * nr;
                const float *g = gt + (size_t)ci * taps * nr;
                if (lazy)
                    memcpy(w->u + taps * off, g, (size_t)taps * nr * sizeof(float));
                else
                    w->wt(g, (size_t)nr, 0, 6, w->u + off, (size_t)cin * w->mp, nr);
            }
        }
    }
    free(gt);
    return w;
}

/* lazy, nimg images at once: V and M hold every image's tiles, image b
 * at rows b * tbp (the plan's rows per image); the batch view is the plan
 * with tbp set to all those rows, which sizes and addresses V and M. */
static wino_plan batch_view(const wino_plan *w, int nimg)
{
    wino_plan b = *w;
    b.tbp = w->tbp * (nimg > 1 ? nimg : 1);
    return b;
}

size_t wino_scratch_bytes(const wino_plan *w, int nthreads)
{
    return wino_scratch_bytes_n(w, 1, nthreads);
}

size_t wino_scratch_bytes_n(const wino_plan *w, int nimg, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (w->lazy) {
        wino_plan b = batch_view(w, nimg);
        return (sz_v(&b) + sz_m(&b) + (size_t)nthreads * sz_lazy_thread(&b)) * sizeof(float);
    }
    return (size_t)nthreads * sz_thread(w) * sizeof(float);
}

size_t wino_weight_bytes(const wino_plan *w)
{
    return w ? w->wbytes : 0;
}

int wino_level(const wino_plan *w)
{
    return w->level;
}

int wino_lazy(const wino_plan *w)
{
    return w->lazy;
}

void wino_free(wino_plan *w)
{
    if (!w) return;
    kmem_put(w->bias);
    kmem_put(w->u);
    free(w);
}

typedef struct {
    const wino_plan *w;       /* lazy: the batch view (batch_view) */
    const float *in;
    float *out;
    char *scratch;
    int nch, chp;             /* channel ranges per block, NR panels each */
    int nimg, ntp;            /* lazy: images, V / M rows per image */
    size_t in_img, out_img;   /* lazy: floats per image of in and out */
} wino_job;

/* V for tiles [t0, t1): for every input channel and tile row, the six
 * padded input rows, B^T applied down the rows (vectorised along the
 * row), then B across each tile's six columns, written into the A panels
 * of the 36 products (tile t at row r0 + t - t0; r0 a multiple of MR). */
static void wino_input(const wino_plan *w, const float *in, int t0, int t1, int c0, int c1,
                       float *v, float *lines, int r0)
{
    const conv_params *p = &w->p;
    int mr = w->ar->mr, ntx = w->ntx, lw = w->lw, tbp = w->tbp, cin = p->cin;
    int m = w->m, wp = m * ntx + w->r - 1;   /* padded row: input columns -pl .. */
    int ncopy = p->w;                 /* columns of the input inside it */
    if (ncopy > wp - p->pl) ncopy = wp - p->pl;
    const float *d[6];
    float *t[6];
    for (int i = 0; i < 6; i++) {
        d[i] = lines + (size_t)i * lw;
        t[i] = lines + (size_t)(6 + i) * lw;
    }
    size_t vstr = vstride(w);                    /* one product's A */
    int ty0 = t0 / ntx, ty1 = (t1 - 1) / ntx;
    for (int ci = c0; ci < c1; ci++) {
        const float *ip = in + (size_t)ci * p->h * p->w;
        int kb = ci / w->kcl, k0 = kb * w->kcl;
        int kc = cin - k0 < w->kcl ? cin - k0 : w->kcl;
        float *vk = v + (size_t)k0 * tbp + (size_t)(ci - k0) * mr;
        for (int ty = ty0; ty <= ty1; ty++) {
            for (int j = 0; j < 6; j++) {
                float *l = (float *)d[j];
                int iy = m * ty - p->pt + j;
                if (iy < 0 || iy >= p->h) {
                    memset(l, 0, (size_t)lw * sizeof(float));
                    continue;
                }
                memset(l, 0, (size_t)p->pl * sizeof(float));
                memcpy(l + p->pl, ip + (size_t)iy * p->w, (size_t)ncopy * sizeof(float));
                memset(l + p->pl + ncopy, 0, (size_t)(lw - p->pl - ncopy) * sizeof(float));
            }
            w->rows(d, t, wp);
            int txa = ty == ty0 ? t0 - ty * ntx : 0;
            int txb = ty == ty1 ? t1 - ty * ntx : ntx;
            for (int tx = txa; tx < txb; tx++) {
                int r = ty * ntx + tx - t0 + r0;
                float *vt = vk + (size_t)(r / mr) * mr * kc + r % mr;
                for (int i = 0; i < 6; i++) {
                    const float *s = t[i] + m * tx;
                    float d0 = s[0], d1 = s[1], d2 = s[2], d3 = s[3], d4 = s[4], d5 = s[5];
                    float a = d4 - 4.0f * d2, b = d3 - 4.0f * d1;
                    float c = d4 - d2, e = 2.0f * (d3 - d1);
                    float *o = vt + (size_t)(6 * i) * vstr;
                    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
                    o[vstr] = a + b;
                    o[2 * vstr] = a - b;
                    o[3 * vstr] = c + e;
                    o[4 * vstr] = c - e;
                    o[5 * vstr] = 4.0f * d1 - 5.0f * d3 + d5;
                }
            }
        }
    }
}

/* M_x[tiles][c0, c1) = V_x U_x for the 36 products. */
static void wino_gemm(const wino_plan *w, const float *v, float *m, int nt, int q0, int q1)
{
    const gemm_arch *ar = w->ar;
    int mr = ar->mr, nr = ar->nr, cin = w->p.cin, cout = w->p.cout, tbp = w->tbp;
    size_t vstr = vstride(w), ustride = (size_t)cin * w->mp, mstr = mstride(w);
    gemm_epi ep = { .alpha = 1.0f, .beta = 0.0f };
    for (int x = 0; x < NX; x++) {
        const float *vx = v + x * vstr, *ux = w->u + x * ustride;
        float *mx = m + x * mstr;
        for (int kb = 0; kb < w->nb; kb++) {
            int k0 = kb * w->kcl, kc = cin - k0 < w->kcl ? cin - k0 : w->kcl;
            ep.first = kb == 0;
            ep.last = kb == w->nb - 1;
            for (int q = q0; q < q1; q++) {
                const float *bq = ux + (size_t)k0 * w->mp + (size_t)q * nr * kc;
                int nv = cout - q * nr < nr ? cout - q * nr : nr;
                for (int i = 0; i < nt; i += mr) {
                    int mv = nt - i < mr ? nt - i : mr;
                    gemm_tile(ar, kc, vx + (size_t)k0 * tbp + (size_t)i * kc, bq,
                              mx + (size_t)i * w->ldm + (size_t)q * nr, (size_t)w->ldm, mv, nv,
                              &ep);
                }
            }
        }
    }
}

/* Output pixels of tiles [t0, t1), channels [c0, c1), from M. */
static void wino_output(const wino_plan *w, const float *m, int t0, int t1, int c0, int c1,
                        float *y, float *out)
{
    const conv_params *p = &w->p;
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0.0f;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
    size_t mstr = mstride(w), npix = (size_t)p->oh * p->ow;
    size_t ldy = (size_t)w->ldm;
    int nc = c1 - c0;
    for (int t = t0; t < t1; t++) {
        int ty = t / w->ntx, tx = t % w->ntx, tm = w->m;
        w->out(m + (size_t)(t - t0) * w->ldm + c0, mstr, w->bias + c0, lo, hi, y, ldy, nc);
        int rows = p->oh - tm * ty < tm ? p->oh - tm * ty : tm;
        int cols = p->ow - tm * tx < tm ? p->ow - tm * tx : tm;
        float *o = out + (size_t)c0 * npix + (size_t)(tm * ty) * p->ow + tm * tx;
        if (tm == 4 && rows == 4 && cols == 4) {
            for (int c = 0; c < nc; c++, o += npix) {
                const float *yc = y + c;
                for (int r = 0; r < 4; r++) {
                    float *orow = o + (size_t)r * p->ow;
                    orow[0] = yc[(size_t)(4 * r) * ldy];
                    orow[1] = yc[(size_t)(4 * r + 1) * ldy];
                    orow[2] = yc[(size_t)(4 * r + 2) * ldy];
                    orow[3] = yc[(size_t)(4 * r + 3) * ldy];
                }
            }
        } else {
            for (int c = 0; c < nc; c++, o += npix)
                for (int r = 0; r < rows; r++)
                    for (int s = 0; s < cols; s++)
                        o[(size_t)r * p->ow + s] = y[(size_t)(tm * r + s) * ldy + c];
        }
    }
}

static void wino_task(void *ctx, int task, int thread)
{
    const wino_job *j = ctx;
    const wino_plan *w = j->w;
    int blk = task / j->nch, ch = task % j->nch;
    int t0 = blk * w->tb, t1 = t0 + w->tb < w->ntiles ? t0 + w->tb : w->ntiles;
    int nq = w->mp / w->ar->nr;
    int q0 = ch * j->chp, q1 = q0 + j->chp < nq ? q0 + j->chp : nq;
    if (t0 >= t1 || q0 >= q1) return;
    float *base = (float *)(j->scratch + (size_t)thread * sz_thread(w) * sizeof(float));
    float *v = base, *m = v + sz_v(w), *lines = m + sz_m(w), *y = lines + sz_l(w);
    wino_input(w, j->in, t0, t1, 0, w->p.cin, v, lines, 0);
    wino_gemm(w, v, m, t1 - t0, q0, q1);
    int c0 = q0 * w->ar->nr, c1 = q1 * w->ar->nr < w->p.cout ? q1 * w->ar->nr : w->p.cout;
    wino_output(w, m, t0, t1, c0, c1, y, j->out);
}

/* lazy, phase 1: V of every tile for input channels [c0, c1) */
static void lazy_input_task(void *ctx, int task, int thread)
{
    const wino_job *j = ctx;
    const wino_plan *w = j->w;
    int per = (w->p.cin + j->nch - 1) / j->nch;
    int c0 = task * per, c1 = c0 + per < w->p.cin ? c0 + per : w->p.cin;
    float *v = (float *)j->scratch, *m = v + sz_v(w);
    float *lines = m + sz_m(w) + (size_t)thread * sz_lazy_thread(w);
    for (int b = 0; b < j->nimg && c0 < c1; b++)
        wino_input(w, j->in + (size_t)b * j->in_img, 0, w->ntiles, c0, c1, v, lines, b * j->ntp);
}

/* lazy, phase 2: for NR-channel panels [q0, q1), LAZY_ROWS rows of U at a
 * time per k block and panel (kc x NR each, kept in L2), their products
 * for every image (the transform made once for them all), then the output
 * transform.  Each image's tiles go through the same calls as alone: its
 * results do not depend on the batch. */
static void lazy_task(void *ctx, int task, int thread)
{
    const wino_job *j = ctx;
    const wino_plan *w = j->w;
    const gemm_arch *ar = w->ar;
    int mr = ar->mr, nr = ar->nr, cin = w->p.cin, cout = w->p.cout, nt = w->ntiles;
    int nq = w->mp / nr, q0 = task * j->chp, q1 = q0 + j->chp < nq ? q0 + j->chp : nq;
    if (q0 >= q1) return;
    float *v = (float *)j->scratch, *m = v + sz_v(w);
    float *lines = m + sz_m(w) + (size_t)thread * sz_lazy_thread(w);
    float *y = lines + sz_l(w), *ub = y + sz_y(w);
    size_t vstr = vstride(w), mstr = mstride(w);
    gemm_epi ep = { .alpha = 1.0f, .beta = 0.0f };
    for (int q = q0; q < q1; q++) {
        int nv = cout - q * nr < nr ? cout - q * nr : nr;
        for (int kb = 0; kb < w->nb; kb++) {
            int k0 = kb * w->kcl, kc = cin - k0 < w->kcl ? cin - k0 : w->kcl;
            size_t off = (size_t)k0 * w->mp + (size_t)q * nr * kc;
            size_t us = ustride(w);           /* (kc x NR panels, odd lines apart) */
            ep.first = kb == 0;
            ep.last = kb == w->nb - 1;
            for (int h = 0; h < 6; h += LAZY_ROWS) {
                for (int ci = 0; ci < kc; ci++)
                    w->wt(w->u + w->taps * (off + (size_t)ci * nr), (size_t)nr, h, h + LAZY_ROWS,
                          ub + (size_t)ci * nr, us, nr);
                for (int x = 6 * h; x < 6 * (h + LAZY_ROWS); x++) {
                    const float *vx = v + x * vstr + (size_t)k0 * w->tbp;
                    const float *bq = ub + (size_t)(x - 6 * h) * us;
                    float *mx = m + x * mstr + (size_t)q * nr;
                    for (int b = 0; b < j->nimg; b++) {
                        size_t r0 = (size_t)b * j->ntp;
                        for (int i = 0; i < nt; i += mr) {
                            int mv = nt - i < mr ? nt - i : mr;
                            gemm_tile(ar, kc, vx + (r0 + (size_t)i) * kc, bq,
                                      mx + (r0 + (size_t)i) * w->ldm, (size_t)w->ldm, mv, nv, &ep);
                        }
                    }
                }
            }
        }
    }
    int c0 = q0 * nr, c1 = q1 * nr < cout ? q1 * nr : cout;
    for (int b = 0; b < j->nimg; b++)
        wino_output(w, m + (size_t)b * j->ntp * w->ldm, 0, nt, c0, c1, y,
                    j->out + (size_t)b * j->out_img);
}

static void wino_run_kept(const wino_plan *w, const float *in, float *out, void *scratch,
                          threadpool *tp);

void wino_run(const wino_plan *w, const float *in, float *out, void *scratch, threadpool *tp)
{
    wino_run_n(w, 1, in, 0, out, 0, scratch, tp);
}

void wino_run_n(const wino_plan *w, int nimg, const float *in, size_t in_img, float *out,
                size_t out_img, void *scratch, threadpool *tp)
{
    if (nimg < 1)
        return;
    if (w->lazy) {
        wino_plan bv = batch_view(w, nimg);
        int nt = tp_size(tp), nq = w->mp / w->ar->nr;
        wino_job j = { &bv, in, out, scratch, nt > 1 ? 2 * nt : 1, 1, nimg, w->tbp, in_img, out_img };
        if (j.nch > w->p.cin) j.nch = w->p.cin;
        tp_run(tp, j.nch, lazy_input_task, &j);
        /* panels per task: two tasks per thread when there are enough,
         * fewer panels when the tasks would not share out evenly
         * (SqueezeNet's fire6/7: 6 panels in 3 tasks of 2 left one
         * thread 4 of them; 6 tasks of 1: 0.154-0.163 -> 0.13 ms at 2
         * threads) */
        int tasks = nt > 1 ? 2 * nt : 1;
        if (tasks > nq) tasks = nq;
        j.chp = tp_chunk(nq, (nq + tasks - 1) / tasks, nt);
        tp_run(tp, (nq + j.chp - 1) / j.chp, lazy_task, &j);
        return;
    }
    for (int b = 0; b < nimg; b++)
        wino_run_kept(w, in + (size_t)b * in_img, out + (size_t)b * out_img, scratch, tp);
}

/* Filters kept transformed: tile blocks (and channel ranges) as tasks. */
static void wino_run_kept(const wino_plan *w, const float *in, float *out, void *scratch,
                          threadpool *tp)
{
    int nt = tp_size(tp), nq = w->mp / w->ar->nr;
    wino_job j = { w, in, out, scratch, 1, nq, 1, 0, 0, 0 };
    /* Fewer than two blocks per thread: split the output channels too
     * (each part transforms the block's input again, a small cost next to
     * its share of the products). */
    if (nt > 1 && w->nblk < 2 * nt) {
        int nch = (2 * nt + w->nblk - 1) / w->nblk;
        if (nch > nq) nch = nq;
        j.chp = (nq + nch - 1) / nch;
        j.nch = (nq + j.chp - 1) / j.chp;
    }
    tp_run(tp, w->nblk * j.nch, wino_task, &j);
}
