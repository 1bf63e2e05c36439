/* camrec.c - map records and their geometry (see camrec.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "camrec.h"
#include "tstream.h"

int camrec_kind(const tensor *t, const char *const *accept, err_t *e)
{
    const char *k = tensor_meta_get(t, "kind");
    if (!k)
        return 0;
    for (int i = 0; accept[i]; i++)
        if (strcmp(k, accept[i]) == 0)
            return 0;
    return err_set(e, "'%s' is a record of kind '%s', not %s", t->name, k, accept[0]);
}

const char *camrec_source(const tensor *t)
{
    const char *s = tensor_meta_get(t, "source");
    return s && *s ? s : t->name;
}

int camrec_map2d(tensor *t, int *w, int *h, err_t *e)
{
    int nd = t->ndim;
    for (int i = 0; i + 2 < t->ndim; i++)
        if (t->dims[i] != 1)
            return err_set(e, "'%s': a map must be H W (or 1 H W), not %d-D with dim %d = %lld",
                           t->name, t->ndim, i, (long long)t->dims[i]);
    if (nd < 2)
        return err_set(e, "'%s': a map must be H W, not %d-D", t->name, nd);
    int64_t H = t->dims[nd - 2], W = t->dims[nd - 1];
    if (H <= 0 || W <= 0 || (uint64_t)H * (uint64_t)W > CAM_MAX_PIXELS)
        return err_set(e, "'%s': map of %lldx%lld is empty or too large", t->name,
                       (long long)W, (long long)H);
    if (t->dtype != DT_F32 && tensor_to_f32(t, e))
        return err_prefix(e, "'%s'", t->name);
    *w = (int)W;
    *h = (int)H;
    return 0;
}

int camrec_geometry(const tensor *t, int *W, int *H, cam_roi *roi, err_t *e)
{
    long iw, ih;
    const char *sw = tensor_meta_get(t, "image_width"), *sh = tensor_meta_get(t, "image_height");
    if (!sw && !sh)
        return 0;
    if (tensor_meta_long(t, "image_width", &iw) || tensor_meta_long(t, "image_height", &ih) ||
        iw <= 0 || ih <= 0 || iw > 1000000 || ih > 1000000 ||
        (uint64_t)iw * (uint64_t)ih > CAM_MAX_PIXELS)
        return err_set(e, "'%s': bad image_width/image_height '%s' '%s'", t->name,
                       sw ? sw : "", sh ? sh : "");
    *W = (int)iw;
    *H = (int)ih;
    roi->x0 = 0;
    roi->y0 = 0;
    roi->x1 = (double)iw;
    roi->y1 = (double)ih;
    const char *r = tensor_meta_get(t, "roi");
    if (r) {
        double v[4];
        char tail;
        if (sscanf(r, "%lf %lf %lf %lf %c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 ||
            !isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2]) || !isfinite(v[3]) ||
            !(v[2] > v[0]) || !(v[3] > v[1]))
            return err_set(e, "'%s': bad roi '%s' (want x0 y0 x1 y1)", t->name, r);
        roi->x0 = v[0];
        roi->y0 = v[1];
        roi->x1 = v[2];
        roi->y1 = v[3];
    }
    return 1;
}

int camrec_to_image(tensor *t, int interp, double **out, int *ow, int *oh, err_t *e)
{
    int w, h, W, H;
    cam_roi roi;
    *out = NULL;
    if (camrec_map2d(t, &w, &h, e))
        return -1;
    int g = camrec_geometry(t, &W, &H, &roi, e);
    if (g < 0)
        return -1;
    if (g == 0) {
        W = w;
        H = h;
        roi.x0 = roi.y0 = 0;
        roi.x1 = w;
        roi.y1 = h;
    }
    double *m = malloc(sizeof *m * (size_t)W * (size_t)H);
    if (!m)
        return err_set(e, "'%s': out of memory for a %dx%d map", t->name, W, H);
    if (cam_resize(t->data, w, h, m, W, H, &roi, interp, e)) {
        free(m);
        return err_prefix(e, "'%s'", t->name);
    }
    *out = m;
    *ow = W;
    *oh = H;
    return 0;
}

int camrec_foreach(char *const *files, int nfiles,
                   int (*fn)(tensor *t, void *ctx, err_t *e), void *ctx, err_t *e)
{
    tensor t;
    int rc = 0;
    tensor_init(&t);
    for (int f = 0; f < (nfiles ? nfiles : 1) && rc == 0; f++) {
        tsr *r = tsr_open(nfiles ? files[f] : "-", e);
        if (!r) {
            rc = -1;
            break;
        }
        for (;;) {
            long idx = tsr_index(r);
            int got = tsr_next(r, &t, e);
            if (got <= 0) {
                rc = got;
                break;
            }
            if (fn(&t, ctx, e)) {
                rc = err_prefix(e, "%s: record %ld", tsr_label(r), idx);
                break;
            }
        }
        tsr_close(r);
    }
    tensor_free(&t);
    return rc;
}
