/* fastapi_profile.h — a hand-made profile shaped like a FastAPI service
 * recording, shared by test_analysis.c, test_pprof.c and test_reports.c:
 * a sync endpoint in an anyio worker thread (sqlite via a repository
 * class), an async endpoint on the event loop (a cache class), response
 * serialisation on the loop, a CPU endpoint with recursion, idle samples.
 *
 * active 110 = database 30 + cache 20 + serialization 15 + other 45;
 * idle 50; endpoints orders_report 40 (sync), crunch 30 (sync),
 * cached_prices 25 (async); on the loop 40. */
#ifndef FASTAPI_PROFILE_H
#define FASTAPI_PROFILE_H

#include <stdlib.h>
#include <string.h>

#include "profile.h"

#define SP "/usr/lib/python3/dist-packages/"
#define STD "/usr/lib/python3.11/"

static const struct { const char *fn, *file; int line, first; } fp_frames[] = {
    { "_bootstrap", STD "threading.py", 995, 990 },                        /* 0 */
    { "WorkerThread.run", SP "anyio/_backends/_asyncio.py", 867, 850 },    /* 1 */
    { "orders_report", "/srv/app/main.py", 101, 99 },                      /* 2 */
    { "OrderRepository.total_for", "/srv/app/main.py", 61, 59 },           /* 3 */
    { "BaseEventLoop.run_forever", STD "asyncio/base_events.py", 607, 590 },/* 4 */
    { "BaseEventLoop._run_once", STD "asyncio/base_events.py", 1922, 1845 },/* 5 */
    { "Handle._run", STD "asyncio/events.py", 80, 78 },                    /* 6 */
    { "RequestResponseCycle.run_asgi", SP "uvicorn/protocols/http/h11_impl.py", 428, 420 }, /* 7 */
    { "run_endpoint_function", SP "fastapi/routing.py", 192, 180 },        /* 8 */
    { "cached_prices", "/srv/app/main.py", 112, 110 },                     /* 9 */
    { "TTLCache.get", "/srv/app/main.py", 70, 68 },                        /* 10 */
    { "serialize_response", SP "fastapi/routing.py", 150, 130 },           /* 11 */
    { "JSONEncoder.encode", STD "json/encoder.py", 200, 183 },             /* 12 */
    { "crunch", "/srv/app/main.py", 133, 131 },                            /* 13 */
    { "EpollSelector.select", STD "selectors.py", 468, 451 },             /* 14 */
    { "fib", "/srv/app/main.py", 140, 139 },                               /* 15 */
};

static const struct { uint32_t thread; unsigned flags; uint64_t count; uint32_t depth; uint32_t ids[8]; } fp_samples[] = {
    { 1, 0, 30, 4, { 3, 2, 1, 0 } },
    { 1, 0, 10, 3, { 2, 1, 0 } },
    { 0, 0, 20, 7, { 10, 9, 8, 7, 6, 5, 4 } },
    { 0, 0, 5, 6, { 9, 8, 7, 6, 5, 4 } },
    { 0, 0, 15, 6, { 12, 11, 7, 6, 5, 4 } },
    { 2, 0, 20, 3, { 13, 1, 0 } },
    { 0, SPY_FLAG_IDLE, 50, 3, { 14, 5, 4 } },
    { 2, 0, 10, 6, { 15, 15, 15, 13, 1, 0 } },
};

static void fastapi_profile(struct spy_profile *p)
{
    memset(p, 0, sizeof(*p));
    p->nframes = sizeof(fp_frames) / sizeof(fp_frames[0]);
    p->frames = calloc(p->nframes, sizeof(*p->frames));
    for (uint32_t i = 0; i < p->nframes; i++) {
        p->frames[i].function = strdup(fp_frames[i].fn);
        p->frames[i].file = strdup(fp_frames[i].file);
        p->frames[i].line = fp_frames[i].line;
        p->frames[i].firstlineno = fp_frames[i].first;
    }
    p->nthreads = 3;
    p->threads = calloc(3, sizeof(*p->threads));
    p->threads[0] = (struct spy_profile_thread){ .tid = 100, .name = "MainThread" };
    p->threads[1] = (struct spy_profile_thread){ .tid = 101, .name = "AnyIO worker thread" };
    p->threads[2] = (struct spy_profile_thread){ .tid = 102, .name = "AnyIO worker thread" };
    p->nsamples = sizeof(fp_samples) / sizeof(fp_samples[0]);
    p->samples = calloc(p->nsamples, sizeof(*p->samples));
    p->frame_ids = calloc(64, sizeof(*p->frame_ids));
    for (size_t i = 0; i < p->nsamples; i++) {
        p->samples[i] = (struct spy_profile_sample){ .thread = fp_samples[i].thread, .depth = fp_samples[i].depth,
                                                     .first = (uint32_t)p->nframe_ids, .flags = fp_samples[i].flags,
                                                     .count = fp_samples[i].count };
        memcpy(p->frame_ids + p->nframe_ids, fp_samples[i].ids, fp_samples[i].depth * sizeof(uint32_t));
        p->nframe_ids += fp_samples[i].depth;
        p->total += fp_samples[i].count;
    }
    p->duration = 1.6;
    p->rate = 100;
    p->pid = 777;
    strcpy(p->program, "uvicorn app.main:app");
}

#endif
