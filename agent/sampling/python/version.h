/* version.h — which CPython builds the reader accepts, as a pure function. */
#ifndef SPY_VERSION_H
#define SPY_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the process says about the interpreter it runs. */
struct spy_python_build {
    const char *version;     /* Py_GetVersion(): "3.12.1 (main, ...) [GCC ...]" */
    uint64_t hexversion;     /* Py_Version (3.11+), 0 if not exported */
    bool debug;              /* a Py_REF_DEBUG (--with-pydebug) build */
    bool free_threaded;      /* a Py_GIL_DISABLED build */
};

/* Accept a final release of 3.9–3.13 (not 3.9.3), neither debug nor
 * free-threaded.  Returns 0 and sets major/minor/patch, or -1 with one
 * sentence in err naming the version and why it is refused. */
int spy_python_check_build(const struct spy_python_build *b, int *major, int *minor, int *patch,
                           char *err, size_t errlen);

#endif
