/* tap.h - minimal TAP producer for C unit tests (run under prove).
 * Usage: tap_ok(cond, "name %d", i); ... return tap_done(); */
#ifndef CAM_TAP_H
#define CAM_TAP_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_fail;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    if (!cond) tap_fail++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

__attribute__((format(printf, 1, 2), unused))
static void tap_skip(const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("ok %d # skip ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* Skips the whole test file (no tests run). */
__attribute__((unused, noreturn))
static void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

__attribute__((unused))
static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_fail ? 1 : 0;
}

/* Directory of the shared models/data: $CAM_SHARED or ../shared. */
__attribute__((unused))
static const char *tap_shared(void)
{
    const char *s = getenv("CAM_SHARED");
    return s && *s ? s : "../shared";
}
#endif
