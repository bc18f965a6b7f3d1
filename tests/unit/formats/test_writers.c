/* The writers on a profile made by hand: three threads (one unnamed), a
 * recursion, idle samples, two frames that print alike, names with
 * < & ; " and newlines, non-ASCII and broken UTF-8.  Collapsed lines are
 * checked exactly; the speedscope file and the SVG are checked by Debian's
 * python3.11 (json, xml.dom.minidom), as a person's tools would read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "profile.h"
#include "sink.h"
#include "writers.h"

#define PY "/usr/bin/python3.11"

static const struct { const char *fn, *file; int line; } frames[] = {
    { "main", "/app/main.py", 10 },                                  /* 0 */
    { "handle", "/app/web.py", 20 },                                 /* 1 */
    { "<lambda>", "/app/web.py", 25 },                               /* 2 */
    { "a;b&c\"q", "/app/odd.py", 3 },                                /* 3 */
    { "gr\xc3\xbc\xc3\x9f\x65", "/app/\xc3\xbcn\xc3\xaf.py", 7 },     /* 4 grüße, ünï.py */
    { "fib", "/app/rec.py", 5 },                                     /* 5 */
    { "wait", "/usr/lib/python3.11/threading.py", 320 },            /* 6 */
    { "bad\xff", "/app/x.py", 1 },                                   /* 7 */
    { "handle", "/app/web.py", 20 },                                 /* 8: prints like 1 */
    { "multi\nline", "/app/nl.py", 9 },                              /* 9 */
};

static const struct { uint32_t thread; unsigned flags; uint64_t count; uint32_t depth; uint32_t ids[4]; } samples[] = {
    { 0, 0, 10, 2, { 1, 0 } },
    { 0, 0, 5, 3, { 2, 1, 0 } },
    { 0, 0, 3, 2, { 8, 0 } },
    { 1, 0, 7, 4, { 5, 5, 5, 0 } },
    { 1, SPY_FLAG_IDLE, 20, 2, { 6, 0 } },
    { 2, 0, 4, 3, { 3, 4, 0 } },
    { 2, 0, 2, 2, { 9, 0 } },
    { 0, SPY_FLAG_GIL, 1, 2, { 7, 0 } },
};

static void make_profile(struct spy_profile *p)
{
    memset(p, 0, sizeof(*p));
    p->nframes = sizeof(frames) / sizeof(frames[0]);
    p->frames = calloc(p->nframes, sizeof(*p->frames));
    for (uint32_t i = 0; i < p->nframes; i++) {
        p->frames[i].function = strdup(frames[i].fn);
        p->frames[i].file = strdup(frames[i].file);
        p->frames[i].line = frames[i].line;
        p->frames[i].firstlineno = frames[i].line - (i == 8 ? 2 : 1);
    }
    p->nthreads = 3;
    p->threads = calloc(3, sizeof(*p->threads));
    p->threads[0] = (struct spy_profile_thread){ .tid = 101, .thread_id = 0x1000, .name = "MainThread" };
    p->threads[1] = (struct spy_profile_thread){ .tid = 102, .thread_id = 0x2000, .name = "" };
    p->threads[2] = (struct spy_profile_thread){ .tid = 103, .thread_id = 0x3000, .name = "worker<&>" };
    p->nsamples = sizeof(samples) / sizeof(samples[0]);
    p->samples = calloc(p->nsamples, sizeof(*p->samples));
    for (size_t i = 0; i < p->nsamples; i++)
        p->nframe_ids += samples[i].depth;
    p->frame_ids = calloc(p->nframe_ids, sizeof(*p->frame_ids));
    size_t at = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        p->samples[i] = (struct spy_profile_sample){ .thread = samples[i].thread,
            .depth = samples[i].depth, .first = (uint32_t)at, .flags = samples[i].flags,
            .count = samples[i].count };
        memcpy(p->frame_ids + at, samples[i].ids, samples[i].depth * sizeof(uint32_t));
        at += samples[i].depth;
        p->total += samples[i].count;
    }
    p->start_time = 1700000000.0;
    p->duration = 2.5;
    p->rate = 100;
    p->pid = 4242;
    snprintf(p->program, sizeof(p->program), "python app.py --port 8000");
}

/* Lines strictly sorted (by the part before the count), counts summed. */
static uint64_t check_lines(const char *text, int *nlines)
{
    uint64_t sum = 0;
    const char *prev = NULL;
    size_t prevlen = 0;
    *nlines = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        if (!nl)
            break;
        const char *sp = nl;
        while (sp > line && sp[-1] != ' ')
            sp--;
        CHECK(sp > line);
        sum += strtoull(sp, NULL, 10);
        size_t keylen = (size_t)(sp - 1 - line);
        if (prev) {
            size_t m = prevlen < keylen ? prevlen : keylen;
            int c = memcmp(prev, line, m);
            CHECK(c < 0 || (c == 0 && prevlen < keylen));
        }
        prev = line;
        prevlen = keylen;
        (*nlines)++;
        line = nl + 1;
    }
    return sum;
}

static char *write_mem(int (*fn)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *),
                       const struct spy_profile *p, const struct spy_write_options *o)
{
    struct spy_sink s;
    spy_sink_memory(&s, 0);
    int rc = fn(p, o, &s);
    CHECK(rc == 0);
    CHECK(spy_sink_close(&s) == 0);
    return s.buf;
}

static void test_collapsed(const struct spy_profile *p)
{
    struct spy_write_options o = { 0 };
    char *out = write_mem(spy_write_collapsed, p, &o);
    const char *want =
        "main (/app/main.py:10);bad\xff (/app/x.py:1) 1\n"
        "main (/app/main.py:10);fib (/app/rec.py:5);fib (/app/rec.py:5);fib (/app/rec.py:5) 7\n"
        "main (/app/main.py:10);gr\xc3\xbc\xc3\x9f\x65 (/app/\xc3\xbcn\xc3\xaf.py:7);a:b&c\"q (/app/odd.py:3) 4\n"
        "main (/app/main.py:10);handle (/app/web.py:20) 13\n"
        "main (/app/main.py:10);handle (/app/web.py:20);<lambda> (/app/web.py:25) 5\n"
        "main (/app/main.py:10);multi line (/app/nl.py:9) 2\n";
    CHECK(out && strcmp(out, want) == 0);
    if (out && strcmp(out, want) != 0)
        fprintf(stderr, "collapsed was:\n%s", out);
    int n;
    CHECK(check_lines(out, &n) == 32 && n == 6);
    free(out);

    o.include_idle = true;
    out = write_mem(spy_write_collapsed, p, &o);
    CHECK(check_lines(out, &n) == 52 && n == 7);
    CHECK(strstr(out, "main (/app/main.py:10);wait (/usr/lib/python3.11/threading.py:320) 20\n") != NULL);
    free(out);

    o.by_thread = true;
    out = write_mem(spy_write_collapsed, p, &o);
    CHECK(check_lines(out, &n) == 52 && n == 7);
    CHECK(strstr(out, "thread MainThread (101);main (/app/main.py:10);handle (/app/web.py:20) 13\n") != NULL);
    CHECK(strstr(out, "thread ? (102);main (/app/main.py:10);wait (/usr/lib/python3.11/threading.py:320) 20\n") != NULL);
    CHECK(strstr(out, "thread worker<&> (103);main (/app/main.py:10);multi line (/app/nl.py:9) 2\n") != NULL);
    CHECK(strncmp(out, "thread ? (102);", 15) == 0);  /* '?' sorts before 'M' and 'w' */
    free(out);

    /* the same stack in two threads merges when not split by thread */
    struct spy_profile q = *p;
    struct spy_profile_sample extra[16];
    memcpy(extra, p->samples, p->nsamples * sizeof(extra[0]));
    extra[p->nsamples] = p->samples[0];
    extra[p->nsamples].thread = 2;
    q.samples = extra;
    q.nsamples = p->nsamples + 1;
    o = (struct spy_write_options){ 0 };
    out = write_mem(spy_write_collapsed, &q, &o);
    CHECK(strstr(out, "main (/app/main.py:10);handle (/app/web.py:20) 23\n") != NULL);
    CHECK(check_lines(out, &n) == 42 && n == 6);
    free(out);
}

static int run(const char *cmd)
{
    fflush(stdout);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(int (*fn)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *),
                      const struct spy_profile *p, const struct spy_write_options *o,
                      const char *dir, const char *name)
{
    struct spy_sink s;
    if (spy_sink_file(&s, dir, name) != 0)
        return -1;
    int rc = fn(p, o, &s);
    return spy_sink_close(&s) == 0 ? rc : -1;
}

static const char speedscope_check[] =
    "import json, sys\n"
    "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
    "assert d['$schema'] == 'https://www.speedscope.app/file-format-schema.json'\n"
    "assert d['exporter'] == 'spyagent 0.1.0', d['exporter']\n"
    "assert d['name'] == 'python app.py --port 8000 (pid 4242)', d['name']\n"
    "fr = d['shared']['frames']\n"
    "names = [f['name'] for f in fr]\n"
    "assert all(isinstance(f['file'], str) and isinstance(f['line'], int) for f in fr)\n"
    "assert len(names) == len(set(names)), names\n"
    "assert 'handle (/app/web.py:20)' in names and '<lambda> (/app/web.py:25)' in names\n"
    "assert 'a;b&c\"q (/app/odd.py:3)' in names\n"
    "assert 'gr\\u00fc\\u00dfe (/app/\\u00fcn\\u00ef.py:7)' in names\n"
    "assert 'multi\\nline (/app/nl.py:9)' in names\n"
    "assert 'bad\\ufffd (/app/x.py:1)' in names\n"
    "idle = sys.argv[2] == '1'\n"
    "assert ('wait (/usr/lib/python3.11/threading.py:320)' in names) == idle\n"
    "ps = d['profiles']\n"
    "assert [p['name'] for p in ps] == ['MainThread (101)', '? (102)', 'worker<&> (103)'], [p['name'] for p in ps]\n"
    "total = 0\n"
    "for p in ps:\n"
    "    assert p['type'] == 'sampled' and p['unit'] == 'none' and p['startValue'] == 0\n"
    "    assert len(p['samples']) == len(p['weights']) > 0\n"
    "    assert p['endValue'] == sum(p['weights'])\n"
    "    total += sum(p['weights'])\n"
    "    for st in p['samples']:\n"
    "        assert all(0 <= i < len(fr) for i in st)\n"
    "        assert fr[st[0]]['name'] == 'main (/app/main.py:10)'   # outermost first\n"
    "rec = [st for st in ps[1]['samples'] if len(st) == 4][0]\n"
    "assert [fr[i]['name'] for i in rec[1:]] == ['fib (/app/rec.py:5)'] * 3\n"
    "lam = [st for st in ps[0]['samples'] if len(st) == 3][0]\n"
    "assert [fr[i]['name'] for i in lam] == ['main (/app/main.py:10)', 'handle (/app/web.py:20)', '<lambda> (/app/web.py:25)']\n"
    "assert total == (52 if idle else 32), total\n"
    "assert d['activeProfileIndex'] == (1 if idle else 0)\n";

static const char svg_check[] =
    "import sys, xml.dom.minidom as M\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "doc = M.parseString(raw)\n"
    "text = raw.decode('utf-8')\n"
    "wide = ['&lt;lambda&gt; (web.py:25)', 'a;b&amp;c&quot;q (odd.py:3)', 'gr\\u00fc\\u00dfe (\\u00fcn\\u00ef.py:7)',\n"
    "        'handle (web.py:20)'] if sys.argv[2] == '32' else ['&lt;lambda', 'a;b&amp;c']\n"
    "for s in wide + ['\\\\u003clambda\\\\u003e', 'bad\\ufffd']:\n"
    "    assert s in text, s\n"
    "assert 'http' not in text.replace('http://www.w3.org/2000/svg', '').replace('http://www.w3.org', ''), 'no network'\n"
    "gs = [g for g in doc.getElementsByTagName('g') if g.getAttribute('data-v')]\n"
    "boxes = [tuple(map(int, g.getAttribute('data-v').split())) for g in gs]\n"
    "root = [b for b in boxes if b[2] == 0]\n"
    "assert len(root) == 1 and root[0][:2] == (0, int(sys.argv[2])), root\n"
    "for (x, w, d, l) in boxes:\n"
    "    if d:\n"
    "        assert any(px <= x and x + w <= px + pw for (px, pw, pd, pl) in boxes if pd == d - 1), (x, w, d)\n"
    "for depth in range(1, max(b[2] for b in boxes) + 1):\n"
    "    assert sum(b[1] for b in boxes if b[2] == depth) <= root[0][1]\n"
    "first = sum(b[1] for b in boxes if b[2] == 1)\n"
    "assert first == root[0][1], (first, root)\n"
    "titles = [t for t in doc.getElementsByTagName('text') if t.getAttribute('id') == 'subtitle']\n"
    "sub = titles[0].firstChild.data\n"
    "assert 'pid 4242' in sub and sys.argv[2] in sub.replace(',', ''), sub\n";

/* Runs a Python check script (written into dir) with its arguments. */
static int run_py(const char *dir, const char *name, const char *script, const char *args)
{
    char path[512], cmd[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), PY " %s %s", path, args);
    return run(cmd);
}

static void test_files(const struct spy_profile *p)
{
    char dir[] = "/tmp/spy-test-writers-XXXXXX";
    char cmd[1200];
    CHECK(mkdtemp(dir) != NULL);
    struct spy_write_options o = { 0 };

    CHECK(write_file(spy_write_speedscope, p, &o, dir, "p.speedscope.json") == 0);
    snprintf(cmd, sizeof(cmd), "%s/p.speedscope.json 0", dir);
    CHECK(run_py(dir, "check_speedscope.py", speedscope_check, cmd) == 0);
    o.include_idle = true;
    CHECK(write_file(spy_write_speedscope, p, &o, dir, "pi.speedscope.json") == 0);
    snprintf(cmd, sizeof(cmd), "%s/pi.speedscope.json 1", dir);
    CHECK(run_py(dir, "check_speedscope.py", speedscope_check, cmd) == 0);

    o = (struct spy_write_options){ .title = "Flame <&> graph" };
    CHECK(write_file(spy_write_svg, p, &o, dir, "p.svg") == 0);
    snprintf(cmd, sizeof(cmd), "%s/p.svg 32", dir);
    CHECK(run_py(dir, "check_svg.py", svg_check, cmd) == 0);
    o.include_idle = true;
    o.by_thread = true;
    CHECK(write_file(spy_write_svg, p, &o, dir, "pt.svg") == 0);
    snprintf(cmd, sizeof(cmd), "%s/pt.svg 52", dir);
    CHECK(run_py(dir, "check_svg.py", svg_check, cmd) == 0);
    snprintf(cmd, sizeof(cmd), "grep -qF '\"thread worker\\u003c\\u0026\\u003e (103)\"' %s/pt.svg", dir);
    CHECK(run(cmd) == 0);
    snprintf(cmd, sizeof(cmd), "grep -q '>Flame &lt;&amp;&gt; graph<' %s/pt.svg", dir);
    CHECK(run(cmd) == 0);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(run(cmd) == 0);
}

static void test_edges(struct spy_profile *p)
{
    struct spy_write_options o = { 0 };

    /* a sink over its limit: every writer fails with the sink's reason */
    int (*fns[])(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *) = {
        spy_write_collapsed, spy_write_speedscope, spy_write_svg };
    for (int i = 0; i < 3; i++) {
        struct spy_sink s;
        spy_sink_memory(&s, 200);
        CHECK(fns[i](p, &o, &s) == -1);
        CHECK(s.failed && strstr(s.error, "limit") != NULL);
        free(s.buf);
    }

    /* an empty profile still makes valid, empty outputs */
    struct spy_profile empty = { .pid = 1 };
    for (int i = 0; i < 3; i++) {
        struct spy_sink s;
        spy_sink_memory(&s, 0);
        CHECK(fns[i](&empty, &o, &s) == 0);
        CHECK(i == 0 ? s.len == 0 : s.len > 0);
        free(s.buf);
    }
    /* only idle samples, idle excluded */
    struct spy_profile idle_only = *p;
    idle_only.samples = &p->samples[4];
    idle_only.nsamples = 1;
    char *out = write_mem(spy_write_speedscope, &idle_only, &o);
    CHECK(out && strstr(out, "\"name\":\"(no samples)\"") != NULL);
    free(out);
    out = write_mem(spy_write_svg, &idle_only, &o);
    CHECK(out && strstr(out, "No samples") != NULL);
    free(out);

    /* a profile whose indices are out of range is refused, not read */
    uint32_t saved = p->frame_ids[0];
    p->frame_ids[0] = 999;
    for (int i = 0; i < 3; i++) {
        struct spy_sink s;
        spy_sink_memory(&s, 0);
        CHECK(fns[i](p, &o, &s) == -1 && strstr(s.error, "invalid profile"));
        free(s.buf);
    }
    p->frame_ids[0] = saved;
    p->samples[0].thread = 7;
    struct spy_sink s;
    spy_sink_memory(&s, 0);
    CHECK(spy_write_svg(p, &o, &s) == -1);
    free(s.buf);
    p->samples[0].thread = 0;

    /* labels: canonical ids merge frames that print alike */
    struct spy_labels l;
    CHECK(spy_labels_build(&l, p) == 0);
    CHECK(l.canon[8] == 1 && l.canon[1] == 1 && l.canon[2] == 2);
    CHECK(strcmp(spy_label(&l, 2), "<lambda> (/app/web.py:25)") == 0 && l.len[2] == 25);
    spy_labels_free(&l);
}

int main(void)
{
    struct spy_profile p;
    make_profile(&p);
    test_collapsed(&p);
    test_files(&p);
    test_edges(&p);
    spy_profile_free(&p);
    CHECK(p.frames == NULL && p.nframes == 0);
    spy_profile_free(&p);                   /* twice is harmless */
    return check_report();
}
