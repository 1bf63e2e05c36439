/* camrec.h - the records the CAM stages exchange: checking a record's kind,
 * taking its 2-D map, and its geometry in the original image (the
 * image_width, image_height and roi keys of cam-tensor(5)). */
#ifndef CAM_CAMREC_H
#define CAM_CAMREC_H

#include "cam.h"
#include "tensor.h"

/* 0 when the record's "kind" is absent or one of the accepted kinds (a
 * NULL-terminated list); else -1 with a message saying what it is. */
int camrec_kind(const tensor *t, const char *const *accept, err_t *e);

/* The image the record comes from: its "source" key, else its name. */
const char *camrec_source(const tensor *t);

/* Takes the map of a record shaped h x w (or with leading 1s, 1 x h x w,
 * 1 x 1 x h x w) and converts it to f32 in place.  Fills w and h. */
int camrec_map2d(tensor *t, int *w, int *h, err_t *e);

/* Geometry: returns 1 and fills the original size and the region the map
 * covers when the record has image_width and image_height (roi: its "roi"
 * key, else the whole image); 0 when it has none; -1 when malformed. */
int camrec_geometry(const tensor *t, int *W, int *H, cam_roi *roi, err_t *e);

/* The record's map resized to the original image (interp), or at its own
 * size when the record has no geometry.  *out is malloc'd (ow x oh). */
int camrec_to_image(tensor *t, int interp, double **out, int *ow, int *oh, err_t *e);

/* Reads every record of the files in order ("-": standard input; nfiles
 * == 0: standard input alone) and calls fn on each.  Returns 0, or -1 at
 * the first error: the reader's message, or fn's prefixed with
 * "FILE: record N". */
int camrec_foreach(char *const *files, int nfiles,
                   int (*fn)(tensor *t, void *ctx, err_t *e), void *ctx, err_t *e);

#endif
