/* kern_dw.c - depthwise convolution through stride-phase planes (see
 * kern_dw.h), with AVX-512, AVX2 and portable inner loops. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kern_dw.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define DW_SLACK 64       /* floats past the end a vector loop may touch */

/* The masks and offsets of the in-place paths (see kern_dw.h). */
/* Sets bits [a, b) of m (16 to a word, bit t % 16 of word t / 16). */
static void set_bits(unsigned short *m, size_t a, size_t b)
{
    while (a < b && a % 16) {
        m[a / 16] |= (unsigned short)(1u << (a % 16));
        a++;
    }
    for (; a + 16 <= b; a += 16)
        m[a / 16] = 0xffff;
    for (; a < b; a++)
        m[a / 16] |= (unsigned short)(1u << (a % 16));
}

static int dw_plan_direct(dw_plan *d, const conv_params *p)
{
    size_t npix = (size_t)p->oh * p->ow;
    d->flat = p->sh == 1 && p->sw == 1 && p->ow == p->w && npix <= DW_FLAT_MAX && d->ntaps <= 64;
    if (d->flat) {
        int nch = (int)((npix + 15) / 16);
        d->fch = (nch + 3) / 4 * 4;
        d->foff = malloc((size_t)d->ntaps * sizeof *d->foff);
        d->fmask = calloc((size_t)d->ntaps * d->fch, sizeof *d->fmask);
        d->fstore = calloc((size_t)d->fch, sizeof *d->fstore);
        if (!d->foff || !d->fmask || !d->fstore) return -1;
        set_bits(d->fstore, 0, npix);
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                int tap = ky * p->kw + kx, dy = ky * p->dh - p->pt, dx = kx * p->dw - p->pl;
                d->foff[tap] = dy * p->w + dx;
                unsigned short *m = d->fmask + (size_t)tap * d->fch;
                /* the pixels whose tap lies inside the image: a run of
                 * columns on each row whose tap row does */
                int x0 = dx < 0 ? -dx : 0, x1 = p->w - dx < p->ow ? p->w - dx : p->ow;
                for (int oy = 0; oy < p->oh && x0 < x1; oy++)
                    if (oy + dy >= 0 && oy + dy < p->h)
                        set_bits(m, (size_t)oy * p->ow + x0, (size_t)oy * p->ow + x1);
            }
    }
    if ((p->sw == 1 || p->sw == 2) && p->kw <= 16) {
        d->rch = (p->ow + 15) / 16;
        d->roff = malloc((size_t)d->rch * p->kw * sizeof *d->roff);
        d->rmask = calloc((size_t)d->rch * p->kw, sizeof *d->rmask);
        if (!d->roff || !d->rmask) return -1;
        for (int c = 0; c < d->rch; c++)
            for (int kx = 0; kx < p->kw; kx++) {
                /* input lane j (column base + j) is needed for j = x*sw,
                 * x < this chunk's pixels, and valid for 0 <= base + j < w */
                int x0 = 16 * c, nx = p->ow - x0 < 16 ? p->ow - x0 : 16;
                int base = x0 * p->sw - p->pl + kx * p->dw;
                unsigned need = 0;
                for (int x = 0; x < nx; x++) {
                    int col = base + x * p->sw;
                    if (col >= 0 && col < p->w) need |= 1u << (x * p->sw);
                }
                d->roff[c * p->kw + kx] = base;
                d->rmask[c * p->kw + kx] = need;
            }
    }
    return 0;
}

int dw_plan_init(dw_plan *d, const conv_params *p)
{
    memset(d, 0, sizeof *d);
    int ph = p->h + p->pt + p->pb, pw = p->w + p->pl + p->pr;
    d->Hq = (ph + p->sh - 1) / p->sh;
    d->L = (pw + p->sw - 1) / p->sw;
    /* the last vector of the last row reads up to DW_SLACK - 1 floats past
     * oh*L, shifted by the widest tap's column offset */
    size_t colmax = (size_t)(p->kw - 1) * p->dw / p->sw;
    d->plane = ((size_t)d->Hq * d->L + colmax + DW_SLACK + 15) & ~(size_t)15;
    d->wide = ((size_t)p->oh * d->L + DW_SLACK + 15) & ~(size_t)15;
    d->ntaps = p->kh * p->kw;
    d->off = malloc((size_t)d->ntaps * sizeof *d->off);
    if (!d->off) return -1;
    for (int ky = 0; ky < p->kh; ky++)
        for (int kx = 0; kx < p->kw; kx++) {
            int a = ky * p->dh % p->sh, b = kx * p->dw % p->sw;
            size_t pl = (size_t)a * p->sw + b;
            d->off[ky * p->kw + kx] = (int)(pl * d->plane + (size_t)(ky * p->dh / p->sh) * d->L
                                            + kx * p->dw / p->sw);
        }
    return dw_plan_direct(d, p);
}

void dw_plan_free(dw_plan *d)
{
    free(d->off);
    free(d->foff);
    free(d->fmask);
    free(d->fstore);
    free(d->roff);
    free(d->rmask);
    d->off = d->foff = d->roff = NULL;
    d->fmask = d->fstore = NULL;
    d->rmask = NULL;
}

size_t dw_scratch_floats(const dw_plan *d, const conv_params *p)
{
    return (size_t)p->sh * p->sw * d->plane + d->wide;
}

#if defined(__x86_64__)
/* dst[j] = src[2j] for j < n */
__attribute__((target("avx512f")))
static void gather2_avx512(float *dst, const float *src, int n)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    int j = 0;
    /* a whole step reads src[2j + 31], past the last float needed
     * (src[2n - 2]) when it is the last step: that one is masked */
    for (; j + 16 < n; j += 16) {
        __m512 a = _mm512_loadu_ps(src + 2 * j), b = _mm512_loadu_ps(src + 2 * j + 16);
        _mm512_storeu_ps(dst + j, _mm512_permutex2var_ps(a, even, b));
    }
    if (j < n) {
        int r = 2 * (n - j) - 1;          /* floats needed: src[2j .. 2n-2] */
        __mmask16 ma = (__mmask16)(r >= 16 ? 0xffff : (1u << r) - 1);
        __mmask16 mb = (__mmask16)(r > 16 ? (1u << (r - 16)) - 1 : 0);
        __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * j);
        __m512 b = _mm512_maskz_loadu_ps(mb, src + 2 * j + 16);
        _mm512_mask_storeu_ps(dst + j, (__mmask16)((1u << (n - j)) - 1),
                              _mm512_permutex2var_ps(a, even, b));
    }
}

/* The same with AVX2: 8 outputs from 16 inputs per step, the tail (whose
 * last step would read past src[2n - 2]) one by one. */
__attribute__((target("avx2")))
static void gather2_avx2(float *dst, const float *src, int n)
{
    int j = 0;
    for (; j + 8 < n; j += 8) {
        __m256 a = _mm256_loadu_ps(src + 2 * j), b = _mm256_loadu_ps(src + 2 * j + 8);
        /* per 128-bit half: a0 a2 b0 b2 | a4 a6 b4 b6, then the halves' quarters in order */
        __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        _mm256_storeu_ps(dst + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                                          _MM_SHUFFLE(3, 1, 2, 0))));
    }
    for (; j < n; j++)
        dst[j] = src[2 * (size_t)j];
}

/* out[x] = clamp(in[x], lo, hi) for x < n */
__attribute__((target("avx512f")))
static void clamp_avx512(float *out, const float *in, int n, float lo, float hi)
{
    __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
    int x = 0;
    for (; x + 16 <= n; x += 16)
        _mm512_storeu_ps(out + x, _mm512_min_ps(_mm512_max_ps(_mm512_loadu_ps(in + x), l), h));
    if (x < n) {
        __mmask16 m = (__mmask16)((1u << (n - x)) - 1);
        _mm512_mask_storeu_ps(out + x, m,
                              _mm512_min_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m, in + x), l), h));
    }
}

__attribute__((target("avx2,fma")))
static void clamp_avx2(float *out, const float *in, int n, float lo, float hi)
{
    __m256 l = _mm256_set1_ps(lo), h = _mm256_set1_ps(hi);
    int x = 0;
    for (; x + 8 <= n; x += 8)
        _mm256_storeu_ps(out + x, _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(in + x), l), h));
    for (; x < n; x++) {
        float v = in[x];
        out[x] = v < lo ? lo : v > hi ? hi : v;
    }
}
#endif

/* Fills the sh*sw planes from one input channel. */
static void dw_planes(int level, const dw_plan *d, const conv_params *p, const float *in,
                      float *pl)
{
    for (int a = 0; a < p->sh; a++)
        for (int b = 0; b < p->sw; b++) {
            float *P = pl + ((size_t)a * p->sw + b) * d->plane;
            /* padded column j*sw + b is input column j*sw + b - pl: valid
             * for j in [jlo, jhi) */
            int x0 = b - p->pl;
            int jlo = x0 >= 0 ? 0 : (-x0 + p->sw - 1) / p->sw;
            int jhi = x0 >= p->w ? 0 : (p->w - x0 + p->sw - 1) / p->sw;
            if (jhi > d->L) jhi = d->L;
            if (jlo > jhi) jlo = jhi;
            for (int i = 0; i < d->Hq; i++) {
                float *row = P + (size_t)i * d->L;
                int iy = i * p->sh + a - p->pt;
                if (iy < 0 || iy >= p->h) {
                    memset(row, 0, (size_t)d->L * sizeof(float));
                    continue;
                }
                const float *src = in + (size_t)iy * p->w + x0;
                for (int j = 0; j < jlo; j++) row[j] = 0.0f;
                if (p->sw == 1)
                    memcpy(row + jlo, src + jlo, (size_t)(jhi - jlo) * sizeof(float));
#if defined(__x86_64__)
                else if (p->sw == 2 && level >= SIMD_AVX512)
                    gather2_avx512(row + jlo, src + 2 * jlo, jhi - jlo);
                else if (p->sw == 2 && level >= SIMD_AVX2)
                    gather2_avx2(row + jlo, src + 2 * jlo, jhi - jlo);
#endif
                else
                    for (int j = jlo; j < jhi; j++) row[j] = src[(size_t)j * p->sw];
                for (int j = jhi; j < d->L; j++) row[j] = 0.0f;
            }
            memset(P + (size_t)d->Hq * d->L, 0,
                   (d->plane - (size_t)d->Hq * d->L) * sizeof(float));
        }
}

static void dw_taps_c(const dw_plan *d, const float *pl, const float *w, float bias,
                      float *wide, size_t n)
{
    for (size_t t = 0; t < n; t++) wide[t] = bias;
    for (int k = 0; k < d->ntaps; k++) {
        const float *src = pl + d->off[k];
        float wk = w[k];
        for (size_t t = 0; t < n; t++) wide[t] += wk * src[t];
    }
}

#if defined(__x86_64__)
/* 64 outputs per pass in four accumulators, all taps, then store. */
__attribute__((target("avx512f")))
static void dw_taps_avx512(const dw_plan *d, const float *pl, const float *w, float bias,
                           float *wide, size_t n)
{
    __m512 b = _mm512_set1_ps(bias);
    for (size_t t = 0; t < n; t += 64) {
        __m512 a0 = b, a1 = b, a2 = b, a3 = b;
        for (int k = 0; k < d->ntaps; k++) {
            const float *s = pl + d->off[k] + t;
            __m512 wk = _mm512_set1_ps(w[k]);
            a0 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(s), a0);
            a1 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(s + 16), a1);
            a2 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(s + 32), a2);
            a3 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(s + 48), a3);
        }
        _mm512_storeu_ps(wide + t, a0);
        _mm512_storeu_ps(wide + t + 16, a1);
        _mm512_storeu_ps(wide + t + 32, a2);
        _mm512_storeu_ps(wide + t + 48, a3);
    }
}

__attribute__((target("avx2,fma")))
static void dw_taps_avx2(const dw_plan *d, const float *pl, const float *w, float bias,
                         float *wide, size_t n)
{
    __m256 b = _mm256_set1_ps(bias);
    for (size_t t = 0; t < n; t += 32) {
        __m256 a0 = b, a1 = b, a2 = b, a3 = b;
        for (int k = 0; k < d->ntaps; k++) {
            const float *s = pl + d->off[k] + t;
            __m256 wk = _mm256_set1_ps(w[k]);
            a0 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(s), a0);
            a1 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(s + 8), a1);
            a2 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(s + 16), a2);
            a3 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(s + 24), a3);
        }
        _mm256_storeu_ps(wide + t, a0);
        _mm256_storeu_ps(wide + t + 8, a1);
        _mm256_storeu_ps(wide + t + 16, a2);
        _mm256_storeu_ps(wide + t + 24, a3);
    }
}
#endif

#if defined(__x86_64__)
/* "flat" (see kern_dw.h): the whole channel as runs of 64 outputs, four
 * accumulators, every tap one masked load at a fixed offset.  Addresses
 * are formed as integers: the masked-off lanes may lie outside the
 * input and are never read. */
__attribute__((target("avx512f")))
static void dw_flat_avx512(const dw_plan *d, const float *in, const float *w, float bias,
                           float *out, float lo, float hi)
{
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    int nt = d->ntaps, fch = d->fch;
    for (int c = 0; c < fch; c += 4) {
        __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
        const unsigned short *m = d->fmask + c;
        for (int t = 0; t < nt; t++, m += fch) {
            __m512 wv = _mm512_set1_ps(w[t]);
            const float *s = (const float *)((uintptr_t)in +
                                             ((intptr_t)c * 16 + d->foff[t]) * (intptr_t)sizeof(float));
            a0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps((__mmask16)m[0], s), a0);
            a1 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps((__mmask16)m[1], s + 16), a1);
            a2 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps((__mmask16)m[2], s + 32), a2);
            a3 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps((__mmask16)m[3], s + 48), a3);
        }
        float *o = out + (size_t)c * 16;
        const unsigned short *st = d->fstore + c;
        _mm512_mask_storeu_ps(o, st[0], _mm512_min_ps(_mm512_max_ps(a0, vlo), vhi));
        _mm512_mask_storeu_ps(o + 16, st[1], _mm512_min_ps(_mm512_max_ps(a1, vlo), vhi));
        _mm512_mask_storeu_ps(o + 32, st[2], _mm512_min_ps(_mm512_max_ps(a2, vlo), vhi));
        _mm512_mask_storeu_ps(o + 48, st[3], _mm512_min_ps(_mm512_max_ps(a3, vlo), vhi));
    }
}

/* "rows" (see kern_dw.h): horizontal stride 1 or 2, any vertical stride,
 * dilation and padding.  One output row at a time, up to four 16-pixel
 * chunks in registers; kernel rows above or below the image are skipped;
 * for stride 2, 32 input lanes of which a permute keeps the even ones.
 * Meant for rows of four chunks or more: narrower ones leave too few
 * independent accumulators (dw_narrow_avx512 takes maps up to 16 wide). */
__attribute__((target("avx512f")))
static void dw_rows_avx512(const dw_plan *d, const conv_params *p, const float *in,
                           const float *w, float bias, float *out, float lo, float hi)
{
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    int kw = p->kw, ow = p->ow, rch = d->rch, s2 = p->sw == 2;
#define DW_LOAD(src, mk)                                                        \
    (s2 ? _mm512_permutex2var_ps(_mm512_maskz_loadu_ps((__mmask16)(mk), (src)), even, \
                                 _mm512_maskz_loadu_ps((__mmask16)((mk) >> 16), (src) + 16)) \
        : _mm512_maskz_loadu_ps((__mmask16)(mk), (src)))
    for (int oy = 0; oy < p->oh; oy++) {
        float *o = out + (size_t)oy * ow;
        for (int c0 = 0; c0 < rch; c0 += 4) {
            int nc = rch - c0 < 4 ? rch - c0 : 4;
            __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
            for (int ky = 0; ky < p->kh; ky++) {
                int iy = oy * p->sh - p->pt + ky * p->dh;
                if (iy < 0 || iy >= p->h) continue;
                uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
                const float *wk = w + ky * kw;
                for (int kx = 0; kx < kw; kx++) {
                    __m512 wv = _mm512_set1_ps(wk[kx]);
                    const int *off = d->roff + (size_t)c0 * kw + kx;
                    const unsigned *mk = d->rmask + (size_t)c0 * kw + kx;
#define DW_TAP(i, acc)                                                          \
                    do {                                                        \
                        const float *src = (const float *)(row + (intptr_t)off[(i) * kw] \
                                                                 * (intptr_t)sizeof(float)); \
                        acc = _mm512_fmadd_ps(wv, DW_LOAD(src, mk[(i) * kw]), acc); \
                    } while (0)
                    DW_TAP(0, a0);
                    if (nc > 1) DW_TAP(1, a1);
                    if (nc > 2) DW_TAP(2, a2);
                    if (nc > 3) DW_TAP(3, a3);
#undef DW_TAP
                }
            }
            float *oc = o + (size_t)c0 * 16;
            int left = ow - c0 * 16;
#define DW_STORE(i, acc)                                                        \
            do {                                                                \
                int n = left - 16 * (i);                                        \
                __mmask16 sm = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);   \
                _mm512_mask_storeu_ps(oc + 16 * (i), sm,                        \
                                      _mm512_min_ps(_mm512_max_ps(acc, vlo), vhi)); \
            } while (0)
            DW_STORE(0, a0);
            if (nc > 1) DW_STORE(1, a1);
            if (nc > 2) DW_STORE(2, a2);
            if (nc > 3) DW_STORE(3, a3);
#undef DW_STORE
        }
    }
#undef DW_LOAD
}
#endif

#if defined(__x86_64__)
/* Horizontal stride 1 or 2 (any vertical stride), output rows of at most
 * 16 pixels (7x7, 14x14 maps), without planes: the input rows are read in
 * place through per-kx masks that drop the lanes falling on padding (for
 * stride 2, 32 input lanes of which a permute keeps the even ones), kernel
 * rows above or below the image are skipped, and four output rows are
 * accumulated at once in named registers (an indexed array would live on
 * the stack). */
__attribute__((target("avx512f")))
static void dw_narrow_avx512(const conv_params *p, const float *in, const float *w,
                             float bias, float *out, float lo, float hi)
{
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    int kw = p->kw, ow = p->ow, sw = p->sw;
    __mmask16 km0[16], km1[16];
    intptr_t koff[16];
    for (int kx = 0; kx < kw; kx++) {
        /* input lane j (column base + j) is needed for j = x*sw, x < ow,
         * and valid for 0 <= base + j < w */
        int base = kx * p->dw - p->pl;
        uint32_t need = 0;
        for (int x = 0; x < ow; x++) {
            int c = base + x * sw;
            if (c >= 0 && c < p->w) need |= 1u << (x * sw);
        }
        km0[kx] = (__mmask16)need;
        km1[kx] = (__mmask16)(need >> 16);
        koff[kx] = (intptr_t)base * (intptr_t)sizeof(float);
    }
    __mmask16 st = (__mmask16)((1u << ow) - 1);
    for (int oy0 = 0; oy0 < p->oh; oy0 += 4) {
        __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
        for (int ky = 0; ky < p->kh; ky++) {
            int iy0 = oy0 * p->sh - p->pt + ky * p->dh;
            const float *wk = w + ky * kw;
            for (int kx = 0; kx < kw; kx++) {
                __m512 wv = _mm512_set1_ps(wk[kx]);
                __mmask16 m0 = km0[kx], m1 = km1[kx];
#define ROW(r, acc)                                                            \
                do {                                                           \
                    int iy = iy0 + (r) * p->sh;                                \
                    if (iy >= 0 && iy < p->h) {                                \
                        const float *src = (const float *)((uintptr_t)(in + (size_t)iy * p->w) \
                                                           + koff[kx]);        \
                        __m512 v = _mm512_maskz_loadu_ps(m0, src);             \
                        if (sw == 2)                                           \
                            v = _mm512_permutex2var_ps(v, even,                \
                                                       _mm512_maskz_loadu_ps(m1, src + 16)); \
                        acc = _mm512_fmadd_ps(wv, v, acc);                     \
                    }                                                          \
                } while (0)
                ROW(0, a0); ROW(1, a1); ROW(2, a2); ROW(3, a3);
#undef ROW
            }
        }
        int nr = p->oh - oy0 < 4 ? p->oh - oy0 : 4;
        float *o = out + (size_t)oy0 * ow;
        _mm512_mask_storeu_ps(o, st, _mm512_min_ps(_mm512_max_ps(a0, vlo), vhi));
        if (nr > 1) _mm512_mask_storeu_ps(o + ow, st, _mm512_min_ps(_mm512_max_ps(a1, vlo), vhi));
        if (nr > 2) _mm512_mask_storeu_ps(o + 2 * ow, st, _mm512_min_ps(_mm512_max_ps(a2, vlo), vhi));
        if (nr > 3) _mm512_mask_storeu_ps(o + 3 * ow, st, _mm512_min_ps(_mm512_max_ps(a3, vlo), vhi));
    }
}
#endif

#if defined(__x86_64__)
/* kernel widths 3, horizontal stride 2, dilation 1, any kh, vertical
 * stride and padding (MobileNetV2's stride-2 layers): each output chunk
 * of 16 pixels reads, per kernel row, the 33 input columns from 32c - pl
 * (lanes off the row masked to zero) and splits them once into the even
 * columns (tap kx = 0), the odd ones (kx = 1) and the even ones moved by
 * one lane with the 33rd column appended (kx = 2): three loads and three
 * shuffles per kernel row where reading every tap on its own takes six
 * loads and three shuffles.  NC chunks x NR output rows are accumulated
 * at once (4 x 1 on wide rows, 1 x 4 on rows of one chunk). */
#define DW_S1_MAXCH 64     /* (w <= 1024) */
#define DW_S1_MINW 10     /* narrower maps: flat is faster (8 wide: 0.6x, 10: 1.1x) */

__attribute__((target("avx512f"), always_inline))
static inline void dw_s2k3_tile(const conv_params *p, const dw_s2_cols *m, const float *in,
                                const float *w, __m512 vb, __m512 vlo, __m512 vhi, float *out,
                                int c0, int oy0, int nc, int nr, const int NC, const int NR)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15,
                                          17, 19, 21, 23, 25, 27, 29, 31);
    __m512 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < NC * NR; i++) acc[i] = vb;
    for (int ky = 0; ky < p->kh; ky++) {
        __m512 w0 = _mm512_set1_ps(w[ky * 3]), w1 = _mm512_set1_ps(w[ky * 3 + 1]);
        __m512 w2 = _mm512_set1_ps(w[ky * 3 + 2]);
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            int iy = (oy0 + r) * p->sh - p->pt + ky * p->dh;
            if (r >= nr || iy < 0 || iy >= p->h) continue;
            uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) {
                if (c >= nc) break;
                int ch = c0 + c;
                const float *src = (const float *)(row + m->boff[ch]);
                __m512 xa = _mm512_maskz_loadu_ps(m->ma[ch], src);
                __m512 xb = _mm512_maskz_loadu_ps(m->mb[ch], src + 16);
                __m512 xc = _mm512_maskz_loadu_ps(m->mc[ch], src + 32);
                __m512 e = _mm512_permutex2var_ps(xa, even, xb);
                __m512 od = _mm512_permutex2var_ps(xa, odd, xb);
                __m512 e2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(xc),
                                                                    _mm512_castps_si512(e), 1));
                __m512 a = acc[r * NC + c];
                a = _mm512_fmadd_ps(w0, e, a);
                a = _mm512_fmadd_ps(w1, od, a);
                acc[r * NC + c] = _mm512_fmadd_ps(w2, e2, a);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
        if (r >= nr) break;
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            if (c >= nc) break;
            _mm512_mask_storeu_ps(out + (size_t)(oy0 + r) * p->ow + 16 * (c0 + c), m->st[c0 + c],
                                  _mm512_min_ps(_mm512_max_ps(acc[r * NC + c], vlo), vhi));
        }
    }
}

/* The rows of a 3x3 stride-2 map shared by two output rows (kernel row 2
 * of row oy, kernel row 0 of row oy + 1) are split once: a strip of NC
 * chunks walks down the map with the rows of oy and oy + 1 in registers,
 * the shared row feeding both.  Same sums in the same order as the tile
 * above; per output row two input rows are split where it takes three. */
__attribute__((target("avx512f"), always_inline))
static inline void dw_s2k3_split(const dw_s2_cols *m, uintptr_t row, int ch, __m512 *e,
                                 __m512 *od, __m512 *e2)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15,
                                          17, 19, 21, 23, 25, 27, 29, 31);
    const float *src = (const float *)(row + m->boff[ch]);
    __m512 xa = _mm512_maskz_loadu_ps(m->ma[ch], src);
    __m512 xb = _mm512_maskz_loadu_ps(m->mb[ch], src + 16);
    __m512 xc = _mm512_maskz_loadu_ps(m->mc[ch], src + 32);
    *e = _mm512_permutex2var_ps(xa, even, xb);
    *od = _mm512_permutex2var_ps(xa, odd, xb);
    *e2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(xc),
                                                  _mm512_castps_si512(*e), 1));
}

__attribute__((target("avx512f"), always_inline))
static inline void dw_s2k3_strip(const conv_params *p, const dw_s2_cols *m, const float *in,
                                 const __m512 *wv, __m512 vb, __m512 vlo, __m512 vhi, float *out,
                                 int c0, const int NC)
{
    __m512 cur[4], nxt[4], e, od, e2;
#pragma GCC unroll 4
    for (int c = 0; c < NC; c++) cur[c] = nxt[c] = vb;
    /* kernel row 0 of output row 0 */
    int iy = -p->pt;
    if (iy >= 0 && iy < p->h) {
        uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            dw_s2k3_split(m, row, c0 + c, &e, &od, &e2);
            cur[c] = _mm512_fmadd_ps(wv[0], e, cur[c]);
            cur[c] = _mm512_fmadd_ps(wv[1], od, cur[c]);
            cur[c] = _mm512_fmadd_ps(wv[2], e2, cur[c]);
        }
    }
    for (int oy = 0; oy < p->oh; oy++) {
        iy = 2 * oy - p->pt + 1;
        if (iy >= 0 && iy < p->h) {
            uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) {
                dw_s2k3_split(m, row, c0 + c, &e, &od, &e2);
                cur[c] = _mm512_fmadd_ps(wv[3], e, cur[c]);
                cur[c] = _mm512_fmadd_ps(wv[4], od, cur[c]);
                cur[c] = _mm512_fmadd_ps(wv[5], e2, cur[c]);
            }
        }
        iy++;
        if (iy >= 0 && iy < p->h) {
            uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) {
                dw_s2k3_split(m, row, c0 + c, &e, &od, &e2);
                cur[c] = _mm512_fmadd_ps(wv[6], e, cur[c]);
                cur[c] = _mm512_fmadd_ps(wv[7], od, cur[c]);
                cur[c] = _mm512_fmadd_ps(wv[8], e2, cur[c]);
                nxt[c] = _mm512_fmadd_ps(wv[0], e, nxt[c]);
                nxt[c] = _mm512_fmadd_ps(wv[1], od, nxt[c]);
                nxt[c] = _mm512_fmadd_ps(wv[2], e2, nxt[c]);
            }
        }
        float *o = out + (size_t)oy * p->ow + 16 * c0;
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            _mm512_mask_storeu_ps(o + 16 * c, m->st[c0 + c],
                                  _mm512_min_ps(_mm512_max_ps(cur[c], vlo), vhi));
            cur[c] = nxt[c];
            nxt[c] = vb;
        }
    }
}

__attribute__((target("avx512f")))
static void dw_s2k3_avx512(const conv_params *p, const float *in, const float *w, float bias,
                           float *out, float lo, float hi)
{
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    dw_s2_cols m;
    int nch = dw_s2_cols_init(&m, p->w, p->pl, p->ow);
    if (p->kh == 3 && p->sh == 2 && p->dh == 1) {
        dw_band_s2k3(&m, nch, p, in, w, bias, out);     /* (lo, hi from p->act) */
    } else if (nch == 1) {
        for (int oy = 0; oy < p->oh; oy += 4)
            dw_s2k3_tile(p, &m, in, w, vb, vlo, vhi, out, 0, oy, 1,
                         p->oh - oy < 4 ? p->oh - oy : 4, 1, 4);
    } else if (nch == 2) {
        for (int oy = 0; oy < p->oh; oy += 2)
            dw_s2k3_tile(p, &m, in, w, vb, vlo, vhi, out, 0, oy, 2,
                         p->oh - oy < 2 ? p->oh - oy : 2, 2, 2);
    } else {
        for (int oy = 0; oy < p->oh; oy++)
            for (int c = 0; c < nch; c += 4)
                dw_s2k3_tile(p, &m, in, w, vb, vlo, vhi, out, c, oy,
                             nch - c < 4 ? nch - c : 4, 1, 4, 1);
    }
}
#endif

#if defined(__x86_64__)
/* 3x3, stride 1, dilation 1, one pixel of padding on every side ("same":
 * MobileNet's stride-1 layers), rows of 10 pixels or more: a strip of NC
 * 16-pixel chunks walks down the channel.  Each input row is loaded once
 * (three shifted loads per chunk, masks dropping the columns on the
 * padding) and feeds the three output rows it touches: row r - 1 (kernel
 * row 2, which completes it: it is stored), row r (kernel row 1) and row
 * r + 1 (kernel row 0, started from the bias).  Every output pixel still
 * sums bias, then kernel rows 0, 1, 2 and columns 0, 1, 2 in that order,
 * as the other kernels do.  The flat kernel reads 9 inputs and 4 masks
 * from memory per 4 FMAs at every tap; this one 1 input per 3 FMAs. */
typedef struct {
    intptr_t boff[DW_S1_MAXCH];            /* bytes from the row start, kx = 0 */
    __mmask16 m[DW_S1_MAXCH][3], st[DW_S1_MAXCH];
} dw_s1_masks;

__attribute__((target("avx512f"), always_inline))
static inline void dw_s1k3_strip(const conv_params *p, const dw_s1_masks *m, const float *in,
                                 const __m512 *wv, __m512 vb, __m512 vlo, __m512 vhi, float *out,
                                 int c0, const int NC)
{
    int H = p->h, W = p->w;
    __m512 a[4], b[4], c[4];
#pragma GCC unroll 4
    for (int i = 0; i < NC; i++) a[i] = vb;     /* set before use (row 1 on) */
#pragma GCC unroll 4
    for (int i = 0; i < NC; i++) b[i] = vb;
    for (int r = 0; r < H; r++) {
        uintptr_t row = (uintptr_t)(in + (size_t)r * W);
#pragma GCC unroll 4
        for (int i = 0; i < NC; i++) c[i] = vb;
#pragma GCC unroll 4
        for (int i = 0; i < NC; i++) {
            const float *src = (const float *)(row + m->boff[c0 + i]);
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++) {
                __m512 v = _mm512_maskz_loadu_ps(m->m[c0 + i][kx], src + kx);
                if (r > 0) a[i] = _mm512_fmadd_ps(wv[6 + kx], v, a[i]);
                b[i] = _mm512_fmadd_ps(wv[3 + kx], v, b[i]);
                c[i] = _mm512_fmadd_ps(wv[kx], v, c[i]);
            }
        }
        if (r > 0) {
            float *o = out + (size_t)(r - 1) * W + 16 * c0;
#pragma GCC unroll 4
            for (int i = 0; i < NC; i++)
                _mm512_mask_storeu_ps(o + 16 * i, m->st[c0 + i],
                                      _mm512_min_ps(_mm512_max_ps(a[i], vlo), vhi));
        }
#pragma GCC unroll 4
        for (int i = 0; i < NC; i++) {
            a[i] = b[i];
            b[i] = c[i];
        }
    }
    float *o = out + (size_t)(H - 1) * W + 16 * c0;
#pragma GCC unroll 4
    for (int i = 0; i < NC; i++)
        _mm512_mask_storeu_ps(o + 16 * i, m->st[c0 + i], _mm512_min_ps(_mm512_max_ps(a[i], vlo), vhi));
}

__attribute__((target("avx512f")))
static void dw_s1k3_avx512(const conv_params *p, const float *in, const float *w, float bias,
                           float *out, float lo, float hi)
{
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    int W = p->w, nch = (W + 15) / 16;
    dw_s1_masks m;
    for (int c = 0; c < nch; c++) {
        /* tap kx of output column x reads input column x - 1 + kx */
        m.boff[c] = (intptr_t)(16 * c - 1) * (intptr_t)sizeof(float);
        for (int kx = 0; kx < 3; kx++) {
            unsigned mk = 0;
            for (int j = 0; j < 16; j++) {
                int x = 16 * c + j, col = x - 1 + kx;
                if (x < W && col >= 0 && col < W) mk |= 1u << j;
            }
            m.m[c][kx] = (__mmask16)mk;
        }
        int n = W - 16 * c;
        m.st[c] = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    }
    int c = 0;
    for (; c + 4 <= nch; c += 4)
        dw_s1k3_strip(p, &m, in, wv, vb, vlo, vhi, out, c, 4);
    switch (nch - c) {
    case 3: dw_s1k3_strip(p, &m, in, wv, vb, vlo, vhi, out, c, 3); break;
    case 2: dw_s1k3_strip(p, &m, in, wv, vb, vlo, vhi, out, c, 2); break;
    case 1: dw_s1k3_strip(p, &m, in, wv, vb, vlo, vhi, out, c, 1); break;
    default: break;
    }
}
#endif

#if defined(__x86_64__)
/* dw_s1k3_avx512 with AVX2: chunks of 8 pixels, strips of 2 (6 sums, the
 * three weights of one kernel column and an input vector: 10 of the 16
 * registers), the weights broadcast again for each kernel column. */
#define DW_S1_MAXCH8 128   /* (w <= 1024) */
typedef struct {
    intptr_t boff[DW_S1_MAXCH8];           /* bytes from the row start, kx = 0 */
    __m256i m[DW_S1_MAXCH8][3], st[DW_S1_MAXCH8];
} dw_s1_masks8;

__attribute__((target("avx2,fma"), always_inline))
static inline void dw_s1k3_strip8(const conv_params *p, const dw_s1_masks8 *m, const float *in,
                                  const float *w, __m256 vb, __m256 vlo, __m256 vhi, float *out,
                                  int c0, const int NC)
{
    int H = p->h, W = p->w;
    __m256 a[2], b[2], c[2];
#pragma GCC unroll 2
    for (int i = 0; i < NC; i++) a[i] = b[i] = vb;
    for (int r = 0; r < H; r++) {
        uintptr_t row = (uintptr_t)(in + (size_t)r * W);
#pragma GCC unroll 2
        for (int i = 0; i < NC; i++) c[i] = vb;
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++) {
            __m256 w0 = _mm256_broadcast_ss(w + kx), w1 = _mm256_broadcast_ss(w + 3 + kx);
            __m256 w2 = _mm256_broadcast_ss(w + 6 + kx);
#pragma GCC unroll 2
            for (int i = 0; i < NC; i++) {
                const float *src = (const float *)(row + m->boff[c0 + i]);
                __m256 v = _mm256_maskload_ps(src + kx, m->m[c0 + i][kx]);
                if (r > 0) a[i] = _mm256_fmadd_ps(w2, v, a[i]);
                b[i] = _mm256_fmadd_ps(w1, v, b[i]);
                c[i] = _mm256_fmadd_ps(w0, v, c[i]);
            }
        }
        if (r > 0) {
            float *o = out + (size_t)(r - 1) * W + 8 * c0;
#pragma GCC unroll 2
            for (int i = 0; i < NC; i++)
                _mm256_maskstore_ps(o + 8 * i, m->st[c0 + i],
                                    _mm256_min_ps(_mm256_max_ps(a[i], vlo), vhi));
        }
#pragma GCC unroll 2
        for (int i = 0; i < NC; i++) {
            a[i] = b[i];
            b[i] = c[i];
        }
    }
    float *o = out + (size_t)(H - 1) * W + 8 * c0;
#pragma GCC unroll 2
    for (int i = 0; i < NC; i++)
        _mm256_maskstore_ps(o + 8 * i, m->st[c0 + i], _mm256_min_ps(_mm256_max_ps(a[i], vlo), vhi));
}

__attribute__((target("avx2,fma")))
static void dw_s1k3_avx2(const conv_params *p, const float *in, const float *w, float bias,
                         float *out, float lo, float hi)
{
    __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int W = p->w, nch = (W + 7) / 8;
    dw_s1_masks8 m;
    for (int c = 0; c < nch; c++) {
        m.boff[c] = (intptr_t)(8 * c - 1) * (intptr_t)sizeof(float);
        int lane[8];
        for (int kx = 0; kx < 3; kx++) {
            for (int j = 0; j < 8; j++) {
                int x = 8 * c + j, col = x - 1 + kx;
                lane[j] = x < W && col >= 0 && col < W ? -1 : 0;
            }
            m.m[c][kx] = _mm256_loadu_si256((const __m256i *)(const void *)lane);
        }
        for (int j = 0; j < 8; j++) lane[j] = 8 * c + j < W ? -1 : 0;
        m.st[c] = _mm256_loadu_si256((const __m256i *)(const void *)lane);
    }
    int c = 0;
    for (; c + 2 <= nch; c += 2)
        dw_s1k3_strip8(p, &m, in, w, vb, vlo, vhi, out, c, 2);
    if (c < nch)
        dw_s1k3_strip8(p, &m, in, w, vb, vlo, vhi, out, c, 1);
}
#endif

#if defined(__x86_64__)
/* dw_s2k3_strip with AVX2, 8 outputs a chunk, 2 chunks a strip: per
 * kernel row the 17 input columns from 16c - pl are read as two pairs of
 * vectors (columns 0-15 and 2-17, lanes off the row masked to zero) and
 * split into the even columns (kx = 0), the odd ones (kx = 1) and the
 * even ones of the second pair (kx = 2).  Same sums in the same order as
 * the AVX-512 kernels. */
typedef struct {
    intptr_t boff[DW_S1_MAXCH8];           /* bytes from the row start */
    __m256i ma[DW_S1_MAXCH8], mb[DW_S1_MAXCH8], ma2[DW_S1_MAXCH8], mb2[DW_S1_MAXCH8];
    __m256i st[DW_S1_MAXCH8];
} dw_s2_masks8;

/* even and odd lanes of the 16 floats a, b */
__attribute__((target("avx2"), always_inline))
static inline __m256 dw_even8(__m256 a, __m256 b)
{
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2"), always_inline))
static inline __m256 dw_odd8(__m256 a, __m256 b)
{
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* row's three taps for chunk ch into acc: acc += w[0] e + w[1] o + w[2] e2 */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 dw_s2_row8(const dw_s2_masks8 *m, uintptr_t row, int ch, const float *w,
                                __m256 acc)
{
    const float *src = (const float *)(row + m->boff[ch]);
    __m256 a = _mm256_maskload_ps(src, m->ma[ch]), b = _mm256_maskload_ps(src + 8, m->mb[ch]);
    __m256 a2 = _mm256_maskload_ps(src + 2, m->ma2[ch]), b2 = _mm256_maskload_ps(src + 10, m->mb2[ch]);
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w), dw_even8(a, b), acc);
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 1), dw_odd8(a, b), acc);
    return _mm256_fmadd_ps(_mm256_broadcast_ss(w + 2), dw_even8(a2, b2), acc);
}

__attribute__((target("avx2,fma"), always_inline))
static inline void dw_s2k3_strip8(const conv_params *p, const dw_s2_masks8 *m, const float *in,
                                  const float *w, __m256 vb, __m256 vlo, __m256 vhi, float *out,
                                  int c0, const int NC)
{
    __m256 cur[2], nxt[2];
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) cur[c] = nxt[c] = vb;
    int iy = -p->pt;
    if (iy >= 0 && iy < p->h) {
        uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) cur[c] = dw_s2_row8(m, row, c0 + c, w, cur[c]);
    }
    for (int oy = 0; oy < p->oh; oy++) {
        iy = 2 * oy - p->pt + 1;
        if (iy >= 0 && iy < p->h) {
            uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) cur[c] = dw_s2_row8(m, row, c0 + c, w + 3, cur[c]);
        }
        iy++;
        if (iy >= 0 && iy < p->h) {
            uintptr_t row = (uintptr_t)(in + (size_t)iy * p->w);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                /* the shared row: kernel row 2 of this output row, 0 of the next */
                const float *src = (const float *)(row + m->boff[c0 + c]);
                __m256 a = _mm256_maskload_ps(src, m->ma[c0 + c]);
                __m256 b = _mm256_maskload_ps(src + 8, m->mb[c0 + c]);
                __m256 a2 = _mm256_maskload_ps(src + 2, m->ma2[c0 + c]);
                __m256 b2 = _mm256_maskload_ps(src + 10, m->mb2[c0 + c]);
                __m256 e = dw_even8(a, b), o = dw_odd8(a, b), e2 = dw_even8(a2, b2);
                cur[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 6), e, cur[c]);
                cur[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 7), o, cur[c]);
                cur[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 8), e2, cur[c]);
                nxt[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w), e, nxt[c]);
                nxt[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 1), o, nxt[c]);
                nxt[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + 2), e2, nxt[c]);
            }
        }
        float *o = out + (size_t)oy * p->ow + 8 * c0;
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            _mm256_maskstore_ps(o + 8 * c, m->st[c0 + c], _mm256_min_ps(_mm256_max_ps(cur[c], vlo), vhi));
            cur[c] = nxt[c];
            nxt[c] = vb;
        }
    }
}

__attribute__((target("avx2,fma")))
static void dw_s2k3_avx2(const conv_params *p, const float *in, const float *w, float bias,
                         float *out, float lo, float hi)
{
    __m256 vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int ow = p->ow, nch = (ow + 7) / 8;
    dw_s2_masks8 m;
    for (int c = 0; c < nch; c++) {
        /* input lanes j of the 18 from column b that lie on the row */
        int b = 16 * c - p->pl, lane[4][8];
        for (int j = 0; j < 8; j++)
            for (int v = 0; v < 4; v++) {
                int col = b + (v == 0 ? 0 : v == 1 ? 8 : v == 2 ? 2 : 10) + j;
                lane[v][j] = col >= 0 && col < p->w ? -1 : 0;
            }
        m.boff[c] = (intptr_t)b * (intptr_t)sizeof(float);
        m.ma[c] = _mm256_loadu_si256((const __m256i *)(const void *)lane[0]);
        m.mb[c] = _mm256_loadu_si256((const __m256i *)(const void *)lane[1]);
        m.ma2[c] = _mm256_loadu_si256((const __m256i *)(const void *)lane[2]);
        m.mb2[c] = _mm256_loadu_si256((const __m256i *)(const void *)lane[3]);
        int st[8];
        for (int j = 0; j < 8; j++) st[j] = 8 * c + j < ow ? -1 : 0;
        m.st[c] = _mm256_loadu_si256((const __m256i *)(const void *)st);
    }
    int c = 0;
    for (; c + 2 <= nch; c += 2)
        dw_s2k3_strip8(p, &m, in, w, vb, vlo, vhi, out, c, 2);
    if (c < nch)
        dw_s2k3_strip8(p, &m, in, w, vb, vlo, vhi, out, c, 1);
}
#endif

int dw_s2_cols_init(dw_s2_cols *m, int w, int pl, int ow)
{
    int nch = (ow + 15) / 16;
    for (int c = 0; c < nch; c++) {
        /* input lanes j of the 33 from column b that lie on the row */
        int b = 32 * c - pl;
        int jlo = b >= 0 ? 0 : -b, jhi = w - b;
        if (jhi > 33) jhi = 33;
        uint64_t valid = jhi > jlo ? (((uint64_t)1 << jhi) - 1) & ~(((uint64_t)1 << jlo) - 1) : 0;
        m->boff[c] = (intptr_t)b * (intptr_t)sizeof(float);
        m->ma[c] = (uint16_t)valid;
        m->mb[c] = (uint16_t)(valid >> 16);
        m->mc[c] = (uint16_t)(valid >> 32);
        int n = ow - 16 * c;
        m->st[c] = (uint16_t)(n >= 16 ? 0xffff : (1u << n) - 1);
    }
    return nch;
}

void dw_fill_planes(int level, const dw_plan *d, const conv_params *p, const float *in,
                    float *pl)
{
    dw_planes(level, d, p, in, pl);
}

int dw_flat_cols_ok(int level, const dw_plan *d, const conv_params *p)
{
#if defined(__x86_64__)
    return level >= SIMD_AVX512 && d->flat && d->fch == 4 && p->sh == 1 && p->sw == 1;
#else
    (void)level; (void)d; (void)p;
    return 0;
#endif
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void dw_flat_cols_avx512(const dw_plan *d, const conv_params *p, const float *in, int k0,
                                int kc, float *abuf)
{
    int nt = d->ntaps, np = (p->oh * p->ow + 7) / 8;
    size_t hw = (size_t)p->h * p->w, ps = (size_t)kc * 8;
    for (int r = 0; r < kc; r++) {
        int row = k0 + r, ci = row / nt, t = row % nt;
        const unsigned short *m = d->fmask + (size_t)t * d->fch;
        uintptr_t base = (uintptr_t)(in + (size_t)ci * hw) + (intptr_t)d->foff[t] * (intptr_t)sizeof(float);
        float *dst = abuf + (size_t)r * 8;
        for (int c = 0; c < 4 && 2 * c < np; c++) {
            __m512 v = _mm512_maskz_loadu_ps((__mmask16)m[c], (const float *)(base + (size_t)c * 64));
            _mm256_storeu_ps(dst + (size_t)(2 * c) * ps, _mm512_castps512_ps256(v));
            if (2 * c + 1 < np)
                _mm256_storeu_ps(dst + (size_t)(2 * c + 1) * ps,
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        }
    }
}
#endif

void dw_flat_cols(const dw_plan *d, const conv_params *p, const float *in, int k0, int kc,
                  float *abuf)
{
#if defined(__x86_64__)
    dw_flat_cols_avx512(d, p, in, k0, kc, abuf);
#else
    (void)d; (void)p; (void)in; (void)k0; (void)kc; (void)abuf;
#endif
}

/* dw_s1k3_avx512 takes it */
static int dw_s1k3_ok(const conv_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 &&
           p->pt == 1 && p->pb == 1 && p->pl == 1 && p->pr == 1 && p->w >= DW_S1_MINW &&
           p->w <= 16 * DW_S1_MAXCH && p->h >= 1;
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
void dw_band_s2k3(const dw_s2_cols *m, int nch, const conv_params *p, const float *in,
                  const float *w, float bias, float *out)
{
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0.0f;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
    __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m512 wv[9];
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    int c = 0;
    for (; c + 4 <= nch; c += 4)
        dw_s2k3_strip(p, m, in, wv, vb, vlo, vhi, out, c, 4);
    switch (nch - c) {
    case 3: dw_s2k3_strip(p, m, in, wv, vb, vlo, vhi, out, c, 3); break;
    case 2: dw_s2k3_strip(p, m, in, wv, vb, vlo, vhi, out, c, 2); break;
    case 1: dw_s2k3_strip(p, m, in, wv, vb, vlo, vhi, out, c, 1); break;
    default: break;
    }
}
#else
void dw_band_s2k3(const dw_s2_cols *m, int nch, const conv_params *p, const float *in,
                  const float *w, float bias, float *out)
{
    (void)m; (void)nch; (void)p; (void)in; (void)w; (void)bias; (void)out;
}
#endif

int dw_band_ok(int level, const dw_plan *d, const conv_params *p)
{
#if defined(__x86_64__)
    /* the branch dw_channel takes for such a p: s2k3, whose strips check
     * every row against p->h and p->pt */
    return level >= SIMD_AVX512 && (d->flat || d->rch) && !d->flat && !dw_s1k3_ok(p) &&
           p->sw == 2 && p->kw == 3 && p->dw == 1 && p->ow <= 16 * DW_S2_MAXCH &&
           p->kh == 3 && p->sh == 2 && p->dh == 1;
#else
    (void)level;
    (void)d;
    (void)p;
    return 0;
#endif
}

void dw_channel(int level, const dw_plan *d, const conv_params *p, const float *in,
                const float *w, float bias, float *out, float *scratch)
{
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0.0f;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
#if defined(__x86_64__)
    if (level >= SIMD_AVX512 && (d->flat || d->rch)) {
        /* measured (1 core, MobileNetV2's layers): flat beats the rest
         * wherever it applies (7x7: 3x the narrow kernel, 56x56: 1.4x the
         * planes); maps up to 16 wide keep four rows in flight (narrow);
         * wider stride-2 rows read in place beat the planes by 5-20%.
         * 3-wide stride-2 kernels split each input run once (s2k3):
         * MobileNetV2's four stride-2 layers 0.32, 0.144, 0.053, 0.082 ms
         * -> 0.177, 0.070, 0.029, 0.043 against the rows and narrow
         * kernels (two engines in one process, 60 alternating runs,
         * medians of thread CPU time).  3x3 stride 1 "same" on maps 10
         * wide or more walks down strips instead (s1k3), each input row
         * read once for three output rows: 112x112 0.181 -> 0.087 ms,
         * 56x56 0.187 -> 0.107, 28x28 0.064 -> 0.044, 14x14 0.044 ->
         * 0.030 against flat; and s2k3 with kernels 3 high and vertical
         * stride 2 walks down too, splitting the shared rows once:
         * 112x112 -> 56x56 0.185 -> 0.130, 56x56 -> 28x28 0.065 ->
         * 0.061 (bench_kernels -b, best of 300 and of 40). */
        if (dw_s1k3_ok(p))
            dw_s1k3_avx512(p, in, w, bias, out, lo, hi);
        else if (d->flat)
            dw_flat_avx512(d, in, w, bias, out, lo, hi);
        else if (p->sw == 2 && p->kw == 3 && p->dw == 1 && p->ow <= 16 * DW_S2_MAXCH)
            dw_s2k3_avx512(p, in, w, bias, out, lo, hi);
        else if (p->ow <= 16 && p->kw <= 16)
            dw_narrow_avx512(p, in, w, bias, out, lo, hi);
        else
            dw_rows_avx512(d, p, in, w, bias, out, lo, hi);
        return;
    }
#endif
#if defined(__x86_64__)
    if (level == SIMD_AVX2 && p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 &&
        p->dh == 1 && p->dw == 1 && p->pt == 1 && p->pb == 1 && p->pl == 1 && p->pr == 1 &&
        p->w <= 8 * DW_S1_MAXCH8) {
        dw_s1k3_avx2(p, in, w, bias, out, lo, hi);
        return;
    }
    if (level == SIMD_AVX2 && p->kh == 3 && p->kw == 3 && p->sh == 2 && p->sw == 2 &&
        p->dh == 1 && p->dw == 1 && p->ow <= 8 * DW_S1_MAXCH8) {
        dw_s2k3_avx2(p, in, w, bias, out, lo, hi);
        return;
    }
#endif
    float *pl = scratch, *wide = scratch + (size_t)p->sh * p->sw * d->plane;
    size_t n = (size_t)p->oh * d->L;
    dw_planes(level, d, p, in, pl);
#if defined(__x86_64__)
    /* the vector loops round n up to 64 / 32: the slack covers it */
    if (level >= SIMD_AVX512)
        dw_taps_avx512(d, pl, w, bias, wide, n);
    else if (level >= SIMD_AVX2)
        dw_taps_avx2(d, pl, w, bias, wide, n);
    else
#endif
        dw_taps_c(d, pl, w, bias, wide, n);
    for (int oy = 0; oy < p->oh; oy++) {
        const float *s = wide + (size_t)oy * d->L;
        float *o = out + (size_t)oy * p->ow;
        if (p->act == ACT_NONE)
            memcpy(o, s, (size_t)p->ow * sizeof(float));
#if defined(__x86_64__)
        else if (level >= SIMD_AVX512)
            clamp_avx512(o, s, p->ow, lo, hi);
        else if (level >= SIMD_AVX2)
            clamp_avx2(o, s, p->ow, lo, hi);
#endif
        else
            for (int x = 0; x < p->ow; x++) {
                float v = s[x];
                o[x] = v < lo ? lo : v > hi ? hi : v;
            }
    }
}
