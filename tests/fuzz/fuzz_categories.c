/* fuzz_categories.c — libFuzzer target: category rules JSON
 * (share/categories.json's format) through spy_categories_parse; when it
 * is accepted, the rules are matched against frames taken from the input
 * itself.  Checks: a refusal has a message; matching never reads outside
 * the rules and returns a known category or -1.
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "categories.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size ? size : 1);            /* exact size: not NUL-terminated */
    if (!json)
        return 0;
    memcpy(json, data, size);
    struct spy_categories *c = NULL;
    char err[512] = "";
    int rc = spy_categories_parse("fuzz.json", json, size, &c, err, sizeof(err));
    if (rc != 0 && rc != -1)
        abort();
    if (rc == -1 && !err[0])
        abort();
    if (rc == 0) {
        (void)spy_categories_source(c);
        double t = spy_categories_threshold(c);
        if (!(t >= 0 && t <= 1))
            abort();
        if (spy_categories_nrules(c) > SPY_CATEGORIES_MAX_RULES)
            abort();
        static const char *const files[] = { "/usr/lib/python3/dist-packages/sqlalchemy/engine/base.py",
                                             "/srv/app/main.py", "<frozen importlib._bootstrap>", "" };
        static const char *const fns[] = { "Connection.execute", "orders", "run_endpoint_function", "" };
        for (size_t i = 0; i < 4; i++) {
            unsigned long long m = spy_categories_file_mask(c, files[i]);
            int cat = spy_categories_match(c, m, fns[i]);
            if (cat < -1 || cat >= SPY_CAT_COUNT)
                abort();
            (void)spy_categories_dispatcher(c, fns[i], files[i]);
            (void)spy_categories_library(c, files[i]);
        }
        /* the input's own bytes as a file name and a function name */
        char *s = malloc(size + 1);
        if (s) {
            memcpy(s, data, size);
            s[size] = '\0';
            size_t half = strlen(s) / 2;
            int cat = spy_categories_match(c, spy_categories_file_mask(c, s), s + half);
            if (cat < -1 || cat >= SPY_CAT_COUNT)
                abort();
            (void)spy_categories_library(c, s);     /* py-spy's relative names too */
            (void)spy_categories_dispatcher(c, s + half, s);
            free(s);
        }
        spy_categories_free(c);
    }
    free(json);
    return 0;
}
