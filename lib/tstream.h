/* tstream.h - reading and writing the tensor stream (see man/cam-tensor.5).
 *
 * A stream is zero or more records concatenated; each record is a text
 * header (magic line, key/value lines, end line) followed by exactly the
 * payload bytes the header promises.  A whole stream may be gzip
 * compressed; readers accept plain and compressed input transparently.
 */
#ifndef CAM_TSTREAM_H
#define CAM_TSTREAM_H

#include <stdio.h>
#include "tensor.h"

#define TSTREAM_MAGIC "CAMTENSOR 1"
#define TSTREAM_END   "ENDHDR"
#define TSTREAM_MAX_HEADER 65536

typedef struct tsr tsr;   /* reader */
typedef struct tsw tsw;   /* writer */

/* Opens path for reading ("-" or NULL: stdin).  Never exits. */
tsr *tsr_open(const char *path, err_t *e);
/* Reads from an open file descriptor (not closed by tsr_close when
 * own_fd is 0). */
tsr *tsr_fdopen(int fd, int own_fd, const char *label, err_t *e);
/* Like tsr_fdopen, for a caller that has already read the first n bytes
 * of fd (to sniff them, say): the reader starts with a copy of those bytes,
 * then goes on reading fd.  Works on pipes, record by record. */
tsr *tsr_fdopen_prefix(int fd, int own_fd, const void *prefix, size_t n, const char *label,
                       err_t *e);
/* Reads from memory (for tests and fuzzing); buf must outlive the reader. */
tsr *tsr_mem(const void *buf, size_t n, err_t *e);
/* Reads the next record into t (t is freed and re-initialised first).
 * Returns 1 (a record), 0 (clean end of stream), -1 (error: e says which
 * record index and which field).  After -1 the reader is unusable. */
int  tsr_next(tsr *r, tensor *t, err_t *e);
/* Index of the record that the next tsr_next call returns (0-based). */
long tsr_index(const tsr *r);
/* Label used in messages (path or "stdin"). */
const char *tsr_label(const tsr *r);
void tsr_close(tsr *r);
/* The header text of the record last returned by tsr_next, exactly as read
 * (from the magic line up to and including the end line); *len gets its
 * length.  Valid until the next tsr_next or tsr_close. */
const char *tsr_header(const tsr *r, size_t *len);

/* Peeks at the start of a byte buffer: 1 if it looks like a tensor stream
 * (plain magic or gzip), else 0. */
int tstream_sniff(const void *buf, size_t n);

enum {
    TSW_GZIP = 1,   /* gzip the whole stream (zlib) */
    TSW_F16  = 2    /* store f32 payloads as f16 */
};

/* Opens path for writing ("-" or NULL: stdout).  flags: TSW_*.  Writes go
 * straight to the file descriptor with write(2), not through stdio: do not
 * also print to stdout with stdio while a writer on "-" is open. */
tsw *tsw_open(const char *path, int flags, err_t *e);
/* Writes one complete record.  The header and payload are formatted in
 * memory and written in one piece, so an error never leaves a half record
 * from this writer's side. */
int  tsw_write(tsw *w, const tensor *t, err_t *e);
/* Flushes and closes (finishes the gzip member). */
int  tsw_close(tsw *w, err_t *e);

/* Formats a record's header into a malloc'd string (for tensor-info
 * -header and tests). */
char *tstream_format_header(const tensor *t, int dtype_out, err_t *e);

#endif
