/* make_profiles — writes a synthetic recording the size of a busy minute
 * (by default 20,000 unique stacks, 60,000 samples, 4 threads, like 60 s at
 * 1000 Hz of a web service) in every format, into DIR, and prints how long
 * each writer took and how big its file is.  Used for the benchmark line
 * and by tests/browser/test_svg.mjs.  Deterministic (fixed seed).
 *
 *   make_profiles DIR [STACKS [SAMPLES [THREADS]]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "profile.h"
#include "sink.h"
#include "writers.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static const char *const app_files[] = {
    "/srv/shop/app/main.py", "/srv/shop/app/routes/orders.py", "/srv/shop/app/routes/users.py",
    "/srv/shop/app/services/pricing.py", "/srv/shop/app/services/search.py",
    "/srv/shop/app/db/models.py", "/srv/shop/app/util/cache.py", "/srv/shop/app/util/\xc3\xbc" "bersetzung.py",
};
static const char *const lib_files[] = {
    "/srv/shop/.venv/lib/python3.11/site-packages/uvicorn/protocols/http/httptools_impl.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/starlette/routing.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/starlette/middleware/errors.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/fastapi/routing.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/pydantic/main.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py",
    "/srv/shop/.venv/lib/python3.11/site-packages/anyio/_backends/_asyncio.py",
};
static const char *const std_files[] = {
    "/usr/lib/python3.11/asyncio/events.py", "/usr/lib/python3.11/asyncio/base_events.py",
    "/usr/lib/python3.11/json/encoder.py", "/usr/lib/python3.11/json/decoder.py",
    "/usr/lib/python3.11/re/_compiler.py", "/usr/lib/python3.11/threading.py",
    "/usr/lib/python3.11/concurrent/futures/thread.py", "/usr/lib/python3.11/socket.py",
    "<frozen importlib._bootstrap>",
};
static const char *const verbs[] = {
    "get", "load", "compute", "render", "encode", "decode", "validate", "serialize", "fetch",
    "dispatch", "handle", "call", "run", "parse", "match", "build", "resolve", "lookup",
};
static const char *const nouns[] = {
    "order", "user", "price", "item", "row", "query", "session", "response", "request",
    "json", "cache", "token", "route", "schema", "field", "page",
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return d;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* A pool of distinct frames: application code, installed packages, the
 * standard library, and some names that need escaping. */
static void make_frames(struct spy_profile *p, uint32_t n)
{
    p->frames = xcalloc(n, sizeof(*p->frames));
    p->nframes = n;
    char name[160];
    for (uint32_t i = 0; i < n; i++) {
        const char *file;
        uint32_t kind = (uint32_t)(rnd() % 10);
        if (kind < 5)
            file = app_files[rnd() % (sizeof(app_files) / sizeof(*app_files))];
        else if (kind < 8)
            file = lib_files[rnd() % (sizeof(lib_files) / sizeof(*lib_files))];
        else
            file = std_files[rnd() % (sizeof(std_files) / sizeof(*std_files))];
        switch (i % 53) {
        case 7:  snprintf(name, sizeof(name), "<lambda>"); break;
        case 19: snprintf(name, sizeof(name), "<listcomp>"); break;
        case 31: snprintf(name, sizeof(name), "Cart.total_%u<&>", i); break;
        case 43: snprintf(name, sizeof(name), "gr\xc3\xb6\xc3\x9f\x65_%u", i); break;
        default:
            snprintf(name, sizeof(name), "%s%s_%s_%u", (i % 5 == 0) ? "Handler." : "",
                     verbs[rnd() % (sizeof(verbs) / sizeof(*verbs))],
                     nouns[rnd() % (sizeof(nouns) / sizeof(*nouns))], i);
        }
        p->frames[i].function = xstrdup(name);
        p->frames[i].file = xstrdup(file);
        p->frames[i].line = 10 + (int)(rnd() % 900);
        p->frames[i].firstlineno = p->frames[i].line - 3;
    }
    /* the fixed spine of every request */
    static const struct { const char *fn, *file; int line; } spine[] = {
        { "<module>", "/srv/shop/app/main.py", 12 },
        { "run", "/srv/shop/.venv/lib/python3.11/site-packages/uvicorn/main.py", 578 },
        { "run_until_complete", "/usr/lib/python3.11/asyncio/base_events.py", 640 },
        { "run_forever", "/usr/lib/python3.11/asyncio/base_events.py", 607 },
        { "_run_once", "/usr/lib/python3.11/asyncio/base_events.py", 1922 },
        { "_run", "/usr/lib/python3.11/asyncio/events.py", 80 },
        { "select", "/usr/lib/python3.11/selectors.py", 468 },
    };
    for (uint32_t i = 0; i < 7 && i < n; i++) {
        free(p->frames[i].function);
        free(p->frames[i].file);
        p->frames[i].function = xstrdup(spine[i].fn);
        p->frames[i].file = xstrdup(spine[i].file);
        p->frames[i].line = spine[i].line;
    }
}

static uint64_t hash_stack(const uint32_t *ids, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) {
        h ^= ids[i];
        h *= 1099511628211ull;
    }
    return h | 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [STACKS [SAMPLES [THREADS]]]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint32_t nstacks = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 20000;
    uint64_t nsamples = argc > 3 ? strtoull(argv[3], NULL, 10) : 60000;
    uint32_t nthreads = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 4;
    if (nstacks == 0 || nthreads == 0 || nsamples < nstacks) {
        fprintf(stderr, "need STACKS >= 1, SAMPLES >= STACKS, THREADS >= 1\n");
        return 2;
    }

    struct spy_profile p = { 0 };
    make_frames(&p, 3000);
    p.nthreads = nthreads;
    p.threads = xcalloc(nthreads, sizeof(*p.threads));
    for (uint32_t t = 0; t < nthreads; t++) {
        p.threads[t].tid = 4000 + (int)t;
        p.threads[t].thread_id = 0x7f0000001000ull + t;
        if (t == 0)
            snprintf(p.threads[t].name, sizeof(p.threads[t].name), "MainThread");
        else
            snprintf(p.threads[t].name, sizeof(p.threads[t].name), "AnyIO worker thread %u", t);
    }

    /* Stacks: the spine, then a walk down a virtual call tree where the
     * child taken at each level is skewed towards the first few, so
     * stacks share prefixes as real ones do. */
    enum { MAX_DEPTH = 64 };
    p.samples = xcalloc(nstacks, sizeof(*p.samples));
    p.frame_ids = xcalloc((size_t)nstacks * MAX_DEPTH, sizeof(*p.frame_ids));
    size_t table_size = 1;
    while (table_size < (size_t)nstacks * 4)
        table_size <<= 1;
    uint64_t *seen = xcalloc(table_size, sizeof(*seen));
    uint32_t outer[MAX_DEPTH], tries = 0;
    while (p.nsamples < nstacks && tries++ < nstacks * 50u) {
        uint32_t depth = 0;
        uint32_t spine = 6;
        for (uint32_t i = 0; i < spine; i++)
            outer[depth++] = i;
        uint32_t want = 8 + (uint32_t)(unit() * unit() * 40);
        uint64_t node = 1;
        while (depth < want && depth < MAX_DEPTH) {
            uint32_t branch = (uint32_t)(unit() * unit() * unit() * 12);
            node = node * 131 + branch + 1;
            uint32_t f = 7 + (uint32_t)((node * 0x9e3779b97f4a7c15ull) >> 40) % (p.nframes - 7);
            outer[depth++] = f;
            if (depth < want && unit() < 0.03 && depth + 3 < MAX_DEPTH) {
                outer[depth++] = f;              /* recursion */
                outer[depth++] = f;
            }
        }
        bool idle = unit() < 0.12;
        if (idle)
            outer[depth - 1] = 6;                /* parked in select() */
        uint64_t h = hash_stack(outer, depth) ^ (idle ? 0x5555 : 0);
        size_t k = h & (table_size - 1);
        while (seen[k] && seen[k] != h)
            k = (k + 1) & (table_size - 1);
        if (seen[k] == h)
            continue;
        seen[k] = h;
        struct spy_profile_sample *s = &p.samples[p.nsamples];
        s->thread = (uint32_t)(unit() < 0.6 ? 0 : 1 + rnd() % (nthreads > 1 ? nthreads - 1 : 1)) % nthreads;
        s->depth = depth;
        s->first = (uint32_t)p.nframe_ids;
        s->flags = idle ? SPY_FLAG_IDLE : 0;
        s->count = 1;
        for (uint32_t i = 0; i < depth; i++)      /* innermost first */
            p.frame_ids[p.nframe_ids++] = outer[depth - 1 - i];
        p.nsamples++;
    }
    free(seen);
    /* The remaining samples go mostly to a few hot stacks. */
    for (uint64_t i = p.nsamples; i < nsamples; i++) {
        double u = unit();
        p.samples[(size_t)(u * u * u * (double)p.nsamples)].count++;
    }
    for (size_t i = 0; i < p.nsamples; i++)
        p.total += p.samples[i].count;
    p.start_time = 1700000000;
    p.duration = 60;
    p.rate = 1000;
    p.pid = 31337;
    snprintf(p.program, sizeof(p.program), "uvicorn app.main:app --port 8000");
    printf("profile: %zu unique stacks, %" PRIu64 " samples, %u frames, %u threads\n",
           p.nsamples, p.total, p.nframes, p.nthreads);

    static const struct {
        const char *name, *file;
        int (*fn)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *);
    } outs[] = {
        { "collapsed", "profile.collapsed.txt", spy_write_collapsed },
        { "speedscope", "profile.speedscope.json", spy_write_speedscope },
        { "svg", "profile.svg", spy_write_svg },
    };
    struct spy_write_options o = { .title = "Flame graph: uvicorn app.main:app" };
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        struct timespec a, b, c;
        struct spy_sink s;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = spy_sink_file(&s, dir, outs[i].file);
        if (rc == 0)
            rc = outs[i].fn(&p, &o, &s);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (spy_sink_close(&s) != 0)
            rc = -1;
        clock_gettime(CLOCK_MONOTONIC, &c);
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", outs[i].name, s.error);
            failed = 1;
            continue;
        }
        struct stat st;
        stat(s.path, &st);
        printf("%-10s %7.1f ms writing, %6.1f ms with fsync+rename, %8.2f MB  %s\n", outs[i].name,
               (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6,
               (double)(c.tv_sec - a.tv_sec) * 1e3 + (double)(c.tv_nsec - a.tv_nsec) / 1e6,
               (double)st.st_size / 1e6, s.path);
    }
    /* a second SVG split by thread, idle included, for the browser test */
    o.by_thread = true;
    o.include_idle = true;
    struct spy_sink s;
    if (spy_sink_file(&s, dir, "profile-threads.svg") != 0 || spy_write_svg(&p, &o, &s) != 0
        || spy_sink_close(&s) != 0) {
        fprintf(stderr, "svg by thread: %s\n", s.error);
        spy_sink_close(&s);
        failed = 1;
    }
    spy_profile_free(&p);
    return failed;
}
