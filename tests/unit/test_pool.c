/* test_pool.c - MaxPool and GlobalAveragePool through the engine at every
 * SIMD level this CPU has and at 1 and 2 threads, against plain loops
 * written here: max pooling must equal them exactly (NaNs skipped, windows
 * without an input element -inf), the global average to float rounding.
 * Shapes cover the vector paths' edges: rows shorter and longer than a
 * vector, tails, pads wider than the window's reach, ceil mode, strides
 * 1, 2 (the fast path) and 3, dilation 2 (the separable path).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "graph_build.h"
#include "kernels.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct { int c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, ceil; } pcase;

static const int levels[] = {SIMD_AVX512, SIMD_AVX2, SIMD_PORTABLE};

/* One MaxPool case at every level and 1-2 threads; nan: some inputs NaN
 * (only the vector paths promise to skip them as the plain loop does: 1,
 * dilation 1 and row stride 1 or 2 but not "same" stride-1 pools, at
 * AVX-512 and AVX2; 2, the "same" pools, at AVX-512). */
static void max_case(const pcase *q, int nan)
{
    int64_t xd[4] = {1, q->c, q->h, q->w};
    size_t nin = (size_t)q->c * q->h * q->w;
    float *x = malloc(nin * sizeof *x);
    unsigned seed = (unsigned)(q->h * 131 + q->w * 7 + q->kh + nan);
    for (size_t i = 0; i < nin; i++)
        x[i] = frand(&seed);
    if (nan)
        for (size_t i = 0; i < nin; i += 5)
            x[i] = NAN;
    char desc[160];
    snprintf(desc, sizeof desc, "maxpool %dx%dx%d k %dx%d s %dx%d d %dx%d pad %d,%d,%d,%d%s%s",
             q->c, q->h, q->w, q->kh, q->kw, q->sh, q->sw, q->dh, q->dw, q->pt, q->pl, q->pb, q->pr,
             q->ceil ? " ceil" : "", nan ? " NaNs" : "");
    for (int l = 0; l < 3; l++) {
        if (levels[l] > simd_level())
            continue;
        if (nan && levels[l] == SIMD_PORTABLE)
            continue;
        if (nan == 2 && levels[l] != SIMD_AVX512)
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            graph g;
            err_t e;
            graph_init(&g);
            int tx = T(&g, "x", DT_F32, 4, xd, NULL), ty = T(&g, "y", DT_F32, -1, xd, NULL);
            int n = N1(&g, "MaxPool", "pool", 1, &tx, ty);
            io(&g, tx, ty);
            A_ints(&g, n, "kernel_shape", 2, (int64_t[]){q->kh, q->kw});
            A_ints(&g, n, "strides", 2, (int64_t[]){q->sh, q->sw});
            A_ints(&g, n, "dilations", 2, (int64_t[]){q->dh, q->dw});
            A_ints(&g, n, "pads", 4, (int64_t[]){q->pt, q->pl, q->pb, q->pr});
            A_int(&g, n, "ceil_mode", q->ceil);
            int old = simd_cap(levels[l]);
            engine_opts o;
            memset(&o, 0, sizeof o);
            o.threads = threads;
            engine *en = engine_create(&g, &o, &e);
            simd_cap(old);
            if (!tap_ok(en != NULL, "%s: %s, %d thread%s: plan", desc, simd_name(levels[l]), threads,
                        threads > 1 ? "s" : "")) {
                tap_diag("%s", e.msg);
                graph_free(&g);
                continue;
            }
            int64_t od[8];
            engine_output_shape(en, 0, od);
            int oh = (int)od[2], ow = (int)od[3];
            /* floor mode: the usual formula; ceil mode: at least as many */
            int fh = (q->h + q->pt + q->pb - (q->kh - 1) * q->dh - 1) / q->sh + 1;
            int fw = (q->w + q->pl + q->pr - (q->kw - 1) * q->dw - 1) / q->sw + 1;
            int shape_ok = q->ceil ? oh >= fh && ow >= fw : oh == fh && ow == fw;
            engine_run(en, x, &e);
            const float *y = engine_output(en, 0);
            long bad = 0;
            for (int c = 0; c < q->c; c++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        float m = -INFINITY;
                        for (int ky = 0; ky < q->kh; ky++)
                            for (int kx = 0; kx < q->kw; kx++) {
                                int iy = oy * q->sh - q->pt + ky * q->dh;
                                int ix = ox * q->sw - q->pl + kx * q->dw;
                                if (iy < 0 || iy >= q->h || ix < 0 || ix >= q->w)
                                    continue;
                                float v = x[((size_t)c * q->h + iy) * q->w + ix];
                                if (v > m)
                                    m = v;
                            }
                        float got = y[((size_t)c * oh + oy) * ow + ox];
                        if (memcmp(&got, &m, sizeof m))
                            bad++;
                    }
            tap_ok(shape_ok && bad == 0, "%s: %s, %d thread%s: %dx%d out, %ld wrong", desc,
                   simd_name(levels[l]), threads, threads > 1 ? "s" : "", oh, ow, bad);
            engine_free(en);
            graph_free(&g);
        }
    }
    free(x);
}

static void gap_case(int c, int h, int w)
{
    int64_t xd[4] = {1, c, h, w};
    size_t nin = (size_t)c * h * w;
    float *x = malloc(nin * sizeof *x);
    unsigned seed = (unsigned)(h * 31 + w);
    for (size_t i = 0; i < nin; i++)
        x[i] = frand(&seed) * 100.0f;
    for (int l = 0; l < 3; l++) {
        if (levels[l] > simd_level())
            continue;
        graph g;
        err_t e;
        graph_init(&g);
        int tx = T(&g, "x", DT_F32, 4, xd, NULL), ty = T(&g, "y", DT_F32, -1, xd, NULL);
        N1(&g, "GlobalAveragePool", "pool", 1, &tx, ty);
        io(&g, tx, ty);
        int old = simd_cap(levels[l]);
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.threads = 1;
        engine *en = engine_create(&g, &o, &e);
        simd_cap(old);
        if (!tap_ok(en != NULL, "gap %dx%dx%d %s: plan", c, h, w, simd_name(levels[l]))) {
            graph_free(&g);
            continue;
        }
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        double worst = 0;
        for (int k = 0; k < c; k++) {
            double s = 0;
            for (int i = 0; i < h * w; i++)
                s += x[(size_t)k * h * w + i];
            double want = s / (h * w);
            worst = fmax(worst, fabs(y[k] - want) / fmax(fabs(want), 1e-3));
        }
        tap_ok(worst <= 1e-6, "gap %dx%dx%d %s: relative error %g", c, h, w, simd_name(levels[l]),
               worst);
        engine_free(en);
        graph_free(&g);
    }
    free(x);
}

int main(void)
{
    static const pcase cases[] = {
        /* SqueezeNet's (ceil mode) and ResNet-18's first pools */
        {3, 113, 113, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1},
        {2, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0},
        {4, 55, 55, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1},
        /* GoogLeNet's stride-1 "same" pools, and odd sizes around vectors */
        {3, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {2, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {3, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {2, 13, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
        {2, 9, 11, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0},
        {2, 6, 5, 3, 2, 1, 1, 1, 1, 0, 1, 2, 0, 0},
        {2, 1, 19, 1, 3, 1, 1, 1, 1, 0, 2, 0, 0, 0},
        {2, 19, 1, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0},
        {1, 3, 4, 3, 4, 1, 1, 1, 1, 2, 3, 0, 0, 0},
        {2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
        {2, 5, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1},
        {2, 17, 33, 2, 3, 1, 2, 1, 1, 1, 2, 0, 2, 0},
        {2, 16, 32, 3, 2, 2, 1, 1, 1, 2, 1, 2, 1, 0},
        {2, 9, 40, 5, 5, 3, 2, 1, 1, 2, 4, 2, 4, 1},
        {2, 31, 47, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
        {1, 3, 70, 1, 7, 1, 2, 1, 1, 0, 6, 0, 6, 0},
        /* the separable path: stride 3, dilation 2 */
        {2, 20, 21, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0},
        {2, 20, 21, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pcase *q = &cases[i];
        max_case(q, 0);
        int same = q->sh == 1 && q->sw == 1 && q->dh == 1 && q->dw == 1 &&
                   q->pt + q->pb == q->kh - 1 && q->pl + q->pr == q->kw - 1;
        if (q->dh == 1 && q->dw == 1 && q->sw <= 2)
            max_case(q, same ? 2 : 1);
    }
    gap_case(3, 7, 7);
    gap_case(5, 14, 14);
    gap_case(2, 1, 17);
    gap_case(1, 1, 1);
    return tap_done();
}
