/* test_head.c - head_find on hand-built graphs: every kind of global
 * average pooling and linear layer it must recognise, dequantisation,
 * the identity head, labels, and the errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../tap.h"
#include "head.h"

/* ---------------------------------------------------------------- builder */

typedef struct {
    graph g;
    int cap_t, cap_n;
} gb;

static void gb_init(gb *b)
{
    memset(b, 0, sizeof *b);
    b->g.format = GRAPH_ONNX;
    b->cap_t = b->cap_n = 64;
    b->g.tensors = calloc(64, sizeof(gtensor));
    b->g.nodes = calloc(64, sizeof(gnode));
}

static int gb_tensor(gb *b, const char *name, int ndim, const int64_t *dims)
{
    gtensor *t = &b->g.tensors[b->g.ntensors];
    t->name = strdup(name);
    t->dtype = DT_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    return b->g.ntensors++;
}

static int gb_const_f32(gb *b, const char *name, int ndim, const int64_t *dims, const float *v)
{
    int ti = gb_tensor(b, name, ndim, dims);
    gtensor *t = &b->g.tensors[ti];
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    t->nbytes = n * 4;
    t->data = malloc(t->nbytes);
    memcpy(t->data, v, t->nbytes);
    return ti;
}

static gnode *gb_node(gb *b, const char *op, int nin, const int *in, int nout, const int *out)
{
    gnode *n = &b->g.nodes[b->g.nnodes++];
    char name[32];
    snprintf(name, sizeof name, "n%d", b->g.nnodes - 1);
    n->name = strdup(name);
    n->op = strdup(op);
    n->domain = strdup("");
    n->nin = nin;
    n->nout = nout;
    n->in = malloc(sizeof(int) * (size_t)(nin ? nin : 1));
    n->out = malloc(sizeof(int) * (size_t)(nout ? nout : 1));
    memcpy(n->in, in, sizeof(int) * (size_t)nin);
    memcpy(n->out, out, sizeof(int) * (size_t)nout);
    n->attr = calloc(8, sizeof(gattr));
    return n;
}

static void attr_ints(gnode *n, const char *name, int cnt, const int64_t *v)
{
    gattr *a = &n->attr[n->nattr++];
    a->name = strdup(name);
    a->type = ATTR_INTS;
    a->n = cnt;
    a->ints = malloc(sizeof(int64_t) * (size_t)cnt);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static void attr_int(gnode *n, const char *name, int64_t v)
{
    gattr *a = &n->attr[n->nattr++];
    a->name = strdup(name);
    a->type = ATTR_INT;
    a->i = v;
}

static void attr_float(gnode *n, const char *name, float v)
{
    gattr *a = &n->attr[n->nattr++];
    a->name = strdup(name);
    a->type = ATTR_FLOAT;
    a->f = v;
}

static void gb_output(gb *b, int ti)
{
    b->g.outputs = realloc(b->g.outputs, sizeof(int) * (size_t)(b->g.noutputs + 1));
    b->g.outputs[b->g.noutputs++] = ti;
}

static void gb_meta(gb *b, const char *k, const char *v)
{
    b->g.meta = realloc(b->g.meta, sizeof(tensor_kv) * (size_t)(b->g.nmeta + 1));
    b->g.meta[b->g.nmeta].key = strdup(k);
    b->g.meta[b->g.nmeta].val = strdup(v);
    b->g.nmeta++;
}

static void gb_free(gb *b)
{
    for (int i = 0; i < b->g.ntensors; i++) {
        free(b->g.tensors[i].name);
        free(b->g.tensors[i].data);
        free(b->g.tensors[i].scale);
        free(b->g.tensors[i].zero_point);
    }
    for (int i = 0; i < b->g.nnodes; i++) {
        gnode *n = &b->g.nodes[i];
        for (int k = 0; k < n->nattr; k++) {
            free(n->attr[k].name);
            free(n->attr[k].ints);
        }
        free(n->attr);
        free(n->name);
        free(n->op);
        free(n->domain);
        free(n->in);
        free(n->out);
    }
    for (int i = 0; i < b->g.nmeta; i++) {
        free(b->g.meta[i].key);
        free(b->g.meta[i].val);
    }
    free(b->g.meta);
    free(b->g.tensors);
    free(b->g.nodes);
    free(b->g.outputs);
    free(b->g.path);
}

static int close_to(float a, float b)
{
    float d = a > b ? a - b : b - a;
    return d <= 1e-6f * (1 + (a > 0 ? a : -a));
}

/* ---------------------------------------------------------------- cases */

/* head_find_rows gives what head_find gives, W aside, and each row of W
 * from head_weight_row bit for bit. */
static void check_rows(const graph *g, const char *what)
{
    cam_head a, r;
    err_t e = {""};
    if (head_find(g, NULL, NULL, &a, &e) < 0) {
        tap_ok(0, "%s: head_find (%s)", what, e.msg);
        return;
    }
    int rc = head_find_rows(g, NULL, NULL, &r, &e);
    int ok = rc == 0 && !r.W && r.K == a.K && r.nclasses == a.nclasses &&
             (!a.b) == (!r.b) && (!a.b || !memcmp(a.b, r.b, sizeof *a.b * (size_t)a.nclasses));
    float *row = malloc(sizeof *row * (size_t)a.K), *row2 = malloc(sizeof *row2 * (size_t)a.K);
    for (int c = 0; ok && c < a.nclasses; c++)
        ok = head_weight_row(g, &r, c, row) == 0 && head_weight_row(g, &a, c, row2) == 0 &&
             !memcmp(row, a.W + (size_t)c * a.K, sizeof *row * (size_t)a.K) &&
             !memcmp(row2, row, sizeof *row * (size_t)a.K);
    ok = ok && head_weight_row(g, &r, a.nclasses, row) < 0 && head_weight_row(g, &r, -1, row) < 0;
    tap_ok(ok, "%s: head_find_rows reads no W, each row of it on demand, the same bits", what);
    free(row);
    free(row2);
    head_free(&a);
    if (rc == 0)
        head_free(&r);
}

/* feat (1x3x4x4) -> GlobalAveragePool -> Flatten -> Gemm(transB, alpha 2,
 * beta 0.5) -> Softmax */
static void test_gemm(void)
{
    gb b;
    cam_head h;
    err_t e = {""};
    int64_t d4[4] = {1, 3, 4, 4}, dp[4] = {1, 3, 1, 1}, df[2] = {1, 3}, dw[2] = {2, 3}, db[1] = {2}, dl[2] = {1, 2};
    float W[6] = {1, 2, 3, 4, 5, 6}, B[2] = {10, 20};
    gb_init(&b);
    int x = gb_tensor(&b, "x", 4, d4);
    int f = gb_tensor(&b, "feat", 4, d4);
    gb_node(&b, "Relu", 1, &x, 1, &f);
    int p = gb_tensor(&b, "pool", 4, dp);
    gb_node(&b, "GlobalAveragePool", 1, &f, 1, &p);
    int fl = gb_tensor(&b, "flat", 2, df);
    gb_node(&b, "Flatten", 1, &p, 1, &fl);
    int w = gb_const_f32(&b, "W", 2, dw, W), bi = gb_const_f32(&b, "B", 1, db, B);
    int lg = gb_tensor(&b, "logits", 2, dl);
    int gin[3] = {fl, w, bi};
    gnode *gm = gb_node(&b, "Gemm", 3, gin, 1, &lg);
    attr_int(gm, "transB", 1);
    attr_float(gm, "alpha", 2);
    attr_float(gm, "beta", 0.5f);
    int pr = gb_tensor(&b, "prob", 2, dl);
    gb_node(&b, "Softmax", 1, &lg, 1, &pr);
    gb_output(&b, pr);
    gb_meta(&b, "labels", "cat\ndog\n");

    check_rows(&b.g, "Gemm transB alpha");
    int r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == 0, "Gemm head found (%s)", r ? e.msg : "");
    if (r == 0) {
        tap_ok(strcmp(h.feature, "feat") == 0 && strcmp(h.pooled, "pool") == 0 &&
               strcmp(h.logits, "logits") == 0, "Gemm: feature/pooled/logits names");
        tap_ok(h.K == 3 && h.nclasses == 2 && !h.identity, "Gemm: K 3, 2 classes");
        tap_ok(h.W && close_to(h.W[0], 2) && close_to(h.W[2], 6) && close_to(h.W[3], 8) && close_to(h.W[5], 12),
               "Gemm transB: W = alpha * B");
        tap_ok(h.b && close_to(h.b[0], 5) && close_to(h.b[1], 10), "Gemm: b = beta * C");
        tap_ok(h.labels && strcmp(h.labels[0], "cat") == 0 && strcmp(h.labels[1], "dog") == 0,
               "labels from metadata");
        head_free(&h);
    }
    r = head_locate(&b.g, NULL, &h, &e);
    tap_ok(r == 0 && strcmp(h.feature, "feat") == 0 && strcmp(h.logits, "logits") == 0 &&
           h.K == 3 && h.nclasses == 2 && !h.W && !h.b && !h.labels,
           "head_locate: names and sizes, no weights read");
    if (r == 0)
        head_free(&h);
    r = head_find(&b.g, "feat", NULL, &h, &e);
    tap_ok(r == 0 && strcmp(h.feature, "feat") == 0, "feature given by name");
    if (r == 0)
        head_free(&h);
    r = head_find(&b.g, "x", NULL, &h, &e);
    tap_ok(r == -1 && strstr(e.msg, "'x'"), "a tensor that feeds no GAP: error (%s)", e.msg);
    r = head_find(&b.g, "nosuch", NULL, &h, &e);
    tap_ok(r == -1 && strstr(e.msg, "nosuch"), "unknown feature name: error (%s)", e.msg);

    /* transB = 0: B is K x N */
    gm->attr[0].i = 0;
    {
        float Wt[6] = {1, 4, 2, 5, 3, 6};   /* (3 x 2) = transpose of W */
        int64_t dwt[2] = {3, 2};
        b.g.tensors[w].dims[0] = dwt[0];
        b.g.tensors[w].dims[1] = dwt[1];
        memcpy(b.g.tensors[w].data, Wt, sizeof Wt);
    }
    r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == 0 && close_to(h.W[1], 4) && close_to(h.W[3], 8) && close_to(h.W[5], 12),
           "Gemm without transB: W transposed");
    if (r == 0)
        head_free(&h);
    gb_free(&b);
}

/* A squeeze-excite GAP early, then AveragePool(full 2x2) -> Reshape ->
 * MatMul -> Add(const) -> Softmax; an AveragePool that does not cover the
 * map is not a GAP. */
static void test_matmul(void)
{
    gb b;
    cam_head h;
    err_t e = {""};
    int64_t d4[4] = {1, 2, 2, 2}, d44[4] = {1, 2, 4, 4}, dp[4] = {1, 2, 1, 1}, df[2] = {1, 2}, dw[2] = {2, 3},
            db[1] = {3}, dl[2] = {1, 3};
    float W[6] = {1, 2, 3, 4, 5, 6}, B[3] = {-1, 0, 1};
    gb_init(&b);
    int x = gb_tensor(&b, "x", 4, d44);
    int se = gb_tensor(&b, "se", 4, dp);
    gb_node(&b, "GlobalAveragePool", 1, &x, 1, &se);
    int xs = gb_tensor(&b, "xs", 4, d44);
    int mi[2] = {x, se};
    gb_node(&b, "Mul", 2, mi, 1, &xs);
    int f = gb_tensor(&b, "feat", 4, d4);
    gnode *ap0 = gb_node(&b, "AveragePool", 1, &xs, 1, &f);   /* 2x2 stride 2 on 4x4: not global */
    int64_t k2[2] = {2, 2};
    attr_ints(ap0, "kernel_shape", 2, k2);
    attr_ints(ap0, "strides", 2, k2);
    int p = gb_tensor(&b, "pool", 4, dp);
    gnode *ap = gb_node(&b, "AveragePool", 1, &f, 1, &p);
    attr_ints(ap, "kernel_shape", 2, k2);
    int64_t pads[4] = {0, 0, 0, 0};
    attr_ints(ap, "pads", 4, pads);
    int shp = gb_const_f32(&b, "shape", 1, (int64_t[]){2}, (float[]){1, 2});
    int fl = gb_tensor(&b, "flat", 2, df);
    gb_node(&b, "Reshape", 2, (int[]){p, shp}, 1, &fl);
    int w = gb_const_f32(&b, "W", 2, dw, W), bi = gb_const_f32(&b, "B", 1, db, B);
    int mm = gb_tensor(&b, "mm", 2, dl);
    gb_node(&b, "MatMul", 2, (int[]){fl, w}, 1, &mm);
    int lg = gb_tensor(&b, "logits", 2, dl);
    gb_node(&b, "Add", 2, (int[]){bi, mm}, 1, &lg);
    int pr = gb_tensor(&b, "prob", 2, dl);
    gb_node(&b, "Softmax", 1, &lg, 1, &pr);
    gb_output(&b, pr);

    check_rows(&b.g, "MatMul+Add");
    int r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == 0, "MatMul+Add head found (%s)", r ? e.msg : "");
    if (r == 0) {
        tap_ok(strcmp(h.feature, "feat") == 0 && strcmp(h.logits, "logits") == 0 && h.K == 2 && h.nclasses == 3,
               "MatMul: the last GAP (full AveragePool), logits after the Add");
        /* W[c][k] = B[k][c] */
        tap_ok(close_to(h.W[0], 1) && close_to(h.W[1], 4) && close_to(h.W[2], 2) && close_to(h.W[5], 6),
               "MatMul: W transposed from K x N");
        tap_ok(h.b && close_to(h.b[0], -1) && close_to(h.b[2], 1), "MatMul: bias from the Add");
        tap_ok(h.labels == NULL, "no labels anywhere: NULL");
        head_free(&h);
    }
    /* Padding makes the pool not global: then only the squeeze-excite GAP
     * is left, whose consumer is a Mul. */
    ap->attr[1].ints[0] = 1;
    r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == -1 && strstr(e.msg, "Mul"), "padded AveragePool is not a GAP (%s)", e.msg);
    gb_free(&b);
}

/* ReduceMean over {-1,-2} with keepdims -> 1x1 Conv with uint8 per-channel
 * weights and int32 bias -> Reshape -> Softmax (the TFLite shape). */
static void test_conv_quant(void)
{
    gb b;
    cam_head h;
    err_t e = {""};
    int64_t d4[4] = {1, 2, 3, 3}, dp[4] = {1, 2, 1, 1}, dw[4] = {3, 2, 1, 1}, db[1] = {3}, dl[2] = {1, 3},
            dc[4] = {1, 3, 1, 1};
    gb_init(&b);
    b.g.format = GRAPH_TFLITE;
    int f = gb_tensor(&b, "feat", 4, d4);
    int p = gb_tensor(&b, "pool", 4, dp);
    gnode *rm = gb_node(&b, "ReduceMean", 1, &f, 1, &p);
    attr_ints(rm, "axes", 2, (int64_t[]){-1, -2});
    attr_int(rm, "keepdims", 1);
    int w = gb_tensor(&b, "W", 4, dw);
    {
        gtensor *t = &b.g.tensors[w];
        static const uint8_t q[6] = {130, 126, 128, 138, 0, 255};
        t->dtype = DT_U8;
        t->nbytes = 6;
        t->data = malloc(6);
        memcpy(t->data, q, 6);
        t->nq = 3;
        t->qaxis = 0;
        t->scale = malloc(3 * sizeof(float));
        t->zero_point = malloc(3 * sizeof(int32_t));
        t->scale[0] = 0.5f; t->scale[1] = 0.25f; t->scale[2] = 1.0f;
        t->zero_point[0] = 128; t->zero_point[1] = 128; t->zero_point[2] = 100;
    }
    int bi = gb_tensor(&b, "Bq", 1, db);
    {
        gtensor *t = &b.g.tensors[bi];
        static const int32_t q[3] = {4, -8, 100};
        t->dtype = DT_I32;
        t->nbytes = 12;
        t->data = malloc(12);
        memcpy(t->data, q, 12);
        t->nq = 1;
        t->scale = malloc(sizeof(float));
        t->zero_point = malloc(sizeof(int32_t));
        t->scale[0] = 0.125f;
        t->zero_point[0] = 0;
    }
    int cv = gb_tensor(&b, "conv", 4, dc);
    gb_node(&b, "Conv", 3, (int[]){p, w, bi}, 1, &cv);
    int lg = gb_tensor(&b, "T9", 2, dl);
    gb_node(&b, "Reshape", 1, &cv, 1, &lg);
    int pr = gb_tensor(&b, "prob", 2, dl);
    gb_node(&b, "Softmax", 1, &lg, 1, &pr);
    gb_output(&b, pr);

    check_rows(&b.g, "uint8 1x1 Conv");
    int r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == 0, "ReduceMean + 1x1 Conv head found (%s)", r ? e.msg : "");
    if (r == 0) {
        tap_ok(strcmp(h.logits, "T9") == 0 && h.nclasses == 3 && h.K == 2,
               "Conv: logits = the input of the Softmax after the Reshape");
        tap_ok(close_to(h.W[0], 1) && close_to(h.W[1], -1) && close_to(h.W[2], 0) && close_to(h.W[3], 2.5f) &&
               close_to(h.W[4], -100) && close_to(h.W[5], 155), "Conv: per-channel dequantised weights");
        tap_ok(h.b && close_to(h.b[0], 0.5f) && close_to(h.b[1], -1) && close_to(h.b[2], 12.5f),
               "Conv: int32 bias dequantised with its own scale");
        head_free(&h);
    }
    r = head_find(&b.g, "T0", NULL, &h, &e);
    tap_ok(r == 0 && strcmp(h.feature, "feat") == 0, "TFLite 'T<index>' names a tensor");
    if (r == 0)
        head_free(&h);
    /* ReduceMean over the channels is not a GAP */
    rm->attr[0].ints[0] = 1;
    r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == -1, "ReduceMean over C and W is not a GAP (%s)", e.msg);
    gb_free(&b);
}

/* conv10 (1x5x2x2) -> GlobalAveragePool -> Flatten -> Softmax: identity;
 * labels from a file beside the model. */
static void test_identity(void)
{
    gb b;
    cam_head h;
    err_t e = {""};
    int64_t d4[4] = {1, 5, 2, 2}, dp[4] = {1, 5, 1, 1}, df[2] = {1, 5};
    char dir[] = "/tmp/camheadXXXXXX", path[256];
    FILE *f;
    gb_init(&b);
    int c = gb_tensor(&b, "conv10", 4, d4);
    int p = gb_tensor(&b, "pool10", 4, dp);
    gb_node(&b, "GlobalAveragePool", 1, &c, 1, &p);
    int fl = gb_tensor(&b, "pool10/flat", 2, df);
    gb_node(&b, "Flatten", 1, &p, 1, &fl);
    int pr = gb_tensor(&b, "prob", 2, df);
    gb_node(&b, "Softmax", 1, &fl, 1, &pr);
    gb_output(&b, pr);

    if (!mkdtemp(dir)) {
        tap_skip("mkdtemp");
        gb_free(&b);
        return;
    }
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    b.g.path = strdup(path);
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    f = fopen(path, "w");
    fputs("a\r\nb\nc\nd\ne", f);   /* no final newline, one CRLF */
    fclose(f);
    snprintf(path, sizeof path, "%s/other_labels.txt", dir);
    f = fopen(path, "w");
    fputs("1\n2\n3\n", f);          /* wrong count: ignored */
    fclose(f);

    int r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == 0 && h.identity && h.nclasses == 5 && h.K == 5 && !h.W && !h.b,
           "identity head: classes are the channels (%s)", r ? e.msg : "");
    if (r == 0) {
        tap_ok(strcmp(h.logits, "pool10/flat") == 0, "identity: logits = the flattened pool");
        tap_ok(h.labels && strcmp(h.labels[0], "a") == 0 && strcmp(h.labels[4], "e") == 0,
               "labels: the one *labels*.txt beside the model with nclasses lines");
        head_free(&h);
    }
    snprintf(path, sizeof path, "%s/other_labels.txt", dir);
    r = head_find(&b.g, NULL, path, &h, &e);
    tap_ok(r == -1 && strstr(e.msg, "3 lines"), "explicit labels file with the wrong count: error (%s)", e.msg);
    r = head_find(&b.g, NULL, "/nonexistent/labels.txt", &h, &e);
    tap_ok(r == -1, "missing explicit labels file: error (%s)", e.msg);
    unlink(path);
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    unlink(path);
    rmdir(dir);

    /* No GAP at all */
    b.g.nodes[0].op[0] = 'X';
    r = head_find(&b.g, NULL, NULL, &h, &e);
    tap_ok(r == -1 && strstr(e.msg, "no global average pooling"), "no GAP: error (%s)", e.msg);
    gb_free(&b);
}

int main(void)
{
    test_gemm();
    test_matmul();
    test_conv_quant();
    test_identity();
    return tap_done();
}
