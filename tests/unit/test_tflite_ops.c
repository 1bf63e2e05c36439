/* test_tflite_ops.c - the TFLite loader on small models written by the test
 * (test_tflite_build.h): every operator mapping, layout conversions of data
 * and axes, names, and one rejected model per kind of bad input.
 *
 * With CAM_TFLITE_SEEDS=DIR set, the models are also written to DIR (the
 * seed corpus of tests/fuzz/fuzz_tflite.c is made that way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "graph.h"
#include "test_tflite_build.h"

/* BuiltinOperator and BuiltinOptions values (schema.fbs). */
enum { ADD = 0, AVERAGE_POOL_2D = 1, CONCATENATION = 2, CONV_2D = 3, DEPTHWISE_CONV_2D = 4,
       DEQUANTIZE = 6, FULLY_CONNECTED = 9, MAX_POOL_2D = 17, MUL = 18, RELU = 19, RELU6 = 21,
       RESHAPE = 22, SOFTMAX = 25, CUSTOM = 32, PAD = 34, TRANSPOSE = 39, MEAN = 40, SQUEEZE = 43,
       TRANSPOSE_CONV = 67, EXPAND_DIMS = 70, QUANTIZE = 114, GELU = 150 };
enum { O_CONV = 1, O_DW = 2, O_POOL = 5, O_FC = 8, O_SOFTMAX = 9, O_CONCAT = 10, O_ADD = 11,
       O_RESHAPE = 17, O_MUL = 21, O_REDUCER = 27 };
enum { SAME = 0, VALID = 1 };

static int nseed;

static void save_seed(const unsigned char *b, size_t n)
{
    const char *dir = getenv("CAM_TFLITE_SEEDS");
    if (!dir || !*dir) return;
    char p[1024];
    snprintf(p, sizeof p, "%s/seed%02d.tflite", dir, nseed++);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

/* Loads the model; on failure the message is in e. */
static int load(tfl_model *m, graph *g, err_t *e)
{
    size_t n;
    unsigned char *b = tm_finish(m, &n);
    save_seed(b, n);
    graph_init(g);
    e->msg[0] = '\0';
    int r = tflite_load_buffer(b, n, g, e);
    free(b);
    return r;
}

static int ints_are(const gattr *a, int n, const int64_t *v)
{
    if (!a || a->type != ATTR_INTS || a->n != n) return 0;
    for (int i = 0; i < n; i++)
        if (a->ints[i] != v[i]) return 0;
    return 1;
}

static int shape_is(const gtensor *t, int nd, const int64_t *v)
{
    if (t->ndim != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != v[i]) return 0;
    return 1;
}

static const char *ops_of(const graph *g)
{
    static char s[512];
    s[0] = '\0';
    for (int k = 0; k < g->nnodes; k++) {
        if (k) strncat(s, " ", sizeof s - strlen(s) - 1);
        strncat(s, g->nodes[k].op, sizeof s - strlen(s) - 1);
    }
    return s;
}

static void t_conv(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = { 1, 6, 7, 3 }, wd[4] = { 4, 3, 3, 3 }, bd[1] = { 4 }, yd[4] = { 1, 3, 4, 4 };
    float w[108], bias[4] = { 1, 2, 3, 4 };
    for (int i = 0; i < 108; i++) w[i] = (float)i;
    int x = tm_tensor(&m, "x", TT_F32, 4, xd, NULL, 0);
    int wt = tm_tensor(&m, "w", TT_F32, 4, wd, w, sizeof w);
    int bt = tm_tensor(&m, "b", TT_F32, 1, bd, bias, sizeof bias);
    int y = tm_tensor(&m, "y", TT_F32, 4, yd, NULL, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, SAME);
    fb_i32(o, 1, 2);            /* stride_w */
    fb_i32(o, 2, 2);            /* stride_h */
    fb_i8(o, 3, 3);             /* RELU6 */
    fb_i32(o, 4, 2);            /* dilation_w */
    int32_t in[3] = { x, wt, bt }, out[1] = { y };
    tm_op(&m, CONV_2D, NULL, 3, in, 1, out, O_CONV, o);
    m.in[m.nin++] = x;
    m.out[m.nout++] = y;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "CONV_2D loads%s%s", e.msg[0] ? ": " : "", e.msg)) return;
    const gnode *nd = &g.nodes[0];
    int64_t ks[2] = { 3, 3 }, st[2] = { 2, 2 }, dl[2] = { 1, 2 };
    /* H: in 6, k 3, s 2 -> out 3, total 1 -> 0 | 1; W: in 7, k 3 dil 2
     * (extent 5), s 2 -> out 4, total 4 -> 2 | 2.  ONNX order t, l, b, r. */
    int64_t pads[4] = { 0, 2, 1, 2 };
    tap_ok(g.nnodes == 1 && strcmp(nd->op, "Conv") == 0 && nd->nin == 3 &&
           ints_are(gnode_attr(nd, "kernel_shape"), 2, ks) &&
           ints_are(gnode_attr(nd, "strides"), 2, st) &&
           ints_are(gnode_attr(nd, "dilations"), 2, dl) &&
           ints_are(gnode_attr(nd, "pads"), 4, pads) && gnode_attr_int(nd, "group", 0) == 1 &&
           strcmp(gnode_attr_str(nd, "fused_activation", ""), "RELU6") == 0,
           "CONV_2D -> Conv: kernel, strides, dilations, SAME pads as TFLite, RELU6");
    int64_t xs[4] = { 1, 3, 6, 7 }, ws[4] = { 4, 3, 3, 3 }, ys[4] = { 1, 4, 3, 4 };
    tap_ok(shape_is(&g.tensors[x], 4, xs) && shape_is(&g.tensors[y], 4, ys) &&
           shape_is(&g.tensors[wt], 4, ws), "NHWC shapes become NCHW, OHWI becomes OIHW");
    const float *lw = g.tensors[wt].data;
    int bad = 0;
    for (int o2 = 0; o2 < 4; o2++)
        for (int i = 0; i < 3; i++)
            for (int h = 0; h < 3; h++)
                for (int ww = 0; ww < 3; ww++)
                    bad += lw[((o2 * 3 + i) * 3 + h) * 3 + ww] != w[((o2 * 3 + h) * 3 + ww) * 3 + i];
    tap_ok(bad == 0 && g.tensors[wt].nbytes == sizeof w, "Conv weights transposed OHWI -> OIHW");
    tap_ok(g.ninputs == 1 && g.inputs[0] == x && g.noutputs == 1 && g.outputs[0] == y &&
           strcmp(g.tensors[x].name, "x") == 0 && g.tensors[x].data == NULL,
           "graph inputs, outputs and names");
    graph_free(&g);
}

static void t_depthwise(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = { 1, 4, 4, 2 }, wd[4] = { 1, 3, 3, 4 }, bd[1] = { 4 }, yd[4] = { 1, 4, 4, 4 };
    unsigned char w[36];
    int32_t bias[4] = { 0, 0, 0, 0 };
    for (int i = 0; i < 36; i++) w[i] = (unsigned char)i;
    float s1 = 0.5f, ws[4] = { 0.1f, 0.2f, 0.3f, 0.4f };
    int64_t z1 = 3, wz[4] = { 0, 0, 0, 0 }, bz[4] = { 0, 0, 0, 0 };
    float bs[4] = { 0.05f, 0.1f, 0.15f, 0.2f };
    int x = tm_tensor_q(&m, "x", TT_U8, 4, xd, NULL, 0, 1, &s1, &z1, 0);
    int wt = tm_tensor_q(&m, "w", TT_U8, 4, wd, w, sizeof w, 4, ws, wz, 3);
    int bt = tm_tensor_q(&m, "b", TT_I32, 1, bd, bias, sizeof bias, 4, bs, bz, 0);
    int y = tm_tensor_q(&m, "y", TT_U8, 4, yd, NULL, 0, 1, &s1, &z1, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, SAME);
    fb_i32(o, 1, 1);
    fb_i32(o, 2, 1);
    fb_i32(o, 3, 2);            /* depth_multiplier */
    int32_t in[3] = { x, wt, bt }, out[1] = { y };
    tm_op(&m, DEPTHWISE_CONV_2D, NULL, 3, in, 1, out, O_DW, o);
    m.in[m.nin++] = x;
    m.out[m.nout++] = y;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "DEPTHWISE_CONV_2D loads%s%s", e.msg[0] ? ": " : "", e.msg)) return;
    const gnode *nd = &g.nodes[0];
    int64_t pads[4] = { 1, 1, 1, 1 }, wsh[4] = { 4, 1, 3, 3 };
    tap_ok(strcmp(nd->op, "Conv") == 0 && gnode_attr_int(nd, "group", 0) == 2 &&
           ints_are(gnode_attr(nd, "pads"), 4, pads) && !gnode_attr(nd, "fused_activation") &&
           shape_is(&g.tensors[wt], 4, wsh),
           "DEPTHWISE_CONV_2D -> Conv group=C_in, filter [1,3,3,4] -> [4,1,3,3]");
    const unsigned char *lw = g.tensors[wt].data;
    int bad = 0;
    for (int c = 0; c < 4; c++)
        for (int h = 0; h < 3; h++)
            for (int ww = 0; ww < 3; ww++)
                bad += lw[(c * 3 + h) * 3 + ww] != w[(h * 3 + ww) * 4 + c];
    const gtensor *W = &g.tensors[wt];
    tap_ok(bad == 0 && W->nq == 4 && W->qaxis == 0 && W->scale[2] == 0.3f,
           "depthwise data transposed; per-channel quantisation axis 3 -> 0");
    tap_ok(g.tensors[x].nq == 1 && g.tensors[x].scale[0] == 0.5f && g.tensors[x].zero_point[0] == 3 &&
           g.tensors[bt].nq == 4 && g.tensors[bt].qaxis == 0, "activation and bias quantisation kept");
    graph_free(&g);
}

static void t_pool_concat(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = { 1, 5, 5, 8 }, pd[4] = { 1, 2, 2, 8 }, ad[4] = { 1, 5, 5, 8 },
            cd[4] = { 1, 5, 5, 16 }, hd[4] = { 1, 10, 5, 8 };
    int x = tm_tensor(&m, "x", TT_F32, 4, xd, NULL, 0);
    int p = tm_tensor(&m, "maxpool", TT_F32, 4, pd, NULL, 0);
    int a = tm_tensor(&m, "avgpool", TT_F32, 4, ad, NULL, 0);
    int c = tm_tensor(&m, "concat_c", TT_F32, 4, cd, NULL, 0);
    int h = tm_tensor(&m, "concat_h", TT_F32, 4, hd, NULL, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, VALID);
    fb_i32(o, 1, 2);
    fb_i32(o, 2, 2);
    fb_i32(o, 3, 2);
    fb_i32(o, 4, 2);
    int32_t in[2] = { x, x }, out[1] = { p };
    tm_op(&m, MAX_POOL_2D, NULL, 1, in, 1, out, O_POOL, o);
    o = fb_table();
    fb_i8(o, 0, SAME);
    fb_i32(o, 1, 1);
    fb_i32(o, 2, 1);
    fb_i32(o, 3, 3);
    fb_i32(o, 4, 3);
    fb_i8(o, 5, 1);             /* RELU */
    out[0] = a;
    tm_op(&m, AVERAGE_POOL_2D, NULL, 1, in, 1, out, O_POOL, o);
    o = fb_table();
    fb_i32(o, 0, -1);
    int32_t in2[2] = { x, a };
    out[0] = c;
    tm_op(&m, CONCATENATION, NULL, 2, in2, 1, out, O_CONCAT, o);
    o = fb_table();
    fb_i32(o, 0, 1);
    out[0] = h;
    tm_op(&m, CONCATENATION, NULL, 2, in2, 1, out, O_CONCAT, o);
    m.in[m.nin++] = x;
    m.out[m.nout++] = p;
    m.out[m.nout++] = c;
    m.out[m.nout++] = h;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "pools and concatenations load %s", e.msg)) return;
    int64_t k2[2] = { 2, 2 }, k3[2] = { 3, 3 }, p0[4] = { 0, 0, 0, 0 }, p1[4] = { 1, 1, 1, 1 };
    const gnode *mp = &g.nodes[0], *ap = &g.nodes[1], *c1 = &g.nodes[2], *c2 = &g.nodes[3];
    tap_ok(strcmp(mp->op, "MaxPool") == 0 && ints_are(gnode_attr(mp, "kernel_shape"), 2, k2) &&
           ints_are(gnode_attr(mp, "strides"), 2, k2) && ints_are(gnode_attr(mp, "pads"), 4, p0) &&
           !gnode_attr(mp, "count_include_pad"), "MAX_POOL_2D VALID -> MaxPool");
    tap_ok(strcmp(ap->op, "AveragePool") == 0 && ints_are(gnode_attr(ap, "kernel_shape"), 2, k3) &&
           ints_are(gnode_attr(ap, "pads"), 4, p1) &&
           gnode_attr_int(ap, "count_include_pad", 1) == 0 &&
           strcmp(gnode_attr_str(ap, "fused_activation", ""), "RELU") == 0,
           "AVERAGE_POOL_2D SAME -> AveragePool pads 1, count_include_pad=0, fused RELU");
    tap_ok(strcmp(c1->op, "Concat") == 0 && gnode_attr_int(c1, "axis", -9) == 1 &&
           gnode_attr_int(c2, "axis", -9) == 2 && c1->nin == 2,
           "CONCATENATION axis -1 (C) -> 1, axis 1 (H) -> 2");
    graph_free(&g);
}

static void t_reshape_fc(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = { 1, 2, 3, 4 }, fd[2] = { 1, 24 }, rd[4] = { 1, 3, 2, 4 }, sd[1] = { 2 },
            wd[2] = { 5, 24 }, yd[2] = { 1, 5 }, qd[4] = { 1, 1, 1, 5 }, zd[2] = { 1, 5 };
    int32_t shp[2] = { 1, 24 };
    float w[120];
    for (int i = 0; i < 120; i++) w[i] = (float)i;
    int x = tm_tensor(&m, "x", TT_F32, 4, xd, NULL, 0);
    int s = tm_tensor(&m, "shape", TT_I32, 1, sd, shp, sizeof shp);
    int f = tm_tensor(&m, "flat", TT_F32, 2, fd, NULL, 0);
    int r = tm_tensor(&m, "r4", TT_F32, 4, rd, NULL, 0);
    int wt = tm_tensor(&m, "fc_w", TT_F32, 2, wd, w, sizeof w);
    int y = tm_tensor(&m, "fc", TT_F32, 2, yd, NULL, 0);
    int q = tm_tensor(&m, "y4", TT_F32, 4, qd, NULL, 0);
    int z = tm_tensor(&m, "sq", TT_F32, 2, zd, NULL, 0);
    int32_t in[2] = { x, s }, out[1] = { f };
    tm_op(&m, RESHAPE, NULL, 2, in, 1, out, 0, NULL);
    out[0] = r;
    tm_op(&m, RESHAPE, NULL, 1, in, 1, out, 0, NULL);
    int32_t fin[3] = { x, wt, -1 };
    out[0] = y;
    fbo *o = fb_table();
    fb_i8(o, 0, 0);
    tm_op(&m, FULLY_CONNECTED, NULL, 3, fin, 1, out, O_FC, o);
    in[0] = y;
    out[0] = q;
    tm_op(&m, RESHAPE, NULL, 1, in, 1, out, 0, NULL);
    in[0] = q;
    out[0] = z;
    tm_op(&m, SQUEEZE, NULL, 1, in, 1, out, 0, NULL);
    m.in[m.nin++] = x;
    m.out[m.nout++] = f;
    m.out[m.nout++] = r;
    m.out[m.nout++] = z;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "reshapes and FULLY_CONNECTED load %s", e.msg)) return;
    tap_ok(strcmp(ops_of(&g), "Transpose Reshape Transpose Reshape Transpose Transpose Reshape Gemm "
                              "Reshape Reshape") == 0, "node sequence: %s", ops_of(&g));
    const gnode *t0 = &g.nodes[0], *r0 = &g.nodes[1];
    int64_t to_nhwc[4] = { 0, 2, 3, 1 }, to_nchw[4] = { 0, 3, 1, 2 };
    const gtensor *st = &g.tensors[r0->in[1]];
    tap_ok(ints_are(gnode_attr(t0, "perm"), 4, to_nhwc) && r0->in[0] == t0->out[0] &&
           r0->out[0] == f && st->dtype == DT_I64 && st->nbytes == 16 &&
           ((int64_t *)st->data)[0] == 1 && ((int64_t *)st->data)[1] == 24 && r0->in[1] >= 8,
           "RESHAPE of a 2x3 map: Transpose to NHWC, then Reshape with an appended int64 shape");
    const gnode *t2 = &g.nodes[2], *r1 = &g.nodes[3], *t3 = &g.nodes[4];
    const gtensor *mid = &g.tensors[r1->out[0]];
    int64_t mids[4] = { 1, 3, 2, 4 }, rs[4] = { 1, 4, 3, 2 };
    tap_ok(ints_are(gnode_attr(t2, "perm"), 4, to_nhwc) && shape_is(mid, 4, mids) &&
           ints_are(gnode_attr(t3, "perm"), 4, to_nchw) && t3->out[0] == r &&
           shape_is(&g.tensors[r], 4, rs),
           "RESHAPE to 4-D: Transpose, Reshape to the NHWC shape, Transpose back to NCHW");
    const gnode *gm = &g.nodes[7];
    int64_t fl[2] = { 1, 24 };
    tap_ok(strcmp(gm->op, "Gemm") == 0 && gnode_attr_int(gm, "transB", 0) == 1 && gm->nin == 2 &&
           gm->in[1] == wt && gm->out[0] == y && shape_is(&g.tensors[gm->in[0]], 2, fl) &&
           strcmp(g.nodes[5].op, "Transpose") == 0,
           "FULLY_CONNECTED of a 4-D map: flattened in NHWC order, Gemm transB=1, no bias");
    const gnode *r8 = &g.nodes[8], *r9 = &g.nodes[9];
    int64_t qs[4] = { 1, 5, 1, 1 };
    tap_ok(r8->out[0] == q && shape_is(&g.tensors[q], 4, qs) && r9->out[0] == z &&
           ((int64_t *)g.tensors[r8->in[1]].data)[1] == 5,
           "RESHAPE / SQUEEZE to and from 1x1 maps need no Transpose");
    graph_free(&g);
}

static void t_misc(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = { 1, 4, 4, 8 }, md[2] = { 1, 8 }, ad[1] = { 2 }, cd[1] = { 8 },
            pd[2] = { 4, 2 }, ppd[4] = { 1, 7, 11, 8 };
    int32_t axes[2] = { 1, 2 }, pads[8] = { 0, 0, 1, 2, 3, 4, 0, 0 };
    float cv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    int x = tm_tensor(&m, NULL, TT_F32, 4, xd, NULL, 0);
    int ax = tm_tensor(&m, "axes", TT_I32, 1, ad, axes, sizeof axes);
    int mean = tm_tensor(&m, "dup", TT_F32, 2, md, NULL, 0);
    int sm = tm_tensor(&m, "dup", TT_F32, 2, md, NULL, 0);
    int cst = tm_tensor(&m, "c", TT_F32, 1, cd, cv, sizeof cv);
    int add = tm_tensor(&m, "add", TT_F32, 4, xd, NULL, 0);
    int r6 = tm_tensor(&m, "r6", TT_F32, 4, xd, NULL, 0);
    int pt = tm_tensor(&m, "paddings", TT_I32, 2, pd, pads, sizeof pads);
    int pp = tm_tensor(&m, "padded", TT_F32, 4, ppd, NULL, 0);
    int u1 = tm_tensor(&m, "u1", TT_F32, 4, xd, NULL, 0);
    int u2 = tm_tensor(&m, "u2", TT_F32, 4, xd, NULL, 0);
    int u3 = tm_tensor(&m, "u3", TT_F32, 4, xd, NULL, 0);
    int dq = tm_tensor(&m, "dq", TT_F32, 4, xd, NULL, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, 0);             /* keep_dims false */
    int32_t in[2] = { x, ax }, out[1] = { mean };
    tm_op(&m, MEAN, NULL, 2, in, 1, out, O_REDUCER, o);
    o = fb_table();
    fb_f32(o, 0, 0.5f);
    in[0] = mean;
    out[0] = sm;
    tm_op(&m, SOFTMAX, NULL, 1, in, 1, out, O_SOFTMAX, o);
    in[0] = x;
    in[1] = cst;
    out[0] = add;
    tm_op(&m, ADD, NULL, 2, in, 1, out, O_ADD, NULL);
    in[0] = add;
    out[0] = r6;
    tm_op(&m, RELU6, NULL, 1, in, 1, out, 0, NULL);
    in[1] = pt;
    out[0] = pp;
    tm_op(&m, PAD, NULL, 2, in, 1, out, 0, NULL);
    in[0] = r6;
    out[0] = u1;
    tm_op(&m, TRANSPOSE_CONV, NULL, 1, in, 1, out, 0, NULL);
    out[0] = u2;
    tm_op(&m, CUSTOM, "MyOp", 1, in, 1, out, 0, NULL);
    out[0] = u3;
    tm_op(&m, GELU, NULL, 1, in, 1, out, 0, NULL);
    out[0] = dq;
    tm_op(&m, DEQUANTIZE, NULL, 1, in, 1, out, 0, NULL);
    m.in[m.nin++] = x;
    m.out[m.nout++] = sm;
    m.out[m.nout++] = pp;
    m.out[m.nout++] = u1;
    m.out[m.nout++] = u2;
    m.out[m.nout++] = u3;
    m.out[m.nout++] = dq;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "MEAN, SOFTMAX, ADD, RELU6, PAD and others load %s", e.msg))
        return;
    tap_ok(strcmp(ops_of(&g), "ReduceMean Softmax Add Clip Pad TFLITE_TRANSPOSE_CONV MyOp TFLITE_GELU "
                              "Identity") == 0, "node sequence: %s", ops_of(&g));
    int64_t la[2] = { 2, 3 };
    const gnode *rm = &g.nodes[0], *so = &g.nodes[1], *ad2 = &g.nodes[2], *cl = &g.nodes[3],
                *pa = &g.nodes[4];
    tap_ok(ints_are(gnode_attr(rm, "axes"), 2, la) && gnode_attr_int(rm, "keepdims", 9) == 0,
           "MEAN over H,W -> ReduceMean axes 2,3 keepdims 0");
    tap_ok(gnode_attr_int(so, "axis", 0) == -1 && gnode_attr_float(so, "beta", 0) == 0.5f,
           "SOFTMAX beta 0.5 -> Softmax axis -1 beta 0.5");
    int64_t cs[4] = { 1, 8, 1, 1 };
    const gtensor *bc = &g.tensors[ad2->in[1]];
    tap_ok(ad2->in[0] == x && ad2->in[1] >= 13 && shape_is(bc, 4, cs) &&
           bc->data && ((float *)bc->data)[7] == 8.0f,
           "ADD of a [C] constant to a 4-D map: constant becomes [1,C,1,1]");
    const gtensor *mn = &g.tensors[cl->in[1]], *mx = &g.tensors[cl->in[2]];
    tap_ok(cl->nin == 3 && mn->data && mx->data && ((float *)mn->data)[0] == 0.0f &&
           ((float *)mx->data)[0] == 6.0f && mn->ndim == 0,
           "RELU6 -> Clip with constant min 0, max 6");
    const gtensor *pv = &g.tensors[pa->in[1]];
    int64_t want[8] = { 0, 0, 1, 3, 0, 0, 2, 4 };
    int ok = pv->dtype == DT_I64 && pv->nbytes == 64;
    for (int i = 0; ok && i < 8; i++) ok = ((int64_t *)pv->data)[i] == want[i];
    tap_ok(ok && pa->nin == 2, "PAD: NHWC paddings -> ONNX pads (begins then ends, NCHW order)");
    tap_ok(strcmp(g.tensors[x].name, "T0") == 0 && strcmp(g.tensors[mean].name, "dup") == 0 &&
           strcmp(g.tensors[sm].name, "T3") == 0 && graph_find_tensor(&g, "T3") == sm,
           "empty and duplicate tensor names become T<index>");
    graph_free(&g);
}

static void t_transpose(void)
{
    tfl_model m;
    tm_init(&m);
    /* NHWC [1,2,3,4] -perm 0,2,1,3 (swap H and W)-> [1,3,2,4]: logically
     * x [1,4,2,3] -> y [1,4,3,2], perm 0,1,3,2 over the NCHW axes. */
    int32_t xd[4] = { 1, 2, 3, 4 }, yd[4] = { 1, 3, 2, 4 }, pd[1] = { 4 }, p2[1] = { 2 },
            md[2] = { 4, 6 }, nd2[2] = { 6, 4 }, ed[3] = { 4, 1, 6 }, ad[1] = { 1 };
    int32_t perm[4] = { 0, 2, 1, 3 }, perm2[2] = { 1, 0 }, axis[1] = { 1 };
    int x = tm_tensor(&m, "x", TT_F32, 4, xd, NULL, 0);
    int pt = tm_tensor(&m, "perm", TT_I32, 1, pd, perm, sizeof perm);
    int y = tm_tensor(&m, "y", TT_F32, 4, yd, NULL, 0);
    int a = tm_tensor(&m, "a", TT_F32, 2, md, NULL, 0);
    int p2t = tm_tensor(&m, "perm2", TT_I32, 1, p2, perm2, sizeof perm2);
    int at = tm_tensor(&m, "at", TT_F32, 2, nd2, NULL, 0);
    int axt = tm_tensor(&m, "axis", TT_I32, 1, ad, axis, sizeof axis);
    int ex = tm_tensor(&m, "ex", TT_F32, 3, ed, NULL, 0);
    int32_t in[2] = { x, pt }, out[1] = { y };
    tm_op(&m, TRANSPOSE, NULL, 2, in, 1, out, 0, NULL);
    in[0] = a;
    in[1] = p2t;
    out[0] = at;
    tm_op(&m, TRANSPOSE, NULL, 2, in, 1, out, 0, NULL);
    in[1] = axt;
    out[0] = ex;
    tm_op(&m, EXPAND_DIMS, NULL, 2, in, 1, out, 0, NULL);
    m.in[m.nin++] = x;
    m.in[m.nin++] = a;
    m.out[m.nout++] = y;
    m.out[m.nout++] = at;
    m.out[m.nout++] = ex;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    if (!tap_ok(lr == 0, "TRANSPOSE and EXPAND_DIMS load%s%s", e.msg[0] ? ": " : "", e.msg)) return;
    int64_t q[4] = { 0, 1, 3, 2 }, q2[2] = { 1, 0 }, ys[4] = { 1, 4, 3, 2 }, es[3] = { 4, 1, 6 };
    tap_ok(strcmp(ops_of(&g), "Transpose Transpose Reshape") == 0 &&
           ints_are(gnode_attr(&g.nodes[0], "perm"), 4, q) && shape_is(&g.tensors[y], 4, ys) &&
           ints_are(gnode_attr(&g.nodes[1], "perm"), 2, q2) && g.nodes[2].out[0] == ex &&
           shape_is(&g.tensors[ex], 3, es),
           "TRANSPOSE: NHWC perm 0,2,1,3 -> NCHW perm 0,1,3,2; 2-D perm kept; EXPAND_DIMS -> Reshape");
    graph_free(&g);
}

static void t_names(void)
{
    tfl_model m;
    tm_init(&m);
    int32_t d[2] = { 1, 4 };
    int a = tm_tensor(&m, "T1", TT_F32, 2, d, NULL, 0);
    int u = tm_tensor(&m, NULL, TT_F32, 2, d, NULL, 0);
    int32_t in[1] = { a }, out[1] = { u };
    tm_op(&m, RELU, NULL, 1, in, 1, out, 0, NULL);
    m.in[m.nin++] = a;
    m.out[m.nout++] = u;
    graph g;
    err_t e;
    int lr = load(&m, &g, &e);
    tap_ok(lr == 0 && strcmp(g.tensors[u].name, "T1_1") == 0 && strcmp(g.nodes[0].op, "Relu") == 0,
           "an unnamed tensor whose T<index> is taken gets a suffix (%s)",
           lr == 0 ? g.tensors[u].name : e.msg);
    graph_free(&g);
}

/* ---- bad models: each must be rejected with a message ---- */

typedef void (*mutator)(tfl_model *m);

static int simple(tfl_model *m)
{
    int32_t d[2] = { 1, 4 };
    int x = tm_tensor(m, "x", TT_F32, 2, d, NULL, 0);
    int y = tm_tensor(m, "y", TT_F32, 2, d, NULL, 0);
    int32_t in[1] = { x }, out[1] = { y };
    tm_op(m, RELU, NULL, 1, in, 1, out, 0, NULL);
    m->in[m->nin++] = x;
    m->out[m->nout++] = y;
    return y;
}

static void bad(const char *what, const char *want, void (*make)(tfl_model *m))
{
    tfl_model m;
    tm_init(&m);
    make(&m);
    graph g;
    err_t e;
    int r = load(&m, &g, &e);
    tap_ok(r == -1 && strstr(e.msg, want) != NULL && g.ntensors == 0 && g.nnodes == 0,
           "rejected: %s (%s)", what, e.msg);
    graph_free(&g);
}

static void b_version(tfl_model *m) { simple(m); m->version = 2; }
static void b_order(tfl_model *m)
{
    int32_t d[2] = { 1, 4 };
    int x = tm_tensor(m, "x", TT_F32, 2, d, NULL, 0);
    int y = tm_tensor(m, "y", TT_F32, 2, d, NULL, 0);
    int z = tm_tensor(m, "z", TT_F32, 2, d, NULL, 0);
    int32_t in[1] = { y }, out[1] = { z };
    tm_op(m, RELU, NULL, 1, in, 1, out, 0, NULL);
    in[0] = x;
    out[0] = y;
    tm_op(m, RELU, NULL, 1, in, 1, out, 0, NULL);
    m->in[m->nin++] = x;
    m->out[m->nout++] = z;
}
static void b_twice(tfl_model *m)
{
    int y = simple(m);
    int32_t in[1] = { m->in[0] }, out[1] = { y };
    tm_op(m, RELU, NULL, 1, in, 1, out, 0, NULL);
}
static void b_index(tfl_model *m)
{
    simple(m);
    int32_t in[1] = { 7 }, out[1] = { 1 };
    tm_op(m, RELU, NULL, 1, in, 1, out, 0, NULL);
}
static void b_datasize(tfl_model *m)
{
    simple(m);
    int32_t d[1] = { 3 };
    float v[2] = { 1, 2 };
    tm_tensor(m, "c", TT_F32, 1, d, v, sizeof v);
}
static void b_type(tfl_model *m)
{
    simple(m);
    int32_t d[1] = { 1 };
    tm_tensor(m, "s", TT_STRING, 1, d, NULL, 0);
}
static void b_scales(tfl_model *m)
{
    simple(m);
    int32_t d[2] = { 3, 2 };
    float s[2] = { 1, 2 };
    int64_t z[2] = { 0, 0 };
    tm_tensor_q(m, "q", TT_U8, 2, d, NULL, 0, 2, s, z, 0);
}
static void b_stride(tfl_model *m)
{
    int32_t xd[4] = { 1, 4, 4, 1 }, wd[4] = { 1, 1, 1, 1 };
    float w = 1;
    int x = tm_tensor(m, "x", TT_F32, 4, xd, NULL, 0);
    int wt = tm_tensor(m, "w", TT_F32, 4, wd, &w, 4);
    int y = tm_tensor(m, "y", TT_F32, 4, xd, NULL, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, SAME);
    int32_t in[2] = { x, wt }, out[1] = { y };
    tm_op(m, CONV_2D, NULL, 2, in, 1, out, O_CONV, o);
    m->in[m->nin++] = x;
    m->out[m->nout++] = y;
}
static void b_opts(tfl_model *m)
{
    int32_t d[2] = { 1, 4 };
    int x = tm_tensor(m, "x", TT_F32, 2, d, NULL, 0);
    int y = tm_tensor(m, "y", TT_F32, 2, d, NULL, 0);
    int32_t in[2] = { x, x }, out[1] = { y };
    tm_op(m, ADD, NULL, 2, in, 1, out, O_CONV, fb_table());
    m->in[m->nin++] = x;
    m->out[m->nout++] = y;
}
static void b_output(tfl_model *m)
{
    simple(m);
    int32_t d[1] = { 2 };
    m->out[m->nout++] = tm_tensor(m, "never", TT_F32, 1, d, NULL, 0);
}

static void b_fc_huge(tfl_model *m)
{
    int32_t xd[4] = { 1 << 30, 1 << 30, 1 << 30, 4 }, wd[2] = { 2, 4 }, yd[2] = { 1, 2 };
    float w[8] = { 0 };
    int x = tm_tensor(m, "x", TT_F32, 4, xd, NULL, 0);
    int wt = tm_tensor(m, "w", TT_F32, 2, wd, w, sizeof w);
    int y = tm_tensor(m, "y", TT_F32, 2, yd, NULL, 0);
    int32_t in[2] = { x, wt }, out[1] = { y };
    tm_op(m, FULLY_CONNECTED, NULL, 2, in, 1, out, 0, NULL);
    m->in[m->nin++] = x;
    m->out[m->nout++] = y;
}

static void raw_bad(void)
{
    tfl_model m;
    tm_init(&m);
    simple(&m);
    size_t n;
    unsigned char *b = tm_finish(&m, &n);
    graph g;
    err_t e;
    graph_init(&g);
    int ok = tflite_load_buffer(b, n, &g, &e) == 0;
    graph_free(&g);
    tap_ok(ok, "the base model of the corruption tests loads");
    b[4] = 'X';
    int r = tflite_load_buffer(b, n, &g, &e);
    tap_ok(r == -1 && strstr(e.msg, "TFL3"), "rejected: wrong file identifier (%s)", e.msg);
    b[4] = 'T';
    unsigned char save[4];
    memcpy(save, b, 4);
    b[0] = 0xff; b[1] = 0xff; b[2] = 0xff; b[3] = 0x7f;
    r = tflite_load_buffer(b, n, &g, &e);
    tap_ok(r == -1 && strstr(e.msg, "model"), "rejected: root offset past the end (%s)", e.msg);
    memcpy(b, save, 4);
    r = tflite_load_buffer(b, 7, &g, &e);
    tap_ok(r == -1, "rejected: 7 bytes (%s)", e.msg);
    /* Every single byte set to 0xff and to 0x00 in turn: error or sane. */
    int silent = 0, errs = 0, loads = 0;
    for (size_t i = 0; i < n; i++) {
        for (int v = 0; v < 2; v++) {
            unsigned char old = b[i];
            b[i] = v ? 0xff : 0x00;
            graph_init(&g);
            e.msg[0] = '\0';
            r = tflite_load_buffer(b, n, &g, &e);
            if (r == 0) loads++;
            else if (e.msg[0]) errs++;
            else silent++;
            graph_free(&g);
            b[i] = old;
        }
    }
    tap_ok(silent == 0, "every byte of a small model set to 0x00/0xff: %d rejected "
           "with a message, %d loaded", errs, loads);
    free(b);
}

int main(void)
{
    t_conv();
    t_depthwise();
    t_pool_concat();
    t_reshape_fc();
    t_misc();
    t_transpose();
    t_names();
    bad("schema version 2", "version", b_version);
    bad("operator reads a tensor before it is written", "before it is written", b_order);
    bad("tensor written twice", "written twice", b_twice);
    bad("tensor index out of range", "out of range", b_index);
    bad("constant data size differs from its shape", "data holds", b_datasize);
    bad("STRING tensor", "unsupported tensor type", b_type);
    bad("per-channel scales without a matching dimension", "scales", b_scales);
    bad("conv stride 0", "stride", b_stride);
    bad("options of the wrong type", "options", b_opts);
    bad("graph output never computed", "never computed", b_output);
    bad("FULLY_CONNECTED input of 2^92 elements", "too large", b_fc_huge);
    raw_bad();
    return tap_done();
}
