/* fuzz_onnx.c - libFuzzer harness for the ONNX model loader.
 *   make fuzz && build/fuzz/fuzz_onnx tests/fuzz/corpus/onnx
 * Every input must load into a graph that can be walked and freed, or be
 * refused with a message, and the zero-copy loader must give the same
 * graph; ASan/UBSan catch the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    graph g;
    err_t e;
    e.msg[0] = '\0';
    if (onnx_load_buffer(data, size, NULL, &g, &e) < 0) {
        if (!e.msg[0] || g.tensors || g.nodes)
            abort();
        return 0;
    }
    /* Touch everything the engine would. */
    volatile size_t sink = 0;
    for (int i = 0; i < g.nnodes; i++) {
        const gnode *n = &g.nodes[i];
        sink += strlen(n->op) + strlen(n->name) + strlen(n->domain);
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] < -1 || n->in[k] >= g.ntensors)
                abort();
        for (int k = 0; k < n->nout; k++) {
            if (n->out[k] < 0 || n->out[k] >= g.ntensors)
                abort();
            if (graph_producer(&g, n->out[k]) > i)
                abort();
        }
        for (int k = 0; k < n->nattr; k++) {
            const gattr *a = &n->attr[k];
            sink += strlen(a->name);
            if (a->type == ATTR_STRING)
                sink += strlen(a->s);
            if (a->type == ATTR_INTS)
                for (int j = 0; j < a->n; j++)
                    sink += (size_t)a->ints[j];
            if (a->type == ATTR_FLOATS && a->n > 0)
                sink += (size_t)(a->floats[a->n - 1] != 0);
            if (a->type == ATTR_TENSOR && (a->tensor < 0 || a->tensor >= g.ntensors))
                abort();
        }
    }
    for (int i = 0; i < g.ntensors; i++) {
        const gtensor *t = &g.tensors[i];
        if (graph_find_tensor(&g, t->name) < 0 || t->ndim > TENSOR_MAXDIM)
            abort();
        if (t->data && t->nbytes)
            sink += ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    for (int i = 0; i < g.nmeta; i++)
        sink += strlen(g.meta[i].key) + strlen(g.meta[i].val);
    (void)sink;

    /* The zero-copy loader (graph_load's) must build the same graph, with
     * payloads inside the buffer it is given or of its own. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    graph b;
    if (onnx_load_borrowed(copy, size, NULL, &b, &e) < 0 || b.ntensors != g.ntensors ||
        b.nnodes != g.nnodes)
        abort();
    b.file = copy;              /* the graph owns the bytes, as after graph_load */
    b.file_len = size;
    b.file_mapped = 0;
    for (int i = 0; i < g.ntensors; i++) {
        const gtensor *x = &g.tensors[i], *y = &b.tensors[i];
        if (x->nbytes != y->nbytes || !x->data != !y->data ||
            (x->data && x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0))
            abort();
    }
    graph_free(&b);
    graph_free(&g);
    return 0;
}
