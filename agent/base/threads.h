/* threads.h — how the agent starts its threads, and the clock they share. */
#ifndef SPY_THREADS_H
#define SPY_THREADS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Start one of the agent's threads with every asynchronous signal blocked
 * (threads.c); 0 or -1. */
int spy_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t spy_now_ns(void);
/* True when no thread of the program is left, only the agent's. */
bool spy_threads_host_gone(void);
/* In a fork child: the agent threads noted are the parent's; forget them. */
void spy_threads_after_fork_child(void);
/* The lifecycle's answer to "the program has no thread left": it stops the
 * agent so the process ends as it would have without it, and returns true
 * to the one caller that saw it first. */
void spy_threads_on_host_gone(bool (*end)(void));
/* Called about once a second by the agent's looping threads (spy-leaf,
 * spy-leaves, spy-server): true when the agent was stopped because the
 * program has no thread left; the caller then leaves its loop without
 * touching what the stop released. */
bool spy_threads_end_with_host(void);

#endif
