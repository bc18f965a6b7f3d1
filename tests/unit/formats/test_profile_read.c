/* Reading profiles back: py-spy's SVG and speedscope (hand-written
 * fixtures in tests/data), flamegraph.pl-style collapsed stacks, our own
 * three formats round-tripped through the writers (the collapsed output of
 * what was read must equal the original's), and bad input, each with its
 * error.  argv[1]: the tests/data directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "profile.h"
#include "profile_read.h"
#include "sink.h"
#include "writers.h"

static const char *data_dir = "tests/data";

static char *collapsed_of(const struct spy_profile *p)
{
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = true };
    spy_sink_memory(&s, 0);
    if (spy_write_collapsed(p, &o, &s) != 0 || spy_sink_close(&s) != 0) {
        free(s.buf);
        return NULL;
    }
    return s.buf;
}

static uint64_t own_of(const struct spy_profile *p, const char *fn)
{
    uint64_t n = 0;
    for (size_t i = 0; i < p->nsamples; i++)
        if (p->samples[i].depth && strcmp(p->frames[p->frame_ids[p->samples[i].first]].function, fn) == 0)
            n += p->samples[i].count;
    return n;
}

static void fixture(const char *name, const char *want_format)
{
    char path[512], err[600];
    struct spy_profile p;
    const char *fmt = NULL;
    snprintf(path, sizeof(path), "%s/%s", data_dir, name);
    int rc = spy_profile_read(path, &p, &fmt, err, sizeof(err));
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(strcmp(fmt, want_format) == 0);
    CHECK(p.total == 10);
    CHECK(own_of(&p, "compute") == 4 && own_of(&p, "dumps") == 3 && own_of(&p, "work") == 2
          && own_of(&p, "main") == 1 && own_of(&p, "<module>") == 0);
    CHECK(p.nframes == 5);
    for (uint32_t f = 0; f < p.nframes; f++)
        if (strcmp(p.frames[f].function, "compute") == 0)
            CHECK(strcmp(p.frames[f].file, "mylib/calc.py") == 0 && p.frames[f].line == 5);
    /* same stacks as the collapsed fixture */
    char cpath[512];
    struct spy_profile c;
    snprintf(cpath, sizeof(cpath), "%s/pyspy.collapsed.txt", data_dir);
    CHECK(spy_profile_read(cpath, &c, NULL, err, sizeof(err)) == 0);
    char *a = collapsed_of(&p), *b = collapsed_of(&c);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    spy_profile_free(&c);
    spy_profile_free(&p);
}

/* A profile like test_writers': odd names, recursion, threads, idle. */
static void make_profile(struct spy_profile *p)
{
    static const struct { const char *fn, *file; int line; } fr[] = {
        { "main", "/app/main.py", 10 }, { "handle", "/app/web.py", 20 }, { "<lambda>", "/app/web.py", 25 },
        { "a&b<c>\"q", "/app/odd.py", 3 }, { "gr\xc3\xbc\xc3\x9f" "e", "/app/\xc3\xbcn.py", 7 },
        { "fib", "/app/rec.py", 5 }, { "Repo.get (x)", "/app/db.py", 9 },
    };
    static const struct { uint32_t t; uint64_t n; uint32_t d; uint32_t ids[4]; } sm[] = {
        { 0, 10, 2, { 1, 0 } }, { 0, 5, 3, { 2, 1, 0 } }, { 1, 7, 4, { 5, 5, 5, 0 } },
        { 1, 4, 3, { 3, 4, 0 } }, { 0, 3, 2, { 6, 0 } },
    };
    memset(p, 0, sizeof(*p));
    p->nframes = sizeof(fr) / sizeof(fr[0]);
    p->frames = calloc(p->nframes, sizeof(*p->frames));
    for (uint32_t i = 0; i < p->nframes; i++) {
        p->frames[i].function = strdup(fr[i].fn);
        p->frames[i].file = strdup(fr[i].file);
        p->frames[i].line = fr[i].line;
    }
    p->nthreads = 2;
    p->threads = calloc(2, sizeof(*p->threads));
    p->threads[0] = (struct spy_profile_thread){ .tid = 101, .name = "MainThread" };
    p->threads[1] = (struct spy_profile_thread){ .tid = 102, .name = "worker" };
    p->nsamples = sizeof(sm) / sizeof(sm[0]);
    p->samples = calloc(p->nsamples, sizeof(*p->samples));
    p->frame_ids = calloc(64, sizeof(*p->frame_ids));
    for (size_t i = 0; i < p->nsamples; i++) {
        p->samples[i] = (struct spy_profile_sample){ .thread = sm[i].t, .depth = sm[i].d,
                                                     .first = (uint32_t)p->nframe_ids, .count = sm[i].n };
        memcpy(p->frame_ids + p->nframe_ids, sm[i].ids, sm[i].d * sizeof(uint32_t));
        p->nframe_ids += sm[i].d;
        p->total += sm[i].n;
    }
    p->duration = 2.0;
    p->rate = 100;
    p->pid = 4242;
    snprintf(p->program, sizeof(p->program), "python app.py");
}

static void round_trip(void)
{
    struct spy_profile p;
    make_profile(&p);
    char *want = collapsed_of(&p);
    int (*writers[])(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *) = {
        spy_write_collapsed, spy_write_speedscope, spy_write_svg };
    const char *formats[] = { "collapsed", "speedscope", "svg" };
    for (int by_thread = 0; by_thread < 2; by_thread++) {
        for (int w = 0; w < 3; w++) {
            struct spy_sink s;
            struct spy_write_options o = { .include_idle = true, .by_thread = by_thread };
            struct spy_profile q;
            char err[600];
            const char *fmt;
            spy_sink_memory(&s, 0);
            CHECK(writers[w](&p, &o, &s) == 0 && spy_sink_close(&s) == 0);
            int rc = spy_profile_read_mem(formats[w], s.buf, s.len, &q, &fmt, err, sizeof(err));
            CHECK(rc == 0);
            if (rc != 0) {
                fprintf(stderr, "%s: %s\n", formats[w], err);
                free(s.buf);
                continue;
            }
            CHECK(strcmp(fmt, formats[w]) == 0);
            CHECK(q.total == p.total);
            char *got = collapsed_of(&q);
            CHECK(got && want && strcmp(got, want) == 0);
            if (got && want && strcmp(got, want) != 0)
                fprintf(stderr, "%s (by_thread %d):\n%s--- vs\n%s", formats[w], by_thread, got, want);
            if (w == 2) {                   /* the SVG keeps the figures */
                CHECK(q.rate == 100 && q.duration > 1.9 && q.pid == 4242);
                CHECK(strcmp(q.program, "python app.py") == 0);
            }
            if (w == 1 || by_thread)        /* threads survive where written */
                CHECK(q.nthreads == 2);
            free(got);
            free(s.buf);
            spy_profile_free(&q);
        }
    }
    free(want);
    spy_profile_free(&p);
}

/* Boxes under 0.1 px are not drawn in our SVG but listed with their
 * subtrees: stacks of 1 sample next to one of 1,000,000 come back whole. */
static void narrow_boxes(void)
{
    struct spy_profile p;
    memset(&p, 0, sizeof(p));
    p.nframes = 40;
    p.frames = calloc(p.nframes, sizeof(*p.frames));
    for (uint32_t i = 0; i < p.nframes; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%u", i);
        p.frames[i].function = strdup(name);
        p.frames[i].file = strdup("/app/n.py");
        p.frames[i].line = (int)i + 1;
    }
    p.nthreads = 1;
    p.threads = calloc(1, sizeof(*p.threads));
    p.nsamples = 31;
    p.samples = calloc(p.nsamples, sizeof(*p.samples));
    p.frame_ids = calloc(p.nsamples * 4, sizeof(*p.frame_ids));
    for (size_t i = 0; i < p.nsamples; i++) {
        uint32_t *ids = p.frame_ids + p.nframe_ids;
        uint32_t d = i == 0 ? 2 : 4;
        ids[d - 1] = 0;                                   /* f0 at the root */
        ids[d - 2] = i == 0 ? 1 : 2 + (uint32_t)(i % 3);  /* a heavy f1, or narrow f2..f4 */
        if (d == 4) {
            ids[1] = 10 + (uint32_t)(i % 7);
            ids[0] = 20 + (uint32_t)(i % 11);
        }
        p.samples[i] = (struct spy_profile_sample){ .thread = 0, .depth = d, .first = (uint32_t)p.nframe_ids,
                                                    .count = i == 0 ? 1000000 : 1 + i % 2 };
        p.nframe_ids += d;
        p.total += p.samples[i].count;
    }
    char *want = collapsed_of(&p);
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = true };
    spy_sink_memory(&s, 0);
    CHECK(spy_write_svg(&p, &o, &s) == 0 && spy_sink_close(&s) == 0);
    struct spy_profile q;
    char err[600];
    CHECK(spy_profile_read_mem("narrow.svg", s.buf, s.len, &q, NULL, err, sizeof(err)) == 0);
    char *got = collapsed_of(&q);
    CHECK(q.total == p.total && got && want && strcmp(got, want) == 0);
    free(got);
    free(want);
    free(s.buf);
    spy_profile_free(&q);
    spy_profile_free(&p);
}

static void bad(const char *what, const char *data, size_t len, const char *want)
{
    struct spy_profile p;
    char err[600] = "";
    int rc = spy_profile_read_mem("bad.file", data, len, &p, NULL, err, sizeof(err));
    CHECK(rc == -1);
    CHECK(strstr(err, "bad.file: ") == err);
    CHECK(strstr(err, want) != NULL);
    if (!strstr(err, want))
        fprintf(stderr, "%s: got \"%s\", wanted \"%s\"\n", what, err, want);
    if (rc == 0)
        spy_profile_free(&p);
}

static void bad_inputs(void)
{
    bad("empty", "", 0, "empty file");
    bad("blank", " \n\n  ", 5, "only white space");
    bad("binary", "\x7f" "ELF\x02\x01\x01\0\0\0", 10, "binary data");
    bad("no count", "a;b;c\n", 6, "line 1: expected collapsed stacks");
    bad("bad later line", "a;b 3\nfoo bar\n", 14, "line 2");
    bad("cut json", "{\"shared\":{\"frames\":[{\"name\":\"a\"", 32, "truncated JSON");
    bad("other json", "{\"hello\": 1}", 12, "not a speedscope profile");
    const char *bad_index = "{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\"profiles\":[{\"type\":\"sampled\","
                            "\"samples\":[[5]],\"weights\":[1]}]}";
    bad("bad index", bad_index, strlen(bad_index), "refers to a frame");
    const char *evented = "{\"shared\":{\"frames\":[]},\"profiles\":[{\"type\":\"evented\"}]}";
    bad("evented", evented, strlen(evented), "only \"sampled\"");
    const char *svg = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></svg>";
    bad("other svg", svg, strlen(svg), "not a flame graph");
    const char *cut = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><g><title>all (3 samples";
    bad("cut svg", cut, strlen(cut), "truncated SVG");
    const char *html = "<!DOCTYPE html><html><body>hi</body></html>";
    bad("html", html, strlen(html), "not an SVG");
    /* a 3 MiB line: refused after SPY_READ_MAX_LINE */
    size_t n = 3u << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    bad("long line", big, n, "longer than");
    free(big);
}

/* Speedscope is streamed through a 64 KiB window: a file of several
 * windows (names crossing window edges, \u escapes, profiles before
 * "shared", weights before samples, unknown keys with nested values) reads
 * the same from a file as from memory, and as the in-memory order would
 * give; a rate from absurd weights is unknown, not garbage; deep nesting
 * and absurd weights are refused. */
static void speedscope_stream(void)
{
    struct spy_sink s;
    spy_sink_memory(&s, 0);
    spy_sink_puts(&s, "{\"junk\":{\"a\":[[[{\"b\":[1,2,{\"c\":null}]}]]],\"t\":true,\"f\":false},\"profiles\":[");
    for (int t = 0; t < 40; t++) {
        spy_sink_printf(&s, "%s{\"weights\":[", t ? "," : "");
        for (int k = 0; k < 50; k++)
            spy_sink_printf(&s, "%s%s", k ? "," : "", k % 3 ? "0.01" : "2e-2");
        spy_sink_printf(&s, "],\"type\":\"sampled\",\"name\":\"worker \\u00e9%d (%d)\",\"unit\":\"seconds\","
                            "\"startValue\":0,\"endValue\":0.6,\"samples\":[", t, 1000 + t);
        for (int k = 0; k < 50; k++)
            spy_sink_printf(&s, "%s[0,%d,%d]", k ? "," : "", 1 + (k + t) % 30, 1 + (k * 7 + t) % 30);
        spy_sink_puts(&s, "]}");
    }
    spy_sink_puts(&s, "],\"shared\":{\"frames\":[{\"name\":\"<module>\",\"file\":\"app.py\",\"line\":1}");
    for (int f = 1; f <= 30; f++) {
        spy_sink_printf(&s, ",{\"name\":\"handler_\\u4e2d\\ud83d\\ude00_%d_", f);
        for (int k = 0; k < 3000; k++)
            spy_sink_puts(&s, "long");
        spy_sink_printf(&s, "\",\"file\":\"app/routes/r%d.py\",\"line\":%d,\"col\":[1,{\"x\":2}]}", f, f * 10);
    }
    spy_sink_puts(&s, "]},\"exporter\":\"py-spy@0.3.14\",\"name\":\"stream test\"}\n");
    CHECK(!s.failed && s.len > 4 * 65536);

    char path[] = "/tmp/spy-stream-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, s.buf, s.len) == (ssize_t)s.len);
    close(fd);
    struct spy_profile a, b;
    const char *fa = NULL, *fb = NULL;
    char err[600];
    CHECK(spy_profile_read(path, &a, &fa, err, sizeof(err)) == 0);
    CHECK(spy_profile_read_mem("stream.json", s.buf, s.len, &b, &fb, err, sizeof(err)) == 0);
    unlink(path);
    char *ca = collapsed_of(&a), *cb = collapsed_of(&b);
    CHECK(ca && cb && strcmp(ca, cb) == 0);
    CHECK(fa && strcmp(fa, "py-spy speedscope") == 0 && fb && strcmp(fb, "py-spy speedscope") == 0);
    /* 40 threads x (17 samples of 2 + 33 of 1) = 2,680; 100 Hz; 0.6 s */
    CHECK(a.total == 2680 && b.total == 2680 && a.rate == 100 && a.duration > 0.59 && a.duration < 0.61);
    CHECK(a.nthreads == 40 && a.threads[39].tid == 1039 && strcmp(a.threads[0].name, "worker \xc3\xa9" "0") == 0);
    CHECK(a.nframes == 31 && strstr(a.frames[1].function, "handler_\xe4\xb8\xad\xf0\x9f\x98\x80_1_longlong")
          && strcmp(a.frames[1].file, "app/routes/r1.py") == 0 && a.frames[1].line == 10);
    CHECK(strcmp(a.program, "stream test") == 0);
    free(ca);
    free(cb);
    spy_profile_free(&a);
    spy_profile_free(&b);
    free(s.buf);

    /* weights of 1e-12 s and 1 s: no rate (not -2147483648 Hz) */
    const char *tiny = "{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\"profiles\":[{\"type\":\"sampled\",\"unit\":"
                       "\"seconds\",\"startValue\":0,\"endValue\":1,\"samples\":[[0],[0]],\"weights\":[1e-12,1]}]}";
    CHECK(spy_profile_read_mem("tiny.json", tiny, strlen(tiny), &a, NULL, err, sizeof(err)) == 0);
    CHECK(a.rate == 0 && a.duration == 1.0 && a.total == 1000000000001ull);
    spy_sink_memory(&s, 0);
    struct spy_write_options o = { .title = "t" };
    CHECK(spy_write_svg(&a, &o, &s) == 0 && spy_sink_close(&s) == 0);
    CHECK(s.buf && !strstr(s.buf, "Hz") && strstr(s.buf, " samples in 1.0 s, idle excluded"));
    free(s.buf);
    spy_profile_free(&a);

    /* nesting past cJSON's limit, absurd weights */
    size_t n = 2 * 1000 + 64;
    char *deep = malloc(n + 1);
    size_t k = (size_t)snprintf(deep, n, "{\"x\":");
    for (int i = 0; i < 1001; i++)
        deep[k++] = '[';
    deep[k] = '\0';
    bad("deep", deep, k, "nested deeper than 1000");
    free(deep);
    const char *huge = "{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\"profiles\":[{\"type\":\"sampled\",\"unit\":"
                       "\"seconds\",\"samples\":[[0],[0]],\"weights\":[1e-300,1e300]}]}";
    bad("huge weight", huge, strlen(huge), "more than 10^15 samples");
    const char *nul = "{\"shared\":{\"frames\":[{\"name\":\"a\0\"}]}}";
    bad("nul", nul, 34, "binary data");
    const char *lone = "{\"name\":\"\\ud800x\"}";
    bad("surrogate", lone, strlen(lone), "invalid JSON");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        data_dir = argv[1];
    fixture("pyspy_flamegraph.svg", "flamegraph svg");
    fixture("pyspy.speedscope.json", "py-spy speedscope");
    {
        char path[512], err[600];
        struct spy_profile p;
        snprintf(path, sizeof(path), "%s/pyspy.speedscope.json", data_dir);
        if (spy_profile_read(path, &p, NULL, err, sizeof(err)) == 0) {
            CHECK(p.rate == 100);
            CHECK(p.nthreads == 1 && strstr(p.threads[0].name, "MainThread"));
            spy_profile_free(&p);
        }
        struct spy_profile q;
        CHECK(spy_profile_read("/nonexistent/x.svg", &q, NULL, err, sizeof(err)) == -1 && strstr(err, "cannot open"));
        CHECK(spy_profile_read(data_dir, &q, NULL, err, sizeof(err)) == -1 && strstr(err, "directory"));
    }
    round_trip();
    narrow_boxes();
    bad_inputs();
    speedscope_stream();
    return check_report();
}
