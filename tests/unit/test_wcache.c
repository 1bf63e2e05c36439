/* test_wcache.c - the packed-weight cache: the file format (round trip,
 * every kind of damage refused), and engines that pack, write the file,
 * then take their weights from it, giving bit-identical outputs for every
 * kind of convolution kernel; a file out of step or damaged is replaced by
 * packing again; CAM_NO_CACHE turns it off.  The shared models too when
 * ../shared is there. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "graph_build.h"
#include "kernels.h"
#include "kern_q.h"
#include "wcache.h"

/* ------------------------------------------------------------ format */

static void test_format(void)
{
    char kt[] = "cam packed weights 2\nbuild 0123\nmodel abc\n", ot[] = "cam packed weights 2\nbuild 0123\nmodel abd\n";
    wcache_key key0 = {kt, sizeof kt - 1}, other0 = {ot, sizeof ot - 1};
    const wcache_key *key = &key0, *other = &other0;
    static unsigned char a[100], b[5000], c[64];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (unsigned char)(i * 3);
    for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 5 + 1);
    for (size_t i = 0; i < sizeof c; i++) c[i] = (unsigned char)(255 - i);
    kmem_piece p0[2] = {{a, sizeof a}, {c, 0}}, p2[1] = {{b, sizeof b}}, px[1] = {{c, sizeof c}};
    wcache_node nodes[3];
    memset(nodes, 0, sizeof nodes);
    nodes[0].node = 3;
    nodes[0].cached = 1;
    nodes[0].log.v = p0;
    nodes[0].log.n = 2;
    nodes[1].node = 5;              /* not cached: its pieces are not written */
    nodes[1].log.v = px;
    nodes[1].log.n = 1;
    nodes[2].node = 7;
    nodes[2].cached = 1;
    nodes[2].log.v = p2;
    nodes[2].log.n = 1;

    void *img = NULL;
    size_t len = 0;
    err_t e;
    wcache w;
    int r0;
    r0 = wcache_build(key, nodes, 3, &img, &len, &e);
    tap_ok(r0 == 0, "format: image built (%zu bytes)", len);
    int r = wcache_parse(img, len, key, &w, &e);
    tap_ok(r == 0, "format: parses (%s)", r ? e.msg : "");
    if (r == 0) {
        int same = w.nnodes == 3 && w.nodes[0].node == 3 && w.nodes[0].cached && w.nodes[0].log.n == 2 &&
                   w.nodes[1].node == 5 && !w.nodes[1].cached && w.nodes[1].log.n == 0 &&
                   w.nodes[2].node == 7 && w.nodes[2].log.n == 1;
        same = same && w.nodes[0].log.v[0].n == sizeof a && !memcmp(w.nodes[0].log.v[0].p, a, sizeof a) &&
               w.nodes[0].log.v[1].n == 0 && w.nodes[2].log.v[0].n == sizeof b &&
               !memcmp(w.nodes[2].log.v[0].p, b, sizeof b);
        int aligned = 1;
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < w.nodes[i].log.n; k++)
                aligned &= ((uintptr_t)w.nodes[i].log.v[k].p - (uintptr_t)img) % KMEM_ALIGN == 0;
        tap_ok(same, "format: nodes, flags and pieces come back");
        tap_ok(aligned, "format: pieces at %d-byte aligned offsets", KMEM_ALIGN);
        wcache_clear(&w);
    }
    tap_ok(wcache_parse(img, len, other, &w, &e) < 0 && strstr(e.msg, "another"),
           "format: another key is refused (%s)", e.msg);

    /* every truncation refused */
    int trunc_ok = 1;
    for (size_t n = 0; n < len; n += n < 200 ? 1 : 97)
        if (wcache_parse(img, n, key, &w, &e) == 0) {
            trunc_ok = 0;
            wcache_clear(&w);
        }
    tap_ok(trunc_ok, "format: every truncation refused");

    /* each header and table byte changed: refused, or pieces still inside */
    unsigned char *m = malloc(len);
    int inside = 1, refused = 0, tried = 0;
    size_t t0 = 48 + (key->len + 7) / 8 * 8;     /* the node table */
    for (size_t off = 0; off < t0 + 3 * 24 + 3 * 16; off++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(m, img, len);
            m[off] ^= (unsigned char)(1u << bit);
            tried++;
            if (wcache_parse(m, len, key, &w, &e) < 0) {
                refused++;
                continue;
            }
            for (int i = 0; i < w.nnodes; i++)
                for (int k = 0; k < w.nodes[i].log.n; k++) {
                    const unsigned char *p = w.nodes[i].log.v[k].p;
                    if (p < m || p > m + len || w.nodes[i].log.v[k].n > (size_t)(m + len - p))
                        inside = 0;
                }
            wcache_clear(&w);
        }
    }
    tap_ok(inside && refused > tried / 2, "format: %d of %d damaged headers refused, the rest stay inside",
           refused, tried);
    /* specific damage */
    struct {
        size_t off;
        unsigned char v;
        const char *what, *msg;
    } dmg[] = {
        {0, 'X', "magic", "not a packed"},
        {8, 9, "version", "version"},
        {32, 1, "size in the header", "bytes"},
        {40, 3, "key length", "another"},
        {50, 'x', "key", "another"},
        {0, 0, "cached flag", "bad record"},
        {0, 0, "first piece", "bad record"},
    };
    dmg[5].off = t0 + 4;
    dmg[5].v = 2;
    dmg[6].off = t0 + 8;
    dmg[6].v = 1;
    for (size_t i = 0; i < sizeof dmg / sizeof *dmg; i++) {
        memcpy(m, img, len);
        m[dmg[i].off] = dmg[i].v;
        tap_ok(wcache_parse(m, len, key, &w, &e) < 0 && strstr(e.msg, dmg[i].msg),
               "format: bad %s refused (%s)", dmg[i].what, e.msg);
    }
    /* a piece offset moved off its alignment, and past the end */
    {
        size_t po = t0 + 3 * 24;    /* first piece record */
        uint64_t off;
        memcpy(m, img, len);
        memcpy(&off, m + po, 8);
        off += 4;
        memcpy(m + po, &off, 8);
        tap_ok(wcache_parse(m, len, key, &w, &e) < 0 && strstr(e.msg, "out of the file"),
               "format: misaligned piece refused (%s)", e.msg);
        memcpy(m, img, len);
        uint64_t big = (uint64_t)len;
        memcpy(m + po + 8, &big, 8);
        tap_ok(wcache_parse(m, len, key, &w, &e) < 0 && strstr(e.msg, "out of the file"),
               "format: piece past the end refused (%s)", e.msg);
    }
    free(m);
    free(img);

    char name[24], name2[24];
    wcache_name(key, name);
    wcache_name(other, name2);
    tap_ok(strncmp(name, "packed-", 7) == 0 && strlen(name) == 23 && strcmp(name, name2) != 0,
           "format: file names %s, %s", name, name2);
}

/* ------------------------------------------------------------ engines */

static unsigned seed = 12345;
static float frand(void)
{
    seed = seed * 1103515245u + 12345u;
    return (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* x -> conv(k, stride, cout, group) -> y; returns y */
static int conv(graph *g, int x, int cin, int cout, int k, int stride, int group, int h)
{
    static int cnt;
    char nm[32];
    int64_t wd[4] = {cout, cin / group, k, k}, bd[1] = {cout};
    size_t wn = (size_t)cout * (size_t)(cin / group) * (size_t)(k * k);
    float *w = malloc(wn * sizeof *w), *b = malloc((size_t)cout * sizeof *b);
    for (size_t i = 0; i < wn; i++)
        w[i] = frand() * 0.5f;
    for (int i = 0; i < cout; i++)
        b[i] = frand();
    snprintf(nm, sizeof nm, "w%d", cnt);
    int tw = TF(g, nm, 4, wd, w);
    snprintf(nm, sizeof nm, "b%d", cnt);
    int tb = TF(g, nm, 1, bd, b);
    int oh = (h + 2 * (k / 2) - k) / stride + 1;
    int64_t yd[4] = {1, cout, oh, oh};
    snprintf(nm, sizeof nm, "y%d", cnt);
    int ty = TF(g, nm, 4, yd, NULL);
    int in[3] = {x, tw, tb};
    snprintf(nm, sizeof nm, "conv%d", cnt++);
    int ni = N1(g, "Conv", nm, 3, in, ty);
    int64_t pads[4] = {k / 2, k / 2, k / 2, k / 2}, st[2] = {stride, stride};
    A_ints(g, ni, "pads", 4, pads);
    A_ints(g, ni, "strides", 2, st);
    A_int(g, ni, "group", group);
    free(w);
    free(b);
    return ty;
}

/* every kind of convolution kernel: direct (cin 3), Winograd 3x3 kept
 * (28x28), Winograd 5x5, depthwise, GEMM stride 2 (planes), Winograd 3x3
 * transformed per run (14x14), 1x1 GEMM, "pixels" (7x7, K >= 1024), and a
 * BatchNormalization folded into a convolution */
static void build(graph *g)
{
    graph_init(g);
    int64_t xd[4] = {1, 3, 28, 28};
    int x = TF(g, "x", 4, xd, NULL);
    int y = conv(g, x, 3, 16, 3, 1, 1, 28);
    y = conv(g, y, 16, 16, 3, 1, 1, 28);
    y = conv(g, y, 16, 16, 5, 1, 1, 28);
    y = conv(g, y, 16, 16, 3, 1, 16, 28);
    y = conv(g, y, 16, 32, 3, 2, 1, 28);
    y = conv(g, y, 32, 32, 3, 1, 1, 14);
    y = conv(g, y, 32, 128, 1, 1, 1, 14);
    y = conv(g, y, 128, 128, 3, 2, 1, 14);
    y = conv(g, y, 128, 64, 3, 1, 1, 7);
    /* BatchNormalization after it, folded */
    float sc[64], bi[64], mu[64], va[64];
    for (int i = 0; i < 64; i++) {
        sc[i] = 1 + frand();
        bi[i] = frand();
        mu[i] = frand();
        va[i] = 1 + frand();
    }
    int64_t cd[1] = {64}, od[4] = {1, 64, 7, 7};
    int bin[5] = {y, TF(g, "sc", 1, cd, sc), TF(g, "bi", 1, cd, bi), TF(g, "mu", 1, cd, mu),
                  TF(g, "va", 1, cd, va)};
    int out = TF(g, "out", 4, od, NULL);
    N1(g, "BatchNormalization", "bn", 5, bin, out);
    io(g, x, out);
    g->opset = 13;
    /* what graph_load gives a model file: the key's first part */
    strcpy(g->sha256, "5eed000000000000000000000000000000000000000000000000000000000001");
}

static int count_packed(const char *dir, char *name, size_t cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "packed-", 7) == 0) {
            n++;
            if (name)
                snprintf(name, cap, "%s/%s", dir, de->d_name);
        }
    if (d)
        closedir(d);
    return n;
}

/* Changes one u64 of a cache file (wcache.h's layout): the first piece's
 * size (piece 1) or the first node's fingerprint (piece 0), to (v + add)
 * ^ x. */
static void patch_u64(const char *file, int piece, uint64_t add, uint64_t x)
{
    int fd = open(file, O_RDWR);
    uint32_t nn = 0;
    uint64_t kl = 0, v = 0;
    pread(fd, &nn, 4, 12);
    pread(fd, &kl, 8, 40);
    off_t t0 = 48 + (off_t)((kl + 7) / 8 * 8);
    off_t off = piece ? t0 + (off_t)nn * 24 + 8 : t0 + 16;
    pread(fd, &v, 8, off);
    v = (v + add) ^ x;
    pwrite(fd, &v, 8, off);
    close(fd);
}

/* removes the packed-weight files of dir */
static void clear_packed(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4200];
    while (d && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "packed-", 7) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
}

/* one run of g on x: a copy of output 0 (n floats), whether the weights
 * came from the cache */
static float *run(const graph *g, const char **outs, int nout, const float *x, size_t *n, int threads,
                  int *cached)
{
    engine_opts o;
    err_t e;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.outputs = outs;
    o.noutputs = nout;
    engine *en = engine_create(g, &o, &e);
    if (!en) {
        tap_diag("engine: %s", e.msg);
        return NULL;
    }
    float *y = NULL;
    if (engine_run(en, x, &e) == 0) {
        int64_t d[TENSOR_MAXDIM];
        int nd = engine_output_shape(en, 0, d);
        size_t cnt = 1;
        for (int i = 0; i < nd; i++)
            cnt *= (size_t)d[i];
        y = malloc(cnt * sizeof *y);
        memcpy(y, engine_output(en, 0), cnt * sizeof *y);
        *n = cnt;
    } else
        tap_diag("run: %s", e.msg);
    *cached = engine_weights_cached(en);
    engine_free(en);
    return y;
}

/* A first run with engine_opts.lazy_pack on g: 1 when the engine left
 * layers reading the model (with a cache file to fill), its nruns runs
 * each gave want (n floats) bit for bit, and it ran packed by the last. */
static int lazy_runs(const graph *g, const float *x, const float *want, size_t n, int threads,
                     int nruns, int *lazy)
{
    engine_opts o;
    err_t e;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.lazy_pack = 1;
    engine *en = engine_create(g, &o, &e);
    if (!en) {
        tap_diag("engine: %s", e.msg);
        return 0;
    }
    *lazy = engine_reads_model(en);
    int same = !engine_weights_cached(en);
    for (int r = 0; r < nruns && same; r++) {
        if (r == nruns - 1)
            usleep(200000);     /* the packing thread done by then */
        same = engine_run(en, x, &e) == 0 && !memcmp(engine_output(en, 0), want, n * sizeof *want);
    }
    same &= !engine_reads_model(en);
    engine_free(en);
    return same;
}

/* The file written in steps (wcache_begin, _put, _end): pieces given
 * later go to their places; a piece of another size, or one never given,
 * leaves no file. */
static void test_stream(void)
{
    static unsigned char a[300], b[7000];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 11 + 5);
    kmem_piece pa[1] = {{a, sizeof a}}, plan[2] = {{NULL, sizeof b}, {NULL, 64}};
    kmem_piece pb[2] = {{b, sizeof b}, {a, 64}}, bad[2] = {{b, sizeof b}, {a, 65}};
    wcache_node nodes[2];
    memset(nodes, 0, sizeof nodes);
    nodes[0].node = 1;
    nodes[0].cached = 1;
    nodes[0].log.v = pa;
    nodes[0].log.n = 1;
    nodes[0].log.tag = 11;
    nodes[1].node = 2;
    nodes[1].cached = 1;
    nodes[1].log.v = plan;
    nodes[1].log.n = 2;
    nodes[1].log.tag = 22;
    for (int c = 0; c < 3; c++) {
        char text[80];
        snprintf(text, sizeof text, "cam packed weights 2\nbuild 0123\nmodel stream%d\n", c);
        wcache_key key = {text, strlen(text)};
        err_t e;
        wcache_out *o = wcache_begin(&key, nodes, 2, &e);
        kmem_log lg;
        memset(&lg, 0, sizeof lg);
        lg.v = c == 1 ? bad : pb;
        lg.n = 2;
        int put = o && c < 2 ? wcache_put(o, 1, &lg) : 0;
        int end = o ? wcache_end(o, 1, &e) : -1;
        wcache w;
        int opened = wcache_open(&key, &w, &e) == 0;
        int same = opened && w.nnodes == 2 && w.nodes[1].log.n == 2 && w.nodes[1].log.tag == 22 &&
                   w.nodes[0].log.v[0].n == sizeof a && !memcmp(w.nodes[0].log.v[0].p, a, sizeof a) &&
                   w.nodes[1].log.v[0].n == sizeof b && !memcmp(w.nodes[1].log.v[0].p, b, sizeof b) &&
                   w.nodes[1].log.v[1].n == 64 && !memcmp(w.nodes[1].log.v[1].p, a, 64);
        if (opened)
            wcache_close(&w);
        if (c == 0)
            tap_ok(o && put == 0 && end == 0 && same,
                   "stream: a node's pieces written after the table, in their places");
        else
            tap_ok(o && (c == 1 ? put < 0 : 1) && end < 0 && !opened,
                   "stream: %s: no file", c == 1 ? "a piece of another size" : "a node never written");
    }
}

/* 1 when dir's file system has room for cache files of up to mb MB
 * (wcache_write leaves WCACHE_MIN_FREE and 1 % free) */
static int room(const char *dir, double mb)
{
    struct statvfs vs;
    if (statvfs(dir, &vs) != 0)
        return 0;
    double left = (double)vs.f_bavail * vs.f_frsize - mb * 1e6, size = (double)vs.f_blocks * vs.f_frsize;
    return left >= WCACHE_MIN_FREE && left >= size * 0.01;
}

static void test_engines(const char *dir)
{
    graph g;
    build(&g);
    float x[3 * 28 * 28];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = frand();
    size_t n0 = 0, n1 = 0, n2 = 0;
    int c0, c1, c2;
    float *y0 = run(&g, NULL, 0, x, &n0, 1, &c0);
    char file[4096];
    tap_ok(y0 && !c0 && count_packed(dir, file, sizeof file) == 1,
           "engine: first plan packs and writes one cache file");
    float *y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
    tap_ok(y1 && c1 && n1 == n0 && memcmp(y0, y1, n0 * sizeof *y0) == 0,
           "engine: second plan takes the cached weights, output identical bit for bit");
    setenv("CAM_NO_CACHE", "1", 1);
    float *y2 = run(&g, NULL, 0, x, &n2, 1, &c2);
    unsetenv("CAM_NO_CACHE");
    tap_ok(y2 && !c2 && n2 == n0 && memcmp(y0, y2, n0 * sizeof *y0) == 0,
           "engine: CAM_NO_CACHE=1 packs from the model, same output");
    free(y1);
    free(y2);

    /* another thread count, other outputs: other files */
    y1 = run(&g, NULL, 0, x, &n1, 2, &c1);
    tap_ok(y1 && !c1 && count_packed(dir, NULL, 0) == 2 && memcmp(y0, y1, n0 * sizeof *y0) == 0,
           "engine: 2 threads: a file of its own, same output");
    free(y1);
    y1 = run(&g, NULL, 0, x, &n1, 2, &c1);
    tap_ok(y1 && c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0, "engine: 2 threads from the cache");
    free(y1);
    const char *mid[1] = {"y3"};
    size_t nm0, nm1;
    float *m0 = run(&g, mid, 1, x, &nm0, 1, &c1);
    float *m1 = run(&g, mid, 1, x, &nm1, 1, &c2);
    tap_ok(m0 && m1 && !c1 && c2 && nm0 == nm1 && memcmp(m0, m1, nm0 * sizeof *m0) == 0,
           "engine: an inner output: a plan of its own, cached too");
    free(m0);
    free(m1);

    /* the last Conv's own output asked for: its BatchNormalization is
     * not folded, so its packed weights differ from the full plan's
     * (the same nodes are prepared): a key of its own, right outputs */
    {
        const char *pre[1] = {"y8"}, *post[1] = {"out"};
        size_t a0, a1, b0, b1;
        int ca, cb;
        setenv("CAM_NO_CACHE", "1", 1);
        float *ya = run(&g, pre, 1, x, &a0, 1, &ca), *yb = run(&g, post, 1, x, &b0, 1, &cb);
        unsetenv("CAM_NO_CACHE");
        float *za = run(&g, pre, 1, x, &a1, 1, &ca);
        za = (free(za), run(&g, pre, 1, x, &a1, 1, &ca));
        float *zb = run(&g, post, 1, x, &b1, 1, &cb);
        tap_ok(ya && za && ca && a0 == a1 && memcmp(ya, za, a0 * sizeof *ya) == 0 && yb && zb && cb &&
                   b0 == b1 && memcmp(yb, zb, b0 * sizeof *yb) == 0 && memcmp(yb, y0, b0 * sizeof *yb) == 0,
               "engine: a Conv's own output (BatchNormalization unfolded) and the folded plan "
               "each get their own cached weights");
        free(ya);
        free(yb);
        free(za);
        free(zb);
    }

    /* a first run that leaves the GEMM layers reading the model while a
     * thread of the engine's packs them and writes the file: the same
     * output in every run, before and after they take their packed form,
     * and from the file it wrote */
    for (int t = 1; t <= 2; t++) {
        clear_packed(dir);
        int lazy = 0, same = lazy_runs(&g, x, y0, n0, t, 4, &lazy);
        y1 = run(&g, NULL, 0, x, &n1, t, &c1);
        tap_ok(same && lazy && count_packed(dir, NULL, 0) == 1 && y1 && c1 &&
                   memcmp(y0, y1, n0 * sizeof *y0) == 0,
               "engine: %d thread%s, lazy first run: layers packed per run, then by its thread; "
               "the same output throughout, and from the file it wrote", t, t > 1 ? "s" : "");
        free(y1);
    }
    /* no cache: nothing is left lazy (nobody would pack it) */
    {
        setenv("CAM_NO_CACHE", "1", 1);
        int lazy = 1, same = lazy_runs(&g, x, y0, n0, 1, 2, &lazy);
        unsetenv("CAM_NO_CACHE");
        tap_ok(same && !lazy, "engine: CAM_NO_CACHE=1: lazy_pack packs at once");
    }
    clear_packed(dir);
    y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
    free(y1);
    count_packed(dir, file, sizeof file);

    /* a piece's size changed in the file: out of step, packed again and
     * the file written anew */
    {
        patch_u64(file, 1, (uint64_t)-64, 0);
        y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
        tap_ok(y1 && !c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0,
               "engine: a file out of step: packed from the model, same output");
        free(y1);
        y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
        tap_ok(y1 && c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0, "engine: ... and the file made anew");
        free(y1);
    }
    /* a layer's fingerprint changed in the file (as if its folded scales
     * or shapes differed): out of step, packed again */
    {
        patch_u64(file, 0, 0, 1);
        y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
        tap_ok(y1 && !c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0,
               "engine: a layer's fingerprint differs: packed from the model, same output");
        free(y1);
    }
    /* garbage under the name, and a truncated file */
    {
        FILE *f = fopen(file, "w");
        fputs("not a cache file\n", f);
        fclose(f);
        y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
        tap_ok(y1 && !c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0, "engine: garbage file: packed, same output");
        free(y1);
        struct stat st;
        stat(file, &st);
        truncate(file, st.st_size / 2);
        y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
        tap_ok(y1 && !c1 && memcmp(y0, y1, n0 * sizeof *y0) == 0, "engine: truncated file: packed, same output");
        free(y1);
    }
    /* a changed model (its sha256): another file */
    g.sha256[63] = '2';
    int before = count_packed(dir, NULL, 0);
    y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
    tap_ok(y1 && !c1 && count_packed(dir, NULL, 0) == before + 1, "engine: another model: another file");
    free(y1);
    /* no model file (no sha256): no cache */
    g.sha256[0] = '\0';
    before = count_packed(dir, NULL, 0);
    y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
    tap_ok(y1 && !c1 && count_packed(dir, NULL, 0) == before, "engine: a graph from no file: no cache file");
    free(y1);
    free(y0);
    graph_free(&g);
}

/* the shared models: features from cached weights identical to packed
 * ones; the uint8 model at every SIMD level (VNNI, AVX2's 16-bit panels,
 * portable) */
static void test_models(const char *dir)
{
    static const char *models[] = {"googlenet-bvlc.onnx", "squeezenet1.1-bvlc.onnx",
                                   "random/mobilenet_v2_bn.onnx", "random/resnet18_bn.onnx",
                                   "mobilenet_v2_1.0_224_quant.tflite"};
    const int nm = (int)(sizeof models / sizeof *models);
    const char *shared = tap_shared();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/googlenet-bvlc.onnx", shared);
    if (access(path, R_OK) != 0) {
        for (int i = 0; i < nm * 3 + 3; i++)
            tap_skip("no shared models (../shared or $CAM_SHARED)");
        return;
    }
    /* a model's cache files take up to 60 MB (removed after each) */
    if (!room(dir, 120)) {
        for (int i = 0; i < nm * 3 + 3; i++)
            tap_skip("too little free space in %s for cache files", dir);
        return;
    }
    for (int i = 0; i < nm; i++) {
        graph g;
        err_t e;
        snprintf(path, sizeof path, "%s/models/%s", shared, models[i]);
        if (graph_load(path, &g, &e) < 0) {
            tap_ok(0, "%s: %s", models[i], e.msg);
            continue;
        }
        static float x[3 * 256 * 256];    /* SqueezeNet's is 227 x 227 */
        for (size_t k = 0; k < sizeof x / sizeof *x; k++)
            x[k] = frand() * 4;
        int levels = strstr(models[i], "quant") ? 3 : 1;
        for (int lv = 0; lv < levels; lv++) {
            if (levels > 1)
                simd_cap(lv == 0 ? SIMD_AVX512 : lv == 1 ? SIMD_AVX2 : SIMD_PORTABLE);
            size_t n0 = 0, n1 = 0;
            int c0, c1;
            float *y0 = run(&g, NULL, 0, x, &n0, 1, &c0);
            float *y1 = run(&g, NULL, 0, x, &n1, 1, &c1);
            tap_ok(y0 && y1 && !c0 && c1 && n0 == n1 && memcmp(y0, y1, n0 * sizeof *y0) == 0,
                   "%s%s: output from cached weights identical to packed", models[i],
                   levels == 1 ? "" : lv == 0 ? " (best SIMD)" : lv == 1 ? " (AVX2 at most)" : " (portable)");
            if (lv == 0) {
                /* a lazy first run: the same output, and a file that gives it */
                for (int t = 1; t <= 2; t++) {
                    clear_packed(dir);
                    int lazy = 0, same = y0 && lazy_runs(&g, x, y0, n0, t, 3, &lazy);
                    free(y1);
                    y1 = run(&g, NULL, 0, x, &n1, t, &c1);
                    /* (the 8-bit layers: with VNNI) */
                    int want_lazy = strstr(models[i], "quant") ? qconv_has_vnni() : 1;
                    tap_ok(same && lazy == want_lazy && y1 && c1 &&
                               memcmp(y0, y1, n0 * sizeof *y0) == 0,
                           "%s, %d thread%s: a lazy first run gives the same output%s, its file too",
                           models[i], t, t > 1 ? "s" : "", lazy ? " before and after packing" : "");
                }
            }
            free(y0);
            free(y1);
        }
        simd_cap(SIMD_AVX512);
        if (strstr(models[i], "mobilenet_v2_bn")) {
            /* the portable kernels, which read weights left in the model
             * (the classifier's at an odd address) through memcpy */
            simd_cap(SIMD_PORTABLE);
            clear_packed(dir);
            size_t n0 = 0;
            int c0, lazy = 0;
            setenv("CAM_NO_CACHE", "1", 1);
            float *y0 = run(&g, NULL, 0, x, &n0, 1, &c0);
            unsetenv("CAM_NO_CACHE");
            int same = y0 && lazy_runs(&g, x, y0, n0, 1, 2, &lazy);
            tap_ok(same && lazy, "%s (portable): a lazy first run gives the same output", models[i]);
            free(y0);
            simd_cap(SIMD_AVX512);
        }
        graph_free(&g);
        clear_packed(dir);
    }
}

int main(void)
{
    test_format();
    char dir[] = "/tmp/test_wcache.XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return tap_done();
    }
    setenv("CAM_CACHE_DIR", dir, 1);
    unsetenv("CAM_NO_CACHE");
    if (room(dir, 20)) {
        test_stream();
        clear_packed(dir);
        test_engines(dir);
    }
    else
        for (int i = 0; i < 20; i++)
            tap_skip("too little free space in %s for cache files", dir);
    test_models(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}
