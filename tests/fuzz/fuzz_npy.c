/* fuzz_npy.c - libFuzzer harness for the .npy parser: parse, and for a
 * file that parses, format it again and parse that, which must give the
 * same array. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    err_t e;
    tensor t, u;
    void *out;
    size_t outlen;

    tensor_init(&t);
    tensor_init(&u);
    e.msg[0] = '\0';
    if (npy_parse(data, size, &t, &e) == 0) {
        if (npy_format(&t, &out, &outlen, &e) != 0)
            abort();
        if (npy_parse(out, outlen, &u, &e) != 0 || u.dtype != t.dtype || u.ndim != t.ndim ||
            u.nbytes != t.nbytes || (t.nbytes && memcmp(u.data, t.data, t.nbytes) != 0))
            abort();
        free(out);
    } else if (!e.msg[0]) {
        abort();   /* every failure must say why */
    }
    tensor_free(&t);
    tensor_free(&u);
    return 0;
}
