/*
 * out_flame_json.c — a merged call tree as JSON, for the viewer's live
 * flame graph (the `flame` command).
 *
 *   {"samples":N,"root":{"name":"all","value":N,"self":0,"children":[
 *       {"name":"function (file:line)","file":"...","line":L,
 *        "value":V,"self":S,"children":[...]}, ...]}}
 *
 * Stacks are merged root first by frame label (frames that print alike
 * merge, as in the SVG); children are sorted by value, largest first.
 * Nodes below `min_share` of the samples are left out (their samples stay
 * in their parent's value), so the message stays small however many
 * stacks there are.  Idle samples are skipped unless include_idle.
 *
 * Threads: any (a pure function of the profile); used on the server thread.
 */
#include <stdlib.h>
#include <string.h>

#include "counts.h"
#include "profile.h"
#include "sink.h"
#include "writers.h"

struct node {
    uint32_t frame;        /* canonical frame id; UINT32_MAX for the root */
    uint32_t first_child, next_sibling;
    uint64_t value, self;
};

struct tree {
    struct node *n;
    uint32_t count, cap;
    struct spy_counts index;    /* (parent, frame) + 1 -> node + 1 */
};

#define NONE UINT32_MAX
#define SPY_FLAME_MAX_DEPTH 300     /* deeper nodes fold into their parent */

static uint32_t child(struct tree *t, uint32_t parent, uint32_t frame)
{
    uint64_t key = (((uint64_t)parent << 32) | frame) + 1;
    uint64_t v = spy_counts_get(&t->index, key);
    if (v)
        return (uint32_t)(v - 1);
    if (t->count == t->cap) {
        uint32_t cap = t->cap * 2;
        struct node *nn = realloc(t->n, (size_t)cap * sizeof(*nn));
        if (!nn)
            return NONE;
        t->n = nn;
        t->cap = cap;
    }
    if (spy_counts_add(&t->index, key, (uint64_t)t->count + 1) != 0) {
        if (spy_counts_maintain(&t->index) != 0 || spy_counts_add(&t->index, key, (uint64_t)t->count + 1) != 0)
            return NONE;
    }
    uint32_t id = t->count++;
    t->n[id] = (struct node){ frame, NONE, t->n[parent].first_child, 0, 0 };
    t->n[parent].first_child = id;
    return id;
}

static int by_value(const void *a, const void *b, void *ctx)
{
    const struct tree *t = ctx;
    uint64_t x = t->n[*(const uint32_t *)a].value, y = t->n[*(const uint32_t *)b].value;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void emit(const struct tree *t, uint32_t id, const struct spy_profile *p, const struct spy_labels *l,
                 uint64_t min, struct spy_sink *s, int depth)
{
    const struct node *n = &t->n[id];
    if (n->frame == NONE) {
        spy_sink_puts(s, "{\"name\":\"all\"");
    } else {
        const struct spy_profile_frame *f = &p->frames[n->frame];
        spy_sink_puts(s, "{\"name\":\"");
        spy_sink_json_str(s, spy_label(l, n->frame));
        spy_sink_puts(s, "\",\"function\":\"");
        spy_sink_json_str(s, f->function);
        spy_sink_puts(s, "\",\"file\":\"");
        spy_sink_json_str(s, f->file);
        spy_sink_printf(s, "\",\"line\":%d", f->line);
    }
    spy_sink_printf(s, ",\"value\":%llu,\"self\":%llu,\"children\":[", (unsigned long long)n->value,
                    (unsigned long long)n->self);
    size_t nk = 0;
    for (uint32_t c = n->first_child; c != NONE; c = t->n[c].next_sibling)
        nk += t->n[c].value >= min;
    uint32_t *kids = nk && depth < SPY_FLAME_MAX_DEPTH ? malloc(nk * sizeof(*kids)) : NULL;
    if (kids) {
        nk = 0;
        for (uint32_t c = n->first_child; c != NONE; c = t->n[c].next_sibling)
            if (t->n[c].value >= min)
                kids[nk++] = c;
        qsort_r(kids, nk, sizeof(kids[0]), by_value, (void *)t);
        for (size_t i = 0; i < nk; i++) {
            if (i)
                spy_sink_puts(s, ",");
            emit(t, kids[i], p, l, min, s, depth + 1);
        }
        free(kids);
    }
    spy_sink_puts(s, "]}");
}

int spy_write_flame_json(const struct spy_profile *p, const struct spy_write_options *o, double min_share,
                         struct spy_sink *s)
{
    struct tree t = { 0 };
    struct spy_labels l;
    int rc = -1;
    if (spy_profile_check(p) != 0 || spy_labels_build(&l, p) != 0)
        return -1;
    t.cap = 1024;
    t.n = malloc(t.cap * sizeof(*t.n));
    if (!t.n || spy_counts_init(&t.index, 4096) != 0)
        goto out;
    t.n[0] = (struct node){ NONE, NONE, NONE, 0, 0 };
    t.count = 1;
    uint64_t total = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *sm = &p->samples[i];
        if ((sm->flags & SPY_FLAG_IDLE) && !o->include_idle)
            continue;
        if (o->tid && p->threads[sm->thread].tid != o->tid)
            continue;
        if (o->pid && p->threads[sm->thread].pid != o->pid)
            continue;
        uint32_t at = 0;
        t.n[0].value += sm->count;
        total += sm->count;
        /* frame ids are innermost first: walk them from the root */
        for (uint32_t d = sm->depth; d-- > 0;) {
            uint32_t frame = l.canon[p->frame_ids[sm->first + d]];
            at = child(&t, at, frame);
            if (at == NONE)
                goto out;
            t.n[at].value += sm->count;
        }
        t.n[at].self += sm->count;
        if (t.index.used * 2 > t.index.mask)
            spy_counts_maintain(&t.index);
    }
    uint64_t min = (uint64_t)((double)total * min_share);
    if (min < 1)
        min = 1;
    spy_sink_printf(s, "\"samples\":%llu,\"nodes\":%u,\"root\":", (unsigned long long)total, t.count);
    emit(&t, 0, p, &l, min, s, 0);
    rc = s->failed ? -1 : 0;
out:
    free(t.n);
    spy_counts_free(&t.index);
    spy_labels_free(&l);
    return rc;
}
