/*
 * live.c — spyctl's live side, the old monitor.py's jobs: --list, and
 * --pid / --wait / --start to pick a target, then top (live_top.c), --dump
 * or --record against the agent that serves it.
 *
 * Finding an agent: the registry entry of the pid, else what /proc says
 * (procs.c).  A leaf resolves to its root (the process that owns the
 * WebSocket port); when the root's hello lists "processes", commands are
 * narrowed with "pid N", else the whole app is shown and spyctl says so.
 * Recordings are made by the agent in its SPY_DATA_DIR and copied here to
 * --output through output.c (a regular file whole or not at all).
 *
 * SIGINT, SIGTERM and SIGHUP only set spyctl_stop (no SA_RESTART), which
 * every wait checks; the app started by --start is then stopped as a
 * tree.  Exit status: 0 done, 1 failed, 2 bad usage (args.c).
 * Single-threaded.
 */
#include "live.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config_file.h"
#include "output.h"
#include "procs.h"
#include "registry_read.h"
#include "sink.h"
#include "start.h"

volatile sig_atomic_t spyctl_stop;

/* The log file of the app --start runs (for messages), else NULL. */
static const char *app_log;

static void on_signal(int sig)
{
    spyctl_stop = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    spyctl_ws_set_abort(&spyctl_stop);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    nanosleep(&ts, NULL); /* a signal ends it early: fine */
}

/* ------------------------------------------------------------ --list */

static int do_list(void)
{
    struct spyctl_proc *p;
    int n = spyctl_procs_scan(&p);
    if (n == 0) {
        printf("No Uvicorn or Gunicorn process is running.\n");
        return 0;
    }
    printf("%-8s %-8s %-14s %-16s %s\n", "PID", "PPID", "AGENT", "SERVED AT", "COMMAND");
    for (int i = 0; i < n; i++) {
        char agent[32], at[40];
        if (!p[i].has_agent) {
            snprintf(agent, sizeof(agent), "-");
            at[0] = '\0';
        } else {
            if (strcmp(p[i].agent.role, "leaf") == 0)
                snprintf(agent, sizeof(agent), "leaf of %d", p[i].agent.root_pid);
            else if (p[i].agent.role[0])
                snprintf(agent, sizeof(agent), "%s", p[i].agent.role);
            else
                snprintf(agent, sizeof(agent), "yes");
            snprintf(at, sizeof(at), "%.20s:%d", p[i].agent.host, p[i].agent.port);
        }
        printf("%-8d %-8d %-14s %-16s %.200s\n", p[i].pid, p[i].ppid, agent, at, p[i].cmdline);
    }
    free(p);
    return 0;
}

/* ------------------------------------------------------------ connecting */

static void no_agent_hint(int pid, const char *why, const struct spyctl_live_opts *o)
{
    char lib[4096], err[300], cmd[1024];
    if (spyctl_agent_lib(o, lib, sizeof(lib), err, sizeof(err)) != 0)
        snprintf(lib, sizeof(lib), "/path/to/build/agent/libspyagent.so");
    if (spyctl_proc_cmdline(pid, cmd, sizeof(cmd)) != 0 || !cmd[0])
        snprintf(cmd, sizeof(cmd), "%s -m uvicorn %s --port %d", o->python, o->app, o->port);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", lib);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    fprintf(stderr,
            "spyctl: %s.\n"
            "Restart the app with the agent preloaded:\n"
            "  LD_PRELOAD=%s %s\n"
            "or add `import spyagent` at the top of the app and run it with PYTHONPATH=%s\n"
            "(or let spyctl start it: spyctl --start --port %d --app %s).\n",
            why, lib, cmd, dir, o->port, o->app);
}

static void session_close(struct spyctl_session *s)
{
    if (s->ws)
        spyctl_ws_close(s->ws);
    cJSON_Delete(s->hello);
    memset(s, 0, sizeof(*s));
}

/* Connects to the agent of ref and reads its hello.  0, or -1 with err. */
static int session_open(struct spyctl_session *s, const struct spyctl_agent_ref *ref, const char *token,
                        int timeout_ms, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->pid = ref->pid;
    snprintf(s->url, sizeof(s->url), "ws://%.100s:%d/", ref->host, ref->port);
    if (ref->token_required && !token) {
        snprintf(err, errlen, "the agent at %s needs a token: give --token or SPY_TOKEN", s->url);
        return -1;
    }
    char why[300];
    s->ws = spyctl_ws_connect(ref->host, ref->port, token, timeout_ms, why, sizeof(why));
    if (!s->ws) {
        snprintf(err, errlen, "cannot reach the agent of process %d: %s", ref->pid, why);
        return -1;
    }
    s->hello = spyctl_ws_expect(s->ws, "hello", timeout_ms, why, sizeof(why));
    if (!s->hello || strcmp(spyctl_json_str(s->hello, "type"), "hello") != 0) {
        snprintf(err, errlen, "the agent at %s did not say hello: %.150s", s->url,
                 s->hello ? spyctl_json_str(s->hello, "message") : why);
        session_close(s);
        return -1;
    }
    s->agent_pid = (int)spyctl_json_num(s->hello, "pid", 0);
    if (s->agent_pid != s->pid) {
        const cJSON *procs = cJSON_GetObjectItemCaseSensitive(s->hello, "processes"), *p;
        bool listed = false;
        cJSON_ArrayForEach(p, procs) listed = listed || (int)spyctl_json_num(p, "pid", 0) == s->pid;
        if (listed)
            s->narrow = true;
        else
            fprintf(stderr, "spyctl: process %d is served by the agent of process %d at %s, which cannot narrow "
                    "to one process: showing the whole app\n", s->pid, s->agent_pid, s->url);
    }
    return 0;
}

/* The session for a pid given by --pid.  0, or 1 (message printed). */
static int open_pid(struct spyctl_session *s, int pid, const struct spyctl_live_opts *o)
{
    struct spyctl_agent_ref ref;
    char err[400];
    if (spyctl_agent_for_pid(pid, &ref, err, sizeof(err)) != 0) {
        if (!spyctl_pid_alive(pid))
            fprintf(stderr, "spyctl: %s\n", err);
        else
            no_agent_hint(pid, err, o);
        return 1;
    }
    if (session_open(s, &ref, o->token, 5000, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        return 1;
    }
    return 0;
}

/* Waits (bounded by --timeout) until something listens on --port and its
 * agent answers.  app > 0: the app spyctl started, which must stay up.
 * 0, or 1 (message printed). */
static int wait_for_app(struct spyctl_session *s, const struct spyctl_live_opts *o, pid_t app)
{
    double deadline = now_s() + o->timeout;
    char last[400] = "";
    int listener = 0;
    bool said = false;
    while (!spyctl_stop) {
        if (app > 0 && !spyctl_app_running(app)) {
            fprintf(stderr, "spyctl: the app exited before it listened on port %d; the end of its output (%s):\n",
                    o->port, app_log ? app_log : "?");
            if (app_log)
                spyctl_app_log_tail(app_log, 15);
            return 1;
        }
        listener = spyctl_pid_listening_on(o->port);
        if (listener > 0) {
            struct spyctl_agent_ref ref;
            if (spyctl_agent_for_pid(listener, &ref, last, sizeof(last)) == 0) {
                if (session_open(s, &ref, o->token, 2000, last, sizeof(last)) == 0)
                    return 0;
            } else if (spyctl_pid_alive(listener) && strstr(last, "runs no spyagent")) {
                char why[500];
                snprintf(why, sizeof(why), "port %d is served by process %d, which runs no spyagent", o->port,
                         listener);
                no_agent_hint(listener, why, o);
                return 1;
            }
        } else if (spyctl_port_open("127.0.0.1", o->port)) {
            snprintf(last, sizeof(last), "something listens on port %d but its process cannot be seen "
                     "(another user's?)", o->port);
        }
        if (now_s() >= deadline)
            break;
        if (!said && app <= 0) {
            fprintf(stderr, "spyctl: waiting up to %d s for an app on port %d...\n", o->timeout, o->port);
            said = true;
        }
        sleep_s(0.2);
    }
    if (spyctl_stop) {
        fprintf(stderr, "spyctl: interrupted while waiting for port %d\n", o->port);
        return 1;
    }
    if (listener > 0 || last[0])
        fprintf(stderr, "spyctl: timed out after %d s: port %d is open but %s\n", o->timeout, o->port, last);
    else
        fprintf(stderr, "spyctl: timed out after %d s: nothing listens on port %d\n", o->timeout, o->port);
    return 1;
}

/* ------------------------------------------------------------ commands */

/* Sends cmd (with " pid N" when narrowing) and waits for reply type. */
static cJSON *ask(struct spyctl_session *s, const char *cmd, const char *type, int timeout_ms, bool narrowable)
{
    char text[200], err[300];
    if (narrowable && s->narrow)
        snprintf(text, sizeof(text), "%s pid %d", cmd, s->pid);
    else
        snprintf(text, sizeof(text), "%s", cmd);
    if (spyctl_ws_send(s->ws, text, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s: %s\n", s->url, err);
        return NULL;
    }
    cJSON *r = spyctl_ws_expect(s->ws, type, timeout_ms, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "spyctl: %s: no %s reply: %s\n", s->url, type, err);
        return NULL;
    }
    if (strcmp(spyctl_json_str(r, "type"), "error") == 0) {
        fprintf(stderr, "spyctl: the agent refused \"%s\": %s\n", text, spyctl_json_str(r, "message"));
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static void print_threads(const cJSON *threads, int pid_filter)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, threads)
    {
        int pid = (int)spyctl_json_num(t, "pid", 0);
        if (pid_filter && pid && pid != pid_filter)
            continue;
        bool idle = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "idle"));
        bool gil = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "gil"));
        printf("Thread %lld (%s%s)%s: \"%s\"\n", (long long)spyctl_json_num(t, "tid", 0), idle ? "idle" : "active",
               gil ? "+gil" : "", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "truncated")) ? " [truncated]" : "",
               spyctl_json_str(t, "name"));
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(t, "frames"))
            printf("    %s (%s:%lld)\n", spyctl_json_str(f, "function"), spyctl_json_str(f, "file"),
                   (long long)spyctl_json_num(f, "line", 0));
        printf("\n");
    }
}

static int do_dump(struct spyctl_session *s)
{
    cJSON *d = ask(s, "dump", "dump", 15000, true);
    if (!d)
        return 1;
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(d, "threads");
    /* one heading per process: the threads carry "pid" in a tree */
    int pids[256], npids = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, threads)
    {
        int pid = (int)spyctl_json_num(t, "pid", s->agent_pid);
        bool seen = false;
        for (int i = 0; i < npids; i++)
            seen = seen || pids[i] == pid;
        if (!seen && npids < 256 && (!s->narrow || pid == s->pid))
            pids[npids++] = pid;
    }
    if (npids == 0)
        pids[npids++] = s->narrow ? s->pid : s->agent_pid;
    for (int i = 0; i < npids; i++) {
        char cmd[1024];
        if (spyctl_proc_cmdline(pids[i], cmd, sizeof(cmd)) != 0)
            snprintf(cmd, sizeof(cmd), "%s", pids[i] == s->agent_pid ? spyctl_json_str(s->hello, "command_line") : "");
        printf("Process %d: %s\n", pids[i], cmd);
        printf("Python v%s\n\n", spyctl_json_str(s->hello, "python_version"));
        print_threads(threads, npids > 1 || s->narrow ? pids[i] : 0);
    }
    cJSON_Delete(d);
    return 0;
}

/* Copies the agent's file to --output (output.c: a regular file whole or
 * not at all; a device, FIFO or symlink written through). */
static int copy_file(const char *from, const char *to)
{
    int fd = open(from, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "spyctl: cannot read the agent's file %s: %s\n", from, strerror(errno));
        return -1;
    }
    char err[1400];
    struct spyctl_output out;
    if (spyctl_output_open(&out, to, err, sizeof(err)) != 0) {
        fprintf(stderr, "spyctl: %s\n", err);
        close(fd);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && spy_sink_write(&out.sink, buf, (size_t)n) != 0)
            break;
    if (n < 0) {
        fprintf(stderr, "spyctl: cannot read the agent's file %s: %s\n", from, strerror(errno));
        rc = -1;
    }
    close(fd);
    if (spyctl_output_close(&out, rc, err, sizeof(err)) != 0) {
        if (rc == 0)
            fprintf(stderr, "spyctl: %s\n", err);
        return -1;
    }
    return 0;
}

static void progress(double elapsed, int seconds, long samples, bool tty)
{
    int width = 30, fill = seconds > 0 ? (int)(width * (elapsed > seconds ? seconds : elapsed) / seconds) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "%srecording [%s] %3.0f/%d s  %ld samples%s", tty ? "\r" : "", bar, elapsed, seconds, samples,
            tty ? "" : "\n");
    fflush(stderr);
}

/* The CPU file of format fmt in record_done: this pid's when narrowing, else the merged one. */
static const char *pick_file(const cJSON *done, const char *fmt, int pid)
{
    const cJSON *f, *best = NULL;
    int best_score = -1;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(done, "files"))
    {
        if (strcmp(spyctl_json_str(f, "format"), fmt) != 0 || cJSON_GetObjectItemCaseSensitive(f, "view"))
            continue;               /* the task view's own files ("view":"tasks") are not the recording asked for */
        int fpid = (int)spyctl_json_num(f, "pid", 0);
        int score = pid ? (fpid == pid ? 3 : fpid == 0 ? 2 : 0) : (fpid == 0 ? 3 : 1);
        if (score > best_score) {
            best = f;
            best_score = score;
        }
    }
    return best ? spyctl_json_str(best, "path") : NULL;
}

static int do_record(struct spyctl_session *s, const struct spyctl_live_opts *o)
{
    const char *fmt = spyctl_format_of_path(o->output);
    int seconds = o->duration ? o->duration : 30;
    int old_rate = (int)spyctl_json_num(s->hello, "rate", 0);
    char cmd[100], err[300];
    cJSON *r;
    if (o->rate) {
        snprintf(cmd, sizeof(cmd), "rate %d", o->rate);
        if (!(r = ask(s, cmd, "rate", 5000, false)))
            return 1;
        cJSON_Delete(r);
    }
    snprintf(cmd, sizeof(cmd), "record %d %s", seconds, fmt);
    int rc = 1;
    cJSON *done = NULL;
    if (!(r = ask(s, cmd, "record_started", 10000, false)))
        goto out;
    cJSON_Delete(r);
    bool tty = isatty(2), stopping = false;
    double t0 = now_s(), last_line = -10;
    progress(0, seconds, 0, tty);
    while (!done) {
        if (spyctl_stop && !stopping) {
            stopping = true;
            fprintf(stderr, "%sspyctl: stopping the recording early; the file is still written\n", tty ? "\n" : "");
            spyctl_stop = 0; /* let the stop and the reply through */
            if (spyctl_ws_send(s->ws, "record stop", err, sizeof(err)) != 0)
                break;
        }
        double left = t0 + seconds + 120 - now_s();
        if (left <= 0) {
            fprintf(stderr, "%sspyctl: the recording did not finish in time\n", tty ? "\n" : "");
            goto out;
        }
        cJSON *m = spyctl_ws_recv(s->ws, (int)(left * 1000), err, sizeof(err));
        if (!m) {
            if (spyctl_stop && !stopping)
                continue;
            fprintf(stderr, "%sspyctl: %s: %s\n", tty ? "\n" : "", s->url, err);
            goto out;
        }
        const char *t = spyctl_json_str(m, "type");
        if (strcmp(t, "record_progress") == 0) {
            double el = spyctl_json_num(m, "elapsed", now_s() - t0);
            if (tty || el - last_line >= 5 || el >= seconds) {
                progress(el, seconds, (long)spyctl_json_num(m, "samples", 0), tty);
                last_line = el;
            }
        } else if (strcmp(t, "record_done") == 0) {
            done = m;
            continue;
        } else if (strcmp(t, "error") == 0) {
            fprintf(stderr, "%sspyctl: the agent: %s\n", tty ? "\n" : "", spyctl_json_str(m, "message"));
            cJSON_Delete(m);
            goto out;
        }
        cJSON_Delete(m);
    }
    if (!done)
        goto out;
    long samples = (long)spyctl_json_num(done, "samples", 0);
    progress(spyctl_json_num(done, "duration", seconds), seconds, samples, tty);
    if (tty)
        fputc('\n', stderr);
    if (spyctl_json_str(done, "error")[0]) {
        fprintf(stderr, "spyctl: the agent could not write the recording: %s\n", spyctl_json_str(done, "error"));
        goto out;
    }
    const char *from = pick_file(done, fmt, s->narrow ? s->pid : 0);
    if (!from || !from[0]) {
        fprintf(stderr, "spyctl: the agent wrote no %s file\n", fmt);
        goto out;
    }
    if (copy_file(from, o->output) != 0)
        goto out;
    fprintf(stderr, "spyctl: wrote %s (%s, %ld samples, %.1f s)\n", o->output, fmt, samples,
            spyctl_json_num(done, "duration", seconds));
    rc = 0;
out:
    cJSON_Delete(done);
    if (o->rate && old_rate > 0 && !spyctl_ws_closed(s->ws)) {
        sig_atomic_t was = spyctl_stop;
        spyctl_stop = 0;
        snprintf(cmd, sizeof(cmd), "rate %d", old_rate);
        if ((r = ask(s, cmd, "rate", 3000, false)))
            cJSON_Delete(r);
        spyctl_stop = was;
    }
    return rc;
}

/* ------------------------------------------------------------ main */

static bool app_alive(void *ctx)
{
    pid_t pid = *(pid_t *)ctx;
    return spyctl_app_running(pid);
}

static bool pid_alive(void *ctx)
{
    return spyctl_pid_alive(*(int *)ctx);
}

static int act(struct spyctl_session *s, const struct spyctl_live_opts *o, bool (*alive)(void *), void *ctx)
{
    if (o->dump)
        return do_dump(s);
    if (o->record)
        return do_record(s, o);
    return spyctl_top_run(s, o, alive, ctx);
}

int spyctl_live_main(const struct spyctl_live_opts *o)
{
    char err[400];
    if (o->save_config) {
        if (spyctl_config_write(o->save_config, o, err, sizeof(err)) != 0) {
            fprintf(stderr, "spyctl: %s\n", err);
            return 1;
        }
        fprintf(stderr, "spyctl: settings saved to %s\n", o->save_config);
        if (!o->list && !o->pid && !o->wait && !o->start && !o->record && !o->dump)
            return 0;
    }
    if (o->list)
        return do_list();
    install_signals();
    struct spyctl_session s;
    memset(&s, 0, sizeof(s));
    int rc;
    if (o->start) {
        char lib[4096], log[4200];
        pid_t app;
        if (spyctl_agent_lib(o, lib, sizeof(lib), err, sizeof(err)) != 0
            || spyctl_app_log(log, sizeof(log), err, sizeof(err)) != 0) {
            fprintf(stderr, "spyctl: %s\n", err);
            return 1;
        }
        if (spyctl_start_app(o, lib, log, &app, err, sizeof(err)) != 0) {
            fprintf(stderr, "spyctl: %s\n", err);
            unlink(log);
            return 1;
        }
        fprintf(stderr, "spyctl: started %s -m uvicorn %s --port %d (pid %d, LD_PRELOAD=%s)\n"
                "spyctl: the app's output goes to %s\n", o->python, o->app, o->port, (int)app, lib, log);
        app_log = log;
        rc = wait_for_app(&s, o, app);
        if (rc == 0) {
            fprintf(stderr, "spyctl: the app's agent answers at %s\n", s.url);
            rc = act(&s, o, app_alive, &app);
        }
        session_close(&s);
        int killed = spyctl_stop_tree(app, 10000);
        fprintf(stderr, "spyctl: stopped the app (pid %d)%s; its output is in %s\n", (int)app,
                killed ? "; some processes had to be killed" : "", log);
        app_log = NULL;
        return rc;
    }
    int pid = o->pid;
    if (pid) {
        rc = open_pid(&s, pid, o);
    } else if (o->wait) {
        rc = wait_for_app(&s, o, 0);
        pid = s.pid;
    } else {
        /* --record / --dump alone: the app on --port */
        pid = spyctl_pid_listening_on(o->port);
        if (pid <= 0) {
            fprintf(stderr, "spyctl: nothing listens on port %d: give --pid N, --port N, or --wait\n", o->port);
            return 1;
        }
        rc = open_pid(&s, pid, o);
    }
    if (rc == 0)
        rc = act(&s, o, pid_alive, &pid);
    session_close(&s);
    return rc;
}
