/*
 * task_sampler.c — asyncio task wall time: periodic task snapshots into
 * the stack store's task view.
 *
 * At SPY_TASK_RATE snapshots a second, right after a tick's thread walk,
 * the sampler lists every pending asyncio task (the task reader, tasks.h),
 * keeps the running task and a uniform reservoir sample of at most
 * SPY_TASK_CAP of the others, reads those, and adds to each kept task's
 * stack the milliseconds since the previous snapshot times the number of
 * tasks it stands for ((n-1)/(k-1): the running task stands for itself).
 * Milliseconds are whole; the rounding remainder is carried to the next
 * add, so nothing drifts.  Entries are keyed (loop's thread slot, stack,
 * SPY_FLAG_TASK | state): IDLE = waiting, READY = ready to run or not
 * started, neither = running.
 *
 * Stacks: a waiting task's stack is its coroutine chain, innermost awaited
 * coroutine first, out to the task's own coroutine.  The running task's
 * coroutines are on a thread's stack at this very tick: its stack is that
 * thread's frames from the innermost one out to the task's own coroutine
 * (its synchronous callees first), found by code object address in the
 * same walk; with no match, its coroutine chain alone.
 *
 * Slots: a task is counted on the thread of its loop: the main thread for
 * the loop the main thread ran when the roots were captured; a loop seen
 * running a task on some thread is remembered with that thread; a loop of
 * no known thread is counted on a pseudo-thread (tid 0) "asyncio tasks".
 *
 * Finding the running task: with more tasks than the cap it may not be in
 * the sample; when a thread of this walk runs the coroutine code of some
 * task seen before, up to `cap` more of the unsampled tasks are read until
 * the running one turns up.  So a snapshot reads at most 2 * cap + 1
 * tasks whatever the number pending; listing them is one read of the
 * registry's table and one small read per task.
 *
 * Threads: the sampler thread only.  Nothing allocates per snapshot: the
 * buffers come once, with the first snapshot that has roots.  The store
 * lock is held only to intern and add.  After fork the sampler thread is
 * new, and so is this state.
 */
#include "task_sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

#define MAX_DT_MS 1000.0          /* a longer gap (a stall, new roots) counts as one second */

void spy_task_sampler_init(struct spy_task_sampler *ts, const struct spy_task_reader *reader, int cap, uint64_t seed)
{
    memset(ts, 0, sizeof(*ts));
    ts->reader = reader;
    ts->cap = cap < 2 ? 2 : cap;
    ts->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    ts->pseudo_slot = -1;
}

void spy_task_sampler_free(struct spy_task_sampler *ts)
{
    free(ts->addrs);
    free(ts->scratch);
    free(ts->kept);
    free(ts->frames);
    free(ts->as_threads);
    free(ts->stack);
    free(ts->agg);
    free(ts->agg_index);
    memset(ts, 0, sizeof(*ts));
    ts->pseudo_slot = -1;
}

static int allocate(struct spy_task_sampler *ts)
{
    size_t kept = (size_t)ts->cap + 1;
    uint32_t idx = 16;
    while (idx < 4 * kept)
        idx *= 2;
    ts->addrs = malloc(SPY_TASKS_MAX * sizeof(uint64_t));
    ts->scratch = malloc(SPY_TASKS_SCRATCH);
    ts->kept = calloc(kept, sizeof(*ts->kept));
    ts->frames = calloc(kept * SPY_TASK_MAX_DEPTH, sizeof(*ts->frames));
    ts->as_threads = calloc(kept, sizeof(*ts->as_threads));
    ts->stack = calloc(SPY_MAX_DEPTH + SPY_TASK_MAX_DEPTH, sizeof(*ts->stack));
    ts->agg = calloc(kept, sizeof(*ts->agg));
    ts->agg_index = malloc(idx * sizeof(*ts->agg_index));
    ts->agg_mask = idx - 1;
    if (!ts->addrs || !ts->scratch || !ts->kept || !ts->frames || !ts->as_threads || !ts->stack || !ts->agg
        || !ts->agg_index)
        return -1;
    for (size_t i = 0; i < kept; i++)
        ts->kept[i].frames = ts->frames + i * SPY_TASK_MAX_DEPTH;
    ts->ready = true;
    return 0;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int spy_task_pick(uint64_t *addrs, int n, int k, uint64_t *rng)
{
    if (n <= k)
        return n < 0 ? 0 : n;
    for (int i = 0; i < k; i++) {
        int j = i + (int)(next_random(rng) % (uint64_t)(n - i));
        uint64_t t = addrs[i];
        addrs[i] = addrs[j];
        addrs[j] = t;
    }
    return k;
}

double spy_task_weight(int n, int k, int r, bool is_running)
{
    if (is_running || k <= r || n <= k)
        return 1.0;
    return (double)(n - r) / (double)(k - r);
}

uint64_t spy_task_round(double ms, double *carry)
{
    double v = ms + *carry;
    if (v < 0.0) {
        *carry = v;
        return 0;
    }
    uint64_t whole = (uint64_t)v;
    *carry = v - (double)whole;
    return whole;
}

int spy_task_splice(const struct spy_raw_thread *threads, int n, uint64_t inner_code, uint64_t outer_code,
                    int *which)
{
    *which = -1;
    if (inner_code == 0 || outer_code == 0)
        return 0;
    for (int t = 0; t < n; t++) {
        const struct spy_raw_thread *th = &threads[t];
        if (th->truncated && th->depth < SPY_MAX_DEPTH)
            continue;                   /* a torn walk */
        bool inner_seen = false;
        for (int d = 0; d < th->depth; d++) {
            uint64_t c = th->frames[d].code;
            if (c == inner_code)
                inner_seen = true;
            if (c == outer_code && inner_seen) {
                *which = t;
                return d + 1;
            }
        }
    }
    return 0;
}

static bool known_outer(const struct spy_task_sampler *ts, uint64_t code)
{
    for (int i = 0; i < ts->nknown; i++)
        if (ts->known_outer[i] == code)
            return true;
    return false;
}

static void remember_outer(struct spy_task_sampler *ts, uint64_t code)
{
    if (code == 0 || known_outer(ts, code))
        return;
    if (ts->nknown < SPY_TASK_KNOWN_OUTER) {
        ts->known_outer[ts->nknown++] = code;
    } else {
        ts->known_outer[ts->known_next] = code;
        ts->known_next = (ts->known_next + 1) % SPY_TASK_KNOWN_OUTER;
    }
}

/* Does some thread of this walk run the coroutine code of a task seen
 * before?  Then a task is likely running now. */
static bool task_code_running(const struct spy_task_sampler *ts, const struct spy_raw_thread *threads, int n)
{
    if (ts->nknown == 0)
        return false;
    for (int t = 0; t < n; t++)
        for (int d = 0; d < threads[t].depth; d++)
            if (known_outer(ts, threads[t].frames[d].code))
                return true;
    return false;
}

static void learn_loop(struct spy_task_sampler *ts, uint64_t loop, int slot)
{
    if (loop == 0)
        return;
    for (int i = 0; i < ts->nloops; i++)
        if (ts->loops[i].loop == loop) {
            ts->loops[i].slot = slot;
            return;
        }
    int i = ts->nloops < SPY_TASK_LOOPS ? ts->nloops++ : (ts->loops_next++ % SPY_TASK_LOOPS);
    ts->loops[i].loop = loop;
    ts->loops[i].slot = slot;
}

/* Store lock held. */
static int slot_for_loop(struct spy_task_sampler *ts, struct spy_store *s, uint64_t loop, int main_slot)
{
    if (loop != 0 && loop == ts->roots.main_loop && main_slot >= 0)
        return main_slot;
    for (int i = 0; i < ts->nloops; i++)
        if (ts->loops[i].loop == loop)
            return ts->loops[i].slot;
    if (ts->pseudo_slot < 0) {
        ts->pseudo_slot = spy_store_slot(s, 0, 0);
        snprintf(s->slots[ts->pseudo_slot].name, sizeof(s->slots[ts->pseudo_slot].name), "asyncio tasks");
    }
    return ts->pseudo_slot;
}

/* Store lock held: sum one kept task's milliseconds into its entry. */
static void aggregate(struct spy_task_sampler *ts, int *nagg, int slot, uint32_t stack, unsigned flags, double ms)
{
    uint64_t h = ((uint64_t)stack * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)slot << 8) ^ flags;
    uint32_t i = (uint32_t)(h >> 32) & ts->agg_mask;
    for (;; i = (i + 1) & ts->agg_mask) {
        int32_t a = ts->agg_index[i];
        if (a < 0)
            break;
        struct spy_task_agg *e = &ts->agg[a];
        if (e->slot == slot && e->stack == stack && e->flags == flags) {
            e->ms += ms;
            return;
        }
    }
    ts->agg_index[i] = *nagg;
    ts->agg[*nagg] = (struct spy_task_agg){ .slot = slot, .stack = stack, .flags = flags, .ms = ms };
    (*nagg)++;
}

/* The roots to read with: a new generation is copied when complete (the
 * writer makes the generation odd while it writes); meanwhile the roots
 * in use stay good. */
static bool fresh_roots(struct spy_task_sampler *ts)
{
    struct spy_agent *a = &spy_agent;
    uint64_t gen = atomic_load_explicit(&a->task_roots_gen, memory_order_acquire);
    if (gen != 0 && gen != ts->roots_gen && (gen & 1) == 0) {
        struct spy_task_roots r;
        memcpy(&r, &a->task_roots, sizeof(r));
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&a->task_roots_gen, memory_order_acquire) == gen) {
            ts->roots = r;
            ts->roots_gen = gen;
            /* new roots (asyncio imported, a fork): start clean */
            ts->last_ns = 0;
            ts->carry_ms = 0.0;
            ts->nknown = ts->known_next = 0;
            ts->nloops = ts->loops_next = 0;
        }
    }
    return ts->roots_gen != 0 && (ts->roots.tasks_set != 0 || ts->roots.eager_set != 0);
}

int spy_task_snapshot(struct spy_task_sampler *ts, const struct spy_interp *ip, struct spy_symbols *sym,
                      struct spy_store *s, const struct spy_raw_thread *threads, int nthreads, uint64_t now_ns,
                      uint64_t interval_ns)
{
    ts->listed = ts->walked = 0;
    ts->running_kept = false;
    ts->torn = false;
    if (!ts->reader || ts->failed || !fresh_roots(ts))
        return -1;
    if (!ts->ready && allocate(ts) != 0) {
        ts->failed = true;
        spy_log(SPY_LOG_ERROR, "out of memory for asyncio task snapshots; task wall time is off");
        return -1;
    }
    int n = ts->reader->list_tasks(ip, &ts->roots, ts->addrs, SPY_TASKS_MAX, ts->scratch);
    if (n < 0) {
        ts->torn = true;                /* the next snapshot's interval covers this one's */
        return -1;
    }
    double dt_ms = ts->last_ns ? (double)(now_ns - ts->last_ns) / 1e6 : (double)interval_ns / 1e6;
    if (dt_ms > MAX_DT_MS)
        dt_ms = MAX_DT_MS;
    ts->last_ns = now_ns;
    ts->listed = n;
    if (n == 0)
        return 0;

    /* the sample, then the running task if the sample missed it */
    int k = spy_task_pick(ts->addrs, n, ts->cap, &ts->rng);
    int nk = 0, running = -1;
    for (int i = 0; i < k; i++) {
        struct spy_raw_task *t = &ts->kept[nk];
        if (ts->reader->read_task(ip, &ts->roots, ts->addrs[i], t) != 0)
            continue;                   /* done since listed, or torn */
        if (t->state == SPY_TASK_RUNNING && running < 0)
            running = nk;
        remember_outer(ts, t->outer_code);
        nk++;
    }
    int read_ok = nk;
    if (running < 0 && n > k && task_code_running(ts, threads, nthreads)) {
        for (int i = k; i < n && i < 2 * k; i++) {
            struct spy_raw_task *t = &ts->kept[nk];
            if (ts->reader->read_task(ip, &ts->roots, ts->addrs[i], t) == 0 && t->state == SPY_TASK_RUNNING) {
                remember_outer(ts, t->outer_code);
                running = nk++;
                break;
            }
        }
    }
    ts->walked = nk;
    ts->running_kept = running >= 0;
    if (nk == 0)
        return n;
    /* what the others stand for: n listed, sample_k read (a task that ended
     * or tore between listing and reading is stood for by the others) */
    int r = running >= 0 ? 1 : 0;
    int sample_n = n, sample_k = read_ok + (running >= read_ok ? 1 : 0);

    for (int i = 0; i < nk; i++) {
        ts->as_threads[i].depth = ts->kept[i].depth;
        ts->as_threads[i].frames = ts->kept[i].frames;
        ts->as_threads[i].unchanged = false;
    }
    spy_symbols_validate(sym, ts->as_threads, nk);

    int main_t = -1;
    for (int t = 0; t < nthreads; t++)
        if (threads[t].thread_id == ip->main_thread)
            main_t = t;
    int nagg = 0;
    memset(ts->agg_index, 0xff, ((size_t)ts->agg_mask + 1) * sizeof(*ts->agg_index));
    pthread_mutex_lock(&s->lock);
    int main_slot = main_t >= 0 ? spy_store_slot(s, threads[main_t].native_tid, threads[main_t].thread_id) : -1;
    for (int i = 0; i < nk; i++) {
        struct spy_raw_task *t = &ts->kept[i];
        /* the running task stands for itself; another running one (a loop
         * on another thread) is one of the sample, but on the CPU too */
        bool on_cpu = t->state == SPY_TASK_RUNNING;
        uint32_t depth = 0;
        bool bad = false;
        int slot = -1;
        int from = -1, nthr = 0;
        if (on_cpu)
            nthr = spy_task_splice(threads, nthreads, t->inner_code, t->outer_code, &from);
        if (nthr > 0) {
            const struct spy_raw_thread *th = &threads[from];
            slot = spy_store_slot(s, th->native_tid, th->thread_id);
            learn_loop(ts, t->loop, slot);
            for (int d = 0; d < nthr && !bad; d++) {
                uint32_t id = spy_symbols_frame(sym, s, &th->frames[d]);
                bad = id == SPY_INTERN_NONE;
                ts->stack[depth++] = id;
            }
        } else {
            slot = slot_for_loop(ts, s, t->loop, main_slot);
            for (int d = 0; d < t->depth && !bad; d++) {
                uint32_t id = spy_symbols_frame(sym, s, &t->frames[d]);
                bad = id == SPY_INTERN_NONE;
                ts->stack[depth++] = id;
            }
        }
        if (bad || depth == 0)
            continue;
        uint32_t stack = spy_store_stack(s, ts->stack, depth);
        if (stack == SPY_INTERN_NONE)
            continue;
        unsigned flags = SPY_FLAG_TASK;
        if (!on_cpu)
            flags |= t->state == SPY_TASK_WAITING ? SPY_FLAG_IDLE : SPY_FLAG_READY;
        double w = spy_task_weight(sample_n, sample_k, r, i == running);
        aggregate(ts, &nagg, slot, stack, flags, dt_ms * w);
    }
    for (int i = 0; i < nagg; i++) {
        uint64_t ms = spy_task_round(ts->agg[i].ms, &ts->carry_ms);
        if (ms > 0)
            spy_store_add(s, ts->agg[i].slot, ts->agg[i].stack, ts->agg[i].flags, ms);
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}
