/*
 * spyctl.c — the command-line client's entry point and its commands on
 * saved profiles: report, diff and convert.  A first argument that is a
 * flag selects the live side (live.c: the old monitor.py's --list, --pid,
 * --wait, --start, --record, --dump).  Arguments are parsed in args.c; profiles are
 * read by the agent's profile_read.c and written by its writers and
 * reports (linked from the agent's static library, which never starts an
 * agent).  Output goes to --output or standard output ("-", or no
 * --output) through output.c: a regular file whole or not at all (temp +
 * fsync + rename), a device, FIFO or symlink written through.
 *
 * Exit status: 0 done, 1 a file could not be read or written, 2 usage.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "live.h"
#include "out_pprof.h"
#include "output.h"
#include "profile_read.h"
#include "report.h"
#include "sink.h"
#include "writers.h"

/* Opens --output (or standard output) through output.c. */
static int open_output(struct spyctl_output *out, const char *path)
{
    char err[1400];
    if (spyctl_output_open(out, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        return -1;
    }
    return 0;
}

static int close_output(struct spyctl_output *out, int rc)
{
    char err[1400];
    if (spyctl_output_close(out, rc, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        return 1;
    }
    return 0;
}

static int read_profile(const char *path, struct spy_profile *p)
{
    char err[600];
    if (spy_profile_read(path, p, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_report(const struct spyctl_args *a)
{
    struct spy_profile p;
    struct spyctl_output out;
    if (read_profile(a->files[0], &p) != 0)
        return 1;
    if (open_output(&out, a->output) != 0) {
        spy_profile_free(&p);
        return 1;
    }
    struct spy_report_options o = { .top = a->top };
    int rc = strcmp(a->format, "html") == 0 ? spy_report_html(&p, &o, &out.sink) : spy_report_text(&p, &o, &out.sink);
    spy_profile_free(&p);
    return close_output(&out, rc);
}

static int cmd_diff(const struct spyctl_args *a)
{
    struct spy_profile base, cur;
    struct spyctl_output out;
    if (read_profile(a->files[0], &base) != 0)
        return 1;
    if (read_profile(a->files[1], &cur) != 0) {
        spy_profile_free(&base);
        return 1;
    }
    int rc = 1;
    if (open_output(&out, a->output) == 0) {
        struct spy_report_options o = { .top = a->top };
        int wrc = strcmp(a->format, "html") == 0 ? spy_report_diff_html(&base, &cur, &o, &out.sink)
                                                  : spy_report_diff_text(&base, &cur, &o, &out.sink);
        rc = close_output(&out, wrc);
    }
    spy_profile_free(&base);
    spy_profile_free(&cur);
    return rc;
}

static int cmd_convert(const struct spyctl_args *a)
{
    struct spy_profile p;
    struct spyctl_output out;
    if (read_profile(a->files[0], &p) != 0)
        return 1;
    if (open_output(&out, a->output) != 0) {
        spy_profile_free(&p);
        return 1;
    }
    bool tasks = a->view && strcmp(a->view, "tasks") == 0;
    struct spy_write_options o = { .include_idle = true, .by_thread = false, .title = NULL, .tasks = tasks };
    uint64_t task_ms = spy_profile_task_ms(&p);
    /* one view per collapsed, SVG or pprof file: say what is left out */
    if (strcmp(a->to, "speedscope") != 0 && !tasks && task_ms > 0)
        fprintf(stderr, "spyctl: note: %s also holds %llu ms of asyncio task wall time, not written to this %s "
                "file (--view tasks writes it)\n", a->files[0], (unsigned long long)task_ms, a->to);
    else if (tasks && task_ms == 0)
        fprintf(stderr, "spyctl: note: %s holds no asyncio task wall time: the %s file has no stacks\n", a->files[0],
                a->to);
    int rc;
    if (strcmp(a->to, "pprof") == 0)
        rc = spy_write_pprof(&p, &o, &out.sink);
    else if (strcmp(a->to, "collapsed") == 0)
        rc = spy_write_collapsed(&p, &o, &out.sink);
    else if (strcmp(a->to, "speedscope") == 0)
        rc = spy_write_speedscope(&p, &o, &out.sink);
    else
        rc = spy_write_svg(&p, &o, &out.sink);
    spy_profile_free(&p);
    return close_output(&out, rc);
}

int main(int argc, char **argv)
{
    struct spyctl_args a;
    char err[300];
    if (spyctl_parse_args(argc, argv, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        return 2;
    }
    if (a.help) {
        fputs(spyctl_usage, stdout);
        return 0;
    }
    if (a.live_mode) {
        if (a.live.report) {
            /* the old tool's report generation: spyctl report FILE --format F */
            struct spyctl_args r = { .command = "report", .nfiles = 1, .format = a.live.report_format, .top = 20 };
            r.files[0] = a.live.report;
            return cmd_report(&r);
        }
        return spyctl_live_main(&a.live);
    }
    if (strcmp(a.command, "report") == 0)
        return cmd_report(&a);
    if (strcmp(a.command, "diff") == 0)
        return cmd_diff(&a);
    return cmd_convert(&a);
}
