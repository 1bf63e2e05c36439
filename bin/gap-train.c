/* gap-train - trains a new linear head on globally pooled features and
 * writes it as a head file for gap-classify -head and cam-map -head.
 * See man/gap-train.1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "eval.h"
#include "train.h"
#include "tstream.h"

static const char *usage =
    "gap-train -labels FILE -o HEAD [-k FOLDS] [-lambda L] [-svm] [-seed N]\n"
    "       [-iters N] [-missing-ok] [FILE ...]";

typedef struct {
    const char *labels;
    const char *out;
    int         folds;
    train_opts  topt;
    unsigned long seed;
    int         missing_ok;
    char      **files;
    int         nfiles;
} options;

static void parse_command_line(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->folds = 5;
    o->topt.method = TRAIN_SOFTMAX;
    o->topt.lambda = 1e-3;
    o->topt.maxiter = 500;
    o->topt.tol = 1e-5;
    o->seed = 1;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || strcmp(a, "-") == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-labels") == 0 || strcmp(a, "-o") == 0) {
            if (!v || !*v)
                cli_usage(usage, "option %s needs a value", a);
            if (a[1] == 'l')
                o->labels = v;
            else
                o->out = v;
            i++;
        } else if (strcmp(a, "-k") == 0) {
            o->folds = (int)cli_long(usage, a, v, 0, 100);
            i++;
        } else if (strcmp(a, "-lambda") == 0) {
            o->topt.lambda = cli_double(usage, a, v, 0, 1e6);
            i++;
        } else if (strcmp(a, "-iters") == 0) {
            o->topt.maxiter = (int)cli_long(usage, a, v, 1, 1000000);
            i++;
        } else if (strcmp(a, "-seed") == 0) {
            o->seed = (unsigned long)cli_long(usage, a, v, 0, 2147483647);
            i++;
        } else if (strcmp(a, "-svm") == 0) {
            o->topt.method = TRAIN_SVM;
        } else if (strcmp(a, "-missing-ok") == 0) {
            o->missing_ok = 1;
        } else {
            cli_usage(usage, "unknown option '%s'", a);
        }
    }
    if (!o->labels)
        cli_usage(usage, "-labels FILE is required");
    if (!o->out)
        cli_usage(usage, "-o HEAD is required");
    if (o->folds == 1)
        cli_usage(usage, "option -k: 1 fold is not cross-validation (0 turns it off)");
    o->files = argv + i;
    o->nfiles = argc - i;
}

/* Label names: the distinct labels in order of first appearance. */
typedef struct {
    char **name;
    int    n;
} label_set;

static int label_index(label_set *ls, const char *s)
{
    for (int i = 0; i < ls->n; i++)
        if (strcmp(ls->name[i], s) == 0)
            return i;
    return -1;
}

typedef struct {
    const char *meta_key;
    char       *val;      /* from the first record; "" once inconsistent */
} shared_meta;

int main(int argc, char **argv)
{
    options o;
    err_t e;
    cli_init(argc, argv);
    parse_command_line(argc, argv, &o);

    /* labels: name -> label, matched by key like cam-eval */
    char **lnames, **llabels;
    int nl;
    FILE *lf = strcmp(o.labels, "-") == 0 ? stdin : fopen(o.labels, "r");
    if (!lf)
        cli_die(EXIT_DATA, "%s: %s", o.labels, strerror(errno));
    if (train_read_labels(lf, strcmp(o.labels, "-") == 0 ? "stdin" : o.labels, &lnames, &llabels, &nl, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    if (lf != stdin)
        fclose(lf);
    eval_set keys;            /* reuse eval's hash of image keys */
    eval_init(&keys);
    label_set ls = { calloc((size_t)nl, sizeof(char *)), 0 };
    int *lclass = malloc((size_t)nl * sizeof *lclass);
    int *seen = calloc((size_t)nl, sizeof *seen);
    if (!ls.name || !lclass || !seen)
        cli_die(EXIT_DATA, "out of memory");
    for (int i = 0; i < nl; i++) {
        eval_image *im = eval_add(&keys, lnames[i], &e);
        if (!im)
            cli_die(EXIT_DATA, "%s: %s", o.labels, e.msg);
        im->gt_class = i;
    }
    for (int i = 0; i < nl; i++) {
        int c = label_index(&ls, llabels[i]);
        if (c < 0) {
            c = ls.n;
            ls.name[ls.n++] = llabels[i];
        }
        lclass[i] = c;
    }
    if (ls.n < 2)
        cli_die(EXIT_DATA, "%s: a single class ('%s'): nothing to tell apart", o.labels, ls.name[0]);

    /* features: pool every record */
    int cap = 256, n = 0, K = -1;
    float *X = malloc((size_t)cap * sizeof *X);   /* grows to n x K below */
    int *y = malloc((size_t)cap * sizeof *y);
    int64_t shape[TENSOR_MAXDIM];
    int ndim = -1;
    shared_meta sm[3] = { { "layer", NULL }, { "model", NULL }, { "model_sha256", NULL } };
    tensor t;
    tensor_init(&t);
    int nfiles = o.nfiles ? o.nfiles : 1;
    long skipped = 0;
    for (int fi = 0; fi < nfiles; fi++) {
        const char *path = o.nfiles ? o.files[fi] : "-";
        tsr *r = tsr_open(path, &e);
        if (!r)
            cli_die_err(EXIT_DATA, &e);
        int st;
        for (;;) {
            long idx = tsr_index(r);
            if ((st = tsr_next(r, &t, &e)) <= 0)
                break;
            const char *lab = tsr_label(r);
            const char *kind = tensor_meta_get(&t, "kind");
            if (kind && strcmp(kind, "features") != 0)
                cli_die(EXIT_DATA, "%s: record %ld: kind '%s', expected features", lab, idx, kind);
            const char *src = tensor_meta_get(&t, "source");
            if (!src)
                cli_die(EXIT_DATA, "%s: record %ld: no 'source' (image name)", lab, idx);
            eval_image *im = eval_find(&keys, src);
            if (!im) {
                if (o.missing_ok) {
                    skipped++;
                    continue;
                }
                cli_die(EXIT_DATA, "%s: record %ld: image '%s' has no label in %s", lab, idx, src, o.labels);
            }
            int li = im->gt_class;
            if (seen[li]++)
                cli_die(EXIT_DATA, "%s: record %ld: image '%s' seen twice", lab, idx, src);
            if (ndim < 0) {
                ndim = t.ndim;
                memcpy(shape, t.dims, sizeof shape);
            } else if (t.ndim != ndim || memcmp(shape, t.dims, (size_t)ndim * sizeof *shape) != 0) {
                cli_die(EXIT_DATA, "%s: record %ld: feature shape differs from the first record's", lab, idx);
            }
            for (int m = 0; m < 3; m++) {
                const char *v = tensor_meta_get(&t, sm[m].meta_key);
                if (!sm[m].val) {
                    sm[m].val = strdup(v ? v : "");
                } else if (strcmp(sm[m].val, v ? v : "") != 0) {
                    if (m != 1)   /* model paths may differ; the digest may not */
                        cli_die(EXIT_DATA, "%s: record %ld: %s '%s' differs from the first record's '%s'",
                                lab, idx, sm[m].meta_key, v ? v : "", sm[m].val);
                }
            }
            float *p;
            int k;
            if (train_pool(&t, &p, &k, &e) < 0)
                cli_die(EXIT_DATA, "%s: record %ld: %s", lab, idx, e.msg);
            if (K < 0) {
                K = k;
                X = realloc(X, (size_t)cap * K * sizeof *X);
                if (!X)
                    cli_die(EXIT_DATA, "out of memory");
            }
            if (n == cap) {
                if (cap > (1 << 24))
                    cli_die(EXIT_DATA, "too many records");
                cap *= 2;
                X = realloc(X, (size_t)cap * K * sizeof *X);
                y = realloc(y, (size_t)cap * sizeof *y);
                if (!X || !y)
                    cli_die(EXIT_DATA, "out of memory");
            }
            memcpy(X + (size_t)n * K, p, (size_t)K * sizeof *X);
            free(p);
            y[n++] = lclass[li];
        }
        if (st < 0)
            cli_die_err(EXIT_DATA, &e);
        tsr_close(r);
    }
    tensor_free(&t);
    if (!o.missing_ok)
        for (int i = 0; i < nl; i++)
            if (!seen[i])
                cli_die(EXIT_DATA, "%s: image '%s' is labelled but has no feature record", o.labels, lnames[i]);
    if (n == 0)
        cli_die(EXIT_DATA, "no feature records with labels");
    /* classes actually present */
    int *cnt = calloc((size_t)ls.n, sizeof *cnt);
    if (!cnt)
        cli_die(EXIT_DATA, "out of memory");
    for (int i = 0; i < n; i++)
        cnt[y[i]]++;
    int present = 0;
    for (int c = 0; c < ls.n; c++)
        present += cnt[c] > 0;
    if (present < 2)
        cli_die(EXIT_DATA, "the labelled records hold a single class: nothing to tell apart");
    if (o.folds > n)
        cli_die(EXIT_DATA, "%d folds for %d records", o.folds, n);

    cam_head h;
    memset(&h, 0, sizeof h);
    h.K = K;
    h.nclasses = ls.n;
    h.W = malloc((size_t)ls.n * K * sizeof *h.W);
    h.b = malloc((size_t)ls.n * sizeof *h.b);
    if (!h.W || !h.b)
        cli_die(EXIT_DATA, "out of memory");
    int iters;
    if (train_fit(X, y, n, K, ls.n, &o.topt, h.W, h.b, &iters, &e) < 0)
        cli_die_err(EXIT_DATA, &e);
    long ok_train = 0;
    for (int i = 0; i < n; i++)
        ok_train += train_predict(X + (size_t)i * K, K, ls.n, h.W, h.b) == y[i];
    int *pred = NULL;
    long ok_cv = 0;
    if (o.folds >= 2) {
        pred = malloc((size_t)n * sizeof *pred);
        if (!pred)
            cli_die(EXIT_DATA, "out of memory");
        if (train_cv(X, y, n, K, ls.n, o.folds, o.seed, &o.topt, pred, &e) < 0)
            cli_die_err(EXIT_DATA, &e);
        for (int i = 0; i < n; i++)
            ok_cv += pred[i] == y[i];
    }

    char bufs[8][64];
    tensor_kv meta[8];
    int nm = 0;
    if (sm[1].val && *sm[1].val)
        meta[nm++] = (tensor_kv){ "model", sm[1].val };
    if (sm[2].val && *sm[2].val)
        meta[nm++] = (tensor_kv){ "model_sha256", sm[2].val };
    meta[nm++] = (tensor_kv){ "trainer", o.topt.method == TRAIN_SVM ? "svm" : "softmax" };
    snprintf(bufs[0], sizeof bufs[0], "%g", o.topt.lambda);
    meta[nm++] = (tensor_kv){ "lambda", bufs[0] };
    snprintf(bufs[1], sizeof bufs[1], "%lu", o.seed);
    meta[nm++] = (tensor_kv){ "seed", bufs[1] };
    snprintf(bufs[2], sizeof bufs[2], "%.4f", (double)ok_train / n);
    meta[nm++] = (tensor_kv){ "train_acc", bufs[2] };
    if (pred) {
        snprintf(bufs[3], sizeof bufs[3], "%.4f", (double)ok_cv / n);
        meta[nm++] = (tensor_kv){ "cv_acc", bufs[3] };
        snprintf(bufs[4], sizeof bufs[4], "%d", o.folds);
        meta[nm++] = (tensor_kv){ "cv_folds", bufs[4] };
    }
    h.feature = sm[0].val && *sm[0].val ? sm[0].val : NULL;
    h.labels = ls.name;
    if (head_write_file(o.out, &h, meta, nm, &e) < 0)
        cli_die_err(EXIT_DATA, &e);

    /* the report: on stdout, or on stderr when the head goes to stdout */
    {
        FILE *rep = strcmp(o.out, "-") != 0 ? stdout : stderr;
        fprintf(rep, "images\t%d\n", n);
        fprintf(rep, "classes\t%d\n", ls.n);
        fprintf(rep, "features\t%d\n", K);
        fprintf(rep, "iterations\t%d\n", iters);
        fprintf(rep, "train_acc\t%.4f\n", (double)ok_train / n);
        if (pred) {
            fprintf(rep, "cv_folds\t%d\n", o.folds);
            fprintf(rep, "cv_acc\t%.4f\n", (double)ok_cv / n);
        }
        for (int c = 0; c < ls.n; c++) {
            long okc = 0;
            for (int i = 0; pred && i < n; i++)
                okc += y[i] == c && pred[i] == c;
            if (pred)
                fprintf(rep, "class\t%s\t%d\t%.4f\n", ls.name[c], cnt[c], cnt[c] ? (double)okc / cnt[c] : 0.0);
            else
                fprintf(rep, "class\t%s\t%d\n", ls.name[c], cnt[c]);
        }
    }
    if (skipped)
        cli_warn("%ld records without a label skipped", skipped);
    cli_close_stdout();
    /* labels named in ls.name are llabels' strings: freed once below */
    for (int i = 0; i < nl; i++) {
        free(lnames[i]);
        free(llabels[i]);
    }
    free(lnames);
    free(llabels);
    free(ls.name);
    free(lclass);
    free(seen);
    free(cnt);
    free(pred);
    free(X);
    free(y);
    free(h.W);
    free(h.b);
    for (int m = 0; m < 3; m++)
        free(sm[m].val);
    eval_free(&keys);
    return 0;
}
