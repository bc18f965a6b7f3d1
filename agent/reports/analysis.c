/*
 * analysis.c — one pass over a profile's samples gives every figure the
 * text and HTML reports print, so both (and the diff) agree.
 *
 * Frames are first reduced to per-frame facts, computed once per frame:
 * its function (functions are (name, file) pairs: lines merge), category
 * by the rules (file regexes evaluated once per distinct file), whether it
 * dispatches a web endpoint, whether it is library code (by the rules:
 * absolute paths and py-spy's package-relative names alike), whether it
 * runs an event loop (asyncio.run, run_until_complete, uvloop's run: the
 * rules' "event_loops") or is where a loop waits ("loop_waits").  Then
 * each sample is walked once:
 *   - category: the innermost frame a rule matches; the walk stops, as
 *     "other", at the first frame of application code no rule matches, so
 *     a CPU-bound endpoint is not credited to the framework that called it;
 *   - endpoint: the application frame just inside the innermost
 *     dispatcher (FastAPI's run_endpoint_function for async endpoints,
 *     anyio's worker thread run for sync ones run in the threadpool);
 *   - event loop: a sample with an event_loops frame on its stack runs on a
 *     loop thread (asyncio's loop or uvloop's, which has no frame of its
 *     own above the entry frame); it is the loop waiting when its
 *     innermost frame is that entry frame or a loop_waits frame called
 *     straight from it; anything else on a loop thread is a callback;
 *   - blocking the loop: a callback on the CPU that is not async_io, or a
 *     callback off the CPU (time.sleep, a synchronous HTTP or database
 *     call inside async def): the loop can run nothing else meanwhile, so
 *     such an idle-flagged sample counts as active, and as blocking -- when
 *     the thread was mostly off the CPU at that very stack (loop_blocking:
 *     a GIL wait amid CPU work is not the callback's doing).
 * Other idle samples (SPY_FLAG_IDLE) count in totals and per thread only.
 * Task samples (SPY_FLAG_TASK, milliseconds of task wall time) are another
 * view, left out here (wall.c reads them).
 * Cost: O(frames + sum of stack depths); memory O(frames + functions).
 *
 * Runs on the caller's thread; reads the profile only; the result borrows
 * the profile's strings, so the profile must outlive it.
 */
#include "analysis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct frame_facts {
    uint32_t fn;
    int8_t category;             /* -1: no rule */
};

/* A small open-addressing map, u64 key -> u64 count. */
struct pairs {
    uint64_t *keys, *vals;
    size_t size, n;
};

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static int pairs_add(struct pairs *m, uint64_t key, uint64_t v)
{
    if (m->n * 2 + 2 > m->size) {
        size_t size = m->size ? m->size * 2 : 1024;
        uint64_t *k = malloc(size * sizeof(*k)), *vv = calloc(size, sizeof(*vv));
        if (!k || !vv) {
            free(k);
            free(vv);
            return -1;
        }
        memset(k, 0xff, size * sizeof(*k));
        for (size_t i = 0; i < m->size; i++) {
            if (m->keys[i] == UINT64_MAX)
                continue;
            size_t j = mix(m->keys[i]) & (size - 1);
            while (k[j] != UINT64_MAX)
                j = (j + 1) & (size - 1);
            k[j] = m->keys[i];
            vv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = vv;
        m->size = size;
    }
    size_t j = mix(key) & (m->size - 1);
    while (m->keys[j] != UINT64_MAX && m->keys[j] != key)
        j = (j + 1) & (m->size - 1);
    if (m->keys[j] == UINT64_MAX) {
        m->keys[j] = key;
        m->n++;
    }
    m->vals[j] += v;
    return 0;
}

static uint64_t hash_str(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Interns strings or (function, file) pairs to dense ids. */
struct strmap {
    uint32_t *slots;
    size_t size;
};

static int strmap_init(struct strmap *m, size_t n)
{
    m->size = 16;
    while (m->size < n * 2 + 2)
        m->size <<= 1;
    m->slots = malloc(m->size * sizeof(*m->slots));
    if (!m->slots)
        return -1;
    memset(m->slots, 0xff, m->size * sizeof(*m->slots));
    return 0;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

void spy_frame_role_of(const struct spy_categories *c, const char *function, const char *file,
                       struct spy_frame_role *out)
{
    function = nz(function);
    file = nz(file);
    out->loop = spy_categories_event_loop(c, function, file);
    out->wait = spy_categories_loop_wait(c, function, file);
    out->dispatcher = spy_categories_dispatcher(c, function, file);
    out->library = spy_categories_library(c, file);
}

bool spy_stack_on_loop(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth)
{
    for (uint32_t k = 0; k < depth; k++)
        if (roles[ids[k]].loop)
            return true;
    return false;
}

bool spy_stack_loop_waiting(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth)
{
    if (depth == 0)
        return false;
    if (roles[ids[0]].loop)
        return true;
    return roles[ids[0]].wait && depth > 1 && roles[ids[1]].loop;
}

int spy_stack_endpoint(const struct spy_frame_role *roles, const uint32_t *ids, uint32_t depth)
{
    for (uint32_t k = 0; k < depth; k++) {
        if (!roles[ids[k]].dispatcher)
            continue;
        /* the innermost dispatcher: what it called, if that is the app's */
        return k > 0 && !roles[ids[k - 1]].library ? (int)(k - 1) : -1;
    }
    return -1;
}

static uint64_t pairs_get(const struct pairs *m, uint64_t key)
{
    if (m->size == 0)
        return 0;
    size_t j = mix(key) & (m->size - 1);
    while (m->keys[j] != UINT64_MAX && m->keys[j] != key)
        j = (j + 1) & (m->size - 1);
    return m->keys[j] == key ? m->vals[j] : 0;
}

static uint64_t stack_key(uint32_t thread, const uint32_t *ids, uint32_t depth)
{
    uint64_t h = 1469598103934665603ull ^ thread;
    for (uint32_t k = 0; k < depth; k++) {
        h ^= ids[k];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h == UINT64_MAX ? h - 1 : h;
}

/* blocking[i]: sample i was taken off the CPU inside an event loop callback
 * and blocks the loop.  A blocking call (time.sleep, a socket read, a lock)
 * keeps the thread off the CPU at one stack: most of the samples at that
 * (thread, stack) are idle.  Waiting for the GIL, or for a core on a busy
 * machine, in the middle of CPU work leaves a few idle samples at stacks
 * that are mostly busy; those stay idle (the CPU samples around them already
 * count as blocking).  Samples already marked SPY_FLAG_LOOP_BLOCKED count.
 * 0, or -1 if out of memory. */
static int loop_blocking(const struct spy_profile *p, const struct spy_frame_role *roles, bool *blocking)
{
    struct pairs busy = { 0 }, idle = { 0 };
    int rc = -1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t si = 0; si < p->nsamples; si++) {
            const struct spy_profile_sample *s = &p->samples[si];
            const uint32_t *ids = s->depth ? p->frame_ids + s->first : NULL;   /* none yet: NULL (found by tests/fuzz) */
            bool loop = spy_stack_on_loop(roles, ids, s->depth);
            if (pass == 0)
                blocking[si] = (s->flags & SPY_FLAG_LOOP_BLOCKED) != 0;
            if ((s->flags & SPY_FLAG_TASK) || !loop || spy_stack_loop_waiting(roles, ids, s->depth) || (s->flags & SPY_FLAG_LOOP_BLOCKED))
                continue;
            uint64_t key = stack_key(s->thread, ids, s->depth);
            if (pass == 0) {
                if (pairs_add((s->flags & SPY_FLAG_IDLE) ? &idle : &busy, key, s->count) != 0)
                    goto out;
            } else if (s->flags & SPY_FLAG_IDLE) {
                blocking[si] = pairs_get(&idle, key) > pairs_get(&busy, key);
            }
        }
    }
    rc = 0;
out:
    free(busy.keys);
    free(busy.vals);
    free(idle.keys);
    free(idle.vals);
    return rc;
}

static int compare_fns(const void *pa, const void *pb)
{
    const struct spy_fn_stat *a = pa, *b = pb;
    if (a->own != b->own)
        return a->own > b->own ? -1 : 1;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    int c = strcmp(a->function, b->function);
    return c ? c : strcmp(a->file, b->file);
}

static int compare_threads(const void *pa, const void *pb)
{
    const struct spy_thread_stat *a = pa, *b = pb;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return a->thread < b->thread ? -1 : a->thread > b->thread;
}

static int compare_endpoints(const void *pa, const void *pb)
{
    const struct spy_endpoint_stat *a = pa, *b = pb;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return a->fn < b->fn ? -1 : a->fn > b->fn;
}

static const struct {
    int category;
    const char *title, *text;
} advice_texts[] = {
    { SPY_CAT_DATABASE, "Database work",
      "Look for N+1 queries (one query per item inside a loop: fetch them in one query with a JOIN or "
      "WHERE id IN (...)), add indexes for the conditions that run most, batch writes (executemany in one "
      "transaction), and reuse connections from a pool instead of opening one per request." },
    { SPY_CAT_CACHE, "Cache work",
      "A cache must cost far less than what it saves: check its hit ratio, keep keys cheap to build and "
      "hash (never serialise whole objects into keys), avoid a lock or a network round trip on every read, "
      "and size it so entries are not evicted and rebuilt over and over." },
    { SPY_CAT_SERIALIZATION, "Serialisation",
      "Send less (pagination, only the fields clients use), validate once (a response_model instead of a "
      "manual jsonable_encoder round trip), cache rendered payloads that do not change, and use a faster "
      "encoder such as orjson (ORJSONResponse) for large responses." },
    { SPY_CAT_HTTP, "HTTP server and framework",
      "This is per-request overhead: trim middleware, run uvicorn with httptools and uvloop, keep "
      "connections alive, run several workers, and check whether clients send many tiny requests that "
      "could be batched." },
    { SPY_CAT_SECURITY, "Security and crypto",
      "Password hashing is slow on purpose: do it at login only, never per request; verify tokens once per "
      "request and cache signing keys; do not raise bcrypt/PBKDF2 work factors beyond your policy." },
    { SPY_CAT_ASYNC_IO, "Event loop and waiting machinery",
      "Scheduling costs time when there are many tiny tasks or callbacks: batch work, avoid a task per item, "
      "look for busy polling (sleep(0) loops), and keep awaits coarse." },
    { SPY_CAT_OTHER, "Your own code (CPU)",
      "These functions burn CPU themselves: look at their algorithms (repeated work in loops, quadratic "
      "searches, recomputation that could be cached or precomputed), use built-ins and comprehensions, and "
      "move heavy computation to a process pool so it does not hold the GIL against requests." },
};

static const char loop_title[] = "Blocking work on the event loop";
static const char loop_text[] =
    "Synchronous work inside async code blocks every other request on that event loop while it runs. Make "
    "such endpoints plain `def` (FastAPI runs them in its threadpool), or wrap the blocking call in "
    "`await run_in_threadpool(...)` / `asyncio.to_thread(...)`; use an async driver for I/O and a process "
    "pool for CPU-heavy work.";

static void pick_top(const struct spy_analysis *a, struct spy_advice *adv, int category)
{
    adv->nfns = 0;
    for (uint32_t i = 0; i < a->nfns; i++) {
        uint64_t v = category < 0 ? a->fns[i].on_loop : a->fns[i].decided[category];
        if (v == 0)
            continue;
        /* insertion into the top SPY_ADVICE_FNS */
        int k = adv->nfns < SPY_ADVICE_FNS ? adv->nfns++ : SPY_ADVICE_FNS;
        if (k == SPY_ADVICE_FNS) {
            if (v <= adv->fn_samples[SPY_ADVICE_FNS - 1])
                continue;
            k = SPY_ADVICE_FNS - 1;
        }
        while (k > 0 && adv->fn_samples[k - 1] < v) {
            adv->fns[k] = adv->fns[k - 1];
            adv->fn_samples[k] = adv->fn_samples[k - 1];
            k--;
        }
        adv->fns[k] = i;
        adv->fn_samples[k] = v;
    }
}

static void make_advice(struct spy_analysis *a)
{
    double active = a->active ? (double)a->active : 1;
    a->nadvice = 0;
    if ((double)a->on_loop / active >= a->threshold && a->on_loop > 0) {
        struct spy_advice *adv = &a->advice[a->nadvice++];
        adv->category = -1;
        adv->share = (double)a->on_loop / active;
        adv->title = loop_title;
        adv->text = loop_text;
        pick_top(a, adv, -1);
    }
    /* categories, largest first */
    int order[SPY_CAT_COUNT], n = 0;
    for (size_t i = 0; i < sizeof(advice_texts) / sizeof(advice_texts[0]); i++)
        order[n++] = (int)i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a->cat[advice_texts[order[j]].category] > a->cat[advice_texts[order[j - 1]].category];
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < n && a->nadvice < SPY_ADVICE_MAX; i++) {
        int c = advice_texts[order[i]].category;
        double share = (double)a->cat[c] / active;
        if (a->cat[c] == 0 || share < a->threshold)
            continue;
        struct spy_advice *adv = &a->advice[a->nadvice++];
        adv->category = c;
        adv->share = share;
        adv->title = advice_texts[order[i]].title;
        adv->text = advice_texts[order[i]].text;
        pick_top(a, adv, c);
    }
}

int spy_analyse(const struct spy_profile *p, const struct spy_categories *rules, struct spy_analysis *a,
                char *err, size_t errlen)
{
    struct spy_categories *own_rules = NULL;
    struct frame_facts *facts = NULL;
    struct spy_frame_role *roles = NULL;
    struct strmap files = { 0 }, fnmap = { 0 };
    unsigned long long *masks = NULL;
    const char **file_names = NULL;
    uint32_t *stamp = NULL, *ep_index = NULL;
    bool *blocking = NULL;
    bool *cpu_frame = NULL;          /* with a task view: frames of CPU samples */
    struct pairs ep_top = { 0 };
    uint32_t nfiles = 0;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    if (spy_profile_check(p) != 0) {
        snprintf(err, errlen, "invalid profile");
        return -1;
    }
    if (!rules) {
        if (spy_categories_default(&own_rules, err, errlen) != 0)
            return -1;
        rules = own_rules;
    }
    snprintf(a->rules, sizeof(a->rules), "%.127s", spy_categories_source(rules));
    a->threshold = spy_categories_threshold(rules);
    a->duration = p->duration;
    a->rate = p->rate;
    a->pid = p->pid;
    memcpy(a->program, p->program, sizeof(a->program));
    a->program[sizeof(a->program) - 1] = '\0';

    size_t nf = p->nframes ? p->nframes : 1;
    facts = calloc(nf, sizeof(*facts));
    roles = calloc(nf, sizeof(*roles));
    masks = malloc(nf * sizeof(*masks));
    file_names = malloc(nf * sizeof(*file_names));
    a->fns = calloc(nf, sizeof(*a->fns));
    a->threads = calloc(p->nthreads ? p->nthreads : 1, sizeof(*a->threads));
    if (!facts || !roles || !masks || !file_names || !a->fns || !a->threads || strmap_init(&files, nf) != 0
        || strmap_init(&fnmap, nf) != 0)
        goto oom;

    /* With a task view, frames only its stacks use are not the CPU view's
     * functions (without one, every frame counts, used or not, as before). */
    for (size_t si = 0; si < p->nsamples && !cpu_frame; si++)
        if (p->samples[si].flags & SPY_FLAG_TASK) {
            if (!(cpu_frame = calloc(nf, sizeof(*cpu_frame))))
                goto oom;
            for (size_t sj = 0; sj < p->nsamples; sj++)
                if (!(p->samples[sj].flags & SPY_FLAG_TASK))
                    for (uint32_t k = 0; k < p->samples[sj].depth; k++)
                        cpu_frame[p->frame_ids[p->samples[sj].first + k]] = true;
        }

    /* ---- per frame ---- */
    for (uint32_t i = 0; i < p->nframes; i++) {
        const struct spy_profile_frame *fr = &p->frames[i];
        if (cpu_frame && !cpu_frame[i]) {
            facts[i].fn = NONE;           /* read by no sample the analysis counts */
            continue;
        }
        const char *file = nz(fr->file), *fn = nz(fr->function);
        /* the file's rule mask, once per distinct file */
        size_t k = hash_str(file, 1469598103934665603ull) & (files.size - 1);
        while (files.slots[k] != NONE && strcmp(file_names[files.slots[k]], file) != 0)
            k = (k + 1) & (files.size - 1);
        if (files.slots[k] == NONE) {
            files.slots[k] = nfiles;
            file_names[nfiles] = file;
            masks[nfiles++] = spy_categories_file_mask(rules, file);
        }
        unsigned long long mask = masks[files.slots[k]];
        /* the function id */
        size_t h = hash_str(file, hash_str(fn, 1469598103934665603ull) * 31) & (fnmap.size - 1);
        while (fnmap.slots[h] != NONE && (strcmp(a->fns[fnmap.slots[h]].function, fn) != 0
                                          || strcmp(a->fns[fnmap.slots[h]].file, file) != 0))
            h = (h + 1) & (fnmap.size - 1);
        if (fnmap.slots[h] == NONE) {
            struct spy_fn_stat *f = &a->fns[a->nfns];
            f->function = fn;
            f->file = file;
            f->line = fr->firstlineno > 0 ? fr->firstlineno : fr->line;
            fnmap.slots[h] = a->nfns++;
        } else {
            struct spy_fn_stat *f = &a->fns[fnmap.slots[h]];
            int line = fr->firstlineno > 0 ? fr->firstlineno : fr->line;
            if (line > 0 && (f->line <= 0 || line < f->line))
                f->line = line;
        }
        facts[i].fn = fnmap.slots[h];
        facts[i].category = (int8_t)spy_categories_match(rules, mask, fn);
        spy_frame_role_of(rules, fn, file, &roles[i]);
        a->fns[facts[i].fn].library = roles[i].library;
    }

    /* ---- per sample ---- */
    stamp = calloc(a->nfns ? a->nfns : 1, sizeof(*stamp));
    ep_index = malloc((a->nfns ? a->nfns : 1) * sizeof(*ep_index));
    a->endpoints = calloc(a->nfns ? a->nfns : 1, sizeof(*a->endpoints));
    blocking = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*blocking));
    if (!stamp || !ep_index || !a->endpoints || !blocking || loop_blocking(p, roles, blocking) != 0)
        goto oom;
    memset(ep_index, 0xff, (a->nfns ? a->nfns : 1) * sizeof(*ep_index));
    for (uint32_t t = 0; t < p->nthreads; t++)
        a->threads[t].thread = t;
    a->nthreads = p->nthreads;

    for (size_t si = 0; si < p->nsamples; si++) {
        const struct spy_profile_sample *s = &p->samples[si];
        /* frame_ids is NULL when every stack is empty (found by tests/fuzz) */
        const uint32_t *ids = s->depth ? p->frame_ids + s->first : NULL;
        uint64_t n = s->count;
        if (n == 0 || (s->flags & SPY_FLAG_TASK))     /* the task view: wall.c */
            continue;
        struct spy_thread_stat *ts = &a->threads[s->thread];
        a->total += n;
        ts->total += n;
        if (s->flags & SPY_FLAG_GIL)
            a->gil += n;
        /* on an event loop's thread; the loop itself (waiting, or its C code) */
        bool loop = spy_stack_on_loop(roles, ids, s->depth);
        bool loop_itself = loop && spy_stack_loop_waiting(roles, ids, s->depth);
        bool offcpu = blocking[si];
        if (loop)
            ts->loop = true;
        if ((s->flags & SPY_FLAG_IDLE) && !offcpu) {
            a->idle += n;
            ts->idle += n;
            continue;
        }
        a->active += n;
        if (offcpu) {
            a->loop_offcpu += n;
            ts->loop_offcpu += n;
        }

        /* category: innermost matching frame, stopping at unmatched app code */
        int cat = SPY_CAT_OTHER;
        uint32_t decider = s->depth ? facts[ids[0]].fn : NONE;
        bool decided = false;
        for (uint32_t k = 0; k < s->depth; k++) {
            const struct frame_facts *ff = &facts[ids[k]];
            if (!decided) {
                if (ff->category >= 0) {
                    cat = ff->category;
                    decider = ff->fn;
                    decided = true;
                } else if (!roles[ids[k]].library) {
                    decider = ff->fn;
                    decided = true;
                }
            }
        }
        a->cat[cat] += n;
        ts->cat[cat] += n;
        if (decider != NONE)
            a->fns[decider].decided[cat] += n;
        if (loop && !loop_itself && (offcpu || cat != SPY_CAT_ASYNC_IO)) {
            a->on_loop += n;
            if (decider != NONE)
                a->fns[decider].on_loop += n;
        }

        /* functions: own once, total once per sample however deep the recursion */
        if (s->depth)
            a->fns[facts[ids[0]].fn].own += n;
        for (uint32_t k = 0; k < s->depth; k++) {
            uint32_t f = facts[ids[k]].fn;
            if (stamp[f] != (uint32_t)(si + 1)) {
                stamp[f] = (uint32_t)(si + 1);
                a->fns[f].total += n;
            }
        }

        /* endpoint: the application frame just inside the innermost dispatcher */
        int ep_at = spy_stack_endpoint(roles, ids, s->depth);
        if (ep_at >= 0) {
            uint32_t f = facts[ids[ep_at]].fn;
            if (ep_index[f] == NONE) {
                ep_index[f] = a->nendpoints;
                a->endpoints[a->nendpoints++].fn = f;
            }
            struct spy_endpoint_stat *ep = &a->endpoints[ep_index[f]];
            ep->total += n;
            ep->cat[cat] += n;
            ep->on_loop |= loop;
            a->in_endpoints += n;
            if (s->depth && pairs_add(&ep_top, (uint64_t)ep_index[f] << 32 | facts[ids[0]].fn, n) != 0)
                goto oom;
        }
    }
    for (size_t i = 0; i < ep_top.size; i++) {
        if (ep_top.keys[i] == UINT64_MAX)
            continue;
        struct spy_endpoint_stat *ep = &a->endpoints[ep_top.keys[i] >> 32];
        uint32_t f = (uint32_t)ep_top.keys[i];
        if (ep_top.vals[i] > ep->top_own || (ep_top.vals[i] == ep->top_own && f < ep->top_fn)) {
            ep->top_own = ep_top.vals[i];
            ep->top_fn = f;
        }
    }

    /* ---- order: endpoints and advice refer to functions by index ---- */
    uint32_t *perm = ep_index;      /* reuse: old index -> new index */
    {
        struct spy_fn_stat *sorted = malloc((a->nfns ? a->nfns : 1) * sizeof(*sorted));
        uint32_t *idx = malloc((a->nfns ? a->nfns : 1) * sizeof(*idx));
        if (!sorted || !idx) {
            free(sorted);
            free(idx);
            goto oom;
        }
        memcpy(sorted, a->fns, a->nfns * sizeof(*sorted));
        qsort(sorted, a->nfns, sizeof(*sorted), compare_fns);
        /* old -> new, by matching (function, file) through the map */
        for (uint32_t i = 0; i < a->nfns; i++) {
            size_t h = hash_str(sorted[i].file, hash_str(sorted[i].function, 1469598103934665603ull) * 31)
                       & (fnmap.size - 1);
            while (strcmp(a->fns[fnmap.slots[h]].function, sorted[i].function) != 0
                   || strcmp(a->fns[fnmap.slots[h]].file, sorted[i].file) != 0)
                h = (h + 1) & (fnmap.size - 1);
            idx[fnmap.slots[h]] = i;
        }
        memcpy(perm, idx, a->nfns * sizeof(*perm));
        free(idx);
        free(a->fns);
        a->fns = sorted;
    }
    for (uint32_t e = 0; e < a->nendpoints; e++) {
        a->endpoints[e].fn = perm[a->endpoints[e].fn];
        a->endpoints[e].top_fn = perm[a->endpoints[e].top_fn];
    }
    qsort(a->endpoints, a->nendpoints, sizeof(*a->endpoints), compare_endpoints);
    qsort(a->threads, a->nthreads, sizeof(*a->threads), compare_threads);
    make_advice(a);
    rc = 0;
    goto cleanup;

oom:
    snprintf(err, errlen, "out of memory analysing the profile");
cleanup:
    if (rc != 0)
        spy_analysis_free(a);
    spy_categories_free(own_rules);
    free(facts);
    free(roles);
    free(cpu_frame);
    free(masks);
    free(file_names);
    free(files.slots);
    free(fnmap.slots);
    free(stamp);
    free(ep_index);
    free(blocking);
    free(ep_top.keys);
    free(ep_top.vals);
    return rc;
}

void spy_analysis_free(struct spy_analysis *a)
{
    free(a->fns);
    free(a->threads);
    free(a->endpoints);
    memset(a, 0, sizeof(*a));
}

const char *spy_short_file(const char *file)
{
    const char *m, *hit = NULL;
    if (!file)
        return "?";
    if (file[0] != '/')
        return file;                 /* already short: py-spy's package-relative names */
    for (const char *q = strstr(file, "-packages/"); q; q = strstr(q + 1, "-packages/"))
        hit = q + 10;
    if (hit)
        return hit;
    if ((m = strstr(file, "/lib/python")) && (m = strchr(m + 11, '/')))
        return m + 1;
    return file;
}

void spy_fn_label(const struct spy_fn_stat *f, char *buf, size_t cap)
{
    const char *file = spy_short_file(f->file);
    const char *dots = "";
    if (file == f->file && file[0] == '/') {
        /* the last three components of a long absolute path */
        const char *q = file + strlen(file);
        int parts = 0;
        while (q > file && parts < 3)
            if (*--q == '/')
                parts++;
        if (parts == 3 && q > file) {
            file = q + 1;
            dots = ".../";
        }
    }
    if (!*f->file)
        snprintf(buf, cap, "%s", f->function);
    else if (f->line > 0)
        snprintf(buf, cap, "%s (%s%s:%d)", f->function, dots, file, f->line);
    else
        snprintf(buf, cap, "%s (%s%s)", f->function, dots, file);
}

void spy_duration_text(double duration, int rate, char *buf, size_t cap)
{
    if (duration > 0 && rate > 0)
        snprintf(buf, cap, "%.1f s at %d Hz", duration, rate);
    else if (duration > 0)
        snprintf(buf, cap, "%.1f s (sampling rate unknown)", duration);
    else if (rate > 0)
        snprintf(buf, cap, "unknown (the file does not say), sampled at %d Hz", rate);
    else
        snprintf(buf, cap, "unknown (the file does not say)");
}

int spy_mark_loop_blocking(struct spy_profile *p, const struct spy_categories *rules, char *err, size_t errlen)
{
    struct spy_categories *own_rules = NULL;
    struct spy_frame_role *roles = NULL;
    bool *blocking = NULL;
    int rc = -1;

    if (spy_profile_check(p) != 0) {
        snprintf(err, errlen, "invalid profile");
        return -1;
    }
    if (!rules) {
        if (spy_categories_default(&own_rules, err, errlen) != 0)
            return -1;
        rules = own_rules;
    }
    roles = calloc(p->nframes ? p->nframes : 1, sizeof(*roles));
    if (!roles) {
        snprintf(err, errlen, "out of memory marking the profile");
        goto cleanup;
    }
    for (uint32_t i = 0; i < p->nframes; i++)
        spy_frame_role_of(rules, p->frames[i].function, p->frames[i].file, &roles[i]);
    blocking = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*blocking));
    if (!blocking || loop_blocking(p, roles, blocking) != 0) {
        snprintf(err, errlen, "out of memory marking the profile");
        goto cleanup;
    }
    for (size_t si = 0; si < p->nsamples; si++)
        if (blocking[si] && (p->samples[si].flags & SPY_FLAG_IDLE))
            p->samples[si].flags = (p->samples[si].flags & ~SPY_FLAG_IDLE) | SPY_FLAG_LOOP_BLOCKED;
    rc = 0;

cleanup:
    free(roles);
    free(blocking);
    spy_categories_free(own_rules);
    return rc;
}

