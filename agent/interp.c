/*
 * interp.c — finds the interpreter inside this process at run time.
 *
 * We never link libpython and never reference a Python symbol directly: a
 * direct reference makes every non-Python program started under LD_PRELOAD
 * fail with "symbol lookup error".  dlsym(RTLD_DEFAULT) finds the symbols
 * both when libpython is inside the executable (Debian) and when it is a
 * shared libpython3.X.so (pyenv).  The reader is picked from the version
 * the interpreter reports, after python/version.c has accepted the build
 * (final release with a table, not debug, not free-threaded).
 *
 * Threads: any; no state of its own.
 */
#include "interp.h"
#include "memread.h"
#include "python/version.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int spy_python_find(struct spy_python *py)
{
    memset(py, 0, sizeof(*py));
    py->ip.pthread_tid_offset = -1;
    py->is_initialized = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    py->get_version = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    void *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!py->is_initialized || !py->get_version)
        return 0;
    py->ip.runtime = (uint64_t)(uintptr_t)runtime;
    py->ip.code_type = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
    py->ip.unicode_type = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "PyUnicode_Type");
    py->ip.bytes_type = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "PyBytes_Type");
    const unsigned long *hex = dlsym(RTLD_DEFAULT, "Py_Version");
    py->ip.hexversion = hex ? *hex : 0;
    const char *v = py->get_version();
    size_t n = v ? strcspn(v, " ") : 0;
    if (n >= sizeof(py->version))
        n = sizeof(py->version) - 1;
    if (n)
        memcpy(py->version, v, n);
    py->version[n] = '\0';
    return 1;
}

/* 3.13+: _Py_DebugOffsets (at &_PyRuntime) says whether this is a
 * free-threaded build; before 3.13 there were none.  A symbol that only
 * free-threaded builds export is a second witness. */
static bool free_threaded(const struct spy_python *py)
{
    if (dlsym(RTLD_DEFAULT, "_Py_DecRefShared") || dlsym(RTLD_DEFAULT, "_PyObject_SetMaybeWeakref"))
        return true;
    unsigned char d[24];
    if (py->ip.runtime == 0)
        return false;
    /* _PyRuntime is a static object of the loaded libpython: always mapped */
    memcpy(d, (const void *)(uintptr_t)py->ip.runtime, sizeof(d));
    if (memcmp(d, "xdebugpy", 8) != 0)
        return false;
    uint64_t ft;
    memcpy(&ft, d + 16, sizeof(ft));
    return ft != 0;
}

/* Debug builds (Py_REF_DEBUG) export their reference-total functions. */
static bool debug_build(void)
{
    return dlsym(RTLD_DEFAULT, "_Py_RefTotal") || dlsym(RTLD_DEFAULT, "_Py_GetRefTotal")
        || dlsym(RTLD_DEFAULT, "_Py_GetGlobalRefTotal") || dlsym(RTLD_DEFAULT, "_Py_NegativeRefcount");
}

int spy_python_select_reader(struct spy_python *py, char *err, size_t errlen)
{
    struct spy_python_build b = {
        .version = py->get_version ? py->get_version() : NULL,
        .hexversion = py->ip.hexversion,
        .debug = debug_build(),
        .free_threaded = free_threaded(py),
    };
    int patch = 0;
    if (spy_python_check_build(&b, &py->major, &py->minor, &patch, err, errlen) != 0)
        return -1;
    for (int i = 0; spy_readers[i]; i++) {
        const struct spy_reader *r = spy_readers[i];
        if (r->major == py->major && r->minor == py->minor) {
            py->reader = r;
            break;
        }
    }
    if (py->reader == NULL) {
        snprintf(err, errlen, "Python %s is not supported by this build; the agent is off", py->version);
        return -1;
    }
    if (py->ip.runtime == 0 || py->ip.code_type == 0 || py->ip.unicode_type == 0 || py->ip.bytes_type == 0) {
        snprintf(err, errlen, "Python %s does not export _PyRuntime and the type objects the agent reads; the agent is off",
                 py->version);
        return -1;
    }
    return 0;
}

int spy_pthread_tid_offset(void)
{
    pid_t tid = gettid();
    unsigned char self[2048];
    if (spy_memread(self, (uint64_t)(uintptr_t)pthread_self(), sizeof(self)) != 0)
        return -1;
    /* glibc keeps the tid a few hundred bytes into struct pthread (which
     * pthread_self() points at); look for it as an aligned int */
    for (int off = 0; off < 2048; off += 4) {
        int32_t v;
        memcpy(&v, self + off, sizeof(v));
        if (v == tid)
            return off;
    }
    return -1;
}
