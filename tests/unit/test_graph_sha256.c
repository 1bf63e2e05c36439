/* test_graph_sha256.c - sha256 (libcrypto) gives the FIPS 180-2 test
 * vectors through sha256_hex, agrees with a plain reference implementation
 * on every length around the block and padding boundaries, and gives the
 * same digest whether a buffer is hashed in one call or in pieces. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tap.h"
#include "graph.h"
#include "sha256.h"

/* FIPS 180-4 SHA-256, written for clarity (the reference of this test). */
static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void ref_block(uint32_t h[8], const uint8_t *p)
{
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
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++)
        w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7] +
               (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10));
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
        uint32_t t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof *v);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

static void ref_sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    size_t full = n / 64;
    for (size_t i = 0; i < full; i++)
        ref_block(h, p + 64 * i);
    uint8_t tail[128] = { 0 };
    size_t rem = n % 64, tn = rem < 56 ? 64 : 128;
    if (rem)
        memcpy(tail, p + 64 * full, rem);
    tail[rem] = 0x80;
    for (int i = 0; i < 8; i++)
        tail[tn - 1 - i] = (uint8_t)((uint64_t)n * 8 >> (8 * i));
    for (size_t i = 0; i < tn; i += 64)
        ref_block(h, tail + i);
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    tap_ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
           "FIPS 180-2 vector \"abc\"");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    tap_ok(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0,
           "FIPS 180-2 vector of 448 bits (two padding blocks)");
    size_t mn = 1000000;
    char *million = malloc(mn);
    memset(million, 'a', mn);
    sha256_hex(million, mn, hex);
    tap_ok(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
           "FIPS 180-2 vector: a million 'a'");
    free(million);
    sha256_hex(NULL, 0, hex);
    tap_ok(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
           "empty input");

    uint8_t d1[32], d2[32];
    size_t big = (size_t)3 << 20;
    uint8_t *buf = malloc(big + 1);
    uint64_t r = 88172645463325252ULL;
    for (size_t i = 0; i < big + 1; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        buf[i] = (uint8_t)r;
    }
    int bad = 0;
    for (size_t n = 0; n <= 300; n++) {
        /* unaligned start too */
        bad += sha256_digest(buf + (n & 1), n, d1) != 0;
        ref_sha256(buf + (n & 1), n, d2);
        bad += memcmp(d1, d2, 32) != 0;
    }
    tap_ok(bad == 0, "sha256_digest equals the reference for lengths 0..300 (%d differ)", bad);

    /* pieces of awkward sizes, as graph_load feeds a mapping */
    bad = 0;
    for (size_t n = 0; n <= 200; n += 7) {
        sha256_ctx c;
        bad += sha256_begin(&c) != 0;
        for (size_t off = 0; off < n;) {
            size_t piece = 1 + (off * 31 + n) % 70;
            if (piece > n - off)
                piece = n - off;
            bad += sha256_update(&c, buf + off, piece) != 0;
            off += piece;
        }
        bad += sha256_end(&c, d1) != 0;
        ref_sha256(buf, n, d2);
        bad += memcmp(d1, d2, 32) != 0;
    }
    tap_ok(bad == 0, "incremental digests in uneven pieces equal the reference (%d differ)", bad);

    double t0 = now_ms();
    sha256_digest(buf, big + 1, d1);
    double t1 = now_ms();
    ref_sha256(buf, big + 1, d2);
    double t2 = now_ms();
    tap_ok(memcmp(d1, d2, 32) == 0, "equal to the reference on 3 MiB + 1");
    tap_diag("3 MiB: libcrypto %.2f ms, plain C reference %.2f ms", t1 - t0, t2 - t1);
    free(buf);
    return tap_done();
}
