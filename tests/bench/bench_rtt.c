/* bench_rtt: the round trip of a cache line between the first two CPUs
 * this process may run on, in ns (median of 7 batches of 20000 hand-offs),
 * or "-" with fewer than two CPUs.
 *
 * make bench prints it beside every row.  On a virtual machine the host
 * may place the two vCPUs on cores that share a cache (about 50-80 ns) or
 * on distant ones (about 350 ns), and it moves them now and then: with
 * them apart, every layer run on two threads reads what the other core
 * wrote through the distant path (MobileNetV2 at two threads took 7.3-7.6
 * ms in such a spell instead of 4.1, the FMA probe at full speed on both
 * vCPUs).  The column says which case a row ran in; a core busy with
 * something else reads far higher still. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define HANDOFFS 20000
#define BATCHES 7

static volatile int flag __attribute__((aligned(64)));
static int cpus[2];

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *partner(void *arg)
{
    (void)arg;
    pin(cpus[1]);           /* unpinned, it still hands the line over */
    for (int b = 0; b < BATCHES; b++)
        for (int i = 0; i < HANDOFFS; i++) {
            int want = 2 * (b * HANDOFFS + i) + 1;
            while (flag != want)
                ;
            flag = want + 1;
        }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    cpu_set_t s;
    int n = 0;
    if (sched_getaffinity(0, sizeof s, &s) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &s))
                cpus[n++] = c;
    pthread_t t;
    if (n < 2 || pin(cpus[0]) != 0 || pthread_create(&t, NULL, partner, NULL) != 0) {
        puts("-");
        return 0;
    }
    double ns[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < HANDOFFS; i++) {
            int want = 2 * (b * HANDOFFS + i) + 1;
            flag = want;
            while (flag != want + 1)
                ;
        }
        ns[b] = (now_ns() - t0) / HANDOFFS;
    }
    pthread_join(t, NULL);
    qsort(ns, BATCHES, sizeof *ns, cmp);
    printf("%.0f\n", ns[BATCHES / 2]);
    return 0;
}
