/*
 * threads.c — how the agent starts its threads (spy-sampler, spy-server,
 * spy-writer, spy-leaf, spy-leaves).
 *
 * Every one of them starts with all asynchronous signals blocked, from its
 * first instruction, so the host's signals (SIGINT, SIGTERM, SIGCHLD...) are
 * always delivered to the host's own threads; the synchronous ones
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL) stay unblocked, since a fault with them
 * blocked kills the process outright.  Called from any thread; the caller's
 * own mask is restored before returning.
 *
 * spy_now_ns is the monotonic clock every thread of the agent reads.
 */
#include "threads.h"

#include <signal.h>
#include <time.h>

uint64_t spy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int spy_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}
