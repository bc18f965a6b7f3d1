/*
 * compare.c — test-only: walks this process's Python threads with the
 * agent's table-driven reader and with the oracle (oracle_reader.c, built
 * against this interpreter's headers) and compares everything they report.
 *
 * Loaded into a target interpreter with ctypes (tests/oracle/test_oracle.py)
 * and called with the GIL released while every other Python thread is
 * parked, so both readers see the same, unchanging state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp.h"
#include "memread.h"
#include "python/reader.h"

extern const struct spy_reader spy_oracle_reader;

int spy_oracle_compare(char *err, size_t errlen, int *threads_out, int *frames_out);

static int compare_threads(const struct spy_reader *a, const struct spy_reader *b, const struct spy_interp *ip,
                           const struct spy_raw_thread *ta, const struct spy_raw_thread *tb, int n,
                           int *frames, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        const struct spy_raw_thread *x = &ta[i], *y = &tb[i];
        if (x->tstate != y->tstate || x->thread_id != y->thread_id || x->native_tid != y->native_tid
            || x->depth != y->depth || x->truncated != y->truncated || x->thread_obj != y->thread_obj
            || x->gil != y->gil) {
            snprintf(err, errlen, "thread %d: tables (tstate %#llx id %#llx tid %d depth %u obj %#llx) vs "
                     "oracle (tstate %#llx id %#llx tid %d depth %u obj %#llx)", i,
                     (unsigned long long)x->tstate, (unsigned long long)x->thread_id, x->native_tid, x->depth,
                     (unsigned long long)x->thread_obj, (unsigned long long)y->tstate,
                     (unsigned long long)y->thread_id, y->native_tid, y->depth, (unsigned long long)y->thread_obj);
            return -1;
        }
        if (memcmp(x->top, y->top, sizeof(x->top)) != 0) {
            snprintf(err, errlen, "thread %d: innermost-frame identity differs", i);
            return -1;
        }
        char na[SPY_MAX_STR], nb[SPY_MAX_STR];
        int ra = x->thread_obj ? a->thread_name(ip, x->thread_obj, na, sizeof(na)) : -1;
        int rb = y->thread_obj ? b->thread_name(ip, y->thread_obj, nb, sizeof(nb)) : -1;
        if (ra != rb || (ra == 0 && strcmp(na, nb) != 0)) {
            snprintf(err, errlen, "thread %d: name %s vs oracle %s", i, ra == 0 ? na : "(none)", rb == 0 ? nb : "(none)");
            return -1;
        }
        for (int f = 0; f < x->depth; f++) {
            const struct spy_raw_frame *fa = &x->frames[f], *fb = &y->frames[f];
            if (fa->code != fb->code || fa->offset != fb->offset) {
                snprintf(err, errlen, "thread %d frame %d: code %#llx +%d vs oracle %#llx +%d", i, f,
                         (unsigned long long)fa->code, fa->offset, (unsigned long long)fb->code, fb->offset);
                return -1;
            }
            struct spy_code_info ca, cb;
            int rca = a->read_code(ip, fa->code, &ca), rcb = b->read_code(ip, fb->code, &cb);
            if (rca != 0 || rcb != 0) {
                snprintf(err, errlen, "thread %d frame %d: read_code %d vs oracle %d", i, f, rca, rcb);
                return -1;
            }
            if (strcmp(ca.name, cb.name) != 0 || strcmp(ca.file, cb.file) != 0 || ca.firstlineno != cb.firstlineno
                || ca.linetable != cb.linetable || ca.linetable_len != cb.linetable_len) {
                snprintf(err, errlen, "thread %d frame %d: %s (%s:%d) vs oracle %s (%s:%d)", i, f, ca.name, ca.file,
                         ca.firstlineno, cb.name, cb.file, cb.firstlineno);
                return -1;
            }
            unsigned char hdr[512];
            struct spy_code_fingerprint pa, pb;
            if (a->code_header_size > sizeof(hdr) || b->code_header_size > sizeof(hdr)
                || spy_memread(hdr, fa->code, a->code_header_size > b->code_header_size
                                                  ? a->code_header_size : b->code_header_size) != 0) {
                snprintf(err, errlen, "thread %d frame %d: cannot copy the code header", i, f);
                return -1;
            }
            a->fingerprint(hdr, &pa);
            b->fingerprint(hdr, &pb);
            if (memcmp(&pa, &pb, sizeof(pa)) != 0) {
                snprintf(err, errlen, "thread %d frame %d: fingerprints differ", i, f);
                return -1;
            }
            if (ca.linetable && ca.linetable_len) {
                uint8_t *t = malloc(ca.linetable_len);
                if (!t || spy_memread(t, ca.linetable, ca.linetable_len) != 0) {
                    free(t);
                    snprintf(err, errlen, "thread %d frame %d: cannot copy the line table", i, f);
                    return -1;
                }
                int la = a->line_for(t, ca.linetable_len, ca.firstlineno, fa->offset);
                int lb = b->line_for(t, ca.linetable_len, ca.firstlineno, fa->offset);
                free(t);
                if (la != lb) {
                    snprintf(err, errlen, "thread %d frame %d (%s): line %d vs oracle %d", i, f, ca.name, la, lb);
                    return -1;
                }
            }
            (*frames)++;
        }
    }
    return 0;
}

int spy_oracle_compare(char *err, size_t errlen, int *threads_out, int *frames_out)
{
    struct spy_python py;
    int rc = -1;
    struct spy_raw_thread *ta = spy_raw_threads_new(SPY_MAX_THREADS);
    struct spy_raw_thread *tb = spy_raw_threads_new(SPY_MAX_THREADS);
    void *scratch = malloc(SPY_WALK_SCRATCH);
    *threads_out = 0;
    *frames_out = 0;
    if (!ta || !tb || !scratch) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!spy_python_find(&py) || spy_python_select_reader(&py, err, errlen) != 0)
        goto out;
    if (spy_memread_init(SPY_READ_VM_READV) != 0) {
        snprintf(err, errlen, "process_vm_readv does not work here");
        goto out;
    }
    const struct spy_reader *a = py.reader, *b = &spy_oracle_reader;
    if (a->minor != b->minor) {
        snprintf(err, errlen, "the oracle is for 3.%d, the interpreter is 3.%d", b->minor, a->minor);
        goto out;
    }
    py.ip.pthread_tid_offset = spy_pthread_tid_offset();
    struct spy_interp ipb = py.ip;
    if (a->attach(&py.ip) != 0) {
        snprintf(err, errlen, "table reader attach failed: %s", py.ip.attach_error);
        goto out;
    }
    if (b->attach(&ipb) != 0) {
        snprintf(err, errlen, "oracle attach failed");
        goto out;
    }
    if (py.ip.gil != ipb.gil || py.ip.main_thread != ipb.main_thread) {
        snprintf(err, errlen, "attach: gil %#llx main %#llx vs oracle gil %#llx main %#llx",
                 (unsigned long long)py.ip.gil, (unsigned long long)py.ip.main_thread,
                 (unsigned long long)ipb.gil, (unsigned long long)ipb.main_thread);
        goto out;
    }
    struct spy_walk_stats sa = { 0 }, sb = { 0 };
    int na = a->walk(&py.ip, ta, SPY_MAX_THREADS, &sa, scratch);
    int nb = b->walk(&ipb, tb, SPY_MAX_THREADS, &sb, scratch);
    if (na != nb || na <= 0) {
        snprintf(err, errlen, "walk found %d threads, oracle %d", na, nb);
        goto out;
    }
    if (compare_threads(a, b, &py.ip, ta, tb, na, frames_out, err, errlen) != 0)
        goto out;
    /* a second walk: the table reader keeps unchanged stacks, and what it
     * keeps must still be what the oracle reads afresh */
    for (int i = 0; i < SPY_MAX_THREADS; i++)
        tb[i].tstate = 0;               /* nothing to reuse: a fresh walk */
    int na2 = a->walk(&py.ip, ta, SPY_MAX_THREADS, &sa, scratch);
    int nb2 = b->walk(&ipb, tb, SPY_MAX_THREADS, &sb, scratch);
    int frames2 = 0;
    if (na2 != nb2 || compare_threads(a, b, &py.ip, ta, tb, na2, &frames2, err, errlen) != 0) {
        if (na2 != nb2)
            snprintf(err, errlen, "second walk found %d threads, oracle %d", na2, nb2);
        goto out;
    }
    for (int i = 0; i < na2; i++)
        if (!ta[i].unchanged) {
            snprintf(err, errlen, "thread %d was walked again although nothing moved", i);
            goto out;
        }
    *threads_out = na;
    rc = 0;
out:
    free(ta);
    free(tb);
    free(scratch);
    return rc;
}

/* Not a check: mean nanoseconds of one fresh walk of every thread with the
 * table reader and with the oracle, alternating, n walks each (the
 * benchmark at the end of test_oracle.py prints them). */
int spy_oracle_time(int n, double *table_ns, double *oracle_ns);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int spy_oracle_time(int n, double *table_ns, double *oracle_ns)
{
    struct spy_python py;
    char err[256];
    int rc = -1;
    struct spy_raw_thread *t = spy_raw_threads_new(SPY_MAX_THREADS);
    void *scratch = malloc(SPY_WALK_SCRATCH);
    if (!t || !scratch || n <= 0 || !spy_python_find(&py) || spy_python_select_reader(&py, err, sizeof(err)) != 0
        || spy_memread_init(SPY_READ_VM_READV) != 0)
        goto out;
    const struct spy_reader *r[2] = { py.reader, &spy_oracle_reader };
    struct spy_interp ip[2] = { py.ip, py.ip };
    uint64_t total[2] = { 0, 0 };
    for (int k = 0; k < 2; k++)
        if (r[k]->attach(&ip[k]) != 0)
            goto out;
    for (int i = 0; i < 2 * n; i++) {
        int k = i & 1;
        struct spy_walk_stats st = { 0 };
        for (int i = 0; i < SPY_MAX_THREADS; i++)
            t[i].tstate = 0;            /* nothing to reuse: a fresh walk */
        uint64_t t0 = now_ns();
        r[k]->walk(&ip[k], t, SPY_MAX_THREADS, &st, scratch);
        total[k] += now_ns() - t0;
    }
    *table_ns = (double)total[0] / n;
    *oracle_ns = (double)total[1] / n;
    rc = 0;
out:
    free(t);
    free(scratch);
    return rc;
}
