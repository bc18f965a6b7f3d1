/* stackstore.h — interned frames and stacks, counts per thread in time buckets. */
#ifndef SPY_STACKSTORE_H
#define SPY_STACKSTORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "counts.h"
#include "intern.h"

#define SPY_MAX_SLOTS 1024
#define SPY_FLAG_IDLE 1u
#define SPY_FLAG_GIL 2u
/* A TASK entry counts asyncio task wall time in milliseconds, not samples:
 * a view of its own that CPU views never include.  With IDLE the task was
 * waiting, with READY it was ready to run, alone it was on the CPU. */
#define SPY_FLAG_TASK 4u
#define SPY_FLAG_READY 8u

struct spy_func_key { uint32_t name, file; int32_t firstlineno; };
struct spy_frame_key { uint32_t func; int32_t line; };

struct spy_thread_slot {
    int32_t pid;               /* the process: ours, or a leaf's */
    int32_t tid;               /* kernel tid, 0 if unknown */
    uint64_t thread_id;        /* pthread id */
    char name[64];             /* "" if unknown */
    /* sampler-only state */
    bool idle, gil;
    int64_t name_checked_sec;
    uint64_t samples;
    uint64_t last_seen_tick;
};

struct spy_bucket {
    int64_t second;            /* monotonic second it covers; -1 = empty */
    uint32_t n;
    struct spy_count *items;
};

struct spy_store {
    pthread_mutex_t lock;
    struct spy_intern strings, funcs, frames, stacks;
    struct spy_thread_slot slots[SPY_MAX_SLOTS];
    int nslots;
    struct spy_counts slot_index;   /* tid -> slot + 1 */
    int32_t self_pid;               /* this process (slots of our own threads) */
    struct spy_counts totals;       /* since start or reset */
    struct spy_counts current;      /* the second in progress */
    int64_t current_second;
    struct spy_bucket *ring;
    int history;
    uint64_t recorded;              /* thread samples counted */
    uint64_t task_ms;               /* task milliseconds counted (TASK entries) */
    uint64_t overflow;              /* thread samples lost to full tables */
    struct spy_counts rec;          /* counts of the recording in progress */
    bool rec_active;
    uint64_t rec_samples;
    uint64_t rec_busy;              /* of those, not idle: what the files hold */
    uint64_t rec_task_ms;           /* task milliseconds in the recording */
    size_t max_bytes;               /* past this, new stacks are refused */
    size_t bytes;                   /* estimate, updated between ticks */
    bool full;
};

int spy_store_init(struct spy_store *s, int history, size_t max_bytes);
void spy_store_free(struct spy_store *s);

/* Sampler side: the caller holds s->lock around these. */
uint32_t spy_store_string(struct spy_store *s, const char *str);
uint32_t spy_store_frame_ids(struct spy_store *s, uint32_t name, uint32_t file, int firstlineno, int line);
uint32_t spy_store_frame(struct spy_store *s, const char *name, const char *file, int firstlineno, int line);
uint32_t spy_store_stack(struct spy_store *s, const uint32_t *frames, uint32_t depth);
int spy_store_slot(struct spy_store *s, int32_t tid, uint64_t thread_id);
/* The same for a thread of another process (a leaf's, counted here). */
int spy_store_slot_for(struct spy_store *s, int32_t pid, int32_t tid, uint64_t thread_id);
/* Drop every thread slot (a fork child's threads are not the parent's). */
void spy_store_forget_slots(struct spy_store *s);
void spy_store_count(struct spy_store *s, int slot, uint32_t stack, unsigned flags, int64_t now_sec);
/* Count n samples at once (a leaf's second), or with SPY_FLAG_TASK n
 * milliseconds of task wall time. */
void spy_store_add(struct spy_store *s, int slot, uint32_t stack, unsigned flags, uint64_t n);
/* The counts of the whole seconds after `after` that are complete (in the
 * ring), and the newest such second in *newest; malloc'd, NULL if none or
 * out of memory.  Takes the lock. */
struct spy_count *spy_store_seconds_after(struct spy_store *s, int64_t after, size_t *n, int64_t *newest);
/* Roll the bucket, grow tables.  Takes the lock itself; call between ticks. */
void spy_store_maintain(struct spy_store *s, int64_t now_sec);
/* Forget all counts (keeps interned names).  Takes the lock. */
void spy_store_reset(struct spy_store *s);
/* Start or stop counting into the recording table.  Take the lock. */
int spy_store_record_start(struct spy_store *s);
void spy_store_record_stop(struct spy_store *s);

/* Reader side. */
#define SPY_TOP_MAX_PIDS 64

struct spy_top_row {
    char *function, *file;
    int line;
    uint64_t own, total;
    uint64_t running, ready;   /* task view: of total, the ms on the CPU and ready to run (the rest waited) */
    uint64_t pid_mask;     /* bit i: pids[i] of the result has samples here */
};

struct spy_top_query {
    int limit;
    int window;            /* seconds; 0 = since start */
    bool idle;             /* count idle samples too */
    int32_t tid;           /* 0 = all threads */
    int32_t pid;           /* 0 = all processes */
    bool tasks;            /* the task view (SPY_FLAG_TASK entries, ms; idle ignored: every state counts)
                            * instead of the CPU view (thread samples) */
};

struct spy_top {
    struct spy_top_row *rows;
    int nrows;
    uint64_t samples;      /* samples the percentages are of (task view: milliseconds) */
    uint64_t idle_samples; /* of the view's counts, the idle ones (task view: waiting ms) */
    int window;
    /* per thread slot: samples counted in the percentages (malloc'd, nslots) */
    uint64_t *slot_samples;
    int nslots;
    int32_t pids[SPY_TOP_MAX_PIDS];   /* the processes the store holds */
    int npids;
};

int spy_store_top(struct spy_store *s, const struct spy_top_query *q, int64_t now_sec, struct spy_top *out);

/* Which counts a reader wants: the CPU view (thread samples) or the task
 * view (SPY_FLAG_TASK entries).  Every reader picks one; no view mixes them. */
enum spy_view { SPY_VIEW_CPU = 0, SPY_VIEW_TASKS = 1 };
static inline bool spy_view_has(enum spy_view v, unsigned flags)
{
    return ((flags & SPY_FLAG_TASK) != 0) == (v == SPY_VIEW_TASKS);
}

/* Copy the counts of one view a span covers, holding the lock: window > 0
 * the last seconds, 0 since start, < 0 the recording.  malloc'd; NULL if
 * out of memory. */
struct spy_count *spy_store_collect(struct spy_store *s, int window, int64_t now_sec, enum spy_view view,
                                    size_t *n_out);

/* What a profile is built from. */
enum spy_span { SPY_SPAN_ALL, SPY_SPAN_WINDOW, SPY_SPAN_RECORDING };
struct spy_profile;
/* A self-contained copy of one view's counts over a span (window in
 * seconds for SPY_SPAN_WINDOW).  Takes the lock only to copy.  A task
 * view's counts are milliseconds of task wall time. */
int spy_store_profile(struct spy_store *s, enum spy_span span, int window, int64_t now_sec, enum spy_view view,
                      struct spy_profile *out);
void spy_top_free(struct spy_top *t);

/* Decoders for one (slot, flags, stack) key; exposed for writers and tests. */
static inline uint64_t spy_store_key(int slot, unsigned flags, uint32_t stack)
{
    return (((uint64_t)(slot + 1)) << 40) | ((uint64_t)(flags & 0xff) << 32) | stack;
}
static inline int spy_key_slot(uint64_t k) { return (int)(k >> 40) - 1; }
static inline unsigned spy_key_flags(uint64_t k) { return (unsigned)(k >> 32) & 0xff; }
static inline uint32_t spy_key_stack(uint64_t k) { return (uint32_t)k; }

#endif
