/*
 * fork.c — pthread_atfork handlers.
 *
 * prepare (forking thread): take every lock of ours, in the one order used
 * everywhere (life, store, wake), so none is held by the sampler at the
 * moment of fork.  parent: release them.  child: release them; the sampler
 * thread does not exist here, so it is forgotten (never joined); memory
 * reads are re-targeted at the child's pid; the counts inherited from the
 * parent are dropped (the child's profile is its own); and a new sampler is
 * started that waits until the interpreter has pruned the parent's threads
 * (CPython does that after our handler has run) before its first sample;
 * a forked worker starts its own link to the root (spy-leaf).
 *
 * Threads: all three run on the thread that calls fork(), in the parent
 * and then in the child, where it is the only thread.
 */
#include "fork.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "blocks.h"
#include "log.h"
#include "memread.h"
#include "leaf.h"
#include "leaves.h"
#include "lifecycle.h"
#include "procinfo.h"
#include "registry.h"
#include "server.h"
#include "threads.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void prepare(void)
{
    pthread_mutex_lock(&spy_agent.life);
    if (spy_agent.store_ready)
        pthread_mutex_lock(&spy_agent.store.lock);
    pthread_mutex_lock(&spy_agent.wake_lock);
}

static void parent(void)
{
    pthread_mutex_unlock(&spy_agent.wake_lock);
    if (spy_agent.store_ready)
        pthread_mutex_unlock(&spy_agent.store.lock);
    pthread_mutex_unlock(&spy_agent.life);
}

static void child(void)
{
    struct spy_agent *a = &spy_agent;
    pthread_mutex_unlock(&a->wake_lock);
    /* the sampler may have been waiting on `wake` when the parent forked:
     * that waiter does not exist here, so start the condition afresh */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (a->store_ready) {
        struct spy_store *s = &a->store;
        pthread_mutex_unlock(&s->lock);
        spy_store_reset(s);
        pthread_mutex_lock(&s->lock);
        spy_store_forget_slots(s);
        pthread_mutex_unlock(&s->lock);
    }
    a->sampler_joinable = false;
    spy_memread_after_fork_child();
    spy_threads_after_fork_child();
    spy_server_after_fork_child();
    spy_leaves_after_fork_child();
    spy_leaf_after_fork_child();
    spy_blocks_after_fork_child();
    spy_task_roots_after_fork_child();
    atomic_store(&a->ticks, 0);
    atomic_store(&a->dropped, 0);
    atomic_store(&a->torn, 0);
    atomic_store(&a->missed, 0);
    atomic_store(&a->cpu_ns, 0);
    atomic_store(&a->cost_ns_sum, 0);
    atomic_store(&a->cost_n, 0);
    if (a->state == SPY_RUNNING) {
        a->fork_thread = (uint64_t)pthread_self();
        a->started_ns = spy_now_ns();
        if (spy_memread_init((enum spy_read_pref)a->cfg.read_method) != 0 || spy_agent_spawn_sampler() != 0) {
            a->state = SPY_OFF;
        } else {
            /* a forked worker (gunicorn, multiprocessing 'fork') streams to
             * the root of the tree: its parent, or its parent's root */
            char sock[108];
            int root = spy_find_root(sock, sizeof(sock));
            if (root > 0 && sock[0])
                spy_leaf_start(sock, root, spy_agent_become_root);
        }
    } else {
        a->state = SPY_OFF;
    }
    pthread_mutex_unlock(&a->life);
}

static void install(void)
{
    pthread_atfork(prepare, parent, child);
}

void spy_fork_install(void)
{
    pthread_once(&once, install);
}
