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

/* Few columns: the last n % 16 columns of a partial tile, when there are
 * at most 8 of them, run with vectors down the panel's 8 rows (one 8-lane
 * FMA per column and k) instead of 16-lane vectors along the row that
 * would be mostly masked off (one 16-lane FMA per row and k): a 7x7 map's
 * 49 columns cost 3 + 1/16 vectors per row instead of 4.
 * u[j * 8 + i] = sum_k a[k * 8 + i] * b[k * bs + j] for j < J; J columns
 * of U k-phases in J * U <= 8 accumulators; columns past nc repeat
 * column nc - 1 and are ignored. */
__attribute__((target("avx512f,fma"), always_inline))
static inline void cols_kernel(int J, int U, int kc, const float *a, const float *b, size_t bs,
                               int nc, float *u)
{
    __m256 acc[8];
    int col[8];
#pragma GCC unroll 8
    for (int x = 0; x < 8; x++) {
        acc[x] = _mm256_setzero_ps();
        col[x] = x < nc ? x : nc - 1;
    }
    int k = 0;
    for (; k + U <= kc; k += U) {
#pragma GCC unroll 8
        for (int p = 0; p < U; p++) {
            __m256 av = _mm256_loadu_ps(a + (size_t)(k + p) * 8);
            const float *bk = b + (size_t)(k + p) * bs;
#pragma GCC unroll 8
            for (int j = 0; j < J; j++)
                acc[p * J + j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(bk + col[j]), acc[p * J + j]);
        }
    }
    for (; k < kc; k++) {
        __m256 av = _mm256_loadu_ps(a + (size_t)k * 8);
        const float *bk = b + (size_t)k * bs;
#pragma GCC unroll 8
        for (int j = 0; j < J; j++)
            acc[j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(bk + col[j]), acc[j]);
    }
#pragma GCC unroll 8
    for (int p = 1; p < U; p++)
#pragma GCC unroll 8
        for (int j = 0; j < J; j++)
            acc[j] = _mm256_add_ps(acc[j], acc[p * J + j]);
#pragma GCC unroll 8
    for (int j = 0; j < J; j++)
        _mm256_storeu_ps(u + j * 8, acc[j]);
}

__attribute__((target("avx512f,fma")))
static void cols_any(int kc, const float *a, const float *b, size_t bs, int nc, float *u)
{
    if (nc == 1)
        cols_kernel(1, 4, kc, a, b, bs, nc, u);
    else if (nc == 2)
        cols_kernel(2, 4, kc, a, b, bs, nc, u);
    else if (nc <= 4)
        cols_kernel(4, 2, kc, a, b, bs, nc, u);
    else
        cols_kernel(8, 1, kc, a, b, bs, nc, u);
}

/* Row i of the columns' results into lanes [0, nc) of a vector. */
__attribute__((target("avx512f"), always_inline))
static inline __m512 cols_row(const float *u, int i, int nc)
{
    const __m512i idx = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)((1u << nc) - 1), idx,
                                    u + i, 4);
}

/* The 8 x 16 product (one vector per row) over kc steps. */
#define UKR16_DECL                                                      \
    __m512 c00 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps();        \
    __m512 c20 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps();        \
    __m512 c40 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps();        \
    __m512 c60 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps()

#define UKR16_LOOP(BSTEP)                                               \
    do {                                                                \
        for (int k = 0; k < kc; k++) {                                  \
            __m512 b0 = LOADB(0, 0);                                    \
            c00 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), b0, c00);       \
            c10 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), b0, c10);       \
            c20 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), b0, c20);       \
            c30 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), b0, c30);       \
            c40 = _mm512_fmadd_ps(_mm512_set1_ps(a[4]), b0, c40);       \
            c50 = _mm512_fmadd_ps(_mm512_set1_ps(a[5]), b0, c50);       \
            c60 = _mm512_fmadd_ps(_mm512_set1_ps(a[6]), b0, c60);       \
            c70 = _mm512_fmadd_ps(_mm512_set1_ps(a[7]), b0, c70);       \
            a += 8;                                                     \
            b += (BSTEP);                                               \
        }                                                               \
    } while (0)

/* A partial tile whose last nv % 16 columns (1..8 of them) go through
 * cols_any: nv < 32 columns, the first nv / 16 vectors as usual. */
__attribute__((target("avx512f")))
static void ukr_split(int kc, const float *a, const float *b, size_t bs, float *c, size_t ldc,
                      const gemm_epi *ep)
{
    int nv = ep->nv, q = nv / 16, r = nv % 16;
    float u[64] __attribute__((aligned(64)));
    cols_any(kc, a, b + 16 * q, bs, r, u);
    __m512 acc[8][2];
    if (q) {
        UKR16_DECL;
#define LOADB(o, h) _mm512_loadu_ps(b)
        UKR16_LOOP(bs);
#undef LOADB
        acc[0][0] = c00; acc[1][0] = c10; acc[2][0] = c20; acc[3][0] = c30;
        acc[4][0] = c40; acc[5][0] = c50; acc[6][0] = c60; acc[7][0] = c70;
        for (int i = 0; i < 8; i++) acc[i][1] = cols_row(u, i, r);
    } else {
        for (int i = 0; i < 8; i++) {
            acc[i][0] = cols_row(u, i, r);
            acc[i][1] = _mm512_setzero_ps();
        }
    }
    ukr_store(acc, c, ldc, ep);
}

/* Few rows: a tile with at most 4 valid rows (the last pixel of a 7x7 map
 * in conv's transposed form, m not a multiple of 8) computes only R of
 * the panel's 8 rows, in U k-phases so that 2 * R * U = 8 accumulator
 * chains stay independent.  B rows are loaded through the masks (all
 * ones for packed B). */
__attribute__((target("avx512f"), always_inline))
static inline void rows_kernel(int R, int U, int kc, const float *a, const float *b, size_t bs,
                               __mmask16 m0, __mmask16 m1, __m512 acc[8][2])
{
    __m512 s[8][2];
#pragma GCC unroll 8
    for (int x = 0; x < 8; x++)
        s[x][0] = s[x][1] = _mm512_setzero_ps();
    int k = 0;
    for (; k + U <= kc; k += U) {
#pragma GCC unroll 4
        for (int p = 0; p < U; p++) {
            const float *bk = b + (size_t)(k + p) * bs;
            __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
            const float *ak = a + (size_t)(k + p) * 8;
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                __m512 av = _mm512_set1_ps(ak[i]);
                s[p * R + i][0] = _mm512_fmadd_ps(av, b0, s[p * R + i][0]);
                s[p * R + i][1] = _mm512_fmadd_ps(av, b1, s[p * R + i][1]);
            }
        }
    }
    for (; k < kc; k++) {
        const float *bk = b + (size_t)k * bs;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
        const float *ak = a + (size_t)k * 8;
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(ak[i]);
            s[i][0] = _mm512_fmadd_ps(av, b0, s[i][0]);
            s[i][1] = _mm512_fmadd_ps(av, b1, s[i][1]);
        }
    }
#pragma GCC unroll 4
    for (int p = 1; p < U; p++)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            s[i][0] = _mm512_add_ps(s[i][0], s[p * R + i][0]);
            s[i][1] = _mm512_add_ps(s[i][1], s[p * R + i][1]);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        acc[i][0] = i < R ? s[i][0] : _mm512_setzero_ps();
        acc[i][1] = i < R ? s[i][1] : _mm512_setzero_ps();
    }
}

__attribute__((target("avx512f")))
static void ukr_rows(int kc, const float *a, const float *b, size_t bs, float *c, size_t ldc,
                     const gemm_epi *ep)
{
    int nv = ep->nv;
    __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
    __mmask16 m1 = (__mmask16)(nv >= 32 ? 0xffff : nv <= 16 ? 0 : (1u << (nv - 16)) - 1);
    __m512 acc[8][2];
    if (ep->mv == 1)
        rows_kernel(1, 4, kc, a, b, bs, m0, m1, acc);
    else if (ep->mv == 2)
        rows_kernel(2, 2, kc, a, b, bs, m0, m1, acc);
    else
        rows_kernel(4, 1, kc, a, b, bs, m0, m1, acc);
    ukr_store(acc, c, ldc, ep);
}

/* the split pays when the columns past whole vectors are few */
#define SPLIT_PAYS(nv) ((nv) < 32 && (nv) % 16 != 0 && (nv) % 16 <= 8)

/* A partial tile of 9 to 16 columns: one 16-lane vector per row, the
 * columns past nv masked off, where the full tile would multiply a second,
 * all-zero vector as well (a 13x13 map's 169 columns: 5 full tiles and
 * one of 9; a 28x28 map's 784: 24 and one of 16). */
__attribute__((target("avx512f")))
static void ukr_half(int kc, const float *a, const float *b, size_t bs, float *c, size_t ldc,
                     const gemm_epi *ep)
{
    int nv = ep->nv;
    __mmask16 m0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
    UKR16_DECL;
#define LOADB(o, h) _mm512_maskz_loadu_ps(m0, b)
    UKR16_LOOP(bs);
#undef LOADB
    __m512 z = _mm512_setzero_ps();
    __m512 acc[8][2] = {
        { c00, z }, { c10, z }, { c20, z }, { c30, z },
        { c40, z }, { c50, z }, { c60, z }, { c70, z },
    };
    ukr_store(acc, c, ldc, ep);
}
#define HALF_PAYS(nv) ((nv) > 8 && (nv) <= 16)

__attribute__((target("avx512f")))
void gemm_ukr_avx512_8x32(int kc, const float *a, const float *b, float *c, size_t ldc,
                          const gemm_epi *ep)
{
    if (ep->mv <= 4) {
        ukr_rows(kc, a, b, 32, c, ldc, ep);
        return;
    }
    if (SPLIT_PAYS(ep->nv)) {
        ukr_split(kc, a, b, 32, c, ldc, ep);
        return;
    }
    if (HALF_PAYS(ep->nv)) {
        ukr_half(kc, a, b, 32, c, ldc, ep);
        return;
    }
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
    if (ep->mv <= 4) {
        ukr_rows(kc, a, b, ldb, c, ldc, ep);
        return;
    }
    if (SPLIT_PAYS(nv)) {
        ukr_split(kc, a, b, ldb, c, ldc, ep);
        return;
    }
    if (HALF_PAYS(nv)) {
        ukr_half(kc, a, b, ldb, c, ldc, ep);
        return;
    }
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
