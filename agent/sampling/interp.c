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

/* A walk of the calling thread, compared with the frames CPython itself
 * reports for it.  Only a thread holding the GIL can ask CPython for its
 * frames and know they stand still while it reads them, so this runs where
 * the agent is started from Python (`import spyagent`, spyagent.start());
 * under LD_PRELOAD the agent starts before the interpreter exists and the
 * sampler thread never holds the GIL, so there attach()'s own checks (the
 * exported debugger functions, known types, every frame of every thread
 * reading as a code object) are what stands before the first sample. */
int spy_python_check_frames(struct spy_python *py, char *err, size_t errlen)
{
    int (*gil_check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    void *(*get_frame)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyEval_GetFrame");
    void *(*frame_back)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetBack");
    void *(*frame_code)(void *) = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetCode");
    int (*frame_line)(void *) = (int (*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetLineNumber");
    void (*decref)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "Py_DecRef");
    if (!gil_check || !get_frame || !frame_back || !frame_code || !frame_line || !decref)
        return 0;
    if (!py->is_initialized() || !gil_check())
        return 0;                       /* not a Python thread holding the GIL: nothing to compare */
    const struct spy_reader *r = py->reader;
    struct spy_raw_thread *threads = spy_raw_threads_new(SPY_MAX_THREADS);
    void *scratch = malloc(SPY_WALK_SCRATCH);
    uint64_t *codes = calloc(SPY_MAX_DEPTH, sizeof(*codes));
    int *lines = calloc(SPY_MAX_DEPTH, sizeof(*lines));
    int rc = -1;
    if (!threads || !scratch || !codes || !lines) {
        snprintf(err, errlen, "out of memory checking the reader; the agent is off");
        goto out;
    }
    py->ip.pthread_tid_offset = spy_pthread_tid_offset();
    if (r->attach(&py->ip) != 0) {
        snprintf(err, errlen, "Python %s: the interpreter does not match the offset table (%s); the agent is off",
                 py->version, py->ip.attach_error);
        goto out;
    }
    /* CPython's view: borrowed innermost frame, new references after it */
    int real = 0;
    void *f = get_frame();
    void *owned = NULL;
    while (f && real < SPY_MAX_DEPTH) {
        void *code = frame_code(f);
        codes[real] = (uint64_t)(uintptr_t)code;
        lines[real] = frame_line(f);
        real++;
        if (code)
            decref(code);               /* the frame keeps it alive */
        void *back = frame_back(f);
        if (owned)
            decref(owned);
        owned = back;
        f = back;
    }
    if (owned)
        decref(owned);
    struct spy_walk_stats st = { 0 };
    int n = r->walk(&py->ip, threads, SPY_MAX_THREADS, &st, scratch);
    const struct spy_raw_thread *me = NULL;
    for (int i = 0; i < n; i++)
        if (threads[i].thread_id == (uint64_t)pthread_self())
            me = &threads[i];
    const char *what = NULL;
    char detail[160] = "";
    if (!me) {
        what = "the calling thread was not found among the interpreter's threads";
    } else if (me->depth != real && !(me->truncated && me->depth == SPY_MAX_DEPTH && real == SPY_MAX_DEPTH)) {
        snprintf(detail, sizeof(detail), "the calling thread has %d frames, the offsets read %d", real, me->depth);
        what = detail;
    } else {
        for (int i = 0; i < real && !what; i++) {
            struct spy_code_info info;
            if (me->frames[i].code != codes[i]) {
                snprintf(detail, sizeof(detail), "frame %d of the calling thread has another code object", i);
                what = detail;
                break;
            }
            if (r->read_code(&py->ip, codes[i], &info) != 0) {
                snprintf(detail, sizeof(detail), "frame %d's code object does not read", i);
                what = detail;
                break;
            }
            int line = -2;
            uint8_t *t = info.linetable_len ? malloc(info.linetable_len) : NULL;
            if (t && spy_memread(t, info.linetable, info.linetable_len) == 0)
                line = r->line_for(t, info.linetable_len, info.firstlineno, me->frames[i].offset);
            free(t);
            if (line != lines[i]) {
                snprintf(detail, sizeof(detail), "frame %d (%.60s) is at line %d, the offsets read line %d", i,
                         info.name, lines[i], line);
                what = detail;
            }
        }
    }
    if (what) {
        snprintf(err, errlen, "Python %s: the interpreter does not match the offset table (%s); the agent is off",
                 py->version, what);
        goto out;
    }
    rc = 0;
out:
    free(threads);
    free(scratch);
    free(codes);
    free(lines);
    return rc;
}
