/* kern_gemm.h - internal: the packed GEMM core shared by conv and sgemm.
 *
 * C (m x n, row-major, ldc) is computed in tiles of MR x NR by a
 * micro-kernel from
 *   A packed by k block, then in panels of MR rows: with M rows padded to
 *   Mp (a multiple of MR) and k block [k0, k0+kc), element (p*MR + i, k0 + k)
 *   is at apack[k0 * Mp + p * MR * kc + k * MR + i]  (rows past m zero), so
 *   the panels one k block needs lie together (gemm_pack_a).
 *   B packed in panels of NR columns for one k block of kc rows:
 *       bpack[q * kc * NR + k * NR + j]  (columns past n are zero)
 * The micro-kernel runs over one k block and applies the epilogue: on the
 * first block C = alpha * acc + beta * C + rbias[i] + cbias[j] (beta == 0:
 * C is not read), on later blocks C += alpha * acc; on the last block the
 * activation clamps to [lo, hi].
 */
#ifndef CAM_KERN_GEMM_H
#define CAM_KERN_GEMM_H

#include <stddef.h>

#define GEMM_MR_MAX 8
#define GEMM_NR_MAX 32

typedef struct {
    const float *rbias;   /* MR entries (this panel's rows) or NULL */
    const float *cbias;   /* NR entries (this panel's columns) or NULL */
    float alpha, beta;
    int first, last;
    int clamp;            /* apply [lo, hi] on the last block */
    float lo, hi;
    int mv, nv;           /* valid rows / columns of the tile (only for a
                             micro-kernel with partial = 1; else full) */
} gemm_epi;

typedef void (*gemm_ukr_fn)(int kc, const float *a, const float *b, float *c, size_t ldc,
                            const gemm_epi *ep);

/* The same, reading B in place (row k at b + k*ldb) instead of packed. */
typedef void (*gemm_ukr_direct_fn)(int kc, const float *a, const float *b, size_t ldb,
                                   float *c, size_t ldc, const gemm_epi *ep);

typedef struct {
    int level;            /* SIMD_* */
    int mr, nr;
    int partial;          /* the micro-kernel honours ep->mv, ep->nv */
    gemm_ukr_fn ukr;
    gemm_ukr_direct_fn ukr_direct;   /* NULL: B is always packed */
    const char *name;
} gemm_arch;

/* The micro-kernel for this SIMD level (falls back to lower levels). */
const gemm_arch *gemm_arch_get(int level);

/* One tile of at most mr x nr valid entries: calls the micro-kernel
 * directly when the tile is full, else through a padded buffer. */
void gemm_tile(const gemm_arch *ar, int kc, const float *a, const float *b, float *c,
               size_t ldc, int mv, int nv, const gemm_epi *ep);

/* Micro-kernels per level (gemm_avx512.c, gemm_avx2.c, gemm.c). */
void gemm_ukr_avx512_8x32(int kc, const float *a, const float *b, float *c, size_t ldc,
                          const gemm_epi *ep);
void gemm_ukr_avx512_8x32_direct(int kc, const float *a, const float *b, size_t ldb,
                                 float *c, size_t ldc, const gemm_epi *ep);
void gemm_ukr_avx2_6x16_direct(int kc, const float *a, const float *b, size_t ldb,
                               float *c, size_t ldc, const gemm_epi *ep);
void gemm_ukr_avx2_6x16(int kc, const float *a, const float *b, float *c, size_t ldc,
                        const gemm_epi *ep);
void gemm_ukr_c_8x8(int kc, const float *a, const float *b, float *c, size_t ldc,
                    const gemm_epi *ep);

/* K split into blocks of about the same size, none above kc_max. */
static inline int gemm_kblocks(int k, int kc_max)
{
    return k <= kc_max ? 1 : (k + kc_max - 1) / kc_max;
}
static inline int gemm_kblock_len(int k, int nb)
{
    return (k + nb - 1) / nb;
}

#endif
