/* gemm.c - the packed GEMM core (see kern_gemm.h) with its portable
 * micro-kernel, and sgemm() on top of it (contract in kernels.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "kern_gemm.h"
#include "kern_grid.h"
#include "kern_gemv.h"

/* Portable micro-kernel, 8 x 8: plain loops the compiler can vectorise. */
void gemm_ukr_c_8x8(int kc, const float *a, const float *b, float *c, size_t ldc,
                    const gemm_epi *ep)
{
    float acc[8][8] = {{0}};
    for (int k = 0; k < kc; k++) {
        for (int i = 0; i < 8; i++) {
            float av = a[i];
            for (int j = 0; j < 8; j++)
                acc[i][j] += av * b[j];
        }
        a += 8;
        b += 8;
    }
    int clamp = ep->last && ep->clamp;
    for (int i = 0; i < 8; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < 8; j++) {
            float v = ep->alpha * acc[i][j];
            if (ep->first) {
                if (ep->rbias) v += ep->rbias[i];
                if (ep->cbias) v += ep->cbias[j];
                if (ep->beta != 0.0f) v += ep->beta * ci[j];
            } else {
                v += ci[j];
            }
            if (clamp) {
                if (v < ep->lo) v = ep->lo;
                if (v > ep->hi) v = ep->hi;
            }
            ci[j] = v;
        }
    }
}

static const gemm_arch arch_c = { SIMD_PORTABLE, 8, 8, 0, gemm_ukr_c_8x8, NULL, "c-8x8" };
#if defined(__x86_64__)
static const gemm_arch arch_avx2 = { SIMD_AVX2, 6, 16, 1, gemm_ukr_avx2_6x16,
                                   gemm_ukr_avx2_6x16_direct, "avx2-6x16" };
static const gemm_arch arch_avx512 = { SIMD_AVX512, 8, 32, 1, gemm_ukr_avx512_8x32,
                                     gemm_ukr_avx512_8x32_direct, "avx512-8x32" };
#endif

const gemm_arch *gemm_arch_get(int level)
{
#if defined(__x86_64__)
    if (level >= SIMD_AVX512) return &arch_avx512;
    if (level >= SIMD_AVX2) return &arch_avx2;
#endif
    (void)level;
    return &arch_c;
}

void gemm_tile(const gemm_arch *ar, int kc, const float *a, const float *b, float *c,
               size_t ldc, int mv, int nv, const gemm_epi *ep)
{
    if ((mv == ar->mr && nv == ar->nr) || ar->partial) {
        gemm_epi e = *ep;
        e.mv = mv;
        e.nv = nv;
        ar->ukr(kc, a, b, c, ldc, &e);
        return;
    }
    float tmp[GEMM_MR_MAX * GEMM_NR_MAX] __attribute__((aligned(64)));
    float cb[GEMM_NR_MAX];
    gemm_epi e = *ep;
    e.mv = ar->mr;
    e.nv = ar->nr;
    int nr = ar->nr;
    if (!ep->first || ep->beta != 0.0f)
        for (int i = 0; i < mv; i++)
            memcpy(tmp + i * nr, c + (size_t)i * ldc, (size_t)nv * sizeof(float));
    if (ep->first && ep->cbias) {
        memcpy(cb, ep->cbias, (size_t)nv * sizeof(float));
        memset(cb + nv, 0, (size_t)(nr - nv) * sizeof(float));
        e.cbias = cb;
    }
    /* rows past mv read zeroed A and (when read) garbage C: never stored */
    for (int i = mv; i < ar->mr; i++)
        memset(tmp + i * nr, 0, (size_t)nr * sizeof(float));
    for (int i = 0; i < mv; i++)
        memset(tmp + i * nr + nv, 0, (size_t)(nr - nv) * sizeof(float));
    ar->ukr(kc, a, b, tmp, (size_t)nr, &e);
    for (int i = 0; i < mv; i++)
        memcpy(c + (size_t)i * ldc, tmp + i * nr, (size_t)nv * sizeof(float));
}

void gemm_grid_choose(int m, int n, int mr, int nr, int nthreads, gemm_grid *g)
{
    int mp = (m + mr - 1) / mr, np = (n + nr - 1) / nr;
    int mcp = GEMM_MC_MAX / mr, ncp = GEMM_NC_MAX / nr;
    if (mcp < 1) mcp = 1;
    if (ncp < 1) ncp = 1;
    if (mcp > mp) mcp = mp;
    if (ncp > np) ncp = np;
    int nm = (mp + mcp - 1) / mcp, nn = (np + ncp - 1) / ncp;
    if (nthreads > 1) {
        /* round the column chunks up to a multiple of the threads, then
         * split rows when there are still too few tasks */
        int want = (nn + nthreads - 1) / nthreads * nthreads;
        if (want > np) want = np;
        ncp = (np + want - 1) / want;
        nn = (np + ncp - 1) / ncp;
        /* chunks that do not share out evenly (ResNet-18's stride-2 3x3
         * to 28x28: 25 column tiles in chunks of 7, 7, 7 and 4, 14 tiles
         * for one thread and 11 for the other): a smaller chunk whose
         * tasks, taken in turn by the threads, end sooner: the largest
         * chunk, down to half the size, within 3% of an even share, else
         * the most even one */
        ncp = tp_chunk_from(np, ncp, (ncp + 1) / 2, nthreads);
        nn = (np + ncp - 1) / ncp;
        while (nm * nn < 2 * nthreads && mcp > 1) {
            mcp = (mcp + 1) / 2;
            nm = (mp + mcp - 1) / mcp;
        }
    }
    g->mc = mcp * mr;
    g->nc = ncp * nr;
    g->nm = nm;
    g->nn = nn;
}

/* One MR-row panel of gemm_pack_a's: rows [p0, p0 + MR) of a matrix packed
 * with mpad rows in all, of which the first mv come from a (row i at
 * a + i*rs) and the rest are zero. */
static void gemm_pack_a_panel(const gemm_arch *ar, int mpad, int p0, int mv, int k, const float *a,
                              size_t rs, size_t cs, float *ap)
{
    int mr = ar->mr;
    int nb = gemm_kblocks(k, GEMM_KC_MAX), kcl = gemm_kblock_len(k, nb);
    for (int k0 = 0; k0 < k; k0 += kcl) {
        int kc = k - k0 < kcl ? k - k0 : kcl;
        float *d = ap + (size_t)k0 * mpad + (size_t)p0 * kc;
        for (int kk = 0; kk < kc; kk++, d += mr)
            for (int i = 0; i < mr; i++)
                d[i] = i < mv ? a[(size_t)i * rs + (size_t)(k0 + kk) * cs] : 0.0f;
    }
}

void gemm_pack_a(const gemm_arch *ar, int m, int k, const float *a, size_t rs, size_t cs,
                 float *ap)
{
    int mr = ar->mr, mp = (m + mr - 1) / mr * mr;
    for (int p0 = 0; p0 < mp; p0 += mr)
        gemm_pack_a_panel(ar, mp, p0, m - p0 < mr ? m - p0 : mr, k, a + (size_t)p0 * rs, rs, cs,
                          ap);
}

void gemm_block(const gemm_arch *ar, const float *apack, int mpad, int K, int m0, int m1,
                int n0, int n1, gemm_packb_fn packb, void *pctx, float *bpack,
                const float *bdirect, size_t ldb,
                float *c, size_t ldc, const float *rbias, const float *cbias,
                const gemm_epi *base, gemm_packa_fn packa, void *actx, float *abuf)
{
    int mr = ar->mr, nr = ar->nr;
    int direct = bdirect && ar->ukr_direct;
    int nb = gemm_kblocks(K, GEMM_KC_MAX), kcl = gemm_kblock_len(K, nb);
    for (int kb = 0; kb < nb; kb++) {
        int k0 = kb * kcl, kc = K - k0 < kcl ? K - k0 : kcl;
        if (!direct)
            packb(pctx, k0, kc, n0, n1, bpack);
        /* A's panels of this block: rows m at ab + (m - am) * kc */
        const float *ab;
        int am = 0;
        if (packa) {
            packa(actx, m0, m1, k0, kc, abuf);
            ab = abuf;
            am = m0;
        } else
            ab = apack + (size_t)k0 * mpad;
        gemm_epi ep = *base;
        ep.first = kb == 0;
        ep.last = kb == nb - 1;
        if (direct && (size_t)kc * (size_t)(n1 - n0) * sizeof(float) <= GEMM_DIRECT_ROWS) {
            /* B read in place and its block small (short K): each row
             * panel sweeps the columns, so that C is written as MR long
             * runs rather than as every row's NR columns in turn.
             * MobileNetV2's 1x1 convs on 112x112 maps, 1 core, medians
             * of 60 interleaved runs: 16 -> 96 0.69 -> 0.57 ms, 32 -> 16
             * 0.33 -> 0.26 ms; GoogLeNet, SqueezeNet unchanged. */
            for (int m = m0; m < m1; m += mr) {
                int mv = m1 - m < mr ? m1 - m : mr;
                const float *ap = ab + (size_t)(m - am) * kc;
                ep.rbias = rbias ? rbias + m : NULL;
                ep.mv = mv;
                for (int n = n0; n < n1; n += nr) {
                    ep.nv = n1 - n < nr ? n1 - n : nr;
                    ep.cbias = cbias ? cbias + n : NULL;
                    ar->ukr_direct(kc, ap, bdirect + (size_t)k0 * ldb + n, ldb,
                                   c + (size_t)m * ldc + n, ldc, &ep);
                }
            }
            continue;
        }
        for (int n = n0; n < n1; n += nr) {
            int nv = n1 - n < nr ? n1 - n : nr;
            const float *bp = bpack + (size_t)((n - n0) / nr) * kc * nr;
            ep.cbias = cbias ? cbias + n : NULL;
            for (int m = m0; m < m1; m += mr) {
                int mv = m1 - m < mr ? m1 - m : mr;
                const float *ap = ab + (size_t)(m - am) * kc;
                ep.rbias = rbias ? rbias + m : NULL;
                if (direct) {
                    ep.mv = mv;
                    ep.nv = nv;
                    ar->ukr_direct(kc, ap, bdirect + (size_t)k0 * ldb + n, ldb,
                                   c + (size_t)m * ldc + n, ldc, &ep);
                } else {
                    gemm_tile(ar, kc, ap, bp, c + (size_t)m * ldc + n, ldc, mv, nv, &ep);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ sgemm */

typedef struct {
    const gemm_arch *ar;
    int transb, m, n, k;
    const float *b;
    int ldb;
    float *c;
    int ldc;
    const float *bias;
    const float *apack;
    int mpad;
    float *bpack;        /* per thread: bstride floats each */
    size_t bstride;
    gemm_grid g;
    gemm_epi ep;
} sgemm_job;

typedef struct {
    const sgemm_job *j;
} sgemm_packctx;

/* Packs op(B)[k0..k0+kc) x [n0..n1) into NR-column panels. */
static void sgemm_packb(void *ctx, int k0, int kc, int n0, int n1, float *bp)
{
    const sgemm_job *j = ctx;
    int nr = j->ar->nr;
    for (int n = n0; n < n1; n += nr) {
        int nv = n1 - n < nr ? n1 - n : nr;
        float *d = bp + (size_t)((n - n0) / nr) * kc * nr;
        for (int k = 0; k < kc; k++, d += nr) {
            if (!j->transb) {
                memcpy(d, j->b + (size_t)(k0 + k) * j->ldb + n, (size_t)nv * sizeof(float));
            } else {
                const float *s = j->b + (size_t)n * j->ldb + k0 + k;
                for (int x = 0; x < nv; x++) d[x] = s[(size_t)x * j->ldb];
            }
            for (int x = nv; x < nr; x++) d[x] = 0.0f;
        }
    }
}

static void sgemm_task(void *ctx, int task, int thread)
{
    sgemm_job *j = ctx;
    int im = task % j->g.nm, in = task / j->g.nm;
    int m0 = im * j->g.mc, m1 = m0 + j->g.mc < j->m ? m0 + j->g.mc : j->m;
    int n0 = in * j->g.nc, n1 = n0 + j->g.nc < j->n ? n0 + j->g.nc : j->n;
    gemm_block(j->ar, j->apack, j->mpad, j->k, m0, m1, n0, n1, sgemm_packb, j,
               j->bpack + (size_t)thread * j->bstride,
               j->transb ? NULL : j->b, (size_t)j->ldb, j->c, (size_t)j->ldc, NULL,
               j->bias, &j->ep, NULL, NULL, NULL);
}

void sgemm(int transa, int transb, int m, int n, int k, float alpha,
           const float *a, int lda, const float *b, int ldb, float beta,
           float *c, int ldc, const float *bias, threadpool *tp)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int x = 0; x < n; x++) {
                float *p = c + (size_t)i * ldc + x;
                float v = beta != 0.0f ? beta * *p : 0.0f;
                *p = bias ? v + bias[x] : v;
            }
        return;
    }
    if (m <= GEMV_MAX_M &&
        gemv_small_m(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, tp) == 0)
        return;
    const gemm_arch *ar = gemm_arch_get(simd_level());
    int nt = tp_size(tp);
    double work = (double)m * n * k;
    if (work < 1e5) nt = 1;
    sgemm_job j = { .ar = ar, .transb = transb, .m = m, .n = n, .k = k, .b = b, .ldb = ldb,
                    .c = c, .ldc = ldc, .bias = bias };
    gemm_grid_choose(m, n, ar->mr, ar->nr, nt, &j.g);
    int nb = gemm_kblocks(k, GEMM_KC_MAX), kcl = gemm_kblock_len(k, nb);
    size_t mp = (size_t)(m + ar->mr - 1) / ar->mr;
    j.bstride = ((size_t)kcl * j.g.nc + 15) & ~(size_t)15;
    float *apack = NULL, *bpack = NULL;
    if (posix_memalign((void **)&apack, 64, mp * ar->mr * (size_t)k * sizeof(float)) ||
        posix_memalign((void **)&bpack, 64, j.bstride * (size_t)nt * sizeof(float))) {
        /* out of memory: the plain product still gives the right answer */
        free(apack);
        ref_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
        return;
    }
    if (transa)
        gemm_pack_a(ar, m, k, a, 1, (size_t)lda, apack);
    else
        gemm_pack_a(ar, m, k, a, (size_t)lda, 1, apack);
    j.apack = apack;
    j.mpad = (int)(mp * ar->mr);
    j.bpack = bpack;
    j.ep.alpha = alpha;
    j.ep.beta = beta;
    if (nt > 1)
        tp_run(tp, j.g.nm * j.g.nn, sgemm_task, &j);
    else
        for (int t = 0; t < j.g.nm * j.g.nn; t++) sgemm_task(&j, t, 0);
    free(apack);
    free(bpack);
}
