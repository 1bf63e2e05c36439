/* kern_dw.h - internal: depthwise convolution (group == cin == cout), one
 * channel at a time.
 *
 * The zero-padded input channel (ph = h+pt+pb rows, pw = w+pl+pr columns)
 * is split by stride phase into sh*sw planes: plane (a, b) holds padded
 * pixel (i*sh + a, j*sw + b) at [i*L + j], with Hq = ceil(ph/sh) rows of
 * L = ceil(pw/sw) floats.  Tap (ky, kx) then reads, for output pixel
 * (oy, ox), plane ((ky*dh) % sh, (kx*dw) % sw) at flat index
 *     t + ((ky*dh)/sh) * L + (kx*dw)/sw,   t = oy*L + ox,
 * so every tap is one contiguous run over t = 0 .. oh*L: rows of the
 * output are computed L wide (the columns past ow are junk, dropped when
 * the result is copied out).  Any kernel size, stride and dilation.
 */
#ifndef CAM_KERN_DW_H
#define CAM_KERN_DW_H

#include <stddef.h>
#include <stdint.h>
#include "kernels.h"

typedef struct {
    int Hq, L;            /* plane rows and row length */
    size_t plane;         /* floats per plane, with slack for vector tails */
    size_t wide;          /* floats of the L-wide output, with slack */
    int ntaps;
    int *off;             /* ntaps: plane index * plane + offset within it */
    /* AVX-512 paths that read the input in place (no planes):
     * "flat" (stride 1, ow == w, oh*ow <= DW_FLAT_MAX): the output channel
     * is one run of 16-pixel chunks; tap t of chunk c reads the input at
     * flat index 16c + foff[t] through mask fmask[t * fch + c] (pixels
     * past the map or whose tap falls on padding off; fch is the chunk
     * count rounded up to 4, the extra chunks all off) and stores through
     * fstore[c].
     * "rows" (horizontal stride 1 or 2): each output row is cut into rch
     * chunks of 16 pixels; tap column kx of chunk c reads the input row
     * from column roff[c * kw + kx] through the 32-lane mask
     * rmask[c * kw + kx] (for stride 2 only even lanes, odd ones dropped
     * by a permute).  Kernels 3 wide with horizontal stride 2 and dilation
     * 1 (ow <= 1024) take neither: each kernel row's 33 input columns per
     * 16 outputs are loaded once and split into the three taps; when
     * the kernel is 3 high with vertical stride 2 too, strips of up to
     * four chunks walk down the map, the row shared by two output rows
     * split once.  3x3 stride 1 with one pixel of padding on every side,
     * 10 to 1024 wide, takes strips as well, each input row loaded once
     * for the three output rows it feeds (on AVX2 too, in 8-pixel
     * chunks). */
    int flat, fch, rch;
    int *foff;
    unsigned short *fmask, *fstore;
    int *roff;
    unsigned *rmask;
} dw_plan;

#define DW_FLAT_MAX 65536

/* Windows 3 wide with horizontal stride 2 (the depthwise s2k3 kernels and
 * 3x3 stride-2 max pooling): 16 outputs of a row, chunk c, read the 33
 * input columns from 32c - pl, loaded as three 16-lane vectors at boff[c]
 * bytes from the row start through masks ma, mb, mc (the lanes whose
 * column lies on the row, of w); st[c] keeps the chunk's outputs (of ow). */
#define DW_S2_MAXCH 64     /* chunks per row (ow <= 1024) */
typedef struct {
    intptr_t boff[DW_S2_MAXCH];
    uint16_t ma[DW_S2_MAXCH], mb[DW_S2_MAXCH], mc[DW_S2_MAXCH], st[DW_S2_MAXCH];
} dw_s2_cols;

/* Fills m for rows w wide, left padding pl, ow outputs (at most
 * 16 * DW_S2_MAXCH); returns the chunk count. */
int    dw_s2_cols_init(dw_s2_cols *m, int w, int pl, int ow);

int    dw_plan_init(dw_plan *d, const conv_params *p);
/* The flat masks serve im2col too: dw_flat_cols() packs rows
 * [k0, k0+kc) of col^T (row r = input channel r / (kh*kw), tap
 * r % (kh*kw)) of a stride-1 conv of any group-1 shape whose plan is
 * flat with at most 64 pixels, into 8-pixel panels:
 *     abuf[(n / 8) * kc * 8 + (r - k0) * 8 + n % 8]   (pixels past the map zero)
 * Returns 0 when it cannot (no AVX-512, not flat, too many pixels): the
 * caller then packs another way. */
/* The sh*sw planes of one input channel (sh*sw*plane floats at pl), for
 * callers that read taps from them (conv's stride-2 im2col). */
void   dw_fill_planes(int level, const dw_plan *d, const conv_params *p, const float *in,
                      float *pl);
int    dw_flat_cols_ok(int level, const dw_plan *d, const conv_params *p);
void   dw_flat_cols(const dw_plan *d, const conv_params *p, const float *in, int k0, int kc,
                    float *abuf);
void   dw_plan_free(dw_plan *d);
size_t dw_scratch_floats(const dw_plan *d, const conv_params *p);

/* 1 when dw_channel(level, d, q, ...) with q = p but for h, pt, pb and oh
 * (a band of p's rows, padded only where the map ends) reads nothing but
 * that band and needs no scratch: the AVX-512 3x3 stride-2 strips. */
int    dw_band_ok(int level, const dw_plan *d, const conv_params *p);
/* That kernel for one channel of such a band, the columns m (nch chunks)
 * set once by dw_s2_cols_init(m, p->w, p->pl, p->ow) for all of them. */
void   dw_band_s2k3(const dw_s2_cols *m, int nch, const conv_params *p, const float *in,
                    const float *w, float bias, float *out);

/* Channel c: in is its h x w input, w its kh*kw weights, out its oh x ow
 * output; scratch holds dw_scratch_floats() floats (64-byte aligned). */
void dw_channel(int level, const dw_plan *d, const conv_params *p, const float *in,
                const float *w, float bias, float *out, float *scratch);

#endif
