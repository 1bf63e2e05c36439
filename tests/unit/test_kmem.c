/* Pools of packed weights (kmem.h): alignment, many sizes without overlap,
 * reuse of the last piece, the limit, pieces larger than a chunk, and
 * kmem_get / kmem_put with and without a current pool. */
#include <stdint.h>
#include <string.h>
#include "../tap.h"
#include "kmem.h"

static int aligned(const void *p)
{
    return ((uintptr_t)p & (KMEM_ALIGN - 1)) == 0;
}

int main(void)
{
    err_t e;

    /* many sizes: aligned, fresh pieces zero, writable in full, disjoint */
    kmem *m = kmem_create(0);
    tap_ok(m != NULL, "create");
    enum { N = 300 };
    unsigned char *p[N];
    size_t sz[N];
    int ok_align = 1, ok_zero = 1, ok_fill = 1;
    for (int i = 0; i < N; i++) {
        sz[i] = (size_t)(i * i * 37 % 200003) + (size_t)(i % 7);
        if (i == 17) sz[i] = 0;
        if (i == 100) sz[i] = (size_t)5 << 20;    /* several huge pages */
        p[i] = kmem_alloc(m, sz[i], &e);
        if (!p[i] || !aligned(p[i]))
            ok_align = 0;
        if (!p[i])
            break;
        for (size_t k = 0; k < sz[i]; k++)
            if (p[i][k]) { ok_zero = 0; break; }
        memset(p[i], i & 0xff, sz[i]);
    }
    tap_ok(ok_align, "%d pieces of 0 to 5 MB, each 64-byte aligned", N);
    tap_ok(ok_zero, "fresh pieces read as zeros");
    for (int i = 0; i < N && p[i]; i++)
        for (size_t k = 0; k < sz[i]; k++)
            if (p[i][k] != (i & 0xff)) { ok_fill = 0; break; }
    tap_ok(ok_fill, "no piece overlaps another (each keeps its own bytes)");
    size_t used = kmem_used(m);
    tap_ok(used >= (size_t)5 << 20 && kmem_mapped(m) >= used, "used %zu <= mapped %zu", used,
           kmem_mapped(m));

    /* the last piece is given back and its place taken by the next */
    unsigned char *a = kmem_alloc(m, 1000, &e);
    kmem_release(m, a);
    tap_ok(kmem_used(m) == used, "releasing the last piece gives its bytes back");
    unsigned char *b = kmem_alloc(m, 900, &e);
    tap_ok(a && b == a, "the next piece takes its place");
    /* an older piece: its bytes count no longer; the others are intact */
    kmem_release(m, p[100]);
    tap_ok(kmem_used(m) < used, "releasing an older piece counts its bytes out");
    tap_ok(p[101][0] == 101 && p[99][sz[99] - 1] == 99, "its neighbours keep their bytes");
    kmem_release(m, NULL);

    /* trimming keeps every piece and allows more */
    kmem_trim(m);
    tap_ok(p[101][0] == 101 && p[N - 1][sz[N - 1] - 1] == ((N - 1) & 0xff),
           "kmem_trim keeps the pieces' bytes");
    unsigned char *t = kmem_alloc(m, 3000, &e);
    if (t)
        memset(t, 5, 3000);
    tap_ok(t && t[2999] == 5 && p[N - 1][0] == ((N - 1) & 0xff), "and a piece taken after it");
    kmem_trim(NULL);

    /* larger than a chunk */
    unsigned char *big = kmem_alloc(m, (size_t)100 << 20, &e);
    tap_ok(big && aligned(big), "a 100 MB piece (larger than a chunk)");
    if (big) {
        big[0] = 1;
        big[((size_t)100 << 20) - 1] = 2;
    }
    /* overflowing sizes fail cleanly */
    e.msg[0] = 0;
    tap_ok(kmem_alloc(m, SIZE_MAX, &e) == NULL && e.msg[0], "SIZE_MAX fails: %s", e.msg);
    tap_ok(kmem_alloc(m, SIZE_MAX - 64, &e) == NULL, "SIZE_MAX - 64 fails");
    kmem_destroy(m);

    /* exhaustion: a limit of 1 MB */
    m = kmem_create((size_t)1 << 20);
    int n = 0;
    void *q;
    while ((q = kmem_alloc(m, 100000, &e)) != NULL && n < 100)
        n++;
    tap_ok(q == NULL && n == 10, "a 1 MB pool holds 10 pieces of 100 KB (%d), then fails", n);
    tap_ok(strstr(e.msg, "1048576") != NULL, "error names the limit: %s", e.msg);
    tap_ok(kmem_used(m) <= (size_t)1 << 20, "used %zu within the limit", kmem_used(m));
    tap_ok(kmem_alloc(m, (size_t)2 << 20, &e) == NULL, "a piece larger than the limit fails");
    kmem_destroy(m);
    kmem_destroy(NULL);

    /* kmem_get / kmem_put: malloc without a pool, the pool with one */
    tap_ok(kmem_current() == NULL, "no current pool at first");
    float *f = kmem_get(sizeof(float) * 1000);
    tap_ok(f && aligned(f), "kmem_get without a pool: aligned");
    float *z = kmem_get_zero(sizeof(float) * 333);
    int zero = z != NULL;
    for (int i = 0; z && i < 333; i++)
        zero &= z[i] == 0.0f;
    tap_ok(zero, "kmem_get_zero without a pool: zeros");
    m = kmem_create(0);
    kmem_set_current(m);
    tap_ok(kmem_current() == m, "current pool set");
    float *g = kmem_get(sizeof(float) * 5000);
    tap_ok(g && aligned(g) && kmem_used(m) >= sizeof(float) * 5000, "kmem_get takes from the pool");
    size_t u1 = kmem_used(m);
    kmem_put(g);
    tap_ok(kmem_used(m) < u1, "kmem_put of the last piece gives it back");
    g = kmem_get(sizeof(float) * 5000);
    kmem_put(f);                      /* malloc'd: freed whatever the pool */
    kmem_put(z);
    kmem_put(NULL);
    kmem_set_current(NULL);
    kmem_put(g);                      /* not current: left to kmem_destroy */
    tap_ok(kmem_used(m) >= sizeof(float) * 5000, "a piece put without its pool current stays");
    kmem_destroy(m);
    m = kmem_create(1000);
    kmem_set_current(m);
    tap_ok(kmem_get(5000) == NULL, "kmem_get from an exhausted pool: NULL");
    kmem_destroy(m);
    tap_ok(kmem_current() == NULL, "destroying the current pool unsets it");

    /* a mapping of its own */
    size_t mn = ((size_t)9 << 20) + 123;
    unsigned char *mp = kmem_map(mn);
    int mz = mp != NULL;
    for (size_t i = 0; mp && i < mn; i += 4096)
        mz &= mp[i] == 0;
    if (mp)
        memset(mp, 3, mn);
    tap_ok(mz && mp[mn - 1] == 3 && ((uintptr_t)mp & 4095) == 0, "kmem_map: zeros, page-aligned, writable");
    kmem_unmap(mp, mn);
    tap_ok(kmem_map(0) == NULL && kmem_map(SIZE_MAX) == NULL, "kmem_map of 0 or SIZE_MAX bytes: NULL");
    kmem_unmap(NULL, 0);

    /* hint on a malloc'd block: harmless */
    size_t hn = (size_t)6 << 20;
    unsigned char *h = malloc(hn);
    if (h) {
        kmem_hint_huge(h, hn);
        memset(h, 7, hn);
    }
    tap_ok(h && h[hn - 1] == 7, "kmem_hint_huge leaves the block usable");
    free(h);
    kmem_hint_huge(NULL, 0);
    return tap_done();
}
