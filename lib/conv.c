/* conv.c - convolution: weights packed once by conv_prepare(), then
 * conv_run() per image with the implementation chosen for the shape and
 * the CPU.
 *
 * Implementations:
 *   "ref"        lib/ref/conv2d.c, any shape (reference = 1, or fallback)
 *   "depthwise"  group == cin == cout: direct, one channel per task, each
 *                tap one contiguous vector run (kern_dw.h)
 *   "gemm"       out[co][n] = sum_k W[co][k] col[k][n] per group, on the
 *                packed GEMM core (kern_gemm.h): weights packed here into
 *                MR-row panels with the bias padded beside them; each task
 *                im2cols its k block x column range straight into NR-column
 *                panels (1x1 stride-1 convs just copy input rows), bias and
 *                activation applied by the micro-kernel's epilogue.
 *   "pixels"     k x k convs on small maps (7x7: few output columns, many
 *                channels, K >= 1024):
 *                the transposed product out^T[n][co] = col^T W^T, vectors
 *                along the output channels, so 49 pixels waste 7 of 56
 *                rows instead of 15 of 64 columns; weights packed
 *                transposed here, out^T kept in scratch, then bias,
 *                activation and the transpose in one pass.  With threads,
 *                col^T is packed once (k blocks spread over them) before
 *                the channel panels are shared out.  Group 1 only.
 *   "winograd"   3x3 stride-1 group-1 convs on maps of 14x14 and more:
 *                Winograd F(4x4, 3x3) (conv_wino.c, kern_wino.h), 36
 *                products in the transformed domain on the same GEMM
 *                micro-kernels, 4x fewer multiply-adds; filters kept
 *                transformed on maps of 28x28 and more, transformed per
 *                run ("winograd-lazy") below (conv_wino_pays).  5x5
 *                stride-1 convs as F(2x2, 5x5), 2.8x fewer.
 */
#include <math.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "transpose16.h"
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "kern_gemm.h"
#include "kern_grid.h"
#include "kern_dw.h"
#include "kern_wino.h"
#include "kmem.h"
#include "kern_direct.h"

enum { IMPL_REF, IMPL_DW, IMPL_GEMM, IMPL_PIX, IMPL_WINO, IMPL_DIRECT };

/* Depthwise layers left lazy have at most this many taps (7x7). */
#define DW_LAZY_TAPS 64

struct conv_kernel {
    conv_params p;
    int impl;
    int direct;          /* gemm: 1x1 s1 no pad, input is the B matrix */
    int cig, cog, kk;    /* channels per group, K = cig*kh*kw */
    size_t npix;         /* oh * ow */
    float *w;            /* cout x cig x kh x kw (as given), ref and depthwise */
    float *bias;         /* cout or NULL */
    const gemm_arch *ar; /* gemm: micro-kernel */
    int mpg;             /* gemm: rows per group padded to whole panels */
    float *apack;        /* gemm: group x mpg x kk, MR-row panels */
    float *bpad;         /* gemm: group x mpg biases, or NULL */
    float *wt;           /* pixels: W^T in NR-column panels by k block */
    int mp;              /* pixels: cout rounded up to NR */
    int level;           /* depthwise: SIMD level */
    dw_plan dw;          /* depthwise: plane layout; pixels: flat masks */
    int flatcols;        /* pixels: col^T packed by dw_flat_cols */
    int planes;          /* gemm, stride 2: im2col from stride-phase planes */
    wino_plan *wino;     /* winograd: transformed weights */
    direct_plan *dp;     /* direct: few input channels (conv_direct.c) */
    size_t wbytes;
    int lazy;            /* gemm, pixels: no apack / wt, panels packed per run from lsrc */
    conv_wsrc lsrc;      /* lazy: the weights, scale pointing at lscale */
    float *lscale;       /* lazy: a folded BatchNormalization's scale, or NULL */
};

/* tells s->done that rows [co0, co1) (K values each) are packed */
static void rows_done(const conv_wsrc *s, int co0, int co1, size_t K)
{
    if (s->done && co1 > co0)
        s->done(s->ctx, (const char *)s->w + (size_t)co0 * K * sizeof(float),
                (size_t)(co1 - co0) * K * sizeof(float));
}

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
    /* and the zero-padded input, whose extents bound every index the
     * im2col and depthwise code form in int */
    int64_t ph = (int64_t)p->h + p->pt + p->pb, pw = (int64_t)p->w + p->pl + p->pr;
    if (kk > INT32_MAX / 64 || wn > INT32_MAX || in_n > INT32_MAX || out_n > INT32_MAX ||
        ph > INT32_MAX / 4 || pw > INT32_MAX / 4 || ph * pw > INT32_MAX / 4)
        return err_set(e, "conv: tensor too large");
    return 0;
}

/* Fraction of the micro-kernel's work that is real output, computed as
 * out[co][n] (column tiles of NR pixels) or as out^T[n][co] (row tiles of
 * MR pixels, column tiles of NR channels): the transposed form wins on
 * small maps. */
static int conv_pixels_pays(const conv_kernel *k)
{
    int mr = k->ar->mr, nr = k->ar->nr;
    double n = (double)k->npix, m = k->cog;
    double col = n / ((k->npix + nr - 1) / nr * nr);
    double pix = n / ((k->npix + mr - 1) / mr * mr) * (m / ((k->cog + nr - 1) / nr * nr));
    /* Measured (AVX-512, 1 core): the transposed form wins on 7x7 maps
     * with K >= 1024 (GoogLeNet 5a/5b 3x3: 66 -> 76 GFLOP/s, ResNet-18
     * 512x7x7: 62 -> 75) and loses on 14x14 maps and smaller K, where
     * packing col^T and the final transpose cost more than the padding
     * saved.  1x1 convs read their input in place as column tiles. */
    return nr > mr && k->kk >= 1024 && k->npix <= 64 &&
           !(k->direct && k->ar->ukr_direct) && pix > col + 0.05;
}

#if defined(__x86_64__)
/* Values off .. off + 15 of weight row co (K a row) of s, those of mask m
 * (the others zero), times the row's scale. */
__attribute__((target("avx512f"), always_inline))
static inline __m512 wsrc_load16(const conv_wsrc *s, size_t K, int co, size_t off, __mmask16 m)
{
    __m512 v = _mm512_maskz_loadu_ps(m, (const char *)s->w + ((size_t)co * K + off) * sizeof(float));
    return s->scale ? _mm512_mul_ps(v, _mm512_set1_ps(s->scale[co])) : v;
}

/* Panel q of W^T for k block [k0, k0+kc) into d (kc x NR), 16 output
 * channels by 16 rows of K at a time through one transpose; stream: past
 * the caches (for conv_pack_wt_avx512's large forms). */
__attribute__((target("avx512f")))
static void pack_wt_panel_avx512(const conv_kernel *k, const conv_wsrc *s, int q, int k0, int kc,
                                 float *d, int stream)
{
    int nr = k->ar->nr, K = k->kk, cout = k->p.cout;
    for (int r0 = 0; r0 < kc; r0 += 16) {
        int n = kc - r0 < 16 ? kc - r0 : 16;
        __mmask16 m = (__mmask16)((1u << n) - 1);
        for (int j0 = 0; j0 < nr; j0 += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++) {
                int co = q * nr + j0 + i;
                v[i] = co < cout ? wsrc_load16(s, (size_t)K, co, (size_t)(k0 + r0), m)
                                 : _mm512_setzero_ps();
            }
            transpose16(v);
            float *o = d + (size_t)r0 * nr + j0;
            if (stream)
                for (int i = 0; i < n; i++)
                    _mm512_stream_ps(o + (size_t)i * nr, v[i]);
            else
                for (int i = 0; i < n; i++)
                    _mm512_storeu_ps(o + (size_t)i * nr, v[i]);
        }
    }
}

/* conv_pack_wt with AVX-512: blocks of 16 output channels by 16 rows of
 * K, transposed in registers and stored as 16 whole 64-byte runs, where
 * the scalar loop stored one float per 128-byte panel row.  Every 16-wide
 * block of a panel row is done before the next rows, so each destination
 * line is written whole at once; a large form (a megabyte and more) is
 * stored past the caches (streaming stores: no line read before it is
 * written), as the layers' first run reads it from memory anyway. */
__attribute__((target("avx512f")))
static void conv_pack_wt_avx512(conv_kernel *k, const conv_wsrc *s)
{
    int nr = k->ar->nr, K = k->kk, cout = k->p.cout;
    int nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    int stream = (uintptr_t)k->wt % 64 == 0 && (size_t)K * k->mp * sizeof(float) >= ((size_t)1 << 20);
    for (int q = 0; q < k->mp / nr; q++)
        for (int k0 = 0; k0 < K; k0 += kcl) {
            int kc = K - k0 < kcl ? K - k0 : kcl;
            pack_wt_panel_avx512(k, s, q, k0, kc, k->wt + (size_t)k0 * k->mp + (size_t)q * nr * kc,
                                 stream);
            if (k0 + kc == K)
                rows_done(s, q * nr, (q + 1) * nr < cout ? (q + 1) * nr : cout, (size_t)K);
        }
    if (stream)
        _mm_sfence();           /* the streamed lines before anything after */
}
#endif

/* One NR-column panel q of W^T for k block [k0, k0+kc) into d (kc x NR),
 * the values conv_pack_wt stores there: for a lazy "pixels" kernel, per
 * run, into a buffer of the task's. */
static void pack_wt_panel(const conv_kernel *k, const conv_wsrc *s, int q, int k0, int kc, float *d)
{
    int nr = k->ar->nr, K = k->kk, cout = k->p.cout;
#if defined(__x86_64__)
    if (k->ar->level >= SIMD_AVX512 && nr % 16 == 0) {
        pack_wt_panel_avx512(k, s, q, k0, kc, d, 0);
        return;
    }
#endif
    for (int j = 0; j < nr; j++) {
        int co = q * nr + j;
        if (co >= cout) {
            for (int r = 0; r < kc; r++) d[(size_t)r * nr + j] = 0.0f;
            continue;
        }
        const char *src = (const char *)s->w + ((size_t)co * K + (size_t)k0) * sizeof(float);
        for (int r = 0; r < kc; r++) {
            float v;
            memcpy(&v, src + (size_t)r * sizeof(float), sizeof v);
            d[(size_t)r * nr + j] = s->scale ? v * s->scale[co] : v;
        }
    }
}

/* W^T (K x cout) in NR-column panels by k block: element (r, co) at
 * wt[k0*mp + q*NR*kc + (r-k0)*NR + j], co = q*NR + j, zero past cout. */
static int conv_pack_wt(conv_kernel *k, const conv_wsrc *w)
{
#if defined(__x86_64__)
    if (k->ar->level >= SIMD_AVX512 && k->ar->nr % 16 == 0) {
        conv_pack_wt_avx512(k, w);
        return 0;
    }
#endif
    /* One weight row (output channel) at a time, read in order: the
     * destination panel (K x NR floats, 288 KB for K = 4608) stays in
     * cache while its NR rows are scattered into it, whereas reading NR
     * rows K floats apart at once missed on every line. */
    int nr = k->ar->nr, K = k->kk, cout = k->p.cout;
    int nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    float *row = malloc((size_t)K * sizeof *row);
    if (!row)
        return -1;
    for (int q = 0; q < k->mp / nr; q++)
        for (int j = 0; j < nr; j++) {
            int co = q * nr + j;
            const float *src = co < cout ? row : NULL;
            if (src)
                conv_wsrc_row(w, co, (size_t)K, row);
            for (int k0 = 0; k0 < K; k0 += kcl) {
                int kc = K - k0 < kcl ? K - k0 : kcl;
                float *d = k->wt + (size_t)k0 * k->mp + (size_t)q * nr * kc + j;
                if (src)
                    for (int r = 0; r < kc; r++) d[(size_t)r * nr] = src[k0 + r];
                else
                    for (int r = 0; r < kc; r++) d[(size_t)r * nr] = 0.0f;
            }
            if (src)
                rows_done(w, co, co + 1, (size_t)K);
        }
    free(row);
    return 0;
}

void conv_wsrc_row(const conv_wsrc *s, int co, size_t n, float *dst)
{
    const char *src = (const char *)s->w + (size_t)co * n * sizeof(float);
    if (!s->scale) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    /* copied and scaled in one pass, 8 at a time (the compiler's vectors) */
    float f = s->scale[co];
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float v[8];
        memcpy(v, src + i * sizeof(float), sizeof v);
        for (int j = 0; j < 8; j++)
            dst[i + j] = v[j] * f;
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, src + i * sizeof(float), sizeof v);
        dst[i] = v * f;
    }
}

#if defined(__x86_64__)
/* pack_a_panel with AVX-512 (MR = 8): 32 values of each of a panel's 8
 * rows, scaled, go through one 16 x 16 transpose (rows 0-7 the first 16,
 * rows 8-15 the next 16 of the same 8 weight rows) and come out as 32
 * columns of 8, stored whole: the scalar panel packer moved one float at
 * a time, which cost MobileNetV2's first run about 2.5 ms of CPU. */
__attribute__((target("avx512f")))
static void pack_a_panel_avx512(const conv_kernel *k, int g, const conv_wsrc *s, int p0, int k0,
                                int kc, float *d)
{
    int K = k->kk;
    int mv = k->cog - p0 < 8 ? k->cog - p0 : 8;
    for (int r0 = 0; r0 < kc; r0 += 32) {
        int n = kc - r0 < 32 ? kc - r0 : 32;
        int n1 = n < 16 ? n : 16, n2 = n - n1;
        __mmask16 m1 = (__mmask16)((1u << n1) - 1), m2 = (__mmask16)((1u << n2) - 1);
        __m512 v[16];
        for (int i = 0; i < 8; i++) {
            if (i >= mv) {
                v[i] = v[i + 8] = _mm512_setzero_ps();
                continue;
            }
            int co = g * k->cog + p0 + i;
            v[i] = wsrc_load16(s, (size_t)K, co, (size_t)(k0 + r0), m1);
            v[i + 8] = wsrc_load16(s, (size_t)K, co, (size_t)(k0 + r0 + 16), m2);
        }
        transpose16(v);
        for (int j = 0; j < n1; j++)
            _mm256_storeu_ps(d + (size_t)(r0 + j) * 8, _mm512_castps512_ps256(v[j]));
        for (int j = 0; j < n2; j++)
            _mm256_storeu_ps(d + (size_t)(r0 + 16 + j) * 8,
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[j]), 1)));
    }
}
#endif

/* One MR-row panel (rows p0.. of group g) of k block [k0, k0+kc) into d
 * (kc x MR, rows past the group's zero), the values conv_wsrc_row gives,
 * read where the weights are: for the packed form and, per run, for a
 * lazy kernel. */
static void pack_a_panel(const conv_kernel *k, int g, const conv_wsrc *s, int p0, int k0, int kc,
                         float *d)
{
#if defined(__x86_64__)
    if (k->ar->level >= SIMD_AVX512 && k->ar->mr == 8) {
        pack_a_panel_avx512(k, g, s, p0, k0, kc, d);
        return;
    }
#endif
    int mr = k->ar->mr, mv = k->cog - p0 < mr ? k->cog - p0 : mr;
    size_t K = (size_t)k->kk;
    for (int i = 0; i < mr; i++) {
        int co = g * k->cog + p0 + i;
        const char *src = (const char *)s->w + ((size_t)co * K + (size_t)k0) * sizeof(float);
        float f = i < mv && s->scale ? s->scale[co] : 1.0f;
        for (int r = 0; r < kc; r++) {
            float v = 0.0f;
            if (i < mv) {
                memcpy(&v, src + (size_t)r * sizeof(float), sizeof v);
                if (s->scale)
                    v *= f;
            }
            d[(size_t)r * mr + i] = v;
        }
    }
}

/* gemm_packa_fn of a lazy kernel (group 1): rows [m0, m1), k block
 * [k0, k0+kc) packed from the weights as they are */
static void conv_packa_lazy(void *ctx, int m0, int m1, int k0, int kc, float *ap)
{
    const conv_kernel *k = ctx;
    for (int p0 = m0; p0 < m1; p0 += k->ar->mr)
        pack_a_panel(k, 0, &k->lsrc, p0, k0, kc, ap + (size_t)(p0 - m0) * kc);
}

/* The A panels of every group (cog x kk rows each, as gemm_pack_a lays
 * them out) from w, panel by panel and k block by k block, each panel's
 * rows told done once packed. */
static void conv_pack_a(conv_kernel *k, const conv_wsrc *w)
{
    int mr = k->ar->mr, K = k->kk;
    int nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    for (int g = 0; g < k->p.group; g++) {
        float *ap = k->apack + (size_t)g * k->mpg * K;
        for (int p0 = 0; p0 < k->mpg; p0 += mr) {
            for (int k0 = 0; k0 < K; k0 += kcl) {
                int kc = K - k0 < kcl ? K - k0 : kcl;
                pack_a_panel(k, g, w, p0, k0, kc, ap + (size_t)k0 * k->mpg + (size_t)p0 * kc);
            }
            int co0 = g * k->cog + p0;
            rows_done(w, co0, co0 + (k->cog - p0 < mr ? k->cog - p0 : mr), (size_t)K);
        }
    }
}

/* Whether a 3x3 (5x5) stride-1 group-1 conv runs as Winograd F(4x4, 3x3)
 * (F(2x2, 5x5))
 * rather than im2col GEMM: 0 no, 1 with the transformed filters kept, 2
 * with the filters transformed in every run ("lazy").  CAM_WINO=0 in the
 * environment turns it off, CAM_WINO=1 or 2 forces that form on every
 * such shape (tests, measurements).
 *
 * Measured (AVX-512, 1 core, bench_kernels -c, medians of 20): kept
 * filters win on every 3x3 layer of GoogLeNet, ResNet-18 and SqueezeNet,
 * 2-3x on 56x56 to 14x14 maps (GoogLeNet 64x56x56 -> 192: 8.5 -> 3.2 ms,
 * 160x14x14 -> 320: 2.3 -> 0.77-0.99 ms), 1.1-2x on 7x7 ones (ResNet-18
 * 512x7x7: 3.0 -> 2.6 ms).  But they take 4x the memory (36 values per
 * 9), and the time saved per byte held is proportional to the map's
 * pixels: 3.8 ms per MB on 56x56 maps, 0.9 on 28x28, 0.25 on 14x14, 0.05
 * on 7x7.  Within the peak-memory bounds of memory.t (1.5 x (weights +
 * two largest activations): GoogLeNet +5.3 MB of its 10 MB margin,
 * ResNet-18 +7.1 MB of 12.5) only maps of 28x28 and up keep them.
 * Smaller maps with at least 16 tiles (14x14) transform the filters per
 * run: 1.4-1.8x faster than GEMM (ResNet-18 256x14x14: 2.6 -> 1.85 ms,
 * GoogLeNet 160x14x14 -> 320: 2.3 -> 1.25 ms); on 7x7 maps (4 tiles) the
 * filter transform costs more than it saves (512x7x7: 3.3 -> 5.5 ms), so
 * those keep the pixels/GEMM forms.  Few channels leave the products too
 * thin to pay for the transforms.  5x5 convs run as F(2x2, 5x5), 36
 * values per 25, kept: 1.2-2.3x faster than GEMM on every 5x5 layer of
 * GoogLeNet, 7x7 maps included (32x28x28 -> 96: 1.34 -> 0.65 ms, 48x7x7
 * -> 128: 0.15 -> 0.09 ms), for 1 MB more memory there.  p->wino_keep
 * (cnn-features -fast) keeps them on every map size, speed over memory. */
static int conv_wino_pays(const conv_params *p)
{
    const char *env = getenv("CAM_WINO");
    if (env && env[0] == '0') return 0;
    if (env && env[0] == '1') return 1;
    if (env && env[0] == '2') return 2;
    if (p->cin < 16 || p->cout < 16) return 0;
    if (p->kh == 5 || p->wino_keep) return 1;
    if ((long)p->oh * p->ow >= 28 * 28) return 1;
    return ((p->oh + 3) / 4) * ((p->ow + 3) / 4) >= 16 ? 2 : 0;
}

conv_kernel *conv_prepare(const conv_params *p, const float *weights, const float *bias,
                          int reference, err_t *e)
{
    conv_wsrc w = {weights, NULL, NULL, NULL};
    return conv_prepare_src(p, weights ? &w : NULL, bias, reference, e);
}

/* The implementation for p, but for the GEMM form's transposed variant
 * ("pixels"), which depends on the CPU's tiles: the reference kernel,
 * depthwise, direct (few input channels, first convs: no im2col,
 * kern_direct.h), Winograd (*wino: conv_wino_pays's mode) or GEMM. */
static int conv_form(const conv_params *p, int reference, int *wino)
{
    *wino = 0;
    if (reference)
        return IMPL_REF;
    if (p->group == p->cin && p->group == p->cout)
        return IMPL_DW;
    if (direct_pays(p))
        return IMPL_DIRECT;
    if (wino_shape_ok(p) && (*wino = conv_wino_pays(p)))
        return IMPL_WINO;
    return IMPL_GEMM;
}

/* lazy (p->lazy, a form that can, not replaying): the weights stay where they are,
 * packed per run; their scales copied.  0, or -1 when out of memory. */
static int conv_keep_src(conv_kernel *k, const conv_params *p, const conv_wsrc *weights, int form_ok)
{
    k->lazy = p->lazy && form_ok && !kmem_replaying() && weights;
    if (!k->lazy)
        return 0;
    k->lsrc = *weights;
    if (weights->scale) {
        if (!(k->lscale = malloc((size_t)p->cout * sizeof(float))))
            return -1;
        memcpy(k->lscale, weights->scale, (size_t)p->cout * sizeof(float));
        k->lsrc.scale = k->lscale;
    }
    return 0;
}

conv_kernel *conv_prepare_src(const conv_params *p, const conv_wsrc *weights, const float *bias,
                              int reference, err_t *e)
{
    if (conv_check(p, e) < 0) return NULL;
    if ((!weights || !weights->w) && !kmem_replaying()) {
        err_set(e, "conv: no weights");
        return NULL;
    }
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
    int wino = 0;
    k->impl = conv_form(p, reference, &wino);
    k->direct = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 &&
                p->pt == 0 && p->pl == 0 && p->pb == 0 && p->pr == 0 &&
                p->oh == p->h && p->ow == p->w;

    if (k->impl == IMPL_DW) {
        k->level = simd_level();
        if (dw_plan_init(&k->dw, p) < 0) {
            conv_free(k);
            err_set(e, "conv: out of memory");
            return NULL;
        }
    }
    if (k->impl == IMPL_DIRECT) {
        if (!(k->dp = direct_prepare(p, simd_level(), weights, bias, e))) {
            conv_free(k);
            return NULL;
        }
        k->wbytes = direct_weight_bytes(k->dp);
        return k;
    }
    if (k->impl == IMPL_WINO) {
        k->ar = gemm_arch_get(simd_level());
        k->wino = wino_prepare(p, k->ar, simd_level(), weights, bias, wino == 2, e);
        if (!k->wino) {
            conv_free(k);
            return NULL;
        }
        k->wbytes = wino_weight_bytes(k->wino);
        return k;
    }
    if (k->impl == IMPL_GEMM) {
        const gemm_arch *ar = k->ar = gemm_arch_get(simd_level());
        int mr = ar->mr;
        k->mpg = (k->cog + mr - 1) / mr * mr;
        if (p->group == 1 && conv_pixels_pays(k)) {
            /* the transposed form: W^T packed as B, bias kept; decided
             * before packing so the A panels are never built */
            k->impl = IMPL_PIX;
            k->mp = (p->cout + ar->nr - 1) / ar->nr * ar->nr;
            size_t wn2 = (size_t)k->mp * k->kk;
            if (conv_keep_src(k, p, weights, 1) < 0 || wn2 > SIZE_MAX / sizeof(float) ||
                (!k->lazy && !(k->wt = kmem_get(wn2 * sizeof(float)))) ||
                (bias && !(k->bpad = calloc((size_t)k->mpg, sizeof(float))))) {
                conv_free(k);
                err_set(e, "conv: out of memory");
                return NULL;
            }
            if (!kmem_replaying() && !k->lazy && conv_pack_wt(k, weights) < 0) {
                conv_free(k);
                err_set(e, "conv: out of memory");
                return NULL;
            }
            if (bias) memcpy(k->bpad, bias, (size_t)k->cog * sizeof(float));
            k->wbytes = (k->lazy ? 0 : wn2 * sizeof(float)) +
                        (bias ? (size_t)k->mpg * sizeof(float) : 0);
            /* col^T of stride-1 convs on maps up to 64 pixels: one masked
             * load per 16 pixels and tap (kern_dw.h) */
            if (ar->mr == 8 && dw_plan_init(&k->dw, p) == 0 &&
                dw_flat_cols_ok(ar->level, &k->dw, p))
                k->flatcols = 1;
            return k;
        }
        size_t an = (size_t)p->group * k->mpg * k->kk;
        if (conv_keep_src(k, p, weights, p->group == 1) < 0 || an > SIZE_MAX / sizeof(float) ||
            (!k->lazy && !(k->apack = kmem_get(an * sizeof(float)))) ||
            (bias && !(k->bpad = calloc((size_t)p->group * k->mpg, sizeof(float))))) {
            conv_free(k);
            err_set(e, "conv: out of memory");
            return NULL;
        }
        if (!kmem_replaying() && !k->lazy)
            conv_pack_a(k, weights);
        for (int g = 0; g < p->group && bias; g++)
            memcpy(k->bpad + (size_t)g * k->mpg, bias + (size_t)g * k->cog,
                   (size_t)k->cog * sizeof(float));
        k->wbytes = (k->lazy ? 0 : an * sizeof(float)) +
                    (bias ? (size_t)p->group * k->mpg * sizeof(float) : 0);
        /* stride 2: the input split once per run into stride-phase
         * planes (kern_dw.h) makes every im2col run a plain copy */
        if (p->group == 1 && p->sw == 2 && !k->direct) {
            if (dw_plan_init(&k->dw, p) < 0) {
                conv_free(k);
                err_set(e, "conv: out of memory");
                return NULL;
            }
            k->planes = 1;
        }
        return k;
    }

    /* depthwise, lazy: each channel's taps made as it runs */
    if (conv_keep_src(k, p, weights, k->impl == IMPL_DW && p->kh * p->kw <= DW_LAZY_TAPS) < 0 ||
        (!k->lazy && !(k->w = kmem_get(wn * sizeof(float))))) {
        conv_free(k);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    if (bias && !(k->bias = malloc((size_t)p->cout * sizeof(float)))) {
        conv_free(k);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    size_t per = wn / (size_t)p->cout;
    for (int co = 0; co < p->cout && !kmem_replaying() && !k->lazy; co++)
        conv_wsrc_row(weights, co, per, k->w + (size_t)co * per);
    if (bias) memcpy(k->bias, bias, (size_t)p->cout * sizeof(float));
    k->wbytes = (k->lazy ? 0 : wn * sizeof(float)) + (bias ? (size_t)p->cout * sizeof(float) : 0);
    return k;
}

/* A lazy depthwise kernel's taps of channel c (ntap of them) into t, the
 * values conv_wsrc_row gives; else its stored ones. */
static const float *dw_taps(const conv_kernel *k, int c, int ntap, float *t)
{
    if (!k->lazy)
        return k->w + (size_t)c * ntap;
    conv_wsrc_row(&k->lsrc, c, (size_t)ntap, t);
    return t;
}

/* Floats of B panels one gemm task packs: a k block by at most
 * max(GEMM_NC_MAX, NR) columns, rounded to 64 bytes. */
static size_t conv_bstride(const conv_kernel *k)
{
    int nb = gemm_kblocks(k->kk, GEMM_KC_MAX), kcl = gemm_kblock_len(k->kk, nb);
    int nc = GEMM_NC_MAX > k->ar->nr ? GEMM_NC_MAX / k->ar->nr * k->ar->nr : k->ar->nr;
    return ((size_t)kcl * nc + 15) & ~(size_t)15;
}

/* lazy gemm: the A panels of one k block of a task's rows (at most
 * GEMM_MC_MAX of them; all: every row of the group, for the expand +
 * depthwise pair), per thread; 0 when the weights are packed */
static size_t conv_alazy_floats(const conv_kernel *k, int all)
{
    if (!k->lazy) return 0;
    int nb = gemm_kblocks(k->kk, GEMM_KC_MAX), kcl = gemm_kblock_len(k->kk, nb);
    size_t rows = (size_t)k->mpg;
    if (!all && rows > GEMM_MC_MAX) rows = GEMM_MC_MAX;
    return (rows * (size_t)kcl + 15) & ~(size_t)15;
}

/* gemm, stride 2: the planes of every input channel, shared */
static size_t conv_planes_floats(const conv_kernel *k)
{
    if (!k->planes) return 0;
    size_t per = (size_t)k->p.sh * k->p.sw * k->dw.plane;
    return ((size_t)k->p.cin * per + 15) & ~(size_t)15;
}

/* pixels: out^T (pixels rounded to MR) x mp, shared by the threads */
static size_t conv_ct_floats(const conv_kernel *k)
{
    size_t np = (k->npix + k->ar->mr - 1) / k->ar->mr * k->ar->mr;
    return (np * k->mp + 15) & ~(size_t)15;
}

/* pixels: one k block of col^T in MR-pixel panels, per thread */
static size_t conv_abuf_floats(const conv_kernel *k)
{
    int nb = gemm_kblocks(k->kk, GEMM_KC_MAX), kcl = gemm_kblock_len(k->kk, nb);
    size_t np = (k->npix + k->ar->mr - 1) / k->ar->mr * k->ar->mr;
    return ((size_t)kcl * np + 15) & ~(size_t)15;
}

/* lazy pixels: one panel of W^T for one k block, per thread (after
 * everything else of the scratch); 0 when the weights are packed */
static size_t conv_wlazy_floats(const conv_kernel *k)
{
    if (!k->lazy) return 0;
    int nb = gemm_kblocks(k->kk, GEMM_KC_MAX), kcl = gemm_kblock_len(k->kk, nb);
    return ((size_t)kcl * k->ar->nr + 15) & ~(size_t)15;
}

/* pixels: col^T packed whole, every k block at its fixed stride */
static size_t pix_shared_floats(const conv_kernel *k)
{
    return (size_t)gemm_kblocks(k->kk, GEMM_KC_MAX) * conv_abuf_floats(k);
}

/* pixels with threads: col^T packed once and shared when it is at most
 * 16 MB (ResNet-18's 512x7x7: 1 MB); a longer K packs per task as with
 * one thread rather than ask for that much scratch */
static int pix_shared(const conv_kernel *k)
{
    return pix_shared_floats(k) <= ((size_t)16 << 20) / sizeof(float);
}

size_t conv_scratch_bytes(const conv_kernel *k, int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    if (k->impl == IMPL_DW)
        return (size_t)nthreads * dw_scratch_floats(&k->dw, &k->p) * sizeof(float);
    if (k->impl == IMPL_WINO)
        return wino_scratch_bytes(k->wino, nthreads);
    if (k->impl == IMPL_DIRECT)
        return direct_scratch_bytes(k->dp, nthreads);
    if (k->impl == IMPL_PIX) {
        /* threads share col^T packed whole (pix_shared), else each packs
         * a k block at a time */
        size_t a = nthreads > 1 && pix_shared(k) ? pix_shared_floats(k)
                                                  : (size_t)nthreads * conv_abuf_floats(k);
        return (conv_ct_floats(k) + a + (size_t)nthreads * conv_wlazy_floats(k)) * sizeof(float);
    }
    if (k->impl != IMPL_GEMM) return 0;
    return (conv_planes_floats(k) + (size_t)nthreads * (conv_bstride(k) + conv_alazy_floats(k, 0))) *
           sizeof(float);
}

/* Images run together, at most: the scratch grows with them (V and M of
 * a lazy Winograd layer, about 1.3 MB an image for GoogLeNet's largest).
 * GoogLeNet, 1 thread, ms per image: one at a time 23.3-23.5, two at once
 * 22.4-22.9, four 22.6-23.0. */
#define CONV_NIMG_MAX 4

int conv_batches(const conv_kernel *k)
{
    return k->impl == IMPL_WINO && wino_lazy(k->wino);
}

size_t conv_scratch_bytes_n(const conv_kernel *k, int64_t nimg, int nthreads)
{
    if (nimg > 1 && conv_batches(k))
        return wino_scratch_bytes_n(k->wino, nimg < CONV_NIMG_MAX ? (int)nimg : CONV_NIMG_MAX,
                                    nthreads < 1 ? 1 : nthreads);
    return conv_scratch_bytes(k, nthreads);
}

void conv_run_n(const conv_kernel *k, int64_t nimg, const float *in, size_t in_img, float *out,
                size_t out_img, void *scratch, threadpool *tp)
{
    if (nimg > 1 && conv_batches(k)) {
        for (int64_t b = 0; b < nimg; b += CONV_NIMG_MAX) {
            int n = nimg - b < CONV_NIMG_MAX ? (int)(nimg - b) : CONV_NIMG_MAX;
            wino_run_n(k->wino, n, in + (size_t)b * in_img, in_img, out + (size_t)b * out_img,
                       out_img, scratch, tp);
        }
        return;
    }
    for (int64_t b = 0; b < nimg; b++)
        conv_run(k, in + (size_t)b * in_img, out + (size_t)b * out_img, scratch, tp);
}

const char *conv_impl_name(const conv_kernel *k)
{
    switch (k->impl) {
    case IMPL_DW:
        return k->level == SIMD_AVX512 ? "depthwise-avx512"
             : k->level == SIMD_AVX2 ? "depthwise-avx2" : "depthwise-c";
    case IMPL_WINO:
        if (wino_lazy(k->wino)) {
            if (wino_level(k->wino) == SIMD_AVX512) return "winograd-lazy-avx512";
            if (wino_level(k->wino) == SIMD_AVX2) return "winograd-lazy-avx2";
            return "winograd-lazy-c";
        }
        if (wino_level(k->wino) == SIMD_AVX512) return "winograd-avx512";
        if (wino_level(k->wino) == SIMD_AVX2) return "winograd-avx2";
        return "winograd-c";
    case IMPL_DIRECT:
        return direct_level(k->dp) == SIMD_AVX512 ? "direct-avx512"
             : direct_level(k->dp) == SIMD_AVX2 ? "direct-avx2" : "direct-c";
    case IMPL_PIX:
        if (k->ar->level == SIMD_AVX512) return "pixels-avx512";
        if (k->ar->level == SIMD_AVX2) return "pixels-avx2";
        return "pixels-c";
    case IMPL_GEMM:
        if (k->ar->level == SIMD_AVX512) return k->direct ? "gemm-1x1-avx512" : "gemm-avx512";
        if (k->ar->level == SIMD_AVX2) return k->direct ? "gemm-1x1-avx2" : "gemm-avx2";
        return k->direct ? "gemm-1x1-c" : "gemm-c";
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
    kmem_put(k->w);
    free(k->bias);
    kmem_put(k->apack);
    free(k->bpad);
    free(k->lscale);
    kmem_put(k->wt);
    wino_free(k->wino);
    direct_free(k->dp);
    dw_plan_free(&k->dw);
    free(k);
}

typedef struct {
    const conv_kernel *k;
    const float *in;
    float *out;
    char *scratch;
    gemm_grid g;
    int nt;              /* threads (the scratch's layout) */
} conv_job;

typedef struct {
    const conv_kernel *k;
    const float *in;     /* this group's input channels */
    int nr;              /* panel width */
    const float *planes; /* k->planes: every channel's stride-phase planes */
} conv_pack;

#if defined(__x86_64__)
/* One run of at most 32 columns of an im2col row: dst[x] = src[ix0 + x*sw]
 * for x in [xlo, xhi), 0 for the rest of [0, run); sw 1 or 2.  Masked
 * loads never touch the lanes outside [xlo, xhi), so src + ix0 may point
 * before the row (it is formed as an integer, never dereferenced there). */
__attribute__((target("avx512f,bmi2")))
static void pack_run_avx512(float *dst, const float *src, int ix0, int sw, int xlo, int xhi,
                            int run)
{
    uint32_t valid = (uint32_t)(((uint64_t)1 << xhi) - ((uint64_t)1 << xlo));
    uint32_t all = (uint32_t)(((uint64_t)1 << run) - 1);
    const float *base = (const float *)((uintptr_t)src + (intptr_t)ix0 * (intptr_t)sizeof(float));
    __m512 v0, v1;
    if (sw == 1) {
        v0 = _mm512_maskz_loadu_ps((__mmask16)valid, base);
        v1 = _mm512_maskz_loadu_ps((__mmask16)(valid >> 16), base + 16);
    } else {
        /* output lane x reads src lane 2x: spread the mask to even bits */
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                               16, 18, 20, 22, 24, 26, 28, 30);
        uint64_t sp = (uint64_t)_pdep_u32(valid & 0xffff, 0x55555555u) |
                      (uint64_t)_pdep_u32(valid >> 16, 0x55555555u) << 32;
        __m512 a0 = _mm512_maskz_loadu_ps((__mmask16)sp, base);
        __m512 a1 = _mm512_maskz_loadu_ps((__mmask16)(sp >> 16), base + 16);
        __m512 a2 = _mm512_maskz_loadu_ps((__mmask16)(sp >> 32), base + 32);
        __m512 a3 = _mm512_maskz_loadu_ps((__mmask16)(sp >> 48), base + 48);
        v0 = _mm512_permutex2var_ps(a0, even, a1);
        v1 = _mm512_permutex2var_ps(a2, even, a3);
    }
    _mm512_mask_storeu_ps(dst, (__mmask16)all, v0);
    _mm512_mask_storeu_ps(dst + 16, (__mmask16)(all >> 16), v1);
}
#endif

/* B = im2col of this group's input: row r = (ci, ky, kx), column n = output
 * pixel (oy, ox); packs rows [k0, k0+kc) x columns [n0, n1) into NR-column
 * panels, zero where the kernel falls on padding and past n1. */
static void conv_packb(void *ctx, int k0, int kc, int n0, int n1, float *bp)
{
    const conv_pack *cp = ctx;
    const conv_kernel *k = cp->k;
    const conv_params *p = &k->p;
    int nr = cp->nr, khw = p->kh * p->kw;
    size_t pstride = (size_t)kc * nr;
#if defined(__x86_64__)
    int fast = k->ar->level >= SIMD_AVX512 && nr <= 32 && (p->sw == 1 || p->sw == 2);
#endif
    for (int r = 0; r < kc; r++) {
        int row = k0 + r, ci = row / khw, rem = row % khw, ky = rem / p->kw, kx = rem % p->kw;
        const float *ip = cp->in + (size_t)ci * p->h * p->w;
        float *d = bp + (size_t)r * nr;
        int n = n0, q = 0, j = 0;
        if (cp->planes) {
            /* tap (ky, kx) of output pixel (oy, ox) is at oy*L + ox
             * past the tap's offset in its channel's planes */
            const float *src = cp->planes + (size_t)ci * p->sh * p->sw * k->dw.plane +
                               k->dw.off[rem];
            int oy = n0 / p->ow, ox = n0 % p->ow;
            while (n < n1) {
                int run = p->ow - ox;
                if (run > nr - j) run = nr - j;
                if (run > n1 - n) run = n1 - n;
#if defined(__x86_64__)
                if (fast)
                    pack_run_avx512(d + q * pstride + j, src + (size_t)oy * k->dw.L, ox, 1, 0,
                                    run, run);
                else
#endif
                memcpy(d + q * pstride + j, src + (size_t)oy * k->dw.L + ox,
                       (size_t)run * sizeof(float));
                n += run;
                ox += run;
                j += run;
                if (ox == p->ow) { ox = 0; oy++; }
                if (j == nr) { j = 0; q++; }
            }
        } else if (k->direct) {
            while (n < n1) {
                int run = nr - j < n1 - n ? nr - j : n1 - n;
                memcpy(d + q * pstride + j, ip + n, (size_t)run * sizeof(float));
                n += run;
                j += run;
                if (j == nr) { j = 0; q++; }
            }
        } else {
            int oy = n0 / p->ow, ox = n0 % p->ow;
            while (n < n1) {
                int run = p->ow - ox;
                if (run > nr - j) run = nr - j;
                if (run > n1 - n) run = n1 - n;
                float *dst = d + q * pstride + j;
                int iy = oy * p->sh - p->pt + ky * p->dh;
#if defined(__x86_64__)
                if (fast) {
                    int sw = p->sw, ix0 = ox * sw - p->pl + kx * p->dw, xlo = 0, xhi = 0;
                    if (iy >= 0 && iy < p->h) {
                        /* sw is 1 or 2 here: shifts, not divisions */
                        int sh1 = sw - 1;
                        xlo = ix0 >= 0 ? 0 : (-ix0 + sh1) >> sh1;
                        xhi = ix0 >= p->w ? 0 : (p->w - ix0 + sh1) >> sh1;
                        if (xlo > run) xlo = run;
                        if (xhi > run) xhi = run;
                        if (xhi < xlo) xhi = xlo;
                    }
                    pack_run_avx512(dst, ip + (size_t)(iy < 0 ? 0 : iy) * p->w, ix0, sw,
                                    xlo, xhi, run);
                } else
#endif
                if (iy < 0 || iy >= p->h) {
                    memset(dst, 0, (size_t)run * sizeof(float));
                } else {
                    const float *src = ip + (size_t)iy * p->w;
                    int sw = p->sw, ix0 = ox * sw - p->pl + kx * p->dw;
                    int xlo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
                    int xhi = ix0 >= p->w ? 0 : (p->w - ix0 + sw - 1) / sw;
                    if (xlo > run) xlo = run;
                    if (xhi > run) xhi = run;
                    if (xhi < xlo) xhi = xlo;
                    for (int x = 0; x < xlo; x++) dst[x] = 0.0f;
                    if (sw == 1 && xhi - xlo > 16)
                        memcpy(dst + xlo, src + ix0 + xlo, (size_t)(xhi - xlo) * sizeof(float));
                    else if (sw == 1)
                        for (int x = xlo; x < xhi; x++) dst[x] = src[ix0 + x];
                    else
                        for (int x = xlo; x < xhi; x++) dst[x] = src[ix0 + x * sw];
                    for (int x = xhi; x < run; x++) dst[x] = 0.0f;
                }
                n += run;
                ox += run;
                j += run;
                if (ox == p->ow) { ox = 0; oy++; }
                if (j == nr) { j = 0; q++; }
            }
        }
        if (j)
            memset(d + q * pstride + j, 0, (size_t)(nr - j) * sizeof(float));
    }
}

/* The GEMM epilogue of conv p: C = acc + bias, then p's activation. */
static gemm_epi conv_epi(const conv_params *p)
{
    gemm_epi ep = { .alpha = 1.0f, .beta = 0.0f };
    if (p->act == ACT_RELU) {
        ep.clamp = 1;
        ep.lo = 0.0f;
        ep.hi = INFINITY;
    } else if (p->act == ACT_CLIP) {
        ep.clamp = 1;
        ep.lo = p->act_min;
        ep.hi = p->act_max;
    }
    return ep;
}

/* task = (group, row chunk, column chunk) of the output */
static void gemm_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    int per = j->g.nm * j->g.nn;
    int g = task / per, t = task % per, im = t % j->g.nm, in = t / j->g.nm;
    int m0 = im * j->g.mc, m1 = m0 + j->g.mc < k->cog ? m0 + j->g.mc : k->cog;
    int npix = (int)k->npix;
    int n0 = in * j->g.nc, n1 = n0 + j->g.nc < npix ? n0 + j->g.nc : npix;
    conv_pack cp = { k, j->in + (size_t)g * k->cig * p->h * p->w, k->ar->nr,
                     k->planes ? (const float *)j->scratch : NULL };
    gemm_epi ep = conv_epi(p);
    float *bp = (float *)(j->scratch +
                          (conv_planes_floats(k) +
                           (size_t)thread * (conv_bstride(k) + conv_alazy_floats(k, 0))) *
                              sizeof(float));
    gemm_block(k->ar, k->lazy ? NULL : k->apack + (size_t)g * k->mpg * k->kk, k->mpg, k->kk, m0, m1,
               n0, n1, conv_packb, &cp, bp, k->direct ? cp.in : NULL, k->npix,
               j->out + (size_t)g * k->cog * k->npix, k->npix,
               k->bpad ? k->bpad + (size_t)g * k->mpg : NULL, NULL, &ep,
               k->lazy ? conv_packa_lazy : NULL, (void *)k, bp + conv_bstride(k));
}

/* pixels: task = a range of NR-channel panels; every k block of col^T is
 * packed (im2col in MR-pixel panels), multiplied into out^T, and at the
 * end bias, activation and the transpose write this task's channels. */
static void pix_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    const gemm_arch *ar = k->ar;
    int mr = ar->mr, nr = ar->nr, K = k->kk, N = (int)k->npix;
    int nq = k->mp / nr;
    int q0 = task * j->g.nc, q1 = q0 + j->g.nc < nq ? q0 + j->g.nc : nq;
    float *ct = (float *)j->scratch;
    float *abuf = ct + conv_ct_floats(k) + (size_t)thread * conv_abuf_floats(k);
    /* lazy: W^T's panels packed here as they are needed */
    float *wbuf = ct + conv_scratch_bytes(k, j->nt) / sizeof(float) -
                  (size_t)(j->nt - thread) * conv_wlazy_floats(k);
    size_t ldct = (size_t)k->mp;
    conv_pack cp = { k, j->in, mr, NULL };
    int nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    gemm_epi ep = { .alpha = 1.0f, .beta = 0.0f };
    for (int kb = 0; kb < nb; kb++) {
        int k0 = kb * kcl, kc = K - k0 < kcl ? K - k0 : kcl;
        if (j->g.nm) {
            /* col^T packed by pix_pack_task before */
            abuf = ct + conv_ct_floats(k) + (size_t)kb * conv_abuf_floats(k);
        } else if (k->flatcols)
            dw_flat_cols(&k->dw, p, j->in, k0, kc, abuf);
        else
            conv_packb(&cp, k0, kc, 0, N, abuf);
        ep.first = kb == 0;
        ep.last = kb == nb - 1;
        for (int q = q0; q < q1; q++) {
            const float *bq = wbuf;
            if (k->lazy)
                pack_wt_panel(k, &k->lsrc, q, k0, kc, wbuf);
            else
                bq = k->wt + (size_t)k0 * k->mp + (size_t)q * nr * kc;
            int nv = p->cout - q * nr < nr ? p->cout - q * nr : nr;
            for (int i = 0; i < N; i += mr) {
                int mv = N - i < mr ? N - i : mr;
                gemm_tile(ar, kc, abuf + (size_t)i * kc, bq, ct + (size_t)i * ldct + (size_t)q * nr,
                          ldct, mv, nv, &ep);
            }
        }
    }
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0.0f;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
    /* 16 channels at a time: each pixel's 16 values are one cache line of
     * out^T, written to 16 output rows that each fill sequentially */
    int c1 = q1 * nr < p->cout ? q1 * nr : p->cout;
    for (int cb = q0 * nr; cb < c1; cb += 16) {
        int nc = c1 - cb < 16 ? c1 - cb : 16;
        float b[16];
        for (int c = 0; c < nc; c++) b[c] = k->bpad ? k->bpad[cb + c] : 0.0f;
        float *o = j->out + (size_t)cb * N;
        const float *s = ct + cb;
        for (int n = 0; n < N; n++, s += ldct)
            for (int c = 0; c < nc; c++) {
                float v = s[c] + b[c];
                o[(size_t)c * N + n] = v < lo ? lo : v > hi ? hi : v;
            }
    }
}

/* pixels with threads: k block `task` of col^T into its place in the
 * shared scratch, so that the tasks multiplying channel panels do not
 * each pack the whole of it again */
static void pix_pack_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    int K = k->kk, nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    int k0 = task * kcl, kc = K - k0 < kcl ? K - k0 : kcl;
    float *abuf = (float *)j->scratch + conv_ct_floats(k) + (size_t)task * conv_abuf_floats(k);
    conv_pack cp = { k, j->in, k->ar->mr, NULL };
    if (k->flatcols)
        dw_flat_cols(&k->dw, &k->p, j->in, k0, kc, abuf);
    else
        conv_packb(&cp, k0, kc, 0, (int)k->npix, abuf);
}

/* gemm, stride 2: planes of input channels [c0, c1) into the scratch */
static void planes_range(void *ctx, long long c0, long long c1, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    size_t per = (size_t)p->sh * p->sw * k->dw.plane;
    for (long long c = c0; c < c1; c++)
        dw_fill_planes(k->ar->level, &k->dw, p, j->in + (size_t)c * p->h * p->w,
                       (float *)j->scratch + (size_t)c * per);
}

/* Depthwise: channel c of the output from channel c of the input. */
static void dw_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const conv_kernel *k = j->k;
    const conv_params *p = &k->p;
    float *scratch = (float *)j->scratch + (size_t)thread * dw_scratch_floats(&k->dw, p);
    int c0 = task * j->g.nc, c1 = c0 + j->g.nc < p->cout ? c0 + j->g.nc : p->cout;
    float t[DW_LAZY_TAPS];
    for (int c = c0; c < c1; c++)
        dw_channel(k->level, &k->dw, p, j->in + (size_t)c * p->h * p->w,
                   dw_taps(k, c, p->kh * p->kw, t), k->bias ? k->bias[c] : 0.0f,
                   j->out + (size_t)c * k->npix, scratch);
}

void conv_run(const conv_kernel *k, const float *in, float *out, void *scratch, threadpool *tp)
{
    conv_job j = { k, in, out, scratch, { 0, 0, 0, 0 }, tp_size(tp) };
    switch (k->impl) {
    case IMPL_DW:
    {
        /* channels per task: about 16K multiply-adds each (one 7x7
         * channel is 441), yet at least four tasks per thread */
        const conv_params *p = &k->p;
        double work = (double)k->npix * p->kh * p->kw;
        int per = (int)(16384.0 / work) + 1, nt = tp_size(tp);
        if (per > p->cout / (4 * nt)) per = p->cout / (4 * nt);
        if (per < 1) per = 1;
        j.g.nc = per;
        tp_run(tp, (p->cout + per - 1) / per, dw_task, &j);
    }
        break;
    case IMPL_GEMM:
        if (k->planes)
            tp_run_range(tp, k->p.cin, 1, planes_range, &j);
        gemm_grid_choose(k->cog, (int)k->npix, k->ar->mr, k->ar->nr, tp_size(tp), &j.g);
        tp_run(tp, k->p.group * j.g.nm * j.g.nn, gemm_task, &j);
        break;
    case IMPL_WINO:
        wino_run(k->wino, in, out, scratch, tp);
        break;
    case IMPL_DIRECT:
        direct_run(k->dp, in, out, scratch, tp);
        break;
    case IMPL_PIX: {
        /* tasks: runs of channel panels, at least two per thread when
         * there are enough panels */
        int nq = k->mp / k->ar->nr, nt = tp_size(tp);
        int tasks = nt > 1 ? 2 * nt : 1;
        if (tasks > nq) tasks = nq;
        j.g.nc = (nq + tasks - 1) / tasks;
        if (nt > 1 && pix_shared(k)) {
            /* tasks that share out evenly (10 panels in pieces of 3 leave
             * one thread 6): with col^T packed once for all, smaller
             * pieces cost nothing more */
            j.g.nc = tp_chunk(nq, j.g.nc, nt);
            /* col^T packed once, k blocks spread over the threads
             * (g.nm set: the tasks read it from there) */
            tp_run(tp, gemm_kblocks(k->kk, GEMM_KC_MAX), pix_pack_task, &j);
            j.g.nm = 1;
        }
        tp_run(tp, (nq + j.g.nc - 1) / j.g.nc, pix_task, &j);
        break;
    }
    default:
        ref_conv2d(&k->p, in, k->w, k->bias, out);
        break;
    }
}

/* ------------------------------------------------- expand + depthwise */

/* A band's buffer: the expanded channels' rows that a band of the
 * depthwise outputs reads, about this many bytes (half a core's L2), so
 * that the depthwise kernel reads what the GEMM has just written. */
#define FUSE_BAND_BYTES (384 * 1024)

int conv_expand_dw_ok(const conv_kernel *a, const conv_kernel *b)
{
    const conv_params *pa = &a->p, *pb = &b->p;
    return a->impl == IMPL_GEMM && a->direct && !a->planes && pa->group == 1 &&
           a->ar->ukr_direct && b->impl == IMPL_DW && pb->cin == pa->cout &&
           pb->h == pa->oh && pb->w == pa->ow && pb->kh == 3 && pb->sh == 2 &&
           dw_band_ok(b->level, &b->dw, pb);
}

/* depthwise output rows per band (the band reads 2R + 1 input rows) */
static int fuse_rows(const conv_kernel *a, const conv_kernel *b)
{
    size_t row = (size_t)a->p.cout * (size_t)b->p.w * sizeof(float);
    size_t r = (FUSE_BAND_BYTES / row) / 2;
    if (r < 1) r = 1;
    if (r > (size_t)b->p.oh) r = (size_t)b->p.oh;
    return (int)r;
}

static size_t fuse_buf_floats(const conv_kernel *a, const conv_kernel *b)
{
    return ((size_t)a->p.cout * (size_t)(2 * fuse_rows(a, b) + 1) * (size_t)b->p.w + 15) &
           ~(size_t)15;
}

size_t conv_expand_dw_scratch(const conv_kernel *a, const conv_kernel *b, int nthreads)
{
    return (size_t)(nthreads > 1 ? nthreads : 1) *
           (fuse_buf_floats(a, b) + conv_bstride(a) + conv_alazy_floats(a, 1)) * sizeof(float);
}

typedef struct {
    const conv_kernel *a, *b;
    const float *in;
    float *out;
    void *scratch;
    int ntask;
} fuse_job;

/* Task t: the depthwise output rows [OH t / ntask, OH (t+1) / ntask), band
 * by band.  Consecutive bands share an input row: it is kept (moved to
 * the buffer's top) rather than made again. */
static void fuse_task(void *ctx, int task, int thread)
{
    const fuse_job *j = ctx;
    const conv_kernel *a = j->a, *b = j->b;
    const conv_params *pb = &b->p;
    int H = pb->h, W = pb->w, OH = pb->oh, ce = a->p.cout, R = fuse_rows(a, b);
    size_t ldc = (size_t)(2 * R + 1) * W;
    float *buf = (float *)j->scratch +
                 (size_t)thread * (fuse_buf_floats(a, b) + conv_bstride(a) + conv_alazy_floats(a, 1));
    float *bp = buf + fuse_buf_floats(a, b);
    gemm_epi ep = conv_epi(&a->p);
    dw_s2_cols cols;
    int nch = dw_s2_cols_init(&cols, W, pb->pl, pb->ow);
    int ya = (int)((int64_t)OH * task / j->ntask), yb = (int)((int64_t)OH * (task + 1) / j->ntask);
    int first = 0, have = 0;        /* the buffer holds input rows [first, first + have) */
    for (int y = ya; y < yb; y += R) {
        int y1 = y + R < yb ? y + R : yb;
        int lo = 2 * y - pb->pt, hi = 2 * (y1 - 1) - pb->pt + 2;   /* rows read, inclusive */
        int top = lo < 0 ? -lo : 0;
        if (lo < 0) lo = 0;
        if (hi > H - 1) hi = H - 1;
        int keep = 0;
        if (have > 0 && lo >= first && lo < first + have) {
            keep = first + have - lo;
            if (keep > hi - lo + 1) keep = hi - lo + 1;
            if (lo > first)
                for (int c = 0; c < ce; c++)
                    memmove(buf + (size_t)c * ldc, buf + (size_t)c * ldc + (size_t)(lo - first) * W,
                            (size_t)keep * W * sizeof(float));
        }
        int nnew = hi - lo + 1 - keep;
        if (nnew > 0)
            gemm_block(a->ar, a->apack, a->mpg, a->kk, 0, ce, 0, nnew * W, NULL, NULL, bp,
                       j->in + (size_t)(lo + keep) * W, a->npix, buf + (size_t)keep * W, ldc,
                       a->bpad, NULL, &ep, a->lazy ? conv_packa_lazy : NULL, (void *)a,
                       bp + conv_bstride(a));
        first = lo;
        have = hi - lo + 1;
        conv_params q = *pb;
        q.h = have;
        q.pt = top;
        q.oh = y1 - y;
        q.pb = 2 * (q.oh - 1) + 3 - q.h - q.pt;
        float t[9];
        for (int c = 0; c < ce; c++)
            dw_band_s2k3(&cols, nch, &q, buf + (size_t)c * ldc, dw_taps(b, c, 9, t),
                         b->bias ? b->bias[c] : 0.0f,
                         j->out + (size_t)c * b->npix + (size_t)y * pb->ow);
    }
}

void conv_run_expand_dw(const conv_kernel *a, const conv_kernel *b, const float *in, float *out,
                        void *scratch, threadpool *tp)
{
    int nt = tp_size(tp);
    if (nt > b->p.oh) nt = b->p.oh;
    fuse_job j = { a, b, in, out, scratch, nt < 1 ? 1 : nt };
    tp_run(tp, j.ntask, fuse_task, &j);
}

int conv_is_lazy(const conv_kernel *k)
{
    return k && k->lazy;
}

conv_kernel *conv_pack_lazy(const conv_kernel *k, void (*done)(void *ctx, const void *p, size_t n),
                            void *ctx, err_t *e)
{
    if (!k || !k->lazy) {
        err_set(e, "conv: not a lazy kernel");
        return NULL;
    }
    conv_params p = k->p;
    p.lazy = 0;
    conv_wsrc src = k->lsrc;
    src.done = done;
    src.ctx = ctx;
    return conv_prepare_src(&p, &src, k->impl == IMPL_DW ? k->bias : k->bpad, 0, e);
}

int conv_lazy_ok(const conv_params *p)
{
    if (conv_check(p, NULL) < 0)
        return 0;
    /* as conv_prepare_src decides: depthwise up to 7x7, the GEMM and
     * "pixels" forms of group 1 */
    int wino, form = conv_form(p, 0, &wino);
    return form == IMPL_DW ? p->kh * p->kw <= DW_LAZY_TAPS : form == IMPL_GEMM && p->group == 1;
}

int conv_lazy_pieces(const conv_kernel *k, size_t *sizes, int max)
{
    if (!k || !k->lazy || max < 1)
        return -1;
    if (k->impl == IMPL_DW)
        sizes[0] = (size_t)k->p.cout * (size_t)k->kk * sizeof(float);
    else
        sizes[0] = (size_t)(k->impl == IMPL_PIX ? k->mp : k->mpg) * (size_t)k->kk * sizeof(float);
    return 1;
}
