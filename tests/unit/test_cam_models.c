/* test_cam_models.c - ranking, softmax, class names and model lookup of
 * models.c, without a real model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../tap.h"
#include "models.h"

int main(void)
{
    err_t e;
    float l[6] = { 1, 3, 3, NAN, 2, 3 };
    int idx[6];
    cam_topk(l, 6, 6, idx);
    tap_ok(idx[0] == 1 && idx[1] == 2 && idx[2] == 5 && idx[3] == 4 && idx[4] == 0 && idx[5] == 3,
           "top-k: ties keep the lower index first, NaN last (%d %d %d %d %d %d)",
           idx[0], idx[1], idx[2], idx[3], idx[4], idx[5]);
    cam_topk(l, 6, 2, idx);
    tap_ok(idx[0] == 1 && idx[1] == 2, "top-2");
    int big[3];
    float l3[3] = { -1, 5, 0 };
    cam_topk(l3, 3, 10, big);
    tap_ok(big[0] == 1 && big[1] == 2 && big[2] == 0, "k larger than n gives all, sorted");
    enum { N = 100000 };
    float *lots = malloc(sizeof *lots * N);
    int *ti = malloc(sizeof *ti * 5);
    for (int i = 0; i < N; i++)
        lots[i] = (float)((i * 7919) % N);
    cam_topk(lots, N, 5, ti);
    tap_ok(lots[ti[0]] == N - 1 && lots[ti[4]] == N - 5, "top-5 of 100000");
    free(lots);
    free(ti);

    double p[3];
    float sl[3] = { 1000, 1000, -1000 };
    cam_softmax(sl, 3, p);
    tap_ok(fabs(p[0] - 0.5) < 1e-15 && fabs(p[1] - 0.5) < 1e-15 && p[2] == 0, "softmax of large logits does not overflow");

    cam_classifier c;
    memset(&c, 0, sizeof c);
    char *labels[3] = { "n02123045 tabby, tabby cat", "n02124075 Egyptian cat", "background" };
    c.head.nclasses = 3;
    c.head.labels = labels;
    c.name = "test";
    tap_ok(cam_class_parse(&c, "2", &e) == 2, "class by index");
    tap_ok(cam_class_parse(&c, "3", &e) == -1 && strstr(e.msg, "out of range"), "index out of range: %s", e.msg);
    tap_ok(cam_class_parse(&c, "-1", &e) == -1, "negative index");
    tap_ok(cam_class_parse(&c, "Egyptian cat", &e) == 1, "label after the WordNet id");
    tap_ok(cam_class_parse(&c, "tabby", &e) == 0, "first name of a label");
    tap_ok(cam_class_parse(&c, "n02124075 Egyptian cat", &e) == 1, "whole label");
    tap_ok(cam_class_parse(&c, "background", &e) == 2, "label without an id");
    tap_ok(cam_class_parse(&c, "dog", &e) == -1, "unknown label");
    tap_ok(strcmp(cam_classifier_label(&c, 1), labels[1]) == 0, "label of a class");
    c.head.labels = NULL;
    tap_ok(strcmp(cam_classifier_label(&c, 1), "-") == 0, "no labels: '-'");

    /* model lookup: as given, then $CAM_MODELS/<basename> */
    char dir[] = "/tmp/cammodels.XXXXXX";
    if (!mkdtemp(dir))
        return tap_ok(0, "mkdtemp"), tap_done();
    char path[256];
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    FILE *f = fopen(path, "w");
    fputs("x", f);
    fclose(f);
    char *got = model_locate(path, &e);
    tap_ok(got && strcmp(got, path) == 0, "model found as given");
    free(got);
    setenv("CAM_MODELS", dir, 1);
    got = model_locate("/elsewhere/m.onnx", &e);
    tap_ok(got && strcmp(got, path) == 0, "model found in $CAM_MODELS by its basename");
    free(got);
    got = model_locate("/elsewhere/none.onnx", &e);
    tap_ok(!got && strstr(e.msg, "none.onnx") && strstr(e.msg, dir), "not found names where it looked: %s", e.msg);
    graph g;
    graph_init(&g);
    tap_ok(model_load(path, "00", &g, &e) == -1, "a file that is not a model fails to load");
    unlink(path);
    rmdir(dir);
    return tap_done();
}
