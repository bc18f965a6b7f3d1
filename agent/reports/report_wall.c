/*
 * report_wall.c — the reports' "Where requests wait" section, from the
 * task view (wall.c): per endpoint its task seconds, mean requests in
 * flight, the split into on the CPU / ready to run / waiting, what its
 * waiting stacks await and where its CPU time goes.  Text (aligned
 * columns, labels last) and HTML (a sortable table with a stacked bar).
 * A profile without task samples gets no section at all, so reports of
 * CPU-only profiles are unchanged.
 *
 * Runs on the caller's thread; reads the profile only.
 */
#include "report_wall.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "figures.h"
#include "wall.h"

#define LIST_MAX 5                 /* functions listed per endpoint and state */
#define LIST_MIN_PCT 0.5           /* ... each at least this share of the endpoint's time */

static const char *const state_names[SPY_VIEW_STATES] = { "on CPU", "ready", "waiting" };
static const char *const state_colours[SPY_VIEW_STATES] = { "#e15759", "#f2b447", "#6f9fd8" };

static void wall_fn_label(const struct spy_wall_fn *f, char *buf, size_t cap)
{
    struct spy_fn_stat st = { .function = f->function, .file = f->file, .line = f->line };
    spy_fn_label(&st, buf, cap);
}

static void endpoint_label(const struct spy_wall_endpoint *ep, char *buf, size_t cap)
{
    if (!ep->function) {
        snprintf(buf, cap, "(no endpoint: tasks outside any route)");
        return;
    }
    struct spy_wall_fn f = { .function = ep->function, .file = ep->file, .line = ep->line };
    wall_fn_label(&f, buf, cap);
}

static void in_flight_text(uint64_t ms, double duration, char *buf, size_t cap)
{
    double v = spy_wall_in_flight(ms, duration);
    if (v < 0)
        snprintf(buf, cap, "?");
    else
        snprintf(buf, cap, "%.2f", v);
}

/* The analysis, or 1 when p has no task view (nothing to write). */
static int analyse(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s,
                   struct spy_wall *w)
{
    char err[256];
    if (s->failed)
        return -1;
    if (spy_profile_task_ms(p) == 0)
        return 1;
    if (spy_wall_analyse(p, o ? o->categories : NULL, w, err, sizeof(err)) != 0)
        return spy_sink_fail(s, "%s", err);
    return 0;
}

int spy_report_wall_text(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s)
{
    struct spy_wall w;
    char label[600], fl[32], dur[96];
    int rc = analyse(p, o, s, &w);
    if (rc != 0)
        return rc > 0 ? 0 : -1;

    uint64_t in_eps = 0;
    for (uint32_t e = 0; e < w.nendpoints; e++)
        if (w.endpoints[e].function)
            in_eps += w.endpoints[e].ms;
    spy_sink_puts(s, "\nWhere requests wait (asyncio task wall time per endpoint: on the CPU, ready to run, "
                     "waiting)\n");
    in_flight_text(w.ms, w.duration, fl, sizeof(fl));
    if (w.duration > 0)
        snprintf(dur, sizeof(dur), "over %.1f s: %s tasks in flight on average", w.duration, fl);
    else
        snprintf(dur, sizeof(dur), "(the span is unknown: no mean in flight)");
    spy_sink_printf(s, "  Task time   %.2f task-s %s; %.1f%% under endpoints\n", (double)w.ms / 1000.0, dur,
                    spy_pct(in_eps, w.ms));
    spy_sink_printf(s, "  All tasks   %.1f%% on CPU, %.1f%% ready, %.1f%% waiting\n",
                    spy_pct(w.state_ms[SPY_VIEW_RUNNING], w.ms), spy_pct(w.state_ms[SPY_VIEW_READY], w.ms),
                    spy_pct(w.state_ms[SPY_VIEW_WAITING], w.ms));
    spy_sink_puts(s, "     task-s  in flight   on CPU    ready  waiting  endpoint\n");
    for (uint32_t e = 0; e < w.nendpoints; e++) {
        const struct spy_wall_endpoint *ep = &w.endpoints[e];
        endpoint_label(ep, label, sizeof(label));
        in_flight_text(ep->ms, w.duration, fl, sizeof(fl));
        spy_sink_printf(s, "  %9.2f  %9s  %6.1f%%  %6.1f%%  %6.1f%%  %s\n", (double)ep->ms / 1000.0, fl,
                        spy_pct(ep->state_ms[SPY_VIEW_RUNNING], ep->ms), spy_pct(ep->state_ms[SPY_VIEW_READY], ep->ms),
                        spy_pct(ep->state_ms[SPY_VIEW_WAITING], ep->ms), label);
        for (int kind = 0; kind < 2; kind++) {
            const struct spy_wall_fn *list = kind == 0 ? ep->awaiting : ep->on_cpu;
            uint32_t n = kind == 0 ? ep->nawaiting : ep->non_cpu;
            for (uint32_t i = 0; i < n && i < LIST_MAX; i++) {
                if (spy_pct(list[i].ms, ep->ms) < LIST_MIN_PCT)
                    break;
                wall_fn_label(&list[i], label, sizeof(label));
                spy_sink_printf(s, "  %40s%6.1f%%  %s %s\n", "", spy_pct(list[i].ms, ep->ms),
                                kind == 0 ? "awaiting" : "on CPU in", label);
            }
        }
    }
    spy_wall_free(&w);
    return s->failed ? -1 : 0;
}

static void put_fn_html(struct spy_sink *s, const struct spy_wall_fn *f)
{
    char label[600];
    wall_fn_label(f, label, sizeof(label));
    spy_sink_xml_str(s, label);
}

static void put_pct_cell(struct spy_sink *s, uint64_t part, uint64_t whole)
{
    spy_sink_printf(s, "<td class=\"n\" data-v=\"%.4f\">%.1f%%</td>", spy_pct(part, whole), spy_pct(part, whole));
}

int spy_report_wall_html(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s)
{
    struct spy_wall w;
    char label[600], fl[32];
    int rc = analyse(p, o, s, &w);
    if (rc != 0)
        return rc > 0 ? 0 : -1;

    spy_sink_puts(s, "<section id=\"wall\"><h2>Where requests wait</h2>\n<p class=\"note\">asyncio task wall "
                     "time per endpoint (the route function under each request task): how long its tasks were on "
                     "the CPU, ready to run (waiting for the event loop) and waiting (awaiting something), what "
                     "the waiting ones awaited and where the CPU time went. In flight: task seconds over the span, "
                     "the mean number of its requests open at once. Tasks outside any route count under "
                     "<em>no endpoint</em>.</p>\n");
    in_flight_text(w.ms, w.duration, fl, sizeof(fl));
    spy_sink_printf(s, "<p>%.2f task-s", (double)w.ms / 1000.0);
    if (w.duration > 0)
        spy_sink_printf(s, " over %.1f s (%s tasks in flight on average)", w.duration, fl);
    spy_sink_printf(s, ": %.1f%% on CPU, %.1f%% ready, %.1f%% waiting.</p>\n",
                    spy_pct(w.state_ms[SPY_VIEW_RUNNING], w.ms), spy_pct(w.state_ms[SPY_VIEW_READY], w.ms),
                    spy_pct(w.state_ms[SPY_VIEW_WAITING], w.ms));
    spy_sink_puts(s, "<div class=\"scroll\"><table class=\"sortable\" id=\"wall-table\"><thead><tr>"
                     "<th>endpoint</th><th class=\"n\">task-s</th><th class=\"n\">in flight</th>"
                     "<th class=\"n\">on CPU</th><th class=\"n\">ready</th><th class=\"n\">waiting</th>"
                     "<th style=\"width:120px\">split</th><th>where the time goes</th></tr></thead><tbody>\n");
    for (uint32_t e = 0; e < w.nendpoints; e++) {
        const struct spy_wall_endpoint *ep = &w.endpoints[e];
        endpoint_label(ep, label, sizeof(label));
        spy_sink_puts(s, "<tr><td class=\"fn\">");
        spy_sink_xml_str(s, label);
        spy_sink_printf(s, "</td><td class=\"n\" data-v=\"%" PRIu64 "\">%.2f</td>", ep->ms, (double)ep->ms / 1000.0);
        double v = spy_wall_in_flight(ep->ms, w.duration);
        in_flight_text(ep->ms, w.duration, fl, sizeof(fl));
        spy_sink_printf(s, "<td class=\"n\" data-v=\"%.4f\">%s</td>", v < 0 ? 0 : v, fl);
        for (int st = 0; st < SPY_VIEW_STATES; st++)
            put_pct_cell(s, ep->state_ms[st], ep->ms);
        spy_sink_printf(s, "<td data-v=\"%.4f\"><div style=\"display:flex;height:10px;border-radius:4px;"
                        "overflow:hidden\">", spy_pct(ep->state_ms[SPY_VIEW_WAITING], ep->ms));
        for (int st = 0; st < SPY_VIEW_STATES; st++)
            if (ep->state_ms[st])
                spy_sink_printf(s, "<div title=\"%s\" style=\"width:%.1f%%;background:%s\"></div>", state_names[st],
                                spy_pct(ep->state_ms[st], ep->ms), state_colours[st]);
        spy_sink_puts(s, "</div></td><td><ul class=\"wall-where\" style=\"margin:0;padding-left:16px\">");
        for (int kind = 0; kind < 2; kind++) {
            const struct spy_wall_fn *list = kind == 0 ? ep->awaiting : ep->on_cpu;
            uint32_t n = kind == 0 ? ep->nawaiting : ep->non_cpu;
            for (uint32_t i = 0; i < n && i < LIST_MAX; i++) {
                if (spy_pct(list[i].ms, ep->ms) < LIST_MIN_PCT)
                    break;
                spy_sink_printf(s, "<li>%.1f%% %s <span class=\"fn\">", spy_pct(list[i].ms, ep->ms),
                                kind == 0 ? "awaiting" : "on CPU in");
                put_fn_html(s, &list[i]);
                spy_sink_puts(s, "</span></li>");
            }
        }
        spy_sink_puts(s, "</ul></td></tr>\n");
    }
    spy_sink_puts(s, "</tbody></table></div></section>\n");
    spy_wall_free(&w);
    return s->failed ? -1 : 0;
}
