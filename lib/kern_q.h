/* kern_q.h - integer convolution for quantised (TFLite uint8/int8) models.
 *
 * The engine holds a quantised tensor as floats on its grid, real =
 * s * (q - zp), or, between integer kernels, as the uint8 q themselves.
 * A quantised convolution reads its input's q (from a float: exactly,
 * round(x / s) + zp), multiplies integers
 * with int32 accumulation,
 *     acc[m][n] = bias[m] + sum_k (x[k][n] - zx) * (w[m][k] - zw[m]),
 * and requantises in its store (as XNNPACK's fp32 requantisation does):
 *     q = clamp(round_half_even((float)acc * mult[m]), lo - zo, hi - zo)
 *     out = so * q,     mult[m] = (sx * sw[m]) / so
 * where [lo, hi] is the output type's range narrowed by the fused
 * activation.  So the output is on its grid when stored: no separate
 * rounding pass.
 *
 * Implementations (chosen at run time, capped by simd_cap / CAM_SIMD):
 *   "qgemm-vnni"  group 1, any kernel: weights packed as int8 quads, the
 *                 input im2col'ed and quantised into uint8 quads, vpdpbusd
 *                 (AVX512-VNNI) 16x16 tiles.  Row m of the weights is
 *                 stored as w' = w - zw[m] when that fits in int8 (c[m] =
 *                 0: nearly every row of a real model), else as w - 128
 *                 (w for int8 weights) with c[m] = 128 - zw[m] (0 - zw[m]);
 *                 the zero points are compensated by
 *                 acc = dot(x, w') + c[m] * colsum(x)[n] + rowc[m],
 *                 rowc[m] = bias[m] - zx * (sum_k w'[m][k] + K * c[m]),
 *                 precomputed at prepare; colsum comes with the packing
 *                 and is used only by panels with a row whose c != 0.
 *   "qgemm-avx2"  the same packing, each pixel panel then widened to 16
 *                 bits once and the weights at prepare; vpmaddwd products
 *                 (255 * 128 * 2 fits: no saturation).
 *   "qgemm-c"     the same layouts in plain C (rank-1 updates the compiler
 *                 vectorises).
 *   "qdw"         depthwise (group == cin == cout): each input channel is
 *                 turned into exact integers x - zx (as floats), the
 *                 weights into w - zw, and the float depthwise kernel runs
 *                 on them: every partial sum is an integer below 2^24
 *                 (checked at prepare), so float arithmetic is exact.
 *   "qref"        lib/ref/qconv.c, direct loops (reference = 1).
 * qconv_run_io also reads and writes tensors held as their uint8
 * integers (one byte per value) instead of floats: what the engine keeps
 * between integer kernels (etensor.qstore).
 */
#ifndef CAM_KERN_Q_H
#define CAM_KERN_Q_H

#include <stddef.h>
#include <stdint.h>
#include "kernels.h"

typedef struct {
    conv_params p;          /* shape; p.act is ignored (use out_lo/out_hi);
                               p.lazy: a GEMM layer with VNNI reads its
                               stored bytes in place (which must stay
                               valid) and packs its panels per run
                               (qconv_pack_lazy) */
    float in_scale;         /* input grid: real = in_scale * (q - in_zp) */
    int   in_zp;
    int   in_lo, in_hi;     /* stored range of the input: 0..255 or -128..127 */
    float out_scale;
    int   out_zp;
    int   out_lo, out_hi;   /* clamp of the stored output q (range and act) */
} qconv_params;

typedef struct qconv_kernel qconv_kernel;

/* wq: cout x (cin/group) x kh x kw stored weights (each in 0..255 or in
 * -128..127); wzp, wscale: per output channel; bias: cout int32 in units
 * of in_scale * wscale[m], or NULL.  reference = 1: the plain reference.
 * NULL with e set when the shape or values are not supported. */
qconv_kernel *qconv_prepare(const qconv_params *qp, const int16_t *wq, const int32_t *wzp,
                            const float *wscale, const int32_t *bias, int reference, err_t *e);
/* The same with the weights as a model stores them, one byte each: w
 * points at cout x (cin/group) x kh x kw uint8 (wsigned 0) or int8
 * (wsigned 1) values, read in place (no widened copy). */
qconv_kernel *qconv_prepare_bytes(const qconv_params *qp, const void *w, int wsigned,
                                  const int32_t *wzp, const float *wscale, const int32_t *bias,
                                  int reference, err_t *e);
size_t qconv_scratch_bytes(const qconv_kernel *k, int nthreads);
/* in: cin x h x w floats on the input grid; out: cout x oh x ow floats on
 * the output grid.  scratch: qconv_scratch_bytes, 64-byte aligned. */
void   qconv_run(const qconv_kernel *k, const float *in, float *out, void *scratch,
                 threadpool *tp);
/* The same with the input and/or the output held as uint8 q (the stored
 * integers, in 0..255) where in8 / out8 are not NULL (then in / out are not
 * used), as qconv_io_u8 allows. */
enum { QCONV_READS_U8 = 1, QCONV_WRITES_U8 = 2 };
int    qconv_io_u8(const qconv_kernel *k);
void   qconv_run_io(const qconv_kernel *k, const float *in, const unsigned char *in8, float *out,
                    unsigned char *out8, void *scratch, threadpool *tp);
const char *qconv_impl_name(const qconv_kernel *k);
size_t qconv_weight_bytes(const qconv_kernel *k);
void   qconv_free(qconv_kernel *k);
/* A kernel that took qconv_params.p.lazy: each run packs the weight
 * panels of its tasks from the stored bytes into its scratch, the same
 * panels as packed at once (the same results bit for bit).
 * qconv_pack_lazy: the kernel packed at once, as qconv_prepare_bytes
 * without lazy makes it (the same kmem pieces in the same order); NULL (e
 * set) when out of memory. */
int    qconv_is_lazy(const qconv_kernel *k);
qconv_kernel *qconv_pack_lazy(const qconv_kernel *k, err_t *e);
/* The sizes of the kmem pieces qconv_pack_lazy will take, in order (at
 * most max): their count, or -1. */
int    qconv_lazy_pieces(const qconv_kernel *k, size_t *sizes, int max);

/* The reference (lib/ref/qconv.c): direct loops, int64 sums. */
void ref_qconv(const qconv_params *qp, const int16_t *wq, const int32_t *wzp,
               const float *wscale, const int32_t *bias, const float *in, float *out);

/* The requantisation every implementation shares. */
static inline float qconv_requant(int64_t acc, float mult, float lo, float hi, float so)
{
    float v = (float)acc * mult;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return so * ((v + 12582912.0f) - 12582912.0f);
}

/* Whether this CPU (and the simd cap) offers AVX512-VNNI. */
int qconv_has_vnni(void);

#endif
