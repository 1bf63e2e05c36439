/* test_graph_sha256.c - the SHA-NI SHA-256 agrees with libmd on every
 * length around the block and padding boundaries and on large buffers;
 * sha256_hex gives the FIPS 180-2 test vectors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tap.h"
#include "graph.h"
#include "sha256.h"

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
    if (sha256_digest_shani("", 0, d1) < 0) {
        tap_skip("no SHA extensions on this CPU: only the portable path is used");
        return tap_done();
    }
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
        sha256_digest_shani(buf + (n & 1), n, d1);
        sha256_digest_portable(buf + (n & 1), n, d2);
        bad += memcmp(d1, d2, 32) != 0;
    }
    tap_ok(bad == 0, "SHA-NI equals libmd for lengths 0..300 (%d differ)", bad);
    sha256_digest_shani(buf, big + 1, d1);
    sha256_digest_portable(buf, big + 1, d2);
    tap_ok(memcmp(d1, d2, 32) == 0, "SHA-NI equals libmd on 3 MiB + 1");
    double t0 = now_ms();
    sha256_digest_shani(buf, big, d1);
    double t1 = now_ms();
    sha256_digest_portable(buf, big, d2);
    double t2 = now_ms();
    tap_diag("3 MiB: SHA-NI %.2f ms, libmd %.2f ms", t1 - t0, t2 - t1);
    free(buf);
    return tap_done();
}
