/* cam.h - class activation map math: maps from features, post-processing
 * (ReLU, normalisation), resizing to the image, boxes from maps (three
 * rules), colour maps and drawing.
 *
 * Maps are row-major h x w arrays, [y][x].  Pixel (x, y) has its centre at
 * (x + 0.5, y + 0.5) in continuous image coordinates ("half-pixel centres").
 * Boxes are inclusive pixel boxes [x0, y0, x1, y1].
 * Nothing here prints or exits; functions that can fail return 0 / -1 and
 * fill an err_t.
 */
#ifndef CAM_CAM_H
#define CAM_CAM_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* Largest map (pixels) the box and resize functions accept. */
#define CAM_MAX_PIXELS ((size_t)1 << 28)

/* ------------------------------------------------------------ maps */

/* out[i] = sum_k w[k] * f[k*n + i] for i < n: the class map of one class
 * (no bias).  f is K x n (n = h*w, CHW without the batch), accumulation in
 * double. */
void cam_map_linear(const float *f, int K, size_t n, const float *w, float *out);

/* Mean of n floats, accumulated in double. */
double cam_mean(const float *m, size_t n);

enum cam_norm { CAM_NORM_NONE = 0, CAM_NORM_MINMAX, CAM_NORM_MAX };
/* "none", "minmax", "max" -> enum; -1 when unknown. */
int cam_norm_parse(const char *s);
const char *cam_norm_name(int norm);

/* In place: negative values become 0. */
void cam_relu(float *m, size_t n);
/* In place: CAM_NORM_MINMAX maps [min,max] to [0,1]; CAM_NORM_MAX divides by
 * the largest absolute value.  A map holding any NaN or infinity, or a
 * constant map (max == min; for MAX: all zeros), becomes all zeros.
 * Returns 1 when the map was zeroed that way, else 0. */
int cam_normalize(float *m, size_t n, int norm);
int cam_normalize_d(double *m, size_t n, int norm);

/* ------------------------------------------------------------ resizing */

enum cam_interp { CAM_NEAREST = 0, CAM_BILINEAR, CAM_BICUBIC };
/* "nearest", "bilinear", "bicubic" -> enum; -1 when unknown. */
int cam_interp_parse(const char *s);
const char *cam_interp_name(int interp);

/* The region of the output pixel grid that the input map covers: pixel
 * edges x0 <= x < x1, y0 <= y < y1 (the tensor stream's "roi" key).  The
 * whole output is {0, 0, ow, oh}. */
typedef struct { double x0, y0, x1, y1; } cam_roi;

/* Resizes in (ih x iw) to out (oh x ow).  Input cell j covers
 * [x0 + j*sx, x0 + (j+1)*sx) with sx = (x1-x0)/iw; the source coordinate of
 * output pixel x is (x + 0.5 - x0) / sx - 0.5 (half-pixel centres).
 *   nearest:  cell floor(src + 0.5), clamped to the map;
 *   bilinear: src clamped to [0, iw-1], then linear (= OpenCV INTER_LINEAR,
 *             torch align_corners=False);
 *   bicubic:  Keys cubic with a = -0.75, indices clamped at the border
 *             (= OpenCV INTER_CUBIC, torch bicubic).
 * roi NULL: the whole output.  Computed in double. */
int cam_resize(const float *in, int iw, int ih, double *out, int ow, int oh,
               const cam_roi *roi, int interp, err_t *e);

/* ------------------------------------------------------------ boxes */

typedef struct {
    int    x0, y0, x1, y1;  /* inclusive pixel box; all 0 when nothing found */
    long   pixels;          /* paper: pixels of the component; others: 0 */
    double area;            /* wsol: polygon area of the contour; zhou: w*h */
} cam_box;

/* Paper rule (Zhou et al. 2016, the goldens' box.json): min-max normalise m
 * (h x w), mask = norm >= t, box of the largest 8-connected component by
 * pixel count (ties: the component met first in raster order).  A map
 * zeroed by normalisation (constant, NaN) or an empty mask gives the box
 * {0,0,0,0} with pixels = 0.  Returns 0 or -1 (out of memory). */
int cam_box_paper(const double *m, int w, int h, double t, cam_box *box, err_t *e);

/* wsolevaluation's rule: m min-max normalised in float32 (constant/NaN map
 * -> zeros), u8 = trunc(m * 255), foreground u8 > int(t * max(u8)), contours
 * as OpenCV findContours(RETR_TREE) on the zero-padded mask; all = 0 keeps
 * the contour of largest polygon area (cv::contourArea, first one in
 * OpenCV's order on ties), all = 1 every contour.  Box [x, y, min(x+w, W-1),
 * min(y+h, H-1)] of cv::boundingRect (x, y, w, h).  No contour: one box
 * {0,0,0,0}.  *boxes is malloc'd (free it); *nbox >= 1. */
int cam_box_wsol(const double *m, int w, int h, double t, int all,
                 cam_box **boxes, int *nbox, err_t *e);

/* The CAM release's dt_box rule: m as 8 bits (max -> 255, no min
 * subtraction, negatives 0); for each of the three thresholds th: mask =
 * u8 > th, Euclidean distance transform of the mask rescaled to 0..255,
 * keep > 10, every contour's (outer and hole) bounding rect with the right
 * and bottom edges kept 5 px from the border; all rects sorted by area and
 * merged as bboxgenerator/dt_box.cpp does.  Boxes are returned inclusive:
 * [x, y, x+w-1, y+h-1].  th NULL: {20, 100, 110}.  No box: one {0,0,0,0}. */
int cam_box_zhou(const double *m, int w, int h, const int th[3],
                 cam_box **boxes, int *nbox, err_t *e);

/* Connected 8-neighbour contours of a binary mask (nonzero = foreground),
 * Suzuki-Abe border following as OpenCV's findContours(RETR_TREE) on the
 * mask padded with a zero border, in OpenCV's output order.  For each
 * contour: its polygon area through the boundary pixel centres
 * (cv::contourArea) and bounding rect.  Exposed for tests. */
typedef struct {
    int    x, y, w, h;   /* cv::boundingRect */
    double area;         /* cv::contourArea (unsigned) */
    int    hole;         /* 1 for a hole border */
} cam_contour;
int cam_find_contours(const uint8_t *mask, int w, int h, cam_contour **out, int *n, err_t *e);

/* IoU of inclusive pixel boxes [x0,y0,x1,y1] (w = x1 - x0 + 1). */
double cam_iou(const int a[4], const int b[4]);

/* ------------------------------------------------------------ colour */

enum cam_cmap { CAM_CMAP_JET = 0, CAM_CMAP_VIRIDIS, CAM_CMAP_GRAY };
/* "jet", "viridis", "gray" -> enum; -1 when unknown. */
int cam_cmap_parse(const char *s);
/* RGB of byte v: jet = OpenCV COLORMAP_JET exactly (as RGB, not BGR),
 * viridis = matplotlib's 256 colours rounded to 8 bits, gray = v,v,v. */
void cam_colormap(int cmap, uint8_t v, uint8_t rgb[3]);

/* Map value in [0,1] (NaN and below 0 -> 0, above 1 -> 1) to a byte,
 * truncating as (uint8)(v * 255). */
uint8_t cam_byte(double v);

/* Blends the heat colours over an RGB image in place:
 * out = round(alpha * heat + beta * image), clamped.  m (h x w, values in
 * [0,1]) has the image's size. */
void cam_blend(uint8_t *rgb, int w, int h, const double *m, int cmap,
               double alpha, double beta);

/* Draws the outline of an inclusive box, thickness px inward, clipped to
 * the image. */
void cam_draw_box(uint8_t *rgb, int w, int h, const int box[4], int thickness,
                  const uint8_t color[3]);

#endif
