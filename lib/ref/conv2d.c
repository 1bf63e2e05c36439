/* ref/conv2d.c - plain, obviously-correct 2-D convolution.
 *
 * in: cin x h x w, w: cout x (cin/group) x kh x kw, bias: cout or NULL,
 * out: cout x oh x ow.  Pads, strides, dilations and groups as in ONNX Conv;
 * the fused activation is applied after the bias.  Sums in double so that
 * the fast kernels are compared against something more accurate than they
 * are.
 */
#include "kernels.h"

static float ref_act(const conv_params *p, float v)
{
    if (p->act == ACT_RELU) {
        if (v < 0.0f) v = 0.0f;
    } else if (p->act == ACT_CLIP) {
        if (v < p->act_min) v = p->act_min;
        if (v > p->act_max) v = p->act_max;
    }
    return v;
}

void ref_conv2d(const conv_params *p, const float *in, const float *w, const float *bias, float *out)
{
    int cig = p->cin / p->group, cog = p->cout / p->group;

    for (int co = 0; co < p->cout; co++) {
        int g = co / cog;
        const float *wc = w + (size_t)co * cig * p->kh * p->kw;
        for (int oy = 0; oy < p->oh; oy++) {
            for (int ox = 0; ox < p->ow; ox++) {
                double s = bias ? bias[co] : 0.0;
                for (int ci = 0; ci < cig; ci++) {
                    const float *ip = in + (size_t)(g * cig + ci) * p->h * p->w;
                    const float *wp = wc + (size_t)ci * p->kh * p->kw;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int iy = oy * p->sh - p->pt + ky * p->dh;
                        if (iy < 0 || iy >= p->h) continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int ix = ox * p->sw - p->pl + kx * p->dw;
                            if (ix < 0 || ix >= p->w) continue;
                            s += (double)ip[(size_t)iy * p->w + ix] * wp[ky * p->kw + kx];
                        }
                    }
                }
                out[((size_t)co * p->oh + oy) * p->ow + ox] = ref_act(p, (float)s);
            }
        }
    }
}
