/* fuzz_qengine.c - libFuzzer harness for the engine on hostile TFLite
 * models: quantisation parameters, integer weights and biases as the
 * integer kernels (qconv, the quantised Add) read them at planning.  A
 * model from the fuzzer's bytes is planned (or refused with a message)
 * and run once when its plan is small.
 *   make fuzz-quant [FUZZ_TIME=60]
 * Seeds: tests/fuzz/corpus/qengine (tests/unit/test_qengine.c writes its
 * model there with CAM_QENGINE_SEED=FILE) and the TFLite loader's seeds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    graph g;
    err_t e;
    graph_init(&g);
    if (tflite_load_buffer(data, size, &g, &e) < 0) {
        graph_free(&g);
        return 0;
    }
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    e.msg[0] = '\0';
    engine *en = engine_create(&g, &o, &e);
    if (!en) {
        if (!e.msg[0])
            abort();            /* a refusal must say why */
    } else {
        int64_t d[TENSOR_MAXDIM];
        int nd = engine_input_shape(en, d);
        size_t n = 1;
        for (int i = 0; i < nd; i++)
            n *= (size_t)(d[i] > 0 ? d[i] : 1);
        if (engine_arena_bytes(en) < (1u << 22) && n < (1u << 20)) {
            float *in = calloc(n + 1, sizeof(float));
            for (size_t i = 0; in && i < n; i++)
                in[i] = (float)((int)data[i % size] - 128) * 0.03125f;
            if (in && engine_run(en, in, &e) == 0)
                for (int i = 0; i < engine_noutputs(en); i++) {
                    int64_t od[TENSOR_MAXDIM];
                    int ond = engine_output_shape(en, i, od);
                    size_t on = 1;
                    for (int k = 0; k < ond; k++)
                        on *= (size_t)(od[k] > 0 ? od[k] : 1);
                    volatile float s = 0;
                    const float *y = engine_output(en, i);
                    for (size_t k = 0; y && k < on; k++)
                        s += y[k];
                }
            free(in);
        }
        engine_free(en);
    }
    graph_free(&g);
    return 0;
}
