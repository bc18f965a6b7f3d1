/*
 * profile.c — releasing a profile, and the frame labels every writer prints.
 *
 * A profile is a plain snapshot owned by whoever built it; nothing here
 * touches the stack store.  Labels are built per call on the caller's
 * thread (the writer thread, or a test), from the profile alone, with
 * memory proportional to the frames table.  Frames with byte-identical
 * labels share a representative (`canon`), the lowest such frame id, so
 * outputs merge what they would print the same way; threads get the same
 * treatment for the writers that show them as a frame.
 */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spy_profile_free(struct spy_profile *p)
{
    if (!p)
        return;
    if (p->frames) {
        for (uint32_t i = 0; i < p->nframes; i++) {
            free(p->frames[i].function);
            free(p->frames[i].file);
        }
    }
    free(p->frames);
    free(p->threads);
    free(p->samples);
    free(p->frame_ids);
    memset(p, 0, sizeof(*p));
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;          /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void spy_labels_free(struct spy_labels *l)
{
    free(l->text);
    free(l->off);
    free(l->len);
    free(l->canon);
    memset(l, 0, sizeof(*l));
}

int spy_labels_build(struct spy_labels *l, const struct spy_profile *p)
{
    uint32_t *table = NULL;
    size_t nslots = 1;
    size_t total = 0;
    int rc = -1;

    memset(l, 0, sizeof(*l));
    size_t n = p->nframes ? p->nframes : 1;
    for (uint32_t i = 0; i < p->nframes; i++) {
        const struct spy_profile_frame *f = &p->frames[i];
        /* function + " (" + file + ":" + up to 11 digits + ")" + NUL */
        total += strlen(f->function ? f->function : "?")
                 + strlen(f->file ? f->file : "?") + 17;
    }
    l->text = malloc(total ? total : 1);
    l->off = malloc(n * sizeof(*l->off));
    l->len = malloc(n * sizeof(*l->len));
    l->canon = malloc(n * sizeof(*l->canon));
    while (nslots < 2 * n)
        nslots <<= 1;
    table = malloc(nslots * sizeof(*table));
    if (!l->text || !l->off || !l->len || !l->canon || !table)
        goto cleanup;
    memset(table, 0xff, nslots * sizeof(*table));

    size_t pos = 0;
    for (uint32_t i = 0; i < p->nframes; i++) {
        const struct spy_profile_frame *f = &p->frames[i];
        int w = snprintf(l->text + pos, total - pos, "%s (%s:%d)",
                         f->function ? f->function : "?",
                         f->file ? f->file : "?", f->line);
        if (w < 0 || (size_t)w >= total - pos)
            goto cleanup;
        l->off[i] = pos;
        l->len[i] = (uint32_t)w;
        l->canon[i] = i;
        uint64_t h = hash_bytes(l->text + pos, (size_t)w);
        for (size_t k = h & (nslots - 1);; k = (k + 1) & (nslots - 1)) {
            uint32_t j = table[k];
            if (j == UINT32_MAX) {
                table[k] = i;
                break;
            }
            if (l->len[j] == (uint32_t)w && memcmp(l->text + l->off[j], l->text + pos, (size_t)w) == 0) {
                l->canon[i] = j;
                break;
            }
        }
        pos += (size_t)w + 1;
    }
    rc = 0;

cleanup:
    free(table);
    if (rc != 0)
        spy_labels_free(l);
    return rc;
}

int spy_profile_check(const struct spy_profile *p)
{
    if ((p->nframes && !p->frames) || (p->nthreads && !p->threads)
        || (p->nsamples && !p->samples) || (p->nframe_ids && !p->frame_ids))
        return -1;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *s = &p->samples[i];
        if (s->thread >= p->nthreads || s->first > p->nframe_ids
            || s->depth > p->nframe_ids - s->first)
            return -1;
    }
    for (size_t i = 0; i < p->nframe_ids; i++)
        if (p->frame_ids[i] >= p->nframes)
            return -1;
    return 0;
}

int spy_thread_labels_build(struct spy_thread_labels *tl, const struct spy_profile *p)
{
    tl->n = p->nthreads;
    tl->text = calloc((size_t)p->nthreads + 1, sizeof(*tl->text));
    tl->canon = malloc(((size_t)p->nthreads + 1) * sizeof(*tl->canon));
    if (!tl->text || !tl->canon)
        return -1;
    for (uint32_t t = 0; t < p->nthreads; t++) {
        const struct spy_profile_thread *th = &p->threads[t];
        size_t cap = sizeof(th->name) + 32;
        if (!(tl->text[t] = malloc(cap)))
            return -1;
        snprintf(tl->text[t], cap, "thread %.*s (%d)", (int)sizeof(th->name),
                 th->name[0] ? th->name : "?", th->tid);
        tl->canon[t] = t;
        for (uint32_t u = 0; u < t; u++) {
            if (strcmp(tl->text[u], tl->text[t]) == 0) {
                tl->canon[t] = u;
                break;
            }
        }
    }
    return 0;
}

void spy_thread_labels_free(struct spy_thread_labels *tl)
{
    if (tl->text)
        for (uint32_t t = 0; t < tl->n; t++)
            free(tl->text[t]);
    free(tl->text);
    free(tl->canon);
    memset(tl, 0, sizeof(*tl));
}

/* ---- the task view ---- */

static const char *const task_markers[SPY_VIEW_STATES] = { "[on CPU]", "[ready]", "[waiting]" };

unsigned spy_task_flags(enum spy_view_state st)
{
    return SPY_FLAG_TASK | (st == SPY_VIEW_WAITING ? SPY_FLAG_IDLE : st == SPY_VIEW_READY ? SPY_FLAG_READY : 0u);
}

const char *spy_task_marker(enum spy_view_state st)
{
    return st >= 0 && st < SPY_VIEW_STATES ? task_markers[st] : "";
}

enum spy_view_state spy_task_marker_state(const char *function, const char *file)
{
    if (!function || function[0] != '[' || (file && file[0]))
        return SPY_VIEW_NONE;
    for (int i = 0; i < SPY_VIEW_STATES; i++)
        if (strcmp(function, task_markers[i]) == 0)
            return (enum spy_view_state)i;
    return SPY_VIEW_NONE;
}

int spy_profile_view_tasks(const struct spy_profile *p, bool tasks, struct spy_profile *view)
{
    *view = *p;
    view->samples = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*view->samples));
    if (!view->samples)
        return -1;
    view->nsamples = 0;
    view->total = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        if (((p->samples[i].flags & SPY_FLAG_TASK) != 0) != tasks)
            continue;
        view->samples[view->nsamples++] = p->samples[i];
        view->total += p->samples[i].count;
    }
    return 0;
}

uint64_t spy_profile_task_ms(const struct spy_profile *p)
{
    uint64_t ms = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].flags & SPY_FLAG_TASK)
            ms += p->samples[i].count;
    return ms;
}

int spy_profile_append(struct spy_profile *dst, const struct spy_profile *src)
{
    size_t nf = (size_t)dst->nframes + src->nframes, nt = (size_t)dst->nthreads + src->nthreads;
    size_t ns = dst->nsamples + src->nsamples, ni = dst->nframe_ids + src->nframe_ids;
    if (nf > UINT32_MAX || nt > UINT32_MAX || ni > UINT32_MAX)
        return -1;
    if (src->nsamples == 0)
        return 0;
    struct spy_profile_frame *frames = malloc((nf ? nf : 1) * sizeof(*frames));
    struct spy_profile_thread *threads = malloc((nt ? nt : 1) * sizeof(*threads));
    struct spy_profile_sample *samples = malloc((ns ? ns : 1) * sizeof(*samples));
    uint32_t *ids = malloc((ni ? ni : 1) * sizeof(*ids));
    uint32_t k = 0;
    if (!frames || !threads || !samples || !ids)
        goto oom;
    for (; k < src->nframes; k++) {
        const struct spy_profile_frame *f = &src->frames[k];
        struct spy_profile_frame *d = &frames[dst->nframes + k];
        *d = *f;
        d->function = strdup(f->function ? f->function : "?");
        d->file = strdup(f->file ? f->file : "?");
        if (!d->function || !d->file) {
            free(d->function);
            free(d->file);
            goto oom;
        }
    }
    if (dst->nframes)
        memcpy(frames, dst->frames, dst->nframes * sizeof(*frames));
    if (dst->nthreads)
        memcpy(threads, dst->threads, dst->nthreads * sizeof(*threads));
    if (src->nthreads)
        memcpy(threads + dst->nthreads, src->threads, src->nthreads * sizeof(*threads));
    if (dst->nsamples)
        memcpy(samples, dst->samples, dst->nsamples * sizeof(*samples));
    for (size_t i = 0; i < src->nsamples; i++) {
        struct spy_profile_sample s = src->samples[i];
        s.thread += dst->nthreads;
        s.first += (uint32_t)dst->nframe_ids;
        samples[dst->nsamples + i] = s;
    }
    if (dst->nframe_ids)
        memcpy(ids, dst->frame_ids, dst->nframe_ids * sizeof(*ids));
    for (size_t i = 0; i < src->nframe_ids; i++)
        ids[dst->nframe_ids + i] = src->frame_ids[i] + dst->nframes;
    free(dst->frames);
    free(dst->threads);
    free(dst->samples);
    free(dst->frame_ids);
    dst->frames = frames;
    dst->threads = threads;
    dst->samples = samples;
    dst->frame_ids = ids;
    dst->nframes = (uint32_t)nf;
    dst->nthreads = (uint32_t)nt;
    dst->nsamples = ns;
    dst->nframe_ids = ni;
    dst->total += src->total;
    return 0;

oom:
    if (frames)
        for (uint32_t j = 0; j < k; j++) {
            free(frames[dst->nframes + j].function);
            free(frames[dst->nframes + j].file);
        }
    free(frames);
    free(threads);
    free(samples);
    free(ids);
    return -1;
}
