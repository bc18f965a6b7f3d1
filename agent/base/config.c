/*
 * config.c — environment variables and keyword arguments into a validated
 * struct spy_config.
 *
 * One table describes every setting: its key, the sentence that says what
 * is accepted, and how its value is read: a whole or real number within a
 * range, text of a length whose every byte passes a test, or (for the few
 * that need it) a parser of its own.  A new setting is one row.  Errors name the setting as the user wrote it,
 * the value, and that sentence.  SPY_PORT is deliberately absent: the old
 * py-spy wrapper used it for the application's own port, and binding that
 * would stop the application from starting.
 *
 * Threads: called from the constructor or the caller of spyagent.start();
 * pure functions on the struct they are given.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Where a number starts in s (leading spaces skipped), or NULL if s is blank. */
static const char *number_start(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s ? s : NULL;
}

/* True if the conversion ended cleanly: no error, only spaces after it. */
static bool number_end(const char *end)
{
    while (isspace((unsigned char)*end))
        end++;
    return errno == 0 && *end == '\0';
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!(s = number_start(s)))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!number_end(end) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!(s = number_start(s)))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (!number_end(end) || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int set_enabled(struct spy_config *c, const char *v)
{
    static const char *on[] = { "1", "true", "yes", "on" };
    static const char *off[] = { "0", "false", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, on[i]) == 0) { c->enabled = true; return 0; }
        if (strcasecmp(v, off[i]) == 0) { c->enabled = false; return 0; }
    }
    return -1;
}

static int set_log(struct spy_config *c, const char *v)
{
    if (strcasecmp(v, "quiet") == 0) c->log_level = SPY_LOG_ERROR;
    else if (strcasecmp(v, "info") == 0) c->log_level = SPY_LOG_INFO;
    else if (strcasecmp(v, "debug") == 0) c->log_level = SPY_LOG_DEBUG;
    else return -1;
    return 0;
}

static int set_read_method(struct spy_config *c, const char *v)
{
    static const struct { const char *name; enum spy_read_pref pref; } methods[] = {
        { "auto", SPY_READ_AUTO }, { "guarded", SPY_READ_GUARDED },
        { "vm_readv", SPY_READ_VM_READV }, { "pipe", SPY_READ_PIPE },
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcasecmp(v, methods[i].name) == 0) {
            c->read_method = (int)methods[i].pref;
            return 0;
        }
    return -1;
}

/* Comma-separated origins: each "null" or http(s)://host[:port]. */
static int set_origins(struct spy_config *c, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(c->origins))
        return -1;
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool ok = (len == 4 && strncmp(p, "null", 4) == 0);
        size_t skip = strncmp(p, "http://", 7) == 0 ? 7 : strncmp(p, "https://", 8) == 0 ? 8 : 0;
        if (!ok && skip && len > skip) {
            ok = true;
            for (size_t i = skip; i < len; i++)
                if (!isalnum((unsigned char)p[i]) && !strchr(".-:[]", p[i]))
                    ok = false;
        }
        if (!ok)
            return -1;
        p += len + (e ? 1 : 0);
        if (e && !*p)
            return -1;
    }
    memcpy(c->origins, v, n + 1);
    return 0;
}

static int host_char(int ch)
{
    return isalnum(ch) || ch == '.' || ch == '-' || ch == ':';
}

static int graph_char(int ch)
{
    return isgraph(ch);
}

/* How a setting's value is read: a whole number or a real number within
 * [lo, hi], text of lo to cap-1 bytes whose every byte passes char_ok, or
 * by the setting's own parser. */
enum kind { KIND_OWN, KIND_INT, KIND_REAL, KIND_TEXT };

struct setting {
    const char *key;
    const char *accepted;                            /* for the error message */
    enum kind kind;
    int (*set)(struct spy_config *, const char *);   /* KIND_OWN */
    size_t field, cap;                               /* offset in spy_config, buffer size */
    double lo, hi;
    int (*char_ok)(int);                             /* KIND_TEXT; NULL: any byte */
};

#define FIELD(f) .field = offsetof(struct spy_config, f), .cap = sizeof(((struct spy_config *)0)->f)
#define INT_IN(f, min, max) .kind = KIND_INT, FIELD(f), .lo = (min), .hi = (max)
#define REAL_IN(f, min, max) .kind = KIND_REAL, FIELD(f), .lo = (min), .hi = (max)
#define TEXT_OF(f, shortest, ok) .kind = KIND_TEXT, FIELD(f), .lo = (shortest), .char_ok = (ok)

static const struct setting settings[] = {
    { .key = "enabled", .accepted = "1, 0, true, false, yes, no, on or off", .set = set_enabled },
    { .key = "rate", .accepted = "a whole number of samples per second from 1 to 10000", INT_IN(rate, 1, 10000) },
    { .key = "cpu_budget", .accepted = "a percentage of one core from 0 to 100 (0 turns the cap off)",
      REAL_IN(cpu_budget, 0.0, 100.0) },
    { .key = "ws_host", .accepted = "a host name or IP address such as 127.0.0.1", TEXT_OF(ws_host, 1, host_char) },
    { .key = "ws_port", .accepted = "a TCP port number from 1 to 65535", INT_IN(ws_port, 1, 65535) },
    { .key = "data_dir", .accepted = "a directory path of 1 to 1023 bytes", TEXT_OF(data_dir, 1, NULL) },
    { .key = "log", .accepted = "quiet, info or debug", .set = set_log },
    { .key = "history", .accepted = "a whole number of seconds from 10 to 3600", INT_IN(history, 10, 3600) },
    { .key = "interval", .accepted = "a whole number of milliseconds from 50 to 60000",
      INT_IN(interval_ms, 50, 60000) },
    { .key = "token", .accepted = "8 to 256 printable characters without spaces", TEXT_OF(token, 8, graph_char) },
    { .key = "max_memory", .accepted = "a whole number of MiB from 8 to 4096", INT_IN(max_memory_mb, 8, 4096) },
    { .key = "origins", .accepted = "comma-separated browser origins, each null or http(s)://host[:port]",
      .set = set_origins },
    { .key = "read_method", .accepted = "auto, guarded, vm_readv or pipe", .set = set_read_method },
    { .key = "max_clients", .accepted = "a whole number of WebSocket clients from 1 to 200",
      INT_IN(max_clients, 1, SPY_MAX_CLIENTS_LIMIT) },
    { .key = "task_rate", .accepted = "a whole number of asyncio task snapshots per second from 0 (off) to 1000",
      INT_IN(task_rate, 0, 1000) },
    { .key = "task_cap", .accepted = "a whole number of tasks walked per snapshot from 2 to 4096",
      INT_IN(task_cap, 2, 4096) },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* 0 and the field set, or -1 with the struct untouched. */
static int apply(const struct setting *s, struct spy_config *c, const char *v)
{
    char *field = (char *)c + s->field;
    switch (s->kind) {
    case KIND_OWN:
        return s->set(c, v);
    case KIND_INT: {
        long n;
        if (parse_int(v, (long)s->lo, (long)s->hi, &n) != 0)
            return -1;
        *(int *)(void *)field = (int)n;
        return 0;
    }
    case KIND_REAL:
        return parse_double(v, s->lo, s->hi, (double *)(void *)field);
    case KIND_TEXT: {
        size_t n = strlen(v);
        if (n < (size_t)s->lo || n >= s->cap)
            return -1;
        for (size_t i = 0; s->char_ok && i < n; i++)
            if (!s->char_ok((unsigned char)v[i]))
                return -1;
        memcpy(field, v, n + 1);
        return 0;
    }
    }
    return -1;
}

const char *spy_config_key(size_t i)
{
    return i < NSETTINGS ? settings[i].key : NULL;
}

void spy_config_defaults(struct spy_config *c)
{
    memset(c, 0, sizeof(*c));
    c->enabled = true;
    c->rate = 100;
    c->cpu_budget = 1.0;
    strcpy(c->ws_host, "127.0.0.1");
    c->ws_port = SPY_DEFAULT_WS_PORT;
    strcpy(c->data_dir, "spy-data");
    c->log_level = SPY_LOG_INFO;
    c->history = 300;
    c->interval_ms = 1000;
    c->max_memory_mb = 64;
    c->read_method = SPY_READ_AUTO;
    c->max_clients = 32;
    c->task_rate = 20;
    c->task_cap = 64;
}

/* Values are quoted in messages; keep them printable and short. */
static void quote(const char *v, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; v[i] && j + 5 < cap; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (isprint(ch)) {
            out[j++] = (char)ch;
        } else {
            j += (size_t)snprintf(out + j, cap - j, "\\x%02x", ch);
        }
        if (i >= 60) {
            j += (size_t)snprintf(out + j, cap - j, "...");
            break;
        }
    }
    out[j < cap ? j : cap - 1] = '\0';
}

int spy_config_set(struct spy_config *c, const char *key, const char *value,
                   const char *label, char *err, size_t errlen)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].key, key) != 0)
            continue;
        if (apply(&settings[i], c, value) == 0)
            return 0;
        char q[80];
        quote(value, q, sizeof(q));
        /* a token is a secret: never echo it */
        if (strcmp(key, "token") == 0)
            snprintf(err, errlen, "%s is not valid: expected %s", label, settings[i].accepted);
        else
            snprintf(err, errlen, "%s='%s' is not valid: expected %s", label, q, settings[i].accepted);
        return -1;
    }
    int n = snprintf(err, errlen, "unknown setting '%s': accepted settings are", label);
    for (size_t i = 0; i < NSETTINGS && n >= 0 && (size_t)n < errlen; i++)
        n += snprintf(err + n, errlen - (size_t)n, "%s %s", i ? "," : "", settings[i].key);
    return -1;
}

int spy_config_from_env(struct spy_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        char name[64] = "SPY_";
        size_t k = 4;
        for (const char *p = settings[i].key; *p && k < sizeof(name) - 1; p++)
            name[k++] = (char)toupper((unsigned char)*p);
        name[k] = '\0';
        const char *v = getenv(name);
        if (v == NULL)
            continue;
        if (spy_config_set(c, settings[i].key, v, name, err, errlen) != 0)
            return -1;
    }
    return 0;
}
