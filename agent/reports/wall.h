/* wall.h — where requests wait: the task view of a profile (samples with
 * SPY_FLAG_TASK, milliseconds of task wall time) broken down per endpoint
 * into on the CPU, ready to run and waiting, with what the waiting awaits
 * and where the CPU time goes.  The reports' "where requests wait"
 * section and the server's `endpoints` command are made from it. */
#ifndef SPY_WALL_H
#define SPY_WALL_H

#include <stddef.h>
#include <stdint.h>

#include "categories.h"
#include "profile.h"

/* A function and the milliseconds some endpoint spent in it (awaiting it,
 * or on the CPU in it). */
struct spy_wall_fn {
    const char *function, *file;   /* borrowed from the profile */
    int line;                      /* definition line if known, else the lowest seen */
    uint64_t ms;
};

struct spy_wall_endpoint {
    const char *function, *file;   /* the route function; NULL: task time under no endpoint */
    int line;
    uint64_t ms;                   /* task wall time under it */
    uint64_t state_ms[SPY_VIEW_STATES];   /* of which on the CPU, ready, waiting */
    struct spy_wall_fn *awaiting;  /* waiting: the innermost frame's function, most first */
    uint32_t nawaiting;
    struct spy_wall_fn *on_cpu;    /* on the CPU: the innermost frame's function, most first */
    uint32_t non_cpu;
};

struct spy_wall {
    uint64_t ms;                   /* all task wall time in the profile */
    uint64_t state_ms[SPY_VIEW_STATES];
    double duration;               /* the span it covers, seconds; 0 unknown */
    /* by ms, most first; the entry with function NULL (no endpoint), if
     * any, is last */
    struct spy_wall_endpoint *endpoints;
    uint32_t nendpoints;
};

/* 0, or -1 with err (bad profile, out of memory).  Only task samples are
 * read; a profile without any gives ms 0 and no endpoints.  The endpoint
 * of a task stack is the application frame just inside its innermost
 * dispatcher (the rules' "endpoints", as spy_analyse finds it); `c` may
 * be NULL (the default rules).  The result borrows p's strings. */
int spy_wall_analyse(const struct spy_profile *p, const struct spy_categories *c, struct spy_wall *w, char *err,
                     size_t errlen);
void spy_wall_free(struct spy_wall *w);

/* Mean tasks in flight over the span: task seconds / duration; < 0 if
 * the duration is unknown. */
static inline double spy_wall_in_flight(uint64_t ms, double duration)
{
    return duration > 0 ? (double)ms / 1000.0 / duration : -1.0;
}

#endif
