/* test_engine.c - the engine on small graphs built in C: fusion, constant
 * folding, arena reuse and aliasing, quantisation rounding, inner inputs,
 * threads, and graphs that must be refused with a clear message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "kernels.h"
#include "graph_build.h"

/* ------------------------------------------------------------ graph building */

static void quant(graph *g, int ti, float s, int zp)
{
    gtensor *t = &g->tensors[ti];
    t->nq = 1;
    t->scale = malloc(sizeof(float));
    t->zero_point = malloc(sizeof(int32_t));
    t->scale[0] = s;
    t->zero_point[0] = zp;
}

static engine *make(const graph *g, const char *input, int nout, const char **outs, int threads, err_t *e)
{
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.input = input;
    o.noutputs = nout;
    o.outputs = outs;
    o.threads = threads ? threads : 1;
    return engine_create(g, &o, e);
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* ------------------------------------------------------------ tests */

/* Conv -> BatchNormalization -> Relu, fused into one convolution, against
 * ref_conv2d followed by the plain formulas; asking for the convolution's
 * own output keeps it unfused. */
static void test_conv_bn_relu(void)
{
    graph g;
    err_t e;
    unsigned seed = 1;
    enum { C = 3, M = 4, H = 6, W = 5 };
    float x[C * H * W], w[M * C * 9], b[M], sc[M], bi[M], mu[M], va[M];
    for (int i = 0; i < C * H * W; i++) x[i] = frand(&seed);
    for (int i = 0; i < M * C * 9; i++) w[i] = frand(&seed);
    for (int i = 0; i < M; i++) {
        b[i] = frand(&seed);
        sc[i] = 1 + frand(&seed) / 2;
        bi[i] = frand(&seed);
        mu[i] = frand(&seed) / 4;
        va[i] = 1 + frand(&seed) / 2;
    }
    graph_init(&g);
    int64_t xd[4] = {1, C, H, W}, wd[4] = {M, C, 3, 3}, md[1] = {M}, od[4] = {1, M, H, W};
    int tx = T(&g, "x", DT_F32, 4, xd, NULL);
    int tw = T(&g, "w", DT_F32, 4, wd, w), tb = T(&g, "b", DT_F32, 1, md, b);
    int ts = T(&g, "s", DT_F32, 1, md, sc), tbi = T(&g, "bi", DT_F32, 1, md, bi);
    int tm = T(&g, "m", DT_F32, 1, md, mu), tv = T(&g, "v", DT_F32, 1, md, va);
    int tc = T(&g, "c", DT_F32, -1, od, NULL), tn = T(&g, "n", DT_F32, -1, od, NULL);
    int ty = T(&g, "y", DT_F32, -1, od, NULL);
    int ci[3] = {tx, tw, tb}, bni[5] = {tc, ts, tbi, tm, tv};
    int nc = N(&g, "Conv", "conv", 3, ci, 1, &tc);
    int64_t pads[4] = {1, 1, 1, 1};
    A_ints(&g, nc, "pads", 4, pads);
    int nb = N(&g, "BatchNormalization", "bn", 5, bni, 1, &tn);
    A_float(&g, nb, "epsilon", 1e-3f);
    N(&g, "Relu", "relu", 1, &tn, 1, &ty);
    io(&g, tx, ty);

    conv_params p = {C, H, W, M, H, W, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, ACT_NONE, 0, 0};
    float conv[M * H * W], want[M * H * W];
    ref_conv2d(&p, x, w, b, conv);
    for (int m = 0; m < M; m++)
        for (int i = 0; i < H * W; i++) {
            float a = sc[m] / sqrtf(va[m] + 1e-3f);
            float v = (conv[m * H * W + i] - mu[m]) * a + bi[m];
            want[m * H * W + i] = v > 0 ? v : 0;
        }
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "conv+bn+relu: plan")) {
        engine_run(en, x, &e);
        double d = maxdiff(engine_output(en, 0), want, M * H * W);
        tap_ok(d < 1e-5, "conv+bn+relu: fused result matches (max diff %g)", d);
        int nt = engine_ntensors(en), nd;
        int64_t dd[8];
        const char *want_names[4] = {"x", "c", "n", "y"};
        int names_ok = nt == 4;
        for (int i = 0; names_ok && i < 4; i++)
            names_ok = !strcmp(engine_tensor_name(en, i, dd, &nd), want_names[i]) && nd == 4 &&
                       dd[1] == (i ? M : C);
        tap_ok(names_ok, "tensor listing: graph order, fused tensors included, each once (%d)", nt);
        engine_free(en);
    } else
        tap_diag("%s", e.msg);
    const char *outs[2] = {"c", "y"};
    en = make(&g, NULL, 2, outs, 1, &e);
    if (tap_ok(en != NULL, "conv+bn+relu with the conv output requested: plan")) {
        engine_run(en, x, &e);
        double d1 = maxdiff(engine_output(en, 0), conv, M * H * W);
        double d2 = maxdiff(engine_output(en, 1), want, M * H * W);
        tap_ok(d1 < 1e-5 && d2 < 1e-5, "requested inner output is kept unfused (%g, %g)", d1, d2);
        engine_free(en);
    }

    /* The shape inference kept for the engine: the same plan and numbers,
     * with the fused and the unfused outputs; one made from another graph
     * is not used; every one is freed (a leak shows under ASan). */
    float ref[M * H * W], ref2[2][M * H * W];
    memset(ref, 0, sizeof ref);
    memset(ref2, 0, sizeof ref2);
    en = make(&g, NULL, 0, NULL, 1, &e);
    if (en) {
        engine_run(en, x, &e);
        memcpy(ref, engine_output(en, 0), sizeof ref);
        engine_free(en);
    }
    en = make(&g, NULL, 2, outs, 1, &e);
    if (en) {
        engine_run(en, x, &e);
        memcpy(ref2[0], engine_output(en, 0), sizeof ref);
        memcpy(ref2[1], engine_output(en, 1), sizeof ref);
        engine_free(en);
    }
    for (int pass = 0; pass < 2; pass++) {
        engine_shapes *sh = engine_infer_shapes(&g, 0, NULL, &e);
        tap_ok(sh != NULL && g.tensors[ty].ndim == 4 && g.tensors[ty].dims[1] == M,
               "engine_infer_shapes: shapes filled in (pass %d)", pass);
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.threads = 1;
        o.shapes = sh;
        if (pass == 1) {
            o.noutputs = 2;
            o.outputs = outs;
        }
        en = engine_create(&g, &o, &e);
        if (tap_ok(en != NULL, "engine from kept shapes: plan (pass %d)", pass)) {
            engine_run(en, x, &e);
            int same = pass ? memcmp(engine_output(en, 0), ref2[0], sizeof ref) == 0 &&
                                  memcmp(engine_output(en, 1), ref2[1], sizeof ref) == 0
                            : memcmp(engine_output(en, 0), ref, sizeof ref) == 0;
            double d = maxdiff(engine_output(en, pass), want, M * H * W);
            tap_ok(same && d < 1e-5, "engine from kept shapes: same result (pass %d, %g)", pass, d);
            tap_ok(engine_ntensors(en) == 4, "engine from kept shapes: same listing (pass %d)", pass);
            engine_free(en);
        } else
            tap_diag("%s", e.msg);
    }
    {
        /* kept from a copy of the graph: not this one's; a bad option */
        graph g2;
        graph_init(&g2);
        int x2 = T(&g2, "x", DT_F32, 4, xd, NULL), y2 = T(&g2, "y", DT_F32, -1, od, NULL);
        N(&g2, "Relu", "relu", 1, &x2, 1, &y2);
        io(&g2, x2, y2);
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.threads = 1;
        o.shapes = engine_infer_shapes(&g2, 0, NULL, &e);
        en = engine_create(&g, &o, &e);
        int ok = en != NULL;
        if (ok) {
            engine_run(en, x, &e);
            ok = memcmp(engine_output(en, 0), ref, sizeof ref) == 0;
            engine_free(en);
        }
        tap_ok(ok, "shapes kept for another graph: not used, right result");
        o.shapes = engine_infer_shapes(&g2, 0, NULL, &e);
        o.threads = -1;
        tap_ok(engine_create(&g, &o, &e) == NULL, "shapes handed to a failing engine_create: freed");
        graph_free(&g2);
    }
    graph_free(&g);
}

/* A chain of element-wise nodes reuses memory; reshaping nodes alias; a
 * requested inner output survives the rest of the run. */
static void test_arena(void)
{
    graph g;
    err_t e;
    enum { L = 10, S = 1000 };
    float two = 2, x[S];
    int64_t d[2] = {1, S}, sd[3] = {1, 10, 100}, one[1] = {1};
    int64_t shp[3] = {1, 10, 100};
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 2, d, NULL), prev = tx;
    int tk = T(&g, "two", DT_F32, 1, one, &two);
    int tshape = T(&g, "shape", DT_I64, 1, (int64_t[]){3}, shp);
    char name[32];
    for (int i = 0; i < L; i++) {
        snprintf(name, sizeof name, "t%d", i);
        int t = T(&g, name, DT_F32, -1, d, NULL);
        int in[2] = {prev, tk};
        snprintf(name, sizeof name, "mul%d", i);
        N(&g, "Mul", name, 2, in, 1, &t);
        prev = t;
    }
    int tr = T(&g, "r", DT_F32, -1, sd, NULL), tf = T(&g, "f", DT_F32, -1, d, NULL);
    int ri[2] = {prev, tshape};
    N(&g, "Reshape", "reshape", 2, ri, 1, &tr);
    N(&g, "Flatten", "flatten", 1, &tr, 1, &tf);
    io(&g, tx, tf);
    for (int i = 0; i < S; i++)
        x[i] = (float)i - 500;
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "arena: plan")) {
        size_t ab = engine_arena_bytes(en);
        tap_ok(ab <= 2 * (S * 4 + 64), "arena: %d chained nodes fit in two buffers (%zu bytes)", L, ab);
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        int ok = 1;
        for (int i = 0; i < S; i++)
            ok &= y[i] == x[i] * 1024;
        tap_ok(ok, "arena: values right after reuse and aliasing");
        int64_t od[8];
        tap_ok(engine_output_shape(en, 0, od) == 2 && od[0] == 1 && od[1] == S, "arena: Flatten shape");
        engine_free(en);
    }
    const char *outs[2] = {"t2", "f"};
    en = make(&g, NULL, 2, outs, 1, &e);
    if (tap_ok(en != NULL, "arena with an inner output: plan")) {
        engine_run(en, x, &e);
        const float *a = engine_output(en, 0), *y = engine_output(en, 1);
        int ok = 1;
        for (int i = 0; i < S; i++)
            ok &= a[i] == x[i] * 8 && y[i] == x[i] * 1024;
        tap_ok(ok, "arena: requested inner output not overwritten by later nodes");
        engine_free(en);
    }
    graph_free(&g);
}

/* Quantised input and output: rounding half to even, clamping, fused RELU6
 * before the rounding. */
static void test_quant(void)
{
    graph g;
    err_t e;
    int64_t d[2] = {1, 8}, one[1] = {1};
    float k = 0.0f;
    graph_init(&g);
    int tx = T(&g, "x", DT_U8, 2, d, NULL);
    quant(&g, tx, 0.5f, 10);
    int tk = T(&g, "k", DT_F32, 1, one, &k);
    int ty = T(&g, "y", DT_U8, 2, d, NULL);
    quant(&g, ty, 0.25f, 3);
    int in[2] = {tx, tk};
    int na = N(&g, "Add", "add", 2, in, 1, &ty);
    io(&g, tx, ty);
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    /* input grid 0.5 (zp 10): -5 .. 122.5; output grid 0.25 (zp 3): -0.75 .. 63 */
    float x[8] = {0.25f, 0.75f, -100, 1000, 1.3f, 3.0f, 62.9f, -0.74f};
    /* x rounded to 0.5: 0.25 -> 0 (q 10.5 -> 10, even), 0.75 -> 1 (11.5 -> 12),
     * -100 -> -5, 1000 -> 122.5, 1.3 -> 1.5, 3, 62.9 -> 63, -0.74 -> -0.5;
     * then to 0.25 with clamp to [-0.75, 63]. */
    float want[8] = {0, 1, -0.75f, 63, 1.5f, 3, 63, -0.5f};
    if (tap_ok(en != NULL, "quant: plan")) {
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        int ok = 1;
        for (int i = 0; i < 8; i++)
            if (y[i] != want[i]) {
                ok = 0;
                tap_diag("element %d: %g, want %g", i, y[i], want[i]);
            }
        tap_ok(ok, "quant: input and output rounded half to even and clamped");
        engine_free(en);
    }
    A_str(&g, na, "fused_activation", "RELU6");
    en = make(&g, NULL, 0, NULL, 1, &e);
    float want6[8] = {0, 1, 0, 6, 1.5f, 3, 6, 0};
    if (tap_ok(en != NULL, "quant + RELU6: plan")) {
        engine_run(en, x, &e);
        tap_ok(!memcmp(engine_output(en, 0), want6, sizeof want6), "quant: fused RELU6 clamps before rounding");
        engine_free(en);
    }
    graph_free(&g);
}

/* Per-channel quantised uint8 weights are dequantised: scale[c] * (q - zp[c]). */
static void test_quant_weights(void)
{
    graph g;
    err_t e;
    int64_t xd[4] = {1, 1, 1, 2}, wd[4] = {2, 1, 1, 1}, od[4] = {1, 2, 1, 2};
    uint8_t wq[2] = {130, 11};
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 4, xd, NULL);
    int tw = T(&g, "w", DT_U8, 4, wd, wq);
    gtensor *gw = &g.tensors[tw];
    gw->nq = 2;
    gw->qaxis = 0;
    gw->scale = malloc(2 * sizeof(float));
    gw->zero_point = malloc(2 * sizeof(int32_t));
    gw->scale[0] = 0.5f; gw->zero_point[0] = 128;
    gw->scale[1] = 0.25f; gw->zero_point[1] = 3;
    int ty = T(&g, "y", DT_F32, 4, od, NULL);
    int in[2] = {tx, tw};
    N(&g, "Conv", "conv", 2, in, 1, &ty);
    io(&g, tx, ty);
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    float x[2] = {3, -2}, want[4] = {3, -2, 6, -4};   /* weights 1 and 2 */
    if (tap_ok(en != NULL, "per-channel weights: plan")) {
        engine_run(en, x, &e);
        tap_ok(!memcmp(engine_output(en, 0), want, sizeof want), "per-channel weights dequantised");
        engine_free(en);
    } else
        tap_diag("%s", e.msg);
    graph_free(&g);
}

/* Running only the head from an inner tensor, with a new shape. */
static void test_inner_input(void)
{
    graph g;
    err_t e;
    int64_t d[4] = {1, 2, 3, 3}, one[1] = {1};
    float two = 2;
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 4, d, NULL), ta = T(&g, "a", DT_F32, -1, d, NULL);
    int tk = T(&g, "k", DT_F32, 1, one, &two), tb = T(&g, "b", DT_F32, -1, d, NULL);
    int tp = T(&g, "p", DT_F32, -1, d, NULL);
    N(&g, "Relu", "relu", 1, &tx, 1, &ta);
    int in[2] = {ta, tk};
    N(&g, "Mul", "mul", 2, in, 1, &tb);
    N(&g, "GlobalAveragePool", "gap", 1, &tb, 1, &tp);
    io(&g, tx, tp);
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.input = "a";
    o.threads = 1;
    engine *en = engine_create(&g, &o, &e);
    if (tap_ok(en != NULL, "inner input: plan")) {
        int64_t id[8];
        int nd = engine_input_shape(en, id);
        tap_ok(nd == 4 && id[1] == 2 && id[2] == 3, "inner input: shape from the graph's input");
        float x[18];
        for (int i = 0; i < 18; i++)
            x[i] = -1;
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        tap_ok(y[0] == -2 && y[1] == -2, "inner input: upstream Relu not run");
        engine_free(en);
    }
    o.in_ndim = 4;
    o.in_dims[0] = 1; o.in_dims[1] = 2; o.in_dims[2] = 5; o.in_dims[3] = 7;
    en = engine_create(&g, &o, &e);
    if (tap_ok(en != NULL, "inner input with its own shape: plan")) {
        float x[70];
        for (int i = 0; i < 70; i++)
            x[i] = i < 35 ? 1 : 3;
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        tap_ok(y[0] == 2 && y[1] == 6, "inner input with its own shape: result");
        engine_free(en);
    }
    graph_free(&g);
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape, folded at plan time. */
static void test_folding(void)
{
    graph g;
    err_t e;
    int64_t d[4] = {2, 3, 2, 2}, zero = 0, minus1 = -1, s1[1] = {1}, ax0[1] = {0};
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 4, d, NULL);
    int tsh = T(&g, "sh", DT_I64, -1, d, NULL), ti = T(&g, "i0", DT_I64, 0, NULL, &zero);
    int tg = T(&g, "g", DT_I64, -1, d, NULL), tu = T(&g, "u", DT_I64, -1, d, NULL);
    int tm = T(&g, "m1", DT_I64, 1, s1, &minus1), tc = T(&g, "cat", DT_I64, -1, d, NULL);
    int ty = T(&g, "y", DT_F32, -1, d, NULL);
    N(&g, "Shape", "shape", 1, &tx, 1, &tsh);
    int gi[2] = {tsh, ti};
    N(&g, "Gather", "gather", 2, gi, 1, &tg);
    int nu = N(&g, "Unsqueeze", "unsq", 1, &tg, 1, &tu);
    A_ints(&g, nu, "axes", 1, ax0);
    int ci[2] = {tu, tm};
    int ncat = N(&g, "Concat", "concat", 2, ci, 1, &tc);
    A_int(&g, ncat, "axis", 0);
    int ri[2] = {tx, tc};
    N(&g, "Reshape", "reshape", 2, ri, 1, &ty);
    io(&g, tx, ty);
    g.opset = 11;
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "folding: plan")) {
        int64_t od[8];
        int nd = engine_output_shape(en, 0, od);
        tap_ok(nd == 2 && od[0] == 2 && od[1] == 12, "folding: Reshape target computed at plan time");
        engine_free(en);
    } else
        tap_diag("%s", e.msg);
    tap_ok(graph_infer_shapes(&g, NULL, 0, NULL, &e) == 0 && g.tensors[ty].ndim == 2 &&
               g.tensors[ty].dims[1] == 12 && g.tensors[tsh].ndim == 1 && g.tensors[tsh].dims[0] == 4,
           "graph_infer_shapes fills every shape");
    int64_t nd4[4] = {5, 3, 2, 2};
    tap_ok(graph_infer_shapes(&g, "x", 4, nd4, &e) == 0 && g.tensors[ty].dims[0] == 5,
           "graph_infer_shapes from another batch size");
    graph_free(&g);
}

/* Gemm weights are read from the model only for a Gemm that is folded or
 * run: y = x W^T + c (run), k = a V^T (folded: every input constant),
 * z = y + k. */
static void test_gemm_weights(void)
{
    graph g;
    err_t e;
    int64_t dx[2] = {1, 3}, dw[2] = {2, 3}, db[1] = {2}, dy[2] = {1, 2};
    float W[6] = {1, 2, 3, 4, 5, 6}, C[2] = {0.5f, -1}, Av[3] = {1, -1, 2}, V[6] = {2, 0, 1, -3, 1, 1};
    float x[3] = {0.25f, -2, 3};
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 2, dx, NULL), tw = T(&g, "W", DT_F32, 2, dw, W);
    int tc = T(&g, "c", DT_F32, 1, db, C), ta = T(&g, "a", DT_F32, 2, dx, Av);
    int tv = T(&g, "V", DT_F32, 2, dw, V);
    int ty = T(&g, "y", DT_F32, -1, dy, NULL), tk = T(&g, "k", DT_F32, -1, dy, NULL);
    int tz = T(&g, "z", DT_F32, -1, dy, NULL);
    int i1[3] = {tx, tw, tc}, i2[2] = {ta, tv}, i3[2] = {ty, tk};
    A_int(&g, N(&g, "Gemm", "fc", 3, i1, 1, &ty), "transB", 1);
    A_int(&g, N(&g, "Gemm", "folded", 2, i2, 1, &tk), "transB", 1);
    N(&g, "Add", "add", 2, i3, 1, &tz);
    io(&g, tx, tz);
    float want[2];
    for (int j = 0; j < 2; j++) {
        float y = C[j], k = 0;
        for (int i = 0; i < 3; i++) {
            y += x[i] * W[j * 3 + i];
            k += Av[i] * V[j * 3 + i];
        }
        want[j] = y + k;
    }
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "Gemm weights: plan")) {
        tap_ok(engine_run(en, x, &e) == 0 && maxdiff(engine_output(en, 0), want, 2) < 1e-5,
               "Gemm weights: a run Gemm and a folded Gemm read their weights");
        engine_free(en);
    } else
        tap_diag("%s", e.msg);
    graph_free(&g);
}

/* Softmax: opset < 13 flattens from axis; opset 13 normalises one axis. */
static void test_softmax_opsets(void)
{
    graph g;
    err_t e;
    int64_t d[3] = {1, 2, 2};
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 3, d, NULL), ty = T(&g, "y", DT_F32, -1, d, NULL);
    N(&g, "Softmax", "sm", 1, &tx, 1, &ty);
    io(&g, tx, ty);
    float x[4] = {0, 0, 0, 0};
    g.opset = 11;
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (en) {
        engine_run(en, x, &e);
        tap_ok(fabsf(engine_output(en, 0)[0] - 0.25f) < 1e-6f, "Softmax opset 11: over the coerced 2-D rows");
        engine_free(en);
    } else
        tap_ok(0, "Softmax opset 11 plan: %s", e.msg);
    g.opset = 13;
    en = make(&g, NULL, 0, NULL, 1, &e);
    if (en) {
        engine_run(en, x, &e);
        tap_ok(fabsf(engine_output(en, 0)[0] - 0.5f) < 1e-6f, "Softmax opset 13: over the last axis");
        engine_free(en);
    } else
        tap_ok(0, "Softmax opset 13 plan: %s", e.msg);
    graph_free(&g);
}

/* LRN: the AVX-512 and AVX2 kernels (beta 0.75) give the same bits as the
 * generic path,
 * on maps with a vector tail (7x7, 13x1) and channels at both edges; a
 * beta of 0.5 against powf. */
static void test_lrn(void)
{
    static const int64_t shapes[][4] = {{1, 9, 7, 7}, {2, 6, 13, 1}, {1, 3, 16, 16}};
    for (int si = 0; si < 3; si++) {
        const int64_t *d = shapes[si];
        size_t n = (size_t)(d[0] * d[1] * d[2] * d[3]);
        float *x = malloc(n * sizeof *x);
        unsigned seed = 11 + (unsigned)si;
        for (size_t i = 0; i < n; i++)
            x[i] = 4 * frand(&seed);
        for (int b = 0; b < 2; b++) {
            graph g;
            err_t e;
            graph_init(&g);
            int tx = T(&g, "x", DT_F32, 4, d, NULL), ty = T(&g, "y", DT_F32, -1, d, NULL);
            int nl = N(&g, "LRN", "lrn", 1, &tx, 1, &ty);
            A_int(&g, nl, "size", 5);
            A_float(&g, nl, "alpha", 0.5f);
            A_float(&g, nl, "beta", b ? 0.5f : 0.75f);
            A_float(&g, nl, "bias", 2);
            io(&g, tx, ty);
            engine *fast = make(&g, NULL, 0, NULL, 1, &e);
            simd_cap(SIMD_AVX2);
            engine *avx2 = make(&g, NULL, 0, NULL, 1, &e);
            simd_cap(SIMD_PORTABLE);
            engine *sse = make(&g, NULL, 0, NULL, 1, &e);
            simd_cap(SIMD_AVX512);
            int ok = fast && avx2 && sse && engine_run(fast, x, &e) == 0 &&
                     engine_run(avx2, x, &e) == 0 && engine_run(sse, x, &e) == 0;
            const float *y = ok ? engine_output(fast, 0) : NULL;
            ok = ok && !memcmp(y, engine_output(sse, 0), n * sizeof *y) &&
                 !memcmp(y, engine_output(avx2, 0), n * sizeof *y);
            int64_t C = d[1], in = d[2] * d[3];
            for (int64_t i = 0; ok && i < (int64_t)n; i++) {
                int64_t c = (i / in) % C, base = i - c * in;
                float sq = 0;
                for (int64_t cc = c - 2; cc <= c + 2; cc++)
                    if (cc >= 0 && cc < C)
                        sq += x[base + cc * in] * x[base + cc * in];
                float want = x[i] / powf(2 + 0.5f / 5 * sq, b ? 0.5f : 0.75f);
                ok = fabsf(y[i] - want) <= 1e-5f * fmaxf(1, fabsf(want));
            }
            tap_ok(ok, "LRN %lldx%lldx%lldx%lld beta %s: the SIMD paths agree bit for bit and with powf",
                   (long long)d[0], (long long)d[1], (long long)d[2], (long long)d[3], b ? "0.5" : "0.75");
            engine_free(fast);
            engine_free(avx2);
            engine_free(sse);
            graph_free(&g);
        }
        free(x);
    }
}

/* Threads: pooling, LRN and Add split over a pool agree with one thread. */
static void test_threads(void)
{
    graph g;
    err_t e;
    enum { C = 16, H = 20, W = 20 };
    int64_t d[4] = {1, C, H, W}, od[4] = {1, C, 10, 10};
    static float x[C * H * W];
    unsigned seed = 7;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&seed);
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 4, d, NULL), tl = T(&g, "l", DT_F32, -1, d, NULL);
    int ta = T(&g, "a", DT_F32, -1, d, NULL), tp = T(&g, "p", DT_F32, -1, od, NULL);
    int nl = N(&g, "LRN", "lrn", 1, &tx, 1, &tl);
    A_int(&g, nl, "size", 5);
    int ai[2] = {tl, tx};
    N(&g, "Add", "add", 2, ai, 1, &ta);
    int np = N(&g, "MaxPool", "pool", 1, &ta, 1, &tp);
    int64_t k[2] = {3, 3}, s[2] = {2, 2}, pads[4] = {1, 1, 0, 0};
    A_ints(&g, np, "kernel_shape", 2, k);
    A_ints(&g, np, "strides", 2, s);
    A_ints(&g, np, "pads", 4, pads);
    io(&g, tx, tp);
    engine *e1 = make(&g, NULL, 0, NULL, 1, &e), *e3 = make(&g, NULL, 0, NULL, 3, &e);
    if (tap_ok(e1 && e3, "threads: plan")) {
        engine_run(e1, x, &e);
        engine_run(e3, x, &e);
        tap_ok(!memcmp(engine_output(e1, 0), engine_output(e3, 0), sizeof(float) * C * 100),
               "threads: 3 threads give the same bytes as 1");
        /* the max pool against a direct computation */
        const float *y = engine_output(e1, 0);
        int ok = 1;
        for (int c = 0; c < C && ok; c++)
            for (int oy = 0; oy < 10; oy++)
                for (int ox = 0; ox < 10; ox++) {
                    float m = -INFINITY;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                            if (iy < 0 || ix < 0 || iy >= H || ix >= W)
                                continue;
                            float v = x[(c * H + iy) * W + ix];
                            float sq = 0;
                            for (int cc = c - 2; cc <= c + 2; cc++)
                                if (cc >= 0 && cc < C)
                                    sq += x[(cc * H + iy) * W + ix] * x[(cc * H + iy) * W + ix];
                            float l = v / powf(1 + 1e-4f / 5 * sq, 0.75f) + v;
                            m = l > m ? l : m;
                        }
                    if (fabsf(y[(c * 10 + oy) * 10 + ox] - m) > 1e-5f)
                        ok = 0;
                }
        tap_ok(ok, "threads: LRN + Add + MaxPool match a direct computation");
    }
    engine_free(e1);
    engine_free(e3);
    graph_free(&g);
}

/* Graphs the engine must refuse, with the message it gives. */
static void expect_fail(graph *g, const char *input, const char *want, const char *what)
{
    err_t e;
    memset(&e, 0, sizeof e);
    engine *en = make(g, input, 0, NULL, 1, &e);
    int ok = en == NULL && strstr(e.msg, want) != NULL;
    tap_ok(ok, "refused: %s", what);
    if (!ok)
        tap_diag("message: '%s', want '%s'", en ? "(created)" : e.msg, want);
    engine_free(en);
}

static void test_bad_graphs(void)
{
    graph g;
    int64_t d[2] = {1, 3}, d4[2] = {1, 4}, big[2] = {1 << 20, 1 << 20}, one[1] = {1};
    float w[12] = {0};

    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 2, d, NULL), ty = T(&g, "y", DT_F32, -1, d, NULL);
    N(&g, "Frobnicate", "n1", 1, &tx, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "unsupported operator 'Frobnicate' in node 'n1'", "unsupported operator");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, d, NULL);
    int tk = T(&g, "k", DT_F32, 2, d4, w);
    ty = T(&g, "y", DT_F32, -1, d, NULL);
    int in[2] = {tx, tk};
    N(&g, "Add", "add1", 2, in, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "node 'add1' (Add): shapes of 'x' and 'k' do not broadcast", "shape mismatch");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, d, NULL);
    int tz = T(&g, "z", DT_F32, 2, d, NULL);
    ty = T(&g, "y", DT_F32, -1, d, NULL);
    int in2[2] = {tx, tz};
    N(&g, "Add", "add2", 2, in2, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "needs 'z', which is not computed from the input 'x'", "missing input");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, big, NULL);
    ty = T(&g, "y", DT_F32, -1, d, NULL);
    N(&g, "Relu", "r", 1, &tx, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "more than", "element count overflow");
    graph_free(&g);

    graph_init(&g);
    int64_t xd[4] = {1, 1, 2, 2}, wd[4] = {1, 1, 1, 1};
    tx = T(&g, "x", DT_F32, 4, xd, NULL);
    int tw = T(&g, "w", DT_F32, -1, wd, NULL);
    ty = T(&g, "y", DT_F32, -1, xd, NULL);
    N(&g, "Identity", "id", 1, &tx, 1, &tw);
    int cin[2] = {tx, tw};
    N(&g, "Conv", "cv", 2, cin, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "weights and bias must be constant", "non-constant conv weights");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, d, NULL);
    int64_t shp[2] = {2, 2};
    int ts = T(&g, "s", DT_I64, 1, (int64_t[]){2}, shp);
    ty = T(&g, "y", DT_F32, -1, d, NULL);
    int rin[2] = {tx, ts};
    N(&g, "Reshape", "rs", 2, rin, 1, &ty);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "cannot reshape 3 elements", "reshape to the wrong element count");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, d, NULL);
    ty = T(&g, "y", DT_F32, -1, d, NULL);
    int nc = N(&g, "Concat", "cc", 1, &tx, 1, &ty);
    A_int(&g, nc, "axis", 5);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "axis out of range", "Concat axis out of range");
    graph_free(&g);

    graph_init(&g);
    int64_t x3[5] = {1, 1, 2, 2, 2}, k3[3] = {2, 2, 2};
    tx = T(&g, "x", DT_F32, 5, x3, NULL);
    ty = T(&g, "y", DT_F32, -1, x3, NULL);
    int np = N(&g, "MaxPool", "mp", 1, &tx, 1, &ty);
    A_ints(&g, np, "kernel_shape", 3, k3);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "3-D pooling is not supported", "3-D pooling");
    graph_free(&g);

    graph_init(&g);
    int64_t x2[4] = {1, 1, 2, 2}, k5[2] = {5, 5};
    tx = T(&g, "x", DT_F32, 4, x2, NULL);
    ty = T(&g, "y", DT_F32, -1, x2, NULL);
    np = N(&g, "AveragePool", "ap", 1, &tx, 1, &ty);
    A_ints(&g, np, "kernel_shape", 2, k5);
    io(&g, tx, ty);
    expect_fail(&g, NULL, "does not fit input size", "pooling window larger than the input");
    graph_free(&g);

    graph_init(&g);
    tx = T(&g, "x", DT_F32, 2, d, NULL);
    tk = T(&g, "k", DT_F32, 1, one, w);
    expect_fail(&g, "k", "is a constant", "a constant as input");
    expect_fail(&g, "nonesuch", "no tensor named 'nonesuch'", "unknown input name");
    graph_free(&g);
}

/* 1-D convolution (SAME_LOWER, dilation 2) against ref_conv2d with h = 1;
 * the same convolution of a constant is folded at plan time. */
static void test_conv1d(void)
{
    graph g;
    err_t e;
    enum { C = 2, M = 3, L = 9, K = 3 };
    float x[C * L], w[M * C * K], want[M * L];
    unsigned seed = 3;
    for (int i = 0; i < C * L; i++) x[i] = frand(&seed);
    for (int i = 0; i < M * C * K; i++) w[i] = frand(&seed);
    graph_init(&g);
    int64_t xd[3] = {1, C, L}, wd[3] = {M, C, K}, od[3] = {1, M, L};
    int tx = T(&g, "x", DT_F32, 3, xd, NULL), tw = T(&g, "w", DT_F32, 3, wd, w);
    int ty = T(&g, "y", DT_F32, -1, od, NULL);
    int tcx = T(&g, "cx", DT_F32, 3, xd, x), tcy = T(&g, "cy", DT_F32, -1, od, NULL);
    int tsum = T(&g, "sum", DT_F32, -1, od, NULL);
    int in[2] = {tx, tw}, cin[2] = {tcx, tw}, ain[2] = {ty, tcy};
    int nc = N(&g, "Conv", "conv", 2, in, 1, &ty);
    A_str(&g, nc, "auto_pad", "SAME_LOWER");
    A_ints(&g, nc, "dilations", 1, (int64_t[]){2});
    int nc2 = N(&g, "Conv", "constconv", 2, cin, 1, &tcy);
    A_str(&g, nc2, "auto_pad", "SAME_LOWER");
    A_ints(&g, nc2, "dilations", 1, (int64_t[]){2});
    N(&g, "Add", "add", 2, ain, 1, &tsum);
    io(&g, tx, tsum);
    /* SAME_LOWER, dilated kernel 5: total pad 4, 2 before */
    conv_params p = {C, 1, L, M, 1, L, 1, K, 1, 1, 1, 2, 0, 2, 0, 2, 1, ACT_NONE, 0, 0};
    ref_conv2d(&p, x, w, NULL, want);
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "conv 1-D: plan")) {
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        double d = 0;
        for (int i = 0; i < M * L; i++)
            d = fmax(d, fabs(y[i] - 2 * want[i]));
        tap_ok(d < 1e-5, "conv 1-D SAME_LOWER dilated, and its folded twin (max diff %g)", d);
        engine_free(en);
    } else
        tap_diag("%s", e.msg);
    graph_free(&g);
}

/* Concat in place: inputs made only for it are written into their slices;
 * an input used twice, or also read elsewhere, is copied. */
static void test_concat_in_place(void)
{
    graph g;
    err_t e;
    enum { C = 16, S = 64 };            /* 16 x 64 floats: 64-byte slices */
    int64_t d[3] = {1, C, S}, d2[3] = {1, 3 * C, S}, one[1] = {1};
    float two = 2, x[C * S];
    for (int i = 0; i < C * S; i++)
        x[i] = (float)(i % 13) - 6;
    graph_init(&g);
    int tx = T(&g, "x", DT_F32, 3, d, NULL), tk = T(&g, "two", DT_F32, 1, one, &two);
    int ta = T(&g, "a", DT_F32, -1, d, NULL), tb = T(&g, "b", DT_F32, -1, d, NULL);
    int ty = T(&g, "y", DT_F32, -1, d2, NULL), tz = T(&g, "z", DT_F32, -1, d2, NULL);
    N(&g, "Relu", "relu", 1, &tx, 1, &ta);
    int mi[2] = {tx, tk};
    N(&g, "Mul", "mul", 2, mi, 1, &tb);
    int ci[3] = {ta, tb, ta};
    int nc = N(&g, "Concat", "cat", 3, ci, 1, &ty);
    A_int(&g, nc, "axis", 1);
    int ai[2] = {ty, ty};
    N(&g, "Add", "add", 2, ai, 1, &tz);
    io(&g, tx, tz);
    engine *en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "concat in place: plan")) {
        engine_run(en, x, &e);
        const float *z = engine_output(en, 0);
        int ok = 1;
        for (int i = 0; i < C * S; i++) {
            float r = x[i] > 0 ? x[i] : 0;
            ok &= z[i] == 2 * r && z[C * S + i] == 4 * x[i] && z[2 * C * S + i] == 2 * r;
        }
        tap_ok(ok, "concat in place: slices right (one input written in place, one used twice)");
        engine_free(en);
    }
    const char *outs[2] = {"b", "z"};
    en = make(&g, NULL, 2, outs, 1, &e);
    if (tap_ok(en != NULL, "concat with a requested input: plan")) {
        engine_run(en, x, &e);
        const float *b = engine_output(en, 0), *z = engine_output(en, 1);
        int ok = 1;
        for (int i = 0; i < C * S; i++)
            ok &= b[i] == 2 * x[i] && z[C * S + i] == 4 * x[i];
        tap_ok(ok, "concat with a requested input: both right");
        engine_free(en);
    }
    graph_free(&g);

    /* x -> a, b -> concat: with both in place the arena holds x and y only */
    graph_init(&g);
    int64_t d3[3] = {1, 2 * C, S};
    tx = T(&g, "x", DT_F32, 3, d, NULL);
    tk = T(&g, "two", DT_F32, 1, one, &two);
    ta = T(&g, "a", DT_F32, -1, d, NULL);
    tb = T(&g, "b", DT_F32, -1, d, NULL);
    ty = T(&g, "y", DT_F32, -1, d3, NULL);
    N(&g, "Relu", "relu", 1, &tx, 1, &ta);
    N(&g, "Mul", "mul", 2, mi, 1, &tb);
    int ci2[2] = {ta, tb};
    nc = N(&g, "Concat", "cat", 2, ci2, 1, &ty);
    A_int(&g, nc, "axis", 1);
    io(&g, tx, ty);
    en = make(&g, NULL, 0, NULL, 1, &e);
    if (tap_ok(en != NULL, "concat in place (memory): plan")) {
        size_t ab = engine_arena_bytes(en);
        tap_ok(ab == 3 * C * S * 4, "concat in place: inputs take no buffers of their own (%zu bytes, %d without)",
               ab, 4 * C * S * 4);
        engine_run(en, x, &e);
        const float *y = engine_output(en, 0);
        int ok = 1;
        for (int i = 0; i < C * S; i++)
            ok &= y[i] == (x[i] > 0 ? x[i] : 0) && y[C * S + i] == 2 * x[i];
        tap_ok(ok, "concat in place (memory): values right");
        engine_free(en);
    }
    graph_free(&g);
}

/* Threads: a same-shape Add and a Mul by a scalar constant each coalesce
 * into one long row, which threads share by elements; the results equal
 * a direct computation exactly at 1-3 threads. */
static void test_flat_binary_threads(void)
{
    enum { C = 8, H = 70, W = 71 };              /* 39760 elements */
    int64_t d[4] = {1, C, H, W}, one[1] = {1};
    static float x[C * H * W], want[C * H * W];
    float three = 3.0f;
    unsigned seed = 11;
    for (int i = 0; i < C * H * W; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < C * H * W; i++) {
        float r = x[i] > 0 ? x[i] : 0;
        want[i] = (r + x[i]) * three;
    }
    for (int threads = 1; threads <= 3; threads++) {
        graph g;
        err_t e;
        graph_init(&g);
        int tx = T(&g, "x", DT_F32, 4, d, NULL), tr = T(&g, "r", DT_F32, -1, d, NULL);
        int ta = T(&g, "a", DT_F32, -1, d, NULL), tk = T(&g, "k", DT_F32, 1, one, &three);
        int ty = T(&g, "y", DT_F32, -1, d, NULL);
        N(&g, "Relu", "relu", 1, &tx, 1, &tr);
        int ai[2] = {tr, tx}, mi[2] = {ta, tk};
        N(&g, "Add", "add", 2, ai, 1, &ta);
        N(&g, "Mul", "mul", 2, mi, 1, &ty);
        io(&g, tx, ty);
        engine *en = make(&g, NULL, 0, NULL, threads, &e);
        if (tap_ok(en != NULL, "flat Add, Mul by a scalar, %d threads: plan", threads)) {
            engine_run(en, x, &e);
            const float *y = engine_output(en, 0);
            int bad = 0;
            for (int i = 0; i < C * H * W; i++)
                bad += y[i] != want[i];
            tap_ok(bad == 0, "flat Add, Mul by a scalar, %d threads: %d of %d wrong", threads, bad,
                   C * H * W);
            engine_free(en);
        } else
            tap_diag("%s", e.msg);
        graph_free(&g);
    }
}

/* A batch of N images: Conv 3x3 (filters transformed per run, CAM_WINO=2)
 * then a Reshape fixed to one image.  Planned for the conv's output, the
 * Reshape is not inferred and N = 3 runs, each image the same bits as
 * alone; planned for the Reshape's output, N = 3 is refused. */
static void test_batch(void)
{
    graph g;
    err_t e;
    graph_init(&g);
    enum { C = 16, H = 14, W = 14 };
    int64_t xd[4] = {1, C, H, W}, wd[4] = {C, C, 3, 3}, bd[1] = {C}, rd[2] = {1, C * H * W};
    float *w = malloc(sizeof(float) * C * C * 9), b[C];
    for (int i = 0; i < C * C * 9; i++) w[i] = (float)((i * 37) % 11 - 5) / 7.0f;
    for (int i = 0; i < C; i++) b[i] = (float)i / 10.0f;
    int tx = T(&g, "x", DT_F32, 4, xd, NULL);
    int tw = TF(&g, "w", 4, wd, w), tb = TF(&g, "b", 1, bd, b);
    int tc = T(&g, "c", DT_F32, -1, xd, NULL);
    int ts = T(&g, "s", DT_I64, 1, (int64_t[]){2}, rd);
    int ty = T(&g, "y", DT_F32, -1, rd, NULL);
    int ci[3] = {tx, tw, tb};
    int nc = N(&g, "Conv", "conv", 3, ci, 1, &tc);
    A_ints(&g, nc, "pads", 4, (int64_t[]){1, 1, 1, 1});
    int ri[2] = {tc, ts};
    N(&g, "Reshape", "rs", 2, ri, 1, &ty);
    io(&g, tx, ty);
    free(w);

    setenv("CAM_WINO", "2", 1);
    const char *outc[1] = {"c"}, *outy[1] = {"y"};
    engine *e1 = make(&g, NULL, 1, outc, 1, &e);
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    o.noutputs = 1;
    o.outputs = outc;
    o.in_ndim = 4;
    memcpy(o.in_dims, xd, sizeof xd);
    o.in_dims[0] = 3;
    engine *e3 = engine_create(&g, &o, &e);
    tap_ok(e1 && e3, "planned for 1 and for 3 images up to the conv (%s)", e1 && e3 ? "" : e.msg);
    tap_ok(e1 && engine_batch_gain(e1) == 1, "the per-run Winograd conv gains from a batch");
    if (e1 && e3) {
        size_t n = (size_t)C * H * W;
        float *in = malloc(sizeof(float) * 3 * n), *want = malloc(sizeof(float) * 3 * n);
        for (size_t i = 0; i < 3 * n; i++) in[i] = (float)((i * 2654435761u) % 1000) / 250.0f - 2.0f;
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++) {
            ok = engine_run(e1, in + k * n, &e) == 0;
            if (ok) memcpy(want + k * n, engine_output(e1, 0), sizeof(float) * n);
        }
        ok = ok && engine_run(e3, in, &e) == 0 && !memcmp(engine_output(e3, 0), want, sizeof(float) * 3 * n);
        tap_ok(ok, "3 images at once: the same bits as one by one");
        free(in);
        free(want);
    }
    engine_free(e1);
    engine_free(e3);
    o.outputs = outy;
    engine *ey = engine_create(&g, &o, &e);
    tap_ok(!ey && strstr(e.msg, "reshape"), "planned for the Reshape: 3 images refused (%s)", e.msg);
    engine_free(ey);
    unsetenv("CAM_WINO");
    graph_free(&g);
}

int main(void)
{
    test_batch();
    test_concat_in_place();
    test_conv1d();
    test_conv_bn_relu();
    test_arena();
    test_quant();
    test_quant_weights();
    test_inner_input();
    test_folding();
    test_gemm_weights();
    test_softmax_opsets();
    test_threads();
    test_lrn();
    test_flat_binary_threads();
    test_bad_graphs();
    return tap_done();
}
