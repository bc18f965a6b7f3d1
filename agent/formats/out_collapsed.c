/*
 * out_collapsed.c — collapsed ("folded") stacks, the input of flamegraph.pl,
 * inferno and speedscope: one line per distinct stack, "outer;...;inner N".
 *
 * Runs on the caller's thread (the writer thread or a test) and reads only
 * the profile.  Lines are sorted bytewise and identical lines merged, so the
 * output is deterministic and the counts sum to the samples written.  Lines
 * are never built as strings: samples are sorted by comparing their labels
 * in place, level by level, as the printed text would compare (equal label
 * ids skip the text).  Labels never contain ';' or control bytes once printed
 * (they become ':' and spaces), so the format stays parseable.  The task
 * view (o->tasks) writes only task samples, each line starting with its
 * state's pseudo-frame ("[waiting];..."), counts in milliseconds.
 */
#include "writers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct collapse {
    const struct spy_profile *p;
    const struct spy_labels *labels;
    char **tlabel;            /* per thread: "thread NAME (TID)" */
    uint32_t *tcanon;         /* per thread: first thread with that label */
    bool by_thread;
    bool tasks;               /* a state level after the thread's */
};

static unsigned char clean(unsigned char c)
{
    if (c == ';')
        return ':';
    /* line breaks would split the line; other control bytes make the
     * file look binary to readers (found by tests/fuzz) */
    if (c < 0x20 || c == 0x7f)
        return ' ';
    return c;
}

static uint32_t levels(const struct collapse *c, const struct spy_profile_sample *s)
{
    return s->depth + (c->by_thread ? 1u : 0u) + (c->tasks ? 1u : 0u);
}

/* Level k of a sample, outermost first: an id (frames: canonical frame id;
 * threads: nframes + canonical thread index) and its text. */
static uint64_t level(const struct collapse *c, const struct spy_profile_sample *s, uint32_t k,
                      const char **text, size_t *len)
{
    if (c->by_thread) {
        if (k == 0) {
            uint32_t t = c->tcanon[s->thread];
            *text = c->tlabel[t];
            *len = strlen(*text);
            return (uint64_t)c->p->nframes + t;
        }
        k--;
    }
    if (c->tasks) {
        if (k == 0) {
            enum spy_view_state st = spy_task_state_of(s->flags);
            *text = spy_task_marker(st);
            *len = strlen(*text);
            return (uint64_t)c->p->nframes + c->p->nthreads + (uint64_t)st;
        }
        k--;
    }
    uint32_t f = c->labels->canon[c->p->frame_ids[s->first + s->depth - 1 - k]];
    *text = spy_label(c->labels, f);
    *len = c->labels->len[f];
    return f;
}

static int compare_samples(const void *pa, const void *pb, void *ctx)
{
    const struct collapse *c = ctx;
    const struct spy_profile_sample *a = &c->p->samples[*(const size_t *)pa];
    const struct spy_profile_sample *b = &c->p->samples[*(const size_t *)pb];
    uint32_t na = levels(c, a), nb = levels(c, b);
    uint32_t n = na < nb ? na : nb;

    for (uint32_t k = 0; k < n; k++) {
        const char *ta, *tb;
        size_t la, lb;
        if (level(c, a, k, &ta, &la) == level(c, b, k, &tb, &lb))
            continue;
        size_t m = la < lb ? la : lb;
        for (size_t i = 0; i < m; i++) {
            unsigned char ca = clean((unsigned char)ta[i]), cb = clean((unsigned char)tb[i]);
            if (ca != cb)
                return ca < cb ? -1 : 1;
        }
        if (la == lb)
            continue;            /* different labels that print the same */
        /* One label is a prefix of the other: what follows it in its line
         * (';' or the end) against the other's next character. */
        if (la < lb) {
            unsigned char ca = k + 1 < na ? ';' : 0;
            return ca < clean((unsigned char)tb[la]) ? -1 : 1;
        }
        unsigned char cb = k + 1 < nb ? ';' : 0;
        return clean((unsigned char)ta[lb]) < cb ? -1 : 1;
    }
    if (na == nb)
        return 0;
    return na < nb ? -1 : 1;
}

static int put_clean(struct spy_sink *s, const char *text, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (clean(ch) == ch)
            continue;
        char r = (char)clean(ch);
        if (spy_sink_write(s, text + run, i - run) != 0 || spy_sink_write(s, &r, 1) != 0)
            return -1;
        run = i + 1;
    }
    return spy_sink_write(s, text + run, len - run);
}

static int put_line(struct spy_sink *s, const struct collapse *c,
                    const struct spy_profile_sample *smp, uint64_t count)
{
    uint32_t n = levels(c, smp);
    if (n == 0 && spy_sink_puts(s, "(no frames)") != 0)
        return -1;
    for (uint32_t k = 0; k < n; k++) {
        const char *text;
        size_t len;
        level(c, smp, k, &text, &len);
        /* what a line must not start with (found by tests/fuzz): '#' is a
         * comment, and a file starting with '{' or markup is read as JSON or
         * SVG; such a first character is written in its fullwidth form */
        size_t lead = 0;           /* readers skip white space before the first character */
        while (k == 0 && lead < len && ((unsigned char)text[lead] <= ' ' || text[lead] == 0x7f))
            lead++;
        if (lead && put_clean(s, text, lead) != 0)
            return -1;
        text += lead;
        len -= lead;
        const char *wide = k > 0 || len == 0 ? NULL
                         : text[0] == '#' ? "\xef\xbc\x83"
                         : text[0] == '{' ? "\xef\xbd\x9b"
                         : text[0] == '<' && (len < 2 || text[1] == '?' || text[1] == '!'
                                              || (len >= 4 && strncasecmp(text, "<svg", 4) == 0)
                                              || (len >= 5 && strncasecmp(text, "<html", 5) == 0))
                             ? "\xef\xbc\x9c" : NULL;
        if (wide) {
            if (spy_sink_write(s, wide, 3) != 0)
                return -1;
            text++;
            len--;
        }
        if ((k > 0 && spy_sink_write(s, ";", 1) != 0) || put_clean(s, text, len) != 0)
            return -1;
    }
    return spy_sink_printf(s, " %" PRIu64 "\n", count);
}

int spy_write_collapsed(const struct spy_profile *p, const struct spy_write_options *o,
                        struct spy_sink *s)
{
    struct spy_labels labels = { 0 };
    struct spy_thread_labels threads = { 0 };
    struct collapse c = { .p = p, .labels = &labels, .by_thread = o->by_thread, .tasks = o->tasks };
    size_t *order = NULL;
    size_t n = 0;
    int rc = -1;

    if (s->failed)
        return -1;
    if (spy_profile_check(p) != 0)
        return spy_sink_fail(s, "invalid profile");
    if (spy_labels_build(&labels, p) != 0 || spy_thread_labels_build(&threads, p) != 0)
        goto cleanup;
    c.tlabel = threads.text;
    c.tcanon = threads.canon;
    order = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*order));
    if (!order)
        goto cleanup;

    for (size_t i = 0; i < p->nsamples; i++) {
        if (spy_write_included(&p->samples[i], o))
            order[n++] = i;
    }
    qsort_r(order, n, sizeof(*order), compare_samples, &c);

    for (size_t i = 0; i < n;) {
        uint64_t count = p->samples[order[i]].count;
        size_t j = i + 1;
        while (j < n && compare_samples(&order[i], &order[j], &c) == 0)
            count += p->samples[order[j++]].count;
        if (put_line(s, &c, &p->samples[order[i]], count) != 0)
            goto cleanup;
        i = j;
    }
    rc = 0;

cleanup:
    if (rc != 0)     /* unless the sink failed, every other way here ran out of memory */
        spy_sink_fail(s, "out of memory writing collapsed stacks");
    spy_thread_labels_free(&threads);
    free(order);
    spy_labels_free(&labels);
    return rc;
}
