/* ref/sgemm.c - plain matrix product, the yardstick for sgemm().
 *
 * C[m x n] = alpha * op(A) * op(B) + beta * C (+ bias[j]), row-major.
 * op(A) is m x k: A[i*lda + p], or A[p*lda + i] when transa.
 * op(B) is k x n: B[p*ldb + j], or B[j*ldb + p] when transb.
 * beta == 0 ignores C's previous contents (NaNs in C do not leak).
 */
#include "kernels.h"

void ref_sgemm(int transa, int transb, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc, const float *bias)
{
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) {
                float av = transa ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = transb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += (double)av * bv;
            }
            double v = alpha * s;
            if (beta != 0.0f) v += (double)beta * c[(size_t)i * ldc + j];
            if (bias) v += bias[j];
            c[(size_t)i * ldc + j] = (float)v;
        }
    }
}
