/* sha256.c - SHA-256 by libcrypto's EVP interface (see sha256.h). */
#include <openssl/evp.h>
#include "sha256.h"

int sha256_begin(sha256_ctx *c)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    c->md = NULL;
    if (!m)
        return -1;
    if (EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(m);
        return -1;
    }
    c->md = m;
    return 0;
}

int sha256_update(sha256_ctx *c, const void *buf, size_t n)
{
    if (!c->md)
        return -1;
    if (n && EVP_DigestUpdate(c->md, buf, n) != 1) {
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
        return -1;
    }
    return 0;
}

int sha256_end(sha256_ctx *c, uint8_t out[32])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!c->md)
        return -1;
    int ok = EVP_DigestFinal_ex(c->md, d, &len) == 1 && len == 32;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    if (!ok)
        return -1;
    for (int i = 0; i < 32; i++)
        out[i] = d[i];
    return 0;
}

int sha256_digest(const void *buf, size_t n, uint8_t out[32])
{
    sha256_ctx c;
    if (sha256_begin(&c) < 0)
        return -1;
    sha256_update(&c, buf, n);
    return sha256_end(&c, out);
}
