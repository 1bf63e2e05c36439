/* tensor-info - one line per record of a tensor stream (see tensor-info(1)).
 *
 *   tensor-info [-header] [file ...]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "tensor.h"
#include "tstream.h"

static const char usage[] = "tensor-info [-header] [file ...]";

/* Metadata shown on each line, in this order, when present. */
static const char *const shown_keys[] = { "kind", "source", "class", "label", "score", "layer" };

struct opts {
    int header;
    int nfiles;
    char **files;
};

static void parse_command_line(int argc, char **argv, struct opts *o)
{
    int i;
    memset(o, 0, sizeof *o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-header") == 0)
            o->header = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0)
            cli_usage(usage, NULL);
        else
            cli_usage(usage, "unknown option '%s'", a);
    }
    o->nfiles = argc - i;
    o->files = argv + i;
}

/* Value of element i of t as a double. */
static double elem(const tensor *t, size_t i)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case DT_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return f16_to_f32(v); }
    case DT_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case DT_U8:   return p[i];
    case DT_BOOL: return p[i] != 0;
    case DT_I8:   return (int8_t)p[i];
    case DT_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    }
    return NAN;
}

/* One line: [file TAB] index name dtype shape min max mean key=value... */
static void print_line(const char *file, long index, const tensor *t)
{
    size_t n = t->nbytes / dtype_size(t->dtype), nan = 0, counted = 0;
    double mn = INFINITY, mx = -INFINITY, sum = 0;

    if (file)
        printf("%s\t", file);
    printf("%ld\t%s\t%s\t", index, t->name, dtype_name(t->dtype));
    if (t->ndim == 0)
        fputs("scalar", stdout);
    for (int i = 0; i < t->ndim; i++)
        printf(i ? "x%lld" : "%lld", (long long)t->dims[i]);
    for (size_t i = 0; i < n; i++) {
        double v = elem(t, i);
        if (isnan(v)) {
            nan++;
            continue;
        }
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        sum += v;
        counted++;
    }
    if (counted)
        printf("\t%.6g\t%.6g\t%.6g", mn, mx, sum / (double)counted);
    else
        fputs("\t-\t-\t-", stdout);
    for (size_t k = 0; k < sizeof shown_keys / sizeof shown_keys[0]; k++) {
        const char *v = tensor_meta_get(t, shown_keys[k]);
        if (v)
            printf("\t%s=%s", shown_keys[k], v);
    }
    if (nan)
        printf("\tnan=%zu", nan);
    putchar('\n');
}

/* Lists one stream; returns 0, or 1 after reporting an error. */
static int info_file(const char *path, const struct opts *o)
{
    err_t e;
    tensor t;
    tsr *r = tsr_open(path, &e);
    int rc;

    if (!r) {
        cli_warn("%s", e.msg);
        return 1;
    }
    if (o->header && o->nfiles > 1)
        printf("==> %s <==\n", path);
    tensor_init(&t);
    while ((rc = tsr_next(r, &t, &e)) == 1) {
        if (o->header) {
            size_t len;
            const char *h = tsr_header(r, &len);
            fwrite(h, 1, len, stdout);
        } else {
            print_line(o->nfiles > 1 ? path : NULL, tsr_index(r) - 1, &t);
        }
        if (fflush(stdout) != 0)
            cli_close_stdout();
    }
    if (rc < 0) {
        fflush(stdout);
        cli_warn("%s", e.msg);
    }
    tensor_free(&t);
    tsr_close(r);
    return rc < 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int status = 0;
    static char *stdin_only[] = { "-" };

    cli_init(argc, argv);
    parse_command_line(argc, argv, &o);
    if (o.nfiles == 0) {
        o.nfiles = 1;
        o.files = stdin_only;
    }
    for (int i = 0; i < o.nfiles; i++)
        if (info_file(o.files[i], &o))
            status = EXIT_DATA;
    cli_close_stdout();
    return status;
}
