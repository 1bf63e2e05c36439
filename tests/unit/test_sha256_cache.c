/* test_sha256_cache.c - the digest cache (sha256.h): an entry is used only
 * for the identity it was written for (device, inode, size, times), never
 * when damaged, not written for a file changed in the last seconds, turned
 * off by CAM_NO_CACHE, bounded to SHA256_CACHE_MAX entries; graph_load
 * takes a large model's digest from it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../tap.h"
#include "graph.h"
#include "sha256.h"

static char dir[256];

static const char H1[] = "097d3f0d1946f1b48c759909a239081385809e6d1593655d8fdf1c04e36426bf";
static const char H2[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* An identity that is old enough to be remembered. */
static struct stat fake(unsigned long long ino)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_dev = 0x801;
    st.st_ino = (ino_t)ino;
    st.st_size = 28048301;
    st.st_mtim.tv_sec = 1700000000;
    st.st_mtim.tv_nsec = 923877518;
    st.st_ctim.tv_sec = 1700000001;
    st.st_ctim.tv_nsec = 951877519;
    return st;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "sha256-", 7) == 0;
    closedir(d);
    return n;
}

static char *entry_of(const struct stat *st)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/sha256-%llx-%llx", dir, (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void rm_rf(const char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", d);
}

int main(void)
{
    char hex[65], base[] = "/tmp/cam-sha-cache-XXXXXX";
    if (!mkdtemp(base))
        tap_skip_all("cannot make a temporary directory");
    snprintf(dir, sizeof dir, "%s/sub/cam", base);
    setenv("CAM_CACHE_DIR", dir, 1);
    unsetenv("CAM_NO_CACHE");

    struct stat a = fake(1), b;
    tap_ok(sha256_cache_get(&a, hex) < 0, "empty cache: no entry");
    sha256_cache_put(&a, H1);
    tap_ok(sha256_cache_get(&a, hex) == 0 && strcmp(hex, H1) == 0,
           "entry read back for the same identity (directories created)");
    struct stat d = a;
    tap_ok(entries() == 1, "one entry file");

    /* any field of the identity differs: no entry */
    const char *what[] = {"size", "mtime s", "mtime ns", "ctime s", "ctime ns", "device"};
    for (int k = 0; k < 6; k++) {
        b = a;
        switch (k) {
        case 0: b.st_size++; break;
        case 1: b.st_mtim.tv_sec++; break;
        case 2: b.st_mtim.tv_nsec++; break;
        case 3: b.st_ctim.tv_sec++; break;
        case 4: b.st_ctim.tv_nsec++; break;
        case 5: b.st_dev++; break;
        }
        tap_ok(sha256_cache_get(&b, hex) < 0, "other %s: entry not used", what[k]);
    }
    /* rewritten for a new identity of the same file */
    d.st_size = 1234;
    sha256_cache_put(&d, H2);
    tap_ok(sha256_cache_get(&d, hex) == 0 && strcmp(hex, H2) == 0 && sha256_cache_get(&a, hex) < 0,
           "a changed file's entry replaces the old one");

    /* damaged entries */
    char good[256];
    snprintf(good, sizeof good, "cam-sha256 1 %llu %llu %lld %lld %ld %lld %ld %s\n",
             (unsigned long long)a.st_dev, (unsigned long long)a.st_ino, (long long)a.st_size,
             (long long)a.st_mtim.tv_sec, (long)a.st_mtim.tv_nsec, (long long)a.st_ctim.tv_sec,
             (long)a.st_ctim.tv_nsec, H1);
    write_file(entry_of(&a), good);
    tap_ok(sha256_cache_get(&a, hex) == 0 && strcmp(hex, H1) == 0, "hand-written entry read");
    const char *bad[] = {"truncated digest", "upper-case digest", "no newline", "trailing byte",
                         "other version", "empty"};
    for (int k = 0; k < 6; k++) {
        char t[300];
        strcpy(t, good);
        size_t n = strlen(t);
        switch (k) {
        case 0: t[n - 5] = '\n'; t[n - 4] = 0; break;
        case 1: t[n - 2] = 'F'; break;
        case 2: t[n - 1] = 0; break;
        case 3: strcat(t, "x"); break;
        case 4: t[11] = '2'; break;
        case 5: t[0] = 0; break;
        }
        write_file(entry_of(&a), t);
        tap_ok(sha256_cache_get(&a, hex) < 0, "damaged entry (%s) not used", bad[k]);
    }
    unlink(entry_of(&a));
    if (symlink(entry_of(&d), entry_of(&a)) == 0)
        tap_ok(sha256_cache_get(&a, hex) < 0, "a symbolic link is not followed");
    else
        tap_skip("cannot make a symbolic link");
    unlink(entry_of(&a));

    /* recently changed file: not remembered */
    b = fake(7);
    b.st_ctim.tv_sec = time(NULL);
    sha256_cache_put(&b, H1);
    tap_ok(sha256_cache_get(&b, hex) < 0, "a file changed just now is not remembered");
    /* bad digests are not written */
    sha256_cache_put(&a, "abc");
    sha256_cache_put(&a, H1 + 1);
    tap_ok(sha256_cache_get(&a, hex) < 0, "malformed digests are not written");

    /* off */
    sha256_cache_put(&a, H1);
    setenv("CAM_NO_CACHE", "1", 1);
    tap_ok(sha256_cache_get(&a, hex) < 0, "CAM_NO_CACHE=1: entries not read");
    b = fake(8);
    sha256_cache_put(&b, H1);
    setenv("CAM_NO_CACHE", "0", 1);
    tap_ok(sha256_cache_get(&b, hex) < 0, "CAM_NO_CACHE=1: nothing written");
    tap_ok(sha256_cache_get(&a, hex) == 0, "CAM_NO_CACHE=0: cache on");
    unsetenv("CAM_NO_CACHE");

    /* bounded */
    for (int i = 0; i < SHA256_CACHE_MAX + 40; i++) {
        b = fake(1000 + (unsigned)i);
        sha256_cache_put(&b, H2);
    }
    tap_ok(entries() == SHA256_CACHE_MAX, "at most %d entries (%d)", SHA256_CACHE_MAX, entries());
    b = fake(1000 + SHA256_CACHE_MAX + 39);
    tap_ok(sha256_cache_get(&b, hex) == 0, "the newest entry kept");

    /* graph_load on a real model: the digest is taken from the cache */
    const char *sh = getenv("CAM_SHARED");
    char model[600];
    snprintf(model, sizeof model, "%s/models/googlenet-bvlc.onnx", sh && *sh ? sh : "../shared");
    struct stat ms;
    if (stat(model, &ms) == 0 && time(NULL) - ms.st_ctim.tv_sec > 2) {
        graph g;
        err_t e;
        char first[65] = "";
        if (graph_load(model, &g, &e) == 0) {
            memcpy(first, g.sha256, sizeof first);
            graph_free(&g);
        }
        tap_ok(strlen(first) == 64 && sha256_cache_get(&ms, hex) == 0 && strcmp(hex, first) == 0,
               "graph_load remembers the model's digest");
        /* an entry for this identity is believed: proof that it is used */
        sha256_cache_put(&ms, H2);
        int ok = graph_load(model, &g, &e) == 0 && strcmp(g.sha256, H2) == 0;
        if (ok)
            graph_free(&g);
        tap_ok(ok, "graph_load takes the digest from the cache");
        setenv("CAM_NO_CACHE", "1", 1);
        ok = graph_load(model, &g, &e) == 0 && strcmp(g.sha256, first) == 0;
        if (ok)
            graph_free(&g);
        tap_ok(ok, "CAM_NO_CACHE=1: graph_load hashes the file");
        unsetenv("CAM_NO_CACHE");
    } else {
        tap_skip("../shared/models/googlenet-bvlc.onnx not found (or changed just now)");
    }
    rm_rf(base);
    return tap_done();
}
