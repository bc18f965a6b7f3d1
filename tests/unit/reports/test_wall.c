/* The task view in reports and files, on a hand-made profile: a CPU view
 * plus task wall time (SPY_FLAG_TASK, ms) of two routes and a middleware
 * parent.  The per-endpoint arithmetic (task-s, in flight, on CPU / ready /
 * waiting, what is awaited, where the CPU goes), the reports' section (and
 * none, byte for byte, without task samples), the CPU files unchanged by
 * task samples, and every task file written and read back with the same
 * states and milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "profile.h"
#include "profile_read.h"
#include "report.h"
#include "sink.h"
#include "wall.h"
#include "writers.h"

#define SP "/usr/lib/python3/dist-packages/"
#define STD "/usr/lib/python3.11/"

static const struct { const char *fn, *file; int line, first; } frames[] = {
    { "RequestResponseCycle.run_asgi", SP "uvicorn/protocols/http/h11_impl.py", 428, 420 }, /* 0 */
    { "get_request_handler.<locals>.app", SP "fastapi/routing.py", 301, 250 },           /* 1 */
    { "run_endpoint_function", SP "fastapi/routing.py", 192, 180 },                      /* 2 */
    { "get_user", "/srv/app/main.py", 30, 28 },                                          /* 3 */
    { "fetch", "/srv/app/main.py", 20, 18 },                                             /* 4 */
    { "sleep", STD "asyncio/tasks.py", 605, 590 },                                       /* 5 */
    { "Connection.connect", SP "asyncpg/connection.py", 2100, 2090 },                    /* 6 */
    { "dumps", STD "json/__init__.py", 231, 183 },                                       /* 7 */
    { "BaseHTTPMiddleware.call_next", SP "starlette/middleware/base.py", 80, 60 },       /* 8 */
    { "crunch", "/srv/app/main.py", 50, 48 },                                            /* 9 */
    { "BaseEventLoop._run_once", STD "asyncio/base_events.py", 1922, 1845 },             /* 10 */
    { "sleep", STD "asyncio/tasks.py", 640, 590 },                                       /* 11: other line */
};

#define WAIT (SPY_FLAG_TASK | SPY_FLAG_IDLE)
#define READY (SPY_FLAG_TASK | SPY_FLAG_READY)
#define RUN SPY_FLAG_TASK

static const struct { unsigned flags; uint64_t count; uint32_t depth; uint32_t ids[8]; } samples[] = {
    /* the CPU view */
    { 0, 40, 6, { 7, 3, 2, 1, 0, 10 } },
    { 0, 10, 4, { 9, 2, 1, 0 } },
    { SPY_FLAG_IDLE, 70, 1, { 10 } },
    /* get_user: 1000 ms = 800 waiting (sleep 600, connect 200), 150 on CPU in dumps, 50 ready */
    { WAIT, 450, 6, { 5, 4, 3, 2, 1, 0 } },
    { WAIT, 150, 6, { 11, 4, 3, 2, 1, 0 } },
    { WAIT, 200, 5, { 6, 3, 2, 1, 0 } },
    { RUN, 150, 5, { 7, 3, 2, 1, 0 } },
    { READY, 50, 4, { 3, 2, 1, 0 } },
    /* crunch: 100 ms on CPU; the middleware parent: 300 ms waiting, no endpoint */
    { RUN, 100, 4, { 9, 2, 1, 0 } },
    { WAIT, 300, 2, { 8, 0 } },
};

/* nsamples_used: the first n samples (3 = the CPU view alone). */
static void make(struct spy_profile *p, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->nframes = sizeof(frames) / sizeof(frames[0]);
    p->frames = calloc(p->nframes, sizeof(*p->frames));
    for (uint32_t i = 0; i < p->nframes; i++) {
        p->frames[i].function = strdup(frames[i].fn);
        p->frames[i].file = strdup(frames[i].file);
        p->frames[i].line = frames[i].line;
        p->frames[i].firstlineno = frames[i].first;
    }
    p->nthreads = 1;
    p->threads = calloc(1, sizeof(*p->threads));
    p->threads[0] = (struct spy_profile_thread){ .pid = 777, .tid = 777, .name = "MainThread" };
    p->samples = calloc(n, sizeof(*p->samples));
    p->frame_ids = calloc(8 * n, sizeof(*p->frame_ids));
    for (size_t i = 0; i < n; i++) {
        p->samples[p->nsamples++] = (struct spy_profile_sample){ .thread = 0, .depth = samples[i].depth,
                                                                 .first = (uint32_t)p->nframe_ids,
                                                                 .flags = samples[i].flags, .count = samples[i].count };
        memcpy(p->frame_ids + p->nframe_ids, samples[i].ids, samples[i].depth * sizeof(uint32_t));
        p->nframe_ids += samples[i].depth;
        p->total += samples[i].count;
    }
    p->duration = 2.0;
    p->rate = 100;
    p->pid = 777;
    strcpy(p->program, "uvicorn app.main:app");
}

/* p without the frames no sample uses (what the store builds: every frame
 * of a profile from the store is on some stack). */
static void compact(struct spy_profile *p)
{
    uint32_t *map = malloc(p->nframes * sizeof(*map));
    uint32_t n = 0;
    memset(map, 0xff, p->nframes * sizeof(*map));
    for (size_t i = 0; i < p->nframe_ids; i++)
        map[p->frame_ids[i]] = 0;
    for (uint32_t f = 0; f < p->nframes; f++) {
        if (map[f] == UINT32_MAX) {
            free(p->frames[f].function);
            free(p->frames[f].file);
            continue;
        }
        map[f] = n;
        p->frames[n++] = p->frames[f];
    }
    for (size_t i = 0; i < p->nframe_ids; i++)
        p->frame_ids[i] = map[p->frame_ids[i]];
    p->nframes = n;
    free(map);
}

typedef int (*writer)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *);

static char *write_with(writer w, const struct spy_profile *p, bool tasks, size_t *len)
{
    struct spy_sink s;
    struct spy_write_options o = { .title = "t", .tasks = tasks };
    spy_sink_memory(&s, 0);
    if (w(p, &o, &s) != 0 || spy_sink_close(&s) != 0) {
        fprintf(stderr, "write failed: %s\n", s.error);
        free(s.buf);
        return NULL;
    }
    if (len)
        *len = s.len;
    return s.buf;
}

static char *report_with(int (*fn)(const struct spy_profile *, const struct spy_report_options *, struct spy_sink *),
                         const struct spy_profile *p)
{
    struct spy_sink s;
    struct spy_report_options o = { .top = 10 };
    spy_sink_memory(&s, 0);
    if (fn(p, &o, &s) != 0 || spy_sink_close(&s) != 0) {
        fprintf(stderr, "report failed: %s\n", s.error);
        free(s.buf);
        return NULL;
    }
    return s.buf;
}

static const struct spy_wall_fn *find_fn(const struct spy_wall_fn *l, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(l[i].function, name) == 0)
            return &l[i];
    return NULL;
}

static void test_arithmetic(void)
{
    struct spy_profile p;
    struct spy_wall w;
    char err[256];
    make(&p, sizeof(samples) / sizeof(samples[0]));
    CHECK(spy_profile_task_ms(&p) == 1400);
    CHECK(spy_wall_analyse(&p, NULL, &w, err, sizeof(err)) == 0);
    CHECK(w.ms == 1400 && w.duration == 2.0);
    CHECK(w.state_ms[SPY_VIEW_WAITING] == 1100 && w.state_ms[SPY_VIEW_RUNNING] == 250 && w.state_ms[SPY_VIEW_READY] == 50);
    CHECK(w.nendpoints == 3);
    if (w.nendpoints == 3) {
        const struct spy_wall_endpoint *g = &w.endpoints[0], *c = &w.endpoints[1], *none = &w.endpoints[2];
        CHECK(g->function && strcmp(g->function, "get_user") == 0 && g->line == 28);
        CHECK(g->ms == 1000);
        CHECK(g->state_ms[SPY_VIEW_WAITING] == 800 && g->state_ms[SPY_VIEW_RUNNING] == 150
              && g->state_ms[SPY_VIEW_READY] == 50);
        /* awaiting: sleep's two lines merge into one function, most first */
        CHECK(g->nawaiting == 2);
        CHECK(g->nawaiting >= 1 && strcmp(g->awaiting[0].function, "sleep") == 0 && g->awaiting[0].ms == 600);
        const struct spy_wall_fn *conn = find_fn(g->awaiting, g->nawaiting, "Connection.connect");
        CHECK(conn && conn->ms == 200);
        CHECK(g->non_cpu == 1 && strcmp(g->on_cpu[0].function, "dumps") == 0 && g->on_cpu[0].ms == 150);
        CHECK(spy_wall_in_flight(g->ms, w.duration) == 0.5);
        CHECK(c->function && strcmp(c->function, "crunch") == 0 && c->ms == 100
              && c->state_ms[SPY_VIEW_RUNNING] == 100 && c->nawaiting == 0);
        /* the middleware parent reaches no dispatcher: no endpoint, listed last */
        CHECK(none->function == NULL && none->ms == 300 && none->state_ms[SPY_VIEW_WAITING] == 300);
    }
    spy_wall_free(&w);
    /* no task samples: nothing */
    struct spy_profile cpu;
    make(&cpu, 3);
    CHECK(spy_wall_analyse(&cpu, NULL, &w, err, sizeof(err)) == 0 && w.ms == 0 && w.nendpoints == 0);
    spy_wall_free(&w);
    CHECK(spy_wall_in_flight(100, 0) < 0);
    spy_profile_free(&cpu);
    spy_profile_free(&p);
}

static void test_reports(void)
{
    struct spy_profile p, cpu;
    make(&p, sizeof(samples) / sizeof(samples[0]));
    make(&cpu, 3);
    compact(&cpu);
    char *t = report_with(spy_report_text, &p), *tc = report_with(spy_report_text, &cpu);
    CHECK(t && tc);
    if (t && tc) {
        const char *sec = strstr(t, "\nWhere requests wait");
        CHECK(sec != NULL);
        CHECK(strstr(t, "1.40 task-s over 2.0 s: 0.70 tasks in flight on average") != NULL);
        CHECK(strstr(t, "78.6% waiting") != NULL);
        /* get_user's row: 1.00 task-s, 0.50 in flight, 15 / 5 / 80 % */
        CHECK(strstr(t, "       1.00       0.50    15.0%     5.0%    80.0%  get_user (/srv/app/main.py:28)") != NULL);
        CHECK(strstr(t, "  60.0%  awaiting sleep (asyncio/tasks.py:590)") != NULL);
        CHECK(strstr(t, " 20.0%  awaiting Connection.connect (asyncpg/connection.py:2090)") != NULL);
        CHECK(strstr(t, " 15.0%  on CPU in dumps (json/__init__.py:183)") != NULL);
        CHECK(strstr(t, "(no endpoint: tasks outside any route)") != NULL);
        /* the CPU sections do not see task time: the report without the
         * section is the CPU-only report, byte for byte */
        const char *next = sec ? strstr(sec + 1, "\nThreads\n") : NULL;
        CHECK(next != NULL);
        if (sec && next) {
            size_t a = (size_t)(sec - t);
            CHECK(strlen(tc) == strlen(t) - (size_t)(next - sec));
            CHECK(strncmp(tc, t, a) == 0 && strcmp(tc + a, next) == 0);
        }
        CHECK(strstr(tc, "Where requests wait") == NULL);
    }
    char *h = report_with(spy_report_html, &p), *hc = report_with(spy_report_html, &cpu);
    CHECK(h && hc);
    if (h && hc) {
        CHECK(strstr(h, "<section id=\"wall\">") != NULL && strstr(h, "id=\"wall-table\"") != NULL);
        CHECK(strstr(h, "awaiting <span class=\"fn\">sleep (asyncio/tasks.py:590)</span>") != NULL);
        CHECK(strstr(hc, "id=\"wall\"") == NULL);
        /* the task flame graph embedded after the CPU one, only with a task view */
        CHECK(strstr(h, "<iframe id=\"wall-flame\"") != NULL && strstr(h, "<iframe id=\"flame\"") != NULL);
        CHECK(strstr(hc, "wall-flame") == NULL);
    }
    free(t);
    free(tc);
    free(h);
    free(hc);
    spy_profile_free(&p);
    spy_profile_free(&cpu);
}

/* Reads a writer's output back. */
static int read_back(const char *name, const char *data, size_t len, struct spy_profile *out)
{
    char err[512];
    const char *fmt;
    int rc = spy_profile_read_mem(name, data, len, out, &fmt, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "read %s: %s\n", name, err);
    return rc;
}

/* ms of task samples of one state whose innermost frame is `fn`. */
static uint64_t task_ms(const struct spy_profile *p, unsigned flags, const char *fn, uint32_t depth)
{
    uint64_t ms = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *s = &p->samples[i];
        if (s->flags == flags && s->depth == depth && s->depth
            && strcmp(p->frames[p->frame_ids[s->first]].function, fn) == 0)
            ms += s->count;
    }
    return ms;
}

static void check_tasks_read(const struct spy_profile *r, const char *what)
{
    fprintf(stderr, "checking %s\n", what);
    CHECK(spy_profile_task_ms(r) == 1400);
    CHECK(task_ms(r, WAIT, "sleep", 6) == 600);
    CHECK(task_ms(r, WAIT, "Connection.connect", 5) == 200);
    CHECK(task_ms(r, RUN, "dumps", 5) == 150);
    CHECK(task_ms(r, READY, "get_user", 4) == 50);
    CHECK(task_ms(r, RUN, "crunch", 4) == 100);
    CHECK(task_ms(r, WAIT, "BaseHTTPMiddleware.call_next", 2) == 300);
    /* no pseudo-frame is left on a stack */
    for (size_t i = 0; i < r->nsamples; i++)
        for (uint32_t k = 0; k < r->samples[i].depth; k++)
            CHECK(r->frames[r->frame_ids[r->samples[i].first + k]].function[0] != '[');
}

static void test_files(void)
{
    struct spy_profile p, cpu, r;
    size_t len;
    make(&p, sizeof(samples) / sizeof(samples[0]));
    make(&cpu, 3);

    /* CPU files: task samples change nothing */
    writer cpu_writers[] = { spy_write_collapsed, spy_write_svg };
    for (size_t i = 0; i < 2; i++) {
        size_t l1, l2;
        char *a = write_with(cpu_writers[i], &p, false, &l1), *b = write_with(cpu_writers[i], &cpu, false, &l2);
        CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0);
        CHECK(a && !strstr(a, "[waiting]"));
        free(a);
        free(b);
    }
    char *ss_cpu = write_with(spy_write_speedscope, &cpu, false, NULL);
    CHECK(ss_cpu && !strstr(ss_cpu, "task wall time") && !strstr(ss_cpu, "\"spyagent\":"));
    free(ss_cpu);

    /* collapsed: the state first, counts in ms */
    char *col = write_with(spy_write_collapsed, &p, true, &len);
    CHECK(col != NULL);
    if (col) {
        CHECK(strstr(col, "[waiting];RequestResponseCycle.run_asgi (" SP "uvicorn/protocols/http/h11_impl.py:428);"
                          "BaseHTTPMiddleware.call_next (" SP "starlette/middleware/base.py:80) 300\n") != NULL);
        CHECK(strstr(col, "[ready];") && strstr(col, "[on CPU];"));
        CHECK(!strstr(col, "_run_once"));      /* no CPU sample */
        CHECK(read_back("x.tasks.collapsed.txt", col, len, &r) == 0);
        check_tasks_read(&r, "collapsed");
        spy_profile_free(&r);
    }
    free(col);

    /* SVG: the subtitle in ms, read back with the span */
    char *svg = write_with(spy_write_svg, &p, true, &len);
    CHECK(svg != NULL);
    if (svg) {
        CHECK(strstr(svg, "1,400 ms of task wall time in 2.0 s, by task state</text>") != NULL);
        CHECK(strstr(svg, "' ms, '") != NULL && strstr(svg, "' samples, '") == NULL);
        CHECK(read_back("x.tasks.svg", svg, len, &r) == 0);
        check_tasks_read(&r, "svg");
        CHECK(r.duration == 2.0);
        spy_profile_free(&r);
    }
    free(svg);

    /* speedscope: both views in one file, each read back as it was */
    char *ss = write_with(spy_write_speedscope, &p, false, &len);
    CHECK(ss != NULL);
    if (ss) {
        CHECK(strstr(ss, "\"name\":\"task wall time: MainThread (777)\",\"unit\":\"milliseconds\"") != NULL);
        CHECK(strstr(ss, "\"name\":\"MainThread (777)\",\"unit\":\"none\"") != NULL);
        CHECK(strstr(ss, "\"spyagent\":{\"duration\":2.000,\"rate\":100}") != NULL);
        CHECK(read_back("x.speedscope.json", ss, len, &r) == 0);
        check_tasks_read(&r, "speedscope");
        CHECK(r.duration == 2.0 && r.rate == 100);
        uint64_t cpu_n = 0;
        for (size_t i = 0; i < r.nsamples; i++)
            if (!(r.samples[i].flags & SPY_FLAG_TASK))
                cpu_n += r.samples[i].count;
        CHECK(cpu_n == 50);                    /* busy CPU samples only, as written */
        /* and the report from the file says what the original says */
        char *t1 = report_with(spy_report_text, &r);
        CHECK(t1 && strstr(t1, "       1.00       0.50    15.0%     5.0%    80.0%  get_user (/srv/app/main.py:30)"));
        free(t1);
        spy_profile_free(&r);
    }
    free(ss);
    spy_profile_free(&p);
    spy_profile_free(&cpu);
}

static void test_append(void)
{
    struct spy_profile a, b;
    make(&a, 3);
    make(&b, sizeof(samples) / sizeof(samples[0]));
    struct spy_profile tv;
    CHECK(spy_profile_view_tasks(&b, true, &tv) == 0);
    CHECK(tv.nsamples == 7 && tv.total == 1400);
    /* the CPU profile plus the task view of another build: one profile */
    struct spy_profile only;
    memset(&only, 0, sizeof(only));
    CHECK(spy_profile_append(&a, &tv) == 0);
    CHECK(a.nsamples == 10 && a.nthreads == 2 && a.nframes == 2 * b.nframes && spy_profile_check(&a) == 0);
    CHECK(spy_profile_task_ms(&a) == 1400);
    struct spy_wall w;
    char err[128];
    CHECK(spy_wall_analyse(&a, NULL, &w, err, sizeof(err)) == 0 && w.nendpoints == 3 && w.endpoints[0].ms == 1000);
    spy_wall_free(&w);
    spy_profile_view_free(&tv);
    spy_profile_free(&a);
    spy_profile_free(&b);
}

int main(void)
{
    test_arithmetic();
    test_reports();
    test_files();
    test_append();
    return check_report();
}
