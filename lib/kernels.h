/* kernels.h - the compute kernels behind the engine's heavy operators.
 *
 * Each kernel has a plain reference implementation (lib/ref/) and fast
 * implementations chosen at run time by CPU features (AVX-512, AVX2+FMA,
 * portable C).  Fast kernels are tested against the reference ones.
 *
 * Layout: one image at a time, NCHW without the N: a feature map is
 * C x H x W floats, C order.
 */
#ifndef CAM_KERNELS_H
#define CAM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "threadpool.h"

enum { ACT_NONE = 0, ACT_RELU, ACT_CLIP };   /* ACT_CLIP: clamp to [act_min, act_max] */

typedef struct {
    int cin, h, w;          /* input  C x H x W */
    int cout, oh, ow;       /* output C x OH x OW */
    int kh, kw;             /* kernel */
    int sh, sw;             /* strides */
    int dh, dw;             /* dilations */
    int pt, pl, pb, pr;     /* pads: top, left, bottom, right */
    int group;              /* cin % group == 0, cout % group == 0 */
    int act;                /* fused activation applied after bias */
    float act_min, act_max;
    int wino_keep;          /* 1: a 3x3 or 5x5 stride-1 layer of 16
                               channels and more runs as Winograd with its
                               transformed filters kept, whatever its map
                               size (speed over memory) */
    int lazy;               /* 1: a GEMM or "pixels" layer (group 1) keeps its weights
                               where conv_wsrc says, which must stay valid
                               for the kernel's life, and packs them per
                               run instead of once (conv_pack_lazy) */
} conv_params;

typedef struct conv_kernel conv_kernel;

/* Packs weights (cout x cin/group x kh x kw) and bias (cout, or NULL) for
 * this CPU, choosing the implementation (1x1 as GEMM, depthwise direct,
 * im2col/indirect GEMM, ...).  reference = 1 forces the reference kernel. */
conv_kernel *conv_prepare(const conv_params *p, const float *weights, const float *bias,
                          int reference, err_t *e);
/* Weights as a model stores them: cout rows of cin/group x kh x kw
 * float32 values in the host's byte order at w, at any byte alignment (a
 * model file's bytes read in place, with no copy staged), each row times
 * scale[co] when scale is not NULL (a folded BatchNormalization). */
typedef struct {
    const void  *w;
    const float *scale;
    /* when set: called by the packers as they finish with the bytes
     * [p, p + n) of w (a panel's rows), so that a caller reading a model
     * file can let those pages go at once */
    void       (*done)(void *ctx, const void *p, size_t n);
    void        *ctx;
} conv_wsrc;
/* Row co (n values) of s into dst, scaled. */
void conv_wsrc_row(const conv_wsrc *s, int co, size_t n, float *dst);
/* conv_prepare with the weights of w (NULL only while kmem replays the
 * packed-weight cache): the packed form equals, bit for bit, that of
 * conv_prepare given the rows multiplied beforehand. */
conv_kernel *conv_prepare_src(const conv_params *p, const conv_wsrc *w, const float *bias,
                              int reference, err_t *e);
/* Scratch bytes conv_run needs with nthreads threads (0 allowed). */
size_t conv_scratch_bytes(const conv_kernel *k, int nthreads);
/* out = act(conv(in) + bias).  in: cin x h x w, out: cout x oh x ow.
 * scratch: conv_scratch_bytes() bytes, 64-byte aligned, computed for at
 * least tp_size(tp) threads.  tp may be NULL.  Allocates nothing. */
void   conv_run(const conv_kernel *k, const float *in, float *out, void *scratch, threadpool *tp);
/* nimg images, in_img / out_img floats apart: the same outputs as conv_run
 * on each, computed together where the kernel gains from it (Winograd
 * with filters transformed per run: once for all the images).  scratch:
 * conv_scratch_bytes_n() bytes. */
size_t conv_scratch_bytes_n(const conv_kernel *k, int64_t nimg, int nthreads);
int    conv_batches(const conv_kernel *k);   /* 1: conv_run_n gains on several */
void   conv_run_n(const conv_kernel *k, int64_t nimg, const float *in, size_t in_img, float *out,
                  size_t out_img, void *scratch, threadpool *tp);
/* An expanding 1x1 convolution a whose output only the depthwise one b
 * reads (MobileNetV2's inverted residuals), run together in bands of b's
 * output rows: the expanded map is never written whole, each band of it
 * made by a's GEMM into a buffer of the thread's that b reads while it is
 * in cache.  conv_expand_dw_ok: 1 when the pair can (b 3x3 stride 2 on
 * AVX-512, a's output b's input).  The outputs of conv_run(a) then
 * conv_run(b), but for the last bit of an expanded value where a band ends
 * a GEMM tile that the whole map does not (the partial-tile kernels sum in
 * another order, as when the thread count changes the tiles). */
int    conv_expand_dw_ok(const conv_kernel *a, const conv_kernel *b);
size_t conv_expand_dw_scratch(const conv_kernel *a, const conv_kernel *b, int nthreads);
void   conv_run_expand_dw(const conv_kernel *a, const conv_kernel *b, const float *in, float *out,
                          void *scratch, threadpool *tp);
/* Name of the chosen implementation, for tests and benchmarks. */
const char *conv_impl_name(const conv_kernel *k);
/* Bytes of packed weights held. */
size_t conv_weight_bytes(const conv_kernel *k);
void   conv_free(conv_kernel *k);
/* A kernel prepared with conv_params.lazy that took it (the others pack at
 * once): every run packs each task's panels of the weights into its
 * scratch before multiplying, giving the same results bit for bit as the
 * packed kernel, for a first run that packs nothing before its first
 * image.  conv_pack_lazy: the packed kernel of the same layer, as
 * conv_prepare_src without lazy gives it (taking the same kmem pieces, in
 * the same order), telling done (conv_wsrc) as it goes; NULL (e set) when
 * out of memory. */
int    conv_is_lazy(const conv_kernel *k);
/* 1 when conv_prepare_src would take conv_params.lazy for p (not
 * reference): the implementation it chooses is the GEMM or the "pixels"
 * one. */
int    conv_lazy_ok(const conv_params *p);
conv_kernel *conv_pack_lazy(const conv_kernel *k, void (*done)(void *ctx, const void *p, size_t n),
                            void *ctx, err_t *e);
/* The sizes of the kmem pieces conv_pack_lazy will take, in order (at
 * most max): their count, or -1. */
int    conv_lazy_pieces(const conv_kernel *k, size_t *sizes, int max);

/* C[m x n] = alpha * op(A) * op(B) + beta * C (+ bias[j] per column when
 * bias is not NULL), op = transpose when trans* is set; row-major with
 * leading dimensions.  beta == 0 ignores C's previous contents.  Packs A
 * (and B when transposed) into a malloc'd buffer per call; with m <= 4 it
 * reads B in place and only copies op(A). */
void sgemm(int transa, int transb, int m, int n, int k, float alpha,
           const float *a, int lda, const float *b, int ldb, float beta,
           float *c, int ldc, const float *bias, threadpool *tp);

/* Reference versions (lib/ref/), always plain C. */
void ref_conv2d(const conv_params *p, const float *in, const float *w, const float *bias, float *out);
void ref_sgemm(int transa, int transb, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc, const float *bias);

/* CPU features seen at run time (cpuid), and a way to cap them for tests:
 * CAM_SIMD=avx512|avx2|portable in the environment limits the choice. */
enum { SIMD_PORTABLE = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2 };
int simd_level(void);
const char *simd_name(int level);
/* Caps simd_level() further for this process (tests, benchmarks): kernels
 * prepared afterwards use at most this level.  Returns the previous cap. */
int simd_cap(int level);

#endif
