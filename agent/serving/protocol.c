/*
 * protocol.c — one parser for what clients send: plain-text commands for
 * people typing in wscat ("record 60", "top 20 window 5 idle") and JSON
 * commands for programs ({"cmd":"record","seconds":60}).  Both produce the
 * same struct spy_cmd and refuse the same things with the same error codes,
 * and every error message says what was wrong and what is accepted.
 *
 * It knows nothing of libwebsockets or of the agent's state: numbers are
 * checked against the ranges in docs/PROTOCOL.md here, and whether a
 * command can run now (a recording already running...) is decided by the
 * server.  Threads: pure functions, any thread.
 */
#include "protocol.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

const struct spy_cmd_help spy_cmd_help[] = {
    { "help", "help", "list the commands" },
    { "status", "status", "the agent's state and counters" },
    { "top", "top [N] [tasks|cpu] [window S] [idle] [thread TID] [pid N]",
      "one top snapshot: N rows (1-1000), the last S seconds, idle samples too, one thread; "
      "'tasks': asyncio task wall time in ms instead of CPU samples" },
    { "live", "live [N] [tasks|cpu] [window S|all] [idle|noidle] [thread TID|all] [pid N]",
      "what this connection's live top pushes cover: the CPU view or the task view" },
    { "pause", "pause", "stop live top pushes to this connection" },
    { "resume", "resume", "start live top pushes again" },
    { "dump", "dump [pid N]", "every thread's stack now, innermost frame first (every process, or one)" },
    { "tasks", "tasks [pid N]",
      "every pending asyncio task now: name, state, what it awaits, frames innermost first (every process, or one)" },
    { "flame", "flame [tasks|cpu] [window S|all] [idle] [thread TID] [pid N]",
      "the merged call tree of the last S seconds (default: since start)" },
    { "record", "record S [svg|collapsed|speedscope|pprof...] | record stop | record last S [formats]",
      "record S seconds (1-3600) to files; stop early; or write the last S seconds at once" },
    { "report", "report [text|html] [S]",
      "a performance report: of the last S seconds, else of the last recording, else since start" },
    { "rate", "rate HZ", "change the sampling rate (1-10000 Hz)" },
    { "reset", "reset", "start the live aggregate again" },
    { "auth", "auth TOKEN", "present the token when the agent requires one" },
    { NULL, NULL, NULL },
};

#define MAX_WORDS 12
#define MAX_RECORD_SECONDS 3600
#define MAX_LIMIT 1000
#define MAX_HZ 10000

static int fail(struct spy_cmd_error *err, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct spy_cmd_error *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* A whole decimal number within [lo, hi]; -1 if not one. */
static int parse_whole(const char *w, long lo, long hi, long *out)
{
    if (!*w)
        return -1;
    for (const char *p = w; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == w && (*p == '-' || *p == '+')))
            return -1;
    errno = 0;
    char *end;
    long v = strtol(w, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int format_bit(const char *w)
{
    if (strcmp(w, "svg") == 0) return SPY_FMT_SVG;
    if (strcmp(w, "collapsed") == 0) return SPY_FMT_COLLAPSED;
    if (strcmp(w, "speedscope") == 0) return SPY_FMT_SPEEDSCOPE;
    if (strcmp(w, "pprof") == 0) return SPY_FMT_PPROF;
    return 0;
}

void spy_formats_text(unsigned formats, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    const char *names[] = { "svg", "collapsed", "speedscope", "pprof" };
    for (int i = 0; i < 4; i++)
        if (formats & (1u << i))
            k += (size_t)snprintf(out + k, k < cap ? cap - k : 0, "%s\"%s\"", k ? "," : "", names[i]);
}

/* Printable, shortened copy of a client's word for messages. */
static const char *shown(const char *w, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; w[i] && j + 4 < cap; i++) {
        unsigned char c = (unsigned char)w[i];
        buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        if (i >= 40) {
            buf[j++] = '.';
            buf[j++] = '.';
            buf[j++] = '.';
            break;
        }
    }
    buf[j] = '\0';
    return buf;
}

static int range_error(struct spy_cmd_error *err, const char *what, const char *word, long lo, long hi)
{
    char b[64];
    return fail(err, "bad_argument", "%s '%s' is not valid: expected a whole number from %ld to %ld", what,
                shown(word, b, sizeof(b)), lo, hi);
}

static int parse_formats(char **w, int n, unsigned *formats, struct spy_cmd_error *err)
{
    for (int i = 0; i < n; i++) {
        int bit = format_bit(w[i]);
        char b[64];
        if (!bit)
            return fail(err, "bad_argument", "unknown format '%s': expected svg, collapsed, speedscope or pprof",
                        shown(w[i], b, sizeof(b)));
        *formats |= (unsigned)bit;
    }
    return 0;
}

/* top/live/flame options: [N] [tasks|cpu] [window S|all] [idle|noidle] ... */
static int parse_view(char **w, int n, bool live, int history, struct spy_cmd *cmd, struct spy_cmd_error *err)
{
    const char *name = live ? "live" : "top";
    int i = 0;
    long v;
    char b[64];
    if (i < n && (isdigit((unsigned char)w[i][0]) || w[i][0] == '-' || w[i][0] == '+')) {
        if (parse_whole(w[i], 1, MAX_LIMIT, &v) != 0)
            return range_error(err, "row count", w[i], 1, MAX_LIMIT);
        cmd->limit = (int)v;
        i++;
    }
    while (i < n) {
        if (strcmp(w[i], "window") == 0) {
            if (i + 1 >= n)
                return fail(err, "missing_argument", "%s: 'window' needs a number of seconds from 1 to %d%s", name,
                            history, live ? " or 'all'" : "");
            if (live && strcmp(w[i + 1], "all") == 0) {
                cmd->window_all = true;
            } else {
                if (parse_whole(w[i + 1], 1, history, &v) != 0)
                    return range_error(err, "window", w[i + 1], 1, history);
                cmd->window = (int)v;
            }
            cmd->window_given = true;
            i += 2;
        } else if (strcmp(w[i], "pid") == 0) {
            if (i + 1 >= n)
                return fail(err, "missing_argument", "%s: 'pid' needs a process id", name);
            if (parse_whole(w[i + 1], 1, INT_MAX, &v) != 0)
                return range_error(err, "pid", w[i + 1], 1, INT_MAX);
            cmd->pid = (int)v;
            i += 2;
        } else if (strcmp(w[i], "thread") == 0) {
            if (i + 1 >= n)
                return fail(err, "missing_argument", "%s: 'thread' needs a thread id (tid)%s", name,
                            live ? " or 'all'" : "");
            if (live && strcmp(w[i + 1], "all") == 0) {
                cmd->tid = 0;
            } else {
                if (parse_whole(w[i + 1], 1, INT_MAX, &v) != 0)
                    return range_error(err, "thread id", w[i + 1], 1, INT_MAX);
                cmd->tid = (int)v;
            }
            cmd->tid_given = true;
            i += 2;
        } else if (strcmp(w[i], "idle") == 0) {
            cmd->idle = cmd->idle_given = true;
            i++;
        } else if (strcmp(w[i], "tasks") == 0 || strcmp(w[i], "cpu") == 0) {
            cmd->tasks = w[i][0] == 't';
            cmd->tasks_given = true;
            i++;
        } else if (live && strcmp(w[i], "noidle") == 0) {
            cmd->idle = false;
            cmd->idle_given = true;
            i++;
        } else {
            return fail(err, "bad_argument", "%s: unexpected '%s': expected %s", name, shown(w[i], b, sizeof(b)),
                        cmd->kind == SPY_CMD_FLAME ? "flame [tasks|cpu] [window S|all] [idle] [thread TID] [pid N]"
                        : live ? "live [N] [tasks|cpu] [window S|all] [idle|noidle] [thread TID|all] [pid N]"
                               : "top [N] [tasks|cpu] [window S] [idle] [thread TID] [pid N]");
        }
    }
    return 0;
}

static int no_args(const char *name, int n, struct spy_cmd_error *err)
{
    if (n > 0)
        return fail(err, "too_many_arguments", "'%s' takes no arguments", name);
    return 0;
}

static int parse_text(char *line, int history, struct spy_cmd *cmd, struct spy_cmd_error *err)
{
    char *w[MAX_WORDS + 1];
    int n = 0;
    char b[64];
    for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        if (n == MAX_WORDS)
            return fail(err, "too_many_arguments", "too many words: a command has at most %d", MAX_WORDS);
        w[n++] = tok;
    }
    if (n == 0)
        return fail(err, "unknown_command", "empty command: send 'help' for the list of commands");
    const char *c = w[0];
    char **a = w + 1;
    int na = n - 1;
    long v;
    if (strcmp(c, "help") == 0) { cmd->kind = SPY_CMD_HELP; return no_args(c, na, err); }
    if (strcmp(c, "status") == 0) { cmd->kind = SPY_CMD_STATUS; return no_args(c, na, err); }
    if (strcmp(c, "pause") == 0) { cmd->kind = SPY_CMD_PAUSE; return no_args(c, na, err); }
    if (strcmp(c, "resume") == 0) { cmd->kind = SPY_CMD_RESUME; return no_args(c, na, err); }
    if (strcmp(c, "dump") == 0 || strcmp(c, "tasks") == 0) {
        cmd->kind = c[0] == 'd' ? SPY_CMD_DUMP : SPY_CMD_TASKS;
        if (na == 0)
            return 0;
        if (na == 2 && strcmp(a[0], "pid") == 0) {
            if (parse_whole(a[1], 1, INT_MAX, &v) != 0)
                return range_error(err, "pid", a[1], 1, INT_MAX);
            cmd->pid = (int)v;
            return 0;
        }
        if (strcmp(a[0], "pid") != 0)
            return fail(err, "too_many_arguments", "'%s' takes nothing, or pid N", c);
        if (na == 1)
            return fail(err, "missing_argument", "%s pid needs a process id", c);
        if (na > 2)
            return fail(err, "too_many_arguments", "'%s' takes nothing, or pid N", c);
        return range_error(err, "pid", a[1], 1, INT_MAX);
    }
    if (strcmp(c, "reset") == 0) { cmd->kind = SPY_CMD_RESET; return no_args(c, na, err); }
    if (strcmp(c, "top") == 0) { cmd->kind = SPY_CMD_TOP; return parse_view(a, na, false, history, cmd, err); }
    if (strcmp(c, "live") == 0) { cmd->kind = SPY_CMD_LIVE; return parse_view(a, na, true, history, cmd, err); }
    if (strcmp(c, "flame") == 0) {
        cmd->kind = SPY_CMD_FLAME;
        if (na > 0 && isdigit((unsigned char)a[0][0]))
            return fail(err, "bad_argument", "flame: unexpected '%s': expected flame [tasks] [window S|all] [idle]",
                        a[0]);
        return parse_view(a, na, true, history, cmd, err);
    }
    if (strcmp(c, "report") == 0) {
        cmd->kind = SPY_CMD_REPORT;
        int i = 0;
        if (i < na && (strcmp(a[i], "text") == 0 || strcmp(a[i], "html") == 0))
            cmd->html = strcmp(a[i++], "html") == 0;
        if (i < na) {
            if (!isdigit((unsigned char)a[i][0]) && a[i][0] != '-' && a[i][0] != '+')
                return fail(err, "bad_argument", "unknown report format '%s': expected text or html, then "
                            "optionally a number of seconds", shown(a[i], b, sizeof(b)));
            if (parse_whole(a[i], 1, history, &v) != 0)
                return range_error(err, "report seconds", a[i], 1, history);
            cmd->seconds = (int)v;
            i++;
        }
        if (i < na)
            return fail(err, "too_many_arguments", "report takes [text|html] [seconds], not '%s'",
                        shown(a[i], b, sizeof(b)));
        return 0;
    }
    if (strcmp(c, "rate") == 0) {
        cmd->kind = SPY_CMD_RATE;
        if (na == 0)
            return fail(err, "missing_argument", "rate needs a number of samples per second from 1 to %d", MAX_HZ);
        if (na > 1)
            return fail(err, "too_many_arguments", "rate takes one number (1 to %d)", MAX_HZ);
        if (parse_whole(a[0], 1, MAX_HZ, &v) != 0)
            return range_error(err, "rate", a[0], 1, MAX_HZ);
        cmd->hz = (int)v;
        return 0;
    }
    if (strcmp(c, "auth") == 0) {
        cmd->kind = SPY_CMD_AUTH;
        if (na != 1)
            return fail(err, "missing_argument", "auth takes the token: auth TOKEN");
        snprintf(cmd->token, sizeof(cmd->token), "%s", a[0]);
        return 0;
    }
    if (strcmp(c, "record") == 0) {
        if (na == 0)
            return fail(err, "missing_argument", "record needs a number of seconds from 1 to %d, 'stop' or 'last S'",
                        MAX_RECORD_SECONDS);
        if (strcmp(a[0], "stop") == 0) {
            cmd->kind = SPY_CMD_RECORD_STOP;
            return na > 1 ? fail(err, "too_many_arguments", "'record stop' takes no arguments") : 0;
        }
        if (strcmp(a[0], "last") == 0) {
            cmd->kind = SPY_CMD_RECORD_LAST;
            if (na < 2)
                return fail(err, "missing_argument", "record last needs a number of seconds from 1 to %d", history);
            if (parse_whole(a[1], 1, history, &v) != 0)
                return range_error(err, "record last seconds", a[1], 1, history);
            cmd->seconds = (int)v;
            return parse_formats(a + 2, na - 2, &cmd->formats, err);
        }
        cmd->kind = SPY_CMD_RECORD;
        if (parse_whole(a[0], 1, MAX_RECORD_SECONDS, &v) != 0)
            return range_error(err, "record seconds", a[0], 1, MAX_RECORD_SECONDS);
        cmd->seconds = (int)v;
        return parse_formats(a + 1, na - 1, &cmd->formats, err);
    }
    return fail(err, "unknown_command", "unknown command '%s': send 'help' for the list of commands",
                shown(c, b, sizeof(b)));
}

/* ---- JSON commands ------------------------------------------------------ */

static int json_whole(const cJSON *v, const char *member, long lo, long hi, long *out, struct spy_cmd_error *err)
{
    /* in range before the cast: (long) of 1e54 is undefined (found by tests/fuzz) */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9e18 && v->valuedouble <= 9e18)
        || v->valuedouble != (double)(long)v->valuedouble)
        return fail(err, "bad_argument", "\"%s\" must be a whole number from %ld to %ld", member, lo, hi);
    long x = (long)v->valuedouble;
    if (x < lo || x > hi)
        return fail(err, "bad_argument", "\"%s\": %ld is not valid: expected a whole number from %ld to %ld", member,
                    x, lo, hi);
    *out = x;
    return 0;
}

static int json_formats(const cJSON *v, unsigned *formats, struct spy_cmd_error *err)
{
    if (!cJSON_IsArray(v))
        return fail(err, "bad_argument", "\"formats\" must be an array of \"svg\", \"collapsed\", \"speedscope\", \"pprof\"");
    const cJSON *f;
    cJSON_ArrayForEach(f, v)
    {
        char b[64];
        int bit = cJSON_IsString(f) ? format_bit(f->valuestring) : 0;
        if (!bit)
            return fail(err, "bad_argument", "unknown format %s: expected \"svg\", \"collapsed\", \"speedscope\" or \"pprof\"",
                        cJSON_IsString(f) ? shown(f->valuestring, b, sizeof(b)) : "(not a string)");
        *formats |= (unsigned)bit;
    }
    return 0;
}

/* Members a JSON command may carry besides "cmd" and "id". */
static int check_members(const cJSON *obj, const char *cmd, const char *allowed, struct spy_cmd_error *err)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        const char *k = m->string;
        if (strcmp(k, "cmd") == 0 || strcmp(k, "id") == 0)
            continue;
        char pat[80];
        snprintf(pat, sizeof(pat), " %s ", k);
        if (!strstr(allowed, pat)) {
            char b[64];
            return fail(err, "bad_argument", "\"%s\" does not take \"%s\"%s%s", cmd, shown(k, b, sizeof(b)),
                        strlen(allowed) > 1 ? "; it takes:" : "", allowed);
        }
    }
    return 0;
}

static int parse_json(const char *msg, size_t len, int history, struct spy_cmd *cmd, struct spy_cmd_error *err)
{
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(msg, len, &end, 0);
    int rc = -1;
    long v;
    if (!obj)
        return fail(err, "bad_json", "not valid JSON: send a JSON object such as {\"cmd\":\"status\"} or a text "
                    "command such as 'status'");
    /* one command per message: after the object only white space */
    size_t used = end && end >= msg && end <= msg + len ? (size_t)(end - msg) : len;
    while (used < len && isspace((unsigned char)msg[used]))
        used++;
    if (used < len) {
        char b[64], rest[48];
        size_t n = len - used < sizeof(rest) - 1 ? len - used : sizeof(rest) - 1;
        memcpy(rest, msg + used, n);
        rest[n] = '\0';
        fail(err, "bad_json", "unexpected '%s' after the JSON object (at byte %zu): send one JSON object per "
             "message, nothing after it", shown(rest, b, sizeof(b)), used);
        goto out;
    }
    if (!cJSON_IsObject(obj)) {
        fail(err, "bad_json", "a JSON command must be an object with a \"cmd\" member");
        goto out;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (id) {
        if (!cJSON_IsString(id) && !cJSON_IsNumber(id)) {
            fail(err, "bad_argument", "\"id\" must be a string or a number");
            goto out;
        }
        char *t = cJSON_PrintUnformatted(id);
        if (t && strlen(t) < sizeof(cmd->id)) {
            strcpy(cmd->id, t);
            strcpy(err->id, t);
        }
        cJSON_free(t);
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "cmd");
    if (!cJSON_IsString(c)) {
        fail(err, "bad_json", "a JSON command needs \"cmd\" as a string, e.g. {\"cmd\":\"status\"}");
        goto out;
    }
    const char *name = c->valuestring;
    const cJSON *m;
    if (!strcmp(name, "dump") || !strcmp(name, "tasks")) {
        cmd->kind = name[0] == 'd' ? SPY_CMD_DUMP : SPY_CMD_TASKS;
        if (check_members(obj, name, " pid ", err))
            goto out;
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "pid"))) {
            if (json_whole(m, "pid", 1, INT_MAX, &v, err))
                goto out;
            cmd->pid = (int)v;
        }
        rc = 0;
    } else if (!strcmp(name, "help") || !strcmp(name, "status") || !strcmp(name, "pause") || !strcmp(name, "resume")
        || !strcmp(name, "reset")) {
        cmd->kind = !strcmp(name, "help") ? SPY_CMD_HELP : !strcmp(name, "status") ? SPY_CMD_STATUS
                  : !strcmp(name, "pause") ? SPY_CMD_PAUSE : !strcmp(name, "resume") ? SPY_CMD_RESUME
                  : !strcmp(name, "dump") ? SPY_CMD_DUMP : SPY_CMD_RESET;
        rc = check_members(obj, name, " ", err);
    } else if (!strcmp(name, "top") || !strcmp(name, "live") || !strcmp(name, "flame")) {
        bool live = name[0] != 't';      /* live and flame take window "all" */
        cmd->kind = name[0] == 'l' ? SPY_CMD_LIVE : name[0] == 'f' ? SPY_CMD_FLAME : SPY_CMD_TOP;
        if (check_members(obj, name,
                          cmd->kind == SPY_CMD_FLAME ? " window idle thread pid view "
                                                     : " limit window idle thread pid view ", err))
            goto out;
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "view")) && !cJSON_IsNull(m)) {
            if (!cJSON_IsString(m) || (strcmp(m->valuestring, "tasks") && strcmp(m->valuestring, "cpu"))) {
                fail(err, "bad_argument", "\"view\" must be \"cpu\" or \"tasks\"");
                goto out;
            }
            cmd->tasks = m->valuestring[0] == 't';
            cmd->tasks_given = true;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "pid")) && !cJSON_IsNull(m)) {
            if (json_whole(m, "pid", 1, INT_MAX, &v, err))
                goto out;
            cmd->pid = (int)v;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "thread")) && !cJSON_IsNull(m)) {
            if (live && cJSON_IsString(m) && strcmp(m->valuestring, "all") == 0) {
                cmd->tid = 0;
            } else {
                if (json_whole(m, "thread", 1, INT_MAX, &v, err))
                    goto out;
                cmd->tid = (int)v;
            }
            cmd->tid_given = true;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "limit"))) {
            if (json_whole(m, "limit", 1, MAX_LIMIT, &v, err))
                goto out;
            cmd->limit = (int)v;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "window")) && !cJSON_IsNull(m)) {
            if (live && cJSON_IsString(m) && strcmp(m->valuestring, "all") == 0) {
                cmd->window_all = true;
            } else {
                if (json_whole(m, "window", 1, history, &v, err))
                    goto out;
                cmd->window = (int)v;
            }
            cmd->window_given = true;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "idle"))) {
            if (!cJSON_IsBool(m)) {
                fail(err, "bad_argument", "\"idle\" must be true or false");
                goto out;
            }
            cmd->idle = cJSON_IsTrue(m);
            cmd->idle_given = true;
        }
        rc = 0;
    } else if (!strcmp(name, "report")) {
        cmd->kind = SPY_CMD_REPORT;
        if (check_members(obj, name, " format seconds ", err))
            goto out;
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "format"))) {
            if (!cJSON_IsString(m) || (strcmp(m->valuestring, "text") && strcmp(m->valuestring, "html"))) {
                fail(err, "bad_argument", "\"format\" must be \"text\" or \"html\"");
                goto out;
            }
            cmd->html = strcmp(m->valuestring, "html") == 0;
        }
        if ((m = cJSON_GetObjectItemCaseSensitive(obj, "seconds"))) {
            if (json_whole(m, "seconds", 1, history, &v, err))
                goto out;
            cmd->seconds = (int)v;
        }
        rc = 0;
    } else if (!strcmp(name, "rate")) {
        cmd->kind = SPY_CMD_RATE;
        if (check_members(obj, name, " hz ", err))
            goto out;
        if (!(m = cJSON_GetObjectItemCaseSensitive(obj, "hz"))) {
            fail(err, "missing_argument", "\"rate\" needs \"hz\": a whole number from 1 to %d", MAX_HZ);
            goto out;
        }
        if (json_whole(m, "hz", 1, MAX_HZ, &v, err))
            goto out;
        cmd->hz = (int)v;
        rc = 0;
    } else if (!strcmp(name, "auth")) {
        cmd->kind = SPY_CMD_AUTH;
        if (check_members(obj, name, " token ", err))
            goto out;
        m = cJSON_GetObjectItemCaseSensitive(obj, "token");
        if (!cJSON_IsString(m)) {
            fail(err, "missing_argument", "\"auth\" needs \"token\" as a string");
            goto out;
        }
        snprintf(cmd->token, sizeof(cmd->token), "%s", m->valuestring);
        rc = 0;
    } else if (!strcmp(name, "record")) {
        if (check_members(obj, name, " seconds last action formats ", err))
            goto out;
        const cJSON *action = cJSON_GetObjectItemCaseSensitive(obj, "action");
        const cJSON *secs = cJSON_GetObjectItemCaseSensitive(obj, "seconds");
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(obj, "last");
        const cJSON *fmts = cJSON_GetObjectItemCaseSensitive(obj, "formats");
        if (action) {
            if (!cJSON_IsString(action) || strcmp(action->valuestring, "stop") != 0) {
                fail(err, "bad_argument", "\"action\" can only be \"stop\"");
                goto out;
            }
            if (secs || last || fmts) {
                fail(err, "too_many_arguments", "{\"cmd\":\"record\",\"action\":\"stop\"} takes nothing else");
                goto out;
            }
            cmd->kind = SPY_CMD_RECORD_STOP;
            rc = 0;
            goto out;
        }
        if ((secs != NULL) == (last != NULL)) {
            fail(err, "missing_argument", "\"record\" needs either \"seconds\" (1 to %d) or \"last\" (1 to %d)",
                 MAX_RECORD_SECONDS, history);
            goto out;
        }
        if (secs) {
            cmd->kind = SPY_CMD_RECORD;
            if (json_whole(secs, "seconds", 1, MAX_RECORD_SECONDS, &v, err))
                goto out;
        } else {
            cmd->kind = SPY_CMD_RECORD_LAST;
            if (json_whole(last, "last", 1, history, &v, err))
                goto out;
        }
        cmd->seconds = (int)v;
        if (fmts && json_formats(fmts, &cmd->formats, err))
            goto out;
        rc = 0;
    } else {
        char b[64];
        fail(err, "unknown_command", "unknown command \"%s\": send {\"cmd\":\"help\"} for the list of commands",
             shown(name, b, sizeof(b)));
    }
out:
    cJSON_Delete(obj);
    return rc;
}

int spy_protocol_parse(const char *msg, size_t len, int history, struct spy_cmd *cmd, struct spy_cmd_error *err)
{
    memset(cmd, 0, sizeof(*cmd));
    memset(err, 0, sizeof(*err));
    size_t i = 0;
    while (i < len && isspace((unsigned char)msg[i]))
        i++;
    if (i < len && (msg[i] == '{' || msg[i] == '['))
        return parse_json(msg + i, len - i, history, cmd, err);
    if (len > 4096)
        return fail(err, "bad_argument", "command too long");
    char line[4097];
    memcpy(line, msg, len);
    line[len] = '\0';
    if (memchr(msg, '\0', len))
        return fail(err, "bad_argument", "a command must not contain NUL bytes");
    return parse_text(line, history, cmd, err);
}

bool spy_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return false;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}
