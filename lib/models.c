/* models.c - locating models named in records; the classifier view shared
 * by gap-classify and cam-map (see models.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cam.h"
#include "camrec.h"
#include "engine.h"
#include "models.h"
#include "train.h"

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static char *join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, file);
    return s;
}

char *model_locate(const char *name, err_t *e)
{
    if (!name || !*name) {
        err_set(e, "no model named (give -m MODEL)");
        return NULL;
    }
    if (access(name, R_OK) == 0)
        return strdup(name);
    const char *env = getenv("CAM_MODELS");
    const char *base = base_name(name);
    char *p;
    if (env && *env) {
        if (!(p = join(env, base)))
            goto oom;
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    if (!(p = join("../shared/models", base)))
        goto oom;
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    err_set(e, "model '%s' not found (looked at %s, %s%s%s, ../shared/models/%s)", name, name,
            env && *env ? env : "", env && *env ? "/" : "$CAM_MODELS unset", env && *env ? base : "", base);
    return NULL;
oom:
    err_set(e, "out of memory");
    return NULL;
}

int model_load(const char *name, const char *sha256, graph *g, err_t *e)
{
    char *path = model_locate(name, e);
    if (!path)
        return -1;
    if (graph_load(path, g, e)) {
        free(path);
        return -1;
    }
    if (sha256 && *sha256 && strcasecmp(sha256, g->sha256) != 0) {
        err_set(e, "model %s: sha256 %s does not match the record's model_sha256 %s", path,
                g->sha256, sha256);
        free(path);
        graph_free(g);
        graph_init(g);
        return -1;
    }
    free(path);
    return 0;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void cam_classifier_close(cam_classifier *c)
{
    if (c->en)
        engine_free(c->en);
    engine_shapes_free(c->shapes);
    if (c->loaded)
        head_free(&c->head);
    if (c->loaded == 1)
        graph_free(&c->g);
    free(c->name);
    free(c->sha256);
    memset(c, 0, sizeof *c);
}

int cam_classifier_open(cam_classifier *c, const char *name, const char *sha256,
                        const char *layer, const char *labels, err_t *e)
{
    if (c->loaded && same(c->name, name) && (!sha256 || !*sha256 || same(c->sha256, sha256)) &&
        (!layer || (c->head.feature && strcmp(c->head.feature, layer) == 0)))
        return 0;
    cam_classifier_close(c);
    graph_init(&c->g);
    if (model_load(name, sha256, &c->g, e))
        return -1;
    if (!(c->shapes = engine_infer_shapes(&c->g, 0, NULL, e)) ||
        head_find_rows(&c->g, layer, labels, &c->head, e)) {
        err_prefix(e, "model %s", name);
        engine_shapes_free(c->shapes);
        c->shapes = NULL;
        graph_free(&c->g);
        return -1;
    }
    c->name = strdup(name);
    c->sha256 = sha256 && *sha256 ? strdup(sha256) : NULL;
    c->loaded = 1;
    if (!c->name) {
        cam_classifier_close(c);
        return err_set(e, "out of memory");
    }
    return 0;
}

int cam_classifier_open_head(cam_classifier *c, const char *path, err_t *e)
{
    cam_classifier_close(c);
    if (head_load_file(path, &c->head, e))
        return err_prefix(e, "head %s", path);
    c->loaded = 2;
    if (!(c->name = strdup(path))) {
        cam_classifier_close(c);
        return err_set(e, "out of memory");
    }
    return 0;
}

/* Global average pooling and the linear layer, in double (head files). */
static int direct_logits(const cam_classifier *c, const float *feat, int K, int h, int w,
                         float *logits, err_t *e)
{
    size_t n = (size_t)h * w;
    double *pooled = malloc(sizeof *pooled * (size_t)K);
    if (!pooled)
        return err_set(e, "out of memory");
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += feat[(size_t)k * n + i];
        pooled[k] = s / (double)n;
    }
    for (int cl = 0; cl < c->head.nclasses; cl++) {
        const float *wr = c->head.W + (size_t)cl * K;
        double s = c->head.b ? c->head.b[cl] : 0.0;
        for (int k = 0; k < K; k++)
            s += (double)wr[k] * pooled[k];
        logits[cl] = (float)s;
    }
    free(pooled);
    return 0;
}

int cam_classifier_for_record(cam_classifier *c, tensor *t, const char *model_opt,
                              const char *head_path, const char *labels,
                              int *K, int *h, int *w, err_t *e)
{
    static const char *const kinds[] = { "features", "tensor", NULL };
    const char *model = model_opt ? model_opt : tensor_meta_get(t, "model");
    const char *sha = model_opt ? NULL : tensor_meta_get(t, "model_sha256");
    const char *layer = tensor_meta_get(t, "layer");
    if (camrec_kind(t, kinds, e))
        return -1;
    if (head_path) {
        if (!c->loaded && cam_classifier_open_head(c, head_path, e))
            return -1;
        if (layer && c->head.feature && strcmp(layer, c->head.feature) != 0)
            return err_set(e, "features of layer '%s', but head %s was trained on '%s'", layer,
                           head_path, c->head.feature);
    } else if (!model) {
        return err_set(e, "'%s' names no model: give -m MODEL", t->name);
    } else if (cam_classifier_open(c, model, sha, layer, labels, e)) {
        return -1;
    }
    return cam_features_check(c, t, K, h, w, e);
}

int cam_features_check(const cam_classifier *c, tensor *t, int *K, int *h, int *w, err_t *e)
{
    int nd = t->ndim;
    if (nd == 4 && t->dims[0] == 1)
        nd = 3;
    if (nd != 3)
        return err_set(e, "features '%s': shape must be C H W (got %d dims)", t->name, t->ndim);
    int64_t C = t->dims[t->ndim - 3], H = t->dims[t->ndim - 2], W = t->dims[t->ndim - 1];
    if (C != c->head.K)
        return err_set(e, "features '%s': %lld channels, but the head of %s takes %d", t->name,
                       (long long)C, c->name, c->head.K);
    if (H <= 0 || W <= 0 || H * W > (1 << 24))
        return err_set(e, "features '%s': bad spatial size %lldx%lld", t->name, (long long)W, (long long)H);
    if (t->dtype != DT_F32 && tensor_to_f32(t, e))
        return err_prefix(e, "features '%s'", t->name);
    *K = (int)C;
    *h = (int)H;
    *w = (int)W;
    return 0;
}

/* NaN or infinite logits (from features holding NaN or infinities) have
 * no ranking and no probabilities: bad data rather than "-nan" lines. */
static int logits_finite(const float *logits, int n, err_t *e)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(logits[i]))
            return err_set(e, "logit of class %d is %s: the features hold NaN or infinity", i,
                           isnan(logits[i]) ? "NaN" : "infinite");
    return 0;
}

int cam_classifier_logits(cam_classifier *c, const float *feat, int K, int h, int w,
                          float *logits, err_t *e)
{
    const cam_head *hd = &c->head;
    if (c->loaded == 2) {
        if (direct_logits(c, feat, K, h, w, logits, e))
            return -1;
        return logits_finite(logits, hd->nclasses, e);
    }
    int64_t dims[4] = { 1, K, h, w };
    if (!c->en || memcmp(dims, c->en_dims, sizeof dims) != 0) {
        if (c->en)
            engine_free(c->en);
        engine_opts o;
        const char *outs[1] = { hd->logits };
        memset(&o, 0, sizeof o);
        o.threads = 1;
        o.input = hd->feature;
        o.in_ndim = 4;
        memcpy(o.in_dims, dims, sizeof dims);
        o.noutputs = 1;
        o.outputs = outs;
        o.shapes = c->shapes;           /* taken over */
        c->shapes = NULL;
        if (!(c->en = engine_create(&c->g, &o, e)))
            return err_prefix(e, "model %s: the head from '%s' to '%s'", c->name, hd->feature, hd->logits);
        memcpy(c->en_dims, dims, sizeof dims);
        /* The head's weights are copied into c->head and the engine: the
         * model file's pages need not stay in memory. */
        graph_drop_file(&c->g);
    }
    if (engine_run(c->en, feat, e))
        return err_prefix(e, "model %s: head", c->name);
    int64_t od[TENSOR_MAXDIM], n = 1;
    int nd = engine_output_shape(c->en, 0, od);
    for (int i = 0; i < nd; i++)
        n *= od[i];
    if (n != hd->nclasses)
        return err_set(e, "model %s: '%s' has %lld values for %d classes", c->name, hd->logits,
                       (long long)n, hd->nclasses);
    memcpy(logits, engine_output(c->en, 0), sizeof *logits * (size_t)n);
    return logits_finite(logits, (int)n, e);
}

/* cam_map_linear's sums, channel by channel: every pixel's sum is taken in
 * the same order (k = 0, 1, ...) in double, so the map is the same to the
 * bit, but the features are read along their rows instead of with a
 * stride of h*w (five times faster on 1024 x 7 x 7).  acc: n doubles. */
static void map_by_rows(const float *f, int K, size_t n, const float *wt, double *acc, float *out)
{
    for (size_t i = 0; i < n; i++)
        acc[i] = 0;
    size_t nb = n / 8 * 8;
    for (int k = 0; k < K; k++) {
        const double wk = wt[k];
        const float *row = f + (size_t)k * n;
        for (size_t i = 0; i < nb; i += 8)     /* fixed blocks: vector code */
            for (int j = 0; j < 8; j++)
                acc[i + j] += wk * row[i + j];
        for (size_t i = nb; i < n; i++)
            acc[i] += wk * row[i];
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (float)acc[i];
}

int cam_classifier_map(const cam_classifier *c, const float *feat, int K, int h, int w, int cls,
                       float *map, err_t *e)
{
    size_t n = (size_t)h * w;
    if (c->head.identity) {
        memcpy(map, feat + (size_t)cls * n, sizeof *map * n);
        return 0;
    }
    if (K != c->head.K || cls < 0 || cls >= c->head.nclasses)
        return err_set(e, "model %s: no class %d of %d inputs", c->name, cls, K);
    /* the class's row of W: from the model, read now (a model's head keeps
     * no copy of its weights), or the head file's */
    float rstack[1024], *row = c->head.W ? c->head.W + (size_t)cls * K
                               : K <= 1024 ? rstack : malloc(sizeof *row * (size_t)K);
    if (!row)
        return err_set(e, "out of memory");
    if (!c->head.W && head_weight_row(&c->g, &c->head, cls, row) < 0) {
        if (row != rstack)
            free(row);
        return err_set(e, "model %s: the weights of class %d are unreadable", c->name, cls);
    }
    double stack[1024], *acc = n <= 1024 ? stack : malloc(sizeof *acc * n);
    if (acc)
        map_by_rows(feat, K, n, row, acc, map);
    else
        cam_map_linear(feat, K, n, row, map);
    if (acc != stack)
        free(acc);
    if (!c->head.W && row != rstack)
        free(row);
    return 0;
}

const char *cam_classifier_label(const cam_classifier *c, int cls)
{
    return c->head.labels && c->head.labels[cls] ? c->head.labels[cls] : "-";
}

void cam_softmax(const float *logits, int n, double *prob)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    for (int i = 0; i < n; i++)
        s += prob[i] = exp((double)logits[i] - mx);
    for (int i = 0; i < n; i++)
        prob[i] /= s;
}

/* logits[i] ranks above logits[j]; NaN ranks below everything */
static int ranks_above(const float *l, int i, int j)
{
    if (isnan(l[j]))
        return !isnan(l[i]) || i < j;
    return l[i] > l[j] || (l[i] == l[j] && i < j);
}

void cam_topk(const float *logits, int n, int k, int *idx)
{
    int m = 0;                      /* idx[0..m-1] sorted, best first */
    if (k > n)
        k = n;
    for (int i = 0; i < n; i++) {
        if (m == k && !ranks_above(logits, i, idx[m - 1]))
            continue;
        int p = m < k ? m++ : k - 1;
        while (p > 0 && ranks_above(logits, i, idx[p - 1])) {
            idx[p] = idx[p - 1];
            p--;
        }
        idx[p] = i;
    }
}

int cam_write_top(FILE *f, const char *source, const cam_classifier *c, const float *logits,
                  const double *prob, int n, int k, err_t *e)
{
    if (k > n)
        k = n;
    int *top = malloc(sizeof *top * (size_t)(k > 0 ? k : 1));
    if (!top)
        return err_set(e, "out of memory");
    cam_topk(logits, n, k, top);
    for (int i = 0; i < k; i++)
        fprintf(f, "%s\t%d\t%d\t%.6f\t%s\n", source, i + 1, top[i], prob[top[i]],
                cam_classifier_label(c, top[i]));
    free(top);
    return ferror(f) ? err_set(e, "write error") : 0;
}

static int label_matches(const char *label, const char *s)
{
    if (strcmp(label, s) == 0)
        return 1;
    /* "n02124075 Egyptian cat": the part after the WordNet id */
    const char *sp = strchr(label, ' ');
    if (sp && label[0] == 'n' && strcmp(sp + 1, s) == 0)
        return 1;
    const char *name = sp && label[0] == 'n' ? sp + 1 : label;
    /* "tabby, tabby cat": the first name */
    size_t n = strcspn(name, ",");
    return strlen(s) == n && strncmp(name, s, n) == 0;
}

int cam_class_parse(const cam_classifier *c, const char *s, err_t *e)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) {
        if (v < 0 || v >= c->head.nclasses)
            return err_set(e, "class %ld is out of range 0..%d", v, c->head.nclasses - 1);
        return (int)v;
    }
    if (c->head.labels)
        for (int i = 0; i < c->head.nclasses; i++)
            if (c->head.labels[i] && label_matches(c->head.labels[i], s))
                return i;
    return err_set(e, "class '%s' is neither an index nor a label of %s", s, c->name);
}
