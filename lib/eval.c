/* eval.c - ground truth and prediction parsing, IoU, metric accumulation
 * (see eval.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cam.h"
#include "eval.h"

#define EVAL_MAXFIELDS 16

double eval_iou(const ebox *a, const ebox *b)
{
    if (a->x1 < a->x0 || a->y1 < a->y0 || b->x1 < b->x0 || b->y1 < b->y0)
        return 0.0;
    long ix0 = a->x0 > b->x0 ? a->x0 : b->x0;
    long iy0 = a->y0 > b->y0 ? a->y0 : b->y0;
    long ix1 = a->x1 < b->x1 ? a->x1 : b->x1;
    long iy1 = a->y1 < b->y1 ? a->y1 : b->y1;
    double iw = (double)(ix1 - ix0 + 1), ih = (double)(iy1 - iy0 + 1);
    if (iw <= 0 || ih <= 0)
        return 0.0;
    double inter = iw * ih;
    double aa = ((double)a->x1 - a->x0 + 1) * ((double)a->y1 - a->y0 + 1);
    double ab = ((double)b->x1 - b->x0 + 1) * ((double)b->y1 - b->y0 + 1);
    /* the same expression as wsolevaluation's calculate_multiple_iou */
    return inter / (aa + ab - inter);
}

double eval_iou_max(const ebox *b, const ebox *gt, int n)
{
    double best = 0.0;
    for (int i = 0; i < n; i++) {
        double v = eval_iou(b, &gt[i]);
        if (v > best)
            best = v;
    }
    return best;
}

int eval_name_key(const char *name, char *out, size_t n, err_t *e)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    size_t len = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b)
        len = (size_t)(dot - b);
    if (len == 0)
        return err_set(e, "image name '%.100s' gives an empty key", name);
    if (len >= n)
        return err_set(e, "image name '%.100s...' is too long", name);
    memcpy(out, b, len);
    out[len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- set */

void eval_init(eval_set *s)
{
    memset(s, 0, sizeof *s);
}

void eval_free(eval_set *s)
{
    for (int i = 0; i < s->n; i++) {
        eval_image *im = &s->im[i];
        free(im->key);
        free(im->name);
        free(im->gt);
        free(im->pred);
        free(im->iou_v1);
        free(im->iou_v2);
    }
    free(s->im);
    free(s->hash);
    memset(s, 0, sizeof *s);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;      /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int find_key(const eval_set *s, const char *key)
{
    if (!s->hcap)
        return -1;
    size_t m = s->hcap - 1, i = (size_t)hash_str(key) & m;
    while (s->hash[i]) {
        int k = s->hash[i] - 1;
        if (strcmp(s->im[k].key, key) == 0)
            return k;
        i = (i + 1) & m;
    }
    return -1;
}

static int rehash(eval_set *s, size_t cap, err_t *e)
{
    int *h = calloc(cap, sizeof *h);
    if (!h)
        return err_set(e, "out of memory");
    for (int k = 0; k < s->n; k++) {
        size_t i = (size_t)hash_str(s->im[k].key) & (cap - 1);
        while (h[i])
            i = (i + 1) & (cap - 1);
        h[i] = k + 1;
    }
    free(s->hash);
    s->hash = h;
    s->hcap = cap;
    return 0;
}

/* Appends a new image with this key (not present yet). */
static eval_image *add_image(eval_set *s, const char *key, const char *name, err_t *e)
{
    if (s->n >= INT_MAX / 4)
        return err_set(e, "too many images"), NULL;
    if ((size_t)(s->n + 1) * 2 > s->hcap &&
        rehash(s, s->hcap ? s->hcap * 2 : 1024, e) < 0)
        return NULL;
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 256;
        eval_image *ni = realloc(s->im, (size_t)nc * sizeof *ni);
        if (!ni)
            return err_set(e, "out of memory"), NULL;
        s->im = ni;
        s->cap = nc;
    }
    eval_image *im = &s->im[s->n];
    memset(im, 0, sizeof *im);
    im->key = strdup(key);
    im->name = strdup(name);
    if (!im->key || !im->name) {
        free(im->key);
        free(im->name);
        return err_set(e, "out of memory"), NULL;
    }
    for (int r = 0; r < EVAL_MAXK; r++)
        im->top[r] = -1;
    im->map_gtk_iou = -1;
    size_t m = s->hcap - 1, i = (size_t)hash_str(key) & m;
    while (s->hash[i])
        i = (i + 1) & m;
    s->hash[i] = s->n + 1;
    s->n++;
    return im;
}

eval_image *eval_add(eval_set *s, const char *name, err_t *e)
{
    char key[4096];
    if (eval_name_key(name, key, sizeof key, e) < 0)
        return NULL;
    int k = find_key(s, key);
    if (k >= 0)
        return err_set(e, "'%.200s' and '%.200s' name the same image", s->im[k].name, name), NULL;
    return add_image(s, key, name, e);
}

eval_image *eval_find(const eval_set *s, const char *name)
{
    char key[4096];
    if (eval_name_key(name, key, sizeof key, NULL) < 0)
        return NULL;
    int k = find_key(s, key);
    return k < 0 ? NULL : &s->im[k];
}

/* ---------------------------------------------------------------- lines */

typedef struct {
    FILE       *f;
    const char *label;
    long        lineno;
    char       *buf;
    size_t      cap;
} lreader;

/* Next line without its terminator (and a CR before it).  1 line, 0 end,
 * -1 error (too long, read error, NUL byte). */
static int next_line(lreader *lr, char **line, err_t *e)
{
    ssize_t n = getline(&lr->buf, &lr->cap, lr->f);
    if (n < 0) {
        if (ferror(lr->f))
            return err_set(e, "%s: read error: %s", lr->label, strerror(errno));
        return 0;
    }
    lr->lineno++;
    if (n > EVAL_MAXLINE)
        return err_set(e, "%s:%ld: line longer than %d bytes", lr->label, lr->lineno, EVAL_MAXLINE);
    if (strlen(lr->buf) != (size_t)n)
        return err_set(e, "%s:%ld: NUL byte in line", lr->label, lr->lineno);
    if (n > 0 && lr->buf[n - 1] == '\n')
        lr->buf[--n] = '\0';
    if (n > 0 && lr->buf[n - 1] == '\r')
        lr->buf[--n] = '\0';
    *line = lr->buf;
    return 1;
}

/* Splits line in place at sep; returns the field count (at most max; the
 * last field keeps any remaining separators when there are more). */
static int split(char *line, char sep, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    while (*s == ' ')
        s++;
    if (!*s)
        return -1;
    long v = strtol(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

#define COORD_MAX 1000000000L

static int parse_box(char **f, ebox *b, lreader *lr, int first, err_t *e)
{
    int v[4];
    for (int i = 0; i < 4; i++)
        if (parse_int(f[i], 0, COORD_MAX, &v[i]) < 0)
            return err_set(e, "%s:%ld: field %d: '%.40s' is not a pixel coordinate",
                           lr->label, lr->lineno, first + i + 1, f[i]);
    if (v[0] > v[2] || v[1] > v[3])
        return err_set(e, "%s:%ld: box %d %d %d %d has x0 > x1 or y0 > y1",
                       lr->label, lr->lineno, v[0], v[1], v[2], v[3]);
    b->x0 = v[0];
    b->y0 = v[1];
    b->x1 = v[2];
    b->y1 = v[3];
    return 0;
}

int eval_read_gt(eval_set *s, FILE *f, const char *label, int class_offset, err_t *e)
{
    lreader lr = { f, label, 0, NULL, 0 };
    char *line, *fld[EVAL_MAXFIELDS];
    char key[4096];
    int st, rc = -1;
    while ((st = next_line(&lr, &line, e)) == 1) {
        if (blank(line))
            continue;
        if (lr.lineno == 1 && strncmp(line, "image,", 6) == 0)
            continue;
        int nf = split(line, ',', fld, EVAL_MAXFIELDS);
        if (nf != 7) {
            err_set(e, "%s:%ld: %d fields, expected 7 (image,class,wnid,x0,y0,x1,y1)",
                    label, lr.lineno, nf);
            goto out;
        }
        int cls;
        if (parse_int(fld[1], 0, INT_MAX - 1 - (class_offset > 0 ? class_offset : 0), &cls) < 0 ||
            cls + class_offset < 0) {
            err_set(e, "%s:%ld: field 2: '%.40s' is not a class index", label, lr.lineno, fld[1]);
            goto out;
        }
        cls += class_offset;
        ebox b;
        if (parse_box(fld + 3, &b, &lr, 3, e) < 0)
            goto out;
        if (eval_name_key(fld[0], key, sizeof key, e) < 0) {
            err_prefix(e, "%s:%ld: field 1", label, lr.lineno);
            goto out;
        }
        int k = find_key(s, key);
        eval_image *im;
        if (k < 0) {
            if (!(im = add_image(s, key, fld[0], e)))
                goto out;
            im->gt_class = cls;
        } else {
            im = &s->im[k];
            if (strcmp(im->name, fld[0]) != 0) {
                err_set(e, "%s:%ld: image '%.100s' has the same key as '%.100s'",
                        label, lr.lineno, fld[0], im->name);
                goto out;
            }
            if (im->gt_class != cls) {
                err_set(e, "%s:%ld: image '%.100s': class %d differs from the class %d of its earlier rows",
                        label, lr.lineno, fld[0], cls - class_offset, im->gt_class - class_offset);
                goto out;
            }
        }
        if (im->ngt >= 1 << 20) {
            err_set(e, "%s:%ld: too many boxes for one image", label, lr.lineno);
            goto out;
        }
        ebox *ng = realloc(im->gt, (size_t)(im->ngt + 1) * sizeof *ng);
        if (!ng) {
            err_set(e, "out of memory");
            goto out;
        }
        im->gt = ng;
        im->gt[im->ngt++] = b;
    }
    if (st < 0)
        goto out;
    if (s->n == 0) {
        err_set(e, "%s: no ground-truth rows", label);
        goto out;
    }
    rc = 0;
out:
    free(lr.buf);
    return rc;
}

/* Looks up the image of a prediction line; NULL with *skip set when the
 * image is unknown and that is allowed. */
static eval_image *pred_image(eval_set *s, const char *name, lreader *lr, int unknown_ok,
                              int *skip, err_t *e)
{
    char key[4096];
    *skip = 0;
    if (eval_name_key(name, key, sizeof key, e) < 0) {
        err_prefix(e, "%s:%ld: field 1", lr->label, lr->lineno);
        return NULL;
    }
    int k = find_key(s, key);
    if (k < 0) {
        if (unknown_ok) {
            *skip = 1;
            return NULL;
        }
        err_set(e, "%s:%ld: image '%.200s' is not in the ground truth", lr->label, lr->lineno, name);
        return NULL;
    }
    return &s->im[k];
}

int eval_read_scores(eval_set *s, FILE *f, const char *label, int unknown_ok, err_t *e)
{
    lreader lr = { f, label, 0, NULL, 0 };
    char *line, *fld[EVAL_MAXFIELDS];
    int st, rc = -1;
    while ((st = next_line(&lr, &line, e)) == 1) {
        if (blank(line))
            continue;
        int nf = split(line, '\t', fld, 5);
        if (nf < 4) {
            err_set(e, "%s:%ld: %d fields, expected name, rank, class, probability, label",
                    label, lr.lineno, nf);
            goto out;
        }
        int rank, cls;
        if (parse_int(fld[1], 1, INT_MAX, &rank) < 0) {
            err_set(e, "%s:%ld: field 2: '%.40s' is not a rank", label, lr.lineno, fld[1]);
            goto out;
        }
        if (parse_int(fld[2], 0, INT_MAX, &cls) < 0) {
            err_set(e, "%s:%ld: field 3: '%.40s' is not a class index", label, lr.lineno, fld[2]);
            goto out;
        }
        char *end;
        errno = 0;
        double p = strtod(fld[3], &end);
        if (end == fld[3] || *end || errno || !(p >= 0.0 && p <= 1.0)) {
            err_set(e, "%s:%ld: field 4: '%.40s' is not a probability", label, lr.lineno, fld[3]);
            goto out;
        }
        int skip;
        eval_image *im = pred_image(s, fld[0], &lr, unknown_ok, &skip, e);
        if (!im) {
            if (skip)
                continue;
            goto out;
        }
        im->has_scores = 1;
        if (rank > EVAL_MAXK)
            continue;
        if (im->top[rank - 1] >= 0) {
            err_set(e, "%s:%ld: image '%.200s': rank %d given twice", label, lr.lineno, fld[0], rank);
            goto out;
        }
        im->top[rank - 1] = cls;
    }
    if (st < 0)
        goto out;
    for (int i = 0; i < s->n; i++)
        if (s->im[i].has_scores && s->im[i].top[0] < 0) {
            err_set(e, "%s: image '%.200s' has no rank 1 line", label, s->im[i].name);
            goto out;
        }
    rc = 0;
out:
    free(lr.buf);
    return rc;
}

int eval_read_boxes(eval_set *s, FILE *f, const char *label, int unknown_ok, err_t *e)
{
    lreader lr = { f, label, 0, NULL, 0 };
    char *line, *fld[EVAL_MAXFIELDS];
    int st, rc = -1;
    while ((st = next_line(&lr, &line, e)) == 1) {
        if (blank(line))
            continue;
        int nf = split(line, '\t', fld, 7);
        if (nf < 6) {
            err_set(e, "%s:%ld: %d fields, expected name, class, x0, y0, x1, y1", label, lr.lineno, nf);
            goto out;
        }
        int cls;
        if (parse_int(fld[1], 0, INT_MAX, &cls) < 0) {
            err_set(e, "%s:%ld: field 2: '%.40s' is not a class index", label, lr.lineno, fld[1]);
            goto out;
        }
        ebox b;
        if (parse_box(fld + 2, &b, &lr, 2, e) < 0)
            goto out;
        int skip;
        eval_image *im = pred_image(s, fld[0], &lr, unknown_ok, &skip, e);
        if (!im) {
            if (skip)
                continue;
            goto out;
        }
        im->has_boxes = 1;
        if (im->npred == im->cappred) {
            if (im->cappred >= 1 << 20) {
                err_set(e, "%s:%ld: too many boxes for one image", label, lr.lineno);
                goto out;
            }
            int nc = im->cappred ? im->cappred * 2 : 8;
            eval_pbox *np = realloc(im->pred, (size_t)nc * sizeof *np);
            if (!np) {
                err_set(e, "out of memory");
                goto out;
            }
            im->pred = np;
            im->cappred = nc;
        }
        im->pred[im->npred].cls = cls;
        im->pred[im->npred].box = b;
        im->npred++;
    }
    if (st < 0)
        goto out;
    rc = 0;
out:
    free(lr.buf);
    return rc;
}

const ebox *eval_pred_box(const eval_image *im, int cls, int k)
{
    for (int i = 0; i < im->npred; i++)
        if (im->pred[i].cls == cls && k-- == 0)
            return &im->pred[i].box;
    return NULL;
}

/* ---------------------------------------------------------------- sweep */

int eval_set_sweep(eval_set *s, double step, err_t *e)
{
    if (!(step > 0.0 && step <= 1.0))
        return err_set(e, "threshold step %g is not in (0,1]", step);
    int n = 0;
    while ((double)n * step < 1.0)
        n++;
    if (n > EVAL_MAXTHR)
        return err_set(e, "threshold step %g gives more than %d thresholds", step, EVAL_MAXTHR);
    s->nthr = n;
    s->step = step;
    return 0;
}

void eval_boxes_free(eval_boxes *b, int n)
{
    for (int i = 0; i < n; i++) {
        free(b[i].box);
        b[i].box = NULL;
        b[i].nbox = 0;
    }
}

/* Contours of the mask u8 > thr inside its foreground's bounding
 * rectangle, as boxes of the wsol rule in full-map coordinates.  The
 * foreground lies within r[4] (x0,y0,x1,y1, inclusive; the previous,
 * lower threshold's rectangle), which is updated.  crop: scratch of w*h
 * bytes. */
static int wsol_boxes_at(const uint8_t *u8, int w, int h, int thr, int r[4], uint8_t *crop,
                         eval_boxes *out, err_t *e)
{
    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    for (int y = r[1]; y <= r[3]; y++) {
        const uint8_t *row = u8 + (size_t)y * w;
        int x0 = r[0], x1 = r[2];
        while (x0 <= x1 && row[x0] <= thr)
            x0++;
        if (x0 > x1)
            continue;
        while (row[x1] <= thr)
            x1--;
        if (by1 < 0)
            by0 = y;
        by1 = y;
        if (x0 < bx0)
            bx0 = x0;
        if (x1 > bx1)
            bx1 = x1;
    }
    if (by1 >= 0) {
        r[0] = bx0;
        r[1] = by0;
        r[2] = bx1;
        r[3] = by1;
    } else {
        r[0] = r[1] = 0;
        r[2] = r[3] = -1;
    }
    out->largest = 0;
    if (by1 < 0) {                  /* no contour: one box [0,0,0,0] */
        out->box = calloc(1, sizeof *out->box);
        if (!out->box)
            return err_set(e, "out of memory");
        out->nbox = 1;
        return 0;
    }
    int cw = bx1 - bx0 + 1, ch = by1 - by0 + 1;
    for (int y = 0; y < ch; y++) {
        const uint8_t *row = u8 + (size_t)(y + by0) * w + bx0;
        for (int x = 0; x < cw; x++)
            crop[(size_t)y * cw + x] = row[x] > thr;
    }
    cam_contour *c;
    int nc;
    if (cam_find_contours(crop, cw, ch, &c, &nc, e) < 0)
        return -1;
    if (nc < 1) {                   /* cannot happen with a foreground pixel */
        free(c);
        return err_set(e, "contours: none around a foreground");
    }
    out->box = malloc((size_t)nc * sizeof *out->box);
    if (!out->box) {
        free(c);
        return err_set(e, "out of memory");
    }
    for (int i = 0; i < nc; i++) {
        int x = c[i].x + bx0, y = c[i].y + by0;
        out->box[i].x0 = x;
        out->box[i].y0 = y;
        out->box[i].x1 = x + c[i].w < w - 1 ? x + c[i].w : w - 1;
        out->box[i].y1 = y + c[i].h < h - 1 ? y + c[i].h : h - 1;
        if (c[i].area > c[out->largest].area)
            out->largest = i;
    }
    out->nbox = nc;
    free(c);
    return 0;
}

int eval_wsol_sweep(const eval_set *s, const double *m, int w, int h, eval_boxes *out, err_t *e)
{
    if (s->nthr <= 0)
        return err_set(e, "no threshold sweep set");
    if (w < 1 || h < 1 || (size_t)w * (size_t)h > CAM_MAX_PIXELS)
        return err_set(e, "map size %dx%d out of range", w, h);
    size_t n = (size_t)w * h;
    uint8_t *u8 = malloc(n), *crop = malloc(n);
    if (!u8 || !crop) {
        free(u8);
        free(crop);
        return err_set(e, "out of memory");
    }
    /* wsolevaluation's normalisation, in float32 like cam_box_wsol:
     * cam -= min; cam /= max; constant or non-finite -> zeros; then
     * u8 = trunc(cam * 255). */
    int bad = 0;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float f = (float)m[i];
        if (!isfinite(f))
            bad = 1;
        else if (f < lo)
            lo = f;
    }
    for (size_t i = 0; i < n && !bad; i++) {
        float f = (float)m[i] - lo;
        if (f > hi)
            hi = f;
    }
    uint8_t umax = 0;
    for (size_t i = 0; i < n; i++) {
        if (bad || !(hi > 0)) {
            u8[i] = 0;
        } else {
            float v = (((float)m[i] - lo) / hi) * 255.0f;
            u8[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
        if (u8[i] > umax)
            umax = u8[i];
    }
    int rc = 0, prev = -1, rect[4] = { 0, 0, w - 1, h - 1 };
    for (int k = 0; k < s->nthr; k++)
        out[k].nbox = 0, out[k].box = NULL;
    for (int k = 0; k < s->nthr && rc == 0; k++) {
        int thr = (int)(k * s->step * umax);
        if (thr == prev) {          /* same mask as the previous tau */
            out[k].box = malloc((size_t)out[k - 1].nbox * sizeof *out[k].box);
            if (!out[k].box) {
                rc = err_set(e, "out of memory");
                break;
            }
            memcpy(out[k].box, out[k - 1].box, (size_t)out[k - 1].nbox * sizeof *out[k].box);
            out[k].nbox = out[k - 1].nbox;
            out[k].largest = out[k - 1].largest;
            continue;
        }
        rc = wsol_boxes_at(u8, w, h, thr, rect, crop, &out[k], e);
        prev = thr;
    }
    if (rc < 0)
        eval_boxes_free(out, s->nthr);
    free(u8);
    free(crop);
    return rc;
}

int eval_add_map_result(eval_set *s, eval_image *im, const eval_boxes *boxes,
                        double gtk_iou, err_t *e)
{
    if (s->nthr <= 0)
        return err_set(e, "no threshold sweep set");
    if (im->has_map)
        return err_set(e, "image '%.200s': a second map of its ground-truth class", im->name);
    double *v1 = malloc((size_t)s->nthr * sizeof *v1);
    double *v2 = malloc((size_t)s->nthr * sizeof *v2);
    if (!v1 || !v2) {
        free(v1);
        free(v2);
        return err_set(e, "out of memory");
    }
    for (int t = 0; t < s->nthr; t++) {
        const eval_boxes *b = &boxes[t];
        double best = 0.0;
        v1[t] = 0.0;
        for (int i = 0; i < b->nbox; i++) {
            double v = eval_iou_max(&b->box[i], im->gt, im->ngt);
            if (i == b->largest)
                v1[t] = v;
            if (v > best)
                best = v;
        }
        v2[t] = best;
    }
    im->iou_v1 = v1;
    im->iou_v2 = v2;
    im->map_gtk_iou = gtk_iou;
    im->has_map = 1;
    return 0;
}

/* ---------------------------------------------------------------- metrics */

static const double v2_deltas[EVAL_NDELTA] = { 0.3, 0.5, 0.7 };

static int localised(const eval_image *im, int cls, int nguess)
{
    for (int k = 0; k < nguess; k++) {
        const ebox *b = eval_pred_box(im, cls, k);
        if (!b)
            break;
        if (eval_iou_max(b, im->gt, im->ngt) >= 0.5)
            return 1;
    }
    return 0;
}

/* Best threshold index of counts[0..n-1] (first maximum). */
static int argmax_l(const long *c, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (c[i] > c[best])
            best = i;
    return best;
}

int eval_compute(const eval_set *s, const eval_opts *o, int have_scores,
                 int have_boxes, int have_maps, eval_result *r, err_t *e)
{
    memset(r, 0, sizeof *r);
    r->top1_cls = r->top5_cls = r->top1_loc = r->top5_loc = -1;
    r->gt_known = r->maxboxacc = r->maxboxacc_v2 = -1;
    r->maxboxacc_thr = -1;
    for (int d = 0; d < EVAL_NDELTA; d++)
        r->v2_delta[d] = r->v2_thr[d] = -1;
    r->nimages = s->n;
    if (s->n == 0)
        return err_set(e, "no images");
    int nguess = o->boxes_per_class > 0 ? o->boxes_per_class : 1;

    /* Missing inputs first: an error names the first image, in GT order. */
    for (int i = 0; i < s->n && !o->missing_ok; i++) {
        const eval_image *im = &s->im[i];
        if (have_scores && !im->has_scores)
            return err_set(e, "image '%.200s': no gap-classify lines (-scores)", im->name);
        if (have_boxes && !im->has_boxes)
            return err_set(e, "image '%.200s': no cam-bbox lines (-boxes)", im->name);
        if (have_maps && !im->has_map)
            return err_set(e, "image '%.200s': no map of its ground-truth class %d (-maps)",
                           im->name, im->gt_class);
    }
    if (have_maps && s->nthr <= 0)
        return err_set(e, "no threshold sweep set");

    r->flags = calloc((size_t)s->n, 1);
    long *c1 = calloc((size_t)(s->nthr > 0 ? s->nthr : 1), sizeof *c1);
    long *c2 = calloc((size_t)(s->nthr > 0 ? s->nthr : 1) * EVAL_NDELTA, sizeof *c2);
    if (!r->flags || !c1 || !c2) {
        free(c1);
        free(c2);
        eval_result_free(r);
        return err_set(e, "out of memory");
    }
    long n1 = 0, n5 = 0, l1 = 0, l5 = 0, gk_boxes = 0, gk_maps = 0, lacking = 0;
    for (int i = 0; i < s->n; i++) {
        const eval_image *im = &s->im[i];
        unsigned char fl = 0;
        if ((have_scores && !im->has_scores) || (have_boxes && !im->has_boxes) ||
            (have_maps && !im->has_map))
            fl |= EVF_MISSING;
        if (have_scores && im->has_scores) {
            for (int k = 0; k < EVAL_MAXK; k++) {
                if (im->top[k] != im->gt_class)
                    continue;
                fl |= EVF_TOP5;
                if (k == 0)
                    fl |= EVF_TOP1;
                if (have_boxes && localised(im, im->gt_class, nguess)) {
                    fl |= EVF_LOC5;
                    if (k == 0)
                        fl |= EVF_LOC1;
                }
            }
        }
        if (have_boxes && im->has_boxes) {
            if (eval_pred_box(im, im->gt_class, 0)) {
                if (localised(im, im->gt_class, nguess)) {
                    fl |= EVF_GTK;
                    gk_boxes++;
                }
            } else {
                lacking++;
            }
        }
        if (have_maps && im->has_map) {
            if (im->map_gtk_iou >= 0.5)
                gk_maps++;
            for (int t = 0; t < s->nthr; t++) {
                if (im->iou_v1[t] >= 0.5)
                    c1[t]++;
                for (int d = 0; d < EVAL_NDELTA; d++)
                    if (im->iou_v2[t] >= v2_deltas[d])
                        c2[(size_t)d * s->nthr + t]++;
            }
        }
        n1 += !!(fl & EVF_TOP1);
        n5 += !!(fl & EVF_TOP5);
        l1 += !!(fl & EVF_LOC1);
        l5 += !!(fl & EVF_LOC5);
        r->flags[i] = fl;
    }
    double n = (double)s->n;
    if (have_scores) {
        r->top1_cls = n1 / n;
        r->top5_cls = n5 / n;
        if (have_boxes) {
            r->top1_loc = l1 / n;
            r->top5_loc = l5 / n;
        }
    }
    r->gt_known_lacking = (int)lacking;
    if (have_boxes && (lacking == 0 || (o->missing_ok && !have_maps))) {
        r->gt_known = gk_boxes / n;
        r->gt_known_from = 1;
    } else if (have_maps) {
        r->gt_known = gk_maps / n;
        r->gt_known_from = 2;
        for (int i = 0; i < s->n; i++) {
            r->flags[i] &= (unsigned char)~EVF_GTK;
            if (s->im[i].has_map && s->im[i].map_gtk_iou >= 0.5)
                r->flags[i] |= EVF_GTK;
        }
    }
    if (have_maps) {
        int b = argmax_l(c1, s->nthr);
        r->maxboxacc = c1[b] / n;
        r->maxboxacc_thr = b * s->step;
        for (int i = 0; i < s->n; i++)
            if (s->im[i].has_map && s->im[i].iou_v1[b] >= 0.5)
                r->flags[i] |= EVF_BOXACC;
        double sum = 0;
        for (int d = 0; d < EVAL_NDELTA; d++) {
            int bd = argmax_l(c2 + (size_t)d * s->nthr, s->nthr);
            r->v2_delta[d] = c2[(size_t)d * s->nthr + bd] / n;
            r->v2_thr[d] = bd * s->step;
            sum += r->v2_delta[d];
        }
        r->maxboxacc_v2 = sum / EVAL_NDELTA;
    }
    free(c1);
    free(c2);
    return 0;
}

void eval_result_free(eval_result *r)
{
    free(r->flags);
    r->flags = NULL;
}
