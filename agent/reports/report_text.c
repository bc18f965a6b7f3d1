/*
 * report_text.c — the text report: summary, categories, top functions,
 * endpoints, threads and advice, in aligned columns for an 80-column
 * terminal (long function labels go last on their line so the numbers
 * still line up).  Every figure comes from spy_analyse(), so the text and
 * HTML reports agree.
 *
 * Runs on the caller's thread; reads the profile only.
 */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "figures.h"
#include "report_wall.h"

/* Text wrapped at `width` columns, each line indented by `indent`. */
static void put_wrapped(struct spy_sink *s, const char *text, int indent, int width)
{
    const char *p = text;
    while (*p) {
        int avail = width - indent;
        const char *end = p, *brk = NULL;
        int cols = 0;
        while (*end && cols < avail) {
            if (*end == ' ')
                brk = end;
            if (((unsigned char)*end & 0xc0) != 0x80)
                cols++;
            end++;
        }
        if (*end && brk)
            end = brk;
        spy_sink_printf(s, "%*s%.*s\n", indent, "", (int)(end - p), p);
        p = end;
        while (*p == ' ')
            p++;
    }
}

/* The slowest event-loop blocks of the span, each with the stack that
 * held the loop, innermost first. */
static void put_loop_blocks(struct spy_sink *s, const struct spy_report_options *o)
{
    size_t order[SPY_REPORT_BLOCKS];
    size_t n = spy_loop_blocks_slowest(o->blocks, o->nblocks, order, SPY_REPORT_BLOCKS);
    spy_sink_printf(s, "\nSlowest event-loop blocks (%zu block%s of %d ms or more: the loop's thread kept from its "
                    "selector by one callback)\n", o->nblocks, o->nblocks == 1 ? "" : "s", o->block_ms);
    if (n == 0)
        spy_sink_puts(s, "  none.\n");
    for (size_t i = 0; i < n; i++) {
        const struct spy_loop_block *b = &o->blocks[order[i]];
        char when[32] = "?";
        time_t t = (time_t)b->at;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof(when), "%H:%M:%S", &tm);
        spy_sink_printf(s, "  %zu. %6" PRId64 " ms  %s (%s)  thread %s (tid %d, pid %d) at %s\n", i + 1,
                        b->duration_ms, b->endpoint ? b->endpoint : "no endpoint",
                        b->endpoint_file ? spy_short_file(b->endpoint_file) : "-", b->thread[0] ? b->thread : "?",
                        b->tid, b->pid, when);
        for (uint32_t k = 0; k < b->nframes && k < SPY_REPORT_BLOCK_FRAMES; k++)
            spy_sink_printf(s, "        %s (%s:%d)\n", b->frames[k].function, spy_short_file(b->frames[k].file),
                            b->frames[k].line);
        if (b->nframes > SPY_REPORT_BLOCK_FRAMES)
            spy_sink_printf(s, "        ... %u more\n", b->nframes - SPY_REPORT_BLOCK_FRAMES);
    }
}

int spy_report_text(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s)
{
    struct spy_analysis a;
    char g1[32], g2[32], label[600];
    const char *title;
    int top = o && o->top > 0 ? o->top : 20;

    if (spy_report_analyse(p, o, s, &a, &title) != 0)
        return -1;
    spy_sink_printf(s, "spyagent performance report: %s", title);
    if (a.pid)
        spy_sink_printf(s, " (pid %d)", a.pid);
    spy_sink_puts(s, "\n==============================================================================\n");
    if (a.total == 0 && spy_profile_task_ms(p) > 0) {
        /* a task view alone (a .tasks file): no CPU sections to show */
        spy_sink_puts(s, "This profile holds asyncio task wall time only (no CPU samples).\n");
        int rc = spy_report_wall_text(p, o, s);
        spy_analysis_free(&a);
        return rc != 0 || s->failed ? -1 : 0;
    }
    spy_sink_printf(s, "Samples         %s", spy_grouped(a.total, g1, sizeof(g1)));
    if (a.idle)
        spy_sink_printf(s, " (active %s, idle %s = %.1f%%)", spy_grouped(a.active, g1, sizeof(g1)),
                        spy_grouped(a.idle, g2, sizeof(g2)), spy_pct(a.idle, a.total));
    else
        spy_sink_puts(s, " (all active; idle samples are not in this profile)");
    spy_sink_puts(s, "\n");
    spy_duration_text(a.duration, a.rate, label, sizeof(label));
    spy_sink_printf(s, "Duration        %s\n", label);
    if (a.loop_offcpu)
        spy_sink_printf(s, "Loop blocked    %s samples off the CPU inside event loop callbacks (time.sleep, "
                        "synchronous I/O in async code): counted as active\n", spy_grouped(a.loop_offcpu, g1, sizeof(g1)));
    spy_sink_printf(s, "Functions       %s unique\n", spy_grouped(a.nfns, g1, sizeof(g1)));
    uint32_t busy_threads = 0;
    for (uint32_t t = 0; t < a.nthreads; t++)
        busy_threads += a.threads[t].total > 0;
    spy_sink_printf(s, "Threads         %" PRIu32 "\n", busy_threads);
    spy_sink_printf(s, "In endpoints    %s (%.1f%% of active)\n", spy_grouped(a.in_endpoints, g1, sizeof(g1)),
                    spy_pct(a.in_endpoints, a.active));
    spy_sink_printf(s, "Category rules  %s\n", a.rules);

    spy_sink_puts(s, "\nCategories (share of active samples)\n");
    spy_sink_puts(s, "  category          samples       %\n");
    for (int c = 0; c < SPY_CAT_COUNT; c++) {
        int bar = a.active ? (int)(30.0 * (double)a.cat[c] / (double)a.active + 0.5) : 0;
        char bars[64];
        memset(bars, '#', (size_t)bar);
        bars[bar] = '\0';
        spy_sink_printf(s, "  %-15s %9s  %5.1f%%  %s\n", spy_category_name(c), spy_grouped(a.cat[c], g1, sizeof(g1)),
                        spy_pct(a.cat[c], a.active), bars);
    }

    spy_sink_printf(s, "\nTop %d functions (own: innermost frame; total: anywhere on the stack)\n", top);
    spy_sink_puts(s, "       own    own%      total  total%  category       function\n");
    for (uint32_t i = 0; i < a.nfns && i < (uint32_t)top; i++) {
        const struct spy_fn_stat *f = &a.fns[i];
        if (f->own == 0)
            break;
        spy_fn_label(f, label, sizeof(label));
        int mc = spy_main_category(f->decided);
        spy_sink_printf(s, "  %8s  %5.1f%%  %9s  %5.1f%%  %-13s  %s\n", spy_grouped(f->own, g1, sizeof(g1)),
                        spy_pct(f->own, a.active), spy_grouped(f->total, g2, sizeof(g2)), spy_pct(f->total, a.active),
                        mc >= 0 ? spy_category_name(mc) : "-", label);
    }

    spy_sink_puts(s, "\nEndpoints (FastAPI/Starlette route handlers, with the time spent under them)\n");
    if (a.nendpoints == 0) {
        spy_sink_puts(s, "  none found (no FastAPI/Starlette endpoint dispatch in the stacks)\n");
    } else {
        spy_sink_puts(s, "   samples       %  kind   top category (share)  endpoint  [hottest function]\n");
        for (uint32_t e = 0; e < a.nendpoints; e++) {
            const struct spy_endpoint_stat *ep = &a.endpoints[e];
            int best = SPY_CAT_OTHER;
            for (int c = 0; c < SPY_CAT_COUNT; c++)
                if (ep->cat[c] > ep->cat[best])
                    best = c;
            char hot[600];
            spy_fn_label(&a.fns[ep->fn], label, sizeof(label));
            spy_fn_label(&a.fns[ep->top_fn], hot, sizeof(hot));
            spy_sink_printf(s, "  %8s  %5.1f%%  %-5s  %-13s %5.1f%%  %s  [%s]\n", spy_grouped(ep->total, g1, sizeof(g1)),
                            spy_pct(ep->total, a.active), ep->on_loop ? "async" : "sync",
                            spy_category_name(best), spy_pct(ep->cat[best], ep->total), label, hot);
        }
    }

    if (spy_report_wall_text(p, o, s) != 0) {
        spy_analysis_free(&a);
        return -1;
    }

    spy_sink_puts(s, "\nThreads\n");
    spy_sink_puts(s, "   samples       %     idle  main category  thread\n");
    for (uint32_t t = 0; t < a.nthreads; t++) {
        const struct spy_thread_stat *ts = &a.threads[t];
        if (ts->total == 0)
            continue;
        const struct spy_profile_thread *th = &p->threads[ts->thread];
        int best = SPY_CAT_OTHER;
        for (int c = 0; c < SPY_CAT_COUNT; c++)
            if (ts->cat[c] > ts->cat[best])
                best = c;
        spy_sink_printf(s, "  %8s  %5.1f%%  %5.1f%%  %-13s  %.*s (%d)%s\n", spy_grouped(ts->total, g1, sizeof(g1)),
                        spy_pct(ts->total, a.total), spy_pct(ts->idle, ts->total),
                        ts->total > ts->idle ? spy_category_name(best) : "idle",
                        (int)sizeof(th->name), th->name[0] ? th->name : "?", th->tid,
                        ts->loop ? "  [event loop]" : "");
    }

    spy_sink_printf(s, "\nAdvice (categories above %.0f%% of active samples)\n", a.threshold * 100);
    if (a.nadvice == 0)
        spy_sink_puts(s, "  nothing stands out.\n");
    for (int i = 0; i < a.nadvice; i++) {
        const struct spy_advice *adv = &a.advice[i];
        spy_sink_printf(s, "  %d. %s: %.1f%% of active samples.\n", i + 1, adv->title, adv->share * 100);
        for (int k = 0; k < adv->nfns; k++) {
            spy_fn_label(&a.fns[adv->fns[k]], label, sizeof(label));
            spy_sink_printf(s, "     %s %s (%.1f%%)\n", k ? "      " : "From:", label,
                            spy_pct(adv->fn_samples[k], a.active));
        }
        put_wrapped(s, adv->text, 5, 78);
    }
    if (o->blocks_given)
        put_loop_blocks(s, o);
    spy_analysis_free(&a);
    return s->failed ? -1 : 0;
}
