/* preprocess.c - model input from an image (see preprocess.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "preprocess.h"

void preprocess_defaults(preprocess_params *p)
{
    memset(p, 0, sizeof *p);
    p->width = p->height = 224;
    p->bgr = 0;
    p->mode = PP_MEANSTD;
    p->mean[0] = 123.675f;
    p->mean[1] = 116.28f;
    p->mean[2] = 103.53f;
    p->std[0] = 58.395f;
    p->std[1] = 57.12f;
    p->std[2] = 57.375f;
}

int preprocess_parse3(const char *s, float v[3])
{
    const char *p = s;
    if (!s)
        return -1;
    for (int i = 0; i < 3; i++) {
        char *end;
        double d;
        while (isspace((unsigned char)*p) || (i > 0 && *p == ','))
            p++;
        errno = 0;
        d = strtod(p, &end);
        if (end == p || errno || !isfinite(d) || fabs(d) > 1e30)
            return -1;
        v[i] = (float)d;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (i < 2 && *p == ',')
            p++;
    }
    while (isspace((unsigned char)*p))
        p++;
    return *p ? -1 : 0;
}

/* Metadata lookup without graph.c, so that this file links on its own. */
static const char *meta_get(const graph *g, const char *key)
{
    for (int i = 0; i < g->nmeta; i++)
        if (g->meta[i].key && strcmp(g->meta[i].key, key) == 0)
            return g->meta[i].val;
    return NULL;
}

int preprocess_from_graph(const graph *g, int in_tensor, int ndim, const int64_t *dims,
                          preprocess_params *p, err_t *e)
{
    const char *s;

    preprocess_defaults(p);
    if (ndim != 4 || dims[1] != 3)
        return err_set(e, "model input has shape of %d dims (need N x 3 x H x W)", ndim);
    if (dims[2] <= 0 || dims[3] <= 0 || dims[2] > 30000 || dims[3] > 30000)
        return err_set(e, "model input size %lldx%lld is unknown or unusable (give -size WxH)",
                       (long long)dims[3], (long long)dims[2]);
    p->width = (int)dims[3];
    p->height = (int)dims[2];

    if (g->format == GRAPH_TFLITE) {
        const gtensor *t = (in_tensor >= 0 && in_tensor < g->ntensors) ? &g->tensors[in_tensor] : NULL;
        p->bgr = 0;
        if (t && t->nq >= 1 && t->scale && t->zero_point) {
            if (!(t->scale[0] > 0) || !isfinite(t->scale[0]))
                return err_set(e, "model input '%s': bad quantisation scale %g",
                               t->name ? t->name : "?", t->scale[0]);
            p->mode = PP_QUANT;
            p->qscale = t->scale[0];
            p->qzero = t->zero_point[0];
        } else {
            p->mode = PP_MEANSTD;
            for (int c = 0; c < 3; c++)
                p->mean[c] = p->std[c] = 127.5f;
        }
        return 0;
    }

    if ((s = meta_get(g, "preprocess.channel_order")) != NULL) {
        if (strcasecmp(s, "BGR") == 0)
            p->bgr = 1;
        else if (strcasecmp(s, "RGB") == 0)
            p->bgr = 0;
        else
            return err_set(e, "model metadata preprocess.channel_order: '%s' is not RGB or BGR", s);
    }
    if ((s = meta_get(g, "preprocess.mean")) != NULL && preprocess_parse3(s, p->mean) < 0)
        return err_set(e, "model metadata preprocess.mean: '%s' is not three numbers", s);
    if ((s = meta_get(g, "preprocess.std")) != NULL) {
        if (preprocess_parse3(s, p->std) < 0)
            return err_set(e, "model metadata preprocess.std: '%s' is not three numbers", s);
        for (int c = 0; c < 3; c++)
            if (p->std[c] == 0)
                return err_set(e, "model metadata preprocess.std: '%s' has a zero", s);
    }
    if ((s = meta_get(g, "preprocess.resize")) != NULL && strcmp(s, "squash") != 0)
        return err_set(e, "model metadata preprocess.resize: '%s' is not supported (only squash)", s);
    return 0;
}

int preprocess_resize(const image *im, const preprocess_params *p, image *out, err_t *e)
{
    return image_resize_bilinear_aa(im, p->width, p->height, out, e);
}

int preprocess_image(const image *im, const preprocess_params *p, float *out, err_t *e)
{
    image r = {0, 0, NULL};
    size_t plane = (size_t)p->width * (size_t)p->height;

    if (preprocess_resize(im, p, &r, e) < 0)
        return -1;
    /* A pixel has 256 values: each channel's 256 results are computed once
     * (the same expression, so the same floats) and looked up. */
    float lut[3][256];
    for (int c = 0; c < 3; c++) {
        float m = p->mean[c], s = p->std[c];
        for (int v = 0; v < 256; v++)
            lut[c][v] = p->mode == PP_QUANT ? p->qscale * (float)(v - p->qzero)
                                            : ((float)v - m) / s;
    }
    /* output channel c is the image's channel 2 - c when bgr */
    float *o0 = out, *o1 = out + plane, *o2 = out + 2 * plane;
    int s0 = p->bgr ? 2 : 0, s2 = p->bgr ? 0 : 2;
    const uint8_t *px = r.rgb;
    for (size_t i = 0; i < plane; i++, px += 3) {
        o0[i] = lut[0][px[s0]];
        o1[i] = lut[1][px[1]];
        o2[i] = lut[2][px[s2]];
    }
    image_free(&r);
    return 0;
}
