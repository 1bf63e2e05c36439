/* cam-bbox - boxes from class activation maps.
 *
 * Reads map records (cam-map); for each, upsamples the map to the original
 * image (the record's image_width x image_height; a record without them is
 * taken in map pixels) and prints the boxes of the chosen rule, one per
 * line:  name class x0 y0 x1 y1 threshold score area  (tab-separated,
 * inclusive pixel boxes).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "camrec.h"
#include "cli.h"

static const char usage[] =
    "cam-bbox [-mode paper|wsol|wsol-all|zhou] [-t T[,T...]] [-interp nearest|bilinear|bicubic] [FILE ...]";

enum { MODE_PAPER, MODE_WSOL, MODE_WSOL_ALL, MODE_ZHOU };

#define MAX_T 128

typedef struct {
    int     mode;
    int     interp;
    int     nt;
    double  t[MAX_T];
    char  **files;
    int     nfiles;
} options;

/* arg: thresholds separated by commas, each in [0, max]; an empty one
 * (",," or a trailing comma) is a usage error, not skipped */
static void parse_thresholds(options *o, const char *arg, double max)
{
    char *s = strdup(arg), *p, *tok;
    if (!s)
        cli_die(EXIT_DATA, "out of memory");
    o->nt = 0;
    for (p = s; (tok = strsep(&p, ",")) != NULL;) {
        if (!*tok)
            cli_usage(usage, "option -t: empty threshold in '%s'", arg);
        if (o->nt == MAX_T)
            cli_usage(usage, "option -t: more than %d thresholds", MAX_T);
        o->t[o->nt++] = cli_double(usage, "-t", tok, 0, max);
    }
    free(s);
}

static void parse_args(int argc, char **argv, options *o)
{
    const char *targ = NULL;
    memset(o, 0, sizeof *o);
    o->mode = MODE_PAPER;
    o->interp = CAM_BILINEAR;
    int i;
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
        if (strcmp(a, "-mode") == 0) {
            if (strcmp(v, "paper") == 0) o->mode = MODE_PAPER;
            else if (strcmp(v, "wsol") == 0) o->mode = MODE_WSOL;
            else if (strcmp(v, "wsol-all") == 0) o->mode = MODE_WSOL_ALL;
            else if (strcmp(v, "zhou") == 0) o->mode = MODE_ZHOU;
            else cli_usage(usage, "option -mode: unknown mode '%s'", v);
        } else if (strcmp(a, "-t") == 0) {
            targ = v;
        } else if (strcmp(a, "-interp") == 0) {
            if ((o->interp = cam_interp_parse(v)) < 0)
                cli_usage(usage, "option -interp: unknown interpolation '%s'", v);
        } else {
            cli_usage(usage, "unknown option %s", a);
        }
    }
    if (targ)
        parse_thresholds(o, targ, o->mode == MODE_ZHOU ? 255 : 1);
    if (o->mode == MODE_ZHOU) {
        if (!targ) {
            o->nt = 3;
            o->t[0] = 20; o->t[1] = 100; o->t[2] = 110;
        }
        if (o->nt != 3)
            cli_usage(usage, "option -t: mode zhou takes three byte thresholds (e.g. 20,100,110)");
        for (int k = 0; k < 3; k++)
            if (o->t[k] != (int)o->t[k])
                cli_usage(usage, "option -t: zhou thresholds are whole numbers 0..255");
    } else {
        if (!targ) {
            o->nt = 1;
            o->t[0] = 0.2;
        }
    }
    o->files = argv + i;
    o->nfiles = argc - i;
}

static void print_box(const tensor *t, const cam_box *b, const char *thr, double area)
{
    const char *cls = tensor_meta_get(t, "class");
    const char *score = tensor_meta_get(t, "score");
    printf("%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%.17g\n", camrec_source(t), cls ? cls : "-",
           b->x0, b->y0, b->x1, b->y1, thr, score ? score : "-", area);
}

/* Boxes of one map record. */
static int do_record(tensor *t, void *ctx, err_t *e)
{
    const options *o = ctx;
    static const char *const kinds[] = { "map", NULL };
    double *m;
    int w, h;
    char thr[64];
    if (camrec_kind(t, kinds, e) || camrec_to_image(t, o->interp, &m, &w, &h, e))
        return -1;
    if (o->mode == MODE_ZHOU) {
        int th[3] = { (int)o->t[0], (int)o->t[1], (int)o->t[2] };
        cam_box *b;
        int nb;
        if (cam_box_zhou(m, w, h, th, &b, &nb, e)) {
            free(m);
            return -1;
        }
        snprintf(thr, sizeof thr, "%d,%d,%d", th[0], th[1], th[2]);
        for (int i = 0; i < nb; i++)
            print_box(t, &b[i], thr, b[i].area);
        free(b);
    } else {
        for (int k = 0; k < o->nt; k++) {
            snprintf(thr, sizeof thr, "%g", o->t[k]);
            if (o->mode == MODE_PAPER) {
                cam_box b;
                if (cam_box_paper(m, w, h, o->t[k], &b, e)) {
                    free(m);
                    return -1;
                }
                print_box(t, &b, thr, (double)b.pixels);
            } else {
                cam_box *b;
                int nb;
                if (cam_box_wsol(m, w, h, o->t[k], o->mode == MODE_WSOL_ALL, &b, &nb, e)) {
                    free(m);
                    return -1;
                }
                for (int i = 0; i < nb; i++)
                    print_box(t, &b[i], thr, b[i].area);
                free(b);
            }
        }
    }
    free(m);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    err_t e;
    cli_init(argc, argv);
    parse_args(argc, argv, &o);
    /* Each map allocates a few image-sized buffers and frees them again:
     * keep that memory in the heap rather than giving it back to the
     * kernel after every map (2000 brk calls and their page faults per 500
     * maps cost as much as the boxes). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (camrec_foreach(o.files, o.nfiles, do_record, &o, &e))
        cli_die_err(EXIT_DATA, &e);
    cli_close_stdout();
    return 0;
}
