/* test_queue.c - lib/queue.c: names taken in order, blank lines and CRs
 * skipped, the position kept across openings, damaged position files and
 * over-long lines refused, and four processes taking from one list at
 * once, each name going to exactly one of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../tap.h"
#include "queue.h"

static char dir[] = "/tmp/test_queue.XXXXXX";

static void put(const char *name, const char *text, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
}

/* all names of the list at dir/name, space-separated, or "ERROR: msg" */
static void take_all(const char *name, char *out, size_t cap)
{
    char p[256], line[QUEUE_LINE_MAX + 1];
    cam_queue q;
    err_t e;
    int r;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    out[0] = '\0';
    if (queue_open(&q, p, &e) < 0) {
        snprintf(out, cap, "ERROR: %s", strstr(e.msg, "/list") ? strstr(e.msg, "/list") + 1 : e.msg);
        return;
    }
    while ((r = queue_next(&q, line, sizeof line, &e)) == 1) {
        if (out[0])
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, line, cap - strlen(out) - 1);
    }
    if (r < 0)
        snprintf(out, cap, "ERROR: %s", strstr(e.msg, "/list") ? strstr(e.msg, "/list") + 1 : e.msg);
    queue_close(&q);
}

static void check(const char *what, const char *got, const char *want)
{
    if (!tap_ok(strcmp(got, want) == 0, "%s", what))
        tap_diag("got '%s', want '%s'", got, want);
}

int main(void)
{
    char out[65536];
    if (!mkdtemp(dir)) {
        tap_ok(0, "temporary directory");
        return tap_done();
    }
    put("list", "a.jpg\n\nb c.ppm\r\n\r\n  d\nlast", 26);
    take_all("list", out, sizeof out);
    check("names in order, blank lines and CRs skipped, last line without newline", out,
          "a.jpg b c.ppm   d last");
    take_all("list", out, sizeof out);
    check("opened again: the position is kept, nothing left", out, "");
    /* the position file as another process or a user may leave it */
    static const struct { const char *pos, *want, *what; } pcase[] = {
        {"6\n", "b c.ppm   d last", "the position file moved back by hand"},
        {"", "a.jpg b c.ppm   d last", "an empty position file: the start"},
        {"12x\n", "ERROR: list.pos: not a position in the list", "a damaged position file"},
        {"99999\n", "", "a position past the end: nothing left"},
    };
    for (size_t i = 0; i < sizeof pcase / sizeof pcase[0]; i++) {
        put("list.pos", pcase[i].pos, strlen(pcase[i].pos));
        take_all("list", out, sizeof out);
        check(pcase[i].what, out, pcase[i].want);
    }

    char *big = malloc(QUEUE_LINE_MAX + 10);
    memset(big, 'x', QUEUE_LINE_MAX + 9);
    memcpy(big, "ok\n", 3);
    big[QUEUE_LINE_MAX + 9] = '\n';
    put("list2", big, QUEUE_LINE_MAX + 10);
    take_all("list2", out, sizeof out);
    check("a line too long", out, "ERROR: list2: byte 3: a line longer than 4096 bytes");
    free(big);
    put("list3", "a\0b\n", 4);
    take_all("list3", out, sizeof out);
    check("a NUL byte", out, "ERROR: list3: byte 0: a NUL byte in a name");
    take_all("nolist", out, sizeof out);
    tap_ok(strncmp(out, "ERROR: ", 7) == 0 && strstr(out, "No such file"), "a missing list: %s", out);

    /* four processes at once over 3000 names */
    enum { N = 3000, P = 4 };
    char p[256];
    snprintf(p, sizeof p, "%s/many", dir);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < N; i++)
        fprintf(f, "img%05d.jpg\n", i);
    fclose(f);
    for (int k = 0; k < P; k++) {
        if (fork() == 0) {
            char o[256], line[QUEUE_LINE_MAX + 1];
            cam_queue q;
            err_t e;
            snprintf(o, sizeof o, "%s/taken%d", dir, k);
            FILE *g = fopen(o, "w");
            if (queue_open(&q, p, &e) < 0)
                _exit(1);
            int r;
            while ((r = queue_next(&q, line, sizeof line, &e)) == 1)
                fprintf(g, "%s\n", line);
            queue_close(&q);
            fclose(g);
            _exit(r == 0 ? 0 : 1);
        }
    }
    int fails = 0, st;
    for (int k = 0; k < P; k++)
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fails++;
    tap_ok(fails == 0, "%d processes took names without an error", P);
    static int seen[N];
    int total = 0, dup = 0, bad = 0, busy = 0;
    for (int k = 0; k < P; k++) {
        char o[256], line[64];
        int mine = 0;
        snprintf(o, sizeof o, "%s/taken%d", dir, k);
        FILE *g = fopen(o, "r");
        while (g && fgets(line, sizeof line, g)) {
            int i;
            if (sscanf(line, "img%05d.jpg", &i) != 1 || i < 0 || i >= N) {
                bad++;
                continue;
            }
            dup += seen[i]++ > 0;
            total++;
            mine++;
        }
        if (g)
            fclose(g);
        busy += mine > 0;
        remove(o);
    }
    tap_ok(total == N && dup == 0 && bad == 0,
           "every name taken exactly once: %d taken, %d twice, %d garbled", total, dup, bad);
    tap_diag("%d of the %d processes took names", busy, P);
    const char *names[] = {"list", "list.pos", "list2", "list2.pos", "list3", "list3.pos",
                           "nolist.pos", "many", "many.pos"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        remove(p);
    }
    rmdir(dir);
    return tap_done();
}
