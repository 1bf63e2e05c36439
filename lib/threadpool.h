/* threadpool.h - a fixed pool of worker threads for data-parallel loops. */
#ifndef CAM_THREADPOOL_H
#define CAM_THREADPOOL_H

typedef struct threadpool threadpool;

/* n threads in all (the calling thread counts as one); n <= 1 runs inline. */
threadpool *tp_create(int n);
int  tp_size(const threadpool *tp);            /* 1 when tp is NULL */
/* Calls fn(ctx, task, thread) for task = 0..ntasks-1 spread over the
 * threads (thread = 0..tp_size-1), and returns when all are done.  One
 * caller at a time per pool; a tp_run from inside a task runs inline. */
void tp_run(threadpool *tp, int ntasks, void (*fn)(void *ctx, int task, int thread), void *ctx);
/* Splits [0, n) into one contiguous range per thread (range lengths a
 * multiple of align, except the last) and calls fn(ctx, begin, end, thread)
 * for each non-empty one; with one thread, fn(ctx, 0, n, 0). */
void tp_run_range(threadpool *tp, long long n, long long align,
                  void (*fn)(void *ctx, long long begin, long long end, int thread), void *ctx);
void tp_free(threadpool *tp);
/* Units the busiest of nt threads does when n units are cut into pieces of
 * c, each thread taking the next piece when free (pieces of equal cost
 * per unit). */
int  tp_span(int n, int c, int nt);
/* A piece size for n units over nt threads: per (the size the caller
 * wants, clamped to [1, n]) when its busiest thread does at most 3% more
 * than an even share, else the largest smaller one that does, else the
 * most even one.  6 units over 2 threads in pieces of 2 leave 4 to one
 * thread and 2 to the other: pieces of 1 share them 3 and 3. */
int  tp_chunk(int n, int per, int nt);
/* The same, searching sizes down to lo only (per itself when lo > per). */
int  tp_chunk_from(int n, int per, int lo, int nt);

#endif
