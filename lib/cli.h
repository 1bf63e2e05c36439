/* cli.h - the common skeleton of every filter: program name, messages to
 * stderr as "progname: message", exit statuses, checked stdout.
 *
 * Exit status: 0 success, 1 bad data or I/O error, 2 bad usage.
 * A closed pipe downstream (EPIPE / SIGPIPE) ends the program quietly with
 * status 0... see cli_init().
 */
#ifndef CAM_CLI_H
#define CAM_CLI_H

#include <stdio.h>
#include "err.h"

#define EXIT_DATA  1
#define EXIT_USAGE 2

extern const char *cli_progname;

/* Sets cli_progname from argv[0]; SIGPIPE keeps its default action so that a
 * writer whose reader went away ends quietly. */
void cli_init(int argc, char **argv);

/* "progname: message\n" to stderr, then exit(status). */
void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* The message of an err_t, then exit(status). */
void cli_die_err(int status, const err_t *e) __attribute__((noreturn));
/* "progname: message\n" to stderr, no exit. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: prints the message and the usage text, exit 2. */
void cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Flushes and checks stdout; exits 1 with a message on a write error
 * (EPIPE: quietly with status 0). Call before returning from main. */
void cli_close_stdout(void);

/* Parses a whole decimal integer / float option argument within [lo,hi];
 * on failure calls cli_usage with a message naming the option. */
long   cli_long(const char *usage, const char *opt, const char *arg, long lo, long hi);
double cli_double(const char *usage, const char *opt, const char *arg, double lo, double hi);

#endif
