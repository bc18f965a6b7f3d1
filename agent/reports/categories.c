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
 * The same file says which frames run an event loop ("event_loops") and
 * where a loop waits for I/O ("loop_waits"), and how application code is
 * told from library code ("application_files", "library_files",
 * "library_packages"); a file that leaves one of these out gets the
 * built-in one, so replacing the categories never turns loop detection
 * off.  Relative paths (py-spy's "sqlalchemy/engine/base.py") are judged
 * by their top-level package against the standard library's module names
 * (the table below, 3.9–3.13) and "library_packages".
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

struct rule {
    int category;
    bool has_file, has_function;
    regex_t file, function;
};

#define MAX_LIST 16

struct spy_categories {
    struct rule rules[SPY_CATEGORIES_MAX_RULES];
    size_t nrules;
    struct rule endpoints[MAX_LIST];
    size_t nendpoints;
    struct rule loops[MAX_LIST];          /* event_loops */
    size_t nloops;
    struct rule waits[MAX_LIST];          /* loop_waits */
    size_t nwaits;
    regex_t app_files[MAX_LIST], lib_files[MAX_LIST];
    size_t napp_files, nlib_files;
    char *packages[SPY_CATEGORIES_MAX_PACKAGES];   /* sorted */
    size_t npackages;
    bool has_loops, has_waits, has_packages;
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
    for (size_t i = 0; i < c->nloops; i++)
        free_rule(&c->loops[i]);
    for (size_t i = 0; i < c->nwaits; i++)
        free_rule(&c->waits[i]);
    for (size_t i = 0; i < c->napp_files; i++)
        regfree(&c->app_files[i]);
    for (size_t i = 0; i < c->nlib_files; i++)
        regfree(&c->lib_files[i]);
    for (size_t i = 0; i < c->npackages; i++)
        free(c->packages[i]);
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

/* "key": [{file, function}, ...] into rules[cap]. */
static int parse_rule_list(const cJSON *root, const char *key, struct rule *rules, size_t *n, char *err,
                           size_t errlen, const char *name)
{
    char where[64];
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key), *r;
    if (!list)
        return 0;
    if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) > MAX_LIST)
        return fail(err, errlen, name, "\"%s\" must be an array of at most %d {file, function} objects", key,
                    MAX_LIST);
    cJSON_ArrayForEach(r, list) {
        snprintf(where, sizeof(where), "%s[%zu]", key, *n);
        if (parse_rule(r, &rules[*n], false, where, err, errlen, name) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* "key": ["regex", ...] (file paths) into res. */
static int parse_regex_list(const cJSON *root, const char *key, regex_t *res, size_t *n, char *err, size_t errlen,
                            const char *name)
{
    char where[64];
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key), *r;
    if (!list)
        return 0;
    if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) > MAX_LIST)
        return fail(err, errlen, name, "\"%s\" must be an array of at most %d regexes on file paths", key,
                    MAX_LIST);
    cJSON_ArrayForEach(r, list) {
        snprintf(where, sizeof(where), "%s[%zu]", key, *n);
        if (compile(&res[*n], r, where, err, errlen, name) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "library_packages": ["fastapi", ...]: top-level package names. */
static int parse_packages(const cJSON *root, struct spy_categories *c, char *err, size_t errlen, const char *name)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "library_packages"), *r;
    if (!list)
        return 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > SPY_CATEGORIES_MAX_PACKAGES)
        return fail(err, errlen, name, "\"library_packages\" must be an array of at most %d package names",
                    SPY_CATEGORIES_MAX_PACKAGES);
    cJSON_ArrayForEach(r, list) {
        size_t len = cJSON_IsString(r) ? strlen(r->valuestring) : 0;
        if (len == 0 || len > 100 || strpbrk(r->valuestring, "/. \t") != NULL)
            return fail(err, errlen, name, "library_packages[%zu] must be a top-level package name such as "
                        "\"sqlalchemy\" (no dots or slashes)", c->npackages);
        c->packages[c->npackages] = strdup(r->valuestring);
        if (!c->packages[c->npackages])
            return fail(err, errlen, name, "out of memory");
        c->npackages++;
    }
    qsort(c->packages, c->npackages, sizeof(c->packages[0]), compare_names);
    c->has_packages = true;
    return 0;
}

/* What a rules file leaves out of the loop and library settings comes
 * from the built-in rules. */
static int inherit_defaults(struct spy_categories *c, char *err, size_t errlen)
{
    struct spy_categories *d = NULL;
    if (c->has_loops && c->has_waits && c->has_packages)
        return 0;
    if (spy_categories_parse("built-in default", spy_default_categories_json, strlen(spy_default_categories_json),
                             &d, err, errlen) != 0)
        return -1;
    if (!c->has_loops) {
        memcpy(c->loops, d->loops, d->nloops * sizeof(d->loops[0]));
        c->nloops = d->nloops;
        d->nloops = 0;
    }
    if (!c->has_waits) {
        memcpy(c->waits, d->waits, d->nwaits * sizeof(d->waits[0]));
        c->nwaits = d->nwaits;
        d->nwaits = 0;
    }
    if (!c->has_packages) {
        memcpy(c->packages, d->packages, d->npackages * sizeof(d->packages[0]));
        c->npackages = d->npackages;
        d->npackages = 0;
    }
    spy_categories_free(d);
    return 0;
}

int spy_categories_parse(const char *name, const char *json, size_t len, struct spy_categories **out,
                         char *err, size_t errlen)
{
    struct spy_categories *c = NULL;
    cJSON *root = NULL;
    int rc = -1;

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
        static const char *const known[] = { "version", "description", "advice_threshold", "rules", "endpoints",
                                             "event_loops", "loop_waits", "application_files", "library_files",
                                             "library_packages" };
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(k->string, known[i]) == 0;
        if (!ok) {
            fail(err, errlen, name, "unknown key \"%.40s\" (expected version, description, advice_threshold, "
                 "rules, endpoints, event_loops, loop_waits, application_files, library_files, library_packages)",
                 k->string);
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
    char where[64];
    cJSON_ArrayForEach(r, rules) {
        snprintf(where, sizeof(where), "rules[%zu]", c->nrules);
        if (parse_rule(r, &c->rules[c->nrules], true, where, err, errlen, name) != 0)
            goto cleanup;
        c->nrules++;
    }
    if (parse_rule_list(root, "endpoints", c->endpoints, &c->nendpoints, err, errlen, name) != 0
        || parse_rule_list(root, "event_loops", c->loops, &c->nloops, err, errlen, name) != 0
        || parse_rule_list(root, "loop_waits", c->waits, &c->nwaits, err, errlen, name) != 0
        || parse_regex_list(root, "application_files", c->app_files, &c->napp_files, err, errlen, name) != 0
        || parse_regex_list(root, "library_files", c->lib_files, &c->nlib_files, err, errlen, name) != 0
        || parse_packages(root, c, err, errlen, name) != 0)
        goto cleanup;
    c->has_loops = cJSON_GetObjectItemCaseSensitive(root, "event_loops") != NULL;
    c->has_waits = cJSON_GetObjectItemCaseSensitive(root, "loop_waits") != NULL;
    if (strcmp(name, "built-in default") != 0 && inherit_defaults(c, err, errlen) != 0)
        goto cleanup;
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

static bool rule_list_match(const struct rule *rules, size_t n, const char *function, const char *file)
{
    for (size_t i = 0; i < n; i++) {
        const struct rule *r = &rules[i];
        if ((!r->has_file || regexec(&r->file, file ? file : "", 0, NULL, 0) == 0)
            && (!r->has_function || regexec(&r->function, function ? function : "", 0, NULL, 0) == 0))
            return true;
    }
    return false;
}

bool spy_categories_event_loop(const struct spy_categories *c, const char *function, const char *file)
{
    return rule_list_match(c->loops, c->nloops, function, file);
}

bool spy_categories_loop_wait(const struct spy_categories *c, const char *function, const char *file)
{
    return rule_list_match(c->waits, c->nwaits, function, file);
}

/* sys.stdlib_module_names of CPython 3.10-3.13, plus modules 3.9 still had. */
static const char *const stdlib_names[] = {
    "__future__", "_abc", "_aix_support", "_android_support", "_ast", "_asyncio", "_bisect", "_blake2",
    "_bootlocale", "_bootsubprocess", "_bz2", "_codecs", "_codecs_cn", "_codecs_hk", "_codecs_iso2022",
    "_codecs_jp", "_codecs_kr", "_codecs_tw", "_collections", "_collections_abc", "_colorize",
    "_compat_pickle", "_compression", "_contextvars", "_crypt", "_csv", "_ctypes", "_curses", "_curses_panel",
    "_datetime", "_dbm", "_decimal", "_dummy_thread", "_elementtree", "_frozen_importlib",
    "_frozen_importlib_external", "_functools", "_gdbm", "_hashlib", "_heapq", "_imp", "_interpchannels",
    "_interpqueues", "_interpreters", "_io", "_ios_support", "_json", "_locale", "_lsprof", "_lzma",
    "_markupbase", "_md5", "_msi", "_multibytecodec", "_multiprocessing", "_opcode", "_opcode_metadata",
    "_operator", "_osx_support", "_overlapped", "_pickle", "_posixshmem", "_posixsubprocess", "_py_abc",
    "_pydatetime", "_pydecimal", "_pyio", "_pylong", "_pyrepl", "_queue", "_random", "_scproxy", "_sha1",
    "_sha2", "_sha256", "_sha3", "_sha512", "_signal", "_sitebuiltins", "_socket", "_sqlite3", "_sre", "_ssl",
    "_stat", "_statistics", "_string", "_strptime", "_struct", "_suggestions", "_symtable", "_sysconfig",
    "_thread", "_threading_local", "_tkinter", "_tokenize", "_tracemalloc", "_typing", "_uuid", "_warnings",
    "_weakref", "_weakrefset", "_winapi", "_wmi", "_zoneinfo", "abc", "aifc", "antigravity", "argparse",
    "array", "ast", "asynchat", "asyncio", "asyncore", "atexit", "audioop", "base64", "bdb", "binascii",
    "binhex", "bisect", "builtins", "bz2", "cProfile", "calendar", "cgi", "cgitb", "chunk", "cmath", "cmd",
    "code", "codecs", "codeop", "collections", "colorsys", "compileall", "concurrent", "configparser",
    "contextlib", "contextvars", "copy", "copyreg", "crypt", "csv", "ctypes", "curses", "dataclasses",
    "datetime", "dbm", "decimal", "difflib", "dis", "distutils", "doctest", "dummy_threading", "email",
    "encodings", "ensurepip", "enum", "errno", "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch",
    "formatter", "fractions", "ftplib", "functools", "gc", "genericpath", "getopt", "getpass", "gettext",
    "glob", "graphlib", "grp", "gzip", "hashlib", "heapq", "hmac", "html", "http", "idlelib", "imaplib",
    "imghdr", "imp", "importlib", "inspect", "io", "ipaddress", "itertools", "json", "keyword", "lib2to3",
    "linecache", "locale", "logging", "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap",
    "modulefinder", "msilib", "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt", "ntpath",
    "nturl2path", "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev", "parser", "pathlib",
    "pdb", "pickle", "pickletools", "pipes", "pkgutil", "platform", "plistlib", "poplib", "posix",
    "posixpath", "pprint", "profile", "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data",
    "pyexpat", "queue", "quopri", "random", "re", "readline", "reprlib", "resource", "rlcompleter", "runpy",
    "sched", "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal", "site", "smtpd",
    "smtplib", "sndhdr", "socket", "socketserver", "spwd", "sqlite3", "sre_compile", "sre_constants",
    "sre_parse", "ssl", "stat", "statistics", "string", "stringprep", "struct", "subprocess", "sunau",
    "symbol", "symtable", "sys", "sysconfig", "syslog", "tabnanny", "tarfile", "telnetlib", "tempfile",
    "termios", "textwrap", "this", "threading", "time", "timeit", "tkinter", "token", "tokenize", "tomllib",
    "trace", "traceback", "tracemalloc", "tty", "turtle", "turtledemo", "types", "typing", "unicodedata",
    "unittest", "urllib", "uu", "uuid", "venv", "warnings", "wave", "weakref", "webbrowser", "winreg",
    "winsound", "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib", "zoneinfo",
};

static int compare_key(const char *key, size_t len, const char *name)
{
    int c = strncmp(key, name, len);
    return c ? c : name[len] ? -1 : 0;
}

static bool in_sorted(const char *const *names, size_t n, const char *key, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_key(key, len, names[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

bool spy_stdlib_module(const char *name, size_t len)
{
    return in_sorted(stdlib_names, sizeof(stdlib_names) / sizeof(stdlib_names[0]), name, len);
}

bool spy_categories_library(const struct spy_categories *c, const char *file)
{
    for (size_t i = 0; i < c->napp_files; i++)
        if (regexec(&c->app_files[i], file ? file : "", 0, NULL, 0) == 0)
            return false;
    for (size_t i = 0; i < c->nlib_files; i++)
        if (regexec(&c->lib_files[i], file ? file : "", 0, NULL, 0) == 0)
            return true;
    if (!file || !*file || file[0] == '<')
        return true;
    if (file[0] == '/')
        return strstr(file, "/site-packages/") || strstr(file, "/dist-packages/") || strstr(file, "/lib/python")
               || strstr(file, "/lib64/python");
    /* relative: py-spy names files from their sys.path entry */
    const char *top = file;
    while (top[0] == '.' && top[1] == '/')
        top += 2;
    size_t len = strcspn(top, "/");
    if (top[len] == '\0') {                  /* a lone module: "threading.py" */
        const char *dot = strchr(top, '.');
        if (dot)
            len = (size_t)(dot - top);
    }
    if (len == 0)
        return false;
    return spy_stdlib_module(top, len)
           || in_sorted((const char *const *)c->packages, c->npackages, top, len);
}
