/* cam-eval - localisation metrics of a CAM pipeline's output against
 * ground-truth boxes: classification top-1/top-5, top-1/top-5 and
 * GT-known localisation (Zhou et al. 2016) and MaxBoxAcc / MaxBoxAccV2
 * (wsolevaluation).  See man/cam-eval.1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "cli.h"
#include "engine.h"
#include "eval.h"
#include "tensor.h"
#include "threadpool.h"
#include "tstream.h"

static const char *usage =
    "cam-eval -gt FILE [-scores FILE] [-boxes FILE] [-maps FILE] [-class-offset N]\n"
    "       [-step S] [-upsample MODE] [-t T] [-boxes-per-class N] [-missing-ok]\n"
    "       [-per-image FILE] [-threads N]";

#define MAXIN 64

typedef struct {
    const char *gt;
    const char *scores[MAXIN];
    int         nscores;
    const char *boxes[MAXIN];
    int         nboxes;
    const char *maps[MAXIN];
    int         nmaps;
    int         class_offset;
    double      step;
    int         upsample;       /* enum cam_interp, for the sweep */
    double      paper_t;        /* paper rule threshold for GT-known from maps */
    int         boxes_per_class;
    int         missing_ok;
    const char *per_image;
    int         threads;
} options;

static void add_input(const char **list, int *n, const char *opt, const char *arg)
{
    if (!arg)
        cli_usage(usage, "option %s needs a value", opt);
    if (*n == MAXIN)
        cli_usage(usage, "option %s given more than %d times", opt, MAXIN);
    list[(*n)++] = arg;
}

static void parse_command_line(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->step = 0.01;
    o->upsample = CAM_BICUBIC;
    o->paper_t = 0.2;
    o->boxes_per_class = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-gt") == 0) {
            if (!v)
                cli_usage(usage, "option -gt needs a value");
            o->gt = v;
            i++;
        } else if (strcmp(a, "-scores") == 0) {
            add_input(o->scores, &o->nscores, a, v);
            i++;
        } else if (strcmp(a, "-boxes") == 0) {
            add_input(o->boxes, &o->nboxes, a, v);
            i++;
        } else if (strcmp(a, "-maps") == 0) {
            add_input(o->maps, &o->nmaps, a, v);
            i++;
        } else if (strcmp(a, "-class-offset") == 0) {
            o->class_offset = (int)cli_long(usage, a, v, -1000000, 1000000);
            i++;
        } else if (strcmp(a, "-step") == 0) {
            o->step = cli_double(usage, a, v, 0.001, 1.0);
            i++;
        } else if (strcmp(a, "-t") == 0) {
            o->paper_t = cli_double(usage, a, v, 0.0, 1.0);
            i++;
        } else if (strcmp(a, "-upsample") == 0) {
            if (!v)
                cli_usage(usage, "option -upsample needs a value");
            o->upsample = cam_interp_parse(v);
            if (o->upsample < 0)
                cli_usage(usage, "option -upsample: '%s' is not nearest, bilinear or bicubic", v);
            i++;
        } else if (strcmp(a, "-boxes-per-class") == 0) {
            o->boxes_per_class = (int)cli_long(usage, a, v, 1, 1000);
            i++;
        } else if (strcmp(a, "-threads") == 0) {
            o->threads = (int)cli_long(usage, a, v, 1, 256);
            i++;
        } else if (strcmp(a, "-missing-ok") == 0) {
            o->missing_ok = 1;
        } else if (strcmp(a, "-per-image") == 0) {
            if (!v)
                cli_usage(usage, "option -per-image needs a value");
            o->per_image = v;
            i++;
        } else {
            cli_usage(usage, "unknown argument '%s'", a);
        }
    }
    if (!o->gt)
        cli_usage(usage, "-gt FILE is required");
    if (!o->nscores && !o->nboxes && !o->nmaps)
        cli_usage(usage, "nothing to evaluate: give -scores, -boxes or -maps");
    int nstdin = (strcmp(o->gt, "-") == 0);
    for (int i = 0; i < o->nscores; i++)
        nstdin += strcmp(o->scores[i], "-") == 0;
    for (int i = 0; i < o->nboxes; i++)
        nstdin += strcmp(o->boxes[i], "-") == 0;
    for (int i = 0; i < o->nmaps; i++)
        nstdin += strcmp(o->maps[i], "-") == 0;
    if (nstdin > 1)
        cli_usage(usage, "only one input can be standard input");
}

typedef int (*text_reader)(eval_set *, FILE *, const char *, int, err_t *);

static void read_text(eval_set *s, const char *path, text_reader rd, int arg)
{
    err_t e;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    const char *label = strcmp(path, "-") == 0 ? "stdin" : path;
    if (!f)
        cli_die(EXIT_DATA, "%s: %s", path, strerror(errno));
    if (rd(s, f, label, arg, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    if (f != stdin)
        fclose(f);
}

/* One map to sweep: the record, its image and geometry; then the results. */
typedef struct {
    tensor      t;
    eval_image *im;
    int         mw, mh, iw, ih;
    cam_roi     roi;
    long        idx;
    /* results */
    eval_boxes *eb;             /* s->nthr */
    double      gtk;
    int         rc;
    err_t       e;
} map_job;

typedef struct {
    const eval_set *s;
    const options  *o;
    map_job        *jobs;
} sweep_ctx;

/* Checks a map record and, for a ground-truth class map, fills job (the
 * tensor is moved into it).  Returns 1 (a job), 0 (skipped), -1 (error). */
static int map_prepare(eval_set *s, const options *o, tensor *t, map_job *job,
                       const char *label, long idx, err_t *e)
{
    const char *kind = tensor_meta_get(t, "kind");
    if (kind && strcmp(kind, "map") != 0)
        return err_set(e, "%s: record %ld: kind '%.40s', expected map", label, idx, kind);
    const char *src = tensor_meta_get(t, "source");
    if (!src)
        return err_set(e, "%s: record %ld: no 'source' (image name)", label, idx);
    eval_image *im = eval_find(s, src);
    if (!im) {
        if (o->missing_ok)
            return 0;
        return err_set(e, "%s: record %ld: image '%.200s' is not in the ground truth", label, idx, src);
    }
    long cls;
    if (tensor_meta_long(t, "class", &cls) < 0)
        return err_set(e, "%s: record %ld: no integer 'class'", label, idx);
    if (cls != im->gt_class || im->has_map)
        return 0;   /* maps of other classes (top-k) and repeats are not swept */
    if (t->ndim < 2)
        return err_set(e, "%s: record %ld: a map needs 2 dimensions, not %d", label, idx, t->ndim);
    for (int d = 0; d + 2 < t->ndim; d++)
        if (t->dims[d] != 1)
            return err_set(e, "%s: record %ld: one map per record expected (shape dim %d is %lld)",
                           label, idx, d, (long long)t->dims[d]);
    int64_t mh = t->dims[t->ndim - 2], mw = t->dims[t->ndim - 1];
    if (mh < 1 || mw < 1 || mh > 1 << 20 || mw > 1 << 20 || (size_t)mh * (size_t)mw > CAM_MAX_PIXELS)
        return err_set(e, "%s: record %ld: bad map size %lldx%lld", label, idx,
                       (long long)mw, (long long)mh);
    long iw = mw, ih = mh;
    if (tensor_meta_get(t, "image_width") &&
        (tensor_meta_long(t, "image_width", &iw) < 0 || iw < 1))
        return err_set(e, "%s: record %ld: bad image_width", label, idx);
    if (tensor_meta_get(t, "image_height") &&
        (tensor_meta_long(t, "image_height", &ih) < 0 || ih < 1))
        return err_set(e, "%s: record %ld: bad image_height", label, idx);
    if (iw > 1 << 20 || ih > 1 << 20 || (size_t)iw * (size_t)ih > CAM_MAX_PIXELS)
        return err_set(e, "%s: record %ld: image %ldx%ld too large", label, idx, iw, ih);
    cam_roi roi = { 0, 0, (double)iw, (double)ih };
    const char *rs = tensor_meta_get(t, "roi");
    if (rs && sscanf(rs, "%lf %lf %lf %lf", &roi.x0, &roi.y0, &roi.x1, &roi.y1) != 4)
        return err_set(e, "%s: record %ld: bad roi '%.60s'", label, idx, rs);
    if (!(roi.x1 > roi.x0 && roi.y1 > roi.y0))
        return err_set(e, "%s: record %ld: empty roi", label, idx);
    if (tensor_to_f32(t, e) < 0)
        return err_prefix(e, "%s: record %ld", label, idx);
    job->t = *t;        /* moved */
    tensor_init(t);
    job->im = im;
    job->mw = (int)mw;
    job->mh = (int)mh;
    job->iw = (int)iw;
    job->ih = (int)ih;
    job->roi = roi;
    job->idx = idx;
    im->has_map = 2;    /* queued: later maps of this image are repeats */
    return 1;
}

/* Upsamples job's map, boxes it by the paper rule and sweeps the wsol
 * thresholds (thread-safe: touches only the job). */
static void map_sweep(void *ctx, int task, int thread)
{
    sweep_ctx *c = ctx;
    map_job *j = &c->jobs[task];
    size_t npix = (size_t)j->iw * (size_t)j->ih;
    double *up = malloc(npix * sizeof *up);
    cam_box paper;
    j->rc = -1;
    if (!up) {
        err_set(&j->e, "out of memory");
        return;
    }
    if (cam_resize(j->t.data, j->mw, j->mh, up, j->iw, j->ih, &j->roi, CAM_BILINEAR, &j->e) == 0 &&
        cam_box_paper(up, j->iw, j->ih, c->o->paper_t, &paper, &j->e) == 0) {
        ebox pb = { paper.x0, paper.y0, paper.x1, paper.y1 };
        j->gtk = eval_iou_max(&pb, j->im->gt, j->im->ngt);
        if ((c->o->upsample == CAM_BILINEAR ||
             cam_resize(j->t.data, j->mw, j->mh, up, j->iw, j->ih, &j->roi, c->o->upsample, &j->e) == 0) &&
            eval_wsol_sweep(c->s, up, j->iw, j->ih, j->eb, &j->e) == 0)
            j->rc = 0;
    }
    free(up);
}

#define MAP_BATCH 64

/* Sweeps the queued jobs on the thread pool, then records the results in
 * input order. */
static void run_jobs(eval_set *s, const options *o, map_job *jobs, int n, threadpool *tp,
                     const char *label)
{
    sweep_ctx c = { s, o, jobs };
    tp_run(tp, n, map_sweep, &c);
    for (int i = 0; i < n; i++) {
        map_job *j = &jobs[i];
        err_t e;
        if (j->rc < 0)
            cli_die(EXIT_DATA, "%s: record %ld: %s", label, j->idx, j->e.msg);
        j->im->has_map = 0;
        if (eval_add_map_result(s, j->im, j->eb, j->gtk, &e) < 0)
            cli_die(EXIT_DATA, "%s: record %ld: %s", label, j->idx, e.msg);
        eval_boxes_free(j->eb, s->nthr);
        tensor_free(&j->t);
    }
}

static void read_maps(eval_set *s, const options *o, const char *path, threadpool *tp)
{
    err_t e;
    tsr *r = tsr_open(path, &e);
    if (!r)
        cli_die_err(EXIT_DATA, &e);
    map_job *jobs = calloc(MAP_BATCH, sizeof *jobs);
    if (!jobs)
        cli_die(EXIT_DATA, "out of memory");
    for (int i = 0; i < MAP_BATCH; i++) {
        jobs[i].eb = calloc((size_t)s->nthr, sizeof *jobs[i].eb);
        if (!jobs[i].eb)
            cli_die(EXIT_DATA, "out of memory");
        tensor_init(&jobs[i].t);
    }
    tensor t;
    tensor_init(&t);
    int st, nj = 0;
    for (;;) {
        long idx = tsr_index(r);
        st = tsr_next(r, &t, &e);
        if (st <= 0)
            break;
        int k = map_prepare(s, o, &t, &jobs[nj], tsr_label(r), idx, &e);
        if (k < 0)
            cli_die_err(EXIT_DATA, &e);
        nj += k;
        if (nj == MAP_BATCH) {
            run_jobs(s, o, jobs, nj, tp, tsr_label(r));
            nj = 0;
        }
    }
    if (st < 0)
        cli_die_err(EXIT_DATA, &e);
    run_jobs(s, o, jobs, nj, tp, tsr_label(r));
    tensor_free(&t);
    for (int i = 0; i < MAP_BATCH; i++)
        free(jobs[i].eb);
    free(jobs);
    tsr_close(r);
}

static void print_metric(const char *name, double v)
{
    if (v >= 0)
        printf("%s\t%.4f\n", name, v);
}

static void print_error(const char *name, double v)
{
    if (v >= 0)
        printf("%s_err\t%.2f\n", name, 100.0 * (1.0 - v));
}

static void write_per_image(const char *path, const eval_set *s, const eval_result *r,
                            const options *o)
{
    FILE *f = fopen(path, "w");
    if (!f)
        cli_die(EXIT_DATA, "%s: %s", path, strerror(errno));
    fprintf(f, "image,class,top1_class,top1,top5,top1_loc,top5_loc,gt_known,gt_known_iou,"
               "boxacc,boxacc_iou,missing\n");
    int bt = r->maxboxacc_thr >= 0 ? (int)(r->maxboxacc_thr / s->step + 0.5) : -1;
    for (int i = 0; i < s->n; i++) {
        const eval_image *im = &s->im[i];
        unsigned fl = r->flags[i];
        double gi = -1;
        if (r->gt_known_from == 1) {
            for (int k = 0; k < o->boxes_per_class; k++) {
                const ebox *b = eval_pred_box(im, im->gt_class, k);
                if (!b)
                    break;
                double v = eval_iou_max(b, im->gt, im->ngt);
                if (v > gi)
                    gi = v;
            }
        } else if (r->gt_known_from == 2 && im->has_map) {
            gi = im->map_gtk_iou;
        }
        fprintf(f, "%s,%d,", im->name, im->gt_class);
        if (im->has_scores)
            fprintf(f, "%d", im->top[0]);
        fprintf(f, ",%d,%d,%d,%d,%d,", !!(fl & EVF_TOP1), !!(fl & EVF_TOP5), !!(fl & EVF_LOC1),
                !!(fl & EVF_LOC5), !!(fl & EVF_GTK));
        if (gi >= 0)
            fprintf(f, "%.4f", gi);
        fprintf(f, ",%d,", !!(fl & EVF_BOXACC));
        if (bt >= 0 && im->has_map)
            fprintf(f, "%.4f", im->iou_v1[bt]);
        fprintf(f, ",%d\n", !!(fl & EVF_MISSING));
    }
    if (fclose(f) != 0)
        cli_die(EXIT_DATA, "%s: write error: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
    options o;
    eval_set s;
    err_t e;
    cli_init(argc, argv);
    parse_command_line(argc, argv, &o);
    eval_init(&s);
    if (eval_set_sweep(&s, o.step, &e) < 0)
        cli_usage(usage, "%s", e.msg);
    read_text(&s, o.gt, eval_read_gt, o.class_offset);
    for (int i = 0; i < o.nscores; i++)
        read_text(&s, o.scores[i], eval_read_scores, o.missing_ok);
    for (int i = 0; i < o.nboxes; i++)
        read_text(&s, o.boxes[i], eval_read_boxes, o.missing_ok);
    if (o.nmaps) {
        threadpool *tp = tp_create(o.threads ? o.threads : engine_default_threads());
        for (int i = 0; i < o.nmaps; i++)
            read_maps(&s, &o, o.maps[i], tp);
        tp_free(tp);
    }

    eval_opts eo = { o.boxes_per_class, o.missing_ok };
    eval_result r;
    if (eval_compute(&s, &eo, o.nscores > 0, o.nboxes > 0, o.nmaps > 0, &r, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    if (o.nboxes && r.gt_known < 0 && r.gt_known_lacking > 0)
        cli_warn("gt_known not computed: %d images have no box for their ground-truth class "
                 "(add the boxes of 'cam-map -c CLASS', give -maps, or -missing-ok)",
                 r.gt_known_lacking);
    if (o.per_image)
        write_per_image(o.per_image, &s, &r, &o);

    printf("images\t%d\n", r.nimages);
    print_metric("top1_cls", r.top1_cls);
    print_metric("top5_cls", r.top5_cls);
    print_metric("top1_loc", r.top1_loc);
    print_metric("top5_loc", r.top5_loc);
    print_metric("gt_known", r.gt_known);
    print_metric("maxboxacc", r.maxboxacc);
    print_metric("maxboxacc_tau", r.maxboxacc_thr);
    print_metric("maxboxacc_v2", r.maxboxacc_v2);
    static const char *dn[EVAL_NDELTA] = { "30", "50", "70" };
    for (int d = 0; d < EVAL_NDELTA; d++) {
        char nm[64];
        snprintf(nm, sizeof nm, "maxboxacc_v2_iou%s", dn[d]);
        print_metric(nm, r.v2_delta[d]);
        snprintf(nm, sizeof nm, "maxboxacc_v2_iou%s_tau", dn[d]);
        print_metric(nm, r.v2_thr[d]);
    }
    print_error("top1_cls", r.top1_cls);
    print_error("top5_cls", r.top5_cls);
    print_error("top1_loc", r.top1_loc);
    print_error("top5_loc", r.top5_loc);
    print_error("gt_known", r.gt_known);
    eval_result_free(&r);
    eval_free(&s);
    cli_close_stdout();
    return 0;
}
