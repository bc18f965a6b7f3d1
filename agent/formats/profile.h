/* profile.h — a self-contained copy of what was sampled over some span of
 * time, in the form every writer (collapsed, speedscope, SVG, pprof,
 * reports) reads.  Built from the stack store by spy_profile_build();
 * owns all its memory; released by spy_profile_free(). */
#ifndef SPY_PROFILE_H
#define SPY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The same values as in stackstore.h, for code that reads profiles only. */
#ifndef SPY_FLAG_IDLE
#define SPY_FLAG_IDLE 1u
#endif
#ifndef SPY_FLAG_GIL
#define SPY_FLAG_GIL 2u
#endif
#ifndef SPY_FLAG_TASK
#define SPY_FLAG_TASK 4u
#endif
#ifndef SPY_FLAG_READY
#define SPY_FLAG_READY 8u
#endif

/* The task view: a sample with SPY_FLAG_TASK counts milliseconds of task
 * wall time, not samples; its state is in the other flags.  Files carry
 * the state as an outermost pseudo-frame with no file (spy_task_marker),
 * which the readers turn back into flags. */
enum spy_view_state { SPY_VIEW_NONE = -1, SPY_VIEW_RUNNING = 0, SPY_VIEW_READY = 1, SPY_VIEW_WAITING = 2 };
#define SPY_VIEW_STATES 3

static inline enum spy_view_state spy_task_state_of(unsigned flags)
{
    if (!(flags & SPY_FLAG_TASK))
        return SPY_VIEW_NONE;
    return (flags & SPY_FLAG_IDLE) ? SPY_VIEW_WAITING : (flags & SPY_FLAG_READY) ? SPY_VIEW_READY : SPY_VIEW_RUNNING;
}
/* SPY_FLAG_TASK and the state's flag. */
unsigned spy_task_flags(enum spy_view_state st);
/* "[on CPU]", "[ready]", "[waiting]": the pseudo-frame files carry. */
const char *spy_task_marker(enum spy_view_state st);
/* The state a frame (function, file) stands for, SPY_VIEW_NONE if it is
 * no marker: markers have no file. */
enum spy_view_state spy_task_marker_state(const char *function, const char *file);

struct spy_profile_frame {
    char *function;          /* qualified name where the version has one */
    char *file;
    int line;                /* current line */
    int firstlineno;         /* line of the definition */
};

struct spy_profile_thread {
    int pid;                 /* the process (this one, or a worker counted here) */
    int tid;
    uint64_t thread_id;
    char name[64];           /* "" if unknown */
};

struct spy_profile_sample {
    uint32_t thread;         /* index into threads */
    uint32_t depth;
    uint32_t first;          /* index into frame_ids of the innermost frame */
    unsigned flags;          /* SPY_FLAG_IDLE | SPY_FLAG_GIL, or SPY_FLAG_TASK | state */
    uint64_t count;
};

struct spy_profile {
    struct spy_profile_frame *frames;
    uint32_t nframes;
    struct spy_profile_thread *threads;
    uint32_t nthreads;
    struct spy_profile_sample *samples;   /* one per distinct (thread, stack, flags) */
    size_t nsamples;
    uint32_t *frame_ids;     /* sample stacks, innermost first, index into frames */
    size_t nframe_ids;
    uint64_t total;          /* sum of counts */
    bool tasks;              /* a task view: counts are milliseconds of task wall time, not samples */
    double start_time;       /* Unix time of the first second covered */
    double duration;         /* seconds covered */
    int rate;                /* samples per second per thread */
    int pid;
    char program[256];       /* the process's command line, shortened */
};

void spy_profile_free(struct spy_profile *p);
/* A view of p holding only the samples of one process's threads: it
 * shares p's frames, threads and stacks (p must outlive it) and owns only
 * its samples array; release with spy_profile_view_free. */
int spy_profile_view_pid(const struct spy_profile *p, int pid, struct spy_profile *view);
void spy_profile_view_free(struct spy_profile *view);
/* The same for one view: tasks false, the samples without SPY_FLAG_TASK
 * (the CPU view); true, the task view's. */
int spy_profile_view_tasks(const struct spy_profile *p, bool tasks, struct spy_profile *view);
/* Milliseconds of task wall time in p (0: no task view). */
uint64_t spy_profile_task_ms(const struct spy_profile *p);
/* Appends src's frames, threads and samples to dst (both owned, built
 * separately, e.g. the CPU and the task view of one span); dst keeps its
 * figures (duration, rate, program).  0, or -1 if out of memory (dst is
 * then unchanged). */
int spy_profile_append(struct spy_profile *dst, const struct spy_profile *src);
/* 0 if every index in p is in range (samples' threads and frame runs,
 * frame ids), -1 otherwise; writers refuse a profile that is not. */
int spy_profile_check(const struct spy_profile *p);

/* Every thread's label, "thread NAME (TID)", for the writers that put the
 * thread as the outermost frame (by_thread).  `canon[t]` is the lowest
 * thread whose label is the same as thread t's, so threads that print
 * alike merge. */
struct spy_thread_labels {
    char **text;             /* per thread */
    uint32_t *canon;         /* per thread */
    uint32_t n;
};

/* 0, or -1 if memory ran out (tl is then safe to free). */
int spy_thread_labels_build(struct spy_thread_labels *tl, const struct spy_profile *p);
void spy_thread_labels_free(struct spy_thread_labels *tl);

/* Every frame's label, "function (file:line)" as py-spy prints it, built
 * once by a writer.  `canon[f]` is the lowest frame id whose label is
 * byte-identical to frame f's, so frames that print alike merge. */
struct spy_labels {
    char *text;              /* all labels, each NUL-terminated */
    size_t *off;             /* per frame: offset of its label in text */
    uint32_t *len;           /* per frame: strlen of its label */
    uint32_t *canon;         /* per frame: representative frame id */
};

/* 0, or -1 if memory ran out (l is then empty and safe to free). */
int spy_labels_build(struct spy_labels *l, const struct spy_profile *p);
void spy_labels_free(struct spy_labels *l);
static inline const char *spy_label(const struct spy_labels *l, uint32_t frame)
{
    return l->text + l->off[frame];
}

#endif
