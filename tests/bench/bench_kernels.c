/* bench_kernels.c - GFLOP/s of conv_run on the convolution layers of
 * GoogLeNet, MobileNetV2 and ResNet-18 (224x224 input) and SqueezeNet 1.1
 * (227x227), at 1 and 2 threads, and of sgemm on a few square sizes.
 *
 *   bench_kernels [-bcv] [-n googlenet|mobilenetv2|resnet18|squeezenet|stems|all]
 *                 [-l cin,hw,cout,k,stride,group] [-t threads] [-r runs]
 *
 * -b reports the best run instead of the median; -c times with process CPU time divided by the threads (steadier on a
 * shared machine, blind to idle waits), -v prints every layer.
 *
 * Prints one line per layer with -v, and per network the sum of the
 * per-layer median (or best) times.  Run with CAM_SIMD=avx2|portable to compare,
 * CAM_WINO=0 to see the 3x3 layers without Winograd (1, 2: forced with
 * kept or per-run transformed filters), CAM_DIRECT=0 to see the first
 * convs (-n stems: the four networks' ones) through im2col + GEMM instead
 * of the direct kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kernels.h"
#include "threadpool.h"

typedef struct { int cin, hw, cout, k, s, g; } layer;

static const layer googlenet[] = {
    {3,224,64,7,2,1}, {64,56,64,1,1,1}, {64,56,192,3,1,1},
    /* 3a */ {192,28,64,1,1,1}, {192,28,96,1,1,1}, {96,28,128,3,1,1}, {192,28,16,1,1,1}, {16,28,32,5,1,1}, {192,28,32,1,1,1},
    /* 3b */ {256,28,128,1,1,1}, {256,28,128,1,1,1}, {128,28,192,3,1,1}, {256,28,32,1,1,1}, {32,28,96,5,1,1}, {256,28,64,1,1,1},
    /* 4a */ {480,14,192,1,1,1}, {480,14,96,1,1,1}, {96,14,208,3,1,1}, {480,14,16,1,1,1}, {16,14,48,5,1,1}, {480,14,64,1,1,1},
    /* 4b */ {512,14,160,1,1,1}, {512,14,112,1,1,1}, {112,14,224,3,1,1}, {512,14,24,1,1,1}, {24,14,64,5,1,1}, {512,14,64,1,1,1},
    /* 4c */ {512,14,128,1,1,1}, {512,14,128,1,1,1}, {128,14,256,3,1,1}, {512,14,24,1,1,1}, {24,14,64,5,1,1}, {512,14,64,1,1,1},
    /* 4d */ {512,14,112,1,1,1}, {512,14,144,1,1,1}, {144,14,288,3,1,1}, {512,14,32,1,1,1}, {32,14,64,5,1,1}, {512,14,64,1,1,1},
    /* 4e */ {528,14,256,1,1,1}, {528,14,160,1,1,1}, {160,14,320,3,1,1}, {528,14,32,1,1,1}, {32,14,128,5,1,1}, {528,14,128,1,1,1},
    /* 5a */ {832,7,256,1,1,1}, {832,7,160,1,1,1}, {160,7,320,3,1,1}, {832,7,32,1,1,1}, {32,7,128,5,1,1}, {832,7,128,1,1,1},
    /* 5b */ {832,7,384,1,1,1}, {832,7,192,1,1,1}, {192,7,384,3,1,1}, {832,7,48,1,1,1}, {48,7,128,5,1,1}, {832,7,128,1,1,1},
    {0,0,0,0,0,0}
};

static const layer resnet18[] = {
    {3,224,64,7,2,1},
    {64,56,64,3,1,1}, {64,56,64,3,1,1}, {64,56,64,3,1,1}, {64,56,64,3,1,1},
    {64,56,128,3,2,1}, {128,28,128,3,1,1}, {64,56,128,1,2,1}, {128,28,128,3,1,1}, {128,28,128,3,1,1},
    {128,28,256,3,2,1}, {256,14,256,3,1,1}, {128,28,256,1,2,1}, {256,14,256,3,1,1}, {256,14,256,3,1,1},
    {256,14,512,3,2,1}, {512,7,512,3,1,1}, {256,14,512,1,2,1}, {512,7,512,3,1,1}, {512,7,512,3,1,1},
    {0,0,0,0,0,0}
};

/* SqueezeNet 1.1 at 227x227: the stem, then per fire module squeeze 1x1,
 * expand 1x1 and expand 3x3 */
#define FIRE(c, hw, sq, ex) {c,hw,sq,1,1,1}, {sq,hw,ex,1,1,1}, {sq,hw,ex,3,1,1}
static const layer squeezenet[] = {
    {3,227,64,3,2,1},
    FIRE(64,56,16,64), FIRE(128,56,16,64),
    FIRE(128,28,32,128), FIRE(256,28,32,128),
    FIRE(256,14,48,192), FIRE(384,14,48,192), FIRE(384,14,64,256), FIRE(512,14,64,256),
    {512,14,1000,1,1,1},
    {0,0,0,0,0,0}
};

#define IR(c, hw, t, co, s) {c,hw,(c)*(t),1,1,1}, {(c)*(t),hw,(c)*(t),3,s,(c)*(t)}, {(c)*(t),(s)==2?(hw)/2:(hw),co,1,1,1}
static const layer mobilenetv2[] = {
    {3,224,32,3,2,1}, {32,112,32,3,1,32}, {32,112,16,1,1,1},
    IR(16,112,6,24,2), IR(24,56,6,24,1),
    IR(24,56,6,32,2), IR(32,28,6,32,1), IR(32,28,6,32,1),
    IR(32,28,6,64,2), IR(64,14,6,64,1), IR(64,14,6,64,1), IR(64,14,6,64,1),
    IR(64,14,6,96,1), IR(96,14,6,96,1), IR(96,14,6,96,1),
    IR(96,14,6,160,2), IR(160,7,6,160,1), IR(160,7,6,160,1),
    IR(160,7,6,320,1), {320,7,1280,1,1,1},
    {0,0,0,0,0,0}
};

/* The first conv of each network (few input channels: the direct
 * kernel, kern_direct.h; CAM_DIRECT=0 for the GEMM path it replaced) */
static const layer stems[] = {
    {3,224,64,7,2,1},     /* GoogLeNet, ResNet-18 */
    {3,227,64,3,2,1},     /* SqueezeNet 1.1 (here padded 1: 114x114) */
    {3,224,32,3,2,1},     /* MobileNetV2 */
    {0,0,0,0,0,0}
};

static int cputime;   /* -c: process CPU time / threads instead of wall time */
static int cur_threads = 1;

static double now(void)
{
    struct timespec ts;
    if (cputime) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (ts.tv_sec + ts.tv_nsec * 1e-9) / cur_threads;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *randv(size_t n)
{
    float *v = malloc(n * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < n; i++) v[i] = (float)rand() / RAND_MAX - 0.5f;
    return v;
}

static int runs = 20, verbose, best;
static layer one[2];

/* median seconds of conv_run on one layer */
static double bench_layer(const layer *L, threadpool *tp, double *flops, const char **impl)
{
    conv_params p = { .cin = L->cin, .h = L->hw, .w = L->hw, .cout = L->cout,
                      .kh = L->k, .kw = L->k, .sh = L->s, .sw = L->s, .dh = 1, .dw = 1,
                      .pt = L->k / 2, .pl = L->k / 2, .pb = L->k / 2, .pr = L->k / 2,
                      .group = L->g, .act = ACT_RELU };
    p.oh = (p.h + 2 * (L->k / 2) - L->k) / L->s + 1;
    p.ow = p.oh;
    size_t nw = (size_t)p.cout * (p.cin / p.group) * p.kh * p.kw;
    float *w = randv(nw), *b = randv(p.cout);
    float *in = randv((size_t)p.cin * p.h * p.w);
    float *out = malloc((size_t)p.cout * p.oh * p.ow * sizeof *out);
    err_t e;
    conv_kernel *k = conv_prepare(&p, w, b, 0, &e);
    if (!k) { fprintf(stderr, "bench_kernels: %s\n", e.msg); exit(1); }
    void *scratch = NULL;
    size_t sb = conv_scratch_bytes(k, tp_size(tp));
    if (sb && posix_memalign(&scratch, 64, sb)) abort();
    double t[200];
    for (int i = 0; i < 3; i++) conv_run(k, in, out, scratch, tp);
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        conv_run(k, in, out, scratch, tp);
        t[i] = now() - t0;
    }
    qsort(t, runs, sizeof *t, cmpd);
    *flops = 2.0 * p.cout * p.oh * p.ow * (double)(p.cin / p.group) * p.kh * p.kw;
    *impl = conv_impl_name(k);
    conv_free(k);
    free(scratch); free(w); free(b); free(in); free(out);
    return best ? t[0] : t[runs / 2];
}

static void bench_net(const char *name, const layer *L, int nthreads)
{
    threadpool *tp = tp_create(nthreads);
    cur_threads = nthreads;
    double total = 0, tflops = 0;
    for (int i = 0; L[i].cin; i++) {
        double fl;
        const char *impl;
        double t = bench_layer(&L[i], tp, &fl, &impl);
        total += t;
        tflops += fl;
        if (verbose)
            printf("%-12s %dT %4d x %3dx%-3d -> %4d k%d s%d g%-4d %-18s %8.3f ms %7.1f GFLOP/s\n",
                   name, nthreads, L[i].cin, L[i].hw, L[i].hw, L[i].cout, L[i].k, L[i].s, L[i].g,
                   impl, t * 1e3, fl / t * 1e-9);
    }
    printf("%-12s %dT  convs: %8.3f ms  %6.2f GFLOP  %7.1f GFLOP/s  [%s]\n", name, nthreads,
           total * 1e3, tflops * 1e-9, tflops / total * 1e-9, simd_name(simd_level()));
    fflush(stdout);
    tp_free(tp);
}

int main(int argc, char **argv)
{
    const char *net = "all";
    int threads = 0, c;
    while ((c = getopt(argc, argv, "bcl:n:t:r:v")) != -1) {
        switch (c) {
        case 'n': net = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'v': verbose = 1; break;
        case 'c': cputime = 1; break;
        case 'b': best = 1; break;
        case 'l':
            if (sscanf(optarg, "%d,%d,%d,%d,%d,%d", &one[0].cin, &one[0].hw, &one[0].cout,
                       &one[0].k, &one[0].s, &one[0].g) != 6) {
                fprintf(stderr, "bench_kernels: -l cin,hw,cout,k,stride,group\n");
                return 2;
            }
            net = "one";
            verbose = 1;
            break;
        default:
            fprintf(stderr, "usage: bench_kernels [-bcv] [-n net] [-l cin,hw,cout,k,s,g] [-t threads] [-r runs]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 200) runs = 20;
    if (!strcmp(net, "one")) runs = runs < 200 ? runs : 200;
    for (int t = 1; t <= 2; t++) {
        if (threads && t != threads) continue;
        if (!strcmp(net, "one")) bench_net("layer", one, t);
        if (!strcmp(net, "all") || !strcmp(net, "googlenet")) bench_net("googlenet", googlenet, t);
        if (!strcmp(net, "all") || !strcmp(net, "mobilenetv2")) bench_net("mobilenetv2", mobilenetv2, t);
        if (!strcmp(net, "all") || !strcmp(net, "resnet18")) bench_net("resnet18", resnet18, t);
        if (!strcmp(net, "all") || !strcmp(net, "squeezenet")) bench_net("squeezenet", squeezenet, t);
        if (!strcmp(net, "stems")) bench_net("stems", stems, t);
    }
    return 0;
}
