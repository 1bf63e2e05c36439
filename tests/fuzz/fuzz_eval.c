/* fuzz_eval.c - libFuzzer harness for cam-eval's text parsers and for the
 * head file reader.  The first byte picks the parser: 0 ground truth,
 * 1 gap-classify lines, 2 cam-bbox lines (both after a fixed ground
 * truth), 3 a head file (tensor stream); the rest is the input.  Every
 * failure must say why; a parsed set must then compute without error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "eval.h"
#include "train.h"
#include "tstream.h"

static const char gt[] = "image,class,wnid,x0,y0,x1,y1\na.JPEG,5,n,0,0,9,9\nb.JPEG,7,n,0,0,4,4\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 4, flags = data[0] / 4;
    data++;
    size--;
    err_t e;
    e.msg[0] = '\0';
    if (which == 3) {
        cam_head h;
        tsr *r = tsr_mem(data, size, &e);
        if (!r) {
            if (!e.msg[0])
                abort();
            return 0;
        }
        if (head_load_stream(r, &h, &e) == 0) {
            if (h.K < 1 || h.nclasses < 1 || !h.W || !h.b)
                abort();
            head_free(&h);
        } else if (!e.msg[0]) {
            abort();
        }
        tsr_close(r);
        return 0;
    }
    eval_set s;
    eval_init(&s);
    eval_set_sweep(&s, 0.01, &e);
    FILE *f = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
    if (!f)
        return 0;
    int rc;
    if (which == 0) {
        rc = eval_read_gt(&s, f, "fuzz", flags & 1, &e);
    } else {
        FILE *g = fmemopen((void *)gt, sizeof gt - 1, "r");
        if (eval_read_gt(&s, g, "gt", 0, &e) < 0)
            abort();
        fclose(g);
        rc = which == 1 ? eval_read_scores(&s, f, "fuzz", flags & 2, &e)
                        : eval_read_boxes(&s, f, "fuzz", flags & 2, &e);
    }
    fclose(f);
    if (rc < 0 && !e.msg[0])
        abort();
    if (rc == 0) {
        eval_opts o = { 1 + (flags & 1), 1 };
        eval_result r;
        if (eval_compute(&s, &o, which == 1, which == 2, 0, &r, &e) < 0)
            abort();
        eval_result_free(&r);
    }
    eval_free(&s);
    return 0;
}
