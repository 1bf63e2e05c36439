/* bench_libs.c - our convolution kernels (conv_run) against oneDNN,
 * XNNPACK and OpenBLAS (im2col + cblas_sgemm) on every convolution of the
 * shared models, at 1 and 2 threads, in one process, interleaved.
 *
 *   bench_libs [-m ours,dnnl,xnn,blas] [-n MODEL] [-l cin,hw,cout,k,s,g]
 *              [-t THREADS] [-r ROUNDS] [-b BLOCK]
 *
 * Layers come from the models themselves (lib/graph.h, shapes inferred at
 * the model's input size): googlenet-bvlc.onnx, squeezenet1.1-bvlc.onnx,
 * random/resnet18_bn.onnx, random/mobilenet_v2_bn.onnx, found in
 * $CAM_SHARED/models or ../shared/models; -n keeps the models whose file
 * name contains MODEL; -l times one made-up layer (padding k/2) instead.
 * Weights, bias and input are random; the activation is the one the model
 * applies after the convolution (Relu, Clip, or none; a BatchNormalization
 * in between is looked through), fused into every library's convolution
 * (oneDNN post-op, XNNPACK output min/max, OpenBLAS a pass after sgemm).
 *
 * The contenders, each with its own threads:
 *   ours  conv_prepare/conv_run, NCHW, our thread pool
 *   dnnl  oneDNN convolution (algorithm auto) with every memory format
 *         "any", so that it picks its own blocked layouts; timed without and
 *         with the reorders from and to NCHW (weights are reordered once,
 *         at plan time, like our packing); OpenMP threads
 *   xnn   XNNPACK convolution2d_nhwc_f32 on NHWC input and output, a
 *         pthreadpool of THREADS threads (none at 1 thread)
 *   blas  im2col (none for 1x1 stride 1 unpadded) + cblas_sgemm per group +
 *         bias/activation pass; im2col and the pass split over our pool.
 *         Depthwise layers have no BLAS form: "blas" totals count ours there.
 *
 * Timing: for every layer and thread count, ROUNDS rounds (default 4);
 * each round runs every contender in turn (the order rotates per round) as
 * one untimed call then BLOCK (default 3) timed calls (wall clock).  Before
 * each block at 2 threads the process waits until the other contenders'
 * spinning workers are idle (OpenBLAS's spin is cut to about 0.3 ms with
 * OPENBLAS_THREAD_TIMEOUT=20 unless set; the pthreadpool is created per
 * block).  A block during which our threads waited more than 2% of its
 * time for a CPU (run-queue delay summed from /proc/self/task/N/schedstat,
 * read after making every thread of our pool run: another process had the
 * CPU) is timed again, up to 5 times; then the least disturbed of the 6
 * tries is kept and counted.  Reported: medians of the ROUNDS x BLOCK calls.
 * Every contender's first output at each thread count is compared with
 * ref_conv2d: max|d| / max|ref| is printed per layer and the largest per
 * contender at the end, so a fast wrong result shows.
 *
 * Each library is compiled in only when BL_DNNL, BL_XNN, BL_BLAS are 1
 * (mk/bench-libs.mk sets them); without any, only "ours" runs, which is
 * what `make check` builds and runs on a tiny layer.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>
#include "engine.h"
#include "graph.h"
#include "kernels.h"
#include "threadpool.h"

#ifndef BL_DNNL
#define BL_DNNL 0
#endif
#ifndef BL_XNN
#define BL_XNN 0
#endif
#ifndef BL_BLAS
#define BL_BLAS 0
#endif

#if BL_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif
#if BL_XNN
#include <pthreadpool.h>
#include <xnnpack.h>
#endif
#if BL_BLAS
#include <cblas.h>
#endif

#define PROG "bench_libs"

enum { M_OURS, M_DNNL, M_XNN, M_BLAS, NM };
static const char *mname[NM] = { "ours", "dnnl", "xnn", "blas" };
static const int mbuilt[NM] = { 1, BL_DNNL, BL_XNN, BL_BLAS };
static const char *mpkg[NM] = { "", "libdnnl-dev", "libxnnpack-dev libpthreadpool-dev",
                                "libopenblas-dev" };

enum { C_FIRST, C_1X1, C_KXK, C_DW, NC };   /* classes of layers */
static const char *cname[NC] = { "first", "1x1", "kxk", "dw" };

typedef struct {
    char model[64];
    int idx;             /* index among the model's convolutions */
    conv_params p;
    int cls;
} layer;

#define MAXSAMP 1024
#define MAXT 2

typedef struct {
    double ms[NM][MAXT];      /* medians */
    double dnnl_conv[MAXT];   /* oneDNN without reorders */
    double best[NM][MAXT], dnnl_conv_best[MAXT];   /* minima */
    double err[NM];           /* max|d|/max|ref| over thread counts; -1: not run */
    char dnnl_impl[64];
    const char *our_impl;
    int retried, disturbed;   /* blocks timed again / kept although disturbed */
} result;

#define MAXRETRY 5
#define MAXBLOCK 100

static int rounds = 4, block = 3;
static int use[NM];

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds the threads of this process have spent runnable but waiting for
 * a CPU (run-queue delay, /proc/self/task/N/schedstat), or -1 when the
 * kernel does not say. */
static double rq_wait(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    unsigned long long sum = 0;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long long run, wait;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) { sum += wait; found = 1; }
        fclose(f);
    }
    closedir(d);
    return found ? sum * 1e-9 : -1;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xalloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64)) die("%s", "out of memory");
    return p;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

static float *randv(size_t n)
{
    float *v = xalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

static int layer_class(const conv_params *p)
{
    if (p->cin <= 4 && p->group == 1) return C_FIRST;
    if (p->group > 1 && p->group == p->cin) return C_DW;
    if (p->kh == 1 && p->kw == 1) return C_1X1;
    return C_KXK;
}

/* ------------------------------------------------------------ layers */

static const char *shared_dir(void)
{
    const char *s = getenv("CAM_SHARED");
    return s && *s ? s : "../shared";
}

/* The constant float value of tensor ti, or dflt. */
static float const_float(const graph *g, int ti, float dflt)
{
    if (ti < 0 || ti >= g->ntensors) return dflt;
    const gtensor *t = &g->tensors[ti];
    float v;
    if (!t->data || t->dtype != DT_F32 || t->nbytes < sizeof v) return dflt;
    memcpy(&v, t->data, sizeof v);
    return v;
}

/* The only node reading tensor ti, or -1. */
static int only_consumer(const graph *g, int ti)
{
    int found = -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == ti) {
                if (found >= 0 && found != i) return -1;
                found = i;
            }
    return found;
}

/* Activation applied to conv output ti (through one BatchNormalization). */
static void find_act(const graph *g, int ti, conv_params *p)
{
    p->act = ACT_NONE;
    int c = only_consumer(g, ti);
    if (c >= 0 && !strcmp(g->nodes[c].op, "BatchNormalization") && g->nodes[c].nout >= 1)
        c = only_consumer(g, g->nodes[c].out[0]);
    if (c < 0) return;
    const gnode *n = &g->nodes[c];
    if (!strcmp(n->op, "Relu")) {
        p->act = ACT_RELU;
    } else if (!strcmp(n->op, "Clip")) {
        p->act = ACT_CLIP;
        p->act_min = n->nin > 1 ? const_float(g, n->in[1], -INFINITY) : gnode_attr_float(n, "min", -INFINITY);
        p->act_max = n->nin > 2 ? const_float(g, n->in[2], INFINITY) : gnode_attr_float(n, "max", INFINITY);
    }
}

static int attr2(const gnode *n, const char *name, int *a, int *b, int dflt)
{
    const gattr *at = gnode_attr(n, name);
    *a = *b = dflt;
    if (!at) return 0;
    if (at->type != ATTR_INTS || at->n != 2) return -1;
    if (at->ints[0] < 0 || at->ints[0] > 64 || at->ints[1] < 0 || at->ints[1] > 64) return -1;
    *a = (int)at->ints[0];
    *b = (int)at->ints[1];
    return 0;
}

/* Appends the convolutions of model file path to *L (count *n). */
static void model_layers(const char *path, const char *label, layer **L, int *n)
{
    graph g;
    err_t e;
    graph_init(&g);
    if (graph_load(path, &g, &e) < 0 || graph_infer_shapes(&g, NULL, 0, NULL, &e) < 0)
        die("%s", e.msg);
    int idx = 0;
    for (int i = 0; i < g.nnodes; i++) {
        const gnode *nd = &g.nodes[i];
        if (strcmp(nd->op, "Conv") || nd->nin < 2 || nd->nout < 1) continue;
        const gtensor *x = &g.tensors[nd->in[0]], *w = &g.tensors[nd->in[1]],
                      *y = &g.tensors[nd->out[0]];
        if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4) die("%s: a Conv that is not 2-D", path);
        const char *ap = gnode_attr_str(nd, "auto_pad", "NOTSET");
        if (strcmp(ap, "NOTSET")) die("%s: auto_pad is not supported here", path);
        conv_params p = { 0 };
        p.cin = (int)x->dims[1]; p.h = (int)x->dims[2]; p.w = (int)x->dims[3];
        p.cout = (int)y->dims[1]; p.oh = (int)y->dims[2]; p.ow = (int)y->dims[3];
        p.kh = (int)w->dims[2]; p.kw = (int)w->dims[3];
        p.group = (int)gnode_attr_int(nd, "group", 1);
        const gattr *pads = gnode_attr(nd, "pads");
        if (attr2(nd, "strides", &p.sh, &p.sw, 1) < 0 || attr2(nd, "dilations", &p.dh, &p.dw, 1) < 0)
            die("%s: bad strides or dilations", path);
        if (pads) {
            if (pads->type != ATTR_INTS || pads->n != 4) die("%s: bad pads", path);
            p.pt = (int)pads->ints[0]; p.pl = (int)pads->ints[1];
            p.pb = (int)pads->ints[2]; p.pr = (int)pads->ints[3];
        }
        find_act(&g, nd->out[0], &p);
        *L = realloc(*L, (*n + 1) * sizeof **L);
        if (!*L) die("%s", "out of memory");
        layer *l = &(*L)[(*n)++];
        memset(l, 0, sizeof *l);
        snprintf(l->model, sizeof l->model, "%s", label);
        l->idx = idx++;
        l->p = p;
        l->cls = layer_class(&p);
    }
    graph_free(&g);
}

/* ------------------------------------------------------------ contenders */

typedef struct {
    const layer *L;
    const float *in, *in_nhwc, *w, *bias;
    float *out_ours;
    /* ours */
    conv_kernel *ck;
    void *scratch;
    threadpool *tp;
    int nthreads;
#if BL_DNNL
    dnnl_primitive_t conv, rin, rout;
    dnnl_memory_t m_user_in, m_in, m_w, m_b, m_out, m_user_out;
    double t_rin, t_conv, t_rout;     /* last call's parts */
#endif
    char dnnl_impl[64];
    float *out_dnnl;
#if BL_XNN
    xnn_operator_t xop;
    pthreadpool_t xpool;
    float *w_ohwi;
#endif
    float *out_nhwc, *out_xnn;
    float *col, *out_blas;
} ctx;

#if BL_DNNL
static dnnl_engine_t dn_eng;
static dnnl_stream_t dn_str;

#define DN(call) do { dnnl_status_t st_ = (call); \
        if (st_ != dnnl_success) { fprintf(stderr, PROG ": %s: oneDNN status %d\n", #call, (int)st_); exit(1); } } while (0)

static const char *dnnl_isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all/unknown";
    }
}

static dnnl_primitive_t dn_reorder(dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_memory_desc_t *a, *b;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t r;
    DN(dnnl_memory_get_memory_desc(from, &a));
    DN(dnnl_memory_get_memory_desc(to, &b));
    DN(dnnl_reorder_primitive_desc_create(&pd, a, dn_eng, b, dn_eng, NULL));
    DN(dnnl_primitive_create(&r, pd));
    DN(dnnl_primitive_desc_destroy(pd));
    return r;
}

static void dn_exec2(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    DN(dnnl_primitive_execute(r, dn_str, 2, a));
    DN(dnnl_stream_wait(dn_str));
}

static void dnnl_prep(ctx *c)
{
    const conv_params *p = &c->L->p;
    int g = p->group;
    dnnl_memory_desc_t src_any, w_any, b_md, dst_any, src_user, w_user, dst_user;
    dnnl_dims_t sd = { 1, p->cin, p->h, p->w }, dd = { 1, p->cout, p->oh, p->ow }, bd = { p->cout };
    dnnl_dims_t wd1 = { p->cout, p->cin, p->kh, p->kw };
    dnnl_dims_t wdg = { g, p->cout / g, p->cin / g, p->kh, p->kw };
    DN(dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&src_user, 4, sd, dnnl_f32, dnnl_nchw));
    DN(dnnl_memory_desc_init_by_tag(&dst_user, 4, dd, dnnl_f32, dnnl_nchw));
    DN(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    if (g == 1) {
        DN(dnnl_memory_desc_init_by_tag(&w_any, 4, wd1, dnnl_f32, dnnl_format_tag_any));
        DN(dnnl_memory_desc_init_by_tag(&w_user, 4, wd1, dnnl_f32, dnnl_oihw));
    } else {
        DN(dnnl_memory_desc_init_by_tag(&w_any, 5, wdg, dnnl_f32, dnnl_format_tag_any));
        DN(dnnl_memory_desc_init_by_tag(&w_user, 5, wdg, dnnl_f32, dnnl_goihw));
    }
    dnnl_dims_t strides = { p->sh, p->sw }, dil = { p->dh - 1, p->dw - 1 };
    dnnl_dims_t pl = { p->pt, p->pl }, pr = { p->pb, p->pr };
    dnnl_convolution_desc_t cd;
    DN(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_auto,
                                                  &src_any, &w_any, &b_md, &dst_any, strides, dil, pl, pr));
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_post_ops_create(&po));
    if (p->act == ACT_RELU) DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    if (p->act == ACT_CLIP) DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, p->act_min, p->act_max));
    DN(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &cd, attr, dn_eng, NULL));
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(c->dnnl_impl, sizeof c->dnnl_impl, "%s", impl);
    DN(dnnl_primitive_create(&c->conv, pd));
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    /* user memories wrap our NCHW buffers */
    DN(dnnl_memory_create(&c->m_user_in, &src_user, dn_eng, (void *)c->in));
    DN(dnnl_memory_create(&c->m_user_out, &dst_user, dn_eng, c->out_dnnl));
    DN(dnnl_memory_create(&c->m_b, &b_md, dn_eng, (void *)c->bias));
    dnnl_memory_t m_wuser;
    DN(dnnl_memory_create(&m_wuser, &w_user, dn_eng, (void *)c->w));
    c->rin = c->rout = NULL;
    if (dnnl_memory_desc_equal(src_md, &src_user)) {
        c->m_in = c->m_user_in;
    } else {
        DN(dnnl_memory_create(&c->m_in, src_md, dn_eng, DNNL_MEMORY_ALLOCATE));
        c->rin = dn_reorder(c->m_user_in, c->m_in);
    }
    if (dnnl_memory_desc_equal(dst_md, &dst_user)) {
        c->m_out = c->m_user_out;
    } else {
        DN(dnnl_memory_create(&c->m_out, dst_md, dn_eng, DNNL_MEMORY_ALLOCATE));
        c->rout = dn_reorder(c->m_out, c->m_user_out);
    }
    if (dnnl_memory_desc_equal(w_md, &w_user)) {
        c->m_w = m_wuser;
    } else {   /* plan time: weights into oneDNN's layout once */
        DN(dnnl_memory_create(&c->m_w, w_md, dn_eng, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_t rw = dn_reorder(m_wuser, c->m_w);
        dn_exec2(rw, m_wuser, c->m_w);
        DN(dnnl_primitive_destroy(rw));
        DN(dnnl_memory_destroy(m_wuser));
    }
    DN(dnnl_primitive_desc_destroy(pd));
    DN(dnnl_post_ops_destroy(po));
    DN(dnnl_primitive_attr_destroy(attr));
}

/* One oneDNN call: NCHW -> its layout, convolution, its layout -> NCHW;
 * the three parts' times go to c->t_rin, t_conv, t_rout. */
static void dnnl_run(ctx *c)
{
    double t0 = now();
    if (c->rin) dn_exec2(c->rin, c->m_user_in, c->m_in);
    double t1 = now();
    dnnl_exec_arg_t a[4] = { { DNNL_ARG_SRC, c->m_in }, { DNNL_ARG_WEIGHTS, c->m_w },
                             { DNNL_ARG_BIAS, c->m_b }, { DNNL_ARG_DST, c->m_out } };
    DN(dnnl_primitive_execute(c->conv, dn_str, 4, a));
    DN(dnnl_stream_wait(dn_str));
    double t2 = now();
    if (c->rout) dn_exec2(c->rout, c->m_out, c->m_user_out);
    double t3 = now();
    c->t_rin = t1 - t0;
    c->t_conv = t2 - t1;
    c->t_rout = t3 - t2;
}

static void dnnl_free(ctx *c)
{
    DN(dnnl_primitive_destroy(c->conv));
    if (c->rin) { DN(dnnl_primitive_destroy(c->rin)); DN(dnnl_memory_destroy(c->m_in)); }
    if (c->rout) { DN(dnnl_primitive_destroy(c->rout)); DN(dnnl_memory_destroy(c->m_out)); }
    DN(dnnl_memory_destroy(c->m_w));
    DN(dnnl_memory_destroy(c->m_b));
    DN(dnnl_memory_destroy(c->m_user_in));
    DN(dnnl_memory_destroy(c->m_user_out));
}
#endif

#if BL_XNN
static void xnn_prep(ctx *c)
{
    const conv_params *p = &c->L->p;
    int g = p->group, gi = p->cin / g, go = p->cout / g;
    size_t khw = (size_t)p->kh * p->kw;
    /* OIHW -> [g][o][kh][kw][i] */
    c->w_ohwi = xalloc((size_t)p->cout * gi * khw * sizeof(float));
    for (int o = 0; o < p->cout; o++)
        for (int i = 0; i < gi; i++)
            for (size_t k = 0; k < khw; k++)
                c->w_ohwi[((size_t)o * khw + k) * gi + i] = c->w[((size_t)o * gi + i) * khw + k];
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
    enum xnn_status st = xnn_create_convolution2d_nhwc_f32(
        p->pt, p->pr, p->pb, p->pl, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw,
        g, gi, go, p->cin, p->cout, c->w_ohwi, c->bias, lo, hi, 0, &c->xop);
    if (st != xnn_status_success) die("xnn_create_convolution2d_nhwc_f32 failed (%s)", c->L->model);
}

/* A pthreadpool of n threads (none for 1), and the operator set up for it. */
static void xnn_pool(ctx *c, int n)
{
    const conv_params *p = &c->L->p;
    c->xpool = n > 1 ? pthreadpool_create(n) : NULL;
    if (n > 1 && !c->xpool) die("%s", "pthreadpool_create failed");
    if (xnn_setup_convolution2d_nhwc_f32(c->xop, 1, p->h, p->w, c->in_nhwc, c->out_nhwc, c->xpool)
        != xnn_status_success)
        die("xnn_setup_convolution2d_nhwc_f32 failed (%s)", c->L->model);
}

static void xnn_unpool(ctx *c)
{
    if (c->xpool) pthreadpool_destroy(c->xpool);
    c->xpool = NULL;
}

static void xnn_run(ctx *c)
{
    if (xnn_run_operator(c->xop, c->xpool) != xnn_status_success)
        die("xnn_run_operator failed (%s)", c->L->model);
}
#endif

#if BL_BLAS
static int blas_direct(const conv_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 &&
           !p->pt && !p->pl && !p->pb && !p->pr;
}

/* im2col rows [b, e): row (c*kh+y)*kw+x holds input channel c shifted by
 * (y, x), oh*ow values, zero where the window falls on padding. */
static void im2col_rows(void *arg, long long b, long long e, int thread)
{
    const ctx *c = arg;
    const conv_params *p = &c->L->p;
    size_t n = (size_t)p->oh * p->ow;
    for (long long r = b; r < e; r++) {
        int x = (int)(r % p->kw), y = (int)(r / p->kw % p->kh), ch = (int)(r / p->kw / p->kh);
        const float *src = c->in + (size_t)ch * p->h * p->w;
        float *dst = c->col + (size_t)r * n;
        for (int oy = 0; oy < p->oh; oy++) {
            int iy = oy * p->sh - p->pt + y * p->dh;
            float *d = dst + (size_t)oy * p->ow;
            if (iy < 0 || iy >= p->h) { memset(d, 0, p->ow * sizeof *d); continue; }
            const float *s = src + (size_t)iy * p->w;
            for (int ox = 0; ox < p->ow; ox++) {
                int ix = ox * p->sw - p->pl + x * p->dw;
                d[ox] = ix >= 0 && ix < p->w ? s[ix] : 0.0f;
            }
        }
    }
}

/* bias and activation on output rows [b, e) */
static void epilogue_rows(void *arg, long long b, long long e, int thread)
{
    const ctx *c = arg;
    const conv_params *p = &c->L->p;
    size_t n = (size_t)p->oh * p->ow;
    float lo = -INFINITY, hi = INFINITY;
    if (p->act == ACT_RELU) lo = 0;
    if (p->act == ACT_CLIP) { lo = p->act_min; hi = p->act_max; }
    for (long long r = b; r < e; r++) {
        float *o = c->out_blas + (size_t)r * n, bv = c->bias[r];
        for (size_t j = 0; j < n; j++) {
            float v = o[j] + bv;
            v = v < lo ? lo : v;
            o[j] = v > hi ? hi : v;
        }
    }
}

static void blas_run(ctx *c)
{
    const conv_params *p = &c->L->p;
    int g = p->group, mg = p->cout / g, n = p->oh * p->ow;
    int k = p->cin / g * p->kh * p->kw;
    const float *b = c->in;
    if (!blas_direct(p)) {
        tp_run_range(c->tp, (long long)p->cin * p->kh * p->kw, 1, im2col_rows, c);
        b = c->col;
    }
    for (int gi = 0; gi < g; gi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mg, n, k, 1.0f,
                    c->w + (size_t)gi * mg * k, k, b + (size_t)gi * k * n, n, 0.0f,
                    c->out_blas + (size_t)gi * mg * n, n);
    tp_run_range(c->tp, p->cout, 1, epilogue_rows, c);
}
#endif

static void ours_run(ctx *c)
{
    conv_run(c->ck, c->in, c->out_ours, c->scratch, c->tp);
}

/* ------------------------------------------------------------ driver */

static threadpool *pools[MAXT + 1];

static void set_threads(ctx *c, int nt)
{
    c->nthreads = nt;
    c->tp = pools[nt];
#if BL_DNNL
    omp_set_num_threads(nt);
#endif
#if BL_BLAS
    openblas_set_num_threads(nt);
#endif
}

/* At 2 threads, waits until no other contender's workers spin (process CPU
 * time under 10% of a 2 ms sleep), at most 0.3 s. */
static void settle(int nt)
{
    if (nt < 2) return;
    for (int i = 0; i < 150; i++) {
        double c0 = cpu_now(), w0 = now();
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
        if (cpu_now() - c0 < 0.1 * (now() - w0)) break;
    }
}

/* One call of contender m; returns its seconds (for dnnl: with reorders,
 * conv-only in *conv). */
static double run_one(ctx *c, int m, double *conv)
{
    double t0 = now(), t;
    switch (m) {
    case M_OURS: ours_run(c); break;
#if BL_DNNL
    case M_DNNL: dnnl_run(c); break;
#endif
#if BL_XNN
    case M_XNN: xnn_run(c); break;
#endif
#if BL_BLAS
    case M_BLAS: blas_run(c); break;
#endif
    default: break;
    }
    t = now() - t0;
#if BL_DNNL
    if (m == M_DNNL) {
        *conv = c->t_conv;
        return c->t_rin + c->t_conv + c->t_rout;
    }
#endif
    *conv = t;
    return t;
}

static void block_begin(ctx *c, int m)
{
#if BL_XNN
    if (m == M_XNN) xnn_pool(c, c->nthreads);
#endif
    (void)c; (void)m;
}

/* A task that returns only when every thread of the pool has entered it
 * (or after 1 s): run once after each block so that a pool thread still
 * queued for a CPU gets to run and its run-queue delay is counted. */
static void barrier_task(void *arg, int task, int thread)
{
    int *n = arg;   /* n[0]: threads in, n[1]: threads expected */
    __atomic_add_fetch(&n[0], 1, __ATOMIC_SEQ_CST);
    double t0 = now();
    while (__atomic_load_n(&n[0], __ATOMIC_SEQ_CST) < n[1] && now() - t0 < 1.0)
        sched_yield();
}

static void block_end(ctx *c, int m)
{
    if (c->nthreads > 1) {
        int n[2] = { 0, c->nthreads };
        tp_run(c->tp, c->nthreads, barrier_task, n);
    }
#if BL_XNN
    if (m == M_XNN) xnn_unpool(c);
#endif
    (void)c; (void)m;
}

static double maxrel(const float *a, const float *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = d;     /* NaN counts as infinitely wrong */
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    if (isnan(md)) return INFINITY;
    return mr > 0 ? md / mr : md;
}

static int runs_layer(int m, const layer *L)
{
    return use[m] && !(m == M_BLAS && L->cls == C_DW);
}

static void bench_layer(const layer *L, int t_lo, int t_hi, result *R)
{
    const conv_params *p = &L->p;
    size_t nin = (size_t)p->cin * p->h * p->w, nout = (size_t)p->cout * p->oh * p->ow;
    size_t nw = (size_t)p->cout * (p->cin / p->group) * p->kh * p->kw;
    ctx c;
    memset(&c, 0, sizeof c);
    memset(R, 0, sizeof *R);
    c.L = L;
    c.w = randv(nw);
    c.bias = randv(p->cout);
    float *in = randv(nin), *in_nhwc = xalloc(nin * sizeof(float));
    for (int ch = 0; ch < p->cin; ch++)
        for (int i = 0; i < p->h * p->w; i++) in_nhwc[(size_t)i * p->cin + ch] = in[(size_t)ch * p->h * p->w + i];
    c.in = in;
    c.in_nhwc = in_nhwc;
    float *ref = xalloc(nout * sizeof(float));
    ref_conv2d(p, in, c.w, c.bias, ref);
    c.out_ours = xalloc(nout * sizeof(float));
    c.out_dnnl = xalloc(nout * sizeof(float));
    c.out_nhwc = xalloc(nout * sizeof(float));
    c.out_xnn = xalloc(nout * sizeof(float));
    c.out_blas = xalloc(nout * sizeof(float));
    err_t e;
    c.ck = conv_prepare(p, c.w, c.bias, 0, &e);
    if (!c.ck) die("%s", e.msg);
    c.scratch = xalloc(conv_scratch_bytes(c.ck, MAXT));
    R->our_impl = conv_impl_name(c.ck);
#if BL_XNN
    if (use[M_XNN]) xnn_prep(&c);
#endif
#if BL_BLAS
    if (use[M_BLAS] && !blas_direct(p))
        c.col = xalloc((size_t)p->cin * p->kh * p->kw * p->oh * p->ow * sizeof(float));
#endif
    for (int m = 0; m < NM; m++) R->err[m] = -1;

    static double samp[NM][MAXSAMP], sconv[MAXSAMP];
    for (int nt = t_lo; nt <= t_hi; nt++) {
        int ti = nt - 1, ns[NM] = { 0 };
        set_threads(&c, nt);
#if BL_DNNL
        /* oneDNN splits the work for the OpenMP threads it sees when the
         * primitive is created */
        if (use[M_DNNL]) { dnnl_prep(&c); snprintf(R->dnnl_impl, sizeof R->dnnl_impl, "%s", c.dnnl_impl); }
#endif
        /* first calls: warm-up and the check against the reference */
        for (int m = 0; m < NM; m++) {
            if (!runs_layer(m, L)) continue;
            double dummy;
            settle(nt);
            block_begin(&c, m);
            memset(m == M_OURS ? c.out_ours : m == M_DNNL ? c.out_dnnl : m == M_XNN ? c.out_nhwc : c.out_blas,
                   0xff, nout * sizeof(float));   /* NaN: a result not written shows */
            run_one(&c, m, &dummy);
            const float *o = m == M_OURS ? c.out_ours : m == M_DNNL ? c.out_dnnl : m == M_XNN ? c.out_xnn : c.out_blas;
            if (m == M_XNN)
                for (int ch = 0; ch < p->cout; ch++)
                    for (int i = 0; i < p->oh * p->ow; i++)
                        c.out_xnn[(size_t)ch * p->oh * p->ow + i] = c.out_nhwc[(size_t)i * p->cout + ch];
            double er = maxrel(o, ref, nout);
            if (er > R->err[m]) R->err[m] = er;
            run_one(&c, m, &dummy);
            block_end(&c, m);
            settle(nt);
        }
        for (int r = 0; r < rounds; r++) {
            for (int j = 0; j < NM; j++) {
                int m = (r + j) % NM;
                if (!runs_layer(m, L)) continue;
                double conv, best = INFINITY, bs[MAXBLOCK], bc[MAXBLOCK];
                for (int try = 0;; try++) {
                    double ts[MAXBLOCK], tc[MAXBLOCK];
                    block_begin(&c, m);
                    run_one(&c, m, &conv);          /* untimed: caches, waking threads */
                    double w0 = rq_wait(), t0 = now();
                    for (int b = 0; b < block; b++) {
                        ts[b] = run_one(&c, m, &conv);
                        tc[b] = conv;
                    }
                    double took = now() - t0;
                    block_end(&c, m);
                    double waited = rq_wait() - w0;
                    settle(nt);
                    /* Another process took a CPU from one of our threads for
                     * more than 2% of the block: time it again, at most
                     * MAXRETRY times, then keep the least disturbed try. */
                    double frac = w0 < 0 ? 0 : waited / took;
                    if (frac < best) {
                        best = frac;
                        memcpy(bs, ts, block * sizeof *ts);
                        memcpy(bc, tc, block * sizeof *tc);
                    }
                    if (frac <= 0.02) break;
                    if (try == MAXRETRY) { R->disturbed++; break; }
                    R->retried++;
                }
                for (int b = 0; b < block && ns[m] < MAXSAMP; b++) {
                    samp[m][ns[m]] = bs[b];
                    if (m == M_DNNL) sconv[ns[m]] = bc[b];
                    ns[m]++;
                }
            }
        }
        /* median() sorts: the minimum is then the first */
        for (int m = 0; m < NM; m++) {
            R->ms[m][ti] = ns[m] ? median(samp[m], ns[m]) * 1e3 : -1;
            R->best[m][ti] = ns[m] ? samp[m][0] * 1e3 : -1;
        }
        R->dnnl_conv[ti] = ns[M_DNNL] ? median(sconv, ns[M_DNNL]) * 1e3 : -1;
        R->dnnl_conv_best[ti] = ns[M_DNNL] ? sconv[0] * 1e3 : -1;
#if BL_DNNL
        if (use[M_DNNL]) dnnl_free(&c);
#endif
    }

#if BL_XNN
    if (use[M_XNN]) { xnn_delete_operator(c.xop); free(c.w_ohwi); }
#endif
    conv_free(c.ck);
    free(c.scratch); free(c.col);
    free((void *)c.w); free((void *)c.bias); free(in); free(in_nhwc); free(ref);
    free(c.out_ours); free(c.out_dnnl); free(c.out_nhwc); free(c.out_xnn); free(c.out_blas);
}

/* ------------------------------------------------------------ report */

/* Columns of the tables: ours, dnnl (conv only), dnnl (with reorders),
 * xnn, blas (ours on depthwise layers). */
enum { K_OURS, K_DNNL, K_DNNLR, K_XNN, K_BLAS, NK };
static const char *kname[NK] = { "ours", "oneDNN", "oneDNN+reorders", "XNNPACK (NHWC)", "OpenBLAS (im2col+sgemm)" };

/* Column k's median (best = 0) or minimum (best = 1) ms. */
static double col_ms(const result *R, const layer *L, int k, int ti, int best)
{
    const double (*v)[MAXT] = best ? R->best : R->ms;
    switch (k) {
    case K_OURS: return v[M_OURS][ti];
    case K_DNNL: return best ? R->dnnl_conv_best[ti] : R->dnnl_conv[ti];
    case K_DNNLR: return v[M_DNNL][ti];
    case K_XNN: return v[M_XNN][ti];
    default: return L->cls == C_DW ? v[M_OURS][ti] : v[M_BLAS][ti];
    }
}

static int col_used(int k)
{
    return k == K_OURS ? 1 : k == K_DNNL || k == K_DNNLR ? use[M_DNNL] : k == K_XNN ? use[M_XNN] : use[M_BLAS];
}

static const char *act_name(const conv_params *p)
{
    return p->act == ACT_RELU ? "relu" : p->act == ACT_CLIP ? "clip" : "none";
}

static void print_layer(const layer *L, const result *R, int t_lo, int t_hi)
{
    const conv_params *p = &L->p;
    printf("%-12s %3d %4dx%3dx%-3d -> %4dx%3dx%-3d k%dx%d s%d g%-4d %-4s %-5s", L->model, L->idx,
           p->cin, p->h, p->w, p->cout, p->oh, p->ow, p->kh, p->kw, p->sh, p->group, act_name(p),
           cname[L->cls]);
    for (int nt = t_lo; nt <= t_hi; nt++) {
        printf(" | %dT", nt);
        for (int k = 0; k < NK; k++) {
            if (!col_used(k)) continue;
            if (k == K_BLAS && L->cls == C_DW) { printf("      - "); continue; }
            printf(" %7.3f", col_ms(R, L, k, nt - 1, 0));
        }
    }
    printf(" | err");
    for (int m = 0; m < NM; m++)
        if (use[m]) {
            if (R->err[m] < 0) printf("      -  ");
            else printf(" %8.1e", R->err[m]);
        }
    printf(" | %s", R->our_impl);
    if (use[M_DNNL]) printf(" %s", R->dnnl_impl);
    printf(" | again %d kept %d\n", R->retried, R->disturbed);
    fflush(stdout);
}

static void print_header(int t_lo, int t_hi)
{
    printf("# per layer: median ms; columns per thread count:");
    for (int k = 0; k < NK; k++)
        if (col_used(k)) printf(" %s", kname[k]);
    printf(" (OpenBLAS: '-' on depthwise layers)\n# err: max|d|/max|ref| against ref_conv2d of");
    for (int m = 0; m < NM; m++)
        if (use[m]) printf(" %s", mname[m]);
    printf("; our kernel%s; blocks timed again because another process took a CPU,"
           " and blocks kept disturbed (the least disturbed of %d tries)\n", use[M_DNNL] ? " and oneDNN's implementation" : "",
           MAXRETRY + 1);
    (void)t_lo; (void)t_hi;
}

typedef struct { char name[64]; double ms[2][NK][MAXT]; int n, win[2][NK][MAXT]; } total;

static void add_total(total *T, const layer *L, const result *R, int t_lo, int t_hi)
{
    T->n++;
    for (int b = 0; b < 2; b++)
        for (int nt = t_lo; nt <= t_hi; nt++)
            for (int k = 0; k < NK; k++) {
                if (!col_used(k)) continue;
                double v = col_ms(R, L, k, nt - 1, b);
                T->ms[b][k][nt - 1] += v;
                /* a clear win over ours: at least 10% less time */
                if (k != K_OURS && !(k == K_BLAS && L->cls == C_DW) && v < 0.9 * col_ms(R, L, K_OURS, nt - 1, b))
                    T->win[b][k][nt - 1]++;
            }
}

static void print_totals(const char *what, total *T, int nt_count, int t_lo, int t_hi, int b)
{
    printf("\n%s:\n\n| %s | threads | layers |", b ? "Sums of the per-layer minima" : "Sums of the per-layer medians", what);
    for (int k = 0; k < NK; k++)
        if (col_used(k)) printf(" %s ms |", kname[k]);
    printf("\n|---|---:|---:|");
    for (int k = 0; k < NK; k++)
        if (col_used(k)) printf("---:|");
    printf("\n");
    for (int i = 0; i < nt_count; i++)
        for (int nt = t_lo; nt <= t_hi && T[i].n; nt++) {
            printf("| %s | %d | %d |", T[i].name, nt, T[i].n);
            for (int k = 0; k < NK; k++) {
                if (!col_used(k)) continue;
                double o = T[i].ms[b][K_OURS][nt - 1], v = T[i].ms[b][k][nt - 1];
                if (k == K_OURS) printf(" %.2f |", v);
                else printf(" %.2f (%.2fx, %d faster) |", v, o > 0 ? v / o : 0, T[i].win[b][k][nt - 1]);
            }
            printf("\n");
        }
}

static const char *models[][2] = {
    { "googlenet", "googlenet-bvlc.onnx" },
    { "squeezenet", "squeezenet1.1-bvlc.onnx" },
    { "resnet18", "random/resnet18_bn.onnx" },
    { "mobilenetv2", "random/mobilenet_v2_bn.onnx" },
};

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " [-m ours,dnnl,xnn,blas] [-n model] [-l cin,hw,cout,k,s,g]"
                    " [-t threads] [-r rounds] [-b block]\n");
    exit(2);
}

int main(int argc, char **argv)
{
#if BL_BLAS
    /* OpenBLAS's idle workers spin (sched_yield) for 2^28 cycles after each
     * call, which starves the next contender's threads at 2 threads; it
     * reads this at load time, hence the exec.  2^20 cycles (about 0.3 ms)
     * still keeps them awake between back-to-back calls. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1);
        execv("/proc/self/exe", argv);
    }
#endif
    const char *only = NULL, *methods = NULL;
    int threads = 0, opt;
    layer one;
    int have_one = 0;
    while ((opt = getopt(argc, argv, "m:n:l:t:r:b:")) != -1) {
        switch (opt) {
        case 'm': methods = optarg; break;
        case 'n': only = optarg; break;
        case 't': threads = atoi(optarg); if (threads < 1 || threads > MAXT) usage(); break;
        case 'r': rounds = atoi(optarg); if (rounds < 1 || rounds > 100) usage(); break;
        case 'b': block = atoi(optarg); if (block < 1 || block > MAXBLOCK) usage(); break;
        case 'l': {
            int cin, hw, cout, k, s, g;
            if (sscanf(optarg, "%d,%d,%d,%d,%d,%d", &cin, &hw, &cout, &k, &s, &g) != 6 ||
                cin < 1 || hw < 1 || cout < 1 || k < 1 || s < 1 || g < 1 || cin % g || cout % g ||
                cin > 4096 || cout > 4096 || hw > 1024 || k > 11 || s > 4 || hw + 2 * (k / 2) < k) {
                fprintf(stderr, PROG ": -l cin,hw,cout,k,stride,group\n");
                return 2;
            }
            memset(&one, 0, sizeof one);
            conv_params *p = &one.p;
            p->cin = cin; p->h = p->w = hw; p->cout = cout; p->kh = p->kw = k;
            p->sh = p->sw = s; p->dh = p->dw = 1; p->pt = p->pl = p->pb = p->pr = k / 2;
            p->group = g; p->act = ACT_RELU;
            p->oh = p->ow = (hw + 2 * (k / 2) - k) / s + 1;
            snprintf(one.model, sizeof one.model, "layer");
            one.cls = layer_class(p);
            have_one = 1;
            break;
        }
        default: usage();
        }
    }
    if (optind != argc) usage();
    if (rounds * block > MAXSAMP) usage();
    for (int m = 0; m < NM; m++) use[m] = mbuilt[m];
    if (methods) {
        memset(use, 0, sizeof use);
        use[M_OURS] = 1;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", methods);
        for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
            int m;
            for (m = 0; m < NM && strcmp(s, mname[m]); m++) {}
            if (m == NM) { fprintf(stderr, PROG ": -m: unknown '%s' (ours, dnnl, xnn, blas)\n", s); return 2; }
            if (!mbuilt[m]) {
                fprintf(stderr, PROG ": built without %s: apt-get install %s, then make bench-libs\n", s, mpkg[m]);
                return 2;
            }
            use[m] = 1;
        }
    }

    layer *L = NULL;
    int nl = 0;
    if (have_one) {
        L = malloc(sizeof *L);
        if (!L) die("%s", "out of memory");
        L[0] = one;
        nl = 1;
    } else {
        for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
            if (only && !strstr(models[i][1], only) && !strstr(models[i][0], only)) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/models/%s", shared_dir(), models[i][1]);
            if (access(path, R_OK)) {
                fprintf(stderr, PROG ": %s: %s (set CAM_SHARED to the shared data)\n", path, strerror(errno));
                return 1;
            }
            model_layers(path, models[i][0], &L, &nl);
        }
        if (!nl) { fprintf(stderr, PROG ": -n %s: no such model\n", only ? only : ""); return 2; }
    }

    int t_lo = threads ? threads : 1, t_hi = threads ? threads : MAXT;
    for (int nt = 1; nt <= MAXT; nt++) pools[nt] = tp_create(nt);
    printf("# ours: %s", simd_name(simd_level()));
#if BL_DNNL
    if (use[M_DNNL]) {
        DN(dnnl_engine_create(&dn_eng, dnnl_cpu, 0));
        DN(dnnl_stream_create(&dn_str, dn_eng, dnnl_stream_default_flags));
        const dnnl_version_t *v = dnnl_version();
        printf("; oneDNN %d.%d.%d, effective ISA %s, OpenMP", v->major, v->minor, v->patch,
               dnnl_isa_name(dnnl_get_effective_cpu_isa()));
    }
#endif
#if BL_XNN
    if (use[M_XNN]) {
        if (xnn_initialize(NULL) != xnn_status_success) die("%s", "xnn_initialize failed");
        printf("; XNNPACK (Debian 0.0~git20220216), pthreadpool");
    }
#endif
#if BL_BLAS
    if (use[M_BLAS]) printf("; %s, core %s", openblas_get_config(), openblas_get_corename());
#endif
    printf("\n# %d layers, %d rounds x %d calls per contender, medians, wall clock\n", nl, rounds, block);
    print_header(t_lo, t_hi);
    fflush(stdout);

    total models_t[8], cls_t[NC];
    int nmodels = 0;
    memset(models_t, 0, sizeof models_t);
    memset(cls_t, 0, sizeof cls_t);
    for (int c = 0; c < NC; c++) snprintf(cls_t[c].name, sizeof cls_t[c].name, "%s", cname[c]);
    double maxerr[NM] = { 0 };
    int again = 0, kept = 0;
    for (int i = 0; i < nl; i++) {
        result R;
        bench_layer(&L[i], t_lo, t_hi, &R);
        print_layer(&L[i], &R, t_lo, t_hi);
        if (!nmodels || strcmp(models_t[nmodels - 1].name, L[i].model)) {
            if (nmodels == 8) die("%s", "too many models");
            snprintf(models_t[nmodels++].name, sizeof models_t[0].name, "%s", L[i].model);
        }
        add_total(&models_t[nmodels - 1], &L[i], &R, t_lo, t_hi);
        add_total(&cls_t[L[i].cls], &L[i], &R, t_lo, t_hi);
        for (int m = 0; m < NM; m++)
            if (R.err[m] > maxerr[m]) maxerr[m] = R.err[m];
        again += R.retried;
        kept += R.disturbed;
    }
    print_totals("model", models_t, nmodels, t_lo, t_hi, 0);
    print_totals("layers", cls_t, NC, t_lo, t_hi, 0);
    print_totals("model", models_t, nmodels, t_lo, t_hi, 1);
    print_totals("layers", cls_t, NC, t_lo, t_hi, 1);
    printf("\n(r x, n faster): total over ours, and layers at least 10%% faster than ours; OpenBLAS totals count"
           " ours on depthwise layers.  On a loaded machine the minima are the closer estimate of what each"
           " contender does undisturbed.\n");
    printf("largest error against ref_conv2d:");
    for (int m = 0; m < NM; m++)
        if (use[m]) printf(" %s %.1e", mname[m], maxerr[m]);
    printf("\nblocks timed again: %d; disturbed blocks kept: %d; load average at the end: ", again, kept);
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[64] = "?";
    if (la) { if (!fgets(lbuf, sizeof lbuf, la)) lbuf[0] = 0; fclose(la); }
    printf("%s", lbuf);
    free(L);
    for (int nt = 1; nt <= MAXT; nt++) tp_free(pools[nt]);
    return 0;
}
