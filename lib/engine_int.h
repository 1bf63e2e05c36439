/* engine_int.h - internals shared by the planner (shape.c, engine.c) and the
 * operators (ops*.c).  Not an interface for other parts of the project.
 *
 * Planning works on a private copy of the graph: "etensors" (shape, dtype,
 * constant payload, quantisation) and "enodes" (operator, inputs, outputs,
 * parsed parameters).  Values seen by operators are float32 (activations and
 * dequantised constants) or int64 (integer constants: shapes, axes,
 * indices; these only ever exist at plan time).
 */
#ifndef CAM_ENGINE_INT_H
#define CAM_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "engine.h"
#include "graph.h"
#include "kernels.h"
#include "threadpool.h"

/* Caps on what a plan may hold: elements of one tensor (kernels index with
 * int) and bytes of the activation arena. */
#define ENGINE_MAX_NUMEL  ((int64_t)INT32_MAX)
#define ENGINE_MAX_ARENA  ((size_t)1 << 32)

enum { EACT_NONE = 0, EACT_RELU, EACT_CLIP, EACT_TANH };

typedef struct {
    char    *name;
    int      dtype;               /* DT_F32 or DT_I64 (engine value type) */
    int      ndim;                /* -1 while unknown */
    int64_t  dims[TENSOR_MAXDIM];
    int64_t  numel;
    void    *cdata;               /* constant payload (owned), NULL otherwise */
    int      deferred;            /* cdata holds zeros: the values are read from
                                     the graph by ectx_const_values (weights
                                     only a Conv reads, to pack them) */
    /* quantisation grid of an activation (nq == 0: none) */
    int      nq, qaxis;
    float   *qscale;              /* nq entries */
    float   *qzp;                 /* nq entries (as float) */
    float    qmin, qmax;          /* range of the stored integer type */
    /* planning */
    int      producer;            /* node index or -1 */
    int      nuse;                /* consumers among the live nodes */
    int      first, last;         /* live range in node order */
    int      alias;               /* tensor whose memory this one shares, -1 */
    size_t   alias_off;           /* bytes into that tensor (Concat slices) */
    int      needed, requested, is_input, listed;
    size_t   off;                 /* arena offset in bytes */
    float   *ptr;                 /* runtime address (arena or cdata) */
    int      qstore;              /* held as its uint8 integers q (the first
                                     numel bytes of its buffer), not as
                                     floats: see quant_choose_u8 */
} etensor;

struct ectx;
struct enode;

/* One operator.  infer: checks inputs and attributes, parses parameters
 * into n->p, sets output shapes and dtypes (called with every input shape
 * known; constant inputs have cdata).  prepare (optional): plan-time work
 * after fusion (packing weights).  run: computes outputs from inputs at
 * n->ip / n->opp.  scratch (optional): bytes of scratch run needs. */
typedef struct {
    const char *name;
    int (*infer)(struct ectx *c, struct enode *n, err_t *e);
    int (*prepare)(struct ectx *c, struct enode *n, err_t *e);
    void (*run)(struct enode *n, void *scratch, threadpool *tp);
    size_t (*scratch)(const struct enode *n, int nthreads);
    void (*pfree)(void *p);
    int alias;        /* output may share its input's memory */
} opdef;

typedef struct enode {
    const opdef *op;
    const gnode *g;               /* source node; only valid while planning */
    char   *name;
    int     nin, nout;
    int    *in, *out;             /* etensor indices; -1: omitted input */
    void   *p;                    /* parameters parsed by infer */
    int     live;                 /* part of the run list */
    /* epilogue on output 0: activation, then rounding to the output's grid */
    int     act;                  /* EACT_* */
    float   amin, amax;
    int     act_in_kernel;        /* the conv kernel applies act itself */
    int     quant_in_kernel;      /* the kernel stores output 0 on its grid
                                     (activation included): no epilogue */
    int     qio;                  /* QIO_*: the kernel can read its inputs /
                                     write output 0 as uint8 q */
    /* runtime views, resolved at the end of planning */
    const float **ip;             /* nin entries, NULL for omitted */
    float  **opp;                 /* nout entries */
    const struct ectx *c;         /* for shapes at run time */
} enode;

typedef struct ectx {
    const graph *g;
    int       opset;
    int       ntensors, nnodes;
    etensor  *t;
    enode    *n;
    int       reference;          /* reference kernels only */
    int       nthreads;
    float    *stage;              /* values of a deferred constant */
    size_t    nstage;             /* floats in stage */
    size_t    stage_map;          /* > 0: stage is a kmem_map of this many
                                     bytes (else malloc'd) */
    int       wino_keep;          /* conv_params.wino_keep of every Conv */
    int       lazy_pack;          /* prepare: the float32 weights a Conv
                                     (GEMM form) or Gemm reads in place
                                     from the model are left there, packed
                                     later on a thread of the engine's own
                                     (node_defer_*) */
    float    *zeros;              /* cdata of every deferred constant: a
                                   * read-only mapping of zeros (no page
                                   * touched, nothing copied) */
    size_t    zeros_bytes;
} ectx;

/* engine_infer_shapes' result: the context its inference built. */
struct engine_shapes {
    ectx c;
};

/* Operator table lookup by ONNX op type; NULL when unsupported. */
const opdef *op_find(const char *name, const char *domain);

/* shape.c: builds the context from a graph (tensors, constants converted
 * and dequantised, nodes mapped to operators), and infers shapes from the
 * input tensor src with the given shape, folding constant nodes.  Nodes
 * that cannot be reached from src stay with unknown outputs, and so do
 * those with need[i] == 0 (need NULL: every node). */
int  ectx_init(ectx *c, const graph *g, err_t *e);
/* ectx_init's work for c, taken from *s when engine_infer_shapes built it
 * from g (*s freed and set to NULL), else done anew. */
int  ectx_init_from(ectx *c, const graph *g, engine_shapes **s, err_t *e);
int  ectx_infer(ectx *c, int src, int ndim, const int64_t *dims, const unsigned char *need,
                err_t *e);
void ectx_free(ectx *c);
/* Values of constant ti as floats: cdata, or for a deferred constant its
 * values read from the graph into c->stage (valid until the next call).
 * NULL (e set) on failure. */
const float *ectx_const_values(ectx *c, int ti, err_t *e);
/* The stored bytes of deferred constant ti when they are the float32
 * values themselves, in the host's byte order, at any alignment (read in
 * place from the model file: conv_wsrc), else NULL. */
const void *ectx_const_raw(const ectx *c, int ti);
/* The same values written to dst (numel floats): for a caller that keeps
 * them, with no stage in between.  0, or -1 (e set). */
int ectx_const_into(ectx *c, int ti, float *dst, err_t *e);
/* Gives deferred constant ti its values in cdata (for a caller that asks
 * for the tensor itself). */
int ectx_materialize(ectx *c, int ti, err_t *e);
/* Frees constant t's values (cdata NULL after). */
void ectx_drop_const(ectx *c, etensor *t);
/* Source tensor and shape to use when the caller gives none: the graph's
 * first input with unknown batch dims set to 1. */
int  ectx_default_input(const ectx *c, int *src, int *ndim, int64_t *dims, err_t *e);
/* The input tensor and shape from a caller's request (see engine_opts). */
int  ectx_resolve_source(ectx *c, const char *input, int in_ndim, const int64_t *in_dims,
                         int *src, int *ndim, int64_t *dims, err_t *e);

/* engine.c: one run timing every node with clock() (for benchmarks). */
int engine_profile(engine *en, const float *input, int (*clock)(double *ms),
                   void (*node)(void *ctx, const char *op, const char *name, double ms), void *ctx,
                   err_t *e);

/* Helpers for operators (ops_util in shape.c). */
int     et_setshape(ectx *c, int ti, int dtype, int ndim, const int64_t *dims, err_t *e);
int     et_numel(const int64_t *dims, int ndim, int64_t *out);
/* Reads an integer/float list from a constant tensor input. */
int     et_const_ints(const ectx *c, int ti, int64_t *v, int maxn, int *n, err_t *e);
int     et_const_float(const ectx *c, int ti, float *v, err_t *e);
/* Attribute helpers; ints: returns count (<= maxn) or -1 when absent. */
int     attr_ints(const gnode *g, const char *name, int64_t *v, int maxn);
int     norm_axis(int64_t axis, int rank, int64_t *out);
/* Node error with the standard prefix. */
int     node_err(const enode *n, err_t *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define IN(n, i)  (&(n)->c->t[(n)->in[i]])
#define OUT(n, i) (&(n)->c->t[(n)->out[i]])

/* ops_nn.c: BatchNormalization folded into a convolution (before its
 * prepare); packed weight bytes of a prepared Conv node. */
int    conv_fold_bn(enode *conv, const enode *bn, err_t *e);
size_t conv_node_weight_bytes(const enode *n);
/* 1 when the prepared Conv node runs a batch faster than image by image */
int    conv_node_batches(const enode *n);
/* Makes Conv b run the expanding 1x1 Conv a inside it, in bands
 * (conv_run_expand_dw), when their kernels allow it and a's output per
 * image takes at least min_bytes: 1 done (b then reads a's input; the
 * caller takes a out of the run list), 0 not. */
int    conv_node_fuse_expand(enode *a, enode *b, size_t min_bytes);
/* Weights left in the model by a prepare under ectx.lazy_pack:
 * node_deferred: 1 when node n (a Conv or Gemm) did; node_defer_ok: 1
 * when its prepare would (before it, from the shapes alone: the caller
 * need not map its weights in first); node_defer_pack: their packed
 * form, as the prepare without lazy_pack makes it (the same kmem pieces
 * and tag, for the packed-weight cache), NULL (e set) on failure, while
 * the node runs from the model (any thread: it only reads the node), the
 * pages of g it is through with dropped as it goes (g NULL: none);
 * node_defer_adopt: the node runs from that packed form from now on. */
int    node_deferred(const enode *n);
int    node_defer_ok(const ectx *c, const enode *n);
void  *node_defer_pack(const graph *g, const enode *n, err_t *e);
void   node_defer_adopt(enode *n, void *packed);
/* The sizes of the kmem pieces node_defer_pack will take, in order (at
 * most max), and the tag it gives them: their count, or -1. */
int    node_defer_pieces(const enode *n, size_t *sizes, int max, uint64_t *tag);
/* 1 when running node n reads node m's weights (m is n, or the Conv run
 * inside n). */
int    node_defer_reads(const enode *n, const enode *m);
/* After node n ran: the model's pages of the weights it (or a Conv run
 * inside it) reads from the model, dropped (faulted in again next run),
 * so that they do not stay in memory beside their packed form. */
void   node_defer_release(const graph *g, const enode *n);
/* qconv_op.c: the integer kernel for a quantised Conv node (kern_q.h):
 * 1 and *k set when the node qualifies, 0 when it keeps the float path
 * (unsupported quantisation or values), -1 on error. */
struct qconv_kernel;
int    qconv_node_prepare(ectx *c, enode *n, const conv_params *cp, int folded_bn,
                          struct qconv_kernel **k, err_t *e);
enum { QIO_READ = 1, QIO_WRITE = 2 };
/* qconv_op.c: marks the quantised tensors that are kept as uint8 (qstore):
 * made by a node that can write them so and read only by nodes that can
 * read them so, neither requested nor the input nor sharing memory.
 * run: the run list (node indices).  Not in reference mode. */
void quant_choose_u8(ectx *c, const int *run, int nrun);
/* ops.c: a Concat of contiguous slices (outer == 1, float): byte offset
 * of input k in the output, or -1 when it is not one. */
long long concat_slice_offset(const enode *n, int k);
/* ops.c: bounds of a Clip node (after infer). */
void   clip_bounds(const enode *n, float *lo, float *hi);

/* Fused activation (EACT_*) and quantisation rounding over a tensor. */
void epilogue_apply(const enode *n, float *x, int64_t count, int act_done);
void quant_round(const etensor *t, float *x, int64_t count);

#endif
