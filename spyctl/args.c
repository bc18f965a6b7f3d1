/*
 * args.c — parses spyctl's command line into struct spyctl_args.
 *
 * Options are a table (name, which commands take it, whether it has a
 * value), accepted as "--name VALUE" or "--name=VALUE" anywhere after the
 * command; everything else is a positional file.  Values are checked here
 * (formats, --top's range, file counts), so a mistake is one line on
 * stderr and exit status 2 before any file is touched.
 *
 * When the first argument is a flag, the command line is the live side
 * (the old monitor.py's flags: --list, --pid, --wait, --start, --record,
 * --dump).  Its settings are applied in layers, each through the same
 * checked setter: defaults, then the SPY_* environment, then --config
 * FILE, then the flags, so flags beat the file and the file beats the
 * environment.  Single-threaded.
 */
#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

const char spyctl_usage[] =
    "usage: spyctl --list | --pid N | --wait | --start | --record | --dump [OPTIONS]\n"
    "       spyctl COMMAND ...   (report, diff, convert: saved profiles)\n"
    "\n"
    "Live (a running app whose process has the agent, libspyagent.so, preloaded):\n"
    "  -l, --list            Uvicorn/Gunicorn processes, their parents, and which\n"
    "                        agent (root or leaf, port) serves each.\n"
    "                          spyctl --list\n"
    "  -p, --pid N           live top of process N (a worker resolves to its root,\n"
    "                        narrowed to N when the agent can): keys 1-4 sort by\n"
    "                        %Own %Total OwnTime TotalTime, n by name, space pauses,\n"
    "                        i shows idle, q quits.  Not a terminal: one snapshot\n"
    "                        per --interval, for --duration seconds if given.\n"
    "                          spyctl --pid 4242\n"
    "  -w, --wait            wait (--timeout) until something listens on --port and\n"
    "                        its agent answers, then monitor it (top, or --record/--dump).\n"
    "                          spyctl --wait --port 8000 --timeout 30\n"
    "  -s, --start           start `PYTHON -m uvicorn APP --port PORT [-- ARGS]` with\n"
    "                        the agent preloaded, wait for it, monitor it; Ctrl+C or\n"
    "                        SIGTERM stops the whole process tree.  The app's own\n"
    "                        output goes to ${TMPDIR:-/tmp}/spyctl-app-PID.log (named\n"
    "                        on start and exit), never onto the live top.\n"
    "                          spyctl --start --port 8000 --app main:app -- --workers 2\n"
    "  -r, --record          record --duration seconds into --output, with a progress\n"
    "                        bar; the format follows the extension: .svg, .txt or\n"
    "                        .collapsed (collapsed stacks), .json (speedscope), .pb.gz\n"
    "                        (pprof).  Target: --pid N, --wait, --start, else --port.\n"
    "                          spyctl --record --duration 60 --output profile.svg --rate 100\n"
    "      --dump            every thread's stack now (target as for --record).\n"
    "                          spyctl --dump --pid 4242\n"
    "      --report FILE     the report of a saved profile in --report-format.\n"
    "                          spyctl --report profile.svg --report-format html > report.html\n"
    "Settings (flag, environment variable, default):\n"
    "  -P, --port N          SPY_PORT, 8000: the app's HTTP port (not the agent's)\n"
    "                          spyctl --wait --port 8080\n"
    "  -t, --timeout S       SPY_TIMEOUT, 30: how long --wait/--start wait\n"
    "                          spyctl --wait --timeout 60\n"
    "  -d, --duration S      SPY_DURATION, 30 for --record; bounds top if given\n"
    "                          spyctl --pid 4242 --duration 10 > top.txt\n"
    "  -o, --output PATH     SPY_OUTPUT, profile.svg: where --record writes\n"
    "                          spyctl --record -o stacks.txt\n"
    "      --rate HZ         SPY_RATE, the agent's: sampling rate while recording\n"
    "                          spyctl --record --rate 250\n"
    "      --app MOD:ATTR    SPY_APP_MODULE, main:app: what --start serves\n"
    "                          spyctl --start --app myproj.api:app\n"
    "      --report-format F SPY_REPORT_FORMAT, text: text or html\n"
    "                          spyctl --report profile.svg --report-format html\n"
    "      --python PATH     SPY_PYTHON, /usr/bin/python3.11: interpreter for --start\n"
    "                          spyctl --start --python ~/.pyenv/versions/3.12.1/bin/python3.12\n"
    "      --agent PATH      SPY_AGENT_LIB, libspyagent.so next to spyctl's build\n"
    "                          spyctl --start --agent /opt/spy/libspyagent.so\n"
    "      --interval S      1: top's refresh interval\n"
    "                          spyctl --pid 4242 --interval 0.5\n"
    "      --limit N         100: top rows asked of the agent\n"
    "                          spyctl --pid 4242 --limit 30\n"
    "      --token T         SPY_TOKEN: the agent's token, if it needs one\n"
    "                          spyctl --pid 4242 --token s3cret-token\n"
    "      --config FILE     read settings from a JSON file (flags beat it; it\n"
    "                        beats the environment)\n"
    "                          spyctl --config spy.json --record\n"
    "      --save-config FILE  write the effective settings as JSON (and go on\n"
    "                        with the action, if any)\n"
    "                          spyctl --port 8080 --rate 200 --save-config spy.json\n"
    "  -h, --help            this text\n"
    "\n"
    "Saved profiles:\n"
    "  spyctl report FILE [--format text|html] [--output PATH] [--top N]\n"
    "      A performance report (summary, categories, top functions, endpoints,\n"
    "      threads, advice) of a saved profile.\n"
    "  spyctl diff BASE CURRENT [--format text|html] [--output PATH] [--top N]\n"
    "      What grew and shrank from BASE to CURRENT, by share of samples.\n"
    "  spyctl convert FILE --to pprof|collapsed|speedscope|svg --output PATH [--view cpu|tasks]\n"
    "      Write the profile in another format (pprof: gzip-compressed profile.proto).\n"
    "      --view tasks: the file's asyncio task wall time (ms, stacks under their\n"
    "      state) instead of its CPU samples, for collapsed and svg; speedscope\n"
    "      always holds both.\n"
    "--output PATH (and --save-config FILE): - is standard output; a device, FIFO or\n"
    "symlink is written through; a regular file is replaced whole or not at all.\n"
    "\n"
    "FILE may be spyagent's or py-spy's collapsed stacks, speedscope JSON or SVG\n"
    "flame graph (flamegraph.pl/inferno style); the format is found from the content.\n"
    "SPY_CATEGORIES=PATH replaces the built-in category rules (share/categories.json).\n"
    "Exit status: 0 done; 1 failed (no agent, timed out, a file could not be\n"
    "read or written); 2 bad usage.\n";

enum { C_REPORT = 1, C_DIFF = 2, C_CONVERT = 4 };

static const struct {
    const char *name;
    int commands;
} options[] = {
    { "format", C_REPORT | C_DIFF },
    { "output", C_REPORT | C_DIFF | C_CONVERT },
    { "top", C_REPORT | C_DIFF },
    { "to", C_CONVERT },
    { "view", C_CONVERT },
};

static int parse_live(int argc, char **argv, struct spyctl_live_opts *o, char *err, size_t errlen);

int spyctl_parse_args(int argc, char **argv, struct spyctl_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->format = "text";
    a->top = 20;
    if (argc < 2) {
        snprintf(err, errlen, "nothing to do: give --list, --pid N, --wait, --start, --record, --dump, or a command (report, diff, convert); try spyctl --help");
        return -1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        a->help = true;
        return 0;
    }
    if (argv[1][0] == '-') {
        a->live_mode = true;
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                a->help = true;
                return 0;
            }
        return parse_live(argc, argv, &a->live, err, errlen);
    }
    int cmd = strcmp(argv[1], "report") == 0 ? C_REPORT : strcmp(argv[1], "diff") == 0 ? C_DIFF
              : strcmp(argv[1], "convert") == 0 ? C_CONVERT : 0;
    if (!cmd) {
        snprintf(err, errlen, "unknown command \"%.60s\" (expected report, diff or convert)", argv[1]);
        return -1;
    }
    a->command = argv[1];
    const char *env_format = getenv("SPY_REPORT_FORMAT");
    if (env_format && *env_format && (cmd & (C_REPORT | C_DIFF))) {
        if (strcmp(env_format, "text") != 0 && strcmp(env_format, "html") != 0) {
            snprintf(err, errlen, "SPY_REPORT_FORMAT must be text or html, not \"%.40s\"", env_format);
            return -1;
        }
        a->format = env_format;
    }
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = true;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (a->nfiles == 2) {
                snprintf(err, errlen, "%s: too many files (\"%.60s\")", a->command, arg);
                return -1;
            }
            a->files[a->nfiles++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = NULL;
        size_t k;
        for (k = 0; k < sizeof(options) / sizeof(options[0]); k++)
            if (strlen(options[k].name) == nl && strncmp(options[k].name, name, nl) == 0)
                break;
        if (k == sizeof(options) / sizeof(options[0]) || !(options[k].commands & cmd)) {
            snprintf(err, errlen, "%s: unknown option --%.*s", a->command, (int)(nl > 40 ? 40 : nl), name);
            return -1;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "%s: --%s needs a value", a->command, options[k].name);
            return -1;
        }
        if (strcmp(options[k].name, "format") == 0) {
            if (strcmp(value, "text") != 0 && strcmp(value, "html") != 0) {
                snprintf(err, errlen, "%s: --format must be text or html, not \"%.40s\"", a->command, value);
                return -1;
            }
            a->format = value;
        } else if (strcmp(options[k].name, "output") == 0) {
            if (!*value) {
                snprintf(err, errlen, "%s: --output needs a path", a->command);
                return -1;
            }
            a->output = value;
        } else if (strcmp(options[k].name, "top") == 0) {
            char *end;
            long n = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || n < 1 || n > 100000) {
                snprintf(err, errlen, "%s: --top must be a number from 1 to 100000, not \"%.40s\"", a->command,
                         value);
                return -1;
            }
            a->top = (int)n;
        } else if (strcmp(options[k].name, "view") == 0) {
            if (strcmp(value, "cpu") != 0 && strcmp(value, "tasks") != 0) {
                snprintf(err, errlen, "convert: --view must be cpu or tasks, not \"%.40s\"", value);
                return -1;
            }
            a->view = value;
        } else {
            if (strcmp(value, "pprof") != 0 && strcmp(value, "collapsed") != 0 && strcmp(value, "speedscope") != 0
                && strcmp(value, "svg") != 0) {
                snprintf(err, errlen, "convert: --to must be pprof, collapsed, speedscope or svg, not \"%.40s\"",
                         value);
                return -1;
            }
            a->to = value;
        }
    }
    int want = cmd == C_DIFF ? 2 : 1;
    if (a->nfiles != want) {
        if (cmd == C_DIFF)
            snprintf(err, errlen, "diff: needs two files, BASE and CURRENT");
        else
            snprintf(err, errlen, "%s: needs one FILE", a->command);
        return -1;
    }
    if (cmd == C_CONVERT && (!a->to || !a->output)) {
        snprintf(err, errlen, "convert: needs --to FORMAT and --output PATH");
        return -1;
    }
    if (cmd == C_CONVERT && a->view && strcmp(a->view, "tasks") == 0 && strcmp(a->to, "collapsed") != 0
        && strcmp(a->to, "svg") != 0) {
        snprintf(err, errlen, "convert: --view tasks writes collapsed or svg (%s holds %s)", a->to,
                 strcmp(a->to, "pprof") == 0 ? "the CPU view only" : "both views anyway");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ live side */

const char *spyctl_format_of_path(const char *path)
{
    static const struct {
        const char *ext, *format;
    } exts[] = {
        { ".svg", "svg" }, { ".txt", "collapsed" }, { ".collapsed", "collapsed" },
        { ".json", "speedscope" }, { ".pb.gz", "pprof" },
    };
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t l = strlen(exts[i].ext);
        if (n > l && strcmp(path + n - l, exts[i].ext) == 0)
            return exts[i].format;
    }
    return NULL;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        /* a config file's numbers arrive as "30" or "30.0"-free %.17g text */
        return -1;
    }
    *out = n;
    return 0;
}

/* Sets one setting by its long name from text; `who` names the source in
 * messages ("--port", "SPY_PORT", "port").  0, or -1 with err. */
static int set_setting(struct spyctl_live_opts *o, const char *key, const char *v, const char *who, char *err,
                       size_t errlen)
{
    long n;
    static const struct {
        const char *key;
        long lo, hi;
        const char *what;
    } ints[] = {
        { "port", 1, 65535, "a port from 1 to 65535" },
        { "timeout", 1, 86400, "seconds from 1 to 86400" },
        { "duration", 1, 3600, "seconds from 1 to 3600" },
        { "rate", 1, 10000, "samples per second from 1 to 10000" },
        { "limit", 1, 1000, "a number of rows from 1 to 1000" },
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(key, ints[i].key) != 0)
            continue;
        if (parse_int(v, ints[i].lo, ints[i].hi, &n) != 0) {
            snprintf(err, errlen, "%s must be %s, not \"%.40s\"", who, ints[i].what, v);
            return -1;
        }
        if (i == 0)
            o->port = (int)n;
        else if (i == 1)
            o->timeout = (int)n;
        else if (i == 2)
            o->duration = (int)n;
        else if (i == 3)
            o->rate = (int)n;
        else
            o->limit = (int)n;
        return 0;
    }
    if (strcmp(key, "interval") == 0) {
        char *end;
        double d = strtod(v, &end);
        if (!*v || *end || !(d >= 0.1 && d <= 3600)) {
            snprintf(err, errlen, "%s must be seconds from 0.1 to 3600, not \"%.40s\"", who, v);
            return -1;
        }
        o->interval = d;
        return 0;
    }
    if (!*v) {
        snprintf(err, errlen, "%s must not be empty", who);
        return -1;
    }
    if (strcmp(key, "output") == 0) {
        o->output = v;
    } else if (strcmp(key, "app") == 0) {
        const char *colon = strchr(v, ':');
        if (!colon || colon == v || !colon[1] || v[0] == '-') {
            snprintf(err, errlen, "%s must be MODULE:ATTRIBUTE like main:app, not \"%.60s\"", who, v);
            return -1;
        }
        o->app = v;
    } else if (strcmp(key, "report_format") == 0) {
        if (strcmp(v, "text") != 0 && strcmp(v, "html") != 0) {
            snprintf(err, errlen, "%s must be text or html, not \"%.40s\"", who, v);
            return -1;
        }
        o->report_format = v;
    } else if (strcmp(key, "python") == 0) {
        o->python = v;
    } else if (strcmp(key, "agent") == 0) {
        o->agent = v;
    } else {
        snprintf(err, errlen, "unknown setting \"%.40s\" (expected port, timeout, duration, rate, output, app, "
                 "report_format, python, agent, interval, limit)", key);
        return -1;
    }
    return 0;
}

static int set_from_file(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    char *copy = strdup(value); /* lives as long as the process */
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* numbers come as %.17g text: "30" for 30, "0.5" for 0.5 */
    return set_setting(ctx, key, copy, key, err, errlen);
}

enum { F_BOOL, F_VALUE };

static const struct live_flag {
    const char *name;
    char short_name;
    int kind;
    const char *setting;  /* a setting's key, or NULL for actions */
} live_flags[] = {
    { "list", 'l', F_BOOL, NULL },     { "pid", 'p', F_VALUE, NULL },
    { "wait", 'w', F_BOOL, NULL },     { "start", 's', F_BOOL, NULL },
    { "record", 'r', F_BOOL, NULL },   { "dump", 0, F_BOOL, NULL },
    { "report", 0, F_VALUE, NULL },    { "token", 0, F_VALUE, NULL },
    { "config", 0, F_VALUE, NULL },    { "save-config", 0, F_VALUE, NULL },
    { "port", 'P', F_VALUE, "port" },  { "timeout", 't', F_VALUE, "timeout" },
    { "duration", 'd', F_VALUE, "duration" }, { "output", 'o', F_VALUE, "output" },
    { "rate", 0, F_VALUE, "rate" },    { "app", 0, F_VALUE, "app" },
    { "report-format", 0, F_VALUE, "report_format" }, { "python", 0, F_VALUE, "python" },
    { "agent", 0, F_VALUE, "agent" },  { "interval", 0, F_VALUE, "interval" },
    { "limit", 0, F_VALUE, "limit" },
};
#define NFLAGS (sizeof(live_flags) / sizeof(live_flags[0]))

static int parse_live(int argc, char **argv, struct spyctl_live_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->port = 8000;
    o->timeout = 30;
    o->output = "profile.svg";
    o->app = "main:app";
    o->report_format = "text";
    o->python = "/usr/bin/python3.11";
    o->interval = 1.0;
    o->limit = 100;

    /* pass 1: the flags, as (flag, value) pairs; actions are applied now */
    const struct live_flag *set_flag[64];
    const char *set_value[64];
    int nset = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            o->extra = argv + i + 1;
            o->nextra = argc - i - 1;
            break;
        }
        const struct live_flag *f = NULL;
        const char *value = NULL, *eq = NULL;
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *name = arg + 2;
            eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < NFLAGS && !f; k++)
                if (strlen(live_flags[k].name) == nl && strncmp(live_flags[k].name, name, nl) == 0)
                    f = &live_flags[k];
            if (!f) {
                snprintf(err, errlen, "unknown option --%.*s (spyctl --help lists them)", (int)(nl > 40 ? 40 : nl),
                         name);
                return -1;
            }
        } else if (arg[0] == '-' && arg[1] && !arg[2]) {
            for (size_t k = 0; k < NFLAGS && !f; k++)
                if (live_flags[k].short_name == arg[1])
                    f = &live_flags[k];
            if (!f) {
                snprintf(err, errlen, "unknown option %.10s (spyctl --help lists them)", arg);
                return -1;
            }
        } else {
            snprintf(err, errlen, "unexpected argument \"%.60s\" (uvicorn's own arguments go after --)", arg);
            return -1;
        }
        if (f->kind == F_BOOL && eq) {
            snprintf(err, errlen, "--%s takes no value", f->name);
            return -1;
        }
        if (f->kind == F_VALUE) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0)
                value = argv[++i];
            else {
                snprintf(err, errlen, "--%s needs a value", f->name);
                return -1;
            }
        }
        if (nset == 64) {
            snprintf(err, errlen, "too many options");
            return -1;
        }
        set_flag[nset] = f;
        set_value[nset++] = value;
        if (strcmp(f->name, "list") == 0)
            o->list = true;
        else if (strcmp(f->name, "wait") == 0)
            o->wait = true;
        else if (strcmp(f->name, "start") == 0)
            o->start = true;
        else if (strcmp(f->name, "record") == 0)
            o->record = true;
        else if (strcmp(f->name, "dump") == 0)
            o->dump = true;
        else if (strcmp(f->name, "pid") == 0) {
            long n;
            if (parse_int(value, 1, 0x7fffffff, &n) != 0) {
                snprintf(err, errlen, "--pid must be a process id, not \"%.40s\"", value);
                return -1;
            }
            o->pid = (int)n;
        } else if (strcmp(f->name, "report") == 0)
            o->report = value;
        else if (strcmp(f->name, "token") == 0)
            o->token = value;
        else if (strcmp(f->name, "config") == 0)
            o->config = value;
        else if (strcmp(f->name, "save-config") == 0)
            o->save_config = value;
    }

    /* pass 2: the layers */
    static const struct {
        const char *var, *key;
    } envs[] = {
        { "SPY_PORT", "port" }, { "SPY_TIMEOUT", "timeout" }, { "SPY_DURATION", "duration" },
        { "SPY_RATE", "rate" }, { "SPY_OUTPUT", "output" }, { "SPY_APP_MODULE", "app" },
        { "SPY_REPORT_FORMAT", "report_format" }, { "SPY_PYTHON", "python" }, { "SPY_AGENT_LIB", "agent" },
    };
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        const char *v = getenv(envs[i].var);
        if (v && *v && set_setting(o, envs[i].key, v, envs[i].var, err, errlen) != 0)
            return -1;
    }
    if (!o->token) {
        const char *t = getenv("SPY_TOKEN");
        o->token = t && *t ? t : NULL;
    }
    if (o->config && spyctl_config_read(o->config, set_from_file, o, err, errlen) != 0)
        return -1;
    for (int i = 0; i < nset; i++) {
        if (!set_flag[i]->setting)
            continue;
        char who[40];
        snprintf(who, sizeof(who), "--%s", set_flag[i]->name);
        if (set_setting(o, set_flag[i]->setting, set_value[i], who, err, errlen) != 0)
            return -1;
    }

    /* pass 3: what goes with what */
    int targets = (o->pid > 0) + o->wait + o->start;
    if (o->list && (targets || o->record || o->dump || o->report)) {
        snprintf(err, errlen, "--list goes alone");
        return -1;
    }
    if (o->report && (targets || o->record || o->dump)) {
        snprintf(err, errlen, "--report FILE goes alone (it reads a saved profile)");
        return -1;
    }
    if (targets > 1) {
        snprintf(err, errlen, "choose one of --pid, --wait and --start");
        return -1;
    }
    if (o->record && o->dump) {
        snprintf(err, errlen, "choose one of --record and --dump");
        return -1;
    }
    if (o->nextra && !o->start) {
        snprintf(err, errlen, "arguments after -- are uvicorn's: they need --start");
        return -1;
    }
    if (o->record && !spyctl_format_of_path(o->output)) {
        snprintf(err, errlen, "--output \"%.100s\": the format comes from the extension: .svg, .txt, "
                 ".collapsed, .json or .pb.gz", o->output);
        return -1;
    }
    if (!o->list && !o->report && !targets && !o->record && !o->dump && !o->save_config) {
        snprintf(err, errlen, "nothing to do: give --list, --pid N, --wait, --start, --record or --dump "
                 "(spyctl --help)");
        return -1;
    }
    return 0;
}
