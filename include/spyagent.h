/*
 * spyagent.h — the public C interface of libspyagent.so.
 *
 * Most users never call these: LD_PRELOAD=libspyagent.so starts the agent
 * from the environment, and Python code uses `import spyagent`.  These are
 * the same entry points, for C hosts and for our own tools.  Strings
 * returned through the structs are owned by the struct and released by the
 * matching *_free function.
 */
#ifndef SPYAGENT_H
#define SPYAGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPY_VERSION "0.1.0"

#define SPY_API __attribute__((visibility("default")))

/* Start the agent with the SPY_* environment and then the given key=value
 * overrides (keys as in spyagent.start(): "rate", "cpu_budget", ...).
 * Returns 1 if it started, 0 if it was already running, -1 on error with
 * one line in err naming the setting, the value and what is accepted. */
SPY_API int spy_start(const char *const *keys, const char *const *values, int n, char *err, size_t errlen);
SPY_API void spy_stop(void);
SPY_API bool spy_running(void);

struct spy_status {
    char version[16];
    int pid;
    char python_version[32];
    bool running;
    int rate, effective_rate;
    double cpu_budget;
    uint64_t samples, dropped, torn_reads, missed_ticks, overflow;
    double uptime, sampler_cpu_seconds, sample_cost_us;
    int threads;
    const char *read_method;
    int history;
    uint64_t memory_bytes;      /* the stack store's estimated size */
    uint64_t stacks, functions; /* distinct ones seen */
    const char *read_method_reason; /* why read_method is the one in force */
    /* asyncio task snapshots */
    int task_rate, task_effective_rate;   /* setting and what the CPU budget allows (Hz; 0 = off) */
    int task_cap;
    int tasks;                  /* pending tasks in the last snapshot */
    int tasks_walked;           /* of those, read in the last snapshot */
    uint64_t task_snapshots;
    uint64_t task_snapshots_torn; /* listings that did not hold together (the next one covers their time) */
    double task_cost_us;        /* mean wall time of a recent snapshot */
};
SPY_API void spy_get_status(struct spy_status *st);

struct spy_top_entry {
    char *function, *file;
    int line;
    uint64_t own, total;
    uint64_t running, ready;    /* task view: of total, ms on the CPU and ready to run; the rest waited */
    double own_pct, total_pct;
    int pids[8];                /* processes with samples in this row (first 8) */
    int npids;
};
struct spy_top_thread {
    int pid;
    int tid;
    char name[64];              /* "" if unknown */
    uint64_t samples;           /* in the window, as counted for the rows */
    bool idle, gil;             /* as last sampled */
};
struct spy_top_result {
    struct spy_top_entry *rows;
    int nrows;
    uint64_t samples, idle_samples;
    int window;
    struct spy_top_thread *threads;  /* threads with samples in the window */
    int nthreads;
    bool tasks;                 /* the task view: counts are milliseconds of asyncio task wall time */
};
/* window: seconds, 0 = since start; tid: kernel tid, 0 = every thread;
 * pid: one process of the tree (this one or a worker), 0 = all. */
SPY_API int spy_top(int limit, int window, bool idle, int tid, int pid, struct spy_top_result *out);
/* The same ranking of asyncio task wall time (own/total in milliseconds,
 * every task state counted: waiting, ready and on the CPU); a thread's
 * entry is the loop's thread that ran the tasks. */
SPY_API int spy_top_tasks(int limit, int window, int tid, int pid, struct spy_top_result *out);
SPY_API void spy_top_result_free(struct spy_top_result *r);

struct spy_dump_frame {
    char *function, *file;
    int line;
};
struct spy_dump_thread {
    int tid;
    uint64_t thread_id;
    char *name;                 /* NULL if unknown */
    bool gil, idle;
    bool truncated;
    int nframes;
    struct spy_dump_frame *frames;  /* innermost first */
};
struct spy_dump_result {
    int nthreads;
    struct spy_dump_thread *threads;
};
SPY_API int spy_dump(struct spy_dump_result *out);
SPY_API void spy_dump_result_free(struct spy_dump_result *r);

/* Every pending native asyncio.Task now (3.9-3.13, asyncio or uvloop),
 * read without the GIL: name, state, what it awaits and its coroutine
 * frames, innermost first (for the running task, with the synchronous
 * frames it is running on top).  At most `cap` tasks are read; the rest
 * are counted in `omitted`. */
struct spy_task_info {
    char id[24];                /* the Task's address, "0x7f..." */
    char *name;                 /* NULL if unreadable */
    const char *state;          /* "running", "ready", "waiting", "created" */
    char *awaiting;             /* type name of what its innermost coroutine awaits, NULL if none */
    char awaited_by[24];        /* id of the task awaiting this one, "" if none seen */
    bool truncated;
    int nframes;
    struct spy_dump_frame *frames;  /* innermost first */
};
struct spy_tasks_result {
    bool available;             /* the task roots are captured (asyncio runs) */
    int ntasks;
    int omitted;                /* pending tasks not read (over cap) */
    struct spy_task_info *tasks;
};
#define SPY_TASKS_REPLY_CAP 1000
SPY_API int spy_tasks(struct spy_tasks_result *out, int cap);
SPY_API void spy_tasks_result_free(struct spy_tasks_result *r);

/* Change the sampling rate (1-10000 Hz); -1 if out of range. */
SPY_API int spy_set_rate(int hz);

/* Forget what was counted so far (names stay cached). */
SPY_API void spy_reset(void);

#ifdef __cplusplus
}
#endif
#endif
