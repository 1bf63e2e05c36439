/* cnn-features - run a CNN on images and write its CAM feature maps (or any
 * named tensors) as a tensor stream.  See cnn-features(1).
 *
 *   jpegtopnm cat.jpg | cnn-features -m googlenet.onnx | cam-map | cam-bbox
 *
 * Each input file holds netpbm images (every image of a multi-image stream),
 * one JPEG image (decoded in the process, as jpegtopnm decodes it) or
 * tensor-stream records of an already preprocessed input; the kind is
 * recognised per file from its first bytes.  The model is loaded and
 * planned once; each image is preprocessed and run, and one record per
 * requested layer is written before the next image is read (with -batch
 * N, once N images are read, or the inputs end).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "engine.h"
#include "graph.h"
#include "head.h"
#include "image.h"
#include "models.h"
#include "preprocess.h"
#include "queue.h"
#include "tstream.h"

static const char usage[] =
    "cnn-features -m MODEL [-layer NAME]... [-list] [-size WxH] [-mean R,G,B]\n"
    "       [-std R,G,B] [-bgr | -rgb] [-threads N] [-batch N] [-fast] [-z] [-f16] [-bench RUNS]\n"
    "       [FILE... | -queue LIST [-take N]]";

/* libnetpbm leaks a 1-byte buffer when it rejects a PAM header (it longjmps
 * past its own free); keep LeakSanitizer builds quiet about it. */
__attribute__((used)) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libnetpbm.so\n";
}

#define MAX_LAYERS 64
#define MAX_BATCH 64

struct options {
    const char *model;
    const char *layers[MAX_LAYERS];
    int nlayers;
    int list;
    int width, height;          /* -size, 0: the model's */
    int have_mean, have_std;
    float mean[3], std[3];
    int order;                  /* -1 model's, 0 RGB, 1 BGR */
    int threads;
    int batch;                  /* -batch, 1: one image at a time */
    int fast;                   /* -fast: every Winograd layer's filters kept */
    int gzip, f16;
    long bench;                 /* 0: off */
    const char *queue;          /* -queue: the shared list of names */
    long take;                  /* -take: names taken from it at most, 0: all */
    const char **files;
    int nfiles;
};

static void parse_size(const char *arg, int *w, int *h)
{
    char *end;
    long a, b;
    errno = 0;
    a = strtol(arg, &end, 10);
    if (end == arg || (*end != 'x' && *end != 'X'))
        cli_usage(usage, "option -size: '%s' is not WxH", arg);
    b = strtol(end + 1, &end, 10);
    if (errno || *end || a < 1 || b < 1 || a > 30000 || b > 30000)
        cli_usage(usage, "option -size: '%s' is not WxH with sides 1..30000", arg);
    *w = (int)a;
    *h = (int)b;
}

static void parse_command_line(int argc, char **argv, struct options *o)
{
    int i;
    memset(o, 0, sizeof *o);
    o->order = -1;
    o->batch = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
#define NEEDS_VALUE() do { if (!v) cli_usage(usage, "option %s needs a value", a); i++; } while (0)
        if (strcmp(a, "-m") == 0) {
            NEEDS_VALUE();
            o->model = v;
        } else if (strcmp(a, "-layer") == 0) {
            NEEDS_VALUE();
            if (o->nlayers == MAX_LAYERS)
                cli_usage(usage, "option -layer: at most %d layers", MAX_LAYERS);
            if (!*v)
                cli_usage(usage, "option -layer: empty name");
            o->layers[o->nlayers++] = v;
        } else if (strcmp(a, "-list") == 0) {
            o->list = 1;
        } else if (strcmp(a, "-size") == 0) {
            NEEDS_VALUE();
            parse_size(v, &o->width, &o->height);
        } else if (strcmp(a, "-mean") == 0) {
            NEEDS_VALUE();
            if (preprocess_parse3(v, o->mean) < 0)
                cli_usage(usage, "option -mean: '%s' is not three numbers R,G,B", v);
            o->have_mean = 1;
        } else if (strcmp(a, "-std") == 0) {
            NEEDS_VALUE();
            if (preprocess_parse3(v, o->std) < 0 || o->std[0] == 0 || o->std[1] == 0 || o->std[2] == 0)
                cli_usage(usage, "option -std: '%s' is not three non-zero numbers R,G,B", v);
            o->have_std = 1;
        } else if (strcmp(a, "-bgr") == 0) {
            o->order = 1;
        } else if (strcmp(a, "-rgb") == 0) {
            o->order = 0;
        } else if (strcmp(a, "-threads") == 0) {
            NEEDS_VALUE();
            o->threads = (int)cli_long(usage, a, v, 1, 256);
        } else if (strcmp(a, "-batch") == 0) {
            NEEDS_VALUE();
            o->batch = (int)cli_long(usage, a, v, 1, MAX_BATCH);
        } else if (strcmp(a, "-fast") == 0) {
            o->fast = 1;
        } else if (strcmp(a, "-z") == 0) {
            o->gzip = 1;
        } else if (strcmp(a, "-f16") == 0) {
            o->f16 = 1;
        } else if (strcmp(a, "-bench") == 0) {
            NEEDS_VALUE();
            o->bench = cli_long(usage, a, v, 1, 1000000);
        } else if (strcmp(a, "-queue") == 0) {
            NEEDS_VALUE();
            o->queue = v;
        } else if (strcmp(a, "-take") == 0) {
            NEEDS_VALUE();
            o->take = cli_long(usage, a, v, 1, 1000000000000L);
        } else {
            cli_usage(usage, "unknown option %s", a);
        }
#undef NEEDS_VALUE
    }
    if (!o->model)
        cli_usage(usage, "no model: -m MODEL is required");
    o->files = (const char **)argv + i;
    o->nfiles = argc - i;
    if (o->take && !o->queue)
        cli_usage(usage, "option -take needs -queue");
    if (o->queue && o->nfiles)
        cli_usage(usage, "-queue and FILE operands exclude each other");
}

/* ---------------------------------------------------------------- state */

struct run {
    const struct options *o;
    graph g;
    engine *en;
    cam_head head;
    int have_head;
    int in_tensor;
    int64_t in_dims[TENSOR_MAXDIM];
    int in_ndim;
    size_t in_numel;
    preprocess_params pp;
    float *input;               /* in_numel floats */
    const char **layers;        /* output names, nlayers */
    int nlayers;
    tsw *w;                     /* NULL in -bench mode */
    double load_ms;
    /* -batch N > 1: a second engine for N images at once, its inputs
     * (N x in_numel), and the images read but not yet run */
    engine *enb;
    float *binput;
    int npend, flushing;
    struct pend {
        char *source, *where;
        long index;
        int w, h;
    } pend[MAX_BATCH];
    /* -bench */
    int bench_done;
};

static struct run *the_run;     /* for die(): finish the output first */
static void flush_batch(struct run *r);

/* Error exit that keeps complete records already written intact (and
 * finishes a gzip stream). */
__attribute__((noreturn, format(printf, 2, 3)))
static void die(int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (the_run && the_run->npend && !the_run->flushing) {
        /* the images read before the failure still get their records */
        flush_batch(the_run);
    }
    if (the_run && the_run->w) {
        err_t e;
        tsw_close(the_run->w, &e);
        the_run->w = NULL;
    }
    cli_die(status, "%s", msg);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- output */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* -bench: warm up 3 runs, time o->bench runs of the engine, print a line. */
static void bench(struct run *r)
{
    long n = r->o->bench;
    double *t = malloc((size_t)n * sizeof *t), mn;
    err_t e;
    engine *en = r->en;
    const float *in = r->input;
    int nb = 1;
    if (!t)
        die(EXIT_DATA, "out of memory");
    if (r->enb) {
        /* -batch N: the image N times in one run; times per image */
        nb = r->o->batch;
        for (int b = 0; b < nb; b++)
            memcpy(r->binput + (size_t)b * r->in_numel, r->input, r->in_numel * sizeof(float));
        en = r->enb;
        in = r->binput;
    }
    for (int i = 0; i < 3; i++)
        if (engine_run(en, in, &e) < 0)
            die(EXIT_DATA, "%s", e.msg);
    for (long i = 0; i < n; i++) {
        double t0 = now_ms();
        if (engine_run(en, in, &e) < 0)
            die(EXIT_DATA, "%s", e.msg);
        t[i] = (now_ms() - t0) / nb;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    mn = t[0];
    printf("%s\t%d\t%.3f\t%.3f\t%.3f\n", r->o->model,
           r->o->threads ? r->o->threads : engine_default_threads(), r->load_ms,
           n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, mn);
    free(t);
    r->bench_done = 1;
}

/* Writes one record per layer for image b of the last run of en (nb
 * images). */
static void write_records(struct run *r, engine *en, int b, int nb, const char *source, long index,
                          int img_w, int img_h, const char *where)
{
    err_t e;
    for (int i = 0; i < r->nlayers; i++) {
        int64_t dims[TENSOR_MAXDIM], od[TENSOR_MAXDIM];
        int nd = engine_output_shape(en, i, dims), ond = 0, first = 0;
        const float *out = engine_output(en, i);
        const char *name = engine_output_name(en, i);
        int is_cam = r->have_head && strcmp(name, r->head.feature) == 0;
        tensor t;

        /* Drop the batch dimension (N = 1, or the nb images of a batch:
         * image b's part; main() checked that every layer has it). */
        if (nd >= 2 && dims[0] == nb)
            first = 1;
        if (nb > 1) {
            size_t per = 1;
            for (int k = 1; k < nd; k++)
                per *= (size_t)dims[k];
            out += (size_t)b * per;
        }
        for (int k = first; k < nd; k++)
            od[ond++] = dims[k];
        tensor_init(&t);
        if (tensor_describe(&t, name, DT_F32, ond, od, ond == 3 ? "C H W" : NULL, &e) < 0)
            die(EXIT_DATA, "%s: layer '%s': %s", where, name, e.msg);
        /* the payload is written from the engine's output itself (stable
         * until the next run): no copy, no fresh pages faulted in */
        t.data = (void *)out;
        if (tensor_meta_set(&t, "kind", is_cam ? "features" : "tensor", &e) < 0 ||
            tensor_meta_set(&t, "source", source, &e) < 0 ||
            tensor_meta_setf(&t, "source_index", &e, "%ld", index) < 0 ||
            tensor_meta_setf(&t, "image_width", &e, "%d", img_w) < 0 ||
            tensor_meta_setf(&t, "image_height", &e, "%d", img_h) < 0 ||
            tensor_meta_setf(&t, "input_width", &e, "%d", r->pp.width) < 0 ||
            tensor_meta_setf(&t, "input_height", &e, "%d", r->pp.height) < 0 ||
            tensor_meta_set(&t, "model", r->o->model, &e) < 0 ||
            tensor_meta_set(&t, "model_sha256", r->g.sha256, &e) < 0 ||
            tensor_meta_set(&t, "layer", name, &e) < 0)
            die(EXIT_DATA, "%s: %s", where, e.msg);
        int wr = tsw_write(r->w, &t, &e);
        t.data = NULL;
        tensor_free(&t);
        if (wr < 0)
            die(EXIT_DATA, "%s", e.msg);
    }
}

/* Runs the images read so far: N at once when there are N, else one at a
 * time (the inputs ended, or an error stops the run); in their order. */
static void flush_batch(struct run *r)
{
    err_t e;
    int n = r->npend;
    if (n == 0)
        return;
    r->flushing = 1;
    if (n == r->o->batch) {
        if (engine_run(r->enb, r->binput, &e) < 0)
            die(EXIT_DATA, "%s: %s", r->pend[0].where, e.msg);
        for (int b = 0; b < n; b++)
            write_records(r, r->enb, b, n, r->pend[b].source, r->pend[b].index, r->pend[b].w,
                          r->pend[b].h, r->pend[b].where);
    } else {
        for (int b = 0; b < n; b++) {
            memcpy(r->input, r->binput + (size_t)b * r->in_numel, r->in_numel * sizeof(float));
            if (engine_run(r->en, r->input, &e) < 0)
                die(EXIT_DATA, "%s: %s", r->pend[b].where, e.msg);
            write_records(r, r->en, 0, 1, r->pend[b].source, r->pend[b].index, r->pend[b].w,
                          r->pend[b].h, r->pend[b].where);
        }
    }
    for (int b = 0; b < n; b++) {
        free(r->pend[b].source);
        free(r->pend[b].where);
    }
    r->npend = 0;
    r->flushing = 0;
}

/* Runs the engine on r->input and writes one record per layer; with
 * -batch, keeps the image until N are read. */
static void run_and_write(struct run *r, const char *source, long index, int img_w, int img_h,
                          const char *where)
{
    err_t e;
    if (r->o->bench) {
        if (!r->bench_done)
            bench(r);
        return;
    }
    if (r->enb) {
        struct pend *p = &r->pend[r->npend];
        memcpy(r->binput + (size_t)r->npend * r->in_numel, r->input, r->in_numel * sizeof(float));
        p->source = strdup(source);
        p->where = strdup(where);
        if (!p->source || !p->where) {
            free(p->source);
            free(p->where);
            die(EXIT_DATA, "out of memory");
        }
        p->index = index;
        p->w = img_w;
        p->h = img_h;
        if (++r->npend == r->o->batch)
            flush_batch(r);
        return;
    }
    if (engine_run(r->en, r->input, &e) < 0)
        die(EXIT_DATA, "%s: %s", where, e.msg);
    write_records(r, r->en, 0, 1, source, index, img_w, img_h, where);
}

/* A pipe on fd that holds whole records (GoogLeNet's features: 200 KB;
 * 64 KB by default): each record is then one write that does not wait for
 * the reader, instead of four that each wait for it to drain the pipe and
 * wake this process again, often from the other core.  1 MB is the
 * largest size an unprivileged process may set by default
 * (/proc/sys/fs/pipe-max-size); failing that, the pipe stays as it is. */
static void grow_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        for (int sz = 1 << 20; sz > 1 << 16 && fcntl(fd, F_SETPIPE_SZ, sz) < 0; sz >>= 1)
            ;
#else
    (void)fd;
#endif
}

/* ---------------------------------------------------------------- inputs */

/* A FILE that first returns a few already-read bytes, then reads an fd:
 * lets a pipe be sniffed without losing its first bytes. */
struct prefixed {
    unsigned char buf[16];
    size_t n, pos;
    int fd;
};

static ssize_t prefixed_read(void *c, char *out, size_t size)
{
    struct prefixed *p = c;
    if (p->pos < p->n) {
        size_t k = p->n - p->pos < size ? p->n - p->pos : size;
        memcpy(out, p->buf + p->pos, k);
        p->pos += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t k = read(p->fd, out, size);
        if (k < 0 && errno == EINTR)
            continue;
        return k;
    }
}

static int prefixed_close(void *c)
{
    struct prefixed *p = c;
    int r = p->fd > 0 ? close(p->fd) : 0;
    free(p);
    return r;
}

static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static void do_images(struct run *r, FILE *f, const char *label)
{
    long index = 0;
    err_t e;
    image im;
    int k;
    while ((k = image_read_netpbm(f, &im, &e)) == 1) {
        char where[1100];
        snprintf(where, sizeof where, "%s: image %ld", label, index);
        if (preprocess_image(&im, &r->pp, r->input, &e) < 0)
            die(EXIT_DATA, "%s: %s", where, e.msg);
        run_and_write(r, label, index, im.w, im.h, where);
        image_free(&im);
        index++;
        if (r->bench_done)
            return;
    }
    if (k < 0)
        die(EXIT_DATA, "%s: image %ld: %s", label, index, e.msg);
}

/* label: the file as given ("-" for stdin), for the source key; mlabel:
 * its name in messages. */
static void do_tensors(struct run *r, tsr *rd, const char *label, const char *mlabel)
{
    tensor t;
    err_t e;
    int k;
    tensor_init(&t);
    for (;;) {
        long index = tsr_index(rd);
        char where[1100];
        long iw, ih;
        int ok;
        k = tsr_next(rd, &t, &e);
        if (k <= 0)
            break;
        snprintf(where, sizeof where, "%s: record %ld ('%s')", mlabel, index, t.name ? t.name : "");
        /* C x H x W or 1 x C x H x W equal to the model's input. */
        ok = (t.ndim == 3 && r->in_ndim == 4 && t.dims[0] == r->in_dims[1] && t.dims[1] == r->in_dims[2] &&
              t.dims[2] == r->in_dims[3]) ||
             (t.ndim == 4 && r->in_ndim == 4 && t.dims[0] == 1 && t.dims[1] == r->in_dims[1] &&
              t.dims[2] == r->in_dims[2] && t.dims[3] == r->in_dims[3]);
        if (!ok) {
            char got[160] = "", want[160] = "";
            size_t n = 0;
            for (int i = 0; i < t.ndim && n < sizeof got - 24; i++)
                n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", i ? "x" : "", (long long)t.dims[i]);
            if (t.ndim == 0)
                snprintf(got, sizeof got, "(scalar)");
            n = 0;
            for (int i = 1; i < r->in_ndim && n < sizeof want - 24; i++)
                n += (size_t)snprintf(want + n, sizeof want - n, "%s%lld", i > 1 ? "x" : "", (long long)r->in_dims[i]);
            tensor_free(&t);
            die(EXIT_DATA, "%s: shape %s does not match the model input %s", where, got, want);
        }
        if (t.dtype != DT_F32 && t.dtype != DT_F16) {
            int dt = t.dtype;
            tensor_free(&t);
            die(EXIT_DATA, "%s: dtype %s: the input must be f32 or f16", where, dtype_name(dt));
        }
        if (tensor_to_f32(&t, &e) < 0) {
            tensor_free(&t);
            die(EXIT_DATA, "%s: %s", where, e.msg);
        }
        memcpy(r->input, t.data, r->in_numel * sizeof(float));
        if (tensor_meta_long(&t, "image_width", &iw) < 0 || iw <= 0)
            iw = r->pp.width;
        if (tensor_meta_long(&t, "image_height", &ih) < 0 || ih <= 0)
            ih = r->pp.height;
        {
            const char *src = tensor_meta_get(&t, "source");
            long si;
            char *s = strdup(src ? src : label);
            if (tensor_meta_long(&t, "source_index", &si) < 0)
                si = index;
            tensor_free(&t);
            if (!s)
                die(EXIT_DATA, "out of memory");
            run_and_write(r, s, si, (int)iw, (int)ih, where);
            free(s);
        }
        if (r->bench_done)
            break;
    }
    tensor_free(&t);
    if (k < 0)
        die(EXIT_DATA, "%s", e.msg);
}

/* Largest JPEG file read into memory. */
#define JPEG_FILE_MAX ((size_t)1 << 30)

/* A JPEG file: the n bytes already read (pre) and the rest of fd, decoded
 * in the process; one image. */
static void do_jpeg(struct run *r, int fd, const unsigned char *pre, size_t n, const char *label,
                    const char *mlabel)
{
    size_t cap = 1 << 16, len = n;
    unsigned char *buf = malloc(cap);
    err_t e;
    image im;
    char where[1100];
    if (!buf)
        die(EXIT_DATA, "out of memory");
    memcpy(buf, pre, n);
    for (;;) {
        if (len == cap) {
            unsigned char *nb = cap < JPEG_FILE_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                die(EXIT_DATA, "%s: JPEG file too large or out of memory", mlabel);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int en = errno;
            free(buf);
            die(EXIT_DATA, "%s: read error: %s", mlabel, strerror(en));
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    snprintf(where, sizeof where, "%s: image 0", mlabel);
    if (image_decode_jpeg(buf, len, &im, &e) < 0) {
        free(buf);
        die(EXIT_DATA, "%s: %s", where, e.msg);
    }
    free(buf);
    if (preprocess_image(&im, &r->pp, r->input, &e) < 0)
        die(EXIT_DATA, "%s: %s", where, e.msg);
    run_and_write(r, label, 0, im.w, im.h, where);
    image_free(&im);
}

/* Reads every image or record of one input file ("-": stdin). */
static void do_file(struct run *r, const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *label = is_stdin ? "-" : path;
    const char *mlabel = is_stdin ? "stdin" : path;
    unsigned char pre[16];
    ssize_t n;
    int fd = is_stdin ? 0 : open(path, O_RDONLY);
    int seekable;

    if (fd < 0)
        die(EXIT_DATA, "%s: %s", path, strerror(errno));
    n = read_full(fd, pre, sizeof pre);
    if (n < 0)
        die(EXIT_DATA, "%s: read error: %s", mlabel, strerror(errno));
    if (n == 0) {
        /* An empty input holds no image. */
        if (!is_stdin)
            close(fd);
        return;
    }
    if (image_is_jpeg(pre, (size_t)n)) {
        do_jpeg(r, fd, pre, (size_t)n, label, mlabel);
        if (!is_stdin)
            close(fd);
        return;
    }
    seekable = lseek(fd, 0, SEEK_SET) == 0;

    if (tstream_sniff(pre, (size_t)n)) {
        err_t e;
        tsr *rd;
        /* A pipe's first bytes are gone: hand them back to the reader so
         * that records are processed as they arrive. */
        if (seekable)
            rd = tsr_fdopen(fd, !is_stdin, mlabel, &e);
        else
            rd = tsr_fdopen_prefix(fd, !is_stdin, pre, (size_t)n, mlabel, &e);
        if (!rd)
            die(EXIT_DATA, "%s: %s", mlabel, e.msg);
        do_tensors(r, rd, label, mlabel);
        tsr_close(rd);
        return;
    }

    FILE *f;
    if (seekable) {
        f = fdopen(fd, "rb");
    } else {
        struct prefixed *p = calloc(1, sizeof *p);
        cookie_io_functions_t io = {prefixed_read, NULL, NULL, prefixed_close};
        if (!p)
            die(EXIT_DATA, "out of memory");
        memcpy(p->buf, pre, (size_t)n);
        p->n = (size_t)n;
        p->fd = fd;
        f = fopencookie(p, "rb", io);
    }
    if (!f)
        die(EXIT_DATA, "%s: %s", mlabel, strerror(errno));
    do_images(r, f, label);
    fclose(f);
}

/* ---------------------------------------------------------------- main */

static void print_dims(const int64_t *d, int nd)
{
    for (int k = 0; k < nd; k++)
        printf("%s%lld", k ? " " : "", (long long)d[k]);
}

int main(int argc, char **argv)
{
    struct options o;
    struct run r;
    engine_opts eo;
    err_t e;
    double t0;
    int hf;

    cli_init(argc, argv);
    /* Big blocks (weight copies, packed weights) straight from and back to
     * the system: glibc's adaptive threshold would otherwise put them on the
     * heap once planning has freed a few, where holes raise the peak. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    /* ... but the heap's top is kept: each image's decoded pixels and
     * resize buffers would otherwise be handed back when freed and
     * faulted in again for the next image (100 page faults an image) */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    parse_command_line(argc, argv, &o);
    memset(&r, 0, sizeof r);
    r.o = &o;
    the_run = &r;

    t0 = now_ms();
    graph_init(&r.g);
    /* found as the other tools find a record's model: as given, then in
     * $CAM_MODELS, then in ../shared/models */
    char *mpath = model_locate(o.model, &e);
    if (!mpath || graph_load(mpath, &r.g, &e) < 0)
        die(EXIT_DATA, "%s", e.msg);
    free(mpath);
    if (r.g.ninputs < 1)
        die(EXIT_DATA, "%s: the model has no input", o.model);
    r.in_tensor = r.g.inputs[0];
    {
        const gtensor *it = &r.g.tensors[r.in_tensor];
        if (it->ndim != 4)
            die(EXIT_DATA, "%s: input '%s' has %d dims, not N x C x H x W", o.model, it->name, it->ndim);
        r.in_ndim = 4;
        for (int k = 0; k < 4; k++)
            r.in_dims[k] = it->dims[k];
        r.in_dims[0] = 1;
        if (r.in_dims[1] <= 0)
            r.in_dims[1] = 3;
        if (o.width) {
            r.in_dims[2] = o.height;
            r.in_dims[3] = o.width;
        }
        if (r.in_dims[2] <= 0 || r.in_dims[3] <= 0)
            die(EXIT_DATA, "%s: input '%s' has no fixed size: give -size WxH", o.model, it->name);
    }
    /* shapes for finding the CAM layer; the engine goes on from this work */
    engine_shapes *shapes = engine_infer_shapes(&r.g, r.in_ndim, r.in_dims, &e);
    if (!shapes)
        die(EXIT_DATA, "%s: %s", o.model, e.msg);
    hf = head_locate(&r.g, NULL, &r.head, &e);
    r.have_head = hf == 0;
    if (o.nlayers > 0) {
        r.layers = o.layers;
        r.nlayers = o.nlayers;
    } else if (o.list) {
        r.layers = NULL;
        r.nlayers = 0;
    } else {
        if (hf < 0) {
            /* A graph the engine cannot run has no shapes past the bad
             * node: its message (naming the operator) explains more. */
            err_t e2;
            engine_opts eo2;
            engine *en2;
            memset(&eo2, 0, sizeof eo2);
            eo2.shapes = shapes;
            eo2.in_ndim = r.in_ndim;
            memcpy(eo2.in_dims, r.in_dims, sizeof eo2.in_dims);
            if (!(en2 = engine_create(&r.g, &eo2, &e2)))
                die(EXIT_DATA, "%s: %s", o.model, e2.msg);
            engine_free(en2);
            die(EXIT_DATA, "%s: no CAM layer (%s); name one with -layer", o.model, e.msg);
        }
        r.layers = (const char **)&r.head.feature;
        r.nlayers = 1;
    }
    for (int i = 0; i < r.nlayers; i++)
        if (graph_find_tensor(&r.g, r.layers[i]) < 0)
            die(EXIT_USAGE, "%s: no tensor '%s' in the model (see -list)", o.model, r.layers[i]);

    memset(&eo, 0, sizeof eo);
    eo.threads = o.threads;
    eo.in_ndim = r.in_ndim;
    memcpy(eo.in_dims, r.in_dims, sizeof eo.in_dims);
    eo.noutputs = r.nlayers;
    eo.outputs = r.layers;
    eo.plan_only = o.list;
    eo.keep_transforms = o.fast;
    eo.lazy_pack = 1;           /* r.g outlives the engines */
    eo.shapes = shapes;         /* taken over by engine_create */
    r.en = engine_create(&r.g, &eo, &e);
    eo.shapes = NULL;
    if (!r.en)
        die(EXIT_DATA, "%s: %s", o.model, e.msg);
    if (o.batch > 1 && !o.list && engine_batch_gain(r.en) > 0) {
        /* the same plan for N images: its lazy Winograd layers transform
         * their filters once for the N (same results as one at a time);
         * a model without such layers gains nothing (the uint8 MobileNetV2
         * lost 10 % per image): one image at a time */
        eo.in_dims[0] = o.batch;
        r.enb = engine_create(&r.g, &eo, &e);
        for (int i = 0; r.enb && i < engine_noutputs(r.enb); i++) {
            int64_t d[TENSOR_MAXDIM];
            int nd = engine_output_shape(r.enb, i, d);
            if (nd < 2 || d[0] != o.batch) {
                err_set(&e, "layer '%s' has no batch dimension", engine_output_name(r.enb, i));
                engine_free(r.enb);
                r.enb = NULL;
            }
        }
        /* A graph with fixed shapes (a Reshape to 1 x classes) cannot take
         * N images: the images are run one at a time, as without -batch. */
        if (!r.enb)
            fprintf(stderr, "%s: %s: -batch %d not possible (%s): one image at a time\n",
                    cli_progname, o.model, o.batch, e.msg);
    }
    /* the engines have their own copy of the weights, or (a first run)
     * read some from the model until they have it: those pages are
     * faulted in again as they are read */
    graph_drop_file(&r.g);
    r.load_ms = now_ms() - t0;

    if (o.list) {
        int nt = engine_ntensors(r.en);
        for (int i = 0; i < nt; i++) {
            int64_t d[TENSOR_MAXDIM];
            int nd = 0;
            const char *name = engine_tensor_name(r.en, i, d, &nd);
            int seen = 0;
            /* A tensor can appear more than once in the plan: list it once. */
            for (int j = 0; j < i && !seen; j++) {
                int64_t dj[TENSOR_MAXDIM];
                int ndj;
                seen = strcmp(engine_tensor_name(r.en, j, dj, &ndj), name) == 0;
            }
            if (seen)
                continue;
            printf("%s\t", name);
            print_dims(d, nd);
            if (r.have_head && strcmp(name, r.head.feature) == 0)
                printf("\tfeatures");
            else if (r.have_head && strcmp(name, r.head.logits) == 0)
                printf("\tlogits");
            putchar('\n');
        }
        cli_close_stdout();
        engine_free(r.en);
        head_free(&r.head);
        graph_free(&r.g);
        return 0;
    }

    r.in_ndim = engine_input_shape(r.en, r.in_dims);
    if (r.in_ndim != 4 || r.in_dims[0] != 1 || r.in_dims[1] != 3)
        die(EXIT_DATA, "%s: the engine's input is not 1 x 3 x H x W", o.model);
    if (preprocess_from_graph(&r.g, r.in_tensor, r.in_ndim, r.in_dims, &r.pp, &e) < 0)
        die(EXIT_DATA, "%s: %s", o.model, e.msg);
    if (o.have_mean || o.have_std) {
        if (r.pp.mode == PP_QUANT) {
            for (int c = 0; c < 3; c++) {
                r.pp.mean[c] = (float)r.pp.qzero;
                r.pp.std[c] = 1.0f / r.pp.qscale;
            }
            r.pp.mode = PP_MEANSTD;
        }
        if (o.have_mean)
            memcpy(r.pp.mean, o.mean, sizeof o.mean);
        if (o.have_std)
            memcpy(r.pp.std, o.std, sizeof o.std);
    }
    if (o.order >= 0)
        r.pp.bgr = o.order;
    r.in_numel = (size_t)r.in_dims[1] * (size_t)r.in_dims[2] * (size_t)r.in_dims[3];
    r.input = malloc(r.in_numel * sizeof(float));
    if (!r.input)
        die(EXIT_DATA, "out of memory");
    if (r.enb && !(r.binput = malloc((size_t)o.batch * r.in_numel * sizeof(float))))
        die(EXIT_DATA, "out of memory");

    if (!o.bench) {
        grow_pipe(1);
        r.w = tsw_open("-", (o.gzip ? TSW_GZIP : 0) | (o.f16 ? TSW_F16 : 0), &e);
        if (!r.w)
            die(EXIT_DATA, "%s", e.msg);
    }
    if (o.queue) {
        /* names taken one at a time, when this process is ready for the
         * next image: several processes on one list share it out by
         * their speed (queue.h) */
        cam_queue q;
        char name[QUEUE_LINE_MAX + 1];
        long taken = 0;
        int k;
        if (queue_open(&q, o.queue, &e) < 0)
            die(EXIT_DATA, "%s", e.msg);
        while (!r.bench_done && (!o.take || taken < o.take) &&
               (k = queue_next(&q, name, sizeof name, &e)) != 0) {
            if (k < 0) {
                queue_close(&q);
                die(EXIT_DATA, "%s", e.msg);
            }
            taken++;
            do_file(&r, name);
        }
        queue_close(&q);
    } else if (o.nfiles == 0)
        do_file(&r, "-");
    for (int i = 0; i < o.nfiles && !r.bench_done; i++)
        do_file(&r, o.files[i]);
    if (o.bench && !r.bench_done)
        die(EXIT_DATA, "-bench: no input image or record");
    flush_batch(&r);

    if (r.w) {
        tsw *w = r.w;
        r.w = NULL;
        if (tsw_close(w, &e) < 0)
            die(EXIT_DATA, "%s", e.msg);
    }
    cli_close_stdout();
    free(r.input);
    free(r.binput);
    engine_free(r.enb);
    engine_free(r.en);
    head_free(&r.head);
    graph_free(&r.g);
    return 0;
}
