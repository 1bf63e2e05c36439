/* test_onnx_models.c - the real ONNX models of ../shared/models load into
 * the graph IR with the structure one can see in them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tap.h"
#include "graph.h"

static char path[4096];

static const char *model(const char *name)
{
    snprintf(path, sizeof path, "%s/models/%s", tap_shared(), name);
    return path;
}

static int count_op(const graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        c += strcmp(g->nodes[i].op, op) == 0;
    return c;
}

static const gnode *first_op(const graph *g, const char *op)
{
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i].op, op) == 0)
            return &g->nodes[i];
    return NULL;
}

/* Every node input is -1 or an existing tensor produced earlier (or a
 * constant / graph input); every tensor is produced at most once. */
static int check_wellformed(const graph *g, const char *name)
{
    int *prod = malloc(sizeof *prod * (size_t)g->ntensors);
    int ok = 1;
    for (int i = 0; i < g->ntensors; i++)
        prod[i] = -1;
    for (int i = 0; i < g->nnodes && ok; i++) {
        const gnode *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) {
            int ti = n->in[k];
            if (ti < -1 || ti >= g->ntensors) { ok = 0; break; }
            if (ti < 0 || g->tensors[ti].data)
                continue;
            int is_input = 0;
            for (int j = 0; j < g->ninputs; j++)
                is_input |= g->inputs[j] == ti;
            if (!is_input && prod[ti] < 0) {
                tap_diag("%s: node %d (%s) reads '%s' before it is produced", name, i, n->op,
                         g->tensors[ti].name);
                ok = 0;
            }
        }
        for (int k = 0; k < n->nout; k++) {
            int ti = n->out[k];
            if (ti < 0 || ti >= g->ntensors || prod[ti] >= 0 || g->tensors[ti].data) { ok = 0; break; }
            prod[ti] = i;
        }
    }
    free(prod);
    return ok;
}

static void common_checks(const graph *g, const char *name, const char *input, int64_t hw,
                          const char *order)
{
    tap_ok(g->format == GRAPH_ONNX, "%s: format ONNX", name);
    tap_ok(g->opset == 13, "%s: opset 13 (got %d)", name, g->opset);
    tap_ok(strlen(g->sha256) == 64, "%s: sha256 set", name);
    tap_ok(g->path && strstr(g->path, name), "%s: path kept", name);
    tap_ok(g->ninputs == 1 && strcmp(g->tensors[g->inputs[0]].name, input) == 0,
           "%s: one graph input '%s'", name, input);
    const gtensor *in = &g->tensors[g->inputs[0]];
    tap_ok(in->dtype == DT_F32 && in->ndim == 4 && in->dims[0] == 1 && in->dims[1] == 3 &&
           in->dims[2] == hw && in->dims[3] == hw && !in->data,
           "%s: input is f32 1x3x%lldx%lld", name, (long long)hw, (long long)hw);
    tap_ok(g->noutputs == 1, "%s: one graph output", name);
    tap_ok(check_wellformed(g, name), "%s: nodes topologically sorted, tensors produced once", name);
    const char *co = graph_meta_get(g, "preprocess.channel_order");
    tap_ok(co && strcmp(co, order) == 0, "%s: preprocess.channel_order %s", name, order);
    const char *labels = graph_meta_get(g, "labels");
    int lines = 0;
    if (labels) {
        for (const char *p = labels; *p; p++)
            lines += *p == '\n';
        if (*labels && labels[strlen(labels) - 1] != '\n')
            lines++;
    }
    tap_ok(lines == 1000, "%s: labels has 1000 lines (got %d)", name, lines);
    tap_ok(labels && strncmp(labels, "n01440764 tench", 15) == 0, "%s: first label is tench", name);
    tap_ok(graph_find_tensor(g, "no such tensor") == -1, "%s: unknown names are not found", name);
    tap_ok(graph_find_tensor(g, "T0") == -1, "%s: T<index> is a TFLite-only alias", name);
}

static void test_googlenet(void)
{
    graph g;
    err_t e;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = graph_load(model("googlenet-bvlc.onnx"), &g, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!tap_ok(rc == 0, "googlenet loads%s%s", rc ? ": " : "", rc ? e.msg : ""))
        return;
    tap_diag("googlenet-bvlc.onnx loaded in %.1f ms",
             (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    common_checks(&g, "googlenet-bvlc.onnx", "data", 224, "BGR");
    tap_ok(g.nnodes == 142, "googlenet: 142 nodes (got %d)", g.nnodes);
    tap_ok(count_op(&g, "Conv") == 57, "googlenet: 57 Conv (got %d)", count_op(&g, "Conv"));
    tap_ok(count_op(&g, "Concat") == 9, "googlenet: 9 Concat (got %d)", count_op(&g, "Concat"));
    tap_ok(count_op(&g, "LRN") == 2, "googlenet: 2 LRN");
    tap_ok(count_op(&g, "Gemm") == 1 && count_op(&g, "Softmax") == 1, "googlenet: one Gemm, one Softmax");

    const gnode *gemm = first_op(&g, "Gemm");
    if (gemm && gemm->nin == 3) {
        const gtensor *w = &g.tensors[gemm->in[1]], *b = &g.tensors[gemm->in[2]];
        tap_ok(w->ndim == 2 && w->dims[0] == 1000 && w->dims[1] == 1024 && w->dtype == DT_F32 &&
               w->data && w->nbytes == 1000 * 1024 * 4, "googlenet: Gemm weight f32 1000x1024 with data");
        tap_ok(b->ndim == 1 && b->dims[0] == 1000 && b->data && b->nbytes == 4000, "googlenet: Gemm bias 1000");
        tap_ok(gnode_attr_int(gemm, "transB", 0) == 1, "googlenet: Gemm transB = 1");
        tap_ok(strcmp(g.nodes[g.nnodes - 1].op, "Softmax") == 0 &&
               g.nodes[g.nnodes - 1].out[0] == g.outputs[0], "googlenet: last node Softmax gives the output");
        int prev = graph_producer(&g, gemm->in[0]);
        tap_ok(prev >= 0 && strcmp(g.nodes[prev].op, "Flatten") == 0, "googlenet: Gemm reads a Flatten");
        int ap = prev >= 0 ? graph_producer(&g, g.nodes[prev].in[0]) : -1;
        tap_ok(ap >= 0 && strcmp(g.nodes[ap].op, "AveragePool") == 0, "googlenet: Flatten reads the AveragePool");
        if (ap >= 0) {
            const gattr *ks = gnode_attr(&g.nodes[ap], "kernel_shape");
            tap_ok(ks && ks->type == ATTR_INTS && ks->n == 2 && ks->ints[0] == 7 && ks->ints[1] == 7,
                   "googlenet: AveragePool kernel 7x7");
        } else {
            tap_ok(0, "googlenet: AveragePool kernel 7x7");
        }
    } else {
        tap_ok(0, "googlenet: Gemm has 3 inputs");
    }

    const gnode *conv = first_op(&g, "Conv");
    tap_ok(conv && strcmp(conv->name, "conv1/7x7_s2") == 0 && conv->in[0] == g.inputs[0],
           "googlenet: first Conv conv1/7x7_s2 reads the input");
    if (conv) {
        const gtensor *w = &g.tensors[conv->in[1]];
        tap_ok(w->ndim == 4 && w->dims[0] == 64 && w->dims[1] == 3 && w->dims[2] == 7 && w->dims[3] == 7,
               "googlenet: conv1 weight 64x3x7x7");
        const gattr *st = gnode_attr(conv, "strides");
        tap_ok(st && st->n == 2 && st->ints[0] == 2, "googlenet: conv1 stride 2");
        tap_ok(gnode_attr(conv, "no_such") == NULL && gnode_attr_int(conv, "group", 1) == 1,
               "googlenet: absent attribute gives the default");
    }
    const gnode *lrn = first_op(&g, "LRN");
    tap_ok(lrn && gnode_attr_float(lrn, "alpha", 0) > 0.9e-4f && gnode_attr_float(lrn, "alpha", 0) < 1.1e-4f &&
           gnode_attr_int(lrn, "size", 0) == 5, "googlenet: LRN alpha 1e-4, size 5");
    size_t weights = 0;
    for (int i = 0; i < g.ntensors; i++)
        weights += g.tensors[i].data ? g.tensors[i].nbytes : 0;
    tap_ok(weights > 27000000 && weights < 28048301, "googlenet: %zu bytes of weights", weights);
    const char *mean = graph_meta_get(&g, "preprocess.mean");
    tap_ok(mean && strcmp(mean, "104 117 123") == 0, "googlenet: preprocess.mean 104 117 123");
    graph_free(&g);
    tap_ok(g.ntensors == 0 && g.tensors == NULL, "graph_free leaves an empty graph");
}

static void test_squeezenet(void)
{
    graph g;
    err_t e;
    int rc = graph_load(model("squeezenet1.1-bvlc.onnx"), &g, &e);
    if (!tap_ok(rc == 0, "squeezenet loads%s%s", rc ? ": " : "", rc ? e.msg : ""))
        return;
    common_checks(&g, "squeezenet1.1-bvlc.onnx", "data", 227, "BGR");
    tap_ok(count_op(&g, "Conv") == 26, "squeezenet: 26 Conv (got %d)", count_op(&g, "Conv"));
    tap_ok(count_op(&g, "Concat") == 8, "squeezenet: 8 Concat (fire modules)");
    tap_ok(count_op(&g, "GlobalAveragePool") == 1, "squeezenet: one GlobalAveragePool");
    tap_ok(count_op(&g, "Gemm") == 0, "squeezenet: no Gemm");
    const gnode *gap = first_op(&g, "GlobalAveragePool");
    int p = gap ? graph_producer(&g, gap->in[0]) : -1;
    tap_ok(p >= 0 && strcmp(g.nodes[p].op, "Relu") == 0, "squeezenet: GAP reads a Relu");
    int c = p >= 0 ? graph_producer(&g, g.nodes[p].in[0]) : -1;
    tap_ok(c >= 0 && strcmp(g.nodes[c].op, "Conv") == 0 && g.tensors[g.nodes[c].in[1]].dims[0] == 1000,
           "squeezenet: conv10 has 1000 filters");
    graph_free(&g);
}

static void test_random(const char *file, const char *name, int nconv, int nbn)
{
    graph g;
    err_t e;
    int rc = graph_load(model(file), &g, &e);
    if (!tap_ok(rc == 0, "%s loads%s%s", name, rc ? ": " : "", rc ? e.msg : ""))
        return;
    common_checks(&g, name, "input", 224, "RGB");
    tap_ok(count_op(&g, "Conv") == nconv, "%s: %d Conv (got %d)", name, nconv, count_op(&g, "Conv"));
    tap_ok(count_op(&g, "BatchNormalization") == nbn, "%s: %d BatchNormalization (got %d)", name, nbn,
           count_op(&g, "BatchNormalization"));
    tap_ok(count_op(&g, "GlobalAveragePool") == 1 && count_op(&g, "Flatten") == 1 && count_op(&g, "Gemm") == 1,
           "%s: GlobalAveragePool, Flatten, Gemm head", name);
    const gnode *gemm = first_op(&g, "Gemm");
    tap_ok(gemm && g.tensors[gemm->in[1]].dims[0] == 1000, "%s: Gemm to 1000 classes", name);
    const gtensor *out = &g.tensors[g.outputs[0]];
    tap_ok(strcmp(out->name, "logits") == 0 && out->ndim == 2 && out->dims[1] == 1000,
           "%s: output logits [?,1000]", name);
    const gnode *bn = first_op(&g, "BatchNormalization");
    tap_ok(bn && bn->nin == 5 && gnode_attr_float(bn, "epsilon", 0) > 0, "%s: BatchNormalization with 5 inputs, epsilon", name);
    graph_free(&g);
}

int main(void)
{
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/models/googlenet-bvlc.onnx", tap_shared());
    FILE *f = fopen(probe, "rb");
    if (!f)
        tap_skip_all("shared models not found (../shared or $CAM_SHARED)");
    fclose(f);
    test_googlenet();
    test_squeezenet();
    test_random("random/mobilenet_v2_bn.onnx", "mobilenet_v2_bn.onnx", 52, 52);
    test_random("random/resnet18_bn.onnx", "resnet18_bn.onnx", 20, 20);

    graph g;
    err_t e;
    tap_ok(graph_load(model("no-such-model.onnx"), &g, &e) == -1 && strstr(e.msg, "no-such-model.onnx"),
           "missing file: error names it (%s)", e.msg);
    return tap_done();
}
