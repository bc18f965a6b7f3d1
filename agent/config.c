/*
 * config.c — environment variables and keyword arguments into a validated
 * struct spy_config.
 *
 * One table describes every setting: its key, its parser and the sentence
 * that says what is accepted.  Errors name the setting as the user wrote it,
 * the value, and that sentence.  SPY_PORT is deliberately absent: the old
 * py-spy wrapper used it for the application's own port, and binding that
 * would stop the application from starting.
 *
 * Threads: called from the constructor or the caller of spyagent.start();
 * pure functions on the struct they are given.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi)
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

static int set_rate(struct spy_config *c, const char *v)
{
    long r;
    if (parse_int(v, 1, 10000, &r) != 0)
        return -1;
    c->rate = (int)r;
    return 0;
}

static int set_cpu_budget(struct spy_config *c, const char *v)
{
    return parse_double(v, 0.0, 100.0, &c->cpu_budget);
}

static int set_ws_host(struct spy_config *c, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(c->ws_host))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '.' && v[i] != '-' && v[i] != ':')
            return -1;
    memcpy(c->ws_host, v, n + 1);
    return 0;
}

static int set_ws_port(struct spy_config *c, const char *v)
{
    long p;
    if (parse_int(v, 1, 65535, &p) != 0)
        return -1;
    c->ws_port = (int)p;
    return 0;
}

static int set_data_dir(struct spy_config *c, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(c->data_dir))
        return -1;
    memcpy(c->data_dir, v, n + 1);
    return 0;
}

static int set_log(struct spy_config *c, const char *v)
{
    if (strcasecmp(v, "quiet") == 0) c->log_level = SPY_LOG_ERROR;
    else if (strcasecmp(v, "info") == 0) c->log_level = SPY_LOG_INFO;
    else if (strcasecmp(v, "debug") == 0) c->log_level = SPY_LOG_DEBUG;
    else return -1;
    return 0;
}

static int set_history(struct spy_config *c, const char *v)
{
    long h;
    if (parse_int(v, 10, 3600, &h) != 0)
        return -1;
    c->history = (int)h;
    return 0;
}

static int set_interval(struct spy_config *c, const char *v)
{
    long ms;
    if (parse_int(v, 50, 60000, &ms) != 0)
        return -1;
    c->interval_ms = (int)ms;
    return 0;
}

static int set_token(struct spy_config *c, const char *v)
{
    size_t n = strlen(v);
    if (n < 8 || n >= sizeof(c->token))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)v[i]))
            return -1;
    memcpy(c->token, v, n + 1);
    return 0;
}

static int set_max_memory(struct spy_config *c, const char *v)
{
    long mb;
    if (parse_int(v, 8, 4096, &mb) != 0)
        return -1;
    c->max_memory_mb = (int)mb;
    return 0;
}

static int set_max_clients(struct spy_config *c, const char *v)
{
    long n;
    if (parse_int(v, 1, SPY_MAX_CLIENTS_LIMIT, &n) != 0)
        return -1;
    c->max_clients = (int)n;
    return 0;
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

struct setting {
    const char *key;
    int (*set)(struct spy_config *, const char *);
    const char *accepted;
};

static const struct setting settings[] = {
    { "enabled", set_enabled, "1, 0, true, false, yes, no, on or off" },
    { "rate", set_rate, "a whole number of samples per second from 1 to 10000" },
    { "cpu_budget", set_cpu_budget, "a percentage of one core from 0 to 100 (0 turns the cap off)" },
    { "ws_host", set_ws_host, "a host name or IP address such as 127.0.0.1" },
    { "ws_port", set_ws_port, "a TCP port number from 1 to 65535" },
    { "data_dir", set_data_dir, "a directory path of 1 to 1023 bytes" },
    { "log", set_log, "quiet, info or debug" },
    { "history", set_history, "a whole number of seconds from 10 to 3600" },
    { "interval", set_interval, "a whole number of milliseconds from 50 to 60000" },
    { "token", set_token, "8 to 256 printable characters without spaces" },
    { "max_memory", set_max_memory, "a whole number of MiB from 8 to 4096" },
    { "origins", set_origins, "comma-separated browser origins, each null or http(s)://host[:port]" },
    { "max_clients", set_max_clients, "a whole number of WebSocket clients from 1 to 200" },
};

const char *const spy_config_keys[] = {
    "enabled", "rate", "cpu_budget", "ws_host", "ws_port", "data_dir", "log", "history", "interval", "token", "max_memory", "origins",
    "max_clients", NULL,
};

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
    c->max_clients = 32;
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
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (strcmp(settings[i].key, key) != 0)
            continue;
        if (settings[i].set(c, value) == 0)
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
    snprintf(err, errlen, "unknown setting '%s': accepted settings are enabled, rate, cpu_budget, ws_host, ws_port, "
             "data_dir, log, history, interval, token, max_memory, origins, max_clients", label);
    return -1;
}

int spy_config_from_env(struct spy_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
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
