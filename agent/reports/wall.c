/*
 * wall.c — the task view of a profile per endpoint: task wall time (the
 * milliseconds of SPY_FLAG_TASK samples), split into on the CPU, ready to
 * run and waiting, with the functions the waiting stacks await (their
 * innermost frame) and those the running ones run in.
 *
 * The endpoint of a task stack is found as spy_analyse finds it for a
 * thread stack: the application frame just inside the innermost
 * dispatcher.  A task stack that reaches no dispatcher (Uvicorn's
 * long-lived tasks, a BaseHTTPMiddleware parent waiting in call_next
 * while the route runs in a child task) counts under no endpoint, so no
 * request is counted twice.  Functions are (name, file) pairs: lines
 * merge.
 *
 * How: frames are reduced to facts once (function id by sorting the
 * frames by name and file; dispatcher and library by the rules); each task
 * sample becomes one row (endpoint, state, innermost function, ms); the
 * rows are sorted and summed.  O(frames log frames + samples log samples).
 *
 * Runs on the caller's thread (the writer thread, the server thread,
 * spyctl); reads the profile only; the result borrows its strings.
 */
#include "wall.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct wall_facts {
    uint32_t fn;
    bool dispatcher, library;
};

struct wall_row {
    uint32_t ep;                   /* function id of the endpoint, NONE: no endpoint */
    uint32_t kind;                 /* the state (SPY_VIEW_*) */
    uint32_t fn;                   /* innermost frame's function, NONE if no frame */
    uint64_t ms;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int compare_frames(const void *pa, const void *pb, void *ctx)
{
    const struct spy_profile *p = ctx;
    const struct spy_profile_frame *a = &p->frames[*(const uint32_t *)pa], *b = &p->frames[*(const uint32_t *)pb];
    int c = strcmp(nz(a->function), nz(b->function));
    return c ? c : strcmp(nz(a->file), nz(b->file));
}

static int compare_rows(const void *pa, const void *pb)
{
    const struct wall_row *a = pa, *b = pb;
    if (a->ep != b->ep)
        return a->ep < b->ep ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return a->fn < b->fn ? -1 : a->fn > b->fn;
}

static int compare_fns(const void *pa, const void *pb)
{
    const struct spy_wall_fn *a = pa, *b = pb;
    if (a->ms != b->ms)
        return a->ms > b->ms ? -1 : 1;
    int c = strcmp(a->function, b->function);
    return c ? c : strcmp(a->file, b->file);
}

static int compare_endpoints(const void *pa, const void *pb)
{
    const struct spy_wall_endpoint *a = pa, *b = pb;
    if (!a->function != !b->function)
        return a->function ? -1 : 1;        /* no endpoint last */
    if (a->ms != b->ms)
        return a->ms > b->ms ? -1 : 1;
    if (!a->function)
        return 0;
    int c = strcmp(a->function, b->function);
    return c ? c : strcmp(a->file, b->file);
}

void spy_wall_free(struct spy_wall *w)
{
    if (w->endpoints)
        for (uint32_t e = 0; e < w->nendpoints; e++) {
            free(w->endpoints[e].awaiting);
            free(w->endpoints[e].on_cpu);
        }
    free(w->endpoints);
    memset(w, 0, sizeof(*w));
}

int spy_wall_analyse(const struct spy_profile *p, const struct spy_categories *rules, struct spy_wall *w, char *err,
                     size_t errlen)
{
    struct spy_categories *own_rules = NULL;
    struct wall_facts *facts = NULL;
    struct spy_wall_fn *fns = NULL;        /* per function id: name, file, line */
    uint32_t *order = NULL;
    struct wall_row *rows = NULL;
    size_t nrows = 0;
    uint32_t nfns = 0;
    int rc = -1;

    memset(w, 0, sizeof(*w));
    w->duration = p->duration > 0 && p->duration <= 1e9 ? p->duration : 0;
    if (spy_profile_check(p) != 0) {
        snprintf(err, errlen, "invalid profile");
        return -1;
    }
    for (size_t i = 0; i < p->nsamples; i++)
        if ((p->samples[i].flags & SPY_FLAG_TASK) && p->samples[i].count)
            nrows++;
    if (nrows == 0)
        return 0;
    if (!rules) {
        if (spy_categories_default(&own_rules, err, errlen) != 0)
            return -1;
        rules = own_rules;
    }

    size_t nf = p->nframes ? p->nframes : 1;
    facts = calloc(nf, sizeof(*facts));
    fns = calloc(nf, sizeof(*fns));
    order = malloc(nf * sizeof(*order));
    rows = malloc(nrows * sizeof(*rows));
    if (!facts || !fns || !order || !rows)
        goto oom;

    /* ---- per frame: function ids, by sorting on (name, file) ---- */
    for (uint32_t i = 0; i < p->nframes; i++)
        order[i] = i;
    qsort_r(order, p->nframes, sizeof(*order), compare_frames, (void *)p);
    for (uint32_t k = 0; k < p->nframes; k++) {
        const struct spy_profile_frame *fr = &p->frames[order[k]];
        int line = fr->firstlineno > 0 ? fr->firstlineno : fr->line;
        if (k == 0 || compare_frames(&order[k - 1], &order[k], (void *)p) != 0) {
            fns[nfns] = (struct spy_wall_fn){ .function = nz(fr->function), .file = nz(fr->file), .line = line };
            nfns++;
        } else if (line > 0 && (fns[nfns - 1].line <= 0 || line < fns[nfns - 1].line)) {
            fns[nfns - 1].line = line;
        }
        facts[order[k]].fn = nfns - 1;
        facts[order[k]].dispatcher = spy_categories_dispatcher(rules, nz(fr->function), nz(fr->file));
        facts[order[k]].library = spy_categories_library(rules, nz(fr->file));
    }

    /* ---- per task sample: one row ---- */
    nrows = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *s = &p->samples[i];
        if (!(s->flags & SPY_FLAG_TASK) || s->count == 0)
            continue;
        const uint32_t *ids = s->depth ? p->frame_ids + s->first : NULL;
        uint32_t disp = NONE;
        for (uint32_t k = 0; k < s->depth && disp == NONE; k++)
            if (facts[ids[k]].dispatcher)
                disp = k;
        struct wall_row *r = &rows[nrows++];
        r->ep = disp != NONE && disp > 0 && !facts[ids[disp - 1]].library ? facts[ids[disp - 1]].fn : NONE;
        r->kind = (uint32_t)spy_task_state_of(s->flags);
        r->fn = s->depth ? facts[ids[0]].fn : NONE;
        r->ms = s->count;
        w->ms += s->count;
        w->state_ms[r->kind] += s->count;
    }
    qsort(rows, nrows, sizeof(*rows), compare_rows);

    /* ---- sum: endpoints, then per endpoint its functions by state ---- */
    uint32_t neps = 0;
    for (size_t i = 0; i < nrows; i++)
        neps += i == 0 || rows[i].ep != rows[i - 1].ep;
    w->endpoints = calloc(neps, sizeof(*w->endpoints));
    if (!w->endpoints)
        goto oom;
    for (size_t i = 0; i < nrows;) {
        struct spy_wall_endpoint *ep = &w->endpoints[w->nendpoints++];
        uint32_t id = rows[i].ep;
        if (id != NONE) {
            ep->function = fns[id].function;
            ep->file = fns[id].file;
            ep->line = fns[id].line;
        }
        size_t j = i;
        uint32_t nwait = 0, ncpu = 0;
        for (; j < nrows && rows[j].ep == id; j++) {
            bool first = j == i || rows[j].kind != rows[j - 1].kind || rows[j].fn != rows[j - 1].fn;
            if (first && rows[j].fn != NONE && rows[j].kind == SPY_VIEW_WAITING)
                nwait++;
            else if (first && rows[j].fn != NONE && rows[j].kind == SPY_VIEW_RUNNING)
                ncpu++;
        }
        ep->awaiting = calloc(nwait ? nwait : 1, sizeof(*ep->awaiting));
        ep->on_cpu = calloc(ncpu ? ncpu : 1, sizeof(*ep->on_cpu));
        if (!ep->awaiting || !ep->on_cpu)
            goto oom;
        for (size_t k = i; k < j; k++) {
            const struct wall_row *r = &rows[k];
            ep->ms += r->ms;
            ep->state_ms[r->kind] += r->ms;
            if (r->fn == NONE || r->kind == SPY_VIEW_READY)
                continue;
            bool first = k == i || r->kind != rows[k - 1].kind || r->fn != rows[k - 1].fn;
            struct spy_wall_fn **list = r->kind == SPY_VIEW_WAITING ? &ep->awaiting : &ep->on_cpu;
            uint32_t *n = r->kind == SPY_VIEW_WAITING ? &ep->nawaiting : &ep->non_cpu;
            if (first)
                (*list)[(*n)++] = fns[r->fn];
            (*list)[*n - 1].ms += r->ms;
        }
        qsort(ep->awaiting, ep->nawaiting, sizeof(*ep->awaiting), compare_fns);
        qsort(ep->on_cpu, ep->non_cpu, sizeof(*ep->on_cpu), compare_fns);
        i = j;
    }
    qsort(w->endpoints, w->nendpoints, sizeof(*w->endpoints), compare_endpoints);
    rc = 0;
    goto cleanup;

oom:
    snprintf(err, errlen, "out of memory analysing the task view");
cleanup:
    if (rc != 0)
        spy_wall_free(w);
    spy_categories_free(own_rules);
    free(facts);
    free(fns);
    free(order);
    free(rows);
    return rc;
}
