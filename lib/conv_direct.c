/* conv_direct.c - direct convolution for few input channels (kern_direct.h).
 *
 * Measured (AVX-512, 1 core, bench_kernels -c -v, medians): see the
 * commit that introduced it and direct_shape_ok().
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "kern_direct.h"
#include "kern_dw.h"
#include "kmem.h"

#define DC 8                 /* output channels per tile */
/* Output rows per block: every channel block runs over DIRECT_RB rows
 * before the next, so each output channel is written DIRECT_RB rows in a
 * row (fewer store streams) while the input rows stay in L1/L2.
 * Measured (AVX-512, 1 core, bench_kernels -c, medians of 60): GoogLeNet's
 * 7x7 stem 3.0 ms with 1 row, 2.65-2.75 with 4, 2.6-2.75 with 16, 3.0
 * with all; SqueezeNet's 3x3 0.66-0.69 with 4, 0.77-0.8 with 16. */
#define DIRECT_RB 4

struct direct_plan {
    conv_params p;
    int level;
    int ntap;                /* cin * kh * kw */
    int ncb;                 /* channel blocks of DC */
    float *w;                /* ncb x ntap x DC (kmem.h) */
    float *bias;             /* ncb * DC (zeros without bias) */
    dw_plan dw;              /* stride-phase planes of one channel */
    size_t cstride;          /* floats of one channel's planes */
    size_t *toff;            /* ntap: tap's offset in the planes of all channels */
    size_t wbytes;
};

int direct_pays(const conv_params *p)
{
    const char *env = getenv("CAM_DIRECT");
    if (env && env[0] == '0') return 0;
    return direct_shape_ok(p);
}

int direct_shape_ok(const conv_params *p)
{
    /* (dilations come free: they only move the taps' offsets) */
    return p->group == 1 && p->cin <= 4 && (p->sh == 1 || p->sh == 2) &&
           (p->sw == 1 || p->sw == 2);
}

void direct_free(direct_plan *d)
{
    if (!d) return;
    kmem_put(d->w);
    free(d->bias);
    free(d->toff);
    dw_plan_free(&d->dw);
    free(d);
}

direct_plan *direct_prepare(const conv_params *p, int level, const conv_wsrc *w,
                            const float *bias, err_t *e)
{
    if (!direct_shape_ok(p)) {
        err_set(e, "conv: direct kernel cannot run this shape");
        return NULL;
    }
    direct_plan *d = calloc(1, sizeof *d);
    if (!d) {
        err_set(e, "conv: out of memory");
        return NULL;
    }
    d->p = *p;
    d->level = level;
    int khw = p->kh * p->kw;
    d->ntap = p->cin * khw;
    d->ncb = (p->cout + DC - 1) / DC;
    size_t wn = (size_t)d->ncb * d->ntap * DC;
    float *row = NULL;
    if (dw_plan_init(&d->dw, p) < 0 ||
        (!kmem_replaying() && !(row = malloc((size_t)d->ntap * sizeof *row))) ||
        !(d->w = kmem_get(wn * sizeof(float))) ||
        !(d->bias = calloc((size_t)d->ncb * DC, sizeof(float))) ||
        !(d->toff = malloc((size_t)d->ntap * sizeof *d->toff))) {
        free(row);
        direct_free(d);
        err_set(e, "conv: out of memory");
        return NULL;
    }
    d->cstride = (size_t)p->sh * p->sw * d->dw.plane;
    for (int t = 0; t < d->ntap; t++)
        d->toff[t] = (size_t)(t / khw) * d->cstride + (size_t)d->dw.off[t % khw];
    /* one output channel's row at a time, read in order */
    for (int co = 0; row && co < d->ncb * DC; co++) {
        if (co < p->cout)
            conv_wsrc_row(w, co, (size_t)d->ntap, row);
        else
            memset(row, 0, (size_t)d->ntap * sizeof *row);
        float *dst = d->w + (size_t)(co / DC) * d->ntap * DC + co % DC;
        for (int t = 0; t < d->ntap; t++)
            dst[(size_t)t * DC] = row[t];
    }
    free(row);
    if (bias) memcpy(d->bias, bias, (size_t)p->cout * sizeof(float));
    d->wbytes = (wn + (size_t)d->ncb * DC) * sizeof(float);
    return d;
}

size_t direct_scratch_bytes(const direct_plan *d, int nthreads)
{
    (void)nthreads;
    return (((size_t)d->p.cin * d->cstride + 15) & ~(size_t)15) * sizeof(float);
}

int direct_level(const direct_plan *d)
{
    return d->level;
}

size_t direct_weight_bytes(const direct_plan *d)
{
    return d ? d->wbytes : 0;
}

typedef struct {
    const direct_plan *d;
    const float *in;
    float *out;
    float *planes;
    float lo, hi;
    int clamp;               /* an activation: NaN is not clamped without */
} direct_job;

/* ---- portable: 8 pixels (two vectors of 4, GCC vector extensions:
 * SSE2 on any x86-64, NEON on arm64) x 4 channels ---- */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f v4_load(const float *s)
{
    v4f v;
    memcpy(&v, s, sizeof v);
    return v;
}

static void rows_c(const direct_job *j, int r0, int r1)
{
    const direct_plan *d = j->d;
    const conv_params *p = &d->p;
    size_t npix = (size_t)p->oh * p->ow;
    v4f lo = (v4f){ 0, 0, 0, 0 } + j->lo, hi = (v4f){ 0, 0, 0, 0 } + j->hi;
    for (int rb = r0; rb < r1; rb += DIRECT_RB)
        for (int cb = 0; cb < d->ncb; cb++)
            for (int oy = rb; oy < r1 && oy < rb + DIRECT_RB; oy++) {
                const float *wb = d->w + (size_t)cb * d->ntap * DC;
                int nc = p->cout - cb * DC < DC ? p->cout - cb * DC : DC;
                float *o = j->out + (size_t)cb * DC * npix + (size_t)oy * p->ow;
                const float *base = j->planes + (size_t)oy * d->dw.L;
                for (int c0 = 0; c0 < nc; c0 += 4)
                    for (int ox = 0; ox < p->ow; ox += 8) {
                        v4f acc[4][2];
#pragma GCC unroll 4
                        for (int c = 0; c < 4; c++)
                            acc[c][0] = acc[c][1] = (v4f){ 0, 0, 0, 0 } + d->bias[cb * DC + c0 + c];
                        const float *b = base + ox;
                        for (int t = 0; t < d->ntap; t++) {
                            /* reads up to 7 floats past the row: the
                             * planes' slack covers the last one */
                            v4f x0 = v4_load(b + d->toff[t]), x1 = v4_load(b + d->toff[t] + 4);
                            const float *wt = wb + (size_t)t * DC + c0;
#pragma GCC unroll 4
                            for (int c = 0; c < 4; c++) {
                                acc[c][0] += x0 * wt[c];
                                acc[c][1] += x1 * wt[c];
                            }
                        }
                        int n = p->ow - ox < 8 ? p->ow - ox : 8;
                        for (int c = 0; c < 4 && c0 + c < nc; c++) {
                            float *oc = o + (size_t)(c0 + c) * npix + ox;
                            if (j->clamp)
                                for (int h = 0; h < 2; h++) {
                                    v4f v = acc[c][h];
                                    v4i m = v < lo;
                                    v = (v4f)((m & (v4i)lo) | (~m & (v4i)v));
                                    m = v > hi;
                                    acc[c][h] = (v4f)((m & (v4i)hi) | (~m & (v4i)v));
                                }
                            if (n == 8) {
                                memcpy(oc, &acc[c][0], sizeof acc[c][0]);
                                memcpy(oc + 4, &acc[c][1], sizeof acc[c][1]);
                            } else {
                                float r[8];
                                memcpy(r, &acc[c][0], sizeof acc[c][0]);
                                memcpy(r + 4, &acc[c][1], sizeof acc[c][1]);
                                memcpy(oc, r, (size_t)n * sizeof(float));
                            }
                        }
                    }
            }
}

#if defined(__x86_64__)
/* ---- AVX-512: NV vectors of 16 pixels x DC channels ---- */
__attribute__((target("avx512f"), always_inline))
static inline void tile_avx512(const direct_plan *d, const float *base, const float *wb,
                               const float *bias, int nv, int nc, __mmask16 last, float *o,
                               size_t npix, int clamp, __m512 lo, __m512 hi, const int NV)
{
    __m512 acc[2][DC];
#pragma GCC unroll 8
    for (int c = 0; c < DC; c++) {
        __m512 b = _mm512_set1_ps(bias[c]);
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[v][c] = b;
    }
    const size_t *toff = d->toff;
    for (int t = 0; t < d->ntap; t++) {
        const float *s = base + toff[t];
        const float *wt = wb + (size_t)t * DC;
        __m512 x[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_ps(s + 16 * v);
#pragma GCC unroll 8
        for (int c = 0; c < DC; c++) {
            __m512 wv = _mm512_set1_ps(wt[c]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[v][c] = _mm512_fmadd_ps(x[v], wv, acc[v][c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < DC; c++) {
        if (c >= nc) break;
        float *oc = o + (size_t)c * npix;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            __m512 r = acc[v][c];
            if (clamp) r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
            if (v == nv - 1)
                _mm512_mask_storeu_ps(oc + 16 * v, last, r);
            else
                _mm512_storeu_ps(oc + 16 * v, r);
        }
    }
}

__attribute__((target("avx512f")))
static void rows_avx512(const direct_job *j, int r0, int r1)
{
    const direct_plan *d = j->d;
    const conv_params *p = &d->p;
    size_t npix = (size_t)p->oh * p->ow;
    __m512 lo = _mm512_set1_ps(j->lo), hi = _mm512_set1_ps(j->hi);
    int nvec = (p->ow + 15) / 16;
    for (int rb = r0; rb < r1; rb += DIRECT_RB)
        for (int cb = 0; cb < d->ncb; cb++)
            for (int oy = rb; oy < r1 && oy < rb + DIRECT_RB; oy++) {
                const float *wb = d->w + (size_t)cb * d->ntap * DC;
                const float *bias = d->bias + (size_t)cb * DC;
                int nc = p->cout - cb * DC < DC ? p->cout - cb * DC : DC;
                float *o = j->out + (size_t)cb * DC * npix + (size_t)oy * p->ow;
                const float *base = j->planes + (size_t)oy * d->dw.L;
                for (int v0 = 0; v0 < nvec; ) {
                    /* tiles of 2 vectors (16 sums), the last one of 1 when
                     * odd.  Tiles of 3 (24 sums, the 3 input vectors and a
                     * weight: 28 of the 32 registers) made GCC keep two of
                     * the input vectors on the stack: GoogLeNet's 7x7 stem
                     * 2.6-2.9 -> 2.2-2.35 ms, SqueezeNet's 3x3 0.66-0.75
                     * -> 0.51, MobileNetV2's 0.26-0.28 -> 0.23 (bench_kernels
                     * -b -n stems, best of 100, three alternating runs). */
                    int left = nvec - v0, nv = left >= 2 ? 2 : left;
                    int rest = p->ow - 16 * (v0 + nv - 1);
                    __mmask16 last = (__mmask16)(rest >= 16 ? 0xffff : (1u << rest) - 1);
                    const float *b = base + 16 * v0;
                    float *oo = o + 16 * v0;
                    if (nv == 2)
                        tile_avx512(d, b, wb, bias, nv, nc, last, oo, npix, j->clamp, lo, hi, 2);
                    else
                        tile_avx512(d, b, wb, bias, nv, nc, last, oo, npix, j->clamp, lo, hi, 1);
                    v0 += nv;
                }
            }
}

/* ---- AVX2: NV vectors of 8 pixels x DC channels in two halves of 4 ---- */
__attribute__((target("avx2,fma"), always_inline))
static inline void tile_avx2(const direct_plan *d, const float *base, const float *wb,
                             const float *bias, int nv, int c0, int nc, __m256i last, float *o,
                             size_t npix, int clamp, __m256 lo, __m256 hi, const int NV)
{
    __m256 acc[3][4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m256 b = _mm256_set1_ps(bias[c0 + c]);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[v][c] = b;
    }
    const size_t *toff = d->toff;
    for (int t = 0; t < d->ntap; t++) {
        const float *s = base + toff[t];
        const float *wt = wb + (size_t)t * DC + c0;
        __m256 x[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) x[v] = _mm256_loadu_ps(s + 8 * v);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256 wv = _mm256_broadcast_ss(wt + c);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) acc[v][c] = _mm256_fmadd_ps(x[v], wv, acc[v][c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        if (c0 + c >= nc) break;
        float *oc = o + (size_t)(c0 + c) * npix;
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            __m256 r = acc[v][c];
            if (clamp) r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
            if (v == nv - 1)
                _mm256_maskstore_ps(oc + 8 * v, last, r);
            else
                _mm256_storeu_ps(oc + 8 * v, r);
        }
    }
}

__attribute__((target("avx2,fma")))
static void rows_avx2(const direct_job *j, int r0, int r1)
{
    const direct_plan *d = j->d;
    const conv_params *p = &d->p;
    size_t npix = (size_t)p->oh * p->ow;
    __m256 lo = _mm256_set1_ps(j->lo), hi = _mm256_set1_ps(j->hi);
    int nvec = (p->ow + 7) / 8;
    for (int rb = r0; rb < r1; rb += DIRECT_RB)
        for (int cb = 0; cb < d->ncb; cb++)
            for (int oy = rb; oy < r1 && oy < rb + DIRECT_RB; oy++) {
                const float *wb = d->w + (size_t)cb * d->ntap * DC;
                const float *bias = d->bias + (size_t)cb * DC;
                int nc = p->cout - cb * DC < DC ? p->cout - cb * DC : DC;
                float *o = j->out + (size_t)cb * DC * npix + (size_t)oy * p->ow;
                const float *base = j->planes + (size_t)oy * d->dw.L;
                for (int c0 = 0; c0 < nc; c0 += 4)
                    for (int v0 = 0; v0 < nvec; ) {
                        int left = nvec - v0, nv = left == 4 ? 2 : left >= 3 ? 3 : left;
                        int rest = p->ow - 8 * (v0 + nv - 1);
                        __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest),
                                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                        const float *b = base + 8 * v0;
                        float *oo = o + 8 * v0;
                        if (nv == 3)
                            tile_avx2(d, b, wb, bias, nv, c0, nc, last, oo, npix, j->clamp, lo, hi, 3);
                        else if (nv == 2)
                            tile_avx2(d, b, wb, bias, nv, c0, nc, last, oo, npix, j->clamp, lo, hi, 2);
                        else
                            tile_avx2(d, b, wb, bias, nv, c0, nc, last, oo, npix, j->clamp, lo, hi, 1);
                        v0 += nv;
                    }
            }
}
#endif

static void planes_range(void *ctx, long long c0, long long c1, int thread)
{
    const direct_job *j = ctx;
    const direct_plan *d = j->d;
    const conv_params *p = &d->p;
    for (long long c = c0; c < c1; c++)
        dw_fill_planes(d->level, &d->dw, p, j->in + (size_t)c * p->h * p->w,
                       j->planes + (size_t)c * d->cstride);
}

static void rows_range(void *ctx, long long r0, long long r1, int thread)
{
    const direct_job *j = ctx;
#if defined(__x86_64__)
    if (j->d->level >= SIMD_AVX512) {
        rows_avx512(j, (int)r0, (int)r1);
        return;
    }
    if (j->d->level >= SIMD_AVX2) {
        rows_avx2(j, (int)r0, (int)r1);
        return;
    }
#endif
    rows_c(j, (int)r0, (int)r1);
}

void direct_run(const direct_plan *d, const float *in, float *out, void *scratch,
                threadpool *tp)
{
    const conv_params *p = &d->p;
    direct_job j = { d, in, out, scratch, -INFINITY, INFINITY, 0 };
    j.clamp = p->act != ACT_NONE;
    if (p->act == ACT_RELU) j.lo = 0.0f;
    if (p->act == ACT_CLIP) {
        j.lo = p->act_min;
        j.hi = p->act_max;
    }
    tp_run_range(tp, p->cin, 1, planes_range, &j);
    tp_run_range(tp, p->oh, 1, rows_range, &j);
}
