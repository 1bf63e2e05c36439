/* err.c - error messages for library code (see err.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "err.h"

int err_set(err_t *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int err_prefix(err_t *e, const char *fmt, ...)
{
    if (e) {
        char pre[256], old[sizeof e->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        memcpy(old, e->msg, sizeof old);
        old[sizeof old - 1] = '\0';
        snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
    }
    return -1;
}
