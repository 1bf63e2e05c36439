/* graph.h - the model as a graph of named tensors and ONNX-style nodes.
 *
 * Both loaders (ONNX, TFLite) produce this one representation, so the engine
 * and the CAM stages see a single kind of model:
 *
 *  - Tensors have LOGICAL shapes in ONNX order: 4-D activations are N,C,H,W.
 *    The TFLite loader converts: NHWC activation shapes become NCHW, conv
 *    weights OHWI become OIHW, depthwise weights [1,H,W,C*M] become
 *    [C*M,1,H,W] (Conv with group = C), axis attributes are remapped, and a
 *    RESHAPE of a tensor whose spatial extent is not 1x1 is wrapped in
 *    Transposes so that its meaning is kept.
 *  - Node op types are ONNX op_type names ("Conv", "Relu", "Gemm", ...) with
 *    ONNX attribute names and semantics.  TFLite extras are expressed as
 *    attributes the engine knows:
 *        "fused_activation" (string): "RELU", "RELU6", "RELU_N1_TO_1", "TANH"
 *    and TFLite QUANTIZE / DEQUANTIZE become "Identity" nodes (the
 *    quantisation lives on the tensors).
 *  - Quantised tensors (TFLite uint8/int8) carry scale/zero point, per
 *    tensor (nq == 1) or per channel along qaxis (logical axis).  Real value
 *    = scale * (q - zero_point).  Constant data is kept in its stored dtype
 *    (the engine dequantises weights once at load).  An activation tensor
 *    with quantisation means: the op producing it rounds its float result
 *    to that grid (half to even) and clamps to the dtype's range.
 *  - Graph inputs/outputs name tensors; constants (initializers) have data.
 */
#ifndef CAM_GRAPH_H
#define CAM_GRAPH_H

#include <stdint.h>
#include <stddef.h>
#include "tensor.h"

enum { GRAPH_ONNX = 1, GRAPH_TFLITE = 2 };

enum attr_type {
    ATTR_UNDEF = 0, ATTR_FLOAT, ATTR_INT, ATTR_STRING,
    ATTR_FLOATS, ATTR_INTS, ATTR_TENSOR
};

typedef struct {
    char    *name;
    int      type;        /* enum attr_type */
    float    f;
    int64_t  i;
    char    *s;           /* ATTR_STRING (NUL-terminated; ONNX bytes copied) */
    int      n;           /* count for FLOATS / INTS */
    float   *floats;
    int64_t *ints;
    int      tensor;      /* ATTR_TENSOR: index into graph.tensors */
} gattr;

typedef struct {
    char  *name;          /* node name ("" when the model gives none) */
    char  *op;            /* ONNX op_type, e.g. "Conv" */
    char  *domain;        /* "" for the default ONNX domain */
    int    nin, nout;
    int   *in;            /* tensor indices; -1 = optional input omitted */
    int   *out;
    int    nattr;
    gattr *attr;
} gnode;

typedef struct {
    char    *name;
    int      dtype;                 /* enum dtype, as stored in the model */
    int      ndim;                  /* -1: shape unknown */
    int64_t  dims[TENSOR_MAXDIM];   /* logical; <= 0 for an unknown dim */
    void    *data;                  /* constant payload, NULL for activations */
    size_t   nbytes;
    /* quantisation; nq == 0: none */
    int      nq;
    float   *scale;                 /* nq entries */
    int32_t *zero_point;            /* nq entries */
    int      qaxis;                 /* logical axis for nq > 1 */
} gtensor;

typedef struct {
    int       format;               /* GRAPH_ONNX or GRAPH_TFLITE */
    int       opset;                /* ONNX default-domain opset, 0 for TFLite */
    char     *path;                 /* file it was loaded from (may be NULL) */
    char      sha256[65];           /* hex digest of the model file's bytes */
    int       ntensors, nnodes;
    gtensor  *tensors;
    gnode    *nodes;                /* topologically sorted by the loader */
    int       ninputs, noutputs;
    int      *inputs;               /* non-constant graph inputs only */
    int      *outputs;
    int       nmeta;
    tensor_kv *meta;                /* ONNX metadata_props; TFLite: none yet */
    /* The model file's bytes, kept by graph_load when constants point into
     * them (NULL otherwise).  Read-only: a private, read-only mapping of the
     * file (file_mapped = 1) or, for a file that cannot be mapped (a pipe),
     * a malloc'd copy (file_mapped = 0).  graph_free releases it. */
    const unsigned char *file;
    size_t    file_len;
    int       file_mapped;
} graph;

/* Ownership of constant payloads (gtensor.data): a constant's data is
 * either a malloc'd block of its own or, after graph_load, a pointer into
 * g->file (ONNX raw_data and the TFLite buffers whose byte order is kept are
 * not copied: the graph points into the model's mapping).  Either way it belongs to the graph and is released by
 * graph_free; callers must not free it, write through it, or assume more
 * than byte alignment (read with memcpy).  Code that builds a graph by hand
 * gives each constant a malloc'd block and leaves file NULL. */
void graph_init(graph *g);
void graph_free(graph *g);

/* Memory hints for constants that point into the model file's mapping.
 * All are no-ops for malloc'd payloads, and neither changes what the graph
 * says: the data stays valid and readable (dropped pages of the private,
 * unmodified file mapping are read back from the file on the next access),
 * so they may be called on a const graph, e.g. by the engine once it has
 * copied or packed a constant, or by a tool once its engine is built.
 *   graph_drop_tensor: the pages lying wholly inside constant ti's payload
 *                      leave the process's memory (madvise MADV_DONTNEED).
 *   graph_drop_file:   the same for the whole file.
 *   graph_drop_range:  the same for [p, p + n) (nothing outside the file). */
void graph_drop_tensor(const graph *g, int ti);
void graph_drop_range(const graph *g, const void *p, size_t n);
/* The opposite hint: constant ti's pages of the mapping are read in and
 * mapped by one call (MADV_POPULATE_READ, else MADV_WILLNEED), for a caller
 * about to read the whole payload. */
void graph_prefetch_tensor(const graph *g, int ti);
void graph_drop_file(const graph *g);

/* Loads a model file, recognising ONNX or TFLite by content (not by the
 * file name).  Fills path and sha256.  ONNX external data is resolved
 * relative to the model's directory. */
int graph_load(const char *path, graph *g, err_t *e);

/* Format-specific loaders from memory (for tests and fuzzing).  base_dir is
 * where ONNX external data files are looked up (NULL: external data is an
 * error).  The graph copies what it needs: buf may be freed afterwards. */
int onnx_load_buffer(const void *buf, size_t n, const char *base_dir, graph *g, err_t *e);
int tflite_load_buffer(const void *buf, size_t n, graph *g, err_t *e);
/* As onnx_load_buffer, but initializers' raw_data are not copied: their
 * gtensor.data point into buf, which must stay valid and unchanged as long
 * as the graph (graph_load hands its mapping over to the graph in g->file). */
int onnx_load_borrowed(const void *buf, size_t n, const char *base_dir, graph *g, err_t *e);
/* The same for TFLite: constants whose bytes keep their order (all but
 * transposed conv weights) point into buf. */
int tflite_load_borrowed(const void *buf, size_t n, graph *g, err_t *e);

/* Parses one serialized ONNX TensorProto (as in the ONNX node tests'
 * input_N.pb / output_N.pb) into a tensor record. */
int onnx_tensor_parse(const void *buf, size_t n, tensor *t, err_t *e);

/* Index of the tensor with this name, -1 when absent.  For a TFLite graph,
 * tensors 0..n-1 are the model's tensors in their original order (tensors
 * the loader adds come after), and "T<index>" that matches no name resolves
 * to tensor <index>. */
int graph_find_tensor(const graph *g, const char *name);
/* Metadata value or NULL. */
const char *graph_meta_get(const graph *g, const char *key);
/* Attribute lookup on a node; NULL when absent. */
const gattr *gnode_attr(const gnode *n, const char *name);
int64_t      gnode_attr_int(const gnode *n, const char *name, int64_t dflt);
float        gnode_attr_float(const gnode *n, const char *name, float dflt);
const char  *gnode_attr_str(const gnode *n, const char *name, const char *dflt);
/* Node that produces tensor ti (-1 for inputs and constants). */
int graph_producer(const graph *g, int ti);

/* sha256 of a buffer as 64 lowercase hex digits + NUL; "" in the
 * unlikely case that libcrypto cannot compute it (out of memory). */
void sha256_hex(const void *buf, size_t n, char out[65]);

#endif
