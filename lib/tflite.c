/* tflite.c - TFLite flatbuffer loader: a .tflite model -> the graph IR of
 * graph.h (logical NCHW, ONNX op names and attributes).
 *
 * The flatbuffer is read directly: every offset, vtable, vector length and
 * string is checked against the buffer before it is used, and every size
 * taken from the file is overflow-checked.  A work budget proportional to
 * the file size caps what a hostile file can make us allocate or copy
 * (vectors may be shared between tables, so the file size alone does not
 * bound the work).
 *
 * Layout conversion (see graph.h):
 *   - every 4-D tensor is taken as NHWC and becomes NCHW (perm 0,3,1,2);
 *     constant data is transposed with it (conv weights OHWI -> OIHW);
 *   - depthwise filters [1,H,W,C*M] become [C*M,1,H,W] (perm 3,0,1,2);
 *   - per-channel quantisation axes follow the permutation;
 *   - operators whose meaning depends on the layout get their axes remapped
 *     or are wrapped in Transpose nodes (Reshape, Squeeze, flattening before
 *     FULLY_CONNECTED, Softmax over a 4-D tensor, broadcasting of a lower
 *     rank operand against a 4-D one).
 * The model's tensors keep their indices 0..n-1; tensors added here (shape
 * constants, Transpose/Reshape intermediates, Clip bounds) come after them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph.h"

/* ------------------------------------------------------------------ */
/* Schema facts (tensorflow/lite/schema/schema.fbs).                   */

/* Field ids: declaration order; a union takes two ids (type, value). */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3 };
enum { TN_SHAPE = 0, TN_TYPE = 1, TN_BUFFER = 2, TN_NAME = 3, TN_QUANT = 4,
       TN_IS_VARIABLE = 5, TN_SPARSITY = 6, TN_HAS_RANK = 8 };
enum { QP_SCALE = 2, QP_ZERO_POINT = 3, QP_DETAILS_TYPE = 4, QP_QDIM = 6 };
enum { OC_DEPRECATED_CODE = 0, OC_CUSTOM_CODE = 1, OC_BUILTIN_CODE = 3 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3,
       OP_OPTIONS = 4 };
enum { BUF_DATA = 0, BUF_OFFSET = 1, BUF_SIZE = 2 };

/* TensorType */
enum { TT_FLOAT32 = 0, TT_FLOAT16 = 1, TT_INT32 = 2, TT_UINT8 = 3, TT_INT64 = 4,
       TT_STRING = 5, TT_BOOL = 6, TT_INT16 = 7, TT_COMPLEX64 = 8, TT_INT8 = 9,
       TT_FLOAT64 = 10, TT_UINT16 = 16 };

/* BuiltinOperator values used here. */
enum {
    B_ADD = 0, B_AVERAGE_POOL_2D = 1, B_CONCATENATION = 2, B_CONV_2D = 3,
    B_DEPTHWISE_CONV_2D = 4, B_DEQUANTIZE = 6, B_FULLY_CONNECTED = 9,
    B_LOGISTIC = 14, B_MAX_POOL_2D = 17, B_MUL = 18, B_RELU = 19,
    B_RELU_N1_TO_1 = 20, B_RELU6 = 21, B_RESHAPE = 22, B_SOFTMAX = 25,
    B_TANH = 28, B_CUSTOM = 32, B_PAD = 34, B_MEAN = 40, B_SUB = 41, B_DIV = 42,
    B_TRANSPOSE = 39, B_SQUEEZE = 43, B_MAXIMUM = 55, B_MINIMUM = 57, B_PADV2 = 60, B_SUM = 74,
    B_EXPAND_DIMS = 70, B_REDUCE_PROD = 81, B_REDUCE_MAX = 82, B_REDUCE_MIN = 89,
    B_LEAKY_RELU = 98, B_QUANTIZE = 114, B_HARD_SWISH = 117
};

/* BuiltinOptions union type values (1-based position in the union). */
enum {
    BO_NONE = 0, BO_CONV2D = 1, BO_DEPTHWISE = 2, BO_POOL2D = 5,
    BO_FULLY_CONNECTED = 8, BO_SOFTMAX = 9, BO_CONCATENATION = 10, BO_ADD = 11,
    BO_RESHAPE = 17, BO_MUL = 21, BO_PAD = 22, BO_REDUCER = 27, BO_SUB = 28,
    BO_DIV = 29, BO_SQUEEZE = 30, BO_LEAKY_RELU = 77
};

/* Padding */
enum { PAD_SAME = 0, PAD_VALID = 1 };

static const char *const builtin_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM",
    "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE",
    "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE",
    "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX",
    "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
    "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE",
    "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE",
    "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD",
    "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N",
    "GATHER_ND", "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG",
    "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",
    "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
    "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL",
    "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST",
    "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL",
    "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT", "STABLEHLO_WHILE",
    "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW"
};
#define NBUILTIN ((int)(sizeof builtin_names / sizeof builtin_names[0]))

static const char *const act_names[] = {
    NULL, "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"
};

/* ------------------------------------------------------------------ */
/* Bounds-checked flatbuffer access.                                   */

typedef struct {
    const uint8_t *b;
    size_t n;
} fbuf;

typedef struct {
    size_t pos;       /* table start */
    size_t vt;        /* vtable start */
    unsigned vtsize;  /* vtable bytes */
    unsigned tsize;   /* table bytes (inline part) */
} ftable;

typedef struct {
    size_t pos;       /* first element */
    uint32_t len;
} fvec;

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }

/* 1 when [pos, pos+len) lies inside the buffer. */
static int in_buf(const fbuf *f, size_t pos, size_t len)
{
    return pos <= f->n && len <= f->n - pos;
}

/* Opens the table at pos: checks the vtable and the table's inline size. */
static int fb_table(const fbuf *f, size_t pos, ftable *t, err_t *e)
{
    if (!in_buf(f, pos, 4))
        return err_set(e, "table at offset %zu runs past the end of the file", pos);
    int64_t vt = (int64_t)pos - (int32_t)ld32(f->b + pos);
    if (vt < 0 || !in_buf(f, (size_t)vt, 4))
        return err_set(e, "table at offset %zu: vtable offset out of the file", pos);
    unsigned vs = ld16(f->b + vt), ts = ld16(f->b + vt + 2);
    if (vs < 4 || (vs & 1) || !in_buf(f, (size_t)vt, vs))
        return err_set(e, "table at offset %zu: bad vtable size %u", pos, vs);
    if (ts < 4 || !in_buf(f, pos, ts))
        return err_set(e, "table at offset %zu: bad table size %u", pos, ts);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vtsize = vs;
    t->tsize = ts;
    return 0;
}

/* Absolute position of field id (size bytes), 0 when absent, -1 when it
 * does not fit in the table. */
static int fb_field(const fbuf *f, const ftable *t, int id, unsigned size, size_t *at, err_t *e)
{
    unsigned slot = 4 + 2 * (unsigned)id;
    if (slot + 2 > t->vtsize)
        return 0;
    unsigned off = ld16(f->b + t->vt + slot);
    if (off == 0)
        return 0;
    if (off < 4 || off + size > t->tsize)
        return err_set(e, "table at offset %zu: field %d outside the table", t->pos, id);
    *at = t->pos + off;
    return 1;
}

static int fb_u8(const fbuf *f, const ftable *t, int id, unsigned dflt, unsigned *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 1, &at, e);
    if (r < 0) return -1;
    *v = r ? f->b[at] : dflt;
    return 0;
}

static int fb_i8(const fbuf *f, const ftable *t, int id, int dflt, int *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 1, &at, e);
    if (r < 0) return -1;
    *v = r ? (int)(int8_t)f->b[at] : dflt;
    return 0;
}

static int fb_i32(const fbuf *f, const ftable *t, int id, int32_t dflt, int32_t *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 4, &at, e);
    if (r < 0) return -1;
    *v = r ? (int32_t)ld32(f->b + at) : dflt;
    return 0;
}

static int fb_u32(const fbuf *f, const ftable *t, int id, uint32_t dflt, uint32_t *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 4, &at, e);
    if (r < 0) return -1;
    *v = r ? ld32(f->b + at) : dflt;
    return 0;
}

static int fb_u64(const fbuf *f, const ftable *t, int id, uint64_t *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 8, &at, e);
    if (r < 0) return -1;
    *v = r ? ld64(f->b + at) : 0;
    return 0;
}

static int fb_f32(const fbuf *f, const ftable *t, int id, float dflt, float *v, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 4, &at, e);
    if (r < 0) return -1;
    if (r) {
        uint32_t u = ld32(f->b + at);
        memcpy(v, &u, 4);
    } else {
        *v = dflt;
    }
    return 0;
}

/* Follows an offset field: 1 with *target set, 0 when absent, -1 on error. */
static int fb_ref(const fbuf *f, const ftable *t, int id, size_t *target, err_t *e)
{
    size_t at = 0;
    int r = fb_field(f, t, id, 4, &at, e);
    if (r <= 0) return r;
    uint32_t rel = ld32(f->b + at);
    if (rel == 0 || !in_buf(f, at, rel) || at + rel >= f->n)
        return err_set(e, "table at offset %zu: field %d points out of the file", t->pos, id);
    *target = at + rel;
    return 1;
}

/* Vector at an already resolved position. */
static int fb_vec_at(const fbuf *f, size_t pos, unsigned elsize, fvec *v, err_t *e)
{
    if (!in_buf(f, pos, 4))
        return err_set(e, "vector at offset %zu runs past the end of the file", pos);
    uint32_t len = ld32(f->b + pos);
    if ((uint64_t)len * elsize > f->n - pos - 4)
        return err_set(e, "vector at offset %zu: %u elements run past the end of the file",
                       pos, (unsigned)len);
    v->pos = pos + 4;
    v->len = len;
    return 0;
}

/* Vector field: 1 present, 0 absent (v->len = 0), -1 error. */
static int fb_vec(const fbuf *f, const ftable *t, int id, unsigned elsize, fvec *v, err_t *e)
{
    size_t p;
    v->pos = 0;
    v->len = 0;
    int r = fb_ref(f, t, id, &p, e);
    if (r <= 0) return r;
    return fb_vec_at(f, p, elsize, v, e) ? -1 : 1;
}

/* Element i of a vector of tables. */
static int fb_vec_table(const fbuf *f, const fvec *v, uint32_t i, ftable *t, err_t *e)
{
    size_t at = v->pos + (size_t)i * 4;
    uint32_t rel = ld32(f->b + at);
    if (rel == 0 || !in_buf(f, at, rel) || at + rel >= f->n)
        return err_set(e, "element %u of the vector at offset %zu points out of the file",
                       (unsigned)i, v->pos);
    return fb_table(f, at + rel, t, e);
}

/* Table field: 1 present, 0 absent, -1 error. */
static int fb_subtable(const fbuf *f, const ftable *t, int id, ftable *sub, err_t *e)
{
    size_t p;
    int r = fb_ref(f, t, id, &p, e);
    if (r <= 0) return r;
    return fb_table(f, p, sub, e) ? -1 : 1;
}

/* String field: pointer into the buffer and length; absent = "". */
static int fb_str(const fbuf *f, const ftable *t, int id, const char **s, size_t *len, err_t *e)
{
    fvec v;
    int r = fb_vec(f, t, id, 1, &v, e);
    if (r < 0) return -1;
    *s = r ? (const char *)f->b + v.pos : "";
    *len = r ? v.len : 0;
    return 0;
}

static int32_t vec_i32(const fbuf *f, const fvec *v, uint32_t i)
{
    return (int32_t)ld32(f->b + v->pos + (size_t)i * 4);
}

/* ------------------------------------------------------------------ */
/* The graph under construction.                                       */

typedef struct {
    int ndim;                       /* -1 unknown */
    int64_t dims[TENSOR_MAXDIM];    /* as in the file (NHWC for 4-D) */
    uint32_t buffer;
    int is_const;
    int is_var;
    int dw_uses, uses;              /* as depthwise filter / as any input */
} tinfo;

typedef struct {
    const fbuf *f;
    graph g;                        /* built here, moved to the caller at the end */
    int cap_t, cap_n;
    int nmodel;                     /* tensors of the model (indices 0..nmodel-1) */
    tinfo *ti;
    size_t budget;                  /* bytes we may still allocate/copy */
    char **names;                   /* open-addressing set of tensor names */
    size_t nslots, nnames;
    unsigned uniq;                  /* last suffix given by unique_name */
    int8_t *produced;               /* per tensor, for the order check */
    int cur_op;                     /* operator being converted (for messages) */
    const char *cur_name;           /* its builtin name */
    err_t *e;
    int borrow;                     /* constants whose bytes keep their order
                                       point into the file (graph_load) */
} builder;

static int charge(builder *b, size_t bytes)
{
    if (bytes > b->budget)
        return err_set(b->e, "model too large or too complex for its file size");
    b->budget -= bytes;
    return 0;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

static void free_node(gnode *nd)
{
    free(nd->name);
    free(nd->op);
    free(nd->domain);
    free(nd->in);
    free(nd->out);
    for (int i = 0; i < nd->nattr; i++) {
        free(nd->attr[i].name);
        free(nd->attr[i].s);
        free(nd->attr[i].floats);
        free(nd->attr[i].ints);
    }
    free(nd->attr);
}

static void free_tensor(gtensor *t)
{
    free(t->name);
    free(t->data);
    free(t->scale);
    free(t->zero_point);
}

static void builder_free(builder *b)
{
    for (int i = 0; i < b->g.ntensors; i++) {
        const uint8_t *d = b->g.tensors[i].data;
        if (d && b->f && d >= b->f->b && d < b->f->b + b->f->n)
            b->g.tensors[i].data = NULL;    /* borrowed from the file */
        free_tensor(&b->g.tensors[i]);
    }
    for (int i = 0; i < b->g.nnodes; i++)
        free_node(&b->g.nodes[i]);
    free(b->g.tensors);
    free(b->g.nodes);
    free(b->g.inputs);
    free(b->g.outputs);
    free(b->ti);
    free(b->names);     /* the strings belong to the tensors */
    free(b->produced);
}

/* --- the set of tensor names (to keep them unique) --- */

static size_t name_hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int names_has(const builder *b, const char *s)
{
    if (b->nslots == 0) return 0;
    for (size_t i = name_hash(s) & (b->nslots - 1);; i = (i + 1) & (b->nslots - 1)) {
        if (!b->names[i]) return 0;
        if (strcmp(b->names[i], s) == 0) return 1;
    }
}

static int names_add(builder *b, char *s)
{
    if (2 * (b->nnames + 1) > b->nslots) {
        size_t ns = b->nslots ? 2 * b->nslots : 64;
        if (charge(b, ns * sizeof(char *))) return -1;
        char **nn = calloc(ns, sizeof *nn);
        if (!nn) return err_set(b->e, "out of memory");
        for (size_t i = 0; i < b->nslots; i++) {
            if (!b->names[i]) continue;
            size_t j = name_hash(b->names[i]) & (ns - 1);
            while (nn[j]) j = (j + 1) & (ns - 1);
            nn[j] = b->names[i];
        }
        free(b->names);
        b->names = nn;
        b->nslots = ns;
    }
    size_t j = name_hash(s) & (b->nslots - 1);
    while (b->names[j]) j = (j + 1) & (b->nslots - 1);
    b->names[j] = s;
    b->nnames++;
    return 0;
}

/* A name not yet taken: base, else base_<k> for the next free k of the
 * model-wide counter (malloc'ed). */
static char *unique_name(builder *b, const char *base)
{
    size_t n = strlen(base);
    if (charge(b, n + 32)) return NULL;
    char *s = malloc(n + 32);
    if (!s) {
        err_set(b->e, "out of memory");
        return NULL;
    }
    memcpy(s, base, n + 1);
    /* One counter for the whole model: names made to collide with our
     * suffixes cost one probe each, not one per later lookup. */
    while (names_has(b, s))
        snprintf(s + n, 32, "_%u", ++b->uniq);
    if (names_add(b, s)) {
        free(s);
        return NULL;
    }
    return s;
}

/* --- tensors --- */

/* Appends a tensor (no data, no quantisation); returns its index or -1. */
static int add_tensor(builder *b, const char *name, int dtype, int ndim, const int64_t *dims)
{
    if (b->g.ntensors == b->cap_t) {
        int nc = b->cap_t ? 2 * b->cap_t : 16;
        if (nc > (1 << 28)) return err_set(b->e, "too many tensors");
        if (charge(b, (size_t)(nc - b->cap_t) * (sizeof(gtensor) + 1))) return -1;
        gtensor *nt = realloc(b->g.tensors, (size_t)nc * sizeof *nt);
        if (!nt) return err_set(b->e, "out of memory");
        b->g.tensors = nt;
        int8_t *np = realloc(b->produced, (size_t)nc);
        if (!np) return err_set(b->e, "out of memory");
        b->produced = np;
        b->cap_t = nc;
    }
    char *nm = unique_name(b, name);
    if (!nm) return -1;
    int i = b->g.ntensors++;
    gtensor *t = &b->g.tensors[i];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim && d < TENSOR_MAXDIM; d++)
        t->dims[d] = dims[d];
    b->produced[i] = 0;
    return i;
}

/* Copies the quantisation of tensor src onto dst (per tensor, or per
 * channel along the same logical axis). */
static int copy_quant(builder *b, int dst, int src)
{
    const gtensor *s = &b->g.tensors[src];
    gtensor *d = &b->g.tensors[dst];
    if (s->nq == 0) return 0;
    if (charge(b, (size_t)s->nq * 8)) return -1;
    d->scale = malloc((size_t)s->nq * sizeof(float));
    d->zero_point = malloc((size_t)s->nq * sizeof(int32_t));
    if (!d->scale || !d->zero_point) return err_set(b->e, "out of memory");
    memcpy(d->scale, s->scale, (size_t)s->nq * sizeof(float));
    memcpy(d->zero_point, s->zero_point, (size_t)s->nq * sizeof(int32_t));
    d->nq = s->nq;
    d->qaxis = s->qaxis;
    return 0;
}

/* Tensors 0..n-1: the model's, filled in by read_tensor. */
static int reserve_model_tensors(builder *b, uint32_t n)
{
    size_t cap = (size_t)n + 16;
    if (cap > (1 << 28)) return err_set(b->e, "too many tensors");
    if (charge(b, cap * (sizeof(gtensor) + 1))) return -1;
    b->g.tensors = calloc(cap, sizeof(gtensor));
    b->produced = calloc(cap, 1);
    if (!b->g.tensors || !b->produced) return err_set(b->e, "out of memory");
    b->cap_t = (int)cap;
    b->g.ntensors = (int)n;
    return 0;
}

/* A new activation tensor named after tensor like (+ suffix) with like's
 * dtype and quantisation and the given logical shape. */
static int add_temp(builder *b, int like, const char *suffix, int ndim, const int64_t *dims)
{
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s/%s", b->g.tensors[like].name, suffix);
    int t = add_tensor(b, nm, b->g.tensors[like].dtype, ndim, dims);
    if (t < 0 || copy_quant(b, t, like)) return -1;
    return t;
}

/* A new constant int64 vector. */
static int add_const_i64(builder *b, const char *base, const char *suffix,
                         int n, const int64_t *vals)
{
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s/%s", base, suffix);
    int64_t d = n;
    int t = add_tensor(b, nm, DT_I64, 1, &d);
    if (t < 0 || charge(b, (size_t)n * 8 + 8)) return -1;
    gtensor *g = &b->g.tensors[t];
    g->data = malloc((size_t)n * 8 + 1);
    if (!g->data) return err_set(b->e, "out of memory");
    memcpy(g->data, vals, (size_t)n * 8);
    g->nbytes = (size_t)n * 8;
    return t;
}

/* A new constant float scalar. */
static int add_const_f32(builder *b, const char *base, const char *suffix, float v)
{
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s/%s", base, suffix);
    int t = add_tensor(b, nm, DT_F32, 0, NULL);
    if (t < 0 || charge(b, 4)) return -1;
    gtensor *g = &b->g.tensors[t];
    g->data = malloc(4);
    if (!g->data) return err_set(b->e, "out of memory");
    memcpy(g->data, &v, 4);
    g->nbytes = 4;
    return t;
}

/* --- nodes --- */

static gnode *add_node(builder *b, const char *op, const char *name,
                       int nin, const int *in, int nout, const int *out)
{
    if (b->g.nnodes == b->cap_n) {
        int nc = b->cap_n ? 2 * b->cap_n : 16;
        if (nc > (1 << 28)) {
            err_set(b->e, "too many operators");
            return NULL;
        }
        if (charge(b, (size_t)(nc - b->cap_n) * sizeof(gnode))) return NULL;
        gnode *nn = realloc(b->g.nodes, (size_t)nc * sizeof *nn);
        if (!nn) {
            err_set(b->e, "out of memory");
            return NULL;
        }
        b->g.nodes = nn;
        b->cap_n = nc;
    }
    if (charge(b, (size_t)(nin + nout) * sizeof(int) + strlen(name) + 64)) return NULL;
    gnode *nd = &b->g.nodes[b->g.nnodes++];
    memset(nd, 0, sizeof *nd);
    nd->name = xstrdup(name);
    nd->op = xstrdup(op);
    nd->domain = xstrdup("");
    nd->in = malloc((size_t)(nin ? nin : 1) * sizeof(int));
    nd->out = malloc((size_t)(nout ? nout : 1) * sizeof(int));
    if (!nd->name || !nd->op || !nd->domain || !nd->in || !nd->out) {
        err_set(b->e, "out of memory");
        return NULL;
    }
    nd->nin = nin;
    nd->nout = nout;
    if (nin) memcpy(nd->in, in, (size_t)nin * sizeof(int));
    if (nout) memcpy(nd->out, out, (size_t)nout * sizeof(int));
    return nd;
}

static gattr *add_attr(builder *b, gnode *nd, const char *name, int type)
{
    gattr *na = realloc(nd->attr, (size_t)(nd->nattr + 1) * sizeof *na);
    if (!na) {
        err_set(b->e, "out of memory");
        return NULL;
    }
    nd->attr = na;
    gattr *a = &na[nd->nattr++];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->tensor = -1;
    a->name = xstrdup(name);
    if (!a->name) {
        err_set(b->e, "out of memory");
        return NULL;
    }
    return a;
}

static int attr_int(builder *b, gnode *nd, const char *name, int64_t v)
{
    gattr *a = add_attr(b, nd, name, ATTR_INT);
    if (!a) return -1;
    a->i = v;
    return 0;
}

static int attr_float(builder *b, gnode *nd, const char *name, float v)
{
    gattr *a = add_attr(b, nd, name, ATTR_FLOAT);
    if (!a) return -1;
    a->f = v;
    return 0;
}

static int attr_str(builder *b, gnode *nd, const char *name, const char *v)
{
    gattr *a = add_attr(b, nd, name, ATTR_STRING);
    if (!a) return -1;
    a->s = xstrdup(v);
    if (!a->s) return err_set(b->e, "out of memory");
    return 0;
}

static int attr_ints(builder *b, gnode *nd, const char *name, int n, const int64_t *v)
{
    gattr *a = add_attr(b, nd, name, ATTR_INTS);
    if (!a) return -1;
    a->ints = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!a->ints) return err_set(b->e, "out of memory");
    if (n) memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
    a->n = n;
    return 0;
}

/* Message for the operator being converted. */
static int op_err(builder *b, const char *msg)
{
    return err_set(b->e, "operator %d (%s): %s", b->cur_op, b->cur_name, msg);
}

/* ------------------------------------------------------------------ */
/* Layout helpers.                                                     */

static const int perm_nhwc_to_nchw[4] = { 0, 3, 1, 2 };
static const int perm_nchw_to_nhwc[4] = { 0, 2, 3, 1 };
static const int perm_dw[4] = { 3, 0, 1, 2 };      /* [1,H,W,CM] -> [CM,1,H,W] */
static const int nhwc_axis_to_nchw[4] = { 0, 2, 3, 1 };

/* dst[i] = src[perm[i]] for a rank-4 tensor of elsize-byte elements.
 * dims are the source dims.  When the permutation keeps the order of the
 * dims larger than 1 (a 1x1 conv's OHWI -> OIHW), the bytes are the same.
 * elsize is 1, 2, 4 or 8. */
/* Constant-size memcpy: compiled to plain loads and stores, with no
 * alignment or aliasing assumption about the file's bytes. */
#define TRANSPOSE4_LOOP(SZ)                                                     \
    do {                                                                        \
        uint8_t *d_ = dst;                                                      \
        for (int64_t a = 0; a < nd[0]; a++)                                     \
            for (int64_t c = 0; c < nd[1]; c++)                                 \
                for (int64_t h = 0; h < nd[2]; h++) {                           \
                    const uint8_t *p_ = src + (a * st[0] + c * st[1] + h * st[2]) * (SZ); \
                    for (int64_t w = 0; w < nd[3]; w++, d_ += (SZ))             \
                        memcpy(d_, p_ + w * st[3] * (SZ), (SZ));                \
                }                                                               \
    } while (0)

/* 1 when permuting dims by perm keeps the order of the bytes (the dims
 * larger than 1 stay in order, as in a 1x1 conv's OHWI -> OIHW). */
static int order_kept(const int64_t *dims, const int *perm)
{
    int last = -1;
    for (int i = 0; i < 4; i++)
        if (dims[perm[i]] > 1) {
            if (perm[i] < last)
                return 0;
            last = perm[i];
        }
    return 1;
}

static void transpose4(const uint8_t *src, uint8_t *dst, const int64_t *dims,
                       const int *perm, size_t elsize)
{
    int64_t sstride[4], nd[4], st[4];
    sstride[3] = 1;
    for (int i = 2; i >= 0; i--) sstride[i] = sstride[i + 1] * dims[i + 1];
    int last = -1, same = 1;
    for (int i = 0; i < 4; i++) {
        nd[i] = dims[perm[i]];
        st[i] = sstride[perm[i]];
        if (nd[i] > 1) {
            if (perm[i] < last) same = 0;
            last = perm[i];
        }
    }
    if (same) {
        memcpy(dst, src, (size_t)(nd[0] * nd[1] * nd[2] * nd[3]) * elsize);
        return;
    }
    switch (elsize) {
    case 1:  TRANSPOSE4_LOOP(1); break;
    case 2:  TRANSPOSE4_LOOP(2); break;
    case 4:  TRANSPOSE4_LOOP(4); break;
    default: TRANSPOSE4_LOOP(8); break;
    }
}

/* Known positive dims? */
static int dims_known(const gtensor *t)
{
    if (t->ndim < 0) return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] <= 0) return 0;
    return 1;
}

/* Element count of a tensor with known dims; -1 above 2^62 (the engine
 * refuses such shapes, we only must not overflow computing them). */
static int64_t numel_of(const gtensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->dims[d] < 0) return -1;
        if (t->dims[d] && n > ((int64_t)1 << 62) / t->dims[d]) return -1;
        n *= t->dims[d];
    }
    return n;
}

/* Does the 4-D logical tensor have spatial extent other than 1x1? */
static int spatial4(const gtensor *t)
{
    return t->ndim == 4 && !(t->dims[2] == 1 && t->dims[3] == 1);
}

/* Transpose node in -> new temp, returns the temp's index. */
static int emit_transpose(builder *b, int in, const int *perm, const char *suffix,
                          const char *nodename)
{
    const gtensor *s = &b->g.tensors[in];
    int64_t d[4];
    for (int i = 0; i < 4; i++) d[i] = s->dims[perm[i]];
    int t = add_temp(b, in, suffix, 4, d);
    if (t < 0) return -1;
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s/%s", nodename, suffix);
    gnode *nd = add_node(b, "Transpose", nm, 1, &in, 1, &t);
    int64_t p[4] = { perm[0], perm[1], perm[2], perm[3] };
    if (!nd || attr_ints(b, nd, "perm", 4, p)) return -1;
    b->produced[t] = 1;
    return t;
}

/* Emits what reshapes tensor src into tensor dst with the meaning of a
 * TFLite (NHWC) reshape: the elements are taken in NHWC order and the result
 * is laid out as the NHWC shape tdims (rank tnd), then converted to dst's
 * logical layout.  Transposes are added only where the orders differ
 * (spatial extent other than 1x1).  dst's logical dims must be set. */
static int emit_reshape(builder *b, int src, int dst, int tnd, const int64_t *tdims,
                        const char *nodename)
{
    if (!dims_known(&b->g.tensors[src]))
        return op_err(b, "input shape unknown");
    int cur = src;
    if (spatial4(&b->g.tensors[src])) {
        cur = emit_transpose(b, src, perm_nchw_to_nhwc, "to_nhwc", nodename);
        if (cur < 0) return -1;
    }
    int64_t shape[TENSOR_MAXDIM];
    int final_transpose = tnd == 4 && !(tdims[1] == 1 && tdims[2] == 1);
    int rn = tnd;
    if (final_transpose || tnd != 4) {
        memcpy(shape, tdims, (size_t)tnd * sizeof *shape);
    } else {                        /* 4-D, 1x1 spatial: NCHW = NHWC order */
        shape[0] = tdims[0];
        shape[1] = tdims[3];
        shape[2] = tdims[1];
        shape[3] = tdims[2];
    }
    int target = dst;
    if (final_transpose) {
        target = add_temp(b, cur, "nhwc", 4, shape);
        if (target < 0) return -1;
    }
    int sh = add_const_i64(b, b->g.tensors[dst].name, "shape", rn, shape);
    if (sh < 0) return -1;
    int ins[2] = { cur, sh };
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s%s", nodename, final_transpose ? "/reshape" : "");
    if (!add_node(b, "Reshape", nm, 2, ins, 1, &target)) return -1;
    b->produced[target] = 1;
    if (final_transpose) {
        int64_t p[4] = { 0, 3, 1, 2 };
        gnode *nd = add_node(b, "Transpose", nodename, 1, &target, 1, &dst);
        if (!nd || attr_ints(b, nd, "perm", 4, p)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Model tensors.                                                      */

static int map_dtype(int tt)
{
    switch (tt) {
    case TT_FLOAT32: return DT_F32;
    case TT_FLOAT16: return DT_F16;
    case TT_INT32:   return DT_I32;
    case TT_UINT8:   return DT_U8;
    case TT_INT64:   return DT_I64;
    case TT_BOOL:    return DT_BOOL;
    case TT_INT16:   return DT_I16;
    case TT_INT8:    return DT_I8;
    case TT_FLOAT64: return DT_F64;
    case TT_UINT16:  return DT_U16;
    default:         return DT_NONE;
    }
}

/* Bytes per element of the dtypes produced here. */
static size_t elem_size(int dt)
{
    switch (dt) {
    case DT_U8: case DT_I8: case DT_BOOL:   return 1;
    case DT_F16: case DT_I16: case DT_U16:  return 2;
    case DT_F32: case DT_I32:               return 4;
    case DT_F64: case DT_I64:               return 8;
    default:                                return 1;
    }
}

/* Data of buffer bi: pointer and size (size 0: no data). */
static int buffer_data(builder *b, const fvec *buffers, uint32_t bi,
                       const uint8_t **data, size_t *size)
{
    const fbuf *f = b->f;
    err_t *e = b->e;
    ftable bt;
    fvec dv;
    *data = NULL;
    *size = 0;
    if (bi == 0) return 0;          /* the empty sentinel */
    if (bi >= buffers->len)
        return err_set(e, "buffer %u does not exist (%u buffers)", (unsigned)bi,
                       (unsigned)buffers->len);
    if (fb_vec_table(f, buffers, bi, &bt, e)) return err_prefix(e, "buffer %u", (unsigned)bi);
    int r = fb_vec(f, &bt, BUF_DATA, 1, &dv, e);
    if (r < 0) return err_prefix(e, "buffer %u: data", (unsigned)bi);
    if (r && dv.len) {
        *data = f->b + dv.pos;
        *size = dv.len;
        return 0;
    }
    /* Models over 2 GB keep buffers outside the flatbuffer: offset from the
     * start of the file, valid when > 1. */
    uint64_t off, sz;
    if (fb_u64(f, &bt, BUF_OFFSET, &off, e) || fb_u64(f, &bt, BUF_SIZE, &sz, e))
        return err_prefix(e, "buffer %u", (unsigned)bi);
    if (off > 1) {
        if (off > f->n || sz > f->n - off)
            return err_set(e, "buffer %u: offset %llu size %llu past the end of the file",
                           (unsigned)bi, (unsigned long long)off, (unsigned long long)sz);
        *data = f->b + off;
        *size = (size_t)sz;
    }
    return 0;
}

static int read_quant(builder *b, const ftable *tt, int ti)
{
    const fbuf *f = b->f;
    err_t *e = b->e;
    ftable q;
    int r = fb_subtable(f, tt, TN_QUANT, &q, e);
    if (r <= 0) return r;
    unsigned dtype;
    if (fb_u8(f, &q, QP_DETAILS_TYPE, 0, &dtype, e)) return -1;
    if (dtype != 0) return err_set(e, "custom quantisation is not supported");
    fvec sv, zv;
    if (fb_vec(f, &q, QP_SCALE, 4, &sv, e) < 0) return err_prefix(e, "scale");
    if (fb_vec(f, &q, QP_ZERO_POINT, 8, &zv, e) < 0) return err_prefix(e, "zero_point");
    if (sv.len == 0) return 0;      /* min/max only: not quantised */
    if (zv.len != sv.len && zv.len != 0)
        return err_set(e, "%u scales but %u zero points", (unsigned)sv.len, (unsigned)zv.len);
    int32_t qdim;
    if (fb_i32(f, &q, QP_QDIM, 0, &qdim, e)) return -1;
    const tinfo *in = &b->ti[ti];
    if (sv.len > 1) {
        if (in->ndim < 1 || qdim < 0 || qdim >= in->ndim)
            return err_set(e, "quantized_dimension %d out of range", (int)qdim);
        if ((int64_t)sv.len != in->dims[qdim])
            return err_set(e, "%u scales for dimension %d of size %lld", (unsigned)sv.len,
                           (int)qdim, (long long)in->dims[qdim]);
    }
    if (charge(b, (size_t)sv.len * 8)) return -1;
    gtensor *t = &b->g.tensors[ti];
    t->scale = malloc((size_t)sv.len * sizeof(float));
    t->zero_point = malloc((size_t)sv.len * sizeof(int32_t));
    if (!t->scale || !t->zero_point) return err_set(e, "out of memory");
    for (uint32_t i = 0; i < sv.len; i++) {
        uint32_t u = ld32(f->b + sv.pos + (size_t)i * 4);
        memcpy(&t->scale[i], &u, 4);
        int64_t z = zv.len ? (int64_t)ld64(f->b + zv.pos + (size_t)i * 8) : 0;
        if (z < INT32_MIN || z > INT32_MAX)
            return err_set(e, "zero point %lld out of range", (long long)z);
        t->zero_point[i] = (int32_t)z;
    }
    t->nq = (int)sv.len;
    t->qaxis = sv.len > 1 ? qdim : 0;
    return 0;
}

/* Reads tensor i's shape, type, name, buffer index, quantisation (first
 * pass: no data yet). */
static int read_tensor(builder *b, const fvec *tensors, uint32_t i)
{
    const fbuf *f = b->f;
    err_t *e = b->e;
    ftable tt;
    fvec sv;
    tinfo *in = &b->ti[i];
    gtensor *t = &b->g.tensors[i];
    if (fb_vec_table(f, tensors, i, &tt, e)) return -1;
    int r = fb_vec(f, &tt, TN_SHAPE, 4, &sv, e);
    if (r < 0) return err_prefix(e, "shape");
    if (sv.len > TENSOR_MAXDIM)
        return err_set(e, "rank %u above %d", (unsigned)sv.len, TENSOR_MAXDIM);
    unsigned has_rank;
    if (fb_u8(f, &tt, TN_HAS_RANK, 0, &has_rank, e)) return -1;
    in->ndim = (r || has_rank) ? (int)sv.len : -1;
    for (uint32_t d = 0; d < sv.len; d++) {
        int32_t v = vec_i32(f, &sv, d);
        in->dims[d] = v < 0 ? -1 : v;
    }
    int ty;
    if (fb_i8(f, &tt, TN_TYPE, TT_FLOAT32, &ty, e)) return -1;
    t->dtype = map_dtype(ty);
    if (t->dtype == DT_NONE) return err_set(e, "unsupported tensor type %d", ty);
    if (fb_u32(f, &tt, TN_BUFFER, 0, &in->buffer, e)) return -1;
    unsigned isv;
    if (fb_u8(f, &tt, TN_IS_VARIABLE, 0, &isv, e)) return -1;
    in->is_var = isv != 0;
    ftable sp;
    r = fb_subtable(f, &tt, TN_SPARSITY, &sp, e);
    if (r < 0) return -1;
    if (r) return err_set(e, "sparse tensors are not supported");
    const char *s;
    size_t len;
    if (fb_str(f, &tt, TN_NAME, &s, &len, e)) return err_prefix(e, "name");
    if (charge(b, len + 1)) return -1;
    t->name = xstrndup(s, len);
    if (!t->name) return err_set(e, "out of memory");
    if (read_quant(b, &tt, (int)i)) return err_prefix(e, "quantization");
    return 0;
}

/* Gives every model tensor a unique name: its own, else "T<index>". */
static int name_tensors(builder *b)
{
    for (int i = 0; i < b->nmodel; i++) {
        gtensor *t = &b->g.tensors[i];
        if (t->name[0] == '\0' || names_has(b, t->name)) {
            free(t->name);
            t->name = NULL;
            continue;
        }
        if (names_add(b, t->name)) return -1;
    }
    for (int i = 0; i < b->nmodel; i++) {
        gtensor *t = &b->g.tensors[i];
        if (t->name) continue;
        char nm[32];
        snprintf(nm, sizeof nm, "T%d", i);
        t->name = unique_name(b, nm);
        if (!t->name) return -1;
    }
    return 0;
}

/* Second pass: logical shape, constant data (converted), quant axis. */
static int convert_tensor(builder *b, const fvec *buffers, int i)
{
    err_t *e = b->e;
    tinfo *in = &b->ti[i];
    gtensor *t = &b->g.tensors[i];
    const uint8_t *data;
    size_t size;
    if (buffer_data(b, buffers, in->buffer, &data, &size)) return -1;
    size_t es = elem_size(t->dtype);
    if (data) {
        in->is_const = 1;
        if (in->ndim < 0) {         /* no shape recorded: a scalar or a vector */
            if (size % es) return err_set(e, "data size %zu not a multiple of %zu", size, es);
            in->ndim = size == es ? 0 : 1;
            in->dims[0] = (int64_t)(size / es);
        }
        uint64_t numel = 1;
        for (int d = 0; d < in->ndim; d++) {
            if (in->dims[d] < 0) return err_set(e, "constant with unknown dimension %d", d);
            if (in->dims[d] && numel > UINT64_MAX / 16 / (uint64_t)in->dims[d])
                return err_set(e, "element count overflows");
            numel *= (uint64_t)in->dims[d];
        }
        if (numel * es != size)
            return err_set(e, "data holds %zu bytes, the shape needs %llu", size,
                           (unsigned long long)(numel * es));
    }
    if (in->dw_uses && in->dw_uses != in->uses)
        return err_set(e, "used both as a depthwise filter and otherwise");
    const int *perm = NULL;
    if (in->ndim == 4)
        perm = in->dw_uses ? perm_dw : perm_nhwc_to_nchw;
    int borrowed = data && size && b->borrow && (!perm || order_kept(in->dims, perm));
    if (data && borrowed) {
        t->data = (void *)data;     /* the file's bytes, in the right order */
        t->nbytes = size;
    } else if (data) {
        if (charge(b, size)) return -1;
        t->data = malloc(size ? size : 1);
        if (!t->data) return err_set(e, "out of memory");
        t->nbytes = size;
    }
    t->ndim = in->ndim;
    for (int d = 0; d < in->ndim; d++)
        t->dims[d] = perm ? in->dims[perm[d]] : in->dims[d];
    if (data && !borrowed) {
        if (perm && size)
            transpose4(data, t->data, in->dims, perm, es);
        else if (size)
            memcpy(t->data, data, size);
    }
    if (perm && t->nq > 1) {
        for (int d = 0; d < 4; d++)
            if (perm[d] == t->qaxis) {
                t->qaxis = d;
                break;
            }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Operators.                                                          */

typedef struct {
    int code;
    const char *name;               /* builtin name or custom code */
    int nin, nout;
    int *in, *out;
    unsigned opt_type;
    int has_opt;
    ftable opt;
    char nodename[320];
} opinfo;

/* Input k or -1 when omitted. */
static int op_in(const opinfo *o, int k) { return k < o->nin ? o->in[k] : -1; }

static int need(builder *b, const opinfo *o, int nin, int nout)
{
    for (int k = 0; k < nin; k++)
        if (op_in(o, k) < 0) return op_err(b, "missing input");
    if (o->nout < nout) return op_err(b, "missing output");
    return 0;
}

/* Options of the expected union type (or absent: defaults). */
static int want_opts(builder *b, const opinfo *o, unsigned type)
{
    if (o->has_opt && o->opt_type != type) {
        char m[96];
        snprintf(m, sizeof m, "builtin options of type %u, expected %u", o->opt_type, type);
        return op_err(b, m);
    }
    return 0;
}

static int opt_i32(builder *b, const opinfo *o, int id, int32_t dflt, int32_t *v)
{
    if (!o->has_opt) {
        *v = dflt;
        return 0;
    }
    return fb_i32(b->f, &o->opt, id, dflt, v, b->e);
}

static int opt_i8(builder *b, const opinfo *o, int id, int *v)
{
    if (!o->has_opt) {
        *v = 0;
        return 0;
    }
    return fb_i8(b->f, &o->opt, id, 0, v, b->e);
}

static int opt_f32(builder *b, const opinfo *o, int id, float dflt, float *v)
{
    if (!o->has_opt) {
        *v = dflt;
        return 0;
    }
    return fb_f32(b->f, &o->opt, id, dflt, v, b->e);
}

/* Sets "fused_activation" from the options field id. */
static int fused_act(builder *b, const opinfo *o, int id, gnode *nd)
{
    int act;
    if (opt_i8(b, o, id, &act)) return -1;
    if (act == 0) return 0;
    if (act < 0 || act > 5) {
        char m[64];
        snprintf(m, sizeof m, "unknown fused activation %d", act);
        return op_err(b, m);
    }
    return attr_str(b, nd, "fused_activation", act_names[act]);
}

static const gtensor *T(builder *b, int i) { return &b->g.tensors[i]; }

/* Padding of one spatial axis as TFLite computes it. */
static int tfl_pad(builder *b, int padding, int64_t in, int64_t k, int64_t stride,
                   int64_t dil, int64_t *before, int64_t *after)
{
    if (stride < 1 || dil < 1 || k < 1 || stride > 65536 || dil > 65536 || k > 65536 ||
        in < 1 || in > ((int64_t)1 << 31))
        return op_err(b, "bad stride, dilation or kernel size");
    int64_t eff = (k - 1) * dil + 1;
    if (padding == PAD_VALID) {
        *before = *after = 0;
        return 0;
    }
    if (padding != PAD_SAME) return op_err(b, "unknown padding");
    int64_t out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + eff - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
    return 0;
}

static int conv_like(builder *b, const opinfo *o, int depthwise)
{
    if (need(b, o, 2, 1)) return -1;
    if (want_opts(b, o, depthwise ? BO_DEPTHWISE : BO_CONV2D)) return -1;
    int x = o->in[0], w = o->in[1], bias = op_in(o, 2);
    const tinfo *xi = &b->ti[x], *wi = &b->ti[w];
    if (x >= b->nmodel || w >= b->nmodel) return op_err(b, "bad tensor");
    if (xi->ndim != 4 || wi->ndim != 4) return op_err(b, "input and filter must be 4-D");
    for (int d = 0; d < 4; d++)
        if (xi->dims[d] <= 0 || wi->dims[d] <= 0) return op_err(b, "unknown input or filter shape");
    int padding;
    int32_t sw, sh, dw, dh;
    int ia = depthwise ? 4 : 3, idw = depthwise ? 5 : 4;
    if (opt_i8(b, o, 0, &padding) || opt_i32(b, o, 1, 0, &sw) || opt_i32(b, o, 2, 0, &sh) ||
        opt_i32(b, o, idw, 1, &dw) || opt_i32(b, o, idw + 1, 1, &dh))
        return -1;
    int64_t kh = wi->dims[1], kw = wi->dims[2], cin = xi->dims[3], group;
    if (depthwise) {
        if (wi->dims[0] != 1 || wi->dims[3] % cin) return op_err(b, "filter does not match the input channels");
        if (!b->ti[w].is_const) return op_err(b, "the filter must be constant");
        group = cin;
    } else {
        if (cin % wi->dims[3] || wi->dims[0] % (cin / wi->dims[3]))
            return op_err(b, "filter does not match the input channels");
        group = cin / wi->dims[3];
    }
    int64_t pt, pb, pl, pr;
    if (tfl_pad(b, padding, xi->dims[1], kh, sh, dh, &pt, &pb) ||
        tfl_pad(b, padding, xi->dims[2], kw, sw, dw, &pl, &pr))
        return -1;
    int ins[3] = { x, w, bias };
    gnode *nd = add_node(b, "Conv", o->nodename, bias >= 0 ? 3 : 2, ins, 1, o->out);
    if (!nd) return -1;
    int64_t ks[2] = { kh, kw }, st[2] = { sh, sw }, dl[2] = { dh, dw }, pads[4] = { pt, pl, pb, pr };
    if (attr_ints(b, nd, "kernel_shape", 2, ks) || attr_ints(b, nd, "strides", 2, st) ||
        attr_ints(b, nd, "dilations", 2, dl) || attr_ints(b, nd, "pads", 4, pads) ||
        attr_int(b, nd, "group", group) || fused_act(b, o, ia, nd))
        return -1;
    return 0;
}

static int pool(builder *b, const opinfo *o, int avg)
{
    if (need(b, o, 1, 1) || want_opts(b, o, BO_POOL2D)) return -1;
    int x = o->in[0];
    const tinfo *xi = &b->ti[x];
    if (xi->ndim != 4 || xi->dims[1] <= 0 || xi->dims[2] <= 0)
        return op_err(b, "input must be 4-D with a known shape");
    int padding;
    int32_t sw, sh, fw, fh;
    if (opt_i8(b, o, 0, &padding) || opt_i32(b, o, 1, 0, &sw) || opt_i32(b, o, 2, 0, &sh) ||
        opt_i32(b, o, 3, 0, &fw) || opt_i32(b, o, 4, 0, &fh))
        return -1;
    int64_t pt, pb, pl, pr;
    if (tfl_pad(b, padding, xi->dims[1], fh, sh, 1, &pt, &pb) ||
        tfl_pad(b, padding, xi->dims[2], fw, sw, 1, &pl, &pr))
        return -1;
    gnode *nd = add_node(b, avg ? "AveragePool" : "MaxPool", o->nodename, 1, &x, 1, o->out);
    if (!nd) return -1;
    int64_t ks[2] = { fh, fw }, st[2] = { sh, sw }, pads[4] = { pt, pl, pb, pr };
    if (attr_ints(b, nd, "kernel_shape", 2, ks) || attr_ints(b, nd, "strides", 2, st) ||
        attr_ints(b, nd, "pads", 4, pads) ||
        (avg && attr_int(b, nd, "count_include_pad", 0)) || fused_act(b, o, 5, nd))
        return -1;
    return 0;
}

/* Operand k of a broadcasting binary op whose other operand is 4-D: a
 * lower-rank operand with more than one element is aligned to NHWC by
 * trailing dims, so it gets the same NHWC -> NCHW treatment. */
static int bcast_operand(builder *b, const opinfo *o, int k, int other)
{
    int x = o->in[k];
    const gtensor *t = T(b, x), *ot = T(b, other);
    if (ot->ndim != 4 || t->ndim >= 4 || t->ndim < 0) return x;
    if (!dims_known(t)) {
        op_err(b, "operand shape unknown");
        return -1;
    }
    if (numel_of(t) == 1) return x;
    int64_t nhwc[4];
    for (int d = 0; d < 4; d++) {
        int s = d - (4 - t->ndim);
        nhwc[d] = s >= 0 ? t->dims[s] : 1;
    }
    if (t->nq > 1) {
        op_err(b, "per-channel quantised broadcast operand");
        return -1;
    }
    int64_t nchw[4] = { nhwc[0], nhwc[3], nhwc[1], nhwc[2] };
    if (t->data) {                  /* constant: a converted copy */
        int c = add_temp(b, x, "nchw", 4, nchw);
        if (c < 0) return -1;
        gtensor *ct = &b->g.tensors[c];
        const gtensor *st = T(b, x);
        if (charge(b, st->nbytes)) return -1;
        ct->data = malloc(st->nbytes ? st->nbytes : 1);
        if (!ct->data) return err_set(b->e, "out of memory");
        ct->nbytes = st->nbytes;
        transpose4(st->data, ct->data, nhwc, perm_nhwc_to_nchw, elem_size(st->dtype));
        return c;
    }
    int c = add_temp(b, x, "nchw", 4, nchw);
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s/operand%d", o->nodename, k);
    if (c < 0 || emit_reshape(b, x, c, 4, nhwc, nm)) return -1;
    b->produced[c] = 1;
    return c;
}

static int binary(builder *b, const opinfo *o, const char *op, unsigned opt_type, int has_act)
{
    if (need(b, o, 2, 1)) return -1;
    if (opt_type && want_opts(b, o, opt_type)) return -1;
    int a = bcast_operand(b, o, 0, o->in[1]);
    if (a < 0) return -1;
    int c = bcast_operand(b, o, 1, o->in[0]);
    if (c < 0) return -1;
    int ins[2] = { a, c };
    gnode *nd = add_node(b, op, o->nodename, 2, ins, 1, o->out);
    if (!nd || (has_act && fused_act(b, o, 0, nd))) return -1;
    return 0;
}

static int concat(builder *b, const opinfo *o)
{
    if (o->nin < 1 || need(b, o, o->nin, 1) || want_opts(b, o, BO_CONCATENATION)) return -1;
    int32_t axis;
    if (opt_i32(b, o, 0, 0, &axis)) return -1;
    int rank = b->ti[o->in[0]].ndim;
    if (rank < 1) return op_err(b, "input rank unknown or 0");
    for (int k = 1; k < o->nin; k++)
        if (b->ti[o->in[k]].ndim != rank) return op_err(b, "inputs of different ranks");
    if (axis < -rank || axis >= rank) return op_err(b, "axis out of range");
    if (axis < 0) axis += rank;
    if (rank == 4) axis = nhwc_axis_to_nchw[axis];
    gnode *nd = add_node(b, "Concat", o->nodename, o->nin, o->in, 1, o->out);
    if (!nd || attr_int(b, nd, "axis", axis) || fused_act(b, o, 1, nd)) return -1;
    return 0;
}

/* RESHAPE, SQUEEZE and EXPAND_DIMS: the output's own shape is the target. */
static int reshape(builder *b, const opinfo *o)
{
    if (need(b, o, 1, 1)) return -1;
    int y = o->out[0];
    const tinfo *yi = &b->ti[y];
    int64_t td[TENSOR_MAXDIM];
    int tnd = yi->ndim;
    int known = tnd >= 0 && y < b->nmodel;
    for (int d = 0; known && d < tnd; d++) {
        if (yi->dims[d] <= 0) known = 0;
        td[d] = yi->dims[d];
    }
    if (!known) return op_err(b, "output shape unknown");
    return emit_reshape(b, o->in[0], y, tnd, td, o->nodename);
}

static int softmax(builder *b, const opinfo *o)
{
    if (need(b, o, 1, 1) || want_opts(b, o, BO_SOFTMAX)) return -1;
    float beta;
    /* SoftmaxOptions.beta has no default in the schema (0.0). */
    if (opt_f32(b, o, 0, 0.0f, &beta)) return -1;
    int x = o->in[0], y = o->out[0];
    int64_t axis = -1;
    if (T(b, x)->ndim == 4 && !spatial4(T(b, x)))
        axis = 1;                   /* C of a 1x1 map, NHWC's last axis */
    if (spatial4(T(b, x))) {
        int t = emit_transpose(b, x, perm_nchw_to_nhwc, "to_nhwc", o->nodename);
        if (t < 0) return -1;
        int64_t td[4];
        memcpy(td, T(b, t)->dims, sizeof td);
        int s = add_temp(b, y, "nhwc", 4, td);
        char nm[400];
        snprintf(nm, sizeof nm, "%.300s/softmax", o->nodename);
        gnode *nd = s < 0 ? NULL : add_node(b, "Softmax", nm, 1, &t, 1, &s);
        if (!nd || attr_int(b, nd, "axis", -1) ||
            (beta != 1.0f && attr_float(b, nd, "beta", beta)))
            return -1;
        b->produced[s] = 1;
        int64_t p[4] = { 0, 3, 1, 2 };
        nd = add_node(b, "Transpose", o->nodename, 1, &s, 1, &y);
        if (!nd || attr_ints(b, nd, "perm", 4, p)) return -1;
        return 0;
    }
    gnode *nd = add_node(b, "Softmax", o->nodename, 1, &x, 1, &y);
    if (!nd || attr_int(b, nd, "axis", axis) ||
        (beta != 1.0f && attr_float(b, nd, "beta", beta)))
        return -1;
    return 0;
}

static int fully_connected(builder *b, const opinfo *o)
{
    if (need(b, o, 2, 1) || want_opts(b, o, BO_FULLY_CONNECTED)) return -1;
    int wf = 0;
    if (o->has_opt && fb_i8(b->f, &o->opt, 1, 0, &wf, b->e)) return -1;
    if (wf != 0) return op_err(b, "shuffled weights format is not supported");
    int x = o->in[0], w = o->in[1], bias = op_in(o, 2), y = o->out[0];
    const gtensor *wt = T(b, w), *xt = T(b, x), *yt = T(b, y);
    if (wt->ndim != 2 || !dims_known(wt)) return op_err(b, "weights must be 2-D");
    int64_t nin = wt->dims[1], nout = wt->dims[0];
    if (!dims_known(xt)) return op_err(b, "input shape unknown");
    int64_t numel = numel_of(xt);
    if (numel < 0) return op_err(b, "input too large");
    if (numel % nin) return op_err(b, "input size is not a multiple of the weights' columns");
    int64_t batch = numel / nin;
    int xin = x;
    if (!(xt->ndim == 2 && xt->dims[1] == nin)) {
        int64_t fd[2] = { batch, nin };
        char fn[400];
        snprintf(fn, sizeof fn, "%.300s/flatten", o->nodename);
        xin = add_temp(b, x, "flat", 2, fd);
        if (xin < 0 || emit_reshape(b, x, xin, 2, fd, fn)) return -1;
        b->produced[xin] = 1;
        yt = T(b, y);
    }
    int yout = y;
    int direct = yt->ndim == 2 && dims_known(yt) && yt->dims[0] == batch && yt->dims[1] == nout;
    if (!direct) {
        int64_t od[2] = { batch, nout };
        yout = add_temp(b, y, "gemm", 2, od);
        if (yout < 0) return -1;
    }
    int ins[3] = { xin, w, bias };
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s%s", o->nodename, direct ? "" : "/gemm");
    gnode *nd = add_node(b, "Gemm", nm, bias >= 0 ? 3 : 2, ins, 1, &yout);
    if (!nd || attr_int(b, nd, "transB", 1) || fused_act(b, o, 0, nd)) return -1;
    if (!direct) {
        b->produced[yout] = 1;
        const tinfo *yi = &b->ti[y];
        if (yi->ndim < 0) return op_err(b, "output shape unknown");
        for (int d = 0; d < yi->ndim; d++)
            if (yi->dims[d] <= 0) return op_err(b, "output shape unknown");
        if (emit_reshape(b, yout, y, yi->ndim, yi->dims, o->nodename)) return -1;
    }
    return 0;
}

/* Reads a constant integer vector (int32 or int64) input. */
static int const_ints(builder *b, int ti, int64_t *v, int max, int *n)
{
    const gtensor *t = T(b, ti);
    if (!t->data) return op_err(b, "axes/paddings must be constant");
    if (t->dtype != DT_I32 && t->dtype != DT_I64) return op_err(b, "axes/paddings must be integers");
    size_t es = elem_size(t->dtype), cnt = t->nbytes / es;
    if ((int)cnt > max || cnt > (size_t)max) return op_err(b, "too many axes/paddings");
    for (size_t i = 0; i < cnt; i++) {
        if (es == 4) {
            int32_t x;
            memcpy(&x, (const uint8_t *)t->data + 4 * i, 4);
            v[i] = x;
        } else {
            memcpy(&v[i], (const uint8_t *)t->data + 8 * i, 8);
        }
    }
    *n = (int)cnt;
    return 0;
}

static int reduce(builder *b, const opinfo *o, const char *op)
{
    if (need(b, o, 2, 1) || want_opts(b, o, BO_REDUCER)) return -1;
    int keep = 0;
    if (opt_i8(b, o, 0, &keep)) return -1;
    int x = o->in[0], y = o->out[0];
    int rank = T(b, x)->ndim;
    if (rank < 1) return op_err(b, "input rank unknown");
    int64_t axes[TENSOR_MAXDIM];
    int na;
    if (const_ints(b, o->in[1], axes, TENSOR_MAXDIM, &na)) return -1;
    int red[TENSOR_MAXDIM] = { 0 };
    for (int i = 0; i < na; i++) {
        if (axes[i] < -rank || axes[i] >= rank) return op_err(b, "axis out of range");
        int a = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
        red[a] = 1;
    }
    int64_t la[TENSOR_MAXDIM];
    int nl = 0;
    for (int a = 0; a < rank; a++)      /* logical axes, ascending */
        for (int s = 0; s < rank; s++)
            if (red[s] && (rank == 4 ? nhwc_axis_to_nchw[s] : s) == a) la[nl++] = a;
    /* With keep_dims false, the kept NHWC axes must keep their order. */
    int inorder = 1;
    if (rank == 4 && !keep) {
        int last = -1;
        for (int s = 0; s < 4; s++) {
            if (red[s]) continue;
            if (nhwc_axis_to_nchw[s] < last) inorder = 0;
            last = nhwc_axis_to_nchw[s];
        }
    }
    int target = y;
    if (!inorder) {
        int64_t kd[4];
        const gtensor *xt = T(b, x);
        if (!dims_known(xt)) return op_err(b, "input shape unknown");
        for (int a = 0; a < 4; a++) kd[a] = xt->dims[a];
        for (int i = 0; i < nl; i++) kd[la[i]] = 1;
        target = add_temp(b, y, "keepdims", 4, kd);
        if (target < 0) return -1;
    }
    char nm[400];
    snprintf(nm, sizeof nm, "%.300s%s", o->nodename, inorder ? "" : "/reduce");
    gnode *nd = add_node(b, op, nm, 1, &x, 1, &target);
    if (!nd || attr_ints(b, nd, "axes", nl, la) || attr_int(b, nd, "keepdims", inorder ? keep != 0 : 1))
        return -1;
    if (!inorder) {
        b->produced[target] = 1;
        const tinfo *yi = &b->ti[y];
        for (int d = 0; d < yi->ndim; d++)
            if (yi->dims[d] <= 0) return op_err(b, "output shape unknown");
        if (yi->ndim < 0 || emit_reshape(b, target, y, yi->ndim, yi->dims, o->nodename)) return -1;
    }
    return 0;
}

static int pad(builder *b, const opinfo *o, int v2)
{
    if (need(b, o, 2, 1)) return -1;
    int x = o->in[0];
    int rank = T(b, x)->ndim;
    if (rank < 1) return op_err(b, "input rank unknown");
    int64_t p[2 * TENSOR_MAXDIM], q[2 * TENSOR_MAXDIM];
    int np;
    if (const_ints(b, o->in[1], p, 2 * TENSOR_MAXDIM, &np)) return -1;
    if (np != 2 * rank) return op_err(b, "paddings do not match the input rank");
    for (int s = 0; s < rank; s++) {
        int a = rank == 4 ? nhwc_axis_to_nchw[s] : s;
        q[a] = p[2 * s];
        q[rank + a] = p[2 * s + 1];
    }
    int pt = add_const_i64(b, T(b, o->out[0])->name, "pads", 2 * rank, q);
    if (pt < 0) return -1;
    int ins[3] = { x, pt, v2 ? op_in(o, 2) : -1 };
    gnode *nd = add_node(b, "Pad", o->nodename, ins[2] >= 0 ? 3 : 2, ins, 1, o->out);
    if (!nd || attr_str(b, nd, "mode", "constant")) return -1;
    return 0;
}

/* TRANSPOSE with a constant perm P (NHWC meaning).  For 4-D tensors the
 * logical perm is Q[j] = nchw(P[nhwc(j)]): logical axis j is NHWC axis
 * perm_nhwc_to_nchw[j], and NHWC axis m is logical axis nhwc_axis_to_nchw[m]. */
static int transpose(builder *b, const opinfo *o)
{
    if (need(b, o, 2, 1)) return -1;
    int x = o->in[0];
    int rank = T(b, x)->ndim;
    int64_t p[TENSOR_MAXDIM], q[TENSOR_MAXDIM];
    int np, seen = 0;
    if (rank < 1 || T(b, o->out[0])->ndim != rank) return op_err(b, "rank unknown or changed");
    if (const_ints(b, o->in[1], p, TENSOR_MAXDIM, &np)) return -1;
    if (np != rank) return op_err(b, "perm does not match the input rank");
    for (int i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || (seen & 1 << p[i])) return op_err(b, "perm is not a permutation");
        seen |= 1 << p[i];
    }
    for (int j = 0; j < rank; j++)
        q[j] = rank == 4 ? nhwc_axis_to_nchw[p[perm_nhwc_to_nchw[j]]] : p[j];
    gnode *nd = add_node(b, "Transpose", o->nodename, 1, &x, 1, o->out);
    return nd && !attr_ints(b, nd, "perm", rank, q) ? 0 : -1;
}

static int clip(builder *b, const opinfo *o, float lo, float hi)
{
    if (need(b, o, 1, 1)) return -1;
    const char *base = T(b, o->out[0])->name;
    int mn = add_const_f32(b, base, "min", lo);
    if (mn < 0) return -1;
    int mx = add_const_f32(b, base, "max", hi);
    if (mx < 0) return -1;
    int ins[3] = { o->in[0], mn, mx };
    return add_node(b, "Clip", o->nodename, 3, ins, 1, o->out) ? 0 : -1;
}

static int unary(builder *b, const opinfo *o, const char *op)
{
    if (need(b, o, 1, 1)) return -1;
    return add_node(b, op, o->nodename, 1, o->in, 1, o->out) ? 0 : -1;
}

static int convert_op(builder *b, opinfo *o)
{
    switch (o->code) {
    case B_CONV_2D:           return conv_like(b, o, 0);
    case B_DEPTHWISE_CONV_2D: return conv_like(b, o, 1);
    case B_AVERAGE_POOL_2D:   return pool(b, o, 1);
    case B_MAX_POOL_2D:       return pool(b, o, 0);
    case B_ADD:               return binary(b, o, "Add", BO_ADD, 1);
    case B_MUL:               return binary(b, o, "Mul", BO_MUL, 1);
    case B_SUB:               return binary(b, o, "Sub", BO_SUB, 1);
    case B_DIV:               return binary(b, o, "Div", BO_DIV, 1);
    case B_MAXIMUM:           return binary(b, o, "Max", 0, 0);
    case B_MINIMUM:           return binary(b, o, "Min", 0, 0);
    case B_CONCATENATION:     return concat(b, o);
    case B_RESHAPE:
    case B_SQUEEZE:
    case B_EXPAND_DIMS:       return reshape(b, o);
    case B_TRANSPOSE:         return transpose(b, o);
    case B_SOFTMAX:           return softmax(b, o);
    case B_FULLY_CONNECTED:   return fully_connected(b, o);
    case B_MEAN:              return reduce(b, o, "ReduceMean");
    case B_SUM:               return reduce(b, o, "ReduceSum");
    case B_REDUCE_MAX:        return reduce(b, o, "ReduceMax");
    case B_REDUCE_MIN:        return reduce(b, o, "ReduceMin");
    case B_REDUCE_PROD:       return reduce(b, o, "ReduceProd");
    case B_QUANTIZE:
    case B_DEQUANTIZE:        return unary(b, o, "Identity");
    case B_RELU:              return unary(b, o, "Relu");
    case B_RELU6:             return clip(b, o, 0.0f, 6.0f);
    case B_RELU_N1_TO_1:      return clip(b, o, -1.0f, 1.0f);
    case B_TANH:              return unary(b, o, "Tanh");
    case B_LOGISTIC:          return unary(b, o, "Sigmoid");
    case B_HARD_SWISH:        return unary(b, o, "HardSwish");
    case B_PAD:               return pad(b, o, 0);
    case B_PADV2:             return pad(b, o, 1);
    case B_LEAKY_RELU: {
        if (need(b, o, 1, 1) || want_opts(b, o, BO_LEAKY_RELU)) return -1;
        float alpha;
        if (opt_f32(b, o, 0, 0.0f, &alpha)) return -1;
        gnode *nd = add_node(b, "LeakyRelu", o->nodename, 1, o->in, 1, o->out);
        return nd && !attr_float(b, nd, "alpha", alpha) ? 0 : -1;
    }
    default: {
        /* Kept as is, so that the engine names it when it refuses it. */
        char op[160];
        if (o->code == B_CUSTOM)
            snprintf(op, sizeof op, "%s", o->name);
        else
            snprintf(op, sizeof op, "TFLITE_%s", o->name);
        return add_node(b, op, o->nodename, o->nin, o->in, o->nout, o->out) ? 0 : -1;
    }
    }
}

/* Checks that every node reads tensors already computed (constants, graph
 * inputs, variables, earlier outputs) and that each tensor is written once. */
static int check_order(builder *b, int first_node)
{
    for (int k = first_node; k < b->g.nnodes; k++) {
        const gnode *nd = &b->g.nodes[k];
        for (int i = 0; i < nd->nin; i++) {
            int t = nd->in[i];
            if (t < 0) continue;
            if (!b->produced[t] && !b->g.tensors[t].data && !(t < b->nmodel && b->ti[t].is_var))
                return err_set(b->e, "operator %d (%s): tensor '%s' is read before it is written",
                               b->cur_op, b->cur_name, b->g.tensors[t].name);
        }
        for (int i = 0; i < nd->nout; i++) {
            int t = nd->out[i];
            if (b->g.tensors[t].data || b->produced[t] == 2)
                return err_set(b->e, "operator %d (%s): output tensor '%s' is a constant, "
                               "a graph input or written twice",
                               b->cur_op, b->cur_name, b->g.tensors[t].name);
            b->produced[t] = 2;
        }
    }
    return 0;
}

/* Reads the int32 vector v as tensor indices (allow_omit: -1 allowed). */
static int read_indices(builder *b, const fvec *v, int allow_omit, int *out)
{
    for (uint32_t i = 0; i < v->len; i++) {
        int32_t t = vec_i32(b->f, v, i);
        if (t < (allow_omit ? -1 : 0) || t >= b->nmodel)
            return err_set(b->e, "tensor index %d out of range (%d tensors)", (int)t, b->nmodel);
        out[i] = t;
    }
    return 0;
}

typedef struct {
    int code;
    const char *custom;
    size_t clen;
} opcode;

static int load(builder *b, err_t *e)
{
    const fbuf *f = b->f;
    if (f->n < 8) return err_set(e, "file too short for a TFLite model (%zu bytes)", f->n);
    if (memcmp(f->b + 4, "TFL3", 4) != 0)
        return err_set(e, "not a TFLite model (no \"TFL3\" identifier)");
    ftable m;
    if (fb_table(f, ld32(f->b), &m, e)) return err_prefix(e, "model");
    uint32_t version;
    if (fb_u32(f, &m, MODEL_VERSION, 0, &version, e)) return err_prefix(e, "model");
    if (version != 3) return err_set(e, "model: schema version %u, not 3", (unsigned)version);

    /* operator codes */
    fvec ocv, sgv, bufv;
    if (fb_vec(f, &m, MODEL_OPCODES, 4, &ocv, e) < 0) return err_prefix(e, "operator_codes");
    if (fb_vec(f, &m, MODEL_SUBGRAPHS, 4, &sgv, e) < 0) return err_prefix(e, "subgraphs");
    if (fb_vec(f, &m, MODEL_BUFFERS, 4, &bufv, e) < 0) return err_prefix(e, "buffers");
    if (sgv.len < 1) return err_set(e, "model has no subgraph");
    if (charge(b, (size_t)ocv.len * sizeof(opcode))) return -1;
    opcode *oc = calloc(ocv.len ? ocv.len : 1, sizeof *oc);
    if (!oc) return err_set(e, "out of memory");
    int rc = -1;
    int *idx = NULL;
    for (uint32_t i = 0; i < ocv.len; i++) {
        ftable t;
        int dep;
        int32_t code;
        if (fb_vec_table(f, &ocv, i, &t, e) || fb_i8(f, &t, OC_DEPRECATED_CODE, 0, &dep, e) ||
            fb_i32(f, &t, OC_BUILTIN_CODE, 0, &code, e) ||
            fb_str(f, &t, OC_CUSTOM_CODE, &oc[i].custom, &oc[i].clen, e)) {
            err_prefix(e, "operator code %u", (unsigned)i);
            goto out;
        }
        oc[i].code = code > dep ? code : dep;     /* as TFLite's GetBuiltinCode */
    }

    /* subgraph 0: tensors */
    ftable sg;
    fvec tv, inv, outv, opv;
    if (fb_vec_table(f, &sgv, 0, &sg, e) || fb_vec(f, &sg, SG_TENSORS, 4, &tv, e) < 0 ||
        fb_vec(f, &sg, SG_INPUTS, 4, &inv, e) < 0 || fb_vec(f, &sg, SG_OUTPUTS, 4, &outv, e) < 0 ||
        fb_vec(f, &sg, SG_OPERATORS, 4, &opv, e) < 0) {
        err_prefix(e, "subgraph 0");
        goto out;
    }
    if (charge(b, (size_t)tv.len * sizeof(tinfo))) goto out;
    b->ti = calloc(tv.len ? tv.len : 1, sizeof *b->ti);
    if (!b->ti) {
        err_set(e, "out of memory");
        goto out;
    }
    if (reserve_model_tensors(b, tv.len)) goto out;
    b->nmodel = (int)tv.len;
    for (uint32_t i = 0; i < tv.len; i++)
        if (read_tensor(b, &tv, i)) {
            err_prefix(e, "tensor %u", (unsigned)i);
            goto out;
        }
    if (name_tensors(b)) goto out;

    /* operators: roles of the tensors (depthwise filters keep their own
     * layout), then conversion */
    for (uint32_t k = 0; k < opv.len; k++) {
        ftable ot;
        fvec iv;
        uint32_t oi;
        if (fb_vec_table(f, &opv, k, &ot, e) || fb_u32(f, &ot, OP_OPCODE_INDEX, 0, &oi, e) ||
            fb_vec(f, &ot, OP_INPUTS, 4, &iv, e) < 0) {
            err_prefix(e, "operator %u", (unsigned)k);
            goto out;
        }
        if (oi >= ocv.len) {
            err_set(e, "operator %u: opcode index %u out of range", (unsigned)k, (unsigned)oi);
            goto out;
        }
        if (charge(b, (size_t)iv.len)) goto out;
        for (uint32_t i = 0; i < iv.len; i++) {
            int32_t t = vec_i32(f, &iv, i);
            if (t < 0 || t >= b->nmodel) continue;      /* checked below */
            b->ti[t].uses++;
            if (oc[oi].code == B_DEPTHWISE_CONV_2D && i == 1) b->ti[t].dw_uses++;
        }
    }
    for (int i = 0; i < b->nmodel; i++)
        if (convert_tensor(b, &bufv, i)) {
            err_prefix(e, "tensor %d ('%s')", i, b->g.tensors[i].name);
            goto out;
        }
    memset(b->produced, 0, (size_t)b->g.ntensors);

    /* graph inputs and outputs */
    if (charge(b, ((size_t)inv.len + outv.len) * sizeof(int))) goto out;
    b->g.inputs = malloc(((size_t)inv.len + 1) * sizeof(int));
    b->g.outputs = malloc(((size_t)outv.len + 1) * sizeof(int));
    if (!b->g.inputs || !b->g.outputs) {
        err_set(e, "out of memory");
        goto out;
    }
    if (read_indices(b, &inv, 0, b->g.inputs) || read_indices(b, &outv, 0, b->g.outputs)) {
        err_prefix(e, "subgraph 0: inputs/outputs");
        goto out;
    }
    for (uint32_t i = 0; i < inv.len; i++) {
        int t = b->g.inputs[i];
        if (b->g.tensors[t].data) continue;            /* constants are not inputs */
        b->g.inputs[b->g.ninputs++] = t;
        b->produced[t] = 2;
    }
    b->g.noutputs = (int)outv.len;

    /* operators */
    for (uint32_t k = 0; k < opv.len; k++) {
        ftable ot;
        fvec iv, ov;
        uint32_t oi;
        opinfo o;
        memset(&o, 0, sizeof o);
        b->cur_op = (int)k;
        b->cur_name = "?";
        if (fb_vec_table(f, &opv, k, &ot, e) || fb_u32(f, &ot, OP_OPCODE_INDEX, 0, &oi, e) ||
            fb_vec(f, &ot, OP_INPUTS, 4, &iv, e) < 0 || fb_vec(f, &ot, OP_OUTPUTS, 4, &ov, e) < 0 ||
            fb_u8(f, &ot, OP_OPTIONS_TYPE, 0, &o.opt_type, e)) {
            err_prefix(e, "operator %u", (unsigned)k);
            goto out;
        }
        int r = o.opt_type ? fb_subtable(f, &ot, OP_OPTIONS, &o.opt, e) : 0;
        if (r < 0) {
            err_prefix(e, "operator %u: builtin options", (unsigned)k);
            goto out;
        }
        o.has_opt = r;
        o.code = oc[oi].code;
        char custom[128];
        if (o.code == B_CUSTOM) {
            size_t cl = oc[oi].clen < sizeof custom - 1 ? oc[oi].clen : sizeof custom - 1;
            memcpy(custom, oc[oi].custom, cl);
            custom[cl] = '\0';
            if (cl == 0 || strlen(custom) == 0) snprintf(custom, sizeof custom, "TFLITE_CUSTOM");
            o.name = custom;
        } else if (o.code >= 0 && o.code < NBUILTIN) {
            o.name = builtin_names[o.code];
        } else {
            snprintf(custom, sizeof custom, "BUILTIN_%d", o.code);
            o.name = custom;
        }
        b->cur_name = o.name;
        if (charge(b, ((size_t)iv.len + ov.len) * sizeof(int))) goto out;
        idx = malloc(((size_t)iv.len + ov.len + 1) * sizeof(int));
        if (!idx) {
            err_set(e, "out of memory");
            goto out;
        }
        o.in = idx;
        o.out = idx + iv.len;
        o.nin = (int)iv.len;
        o.nout = (int)ov.len;
        if (read_indices(b, &iv, 1, o.in) || read_indices(b, &ov, 0, o.out)) {
            err_prefix(e, "operator %u (%s)", (unsigned)k, o.name);
            goto out;
        }
        if (o.nout > 0)     /* the output's name up to the first ';' of a fused name */
            snprintf(o.nodename, sizeof o.nodename, "%.*s",
                     (int)strcspn(b->g.tensors[o.out[0]].name, ";") > 300 ? 300 :
                     (int)strcspn(b->g.tensors[o.out[0]].name, ";"),
                     b->g.tensors[o.out[0]].name);
        else
            snprintf(o.nodename, sizeof o.nodename, "op%u", (unsigned)k);
        int first = b->g.nnodes;
        if (convert_op(b, &o) || check_order(b, first)) goto out;
        free(idx);
        idx = NULL;
    }
    for (int i = 0; i < b->g.noutputs; i++) {
        int t = b->g.outputs[i];
        if (!b->produced[t] && !b->g.tensors[t].data) {
            err_set(e, "subgraph 0: output tensor '%s' is never computed", b->g.tensors[t].name);
            goto out;
        }
    }
    rc = 0;
out:
    free(idx);
    free(oc);
    return rc;
}

static int tflite_load(const void *buf, size_t n, int borrow, graph *g, err_t *e)
{
    fbuf f = { buf, n };
    builder b;
    memset(&b, 0, sizeof b);
    b.f = &f;
    b.e = e;
    b.borrow = borrow;
    /* Generous: the real models need about 3x their size. */
    b.budget = n > SIZE_MAX / 32 ? SIZE_MAX : 16 * n + ((size_t)64 << 20);
    if (!buf && n) return err_set(e, "no data");
    if (load(&b, e)) {
        builder_free(&b);
        return -1;
    }
    g->format = GRAPH_TFLITE;
    g->opset = 0;
    g->ntensors = b.g.ntensors;
    g->tensors = b.g.tensors;
    g->nnodes = b.g.nnodes;
    g->nodes = b.g.nodes;
    g->ninputs = b.g.ninputs;
    g->inputs = b.g.inputs;
    g->noutputs = b.g.noutputs;
    g->outputs = b.g.outputs;
    g->nmeta = 0;
    g->meta = NULL;
    free(b.ti);
    free(b.names);
    free(b.produced);
    return 0;
}

int tflite_load_buffer(const void *buf, size_t n, graph *g, err_t *e)
{
    return tflite_load(buf, n, 0, g, e);
}

int tflite_load_borrowed(const void *buf, size_t n, graph *g, err_t *e)
{
    return tflite_load(buf, n, 1, g, e);
}
