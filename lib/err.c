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
        char old[sizeof e->msg];
        size_t n;
        int k;
        va_list ap;
        memcpy(old, e->msg, sizeof old);
        old[sizeof old - 1] = '\0';
        va_start(ap, fmt);
        k = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        /* Append ": old", truncated to what fits. */
        n = k < 0 ? 0 : (size_t)k < sizeof e->msg ? (size_t)k : sizeof e->msg - 1;
        if (n + 2 < sizeof e->msg) {
            memcpy(e->msg + n, ": ", 2);
            n += 2;
            size_t room = sizeof e->msg - 1 - n, len = strlen(old);
            if (len > room)
                len = room;
            memcpy(e->msg + n, old, len);
            e->msg[n + len] = '\0';
        }
    }
    return -1;
}
