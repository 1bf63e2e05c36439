/* models.h - finding the model a record names, and the classifier view of
 * it that the CAM stages share (gap-classify, cam-map).
 *
 * A record names its model by the path given to cnn-features ("model") and
 * the file's digest ("model_sha256").  The path is looked for as given,
 * then as $CAM_MODELS/<basename>, then as ../shared/models/<basename>
 * relative to the current directory; the first file that exists is used,
 * and when the record carries a digest the file's must equal it.
 */
#ifndef CAM_MODELS_H
#define CAM_MODELS_H

#include <stdio.h>
#include "graph.h"
#include "head.h"
#include "tensor.h"

/* The path of the first existing candidate for name, malloc'd; NULL with e
 * set (naming every place looked at) when there is none. */
char *model_locate(const char *name, err_t *e);

/* model_locate + graph_load; sha256 (NULL or "" to skip) must equal the
 * file's digest, else an error naming both digests. */
int model_load(const char *name, const char *sha256, graph *g, err_t *e);

/* A classifier: the model, its CAM head, and what turns a feature record
 * into logits. */
typedef struct {
    char    *name;        /* model as named (record or -m) */
    char    *sha256;      /* the record's digest, or NULL */
    graph    g;
    cam_head head;
    int      loaded;      /* 1: model and head; 2: a head file alone */
    struct engine *en;    /* runs the head: feature tensor -> logits */
    struct engine_shapes *shapes;   /* the load's shape inference, for the
                                       first engine_create (then NULL) */
    int64_t  en_dims[4];  /* the feature shape it was planned for */
} cam_classifier;

/* Opens (or keeps, when it is already the same model) the classifier for
 * model name.  layer: the record's feature tensor name, or NULL for the
 * automatic CAM layer; labels: a labels file or NULL. */
int cam_classifier_open(cam_classifier *c, const char *name, const char *sha256,
                        const char *layer, const char *labels, err_t *e);
void cam_classifier_close(cam_classifier *c);
/* A classifier from a head file of gap-train(1) (train.h) instead of a
 * model: logits = W . GAP(f) + b computed directly. */
int cam_classifier_open_head(cam_classifier *c, const char *path, err_t *e);

/* The classifier for one feature record (kind features or tensor): the
 * head file head_path when not NULL, else model_opt when not NULL, else the
 * model, digest and layer the record names; then cam_features_check.
 * Keeps what is already open when it fits.  Fills K, h, w. */
int cam_classifier_for_record(cam_classifier *c, tensor *t, const char *model_opt,
                              const char *head_path, const char *labels,
                              int *K, int *h, int *w, err_t *e);

/* Checks a feature record against the head: f32 payload (converted in
 * place), C x h x w or 1 x C x h x w with C = head.K.  Fills K, h, w. */
int cam_features_check(const cam_classifier *c, tensor *t, int *K, int *h, int *w, err_t *e);

/* logits (nclasses floats) of a checked feature record: the model's own
 * graph from the feature tensor to the logits, run by the engine (global
 * average pooling, the linear layer with its bias; identity head: the
 * pooled channels), so that quantised heads give the model's numbers.
 * With a head file: global average pooling and W, b in double. */
int cam_classifier_logits(cam_classifier *c, const float *feat, int K, int h, int w,
                          float *logits, err_t *e);

/* Class map of class cls (h*w floats): sum_k W[cls][k] f_k (the row read
 * from the model when the map is asked for), or channel cls for an
 * identity head.  0, or -1 (e set). */
int  cam_classifier_map(const cam_classifier *c, const float *feat, int K, int h, int w,
                        int cls, float *map, err_t *e);

/* The name of class cls, or "-" when the model has no labels. */
const char *cam_classifier_label(const cam_classifier *c, int cls);

/* Softmax of n logits into prob (double accumulation, max subtracted). */
void cam_softmax(const float *logits, int n, double *prob);

/* Indices of the k largest logits, descending; ties: the lower index first. */
void cam_topk(const float *logits, int n, int k, int *idx);

/* Writes the k best classes (k > n: n) as gap-classify prints them, one
 * line each: "source rank class probability label" (tab-separated, the
 * probability with 6 decimals).  0, or -1 with e set (out of memory, a
 * write error on f). */
int cam_write_top(FILE *f, const char *source, const cam_classifier *c, const float *logits,
                  const double *prob, int n, int k, err_t *e);

/* Resolves a class given as an index or as a label (exact, or the part of
 * a synset line after its WordNet id, or the first comma-separated name).
 * Returns the index, or -1 with e set. */
int cam_class_parse(const cam_classifier *c, const char *s, err_t *e);

#endif
