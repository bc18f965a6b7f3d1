/* memread.h — fault-tolerant copies out of this process's own memory. */
#ifndef SPY_MEMREAD_H
#define SPY_MEMREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct spy_memread_req {
    void *dst;
    uint64_t src;
    size_t len;
    int ok;            /* set by spy_memread_many */
};


/* Pick the system-call method and test it; 0 on success, -1 if none works.
 * Every thread uses it until spy_memread_guard_start() succeeds, and every
 * thread but the one that called that keeps using it afterwards. */
int spy_memread_init(enum spy_read_pref pref);

/* Sampler thread, after its warm-up: make guarded direct copies this
 * thread's read method, if the preference allows it and nobody else
 * handles SIGSEGV or SIGBUS.  Returns true if guarded copies are in use. */
bool spy_memread_guard_start(void);
/* Sampler thread, before every tick: are SIGSEGV and SIGBUS still ours?
 * If not, fall back to the system call for good (one log line).  A query
 * is a system call (~1 µs here), so it is asked at most every
 * SPY_GUARD_CHECK_NS: every tick up to 200 Hz. */
#define SPY_GUARD_CHECK_NS 5000000ULL
void spy_memread_guard_check(uint64_t now_ns);
/* Sampler thread, on its way out: stop using guarded copies; our handlers
 * stay installed (they pass every fault on) unless nobody replaced them,
 * in which case the previous handlers are put back. */
void spy_memread_guard_stop(void);
/* Fork child: the thread that owned the guard does not exist here. */
void spy_memread_after_fork_child(void);

/* The method in force for the sampler: "guarded", "process_vm_readv" or
 * "pipe", and one sentence on why it last changed (never NULL). */
const char *spy_memread_method(void);
const char *spy_memread_reason(void);

/* Copy len bytes from address src into dst; 0 on success, -1 if any byte
 * could not be read (dst contents are then unspecified). */
int spy_memread(void *dst, uint64_t src, size_t len);
/* Many copies in as few system calls as possible; sets each req's ok.
 * Returns the number that succeeded. */
int spy_memread_many(struct spy_memread_req *reqs, int n);

#endif
