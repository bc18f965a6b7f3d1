/*
 * report_diff.c — what changed between two profiles, for "did my change
 * help?": categories and functions whose share of active samples grew or
 * shrank most (shares, not counts, so recordings of different lengths or
 * rates compare), and in HTML a differential flame graph.
 *
 * Both profiles are analysed with the same rules (spy_analyse), and
 * functions are matched by (name, file).  The flame graph merges the two
 * call trees by frame label, path by path; each box is as wide as its
 * share of the current profile and coloured by its change of share: red
 * grew, blue shrank, white unchanged (saturated at the largest change).
 * Paths only in the base have no width and are listed in the tables only.
 *
 * Runs on the caller's thread; reads the profiles only.
 */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

#define NONE UINT32_MAX

struct fn_delta {
    const struct spy_fn_stat *base, *cur;
    double own_delta, total_delta;      /* percentage points */
};

struct pair_set {
    struct spy_analysis base, cur;
    struct fn_delta *d;
    uint32_t nd;
    double max_abs;
};

static uint64_t hash_str(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static double share(uint64_t v, uint64_t total)
{
    return total ? 100.0 * (double)v / (double)total : 0;
}

static int compare_delta(const void *pa, const void *pb)
{
    const struct fn_delta *a = pa, *b = pb;
    double x = a->own_delta < 0 ? -a->own_delta : a->own_delta;
    double y = b->own_delta < 0 ? -b->own_delta : b->own_delta;
    if (x != y)
        return x > y ? -1 : 1;
    double u = a->total_delta < 0 ? -a->total_delta : a->total_delta;
    double v = b->total_delta < 0 ? -b->total_delta : b->total_delta;
    return u > v ? -1 : u < v;
}

/* Analyses both and matches their functions. */
static int compare_profiles(const struct spy_profile *b, const struct spy_profile *c,
                            const struct spy_report_options *o, struct pair_set *ps, struct spy_sink *s)
{
    struct spy_categories *own = NULL;
    const struct spy_categories *rules = o ? o->categories : NULL;
    uint32_t *slots = NULL;
    char err[256];
    int rc = -1;

    memset(ps, 0, sizeof(*ps));
    if (!rules) {
        if (spy_categories_default(&own, err, sizeof(err)) != 0)
            goto fail;
        rules = own;
    }
    if (spy_analyse(b, rules, &ps->base, err, sizeof(err)) != 0 || spy_analyse(c, rules, &ps->cur, err, sizeof(err)) != 0)
        goto fail;
    size_t n = (size_t)ps->base.nfns + ps->cur.nfns + 1, size = 16;
    while (size < n * 2)
        size <<= 1;
    ps->d = calloc(n, sizeof(*ps->d));
    slots = malloc(size * sizeof(*slots));
    if (!ps->d || !slots) {
        snprintf(err, sizeof(err), "out of memory comparing profiles");
        goto fail;
    }
    memset(slots, 0xff, size * sizeof(*slots));
    for (int side = 0; side < 2; side++) {
        const struct spy_analysis *a = side ? &ps->cur : &ps->base;
        for (uint32_t i = 0; i < a->nfns; i++) {
            const struct spy_fn_stat *f = &a->fns[i];
            size_t k = hash_str(f->file, hash_str(f->function, 1469598103934665603ull) * 31) & (size - 1);
            for (; slots[k] != NONE; k = (k + 1) & (size - 1)) {
                const struct fn_delta *d = &ps->d[slots[k]];
                const struct spy_fn_stat *g = d->base ? d->base : d->cur;
                if (strcmp(g->function, f->function) == 0 && strcmp(g->file, f->file) == 0)
                    break;
            }
            if (slots[k] == NONE)
                slots[k] = ps->nd++;
            if (side)
                ps->d[slots[k]].cur = f;
            else
                ps->d[slots[k]].base = f;
        }
    }
    for (uint32_t i = 0; i < ps->nd; i++) {
        struct fn_delta *d = &ps->d[i];
        d->own_delta = share(d->cur ? d->cur->own : 0, ps->cur.active) - share(d->base ? d->base->own : 0, ps->base.active);
        d->total_delta = share(d->cur ? d->cur->total : 0, ps->cur.active)
                         - share(d->base ? d->base->total : 0, ps->base.active);
        double m = d->own_delta < 0 ? -d->own_delta : d->own_delta;
        double t = d->total_delta < 0 ? -d->total_delta : d->total_delta;
        if (m > ps->max_abs)
            ps->max_abs = m;
        if (t > ps->max_abs)
            ps->max_abs = t;
    }
    for (int cat = 0; cat < SPY_CAT_COUNT; cat++) {
        double dd = share(ps->cur.cat[cat], ps->cur.active) - share(ps->base.cat[cat], ps->base.active);
        if ((dd < 0 ? -dd : dd) > ps->max_abs)
            ps->max_abs = dd < 0 ? -dd : dd;
    }
    qsort(ps->d, ps->nd, sizeof(*ps->d), compare_delta);
    rc = 0;
    goto cleanup;

fail:
    s->failed = 1;
    snprintf(s->error, sizeof(s->error), "%s", err);
    spy_analysis_free(&ps->base);
    spy_analysis_free(&ps->cur);
    free(ps->d);
    ps->d = NULL;
cleanup:
    spy_categories_free(own);
    free(slots);
    return rc;
}

static void free_pairs(struct pair_set *ps)
{
    spy_analysis_free(&ps->base);
    spy_analysis_free(&ps->cur);
    free(ps->d);
}

#define NO_CHANGE 0.1     /* percentage points below which nothing changed */

int spy_report_diff_text(const struct spy_profile *b, const struct spy_profile *c,
                         const struct spy_report_options *o, struct spy_sink *s)
{
    struct pair_set ps;
    char label[600];
    int top = o && o->top > 0 ? o->top : 20;

    if (s->failed || compare_profiles(b, c, o, &ps, s) != 0)
        return -1;
    spy_sink_puts(s, "spyagent profile diff (shares of active samples; + grew, - shrank)\n"
                     "==============================================================================\n");
    spy_duration_text(ps.base.duration, ps.base.rate, label, sizeof(label));
    spy_sink_printf(s, "Base     %" PRIu64 " active samples, %" PRIu32 " functions, duration %s\n", ps.base.active,
                    ps.base.nfns, label);
    spy_duration_text(ps.cur.duration, ps.cur.rate, label, sizeof(label));
    spy_sink_printf(s, "Current  %" PRIu64 " active samples, %" PRIu32 " functions, duration %s\n", ps.cur.active,
                    ps.cur.nfns, label);
    if (ps.max_abs < NO_CHANGE) {
        spy_sink_printf(s, "\nNo change: no category or function moved by %.1f percentage points or more.\n",
                        NO_CHANGE);
        free_pairs(&ps);
        return s->failed ? -1 : 0;
    }
    spy_sink_puts(s, "\nCategories          base  current    change\n");
    for (int cat = 0; cat < SPY_CAT_COUNT; cat++) {
        double x = share(ps.base.cat[cat], ps.base.active), y = share(ps.cur.cat[cat], ps.cur.active);
        spy_sink_printf(s, "  %-15s %5.1f%%   %5.1f%%   %+6.1f pp\n", spy_category_name(cat), x, y, y - x);
    }
    spy_sink_printf(s, "\nFunctions whose share changed most (top %d, by own share)\n", top);
    spy_sink_puts(s, "  own base  own cur   change  total change  function\n");
    for (uint32_t i = 0; i < ps.nd && i < (uint32_t)top; i++) {
        const struct fn_delta *d = &ps.d[i];
        double m = d->own_delta < 0 ? -d->own_delta : d->own_delta;
        double t = d->total_delta < 0 ? -d->total_delta : d->total_delta;
        if (m < NO_CHANGE && t < NO_CHANGE)
            break;
        spy_fn_label(d->cur ? d->cur : d->base, label, sizeof(label));
        spy_sink_printf(s, "  %7.1f%%  %6.1f%%  %+6.1f pp  %+6.1f pp  %s%s\n",
                        share(d->base ? d->base->own : 0, ps.base.active),
                        share(d->cur ? d->cur->own : 0, ps.cur.active), d->own_delta, d->total_delta, label,
                        !d->base ? "  (new)" : !d->cur ? "  (gone)" : "");
    }
    free_pairs(&ps);
    return s->failed ? -1 : 0;
}

/* ---- the differential flame graph ---- */

struct dnode {
    uint32_t parent, key, depth;
    uint64_t base, cur;
    uint32_t first_kid, nkids;
};

struct dtree {
    struct dnode *n;
    uint32_t count, cap;
    uint32_t *tab;
    size_t tab_size;
    const char **keys;             /* key -> label text */
    uint32_t nkeys, keys_cap;
    uint32_t *ktab;
    size_t ktab_size;
    uint32_t *kids;
};

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    return k ^ (k >> 33);
}

static int dt_rehash(struct dtree *t)
{
    size_t size = t->tab_size ? t->tab_size * 2 : 4096;
    uint32_t *tab = malloc(size * sizeof(*tab));
    if (!tab)
        return -1;
    memset(tab, 0xff, size * sizeof(*tab));
    for (uint32_t i = 1; i < t->count; i++) {
        size_t k = mix((uint64_t)t->n[i].parent << 32 | t->n[i].key) & (size - 1);
        while (tab[k] != NONE)
            k = (k + 1) & (size - 1);
        tab[k] = i;
    }
    free(t->tab);
    t->tab = tab;
    t->tab_size = size;
    return 0;
}

static uint32_t dt_child(struct dtree *t, uint32_t parent, uint32_t key)
{
    if ((size_t)t->count * 2 + 2 > t->tab_size && dt_rehash(t) != 0)
        return NONE;
    size_t k = mix((uint64_t)parent << 32 | key) & (t->tab_size - 1);
    for (; t->tab[k] != NONE; k = (k + 1) & (t->tab_size - 1))
        if (t->n[t->tab[k]].parent == parent && t->n[t->tab[k]].key == key)
            return t->tab[k];
    if (t->count == t->cap) {
        uint32_t cap = t->cap * 2;
        struct dnode *nn = realloc(t->n, (size_t)cap * sizeof(*nn));
        if (!nn)
            return NONE;
        t->n = nn;
        t->cap = cap;
    }
    t->n[t->count] = (struct dnode){ .parent = parent, .key = key, .depth = t->n[parent].depth + 1 };
    t->tab[k] = t->count;
    return t->count++;
}

/* Label text -> key, shared by both profiles (texts live in their labels). */
static uint32_t dt_key(struct dtree *t, const char *text)
{
    if ((size_t)t->nkeys * 2 + 2 > t->ktab_size) {
        size_t size = t->ktab_size ? t->ktab_size * 2 : 4096;
        uint32_t *tab = malloc(size * sizeof(*tab));
        if (!tab)
            return NONE;
        memset(tab, 0xff, size * sizeof(*tab));
        for (uint32_t i = 0; i < t->nkeys; i++) {
            size_t k = hash_str(t->keys[i], 1469598103934665603ull) & (size - 1);
            while (tab[k] != NONE)
                k = (k + 1) & (size - 1);
            tab[k] = i;
        }
        free(t->ktab);
        t->ktab = tab;
        t->ktab_size = size;
    }
    size_t k = hash_str(text, 1469598103934665603ull) & (t->ktab_size - 1);
    for (; t->ktab[k] != NONE; k = (k + 1) & (t->ktab_size - 1))
        if (strcmp(t->keys[t->ktab[k]], text) == 0)
            return t->ktab[k];
    if (t->nkeys == t->keys_cap) {
        uint32_t cap = t->keys_cap ? t->keys_cap * 2 : 1024;
        const char **nk = realloc(t->keys, (size_t)cap * sizeof(*nk));
        if (!nk)
            return NONE;
        t->keys = nk;
        t->keys_cap = cap;
    }
    t->keys[t->nkeys] = text;
    t->ktab[k] = t->nkeys;
    return t->nkeys++;
}

static int dt_add(struct dtree *t, const struct spy_profile *p, const struct spy_labels *l, bool current)
{
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *smp = &p->samples[i];
        if (smp->count == 0 || (smp->flags & (SPY_FLAG_IDLE | SPY_FLAG_TASK)))
            continue;
        uint32_t cur = 0;
        for (uint32_t k = 0; k <= smp->depth; k++) {
            uint64_t *v = current ? &t->n[cur].cur : &t->n[cur].base;
            *v += smp->count;
            if (k == smp->depth)
                break;
            uint32_t key = dt_key(t, spy_label(l, p->frame_ids[smp->first + smp->depth - 1 - k]));
            if (key == NONE || (cur = dt_child(t, cur, key)) == NONE)
                return -1;
        }
    }
    return 0;
}

static const struct dtree *sort_tree;

static int compare_kids(const void *pa, const void *pb)
{
    const struct dnode *a = &sort_tree->n[*(const uint32_t *)pa], *b = &sort_tree->n[*(const uint32_t *)pb];
    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    return strcmp(sort_tree->keys[a->key], sort_tree->keys[b->key]);
}

static uint32_t diff_colour(double delta, double max)
{
    double k = max > 0 ? delta / max : 0;
    if (k > 1)
        k = 1;
    if (k < -1)
        k = -1;
    /* white -> red (#d62728) or blue (#1f6fd6) */
    double r, g, b;
    if (k >= 0) {
        r = 255 - k * (255 - 214);
        g = 255 - k * (255 - 39);
        b = 255 - k * (255 - 40);
    } else {
        k = -k;
        r = 255 - k * (255 - 31);
        g = 255 - k * (255 - 111);
        b = 255 - k * (255 - 214);
    }
    return (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
}

static int diff_flame(struct spy_sink *s, const struct spy_profile *bp, const struct spy_profile *cp)
{
    struct spy_labels lb = { 0 }, lc = { 0 };
    struct dtree t = { 0 };
    uint32_t *stack = NULL;
    uint64_t *xs = NULL;
    int rc = -1;

    t.cap = 4096;
    t.n = malloc(t.cap * sizeof(*t.n));
    if (!t.n || spy_labels_build(&lb, bp) != 0 || spy_labels_build(&lc, cp) != 0 || dt_rehash(&t) != 0)
        goto cleanup;
    t.n[0] = (struct dnode){ .parent = NONE, .key = NONE };
    t.count = 1;
    if (dt_add(&t, bp, &lb, false) != 0 || dt_add(&t, cp, &lc, true) != 0)
        goto cleanup;
    t.kids = malloc((size_t)t.count * sizeof(*t.kids));
    stack = malloc((size_t)t.count * sizeof(*stack));
    xs = malloc((size_t)t.count * sizeof(*xs));
    if (!t.kids || !stack || !xs)
        goto cleanup;
    for (uint32_t i = 1; i < t.count; i++)
        t.kids[i - 1] = i;
    sort_tree = &t;
    qsort(t.kids, t.count - 1, sizeof(*t.kids), compare_kids);
    for (uint32_t j = t.count - 1; j-- > 0;) {
        struct dnode *par = &t.n[t.n[t.kids[j]].parent];
        par->first_kid = j;
        par->nkids++;
    }
    uint64_t tb = t.n[0].base, tc = t.n[0].cur;
    const double W = 1180, X0 = 10, H = 16, MIN_W = 0.5;
    double scale = tc ? W / (double)tc : 0;
    uint32_t maxd = 0;
    double max_delta = 0;
    for (uint32_t i = 0; i < t.count; i++) {
        if ((double)t.n[i].cur * scale < MIN_W)
            continue;
        if (t.n[i].depth > maxd)
            maxd = t.n[i].depth;
        double d = share(t.n[i].cur, tc) - share(t.n[i].base, tb);
        if ((d < 0 ? -d : d) > max_delta)
            max_delta = d < 0 ? -d : d;
    }
    int height = (int)((maxd + 1) * H) + 40;
    spy_sink_printf(s, "<svg id=\"diff-flame\" xmlns=\"http://www.w3.org/2000/svg\" width=\"100%%\" viewBox=\"0 0 1200 %d\" "
                    "style=\"max-width:1200px;font:11px 'DejaVu Sans',Verdana,sans-serif\">\n", height);
    uint32_t top = 0;
    if (tc) {
        stack[top] = 0;
        xs[top++] = 0;
    }
    while (top > 0 && !s->failed) {
        top--;
        uint32_t i = stack[top];
        uint64_t x = xs[top];
        const struct dnode *nd = &t.n[i];
        double pw = (double)nd->cur * scale;
        if (pw < MIN_W)
            continue;
        double px = X0 + (double)x * scale;
        double y = 10 + (double)(maxd - nd->depth) * H;
        double d = share(nd->cur, tc) - share(nd->base, tb);
        const char *text = nd->key == NONE ? "all" : t.keys[nd->key];
        spy_sink_printf(s, "<g><title>");
        spy_sink_xml_str(s, text);
        spy_sink_printf(s, " \xe2\x80\x94 base %.2f%%, current %.2f%% (%+.2f pp)</title>"
                        "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"15\" fill=\"#%06" PRIx32
                        "\" stroke=\"#fff\" stroke-width=\"0.5\"/>", share(nd->base, tb), share(nd->cur, tc), d,
                        px, y, pw, diff_colour(d, max_delta));
        if (pw > 40) {
            size_t fit = (size_t)((pw - 6) / 6.5), len = strlen(text);
            char cut[256];
            snprintf(cut, sizeof(cut), "%.*s%s", (int)(len > fit ? (fit > 2 ? fit - 2 : 0) : len), text,
                     len > fit ? ".." : "");
            spy_sink_printf(s, "<text x=\"%.1f\" y=\"%.0f\" fill=\"#111\">", px + 3, y + 11);
            spy_sink_xml_str(s, cut);
            spy_sink_puts(s, "</text>");
        }
        spy_sink_puts(s, "</g>\n");
        uint64_t end = x;
        for (uint32_t k = 0; k < nd->nkids; k++)
            end += t.n[t.kids[nd->first_kid + k]].cur;
        for (uint32_t k = nd->nkids; k-- > 0;) {
            uint32_t c = t.kids[nd->first_kid + k];
            end -= t.n[c].cur;
            stack[top] = c;
            xs[top++] = end;
        }
    }
    spy_sink_printf(s, "<text x=\"10\" y=\"%d\" fill=\"#555\">Width: share of the current profile. Colour: change of "
                    "share (red grew, blue shrank; full colour = %.1f pp). Hover a box for its figures.</text>\n",
                    height - 10, max_delta);
    spy_sink_puts(s, "</svg>\n");
    rc = s->failed ? -1 : 0;

cleanup:
    if (rc != 0 && !s->failed) {
        s->failed = 1;
        snprintf(s->error, sizeof(s->error), "out of memory drawing the differential flame graph");
    }
    spy_labels_free(&lb);
    spy_labels_free(&lc);
    free(t.n);
    free(t.tab);
    free(t.keys);
    free(t.ktab);
    free(t.kids);
    free(stack);
    free(xs);
    return rc;
}

static void delta_cell(struct spy_sink *s, double d)
{
    spy_sink_printf(s, "<td class=\"n\" data-v=\"%.4f\" style=\"color:%s\">%+.2f pp</td>", d,
                    d > 0.05 ? "#b42318" : d < -0.05 ? "#1f5fbf" : "#555", d);
}

int spy_report_diff_html(const struct spy_profile *b, const struct spy_profile *c,
                         const struct spy_report_options *o, struct spy_sink *s)
{
    struct pair_set ps;
    int top = o && o->top > 0 ? o->top : 30;

    if (s->failed || compare_profiles(b, c, o, &ps, s) != 0)
        return -1;
    spy_sink_puts(s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Profile diff</title>\n"
                     "<style>body{margin:0;font:14px/1.45 'DejaVu Sans',Helvetica,Arial,sans-serif;color:#1f2328}"
                     "header{background:#24292f;color:#fff;padding:20px 32px}header h1{margin:0;font-size:22px}"
                     "main{max-width:1240px;margin:0 auto;padding:8px 32px 40px}h2{font-size:17px;border-bottom:1px solid #d8dee4;padding-bottom:6px;margin-top:26px}"
                     "table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:left}"
                     "th{background:#f6f8fa;cursor:pointer}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
                     "td.fn{font-family:'DejaVu Sans Mono',monospace;font-size:12px}.note{color:#656d76;font-size:12px}</style>\n"
                     "</head><body><header><h1>Profile diff</h1></header><main>\n");
    char bd[96], cd[96];
    spy_duration_text(ps.base.duration, ps.base.rate, bd, sizeof(bd));
    spy_duration_text(ps.cur.duration, ps.cur.rate, cd, sizeof(cd));
    spy_sink_printf(s, "<p>Base: %" PRIu64 " active samples, duration %s. Current: %" PRIu64 " active samples, "
                    "duration %s. Shares are of each profile's active samples; changes in percentage points (pp).</p>\n",
                    ps.base.active, bd, ps.cur.active, cd);
    if (ps.max_abs < NO_CHANGE)
        spy_sink_printf(s, "<p><strong>No change</strong>: nothing moved by %.1f pp or more.</p>\n", NO_CHANGE);
    spy_sink_puts(s, "<h2>Categories</h2><table class=\"sortable\"><thead><tr><th>category</th><th class=\"n\">base</th>"
                     "<th class=\"n\">current</th><th class=\"n\">change</th></tr></thead><tbody>\n");
    for (int cat = 0; cat < SPY_CAT_COUNT; cat++) {
        double x = share(ps.base.cat[cat], ps.base.active), y = share(ps.cur.cat[cat], ps.cur.active);
        spy_sink_printf(s, "<tr><td>%s</td><td class=\"n\" data-v=\"%.4f\">%.1f%%</td><td class=\"n\" data-v=\"%.4f\">"
                        "%.1f%%</td>", spy_category_name(cat), x, x, y, y);
        delta_cell(s, y - x);
        spy_sink_puts(s, "</tr>\n");
    }
    spy_sink_printf(s, "</tbody></table>\n<h2>Functions whose share changed most</h2><table class=\"sortable\"><thead><tr>"
                    "<th>function</th><th class=\"n\">own base</th><th class=\"n\">own current</th>"
                    "<th class=\"n\">own change</th><th class=\"n\">total change</th></tr></thead><tbody>\n");
    for (uint32_t i = 0; i < ps.nd && i < (uint32_t)top; i++) {
        const struct fn_delta *d = &ps.d[i];
        const struct spy_fn_stat *f = d->cur ? d->cur : d->base;
        char label[600];
        spy_fn_label(f, label, sizeof(label));
        double x = share(d->base ? d->base->own : 0, ps.base.active), y = share(d->cur ? d->cur->own : 0, ps.cur.active);
        spy_sink_puts(s, "<tr><td class=\"fn\">");
        spy_sink_xml_str(s, label);
        spy_sink_printf(s, "%s</td><td class=\"n\" data-v=\"%.4f\">%.2f%%</td><td class=\"n\" data-v=\"%.4f\">%.2f%%</td>",
                        !d->base ? " (new)" : !d->cur ? " (gone)" : "", x, x, y, y);
        delta_cell(s, d->own_delta);
        delta_cell(s, d->total_delta);
        spy_sink_puts(s, "</tr>\n");
    }
    spy_sink_puts(s, "</tbody></table>\n<h2>Differential flame graph</h2>\n");
    diff_flame(s, b, c);
    spy_sink_puts(s, "</main><script>\n"
                     "document.querySelectorAll('table.sortable').forEach(function (t) {\n"
                     "  Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th) {\n"
                     "    th.addEventListener('click', function () {\n"
                     "      var i = th.cellIndex, num = th.classList.contains('n'), dir = th.dataset.dir === 'd' ? 1 : -1;\n"
                     "      th.dataset.dir = dir < 0 ? 'd' : 'a';\n"
                     "      var rows = Array.prototype.slice.call(t.tBodies[0].rows);\n"
                     "      rows.sort(function (a, b) {\n"
                     "        var x = a.cells[i].getAttribute('data-v') || a.cells[i].textContent, y = b.cells[i].getAttribute('data-v') || b.cells[i].textContent;\n"
                     "        if (num) { x = +x; y = +y; }\n"
                     "        return (x < y ? -1 : x > y ? 1 : 0) * dir;\n"
                     "      });\n"
                     "      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });\n"
                     "    });\n"
                     "  });\n"
                     "});\n"
                     "</script></body></html>\n");
    free_pairs(&ps);
    return s->failed ? -1 : 0;
}
