/* image.c - netpbm images in and out through libnetpbm, and the squash
 * resize that reproduces Pillow's Image.resize(..., BILINEAR) byte for
 * byte.
 *
 * libnetpbm reports bad data with pm_error(), which prints and exits unless
 * a jump buffer is installed.  image_read_netpbm() installs one around every
 * libnetpbm call and captures the message through pm_setusererrormsgfn(), so
 * that a corrupt image becomes an error return.  The captured message lives
 * in a static buffer: image reading is not thread-safe (libnetpbm's error
 * state is process-global anyway).  libnetpbm reads every header; the
 * raster of a raw image of one byte per sample (P5, P6, P7) is then read
 * here, row by row as stored (read_raw_rows), the others through
 * libnetpbm's tuples.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <pam.h>
#include "image.h"
#include "kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define IMAGE_X86 1
#endif

/* Limits on what a header may promise before anything is allocated. */
#define IMAGE_MAX_SIDE   30000
#define IMAGE_MAX_BYTES  ((uint64_t)1 << 30)   /* w * h * 3 */
#define IMAGE_MAX_DEPTH  64

void image_free(image *im)
{
    if (!im)
        return;
    free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = 0;
}

/* ---------------------------------------------------------------- reading */

static char pm_msg[400];

static void capture_error(const char *msg)
{
    size_t n;
    snprintf(pm_msg, sizeof pm_msg, "%s", msg ? msg : "libnetpbm error");
    n = strlen(pm_msg);
    while (n > 0 && (pm_msg[n - 1] == '\n' || pm_msg[n - 1] == '.'))
        pm_msg[--n] = '\0';
}

static void ignore_message(const char *msg)
{
    (void)msg;
}

static void netpbm_setup(void)
{
    static int done;
    if (!done) {
        pm_init("cam", 0);
        pm_setusererrormsgfn(capture_error);
        pm_setusermessagefn(ignore_message);
        done = 1;
    }
}

/* Maps a sample of [0, maxval] to [0, 255], rounding to nearest. */
static uint8_t scale_sample(sample v, sample maxval)
{
    if (maxval == 255)
        return (uint8_t)v;
    if (v > maxval)
        v = maxval;
    return (uint8_t)(((uint64_t)v * 255 + maxval / 2) / maxval);
}

/* The raster of a raw image of one byte per sample into rgb, each pixel
 * as scale_sample and the tuple reader below make it (depth 3 and more:
 * the first three samples; less: the first, as grey).  0, or -1 (e set)
 * on a short read. */
static int read_raw_rows(FILE *f, const struct pam *pam, uint8_t *rgb, err_t *e)
{
    size_t w = (size_t)pam->width, d = pam->depth, rb = w * d;
    uint8_t *buf = d == 3 ? NULL : malloc(rb);
    if (d != 3 && !buf)
        return err_set(e, "out of memory for a %dx%d image", pam->width, pam->height);
    for (int y = 0; y < pam->height; y++) {
        uint8_t *p = rgb + (size_t)y * w * 3, *in = buf ? buf : p;
        if (fread(in, 1, rb, f) != rb) {
            free(buf);
            return err_set(e, "image data ends early (row %d of %d)", y + 1, pam->height);
        }
        if (d == 3) {
            if (pam->maxval != 255)
                for (size_t i = 0; i < rb; i++)
                    p[i] = scale_sample(p[i], pam->maxval);
        } else if (d > 3) {
            for (size_t x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    p[3 * x + c] = scale_sample(in[x * d + c], pam->maxval);
        } else {
            for (size_t x = 0; x < w; x++)
                p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = scale_sample(in[x * d], pam->maxval);
        }
    }
    free(buf);
    return 0;
}

int image_read_netpbm(FILE *f, image *im, err_t *e)
{
    jmp_buf jb, *saved;
    struct pam pam;
    tuple *volatile row = NULL;
    uint8_t *volatile rgb = NULL;
    int eof = 0;

    im->w = im->h = 0;
    im->rgb = NULL;
    netpbm_setup();
    pm_msg[0] = '\0';
    pm_setjmpbufsave(&jb, &saved);
    if (setjmp(jb) != 0) {
        pm_setjmpbuf(saved);
        if (row)
            pnm_freepamrow(row);
        free(rgb);
        return err_set(e, "%s", pm_msg[0] ? pm_msg : "bad netpbm data");
    }

    pnm_nextimage(f, &eof);
    if (eof) {
        pm_setjmpbuf(saved);
        return 0;
    }
    memset(&pam, 0, sizeof pam);
    /* PAM_STRUCT_SIZE(tuple_type), without its null-pointer arithmetic. */
    pnm_readpaminit(f, &pam, (int)(offsetof(struct pam, tuple_type) + sizeof pam.tuple_type));

    if (pam.width <= 0 || pam.height <= 0) {
        pm_setjmpbuf(saved);
        return err_set(e, "image of size %dx%d", pam.width, pam.height);
    }
    if (pam.width > IMAGE_MAX_SIDE || pam.height > IMAGE_MAX_SIDE ||
        (uint64_t)pam.width * (uint64_t)pam.height * 3 > IMAGE_MAX_BYTES) {
        pm_setjmpbuf(saved);
        return err_set(e, "image of size %dx%d is too large (limit %d per side, %llu bytes)",
                       pam.width, pam.height, IMAGE_MAX_SIDE,
                       (unsigned long long)IMAGE_MAX_BYTES);
    }
    if (pam.depth < 1 || pam.depth > IMAGE_MAX_DEPTH) {
        pm_setjmpbuf(saved);
        return err_set(e, "image depth %u is not supported", pam.depth);
    }
    if (pam.maxval < 1 || pam.maxval > 65535) {
        pm_setjmpbuf(saved);
        return err_set(e, "image maxval %lu is not supported", (unsigned long)pam.maxval);
    }

    rgb = malloc((size_t)pam.width * (size_t)pam.height * 3);
    if (!rgb) {
        pm_setjmpbuf(saved);
        return err_set(e, "out of memory for a %dx%d image", pam.width, pam.height);
    }
    if (pam.bytes_per_sample == 1 &&
        (pam.format == RPPM_FORMAT || pam.format == RPGM_FORMAT || pam.format == PAM_FORMAT)) {
        /* Raw samples of one byte (P6, P5, P7: what the converters write):
         * the rows read as they are stored.  libnetpbm's row reader makes
         * a tuple of every sample, 1.4 ms of a 512x341 photograph. */
        int r = read_raw_rows(f, &pam, rgb, e);
        pm_setjmpbuf(saved);
        if (r < 0) {
            free(rgb);
            return -1;
        }
        im->w = pam.width;
        im->h = pam.height;
        im->rgb = rgb;
        return 1;
    }
    row = pnm_allocpamrow(&pam);
    for (int y = 0; y < pam.height; y++) {
        uint8_t *p = rgb + (size_t)y * (size_t)pam.width * 3;
        pnm_readpamrow(&pam, row);
        for (int x = 0; x < pam.width; x++) {
            const tuple t = row[x];
            if (pam.depth >= 3) {
                p[3 * x + 0] = scale_sample(t[0], pam.maxval);
                p[3 * x + 1] = scale_sample(t[1], pam.maxval);
                p[3 * x + 2] = scale_sample(t[2], pam.maxval);
            } else {
                uint8_t g = scale_sample(t[0], pam.maxval);
                p[3 * x + 0] = p[3 * x + 1] = p[3 * x + 2] = g;
            }
        }
    }
    pnm_freepamrow(row);
    row = NULL;
    pm_setjmpbuf(saved);
    im->w = pam.width;
    im->h = pam.height;
    im->rgb = rgb;
    return 1;
}

int image_load(const char *path, image *im, err_t *e)
{
    FILE *f;
    int r;
    int is_stdin = !path || strcmp(path, "-") == 0;
    const char *label = is_stdin ? "stdin" : path;

    f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return err_set(e, "%s: %s", label, strerror(errno));
    r = image_read_netpbm(f, im, e);
    if (!is_stdin)
        fclose(f);
    if (r < 0)
        return err_prefix(e, "%s", label);
    if (r == 0)
        return err_set(e, "%s: no image", label);
    return 0;
}

/* ---------------------------------------------------------------- writing */

int image_write_ppm(FILE *f, const image *im, err_t *e)
{
    size_t n;
    if (!im || !im->rgb || im->w <= 0 || im->h <= 0)
        return err_set(e, "no image to write");
    n = (size_t)im->w * (size_t)im->h * 3;
    if (fprintf(f, "P6\n%d %d\n255\n", im->w, im->h) < 0 || fwrite(im->rgb, 1, n, f) != n)
        return err_set(e, "write error: %s", strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------- resize */

/* Pillow 9.4 libImaging/Resample.c, 8 bits per channel: coefficients are
 * computed in double, normalised to sum 1, then converted to fixed point
 * with PRECISION_BITS fractional bits (rounded half away from zero);
 * accumulation starts at one half and the result is clipped to 0..255. */
#define PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

/* Pillow's precompute_coeffs() + normalize_coeffs_8bpc() for the box
 * [0, in_size) -> out_size with the bilinear filter (support 1).  Returns
 * ksize (coefficients per output sample) or -1; bounds: out_size pairs
 * (first input index, count); kk: out_size x ksize fixed-point weights. */
static int precompute_coeffs(int in_size, int out_size, int **boundsp, int32_t **kkp)
{
    const float in0 = 0.0f, in1 = (float)in_size;
    double support, scale, filterscale;
    double *pre;
    int32_t *kk;
    int *bounds;
    int ksize;

    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = 1.0 * filterscale;
    ksize = (int)ceil(support) * 2 + 1;
    if (out_size <= 0 || (size_t)out_size > SIZE_MAX / sizeof(double) / (size_t)ksize)
        return -1;
    pre = malloc((size_t)out_size * (size_t)ksize * sizeof *pre);
    kk = malloc((size_t)out_size * (size_t)ksize * sizeof *kk);
    bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    if (!pre || !kk || !bounds) {
        free(pre);
        free(kk);
        free(bounds);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        double *k = &pre[(size_t)xx * ksize];
        int x, xmin, xmax;

        xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                k[x] /= ww;
        for (; x < ksize; x++)
            k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++) {
        if (pre[i] < 0)
            kk[i] = (int32_t)(-0.5 + pre[i] * (1 << PRECISION_BITS));
        else
            kk[i] = (int32_t)(0.5 + pre[i] * (1 << PRECISION_BITS));
    }
    free(pre);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static uint8_t clip8(int32_t in)
{
    int32_t v = in >> PRECISION_BITS;   /* arithmetic shift, as Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass: rows [y0, y0 + rows) of src (sw wide) into dst (dw x rows). */
static void resample_horizontal(const uint8_t *src, int sw, int y0, int rows, uint8_t *dst, int dw,
                                int ksize, const int *bounds, const int32_t *kk)
{
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *in = src + (size_t)(yy + y0) * (size_t)sw * 3;
        uint8_t *out = dst + (size_t)yy * (size_t)dw * 3;
        for (int xx = 0; xx < dw; xx++) {
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = &kk[(size_t)xx * ksize];
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xmax; x++) {
                const uint8_t *p = in + (size_t)(x + xmin) * 3;
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            out[3 * xx + 0] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }
}

#ifdef IMAGE_X86
/* resample_horizontal with the three channels of a pixel in one vector:
 * each tap widens R, G, B to 32 bits and multiplies them by the tap at
 * once (the same integer sums); shift and saturating packs clamp as clip8. */
__attribute__((target("avx2")))
static void resample_horizontal_avx2(const uint8_t *src, int sw, int y0, int rows, uint8_t *dst, int dw,
                                     int ksize, const int *bounds, const int32_t *kk)
{
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *in = src + (size_t)(yy + y0) * (size_t)sw * 3;
        uint8_t *out = dst + (size_t)yy * (size_t)dw * 3;
        for (int xx = 0; xx < dw; xx++) {
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = &kk[(size_t)xx * ksize];
            const uint8_t *p = in + (size_t)xmin * 3;
            __m128i s = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
            /* four bytes at a time (R G B and the next pixel's R, dropped)
             * while that stays inside the row */
            int x = 0, x4 = xmin + xmax < sw ? xmax : xmax - 1;
            for (; x < x4; x++) {
                uint32_t v;
                memcpy(&v, p + 3 * x, 4);
                __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)(v & 0xFFFFFF)));
                s = _mm_add_epi32(s, _mm_mullo_epi32(px, _mm_set1_epi32(k[x])));
            }
            for (; x < xmax; x++) {
                const uint8_t *q = p + 3 * x;
                uint32_t v = q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16;
                __m128i px = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)v));
                s = _mm_add_epi32(s, _mm_mullo_epi32(px, _mm_set1_epi32(k[x])));
            }
            s = _mm_srai_epi32(s, PRECISION_BITS);
            s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
            uint32_t r = (uint32_t)_mm_cvtsi128_si32(s);
            memcpy(out + 3 * xx, &r, 3);
        }
    }
}
#endif

/* Vertical pass: src (w x any) into dst (w x dh); bounds relative to src.
 * Row by row into acc (w * 3 sums): the same integer sums as Pillow's
 * per-pixel loop (integer addition does not care about the order), in
 * blocks of 16 that the compiler turns into vector code. */
static void resample_vertical(const uint8_t *src, int w, uint8_t *dst, int dh,
                              int ksize, const int *bounds, const int32_t *kk, int32_t *acc)
{
    size_t stride = (size_t)w * 3, nb = stride / 16 * 16;
    for (int yy = 0; yy < dh; yy++) {
        int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        const int32_t *k = &kk[(size_t)yy * ksize];
        uint8_t *out = dst + (size_t)yy * stride;
        for (size_t i = 0; i < nb; i += 16)
            for (int j = 0; j < 16; j++)
                acc[i + j] = 1 << (PRECISION_BITS - 1);
        for (size_t i = nb; i < stride; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) {
            const uint8_t *row = src + (size_t)(y + ymin) * stride;
            int32_t ky = k[y];
            size_t i = 0;
            for (; i < nb; i += 16)
                for (int j = 0; j < 16; j++)
                    acc[i + j] += row[i + j] * ky;
            for (; i < stride; i++)
                acc[i] += row[i] * ky;
        }
        size_t i = 0;
#ifdef __SSE2__
        /* clip8 of 16 sums: shift, then the saturating packs to int16 and
         * to uint8 clamp exactly as clip8 does */
        for (; i < nb; i += 16) {
            __m128i a = _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(acc + i)), PRECISION_BITS);
            __m128i b = _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(acc + i + 4)), PRECISION_BITS);
            __m128i c = _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(acc + i + 8)), PRECISION_BITS);
            __m128i d = _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(acc + i + 12)), PRECISION_BITS);
            _mm_storeu_si128((__m128i *)(out + i),
                             _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
        }
#endif
        for (; i < stride; i++)
            out[i] = clip8(acc[i]);
    }
}

int image_resize_bilinear_aa(const image *in, int ow, int oh, image *out, err_t *e)
{
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh, ksv, y_first, y_last;
    uint8_t *tmp = NULL, *dst = NULL;
    const uint8_t *src;
    int tw, th;

    out->w = out->h = 0;
    out->rgb = NULL;
    if (!in || !in->rgb || in->w <= 0 || in->h <= 0)
        return err_set(e, "resize: empty input image");
    if (ow <= 0 || oh <= 0 || ow > IMAGE_MAX_SIDE || oh > IMAGE_MAX_SIDE ||
        (uint64_t)ow * (uint64_t)oh * 3 > IMAGE_MAX_BYTES)
        return err_set(e, "resize: bad output size %dx%d", ow, oh);

    dst = malloc((size_t)ow * (size_t)oh * 3);
    if (!dst)
        return err_set(e, "resize: out of memory");
    if (ow == in->w && oh == in->h) {
        memcpy(dst, in->rgb, (size_t)ow * (size_t)oh * 3);
        out->w = ow;
        out->h = oh;
        out->rgb = dst;
        return 0;
    }

    ksh = precompute_coeffs(in->w, ow, &bh, &kh);
    ksv = precompute_coeffs(in->h, oh, &bv, &kv);
    if (ksh < 0 || ksv < 0)
        goto oom;

    /* Rows of the source that the vertical pass reads. */
    y_first = bv[0];
    y_last = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    src = in->rgb;
    tw = in->w;
    th = in->h;
    if (ow != in->w) {
        for (int i = 0; i < oh; i++)
            bv[i * 2] -= y_first;
        th = y_last - y_first;
        tmp = malloc((size_t)ow * (size_t)th * 3);
        if (!tmp)
            goto oom;
#ifdef IMAGE_X86
        if (simd_level() >= SIMD_AVX2)
            resample_horizontal_avx2(in->rgb, in->w, y_first, th, tmp, ow, ksh, bh, kh);
        else
#endif
            resample_horizontal(in->rgb, in->w, y_first, th, tmp, ow, ksh, bh, kh);
        src = tmp;
        tw = ow;
    }
    if (oh != in->h) {
        int32_t *acc = malloc(sizeof *acc * (size_t)tw * 3);
        if (!acc)
            goto oom;
        resample_vertical(src, tw, dst, oh, ksv, bv, kv, acc);
        free(acc);
    } else
        memcpy(dst, src, (size_t)tw * (size_t)th * 3);   /* th == oh here */

    free(tmp);
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    out->w = ow;
    out->h = oh;
    out->rgb = dst;
    return 0;
oom:
    free(tmp);
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    free(dst);
    return err_set(e, "resize: out of memory");
}
