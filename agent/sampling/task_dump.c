/*
 * task_dump.c — every pending asyncio task right now (spy_tasks), like
 * dump.c is for threads: the `tasks` command and spyagent.tasks().
 *
 * Uses the GIL-free task reader (python/tasks.h) from the roots the
 * lifecycle captured (task_roots.c), with the caller's own buffers: the
 * tasks are listed, at most `cap` are read, each one's name, state, leaf
 * awaitable and coroutine frames resolved like dump's.  The running task's
 * chain stops at its executing coroutine; its synchronous callees and
 * inner coroutines are taken from a walk of the threads done in the same
 * call: the frames of the thread stack from its innermost frame out to the
 * task's own coroutine.  "awaited_by" comes from the tasks whose waiter is
 * another task (only the tasks read are linked).
 *
 * Threads: any caller; no lock, no GIL.  spy_task_roots_load also runs on
 * any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "spyagent.h"

bool spy_task_roots_load(struct spy_task_roots *out)
{
    struct spy_agent *a = &spy_agent;
    for (int i = 0; i < 64; i++) {
        uint64_t gen = atomic_load_explicit(&a->task_roots_gen, memory_order_acquire);
        if (gen == 0)
            return false;
        if (gen & 1)
            continue;                   /* being written: a few stores, try again */
        memcpy(out, &a->task_roots, sizeof(*out));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&a->task_roots_gen, memory_order_relaxed) == gen)
            return true;
    }
    return false;
}

static const char *state_name(uint8_t s)
{
    switch (s) {
    case SPY_TASK_RUNNING: return "running";
    case SPY_TASK_READY: return "ready";
    case SPY_TASK_WAITING: return "waiting";
    case SPY_TASK_CREATED: return "created";
    default: return "unknown";
    }
}

/* The running task's frames from a thread stack: innermost frame out to
 * the task's own coroutine (the outermost frame with its code).  0 if
 * found, with *first = how many of the thread's frames to take. */
static int splice(const struct spy_raw_thread *threads, int n, uint64_t outer_code, int *which, int *count)
{
    for (int i = 0; i < n; i++) {
        for (int f = threads[i].depth - 1; f >= 0; f--) {
            if (threads[i].frames[f].code == outer_code) {
                *which = i;
                *count = f + 1;
                return 0;
            }
        }
    }
    return -1;
}

/* Type names, read once per call: a snapshot holds a few leaf types. */
#define TYPE_NAMES 32

struct type_name {
    uint64_t type;
    char name[64];
    bool ok;
};

static const char *type_name(const struct spy_task_reader *tr, struct type_name *names, int *n, uint64_t type)
{
    if (type == 0)
        return NULL;
    for (int i = 0; i < *n; i++)
        if (names[i].type == type)
            return names[i].ok ? names[i].name : NULL;
    struct type_name *e = *n < TYPE_NAMES ? &names[(*n)++] : &names[TYPE_NAMES - 1];
    e->type = type;
    e->ok = tr->type_name(&spy_agent.py.ip, type, e->name, sizeof(e->name)) == 0;
    return e->ok ? e->name : NULL;
}

static int fill_frames(struct spy_code_cache *cache, const struct spy_raw_frame *raw, int depth,
                       struct spy_task_info *t)
{
    t->frames = calloc((size_t)(depth ? depth : 1), sizeof(*t->frames));
    if (!t->frames)
        return -1;
    for (int f = 0; f < depth; f++) {
        int rc = spy_code_cache_frame(cache, &raw[f], &t->frames[t->nframes]);
        if (rc == -2)
            return -1;
        if (rc == 0)
            t->nframes++;
    }
    return 0;
}

int spy_tasks(struct spy_tasks_result *out, int cap)
{
    struct spy_agent *a = &spy_agent;
    memset(out, 0, sizeof(*out));
    if (cap < 1)
        cap = 1;
    if (cap > SPY_TASKS_MAX)
        cap = SPY_TASKS_MAX;
    struct spy_task_roots roots;
    const struct spy_task_reader *tr = spy_task_reader_for(a->py.major, a->py.minor);
    if (!atomic_load(&a->attached) || !tr || !spy_task_roots_load(&roots))
        return 0;
    int rc = -1;
    uint64_t *addrs = malloc(SPY_TASKS_MAX * sizeof(*addrs));
    void *scratch = malloc(SPY_TASKS_SCRATCH);
    struct spy_raw_task *raw = calloc((size_t)cap, sizeof(*raw));
    struct spy_raw_frame *frames = malloc((size_t)cap * SPY_TASK_MAX_DEPTH * sizeof(*frames));
    struct spy_raw_thread *threads = NULL;
    void *walk_scratch = NULL;
    struct spy_code_cache *cache = spy_code_cache_new();
    if (!addrs || !scratch || !raw || !frames || !cache)
        goto out;
    int n = tr->list_tasks(&a->py.ip, &roots, addrs, SPY_TASKS_MAX, scratch);
    if (n < 0)
        goto out;
    out->available = true;
    int nread = 0;
    bool running = false;
    for (int i = 0; i < n && nread < cap; i++) {
        raw[nread].frames = frames + (size_t)nread * SPY_TASK_MAX_DEPTH;
        if (tr->read_task(&a->py.ip, &roots, addrs[i], &raw[nread]) == 0) {
            running = running || raw[nread].state == SPY_TASK_RUNNING;
            nread++;
        }
    }
    out->omitted = n > cap ? n - cap : 0;
    int nthreads = 0;
    if (running) {
        threads = spy_raw_threads_new(SPY_MAX_THREADS);
        walk_scratch = malloc(SPY_WALK_SCRATCH);
        if (!threads || !walk_scratch)
            goto out;
        struct spy_walk_stats ws = { 0 };
        nthreads = a->py.reader->walk(&a->py.ip, threads, SPY_MAX_THREADS, &ws, walk_scratch);
        if (nthreads < 0)
            nthreads = 0;
    }
    struct type_name names[TYPE_NAMES];
    int nnames = 0;
    out->tasks = calloc((size_t)(nread ? nread : 1), sizeof(*out->tasks));
    if (!out->tasks)
        goto out;
    for (int i = 0; i < nread; i++) {
        const struct spy_raw_task *rt = &raw[i];
        struct spy_task_info *t = &out->tasks[out->ntasks++];
        snprintf(t->id, sizeof(t->id), "0x%llx", (unsigned long long)rt->addr);
        t->state = state_name(rt->state);
        t->truncated = rt->truncated;
        char buf[SPY_MAX_STR];
        if (tr->task_name(&a->py.ip, rt->name, buf, sizeof(buf)) == 0 && !(t->name = strdup(buf)))
            goto out;
        const char *leaf = type_name(tr, names, &nnames, rt->leaf_type);
        if (leaf && !(t->awaiting = strdup(leaf)))
            goto out;
        for (int k = 0; k < nread; k++) {
            if (raw[k].waiter_is_task && raw[k].waiter == rt->addr) {
                snprintf(t->awaited_by, sizeof(t->awaited_by), "0x%llx", (unsigned long long)raw[k].addr);
                break;
            }
        }
        int which, count;
        int frc;
        if (rt->state == SPY_TASK_RUNNING && splice(threads, nthreads, rt->outer_code, &which, &count) == 0) {
            t->truncated = threads[which].truncated;
            frc = fill_frames(cache, threads[which].frames, count, t);
        } else {
            frc = fill_frames(cache, rt->frames, rt->depth, t);
        }
        if (frc != 0)
            goto out;
    }
    rc = 0;
out:
    spy_code_cache_free(cache);
    free(addrs);
    free(scratch);
    free(raw);
    free(frames);
    free(threads);
    free(walk_scratch);
    if (rc != 0)
        spy_tasks_result_free(out);
    return rc;
}

void spy_tasks_result_free(struct spy_tasks_result *r)
{
    for (int i = 0; i < r->ntasks; i++) {
        for (int f = 0; f < r->tasks[i].nframes; f++) {
            free(r->tasks[i].frames[f].function);
            free(r->tasks[i].frames[f].file);
        }
        free(r->tasks[i].frames);
        free(r->tasks[i].name);
        free(r->tasks[i].awaiting);
    }
    free(r->tasks);
    memset(r, 0, sizeof(*r));
}
