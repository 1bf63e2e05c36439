/* tensor-npy - NumPy .npy files to a tensor stream and back (tensor-npy(1)).
 *
 *   tensor-npy [-z] [-f16] [-name name] [-meta key=value]... file.npy...
 *   tensor-npy -x dir [file]
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "npy.h"
#include "tensor.h"
#include "tstream.h"

static const char usage[] =
    "tensor-npy [-z] [-f16] [-name name] [-meta key=value]... file.npy...\n"
    "       tensor-npy -x dir [file]";

struct opts {
    const char *extract_dir;   /* -x */
    int flags;                 /* TSW_* */
    const char *name;
    int nmeta;
    char **meta;               /* "key=value" strings from argv */
    int nfiles;
    char **files;
};

static void parse_command_line(int argc, char **argv, struct opts *o)
{
    int i;
    memset(o, 0, sizeof *o);
    if (!(o->meta = calloc((size_t)argc, sizeof *o->meta)))
        cli_die(EXIT_DATA, "out of memory");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-z") == 0) {
            o->flags |= TSW_GZIP;
        } else if (strcmp(a, "-f16") == 0) {
            o->flags |= TSW_F16;
        } else if (strcmp(a, "-x") == 0 || strcmp(a, "-name") == 0 || strcmp(a, "-meta") == 0) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (!*v)
                cli_usage(usage, "option %s needs a value", a);
            if (a[1] == 'x') {
                o->extract_dir = v;
            } else if (a[1] == 'n') {
                if (strchr(v, '\n'))
                    cli_usage(usage, "option -name: the name contains a newline");
                o->name = v;
            } else {
                const char *eq = strchr(v, '=');
                tensor probe;
                err_t e;
                char *key;
                int bad;
                if (!eq)
                    cli_usage(usage, "option -meta: '%s' is not key=value", v);
                key = strndup(v, (size_t)(eq - v));
                tensor_init(&probe);
                bad = !key || tensor_meta_set(&probe, key, eq + 1, &e) < 0;
                free(key);
                tensor_free(&probe);
                if (bad)
                    cli_usage(usage, "option -meta: %s", e.msg);
                o->meta[o->nmeta++] = argv[i];
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
            cli_usage(usage, NULL);
        } else {
            cli_usage(usage, "unknown option '%s'", a);
        }
    }
    o->nfiles = argc - i;
    o->files = argv + i;
    if (o->extract_dir) {
        if (o->flags || o->name || o->nmeta)
            cli_usage(usage, "-x takes no other option");
        if (o->nfiles > 1)
            cli_usage(usage, "-x reads one stream (got %d files)", o->nfiles);
    } else {
        if (o->nfiles == 0)
            cli_usage(usage, "no .npy file given");
        if (o->name && o->nfiles > 1)
            cli_usage(usage, "-name needs exactly one file (got %d)", o->nfiles);
    }
}

/* Record name from a path: basename without ".npy". */
static char *name_from_path(const char *path)
{
    const char *b = strrchr(path, '/');
    size_t n;
    b = b ? b + 1 : path;
    n = strlen(b);
    if (n > 4 && strcmp(b + n - 4, ".npy") == 0)
        n -= 4;
    return strndup(b, n);
}

/* Reads a .npy file ("-": standard input) into t. */
static int load_npy(const char *path, tensor *t, err_t *e)
{
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;
    if (strcmp(path, "-") != 0)
        return npy_read_file(path, t, e);
    for (;;) {
        size_t k;
        if (n == cap) {
            unsigned char *p;
            if (cap > TENSOR_MAX_BYTES) {
                free(buf);
                return err_set(e, "stdin: input too large");
            }
            cap = cap ? cap * 2 : 65536;
            if (!(p = realloc(buf, cap))) {
                free(buf);
                return err_set(e, "stdin: out of memory");
            }
            buf = p;
        }
        k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (!k)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return err_set(e, "stdin: read error: %s", strerror(errno));
    }
    rc = npy_parse(buf, n, t, e);
    free(buf);
    return rc < 0 ? err_prefix(e, "stdin") : 0;
}

static int write_stream(const struct opts *o)
{
    err_t e;
    tensor t;
    tsw *w = tsw_open("-", o->flags, &e);
    int status = 0;

    if (!w)
        cli_die_err(EXIT_DATA, &e);
    tensor_init(&t);
    for (int i = 0; i < o->nfiles && !status; i++) {
        const char *path = o->files[i];
        char *name;
        if (load_npy(path, &t, &e) < 0) {
            cli_warn("%s", e.msg);
            status = EXIT_DATA;
            break;
        }
        name = o->name ? strdup(o->name) : strcmp(path, "-") == 0 ? strdup("stdin")
                                                                 : name_from_path(path);
        if (!name)
            cli_die(EXIT_DATA, "out of memory");
        free(t.name);
        t.name = name;
        for (int k = 0; k < o->nmeta; k++) {
            const char *eq = strchr(o->meta[k], '=');
            char *key = strndup(o->meta[k], (size_t)(eq - o->meta[k]));
            if (!key || tensor_meta_set(&t, key, eq + 1, &e) < 0)
                cli_die(EXIT_DATA, "%s: %s", path, key ? e.msg : "out of memory");
            free(key);
        }
        if (tsw_write(w, &t, &e) < 0) {
            if (errno == EPIPE)
                exit(0);
            cli_warn("%s: %s", path, e.msg);
            status = EXIT_DATA;
        }
    }
    tensor_free(&t);
    /* Finish the stream (the gzip trailer) even after an error, so the
     * records already written form a valid stream. */
    if (tsw_close(w, &e) < 0) {
        if (errno == EPIPE)
            exit(0);
        if (!status)
            cli_warn("%s", e.msg);
        status = EXIT_DATA;
    }
    return status;
}

/* Writes t to dir/NNNN.npy through a temporary name, so that a file either
 * is complete or does not exist. */
static int extract_one(const char *dir, long index, const tensor *t, err_t *e)
{
    size_t n = strlen(dir) + 40;
    char *path = malloc(n), *tmp = malloc(n);
    int rc = -1;
    if (!path || !tmp) {
        err_set(e, "out of memory");
        goto out;
    }
    snprintf(path, n, "%s/%04ld.npy", dir, index);
    snprintf(tmp, n, "%s/.%04ld.npy.tmp", dir, index);
    if (npy_write_file(tmp, t, e) < 0) {
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        err_set(e, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(path);
    free(tmp);
    return rc;
}

/* The number of files dir/NNNN.npy (four digits or more) numbered n or
 * more: left from an earlier, longer extraction into dir. */
static long stale_files(const char *dir, long n, long *first)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long cnt = 0;
    *first = -1;
    while (d && (de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        size_t len = strlen(s), k = 0;
        while (k < len && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k < 4 || k > 9 || strcmp(s + k, ".npy") != 0)
            continue;
        long i = strtol(s, NULL, 10);
        if (i >= n) {
            cnt++;
            if (*first < 0 || i < *first)
                *first = i;
        }
    }
    if (d)
        closedir(d);
    return cnt;
}

static int extract(const struct opts *o)
{
    const char *in = o->nfiles ? o->files[0] : "-";
    err_t e;
    tensor t;
    struct stat st;
    tsr *r;
    int rc, status = 0;

    if (mkdir(o->extract_dir, 0777) < 0 &&
        !(errno == EEXIST && stat(o->extract_dir, &st) == 0 && S_ISDIR(st.st_mode)))
        cli_die(EXIT_DATA, "%s: cannot create directory: %s", o->extract_dir,
                errno == EEXIST ? "a file of that name exists" : strerror(errno));
    if (!(r = tsr_open(in, &e)))
        cli_die_err(EXIT_DATA, &e);
    tensor_init(&t);
    while ((rc = tsr_next(r, &t, &e)) == 1) {
        if (extract_one(o->extract_dir, tsr_index(r) - 1, &t, &e) < 0) {
            cli_warn("%s: record %ld: %s", tsr_label(r), tsr_index(r) - 1, e.msg);
            status = EXIT_DATA;
            break;
        }
    }
    if (rc < 0) {
        cli_warn("%s", e.msg);
        status = EXIT_DATA;
    }
    /* files of an earlier extraction are not removed (they may be
     * someone's), but they are not records of this stream: say so */
    long first, stale = status ? 0 : stale_files(o->extract_dir, tsr_index(r), &first);
    if (stale > 0)
        cli_warn("%s: %ld .npy file%s from an earlier extraction (%04ld.npy and after) are not "
                 "records of this stream", o->extract_dir, stale, stale == 1 ? "" : "s", first);
    tensor_free(&t);
    tsr_close(r);
    return status;
}

int main(int argc, char **argv)
{
    struct opts o;
    int status;

    cli_init(argc, argv);
    parse_command_line(argc, argv, &o);
    status = o.extract_dir ? extract(&o) : write_stream(&o);
    free(o.meta);
    cli_close_stdout();
    return status;
}
