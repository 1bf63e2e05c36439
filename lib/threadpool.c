/* threadpool.c - persistent worker threads for data-parallel loops.
 *
 * tp_run() publishes a job (function, context, task count) under a new
 * generation number; workers poll for it a short while (a few tens of
 * microseconds: long enough to catch the next layer's job, short enough
 * not to steal a shared machine's CPU), yield the CPU a few times, then
 * sleep on a condition variable.  Tasks are handed out with an atomic
 * counter and the calling thread takes its share too.
 *
 * tp_run() returns once every task is finished, without waiting for
 * workers that have not joined the job: on a busy machine a worker that
 * is asleep or not scheduled would otherwise hold up every layer by a
 * scheduler time slice, although the caller can run the tasks itself.
 * A worker joins a job by raising `active` and checking that the
 * generation has not moved; the next tp_run() marks the generation odd
 * (being rewritten) and waits for `active` to fall to zero before it
 * touches the job's fields, so a late worker sees either a whole job or
 * none (both sides use sequentially consistent atomics: each sees the
 * other's write).
 *
 * A tp_run() issued from inside a task (on any pool) runs inline on the
 * calling thread, so nested parallel loops cannot deadlock.
 *
 * Each worker is started on a CPU other than the creator's (one it may
 * run on), then given back every CPU it may run on: Linux otherwise
 * often queues a new thread on its busy creator's CPU, where it waited
 * about 3.7 ms (a time slice) for its first turn here, against 0.12-0.23
 * ms started elsewhere.  A process that plans and runs one image on two
 * threads lost the second thread for that long.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include "threadpool.h"

#define TP_SPIN  3000   /* pause-polls before yielding */
#define TP_YIELD 20     /* sched_yield polls before sleeping */

struct threadpool {
    int n;                           /* threads including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    /* the current job: written only while gen is odd and active is 0 */
    void (*fn)(void *, int, int);
    void *ctx;
    int ntasks;
    int next;                        /* atomic: next task to take */
    int ndone;                       /* atomic: tasks finished */
    unsigned gen;                    /* atomic: even: job published; odd: being written */
    int active;                      /* atomic: workers inside the current job */
    int sleepers;                    /* workers blocked on wake (mu) */
    int waiting;                     /* caller blocked on done (mu) */
    int quit;
};

typedef struct {
    threadpool *tp;
    int id;
#ifdef CPU_SETSIZE
    int placed;                      /* started on one CPU: give all back */
    cpu_set_t cpus;                  /* the CPUs it may run on */
#endif
} tp_arg;

static _Thread_local int tp_inside;   /* this thread is running a task */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A job this worker has not run yet is published. */
static int tp_new_job(threadpool *tp, unsigned seen)
{
    unsigned g = __atomic_load_n(&tp->gen, __ATOMIC_ACQUIRE);
    return (g != seen && !(g & 1)) || __atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE);
}

/* Polls until a new job is published (returns 1) or the budget is spent. */
static int tp_poll_job(threadpool *tp, unsigned seen)
{
    for (int i = 0; i < TP_SPIN + TP_YIELD; i++) {
        if (tp_new_job(tp, seen))
            return 1;
        if (i < TP_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    return 0;
}

static int tp_all_done(threadpool *tp)
{
    return __atomic_load_n(&tp->ndone, __ATOMIC_ACQUIRE) == tp->ntasks;
}

static int tp_poll_done(threadpool *tp)
{
    for (int i = 0; i < TP_SPIN + TP_YIELD; i++) {
        if (tp_all_done(tp))
            return 1;
        if (i < TP_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    return 0;
}

/* Takes and runs tasks until none is left; the one finishing the last
 * task wakes a caller blocked on it. */
static void tp_work(threadpool *tp, int id)
{
    int nt = tp->ntasks;
    for (;;) {
        int t = __atomic_fetch_add(&tp->next, 1, __ATOMIC_RELAXED);
        if (t >= nt) break;
        tp->fn(tp->ctx, t, id);
        if (__atomic_add_fetch(&tp->ndone, 1, __ATOMIC_ACQ_REL) == nt && id != 0) {
            pthread_mutex_lock(&tp->mu);
            if (tp->waiting)
                pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
}

static void *tp_main(void *p)
{
    tp_arg *a = p;
    threadpool *tp = a->tp;
    int id = a->id;
    unsigned seen = 0;
#ifdef CPU_SETSIZE
    if (a->placed)
        pthread_setaffinity_np(pthread_self(), sizeof a->cpus, &a->cpus);
#endif
    free(a);
    tp_inside = 1;
    for (;;) {
        if (!tp_poll_job(tp, seen)) {
            pthread_mutex_lock(&tp->mu);
            while (!tp_new_job(tp, seen)) {
                tp->sleepers++;
                pthread_cond_wait(&tp->wake, &tp->mu);
                tp->sleepers--;
            }
            pthread_mutex_unlock(&tp->mu);
        }
        if (__atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE))
            break;
        unsigned g = __atomic_load_n(&tp->gen, __ATOMIC_SEQ_CST);
        if (g == seen || (g & 1))
            continue;
        /* join: the job's fields stay put while active > 0, provided
         * the generation did not move before active was raised */
        __atomic_add_fetch(&tp->active, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&tp->gen, __ATOMIC_SEQ_CST) == g) {
            seen = g;
            tp_work(tp, id);
        }
        __atomic_sub_fetch(&tp->active, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

threadpool *tp_create(int n)
{
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    if (n < 1) n = 1;
    tp->n = 1;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    if (n > 1) {
        tp->tid = calloc((size_t)n - 1, sizeof *tp->tid);
        if (!tp->tid) {
            tp_free(tp);
            return NULL;
        }
#ifdef CPU_SETSIZE
        cpu_set_t cpus;
        int ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 0;
        int me = sched_getcpu(), next = -1;
#endif
        for (int i = 1; i < n; i++) {
            tp_arg *a = calloc(1, sizeof *a);
            if (!a) break;
            a->tp = tp;
            a->id = i;
            int ok = 0;
#ifdef CPU_SETSIZE
            if (ncpu > 1) {
                /* the next CPU allowed after the last one given, not the
                 * creator's */
                do
                    next = (next + 1) % CPU_SETSIZE;
                while (!CPU_ISSET(next, &cpus) || next == me);
                pthread_attr_t at;
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(next, &one);
                a->placed = 1;
                a->cpus = cpus;
                if (pthread_attr_init(&at) == 0) {
                    ok = pthread_attr_setaffinity_np(&at, sizeof one, &one) == 0 &&
                         pthread_create(&tp->tid[i - 1], &at, tp_main, a) == 0;
                    pthread_attr_destroy(&at);
                }
                if (!ok)
                    a->placed = 0;      /* not started: a is still ours */
            }
#endif
            if (!ok && pthread_create(&tp->tid[i - 1], NULL, tp_main, a) != 0) {
                free(a);
                break;
            }
            tp->n = i + 1;    /* fewer threads than asked if creation fails */
        }
    }
    return tp;
}

int tp_size(const threadpool *tp)
{
    return tp ? tp->n : 1;
}

void tp_run(threadpool *tp, int ntasks, void (*fn)(void *ctx, int task, int thread), void *ctx)
{
    if (ntasks <= 0) return;
    if (!tp || tp->n <= 1 || ntasks == 1 || tp_inside) {
        int was = tp_inside;
        tp_inside = 1;
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        tp_inside = was;
        return;
    }
    /* odd generation: no worker joins; then wait for those still inside
     * the previous job (they only find its tasks all taken) */
    unsigned g = __atomic_load_n(&tp->gen, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->gen, g + 1, __ATOMIC_SEQ_CST);
    for (int i = 0; __atomic_load_n(&tp->active, __ATOMIC_SEQ_CST) != 0; i++) {
        /* a worker preempted on its way out: let it run */
        if (i < TP_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    tp->fn = fn;
    tp->ctx = ctx;
    tp->ntasks = ntasks;
    __atomic_store_n(&tp->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->ndone, 0, __ATOMIC_RELAXED);
    /* The release store of gen publishes fn, ctx, ntasks, next, ndone. */
    pthread_mutex_lock(&tp->mu);
    __atomic_store_n(&tp->gen, g + 2, __ATOMIC_SEQ_CST);
    if (tp->sleepers)
        pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);

    tp_inside = 1;
    tp_work(tp, 0);
    tp_inside = 0;

    if (!tp_poll_done(tp)) {
        pthread_mutex_lock(&tp->mu);
        tp->waiting = 1;
        while (!tp_all_done(tp))
            pthread_cond_wait(&tp->done, &tp->mu);
        tp->waiting = 0;
        pthread_mutex_unlock(&tp->mu);
    }
}

void tp_free(threadpool *tp)
{
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    __atomic_store_n(&tp->quit, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++)
        pthread_join(tp->tid[i - 1], NULL);
    free(tp->tid);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp);
}

struct range_job {
    long long n, per;
    void (*fn)(void *ctx, long long begin, long long end, int thread);
    void *ctx;
};

static void range_task(void *ctx, int task, int thread)
{
    const struct range_job *r = ctx;
    long long a = (long long)task * r->per, b = a + r->per;
    if (b > r->n)
        b = r->n;
    if (a < b)
        r->fn(r->ctx, a, b, thread);
}

void tp_run_range(threadpool *tp, long long n, long long align,
                  void (*fn)(void *ctx, long long begin, long long end, int thread), void *ctx)
{
    int nt = tp_size(tp);
    if (n <= 0)
        return;
    if (align < 1)
        align = 1;
    if (nt <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    struct range_job r = { n, ((n + nt - 1) / nt + align - 1) / align * align, fn, ctx };
    tp_run(tp, nt, range_task, &r);
}

int tp_span(int n, int c, int nt)
{
    int load[64] = {0};
    if (nt > 64) nt = 64;
    if (nt < 1) nt = 1;
    if (c < 1) c = 1;
    for (int n0 = 0; n0 < n; n0 += c) {
        int lo = 0;
        for (int i = 1; i < nt; i++)
            if (load[i] < load[lo]) lo = i;
        load[lo] += n - n0 < c ? n - n0 : c;
    }
    int mx = 0;
    for (int i = 0; i < nt; i++)
        if (load[i] > mx) mx = load[i];
    return mx;
}

int tp_chunk_from(int n, int per, int lo, int nt)
{
    if (n < 1) return 1;
    if (per > n) per = n;
    if (per < 1) per = 1;
    if (lo < 1) lo = 1;
    if (nt <= 1) return per;
    int ideal = (n + nt - 1) / nt, best = per, bspan = tp_span(n, per, nt);
    for (int c = per; c >= lo; c--) {
        int sp = tp_span(n, c, nt);
        if (sp * 100 <= ideal * 103)
            return c;
        if (sp < bspan) {
            best = c;
            bspan = sp;
        }
    }
    return best;
}

int tp_chunk(int n, int per, int nt)
{
    return tp_chunk_from(n, per, 1, nt);
}
