/* test_onnx_zerocopy.c - graph_load keeps initializers' raw_data in the
 * model file's mapping instead of copying them: the payloads point into
 * g->file and hold the same bytes onnx_load_buffer (which copies) gives,
 * also for the wire-format corner cases the scan that finds them must
 * follow (raw_data given twice, the graph field split in two, unknown
 * fields, typed data); graph_drop_tensor / graph_drop_file leave the data
 * readable; on the real GoogLeNet, loading leaves only metadata resident
 * and every constant equals the copied one.  The same for a TFLite model,
 * whose transposed conv weights are copies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../tap.h"
#include "graph.h"

/* ---------------------------------------------------------------- wire writer */

typedef struct {
    uint8_t *p;
    size_t   n, cap;
} wbuf;

static void w_bytes(wbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void w_varint(wbuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t k = 0;
    do {
        t[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[k] |= 0x80;
        k++;
    } while (v);
    w_bytes(b, t, k);
}

static void w_key(wbuf *b, unsigned fno, unsigned wt) { w_varint(b, (uint64_t)fno << 3 | wt); }

static void w_len(wbuf *b, unsigned fno, const void *d, size_t n)
{
    w_key(b, fno, 2);
    w_varint(b, n);
    w_bytes(b, d, n);
}

static void w_str(wbuf *b, unsigned fno, const char *s) { w_len(b, fno, s, strlen(s)); }

static void w_int(wbuf *b, unsigned fno, uint64_t v)
{
    w_key(b, fno, 0);
    w_varint(b, v);
}

static void w_msg(wbuf *b, unsigned fno, wbuf *sub)
{
    w_len(b, fno, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* TensorProto float 1-D [n]: name 8, data_type 2, dims 1, raw_data 9. */
static void tensor_f32(wbuf *t, const char *name, const float *v, size_t n)
{
    w_int(t, 1, n);
    w_int(t, 2, 1);
    w_str(t, 8, name);
    w_len(t, 9, v, n * sizeof *v);
}

/* ValueInfoProto name 1, type 2 { tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1 } } } } */
static void vinfo_f32(wbuf *g, unsigned fno, const char *name, int64_t d0)
{
    wbuf dim = { 0 }, shape = { 0 }, tt = { 0 }, ty = { 0 }, vi = { 0 };
    w_int(&dim, 1, (uint64_t)d0);
    w_msg(&shape, 1, &dim);
    w_int(&tt, 1, 1);
    w_msg(&tt, 2, &shape);
    w_msg(&ty, 1, &tt);
    w_str(&vi, 1, name);
    w_msg(&vi, 2, &ty);
    w_msg(g, fno, &vi);
}

static const float va[4] = { 1.5f, -2, 3, 4 };
static const float vb_old[4] = { 9, 9, 9, 9 };
static const float vb[4] = { -1, 0.25f, 8, 16 };
static const float vc[4] = { 7, 6, 5, 4 };

/* y = ((x + A) + B) + C with A, B, C initializers: A plain, B with its
 * raw_data given twice (the last counts), C as float_data (field 4,
 * packed).  split: the graph field comes in two parts (protobuf merges
 * them); junk: unknown fields at every level. */
static void build_model(wbuf *m, int split, int junk)
{
    wbuf g1 = { 0 }, g2 = { 0 }, t = { 0 }, nd = { 0 }, op = { 0 };
    w_int(m, 1, 8);                                     /* ir_version */
    if (junk)
        w_int(m, 99, 12345);
    w_int(&op, 2, 13);
    w_msg(m, 8, &op);                                   /* opset_import */

    tensor_f32(&t, "A", va, 4);
    if (junk)
        w_str(&t, 77, "unknown string field");
    w_msg(&g1, 5, &t);
    w_int(&t, 1, 4);
    w_int(&t, 2, 1);
    w_len(&t, 9, vb_old, sizeof vb_old);
    w_str(&t, 8, "B");
    w_len(&t, 9, vb, sizeof vb);
    w_msg(&g1, 5, &t);
    w_int(&t, 1, 4);
    w_int(&t, 2, 1);
    w_str(&t, 8, "C");
    w_len(&t, 4, vc, sizeof vc);                        /* packed float_data */
    wbuf *gc = split ? &g2 : &g1;
    w_msg(gc, 5, &t);
    if (junk)
        w_int(gc, 88, 1);

    const char *ins[3][2] = { { "x", "A" }, { "s1", "B" }, { "s2", "C" } };
    const char *outs[3] = { "s1", "s2", "y" };
    for (int i = 0; i < 3; i++) {
        w_str(&nd, 1, ins[i][0]);
        w_str(&nd, 1, ins[i][1]);
        w_str(&nd, 2, outs[i]);
        w_str(&nd, 4, "Add");
        w_msg(gc, 1, &nd);
    }
    vinfo_f32(&g1, 11, "x", 4);
    vinfo_f32(gc, 12, "y", 4);
    w_str(&g1, 2, "g");
    w_msg(m, 7, &g1);
    if (split)
        w_msg(m, 7, &g2);
}

static const float *tdata(const graph *g, const char *name, size_t *nbytes)
{
    int ti = graph_find_tensor(g, name);
    if (ti < 0)
        return NULL;
    *nbytes = g->tensors[ti].nbytes;
    return g->tensors[ti].data;
}

static int same_f32(const graph *g, const char *name, const float *want)
{
    size_t nb = 0;
    const float *d = tdata(g, name, &nb);
    return d && nb == 4 * sizeof(float) && memcmp(d, want, nb) == 0;
}

static int in_file(const graph *g, const void *p)
{
    const unsigned char *c = p;
    return g->file && c >= g->file && c < g->file + g->file_len;
}

static char tmpdir[] = "/tmp/cam-zerocopy-XXXXXX";

static void test_small(int split, int junk)
{
    const char *what = split ? (junk ? "split graph, unknown fields" : "split graph")
                             : (junk ? "unknown fields" : "plain");
    wbuf m = { 0 };
    build_model(&m, split, junk);
    char path[256];
    snprintf(path, sizeof path, "%s/m%d%d.onnx", tmpdir, split, junk);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(m.p, 1, m.n, f) != m.n || fclose(f) != 0)
        abort();

    graph g, c;
    err_t e;
    int rl = graph_load(path, &g, &e);
    tap_ok(rl == 0, "%s: graph_load (%s)", what, rl ? e.msg : "ok");
    int rb = onnx_load_buffer(m.p, m.n, NULL, &c, &e);
    tap_ok(rb == 0, "%s: onnx_load_buffer (%s)", what, rb ? e.msg : "ok");
    if (rl || rb) {
        free(m.p);
        return;
    }
    size_t nb;
    tap_ok(g.file && g.file_mapped && g.file_len == m.n, "%s: the graph keeps the mapped file", what);
    tap_ok(in_file(&g, tdata(&g, "A", &nb)) && in_file(&g, tdata(&g, "B", &nb)),
           "%s: raw_data payloads point into the file", what);
    tap_ok(!in_file(&g, tdata(&g, "C", &nb)), "%s: float_data is the graph's own block", what);
    tap_ok(same_f32(&g, "A", va) && same_f32(&g, "B", vb) && same_f32(&g, "C", vc),
           "%s: values (B: the last raw_data)", what);
    tap_ok(same_f32(&c, "A", va) && same_f32(&c, "B", vb) && same_f32(&c, "C", vc) &&
           !c.file && !in_file(&g, tdata(&c, "A", &nb)),
           "%s: onnx_load_buffer copies the same values", what);
    tap_ok(g.nnodes == 3 && g.ninputs == 1 && g.noutputs == 1 && c.nnodes == 3,
           "%s: nodes, input, output", what);
    for (int i = 0; i < g.ntensors; i++)
        graph_drop_tensor(&g, i);
    graph_drop_file(&g);
    tap_ok(same_f32(&g, "A", va) && same_f32(&g, "B", vb) && same_f32(&g, "C", vc),
           "%s: data still readable after graph_drop_tensor / graph_drop_file", what);
    graph_free(&g);
    graph_free(&c);
    tap_ok(g.file == NULL && g.ntensors == 0, "%s: graph_free releases the file", what);
    unlink(path);
    free(m.p);
}

/* A bad model loaded from a file must not free payloads it borrowed
 * (ASan would catch it): here an Add input names no tensor. */
static void test_failure(void)
{
    wbuf m = { 0 }, g = { 0 }, t = { 0 }, nd = { 0 };
    tensor_f32(&t, "A", va, 4);
    w_msg(&g, 5, &t);
    w_str(&nd, 1, "A");
    w_str(&nd, 1, "nowhere");
    w_str(&nd, 2, "y");
    w_str(&nd, 4, "Add");
    w_msg(&g, 1, &nd);
    w_msg(&m, 7, &g);
    char path[256];
    snprintf(path, sizeof path, "%s/bad.onnx", tmpdir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(m.p, 1, m.n, f) != m.n || fclose(f) != 0)
        abort();
    graph gr;
    err_t e;
    int rc = graph_load(path, &gr, &e);
    tap_ok(rc < 0 && strstr(e.msg, "nowhere") && strstr(e.msg, path),
           "a bad model with borrowed payloads fails cleanly: %s", rc < 0 ? e.msg : "loaded");
    unlink(path);
    free(m.p);
}

/* ---------------------------------------------------------------- GoogLeNet */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void test_googlenet(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/googlenet-bvlc.onnx", tap_shared());
    if (access(path, R_OK) != 0) {
        tap_skip("shared models not found (../shared or $CAM_SHARED)");
        return;
    }
    graph g, c;
    err_t e;
    long rss0 = status_kb("VmRSS");
    if (graph_load(path, &g, &e) < 0) {
        tap_ok(0, "googlenet: %s", e.msg);
        return;
    }
    long rss1 = status_kb("VmRSS");
    size_t total = 0, mapped = 0;
    for (int i = 0; i < g.ntensors; i++)
        if (g.tensors[i].data) {
            total += g.tensors[i].nbytes;
            if (in_file(&g, g.tensors[i].data))
                mapped += g.tensors[i].nbytes;
        }
    tap_ok(total > 20000000 && mapped == total, "googlenet: all %zu bytes of constants point into the file (%zu)",
           total, mapped);
    /* 28 MB of weights; only metadata may be resident after loading */
    if (rss0 > 0 && rss1 > 0)
        tap_ok(rss1 - rss0 < 8 * 1024, "googlenet: loading adds %ld KB to the resident set (under 8 MB)",
               rss1 - rss0);
    else
        tap_skip("no /proc/self/status");

    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(g.file_len);
    int ok = f && buf && fread(buf, 1, g.file_len, f) == g.file_len;
    if (f)
        fclose(f);
    if (!ok || onnx_load_buffer(buf, g.file_len, NULL, &c, &e) < 0) {
        tap_ok(0, "googlenet from memory: %s", ok ? e.msg : "cannot read");
        free(buf);
        graph_free(&g);
        return;
    }
    int same = c.ntensors == g.ntensors;
    for (int i = 0; same && i < g.ntensors; i++) {
        const gtensor *a = &g.tensors[i], *b = &c.tensors[i];
        same = strcmp(a->name, b->name) == 0 && a->nbytes == b->nbytes && !a->data == !b->data &&
               (!a->data || memcmp(a->data, b->data, a->nbytes) == 0);
    }
    tap_ok(same, "googlenet: the mapped graph equals the copied one, tensor for tensor");
    graph_drop_file(&g);
    long rss2 = status_kb("VmRSS");
    int same2 = 1;
    for (int i = 0; same2 && i < g.ntensors; i++)
        if (g.tensors[i].data)
            same2 = memcmp(g.tensors[i].data, c.tensors[i].data, g.tensors[i].nbytes) == 0;
    tap_ok(same2, "googlenet: the constants read back the same after graph_drop_file");
    tap_diag("googlenet: resident %ld KB before loading, %ld after, %ld after reading all and dropping",
             rss0, rss1, rss2);
    graph_free(&c);
    graph_free(&g);
    free(buf);
}

/* TFLite: buffers whose byte order is kept point into the file, the
 * transposed ones are copies; either way the graph equals the copied one. */
static void test_tflite(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2_1.0_224_quant.tflite", tap_shared());
    if (access(path, R_OK) != 0) {
        tap_skip("shared models not found (../shared or $CAM_SHARED)");
        return;
    }
    graph g, c;
    err_t e;
    if (graph_load(path, &g, &e) < 0) {
        tap_ok(0, "mobilenet tflite: %s", e.msg);
        return;
    }
    size_t total = 0, mapped = 0;
    for (int i = 0; i < g.ntensors; i++)
        if (g.tensors[i].data) {
            total += g.tensors[i].nbytes;
            if (in_file(&g, g.tensors[i].data))
                mapped += g.tensors[i].nbytes;
        }
    tap_ok(g.file && mapped > total / 2 && mapped < total,
           "mobilenet tflite: %zu of %zu bytes of constants point into the file, the rest are transposed copies",
           mapped, total);
    unsigned char *buf = malloc(g.file_len);
    memcpy(buf, g.file, g.file_len);
    if (tflite_load_buffer(buf, g.file_len, &c, &e) < 0) {
        tap_ok(0, "mobilenet tflite from memory: %s", e.msg);
    } else {
        int same = c.ntensors == g.ntensors && !c.file;
        for (int i = 0; same && i < g.ntensors; i++) {
            const gtensor *a = &g.tensors[i], *b = &c.tensors[i];
            same = strcmp(a->name, b->name) == 0 && a->nbytes == b->nbytes && !a->data == !b->data &&
                   (!a->data || memcmp(a->data, b->data, a->nbytes) == 0) &&
                   (!b->data || b->data < (void *)buf || b->data >= (void *)(buf + g.file_len));
        }
        tap_ok(same, "mobilenet tflite: the mapped graph equals the copied one, tensor for tensor");
        graph_free(&c);
    }
    free(buf);
    graph_free(&g);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        tap_skip_all("cannot make a temporary directory");
        return 0;
    }
    test_small(0, 0);
    test_small(1, 0);
    test_small(0, 1);
    test_small(1, 1);
    test_failure();
    test_googlenet();
    test_tflite();
    rmdir(tmpdir);
    return tap_done();
}
