/*
 * memread.c — the only code that touches interpreter memory.
 *
 * The sampler reads structures that other threads free and reuse while we
 * look at them, so a plain memcpy can fault and take the host down.  We copy
 * with process_vm_readv(2) on our own pid: the kernel does the copy and
 * returns an error for an unmapped range instead of raising SIGSEGV.  Where
 * a sandbox refuses that call (seccomp: EPERM/ENOSYS), we fall back to
 * write(2) of the range into a pipe and reading it back, which is equally
 * fault-tolerant (EFAULT).  The method is chosen and self-tested once.
 *
 * Threads: init on the first agent thread; reads from any thread (the pipe
 * method serialises on a mutex).
 */
#include "memread.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

enum method { METHOD_NONE, METHOD_VM_READV, METHOD_PIPE };

static enum method method = METHOD_NONE;
static pid_t self_pid;
static int pipe_fds[2] = { -1, -1 };
static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;

/* The largest write the pipe method does at once (pipe capacity). */
#define PIPE_CHUNK 65536

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
        ssize_t w = write(pipe_fds[1], (const void *)(uintptr_t)(src + done), part);
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

int spy_memread(void *dst, uint64_t src, size_t len)
{
    if (len == 0)
        return 0;
    if (src == 0 || src + len < src)
        return -1;
    switch (method) {
    case METHOD_VM_READV:
        return vm_read(dst, src, len);
    case METHOD_PIPE:
        return pipe_read(dst, src, len);
    default:
        return -1;
    }
}

int spy_memread_many(struct spy_memread_req *reqs, int n)
{
    int good = 0;
    int i = 0;
    if (method != METHOD_VM_READV) {
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
    if (spy_memread(dst, (uint64_t)(uintptr_t)src, sizeof(src)) != 0 || memcmp(src, dst, sizeof(src)) != 0)
        return -1;
    if (spy_memread(dst, 8, 8) == 0)     /* page zero is never mapped */
        return -1;
    return 0;
}

int spy_memread_init(void)
{
    if (method != METHOD_NONE && self_pid == getpid())
        return 0;
    if (pipe_fds[0] >= 0) {
        /* a fork child must not share the parent's pipe */
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        pipe_fds[0] = pipe_fds[1] = -1;
    }
    self_pid = getpid();
    method = METHOD_VM_READV;
    if (self_test() == 0)
        return 0;
    int err = errno;
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
    spy_log(SPY_LOG_INFO, "process_vm_readv refused (%s); reading memory through a pipe", strerror(err));
    return 0;
}

const char *spy_memread_method(void)
{
    switch (method) {
    case METHOD_VM_READV: return "process_vm_readv";
    case METHOD_PIPE: return "pipe";
    default: return "none";
    }
}
