/* fuzz_onnx_tensor.c - libFuzzer harness for onnx_tensor_parse (the
 * TensorProto files of the ONNX node tests).
 *   make fuzz && build/fuzz/fuzz_onnx_tensor tests/fuzz/corpus/onnx_tensor */
#include <stdint.h>
#include <stdlib.h>
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tensor t;
    err_t e;
    e.msg[0] = '\0';
    if (onnx_tensor_parse(data, size, &t, &e) < 0) {
        if (!e.msg[0] || t.name || t.data)
            abort();
        return 0;
    }
    size_t numel = 1;
    for (int k = 0; k < t.ndim; k++)
        numel *= (size_t)t.dims[k];
    if (!t.name || t.ndim > TENSOR_MAXDIM || (t.nbytes && !t.data) || (t.nbytes && t.nbytes % numel))
        abort();
    if (t.nbytes)
        ((volatile uint8_t *)t.data)[t.nbytes - 1] ^= 0;
    free(t.name);
    free(t.data);
    return 0;
}
