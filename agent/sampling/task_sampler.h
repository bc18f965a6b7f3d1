/* task_sampler.h — periodic asyncio task snapshots into the store's task
 * view (SPY_FLAG_TASK entries, milliseconds of task wall time).  The
 * sampler thread owns one and calls it right after a tick's thread walk. */
#ifndef SPY_TASK_SAMPLER_H
#define SPY_TASK_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "python/reader.h"
#include "python/tasks.h"
#include "stackstore.h"
#include "symbols.h"

#define SPY_TASK_KNOWN_OUTER 64    /* task coroutine codes remembered, to tell when a task may be running */
#define SPY_TASK_LOOPS 16          /* event loops whose thread is remembered */

struct spy_task_agg {
    int slot;
    uint32_t stack;
    unsigned flags;
    double ms;
};

struct spy_task_sampler {
    const struct spy_task_reader *reader;
    int cap;                       /* tasks walked per snapshot besides the running one */
    bool ready;                    /* buffers allocated (at the first snapshot with roots) */
    bool failed;                   /* out of memory: snapshots off for good */
    uint64_t roots_gen;            /* generation of the roots in use, 0 = none */
    struct spy_task_roots roots;
    /* allocated once */
    uint64_t *addrs;               /* SPY_TASKS_MAX task addresses */
    void *scratch;                 /* SPY_TASKS_SCRATCH */
    struct spy_raw_task *kept;     /* cap + 1 tasks read */
    struct spy_raw_frame *frames;  /* their frames, SPY_TASK_MAX_DEPTH each */
    struct spy_raw_thread *as_threads;  /* the same frames as "threads", for the symbol cache's validation */
    uint32_t *stack;               /* one interned stack being built */
    struct spy_task_agg *agg;      /* per (slot, stack, flags) of one snapshot */
    int32_t *agg_index;            /* open addressing over agg, 4 * (cap + 1) rounded to a power of two */
    uint32_t agg_mask;
    /* state across snapshots */
    uint64_t last_ns;              /* previous snapshot, 0 = none since (re)start */
    double carry_ms;               /* rounding remainder carried to the next add */
    uint64_t rng;
    uint64_t known_outer[SPY_TASK_KNOWN_OUTER];
    int nknown, known_next;
    struct { uint64_t loop; int slot; } loops[SPY_TASK_LOOPS];
    int nloops, loops_next;
    int pseudo_slot;               /* "asyncio tasks" (tid 0) for loops of unknown thread, -1 until made */
    /* the last snapshot's figures */
    int listed;                    /* pending tasks listed */
    int walked;                    /* tasks read (kept) */
    bool running_kept;
    bool torn;                     /* the listing did not hold together */
};

/* No allocation here: buffers come with the first snapshot that has roots. */
void spy_task_sampler_init(struct spy_task_sampler *ts, const struct spy_task_reader *reader, int cap,
                           uint64_t seed);
void spy_task_sampler_free(struct spy_task_sampler *ts);

/* One snapshot: list the pending tasks, keep the running one and a
 * reservoir sample of the rest, read them, add interval x weight to each
 * kept task's stack.  threads/nthreads: this tick's walk (for the running
 * task's synchronous frames and the loops' threads).  Returns the number of
 * pending tasks listed, or -1 if there was nothing to read (no roots yet,
 * a table that did not hold together, out of memory). */
int spy_task_snapshot(struct spy_task_sampler *ts, const struct spy_interp *ip, struct spy_symbols *sym,
                      struct spy_store *s, const struct spy_raw_thread *threads, int nthreads, uint64_t now_ns,
                      uint64_t interval_ns);

/* The pieces, for tests. */
/* Move a uniform sample of k of the n addresses to the front (a partial
 * Fisher-Yates shuffle); returns min(n, k). */
int spy_task_pick(uint64_t *addrs, int n, int k, uint64_t *rng);
/* How many tasks one kept task stands for: listed n, kept k (of them r = 1
 * the running one, always kept, weight 1; else r = 0). */
double spy_task_weight(int n, int k, int r, bool is_running);
/* Whole milliseconds to add for ms, carrying the remainder. */
uint64_t spy_task_round(double ms, double *carry);
/* The running task's stack as a thread sees it: the thread whose frames
 * hold inner_code at or inside outer_code; returns the number of frames
 * from the innermost one out to (and with) that outer_code frame, and the
 * thread in *which, or 0 if no thread runs it. */
int spy_task_splice(const struct spy_raw_thread *threads, int n, uint64_t inner_code, uint64_t outer_code,
                    int *which);

#endif
