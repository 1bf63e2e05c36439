/* test_onnx_node.c - the ONNX node conformance tests (Debian's
 * libonnx-testdata) through the engine.
 *
 * Every test whose operators are all supported runs: the first float input
 * is fed at run time, the other inputs become constants of the graph (the
 * engine takes one input), every output is compared with output_N.pb using
 * ONNX's own tolerance (|got - want| <= 1e-7 + 1e-3 |want|).  Tests with an
 * unsupported operator are skipped naming it; the tests below are skipped
 * although their operators are supported, each for the reason given.
 * $ONNX_NODE_DIR overrides the data directory.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../tap.h"
#include "engine.h"
#include "engine_int.h"
#include "graph.h"

static const struct {
    const char *name, *why;
} skip_list[] = {
    {"test_add_uint8", "integer (uint8) arithmetic is not supported: activations are float"},
    {"test_sub_uint8", "integer (uint8) arithmetic is not supported: activations are float"},
    {"test_mul_uint8", "integer (uint8) arithmetic is not supported: activations are float"},
    {"test_div_uint8", "integer (uint8) arithmetic is not supported: activations are float"},
    {"test_maxpool_2d_uint8", "integer (uint8) pooling is not supported: activations are float"},
    {"test_clip_default_int8_inbounds", "integer (int8) Clip is not supported: activations are float"},
    {"test_clip_default_int8_max", "integer (int8) Clip is not supported: activations are float"},
    {"test_clip_default_int8_min", "integer (int8) Clip is not supported: activations are float"},
    {"test_averagepool_3d_default", "3-D pooling is refused"},
    {"test_maxpool_3d_default", "3-D pooling is refused"},
    {"test_batchnorm_epsilon_training_mode", "training-mode BatchNormalization is refused"},
    {"test_batchnorm_example_training_mode", "training-mode BatchNormalization is refused"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output is not supported"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "MaxPool's Indices output is not supported"},
    {"test_training_dropout", "training-mode Dropout (random) is refused"},
    {"test_training_dropout_default", "training-mode Dropout (random) is refused"},
    {"test_training_dropout_default_mask", "training-mode Dropout (random) is refused"},
    {"test_training_dropout_mask", "training-mode Dropout (random) is refused"},
    {"test_training_dropout_zero_ratio", "training-mode Dropout is refused"},
    {"test_training_dropout_zero_ratio_mask", "training-mode Dropout is refused"},
    {"test_cast_FLOAT_to_BFLOAT16", "bfloat16 is not a supported type"},
    {"test_cast_FLOAT_to_STRING", "strings are not a supported type"},
    {"test_max_example", "Max of more than two inputs is refused"},
    {"test_min_example", "Min of more than two inputs is refused"},
    {"test_constant", "the graph has no input; the engine runs from one"},
    {"test_identity_opt", "optional types are not supported"},
    {"test_identity_sequence", "sequence types are not supported"},
};

static const char *skip_reason(const char *name)
{
    for (size_t i = 0; i < sizeof skip_list / sizeof skip_list[0]; i++)
        if (!strcmp(skip_list[i].name, name))
            return skip_list[i].why;
    return NULL;
}

static int read_file(const char *path, void **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return -1;
        }
        size_t r = fread(b + len, 1, cap - len, f);
        len += r;
        if (len < cap)
            break;
        cap *= 2;
        char *nb = realloc(b, cap);
        if (!nb)
            free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    *buf = b;
    *n = len;
    return 0;
}

static int parse_pb(const char *path, tensor *t)
{
    void *buf;
    size_t n;
    err_t e;
    if (read_file(path, &buf, &n) < 0)
        return -1;
    int rc = onnx_tensor_parse(buf, n, t, &e);
    free(buf);
    return rc;
}

static int is_float(int dt)
{
    return dt == DT_F32 || dt == DT_F16 || dt == DT_F64;
}

static int close_enough(float got, float want)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabsf(got - want) <= 1e-7f + 1e-3f * fabsf(want);
}

/* 1 pass, 0 fail, -1 skip (why set). */
static int run_test(const char *dir, const char *name, char *why, size_t whylen)
{
    char path[4096];
    graph g;
    err_t e;
    tensor ins[16];
    int nins = 0, result = 0, feed = -1;
    engine *en = NULL;
    graph_init(&g);
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    if (graph_load(path, &g, &e) < 0) {
        const char *m = strstr(e.msg, "model.onnx: ");
        snprintf(why, whylen, "model does not load: %s", m ? m + 12 : e.msg);
        graph_free(&g);
        return -1;
    }
    for (int i = 0; i < g.nnodes; i++)
        if (!op_find(g.nodes[i].op, g.nodes[i].domain)) {
            snprintf(why, whylen, "operator %s not supported", g.nodes[i].op);
            graph_free(&g);
            return -1;
        }
    if (g.ninputs > 16) {
        snprintf(why, whylen, "too many inputs");
        graph_free(&g);
        return -1;
    }
    for (nins = 0; nins < g.ninputs; nins++) {
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", dir, name, nins);
        if (parse_pb(path, &ins[nins]) < 0) {
            snprintf(why, whylen, "input_%d.pb unreadable", nins);
            result = -1;
            goto out;
        }
        if (feed < 0 && ins[nins].dtype == DT_F32)
            feed = nins;
    }
    if (feed < 0) {
        snprintf(why, whylen, "no float input to feed");
        result = -1;
        goto out;
    }
    /* the other inputs become constants */
    for (int k = 0; k < nins; k++) {
        if (k == feed)
            continue;
        gtensor *gt = &g.tensors[g.inputs[k]];
        free(gt->data);
        if (!ins[k].data)   /* an empty tensor is still a constant */
            ins[k].data = calloc(1, 8);
        gt->data = ins[k].data;
        gt->nbytes = ins[k].nbytes;
        gt->dtype = ins[k].dtype;
        gt->ndim = ins[k].ndim;
        memcpy(gt->dims, ins[k].dims, sizeof gt->dims);
        ins[k].data = NULL;
    }
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.input = g.tensors[g.inputs[feed]].name;
    o.in_ndim = ins[feed].ndim;
    memcpy(o.in_dims, ins[feed].dims, sizeof o.in_dims);
    o.threads = 1;
    if (o.in_ndim == 0) {
        /* a scalar input: the model declares rank 0 */
        g.tensors[g.inputs[feed]].ndim = 0;
    }
    en = engine_create(&g, &o, &e);
    if (!en) {
        tap_diag("%s: %s", name, e.msg);
        goto out;
    }
    if (engine_run(en, ins[feed].data, &e) < 0) {
        tap_diag("%s: run: %s", name, e.msg);
        goto out;
    }
    result = 1;
    for (int k = 0; k < engine_noutputs(en); k++) {
        tensor want;
        int64_t d[TENSOR_MAXDIM];
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%d.pb", dir, name, k);
        if (parse_pb(path, &want) < 0) {
            tap_diag("%s: output_%d.pb unreadable", name, k);
            result = 0;
            break;
        }
        if (want.dtype == DT_BOOL || !is_float(want.dtype) || want.dtype != DT_F32) {
            if (tensor_to_f32(&want, &e) < 0) {
                tap_diag("%s: output %d: %s", name, k, e.msg);
                result = 0;
                tensor_free(&want);
                break;
            }
        }
        int nd = engine_output_shape(en, k, d);
        int shape_ok = nd == want.ndim;
        for (int i = 0; shape_ok && i < nd; i++)
            shape_ok = d[i] == want.dims[i];
        if (!shape_ok) {
            tap_diag("%s: output %d: shape differs (rank %d vs %d)", name, k, nd, want.ndim);
            result = 0;
        } else {
            const float *got = engine_output(en, k), *w = want.data;
            size_t n = want.nbytes / sizeof(float);
            for (size_t i = 0; i < n; i++)
                if (!close_enough(got[i], w[i])) {
                    tap_diag("%s: output %d element %zu: %g, want %g", name, k, i, got[i], w[i]);
                    result = 0;
                    break;
                }
        }
        tensor_free(&want);
    }
out:
    engine_free(en);
    for (int k = 0; k < nins; k++)
        tensor_free(&ins[k]);
    graph_free(&g);
    return result;
}

static int only_tests(const struct dirent *d)
{
    return !strncmp(d->d_name, "test_", 5);
}

int main(void)
{
    const char *dir = getenv("ONNX_NODE_DIR");
    struct dirent **list;
    struct stat st;
    int ran = 0, passed = 0, skipped = 0;
    if (!dir || !*dir)
        dir = "/usr/share/libonnx-testdata/data/node";
    if (stat(dir, &st) < 0)
        tap_skip_all("no ONNX node tests (install libonnx-testdata)");
    int n = scandir(dir, &list, only_tests, alphasort);
    if (n < 0)
        tap_skip_all("ONNX node test directory unreadable");
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        const char *why = skip_reason(name);
        char buf[600];
        if (why) {
            tap_skip("%s: %s", name, why);
            skipped++;
        } else {
            int r = run_test(dir, name, buf, sizeof buf);
            if (r < 0) {
                /* unsupported operators are not reported one by one */
                if (strncmp(buf, "operator ", 9))
                    tap_skip("%s: %s", name, buf);
                skipped++;
            } else {
                tap_ok(r == 1, "%s", name);
                ran++;
                passed += r == 1;
            }
        }
        free(list[i]);
    }
    free(list);
    tap_diag("%d tests run, %d passed; %d skipped (explicit list or unsupported operators)", ran, passed, skipped);
    return tap_done();
}
