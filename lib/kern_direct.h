/* kern_direct.h - internal: direct convolution for few input channels
 * (the first conv of a network: cin <= 4, any kernel size and dilation,
 * stride 1 or 2, group 1), without an im2col copy.
 *
 * The input is split once per run into zero-padded stride-phase planes
 * (kern_dw.h), so that tap (ci, ky, kx) of output row oy is one
 * contiguous run of the plane.  Vectors run along the output row (16
 * pixels on AVX-512, 8 on AVX2): each tile of NV pixel vectors x 8
 * output channels keeps its sums in registers over all cin*kh*kw taps,
 * one load per pixel vector and one broadcast weight per channel, and is
 * stored straight into the NCHW output rows with bias and activation.
 * Weights are packed at prepare time as [cout/8][ci][ky][kx][8] (channels
 * past cout zero).  Threads split the output rows.
 */
#ifndef CAM_KERN_DIRECT_H
#define CAM_KERN_DIRECT_H

#include <stddef.h>
#include "kernels.h"

typedef struct direct_plan direct_plan;

/* Whether the shape is one direct_prepare takes (and it pays). */
int    direct_shape_ok(const conv_params *p);
/* direct_shape_ok() unless CAM_DIRECT=0 in the environment (A/B runs). */
int    direct_pays(const conv_params *p);
/* Packs weights (cout x cin x kh x kw) and bias (or NULL) for SIMD level
 * level (or lower, when the CPU lacks it).  NULL with e set on failure. */
direct_plan *direct_prepare(const conv_params *p, int level, const conv_wsrc *w,
                            const float *bias, err_t *e);
size_t direct_scratch_bytes(const direct_plan *d, int nthreads);
/* scratch: direct_scratch_bytes() bytes, 64-byte aligned. */
void   direct_run(const direct_plan *d, const float *in, float *out, void *scratch,
                  threadpool *tp);
int    direct_level(const direct_plan *d);
size_t direct_weight_bytes(const direct_plan *d);
void   direct_free(direct_plan *d);

#endif
