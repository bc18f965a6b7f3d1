/*
 * spyagent.c — the agent's lifecycle (off -> running -> stopping -> off):
 * spy_start/spy_stop/spy_running of include/spyagent.h.  It alone starts
 * and stops the long-lived threads (spy-sampler, spy-server, spy-leaves,
 * spy-leaf); the layers below never call up into it, and the worker link
 * reaches the takeover (spy_agent_become_root) through the callback it is
 * started with.  The read side of the C API (status, top, reset, rate)
 * lives with the state it reads, in sampling/agent.c.
 *
 * Threads: spy_start/spy_stop from the constructor, the destructor, fork
 * handlers or any host thread calling spyagent.start()/stop(), serialised by
 * spy_agent.life; spy_agent_become_root on the spy-leaf thread.
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
#include "lifecycle.h"
#include "log.h"
#include "memread.h"
#include "leaf.h"
#include "leaves.h"
#include "server.h"
#include "procinfo.h"

static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void init_cond(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&spy_agent.wake, &ca);
    pthread_condattr_destroy(&ca);
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
            spy_leaf_start(sock, spy_agent_become_root);
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
