/*
 * profile_read.c — reads a saved profile back into a struct spy_profile,
 * for reports, diffs and conversions of files people already have.
 *
 * The format is found from the content, never from the name:
 *   - '{' first: speedscope JSON.  Ours names frames "fn (file:line)" and
 *     weighs samples in counts (unit "none"); py-spy's names frames by
 *     function alone and weighs each sample in seconds, so a count is a
 *     weight divided by the smallest weight seen.  Streamed, by
 *     profile_read_speedscope.c: memory follows the profile read, not the
 *     file.
 *   - '<' first: an SVG.  Ours carries exact data (each box's
 *     "x w depth label" in samples and a label table in window.SPY);
 *     flamegraph.pl, inferno and py-spy draw <g><title>LABEL (N samples,
 *     P%)</title><rect x= y= width=/></g> boxes, from which the tree is
 *     rebuilt: depth from y, parent = the box one row nearer the root
 *     whose span holds the box's centre, own samples = N minus the
 *     children's.  Ours leaves out boxes under 0.1 px but lists them all
 *     (x, w, label, in pre-order), so its stacks come back whole (up to
 *     the writer's cap on that list; past it, totals stay exact and the
 *     missing detail becomes its parent's own samples).
 *   - anything else: collapsed stacks, "outer;...;inner COUNT" per line.
 * In every format, a stack whose outermost frame (after a thread's) is a
 * task state's pseudo-frame with no file ("[on CPU]", "[ready]",
 * "[waiting]": our task view's files) is that many milliseconds of task
 * wall time in that state, the pseudo-frame dropped (add_sample).
 * Limits keep bad input cheap: a collapsed line over SPY_READ_MAX_LINE or
 * a document read whole (an SVG, or speedscope JSON from a pipe rather
 * than a file) over SPY_READ_MAX_DOC is refused after reading at most that
 * much; binary content is refused from its first 64 KiB.
 *
 * Runs on the caller's thread only (spyctl, a test, the server's writer);
 * keeps no state between calls.
 */
#include "profile_read.h"
#include "profile_read_parts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Rows of boxes a flame graph SVG may have (stack depth); far more than any
 * real stack, few enough that a row number always fits an int. */
#define MAX_SVG_ROWS 100000
#define HEAD_BYTES 65536
#define NONE UINT32_MAX

/* ---- errors ---- */

struct reader {
    const char *name;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->err && r->errlen)
        snprintf(r->err, r->errlen, "%.400s: %s", r->name, msg);
    return -1;
}

/* ---- building a profile: frames and stacks interned ---- */

struct builder {
    struct spy_profile *p;
    uint32_t frame_cap;
    size_t sample_cap, ids_cap;
    uint32_t thread_cap;
    uint32_t *ftab;                /* frame hash table */
    size_t ftab_size;
    uint32_t *stab;                /* (thread, stack) hash table -> sample */
    size_t stab_size;
};

static uint64_t fnv(const void *data, size_t n, uint64_t h)
{
    const unsigned char *s = data;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void builder_free(struct builder *b)
{
    free(b->ftab);
    free(b->stab);
    b->ftab = b->stab = NULL;
}

static uint64_t frame_hash(const char *fn, size_t fl, const char *file, size_t filel, int line)
{
    uint64_t h = fnv(fn, fl, 1469598103934665603ull);
    h = fnv("\0", 1, h);
    h = fnv(file, filel, h);
    return fnv(&line, sizeof(line), h);
}

static int frame_rehash(struct builder *b, size_t size)
{
    uint32_t *t = malloc(size * sizeof(*t));
    if (!t)
        return -1;
    memset(t, 0xff, size * sizeof(*t));
    for (uint32_t i = 0; i < b->p->nframes; i++) {
        const struct spy_profile_frame *f = &b->p->frames[i];
        uint64_t h = frame_hash(f->function, strlen(f->function), f->file, strlen(f->file), f->line);
        size_t k = h & (size - 1);
        while (t[k] != NONE)
            k = (k + 1) & (size - 1);
        t[k] = i;
    }
    free(b->ftab);
    b->ftab = t;
    b->ftab_size = size;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The id of frame (fn, file, line), added if new; NONE if out of memory. */
static uint32_t add_frame(struct builder *b, const char *fn, size_t fl, const char *file, size_t filel,
                          int line)
{
    struct spy_profile *p = b->p;
    if ((size_t)p->nframes * 2 + 2 > b->ftab_size
        && frame_rehash(b, b->ftab_size ? b->ftab_size * 2 : 1024) != 0)
        return NONE;
    uint64_t h = frame_hash(fn, fl, file, filel, line);
    size_t k = h & (b->ftab_size - 1);
    for (; b->ftab[k] != NONE; k = (k + 1) & (b->ftab_size - 1)) {
        const struct spy_profile_frame *f = &p->frames[b->ftab[k]];
        if (f->line == line && strlen(f->function) == fl && memcmp(f->function, fn, fl) == 0
            && strlen(f->file) == filel && memcmp(f->file, file, filel) == 0)
            return b->ftab[k];
    }
    if (p->nframes == b->frame_cap) {
        uint32_t cap = b->frame_cap ? b->frame_cap * 2 : 256;
        struct spy_profile_frame *nf = realloc(p->frames, (size_t)cap * sizeof(*nf));
        if (!nf)
            return NONE;
        p->frames = nf;
        b->frame_cap = cap;
    }
    struct spy_profile_frame *f = &p->frames[p->nframes];
    f->function = dup_n(fn, fl);
    f->file = dup_n(file, filel);
    f->line = line;
    f->firstlineno = 0;
    if (!f->function || !f->file) {
        free(f->function);
        free(f->file);
        return NONE;
    }
    b->ftab[k] = p->nframes;
    return p->nframes++;
}

static uint32_t add_thread(struct builder *b, const char *name, size_t len, int tid)
{
    struct spy_profile *p = b->p;
    for (uint32_t t = 0; t < p->nthreads; t++)
        if (p->threads[t].tid == tid && strlen(p->threads[t].name) == (len < 63 ? len : 63)
            && strncmp(p->threads[t].name, name, len < 63 ? len : 63) == 0)
            return t;
    if (p->nthreads == b->thread_cap) {
        uint32_t cap = b->thread_cap ? b->thread_cap * 2 : 8;
        struct spy_profile_thread *nt = realloc(p->threads, (size_t)cap * sizeof(*nt));
        if (!nt)
            return NONE;
        p->threads = nt;
        b->thread_cap = cap;
    }
    struct spy_profile_thread *t = &p->threads[p->nthreads];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    snprintf(t->name, sizeof(t->name), "%.*s", (int)(len < 63 ? len : 63), name);
    return p->nthreads++;
}

static uint64_t stack_hash(uint32_t thread, unsigned flags, const uint32_t *ids, uint32_t depth)
{
    uint64_t h = fnv(&thread, sizeof(thread), 1469598103934665603ull);
    if (flags)                     /* task samples: their state too */
        h = fnv(&flags, sizeof(flags), h);
    return fnv(ids, (size_t)depth * sizeof(*ids), h);
}

static int stack_rehash(struct builder *b, size_t size)
{
    uint32_t *t = malloc(size * sizeof(*t));
    if (!t)
        return -1;
    memset(t, 0xff, size * sizeof(*t));
    for (size_t i = 0; i < b->p->nsamples; i++) {
        const struct spy_profile_sample *s = &b->p->samples[i];
        size_t k = stack_hash(s->thread, s->flags, s->depth ? b->p->frame_ids + s->first : NULL, s->depth) & (size - 1);
        while (t[k] != NONE)
            k = (k + 1) & (size - 1);
        t[k] = (uint32_t)i;
    }
    free(b->stab);
    b->stab = t;
    b->stab_size = size;
    return 0;
}

/* Adds count samples of a stack (innermost first) on a thread; equal
 * stacks merge.  A stack whose outermost frame is a task state's
 * pseudo-frame (spy_task_marker: our files' task view) is that many
 * milliseconds of task wall time in that state, without the pseudo-frame.
 * 0, or -1 if out of memory. */
static int add_sample(struct builder *b, uint32_t thread, const uint32_t *ids, uint32_t depth, uint64_t count)
{
    struct spy_profile *p = b->p;
    unsigned flags = 0;
    if (count == 0)
        return 0;
    if (depth > 0) {
        const struct spy_profile_frame *outer = &p->frames[ids[depth - 1]];
        enum spy_view_state st = spy_task_marker_state(outer->function, outer->file);
        if (st != SPY_VIEW_NONE) {
            flags = spy_task_flags(st);
            depth--;
        }
    }
    if (p->nsamples * 2 + 2 > b->stab_size && stack_rehash(b, b->stab_size ? b->stab_size * 2 : 1024) != 0)
        return -1;
    size_t k = stack_hash(thread, flags, ids, depth) & (b->stab_size - 1);
    for (; b->stab[k] != NONE; k = (k + 1) & (b->stab_size - 1)) {
        struct spy_profile_sample *s = &p->samples[b->stab[k]];
        if (s->thread == thread && s->depth == depth && s->flags == flags
            && (depth == 0 || memcmp(p->frame_ids + s->first, ids, (size_t)depth * sizeof(*ids)) == 0)) {
            s->count += count;
            p->total += count;
            return 0;
        }
    }
    if (p->nsamples == b->sample_cap) {
        size_t cap = b->sample_cap ? b->sample_cap * 2 : 1024;
        struct spy_profile_sample *ns = realloc(p->samples, cap * sizeof(*ns));
        if (!ns)
            return -1;
        p->samples = ns;
        b->sample_cap = cap;
    }
    if (p->nframe_ids + depth > b->ids_cap) {
        size_t cap = b->ids_cap ? b->ids_cap : 4096;
        while (cap < p->nframe_ids + depth)
            cap *= 2;
        uint32_t *ni = realloc(p->frame_ids, cap * sizeof(*ni));
        if (!ni)
            return -1;
        p->frame_ids = ni;
        b->ids_cap = cap;
    }
    if (depth)                     /* frame_ids may still be NULL (found by tests/fuzz) */
        memcpy(p->frame_ids + p->nframe_ids, ids, (size_t)depth * sizeof(*ids));
    p->samples[p->nsamples] = (struct spy_profile_sample){
        .thread = thread, .depth = depth, .first = (uint32_t)p->nframe_ids, .flags = flags, .count = count };
    b->stab[k] = (uint32_t)p->nsamples++;
    p->nframe_ids += depth;
    p->total += count;
    return 0;
}

/* ---- labels: "function (file:line)", "function (file)" or "function" ---- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static uint32_t label_frame(struct builder *b, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= 4 && s[n - 1] == ')') {
        /* the last " (" whose inside has no further " (" */
        for (size_t i = n - 1; i-- > 1;) {
            if (s[i] != '(' || s[i - 1] != ' ')
                continue;
            const char *in = s + i + 1;
            size_t inl = n - 1 - (i + 1);
            if (inl == 0)
                break;
            const char *colon = NULL;
            for (size_t j = inl; j-- > 0;)
                if (in[j] == ':') {
                    colon = in + j;
                    break;
                }
            if (colon && all_digits(colon + 1, (size_t)(in + inl - colon - 1)))
                return add_frame(b, s, i - 1, in, (size_t)(colon - in), atoi(colon + 1));
            return add_frame(b, s, i - 1, in, inl, 0);
        }
    }
    return add_frame(b, s, n, "", 0, 0);
}

/* "thread NAME (TID)" as our writers print a thread level, or py-spy's
 * "thread (0xADDR)": true and the thread set. */
static bool thread_label(struct builder *b, const char *s, size_t n, uint32_t *thread)
{
    if (n < 10 || memcmp(s, "thread ", 7) != 0 || s[n - 1] != ')')
        return false;
    size_t open = n - 1;
    while (open > 7 && s[open] != '(')
        open--;
    if (s[open] != '(')
        return false;
    const char *name = s + 7;
    size_t namel = open > 8 ? open - 8 : 0;
    int tid = (int)strtol(s + open + 1, NULL, 0);
    if (namel == 0) {                     /* py-spy: the address is the name */
        name = s + open + 1;
        namel = n - 2 - open;
    }
    uint32_t t = add_thread(b, name, namel, tid);
    if (t == NONE)
        return false;
    *thread = t;
    return true;
}

/* ---- input: a file descriptor or memory ---- */

struct src {
    int fd;                        /* -1: memory */
    const char *mem;
    size_t memlen, pos;
};

static ssize_t src_read(struct src *s, char *buf, size_t n)
{
    if (s->fd < 0) {
        size_t k = s->memlen - s->pos < n ? s->memlen - s->pos : n;
        if (k)                     /* mem may be NULL when memlen is 0 */
            memcpy(buf, s->mem + s->pos, k);
        s->pos += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t k = read(s->fd, buf, n);
        if (k >= 0 || errno != EINTR)
            return k;
    }
}

/* Fills buf with up to n bytes (fewer only at the end). */
static ssize_t src_fill(struct src *s, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = src_read(s, buf + got, n - got);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* ---- collapsed stacks ---- */

static int parse_collapsed_line(struct reader *r, struct builder *b, char *line, size_t n, size_t lineno,
                                uint32_t **ids, size_t *ids_cap)
{
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (n == 0 || line[0] == '#')
        return 0;
    size_t sp = n;
    while (sp > 0 && line[sp - 1] != ' ')
        sp--;
    size_t cl = n - sp;
    bool digits = cl > 0;
    for (size_t i = sp; i < n && digits; i++)
        digits = line[i] >= '0' && line[i] <= '9';
    if (sp == 0 || !digits || sp < 2)
        return fail(r, "line %zu: expected collapsed stacks `frame;frame;... COUNT`%s", lineno,
                    sp == 0 ? " (no sample count; truncated?)" : "");
    /* any count that fits, and a sum that fits: what convert writes reads back */
    uint64_t count = 0;
    bool over = false;
    for (size_t i = sp; i < n && !over; i++) {
        unsigned dgt = (unsigned)(line[i] - '0');
        if (count > (SPY_READ_MAX_SAMPLES - dgt) / 10)
            over = true;
        else
            count = count * 10 + dgt;
    }
    if (over)
        return fail(r, "line %zu: sample count %.*s%s is more than the %llu a profile can hold", lineno,
                    (int)(cl > 40 ? 40 : cl), line + sp, cl > 40 ? "..." : "",
                    (unsigned long long)SPY_READ_MAX_SAMPLES);
    if (count > SPY_READ_MAX_SAMPLES - b->p->total)
        return fail(r, "line %zu: sample count %llu brings the total past the %llu a profile can hold", lineno,
                    (unsigned long long)count, (unsigned long long)SPY_READ_MAX_SAMPLES);
    size_t sl = sp - 1;
    /* frames outermost first; stored innermost first */
    size_t nf = 1;
    for (size_t i = 0; i < sl; i++)
        nf += line[i] == ';';
    if (nf > *ids_cap) {
        uint32_t *ni = realloc(*ids, nf * sizeof(*ni));
        if (!ni)
            return fail(r, "out of memory");
        *ids = ni;
        *ids_cap = nf;
    }
    uint32_t thread = 0, depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= sl; i++) {
        if (i < sl && line[i] != ';')
            continue;
        if (start == 0 && thread_label(b, line, i, &thread)) {
            start = i + 1;
            continue;
        }
        uint32_t f = label_frame(b, line + start, i - start);
        if (f == NONE)
            return fail(r, "out of memory");
        (*ids)[depth++] = f;
        start = i + 1;
    }
    for (uint32_t i = 0; i < depth / 2; i++) {
        uint32_t t = (*ids)[i];
        (*ids)[i] = (*ids)[depth - 1 - i];
        (*ids)[depth - 1 - i] = t;
    }
    if (depth == 1 && strcmp(b->p->frames[(*ids)[0]].function, "(no frames)") == 0)
        depth = 0;
    if (add_sample(b, thread, *ids, depth, count) != 0)
        return fail(r, "out of memory");
    return 0;
}

/* Streams lines of at most SPY_READ_MAX_LINE bytes; `head` holds the
 * first bytes already read. */
static int read_collapsed(struct reader *r, struct builder *b, struct src *s, const char *head, size_t headlen)
{
    size_t cap = SPY_READ_MAX_LINE + 1, len = 0, lineno = 0;
    char *buf = malloc(cap + 1);
    uint32_t *ids = NULL;
    size_t ids_cap = 0;
    int rc = -1;
    bool eof = false;

    if (!buf) {
        fail(r, "out of memory");
        goto cleanup;
    }
    memcpy(buf, head, headlen);
    len = headlen;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (!nl && !eof && len < cap) {
            ssize_t k = src_read(s, buf + len, cap - len);
            if (k < 0) {
                fail(r, "read error: %s", strerror(errno));
                goto cleanup;
            }
            if (k == 0)
                eof = true;
            len += (size_t)k;
            continue;
        }
        if (!nl && !eof) {
            fail(r, "line %zu is longer than %zu bytes: expected collapsed stacks "
                 "(`frame;frame;... COUNT` per line), speedscope JSON or an SVG flame graph",
                 lineno + 1, SPY_READ_MAX_LINE);
            goto cleanup;
        }
        if (!nl && len == 0)
            break;
        size_t n = nl ? (size_t)(nl - buf) : len;
        lineno++;
        if (memchr(buf, '\0', n)) {
            fail(r, "line %zu holds binary data: expected collapsed stacks", lineno);
            goto cleanup;
        }
        if (parse_collapsed_line(r, b, buf, n, lineno, &ids, &ids_cap) != 0)
            goto cleanup;
        size_t used = nl ? n + 1 : n;
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    if (b->p->nsamples == 0) {
        fail(r, "no stacks: expected collapsed stacks `frame;frame;... COUNT`");
        goto cleanup;
    }
    rc = 0;

cleanup:
    free(buf);
    free(ids);
    return rc;
}

/* ---- what the speedscope reader (profile_read_speedscope.c) builds with ---- */

int spy_read_fail(struct reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(r, "%s", msg);
}

uint32_t spy_read_add_frame(struct builder *b, const char *fn, size_t fl, const char *file, size_t filel, int line)
{
    return add_frame(b, fn, fl, file, filel, line);
}

uint32_t spy_read_label_frame(struct builder *b, const char *s, size_t n)
{
    return label_frame(b, s, n);
}

uint32_t spy_read_add_thread(struct builder *b, const char *name, size_t len, int tid)
{
    return add_thread(b, name, len, tid);
}

int spy_read_add_sample(struct builder *b, uint32_t thread, const uint32_t *ids, uint32_t depth, uint64_t count)
{
    return add_sample(b, thread, ids, depth, count);
}

struct spy_profile *spy_read_profile(struct builder *b)
{
    return b->p;
}

/* ---- SVG ---- */

struct box {
    double x, w;                   /* ours: samples; others: fraction of the root */
    uint64_t count, kids;
    int depth;
    uint32_t frame;                /* NONE: the root; thread boxes: thread | 1 << 31 */
    uint32_t parent;
};

#define THREAD_BIT 0x80000000u

static int compare_boxes(const void *pa, const void *pb)
{
    const struct box *a = pa, *b = pb;
    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    return a->x < b->x ? -1 : a->x > b->x;
}

/* Links every box to its parent (sorted by depth, x; box 0 the root at
 * depth 0) and adds one sample per box with own samples. */
static int boxes_to_samples(struct reader *r, struct builder *b, struct box *bx, size_t n)
{
    uint32_t *ids = NULL;
    size_t *row = NULL;            /* first box of each depth */
    int rc = -1, maxd = 0;

    qsort(bx, n, sizeof(*bx), compare_boxes);
    if (n == 0 || bx[0].depth != 0 || (n > 1 && bx[1].depth == 0))
        return fail(r, "an SVG with boxes, but no single root box: expected a flame graph");
    maxd = bx[n - 1].depth;
    row = calloc((size_t)maxd + 2, sizeof(*row));
    ids = malloc(((size_t)maxd + 1) * sizeof(*ids));
    if (!row || !ids) {
        fail(r, "out of memory");
        goto cleanup;
    }
    for (size_t i = n; i-- > 0;)
        row[bx[i].depth] = i;
    row[maxd + 1] = n;
    for (int d = 1; d <= maxd; d++)
        if (row[d] == 0 && row[d - 1] != 0) {
            fail(r, "no boxes at depth %d but some above it: not a flame graph", d);
            goto cleanup;
        }
    bx[0].parent = NONE;
    for (size_t i = 1; i < n; i++) {
        double c = bx[i].x + bx[i].w / 2;
        size_t lo = row[bx[i].depth - 1], hi = row[bx[i].depth];
        while (hi - lo > 1) {       /* last box of the row above starting at or before c */
            size_t mid = lo + (hi - lo) / 2;
            if (bx[mid].x <= c)
                lo = mid;
            else
                hi = mid;
        }
        const struct box *par = &bx[lo];
        double slack = par->w * 1e-6 + 1e-9;
        if (par->depth != bx[i].depth - 1 || c < par->x - slack || c > par->x + par->w + slack) {
            fail(r, "a box at depth %d has no box under it: not a flame graph", bx[i].depth);
            goto cleanup;
        }
        bx[i].parent = (uint32_t)lo;
        bx[lo].kids = bx[i].count > UINT64_MAX - bx[lo].kids ? UINT64_MAX : bx[lo].kids + bx[i].count;
    }
    for (size_t i = 0; i < n; i++) {
        if (bx[i].count > SPY_READ_MAX_SAMPLES) {
            fail(r, "a box at depth %d has %llu samples: more than the %llu a profile can hold", bx[i].depth,
                 (unsigned long long)bx[i].count, (unsigned long long)SPY_READ_MAX_SAMPLES);
            goto cleanup;
        }
        uint64_t own = bx[i].count > bx[i].kids ? bx[i].count - bx[i].kids : 0;
        if (own == 0)
            continue;
        if (own > SPY_READ_MAX_SAMPLES - b->p->total) {
            fail(r, "the boxes' samples add up to more than the %llu a profile can hold (a box at depth %d "
                 "adds %llu)", (unsigned long long)SPY_READ_MAX_SAMPLES, bx[i].depth, (unsigned long long)own);
            goto cleanup;
        }
        uint32_t depth = 0, thread = 0;
        for (uint32_t j = (uint32_t)i; j != NONE && bx[j].frame != NONE; j = bx[j].parent) {
            if (bx[j].frame & THREAD_BIT)
                thread = bx[j].frame & ~THREAD_BIT;
            else
                ids[depth++] = bx[j].frame;
        }
        if (add_sample(b, thread, ids, depth, own) != 0) {
            fail(r, "out of memory");
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    free(row);
    free(ids);
    return rc;
}

/* XML text with the five entities and numeric references decoded, into
 * out (cap bytes); returns its length. */
static size_t xml_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap;) {
        if (s[i] != '&') {
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        if (!semi) {
            out[o++] = s[i++];
            continue;
        }
        size_t el = (size_t)(semi - (s + i));
        unsigned long cp = 0;
        if (el == 3 && memcmp(s + i, "&lt", 3) == 0) cp = '<';
        else if (el == 3 && memcmp(s + i, "&gt", 3) == 0) cp = '>';
        else if (el == 4 && memcmp(s + i, "&amp", 4) == 0) cp = '&';
        else if (el == 5 && memcmp(s + i, "&quot", 5) == 0) cp = '"';
        else if (el == 5 && memcmp(s + i, "&apos", 5) == 0) cp = '\'';
        else if (el > 2 && s[i + 1] == '#')
            cp = s[i + 2] == 'x' ? strtoul(s + i + 3, NULL, 16) : strtoul(s + i + 2, NULL, 10);
        if (cp == 0 || cp > 0x10ffff) {
            out[o++] = s[i++];
            continue;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xc0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xe0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[o++] = (char)(0xf0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
        i += el + 1;
    }
    out[o] = '\0';
    return o;
}

/* The value of attribute `name` in the tag [tag, end), or NULL. */
static const char *attr(const char *tag, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *q = tag; q + nl + 2 < end; q++) {
        if ((q[-1] == ' ' || q[-1] == '\n' || q[-1] == '\t') && memcmp(q, name, nl) == 0 && q[nl] == '='
            && (q[nl + 1] == '"' || q[nl + 1] == '\'')) {
            const char *v = q + nl + 2;
            const char *e = memchr(v, q[nl + 1], (size_t)(end - v));
            if (!e)
                return NULL;
            *len = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static double attr_num(const char *tag, const char *end, const char *name, bool *found, bool *pct)
{
    size_t len;
    const char *v = attr(tag, end, name, &len);
    *found = v != NULL;
    if (!v)
        return 0;
    if (pct)
        *pct = len > 0 && v[len - 1] == '%';
    return strtod(v, NULL);
}

/* "LABEL (N samples, P%)": the label's length and N, or false. */
static bool split_title(const char *t, size_t n, size_t *labell, uint64_t *count)
{
    if (n < 4 || t[n - 1] != ')')
        return false;
    const char *open = NULL;
    for (size_t i = n - 1; i-- > 0;)
        if (t[i] == '(' && i > 0 && t[i - 1] == ' ') {
            open = t + i;
            break;
        }
    if (!open)
        return false;
    uint64_t v = 0;
    const char *q = open + 1;
    bool digits = false;
    for (; *q == ',' || (*q >= '0' && *q <= '9'); q++)
        if (*q != ',') {               /* saturates: too many is refused later, by value */
            uint64_t d = (uint64_t)(*q - '0');
            v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
            digits = true;
        }
    if (!digits || strncmp(q, " sample", 7) != 0)
        return false;
    *labell = (size_t)(open - 1 - t);
    *count = v;
    return true;
}

static int push_box(struct reader *r, struct box **bx, size_t *n, size_t *cap, struct box b)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        struct box *nb = realloc(*bx, c * sizeof(*nb));
        if (!nb)
            return fail(r, "out of memory");
        *bx = nb;
        *cap = c;
    }
    (*bx)[(*n)++] = b;
    return 0;
}

static int compare_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* flamegraph.pl, inferno, py-spy: <g><title>…</title><rect …/></g>. */
static int read_flamegraph_svg(struct reader *r, struct builder *b, const char *doc, size_t len)
{
    struct box *bx = NULL;
    size_t n = 0, cap = 0;
    double *ys = NULL, *yv = NULL;  /* each box's y; sorted copy */
    size_t yn = 0, ycap = 0;
    char *label = NULL;
    int rc = -1;
    const char *end = doc + len;
    double root_y = 0;
    bool have_root = false;

    label = malloc(8192);
    if (!label) {
        fail(r, "out of memory");
        goto cleanup;
    }
    for (const char *q = doc; (q = memmem(q, (size_t)(end - q), "<title>", 7)) != NULL;) {
        const char *t = q + 7;
        const char *te = memmem(t, (size_t)(end - t), "</title>", 8);
        if (!te)
            break;
        q = te + 8;
        const char *gend = memmem(q, (size_t)(end - q), "</g>", 4);
        const char *rect = memmem(q, (size_t)(end - q), "<rect", 5);
        if (!rect || (gend && rect > gend))
            continue;
        const char *rend = memchr(rect, '>', (size_t)(end - rect));
        if (!rend)
            break;
        size_t ll = xml_decode(t, (size_t)(te - t), label, 8192), labell;
        uint64_t count;
        if (!split_title(label, ll, &labell, &count))
            continue;
        bool fx, fw, fy, ffx, ffw;
        double x = attr_num(rect + 5, rend, "x", &fx, NULL);
        double w = attr_num(rect + 5, rend, "width", &fw, NULL);
        double y = attr_num(rect + 5, rend, "y", &fy, NULL);
        double gx = attr_num(rect + 5, rend, "fg:x", &ffx, NULL);
        double gw = attr_num(rect + 5, rend, "fg:w", &ffw, NULL);
        if (!fx || !fw || !fy)
            continue;
        /* x and width in samples (inferno's fg:), percent or pixels: the
         * same unit for every box, which is all containment needs */
        struct box nb = { .x = ffx ? gx : x, .w = ffw ? gw : w, .count = count, .depth = 0, .frame = NONE };
        if (labell == 3 && memcmp(label, "all", 3) == 0 && !have_root) {
            have_root = true;
            root_y = y;
        } else if (labell >= 7 && memcmp(label, "thread ", 7) == 0 && thread_label(b, label, labell, &nb.frame)) {
            nb.frame |= THREAD_BIT;
        } else if ((nb.frame = label_frame(b, label, labell)) == NONE) {
            fail(r, "out of memory");
            goto cleanup;
        }
        if (push_box(r, &bx, &n, &cap, nb) != 0)
            goto cleanup;
        if (yn == ycap) {
            size_t c = ycap ? ycap * 2 : 1024;
            double *ny = realloc(yv, c * sizeof(*ny));
            if (!ny) {
                fail(r, "out of memory");
                goto cleanup;
            }
            yv = ny;
            ycap = c;
        }
        yv[yn++] = y;
    }
    if (!have_root) {
        fail(r, "an SVG, but not a flame graph: expected spyagent's SVG or flamegraph.pl/inferno/py-spy boxes "
             "<g><title>NAME (N samples, P%%)</title><rect .../></g> with a root box \"all\"");
        goto cleanup;
    }
    /* depth from y: the row pitch is the smallest gap between rows */
    ys = malloc(n * sizeof(*ys));
    if (!ys) {
        fail(r, "out of memory");
        goto cleanup;
    }
    memcpy(ys, yv, n * sizeof(*ys));
    qsort(ys, n, sizeof(*ys), compare_double);
    double pitch = 0;
    for (size_t i = 1; i < n; i++)
        if (ys[i] - ys[i - 1] > 0.5 && (pitch == 0 || ys[i] - ys[i - 1] < pitch))
            pitch = ys[i] - ys[i - 1];
    if (pitch == 0)
        pitch = 1;
    for (size_t i = 0; i < n; i++) {
        double depth = (yv[i] > root_y ? yv[i] - root_y : root_y - yv[i]) / pitch + 0.5;
        if (!(depth >= 0 && depth < MAX_SVG_ROWS)) {   /* also NaN: a y that is not a number */
            fail(r, "a flame graph box lies %g rows from the root box; at most %d rows are accepted", depth,
                 MAX_SVG_ROWS);
            goto cleanup;
        }
        bx[i].depth = (int)depth;
    }
    rc = boxes_to_samples(r, b, bx, n);

cleanup:
    free(yv);
    free(bx);
    free(ys);
    free(label);
    return rc;
}

/* Ours: boxes "x w depth label" in samples, labels [fn, file, line, kind]
 * in window.SPY, sub-pixel nodes in SPY.omitted, figures in the subtitle. */
static int read_our_svg(struct reader *r, struct builder *b, const char *doc, size_t len)
{
    const char *end = doc + len;
    cJSON *labels = NULL;
    uint32_t *lmap = NULL;
    struct box *bx = NULL;
    size_t n = 0, cap = 0, nlabels = 0;
    int rc = -1;

    const char *spy = memmem(doc, len, "window.SPY={", 12);
    const char *lab = spy ? memmem(spy, (size_t)(end - spy), "labels:[", 8) : NULL;
    const char *lend = lab ? memmem(lab, (size_t)(end - lab), "]};</script>", 12) : NULL;
    if (!lab || !lend) {
        fail(r, "a spyagent SVG without its data (window.SPY labels): truncated?");
        goto cleanup;
    }
    labels = cJSON_ParseWithLength(lab + 7, (size_t)(lend + 1 - (lab + 7)));
    if (!cJSON_IsArray(labels)) {
        fail(r, "a spyagent SVG whose label table does not parse: truncated or edited?");
        goto cleanup;
    }
    nlabels = (size_t)cJSON_GetArraySize(labels);
    lmap = malloc((nlabels + 1) * sizeof(*lmap));
    if (!lmap) {
        fail(r, "out of memory");
        goto cleanup;
    }
    size_t li = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, labels) {
        const cJSON *fn = cJSON_GetArrayItem(l, 0), *file = cJSON_GetArrayItem(l, 1);
        const cJSON *line = cJSON_GetArrayItem(l, 2), *kind = cJSON_GetArrayItem(l, 3);
        if (!cJSON_IsString(fn) || !cJSON_IsString(file) || !cJSON_IsNumber(line) || !cJSON_IsNumber(kind)) {
            fail(r, "a spyagent SVG with a malformed label %zu", li);
            goto cleanup;
        }
        uint32_t t = 0;
        if (kind->valueint == 2)
            lmap[li] = NONE;
        else if (kind->valueint == 1 && thread_label(b, fn->valuestring, strlen(fn->valuestring), &t))
            lmap[li] = t | THREAD_BIT;
        else
            lmap[li] = add_frame(b, fn->valuestring, strlen(fn->valuestring), file->valuestring,
                                 strlen(file->valuestring), line->valueint);
        if (lmap[li] == NONE && kind->valueint != 2) {
            fail(r, "out of memory");
            goto cleanup;
        }
        li++;
    }
    const char *frames_end = memmem(doc, len, "<g id=\"frames\">", 15);
    const char *stop = spy;
    /* the frames group after the data is no group of ours (found by tests/fuzz) */
    const char *q = frames_end && frames_end < stop ? frames_end : doc;
    while (q < stop && (q = memmem(q, (size_t)(stop - q), "data-v=\"", 8)) != NULL) {
        q += 8;
        char *e;
        struct box nb = { 0 };
        unsigned long long x = strtoull(q, &e, 10), w = strtoull(e, &e, 10);
        unsigned long d = strtoul(e, &e, 10), li2 = strtoul(e, &e, 10);
        if (*e != '"' || li2 >= nlabels) {
            fail(r, "a spyagent SVG with a malformed box (data-v): truncated or edited?");
            goto cleanup;
        }
        nb.x = (double)x;
        nb.w = (double)w;
        nb.count = w;
        nb.depth = (int)d;
        nb.frame = lmap[li2];
        if (push_box(r, &bx, &n, &cap, nb) != 0)
            goto cleanup;
        q = e;
    }
    /* Omitted nodes: dx,w,label triples, every node under the drawing
     * limit with its whole subtree, in pre-order.  A node's parent is the
     * latest omitted node still holding its span (kept on a stack), else
     * the deepest drawn box holding it. */
    size_t drawn = n;
    const char *om = memmem(spy, (size_t)(lab - spy), "omitted:[", 9);
    if (om && drawn > 0) {
        qsort(bx, drawn, sizeof(*bx), compare_boxes);
        int maxd = bx[drawn - 1].depth;
        const char *oq = om + 9;
        uint64_t ox = 0;
        size_t *chain = NULL, nchain = 0, chain_cap = 0;   /* indices into bx */
        while (*oq != ']' && oq < lab) {
            char *e;
            uint64_t dx = strtoull(oq, &e, 10);
            if (*e != ',')
                break;
            uint64_t w = strtoull(e + 1, &e, 10);
            if (*e != ',')
                break;
            unsigned long li2 = strtoul(e + 1, &e, 10);
            ox += dx;
            oq = e;
            while (*oq == ',' || *oq == '\n')
                oq++;
            if (li2 >= nlabels)
                break;
            while (nchain > 0) {
                const struct box *t = &bx[chain[nchain - 1]];
                if (t->x <= (double)ox && (double)(ox + w) <= t->x + t->w)
                    break;
                nchain--;
            }
            int depth = -1;
            if (nchain > 0) {
                depth = bx[chain[nchain - 1]].depth + 1;
            } else {
                double c = (double)ox + (double)w / 2;
                for (int dd = maxd; dd >= 0 && depth < 0; dd--) {
                    size_t lo = 0, hi = drawn;
                    while (lo < hi) {      /* first box with (depth, x) > (dd, c) */
                        size_t mid = lo + (hi - lo) / 2;
                        if (bx[mid].depth < dd || (bx[mid].depth == dd && bx[mid].x <= c))
                            lo = mid + 1;
                        else
                            hi = mid;
                    }
                    if (lo > 0 && bx[lo - 1].depth == dd && c < bx[lo - 1].x + bx[lo - 1].w)
                        depth = dd + 1;
                }
            }
            if (depth < 0)
                continue;
            struct box nb = { .x = (double)ox, .w = (double)w, .count = w, .depth = depth, .frame = lmap[li2] };
            if (push_box(r, &bx, &n, &cap, nb) != 0) {
                free(chain);
                goto cleanup;
            }
            if (nchain == chain_cap) {
                size_t c2 = chain_cap ? chain_cap * 2 : 64;
                size_t *nc = realloc(chain, c2 * sizeof(*nc));
                if (!nc) {
                    free(chain);
                    fail(r, "out of memory");
                    goto cleanup;
                }
                chain = nc;
                chain_cap = c2;
            }
            chain[nchain++] = n - 1;
        }
        free(chain);
    }
    if (n == 0) {
        rc = 0;                    /* an empty recording */
        goto meta;
    }
    if (boxes_to_samples(r, b, bx, n) != 0)
        goto cleanup;
meta:
    rc = -1;
    /* subtitle: "PROGRAM — pid N — 1,234 samples in 5.0 s at 100 Hz, ..." */
    const char *sub = memmem(doc, len, "<text id=\"subtitle\"", 19);
    const char *se = sub ? memmem(sub, (size_t)(end - sub), "</text>", 7) : NULL;
    if (sub && se) {
        const char *st = memchr(sub, '>', (size_t)(se - sub));
        const char *pid = st ? memmem(st, (size_t)(se - st), " \xe2\x80\x94 pid ", 9) : NULL;
        if (pid) {
            char prog[sizeof(b->p->program)];
            size_t pl = xml_decode(st + 1, (size_t)(pid - st - 1), prog, sizeof(prog));
            if (strcmp(prog, "(unknown program)") != 0)
                memcpy(b->p->program, prog, pl + 1);
            char *e;
            errno = 0;
            long v = strtol(pid + 9, &e, 10);
            if (errno != 0 || v < 0 || v > INT32_MAX) {
                fail(r, "the subtitle's pid %.20s is not a process id (0 to %d)", pid + 9, INT32_MAX);
                goto cleanup;
            }
            b->p->pid = (int)v;
        }
        /* a task flame graph: "12,345 ms of task wall time in 5.0 s" */
        static const char task_in[] = " ms of task wall time in ";
        const char *in = st ? memmem(st, (size_t)(se - st), " samples in ", 12) : NULL;
        size_t inl = 12;
        if (!in && st && (in = memmem(st, (size_t)(se - st), task_in, sizeof(task_in) - 1)) != NULL)
            inl = sizeof(task_in) - 1;
        if (in) {
            char *e;
            double d = strtod(in + inl, &e);
            if (e == in + inl || !(d >= 0 && d <= SPY_READ_MAX_DURATION)) {
                fail(r, "the subtitle's duration %.20s s is out of range (0 to %.0f s)", in + inl,
                     SPY_READ_MAX_DURATION);
                goto cleanup;
            }
            b->p->duration = d;
            if (strncmp(e, " s at ", 6) == 0) {
                errno = 0;
                long v = strtol(e + 6, NULL, 10);
                if (errno != 0 || v < 0 || v > SPY_READ_MAX_RATE) {
                    fail(r, "the subtitle's rate %.20s Hz is out of range (0 to %d Hz)", e + 6, SPY_READ_MAX_RATE);
                    goto cleanup;
                }
                b->p->rate = (int)v;
            }
        }
    }
    rc = 0;

cleanup:
    cJSON_Delete(labels);
    free(lmap);
    free(bx);
    return rc;
}

/* ---- detection ---- */

static bool looks_binary(const char *h, size_t n)
{
    size_t ctl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == 0)
            return true;
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f')
            ctl++;
    }
    return ctl * 100 > n;
}

static int read_doc(struct reader *r, struct builder *b, struct src *s, char *head, size_t headlen,
                    const char **format)
{
    char *doc = NULL;
    size_t len = headlen, cap = headlen + 65536;
    int rc = -1;
    const char *what = head[0] == '{' ? "speedscope JSON" : "SVG";

    /* speedscope is streamed from a regular file or from memory; only a
     * pipe is read whole first */
    if (head[0] == '{' && s->fd < 0)
        return spy_read_speedscope(r, b, -1, 0, s->mem + (s->pos - headlen), s->memlen - (s->pos - headlen), format);
    if (head[0] == '{') {
        struct stat st;
        off_t at = lseek(s->fd, 0, SEEK_CUR);
        if (at >= (off_t)headlen && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
            return spy_read_speedscope(r, b, s->fd, (uint64_t)at - headlen, NULL, 0, format);
    }

    doc = malloc(cap + 1);
    if (!doc)
        return fail(r, "out of memory");
    memcpy(doc, head, headlen);
    for (;;) {
        if (len == cap) {
            if (cap >= SPY_READ_MAX_DOC) {
                fail(r, "larger than %zu MiB: too big for %s", SPY_READ_MAX_DOC >> 20, what);
                goto cleanup;
            }
            cap = cap * 2 > SPY_READ_MAX_DOC ? SPY_READ_MAX_DOC : cap * 2;
            char *nd = realloc(doc, cap + 1);
            if (!nd) {
                fail(r, "out of memory");
                goto cleanup;
            }
            doc = nd;
        }
        ssize_t k = src_read(s, doc + len, cap - len);
        if (k < 0) {
            fail(r, "read error: %s", strerror(errno));
            goto cleanup;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    doc[len] = '\0';
    if (memchr(doc, '\0', len)) {
        fail(r, "binary data inside: expected %s", what);
        goto cleanup;
    }
    if (doc[0] == '{') {
        rc = spy_read_speedscope(r, b, -1, 0, doc, len, format);
        goto cleanup;
    }
    const char *svg = memmem(doc, len < 4096 ? len : 4096, "<svg", 4);
    if (!svg) {
        fail(r, "XML or HTML, but not an SVG: expected an SVG flame graph");
        goto cleanup;
    }
    if (!memmem(doc, len, "</svg>", 6)) {
        fail(r, "truncated SVG (no closing </svg>)");
        goto cleanup;
    }
    if (memmem(doc, len, "window.SPY={", 12) && memmem(doc, len, "data-v=\"", 8)) {
        *format = "svg";
        rc = read_our_svg(r, b, doc, len);
    } else {
        *format = "flamegraph svg";
        rc = read_flamegraph_svg(r, b, doc, len);
    }

cleanup:
    free(doc);
    return rc;
}

static int read_any(struct reader *r, struct src *s, struct spy_profile *p, const char **format)
{
    struct builder b = { .p = p };
    char *head = malloc(HEAD_BYTES);
    const char *fmt = "collapsed";
    int rc = -1;

    memset(p, 0, sizeof(*p));
    if (!head)
        return fail(r, "out of memory");
    ssize_t n = src_fill(s, head, HEAD_BYTES);
    if (n < 0) {
        fail(r, "read error: %s", strerror(errno));
        goto cleanup;
    }
    size_t skip = 0;
    if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
        skip = 3;
    size_t bom = skip;
    while (skip < (size_t)n && (head[skip] == ' ' || head[skip] == '\n' || head[skip] == '\r' || head[skip] == '\t'))
        skip++;
    if ((size_t)n == skip) {
        fail(r, n == 0 ? "empty file: expected collapsed stacks, speedscope JSON or an SVG flame graph"
                       : "only white space: expected collapsed stacks, speedscope JSON or an SVG flame graph");
        goto cleanup;
    }
    if (looks_binary(head, (size_t)n)) {
        fail(r, "binary data: expected collapsed stacks, speedscope JSON or an SVG flame graph (text)");
        goto cleanup;
    }
    const char *h = head + skip;
    size_t hl = (size_t)n - skip;
    bool markup = h[0] == '<' && (hl < 2 || h[1] == '?' || h[1] == '!' || (hl >= 4 && memcmp(h, "<svg", 4) == 0)
                                  || (hl >= 5 && strncasecmp(h, "<html", 5) == 0));
    if (h[0] == '{' || markup)   /* "<module> (...)" starts many collapsed lines */
        rc = read_doc(r, &b, s, head + skip, (size_t)n - skip, &fmt);
    else
        /* white space before the first line belongs to it: a first frame
         * named " #x" is not a comment (found by tests/fuzz) */
        rc = read_collapsed(r, &b, s, head + bom, (size_t)n - bom);
    if (rc == 0 && p->nthreads == 0 && add_thread(&b, "", 0, 0) == NONE)
        rc = fail(r, "out of memory");
    if (rc == 0 && spy_profile_check(p) != 0)
        rc = fail(r, "internal error: the profile read is inconsistent");
    if (rc == 0 && p->total > SPY_READ_MAX_SAMPLES)
        rc = fail(r, "%llu samples in all: more than the %llu a profile can hold", (unsigned long long)p->total,
                  (unsigned long long)SPY_READ_MAX_SAMPLES);

cleanup:
    builder_free(&b);
    free(head);
    if (rc != 0)
        spy_profile_free(p);
    else if (format)
        *format = fmt;
    return rc;
}

int spy_profile_read(const char *path, struct spy_profile *p, const char **format, char *err, size_t errlen)
{
    struct reader r = { .name = path, .err = err, .errlen = errlen };
    struct stat st;
    memset(p, 0, sizeof(*p));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(&r, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(&r, "a directory, not a profile file");
    }
    struct src s = { .fd = fd };
    int rc = read_any(&r, &s, p, format);
    close(fd);
    return rc;
}

int spy_profile_read_mem(const char *name, const char *data, size_t len, struct spy_profile *p,
                         const char **format, char *err, size_t errlen)
{
    struct reader r = { .name = name, .err = err, .errlen = errlen };
    struct src s = { .fd = -1, .mem = data, .memlen = len };
    return read_any(&r, &s, p, format);
}
