/* The Pillow resize's vertical pass (row sums in vector blocks) against its
 * horizontal pass (per-pixel sums): a resize along y alone equals the
 * transpose of the same resize along x alone of the transposed image, since
 * both passes take the same coefficients and clip the same way.  Random
 * images, widths around the 16-byte blocks, shrinking and enlarging; the
 * horizontal pass with the vector path this CPU offers, then in plain C. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"
#include "kernels.h"
#include "../tap.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (unsigned)(rs >> 33) % n;
}

static void transpose(const image *a, image *t)
{
    t->w = a->h;
    t->h = a->w;
    t->rgb = malloc((size_t)a->w * a->h * 3);
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++)
            memcpy(t->rgb + ((size_t)x * t->w + y) * 3, a->rgb + ((size_t)y * a->w + x) * 3, 3);
}

static void run(const char *path)
{
    int bad = 0, cases = 0;
    for (int it = 0; it < 300; it++) {
        int w = 1 + (int)rnd(it < 150 ? 24 : 200), h = 1 + (int)rnd(120);
        int oh = 1 + (int)rnd(it % 3 ? (unsigned)h : 3u * (unsigned)h);
        if (oh == h)
            oh = h + 1;
        image in = { w, h, malloc((size_t)w * h * 3) }, t, a, b, bt;
        int smooth = it % 2;
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            in.rgb[i] = smooth ? (uint8_t)(i * 7 / 5 + rnd(8)) : (uint8_t)rnd(256);
        err_t e;
        transpose(&in, &t);
        int r1 = image_resize_bilinear_aa(&in, w, oh, &a, &e);    /* vertical pass only */
        int r2 = image_resize_bilinear_aa(&t, oh, w, &b, &e);     /* horizontal pass only */
        cases++;
        if (r1 || r2) {
            bad++;
        } else {
            transpose(&b, &bt);
            if (bt.w != a.w || bt.h != a.h || memcmp(a.rgb, bt.rgb, (size_t)a.w * a.h * 3) != 0) {
                if (bad++ < 5)
                    tap_diag("%dx%d to height %d differs", w, h, oh);
            }
            free(bt.rgb);
        }
        free(in.rgb); free(t.rgb); free(a.rgb); free(b.rgb);
    }
    tap_ok(bad == 0, "%s: vertical pass equals the transposed horizontal pass on %d images", path, cases);
}

int main(void)
{
    run(simd_name(simd_level()));
    simd_cap(SIMD_PORTABLE);
    run("portable");
    return tap_done();
}
