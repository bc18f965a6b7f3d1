/* agent.h — the agent's one instance, shared by its modules: the settings,
 * the interpreter found, the stack store and the sampler's figures.  Defined
 * in agent.c; the lifecycle fills it in, the sampler writes the figures. */
#ifndef SPY_AGENT_H
#define SPY_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "interp.h"
#include "python/tasks.h"
#include "stackstore.h"
#include "threads.h"

enum spy_state { SPY_OFF = 0, SPY_RUNNING, SPY_STOPPING };

/* One thread of a tick, as the sampler hands it to the tick hook. */
struct spy_tick_thread {
    int slot;                      /* its store slot */
    uint32_t stack;                /* interned stack, SPY_INTERN_NONE if none this tick (empty, torn) */
    bool idle, gil;                /* the flags its sample was counted with */
};

/* Called by the sampler thread after each tick, outside the store lock,
 * with every thread the tick walked; `now_ns` is the tick's
 * CLOCK_MONOTONIC time.  A higher layer registers it (the loop-block
 * detector, agent/serving/blocks.c); it must be quick and must not take
 * the store lock for long. */
typedef void (*spy_tick_hook_fn)(const struct spy_tick_thread *threads, int n, uint64_t now_ns);

#define SPY_COST_WINDOW 128

struct spy_agent {
    pthread_mutex_t life;          /* start/stop; never held by the sampler */
    enum spy_state state;
    struct spy_config cfg;
    struct spy_python py;
    bool python_found;
    bool store_ready;
    struct spy_store store;

    pthread_t sampler;
    bool sampler_joinable;
    atomic_bool stop;
    atomic_bool attached;          /* the reader is attached: py.ip is complete */
    uint64_t fork_thread;          /* in a fork child: the thread that forked, until the interpreter prunes the others */
    pthread_mutex_t wake_lock;     /* with `wake`, lets stop() cut a sleep short */
    pthread_cond_t wake;

    /* figures, written by the sampler, read by anyone */
    atomic_uint_fast64_t ticks, dropped, torn, missed, threads_seen;
    atomic_int effective_rate;
    atomic_uint_fast64_t cpu_ns;       /* sampler thread CPU time */
    atomic_uint_fast64_t cost_ns_sum, cost_n;  /* recent walk costs */
    /* asyncio task snapshots (task_sampler.c) */
    atomic_int task_effective_rate;    /* Hz; below cfg.task_rate when the CPU budget is short */
    atomic_int tasks_listed;           /* pending tasks in the last snapshot */
    atomic_int tasks_walked;           /* of those, read (the cap and the running task) */
    atomic_uint_fast64_t task_snapshots;
    atomic_uint_fast64_t task_snapshots_torn;   /* listings that did not hold together (dropped) */
    atomic_uint_fast64_t task_cost_ns_sum, task_cost_n;  /* recent snapshot costs (wall) */
    uint64_t started_ns;

    /* asyncio task roots, captured by the lifecycle (task_roots.c): the
     * writer makes task_roots_gen odd, fills task_roots, makes it even
     * (release); 0 = none yet.  Read them with spy_task_roots_load. */
    struct spy_task_roots task_roots;
    atomic_uint_fast64_t task_roots_gen;
    /* set by the lifecycle before the sampler starts: called by the
     * sampler every tick to have the roots captured (cheap once found) */
    void (*task_roots_poll)(uint64_t now_ns);

    /* the tick hook, NULL if none */
    _Atomic(spy_tick_hook_fn) tick_hook;
};

/* Code objects resolved to function, file and line for on-demand answers
 * (dump.c): a small cache owned by one caller.  spy_code_cache_frame fills
 * out with strdup'd strings: 0, -1 if the code object does not read, -2
 * out of memory. */
struct spy_code_cache;
struct spy_dump_frame;
struct spy_code_cache *spy_code_cache_new(void);
int spy_code_cache_frame(struct spy_code_cache *c, const struct spy_raw_frame *raw, struct spy_dump_frame *out);
void spy_code_cache_free(struct spy_code_cache *c);

/* A consistent copy of the task roots (task_dump.c); false if none yet. */
bool spy_task_roots_load(struct spy_task_roots *out);

extern struct spy_agent spy_agent;

/* Sampler thread body (sampler.c). */
void *spy_sampler_main(void *arg);

#endif
