/* fuzz_queue.c - libFuzzer harness for the shared name list (queue.c):
 * the input up to its first 0x01 byte (at most 40 bytes) is the position
 * file, the rest the list.  Taking names until none is left must end,
 * give names without newlines or NULs of at most QUEUE_LINE_MAX bytes,
 * and say why on any error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "queue.h"

static char dir[64];

static int put(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = n ? fwrite(d, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char list[128], pos[128], name[QUEUE_LINE_MAX + 1];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_queue.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(list, sizeof list, "%s/list", dir);
    snprintf(pos, sizeof pos, "%s/list.pos", dir);
    const uint8_t *sep = memchr(data, 1, size < 40 ? size : 40);
    size_t np = sep ? (size_t)(sep - data) : 0, off = sep ? np + 1 : 0;
    if (put(pos, data, np) < 0 || put(list, data + off, size - off) < 0)
        abort();
    cam_queue q;
    err_t e;
    e.msg[0] = '\0';
    if (queue_open(&q, list, &e) < 0)
        abort();
    int r;
    size_t taken = 0;
    while ((r = queue_next(&q, name, sizeof name, &e)) == 1) {
        size_t n = strlen(name);
        if (n == 0 || n > QUEUE_LINE_MAX || memchr(name, '\n', n) || ++taken > size)
            abort();
    }
    if (r < 0 && !e.msg[0])
        abort();
    queue_close(&q);
    return 0;
}
