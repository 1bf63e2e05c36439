/* npy.h - NumPy .npy import/export (format versions 1.0, 2.0, 3.0 read;
 * 1.0 written, 2.0 when the header needs it).  f32 round trips bit-exact. */
#ifndef CAM_NPY_H
#define CAM_NPY_H

#include "tensor.h"

/* Parses a whole .npy file held in memory into t (C or Fortran order;
 * Fortran is transposed to C order; big-endian converted).  t->name is
 * left to the caller. */
int npy_parse(const void *buf, size_t n, tensor *t, err_t *e);
int npy_read_file(const char *path, tensor *t, err_t *e);
/* Serialises t as .npy into a malloc'd buffer. */
int npy_format(const tensor *t, void **out, size_t *outlen, err_t *e);
int npy_write_file(const char *path, const tensor *t, err_t *e);

#endif
