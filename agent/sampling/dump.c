/*
 * dump.c — every Python thread's stack right now, like `py-spy dump`.
 *
 * A fresh walk on the caller's thread, with the caller's own buffers and no
 * cache shared with the sampler, so it answers even while the sampler is
 * busy and while some host thread holds the GIL in a long C call.  Thread
 * names come from the threading.Thread objects themselves; idle flags from
 * the sampler's latest look at each thread.
 *
 * Threads: any caller; takes only the store lock, briefly.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "memread.h"
#include "spyagent.h"

struct resolved {
    uint64_t code;
    struct spy_code_info info;
    uint8_t *lines;
    bool ok;
};

#define DUMP_CACHE 128

struct spy_code_cache {
    struct resolved r[DUMP_CACHE];
    int n;
};

struct spy_code_cache *spy_code_cache_new(void)
{
    return calloc(1, sizeof(struct spy_code_cache));
}

void spy_code_cache_free(struct spy_code_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->r[i].lines);
    free(c);
}

static struct resolved *lookup(struct spy_code_cache *c, uint64_t code)
{
    struct spy_agent *a = &spy_agent;
    for (int i = 0; i < c->n; i++)
        if (c->r[i].code == code)
            return &c->r[i];
    struct resolved *r = c->n < DUMP_CACHE ? &c->r[c->n++] : &c->r[DUMP_CACHE - 1];
    free(r->lines);
    memset(r, 0, sizeof(*r));
    r->code = code;
    r->ok = a->py.reader->read_code(&a->py.ip, code, &r->info) == 0;
    if (r->ok && r->info.linetable_len > 0) {
        r->lines = malloc(r->info.linetable_len);
        if (r->lines && spy_memread(r->lines, r->info.linetable, r->info.linetable_len) != 0) {
            free(r->lines);
            r->lines = NULL;
        }
    }
    return r;
}

int spy_code_cache_frame(struct spy_code_cache *c, const struct spy_raw_frame *raw, struct spy_dump_frame *out)
{
    const struct spy_reader *rd = spy_agent.py.reader;
    struct resolved *r = lookup(c, raw->code);
    if (!r->ok)
        return -1;
    int line = r->lines ? rd->line_for(r->lines, r->info.linetable_len, r->info.firstlineno, raw->offset) : -1;
    out->function = strdup(r->info.name);
    out->file = strdup(r->info.file);
    out->line = line > 0 ? line : r->info.firstlineno;
    if (!out->function || !out->file) {
        free(out->function);
        free(out->file);
        out->function = out->file = NULL;
        return -2;
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int spy_dump(struct spy_dump_result *out)
{
    struct spy_agent *a = &spy_agent;
    memset(out, 0, sizeof(*out));
    if (!atomic_load(&a->attached))
        return 0;
    const struct spy_reader *rd = a->py.reader;
    struct spy_raw_thread *raw = spy_raw_threads_new(SPY_MAX_THREADS);
    void *scratch = malloc(SPY_WALK_SCRATCH);
    struct spy_code_cache *cache = spy_code_cache_new();
    int rc = -1;
    if (!raw || !scratch || !cache)
        goto out;
    struct spy_walk_stats ws = { 0 };
    int n = rd->walk(&a->py.ip, raw, SPY_MAX_THREADS, &ws, scratch);
    if (n < 0)
        goto out;
    out->threads = calloc((size_t)(n ? n : 1), sizeof(*out->threads));
    if (!out->threads)
        goto out;
    for (int i = 0; i < n; i++) {
        struct spy_raw_thread *t = &raw[i];
        struct spy_dump_thread *d = &out->threads[out->nthreads++];
        d->tid = t->native_tid;
        d->thread_id = t->thread_id;
        d->gil = t->gil;
        d->truncated = t->truncated;
        d->frames = calloc(t->depth ? t->depth : 1, sizeof(*d->frames));
        if (!d->frames)
            goto out;
        const struct spy_code_info *outer = NULL;
        for (int f = 0; f < t->depth; f++) {
            int fr = spy_code_cache_frame(cache, &t->frames[f], &d->frames[d->nframes]);
            if (fr == -2)
                goto out;
            if (fr != 0)
                continue;
            d->nframes++;
            outer = &lookup(cache, t->frames[f].code)->info;
        }
        char name[64] = "";
        if (t->thread_id == a->py.ip.main_thread) {
            strcpy(name, "MainThread");
        } else if (outer && t->thread_obj && ends_with(outer->name, "_bootstrap")
                   && ends_with(outer->file, "threading.py")) {
            if (rd->thread_name(&a->py.ip, t->thread_obj, name, sizeof(name)) != 0)
                name[0] = '\0';
        }
        pthread_mutex_lock(&a->store.lock);
        for (int s = 0; s < a->store.nslots; s++) {
            const struct spy_thread_slot *sl = &a->store.slots[s];
            if (sl->tid == t->native_tid && sl->thread_id == t->thread_id) {
                d->idle = sl->idle;
                if (name[0] == '\0' && sl->name[0] != '\0')
                    memcpy(name, sl->name, sizeof(name));
                break;
            }
        }
        pthread_mutex_unlock(&a->store.lock);
        name[sizeof(name) - 1] = '\0';
        d->name = name[0] ? strdup(name) : NULL;
    }
    rc = 0;
out:
    spy_code_cache_free(cache);
    free(raw);
    free(scratch);
    if (rc != 0)
        spy_dump_result_free(out);
    return rc;
}

void spy_dump_result_free(struct spy_dump_result *r)
{
    for (int i = 0; i < r->nthreads; i++) {
        for (int f = 0; f < r->threads[i].nframes; f++) {
            free(r->threads[i].frames[f].function);
            free(r->threads[i].frames[f].file);
        }
        free(r->threads[i].frames);
        free(r->threads[i].name);
    }
    free(r->threads);
    memset(r, 0, sizeof(*r));
}
