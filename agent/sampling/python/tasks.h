/*
 * tasks.h — the interface of the GIL-free asyncio task reader.
 *
 * The addresses a task read starts from (the interpreter's set of
 * scheduled tasks, the task type, ...) live in module state with no
 * exported symbol: they are captured once with the GIL by the lifecycle
 * (again after fork, and once asyncio is imported) into spy_agent's
 * task_roots.  Every read after that goes through memread and is
 * fault-safe; nothing here takes the GIL or allocates.
 *
 * A snapshot is two steps, so that a cap can choose which tasks to walk
 * without walking all of them:
 *   1. list_tasks: the addresses of every pending native asyncio.Task
 *      (one copy of the set's table, one small read per task);
 *   2. read_task: one task's state, name object, loop, what it awaits and
 *      its coroutine chain as raw frames (code object + instruction offset,
 *      the same struct spy_raw_frame thread walks produce), innermost
 *      awaited coroutine first, out to the task's own coroutine.
 * Threads: any thread, each with its own buffers.
 */
#ifndef SPY_TASKS_H
#define SPY_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include "reader.h"

/* Captured with the GIL; every field an address in this process, 0 if
 * this version or this process has none. */
struct spy_task_roots {
    uint64_t tasks_set;        /* PySetObject of weakrefs: asyncio.tasks._all_tasks.data (3.9-3.11),
                                * _scheduled_tasks.data (3.12+) */
    uint64_t eager_set;        /* PySetObject of tasks: asyncio.tasks._eager_tasks (3.12+) */
    uint64_t task_type;        /* _asyncio.Task */
    uint64_t future_type;      /* _asyncio.Future */
    uint64_t coro_type;        /* PyCoro_Type */
    uint64_t gen_type;         /* PyGen_Type */
    uint64_t asyncgen_type;    /* PyAsyncGen_Type */
    uint64_t asend_type;       /* _PyAsyncGenASend_Type */
    uint64_t weakref_type;     /* _PyWeakref_RefType */
    uint64_t none;             /* &_Py_NoneStruct */
    uint64_t set_dummy;        /* _PySet_Dummy */
    uint64_t main_loop;        /* the main thread's running loop when captured, 0 if none then */
    uint64_t futureiter_type;  /* _asyncio.FutureIter (what `await future` leaves on the stack), 0 if unknown */
};

enum spy_task_state {
    SPY_TASK_RUNNING = 0,      /* its coroutine is executing: on the CPU (or holding the loop) */
    SPY_TASK_READY,            /* what it awaited is done: waiting for the loop to run it */
    SPY_TASK_WAITING,          /* awaiting a future, a task or another awaitable still pending */
    SPY_TASK_CREATED,          /* created, its coroutine not started yet */
};

#define SPY_TASK_MAX_DEPTH 128     /* coroutine frames kept per task; deeper chains are truncated */
#define SPY_TASKS_MAX 65536        /* tasks listed per snapshot at most */
#define SPY_TASKS_SCRATCH (SPY_TASKS_MAX * 16 + 4096)   /* caller-owned buffer for list_tasks */

struct spy_raw_task {
    uint64_t addr;             /* the Task object */
    uint64_t loop;             /* its event loop object */
    uint64_t coro;             /* its coroutine */
    uint64_t name;             /* task_name: a str, or an int on 3.12+ until get_name() */
    uint64_t waiter;           /* task_fut_waiter: what it awaits (0 if none) */
    bool waiter_is_task;       /* the waiter is another Task: this task awaits it (it is awaited_by this one) */
    uint64_t leaf_type;        /* type of the object the innermost coroutine awaits, 0 if unknown;
                                * through a FutureIter, the type of its future (a Task,
                                * _GatheringFuture, Future) */
    uint8_t state;             /* enum spy_task_state */
    bool truncated;            /* deeper than SPY_TASK_MAX_DEPTH */
    uint16_t depth;            /* frames[0..depth) */
    uint64_t outer_code;       /* code object of the task's own coroutine (frames[depth-1].code) */
    uint64_t inner_code;       /* code object of the innermost coroutine (frames[0].code) */
    struct spy_raw_frame *frames;   /* caller-owned, SPY_TASK_MAX_DEPTH entries, innermost first */
};

struct spy_task_reader {
    /* Addresses of every pending native asyncio.Task (both sets), at most
     * max; returns the count or -1 (roots unusable, table torn). */
    int (*list_tasks)(const struct spy_interp *ip, const struct spy_task_roots *roots,
                      uint64_t *out, int max, void *scratch);
    /* One task; 0, or -1 if it is no longer a pending native task or the
     * read did not hold together. */
    int (*read_task)(const struct spy_interp *ip, const struct spy_task_roots *roots,
                     uint64_t task, struct spy_raw_task *out);
    /* The task's name ("Task-12" when CPython still holds only the number). */
    int (*task_name)(const struct spy_interp *ip, uint64_t name_obj, char *out, size_t out_size);
    /* tp_name of a type object ("_asyncio.Future", "FutureIter"). */
    int (*type_name)(const struct spy_interp *ip, uint64_t type, char *out, size_t out_size);
    /* Added: without the GIL, the roots that live in modules (tasks_set,
     * eager_set, task_type, future_type), looked up through sys.modules
     * (asyncio.tasks, _asyncio) and checked by type name, for a process
     * whose main thread runs no Python to take a capture with the GIL (an
     * idle loop).  Fills only those fields; 0, or -1 if not there (yet). */
    int (*find_roots)(const struct spy_interp *ip, struct spy_task_roots *out);
};

/* The task reader for a minor version (the same version as the frame
 * reader in use), NULL if none. */
const struct spy_task_reader *spy_task_reader_for(int major, int minor);

#endif
