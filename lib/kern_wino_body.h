/* kern_wino_body.h - the F(4x4, 3x3) transforms for one vector width.
 * Included by conv_wino.c once per SIMD level with
 *   WB_W       lanes (floats per vector)
 *   WB_NAME(x) the name of x at this level
 *   WB_ATTR    the function attribute selecting the instruction set
 * Written with GCC vector types: the same code becomes AVX-512, AVX2 or
 * SSE/plain code according to WB_ATTR. */

typedef float WB_NAME(v) __attribute__((vector_size(WB_W * 4), aligned(4), may_alias));
typedef int WB_NAME(vi) __attribute__((vector_size(WB_W * 4), aligned(4), may_alias));

/* t_i = sum_j BT[i][j] d_j, BT the rows of B^T:
 *   4  0 -5  0  1  0
 *   0 -4 -4  1  1  0
 *   0  4 -4 -1  1  0
 *   0 -2 -1  2  1  0
 *   0  2 -1 -2  1  0
 *   0  4  0 -5  0  1 */
WB_ATTR
static void WB_NAME(rows)(const float *const d[6], float *const t[6], int n)
{
    typedef WB_NAME(v) vf;
    for (int x = 0; x < n; x += WB_W) {
        vf d0 = *(const vf *)(d[0] + x), d1 = *(const vf *)(d[1] + x);
        vf d2 = *(const vf *)(d[2] + x), d3 = *(const vf *)(d[3] + x);
        vf d4 = *(const vf *)(d[4] + x), d5 = *(const vf *)(d[5] + x);
        vf a = d4 - 4.0f * d2, b = d3 - 4.0f * d1;     /* rows 1, 2 */
        vf c = d4 - d2, e = 2.0f * (d3 - d1);          /* rows 3, 4 */
        *(vf *)(t[0] + x) = 4.0f * d0 - 5.0f * d2 + d4;
        *(vf *)(t[1] + x) = a + b;
        *(vf *)(t[2] + x) = a - b;
        *(vf *)(t[3] + x) = c + e;
        *(vf *)(t[4] + x) = c - e;
        *(vf *)(t[5] + x) = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* x clamped to [lo, hi] with NaN kept, in the output transforms (which
 * set lov, hiv and their bit patterns loi, hii). */
#define WB_CLAMP(x) ({ vf x_ = (x); vi xi_ = (vi)x_, lm_ = x_ < lov, hm_ = x_ > hiv; \
                      (vf)((xi_ & ~(lm_ | hm_)) | (loi & lm_) | (hii & hm_)); })

/* One tile's output transform for channels [0, n):
 *   Y = A^T m A + bias,  A^T = 1  1  1  1  1  0
 *                              0  1 -1  2 -2  0
 *                              0  1  1  4  4  0
 *                              0  1 -1  8 -8  1
 * m: element (x = 6i + k, channel c) at m[x * ldm + c]; y: pixel (r, s) of
 * channel c at y[(4r + s) * ldy + c], clamped to [lo, hi] (NaN kept). */
WB_ATTR
static void WB_NAME(out)(const float *m, size_t ldm, const float *bias, float lo, float hi,
                         float *y, size_t ldy, int n)
{
    typedef WB_NAME(v) vf;
    typedef WB_NAME(vi) vi;
    vf lov = lo - (vf){0}, hiv = hi - (vf){0};
    vi loi = (vi)lov, hii = (vi)hiv;
    for (int c = 0; c < n; c += WB_W) {
        vf s[4][6];
        for (int k = 0; k < 6; k++) {
            const float *mk = m + (size_t)k * ldm + c;
            vf m0 = *(const vf *)mk, m1 = *(const vf *)(mk + 6 * ldm);
            vf m2 = *(const vf *)(mk + 12 * ldm), m3 = *(const vf *)(mk + 18 * ldm);
            vf m4 = *(const vf *)(mk + 24 * ldm), m5 = *(const vf *)(mk + 30 * ldm);
            vf a = m1 + m2, b = m1 - m2, cc = m3 + m4, d = m3 - m4;
            s[0][k] = m0 + a + cc;
            s[1][k] = b + 2.0f * d;
            s[2][k] = a + 4.0f * cc;
            s[3][k] = b + 8.0f * d + m5;
        }
        vf bv = *(const vf *)(bias + c);
        for (int r = 0; r < 4; r++) {
            vf a = s[r][1] + s[r][2], b = s[r][1] - s[r][2];
            vf cc = s[r][3] + s[r][4], d = s[r][3] - s[r][4];
            float *yr = y + (size_t)(4 * r) * ldy + c;
            *(vf *)yr = WB_CLAMP(s[r][0] + a + cc + bv);
            *(vf *)(yr + ldy) = WB_CLAMP(b + 2.0f * d + bv);
            *(vf *)(yr + 2 * ldy) = WB_CLAMP(a + 4.0f * cc + bv);
            *(vf *)(yr + 3 * ldy) = WB_CLAMP(b + 8.0f * d + s[r][5] + bv);
        }
    }
}

/* The output transform of F(2x2, 5x5) (same 6x6 products, the same
 * points), as WB_NAME(out) with 2x2 pixels per tile:
 *   A^T = 1  1  1  1  1  0
 *         0  1 -1  2 -2  1 */
WB_ATTR
static void WB_NAME(out2)(const float *m, size_t ldm, const float *bias, float lo, float hi,
                          float *y, size_t ldy, int n)
{
    typedef WB_NAME(v) vf;
    typedef WB_NAME(vi) vi;
    vf lov = lo - (vf){0}, hiv = hi - (vf){0};
    vi loi = (vi)lov, hii = (vi)hiv;
    for (int c = 0; c < n; c += WB_W) {
        vf s[2][6];
        for (int k = 0; k < 6; k++) {
            const float *mk = m + (size_t)k * ldm + c;
            vf m0 = *(const vf *)mk, m1 = *(const vf *)(mk + 6 * ldm);
            vf m2 = *(const vf *)(mk + 12 * ldm), m3 = *(const vf *)(mk + 18 * ldm);
            vf m4 = *(const vf *)(mk + 24 * ldm), m5 = *(const vf *)(mk + 30 * ldm);
            s[0][k] = m0 + (m1 + m2) + (m3 + m4);
            s[1][k] = (m1 - m2) + 2.0f * (m3 - m4) + m5;
        }
        vf bv = *(const vf *)(bias + c);
        for (int r = 0; r < 2; r++) {
            float *yr = y + (size_t)(2 * r) * ldy + c;
            *(vf *)yr = WB_CLAMP(s[r][0] + (s[r][1] + s[r][2]) + (s[r][3] + s[r][4]) + bv);
            *(vf *)(yr + ldy) =
                WB_CLAMP((s[r][1] - s[r][2]) + 2.0f * (s[r][3] - s[r][4]) + s[r][5] + bv);
        }
    }
}
#undef WB_CLAMP

/* G applied to a0, a1, a2 (three taps down a column or across a row):
 *   G = 1/4     0     0
 *      -1/6  -1/6  -1/6
 *      -1/6   1/6  -1/6
 *      1/24  1/12   1/6
 *      1/24 -1/12   1/6
 *         0     0     1 */
#define WB_G(a0, a1, a2, o)                                             \
    do {                                                                \
        vf s02_ = a0 + a2, q_ = (1.0f / 24) * a0 + (1.0f / 6) * a2;    \
        o[0] = 0.25f * a0;                                              \
        o[1] = (-1.0f / 6) * (s02_ + a1);                               \
        o[2] = (-1.0f / 6) * (s02_ - a1);                               \
        o[3] = q_ + (1.0f / 12) * a1;                                   \
        o[4] = q_ - (1.0f / 12) * a1;                                   \
        o[5] = a2;                                                      \
    } while (0)

/* Filter transform U = G g G^T for n filters side by side: tap t (3a + b
 * of the 3x3 kernel) of filter c at g[t * gs + c]; rows i0 .. i1-1 of U,
 * element (i, k) of filter c to u[(6 (i - i0) + k) * us + c]. */
WB_ATTR
static void WB_NAME(wt)(const float *g, size_t gs, int i0, int i1, float *u, size_t us, int n)
{
    typedef WB_NAME(v) vf;
    for (int c = 0; c < n; c += WB_W) {
        vf t[9], col[3][6], o[6];
        for (int k = 0; k < 9; k++) t[k] = *(const vf *)(g + (size_t)k * gs + c);
        for (int b = 0; b < 3; b++) WB_G(t[b], t[3 + b], t[6 + b], col[b]);
        for (int i = i0; i < i1; i++) {
            WB_G(col[0][i], col[1][i], col[2][i], o);
            float *ui = u + (size_t)(6 * (i - i0)) * us + c;
            for (int k = 0; k < 6; k++) *(vf *)(ui + (size_t)k * us) = o[k];
        }
    }
}
#undef WB_G

/* G of F(2x2, 5x5) applied to five taps a0..a4:
 *   G = 1/4     0     0     0     0
 *      -1/6  -1/6  -1/6  -1/6  -1/6
 *      -1/6   1/6  -1/6   1/6  -1/6
 *      1/24  1/12   1/6   1/3   2/3
 *      1/24 -1/12   1/6  -1/3   2/3
 *         0     0     0     0     1 */
#define WB_G5(a0, a1, a2, a3, a4, o)                                    \
    do {                                                                \
        vf e_ = a0 + a2 + a4, d_ = a1 + a3;                             \
        vf p_ = (1.0f / 24) * a0 + (1.0f / 6) * a2 + (2.0f / 3) * a4;   \
        vf q_ = (1.0f / 12) * a1 + (1.0f / 3) * a3;                     \
        o[0] = 0.25f * a0;                                              \
        o[1] = (-1.0f / 6) * (e_ + d_);                                 \
        o[2] = (-1.0f / 6) * (e_ - d_);                                 \
        o[3] = p_ + q_;                                                 \
        o[4] = p_ - q_;                                                 \
        o[5] = a4;                                                      \
    } while (0)

/* Filter transform of F(2x2, 5x5), as WB_NAME(wt) with 25 taps (5a + b). */
WB_ATTR
static void WB_NAME(wt5)(const float *g, size_t gs, int i0, int i1, float *u, size_t us,
                         int n)
{
    typedef WB_NAME(v) vf;
    for (int c = 0; c < n; c += WB_W) {
        vf t[25], col[5][6], o[6];
        for (int k = 0; k < 25; k++) t[k] = *(const vf *)(g + (size_t)k * gs + c);
        for (int b = 0; b < 5; b++) WB_G5(t[b], t[5 + b], t[10 + b], t[15 + b], t[20 + b], col[b]);
        for (int i = i0; i < i1; i++) {
            WB_G5(col[0][i], col[1][i], col[2][i], col[3][i], col[4][i], o);
            float *ui = u + (size_t)(6 * (i - i0)) * us + c;
            for (int k = 0; k < 6; k++) *(vf *)(ui + (size_t)k * us) = o[k];
        }
    }
}
#undef WB_G5
