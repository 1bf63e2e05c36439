/* cam.c - class activation map math (see cam.h). */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define CAM_X86 1
#endif

/* ---------------------------------------------------------------- maps */

void cam_map_linear(const float *f, int K, size_t n, const float *w, float *out)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += (double)w[k] * f[(size_t)k * n + i];
        out[i] = (float)s;
    }
}

double cam_mean(const float *m, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += m[i];
    return n ? s / (double)n : 0.0;
}

static const char *const norm_names[] = { "none", "minmax", "max" };
static const char *const interp_names[] = { "nearest", "bilinear", "bicubic" };
static const char *const cmap_names[] = { "jet", "viridis", "gray" };

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int cam_norm_parse(const char *s) { return name_index(norm_names, 3, s); }
int cam_interp_parse(const char *s) { return name_index(interp_names, 3, s); }
int cam_cmap_parse(const char *s) { return name_index(cmap_names, 3, s); }
const char *cam_norm_name(int v) { return v >= 0 && v < 3 ? norm_names[v] : "?"; }
const char *cam_interp_name(int v) { return v >= 0 && v < 3 ? interp_names[v] : "?"; }

void cam_relu(float *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i] < 0)
            m[i] = 0;
}

/* The normalisation, written once for float and double maps. */
#define NORMALIZE_BODY(T)                                                   \
    double lo = INFINITY, hi = -INFINITY, amax = 0;                         \
    for (size_t i = 0; i < n; i++) {                                        \
        double v = m[i];                                                    \
        if (!isfinite(v)) { lo = NAN; break; }                              \
        if (v < lo) lo = v;                                                 \
        if (v > hi) hi = v;                                                 \
        if (fabs(v) > amax) amax = fabs(v);                                 \
    }                                                                       \
    if (norm == CAM_NORM_NONE)                                              \
        return 0;                                                           \
    if (n == 0)                                                             \
        return 1;                                                           \
    if (isnan(lo) || (norm == CAM_NORM_MINMAX && !(hi > lo)) ||             \
        (norm == CAM_NORM_MAX && !(amax > 0))) {                            \
        for (size_t i = 0; i < n; i++) m[i] = 0;                            \
        return 1;                                                           \
    }                                                                       \
    if (norm == CAM_NORM_MINMAX) {                                          \
        double d = hi - lo;                                                 \
        for (size_t i = 0; i < n; i++) m[i] = (T)((m[i] - lo) / d);         \
    } else {                                                                \
        for (size_t i = 0; i < n; i++) m[i] = (T)(m[i] / amax);             \
    }                                                                       \
    return 0;

int cam_normalize(float *m, size_t n, int norm) { NORMALIZE_BODY(float) }
int cam_normalize_d(double *m, size_t n, int norm) { NORMALIZE_BODY(double) }

/* ---------------------------------------------------------------- resize */

/* Taps of one output coordinate along one axis: 4 source indices (clamped
 * to [0, in-1]) and weights. */
typedef struct { int i[4]; double w[4]; } taps;

static void cubic_weights(double t, double w[4])
{
    const double A = -0.75;
    w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
    w[3] = 1.0 - w[0] - w[1] - w[2];
}

static int clampi(long v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* Output pixel o of an axis of `out` pixels whose region [r0, r1) is covered
 * by `in` cells. */
static void axis_taps(int o, int in, double r0, double r1, int interp, taps *t)
{
    double src = ((double)o + 0.5 - r0) * in / (r1 - r0) - 0.5;
    memset(t, 0, sizeof *t);
    if (interp == CAM_NEAREST) {
        t->i[0] = clampi((long)floor(src + 0.5), 0, in - 1);
        t->w[0] = 1;
    } else if (interp == CAM_BILINEAR) {
        if (src < 0) src = 0;
        if (src > in - 1) src = in - 1;
        long x0 = (long)floor(src);
        double fx = src - (double)x0;
        t->i[0] = clampi(x0, 0, in - 1);
        t->i[1] = clampi(x0 + 1, 0, in - 1);
        t->w[0] = 1 - fx;
        t->w[1] = fx;
    } else {
        long x0 = (long)floor(src);
        cubic_weights(src - (double)x0, t->w);
        for (int k = 0; k < 4; k++)
            t->i[k] = clampi(x0 - 1 + k, 0, in - 1);
    }
}

/* o[x] = (0 + w0 * r0[x]) + w1 * r1[x] for x < n: a bilinear row. */
static void vertical2(const double *restrict r0, const double *restrict r1, double w0, double w1,
                      double *restrict o, int n)
{
    int x = 0;
    for (; x + 8 <= n; x += 8)      /* fixed blocks: vector code, same sums */
        for (int j = 0; j < 8; j++) {
            double s = 0;
            s += w0 * r0[x + j];
            s += w1 * r1[x + j];
            o[x + j] = s;
        }
    for (; x < n; x++) {
        double s = 0;
        s += w0 * r0[x];
        s += w1 * r1[x];
        o[x] = s;
    }
}

int cam_resize(const float *in, int iw, int ih, double *out, int ow, int oh,
               const cam_roi *roi, int interp, err_t *e)
{
    cam_roi whole = { 0, 0, ow, oh };
    if (!roi)
        roi = &whole;
    if (iw <= 0 || ih <= 0 || ow <= 0 || oh <= 0)
        return err_set(e, "resize: empty map (%dx%d to %dx%d)", iw, ih, ow, oh);
    if ((size_t)ow * (size_t)oh > CAM_MAX_PIXELS || (size_t)ow * (size_t)ih > CAM_MAX_PIXELS)
        return err_set(e, "resize: %dx%d is too large", ow, oh);
    if (!(roi->x1 > roi->x0) || !(roi->y1 > roi->y0) || !isfinite(roi->x0) ||
        !isfinite(roi->x1) || !isfinite(roi->y0) || !isfinite(roi->y1))
        return err_set(e, "resize: empty region %g %g %g %g", roi->x0, roi->y0, roi->x1, roi->y1);
    if (interp < CAM_NEAREST || interp > CAM_BICUBIC)
        return err_set(e, "resize: unknown interpolation %d", interp);
    int ntap = interp == CAM_NEAREST ? 1 : interp == CAM_BILINEAR ? 2 : 4;
    taps *tx = malloc(sizeof *tx * (size_t)ow);
    double *tmp = malloc(sizeof *tmp * (size_t)ow * (size_t)ih);
    if (!tx || !tmp) {
        free(tx);
        free(tmp);
        return err_set(e, "resize: out of memory");
    }
    for (int x = 0; x < ow; x++)
        axis_taps(x, iw, roi->x0, roi->x1, interp, &tx[x]);
    /* horizontal pass: ih x ow */
    for (int y = 0; y < ih; y++) {
        const float *row = in + (size_t)y * iw;
        for (int x = 0; x < ow; x++) {
            double s = 0;
            for (int k = 0; k < ntap; k++)
                s += tx[x].w[k] * row[tx[x].i[k]];
            tmp[(size_t)y * ow + x] = s;
        }
    }
    /* vertical pass; bilinear spelled out (the same sums in the same
     * order, s = 0, then += each tap) */
    for (int y = 0; y < oh; y++) {
        taps ty;
        axis_taps(y, ih, roi->y0, roi->y1, interp, &ty);
        double *o = out + (size_t)y * ow;
        if (ntap == 2) {
            vertical2(tmp + (size_t)ty.i[0] * ow, tmp + (size_t)ty.i[1] * ow, ty.w[0], ty.w[1], o, ow);
            continue;
        }
        for (int x = 0; x < ow; x++) {
            double s = 0;
            for (int k = 0; k < ntap; k++)
                s += ty.w[k] * tmp[(size_t)ty.i[k] * ow + x];
            o[x] = s;
        }
    }
    free(tx);
    free(tmp);
    return 0;
}

/* ---------------------------------------------------------------- boxes */

static int check_size(int w, int h, err_t *e)
{
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > CAM_MAX_PIXELS)
        return err_set(e, "map of %dx%d pixels is empty or too large", w, h);
    return 0;
}

/* The paper rule's two passes over the map: min, max and "any NaN" of n
 * values; the mask bits of cnt <= 64 values (on: v >= thi; ge: v >= tlo).
 * Plain C, and AVX2 when the CPU has it (simd_level, capped by CAM_SIMD):
 * the same comparisons, so the same results. */
static int minmax_c(const double *m, size_t n, double *plo, double *phi)
{
    double lo0 = INFINITY, lo1 = INFINITY, lo2 = INFINITY, lo3 = INFINITY;
    double hi0 = -INFINITY, hi1 = -INFINITY, hi2 = -INFINITY, hi3 = -INFINITY;
    int nan = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        double v0 = m[i], v1 = m[i + 1], v2 = m[i + 2], v3 = m[i + 3];
        lo0 = v0 < lo0 ? v0 : lo0; hi0 = v0 > hi0 ? v0 : hi0;
        lo1 = v1 < lo1 ? v1 : lo1; hi1 = v1 > hi1 ? v1 : hi1;
        lo2 = v2 < lo2 ? v2 : lo2; hi2 = v2 > hi2 ? v2 : hi2;
        lo3 = v3 < lo3 ? v3 : lo3; hi3 = v3 > hi3 ? v3 : hi3;
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
    }
    for (; i < n; i++) {
        double v = m[i];
        lo0 = v < lo0 ? v : lo0;
        hi0 = v > hi0 ? v : hi0;
        nan |= v != v;
    }
    if (lo1 < lo0) lo0 = lo1;
    if (lo2 < lo0) lo0 = lo2;
    if (lo3 < lo0) lo0 = lo3;
    if (hi1 > hi0) hi0 = hi1;
    if (hi2 > hi0) hi0 = hi2;
    if (hi3 > hi0) hi0 = hi3;
    *plo = lo0;
    *phi = hi0;
    return nan;
}

static void bits_c(const double *row, int cnt, double thi, double tlo, uint64_t *on, uint64_t *ge)
{
    uint64_t a = 0, b = 0;
    for (int x = 0; x < cnt; x++) {
        double v = row[x];
        a |= (uint64_t)(v >= thi) << x;
        b |= (uint64_t)(v >= tlo) << x;
    }
    *on = a;
    *ge = b;
}

#ifdef CAM_X86
__attribute__((target("avx2")))
static int minmax_avx2(const double *m, size_t n, double *plo, double *phi)
{
    /* min_pd(v, lo) is v < lo ? v : lo, NaN v left out, as in C */
    __m256d lo0 = _mm256_set1_pd(INFINITY), lo1 = lo0;
    __m256d hi0 = _mm256_set1_pd(-INFINITY), hi1 = hi0;
    __m256d un = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d a = _mm256_loadu_pd(m + i), b = _mm256_loadu_pd(m + i + 4);
        lo0 = _mm256_min_pd(a, lo0); hi0 = _mm256_max_pd(a, hi0);
        lo1 = _mm256_min_pd(b, lo1); hi1 = _mm256_max_pd(b, hi1);
        un = _mm256_or_pd(un, _mm256_or_pd(_mm256_cmp_pd(a, a, _CMP_UNORD_Q),
                                           _mm256_cmp_pd(b, b, _CMP_UNORD_Q)));
    }
    double l[4], h[4];
    _mm256_storeu_pd(l, _mm256_min_pd(lo0, lo1));
    _mm256_storeu_pd(h, _mm256_max_pd(hi0, hi1));
    double tl, th;
    int nan = _mm256_movemask_pd(un) != 0;
    nan |= minmax_c(m + i, n - i, &tl, &th);
    for (int k = 0; k < 4; k++) {
        if (l[k] < tl) tl = l[k];
        if (h[k] > th) th = h[k];
    }
    *plo = tl;
    *phi = th;
    return nan;
}

__attribute__((target("avx2")))
static void bits_avx2(const double *row, int cnt, double thi, double tlo, uint64_t *on, uint64_t *ge)
{
    __m256d vh = _mm256_set1_pd(thi), vl = _mm256_set1_pd(tlo);
    uint64_t a = 0, b = 0;
    int x = 0;
    for (; x + 4 <= cnt; x += 4) {
        __m256d v = _mm256_loadu_pd(row + x);
        a |= (uint64_t)_mm256_movemask_pd(_mm256_cmp_pd(v, vh, _CMP_GE_OQ)) << x;
        b |= (uint64_t)_mm256_movemask_pd(_mm256_cmp_pd(v, vl, _CMP_GE_OQ)) << x;
    }
    uint64_t ta, tb;
    bits_c(row + x, cnt - x, thi, tlo, &ta, &tb);
    *on = a | (x < 64 ? ta << x : 0);
    *ge = b | (x < 64 ? tb << x : 0);
}
#endif

/* Runs of one mask row for the paper rule's connected components: pixels
 * xs..xe (inclusive) of row y; parent is the union-find link to a run of
 * smaller index (a root links to itself). */
typedef struct { int xs, xe, y, parent; } box_run;

static int run_root(box_run *r, int i)
{
    while (r[i].parent != i) {
        r[i].parent = r[r[i].parent].parent;   /* path halving */
        i = r[i].parent;
    }
    return i;
}

/* First index >= from whose bit in bits (one bit per pixel, w pixels) is
 * set, or w. */
static int next_set(const uint64_t *bits, int from, int w)
{
    if (from >= w)
        return w;
    int k = from >> 6;
    uint64_t b = bits[k] & (~(uint64_t)0 << (from & 63));
    int nw = (w + 63) >> 6;
    while (!b) {
        if (++k == nw)
            return w;
        b = bits[k];
    }
    int x = (k << 6) + __builtin_ctzll(b);
    return x < w ? x : w;
}

/* First index >= from (from < w) whose bit is clear, or w. */
static int next_clear(const uint64_t *bits, int from, int w)
{
    int k = from >> 6, nw = (w + 63) >> 6;
    uint64_t b = ~bits[k] & (~(uint64_t)0 << (from & 63));
    while (!b) {
        if (++k == nw)
            return w;
        b = ~bits[k];
    }
    int x = (k << 6) + __builtin_ctzll(b);
    return x < w ? x : w;
}

int cam_box_paper(const double *m, int w, int h, double t, cam_box *box, err_t *e)
{
    memset(box, 0, sizeof *box);
    if (check_size(w, h, e))
        return -1;
    size_t n = (size_t)w * h;
    /* min-max as cam_normalize_d(CAM_NORM_MINMAX) does it; any NaN or
     * infinity gives no box.  In several chains, without branches: min
     * and max of non-NaN values do not depend on the order, and a -0.0
     * taken for +0.0 as lo changes neither (v - lo) / d >= t's outcome
     * nor d. */
    int (*minmax)(const double *, size_t, double *, double *) = minmax_c;
    void (*bits_of)(const double *, int, double, double, uint64_t *, uint64_t *) = bits_c;
#ifdef CAM_X86
    if (simd_level() >= SIMD_AVX2) {
        minmax = minmax_avx2;
        bits_of = bits_avx2;
    }
#endif
    double lo, hi;
    int nan = minmax(m, n, &lo, &hi);
    if (nan || !isfinite(lo) || !isfinite(hi))
        return 0;       /* non-finite map: no box */
    if (!(hi > lo))
        return 0;       /* constant map: no box */
    double d = hi - lo;
    /* The mask tests the very value cam_normalize_d would store,
     * (v - lo) / d >= t, which only grows with v.  Far from the threshold
     * value lo + t * d two comparisons decide it: the band of +-1e-9 of the
     * map's magnitude dwarfs the few roundings (relative 1e-16) in either
     * expression; inside the band the division decides, as before.  The
     * shortcut needs 0 <= t <= 1 and magnitudes far from under- and
     * overflow; otherwise every pixel takes the division. */
    double mag = fabs(lo) + fabs(hi);
    double band = 1e-9 * mag;
    int fast = t >= 0 && t <= 1 && isfinite(d) && mag <= 1e300 && mag >= 1e-250;
    double tlo = fast ? lo + t * d - band : INFINITY;   /* v < tlo: 0 */
    double thi = fast ? lo + t * d + band : INFINITY;   /* v >= thi: 1 */
    int nw = (w + 63) / 64;
    uint64_t *bits = malloc(sizeof *bits * (size_t)nw);
    size_t cap = 1024, nr = 0;
    box_run *r = malloc(sizeof *r * cap);
    if (!bits || !r) {
        free(bits); free(r);
        return err_set(e, "box: out of memory");
    }
    /* Rows to runs; each run joined to the 8-connected runs of the row
     * above (those overlapping xs-1..xe+1).  Runs are numbered in raster
     * order of their first pixel and every union keeps the smaller root,
     * so a component's root is its first run. */
    size_t prev = 0, prev_end = 0;
    for (int y = 0; y < h; y++) {
        const double *row = m + (size_t)y * w;
        for (int k = 0; k < nw; k++) {
            int x0 = k * 64, x1 = x0 + 64 < w ? x0 + 64 : w;
            uint64_t on, amb;
            bits_of(row + x0, x1 - x0, thi, tlo, &on, &amb);
            amb &= ~on;
            if (!fast)
                amb = x1 - x0 == 64 ? ~(uint64_t)0 : ((uint64_t)1 << (x1 - x0)) - 1;
            while (amb) {
                int b = __builtin_ctzll(amb);
                amb &= amb - 1;
                if ((row[x0 + b] - lo) / d >= t)
                    on |= (uint64_t)1 << b;
            }
            bits[k] = on;
        }
        size_t cur = nr, p = prev;
        for (int x = next_set(bits, 0, w); x < w;) {
            int xe = next_clear(bits, x, w) - 1;
            if (nr == cap) {
                if (cap > SIZE_MAX / 2 / sizeof *r) {
                    free(bits); free(r);
                    return err_set(e, "box: out of memory");
                }
                box_run *nrn = realloc(r, sizeof *r * cap * 2);
                if (!nrn) {
                    free(bits); free(r);
                    return err_set(e, "box: out of memory");
                }
                r = nrn;
                cap *= 2;
            }
            size_t me = nr++;
            r[me].xs = x; r[me].xe = xe; r[me].y = y; r[me].parent = (int)me;
            while (p < prev_end && r[p].xe < x - 1)
                p++;
            for (size_t q = p; q < prev_end && r[q].xs <= xe + 1; q++) {
                int a = run_root(r, (int)q), b = run_root(r, (int)me);
                if (a < b) r[b].parent = a;
                else if (b < a) r[a].parent = b;
            }
            x = next_set(bits, xe + 1, w);
        }
        prev = cur;
        prev_end = nr;
    }
    free(bits);
    /* Pixel count and box per root (a run's parent always has a smaller
     * index, so one ascending pass resolves every root), then the largest
     * component, the first root in raster order on ties. */
    typedef struct { long cnt; int x0, x1, y1; } comp;
    comp *c = nr ? malloc(sizeof *c * nr) : NULL;
    if (nr && !c) {
        free(r);
        return err_set(e, "box: out of memory");
    }
    for (size_t k = 0; k < nr; k++) {
        int root = r[k].parent;
        if (root != (int)k) {
            root = r[root].parent;     /* already resolved */
            r[k].parent = root;
            comp *cr = &c[root];
            cr->cnt += r[k].xe - r[k].xs + 1;
            if (r[k].xs < cr->x0) cr->x0 = r[k].xs;
            if (r[k].xe > cr->x1) cr->x1 = r[k].xe;
            if (r[k].y > cr->y1) cr->y1 = r[k].y;
        } else {
            c[k].cnt = r[k].xe - r[k].xs + 1;
            c[k].x0 = r[k].xs; c[k].x1 = r[k].xe; c[k].y1 = r[k].y;
        }
    }
    long best = 0;
    for (size_t k = 0; k < nr; k++)
        if (r[k].parent == (int)k && c[k].cnt > best) {
            best = c[k].cnt;
            box->x0 = c[k].x0; box->y0 = r[k].y; box->x1 = c[k].x1; box->y1 = c[k].y1;
            box->pixels = best;
        }
    free(c); free(r);
    return 0;
}

/* Suzuki-Abe border following over a padded label image, as OpenCV's
 * findContours does it (legacy contours.cpp semantics: outer border when
 * prev == 0 and p == 1, hole border when p == 0 and prev >= 1; right-border
 * pixels marked -nbd).  Directions: 0 right, then counter-clockwise on the
 * screen (1 up-right, 2 up, ... 7 down-right). */
typedef struct {
    int x0, y0, x1, y1;      /* bounding box (padded coords) */
    double a2;               /* twice the signed area */
    int hole, parent, first_child, next;
} contour_rec;

static const int DX[8] = { 1, 1, 0, -1, -1, -1, 0, 1 };
static const int DY[8] = { 0, -1, -1, -1, 0, 1, 1, 1 };

static void trace_border(int *img, int pw, int x, int y, int hole, int nbd, contour_rec *c)
{
    int i0 = y * pw + x, i1 = 0, i3, i4 = 0;
    int delta[8];
    for (int k = 0; k < 8; k++)
        delta[k] = DY[k] * pw + DX[k];
    int s, s_end;
    s_end = s = hole ? 0 : 4;
    do {
        s = (s - 1) & 7;
        i1 = i0 + delta[s];
    } while (img[i1] == 0 && s != s_end);

    c->x0 = c->x1 = x;
    c->y0 = c->y1 = y;
    c->a2 = 0;
    if (s == s_end) {            /* single pixel */
        img[i0] = -nbd;
        return;
    }
    long px = x, py = y;         /* current point, for the area */
    i3 = i0;
    for (;;) {
        s_end = s;
        int k = s;
        for (;;) {
            k++;
            i4 = i3 + delta[k & 7];
            if (img[i4] != 0 || k >= s + 8)
                break;
        }
        s = k & 7;
        if ((unsigned)(s - 1) < (unsigned)s_end)
            img[i3] = -nbd;
        else if (img[i3] == 1)
            img[i3] = nbd;
        long nx = px + DX[s], ny = py + DY[s];
        c->a2 += (double)px * ny - (double)py * nx;
        if (nx < c->x0) c->x0 = (int)nx;
        if (nx > c->x1) c->x1 = (int)nx;
        if (ny < c->y0) c->y0 = (int)ny;
        if (ny > c->y1) c->y1 = (int)ny;
        px = nx; py = ny;
        if (i4 == i0 && i3 == i1)
            break;
        i3 = i4;
        s = (s + 4) & 7;
    }
}

int cam_find_contours(const uint8_t *mask, int w, int h, cam_contour **out, int *nout, err_t *e)
{
    *out = NULL;
    *nout = 0;
    if (check_size(w, h, e))
        return -1;
    int pw = w + 2, ph = h + 2;
    int *img = calloc((size_t)pw * ph, sizeof *img);
    int cap = 64, n = 0;
    contour_rec *c = malloc(sizeof *c * (size_t)cap);
    if (!img || !c) {
        free(img); free(c);
        return err_set(e, "contours: out of memory");
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            img[(size_t)(y + 1) * pw + x + 1] = mask[(size_t)y * w + x] != 0;
    /* label nbd = index + 2; label 1 = unvisited; the frame is index -1 */
    int frame_first = -1;
    for (int y = 1; y < ph - 1; y++) {
        int lnbd = -1;                      /* the frame */
        int prev = 0;
        for (int x = 1; x < pw; x++) {
            int p = img[(size_t)y * pw + x];
            if (p == prev)
                continue;
            int hole = 0, start = 0;
            if (prev == 0 && p == 1)
                start = 1;
            else if (p == 0 && prev >= 1) {
                start = 1;
                hole = 1;
                if (prev > 1)
                    lnbd = prev - 2;
            }
            if (start) {
                if (n == cap) {
                    if (cap > (1 << 26)) {
                        free(img); free(c);
                        return err_set(e, "contours: too many");
                    }
                    contour_rec *nc = realloc(c, sizeof *c * (size_t)cap * 2);
                    if (!nc) {
                        free(img); free(c);
                        return err_set(e, "contours: out of memory");
                    }
                    c = nc;
                    cap *= 2;
                }
                int parent;
                int lnbd_hole = lnbd < 0 ? 1 : c[lnbd].hole;
                if (lnbd_hole == hole)
                    parent = lnbd < 0 ? -1 : c[lnbd].parent;
                else
                    parent = lnbd;
                contour_rec *cr = &c[n];
                cr->hole = hole;
                cr->parent = parent;
                cr->first_child = -1;
                /* OpenCV inserts a new contour as the FIRST child */
                if (parent < 0) {
                    cr->next = frame_first;
                    frame_first = n;
                } else {
                    cr->next = c[parent].first_child;
                    c[parent].first_child = n;
                }
                trace_border(img, pw, x - hole, y, hole, n + 2, cr);
                n++;
                p = img[(size_t)y * pw + x];  /* may have been relabelled */
                /* OpenCV keeps the last border as a point and reads its
                 * label when needed: after a hole, the start pixel x-1 */
                int q = img[(size_t)y * pw + x - hole];
                if (q != 0 && q != 1)
                    lnbd = (q < 0 ? -q : q) - 2;
            }
            prev = p;
            if (p != 0 && p != 1)
                lnbd = (p < 0 ? -p : p) - 2;
        }
    }
    free(img);
    cam_contour *res = malloc(sizeof *res * (size_t)(n ? n : 1));
    int *stack = malloc(sizeof *stack * (size_t)(n ? n : 1));
    if (!res || !stack) {
        free(res); free(stack); free(c);
        return err_set(e, "contours: out of memory");
    }
    /* pre-order walk of the tree, siblings newest first */
    int k = 0, sp = 0, cur = frame_first;
    while (cur >= 0 || sp) {
        if (cur < 0)
            cur = stack[--sp];
        contour_rec *cr = &c[cur];
        res[k].x = cr->x0 - 1;
        res[k].y = cr->y0 - 1;
        res[k].w = cr->x1 - cr->x0 + 1;
        res[k].h = cr->y1 - cr->y0 + 1;
        res[k].area = fabs(cr->a2) * 0.5;
        res[k].hole = cr->hole;
        k++;
        if (cr->first_child >= 0) {
            if (cr->next >= 0)
                stack[sp++] = cr->next;
            cur = cr->first_child;
        } else {
            cur = cr->next;
        }
    }
    free(stack);
    free(c);
    *out = res;
    *nout = n;
    return 0;
}

int cam_box_wsol(const double *m, int w, int h, double t, int all,
                 cam_box **boxes, int *nbox, err_t *e)
{
    *boxes = NULL;
    *nbox = 0;
    if (check_size(w, h, e))
        return -1;
    size_t n = (size_t)w * h;
    float *f = malloc(sizeof *f * n);
    uint8_t *u8 = malloc(n);
    if (!f || !u8) {
        free(f); free(u8);
        return err_set(e, "box: out of memory");
    }
    /* wsolevaluation works on a float32 map: cam -= min; cam /= max */
    int bad = 0;
    float lo = INFINITY, hi;
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)m[i];
        if (!isfinite(f[i]))
            bad = 1;
        else if (f[i] < lo)
            lo = f[i];
    }
    hi = -INFINITY;
    for (size_t i = 0; i < n && !bad; i++) {
        f[i] -= lo;
        if (f[i] > hi)
            hi = f[i];
    }
    uint8_t umax = 0;
    for (size_t i = 0; i < n; i++) {
        if (bad || !(hi > 0))
            u8[i] = 0;
        else {
            float v = (f[i] / hi) * 255.0f;
            u8[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
        if (u8[i] > umax)
            umax = u8[i];
    }
    int thr = (int)(t * umax);
    for (size_t i = 0; i < n; i++)
        u8[i] = u8[i] > thr;
    free(f);
    cam_contour *c;
    int nc;
    if (cam_find_contours(u8, w, h, &c, &nc, e)) {
        free(u8);
        return -1;
    }
    free(u8);
    cam_box *b = calloc((size_t)(nc ? nc : 1), sizeof *b);
    if (!b) {
        free(c);
        return err_set(e, "box: out of memory");
    }
    int nb = 0;
    if (nc == 0) {
        nb = 1;
    } else {
        int first = 0, last = nc - 1;
        if (!all) {
            for (int i = 1; i < nc; i++)
                if (c[i].area > c[first].area)
                    first = i;
            last = first;
        }
        for (int i = first; i <= last; i++, nb++) {
            b[nb].x0 = c[i].x;
            b[nb].y0 = c[i].y;
            b[nb].x1 = c[i].x + c[i].w < w - 1 ? c[i].x + c[i].w : w - 1;
            b[nb].y1 = c[i].y + c[i].h < h - 1 ? c[i].y + c[i].h : h - 1;
            b[nb].area = c[i].area;
        }
    }
    free(c);
    *boxes = b;
    *nbox = nb;
    return 0;
}

/* The 1-D squared distance transform of Felzenszwalb and Huttenlocher, in
 * the arithmetic of the CAM release's dt.c (f: n samples, d: out). */
#define DT_INF 1E20
static void dt_1d(const double *f, int n, double *d, double *z, int *v)
{
    int k = 0;
    v[0] = 0;
    z[0] = -DT_INF;
    z[1] = +DT_INF;
    for (int q = 1; q < n; q++) {
        double s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (double)(2 * q - 2 * v[k]);
        while (s <= z[k]) {
            k--;
            s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (double)(2 * q - 2 * v[k]);
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = +DT_INF;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q)
            k++;
        d[q] = (double)(q - v[k]) * (q - v[k]) + f[v[k]];
    }
}

/* bimg (h x w, 0 or 255) -> the distance transform rescaled to bytes, as
 * dt_binary() does (an image whose transform is constant is left as is). */
static int dt_binary(uint8_t *bimg, int w, int h)
{
    size_t n = (size_t)w * h;
    int mx = w > h ? w : h;
    double *m = malloc(sizeof *m * n), *f = malloc(sizeof *f * (size_t)mx);
    double *d = malloc(sizeof *d * (size_t)mx), *z = malloc(sizeof *z * ((size_t)mx + 1));
    int *v = malloc(sizeof *v * (size_t)mx);
    if (!m || !f || !d || !z || !v) {
        free(m); free(f); free(d); free(z); free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        m[i] = bimg[i] > 0 ? +DT_INF : 0.0;
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++) f[y] = m[(size_t)y * w + x];
        dt_1d(f, h, d, z, v);
        for (int y = 0; y < h; y++) m[(size_t)y * w + x] = d[y];
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) f[x] = m[(size_t)y * w + x];
        dt_1d(f, w, d, z, v);
        for (int x = 0; x < w; x++) m[(size_t)y * w + x] = d[x];
    }
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        m[i] = sqrt(m[i]);
        if (i == 0 || m[i] < lo) lo = m[i];
        if (i == 0 || m[i] > hi) hi = m[i];
    }
    if (lo != hi) {
        double scale = 255.0 / (hi - lo);
        for (size_t i = 0; i < n; i++) {
            int t = (int)(m[i] * scale + 0.5);
            bimg[i] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
        }
    }
    free(m); free(f); free(d); free(z); free(v);
    return 0;
}

typedef struct { int x, y, w, h; } rect;

static int rect_cmp_area(const void *a, const void *b)
{
    const rect *p = a, *q = b;
    long pa = (long)p->w * p->h, qa = (long)q->w * q->h;
    return pa > qa ? -1 : pa < qa ? 1 : 0;
}

static int big_overlap(const rect *a, const rect *b)
{
    long aa = (long)a->w * a->h, ba = (long)b->w * b->h;
    long t = (long)((double)(aa > ba ? aa : ba) * 0.5);
    int xo = (a->x + a->w < b->x + b->w ? a->x + a->w : b->x + b->w) - (a->x > b->x ? a->x : b->x);
    int yo = (a->y + a->h < b->y + b->h ? a->y + a->h : b->y + b->h) - (a->y > b->y ? a->y : b->y);
    if (xo < 0) xo = 0;
    if (yo < 0) yo = 0;
    return (long)xo * yo > t;
}

int cam_box_zhou(const double *m, int w, int h, const int th_in[3],
                 cam_box **boxes, int *nbox, err_t *e)
{
    static const int th_default[3] = { 20, 100, 110 };
    const int *th = th_in ? th_in : th_default;
    *boxes = NULL;
    *nbox = 0;
    if (check_size(w, h, e))
        return -1;
    size_t n = (size_t)w * h;
    uint8_t *gray = malloc(n), *bin = malloc(n);
    rect *r = NULL;
    int nr = 0, cap = 0;
    if (!gray || !bin)
        goto oom;
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(m[i]) && m[i] > mx)
            mx = m[i];
    for (size_t i = 0; i < n; i++) {
        double v = (mx > 0 && isfinite(m[i])) ? m[i] / mx * 255.0 : 0;
        gray[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5);
    }
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < n; i++)
            bin[i] = gray[i] > th[s] ? 255 : 0;
        if (dt_binary(bin, w, h))
            goto oom;
        for (size_t i = 0; i < n; i++)
            bin[i] = bin[i] > 10;
        cam_contour *c;
        int nc;
        if (cam_find_contours(bin, w, h, &c, &nc, e)) {
            free(gray); free(bin); free(r);
            return -1;
        }
        for (int j = 0; j < nc; j++) {
            if (nr == cap) {
                int ncap = cap ? cap * 2 : 16;
                rect *nrr = cap < (1 << 26) ? realloc(r, sizeof *r * (size_t)ncap) : NULL;
                if (!nrr) {
                    free(c);
                    goto oom;
                }
                r = nrr;
                cap = ncap;
            }
            rect *q = &r[nr++];
            /* on maps of 5 pixels or fewer, or contours starting in
             * the last 5 columns, the original's clipping gives negative
             * positions and sizes: keep them at 0 so boxes stay inside */
            q->x = clampi(c[j].x, 0, w > 5 ? w - 5 : 0);
            q->y = clampi(c[j].y, 0, h > 5 ? h - 5 : 0);
            q->w = clampi(c[j].w, 0, w - c[j].x - 5 > 0 ? w - c[j].x - 5 : 0);
            q->h = clampi(c[j].h, 0, h - c[j].y - 5 > 0 ? h - c[j].y - 5 : 0);
        }
        free(c);
    }
    /* sort by area, largest first (stable for equal areas: qsort is not, so
     * ties keep no particular order, like std::sort in the original) */
    if (nr > 1)
        qsort(r, (size_t)nr, sizeof *r, rect_cmp_area);
    /* the original's merge: erasing element j and then moving on to j+1,
     * which skips the element that moved into place j */
    for (int i = 0; i < nr; i++)
        for (int j = i + 1; j < nr; j++)
            if (big_overlap(&r[i], &r[j])) {
                memmove(&r[j], &r[j + 1], sizeof *r * (size_t)(nr - j - 1));
                nr--;
            }
    cam_box *b = calloc((size_t)(nr ? nr : 1), sizeof *b);
    if (!b)
        goto oom;
    for (int i = 0; i < nr; i++) {
        b[i].x0 = r[i].x;
        b[i].y0 = r[i].y;
        b[i].x1 = r[i].w > 0 ? r[i].x + r[i].w - 1 : r[i].x;
        b[i].y1 = r[i].h > 0 ? r[i].y + r[i].h - 1 : r[i].y;
        b[i].area = (double)r[i].w * r[i].h;
    }
    free(gray); free(bin); free(r);
    *boxes = b;
    *nbox = nr ? nr : 1;
    return 0;
oom:
    free(gray); free(bin); free(r);
    return err_set(e, "box: out of memory");
}

double cam_iou(const int a[4], const int b[4])
{
    double aw = a[2] - a[0] + 1, ah = a[3] - a[1] + 1;
    double bw = b[2] - b[0] + 1, bh = b[3] - b[1] + 1;
    double iw = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]) + 1;
    double ih = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]) + 1;
    if (aw <= 0 || ah <= 0 || bw <= 0 || bh <= 0)
        return 0;
    if (iw <= 0 || ih <= 0)
        return 0;
    double inter = iw * ih;
    return inter / (aw * ah + bw * bh - inter);
}

/* ---------------------------------------------------------------- colour */

/* OpenCV's COLORMAP_JET: 256 base colours clamp(1.5 - |4x - k|), x = i/255,
 * k = 3, 2, 1 for R, G, B, stored as float32, passed through OpenCV's
 * interp1 at the same 256 points in float and converted with
 * round-half-even(v * 255): most ramp values sit exactly on .5, so the
 * float steps decide, and are reproduced here. */
static float jet_base(int i, double k)
{
    double v = 1.5 - fabs(4.0 * i / 255.0 - k);
    return (float)(v < 0 ? 0 : v > 1 ? 1 : v);
}

static uint8_t jet_channel(int i, double k)
{
    float step = 1.0f / 255.0f;
    float v;
    if (i == 0) {
        v = jet_base(0, k);
    } else {
        volatile float xl = (float)(i - 1) * step, xh = (float)i * step;
        float yl = jet_base(i - 1, k), yh = jet_base(i, k);
        v = yl + (xh - xl) * (yh - yl) / (xh - xl);
    }
    long r = lrintf(v * 255.0f);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

static const uint8_t viridis[256][3] = {
    {68,1,84}, {68,2,86}, {69,4,87}, {69,5,89}, {70,7,90}, {70,8,92}, {70,10,93}, {70,11,94},
    {71,13,96}, {71,14,97}, {71,16,99}, {71,17,100}, {71,19,101}, {72,20,103}, {72,22,104}, {72,23,105},
    {72,24,106}, {72,26,108}, {72,27,109}, {72,28,110}, {72,29,111}, {72,31,112}, {72,32,113}, {72,33,115},
    {72,35,116}, {72,36,117}, {72,37,118}, {72,38,119}, {72,40,120}, {72,41,121}, {71,42,122}, {71,44,122},
    {71,45,123}, {71,46,124}, {71,47,125}, {70,48,126}, {70,50,126}, {70,51,127}, {70,52,128}, {69,53,129},
    {69,55,129}, {69,56,130}, {68,57,131}, {68,58,131}, {68,59,132}, {67,61,132}, {67,62,133}, {66,63,133},
    {66,64,134}, {66,65,134}, {65,66,135}, {65,68,135}, {64,69,136}, {64,70,136}, {63,71,136}, {63,72,137},
    {62,73,137}, {62,74,137}, {62,76,138}, {61,77,138}, {61,78,138}, {60,79,138}, {60,80,139}, {59,81,139},
    {59,82,139}, {58,83,139}, {58,84,140}, {57,85,140}, {57,86,140}, {56,88,140}, {56,89,140}, {55,90,140},
    {55,91,141}, {54,92,141}, {54,93,141}, {53,94,141}, {53,95,141}, {52,96,141}, {52,97,141}, {51,98,141},
    {51,99,141}, {50,100,142}, {50,101,142}, {49,102,142}, {49,103,142}, {49,104,142}, {48,105,142}, {48,106,142},
    {47,107,142}, {47,108,142}, {46,109,142}, {46,110,142}, {46,111,142}, {45,112,142}, {45,113,142}, {44,113,142},
    {44,114,142}, {44,115,142}, {43,116,142}, {43,117,142}, {42,118,142}, {42,119,142}, {42,120,142}, {41,121,142},
    {41,122,142}, {41,123,142}, {40,124,142}, {40,125,142}, {39,126,142}, {39,127,142}, {39,128,142}, {38,129,142},
    {38,130,142}, {38,130,142}, {37,131,142}, {37,132,142}, {37,133,142}, {36,134,142}, {36,135,142}, {35,136,142},
    {35,137,142}, {35,138,141}, {34,139,141}, {34,140,141}, {34,141,141}, {33,142,141}, {33,143,141}, {33,144,141},
    {33,145,140}, {32,146,140}, {32,146,140}, {32,147,140}, {31,148,140}, {31,149,139}, {31,150,139}, {31,151,139},
    {31,152,139}, {31,153,138}, {31,154,138}, {30,155,138}, {30,156,137}, {30,157,137}, {31,158,137}, {31,159,136},
    {31,160,136}, {31,161,136}, {31,161,135}, {31,162,135}, {32,163,134}, {32,164,134}, {33,165,133}, {33,166,133},
    {34,167,133}, {34,168,132}, {35,169,131}, {36,170,131}, {37,171,130}, {37,172,130}, {38,173,129}, {39,173,129},
    {40,174,128}, {41,175,127}, {42,176,127}, {44,177,126}, {45,178,125}, {46,179,124}, {47,180,124}, {49,181,123},
    {50,182,122}, {52,182,121}, {53,183,121}, {55,184,120}, {56,185,119}, {58,186,118}, {59,187,117}, {61,188,116},
    {63,188,115}, {64,189,114}, {66,190,113}, {68,191,112}, {70,192,111}, {72,193,110}, {74,193,109}, {76,194,108},
    {78,195,107}, {80,196,106}, {82,197,105}, {84,197,104}, {86,198,103}, {88,199,101}, {90,200,100}, {92,200,99},
    {94,201,98}, {96,202,96}, {99,203,95}, {101,203,94}, {103,204,92}, {105,205,91}, {108,205,90}, {110,206,88},
    {112,207,87}, {115,208,86}, {117,208,84}, {119,209,83}, {122,209,81}, {124,210,80}, {127,211,78}, {129,211,77},
    {132,212,75}, {134,213,73}, {137,213,72}, {139,214,70}, {142,214,69}, {144,215,67}, {147,215,65}, {149,216,64},
    {152,216,62}, {155,217,60}, {157,217,59}, {160,218,57}, {162,218,55}, {165,219,54}, {168,219,52}, {170,220,50},
    {173,220,48}, {176,221,47}, {178,221,45}, {181,222,43}, {184,222,41}, {186,222,40}, {189,223,38}, {192,223,37},
    {194,223,35}, {197,224,33}, {200,224,32}, {202,225,31}, {205,225,29}, {208,225,28}, {210,226,27}, {213,226,26},
    {216,226,25}, {218,227,25}, {221,227,24}, {223,227,24}, {226,228,24}, {229,228,25}, {231,228,25}, {234,229,26},
    {236,229,27}, {239,229,28}, {241,229,29}, {244,230,30}, {246,230,32}, {248,230,33}, {251,231,35}, {253,231,37},
};

void cam_colormap(int cmap, uint8_t v, uint8_t rgb[3])
{
    switch (cmap) {
    case CAM_CMAP_VIRIDIS:
        memcpy(rgb, viridis[v], 3);
        break;
    case CAM_CMAP_GRAY:
        rgb[0] = rgb[1] = rgb[2] = v;
        break;
    default:
        rgb[0] = jet_channel(v, 3);
        rgb[1] = jet_channel(v, 2);
        rgb[2] = jet_channel(v, 1);
        break;
    }
}

uint8_t cam_byte(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 1)
        return 255;
    return (uint8_t)(v * 255.0);
}

void cam_blend(uint8_t *rgb, int w, int h, const double *m, int cmap,
               double alpha, double beta)
{
    uint8_t lut[256][3];
    for (int i = 0; i < 256; i++)
        cam_colormap(cmap, (uint8_t)i, lut[i]);
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = lut[cam_byte(m[i])];
        for (int k = 0; k < 3; k++) {
            double v = alpha * c[k] + beta * rgb[3 * i + k];
            long r = lrint(v);
            rgb[3 * i + k] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

void cam_draw_box(uint8_t *rgb, int w, int h, const int box[4], int thickness,
                  const uint8_t color[3])
{
    for (int t = 0; t < thickness; t++) {
        int x0 = box[0] + t, y0 = box[1] + t, x1 = box[2] - t, y1 = box[3] - t;
        if (x0 > x1 || y0 > y1)
            break;
        for (int y = y0; y <= y1; y++) {
            if (y < 0 || y >= h)
                continue;
            for (int x = x0; x <= x1; x++) {
                if (x < 0 || x >= w)
                    continue;
                if (y != y0 && y != y1 && x != x0 && x != x1)
                    continue;
                memcpy(rgb + 3 * ((size_t)y * w + x), color, 3);
            }
        }
    }
}
