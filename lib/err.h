/* err.h - error reporting for library code.
 *
 * Library functions never print or exit: they return a status (0 ok, -1
 * error; readers also return 1 for "one item read" and 0 for "end") and
 * describe the failure in an err_t that the caller passes in.  Messages
 * say what and where ("record 3: field 'shape': ..."), without the program
 * name and without a trailing newline; main-level code prints them.
 */
#ifndef CAM_ERR_H
#define CAM_ERR_H

#include <stddef.h>

typedef struct {
    char msg[512];
} err_t;

/* Formats the message into e (if e is not NULL) and returns -1. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the existing message: "prefix: old message".  Returns -1. */
int err_prefix(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
