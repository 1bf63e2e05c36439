/* bench_engine.c - milliseconds per inference of the engine on a model:
 * median of RUNS runs after 3 warm-up runs, at each thread count given,
 * with a per-operator profile when -p is given, or a per-node one with -n
 * (each node's fastest run, wall clock: which nodes scale badly with
 * threads shows in the columns of two runs at 1 and 2 threads).
 *
 * -fast keeps every Winograd layer's transforms, as cnn-features -fast.
 *
 *   bench_engine [-r RUNS] [-p | -n] [-fast] MODEL [THREADS...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine.h"
#include "engine_int.h"
#include "graph.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int wall_clock(double *ms)
{
    *ms = now_ms();
    return 0;
}

/* CPU time of the calling thread: with one thread, a profile that the
 * other loads of a shared machine do not distort */
static int thread_clock(double *ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    *ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    return 0;
}

/* per operator type: total ms */
static struct {
    const char *op;
    double ms;
    int n;
} prof[64];
static int nprof;

static void prof_node(void *ctx, const char *op, const char *name, double ms)
{
    int i;
    for (i = 0; i < nprof; i++)
        if (!strcmp(prof[i].op, op))
            break;
    if (i == nprof) {
        if (nprof == 64)
            return;
        prof[nprof++].op = op;
    }
    prof[i].ms += ms;
    prof[i].n++;
}

/* per node: the fastest of the runs */
static struct {
    const char *op, *name;
    double min;
} nodes[4096];
static int nnodes, node_at;

static void node_time(void *ctx, const char *op, const char *name, double ms)
{
    int i = node_at++;
    if (i >= 4096)
        return;
    if (i == nnodes) {
        nodes[i].op = op;
        nodes[i].name = name;
        nodes[i].min = ms;
        nnodes++;
    } else if (ms < nodes[i].min)
        nodes[i].min = ms;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 20, ai = 1, profile = 0, per_node = 0, keep = 0;
    graph g;
    err_t e;
    while (ai < argc && argv[ai][0] == '-') {
        if (!strcmp(argv[ai], "-r") && ai + 1 < argc)
            runs = atoi(argv[ai + 1]), ai += 2;
        else if (!strcmp(argv[ai], "-p"))
            profile = 1, ai++;
        else if (!strcmp(argv[ai], "-n"))
            per_node = 1, ai++;
        else if (!strcmp(argv[ai], "-fast"))
            keep = 1, ai++;
        else {
            fprintf(stderr, "usage: bench_engine [-r RUNS] [-p | -n] [-fast] MODEL [THREADS...]\n");
            return 2;
        }
    }
    if (ai >= argc || runs < 1 || runs > 10000) {
        fprintf(stderr, "usage: bench_engine [-r RUNS] [-p | -n] [-fast] MODEL [THREADS...]\n");
        return 2;
    }
    graph_init(&g);
    if (graph_load(argv[ai], &g, &e) < 0) {
        fprintf(stderr, "bench_engine: %s\n", e.msg);
        return 1;
    }
    int nth = argc - ai - 1;
    for (int ti = 0; ti < (nth ? nth : 2); ti++) {
        int threads = nth ? atoi(argv[ai + 1 + ti]) : ti + 1;
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.threads = threads;
        o.keep_transforms = keep;
        double p0 = now_ms(), pc0 = cpu_ms();
        engine *en = engine_create(&g, &o, &e);
        double plan_ms = now_ms() - p0, plan_cpu = cpu_ms() - pc0;
        if (!en) {
            fprintf(stderr, "bench_engine: %s\n", e.msg);
            return 1;
        }
        int64_t d[8];
        int nd = engine_input_shape(en, d);
        size_t n = 1;
        for (int i = 0; i < nd; i++)
            n *= (size_t)d[i];
        float *in = malloc(n * sizeof(float) + 4);
        double *t = malloc(sizeof(double) * (size_t)runs), *tc = malloc(sizeof(double) * (size_t)runs);
        if (!in || !t || !tc)
            return 1;
        for (size_t i = 0; i < n; i++)
            in[i] = (float)((i * 2654435761u) % 1000) / 10.0f - 50.0f;
        for (int r = 0; r < 3; r++)
            engine_run(en, in, &e);
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms(), c0 = cpu_ms();
            engine_run(en, in, &e);
            t[r] = now_ms() - t0;
            tc[r] = cpu_ms() - c0;
        }
        qsort(t, (size_t)runs, sizeof *t, cmp_d);
        qsort(tc, (size_t)runs, sizeof *tc, cmp_d);
        printf("%s: %d thread%s: median %.2f ms, min %.2f ms (%d runs); CPU time median %.2f ms; "
               "engine_create %.1f ms (CPU %.1f ms)\n",
               argv[ai], threads, threads == 1 ? "" : "s", t[runs / 2], t[0], runs, tc[runs / 2],
               plan_ms, plan_cpu);
        if (profile) {
            nprof = 0;
            memset(prof, 0, sizeof prof);   /* the previous thread count's sums */
            for (int r = 0; r < runs; r++)
                engine_profile(en, in, threads == 1 ? thread_clock : wall_clock, prof_node, NULL, &e);
            for (int i = 0; i < nprof; i++)
                printf("  %-20s %4d nodes %8.2f ms per run (%s)\n", prof[i].op, prof[i].n / runs, prof[i].ms / runs,
                       threads == 1 ? "CPU time" : "wall");
        }
        if (per_node) {
            nnodes = 0;
            double sum = 0;
            for (int r = 0; r < runs; r++) {
                node_at = 0;
                engine_profile(en, in, wall_clock, node_time, NULL, &e);
            }
            for (int i = 0; i < nnodes; i++) {
                printf("  %8.3f ms  %-18s %s\n", nodes[i].min, nodes[i].op, nodes[i].name);
                sum += nodes[i].min;
            }
            printf("  %8.3f ms  sum of the nodes' fastest runs (wall), %d thread%s\n", sum, threads,
                   threads == 1 ? "" : "s");
        }
        free(in);
        free(t);
        free(tc);
        engine_free(en);
    }
    graph_free(&g);
    return 0;
}
