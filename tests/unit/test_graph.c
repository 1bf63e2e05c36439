/* test_graph.c - graph.c: lookups on a hand-built graph (including the
 * TFLite "T<index>" aliases), freeing, and graph_load's handling of files:
 * format detection by content, pipes, empty files, directories. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../tap.h"
#include "graph.h"

static char *sdup(const char *s)
{
    return strcpy(malloc(strlen(s) + 1), s);
}

/* tensors a, T0, c; node 0: Relu(a) -> T0 (attrs: k=3, f=0.5, s="x");
 * node 1: Add(T0, -1) -> c. */
static void build(graph *g, int format)
{
    graph_init(g);
    g->format = format;
    g->ntensors = 3;
    g->tensors = calloc(3, sizeof *g->tensors);
    const char *names[3] = { "a", "T0", "c" };
    for (int i = 0; i < 3; i++) {
        g->tensors[i].name = sdup(names[i]);
        g->tensors[i].ndim = -1;
    }
    g->tensors[1].nq = 1;
    g->tensors[1].scale = malloc(sizeof(float));
    g->tensors[1].zero_point = malloc(sizeof(int32_t));
    g->nnodes = 2;
    g->nodes = calloc(2, sizeof *g->nodes);
    gnode *n = &g->nodes[0];
    n->name = sdup("r");
    n->op = sdup("Relu");
    n->domain = sdup("");
    n->nin = n->nout = 1;
    n->in = malloc(sizeof(int));
    n->out = malloc(sizeof(int));
    n->in[0] = 0;
    n->out[0] = 1;
    n->nattr = 4;
    n->attr = calloc(4, sizeof *n->attr);
    n->attr[0].name = sdup("k");
    n->attr[0].type = ATTR_INT;
    n->attr[0].i = 3;
    n->attr[1].name = sdup("f");
    n->attr[1].type = ATTR_FLOAT;
    n->attr[1].f = 0.5f;
    n->attr[2].name = sdup("s");
    n->attr[2].type = ATTR_STRING;
    n->attr[2].s = sdup("x");
    n->attr[3].name = sdup("v");
    n->attr[3].type = ATTR_INTS;
    n->attr[3].n = 2;
    n->attr[3].ints = calloc(2, sizeof(int64_t));
    n = &g->nodes[1];
    n->name = sdup("");
    n->op = sdup("Add");
    n->domain = sdup("");
    n->nin = 2;
    n->nout = 1;
    n->in = malloc(2 * sizeof(int));
    n->out = malloc(sizeof(int));
    n->in[0] = 1;
    n->in[1] = -1;
    n->out[0] = 2;
    g->ninputs = g->noutputs = 1;
    g->inputs = malloc(sizeof(int));
    g->outputs = malloc(sizeof(int));
    g->inputs[0] = 0;
    g->outputs[0] = 2;
    g->nmeta = 2;
    g->meta = calloc(2, sizeof *g->meta);
    g->meta[0].key = sdup("labels");
    g->meta[0].val = sdup("cat\ndog");
    g->meta[1].key = sdup("labels");
    g->meta[1].val = sdup("second");
    g->path = sdup("model");
}

static void test_lookups(void)
{
    graph g;
    build(&g, GRAPH_TFLITE);
    tap_ok(graph_find_tensor(&g, "a") == 0 && graph_find_tensor(&g, "c") == 2, "find by name");
    tap_ok(graph_find_tensor(&g, "T0") == 1, "a real name wins over the T<index> alias");
    tap_ok(graph_find_tensor(&g, "T1") == 1 && graph_find_tensor(&g, "T2") == 2, "TFLite: T<index> alias");
    tap_ok(graph_find_tensor(&g, "T3") == -1 && graph_find_tensor(&g, "T99999999999999999999") == -1,
           "T<index> out of range");
    tap_ok(graph_find_tensor(&g, "T") == -1 && graph_find_tensor(&g, "T01") == -1 &&
           graph_find_tensor(&g, "T-1") == -1 && graph_find_tensor(&g, "T2x") == -1 &&
           graph_find_tensor(&g, "t2") == -1 && graph_find_tensor(&g, "T 2") == -1,
           "malformed T<index> names are not aliases");
    tap_ok(graph_find_tensor(&g, NULL) == -1 && graph_find_tensor(NULL, "a") == -1, "NULL arguments");
    tap_ok(graph_producer(&g, 1) == 0 && graph_producer(&g, 2) == 1 && graph_producer(&g, 0) == -1 &&
           graph_producer(&g, 3) == -1 && graph_producer(&g, -1) == -1, "graph_producer");
    const gnode *n = &g.nodes[0];
    tap_ok(gnode_attr(n, "k") == &n->attr[0] && gnode_attr(n, "zz") == NULL && gnode_attr(n, NULL) == NULL,
           "gnode_attr");
    tap_ok(gnode_attr_int(n, "k", 9) == 3 && gnode_attr_int(n, "f", 9) == 9 && gnode_attr_int(n, "no", -4) == -4,
           "gnode_attr_int: value, wrong type, absent");
    tap_ok(gnode_attr_float(n, "f", 9) == 0.5f && gnode_attr_float(n, "k", 9) == 3.0f &&
           gnode_attr_float(n, "s", 9) == 9.0f, "gnode_attr_float: float, int promoted, wrong type");
    tap_ok(strcmp(gnode_attr_str(n, "s", "d"), "x") == 0 && strcmp(gnode_attr_str(n, "v", "d"), "d") == 0 &&
           gnode_attr_str(n, "none", NULL) == NULL, "gnode_attr_str");
    tap_ok(strcmp(graph_meta_get(&g, "labels"), "cat\ndog") == 0 && graph_meta_get(&g, "x") == NULL &&
           graph_meta_get(&g, NULL) == NULL, "graph_meta_get: first of duplicates, absent");
    graph_free(&g);
    graph g0;
    graph_init(&g0);
    tap_ok(memcmp(&g, &g0, sizeof g) == 0, "graph_free re-initialises");
    graph_free(&g);                            /* a second free is harmless */
    graph_free(NULL);

    build(&g, GRAPH_ONNX);
    tap_ok(graph_find_tensor(&g, "T2") == -1 && graph_find_tensor(&g, "T0") == 1,
           "ONNX graphs have no T<index> aliases");
    graph_free(&g);
}

static char dir[256];

static const char *tmp(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* The smallest useful ONNX model, hand-encoded:
 * opset_import { version: 13 } graph { node { input: "x" output: "y"
 * op_type: "Relu" } input { name: "x" type { tensor_type { elem_type: 1 } } }
 * output { name: "y" } } */
static const unsigned char model[] = {
    0x42, 0x02, 0x10, 0x0d,                                     /* opset_import */
    0x3a, 0x1e,                                                 /* graph */
    0x0a, 0x0c, 0x0a, 0x01, 'x', 0x12, 0x01, 'y', 0x22, 0x04, 'R', 'e', 'l', 'u',
    0x5a, 0x09, 0x0a, 0x01, 'x', 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01,
    0x62, 0x03, 0x0a, 0x01, 'y',
};

static void test_load(void)
{
    snprintf(dir, sizeof dir, "%s/graphtest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    graph g;
    err_t e;
    write_file(tmp("tiny.onnx"), model, sizeof model);
    int rc = graph_load(tmp("tiny.onnx"), &g, &e);
    tap_ok(rc == 0 && g.format == GRAPH_ONNX && g.opset == 13 && g.nnodes == 1 &&
           strcmp(g.nodes[0].op, "Relu") == 0 && g.ninputs == 1 && g.tensors[g.inputs[0]].dtype == DT_F32,
           "hand-encoded model loads (%s)", rc ? e.msg : "ok");
    char hex[65];
    sha256_hex(model, sizeof model, hex);
    tap_ok(rc == 0 && strcmp(g.sha256, hex) == 0 && strcmp(g.path, tmp("tiny.onnx")) == 0, "sha256 and path");
    if (rc == 0)
        graph_free(&g);

    /* The same bytes through a pipe (not mappable): read into memory. */
    const char *fifo = tmp("fifo");
    if (mkfifo(fifo, 0600) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(fifo, O_WRONLY);
            ssize_t w = write(fd, model, sizeof model);
            _exit(w == (ssize_t)sizeof model ? 0 : 1);
        }
        rc = graph_load(fifo, &g, &e);
        int st;
        waitpid(pid, &st, 0);
        tap_ok(rc == 0 && g.nnodes == 1 && strcmp(g.sha256, hex) == 0, "model read from a pipe (%s)",
               rc ? e.msg : "ok");
        if (rc == 0)
            graph_free(&g);
        unlink(fifo);
    } else {
        tap_skip("mkfifo failed");
    }

    /* Content decides, not the name: an ONNX model named .tflite loads as
     * ONNX; bytes with "TFL3" at offset 4 go to the TFLite loader. */
    write_file(tmp("model.tflite"), model, sizeof model);
    rc = graph_load(tmp("model.tflite"), &g, &e);
    tap_ok(rc == 0 && g.format == GRAPH_ONNX, "ONNX content named .tflite loads as ONNX");
    if (rc == 0)
        graph_free(&g);
    static const unsigned char fake_tfl[64] = { 0x1c, 0, 0, 0, 'T', 'F', 'L', '3', 0xff, 0xff };
    write_file(tmp("fake.onnx"), fake_tfl, sizeof fake_tfl);
    rc = graph_load(tmp("fake.onnx"), &g, &e);
    tap_ok(rc == -1 && !strstr(e.msg, "protobuf") && strstr(e.msg, "fake.onnx"),
           "TFL3 identifier goes to the TFLite loader: %s", e.msg);
    tap_ok(g.ntensors == 0 && g.path == NULL, "failed load leaves an empty graph");

    write_file(tmp("empty.onnx"), "", 0);
    tap_ok(graph_load(tmp("empty.onnx"), &g, &e) == -1 && strstr(e.msg, "empty"), "empty file: %s", e.msg);
    tap_ok(graph_load(dir, &g, &e) == -1 && strstr(e.msg, "directory"), "directory: %s", e.msg);
    tap_ok(graph_load(tmp("absent.onnx"), &g, &e) == -1 && strstr(e.msg, "absent.onnx") &&
           strstr(e.msg, "No such file"), "missing file: %s", e.msg);
    write_file(tmp("text.onnx"), "hello, world\n", 13);
    tap_ok(graph_load(tmp("text.onnx"), &g, &e) == -1 && strstr(e.msg, "text.onnx"),
           "not a model, message names the file: %s", e.msg);

    static const char *files[] = { "tiny.onnx", "model.tflite", "fake.onnx", "empty.onnx", "text.onnx" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(tmp(files[i]));
    rmdir(dir);
}

int main(void)
{
    test_lookups();
    test_load();
    return tap_done();
}
