/* kern_gemv.h - internal: sgemm for a handful of rows (see kern_gemv.c). */
#ifndef CAM_KERN_GEMV_H
#define CAM_KERN_GEMV_H

#include "threadpool.h"

#define GEMV_MAX_M 4      /* sgemm uses the matrix-vector path up to this m */

/* Same contract as sgemm; returns -1 (C untouched) when out of memory. */
int gemv_small_m(int transa, int transb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc, const float *bias, threadpool *tp);

#endif
