/*
 * args.c — parses spyctl's command line into struct spyctl_args.
 *
 * Options are a table (name, which commands take it, whether it has a
 * value), accepted as "--name VALUE" or "--name=VALUE" anywhere after the
 * command; everything else is a positional file.  Values are checked here
 * (formats, --top's range, file counts), so a mistake is one line on
 * stderr and exit status 2 before any file is touched.  Single-threaded.
 */
#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char spyctl_usage[] =
    "usage: spyctl COMMAND ...\n"
    "\n"
    "  spyctl report FILE [--format text|html] [--output PATH] [--top N]\n"
    "      A performance report (summary, categories, top functions, endpoints,\n"
    "      threads, advice) of a saved profile.\n"
    "  spyctl diff BASE CURRENT [--format text|html] [--output PATH] [--top N]\n"
    "      What grew and shrank from BASE to CURRENT, by share of samples.\n"
    "  spyctl convert FILE --to pprof|collapsed|speedscope|svg --output PATH\n"
    "      Write the profile in another format (pprof: gzip-compressed profile.proto).\n"
    "\n"
    "FILE may be spyagent's or py-spy's collapsed stacks, speedscope JSON or SVG\n"
    "flame graph (flamegraph.pl/inferno style); the format is found from the content.\n"
    "SPY_CATEGORIES=PATH replaces the built-in category rules (share/categories.json).\n"
    "Exit status: 0 done, 1 a file could not be read or written, 2 bad usage.\n";

enum { C_REPORT = 1, C_DIFF = 2, C_CONVERT = 4 };

static const struct {
    const char *name;
    int commands;
} options[] = {
    { "format", C_REPORT | C_DIFF },
    { "output", C_REPORT | C_DIFF | C_CONVERT },
    { "top", C_REPORT | C_DIFF },
    { "to", C_CONVERT },
};

int spyctl_parse_args(int argc, char **argv, struct spyctl_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->format = "text";
    a->top = 20;
    if (argc < 2) {
        snprintf(err, errlen, "no command (report, diff or convert); try spyctl --help");
        return -1;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        a->help = true;
        return 0;
    }
    int cmd = strcmp(argv[1], "report") == 0 ? C_REPORT : strcmp(argv[1], "diff") == 0 ? C_DIFF
              : strcmp(argv[1], "convert") == 0 ? C_CONVERT : 0;
    if (!cmd) {
        snprintf(err, errlen, "unknown command \"%.60s\" (expected report, diff or convert)", argv[1]);
        return -1;
    }
    a->command = argv[1];
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
    return 0;
}
