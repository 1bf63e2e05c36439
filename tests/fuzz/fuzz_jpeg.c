/* fuzz_jpeg.c - libFuzzer harness for the in-process JPEG decoder
 * (image_decode_jpeg): every input gives an image or an error return,
 * never an exit, a crash or a leak.  Inputs not starting with FF D8 FF are
 * given that prefix so that the decoder sees them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image im;
    err_t e;
    uint8_t *buf = malloc(size + 3);
    size_t n = size;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (!image_is_jpeg(buf, n)) {
        memcpy(buf, "\xff\xd8\xff", 3);
        memcpy(buf + 3, data, size);
        n = size + 3;
    }
    if (image_decode_jpeg(buf, n, &im, &e) == 0) {
        volatile uint8_t s = 0;
        for (size_t i = 0; i < (size_t)im.w * im.h * 3; i += 4096)
            s ^= im.rgb[i];
        image_free(&im);
    }
    free(buf);
    return 0;
}
