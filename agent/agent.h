/* agent.h — the agent's one instance, shared by its modules. */
#ifndef SPY_AGENT_H
#define SPY_AGENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "interp.h"
#include "stackstore.h"

enum spy_state { SPY_OFF = 0, SPY_RUNNING, SPY_STOPPING };

#define SPY_COST_WINDOW 128

struct spy_agent {
    pthread_mutex_t life;          /* start/stop; never held by the sampler */
    enum spy_state state;
    struct spy_config cfg;
    struct spy_python py;
    bool python_found;
    bool store_ready;
    struct spy_store store;

    pthread_t sampler;
    bool sampler_joinable;
    atomic_bool stop;
    atomic_bool attached;          /* the reader is attached: py.ip is complete */
    uint64_t fork_thread;          /* in a fork child: the thread that forked, until the interpreter prunes the others */
    pthread_mutex_t wake_lock;     /* with `wake`, lets stop() cut a sleep short */
    pthread_cond_t wake;

    /* figures, written by the sampler, read by anyone */
    atomic_uint_fast64_t ticks, dropped, torn, missed, threads_seen;
    atomic_int effective_rate;
    atomic_uint_fast64_t cpu_ns;       /* sampler thread CPU time */
    atomic_uint_fast64_t cost_ns_sum, cost_n;  /* recent walk costs */
    uint64_t started_ns;
};

extern struct spy_agent spy_agent;

uint64_t spy_now_ns(void);
/* Start one of the agent's threads with every asynchronous signal blocked
 * (threads.c); 0 or -1. */
int spy_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* True when no thread of the program is left, only the agent's (threads.c). */
bool spy_threads_host_gone(void);
/* In a fork child: the agent threads noted are the parent's; forget them. */
void spy_threads_after_fork_child(void);
/* Called about once a second by the agent's threads that loop (spy-leaf,
 * spy-leaves, spy-server): when the program has no thread of its own left,
 * the first caller stops the agent, so the process ends as it would have
 * without it.  True for that caller: its own thread was told to stop, and
 * it must leave its loop without touching what the stop released. */
bool spy_agent_end_with_host(void);
/* The root this process streams to as a worker, and the path of its
 * socket (sock may be NULL): the live process SPY_ROOT_PID names (with
 * SPY_ROOT_SOCK), or, when that one is dead, the live root that took over
 * its tree's port (from the registry).  0 when this process is a root. */
int spy_find_root(char *sock, size_t cap);
/* True when spy_find_root finds a root: an ancestor, or the process that
 * took its place, runs the agent and owns the WebSocket port. */
bool spy_is_descendant(void);
/* The pid that started this process's tree (SPY_ROOT_PID), else our own. */
int spy_tree_pid(void);
/* A worker whose root (dead_root) died takes over the port and removes
 * what the dead root left in the registry; 0 if it did. */
int spy_agent_become_root(int dead_root);
/* True for multiprocessing's helper processes, which are not profiled. */
bool spy_is_helper_process(void);
/* Sampler thread body (sampler.c). */
void *spy_sampler_main(void *arg);

#endif
