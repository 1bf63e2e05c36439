/* test_train.c - the linear head trainer (lib/train.c): the optimum of a
 * problem solved by hand, standardisation folded into W and b, stratified
 * deterministic k-fold, the head file round trip and its bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../tap.h"
#include "train.h"
#include "tstream.h"

static uint64_t rs = 12345;
static double urand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static void test_optimum(void)
{
    /* Two classes, one feature x = -1 (class 0) / +1 (class 1), already
     * standard.  By symmetry W = [-a, a], b = 0 with
     * f(a) = log(1 + exp(-2a)) + lambda a^2, f'(a) = 0 solved by bisection. */
    float X[40];
    int y[40];
    for (int i = 0; i < 40; i++) {
        y[i] = i & 1;
        X[i] = y[i] ? 1.0f : -1.0f;
    }
    double lambda = 0.1, lo = 0, hi = 10;
    for (int it = 0; it < 200; it++) {
        double a = (lo + hi) / 2, d = -2.0 / (1.0 + exp(2 * a)) + 2 * lambda * a;
        if (d > 0)
            hi = a;
        else
            lo = a;
    }
    train_opts o = { TRAIN_SOFTMAX, lambda, 500, 1e-7 };
    float W[2], b[2];
    err_t e;
    int iters;
    iters = -1;
    int rc = train_fit(X, y, 40, 1, 2, &o, W, b, &iters, &e);
    tap_ok(rc == 0 && iters > 0, "fit (%d iterations)", iters);
    tap_ok(fabs(W[1] - lo) < 1e-4 && fabs(W[0] + lo) < 1e-4 && fabs(b[0]) < 1e-5 && fabs(b[1]) < 1e-5,
           "softmax optimum: W = [%.6f %.6f], want +-%.6f", W[0], W[1], lo);

    /* The same data shifted and scaled: x' = 50 + 7x.  Standardisation
     * makes the fitted function identical: W' = W/7, b' = -W' * 50. */
    float X2[40];
    for (int i = 0; i < 40; i++)
        X2[i] = 50 + 7 * X[i];
    float W2[2], b2[2];
    train_fit(X2, y, 40, 1, 2, &o, W2, b2, NULL, &e);
    tap_ok(fabs(W2[1] - lo / 7) < 1e-4 && fabs(b2[1] + W2[1] * 50) < 1e-3,
           "W and b are for the raw features (W %.6f, b %.6f)", W2[1], b2[1]);

    /* SVM, squared hinge, one-vs-rest: both scores of a sample have margin
     * 1 - a, so f(a) = 2 (1 - a)^2 + lambda a^2 (both rows), minimum at
     * a = 2 / (2 + lambda). */
    train_opts os = { TRAIN_SVM, lambda, 500, 1e-8 };
    train_fit(X, y, 40, 1, 2, &os, W, b, NULL, &e);
    tap_ok(fabs(W[1] - 2.0 / (2.0 + lambda)) < 1e-4, "SVM optimum: %.6f, want %.6f", W[1], 2.0 / (2 + lambda));

    tap_ok(train_fit(X, y, 40, 1, 1, &o, W, b, NULL, &e) < 0, "one class refused");
    y[3] = 5;
    tap_ok(train_fit(X, y, 40, 1, 2, &o, W, b, NULL, &e) < 0, "class out of range refused");
}

static void test_cv(void)
{
    /* 4 classes in 16 dims, 25 samples each, overlapping a little. */
    int n = 100, K = 16, C = 4;
    float *X = malloc(sizeof *X * (size_t)n * K);
    int y[100], p1[100], p2[100], p3[100];
    for (int i = 0; i < n; i++) {
        y[i] = i % C;
        for (int k = 0; k < K; k++)
            X[i * K + k] = (float)(urand() * 2 + (k == y[i] ? 1.5 : 0) + (k == 15 ? 1e4 : 0));
    }
    train_opts o = { TRAIN_SOFTMAX, 1e-2, 300, 1e-6 };
    err_t e;
    tap_ok(train_cv(X, y, n, K, C, 5, 7, &o, p1, &e) == 0, "5-fold CV");
    train_cv(X, y, n, K, C, 5, 7, &o, p2, &e);
    train_cv(X, y, n, K, C, 5, 8, &o, p3, &e);
    tap_ok(memcmp(p1, p2, sizeof p1) == 0, "same seed, same predictions");
    int ok = 0, diff = 0;
    for (int i = 0; i < n; i++) {
        ok += p1[i] == y[i];
        diff += p1[i] != p3[i];
    }
    tap_diag("cv accuracy %d/100, %d predictions change with the seed", ok, diff);
    tap_ok(ok > 60 && ok < 100, "CV accuracy plausible for overlapping classes (%d%%)", ok);
    float W[64], b[4];
    train_fit(X, y, n, K, C, &o, W, b, NULL, &e);
    int okt = 0;
    for (int i = 0; i < n; i++)
        okt += train_predict(X + i * K, K, C, W, b) == y[i];
    tap_ok(okt >= ok, "training accuracy (%d) >= CV accuracy (%d)", okt, ok);
    tap_ok(train_cv(X, y, n, K, C, 1, 7, &o, p1, &e) < 0, "1 fold refused");
    free(X);
}

static void test_head_file(void)
{
    char path[] = "/tmp/test_train_headXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    float W[6] = { 1, 2, 3, 4, 5, 6.5f }, b[2] = { -1, 0.25f };
    char *labels[2] = { "dog", "cat, tabby" };
    cam_head h = { 0 };
    h.K = 3;
    h.nclasses = 2;
    h.W = W;
    h.b = b;
    h.labels = labels;
    h.feature = "inception_5b/output";
    tensor_kv meta[1] = { { "trainer", "softmax" } };
    err_t e;
    tap_ok(head_write_file(path, &h, meta, 1, &e) == 0, "head written (%s)", e.msg);
    cam_head g;
    tap_ok(head_load_file(path, &g, &e) == 0, "head read back (%s)", e.msg);
    tap_ok(g.K == 3 && g.nclasses == 2 && memcmp(g.W, W, sizeof W) == 0 && memcmp(g.b, b, sizeof b) == 0 &&
           !g.identity && !g.pooled && !g.logits, "weights, bias, sizes equal");
    tap_ok(g.labels && strcmp(g.labels[1], "cat, tabby") == 0 && strcmp(g.feature, "inception_5b/output") == 0,
           "labels and layer");
    head_free(&g);

    /* bad head files, built record by record */
    static const float one = 1.0f, two[2] = { 1, 2 };
    uint32_t nanbits = 0x7fc00000u;
    struct { const char *w_kind, *w_shape; const void *w; size_t wn;
             const char *b_shape; const void *bp; size_t bn;
             const char *labels; size_t ln; const char *want; } bad[] = {
        { "features", "1 1", &one, 4, NULL, NULL, 0, NULL, 0, "kind" },
        { "head", "1 1", &one, 4, NULL, NULL, 0, NULL, 0, "no 'bias'" },
        { "head", "2 1", two, 8, "1", &one, 4, NULL, 0, "bias: shape" },
        { "head", "1 1", &one, 4, "1", &one, 4, "a\nb\n", 4, "more names" },
        { "head", "1 1", &one, 4, "1", &one, 4, "a", 1, "0 names" },
        { "head", "1 1", &nanbits, 4, "1", &one, 4, NULL, 0, "non-finite" },
        { "head", "1", &one, 4, "1", &one, 4, NULL, 0, "shape must be C K" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        fprintf(m, "CAMTENSOR 1\nname weights\ndtype f32\nshape %s\nkind %s\nENDHDR\n", bad[i].w_shape, bad[i].w_kind);
        fwrite(bad[i].w, 1, bad[i].wn, m);
        if (bad[i].b_shape) {
            fprintf(m, "CAMTENSOR 1\nname bias\ndtype f32\nshape %s\nkind head\nENDHDR\n", bad[i].b_shape);
            fwrite(bad[i].bp, 1, bad[i].bn, m);
        }
        if (bad[i].labels) {
            fprintf(m, "CAMTENSOR 1\nname labels\ndtype u8\nshape %zu\nkind head\nENDHDR\n", bad[i].ln);
            fwrite(bad[i].labels, 1, bad[i].ln, m);
        }
        fclose(m);
        tsr *r = tsr_mem(buf, len, &e);
        int rc = r ? head_load_stream(r, &g, &e) : -1;
        tap_ok(rc < 0 && strstr(e.msg, bad[i].want), "bad head %zu: %s", i, e.msg);
        if (r)
            tsr_close(r);
        free(buf);
    }
    unlink(path);
}

static void test_labels_and_pool(void)
{
    const char *txt = "name,label\n a.JPEG , dog \n\nb.JPEG,cat, tabby\r\n";
    FILE *f = fmemopen((void *)txt, strlen(txt), "r");
    char **nm, **lb;
    int n;
    err_t e;
    tap_ok(train_read_labels(f, "l.csv", &nm, &lb, &n, &e) == 0 && n == 2 && strcmp(nm[0], "a.JPEG") == 0 &&
           strcmp(lb[0], "dog") == 0 && strcmp(lb[1], "cat, tabby") == 0, "labels CSV");
    fclose(f);
    for (int i = 0; i < n; i++) {
        free(nm[i]);
        free(lb[i]);
    }
    free(nm);
    free(lb);
    const char *bad = "a,dog\nb\n";
    f = fmemopen((void *)bad, strlen(bad), "r");
    tap_ok(train_read_labels(f, "l.csv", &nm, &lb, &n, &e) < 0 && strstr(e.msg, "l.csv:2:"), "bad line: %s", e.msg);
    fclose(f);
    const char *empty = "a,\n";
    f = fmemopen((void *)empty, strlen(empty), "r");
    tap_ok(train_read_labels(f, "l.csv", &nm, &lb, &n, &e) < 0 && strstr(e.msg, "empty label"), "empty label");
    fclose(f);

    tensor t;
    tensor_init(&t);
    int64_t d[3] = { 2, 2, 3 };
    tensor_alloc(&t, "f", DT_F32, 3, d, NULL, &e);
    for (int i = 0; i < 12; i++)
        ((float *)t.data)[i] = (float)i;
    float *p;
    int K;
    tap_ok(train_pool(&t, &p, &K, &e) == 0 && K == 2 && p[0] == 2.5f && p[1] == 8.5f, "GAP");
    free(p);
    tensor_free(&t);
    int64_t d2[2] = { 2, 6 };
    tensor_alloc(&t, "f", DT_F32, 2, d2, NULL, &e);
    tap_ok(train_pool(&t, &p, &K, &e) < 0, "2-D features refused");
    tensor_free(&t);
}

int main(void)
{
    test_optimum();
    test_cv();
    test_head_file();
    test_labels_and_pool();
    return tap_done();
}
