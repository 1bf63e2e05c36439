/* test_npy.c - .npy import/export: every dtype, NumPy's exact header
 * bytes, Fortran order, big-endian, format 2.0, and bad files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "npy.h"

/* Builds a .npy file: version major, header dict text (padded to 64 as
 * numpy does), then data. */
static size_t mk(unsigned char *out, int major, const char *dict, const void *data, size_t dn)
{
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict), pad = 64 - (pre + hl + 1) % 64, h;
    if (pad == 64)
        pad = 0;
    h = hl + pad + 1;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)h;
    out[9] = (unsigned char)(h >> 8);
    if (major != 1) {
        out[10] = (unsigned char)(h >> 16);
        out[11] = (unsigned char)(h >> 24);
    }
    memcpy(out + pre, dict, hl);
    memset(out + pre + hl, ' ', pad);
    out[pre + hl + pad] = '\n';
    memcpy(out + pre + h, data, dn);
    return pre + h + dn;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void bad(const char *what, const void *buf, size_t n, const char *want)
{
    tensor t;
    err_t e = { "" };
    tensor_init(&t);
    tap_ok(npy_parse(buf, n, &t, &e) < 0 && strstr(e.msg, want), "bad npy, %s: \"%s\"", what, e.msg);
    tensor_free(&t);
}

int main(void)
{
    unsigned char f[4096];
    size_t n;
    tensor t, u;
    err_t e;
    void *out;
    size_t outlen;

    tensor_init(&t);
    tensor_init(&u);

    /* every dtype: format -> parse -> identical; and parse -> format -> identical bytes */
    for (int dt = DT_F32; dt < DT_COUNT; dt++) {
        int64_t d[2] = { 3, 5 };
        int ok;
        tensor_alloc(&t, "", dt, dt == DT_I8 ? 1 : 2, d, NULL, &e);
        for (size_t i = 0; i < t.nbytes; i++)
            ((unsigned char *)t.data)[i] = (unsigned char)(dt == DT_BOOL ? i & 1 : i * 29 + 3);
        ok = npy_format(&t, &out, &outlen, &e) == 0 && outlen % 64 == t.nbytes % 64 &&
             npy_parse(out, outlen, &u, &e) == 0 && u.dtype == dt && u.ndim == t.ndim &&
             u.nbytes == t.nbytes && !memcmp(u.data, t.data, t.nbytes);
        if (ok) {
            void *out2;
            size_t len2;
            ok = npy_format(&u, &out2, &len2, &e) == 0 && len2 == outlen && !memcmp(out, out2, len2);
            free(out2);
        }
        tap_ok(ok, "npy round trip %s", dtype_name(dt));
        free(out);
    }

    /* NumPy's exact header for float32 (1024, 7, 7) and for a 1-D and a scalar */
    {
        int64_t d[3] = { 1024, 7, 7 };
        char want[129];
        tensor_alloc(&t, "", DT_F32, 3, d, NULL, &e);
        npy_format(&t, &out, &outlen, &e);
        memset(want, ' ', 128);
        static const char head[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1024, 7, 7), }";
        memcpy(want, head, sizeof head - 1);
        want[127] = '\n';
        tap_ok(outlen == 128 + 1024 * 49 * 4 && !memcmp(out, want, 128), "numpy header bytes for (1024, 7, 7)");
        free(out);
        tensor_alloc(&t, "", DT_I64, 1, d, NULL, &e);
        npy_format(&t, &out, &outlen, &e);
        tap_ok(outlen > 64 && starts((char *)out + 10, "{'descr': '<i8', 'fortran_order': False, 'shape': (1024,), }   "),
               "1-D shape written as (1024,)");
        free(out);
        tensor_alloc(&t, "", DT_BOOL, 0, d, NULL, &e);
        npy_format(&t, &out, &outlen, &e);
        tap_ok(outlen == 129 && starts((char *)out + 10, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }   "),
               "scalar written as ()");
        tap_ok(npy_parse(out, outlen, &u, &e) == 0 && u.ndim == 0 && u.nbytes == 1, "scalar read back");
        free(out);
    }

    /* Fortran order: 2x3 [[1,2,3],[4,5,6]] stored column-major */
    {
        float col[6] = { 1, 4, 2, 5, 3, 6 };
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", col, sizeof col);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && t.ndim == 2 && t.dims[0] == 2 && t.dims[1] == 3 &&
               ((float *)t.data)[1] == 2 && ((float *)t.data)[3] == 4 && ((float *)t.data)[5] == 6,
               "Fortran order 2x3 transposed to C order");
        /* 3-D Fortran: element (i,j,k) at i + 2j + 6k */
        {
            int16_t fv[24], ok = 1;
            for (int i = 0; i < 24; i++)
                fv[i] = (int16_t)i;
            n = mk(f, 1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4), }", fv, sizeof fv);
            if (npy_parse(f, n, &t, &e) < 0)
                ok = 0;
            else
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 3; j++)
                        for (int k = 0; k < 4; k++)
                            if (((int16_t *)t.data)[(i * 3 + j) * 4 + k] != i + 2 * j + 6 * k)
                                ok = 0;
            tap_ok(ok, "Fortran order 2x3x4");
        }
    }

    /* big-endian */
    {
        unsigned char be[8] = { 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0 };
        unsigned char be16[4] = { 0x01, 0x02, 0xff, 0xfe };
        n = mk(f, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be, 8);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && ((float *)t.data)[0] == 1 && ((float *)t.data)[1] == -2,
               "big-endian f4 converted");
        n = mk(f, 1, "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", be16, 4);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && ((int16_t *)t.data)[0] == 0x0102 &&
               ((int16_t *)t.data)[1] == -2, "big-endian i2 converted");
    }
    /* versions 2.0 and 3.0, quotes, L suffix, other key order */
    {
        uint8_t d[6] = { 1, 2, 3, 4, 5, 6 };
        n = mk(f, 2, "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"|u1\"}", d, 6);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && t.dtype == DT_U8 && t.dims[1] == 3, "version 2.0, double quotes, L suffix");
        n = mk(f, 3, "{'descr': '|b1', 'fortran_order': False, 'shape': (6,)}", d, 6);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && t.dtype == DT_BOOL, "version 3.0, bool");
        n = mk(f, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", d, 6);
        tap_ok(npy_parse(f, n, &t, &e) == 0 && t.dtype == DT_F16, "f2 -> f16");
    }

    /* bad files */
    {
        uint8_t d[16] = { 0 };
        bad("bad magic", "\x93NUMPX\x01\x00\x10\x00{}              ", 26, "bad magic");
        bad("too short", "\x93NUMPY", 6, "bad magic");
        bad("version 4", "\x93NUMPY\x04\x00\x10\x00\x00\x00{}            ", 28, "version 4");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", d, 8);
        bad("header truncated", f, 40, "header truncated");
        bad("data truncated", f, n - 1, "data truncated (got 7 of 8 bytes)");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", d, 9);
        bad("trailing bytes", f, n, "1 bytes after");
        n = mk(f, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", d, 8);
        bad("unsupported dtype", f, n, "'<u4' is not supported");
        n = mk(f, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", d, 8);
        bad("complex", f, n, "not supported");
        n = mk(f, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", d, 4);
        bad("structured dtype", f, n, "'descr'");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", d, 8);
        bad("negative dim", f, n, "negative");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", d, 8);
        bad("dim not a number", f, n, "not a number");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", d, 4);
        bad("9 dims", f, n, "more than 8");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", d, 4);
        bad("size overflow", f, n, "too large");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", d, 4);
        bad("huge dim", f, n, "too large");
        n = mk(f, 1, "{'descr': '<f4', 'shape': (2,), }", d, 8);
        bad("missing key", f, n, "missing key 'fortran_order'");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", d, 8);
        bad("bad bool", f, n, "True or False");
        n = mk(f, 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", d, 8);
        bad("duplicate key", f, n, "duplicate");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", d, 8);
        bad("unknown key", f, n, "unexpected key");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", d, 8);
        bad("unclosed dict", f, n, "expected");
        n = mk(f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", d, 8);
        bad("text after dict", f, n, "after the dict");
        n = mk(f, 1, "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}", d, 8);
        bad("broken quotes", f, n, "npy header");
    }

    /* the golden GoogLeNet features: read, write back, identical bytes */
    {
        char path[512];
        FILE *fp;
        snprintf(path, sizeof path, "%s/golden/googlenet-bvlc/cat/features.npy", tap_shared());
        if (!(fp = fopen(path, "rb"))) {
            tap_skip("no shared data at %s", tap_shared());
        } else {
            unsigned char *buf = malloc(300000);
            size_t len = fread(buf, 1, 300000, fp);
            fclose(fp);
            tap_ok(npy_read_file(path, &t, &e) == 0 && t.dtype == DT_F32 && t.ndim == 3 &&
                   t.dims[0] == 1024 && npy_format(&t, &out, &outlen, &e) == 0 &&
                   outlen == len && !memcmp(out, buf, len), "golden features.npy written back byte-identical");
            free(out);
            free(buf);
        }
    }
    tap_ok(npy_read_file("/nonexistent/x.npy", &t, &e) < 0 && strstr(e.msg, "/nonexistent/x.npy"),
           "missing file: \"%s\"", e.msg);

    tensor_free(&t);
    tensor_free(&u);
    return tap_done();
}
