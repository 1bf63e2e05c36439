/* train.h - a new linear head on globally pooled CNN features (the CAM
 * paper's "generic localisation", §4), and the head file that carries it.
 *
 * HEAD FILE: a tensor stream (cam-tensor(5)) of three records, all with
 * metadata kind=head:
 *   weights   f32, shape C K (axes "C K"): W, row c = class c's weights on
 *             the K pooled features (= the CAM weights: M_c = sum_k W[c][k] f_k)
 *   bias      f32, shape C: b (logit S_c = mean(M_c) + b_c)
 *   labels    u8, shape N: the C class names, each ended by '\n' (UTF-8)
 * The weights record also carries: classes (C), features (K), layer (the
 * feature tensor the head was trained on), model and model_sha256 (when
 * the training features named them), and what trained it (trainer,
 * lambda, seed, train_acc, cv_acc, cv_folds).  Readers look records up by
 * name, in any order; labels is optional.
 */
#ifndef CAM_TRAIN_H
#define CAM_TRAIN_H

#include <stdint.h>
#include <stdio.h>
#include "head.h"
#include "tensor.h"
#include "tstream.h"

/* Reads a head file ("-": stdin) into h: K, nclasses, W, b, labels (NULL
 * when the file has none), feature = the 'layer' key (NULL when absent);
 * pooled and logits NULL, identity 0.  Free with head_free(). */
int head_load_file(const char *path, cam_head *h, err_t *e);
/* The same from an open reader (for tests and fuzzing, with tsr_mem). */
int head_load_stream(tsr *r, cam_head *h, err_t *e);

/* Writes h as a head file to path ("-": stdout).  meta (nmeta pairs, may
 * be NULL) is added to the weights record.  The file is written to a
 * temporary name beside path and renamed, so it is whole or absent. */
int head_write_file(const char *path, const cam_head *h, const tensor_kv *meta, int nmeta, err_t *e);

/* Global average pooling of a feature record (K x H x W, or 1 x K x H x W;
 * any dtype tensor_to_f32 converts) into out[K] (accumulated in double).
 * *K is set; out is malloc'd. */
int train_pool(tensor *t, float **out, int *K, err_t *e);

/* Labels CSV: "name,label" per line (an optional header line "name,label";
 * the label is everything after the first comma, without surrounding
 * spaces; blank lines skipped).  Fills names[] and labels[] (malloc'd
 * arrays of malloc'd strings).  Messages name label:line. */
int train_read_labels(FILE *f, const char *label, char ***names, char ***labels, int *n, err_t *e);

enum { TRAIN_SOFTMAX = 0, TRAIN_SVM = 1 };

typedef struct {
    int    method;      /* TRAIN_SOFTMAX: multinomial logistic regression;
                           TRAIN_SVM: one-vs-rest linear SVM, squared hinge */
    double lambda;      /* L2 penalty on the standardised weights */
    int    maxiter;     /* L-BFGS iterations */
    double tol;         /* stop when the gradient's max-norm is below */
} train_opts;

/* Fits W (C x K) and b (C) on n samples X (n x K, row-major) with classes
 * y[i] in 0..C-1.  Features are standardised internally (mean 0, std 1;
 * a constant feature is only centred), and W, b are returned for the RAW
 * pooled features: S = W x + b.  Deterministic.  *iters gets the
 * iterations used (may be NULL). */
int train_fit(const float *X, const int *y, int n, int K, int C, const train_opts *o,
              float *W, float *b, int *iters, err_t *e);

/* Class of largest score W x + b (first on ties). */
int train_predict(const float *x, int K, int C, const float *W, const float *b);

/* Stratified k-fold cross-validation: samples of each class are shuffled
 * (seeded xorshift) and dealt to the folds in turn; each fold is predicted
 * by a model fitted on the others.  pred[i] gets sample i's prediction. */
int train_cv(const float *X, const int *y, int n, int K, int C, int folds, uint64_t seed,
             const train_opts *o, int *pred, err_t *e);

#endif
