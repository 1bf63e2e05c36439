/* eval.h - localisation metrics as the CAM paper and wsolevaluation define
 * them: ground truth, the pipeline's text outputs, IoU, and the
 * accumulation of classification, top-k / GT-known localisation and
 * MaxBoxAcc results.
 *
 * Boxes are inclusive integer pixel boxes [x0,y0,x1,y1] (ILSVRC devkit,
 * wsolevaluation): width = x1 - x0 + 1.
 *
 * Images are matched by a KEY: the name with any directories removed and
 * then its last extension (the last '.' and what follows, when that dot is
 * not the first character) removed: "dir/a.JPEG", "a.ppm" and "a" all give
 * "a".
 *
 * Nothing here prints or exits; parsers report "label:line: what".
 */
#ifndef CAM_EVAL_H
#define CAM_EVAL_H

#include <stdio.h>
#include "err.h"

#define EVAL_MAXK     5        /* ranks kept from gap-classify output */
#define EVAL_MAXLINE  65536    /* longest accepted input line */
#define EVAL_MAXTHR   1001     /* most thresholds in a sweep */
#define EVAL_NDELTA   3        /* IoU thresholds of MaxBoxAccV2: .3 .5 .7 */

typedef struct {
    int x0, y0, x1, y1;
} ebox;

/* Intersection over union of two inclusive boxes; 0 when they do not
 * overlap or when either box is empty (x1 < x0 or y1 < y0). */
double eval_iou(const ebox *a, const ebox *b);
/* Largest IoU of b with any of the n boxes gt (0 when n == 0). */
double eval_iou_max(const ebox *b, const ebox *gt, int n);

/* The matching key of an image name (see above) into out[n].  Returns 0,
 * or -1 when the key is empty or does not fit. */
int eval_name_key(const char *name, char *out, size_t n, err_t *e);

typedef struct {
    int  cls;
    ebox box;
} eval_pbox;

/* Per-image state: ground truth, predictions, and results. */
typedef struct {
    char     *key;
    char     *name;        /* image name as written in the ground truth */
    int       gt_class;    /* in the model's numbering (offset applied) */
    int       ngt;
    ebox     *gt;
    /* gap-classify lines */
    int       has_scores;
    int       top[EVAL_MAXK];  /* class at rank r+1, -1 when absent */
    /* cam-bbox lines, in input order */
    int       has_boxes;
    int       npred, cappred;
    eval_pbox *pred;
    /* map results (eval_add_map_result) */
    int       has_map;
    double    map_gtk_iou;     /* paper-rule box of the GT-class map, < 0: none */
    double   *iou_v1;          /* [nthr]: v1 box IoU (max over GT boxes) */
    double   *iou_v2;          /* [nthr]: best IoU over all contours */
} eval_image;

typedef struct {
    int         n, cap;
    eval_image *im;
    size_t      hcap;          /* hash table of indices + 1, 0 = empty */
    int        *hash;
    int         nthr;          /* thresholds of the sweep */
    double      step;
} eval_set;

void eval_init(eval_set *s);
void eval_free(eval_set *s);

/* Adds an image by name (its key must be new: else an error naming both
 * names) and returns it, with no ground truth yet. */
eval_image *eval_add(eval_set *s, const char *name, err_t *e);

/* The image with this name (by key), or NULL. */
eval_image *eval_find(const eval_set *s, const char *name);

/* Ground truth CSV "image,class,wnid,x0,y0,x1,y1": an optional header line
 * starting with "image,"; one row per box, several rows per image (all of
 * one class); class >= 0; 0 <= x0 <= x1, 0 <= y0 <= y1.  class_offset is
 * added to every class.  Blank lines are skipped; CR before LF accepted.
 * label names the file in messages ("boxes.csv:12: field 4 ...").
 * Returns 0, or -1 with e set. */
int eval_read_gt(eval_set *s, FILE *f, const char *label, int class_offset, err_t *e);

/* gap-classify lines "name TAB rank TAB class TAB probability TAB label".
 * Ranks > EVAL_MAXK are ignored.  unknown_ok: lines for images absent from
 * the ground truth are skipped (else an error naming the line). */
int eval_read_scores(eval_set *s, FILE *f, const char *label, int unknown_ok, err_t *e);

/* cam-bbox lines "name TAB class TAB x0 TAB y0 TAB x1 TAB y1 [TAB ...]". */
int eval_read_boxes(eval_set *s, FILE *f, const char *label, int unknown_ok, err_t *e);

/* Sets the threshold sweep: tau_i = i * step for i = 0.. while tau_i < 1
 * (step 0.01: 100 thresholds, as np.arange(0, 1, 0.01)). */
int eval_set_sweep(eval_set *s, double step, err_t *e);

/* Per-contour boxes of one thresholded map, as the wsol rule gives them:
 * the number of boxes and, for v1, the index of the largest contour. */
typedef struct {
    int   nbox;
    ebox *box;
    int   largest;             /* index of the v1 box in box[] */
} eval_boxes;

/* The wsol boxes (all contours, and which is the largest) of one map of
 * w x h pixels (already at the image size) at every threshold of s's
 * sweep: for each tau_i exactly what cam_box_wsol(m, w, h, tau_i, 1, ...)
 * gives, with cam_box_wsol(..., 0, ...)'s box at index largest.  The map is
 * normalised once and contours are traced only inside the bounding
 * rectangle of the foreground.  out[0..nthr-1] is filled; free with
 * eval_boxes_free. */
int eval_wsol_sweep(const eval_set *s, const double *m, int w, int h, eval_boxes *out, err_t *e);
void eval_boxes_free(eval_boxes *b, int n);

/* Records image im's sweep: boxes[i] are the wsol boxes at tau_i (all
 * contours, with the index of the largest), gtk_iou the IoU of the paper
 * box of the GT-class map (< 0: not computed).  Copies what it needs. */
int eval_add_map_result(eval_set *s, eval_image *im, const eval_boxes *boxes,
                        double gtk_iou, err_t *e);

/* Options of the final computation. */
typedef struct {
    int boxes_per_class;      /* guesses per class taken from -boxes (>= 1) */
    int missing_ok;           /* images without predictions count as failures */
} eval_opts;

/* Results: accuracies in [0,1]; < 0 means "not computed" (no input for
 * that metric).  thr_* are the best thresholds (the smallest tau reaching
 * the maximum, as numpy's argmax). */
typedef struct {
    int    nimages;
    double top1_cls, top5_cls;
    double top1_loc, top5_loc;
    double gt_known;
    int    gt_known_from;       /* 0 none, 1 boxes, 2 maps */
    int    gt_known_lacking;    /* images without a GT-class box (-boxes) */
    double maxboxacc;           /* v1, IoU 0.5 */
    double maxboxacc_thr;
    double maxboxacc_v2;        /* mean over IoU .3 .5 .7 */
    double v2_delta[EVAL_NDELTA];
    double v2_thr[EVAL_NDELTA];
    /* per-image outcomes, parallel to eval_set.im: bit flags */
    unsigned char *flags;
} eval_result;

enum {
    EVF_TOP1 = 1, EVF_TOP5 = 2, EVF_LOC1 = 4, EVF_LOC5 = 8,
    EVF_GTK = 16, EVF_BOXACC = 32, EVF_MISSING = 128
};

/* Checks that every image has what the given inputs promise (scores,
 * boxes, maps: flags have_*), and computes the metrics.  Without
 * o->missing_ok, the first image lacking an input is an error naming it. */
int eval_compute(const eval_set *s, const eval_opts *o, int have_scores,
                 int have_boxes, int have_maps, eval_result *r, err_t *e);
void eval_result_free(eval_result *r);

/* The box of class cls among im's predictions: the k-th (0-based) line for
 * that class, or NULL. */
const ebox *eval_pred_box(const eval_image *im, int cls, int k);

#endif
