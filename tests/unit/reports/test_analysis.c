/* The report's figures on a FastAPI-shaped profile (fastapi_profile.h):
 * totals and idle, own/total with recursion counted once, categories by
 * the innermost matching frame with application code stopping the walk,
 * sync and async endpoints found from the dispatch frames, threads, and
 * advice citing the functions behind it.  Then hand-made py-spy-style
 * files (tests/data/pyspy_fastapi_*.collapsed.txt: package-relative file
 * names, async routes under run_endpoint_function, def routes under
 * anyio's worker thread) on uvloop and on asyncio's loop give the same
 * figures; and an event loop thread off the CPU inside a callback
 * (time.sleep in async def) blocks the loop, while one waiting in its
 * selector (asyncio) or in uvloop's run is idle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "check.h"
#include "fastapi_profile.h"
#include "profile_read.h"

static const struct spy_fn_stat *fn(const struct spy_analysis *a, const char *name)
{
    for (uint32_t i = 0; i < a->nfns; i++)
        if (strcmp(a->fns[i].function, name) == 0)
            return &a->fns[i];
    return NULL;
}

static const struct spy_endpoint_stat *ep(const struct spy_analysis *a, const char *name)
{
    for (uint32_t i = 0; i < a->nendpoints; i++)
        if (strcmp(a->fns[a->endpoints[i].fn].function, name) == 0)
            return &a->endpoints[i];
    return NULL;
}

static const struct spy_advice *advice(const struct spy_analysis *a, int category)
{
    for (int i = 0; i < a->nadvice; i++)
        if (a->advice[i].category == category)
            return &a->advice[i];
    return NULL;
}

static const struct spy_advice *loop_advice(const struct spy_analysis *a)
{
    return advice(a, -1);
}

static bool advice_names(const struct spy_analysis *a, const struct spy_advice *adv, const char *name)
{
    for (int k = 0; adv && k < adv->nfns; k++)
        if (strcmp(a->fns[adv->fns[k]].function, name) == 0)
            return true;
    return false;
}

/* A py-spy-style FastAPI recording, on uvloop or on asyncio's loop, as
 * collapsed stacks (one thread), speedscope (the loop thread and two
 * worker threads) or an inferno flame graph SVG. */
static void pyspy_fastapi(const char *data_dir, const char *file)
{
    char path[512], err[512];
    struct spy_profile p;
    struct spy_analysis a;
    snprintf(path, sizeof(path), "%s/%s", data_dir, file);
    CHECK(spy_profile_read(path, &p, NULL, err, sizeof(err)) == 0);
    if (p.nframes == 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == 0);
    CHECK(a.total == 730 && a.active == 730);
    /* all three routes found, each of its kind */
    CHECK(a.nendpoints == 3 && a.in_endpoints == 350);
    const struct spy_endpoint_stat *e = ep(&a, "list_products");
    CHECK(e && e->on_loop && e->total == 160 && e->cat[SPY_CAT_CACHE] == 120);
    e = ep(&a, "get_user");
    CHECK(e && !e->on_loop && e->total == 90 && e->cat[SPY_CAT_DATABASE] == 80 && e->cat[SPY_CAT_OTHER] == 10);
    e = ep(&a, "stats_report");
    CHECK(e && !e->on_loop && e->total == 100 && e->cat[SPY_CAT_OTHER] == 100);
    /* a def route's CPU is its own code, not the threadpool's machinery */
    CHECK(a.cat[SPY_CAT_OTHER] == 110 && a.cat[SPY_CAT_DATABASE] == 80 && a.cat[SPY_CAT_CACHE] == 120
          && a.cat[SPY_CAT_SERIALIZATION] == 40 && a.cat[SPY_CAT_HTTP] == 30 && a.cat[SPY_CAT_ASYNC_IO] == 350);
    const struct spy_fn_stat *f = fn(&a, "compute_stats");
    CHECK(f && !f->library && f->decided[SPY_CAT_OTHER] == 100 && f->decided[SPY_CAT_ASYNC_IO] == 0);
    CHECK(fn(&a, "get_user") && !fn(&a, "get_user")->library);
    CHECK(fn(&a, "Session.execute") && fn(&a, "Session.execute")->library);
    CHECK(fn(&a, "Condition.wait") && fn(&a, "Condition.wait")->library);
    /* blocking the loop: the async route's work (and uvicorn's parsing), never the def routes */
    CHECK(a.on_loop == 190);
    const struct spy_advice *adv = loop_advice(&a);
    CHECK(adv && advice_names(&a, adv, "ProductCache.lookup") && advice_names(&a, adv, "jsonable_encoder")
          && !advice_names(&a, adv, "compute_stats"));
    adv = advice(&a, SPY_CAT_ASYNC_IO);
    CHECK(!advice_names(&a, adv, "compute_stats") && !advice_names(&a, adv, "WorkerThread.run"));
    adv = advice(&a, SPY_CAT_OTHER);
    CHECK(adv && advice_names(&a, adv, "compute_stats"));
    /* speedscope: only the main thread runs the loop */
    if (p.nthreads == 3) {
        CHECK(p.rate == 100);
        for (uint32_t t = 0; t < a.nthreads; t++)
            CHECK(a.threads[t].loop == (strstr(p.threads[a.threads[t].thread].name, "MainThread") != NULL));
    }
    /* the file column keeps the package */
    char label[256];
    f = fn(&a, "Connection._execute_context");
    if (f) {
        spy_fn_label(f, label, sizeof(label));
        CHECK(strcmp(label, "Connection._execute_context (sqlalchemy/engine/base.py:1910)") == 0);
    }
    spy_analysis_free(&a);
    spy_profile_free(&p);
}

/* One loop thread: a callback sleeping off the CPU, a callback on the CPU
 * (and a few times off it, waiting for the GIL), the loop waiting, a
 * subprocess wait in a callback, and a worker thread waiting; `uv` picks
 * uvloop's shape (the C loop right under Runner.run) or asyncio's. */
static void offcpu_loop(bool uv)
{
    static const char *const files[] = { "asyncio/runners.py", "asyncio/base_events.py", "asyncio/base_events.py",
                                         "asyncio/events.py", "fastapi/routing.py", "/srv/app/main.py",
                                         "/srv/app/main.py", "selectors.py", "threading.py",
                                         "/srv/app/main.py", "subprocess.py", "selectors.py" };
    static const char *const names[] = { "Runner.run", "BaseEventLoop.run_forever", "BaseEventLoop._run_once",
                                         "Handle._run", "run_endpoint_function", "slow_async", "busy_async",
                                         "EpollSelector.select", "Condition.wait", "shell_async",
                                         "Popen._communicate", "_PollLikeSelector.select" };
    struct spy_profile p;
    memset(&p, 0, sizeof(p));
    p.nframes = 12;
    p.frames = calloc(p.nframes, sizeof(*p.frames));
    for (uint32_t i = 0; i < p.nframes; i++) {
        p.frames[i].function = strdup(names[i]);
        p.frames[i].file = strdup(files[i]);
        p.frames[i].line = 10 + (int)i;
    }
    p.nthreads = 2;
    p.threads = calloc(2, sizeof(*p.threads));
    p.frame_ids = calloc(64, sizeof(*p.frame_ids));
    p.samples = calloc(8, sizeof(*p.samples));
    /* innermost first */
    uint32_t asy[][8] = { { 5, 4, 3, 2, 1, 0 }, { 6, 4, 3, 2, 1, 0 }, { 7, 2, 1, 0 }, { 8 },
                          { 11, 10, 9, 4, 3, 2, 1, 0 }, { 6, 4, 3, 2, 1, 0 } };
    uint32_t uvl[][8] = { { 5, 4, 0 }, { 6, 4, 0 }, { 0 }, { 8 }, { 11, 10, 9, 4, 0 }, { 6, 4, 0 } };
    uint32_t depth_a[] = { 6, 6, 4, 1, 8, 6 }, depth_u[] = { 3, 3, 1, 1, 5, 3 };
    uint64_t counts[] = { 30, 20, 100, 40, 5, 3 };
    unsigned flags[] = { SPY_FLAG_IDLE, 0, SPY_FLAG_IDLE, SPY_FLAG_IDLE, SPY_FLAG_IDLE, SPY_FLAG_IDLE };
    for (int i = 0; i < 6; i++) {
        uint32_t d = uv ? depth_u[i] : depth_a[i];
        p.samples[i] = (struct spy_profile_sample){ .thread = i == 3, .depth = d, .first = (uint32_t)p.nframe_ids,
                                                    .flags = flags[i], .count = counts[i] };
        memcpy(p.frame_ids + p.nframe_ids, uv ? uvl[i] : asy[i], d * sizeof(uint32_t));
        p.nframe_ids += d;
        p.total += counts[i];
    }
    p.nsamples = 6;

    struct spy_analysis a;
    char err[256];
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == 0);
    /* slow_async's sleep and shell_async's subprocess wait block the loop; the loop's own wait is
     * idle, and so are busy_async's few GIL waits amid its CPU work */
    CHECK(a.total == 198 && a.idle == 143 && a.active == 55);
    CHECK(a.loop_offcpu == 35 && a.on_loop == 55);
    const struct spy_fn_stat *f = fn(&a, "slow_async");
    CHECK(f && f->on_loop == 30);
    f = fn(&a, "busy_async");
    CHECK(f && f->on_loop == 20);
    const struct spy_advice *adv = loop_advice(&a);
    CHECK(adv && advice_names(&a, adv, "slow_async") && advice_names(&a, adv, "busy_async"));
    CHECK(ep(&a, "slow_async") && ep(&a, "slow_async")->on_loop && ep(&a, "slow_async")->total == 30);
    for (uint32_t t = 0; t < a.nthreads; t++)
        CHECK(a.threads[t].thread == 0 ? a.threads[t].loop && a.threads[t].idle == 103
                                       : !a.threads[t].loop && a.threads[t].idle == 40);
    spy_analysis_free(&a);

    /* for writers that drop idle samples: the blocking ones are kept */
    CHECK(spy_mark_loop_blocking(&p, NULL, err, sizeof(err)) == 0);
    CHECK(p.samples[0].flags == SPY_FLAG_LOOP_BLOCKED && p.samples[4].flags == SPY_FLAG_LOOP_BLOCKED);
    CHECK(p.samples[1].flags == 0 && p.samples[2].flags == SPY_FLAG_IDLE && p.samples[3].flags == SPY_FLAG_IDLE
          && p.samples[5].flags == SPY_FLAG_IDLE);
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == 0);
    CHECK(a.idle == 143 && a.active == 55 && a.loop_offcpu == 35 && a.on_loop == 55);
    spy_analysis_free(&a);
    spy_profile_free(&p);
}

int main(int argc, char **argv)
{
    const char *data_dir = argc > 1 ? argv[1] : "tests/data";
    struct spy_profile p;
    struct spy_analysis a;
    char err[256];
    unsetenv("SPY_CATEGORIES");
    fastapi_profile(&p);
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == 0);
    CHECK(a.total == 160 && a.idle == 50 && a.active == 110);
    CHECK(a.rate == 100 && a.pid == 777);
    CHECK(a.cat[SPY_CAT_DATABASE] == 30 && a.cat[SPY_CAT_CACHE] == 20 && a.cat[SPY_CAT_SERIALIZATION] == 15
          && a.cat[SPY_CAT_OTHER] == 45 && a.cat[SPY_CAT_HTTP] == 0 && a.cat[SPY_CAT_ASYNC_IO] == 0);
    CHECK(a.nfns == 16);
    CHECK(strcmp(a.fns[0].function, "OrderRepository.total_for") == 0 && a.fns[0].own == 30);
    CHECK(fn(&a, "fib") && fn(&a, "fib")->own == 10 && fn(&a, "fib")->total == 10);
    CHECK(fn(&a, "crunch") && fn(&a, "crunch")->own == 20 && fn(&a, "crunch")->total == 30);
    CHECK(fn(&a, "_bootstrap") && fn(&a, "_bootstrap")->total == 70 && fn(&a, "_bootstrap")->own == 0);
    CHECK(fn(&a, "crunch") && fn(&a, "crunch")->line == 131);      /* the definition line */

    CHECK(a.nendpoints == 3 && a.in_endpoints == 95);
    const struct spy_endpoint_stat *e = ep(&a, "orders_report");
    CHECK(e && e->total == 40 && !e->on_loop && e->cat[SPY_CAT_DATABASE] == 30
          && strcmp(a.fns[e->top_fn].function, "OrderRepository.total_for") == 0);
    e = ep(&a, "cached_prices");
    CHECK(e && e->total == 25 && e->on_loop && e->cat[SPY_CAT_CACHE] == 20);
    e = ep(&a, "crunch");
    CHECK(e && e->total == 30 && !e->on_loop && e->cat[SPY_CAT_OTHER] == 30);
    CHECK(strcmp(a.fns[a.endpoints[0].fn].function, "orders_report") == 0);   /* busiest first */

    CHECK(a.on_loop == 40);
    CHECK(a.nthreads == 3 && a.threads[0].total == 90 && a.threads[0].idle == 50);

    const struct spy_advice *adv = advice(&a, -1);
    CHECK(adv && adv->nfns == 3 && strcmp(a.fns[adv->fns[0]].function, "TTLCache.get") == 0
          && strcmp(a.fns[adv->fns[1]].function, "JSONEncoder.encode") == 0);
    adv = advice(&a, SPY_CAT_DATABASE);
    CHECK(adv && strcmp(a.fns[adv->fns[0]].function, "OrderRepository.total_for") == 0 && adv->fn_samples[0] == 30);
    adv = advice(&a, SPY_CAT_CACHE);
    CHECK(adv && strcmp(a.fns[adv->fns[0]].function, "TTLCache.get") == 0);
    adv = advice(&a, SPY_CAT_OTHER);
    CHECK(adv && strcmp(a.fns[adv->fns[0]].function, "crunch") == 0);
    CHECK(!advice(&a, SPY_CAT_HTTP) && !advice(&a, SPY_CAT_SECURITY));
    CHECK(a.advice[0].category == -1);                              /* the loop first */

    char label[256];
    spy_fn_label(fn(&a, "run_endpoint_function"), label, sizeof(label));
    CHECK(strcmp(label, "run_endpoint_function (fastapi/routing.py:180)") == 0);
    spy_fn_label(fn(&a, "crunch"), label, sizeof(label));
    CHECK(strcmp(label, "crunch (/srv/app/main.py:131)") == 0);      /* short absolute paths whole */
    struct spy_fn_stat deep = { .function = "f", .file = "/home/me/src/shop/app/api/routes/users.py", .line = 3 };
    spy_fn_label(&deep, label, sizeof(label));
    CHECK(strcmp(label, "f (.../api/routes/users.py:3)") == 0);
    deep.file = "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py";
    spy_fn_label(&deep, label, sizeof(label));
    CHECK(strcmp(label, "f (sqlalchemy/engine/base.py:3)") == 0);
    deep.file = "sqlalchemy/engine/base.py";
    spy_fn_label(&deep, label, sizeof(label));
    CHECK(strcmp(label, "f (sqlalchemy/engine/base.py:3)") == 0);
    spy_analysis_free(&a);

    /* a broken profile is refused */
    p.samples[0].thread = 9;
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == -1 && strstr(err, "invalid profile"));
    p.samples[0].thread = 1;
    spy_profile_free(&p);

    pyspy_fastapi(data_dir, "pyspy_fastapi_uvloop.collapsed.txt");
    pyspy_fastapi(data_dir, "pyspy_fastapi_asyncio.collapsed.txt");
    pyspy_fastapi(data_dir, "pyspy_fastapi_uvloop.speedscope.json");
    pyspy_fastapi(data_dir, "pyspy_fastapi_asyncio_flamegraph.svg");
    offcpu_loop(false);
    offcpu_loop(true);
    return check_report();
}
