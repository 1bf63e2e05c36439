/* threadpool.c - persistent worker threads for data-parallel loops.
 *
 * tp_run() publishes a job (function, context, task count) under a new
 * generation number; workers poll for it a short while (a few tens of
 * microseconds: long enough to catch the next layer's job, short enough
 * not to steal a shared machine's CPU), yield the CPU a few times, then
 * sleep on a condition variable.  Tasks are handed out with an atomic counter, the
 * calling thread takes its share too, and tp_run() returns once every
 * worker has reported that it is finished with the job.
 *
 * A tp_run() issued from inside a task (on any pool) runs inline on the
 * calling thread, so nested parallel loops cannot deadlock.
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
    /* the current job */
    void (*fn)(void *, int, int);
    void *ctx;
    int ntasks;
    int next;                        /* atomic: next task to take */
    unsigned gen;                    /* atomic: job generation */
    int running;                     /* atomic: workers still on the job */
    int sleepers;                    /* workers blocked on wake (mu) */
    int waiting;                     /* caller blocked on done (mu) */
    int quit;
};

typedef struct {
    threadpool *tp;
    int id;
} tp_arg;

static _Thread_local int tp_inside;   /* this thread is running a task */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls until *p != v (returns 1) or the budget is spent (returns 0). */
static int tp_poll_uint(const unsigned *p, unsigned v, const int *quit)
{
    for (int i = 0; i < TP_SPIN + TP_YIELD; i++) {
        if (__atomic_load_n(p, __ATOMIC_ACQUIRE) != v || __atomic_load_n(quit, __ATOMIC_ACQUIRE))
            return 1;
        if (i < TP_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    return 0;
}

static int tp_poll_zero(const int *p)
{
    for (int i = 0; i < TP_SPIN + TP_YIELD; i++) {
        if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == 0)
            return 1;
        if (i < TP_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
    return 0;
}

static void tp_work(threadpool *tp, int id)
{
    int nt = tp->ntasks;
    for (;;) {
        int t = __atomic_fetch_add(&tp->next, 1, __ATOMIC_RELAXED);
        if (t >= nt) break;
        tp->fn(tp->ctx, t, id);
    }
}

static void *tp_main(void *p)
{
    tp_arg *a = p;
    threadpool *tp = a->tp;
    int id = a->id;
    unsigned seen = 0;
    free(a);
    tp_inside = 1;
    for (;;) {
        unsigned g;
        tp_poll_uint(&tp->gen, seen, &tp->quit);
        g = __atomic_load_n(&tp->gen, __ATOMIC_ACQUIRE);
        if (g == seen && !__atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE)) {
            pthread_mutex_lock(&tp->mu);
            while ((g = __atomic_load_n(&tp->gen, __ATOMIC_ACQUIRE)) == seen && !tp->quit) {
                tp->sleepers++;
                pthread_cond_wait(&tp->wake, &tp->mu);
                tp->sleepers--;
            }
            pthread_mutex_unlock(&tp->mu);
        }
        if (__atomic_load_n(&tp->quit, __ATOMIC_ACQUIRE))
            break;
        seen = g;
        tp_work(tp, id);
        if (__atomic_sub_fetch(&tp->running, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&tp->mu);
            if (tp->waiting)
                pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
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
        for (int i = 1; i < n; i++) {
            tp_arg *a = malloc(sizeof *a);
            if (!a) break;
            a->tp = tp;
            a->id = i;
            if (pthread_create(&tp->tid[i - 1], NULL, tp_main, a) != 0) {
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
    tp->fn = fn;
    tp->ctx = ctx;
    tp->ntasks = ntasks;
    __atomic_store_n(&tp->next, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tp->running, tp->n - 1, __ATOMIC_RELAXED);
    /* The release store of gen publishes fn, ctx, ntasks, next, running. */
    pthread_mutex_lock(&tp->mu);
    __atomic_add_fetch(&tp->gen, 1, __ATOMIC_RELEASE);
    if (tp->sleepers)
        pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);

    tp_inside = 1;
    tp_work(tp, 0);
    tp_inside = 0;

    if (!tp_poll_zero(&tp->running)) {
        pthread_mutex_lock(&tp->mu);
        tp->waiting = 1;
        while (__atomic_load_n(&tp->running, __ATOMIC_ACQUIRE) != 0)
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
