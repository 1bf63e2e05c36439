/* engine.c - plan once, run many (see engine.h).
 *
 * engine_create: private copy of the graph and shape inference with
 * constant folding (shape.c); selection of the nodes between the input and
 * the requested outputs; BatchNormalization folded into the preceding Conv
 * and Relu/Clip fused into their producer; weights packed (conv_prepare)
 * into kmem pools, one per packing thread (kmem.h: large mappings of huge
 * pages, no mapping and no 4 KB faults per layer), each layer's weights
 * read from the model's mapping by one MADV_POPULATE_READ;
 * reshaping nodes made to alias their input; liveness of every buffer and
 * one arena where buffers whose lives do not overlap share memory; one
 * scratch buffer; one thread pool.  engine_run: copy the input in, run the
 * nodes in order.  Nothing is allocated per run.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "engine_int.h"
#include "kern_q.h"
#include "kmem.h"
#include "sha256.h"
#include "wcache.h"

struct engine {
    ectx        c;
    int         src;
    int         nout;
    int        *outs;          /* tensor index of each output */
    float     **outf;          /* float copies of integer constant outputs */
    int         nrun;
    int        *run;           /* node indices in execution order */
    int         nlist;
    int        *list;          /* tensors for engine_tensor_name */
    unsigned char *arena;
    size_t      arena_bytes;
    size_t      arena_mapped;  /* > 0: arena is an anonymous mapping of this size */
    void       *scratch;
    size_t      scratch_bytes;
    threadpool *tp;
    size_t      weight_bytes;
    int         nwmem;
    kmem      **wmem;          /* packed weights: one pool per packing thread */
    int         plan_only;     /* engine_opts.plan_only: cannot run */
    int         no_cache_read; /* packing again after a cache file was out of step */
    wcache      wc;            /* the packed-weight cache file mapped, if any */
    int         wc_adopted;
    struct wjob *writer;       /* the cache file being written, if any */
    struct wjob *unstarted;    /* the writer, until engine_create ends */
    int         lazy_ok;       /* engine_opts.lazy_pack */
    int         ndefer;        /* nodes left reading their weights from
                                  the model (lazy_pack), packed by the
                                  writer's thread */
    int         nleft;         /* those not yet running packed */
    int        *defer_node;    /* their indices */
    void      **defer_packed;  /* each one's packed form, made by the writer */
    int        *defer_done;    /* set (release) once defer_packed[d] is made */
    int        *defer_claim;   /* set once a packer has taken node d */
    unsigned char *defer_taken; /* adopted (engine_run's thread only) */
    const graph *model;        /* the graph they read (en->c.g is dropped
                                  once planned) */
};

#define CACHE_OUT_OF_STEP (-2)
#define ENGINE_MAX_PACKERS 8        /* threads packing deferred layers */

int engine_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > 8 ? 8 : (int)n;
}

static int root_of(const ectx *c, int ti)
{
    while (c->t[ti].alias >= 0)
        ti = c->t[ti].alias;
    return ti;
}

/* Byte offset of ti's memory inside its root's buffer. */
static size_t alias_offset(const ectx *c, int ti)
{
    size_t off = 0;
    while (c->t[ti].alias >= 0) {
        off += c->t[ti].alias_off;
        ti = c->t[ti].alias;
    }
    return off;
}

static int same_quant(const etensor *a, const etensor *b)
{
    if (a->nq != b->nq || a->qmin != b->qmin || a->qmax != b->qmax)
        return 0;
    for (int i = 0; i < a->nq; i++)
        if (a->qscale[i] != b->qscale[i] || a->qzp[i] != b->qzp[i])
            return 0;
    return a->nq <= 1 || a->qaxis == b->qaxis;
}

static int op_is(const enode *n, const char *name)
{
    return n->op && !strcmp(n->op->name, name);
}

/* Producers whose output 0 can take a fused activation in their epilogue. */
static int takes_act(const enode *n)
{
    static const char *const ok[] = {"Conv", "BatchNormalization", "Add", "Sub", "Mul", "Div",
                                     "Gemm", "MatMul", "Concat", "AveragePool", "MaxPool",
                                     "GlobalAveragePool", "GlobalMaxPool"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (op_is(n, ok[i]))
            return 1;
    return 0;
}

/* Nodes needed for the outputs, from the input: marks t->needed and
 * n->live = 2 for selected nodes; errors for what cannot be computed. */
static int select_nodes(engine *en, err_t *e)
{
    ectx *c = &en->c;
    for (int i = 0; i < en->nout; i++)
        c->t[en->outs[i]].needed = 1;
    for (int i = c->nnodes - 1; i >= 0; i--) {
        enode *n = &c->n[i];
        int sel = 0;
        for (int k = 0; k < n->nout; k++) {
            int ti = n->out[k];
            if (ti >= 0 && c->t[ti].needed && !c->t[ti].cdata && ti != en->src)
                sel = 1;
        }
        if (!sel)
            continue;
        if (!n->op)
            return err_set(e, "unsupported operator '%s' in node '%s'", n->g->op, n->name);
        n->live = n->live == 1 ? 2 : -2;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                c->t[n->in[k]].needed = 1;
    }
    for (int i = 0; i < c->nnodes; i++) {
        enode *n = &c->n[i];
        if (n->live != -2)
            continue;
        for (int k = 0; k < n->nin; k++) {
            int ti = n->in[k];
            if (ti >= 0 && c->t[ti].ndim < 0 && c->t[ti].producer < 0)
                return err_set(e, "node '%s' needs '%s', which is not computed from the input '%s'",
                               n->name, c->t[ti].name, c->t[en->src].name);
        }
        return err_set(e, "node '%s' cannot be computed from the input '%s'", n->name,
                       c->t[en->src].name);
    }
    for (int i = 0; i < en->nout; i++) {
        const etensor *t = &c->t[en->outs[i]];
        if (t->ndim < 0)
            return err_set(e, "output '%s' cannot be computed from the input '%s'", t->name,
                           c->t[en->src].name);
    }
    return 0;
}

static void count_uses(engine *en)
{
    ectx *c = &en->c;
    for (int i = 0; i < c->ntensors; i++)
        c->t[i].nuse = 0;
    for (int i = 0; i < c->nnodes; i++)
        if (c->n[i].live == 2)
            for (int k = 0; k < c->n[i].nin; k++)
                if (c->n[i].in[k] >= 0)
                    c->t[c->n[i].in[k]].nuse++;
}

/* The single live producer of x if x is consumed only by one node and may
 * disappear: not requested, not the input, no rounding grid of its own. */
static enode *fusable_producer(engine *en, int x)
{
    ectx *c = &en->c;
    const etensor *t = &c->t[x];
    if (t->requested || t->nuse != 1 || t->nq || x == en->src || t->producer < 0)
        return NULL;
    enode *p = &c->n[t->producer];
    if (p->live != 2 || p->out[0] != x)
        return NULL;
    return p;
}

static void redirect(engine *en, enode *from, enode *n)
{
    ectx *c = &en->c;
    int old = from->out[0];
    from->out[0] = n->out[0];
    c->t[n->out[0]].producer = (int)(from - c->n);
    c->t[old].needed = 0;
    c->t[old].producer = -1;
    n->live = 0;
}

static int fuse(engine *en, err_t *e)
{
    ectx *c = &en->c;
    count_uses(en);
    for (int i = 0; i < c->nnodes; i++) {
        enode *n = &c->n[i];
        if (n->live != 2 || n->act != EACT_NONE)
            continue;
        if (op_is(n, "BatchNormalization")) {
            enode *p = fusable_producer(en, n->in[0]);
            if (p && op_is(p, "Conv") && p->act == EACT_NONE) {
                if (conv_fold_bn(p, n, e) < 0)
                    return -1;
                redirect(en, p, n);
            }
        } else if (op_is(n, "Relu") || op_is(n, "Clip")) {
            enode *p = fusable_producer(en, n->in[0]);
            if (p && takes_act(p) && p->act == EACT_NONE) {
                if (op_is(n, "Relu"))
                    p->act = EACT_RELU;
                else {
                    p->act = EACT_CLIP;
                    clip_bounds(n, &p->amin, &p->amax);
                }
                redirect(en, p, n);
            }
        }
    }
    count_uses(en);
    return 0;
}

/* Arenas of at least this many bytes are mapped on their own (a 2 MB
 * huge page's size). */
#define ARENA_HUGE ((size_t)2 << 20)

/* Lowest offset for each buffer, biggest first, avoiding buffers whose live
 * ranges overlap (inclusive). */
typedef struct {
    int ti;
    size_t size;
} buf;

static int cmp_buf(const void *a, const void *b)
{
    const buf *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->ti - y->ti;
}

static int assign_arena(engine *en, err_t *e)
{
    ectx *c = &en->c;
    int nb = 0;
    buf *b = malloc(sizeof *b * (size_t)(c->ntensors + 1));
    int *placed = malloc(sizeof(int) * (size_t)(c->ntensors + 1));
    int np = 0;
    if (!b || !placed) {
        free(b);
        free(placed);
        return err_set(e, "out of memory");
    }
    for (int i = 0; i < c->ntensors; i++) {
        etensor *t = &c->t[i];
        if (t->first == INT_MAX || t->alias >= 0 || t->cdata)
            continue;
        size_t sz = ((size_t)t->numel * sizeof(float) + 63) & ~(size_t)63;
        b[nb].ti = i;
        b[nb].size = sz ? sz : 64;
        nb++;
    }
    qsort(b, (size_t)nb, sizeof *b, cmp_buf);
    size_t total = 0;
    for (int i = 0; i < nb; i++) {
        etensor *t = &c->t[b[i].ti];
        size_t off = 0;
        /* first fit: raise off past every conflicting placed buffer, repeat */
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < np; j++) {
                const etensor *u = &c->t[placed[j]];
                size_t usz = ((size_t)u->numel * sizeof(float) + 63) & ~(size_t)63;
                if (!usz)
                    usz = 64;
                if (u->last < t->first || t->last < u->first)
                    continue;
                if (off < u->off + usz && u->off < off + b[i].size) {
                    off = u->off + usz;
                    again = 1;
                }
            }
        }
        t->off = off;
        placed[np++] = b[i].ti;
        if (off + b[i].size > total)
            total = off + b[i].size;
        if (total > ENGINE_MAX_ARENA) {
            free(b);
            free(placed);
            return err_set(e, "activations need more than %zu bytes", ENGINE_MAX_ARENA);
        }
    }
    free(b);
    free(placed);
    en->arena_bytes = total;
    /* A large arena is a mapping of its own, zero already, asking for
     * transparent huge pages: its first run then takes a few faults of
     * 2 MB instead of one per 4 KB page (and fewer TLB misses after). */
    if (total >= ARENA_HUGE) {
        size_t len = (total + ARENA_HUGE - 1) & ~(ARENA_HUGE - 1);
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
            madvise(m, len, MADV_HUGEPAGE);
#endif
            en->arena = m;
            en->arena_mapped = len;
            return 0;
        }
    }
    en->arena = aligned_alloc(64, total ? total : 64);
    if (!en->arena)
        return err_set(e, "out of memory for %zu bytes of activations", total);
    memset(en->arena, 0, total);
    return 0;
}

/* A prepared Conv holds its weights packed: the unpacked constant can go at
 * once unless another node or the caller reads it, so that planning never
 * holds two copies of every weight. */
static void drop_packed_weights(ectx *c, const enode *n)
{
    int w = n->nin > 1 ? n->in[1] : -1;
    if (w >= 0 && c->t[w].cdata && c->t[w].nuse == 1 && !c->t[w].requested)
        ectx_drop_const(c, &c->t[w]);
}

/* The model file's pages of the node's deferred constants, mapped in by
 * one call before packing reads them (instead of a fault per 64 KB). */
static void prefetch_weights(const ectx *c, const enode *n)
{
    if (!c->g || node_defer_ok(c, n))
        return;
    for (int k = 1; k < n->nin; k++) {
        int ti = n->in[k];
        if (ti >= 0 && ti < c->g->ntensors && c->t[ti].deferred)
            graph_prefetch_tensor(c->g, ti);
    }
}

/* Weight packing of the nodes that have a prepare step (the
 * convolutions), in run order; with more than one thread, spread over the
 * engine's pool (created here), each thread reading deferred weights into
 * a stage of its own. */
struct prep_job {
    engine *en;
    int     n;              /* nodes to prepare */
    int    *node;           /* their indices, largest weights first */
    ectx   *tc;             /* per thread: a view of en->c with its own stage */
    err_t  *err;            /* per node */
    int    *rc;             /* per node: 0 or -1 */
    wcache_node *rec;       /* per node: its pieces recorded (NULL: not) */
};

/* Whether deferred constant ti is read through the stage when a Conv
 * packs it: float32 weights are packed from the model file in place
 * (ectx_const_raw), and so are integer weights, which the integer
 * kernels take as they are stored (the rare layer they refuse reads its
 * weights as floats into a stage of its own then). */
static int staged(const ectx *c, int ti)
{
    if (!c->t[ti].deferred || ectx_const_raw(c, ti))
        return 0;
    if (c->g && ti < c->g->ntensors) {
        const gtensor *gt = &c->g->tensors[ti];
        if (gt->nq > 0 && (gt->dtype == DT_U8 || gt->dtype == DT_I8))
            return 0;
    }
    return 1;
}

/* Floats of node n's largest staged input past the first when n is a
 * Conv (what its stage must hold), else 0: a Gemm's go straight to the
 * weight pool. */
static size_t conv_deferred(const ectx *c, const enode *n)
{
    size_t big = 0;
    for (int k = 1; k < n->nin && op_is(n, "Conv"); k++) {
        int ti = n->in[k];
        if (ti >= 0 && staged(c, ti) && (size_t)c->t[ti].numel > big)
            big = (size_t)c->t[ti].numel;
    }
    return big;
}

/* a stage's mapping shrinks when it has this much to spare (a huge page) */
#define STAGE_STEP ((size_t)2 << 20)

static void prep_task(void *ctx, int task, int thread)
{
    struct prep_job *j = ctx;
    ectx *c = &j->tc[thread];
    enode *n = &j->en->c.n[j->node[task]];
    kmem_set_current(j->en->wmem[thread]);
    prefetch_weights(c, n);
    /* The thread's stage, kept from layer to layer: one mapping of huge
     * pages faulted in by one call, large enough for every deferred input
     * of the layer so that it is never realloc'd.  Fresh pages are slow to
     * come by (zeroed, and on a virtual machine often backed anew by the
     * host): a stage mapped per layer made packing on two threads slower
     * than on one.  The layers come largest first, so the stage is mapped
     * for the thread's first one and then only shrinks, its tail given
     * back as the layers get smaller (two threads holding the largest
     * layers' raw weights to the end of packing would raise the peak). */
    size_t cnt = conv_deferred(c, n);
    size_t *have = &c->stage_map;           /* bytes of the stage's mapping */
    if (cnt && cnt <= SIZE_MAX / sizeof(float) / 2) {
        size_t need = (cnt * sizeof(float) + 4095) & ~(size_t)4095;
        if (*have && need > *have) {
            kmem_unmap(c->stage, *have);
            c->stage = NULL;
            c->nstage = 0;
            *have = 0;
        }
        if (*have >= need + STAGE_STEP) {
            size_t keep = (need + STAGE_STEP - 1) / STAGE_STEP * STAGE_STEP;
            kmem_unmap((char *)c->stage + keep, *have - keep);
            *have = keep;
            c->nstage = keep / sizeof(float);
        }
        if (!c->stage) {
            float *pst = kmem_map(need);
            if (pst) {
                c->stage = pst;
                c->nstage = need / sizeof(float);
                *have = need;
            }
        }
    }
    if (j->rec)
        kmem_record(&j->rec[task].log);
    j->rc[task] = n->op->prepare(c, n, &j->err[task]);
    kmem_record(NULL);
    kmem_set_current(NULL);
    if (j->rc[task] == 0 && op_is(n, "Conv"))
        drop_packed_weights(c, n);
}

static int cmp_prep(const void *a, const void *b, void *ctx)
{
    const ectx *c = ctx;
    const enode *x = &c->n[*(const int *)a], *y = &c->n[*(const int *)b];
    int64_t wx = x->nin > 1 && x->in[1] >= 0 ? c->t[x->in[1]].numel : 0;
    int64_t wy = y->nin > 1 && y->in[1] >= 0 ? c->t[y->in[1]].numel : 0;
    if (wx != wy)
        return wx < wy ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

static void free_records(wcache_node *rec, int n)
{
    for (int i = 0; rec && i < n; i++)
        kmem_log_free(&rec[i].log);
    free(rec);
}

/* The packed-weight cache file is written by a thread of its own while
 * the engine runs: writing GoogLeNet's 30 MB and waiting for the disk
 * (fdatasync) took about 25 ms of a first run's plan, more than one
 * inference, and the packed weights it reads no longer change.
 * engine_free waits for it before freeing them, and so does exit(): a
 * process that ends right after planning, or on an error, still leaves
 * the whole file (or none).  Every job not yet waited for is on a list. */
typedef struct wjob {
    wcache_key key;
    wcache_node *rec, *ord;     /* the records, and them in run order */
    int np;
#ifdef CPU_SETSIZE
    cpu_set_t cpus;             /* the CPUs it may run on, once started */
    int placed;                 /* started on another CPU than its creator's */
#endif
    engine *en;                 /* whose records they are */
    int *run, nrun;             /* en's run list when packing ended (fusing
                                   takes nodes out of it later) */
    int defer;                  /* en's deferred nodes packed first */
    kmem **pool;                /* where they go: one of en->wmem per packer */
    int npool;
    int take;                   /* the next deferred node to take */
    int *order;                 /* the deferred nodes, largest first */
    wcache_out *out;            /* the file its pieces go to as they come */
    int *ord_of;                /* per deferred node: its place in ord (-1) */
    pthread_t tid;
    struct wjob *next;
} wjob;

static pthread_mutex_t wjobs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t wjobs_once = PTHREAD_ONCE_INIT;
static wjob *wjobs;

/* A node whose packed form the cache may hold: a Conv (float or
 * integer kernel). */
static int cacheable(const ectx *c, const enode *n)
{
    return (op_is(n, "Conv") || op_is(n, "Gemm")) && !c->reference;
}

/* The records in run order (ord, malloc'd), each marked cached when its
 * node's packed form may go into the cache file; the number of those,
 * or -1 when out of memory. */
static int order_records(const engine *en, const int *run, int nrun, wcache_node *rec, int np,
                         wcache_node **ord)
{
    const ectx *c = &en->c;
    wcache_node *o = malloc(sizeof *o * (size_t)(np > 0 ? np : 1));
    if (!o)
        return -1;
    int k = 0, ncached = 0;
    for (int r = 0; r < nrun; r++)
        for (int i = 0; i < np; i++)
            if (rec[i].node == run[r]) {
                o[k] = rec[i];
                o[k].cached = cacheable(c, &c->n[rec[i].node]) && !rec[i].log.failed &&
                              !rec[i].log.dropped && rec[i].log.tagged;
                ncached += o[k].cached;
                k++;
                break;
            }
    if (k != np) {
        free(o);
        return -1;
    }
    *ord = o;
    return ncached;
}

/* Packer t: deferred nodes, taken in j->order, packed into pool t, each
 * recorded, written into the file at its planned place and published to
 * the engine by en->defer_done as it is made. */
typedef struct {
    wjob *j;
    int t;
} defer_arg;

static void *pack_deferred_in(void *p)
{
    defer_arg *a = p;
    wjob *j = a->j;
    engine *en = j->en;
    kmem_set_current(j->pool[a->t]);
    for (;;) {
        int x = __atomic_fetch_add(&j->take, 1, __ATOMIC_RELAXED);
        if (x >= en->ndefer)
            break;
        int d = j->order ? j->order[x] : x;
        __atomic_store_n(&en->defer_claim[d], 1, __ATOMIC_RELAXED);
        const enode *n = &en->c.n[en->defer_node[d]];
        kmem_log lg;
        memset(&lg, 0, sizeof lg);
        err_t e;
        kmem_record(&lg);
        en->defer_packed[d] = node_defer_pack(en->model, n, &e);
        kmem_record(NULL);
        /* into the file at once (its place planned from the sizes) */
        if (j->out && j->ord_of && j->ord_of[d] >= 0)
            wcache_put(j->out, j->ord_of[d], en->defer_packed[d] ? &lg : NULL);
        kmem_log_free(&lg);
        __atomic_store_n(&en->defer_done[d], 1, __ATOMIC_RELEASE);
    }
    kmem_set_current(NULL);
    kmem_trim(j->pool[a->t]);   /* the rest of its last huge page */
    return NULL;
}

/* deferred nodes x, y (their indices in en->defer_node), largest weights
 * first as cmp_prep orders the nodes packed at planning */
static int cmp_defer(const void *a, const void *b, void *ctx)
{
    const engine *en = ctx;
    return cmp_prep(&en->defer_node[*(const int *)a], &en->defer_node[*(const int *)b],
                    (void *)&en->c);
}

/* The deferred nodes packed on as many threads as the engine has (a
 * process of one image waits for them at its end, when its own threads
 * have nothing left to do: the two-thread ResNet-18's first process took
 * 12 ms longer with one), largest first: the layers whose reading from the
 * model costs the first images most (memory: ResNet-18's 9.4 MB layers,
 * mapped while the packed weights and the activations were, took its
 * first run past 75 MB; time: a run packs their panels again) are packed
 * before the runs come to them, which then take them packed. */
static void pack_deferred(wjob *j)
{
    j->order = malloc(sizeof(int) * (size_t)j->en->ndefer);
    if (j->order) {
        for (int d = 0; d < j->en->ndefer; d++)
            j->order[d] = d;
        qsort_r(j->order, (size_t)j->en->ndefer, sizeof(int), cmp_defer, j->en);
    }
    defer_arg a[ENGINE_MAX_PACKERS];
    pthread_t tid[ENGINE_MAX_PACKERS];
    int started = 0;
    for (int t = 0; t < j->npool; t++)
        a[t] = (defer_arg){j, t};
    for (int t = 1; t < j->npool; t++) {
        if (pthread_create(&tid[t], NULL, pack_deferred_in, &a[t]) != 0)
            break;
        started = t;
    }
    pack_deferred_in(&a[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    /* (a packer that could not start: its pool stays empty) */
}

/* The deferred nodes' records: the pieces they will take (sizes, no
 * bytes yet) and their tags, so that the file's table is written before
 * they are packed and each goes in as it is made. */
static void plan_deferred(wjob *j)
{
    engine *en = j->en;
    for (int d = 0; d < en->ndefer; d++) {
        wcache_node *r = NULL;
        for (int i = 0; i < j->np && !r; i++)
            if (j->rec[i].node == en->defer_node[d])
                r = &j->rec[i];
        if (!r)
            continue;
        kmem_log_free(&r->log);
        size_t sz[8];
        uint64_t tag = 0;
        int c = node_defer_pieces(&en->c.n[en->defer_node[d]], sz, 8, &tag);
        if (c < 0 || !(r->log.v = calloc((size_t)(c ? c : 1), sizeof *r->log.v))) {
            r->log.failed = 1;
            continue;
        }
        for (int k = 0; k < c; k++)
            r->log.v[k].n = sz[k];
        r->log.n = r->log.cap = c;
        r->log.tag = tag;
        r->log.tagged = 1;
    }
}

static void wjob_work(wjob *j)
{
    engine *en = j->en;
    err_t we;
    if (j->defer && j->rec)
        plan_deferred(j);
    int nc = j->rec ? order_records(en, j->run, j->nrun, j->rec, j->np, &j->ord) : -1;
    /* a failure only means packing again next time */
    if (nc > 0)
        j->out = wcache_begin(&j->key, j->ord, j->np, &we);
    if (j->out && j->defer && (j->ord_of = malloc(sizeof(int) * (size_t)en->ndefer)))
        for (int d = 0; d < en->ndefer; d++) {
            j->ord_of[d] = -1;
            for (int k = 0; k < j->np; k++)
                if (j->ord[k].node == en->defer_node[d] && j->ord[k].cached)
                    j->ord_of[d] = k;
        }
    if (j->defer)
        pack_deferred(j);
    if (j->out) {
        /* (pieces that could not be placed: no file) */
        wcache_end(j->out, j->ord_of || !j->defer, &we);
        j->out = NULL;
    }
}

static void *wjob_main(void *p)
{
#ifdef CPU_SETSIZE
    wjob *j = p;
    if (j->placed)              /* free to move again, once running */
        pthread_setaffinity_np(pthread_self(), sizeof j->cpus, &j->cpus);
#endif
    wjob_work(p);
    return NULL;
}

/* Starts j's thread on a CPU other than the caller's when there is one:
 * a new thread is often queued behind its busy creator for a time slice
 * (3.7 ms, threadpool.c), and the creator is about to run the first
 * image.  0 when started. */
static int wjob_spawn(wjob *j)
{
#ifdef CPU_SETSIZE
    int me = sched_getcpu();
    if (me >= 0 && sched_getaffinity(0, sizeof j->cpus, &j->cpus) == 0 && CPU_COUNT(&j->cpus) > 1) {
        cpu_set_t one;
        CPU_ZERO(&one);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (c != me && CPU_ISSET(c, &j->cpus)) {
                CPU_SET(c, &one);
                break;
            }
        pthread_attr_t at;
        if (pthread_attr_init(&at) == 0) {
            j->placed = pthread_attr_setaffinity_np(&at, sizeof one, &one) == 0;
            int ok = pthread_create(&j->tid, &at, wjob_main, j) == 0;
            pthread_attr_destroy(&at);
            if (ok)
                return 0;
            j->placed = 0;
        }
    }
#endif
    return pthread_create(&j->tid, NULL, wjob_main, j) == 0 ? 0 : -1;
}

/* Frees j (its thread done, or never started). */
static void wjob_discard(wjob *j)
{
    free(j->ord);
    free(j->run);
    free(j->ord_of);
    free(j->order);
    free_records(j->rec, j->np);
    wcache_key_free(&j->key);
    free(j);
}

/* Waits for j, frees it; j is off the list. */
static void wjob_finish(wjob *j)
{
    pthread_join(j->tid, NULL);
    wjob_discard(j);
}

/* Takes j off the list (all of them: NULL) and waits for it. */
static void wjobs_wait(wjob *j)
{
    for (;;) {
        pthread_mutex_lock(&wjobs_mu);
        wjob **pp = &wjobs, *x = NULL;
        while (*pp && !x) {
            if (!j || *pp == j) {
                x = *pp;
                *pp = x->next;
            } else
                pp = &(*pp)->next;
        }
        pthread_mutex_unlock(&wjobs_mu);
        if (!x)
            return;
        wjob_finish(x);
        if (j)
            return;
    }
}

static void wjobs_at_exit(void)
{
    wjobs_wait(NULL);
}

static void wjobs_register(void)
{
    atexit(wjobs_at_exit);
}

/* The job that writes the cache file of key from rec (np nodes' records;
 * NULL: no file, only the deferred nodes to pack), after packing en's
 * deferred nodes when it has any: made here, started by start_writer;
 * takes rec, and key's text (key is left empty then).  0, or -1 when out
 * of memory (rec freed). */
static int write_cache(engine *en, wcache_key *key, wcache_node *rec, int np)
{
    wjob *j = calloc(1, sizeof *j);
    int npk = en->c.nthreads < 1 ? 1 : en->c.nthreads > ENGINE_MAX_PACKERS ? ENGINE_MAX_PACKERS
                                                                           : en->c.nthreads;
    kmem **wm = en->ndefer ? realloc(en->wmem, sizeof *wm * (size_t)(en->nwmem + npk)) : NULL;
    if (wm)
        en->wmem = wm;
    int *run = malloc(sizeof(int) * (size_t)(en->nrun > 0 ? en->nrun : 1));
    int pools = 0;
    while (wm && j && pools < npk && (wm[en->nwmem + pools] = kmem_create(0)))
        pools++;
    if (!j || !run || (en->ndefer && pools < 1)) {
        for (int t = 0; t < pools; t++)
            kmem_destroy(wm[en->nwmem + t]);
        free(j);
        free(run);
        free_records(rec, np);
        return -1;
    }
    memcpy(run, en->run, sizeof(int) * (size_t)en->nrun);
    j->run = run;
    j->nrun = en->nrun;
    j->rec = rec;
    j->np = np;
    j->en = en;
    j->defer = en->ndefer > 0;
    if (j->defer) {
        j->pool = en->wmem + en->nwmem;
        j->npool = pools;
        en->nwmem += pools;
    }
    if (key) {
        j->key = *key;
        key->text = NULL;
        key->len = 0;
    }
    en->unstarted = j;
    return 0;
}

/* Starts the writer made by write_cache, once the engine is planned
 * whole: started earlier, its first huge pages and the plan's own
 * mappings (the arena) waited for each other (the address space's lock),
 * 0.3 ms of a two-thread first run.  No thread: its work now. */
static void start_writer(engine *en)
{
    wjob *j = en->unstarted;
    if (!j)
        return;
    en->unstarted = NULL;
    pthread_once(&wjobs_once, wjobs_register);
    pthread_mutex_lock(&wjobs_mu);
    int ok = wjob_spawn(j) == 0;
    if (ok) {
        j->next = wjobs;
        wjobs = j;
    }
    pthread_mutex_unlock(&wjobs_mu);
    if (ok) {
        en->writer = j;
        return;
    }
    wjob_work(j);
    wjob_discard(j);
}

/* Appends printf output to d (cap bytes); *n stays below cap, and *ok
 * becomes 0 once something did not fit. */
__attribute__((format(printf, 5, 6)))
static void append(char *d, size_t cap, size_t *n, int *ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = *ok && *n < cap ? vsnprintf(d + *n, cap - *n, fmt, ap) : -1;
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - *n)
        *ok = 0;
    else
        *n += (size_t)w;
}

/* The cache key of this plan (wcache.h): 0, or -1 when there is no cache
 * for it (no model file, reference kernels, no convolution, a build
 * without build-id). */
static int cache_key(const engine *en, const graph *g, wcache_key *key)
{
    const ectx *c = &en->c;
    int any = 0;
    for (int r = 0; r < en->nrun && !any; r++)
        any = cacheable(c, &c->n[en->run[r]]);
    if (!g || !g->sha256[0] || c->reference || !any)
        return -1;
    const char *wino = getenv("CAM_WINO"), *direct = getenv("CAM_DIRECT");
    size_t cap = 512 + (size_t)en->nrun * 24 + (size_t)en->nout * 24, n = 0;
    int ok = 1;
    char *d = malloc(cap);
    if (!d)
        return -1;
    /* (a cache directory shared by machines of other CPUs gets files of
     * its own for each) */
    append(d, cap, &n, &ok, "model %s\nsimd %d vnni %d\nthreads %d\nwino %.16s keep %d\ndirect %.16s\ninput %d",
           g->sha256, simd_level(), qconv_has_vnni(), c->nthreads, wino ? wino : "-", c->wino_keep,
           direct ? direct : "-", en->src);
    for (int k = 0; k < c->t[en->src].ndim && k < TENSOR_MAXDIM; k++)
        append(d, cap, &n, &ok, " %lld", (long long)c->t[en->src].dims[k]);
    /* the nodes run, each with the activation fused into it, and the
     * outputs: together they say what was fused (a BatchNormalization
     * folded into a Conv changes its packed weights) */
    append(d, cap, &n, &ok, "\nrun");
    for (int r = 0; r < en->nrun; r++)
        append(d, cap, &n, &ok, " %d:%d", en->run[r], (int)c->n[en->run[r]].act);
    append(d, cap, &n, &ok, "\noutputs");
    for (int i = 0; i < en->nout; i++)
        append(d, cap, &n, &ok, " %d", en->outs[i]);
    int rc = ok ? wcache_key_make(d, n, key) : -1;
    free(d);
    return rc;
}

/* Prepares the nodes from the cache file en->wc: a cached node's kernels
 * take their pieces from it (nothing read from the model, nothing
 * packed), the others prepare as usual.  0, -1 (an error), or
 * CACHE_OUT_OF_STEP when the file does not fit this plan. */
static int replay_nodes(engine *en, err_t *e)
{
    ectx *c = &en->c;
    wcache *wc = &en->wc;
    int np = 0;
    for (int r = 0; r < en->nrun; r++)
        np += c->n[en->run[r]].op->prepare != NULL;
    if (wc->nnodes != np)
        return CACHE_OUT_OF_STEP;
    /* the file's nodes in run order */
    int k = 0;
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        if (!n->op->prepare)
            continue;
        wcache_node *wn = &wc->nodes[k++];
        if (wn->node != en->run[r] || (wn->cached && !cacheable(c, n)))
            return CACHE_OUT_OF_STEP;
        if (wn->cached) {
            kmem_replay(&wn->log);
            int rc = n->op->prepare(c, n, e);
            kmem_replay(NULL);
            if (wn->log.failed || (rc == 0 && (wn->log.pos != wn->log.n || !wn->log.tagged)))
                return CACHE_OUT_OF_STEP;
            if (rc < 0)
                return -1;
        } else {
            /* packed from the model, as without the cache */
            kmem_set_current(en->wmem[0]);
            prefetch_weights(c, n);
            int rc = n->op->prepare(c, n, e);
            kmem_set_current(NULL);
            if (rc < 0)
                return -1;
        }
        if (op_is(n, "Conv"))
            drop_packed_weights(c, n);
    }
    return 0;
}

/* Floats of the largest deferred weights a Conv to pack reads (the stage
 * that holds any of them). */
static size_t largest_deferred(const engine *en)
{
    size_t big = 0;
    for (int r = 0; r < en->nrun; r++) {
        size_t n = conv_deferred(&en->c, &en->c.n[en->run[r]]);
        if (n > big)
            big = n;
    }
    return big;
}

/* Packs every node's weights (key: the packed-weight cache's key, NULL
 * for none): from the cache file when there is one that fits, else from
 * the model, then writing the file. */
static int pack_nodes(engine *en, wcache_key *key, err_t *e)
{
    ectx *c = &en->c;
    int np = 0;
    for (int r = 0; r < en->nrun; r++)
        np += c->n[en->run[r]].op->prepare != NULL;
    int use_cache = key != NULL;
    if (use_cache && !en->no_cache_read) {
        err_t ce;
        if (wcache_open(key, &en->wc, &ce) == 0) {
            if (kmem_adopt(en->wc.map, en->wc.len) == 0) {
                en->wc_adopted = 1;
                en->nwmem = 1;
                en->wmem = calloc(1, sizeof *en->wmem);
                if (!en->wmem || !(en->wmem[0] = kmem_create(0)))
                    return err_set(e, "out of memory");
                int rc = replay_nodes(en, e);
                if (rc < 0)
                    return rc;
                goto packed;
            }
            wcache_close(&en->wc);
        }
    }
    /* each node's pieces recorded, for the cache file */
    wcache_node *rec = use_cache ? calloc((size_t)np, sizeof *rec) : NULL;
    /* the first run of a cache that is being filled: layers that can are
     * left reading the model, packed afterwards by the cache's writer
     * (not when there is no cache to fill: CAM_NO_CACHE) */
    c->lazy_pack = 0;
    if (en->lazy_ok && rec) {
        char *dir = cache_dir();
        c->lazy_pack = dir != NULL;
        free(dir);
    }
    int nt = tp_size(en->tp);       /* the pool made when planning began */
    /* packed weights go to pools of large mappings, one per thread */
    en->wmem = calloc((size_t)nt, sizeof *en->wmem);
    if (!en->wmem)
        return err_set(e, "out of memory");
    en->nwmem = nt;
    for (int t = 0; t < nt; t++)
        if (!(en->wmem[t] = kmem_create(0)))
            return err_set(e, "out of memory");
    if (nt <= 1 || np <= 1) {
        /* one stage of the largest deferred weights' size: not regrown
         * (a new mapping faulted in again) each time a larger layer comes */
        size_t big = largest_deferred(en);
        if (big > c->nstage) {
            float *st = malloc(big * sizeof *st);
            if (st) {
                kmem_hint_huge(st, big * sizeof *st);
                free(c->stage);
                c->stage = st;
                c->nstage = big;
            }
        }
        kmem_set_current(en->wmem[0]);
        for (int r = 0, k = 0; r < en->nrun; r++) {
            enode *n = &c->n[en->run[r]];
            if (!n->op->prepare)
                continue;
            prefetch_weights(c, n);
            if (rec) {
                rec[k].node = en->run[r];
                kmem_record(&rec[k++].log);
            }
            int rc = n->op->prepare(c, n, e);
            kmem_record(NULL);
            if (rc < 0) {
                kmem_set_current(NULL);
                free_records(rec, np);
                return -1;
            }
            if (op_is(n, "Conv"))
                drop_packed_weights(c, n);
        }
        kmem_set_current(NULL);
    } else {
        struct prep_job j = {en, 0, NULL, NULL, NULL, NULL, rec};
        j.node = malloc(sizeof(int) * (size_t)np);
        j.tc = calloc((size_t)nt, sizeof *j.tc);
        j.err = calloc((size_t)np, sizeof *j.err);
        j.rc = calloc((size_t)np, sizeof *j.rc);
        int rc = 0;
        if (!j.node || !j.tc || !j.err || !j.rc) {
            rc = err_set(e, "out of memory");
        } else {
            for (int r = 0; r < en->nrun; r++)
                if (c->n[en->run[r]].op->prepare)
                    j.node[j.n++] = en->run[r];
            /* the big ones first, so that the threads end together */
            qsort_r(j.node, (size_t)j.n, sizeof *j.node, cmp_prep, c);
            for (int k = 0; rec && k < j.n; k++)
                rec[k].node = j.node[k];
            for (int t = 0; t < nt; t++) {
                j.tc[t] = *c;
                j.tc[t].stage = NULL;
                j.tc[t].nstage = 0;
                j.tc[t].stage_map = 0;
            }
            simd_level();           /* detected once, before the threads */
            tp_run(en->tp, j.n, prep_task, &j);
            /* the first failure in run order */
            for (int r = 0; r < en->nrun && rc == 0; r++)
                for (int k = 0; k < j.n; k++)
                    if (j.node[k] == en->run[r] && j.rc[k] < 0) {
                        if (e)
                            *e = j.err[k];
                        rc = -1;
                        break;
                    }
        }
        if (j.tc)
            for (int t = 0; t < nt; t++) {
                if (j.tc[t].stage_map)
                    kmem_unmap(j.tc[t].stage, j.tc[t].stage_map);
                else
                    free(j.tc[t].stage);
            }
        free(j.node);
        free(j.tc);
        free(j.err);
        free(j.rc);
        if (rc < 0) {
            free_records(rec, np);
            return -1;
        }
    }
    for (int t = 0; t < en->nwmem; t++)
        kmem_trim(en->wmem[t]);         /* the rest of each last huge page */
    c->lazy_pack = 0;
    /* the nodes left reading the model: packed by the writer's thread,
     * which then writes the cache file; a failure to write it only
     * means packing again next time */
    for (int r = 0; r < en->nrun; r++)
        if (node_deferred(&c->n[en->run[r]]))
            en->ndefer++;
    if (en->ndefer) {
        en->defer_node = malloc(sizeof(int) * (size_t)en->ndefer);
        en->defer_packed = calloc((size_t)en->ndefer, sizeof(void *));
        en->defer_done = calloc((size_t)en->ndefer, sizeof(int));
        en->defer_claim = calloc((size_t)en->ndefer, sizeof(int));
        en->defer_taken = calloc((size_t)en->ndefer, 1);
        if (!en->defer_node || !en->defer_packed || !en->defer_done || !en->defer_claim ||
            !en->defer_taken) {
            en->ndefer = 0;     /* (the nodes keep reading the model) */
        } else {
            int d = 0;
            for (int r = 0; r < en->nrun; r++)
                if (node_deferred(&c->n[en->run[r]]))
                    en->defer_node[d++] = en->run[r];
            en->model = c->g;
        }
    }
    if (rec || en->ndefer) {
        if (write_cache(en, key, rec, np) < 0)
            en->ndefer = 0;
        rec = NULL;
    }
    en->nleft = en->ndefer;
    free_records(rec, np);
packed:
    for (int r = 0; r < en->nrun; r++) {
        const enode *n = &c->n[en->run[r]];
        if (op_is(n, "Conv"))
            en->weight_bytes += conv_node_weight_bytes(n);
    }
    return 0;
}

static int prepare_nodes(engine *en, const graph *g, err_t *e)
{
    wcache_key key;
    if (cache_key(en, g, &key) < 0)
        return pack_nodes(en, NULL, e);
    int rc = pack_nodes(en, &key, e);
    wcache_key_free(&key);
    return rc;
}

/* Per node: 1 when a requested output depends on it (walking the nodes
 * backwards from the outputs' tensors); NULL when out of memory. */
static unsigned char *needed_nodes(const ectx *c, const graph *g, const engine_opts *o)
{
    char *tneed = calloc((size_t)c->ntensors + 1, 1);
    unsigned char *need = calloc((size_t)c->nnodes + 1, 1);
    if (!tneed || !need) {
        free(tneed);
        free(need);
        return NULL;
    }
    for (int i = 0; i < o->noutputs; i++) {
        int ti = o->outputs[i] ? graph_find_tensor(g, o->outputs[i]) : -1;
        if (ti >= 0 && ti < c->ntensors)
            tneed[ti] = 1;
    }
    for (int i = c->nnodes - 1; i >= 0; i--) {
        const enode *n = &c->n[i];
        for (int k = 0; k < n->nout && !need[i]; k++)
            need[i] = n->out[k] >= 0 && tneed[n->out[k]];
        for (int k = 0; need[i] && k < n->nin; k++)
            if (n->in[k] >= 0)
                tneed[n->in[k]] = 1;
    }
    free(tneed);
    return need;
}

/* An expanded map at least this large (a core's L2 cache) is made band
 * by band inside the depthwise Conv that reads it (conv_run_expand_dw):
 * MobileNetV2's 96 x 112 x 112 and 144 x 56 x 56 ones.  Smaller ones stay
 * in cache between the two Convs anyway. */
#define FUSE_MIN_BYTES ((size_t)1 << 20)

/* Expanding 1x1 Convs whose output only a depthwise Conv reads run inside
 * it: taken out of the run list, the depthwise one reading their input
 * (so the expanded tensor is never allocated).  CAM_FUSE=0 turns it off. */
static void fuse_expand_dw(engine *en)
{
    ectx *c = &en->c;
    const char *env = getenv("CAM_FUSE");
    if (c->reference || (env && strcmp(env, "0") == 0))
        return;
    count_uses(en);
    int w = 0;
    for (int r = 0; r < en->nrun; r++) {
        enode *b = &c->n[en->run[r]];
        enode *a = op_is(b, "Conv") && b->nin > 0 && b->in[0] >= 0 ? fusable_producer(en, b->in[0]) : NULL;
        if (a && op_is(a, "Conv") && conv_node_fuse_expand(a, b, FUSE_MIN_BYTES)) {
            b->in[0] = a->in[0];
            a->live = 0;
            /* a was the run list's previous entry or earlier: drop it */
            for (int q = w - 1; q >= 0; q--)
                if (en->run[q] == (int)(a - c->n)) {
                    memmove(&en->run[q], &en->run[q + 1], sizeof *en->run * (size_t)(w - 1 - q));
                    w--;
                    break;
                }
        }
        en->run[w++] = en->run[r];
    }
    en->nrun = w;
    count_uses(en);
}

static int plan(engine *en, const graph *g, const engine_opts *o, engine_shapes **sh, err_t *e)
{
    ectx *c = &en->c;
    int ndim;
    int64_t dims[TENSOR_MAXDIM];
    /* from engine_infer_shapes when it was given: its constants and
     * operators as they are, the shapes inferred again below */
    if (ectx_init_from(c, g, sh, e) < 0)
        return -1;
    c->reference = o->reference;
    c->wino_keep = o->keep_transforms != 0;
    en->lazy_ok = o->lazy_pack && !o->reference && !o->plan_only;
    c->nthreads = o->threads > 0 ? o->threads : engine_default_threads();
    if (c->nthreads > 1 && !o->plan_only && !(en->tp = tp_create(c->nthreads)))
        return err_set(e, "cannot create %d threads", c->nthreads);
    if (ectx_resolve_source(c, o->input, o->in_ndim, o->in_dims, &en->src, &ndim, dims, e) < 0)
        return -1;
    /* Only the nodes the requested outputs depend on are inferred (not for
     * a listing): a node past them with shapes fixed for one image (a
     * Reshape to 1 x classes) then does not stop a batch of N. */
    unsigned char *need = NULL;
    if (o->noutputs > 0 && !o->plan_only && o->outputs && !(need = needed_nodes(c, g, o)))
        return err_set(e, "out of memory");
    int irc = ectx_infer(c, en->src, ndim, dims, need, e);
    free(need);
    if (irc < 0)
        return -1;
    c->t[en->src].is_input = 1;

    /* outputs */
    en->nout = o->noutputs > 0 ? o->noutputs : g->noutputs;
    if (en->nout < 1)
        return err_set(e, "no outputs requested and the model declares none");
    en->outs = malloc(sizeof(int) * (size_t)en->nout);
    if (!en->outs)
        return err_set(e, "out of memory");
    for (int i = 0; i < en->nout; i++) {
        int ti;
        if (o->noutputs > 0) {
            if (!o->outputs || !o->outputs[i])
                return err_set(e, "output %d: no name", i);
            ti = graph_find_tensor(g, o->outputs[i]);
            if (ti < 0 || ti >= c->ntensors)
                return err_set(e, "no tensor named '%s' in the model", o->outputs[i]);
        } else {
            ti = g->outputs[i];
            if (ti < 0 || ti >= c->ntensors)
                return err_set(e, "bad graph output %d", i);
        }
        en->outs[i] = ti;
        c->t[ti].requested = 1;
        if (ectx_materialize(c, ti, e) < 0)
            return -1;
    }
    if (select_nodes(en, e) < 0)
        return -1;
    if (fuse(en, e) < 0)
        return -1;

    /* run list, weight packing */
    en->run = malloc(sizeof(int) * (size_t)(c->nnodes + 1));
    en->list = malloc(sizeof(int) * (size_t)(c->ntensors + 1));
    if (!en->run || !en->list)
        return err_set(e, "out of memory");
    en->list[en->nlist++] = en->src;
    for (int i = 0; i < c->nnodes; i++) {
        enode *n = &c->n[i];
        /* listing: the outputs the graph gives this node (fusion may have
         * redirected n->out), in graph order, once each */
        const gnode *gn = &g->nodes[i];
        if (n->live == 1 || n->live == 2 || (n->live == 0 && n->p && n->op))
            for (int k = 0; k < gn->nout; k++) {
                int ti = gn->out[k];
                if (ti >= 0 && ti < c->ntensors && c->t[ti].ndim >= 0 && !c->t[ti].cdata &&
                    ti != en->src && !c->t[ti].listed) {
                    c->t[ti].listed = 1;
                    en->list[en->nlist++] = ti;
                }
            }
        if (n->live != 2)
            continue;
        en->run[en->nrun++] = i;
    }
    if (o->plan_only) {
        /* shapes and the listing only: no weight packed, nothing allocated
         * for running */
        en->plan_only = 1;
        for (int i = 0; i < c->nnodes; i++)
            c->n[i].g = NULL;
        c->g = NULL;
        return 0;
    }
    /* deferred constants of the nodes that run and read them as they are:
     * their values now (a Gemm's B is kept by its prepare); those of nodes
     * not run are never read */
    for (int r = 0; r < en->nrun; r++) {
        const enode *n = &c->n[en->run[r]];
        if (op_is(n, "Conv"))
            continue;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && !(k == 1 && op_is(n, "Gemm")) && ectx_materialize(c, n->in[k], e) < 0)
                return -1;
    }
    int prc = prepare_nodes(en, g, e);
    if (prc < 0)
        return prc;

    free(c->stage);             /* deferred weights are all packed */
    c->stage = NULL;
    c->nstage = 0;
    fuse_expand_dw(en);

    /* aliasing and live ranges (positions in the run list; the input is
     * defined before the first node, requested outputs live to the end) */
    for (int i = 0; i < c->ntensors; i++) {
        c->t[i].first = INT_MAX;
        c->t[i].last = -1;
        c->t[i].alias = -1;
        c->t[i].alias_off = 0;
    }
    c->t[en->src].first = -1;
    c->t[en->src].last = -1;
    /* Concat in place: an input made only for the concatenation is
     * written by its producer straight into its slice of the output (when
     * the slice is contiguous and 64-byte aligned), so Concat copies
     * nothing for it */
    count_uses(en);
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        if (!op_is(n, "Concat"))
            continue;
        for (int k = 0; k < n->nin; k++) {
            int x = n->in[k];
            long long off = concat_slice_offset(n, k);
            if (x < 0 || off < 0 || off % 64)
                continue;
            etensor *t = &c->t[x];
            const enode *p = t->producer >= 0 ? &c->n[t->producer] : NULL;
            if (t->cdata || x == en->src || t->requested || t->nuse != 1 || t->alias >= 0 ||
                x == n->out[0] || !p || p->live != 2 || p->op->alias)
                continue;
            t->alias = n->out[0];
            t->alias_off = (size_t)off;
        }
    }
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        if (n->op->alias && n->in[0] >= 0 && !c->t[n->in[0]].cdata && n->act == EACT_NONE &&
            (c->t[n->out[0]].nq == 0 || same_quant(&c->t[n->out[0]], &c->t[n->in[0]])))
            c->t[n->out[0]].alias = n->in[0];
        for (int k = 0; k < n->nout; k++)
            if (n->out[k] >= 0) {
                int rt = root_of(c, n->out[k]);
                if (c->t[rt].first == INT_MAX)
                    c->t[rt].first = r;
                if (c->t[rt].last < r)
                    c->t[rt].last = r;
            }
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && !c->t[n->in[k]].cdata) {
                int rt = root_of(c, n->in[k]);
                if (c->t[rt].last < r)
                    c->t[rt].last = r;
            }
    }
    for (int i = 0; i < en->nout; i++) {
        int ti = en->outs[i];
        if (!c->t[ti].cdata)
            c->t[root_of(c, ti)].last = INT_MAX - 1;
    }
    quant_choose_u8(c, en->run, en->nrun);     /* quantised tensors held as uint8 */
    if (assign_arena(en, e) < 0)
        return -1;
    for (int i = 0; i < c->ntensors; i++) {
        etensor *t = &c->t[i];
        if (t->cdata)
            t->ptr = t->cdata;
        else {
            int rt = root_of(c, i);
            t->ptr = c->t[rt].first != INT_MAX
                         ? (float *)(void *)(en->arena + c->t[rt].off + alias_offset(c, i))
                         : NULL;
        }
    }
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        for (int k = 0; k < n->nin; k++)
            n->ip[k] = n->in[k] >= 0 ? c->t[n->in[k]].ptr : NULL;
        for (int k = 0; k < n->nout; k++)
            n->opp[k] = n->out[k] >= 0 ? c->t[n->out[k]].ptr : NULL;
    }

    /* constants still read at run time count as weights; free the others
     * (Conv and BatchNormalization hold their parameters themselves) */
    for (int i = 0; i < c->ntensors; i++)
        c->t[i].nuse = 0;
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        int packed = op_is(n, "Conv") || op_is(n, "BatchNormalization");
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] < 0)
                continue;
            if (packed && k > 0)
                n->ip[k] = NULL;
            else
                c->t[n->in[k]].nuse++;
        }
    }
    for (int i = 0; i < en->nout; i++)
        c->t[en->outs[i]].nuse++;
    for (int i = 0; i < c->ntensors; i++) {
        etensor *t = &c->t[i];
        if (!t->cdata)
            continue;
        if (t->nuse)
            en->weight_bytes += (size_t)t->numel * (t->dtype == DT_I64 ? 8 : 4);
        else {
            ectx_drop_const(c, t);
            t->ptr = NULL;
        }
    }

    /* integer constants asked for as outputs are returned as floats */
    en->outf = calloc((unsigned)en->nout, sizeof *en->outf);
    if (!en->outf)
        return err_set(e, "out of memory");
    for (int i = 0; i < en->nout; i++) {
        const etensor *t = &c->t[en->outs[i]];
        if (t->cdata && t->dtype == DT_I64) {
            size_t cnt = t->numel > 0 ? (size_t)t->numel : 0;
            en->outf[i] = malloc(sizeof(float) * (cnt + 1));
            if (!en->outf[i])
                return err_set(e, "out of memory");
            for (int64_t j = 0; j < t->numel; j++)
                en->outf[i][j] = (float)((const int64_t *)t->cdata)[j];
        }
    }

    /* scratch and threads */
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        if (n->op->scratch) {
            size_t s = n->op->scratch(n, c->nthreads);
            if (s > en->scratch_bytes)
                en->scratch_bytes = s;
        }
    }
    if (en->scratch_bytes > ENGINE_MAX_ARENA)
        return err_set(e, "kernels need more than %zu bytes of scratch", ENGINE_MAX_ARENA);
    en->scratch_bytes = (en->scratch_bytes + 63) & ~(size_t)63;
    en->scratch = aligned_alloc(64, en->scratch_bytes ? en->scratch_bytes : 64);
    if (!en->scratch)
        return err_set(e, "out of memory for %zu bytes of scratch", en->scratch_bytes);
    for (int i = 0; i < c->nnodes; i++)
        c->n[i].g = NULL;
    c->g = NULL;
    return 0;
}

engine *engine_create(const graph *g, const engine_opts *o, err_t *e)
{
    engine_opts dflt;
    if (!o) {
        memset(&dflt, 0, sizeof dflt);
        o = &dflt;
    }
    engine_shapes *sh = o->shapes;     /* ours from here on */
    engine *en = NULL;
    int rc;
    if (!g) {
        rc = err_set(e, "no model");
        goto out;
    }
    if (o->threads < 0 || o->threads > 256) {
        rc = err_set(e, "threads: %d out of range", o->threads);
        goto out;
    }
    if (!(en = calloc(1, sizeof *en))) {
        rc = err_set(e, "out of memory");
        goto out;
    }
    rc = plan(en, g, o, &sh, e);
    if (rc == CACHE_OUT_OF_STEP) {
        /* a packed-weight cache file that does not fit: pack from the
         * model (and write the file anew) */
        engine_free(en);
        if (!(en = calloc(1, sizeof *en))) {
            rc = err_set(e, "out of memory");
            goto out;
        }
        en->no_cache_read = 1;
        rc = plan(en, g, o, &sh, e);
    }
out:
    engine_shapes_free(sh);
    if (rc < 0) {
        engine_free(en);
        malloc_trim(0);
        return NULL;
    }
    /* give the memory of planning's copies back to the system */
    malloc_trim(0);
    start_writer(en);
    return en;
}

/* The deferred nodes take their packed forms as the writer makes them
 * (wait: all, after waiting for it); the model's pages they read go. */
static void adopt_packed(engine *en, int wait)
{
    ectx *c = &en->c;
    for (int d = 0; d < en->ndefer && en->nleft; d++) {
        if (en->defer_taken[d] ||
            (!wait && !__atomic_load_n(&en->defer_done[d], __ATOMIC_ACQUIRE)))
            continue;
        en->defer_taken[d] = 1;
        en->nleft--;
        enode *n = &c->n[en->defer_node[d]];
        if (!en->defer_packed[d])
            continue;           /* (out of memory: it goes on reading the model) */
        node_defer_adopt(n, en->defer_packed[d]);
        en->defer_packed[d] = NULL;
        if (op_is(n, "Conv"))
            en->weight_bytes += conv_node_weight_bytes(n);
        if (n->nin > 1 && n->in[1] >= 0)
            graph_drop_tensor(en->model, n->in[1]);
    }
}

/* Before node n runs: a deferred node whose weights it reads and that a
 * packer is packing now is waited for (at most one layer's packing), so
 * that n runs packed rather than reading the model beside the packer: the
 * same work again, and the layer's model pages (9.4 MB for ResNet-18's
 * largest) in memory beside everything packed so far. */
static void await_packing(engine *en, const enode *n)
{
    for (int d = 0; d < en->ndefer; d++) {
        if (en->defer_taken[d] || !__atomic_load_n(&en->defer_claim[d], __ATOMIC_RELAXED) ||
            !node_defer_reads(n, &en->c.n[en->defer_node[d]]))
            continue;
        while (!__atomic_load_n(&en->defer_done[d], __ATOMIC_ACQUIRE))
            sched_yield();
    }
}

/* Around each node of a run while deferred nodes are left: before it,
 * what is packed is taken (waiting for a layer it reads that is being
 * packed); after it, the model's pages it read go (faulted in again next
 * run). */
static void defer_before(engine *en, const enode *n)
{
    if (en->nleft) {
        await_packing(en, n);
        adopt_packed(en, 0);
    }
}

static void defer_after(engine *en, const enode *n)
{
    if (en->nleft)
        node_defer_release(en->model, n);
}

void engine_free(engine *en)
{
    if (!en)
        return;
    if (en->writer)
        wjobs_wait(en->writer);     /* it reads the packed weights */
    if (en->unstarted)
        wjob_discard(en->unstarted);
    if (en->nleft)
        adopt_packed(en, 1);        /* to be freed with the nodes */
    free(en->defer_node);
    free(en->defer_packed);
    free(en->defer_done);
    free(en->defer_claim);
    free(en->defer_taken);
    ectx_free(&en->c);          /* the kernels, whose weights are in wmem */
    for (int t = 0; t < en->nwmem; t++)
        kmem_destroy(en->wmem[t]);
    free(en->wmem);
    if (en->wc_adopted)
        kmem_disown(en->wc.map);
    wcache_close(&en->wc);
    if (en->outf)
        for (int i = 0; i < en->nout; i++)
            free(en->outf[i]);
    free(en->outf);
    free(en->outs);
    free(en->run);
    free(en->list);
    if (en->arena_mapped)
        munmap(en->arena, en->arena_mapped);
    else
        free(en->arena);
    free(en->scratch);
    if (en->tp)
        tp_free(en->tp);
    free(en);
}

static void epi_fn(void *ctx, long long a, long long b, int thread)
{
    const enode *n = ctx;
    epilogue_apply(n, n->opp[0] + a, b - a, n->act_in_kernel);
}

/* The node's epilogue (activation not done by its kernel, rounding to the
 * output grid), split over the threads when the output is large and the
 * grid is per tensor. */
static void epilogue(engine *en, const enode *n, const etensor *t)
{
    int nt = tp_size(en->tp);
    if (nt > 1 && t->nq <= 1 && t->numel >= 32768)
        tp_run_range(en->tp, t->numel, 16, epi_fn, (void *)n);
    else
        epilogue_apply(n, n->opp[0], t->numel, n->act_in_kernel);
}

int engine_run(engine *en, const float *input, err_t *e)
{
    ectx *c = &en->c;
    etensor *s = &c->t[en->src];
    if (en->plan_only)
        return err_set(e, "the engine was planned for listing only");
    if (s->numel > 0) {
        if (!input)
            return err_set(e, "no input");
        memcpy(s->ptr, input, sizeof(float) * (size_t)s->numel);
    }
    quant_round(s, s->ptr, s->numel);
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        defer_before(en, n);
        n->op->run(n, en->scratch, en->tp);
        defer_after(en, n);
        const etensor *t0 = &c->t[n->out[0]];
        if ((n->act != EACT_NONE && !n->act_in_kernel) ||
            (t0->nq && !n->quant_in_kernel && !(n->op->alias && t0->alias >= 0)))
            epilogue(en, n, t0);
        for (int k = 1; k < n->nout; k++)
            if (n->out[k] >= 0 && c->t[n->out[k]].nq)
                quant_round(&c->t[n->out[k]], n->opp[k], c->t[n->out[k]].numel);
    }
    return 0;
}

int engine_profile(engine *en, const float *input, int (*clock)(double *ms),
                   void (*node)(void *ctx, const char *op, const char *name, double ms), void *ctx,
                   err_t *e)
{
    ectx *c = &en->c;
    etensor *s = &c->t[en->src];
    if (en->plan_only)
        return err_set(e, "the engine was planned for listing only");
    double t0, t1;
    if (s->numel > 0) {
        if (!input)
            return err_set(e, "no input");
        memcpy(s->ptr, input, sizeof(float) * (size_t)s->numel);
    }
    quant_round(s, s->ptr, s->numel);
    for (int r = 0; r < en->nrun; r++) {
        enode *n = &c->n[en->run[r]];
        defer_before(en, n);
        clock(&t0);
        n->op->run(n, en->scratch, en->tp);
        defer_after(en, n);
        const etensor *t = &c->t[n->out[0]];
        if ((n->act != EACT_NONE && !n->act_in_kernel) ||
            (t->nq && !n->quant_in_kernel && !(n->op->alias && t->alias >= 0)))
            epilogue(en, n, t);
        for (int k = 1; k < n->nout; k++)
            if (n->out[k] >= 0 && c->t[n->out[k]].nq)
                quant_round(&c->t[n->out[k]], n->opp[k], c->t[n->out[k]].numel);
        clock(&t1);
        node(ctx, n->op->name, n->name, t1 - t0);
    }
    return 0;
}

int engine_input_shape(const engine *en, int64_t dims[TENSOR_MAXDIM])
{
    const etensor *t = &en->c.t[en->src];
    memcpy(dims, t->dims, sizeof(int64_t) * TENSOR_MAXDIM);
    return t->ndim;
}

int engine_output_shape(const engine *en, int i, int64_t dims[TENSOR_MAXDIM])
{
    if (i < 0 || i >= en->nout)
        return -1;
    const etensor *t = &en->c.t[en->outs[i]];
    memcpy(dims, t->dims, sizeof(int64_t) * TENSOR_MAXDIM);
    return t->ndim;
}

int engine_noutputs(const engine *en)
{
    return en->nout;
}

const char *engine_output_name(const engine *en, int i)
{
    return i >= 0 && i < en->nout ? en->c.t[en->outs[i]].name : NULL;
}

const float *engine_output(const engine *en, int i)
{
    if (i < 0 || i >= en->nout)
        return NULL;
    return en->outf[i] ? en->outf[i] : en->c.t[en->outs[i]].ptr;
}

int engine_ntensors(const engine *en)
{
    return en->nlist;
}

const char *engine_tensor_name(const engine *en, int i, int64_t dims[TENSOR_MAXDIM], int *ndim)
{
    if (i < 0 || i >= en->nlist)
        return NULL;
    const etensor *t = &en->c.t[en->list[i]];
    if (dims)
        memcpy(dims, t->dims, sizeof(int64_t) * TENSOR_MAXDIM);
    if (ndim)
        *ndim = t->ndim;
    return t->name;
}

int engine_weights_cached(const engine *en)
{
    return en && en->wc.map != NULL;
}

int engine_reads_model(const engine *en)
{
    return en && en->nleft > 0;
}

int engine_batch_gain(const engine *en)
{
    int n = 0;
    for (int r = 0; r < en->nrun; r++)
        n += op_is(&en->c.n[en->run[r]], "Conv") && conv_node_batches(&en->c.n[en->run[r]]);
    return n;
}

size_t engine_weight_bytes(const engine *en)
{
    return en->weight_bytes;
}

size_t engine_arena_bytes(const engine *en)
{
    return en->arena_bytes;
}
