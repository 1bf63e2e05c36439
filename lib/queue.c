/* queue.c - a list of image names shared out among processes (queue.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "queue.h"

int queue_open(cam_queue *q, const char *path, err_t *e)
{
    size_t n = strlen(path);
    q->fd = q->pfd = -1;
    q->path = malloc(n + 1);
    q->ppath = malloc(n + 5);
    if (!q->path || !q->ppath) {
        queue_close(q);
        return err_set(e, "out of memory");
    }
    memcpy(q->path, path, n + 1);
    memcpy(q->ppath, path, n);
    memcpy(q->ppath + n, ".pos", 5);
    if ((q->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err_set(e, "%s: %s", path, strerror(errno));
        queue_close(q);
        return -1;
    }
    if ((q->pfd = open(q->ppath, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
        err_set(e, "%s: %s", q->ppath, strerror(errno));
        queue_close(q);
        return -1;
    }
    return 0;
}

void queue_close(cam_queue *q)
{
    if (q->fd >= 0)
        close(q->fd);
    if (q->pfd >= 0)
        close(q->pfd);
    free(q->path);
    free(q->ppath);
    q->fd = q->pfd = -1;
    q->path = q->ppath = NULL;
}

/* The position in the locked position file: 0 for an empty file. */
static int read_pos(cam_queue *q, int64_t *pos, err_t *e)
{
    char b[32];
    ssize_t k;
    do
        k = pread(q->pfd, b, sizeof b - 1, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return err_set(e, "%s: %s", q->ppath, strerror(errno));
    b[k] = '\0';
    /* empty, or digits and an optional newline */
    int64_t v = 0;
    int i = 0;
    for (; i < k && i < 18 && b[i] >= '0' && b[i] <= '9'; i++)
        v = v * 10 + (b[i] - '0');
    int ok = k == 0 || (i > 0 && (i == k || (b[i] == '\n' && i + 1 == k)));
    if (!ok)
        return err_set(e, "%s: not a position in the list", q->ppath);
    *pos = v;
    return 0;
}

static int write_pos(cam_queue *q, int64_t pos, err_t *e)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld\n", (long long)pos);
    ssize_t k;
    do
        k = pwrite(q->pfd, b, (size_t)n, 0);
    while (k < 0 && errno == EINTR);
    if (k != n || ftruncate(q->pfd, n) < 0)
        return err_set(e, "%s: cannot write: %s", q->ppath, k < 0 ? strerror(errno) : "short write");
    return 0;
}

/* With the lock held: the line at *pos into name (0: none left), *pos
 * moved past it. */
static int take_line(cam_queue *q, int64_t *pos, char *name, size_t cap, err_t *e)
{
    char buf[QUEUE_LINE_MAX + 2];
    for (;;) {
        ssize_t k;
        do
            k = pread(q->fd, buf, sizeof buf, (off_t)*pos);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return err_set(e, "%s: %s", q->path, strerror(errno));
        if (k == 0)
            return 0;
        int64_t start = *pos;
        char *nl = memchr(buf, '\n', (size_t)k);
        size_t len = nl ? (size_t)(nl - buf) : (size_t)k;
        if (!nl && (size_t)k == sizeof buf)
            return err_set(e, "%s: byte %lld: a line longer than %d bytes", q->path,
                           (long long)start, QUEUE_LINE_MAX);
        /* no newline and a short read: the last line */
        *pos += (int64_t)len + (nl ? 1 : 0);
        if (len > 0 && buf[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        if (len > QUEUE_LINE_MAX || len + 1 > cap)
            return err_set(e, "%s: byte %lld: a line longer than %d bytes", q->path,
                           (long long)start, len > QUEUE_LINE_MAX ? QUEUE_LINE_MAX : (int)cap - 1);
        if (memchr(buf, '\0', len))
            return err_set(e, "%s: byte %lld: a NUL byte in a name", q->path, (long long)start);
        memcpy(name, buf, len);
        name[len] = '\0';
        return 1;
    }
}

int queue_next(cam_queue *q, char *name, size_t cap, err_t *e)
{
    int r;
    while ((r = flock(q->pfd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return err_set(e, "%s: cannot lock: %s", q->ppath, strerror(errno));
    int64_t pos = 0;
    r = read_pos(q, &pos, e);
    if (r == 0) {
        int64_t was = pos;
        r = take_line(q, &pos, name, cap, e);
        if (r >= 0 && pos != was && write_pos(q, pos, e) < 0)
            r = -1;
    }
    flock(q->pfd, LOCK_UN);
    return r;
}
