/* fuzz_image.c - libFuzzer harness for the netpbm reader (through
 * libnetpbm with error recovery, raw rows read directly) and the Pillow
 * BILINEAR resize.
 * Every input must give images or an error return, never an exit or a
 * crash.  Seeds: tests/fuzz/corpus_image/. */
#include <stdint.h>
#include <stdio.h>
#include "image.h"

/* libnetpbm's PAM header reader strdup()s a comment buffer that it cannot
 * free when pm_error() longjmps out of it: a 1-byte leak per bad PAM header
 * inside the library, not ours to fix. */
__attribute__((used)) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libnetpbm.so\n";
}

__attribute__((used)) const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f;
    image im, r;
    err_t e;
    int n = 0;

    if (size == 0)
        return 0;
    f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    while (n < 8 && image_read_netpbm(f, &im, &e) == 1) {
        /* Shrink and enlarge: both code paths of the resampler. */
        if (image_resize_bilinear_aa(&im, 7, 5, &r, &e) == 0)
            image_free(&r);
        if (im.w * (long)im.h < 4096 && image_resize_bilinear_aa(&im, im.w * 2 + 1, im.h + 3, &r, &e) == 0)
            image_free(&r);
        image_free(&im);
        n++;
    }
    fclose(f);
    return 0;
}
