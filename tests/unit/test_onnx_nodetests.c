/* test_onnx_nodetests.c - the ONNX backend node tests of Debian's
 * libonnx-testdata: every model.onnx loads or is refused for a reason we
 * do not support (string/uint32/uint64/bfloat16 tensors, sequences and
 * optionals, subgraphs); every input_N.pb / output_N.pb parses and agrees
 * with the graph's inputs and outputs.  $ONNX_TESTDATA overrides the
 * directory. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "graph.h"

static const char *root;

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (len == cap)
            b = realloc(b, cap *= 2);
        size_t r = fread(b + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    *n = len;
    return b;
}

static int load_pb(const char *test, const char *which, int k, tensor *t, err_t *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/%s_%d.pb", root, test, which, k);
    size_t n;
    unsigned char *b = slurp(path, &n);
    if (!b)
        return 1;                               /* no such file */
    int rc = onnx_tensor_parse(b, n, t, e);
    free(b);
    return rc;
}

static void tensor_release(tensor *t)
{
    free(t->name);
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* A refusal is acceptable only for the features we do not support. */
static int acceptable_refusal(const char *msg)
{
    return strstr(msg, "unsupported") || strstr(msg, "not a tensor") || strstr(msg, "segmented") ||
           strstr(msg, "dimensions (at most");
}

/* Does record t agree with graph tensor gt (name, dtype, known dims)? */
static int agrees(const tensor *t, const gtensor *gt)
{
    if (*t->name && strcmp(t->name, gt->name) != 0)
        return 0;
    if (gt->dtype != DT_NONE && gt->dtype != t->dtype)
        return 0;
    if (gt->ndim >= 0) {
        if (gt->ndim != t->ndim)
            return 0;
        for (int k = 0; k < gt->ndim; k++)
            if (gt->dims[k] > 0 && gt->dims[k] != t->dims[k])
                return 0;
    }
    return 1;
}

static void test_all(void)
{
    DIR *d = opendir(root);
    struct dirent *de;
    int loaded = 0, refused = 0, bad_refusal = 0, pb_ok = 0, pb_refused = 0, disagree = 0;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "test_", 5) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", root, de->d_name);
        graph g;
        err_t e;
        int rc = graph_load(path, &g, &e);
        if (rc < 0) {
            refused++;
            if (!acceptable_refusal(e.msg)) {
                bad_refusal++;
                tap_diag("%s", e.msg);
            }
        } else {
            loaded++;
        }
        static const char *which[2] = { "input", "output" };
        for (int w = 0; w < 2; w++)
            for (int k = 0;; k++) {
                tensor t;
                int prc = load_pb(de->d_name, which[w], k, &t, &e);
                if (prc == 1)
                    break;
                if (prc < 0) {
                    pb_refused++;
                    if (!acceptable_refusal(e.msg) && !strstr(e.msg, "too large"))
                        tap_diag("%s %s_%d.pb: %s", de->d_name, which[w], k, e.msg);
                    continue;
                }
                pb_ok++;
                /* Inputs are matched by position against the non-constant
                 * graph inputs, outputs against the graph outputs. */
                int nio = rc < 0 ? 0 : w == 0 ? g.ninputs : g.noutputs;
                const int *io = w == 0 ? g.inputs : g.outputs;
                if (k < nio && !agrees(&t, &g.tensors[io[k]])) {
                    disagree++;
                    tap_diag("%s %s_%d.pb does not match graph tensor '%s'", de->d_name, which[w], k,
                             g.tensors[io[k]].name);
                }
                tensor_release(&t);
            }
        if (rc == 0)
            graph_free(&g);
    }
    closedir(d);
    tap_diag("node tests: %d models loaded, %d refused; %d tensors parsed, %d refused",
             loaded, refused, pb_ok, pb_refused);
    tap_ok(loaded >= 800, "most node test models load (%d)", loaded);
    tap_ok(bad_refusal == 0, "refusals are only for unsupported features (%d others)", bad_refusal);
    tap_ok(pb_ok >= 2500, "most test tensors parse (%d)", pb_ok);
    tap_ok(disagree == 0, "test tensors agree with graph inputs/outputs (%d disagree)", disagree);
}

static void test_conv(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/test_conv_with_strides_padding/model.onnx", root);
    graph g;
    err_t e;
    if (!tap_ok(graph_load(path, &g, &e) == 0, "conv test model loads")) {
        tap_diag("%s", e.msg);
        return;
    }
    tap_ok(g.nnodes == 1 && strcmp(g.nodes[0].op, "Conv") == 0 && g.nodes[0].nin == 2, "one Conv, two inputs");
    tap_ok(g.ninputs == 2 && strcmp(g.tensors[g.inputs[0]].name, "x") == 0 &&
           strcmp(g.tensors[g.inputs[1]].name, "W") == 0, "inputs x and W");
    const gattr *p = gnode_attr(&g.nodes[0], "pads"), *s = gnode_attr(&g.nodes[0], "strides");
    tap_ok(p && p->n == 4 && p->ints[0] == 1 && p->ints[3] == 1 && s && s->n == 2 && s->ints[1] == 2,
           "pads 1,1,1,1 and strides 2,2");
    tensor x, y;
    tap_ok(load_pb("test_conv_with_strides_padding", "input", 0, &x, &e) == 0 && x.dtype == DT_F32 &&
           x.ndim == 4 && x.dims[2] == 7 && x.dims[3] == 5 && x.nbytes == 35 * 4 &&
           ((float *)x.data)[34] == 34.0f, "input_0.pb: f32 1x1x7x5 counting 0..34");
    tap_ok(load_pb("test_conv_with_strides_padding", "output", 0, &y, &e) == 0 && y.ndim == 4 &&
           y.dims[2] == 4 && y.dims[3] == 3 && ((float *)y.data)[0] == 12.0f,
           "output_0.pb: 1x1x4x3, first value 12");
    tensor_release(&x);
    tensor_release(&y);
    graph_free(&g);
}

/* The Constant node's tensor must equal the expected output. */
static void test_constant(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/test_constant/model.onnx", root);
    graph g;
    err_t e;
    tensor y;
    if (!tap_ok(graph_load(path, &g, &e) == 0 && load_pb("test_constant", "output", 0, &y, &e) == 0,
                "test_constant loads"))
        return;
    const gattr *v = gnode_attr(&g.nodes[0], "value");
    const gtensor *c = v && v->type == ATTR_TENSOR ? &g.tensors[v->tensor] : NULL;
    tap_ok(c && c->nbytes == y.nbytes && c->dtype == y.dtype && memcmp(c->data, y.data, y.nbytes) == 0,
           "Constant value equals output_0.pb");
    tensor_release(&y);
    graph_free(&g);
}

int main(void)
{
    root = getenv("ONNX_TESTDATA");
    if (!root || !*root)
        root = "/usr/share/libonnx-testdata/data/node";
    DIR *d = opendir(root);
    if (!d)
        tap_skip_all("ONNX node tests not found (Debian package libonnx-testdata)");
    closedir(d);
    test_conv();
    test_constant();
    test_all();
    return tap_done();
}
