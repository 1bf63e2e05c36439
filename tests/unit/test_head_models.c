/* test_head_models.c - head_find on every shared model: the CAM layer,
 * the head's shape and weights, labels, and the invariant that ties them
 * to the goldens: mean_xy M_c + b_c = logit_c for the golden top-1 class c
 * (ONNX: relative 1e-4; TFLite: within a few quantisation steps). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "head.h"
#include "npy.h"

struct model {
    const char *stem, *file;
    const char *feature;      /* name or T<index> */
    const char *logits;
    int K, h, w, nclasses, identity, tflite;
    const char *label0, *label_last;
};

static const struct model models[] = {
    {"googlenet-bvlc", "googlenet-bvlc.onnx", "concat_24", "loss3/classifier", 1024, 7, 7, 1000, 0, 0,
     "n01440764 tench, Tinca tinca", "n15075141 toilet tissue, toilet paper, bathroom tissue"},
    {"squeezenet1.1-bvlc", "squeezenet1.1-bvlc.onnx", "conv10/relu", "pool10/flat", 1000, 14, 14, 1000, 1, 0,
     "n01440764 tench, Tinca tinca", NULL},
    {"mobilenet_v2_bn", "random/mobilenet_v2_bn.onnx", NULL, "logits", 1280, 7, 7, 1000, 0, 0, NULL, NULL},
    {"resnet18_bn", "random/resnet18_bn.onnx", NULL, "logits", 512, 7, 7, 1000, 0, 0, NULL, NULL},
    {"mobilenet_v2_1.0_224_quant", "mobilenet_v2_1.0_224_quant.tflite", "T168", "T172", 1280, 7, 7, 1001, 0, 1,
     "background", NULL},
    {"mobilenet_v2_1.0_224_inat_bird_quant", "mobilenet_v2_1.0_224_inat_bird_quant.tflite", "T167", "T170",
     1280, 7, 7, 965, 0, 1, NULL, "background"},
};

static int same_tensor(const graph *g, const char *a, const char *b)
{
    int ia = graph_find_tensor(g, a), ib = graph_find_tensor(g, b);
    return ia >= 0 && ia == ib;
}

/* The golden invariant for one image directory. */
static void check_invariant(const struct model *m, const cam_head *h, const char *dir, const char *img)
{
    char path[1200];
    tensor f, l;
    err_t e;
    tensor_init(&f);
    tensor_init(&l);
    snprintf(path, sizeof path, "%s/features.npy", dir);
    if (npy_read_file(path, &f, &e) < 0 || tensor_to_f32(&f, &e) < 0) {
        tap_ok(0, "%s: %s", path, e.msg);
        return;
    }
    snprintf(path, sizeof path, "%s/logits.npy", dir);
    if (npy_read_file(path, &l, &e) < 0 || tensor_to_f32(&l, &e) < 0) {
        tap_ok(0, "%s: %s", path, e.msg);
        tensor_free(&f);
        return;
    }
    const float *fv = f.data, *lv = l.data;
    size_t nl = l.nbytes / 4, hw = (size_t)m->h * m->w;
    if (f.nbytes / 4 != (size_t)h->K * hw || nl != (size_t)h->nclasses) {
        tap_ok(0, "%s: golden shapes match the head", dir);
        goto out;
    }
    int c = 0;
    float maxl = 0;
    for (size_t i = 0; i < nl; i++) {
        if (lv[i] > lv[c])
            c = (int)i;
        if (fabsf(lv[i]) > maxl)
            maxl = fabsf(lv[i]);
    }
    double s = 0;
    for (size_t p = 0; p < hw; p++) {
        double mc = 0;
        if (h->identity)
            mc = fv[(size_t)c * hw + p];
        else
            for (int k = 0; k < h->K; k++)
                mc += (double)h->W[(size_t)c * h->K + k] * fv[(size_t)k * hw + p];
        s += mc;
    }
    s /= hw;
    if (h->b)
        s += h->b[c];
    double d = fabs(s - lv[c]);
    /* ONNX: float32 through one GEMM; TFLite: the golden logit is a uint8
     * value, the reference sums in integers: a few output steps. */
    double tol = m->tflite ? 0.01 * maxl : 1e-4 * maxl;
    tap_ok(d <= tol, "%s %s: mean(M_%d) + b = %.5f, golden logit %.5f (|d| %.2g, bound %.2g)",
           m->stem, img, c, s, lv[c], d, tol);
out:
    tensor_free(&f);
    tensor_free(&l);
}

int main(void)
{
    const char *shared = tap_shared();
    char path[1024];
    FILE *probe;

    snprintf(path, sizeof path, "%s/models/googlenet-bvlc.onnx", shared);
    if (!(probe = fopen(path, "rb")))
        tap_skip_all("no shared models (../shared or $CAM_SHARED)");
    fclose(probe);

    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const struct model *m = &models[i];
        graph g;
        cam_head h;
        err_t e;
        graph_init(&g);
        snprintf(path, sizeof path, "%s/models/%s", shared, m->file);
        if (graph_load(path, &g, &e) < 0) {
            tap_ok(0, "%s: load: %s", m->stem, e.msg);
            graph_free(&g);
            continue;
        }
        if (graph_infer_shapes(&g, NULL, 0, NULL, &e) < 0) {
            tap_ok(0, "%s: shapes: %s", m->stem, e.msg);
            graph_free(&g);
            continue;
        }
        if (head_find(&g, NULL, NULL, &h, &e) < 0) {
            tap_ok(0, "%s: head_find: %s", m->stem, e.msg);
            graph_free(&g);
            continue;
        }
        int fi = graph_find_tensor(&g, h.feature);
        const gtensor *ft = fi >= 0 ? &g.tensors[fi] : NULL;
        tap_ok(!m->feature || same_tensor(&g, h.feature, m->feature), "%s: feature %s%s%s", m->stem,
               m->feature ? m->feature : "", m->feature ? " = " : "", h.feature);
        tap_ok(ft && ft->ndim == 4 && ft->dims[1] == m->K && ft->dims[2] == m->h && ft->dims[3] == m->w &&
               h.K == m->K, "%s: feature is %dx%dx%d", m->stem, m->K, m->h, m->w);
        tap_ok(h.nclasses == m->nclasses && h.identity == m->identity, "%s: %d classes, %s head", m->stem,
               h.nclasses, h.identity ? "identity" : "linear");
        tap_ok(same_tensor(&g, h.logits, m->logits), "%s: logits %s = %s", m->stem, m->logits, h.logits);
        tap_ok(!m->identity == (h.W != NULL) && (m->identity || h.b != NULL), "%s: W and b %s", m->stem,
               m->identity ? "absent" : "present");
        if (m->label0 || m->label_last)
            tap_ok(h.labels && (!m->label0 || strcmp(h.labels[0], m->label0) == 0) &&
                   (!m->label_last || strcmp(h.labels[h.nclasses - 1], m->label_last) == 0),
                   "%s: labels (first '%s')", m->stem, h.labels ? h.labels[0] : "(none)");

        /* head_find_rows: no W read, each row of it on demand, the same
         * bits (float Gemm, uint8 FULLY_CONNECTED / 1x1 Conv) */
        if (!m->identity) {
            cam_head r;
            float *row = malloc(sizeof *row * (size_t)h.K);
            int ok = head_find_rows(&g, NULL, NULL, &r, &e) == 0;
            int rok = ok && !r.W && row;
            for (int c = 0; rok && c < h.nclasses; c++)
                rok = head_weight_row(&g, &r, c, row) == 0 &&
                      !memcmp(row, h.W + (size_t)c * h.K, sizeof *row * (size_t)h.K);
            tap_ok(rok, "%s: head_find_rows, then %d rows read on demand equal W", m->stem, h.nclasses);
            /* 8-bit weights: every value of W is scale * (q - zero point) */
            const gtensor *wt = ok && r.w_tensor >= 0 ? &g.tensors[r.w_tensor] : NULL;
            if (wt && (wt->dtype == DT_U8 || wt->dtype == DT_I8) && wt->nq == 1) {
                int qok = 1;
                for (int c = 0; qok && c < h.nclasses; c++)
                    for (int k = 0; qok && k < h.K; k++) {
                        const uint8_t *q = (const uint8_t *)wt->data + c * r.w_sc + k * r.w_sk;
                        double x = wt->dtype == DT_U8 ? *q : (double)(int8_t)*q;
                        float want = (float)((double)wt->scale[0] * (x - wt->zero_point[0]));
                        qok = h.W[(size_t)c * h.K + k] == want * r.w_mul;
                    }
                tap_ok(qok, "%s: W is scale x (q - zero point) of '%s'", m->stem, wt->name);
            }
            if (ok)
                head_free(&r);
            free(row);
        }

        /* googlenet: W equals the Gemm initializer (transB = 1, 1000 x 1024). */
        if (strcmp(m->stem, "googlenet-bvlc") == 0) {
            int wi = graph_find_tensor(&g, "loss3/classifier/W");
            const gtensor *wt = wi >= 0 ? &g.tensors[wi] : NULL;
            int same = wt && wt->dtype == DT_F32 && wt->nbytes == (size_t)1000 * 1024 * 4 && h.W &&
                       memcmp(wt->data, h.W, wt->nbytes) == 0;
            tap_ok(same, "googlenet: W is the Gemm initializer loss3/classifier/W");
        }

        static const char *imgs[] = {"cat", "bird", "grace_hopper"};
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/golden/%s/%s", shared, m->stem, imgs[k]);
            check_invariant(m, &h, path, imgs[k]);
        }
        head_free(&h);
        graph_free(&g);
    }
    return tap_done();
}
