/* jpeg.c - JPEG files decoded in the process (libjpeg-turbo), so that a
 * folder of photographs needs no jpegtopnm process per image.
 *
 * libjpeg reports bad data through error_exit(), which by default prints
 * and exits: a jump buffer turns it into an error return, and warnings
 * (corrupt but decodable data) are ignored as jpegtopnm -quiet ignores them.
 * The decoder runs with libjpeg's defaults (islow DCT, fancy upsampling,
 * block smoothing), which are jpegtopnm's and djpeg's: the pixels are the
 * bytes those programs write.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "image.h"

/* Same caps as for netpbm images. */
#define JPEG_MAX_SIDE   30000
#define JPEG_MAX_BYTES  ((uint64_t)1 << 30)   /* w * h * 3 */

int image_is_jpeg(const void *buf, size_t n)
{
    const unsigned char *b = buf;
    return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
};

static void jerr_exit(j_common_ptr cinfo)
{
    struct jerr *j = (struct jerr *)cinfo->err;
    cinfo->err->format_message(cinfo, j->msg);
    longjmp(j->jb, 1);
}

static void jerr_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

int image_decode_jpeg(const void *buf, size_t n, image *im, err_t *e)
{
    struct jpeg_decompress_struct ci;
    struct jerr je;
    /* volatile: modified between setjmp and a longjmp back to it */
    uint8_t *volatile rgb = NULL;

    im->w = im->h = 0;
    im->rgb = NULL;
    if (!image_is_jpeg(buf, n))
        return err_set(e, "not a JPEG file");
    if (n > (size_t)ULONG_MAX)
        return err_set(e, "JPEG file too large");
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jerr_exit;
    je.pub.output_message = jerr_output;
    je.msg[0] = '\0';
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        free(rgb);
        return err_set(e, "bad JPEG data: %s", je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, (const unsigned char *)buf, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    /* CMYK (and YCCK, which libjpeg turns into CMYK) as jpegtopnm reads
     * it: inverted ("Adobe") CMYK whether or not the file has the Adobe
     * marker, R = K * C / 255 in integers, and likewise G and B */
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    if (cmyk ? ci.num_components != 4 : ci.num_components != 1 && ci.num_components != 3) {
        int nc = ci.num_components;
        jpeg_destroy_decompress(&ci);
        return err_set(e, "JPEG with %d components is not supported", nc);
    }
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if (ci.image_width < 1 || ci.image_height < 1 || ci.image_width > JPEG_MAX_SIDE ||
        ci.image_height > JPEG_MAX_SIDE ||
        (uint64_t)ci.image_width * ci.image_height * 3 > JPEG_MAX_BYTES) {
        unsigned w = ci.image_width, h = ci.image_height;
        jpeg_destroy_decompress(&ci);
        return err_set(e, "JPEG size %ux%u out of range (sides 1..%d)", w, h, JPEG_MAX_SIDE);
    }
    jpeg_start_decompress(&ci);
    if (ci.output_components != (cmyk ? 4 : 3) || ci.output_width != ci.image_width ||
        ci.output_height != ci.image_height) {
        jpeg_destroy_decompress(&ci);
        return err_set(e, "JPEG: cannot decode to RGB");
    }
    size_t stride = (size_t)ci.output_width * 3;
    rgb = malloc(stride * ci.output_height + (cmyk ? (size_t)ci.output_width * 4 : 0));
    if (!rgb) {
        jpeg_destroy_decompress(&ci);
        return err_set(e, "out of memory for a %ux%u image", ci.output_width, ci.output_height);
    }
    /* CMYK rows are read past the image, then converted into their place */
    uint8_t *four = cmyk ? rgb + stride * ci.output_height : NULL;
    while (ci.output_scanline < ci.output_height) {
        uint8_t *out = rgb + stride * ci.output_scanline;
        JSAMPROW row = cmyk ? four : out;
        if (jpeg_read_scanlines(&ci, &row, 1) != 1)
            break;      /* cannot happen with a memory source: it fakes an EOI */
        if (cmyk)
            for (size_t x = 0; x < ci.output_width; x++) {
                unsigned k = four[4 * x + 3];
                out[3 * x + 0] = (uint8_t)(k * four[4 * x + 0] / 255);
                out[3 * x + 1] = (uint8_t)(k * four[4 * x + 1] / 255);
                out[3 * x + 2] = (uint8_t)(k * four[4 * x + 2] / 255);
            }
    }
    jpeg_finish_decompress(&ci);
    im->w = (int)ci.output_width;
    im->h = (int)ci.output_height;
    im->rgb = rgb;
    jpeg_destroy_decompress(&ci);
    return 0;
}
