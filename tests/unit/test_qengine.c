/* test_qengine.c - a small uint8 TFLite model (a = 3x3 conv + Relu6 of x,
 * b = depthwise 3x3 + Relu6 of a, c = 1x1 conv of b, y = c + a) through
 * the engine: the integer kernels at every SIMD level and 1-2 threads give
 * what the reference engine gives, bit for bit, both with every tensor
 * requested (floats) and with y alone (a, b, c then held as uint8 between
 * the kernels); every output lies on its grid; and the Add equals an
 * independent evaluation of the uint8 add arithmetic of the TFLite
 * interpreter (XNNPACK) on the engine's own Add inputs.
 *
 * With CAM_QENGINE_SEED=FILE the model is also written there (the seed of
 * tests/fuzz/fuzz_qengine.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "engine.h"
#include "graph.h"
#include "kernels.h"
#include "test_tflite_build.h"

enum { ADD = 0, CONV_2D = 3, DEPTHWISE_CONV_2D = 4 };
enum { O_CONV = 1, O_DW = 2, O_ADD = 11 };
enum { SAME = 0, VALID = 1 };
enum { H = 9, W = 11, C = 3, C2 = 20 };

static unsigned rng = 777;
static int rnd(int lo, int hi)
{
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 8) % (unsigned)(hi - lo + 1));
}

static const float sx = 1.0f / 128, sa = 0.0235f, sb = 0.0235f, sc = 0.071f, sy = 0.083f;
static const int64_t zx = 128, za = 0, zb = 0, zc = 131;
static int64_t zy = 125;        /* changed by the last test */

static unsigned char *build(size_t *n)
{
    tfl_model m;
    tm_init(&m);
    int32_t xd[4] = {1, H, W, C}, w1d[4] = {C2, 3, 3, C}, b1d[1] = {C2}, ad[4] = {1, H, W, C2},
            w2d[4] = {1, 3, 3, C2}, w3d[4] = {C2, 1, 1, C2};
    static unsigned char w1[C2 * 9 * C], w2[9 * C2], w3[C2 * C2];
    static int32_t b1[C2], b2[C2], b3[C2];
    for (size_t i = 0; i < sizeof w1; i++) w1[i] = (unsigned char)rnd(0, 255);
    for (size_t i = 0; i < sizeof w2; i++) w2[i] = (unsigned char)rnd(40, 220);
    for (size_t i = 0; i < sizeof w3; i++) w3[i] = (unsigned char)rnd(0, 255);
    for (int i = 0; i < C2; i++) b1[i] = rnd(-3000, 3000), b2[i] = rnd(-3000, 3000),
                                 b3[i] = rnd(-3000, 3000);
    float s1 = 0.011f, s2 = 0.021f, s3 = 0.013f;
    float bs1 = sx * s1, bs2 = sa * s2, bs3 = sb * s3;
    int64_t z1 = 121, z2 = 133, z3 = 119, z0 = 0;
    int x = tm_tensor_q(&m, "x", TT_U8, 4, xd, NULL, 0, 1, &sx, &zx, 0);
    int t1 = tm_tensor_q(&m, "w1", TT_U8, 4, w1d, w1, sizeof w1, 1, &s1, &z1, 0);
    int tb1 = tm_tensor_q(&m, "b1", TT_I32, 1, b1d, b1, sizeof b1, 1, &bs1, &z0, 0);
    int a = tm_tensor_q(&m, "a", TT_U8, 4, ad, NULL, 0, 1, &sa, &za, 0);
    int t2 = tm_tensor_q(&m, "w2", TT_U8, 4, w2d, w2, sizeof w2, 1, &s2, &z2, 0);
    int tb2 = tm_tensor_q(&m, "b2", TT_I32, 1, b1d, b2, sizeof b2, 1, &bs2, &z0, 0);
    int b = tm_tensor_q(&m, "b", TT_U8, 4, ad, NULL, 0, 1, &sb, &zb, 0);
    int t3 = tm_tensor_q(&m, "w3", TT_U8, 4, w3d, w3, sizeof w3, 1, &s3, &z3, 0);
    int tb3 = tm_tensor_q(&m, "b3", TT_I32, 1, b1d, b3, sizeof b3, 1, &bs3, &z0, 0);
    int c = tm_tensor_q(&m, "c", TT_U8, 4, ad, NULL, 0, 1, &sc, &zc, 0);
    int y = tm_tensor_q(&m, "y", TT_U8, 4, ad, NULL, 0, 1, &sy, &zy, 0);
    fbo *o = fb_table();
    fb_i8(o, 0, SAME);
    fb_i32(o, 1, 1);
    fb_i32(o, 2, 1);
    fb_i8(o, 3, 3);             /* RELU6 */
    int32_t in[3] = {x, t1, tb1}, out[1] = {a};
    tm_op(&m, CONV_2D, NULL, 3, in, 1, out, O_CONV, o);
    o = fb_table();
    fb_i8(o, 0, SAME);
    fb_i32(o, 1, 1);
    fb_i32(o, 2, 1);
    fb_i32(o, 3, 1);            /* depth_multiplier */
    fb_i8(o, 4, 3);             /* RELU6 */
    in[0] = a, in[1] = t2, in[2] = tb2, out[0] = b;
    tm_op(&m, DEPTHWISE_CONV_2D, NULL, 3, in, 1, out, O_DW, o);
    o = fb_table();
    fb_i8(o, 0, VALID);
    fb_i32(o, 1, 1);
    fb_i32(o, 2, 1);
    in[0] = b, in[1] = t3, in[2] = tb3, out[0] = c;
    tm_op(&m, CONV_2D, NULL, 3, in, 1, out, O_CONV, o);
    in[0] = c, in[1] = a, out[0] = y;
    tm_op(&m, ADD, NULL, 2, in, 1, out, O_ADD, NULL);
    m.in[m.nin++] = x;
    m.out[m.nout++] = y;
    return tm_finish(&m, n);
}

/* The uint8 add as the interpreter computes it: multipliers with the
 * larger in [2^20, 2^21), rounding shift. */
static int ref_add(int qa, int za_, float sa_, int qb, int zb_, float sb_, int zo, float so)
{
    float ra = sa_ / so, rb = sb_ / so, mx = ra > rb ? ra : rb;
    int e;
    frexpf(mx, &e);                 /* mx = f * 2^e, f in [0.5, 1): exponent e - 1 */
    int shift = 20 - (e - 1);
    int32_t am = (int32_t)lrintf(ldexpf(ra, shift)), bm = (int32_t)lrintf(ldexpf(rb, shift));
    int64_t acc = (int64_t)am * (qa - za_) + (int64_t)bm * (qb - zb_) + ((int64_t)1 << (shift - 1));
    int64_t q = (acc >= 0 ? acc >> shift : -((-acc + ((int64_t)1 << shift) - 1) >> shift)) + zo;
    return q < 0 ? 0 : q > 255 ? 255 : (int)q;
}

#define NT 4
static const char *names[NT] = {"a", "b", "c", "y"};
static const float scales[NT] = {0.0235f, 0.0235f, 0.071f, 0.083f};
static const int zps[NT] = {0, 0, 131, 125};

/* nout = NT: every tensor; 1: y alone */
static int run(const graph *g, int reference, int threads, int nout, const float *x,
               float *out[NT])
{
    engine_opts o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.reference = reference;
    o.noutputs = nout;
    o.outputs = nout == NT ? names : names + NT - 1;
    err_t e;
    engine *en = engine_create(g, &o, &e);
    if (!en) {
        tap_diag("engine: %s", e.msg);
        return -1;
    }
    int r = engine_run(en, x, &e);
    for (int i = 0; r == 0 && i < nout; i++)
        memcpy(out[nout == NT ? i : NT - 1], engine_output(en, i), sizeof(float) * H * W * C2);
    engine_free(en);
    return r;
}

int main(void)
{
    size_t n;
    unsigned char *buf = build(&n);
    const char *seed = getenv("CAM_QENGINE_SEED");
    if (seed && *seed) {
        FILE *f = fopen(seed, "wb");
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
    }
    graph g;
    err_t e;
    graph_init(&g);
    if (!tap_ok(tflite_load_buffer(buf, n, &g, &e) == 0, "model loads"))
        return tap_done();
    free(buf);
    float x[H * W * C];             /* logical N C H W */
    for (int i = 0; i < H * W * C; i++)
        x[i] = sx * (float)(rnd(0, 255) - (int)zx);
    float *ref[NT], *got[NT];
    for (int i = 0; i < NT; i++) {
        ref[i] = malloc(sizeof(float) * H * W * C2);
        got[i] = malloc(sizeof(float) * H * W * C2);
    }
    tap_ok(run(&g, 1, 1, NT, x, ref) == 0, "reference engine runs");
    /* every output on its grid, in range */
    for (int t = 0; t < NT; t++) {
        int off = 0, lo = 255, hi = 0;
        for (int i = 0; i < H * W * C2; i++) {
            float q = ref[t][i] / scales[t] + zps[t];
            int qi = (int)nearbyintf(q);
            off += fabsf(q - qi) > 1e-3f || qi < 0 || qi > 255;
            lo = qi < lo ? qi : lo;
            hi = qi > hi ? qi : hi;
        }
        tap_ok(off == 0 && hi > lo, "%s on its grid (q %d..%d)", names[t], lo, hi);
    }
    /* Relu6 outputs: zero point 0, so q <= round(6 / s) */
    int r6 = 0;
    for (int i = 0; i < H * W * C2; i++)
        r6 += ref[0][i] > 6.0f + 1e-4f || ref[1][i] > 6.0f + 1e-4f;
    tap_ok(r6 == 0, "Relu6 respected");
    /* the Add against the interpreter's arithmetic */
    int bad = 0;
    for (int i = 0; i < H * W * C2; i++) {
        int qc = (int)nearbyintf(ref[2][i] / scales[2]) + zps[2];
        int qa = (int)nearbyintf(ref[0][i] / scales[0]) + zps[0];
        int qy = (int)nearbyintf(ref[3][i] / scales[3]) + zps[3];
        bad += qy != ref_add(qc, zps[2], scales[2], qa, zps[0], scales[0], zps[3], scales[3]);
    }
    tap_ok(bad == 0, "Add as the interpreter's uint8 add (%d differ)", bad);
    /* fast kernels at every level and 1-2 threads: the same bits */
    int top = simd_level();
    for (int lvl = top; lvl >= SIMD_PORTABLE; lvl--) {
        simd_cap(lvl);
        for (int th = 1; th <= 2; th++) {
            int ok = run(&g, 0, th, NT, x, got) == 0, diff = 0;
            for (int t = 0; ok && t < NT; t++)
                diff += memcmp(ref[t], got[t], sizeof(float) * H * W * C2) != 0;
            tap_ok(ok && diff == 0, "cap %s, %d thread%s: outputs equal the reference engine's",
                   simd_name(lvl), th, th > 1 ? "s" : "");
            memset(got[NT - 1], 0, sizeof(float) * H * W * C2);
            ok = run(&g, 0, th, 1, x, got) == 0;
            tap_ok(ok && !memcmp(ref[NT - 1], got[NT - 1], sizeof(float) * H * W * C2),
                   "cap %s, %d thread%s: y alone (uint8 between the kernels) equals it too",
                   simd_name(lvl), th, th > 1 ? "s" : "");
        }
    }
    simd_cap(SIMD_AVX512);
    for (int i = 0; i < NT; i++)
        free(ref[i]), free(got[i]);
    graph_free(&g);

    /* a zero point outside its type's range is refused, not taken as an
     * int by the integer kernels (found by fuzz_qengine: -2^31 on a
     * uint8 tensor overflowed their range arithmetic) */
    static const int64_t badz[] = {256, -1, INT32_MIN, INT32_MAX};
    for (int i = 0; i < 4; i++) {
        zy = badz[i];
        buf = build(&n);
        graph_init(&g);
        int loaded = tflite_load_buffer(buf, n, &g, &e) == 0;
        free(buf);
        engine_opts o;
        memset(&o, 0, sizeof o);
        o.noutputs = 1;
        o.outputs = names + NT - 1;
        engine *en = loaded ? engine_create(&g, &o, &e) : NULL;
        tap_ok(!en && strstr(e.msg, "zero point"), "y's zero point %lld refused: %s",
               (long long)zy, e.msg);
        engine_free(en);
        graph_free(&g);
    }
    return tap_done();
}
