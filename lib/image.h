/* image.h - images in and out (netpbm through libnetpbm), and the
 * preprocessing that turns a photograph into a network input.
 *
 * Images are 8-bit RGB in memory, interleaved, row-major (H x W x 3).
 * Grey and bilevel images become RGB; 16-bit samples are scaled to 8 bits
 * (rounded); an alpha plane is dropped.
 */
#ifndef CAM_IMAGE_H
#define CAM_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "err.h"

typedef struct {
    int      w, h;
    uint8_t *rgb;      /* h * w * 3 bytes */
} image;

void image_free(image *im);

/* Reads the next image of a netpbm stream (PBM, PGM, PPM, PAM; plain or
 * raw; 8/16 bit).  Returns 1 (an image), 0 (clean end of stream: no more
 * images), -1 (error, e set: never exits, even on libnetpbm errors). */
int image_read_netpbm(FILE *f, image *im, err_t *e);
/* Reads the first image of a file ("-": stdin). */
int image_load(const char *path, image *im, err_t *e);
/* 1 when buf starts as a JPEG file does (SOI and a marker: FF D8 FF). */
int image_is_jpeg(const void *buf, size_t n);
/* Decodes the JPEG file buf[0..n) (baseline or progressive; greyscale,
 * YCbCr, RGB, CMYK or YCCK) as libjpeg's defaults do and jpegtopnm
 * converts CMYK (as inverted CMYK), i.e. to the bytes jpegtopnm gives.  Returns 0 (im filled) or -1 (e set: never
 * exits on bad data; warnings about recoverable damage are ignored, as
 * jpegtopnm -quiet does). */
int image_decode_jpeg(const void *buf, size_t n, image *im, err_t *e);
/* Writes a raw PPM (P6, maxval 255). */
int image_write_ppm(FILE *f, const image *im, err_t *e);

/* Squash resize of an RGB image to ow x oh exactly as Pillow's
 * Image.resize(..., BILINEAR) does: separable triangle filter, support
 * scaled by the shrink factor when shrinking (antialiasing), horizontal pass
 * first, rounding to uint8 after each pass.  Same size: a copy. */
int image_resize_bilinear_aa(const image *in, int ow, int oh, image *out, err_t *e);

#endif
