/* gemm.c - single-precision matrix product for the engine's Gemm/MatMul
 * and for tests.  See kernels.h for the contract. */
#include <stdlib.h>
#include "kernels.h"

typedef struct {
    int transa, transb, m, n, k;
    float alpha, beta;
    const float *a, *b, *bias;
    int lda, ldb, ldc;
    float *c;
    int rows;           /* rows of C per task */
} sgemm_job;

#define SG_KB 256       /* k block: a row block of B stays in cache */

/* Rows [i0, i1) of C.  Inner loop runs along a row of C and of B so the
 * compiler vectorises it; op(A) elements are read one at a time. */
static void sgemm_rows(const sgemm_job *j, int i0, int i1)
{
    int n = j->n, k = j->k;
    for (int i = i0; i < i1; i++) {
        float *c = j->c + (size_t)i * j->ldc;
        if (j->beta == 0.0f)
            for (int x = 0; x < n; x++) c[x] = 0.0f;
        else if (j->beta != 1.0f)
            for (int x = 0; x < n; x++) c[x] *= j->beta;
    }
    if (!j->transb) {
        for (int p0 = 0; p0 < k; p0 += SG_KB) {
            int p1 = p0 + SG_KB < k ? p0 + SG_KB : k;
            for (int i = i0; i < i1; i++) {
                float *restrict c = j->c + (size_t)i * j->ldc;
                for (int p = p0; p < p1; p++) {
                    float av = j->alpha * (j->transa ? j->a[(size_t)p * j->lda + i]
                                                     : j->a[(size_t)i * j->lda + p]);
                    const float *restrict b = j->b + (size_t)p * j->ldb;
                    for (int x = 0; x < n; x++) c[x] += av * b[x];
                }
            }
        }
    } else {
        /* B transposed: dot products along k, both operands contiguous
         * when A is not transposed. */
        for (int i = i0; i < i1; i++) {
            float *c = j->c + (size_t)i * j->ldc;
            for (int x = 0; x < n; x++) {
                const float *b = j->b + (size_t)x * j->ldb;
                float s = 0.0f;
                if (!j->transa) {
                    const float *a = j->a + (size_t)i * j->lda;
                    for (int p = 0; p < k; p++) s += a[p] * b[p];
                } else {
                    for (int p = 0; p < k; p++) s += j->a[(size_t)p * j->lda + i] * b[p];
                }
                c[x] += j->alpha * s;
            }
        }
    }
    if (j->bias)
        for (int i = i0; i < i1; i++) {
            float *c = j->c + (size_t)i * j->ldc;
            for (int x = 0; x < n; x++) c[x] += j->bias[x];
        }
}

static void sgemm_task(void *ctx, int task, int thread)
{
    const sgemm_job *j = ctx;
    int i0 = task * j->rows, i1 = i0 + j->rows;
    if (i1 > j->m) i1 = j->m;
    sgemm_rows(j, i0, i1);
}

void sgemm(int transa, int transb, int m, int n, int k, float alpha,
           const float *a, int lda, const float *b, int ldb, float beta,
           float *c, int ldc, const float *bias, threadpool *tp)
{
    if (m <= 0 || n <= 0) return;
    sgemm_job j = { transa, transb, m, n, k < 0 ? 0 : k, alpha, beta, a, b, bias,
                    lda, ldb, ldc, c, 0 };
    int nt = tp_size(tp);
    double work = (double)m * n * (k > 0 ? k : 1);
    int tasks = work < 65536.0 ? 1 : nt * 4;
    if (tasks > m) tasks = m;
    j.rows = (m + tasks - 1) / tasks;
    tasks = (m + j.rows - 1) / j.rows;
    tp_run(tp, tasks, sgemm_task, &j);
}
