/* queue.h - a list of image names shared out among processes.
 *
 * The list is a text file, one name a line.  Any number of processes,
 * started at any time, open the same list and each takes the next name
 * not yet taken when it is ready for one, so that a process that runs
 * faster takes more of them.  The position of the next name is kept in
 * LIST.pos (created when missing, empty meaning the start) and read and
 * moved under an exclusive lock on that file (flock), so that every line
 * goes to exactly one taker.  Blank lines are skipped, a final line needs
 * no newline, and a carriage return before the newline is dropped.
 */
#ifndef CAM_QUEUE_H
#define CAM_QUEUE_H

#include "err.h"

#define QUEUE_LINE_MAX 4096     /* bytes of a name, at most */

typedef struct {
    int fd, pfd;                /* the list, its position file */
    char *path, *ppath;
} cam_queue;

/* Opens the list at path and its position file path.pos. */
int queue_open(cam_queue *q, const char *path, err_t *e);

/* Takes the next name: 1 with it in name (a NUL-terminated copy of
 * QUEUE_LINE_MAX + 1 bytes at most), 0 when none is left, -1 on error
 * (a line too long, a damaged position file, an I/O error). */
int queue_next(cam_queue *q, char *name, size_t cap, err_t *e);

void queue_close(cam_queue *q);

#endif
