/* The category rules: the shipped default (share/categories.json, built
 * in) puts frames where a person would, matching file AND function — a
 * plain "get" in application code is not cache; SPY_CATEGORIES replaces
 * the rules; broken rule files are refused with a message naming the
 * rule.  argv[1]: the tests/data directory (unused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistd.h>

#include "categories.h"
#include "check.h"

static int cat_of(const struct spy_categories *c, const char *fn, const char *file)
{
    return spy_categories_match(c, spy_categories_file_mask(c, file), fn);
}

static void bad(const char *json, const char *want)
{
    struct spy_categories *c = NULL;
    char err[512] = "";
    CHECK(spy_categories_parse("rules.json", json, strlen(json), &c, err, sizeof(err)) == -1 && !c);
    CHECK(strstr(err, "rules.json: ") == err && strstr(err, want));
    if (!strstr(err, want))
        fprintf(stderr, "got \"%s\", wanted \"%s\"\n", err, want);
}

int main(void)
{
    struct spy_categories *c = NULL;
    char err[512];
    unsetenv("SPY_CATEGORIES");
    CHECK(spy_categories_default(&c, err, sizeof(err)) == 0);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return check_report();
    }
    CHECK(strcmp(spy_categories_source(c), "built-in default") == 0);
    const char *sp = "/usr/lib/python3/dist-packages/";
    char path[256];
#define LIB(p) (snprintf(path, sizeof(path), "%s%s", sp, p), path)
    CHECK(cat_of(c, "Connection.execute", LIB("sqlalchemy/engine/base.py")) == SPY_CAT_DATABASE);
    CHECK(cat_of(c, "adapt_datetime", "/usr/lib/python3.11/sqlite3/dbapi2.py") == SPY_CAT_DATABASE);
    CHECK(cat_of(c, "OrderRepository.total_for", "/srv/app/main.py") == SPY_CAT_DATABASE);
    CHECK(cat_of(c, "list_users", "/srv/app/db/users.py") == SPY_CAT_DATABASE);
    CHECK(cat_of(c, "Redis.get", LIB("redis/client.py")) == SPY_CAT_CACHE);
    CHECK(cat_of(c, "TTLCache.get", "/srv/app/main.py") == SPY_CAT_CACHE);
    CHECK(cat_of(c, "get", "/srv/app/main.py") == -1);                /* the old tool said cache */
    CHECK(cat_of(c, "get_user", "/srv/app/routes.py") == -1);
    CHECK(cat_of(c, "BaseEventLoop._run_once", "/usr/lib/python3.11/asyncio/base_events.py") == SPY_CAT_ASYNC_IO);
    CHECK(cat_of(c, "EpollSelector.select", "/usr/lib/python3.11/selectors.py") == SPY_CAT_ASYNC_IO);
    CHECK(cat_of(c, "H11Protocol.data_received", LIB("uvicorn/protocols/http/h11_impl.py")) == SPY_CAT_HTTP);
    CHECK(cat_of(c, "Router.__call__", "starlette/routing.py") == SPY_CAT_HTTP);     /* py-spy's short paths */
    CHECK(cat_of(c, "jsonable_encoder", LIB("fastapi/encoders.py")) == SPY_CAT_SERIALIZATION);
    CHECK(cat_of(c, "serialize_response", LIB("fastapi/routing.py")) == SPY_CAT_SERIALIZATION);
    CHECK(cat_of(c, "JSONEncoder.encode", "/usr/lib/python3.11/json/encoder.py") == SPY_CAT_SERIALIZATION);
    CHECK(cat_of(c, "decode", LIB("jwt/api_jwt.py")) == SPY_CAT_SECURITY);
    CHECK(cat_of(c, "HMAC.update", "/usr/lib/python3.11/hmac.py") == SPY_CAT_SECURITY);
    CHECK(cat_of(c, "Condition.wait", "/usr/lib/python3.11/threading.py") == SPY_CAT_ASYNC_IO);
    CHECK(cat_of(c, "Thread.run", "/usr/lib/python3.11/threading.py") == -1);
    CHECK(spy_categories_dispatcher(c, "run_endpoint_function", LIB("fastapi/routing.py")));
    CHECK(spy_categories_dispatcher(c, "WorkerThread.run", LIB("anyio/_backends/_asyncio.py")));
    CHECK(!spy_categories_dispatcher(c, "run_endpoint_function", "/srv/app/main.py"));
    CHECK(spy_categories_library(c, "/usr/lib/python3.11/json/encoder.py"));
    CHECK(spy_categories_library(c, LIB("fastapi/routing.py")));
    CHECK(spy_categories_library(c, "<frozen importlib._bootstrap>"));
    CHECK(!spy_categories_library(c, "/srv/app/main.py"));
    CHECK(!spy_categories_library(c, "app.py"));
    /* py-spy's package-relative names: the top-level package decides */
    CHECK(!spy_categories_library(c, "app/api/routes/users.py"));
    CHECK(!spy_categories_library(c, "main.py"));
    CHECK(!spy_categories_library(c, "myshop/services/pricing.py"));
    CHECK(spy_categories_library(c, "sqlalchemy/engine/base.py"));
    CHECK(spy_categories_library(c, "fastapi/routing.py"));
    CHECK(spy_categories_library(c, "anyio/_backends/_asyncio.py"));
    CHECK(spy_categories_library(c, "asyncio/base_events.py"));
    CHECK(spy_categories_library(c, "threading.py"));             /* a lone standard-library module */
    CHECK(spy_categories_library(c, "json/encoder.py"));
    CHECK(spy_categories_library(c, "concurrent/futures/thread.py"));
    CHECK(spy_stdlib_module("selectors", 9) && spy_stdlib_module("__future__", 10));
    CHECK(!spy_stdlib_module("fastapi", 7) && !spy_stdlib_module("selector", 8) && !spy_stdlib_module("", 0));
    /* the event loop's frames, asyncio's and uvloop's entry alike */
    CHECK(spy_categories_event_loop(c, "Runner.run", "/usr/lib/python3.11/asyncio/runners.py"));
    CHECK(spy_categories_event_loop(c, "run", "asyncio/runners.py"));
    CHECK(spy_categories_event_loop(c, "BaseEventLoop._run_once", "asyncio/base_events.py"));
    CHECK(spy_categories_event_loop(c, "run_until_complete", "asyncio/base_events.py"));
    CHECK(spy_categories_event_loop(c, "run", LIB("uvloop/__init__.py")));
    CHECK(!spy_categories_event_loop(c, "Handle._run", "asyncio/events.py"));
    CHECK(!spy_categories_event_loop(c, "run", "/srv/app/main.py"));
    CHECK(spy_categories_loop_wait(c, "EpollSelector.select", "/usr/lib/python3.11/selectors.py"));
    CHECK(spy_categories_loop_wait(c, "select", "selectors.py"));
    CHECK(!spy_categories_loop_wait(c, "select", "/srv/app/main.py"));
    spy_categories_free(c);

    /* overrides: application_files wins, then library_files, then packages */
    const char *own = "{\"version\":1,\"rules\":[],\"application_files\":[\"(^|/)fastapi/contrib/\"],"
                      "\"library_files\":[\"^vendor/\"],\"library_packages\":[\"shared_utils\"]}";
    CHECK(spy_categories_parse("own.json", own, strlen(own), &c, err, sizeof(err)) == 0);
    if (c) {
        CHECK(!spy_categories_library(c, "fastapi/contrib/mine.py"));
        CHECK(spy_categories_library(c, "vendor/x/y.py"));
        CHECK(spy_categories_library(c, "shared_utils/a.py"));
        CHECK(!spy_categories_library(c, "fastapi/routing.py"));  /* its own list replaces the built-in one */
        CHECK(spy_categories_library(c, "json/encoder.py"));      /* the standard library stays */
        /* left out: the built-in loop frames are kept */
        CHECK(spy_categories_event_loop(c, "Runner.run", "asyncio/runners.py"));
        CHECK(spy_categories_loop_wait(c, "select", "selectors.py"));
        spy_categories_free(c);
    }

    bad("", "not valid JSON");
    bad("[1]", "expected a JSON object");
    bad("{\"rules\":[]}", "\"version\" must be 1");
    bad("{\"version\":1,\"rule\":[]}", "unknown key \"rule\"");
    bad("{\"version\":1}", "\"rules\" must be an array");
    bad("{\"version\":1,\"rules\":[{\"category\":\"db\",\"file\":\"x\"}]}", "rules[0]: \"category\" must be one of");
    bad("{\"version\":1,\"rules\":[{\"category\":\"cache\"}]}", "rules[0]: needs \"file\" or \"function\"");
    bad("{\"version\":1,\"rules\":[{\"category\":\"cache\",\"file\":\"(\"}]}", "rules[0].file: invalid regular expression");
    bad("{\"version\":1,\"rules\":[{\"category\":\"cache\",\"fle\":\"x\"}]}", "rules[0]: unknown key \"fle\"");
    bad("{\"version\":1,\"rules\":[],\"advice_threshold\":2}", "advice_threshold");
    bad("{\"version\":1,\"rules\":[],\"library_packages\":[\"a.b\"]}", "library_packages[0] must be a top-level");
    bad("{\"version\":1,\"rules\":[],\"library_files\":[\"(\"]}", "library_files[0]: invalid regular expression");
    bad("{\"version\":1,\"rules\":[],\"event_loops\":[{\"file\":\"x\",\"category\":\"cache\"}]}",
        "event_loops[0]: unknown key \"category\"");

    /* SPY_CATEGORIES replaces the rules */
    char tmpl[] = "/tmp/spy-cat-XXXXXX";
    int fd = mkstemp(tmpl);
    const char *mine = "{\"version\":1,\"rules\":[{\"category\":\"cache\",\"function\":\"^get$\"}]}";
    CHECK(fd >= 0 && write(fd, mine, strlen(mine)) == (ssize_t)strlen(mine));
    close(fd);
    setenv("SPY_CATEGORIES", tmpl, 1);
    CHECK(spy_categories_default(&c, err, sizeof(err)) == 0);
    if (c) {
        CHECK(strcmp(spy_categories_source(c), tmpl) == 0);
        CHECK(cat_of(c, "get", "/srv/app/main.py") == SPY_CAT_CACHE);
        CHECK(cat_of(c, "Connection.execute", LIB("sqlalchemy/engine/base.py")) == -1);
        spy_categories_free(c);
    }
    setenv("SPY_CATEGORIES", "/nonexistent/rules.json", 1);
    CHECK(spy_categories_default(&c, err, sizeof(err)) == -1);
    CHECK(strstr(err, "SPY_CATEGORIES: /nonexistent/rules.json: cannot open") != NULL);
    unsetenv("SPY_CATEGORIES");
    unlink(tmpl);
    return check_report();
}
