/* fuzz_tflite.c - libFuzzer harness for the TFLite loader.
 *
 *   make fuzz
 *   UBSAN_OPTIONS=halt_on_error=1 build/fuzz/fuzz_tflite CORPUS tests/fuzz/corpus/tflite
 *
 * (make fuzz builds with recoverable UBSan checks: halt_on_error makes
 * undefined behaviour stop the run like an ASan report.)
 *
 * Any input must give a graph or an error, never a crash, a leak or an
 * out-of-bounds read.  The seeds are the small models of
 * tests/unit/test_tflite_ops.c (CAM_TFLITE_SEEDS=DIR writes them). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    graph g;
    err_t e;
    graph_init(&g);
    if (tflite_load_buffer(data, size, &g, &e) == 0) {
        /* Touch what the engine will read. */
        volatile size_t sum = 0;
        for (int i = 0; i < g.ntensors; i++) {
            sum += strlen(g.tensors[i].name);
            if (g.tensors[i].nbytes)
                sum += ((const uint8_t *)g.tensors[i].data)[g.tensors[i].nbytes - 1];
        }
        for (int k = 0; k < g.nnodes; k++)
            sum += strlen(g.nodes[k].op) + strlen(g.nodes[k].name);
        (void)sum;
    } else if (e.msg[0] == '\0') {
        __builtin_trap();       /* an error must say what */
    }
    graph_free(&g);
    return 0;
}
