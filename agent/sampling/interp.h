/* interp.h — is this process a CPython we can read, and with which reader. */
#ifndef SPY_INTERP_H
#define SPY_INTERP_H

#include <stdbool.h>

#include "python/reader.h"

struct spy_python {
    int (*is_initialized)(void);
    const char *(*get_version)(void);
    struct spy_interp ip;
    const struct spy_reader *reader;
    int major, minor;
    char version[32];               /* "3.12.1" */
};

/* Find the interpreter's symbols in this process without linking to it.
 * Returns 1 if this is a CPython process, 0 if it is not (say nothing). */
int spy_python_find(struct spy_python *py);
/* Choose the reader for the running version; -1 (with err filled) if none. */
int spy_python_select_reader(struct spy_python *py, char *err, size_t errlen);
/* On a Python thread holding the GIL: attach, then walk this thread and
 * compare its frames and lines with what CPython reports; 0 if they agree
 * (or this is not such a thread), -1 with err filled if not. */
int spy_python_check_frames(struct spy_python *py, char *err, size_t errlen);
/* Offset of the kernel tid inside glibc's struct pthread, found by looking
 * for our own tid in our own thread descriptor; -1 if not found. */
int spy_pthread_tid_offset(void);

extern const struct spy_reader *const spy_readers[];

#endif
