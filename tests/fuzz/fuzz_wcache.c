/* fuzz_wcache.c - libFuzzer harness for the packed-weight cache file
 * parser: any bytes either parse into pieces lying inside the buffer or
 * fail with a message; a file that parses, built again from its pieces,
 * parses to the same pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    err_t e;
    wcache w, v;
    /* the key the image holds, so that the checks after it are reached */
    uint64_t kl = 0;
    if (size >= 48)
        memcpy(&kl, data + 40, 8);
    wcache_key k = {(char *)data + 48, kl <= size - 48 ? (size_t)kl : 0}, *key = &k;
    if (size < 48)
        k.text = NULL;
    e.msg[0] = '\0';
    if (wcache_parse(data, size, key, &w, &e) < 0) {
        if (!e.msg[0])
            abort();
        return 0;
    }
    uint64_t sum = 0;
    for (int i = 0; i < w.nnodes; i++)
        for (int k = 0; k < w.nodes[i].log.n; k++) {
            const kmem_piece *p = &w.nodes[i].log.v[k];
            const uint8_t *b = p->p;
            if (b < data || b > data + size || p->n > (size_t)(data + size - b))
                abort();
            for (size_t j = 0; j < p->n; j += 4096)
                sum += b[j];
        }
    void *img;
    size_t len;
    if (wcache_build(key, w.nodes, w.nnodes, &img, &len, &e) == 0) {
        if (wcache_parse(img, len, key, &v, &e) < 0 || v.nnodes != w.nnodes)
            abort();
        for (int i = 0; i < w.nnodes; i++) {
            if (v.nodes[i].node != w.nodes[i].node || v.nodes[i].cached != w.nodes[i].cached ||
                v.nodes[i].log.n != w.nodes[i].log.n)
                abort();
            for (int k = 0; k < w.nodes[i].log.n; k++)
                if (v.nodes[i].log.v[k].n != w.nodes[i].log.v[k].n ||
                    memcmp(v.nodes[i].log.v[k].p, w.nodes[i].log.v[k].p, w.nodes[i].log.v[k].n))
                    abort();
        }
        wcache_clear(&v);
        free(img);
    }
    wcache_clear(&w);
    return (int)(sum & 0);
}
