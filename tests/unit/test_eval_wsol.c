/* test_eval_wsol.c - the MaxBoxAcc sweep (eval_wsol_sweep) gives, at every
 * threshold, exactly the boxes of cam_box_wsol: all contours, and the
 * single-contour box at the index it calls the largest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "cam.h"
#include "eval.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Compares the sweep of m with cam_box_wsol at each threshold; returns the
 * number of thresholds that differ. */
static int compare(const eval_set *s, const double *m, int w, int h)
{
    eval_boxes *eb = calloc((size_t)s->nthr, sizeof *eb);
    err_t e;
    int bad = 0;
    if (eval_wsol_sweep(s, m, w, h, eb, &e) < 0) {
        tap_diag("sweep: %s", e.msg);
        free(eb);
        return s->nthr;
    }
    for (int k = 0; k < s->nthr; k++) {
        cam_box *all = NULL, *one = NULL;
        int na = 0, no = 0;
        double tau = k * s->step;
        if (cam_box_wsol(m, w, h, tau, 1, &all, &na, &e) < 0 ||
            cam_box_wsol(m, w, h, tau, 0, &one, &no, &e) < 0) {
            bad++;
            continue;
        }
        int diff = na != eb[k].nbox || no != 1;
        for (int i = 0; !diff && i < na; i++)
            diff = all[i].x0 != eb[k].box[i].x0 || all[i].y0 != eb[k].box[i].y0 ||
                   all[i].x1 != eb[k].box[i].x1 || all[i].y1 != eb[k].box[i].y1;
        if (!diff) {
            const ebox *l = &eb[k].box[eb[k].largest];
            diff = one[0].x0 != l->x0 || one[0].y0 != l->y0 || one[0].x1 != l->x1 || one[0].y1 != l->y1;
        }
        if (diff && bad < 3)
            tap_diag("tau %.3f: %d boxes vs %d", tau, eb[k].nbox, na);
        bad += diff;
        free(all);
        free(one);
    }
    eval_boxes_free(eb, s->nthr);
    free(eb);
    return bad;
}

int main(void)
{
    eval_set s;
    err_t e;
    eval_init(&s);
    eval_set_sweep(&s, 0.01, &e);

    /* REFERENCE.md's vectors, at their own size. */
    double v1[20] = { 0, 0, 0, 0, 0, 0, .4, .4, .4, .6, 0, .4, 1, .8, .6, 0, .4, .4, .4, .6 };
    double v2[20] = { .4, 0, .2, .2, .2, .4, .4, 0, .4, 0, 0, 0, 0, .4, 0, 1, .6, .8, .2, .2 };
    tap_ok(compare(&s, v1, 5, 4) == 0, "vector 1: sweep = cam_box_wsol at 100 thresholds");
    tap_ok(compare(&s, v2, 5, 4) == 0, "vector 2");
    eval_set s5;
    eval_init(&s5);
    eval_set_sweep(&s5, 0.2, &e);
    eval_boxes eb[5];
    static const int want[5][4] = { { 1, 1, 4, 3 }, { 1, 1, 4, 3 }, { 2, 1, 4, 3 }, { 2, 2, 4, 3 }, { 2, 2, 3, 3 } };
    int ok = eval_wsol_sweep(&s5, v1, 5, 4, eb, &e) == 0;
    for (int k = 0; ok && k < 5; k++) {
        const ebox *b = &eb[k].box[eb[k].largest];
        ok = b->x0 == want[k][0] && b->y0 == want[k][1] && b->x1 == want[k][2] && b->y1 == want[k][3];
    }
    tap_ok(ok, "vector 1 at 0 .2 .4 .6 .8: the REFERENCE.md boxes");
    eval_boxes_free(eb, 5);

    /* Constant, zero and NaN maps: one [0,0,0,0] box everywhere. */
    double c[12], z[12], nan_m[12];
    for (int i = 0; i < 12; i++) {
        c[i] = 3.5;
        z[i] = 0;
        nan_m[i] = i;
    }
    nan_m[5] = NAN;
    tap_ok(compare(&s, c, 4, 3) == 0 && compare(&s, z, 4, 3) == 0 && compare(&s, nan_m, 4, 3) == 0,
           "constant, zero and NaN maps");

    /* Random maps: smooth blobs with noise (several contours, holes),
     * odd sizes. */
    int fails = 0;
    for (int t = 0; t < 40; t++) {
        int w = 20 + (int)(urand() * 60), h = 15 + (int)(urand() * 60);
        double *m = malloc(sizeof *m * (size_t)w * h);
        double cx[3], cy[3], r[3];
        for (int j = 0; j < 3; j++) {
            cx[j] = urand() * w;
            cy[j] = urand() * h;
            r[j] = 2 + urand() * w / 4;
        }
        double noise = t % 4 == 0 ? 0 : urand() * 0.8;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = 0;
                for (int j = 0; j < 3; j++)
                    v += exp(-((x - cx[j]) * (x - cx[j]) + (y - cy[j]) * (y - cy[j])) / (r[j] * r[j]));
                m[(size_t)y * w + x] = v + noise * urand() - 0.2;
            }
        fails += compare(&s, m, w, h) != 0;
        free(m);
    }
    tap_ok(fails == 0, "40 random maps: identical at every threshold (%d differ)", fails);

    /* Speed: 30 maps of 227x227 at 100 thresholds. */
    eval_set_sweep(&s, 0.01, &e);
    eval_boxes *ebs = calloc(100, sizeof *ebs);
    double *m = malloc(sizeof *m * 227 * 227);
    int nb = 0;
    for (int t = 0; t < 30; t++) {
        for (int i = 0; i < 227 * 227; i++)
            m[i] = exp(-(((i % 227) - 100.0) * ((i % 227) - 100.0) + ((i / 227) - 90.0) * ((i / 227) - 90.0)) / 3000.0) +
                   0.2 * urand();
        if (eval_wsol_sweep(&s, m, 227, 227, ebs, &e) == 0)
            nb += ebs[50].nbox > 0;
        eval_boxes_free(ebs, 100);
    }
    tap_ok(nb == 30, "30 noisy 227x227 maps swept");
    tap_ok(eval_wsol_sweep(&s, z, 0, 3, ebs, &e) < 0, "empty map refused");
    free(m);
    free(ebs);
    eval_free(&s);
    eval_free(&s5);
    return tap_done();
}
