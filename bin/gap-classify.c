/* gap-classify - classes of feature records: global average pooling and the
 * model's own head.
 *
 * Reads feature records (cnn-features); for each prints the top K classes
 * as  name rank class probability label  (tab-separated), or with -tensor
 * writes one scores record (softmax probabilities) per image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "camrec.h"
#include "models.h"
#include "tstream.h"

static const char usage[] = "gap-classify [-m MODEL | -head FILE] [-k K] [-labels FILE] [-tensor | -logits] [FILE ...]";

typedef struct {
    const char *model, *labels, *head;
    int k, tensor, logits;
    char **files;
    int nfiles;
} options;

static void parse_args(int argc, char **argv, options *o)
{
    int i;
    memset(o, 0, sizeof *o);
    o->k = 5;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-tensor") == 0) {
            o->tensor = 1;
            continue;
        }
        if (strcmp(a, "-logits") == 0) {
            o->logits = 1;
            continue;
        }
        if (i + 1 >= argc)
            cli_usage(usage, "option %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "-m") == 0)
            o->model = v;
        else if (strcmp(a, "-head") == 0)
            o->head = v;
        else if (strcmp(a, "-k") == 0)
            o->k = (int)cli_long(usage, "-k", v, 1, 100000);
        else if (strcmp(a, "-labels") == 0)
            o->labels = v;
        else
            cli_usage(usage, "unknown option %s", a);
    }
    if (o->tensor && o->logits)
        cli_usage(usage, "-tensor and -logits exclude each other");
    if (o->model && o->head)
        cli_usage(usage, "-m and -head exclude each other");
    o->files = argv + i;
    o->nfiles = argc - i;
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
    tsw *w = ru->w;
    int K, h, wd, rc = -1;
    if (cam_classifier_for_record(c, t, o->model, o->head, o->labels, &K, &h, &wd, e))
        return -1;
    int n = c->head.nclasses;
    float *logits = malloc(sizeof *logits * (size_t)n);
    double *prob = malloc(sizeof *prob * (size_t)n);
    int k = o->k < n ? o->k : n;
    int *top = malloc(sizeof *top * (size_t)k);
    tensor s;
    tensor_init(&s);
    if (!logits || !prob || !top) {
        err_set(e, "out of memory");
        goto out;
    }
    if (cam_classifier_logits(c, t->data, K, h, wd, logits, e))
        goto out;
    cam_softmax(logits, n, prob);
    if (!w) {
        rc = cam_write_top(stdout, camrec_source(t), c, logits, prob, n, k, e);
        goto out;
    }
    cam_topk(logits, n, k, top);
    int64_t dims[1] = { n };
    if (tensor_alloc(&s, o->logits ? "logits" : "scores", DT_F32, 1, dims, "class", e) ||
        tensor_meta_copy(&s, t, e))
        goto out;
    float *p = s.data;
    for (int i = 0; i < n; i++)
        p[i] = o->logits ? logits[i] : (float)prob[i];
    if (tensor_meta_set(&s, "kind", o->logits ? "logits" : "scores", e) ||
        (c->head.logits && tensor_meta_set(&s, "layer", c->head.logits, e)) ||
        tensor_meta_setf(&s, "class", e, "%d", top[0]) ||
        tensor_meta_set(&s, "label", cam_classifier_label(c, top[0]), e) ||
        tensor_meta_setf(&s, "score", e, "%.9g", prob[top[0]]) ||
        tensor_meta_setf(&s, "logit", e, "%.9g", logits[top[0]]) ||
        tensor_meta_set(&s, "rank", "1", e) || tsw_write(w, &s, e))
        goto out;
    rc = 0;
out:
    tensor_free(&s);
    free(logits);
    free(prob);
    free(top);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    err_t e;
    run ru;
    tsw *w = NULL;
    cli_init(argc, argv);
    parse_args(argc, argv, &o);
    memset(&ru, 0, sizeof ru);
    if ((o.tensor || o.logits) && !(w = tsw_open("-", 0, &e)))
        cli_die_err(EXIT_DATA, &e);
    ru.o = &o;
    ru.w = w;
    if (camrec_foreach(o.files, o.nfiles, do_record, &ru, &e)) {
        err_t e2;
        if (w)             /* finish what earlier records wrote (a gzip member) */
            tsw_close(w, &e2);
        cli_die_err(EXIT_DATA, &e);
    }
    cam_classifier_close(&ru.c);
    if (w && tsw_close(w, &e))
        cli_die_err(EXIT_DATA, &e);
    cli_close_stdout();
    return 0;
}
