/*
 * categories.c — the category rules: JSON in, compiled POSIX regexes out.
 *
 * A rule is {category, file, function}: both regexes must match (a missing
 * one matches anything).  Matching is split so callers can cache: the file
 * regexes give a bit mask per distinct file (profiles have few files and
 * many frames), then only the rules whose file matched test the function.
 * The rules file is validated whole before use: unknown keys (typos),
 * unknown categories and bad regexes are errors that name the rule.
 *
 * Immutable once built, so any thread may match against one set of rules;
 * building and freeing belong to the caller's thread.
 */
#include "categories.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_read.h"

struct rule {
    int category;
    bool has_file, has_function;
    regex_t file, function;
};

struct spy_categories {
    struct rule rules[SPY_CATEGORIES_MAX_RULES];
    size_t nrules;
    struct rule endpoints[16];
    size_t nendpoints;
    double threshold;
    char source[512];
};

static const char *const names[SPY_CAT_COUNT] = {
    "async_io", "database", "cache", "http", "security", "serialization", "other",
};

const char *spy_category_name(int category)
{
    return category >= 0 && category < SPY_CAT_COUNT ? names[category] : "?";
}

int spy_category_from_name(const char *name)
{
    for (int i = 0; i < SPY_CAT_COUNT; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

static void free_rule(struct rule *r)
{
    if (r->has_file)
        regfree(&r->file);
    if (r->has_function)
        regfree(&r->function);
    r->has_file = r->has_function = false;
}

void spy_categories_free(struct spy_categories *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrules; i++)
        free_rule(&c->rules[i]);
    for (size_t i = 0; i < c->nendpoints; i++)
        free_rule(&c->endpoints[i]);
    free(c);
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%.300s: %s", name, msg);
    return -1;
}

static int compile(regex_t *re, const cJSON *v, const char *what, char *err, size_t errlen, const char *name)
{
    if (!cJSON_IsString(v))
        return fail(err, errlen, name, "%s must be a string (a POSIX extended regex)", what);
    /* glibc's regex takes exponential time on stacked repetitions such as
     * "a+++" (found by tests/fuzz): refuse a quantifier right after another,
     * and long patterns */
    const char *rx = v->valuestring;
    if (strlen(rx) > 1000)
        return fail(err, errlen, name, "%s: a regular expression longer than 1000 characters", what);
    bool in_bracket = false;
    for (size_t i = 0; rx[i]; i++) {
        if (in_bracket) {               /* [...]: no quantifiers inside */
            if (rx[i] == ']' && rx[i - 1] != '[' && !(rx[i - 1] == '^' && i >= 2 && rx[i - 2] == '['))
                in_bracket = false;
            continue;
        }
        if (rx[i] == '[' && (i == 0 || rx[i - 1] != '\\')) {
            in_bracket = true;
            continue;
        }
        if (i == 0)
            continue;
        bool prev_q = (rx[i - 1] == '*' || rx[i - 1] == '+' || rx[i - 1] == '?' || rx[i - 1] == '}')
                      && (i < 2 || rx[i - 2] != '\\');
        if (prev_q && (rx[i] == '*' || rx[i] == '+' || rx[i] == '?' || rx[i] == '{'))
            return fail(err, errlen, name, "%s: regular expression \"%.80s\" repeats a repetition (\"%.2s\"); "
                        "write a single *, + or ?", what, rx, rx + i - 1);
    }
    int rc = regcomp(re, rx, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        return fail(err, errlen, name, "%s: invalid regular expression \"%.80s\": %s", what, v->valuestring, msg);
    }
    return 0;
}

/* One rule object; `cat` false for endpoint rules (no category). */
static int parse_rule(const cJSON *o, struct rule *r, bool cat, const char *where, char *err, size_t errlen,
                      const char *name)
{
    char what[96];
    const cJSON *k;
    if (!cJSON_IsObject(o))
        return fail(err, errlen, name, "%s must be an object", where);
    cJSON_ArrayForEach(k, o) {
        if (strcmp(k->string, "file") != 0 && strcmp(k->string, "function") != 0 && strcmp(k->string, "why") != 0
            && !(cat && strcmp(k->string, "category") == 0))
            return fail(err, errlen, name, "%s: unknown key \"%.40s\" (expected %sfile, function, why)", where,
                        k->string, cat ? "category, " : "");
    }
    r->category = SPY_CAT_OTHER;
    if (cat) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "category");
        if (!cJSON_IsString(c) || spy_category_from_name(c->valuestring) < 0)
            return fail(err, errlen, name, "%s: \"category\" must be one of async_io, database, cache, http, "
                        "security, serialization, other", where);
        r->category = spy_category_from_name(c->valuestring);
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(o, "function");
    if (!f && !fn)
        return fail(err, errlen, name, "%s: needs \"file\" or \"function\" (or both)", where);
    if (f) {
        snprintf(what, sizeof(what), "%s.file", where);
        if (compile(&r->file, f, what, err, errlen, name) != 0)
            return -1;
        r->has_file = true;
    }
    if (fn) {
        snprintf(what, sizeof(what), "%s.function", where);
        if (compile(&r->function, fn, what, err, errlen, name) != 0) {
            free_rule(r);
            return -1;
        }
        r->has_function = true;
    }
    return 0;
}

int spy_categories_parse(const char *name, const char *json, size_t len, struct spy_categories **out,
                         char *err, size_t errlen)
{
    struct spy_categories *c = NULL;
    cJSON *root = NULL;
    int rc = -1;
    char where[64];

    *out = NULL;
    root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        fail(err, errlen, name, "not valid JSON (near byte %zu): expected the category rules object",
             at && at >= json && at <= json + len ? (size_t)(at - json) : len);
        goto cleanup;
    }
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, name, "expected a JSON object with \"version\": 1 and \"rules\"");
        goto cleanup;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, root) {
        static const char *const known[] = { "version", "description", "advice_threshold", "rules", "endpoints" };
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(k->string, known[i]) == 0;
        if (!ok) {
            fail(err, errlen, name, "unknown key \"%.40s\" (expected version, description, advice_threshold, "
                 "rules, endpoints)", k->string);
            goto cleanup;
        }
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(version) || version->valueint != 1) {
        fail(err, errlen, name, "\"version\" must be 1");
        goto cleanup;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        fail(err, errlen, name, "out of memory");
        goto cleanup;
    }
    snprintf(c->source, sizeof(c->source), "%s", name);
    c->threshold = 0.05;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "advice_threshold");
    if (th) {
        if (!cJSON_IsNumber(th) || th->valuedouble < 0 || th->valuedouble > 1) {
            fail(err, errlen, name, "\"advice_threshold\" must be a number from 0 to 1 (a share of samples)");
            goto cleanup;
        }
        c->threshold = th->valuedouble;
    }
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    if (!cJSON_IsArray(rules)) {
        fail(err, errlen, name, "\"rules\" must be an array of {category, file, function} objects");
        goto cleanup;
    }
    if (cJSON_GetArraySize(rules) > SPY_CATEGORIES_MAX_RULES) {
        fail(err, errlen, name, "%d rules: at most %d", cJSON_GetArraySize(rules), SPY_CATEGORIES_MAX_RULES);
        goto cleanup;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, rules) {
        snprintf(where, sizeof(where), "rules[%zu]", c->nrules);
        if (parse_rule(r, &c->rules[c->nrules], true, where, err, errlen, name) != 0)
            goto cleanup;
        c->nrules++;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "endpoints");
    if (eps) {
        size_t cap = sizeof(c->endpoints) / sizeof(c->endpoints[0]);
        if (!cJSON_IsArray(eps) || (size_t)cJSON_GetArraySize(eps) > cap) {
            fail(err, errlen, name, "\"endpoints\" must be an array of at most %zu {file, function} objects", cap);
            goto cleanup;
        }
        cJSON_ArrayForEach(r, eps) {
            snprintf(where, sizeof(where), "endpoints[%zu]", c->nendpoints);
            if (parse_rule(r, &c->endpoints[c->nendpoints], false, where, err, errlen, name) != 0)
                goto cleanup;
            c->nendpoints++;
        }
    }
    *out = c;
    c = NULL;
    rc = 0;

cleanup:
    spy_categories_free(c);
    cJSON_Delete(root);
    return rc;
}

int spy_categories_load(const char *path, struct spy_categories **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 1 << 16;
    int rc = -1;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    if (!f)
        return fail(err, errlen, path, "cannot open the category rules: %s", strerror(errno));
    buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        if (cap >= (1u << 24)) {
            fail(err, errlen, path, "larger than 16 MiB: not a category rules file");
            goto cleanup;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb)
            break;
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fail(err, errlen, path, "out of memory");
        goto cleanup;
    }
    if (ferror(f)) {
        fail(err, errlen, path, "read error");
        goto cleanup;
    }
    if (len == 0) {
        fail(err, errlen, path, "empty file: expected the category rules (JSON)");
        goto cleanup;
    }
    rc = spy_categories_parse(path, buf, len, out, err, errlen);

cleanup:
    free(buf);
    fclose(f);
    return rc;
}

int spy_categories_default(struct spy_categories **out, char *err, size_t errlen)
{
    const char *path = getenv("SPY_CATEGORIES");
    if (path && *path) {
        int rc = spy_categories_load(path, out, err, errlen);
        if (rc != 0 && err && errlen) {
            char tmp[512];
            snprintf(tmp, sizeof(tmp), "SPY_CATEGORIES: %s", err);
            snprintf(err, errlen, "%s", tmp);
        }
        return rc;
    }
    return spy_categories_parse("built-in default", spy_default_categories_json,
                                strlen(spy_default_categories_json), out, err, errlen);
}

const char *spy_categories_source(const struct spy_categories *c)
{
    return c->source;
}

double spy_categories_threshold(const struct spy_categories *c)
{
    return c->threshold;
}

size_t spy_categories_nrules(const struct spy_categories *c)
{
    return c->nrules;
}

unsigned long long spy_categories_file_mask(const struct spy_categories *c, const char *file)
{
    unsigned long long m = 0;
    for (size_t i = 0; i < c->nrules; i++)
        if (!c->rules[i].has_file || regexec(&c->rules[i].file, file ? file : "", 0, NULL, 0) == 0)
            m |= 1ull << i;
    return m;
}

int spy_categories_match(const struct spy_categories *c, unsigned long long file_mask, const char *function)
{
    for (size_t i = 0; i < c->nrules; i++) {
        if (!(file_mask & (1ull << i)))
            continue;
        if (!c->rules[i].has_function || regexec(&c->rules[i].function, function ? function : "", 0, NULL, 0) == 0)
            return c->rules[i].category;
    }
    return -1;
}

bool spy_categories_dispatcher(const struct spy_categories *c, const char *function, const char *file)
{
    for (size_t i = 0; i < c->nendpoints; i++) {
        const struct rule *r = &c->endpoints[i];
        if ((!r->has_file || regexec(&r->file, file ? file : "", 0, NULL, 0) == 0)
            && (!r->has_function || regexec(&r->function, function ? function : "", 0, NULL, 0) == 0))
            return true;
    }
    return false;
}

bool spy_is_library_file(const char *file)
{
    if (!file || !*file || file[0] == '<')
        return true;
    if (strstr(file, "/site-packages/") || strstr(file, "/dist-packages/") || strstr(file, "/lib/python")
        || strstr(file, "/lib64/python"))
        return true;
    if (file[0] != '/')
        return strchr(file, '/') != NULL;
    return false;
}
