/* cli.c - program name, messages, exit statuses, checked stdout. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char *cli_progname = "cam";

void cli_init(int argc, char **argv)
{
    (void)argc;
    if (argv && argv[0]) {
        const char *s = strrchr(argv[0], '/');
        cli_progname = s ? s + 1 : argv[0];
    }
    signal(SIGPIPE, SIG_DFL);
}

static void vwarn(const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", cli_progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

void cli_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    exit(status);
}

void cli_die_err(int status, const err_t *e)
{
    cli_die(status, "%s", e && e->msg[0] ? e->msg : "unknown error");
}

void cli_usage(const char *usage, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vwarn(fmt, ap);
        va_end(ap);
    }
    if (usage)
        fprintf(stderr, "usage: %s\n", usage);
    exit(EXIT_USAGE);
}

void cli_close_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno == EPIPE)
            exit(0);
        cli_die(EXIT_DATA, "write error on standard output: %s", strerror(errno));
    }
}

long cli_long(const char *usage, const char *opt, const char *arg, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    if (!arg || !*arg)
        cli_usage(usage, "option %s needs a value", opt);
    v = strtol(arg, &end, 10);
    if (errno || *end)
        cli_usage(usage, "option %s: '%s' is not a whole number", opt, arg);
    if (v < lo || v > hi)
        cli_usage(usage, "option %s: %ld is out of range %ld..%ld", opt, v, lo, hi);
    return v;
}

double cli_double(const char *usage, const char *opt, const char *arg, double lo, double hi)
{
    char *end;
    double v;
    errno = 0;
    if (!arg || !*arg)
        cli_usage(usage, "option %s needs a value", opt);
    v = strtod(arg, &end);
    if (errno || *end || !isfinite(v))
        cli_usage(usage, "option %s: '%s' is not a number", opt, arg);
    if (v < lo || v > hi)
        cli_usage(usage, "option %s: %g is out of range %g..%g", opt, v, lo, hi);
    return v;
}
