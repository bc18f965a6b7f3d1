/* categories.h — which kind of work a frame is (database, cache, ...), from
 * rules on its file path and function name, read from a JSON file
 * (share/categories.json is the default, built in; SPY_CATEGORIES=path
 * replaces it).  The same file names the frames that call web endpoints. */
#ifndef SPY_CATEGORIES_H
#define SPY_CATEGORIES_H

#include <stdbool.h>
#include <stddef.h>

enum spy_category {
    SPY_CAT_ASYNC_IO,
    SPY_CAT_DATABASE,
    SPY_CAT_CACHE,
    SPY_CAT_HTTP,
    SPY_CAT_SECURITY,
    SPY_CAT_SERIALIZATION,
    SPY_CAT_OTHER,
    SPY_CAT_COUNT
};

#define SPY_CATEGORIES_MAX_RULES 64
#define SPY_CATEGORIES_MAX_PACKAGES 256

struct spy_categories;

const char *spy_category_name(int category);
/* The category named `name`, or -1. */
int spy_category_from_name(const char *name);

/* Rules from JSON text; `name` is used in messages.  0 and *out (free
 * with spy_categories_free), or -1 with err saying what is wrong where. */
int spy_categories_parse(const char *name, const char *json, size_t len, struct spy_categories **out,
                         char *err, size_t errlen);
int spy_categories_load(const char *path, struct spy_categories **out, char *err, size_t errlen);
/* SPY_CATEGORIES's file if set, else the built-in default rules. */
int spy_categories_default(struct spy_categories **out, char *err, size_t errlen);
void spy_categories_free(struct spy_categories *c);

/* Where the rules came from: a path, or "built-in default". */
const char *spy_categories_source(const struct spy_categories *c);
/* Share of active samples above which a category gets advice. */
double spy_categories_threshold(const struct spy_categories *c);
size_t spy_categories_nrules(const struct spy_categories *c);

/* Rules whose file regex matches `file`, as a bit mask (bit i: rule i);
 * callers cache it per distinct file. */
unsigned long long spy_categories_file_mask(const struct spy_categories *c, const char *file);
/* The category of a frame, given its file's mask, or -1 if no rule matches. */
int spy_categories_match(const struct spy_categories *c, unsigned long long file_mask, const char *function);
/* True if the frame is one that calls a web endpoint (FastAPI/Starlette). */
bool spy_categories_dispatcher(const struct spy_categories *c, const char *function, const char *file);

/* True if the frame runs an event loop on its thread ("event_loops":
 * asyncio.run / Runner.run, run_until_complete, run_forever, _run_once,
 * uvloop's run): frames inside it on that thread are loop callbacks.  A
 * C loop (uvloop) has no frame of its own above these, so a sample whose
 * innermost frame is one of them is the loop itself. */
bool spy_categories_event_loop(const struct spy_categories *c, const char *function, const char *file);
/* True if the frame is where a loop waits for I/O ("loop_waits": the
 * selector's select/poll), when called straight from an event_loops frame. */
bool spy_categories_loop_wait(const struct spy_categories *c, const char *function, const char *file);

/* True for code that is not the application's.  In order: the rules'
 * "application_files" regexes (application), "library_files" regexes
 * (library); "" and "<frozen ...>" (library); an absolute path under
 * site-packages/, dist-packages/ or lib/pythonX.Y/ (library, else
 * application); a relative path (py-spy's package-relative names such as
 * "sqlalchemy/engine/base.py" or "threading.py") by its top-level package:
 * a standard-library module or one of "library_packages" is library,
 * anything else (your "app/routes/users.py", "main.py") application. */
bool spy_categories_library(const struct spy_categories *c, const char *file);
/* True if `name` is a top-level module of the standard library (3.9–3.13). */
bool spy_stdlib_module(const char *name, size_t len);

/* The built-in rules: share/categories.json, compiled in. */
extern const char spy_default_categories_json[];

#endif
