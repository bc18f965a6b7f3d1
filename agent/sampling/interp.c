/*
 * interp.c — finds the interpreter inside this process at run time.
 *
 * We never link libpython and never reference a Python symbol directly: a
 * direct reference makes every non-Python program started under LD_PRELOAD
 * fail with "symbol lookup error".  dlsym(RTLD_DEFAULT) finds the symbols
 * both when libpython is inside the executable (Debian) and when it is a
 * shared libpython3.X.so (pyenv).  The reader is picked from the version
 * string the interpreter reports.
 *
 * Threads: any; no state of its own.
 */
#include "interp.h"
#include "memread.h"

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
    const char *v = py->get_version();
    int maj = 0, min = 0, patch = 0;
    if (v && sscanf(v, "%d.%d.%d", &maj, &min, &patch) >= 2) {
        py->major = maj;
        py->minor = min;
        snprintf(py->version, sizeof(py->version), "%d.%d.%d", maj, min, patch);
    }
    return 1;
}

int spy_python_select_reader(struct spy_python *py, char *err, size_t errlen)
{
    char have[128] = "";
    size_t k = 0;
    for (int i = 0; spy_readers[i]; i++) {
        const struct spy_reader *r = spy_readers[i];
        if (r->major == py->major && r->minor == py->minor) {
            py->reader = r;
            break;
        }
        k += (size_t)snprintf(have + k, sizeof(have) - k, "%s%d.%d", k ? ", " : "", r->major, r->minor);
        if (k >= sizeof(have))
            k = sizeof(have) - 1;
    }
    if (py->reader == NULL) {
        snprintf(err, errlen, "Python %s is not supported by this build (readers for: %s); the agent is off",
                 py->version[0] ? py->version : "(unknown version)", have[0] ? have : "none");
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
