/* cam_box_paper against a plain reference: the straightforward flood fill
 * over the normalised map (the first implementation), on random maps of
 * many shapes, smooth and noisy, with ties, constant and NaN maps. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "kernels.h"
#include "../tap.h"

static void ref_box(const double *m, int w, int h, double t, cam_box *box)
{
    size_t n = (size_t)w * h;
    double *norm = malloc(sizeof *norm * n);
    uint8_t *mask = malloc(n);
    int *stack = malloc(sizeof *stack * n);
    memset(box, 0, sizeof *box);
    memcpy(norm, m, sizeof *norm * n);
    if (cam_normalize_d(norm, n, CAM_NORM_MINMAX))
        goto out;
    for (size_t i = 0; i < n; i++)
        mask[i] = norm[i] >= t;
    long best = 0;
    for (size_t start = 0; start < n; start++) {
        if (mask[start] != 1)
            continue;
        long cnt = 0;
        int x0 = w, y0 = h, x1 = -1, y1 = -1, sp = 0;
        stack[sp++] = (int)start;
        mask[start] = 2;
        while (sp) {
            int p = stack[--sp], px = p % w, py = p / w;
            cnt++;
            if (px < x0) x0 = px;
            if (px > x1) x1 = px;
            if (py < y0) y0 = py;
            if (py > y1) y1 = py;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= w || qy >= h)
                        continue;
                    size_t q = (size_t)qy * w + qx;
                    if (mask[q] == 1) {
                        mask[q] = 2;
                        stack[sp++] = (int)q;
                    }
                }
        }
        if (cnt > best) {
            best = cnt;
            box->x0 = x0; box->y0 = y0; box->x1 = x1; box->y1 = y1;
            box->pixels = cnt;
        }
    }
out:
    free(norm); free(mask); free(stack);
}

static uint64_t rs = 88172645463325252ull;
static double rnd(void)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static void run(const char *path);

int main(void)
{
    /* the vector path this CPU offers, then plain C */
    run(simd_name(simd_level()));
    simd_cap(SIMD_PORTABLE);
    run("portable");
    return tap_done();
}

static void run(const char *path)
{
    static const double ts[] = { 0, 0.2, 0.5, 0.9, 1.0 };
    int bad = 0, cases = 0;
    for (int it = 0; it < 600; it++) {
        int w = 1 + (int)(rnd() * (it < 300 ? 12 : 90)), h = 1 + (int)(rnd() * (it < 300 ? 12 : 90));
        int kind = it % 4;
        size_t n = (size_t)w * h;
        double *m = malloc(sizeof *m * n);
        for (size_t i = 0; i < n; i++) {
            double x = (double)(i % w), y = (double)(i / w);
            if (kind == 0)          /* noise: many components */
                m[i] = rnd();
            else if (kind == 1)     /* few levels: ties and equal components */
                m[i] = (double)(int)(rnd() * 3);
            else                    /* smooth blobs */
                m[i] = sin(x * 0.3 + it) * cos(y * 0.2 - it) + 0.3 * rnd() * (kind == 3);
        }
        if (it == 10)
            for (size_t i = 0; i < n; i++) m[i] = 2.5;     /* constant */
        if (it == 11)
            m[n / 2] = NAN;
        if (it == 12)
            m[0] = INFINITY;
        for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
            cam_box a, b;
            err_t e;
            ref_box(m, w, h, ts[k], &a);
            int rc = cam_box_paper(m, w, h, ts[k], &b, &e);
            cases++;
            if (rc != 0 || memcmp(&a, &b, sizeof a) != 0) {
                if (bad++ < 5)
                    tap_diag("%dx%d t=%g kind %d: got %d %d %d %d %ld, want %d %d %d %d %ld", w, h, ts[k],
                             kind, b.x0, b.y0, b.x1, b.y1, b.pixels, a.x0, a.y0, a.x1, a.y1, a.pixels);
            }
        }
        free(m);
    }
    tap_ok(bad == 0, "%s: paper boxes equal the reference on %d random maps and thresholds", path, cases);
    /* Values a few ulps either side of lo + t * (hi - lo), where the
     * shortcut comparisons must hand over to the division; offsets, signs
     * and magnitudes near under- and overflow (which take the division
     * everywhere); rows of 64 and 128 pixels (runs up to the row's last
     * word), runs across words. */
    static const double tt[] = { 0, 0.2, 0.3, 0.7, 1.0, 1e-300, 0.999999999 };
    static const double base[][2] = { { 0, 1 }, { -3.5, 2.25 }, { 1e6, 1e6 + 3 }, { -1e-3, -1e-4 },
                                       { 1e-300, 3e-300 }, { -1e300, 1e300 }, { 5e-324, 1e-320 } };
    int bad2 = 0, cases2 = 0;
    for (size_t bi = 0; bi < sizeof base / sizeof base[0]; bi++)
        for (size_t k = 0; k < sizeof tt / sizeof tt[0]; k++)
            for (int rep = 0; rep < 4; rep++) {
                int w = rep < 2 ? 64 + rep * 64 : 1 + (int)(rnd() * 20), h = 1 + (int)(rnd() * 15);
                size_t n = (size_t)w * h;
                double *m = malloc(sizeof *m * n);
                double lo = base[bi][0], hi = base[bi][1], c = lo + tt[k] * (hi - lo);
                for (size_t i = 0; i < n; i++) {
                    double v = c;
                    int steps = (int)(rnd() * 9) - 4;
                    for (; steps > 0; steps--) v = nextafter(v, INFINITY);
                    for (; steps < 0; steps++) v = nextafter(v, -INFINITY);
                    m[i] = v < lo ? lo : v > hi ? hi : v;
                    if (rnd() < 0.1)
                        m[i] = rnd() < 0.5 ? lo : hi;
                }
                m[0] = lo;
                m[n - 1] = hi;
                cam_box a, b;
                err_t e;
                ref_box(m, w, h, tt[k], &a);
                int rc = cam_box_paper(m, w, h, tt[k], &b, &e);
                cases2++;
                if (rc != 0 || memcmp(&a, &b, sizeof a) != 0) {
                    if (bad2++ < 5)
                        tap_diag("%dx%d [%g,%g] t=%g: got %d %d %d %d %ld, want %d %d %d %d %ld", w, h, lo, hi,
                                 tt[k], b.x0, b.y0, b.x1, b.y1, b.pixels, a.x0, a.y0, a.x1, a.y1, a.pixels);
                }
                free(m);
            }
    tap_ok(bad2 == 0, "%s: paper boxes equal the reference on %d maps around the threshold", path, cases2);
    /* one known case: two components, the larger wins; a tie keeps the first */
    double m2[4 * 3] = { 1, 0, 0, 1,
                         1, 0, 0, 1,
                         0, 0, 0, 1 };
    cam_box b;
    err_t e;
    cam_box_paper(m2, 4, 3, 0.5, &b, &e);
    tap_ok(b.x0 == 3 && b.y0 == 0 && b.x1 == 3 && b.y1 == 2 && b.pixels == 3, "%s: larger component", path);
    m2[11] = 0;
    cam_box_paper(m2, 4, 3, 0.5, &b, &e);
    tap_ok(b.x0 == 0 && b.x1 == 0 && b.pixels == 2, "%s: tie: first in raster order", path);
}
