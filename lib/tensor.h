/* tensor.h - an in-memory tensor record: name, element type, shape, axis
 * names, free metadata and the payload.  This is what one record of the
 * tensor stream (cam-tensor(5)) holds.
 */
#ifndef CAM_TENSOR_H
#define CAM_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

enum dtype {
    DT_NONE = 0,
    DT_F32, DT_F16, DT_F64,
    DT_U8, DT_I8, DT_U16, DT_I16, DT_I32, DT_I64,
    DT_BOOL,
    DT_COUNT
};

size_t      dtype_size(int dt);          /* bytes per element, 0 for DT_NONE */
const char *dtype_name(int dt);          /* "f32", "f16", ... */
int         dtype_parse(const char *s);  /* DT_NONE when unknown */

#define TENSOR_MAXDIM 8

typedef struct {
    char *key;
    char *val;
} tensor_kv;

typedef struct {
    char    *name;                     /* record name, never NULL once set */
    int      dtype;
    int      ndim;                     /* 0..TENSOR_MAXDIM (0 = scalar) */
    int64_t  dims[TENSOR_MAXDIM];
    char    *axes[TENSOR_MAXDIM];      /* axis names ("C","H","W") or all NULL */
    int      nmeta;
    tensor_kv *meta;                   /* free metadata, in header order */
    void    *data;                     /* payload, little-endian C order */
    size_t   nbytes;                   /* = numel * dtype_size */
} tensor;

/* Element count; returns -1 (and sets e) on overflow or a negative dim. */
int64_t tensor_numel(const tensor *t);

/* Initialises t as an empty tensor (all zero). */
void tensor_init(tensor *t);
/* Frees everything t owns and re-initialises it. */
void tensor_free(tensor *t);

/* Sets name, dtype, shape and allocates a zeroed payload.  axes may be NULL
 * or a space-separated list such as "C H W" with one name per dim.
 * Returns 0 or -1 with e set (overflow, size cap, out of memory). */
int tensor_alloc(tensor *t, const char *name, int dtype, int ndim, const int64_t *dims,
                 const char *axes, err_t *e);
/* The same without the payload: data stays NULL, nbytes is set, for a
 * caller that points data at values it owns (and sets it back to NULL
 * before tensor_free). */
int tensor_describe(tensor *t, const char *name, int dtype, int ndim, const int64_t *dims,
                    const char *axes, err_t *e);

/* Deep copy of src into dst (dst is initialised first). */
int tensor_copy(tensor *dst, const tensor *src, err_t *e);

/* Metadata.  Keys match [A-Za-z0-9_.-]+; values are any text without a
 * newline.  set replaces an existing key or appends; get returns NULL when
 * absent. */
const char *tensor_meta_get(const tensor *t, const char *key);
int tensor_meta_set(tensor *t, const char *key, const char *val, err_t *e);
int tensor_meta_setf(tensor *t, const char *key, err_t *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tensor_meta_del(tensor *t, const char *key);
/* Copies every metadata key of src into dst (replacing existing ones). */
int tensor_meta_copy(tensor *dst, const tensor *src, err_t *e);
/* Integer / float metadata helpers: 0 ok, -1 absent or malformed. */
int tensor_meta_long(const tensor *t, const char *key, long *out);
int tensor_meta_double(const tensor *t, const char *key, double *out);

/* Converts the payload to f32 in place (from f16, f64, integers). */
int tensor_to_f32(tensor *t, err_t *e);

/* IEEE half <-> single, round to nearest even; NaN and Inf preserved. */
uint16_t f32_to_f16(float f);
float    f16_to_f32(uint16_t h);

/* Largest payload accepted by readers and tensor_alloc (bytes). */
#define TENSOR_MAX_BYTES ((size_t)1 << 32)

#endif
