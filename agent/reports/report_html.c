/*
 * report_html.c — the HTML report: one self-contained file (inline CSS and
 * script, nothing fetched) with the text report's sections: summary cards,
 * a category bar chart (inline SVG), advice naming its functions, sortable
 * tables of endpoints, functions and threads, and the interactive flame
 * graph.  The flame graph is spy_write_svg()'s document, written into a
 * memory sink and embedded as a data: URL in an <iframe>: its script
 * expects to own its document (an SVG root), which inline SVG in HTML
 * would not give it.  Sorting: click a column header; numbers sort by the
 * exact value in data-v, text by its content.
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
#include "writers.h"

#include "spyagent.h"

static const char *const cat_colour[SPY_CAT_COUNT] = {
    "#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#b07aa1", "#59a14f", "#9c9c9c",
};

static const char style[] =
    "<style>\n"
    ":root{--ink:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--accent:#0969da}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:14px/1.45 -apple-system,'Segoe UI','DejaVu Sans',Helvetica,Arial,sans-serif;color:var(--ink);background:#fff}\n"
    "header{background:linear-gradient(135deg,#24292f,#3a4450);color:#fff;padding:22px 32px}\n"
    "header h1{margin:0 0 4px;font-size:22px;font-weight:600}\n"
    "header .sub{color:#c9d1d9;font-size:13px}\n"
    "main{max-width:1240px;margin:0 auto;padding:8px 32px 40px}\n"
    "h2{font-size:17px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-top:18px}\n"
    ".card{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:12px 14px}\n"
    ".card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}\n"
    ".card .v{font-size:22px;font-weight:600;margin-top:2px}\n"
    ".card .d{color:var(--muted);font-size:12px}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}\n"
    "th{background:var(--bg);font-weight:600;position:sticky;top:0;cursor:pointer;user-select:none;white-space:nowrap}\n"
    "th:hover{background:#eaeef2}\n"
    "th.asc::after{content:' \\25B2';font-size:10px}th.desc::after{content:' \\25BC';font-size:10px}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "th.n{text-align:right}\n"
    "tr:hover td{background:#f6f8fa}\n"
    "td.fn{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,monospace;font-size:12px;word-break:break-all}\n"
    ".file{color:var(--muted)}\n"
    ".tag{display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;color:#fff;white-space:nowrap}\n"
    ".bar{height:8px;border-radius:4px;background:var(--accent);opacity:.75}\n"
    ".advice{border:1px solid var(--line);border-left:5px solid #bf8700;border-radius:6px;padding:10px 14px;margin:10px 0;background:#fffdf5}\n"
    ".advice h3{margin:0 0 4px;font-size:15px}\n"
    ".advice .share{color:var(--muted);font-weight:normal}\n"
    ".advice ul{margin:4px 0 6px;padding-left:20px;font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px}\n"
    ".advice p{margin:4px 0 0}\n"
    ".scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:6px}\n"
    "iframe{width:100%;border:1px solid var(--line);border-radius:6px;background:#fbfaf7}\n"
    ".note{color:var(--muted);font-size:12px}\n"
    "footer{color:var(--muted);font-size:12px;margin-top:30px}\n"
    "</style>\n";

static const char script[] =
    "<script>\n"
    "(function () {\n"
    "'use strict';\n"
    "function key(td, num) { var v = td.getAttribute('data-v'); if (v === null) v = td.textContent; return num ? +v : v.toLowerCase(); }\n"
    "document.querySelectorAll('table.sortable').forEach(function (table) {\n"
    "  var ths = table.tHead.rows[0].cells;\n"
    "  Array.prototype.forEach.call(ths, function (th) {\n"
    "    th.addEventListener('click', function () {\n"
    "      var num = th.classList.contains('n'), idx = th.cellIndex;\n"
    "      var asc = th.classList.contains('desc') ? true : th.classList.contains('asc') ? false : !num;\n"
    "      Array.prototype.forEach.call(ths, function (h) { h.classList.remove('asc', 'desc'); });\n"
    "      th.classList.add(asc ? 'asc' : 'desc');\n"
    "      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);\n"
    "      rows.sort(function (a, b) {\n"
    "        var x = key(a.cells[idx], num), y = key(b.cells[idx], num);\n"
    "        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);\n"
    "      });\n"
    "      rows.forEach(function (r) { body.appendChild(r); });\n"
    "    });\n"
    "  });\n"
    "});\n"
    "var f = document.getElementById('flame');\n"
    "if (f) f.addEventListener('load', function () {\n"
    "  try { var d = f.contentDocument; if (d && d.documentElement) f.style.height = (d.documentElement.getAttribute('height') || 600) + 'px'; } catch (e) {}\n"
    "});\n"
    "})();\n"
    "</script>\n";

static void num_cell(struct spy_sink *s, uint64_t v)
{
    spy_sink_printf(s, "<td class=\"n\" data-v=\"%" PRIu64 "\">", v);
    spy_sink_grouped(s, v);
    spy_sink_puts(s, "</td>");
}

static void pct_cell(struct spy_sink *s, uint64_t part, uint64_t whole)
{
    spy_sink_printf(s, "<td class=\"n\" data-v=\"%.4f\">%.1f%%</td>", spy_pct(part, whole), spy_pct(part, whole));
}

static void tag(struct spy_sink *s, int c)
{
    spy_sink_printf(s, "<span class=\"tag\" style=\"background:%s\">%s</span>",
                    c >= 0 ? cat_colour[c] : "#ccc", c >= 0 ? spy_category_name(c) : "-");
}

/* "function" then the short file in grey. */
static void fn_html(struct spy_sink *s, const struct spy_fn_stat *f)
{
    spy_sink_xml_str(s, f->function);
    if (*f->file) {
        spy_sink_puts(s, " <span class=\"file\">");
        spy_sink_xml_str(s, spy_short_file(f->file));
        if (f->line > 0)
            spy_sink_printf(s, ":%d", f->line);
        spy_sink_puts(s, "</span>");
    }
}

static void put_base64(struct spy_sink *s, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4096];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
        if (o + 4 > sizeof(out)) {
            spy_sink_write(s, out, o);
            o = 0;
        }
    }
    spy_sink_write(s, out, o);
}

/* The category bar chart, as inline SVG. */
static void category_chart(struct spy_sink *s, const struct spy_analysis *a)
{
    const int row = 30, label_w = 120, bar_w = 760;
    int h = SPY_CAT_COUNT * row + 10;
    uint64_t max = 1;
    for (int c = 0; c < SPY_CAT_COUNT; c++)
        if (a->cat[c] > max)
            max = a->cat[c];
    spy_sink_printf(s, "<svg id=\"chart\" width=\"100%%\" viewBox=\"0 0 1000 %d\" role=\"img\" "
                    "aria-label=\"samples per category\" style=\"max-width:1000px\">\n", h);
    for (int c = 0; c < SPY_CAT_COUNT; c++) {
        int y = 5 + c * row;
        double w = (double)bar_w * (double)a->cat[c] / (double)max;
        spy_sink_printf(s, "<g class=\"cat\" data-cat=\"%s\"><text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
                        "font-size=\"13\" fill=\"#1f2328\">%s</text>", spy_category_name(c), label_w - 10, y + 18,
                        spy_category_name(c));
        spy_sink_printf(s, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"22\" rx=\"3\" fill=\"#f0f2f4\"/>",
                        label_w, y + 2, bar_w);
        spy_sink_printf(s, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"22\" rx=\"3\" fill=\"%s\">"
                        "<title>%s: %" PRIu64 " samples</title></rect>", label_w, y + 2, w, cat_colour[c],
                        spy_category_name(c), a->cat[c]);
        spy_sink_printf(s, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"#1f2328\">%.1f%% (",
                        label_w + bar_w + 10, y + 18, spy_pct(a->cat[c], a->active));
        spy_sink_grouped(s, a->cat[c]);
        spy_sink_puts(s, ")</text></g>\n");
    }
    spy_sink_puts(s, "</svg>\n");
}

static void card(struct spy_sink *s, const char *k, const char *v, const char *d)
{
    spy_sink_puts(s, "<div class=\"card\"><div class=\"k\">");
    spy_sink_xml_str(s, k);
    spy_sink_puts(s, "</div><div class=\"v\">");
    spy_sink_xml_str(s, v);
    spy_sink_puts(s, "</div><div class=\"d\">");
    spy_sink_xml_str(s, d);
    spy_sink_puts(s, "</div></div>\n");
}

/* The slowest event-loop blocks of the span, each with its stack. */
static void put_loop_blocks(struct spy_sink *s, const struct spy_report_options *o)
{
    size_t order[SPY_REPORT_BLOCKS];
    size_t n = spy_loop_blocks_slowest(o->blocks, o->nblocks, order, SPY_REPORT_BLOCKS);
    spy_sink_printf(s, "<section id=\"loop-blocks\"><h2>Slowest event-loop blocks</h2>\n<p class=\"note\">%zu "
                    "block%s of %d ms or more: the loop's thread kept from its selector by one callback (every "
                    "other request on that loop waited). The stack that held the loop, innermost frame first.</p>\n",
                    o->nblocks, o->nblocks == 1 ? "" : "s", o->block_ms);
    if (n == 0)
        spy_sink_puts(s, "<p>None.</p>\n");
    else
        spy_sink_puts(s, "<ol class=\"blocks\">\n");
    for (size_t i = 0; i < n; i++) {
        const struct spy_loop_block *b = &o->blocks[order[i]];
        char when[32] = "?";
        time_t t = (time_t)b->at;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof(when), "%H:%M:%S", &tm);
        spy_sink_printf(s, "<li><details><summary><b>%" PRId64 " ms</b> ", b->duration_ms);
        spy_sink_xml_str(s, b->endpoint ? b->endpoint : "no endpoint");
        if (b->endpoint_file) {
            spy_sink_puts(s, " <span class=\"note\">(");
            spy_sink_xml_str(s, spy_short_file(b->endpoint_file));
            spy_sink_puts(s, ")</span>");
        }
        spy_sink_puts(s, " &mdash; thread ");
        spy_sink_xml_str(s, b->thread[0] ? b->thread : "?");
        spy_sink_printf(s, " (tid %d, pid %d) at %s</summary>\n<ol class=\"stack\">", b->tid, b->pid, when);
        for (uint32_t k = 0; k < b->nframes && k < SPY_REPORT_BLOCK_FRAMES * 4; k++) {
            spy_sink_puts(s, "<li><code>");
            spy_sink_xml_str(s, b->frames[k].function);
            spy_sink_puts(s, "</code> <span class=\"note\">");
            spy_sink_xml_str(s, spy_short_file(b->frames[k].file));
            spy_sink_printf(s, ":%d</span></li>", b->frames[k].line);
        }
        spy_sink_puts(s, "</ol></details></li>\n");
    }
    if (n)
        spy_sink_puts(s, "</ol>\n");
    spy_sink_puts(s, "</section>\n");
}

/* spy_write_svg()'s document of p, embedded as an <iframe id=ID>, or a
 * sentence saying why it could not be drawn. */
static void embed_flame(struct spy_sink *s, const struct spy_profile *p, const struct spy_write_options *wo,
                        const char *id, const char *what)
{
    struct spy_sink svg;
    spy_sink_memory(&svg, 0);
    if (spy_write_svg(p, wo, &svg) == 0 && spy_sink_close(&svg) == 0) {
        const char *h = strstr(svg.buf, " height=\"");
        int height = h ? atoi(h + 9) : 600;
        /* Chromium refuses data: URLs over 2 MiB (the iframe stays
         * about:blank#blocked), and a flame graph of many stacks is
         * bigger: the page turns the embedded SVG into a blob: URL. */
        spy_sink_printf(s, "<iframe id=\"%s\" title=\"%s\" style=\"height:%dpx\" "
                        "sandbox=\"allow-scripts allow-modals\"></iframe>\n"
                        "<script>(function () {\nvar b = atob(\"", id, what, height + 4);
        put_base64(s, (const unsigned char *)svg.buf, svg.len);
        spy_sink_printf(s, "\");\nvar u = new Uint8Array(b.length);\n"
                        "for (var i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);\n"
                        "document.getElementById('%s').src = URL.createObjectURL("
                        "new Blob([u], {type: 'image/svg+xml'}));\n})();</script>\n", id);
    } else {
        spy_sink_puts(s, "<p>The flame graph could not be drawn: ");
        spy_sink_xml_str(s, svg.error);
        spy_sink_puts(s, "</p>\n");
    }
    free(svg.buf);
}

int spy_report_html(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s)
{
    struct spy_analysis a;
    char v[64], d[128];
    const char *title;
    int top = o && o->top > 0 ? o->top : 20;

    if (spy_report_analyse(p, o, s, &a, &title) != 0)
        return -1;

    spy_sink_puts(s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    spy_sink_puts(s, "Performance report: ");
    spy_sink_xml_str(s, title);
    spy_sink_puts(s, "</title>\n");
    spy_sink_puts(s, style);
    spy_sink_puts(s, "</head><body>\n<header><h1>Performance report</h1><div class=\"sub\">");
    spy_sink_xml_str(s, title);
    if (a.pid)
        spy_sink_printf(s, " &#183; pid %d", a.pid);
    spy_sink_printf(s, " &#183; spyagent %s &#183; category rules: ", SPY_VERSION);
    spy_sink_xml_str(s, a.rules);
    spy_sink_puts(s, "</div></header>\n<main>\n<section id=\"summary\"><div class=\"cards\">\n");

    spy_grouped(a.total, v, sizeof(v));
    if (a.idle)
        snprintf(d, sizeof(d), "%.1f%% active, %.1f%% idle", spy_pct(a.active, a.total), spy_pct(a.idle, a.total));
    else
        snprintf(d, sizeof(d), "all active (idle not recorded)");
    if (a.loop_offcpu)
        snprintf(d + strlen(d), sizeof(d) - strlen(d), "; %.1f%% off the CPU blocking an event loop (counted active)",
                 spy_pct(a.loop_offcpu, a.total));
    card(s, "Samples", v, d);
    if (a.duration > 0)
        snprintf(v, sizeof(v), "%.1f s", a.duration);
    else
        snprintf(v, sizeof(v), "unknown");
    if (a.rate > 0)
        snprintf(d, sizeof(d), "at %d Hz%s", a.rate, a.duration > 0 ? "" : "; the file does not say how long");
    else
        snprintf(d, sizeof(d), a.duration > 0 ? "sampling rate unknown" : "the file does not say");
    card(s, "Duration", v, d);
    spy_grouped(a.nfns, v, sizeof(v));
    card(s, "Functions", v, "unique (name, file)");
    uint32_t busy = 0;
    for (uint32_t t = 0; t < a.nthreads; t++)
        busy += a.threads[t].total > 0;
    snprintf(v, sizeof(v), "%" PRIu32, busy);
    card(s, "Threads", v, "with samples");
    snprintf(v, sizeof(v), "%" PRIu32, a.nendpoints);
    snprintf(d, sizeof(d), "%.1f%% of active samples", spy_pct(a.in_endpoints, a.active));
    card(s, "Endpoints", v, d);
    spy_sink_puts(s, "</div></section>\n");

    spy_sink_puts(s, "<section id=\"categories\"><h2>Categories</h2>\n"
                     "<p class=\"note\">Share of active samples. A sample counts for its innermost frame that a "
                     "rule matches; your own code that no rule matches counts as <em>other</em>.</p>\n");
    category_chart(s, &a);
    spy_sink_puts(s, "</section>\n");

    spy_sink_printf(s, "<section id=\"advice\"><h2>Advice</h2>\n");
    if (a.nadvice == 0)
        spy_sink_puts(s, "<p>Nothing stands out.</p>\n");
    for (int i = 0; i < a.nadvice; i++) {
        const struct spy_advice *adv = &a.advice[i];
        spy_sink_puts(s, "<div class=\"advice\"><h3>");
        spy_sink_xml_str(s, adv->title);
        spy_sink_printf(s, " <span class=\"share\">%.1f%% of active samples</span></h3><ul>", adv->share * 100);
        for (int k = 0; k < adv->nfns; k++) {
            spy_sink_puts(s, "<li>");
            fn_html(s, &a.fns[adv->fns[k]]);
            spy_sink_printf(s, " &#8212; %.1f%%</li>", spy_pct(adv->fn_samples[k], a.active));
        }
        spy_sink_puts(s, "</ul><p>");
        spy_sink_xml_str(s, adv->text);
        spy_sink_puts(s, "</p></div>\n");
    }
    spy_sink_puts(s, "</section>\n");

    spy_sink_puts(s, "<section id=\"endpoints\"><h2>Endpoints</h2>\n");
    if (a.nendpoints == 0) {
        spy_sink_puts(s, "<p>No FastAPI/Starlette endpoint dispatch found in the stacks.</p>\n");
    } else {
        spy_sink_puts(s, "<div class=\"scroll\"><table class=\"sortable\" id=\"endpoints-table\"><thead><tr>"
                         "<th>endpoint</th><th>kind</th><th class=\"n\">samples</th><th class=\"n\">%</th>"
                         "<th>main category</th><th>hottest function under it</th></tr></thead><tbody>\n");
        for (uint32_t e = 0; e < a.nendpoints; e++) {
            const struct spy_endpoint_stat *ep = &a.endpoints[e];
            spy_sink_puts(s, "<tr><td class=\"fn\">");
            fn_html(s, &a.fns[ep->fn]);
            spy_sink_printf(s, "</td><td>%s</td>", ep->on_loop ? "async" : "sync");
            num_cell(s, ep->total);
            pct_cell(s, ep->total, a.active);
            spy_sink_puts(s, "<td>");
            tag(s, spy_main_category(ep->cat));
            spy_sink_puts(s, "</td><td class=\"fn\">");
            fn_html(s, &a.fns[ep->top_fn]);
            spy_sink_puts(s, "</td></tr>\n");
        }
        spy_sink_puts(s, "</tbody></table></div>\n");
    }
    spy_sink_puts(s, "</section>\n");

    spy_report_wall_html(p, o, s);      /* a failure stays in the sink */

    spy_sink_printf(s, "<section id=\"functions\"><h2>Top %d functions</h2>\n"
                    "<p class=\"note\">Own: the function is the innermost frame. Total: it is anywhere on the "
                    "stack (once per sample, even when recursive).</p>\n", top);
    spy_sink_puts(s, "<div class=\"scroll\"><table class=\"sortable\" id=\"functions-table\"><thead><tr>"
                     "<th>function</th><th class=\"n\">own</th><th class=\"n\">own %</th><th class=\"n\">total</th>"
                     "<th class=\"n\">total %</th><th>category</th><th style=\"width:120px\">share</th></tr></thead><tbody>\n");
    uint64_t max_own = a.nfns ? a.fns[0].own : 1;
    for (uint32_t i = 0; i < a.nfns && i < (uint32_t)top; i++) {
        const struct spy_fn_stat *f = &a.fns[i];
        if (f->own == 0)
            break;
        spy_sink_puts(s, "<tr><td class=\"fn\">");
        fn_html(s, f);
        spy_sink_puts(s, "</td>");
        num_cell(s, f->own);
        pct_cell(s, f->own, a.active);
        num_cell(s, f->total);
        pct_cell(s, f->total, a.active);
        spy_sink_puts(s, "<td>");
        tag(s, spy_main_category(f->decided));
        spy_sink_printf(s, "</td><td data-v=\"%" PRIu64 "\"><div class=\"bar\" style=\"width:%.1f%%\"></div></td></tr>\n",
                        f->own, max_own ? 100.0 * (double)f->own / (double)max_own : 0);
    }
    spy_sink_puts(s, "</tbody></table></div></section>\n");

    if (o->blocks_given)
        put_loop_blocks(s, o);

    spy_sink_puts(s, "<section id=\"threads\"><h2>Threads</h2>\n<div class=\"scroll\"><table class=\"sortable\" "
                     "id=\"threads-table\"><thead><tr><th>thread</th><th class=\"n\">tid</th>"
                     "<th class=\"n\">samples</th><th class=\"n\">%</th><th class=\"n\">idle %</th>"
                     "<th>main category</th></tr></thead><tbody>\n");
    for (uint32_t t = 0; t < a.nthreads; t++) {
        const struct spy_thread_stat *ts = &a.threads[t];
        if (ts->total == 0)
            continue;
        const struct spy_profile_thread *th = &p->threads[ts->thread];
        char name[sizeof(th->name) + 1];
        snprintf(name, sizeof(name), "%.*s", (int)sizeof(th->name), th->name[0] ? th->name : "?");
        spy_sink_puts(s, "<tr><td>");
        spy_sink_xml_str(s, name);
        if (ts->loop)
            spy_sink_puts(s, " <span class=\"note\">(event loop)</span>");
        spy_sink_printf(s, "</td><td class=\"n\" data-v=\"%d\">%d</td>", th->tid, th->tid);
        num_cell(s, ts->total);
        pct_cell(s, ts->total, a.total);
        pct_cell(s, ts->idle, ts->total);
        spy_sink_puts(s, "<td>");
        tag(s, ts->total > ts->idle ? spy_main_category(ts->cat) : -1);
        spy_sink_puts(s, "</td></tr>\n");
    }
    spy_sink_puts(s, "</tbody></table></div></section>\n");

    /* the flame graph, from the SVG writer; with a task view, its own
     * flame graph of task wall time after it */
    spy_sink_puts(s, "<section id=\"flamegraph\"><h2>Flame graph</h2>\n"
                     "<p class=\"note\">Click a frame to zoom, Ctrl+F or Search to highlight, Esc to reset.</p>\n");
    struct spy_write_options wo = { .include_idle = false, .by_thread = false, .title = title };
    embed_flame(s, p, &wo, "flame", "flame graph");
    spy_sink_puts(s, "</section>\n");
    if (spy_profile_task_ms(p) > 0) {
        spy_sink_puts(s, "<section id=\"wall-flamegraph\"><h2>Flame graph of task wall time</h2>\n"
                         "<p class=\"note\">Every asyncio task, whether on the CPU, ready or waiting, in "
                         "milliseconds; split at the root by the task's state.</p>\n");
        wo.tasks = true;
        embed_flame(s, p, &wo, "wall-flame", "flame graph of task wall time");
        spy_sink_puts(s, "</section>\n");
    }
    spy_sink_puts(s, "<footer>Generated by spyagent. Shares are of active (non-idle) samples unless noted.</footer>\n"
                     "</main>\n");
    spy_sink_puts(s, script);
    spy_sink_puts(s, "</body></html>\n");
    spy_analysis_free(&a);
    return s->failed ? -1 : 0;
}
