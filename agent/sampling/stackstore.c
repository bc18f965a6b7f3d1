/*
 * stackstore.c — everything the sampler saw, in a form every output is
 * derived from.
 *
 * Names, paths, functions (name, file, first line), frames (function, line)
 * and stacks (frame ids, innermost first) are interned to dense ids in
 * append-only tables.  Counts are kept per (thread slot, flags, stack) three
 * ways: since start, for the second in progress, and for each of the last
 * `history` seconds in a ring, so live top can cover any recent window and
 * a recording can be cut from the past.
 *
 * Threads: the sampler writes under `lock` for a few microseconds per tick;
 * readers copy counts under `lock` and do their arithmetic outside it.
 * Interned entries never move, so an id read under the lock stays valid.
 * Memory is bounded by the reservation sizes; what does not fit is counted
 * in `overflow`.
 */
#include "stackstore.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STRINGS_ARENA (64u << 20)
#define STACKS_ARENA (256u << 20)
#define MAX_ENTRIES (1u << 22)

int spy_store_init(struct spy_store *s, int history, size_t max_bytes)
{
    memset(s, 0, sizeof(*s));
    s->max_bytes = max_bytes;
    s->self_pid = (int32_t)getpid();
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return -1;
    s->history = history;
    s->current_second = -1;
    if (spy_intern_init(&s->strings, STRINGS_ARENA, MAX_ENTRIES) != 0
        || spy_intern_init(&s->funcs, (size_t)MAX_ENTRIES * sizeof(struct spy_func_key), MAX_ENTRIES) != 0
        || spy_intern_init(&s->frames, (size_t)MAX_ENTRIES * sizeof(struct spy_frame_key), MAX_ENTRIES) != 0
        || spy_intern_init(&s->stacks, STACKS_ARENA, MAX_ENTRIES) != 0
        || spy_counts_init(&s->totals, 4096) != 0
        || spy_counts_init(&s->current, 1024) != 0
        || spy_counts_init(&s->slot_index, 2 * SPY_MAX_SLOTS) != 0)
        goto fail;
    s->ring = calloc((size_t)history, sizeof(struct spy_bucket));
    if (!s->ring)
        goto fail;
    for (int i = 0; i < history; i++)
        s->ring[i].second = -1;
    return 0;
fail:
    spy_store_free(s);
    return -1;
}

void spy_store_free(struct spy_store *s)
{
    spy_intern_free(&s->strings);
    spy_intern_free(&s->funcs);
    spy_intern_free(&s->frames);
    spy_intern_free(&s->stacks);
    spy_counts_free(&s->totals);
    spy_counts_free(&s->current);
    spy_counts_free(&s->slot_index);
    spy_counts_free(&s->rec);
    if (s->ring) {
        for (int i = 0; i < s->history; i++)
            free(s->ring[i].items);
        free(s->ring);
        s->ring = NULL;
    }
    pthread_mutex_destroy(&s->lock);
}

/* Intern, or at the memory cap only look up. */
static uint32_t intern(struct spy_store *s, struct spy_intern *t, const void *p, uint32_t len)
{
    return s->full ? spy_intern_find(t, p, len) : spy_intern_add(t, p, len);
}

uint32_t spy_store_string(struct spy_store *s, const char *str)
{
    return intern(s, &s->strings, str, (uint32_t)strlen(str));
}

uint32_t spy_store_frame_ids(struct spy_store *s, uint32_t name, uint32_t file, int firstlineno, int line)
{
    struct spy_func_key fk;
    memset(&fk, 0, sizeof(fk));
    fk.name = name;
    fk.file = file;
    fk.firstlineno = firstlineno;
    if (name == SPY_INTERN_NONE || file == SPY_INTERN_NONE)
        return SPY_INTERN_NONE;
    struct spy_frame_key k;
    memset(&k, 0, sizeof(k));
    k.func = intern(s, &s->funcs, &fk, sizeof(fk));
    k.line = line;
    if (k.func == SPY_INTERN_NONE)
        return SPY_INTERN_NONE;
    return intern(s, &s->frames, &k, sizeof(k));
}

uint32_t spy_store_frame(struct spy_store *s, const char *name, const char *file, int firstlineno, int line)
{
    return spy_store_frame_ids(s, spy_store_string(s, name), spy_store_string(s, file), firstlineno, line);
}

uint32_t spy_store_stack(struct spy_store *s, const uint32_t *frames, uint32_t depth)
{
    /* at the memory cap, stacks already known still count; new ones don't */
    return intern(s, &s->stacks, frames, depth * (uint32_t)sizeof(uint32_t));
}

/* Slots are found through an index keyed by kernel tid (or, where the tid
 * is unknown, by pthread id); a tid reused by a new thread gets a new slot. */
static uint64_t slot_key(int32_t tid, uint64_t thread_id)
{
    return tid > 0 ? (uint64_t)tid : (thread_id | (1ULL << 63));
}

int spy_store_slot(struct spy_store *s, int32_t tid, uint64_t thread_id)
{
    return spy_store_slot_for(s, s->self_pid, tid, thread_id);
}

int spy_store_slot_for(struct spy_store *s, int32_t pid, int32_t tid, uint64_t thread_id)
{
    uint64_t key = slot_key(tid, thread_id);
    uint64_t v = spy_counts_get(&s->slot_index, key);
    if (v != 0) {
        int i = (int)v - 1;
        if (s->slots[i].tid == tid && s->slots[i].thread_id == thread_id)
            return i;
    }
    if (s->nslots >= SPY_MAX_SLOTS)
        return SPY_MAX_SLOTS - 1;      /* the last slot takes every extra thread */
    int i = s->nslots;
    if (spy_counts_add(&s->slot_index, key, (uint64_t)(i + 1) - v) != 0)
        return SPY_MAX_SLOTS - 1;
    s->nslots++;
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    s->slots[i].pid = pid;
    s->slots[i].tid = tid;
    s->slots[i].thread_id = thread_id;
    s->slots[i].name_checked_sec = -1;
    return i;
}

void spy_store_forget_slots(struct spy_store *s)
{
    s->self_pid = (int32_t)getpid();
    s->nslots = 0;
    spy_counts_clear(&s->slot_index);
}

void spy_store_count(struct spy_store *s, int slot, uint32_t stack, unsigned flags, int64_t now_sec)
{
    (void)now_sec;
    spy_store_add(s, slot, stack, flags, 1);
}

void spy_store_add(struct spy_store *s, int slot, uint32_t stack, unsigned flags, uint64_t n)
{
    uint64_t key = spy_store_key(slot, flags, stack);
    bool task = (flags & SPY_FLAG_TASK) != 0;
    /* overflow counts thread samples lost; task milliseconds lost are not samples */
    if (spy_counts_add(&s->current, key, n) != 0 || spy_counts_add(&s->totals, key, n) != 0) {
        s->overflow += task ? 0 : n;
        return;
    }
    if (s->rec_active) {
        if (spy_counts_add(&s->rec, key, n) != 0) {
            s->overflow += task ? 0 : n;
        } else if (task) {
            s->rec_task_ms += n;
        } else {
            s->rec_samples += n;
            s->rec_busy += (flags & SPY_FLAG_IDLE) ? 0 : n;
        }
    }
    if (task)
        s->task_ms += n;
    else
        s->recorded += n;
}

struct spy_count *spy_store_seconds_after(struct spy_store *s, int64_t after, size_t *n_out, int64_t *newest)
{
    size_t n = 0;
    struct spy_count *items = NULL;
    *n_out = 0;
    *newest = after;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->history; i++)
        if (s->ring[i].second > after)
            n += s->ring[i].n;
    if (n > 0 && (items = malloc(n * sizeof(*items))) != NULL) {
        size_t k = 0;
        for (int i = 0; i < s->history; i++)
            if (s->ring[i].second > after) {
                memcpy(items + k, s->ring[i].items, s->ring[i].n * sizeof(*items));
                k += s->ring[i].n;
                if (s->ring[i].second > *newest)
                    *newest = s->ring[i].second;
            }
        *n_out = k;
    }
    pthread_mutex_unlock(&s->lock);
    return items;
}

/* Move the finished second into the ring (holding the lock). */
static void roll(struct spy_store *s, int64_t now_sec)
{
    if (s->current_second >= 0 && s->current.used > 0) {
        struct spy_bucket *b = &s->ring[s->current_second % s->history];
        struct spy_count *items = malloc((size_t)s->current.used * sizeof(*items));
        free(b->items);
        b->items = NULL;
        b->n = 0;
        b->second = -1;
        if (items) {
            uint32_t n = 0;
            SPY_COUNTS_FOREACH(&s->current, it)
                items[n++] = *it;
            b->items = items;
            b->n = n;
            b->second = s->current_second;
        }
    }
    spy_counts_clear(&s->current);
    s->current_second = now_sec;
}

static size_t intern_bytes(const struct spy_intern *t)
{
    return t->arena_used + (size_t)t->count * sizeof(struct spy_intern_entry) + ((size_t)t->mask + 1) * sizeof(uint32_t);
}

static size_t counts_bytes(const struct spy_counts *m)
{
    return ((size_t)m->mask + 1) * sizeof(struct spy_count);
}

void spy_store_maintain(struct spy_store *s, int64_t now_sec)
{
    pthread_mutex_lock(&s->lock);
    if (now_sec != s->current_second) {
        roll(s, now_sec);
        size_t b = intern_bytes(&s->strings) + intern_bytes(&s->funcs) + intern_bytes(&s->frames)
                   + intern_bytes(&s->stacks) + counts_bytes(&s->totals) + counts_bytes(&s->current);
        for (int i = 0; i < s->history; i++)
            b += (size_t)s->ring[i].n * sizeof(struct spy_count);
        s->bytes = b;
        /* the ring keeps turning over, so leave it room to: stop adding
         * stacks at 3/4 of the cap */
        s->full = s->max_bytes && b > s->max_bytes / 4 * 3;
    }
    spy_intern_maintain(&s->strings);
    spy_intern_maintain(&s->funcs);
    spy_intern_maintain(&s->frames);
    spy_intern_maintain(&s->stacks);
    spy_counts_maintain(&s->totals);
    spy_counts_maintain(&s->current);
    if (s->rec_active)
        spy_counts_maintain(&s->rec);
    pthread_mutex_unlock(&s->lock);
}

int spy_store_record_start(struct spy_store *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (!s->rec.slots)
        rc = spy_counts_init(&s->rec, 4096);
    else
        spy_counts_clear(&s->rec);
    s->rec_samples = 0;
    s->rec_busy = 0;
    s->rec_task_ms = 0;
    s->rec_active = rc == 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void spy_store_record_stop(struct spy_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->rec_active = false;
    pthread_mutex_unlock(&s->lock);
}

void spy_store_reset(struct spy_store *s)
{
    pthread_mutex_lock(&s->lock);
    spy_counts_clear(&s->totals);
    spy_counts_clear(&s->current);
    for (int i = 0; i < s->history; i++) {
        free(s->ring[i].items);
        s->ring[i].items = NULL;
        s->ring[i].n = 0;
        s->ring[i].second = -1;
    }
    s->recorded = 0;
    s->task_ms = 0;
    s->overflow = 0;
    pthread_mutex_unlock(&s->lock);
}

/* ---- top -------------------------------------------------------------- */

struct func_stat {
    uint64_t own, total;
    uint64_t running, ready;
    uint64_t stamp;
    uint64_t pid_mask;      /* which of the top's processes (by index) */
};

static int cmp_rows(const void *a, const void *b)
{
    const struct spy_top_row *x = a, *y = b;
    if (x->own != y->own)
        return x->own < y->own ? 1 : -1;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->function, y->function);
}

/* Append the entries of one view (the caller holds the lock). */
static size_t copy_view(struct spy_count *dst, const struct spy_count *src, size_t n, enum spy_view view)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (spy_view_has(view, spy_key_flags(src[i].key)))
            dst[k++] = src[i];
    return k;
}

/* Copy the counts of one view a span covers (the caller holds the lock):
 * window > 0 the last seconds, 0 since start, < 0 the recording. */
struct spy_count *spy_store_collect(struct spy_store *s, int window, int64_t now_sec, enum spy_view view,
                                    size_t *n_out)
{
    size_t n = 0;
    if (window < 0) {                   /* the recording */
        struct spy_count *items = malloc((s->rec.used ? s->rec.used : 1) * sizeof(*items));
        size_t k = 0;
        if (!items)
            return NULL;
        SPY_COUNTS_FOREACH(&s->rec, it)
            if (spy_view_has(view, spy_key_flags(it->key)))
                items[k++] = *it;
        *n_out = k;
        return items;
    }
    if (window == 0) {
        n = s->totals.used;
    } else {
        n = s->current.used;
        for (int i = 0; i < s->history; i++)
            if (s->ring[i].second >= 0 && s->ring[i].second > now_sec - window)
                n += s->ring[i].n;
    }
    struct spy_count *items = malloc((n ? n : 1) * sizeof(*items));
    if (!items)
        return NULL;
    size_t k = 0;
    if (window == 0) {
        SPY_COUNTS_FOREACH(&s->totals, it)
            if (spy_view_has(view, spy_key_flags(it->key)))
                items[k++] = *it;
    } else {
        SPY_COUNTS_FOREACH(&s->current, it)
            if (spy_view_has(view, spy_key_flags(it->key)))
                items[k++] = *it;
        for (int i = 0; i < s->history; i++)
            if (s->ring[i].second >= 0 && s->ring[i].second > now_sec - window)
                k += copy_view(items + k, s->ring[i].items, s->ring[i].n, view);
    }
    *n_out = k;
    return items;
}

static char *dup_interned(const struct spy_intern *t, uint32_t id)
{
    uint32_t len;
    const char *p = spy_intern_bytes(t, id, &len);
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, p, len);
        out[len] = '\0';
    }
    return out;
}

int spy_store_top(struct spy_store *s, const struct spy_top_query *q, int64_t now_sec, struct spy_top *out)
{
    memset(out, 0, sizeof(*out));
    out->window = q->window;
    size_t n = 0;
    int32_t slot_tid[SPY_MAX_SLOTS], slot_pid[SPY_MAX_SLOTS];
    pthread_mutex_lock(&s->lock);
    struct spy_count *items = spy_store_collect(s, q->window < 0 ? 0 : q->window, now_sec,
                                               q->tasks ? SPY_VIEW_TASKS : SPY_VIEW_CPU, &n);
    uint32_t nfuncs = s->funcs.count;
    uint32_t nframes = s->frames.count;
    int nslots = s->nslots;
    for (int i = 0; i < nslots; i++) {
        slot_tid[i] = s->slots[i].tid;
        slot_pid[i] = s->slots[i].pid;
    }
    /* the processes seen, so each row can say which ones it comes from */
    int slot_pidx[SPY_MAX_SLOTS];
    out->npids = 0;
    for (int i = 0; i < nslots; i++) {
        int k;
        for (k = 0; k < out->npids && out->pids[k] != slot_pid[i]; k++)
            ;
        if (k == out->npids && out->npids < SPY_TOP_MAX_PIDS)
            out->pids[out->npids++] = slot_pid[i];
        slot_pidx[i] = k < SPY_TOP_MAX_PIDS ? k : SPY_TOP_MAX_PIDS - 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (!items)
        return -1;

    struct func_stat *fs = calloc(nfuncs ? nfuncs : 1, sizeof(*fs));
    out->slot_samples = calloc((size_t)(nslots ? nslots : 1), sizeof(uint64_t));
    out->nslots = nslots;
    if (!fs || !out->slot_samples) {
        free(fs);
        free(items);
        spy_top_free(out);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t key = items[i].key, c = items[i].count;
        int slot = spy_key_slot(key);
        if (q->tid != 0 && (slot < 0 || slot >= nslots || slot_tid[slot] != q->tid))
            continue;
        if (q->pid != 0 && (slot < 0 || slot >= nslots || slot_pid[slot] != q->pid))
            continue;
        unsigned flags = spy_key_flags(key);
        if (flags & SPY_FLAG_IDLE) {
            out->idle_samples += c;
            if (!q->idle && !q->tasks)     /* a waiting task's time is wall time too */
                continue;
        }
        out->samples += c;
        if (slot >= 0 && slot < nslots)
            out->slot_samples[slot] += c;
        uint32_t len;
        const uint32_t *frames = spy_intern_bytes(&s->stacks, spy_key_stack(key), &len);
        uint32_t depth = len / (uint32_t)sizeof(uint32_t);
        uint64_t pbit = slot >= 0 && slot < nslots ? 1ULL << slot_pidx[slot] : 0;
        for (uint32_t d = 0; d < depth; d++) {
            uint32_t flen;
            if (frames[d] >= nframes)
                continue;
            const struct spy_frame_key *fk = spy_intern_bytes(&s->frames, frames[d], &flen);
            uint32_t f = fk->func;
            if (f >= nfuncs)
                continue;
            if (d == 0)
                fs[f].own += c;
            if (fs[f].stamp != i + 1) {     /* count recursion once per stack */
                fs[f].stamp = i + 1;
                fs[f].total += c;
                fs[f].running += q->tasks && !(flags & (SPY_FLAG_IDLE | SPY_FLAG_READY)) ? c : 0;
                fs[f].ready += q->tasks && (flags & SPY_FLAG_READY) ? c : 0;
                fs[f].pid_mask |= pbit;
            }
        }
    }
    free(items);

    uint32_t used = 0;
    for (uint32_t f = 0; f < nfuncs; f++)
        if (fs[f].total)
            used++;
    struct spy_top_row *rows = calloc(used ? used : 1, sizeof(*rows));
    if (!rows) {
        free(fs);
        spy_top_free(out);
        return -1;
    }
    uint32_t k = 0;
    for (uint32_t f = 0; f < nfuncs; f++) {
        if (!fs[f].total)
            continue;
        uint32_t len;
        const struct spy_func_key *fk = spy_intern_bytes(&s->funcs, f, &len);
        rows[k].function = dup_interned(&s->strings, fk->name);
        rows[k].file = dup_interned(&s->strings, fk->file);
        rows[k].line = fk->firstlineno;
        rows[k].own = fs[f].own;
        rows[k].total = fs[f].total;
        rows[k].running = fs[f].running;
        rows[k].ready = fs[f].ready;
        rows[k].pid_mask = fs[f].pid_mask;
        if (!rows[k].function || !rows[k].file) {
            free(rows[k].function);
            free(rows[k].file);
            continue;
        }
        k++;
    }
    free(fs);
    qsort(rows, k, sizeof(*rows), cmp_rows);
    int limit = q->limit > 0 && (uint32_t)q->limit < k ? q->limit : (int)k;
    for (uint32_t i = (uint32_t)limit; i < k; i++) {
        free(rows[i].function);
        free(rows[i].file);
    }
    out->rows = rows;
    out->nrows = limit;
    return 0;
}

void spy_top_free(struct spy_top *t)
{
    for (int i = 0; i < t->nrows; i++) {
        free(t->rows[i].function);
        free(t->rows[i].file);
    }
    free(t->rows);
    free(t->slot_samples);
    memset(t, 0, sizeof(*t));
}
