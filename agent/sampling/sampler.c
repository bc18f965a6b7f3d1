/*
 * sampler.c — the spy-sampler thread.
 *
 * It waits until the interpreter reports itself initialised, attaches the
 * reader, then ticks at the configured rate against absolute deadlines (a
 * late tick skips ahead and counts the missed ones, it never bursts).  One
 * tick = one walk of every Python thread, a batched validation of cached
 * code objects, then a few microseconds under the store lock to intern and
 * count.  Between ticks it grows tables, rolls the per-second bucket and
 * keeps its own CPU time within SPY_CPU_BUDGET by lowering the effective
 * rate.  Nothing allocates inside a tick.
 *
 * At SPY_TASK_RATE, right after a tick's walk, an asyncio task snapshot
 * (task_sampler.c) uses that same walk.  Its CPU time is kept apart from
 * the ticks': the budget lowers the task rate first (snapshots get what
 * ticks at the configured rate leave, at least a tenth of the budget), and
 * the tick rate is priced by what ticks alone cost.
 *
 * It runs with every asynchronous signal blocked (spy_thread_start), so the
 * host's signals go to the host's threads, and none of the synchronous ones.
 *
 * Threads: this file is the sampler thread; it shares only spy_agent's
 * atomics and the store (under its lock) with other threads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "memread.h"
#include "symbols.h"
#include "task_sampler.h"

#define NS 1000000000ULL

/* Sleep until an absolute CLOCK_MONOTONIC time, or until stop() wakes us.
 * Returns true if we should stop. */
static bool sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = { (time_t)(deadline_ns / NS), (long)(deadline_ns % NS) };
    pthread_mutex_lock(&spy_agent.wake_lock);
    while (!atomic_load(&spy_agent.stop)) {
        int rc = pthread_cond_timedwait(&spy_agent.wake, &spy_agent.wake_lock, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&spy_agent.wake_lock);
    return atomic_load(&spy_agent.stop);
}

static uint64_t thread_cpu_ns(int32_t tid)
{
    if (tid <= 0)
        return 0;
    /* the per-thread CPU clock of a kernel tid (what pthread_getcpuclockid
     * builds, without needing a pthread_t that may already be gone) */
    clockid_t clk = (clockid_t)((~(unsigned)tid) << 3) | 6;
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the jitter needs speed and spread, not secrecy. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Sampling on the system-call read method first, for this long. */
#define WARMUP_NS (500 * 1000000ULL)

static uint64_t self_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* What the sampler remembers of the thread at one index of the walk. */
struct thread_memo {
    uint64_t tstate, thread_id;    /* the thread this is about */
    int slot;                      /* its store slot, -1 until known */
    uint32_t stack;                /* stack counted last, SPY_INTERN_NONE if none */
    bool busy;                     /* the last answer */
    bool base_ok;                  /* base_cpu/base_wall hold a clock reading */
    uint64_t base_cpu, base_wall;  /* thread CPU clock and wall clock then */
    uint64_t decided_wall;         /* when `busy` was last measured (0 = never) */
};

/* Samples of one thread not yet added to the store: while a thread keeps
 * the same stack and flags, its samples are counted here and added in one
 * go when something changes, when the second turns (so every sample still
 * lands in its own second) or when a recording starts or stops. */
struct pending {
    int slot;
    uint32_t stack;
    unsigned flags;
    uint32_t n;
};

struct sampler {
    struct spy_raw_thread *raw;
    struct thread_memo *memo;
    struct pending *pend;
    int pend_hi;                   /* pend[i] may be non-empty for i < pend_hi */
    int64_t pend_sec;              /* the second the pending samples belong to */
    bool pend_rec;                 /* recording state they were counted under */
    void *scratch;
    struct spy_symbols sym;
    uint32_t *stack;
    char (*names)[64];
    bool *name_ok;
    struct spy_tick_thread *hooked;    /* what the tick hook is given */
    uint64_t tick;
    uint64_t rng;                  /* xorshift state for the jitter */
    struct spy_task_sampler tasks;
};

static bool ends_with(const char *s, uint32_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Is the outermost frame threading's Thread._bootstrap (whose first local
 * is the Thread object)? Reads interned strings only. */
static bool started_by_threading(struct sampler *sm, const struct spy_raw_thread *t)
{
    if (t->depth == 0 || t->thread_obj == 0)
        return false;
    uint64_t idx = spy_counts_get(&sm->sym.by_code, t->frames[t->depth - 1].code);
    if (idx == 0)
        return false;
    const struct spy_code_entry *e = &sm->sym.entries[idx - 1];
    uint32_t nlen, flen;
    const char *name = spy_intern_bytes(&spy_agent.store.strings, e->name, &nlen);
    const char *file = spy_intern_bytes(&spy_agent.store.strings, e->file, &flen);
    return ends_with(name, nlen, "_bootstrap") && ends_with(file, flen, "threading.py");
}

/* Store lock held. */
static void flush_one(struct spy_store *s, struct pending *p)
{
    if (p->n == 0)
        return;
    spy_store_add(s, p->slot, p->stack, p->flags, p->n);
    p->n = 0;
}

/* Store lock held. */
static void flush_all(struct sampler *sm, struct spy_store *s)
{
    for (int i = 0; i < sm->pend_hi; i++)
        flush_one(s, &sm->pend[i]);
    sm->pend_hi = 0;
}

/* Store lock held: one sample of the thread at index i. */
static void count_sample(struct sampler *sm, struct spy_store *s, int i, int slot, uint32_t stack, unsigned flags)
{
    struct pending *p = &sm->pend[i];
    if (p->n > 0 && p->slot == slot && p->stack == stack && p->flags == flags && p->n < UINT32_MAX) {
        p->n++;
        return;
    }
    flush_one(s, p);
    p->slot = slot;
    p->stack = stack;
    p->flags = flags;
    p->n = 1;
    if (i >= sm->pend_hi)
        sm->pend_hi = i + 1;
}

/* How long a thread whose stack has not moved keeps its busy/idle answer
 * before its CPU clock is read again. */
#define BUSY_REUSE_NS (50 * 1000000ULL)

/* Busy or idle for every thread of this walk, with at most one CPU-clock
 * read per thread, and none for most:
 *  - the GIL holder is busy (running Python, or in a C call that keeps it);
 *  - a thread whose stack moved since the last tick and that does not hold
 *    the GIL has just given it up: it is waiting (for I/O, a lock, the GIL)
 *    or has entered a C call that released it; it counts as idle now and
 *    its clock is read at its next unchanged tick as a baseline;
 *  - a thread whose stack did not move is busy if its CPU clock advanced
 *    by at least half the wall time since the baseline (C code running
 *    without the GIL), idle otherwise; the answer stands for BUSY_REUSE_NS
 *    while the stack stays put.
 * Comparing clocks only across an unmoved stack keeps a worker that worked
 * and then blocked from being called busy at its wait. */
static void decide_busy(struct sampler *sm, int n, uint64_t now_ns)
{
    for (int i = 0; i < n; i++) {
        struct spy_raw_thread *t = &sm->raw[i];
        struct thread_memo *m = &sm->memo[i];
        if (m->tstate != t->tstate || m->thread_id != t->thread_id) {
            memset(m, 0, sizeof(*m));
            m->tstate = t->tstate;
            m->thread_id = t->thread_id;
            m->slot = -1;
            m->stack = SPY_INTERN_NONE;
            t->unchanged = false;           /* never reuse another thread's stack */
        }
        if (t->gil) {
            m->busy = true;
            m->base_ok = false;
            continue;
        }
        if (!t->unchanged || t->native_tid <= 0) {
            m->busy = false;
            m->base_ok = false;
            m->decided_wall = 0;
            continue;
        }
        if (m->base_ok && m->decided_wall != 0 && now_ns - m->decided_wall < BUSY_REUSE_NS)
            continue;                       /* the last answer still stands */
        uint64_t cpu = thread_cpu_ns(t->native_tid);
        if (cpu == 0) {
            m->busy = false;
            m->base_ok = false;
            continue;
        }
        if (m->base_ok && now_ns > m->base_wall) {
            m->busy = cpu > m->base_cpu && (cpu - m->base_cpu) * 2 >= now_ns - m->base_wall;
            m->decided_wall = now_ns;
        }
        m->base_cpu = cpu;
        m->base_wall = now_ns;
        m->base_ok = true;
    }
}

/* One walk and its counts; returns the threads walked, -1 if the walk failed. */
static int tick(struct sampler *sm, uint64_t now_ns)
{
    struct spy_agent *a = &spy_agent;
    struct spy_walk_stats ws = { 0 };
    const struct spy_reader *r = a->py.reader;
    uint64_t t0 = spy_now_ns();
    int n = -1;
    /* a walk that tore (a generator yielded, a frame was freed under us)
     * is retried at once, twice at most, so fast-changing stacks are not
     * under-represented; what still tears is dropped and counted */
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t torn_before = ws.torn;
        n = r->walk(&a->py.ip, sm->raw, SPY_MAX_THREADS, &ws, sm->scratch);
        if (n >= 0 && ws.torn == torn_before)
            break;
    }
    atomic_fetch_add(&a->ticks, 1);
    if (n < 0) {
        atomic_fetch_add(&a->dropped, 1);
        atomic_fetch_add(&a->torn, ws.torn);
        return -1;
    }
    decide_busy(sm, n, now_ns);
    spy_symbols_validate(&sm->sym, sm->raw, n);
    int64_t sec = (int64_t)(now_ns / NS);
    for (int i = 0; i < n; i++)
        sm->name_ok[i] = false;

    struct spy_store *s = &a->store;
    uint64_t dropped = 0;
    pthread_mutex_lock(&s->lock);
    if (sec != sm->pend_sec || s->rec_active != sm->pend_rec) {
        /* the pending samples go into the second (and the recording state)
         * they were taken in, before the store rolls to the next one */
        flush_all(sm, s);
        sm->pend_sec = sec;
        sm->pend_rec = s->rec_active;
    }
    for (int i = n; i < sm->pend_hi; i++)
        flush_one(s, &sm->pend[i]);     /* threads that are gone */
    if (sm->pend_hi > n)
        sm->pend_hi = n;
    for (int i = 0; i < n; i++) {
        struct spy_raw_thread *t = &sm->raw[i];
        struct thread_memo *m = &sm->memo[i];
        if (m->slot < 0)
            m->slot = spy_store_slot(s, t->native_tid, t->thread_id);
        int slot = m->slot;
        struct spy_thread_slot *sl = &s->slots[slot];
        bool idle = !m->busy;
        sl->idle = idle;
        sl->gil = t->gil;
        sm->hooked[i] = (struct spy_tick_thread){ .slot = slot, .stack = SPY_INTERN_NONE, .idle = idle, .gil = t->gil };
        sl->last_seen_tick = sm->tick;
        if (t->truncated && t->depth < SPY_MAX_DEPTH) {
            dropped++;              /* a torn walk: never reported as data */
            m->stack = SPY_INTERN_NONE;
            continue;
        }
        if (t->depth == 0)
            continue;
        uint32_t stack = t->unchanged ? m->stack : SPY_INTERN_NONE;
        if (stack == SPY_INTERN_NONE) {
            /* a thread that moved: resolve its frames and intern the stack */
            uint32_t depth = 0;
            bool bad = false;
            for (int d = 0; d < t->depth; d++) {
                uint32_t id = spy_symbols_frame(&sm->sym, s, &t->frames[d]);
                if (id == SPY_INTERN_NONE) {
                    bad = true;
                    break;
                }
                sm->stack[depth++] = id;
            }
            if (bad) {
                dropped++;
                m->stack = SPY_INTERN_NONE;
                continue;
            }
            stack = spy_store_stack(s, sm->stack, depth);
            m->stack = stack;
            if (stack == SPY_INTERN_NONE) {
                s->overflow++;
                continue;
            }
        }
        unsigned flags = (idle ? SPY_FLAG_IDLE : 0) | (t->gil ? SPY_FLAG_GIL : 0);
        sm->hooked[i].stack = stack;
        count_sample(sm, s, i, slot, stack, flags);
        sl->samples++;
    }
    pthread_mutex_unlock(&s->lock);

    /* Thread names: new threads, then once a second, outside the lock. */
    for (int i = 0; i < n; i++) {
        struct spy_raw_thread *t = &sm->raw[i];
        struct spy_thread_slot *sl = &s->slots[sm->memo[i].slot];   /* sampler-only writer */
        if (sl->name_checked_sec == sec)
            continue;
        if (sl->name[0] != '\0' && sl->name_checked_sec >= 0 && sec - sl->name_checked_sec < 1)
            continue;
        if (t->thread_id == a->py.ip.main_thread) {
            snprintf(sm->names[i], sizeof(sm->names[i]), "MainThread");
            sm->name_ok[i] = true;
        } else if (started_by_threading(sm, t)) {
            sm->name_ok[i] = r->thread_name(&a->py.ip, t->thread_obj, sm->names[i], sizeof(sm->names[i])) == 0;
        }
        if (sm->name_ok[i]) {
            pthread_mutex_lock(&s->lock);
            memcpy(sl->name, sm->names[i], sizeof(sl->name));
            pthread_mutex_unlock(&s->lock);
        }
        sl->name_checked_sec = sec;
    }

    spy_tick_hook_fn hook = atomic_load(&a->tick_hook);
    if (hook)
        hook(sm->hooked, n, now_ns);

    atomic_store(&a->threads_seen, (uint64_t)n);
    atomic_fetch_add(&a->torn, ws.torn);
    atomic_fetch_add(&a->dropped, dropped);
    uint64_t cost = spy_now_ns() - t0;
    /* a moving window: halve both sums when it grows past the window */
    if (atomic_load(&a->cost_n) >= SPY_COST_WINDOW) {
        atomic_store(&a->cost_ns_sum, atomic_load(&a->cost_ns_sum) / 2);
        atomic_store(&a->cost_n, atomic_load(&a->cost_n) / 2);
    }
    atomic_fetch_add(&a->cost_ns_sum, cost);
    atomic_fetch_add(&a->cost_n, 1);
    return n;
}

/* A task snapshot from this tick's walk; returns its CPU time. */
static uint64_t task_snapshot(struct sampler *sm, int n, uint64_t now, uint64_t interval)
{
    struct spy_agent *a = &spy_agent;
    uint64_t c0 = self_cpu_ns(), w0 = spy_now_ns();
    int listed = spy_task_snapshot(&sm->tasks, &a->py.ip, &sm->sym, &a->store, sm->raw, n, now, interval);
    uint64_t cpu = self_cpu_ns() - c0, wall = spy_now_ns() - w0;
    if (listed < 0) {
        if (sm->tasks.torn)
            atomic_fetch_add(&a->task_snapshots_torn, 1);
        return cpu;                     /* no asyncio (yet), or a torn listing: nothing was added */
    }
    atomic_store(&a->tasks_listed, listed);
    atomic_store(&a->tasks_walked, sm->tasks.walked);
    atomic_fetch_add(&a->task_snapshots, 1);
    if (atomic_load(&a->task_cost_n) >= SPY_COST_WINDOW) {
        atomic_store(&a->task_cost_ns_sum, atomic_load(&a->task_cost_ns_sum) / 2);
        atomic_store(&a->task_cost_n, atomic_load(&a->task_cost_n) / 2);
    }
    atomic_fetch_add(&a->task_cost_ns_sum, wall);
    atomic_fetch_add(&a->task_cost_n, 1);
    return cpu;
}

static int wait_for_interpreter(void)
{
    struct spy_agent *a = &spy_agent;
    uint64_t start = spy_now_ns();
    while (!a->py.is_initialized()) {
        uint64_t waited = spy_now_ns() - start;
        /* poll quickly at first (init takes ~10 ms), then lazily */
        uint64_t step = waited < 5 * NS ? 2000000ULL : 100000000ULL;
        if (sleep_until(spy_now_ns() + step))
            return -1;
    }
    return 0;
}

static void sampler_free(struct sampler *sm)
{
    free(sm->raw);
    free(sm->memo);
    free(sm->pend);
    free(sm->scratch);
    free(sm->stack);
    free(sm->names);
    free(sm->name_ok);
    free(sm->hooked);
    spy_symbols_free(&sm->sym);
    spy_task_sampler_free(&sm->tasks);
}

/* The task snapshot rate the budget allows: snapshots get what ticks at
 * the configured rate leave of 90 % of the budget (at least a tenth of
 * it); come down at once, go back up gently.  Returns the CPU share (of a
 * core) counted for the snapshots. */
static double budget_tasks(double task_allowed, uint64_t task_cpu_ns, uint64_t wall_ns, uint64_t snapshots)
{
    struct spy_agent *a = &spy_agent;
    int rate = a->cfg.task_rate;
    int eff = atomic_load(&a->task_effective_rate);
    if (rate <= 0) {
        atomic_store(&a->task_effective_rate, rate);
        return 0.0;
    }
    double share = (double)task_cpu_ns / (double)wall_ns;
    if (snapshots == 0)
        return share;                   /* none due in this window: keep the rate */
    double per_snapshot = (double)task_cpu_ns / (double)snapshots;
    double affordable = task_allowed * 1e9 / (per_snapshot > 1 ? per_snapshot : 1);
    int target = affordable >= rate ? rate : (int)affordable;
    if (target < 1)
        target = 1;
    if (target < eff)
        eff = target;
    else if (target > eff)
        eff = eff + (target - eff + 1) / 2;
    if (eff != atomic_load(&a->task_effective_rate) && eff < rate)
        spy_log(SPY_LOG_DEBUG, "task snapshots at %d Hz instead of %d Hz to stay within SPY_CPU_BUDGET=%g%%", eff,
                rate, a->cfg.cpu_budget);
    atomic_store(&a->task_effective_rate, eff);
    return share < task_allowed ? share : task_allowed;
}

/* Adjust the effective rates so our CPU time stays within the budget.
 * Ticks come first: what they cost at the configured rate (without the
 * snapshots' time) is theirs, and task snapshots are slowed down to fit in
 * what is left; only if ticks alone do not fit is the tick rate lowered. */
static void apply_budget(uint64_t cpu_used_ns, uint64_t task_cpu_ns, uint64_t snapshots, uint64_t wall_ns,
                         uint64_t ticks)
{
    struct spy_agent *a = &spy_agent;
    int rate = __atomic_load_n(&a->cfg.rate, __ATOMIC_RELAXED);
    int eff = atomic_load(&a->effective_rate);
    if (a->cfg.cpu_budget <= 0.0 || ticks == 0 || wall_ns == 0) {
        atomic_store(&a->effective_rate, rate);
        atomic_store(&a->task_effective_rate, a->cfg.task_rate);
        return;
    }
    double allowed = a->cfg.cpu_budget / 100.0;             /* CPU seconds per second */
    uint64_t tick_cpu = cpu_used_ns > task_cpu_ns ? cpu_used_ns - task_cpu_ns : 0;
    double per_tick = (double)tick_cpu / (double)ticks;     /* ns */
    double tick_need = per_tick * rate / 1e9;
    double task_allowed = allowed * 0.9 - tick_need;
    if (task_allowed < allowed * 0.1)
        task_allowed = allowed * 0.1;
    double task_share = budget_tasks(task_allowed, task_cpu_ns, wall_ns, snapshots);
    double affordable = (allowed - task_share) * 1e9 / (per_tick > 1 ? per_tick : 1);
    int target = affordable * 0.9 >= rate ? rate : (int)(affordable * 0.9);
    if (target < 1)
        target = 1;
    /* come down at once, go back up gently */
    if (target < eff)
        eff = target;
    else if (target > eff)
        eff = eff + (target - eff + 1) / 2;
    if (eff != atomic_load(&a->effective_rate) && eff < rate)
        spy_log(SPY_LOG_DEBUG, "sampling at %d Hz instead of %d Hz to stay within SPY_CPU_BUDGET=%g%%", eff, rate,
                a->cfg.cpu_budget);
    atomic_store(&a->effective_rate, eff);
}

void *spy_sampler_main(void *arg)
{
    (void)arg;
    struct spy_agent *a = &spy_agent;
    struct sampler sm;
    memset(&sm, 0, sizeof(sm));
    pthread_setname_np(pthread_self(), "spy-sampler");

    if (wait_for_interpreter() != 0)
        return NULL;
    a->py.ip.pthread_tid_offset = spy_pthread_tid_offset();
    int attached = -1;
    for (int i = 0; i < 100 && attached != 0; i++) {
        attached = a->py.reader->attach(&a->py.ip);
        if (attached != 0 && sleep_until(spy_now_ns() + 10000000ULL))
            return NULL;
    }
    if (attached != 0) {
        spy_log(SPY_LOG_ERROR, "Python %s: the interpreter does not match the offset table (%s); the agent is off",
                a->py.version, a->py.ip.attach_error[0] ? a->py.ip.attach_error : "attach failed");
        return NULL;
    }
    if (a->py.ip.attach_note[0])
        spy_log(SPY_LOG_INFO, "Python %s: %s", a->py.version, a->py.ip.attach_note);
    atomic_store(&a->attached, true);
    sm.raw = spy_raw_threads_new(SPY_MAX_THREADS);
    sm.memo = calloc(SPY_MAX_THREADS, sizeof(*sm.memo));
    sm.pend = calloc(SPY_MAX_THREADS, sizeof(*sm.pend));
    sm.pend_sec = -1;
    sm.scratch = malloc(SPY_WALK_SCRATCH);
    sm.stack = calloc(SPY_MAX_DEPTH, sizeof(*sm.stack));
    sm.names = calloc(SPY_MAX_THREADS, sizeof(*sm.names));
    sm.name_ok = calloc(SPY_MAX_THREADS, sizeof(*sm.name_ok));
    spy_task_sampler_init(&sm.tasks, spy_task_reader_for(a->py.major, a->py.minor), a->cfg.task_cap,
                          spy_now_ns() ^ 0x5851f42d4c957f2dULL);
    atomic_store(&a->task_effective_rate, a->cfg.task_rate);
    sm.hooked = calloc(SPY_MAX_THREADS, sizeof(*sm.hooked));
    if (!sm.hooked || !sm.raw || !sm.memo || !sm.pend || !sm.scratch || !sm.stack || !sm.names || !sm.name_ok
        || spy_symbols_init(&sm.sym, a->py.reader, &a->py.ip) != 0) {
        spy_log(SPY_LOG_ERROR, "out of memory starting the sampler; the agent is off");
        sampler_free(&sm);
        return NULL;
    }

    if (a->fork_thread != 0) {
        /* a fork child: let CPython drop the parent's threads first */
        uint64_t until = spy_now_ns() + 200000000ULL;
        while (spy_now_ns() < until) {
            struct spy_walk_stats ws = { 0 };
            int n = a->py.reader->walk(&a->py.ip, sm.raw, SPY_MAX_THREADS, &ws, sm.scratch);
            if (n == 1 && sm.raw[0].thread_id == a->fork_thread)
                break;
            if (sleep_until(spy_now_ns() + 1000000ULL))
                break;
        }
        a->fork_thread = 0;
    }

    /* Ticks fall at a random instant inside each interval: slot k spans
     * [start + k*interval, start + (k+1)*interval) and is sampled once,
     * somewhere in it.  The mean rate and the absolute pacing stay; work
     * that repeats at the sampling interval is no longer seen at one phase
     * only. */
    sm.rng = spy_now_ns() ^ ((uint64_t)(uintptr_t)&sm << 17) ^ 0x9e3779b97f4a7c15ULL;
    uint64_t slot_start = spy_now_ns();
    uint64_t warm_until = slot_start + WARMUP_NS;
    bool warm = false;
    uint64_t window_start = slot_start, window_cpu = self_cpu_ns(), window_ticks = 0;
    uint64_t window_task_cpu = 0, window_snapshots = 0, next_snapshot = slot_start;
    for (;;) {
        int eff = atomic_load(&a->effective_rate);
        uint64_t interval = NS / (uint64_t)(eff > 0 ? eff : 1);
        slot_start += interval;
        uint64_t at = slot_start + next_random(&sm.rng) % interval;
        if (sleep_until(at))
            break;
        uint64_t now = spy_now_ns();
        if (now > slot_start + 2 * interval) {
            /* late by more than a slot (the machine was busy): skip the
             * slots that went by, count them, never burst */
            uint64_t behind = (now - slot_start) / interval - 1;
            atomic_fetch_add(&a->missed, behind);
            slot_start += behind * interval;
        }
        if (!warm && now >= warm_until) {
            /* the warm-up is over: direct guarded copies from now on, if
             * SIGSEGV and SIGBUS are free to take */
            warm = true;
            spy_memread_guard_start();
        }
        spy_memread_guard_check(now);
        sm.tick++;
        int nthreads = tick(&sm, now);
        if (a->task_roots_poll)
            a->task_roots_poll(now);
        window_ticks++;
        int task_rate = atomic_load(&a->task_effective_rate);
        if (task_rate > 0 && nthreads >= 0 && now >= next_snapshot) {
            /* at most one snapshot per tick, paced by the task rate */
            uint64_t task_interval = NS / (uint64_t)task_rate;
            window_task_cpu += task_snapshot(&sm, nthreads, now, task_interval);
            window_snapshots++;
            next_snapshot += task_interval;
            if (next_snapshot <= now)
                next_snapshot = now + task_interval;
        }
        spy_store_maintain(&a->store, (int64_t)(now / NS));
        spy_symbols_maintain(&sm.sym);

        uint64_t after = spy_now_ns();
        /* the budget is checked five times a second, or every 200 ticks at
         * high rates so a start at 5000 Hz does not overspend for long */
        if (after - window_start >= NS / 5 || window_ticks >= 200) {
            uint64_t cpu = self_cpu_ns();
            atomic_fetch_add(&a->cpu_ns, cpu - window_cpu);
            /* the warm-up resolves every code object of the app once, on
             * system calls: a bounded, one-off cost the rate should not
             * pay for the rest of the run */
            if (warm)
                apply_budget(cpu - window_cpu, window_task_cpu, window_snapshots, after - window_start, window_ticks);
            window_start = after;
            window_cpu = cpu;
            window_ticks = 0;
            window_task_cpu = 0;
            window_snapshots = 0;
        }
    }
    spy_memread_guard_stop();
    pthread_mutex_lock(&a->store.lock);
    flush_all(&sm, &a->store);
    pthread_mutex_unlock(&a->store.lock);
    atomic_fetch_add(&a->cpu_ns, self_cpu_ns() - window_cpu);
    sampler_free(&sm);
    return NULL;
}
