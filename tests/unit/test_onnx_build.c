/* test_onnx_build.c - ONNX models built here with protobuf-c, loaded back:
 * every attribute and data encoding, external data, node sorting, and one
 * failing model per kind of bad input (the message must name the culprit). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <protobuf-c/protobuf-c.h>
#include "onnx.pb-c.h"
#include "../tap.h"
#include "graph.h"

/* ---------------------------------------------------------------- builder
 * Everything is allocated from a list freed at the end of each test. */

static void *pool[4096];
static int npool;

static void *A(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p || npool == (int)(sizeof pool / sizeof pool[0]))
        abort();
    pool[npool++] = p;
    return p;
}

static void pool_free(void)
{
    while (npool)
        free(pool[--npool]);
}

static char *S(const char *s)
{
    char *d = A(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static Onnx__TensorProto *tensor_raw(const char *name, int dt, int ndim, const int64_t *dims,
                                     const void *raw, size_t nraw)
{
    Onnx__TensorProto *t = A(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = S(name);
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = (size_t)ndim;
    t->dims = A(sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.len = nraw;
        t->raw_data.data = A(nraw);
        memcpy(t->raw_data.data, raw, nraw);
    }
    return t;
}

static Onnx__AttributeProto *attr(const char *name, int type)
{
    Onnx__AttributeProto *a = A(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = S(name);
    a->has_type = 1;
    a->type = type;
    return a;
}

static Onnx__NodeProto *node(const char *op, const char *name, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = A(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = S(op);
    n->name = S(name);
    /* ins/outs: comma-separated names; "-" for an empty (omitted) name */
    const char *lists[2] = { ins, outs };
    for (int w = 0; w < 2; w++) {
        size_t cnt = 0;
        char **arr = A(sizeof(char *) * 16);
        char *copy = S(lists[w]);
        for (char *tok = strtok(copy, ","); tok && cnt < 16; tok = strtok(NULL, ","))
            arr[cnt++] = strcmp(tok, "-") == 0 ? S("") : tok;
        if (w == 0) {
            n->n_input = cnt;
            n->input = arr;
        } else {
            n->n_output = cnt;
            n->output = arr;
        }
    }
    return n;
}

static void node_attrs(Onnx__NodeProto *n, int cnt, Onnx__AttributeProto **as)
{
    n->n_attribute = (size_t)cnt;
    n->attribute = A(sizeof *as * (size_t)cnt);
    memcpy(n->attribute, as, sizeof *as * (size_t)cnt);
}

/* A tensor value_info; dims < 0 are symbolic ("N"). */
static Onnx__ValueInfoProto *vinfo(const char *name, int elem, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = A(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = S(name);
    Onnx__TypeProto *tp = A(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = A(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    if (ndim >= 0) {
        Onnx__TensorShapeProto *sh = A(sizeof *sh);
        onnx__tensor_shape_proto__init(sh);
        sh->n_dim = (size_t)ndim;
        sh->dim = A(sizeof *sh->dim * (size_t)(ndim ? ndim : 1));
        for (int k = 0; k < ndim; k++) {
            Onnx__TensorShapeProto__Dimension *d = A(sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[k] >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[k];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = S("N");
            }
            sh->dim[k] = d;
        }
        tt->shape = sh;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

struct mb {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1];
    Onnx__NodeProto *nodes[16];
    Onnx__TensorProto *inits[16];
    Onnx__ValueInfoProto *ins[8], *outs[8], *vis[8];
    Onnx__StringStringEntryProto meta[4], *metap[4];
};

static struct mb *model_new(const char *domain, int opset)
{
    struct mb *b = A(sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->op);
    b->op.domain = S(domain);
    b->op.has_version = 1;
    b->op.version = opset;
    b->ops[0] = &b->op;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->ops;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->m.graph = &b->g;
    b->g.node = b->nodes;
    b->g.initializer = b->inits;
    b->g.input = b->ins;
    b->g.output = b->outs;
    b->g.value_info = b->vis;
    b->m.metadata_props = b->metap;
    return b;
}

static void add_meta(struct mb *b, const char *k, const char *v)
{
    Onnx__StringStringEntryProto *kv = &b->meta[b->m.n_metadata_props];
    onnx__string_string_entry_proto__init(kv);
    kv->key = S(k);
    kv->value = S(v);
    b->metap[b->m.n_metadata_props++] = kv;
}

static uint8_t *pack(struct mb *b, size_t *n)
{
    *n = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = A(*n);
    onnx__model_proto__pack(&b->m, buf);
    return buf;
}

/* Loads the model of b; returns the loader's status, graph in g. */
static int load(struct mb *b, const char *base_dir, graph *g, err_t *e)
{
    size_t n;
    uint8_t *buf = pack(b, &n);
    e->msg[0] = '\0';
    return onnx_load_buffer(buf, n, base_dir, g, e);
}

/* A small valid model: X[N,3] -> Gemm(W, C) -> Relu -> Y, with a Constant. */
static const float wdata[6] = { 1, 2, 3, 4, 5, 6 };

static struct mb *small_model(void)
{
    struct mb *b = model_new("ai.onnx", 11);
    int64_t xd[2] = { -1, 3 }, wd[2] = { 2, 3 }, yd[2] = { -1, 2 };
    b->ins[b->g.n_input++] = vinfo("X", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, xd);
    b->inits[b->g.n_initializer++] = tensor_raw("W", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, wd,
                                                wdata, sizeof wdata);
    /* an initializer also listed as an input (older exporters) */
    b->ins[b->g.n_input++] = vinfo("W", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, wd);

    Onnx__NodeProto *c = node("Constant", "const", "", "C");
    Onnx__AttributeProto *val = attr("value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    int64_t cd[1] = { 2 };
    val->t = tensor_raw("", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cd, NULL, 0);
    val->t->n_float_data = 2;
    val->t->float_data = A(2 * sizeof(float));
    val->t->float_data[0] = 0.5f;
    val->t->float_data[1] = -0.5f;
    node_attrs(c, 1, &val);
    c->n_input = 0;

    Onnx__NodeProto *gemm = node("Gemm", "fc", "X,W,C", "H");
    Onnx__AttributeProto *as[5];
    as[0] = attr("alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    as[0]->has_f = 1;
    as[0]->f = 0.25f;
    as[1] = attr("transB", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    as[1]->has_i = 1;
    as[1]->i = 1;
    as[2] = attr("note", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    as[2]->has_s = 1;
    as[2]->s.data = (uint8_t *)S("hello");
    as[2]->s.len = 5;
    as[3] = attr("list", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    as[3]->n_ints = 3;
    as[3]->ints = A(3 * sizeof(int64_t));
    as[3]->ints[0] = -1;
    as[3]->ints[1] = 0;
    as[3]->ints[2] = INT64_C(1) << 40;
    as[4] = attr("scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    as[4]->n_floats = 2;
    as[4]->floats = A(2 * sizeof(float));
    as[4]->floats[0] = 1.5f;
    as[4]->floats[1] = 2.5f;
    node_attrs(gemm, 5, as);

    b->nodes[b->g.n_node++] = c;
    b->nodes[b->g.n_node++] = gemm;
    b->nodes[b->g.n_node++] = node("Relu", "", "H", "Y");
    b->outs[b->g.n_output++] = vinfo("Y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, yd);
    int64_t hd[2] = { -1, 2 };
    b->vis[b->g.n_value_info++] = vinfo("H", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, hd);
    add_meta(b, "preprocess.channel_order", "RGB");
    add_meta(b, "labels", "a\nb");
    return b;
}

static void test_small(void)
{
    graph g;
    err_t e;
    struct mb *b = small_model();
    int rc = load(b, NULL, &g, &e);
    if (!tap_ok(rc == 0, "small model loads (%s)", e.msg))
        return;
    tap_ok(g.format == GRAPH_ONNX && g.opset == 11, "opset of domain ai.onnx is 11");
    tap_ok(g.nnodes == 3 && strcmp(g.nodes[1].op, "Gemm") == 0 && strcmp(g.nodes[2].name, "") == 0,
           "3 nodes, unnamed node has name \"\"");
    tap_ok(g.ninputs == 1 && strcmp(g.tensors[g.inputs[0]].name, "X") == 0,
           "graph inputs exclude initializers");
    const gtensor *x = &g.tensors[g.inputs[0]];
    tap_ok(x->ndim == 2 && x->dims[0] == 0 && x->dims[1] == 3 && x->dtype == DT_F32 && !x->data,
           "symbolic dim becomes 0");
    int w = graph_find_tensor(&g, "W");
    tap_ok(w >= 0 && g.tensors[w].data && g.tensors[w].nbytes == sizeof wdata &&
           memcmp(g.tensors[w].data, wdata, sizeof wdata) == 0, "raw_data initializer");
    const gnode *gemm = &g.nodes[1];
    tap_ok(gemm->nin == 3 && gemm->in[0] == g.inputs[0] && gemm->in[1] == w &&
           gemm->in[2] == graph_find_tensor(&g, "C"), "Gemm inputs resolve");
    tap_ok(gnode_attr_float(gemm, "alpha", 1) == 0.25f, "FLOAT attribute");
    tap_ok(gnode_attr_int(gemm, "transB", 0) == 1, "INT attribute");
    tap_ok(strcmp(gnode_attr_str(gemm, "note", "?"), "hello") == 0, "STRING attribute");
    const gattr *l = gnode_attr(gemm, "list");
    tap_ok(l && l->type == ATTR_INTS && l->n == 3 && l->ints[0] == -1 && l->ints[2] == INT64_C(1) << 40,
           "INTS attribute");
    const gattr *sc = gnode_attr(gemm, "scales");
    tap_ok(sc && sc->type == ATTR_FLOATS && sc->n == 2 && sc->floats[1] == 2.5f, "FLOATS attribute");
    tap_ok(gnode_attr_int(gemm, "alpha", 7) == 7 && strcmp(gnode_attr_str(gemm, "transB", "d"), "d") == 0,
           "typed lookups of the wrong type give the default");
    const gattr *v = gnode_attr(&g.nodes[0], "value");
    tap_ok(v && v->type == ATTR_TENSOR && v->tensor >= 0 && v->tensor < g.ntensors,
           "TENSOR attribute becomes a graph tensor");
    if (v && v->type == ATTR_TENSOR) {
        const gtensor *t = &g.tensors[v->tensor];
        tap_ok(t->data && t->dtype == DT_F32 && t->ndim == 1 && t->dims[0] == 2 &&
               ((float *)t->data)[1] == -0.5f, "attribute tensor from float_data");
        tap_ok(t->name && *t->name && graph_find_tensor(&g, t->name) == v->tensor,
               "attribute tensor has a unique name (%s)", t->name);
    }
    int h = graph_find_tensor(&g, "H");
    tap_ok(h >= 0 && g.tensors[h].ndim == 2 && g.tensors[h].dims[1] == 2 && !g.tensors[h].data,
           "value_info shape applied to an activation");
    tap_ok(graph_producer(&g, h) == 1 && graph_producer(&g, w) == -1 && graph_producer(&g, g.inputs[0]) == -1,
           "graph_producer");
    tap_ok(g.noutputs == 1 && g.outputs[0] == graph_find_tensor(&g, "Y") && g.nodes[2].out[0] == g.outputs[0],
           "graph output");
    tap_ok(g.nmeta == 2 && strcmp(graph_meta_get(&g, "labels"), "a\nb") == 0 &&
           graph_meta_get(&g, "nope") == NULL, "metadata");
    tap_ok(g.path == NULL && g.sha256[0] == '\0', "no path or hash from memory");
    graph_free(&g);
    pool_free();
}

static void test_sort(void)
{
    graph g;
    err_t e;
    /* Nodes stored backwards: C = Relu(B); B = Neg(A); A = Abs(X). */
    struct mb *b = model_new("", 13);
    int64_t d[1] = { 4 };
    b->ins[b->g.n_input++] = vinfo("X", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    b->nodes[b->g.n_node++] = node("Relu", "r", "B", "C");
    b->nodes[b->g.n_node++] = node("Neg", "n", "A", "B");
    b->nodes[b->g.n_node++] = node("Abs", "a", "X", "A");
    b->outs[b->g.n_output++] = vinfo("C", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    int rc = load(b, NULL, &g, &e);
    tap_ok(rc == 0 && g.nnodes == 3 && strcmp(g.nodes[0].name, "a") == 0 &&
           strcmp(g.nodes[1].name, "n") == 0 && strcmp(g.nodes[2].name, "r") == 0,
           "unsorted nodes are sorted (%s)", rc ? e.msg : "ok");
    tap_ok(rc == 0 && g.opset == 13, "opset of domain \"\"");
    if (rc == 0)
        graph_free(&g);
    pool_free();

    /* A cycle: A = Abs(C); B = Neg(A); C = Relu(B). */
    b = model_new("", 13);
    b->ins[b->g.n_input++] = vinfo("X", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    b->nodes[b->g.n_node++] = node("Abs", "a", "C", "A");
    b->nodes[b->g.n_node++] = node("Neg", "n", "A", "B");
    b->nodes[b->g.n_node++] = node("Relu", "r", "B", "C");
    b->outs[b->g.n_output++] = vinfo("C", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    rc = load(b, NULL, &g, &e);
    tap_ok(rc == -1 && strstr(e.msg, "cycle"), "a cycle is rejected: %s", e.msg);
    tap_ok(g.ntensors == 0 && g.nnodes == 0 && g.tensors == NULL, "failed load leaves an empty graph");
    pool_free();

    /* Optional inputs and outputs. */
    b = model_new("", 13);
    b->ins[b->g.n_input++] = vinfo("X", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    b->nodes[b->g.n_node++] = node("Clip", "clip", "X,-,-", "Y");
    b->nodes[b->g.n_node++] = node("Dropout", "drop", "Y", "Z,-");
    b->outs[b->g.n_output++] = vinfo("Z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    rc = load(b, NULL, &g, &e);
    tap_ok(rc == 0 && g.nodes[0].nin == 3 && g.nodes[0].in[1] == -1 && g.nodes[0].in[2] == -1,
           "omitted optional inputs are -1 (%s)", rc ? e.msg : "ok");
    tap_ok(rc == 0 && g.nodes[1].nout == 2 && g.nodes[1].out[1] >= 0 &&
           g.nodes[1].out[1] != g.nodes[1].out[0], "an omitted output still gets its own tensor");
    if (rc == 0)
        graph_free(&g);
    pool_free();
}

/* Typed data fields for every supported dtype. */
static void test_typed(void)
{
    static const struct {
        int onnx, dt;
        size_t esz;
    } cases[] = {
        { ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, DT_U8, 1 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__INT8, DT_I8, 1 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, DT_BOOL, 1 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, DT_U16, 2 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__INT16, DT_I16, 2 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, DT_F16, 2 },
        { ONNX__TENSOR_PROTO__DATA_TYPE__INT32, DT_I32, 4 },
    };
    int32_t vals[3] = { 1, -2, 3 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        graph g;
        err_t e;
        struct mb *b = model_new("", 13);
        int64_t d[1] = { 3 };
        Onnx__TensorProto *t = tensor_raw("K", cases[c].onnx, 1, d, NULL, 0);
        t->n_int32_data = 3;
        t->int32_data = A(sizeof vals);
        memcpy(t->int32_data, vals, sizeof vals);
        if (cases[c].dt == DT_BOOL)
            t->int32_data[1] = 0;
        if (cases[c].dt == DT_F16)
            t->int32_data[1] = 0xc000;          /* -2.0 in half precision */
        b->inits[b->g.n_initializer++] = t;
        b->nodes[b->g.n_node++] = node("Identity", "id", "K", "Y");
        b->outs[b->g.n_output++] = vinfo("Y", cases[c].onnx, 1, d);
        int rc = load(b, NULL, &g, &e);
        int ok = rc == 0;
        if (ok) {
            const gtensor *k = &g.tensors[graph_find_tensor(&g, "K")];
            ok = k->dtype == cases[c].dt && k->nbytes == 3 * cases[c].esz;
            const uint8_t *p = k->data;
            switch (cases[c].esz) {
            case 1: ok = ok && p[0] == 1 && p[1] == (cases[c].dt == DT_BOOL ? 0 : (uint8_t)-2) && p[2] == 3; break;
            case 2: {
                uint16_t v[3];
                memcpy(v, p, sizeof v);
                ok = ok && v[0] == 1 && v[1] == (cases[c].dt == DT_F16 ? 0xc000 : (uint16_t)-2) && v[2] == 3;
                break;
            }
            case 4: ok = ok && memcmp(p, vals, sizeof vals) == 0; break;
            }
            graph_free(&g);
        }
        tap_ok(ok, "int32_data carries %s (%s)", cases[c].dt == DT_F16 ? "f16" : "an integer type",
               rc ? e.msg : "ok");
        pool_free();
    }

    graph g;
    err_t e;
    struct mb *b = model_new("", 13);
    int64_t d[2] = { 2, 1 };
    Onnx__TensorProto *t64 = tensor_raw("L", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 2, d, NULL, 0);
    t64->n_int64_data = 2;
    t64->int64_data = A(2 * sizeof(int64_t));
    t64->int64_data[0] = -5;
    t64->int64_data[1] = INT64_MAX;
    Onnx__TensorProto *tdb = tensor_raw("D", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 2, d, NULL, 0);
    tdb->n_double_data = 2;
    tdb->double_data = A(2 * sizeof(double));
    tdb->double_data[1] = 0.125;
    Onnx__TensorProto *tsc = tensor_raw("S", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, d, NULL, 0);
    tsc->n_float_data = 1;
    tsc->float_data = A(sizeof(float));
    tsc->float_data[0] = 42;
    int64_t z[2] = { 0, 3 };
    Onnx__TensorProto *tempty = tensor_raw("E", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, z, NULL, 0);
    b->inits[b->g.n_initializer++] = t64;
    b->inits[b->g.n_initializer++] = tdb;
    b->inits[b->g.n_initializer++] = tsc;
    b->inits[b->g.n_initializer++] = tempty;
    b->nodes[b->g.n_node++] = node("Shape", "s", "L", "Y");
    b->outs[b->g.n_output++] = vinfo("Y", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d);
    int rc = load(b, NULL, &g, &e);
    if (tap_ok(rc == 0, "int64, double, scalar and empty initializers load (%s)", rc ? e.msg : "ok")) {
        const gtensor *l = &g.tensors[graph_find_tensor(&g, "L")];
        const gtensor *db = &g.tensors[graph_find_tensor(&g, "D")];
        const gtensor *sc = &g.tensors[graph_find_tensor(&g, "S")];
        const gtensor *em = &g.tensors[graph_find_tensor(&g, "E")];
        tap_ok(l->dtype == DT_I64 && ((int64_t *)l->data)[1] == INT64_MAX, "int64_data");
        tap_ok(db->dtype == DT_F64 && ((double *)db->data)[1] == 0.125, "double_data");
        tap_ok(sc->ndim == 0 && sc->nbytes == 4 && ((float *)sc->data)[0] == 42, "scalar (0-d) tensor");
        tap_ok(em->ndim == 2 && em->nbytes == 0 && em->data != NULL, "empty constant still has a data pointer");
        tap_ok(l->data && g.ntensors == 5, "tensor count");
        graph_free(&g);
    }
    pool_free();
}

/* Loads b and expects failure with every word of want in the message. */
static void expect_fail(struct mb *b, const char *base_dir, const char *want1, const char *want2,
                        const char *desc)
{
    graph g;
    err_t e;
    int rc = load(b, base_dir, &g, &e);
    tap_ok(rc == -1 && strstr(e.msg, want1) && (!want2 || strstr(e.msg, want2)) && g.nnodes == 0 &&
           g.tensors == NULL, "%s: %s", desc, e.msg);
    if (rc == 0)
        graph_free(&g);
    pool_free();
}

static void test_errors(void)
{
    struct mb *b;
    int64_t wd[2] = { 2, 3 };

    b = small_model();
    b->inits[0]->raw_data.len = sizeof wdata - 4;
    expect_fail(b, NULL, "'W'", "raw data", "raw data shorter than the shape");

    b = small_model();
    b->inits[0]->dims[1] = 4;
    expect_fail(b, NULL, "'W'", "24", "shape larger than the data");

    b = small_model();
    b->inits[0]->dims[1] = -3;
    expect_fail(b, NULL, "'W'", "negative", "negative dimension");

    b = small_model();
    b->inits[0]->dims[0] = INT64_C(1) << 40;
    expect_fail(b, NULL, "'W'", "too large", "huge dimension");

    b = small_model();
    b->inits[0]->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    expect_fail(b, NULL, "'W'", "string", "unsupported data type");

    b = small_model();
    b->inits[0]->has_raw_data = 0;
    expect_fail(b, NULL, "'W'", "float_data", "no data at all");

    b = small_model();
    b->nodes[1]->input[1] = S("nope");
    expect_fail(b, NULL, "'fc'", "'nope'", "input not defined");

    b = small_model();
    b->nodes[2]->output[0] = S("H");
    expect_fail(b, NULL, "'H'", "already defined", "tensor produced twice");

    b = small_model();
    b->nodes[0]->output[0] = S("W");
    expect_fail(b, NULL, "'W'", "already defined", "node output shadows an initializer");

    b = small_model();
    b->inits[b->g.n_initializer++] = tensor_raw("W", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, wd,
                                                wdata, sizeof wdata);
    expect_fail(b, NULL, "'W'", "twice", "duplicate initializer");

    b = small_model();
    b->outs[0]->name = S("missing");
    expect_fail(b, NULL, "'missing'", "output", "graph output not defined");

    b = small_model();
    b->ins[0]->type->tensor_type->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64;
    expect_fail(b, NULL, "'X'", "complex64", "graph input of an unsupported type");

    b = small_model();
    {
        Onnx__AttributeProto *ga = attr("then_branch", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
        Onnx__GraphProto *sub = A(sizeof *sub);
        onnx__graph_proto__init(sub);
        ga->g = sub;
        node_attrs(b->nodes[2], 1, &ga);
    }
    expect_fail(b, NULL, "then_branch", "GRAPH", "GRAPH attribute");

    b = small_model();
    b->nodes[1]->attribute[0]->has_type = 0;
    b->nodes[1]->attribute[0]->type = 0;
    expect_fail(b, NULL, "'fc'", "alpha", "attribute without a type");

    b = small_model();
    b->nodes[0]->attribute[0]->t->n_float_data = 1;
    expect_fail(b, NULL, "'const'", "float_data", "attribute tensor with too few values");

    b = small_model();
    b->nodes[1]->op_type = S("");
    expect_fail(b, NULL, "op_type", NULL, "node without op_type");

    b = small_model();
    b->m.graph = NULL;
    expect_fail(b, NULL, "no graph", NULL, "model without a graph");

    b = small_model();
    b->inits[0]->has_data_location = 1;
    b->inits[0]->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    expect_fail(b, NULL, "'W'", "external", "external data without a directory");

    graph g;
    err_t e;
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34 };
    tap_ok(onnx_load_buffer(junk, sizeof junk, NULL, &g, &e) == -1 && strstr(e.msg, "ONNX"),
           "garbage bytes: %s", e.msg);
    tap_ok(onnx_load_buffer("", 0, NULL, &g, &e) == -1 && strstr(e.msg, "no graph"), "empty buffer: %s", e.msg);
    uint8_t trunc[8];
    size_t n;
    b = small_model();
    uint8_t *buf = pack(b, &n);
    memcpy(trunc, buf, sizeof trunc);
    tap_ok(onnx_load_buffer(buf, n - 3, NULL, &g, &e) == -1, "truncated model: %s", e.msg);
    pool_free();
}

/* Protobuf wire helpers to craft hostile files by hand. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* Wraps buf[0..*n) as field fno (length-delimited), in place; buf has room. */
static void wrap(uint8_t *buf, size_t *n, unsigned fno)
{
    uint8_t hdr[16];
    size_t h = put_varint(hdr, (uint64_t)fno << 3 | 2);
    h += put_varint(hdr + h, *n);
    memmove(buf + h, buf, *n);
    memcpy(buf, hdr, h);
    *n += h;
}

static void test_hostile(void)
{
    graph g;
    err_t e;
    /* Model.graph -> Graph.input -> ValueInfo.type -> TypeProto.sequence_type
     * -> Sequence.elem_type -> TypeProto ... 20000 levels deep. */
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = calloc(1, cap);
    for (int lvl = 0; lvl < 20000; lvl++) {
        wrap(buf, &n, 1);
        wrap(buf, &n, 4);
    }
    wrap(buf, &n, 2);
    wrap(buf, &n, 11);
    wrap(buf, &n, 7);
    tap_ok(onnx_load_buffer(buf, n, NULL, &g, &e) == -1 && strstr(e.msg, "nested"),
           "deeply nested messages are refused before parsing: %s", e.msg);

    /* 3 million empty nodes: 6 MB of file that would unpack to several
     * hundred MB of NodeProto structs. */
    size_t nodes = 3000000;
    uint8_t *big = malloc(nodes * 2 + 16);
    for (size_t i = 0; i < nodes; i++) {
        big[2 * i] = 0x0a;                      /* GraphProto.node, length-delimited */
        big[2 * i + 1] = 0;
    }
    n = nodes * 2;
    wrap(big, &n, 7);
    tap_ok(onnx_load_buffer(big, n, NULL, &g, &e) == -1 && strstr(e.msg, "MiB"),
           "allocation is bounded: %s", e.msg);
    free(big);
    free(buf);
}

/* ---------------------------------------------------------------- external data */

static char tmpdir[256];

static int write_file(const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void set_external(Onnx__TensorProto *t, const char *loc, const char *off, const char *len)
{
    t->has_raw_data = 0;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = A(3 * sizeof *t->external_data);
    const char *kv[3][2] = { { "location", loc }, { "offset", off }, { "length", len } };
    for (int i = 0; i < 3; i++) {
        if (!kv[i][1])
            continue;
        Onnx__StringStringEntryProto *p = A(sizeof *p);
        onnx__string_string_entry_proto__init(p);
        p->key = S(kv[i][0]);
        p->value = S(kv[i][1]);
        t->external_data[t->n_external_data++] = p;
    }
}

static void test_external(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/onnxext.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s/w", tmpdir);
    mkdir(sub, 0700);
    /* weights.bin: 8 junk bytes, then W (24 bytes), then 4 more bytes */
    uint8_t bin[36];
    memset(bin, 0xee, sizeof bin);
    memcpy(bin + 8, wdata, sizeof wdata);
    write_file("w/weights.bin", bin, sizeof bin);
    write_file("exact.bin", wdata, sizeof wdata);

    struct mb *b = small_model();
    set_external(b->inits[0], "w/weights.bin", "8", "24");
    size_t n;
    uint8_t *buf = pack(b, &n);
    write_file("model.onnx", buf, n);
    char path[512];
    snprintf(path, sizeof path, "%s/model.onnx", tmpdir);
    graph g;
    err_t e;
    int rc = graph_load(path, &g, &e);
    if (tap_ok(rc == 0, "graph_load with external data at an offset (%s)", rc ? e.msg : "ok")) {
        int w = graph_find_tensor(&g, "W");
        tap_ok(w >= 0 && g.tensors[w].nbytes == sizeof wdata &&
               memcmp(g.tensors[w].data, wdata, sizeof wdata) == 0, "external payload read");
        char hex[65];
        sha256_hex(buf, n, hex);
        tap_ok(strcmp(g.sha256, hex) == 0 && strcmp(g.path, path) == 0, "sha256 and path of the model file");
        graph_free(&g);
    }
    /* A bare file name: external data is looked up in the current directory. */
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
        rc = graph_load("model.onnx", &g, &e);
        tap_ok(rc == 0 && memcmp(g.tensors[graph_find_tensor(&g, "W")].data, wdata, sizeof wdata) == 0,
               "graph_load(\"model.onnx\") finds its external data in . (%s)", rc ? e.msg : "ok");
        if (rc == 0)
            graph_free(&g);
        if (chdir(cwd) != 0)
            tap_diag("cannot return to %s", cwd);
    } else {
        tap_skip("cannot change directory");
    }
    pool_free();

    /* no offset, no length: the whole file */
    b = small_model();
    set_external(b->inits[0], "exact.bin", NULL, NULL);
    tap_ok(load(b, tmpdir, &g, &e) == 0 && memcmp(g.tensors[graph_find_tensor(&g, "W")].data, wdata, 24) == 0,
           "external data: whole file (%s)", e.msg);
    graph_free(&g);
    pool_free();

    b = small_model();
    set_external(b->inits[0], "w/weights.bin", "20", "24");
    expect_fail(b, tmpdir, "'W'", "past the end", "external data past the end of the file");
    b = small_model();
    set_external(b->inits[0], "w/weights.bin", "40", NULL);
    expect_fail(b, tmpdir, "'W'", "past the end", "external offset past the end");
    b = small_model();
    set_external(b->inits[0], "w/weights.bin", "0", "20");
    expect_fail(b, tmpdir, "'W'", "20 bytes", "external length differs from the shape");
    b = small_model();
    set_external(b->inits[0], "w/weights.bin", "-8", "24");
    expect_fail(b, tmpdir, "'W'", "offset", "negative offset");
    b = small_model();
    set_external(b->inits[0], "w/weights.bin", "8", "18446744073709551615");
    expect_fail(b, tmpdir, "'W'", "past the end", "huge length");
    b = small_model();
    set_external(b->inits[0], "../exact.bin", NULL, NULL);
    expect_fail(b, sub, "'W'", "..", "location with ..");
    b = small_model();
    set_external(b->inits[0], "w/../../exact.bin", NULL, NULL);
    expect_fail(b, sub, "'W'", "..", "location with .. inside");
    snprintf(path, sizeof path, "%s/exact.bin", tmpdir);
    b = small_model();
    set_external(b->inits[0], path, NULL, NULL);
    expect_fail(b, tmpdir, "'W'", "relative", "absolute location");
    b = small_model();
    set_external(b->inits[0], "missing.bin", NULL, NULL);
    expect_fail(b, tmpdir, "'W'", "missing.bin", "missing external file");
    b = small_model();
    set_external(b->inits[0], "w", NULL, NULL);
    expect_fail(b, tmpdir, "'W'", "regular", "external location is a directory");
    b = small_model();
    set_external(b->inits[0], NULL, "0", "24");
    expect_fail(b, tmpdir, "'W'", "location", "external data without location");

    static const char *files[] = { "w/weights.bin", "exact.bin", "model.onnx" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(tmpdir);
}

/* ---------------------------------------------------------------- TensorProto */

static void test_tensor_parse(void)
{
    int64_t d[3] = { 1, 2, 3 };
    Onnx__TensorProto *t = tensor_raw("input_0", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, d, wdata, sizeof wdata);
    size_t n = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = A(n);
    onnx__tensor_proto__pack(t, buf);
    tensor x;
    err_t e;
    int rc = onnx_tensor_parse(buf, n, &x, &e);
    tap_ok(rc == 0 && strcmp(x.name, "input_0") == 0 && x.dtype == DT_F32 && x.ndim == 3 &&
           x.dims[2] == 3 && x.nbytes == 24 && memcmp(x.data, wdata, 24) == 0,
           "onnx_tensor_parse: name, dtype, dims, data (%s)", rc ? e.msg : "ok");
    if (rc == 0) {
        free(x.name);
        free(x.data);
    }
    tap_ok(onnx_tensor_parse(buf, n - 1, &x, &e) == -1 && x.name == NULL, "truncated TensorProto: %s", e.msg);
    t->dims[0] = 2;
    n = onnx__tensor_proto__get_packed_size(t);
    onnx__tensor_proto__pack(t, buf);
    tap_ok(onnx_tensor_parse(buf, n, &x, &e) == -1 && strstr(e.msg, "input_0"),
           "TensorProto with a wrong size: %s", e.msg);
    pool_free();
}

static void test_sha(void)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    tap_ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
           "sha256_hex(\"abc\")");
    sha256_hex(NULL, 0, hex);
    tap_ok(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
           "sha256_hex of nothing");
}

int main(void)
{
    test_small();
    test_sort();
    test_typed();
    test_errors();
    test_hostile();
    test_external();
    test_tensor_parse();
    test_sha();
    return tap_done();
}
