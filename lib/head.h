/* head.h - the CAM view of a classifier: the feature tensor that feeds the
 * final global average pooling, and the linear head after it.
 *
 *   features f (K x h x w) -> GAP -> [Flatten/Reshape/Squeeze] -> linear
 *   (Gemm, MatMul[+Add], FULLY_CONNECTED, 1x1 Conv) -> [Softmax]
 *
 * or, for SqueezeNet/NIN-style nets, features -> GAP -> [Flatten] ->
 * [Softmax]: the classes are the channels (identity head).
 *
 * Class map M_c = sum_k W[c][k] f_k (no bias); logit S_c = mean(M_c) + b_c.
 */
#ifndef CAM_HEAD_H
#define CAM_HEAD_H

#include "graph.h"

typedef struct {
    char   *feature;      /* name of the CAM tensor (input of the GAP) */
    char   *pooled;       /* name of the GAP output */
    char   *logits;       /* name of the pre-softmax class scores tensor */
    int     K;            /* feature channels */
    int     nclasses;
    int     identity;     /* 1: classes are the channels, W and b NULL */
    float  *W;            /* nclasses x K, row-major, dequantised (NULL
                             from head_find_rows: head_weight_row) */
    int     w_tensor;     /* the model's weight constant, -1: none */
    int64_t w_sc, w_sk;   /* its element (c, k) at c * w_sc + k * w_sk */
    float   w_mul;        /* times this (Gemm's alpha) */
    float  *b;            /* nclasses, or NULL when the head has no bias */
    char  **labels;       /* nclasses names, or NULL when unknown */
} cam_head;

/* Finds the GAP that ends the convolutional part (GlobalAveragePool,
 * AveragePool or ReduceMean covering the whole map, TFLite AVERAGE_POOL_2D /
 * MEAN covering it) and the linear head after it.  feature: NULL to find it
 * automatically, else the tensor to treat as the CAM layer.  Labels come from
 * labels_path when not NULL (it must have exactly nclasses lines), else the
 * model's "labels" metadata, else a *labels*.txt file beside the model with
 * exactly nclasses lines. */
/* Requires shapes: call graph_infer_shapes(g, ...) first. */
int  head_find(const graph *g, const char *feature, const char *labels_path,
               cam_head *h, err_t *e);
/* The same, but W is not read (a classifier's 1000 rows of which a map
 * needs one): head_weight_row reads a class's row from g when needed. */
int  head_find_rows(const graph *g, const char *feature, const char *labels_path,
                    cam_head *h, err_t *e);
/* Row c of W (K floats, dequantised as head_find reads it) into row: from
 * h->W, else from g (the graph h was found in).  0, or -1. */
int  head_weight_row(const graph *g, const cam_head *h, int c, float *row);
/* The same search, names and sizes only (feature, pooled, logits, K,
 * nclasses, identity): W, b and labels stay NULL, the weights unread. */
int  head_locate(const graph *g, const char *feature, cam_head *h, err_t *e);
void head_free(cam_head *h);

#endif
