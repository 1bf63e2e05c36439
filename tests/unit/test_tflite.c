/* test_tflite.c - the TFLite loader on the real models of ../shared:
 * structure, shapes, quantisation, weight layouts (checked against the raw
 * bytes found by an independent walk of the flatbuffer), and robustness
 * against truncated and corrupted copies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "graph.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (len == cap) b = realloc(b, cap *= 2);
        size_t r = fread(b + len, 1, cap - len, f);
        if (r == 0) break;
        len += r;
    }
    fclose(f);
    *n = len;
    return b;
}

/* ---- an independent, minimal walk of a trusted flatbuffer ---- */

static uint32_t u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static unsigned u16(const unsigned char *p) { return p[0] | p[1] << 8; }

static size_t field(const unsigned char *b, size_t t, int id)
{
    size_t vt = t - (int32_t)u32(b + t);
    if (4 + 2 * (unsigned)id >= u16(b + vt)) return 0;
    unsigned off = u16(b + vt + 4 + 2 * id);
    return off ? t + off : 0;
}

static size_t deref(const unsigned char *b, size_t p) { return p + u32(b + p); }

/* Raw data of tensor ti of subgraph 0 and its shape (as stored: NHWC). */
static const unsigned char *raw_tensor(const unsigned char *b, int ti, int *ndim, int dims[8])
{
    size_t root = u32(b);
    size_t sgs = deref(b, field(b, root, 2));
    size_t sg0 = deref(b, sgs + 4);
    size_t tens = deref(b, field(b, sg0, 0));
    size_t t = deref(b, tens + 4 + 4 * (size_t)ti);
    size_t sv = deref(b, field(b, t, 0));
    *ndim = (int)u32(b + sv);
    for (int d = 0; d < *ndim && d < 8; d++) dims[d] = (int)u32(b + sv + 4 + 4 * d);
    uint32_t bi = u32(b + field(b, t, 2));
    size_t bufs = deref(b, field(b, root, 4));
    size_t bt = deref(b, bufs + 4 + 4 * (size_t)bi);
    size_t dv = deref(b, field(b, bt, 0));
    return b + dv + 4;
}

/* ---- invariants a loaded graph must satisfy ---- */

static size_t esize(int dt)
{
    switch (dt) {
    case DT_U8: case DT_I8: case DT_BOOL: return 1;
    case DT_F16: case DT_I16: case DT_U16: return 2;
    case DT_F32: case DT_I32: return 4;
    case DT_F64: case DT_I64: return 8;
    }
    return 0;
}

static const char *check_graph(const graph *g)
{
    if (g->format != GRAPH_TFLITE) return "format";
    for (int i = 0; i < g->ntensors; i++) {
        const gtensor *t = &g->tensors[i];
        if (!t->name) return "tensor without a name";
        if (esize(t->dtype) == 0) return "tensor dtype";
        if (t->ndim < -1 || t->ndim > TENSOR_MAXDIM) return "tensor rank";
        if (t->data) {
            uint64_t n = 1;
            for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->dims[d];
            if (n * esize(t->dtype) != t->nbytes) return "constant size";
        }
        if (t->nq < 0 || (t->nq && (!t->scale || !t->zero_point))) return "quantisation";
        if (t->nq > 1 && (t->qaxis < 0 || t->qaxis >= t->ndim || t->dims[t->qaxis] != t->nq))
            return "quantisation axis";
    }
    for (int k = 0; k < g->nnodes; k++) {
        const gnode *nd = &g->nodes[k];
        if (!nd->op || !nd->name || !nd->domain) return "node strings";
        for (int i = 0; i < nd->nin; i++)
            if (nd->in[i] < -1 || nd->in[i] >= g->ntensors) return "node input index";
        for (int i = 0; i < nd->nout; i++)
            if (nd->out[i] < 0 || nd->out[i] >= g->ntensors) return "node output index";
        for (int a = 0; a < nd->nattr; a++)
            if (!nd->attr[a].name) return "attribute name";
    }
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] < 0 || g->inputs[i] >= g->ntensors) return "graph input";
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->ntensors) return "graph output";
    return NULL;
}

static int count_op(const graph *g, const char *op)
{
    int n = 0;
    for (int k = 0; k < g->nnodes; k++) n += strcmp(g->nodes[k].op, op) == 0;
    return n;
}

static int dims_are(const gtensor *t, int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t w[4] = { a, b, c, d };
    if (t->ndim != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (t->dims[i] != w[i]) return 0;
    return 1;
}

static int producer(const graph *g, int ti)
{
    for (int k = 0; k < g->nnodes; k++)
        for (int i = 0; i < g->nodes[k].nout; i++)
            if (g->nodes[k].out[i] == ti) return k;
    return -1;
}

/* Compares conv weights (OIHW after loading) with the raw OHWI bytes, and a
 * depthwise filter ([C,1,H,W]) with its raw [1,H,W,C] bytes. */
static void check_weights(const graph *g, const unsigned char *raw, const char *tag)
{
    int checked_conv = 0, checked_dw = 0, bad = 0;
    for (int k = 0; k < g->nnodes; k++) {
        const gnode *nd = &g->nodes[k];
        if (strcmp(nd->op, "Conv") != 0) continue;
        const gtensor *w = &g->tensors[nd->in[1]];
        int ndim, rd[8];
        const unsigned char *r = raw_tensor(raw, nd->in[1], &ndim, rd);
        if (ndim != 4 || w->ndim != 4 || w->dtype != DT_U8) {
            bad++;
            continue;
        }
        int64_t grp = gnode_attr_int(nd, "group", 1);
        const unsigned char *q = w->data;
        if (grp == 1) {     /* raw [O,H,W,I] -> [O,I,H,W] */
            if (!(w->dims[0] == rd[0] && w->dims[1] == rd[3] && w->dims[2] == rd[1] &&
                  w->dims[3] == rd[2])) {
                bad++;
                continue;
            }
            for (int s = 0; s < 50; s++) {
                int o = (s * 7919) % rd[0], h = (s * 31) % rd[1], x = (s * 17) % rd[2],
                    i = (s * 104729) % rd[3];
                size_t lo = (((size_t)o * rd[3] + i) * rd[1] + h) * rd[2] + x;
                size_t ro = (((size_t)o * rd[1] + h) * rd[2] + x) * rd[3] + i;
                if (q[lo] != r[ro]) bad++;
            }
            checked_conv++;
        } else {            /* raw [1,H,W,C] -> [C,1,H,W] */
            if (!(rd[0] == 1 && w->dims[0] == rd[3] && w->dims[1] == 1 && w->dims[2] == rd[1] &&
                  w->dims[3] == rd[2] && grp == rd[3])) {
                bad++;
                continue;
            }
            for (int s = 0; s < 50; s++) {
                int c = (s * 7919) % rd[3], h = (s * 31) % rd[1], x = (s * 17) % rd[2];
                size_t lo = ((size_t)c * rd[1] + h) * rd[2] + x;
                size_t ro = ((size_t)h * rd[2] + x) * rd[3] + c;
                if (q[lo] != r[ro]) bad++;
            }
            checked_dw++;
        }
    }
    tap_ok(bad == 0 && checked_conv > 30 && checked_dw == 17,
           "%s: weights of %d convs (OHWI->OIHW) and %d depthwise convs ([1,H,W,C]->[C,1,H,W]) "
           "match the raw bytes", tag, checked_conv, checked_dw);
}

/* Loads a corrupted copy: must fail with a message or load a sane graph. */
static int try_load(const unsigned char *buf, size_t n, const char **why)
{
    graph g;
    err_t e;
    graph_init(&g);
    e.msg[0] = '\0';
    int r = tflite_load_buffer(buf, n, &g, &e);
    *why = NULL;
    if (r == 0) *why = check_graph(&g);
    else if (r != -1 || e.msg[0] == '\0') *why = "no error message";
    graph_free(&g);
    return r;
}

static void hostile(const unsigned char *buf, size_t n, const char *tag)
{
    unsigned char *c = malloc(n);
    int fails = 0, errs = 0, loads = 0;
    const char *why, *firstwhy = NULL;
    /* Truncations: every length up to 512, then 300 spread over the file. */
    for (size_t len = 0; len < n; len += len < 512 ? 1 : n / 300) {
        memcpy(c, buf, len);
        int r = try_load(c, len, &why);
        if (why) {
            fails++;
            if (!firstwhy) firstwhy = why;
        }
        errs += r != 0;
    }
    tap_ok(fails == 0 && errs > 800, "%s: %d truncated copies rejected with a message%s%s", tag,
           errs, firstwhy ? ": " : "", firstwhy ? firstwhy : "");
    /* Random corruption: 1..8 bytes set to random values, biased to the
     * structure (the first 64 KiB and the last 64 KiB hold the tables). */
    uint64_t s = 0x9e3779b97f4a7c15u;
    fails = errs = loads = 0;
    firstwhy = NULL;
    for (int it = 0; it < 300; it++) {
        memcpy(c, buf, n);
        int nb = 1 + it % 8;
        for (int k = 0; k < nb; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            size_t pos = (size_t)(s >> 16);
            if (it % 3 == 0) pos %= n;
            else if (it % 3 == 1) pos %= (n < 65536 ? n : 65536);
            else pos = n - 1 - pos % (n < 65536 ? n : 65536);
            c[pos] = (unsigned char)(s >> 8);
            if (it % 5 == 0) c[pos] ^= 0x80;
        }
        int r = try_load(c, n, &why);
        if (why) {
            fails++;
            if (!firstwhy) firstwhy = why;
        }
        errs += r != 0;
        loads += r == 0;
    }
    tap_ok(fails == 0, "%s: 300 corrupted copies: %d rejected with a message, %d loaded sane%s%s",
           tag, errs, loads, firstwhy ? ": " : "", firstwhy ? firstwhy : "");
    free(c);
}

static void model(const char *shared, const char *stem, int feat, int logits, int nclasses,
                  int gemm)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s.tflite", shared, stem);
    size_t n;
    unsigned char *buf = slurp(path, &n);
    if (!buf) {
        tap_skip("%s: not readable", path);
        return;
    }
    graph g;
    err_t e;
    graph_init(&g);
    int r = graph_load(path, &g, &e);
    if (!tap_ok(r == 0, "%s: graph_load%s%s", stem, r ? ": " : "", r ? e.msg : "")) {
        free(buf);
        return;
    }
    const char *why = check_graph(&g);
    tap_ok(why == NULL, "%s: graph invariants%s%s", stem, why ? ": " : "", why ? why : "");
    tap_ok(g.format == GRAPH_TFLITE && g.opset == 0 && g.path && strlen(g.sha256) == 64,
           "%s: format, path and sha256", stem);
    tap_ok(g.ninputs == 1 && g.noutputs == 1, "%s: one input, one output", stem);
    const gtensor *in = &g.tensors[g.inputs[0]];
    tap_ok(dims_are(in, 4, 1, 3, 224, 224) && in->dtype == DT_U8, "%s: input u8 1x3x224x224 (NCHW)",
           stem);
    tap_ok(in->nq == 1 && in->scale[0] == 0.0078125f && in->zero_point[0] == 128,
           "%s: input quantisation 1/128, 128", stem);
    char tn[16];
    snprintf(tn, sizeof tn, "T%d", feat);
    int fi = graph_find_tensor(&g, tn);
    tap_ok(fi == feat && dims_are(&g.tensors[fi], 4, 1, 1280, 7, 7) && g.tensors[fi].nq == 1,
           "%s: %s is 1x1280x7x7, quantised", stem, tn);
    int pi = producer(&g, fi);
    tap_ok(pi >= 0 && strcmp(g.nodes[pi].op, "Conv") == 0 &&
           strcmp(gnode_attr_str(&g.nodes[pi], "fused_activation", ""), "RELU6") == 0,
           "%s: %s comes from a Conv with fused RELU6", stem, tn);
    int consumers = 0, pool = -1;
    for (int k = 0; k < g.nnodes; k++)
        for (int i = 0; i < g.nodes[k].nin; i++)
            if (g.nodes[k].in[i] == fi) {
                consumers++;
                pool = k;
            }
    const gattr *ks = pool >= 0 ? gnode_attr(&g.nodes[pool], "kernel_shape") : NULL;
    tap_ok(consumers == 1 && strcmp(g.nodes[pool].op, "AveragePool") == 0 && ks && ks->n == 2 &&
           ks->ints[0] == 7 && ks->ints[1] == 7 &&
           gnode_attr_int(&g.nodes[pool], "count_include_pad", 1) == 0,
           "%s: %s feeds one 7x7 AveragePool, count_include_pad=0", stem, tn);
    snprintf(tn, sizeof tn, "T%d", logits);
    int li = graph_find_tensor(&g, tn);
    tap_ok(li == logits && g.tensors[li].ndim == 2 && g.tensors[li].dims[1] == nclasses,
           "%s: %s is 1x%d", stem, tn, nclasses);
    int out = g.outputs[0];
    int so = producer(&g, out);
    tap_ok(so >= 0 && strcmp(g.nodes[so].op, "Softmax") == 0 && g.nodes[so].in[0] == li &&
           gnode_attr_int(&g.nodes[so], "axis", 0) == -1 && !gnode_attr(&g.nodes[so], "beta"),
           "%s: output = Softmax(%s), axis -1, beta 1", stem, tn);
    int nconv = count_op(&g, "Conv"), ndw = 0;
    for (int k = 0; k < g.nnodes; k++)
        if (strcmp(g.nodes[k].op, "Conv") == 0 && gnode_attr_int(&g.nodes[k], "group", 1) > 1)
            ndw++;
    tap_ok(ndw == 17 && nconv == (gemm ? 52 : 53) && count_op(&g, "Add") == 10 &&
           count_op(&g, "AveragePool") == 1 && count_op(&g, "Softmax") == 1 &&
           count_op(&g, "Reshape") == 1 && count_op(&g, "Gemm") == gemm &&
           g.nnodes == (gemm ? 66 : 66),
           "%s: %d nodes: %d Conv (%d depthwise), %d Add, %d Gemm", stem, g.nnodes, nconv, ndw,
           count_op(&g, "Add"), count_op(&g, "Gemm"));
    /* The first conv: 3x3 stride 2 SAME on 224 -> pads 0,0,1,1 (TFLite puts
     * the odd pixel at the end). */
    const gnode *c0 = &g.nodes[0];
    const gattr *pads = gnode_attr(c0, "pads"), *st = gnode_attr(c0, "strides");
    tap_ok(strcmp(c0->op, "Conv") == 0 && c0->in[0] == g.inputs[0] && pads && pads->n == 4 &&
           pads->ints[0] == 0 && pads->ints[1] == 0 && pads->ints[2] == 1 && pads->ints[3] == 1 &&
           st && st->ints[0] == 2 && st->ints[1] == 2 && gnode_attr_int(c0, "group", 0) == 1,
           "%s: first Conv 3x3/2 SAME: pads 0,0,1,1", stem);
    const gtensor *b0 = &g.tensors[c0->in[2]];
    tap_ok(b0->dtype == DT_I32 && b0->ndim == 1 && b0->dims[0] == 32 && b0->nq == 1 &&
           b0->zero_point[0] == 0, "%s: first Conv bias i32 [32], quantised", stem);
    if (gemm) {
        int gi = -1;
        for (int k = 0; k < g.nnodes; k++)
            if (strcmp(g.nodes[k].op, "Gemm") == 0) gi = k;
        const gnode *gn = &g.nodes[gi];
        const gtensor *w = &g.tensors[gn->in[1]], *x = &g.tensors[gn->in[0]];
        int rp = producer(&g, gn->in[0]);
        tap_ok(gnode_attr_int(gn, "transB", 0) == 1 && w->ndim == 2 && w->dims[0] == nclasses &&
               w->dims[1] == 1280 && x->ndim == 2 && x->dims[1] == 1280 && rp >= 0 &&
               strcmp(g.nodes[rp].op, "Reshape") == 0 && gn->out[0] == li,
               "%s: FULLY_CONNECTED -> Reshape [1,1280] + Gemm transB=1 -> %s", stem, tn);
    } else {
        const gnode *last = NULL;
        for (int k = 0; k < g.nnodes; k++)
            if (strcmp(g.nodes[k].op, "Reshape") == 0) last = &g.nodes[k];
        const gtensor *shp = last ? &g.tensors[last->in[1]] : NULL;
        const int64_t *sv = shp ? shp->data : NULL;
        tap_ok(last && last->out[0] == li && shp->dtype == DT_I64 && shp->nbytes == 16 &&
               sv[0] == 1 && sv[1] == nclasses && shp - g.tensors >= 174,
               "%s: RESHAPE -> Reshape with an appended int64 shape [1,%d]", stem, nclasses);
    }
    graph_free(&g);

    /* Loading from memory gives the same graph, twice (no state). */
    graph_init(&g);
    r = tflite_load_buffer(buf, n, &g, &e);
    tap_ok(r == 0 && g.tensors[feat].ndim == 4, "%s: tflite_load_buffer from memory", stem);
    if (r == 0) check_weights(&g, buf, stem);
    graph_free(&g);

    hostile(buf, n, stem);
    free(buf);
}

int main(void)
{
    const char *shared = tap_shared();
    char p[1024];
    snprintf(p, sizeof p, "%s/models/mobilenet_v2_1.0_224_quant.tflite", shared);
    FILE *f = fopen(p, "rb");
    if (!f) tap_skip_all("shared models not found (set CAM_SHARED)");
    fclose(f);
    model(shared, "mobilenet_v2_1.0_224_quant", 168, 172, 1001, 0);
    model(shared, "mobilenet_v2_1.0_224_inat_bird_quant", 167, 170, 965, 1);
    return tap_done();
}
