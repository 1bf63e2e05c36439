/* fuzz_tstream.c - libFuzzer harness for the tensor stream reader: every
 * record of the input (plain or gzip, as tsr_mem sees it), then a write of
 * each record read and a re-read of that output, which must give the same
 * record back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tensor.h"
#include "tstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    err_t e;
    tensor t, u;
    tsr *r = tsr_mem(data, size, &e);
    int rc, n = 0;

    if (!r)
        return 0;
    tensor_init(&t);
    tensor_init(&u);
    tstream_sniff(data, size);
    while ((rc = tsr_next(r, &t, &e)) == 1) {
        char *h = tstream_format_header(&t, t.dtype, &e);
        if (h) {
            /* The canonical header re-read with the payload gives t back. */
            size_t hl = strlen(h);
            char *buf = malloc(hl + t.nbytes + 1);
            if (buf) {
                tsr *r2;
                memcpy(buf, h, hl);
                if (t.nbytes)
                    memcpy(buf + hl, t.data, t.nbytes);
                r2 = tsr_mem(buf, hl + t.nbytes, &e);
                if (tsr_next(r2, &u, &e) != 1 || u.nbytes != t.nbytes || u.dtype != t.dtype ||
                    strcmp(u.name, t.name) != 0 || u.nmeta != t.nmeta ||
                    (t.nbytes && memcmp(u.data, t.data, t.nbytes) != 0))
                    abort();
                tsr_close(r2);
                free(buf);
            }
            free(h);
        }
        if (t.dtype != DT_F32 && tensor_to_f32(&t, &e) == 0 && t.dtype != DT_F32)
            abort();
        if (++n > 1000)
            break;
    }
    if (rc < 0 && !e.msg[0])
        abort();   /* every failure must say why */
    tensor_free(&t);
    tensor_free(&u);
    tsr_close(r);
    return 0;
}
