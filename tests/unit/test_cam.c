/* test_cam.c - CAM math: REFERENCE.md box vectors, IoU, OpenCV JET,
 * normalisation of degenerate maps, resizing, contours, dt boxes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "cam.h"

static int box_is(const cam_box *b, int x0, int y0, int x1, int y1)
{
    return b->x0 == x0 && b->y0 == y0 && b->x1 == x1 && b->y1 == y1;
}

static void wsol_vector(const double *m, int w, int h, const int want[5][4], const char *name)
{
    static const double th[5] = { 0, .2, .4, .6, .8 };
    for (int i = 0; i < 5; i++) {
        cam_box *b;
        int n;
        err_t e;
        int rc = cam_box_wsol(m, w, h, th[i], 0, &b, &n, &e);
        tap_ok(rc == 0 && n == 1 && box_is(b, want[i][0], want[i][1], want[i][2], want[i][3]),
               "wsol %s t=%.1f: [%d,%d,%d,%d]", name, th[i],
               rc ? -1 : b[0].x0, rc ? -1 : b[0].y0, rc ? -1 : b[0].x1, rc ? -1 : b[0].y1);
        if (rc == 0)
            free(b);
    }
}

int main(void)
{
    err_t e;
    /* REFERENCE.md test vectors (wsol, single contour) */
    static const double m1[4 * 5] = { 0, 0, 0, 0, 0,  0, .4, .4, .4, .6,
                                      0, .4, 1, .8, .6,  0, .4, .4, .4, .6 };
    static const int w1[5][4] = { {1,1,4,3}, {1,1,4,3}, {2,1,4,3}, {2,2,4,3}, {2,2,3,3} };
    static const double m2[4 * 5] = { .4, 0, .2, .2, .2,  .4, .4, 0, .4, 0,
                                      0, 0, 0, .4, 0,  1, .6, .8, .2, .2 };
    static const int w2[5][4] = { {0,0,4,3}, {0,0,2,2}, {0,3,3,3}, {2,3,3,3}, {0,3,1,3} };
    static const int wz[5][4] = { {0,0,0,0}, {0,0,0,0}, {0,0,0,0}, {0,0,0,0}, {0,0,0,0} };
    /* the vectors are float32 values in the records */
    double f1[20], f2[20], zero[20] = { 0 };
    for (int i = 0; i < 20; i++) {
        f1[i] = (float)m1[i];
        f2[i] = (float)m2[i];
    }
    wsol_vector(f1, 5, 4, w1, "vector 1");
    wsol_vector(f2, 5, 4, w2, "vector 2");
    wsol_vector(zero, 5, 4, wz, "all-zero");

    /* IoU */
    int a[4] = { 1, 2, 5, 6 }, b[4] = { 3, 1, 4, 5 };
    tap_ok(fabs(cam_iou(a, b) - 8.0 / 27.0) < 1e-15, "IoU([1,2,5,6],[3,1,4,5]) = 8/27 (%.17g)", cam_iou(a, b));
    tap_ok(cam_iou(a, a) == 1.0, "IoU of a box with itself is 1");
    int c[4] = { 10, 10, 12, 12 };
    tap_ok(cam_iou(a, c) == 0.0, "IoU of disjoint boxes is 0");

    /* OpenCV JET (REFERENCE.md), RGB */
    static const int jet[9][4] = { {0,0,0,128}, {32,0,0,255}, {64,0,128,255}, {96,2,255,254},
        {128,130,255,126}, {160,255,252,0}, {192,255,124,0}, {224,252,0,0}, {255,128,0,0} };
    for (int i = 0; i < 9; i++) {
        uint8_t rgb[3];
        cam_colormap(CAM_CMAP_JET, (uint8_t)jet[i][0], rgb);
        tap_ok(rgb[0] == jet[i][1] && rgb[1] == jet[i][2] && rgb[2] == jet[i][3],
               "jet %d = (%d,%d,%d), got (%d,%d,%d)", jet[i][0], jet[i][1], jet[i][2], jet[i][3],
               rgb[0], rgb[1], rgb[2]);
    }
    uint8_t v0[3], v1[3];
    cam_colormap(CAM_CMAP_VIRIDIS, 0, v0);
    cam_colormap(CAM_CMAP_VIRIDIS, 255, v1);
    tap_ok(v0[0] == 68 && v0[1] == 1 && v0[2] == 84 && v1[0] == 253 && v1[1] == 231 && v1[2] == 37,
           "viridis ends (68,1,84) .. (253,231,37)");

    /* normalisation of degenerate maps */
    float cst[6] = { 3, 3, 3, 3, 3, 3 }, nanm[6] = { 1, 2, NAN, 4, 5, 6 }, infm[3] = { 1, INFINITY, 2 };
    tap_ok(cam_normalize(cst, 6, CAM_NORM_MINMAX) == 1 && cst[0] == 0 && cst[5] == 0, "constant map -> zeros");
    tap_ok(cam_normalize(nanm, 6, CAM_NORM_MINMAX) == 1 && nanm[0] == 0 && nanm[2] == 0, "NaN map -> zeros");
    tap_ok(cam_normalize(infm, 3, CAM_NORM_MAX) == 1 && infm[1] == 0, "infinite map -> zeros");
    float mm[3] = { -2, 0, 2 };
    cam_normalize(mm, 3, CAM_NORM_MINMAX);
    tap_ok(mm[0] == 0 && mm[1] == 0.5f && mm[2] == 1, "min-max of -2 0 2 = 0 .5 1");
    float mx[3] = { -2, 0, 1 };
    cam_normalize(mx, 3, CAM_NORM_MAX);
    tap_ok(mx[0] == -1 && mx[2] == 0.5f, "by-max divides by the largest magnitude");
    float rl[3] = { -1, 0, 2 };
    cam_relu(rl, 3);
    tap_ok(rl[0] == 0 && rl[2] == 2, "relu");

    /* paper boxes on degenerate maps */
    cam_box pb;
    double nan6[6] = { 1, NAN, 1, 1, 1, 1 }, cst6[6] = { 2, 2, 2, 2, 2, 2 };
    tap_ok(cam_box_paper(nan6, 3, 2, 0.2, &pb, &e) == 0 && pb.pixels == 0 && box_is(&pb, 0, 0, 0, 0),
           "paper: NaN map gives no box");
    tap_ok(cam_box_paper(cst6, 3, 2, 0.2, &pb, &e) == 0 && pb.pixels == 0, "paper: constant map gives no box");
    /* two components: 3 pixels top-left, 4 pixels bottom-right */
    double two[5 * 5] = { 1,1,0,0,0,  1,0,0,0,0,  0,0,0,0,0,  0,0,0,.9,.9,  0,0,0,.9,.9 };
    tap_ok(cam_box_paper(two, 5, 5, 0.2, &pb, &e) == 0 && box_is(&pb, 3, 3, 4, 4) && pb.pixels == 4,
           "paper: the largest component wins, not the highest");
    double diag[3 * 3] = { 1,0,0, 0,1,0, 0,0,1 };
    tap_ok(cam_box_paper(diag, 3, 3, 0.5, &pb, &e) == 0 && box_is(&pb, 0, 0, 2, 2) && pb.pixels == 3,
           "paper: 8-connectivity joins diagonals");
    double tie[1 * 5] = { 1, 0, 1, 0, 0 };
    tap_ok(cam_box_paper(tie, 5, 1, 0.5, &pb, &e) == 0 && box_is(&pb, 0, 0, 0, 0) && pb.pixels == 1,
           "paper: ties go to the first component in raster order");

    /* resize */
    float in2[2] = { 0, 1 };
    double o4[4];
    cam_resize(in2, 2, 1, o4, 4, 1, NULL, CAM_BILINEAR, &e);
    tap_ok(o4[0] == 0 && o4[1] == 0.25 && o4[2] == 0.75 && o4[3] == 1, "bilinear 2->4 half-pixel: 0 .25 .75 1");
    cam_resize(in2, 2, 1, o4, 4, 1, NULL, CAM_NEAREST, &e);
    tap_ok(o4[0] == 0 && o4[1] == 0 && o4[2] == 1 && o4[3] == 1, "nearest 2->4: 0 0 1 1");
    float in3[9] = { 5, 5, 5, 5, 5, 5, 5, 5, 5 };
    double o7[7 * 5];
    cam_resize(in3, 3, 3, o7, 7, 5, NULL, CAM_BICUBIC, &e);
    int flat = 1;
    for (int i = 0; i < 35; i++)
        flat &= fabs(o7[i] - 5) < 1e-12;
    tap_ok(flat, "bicubic keeps a constant map constant");
    float ramp[4] = { 0, 1, 2, 3 };
    double o8[8];
    cam_resize(ramp, 4, 1, o8, 8, 1, NULL, CAM_BICUBIC, &e);
    /* Keys a = -0.75 (OpenCV, torch) overshoots a ramp: t = 0.25 gives 1.296875 */
    tap_ok(o8[3] == 1.296875 && o8[4] == 1.703125, "bicubic a=-0.75 on a ramp (%.17g %.17g)", o8[3], o8[4]);
    cam_roi roi = { 2, 0, 6, 1 };
    cam_resize(in2, 2, 1, o8, 8, 1, &roi, CAM_NEAREST, &e);
    tap_ok(o8[0] == 0 && o8[3] == 0 && o8[4] == 1 && o8[7] == 1, "roi: cells cover pixels 2..5");
    double same[6];
    float src6[6] = { 1, 2, 3, 4, 5, 6 };
    cam_resize(src6, 3, 2, same, 3, 2, NULL, CAM_BILINEAR, &e);
    tap_ok(same[0] == 1 && same[4] == 5 && same[5] == 6, "bilinear same size is the identity");
    tap_ok(cam_resize(src6, 3, 2, same, 0, 2, NULL, CAM_BILINEAR, &e) == -1, "resize to 0 width fails");

    /* contours: a 4x4 ring with a 2x2 hole, and a lone pixel */
    uint8_t ring[6 * 8] = {
        0,0,0,0,0,0,0,0,
        0,1,1,1,1,0,0,0,
        0,1,0,0,1,0,0,0,
        0,1,0,0,1,0,1,0,
        0,1,1,1,1,0,0,0,
        0,0,0,0,0,0,0,0 };
    cam_contour *ct;
    int nct;
    int rc = cam_find_contours(ring, 8, 6, &ct, &nct, &e);
    tap_ok(rc == 0 && nct == 3, "ring + pixel: 3 contours (%d)", rc ? -1 : nct);
    if (nct == 3) {
        /* OpenCV order: newest top-level first (the pixel), then the ring
         * and its hole */
        tap_ok(!ct[0].hole && ct[0].x == 6 && ct[0].area == 0, "first: the lone pixel");
        tap_ok(!ct[1].hole && ct[1].x == 1 && ct[1].w == 4 && ct[1].area == 9, "then the ring, area 9 (%g)", ct[1].area);
        tap_ok(ct[2].hole && ct[2].area > 0 && ct[2].area < 9, "then its hole (area %g)", ct[2].area);
        free(ct);
    }
    uint8_t full[3 * 3] = { 1,1,1, 1,1,1, 1,1,1 };
    tap_ok(cam_find_contours(full, 3, 3, &ct, &nct, &e) == 0 && nct == 1 && ct[0].x == 0 && ct[0].w == 3 &&
           ct[0].area == 4, "a full mask touching the border is one contour");
    free(ct);

    /* multi-contour wsol */
    cam_box *bx;
    int nb;
    double two2[3 * 7] = { 1,1,0,0,0,1,1,  1,1,0,0,0,1,1,  0,0,0,0,0,0,0 };
    tap_ok(cam_box_wsol(two2, 7, 3, 0.5, 1, &bx, &nb, &e) == 0 && nb == 2, "wsol all: two boxes");
    free(bx);

    /* zhou dt boxes: one big blob */
    int W = 60, H = 40;
    double *blob = calloc((size_t)W * H, sizeof *blob);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            blob[y * W + x] = exp(-((x - 30.0) * (x - 30.0) + (y - 20.0) * (y - 20.0)) / 200.0);
    tap_ok(cam_box_zhou(blob, W, H, NULL, &bx, &nb, &e) == 0 && nb >= 1, "zhou: boxes from a blob (%d)", nb);
    if (nb >= 1) {
        tap_ok(bx[0].x0 > 5 && bx[0].x1 < 55 && bx[0].x0 < 30 && bx[0].x1 > 30 &&
               bx[0].y0 < 20 && bx[0].y1 > 20, "zhou: largest box around the centre [%d,%d,%d,%d]",
               bx[0].x0, bx[0].y0, bx[0].x1, bx[0].y1);
        for (int i = 1; i < nb; i++)
            tap_ok(bx[i].area <= bx[i - 1].area, "zhou: boxes sorted by area");
        free(bx);
    }
    memset(blob, 0, sizeof *blob * (size_t)W * H);
    tap_ok(cam_box_zhou(blob, W, H, NULL, &bx, &nb, &e) == 0 && nb == 1 && box_is(&bx[0], 0, 0, 0, 0),
           "zhou: zero map gives [0,0,0,0]");
    free(bx);
    free(blob);

    /* map = W f, invariant mean(M) + b = logit */
    float feat[2 * 3] = { 1, 2, 3, 4, 5, 6 }, wt[2] = { 0.5f, -1 }, map[3];
    cam_map_linear(feat, 2, 3, wt, map);
    tap_ok(map[0] == -3.5f && map[2] == -4.5f, "map = sum_k w_k f_k");
    tap_ok(fabs(cam_mean(map, 3) - (0.5 * 2 - 5)) < 1e-12, "mean(map) = w . mean(f)");

    /* drawing */
    uint8_t img[5 * 5 * 3] = { 0 }, red[3] = { 255, 0, 0 };
    int bb[4] = { 1, 1, 3, 3 };
    cam_draw_box(img, 5, 5, bb, 1, red);
    tap_ok(img[3 * (1 * 5 + 1)] == 255 && img[3 * (2 * 5 + 2)] == 0 && img[3 * (3 * 5 + 3)] == 255 &&
           img[0] == 0, "box outline drawn, inside left alone");
    uint8_t px[3] = { 100, 100, 100 };
    double one = 1.0;
    cam_blend(px, 1, 1, &one, CAM_CMAP_JET, 0.5, 0.5);
    tap_ok(px[0] == 114 && px[1] == 50 && px[2] == 50, "blend 0.5 jet(255)=(128,0,0) over 100: (%d,%d,%d)", px[0], px[1], px[2]);
    return tap_done();
}
