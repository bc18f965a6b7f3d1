/* analysis.h — the figures of a performance report, computed once from a
 * profile: totals, idle share, functions (own and total), threads,
 * categories, web endpoints, and advice naming the functions behind it. */
#ifndef SPY_ANALYSIS_H
#define SPY_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "categories.h"
#include "profile.h"

#define SPY_ADVICE_MAX 10
/* A sample taken off the CPU inside an event loop callback (time.sleep, a
 * synchronous call in async def): set by spy_mark_loop_blocking in place
 * of SPY_FLAG_IDLE, so writers that leave idle samples out keep it. */
#define SPY_FLAG_LOOP_BLOCKED 0x100u
#define SPY_ADVICE_FNS 3

struct spy_fn_stat {
    const char *function;        /* borrowed from the profile */
    const char *file;
    int line;                    /* definition line if known, else the lowest line seen */
    uint64_t own, total;         /* active samples: innermost / anywhere on the stack */
    uint64_t decided[SPY_CAT_COUNT];  /* samples whose category this function's frame decided */
    uint64_t on_loop;            /* samples of sync work on an event loop it decided */
    bool library;
};

struct spy_thread_stat {
    uint32_t thread;             /* index into the profile's threads */
    uint64_t total, idle;
    uint64_t loop_offcpu;        /* off the CPU inside a loop callback (counted active) */
    bool loop;                   /* runs an event loop (asyncio or uvloop) */
    uint64_t cat[SPY_CAT_COUNT];
};

struct spy_endpoint_stat {
    uint32_t fn;                 /* index into fns */
    uint64_t total;
    uint64_t cat[SPY_CAT_COUNT];
    uint32_t top_fn;             /* the function with most own samples under it */
    uint64_t top_own;
    bool on_loop;                /* seen running on an event loop thread (async def) */
};

struct spy_advice {
    int category;                /* or -1: blocking work on the event loop */
    double share;                /* of active samples */
    uint32_t fns[SPY_ADVICE_FNS];
    uint64_t fn_samples[SPY_ADVICE_FNS];
    int nfns;
    const char *title;           /* static */
    const char *text;            /* static: what to do */
};

struct spy_analysis {
    uint64_t total, idle, active, gil;
    double duration;
    int rate, pid;
    char program[256];
    struct spy_fn_stat *fns;     /* sorted by own, then total, descending */
    uint32_t nfns;
    struct spy_thread_stat *threads;   /* sorted by total, descending */
    uint32_t nthreads;
    uint64_t cat[SPY_CAT_COUNT];
    struct spy_endpoint_stat *endpoints;  /* sorted by total, descending */
    uint32_t nendpoints;
    uint64_t in_endpoints;       /* active samples under some endpoint */
    uint64_t on_loop;            /* active samples blocking an event loop (on or off the CPU) */
    uint64_t loop_offcpu;        /* of those, taken off the CPU (idle-flagged, counted active) */
    struct spy_advice advice[SPY_ADVICE_MAX];
    int nadvice;
    double threshold;
    char rules[128];             /* where the category rules came from */
};

/* What the event-loop and endpoint rules need to know of one frame; the
 * analysis applies them to profiles, the live loop-block detector
 * (agent/serving/blocks.c) to the store's stacks, with the same code. */
struct spy_frame_role {
    bool loop;                   /* an "event_loops" frame: runs an event loop */
    bool wait;                   /* a "loop_waits" frame: where a loop waits for I/O */
    bool dispatcher;             /* an "endpoints" frame: calls a web endpoint */
    bool library;                /* not the application's code */
};

void spy_frame_role_of(const struct spy_categories *c, const char *function, const char *file,
                       struct spy_frame_role *out);
/* Over a stack given as frame ids (innermost first) into `roles`: */
/* True if some frame runs an event loop: the stack is on a loop's thread. */
bool spy_stack_on_loop(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth);
/* True if it is the loop itself, not a callback: its innermost frame is an
 * event_loops frame (uvloop waits and works in C right under it) or a
 * loop_waits frame called straight from one (asyncio's selector). */
bool spy_stack_loop_waiting(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth);
/* The position of the endpoint frame (the application frame just inside
 * the innermost dispatcher), or -1 if the stack has none. */
int spy_stack_endpoint(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth);

/* 0, or -1 with err (bad profile, out of memory).  `c` may be NULL: the
 * default rules (SPY_CATEGORIES or built in), whose errors are reported. */
int spy_analyse(const struct spy_profile *p, const struct spy_categories *c, struct spy_analysis *a,
                char *err, size_t errlen);
void spy_analysis_free(struct spy_analysis *a);

/* For writers that leave idle samples out: every idle sample that blocks
 * an event loop (off the CPU inside a loop callback, see analysis.c) gets
 * SPY_FLAG_LOOP_BLOCKED instead of SPY_FLAG_IDLE, so it stays in the file.
 * `c` may be NULL (default rules).  0, or -1 with err. */
int spy_mark_loop_blocking(struct spy_profile *p, const struct spy_categories *c, char *err, size_t errlen);

/* "3.0 s at 100 Hz", "unknown (the file does not say)", ... — how every
 * report says a profile's length and rate. */
void spy_duration_text(double duration, int rate, char *buf, size_t cap);

/* "function (file:line)" with the file shortened: what follows
 * site-packages/ or lib/pythonX.Y/ (the package path, e.g.
 * "sqlalchemy/engine/base.py"); other absolute paths of more than three
 * components to ".../" and their last three; relative paths as they are. */
void spy_fn_label(const struct spy_fn_stat *f, char *buf, size_t cap);
const char *spy_short_file(const char *file);

#endif
