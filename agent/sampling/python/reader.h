/*
 * reader.h — the one interface between version-independent agent code and
 * the CPython frame reader in agent/sampling/python/.
 *
 * There is one struct spy_reader per supported minor version (3.9–3.13),
 * all the same table-driven code in reader.c with that version's offset
 * table (offsets.h); no Python headers are needed to build them.
 * Everything above this header sees only the plain structs below: addresses
 * as uint64_t, offsets as integers, no Python types.  Readers read
 * interpreter memory only through memread.
 *
 * Threads: attach() runs once on the sampler thread; walk() on the sampler
 * thread or on a caller of spy_dump() (each with its own buffers); the
 * other functions are pure and thread-safe.
 */
#ifndef SPY_READER_H
#define SPY_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SPY_MAX_DEPTH 256     /* frames kept per thread; deeper stacks are truncated */
#define SPY_MAX_THREADS 256   /* Python threads read per walk */
#define SPY_MAX_STR 256       /* bytes kept of a name or path (UTF-8, NUL included) */
#define SPY_WALK_SCRATCH (256 * 1024 + 1024)  /* caller-owned buffer for one walk */

/* Addresses found once per process, filled by the caller of attach(). */
struct spy_interp {
    uint64_t runtime;        /* &_PyRuntime */
    uint64_t code_type;      /* &PyCode_Type */
    uint64_t unicode_type;   /* &PyUnicode_Type */
    uint64_t bytes_type;     /* &PyBytes_Type */
    uint64_t hexversion;     /* Py_Version (3.11+), 0 if not exported */
    /* filled by attach() */
    uint64_t gil;            /* struct _gil_runtime_state *, 0 if unknown */
    uint64_t main_thread;    /* pthread id of the main thread */
    int pthread_tid_offset;  /* offset of the kernel tid in glibc's struct pthread, -1 if unknown */
    /* set by attach(): what did not match when it fails, and a remark
     * worth one log line when it succeeds (empty if none) */
    char attach_error[192];
    char attach_note[192];
};

/* One Python frame as read: the code object and where in it the thread is. */
struct spy_raw_frame {
    uint64_t code;
    int32_t offset;          /* byte offset of the current instruction, -1 if unknown */
    uint32_t pad;
};

/* How many walks in a row may reuse a thread's frames before one walks it
 * whole again (a bound on what a wrong "unchanged" could cost). */
#define SPY_MAX_REUSE 100

struct spy_raw_thread {
    uint64_t tstate;
    uint64_t thread_id;      /* pthread_t, as threading.get_ident() */
    int32_t native_tid;      /* kernel tid, 0 if unknown */
    bool gil;
    bool truncated;          /* deeper than SPY_MAX_DEPTH */
    uint16_t depth;
    uint64_t thread_obj;     /* the threading.Thread instance if found, else 0 */
    /* The innermost frame as last read: its address, code object, current
     * instruction and caller (and the top of the data stack on 3.11+).  A
     * walk that finds the same thread (same tstate, same slot of the array)
     * with the same top keeps the frames already here instead of walking
     * them again, and sets `unchanged`.  Callers that want a fresh walk
     * pass zeroed threads. */
    uint64_t top[5];
    bool unchanged;
    uint8_t reused;          /* walks in a row that kept these frames */
    /* SPY_MAX_DEPTH frames, innermost first, kept apart from the headers so
     * that a walk over many unchanged threads touches few pages */
    struct spy_raw_frame *frames;
};

/* An array of n threads with room for their frames, zeroed; NULL if out of
 * memory.  Free with free(). */
static inline struct spy_raw_thread *spy_raw_threads_new(int n)
{
    size_t head = (size_t)n * sizeof(struct spy_raw_thread);
    head = (head + 63) & ~(size_t)63;
    struct spy_raw_thread *t = calloc(1, head + (size_t)n * SPY_MAX_DEPTH * sizeof(struct spy_raw_frame));
    if (t == NULL)
        return NULL;
    struct spy_raw_frame *frames = (struct spy_raw_frame *)((char *)t + head);
    for (int i = 0; i < n; i++)
        t[i].frames = frames + (size_t)i * SPY_MAX_DEPTH;
    return t;
}

struct spy_walk_stats {
    uint64_t torn;           /* reads that failed or did not hold together */
};

/* What a code object resolves to. Strings are UTF-8, truncated to SPY_MAX_STR. */
struct spy_code_info {
    char name[SPY_MAX_STR];      /* co_qualname on 3.11+, co_name before */
    char file[SPY_MAX_STR];
    int32_t firstlineno;
    uint32_t linetable_len;
    uint64_t linetable;          /* address of the line table bytes */
};

/* The fields of a code object that identify it: if these still read the
 * same, a cached resolution is still right. */
struct spy_code_fingerprint {
    uint64_t type, name, file, linetable;
    int64_t firstlineno;
};

struct spy_reader {
    int major, minor;
    /* bytes to read from a code object's start to take its fingerprint */
    size_t code_header_size;
    int (*attach)(struct spy_interp *ip);
    /* Read every thread of the main interpreter; returns the count or -1. */
    int (*walk)(const struct spy_interp *ip, struct spy_raw_thread *threads,
                int max_threads, struct spy_walk_stats *stats, void *scratch);
    /* Fingerprint from a copy of the code header (code_header_size bytes). */
    void (*fingerprint)(const void *header, struct spy_code_fingerprint *fp);
    int (*read_code)(const struct spy_interp *ip, uint64_t code,
                     struct spy_code_info *out);
    /* Current line for a byte offset, from a copy of the line table. */
    int (*line_for)(const uint8_t *table, size_t len, int firstlineno, int32_t offset);
    /* Name of a threading.Thread instance (its _name attribute). */
    int (*thread_name)(const struct spy_interp *ip, uint64_t thread_obj,
                       char *out, size_t out_size);
};

#endif
