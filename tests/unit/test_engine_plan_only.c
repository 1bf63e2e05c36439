/* test_engine_plan_only.c - engine_opts.plan_only (cnn-features -list):
 * the same tensors, shapes and order as a full plan, no weights packed,
 * and engine_run refuses to run.  Needs the shared models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"

static void check(const char *path)
{
    graph g;
    err_t e;
    if (graph_load(path, &g, &e) < 0) {
        tap_ok(0, "%s: %s", path, e.msg);
        return;
    }
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    engine *full = engine_create(&g, &o, &e);
    o.plan_only = 1;
    engine *list = engine_create(&g, &o, &e);
    tap_ok(full && list, "%s: both plans made", path);
    if (full && list) {
        int n = engine_ntensors(full), same = n == engine_ntensors(list);
        for (int i = 0; same && i < n; i++) {
            int64_t a[TENSOR_MAXDIM], b[TENSOR_MAXDIM];
            int na, nb;
            const char *x = engine_tensor_name(full, i, a, &na);
            const char *y = engine_tensor_name(list, i, b, &nb);
            same = !strcmp(x, y) && na == nb && !memcmp(a, b, sizeof(int64_t) * (size_t)(na > 0 ? na : 0));
        }
        tap_ok(same && n > 10, "%s: the same %d tensors, shapes and order", path, n);
        tap_ok(engine_weight_bytes(list) == 0 && engine_weight_bytes(full) > 1000000,
               "%s: no weights packed (%zu bytes in the full plan)", path, engine_weight_bytes(full));
        int64_t d[TENSOR_MAXDIM];
        int nd = engine_input_shape(list, d);
        size_t cnt = 1;
        for (int k = 0; k < nd; k++)
            cnt *= (size_t)d[k];
        float *in = calloc(cnt, sizeof *in);
        e.msg[0] = '\0';
        tap_ok(in && engine_run(list, in, &e) < 0 && strstr(e.msg, "listing only"),
               "%s: engine_run refuses: %s", path, e.msg);
        tap_ok(in && engine_run(full, in, &e) == 0, "%s: the full plan runs", path);
        free(in);
    }
    engine_free(full);
    engine_free(list);
    graph_free(&g);
}

int main(void)
{
    const char *sh = getenv("CAM_SHARED");
    char p[600];
    snprintf(p, sizeof p, "%s/models/squeezenet1.1-bvlc.onnx", sh && *sh ? sh : "../shared");
    FILE *f = fopen(p, "rb");
    if (!f)
        tap_skip_all("shared models not found (../shared or $CAM_SHARED)");
    fclose(f);
    check(p);
    snprintf(p, sizeof p, "%s/models/mobilenet_v2_1.0_224_quant.tflite", sh && *sh ? sh : "../shared");
    check(p);
    snprintf(p, sizeof p, "%s/models/random/resnet18_bn.onnx", sh && *sh ? sh : "../shared");
    check(p);
    return tap_done();
}
