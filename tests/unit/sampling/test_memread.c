/* memread: copies what is mapped, refuses what is not, never faults —
 * including a range that starts mapped and runs into a hole, and batches
 * with a bad request in the middle — with every read method.  The guarded
 * copy is used only on the thread that started it, only over the default
 * SIGSEGV/SIGBUS actions, gives up for good when another handler takes a
 * signal over, and leaves a real crash elsewhere a crash by SIGSEGV. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "memread.h"

static char *two;
static long page;

static void check_reads(void)
{
    char buf[256];
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)two, 16) == 0 && buf[0] == 'x' && buf[15] == 'x');
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)(two + page - 8), 16) == -1);   /* runs into the hole */
    CHECK(spy_memread(buf, (uint64_t)(uintptr_t)(two + page), 8) == -1);
    CHECK(spy_memread(buf, 0, 8) == -1);
    CHECK(spy_memread(buf, UINT64_MAX - 4, 8) == -1);                          /* wraps around */
    CHECK(spy_memread(buf, 0x4141414141414141ULL, 8) == -1);                   /* not canonical */
    CHECK(spy_memread(buf, 16, 0) == 0);

    char a[8], b[8], c[8];
    struct spy_memread_req reqs[3] = {
        { a, (uint64_t)(uintptr_t)two, 8, 0 },
        { b, (uint64_t)(uintptr_t)(two + page), 8, 0 },
        { c, (uint64_t)(uintptr_t)(two + 8), 8, 0 },
    };
    CHECK(spy_memread_many(reqs, 3) == 2);
    CHECK(reqs[0].ok && !reqs[1].ok && reqs[2].ok);
    CHECK(a[0] == 'x' && c[7] == 'x');
}

#if !defined(__SANITIZE_ADDRESS__)
static void *other_thread(void *arg)
{
    (void)arg;
    check_reads();          /* the system call here, whatever the owner uses */
    return NULL;
}

static void on_segv(int sig)
{
    (void)sig;
}

/* In a child: start guarded copies, then crash for real on another thread
 * (or on this one, outside a copy); the child must die by SIGSEGV. */
static volatile uintptr_t bad_address = 8;

static void *crash(void *arg)
{
    (void)arg;
    volatile int *p = (volatile int *)bad_address;
    return (void *)(uintptr_t)*p;
}

static int child_dies_by_segv(bool other)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        if (!spy_memread_guard_start())
            _exit(3);
        char buf[8];
        if (spy_memread(buf, 8, 8) != -1)   /* a fault of ours: survived */
            _exit(4);
        if (other) {
            pthread_t t;
            pthread_create(&t, NULL, crash, NULL);
            pthread_join(t, NULL);
        } else {
            crash(NULL);
        }
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status))
        fprintf(stderr, "child exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

#endif

int main(void)
{
    page = sysconf(_SC_PAGESIZE);
    two = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED);
    memset(two, 'x', (size_t)page);
    munmap(two + page, (size_t)page);           /* a hole right after the first page */

    /* the pipe method, asked for */
    CHECK(spy_memread_init(SPY_READ_PIPE) == 0);
    CHECK(strcmp(spy_memread_method(), "pipe") == 0);
    check_reads();
    CHECK(!spy_memread_guard_start());           /* not with SPY_READ_METHOD=pipe */

    /* process_vm_readv by default, before the warm-up ends */
    CHECK(spy_memread_init(SPY_READ_AUTO) == 0);
    CHECK(strcmp(spy_memread_method(), "process_vm_readv") == 0 || strcmp(spy_memread_method(), "pipe") == 0);
    check_reads();

#if defined(__SANITIZE_ADDRESS__)
    /* a sanitizer owns the fault signals: guarded copies stay off, said why */
    CHECK(!spy_memread_guard_start());
    CHECK(strstr(spy_memread_reason(), "sanitizer") != NULL);
#else
    CHECK(child_dies_by_segv(true));
    CHECK(child_dies_by_segv(false));

    /* someone else's handler first: we stay out of the way */
    struct sigaction mine, old;
    memset(&mine, 0, sizeof(mine));
    mine.sa_handler = on_segv;
    sigemptyset(&mine.sa_mask);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGBUS, &mine, &old);
        _exit(spy_memread_guard_start() ? 1 : strstr(spy_memread_reason(), "another handler") ? 0 : 2);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* ours */
    CHECK(spy_memread_guard_start());
    CHECK(strcmp(spy_memread_method(), "guarded") == 0);
    check_reads();
    for (int i = 0; i < 1000; i++) {            /* many faults in a row: each one recovered */
        char buf[8];
        CHECK(spy_memread(buf, (uint64_t)(uintptr_t)(two + page), 8) == -1);
    }
    check_reads();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other_thread, NULL) == 0);
    pthread_join(t, NULL);

    /* another library takes SIGSEGV over: we notice and fall back for good */
    CHECK(sigaction(SIGSEGV, &mine, &old) == 0);
    spy_memread_guard_check(UINT64_MAX / 2);
    CHECK(strcmp(spy_memread_method(), "guarded") != 0);
    CHECK(strstr(spy_memread_reason(), "another handler") != NULL);
    check_reads();
    CHECK(!spy_memread_guard_start());           /* for good */
#endif
    munmap(two, (size_t)page);
    return check_report();
}
