/* test_golden_models.c - the engine on the shared models against the
 * golden outputs of ONNX Runtime and the TFLite interpreter (see
 * ../shared/golden/README.md for the tolerances).  Skips without ../shared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "npy.h"

typedef struct {
    const char *stem, *model, *feature, *logits;
    int tflite;
} gcase;

static const gcase cases[] = {
    {"googlenet-bvlc", "models/googlenet-bvlc.onnx", "concat_24", "loss3/classifier", 0},
    {"squeezenet1.1-bvlc", "models/squeezenet1.1-bvlc.onnx", "conv10/relu", "pool10/flat", 0},
    {"mobilenet_v2_bn", "models/random/mobilenet_v2_bn.onnx",
     "/features/features.18/features.18.2/Clip_output_0", "logits", 0},
    {"resnet18_bn", "models/random/resnet18_bn.onnx", "/layer4/layer4.1/relu_1/Relu_output_0", "logits", 0},
    {"mobilenet_v2_1.0_224_quant", "models/mobilenet_v2_1.0_224_quant.tflite", "T168", "T172", 1},
    {"mobilenet_v2_1.0_224_inat_bird_quant", "models/mobilenet_v2_1.0_224_inat_bird_quant.tflite", "T167",
     "T170", 1},
};
static const char *images[] = {"cat", "bird", "grace_hopper"};

/* Indices of the 5 largest values, ties to the lower index. */
static void top5(const float *v, int64_t n, int out[5])
{
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int64_t i = 0; i < n; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++)
                taken |= out[j] == i;
            if (!taken && (best < 0 || v[i] > v[best]))
                best = (int)i;
        }
        out[k] = best;
    }
}

static double max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

static double pearson(const float *a, const float *b, int64_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

static int64_t numel(const int64_t *d, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= d[i];
    return n;
}

static int load_npy(const char *dir, const char *file, tensor *t)
{
    char path[1024];
    err_t e;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tensor_init(t);
    if (npy_read_file(path, t, &e) < 0 || t->dtype != DT_F32) {
        tap_diag("%s: %s", path, t->dtype != DT_F32 ? "not float32" : e.msg);
        return -1;
    }
    return 0;
}

static void run_case(const char *shared, const gcase *gc, const graph *g, int reference, int nimages)
{
    const char *outs[2] = {gc->feature, gc->logits};
    engine_opts o;
    err_t e;
    memset(&o, 0, sizeof o);
    o.noutputs = 2;
    o.outputs = outs;
    o.reference = reference;
    o.threads = reference ? 1 : 2;
    engine *en = engine_create(g, &o, &e);
    if (!tap_ok(en != NULL, "%s%s: engine created", gc->stem, reference ? " (reference kernels)" : "")) {
        tap_diag("%s", e.msg);
        return;
    }
    tap_diag("%s: %zu bytes of weights, %zu bytes of activations", gc->stem, engine_weight_bytes(en),
             engine_arena_bytes(en));
    for (int im = 0; im < nimages; im++) {
        char dir[1024];
        tensor in, feat, logit;
        snprintf(dir, sizeof dir, "%s/golden/%s/%s", shared, gc->stem, images[im]);
        if (load_npy(dir, "input.npy", &in) < 0 || load_npy(dir, "features.npy", &feat) < 0 ||
            load_npy(dir, "logits.npy", &logit) < 0) {
            tap_ok(0, "%s/%s: golden files readable", gc->stem, images[im]);
            continue;
        }
        int64_t idims[TENSOR_MAXDIM], fd[TENSOR_MAXDIM], ld[TENSOR_MAXDIM];
        int ind = engine_input_shape(en, idims);
        int fnd = engine_output_shape(en, 0, fd), lnd = engine_output_shape(en, 1, ld);
        int64_t nin = numel(idims, ind), nf = numel(fd, fnd), nl = numel(ld, lnd);
        int64_t gin = numel(in.dims, in.ndim), gf = numel(feat.dims, feat.ndim), gl = numel(logit.dims, logit.ndim);
        if (!tap_ok(nin == gin && nf == gf && nl == gl, "%s/%s: shapes agree (%lld/%lld/%lld)", gc->stem,
                    images[im], (long long)nin, (long long)nf, (long long)nl)) {
            tap_diag("golden %lld/%lld/%lld", (long long)gin, (long long)gf, (long long)gl);
            goto next;
        }
        if (!tap_ok(engine_run(en, in.data, &e) == 0, "%s/%s: run", gc->stem, images[im]))
            goto next;
        const float *f = engine_output(en, 0), *l = engine_output(en, 1);
        const float *gfp = feat.data, *glp = logit.data;
        int t5[5], g5[5];
        top5(l, nl, t5);
        top5(glp, nl, g5);
        double ef = max_diff(f, gfp, nf) / max_abs(gfp, nf);
        double el = max_diff(l, glp, nl) / max_abs(glp, nl);
        double cf = pearson(f, gfp, nf);
        tap_diag("%s/%s: features max|d|/max = %.3g, corr %.6f; logits max|d|/max = %.3g; top-5 %d %d %d %d %d (golden %d %d %d %d %d)",
                 gc->stem, images[im], ef, cf, el, t5[0], t5[1], t5[2], t5[3], t5[4], g5[0], g5[1], g5[2],
                 g5[3], g5[4]);
        if (!gc->tflite) {
            tap_ok(ef <= 1e-4, "%s/%s: features within 1e-4 of the golden max", gc->stem, images[im]);
            tap_ok(el <= 1e-4, "%s/%s: logits within 1e-4 of the golden max", gc->stem, images[im]);
            tap_ok(!memcmp(t5, g5, sizeof t5), "%s/%s: same top-5", gc->stem, images[im]);
        } else {
            int same_set = 1;
            for (int a = 0; a < 5; a++) {
                int found = 0;
                for (int b = 0; b < 5; b++)
                    found |= t5[a] == g5[b];
                same_set &= found;
            }
            tap_ok(t5[0] == g5[0], "%s/%s: same top-1 (%d)", gc->stem, images[im], g5[0]);
            tap_ok(same_set, "%s/%s: same top-5 set", gc->stem, images[im]);
            tap_ok(cf >= 0.99, "%s/%s: feature correlation %.4f >= 0.99", gc->stem, images[im], cf);
        }
    next:
        tensor_free(&in);
        tensor_free(&feat);
        tensor_free(&logit);
    }
    engine_free(en);
}

int main(void)
{
    const char *shared = tap_shared();
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/golden", shared);
    if (stat(path, &st) < 0)
        tap_skip_all("no shared golden data (../shared or $CAM_SHARED)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gcase *gc = &cases[i];
        graph g;
        err_t e;
        snprintf(path, sizeof path, "%s/%s", shared, gc->model);
        graph_init(&g);
        int rc = graph_load(path, &g, &e);
        if (rc < 0 && gc->tflite && strstr(e.msg, "not supported by this build")) {
            tap_skip("%s: this build has no TFLite loader yet", gc->stem);
            graph_free(&g);
            continue;
        }
        if (!tap_ok(rc == 0, "%s: model loads", gc->stem)) {
            tap_diag("%s", e.msg);
            graph_free(&g);
            continue;
        }
        run_case(shared, gc, &g, 0, 3);
        /* the plain reference kernels, on one model per format */
        if (!strcmp(gc->stem, "squeezenet1.1-bvlc") || !strcmp(gc->stem, "mobilenet_v2_1.0_224_quant"))
            run_case(shared, gc, &g, 1, 1);
        graph_free(&g);
    }
    return tap_done();
}
