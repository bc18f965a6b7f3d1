/* threads.h — how the agent starts its threads, and the clock they share. */
#ifndef SPY_THREADS_H
#define SPY_THREADS_H

#include <pthread.h>
#include <stdint.h>

/* Start one of the agent's threads with every asynchronous signal blocked
 * (threads.c); 0 or -1. */
int spy_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t spy_now_ns(void);

#endif
