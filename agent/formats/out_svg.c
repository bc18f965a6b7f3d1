/*
 * out_svg.c — an interactive flame graph in one self-contained SVG file
 * (inline CSS and script, nothing fetched), in the manner of flamegraph.pl:
 * the root ("all") at the bottom, callees stacked above their callers,
 * each box as wide as its samples, siblings in alphabetical order.
 *
 * How: the samples are merged into a call tree (children merged by label,
 * through one hash table keyed by (parent, label)), children are sorted,
 * and a depth-first walk emits one <g> per box at least MIN_PX wide; a
 * narrower box and its whole subtree are left out, while every emitted
 * box keeps its exact sample count, so widths and totals stay right.  Each
 * box carries "x w depth label" in samples (data-v), so the script can
 * zoom exactly; the labels (function, file, line) are one table in a data
 * script, referenced by index.  Colours: by package or module from the
 * file path (a stable hash), warm hues for application code, gold for
 * installed packages, pale tan for the standard library, grey for
 * <frozen ...> and unknown files.  All text is XML-escaped; the data script
 * is JSON whose <, > and & are \u escapes, so the file parses as XML.
 * The task view (o->tasks): task samples only, a box per task state under
 * the root, widths and the tooltip in ms, the span in the subtitle.
 *
 * Runs on the caller's thread (the writer thread or a test), reads only
 * the profile; memory is proportional to the merged tree.
 */
#include "writers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spyagent.h"

#define IMAGE_W 1200
#define PAD_X 10
#define CHART_W (IMAGE_W - 2 * PAD_X)
#define FRAME_H 16                 /* row pitch; boxes are FRAME_H - 1 high */
#define CHART_TOP 76
#define CHAR_W 7.0                 /* estimated advance of a 12 px glyph */
#define MIN_PX 0.1                 /* narrower boxes are left out */
#define MAX_OMITTED (1u << 21)     /* of those, how many the search still sees */

#define NONE UINT32_MAX

struct node {
    uint32_t parent;
    uint32_t key;                  /* canonical frame id, NFRAMES + thread, or ROOT */
    uint32_t depth;
    uint32_t kid_first;            /* into tree.kids, after sorting */
    uint32_t kid_count;
    uint64_t total;
};

struct tree {
    struct node *nodes;
    uint32_t n, cap;
    uint32_t *table;               /* hash of (parent, key) -> node */
    size_t table_size;             /* a power of two, > 2 * cap */
    uint32_t *kids;                /* non-root nodes sorted by (parent, rank) */
    uint32_t *rank;                /* per key: its place in label order */
};

struct omitted {
    uint64_t x, w;
    uint32_t js;
};

struct svg {
    const struct spy_profile *p;
    const struct spy_write_options *o;
    struct spy_labels labels;
    struct spy_thread_labels threads;
    char **tlabel;                 /* threads.text: per thread, "thread NAME (TID)" */
    uint32_t *tcanon;              /* threads.canon */
    uint32_t nkeys;                /* nframes + nthreads + SPY_VIEW_STATES + 1 (root) */
    uint32_t state0;               /* key of the first task state's box */
    uint32_t *jsidx;               /* per key: index in the script's label table */
    uint32_t *jskeys;              /* the keys in that table, in order */
    uint32_t njs;
    uint32_t *colour;              /* per key: 0xRRGGBB | 1 << 24 once known */
    struct tree t;
    struct omitted *omitted;       /* nodes too narrow to draw, in x order */
    size_t nomitted, omitted_cap;
    bool omitted_incomplete;       /* more than MAX_OMITTED */
};

/* ---- the call tree ---- */

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

static size_t slot_of(const struct tree *t, uint32_t parent, uint32_t key)
{
    return (size_t)mix(((uint64_t)parent << 32) | key) & (t->table_size - 1);
}

static int tree_grow(struct tree *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 1024;
    if (cap < t->cap || cap > UINT32_MAX / 4)
        return -1;
    struct node *nodes = realloc(t->nodes, (size_t)cap * sizeof(*nodes));
    if (!nodes)
        return -1;
    t->nodes = nodes;
    size_t size = 1;
    while (size < (size_t)cap * 2)
        size <<= 1;
    uint32_t *table = malloc(size * sizeof(*table));
    if (!table)
        return -1;
    memset(table, 0xff, size * sizeof(*table));
    free(t->table);
    t->table = table;
    t->table_size = size;
    t->cap = cap;
    for (uint32_t i = 1; i < t->n; i++) {
        size_t k = slot_of(t, t->nodes[i].parent, t->nodes[i].key);
        while (t->table[k] != NONE)
            k = (k + 1) & (size - 1);
        t->table[k] = i;
    }
    return 0;
}

/* The child of `parent` with `key`, made if missing; NONE if out of memory. */
static uint32_t tree_child(struct tree *t, uint32_t parent, uint32_t key)
{
    size_t k = slot_of(t, parent, key);
    for (;; k = (k + 1) & (t->table_size - 1)) {
        uint32_t i = t->table[k];
        if (i == NONE)
            break;
        if (t->nodes[i].parent == parent && t->nodes[i].key == key)
            return i;
    }
    if (t->n == t->cap) {
        if (tree_grow(t) != 0)
            return NONE;
        k = slot_of(t, parent, key);
        while (t->table[k] != NONE)
            k = (k + 1) & (t->table_size - 1);
    }
    uint32_t i = t->n++;
    t->nodes[i] = (struct node){ .parent = parent, .key = key,
                                 .depth = t->nodes[parent].depth + 1 };
    t->table[k] = i;
    return i;
}

static int compare_kids(const void *pa, const void *pb, void *ctx)
{
    const struct tree *t = ctx;
    const struct node *a = &t->nodes[*(const uint32_t *)pa];
    const struct node *b = &t->nodes[*(const uint32_t *)pb];
    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    uint32_t ra = t->rank[a->key], rb = t->rank[b->key];
    return ra < rb ? -1 : ra > rb;
}

static int compare_labels(const void *pa, const void *pb, void *ctx)
{
    const struct spy_labels *l = ctx;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    int c = strcmp(spy_label(l, a), spy_label(l, b));
    return c ? c : (a < b ? -1 : a > b);
}

static int build_tree(struct svg *g)
{
    const struct spy_profile *p = g->p;
    struct tree *t = &g->t;
    uint32_t *order = NULL;
    int rc = -1;

    if (tree_grow(t) != 0)
        goto cleanup;
    t->nodes[0] = (struct node){ .parent = NONE, .key = g->nkeys - 1 };
    t->n = 1;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *smp = &p->samples[i];
        if (!spy_write_included(smp, g->o))
            continue;
        uint32_t cur = 0;
        t->nodes[0].total += smp->count;
        if (g->o->by_thread) {
            cur = tree_child(t, cur, p->nframes + g->tcanon[smp->thread]);
            if (cur == NONE)
                goto cleanup;
            t->nodes[cur].total += smp->count;
        }
        if (g->o->tasks) {
            cur = tree_child(t, cur, g->state0 + (uint32_t)spy_task_state_of(smp->flags));
            if (cur == NONE)
                goto cleanup;
            t->nodes[cur].total += smp->count;
        }
        for (uint32_t k = 0; k < smp->depth; k++) {
            uint32_t f = g->labels.canon[p->frame_ids[smp->first + smp->depth - 1 - k]];
            cur = tree_child(t, cur, f);
            if (cur == NONE)
                goto cleanup;
            t->nodes[cur].total += smp->count;
        }
    }

    /* Rank every key: frames by label text, then threads in profile order. */
    t->rank = malloc((size_t)g->nkeys * sizeof(*t->rank));
    order = malloc(((size_t)p->nframes + 1) * sizeof(*order));
    t->kids = malloc((size_t)t->n * sizeof(*t->kids));
    if (!t->rank || !order || !t->kids)
        goto cleanup;
    uint32_t nu = 0;
    for (uint32_t f = 0; f < p->nframes; f++)
        if (g->labels.canon[f] == f)
            order[nu++] = f;
    qsort_r(order, nu, sizeof(*order), compare_labels, &g->labels);
    for (uint32_t r = 0; r < nu; r++)
        t->rank[order[r]] = r;
    for (uint32_t f = 0; f < p->nframes; f++)
        t->rank[f] = t->rank[g->labels.canon[f]];
    for (uint32_t k = p->nframes; k < g->nkeys; k++)
        t->rank[k] = nu + (k - p->nframes);

    for (uint32_t i = 1; i < t->n; i++)
        t->kids[i - 1] = i;
    qsort_r(t->kids, t->n - 1, sizeof(*t->kids), compare_kids, t);
    for (uint32_t i = 0; i < t->n; i++)
        t->nodes[i].kid_count = 0;
    for (uint32_t j = t->n - 1; j-- > 0;) {
        struct node *par = &t->nodes[t->nodes[t->kids[j]].parent];
        par->kid_first = j;
        par->kid_count++;
    }
    rc = 0;

cleanup:
    free(order);
    return rc;
}

/* ---- colours ---- */

enum category { CAT_APP, CAT_LIB, CAT_STDLIB, CAT_OTHER };

static const char *after(const char *file, const char *marker)
{
    const char *hit = NULL;
    for (const char *q = strstr(file, marker); q; q = strstr(q + 1, marker))
        hit = q;
    return hit ? hit + strlen(marker) : NULL;
}

/* The package or module a file belongs to, and what kind of code it is. */
static enum category module_of(const char *file, const char **mod, size_t *len)
{
    const char *m;
    enum category cat;

    if (!file || !*file || file[0] == '<' || strcmp(file, "?") == 0) {
        *mod = file ? file : "";
        *len = strlen(*mod);
        return CAT_OTHER;
    }
    if ((m = after(file, "/site-packages/")) || (m = after(file, "/dist-packages/"))) {
        cat = CAT_LIB;
    } else if ((m = after(file, "/lib/python")) && (m = strchr(m, '/'))) {
        m++;
        cat = CAT_STDLIB;
    } else {
        *mod = file;                 /* application code: the module is the file */
        *len = strlen(file);
        return CAT_APP;
    }
    size_t n = strcspn(m, "/");
    if (m[n] == '\0' && n > 3 && strcmp(m + n - 3, ".py") == 0)
        n -= 3;
    *mod = m;
    *len = n;
    return cat;
}

static double absd(double v)
{
    return v < 0 ? -v : v;
}

/* h in [0, 360), s and l in [0, 1]. */
static uint32_t hsl(double h, double s, double l)
{
    double c = (1 - absd(2 * l - 1)) * s;
    double hp = h / 60.0;
    double x = c * (1 - absd(hp - 2 * (double)(int)(hp / 2) - 1));
    double r = 0, gr = 0, b = 0;
    if (hp < 1) { r = c; gr = x; }
    else if (hp < 2) { r = x; gr = c; }
    else if (hp < 3) { gr = c; b = x; }
    else if (hp < 4) { gr = x; b = c; }
    else if (hp < 5) { r = x; b = c; }
    else { r = c; b = x; }
    double m = l - c / 2;
    uint32_t R = (uint32_t)((r + m) * 255 + 0.5), G = (uint32_t)((gr + m) * 255 + 0.5),
             B = (uint32_t)((b + m) * 255 + 0.5);
    return R << 16 | G << 8 | B;
}

static uint32_t colour_of(struct svg *g, uint32_t key)
{
    if (g->colour[key])
        return g->colour[key] & 0xffffff;
    uint32_t c;
    if (key >= g->p->nframes) {
        /* root, task states (on CPU, ready, waiting), threads */
        static const uint32_t states[SPY_VIEW_STATES] = { 0xe89a7a, 0xe8cf7a, 0xa9c2de };
        c = key == g->nkeys - 1 ? 0xcfcfd6 : key >= g->state0 ? states[key - g->state0] : 0xd9d6e4;
    } else {
        const char *mod;
        size_t len;
        enum category cat = module_of(g->p->frames[key].file, &mod, &len);
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < len; i++) {
            h ^= (unsigned char)mod[i];
            h *= 1099511628211ull;
        }
        h = mix(h);
        double u1 = (double)(h & 0xffff) / 65535.0, u2 = (double)((h >> 16) & 0xffff) / 65535.0,
               u3 = (double)((h >> 32) & 0xffff) / 65535.0;
        switch (cat) {
        case CAT_APP:    c = hsl(2 + 34 * u1, 0.72 + 0.18 * u2, 0.58 + 0.08 * u3); break;
        case CAT_LIB:    c = hsl(38 + 16 * u1, 0.70 + 0.20 * u2, 0.55 + 0.08 * u3); break;
        case CAT_STDLIB: c = hsl(24 + 20 * u1, 0.35 + 0.15 * u2, 0.70 + 0.06 * u3); break;
        default:         c = hsl(30, 0.08 + 0.06 * u2, 0.76 + 0.04 * u3); break;
        }
    }
    g->colour[key] = c | 1u << 24;
    return c;
}

/* ---- text ---- */

static size_t count_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* The text drawn in a box: "function (basename:line)", a thread's label,
 * or "all". */
static void box_text(const struct svg *g, uint32_t key, char *buf, size_t cap)
{
    const struct spy_profile *p = g->p;
    if (key == g->nkeys - 1) {
        snprintf(buf, cap, "all");
    } else if (key >= g->state0) {
        snprintf(buf, cap, "%s", spy_task_marker((enum spy_view_state)(key - g->state0)));
    } else if (key >= p->nframes) {
        snprintf(buf, cap, "%s", g->tlabel[key - p->nframes]);
    } else {
        const struct spy_profile_frame *f = &p->frames[key];
        const char *file = f->file ? f->file : "?";
        const char *base = strrchr(file, '/');
        snprintf(buf, cap, "%s (%s:%d)", f->function ? f->function : "?",
                 base ? base + 1 : file, f->line);
    }
}

/* Writes at most `fit` characters of text, ending in ".." when cut. */
static int put_fitted(struct spy_sink *s, const char *text, size_t fit)
{
    if (count_chars(text) <= fit)
        return spy_sink_xml_str(s, text);
    char cut[1024];
    size_t keep = fit - 2, n = 0, i = 0;
    for (; text[i] && i < sizeof(cut) - 3; i++) {
        if (((unsigned char)text[i] & 0xc0) != 0x80 && n++ == keep)
            break;
        cut[i] = text[i];
    }
    memcpy(cut + i, "..", 3);
    return spy_sink_xml_str(s, cut);
}

/* ---- the document ---- */

static const char style[] =
    "<style>\n"
    "text{font-family:Verdana,\"DejaVu Sans\",\"Bitstream Vera Sans\",sans-serif;font-size:12px;fill:#222}\n"
    "#title{font-size:17px;font-weight:bold;fill:#111}\n"
    "#subtitle{fill:#555}\n"
    "#frames text{pointer-events:none}\n"
    "#frames g{cursor:pointer}\n"
    "#frames g:hover rect{stroke:#222;stroke-width:1}\n"
    "#frames g.anc{opacity:0.55}\n"
    ".button{cursor:pointer;fill:#1a5fb4;text-decoration:underline}\n"
    ".button:hover{fill:#c01c28}\n"
    ".hidden{display:none}\n"
    "#tip rect{fill:#fffef4;stroke:#888;stroke-width:1}\n"
    "#tip text{font-size:12px}\n"
    "#tip .fn{font-weight:bold}\n"
    "</style>\n";

/* The viewer: hover tooltip, click to zoom (ancestors kept full width and
 * faded, everything outside the frame hidden), reset, and a regex search
 * whose matched share counts each sample once (the union of the matching
 * boxes' sample ranges). */
static const char script[] =
    "<script><![CDATA[\n"
    "(function () {\n"
    "'use strict';\n"
    "var S = window.SPY, SVGNS = 'http://www.w3.org/2000/svg';\n"
    "var frames = document.getElementById('frames');\n"
    "var tip = document.getElementById('tip'), tipBox = tip.firstElementChild;\n"
    "var tipLines = tip.getElementsByTagName('tspan');\n"
    "var resetBtn = document.getElementById('reset'), searchBtn = document.getElementById('search');\n"
    "var clearBtn = document.getElementById('clear'), matched = document.getElementById('matched');\n"
    "var gs = frames.children, n = gs.length;\n"
    "var X = new Float64Array(n), W = new Float64Array(n), D = new Int32Array(n), L = new Int32Array(n);\n"
    "var rects = [], texts = [], fills = [], rootI = 0;\n"
    "for (var i = 0; i < n; i++) {\n"
    "  var v = gs[i].getAttribute('data-v').split(' ');\n"
    "  X[i] = +v[0]; W[i] = +v[1]; D[i] = +v[2]; L[i] = +v[3];\n"
    "  gs[i].spyIndex = i;\n"
    "  rects[i] = gs[i].firstElementChild;\n"
    "  texts[i] = rects[i].nextElementSibling;\n"
    "  fills[i] = rects[i].getAttribute('fill');\n"
    "  if (D[i] === 0) rootI = i;\n"
    "}\n"
    "var labels = S.labels.map(function (l) {\n"
    "  if (l[3] !== 0) return {fn: l[0], where: '', box: l[0], full: l[0]};\n"
    "  var base = l[1].substring(l[1].lastIndexOf('/') + 1);\n"
    "  return {fn: l[0], where: l[1] + ':' + l[2], box: l[0] + ' (' + base + ':' + l[2] + ')',\n"
    "          full: l[0] + ' (' + l[1] + ':' + l[2] + ')'};\n"
    "});\n"
    "function fitText(s, w) {\n"
    "  var fit = Math.floor((w - 6) / S.charW);\n"
    "  if (fit < 3) return '';\n"
    "  var cs = Array.from(s);\n"
    "  return cs.length <= fit ? s : cs.slice(0, fit - 2).join('') + '..';\n"
    "}\n"
    "function pct(v) { return S.total ? (100 * v / S.total).toFixed(2) + '%' : '0%'; }\n"
    "function group(v) { return String(v).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ','); }\n"
    "var zoomed = -1;\n"
    "function place(i, x, w) {\n"
    "  var r = rects[i];\n"
    "  r.setAttribute('x', x.toFixed(1));\n"
    "  r.setAttribute('width', w.toFixed(1));\n"
    "  var t = fitText(labels[L[i]].box, w), el = texts[i];\n"
    "  if (!el && t) {\n"
    "    el = document.createElementNS(SVGNS, 'text');\n"
    "    el.setAttribute('y', (+r.getAttribute('y') + 11.5).toFixed(1));\n"
    "    gs[i].appendChild(el); texts[i] = el;\n"
    "  }\n"
    "  if (el) { el.setAttribute('x', (x + 3).toFixed(1)); el.textContent = t; }\n"
    "}\n"
    "function zoom(z) {\n"
    "  var zx = X[z], zw = W[z], zd = D[z], k = S.chartW / zw;\n"
    "  for (var i = 0; i < n; i++) {\n"
    "    var g = gs[i], show = false;\n"
    "    if (D[i] < zd) {\n"
    "      if (X[i] <= zx && X[i] + W[i] >= zx + zw) { place(i, S.padX, S.chartW); show = true; }\n"
    "      g.classList.toggle('anc', show);\n"
    "    } else if (X[i] >= zx && X[i] + W[i] <= zx + zw) {\n"
    "      place(i, S.padX + (X[i] - zx) * k, W[i] * k); show = true;\n"
    "      g.classList.remove('anc');\n"
    "    }\n"
    "    g.style.display = show ? '' : 'none';\n"
    "  }\n"
    "  zoomed = z === rootI ? -1 : z;\n"
    "  resetBtn.classList.toggle('hidden', zoomed < 0);\n"
    "}\n"
    "function indexOf(e) {\n"
    "  var g = e.target.closest ? e.target.closest('#frames > g') : null;\n"
    "  return g ? g.spyIndex : -1;\n"
    "}\n"
    "var pt = document.documentElement.createSVGPoint();\n"
    "function showTip(e, i) {\n"
    "  var l = labels[L[i]];\n"
    "  tipLines[0].textContent = l.fn;\n"
    "  tipLines[1].textContent = l.where;\n"
    "  tipLines[2].textContent = group(W[i]) + ' @UNIT@, ' + pct(W[i]) + ' of all' +\n"
    "    (zoomed >= 0 && W[zoomed] ? ', ' + (100 * W[i] / W[zoomed]).toFixed(2) + '% of zoomed' : '');\n"
    "  tip.classList.remove('hidden');\n"
    "  var w = 0;\n"
    "  for (var j = 0; j < tipLines.length; j++) w = Math.max(w, tipLines[j].getComputedTextLength());\n"
    "  tipBox.setAttribute('width', (w + 16).toFixed(0));\n"
    "  pt.x = e.clientX; pt.y = e.clientY;\n"
    "  var p = pt.matrixTransform(document.documentElement.getScreenCTM().inverse());\n"
    "  var x = p.x + 14, y = p.y + 18;\n"
    "  if (x + w + 16 > S.width - 2) x = Math.max(2, p.x - w - 30);\n"
    "  if (y + 60 > S.height) y = p.y - 66;\n"
    "  tip.setAttribute('transform', 'translate(' + x.toFixed(0) + ',' + y.toFixed(0) + ')');\n"
    "}\n"
    "frames.addEventListener('mousemove', function (e) {\n"
    "  var i = indexOf(e);\n"
    "  if (i < 0) tip.classList.add('hidden'); else showTip(e, i);\n"
    "});\n"
    "frames.addEventListener('mouseleave', function () { tip.classList.add('hidden'); });\n"
    "frames.addEventListener('click', function (e) {\n"
    "  var i = indexOf(e);\n"
    "  if (i >= 0) { zoom(i); showTip(e, i); }\n"
    "});\n"
    "resetBtn.addEventListener('click', function () { zoom(rootI); });\n"
    "var searching = false;\n"
    "function search(term) {\n"
    "  var re;\n"
    "  try { re = new RegExp(term); } catch (err) { matched.textContent = 'Bad regex: ' + err.message; return; }\n"
    "  var hitL = labels.map(function (l) { return re.test(l.full); });\n"
    "  var hx = [], hw = [];\n"
    "  for (var i = 0; i < n; i++) {\n"
    "    if (hitL[L[i]]) { rects[i].setAttribute('fill', S.matchColour); hx.push(X[i]); hw.push(W[i]); }\n"
    "    else rects[i].setAttribute('fill', fills[i]);\n"
    "  }\n"
    "  var O = S.omitted, ox = 0;\n"
    "  for (var k = 0; k < O.length; k += 3) {\n"
    "    ox += O[k];\n"
    "    if (hitL[O[k + 2]]) { hx.push(ox); hw.push(O[k + 1]); }\n"
    "  }\n"
    "  var idx = hx.map(function (_, j) { return j; });\n"
    "  idx.sort(function (a, b) { return hx[a] - hx[b] || hw[b] - hw[a]; });\n"
    "  var sum = 0, end = -1;\n"
    "  for (var j = 0; j < idx.length; j++) {\n"
    "    var a = hx[idx[j]], b = a + hw[idx[j]];\n"
    "    if (a >= end) { sum += b - a; end = b; } else if (b > end) { sum += b - end; end = b; }\n"
    "  }\n"
    "  searching = true;\n"
    "  matched.textContent = 'Matched: ' + (S.omittedComplete ? '' : '\u2265 ') + pct(sum) +\n"
    "    ' (' + group(sum) + ' @UNIT@)';\n"
    "  clearBtn.classList.remove('hidden');\n"
    "}\n"
    "function clearSearch() {\n"
    "  for (var i = 0; i < n; i++) rects[i].setAttribute('fill', fills[i]);\n"
    "  matched.textContent = ''; searching = false;\n"
    "  clearBtn.classList.add('hidden');\n"
    "}\n"
    "function askSearch() {\n"
    "  var term = window.prompt('Search for a function or file (regular expression):', '');\n"
    "  if (term) search(term);\n"
    "}\n"
    "searchBtn.addEventListener('click', askSearch);\n"
    "clearBtn.addEventListener('click', clearSearch);\n"
    "window.addEventListener('keydown', function (e) {\n"
    "  if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) { e.preventDefault(); askSearch(); }\n"
    "  else if (e.key === 'Escape') { if (searching) clearSearch(); else zoom(rootI); }\n"
    "});\n"
    "window.spyFlame = {zoom: zoom, reset: function () { zoom(rootI); }, search: search, clear: clearSearch};\n"
    "})();\n"
    "]]></script>\n";

static uint32_t js_index(struct svg *g, uint32_t key)
{
    if (g->jsidx[key] == NONE) {
        g->jsidx[key] = g->njs;
        g->jskeys[g->njs++] = key;
    }
    return g->jsidx[key];
}

/* Remembers a node too narrow to draw, for the search's arithmetic. */
static int omit(struct svg *g, uint64_t x, uint64_t w, uint32_t key)
{
    if (g->nomitted == g->omitted_cap) {
        if (g->omitted_cap >= MAX_OMITTED)
            return 1;                /* the search will say "at least" */
        size_t cap = g->omitted_cap ? g->omitted_cap * 2 : 4096;
        struct omitted *o = realloc(g->omitted, cap * sizeof(*o));
        if (!o)
            return -1;
        g->omitted = o;
        g->omitted_cap = cap;
    }
    g->omitted[g->nomitted++] = (struct omitted){ .x = x, .w = w, .js = js_index(g, key) };
    return 0;
}

/* One depth-first walk in x order: boxes at least MIN_PX wide are drawn;
 * narrower ones, with all their descendants, are only recorded. */
static int emit_boxes(struct svg *g, struct spy_sink *s, double scale, uint32_t maxd)
{
    struct tree *t = &g->t;
    uint32_t *stack = NULL;
    uint64_t *xs = NULL;
    uint32_t top = 0;
    int rc = -1;
    char text[1200];

    stack = malloc((size_t)t->n * sizeof(*stack));
    xs = malloc((size_t)t->n * sizeof(*xs));
    if (!stack || !xs)
        goto cleanup;
    if (t->nodes[0].total > 0) {
        stack[0] = 0;
        xs[0] = 0;
        top = 1;
    }
    while (top > 0 && !s->failed) {
        top--;
        uint32_t i = stack[top];
        uint64_t x = xs[top];
        const struct node *nd = &t->nodes[i];
        bool drawn = (double)nd->total * scale >= MIN_PX;
        if (!drawn) {
            int r = omit(g, x, nd->total, nd->key);
            if (r < 0)
                goto cleanup;
            if (r > 0) {
                g->omitted_incomplete = true;
                continue;
            }
        } else {
            double px = PAD_X + (double)x * scale, pw = (double)nd->total * scale;
            int y = CHART_TOP + (int)(maxd - nd->depth) * FRAME_H;
            spy_sink_printf(s, "<g data-v=\"%" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 "\">"
                            "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#%06" PRIx32 "\"/>",
                            x, nd->total, nd->depth, js_index(g, nd->key), px, y, pw, FRAME_H - 1,
                            colour_of(g, nd->key));
            double fit = (pw - 6) / CHAR_W;
            if (fit >= 3) {
                box_text(g, nd->key, text, sizeof(text));
                spy_sink_printf(s, "<text x=\"%.1f\" y=\"%.1f\">", px + 3, y + 11.5);
                put_fitted(s, text, (size_t)fit);
                spy_sink_puts(s, "</text>");
            }
            spy_sink_puts(s, "</g>\n");
        }

        /* Children left to right from x; push right to left. */
        uint64_t end = x;
        for (uint32_t k = 0; k < nd->kid_count; k++)
            end += t->nodes[t->kids[nd->kid_first + k]].total;
        for (uint32_t k = nd->kid_count; k-- > 0;) {
            uint32_t c = t->kids[nd->kid_first + k];
            end -= t->nodes[c].total;
            stack[top] = c;
            xs[top] = end;
            top++;
        }
    }
    rc = s->failed ? -1 : 0;

cleanup:
    free(stack);
    free(xs);
    return rc;
}

/* The omitted nodes as a flat list "dx,w,label,..." in x order (dx from
 * the previous one), compact enough for a few hundred thousand. */
static void put_omitted(struct svg *g, struct spy_sink *s)
{
    uint64_t prev = 0;
    spy_sink_printf(s, "omittedComplete:%s,\nomitted:[", g->omitted_incomplete ? "false" : "true");
    for (size_t i = 0; i < g->nomitted && !s->failed; i++) {
        const struct omitted *o = &g->omitted[i];
        spy_sink_printf(s, "%s%" PRIu64 ",%" PRIu64 ",%" PRIu32, i ? (i % 32 ? "," : ",\n") : "",
                        o->x - prev, o->w, o->js);
        prev = o->x;
    }
    spy_sink_puts(s, "],\n");
}

static void put_labels(struct svg *g, struct spy_sink *s)
{
    const struct spy_profile *p = g->p;
    char text[1200];

    spy_sink_puts(s, "labels:[");
    for (uint32_t j = 0; j < g->njs; j++) {
        uint32_t key = g->jskeys[j];
        spy_sink_puts(s, j ? ",\n[\"" : "\n[\"");
        if (key >= g->state0 && key < g->nkeys - 1) {
            /* kind 3: a task state, which readers take as a frame with no file */
            spy_sink_puts(s, spy_task_marker((enum spy_view_state)(key - g->state0)));
            spy_sink_puts(s, "\",\"\",0,3]");
        } else if (key < p->nframes) {
            const struct spy_profile_frame *f = &p->frames[key];
            spy_sink_json_str_xmlsafe(s, f->function ? f->function : "?");
            spy_sink_puts(s, "\",\"");
            spy_sink_json_str_xmlsafe(s, f->file ? f->file : "?");
            spy_sink_printf(s, "\",%d,0]", f->line);
        } else {
            box_text(g, key, text, sizeof(text));
            spy_sink_json_str_xmlsafe(s, text);
            spy_sink_printf(s, "\",\"\",0,%d]", key == g->nkeys - 1 ? 2 : 1);
        }
    }
    spy_sink_puts(s, "]");
}

int spy_write_svg(const struct spy_profile *p, const struct spy_write_options *o,
                  struct spy_sink *s)
{
    struct svg g = { .p = p, .o = o };
    int rc = -1;

    if (s->failed)
        return -1;
    if (spy_profile_check(p) != 0)
        return spy_sink_fail(s, "invalid profile");
    if (spy_labels_build(&g.labels, p) != 0 || spy_thread_labels_build(&g.threads, p) != 0)
        goto cleanup;
    g.tlabel = g.threads.text;
    g.tcanon = g.threads.canon;
    g.state0 = p->nframes + p->nthreads;
    g.nkeys = g.state0 + SPY_VIEW_STATES + 1;
    g.jsidx = malloc((size_t)g.nkeys * sizeof(*g.jsidx));
    g.jskeys = malloc((size_t)g.nkeys * sizeof(*g.jskeys));
    g.colour = calloc(g.nkeys, sizeof(*g.colour));
    if (!g.jsidx || !g.jskeys || !g.colour)
        goto cleanup;
    memset(g.jsidx, 0xff, (size_t)g.nkeys * sizeof(*g.jsidx));
    if (build_tree(&g) != 0)
        goto cleanup;

    uint64_t total = g.t.nodes[0].total;
    double scale = total ? (double)CHART_W / (double)total : 0;
    uint32_t maxd = 0;
    for (uint32_t i = 0; i < g.t.n; i++)
        if ((double)g.t.nodes[i].total * scale >= MIN_PX && g.t.nodes[i].depth > maxd)
            maxd = g.t.nodes[i].depth;
    int height = CHART_TOP + (int)(maxd + 1) * FRAME_H + 34;

    spy_sink_printf(s, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
                    "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\">\n", IMAGE_W, height, IMAGE_W, height);
    spy_sink_puts(s, style);
    spy_sink_printf(s, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fbfaf7\"/>\n",
                    IMAGE_W, height);
    spy_sink_printf(s, "<text id=\"title\" x=\"%d\" y=\"26\" text-anchor=\"middle\">", IMAGE_W / 2);
    spy_sink_xml_str(s, o->title && *o->title ? o->title : "Flame graph");
    spy_sink_printf(s, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"46\" text-anchor=\"middle\">",
                    IMAGE_W / 2);
    {
        char prog[sizeof(p->program) + 1];
        snprintf(prog, sizeof(prog), "%.*s", (int)sizeof(p->program), p->program);
        spy_sink_xml_str(s, prog[0] ? prog : "(unknown program)");
        spy_sink_printf(s, " \xe2\x80\x94 pid %d \xe2\x80\x94 ", p->pid);
        spy_sink_grouped(s, total);
        /* a profile read from someone else's file may carry any figures:
         * print only values that read back (NaN fails both tests) */
        double duration = p->duration >= 0 && p->duration <= 1e9 ? p->duration : 0;
        int rate = p->rate > 0 && p->rate <= 1000000 ? p->rate : 0;
        if (o->tasks && duration > 0)      /* the reader takes " ms of task wall time in " back */
            spy_sink_printf(s, " ms of task wall time in %.1f s, by task state", duration);
        else if (o->tasks)
            spy_sink_puts(s, " ms of task wall time, duration unknown, by task state");
        else if (duration > 0 && rate <= 0)
            spy_sink_printf(s, " samples in %.1f s", duration);
        else if (duration > 0 || rate > 0)
            spy_sink_printf(s, " samples in %.1f s at %d Hz", duration, rate);
        else
            spy_sink_puts(s, " samples, duration unknown");
        spy_sink_printf(s, "%s%s</text>\n", o->tasks ? "" : o->include_idle ? ", idle included" : ", idle excluded",
                        o->by_thread ? ", by thread" : "");
    }
    spy_sink_printf(s, "<text id=\"reset\" class=\"button hidden\" x=\"%d\" y=\"66\">Reset zoom</text>\n"
                    "<text id=\"search\" class=\"button\" x=\"%d\" y=\"66\" text-anchor=\"end\">Search</text>\n"
                    "<text id=\"clear\" class=\"button hidden\" x=\"%d\" y=\"66\" text-anchor=\"end\">Clear</text>\n",
                    PAD_X, IMAGE_W - PAD_X, IMAGE_W - PAD_X - 60);
    spy_sink_puts(s, "<g id=\"frames\">\n");
    if (emit_boxes(&g, s, scale, maxd) != 0)
        goto cleanup;
    spy_sink_puts(s, "</g>\n");
    if (total == 0)
        spy_sink_printf(s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                        IMAGE_W / 2, CHART_TOP + 12, o->tasks ? "No task wall time" : "No samples");
    spy_sink_printf(s, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n"
                    "<text id=\"hint\" x=\"%d\" y=\"%d\" fill=\"#777\">Click a frame to zoom, "
                    "Ctrl+F or Search to highlight, Esc to reset.</text>\n",
                    IMAGE_W - PAD_X, height - 12, PAD_X, height - 12);
    spy_sink_puts(s, "<g id=\"tip\" class=\"hidden\" pointer-events=\"none\">"
                     "<rect x=\"0\" y=\"0\" width=\"100\" height=\"56\" rx=\"3\"/>"
                     "<text><tspan class=\"fn\" x=\"8\" y=\"16\"></tspan>"
                     "<tspan x=\"8\" y=\"32\"></tspan><tspan x=\"8\" y=\"48\"></tspan></text></g>\n");
    spy_sink_printf(s, "<script>window.SPY={width:%d,height:%d,padX:%d,chartW:%d,charW:%.1f,"
                    "total:%" PRIu64 ",matchColour:\"#e040e0\",\n",
                    IMAGE_W, height, PAD_X, CHART_W, CHAR_W, total);
    put_omitted(&g, s);
    put_labels(&g, s);
    spy_sink_puts(s, "};</script>\n");
    for (const char *q = script, *u; *q; q = u + 6) {     /* @UNIT@: what the widths count */
        u = strstr(q, "@UNIT@");
        if (!u) {
            spy_sink_puts(s, q);
            break;
        }
        spy_sink_write(s, q, (size_t)(u - q));
        spy_sink_puts(s, o->tasks ? "ms" : "samples");
    }
    spy_sink_puts(s, "</svg>\n");
    rc = s->failed ? -1 : 0;

cleanup:
    if (rc != 0)     /* unless the sink failed, every other way here ran out of memory */
        spy_sink_fail(s, "out of memory writing the SVG flame graph");
    spy_thread_labels_free(&g.threads);
    free(g.jsidx);
    free(g.jskeys);
    free(g.colour);
    free(g.omitted);
    free(g.t.nodes);
    free(g.t.table);
    free(g.t.kids);
    free(g.t.rank);
    spy_labels_free(&g.labels);
    return rc;
}
