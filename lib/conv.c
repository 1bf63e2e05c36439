/* conv.c - convolution: weights packed once by conv_prepare(), then
 * conv_run() per image with the implementation chosen for the shape and
 * the CPU.
 *
 * Implementations:
 *   "ref"        lib/ref/conv2d.c, any shape (reference = 1, or fallback)
 *   "depthwise"  group == cin == cout: direct, one channel per task
 *   "gemm"       out[co][n] = sum_k W[co][k] col[k][n] per group; 1x1
 *                stride-1 unpadded convs read the input as col directly,
 *                others im2col a tile of columns into per-thread scratch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

enum { IMPL_REF, IMPL_DW, IMPL_GEMM };

struct conv_kernel {
    conv_params p;
    int impl;
    int direct;          /* gemm: 1x1 s1 no pad, input is the B matrix */
    int cig, cog, kk;    /* channels per group, K = cig*kh*kw */
    size_t npix;         /* oh * ow */
    float *w;            /* cout x cig x kh x kw (as given) */
    float *bias;         /* cout or NULL */
    size_t wbytes;
};

#define TILE_N 64        /* output columns per gemm task */

static int conv_check(const conv_params *p, err_t *e)
{
    if (p->cin <= 0 || p->h <= 0 || p->w <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0)
        return err_set(e, "conv: empty or negative shape");
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0)
        return err_set(e, "conv: kernel, stride and dilation must be positive");
    if (p->pt < 0 || p->pl < 0 || p->pb < 0 || p->pr < 0)
        return err_set(e, "conv: negative padding");
    if (p->group <= 0 || p->cin % p->group || p->cout % p->group)
        return err_set(e, "conv: group %d does not divide %d input and %d output channels",
                       p->group, p->cin, p->cout);
    if (p->act != ACT_NONE && p->act != ACT_RELU && p->act != ACT_CLIP)
        return err_set(e, "conv: unknown activation %d", p->act);
    /* Output size must agree with the input, kernel, stride and pads. */
    int64_t eh = ((int64_t)p->h + p->pt + p->pb - ((int64_t)p->kh - 1) * p->dh - 1);
    int64_t ew = ((int64_t)p->w + p->pl + p->pr - ((int64_t)p->kw - 1) * p->dw - 1);
    if (eh < 0 || ew < 0 || eh / p->sh + 1 != p->oh || ew / p->sw + 1 != p->ow)
        return err_set(e, "conv: output %dx%d does not match input %dx%d, kernel %dx%d, "
                       "stride %dx%d, dilation %dx%d, pads %d,%d,%d,%d",
                       p->oh, p->ow, p->h, p->w, p->kh, p->kw, p->sh, p->sw,
                       p->dh, p->dw, p->pt, p->pl, p->pb, p->pr);
    /* Every size the kernels compute must fit comfortably. */
    int64_t kk = (int64_t)(p->cin / p->group) * p->kh * p->kw;
    int64_t wn = kk * p->cout;
    int64_t in_n = (int64_t)p->cin * p->h * p->w;
    int64_t out_n = (int64_t)p->cout * p->oh * p->ow;
    if (kk > INT32_MAX / 64 || wn > INT32_MAX || in_n > INT32_MAX || out_n > INT32_MAX)
        return err_set(e, "conv: tensor too large");
    return 0;
}

conv_kernel *conv_prepare(const conv_params *p, const float *weights, const float *bias,
                          int reference, err_t *e)
{
    if (conv_check(p, e) < 0) return NULL;
    conv_kernel *k = calloc(1, sizeof *k);
    if (!k) {
        err_set(e, "conv: out of memory");
        return NULL;
    }
    k->p = *p;
    k->cig = p->cin / p->group;
    k->cog = p->cout / p->group;
    k->kk = k->cig * p->kh * p->kw;
    k->npix = (size_t)p->oh * p->ow;
    size_t wn = (size_t)k->kk * p->cout;
    k->w = malloc(wn * sizeof(float));
    if (bias) k->bias = malloc((size_t)p->cout * sizeof(float));
    if (!k->w || (bias && !k->bias)) {
        conv_free(k);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    memcpy(k->w, weights, wn * sizeof(float));
    if (bias) memcpy(k->bias, bias, (size_t)p->cout * sizeof(float));
    k->wbytes = wn * sizeof(float) + (bias ? (size_t)p->cout * sizeof(float) : 0);

    if (reference)
        k->impl = IMPL_REF;
    else if (p->group == p->cin && p->group == p->cout)
        k->impl = IMPL_DW;
    else
        k->impl = IMPL_GEMM;
    k->direct = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 &&
                p->pt == 0 && p->pl == 0 && p->pb == 0 && p->pr == 0 &&
                p->oh == p->h && p->ow == p->w;
    return k;
}

size_t conv_scratch_bytes(const conv_kernel *k, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (k->impl != IMPL_GEMM || k->direct) return 0;
    return (size_t)nthreads * k->kk * TILE_N * sizeof(float);
}

const char *conv_impl_name(const conv_kernel *k)
{
    switch (k->impl) {
    case IMPL_DW:   return "depthwise";
    case IMPL_GEMM: return k->direct ? "gemm-1x1" : "gemm-im2col";
    default:        return "ref";
    }
}

size_t conv_weight_bytes(const conv_kernel *k)
{
    return k ? k->wbytes : 0;
}

void conv_free(conv_kernel *k)
{
    if (!k) return;
    free(k->w);
    free(k->bias);
    free(k);
}

static inline float act1(const conv_params *p, float v)
{
    if (p->act == ACT_RELU) return v < 0.0f ? 0.0f : v;
    if (p->act == ACT_CLIP) return v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v;
    return v;
}

typedef struct {
    const conv_kernel *k;
    const float *in;
    float *out;
    char *scratch;
    int ntile;           /* column tiles per group */
} conv_job;

/* Columns [n0, n1) of the im2col matrix of group g: col[r][n - n0] for
 * r = (ci, ky, kx), zero where the kernel falls on padding. */
static void im2col_tile(const conv_kernel *k, const float *in, int g, int n0, int n1, float *col)
{
    const conv_params *p = &k->p;
    int tn = n1 - n0;
    for (int ci = 0; ci < k->cig; ci++) {
        const float *ip = in + (size_t)(g * k->cig + ci) * p->h * p->w;
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                float *c = col + ((size_t)(ci * p->kh + ky) * p->kw + kx) * tn;
                for (int n = n0; n < n1; n++) {
                    int oy = n / p->ow, ox = n % p->ow;
                    int iy = oy * p->sh - p->pt + ky * p->dh;
                    int ix = ox * p->sw - p->pl + kx * p->dw;
                    c[n - n0] = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                                ? ip[(size_t)iy * p->w + ix] : 0.0f;
                }
            }
    }
}

static void gemm_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    int g = task / j->ntile, t = task % j->ntile;
    int n0 = t * TILE_N, n1 = n0 + TILE_N;
    if ((size_t)n1 > k->npix) n1 = (int)k->npix;
    int tn = n1 - n0;
    const float *col;
    size_t ldcol;
    if (k->direct) {
        col = j->in + (size_t)g * k->cig * k->npix + n0;
        ldcol = k->npix;
    } else {
        float *c = (float *)(j->scratch + (size_t)thread * k->kk * TILE_N * sizeof(float));
        im2col_tile(k, j->in, g, n0, n1, c);
        col = c;
        ldcol = (size_t)tn;
    }
    float acc[TILE_N];
    for (int co = g * k->cog; co < (g + 1) * k->cog; co++) {
        const float *w = k->w + (size_t)co * k->kk;
        float b = k->bias ? k->bias[co] : 0.0f;
        for (int x = 0; x < tn; x++) acc[x] = b;
        for (int r = 0; r < k->kk; r++) {
            float wv = w[r];
            const float *restrict cr = col + r * ldcol;
            for (int x = 0; x < tn; x++) acc[x] += wv * cr[x];
        }
        float *o = j->out + (size_t)co * k->npix + n0;
        for (int x = 0; x < tn; x++) o[x] = act1(p, acc[x]);
    }
}

/* Depthwise: channel c of the output from channel c of the input. */
static void dw_task(void *ctx, int c, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    const float *ip = j->in + (size_t)c * p->h * p->w;
    const float *w = k->w + (size_t)c * p->kh * p->kw;
    float b = k->bias ? k->bias[c] : 0.0f;
    float *o = j->out + (size_t)c * k->npix;
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            float s = b;
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->sh - p->pt + ky * p->dh;
                if (iy < 0 || iy >= p->h) continue;
                for (int kx = 0; kx < p->kw; kx++) {
                    int ix = ox * p->sw - p->pl + kx * p->dw;
                    if (ix < 0 || ix >= p->w) continue;
                    s += ip[(size_t)iy * p->w + ix] * w[ky * p->kw + kx];
                }
            }
            o[(size_t)oy * p->ow + ox] = act1(p, s);
        }
}

void conv_run(const conv_kernel *k, const float *in, float *out, void *scratch, threadpool *tp)
{
    conv_job j = { k, in, out, scratch, 0 };
    switch (k->impl) {
    case IMPL_DW:
        tp_run(tp, k->p.cout, dw_task, &j);
        break;
    case IMPL_GEMM:
        j.ntile = (int)((k->npix + TILE_N - 1) / TILE_N);
        tp_run(tp, k->p.group * j.ntile, gemm_task, &j);
        break;
    default:
        ref_conv2d(&k->p, in, k->w, k->bias, out);
        break;
    }
}
