/* test_image.c - netpbm reading through libnetpbm and raw rows (every
 * format, streams, bad data without exiting), PPM writing, and the Pillow BILINEAR resize:
 * hand-computed cases and, with ../shared, the golden input bytes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "image.h"
#include "kernels.h"
#include "preprocess.h"

/* libnetpbm leaks a 1-byte comment buffer when a PAM header is bad (it
 * longjmps past its own free): tell LeakSanitizer it is the library's. */
__attribute__((used)) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libnetpbm.so\n";
}

/* Reads every image of a buffer; returns the number read or -1 (e set). */
static int read_all(const void *buf, size_t n, image *ims, int max, err_t *e)
{
    FILE *f = fmemopen((void *)buf, n, "rb");
    int k = 0, r;
    if (!f)
        return -1;
    while (k < max && (r = image_read_netpbm(f, &ims[k], e)) == 1)
        k++;
    fclose(f);
    return r < 0 ? -1 : k;
}

static int px(const image *im, int x, int y, int r, int g, int b)
{
    const uint8_t *p = im->rgb + ((size_t)y * im->w + x) * 3;
    return p[0] == r && p[1] == g && p[2] == b;
}

static void test_formats(void)
{
    image im[4];
    err_t e = {""};
    int n;

    n = read_all("P1\n2 2\n1 0\n0 1\n", 15, im, 4, &e);
    tap_ok(n == 1 && im[0].w == 2 && im[0].h == 2 && px(&im[0], 0, 0, 0, 0, 0) &&
           px(&im[0], 1, 0, 255, 255, 255) && px(&im[0], 1, 1, 0, 0, 0),
           "plain PBM: 1 is black, grey becomes RGB");
    if (n == 1) image_free(&im[0]);

    {
        static const unsigned char p4[] = {'P', '4', '\n', '9', ' ', '1', '\n', 0x80, 0x80};
        n = read_all(p4, sizeof p4, im, 4, &e);
        tap_ok(n == 1 && im[0].w == 9 && px(&im[0], 0, 0, 0, 0, 0) && px(&im[0], 1, 0, 255, 255, 255) &&
               px(&im[0], 8, 0, 0, 0, 0), "raw PBM, width not a multiple of 8");
        if (n == 1) image_free(&im[0]);
    }

    n = read_all("P2\n2 1\n15\n0 15\n", 15, im, 4, &e);
    tap_ok(n == 1 && px(&im[0], 0, 0, 0, 0, 0) && px(&im[0], 1, 0, 255, 255, 255), "plain PGM maxval 15");
    if (n == 1) image_free(&im[0]);

    n = read_all("P3\n1 1\n255\n10 20 30\n", 20, im, 4, &e);
    tap_ok(n == 1 && px(&im[0], 0, 0, 10, 20, 30), "plain PPM");
    if (n == 1) image_free(&im[0]);

    {
        static const unsigned char p6[] = {'P', '6', ' ', '2', ' ', '1', ' ', '2', '5', '5', '\n',
                                           1, 2, 3, 4, 5, 6};
        n = read_all(p6, sizeof p6, im, 4, &e);
        tap_ok(n == 1 && px(&im[0], 0, 0, 1, 2, 3) && px(&im[0], 1, 0, 4, 5, 6), "raw PPM");
        if (n == 1) image_free(&im[0]);
    }
    {
        /* 16-bit: 65535 -> 255, 32896 -> 128 (rounded), 257 -> 1 */
        static const unsigned char p6[] = {'P', '6', ' ', '1', ' ', '1', ' ', '6', '5', '5', '3', '5', '\n',
                                           0xff, 0xff, 0x80, 0x80, 0x01, 0x01};
        n = read_all(p6, sizeof p6, im, 4, &e);
        tap_ok(n == 1 && px(&im[0], 0, 0, 255, 128, 1), "16-bit PPM scaled to 8 bits");
        if (n == 1) image_free(&im[0]);
    }
    {
        static const char hdr[] = "P7\nWIDTH 2\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n";
        unsigned char buf[sizeof hdr - 1 + 8];
        static const unsigned char pix[8] = {9, 8, 7, 0, 6, 5, 4, 255};
        memcpy(buf, hdr, sizeof hdr - 1);
        memcpy(buf + sizeof hdr - 1, pix, 8);
        n = read_all(buf, sizeof buf, im, 4, &e);
        tap_ok(n == 1 && px(&im[0], 0, 0, 9, 8, 7) && px(&im[0], 1, 0, 6, 5, 4), "PAM RGB_ALPHA: alpha dropped");
        if (n == 1) image_free(&im[0]);
    }
    {
        static const char hdr[] = "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 2\nMAXVAL 255\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n";
        unsigned char buf[sizeof hdr - 1 + 2];
        memcpy(buf, hdr, sizeof hdr - 1);
        buf[sizeof hdr - 1] = 77;
        buf[sizeof hdr] = 3;
        n = read_all(buf, sizeof buf, im, 4, &e);
        tap_ok(n == 1 && px(&im[0], 0, 0, 77, 77, 77), "PAM GRAYSCALE_ALPHA");
        if (n == 1) image_free(&im[0]);
    }

    /* A stream of three images of different kinds, then the clean end. */
    {
        static const char s[] = "P3\n1 1\n255\n1 2 3\nP2 1 1 255 200\n\nP1 1 1 1\n";
        n = read_all(s, sizeof s - 1, im, 4, &e);
        tap_ok(n == 3 && px(&im[0], 0, 0, 1, 2, 3) && px(&im[1], 0, 0, 200, 200, 200) &&
               px(&im[2], 0, 0, 0, 0, 0), "multi-image stream: 3 images then end (got %d)", n);
        for (int i = 0; i < n && i < 4; i++)
            image_free(&im[i]);
    }
    n = read_all("", 0, im, 4, &e);
    tap_ok(n == 0, "empty stream: no image, no error");
}

static void test_errors(void)
{
    static const struct { const char *name, *data; size_t n; } bad[] = {
        {"truncated raw PPM", "P6\n4 4\n255\n\1\2\3", 0},
        {"0x0 image", "P6\n0 0\n255\n", 0},
        {"0-wide PAM", "P7\nWIDTH 0\nHEIGHT 3\nDEPTH 3\nMAXVAL 255\nENDHDR\n", 0},
        {"huge header", "P6\n100000 100000\n255\n", 0},
        {"over a gigabyte", "P5\n30000 29000\n255\n", 0},
        {"not netpbm", "GIF89a.....", 0},
        {"bad maxval", "P2\n1 1\n0\n0\n", 0},
        {"depth 0 PAM", "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 0\nMAXVAL 255\nENDHDR\n", 0},
        {"plain sample over maxval", "P2\n1 1\n15\n99\n", 0},
        {"header cut short", "P6\n12", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        image im[2];
        err_t e = {""};
        int n = read_all(bad[i].data, bad[i].n ? bad[i].n : strlen(bad[i].data), im, 2, &e);
        tap_ok(n == -1 && e.msg[0], "%s: error, no exit (%s)", bad[i].name, e.msg);
        if (n > 0)
            for (int k = 0; k < n; k++)
                image_free(&im[k]);
    }
    /* A good image followed by garbage: the first image is delivered. */
    {
        static const char s[] = "P3\n1 1\n255\n1 2 3\nXYZ";
        FILE *f = fmemopen((void *)s, sizeof s - 1, "rb");
        image im;
        err_t e = {""};
        int r1 = image_read_netpbm(f, &im, &e);
        if (r1 == 1)
            image_free(&im);
        int r2 = image_read_netpbm(f, &im, &e);
        tap_ok(r1 == 1 && r2 == -1, "good image then garbage: 1 then error");
        fclose(f);
    }
}

static void test_write(void)
{
    uint8_t pix[6] = {1, 2, 3, 250, 251, 252};
    image im = {2, 1, pix}, back;
    char *buf = NULL;
    size_t n = 0;
    err_t e;
    FILE *f = open_memstream(&buf, &n);
    int ok = image_write_ppm(f, &im, &e) == 0;
    fclose(f);
    ok = ok && read_all(buf, n, &back, 1, &e) == 1;
    tap_ok(ok && back.w == 2 && back.h == 1 && memcmp(back.rgb, pix, 6) == 0, "PPM write/read round trip");
    if (ok)
        image_free(&back);
    free(buf);
}

static void test_resize_small(void)
{
    err_t e;
    image out;
    {
        uint8_t pix[6] = {0, 0, 0, 255, 255, 255};
        image in = {2, 1, pix};
        /* weights 1/2, 1/2 in 22-bit fixed point: 2^21 + 255 * 2^21 = 2^29 -> 128 */
        tap_ok(image_resize_bilinear_aa(&in, 1, 1, &out, &e) == 0 && px(&out, 0, 0, 128, 128, 128),
               "2x1 -> 1x1: 0 and 255 give 128 (Pillow rounds halves up)");
        image_free(&out);
    }
    {
        uint8_t pix[3] = {10, 20, 30};
        image in = {1, 1, pix};
        tap_ok(image_resize_bilinear_aa(&in, 3, 2, &out, &e) == 0 && out.w == 3 && out.h == 2 &&
               px(&out, 2, 1, 10, 20, 30) && px(&out, 0, 0, 10, 20, 30), "1x1 -> 3x2: constant");
        image_free(&out);
    }
    {
        /* Upscale 2 -> 4: centres 0.25, 0.75, 1.25, 1.75 in input pixels;
           edge samples clamp; inner ones mix 3:1. */
        uint8_t pix[6] = {0, 0, 0, 100, 100, 100};
        image in = {2, 1, pix};
        int ok = image_resize_bilinear_aa(&in, 4, 1, &out, &e) == 0;
        tap_ok(ok && out.rgb[0] == 0 && out.rgb[3] == 25 && out.rgb[6] == 75 && out.rgb[9] == 100,
               "2 -> 4 upscale: 0 25 75 100 (got %d %d %d %d)", ok ? out.rgb[0] : -1,
               ok ? out.rgb[3] : -1, ok ? out.rgb[6] : -1, ok ? out.rgb[9] : -1);
        image_free(&out);
    }
    {
        uint8_t pix[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        image in = {2, 2, pix};
        tap_ok(image_resize_bilinear_aa(&in, 2, 2, &out, &e) == 0 && memcmp(out.rgb, pix, 12) == 0,
               "same size: a copy");
        image_free(&out);
    }
    {
        uint8_t pix[3] = {1, 2, 3};
        image in = {1, 1, pix};
        tap_ok(image_resize_bilinear_aa(&in, 0, 5, &out, &e) == -1, "0-wide output refused");
    }
}

/* ---------------------------------------------------------------- goldens */

/* Minimal .npy reader for the goldens ('<f4' or '|u1', C order). */
static void *npy_load(const char *path, char *descr, int64_t *dims, int *ndim, size_t *nbytes)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char hdr[1024], *p;
    size_t hl;
    void *data;
    if (!f)
        return NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) {
        fclose(f);
        return NULL;
    }
    hl = pre[8] | (size_t)pre[9] << 8;
    if (hl >= sizeof hdr || fread(hdr, 1, hl, f) != hl) {
        fclose(f);
        return NULL;
    }
    hdr[hl] = 0;
    p = strstr(hdr, "'descr': '");
    if (!p || sscanf(p + 10, "%3s", descr) != 1) {
        fclose(f);
        return NULL;
    }
    p = strstr(hdr, "'shape': (");
    *ndim = 0;
    *nbytes = strcmp(descr, "<f4") == 0 ? 4 : 1;
    for (p = p ? p + 10 : NULL; p && *p && *p != ')';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        dims[(*ndim)++] = v;
        *nbytes *= (size_t)v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    data = malloc(*nbytes);
    if (!data || fread(data, 1, *nbytes, f) != *nbytes) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static int load_bmp(const char *shared, const char *stem, image *im)
{
    char cmd[1024];
    FILE *p;
    err_t e;
    int r;
    snprintf(cmd, sizeof cmd, "bmptopnm '%s/images/%s.bmp' 2>/dev/null", shared, stem);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    r = image_read_netpbm(p, im, &e);
    pclose(p);
    return r == 1 ? 0 : -1;
}

static void test_goldens(const char *shared)
{
    static const char *imgs[] = {"cat", "bird", "grace_hopper"};
    static const char *tfl[] = {"mobilenet_v2_1.0_224_quant", "mobilenet_v2_1.0_224_inat_bird_quant"};
    /* ONNX BVLC models: BGR, mean 104 117 123, std 1: input.npy + mean are
     * the resized bytes themselves. */
    static const struct { const char *stem; int size; } bvlc[] = {
        {"googlenet-bvlc", 224}, {"squeezenet1.1-bvlc", 227}};
    char path[1024], descr[8];
    int64_t dims[8];
    int nd;
    size_t nb;

    for (int i = 0; i < 3; i++) {
        image im, r;
        err_t e;
        if (load_bmp(shared, imgs[i], &im) < 0) {
            tap_skip("bmptopnm %s.bmp failed", imgs[i]);
            continue;
        }
        for (int m = 0; m < 2; m++) {
            uint8_t *g;
            snprintf(path, sizeof path, "%s/golden/%s/%s/input_u8.npy", shared, tfl[m], imgs[i]);
            g = npy_load(path, descr, dims, &nd, &nb);
            if (!g || nd != 3 || dims[2] != 3) {
                tap_ok(0, "%s: readable golden input_u8.npy", path);
                free(g);
                continue;
            }
            if (image_resize_bilinear_aa(&im, (int)dims[1], (int)dims[0], &r, &e) < 0) {
                tap_ok(0, "resize %s: %s", imgs[i], e.msg);
                free(g);
                continue;
            }
            size_t diff = 0;
            for (size_t k = 0; k < nb; k++)
                diff += r.rgb[k] != g[k];
            tap_ok(diff == 0, "%s %dx%d -> %dx%d equals %s/%s input_u8.npy (%zu of %zu bytes differ)",
                   imgs[i], im.w, im.h, r.w, r.h, tfl[m], imgs[i], diff, nb);
            image_free(&r);
            free(g);
        }
        for (int m = 0; m < 2; m++) {
            static const float mean[3] = {104, 117, 123};
            float *g;
            preprocess_params pp;
            preprocess_defaults(&pp);
            pp.width = pp.height = bvlc[m].size;
            pp.bgr = 1;
            for (int c = 0; c < 3; c++) {
                pp.mean[c] = mean[c];
                pp.std[c] = 1;
            }
            snprintf(path, sizeof path, "%s/golden/%s/%s/input.npy", shared, bvlc[m].stem, imgs[i]);
            g = npy_load(path, descr, dims, &nd, &nb);
            if (!g || nd != 3 || dims[0] != 3 || dims[1] != bvlc[m].size || dims[2] != bvlc[m].size) {
                tap_ok(0, "%s: readable golden input.npy", path);
                free(g);
                continue;
            }
            size_t n = nb / 4, diff = 0;
            float *x = malloc(nb), maxd = 0;
            if (x && preprocess_image(&im, &pp, x, &e) == 0) {
                for (size_t k = 0; k < n; k++) {
                    float d = x[k] > g[k] ? x[k] - g[k] : g[k] - x[k];
                    diff += d != 0;
                    if (d > maxd)
                        maxd = d;
                }
                tap_ok(maxd <= 1.0f, "%s %s: preprocessed input within 1 step of input.npy "
                       "(max |d| %g, %zu of %zu values differ)", bvlc[m].stem, imgs[i], maxd, diff, n);
            } else {
                tap_ok(0, "preprocess %s", imgs[i]);
            }
            free(x);
            free(g);
        }
        /* torchvision models: RGB, (v - mean) / std in float32; within one
         * uint8 step (1/std) of the golden input, and counted exactly. */
        {
            static const char *tv[] = {"mobilenet_v2_bn", "resnet18_bn"};
            for (int m = 0; m < 2; m++) {
                preprocess_params pp;
                float *g, *x, maxd = 0;
                size_t diff = 0, n;
                preprocess_defaults(&pp);
                snprintf(path, sizeof path, "%s/golden/%s/%s/input.npy", shared, tv[m], imgs[i]);
                g = npy_load(path, descr, dims, &nd, &nb);
                if (!g || nd != 3 || dims[0] != 3 || dims[1] != 224 || dims[2] != 224) {
                    tap_ok(0, "%s: readable golden input.npy", path);
                    free(g);
                    continue;
                }
                n = nb / 4;
                x = malloc(nb);
                if (x && preprocess_image(&im, &pp, x, &e) == 0) {
                    for (size_t k = 0; k < n; k++) {
                        float d = fabsf(x[k] - g[k]);
                        diff += d != 0;
                        if (d > maxd)
                            maxd = d;
                    }
                    tap_ok(maxd <= 1.0f / 58.0f, "%s %s: torchvision input within 1 step of input.npy "
                           "(max |d| %g, %zu of %zu values differ)", tv[m], imgs[i], maxd, diff, n);
                } else {
                    tap_ok(0, "preprocess %s", imgs[i]);
                }
                free(x);
                free(g);
            }
        }
        image_free(&im);
    }
}

/* Raw images of one byte per sample are read row by row as stored, the
 * others through libnetpbm's tuples: the same pixels either way (the plain
 * form of the same samples as the reference), a stream of raw images
 * kept in step, a short raster an error. */
static void test_raw_rows(void)
{
    enum { W = 37, H = 23 };
    static unsigned char px3[W * H * 3];
    unsigned seed = 7;
    err_t e = {""};
    image a[2], b[2];
    for (int maxval = 100; maxval <= 255; maxval += 155)
        for (int depth = 1; depth <= 3; depth += 2) {
            size_t n = (size_t)W * H * depth;
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                px3[i] = (unsigned char)((seed >> 16) % (unsigned)(maxval + 1));
            }
            char *raw = malloc(n + 64), *plain = malloc(n * 4 + 64);
            int hl = sprintf(raw, "P%c\n%d %d\n%d\n", depth == 3 ? '6' : '5', W, H, maxval);
            memcpy(raw + hl, px3, n);
            int pl = sprintf(plain, "P%c\n%d %d\n%d\n", depth == 3 ? '3' : '2', W, H, maxval);
            for (size_t i = 0; i < n; i++)
                pl += sprintf(plain + pl, "%d\n", px3[i]);
            int na = read_all(raw, (size_t)hl + n, a, 2, &e), nb = read_all(plain, (size_t)pl, b, 2, &e);
            tap_ok(na == 1 && nb == 1 && a[0].w == W && a[0].h == H &&
                       !memcmp(a[0].rgb, b[0].rgb, (size_t)W * H * 3),
                   "raw P%d maxval %d: the same pixels as its plain form", depth == 3 ? 6 : 5, maxval);
            if (na == 1) image_free(&a[0]);
            if (nb == 1) image_free(&b[0]);
            /* two in one stream, then the first cut short */
            char *two = malloc(2 * ((size_t)hl + n));
            memcpy(two, raw, (size_t)hl + n);
            memcpy(two + hl + n, raw, (size_t)hl + n);
            na = read_all(two, 2 * ((size_t)hl + n), a, 2, &e);
            tap_ok(na == 2 && !memcmp(a[0].rgb, a[1].rgb, (size_t)W * H * 3),
                   "raw P%d maxval %d: a stream of two", depth == 3 ? 6 : 5, maxval);
            for (int i = 0; i < na && i < 2; i++) image_free(&a[i]);
            e.msg[0] = '\0';
            na = read_all(raw, (size_t)hl + n - 1, a, 2, &e);
            tap_ok(na == -1 && strstr(e.msg, "row 23 of 23"), "raw P%d maxval %d cut short: %s",
                   depth == 3 ? 6 : 5, maxval, e.msg);
            free(raw);
            free(plain);
            free(two);
        }
}

/* The resize at every SIMD level gives the same bytes (the AVX2
 * horizontal pass, the vertical pass's vector clamp), on shrinking and
 * growing, odd widths, one-row images and the image's last row (where
 * the AVX2 pass must not read past the image). */
static void test_resize_levels(void)
{
    static const int sz[][4] = {
        {512, 341, 224, 224}, {500, 375, 227, 227}, {97, 65, 224, 224}, {9, 7, 8, 3},
        {17, 1, 16, 1}, {1000, 3, 15, 2}, {640, 480, 299, 301}, {33, 40, 7, 40}, {8, 8, 9, 9},
        {300, 200, 64, 100}, {5, 5, 24, 5},
    };
    unsigned seed = 99;
    for (size_t c = 0; c < sizeof sz / sizeof sz[0]; c++) {
        image in = {0, 0, NULL}, out[3];
        err_t e = {""};
        in.w = sz[c][0];
        in.h = sz[c][1];
        size_t n = (size_t)in.w * in.h * 3;
        in.rgb = malloc(n);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in.rgb[i] = (uint8_t)(seed >> 16);
        }
        int ok = 1;
        static const int lv[3] = {SIMD_PORTABLE, SIMD_AVX2, SIMD_AVX512};
        for (int l = 0; l < 3; l++) {
            simd_cap(lv[l]);
            ok &= image_resize_bilinear_aa(&in, sz[c][2], sz[c][3], &out[l], &e) == 0;
        }
        simd_cap(SIMD_AVX512);
        size_t on = (size_t)sz[c][2] * sz[c][3] * 3;
        tap_ok(ok && !memcmp(out[0].rgb, out[1].rgb, on) && !memcmp(out[0].rgb, out[2].rgb, on),
               "resize %dx%d -> %dx%d: the same bytes at every SIMD level", sz[c][0], sz[c][1],
               sz[c][2], sz[c][3]);
        for (int l = 0; l < 3 && ok; l++)
            image_free(&out[l]);
        free(in.rgb);
    }
}

int main(void)
{
    const char *shared = tap_shared();
    char probe[1024];
    FILE *f;

    test_formats();
    test_raw_rows();
    test_errors();
    test_write();
    test_resize_small();
    test_resize_levels();
    snprintf(probe, sizeof probe, "%s/golden/README.md", shared);
    if ((f = fopen(probe, "r")) != NULL) {
        fclose(f);
        test_goldens(shared);
    } else {
        tap_skip("no shared data at %s: golden resize checks skipped", shared);
    }
    return tap_done();
}
