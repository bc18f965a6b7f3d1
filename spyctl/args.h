/* args.h — spyctl's command line: a subcommand, its files and options,
 * checked here so each command gets valid values.  Other commands add
 * their flags to the table in args.c. */
#ifndef SPYCTL_ARGS_H
#define SPYCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* The live side (the old monitor.py's flags): what to do, to which
 * process, and the settings (defaults < environment < --config < flags). */
struct spyctl_live_opts {
    bool list, wait, start, record, dump;
    int pid;                     /* --pid N: 0 unset */
    const char *report;          /* --report FILE */
    /* settings (saved by --save-config) */
    int port;                    /* the app's HTTP port (SPY_PORT) */
    int timeout;                 /* seconds (SPY_TIMEOUT) */
    int duration;                /* seconds; 0 unset (SPY_DURATION) */
    int rate;                    /* Hz; 0 unset: the agent's (SPY_RATE) */
    const char *output;          /* SPY_OUTPUT */
    const char *app;             /* SPY_APP_MODULE */
    const char *report_format;   /* SPY_REPORT_FORMAT: text or html */
    const char *python;          /* --python (SPY_PYTHON) */
    const char *agent;           /* --agent (SPY_AGENT_LIB); NULL: next to spyctl */
    double interval;             /* top refresh, seconds */
    int limit;                   /* top rows asked for */
    /* not settings */
    const char *token;           /* SPY_TOKEN / --token: never saved */
    const char *config, *save_config;
    char **extra;                /* after "--": more uvicorn arguments */
    int nextra;
};

struct spyctl_args {
    bool live_mode;              /* argv[1] is a flag: the live side */
    struct spyctl_live_opts live;
    const char *command;         /* "report", "diff", "convert"; NULL with help */
    const char *files[2];
    int nfiles;
    const char *format;          /* report/diff: "text" or "html" */
    const char *output;          /* NULL: standard output */
    const char *to;              /* convert: pprof, collapsed, speedscope, svg */
    const char *view;            /* convert: "cpu" or "tasks"; NULL: cpu */
    int top;                     /* report: functions listed */
    bool help;
};

/* 0, or -1 with a one-line message in err (the caller exits 2). */
int spyctl_parse_args(int argc, char **argv, struct spyctl_args *a, char *err, size_t errlen);
extern const char spyctl_usage[];
/* The output format from PATH's extension ("svg", "collapsed",
 * "speedscope", "pprof"), or NULL. */
const char *spyctl_format_of_path(const char *path);

#endif
