/*
 * recorder.c — writes a recording (or the last N seconds) to files.
 *
 * Names are made here, never by clients: PROGRAM-PID-YYYYmmdd-HHMMSS plus
 * the format's extension, in SPY_DATA_DIR (created if missing).  Each file
 * goes through a file sink, so it appears whole (temp name, fsync, rename)
 * or not at all, and a failure becomes an `error` sentence in record_done
 * naming the path and the reason.  Idle samples are left out, like py-spy
 * record without --idle, so the files show where the app was busy; but an
 * event loop thread off the CPU inside a callback (time.sleep in async
 * def) is blocking the loop, not idle, so those samples stay
 * (spy_mark_loop_blocking).  With no sample to write at all, no file is
 * written and record_done says why.
 *
 * The task view (asyncio task wall time, in ms) of the same span, when
 * there is any, is written beside the CPU view: SVG and collapsed files of
 * their own (NAME.tasks.svg, NAME.tasks.collapsed.txt, "view":"tasks" in
 * record_done), and inside the speedscope file and the HTML report, which
 * are written from one profile holding both views.  Without task wall
 * time every file is what it was before the task view existed.
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

#include <cjson/cJSON.h>

#include "agent.h"
#include "analysis.h"
#include "blocks.h"
#include "messages.h"
#include "procinfo.h"
#include "profile.h"
#include "protocol.h"
#include "sink.h"
#include "out_pprof.h"
#include "report.h"
#include "writers.h"

/* The event-loop blocks of the job's span, for the report and the
 * .blocks.json file (set by spy_record_write for its own thread). */
static _Thread_local struct {
    struct spy_loop_block *v;
    size_t n;
    bool ok;
} span_blocks;

/* The HTML report as a file format (the report command). */
static int write_report_html(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s)
{
    struct spy_report_options ro = { .top = 20, .categories = NULL, .title = o->title,
                                      .blocks_given = span_blocks.ok && spy_agent.cfg.block_ms > 0, .blocks = span_blocks.v,
                                      .nblocks = span_blocks.n, .block_ms = spy_agent.cfg.block_ms };
    return spy_report_html(p, &ro, s);
}

/* The blocks of the span as {"block_ms":N,"blocks":[...]} (oldest first). */
static int write_blocks_json(struct spy_sink *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        snprintf(s->error, sizeof(s->error), "out of memory writing the loop blocks");
        return -1;
    }
    cJSON_AddNumberToObject(o, "block_ms", spy_agent.cfg.block_ms);
    for (size_t i = 0; i < span_blocks.n; i++) {
        cJSON *b = spy_block_json(&span_blocks.v[i]);
        if (b)
            cJSON_AddItemToArray(arr, b);
    }
    cJSON_AddItemToObject(o, "blocks", arr);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        snprintf(s->error, sizeof(s->error), "out of memory writing the loop blocks");
        return -1;
    }
    spy_sink_puts(s, text);
    spy_sink_puts(s, "\n");
    free(text);
    return s->failed ? -1 : 0;
}

struct format {
    unsigned bit;
    const char *name, *ext;
    int (*write)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *);
    bool cpu;                  /* needs CPU samples (else it is written for the task view alone too) */
    bool tasks;                /* the task view's own file */
};

static const struct format formats[] = {
    { SPY_FMT_SVG, "svg", ".svg", spy_write_svg, true, false },
    { SPY_FMT_COLLAPSED, "collapsed", ".collapsed.txt", spy_write_collapsed, true, false },
    { SPY_FMT_SPEEDSCOPE, "speedscope", ".speedscope.json", spy_write_speedscope, false, false },
    { SPY_FMT_PPROF, "pprof", ".pb.gz", spy_write_pprof, true, false },
    { SPY_FMT_REPORT_HTML, "html", ".report.html", write_report_html, false, false },
    { SPY_FMT_SVG, "svg", ".tasks.svg", spy_write_svg, false, true },
    { SPY_FMT_COLLAPSED, "collapsed", ".tasks.collapsed.txt", spy_write_collapsed, false, true },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int spy_record_add_tasks(struct spy_store *store, enum spy_span span, int window, int64_t now_sec,
                         struct spy_profile *prof)
{
    struct spy_profile tasks;
    if (spy_store_profile(store, span, window, now_sec, SPY_VIEW_TASKS, &tasks) != 0)
        return -1;
    int rc = tasks.total > 0 ? spy_profile_append(prof, &tasks) : 0;
    spy_profile_free(&tasks);
    return rc;
}

char *spy_record_write(struct spy_store *store, const struct spy_record_job *job)
{
    struct spy_profile prof;
    struct spy_written *files = NULL;
    int nfiles = 0;
    char error[600] = "";
    uint64_t busy = 0, unique = 0;

    int64_t now_sec = (int64_t)(spy_now_ns() / 1000000000ULL);
    if (spy_store_profile(store, job->span, job->window, now_sec, SPY_VIEW_CPU, &prof) != 0)
        return spy_msg_record_done(job->reply, NULL, 0, 0, job->duration, 0, "out of memory building the profile",
                                   job->id);
    if (spy_record_add_tasks(store, job->span, job->window, now_sec, &prof) != 0) {
        spy_profile_free(&prof);
        return spy_msg_record_done(job->reply, NULL, 0, 0, job->duration, 0,
                                   "out of memory building the task view of the profile", job->id);
    }
    if (spy_mark_loop_blocking(&prof, NULL, error, sizeof(error)) != 0) {
        spy_profile_free(&prof);
        return spy_msg_record_done(job->reply, NULL, 0, 0, job->duration, 0, error, job->id);
    }
    prof.duration = job->duration;
    prof.start_time = job->start_time;
    prof.rate = spy_agent.cfg.rate;
    prof.pid = (int)getpid();
    spy_proc_cmdline(prof.program, sizeof(prof.program));
    for (size_t i = 0; i < prof.nsamples; i++)
        if (!(prof.samples[i].flags & (SPY_FLAG_IDLE | SPY_FLAG_TASK))) {
            busy += prof.samples[i].count;
            unique++;
        }
    uint64_t task_ms = spy_profile_task_ms(&prof);

    /* nothing busy to show: an empty collapsed file or flame graph would
     * only look like a broken one; say so instead of writing files */
    if (busy == 0 && task_ms == 0 && !(job->formats & SPY_FMT_REPORT_HTML)) {
        char why[200];
        snprintf(why, sizeof(why), "no busy samples in the %.1f s recorded (stopped at once, or the app was idle): "
                 "no files were written", job->duration);
        spy_profile_free(&prof);
        return spy_msg_record_done(job->reply, NULL, 0, 0, job->duration, 0, why, job->id);
    }

    /* the loop blocks that started in the span */
    double now = (double)time(NULL);
    double from = job->span == SPY_SPAN_WINDOW ? now - job->window : job->start_time;
    double to = job->span == SPY_SPAN_WINDOW ? now + 1 : job->start_time + job->duration + 1;
    if (job->span == SPY_SPAN_ALL) {
        from = 0;
        to = now + 1;
    }
    if (job->span_start > 0) {
        from = job->span_start;
        to = job->span == SPY_SPAN_RECORDING ? from + job->duration + 1 : now + 1;
    }
    span_blocks.ok = spy_blocks_between(from, to, &span_blocks.v, &span_blocks.n) == 0;

    char program[64], stamp[32], base[160];
    spy_proc_program(program, sizeof(program));
    time_t t = (time_t)job->start_time;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(base, sizeof(base), "%s-%d-%s", program, (int)getpid(), stamp);

    /* The merged files, then, when the profile holds several processes
     * (the workers of the tree), one set per process. */
    int pids[65];
    int npids = 0;
    for (uint32_t i = 0; i < prof.nthreads && npids < 64; i++) {
        int pid = prof.threads[i].pid, k;
        for (k = 0; k < npids && pids[k] != pid; k++)
            ;
        if (k == npids)
            pids[npids++] = pid;
    }
    int nsets = npids > 1 ? npids + 1 : 1;
    files = calloc((size_t)nsets * NFORMATS + 1, sizeof(*files));
    if (!files) {
        spy_profile_free(&prof);
        spy_loop_blocks_free(span_blocks.v, span_blocks.n);
        memset(&span_blocks, 0, sizeof(span_blocks));
        return spy_msg_record_done(job->reply, NULL, 0, busy, job->duration, unique, "out of memory", job->id);
    }
    struct spy_write_options opt = { .include_idle = false, .by_thread = false, .title = program };
    for (int set = 0; set < nsets && !error[0]; set++) {
        int pid = set == 0 ? 0 : pids[set - 1];
        struct spy_profile one;
        const struct spy_profile *use = &prof;
        char setbase[200];
        if (pid) {
            if (spy_profile_view_pid(&prof, pid, &one) != 0) {
                snprintf(error, sizeof(error), "out of memory splitting the recording by process");
                break;
            }
            use = &one;
            snprintf(setbase, sizeof(setbase), "%s-pid%d", base, pid);
        } else {
            snprintf(setbase, sizeof(setbase), "%s", base);
        }
        uint64_t set_busy = 0, set_ms = 0;
        for (size_t i = 0; i < use->nsamples; i++) {
            if (use->samples[i].flags & SPY_FLAG_TASK)
                set_ms += use->samples[i].count;
            else if (!(use->samples[i].flags & SPY_FLAG_IDLE))
                set_busy += use->samples[i].count;
        }
        for (size_t f = 0; f < NFORMATS && !error[0]; f++) {
            if (!(job->formats & formats[f].bit))
                continue;
            /* with a task view, a CPU file with no CPU sample is not
             * written (nor a task file without task time) */
            if ((formats[f].cpu && set_busy == 0 && task_ms > 0) || (formats[f].tasks && set_ms == 0))
                continue;
            /* a second recording in the same second gets -2, -3, ... */
            char name[256];
            snprintf(name, sizeof(name), "%s%s", setbase, formats[f].ext);
            for (int k = 2; k < 100; k++) {
                char probe[PATH_MAX + 300];
                snprintf(probe, sizeof(probe), "%s/%s", job->data_dir, name);
                if (access(probe, F_OK) != 0)
                    break;
                snprintf(name, sizeof(name), "%s-%d%s", setbase, k, formats[f].ext);
            }
            struct spy_sink sink;
            if (spy_sink_file(&sink, job->data_dir, name) != 0) {
                snprintf(error, sizeof(error), "%s", sink.error);
                break;
            }
            struct spy_write_options fo = opt;
            char task_title[200];
            if (formats[f].tasks) {
                fo.tasks = true;
                snprintf(task_title, sizeof(task_title), "%s \xe2\x80\x94 asyncio task wall time", program);
                fo.title = task_title;
            }
            int wrc = formats[f].write(use, &fo, &sink);
            int crc = spy_sink_close(&sink);
            if (wrc != 0 || crc != 0) {
                snprintf(error, sizeof(error), "%s", sink.error[0] ? sink.error : "writing failed");
                break;
            }
            char dir[PATH_MAX];
            if (!realpath(job->data_dir, dir))
                snprintf(dir, sizeof(dir), "%s", job->data_dir);
            struct spy_written *w = &files[nfiles++];
            w->format = formats[f].name;
            w->view = formats[f].tasks ? "tasks" : NULL;
            w->pid = pid;
            if (snprintf(w->path, sizeof(w->path), "%s/%s", dir, name) >= (int)sizeof(w->path)) {
                snprintf(error, sizeof(error), "the path of %.200s in %.300s... is too long", name, dir);
                nfiles--;
                break;
            }
            struct stat st;
            w->bytes = stat(w->path, &st) == 0 ? (uint64_t)st.st_size : 0;
        }
        if (pid)
            spy_profile_view_free(&one);
    }
    /* a recording's loop blocks, beside its profiles: <base>.blocks.json,
     * named in record_done as "blocks_file" (not among "files", which are
     * the formats asked for) */
    char blocks_path[1200] = "";
    if (!error[0] && span_blocks.n > 0 && !(job->formats & SPY_FMT_REPORT_HTML)) {
        char name[256];
        snprintf(name, sizeof(name), "%s.blocks.json", base);
        for (int k = 2; k < 100; k++) {
            char probe[PATH_MAX + 300];
            snprintf(probe, sizeof(probe), "%s/%s", job->data_dir, name);
            if (access(probe, F_OK) != 0)
                break;
            snprintf(name, sizeof(name), "%s-%d.blocks.json", base, k);
        }
        struct spy_sink sink;
        if (spy_sink_file(&sink, job->data_dir, name) != 0) {
            snprintf(error, sizeof(error), "%s", sink.error);
        } else {
            int wrc = write_blocks_json(&sink);
            int crc = spy_sink_close(&sink);
            char dir[PATH_MAX];
            if (wrc != 0 || crc != 0) {
                snprintf(error, sizeof(error), "%s", sink.error[0] ? sink.error : "writing failed");
            } else {
                if (!realpath(job->data_dir, dir))
                    snprintf(dir, sizeof(dir), "%s", job->data_dir);
                if (snprintf(blocks_path, sizeof(blocks_path), "%s/%s", dir, name) >= (int)sizeof(blocks_path)) {
                    snprintf(error, sizeof(error), "the path of %.200s in %.300s... is too long", name, dir);
                    blocks_path[0] = '\0';
                }
            }
        }
    }
    size_t nblocks = span_blocks.n;
    spy_loop_blocks_free(span_blocks.v, span_blocks.n);
    memset(&span_blocks, 0, sizeof(span_blocks));
    spy_profile_free(&prof);
    char *msg = spy_msg_record_done(job->reply, files, nfiles, busy, job->duration, unique, error[0] ? error : NULL,
                                    job->id);
    free(files);
    if (msg && blocks_path[0]) {
        cJSON *o = cJSON_Parse(msg);
        char *with = NULL;
        if (o && cJSON_AddStringToObject(o, "blocks_file", blocks_path)
            && cJSON_AddNumberToObject(o, "blocks", (double)nblocks))
            with = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (with) {
            free(msg);
            msg = with;
        }
    }
    return msg;
}
