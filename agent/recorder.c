/*
 * recorder.c — writes a recording (or the last N seconds) to files.
 *
 * Names are made here, never by clients: PROGRAM-PID-YYYYmmdd-HHMMSS plus
 * the format's extension, in SPY_DATA_DIR (created if missing).  Each file
 * goes through a file sink, so it appears whole (temp name, fsync, rename)
 * or not at all, and a failure becomes an `error` sentence in record_done
 * naming the path and the reason.  Idle samples are left out, like py-spy
 * record without --idle, so the files show where the app was busy.
 *
 * Threads: the spy-writer thread, or the exiting thread at shutdown; it
 * reads the store only through spy_store_profile (the lock, briefly).
 */
#include "recorder.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "messages.h"
#include "procinfo.h"
#include "profile.h"
#include "protocol.h"
#include "sink.h"
#include "out_pprof.h"
#include "report.h"
#include "writers.h"

/* The HTML report as a file format (the report command). */
static int write_report_html(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s)
{
    struct spy_report_options ro = { .top = 20, .categories = NULL, .title = o->title };
    return spy_report_html(p, &ro, s);
}

struct format {
    unsigned bit;
    const char *name, *ext;
    int (*write)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *);
};

static const struct format formats[] = {
    { SPY_FMT_SVG, "svg", ".svg", spy_write_svg },
    { SPY_FMT_COLLAPSED, "collapsed", ".collapsed.txt", spy_write_collapsed },
    { SPY_FMT_SPEEDSCOPE, "speedscope", ".speedscope.json", spy_write_speedscope },
    { SPY_FMT_PPROF, "pprof", ".pb.gz", spy_write_pprof },
    { SPY_FMT_REPORT_HTML, "html", ".report.html", write_report_html },
};

char *spy_record_write(struct spy_store *store, const struct spy_record_job *job)
{
    struct spy_profile prof;
    struct spy_written files[5];
    int nfiles = 0;
    char error[600] = "";
    uint64_t busy = 0, unique = 0;
    memset(files, 0, sizeof(files));

    if (spy_store_profile(store, job->span, job->window, (int64_t)(spy_now_ns() / 1000000000ULL), &prof) != 0)
        return spy_msg_record_done(job->reply, files, 0, 0, job->duration, 0, "out of memory building the profile",
                                   job->id);
    prof.duration = job->duration;
    prof.start_time = job->start_time;
    prof.rate = spy_agent.cfg.rate;
    prof.pid = (int)getpid();
    spy_proc_cmdline(prof.program, sizeof(prof.program));
    for (size_t i = 0; i < prof.nsamples; i++)
        if (!(prof.samples[i].flags & SPY_FLAG_IDLE)) {
            busy += prof.samples[i].count;
            unique++;
        }

    char program[64], stamp[32], base[160];
    spy_proc_program(program, sizeof(program));
    time_t t = (time_t)job->start_time;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(base, sizeof(base), "%s-%d-%s", program, (int)getpid(), stamp);

    /* a second recording in the same second gets -2, -3, ... */
    char dir[PATH_MAX];
    struct spy_write_options opt = { .include_idle = false, .by_thread = false, .title = program };
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        if (!(job->formats & formats[f].bit))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%s%s", base, formats[f].ext);
        for (int k = 2; k < 100; k++) {
            char probe[PATH_MAX + 300];
            snprintf(probe, sizeof(probe), "%s/%s", job->data_dir, name);
            if (access(probe, F_OK) != 0)
                break;
            snprintf(name, sizeof(name), "%s-%d%s", base, k, formats[f].ext);
        }
        struct spy_sink sink;
        if (spy_sink_file(&sink, job->data_dir, name) != 0) {
            snprintf(error, sizeof(error), "%s", sink.error);
            break;
        }
        int wrc = formats[f].write(&prof, &opt, &sink);
        int crc = spy_sink_close(&sink);
        if (wrc != 0 || crc != 0) {
            snprintf(error, sizeof(error), "%s", sink.error[0] ? sink.error : "writing failed");
            break;
        }
        if (!realpath(job->data_dir, dir))
            snprintf(dir, sizeof(dir), "%s", job->data_dir);
        struct spy_written *w = &files[nfiles++];
        w->format = formats[f].name;
        if (snprintf(w->path, sizeof(w->path), "%s/%s", dir, name) >= (int)sizeof(w->path)) {
            snprintf(error, sizeof(error), "the path of %.200s in %.300s... is too long", name, dir);
            nfiles--;
            break;
        }
        struct stat st;
        w->bytes = stat(w->path, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    spy_profile_free(&prof);
    return spy_msg_record_done(job->reply, files, nfiles, busy, job->duration, unique, error[0] ? error : NULL,
                               job->id);
}
