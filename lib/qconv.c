/* qconv.c - integer convolution for quantised models (see kern_q.h).
 *
 * GEMM layouts (group 1, K = cin * kh * kw in (ci, ky, kx) order,
 * Kq = ceil(K / 4) quads, N = oh * ow output pixels):
 *   weights: panels of QMR = 16 rows, apack[(panel * Kq + q) * 16 + i] is
 *            one int32 holding the four int8 w'[m][4q .. 4q+3] of row
 *            m = panel * 16 + i (w' = w - zw[m], or w - 128 / w when that
 *            does not fit in int8; zero past K and past cout)
 *   input:   one panel of QNR = 16 pixels at a time, bpack[q * 16 + j] one
 *            int32 holding the four uint8 x[4q .. 4q+3][n0 + j] (input q
 *            plus 128 for an int8 input; the zero point where the window
 *            falls on padding; zero past K), with colsum[j] their sum.
 * Tasks take runs of pixel panels (and, when there are few, runs of weight
 * panels); each packs its pixel panels into per-thread scratch and runs
 * every weight panel of its run over them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#include "transpose16.h"
#endif
#include "kern_q.h"
#include "kern_dw.h"
#include "kmem.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define QMR 16
#define QNR 16
/* Depthwise layers left lazy have at most this many taps (a 7x7 kernel). */
#define QDW_LAZY_TAPS 64

/* How the weights are stored: 16-bit integers, or one byte each. */
enum { QW_I16, QW_U8, QW_I8 };

/* Row m (n values) of the stored weights w of type t, widened into row. */
static void qw_row(const void *w, int t, int m, size_t n, int16_t *row)
{
    size_t o = (size_t)m * n;
    if (t == QW_I16) {
        memcpy(row, (const int16_t *)w + o, n * sizeof *row);
    } else if (t == QW_I8) {
        const int8_t *s = (const int8_t *)w + o;
        for (size_t i = 0; i < n; i++)
            row[i] = s[i];
    } else {
        const uint8_t *s = (const uint8_t *)w + o;
        for (size_t i = 0; i < n; i++)
            row[i] = s[i];
    }
}

enum { QI_REF, QI_GEMM, QI_DW };
enum { QL_C = 0, QL_AVX2 = 1, QL_VNNI = 2 };

struct qconv_kernel {
    qconv_params q;
    int impl;
    int level;              /* gemm: QL_*; depthwise: SIMD_* */
    int K, Kq, Mp;          /* gemm */
    int direct;             /* 1x1, stride 1, no pads: row k of B at in + k*N */
    int N;
    int zxu, xlo, xhi;      /* stored input zero point and range, as uint8 */
    float inv_s;            /* 1 / in_scale */
    float lo, hi;           /* output clamp relative to the zero point */
    int32_t *apack;         /* gemm: Mp/16 x Kq x 16 */
    int32_t *rowc, *cm;     /* gemm: Mp each */
    unsigned char *pcs;     /* gemm: per weight panel, some cm != 0 */
    int64_t *a16;           /* gemm, AVX2: apack widened, 4 x int16 per entry */
    float *mult;            /* Mp (gemm) or cout */
    int16_t *wq;            /* ref: the weights as given */
    int32_t *wzp, *bias;    /* ref */
    float *wscale;          /* ref */
    float *wdw, *bdw;       /* depthwise: (w - zw) and the bias, as floats */
    conv_params dwp;        /* depthwise: the shape, no activation */
    dw_plan dw;
    size_t wbytes;
    int lazy;               /* gemm (VNNI): no apack, panels packed per run
                               from lw (rowc, cm, pcs malloc'd); depthwise:
                               no wdw / bdw, taps made per run from lw */
    const void *lw;         /* lazy: the stored bytes */
    int lwt;                /* lazy: QW_U8 or QW_I8 */
    int32_t *lwzp, *lbias;  /* lazy: copies of what qprepare was given */
    float *lws;
};

int qconv_has_vnni(void)
{
#if defined(__x86_64__)
    if (simd_level() < SIMD_AVX512)
        return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/* ------------------------------------------------------------ packing */

typedef struct {
    const qconv_kernel *k;
    const float *in;
    float *out;
    unsigned char *scratch;
    size_t sstride;          /* scratch bytes per thread */
    int npan, per, nmt, mpt; /* pixel panels, per task; weight-panel runs */
    const unsigned char *in8; /* the input as stored q (uint8) instead of in */
    unsigned char *out8;     /* store q (uint8) here instead of out */
} qjob;

/* Rows 4q .. 4q+3 of the im2col'ed input for the pixels [n0, n0 + nv) as
 * floats in t[4][16] (0 = real zero for padding and for pixels past nv);
 * returns the number of rows that exist (the others are past K). */
static int qgather(const qconv_kernel *k, const float *in, int q, int n0, int nv, float t[4][16])
{
    const conv_params *p = &k->q.p;
    int rows = k->K - 4 * q < 4 ? k->K - 4 * q : 4;
    int oy0 = 0, ox0 = 0, one_row = 1;
    int by[QNR], bx[QNR];
    if (!k->direct) {
        oy0 = n0 / p->ow;
        ox0 = n0 % p->ow;
        one_row = ox0 + nv <= p->ow;
        if (!one_row)
            for (int j = 0, oy = oy0, ox = ox0; j < nv; j++) {
                by[j] = oy * p->sh - p->pt;
                bx[j] = ox * p->sw - p->pl;
                if (++ox == p->ow) ox = 0, oy++;
            }
    }
    for (int r = 0; r < rows; r++) {
        int kk = 4 * q + r;
        if (k->direct) {
            const float *s = in + (size_t)kk * k->N + n0;
            for (int j = 0; j < nv; j++) t[r][j] = s[j];
        } else {
            int kx = kk % p->kw, ky = kk / p->kw % p->kh, ci = kk / (p->kw * p->kh);
            const float *ip = in + (size_t)ci * p->h * p->w;
            if (one_row) {
                /* the panel lies in one output row: one input row per tap */
                int iy = oy0 * p->sh - p->pt + ky * p->dh;
                int ix = ox0 * p->sw - p->pl + kx * p->dw;
                if (iy < 0 || iy >= p->h) {
                    for (int j = 0; j < nv; j++) t[r][j] = 0.0f;
                } else {
                    const float *row = ip + (size_t)iy * p->w;
                    for (int j = 0; j < nv; j++, ix += p->sw)
                        t[r][j] = (unsigned)ix < (unsigned)p->w ? row[ix] : 0.0f;
                }
            } else {
                int dy = ky * p->dh, dx = kx * p->dw;
                for (int j = 0; j < nv; j++) {
                    int iy = by[j] + dy, ix = bx[j] + dx;
                    t[r][j] = (unsigned)iy < (unsigned)p->h && (unsigned)ix < (unsigned)p->w
                                  ? ip[(size_t)iy * p->w + ix] : 0.0f;
                }
            }
        }
        for (int j = nv; j < QNR; j++) t[r][j] = 0.0f;
    }
    return rows;
}

static inline int qquant(const qconv_kernel *k, float x)
{
    float v = nearbyintf(x * k->inv_s);
    int q = (v > -1e4f ? (v < 1e4f ? (int)v : 10000) : -10000) + k->zxu;   /* NaN: low */
    return q < k->xlo ? k->xlo : q > k->xhi ? k->xhi : q;
}

static void qpack_c(const qconv_kernel *k, const float *in, int n0, int nv, int32_t *bp,
                    int32_t *colsum)
{
    float t[4][16];
    for (int j = 0; j < QNR; j++) colsum[j] = 0;
    for (int q = 0; q < k->Kq; q++) {
        int rows = qgather(k, in, q, n0, nv, t);
        for (int j = 0; j < QNR; j++) {
            uint32_t word = 0;
            for (int r = 0; r < rows; r++) {
                int u = qquant(k, t[r][j]);
                colsum[j] += u;
                word |= (uint32_t)u << (8 * r);
            }
            bp[q * QNR + j] = (int32_t)word;
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void qpack_avx2(const qconv_kernel *k, const float *in, int n0, int nv, int32_t *bp,
                       int32_t *colsum)
{
    float t[4][16];
    const __m256 inv = _mm256_set1_ps(k->inv_s);
    const __m256i zx = _mm256_set1_epi32(k->zxu), lo = _mm256_set1_epi32(k->xlo),
                  hi = _mm256_set1_epi32(k->xhi);
    __m256i cs0 = _mm256_setzero_si256(), cs1 = _mm256_setzero_si256();
    int full = k->direct && nv == QNR;
    for (int q = 0; q < k->Kq; q++) {
        const float *src[4];
        int rows;
        if (full && 4 * q + 4 <= k->K) {
            rows = 4;
            for (int r = 0; r < 4; r++) src[r] = in + (size_t)(4 * q + r) * k->N + n0;
        } else {
            rows = qgather(k, in, q, n0, nv, t);
            for (int r = 0; r < 4; r++) src[r] = t[r];
        }
        __m256i w0 = _mm256_setzero_si256(), w1 = _mm256_setzero_si256();
        for (int r = 0; r < rows; r++) {
            __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src[r]), inv));
            __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src[r] + 8), inv));
            a = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(a, zx), lo), hi);
            b = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(b, zx), lo), hi);
            cs0 = _mm256_add_epi32(cs0, a);
            cs1 = _mm256_add_epi32(cs1, b);
            w0 = _mm256_or_si256(w0, _mm256_slli_epi32(a, 8 * r));
            w1 = _mm256_or_si256(w1, _mm256_slli_epi32(b, 8 * r));
        }
        _mm256_store_si256((__m256i *)(bp + q * QNR), w0);
        _mm256_store_si256((__m256i *)(bp + q * QNR + 8), w1);
    }
    _mm256_storeu_si256((__m256i *)colsum, cs0);
    _mm256_storeu_si256((__m256i *)(colsum + 8), cs1);
}

/* qgather for a panel inside one output row whose four taps' input runs
 * (stride 1 or 2) lie wholly inside the input rows: vector loads (and a
 * permute keeping the even lanes for stride 2).  0 when the panel is not
 * so (qgather then). */
__attribute__((target("avx512f")))
static int qgather_rows_avx512(const qconv_kernel *k, const float *in, int q, int n0, int nv,
                               float t[4][16])
{
    const conv_params *p = &k->q.p;
    int rows = k->K - 4 * q < 4 ? k->K - 4 * q : 4;
    int oy0 = n0 / p->ow, ox0 = n0 % p->ow;
    if (ox0 + nv > p->ow || (p->sw != 1 && p->sw != 2))
        return 0;
    const float *srow[4];
    int ixs[4];
    for (int r = 0; r < rows; r++) {
        int kk = 4 * q + r;
        int kx = kk % p->kw, ky = kk / p->kw % p->kh, ci = kk / (p->kw * p->kh);
        int iy = oy0 * p->sh - p->pt + ky * p->dh, ix = ox0 * p->sw - p->pl + kx * p->dw;
        if (iy < 0 || iy >= p->h || ix < 0 || ix + (nv - 1) * p->sw >= p->w)
            return 0;
        srow[r] = in + ((size_t)ci * p->h + iy) * p->w;
        ixs[r] = ix;
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14,
                                           16, 18, 20, 22, 24, 26, 28, 30);
    int span = (nv - 1) * p->sw + 1;        /* input floats the panel covers */
    __mmask16 m0 = (__mmask16)(span >= 16 ? 0xffff : (1u << span) - 1);
    __mmask16 m1 = (__mmask16)(span > 16 ? (1u << (span - 16)) - 1 : 0);
    for (int r = 0; r < rows; r++) {
        const float *s = srow[r] + ixs[r];
        __m512 v = _mm512_maskz_loadu_ps(m0, s);
        if (p->sw == 2)
            v = _mm512_permutex2var_ps(v, even, _mm512_maskz_loadu_ps(m1, s + 16));
        _mm512_storeu_ps(t[r], v);
    }
    return 1;
}

__attribute__((target("avx512f,avx512bw")))
static void qpack_avx512(const qconv_kernel *k, const float *in, int n0, int nv, int32_t *bp,
                         int32_t *colsum)
{
    float t[4][16];
    const __m512 inv = _mm512_set1_ps(k->inv_s);
    const __m512i zx = _mm512_set1_epi32(k->zxu), lo = _mm512_set1_epi32(k->xlo),
                  hi = _mm512_set1_epi32(k->xhi);
    __m512i cs = _mm512_setzero_si512();
    int full = k->direct && nv == QNR;
    for (int q = 0; q < k->Kq; q++) {
        const float *src[4];
        int rows;
        if (full && 4 * q + 4 <= k->K) {
            rows = 4;
            for (int r = 0; r < 4; r++) src[r] = in + (size_t)(4 * q + r) * k->N + n0;
        } else if (!k->direct && qgather_rows_avx512(k, in, q, n0, nv, t)) {
            rows = k->K - 4 * q < 4 ? k->K - 4 * q : 4;
            for (int r = 0; r < 4; r++) src[r] = t[r];
        } else {
            rows = qgather(k, in, q, n0, nv, t);
            for (int r = 0; r < 4; r++) src[r] = t[r];
        }
        __m512i w = _mm512_setzero_si512();
        for (int r = 0; r < rows; r++) {
            __m512i a = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src[r]), inv));
            a = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(a, zx), lo), hi);
            cs = _mm512_add_epi32(cs, a);
            w = _mm512_or_si512(w, _mm512_slli_epi32(a, 8 * r));
        }
        _mm512_store_si512((void *)(bp + q * QNR), w);
    }
    _mm512_storeu_si512((void *)colsum, cs);
}
#endif

/* The same from an input stored as uint8 q (direct 1x1 convolutions
 * only): the bytes are the quads' values as they are. */
static int qgather8(const qconv_kernel *k, const unsigned char *in, int q, int n0, int nv,
                    unsigned char t[4][16])
{
    int rows = k->K - 4 * q < 4 ? k->K - 4 * q : 4;
    for (int r = 0; r < rows; r++) {
        memcpy(t[r], in + (size_t)(4 * q + r) * k->N + n0, (size_t)nv);
        memset(t[r] + nv, 0, (size_t)(QNR - nv));
    }
    return rows;
}

static void qpack8_c(const qconv_kernel *k, const unsigned char *in, int n0, int nv, int32_t *bp,
                     int32_t *colsum)
{
    unsigned char t[4][16];
    for (int j = 0; j < QNR; j++) colsum[j] = 0;
    for (int q = 0; q < k->Kq; q++) {
        int rows = qgather8(k, in, q, n0, nv, t);
        for (int j = 0; j < QNR; j++) {
            uint32_t word = 0;
            for (int r = 0; r < rows; r++) {
                colsum[j] += t[r][j];
                word |= (uint32_t)t[r][j] << (8 * r);
            }
            bp[q * QNR + j] = (int32_t)word;
        }
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void qpack8_avx2(const qconv_kernel *k, const unsigned char *in, int n0, int nv,
                        int32_t *bp, int32_t *colsum)
{
    unsigned char t[4][16];
    __m256i cs0 = _mm256_setzero_si256(), cs1 = _mm256_setzero_si256();
    for (int q = 0; q < k->Kq; q++) {
        const unsigned char *src[4];
        int rows;
        if (nv == QNR && 4 * q + 4 <= k->K) {
            rows = 4;
            for (int r = 0; r < 4; r++) src[r] = in + (size_t)(4 * q + r) * k->N + n0;
        } else {
            rows = qgather8(k, in, q, n0, nv, t);
            for (int r = 0; r < 4; r++) src[r] = t[r];
        }
        __m256i w0 = _mm256_setzero_si256(), w1 = _mm256_setzero_si256();
        for (int r = 0; r < rows; r++) {
            __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src[r]));
            __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src[r] + 8)));
            cs0 = _mm256_add_epi32(cs0, a);
            cs1 = _mm256_add_epi32(cs1, b);
            w0 = _mm256_or_si256(w0, _mm256_slli_epi32(a, 8 * r));
            w1 = _mm256_or_si256(w1, _mm256_slli_epi32(b, 8 * r));
        }
        _mm256_store_si256((__m256i *)(bp + q * QNR), w0);
        _mm256_store_si256((__m256i *)(bp + q * QNR + 8), w1);
    }
    _mm256_storeu_si256((__m256i *)colsum, cs0);
    _mm256_storeu_si256((__m256i *)(colsum + 8), cs1);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static void qpack8_avx512(const qconv_kernel *k, const unsigned char *in, int n0, int nv,
                          int32_t *bp, int32_t *colsum)
{
    __m512i cs = _mm512_setzero_si512();
    const __mmask16 m = (__mmask16)((1u << nv) - 1);
    for (int q = 0; q < k->Kq; q++) {
        int rows = k->K - 4 * q < 4 ? k->K - 4 * q : 4;
        __m512i w = _mm512_setzero_si512();
        for (int r = 0; r < rows; r++) {
            __m512i a = _mm512_cvtepu8_epi32(
                _mm_maskz_loadu_epi8(m, in + (size_t)(4 * q + r) * k->N + n0));
            cs = _mm512_add_epi32(cs, a);
            w = _mm512_or_si512(w, _mm512_slli_epi32(a, 8 * r));
        }
        _mm512_store_si512((void *)(bp + q * QNR), w);
    }
    _mm512_storeu_si512((void *)colsum, cs);
}
#endif

/* ------------------------------------------------------------ micro-kernels */

/* One tile: rows [m0, m0 + mv) of the weight panel a, the pixel panel b
 * (nv valid pixels), stored at out (row stride ldo). */
typedef struct {
    const qconv_kernel *k;
    int m0, mv, nv;
    float *out;
    unsigned char *out8;    /* not NULL: store q (uint8) here instead */
    size_t ldo;
} qtile;

static void qukr_c(const qtile *t, const int32_t *a, const int32_t *b, const int32_t *colsum)
{
    const qconv_kernel *k = t->k;
    int32_t acc[QMR][QNR];
    int16_t bq[4][QNR];
    memset(acc, 0, sizeof acc);
    for (int q = 0; q < k->Kq; q++) {
        /* the quad's 4 x 16 input values, then rank-1 updates the
         * compiler vectorises (16-bit products widened to 32) */
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < QNR; j++)
                bq[r][j] = (int16_t)(((uint32_t)b[q * QNR + j] >> (8 * r)) & 0xff);
        for (int i = 0; i < t->mv; i++) {
            uint32_t wa = (uint32_t)a[q * QMR + i];
            int16_t w0 = (int8_t)(uint8_t)wa, w1 = (int8_t)(uint8_t)(wa >> 8),
                    w2 = (int8_t)(uint8_t)(wa >> 16), w3 = (int8_t)(uint8_t)(wa >> 24);
            /* the quad's four 16-bit products (widened to 32) summed first:
             * one pass over the row of sums per quad; exact */
            for (int j = 0; j < QNR; j++)
                acc[i][j] += (int32_t)w0 * bq[0][j] + (int32_t)w1 * bq[1][j] +
                             (int32_t)w2 * bq[2][j] + (int32_t)w3 * bq[3][j];
        }
    }
    for (int i = 0; i < t->mv; i++) {
        int m = t->m0 + i;
        for (int j = 0; j < t->nv; j++) {
            int32_t s = acc[i][j] + k->cm[m] * colsum[j] + k->rowc[m];
            float v = qconv_requant(s, k->mult[m], k->lo, k->hi, 1.0f);
            if (t->out8)
                t->out8[(size_t)i * t->ldo + j] = (unsigned char)((int)v + k->q.out_zp);
            else
                t->out[(size_t)i * t->ldo + j] = k->q.out_scale * v;
        }
    }
}

#if defined(__x86_64__)
/* Two rows at a time on 16-bit values: the pixel panel widened once per
 * panel (qwiden_avx2), the weights at prepare (a16: one int64 holds a
 * row's four int16 of a quad, broadcast); vpmaddwd gives per pixel two
 * partial sums (k 0-1 and k 2-3), added pairwise at the end. */
__attribute__((target("avx2")))
static void qwiden_avx2(const int32_t *bp, int16_t *bw, int kq)
{
    for (int q = 0; q < kq; q++)
        for (int h = 0; h < 4; h++)
            _mm256_store_si256((__m256i *)(bw + (size_t)q * 64 + 16 * h),
                               _mm256_cvtepu8_epi16(_mm_load_si128(
                                   (const __m128i *)(bp + q * QNR + 4 * h))));
}

__attribute__((target("avx2,fma")))
static void qukr_avx2(const qtile *t, const int64_t *a, const int16_t *b, const int32_t *colsum)
{
    const qconv_kernel *k = t->k;
    const __m256 lo = _mm256_set1_ps(k->lo), hi = _mm256_set1_ps(k->hi),
                 so = _mm256_set1_ps(k->q.out_scale), magic = _mm256_set1_ps(12582912.0f);
    const __m256i zo = _mm256_set1_epi32(k->q.out_zp);
    const __m256i cs0 = _mm256_loadu_si256((const __m256i *)colsum),
                  cs1 = _mm256_loadu_si256((const __m256i *)(colsum + 8));
    for (int i = 0; i < t->mv; i += 2) {
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00;
        __m256i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int q = 0; q < k->Kq; q++) {
            const __m256i *bq = (const __m256i *)(b + (size_t)q * 64);
            __m256i w0 = _mm256_set1_epi64x(a[q * QMR + i]);
            __m256i w1 = _mm256_set1_epi64x(a[q * QMR + i + 1]);
            a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(_mm256_load_si256(bq), w0));
            a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(_mm256_load_si256(bq + 1), w0));
            a02 = _mm256_add_epi32(a02, _mm256_madd_epi16(_mm256_load_si256(bq + 2), w0));
            a03 = _mm256_add_epi32(a03, _mm256_madd_epi16(_mm256_load_si256(bq + 3), w0));
            a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(_mm256_load_si256(bq), w1));
            a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(_mm256_load_si256(bq + 1), w1));
            a12 = _mm256_add_epi32(a12, _mm256_madd_epi16(_mm256_load_si256(bq + 2), w1));
            a13 = _mm256_add_epi32(a13, _mm256_madd_epi16(_mm256_load_si256(bq + 3), w1));
        }
        __m256i r[4] = {
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(a00, a01), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(a02, a03), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(a10, a11), 0xD8),
            _mm256_permute4x64_epi64(_mm256_hadd_epi32(a12, a13), 0xD8)};
        for (int h = 0; h < 2 && i + h < t->mv; h++) {
            int m = t->m0 + i + h;
            __m256i cm = _mm256_set1_epi32(k->cm[m]), rc = _mm256_set1_epi32(k->rowc[m]);
            __m256 mu = _mm256_set1_ps(k->mult[m]);
            __m256 v[2];
            for (int half = 0; half < 2; half++) {
                __m256i acc = _mm256_add_epi32(
                    r[2 * h + half],
                    _mm256_add_epi32(_mm256_mullo_epi32(half ? cs1 : cs0, cm), rc));
                v[half] = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mu);
                v[half] = _mm256_min_ps(_mm256_max_ps(v[half], lo), hi);
                v[half] = _mm256_sub_ps(_mm256_add_ps(v[half], magic), magic);   /* +0, not -0 */
            }
            if (t->out8) {
                /* q = v + zero point, in [out_lo, out_hi] within 0..255:
                 * the saturating packs keep it as it is */
                __m256i q0 = _mm256_add_epi32(_mm256_cvttps_epi32(v[0]), zo),
                        q1 = _mm256_add_epi32(_mm256_cvttps_epi32(v[1]), zo);
                __m256i p16 = _mm256_permute4x64_epi64(_mm256_packus_epi32(q0, q1), 0xD8);
                __m128i p8 = _mm_packus_epi16(_mm256_castsi256_si128(p16),
                                              _mm256_extracti128_si256(p16, 1));
                unsigned char *d = t->out8 + (size_t)(i + h) * t->ldo;
                if (t->nv == 16) {
                    _mm_storeu_si128((__m128i *)d, p8);
                } else {
                    unsigned char q8[16];
                    _mm_storeu_si128((__m128i *)q8, p8);
                    memcpy(d, q8, (size_t)t->nv);
                }
            } else {
                float *d = t->out + (size_t)(i + h) * t->ldo;
                if (t->nv == 16) {
                    _mm256_storeu_ps(d, _mm256_mul_ps(v[0], so));
                    _mm256_storeu_ps(d + 8, _mm256_mul_ps(v[1], so));
                } else {
                    float o[16];
                    _mm256_storeu_ps(o, _mm256_mul_ps(v[0], so));
                    _mm256_storeu_ps(o + 8, _mm256_mul_ps(v[1], so));
                    memcpy(d, o, sizeof(float) * (size_t)t->nv);
                }
            }
        }
    }
}

/* 16 x 16 int32 accumulators in registers, one vpdpbusd per row per quad
 * (the row's weight quad broadcast from memory). */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void qukr_vnni(const qtile *t, const int32_t *a, const int32_t *b, const int32_t *colsum)
{
    const qconv_kernel *k = t->k;
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
            c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0,
            c14 = c0, c15 = c0;
    for (int q = 0; q < k->Kq; q++) {
        __m512i bv = _mm512_load_si512((const void *)(b + q * QNR));
        const int32_t *aq = a + q * QMR;
#define DP(i) c##i = _mm512_dpbusd_epi32(c##i, bv, _mm512_set1_epi32(aq[i]))
        DP(0); DP(1); DP(2); DP(3); DP(4); DP(5); DP(6); DP(7);
        DP(8); DP(9); DP(10); DP(11); DP(12); DP(13); DP(14); DP(15);
#undef DP
    }
    const __m512i cs = _mm512_loadu_si512((const void *)colsum);
    const __m512 lo = _mm512_set1_ps(k->lo), hi = _mm512_set1_ps(k->hi),
                 so = _mm512_set1_ps(k->q.out_scale), magic = _mm512_set1_ps(12582912.0f);
    const __mmask16 st = (__mmask16)((1u << t->nv) - 1);
    const int ucs = k->pcs[t->m0 / QMR];
    unsigned char *o8 = t->out8;
    const __m512i zo = _mm512_set1_epi32(k->q.out_zp);
#define EPI(i)                                                                          \
    if (i < t->mv) {                                                                    \
        int m = t->m0 + i;                                                              \
        __m512i acc = _mm512_add_epi32(c##i, _mm512_set1_epi32(k->rowc[m]));            \
        if (ucs)                                                                        \
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(cs, _mm512_set1_epi32(k->cm[m]))); \
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(k->mult[m]));  \
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);                                    \
        if (o8) /* vcvtps2dq rounds half to even (MXCSR default) */                     \
            _mm512_mask_cvtepi32_storeu_epi8(o8 + (size_t)(i) * t->ldo, st,               \
                _mm512_add_epi32(_mm512_cvtps_epi32(v), zo));                           \
        else                                                                            \
            _mm512_mask_storeu_ps(t->out + (size_t)(i) * t->ldo, st,                      \
                _mm512_mul_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), so));      \
    }
    EPI(0) EPI(1) EPI(2) EPI(3) EPI(4) EPI(5) EPI(6) EPI(7)
    EPI(8) EPI(9) EPI(10) EPI(11) EPI(12) EPI(13) EPI(14) EPI(15)
#undef EPI
}
#endif

#if defined(__x86_64__)
/* One pixel (a classifier as a 1x1 convolution): the rows of a weight
 * panel are the lanes, so each quad is one vpdpbusd of the 16 rows' int8
 * weights by the pixel's broadcast uint8 quad, and the 16 outputs, which
 * lie together, are stored at once. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void qgemv_vnni(const qtile *t, const int32_t *a, const int32_t *b, const int32_t *colsum)
{
    const qconv_kernel *k = t->k;
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
    int q = 0;
    for (; q + 4 <= k->Kq; q += 4) {
        c0 = _mm512_dpbusd_epi32(c0, _mm512_set1_epi32(b[q * QNR]),
                                 _mm512_load_si512((const void *)(a + q * QMR)));
        c1 = _mm512_dpbusd_epi32(c1, _mm512_set1_epi32(b[(q + 1) * QNR]),
                                 _mm512_load_si512((const void *)(a + (q + 1) * QMR)));
        c2 = _mm512_dpbusd_epi32(c2, _mm512_set1_epi32(b[(q + 2) * QNR]),
                                 _mm512_load_si512((const void *)(a + (q + 2) * QMR)));
        c3 = _mm512_dpbusd_epi32(c3, _mm512_set1_epi32(b[(q + 3) * QNR]),
                                 _mm512_load_si512((const void *)(a + (q + 3) * QMR)));
    }
    for (; q < k->Kq; q++)
        c0 = _mm512_dpbusd_epi32(c0, _mm512_set1_epi32(b[q * QNR]),
                                 _mm512_load_si512((const void *)(a + q * QMR)));
    __m512i acc = _mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3));
    acc = _mm512_add_epi32(acc, _mm512_loadu_si512((const void *)(k->rowc + t->m0)));
    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(colsum[0]),
                                                   _mm512_loadu_si512((const void *)(k->cm + t->m0))));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(k->mult + t->m0));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(k->lo)), _mm512_set1_ps(k->hi));
    const __mmask16 st = (__mmask16)((1u << t->mv) - 1);
    if (t->out8) {
        _mm512_mask_cvtepi32_storeu_epi8(t->out8, st, _mm512_add_epi32(_mm512_cvtps_epi32(v),
                                                                       _mm512_set1_epi32(k->q.out_zp)));
    } else {
        const __m512 mg = _mm512_set1_ps(12582912.0f);
        v = _mm512_sub_ps(_mm512_add_ps(v, mg), mg);
        _mm512_mask_storeu_ps(t->out, st, _mm512_mul_ps(v, _mm512_set1_ps(k->q.out_scale)));
    }
}
#endif

#if defined(__x86_64__)
static void qpanel_avx512(const unsigned char *w, int cout, int K, int Kq, int m0,
                          const int32_t *cm, const int32_t *wzp, unsigned char *pm);
#endif

static void qgemm_task(void *ctx, int task, int thread)
{
    const qjob *j = ctx;
    const qconv_kernel *k = j->k;
    int tn = task / j->nmt, tm = task % j->nmt;
    int p0 = tn * j->per, p1 = p0 + j->per < j->npan ? p0 + j->per : j->npan;
    int nmp = k->Mp / QMR;
    int mp0 = tm * j->mpt, mp1 = mp0 + j->mpt < nmp ? mp0 + j->mpt : nmp;
    int32_t *bp = (int32_t *)(void *)(j->scratch + (size_t)thread * j->sstride);
    int32_t *colsum = bp + (size_t)k->Kq * QNR;
    int16_t *bw = (int16_t *)(void *)(colsum + QNR);    /* AVX2: bp widened */
    /* the weight panels: packed once for all, or (lazy) this task's
     * [mp0, mp1) into the scratch now, as qprepare packs them */
    const int32_t *apack = k->apack;
    size_t aoff = 0;
#if defined(__x86_64__)
    if (k->lazy) {
        uintptr_t a = (uintptr_t)(colsum + QNR);
        int32_t *ab = (int32_t *)(void *)((a + 63) & ~(uintptr_t)63);
        for (int mp = mp0; mp < mp1; mp++)
            qpanel_avx512((const unsigned char *)k->lw, k->q.p.cout, k->K, k->Kq, mp * QMR, k->cm, k->lwzp,
                          (unsigned char *)(ab + (size_t)(mp - mp0) * k->Kq * QMR));
        apack = ab;
        aoff = (size_t)mp0 * k->Kq * QMR;
    }
#endif
    for (int pan = p0; pan < p1; pan++) {
        int n0 = pan * QNR, nv = k->N - n0 < QNR ? k->N - n0 : QNR;
        if (j->in8) {
#if defined(__x86_64__)
            if (k->level == QL_VNNI)
                qpack8_avx512(k, j->in8, n0, nv, bp, colsum);
            else if (k->level == QL_AVX2)
                qpack8_avx2(k, j->in8, n0, nv, bp, colsum);
            else
#endif
                qpack8_c(k, j->in8, n0, nv, bp, colsum);
        } else {
#if defined(__x86_64__)
            if (k->level == QL_VNNI)
                qpack_avx512(k, j->in, n0, nv, bp, colsum);
            else if (k->level == QL_AVX2)
                qpack_avx2(k, j->in, n0, nv, bp, colsum);
            else
#endif
                qpack_c(k, j->in, n0, nv, bp, colsum);
        }
#if defined(__x86_64__)
        if (k->level == QL_AVX2)
            qwiden_avx2(bp, bw, k->Kq);
#endif
        for (int mp = mp0; mp < mp1; mp++) {
            size_t o0 = (size_t)mp * QMR * k->N + n0;
            qtile t = {k, mp * QMR, 0, nv, j->out8 ? NULL : j->out + o0,
                       j->out8 ? j->out8 + o0 : NULL, (size_t)k->N};
            t.mv = k->q.p.cout - t.m0 < QMR ? k->q.p.cout - t.m0 : QMR;
            size_t a0 = (size_t)mp * k->Kq * QMR;
#if defined(__x86_64__)
            if (k->level == QL_VNNI && k->N == 1)
                qgemv_vnni(&t, apack + (a0 - aoff), bp, colsum);
            else if (k->level == QL_VNNI)
                qukr_vnni(&t, apack + (a0 - aoff), bp, colsum);
            else if (k->level == QL_AVX2)
                qukr_avx2(&t, k->a16 + a0, bw, colsum);
            else
#endif
                qukr_c(&t, apack + (a0 - aoff), bp, colsum);
        }
    }
}

/* ------------------------------------------------------------ depthwise */

/* dst[i] = the integer q - zx of src[i] (clamped to [a, b]), as a float */
static void qdw_in_c(const float *src, float *dst, size_t n, float inv, float a, float b)
{
    for (size_t i = 0; i < n; i++) {
        float v = src[i] * inv;
        v = v > a ? v : a;        /* NaN: a */
        v = v < b ? v : b;
        dst[i] = (v + 12582912.0f) - 12582912.0f;
    }
}

/* o[i] = so * clamp(round(o[i] * mu), lo, hi) */
static void qdw_out_c(float *o, size_t n, float mu, float lo, float hi, float so)
{
    for (size_t i = 0; i < n; i++) {
        float v = o[i] * mu;
        v = v > lo ? v : lo;
        v = v < hi ? v : hi;
        o[i] = so * ((v + 12582912.0f) - 12582912.0f);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void qdw_in_avx512(const float *src, float *dst, size_t n, float inv, float a, float b)
{
    const __m512 vi = _mm512_set1_ps(inv), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b),
                 mg = _mm512_set1_ps(12582912.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), vi);
        v = _mm512_min_ps(_mm512_max_ps(v, va), vb);        /* NaN: a */
        _mm512_mask_storeu_ps(dst + i, m, _mm512_sub_ps(_mm512_add_ps(v, mg), mg));
    }
}

__attribute__((target("avx512f")))
static void qdw_out_avx512(float *o, size_t n, float mu, float lo, float hi, float so)
{
    const __m512 vm = _mm512_set1_ps(mu), vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi),
                 vs = _mm512_set1_ps(so), mg = _mm512_set1_ps(12582912.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + i), vm);
        v = _mm512_min_ps(_mm512_max_ps(v, vl), vh);
        _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(_mm512_sub_ps(_mm512_add_ps(v, mg), mg), vs));
    }
}

__attribute__((target("avx2,fma")))
static void qdw_in_avx2(const float *src, float *dst, size_t n, float inv, float a, float b)
{
    const __m256 vi = _mm256_set1_ps(inv), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b),
                 mg = _mm256_set1_ps(12582912.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(src + i), vi);
        v = _mm256_min_ps(_mm256_max_ps(v, va), vb);
        _mm256_storeu_ps(dst + i, _mm256_sub_ps(_mm256_add_ps(v, mg), mg));
    }
    qdw_in_c(src + i, dst + i, n - i, inv, a, b);
}

__attribute__((target("avx2,fma")))
static void qdw_out_avx2(float *o, size_t n, float mu, float lo, float hi, float so)
{
    const __m256 vm = _mm256_set1_ps(mu), vl = _mm256_set1_ps(lo), vh = _mm256_set1_ps(hi),
                 vs = _mm256_set1_ps(so), mg = _mm256_set1_ps(12582912.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(o + i), vm);
        v = _mm256_min_ps(_mm256_max_ps(v, vl), vh);
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_add_ps(v, mg), mg), vs));
    }
    qdw_out_c(o + i, n - i, mu, lo, hi, so);
}
#endif

/* From / to uint8 storage: dst[i] = src[i] - zx; o8[i] = q + zo. */
static void qdw_in8_c(const unsigned char *src, float *dst, size_t n, int zx)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)((int)src[i] - zx);
}

static void qdw_out8_c(const float *acc, unsigned char *o8, size_t n, float mu, float lo, float hi,
                       int zo)
{
    for (size_t i = 0; i < n; i++) {
        float v = acc[i] * mu;
        v = v > lo ? v : lo;
        v = v < hi ? v : hi;
        o8[i] = (unsigned char)((int)((v + 12582912.0f) - 12582912.0f) + zo);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void qdw_in8_avx512(const unsigned char *src, float *dst, size_t n, int zx)
{
    const __m512i z = _mm512_set1_epi32(zx);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512i v = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src + i)), z);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtepi32_ps(v));
    }
}

__attribute__((target("avx512f")))
static void qdw_out8_avx512(const float *acc, unsigned char *o8, size_t n, float mu, float lo,
                            float hi, int zo)
{
    const __m512 vm = _mm512_set1_ps(mu), vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
    const __m512i z = _mm512_set1_epi32(zo);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), vm);
        v = _mm512_min_ps(_mm512_max_ps(v, vl), vh);
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), z);     /* half to even */
        _mm512_mask_cvtepi32_storeu_epi8(o8 + i, m, q);
    }
}
#endif

static void qdw_task(void *ctx, int task, int thread)
{
    const qjob *j = ctx;
    const qconv_kernel *k = j->k;
    const conv_params *p = &k->dwp;
    int c0 = task * j->per, c1 = c0 + j->per < p->cout ? c0 + j->per : p->cout;
    size_t hw = (size_t)p->h * p->w, ohw = (size_t)p->oh * p->ow;
    size_t xfl = (hw + 15) & ~(size_t)15, ofl = (ohw + 15) & ~(size_t)15;
    float *xin = (float *)(void *)(j->scratch + (size_t)thread * j->sstride);
    float *acc8 = xin + xfl;                /* the sums, for a uint8 output */
    float *dws = acc8 + ofl;
    const float a = (float)(k->xlo - k->zxu), b = (float)(k->xhi - k->zxu);
    for (int c = c0; c < c1; c++) {
        /* the exact integers q - zx as floats, the float depthwise kernel
         * (exact on them), the requantisation */
        if (j->in8) {
            const unsigned char *src = j->in8 + (size_t)c * hw;
#if defined(__x86_64__)
            if (k->level >= SIMD_AVX512)
                qdw_in8_avx512(src, xin, hw, k->zxu);
            else
#endif
                qdw_in8_c(src, xin, hw, k->zxu);
        } else {
            const float *src = j->in + (size_t)c * hw;
#if defined(__x86_64__)
            if (k->level >= SIMD_AVX512)
                qdw_in_avx512(src, xin, hw, k->inv_s, a, b);
            else if (k->level >= SIMD_AVX2)
                qdw_in_avx2(src, xin, hw, k->inv_s, a, b);
            else
#endif
                qdw_in_c(src, xin, hw, k->inv_s, a, b);
        }
        float *o = j->out8 ? acc8 : j->out + (size_t)c * ohw;
        const float *wc = k->wdw ? k->wdw + (size_t)c * k->dw.ntaps : NULL;
        float bc = k->bdw ? k->bdw[c] : 0.0f, lw[QDW_LAZY_TAPS];
        if (k->lazy) {
            /* the values qprepare stores: stored value less the zero point */
            int taps = p->kh * p->kw;
            int16_t row[QDW_LAZY_TAPS];
            qw_row(k->lw, k->lwt, c, (size_t)taps, row);
            for (int t = 0; t < taps; t++)
                lw[t] = (float)(row[t] - k->lwzp[c]);
            wc = lw;
            bc = k->lbias ? (float)k->lbias[c] : 0.0f;
        }
        dw_channel(k->level, &k->dw, p, xin, wc, bc, o, dws);
        if (j->out8) {
            unsigned char *o8 = j->out8 + (size_t)c * ohw;
#if defined(__x86_64__)
            if (k->level >= SIMD_AVX512)
                qdw_out8_avx512(o, o8, ohw, k->mult[c], k->lo, k->hi, k->q.out_zp);
            else
#endif
                qdw_out8_c(o, o8, ohw, k->mult[c], k->lo, k->hi, k->q.out_zp);
            continue;
        }
#if defined(__x86_64__)
        if (k->level >= SIMD_AVX512)
            qdw_out_avx512(o, ohw, k->mult[c], k->lo, k->hi, k->q.out_scale);
        else if (k->level >= SIMD_AVX2)
            qdw_out_avx2(o, ohw, k->mult[c], k->lo, k->hi, k->q.out_scale);
        else
#endif
            qdw_out_c(o, ohw, k->mult[c], k->lo, k->hi, k->q.out_scale);
    }
}

/* ------------------------------------------------------------ interface */

static int qcheck(const qconv_params *qp, err_t *e)
{
    const conv_params *p = &qp->p;
    if (p->cin <= 0 || p->h <= 0 || p->w <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0 ||
        p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0 ||
        p->pt < 0 || p->pl < 0 || p->pb < 0 || p->pr < 0 || p->group <= 0 ||
        p->cin % p->group || p->cout % p->group)
        return err_set(e, "qconv: bad shape");
    int64_t eh = (int64_t)p->h + p->pt + p->pb - ((int64_t)p->kh - 1) * p->dh - 1;
    int64_t ew = (int64_t)p->w + p->pl + p->pr - ((int64_t)p->kw - 1) * p->dw - 1;
    if (eh < 0 || ew < 0 || eh / p->sh + 1 != p->oh || ew / p->sw + 1 != p->ow)
        return err_set(e, "qconv: output size does not match the input and window");
    int64_t kk = (int64_t)(p->cin / p->group) * p->kh * p->kw;
    int64_t ph = (int64_t)p->h + p->pt + p->pb, pw = (int64_t)p->w + p->pl + p->pr;
    if (kk > 65536 || kk * p->cout > INT32_MAX || (int64_t)p->cin * p->h * p->w > INT32_MAX ||
        (int64_t)p->cout * p->oh * p->ow > INT32_MAX || ph * pw > INT32_MAX / 4)
        return err_set(e, "qconv: tensor too large");
    if (!(qp->in_scale > 0) || !(qp->out_scale > 0) || !isfinite(qp->in_scale) ||
        !isfinite(qp->out_scale))
        return err_set(e, "qconv: scales must be positive");
    int io = qp->in_lo < 0 ? 128 : 0;
    if (qp->in_lo > qp->in_hi || qp->in_lo + io < 0 || qp->in_hi + io > 255 ||
        qp->in_zp + io < 0 || qp->in_zp + io > 255)
        return err_set(e, "qconv: input range must be uint8 or int8");
    if (qp->out_lo > qp->out_hi || qp->out_zp - qp->out_lo > 65536 || qp->out_hi - qp->out_zp > 65536)
        return err_set(e, "qconv: bad output range");
    return 0;
}

static qconv_kernel *qprepare(const qconv_params *qp, const void *wq, int wt, const int32_t *wzp,
                              const float *wscale, const int32_t *bias, int reference, err_t *e);

qconv_kernel *qconv_prepare(const qconv_params *qp, const int16_t *wq, const int32_t *wzp,
                            const float *wscale, const int32_t *bias, int reference, err_t *e)
{
    return qprepare(qp, wq, QW_I16, wzp, wscale, bias, reference, e);
}

qconv_kernel *qconv_prepare_bytes(const qconv_params *qp, const void *w, int wsigned,
                                  const int32_t *wzp, const float *wscale, const int32_t *bias,
                                  int reference, err_t *e)
{
    return qprepare(qp, w, wsigned ? QW_I8 : QW_U8, wzp, wscale, bias, reference, e);
}

#if defined(__x86_64__)
/* The bytes 0 .. n - 1 of a 64-byte vector (n <= 64). */
static __mmask64 qbytes(size_t n)
{
    return n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
}

/* Min, max and sum of a row of K stored bytes (int8 when sgn, else
 * uint8), 64 at a time: the row statistics of qprepare without widening
 * every value first.  int8 is read as uint8 plus 128 (xor 0x80). */
__attribute__((target("avx512f,avx512bw")))
static void qrow_stats_avx512(const unsigned char *s, size_t K, int sgn, int32_t *lo, int32_t *hi,
                              int32_t *sum)
{
    const __m512i flip = _mm512_set1_epi8((char)(sgn ? 0x80 : 0)), z = _mm512_setzero_si512();
    __m512i vmin = _mm512_set1_epi8((char)0xff), vmax = z, vsum = z;
    for (size_t i = 0; i < K; i += 64) {
        __mmask64 m = qbytes(K - i);
        __m512i v = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s + i), flip));
        vmin = _mm512_mask_min_epu8(vmin, m, vmin, v);
        vmax = _mm512_mask_max_epu8(vmax, m, vmax, v);
        vsum = _mm512_add_epi64(vsum, _mm512_sad_epu8(v, z));
    }
    unsigned char a[64], b[64];
    _mm512_storeu_si512(a, vmin);
    _mm512_storeu_si512(b, vmax);
    int mn = 255, mx = 0;
    for (int i = 0; i < 64; i++) {
        mn = a[i] < mn ? a[i] : mn;
        mx = b[i] > mx ? b[i] : mx;
    }
    int off = sgn ? 128 : 0;
    *lo = K ? mn - off : 0;
    *hi = K ? mx - off : 0;
    *sum = (int32_t)((int64_t)_mm512_reduce_add_epi64(vsum) - (int64_t)off * (int64_t)K);
}

/* The int8 panels of rows m0 .. m0 + QMR - 1 (as the loop in qprepare
 * writes them) from K stored bytes a row: 16 groups of 4 bytes of each of
 * the 16 rows, less the row's offset (byte arithmetic wraps as the int8
 * cast does), transposed as 32-bit lanes and stored as 16 whole panel
 * rows.  Rows from cout on, and bytes from K on, are zeros. */
__attribute__((target("avx512f,avx512bw")))
static void qpanel_avx512(const unsigned char *w, int cout, int K, int Kq, int m0,
                          const int32_t *cm, const int32_t *wzp, unsigned char *pm)
{
    for (int kq0 = 0; kq0 < Kq; kq0 += 16) {
        __mmask64 m = qbytes((size_t)K - (size_t)kq0 * 4);
        __m512 v[16];
        for (int i = 0; i < QMR; i++) {
            int r = m0 + i;
            if (r >= cout) {
                v[i] = _mm512_setzero_ps();
                continue;
            }
            __m512i b = _mm512_maskz_loadu_epi8(m, w + (size_t)r * K + (size_t)kq0 * 4);
            b = _mm512_maskz_sub_epi8(m, b, _mm512_set1_epi8((char)(cm[r] + wzp[r])));
            v[i] = _mm512_castsi512_ps(b);
        }
        transpose16(v);
        int n = Kq - kq0 < 16 ? Kq - kq0 : 16;
        for (int j = 0; j < n; j++)
            _mm512_storeu_ps((float *)(void *)(pm + (size_t)(kq0 + j) * QMR * 4), v[j]);
    }
}
#endif

/* lazy: what qprepare is given, kept to make the taps per run and to pack
 * later (qconv_pack_lazy); the stored bytes wq must stay.  0, or -1 when
 * out of memory. */
static int qkeep_src(qconv_kernel *k, const void *wq, int wt, const int32_t *wzp, const float *wscale,
                     const int32_t *bias, int cout)
{
    k->lw = wq;
    k->lwt = wt;
    k->lwzp = malloc(sizeof(int32_t) * (size_t)cout);
    k->lws = malloc(sizeof(float) * (size_t)cout);
    k->lbias = bias ? malloc(sizeof(int32_t) * (size_t)cout) : NULL;
    if (!k->lwzp || !k->lws || (bias && !k->lbias))
        return -1;
    memcpy(k->lwzp, wzp, sizeof(int32_t) * (size_t)cout);
    memcpy(k->lws, wscale, sizeof(float) * (size_t)cout);
    if (bias)
        memcpy(k->lbias, bias, sizeof(int32_t) * (size_t)cout);
    return 0;
}

/* The weights are read one row at a time, widened into a row buffer. */
static qconv_kernel *qprepare(const qconv_params *qp, const void *wq, int wt, const int32_t *wzp,
                              const float *wscale, const int32_t *bias, int reference, err_t *e)
{
    if (qcheck(qp, e) < 0)
        return NULL;
    const conv_params *p = &qp->p;
    qconv_kernel *k = calloc(1, sizeof *k);
    if (!k)
        return err_set(e, "out of memory"), NULL;
    k->q = *qp;
    int32_t *rst = NULL;        /* per-row weight statistics, below */
    int16_t *row = NULL;        /* one row of weights, widened */
    int cig = p->cin / p->group;
    int K = cig * p->kh * p->kw;
    size_t wn = (size_t)K * p->cout;
    int io = qp->in_lo < 0 ? 128 : 0;
    k->zxu = qp->in_zp + io;
    k->xlo = qp->in_lo + io;
    k->xhi = qp->in_hi + io;
    k->inv_s = 1.0f / qp->in_scale;
    k->lo = (float)(qp->out_lo - qp->out_zp);
    k->hi = (float)(qp->out_hi - qp->out_zp);
    k->K = K;
    k->N = p->oh * p->ow;
    for (int m = 0; m < p->cout; m++)
        if (!(wscale[m] > 0) || !isfinite(wscale[m]) || wzp[m] < -255 || wzp[m] > 255) {
            err_set(e, "qconv: bad weight quantisation of channel %d", m);
            goto fail;
        }
    /* replaying the packed-weight cache: every value derived from the
     * weights comes filled (kmem_get), wq is NULL and not read */
    int replay = kmem_replaying();
    if (!wq && (!replay || reference)) {
        err_set(e, "qconv: no weights");
        goto fail;
    }
    int dw = p->group == p->cin && p->group == p->cout && p->group > 1;
    /* per row: min, max and sum of the stored weights, in one pass (the
     * sums fit in 32 bits: K <= 65536 values of 16 bits).  Only the dense
     * panels use them, and the check below that 16-bit weights are bytes:
     * weights stored as bytes going to the reference or depthwise kernels
     * skip them. */
    int stats = !replay && (wt == QW_I16 || (!reference && !dw));
    rst = malloc(sizeof(int32_t) * 3 * (size_t)(p->cout ? p->cout : 1));
    row = malloc(sizeof(int16_t) * (size_t)(K ? K : 1));
    if (!rst || !row)
        goto oom;
    int32_t *rlo = rst, *rhi = rst + p->cout, *rsm = rst + 2 * (size_t)p->cout;
    int wmin = 0, wmax = 0;
#if defined(__x86_64__)
    int bytes512 = wt != QW_I16 && qconv_has_vnni();    /* AVX-512BW on the stored bytes */
#else
    int bytes512 = 0;
#endif
    for (int m = 0; m < p->cout && stats; m++) {
#if defined(__x86_64__)
        if (bytes512) {
            qrow_stats_avx512((const unsigned char *)wq + (size_t)m * K, (size_t)K, wt == QW_I8,
                              &rlo[m], &rhi[m], &rsm[m]);
            if (rlo[m] < wmin) wmin = rlo[m];
            if (rhi[m] > wmax) wmax = rhi[m];
            continue;
        }
#endif
        const int16_t *wr = row;
        qw_row(wq, wt, m, (size_t)K, row);
        int16_t lo = K > 0 ? wr[0] : 0, hi = lo;
        int32_t sum = 0;
        for (int kk = 0; kk < K; kk++) {
            int16_t v = wr[kk];
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        rlo[m] = lo;
        rhi[m] = hi;
        rsm[m] = sum;
        if (lo < wmin) wmin = lo;
        if (hi > wmax) wmax = hi;
    }
    /* weights must be stored uint8 or int8 */
    int wo = replay ? 0 : wmin >= -128 && wmax <= 127 ? 0 : wmin >= 0 && wmax <= 255 ? 128 : -1;
    if (wo < 0) {
        err_set(e, "qconv: weights are neither uint8 nor int8");
        goto fail;
    }
    /* every sum must fit: |acc| <= K * 255 * 510 + |bias| */
    for (int m = 0; m < p->cout; m++)
        if ((int64_t)K * 255 * 510 + llabs(bias ? (long long)bias[m] : 0) > INT32_MAX / 2) {
            err_set(e, "qconv: sums would overflow 32 bits");
            goto fail;
        }
    k->mult = malloc(sizeof(float) * (size_t)(p->cout + QMR));
    if (!k->mult)
        goto oom;
    for (int m = 0; m < p->cout + QMR; m++)      /* padded: whole panels are read */
        k->mult[m] = m < p->cout ? (qp->in_scale * wscale[m]) / qp->out_scale : 0.0f;

    if (reference) {
        k->impl = QI_REF;
        k->wq = malloc(sizeof(int16_t) * wn);
        k->wzp = malloc(sizeof(int32_t) * (size_t)p->cout);
        k->wscale = malloc(sizeof(float) * (size_t)p->cout);
        k->bias = bias ? malloc(sizeof(int32_t) * (size_t)p->cout) : NULL;
        if (!k->wq || !k->wzp || !k->wscale || (bias && !k->bias))
            goto oom;
        for (int m = 0; m < p->cout; m++)
            qw_row(wq, wt, m, (size_t)K, k->wq + (size_t)m * K);
        memcpy(k->wzp, wzp, sizeof(int32_t) * (size_t)p->cout);
        memcpy(k->wscale, wscale, sizeof(float) * (size_t)p->cout);
        if (bias)
            memcpy(k->bias, bias, sizeof(int32_t) * (size_t)p->cout);
        k->wbytes = wn * 2 + (size_t)p->cout * 12;
        free(rst);
        free(row);
        return k;
    }
    if (dw) {
        /* depthwise, exact in float: every partial sum below 2^24 */
        int taps = p->kh * p->kw;
        k->impl = QI_DW;
        k->level = simd_level();
        k->dwp = *p;
        k->dwp.act = ACT_NONE;
        /* lazy: the taps made from the stored bytes per run (a few
         * thousand values a layer), the fresh memory of these small
         * pieces being most of what a first run still packed */
        k->lazy = qp->p.lazy && !replay && wt != QW_I16 && taps <= QDW_LAZY_TAPS;
        if (k->lazy) {
            if (qkeep_src(k, wq, wt, wzp, wscale, bias, p->cout) < 0)
                goto oom;
        } else {
            k->wdw = kmem_get(sizeof(float) * wn);
            k->bdw = kmem_get(sizeof(float) * (size_t)p->cout);
            if (!k->wdw || !k->bdw)
                goto oom;
        }
        for (int c = 0; c < p->cout && !replay; c++) {
            int64_t bound = llabs(bias ? (long long)bias[c] : 0);
            qw_row(wq, wt, c, (size_t)taps, row);
            for (int t = 0; t < taps; t++) {
                int d = row[t] - wzp[c];
                if (!k->lazy)
                    k->wdw[(size_t)c * taps + t] = (float)d;
                bound += 255 * (int64_t)(d < 0 ? -d : d);
            }
            if (bound >= (1 << 24)) {
                err_set(e, "qconv: depthwise sums would not be exact in float");
                goto fail;
            }
            if (!k->lazy)
                k->bdw[c] = bias ? (float)bias[c] : 0.0f;
        }
        if (dw_plan_init(&k->dw, &k->dwp) < 0)
            goto oom;
        k->wbytes = (k->lazy ? 0 : wn * 4 + (size_t)p->cout * 4) + (size_t)p->cout * 4;
        free(rst);
        free(row);
        return k;
    }
    if (p->group != 1) {
        err_set(e, "qconv: grouped convolution");
        goto fail;
    }
    k->impl = QI_GEMM;
    k->level = qconv_has_vnni() ? QL_VNNI : simd_level() >= SIMD_AVX2 ? QL_AVX2 : QL_C;
    k->direct = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 &&
                p->pl == 0 && p->pb == 0 && p->pr == 0;
    k->Kq = (K + 3) / 4;
    k->Mp = (p->cout + QMR - 1) / QMR * QMR;
    size_t an = (size_t)k->Mp * k->Kq;
    /* the AVX2 kernel reads the weights widened to 16 bits (a16), made
     * from the int8 panels, which then go */
    int wide = k->level == QL_AVX2;
    /* lazy: the panels packed per run from the stored bytes (the VNNI
     * kernel's, made from 64 bytes at a time); the row values below,
     * which need one pass over the weights, are kept in plain memory */
    k->lazy = qp->p.lazy && !replay && bytes512 && k->level == QL_VNNI;
    int32_t *tmpa = wide && !replay ? malloc(an * 4 + 4) : NULL;
    if (k->lazy) {
        k->rowc = malloc(sizeof(int32_t) * (size_t)k->Mp);
        k->cm = malloc(sizeof(int32_t) * (size_t)k->Mp);
        k->pcs = malloc((size_t)k->Mp / QMR);
        if (!k->rowc || !k->cm || !k->pcs || qkeep_src(k, wq, wt, wzp, wscale, bias, p->cout) < 0)
            goto oom;
    } else {
        k->apack = wide ? NULL : kmem_get(an * 4);
        k->rowc = kmem_get(sizeof(int32_t) * (size_t)k->Mp);
        k->cm = kmem_get(sizeof(int32_t) * (size_t)k->Mp);
        k->pcs = kmem_get((size_t)k->Mp / QMR);
        if (wide)
            k->a16 = kmem_get(sizeof(int64_t) * (an ? an : 1));
        if ((wide ? (!replay && !tmpa) || !k->a16 : !k->apack) || !k->rowc || !k->cm || !k->pcs) {
            free(tmpa);
            goto oom;
        }
    }
    k->wbytes = (k->lazy ? 0 : wide ? an * 8 : an * 4) + (size_t)k->Mp * 12;
    if (replay) {
        free(rst);
        free(row);
        return k;
    }
    /* the int8 panels: for the AVX2 kernel a temporary, widened below */
    int32_t *apack = wide ? tmpa : k->apack;
    memset(k->pcs, 0, (size_t)k->Mp / QMR);
    /* rows first (offset, sums), then the panels written in order, each
     * 4-byte group gathered from QMR rows read in sequence */
    for (int m = 0; m < k->Mp; m++) {
        if (m >= p->cout) {
            k->rowc[m] = k->cm[m] = 0;
            continue;
        }
        /* a row whose w - zw all fit in int8 is stored so, and needs no
         * input sums (c = 0): nearly every row of a real model */
        int rwo = rlo[m] - wzp[m] >= -128 && rhi[m] - wzp[m] <= 127 ? wzp[m] : wo;
        int64_t wsum = rsm[m] - (int64_t)K * rwo;
        int32_t c = rwo - wzp[m];
        k->cm[m] = c;
        if (c)
            k->pcs[m / QMR] = 1;
        k->rowc[m] = (int32_t)((bias ? bias[m] : 0) - (int64_t)k->zxu * (wsum + (int64_t)K * c));
    }
    for (int m0 = 0; m0 < k->Mp && !k->lazy; m0 += QMR) {
        unsigned char *pm = (unsigned char *)(apack + (size_t)(m0 / QMR) * k->Kq * QMR);
#if defined(__x86_64__)
        if (bytes512) {
            qpanel_avx512(wq, p->cout, K, k->Kq, m0, k->cm, wzp, pm);
            continue;
        }
#endif
        for (int mi = 0; mi < QMR; mi++) {
            int m = m0 + mi;
            unsigned char *d = pm + (size_t)mi * 4;
            if (m >= p->cout) {
                for (int kq = 0; kq < k->Kq; kq++)
                    memset(d + (size_t)kq * QMR * 4, 0, 4);
                continue;
            }
            const int16_t *wr = row;
            qw_row(wq, wt, m, (size_t)K, row);
            int rwo = k->cm[m] + wzp[m];
            int kq = 0;
            for (; kq < K / 4; kq++) {
                unsigned char *dq = d + (size_t)kq * QMR * 4;
                const int16_t *s4 = wr + (size_t)kq * 4;
                dq[0] = (unsigned char)(int8_t)(s4[0] - rwo);
                dq[1] = (unsigned char)(int8_t)(s4[1] - rwo);
                dq[2] = (unsigned char)(int8_t)(s4[2] - rwo);
                dq[3] = (unsigned char)(int8_t)(s4[3] - rwo);
            }
            if (kq < k->Kq) {
                unsigned char *dq = d + (size_t)kq * QMR * 4;
                for (int t = 0; t < 4; t++)
                    dq[t] = kq * 4 + t < K ? (unsigned char)(int8_t)(wr[kq * 4 + t] - rwo) : 0;
            }
        }
    }
    if (wide) {
        for (size_t i = 0; i < an; i++) {
            uint32_t wq4 = (uint32_t)apack[i];
            uint64_t v = 0;
            for (int t = 0; t < 4; t++)
                v |= (uint64_t)(uint16_t)(int16_t)(int8_t)(uint8_t)(wq4 >> (8 * t)) << (16 * t);
            memcpy(&k->a16[i], &v, 8);
        }
        free(tmpa);
    }
    free(rst);
    free(row);
    return k;
oom:
    err_set(e, "out of memory");
fail:
    free(rst);
    free(row);
    qconv_free(k);
    return NULL;
}

size_t qconv_scratch_bytes(const qconv_kernel *k, int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    size_t per = 0;
    if (k->impl == QI_GEMM)
        per = (size_t)k->Kq * QNR * 4 + QNR * 4 + (k->level == QL_AVX2 ? (size_t)k->Kq * 128 : 0) +
              (k->lazy ? 64 + (size_t)k->Mp * k->Kq * 4 : 0);
    else if (k->impl == QI_DW)
        per = ((((size_t)k->dwp.h * k->dwp.w + 15) & ~(size_t)15) +
               (((size_t)k->dwp.oh * k->dwp.ow + 15) & ~(size_t)15) +
               dw_scratch_floats(&k->dw, &k->dwp)) * sizeof(float);
    per = (per + 63) & ~(size_t)63;
    return per * (size_t)nthreads;
}

void qconv_run(const qconv_kernel *k, const float *in, float *out, void *scratch, threadpool *tp)
{
    qconv_run_io(k, in, NULL, out, NULL, scratch, tp);
}

int qconv_io_u8(const qconv_kernel *k)
{
    /* uint8 storage: the stored range is 0..255 (q as the byte) */
    int in = k->q.in_lo == 0 && k->q.in_hi == 255 &&
             ((k->impl == QI_GEMM && k->direct) || k->impl == QI_DW);
    int out = k->q.out_lo >= 0 && k->q.out_hi <= 255 && (k->impl == QI_GEMM || k->impl == QI_DW);
    return (in ? QCONV_READS_U8 : 0) | (out ? QCONV_WRITES_U8 : 0);
}

void qconv_run_io(const qconv_kernel *k, const float *in, const unsigned char *in8, float *out,
                  unsigned char *out8, void *scratch, threadpool *tp)
{
    const conv_params *p = &k->q.p;
    int nt = tp_size(tp);
    qjob j = {k, in, out, scratch, qconv_scratch_bytes(k, 1), 0, 0, 1, 0, in8, out8};
    if (k->impl == QI_REF) {
        ref_qconv(&k->q, k->wq, k->wzp, k->wscale, k->bias, in, out);
    } else if (k->impl == QI_DW) {
        int tasks = nt > 1 ? 4 * nt : 1;
        if (tasks > p->cout) tasks = p->cout;
        j.per = (p->cout + tasks - 1) / tasks;
        tp_run(tp, (p->cout + j.per - 1) / j.per, qdw_task, &j);
    } else {
        int nmp = k->Mp / QMR;
        j.npan = (k->N + QNR - 1) / QNR;
        int tn = j.npan < 8 * nt ? j.npan : 8 * nt;
        if (nt == 1) tn = 1;
        j.per = (j.npan + tn - 1) / tn;
        tn = (j.npan + j.per - 1) / j.per;
        j.nmt = 1;
        if (nt > 1 && tn < 2 * nt)
            j.nmt = (2 * nt + tn - 1) / tn < nmp ? (2 * nt + tn - 1) / tn : nmp;
        if (k->lazy && k->N <= 256 && nt > 1) {
            /* weights packed per run: on small maps, where they outweigh
             * the pixels, each task takes a share of the weight panels
             * and every pixel, so that each panel is packed once, not
             * once per run of pixel panels (the same sums either way) */
            tn = 1;
            j.per = j.npan;
            j.nmt = 2 * nt < nmp ? 2 * nt : nmp;
        }
        j.mpt = (nmp + j.nmt - 1) / j.nmt;
        j.nmt = (nmp + j.mpt - 1) / j.mpt;
        tp_run(tp, tn * j.nmt, qgemm_task, &j);
    }
}

const char *qconv_impl_name(const qconv_kernel *k)
{
    if (k->impl == QI_REF) return "qref";
    if (k->impl == QI_DW) return "qdw";
    return k->level == QL_VNNI ? "qgemm-vnni" : k->level == QL_AVX2 ? "qgemm-avx2" : "qgemm-c";
}

size_t qconv_weight_bytes(const qconv_kernel *k)
{
    return k->wbytes;
}

void qconv_free(qconv_kernel *k)
{
    if (!k)
        return;
    kmem_put(k->a16);
    kmem_put(k->apack);
    if (k->lazy) {
        free(k->rowc);
        free(k->cm);
        free(k->pcs);
    } else {
        kmem_put(k->rowc);
        kmem_put(k->cm);
        kmem_put(k->pcs);
    }
    free(k->lwzp);
    free(k->lws);
    free(k->lbias);
    free(k->mult);
    free(k->wq);
    free(k->wzp);
    free(k->bias);
    free(k->wscale);
    kmem_put(k->wdw);
    kmem_put(k->bdw);
    dw_plan_free(&k->dw);
    free(k);
}

int qconv_is_lazy(const qconv_kernel *k)
{
    return k && k->lazy;
}

qconv_kernel *qconv_pack_lazy(const qconv_kernel *k, err_t *e)
{
    if (!k || !k->lazy) {
        err_set(e, "qconv: not a lazy kernel");
        return NULL;
    }
    qconv_params qp = k->q;
    qp.p.lazy = 0;
    return qprepare(&qp, k->lw, k->lwt, k->lwzp, k->lws, k->lbias, 0, e);
}

int qconv_lazy_pieces(const qconv_kernel *k, size_t *sizes, int max)
{
    if (!k || !k->lazy || max < 4)
        return -1;
    if (k->impl == QI_DW) {
        const conv_params *p = &k->q.p;
        sizes[0] = sizeof(float) * (size_t)p->cout * (size_t)(p->cin / p->group) * p->kh * p->kw;
        sizes[1] = sizeof(float) * (size_t)p->cout;
        return 2;
    }
    size_t an = (size_t)k->Mp * k->Kq;
    sizes[0] = an * 4;
    sizes[1] = sizeof(int32_t) * (size_t)k->Mp;
    sizes[2] = sizeof(int32_t) * (size_t)k->Mp;
    sizes[3] = (size_t)k->Mp / QMR;
    return 4;
}
