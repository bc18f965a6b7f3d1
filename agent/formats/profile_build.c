/*
 * profile_build.c — copies a span of the stack store into a self-contained
 * struct spy_profile for the writers.
 *
 * Under the store lock it only copies the counts and the thread slots; the
 * rest (merging counts of the same stack from several seconds, giving the
 * frames used dense indices, copying names) happens outside the lock, on
 * interned entries that never move.
 *
 * Threads: any caller (the server thread, the writer thread, the exiting
 * thread); takes the store lock briefly.
 */
#include <stdlib.h>
#include <string.h>

#include "counts.h"
#include "profile.h"
#include "stackstore.h"

static char *dup_bytes(const void *p, uint32_t len)
{
    char *s = malloc((size_t)len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

int spy_store_profile(struct spy_store *s, enum spy_span span, int window, int64_t now_sec, enum spy_view view,
                      struct spy_profile *out)
{
    int rc = -1;
    size_t n = 0;
    struct spy_counts merged = { 0 }, frame_index = { 0 }, slot_index = { 0 };
    struct spy_thread_slot *slots = malloc(sizeof(s->slots));
    memset(out, 0, sizeof(*out));
    if (!slots)
        return -1;

    pthread_mutex_lock(&s->lock);
    int w = span == SPY_SPAN_RECORDING ? -1 : span == SPY_SPAN_ALL ? 0 : (window > 0 ? window : 1);
    struct spy_count *items = spy_store_collect(s, w, now_sec, view, &n);
    int nslots = s->nslots;
    memcpy(slots, s->slots, (size_t)nslots * sizeof(*slots));
    pthread_mutex_unlock(&s->lock);
    if (!items)
        goto out;

    /* one entry per (slot, flags, stack): windows repeat keys across seconds */
    if (spy_counts_init(&merged, (uint32_t)(n * 2 + 16)) != 0 || spy_counts_init(&frame_index, 1024) != 0
        || spy_counts_init(&slot_index, 64) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (spy_counts_add(&merged, items[i].key, items[i].count) != 0) {
            if (spy_counts_maintain(&merged) != 0 || spy_counts_add(&merged, items[i].key, items[i].count) != 0)
                goto out;
        }
    }

    /* sizes first, then fill */
    size_t nsamples = merged.used, nids = 0;
    SPY_COUNTS_FOREACH(&merged, it) {
        uint32_t len;
        spy_intern_bytes(&s->stacks, spy_key_stack(it->key), &len);
        nids += len / sizeof(uint32_t);
    }
    out->samples = calloc(nsamples ? nsamples : 1, sizeof(*out->samples));
    out->frame_ids = calloc(nids ? nids : 1, sizeof(*out->frame_ids));
    out->threads = calloc((size_t)(nslots ? nslots : 1), sizeof(*out->threads));
    if (!out->samples || !out->frame_ids || !out->threads)
        goto out;

    size_t cap_frames = 256;
    out->frames = calloc(cap_frames, sizeof(*out->frames));
    if (!out->frames)
        goto out;

    SPY_COUNTS_FOREACH(&merged, it) {
        int slot = spy_key_slot(it->key);
        if (slot < 0 || slot >= nslots)
            continue;
        uint64_t t = spy_counts_get(&slot_index, (uint64_t)slot + 1);
        if (t == 0) {
            struct spy_profile_thread *pt = &out->threads[out->nthreads];
            pt->pid = slots[slot].pid;
            pt->tid = slots[slot].tid;
            pt->thread_id = slots[slot].thread_id;
            memcpy(pt->name, slots[slot].name, sizeof(pt->name));
            pt->name[sizeof(pt->name) - 1] = '\0';
            t = ++out->nthreads;
            if (spy_counts_add(&slot_index, (uint64_t)slot + 1, t) != 0
                && (spy_counts_maintain(&slot_index) != 0 || spy_counts_add(&slot_index, (uint64_t)slot + 1, t) != 0))
                goto out;
        }
        uint32_t len;
        const uint32_t *ids = spy_intern_bytes(&s->stacks, spy_key_stack(it->key), &len);
        uint32_t depth = len / (uint32_t)sizeof(uint32_t);
        struct spy_profile_sample *ps = &out->samples[out->nsamples++];
        ps->thread = (uint32_t)(t - 1);
        ps->depth = depth;
        ps->first = (uint32_t)out->nframe_ids;
        ps->flags = spy_key_flags(it->key);
        ps->count = it->count;
        out->total += it->count;
        for (uint32_t d = 0; d < depth; d++) {
            uint64_t fi = spy_counts_get(&frame_index, (uint64_t)ids[d] + 1);
            if (fi == 0) {
                if (out->nframes == cap_frames) {
                    struct spy_profile_frame *nf = realloc(out->frames, cap_frames * 2 * sizeof(*nf));
                    if (!nf)
                        goto out;
                    memset(nf + cap_frames, 0, cap_frames * sizeof(*nf));
                    out->frames = nf;
                    cap_frames *= 2;
                }
                uint32_t flen, nlen, filen;
                const struct spy_frame_key *fk = spy_intern_bytes(&s->frames, ids[d], &flen);
                const struct spy_func_key *func = spy_intern_bytes(&s->funcs, fk->func, &flen);
                const char *name = spy_intern_bytes(&s->strings, func->name, &nlen);
                const char *file = spy_intern_bytes(&s->strings, func->file, &filen);
                struct spy_profile_frame *pf = &out->frames[out->nframes];
                pf->function = dup_bytes(name, nlen);
                pf->file = dup_bytes(file, filen);
                pf->line = fk->line;
                pf->firstlineno = func->firstlineno;
                if (!pf->function || !pf->file)
                    goto out;
                fi = ++out->nframes;
                if (spy_counts_add(&frame_index, (uint64_t)ids[d] + 1, fi) != 0
                    && (spy_counts_maintain(&frame_index) != 0
                        || spy_counts_add(&frame_index, (uint64_t)ids[d] + 1, fi) != 0))
                    goto out;
            }
            out->frame_ids[out->nframe_ids++] = (uint32_t)(fi - 1);
        }
        if (frame_index.used * 2 > frame_index.mask)
            spy_counts_maintain(&frame_index);
    }
    out->tasks = view == SPY_VIEW_TASKS;
    rc = 0;
out:
    free(items);
    free(slots);
    spy_counts_free(&merged);
    spy_counts_free(&frame_index);
    spy_counts_free(&slot_index);
    if (rc != 0)
        spy_profile_free(out);
    return rc;
}

int spy_profile_view_pid(const struct spy_profile *p, int pid, struct spy_profile *view)
{
    *view = *p;
    view->samples = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*view->samples));
    if (!view->samples)
        return -1;
    view->nsamples = 0;
    view->total = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        if (p->threads[p->samples[i].thread].pid != pid)
            continue;
        view->samples[view->nsamples++] = p->samples[i];
        view->total += p->samples[i].count;
    }
    view->pid = pid;
    return 0;
}

void spy_profile_view_free(struct spy_profile *view)
{
    free(view->samples);
    memset(view, 0, sizeof(*view));
}
