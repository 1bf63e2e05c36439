/* preprocess.h - the network input made from an image: squash resize to the
 * model's input size (Pillow BILINEAR, see image.h), channel order, and the
 * mapping of pixel bytes to the values the model expects.
 *
 *   ONNX:   x = (v - mean[c]) / std[c]   in float32, channels in the model's
 *           order (metadata preprocess.channel_order / .mean / .std, else
 *           torchvision's RGB 123.675 116.28 103.53 / 58.395 57.12 57.375)
 *   TFLite: x = scale * (v - zero_point) of the uint8 input tensor's
 *           quantisation (the engine then sees the exact grid values)
 *
 * The output is C x H x W float32 (C = 3), the logical layout of engine.h.
 */
#ifndef CAM_PREPROCESS_H
#define CAM_PREPROCESS_H

#include <stdint.h>
#include "graph.h"
#include "image.h"

enum { PP_MEANSTD = 0, PP_QUANT = 1 };

typedef struct {
    int   width, height;   /* network input size (W, H) */
    int   bgr;             /* 1: feed channels as B, G, R */
    int   mode;            /* PP_MEANSTD or PP_QUANT */
    float mean[3], std[3]; /* PP_MEANSTD: pixel units, in the fed channel order */
    float qscale;          /* PP_QUANT: x = qscale * (v - qzero) */
    int   qzero;
} preprocess_params;

/* Torchvision's convention: RGB, mean 123.675 116.28 103.53, std 58.395
 * 57.12 57.375; size 224x224. */
void preprocess_defaults(preprocess_params *p);

/* Fills p for graph g whose input tensor (index in_tensor) has the NCHW
 * shape dims (ndim 4, C = 3): size from dims; ONNX: metadata keys
 * preprocess.channel_order, preprocess.mean, preprocess.std (torchvision
 * values when absent); TFLite: RGB and the input tensor's quantisation
 * (a float TFLite input without quantisation: mean 127.5, std 127.5). */
int preprocess_from_graph(const graph *g, int in_tensor, int ndim, const int64_t *dims,
                          preprocess_params *p, err_t *e);

/* Parses "a,b,c" or "a b c" into three finite floats; 0 ok, -1 bad. */
int preprocess_parse3(const char *s, float v[3]);

/* The RGB image resized (when its size differs) to p's size and mapped:
 * out is 3 x height x width float32. */
int preprocess_image(const image *im, const preprocess_params *p, float *out, err_t *e);

/* The resized RGB bytes alone (height x width x 3), as fed to a uint8
 * model: out must be freed with image_free. */
int preprocess_resize(const image *im, const preprocess_params *p, image *out, err_t *e);

#endif
