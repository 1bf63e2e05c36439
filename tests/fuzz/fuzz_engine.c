/* fuzz_engine.c - libFuzzer harness for the engine's planning on hostile
 * graphs: an ONNX model from the fuzzer's bytes goes through
 * graph_infer_shapes and engine_create, and is run once when its plan is
 * small.  Every graph must be planned or refused with a message.
 *   make fuzz && build/fuzz/fuzz_engine tests/fuzz/corpus/engine
 * The seeds are small ONNX node-test models (tests/fuzz/corpus/engine). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "graph.h"
#include "head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    graph g;
    err_t e;
    if (onnx_load_buffer(data, size, NULL, &g, &e) < 0)
        return 0;
    /* the engine takes one input: the others become small constants (as
     * in the conformance runner), values drawn from the input bytes */
    for (int k = 1; k < g.ninputs; k++) {
        gtensor *t = &g.tensors[g.inputs[k]];
        size_t n = 1;
        int ok = t->ndim >= 0 && !t->data && (t->dtype == DT_F32 || t->dtype == DT_I64);
        for (int i = 0; ok && i < t->ndim; i++) {
            if (t->dims[i] <= 0 || t->dims[i] > 4096)
                ok = 0;
            else
                n *= (size_t)t->dims[i];
        }
        if (!ok || n > 4096)
            continue;
        size_t es = t->dtype == DT_F32 ? 4 : 8;
        t->data = calloc(n, es);
        if (!t->data)
            continue;
        t->nbytes = n * es;
        for (size_t i = 0; i < n; i++) {
            int v = (int)data[(i * 7 + (size_t)k) % size] % 5 - 1;
            if (es == 4)
                ((float *)t->data)[i] = (float)v * 0.5f;
            else
                ((int64_t *)t->data)[i] = v;
        }
    }
    e.msg[0] = '\0';
    /* half the inputs: the shape inference kept for the engine */
    engine_shapes *sh = NULL;
    if (data[0] & 1) {
        if (!(sh = engine_infer_shapes(&g, 0, NULL, &e)) && !e.msg[0])
            abort();
    } else if (graph_infer_shapes(&g, NULL, 0, NULL, &e) < 0 && !e.msg[0])
        abort();
    {
        /* the CAM view of the graph: the head found without W, then rows
         * of it read on demand, and with W when it is small */
        cam_head h;
        if (head_find_rows(&g, NULL, NULL, &h, &e) == 0) {
            if (!h.identity && h.K > 0 && h.K <= (1 << 16)) {
                float *row = malloc(sizeof *row * (size_t)h.K);
                if (row && head_weight_row(&g, &h, h.nclasses - 1, row) == 0) {
                    volatile float s = row[h.K - 1];
                    (void)s;
                }
                free(row);
            }
            int64_t size = (int64_t)h.K * h.nclasses;
            head_free(&h);
            if (size <= (1 << 20) && head_find(&g, NULL, NULL, &h, &e) == 0)
                head_free(&h);
        }
    }
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    o.shapes = sh;
    e.msg[0] = '\0';
    engine *en = engine_create(&g, &o, &e);
    if (!en) {
        if (!e.msg[0])
            abort();
    } else {
        int64_t d[TENSOR_MAXDIM];
        int nd = engine_input_shape(en, d);
        size_t n = 1;
        for (int i = 0; i < nd; i++)
            n *= (size_t)d[i];
        if (engine_arena_bytes(en) < (1u << 22) && n < (1u << 20)) {
            float *in = calloc(n + 1, sizeof(float));
            if (in && engine_run(en, in, &e) == 0)
                for (int i = 0; i < engine_noutputs(en); i++) {
                    int64_t od[TENSOR_MAXDIM];
                    int ond = engine_output_shape(en, i, od);
                    size_t on = 1;
                    for (int k = 0; k < ond; k++)
                        on *= (size_t)od[k];
                    volatile float s = 0;
                    const float *y = engine_output(en, i);
                    for (size_t k = 0; k < on; k++)
                        s += y[k];
                }
            free(in);
        }
        engine_free(en);
    }
    graph_free(&g);
    return 0;
}
