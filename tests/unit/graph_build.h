/* graph_build.h - small graphs built in C for the engine's unit tests:
 * tensors (T, TF for float), nodes (N, N1 for one output), attributes
 * (A_*) and the graph's input and output (io).  Header-only, static. */
#ifndef CAM_TEST_GRAPH_BUILD_H
#define CAM_TEST_GRAPH_BUILD_H
#include <stdlib.h>
#include <string.h>
#include "graph.h"

/* A tensor of type dtype (data: its values, or NULL for an activation). */
__attribute__((unused))
static int T(graph *g, const char *name, int dtype, int ndim, const int64_t *dims, const void *data)
{
    g->tensors = realloc(g->tensors, sizeof *g->tensors * (size_t)(g->ntensors + 1));
    gtensor *t = &g->tensors[g->ntensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        n *= (size_t)(dims[i] > 0 ? dims[i] : 1);
    }
    if (data) {
        t->nbytes = n * dtype_size(dtype);
        t->data = malloc(t->nbytes);
        memcpy(t->data, data, t->nbytes);
    }
    return g->ntensors++;
}

__attribute__((unused))
static int TF(graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
    return T(g, name, DT_F32, ndim, dims, data);
}

/* A node; returns its index. */
__attribute__((unused))
static int N(graph *g, const char *op, const char *name, int nin, const int *in, int nout, const int *out)
{
    g->nodes = realloc(g->nodes, sizeof *g->nodes * (size_t)(g->nnodes + 1));
    gnode *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    n->op = strdup(op);
    n->name = strdup(name);
    n->domain = strdup("");
    n->nin = nin;
    n->nout = nout;
    n->in = malloc(sizeof(int) * (size_t)(nin + 1));
    n->out = malloc(sizeof(int) * (size_t)(nout + 1));
    memcpy(n->in, in, sizeof(int) * (size_t)nin);
    memcpy(n->out, out, sizeof(int) * (size_t)nout);
    return g->nnodes++;
}

__attribute__((unused))
static int N1(graph *g, const char *op, const char *name, int nin, const int *in, int out)
{
    return N(g, op, name, nin, in, 1, &out);
}

__attribute__((unused))
static gattr *A(graph *g, int ni, const char *name, int type)
{
    gnode *n = &g->nodes[ni];
    n->attr = realloc(n->attr, sizeof *n->attr * (size_t)(n->nattr + 1));
    gattr *a = &n->attr[n->nattr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = type;
    return a;
}

__attribute__((unused))
static void A_int(graph *g, int ni, const char *name, int64_t v) { A(g, ni, name, ATTR_INT)->i = v; }
__attribute__((unused))
static void A_float(graph *g, int ni, const char *name, float v) { A(g, ni, name, ATTR_FLOAT)->f = v; }
__attribute__((unused))
static void A_str(graph *g, int ni, const char *name, const char *v) { A(g, ni, name, ATTR_STRING)->s = strdup(v); }
__attribute__((unused))
static void A_ints(graph *g, int ni, const char *name, int n, const int64_t *v)
{
    gattr *a = A(g, ni, name, ATTR_INTS);
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)n);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

/* The graph's one input and one output. */
__attribute__((unused))
static void io(graph *g, int in, int out)
{
    g->ninputs = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = in;
    g->noutputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = out;
}

#endif
