/* cam-map - class activation maps from feature records.
 *
 * Reads feature records (cnn-features); writes one map record per (image,
 * class): M_c = sum_k w_ck f_k (no bias), raw and at feature resolution
 * unless asked otherwise, with the feature record's metadata and
 * kind=map, class, label, score, logit, rank.  -pgm writes 8-bit PGM
 * images instead, for netpbm tools.  -classes FILE adds per-image classes
 * (say an image's ground-truth class) to the top-K of the same run.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "camrec.h"
#include "cli.h"
#include "eval.h"
#include "models.h"
#include "tstream.h"

static const char usage[] =
    "cam-map [-m MODEL | -head FILE] [-k K | -c CLASS ...] [-classes FILE] [-relu] [-norm none|minmax|max] "
    "[-size orig|WxH] [-interp nearest|bilinear|bicubic] [-labels FILE] [-top FILE] [-pgm] [-z] [-f16] [FILE ...]";

#define MAX_CLASSES 1024

/* One line of a -classes file: an image key and a class (index or label). */
typedef struct {
    char *key, *cls;
    size_t line;
} image_class;

typedef struct {
    const char *model, *labels, *head, *classes_file, *top_file;
    int k, kset, relu, norm, normset, interp, pgm, wflags;
    int size_orig, size_w, size_h;      /* size_w == 0: feature resolution */
    int nc;
    const char *classes[MAX_CLASSES];
    char **files;
    int nfiles;
    image_class *ic;                    /* -classes, sorted by key, line */
    size_t nic;
    FILE *top;                          /* -top: gap-classify's lines */
} options;

static void parse_args(int argc, char **argv, options *o)
{
    int i, kset = 0;
    memset(o, 0, sizeof *o);
    o->k = 1;
    o->norm = CAM_NORM_NONE;
    o->interp = CAM_BILINEAR;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-relu") == 0) { o->relu = 1; continue; }
        if (strcmp(a, "-pgm") == 0) { o->pgm = 1; continue; }
        if (strcmp(a, "-z") == 0) { o->wflags |= TSW_GZIP; continue; }
        if (strcmp(a, "-f16") == 0) { o->wflags |= TSW_F16; continue; }
        if (i + 1 >= argc)
            cli_usage(usage, "option %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "-m") == 0) {
            o->model = v;
        } else if (strcmp(a, "-head") == 0) {
            o->head = v;
        } else if (strcmp(a, "-k") == 0) {
            o->k = (int)cli_long(usage, "-k", v, 1, MAX_CLASSES);
            kset = 1;
        } else if (strcmp(a, "-c") == 0) {
            if (o->nc == MAX_CLASSES)
                cli_usage(usage, "more than %d classes", MAX_CLASSES);
            o->classes[o->nc++] = v;
        } else if (strcmp(a, "-classes") == 0) {
            o->classes_file = v;
        } else if (strcmp(a, "-norm") == 0) {
            if ((o->norm = cam_norm_parse(v)) < 0)
                cli_usage(usage, "option -norm: unknown normalisation '%s'", v);
            o->normset = 1;
        } else if (strcmp(a, "-interp") == 0) {
            if ((o->interp = cam_interp_parse(v)) < 0)
                cli_usage(usage, "option -interp: unknown interpolation '%s'", v);
        } else if (strcmp(a, "-size") == 0) {
            char tail;
            if (strcmp(v, "orig") == 0)
                o->size_orig = 1;
            else if (sscanf(v, "%dx%d%c", &o->size_w, &o->size_h, &tail) != 2 || o->size_w <= 0 ||
                     o->size_h <= 0 || o->size_w > 100000 || o->size_h > 100000)
                cli_usage(usage, "option -size: '%s' is not orig or WxH", v);
        } else if (strcmp(a, "-labels") == 0) {
            o->labels = v;
        } else if (strcmp(a, "-top") == 0) {
            o->top_file = v;
        } else {
            cli_usage(usage, "unknown option %s", a);
        }
    }
    if (kset && o->nc)
        cli_usage(usage, "-k and -c exclude each other");
    if (o->classes_file && o->nc)
        cli_usage(usage, "-c and -classes exclude each other");
    o->kset = kset;
    if (o->model && o->head)
        cli_usage(usage, "-m and -head exclude each other");
    if (o->pgm && o->wflags)
        cli_usage(usage, "-pgm writes PGM images: -z and -f16 apply to records only");
    o->files = argv + i;
    o->nfiles = argc - i;
}

static int ic_cmp(const void *a, const void *b)
{
    const image_class *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Reads a -classes file: lines "IMAGE<TAB>CLASS" (or the first blank as
 * separator), blank lines skipped, CR before LF accepted.  IMAGE is matched
 * by its key (eval_name_key: no directories, no last extension).  Fills
 * o->ic sorted by key, file order within a key. */
static int read_classes(options *o, err_t *e)
{
    FILE *f = fopen(o->classes_file, "r");
    if (!f)
        return err_set(e, "%s: cannot open", o->classes_file);
    static char line[EVAL_MAXLINE + 2], key[EVAL_MAXLINE];
    size_t cap = 0, ln = 0;
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        ln++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            err_set(e, "%s:%zu: line too long", o->classes_file, ln);
            goto out;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *sep = strchr(line, '\t');
        if (!sep)
            sep = strchr(line, ' ');
        if (!sep || sep == line) {
            err_set(e, "%s:%zu: expected IMAGE<TAB>CLASS", o->classes_file, ln);
            goto out;
        }
        *sep++ = '\0';
        while (*sep == ' ' || *sep == '\t')
            sep++;
        if (*sep == '\0') {
            err_set(e, "%s:%zu: no class after the image name", o->classes_file, ln);
            goto out;
        }
        if (eval_name_key(line, key, sizeof key, e) < 0) {
            err_prefix(e, "%s:%zu", o->classes_file, ln);
            goto out;
        }
        if (o->nic == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            image_class *n = ncap <= SIZE_MAX / sizeof *n ? realloc(o->ic, ncap * sizeof *n) : NULL;
            if (!n) {
                err_set(e, "%s: out of memory", o->classes_file);
                goto out;
            }
            o->ic = n;
            cap = ncap;
        }
        image_class *c = &o->ic[o->nic];
        c->key = strdup(key);
        c->cls = strdup(sep);
        c->line = ln;
        if (!c->key || !c->cls) {
            free(c->key);
            free(c->cls);
            err_set(e, "%s: out of memory", o->classes_file);
            goto out;
        }
        o->nic++;
    }
    if (ferror(f)) {
        err_set(e, "%s: read error", o->classes_file);
        goto out;
    }
    qsort(o->ic, o->nic, sizeof *o->ic, ic_cmp);
    rc = 0;
out:
    fclose(f);
    return rc;
}

static void free_classes(options *o)
{
    for (size_t i = 0; i < o->nic; i++) {
        free(o->ic[i].key);
        free(o->ic[i].cls);
    }
    free(o->ic);
    o->ic = NULL;
    o->nic = 0;
}

/* The -classes entries of an image key: their count, the first in *first. */
static size_t classes_of(const options *o, const char *key, size_t *first)
{
    size_t lo = 0, hi = o->nic, n = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(o->ic[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + n < o->nic && strcmp(o->ic[lo + n].key, key) == 0)
        n++;
    *first = lo;
    return n;
}

/* 1-based rank of cls by logit (ties: lower index first). */
static int rank_of(const float *logits, int n, int cls)
{
    int r = 1;
    for (int i = 0; i < n; i++)
        if (logits[i] > logits[cls] || (logits[i] == logits[cls] && i < cls))
            r++;
    return r;
}

static int write_pgm(const double *m, int w, int h, err_t *e)
{
    if (printf("P5\n%d %d\n255\n", w, h) < 0)
        return err_set(e, "write error");
    for (size_t i = 0; i < (size_t)w * h; i++)
        putchar(cam_byte(m[i]));
    return ferror(stdout) ? err_set(e, "write error") : 0;
}

/* One map: compute, post-process, write. */
static int emit(const options *o, cam_classifier *c, const tensor *t, const float *logits,
                const double *prob, int cls, int K, int h, int w, tsw *wr, err_t *e)
{
    size_t n = (size_t)h * w;
    int ow = w, oh = h, W = 0, H = 0, rc = -1;
    cam_roi roi = { 0, 0, w, h };
    int geo = camrec_geometry(t, &W, &H, &roi, e);
    if (geo < 0)
        return -1;
    if (o->size_orig) {
        if (!geo)
            return err_set(e, "'%s' has no image_width/image_height: give -size WxH", t->name);
        ow = W;
        oh = H;
    } else if (o->size_w) {
        ow = o->size_w;
        oh = o->size_h;
        roi.x0 = roi.y0 = 0;
        roi.x1 = ow;
        roi.y1 = oh;
    } else {
        roi.x0 = roi.y0 = 0;
        roi.x1 = ow;
        roi.y1 = oh;
    }
    float *map = malloc(sizeof *map * n);
    double *up = malloc(sizeof *up * (size_t)ow * oh);
    tensor m;
    tensor_init(&m);
    if (!map || !up) {
        err_set(e, "out of memory");
        goto out;
    }
    if (cam_classifier_map(c, t->data, K, h, w, cls, map, e))
        goto out;
    if (o->relu)
        cam_relu(map, n);
    if (cam_resize(map, w, h, up, ow, oh, &roi, o->interp, e))
        goto out;
    /* a PGM is min-max normalised unless -norm is given: with -norm none
     * the values are written as they are, clamped to [0, 1] */
    int norm = o->pgm && !o->normset ? CAM_NORM_MINMAX : o->norm;
    cam_normalize_d(up, (size_t)ow * oh, norm);
    if (o->pgm) {
        rc = write_pgm(up, ow, oh, e);
        goto out;
    }
    int64_t dims[2] = { oh, ow };
    if (tensor_alloc(&m, "map", DT_F32, 2, dims, "H W", e) || tensor_meta_copy(&m, t, e))
        goto out;
    float *d = m.data;
    for (size_t i = 0; i < (size_t)ow * oh; i++)
        d[i] = (float)up[i];
    if (o->size_orig)
        tensor_meta_del(&m, "roi");
    char up_desc[64];
    if (ow == w && oh == h)
        snprintf(up_desc, sizeof up_desc, "none");
    else
        snprintf(up_desc, sizeof up_desc, "%s %dx%d", cam_interp_name(o->interp), ow, oh);
    int nclass = c->head.nclasses;
    if (tensor_meta_set(&m, "kind", "map", e) ||
        tensor_meta_setf(&m, "class", e, "%d", cls) ||
        tensor_meta_set(&m, "label", cam_classifier_label(c, cls), e) ||
        tensor_meta_setf(&m, "score", e, "%.9g", prob[cls]) ||
        tensor_meta_setf(&m, "logit", e, "%.9g", logits[cls]) ||
        tensor_meta_setf(&m, "rank", e, "%d", rank_of(logits, nclass, cls)) ||
        (!c->head.identity && c->head.b && tensor_meta_setf(&m, "bias", e, "%.9g", c->head.b[cls])) ||
        tensor_meta_set(&m, "map_norm", cam_norm_name(o->norm), e) ||
        tensor_meta_set(&m, "map_relu", o->relu ? "1" : "0", e) ||
        tensor_meta_set(&m, "map_upsample", up_desc, e) ||
        tsw_write(wr, &m, e))
        goto out;
    rc = 0;
out:
    tensor_free(&m);
    free(map);
    free(up);
    return rc;
}

typedef struct {
    const options *o;
    cam_classifier c;
    tsw *w;
} run;

static int do_record(tensor *t, void *ctx, err_t *e)
{
    run *ru = ctx;
    const options *o = ru->o;
    cam_classifier *c = &ru->c;
    tsw *wr = ru->w;
    int K, h, w, rc = -1;
    if (cam_classifier_for_record(c, t, o->model, o->head, o->labels, &K, &h, &w, e))
        return -1;
    int n = c->head.nclasses;
    /* -classes: the top-K only when -k was given, then the image's classes */
    int ntop = o->nc ? 0 : o->classes_file && !o->kset ? 0 : (o->k < n ? o->k : n);
    size_t first = 0, nimg = 0;
    if (o->classes_file) {
        char key[EVAL_MAXLINE];
        if (eval_name_key(camrec_source(t), key, sizeof key, e) < 0)
            return -1;
        nimg = classes_of(o, key, &first);
    }
    if (nimg > (size_t)MAX_CLASSES)
        return err_set(e, "%s: more than %d classes in %s", camrec_source(t), MAX_CLASSES,
                       o->classes_file);
    int ncls = o->nc ? o->nc : ntop;
    float *logits = malloc(sizeof *logits * (size_t)n);
    double *prob = malloc(sizeof *prob * (size_t)n);
    int *cls = malloc(sizeof *cls * ((size_t)ncls + nimg + 1));
    if (!logits || !prob || !cls) {
        err_set(e, "out of memory");
        goto out;
    }
    for (int i = 0; i < o->nc; i++)
        if ((cls[i] = cam_class_parse(c, o->classes[i], e)) < 0)
            goto out;
    if (cam_classifier_logits(c, t->data, K, h, w, logits, e))
        goto out;
    cam_softmax(logits, n, prob);
    if (o->top) {
        /* the lines gap-classify -k K prints (K = -k, else 5), from the
         * same logits */
        if (cam_write_top(o->top, camrec_source(t), c, logits, prob, n, o->kset ? o->k : 5, e)) {
            err_prefix(e, "%s", o->top_file);
            goto out;
        }
    }
    if (ntop)
        cam_topk(logits, n, ntop, cls);
    for (size_t j = 0; j < nimg; j++) {
        int cj = cam_class_parse(c, o->ic[first + j].cls, e), dup = 0;
        if (cj < 0) {
            err_prefix(e, "%s:%zu", o->classes_file, o->ic[first + j].line);
            goto out;
        }
        for (int i = 0; i < ncls; i++)
            dup |= cls[i] == cj;
        if (!dup)
            cls[ncls++] = cj;
    }
    for (int i = 0; i < ncls; i++)
        if (emit(o, c, t, logits, prob, cls[i], K, h, w, wr, e))
            goto out;
    rc = 0;
out:
    free(logits);
    free(prob);
    free(cls);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    err_t e;
    run ru;
    tsw *wr = NULL;
    cli_init(argc, argv);
    parse_args(argc, argv, &o);
    memset(&ru, 0, sizeof ru);
    if (!o.pgm && !(wr = tsw_open("-", o.wflags, &e)))
        cli_die_err(EXIT_DATA, &e);
    if (o.classes_file && read_classes(&o, &e))
        cli_die_err(EXIT_DATA, &e);
    if (o.top_file && !(o.top = fopen(o.top_file, "w")))
        cli_die(EXIT_DATA, "%s: %s", o.top_file, strerror(errno));
    ru.o = &o;
    ru.w = wr;
    if (camrec_foreach(o.files, o.nfiles, do_record, &ru, &e)) {
        err_t e2;
        if (wr)             /* finish what earlier records wrote (a gzip member) */
            tsw_close(wr, &e2);
        cli_die_err(EXIT_DATA, &e);
    }
    cam_classifier_close(&ru.c);
    free_classes(&o);
    if (o.top && fclose(o.top) != 0)
        cli_die(EXIT_DATA, "%s: %s", o.top_file, strerror(errno));
    if (wr && tsw_close(wr, &e))
        cli_die_err(EXIT_DATA, &e);
    cli_close_stdout();
    return 0;
}
