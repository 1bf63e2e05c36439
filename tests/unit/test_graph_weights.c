/* test_graph_weights.c - the engine's handling of weights it packs: a Conv
 * reads its weights without copying them, a folded BatchNormalization
 * scales them in place when the Conv is their only reader and in a copy
 * otherwise, and the unpacked weights are dropped after packing unless
 * another node or the caller still reads them; weights are read from the
 * graph one layer at a time, while constants with other uses (a Constant
 * node's tensor) keep their values; a Gemm's constant B is kept by its
 * prepare step, with the reference kernels too.  The graph's own data is
 * never changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "graph_build.h"

enum { C = 2, M = 3, H = 2, W = 2 };

static const float wv[M * C] = { 1, -2, 0.5f, 3, -1, 0.25f };
static const float w2v[M * C] = { 2, 1, -3, 0.5f, 1, -1 };
static const float bn1[4][M] = { { 2, 0.5f, -1 }, { 0.1f, -0.2f, 0.3f }, { 1, 0, -1 }, { 4, 1, 0.25f } };
static const float bn2[4][M] = { { -1, 3, 0.5f }, { 0, 1, 2 }, { 0.5f, 0.5f, 0.5f }, { 1, 2, 3 } };

/* Conv 1x1 without bias, then BN (scale, bias, mean, var; eps 1e-5). */
static void expect(const float *w, const float bn[4][M], const float *x, float *y)
{
    for (int m = 0; m < M; m++)
        for (int p = 0; p < H * W; p++) {
            double z = 0;
            for (int c = 0; c < C; c++)
                z += (double)w[m * C + c] * x[c * H * W + p];
            y[m * H * W + p] = (float)((z - bn[2][m]) / sqrt(bn[3][m] + 1e-5) * bn[0][m] + bn[1][m]);
        }
}

static int close_to(const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1 + fabsf(b[i])))
            return 0;
    return 1;
}

/* x -> Conv(Wt) -> BN1 -> y1;  x -> Conv(Wt) -> BN2 -> y2 (Wt shared);
 * x -> Conv(W2) -> BN1 -> y3 (W2 read by one Conv only). */
static void build(graph *g)
{
    graph_init(g);
    int64_t xd[4] = { 1, C, H, W }, wd[4] = { M, C, 1, 1 }, vd[1] = { M }, yd[4] = { 1, M, H, W };
    int x = TF(g, "x", 4, xd, NULL);
    int wt = TF(g, "Wt", 4, wd, wv);
    int w2 = TF(g, "W2", 4, wd, w2v);
    int p1[4], p2[4];
    const char *n1[4] = { "s1", "b1", "m1", "v1" }, *n2[4] = { "s2", "b2", "m2", "v2" };
    for (int k = 0; k < 4; k++) {
        p1[k] = TF(g, n1[k], 1, vd, bn1[k]);
        p2[k] = TF(g, n2[k], 1, vd, bn2[k]);
    }
    int c1 = TF(g, "c1", 4, yd, NULL), c2 = TF(g, "c2", 4, yd, NULL), c3 = TF(g, "c3", 4, yd, NULL);
    int y1 = TF(g, "y1", 4, yd, NULL), y2 = TF(g, "y2", 4, yd, NULL), y3 = TF(g, "y3", 4, yd, NULL);
    N1(g, "Conv", "conv1", 2, (int[]){ x, wt }, c1);
    N1(g, "BatchNormalization", "bn1", 5, (int[]){ c1, p1[0], p1[1], p1[2], p1[3] }, y1);
    N1(g, "Conv", "conv2", 2, (int[]){ x, wt }, c2);
    N1(g, "BatchNormalization", "bn2", 5, (int[]){ c2, p2[0], p2[1], p2[2], p2[3] }, y2);
    N1(g, "Conv", "conv3", 2, (int[]){ x, w2 }, c3);
    N1(g, "BatchNormalization", "bn3", 5, (int[]){ c3, p1[0], p1[1], p1[2], p1[3] }, y3);
    /* y4 = y3 * k with k from a Constant node's tensor attribute: such
     * constants are read by no node input and must keep their values */
    int64_t one[1] = { 1 };
    int kv = TF(g, "k_value", 1, one, (const float[]){ 2.5f });
    int k = TF(g, "k", 1, one, NULL);
    int y4 = TF(g, "y4", 4, yd, NULL);
    g->nodes = realloc(g->nodes, sizeof *g->nodes * (size_t)(g->nnodes + 1));
    gnode *cn = &g->nodes[g->nnodes++];
    memset(cn, 0, sizeof *cn);
    cn->op = strdup("Constant");
    cn->name = strdup("const_k");
    cn->domain = strdup("");
    cn->nout = 1;
    cn->in = malloc(sizeof(int));
    cn->out = malloc(sizeof(int));
    cn->out[0] = k;
    cn->nattr = 1;
    cn->attr = calloc(1, sizeof *cn->attr);
    cn->attr[0].name = strdup("value");
    cn->attr[0].type = ATTR_TENSOR;
    cn->attr[0].tensor = kv;
    N1(g, "Mul", "mul", 2, (int[]){ y3, k }, y4);
    g->ninputs = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->noutputs = 4;
    g->outputs = malloc(4 * sizeof(int));
    g->outputs[0] = y1;
    g->outputs[1] = y2;
    g->outputs[2] = y3;
    g->outputs[3] = y4;
}

int main(void)
{
    graph g;
    err_t e;
    build(&g);
    float x[C * H * W];
    for (int i = 0; i < C * H * W; i++)
        x[i] = (float)(i % 5) - 1.5f;
    float want[3][M * H * W];
    expect(wv, bn1, x, want[0]);
    expect(wv, bn2, x, want[1]);
    expect(w2v, bn1, x, want[2]);

    for (int ref = 0; ref < 2; ref++) {
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.threads = 1;
        o.reference = ref;
        engine *en = engine_create(&g, &o, &e);
        tap_ok(en != NULL, "%s: engine (%s)", ref ? "reference" : "fast", en ? "ok" : e.msg);
        if (!en)
            continue;
        tap_ok(engine_run(en, x, &e) == 0, "%s: runs", ref ? "reference" : "fast");
        tap_ok(close_to(engine_output(en, 0), want[0], M * H * W) &&
               close_to(engine_output(en, 1), want[1], M * H * W),
               "%s: shared weights folded with two BNs give both results", ref ? "reference" : "fast");
        tap_ok(close_to(engine_output(en, 2), want[2], M * H * W),
               "%s: weights read by one Conv, scaled in place", ref ? "reference" : "fast");
        float w4[M * H * W];
        for (int i = 0; i < M * H * W; i++)
            w4[i] = want[2][i] * 2.5f;
        tap_ok(close_to(engine_output(en, 3), w4, M * H * W),
               "%s: a Constant node's tensor keeps its values", ref ? "reference" : "fast");
        engine_free(en);
    }
    /* shape inference alone: every shape, the graph's data untouched */
    int64_t xd[4] = { 1, C, H, W };
    tap_ok(graph_infer_shapes(&g, NULL, 4, xd, &e) == 0, "graph_infer_shapes (%s)", e.msg);
    int y4 = graph_find_tensor(&g, "y4");
    tap_ok(g.tensors[y4].ndim == 4 && g.tensors[y4].dims[1] == M && g.tensors[y4].dims[3] == W,
           "graph_infer_shapes: the output's shape");
    int wt = graph_find_tensor(&g, "Wt"), w2 = graph_find_tensor(&g, "W2");
    tap_ok(memcmp(g.tensors[wt].data, wv, sizeof wv) == 0 && memcmp(g.tensors[w2].data, w2v, sizeof w2v) == 0 &&
           ((const float *)g.tensors[graph_find_tensor(&g, "k_value")].data)[0] == 2.5f,
           "the graph's weights are unchanged");

    /* the caller asks for the weights too: they must survive packing */
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    const char *outs[2] = { "y3", "W2" };
    o.noutputs = 2;
    o.outputs = outs;
    engine *en = engine_create(&g, &o, &e);
    tap_ok(en != NULL, "weights requested as an output (%s)", en ? "ok" : e.msg);
    if (en) {
        tap_ok(engine_run(en, x, &e) == 0 && close_to(engine_output(en, 0), want[2], M * H * W) &&
               engine_output(en, 1) && memcmp(engine_output(en, 1), w2v, sizeof w2v) == 0,
               "the requested weights come back unscaled, the conv still right");
        engine_free(en);
    }
    graph_free(&g);

    /* A Gemm's B (a classifier's weights) is kept by its prepare step from
     * the graph's deferred values, with the fast kernels and the reference
     * ones: y = x B^T + c, x 2 x 5, B 3 x 5 */
    {
        static const float bv[15] = { 1, 2, 3, 4, 5, -1, 0.5f, 0, 2, -3, 0.25f, -0.5f, 1, 1, 1 };
        static const float cv[3] = { 0.5f, -1, 2 };
        graph gg;
        graph_init(&gg);
        int64_t ad[2] = { 2, 5 }, bd[2] = { 3, 5 }, cd[1] = { 3 }, yd[2] = { 2, 3 };
        int xa = TF(&gg, "a", 2, ad, NULL), xb = TF(&gg, "B", 2, bd, bv), xc = TF(&gg, "c", 1, cd, cv);
        int y = TF(&gg, "y", 2, yd, NULL);
        int ni = N1(&gg, "Gemm", "fc", 3, (int[]){ xa, xb, xc }, y);
        A_int(&gg, ni, "transB", 1);
        io(&gg, xa, y);
        float a[10], want_y[6];
        for (int i = 0; i < 10; i++)
            a[i] = (float)(i % 4) - 1.25f;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                double z = cv[j];
                for (int k = 0; k < 5; k++)
                    z += (double)a[i * 5 + k] * bv[j * 5 + k];
                want_y[i * 3 + j] = (float)z;
            }
        for (int ref = 0; ref < 2; ref++) {
            engine_opts go;
            memset(&go, 0, sizeof go);
            go.threads = 1;
            go.reference = ref;
            go.in_ndim = 2;
            go.in_dims[0] = 2;
            go.in_dims[1] = 5;
            engine *ge = engine_create(&gg, &go, &e);
            tap_ok(ge && engine_run(ge, a, &e) == 0 && close_to(engine_output(ge, 0), want_y, 6),
                   "%s: a Gemm's constant B, kept at prepare", ref ? "reference" : "fast");
            engine_free(ge);
        }
        graph_free(&gg);
    }
    return tap_done();
}
