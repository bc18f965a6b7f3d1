/*
 * memread.c — the only code that touches interpreter memory.
 *
 * The sampler reads structures that other threads free and reuse while we
 * look at them, so a read must be able to fail instead of faulting.  Three
 * ways to copy, all of which turn a bad address into an error:
 *
 *  - guarded: a plain memcpy on the sampler thread, with our own SIGSEGV and
 *    SIGBUS handlers turning a fault *inside that copy* into a failed read
 *    (siglongjmp back into spy_memread).  Nanoseconds instead of a system
 *    call, which is what makes an in-process sampler cheap.
 *  - process_vm_readv(2) on our own pid: the kernel copies and returns an
 *    error for an unmapped range.  1–4 µs a call on a busy machine.
 *  - write(2) of the range into a pipe and reading it back, where a sandbox
 *    refuses process_vm_readv (seccomp); equally safe, no faster.
 *
 * Rules for the guarded copy (the host comes first):
 *  - every thread starts on a system call; the sampler switches to guarded
 *    copies only after a warm-up (spy_memread_guard_start), and only if
 *    SIGSEGV and SIGBUS both had their default action: if faulthandler,
 *    a sanitizer or any other library already handles them, we stay out;
 *  - a fault that is not one of our own copies (another thread, a signal
 *    sent with kill, the sampler outside a copy) goes to the handler that
 *    was there before, or gets the default action, exactly as without us;
 *  - every tick the sampler checks that both handlers are still ours; when
 *    another library has taken one over, it falls back to the system call
 *    for good and says so once;
 *  - the handler is async-signal-safe and reads only what the sampler wrote
 *    before arming the copy: no locks, no allocation, no thread-locals.
 * Only the sampler thread ever uses guarded copies; dump callers and the
 * other agent threads always use the system call.
 *
 * Threads: init on the thread that starts the agent (and again in a fork
 * child); guard_* on the sampler thread; reads from any thread (the pipe
 * method serialises on a mutex).
 */
#include "memread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

/* A sanitizer owns the fault signals, and a memcpy of freed memory would be
 * one of its reports: sanitizer builds never copy guarded. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED_BUILD 1
#endif
#endif
#ifndef SANITIZED_BUILD
#define SANITIZED_BUILD 0
#endif

enum method { METHOD_NONE, METHOD_VM_READV, METHOD_PIPE };

static enum method method = METHOD_NONE;   /* the system-call method */
static enum spy_read_pref pref = SPY_READ_AUTO;
static pid_t self_pid;
static int pipe_fds[2] = { -1, -1 };
static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(const char *) reason = "not started";

/* The largest write the pipe method does at once (pipe capacity). */
#define PIPE_CHUNK 65536
/* No user-space address reaches this far on x86-64 or arm64. */
#define ADDRESS_LIMIT (1ULL << 56)

/* ---- guarded copies ----------------------------------------------------- */

static atomic_bool guard_on;               /* the sampler uses guarded copies */
static atomic_bool guard_lost;             /* fell back for good */
static atomic_bool handlers_ours;          /* our handlers are installed */
static pthread_t guard_thread;             /* the only thread that copies guarded */
static struct sigaction prev_segv, prev_bus;
/* The copy in progress: written by the sampler before arming, read by the
 * handler on the same thread. */
static volatile sig_atomic_t guard_armed;
static volatile uintptr_t guard_lo, guard_hi;
static sigjmp_buf guard_jmp;
static sigset_t fault_signals;

/* What would have happened without us.  We only ever install over the
 * default action (see spy_memread_guard_start), so that is what we put back:
 * a real fault re-executes the faulting instruction when we return and the
 * process dies of it as it would have; a signal someone sent (kill, raise)
 * is raised again, and delivered once we return.  Anyone who installed a
 * handler after us (faulthandler) runs before us and chains to us.
 * Async-signal-safe. */
static void pass_on(int sig, const siginfo_t *info)
{
    sigaction(sig, sig == SIGBUS ? &prev_bus : &prev_segv, NULL);
    if (info == NULL || info->si_code <= 0)
        raise(sig);
}

static void on_fault(int sig, siginfo_t *info, void *uc)
{
    if (guard_armed && info != NULL && info->si_code > 0 && pthread_equal(pthread_self(), guard_thread)) {
        uintptr_t at = (uintptr_t)info->si_addr;
        /* between arming and disarming this thread runs nothing but the copy;
         * a general-protection fault (non-canonical address) reports 0 */
        if (at == 0 || (at >= guard_lo && at < guard_hi)) {
            guard_armed = 0;
            siglongjmp(guard_jmp, 1);
        }
    }
    (void)uc;
    pass_on(sig, info);
}

static bool handler_is_ours(int sig)
{
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) != 0)
        return false;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault;
}

static bool is_default(const struct sigaction *sa)
{
    return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL;
}

static int guarded_read(void *dst, uint64_t src, size_t len)
{
    guard_lo = (uintptr_t)src;
    guard_hi = (uintptr_t)(src + len);
    if (sigsetjmp(guard_jmp, 0) != 0) {
        /* the fault left SIGSEGV/SIGBUS blocked on this thread (we jumped
         * out of the handler without restoring the mask): unblock them, or
         * the next fault would kill the process */
        pthread_sigmask(SIG_UNBLOCK, &fault_signals, NULL);
        return -1;
    }
    guard_armed = 1;
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(dst, (const void *)(uintptr_t)src, len);
    atomic_signal_fence(memory_order_seq_cst);
    guard_armed = 0;
    return 0;
}

static bool use_guard(void)
{
    return atomic_load_explicit(&guard_on, memory_order_relaxed) && pthread_equal(pthread_self(), guard_thread);
}

bool spy_memread_guard_start(void)
{
    if (atomic_load(&guard_on))
        return true;
    if (atomic_load(&guard_lost))
        return false;
    if (pref == SPY_READ_VM_READV || pref == SPY_READ_PIPE)
        return false;
    if (SANITIZED_BUILD) {
        atomic_store(&reason, "this build is instrumented by a sanitizer, which owns SIGSEGV and SIGBUS");
        if (pref == SPY_READ_GUARDED)
            spy_log(SPY_LOG_INFO, "SPY_READ_METHOD=guarded: not in a sanitizer build; reading memory with %s",
                    spy_memread_method());
        atomic_store(&guard_lost, true);
        return false;
    }
    sigemptyset(&fault_signals);
    sigaddset(&fault_signals, SIGSEGV);
    sigaddset(&fault_signals, SIGBUS);
    if (!atomic_load(&handlers_ours)) {
        struct sigaction cur_segv, cur_bus;
        if (sigaction(SIGSEGV, NULL, &cur_segv) != 0 || sigaction(SIGBUS, NULL, &cur_bus) != 0)
            return false;
        if (!is_default(&cur_segv) || !is_default(&cur_bus)) {
            /* faulthandler, a sanitizer, a crash reporter: theirs comes first */
            atomic_store(&reason, "another handler (faulthandler or a crash reporter) owned SIGSEGV or SIGBUS "
                                  "when the sampler started");
            if (pref == SPY_READ_GUARDED)
                spy_log(SPY_LOG_INFO, "SPY_READ_METHOD=guarded: another handler owns SIGSEGV or SIGBUS; reading "
                        "memory with %s", spy_memread_method());
            atomic_store(&guard_lost, true);
            return false;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &prev_segv) != 0)
            return false;
        if (sigaction(SIGBUS, &sa, &prev_bus) != 0) {
            sigaction(SIGSEGV, &prev_segv, NULL);
            return false;
        }
        atomic_store(&handlers_ours, true);
    } else if (!handler_is_ours(SIGSEGV) || !handler_is_ours(SIGBUS)) {
        atomic_store(&handlers_ours, false);
        atomic_store(&reason, "another handler took SIGSEGV or SIGBUS over");
        atomic_store(&guard_lost, true);
        return false;
    }
    guard_thread = pthread_self();
    /* self-test: a known buffer comes back, page zero fails */
    char src[64], dst[64];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (char)(i * 5 + 3);
    if (guarded_read(dst, (uint64_t)(uintptr_t)src, sizeof(src)) != 0 || memcmp(src, dst, sizeof(src)) != 0
        || guarded_read(dst, 8, 8) == 0) {
        atomic_store(&reason, "the guarded copy failed its self-test");
        atomic_store(&guard_lost, true);
        return false;
    }
    atomic_store(&reason, "SIGSEGV and SIGBUS are ours: direct copies, faults turned into failed reads");
    atomic_store(&guard_on, true);
    return true;
}

void spy_memread_guard_check(uint64_t now_ns)
{
    static uint64_t last_check;
    if (!atomic_load_explicit(&guard_on, memory_order_relaxed))
        return;
    if (now_ns - last_check < SPY_GUARD_CHECK_NS)
        return;
    last_check = now_ns;
    if (handler_is_ours(SIGSEGV) && handler_is_ours(SIGBUS))
        return;
    atomic_store(&guard_on, false);
    atomic_store(&guard_lost, true);
    atomic_store(&handlers_ours, false);
    atomic_store(&reason, "another handler took SIGSEGV or SIGBUS over while sampling");
    spy_log(SPY_LOG_INFO, "another library installed a SIGSEGV or SIGBUS handler; reading memory with %s from now on",
            method == METHOD_PIPE ? "the pipe method" : "process_vm_readv");
}

void spy_memread_guard_stop(void)
{
    if (!atomic_load(&guard_on))
        return;
    atomic_store(&guard_on, false);
    if (atomic_load(&reason) != NULL)
        atomic_store(&reason, "the sampler stopped");
    /* put the previous handlers back only if nobody stacked on top of ours;
     * otherwise leave ours in place: whoever saved it will chain to it */
    if (handler_is_ours(SIGSEGV) && handler_is_ours(SIGBUS)) {
        sigaction(SIGBUS, &prev_bus, NULL);
        sigaction(SIGSEGV, &prev_segv, NULL);
        atomic_store(&handlers_ours, false);
    }
}

void spy_memread_after_fork_child(void)
{
    /* our handlers are inherited and keep passing faults on; the sampler
     * that owned the guard is gone, and the new one warms up again */
    atomic_store(&guard_on, false);
    guard_armed = 0;
    memset(&guard_thread, 0, sizeof(guard_thread));
}

/* ---- system-call copies ---------------------------------------------- */

static int vm_read(void *dst, uint64_t src, size_t len)
{
    struct iovec local = { dst, len };
    struct iovec remote = { (void *)(uintptr_t)src, len };
    ssize_t n = process_vm_readv(self_pid, &local, 1, &remote, 1, 0);
    return n == (ssize_t)len ? 0 : -1;
}

static int pipe_read(void *dst, uint64_t src, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&pipe_lock);
    size_t done = 0;
    while (done < len) {
        size_t part = len - done > PIPE_CHUNK ? PIPE_CHUNK : len - done;
        /* the raw system call: the kernel does the copy (and fails with
         * EFAULT); a sanitizer's write() interceptor would first check the
         * bytes itself and report the freed memory we may be looking at */
        ssize_t w = syscall(SYS_write, pipe_fds[1], (const void *)(uintptr_t)(src + done), part);
        if (w <= 0) {
            rc = -1;
            break;
        }
        size_t got = 0;
        while (got < (size_t)w) {
            ssize_t r = read(pipe_fds[0], (char *)dst + done + got, (size_t)w - got);
            if (r <= 0) {
                rc = -1;
                break;
            }
            got += (size_t)r;
        }
        if (rc != 0)
            break;
        done += (size_t)w;
        if ((size_t)w < part) {
            rc = -1;    /* a partial write: the rest is unreadable */
            break;
        }
    }
    if (rc != 0) {
        /* drain whatever a partial write left behind */
        char sink[4096];
        while (read(pipe_fds[0], sink, sizeof(sink)) > 0) {
        }
    }
    pthread_mutex_unlock(&pipe_lock);
    return rc;
}

static int syscall_read(void *dst, uint64_t src, size_t len)
{
    switch (method) {
    case METHOD_VM_READV:
        return vm_read(dst, src, len);
    case METHOD_PIPE:
        return pipe_read(dst, src, len);
    default:
        return -1;
    }
}

int spy_memread(void *dst, uint64_t src, size_t len)
{
    if (len == 0)
        return 0;
    if (src == 0 || src + len < src || src + len > ADDRESS_LIMIT)
        return -1;
    if (use_guard())
        return guarded_read(dst, src, len);
    return syscall_read(dst, src, len);
}

int spy_memread_many(struct spy_memread_req *reqs, int n)
{
    int good = 0;
    int i = 0;
    if (method != METHOD_VM_READV || use_guard()) {
        for (i = 0; i < n; i++) {
            reqs[i].ok = spy_memread(reqs[i].dst, reqs[i].src, reqs[i].len) == 0;
            good += reqs[i].ok;
        }
        return good;
    }
    while (i < n) {
        struct iovec local[64], remote[64];
        int k = 0;
        size_t want = 0;
        for (; k < 64 && i + k < n; k++) {
            local[k].iov_base = reqs[i + k].dst;
            local[k].iov_len = reqs[i + k].len;
            remote[k].iov_base = (void *)(uintptr_t)reqs[i + k].src;
            remote[k].iov_len = reqs[i + k].len;
            want += reqs[i + k].len;
        }
        ssize_t got = process_vm_readv(self_pid, local, (unsigned long)k, remote, (unsigned long)k, 0);
        if (got == (ssize_t)want) {
            for (int j = 0; j < k; j++)
                reqs[i + j].ok = 1;
            good += k;
            i += k;
            continue;
        }
        /* The kernel stops at the first bad range: the ones wholly before it
         * are good, the one it stopped in is bad; go on after it. */
        size_t acc = 0;
        int j = 0;
        size_t ok_bytes = got < 0 ? 0 : (size_t)got;
        for (; j < k && acc + reqs[i + j].len <= ok_bytes; j++) {
            acc += reqs[i + j].len;
            reqs[i + j].ok = 1;
            good++;
        }
        if (j < k)
            reqs[i + j].ok = 0;
        i += j + 1;
    }
    return good;
}

/* A known buffer must come back intact, and an unmapped page must fail. */
static int self_test(void)
{
    char src[64], dst[64];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (char)(i * 7 + 1);
    memset(dst, 0, sizeof(dst));
    if (syscall_read(dst, (uint64_t)(uintptr_t)src, sizeof(src)) != 0 || memcmp(src, dst, sizeof(src)) != 0)
        return -1;
    if (syscall_read(dst, 8, 8) == 0)     /* page zero is never mapped */
        return -1;
    return 0;
}

int spy_memread_init(enum spy_read_pref p)
{
    pref = p;
    if (method != METHOD_NONE && self_pid == getpid())
        return 0;
    if (pipe_fds[0] >= 0) {
        /* a fork child must not share the parent's pipe */
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        pipe_fds[0] = pipe_fds[1] = -1;
    }
    self_pid = getpid();
    int err = 0;
    if (pref != SPY_READ_PIPE) {
        method = METHOD_VM_READV;
        if (self_test() == 0) {
            atomic_store(&reason, pref == SPY_READ_VM_READV ? "SPY_READ_METHOD=vm_readv"
                                                            : "warming up on process_vm_readv");
            return 0;
        }
        err = errno;
    }
    if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        method = METHOD_NONE;
        spy_log(SPY_LOG_ERROR, "cannot read interpreter memory: process_vm_readv failed (%s) and pipe() failed (%s)",
                strerror(err), strerror(errno));
        return -1;
    }
    method = METHOD_PIPE;
    if (self_test() != 0) {
        method = METHOD_NONE;
        spy_log(SPY_LOG_ERROR, "cannot read interpreter memory: neither process_vm_readv nor the pipe method works");
        return -1;
    }
    if (pref == SPY_READ_PIPE) {
        atomic_store(&reason, "SPY_READ_METHOD=pipe");
    } else {
        atomic_store(&reason, "process_vm_readv is refused here (seccomp?)");
        spy_log(SPY_LOG_INFO, "process_vm_readv refused (%s); reading memory through a pipe", strerror(err));
    }
    return 0;
}

const char *spy_memread_method(void)
{
    if (atomic_load(&guard_on))
        return "guarded";
    switch (method) {
    case METHOD_VM_READV: return "process_vm_readv";
    case METHOD_PIPE: return "pipe";
    default: return "none";
    }
}

const char *spy_memread_reason(void)
{
    const char *r = atomic_load(&reason);
    return r ? r : "";
}
