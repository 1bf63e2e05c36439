/* kern_wino.h - internal: 3x3 and 5x5 stride-1 convolutions by Winograd's
 * minimal filtering F(4x4, 3x3) and F(2x2, 5x5) (Lavin & Gray 2016), used
 * by conv.c.  Both transform 6x6 input patches (same points 0, +-1, +-2,
 * infinity, the same B), so everything but the filter and output
 * transforms is shared; below, F(4x4, 3x3).
 *
 * Each 4x4 block of output pixels (a "tile") comes from a 6x6 input patch:
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so over all channels the convolution becomes 36 independent products in
 * the transformed domain, M_x[t][co] = sum_ci V_x[t][ci] U_x[ci][co],
 * x = 0..35: 4 multiply-adds per output pixel and channel pair instead of 9.
 *
 * Weights U_x = (G g G^T)_x are transformed once, vectorised along the
 * output channels, and packed as the GEMM core's B panels (NR output
 * channels wide): 4x the memory of the filters.  The "lazy" form keeps
 * the filters as they are and transforms one k block of one panel at a
 * time in every run instead (conv.c chooses by map size).  Per
 * image, tiles are taken in blocks small enough that a block's transformed
 * input V (36 x tiles x cin) and products M (36 x tiles x cout) stay in
 * L2; for each block the input transform writes V straight into the
 * micro-kernel's MR-row A panels (tiles along M: small maps waste few
 * rows), the 36 products run on the packed micro-kernel (kern_gemm.h), and
 * the output transform, vectorised along the output channels, adds the
 * bias, applies the activation and writes the pixels.  A task is one tile
 * block and one range of output-channel panels, so two threads gain on
 * small maps (few blocks) too.
 */
#ifndef CAM_KERN_WINO_H
#define CAM_KERN_WINO_H

#include <stddef.h>
#include "err.h"
#include "kernels.h"
#include "kern_gemm.h"
#include "threadpool.h"

typedef struct wino_plan wino_plan;

/* The shape can run as F(4x4, 3x3) or F(2x2, 5x5): 3x3 or 5x5, stride 1,
 * dilation 1, group 1. */
int wino_shape_ok(const conv_params *p);
/* Transforms and packs weights (cout x cin x r x r) and bias (or NULL)
 * for the micro-kernel ar; level: SIMD level of the transforms.  lazy:
 * keep the filters as they are (packed by panel) and transform them in
 * every run instead, for 1x the memory instead of 4x; all tiles then form
 * one block. */
wino_plan *wino_prepare(const conv_params *p, const gemm_arch *ar, int level,
                        const conv_wsrc *w, const float *bias, int lazy, err_t *e);
size_t wino_scratch_bytes(const wino_plan *w, int nthreads);
void   wino_run(const wino_plan *w, const float *in, float *out, void *scratch, threadpool *tp);
/* nimg images (in_img / out_img floats apart) in one call: a lazy plan
 * (wino_lazy) transforms the filters once for them all (scratch:
 * wino_scratch_bytes_n); each image's output is the same as wino_run's. */
size_t wino_scratch_bytes_n(const wino_plan *w, int nimg, int nthreads);
void   wino_run_n(const wino_plan *w, int nimg, const float *in, size_t in_img, float *out,
                  size_t out_img, void *scratch, threadpool *tp);
size_t wino_weight_bytes(const wino_plan *w);
int    wino_level(const wino_plan *w);
int    wino_lazy(const wino_plan *w);
void   wino_free(wino_plan *w);

/* Transforms per SIMD level (kern_wino_body.h, instantiated in
 * conv_wino.c): rows t_i = sum_j B^T[i][j] d_j over n floats (n rounded
 * up to the vector width: the buffers are padded), and the output
 * transform of one tile for channels [0, n) of m (36 rows ldm apart)
 * into y (16 rows of ldy floats), bias added and clamped to [lo, hi];
 * and the filter transform of n filters (rows i0 to i1 - 1 of U). */
typedef void (*wino_rows_fn)(const float *const d[6], float *const t[6], int n);
typedef void (*wino_wt_fn)(const float *g, size_t gs, int i0, int i1, float *u, size_t us,
                           int n);
typedef void (*wino_out_fn)(const float *m, size_t ldm, const float *bias, float lo, float hi,
                            float *y, size_t ldy, int n);

#endif
