/* test_tensor.c - tensor records, f16 conversion, the stream reader and
 * writer: round trips of every dtype, plain and gzip, on files, memory and
 * pipes, and one test per kind of bad input. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "../tap.h"
#include "tensor.h"
#include "tstream.h"

static char tmpdir[] = "/tmp/test_tensor.XXXXXX";

static float bits2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f2bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* ------------------------------------------------------------ f16 */

static void test_f16(void)
{
    static const struct { uint32_t f; uint16_t h; const char *what; } cases[] = {
        { 0x00000000, 0x0000, "+0" },
        { 0x80000000, 0x8000, "-0" },
        { 0x3f800000, 0x3c00, "1" },
        { 0xc0000000, 0xc000, "-2" },
        { 0x477fe000, 0x7bff, "65504 (max half)" },
        { 0x477fefff, 0x7bff, "just below 65520 rounds down" },
        { 0x477ff000, 0x7c00, "65520 rounds to inf" },
        { 0x7f800000, 0x7c00, "+inf" },
        { 0xff800000, 0xfc00, "-inf" },
        { 0x38800000, 0x0400, "2^-14 smallest normal" },
        { 0x33800000, 0x0001, "2^-24 smallest subnormal" },
        { 0x33000000, 0x0000, "2^-25 ties to even (0)" },
        { 0x33000001, 0x0001, "just above 2^-25 rounds up" },
        { 0x33c00000, 0x0002, "1.5 * 2^-24 ties to even (2)" },
        { 0x34200000, 0x0002, "2.5 * 2^-24 ties to even (2)" },
        { 0x387fc000, 0x03ff, "largest subnormal" },
        { 0x387fe000, 0x0400, "largest subnormal + half ulp rounds to normal" },
        { 0x3f801000, 0x3c00, "1 + 2^-11 ties to even (1)" },
        { 0x3f803000, 0x3c02, "1 + 3*2^-11 ties to even (1+2^-9)" },
        { 0x3f801001, 0x3c01, "1 + 2^-11 + tiny rounds up" },
        { 0x3f7ff000, 0x3c00, "1 - 2^-12 rounds to 1 with carry" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = f32_to_f16(bits2f(cases[i].f));
        tap_ok(h == cases[i].h, "f32_to_f16 %s: got %04x want %04x", cases[i].what, h, cases[i].h);
    }
    {
        uint16_t h = f32_to_f16(NAN);
        tap_ok((h & 0x7c00) == 0x7c00 && (h & 0x3ff), "f32_to_f16 NaN stays NaN (%04x)", h);
        h = f32_to_f16(bits2f(0x7f800001));   /* signalling NaN with a low payload */
        tap_ok((h & 0x7c00) == 0x7c00 && (h & 0x3ff), "f32_to_f16 low-payload NaN stays NaN (%04x)", h);
        tap_ok(isnan(f16_to_f32(0x7e00)), "f16_to_f32 NaN");
        tap_ok(f16_to_f32(0x7c00) == INFINITY && f16_to_f32(0xfc00) == -INFINITY, "f16_to_f32 inf");
        tap_ok(f2bits(f16_to_f32(0x8000)) == 0x80000000, "f16_to_f32 -0");
        tap_ok(f16_to_f32(0x0001) == ldexpf(1, -24), "f16_to_f32 smallest subnormal");
        tap_ok(f16_to_f32(0x03ff) == ldexpf(1023, -24), "f16_to_f32 largest subnormal");
        tap_ok(f16_to_f32(0x7bff) == 65504.0f, "f16_to_f32 max");
    }
    {
        /* Every finite half survives half -> float -> half. */
        int bad = 0;
        for (uint32_t h = 0; h < 0x10000; h++) {
            if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
                continue;
            if (f32_to_f16(f16_to_f32((uint16_t)h)) != h)
                bad++;
        }
        tap_ok(bad == 0, "all 63490 non-NaN halves round trip (%d bad)", bad);
    }
    {
        /* Rounding is to nearest: compare with a brute-force nearest search on
         * a sweep of floats. */
        int bad = 0;
        for (uint32_t u = 0x33000000; u < 0x47800000; u += 0x1234) {
            float f = bits2f(u);
            uint16_t h = f32_to_f16(f);
            double err = fabs((double)f16_to_f32(h) - f);
            double lo = fabs((double)f16_to_f32((uint16_t)(h - 1)) - f);
            double hi = (h & 0x7fff) < 0x7bff ? fabs((double)f16_to_f32((uint16_t)(h + 1)) - f) : INFINITY;
            if ((h & 0x7fff) && (h & 0x7fff) < 0x7c00 && (err > lo || err > hi)) {
                tap_diag("%a -> %04x", f, h);
                bad++;
            }
        }
        tap_ok(bad == 0, "f32_to_f16 picks the nearest half on a sweep (%d bad)", bad);
    }
}

/* ------------------------------------------------------------ tensors */

static void fill_pattern(tensor *t)
{
    unsigned char *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        p[i] = (unsigned char)(i * 37 + 11);
    if (t->dtype == DT_BOOL)
        for (size_t i = 0; i < t->nbytes; i++)
            p[i] &= 1;
}

static int same(const tensor *a, const tensor *b)
{
    if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->ndim != b->ndim ||
        a->nbytes != b->nbytes || a->nmeta != b->nmeta)
        return 0;
    for (int i = 0; i < a->ndim; i++) {
        if (a->dims[i] != b->dims[i])
            return 0;
        if (!a->axes[i] != !b->axes[i] || (a->axes[i] && strcmp(a->axes[i], b->axes[i])))
            return 0;
    }
    for (int i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].val, b->meta[i].val))
            return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

static void test_tensor_basics(void)
{
    tensor t, u;
    err_t e;
    int64_t d[3] = { 2, 3, 4 };
    tensor_init(&t);
    tap_ok(tensor_alloc(&t, "x", DT_F32, 3, d, "C H W", &e) == 0, "tensor_alloc");
    tap_ok(t.nbytes == 96 && tensor_numel(&t) == 24, "numel and nbytes");
    tap_ok(t.axes[0] && !strcmp(t.axes[2], "W"), "axes split");
    tap_ok(tensor_alloc(&t, "x", DT_F32, 3, d, "C H", &e) < 0, "axes count mismatch refused: %s", e.msg);
    {
        int64_t big[2] = { (int64_t)1 << 31, 2 };
        tap_ok(tensor_alloc(&t, "x", DT_F32, 2, big, NULL, &e) < 0, "4 GiB cap: %s", e.msg);
        big[0] = INT64_MAX;
        tap_ok(tensor_alloc(&t, "x", DT_U8, 2, big, NULL, &e) < 0, "overflow: %s", e.msg);
        big[0] = -1;
        tap_ok(tensor_alloc(&t, "x", DT_U8, 2, big, NULL, &e) < 0, "negative dim: %s", e.msg);
    }
    tap_ok(tensor_alloc(&t, "s", DT_F64, 0, NULL, NULL, &e) == 0 && t.nbytes == 8, "scalar");
    tap_ok(tensor_meta_set(&t, "kind", "features", &e) == 0, "meta set");
    tap_ok(tensor_meta_set(&t, "bad key", "x", &e) < 0, "meta key with a space refused");
    tap_ok(tensor_meta_set(&t, "shape", "x", &e) < 0, "reserved key refused");
    tap_ok(tensor_meta_set(&t, "k", "a\nb", &e) < 0, "value with newline refused");
    tap_ok(tensor_meta_setf(&t, "class", &e, "%d", 281) == 0, "meta setf");
    tap_ok(tensor_meta_set(&t, "kind", "map", &e) == 0 && t.nmeta == 2 &&
           !strcmp(tensor_meta_get(&t, "kind"), "map"), "meta replace keeps one entry");
    {
        long l = 0;
        double x = 0;
        tap_ok(tensor_meta_long(&t, "class", &l) == 0 && l == 281, "meta long");
        tap_ok(tensor_meta_long(&t, "kind", &l) < 0, "meta long refuses text");
        tap_ok(tensor_meta_set(&t, "score", "0.25", &e) == 0 &&
               tensor_meta_double(&t, "score", &x) == 0 && x == 0.25, "meta double");
        tap_ok(tensor_meta_double(&t, "absent", &x) < 0, "meta absent");
    }
    tensor_init(&u);
    tap_ok(tensor_copy(&u, &t, &e) == 0 && same(&u, &t), "tensor_copy");
    tap_ok(tensor_meta_del(&u, "kind") == 0 && !tensor_meta_get(&u, "kind") && u.nmeta == 2,
           "meta del");
    tap_ok(tensor_meta_del(&u, "kind") < 0, "meta del absent");
    tensor_free(&u);
    tensor_free(&t);

    /* tensor_to_f32 from every dtype */
    {
        int64_t n4[1] = { 4 };
        int ok = 1;
        for (int dt = DT_F32; dt < DT_COUNT; dt++) {
            tensor_alloc(&t, "c", dt, 1, n4, NULL, &e);
            unsigned char *p = t.data;
            for (int i = 0; i < 4; i++) {
                double v = dt == DT_BOOL ? (i & 1) : (dt == DT_U8 || dt == DT_U16) ? i * 3 : i * 3 - 4;
                switch (dt) {
                case DT_F32: { float f = (float)v; memcpy(p + 4 * i, &f, 4); break; }
                case DT_F16: { uint16_t h = f32_to_f16((float)v); memcpy(p + 2 * i, &h, 2); break; }
                case DT_F64: memcpy(p + 8 * i, &v, 8); break;
                case DT_U8: case DT_BOOL: p[i] = (unsigned char)v; break;
                case DT_I8: p[i] = (unsigned char)(int8_t)v; break;
                case DT_U16: { uint16_t x = (uint16_t)v; memcpy(p + 2 * i, &x, 2); break; }
                case DT_I16: { int16_t x = (int16_t)v; memcpy(p + 2 * i, &x, 2); break; }
                case DT_I32: { int32_t x = (int32_t)v; memcpy(p + 4 * i, &x, 4); break; }
                case DT_I64: { int64_t x = (int64_t)v; memcpy(p + 8 * i, &x, 8); break; }
                }
            }
            if (tensor_to_f32(&t, &e) < 0 || t.dtype != DT_F32 || t.nbytes != 16) {
                ok = 0;
                continue;
            }
            for (int i = 0; i < 4; i++) {
                double v = dt == DT_BOOL ? (i & 1) : (dt == DT_U8 || dt == DT_U16) ? i * 3 : i * 3 - 4;
                if (((float *)t.data)[i] != (float)v) {
                    tap_diag("dtype %s element %d: %g want %g", dtype_name(dt), i,
                             ((float *)t.data)[i], v);
                    ok = 0;
                }
            }
        }
        tap_ok(ok, "tensor_to_f32 from every dtype");
        tensor_free(&t);
    }
    tap_ok(dtype_parse("bool") == DT_BOOL && dtype_parse("f33") == DT_NONE &&
           dtype_size(DT_I64) == 8 && !strcmp(dtype_name(DT_U16), "u16"), "dtype table");
}

/* ------------------------------------------------------------ stream round trips */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
        }
        size_t k = fread(buf + *n, 1, cap - *n, f);
        if (!k)
            break;
        *n += k;
    }
    fclose(f);
    return buf;
}

/* Writes records of every dtype to path with flags, reads them back. */
static void roundtrip(int flags, const char *what)
{
    char path[256];
    tensor in[DT_COUNT], out;
    err_t e;
    tsw *w;
    tsr *r;
    int ok = 1, n = 0;

    snprintf(path, sizeof path, "%s/rt%d.t", tmpdir, flags);
    w = tsw_open(path, flags, &e);
    tap_ok(w != NULL, "%s: open writer", what);
    if (!w)
        return;
    for (int dt = DT_F32; dt < DT_COUNT; dt++) {
        int64_t d[3] = { 3, 1 + dt % 3, 5 };
        tensor_init(&in[dt]);
        tensor_alloc(&in[dt], dtype_name(dt), dt, dt == DT_I64 ? 0 : 3, d, dt == DT_F32 ? "C H W" : NULL, &e);
        fill_pattern(&in[dt]);
        if (dt == DT_F32) {
            /* f32 values exactly representable as f16, so TSW_F16 is exact too */
            for (size_t i = 0; i < in[dt].nbytes / 4; i++)
                ((float *)in[dt].data)[i] = (float)((int)i - 20) * 0.125f;
        }
        tensor_meta_set(&in[dt], "kind", "features", &e);
        tensor_meta_setf(&in[dt], "source_index", &e, "%d", dt);
        tensor_meta_set(&in[dt], "empty", "", &e);
        tensor_meta_set(&in[dt], "spaces", " a  b ", &e);
        if (tsw_write(w, &in[dt], &e) < 0) {
            tap_diag("write: %s", e.msg);
            ok = 0;
        }
    }
    {
        int64_t z[2] = { 0, 4 };
        tensor_init(&in[0]);
        tensor_alloc(&in[0], "", DT_F32, 2, z, NULL, &e);   /* empty payload, empty name */
        ok &= tsw_write(w, &in[0], &e) == 0;
    }
    tap_ok(tsw_close(w, &e) == 0 && ok, "%s: write every dtype", what);

    r = tsr_open(path, &e);
    tensor_init(&out);
    ok = 1;
    for (int dt = DT_F32; dt < DT_COUNT; dt++) {
        if (tsr_next(r, &out, &e) != 1) {
            tap_diag("read %d: %s", dt, e.msg);
            ok = 0;
            break;
        }
        n++;
        if ((flags & TSW_F16) && dt == DT_F32) {
            if (out.dtype != DT_F16 || tensor_to_f32(&out, &e) < 0)
                ok = 0;
        }
        if (!same(&out, &in[dt])) {
            tap_diag("record %d (%s) differs", dt, dtype_name(dt));
            ok = 0;
        }
    }
    tap_ok(ok && n == DT_COUNT - 1, "%s: every dtype reads back identical", what);
    tap_ok(tsr_next(r, &out, &e) == 1 && out.nbytes == 0 && out.ndim == 2 && !*out.name,
           "%s: empty payload record", what);
    tap_ok(tsr_index(r) == DT_COUNT, "%s: tsr_index counts records", what);
    tap_ok(tsr_next(r, &out, &e) == 0, "%s: clean end", what);
    tsr_close(r);

    /* The same through tsr_mem */
    {
        size_t len;
        char *buf = slurp(path, &len);
        int cnt = 0, rc;
        r = tsr_mem(buf, len, &e);
        while ((rc = tsr_next(r, &out, &e)) == 1)
            cnt++;
        tap_ok(rc == 0 && cnt == DT_COUNT, "%s: tsr_mem reads %d records", what, cnt);
        tsr_close(r);
        tap_ok(tstream_sniff(buf, len) == 1, "%s: sniff", what);
        if (flags & TSW_GZIP)
            tap_ok(len > 2 && (unsigned char)buf[0] == 0x1f, "%s: output is gzip", what);
        free(buf);
    }
    for (int dt = 0; dt < DT_COUNT; dt++)
        tensor_free(&in[dt]);
    tensor_free(&out);
}

static void test_header_text(void)
{
    tensor t;
    err_t e;
    int64_t d[3] = { 1024, 7, 7 };
    char *h;
    tensor_init(&t);
    tensor_alloc(&t, "concat_24", DT_F32, 3, d, "C H W", &e);
    tensor_meta_set(&t, "kind", "features", &e);
    tensor_meta_set(&t, "source", "cat.ppm", &e);
    tensor_meta_set(&t, "flag", "", &e);
    h = tstream_format_header(&t, DT_F32, &e);
    tap_ok(h && !strcmp(h, "CAMTENSOR 1\nname concat_24\ndtype f32\nshape 1024 7 7\naxes C H W\n"
                           "kind features\nsource cat.ppm\nflag\nENDHDR\n"), "header text");
    free(h);
    h = tstream_format_header(&t, DT_F16, &e);
    tap_ok(h && strstr(h, "dtype f16\n"), "header with dtype_out");
    free(h);
    free(t.name);
    t.name = strdup("a\nb");
    tap_ok(tstream_format_header(&t, DT_F32, &e) == NULL, "name with newline refused");
    tensor_free(&t);
}

/* ------------------------------------------------------------ bad input */

static const char *rec = "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nENDHDR\nabcd";

/* Reads buf through tsr_mem; returns the number of good records before the
 * result, puts the final status in *rc and the message in e. */
static int read_all(const void *buf, size_t n, int *rc, err_t *e)
{
    tensor t;
    int cnt = 0;
    tsr *r = tsr_mem(buf, n, e);
    tensor_init(&t);
    while ((*rc = tsr_next(r, &t, e)) == 1)
        cnt++;
    tensor_free(&t);
    tsr_close(r);
    return cnt;
}

static void bad(const char *what, const char *s, size_t n, int good, const char *want)
{
    err_t e = { "" };
    int rc;
    int cnt = read_all(s, n, &rc, &e);
    tap_ok(rc == -1 && cnt == good && strstr(e.msg, want) != NULL,
           "bad input, %s: \"%s\"", what, e.msg);
}

#define BAD(what, s, good, want) bad(what, s, sizeof(s) - 1, good, want)

static void test_bad(void)
{
    char big[80000];
    int rc;
    err_t e;

    tap_ok(read_all("", 0, &rc, &e) == 0 && rc == 0, "empty stream is valid");
    BAD("wrong magic", "CAMTENSOR 2\nname a\n", 0, "record 0: unsupported format version");
    BAD("not a stream", "P6\n3 3\n255\n", 0, "record 0: wrong magic");
    BAD("truncated magic", "CAMTEN", 0, "header truncated");
    BAD("truncated header", "CAMTENSOR 1\nname a\ndtype u8\nsha", 0, "header truncated");
    BAD("no ENDHDR", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\n", 0, "header truncated");
    BAD("unknown dtype", "CAMTENSOR 1\nname a\ndtype f128\nshape 2\nENDHDR\n", 0,
        "record 0: field 'dtype': unknown type 'f128'");
    BAD("shape not a number", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2 x\nENDHDR\n", 0,
        "field 'shape': dimension 2 is not a number");
    BAD("shape 2x2", "CAMTENSOR 1\nname a\ndtype u8\nshape 2x2\nENDHDR\n", 0,
        "field 'shape': dimension 0 is not a number");
    BAD("negative dim", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 -2\nENDHDR\n", 0,
        "field 'shape': dimension 1 is negative");
    BAD("too many dims", "CAMTENSOR 1\nname a\ndtype u8\nshape 1 1 1 1 1 1 1 1 1\nENDHDR\n", 0,
        "more than 8 dimensions");
    BAD("huge dim", "CAMTENSOR 1\nname a\ndtype u8\nshape 99999999999999999999\nENDHDR\n", 0,
        "dimension 0 is too large");
    BAD("size overflow", "CAMTENSOR 1\nname a\ndtype f64\nshape 4294967296 4294967296\nENDHDR\n",
        0, "field 'shape': byte size overflows");
    BAD("version 2 after a good record",
        "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nENDHDR\nabcdCAMTENSOR 2\n", 1,
        "record 1: unsupported format version");
    {
        static const char z[] = "CAMTENSOR 1\nname a\ndtype f64\nshape 4294967296 4294967296 0\nENDHDR\n";
        tap_ok(read_all(z, sizeof z - 1, &rc, &e) == 1 && rc == 0,
               "a zero dimension makes an empty record, however large the others");
    }
    BAD("over the cap", "CAMTENSOR 1\nname a\ndtype f32\nshape 1073741825\nENDHDR\n", 0,
        "exceeds the");
    BAD("axes count", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\naxes H W C\nENDHDR\n", 0,
        "field 'axes': 3 names for 2 dimensions");
    BAD("missing name", "CAMTENSOR 1\ndtype u8\nshape 2 2\nENDHDR\nabcd", 0, "field 'name' missing");
    BAD("missing dtype", "CAMTENSOR 1\nname a\nshape 2 2\nENDHDR\nabcd", 0, "field 'dtype' missing");
    BAD("missing shape", "CAMTENSOR 1\nname a\ndtype u8\nENDHDR\nabcd", 0, "field 'shape' missing");
    BAD("bad key", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nk=v x\nENDHDR\nabcd", 0, "bad key 'k=v'");
    BAD("empty key", "CAMTENSOR 1\nname a\n v\nENDHDR\n", 0, "empty key");
    BAD("ENDHDR with value", "CAMTENSOR 1\nname a\nENDHDR x\n", 0, "takes no value");
    BAD("duplicate key", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nk 1\nk 2\nENDHDR\nabcd", 0,
        "duplicate key 'k'");
    BAD("duplicate shape", "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nshape 2 2\nENDHDR\nabcd", 0,
        "duplicate key 'shape'");
    BAD("NUL in header", "CAMTENSOR 1\nname a\0b\n", 0, "NUL byte");
    BAD("payload truncated",
        "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nENDHDR\nabcdCAMTENSOR 1\nname b\ndtype f32\nshape 10\nENDHDR\nxyz",
        1, "record 1: payload truncated (got 3 of 40 bytes)");
    BAD("garbage between records",
        "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nENDHDR\nabcde", 1,
        "record 1: garbage after the previous record");
    BAD("newline after record",
        "CAMTENSOR 1\nname a\ndtype u8\nshape 2 2\nENDHDR\nabcd\n", 1, "garbage");
    {
        /* header too long */
        size_t n = 0;
        n += (size_t)sprintf(big, "CAMTENSOR 1\nname a\ndtype u8\nshape 1\nk ");
        memset(big + n, 'v', 70000);
        n += 70000;
        n += (size_t)sprintf(big + n, "\nENDHDR\nx");
        bad("header too long", big, n, 0, "header too long");
        /* a 64 KiB header is still fine */
        n = (size_t)sprintf(big, "CAMTENSOR 1\nname a\ndtype u8\nshape 1\nk ");
        memset(big + n, 'v', 65536 - n - 9);
        n = 65536 - 9;
        n += (size_t)sprintf(big + n, "\nENDHDR\nx");
        tap_ok(read_all(big, n, &rc, &e) == 1 && rc == 0, "header of exactly 64 KiB accepted");
    }
    {
        /* good: any field order, unknown keys, no-value key, scalar */
        static const char ok[] = "CAMTENSOR 1\nflag\nshape\nk v w\ndtype i16\nname \nENDHDR\nxy";
        tensor t;
        tsr *r = tsr_mem(ok, sizeof ok - 1, &e);
        tensor_init(&t);
        rc = tsr_next(r, &t, &e);
        tap_ok(rc == 1 && t.ndim == 0 && t.nbytes == 2 && !strcmp(t.name, "") &&
               !strcmp(tensor_meta_get(&t, "flag"), "") && !strcmp(tensor_meta_get(&t, "k"), "v w"),
               "fields in any order, empty values, scalar");
        {
            size_t hl;
            const char *h = tsr_header(r, &hl);
            tap_ok(hl == sizeof ok - 3 && !memcmp(h, ok, hl), "tsr_header gives the exact text");
        }
        tensor_free(&t);
        tsr_close(r);
    }
    tap_ok(read_all(rec, strlen(rec), &rc, &e) == 1 && rc == 0, "one good record");

    /* compressed stream cut short, and corrupt */
    {
        unsigned char gz[256];
        size_t n;
        z_stream zs = { 0 };
        char two[200];
        size_t tn = (size_t)sprintf(two, "%s%s", rec, rec);
        deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = (unsigned char *)two;
        zs.avail_in = (uInt)tn;
        zs.next_out = gz;
        zs.avail_out = sizeof gz;
        deflate(&zs, Z_FINISH);
        n = sizeof gz - zs.avail_out;
        deflateEnd(&zs);
        tap_ok(read_all(gz, n, &rc, &e) == 2 && rc == 0, "gzip of two records");
        tap_ok(read_all(gz, n / 2, &rc, &e) < 2 && rc == -1 &&
               strstr(e.msg, "compressed stream cut short"), "gzip cut in the middle: \"%s\"", e.msg);
        tap_ok(read_all(gz, n - 4, &rc, &e) >= 0 && rc == -1 &&
               strstr(e.msg, "compressed stream cut short"), "gzip cut short: \"%s\"", e.msg);
        gz[n / 2] ^= 0x55;
        tap_ok(read_all(gz, n, &rc, &e) >= 0 && rc == -1, "gzip corrupt: \"%s\"", e.msg);
        gz[n / 2] ^= 0x55;
        /* gzip member + plain record + gzip member */
        {
            unsigned char mix[1024];
            size_t m = 0;
            memcpy(mix + m, gz, n); m += n;
            memcpy(mix + m, rec, strlen(rec)); m += strlen(rec);
            memcpy(mix + m, gz, n); m += n;
            tap_ok(read_all(mix, m, &rc, &e) == 5 && rc == 0, "gzip, plain, gzip concatenated");
            /* garbage after a gzip member */
            memcpy(mix + n, "junk", 4);
            tap_ok(read_all(mix, n + 4, &rc, &e) == 2 && rc == -1 && strstr(e.msg, "garbage"),
                   "garbage after a gzip member: \"%s\"", e.msg);
        }
    }
    {
        /* after an error the reader stays failed */
        tensor t;
        tsr *r = tsr_mem("CAMTENSOR 1\nname", 16, &e);
        tensor_init(&t);
        tap_ok(tsr_next(r, &t, &e) == -1 && tsr_next(r, &t, &e) == -1, "reader unusable after an error");
        tsr_close(r);
    }
}

/* ------------------------------------------------------------ pipes */

/* A record must be delivered before the writer writes the next one (or
 * closes): with an alarm as the watchdog. */
static void test_pipe(int flags, const char *what)
{
    int fd[2];
    char path[64];
    tensor t, u;
    err_t e;
    tsw *w;
    tsr *r;
    int64_t d[1] = { 1000 };

    if (pipe(fd) < 0) {
        tap_skip("pipe: %s", what);
        return;
    }
    snprintf(path, sizeof path, "/dev/fd/%d", fd[1]);
    w = tsw_open(path, flags, &e);
    if (!w) {
        tap_skip("cannot open %s: %s", path, e.msg);
        close(fd[0]);
        close(fd[1]);
        return;
    }
    tensor_init(&t);
    tensor_init(&u);
    tensor_alloc(&t, "p", DT_U8, 1, d, NULL, &e);
    fill_pattern(&t);
    tsw_write(w, &t, &e);
    r = tsr_fdopen(fd[0], 1, "pipe", &e);
    alarm(5);
    tap_ok(tsr_next(r, &u, &e) == 1 && same(&t, &u), "%s: record delivered while the writer is still open", what);
    tsw_write(w, &t, &e);
    tap_ok(tsr_next(r, &u, &e) == 1, "%s: second record", what);
    tsw_close(w, &e);
    close(fd[1]);
    tap_ok(tsr_next(r, &u, &e) == 0, "%s: end after close", what);
    alarm(0);
    tsr_close(r);
    tensor_free(&t);
    tensor_free(&u);
}

/* tsr_fdopen_prefix: the caller has read the first bytes of a pipe. */
static void test_prefix(int flags, const char *what)
{
    int fd[2];
    char path[64], pre[5];
    tensor t, u;
    err_t e;
    tsw *w;
    tsr *r;
    int64_t d[2] = { 10, 10 };

    if (pipe(fd) < 0) {
        tap_skip("pipe");
        return;
    }
    snprintf(path, sizeof path, "/dev/fd/%d", fd[1]);
    if (!(w = tsw_open(path, flags, &e))) {
        tap_skip("cannot open %s: %s", path, e.msg);
        close(fd[0]);
        close(fd[1]);
        return;
    }
    tensor_init(&t);
    tensor_init(&u);
    tensor_alloc(&t, "q", DT_I16, 2, d, "H W", &e);
    fill_pattern(&t);
    tsw_write(w, &t, &e);
    alarm(5);
    tap_ok(read(fd[0], pre, sizeof pre) == (ssize_t)sizeof pre && tstream_sniff(pre, sizeof pre),
           "%s: sniffed the first bytes", what);
    r = tsr_fdopen_prefix(fd[0], 1, pre, sizeof pre, "pipe", &e);
    tap_ok(r && tsr_next(r, &u, &e) == 1 && same(&t, &u), "%s: tsr_fdopen_prefix reads the record", what);
    tsw_write(w, &t, &e);
    tsw_close(w, &e);
    close(fd[1]);
    tap_ok(tsr_next(r, &u, &e) == 1 && same(&t, &u) && tsr_next(r, &u, &e) == 0,
           "%s: then the rest and the end", what);
    alarm(0);
    tsr_close(r);
    tensor_free(&t);
    tensor_free(&u);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_f16();
    test_tensor_basics();
    test_header_text();
    roundtrip(0, "plain");
    roundtrip(TSW_GZIP, "gzip");
    roundtrip(TSW_F16, "f16");
    roundtrip(TSW_GZIP | TSW_F16, "gzip f16");
    test_bad();
    test_pipe(0, "plain pipe");
    test_pipe(TSW_GZIP, "gzip pipe");
    test_prefix(0, "plain prefix");
    test_prefix(TSW_GZIP, "gzip prefix");
    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            tap_diag("could not remove %s", tmpdir);
    }
    return tap_done();
}
