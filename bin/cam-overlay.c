/* cam-overlay - class activation maps drawn over their images.
 *
 * Reads map records (cam-map) from standard input (or -in FILE) and, for
 * each, the original image: IMAGE when given, else the record's "source".
 * Writes one raw PPM per map at the image's size: the map upsampled to the
 * image, normalised, coloured and blended with the image, with the boxes
 * of -boxes drawn on top.  Everything is RGB.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cam.h"
#include "camrec.h"
#include "cli.h"
#include "image.h"

extern char **environ;

static const char usage[] =
    "cam-overlay [-cmap jet|viridis|gray] [-alpha A] [-beta B] [-norm minmax|max|none] "
    "[-interp nearest|bilinear|bicubic] [-boxes FILE] [-thick N] [-color R,G,B] [-in FILE] [IMAGE]";

typedef struct {
    int cam_cmap, norm, interp, thick;
    double alpha, beta;
    uint8_t color[3];
    const char *boxes, *in, *image;
} options;

typedef struct {
    char *name, *cls;
    int b[4];
} box_line;

static box_line *boxes;
static int nboxes;

static void parse_args(int argc, char **argv, options *o)
{
    int beta_set = 0, i;
    memset(o, 0, sizeof *o);
    o->cam_cmap = CAM_CMAP_JET;
    o->norm = CAM_NORM_MINMAX;
    o->interp = CAM_BILINEAR;
    o->alpha = 0.5;
    o->thick = 2;
    o->color[1] = 255;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (i + 1 >= argc)
            cli_usage(usage, "option %s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "-cmap") == 0) {
            if ((o->cam_cmap = cam_cmap_parse(v)) < 0)
                cli_usage(usage, "option -cmap: unknown colour map '%s'", v);
        } else if (strcmp(a, "-alpha") == 0) {
            o->alpha = cli_double(usage, "-alpha", v, 0, 1);
        } else if (strcmp(a, "-beta") == 0) {
            o->beta = cli_double(usage, "-beta", v, 0, 1);
            beta_set = 1;
        } else if (strcmp(a, "-norm") == 0) {
            if ((o->norm = cam_norm_parse(v)) < 0)
                cli_usage(usage, "option -norm: unknown normalisation '%s'", v);
        } else if (strcmp(a, "-interp") == 0) {
            if ((o->interp = cam_interp_parse(v)) < 0)
                cli_usage(usage, "option -interp: unknown interpolation '%s'", v);
        } else if (strcmp(a, "-boxes") == 0) {
            o->boxes = v;
        } else if (strcmp(a, "-thick") == 0) {
            o->thick = (int)cli_long(usage, "-thick", v, 0, 100);
        } else if (strcmp(a, "-color") == 0) {
            int r, g, b;
            char tail;
            if (sscanf(v, "%d,%d,%d%c", &r, &g, &b, &tail) != 3 || r < 0 || r > 255 ||
                g < 0 || g > 255 || b < 0 || b > 255)
                cli_usage(usage, "option -color: '%s' is not R,G,B with values 0..255", v);
            o->color[0] = (uint8_t)r;
            o->color[1] = (uint8_t)g;
            o->color[2] = (uint8_t)b;
        } else if (strcmp(a, "-in") == 0) {
            o->in = v;
        } else {
            cli_usage(usage, "unknown option %s", a);
        }
    }
    if (!beta_set)
        o->beta = 1.0 - o->alpha;
    if (argc - i > 1)
        cli_usage(usage, "one IMAGE at most");
    o->image = argc - i == 1 ? argv[i] : NULL;
}

/* cam-bbox lines: name class x0 y0 x1 y1 [...] */
static void load_boxes(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    if (!f)
        cli_die(EXIT_DATA, "%s: %s", path, strerror(errno));
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        char *save = NULL, *fld[6];
        int n = 0;
        for (char *tok = strtok_r(line, "\t", &save); tok && n < 6; tok = strtok_r(NULL, "\t", &save))
            fld[n++] = tok;
        if (n < 6)
            cli_die(EXIT_DATA, "%s: line %ld: want name, class, x0, y0, x1, y1 separated by tabs", path, lineno);
        box_line bl;
        for (int k = 0; k < 4; k++) {
            char *end;
            long v = strtol(fld[2 + k], &end, 10);
            if (*end || end == fld[2 + k] || v < -1000000 || v > 1000000)
                cli_die(EXIT_DATA, "%s: line %ld: '%s' is not a pixel coordinate", path, lineno, fld[2 + k]);
            bl.b[k] = (int)v;
        }
        bl.name = strdup(fld[0]);
        bl.cls = strdup(fld[1]);
        box_line *nb = realloc(boxes, sizeof *boxes * (size_t)(nboxes + 1));
        if (!bl.name || !bl.cls || !nb)
            cli_die(EXIT_DATA, "out of memory");
        boxes = nb;
        boxes[nboxes++] = bl;
    }
    if (ferror(f))
        cli_die(EXIT_DATA, "%s: read error", path);
    free(line);
    fclose(f);
}

/* Loads a netpbm image, or any other format through anytopnm. */
static int load_any(const char *path, image *im, err_t *e)
{
    /* a FIFO, <(jpegtopnm ...) or a device can be read only once: no
     * sniffing (it would eat the magic number), netpbm is expected */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        if (image_load(path, im, e))
            return err_prefix(e, "image");
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, "image %s: %s", path, strerror(errno));
    int c0 = getc(f), c1 = getc(f);
    fclose(f);
    if (c0 == 'P' && c1 >= '1' && c1 <= '7')
        return image_load(path, im, e);
    int fd[2];
    if (pipe(fd))
        return err_set(e, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    /* the converters chatter on stderr; failures show in the status */
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *args[] = { "anytopnm", (char *)path, NULL };
    pid_t pid;
    int rc = posix_spawnp(&pid, "anytopnm", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc) {
        close(fd[0]);
        return err_set(e, "image %s: cannot run anytopnm: %s", path, strerror(rc));
    }
    FILE *p = fdopen(fd[0], "rb");
    int got = p ? image_read_netpbm(p, im, e) : err_set(e, "fdopen: %s", strerror(errno));
    if (p)
        fclose(p);
    else
        close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got == 1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (got == 1)
        image_free(im);
    if (got < 0)
        return err_prefix(e, "image %s (through anytopnm)", path);
    return err_set(e, "image %s: anytopnm could not convert it", path);
}

typedef struct {
    const options *o;
    image cache;          /* the last image loaded, and its path */
    char *cache_path;
} run;

static int do_record(tensor *t, void *ctx, err_t *e)
{
    static const char *const kinds[] = { "map", NULL };
    run *ru = ctx;
    const options *o = ru->o;
    image *cache = &ru->cache;
    const char *path = o->image ? o->image : tensor_meta_get(t, "source");
    if (camrec_kind(t, kinds, e))
        return -1;
    if (!path || !*path || strcmp(path, "-") == 0)
        return err_set(e, "no image: give IMAGE (the record's source is %s)",
                       path && *path ? "standard input" : "missing");
    if (!ru->cache_path || strcmp(ru->cache_path, path) != 0) {
        image_free(cache);
        free(ru->cache_path);
        ru->cache_path = NULL;
        if (load_any(path, cache, e))
            return -1;
        if (!(ru->cache_path = strdup(path)))
            return err_set(e, "out of memory");
    }
    int W, H, w, h;
    cam_roi roi;
    int g = camrec_geometry(t, &W, &H, &roi, e);
    if (g < 0 || camrec_map2d(t, &w, &h, e))
        return -1;
    if (g == 1 && (W != cache->w || H != cache->h))
        return err_set(e, "image %s is %dx%d but the map was made for %dx%d", path, cache->w,
                       cache->h, W, H);
    if (g == 0) {
        roi.x0 = roi.y0 = 0;
        roi.x1 = cache->w;
        roi.y1 = cache->h;
    }
    size_t n = (size_t)cache->w * cache->h;
    double *m = malloc(sizeof *m * n);
    image out = { cache->w, cache->h, malloc(n * 3) };
    int rc = -1;
    if (!m || !out.rgb) {
        err_set(e, "out of memory");
        goto done;
    }
    if (cam_resize(t->data, w, h, m, cache->w, cache->h, &roi, o->interp, e))
        goto done;
    cam_normalize_d(m, n, o->norm);
    memcpy(out.rgb, cache->rgb, n * 3);
    cam_blend(out.rgb, out.w, out.h, m, o->cam_cmap, o->alpha, o->beta);
    const char *src = camrec_source(t), *cls = tensor_meta_get(t, "class");
    for (int i = 0; i < nboxes; i++)
        if (strcmp(boxes[i].name, src) == 0 &&
            (!cls || strcmp(boxes[i].cls, "-") == 0 || strcmp(boxes[i].cls, cls) == 0))
            cam_draw_box(out.rgb, out.w, out.h, boxes[i].b, o->thick, o->color);
    rc = image_write_ppm(stdout, &out, e);
done:
    free(out.rgb);
    free(m);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    err_t e;
    run ru;
    char *in[1];
    cli_init(argc, argv);
    parse_args(argc, argv, &o);
    if (o.boxes)
        load_boxes(o.boxes);
    memset(&ru, 0, sizeof ru);
    ru.o = &o;
    in[0] = (char *)(o.in ? o.in : "-");
    if (camrec_foreach(in, 1, do_record, &ru, &e))
        cli_die_err(EXIT_DATA, &e);
    image_free(&ru.cache);
    free(ru.cache_path);
    cli_close_stdout();
    return 0;
}
