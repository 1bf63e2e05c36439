/* kern_grid.h - internal: how a GEMM of m x n is cut into tasks, and the
 * blocked driver that runs one task (see kern_gemm.h for the layouts). */
#ifndef CAM_KERN_GRID_H
#define CAM_KERN_GRID_H

#include "kern_gemm.h"

#define GEMM_KC_MAX 256      /* rows of B per k block */
#define GEMM_MC_MAX 256      /* rows of C per task */
#define GEMM_NC_MAX 256      /* columns of C per task */
#define GEMM_DIRECT_ROWS (64 * 1024)  /* bytes of an in-place B block up to
                                         which gemm_block sweeps the columns
                                         row panel by row panel */

typedef struct {
    int mc, nc;              /* task size: rows (multiple of MR), columns (of NR) */
    int nm, nn;              /* tasks along m and n */
} gemm_grid;

void gemm_grid_choose(int m, int n, int mr, int nr, int nthreads, gemm_grid *g);

/* Fills bp with rows [k0, k0+kc) and columns [n0, n1) of B in NR-column
 * panels (kc x NR each, columns past n1 zero). */
typedef void (*gemm_packb_fn)(void *ctx, int k0, int kc, int n0, int n1, float *bp);

/* C rows [m0, m1) (m0 a multiple of MR) of A packed with mpad rows,
 * columns [n0, n1): every k block
 * packed by packb into bpack (GEMM_KC_MAX x nc floats) then multiplied.
 * bdirect: B itself (row k at bdirect + k*ldb) when the micro-kernel can
 * read it in place (ar->ukr_direct), packb is then not called.
 * rbias: per-row bias padded to whole panels, or NULL; cbias: per column. */
/* Packs the m x k matrix A (element (i, k) at a[i*rs + k*cs]) for ar into
 * ap: Mp * k floats, Mp = m rounded up to MR. */
void gemm_pack_a(const gemm_arch *ar, int m, int k, const float *a, size_t rs, size_t cs,
                 float *ap);

/* Fills ap with rows [m0, m1) (m0 a multiple of MR) and columns
 * [k0, k0+kc) of A as MR-row panels of kc (panel (m - m0) / MR at
 * ap + (m - m0) * kc, rows past the matrix zero): A packed per task,
 * for a matrix that is not packed once for all. */
typedef void (*gemm_packa_fn)(void *ctx, int m0, int m1, int k0, int kc, float *ap);

/* packa: NULL when apack holds A packed whole; else apack is ignored and
 * every k block of rows [m0, m1) is packed by packa into abuf
 * ((m1 - m0 rounded up to MR) x GEMM_KC_MAX floats) first, the same
 * values in the same order, so the results are the same bit for bit. */
void gemm_block(const gemm_arch *ar, const float *apack, int mpad, int K, int m0, int m1,
                int n0, int n1, gemm_packb_fn packb, void *pctx, float *bpack,
                const float *bdirect, size_t ldb,
                float *c, size_t ldc, const float *rbias, const float *cbias,
                const gemm_epi *base, gemm_packa_fn packa, void *actx, float *abuf);

#endif
