/* The report's figures on a FastAPI-shaped profile (fastapi_profile.h):
 * totals and idle, own/total with recursion counted once, categories by
 * the innermost matching frame with application code stopping the walk,
 * sync and async endpoints found from the dispatch frames, threads, and
 * advice citing the functions behind it. */
#include <stdio.h>
#include <string.h>

#include "analysis.h"
#include "check.h"
#include "fastapi_profile.h"

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

int main(void)
{
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
    spy_analysis_free(&a);

    /* a broken profile is refused */
    p.samples[0].thread = 9;
    CHECK(spy_analyse(&p, NULL, &a, err, sizeof(err)) == -1 && strstr(err, "invalid profile"));
    p.samples[0].thread = 1;
    spy_profile_free(&p);
    return check_report();
}
