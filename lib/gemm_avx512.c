/* gemm_avx512.c - the AVX-512 micro-kernel: an 8 x 32 tile of C in 16 zmm
 * accumulators; per k, two vectors of B and eight broadcasts of A.  Partial
 * tiles (ep->mv rows, ep->nv columns) are stored through masks, so edge
 * tiles need no copy. */
#include "kern_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* The 8 x 32 product over kc steps into c00..c71; LOADB(k, half) loads 16
 * floats of row k of B. */
#define UKR_DECL                                                        \
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();        \
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();        \
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();        \
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();        \
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();        \
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();        \
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();        \
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps()

#define UKR_STEP(o)                                                     \
    do {                                                                \
        __m512 b0 = LOADB(o, 0);                                        \
        __m512 b1 = LOADB(o, 1);                                        \
        const float *ak = a + 8 * (o);                                  \
        __m512 av;                                                      \
        av = _mm512_set1_ps(ak[0]);                                     \
        c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01); \
        av = _mm512_set1_ps(ak[1]);                                     \
        c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11); \
        av = _mm512_set1_ps(ak[2]);                                     \
        c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21); \
        av = _mm512_set1_ps(ak[3]);                                     \
        c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31); \
        av = _mm512_set1_ps(ak[4]);                                     \
        c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41); \
        av = _mm512_set1_ps(ak[5]);                                     \
        c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51); \
        av = _mm512_set1_ps(ak[6]);                                     \
        c60 = _mm512_fmadd_ps(av, b0, c60); c61 = _mm512_fmadd_ps(av, b1, c61); \
        av = _mm512_set1_ps(ak[7]);                                     \
        c70 = _mm512_fmadd_ps(av, b0, c70); c71 = _mm512_fmadd_ps(av, b1, c71); \
    } while (0)

#define UKR_LOOP(BSTEP)                                                 \
    do {                                                                \
        int k = 0;                                                      \
        for (; k + 4 <= kc; k += 4) {                                   \
            UKR_STEP(0); UKR_STEP(1); UKR_STEP(2); UKR_STEP(3);         \
            a += 32;                                                    \
            b += 4 * (BSTEP);                                           \
        }                                                               \
        for (; k < kc; k++) {                                           \
            UKR_STEP(0);                                                \
            a += 8;                                                     \
            b += (BSTEP);                                               \
        }                                                               \
    } while (0)

/* Bias, beta, accumulation over k blocks, activation and the masked store
 * of the tile c00..c71. */
__attribute__((target("avx512f"), always_inline))
static inline void ukr_store(__m512 acc[8][2], float *c, size_t ldc, const gemm_epi *ep)
{
    int nv = ep->nv;
    __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
    __mmask16 m1 = (__mmask16)(nv >= 32 ? 0xffff : nv <= 16 ? 0 : (1u << (nv - 16)) - 1);
    __m512 alpha = _mm512_set1_ps(ep->alpha);
    __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
    if (ep->first && ep->cbias) {
        cb0 = _mm512_maskz_loadu_ps(m0, ep->cbias);
        cb1 = _mm512_maskz_loadu_ps(m1, ep->cbias + 16);
    }
    __m512 lo = _mm512_set1_ps(ep->lo), hi = _mm512_set1_ps(ep->hi);
    int clamp = ep->last && ep->clamp;
    for (int i = 0; i < ep->mv; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (ep->alpha != 1.0f) {
            v0 = _mm512_mul_ps(v0, alpha);
            v1 = _mm512_mul_ps(v1, alpha);
        }
        if (ep->first) {
            __m512 add = ep->rbias ? _mm512_set1_ps(ep->rbias[i]) : _mm512_setzero_ps();
            v0 = _mm512_add_ps(v0, _mm512_add_ps(add, cb0));
            v1 = _mm512_add_ps(v1, _mm512_add_ps(add, cb1));
            if (ep->beta != 0.0f) {
                __m512 beta = _mm512_set1_ps(ep->beta);
                v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, ci), v0);
                v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, ci + 16), v1);
            }
        } else {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        if (clamp) {
            v0 = _mm512_min_ps(_mm512_max_ps(v0, lo), hi);
            v1 = _mm512_min_ps(_mm512_max_ps(v1, lo), hi);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

__attribute__((target("avx512f")))
void gemm_ukr_avx512_8x32(int kc, const float *a, const float *b, float *c, size_t ldc,
                          const gemm_epi *ep)
{
    UKR_DECL;
#define LOADB(o, h) _mm512_load_ps(b + 32 * (o) + 16 * (h))
    UKR_LOOP(32);
#undef LOADB
    __m512 acc[8][2] = {
        { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
        { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 },
    };
    ukr_store(acc, c, ldc, ep);
}

/* The same with B read in place: row k at b + k*ldb, ep->nv columns valid
 * (the rest masked off, never read). */
__attribute__((target("avx512f")))
void gemm_ukr_avx512_8x32_direct(int kc, const float *a, const float *b, size_t ldb,
                                 float *c, size_t ldc, const gemm_epi *ep)
{
    int nv = ep->nv;
    __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
    __mmask16 m1 = (__mmask16)(nv >= 32 ? 0xffff : nv <= 16 ? 0 : (1u << (nv - 16)) - 1);
    UKR_DECL;
    if (nv == 32) {
#define LOADB(o, h) _mm512_loadu_ps(b + (size_t)(o) * ldb + 16 * (h))
        UKR_LOOP(ldb);
#undef LOADB
    } else {
#define LOADB(o, h) _mm512_maskz_loadu_ps((h) ? m1 : m0, b + (size_t)(o) * ldb + 16 * (h))
        UKR_LOOP(ldb);
#undef LOADB
    }
    __m512 acc[8][2] = {
        { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
        { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 },
    };
    ukr_store(acc, c, ldc, ep);
}
#endif
