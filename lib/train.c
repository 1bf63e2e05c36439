/* train.c - linear heads on pooled features: softmax regression or a
 * one-vs-rest squared-hinge SVM with L2, fitted by L-BFGS on standardised
 * features; k-fold cross-validation; the head file (see train.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kernels.h"
#include "train.h"
#include "tstream.h"

/* ---------------------------------------------------------------- head file */

static int dup_str(char **dst, const char *s, err_t *e)
{
    *dst = strdup(s);
    return *dst ? 0 : err_set(e, "out of memory");
}

int head_load_stream(tsr *r, cam_head *h, err_t *e)
{
    tensor t, w, b, l;
    tensor_init(&t);
    tensor_init(&w);
    tensor_init(&b);
    tensor_init(&l);
    memset(h, 0, sizeof *h);
    int st, rc = -1;
    while ((st = tsr_next(r, &t, e)) == 1) {
        const char *kind = tensor_meta_get(&t, "kind");
        if (!kind || strcmp(kind, "head") != 0) {
            err_set(e, "%s: record %ld: kind '%.40s', expected head", tsr_label(r), tsr_index(r) - 1,
                    kind ? kind : "");
            goto out;
        }
        tensor *dst = strcmp(t.name, "weights") == 0 ? &w :
                      strcmp(t.name, "bias") == 0 ? &b :
                      strcmp(t.name, "labels") == 0 ? &l : NULL;
        if (!dst)
            continue;   /* records added by later versions */
        if (dst->name) {
            err_set(e, "%s: record %ld: a second '%s' record", tsr_label(r), tsr_index(r) - 1, t.name);
            goto out;
        }
        *dst = t;       /* moved */
        tensor_init(&t);
    }
    if (st < 0)
        goto out;
    const char *lab = tsr_label(r);
    if (!w.name || !b.name) {
        err_set(e, "%s: not a head file: no '%s' record", lab, w.name ? "bias" : "weights");
        goto out;
    }
    if (tensor_to_f32(&w, e) < 0 || tensor_to_f32(&b, e) < 0) {
        err_prefix(e, "%s", lab);
        goto out;
    }
    if (w.ndim != 2 || w.dims[0] < 1 || w.dims[1] < 1 || w.dims[0] > INT_MAX / 2 || w.dims[1] > INT_MAX / 2) {
        err_set(e, "%s: weights: shape must be C K", lab);
        goto out;
    }
    int C = (int)w.dims[0], K = (int)w.dims[1];
    if (b.ndim != 1 || b.dims[0] != C) {
        err_set(e, "%s: bias: shape must be %d (the classes of weights)", lab, C);
        goto out;
    }
    for (size_t i = 0; i < (size_t)C * K; i++)
        if (!isfinite(((float *)w.data)[i])) {
            err_set(e, "%s: weights: non-finite value at %zu", lab, i);
            goto out;
        }
    h->K = K;
    h->nclasses = C;
    h->W = w.data;
    w.data = NULL;
    h->b = b.data;
    b.data = NULL;
    const char *layer = tensor_meta_get(&w, "layer");
    if (layer && *layer && dup_str(&h->feature, layer, e) < 0)
        goto out;
    if (l.name) {
        if (l.dtype != DT_U8 || l.ndim != 1) {
            err_set(e, "%s: labels: must be u8 bytes of one dimension", lab);
            goto out;
        }
        const char *p = l.data, *end = p + l.nbytes;
        h->labels = calloc((size_t)C, sizeof *h->labels);
        if (!h->labels) {
            err_set(e, "out of memory");
            goto out;
        }
        for (int c = 0; c < C; c++) {
            const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
            if (!nl) {
                err_set(e, "%s: labels: %d names for %d classes", lab, c, C);
                goto out;
            }
            if (memchr(p, '\0', (size_t)(nl - p))) {
                err_set(e, "%s: labels: NUL byte in name %d", lab, c);
                goto out;
            }
            h->labels[c] = strndup(p, (size_t)(nl - p));
            if (!h->labels[c]) {
                err_set(e, "out of memory");
                goto out;
            }
            p = nl + 1;
        }
        if (p != end) {
            err_set(e, "%s: labels: more names than the %d classes", lab, C);
            goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0)
        head_free(h);
    tensor_free(&t);
    tensor_free(&w);
    tensor_free(&b);
    tensor_free(&l);
    return rc;
}

int head_load_file(const char *path, cam_head *h, err_t *e)
{
    memset(h, 0, sizeof *h);
    tsr *r = tsr_open(path, e);
    if (!r)
        return -1;
    int rc = head_load_stream(r, h, e);
    tsr_close(r);
    return rc;
}

int head_write_file(const char *path, const cam_head *h, const tensor_kv *meta, int nmeta, err_t *e)
{
    int tostdout = !path || strcmp(path, "-") == 0;
    char *tmp = NULL;
    tensor w, b, l;
    tensor_init(&w);
    tensor_init(&b);
    tensor_init(&l);
    tsw *wr = NULL;
    int rc = -1;
    if (h->identity || !h->W || h->nclasses < 1 || h->K < 1)
        return err_set(e, "head: nothing to write (identity or empty head)");
    int64_t dw[2] = { h->nclasses, h->K }, db[1] = { h->nclasses };
    if (tensor_alloc(&w, "weights", DT_F32, 2, dw, "C K", e) < 0 ||
        tensor_alloc(&b, "bias", DT_F32, 1, db, NULL, e) < 0)
        goto out;
    memcpy(w.data, h->W, w.nbytes);
    if (h->b)
        memcpy(b.data, h->b, b.nbytes);
    if (tensor_meta_set(&w, "kind", "head", e) < 0 || tensor_meta_set(&b, "kind", "head", e) < 0 ||
        tensor_meta_setf(&w, "classes", e, "%d", h->nclasses) < 0 ||
        tensor_meta_setf(&w, "features", e, "%d", h->K) < 0 ||
        (h->feature && tensor_meta_set(&w, "layer", h->feature, e) < 0))
        goto out;
    for (int i = 0; i < nmeta; i++)
        if (tensor_meta_set(&w, meta[i].key, meta[i].val, e) < 0)
            goto out;
    if (h->labels) {
        size_t len = 0;
        for (int c = 0; c < h->nclasses; c++) {
            if (strchr(h->labels[c], '\n')) {
                err_set(e, "head: label %d contains a newline", c);
                goto out;
            }
            len += strlen(h->labels[c]) + 1;
        }
        int64_t dl[1] = { (int64_t)len };
        if (tensor_alloc(&l, "labels", DT_U8, 1, dl, NULL, e) < 0 ||
            tensor_meta_set(&l, "kind", "head", e) < 0)
            goto out;
        char *p = l.data;
        for (int c = 0; c < h->nclasses; c++) {
            size_t n = strlen(h->labels[c]);
            memcpy(p, h->labels[c], n);
            p[n] = '\n';
            p += n + 1;
        }
    }
    /* a new or regular file is written beside and renamed into place, so
     * that no half head is ever seen; anything else (a FIFO, /dev/stdout, a
     * device) is written into as it is, never replaced */
    struct stat st;
    int inplace = tostdout || (stat(path, &st) == 0 && !S_ISREG(st.st_mode));
    if (!inplace) {
        size_t n = strlen(path) + 16;
        tmp = malloc(n);
        if (!tmp) {
            err_set(e, "out of memory");
            goto out;
        }
        snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    }
    if (!(wr = tsw_open(tostdout ? "-" : inplace ? path : tmp, 0, e)) || tsw_write(wr, &w, e) < 0 ||
        tsw_write(wr, &b, e) < 0 || (l.name && tsw_write(wr, &l, e) < 0))
        goto out;
    tsw *w2 = wr;
    wr = NULL;
    if (tsw_close(w2, e) < 0)
        goto out;
    if (!inplace && rename(tmp, path) != 0) {
        err_set(e, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (wr) {
        err_t e2;
        tsw_close(wr, &e2);
    }
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    tensor_free(&w);
    tensor_free(&b);
    tensor_free(&l);
    return rc;
}

/* ---------------------------------------------------------------- pooling */

int train_pool(tensor *t, float **out, int *K, err_t *e)
{
    *out = NULL;
    int nd = t->ndim, k0 = 0;
    if (nd == 4 && t->dims[0] == 1)
        k0 = 1;
    else if (nd != 3)
        return err_set(e, "features must be K x H x W (or 1 x K x H x W), not %d dimensions", nd);
    int64_t k = t->dims[k0], hw = t->dims[k0 + 1] * t->dims[k0 + 2];
    if (k < 1 || k > (1 << 24) || hw < 1)
        return err_set(e, "feature shape out of range");
    if (tensor_to_f32(t, e) < 0)
        return -1;
    float *o = malloc((size_t)k * sizeof *o);
    if (!o)
        return err_set(e, "out of memory");
    const float *f = t->data;
    for (int64_t c = 0; c < k; c++) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++)
            s += f[c * hw + i];
        o[c] = (float)(s / (double)hw);
    }
    *out = o;
    *K = (int)k;
    return 0;
}

/* ---------------------------------------------------------------- labels */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int train_read_labels(FILE *f, const char *label, char ***names, char ***labels, int *n, err_t *e)
{
    char *line = NULL, **nm = NULL, **lb = NULL;
    size_t cap = 0;
    int cnt = 0, ncap = 0, rc = -1;
    long lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            err_set(e, "%s:%ld: NUL byte in line", label, lineno);
            goto out;
        }
        if (len > 65536) {
            err_set(e, "%s:%ld: line too long", label, lineno);
            goto out;
        }
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *comma = strchr(s, ',');
        if (!comma) {
            err_set(e, "%s:%ld: expected name,label", label, lineno);
            goto out;
        }
        *comma = '\0';
        char *name = trim(s), *lab = trim(comma + 1);
        if (lineno == 1 && strcmp(name, "name") == 0 && strcmp(lab, "label") == 0)
            continue;
        if (!*name || !*lab) {
            err_set(e, "%s:%ld: empty %s", label, lineno, *name ? "label" : "name");
            goto out;
        }
        if (cnt == ncap) {
            if (ncap >= 1 << 26) {
                err_set(e, "%s:%ld: too many lines", label, lineno);
                goto out;
            }
            int nc = ncap ? ncap * 2 : 256;
            char **a = realloc(nm, (size_t)nc * sizeof *a);
            if (!a) {
                err_set(e, "out of memory");
                goto out;
            }
            nm = a;
            char **b = realloc(lb, (size_t)nc * sizeof *b);
            if (!b) {
                err_set(e, "out of memory");
                goto out;
            }
            lb = b;
            ncap = nc;
        }
        nm[cnt] = strdup(name);
        lb[cnt] = strdup(lab);
        cnt++;
        if (!nm[cnt - 1] || !lb[cnt - 1]) {
            err_set(e, "out of memory");
            goto out;
        }
    }
    if (ferror(f)) {
        err_set(e, "%s: read error: %s", label, strerror(errno));
        goto out;
    }
    if (cnt == 0) {
        err_set(e, "%s: no labels", label);
        goto out;
    }
    rc = 0;
out:
    free(line);
    if (rc < 0) {
        for (int i = 0; i < cnt; i++) {
            free(nm[i]);
            free(lb[i]);
        }
        free(nm);
        free(lb);
        nm = lb = NULL;
        cnt = 0;
    }
    *names = nm;
    *labels = lb;
    *n = cnt;
    return rc;
}

/* ---------------------------------------------------------------- fitting */

typedef struct {
    const float *Z;     /* n x K standardised features */
    const int   *y;
    int          n, K, C, method;
    double       lambda;
    float       *Wf;    /* C x K scratch */
    float       *L;     /* n x C logits / gradient wrt logits */
    float       *GW;    /* C x K */
} objective;

/* f(theta) and its gradient; theta = [W (C x K) | b (C)]. */
static double obj_eval(objective *ob, const double *th, double *g)
{
    int n = ob->n, K = ob->K, C = ob->C;
    size_t nw = (size_t)C * K;
    float bias[4096];
    float *bf = C <= 4096 ? bias : malloc((size_t)C * sizeof *bf);
    for (size_t i = 0; i < nw; i++)
        ob->Wf[i] = (float)th[i];
    for (int c = 0; c < C; c++)
        bf[c] = (float)th[nw + c];
    /* L = Z W^T + b */
    sgemm(0, 1, n, C, K, 1.0f, ob->Z, K, ob->Wf, K, 0.0f, ob->L, C, bf, NULL);
    double f = 0;
    double *gb = g + nw;
    for (int c = 0; c < C; c++)
        gb[c] = 0;
    for (int i = 0; i < n; i++) {
        float *l = ob->L + (size_t)i * C;
        int yi = ob->y[i];
        if (ob->method == TRAIN_SOFTMAX) {
            double mx = l[0];
            for (int c = 1; c < C; c++)
                if (l[c] > mx)
                    mx = l[c];
            double se = 0;
            for (int c = 0; c < C; c++)
                se += exp(l[c] - mx);
            f += log(se) + mx - l[yi];
            for (int c = 0; c < C; c++) {
                double p = exp(l[c] - mx) / se - (c == yi);
                l[c] = (float)(p / n);
                gb[c] += p / n;
            }
        } else {
            for (int c = 0; c < C; c++) {
                double yy = c == yi ? 1.0 : -1.0, m = 1.0 - yy * l[c];
                if (m > 0) {
                    f += m * m;
                    l[c] = (float)(-2.0 * yy * m / n);
                    gb[c] += -2.0 * yy * m / n;
                } else {
                    l[c] = 0;
                }
            }
        }
    }
    f /= n;
    /* GW = G^T Z (G = dL, already divided by n) */
    sgemm(1, 0, C, K, n, 1.0f, ob->L, C, ob->Z, K, 0.0f, ob->GW, K, NULL, NULL);
    double reg = 0;
    for (size_t i = 0; i < nw; i++) {
        reg += th[i] * th[i];
        g[i] = ob->GW[i] + ob->lambda * th[i];
    }
    if (bf != bias)
        free(bf);
    return f + 0.5 * ob->lambda * reg;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#define LBFGS_M 10

/* Minimises ob over th (P parameters) with L-BFGS and Armijo backtracking. */
static int lbfgs(objective *ob, double *th, size_t P, int maxiter, double tol, int *iters, err_t *e)
{
    double *g = malloc(P * sizeof *g), *d = malloc(P * sizeof *d), *xn = malloc(P * sizeof *xn),
           *gn = malloc(P * sizeof *gn), *S = malloc(LBFGS_M * P * sizeof *S),
           *Y = malloc(LBFGS_M * P * sizeof *Y);
    double rho[LBFGS_M], alpha[LBFGS_M];
    if (!g || !d || !xn || !gn || !S || !Y) {
        free(g); free(d); free(xn); free(gn); free(S); free(Y);
        return err_set(e, "out of memory");
    }
    double f = obj_eval(ob, th, g);
    int m = 0, head = 0, it;
    for (it = 0; it < maxiter; it++) {
        double gmax = 0;
        for (size_t i = 0; i < P; i++)
            if (fabs(g[i]) > gmax)
                gmax = fabs(g[i]);
        if (gmax < tol)
            break;
        /* two-loop recursion: d = -H g */
        for (size_t i = 0; i < P; i++)
            d[i] = -g[i];
        for (int j = 0; j < m; j++) {
            int k = (head - 1 - j + LBFGS_M) % LBFGS_M;
            alpha[k] = rho[k] * dot(S + (size_t)k * P, d, P);
            for (size_t i = 0; i < P; i++)
                d[i] -= alpha[k] * Y[(size_t)k * P + i];
        }
        if (m > 0) {
            int k = (head - 1 + LBFGS_M) % LBFGS_M;
            double gam = dot(S + (size_t)k * P, Y + (size_t)k * P, P) / dot(Y + (size_t)k * P, Y + (size_t)k * P, P);
            for (size_t i = 0; i < P; i++)
                d[i] *= gam;
        }
        for (int j = m - 1; j >= 0; j--) {
            int k = (head - 1 - j + LBFGS_M) % LBFGS_M;
            double beta = rho[k] * dot(Y + (size_t)k * P, d, P);
            for (size_t i = 0; i < P; i++)
                d[i] += S[(size_t)k * P + i] * (alpha[k] - beta);
        }
        double gd = dot(g, d, P);
        if (!(gd < 0)) {            /* not a descent direction: restart */
            for (size_t i = 0; i < P; i++)
                d[i] = -g[i];
            gd = dot(g, d, P);
            m = 0;
        }
        double t = 1.0;
        if (m == 0) {
            double gn2 = sqrt(dot(g, g, P));
            t = gn2 > 1 ? 1.0 / gn2 : 1.0;
        }
        double fn = f;
        int ls;
        for (ls = 0; ls < 40; ls++) {
            for (size_t i = 0; i < P; i++)
                xn[i] = th[i] + t * d[i];
            fn = obj_eval(ob, xn, gn);
            if (fn <= f + 1e-4 * t * gd)
                break;
            t *= 0.5;
        }
        if (ls == 40)
            break;                  /* no progress possible at float precision */
        int k = head;
        double sy = 0;
        for (size_t i = 0; i < P; i++) {
            S[(size_t)k * P + i] = xn[i] - th[i];
            Y[(size_t)k * P + i] = gn[i] - g[i];
        }
        sy = dot(S + (size_t)k * P, Y + (size_t)k * P, P);
        if (sy > 1e-12) {
            rho[k] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (m < LBFGS_M)
                m++;
        }
        memcpy(th, xn, P * sizeof *th);
        memcpy(g, gn, P * sizeof *g);
        double df = f - fn;
        f = fn;
        if (df >= 0 && df < 1e-10 * (fabs(f) + 1e-10))
            break;
    }
    if (iters)
        *iters = it;
    free(g); free(d); free(xn); free(gn); free(S); free(Y);
    return 0;
}

int train_fit(const float *X, const int *y, int n, int K, int C, const train_opts *o,
              float *W, float *b, int *iters, err_t *e)
{
    if (n < 1 || K < 1 || C < 2)
        return err_set(e, "training needs samples, features and at least 2 classes");
    if ((size_t)n * (size_t)K > ((size_t)1 << 31) || (size_t)C * (size_t)K > ((size_t)1 << 28))
        return err_set(e, "training set too large");
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C)
            return err_set(e, "sample %d: class %d out of range", i, y[i]);
    size_t P = (size_t)C * K + C;
    double *mu = calloc((size_t)K, sizeof *mu), *sd = calloc((size_t)K, sizeof *sd);
    float *Z = malloc((size_t)n * K * sizeof *Z);
    double *th = calloc(P, sizeof *th);
    objective ob = { Z, y, n, K, C, o->method, o->lambda, malloc((size_t)C * K * sizeof(float)),
                     malloc((size_t)n * C * sizeof(float)), malloc((size_t)C * K * sizeof(float)) };
    int rc = -1;
    if (!mu || !sd || !Z || !th || !ob.Wf || !ob.L || !ob.GW) {
        err_set(e, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++)
            mu[k] += X[(size_t)i * K + k];
    for (int k = 0; k < K; k++)
        mu[k] /= n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            double v = X[(size_t)i * K + k] - mu[k];
            sd[k] += v * v;
        }
    for (int k = 0; k < K; k++) {
        sd[k] = sqrt(sd[k] / n);
        if (!(sd[k] > 1e-12 * (fabs(mu[k]) + 1e-30)) || !isfinite(sd[k]))
            sd[k] = 1.0;            /* constant feature: only centred */
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++)
            Z[(size_t)i * K + k] = (float)((X[(size_t)i * K + k] - mu[k]) / sd[k]);
    if (lbfgs(&ob, th, P, o->maxiter, o->tol, iters, e) < 0)
        goto out;
    /* back to raw features: s = sum_k w'_k (x_k - mu_k)/sd_k + b'
     *                        = sum_k (w'_k/sd_k) x_k + (b' - sum_k w'_k mu_k/sd_k) */
    for (int c = 0; c < C; c++) {
        double bb = th[(size_t)C * K + c];
        for (int k = 0; k < K; k++) {
            double wk = th[(size_t)c * K + k] / sd[k];
            W[(size_t)c * K + k] = (float)wk;
            bb -= wk * mu[k];
        }
        b[c] = (float)bb;
    }
    rc = 0;
out:
    free(mu);
    free(sd);
    free(Z);
    free(th);
    free(ob.Wf);
    free(ob.L);
    free(ob.GW);
    return rc;
}

int train_predict(const float *x, int K, int C, const float *W, const float *b)
{
    int best = 0;
    double bs = -INFINITY;
    for (int c = 0; c < C; c++) {
        double s = b ? b[c] : 0;
        for (int k = 0; k < K; k++)
            s += (double)W[(size_t)c * K + k] * x[k];
        if (s > bs) {
            bs = s;
            best = c;
        }
    }
    return best;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

int train_cv(const float *X, const int *y, int n, int K, int C, int folds, uint64_t seed,
             const train_opts *o, int *pred, err_t *e)
{
    if (folds < 2 || folds > n)
        return err_set(e, "%d folds for %d samples", folds, n);
    int *fold = malloc((size_t)n * sizeof *fold), *idx = malloc((size_t)n * sizeof *idx);
    int *ytr = malloc((size_t)n * sizeof *ytr);
    float *Xtr = calloc((size_t)n * K, sizeof *Xtr);
    float *W = malloc((size_t)C * K * sizeof *W), *b = malloc((size_t)C * sizeof *b);
    int rc = -1;
    if (!fold || !idx || !ytr || !Xtr || !W || !b) {
        err_set(e, "out of memory");
        goto out;
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (!s)
        s = 1;
    int next = 0;
    for (int c = 0; c < C; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (y[i] == c)
                idx[m++] = i;
        for (int i = m - 1; i > 0; i--) {          /* Fisher-Yates */
            int j = (int)(xorshift(&s) % (uint64_t)(i + 1));
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        for (int i = 0; i < m; i++)
            fold[idx[i]] = next++ % folds;
    }
    for (int f = 0; f < folds; f++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (fold[i] != f) {
                memcpy(Xtr + (size_t)m * K, X + (size_t)i * K, (size_t)K * sizeof *Xtr);
                ytr[m++] = y[i];
            }
        /* a class absent from this training split simply gets no samples */
        if (train_fit(Xtr, ytr, m, K, C, o, W, b, NULL, e) < 0) {
            err_prefix(e, "fold %d", f + 1);
            goto out;
        }
        for (int i = 0; i < n; i++)
            if (fold[i] == f)
                pred[i] = train_predict(X + (size_t)i * K, K, C, W, b);
    }
    rc = 0;
out:
    free(fold);
    free(idx);
    free(ytr);
    free(Xtr);
    free(W);
    free(b);
    return rc;
}
