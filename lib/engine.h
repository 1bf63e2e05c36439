/* engine.h - plan once, run many: the inference engine.
 *
 * engine_create() infers every shape from the graph's input shape, folds
 * BatchNormalization into the preceding convolution, dequantises and packs
 * weights, picks kernels for this CPU and allocates every buffer.
 * engine_run() then allocates nothing.
 *
 * Inputs and outputs are float32 in LOGICAL layout (ONNX order, 4-D =
 * N,C,H,W, C order).  Quantised tensors are exchanged as their real values
 * (scale * (q - zero_point)); a quantised input is rounded to its grid.
 */
#ifndef CAM_ENGINE_H
#define CAM_ENGINE_H

#include <stdint.h>
#include "graph.h"

typedef struct engine engine;
typedef struct engine_shapes engine_shapes;

typedef struct {
    int          threads;      /* 0: the default (see engine_default_threads) */
    const char  *input;        /* tensor fed by the caller; NULL: the graph's
                                  first input.  May be any tensor of the
                                  graph (e.g. a CAM layer, to run the head). */
    int          in_ndim;      /* > 0: override the input's shape */
    int64_t      in_dims[TENSOR_MAXDIM];
    int          noutputs;     /* 0: the graph's outputs */
    const char **outputs;      /* tensor names to return */
    int          reference;    /* 1: use the plain reference kernels only */
    int          plan_only;    /* 1: shapes and the tensor list only (for
                                  cnn-features -list): no weights packed, no
                                  buffers; engine_run then fails */
    int          keep_transforms; /* 1: every Winograd layer keeps its
                                  transformed filters (faster, more memory:
                                  cnn-features -fast) */
    engine_shapes *shapes;     /* from engine_infer_shapes on the same graph:
                                  its work is not done again.  engine_create
                                  takes it over (frees it, used or not). */
    int          lazy_pack;    /* 1: when the weights must be packed (none
                                  in the packed-weight cache), the layers
                                  that can read their float32 weights in
                                  place from the model file are not packed
                                  before the first run: they pack per run
                                  (the same results bit for bit) while a
                                  thread of the engine's packs them, writes
                                  the cache file, and from the run after it
                                  is done they run packed.  The graph must
                                  then outlive the engine. */
} engine_opts;

/* Shape inference alone: fills dims/ndim of every tensor of g from the
 * input's shape (in_ndim == 0: the model's own input shape, with unknown
 * batch dims set to 1).  head_find() and cnn-features -list rely on it.
 * engine_create() works on its own copy and does not need this. */
int graph_infer_shapes(graph *g, const char *input, int in_ndim,
                       const int64_t *in_dims, err_t *e);
/* The same for the graph's first input, keeping what it built (the
 * constants read, every node's parameters) for the engine_create that
 * follows (engine_opts.shapes), which then reads no constant a second
 * time.  NULL with e set on failure.  engine_shapes_free: for one not
 * handed to engine_create (NULL: nothing). */
engine_shapes *engine_infer_shapes(graph *g, int in_ndim, const int64_t *in_dims, err_t *e);
void engine_shapes_free(engine_shapes *s);

int engine_default_threads(void);   /* number of online CPUs, at most 8 */

engine *engine_create(const graph *g, const engine_opts *o, err_t *e);
void    engine_free(engine *en);

/* Shape of the input / output i (returns ndim, fills dims). */
int engine_input_shape(const engine *en, int64_t dims[TENSOR_MAXDIM]);
int engine_output_shape(const engine *en, int i, int64_t dims[TENSOR_MAXDIM]);
int engine_noutputs(const engine *en);
const char *engine_output_name(const engine *en, int i);

/* Runs one inference.  input has the numel of engine_input_shape. */
int engine_run(engine *en, const float *input, err_t *e);
/* Output i of the last run, valid until the next run or engine_free. */
const float *engine_output(const engine *en, int i);

/* Every tensor the plan knows (for cnn-features -list): name and inferred
 * shape, in execution order. */
int engine_ntensors(const engine *en);
const char *engine_tensor_name(const engine *en, int i, int64_t dims[TENSOR_MAXDIM], int *ndim);

/* 1 when the packed weights came from the packed-weight cache (wcache.h)
 * instead of being packed from the model. */
int engine_weights_cached(const engine *en);
/* 1 while layers read their weights from the model (engine_opts.lazy_pack,
 * not yet packed). */
int engine_reads_model(const engine *en);

/* Layers that run a batch of N images faster than N single runs (3x3
 * convolutions whose filters are transformed in every run); with none, a
 * plan for N images is only worth its memory if N at once is needed. */
int engine_batch_gain(const engine *en);

/* Bytes of weights held after packing, and of the activation arena. */
size_t engine_weight_bytes(const engine *en);
size_t engine_arena_bytes(const engine *en);

#endif
