/* args.h — spyctl's command line: a subcommand, its files and options,
 * checked here so each command gets valid values.  Other commands add
 * their flags to the table in args.c. */
#ifndef SPYCTL_ARGS_H
#define SPYCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct spyctl_args {
    const char *command;         /* "report", "diff", "convert"; NULL with help */
    const char *files[2];
    int nfiles;
    const char *format;          /* report/diff: "text" or "html" */
    const char *output;          /* NULL: standard output */
    const char *to;              /* convert: pprof, collapsed, speedscope, svg */
    int top;                     /* report: functions listed */
    bool help;
};

/* 0, or -1 with a one-line message in err (the caller exits 2). */
int spyctl_parse_args(int argc, char **argv, struct spyctl_args *a, char *err, size_t errlen);
extern const char spyctl_usage[];

#endif
