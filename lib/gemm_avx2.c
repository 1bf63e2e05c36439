/* gemm_avx2.c - the AVX2+FMA micro-kernel: a 6 x 16 tile of C in 12 ymm
 * accumulators; per k, two vectors of B and six broadcasts of A. */
#include "kern_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
void gemm_ukr_avx2_6x16(int kc, const float *a, const float *b, float *c, size_t ldc,
                        const gemm_epi *ep)
{
    /* named accumulators: an array indexed in the loop ends up on the
     * stack, one store per FMA */
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define STEP(o)                                                         \
    do {                                                                \
        __m256 b0 = _mm256_load_ps(b + 16 * (o)), b1 = _mm256_load_ps(b + 16 * (o) + 8); \
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
    int k = 0;
    for (; k + 4 <= kc; k += 4) {
        STEP(0); STEP(1); STEP(2); STEP(3);
        a += 24;
        b += 64;
    }
    for (; k < kc; k++) {
        STEP(0);
        a += 6;
        b += 16;
    }
#undef STEP
    __m256 acc[6][2] = {
        { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 }, { c40, c41 }, { c50, c51 },
    };
    __m256 alpha = _mm256_set1_ps(ep->alpha);
    __m256 cb0 = _mm256_setzero_ps(), cb1 = _mm256_setzero_ps();
    if (ep->first && ep->cbias) {
        cb0 = _mm256_loadu_ps(ep->cbias);
        cb1 = _mm256_loadu_ps(ep->cbias + 8);
    }
    __m256 lo = _mm256_set1_ps(ep->lo), hi = _mm256_set1_ps(ep->hi);
    int clamp = ep->last && ep->clamp;
    for (int i = 0; i < 6; i++) {
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
                v0 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(ci), v0);
                v1 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(ci + 8), v1);
            }
        } else {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
        }
        if (clamp) {
            v0 = _mm256_min_ps(_mm256_max_ps(v0, lo), hi);
            v1 = _mm256_min_ps(_mm256_max_ps(v1, lo), hi);
        }
        _mm256_storeu_ps(ci, v0);
        _mm256_storeu_ps(ci + 8, v1);
    }
}
#endif
