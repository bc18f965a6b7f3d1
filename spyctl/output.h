/* output.h — where spyctl writes a file the user named (--output,
 * --save-config, --record -o): "-" is standard output; an existing device,
 * FIFO or socket is written through; a symlink is followed; a regular file
 * (or a new name) appears whole or not at all (temp file in the target's
 * own directory, fsync, rename). */
#ifndef SPYCTL_OUTPUT_H
#define SPYCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

struct spyctl_output {
    struct spy_sink sink;        /* write through this */
    char shown[1100];            /* the name in messages: the path as given, or "standard output" */
    bool replace;                /* a regular file through temp + rename */
    bool own_fd;                 /* a device or FIFO we opened (closed at the end) */
};

/* Opens path (NULL or "-": standard output).  0, or -1 with err holding
 * "cannot write PATH: REASON". */
int spyctl_output_open(struct spyctl_output *o, const char *path, char *err, size_t errlen);
/* Finishes: rc is the writer's result (non-zero: the output is abandoned;
 * a regular file is then left as it was).  0, or -1 with err holding
 * "cannot write PATH: REASON". */
int spyctl_output_close(struct spyctl_output *o, int rc, char *err, size_t errlen);

#endif
