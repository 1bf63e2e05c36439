/* test_eval.c - IoU, name keys, ground-truth / prediction parsing and the
 * metric definitions of lib/eval.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "../tap.h"
#include "eval.h"

static FILE *mem(const char *s)
{
    return fmemopen((void *)s, strlen(s), "r");
}

static int read_gt(eval_set *s, const char *text, int off, err_t *e)
{
    FILE *f = mem(text);
    int rc = eval_read_gt(s, f, "gt.csv", off, e);
    fclose(f);
    return rc;
}

static int read_scores(eval_set *s, const char *text, int unk, err_t *e)
{
    FILE *f = mem(text);
    int rc = eval_read_scores(s, f, "scores", unk, e);
    fclose(f);
    return rc;
}

static int read_boxes(eval_set *s, const char *text, int unk, err_t *e)
{
    FILE *f = mem(text);
    int rc = eval_read_boxes(s, f, "boxes", unk, e);
    fclose(f);
    return rc;
}

/* A ground-truth file that must be rejected, with a message containing want. */
static void gt_bad(const char *text, const char *want, const char *what)
{
    eval_set s;
    err_t e = { "" };
    eval_init(&s);
    int rc = read_gt(&s, text, 0, &e);
    tap_ok(rc < 0 && strstr(e.msg, want) != NULL, "bad gt: %s (%s)", what, e.msg);
    eval_free(&s);
}

static void test_iou(void)
{
    ebox a = { 1, 2, 5, 6 }, b = { 3, 1, 4, 5 };
    tap_ok(fabs(eval_iou(&a, &b) - 8.0 / 27.0) < 1e-15, "IoU([1,2,5,6],[3,1,4,5]) = 8/27");
    tap_ok(eval_iou(&a, &b) == eval_iou(&b, &a), "IoU symmetric");
    tap_ok(eval_iou(&a, &a) == 1.0, "IoU with itself is 1");
    ebox c = { 6, 0, 9, 9 };
    tap_ok(eval_iou(&a, &c) == 0.0, "disjoint boxes: 0");
    ebox d = { 5, 6, 7, 8 };   /* touches one pixel of a */
    tap_ok(fabs(eval_iou(&a, &d) - 1.0 / (25 + 9 - 1)) < 1e-15, "one shared pixel counts (inclusive)");
    ebox z = { 0, 0, 0, 0 }, p = { 0, 0, 1, 1 };
    tap_ok(eval_iou(&z, &p) == 0.25, "[0,0,0,0] is one pixel: IoU 1/4 with a 2x2 box");
    ebox gts[2] = { { 100, 100, 110, 110 }, { 1, 2, 5, 6 } };
    tap_ok(eval_iou_max(&b, gts, 2) == eval_iou(&a, &b), "max over several GT boxes");
    tap_ok(eval_iou_max(&b, gts, 0) == 0.0, "no GT boxes: 0");
}

static void test_keys(void)
{
    char k[64];
    err_t e;
    tap_ok(eval_name_key("dir/sub/ILSVRC2012_val_00000556.JPEG", k, sizeof k, &e) == 0 &&
           strcmp(k, "ILSVRC2012_val_00000556") == 0, "key strips directories and extension");
    tap_ok(eval_name_key("a.b.ppm", k, sizeof k, &e) == 0 && strcmp(k, "a.b") == 0,
           "only the last extension goes");
    tap_ok(eval_name_key(".hidden", k, sizeof k, &e) == 0 && strcmp(k, ".hidden") == 0,
           "a leading dot is not an extension");
    tap_ok(eval_name_key("noext", k, sizeof k, &e) == 0 && strcmp(k, "noext") == 0, "no extension");
    tap_ok(eval_name_key("dir/", k, sizeof k, &e) < 0, "empty key rejected");
    tap_ok(eval_name_key("0123456789012345678901234567890123456789012345678901234567890123456789",
                         k, sizeof k, &e) < 0, "too long key rejected");
}

static const char *GT =
    "image,class,wnid,x0,y0,x1,y1\r\n"
    "a.JPEG,5,n1,0,0,9,9\r\n"
    "b.JPEG,7,n2,0,0,4,4\n"
    "b.JPEG,7,n2,10,10,19,19\n"
    "\n"
    "c.JPEG,9,n3,0,0,99,99\n";

static void test_gt(void)
{
    eval_set s;
    err_t e = { "" };
    eval_init(&s);
    tap_ok(read_gt(&s, GT, 0, &e) == 0, "gt parses (%s)", e.msg);
    tap_ok(s.n == 3, "3 images");
    eval_image *b = eval_find(&s, "/x/b.ppm");
    tap_ok(b && b->ngt == 2 && b->gt_class == 7 && b->gt[1].x0 == 10 && b->gt[1].y1 == 19,
           "several rows of one image give several boxes");
    tap_ok(eval_find(&s, "d") == NULL, "unknown image not found");
    eval_free(&s);

    eval_init(&s);
    tap_ok(read_gt(&s, GT, 1, &e) == 0 && eval_find(&s, "a")->gt_class == 6, "class offset added");
    eval_free(&s);

    gt_bad("image,class,wnid,x0,y0,x1,y1\na,1,n,0,0,5\n", "gt.csv:2: 6 fields", "short line");
    gt_bad("a,1,n,0,0,5,5\nb,x,n,0,0,5,5\n", "gt.csv:2: field 2", "class not a number");
    gt_bad("a,-1,n,0,0,5,5\n", "gt.csv:1: field 2", "negative class");
    gt_bad("a,1,n,0,0,5,5\na,1,n,0,0,5,5x\n", "gt.csv:2: field 7", "trailing garbage in coordinate");
    gt_bad("a,1,n,6,0,5,5\n", "gt.csv:1: box", "x0 > x1");
    gt_bad("a,1,n,0,-1,5,5\n", "gt.csv:1: field 5", "negative coordinate");
    gt_bad("a,1,n,0,0,5,5\na,2,n,0,0,5,5\n", "gt.csv:2: image 'a': class 2", "class changes");
    gt_bad("x/a.jpg,1,n,0,0,5,5\ny/a.png,1,n,0,0,5,5\n", "same key", "two names, one key");
    gt_bad("image,class,wnid,x0,y0,x1,y1\n", "no ground-truth rows", "header only");
    gt_bad("a,1,n,0,0,99999999999,5\n", "field 6", "coordinate overflow");
}

static void test_predictions(void)
{
    eval_set s;
    err_t e = { "" };
    eval_init(&s);
    read_gt(&s, GT, 0, &e);
    const char *sc =
        "a.ppm\t1\t5\t0.9\tfive\n"
        "a.ppm\t2\t3\t0.05\tthree, with a comma\n"
        "b.ppm\t1\t1\t0.5\tone\n"
        "b.ppm\t2\t7\t0.4\tseven\n"
        "c.ppm\t1\t1\t0.3\tone\n"
        "c.ppm\t6\t9\t0.01\tnine\n";
    tap_ok(read_scores(&s, sc, 0, &e) == 0, "scores parse (%s)", e.msg);
    eval_image *a = eval_find(&s, "a");
    tap_ok(a->has_scores && a->top[0] == 5 && a->top[1] == 3 && a->top[2] == -1, "ranks stored");
    tap_ok(eval_find(&s, "c")->top[4] == -1, "rank 6 ignored");

    eval_set s2;
    eval_init(&s2);
    read_gt(&s2, GT, 0, &e);
    tap_ok(read_scores(&s2, "zz\t1\t5\t0.9\tx\n", 0, &e) < 0 &&
           strstr(e.msg, "scores:1: image 'zz' is not in the ground truth"), "unknown image: %s", e.msg);
    tap_ok(read_scores(&s2, "zz\t1\t5\t0.9\tx\n", 1, &e) == 0, "unknown image skipped when allowed");
    tap_ok(read_scores(&s2, "a\t1\t5\t0.9\tx\na\t1\t4\t0.9\tx\n", 0, &e) < 0 &&
           strstr(e.msg, "scores:2: image 'a': rank 1 given twice"), "duplicate rank: %s", e.msg);
    eval_free(&s2);
    eval_init(&s2);
    read_gt(&s2, GT, 0, &e);
    tap_ok(read_scores(&s2, "a\t2\t5\t0.9\tx\n", 0, &e) < 0 && strstr(e.msg, "no rank 1"),
           "missing rank 1: %s", e.msg);
    tap_ok(read_scores(&s2, "a\t1\t5\n", 0, &e) < 0 && strstr(e.msg, "scores:1: 3 fields"),
           "short scores line: %s", e.msg);
    tap_ok(read_scores(&s2, "a\t1\t5\t1.5\tx\n", 0, &e) < 0 && strstr(e.msg, "field 4"),
           "probability out of range: %s", e.msg);
    tap_ok(read_scores(&s2, "a\t0\t5\t0.5\tx\n", 0, &e) < 0 && strstr(e.msg, "field 2"),
           "rank 0: %s", e.msg);
    eval_free(&s2);

    const char *bx =
        "a.ppm\t5\t0\t0\t9\t9\t0.2\t100\n"   /* exact: localised */
        "a.ppm\t3\t50\t50\t60\t60\n"
        "b.ppm\t1\t0\t0\t19\t19\n"
        "b.ppm\t7\t10\t10\t19\t19\n"         /* matches b's second GT box */
        "c.ppm\t1\t0\t0\t99\t99\n"
        "c.ppm\t9\t0\t0\t30\t30\n";          /* IoU 0.0961: not localised */
    tap_ok(read_boxes(&s, bx, 0, &e) == 0, "boxes parse (%s)", e.msg);
    tap_ok(a->npred == 2 && eval_pred_box(a, 3, 0)->x0 == 50 && !eval_pred_box(a, 3, 1),
           "boxes stored by class");
    eval_init(&s2);
    read_gt(&s2, GT, 0, &e);
    tap_ok(read_boxes(&s2, "a\t1\t0\t0\t5\n", 0, &e) < 0 && strstr(e.msg, "boxes:1: 5 fields"),
           "short box line: %s", e.msg);
    tap_ok(read_boxes(&s2, "a\t1\t0\t0\t5\t5.5\n", 0, &e) < 0 && strstr(e.msg, "boxes:1: field 6"),
           "non-integer coordinate: %s", e.msg);
    eval_free(&s2);

    eval_opts o = { 1, 0 };
    eval_result r;
    tap_ok(eval_compute(&s, &o, 1, 1, 0, &r, &e) == 0, "compute (%s)", e.msg);
    tap_ok(fabs(r.top1_cls - 1.0 / 3) < 1e-12, "top-1 classification 1/3");
    tap_ok(fabs(r.top5_cls - 2.0 / 3) < 1e-12, "top-5 classification 2/3 (rank 6 does not count)");
    tap_ok(fabs(r.top1_loc - 1.0 / 3) < 1e-12, "top-1 localisation 1/3 (a)");
    tap_ok(fabs(r.top5_loc - 2.0 / 3) < 1e-12, "top-5 localisation 2/3 (a, b: second GT box)");
    tap_ok(r.gt_known_from == 1 && fabs(r.gt_known - 2.0 / 3) < 1e-12, "GT-known from boxes 2/3");
    tap_ok(r.flags[0] == (EVF_TOP1 | EVF_TOP5 | EVF_LOC1 | EVF_LOC5 | EVF_GTK) &&
           r.flags[1] == (EVF_TOP5 | EVF_LOC5 | EVF_GTK) && r.flags[2] == 0, "per-image flags");
    tap_ok(r.maxboxacc < 0 && r.maxboxacc_v2 < 0, "no maps: no MaxBoxAcc");
    eval_result_free(&r);

    /* Box of the right class but the class only at rank 2: top-5 only. */
    /* Missing boxes for one image: an error naming it, or a failure. */
    eval_init(&s2);
    read_gt(&s2, GT, 0, &e);
    read_scores(&s2, sc, 0, &e);
    read_boxes(&s2, "a\t5\t0\t0\t9\t9\nc\t9\t0\t0\t99\t99\n", 0, &e);
    tap_ok(eval_compute(&s2, &o, 1, 1, 0, &r, &e) < 0 && strstr(e.msg, "image 'b.JPEG': no cam-bbox"),
           "missing image named: %s", e.msg);
    eval_opts om = { 1, 1 };
    tap_ok(eval_compute(&s2, &om, 1, 1, 0, &r, &e) == 0 && (r.flags[1] & EVF_MISSING) &&
           fabs(r.gt_known - 2.0 / 3) < 1e-12 && fabs(r.top5_loc - 1.0 / 3) < 1e-12,
           "-missing-ok: counted as failures");
    eval_result_free(&r);
    eval_free(&s2);

    /* GT class box absent (GT not in top-k): GT-known not computed. */
    eval_init(&s2);
    read_gt(&s2, GT, 0, &e);
    read_boxes(&s2, "a\t5\t0\t0\t9\t9\nb\t1\t0\t0\t9\t9\nc\t9\t0\t0\t99\t99\n", 0, &e);
    tap_ok(eval_compute(&s2, &o, 0, 1, 0, &r, &e) == 0 && r.gt_known < 0 && r.gt_known_lacking == 1 &&
           r.top1_cls < 0, "GT-class box lacking: GT-known not computed, lacking counted");
    eval_result_free(&r);
    eval_free(&s2);

    /* Several guesses per class: the second box counts with boxes_per_class 2. */
    eval_init(&s2);
    read_gt(&s2, "a,5,n,0,0,9,9\n", 0, &e);
    read_boxes(&s2, "a\t5\t50\t50\t60\t60\na\t5\t0\t0\t9\t9\n", 0, &e);
    tap_ok(eval_compute(&s2, &o, 0, 1, 0, &r, &e) == 0 && r.gt_known == 0.0, "first box only by default");
    eval_result_free(&r);
    eval_opts o2 = { 2, 0 };
    tap_ok(eval_compute(&s2, &o2, 0, 1, 0, &r, &e) == 0 && r.gt_known == 1.0, "two guesses per class");
    eval_result_free(&r);
    eval_free(&s2);
    eval_free(&s);
}

static void test_sweep(void)
{
    eval_set s;
    err_t e = { "" };
    eval_init(&s);
    tap_ok(eval_set_sweep(&s, 0.01, &e) == 0 && s.nthr == 100, "step 0.01: 100 thresholds");
    tap_ok(eval_set_sweep(&s, 0.25, &e) == 0 && s.nthr == 4, "step 0.25: 4 thresholds");
    tap_ok(eval_set_sweep(&s, 0, &e) < 0, "step 0 rejected");
    tap_ok(eval_set_sweep(&s, 0.0001, &e) < 0, "too many thresholds rejected");
    read_gt(&s, "a,1,n,0,0,9,9\nb,2,n,0,0,9,9\nb,2,n,20,20,29,29\n", 0, &e);

    /* Image a: at tau 0 the whole 40x40 map (IoU 100/1600), at tau .25 the
     * exact box, at .5 a box of IoU 0.64 (8x8 inside), at .75 nothing. */
    ebox full = { 0, 0, 39, 39 }, exact = { 0, 0, 9, 9 }, in8 = { 1, 1, 8, 8 }, none = { 0, 0, 0, 0 };
    ebox two[2] = { { 20, 20, 29, 29 }, { 0, 0, 9, 9 } };
    eval_boxes ba[4] = { { 1, &full, 0 }, { 1, &exact, 0 }, { 1, &in8, 0 }, { 1, &none, 0 } };
    /* Image b: at tau .25 two contours: the largest is the b's second GT
     * box, the other a far box; at .5 the largest is far (v1 fails) but V2
     * finds the right one. */
    ebox far_and_good[2] = { { 60, 60, 99, 99 }, { 20, 21, 29, 29 } };
    eval_boxes bb[4] = { { 1, &full, 0 }, { 2, two, 0 }, { 2, far_and_good, 0 }, { 1, &none, 0 } };
    eval_image *a = eval_find(&s, "a"), *b = eval_find(&s, "b");
    tap_ok(eval_add_map_result(&s, a, ba, 0.9, &e) == 0, "map result a");
    tap_ok(eval_add_map_result(&s, b, bb, 0.1, &e) == 0, "map result b");
    tap_ok(eval_add_map_result(&s, b, bb, 0.1, &e) < 0 && strstr(e.msg, "second map"), "second map refused");
    tap_ok(fabs(b->iou_v2[2] - 0.9) < 1e-12 && b->iou_v1[2] == 0.0, "v1 keeps the largest, V2 the best");
    eval_opts o = { 1, 0 };
    eval_result r;
    tap_ok(eval_compute(&s, &o, 0, 0, 1, &r, &e) == 0, "compute with maps (%s)", e.msg);
    tap_ok(r.maxboxacc == 1.0 && r.maxboxacc_thr == 0.25, "MaxBoxAcc 1 at the first best tau .25");
    tap_ok(r.v2_delta[0] == 1.0 && r.v2_thr[0] == 0.25, "V2 at IoU .3");
    tap_ok(r.v2_delta[1] == 1.0, "V2 at IoU .5");
    /* IoU .7: a exact at .25 (1), b at .25 exact (1) -> 1 */
    tap_ok(r.v2_delta[2] == 1.0 && fabs(r.maxboxacc_v2 - 1.0) < 1e-12, "V2 mean");
    tap_ok(r.gt_known_from == 2 && r.gt_known == 0.5, "GT-known from maps 1/2");
    tap_ok((r.flags[0] & EVF_BOXACC) && (r.flags[1] & EVF_BOXACC), "per-image BoxAcc flags at best tau");
    eval_result_free(&r);
    eval_free(&s);

    /* IoU exactly 0.7 passes the 0.7 threshold (no float rounding). */
    eval_init(&s);
    eval_set_sweep(&s, 0.5, &e);
    read_gt(&s, "a,1,n,0,0,9,9\n", 0, &e);
    ebox b7 = { 0, 0, 6, 9 };   /* 70 / 100 */
    eval_boxes bs[2] = { { 1, &b7, 0 }, { 1, &b7, 0 } };
    eval_add_map_result(&s, eval_find(&s, "a"), bs, -1, &e);
    tap_ok(eval_compute(&s, &o, 0, 0, 1, &r, &e) == 0 && r.v2_delta[2] == 1.0 && r.gt_known == 0.0,
           "IoU 7/10 counts at delta .7; no paper box: not GT-known");
    eval_result_free(&r);
    /* A map lacking: error naming the image. */
    read_gt(&s, "b,1,n,0,0,9,9\n", 0, &e);
    tap_ok(eval_compute(&s, &o, 0, 0, 1, &r, &e) < 0 && strstr(e.msg, "image 'b': no map"),
           "missing map: %s", e.msg);
    eval_free(&s);
}

int main(void)
{
    test_iou();
    test_keys();
    test_gt();
    test_predictions();
    test_sweep();
    return tap_done();
}
