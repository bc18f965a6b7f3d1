/*
 * pymodule.c — the `spyagent` Python extension module, without linking to
 * Python.
 *
 * spyagent.so, the agent proper, doubles as the extension module (the
 * preloaded libspyagent.so loads that same file), so one build serves
 * every CPython 3.9–3.13 and an `import spyagent` inside a preloaded
 * process gets the agent already running.  Because the same object is
 * loaded into a process before anyone knows its Python version, it must
 * not reference any Python symbol: the handful of C-API
 * functions used here are looked up with dlsym when the module is
 * initialised, and only the stable-ABI struct layouts (PyModuleDef,
 * PyMethodDef), identical across those versions, are spelled out below.
 *
 * Preloaded, the agent also registers the module as a built-in before the
 * interpreter starts, so `import spyagent` works with no PYTHONPATH.
 *
 * Threads: every function here runs on the calling Python thread, holding
 * the GIL; they call the C API (spy_top, spy_dump, ...), which never takes
 * the GIL and holds our own locks only briefly.  The registration runs in
 * the constructor, before main().
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "agent.h"
#include "blocks.h"
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "spyagent.h"

typedef struct pyobj { ssize_t refcnt; void *type; } PyObj;

struct method_def {
    const char *name;
    void *fn;
    int flags;
    const char *doc;
};

struct module_def {
    PyObj ob_base;
    void *m_init;
    ssize_t m_index;
    void *m_copy;
    const char *m_name;
    const char *m_doc;
    ssize_t m_size;
    struct method_def *m_methods;
    void *m_slots, *m_traverse, *m_clear, *m_free;
};

#define METH_VARARGS 0x1
#define METH_KEYWORDS 0x2
#define METH_NOARGS 0x4
#define PYTHON_API_VERSION 1013

static struct {
    PyObj *(*module_create)(struct module_def *, int);
    int (*parse)(PyObj *, PyObj *, const char *, char **, ...);
    PyObj *(*dict_new)(void);
    int (*dict_set)(PyObj *, const char *, PyObj *);
    int (*dict_next)(PyObj *, ssize_t *, PyObj **, PyObj **);
    PyObj *(*list_new)(ssize_t);
    int (*list_append)(PyObj *, PyObj *);
    PyObj *(*from_ll)(long long);
    PyObj *(*from_ull)(unsigned long long);
    PyObj *(*from_double)(double);
    PyObj *(*from_utf8)(const char *, ssize_t, const char *);
    PyObj *(*from_bool)(long);
    long (*as_long)(PyObj *);
    PyObj *(*err_occurred)(void);
    void (*err_set)(PyObj *, const char *);
    const char *(*as_utf8)(PyObj *);
    PyObj *(*str)(PyObj *);
    void *(*save_thread)(void);
    void (*restore_thread)(void *);
    void (*incref)(PyObj *);
    void (*decref)(PyObj *);
    PyObj *none;
    PyObj **value_error;
    PyObj **runtime_error;
    PyObj **type_error;
} py;

static int resolve_api(void)
{
#define SYM(field, name) \
    do { \
        *(void **)&py.field = dlsym(RTLD_DEFAULT, name); \
        if (!py.field) \
            return -1; \
    } while (0)
    SYM(module_create, "PyModule_Create2");
    SYM(parse, "PyArg_ParseTupleAndKeywords");
    SYM(dict_new, "PyDict_New");
    SYM(dict_set, "PyDict_SetItemString");
    SYM(dict_next, "PyDict_Next");
    SYM(list_new, "PyList_New");
    SYM(list_append, "PyList_Append");
    SYM(from_ll, "PyLong_FromLongLong");
    SYM(from_ull, "PyLong_FromUnsignedLongLong");
    SYM(from_double, "PyFloat_FromDouble");
    SYM(from_utf8, "PyUnicode_DecodeUTF8");
    SYM(from_bool, "PyBool_FromLong");
    SYM(as_long, "PyLong_AsLong");
    SYM(err_occurred, "PyErr_Occurred");
    SYM(err_set, "PyErr_SetString");
    SYM(as_utf8, "PyUnicode_AsUTF8");
    SYM(str, "PyObject_Str");
    SYM(save_thread, "PyEval_SaveThread");
    SYM(restore_thread, "PyEval_RestoreThread");
    SYM(incref, "Py_IncRef");
    SYM(decref, "Py_DecRef");
    SYM(none, "_Py_NoneStruct");
    SYM(value_error, "PyExc_ValueError");
    SYM(runtime_error, "PyExc_RuntimeError");
    SYM(type_error, "PyExc_TypeError");
#undef SYM
    return 0;
}

static PyObj *none(void)
{
    py.incref(py.none);
    return py.none;
}

static PyObj *text(const char *s)
{
    if (!s)
        return none();
    return py.from_utf8(s, (ssize_t)strlen(s), "replace");
}

/* Put a new reference into a dict, consuming it; returns -1 on error. */
static int put(PyObj *d, const char *key, PyObj *v)
{
    if (!v)
        return -1;
    int rc = py.dict_set(d, key, v);
    py.decref(v);
    return rc;
}

static int append(PyObj *list, PyObj *v)
{
    if (!v)
        return -1;
    int rc = py.list_append(list, v);
    py.decref(v);
    return rc;
}

static PyObj *m_start(PyObj *self, PyObj *args, PyObj *kwargs)
{
    (void)self;
    (void)args;
    enum { MAXKW = 16 };
    const char *keys[MAXKW], *values[MAXKW];
    PyObj *strs[MAXKW];
    int n = 0;
    PyObj *result = NULL;
    if (kwargs) {
        ssize_t pos = 0;
        PyObj *k, *v;
        while (py.dict_next(kwargs, &pos, &k, &v)) {
            if (n == MAXKW) {
                py.err_set(*py.type_error, "start() takes at most 16 settings");
                goto out;
            }
            const char *key = py.as_utf8(k);
            PyObj *s = py.str(v);
            if (!key || !s) {
                if (s)
                    py.decref(s);
                goto out;
            }
            strs[n] = s;
            keys[n] = key;
            values[n] = py.as_utf8(s);
            n++;
            if (!values[n - 1])
                goto out;
        }
    }
    char err[512] = "";
    int rc = spy_start(keys, values, n, err, sizeof(err));
    if (rc == -1) {
        py.err_set(*py.value_error, err);
        goto out;
    }
    if (rc == -3) {
        py.err_set(*py.runtime_error, err);
        goto out;
    }
    result = py.from_bool(rc == 1);
out:
    for (int i = 0; i < n; i++)
        py.decref(strs[i]);
    return result;
}

static PyObj *m_stop(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    spy_stop();
    return none();
}

static PyObj *m_status(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    struct spy_status st;
    spy_get_status(&st);
    PyObj *d = py.dict_new();
    if (!d)
        return NULL;
    if (put(d, "version", text(st.version)) || put(d, "pid", py.from_ll(st.pid))
        || put(d, "python_version", text(st.python_version)) || put(d, "running", py.from_bool(st.running))
        || put(d, "rate", py.from_ll(st.rate)) || put(d, "effective_rate", py.from_ll(st.effective_rate))
        || put(d, "samples", py.from_ull(st.samples)) || put(d, "dropped", py.from_ull(st.dropped))
        || put(d, "torn_reads", py.from_ull(st.torn_reads)) || put(d, "missed_ticks", py.from_ull(st.missed_ticks))
        || put(d, "overflow", py.from_ull(st.overflow)) || put(d, "uptime", py.from_double(st.uptime))
        || put(d, "cpu_budget", py.from_double(st.cpu_budget))
        || put(d, "sampler_cpu_seconds", py.from_double(st.sampler_cpu_seconds))
        || put(d, "read_method", text(st.read_method))
        || put(d, "read_method_reason", text(st.read_method_reason)) || put(d, "threads", py.from_ll(st.threads))
        || put(d, "sample_cost_us", py.from_double(st.sample_cost_us)) || put(d, "history", py.from_ll(st.history))
        || put(d, "memory_bytes", py.from_ull(st.memory_bytes)) || put(d, "stacks", py.from_ull(st.stacks))
        || put(d, "functions", py.from_ull(st.functions)) || put(d, "task_rate", py.from_ll(st.task_rate))
        || put(d, "task_effective_rate", py.from_ll(st.task_effective_rate))
        || put(d, "task_cap", py.from_ll(st.task_cap)) || put(d, "tasks", py.from_ll(st.tasks))
        || put(d, "tasks_walked", py.from_ll(st.tasks_walked))
        || put(d, "task_snapshots", py.from_ull(st.task_snapshots))
        || put(d, "task_snapshots_torn", py.from_ull(st.task_snapshots_torn))
        || put(d, "task_cost_us", py.from_double(st.task_cost_us))
        || put(d, "blocks", py.from_ull(spy_blocks_total())) || put(d, "block_ms", py.from_ll(spy_agent.cfg.block_ms))
        || put(d, "block_cost_us", py.from_double(spy_blocks_cost_us()))) {
        py.decref(d);
        return NULL;
    }
    return d;
}

static PyObj *m_top(PyObj *self, PyObj *args, PyObj *kwargs)
{
    (void)self;
    static char *kwlist[] = { "limit", "window", "idle", "tid", "tasks", NULL };
    ssize_t limit = 20;
    PyObj *window_obj = NULL;
    int idle = 0;
    int tid = 0;
    int tasks = 0;
    if (!py.parse(args, kwargs, "|nOpip:top", kwlist, &limit, &window_obj, &idle, &tid, &tasks))
        return NULL;
    struct spy_status st;
    spy_get_status(&st);
    long window = 0;
    if (window_obj && window_obj != py.none) {
        window = py.as_long(window_obj);
        if (window == -1 && py.err_occurred())
            return NULL;
        if (window < 1 || window > st.history) {
            char msg[160];
            snprintf(msg, sizeof(msg), "window=%ld is not valid: expected None or a whole number of seconds from 1 to %d",
                     window, st.history);
            py.err_set(*py.value_error, msg);
            return NULL;
        }
    }
    if (limit < 1 || limit > 100000) {
        py.err_set(*py.value_error, "limit is not valid: expected a whole number from 1 to 100000");
        return NULL;
    }
    struct spy_top_result r;
    /* the other threads keep running while we count */
    void *ts = py.save_thread();
    int rc = tasks ? spy_top_tasks((int)limit, (int)window, tid, 0, &r)
                   : spy_top((int)limit, (int)window, idle != 0, tid, 0, &r);
    py.restore_thread(ts);
    if (rc != 0) {
        py.err_set(*py.runtime_error, "spyagent: out of memory computing top");
        return NULL;
    }
    PyObj *list = py.list_new(0);
    for (int i = 0; list && i < r.nrows; i++) {
        const struct spy_top_entry *e = &r.rows[i];
        PyObj *row = py.dict_new();
        if (!row || put(row, "function", text(e->function)) || put(row, "file", text(e->file))
            || put(row, "line", py.from_ll(e->line)) || put(row, "own", py.from_ull(e->own))
            || put(row, "total", py.from_ull(e->total)) || put(row, "own_pct", py.from_double(e->own_pct))
            || put(row, "total_pct", py.from_double(e->total_pct))
            || (tasks && (put(row, "running", py.from_ull(e->running)) || put(row, "ready", py.from_ull(e->ready))
                          || put(row, "waiting", py.from_ull(e->total - e->running - e->ready))))
            || append(list, row)) {
            py.decref(list);
            list = NULL;
        }
    }
    spy_top_result_free(&r);
    return list;
}

static PyObj *thread_dict(const struct spy_dump_thread *t)
{
    PyObj *d = py.dict_new();
    PyObj *frames = py.list_new(0);
    if (!d || !frames)
        goto fail;
    for (int f = 0; f < t->nframes; f++) {
        PyObj *fr = py.dict_new();
        if (!fr || put(fr, "function", text(t->frames[f].function)) || put(fr, "file", text(t->frames[f].file))
            || put(fr, "line", py.from_ll(t->frames[f].line)) || append(frames, fr))
            goto fail;
    }
    if (put(d, "tid", py.from_ll(t->tid)) || put(d, "thread_id", py.from_ull(t->thread_id))
        || put(d, "name", text(t->name)) || put(d, "gil", py.from_bool(t->gil))
        || put(d, "idle", py.from_bool(t->idle)) || put(d, "truncated", py.from_bool(t->truncated)))
        goto fail;
    int rc = put(d, "frames", frames);
    frames = NULL;
    if (rc)
        goto fail;
    return d;
fail:
    if (d)
        py.decref(d);
    if (frames)
        py.decref(frames);
    return NULL;
}

static PyObj *m_dump(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    struct spy_dump_result r;
    void *ts = py.save_thread();
    int rc = spy_dump(&r);
    py.restore_thread(ts);
    if (rc != 0) {
        py.err_set(*py.runtime_error, "spyagent: could not walk the interpreter's threads");
        return NULL;
    }
    PyObj *list = py.list_new(0);
    for (int i = 0; list && i < r.nthreads; i++) {
        if (append(list, thread_dict(&r.threads[i]))) {
            py.decref(list);
            list = NULL;
        }
    }
    spy_dump_result_free(&r);
    return list;
}

static PyObj *frames_list(const struct spy_dump_frame *frames, int n)
{
    PyObj *list = py.list_new(0);
    for (int f = 0; list && f < n; f++) {
        PyObj *fr = py.dict_new();
        if (!fr || put(fr, "function", text(frames[f].function)) || put(fr, "file", text(frames[f].file))
            || put(fr, "line", py.from_ll(frames[f].line)) || append(list, fr)) {
            if (fr)
                py.decref(fr);
            py.decref(list);
            list = NULL;
        }
    }
    return list;
}

static PyObj *task_dict(const struct spy_task_info *t, long long pid)
{
    PyObj *d = py.dict_new();
    if (!d)
        return NULL;
    if (put(d, "id", text(t->id)) || put(d, "name", text(t->name)) || put(d, "state", text(t->state))
        || put(d, "awaiting", text(t->awaiting)) || put(d, "awaited_by", text(t->awaited_by[0] ? t->awaited_by : NULL))
        || put(d, "truncated", py.from_bool(t->truncated)) || put(d, "pid", py.from_ll(pid))
        || put(d, "frames", frames_list(t->frames, t->nframes))) {
        py.decref(d);
        return NULL;
    }
    return d;
}

static PyObj *m_tasks(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    struct spy_tasks_result r;
    void *ts = py.save_thread();
    int rc = spy_tasks(&r, SPY_TASKS_REPLY_CAP);
    py.restore_thread(ts);
    if (rc != 0) {
        py.err_set(*py.runtime_error, "spyagent: out of memory reading the asyncio tasks");
        return NULL;
    }
    struct spy_status st;
    spy_get_status(&st);
    PyObj *list = py.list_new(0);
    for (int i = 0; list && i < r.ntasks; i++) {
        if (append(list, task_dict(&r.tasks[i], st.pid))) {
            py.decref(list);
            list = NULL;
        }
    }
    spy_tasks_result_free(&r);
    return list;
}

static PyObj *block_dict(const struct spy_loop_block *b)
{
    PyObj *d = py.dict_new();
    PyObj *frames = py.list_new(0);
    if (!d || !frames)
        goto fail;
    for (uint32_t f = 0; f < b->nframes; f++) {
        PyObj *fr = py.dict_new();
        if (!fr || put(fr, "function", text(b->frames[f].function)) || put(fr, "file", text(b->frames[f].file))
            || put(fr, "line", py.from_ll(b->frames[f].line)) || append(frames, fr))
            goto fail;
    }
    if (put(d, "at", py.from_double(b->at)) || put(d, "duration_ms", py.from_ll(b->duration_ms))
        || put(d, "thread", text(b->thread)) || put(d, "tid", py.from_ll(b->tid)) || put(d, "pid", py.from_ll(b->pid))
        || put(d, "endpoint", text(b->endpoint)) || put(d, "endpoint_file", text(b->endpoint_file))
        || put(d, "task", text(b->task)))
        goto fail;
    int rc = put(d, "frames", frames);
    frames = NULL;
    if (rc)
        goto fail;
    return d;
fail:
    if (d)
        py.decref(d);
    if (frames)
        py.decref(frames);
    return NULL;
}

static PyObj *m_blocks(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    struct spy_loop_block *v = NULL;
    size_t n = 0;
    uint64_t last;
    if (spy_blocks_since(0, &v, &n, &last) != 0) {
        py.err_set(*py.runtime_error, "spyagent: out of memory listing the loop blocks");
        return NULL;
    }
    PyObj *list = py.list_new(0);
    for (size_t i = 0; list && i < n; i++) {
        if (append(list, block_dict(&v[i]))) {
            py.decref(list);
            list = NULL;
        }
    }
    spy_loop_blocks_free(v, n);
    return list;
}

static PyObj *m_reset(PyObj *self, PyObj *unused)
{
    (void)self;
    (void)unused;
    spy_reset();
    return none();
}

static struct method_def methods[] = {
    { "start", (void *)m_start, METH_VARARGS | METH_KEYWORDS,
      "start(**settings) -> bool\n\nStart the agent (settings as the SPY_* variables, lowercase, without SPY_:\n"
      "rate, cpu_budget, ws_host, ws_port, data_dir, log, history, interval, max_memory, max_clients, block_ms, enabled). True if it started,\n"
      "False if it was already running or is disabled. A bad value raises ValueError." },
    { "stop", (void *)m_stop, METH_NOARGS, "stop()\n\nStop sampling (what was counted is kept)." },
    { "status", (void *)m_status, METH_NOARGS, "status() -> dict\n\nThe agent's state and counters." },
    { "top", (void *)m_top, METH_VARARGS | METH_KEYWORDS,
      "top(limit=20, window=None, idle=False, tid=0, tasks=False) -> list[dict]\n\nFunctions by own samples, like "
      "py-spy top. window: the last N seconds (None = since start); idle: count idle samples too; tid: one thread; "
      "tasks: rank by asyncio task wall time instead (own/total in ms, with running/ready/waiting)." },
    { "dump", (void *)m_dump, METH_NOARGS,
      "dump() -> list[dict]\n\nEvery Python thread's stack now, innermost frame first, read without the GIL." },
    { "tasks", (void *)m_tasks, METH_NOARGS,
      "tasks() -> list[dict]\n\nEvery pending asyncio task now (at most 1,000), read without the GIL: id, name, state "
      "('running', 'ready', 'waiting', 'created'), awaiting, awaited_by, pid and frames, innermost first. Empty until "
      "asyncio runs a loop on the main thread." },
    { "reset", (void *)m_reset, METH_NOARGS, "reset()\n\nForget the samples counted so far." },
    { "blocks", (void *)m_blocks, METH_NOARGS,
      "blocks() -> list[dict]\n\nThe recent event-loop blocks (a loop thread kept from its selector by one callback\n"
      "for SPY_BLOCK_MS or more), oldest first: at, duration_ms, thread, tid, pid, endpoint,\n"
      "endpoint_file, task, frames (the stack that held the loop, innermost first)." },
    { NULL, NULL, 0, NULL },
};

static struct module_def module = {
    .ob_base = { 1, NULL },
    .m_name = "spyagent",
    .m_doc = "In-process sampling profiler for Python services: reads every thread's stack without the GIL.",
    .m_size = -1,
    .m_methods = methods,
};

__attribute__((visibility("default"))) void *PyInit_spyagent(void);

void spy_pymodule_register_builtin(void)
{
    /* Loaded before the interpreter starts (LD_PRELOAD): make `spyagent` a
     * built-in module, so the app can import the agent it already has
     * without this directory on sys.path.  Only before Py_Initialize, the
     * one time the table of built-in modules may be extended. */
    int (*initialized)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    int (*append)(const char *, void *(*)(void)) =
        (int (*)(const char *, void *(*)(void)))dlsym(RTLD_DEFAULT, "PyImport_AppendInittab");
    if (!initialized || !append || initialized())
        return;
    if (append("spyagent", PyInit_spyagent) != 0)
        spy_log(SPY_LOG_DEBUG, "cannot add spyagent to the built-in modules; import it with its directory on sys.path");
}

void *PyInit_spyagent(void)
{
    if (resolve_api() != 0) {
        spy_log(SPY_LOG_ERROR, "this Python lacks part of the C API the spyagent module needs");
        return NULL;
    }
    void *m = py.module_create(&module, PYTHON_API_VERSION);
    /* the importing thread holds the GIL: a loop may already run here */
    if (m)
        spy_task_roots_capture_now();
    return m;
}
