/* kern_gemv.c - sgemm for very few rows (a classifier's fully connected
 * layer on one image: m = 1, n = 1000, k = 1024): matrix-vector products
 * straight from B, with no packing.  B transposed (n x k, the usual
 * layout of FC weights) is a dot product per output, otherwise rows of B
 * are accumulated (axpy).  Columns are split over the threads. */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "kern_gemv.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, int k)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int p = 0;
    for (; p + 64 <= k; p += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p), _mm512_loadu_ps(b + p), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p + 16), _mm512_loadu_ps(b + p + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p + 32), _mm512_loadu_ps(b + p + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p + 48), _mm512_loadu_ps(b + p + 48), s3);
    }
    for (; p + 16 <= k; p += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p), _mm512_loadu_ps(b + p), s0);
    if (p < k) {
        __mmask16 m = (__mmask16)((1u << (k - p)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + p), _mm512_maskz_loadu_ps(m, b + p), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* y[0..n) += av * x[0..n) */
__attribute__((target("avx512f")))
static void axpy_avx512(float *y, float av, const float *x, int n)
{
    __m512 a = _mm512_set1_ps(av);
    int j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(y + j, _mm512_fmadd_ps(a, _mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j)));
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(y + j, m, _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m, x + j),
                                                        _mm512_maskz_loadu_ps(m, y + j)));
    }
}

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, int k)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int p = 0;
    for (; p + 32 <= k; p += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 8), _mm256_loadu_ps(b + p + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 16), _mm256_loadu_ps(b + p + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + p + 24), _mm256_loadu_ps(b + p + 24), s3);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; p < k; p++) r += a[p] * b[p];
    return r;
}

__attribute__((target("avx2,fma")))
static void axpy_avx2(float *y, float av, const float *x, int n)
{
    __m256 a = _mm256_set1_ps(av);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
    for (; j < n; j++) y[j] += av * x[j];
}
#endif

/* B (b, x below) may be a model file's bytes read in place, at any byte
 * alignment (a classifier whose packing a first run leaves for later):
 * read through memcpy here, through unaligned loads above. */
static float ld(const float *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float dot_c(const float *a, const float *b, int k)
{
    float s[8] = {0};
    int p = 0;
    for (; p + 8 <= k; p += 8)
        for (int i = 0; i < 8; i++) s[i] += a[p + i] * ld(b + p + i);
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; p < k; p++) r += a[p] * ld(b + p);
    return r;
}

static void axpy_c(float *y, float av, const float *x, int n)
{
    for (int j = 0; j < n; j++) y[j] += av * ld(x + j);
}

typedef struct {
    int level, transb, m, n, k;
    float alpha, beta;
    const float *a;      /* m x k, contiguous rows */
    const float *b;
    int ldb;
    float *c;
    int ldc;
    const float *bias;
    int chunk;           /* columns per task */
    float *acc;          /* transb == 0: m x n accumulators */
} gemv_job;

static void gemv_task(void *ctx, int task, int thread)
{
    const gemv_job *j = ctx;
    int j0 = task * j->chunk, j1 = j0 + j->chunk < j->n ? j0 + j->chunk : j->n;
    for (int i = 0; i < j->m; i++) {
        const float *a = j->a + (size_t)i * j->k;
        float *c = j->c + (size_t)i * j->ldc;
        if (j->transb) {
            for (int x = j0; x < j1; x++) {
                const float *b = j->b + (size_t)x * j->ldb;
                float s;
#if defined(__x86_64__)
                if (j->level >= SIMD_AVX512) s = dot_avx512(a, b, j->k);
                else if (j->level >= SIMD_AVX2) s = dot_avx2(a, b, j->k);
                else
#endif
                    s = dot_c(a, b, j->k);
                float v = j->alpha * s;
                if (j->beta != 0.0f) v += j->beta * c[x];
                if (j->bias) v += j->bias[x];
                c[x] = v;
            }
        } else {
            float *acc = j->acc + (size_t)i * j->n;
            memset(acc + j0, 0, (size_t)(j1 - j0) * sizeof(float));
            for (int p = 0; p < j->k; p++) {
                const float *b = j->b + (size_t)p * j->ldb + j0;
#if defined(__x86_64__)
                if (j->level >= SIMD_AVX512) axpy_avx512(acc + j0, a[p], b, j1 - j0);
                else if (j->level >= SIMD_AVX2) axpy_avx2(acc + j0, a[p], b, j1 - j0);
                else
#endif
                    axpy_c(acc + j0, a[p], b, j1 - j0);
            }
            for (int x = j0; x < j1; x++) {
                float v = j->alpha * acc[x];
                if (j->beta != 0.0f) v += j->beta * c[x];
                if (j->bias) v += j->bias[x];
                c[x] = v;
            }
        }
    }
}

int gemv_small_m(int transa, int transb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc, const float *bias, threadpool *tp)
{
    gemv_job j = { simd_level(), transb, m, n, k, alpha, beta, NULL, b, ldb, c, ldc, bias,
                   0, NULL };
    /* op(A) rows made contiguous, and accumulators for the axpy form */
    size_t an = (size_t)m * k, cn = transb ? 0 : (size_t)m * n;
    float *buf = malloc((an + cn) * sizeof(float));
    if (!buf) return -1;
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++)
            buf[(size_t)i * k + p] = transa ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
    j.a = buf;
    j.acc = transb ? NULL : buf + an;
    int nt = tp_size(tp);
    if ((double)m * n * k < 1e5) nt = 1;
    j.chunk = (n + nt * 4 - 1) / (nt * 4);
    if (j.chunk < 16) j.chunk = 16;
    int tasks = (n + j.chunk - 1) / j.chunk;
    tp_run(nt > 1 ? tp : NULL, tasks, gemv_task, &j);
    free(buf);
    return 0;
}
