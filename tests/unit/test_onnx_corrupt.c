/* test_onnx_corrupt.c - damaged copies of the real models (truncated at
 * many offsets, bytes flipped at random) must load into a well-formed
 * graph or fail with a message, never crash or leak (run it under
 * `make SANITIZE=address,undefined check`). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "graph.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every index in range, every node input/output valid. */
static int wellformed(const graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        const gnode *n = &g->nodes[i];
        if (!n->op || !n->name || !n->domain)
            return 0;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] < -1 || n->in[k] >= g->ntensors)
                return 0;
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] < 0 || n->out[k] >= g->ntensors)
                return 0;
        for (int k = 0; k < n->nattr; k++)
            if (n->attr[k].type == ATTR_TENSOR &&
                (n->attr[k].tensor < 0 || n->attr[k].tensor >= g->ntensors))
                return 0;
    }
    for (int i = 0; i < g->ntensors; i++) {
        const gtensor *t = &g->tensors[i];
        if (!t->name || t->ndim > TENSOR_MAXDIM || t->ndim < -1)
            return 0;
    }
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] < 0 || g->inputs[i] >= g->ntensors)
            return 0;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] < 0 || g->outputs[i] >= g->ntensors)
            return 0;
    return 1;
}

/* Loads buf[0..n) and classifies: 1 loaded and well-formed, 0 refused
 * with a message, -1 anything else. */
static int try_load(const unsigned char *buf, size_t n)
{
    graph g;
    err_t e;
    e.msg[0] = '\0';
    if (onnx_load_buffer(buf, n, NULL, &g, &e) < 0)
        return e.msg[0] && g.ntensors == 0 && g.tensors == NULL ? 0 : -1;
    int ok = wellformed(&g);
    graph_free(&g);
    return ok ? 1 : -1;
}

static void damage(const char *file, int ntrunc, int nflip)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", tap_shared(), file);
    size_t n;
    unsigned char *orig = slurp(path, &n);
    if (!orig || n < 4096) {
        tap_ok(0, "%s: read", file);
        free(orig);
        return;
    }
    tap_ok(try_load(orig, n) == 1, "%s: intact copy loads", file);

    /* Truncations: densely in the first 4 KiB (model header, first nodes),
     * then spread over the whole file, and just before the end. */
    int bad = 0, refused = 0;
    for (int i = 0; i < ntrunc; i++) {
        size_t cut = i < ntrunc / 2 ? (size_t)i * 4096 / (size_t)(ntrunc / 2)
                                    : (size_t)(next() % n);
        if (i == ntrunc - 1)
            cut = n - 1;
        unsigned char *copy = malloc(cut ? cut : 1);   /* exact size: ASan sees overreads */
        memcpy(copy, orig, cut);
        int r = try_load(copy, cut);
        free(copy);
        bad += r < 0;
        refused += r == 0;
    }
    tap_ok(bad == 0, "%s: %d truncations: no crash, %d refused with a message, %d bad", file, ntrunc,
           refused, bad);

    /* Byte flips: 1..8 random bytes, mostly away from the big payloads
     * (first and last 64 KiB hold the graph structure). */
    bad = refused = 0;
    int loaded = 0;
    unsigned char *copy = malloc(n);
    for (int i = 0; i < nflip; i++) {
        memcpy(copy, orig, n);
        int nb = 1 + (int)(next() % 8);
        for (int k = 0; k < nb; k++) {
            uint64_t r = next();
            size_t pos;
            switch (r % 3) {
            case 0:  pos = (size_t)(next() % 65536); break;
            case 1:  pos = n - 1 - (size_t)(next() % 65536); break;
            default: pos = (size_t)(next() % n); break;
            }
            copy[pos] ^= (unsigned char)(1 + next() % 255);
        }
        int r = try_load(copy, n);
        bad += r < 0;
        refused += r == 0;
        loaded += r == 1;
    }
    free(copy);
    tap_ok(bad == 0, "%s: %d random byte flips: %d loaded, %d refused, %d bad", file, nflip, loaded,
           refused, bad);
    free(orig);
}

int main(void)
{
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/models/squeezenet1.1-bvlc.onnx", tap_shared());
    FILE *f = fopen(probe, "rb");
    if (!f)
        tap_skip_all("shared models not found (../shared or $CAM_SHARED)");
    fclose(f);
    damage("squeezenet1.1-bvlc.onnx", 120, 150);
    damage("random/mobilenet_v2_bn.onnx", 60, 60);
    return tap_done();
}
