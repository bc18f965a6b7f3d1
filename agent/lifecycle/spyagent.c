/*
 * spyagent.c — the agent's lifecycle (off -> running -> stopping -> off):
 * spy_start/spy_stop/spy_running of include/spyagent.h.  It alone starts
 * and stops the long-lived threads (spy-sampler, spy-server, spy-leaves,
 * spy-leaf); the layers below never call up into it, and the worker link
 * reaches the takeover (spy_agent_become_root) through the callback it is
 * started with.  The read side of the C API (status, top, reset, rate)
 * lives with the state it reads, in sampling/agent.c.
 *
 * Starting checks the settings and the files they name; a process whose
 * SPY_ROOT_PID names a dead root streams to the root that took over its
 * tree (spy_find_root).  When the program has no thread of its own left,
 * the agent's looping threads reach spy_agent_end_with_host through the
 * handler registered with spy_threads_on_host_gone, and the agent stops so
 * the process can end as it would have without it.
 *
 * Threads: spy_start/spy_stop from the constructor, the destructor, fork
 * handlers or any host thread calling spyagent.start()/stop(), serialised by
 * spy_agent.life; also from one of the agent's own threads once the program
 * has no thread left (spy_agent_end_with_host), which then does not wait
 * for itself; spy_agent_become_root on the spy-leaf thread.
 */
#include "spyagent.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "blocks.h"
#include "lifecycle.h"
#include "categories.h"
#include "log.h"
#include "memread.h"
#include "leaf.h"
#include "leaves.h"
#include "server.h"
#include "procinfo.h"
#include "registry.h"
#include "threads.h"

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

/* The files the settings name, checked now rather than when a report or
 * a recording first needs them: SPY_CATEGORIES must be a readable regular
 * file of valid rules; a data directory that was set (the default is left
 * to the first recording) must be a directory we can write in, or be
 * creatable.  `label` is how the user named the data directory. */
static int check_files(const struct spy_config *cfg, const char *label, char *err, size_t errlen)
{
    const char *cats = getenv("SPY_CATEGORIES");
    struct stat st;
    if (cats && *cats) {
        char why[512] = "";
        struct spy_categories *rules = NULL;
        if (stat(cats, &st) != 0)
            snprintf(why, sizeof(why), "%s", strerror(errno));
        else if (!S_ISREG(st.st_mode))
            snprintf(why, sizeof(why), "not a regular file");
        else if (spy_categories_load(cats, &rules, why, sizeof(why)) != 0 && !why[0])
            snprintf(why, sizeof(why), "cannot be read");
        spy_categories_free(rules);
        if (why[0]) {
            snprintf(err, errlen, "SPY_CATEGORIES='%.200s' is not valid (%.400s): expected a JSON file of category "
                     "rules like share/categories.json; the agent is off", cats, why);
            return -1;
        }
    }
    if (!label)
        return 0;
    const char *dir = cfg->data_dir;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s='%.300s' is not valid: it exists and is not a directory; expected a "
                     "directory for recordings (created if missing); the agent is off", label, dir);
            return -1;
        }
        if (access(dir, W_OK | X_OK) != 0) {
            snprintf(err, errlen, "%s='%.300s' is not valid: cannot write in it (%s); expected a directory for "
                     "recordings that this process can write in; the agent is off", label, dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s='%.300s' is not valid (%s): expected a directory for recordings; the agent is off",
                 label, dir, strerror(errno));
        return -1;
    }
    /* missing: it is created at the first recording, inside its nearest
     * existing ancestor, which must be a directory we can write in */
    char up[sizeof(cfg->data_dir)];
    snprintf(up, sizeof(up), "%s", dir);
    for (;;) {
        char *slash = strrchr(up, '/');
        while (slash && slash > up && slash[1] == '\0') {    /* trailing slashes */
            *slash = '\0';
            slash = strrchr(up, '/');
        }
        if (!slash)
            snprintf(up, sizeof(up), ".");
        else if (slash == up)
            up[1] = '\0';
        else
            *slash = '\0';
        if (stat(up, &st) == 0)
            break;
        if (errno != ENOENT || strcmp(up, ".") == 0 || strcmp(up, "/") == 0) {
            snprintf(err, errlen, "%s='%.300s' is not valid: cannot look at %.300s (%s); the agent is off", label,
                     dir, up, strerror(errno));
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode) || access(up, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s='%.300s' is not valid: it does not exist and cannot be created in %.300s (%s); "
                 "expected a directory for recordings; the agent is off", label, dir, up,
                 !S_ISDIR(st.st_mode) ? "not a directory" : strerror(errno));
        return -1;
    }
    return 0;
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
    const char *dir_label = getenv("SPY_DATA_DIR") ? "SPY_DATA_DIR" : NULL;
    for (int i = 0; i < n; i++) {
        if (spy_config_set(&cfg, keys[i], values[i], keys[i], err, errlen) != 0)
            goto out;
        if (strcmp(keys[i], "data_dir") == 0)
            dir_label = "data_dir";
    }
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
    if (check_files(&cfg, dir_label, err, errlen) != 0)
        goto out;
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
    a->task_roots_poll = spy_task_roots_poll;
    spy_blocks_start(&a->cfg);      /* optional: the agent samples without it */
    if (spy_agent_spawn_sampler() != 0) {
        snprintf(err, errlen, "cannot start the sampler thread; the agent is off");
        goto out;
    }
    a->state = SPY_RUNNING;
    spy_threads_on_host_gone(spy_agent_end_with_host);
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
        char sock[108];
        int root = spy_find_root(sock, sizeof(sock));
        if (root > 0 && sock[0])
            spy_leaf_start(sock, root, spy_agent_become_root);
    }
out:
    pthread_mutex_unlock(&a->life);
    return rc;
}

/* How long spy_stop waits for the sampler.  A tick takes microseconds to
 * milliseconds and the sampler checks `stop` between ticks, so a sampler
 * still running after this is stuck; the host must not wait on it. */
#define SAMPLER_JOIN_NS (5 * 1000000000LL)

static bool sampler_left;           /* a stuck sampler was left behind */

/* Join the sampler, waiting SAMPLER_JOIN_NS at most; false if it was left. */
static bool join_sampler(pthread_t t)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = (long long)until.tv_nsec + SAMPLER_JOIN_NS;
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    if (pthread_timedjoin_np(t, NULL, &until) == 0)
        return true;
    pthread_detach(t);
    spy_log(SPY_LOG_ERROR, "the sampler did not stop within %lld s; it is left behind so the program is not held up",
            SAMPLER_JOIN_NS / 1000000000LL);
    return false;
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
        if (a->sampler_joinable && !pthread_equal(a->sampler, pthread_self()) && !join_sampler(a->sampler))
            sampler_left = true;
        a->sampler_joinable = false;
        spy_blocks_stop();
    }
    a->state = SPY_OFF;
    pthread_mutex_unlock(&a->life);
}

bool spy_agent_end_with_host(void)
{
    static atomic_bool ending;
    if (atomic_load(&ending) || spy_agent.state != SPY_RUNNING || !spy_threads_host_gone())
        return false;
    if (atomic_exchange(&ending, true))
        return false;               /* another agent thread saw it first */
    spy_log(SPY_LOG_DEBUG, "no thread of the program is left: the agent stops so the process can end");
    spy_stop();
    if (sampler_left)
        _exit(0);       /* what the process would have done: end, its last thread gone */
    return true;
}

bool spy_running(void)
{
    return spy_agent.state == SPY_RUNNING;
}

int spy_agent_become_root(int dead_root)
{
    /* called on the spy-leaf thread when the root is gone: the first worker
     * to bind the port serves the tree from now on */
    if (spy_server_start_quiet(&spy_agent.cfg, true) != 0)
        return -1;
    char path[108];
    if (spy_leaves_socket_path(path, sizeof(path)) == 0)
        spy_leaves_start(path);
    spy_registry_remove_dead(dead_root);
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
