/*
 * agent.c — the agent's one shared state (agent.h) and the read side of
 * the C API in include/spyagent.h: status, top, reset and the rate.
 *
 * The lifecycle (lifecycle/spyagent.c) fills the state in and starts and
 * stops the sampler; the sampler writes the figures; anyone reads them.
 *
 * Threads: any.  spy_get_status and spy_top read the figures atomically
 * and the store under its lock; spy_set_rate takes no lock (the server
 * thread calls it while spy_stop() may hold `life` waiting for that
 * thread); none of them takes the GIL.
 */
#include "spyagent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "memread.h"

struct spy_agent spy_agent = {
    .life = PTHREAD_MUTEX_INITIALIZER,
    .wake_lock = PTHREAD_MUTEX_INITIALIZER,
};

int spy_set_rate(int hz)
{
    if (hz < 1 || hz > 10000)
        return -1;
    /* no lock: the server thread calls this while spy_stop() may hold
     * `life` waiting for that thread; the sampler reads rate atomically */
    __atomic_store_n(&spy_agent.cfg.rate, hz, __ATOMIC_RELAXED);
    atomic_store(&spy_agent.effective_rate, hz);
    return 0;
}

void spy_reset(void)
{
    if (spy_agent.store_ready)
        spy_store_reset(&spy_agent.store);
}

void spy_get_status(struct spy_status *st)
{
    struct spy_agent *a = &spy_agent;
    memset(st, 0, sizeof(*st));
    snprintf(st->version, sizeof(st->version), "%s", SPY_VERSION);
    st->pid = (int)getpid();
    snprintf(st->python_version, sizeof(st->python_version), "%.31s", a->py.version);
    st->running = a->state == SPY_RUNNING;
    st->rate = a->cfg.rate;
    st->effective_rate = atomic_load(&a->effective_rate);
    st->cpu_budget = a->cfg.cpu_budget;
    st->samples = atomic_load(&a->ticks);
    st->dropped = atomic_load(&a->dropped);
    st->torn_reads = atomic_load(&a->torn);
    st->missed_ticks = atomic_load(&a->missed);
    st->uptime = a->started_ns ? (double)(spy_now_ns() - a->started_ns) / 1e9 : 0.0;
    st->sampler_cpu_seconds = (double)atomic_load(&a->cpu_ns) / 1e9;
    uint64_t cn = atomic_load(&a->cost_n);
    st->sample_cost_us = cn ? (double)atomic_load(&a->cost_ns_sum) / (double)cn / 1000.0 : 0.0;
    st->threads = (int)atomic_load(&a->threads_seen);
    st->read_method = spy_memread_method();
    st->read_method_reason = spy_memread_reason();
    st->history = a->store_ready ? a->store.history : a->cfg.history;
    st->task_rate = a->cfg.task_rate;
    st->task_effective_rate = atomic_load(&a->task_effective_rate);
    st->task_cap = a->cfg.task_cap;
    st->tasks = atomic_load(&a->tasks_listed);
    st->tasks_walked = atomic_load(&a->tasks_walked);
    st->task_snapshots = atomic_load(&a->task_snapshots);
    st->task_snapshots_torn = atomic_load(&a->task_snapshots_torn);
    uint64_t tn = atomic_load(&a->task_cost_n);
    st->task_cost_us = tn ? (double)atomic_load(&a->task_cost_ns_sum) / (double)tn / 1000.0 : 0.0;
    if (a->store_ready) {
        pthread_mutex_lock(&a->store.lock);
        st->overflow = a->store.overflow;
        st->memory_bytes = a->store.bytes;
        st->stacks = a->store.stacks.count;
        st->functions = a->store.funcs.count;
        pthread_mutex_unlock(&a->store.lock);
    }
}

static int top_view(int limit, int window, bool idle, int tid, int pid, bool tasks, struct spy_top_result *out)
{
    memset(out, 0, sizeof(*out));
    out->tasks = tasks;
    out->window = window;
    if (!spy_agent.store_ready)
        return 0;
    struct spy_top_query q = { .limit = limit, .window = window, .idle = idle, .tid = tid, .pid = pid,
                               .tasks = tasks };
    struct spy_top t;
    if (spy_store_top(&spy_agent.store, &q, (int64_t)(spy_now_ns() / 1000000000ULL), &t) != 0)
        return -1;
    out->rows = calloc((size_t)(t.nrows ? t.nrows : 1), sizeof(*out->rows));
    if (!out->rows) {
        spy_top_free(&t);
        return -1;
    }
    for (int i = 0; i < t.nrows; i++) {
        struct spy_top_entry *e = &out->rows[i];
        e->function = t.rows[i].function;
        e->file = t.rows[i].file;
        t.rows[i].function = t.rows[i].file = NULL;
        e->line = t.rows[i].line;
        e->own = t.rows[i].own;
        e->total = t.rows[i].total;
        e->running = t.rows[i].running;
        e->ready = t.rows[i].ready;
        for (int b = 0; b < t.npids && e->npids < 8; b++)
            if (t.rows[i].pid_mask & (1ULL << b))
                e->pids[e->npids++] = t.pids[b];
        e->own_pct = t.samples ? 100.0 * (double)e->own / (double)t.samples : 0.0;
        e->total_pct = t.samples ? 100.0 * (double)e->total / (double)t.samples : 0.0;
    }
    out->nrows = t.nrows;
    out->threads = calloc((size_t)(t.nslots ? t.nslots : 1), sizeof(*out->threads));
    if (out->threads) {
        struct spy_store *s = &spy_agent.store;
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < t.nslots && i < s->nslots; i++) {
            if (t.slot_samples[i] == 0)
                continue;
            struct spy_top_thread *th = &out->threads[out->nthreads++];
            th->pid = s->slots[i].pid;
            th->tid = s->slots[i].tid;
            memcpy(th->name, s->slots[i].name, sizeof(th->name));
            th->name[sizeof(th->name) - 1] = '\0';
            th->samples = t.slot_samples[i];
            th->idle = s->slots[i].idle;
            th->gil = s->slots[i].gil;
        }
        pthread_mutex_unlock(&s->lock);
    }
    out->samples = t.samples;
    out->idle_samples = t.idle_samples;
    spy_top_free(&t);
    return 0;
}

int spy_top(int limit, int window, bool idle, int tid, int pid, struct spy_top_result *out)
{
    return top_view(limit, window, idle, tid, pid, false, out);
}

int spy_top_tasks(int limit, int window, int tid, int pid, struct spy_top_result *out)
{
    return top_view(limit, window, true, tid, pid, true, out);
}

void spy_top_result_free(struct spy_top_result *r)
{
    for (int i = 0; i < r->nrows; i++) {
        free(r->rows[i].function);
        free(r->rows[i].file);
    }
    free(r->rows);
    free(r->threads);
    memset(r, 0, sizeof(*r));
}
