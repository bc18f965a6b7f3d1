/*
 * threads.c — how the agent starts its threads (spy-sampler, spy-server,
 * spy-writer, spy-leaf, spy-leaves), and whether the program around them
 * still has a thread of its own.
 *
 * Every one of them starts with all asynchronous signals blocked, from its
 * first instruction, so the host's signals (SIGINT, SIGTERM, SIGCHLD...) are
 * always delivered to the host's own threads; the synchronous ones
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL) stay unblocked, since a fault with them
 * blocked kills the process outright.  Called from any thread; the caller's
 * own mask is restored before returning.
 *
 * Each agent thread notes its kernel thread id in `agent_tids` while it
 * runs, so spy_threads_host_gone() can tell the program's threads from
 * ours: a process whose last thread of its own ends without exit() (a
 * child forked from a non-main thread, whose thread just returns) would
 * end then, and must not be kept alive by the agent.  A thread not yet
 * noted counts as the program's, so the answer errs towards "alive".  The
 * agent's looping threads call spy_threads_end_with_host() about once a
 * second; the lifecycle registers what ending means (stopping the agent),
 * so the layers below it never call up into it.
 *
 * spy_now_ns is the monotonic clock every thread of the agent reads.
 */
#include "threads.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t spy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define MAX_AGENT_THREADS 16

static atomic_int agent_tids[MAX_AGENT_THREADS];

struct start {
    void *(*fn)(void *);
    void *arg;
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    int tid = (int)gettid(), slot = -1;
    for (int i = 0; i < MAX_AGENT_THREADS && slot < 0; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&agent_tids[i], &free_slot, tid))
            slot = i;
    }
    void *r = s.fn(s.arg);
    if (slot >= 0)
        atomic_store(&agent_tids[slot], 0);
    return r;
}

int spy_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    struct start *s = malloc(sizeof(*s));
    if (!s)
        return -1;
    s->fn = fn;
    s->arg = arg;
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(thread, NULL, trampoline, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        free(s);
    return rc == 0 ? 0 : -1;
}

void spy_threads_after_fork_child(void)
{
    /* the agent's threads stayed in the parent */
    for (int i = 0; i < MAX_AGENT_THREADS; i++)
        atomic_store(&agent_tids[i], 0);
}

static bool is_agent_thread(int tid)
{
    for (int i = 0; i < MAX_AGENT_THREADS; i++)
        if (atomic_load(&agent_tids[i]) == tid)
            return true;
    return false;
}

/* Whether a task of this process still runs: it exists and is not a
 * zombie (a thread group leader that ended stays listed as one). */
static bool task_alive(const char *tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;                /* unreadable: assume it runs */
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');      /* the name may hold ')' */
    if (!paren || paren[1] != ' ')
        return true;
    return paren[2] != 'Z' && paren[2] != 'X' && paren[2] != 'x';
}

bool spy_threads_host_gone(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;               /* cannot tell: keep going */
    bool gone = true;
    struct dirent *e;
    while (gone && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (!is_agent_thread(atoi(e->d_name)) && task_alive(e->d_name))
            gone = false;
    }
    closedir(d);
    return gone;
}

static _Atomic(bool (*)(void)) end_handler;

void spy_threads_on_host_gone(bool (*end)(void))
{
    atomic_store(&end_handler, end);
}

bool spy_threads_end_with_host(void)
{
    bool (*end)(void) = atomic_load(&end_handler);
    return end != NULL && end();
}
