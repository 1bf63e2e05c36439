/* sha256.c - SHA-256 by libcrypto's EVP interface, and the digest cache
 * (see sha256.h).
 *
 * libcrypto is loaded (dlopen) when a digest is first computed rather
 * than linked: linked, it cost every process of a tool that may hash a
 * model about 1.1 ms to start (0.8-1.1 ms for an empty program against
 * 2.0-2.1 ms with it, on the machine measured), and the digest cache
 * spares nearly every run the hashing. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "sha256.h"

/* The EVP functions used, typed by the header's declarations. */
static struct {
    __typeof__(&EVP_MD_CTX_new) ctx_new;
    __typeof__(&EVP_MD_CTX_free) ctx_free;
    __typeof__(&EVP_sha256) sha256;
    __typeof__(&EVP_DigestInit_ex) init;
    __typeof__(&EVP_DigestUpdate) update;
    __typeof__(&EVP_DigestFinal_ex) final;
    int ok;
} evp;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

#define STR_(x) #x
#define STR(x) STR_(x)
#ifdef OPENSSL_SHLIB_VERSION
#define CRYPTO_SONAME "libcrypto.so." STR(OPENSSL_SHLIB_VERSION)
#else
#define CRYPTO_SONAME "libcrypto.so"
#endif

/* POSIX's way to take a function's address from dlsym */
#define SYM(h, f, name) (*(void **)(&(f)) = dlsym((h), (name)))

static void evp_load(void)
{
    void *h = dlopen(CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    evp.ok = SYM(h, evp.ctx_new, "EVP_MD_CTX_new") && SYM(h, evp.ctx_free, "EVP_MD_CTX_free") &&
             SYM(h, evp.sha256, "EVP_sha256") && SYM(h, evp.init, "EVP_DigestInit_ex") &&
             SYM(h, evp.update, "EVP_DigestUpdate") && SYM(h, evp.final, "EVP_DigestFinal_ex");
}

int sha256_begin(sha256_ctx *c)
{
    c->md = NULL;
    if (pthread_once(&evp_once, evp_load) != 0 || !evp.ok)
        return -1;
    EVP_MD_CTX *m = evp.ctx_new();
    if (!m)
        return -1;
    if (evp.init(m, evp.sha256(), NULL) != 1) {
        evp.ctx_free(m);
        return -1;
    }
    c->md = m;
    return 0;
}

int sha256_update(sha256_ctx *c, const void *buf, size_t n)
{
    if (!c->md)
        return -1;
    if (n && evp.update(c->md, buf, n) != 1) {
        evp.ctx_free(c->md);
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
    int ok = evp.final(c->md, d, &len) == 1 && len == 32;
    evp.ctx_free(c->md);
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

/* ---------------------------------------------------------------- cache */

char *cache_dir(void)
{
    const char *off = getenv("CAM_NO_CACHE");
    if (off && *off && strcmp(off, "0") != 0)
        return NULL;
    const char *d = getenv("CAM_CACHE_DIR");
    char *s = NULL;
    if (d && *d)
        return strdup(d);
    d = getenv("XDG_CACHE_HOME");
    if (d && d[0] == '/') {
        if (asprintf(&s, "%s/cam", d) < 0)
            return NULL;
        return s;
    }
    d = getenv("HOME");
    if (d && d[0] == '/') {
        if (asprintf(&s, "%s/.cache/cam", d) < 0)
            return NULL;
        return s;
    }
    return NULL;
}

static char *entry_path(const char *dir, const struct stat *st)
{
    char *s = NULL;
    if (asprintf(&s, "%s/sha256-%llx-%llx", dir, (unsigned long long)st->st_dev,
                 (unsigned long long)st->st_ino) < 0)
        return NULL;
    return s;
}

/* The one line an entry holds for st and hex (at most 255 bytes). */
static int entry_line(char *buf, size_t n, const struct stat *st, const char *hex)
{
    return snprintf(buf, n, "cam-sha256 1 %llu %llu %lld %lld %ld %lld %ld %s\n",
                     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                     (long long)st->st_size, (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
                     (long long)st->st_ctim.tv_sec, (long)st->st_ctim.tv_nsec, hex);
}

static int is_hex64(const char *h)
{
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return 0;
    return 1;
}

int sha256_cache_get(const struct stat *st, char hex[65])
{
    char *dir = cache_dir();
    if (!dir)
        return -1;
    char *path = entry_path(dir, st);
    free(dir);
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(path);
    if (fd < 0)
        return -1;
    struct stat es;
    char buf[256], want[256];
    ssize_t n = -1;
    /* a regular file of ours, small: nothing else is read */
    if (fstat(fd, &es) == 0 && S_ISREG(es.st_mode) && es.st_uid == geteuid() &&
        es.st_size > 0 && es.st_size < (off_t)sizeof buf)
        n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* every field must be what this file's identity gives, byte for byte;
     * only the digest is taken from the entry */
    int len = entry_line(want, sizeof want, st, "");
    if (len <= 0 || (size_t)len >= sizeof want || (size_t)n != (size_t)len + 64 ||
        memcmp(buf, want, (size_t)len - 1) != 0 || buf[n - 1] != '\n')
        return -1;
    const char *h = buf + len - 1;
    if (!is_hex64(h))
        return -1;
    memcpy(hex, h, 64);
    hex[64] = '\0';
    return 0;
}

int cache_dir_make(char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -1;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(dir, 0700);
        *p = '/';
        if (r < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

struct ent {
    struct timespec t;
    off_t size;
    char *name;
};

static int cmp_ent(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    if (x->t.tv_sec != y->t.tv_sec)
        return x->t.tv_sec < y->t.tv_sec ? -1 : 1;
    if (x->t.tv_nsec != y->t.tv_nsec)
        return x->t.tv_nsec < y->t.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

void cache_dir_prune(const char *dir, const char *prefix, size_t max_files, uint64_t max_bytes,
                     const char *keep)
{
    size_t plen = strlen(prefix);
    DIR *d = opendir(dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct ent *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, prefix, plen) != 0 || strchr(de->d_name, '.') ||
            fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            struct ent *nv = nc < ((size_t)1 << 20) ? realloc(v, nc * sizeof *v) : NULL;
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        v[n].t = st.st_mtim;
        v[n].size = st.st_size;
        v[n].name = strdup(de->d_name);
        if (v[n].name)
            n++;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (uint64_t)v[i].size;
    if (n > max_files || (max_bytes && total > max_bytes)) {
        qsort(v, n, sizeof *v, cmp_ent);
        size_t left = n;
        for (size_t i = 0; i < n && (left > max_files || (max_bytes && total > max_bytes)); i++) {
            if (keep && strcmp(v[i].name, keep) == 0)
                continue;
            if (unlinkat(dfd, v[i].name, 0) == 0) {
                left--;
                total -= (uint64_t)v[i].size;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    closedir(d);
}

void sha256_cache_put(const struct stat *st, const char *hex)
{
    char line[256];
    int len;
    if (!hex || strlen(hex) != 64 || !is_hex64(hex))
        return;
    /* A file changed in the last seconds might change again within the
     * same timestamp tick without its times moving: remember only files
     * whose status changed at least two seconds ago (git's "racy" rule). */
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) < 0 || st->st_ctim.tv_sec > now.tv_sec - 2 ||
        st->st_mtim.tv_sec > now.tv_sec - 2)
        return;
    len = entry_line(line, sizeof line, st, hex);
    if (len <= 0 || (size_t)len >= sizeof line)
        return;
    char *dir = cache_dir();
    if (!dir)
        return;
    char *path = cache_dir_make(dir) == 0 ? entry_path(dir, st) : NULL;
    char *tmp = NULL;
    if (path && asprintf(&tmp, "%s.%ld.tmp", path, (long)getpid()) >= 0) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            int ok = write(fd, line, (size_t)len) == len;
            ok = close(fd) == 0 && ok;
            if (!ok || rename(tmp, path) < 0)
                unlink(tmp);
            else
                cache_dir_prune(dir, "sha256-", SHA256_CACHE_MAX, 0, NULL);
        }
    }
    free(tmp);
    free(path);
    free(dir);
}
