/* writers.h — a profile in, a sink out: collapsed stacks, speedscope JSON
 * and an interactive SVG flame graph.  Each returns 0, or -1 with the
 * sink's error set (also when memory runs out).  They read the profile
 * only, keep no state between calls and may run on any one thread. */
#ifndef SPY_WRITERS_H
#define SPY_WRITERS_H

#include <stdbool.h>

#include "profile.h"
#include "sink.h"

struct spy_write_options {
    bool include_idle;       /* keep samples flagged SPY_FLAG_IDLE */
    bool by_thread;          /* a first frame "thread NAME (TID)" per stack */
    const char *title;       /* NULL: a default */
    int tid;                 /* only this thread's samples; 0 = every thread (flame JSON) */
    int pid;                 /* only this process's samples; 0 = every process (flame JSON) */
    bool tasks;              /* the task view: only SPY_FLAG_TASK samples (waiting ones too),
                              * each under its state's pseudo-frame (spy_task_marker), counts
                              * in milliseconds; false: only the other samples */
};

/* Whether a writer with options o writes sample smp. */
static inline bool spy_write_included(const struct spy_profile_sample *smp, const struct spy_write_options *o)
{
    if (smp->count == 0)
        return false;
    if (smp->flags & SPY_FLAG_TASK)
        return o->tasks;
    return !o->tasks && (!(smp->flags & SPY_FLAG_IDLE) || o->include_idle);
}

/* "outer;...;inner COUNT" per distinct stack, sorted bytewise. */
int spy_write_collapsed(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s);
/* speedscope's file format: one sampled profile per thread, then (when p
 * has a task view) one "task wall time" profile per thread, in
 * milliseconds; o->tasks is ignored. */
int spy_write_speedscope(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s);
/* A self-contained SVG flame graph (root at the bottom) with hover,
 * click-to-zoom and search. */
int spy_write_svg(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s);

/* The merged call tree as JSON members ("samples":N,"nodes":N,"root":{...})
 * for a message to embed; nodes under min_share of the samples are left out. */
int spy_write_flame_json(const struct spy_profile *p, const struct spy_write_options *o, double min_share,
                         struct spy_sink *s);

#endif
