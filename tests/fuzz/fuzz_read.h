/* fuzz_read.h — the body shared by the profile reader targets
 * (fuzz_read_collapsed.c, fuzz_read_svg.c, fuzz_read_speedscope.c): read
 * the input with spy_profile_read_mem, and when it is accepted, check the
 * profile holds together and within bounds, run every writer and the text
 * report on it, and read the collapsed output back: the same total.  The
 * task view (samples whose outermost frame was a task state, our files')
 * is written apart (collapsed and SVG with .tasks): the CPU and the task
 * collapsed outputs read back hold the total between them.
 * Included by exactly one .c per target. */
#ifndef FUZZ_READ_H
#define FUZZ_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "categories.h"
#include "out_pprof.h"
#include "profile.h"
#include "profile_read.h"
#include "report.h"
#include "sink.h"
#include "writers.h"

typedef int (*fuzz_writer)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *);

static void fuzz_fail(const char *why, const char *err)
{
    fprintf(stderr, "fuzz: %s%s%s\n", why, err ? ": " : "", err ? err : "");
    abort();
}

static void fuzz_read(const uint8_t *data, size_t size, char want_first)
{
    /* the target's own format only (each has its own corpus); detection
     * skips a BOM and white space, so look where the reader looks */
    size_t i = 0;
    if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
        i++;
    if (i < size && (data[i] == '<' || data[i] == '{') != (want_first != 0))
        return;
    if (want_first && i < size && data[i] != want_first)
        return;
    char *copy = malloc(size ? size : 1);            /* exact size: reads past the end are caught */
    if (!copy)
        return;
    memcpy(copy, data, size);
    struct spy_profile p;
    char err[600] = "";
    int rc = spy_profile_read_mem("fuzz.in", copy, size, &p, NULL, err, sizeof(err));
    free(copy);
    if (rc != 0 && rc != -1)
        fuzz_fail("reader returned neither 0 nor -1", NULL);
    if (rc == -1) {
        if (strncmp(err, "fuzz.in: ", 9) != 0 || !err[9])
            fuzz_fail("a refusal that does not name the file and say why", err);
        return;
    }
    if (spy_profile_check(&p) != 0)
        fuzz_fail("an accepted profile with indices out of range", NULL);
    uint64_t sum = 0;
    for (size_t k = 0; k < p.nsamples; k++) {
        if (p.samples[k].count > SPY_READ_MAX_SAMPLES - sum)
            fuzz_fail("sample counts past the bound", NULL);
        sum += p.samples[k].count;
    }
    if (sum != p.total || p.total > SPY_READ_MAX_SAMPLES)
        fuzz_fail("total is not the sum of the counts", NULL);

    static const fuzz_writer writers[] = { spy_write_collapsed, spy_write_speedscope, spy_write_svg,
                                           spy_write_pprof };
    static const char *const names[] = { "collapsed", "speedscope", "svg", "pprof" };
    char *collapsed = NULL;
    size_t collapsed_len = 0;
    for (size_t w = 0; w < sizeof(writers) / sizeof(writers[0]); w++) {
        struct spy_sink s;
        struct spy_write_options o = { .include_idle = true };
        spy_sink_memory(&s, 64u << 20);
        int wrc = writers[w](&p, &o, &s);
        int crc = spy_sink_close(&s);
        if (wrc != 0 || crc != 0) {
            /* only the memory limit may stop a writer on a profile the reader accepted */
            if (!strstr(s.error, "limit"))
                fuzz_fail(names[w], s.error);
            free(s.buf);
            continue;
        }
        if (w == 0) {
            collapsed = s.buf;
            collapsed_len = s.len;
        } else {
            free(s.buf);
        }
    }
    {
        /* the built-in rules, parsed once: regcomp per run would be most of the time */
        static struct spy_categories *cats;
        if (!cats && spy_categories_default(&cats, err, sizeof(err)) != 0)
            fuzz_fail("the built-in category rules", err);
        struct spy_sink s;
        struct spy_report_options ro = { .top = 5, .categories = cats };
        spy_sink_memory(&s, 64u << 20);
        if (spy_report_text(&p, &ro, &s) != 0 && !strstr(s.error, "limit"))
            fuzz_fail("text report", s.error);
        spy_sink_close(&s);
        free(s.buf);
    }
    /* the task view's own files */
    char *task_collapsed = NULL;
    size_t task_len = 0;
    uint64_t task_ms = spy_profile_task_ms(&p);
    for (int w = 0; w < 2; w++) {
        struct spy_sink s;
        struct spy_write_options o = { .tasks = true };
        spy_sink_memory(&s, 64u << 20);
        int wrc = (w == 0 ? spy_write_collapsed : spy_write_svg)(&p, &o, &s);
        int crc = spy_sink_close(&s);
        if ((wrc != 0 || crc != 0) && !strstr(s.error, "limit"))
            fuzz_fail(w == 0 ? "task collapsed" : "task svg", s.error);
        if (w == 0 && wrc == 0 && crc == 0) {
            task_collapsed = s.buf;
            task_len = s.len;
        } else {
            free(s.buf);
        }
    }
    uint64_t back = 0;
    bool complete = collapsed && (task_ms == 0 || task_collapsed);
    for (int v = 0; v < 2 && complete; v++) {
        const char *text = v == 0 ? collapsed : task_collapsed;
        size_t len = v == 0 ? collapsed_len : task_len;
        uint64_t want = v == 0 ? p.total - task_ms : task_ms;
        if (!text || (want == 0 && len == 0))
            continue;
        struct spy_profile q;
        rc = spy_profile_read_mem("fuzz.collapsed", text, len, &q, NULL, err, sizeof(err));
        if (rc == 0) {
            back += q.total;
            spy_profile_free(&q);
        } else if (want != 0) {
            fuzz_fail(v == 0 ? "the collapsed output of an accepted profile does not read back"
                             : "the task collapsed output of an accepted profile does not read back", err);
        }
    }
    if (complete && back != p.total)
        fuzz_fail("the collapsed output reads back with another total", NULL);
    free(collapsed);
    free(task_collapsed);
    spy_profile_free(&p);
}

#endif
