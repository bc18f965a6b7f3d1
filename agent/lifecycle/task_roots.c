/*
 * task_roots.c — captures, with the GIL, the addresses the GIL-free asyncio
 * task reader starts from (struct spy_task_roots in spy_agent.task_roots):
 * the set of scheduled tasks, the eager-task set (3.12+), the C Task, Future
 * and FutureIter types, the main thread's running loop, and the C types and
 * objects the reader compares against (coroutine, generator, weakref, None,
 * the set's dummy key).  Strong references are kept to every object captured.
 *
 * Who does what:
 *  - `import spyagent` (PyInit_spyagent, the importing thread, GIL held)
 *    tries a capture at once;
 *  - the sampler thread calls spy_task_roots_poll() every tick: until the
 *    roots are captured, at most once a second, once asyncio.tasks is in
 *    sys.modules (looked up without the GIL, below), it asks CPython for a
 *    pending call (Py_AddPendingCall needs neither the GIL nor a thread
 *    state); a program without asyncio never gets one.  A
 *    main thread idle in its loop's selector runs no Python, so no pending
 *    call, for as long as it stays idle: meanwhile the poll also looks the
 *    module-level roots up without the GIL (the task reader's find_roots,
 *    through sys.modules) and publishes them without references (modules
 *    live as long as the interpreter); the capture with the GIL replaces
 *    them when it runs;
 *  - CPython runs that call on the main thread, GIL held, at its next
 *    eval-breaker check: it looks only at modules already in sys.modules
 *    (never imports), and captures once asyncio.tasks is there and a loop
 *    runs on the main thread; otherwise the sampler asks again a second
 *    later.  It never raises into the host (any error is cleared, an error
 *    already set is put back), never runs while the interpreter finalizes,
 *    and costs one dict lookup while asyncio is absent;
 *  - in a fork child (fork.c, the forking thread), the capture is asked for
 *    again: the roots stay valid meanwhile (the child has the same objects
 *    at the same addresses).
 * Invariant: spy_agent.task_roots is written only here, under `lock`: the
 * generation is made odd, the roots written, the generation made even again
 * (release); readers (spy_task_roots_load) copy the roots between two loads
 * of an even, unchanged generation.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "agent.h"
#include "lifecycle.h"
#include "log.h"
#include "spyagent.h"

#define POLL_NS 1000000000ULL
#define PENDING_STALE_NS 10000000000ULL   /* a request not run for this long may be made again */

typedef struct pyobj PyObj;

static struct {
    bool ok;
    int (*is_initialized)(void);
    int (*is_finalizing)(void);
    int (*gil_check)(void);
    int (*add_pending)(int (*)(void *), void *);
    PyObj *(*get_module)(PyObj *);
    PyObj *(*from_string)(const char *);
    PyObj *(*getattr)(PyObj *, const char *);
    PyObj *(*call)(PyObj *, PyObj *);
    PyObj *(*call_method)(PyObj *, const char *, const char *, ...);
    PyObj *(*type_of)(PyObj *);
    void (*err_fetch)(PyObj **, PyObj **, PyObj **);
    void (*err_restore)(PyObj *, PyObj *, PyObj *);
    void (*err_clear)(void);
    void (*incref)(PyObj *);
    void (*decref)(PyObj *);
    void *none, *true_obj, *set_type, *coro, *gen, *asyncgen, *asend, *weakref;
    PyObj **set_dummy;
} api;

/* what is held: strong references, released when replaced */
enum { HELD_SET, HELD_EAGER, HELD_TASK, HELD_FUTURE, HELD_ITER, HELD_LOOP, HELD_N };
static PyObj *held[HELD_N];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool found;          /* roots captured (or asyncio cannot give any): stop asking */
static atomic_bool found_gil_free; /* module-level roots published without the GIL */
static atomic_bool requested;      /* a pending call is queued */
static atomic_uint_fast64_t last_ask_ns;
static atomic_bool gave_up_logged;

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve_api(void)
{
#define SYM(field, name) \
    do { \
        *(void **)&api.field = dlsym(RTLD_DEFAULT, name); \
        if (!api.field) \
            return; \
    } while (0)
    SYM(is_initialized, "Py_IsInitialized");
    *(void **)&api.is_finalizing = dlsym(RTLD_DEFAULT, "Py_IsFinalizing");         /* 3.13 */
    if (!api.is_finalizing)
        SYM(is_finalizing, "_Py_IsFinalizing");                                     /* 3.9-3.12 */
    SYM(gil_check, "PyGILState_Check");
    SYM(add_pending, "Py_AddPendingCall");
    SYM(get_module, "PyImport_GetModule");
    SYM(from_string, "PyUnicode_FromString");
    SYM(getattr, "PyObject_GetAttrString");
    SYM(call, "PyObject_CallObject");
    SYM(call_method, "PyObject_CallMethod");
    SYM(type_of, "PyObject_Type");
    SYM(err_fetch, "PyErr_Fetch");
    SYM(err_restore, "PyErr_Restore");
    SYM(err_clear, "PyErr_Clear");
    SYM(incref, "Py_IncRef");
    SYM(decref, "Py_DecRef");
    SYM(none, "_Py_NoneStruct");
    SYM(true_obj, "_Py_TrueStruct");
    SYM(set_type, "PySet_Type");
    SYM(coro, "PyCoro_Type");
    SYM(gen, "PyGen_Type");
    SYM(asyncgen, "PyAsyncGen_Type");
    SYM(asend, "_PyAsyncGenASend_Type");
    SYM(weakref, "_PyWeakref_RefType");
    SYM(set_dummy, "_PySet_Dummy");
#undef SYM
    api.ok = true;
}

/* The C-API, looked up once (the sampler and a Python thread may both ask
 * first); false if this Python lacks part of it. */
static bool resolve(void)
{
    pthread_once(&resolve_once, resolve_api);
    return api.ok;
}

static uint64_t addr(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static void publish(const struct spy_task_roots *r)
{
    struct spy_agent *a = &spy_agent;
    atomic_fetch_add_explicit(&a->task_roots_gen, 1, memory_order_acq_rel);     /* odd: being written */
    atomic_thread_fence(memory_order_release);
    a->task_roots = *r;
    atomic_fetch_add_explicit(&a->task_roots_gen, 1, memory_order_release);     /* even: complete */
}

/* The C types and objects every capture shares (dlsym). */
static void fill_c_roots(struct spy_task_roots *r)
{
    r->coro_type = addr(api.coro);
    r->gen_type = addr(api.gen);
    r->asyncgen_type = addr(api.asyncgen);
    r->asend_type = addr(api.asend);
    r->weakref_type = addr(api.weakref);
    r->none = addr(api.none);
    r->set_dummy = addr(*api.set_dummy);
}

static void drop(PyObj **p)
{
    if (*p) {
        api.decref(*p);
        *p = NULL;
    }
}

/* sys.modules[name] or NULL; never imports. */
static PyObj *module(const char *name)
{
    PyObj *s = api.from_string(name);
    if (!s)
        return NULL;
    PyObj *m = api.get_module(s);
    api.decref(s);
    return m;
}

static PyObj *attr(PyObj *o, const char *name)
{
    if (!o)
        return NULL;
    PyObj *v = api.getattr(o, name);
    if (!v)
        api.err_clear();
    return v;
}

static bool is_set(PyObj *o)
{
    return o && addr(*(void **)((char *)o + sizeof(ssize_t))) == addr(api.set_type);
}

/* With the GIL.  1 = captured, 0 = not yet (asking again later makes
 * sense), -1 = this interpreter has no C asyncio tasks to read. */
static int capture(void)
{
    PyObj *tasks = NULL, *events = NULL, *aio = NULL, *get_loop = NULL, *loop = NULL, *weakset = NULL;
    PyObj *set = NULL, *eager = NULL, *task_type = NULL, *future_type = NULL, *fut = NULL, *it = NULL, *iter_type = NULL;
    int rc = 0;
    PyObj *threading = module("threading");
    PyObj *shutting = attr(threading, "_SHUTTING_DOWN");
    bool ending = shutting && addr(shutting) == addr(api.true_obj);
    drop(&shutting);
    drop(&threading);
    if (ending)
        goto out;                       /* the interpreter is shutting down: leave it be */
    tasks = module("asyncio.tasks");
    events = tasks ? module("asyncio.events") : NULL;
    if (!tasks || !events)
        goto out;
    get_loop = attr(events, "_get_running_loop");
    loop = get_loop ? api.call(get_loop, NULL) : NULL;
    if (!loop || addr(loop) == addr(api.none))
        goto out;                       /* no loop runs on the main thread yet */
    rc = -1;
    aio = module("_asyncio");
    if (!aio)
        goto out;
    weakset = attr(tasks, "_scheduled_tasks");          /* 3.12+ */
    if (!weakset)
        weakset = attr(tasks, "_all_tasks");            /* 3.9-3.11 */
    set = attr(weakset, "data");
    eager = attr(tasks, "_eager_tasks");
    task_type = attr(aio, "Task");
    future_type = attr(aio, "Future");
    if (!is_set(set) || !task_type || !future_type)
        goto out;
    if (eager && !is_set(eager))
        drop(&eager);
    /* the FutureIter type: what `await future` leaves on the awaiting
     * coroutine's stack (a future of the running loop, never awaited) */
    fut = api.call_method(loop, "create_future", NULL);
    it = fut ? api.call_method(fut, "__await__", NULL) : NULL;
    iter_type = it ? api.type_of(it) : NULL;
    if (!iter_type)
        api.err_clear();
    struct spy_task_roots r;
    memset(&r, 0, sizeof(r));
    r.tasks_set = addr(set);
    r.eager_set = addr(eager);
    r.task_type = addr(task_type);
    r.future_type = addr(future_type);
    r.futureiter_type = addr(iter_type);
    fill_c_roots(&r);
    r.main_loop = addr(loop);
    PyObj *keep[HELD_N] = { set, eager, task_type, future_type, iter_type, loop };
    for (int i = 0; i < HELD_N; i++) {
        PyObj *old = held[i];
        held[i] = keep[i];
        if (old)
            api.decref(old);
    }
    set = eager = task_type = future_type = iter_type = loop = NULL;   /* now held */
    pthread_mutex_lock(&lock);
    publish(&r);
    atomic_store(&found, true);
    pthread_mutex_unlock(&lock);
    rc = 1;
out:
    api.err_clear();
    PyObj **all[] = { &tasks, &events, &aio, &get_loop, &loop, &weakset, &set, &eager, &task_type,
                      &future_type, &fut, &it, &iter_type };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        drop(all[i]);
    return rc;
}

/* With the GIL: capture, leaving the host's error state as it was. */
static void capture_guarded(void)
{
    if (!resolve() || !api.is_initialized() || api.is_finalizing() || !api.gil_check())
        return;
    PyObj *t = NULL, *v = NULL, *tb = NULL;
    api.err_fetch(&t, &v, &tb);
    int rc = capture();
    api.err_restore(t, v, tb);
    if (rc == 1) {
        spy_log(SPY_LOG_DEBUG, "asyncio task roots captured");
    } else if (rc < 0) {
        atomic_store(&found, true);     /* nothing to wait for */
        if (!atomic_exchange(&gave_up_logged, true))
            spy_log(SPY_LOG_INFO, "asyncio's task registry is not the C accelerator's (_asyncio): its tasks are not read");
    }
}

/* The pending call: main thread, GIL held.  Returns 0 always: -1 would
 * mean an exception raised into whatever the host was running. */
static int pending(void *arg)
{
    (void)arg;
    atomic_store(&requested, false);
    if (spy_running() && !atomic_load(&found))
        capture_guarded();
    return 0;
}

/* Sampler thread: the module-level roots without the GIL, until found. */
static void find_gil_free(void)
{
    struct spy_agent *a = &spy_agent;
    const struct spy_task_reader *tr = spy_task_reader_for(a->py.major, a->py.minor);
    if (atomic_load(&found_gil_free) || !tr || !atomic_load(&a->attached))
        return;
    struct spy_task_roots r;
    memset(&r, 0, sizeof(r));
    if (tr->find_roots(&a->py.ip, &r) != 0)
        return;
    fill_c_roots(&r);
    pthread_mutex_lock(&lock);
    if (!atomic_load(&found)) {         /* a capture with the GIL is better: never replace it */
        publish(&r);
        spy_log(SPY_LOG_DEBUG, "asyncio task roots found without the GIL");
    }
    atomic_store(&found_gil_free, true);
    pthread_mutex_unlock(&lock);
}

void spy_task_roots_capture_now(void)
{
    if (!atomic_load(&found))
        capture_guarded();
}

void spy_task_roots_poll(uint64_t now_ns)
{
    if (atomic_load_explicit(&found, memory_order_relaxed))
        return;
    uint64_t last = atomic_load_explicit(&last_ask_ns, memory_order_relaxed);
    if (last != 0 && now_ns - last < POLL_NS)
        return;
    if (atomic_load(&requested) && last != 0 && now_ns - last < PENDING_STALE_NS)
        return;                         /* the one asked for has not run yet: do not queue more */
    atomic_store(&last_ask_ns, now_ns);
    if (!resolve() || !api.is_initialized() || api.is_finalizing() || spy_agent.state != SPY_RUNNING)
        return;
    find_gil_free();
    /* no pending call into a program that has not imported asyncio: it has
     * no task to read, and the host's main thread owes us nothing */
    if (!atomic_load(&found_gil_free))
        return;
    atomic_store(&requested, true);
    if (api.add_pending(pending, NULL) != 0)
        atomic_store(&requested, false); /* the queue is full: next second */
}

void spy_task_roots_after_fork_child(void)
{
    /* same objects at the same addresses in the child, so the roots stay
     * usable; capture again to follow what the child does with them */
    pthread_mutex_init(&lock, NULL);   /* another thread may have held it at fork */
    atomic_store(&found, false);
    atomic_store(&found_gil_free, false);
    atomic_store(&requested, false);
    atomic_store(&last_ask_ns, 0);
}
