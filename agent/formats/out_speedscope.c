/*
 * out_speedscope.c — speedscope's JSON file format
 * (https://www.speedscope.app/file-format-schema.json).
 *
 * One "sampled" profile per thread that has samples, unit "none", weights
 * = sample counts, startValue 0, endValue = the thread's total.  Frames are
 * shared: one entry per distinct label that some written sample uses, named
 * "function (file:line)" with `file` and `line` too.  A sample's stack
 * lists frame indices outermost first, as speedscope expects (its importer
 * treats the first index as the root).  The profile opened first
 * (activeProfileIndex) is the busiest thread.  When p has a task view
 * (SPY_FLAG_TASK samples), one "task wall time: NAME (TID)" profile per
 * thread follows, unit "milliseconds", each stack under its state's
 * pseudo-frame (spy_task_marker), and a top-level "spyagent" member gives
 * the span; without one, the file is what it always was.
 *
 * Runs on the caller's thread; reads only the profile; memory is
 * proportional to its frames, samples and threads.
 */
#include "writers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spyagent.h"

static int put_u64(struct spy_sink *s, uint64_t v)
{
    char buf[24];
    char *p = buf + sizeof(buf);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return spy_sink_write(s, p, (size_t)(buf + sizeof(buf) - p));
}

static int put_thread_name(struct spy_sink *s, const struct spy_profile_thread *t)
{
    char name[sizeof(t->name) + 1];
    snprintf(name, sizeof(name), "%.*s", (int)sizeof(t->name), t->name[0] ? t->name : "?");
    if (spy_sink_json_str(s, name) != 0)
        return -1;
    return spy_sink_printf(s, " (%d)", t->tid);
}

int spy_write_speedscope(const struct spy_profile *p, const struct spy_write_options *o,
                         struct spy_sink *s)
{
    struct spy_labels labels = { 0 };
    struct spy_write_options views[2] = { *o, *o };   /* the CPU view, the task view */
    uint32_t *index = NULL;          /* per frame: position in shared.frames */
    size_t *by_group = NULL;         /* included samples grouped by (view, thread) */
    size_t *start = NULL;            /* per group: first entry in by_group */
    size_t *fill = NULL;             /* per group: next free entry while grouping */
    uint32_t marker[SPY_VIEW_STATES] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
    uint64_t task_ms = 0;
    int rc = -1;

    views[0].tasks = false;
    views[1].tasks = true;
    if (s->failed)
        return -1;
    if (spy_profile_check(p) != 0)
        return spy_sink_fail(s, "invalid profile");
    if (spy_labels_build(&labels, p) != 0)
        goto cleanup;
    size_t ngroups = 2 * (size_t)p->nthreads;
    index = malloc((p->nframes ? p->nframes : 1) * sizeof(*index));
    by_group = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*by_group));
    start = calloc(ngroups + 1, sizeof(*start));
    fill = malloc((ngroups + 1) * sizeof(*fill));
    if (!index || !by_group || !start || !fill)
        goto cleanup;

    /* Which frames are used, and the samples of each group in order. */
    memset(index, 0xff, (p->nframes ? p->nframes : 1) * sizeof(*index));
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *smp = &p->samples[i];
        size_t v = spy_write_included(smp, &views[0]) ? 0 : spy_write_included(smp, &views[1]) ? 1 : 2;
        if (v == 2)
            continue;
        start[v * p->nthreads + smp->thread + 1]++;
        if (v == 1) {
            marker[spy_task_state_of(smp->flags)] = 0;
            task_ms += smp->count;
        }
        for (uint32_t k = 0; k < smp->depth; k++)
            index[labels.canon[p->frame_ids[smp->first + k]]] = 0;
    }
    for (size_t g = 0; g < ngroups; g++)
        start[g + 1] += start[g];
    memcpy(fill, start, (ngroups + 1) * sizeof(*fill));
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *smp = &p->samples[i];
        size_t v = spy_write_included(smp, &views[0]) ? 0 : spy_write_included(smp, &views[1]) ? 1 : 2;
        if (v < 2)
            by_group[fill[v * p->nthreads + smp->thread]++] = i;
    }

    spy_sink_puts(s, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
                     "\"shared\":{\"frames\":[");
    uint32_t nused = 0;
    for (uint32_t f = 0; f < p->nframes; f++) {
        if (index[f] == UINT32_MAX)
            continue;
        index[f] = nused;
        const struct spy_profile_frame *fr = &p->frames[f];
        spy_sink_puts(s, nused ? ",\n{\"name\":\"" : "\n{\"name\":\"");
        spy_sink_json_str(s, spy_label(&labels, f));
        spy_sink_puts(s, "\",\"file\":\"");
        spy_sink_json_str(s, fr->file ? fr->file : "?");
        spy_sink_printf(s, "\",\"line\":%d}", fr->line);
        nused++;
    }
    /* the task states: frames with a name only, outermost in task stacks */
    for (int st = 0; st < SPY_VIEW_STATES; st++) {
        if (marker[st] == UINT32_MAX)
            continue;
        marker[st] = nused;
        spy_sink_puts(s, nused ? ",\n{\"name\":\"" : "\n{\"name\":\"");
        spy_sink_json_str(s, spy_task_marker((enum spy_view_state)st));
        spy_sink_puts(s, "\"}");
        nused++;
    }
    spy_sink_puts(s, "]},\n\"profiles\":[");

    uint32_t nprofiles = 0, active = 0;
    uint64_t busiest = 0;
    for (size_t g = 0; g < ngroups; g++) {
        if (start[g] == start[g + 1])
            continue;
        bool tasks = g >= p->nthreads;
        uint32_t t = (uint32_t)(tasks ? g - p->nthreads : g);
        uint64_t sum = 0;
        for (size_t j = start[g]; j < start[g + 1]; j++)
            sum += p->samples[by_group[j]].count;
        if (!tasks && sum > busiest) {
            busiest = sum;
            active = nprofiles;
        }
        spy_sink_puts(s, nprofiles ? ",\n{" : "\n{");
        spy_sink_puts(s, tasks ? "\"type\":\"sampled\",\"name\":\"task wall time: " : "\"type\":\"sampled\",\"name\":\"");
        put_thread_name(s, &p->threads[t]);
        spy_sink_printf(s, "\",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRIu64
                        ",\n\"samples\":[", tasks ? "milliseconds" : "none", sum);
        for (size_t j = start[g]; j < start[g + 1]; j++) {
            const struct spy_profile_sample *smp = &p->samples[by_group[j]];
            spy_sink_puts(s, j > start[g] ? ",[" : "[");
            if (tasks) {
                put_u64(s, marker[spy_task_state_of(smp->flags)]);
                if (smp->depth)
                    spy_sink_write(s, ",", 1);
            }
            for (uint32_t k = 0; k < smp->depth; k++) {
                uint32_t f = p->frame_ids[smp->first + smp->depth - 1 - k];  /* outermost first */
                if (k)
                    spy_sink_write(s, ",", 1);
                put_u64(s, index[labels.canon[f]]);
            }
            spy_sink_write(s, "]", 1);
        }
        spy_sink_puts(s, "],\n\"weights\":[");
        for (size_t j = start[g]; j < start[g + 1]; j++) {
            if (j > start[g])
                spy_sink_write(s, ",", 1);
            put_u64(s, p->samples[by_group[j]].count);
        }
        spy_sink_puts(s, "]}");
        nprofiles++;
    }
    if (nprofiles == 0)
        spy_sink_puts(s, "\n{\"type\":\"sampled\",\"name\":\"(no samples)\",\"unit\":\"none\","
                         "\"startValue\":0,\"endValue\":0,\"samples\":[],\"weights\":[]}");

    spy_sink_puts(s, "],\n\"name\":\"");
    if (o->title && *o->title) {
        spy_sink_json_str(s, o->title);
    } else if (p->program[0]) {
        char prog[sizeof(p->program) + 1];
        snprintf(prog, sizeof(prog), "%.*s", (int)sizeof(p->program), p->program);
        spy_sink_json_str(s, prog);
        spy_sink_printf(s, " (pid %d)", p->pid);
    } else {
        spy_sink_puts(s, "spyagent profile");
    }
    spy_sink_printf(s, "\",\"activeProfileIndex\":%" PRIu32 ",\"exporter\":\"spyagent %s\"", active, SPY_VERSION);
    /* With a task view, the span it covers (the mean tasks in flight are
     * its milliseconds over this): speedscope ignores the member. */
    if (task_ms > 0 && p->duration > 0 && p->duration <= 1e9)
        spy_sink_printf(s, ",\n\"spyagent\":{\"duration\":%.3f,\"rate\":%d}", p->duration,
                        p->rate > 0 && p->rate <= 1000000 ? p->rate : 0);
    spy_sink_puts(s, "}\n");
    rc = s->failed ? -1 : 0;

cleanup:
    if (rc != 0)     /* unless the sink failed, every other way here ran out of memory */
        spy_sink_fail(s, "out of memory writing speedscope JSON");
    free(index);
    free(by_group);
    free(start);
    free(fill);
    spy_labels_free(&labels);
    return rc;
}
