/*
 * spyagent.c — the agent's lifecycle (off -> running -> stopping -> off)
 * and the C API behind include/spyagent.h, which the Python module and the
 * WebSocket server both call.
 *
 * Threads: spy_start/spy_stop from the constructor, the destructor, fork
 * handlers or any host thread calling spyagent.start()/stop(), serialised by
 * spy_agent.life.  spy_top/spy_dump/spy_get_status from any thread: they
 * read the store under its lock, or walk the interpreter with their own
 * buffers, and never take the GIL.
 */
#include "spyagent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "memread.h"
#include "leaf.h"
#include "leaves.h"
#include "server.h"
#include "procinfo.h"

struct spy_agent spy_agent = {
    .life = PTHREAD_MUTEX_INITIALIZER,
    .wake_lock = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void init_cond(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&spy_agent.wake, &ca);
    pthread_condattr_destroy(&ca);
}

uint64_t spy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Start the sampler thread with every asynchronous signal blocked from its
 * first instruction. Holding `life`. */
int spy_agent_spawn_sampler(void)
{
    struct spy_agent *a = &spy_agent;
    atomic_store(&a->stop, false);
    int rc = spy_thread_start(&a->sampler, spy_sampler_main, NULL);
    a->sampler_joinable = rc == 0;
    return rc == 0 ? 0 : -1;
}

int spy_start(const char *const *keys, const char *const *values, int n, char *err, size_t errlen)
{
    struct spy_agent *a = &spy_agent;
    struct spy_config cfg;
    int rc = -1;
    pthread_once(&cond_once, init_cond);
    pthread_mutex_lock(&a->life);
    if (a->state == SPY_RUNNING) {
        rc = 0;
        goto out;
    }
    spy_config_defaults(&cfg);
    if (spy_config_from_env(&cfg, err, errlen) != 0)
        goto out;
    for (int i = 0; i < n; i++)
        if (spy_config_set(&cfg, keys[i], values[i], keys[i], err, errlen) != 0)
            goto out;
    if (!cfg.enabled) {
        snprintf(err, errlen, "the agent is disabled (enabled=0)");
        rc = -2;
        goto out;
    }
    if (spy_is_helper_process()) {
        snprintf(err, errlen, "a multiprocessing helper process: not profiled");
        rc = -2;
        goto out;
    }
    spy_log_set_level((enum spy_log_level)cfg.log_level);
    if (!a->python_found) {
        if (!spy_python_find(&a->py)) {
            snprintf(err, errlen, "this process is not a Python interpreter");
            rc = -3;
            goto out;
        }
        if (spy_python_select_reader(&a->py, err, errlen) != 0)
            goto out;
        a->python_found = true;
    }
    if (spy_memread_init((enum spy_read_pref)cfg.read_method) != 0) {
        snprintf(err, errlen, "cannot read this process's memory (process_vm_readv and pipe both failed); the agent is off");
        goto out;
    }
    /* started from Python (import, spyagent.start()): check the reader
     * against this thread's real frames before the first sample */
    if (spy_python_check_frames(&a->py, err, errlen) != 0)
        goto out;
    if (!a->store_ready) {
        if (spy_store_init(&a->store, cfg.history, (size_t)cfg.max_memory_mb << 20) != 0) {
            snprintf(err, errlen, "out of memory for the stack store; the agent is off");
            goto out;
        }
        a->store_ready = true;
    }
    a->cfg = cfg;
    atomic_store(&a->effective_rate, cfg.rate);
    a->started_ns = spy_now_ns();
    if (spy_agent_spawn_sampler() != 0) {
        snprintf(err, errlen, "cannot start the sampler thread; the agent is off");
        goto out;
    }
    a->state = SPY_RUNNING;
    rc = 1;
    /* the server comes second and is optional: without it we still sample.
     * A Python started by a process that runs the agent (a worker, a
     * subprocess) leaves the port to that root process. */
    if (!spy_is_descendant()) {
        if (spy_server_start(&a->cfg) == 0) {
            char path[108];
            if (spy_leaves_socket_path(path, sizeof(path)) == 0)
                spy_leaves_start(path);
        }
    } else {
        const char *sock = getenv("SPY_ROOT_SOCK");
        if (sock && *sock)
            spy_leaf_start(sock);
    }
out:
    pthread_mutex_unlock(&a->life);
    return rc;
}

void spy_stop(void)
{
    struct spy_agent *a = &spy_agent;
    pthread_once(&cond_once, init_cond);
    pthread_mutex_lock(&a->life);
    if (a->state == SPY_RUNNING) {
        a->state = SPY_STOPPING;
        spy_leaf_stop();
        spy_leaves_stop();
        spy_server_stop();
        pthread_mutex_lock(&a->wake_lock);
        atomic_store(&a->stop, true);
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->wake_lock);
        if (a->sampler_joinable && !pthread_equal(a->sampler, pthread_self()))
            pthread_join(a->sampler, NULL);
        a->sampler_joinable = false;
    }
    a->state = SPY_OFF;
    pthread_mutex_unlock(&a->life);
}

bool spy_running(void)
{
    return spy_agent.state == SPY_RUNNING;
}

int spy_agent_become_root(void)
{
    /* called on the spy-leaf thread when the root is gone: the first worker
     * to bind the port serves the tree from now on */
    if (spy_server_start_quiet(&spy_agent.cfg, true) != 0)
        return -1;
    char path[108];
    if (spy_leaves_socket_path(path, sizeof(path)) == 0)
        spy_leaves_start(path);
    spy_log(SPY_LOG_DEBUG, "the root process went away: this process (%d) now serves port %d", (int)getpid(),
            spy_agent.cfg.ws_port);
    return 0;
}

bool spy_is_helper_process(void)
{
    /* multiprocessing's resource tracker (and the older semaphore tracker)
     * run for the whole life of a --workers app and do nothing of interest */
    char cmdline[1024];
    spy_proc_cmdline(cmdline, sizeof(cmdline));
    return strstr(cmdline, "multiprocessing.resource_tracker") || strstr(cmdline, "multiprocessing.semaphore_tracker");
}

bool spy_is_descendant(void)
{
    const char *root = getenv("SPY_ROOT_PID");
    if (!root || !*root)
        return false;
    char *end;
    long pid = strtol(root, &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid())
        return false;
    return spy_pid_alive((int)pid);
}

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
    if (a->store_ready) {
        pthread_mutex_lock(&a->store.lock);
        st->overflow = a->store.overflow;
        st->memory_bytes = a->store.bytes;
        st->stacks = a->store.stacks.count;
        st->functions = a->store.funcs.count;
        pthread_mutex_unlock(&a->store.lock);
    }
}

int spy_top(int limit, int window, bool idle, int tid, int pid, struct spy_top_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!spy_agent.store_ready)
        return 0;
    struct spy_top_query q = { .limit = limit, .window = window, .idle = idle, .tid = tid, .pid = pid };
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
    out->window = window;
    spy_top_free(&t);
    return 0;
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
