/* gemm_avx2.c - the AVX2+FMA micro-kernel: a 6 x 16 tile of C in 12 ymm
 * accumulators; per k, two vectors of B and six broadcasts of A.  Partial
 * tiles are stored through masks; a variant reads B in place. */
#include "kern_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* lanes [0, n) of a 16-float row as two 8-lane load/store masks */
static const int mask_src[24] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                  0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx2,fma"), always_inline))
static inline void masks16(int n, __m256i *m0, __m256i *m1)
{
    int a = n < 8 ? n : 8, b = n < 8 ? 0 : n - 8;
    *m0 = _mm256_loadu_si256((const __m256i *)(mask_src + 16 - a));
    *m1 = _mm256_loadu_si256((const __m256i *)(mask_src + 16 - b));
}

#define STEP(o)                                                         \
    do {                                                                \
        __m256 b0 = LOADB(o, 0), b1 = LOADB(o, 1); \
        const float *ak = a + 6 * (o);                                  \
        __m256 av;                                                      \
        av = _mm256_broadcast_ss(ak + 0);                               \
        c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01); \
        av = _mm256_broadcast_ss(ak + 1);                               \
        c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11); \
        av = _mm256_broadcast_ss(ak + 2);                               \
        c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21); \
        av = _mm256_broadcast_ss(ak + 3);                               \
        c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31); \
        av = _mm256_broadcast_ss(ak + 4);                               \
        c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41); \
        av = _mm256_broadcast_ss(ak + 5);                               \
        c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51); \
    } while (0)

#define LOOP(BSTEP)                                                     \
    do {                                                                \
        int k = 0;                                                      \
        for (; k + 4 <= kc; k += 4) {                                   \
            STEP(0); STEP(1); STEP(2); STEP(3);                         \
            a += 24;                                                    \
            b += 4 * (BSTEP);                                           \
        }                                                               \
        for (; k < kc; k++) {                                           \
            STEP(0);                                                    \
            a += 6;                                                     \
            b += (BSTEP);                                               \
        }                                                               \
    } while (0)

#define DECL                                                            \
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();        \
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();        \
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();        \
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();        \
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();        \
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps()

/* Bias, beta, accumulation over k blocks, activation, and the store of
 * ep->mv rows by ep->nv columns through masks. */
__attribute__((target("avx2,fma"), always_inline))
static inline void ukr_store(__m256 acc[6][2], float *c, size_t ldc, const gemm_epi *ep)
{
    __m256i m0, m1;
    masks16(ep->nv, &m0, &m1);
    /* whole rows: plain loads and stores (masked stores are slow on AMD) */
    int full = ep->nv == 16;
    __m256 alpha = _mm256_set1_ps(ep->alpha);
    __m256 cb0 = _mm256_setzero_ps(), cb1 = _mm256_setzero_ps();
    if (ep->first && ep->cbias) {
        cb0 = _mm256_maskload_ps(ep->cbias, m0);
        cb1 = _mm256_maskload_ps(ep->cbias + 8, m1);
    }
    __m256 lo = _mm256_set1_ps(ep->lo), hi = _mm256_set1_ps(ep->hi);
    int clamp = ep->last && ep->clamp;
    for (int i = 0; i < ep->mv; i++) {
        float *ci = c + (size_t)i * ldc;
        __m256 v0 = acc[i][0], v1 = acc[i][1];
        if (ep->alpha != 1.0f) {
            v0 = _mm256_mul_ps(v0, alpha);
            v1 = _mm256_mul_ps(v1, alpha);
        }
        if (ep->first) {
            __m256 add = ep->rbias ? _mm256_set1_ps(ep->rbias[i]) : _mm256_setzero_ps();
            v0 = _mm256_add_ps(v0, _mm256_add_ps(add, cb0));
            v1 = _mm256_add_ps(v1, _mm256_add_ps(add, cb1));
            if (ep->beta != 0.0f) {
                __m256 beta = _mm256_set1_ps(ep->beta);
                v0 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(ci, m0), v0);
                v1 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(ci + 8, m1), v1);
            }
        } else {
            v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(ci) : _mm256_maskload_ps(ci, m0));
            v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(ci + 8) : _mm256_maskload_ps(ci + 8, m1));
        }
        if (clamp) {
            v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
            v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
        }
        if (full) {
            _mm256_storeu_ps(ci, v0);
            _mm256_storeu_ps(ci + 8, v1);
        } else {
            _mm256_maskstore_ps(ci, m0, v0);
            _mm256_maskstore_ps(ci + 8, m1, v1);
        }
    }
}

/* Named accumulators: an array indexed in the loop ends up on the stack,
 * one store per FMA. */
__attribute__((target("avx2,fma")))
void gemm_ukr_avx2_6x16(int kc, const float *a, const float *b, float *c, size_t ldc,
                        const gemm_epi *ep)
{
    DECL;
#define LOADB(o, h) _mm256_load_ps(b + 16 * (o) + 8 * (h))
    LOOP(16);
#undef LOADB
    __m256 acc[6][2] = {
        { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 }, { c40, c41 }, { c50, c51 },
    };
    ukr_store(acc, c, ldc, ep);
}

/* B read in place: row k at b + k*ldb, ep->nv columns (the rest masked
 * off, never read). */
__attribute__((target("avx2,fma")))
void gemm_ukr_avx2_6x16_direct(int kc, const float *a, const float *b, size_t ldb,
                               float *c, size_t ldc, const gemm_epi *ep)
{
    DECL;
    if (ep->nv == 16) {
#define LOADB(o, h) _mm256_loadu_ps(b + (size_t)(o) * ldb + 8 * (h))
        LOOP(ldb);
#undef LOADB
    } else {
        __m256i m0, m1;
        masks16(ep->nv, &m0, &m1);
#define LOADB(o, h) _mm256_maskload_ps(b + (size_t)(o) * ldb + 8 * (h), (h) ? m1 : m0)
        LOOP(ldb);
#undef LOADB
    }
    __m256 acc[6][2] = {
        { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 }, { c40, c41 }, { c50, c51 },
    };
    ukr_store(acc, c, ldc, ep);
}
#endif
