/* ref/qconv.c - plain, obviously-correct quantised convolution (see
 * kern_q.h for the arithmetic).
 *
 * in: cin x h x w floats on the input grid, read back as
 * q = clamp(nearbyint(x / in_scale) + in_zp, in_lo, in_hi); padding is the
 * zero point (real 0).  wq: cout x (cin/group) x kh x kw stored weights.
 * out: cout x oh x ow.  Sums in int64, any group.
 */
#include <math.h>
#include "kern_q.h"

static int64_t ref_qin(const qconv_params *qp, float x)
{
    double q = nearbyint((double)x / qp->in_scale) + qp->in_zp;
    if (!(q > qp->in_lo)) q = qp->in_lo;     /* NaN: the low end */
    if (q > qp->in_hi) q = qp->in_hi;
    return (int64_t)q;
}

void ref_qconv(const qconv_params *qp, const int16_t *wq, const int32_t *wzp,
               const float *wscale, const int32_t *bias, const float *in, float *out)
{
    const conv_params *p = &qp->p;
    int cig = p->cin / p->group, cog = p->cout / p->group;
    float lo = (float)(qp->out_lo - qp->out_zp), hi = (float)(qp->out_hi - qp->out_zp);

    for (int co = 0; co < p->cout; co++) {
        int g = co / cog;
        const int16_t *wc = wq + (size_t)co * cig * p->kh * p->kw;
        float mult = (qp->in_scale * wscale[co]) / qp->out_scale;
        for (int oy = 0; oy < p->oh; oy++) {
            for (int ox = 0; ox < p->ow; ox++) {
                int64_t s = bias ? bias[co] : 0;
                for (int ci = 0; ci < cig; ci++) {
                    const float *ip = in + (size_t)(g * cig + ci) * p->h * p->w;
                    const int16_t *wp = wc + (size_t)ci * p->kh * p->kw;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int iy = oy * p->sh - p->pt + ky * p->dh;
                        if (iy < 0 || iy >= p->h) continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int ix = ox * p->sw - p->pl + kx * p->dw;
                            if (ix < 0 || ix >= p->w) continue;
                            int64_t x = ref_qin(qp, ip[(size_t)iy * p->w + ix]) - qp->in_zp;
                            s += x * (wp[ky * p->kw + kx] - wzp[co]);
                        }
                    }
                }
                out[((size_t)co * p->oh + oy) * p->ow + ox] =
                    qconv_requant(s, mult, lo, hi, qp->out_scale);
            }
        }
    }
}
