/* test_image_preprocess.c - the model input made from an image: parameters
 * from ONNX metadata, TFLite input quantisation and defaults, and the
 * values written (channel order, normalisation, CHW layout). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "preprocess.h"

static void set_meta(graph *g, const char **kv, int n)
{
    g->nmeta = n;
    g->meta = calloc((size_t)n, sizeof *g->meta);
    for (int i = 0; i < n; i++) {
        g->meta[i].key = (char *)kv[2 * i];
        g->meta[i].val = (char *)kv[2 * i + 1];
    }
}

int main(void)
{
    preprocess_params p;
    err_t e;
    float v[3];
    int64_t dims[4] = {1, 3, 5, 7};
    graph g;

    tap_ok(preprocess_parse3("1,2,3", v) == 0 && v[0] == 1 && v[1] == 2 && v[2] == 3, "parse 1,2,3");
    tap_ok(preprocess_parse3(" 104 117.5  123 ", v) == 0 && v[1] == 117.5f, "parse spaces");
    tap_ok(preprocess_parse3("1, 2, 3", v) == 0 && v[2] == 3, "parse comma and space");
    tap_ok(preprocess_parse3("1,2", v) < 0, "two numbers refused");
    tap_ok(preprocess_parse3("1,2,3,4", v) < 0, "four numbers refused");
    tap_ok(preprocess_parse3("1,x,3", v) < 0, "garbage refused");
    tap_ok(preprocess_parse3("1,nan,3", v) < 0, "nan refused");

    /* ONNX without metadata: torchvision */
    memset(&g, 0, sizeof g);
    g.format = GRAPH_ONNX;
    tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) == 0 && p.width == 7 && p.height == 5 && !p.bgr &&
           p.mode == PP_MEANSTD && p.mean[0] == 123.675f && p.std[2] == 57.375f,
           "ONNX without metadata: torchvision RGB mean/std, size from the shape");

    /* ONNX with BVLC metadata */
    {
        const char *kv[] = {"preprocess.channel_order", "BGR", "preprocess.mean", "104 117 123",
                            "preprocess.std", "1 1 1", "preprocess.resize", "squash"};
        set_meta(&g, kv, 4);
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) == 0 && p.bgr && p.mean[0] == 104 &&
               p.mean[2] == 123 && p.std[1] == 1, "ONNX metadata: BGR, mean 104 117 123, std 1");
        g.meta[0].val = "GBR";
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) < 0 && strstr(e.msg, "GBR"),
               "bad channel order refused: %s", e.msg);
        g.meta[0].val = "RGB";
        g.meta[2].val = "0 1 1";
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) < 0, "zero std refused: %s", e.msg);
        g.meta[2].val = "1 1 1";
        g.meta[3].val = "crop";
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) < 0, "resize other than squash refused: %s", e.msg);
        free(g.meta);
        g.meta = NULL;
        g.nmeta = 0;
    }
    {
        int64_t bad[4] = {1, 3, -1, 224};
        tap_ok(preprocess_from_graph(&g, 0, 4, bad, &p, &e) < 0 && strstr(e.msg, "-size"),
               "unknown input size: error naming -size (%s)", e.msg);
        int64_t grey[4] = {1, 1, 224, 224};
        tap_ok(preprocess_from_graph(&g, 0, 4, grey, &p, &e) < 0, "1-channel input refused");
    }

    /* TFLite: the input tensor's quantisation */
    {
        gtensor t[1];
        float scale = 0.0078125f;
        int32_t zp = 128;
        memset(t, 0, sizeof t);
        t[0].name = "input";
        t[0].nq = 1;
        t[0].scale = &scale;
        t[0].zero_point = &zp;
        g.format = GRAPH_TFLITE;
        g.tensors = t;
        g.ntensors = 1;
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) == 0 && p.mode == PP_QUANT && p.qscale == scale &&
               p.qzero == 128 && !p.bgr, "TFLite: RGB, x = scale * (v - zero_point)");

        /* The values: a 7x5 image already of the input size (no resize) */
        image im = {7, 5, malloc(7 * 5 * 3)};
        float *out = malloc(3 * 35 * sizeof *out);
        for (int i = 0; i < 35; i++) {
            im.rgb[3 * i] = (uint8_t)i;
            im.rgb[3 * i + 1] = 128;
            im.rgb[3 * i + 2] = 255;
        }
        int ok = preprocess_image(&im, &p, out, &e) == 0;
        tap_ok(ok && out[0] == -1.0f && out[34] == (34 - 128) / 128.0f && out[35] == 0 && out[70] == 127 / 128.0f,
               "TFLite values: CHW planes R, G, B on the input grid");
        t[0].nq = 0;
        tap_ok(preprocess_from_graph(&g, 0, 4, dims, &p, &e) == 0 && p.mode == PP_MEANSTD && p.mean[0] == 127.5f &&
               p.std[0] == 127.5f, "float TFLite input: mean 127.5 std 127.5");

        /* BGR order and mean/std division */
        preprocess_defaults(&p);
        p.width = 7;
        p.height = 5;
        p.bgr = 1;
        for (int c = 0; c < 3; c++) {
            p.mean[c] = 100;
            p.std[c] = 2;
        }
        ok = preprocess_image(&im, &p, out, &e) == 0;
        tap_ok(ok && out[0] == 77.5f && out[35] == 14 && out[70] == -50 && out[70 + 34] == -33,
               "BGR: blue plane first, (v - mean) / std");

        /* each plane with its own mean and std, in both orders, every
         * value as the defining expression computes it */
        for (int bgr = 0; bgr < 2; bgr++) {
            const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
            p.bgr = bgr;
            memcpy(p.mean, mean, sizeof mean);
            memcpy(p.std, std, sizeof std);
            for (int i = 0; i < 35; i++)
                im.rgb[3 * i + 1] = (uint8_t)(7 * i), im.rgb[3 * i + 2] = (uint8_t)(255 - 3 * i);
            int bad = preprocess_image(&im, &p, out, &e) != 0;
            for (int c = 0; c < 3 && !bad; c++)
                for (int i = 0; i < 35; i++)
                    if (out[c * 35 + i] != ((float)im.rgb[3 * i + (bgr ? 2 - c : c)] - mean[c]) / std[c])
                        bad = 1;
            tap_ok(!bad, "%s: plane c is (v - mean[c]) / std[c], exactly", bgr ? "BGR" : "RGB");
        }
        free(out);
        image_free(&im);
    }
    return tap_done();
}
