/* sha256.c - SHA-256 with the x86 SHA extensions, libmd as the portable
 * path (see sha256.h).  The SHA-NI code follows the structure of Intel's
 * reference (state kept as ABEF/CDGH, two rounds per sha256rnds2); the
 * message schedule is computed four words at a time with
 * sha256msg1/sha256msg2.  tests/unit/test_sha256.c checks it against libmd
 * on every length up to several blocks and on large buffers. */
#include <string.h>
#include <sha2.h>
#include "sha256.h"

void sha256_digest_portable(const void *buf, size_t n, uint8_t out[32])
{
    SHA2_CTX c;
    SHA256Init(&c);
    if (n)
        SHA256Update(&c, buf, n);
    SHA256Final(out, &c);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* state: a..h; data: nblocks x 64 bytes. */
__attribute__((target("sha,sse4.1,ssse3")))
static void blocks_shani(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);     /* DCBA */
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);      /* HGFE */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                             /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                               /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                       /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                            /* CDGH */

    for (; nblocks; nblocks--, data += 64) {
        __m128i abef = s0, cdgh = s1, m[4];
        for (int g = 0; g < 16; g++) {
            __m128i w;
            if (g < 4) {
                w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * g)), bswap);
            } else {
                /* W[i..i+3] from W[i-16..i-13], W[i-12..i-9], W[i-8..i-5], W[i-4..i-1] */
                __m128i t = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
                w = _mm_sha256msg2_epu32(t, m[(g + 3) & 3]);
            }
            m[g & 3] = w;
            __m128i wk = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
            wk = _mm_shuffle_epi32(wk, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, wk);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }

    tmp = _mm_shuffle_epi32(s0, 0x1B);                              /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);                               /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);                            /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);                               /* HGFE */
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

static int have_shani(void)
{
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        v = 0;
        if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1) &&
            __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA))
            v = 1;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

int sha256_digest_shani(const void *buf, size_t n, uint8_t out[32])
{
    if (!have_shani())
        return -1;
    uint32_t st[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    const uint8_t *p = buf;
    size_t full = n / 64;
    if (full)
        blocks_shani(st, p, full);
    /* Padding: 0x80, zeros, the bit length big-endian, in one or two blocks. */
    uint8_t tail[128];
    size_t rem = n % 64, tn = rem < 56 ? 64 : 128;
    memset(tail, 0, sizeof tail);
    if (rem)
        memcpy(tail, p + full * 64, rem);
    tail[rem] = 0x80;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[tn - 1 - i] = (uint8_t)(bits >> (8 * i));
    blocks_shani(st, tail, tn / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
    return 0;
}
#else
int sha256_digest_shani(const void *buf, size_t n, uint8_t out[32])
{
    (void)buf;
    (void)n;
    (void)out;
    return -1;
}
#endif

void sha256_digest(const void *buf, size_t n, uint8_t out[32])
{
    if (sha256_digest_shani(buf, n, out) < 0)
        sha256_digest_portable(buf, n, out);
}
