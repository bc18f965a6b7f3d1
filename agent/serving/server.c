/*
 * server.c — the spy-server thread: a libwebsockets server that streams
 * live top to every client and answers the commands of docs/PROTOCOL.md.
 *
 * One thread runs the lws service loop and makes every lws call; the only
 * call other threads make is lws_cancel_service(), to wake it (stop, and a
 * finished file-writing job).  Each client has a bounded queue of outgoing
 * messages: a client that does not read loses live pushes (counted) and, if
 * even its replies no longer fit, is disconnected; nobody else waits for it
 * and the sampler never does.  Writing recordings (a 20 MB SVG) happens on a
 * spy-writer thread so pushes never stall.
 *
 * Security: loopback by default; any other address needs SPY_TOKEN; the
 * token (URL ?token= or an `auth` first message) is compared in constant
 * time; browsers must come from an allowed Origin; oversized messages,
 * floods and invalid UTF-8 close that client only.
 *
 * File descriptors are the app's: the agent listens on its own socket and
 * accepts connections itself (lws polls it as a raw file and gets each
 * accepted socket adopted), so it can say no.  At most SPY_MAX_CLIENTS
 * clients, and never more than 1/16 of RLIMIT_NOFILE; one more is closed
 * with 1013 (try again later); a connection that would leave the process
 * fewer than 1/8 of its descriptors free is closed at once; and when
 * accept() itself fails for want of descriptors the listening socket is
 * left alone for a moment instead of being polled again at once.
 *
 * Threads: spy_server_start/stop from the agent's lifecycle (spy_start,
 * spy_stop, the destructor); everything else on the spy-server thread,
 * except the writer job, which touches only the store and the mailbox.
 */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "agent.h"
#include "log.h"
#include "threads.h"
#include "messages.h"
#include "procinfo.h"
#include "protocol.h"
#include "profile.h"
#include <cjson/cJSON.h>

#include "leaves.h"
#include "recorder.h"
#include "registry.h"
#include "report.h"
#include "sink.h"
#include "writers.h"

#define QUEUE_MAX 64          /* messages waiting for one client */
#define QUEUE_LIVE_MAX 48     /* above this, live pushes are dropped */
#define MSG_MAX 4096          /* largest message a client may send */
#define FLOOD_MAX 50          /* commands per second per client */
#define LIVE_LIMIT 50
#define LIVE_WINDOW 5
#define MAX_FDS 256
#define CLOSE_QUIET_US 150000      /* quiet time before an abuse close */
#define CLOSE_MAX_NS 2000000000ULL
#define REFUSING_MAX 8             /* connections over the cap still shown their close frame */
#define ACCEPT_PAUSE_US 250000     /* no descriptor to accept with: wait this long */
#define LEAVE_MAX_NS 5000000000ULL /* stopping: at most this long for record_done and close frames */

struct client {
    struct lws *wsi;
    struct client *next;
    uint64_t serial;          /* identifies the client across the writer job */
    bool authed, paused;
    int live_limit, live_window;   /* window 0 = since start */
    bool live_idle;
    bool live_tasks;               /* pushes follow the task view */
    int live_tid;                  /* 0 = every thread */
    int live_pid;                  /* 0 = every process */
    char *queue[QUEUE_MAX];   /* each with LWS_PRE bytes of headroom */
    size_t qlen[QUEUE_MAX];
    bool qlive[QUEUE_MAX];
    int qhead, qcount;
    uint64_t flood_start;
    int flood_count;
    char rx[MSG_MAX + 1];
    size_t rxlen;
    bool rx_overflow;
    int close_code;           /* nonzero: close with this once the client is quiet */
    char close_reason[64];
    uint64_t closing_since;
    bool close_ready;         /* quiet long enough (or must go now): close when the queue is empty */
};

struct writer_job {
    struct spy_record_job job;
    uint64_t owner, requester;  /* client serials to send record_done to */
};

static struct {
    struct lws_context *ctx;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    struct spy_config cfg;
    char cmdline[1024];
    char data_dir[1024];
    struct client *clients;
    int nclients;
    uint64_t next_serial;
    atomic_uint_fast64_t frames_dropped;
    lws_sorted_usec_list_t sul_push, sul_record, sul_watch, sul_accept;

    /* our listening socket, polled by lws as a raw file */
    int listen_fd;
    struct lws *listen_wsi;
    struct lws *conns[MAX_FDS];   /* accepted connections lws still holds */
    int nconns;
    bool accept_paused;

    /* stopping (server thread): the recording's record_done, then a close
     * frame to every client, before the loop ends */
    atomic_bool leaving, left;
    bool leave_started, leave_closing;
    uint64_t refused_fds, refused_full;   /* connections closed at accept */

    /* the recording in progress (server thread only) */
    bool rec_active;
    int rec_seconds;
    unsigned rec_formats;
    uint64_t rec_started_ns;
    double rec_elapsed;            /* seconds the last finished recording covered */
    double rec_start_time;
    uint64_t rec_owner;
    char rec_id[160];
    bool rec_done_once;       /* a recording ended: `report` defaults to it */

    /* the writer: one job at a time */
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t mail_lock;
    char *mail;               /* record_done from the writer, for the server thread */
    uint64_t mail_to[2];

    /* fds lws owns, closed without lws in a fork child */
    int fds[MAX_FDS];
    int nfds;
} srv = { .mail_lock = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1 };

/* ---- outgoing queues ----------------------------------------------------- */

static void clear_queue(struct client *c);

/* Queue msg (taking ownership).  Live pushes give way when the queue is
 * long; a reply that does not fit closes the client. */
static void send_to(struct client *c, char *msg, bool live)
{
    if (!msg)
        return;
    if (c->close_code || (live && c->qcount >= QUEUE_LIVE_MAX)) {
        if (live)
            atomic_fetch_add(&srv.frames_dropped, 1);
        free(msg);
        return;
    }
    if (c->qcount >= QUEUE_MAX) {
        free(msg);
        /* it reads nothing: drop what waits for it and close now; if its
         * socket never becomes writable either, the timer cuts it off */
        clear_queue(c);
        c->close_code = 4009;
        snprintf(c->close_reason, sizeof(c->close_reason), "client too slow: replies not read");
        c->closing_since = spy_now_ns();
        c->close_ready = true;
        lws_set_timer_usecs(c->wsi, CLOSE_MAX_NS / 1000);
        lws_callback_on_writable(c->wsi);
        return;
    }
    size_t len = strlen(msg);
    char *buf = malloc(LWS_PRE + len);
    if (!buf) {
        free(msg);
        return;
    }
    memcpy(buf + LWS_PRE, msg, len);
    free(msg);
    int slot = (c->qhead + c->qcount) % QUEUE_MAX;
    c->queue[slot] = buf;
    c->qlen[slot] = len;
    c->qlive[slot] = live;
    c->qcount++;
    lws_callback_on_writable(c->wsi);
}

static void clear_queue(struct client *c)
{
    while (c->qcount > 0) {
        free(c->queue[c->qhead]);
        c->qhead = (c->qhead + 1) % QUEUE_MAX;
        c->qcount--;
    }
}

static struct client *find_client(uint64_t serial)
{
    for (struct client *c = srv.clients; c; c = c->next)
        if (c->serial == serial)
            return c;
    return NULL;
}

/* ---- live pushes ------------------------------------------------------- */

static char *top_message(int limit, int window, bool idle, int tid, int pid, bool tasks, bool live, const char *id)
{
    struct spy_top_result top;
    if ((tasks ? spy_top_tasks(limit, window, tid, pid, &top) : spy_top(limit, window, idle, tid, pid, &top)) != 0)
        return spy_msg_error("internal", "out of memory computing top", id);
    char *m = spy_msg_top(&top, live, limit, idle, id);
    spy_top_result_free(&top);
    return m;
}

/* What a client's live pushes show. */
static char *live_message(const struct client *c)
{
    return top_message(c->live_limit, c->live_window, c->live_idle, c->live_tid, c->live_pid, c->live_tasks, true, "");
}

/* The merged call tree of a window (0 = since start), nodes under 0.1 %
 * of the samples left out.  The task view counts every task state
 * (waiting tasks carry the idle flag), in milliseconds. */
static char *flame_message(int window, bool idle, int tid, int pid, bool tasks, const char *id)
{
    struct spy_profile prof;
    if (tasks)
        idle = true;
    if (spy_store_profile(&spy_agent.store, window ? SPY_SPAN_WINDOW : SPY_SPAN_ALL, window,
                          (int64_t)(spy_now_ns() / 1000000000ULL), tasks ? SPY_VIEW_TASKS : SPY_VIEW_CPU, &prof) != 0)
        return spy_msg_error("internal", "out of memory building the call tree", id);
    struct spy_sink sink;
    spy_sink_memory(&sink, 32u << 20);
    spy_sink_printf(&sink, "{\"type\":\"flame\",");
    if (id[0])
        spy_sink_printf(&sink, "\"id\":%s,", id);
    spy_sink_printf(&sink, "\"view\":\"%s\",\"unit\":\"%s\",", tasks ? "tasks" : "cpu", tasks ? "ms" : "samples");
    spy_sink_printf(&sink, "\"window\":%d,\"idle\":%s,\"thread\":%d,", window, idle ? "true" : "false", tid);
    struct spy_write_options opt = { .include_idle = idle, .by_thread = false, .title = NULL, .tid = tid, .pid = pid };
    int rc = spy_write_flame_json(&prof, &opt, 0.001, &sink);
    spy_sink_puts(&sink, "}");
    spy_profile_free(&prof);
    if (rc != 0 || sink.failed) {
        free(sink.buf);
        return spy_msg_error("internal", "the call tree did not fit in 32 MiB", id);
    }
    return sink.buf;      /* NUL-terminated, malloc'd */
}

static void push_live(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (atomic_load(&srv.leaving))
        return;                 /* nothing more to queue ahead of the close frames */
    /* clients mostly share one view: compute each distinct one once */
    struct view {
        int limit, window, tid, pid;
        bool idle, tasks;
        char *msg;
    } views[8];
    int nviews = 0;
    for (struct client *c = srv.clients; c; c = c->next) {
        if (!c->authed || c->paused || c->close_code)
            continue;
        int v;
        for (v = 0; v < nviews; v++)
            if (views[v].limit == c->live_limit && views[v].window == c->live_window && views[v].idle == c->live_idle
                && views[v].tid == c->live_tid && views[v].pid == c->live_pid && views[v].tasks == c->live_tasks)
                break;
        if (v == nviews) {
            if (nviews == 8) {
                send_to(c, live_message(c), true);
                continue;
            }
            views[v].limit = c->live_limit;
            views[v].window = c->live_window;
            views[v].idle = c->live_idle;
            views[v].tid = c->live_tid;
            views[v].pid = c->live_pid;
            views[v].tasks = c->live_tasks;
            views[v].msg = live_message(c);
            nviews++;
        }
        if (views[v].msg)
            send_to(c, strdup(views[v].msg), true);
    }
    for (int v = 0; v < nviews; v++)
        free(views[v].msg);
    lws_sul_schedule(srv.ctx, 0, &srv.sul_push, push_live, (lws_usec_t)srv.cfg.interval_ms * 1000);
}

/* ---- recordings ---------------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct writer_job *w = arg;
    pthread_setname_np(pthread_self(), "spy-writer");
    char *done = spy_record_write(&spy_agent.store, &w->job);
    pthread_mutex_lock(&srv.mail_lock);
    free(srv.mail);
    srv.mail = done;
    srv.mail_to[0] = w->owner;
    srv.mail_to[1] = w->requester;
    pthread_mutex_unlock(&srv.mail_lock);
    free(w);
    if (srv.ctx)
        lws_cancel_service(srv.ctx);
    return NULL;
}

static void join_writer(void)
{
    if (srv.writer_running) {
        pthread_join(srv.writer, NULL);
        srv.writer_running = false;
    }
}

static int start_writer(const struct spy_record_job *job, uint64_t owner, uint64_t requester)
{
    join_writer();
    struct writer_job *w = calloc(1, sizeof(*w));
    if (!w)
        return -1;
    w->job = *job;
    w->owner = owner;
    w->requester = requester;
    int rc = spy_thread_start(&srv.writer, writer_main, w);
    if (rc != 0) {
        free(w);
        return -1;
    }
    srv.writer_running = true;
    return 0;
}

static bool writer_busy(void)
{
    if (!srv.writer_running)
        return false;
    pthread_mutex_lock(&srv.mail_lock);
    bool done = srv.mail != NULL;
    pthread_mutex_unlock(&srv.mail_lock);
    return !done;
}

static void fill_job(struct spy_record_job *job, enum spy_span span, int window, unsigned formats, double duration,
                     double start_time, const char *id)
{
    memset(job, 0, sizeof(*job));
    job->span = span;
    job->window = window;
    job->formats = formats ? formats : (SPY_FMT_SVG | SPY_FMT_COLLAPSED);
    job->duration = duration;
    job->start_time = start_time;
    snprintf(job->data_dir, sizeof(job->data_dir), "%s", srv.data_dir);
    snprintf(job->id, sizeof(job->id), "%s", id);
}

/* End the recording in progress and hand it to the writer. */
static void finish_recording(uint64_t requester)
{
    if (!srv.rec_active)
        return;
    srv.rec_active = false;
    srv.rec_done_once = true;
    spy_store_record_stop(&spy_agent.store);
    lws_sul_cancel(&srv.sul_record);
    struct spy_record_job job;
    double elapsed = (double)(spy_now_ns() - srv.rec_started_ns) / 1e9;
    srv.rec_elapsed = elapsed;
    fill_job(&job, SPY_SPAN_RECORDING, 0, srv.rec_formats, elapsed, srv.rec_start_time, srv.rec_id);
    if (start_writer(&job, srv.rec_owner, requester) != 0) {
        struct client *c = find_client(srv.rec_owner);
        if (c)
            send_to(c, spy_msg_error("internal", "cannot start the writer thread", srv.rec_id), false);
    }
}

static void record_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (!srv.rec_active)
        return;
    double elapsed = (double)(spy_now_ns() - srv.rec_started_ns) / 1e9;
    if (elapsed + 0.0005 >= srv.rec_seconds) {
        finish_recording(0);
        return;
    }
    struct client *c = find_client(srv.rec_owner);
    if (c) {
        pthread_mutex_lock(&spy_agent.store.lock);
        uint64_t samples = spy_agent.store.rec_busy;
        pthread_mutex_unlock(&spy_agent.store.lock);
        send_to(c, spy_msg_record_progress(elapsed, srv.rec_seconds, samples), false);
    }
    double left = srv.rec_seconds - elapsed;
    double next = left < 1.0 ? left : 1.0;
    lws_sul_schedule(srv.ctx, 0, &srv.sul_record, record_tick, (lws_usec_t)(next * 1e6) + 1);
}

static void deliver_mail(void)
{
    pthread_mutex_lock(&srv.mail_lock);
    char *m = srv.mail;
    uint64_t to0 = srv.mail_to[0], to1 = srv.mail_to[1];
    srv.mail = NULL;
    pthread_mutex_unlock(&srv.mail_lock);
    if (!m)
        return;
    join_writer();
    struct client *a = to0 ? find_client(to0) : NULL;
    struct client *b = to1 && to1 != to0 ? find_client(to1) : NULL;
    if (b)
        send_to(b, strdup(m), false);
    if (a)
        send_to(a, m, false);
    else
        free(m);
}

/* ---- commands ---------------------------------------------------------- */

static bool loopback_host(const char *h)
{
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0;
}

static bool token_matches(const char *given)
{
    const char *want = srv.cfg.token;
    size_t n = strlen(want), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static void close_client(struct client *c, int code, const char *reason)
{
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    c->closing_since = spy_now_ns();
    /* Close once the client has been quiet for a moment (at most 2 s):
     * closing with its messages still unread would make the kernel reset
     * the connection and the client would never see the close frame. */
    lws_set_timer_usecs(c->wsi, CLOSE_QUIET_US);
}

static void greet(struct client *c)
{
    send_to(c, spy_msg_hello(srv.cmdline, srv.cfg.interval_ms, srv.data_dir, ""), false);
    send_to(c, live_message(c), true);
}

static char *own_dump(void)
{
    struct spy_dump_result d;
    if (spy_dump(&d) != 0)
        return NULL;
    char *m = spy_msg_dump(&d, "");
    spy_dump_result_free(&d);
    return m;
}

static char *own_tasks(void)
{
    struct spy_tasks_result tr;
    if (spy_tasks(&tr, SPY_TASKS_REPLY_CAP) != 0)
        return NULL;
    char *m = spy_msg_tasks(&tr, (int)getpid(), "");
    spy_tasks_result_free(&tr);
    return m;
}

/* Move the items of one process's reply (its `key` array) into `into`,
 * each marked with the pid; for tasks, add up "omitted" and "available". */
static void take_items(char *m, const char *key, int pid, cJSON *into, double *omitted, bool *available)
{
    cJSON *o = m ? cJSON_Parse(m) : NULL;
    free(m);
    cJSON *arr = o ? cJSON_DetachItemFromObject(o, key) : NULL;
    cJSON *t;
    while (arr && (t = cJSON_DetachItemFromArray(arr, 0)) != NULL) {
        if (!cJSON_GetObjectItemCaseSensitive(t, "pid"))
            cJSON_AddNumberToObject(t, "pid", pid);
        cJSON_AddItemToArray(into, t);
    }
    const cJSON *om = o ? cJSON_GetObjectItemCaseSensitive(o, "omitted") : NULL;
    if (cJSON_IsNumber(om))
        *omitted += om->valuedouble;
    if (o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "available")))
        *available = true;
    cJSON_Delete(arr);
    cJSON_Delete(o);
}

/* Every thread (dump) or asyncio task (tasks) of the tree, or of one
 * process: ours read here, each worker's asked of it; every item carries
 * its pid. */
static char *tree_message(const char *type, const char *key, int pid, const char *id)
{
    bool tasks = strcmp(type, "tasks") == 0;
    int self = (int)getpid();
    double omitted = 0;
    bool available = false;
    cJSON *items = cJSON_CreateArray();
    if (!items)
        return NULL;
    if (pid == 0 || pid == self)
        take_items(tasks ? own_tasks() : own_dump(), key, self, items, &omitted, &available);
    struct spy_process procs[64];
    int n = spy_leaves_list(procs, 64);
    bool found = pid == 0 || pid == self;
    for (int i = 0; i < n; i++) {
        if (!procs[i].alive || (pid && procs[i].pid != pid))
            continue;
        found = true;
        char *m = tasks ? spy_leaves_tasks(procs[i].pid, 500) : spy_leaves_dump(procs[i].pid, 500);
        take_items(m, key, procs[i].pid, items, &omitted, &available);
    }
    if (!found) {
        cJSON_Delete(items);
        char m[160];
        snprintf(m, sizeof(m), "no process %d in this tree: 'status' lists the processes", pid);
        return spy_msg_error("bad_argument", m, id);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    if (id[0]) {
        cJSON *v = cJSON_Parse(id);
        if (v)
            cJSON_AddItemToObject(o, "id", v);
    }
    cJSON_AddItemToObject(o, key, items);
    if (tasks) {
        cJSON_AddBoolToObject(o, "available", available);
        cJSON_AddNumberToObject(o, "omitted", omitted);
        cJSON_AddNumberToObject(o, "pid", self);
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

/* report [text|html] [S]: the last S seconds, else the last recording,
 * else since start.  Text comes back in the reply (it is quick); HTML goes
 * to a file through the writer thread and the reply names it. */
/* The seconds a span covers: the window (at most the agent's uptime), the
 * last recording, or the agent's uptime. */
static double span_seconds(enum spy_span span, int window)
{
    double up = spy_agent.started_ns ? (double)(spy_now_ns() - spy_agent.started_ns) / 1e9 : 0.0;
    if (span == SPY_SPAN_RECORDING)
        return srv.rec_elapsed;
    if (span == SPY_SPAN_WINDOW)
        return up > 0 && up < window ? up : window;
    return up;
}

static void report(struct client *c, const struct spy_cmd *cmd, const char *id)
{
    enum spy_span span = cmd->seconds ? SPY_SPAN_WINDOW : srv.rec_done_once && !srv.rec_active ? SPY_SPAN_RECORDING
                                                                                                  : SPY_SPAN_ALL;
    const char *span_name = span == SPY_SPAN_WINDOW ? "window" : span == SPY_SPAN_RECORDING ? "recording" : "all";
    if (cmd->html) {
        if (writer_busy()) {
            send_to(c, spy_msg_error("busy", "a file is being written; try again in a moment", id), false);
            return;
        }
        struct spy_record_job job;
        fill_job(&job, span, cmd->seconds, SPY_FMT_REPORT_HTML, span_seconds(span, cmd->seconds), (double)time(NULL),
                 id);
        job.reply = "report";
        if (start_writer(&job, c->serial, 0) != 0)
            send_to(c, spy_msg_error("internal", "cannot start the writer thread", id), false);
        return;
    }
    struct spy_profile prof;
    if (spy_store_profile(&spy_agent.store, span, cmd->seconds, (int64_t)(spy_now_ns() / 1000000000ULL), SPY_VIEW_CPU,
                          &prof) != 0) {
        send_to(c, spy_msg_error("internal", "out of memory building the profile", id), false);
        return;
    }
    prof.rate = spy_agent.cfg.rate;
    prof.pid = (int)getpid();
    prof.duration = span_seconds(span, cmd->seconds);
    spy_proc_cmdline(prof.program, sizeof(prof.program));
    struct spy_sink sink;
    spy_sink_memory(&sink, 8u << 20);
    struct spy_report_options ro = { .top = 20, .categories = NULL, .title = NULL };
    int rc = spy_report_text(&prof, &ro, &sink);
    spy_profile_free(&prof);
    if (rc != 0 || sink.failed) {
        send_to(c, spy_msg_error("internal", sink.error[0] ? sink.error : "the report could not be built", id), false);
    } else {
        send_to(c, spy_msg_report_text(sink.buf, span_name, cmd->seconds, id), false);
    }
    free(sink.buf);
}

static void run_command(struct client *c, const char *msg, size_t len)
{
    struct spy_cmd cmd;
    struct spy_cmd_error err;
    int history = spy_agent.store_ready ? spy_agent.store.history : srv.cfg.history;
    if (spy_protocol_parse(msg, len, history, &cmd, &err) != 0) {
        if (!c->authed) {
            close_client(c, 4001, "bad token");
            return;
        }
        send_to(c, spy_msg_error(err.code, err.message, err.id), false);
        return;
    }
    if (!c->authed) {
        if (cmd.kind == SPY_CMD_AUTH && token_matches(cmd.token)) {
            c->authed = true;
            greet(c);
        } else {
            close_client(c, 4001, "bad token");
        }
        return;
    }
    const char *id = cmd.id;
    char m[320];
    switch (cmd.kind) {
    case SPY_CMD_HELP:
        send_to(c, spy_msg_help(id), false);
        break;
    case SPY_CMD_AUTH:
        /* already authenticated (by ?token=, an earlier auth, or no token
         * needed): the same answer as a first auth gets, hello; a wrong
         * token is said, and the connection stays as it is */
        if (srv.cfg.token[0] && !token_matches(cmd.token))
            send_to(c, spy_msg_error("auth", "that is not the token (this connection is already authenticated)", id),
                    false);
        else
            send_to(c, spy_msg_hello(srv.cmdline, srv.cfg.interval_ms, srv.data_dir, id), false);
        break;
    case SPY_CMD_STATUS: {
        uint64_t rec_samples = 0;
        if (srv.rec_active) {
            pthread_mutex_lock(&spy_agent.store.lock);
            rec_samples = spy_agent.store.rec_busy;
            pthread_mutex_unlock(&spy_agent.store.lock);
        }
        send_to(c, spy_msg_status(srv.nclients, atomic_load(&srv.frames_dropped), srv.rec_active, srv.rec_seconds,
                                  srv.rec_active ? (double)(spy_now_ns() - srv.rec_started_ns) / 1e9 : 0.0,
                                  srv.rec_formats, rec_samples, id), false);
        break;
    }
    case SPY_CMD_TOP:
        send_to(c,
                top_message(cmd.limit ? cmd.limit : 20, cmd.window, cmd.idle, cmd.tid, cmd.pid, cmd.tasks, false, id),
                false);
        break;
    case SPY_CMD_LIVE:
        if (cmd.limit)
            c->live_limit = cmd.limit;
        if (cmd.window_given)
            c->live_window = cmd.window_all ? 0 : cmd.window;
        if (cmd.idle_given)
            c->live_idle = cmd.idle;
        if (cmd.tid_given)
            c->live_tid = cmd.tid;
        c->live_pid = cmd.pid;
        if (cmd.tasks_given)
            c->live_tasks = cmd.tasks;
        send_to(c, spy_msg_live(c->live_limit, c->live_window, c->live_idle, c->live_tasks, id), false);
        break;
    case SPY_CMD_PAUSE:
        c->paused = true;
        send_to(c, spy_msg_simple("paused", id), false);
        break;
    case SPY_CMD_RESUME:
        c->paused = false;
        send_to(c, spy_msg_simple("resumed", id), false);
        break;
    case SPY_CMD_DUMP:
        send_to(c, tree_message("dump", "threads", cmd.pid, id), false);
        break;
    case SPY_CMD_TASKS:
        send_to(c, tree_message("tasks", "tasks", cmd.pid, id), false);
        break;
    case SPY_CMD_FLAME:
        send_to(c, flame_message(cmd.window_all || !cmd.window_given ? 0 : cmd.window, cmd.idle, cmd.tid, cmd.pid,
                                 cmd.tasks, id), false);
        break;
    case SPY_CMD_REPORT:
        report(c, &cmd, id);
        break;
    case SPY_CMD_RATE:
        spy_set_rate(cmd.hz);
        send_to(c, spy_msg_rate(cmd.hz, id), false);
        break;
    case SPY_CMD_RESET:
        spy_reset();
        send_to(c, spy_msg_simple("reset", id), false);
        break;
    case SPY_CMD_RECORD:
        if (srv.rec_active || writer_busy()) {
            if (srv.rec_active)
                snprintf(m, sizeof(m), "a recording of %d s is running (%.0f s so far); send 'record stop' to end it",
                         srv.rec_seconds, (double)(spy_now_ns() - srv.rec_started_ns) / 1e9);
            else
                snprintf(m, sizeof(m), "the previous recording is still being written; try again in a moment");
            send_to(c, spy_msg_error("busy", m, id), false);
            break;
        }
        if (spy_store_record_start(&spy_agent.store) != 0) {
            send_to(c, spy_msg_error("internal", "out of memory starting the recording", id), false);
            break;
        }
        srv.rec_active = true;
        srv.rec_seconds = cmd.seconds;
        srv.rec_formats = cmd.formats ? cmd.formats : (SPY_FMT_SVG | SPY_FMT_COLLAPSED);
        srv.rec_started_ns = spy_now_ns();
        srv.rec_start_time = (double)time(NULL);
        srv.rec_owner = c->serial;
        snprintf(srv.rec_id, sizeof(srv.rec_id), "%s", id);
        send_to(c, spy_msg_record_started(cmd.seconds, srv.rec_formats, id), false);
        lws_sul_schedule(srv.ctx, 0, &srv.sul_record, record_tick,
                         (lws_usec_t)(cmd.seconds < 1 ? cmd.seconds : 1) * 1000000);
        break;
    case SPY_CMD_RECORD_STOP:
        if (!srv.rec_active) {
            send_to(c, spy_msg_error("not_recording", "no recording is running: start one with 'record SECONDS'", id),
                    false);
            break;
        }
        finish_recording(c->serial);
        break;
    case SPY_CMD_RECORD_LAST: {
        if (writer_busy()) {
            send_to(c, spy_msg_error("busy", "a recording is being written; try again in a moment", id), false);
            break;
        }
        struct spy_record_job job;
        fill_job(&job, SPY_SPAN_WINDOW, cmd.seconds, cmd.formats, (double)cmd.seconds,
                 (double)time(NULL) - cmd.seconds, id);
        if (start_writer(&job, c->serial, 0) != 0)
            send_to(c, spy_msg_error("internal", "cannot start the writer thread", id), false);
        break;
    }
    }
}

/* ---- accepting connections ---------------------------------------------- */

static void track_fd(int fd, bool add);

static rlim_t fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30))
        return 1u << 30;
    return rl.rlim_cur;
}

/* How many clients at once: SPY_MAX_CLIENTS, but never more than 1/16 of
 * the descriptors the process may open (read now: the app may lower it). */
static int client_cap(void)
{
    rlim_t share = fd_limit() / 16;
    if (share < 1)
        share = 1;
    return (rlim_t)srv.cfg.max_clients < share ? srv.cfg.max_clients : (int)share;
}

/* True when the process has fewer than 1/8 of its descriptors free (at
 * least 4, at most 256 kept for the app). */
static bool fds_short(void)
{
    rlim_t limit = fd_limit(), keep = limit / 8;
    if (keep < 4)
        keep = 4;
    if (keep > 256)
        keep = 256;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return true;            /* not even one more descriptor to look with */
    rlim_t open_fds = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            open_fds++;
    closedir(d);
    open_fds = open_fds > 0 ? open_fds - 1 : 0;       /* the directory itself */
    return open_fds + keep > limit;
}

static void resume_accept(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (srv.accept_paused && srv.listen_wsi && !atomic_load(&srv.leaving)) {
        srv.accept_paused = false;
        lws_rx_flow_control(srv.listen_wsi, 1);
    }
}

static void pause_accept(int err)
{
    if (!srv.accept_paused)
        spy_log(SPY_LOG_DEBUG, "accept() failed (%s): not accepting WebSocket clients for %d ms", strerror(err),
                ACCEPT_PAUSE_US / 1000);
    srv.accept_paused = true;
    lws_rx_flow_control(srv.listen_wsi, 0);
    lws_sul_schedule(srv.ctx, 0, &srv.sul_accept, resume_accept, ACCEPT_PAUSE_US);
}

static void forget_conn(struct lws *wsi)
{
    for (int i = 0; i < srv.nconns; i++)
        if (srv.conns[i] == wsi) {
            srv.conns[i] = srv.conns[--srv.nconns];
            track_fd(lws_get_socket_fd(wsi), false);
            return;
        }
}

/* The listening socket is readable: take what is waiting, within limits. */
static void accept_pending(void)
{
    for (int round = 0; round < 16; round++) {
        int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                pause_accept(errno);      /* EMFILE, ENFILE, ENOBUFS...: never spin on it */
            return;
        }
        if (srv.nconns >= client_cap() + REFUSING_MAX || srv.nconns >= MAX_FDS - 16) {
            srv.refused_full++;
            close(fd);                    /* well past the cap: no handshake for it */
            continue;
        }
        if (fds_short()) {
            srv.refused_fds++;
            if (srv.refused_fds == 1 || srv.refused_fds % 100 == 0)
                spy_log(SPY_LOG_INFO, "refused a WebSocket client: the process has fewer than 1/8 of its file "
                        "descriptors free (RLIMIT_NOFILE %llu); %llu refused so far",
                        (unsigned long long)fd_limit(), (unsigned long long)srv.refused_fds);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* as lws does for its own */
        lws_sock_file_fd_type d;
        d.sockfd = fd;
        struct lws *wsi = lws_adopt_descriptor_vhost(lws_get_vhost(srv.listen_wsi), LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP,
                                                     d, NULL, NULL);
        if (!wsi)
            continue;                     /* lws closed it */
        srv.conns[srv.nconns++] = wsi;
        track_fd(fd, true);
    }
}

static int listen_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)wsi;
    (void)user;
    (void)in;
    (void)len;
    if (reason == LWS_CALLBACK_RAW_RX_FILE)
        accept_pending();
    return 0;
}

/* ---- lws callback ------------------------------------------------------ */

static bool origin_allowed(const char *origin)
{
    if (strcmp(origin, "null") == 0)
        return true;
    const char *schemes[] = { "http://", "https://" };
    const char *hosts[] = { "127.0.0.1", "localhost", "[::1]" };
    for (int s = 0; s < 2; s++)
        for (int h = 0; h < 3; h++) {
            size_t ls = strlen(schemes[s]), lh = strlen(hosts[h]);
            if (strncmp(origin, schemes[s], ls) == 0 && strncmp(origin + ls, hosts[h], lh) == 0) {
                const char *rest = origin + ls + lh;
                if (*rest == '\0')
                    return true;
                if (*rest == ':' && rest[1]) {
                    bool digits = true;
                    for (const char *p = rest + 1; *p; p++)
                        digits &= *p >= '0' && *p <= '9';
                    if (digits)
                        return true;
                }
            }
        }
    const char *extra = srv.cfg.origins;
    if (extra[0]) {
        size_t n = strlen(origin);
        for (const char *p = extra; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len == n && strncmp(p, origin, n) == 0)
                return true;
            p += len + (e ? 1 : 0);
        }
    }
    return false;
}

static void track_fd(int fd, bool add)
{
    for (int i = 0; i < srv.nfds; i++)
        if (srv.fds[i] == fd) {
            if (!add)
                srv.fds[i] = srv.fds[--srv.nfds];
            return;
        }
    if (add && srv.nfds < MAX_FDS)
        srv.fds[srv.nfds++] = fd;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct client *c = user;
    char buf[512];
    switch (reason) {

    case LWS_CALLBACK_ESTABLISHED: {
        memset(c, 0, sizeof(*c));
        c->wsi = wsi;
        c->serial = ++srv.next_serial;
        c->live_limit = LIVE_LIMIT;
        c->live_window = LIVE_WINDOW;
        c->next = srv.clients;
        srv.clients = c;
        srv.nclients++;
        if (srv.nclients > client_cap()) {
            char why[64];
            snprintf(why, sizeof(why), "too many clients (%d at most): try again later", client_cap());
            spy_log(SPY_LOG_DEBUG, "refused a WebSocket client: %s", why);
            close_client(c, 1013 /* try again later */, why);
            return 0;
        }
        /* A browser page from elsewhere: refuse it with a close code the
         * page can see (a failed handshake shows a browser no status). */
        int n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN);
        if (n > 0 && !origin_allowed(buf)) {
            spy_log(SPY_LOG_DEBUG, "refused a connection from origin %.100s (SPY_ORIGINS adds origins)", buf);
            close_client(c, 4003, "origin not allowed (SPY_ORIGINS adds origins)");
            return 0;
        }
        c->authed = srv.cfg.token[0] == '\0';
        if (!c->authed) {
            const char *t = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
            if (t && token_matches(t))
                c->authed = true;
            else if (t) {
                close_client(c, 4001, "bad token");
                return 0;
            }
        }
        if (c->authed)
            greet(c);
        else
            send_to(c, spy_msg_simple("auth_required", ""), false);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        if (c->close_code) {
            /* closing: what still arrives is read and dropped, and the
             * close waits for quiet, within CLOSE_MAX_NS */
            if (spy_now_ns() - c->closing_since < CLOSE_MAX_NS)
                lws_set_timer_usecs(wsi, CLOSE_QUIET_US);
            return 0;
        }
        if (c->rxlen + len > MSG_MAX || c->rx_overflow) {
            /* close from the writable callback, after lws has read what
             * is pending: closing with unread input makes the kernel reset
             * the connection and the client never sees the close frame */
            c->rx_overflow = true;
            close_client(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large (4096 bytes at most)");
            return 0;
        }
        memcpy(c->rx + c->rxlen, in, len);
        c->rxlen += len;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
            return 0;
        /* checked here rather than by lws, so the close goes out like the
         * others: from the writable callback, with its frame */
        if (!lws_frame_is_binary(wsi) && !spy_utf8_valid(c->rx, c->rxlen)) {
            c->rxlen = 0;
            close_client(c, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8 in a text message");
            return 0;
        }
        uint64_t now = spy_now_ns();
        if (now - c->flood_start > 1000000000ULL) {
            c->flood_start = now;
            c->flood_count = 0;
        }
        if (++c->flood_count > FLOOD_MAX) {
            c->rxlen = 0;
            close_client(c, 4008, "too many commands (50 per second at most)");
            return 0;
        }
        c->rx[c->rxlen] = '\0';
        run_command(c, c->rx, c->rxlen);
        c->rxlen = 0;
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        if (c->qcount > 0) {
            int i = c->qhead;
            int n = lws_write(wsi, (unsigned char *)c->queue[i] + LWS_PRE, c->qlen[i], LWS_WRITE_TEXT);
            free(c->queue[i]);
            c->qhead = (c->qhead + 1) % QUEUE_MAX;
            c->qcount--;
            if (n < 0)
                return -1;
            if (c->qcount > 0 || (c->close_code && c->close_ready))
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (c->close_code && c->close_ready) {
            lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
                             strlen(c->close_reason));
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED: {
        for (struct client **p = &srv.clients; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                srv.nclients--;
                break;
            }
        clear_queue(c);
        return 0;
    }
    case LWS_CALLBACK_WSI_DESTROY:
        forget_conn(wsi);
        return 0;
    case LWS_CALLBACK_TIMER:
        if (c && c->close_code) {
            if (c->close_code == 4009)
                return -1;      /* stuck: not even the close frame can go out */
            c->close_ready = true;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        deliver_mail();
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    { "spyagent", callback, sizeof(struct client), MSG_MAX, 0, NULL, 0 },
    { "spy-listen", listen_callback, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Our listening socket on host:port; -1 with why filled if it cannot be had. */
static int open_listener(const char *host, int port, char *why, size_t cap)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = strchr(host, ':') ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(why, cap, "cannot resolve it: %s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(why, cap, "no address");
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            snprintf(why, cap, "%s", strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            snprintf(why, cap, "%s", strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static void lws_to_log(int level, const char *line)
{
    char b[300];
    size_t n = strlen(line);
    if (n >= sizeof(b))
        n = sizeof(b) - 1;
    memcpy(b, line, n);
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
        n--;
    b[n] = '\0';
    spy_log(SPY_LOG_DEBUG, "lws %d: %s", level, b);
}

/* Stopping, on the server thread: accept nobody new, end the recording
 * (the writer writes it and its record_done goes out), then close every
 * client with 1001 once what it is owed has been sent; `left` once all are
 * gone.  spy_server_stop waits for that, within LEAVE_MAX_NS. */
static void leave_step(void)
{
    if (!srv.leave_started) {
        srv.leave_started = true;
        srv.accept_paused = true;
        if (srv.listen_wsi)
            lws_rx_flow_control(srv.listen_wsi, 0);
        if (srv.rec_active)
            finish_recording(0);
    }
    if (writer_busy())
        return;                 /* its mail wakes us */
    deliver_mail();
    if (!srv.leave_closing) {
        srv.leave_closing = true;
        for (struct client *c = srv.clients; c; c = c->next) {
            if (!c->close_code) {
                c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
                snprintf(c->close_reason, sizeof(c->close_reason), "the agent is stopping (the app exits or stop())");
                c->closing_since = spy_now_ns();
            }
            c->close_ready = true;
            lws_callback_on_writable(c->wsi);
        }
    }
    if (srv.nclients == 0)
        atomic_store(&srv.left, true);
}

/* Wakes the service loop once a second, for its check of the host. */
static void watch_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    lws_sul_schedule(srv.ctx, 0, &srv.sul_watch, watch_tick, 1000000);
}

static void *server_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spy-server");
    lws_sul_schedule(srv.ctx, 0, &srv.sul_push, push_live, (lws_usec_t)srv.cfg.interval_ms * 1000);
    lws_sul_schedule(srv.ctx, 0, &srv.sul_watch, watch_tick, 1000000);
    uint64_t next_host_check = spy_now_ns() + 1000000000ULL;
    while (!atomic_load(&srv.stop)) {
        if (lws_service(srv.ctx, 0) < 0)
            break;
        if (atomic_load(&srv.leaving) && !atomic_load(&srv.left))
            leave_step();
        if (spy_now_ns() >= next_host_check) {
            next_host_check = spy_now_ns() + 1000000000ULL;
            /* outside lws_service: ending stops this server, context and all */
            if (spy_threads_end_with_host())
                break;
        }
    }
    atomic_store(&srv.left, true);     /* nobody to wait for any more */
    return NULL;
}

/* fds that exist now, to tell which ones lws_create_context opened */
static int open_fds(int *fds, int cap)
{
    int n = 0;
    for (int fd = 0; fd < 4096 && n < cap; fd++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        if (access(p, F_OK) == 0)
            fds[n++] = fd;
    }
    return n;
}

int spy_server_start(const struct spy_config *cfg)
{
    return spy_server_start_quiet(cfg, false);
}

int spy_server_start_quiet(const struct spy_config *cfg, bool quiet)
{
    if (srv.ctx)
        return 0;
    srv.cfg = *cfg;
    if (!loopback_host(cfg->ws_host) && cfg->token[0] == '\0') {
        spy_log(SPY_LOG_ERROR, "refusing to serve on %s:%d without SPY_TOKEN: set SPY_TOKEN (8+ characters) to listen "
                "beyond loopback, or SPY_WS_HOST=127.0.0.1; the app keeps running without the WebSocket server",
                cfg->ws_host, cfg->ws_port);
        return -1;
    }
    spy_proc_cmdline(srv.cmdline, sizeof(srv.cmdline));
    snprintf(srv.data_dir, sizeof(srv.data_dir), "%s", cfg->data_dir);
    if (cfg->data_dir[0] != '/') {
        char cwd[512];
        if (getcwd(cwd, sizeof(cwd))
            && snprintf(srv.data_dir, sizeof(srv.data_dir), "%s/%s", cwd, cfg->data_dir) >= (int)sizeof(srv.data_dir))
            snprintf(srv.data_dir, sizeof(srv.data_dir), "%s", cfg->data_dir);   /* too long: keep it relative */
    }

    char why[160];
    srv.listen_fd = open_listener(cfg->ws_host, cfg->ws_port, why, sizeof(why));
    if (srv.listen_fd < 0) {
        spy_log(quiet ? SPY_LOG_DEBUG : SPY_LOG_ERROR,
                "cannot listen on %s:%d (%s; is the port taken?): set SPY_WS_PORT to a free port; the app "
                "keeps running without the WebSocket server", cfg->ws_host, cfg->ws_port, why);
        return -1;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;   /* we listen and accept ourselves */
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.options = 0;
    if (strchr(cfg->ws_host, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.pt_serv_buf_size = 64 * 1024;

    int before[512], after[512];
    int nb = open_fds(before, 512);
    /* lws may install handlers and starts no thread; keep our mask for it */
    srv.ctx = lws_create_context(&info);
    struct lws_vhost *vh = srv.ctx ? lws_get_vhost_by_name(srv.ctx, "default") : NULL;
    lws_sock_file_fd_type lfd;
    lfd.filefd = srv.listen_fd;
    srv.listen_wsi = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, lfd, "spy-listen", NULL) : NULL;
    if (!srv.listen_wsi) {
        spy_log(SPY_LOG_ERROR, "cannot start the WebSocket server (libwebsockets failed); the app keeps running "
                "without it");
        if (srv.ctx)
            lws_context_destroy(srv.ctx);
        srv.ctx = NULL;
        close(srv.listen_fd);
        srv.listen_fd = -1;
        return -1;
    }
    int na = open_fds(after, 512);
    srv.nfds = 0;
    srv.nconns = 0;
    srv.accept_paused = false;
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int j = 0; j < nb && !old; j++)
            old = before[j] == after[i];
        if (!old)
            track_fd(after[i], true);
    }
    track_fd(srv.listen_fd, true);
    atomic_store(&srv.stop, false);
    atomic_store(&srv.leaving, false);
    atomic_store(&srv.left, false);
    srv.leave_started = srv.leave_closing = false;
    int rc = spy_thread_start(&srv.thread, server_main, NULL);
    if (rc != 0) {
        lws_context_destroy(srv.ctx);
        srv.ctx = NULL;
        spy_log(SPY_LOG_ERROR, "cannot start the server thread; the app keeps running without it");
        return -1;
    }
    srv.thread_started = true;
    spy_log(SPY_LOG_DEBUG, "serving ws://%s:%d/", cfg->ws_host, cfg->ws_port);
    spy_registry_announce("root", (int)getpid(), cfg->ws_host, cfg->ws_port, cfg->token[0] != '\0');
    return 0;
}

void spy_server_stop(void)
{
    if (!srv.ctx)
        return;
    spy_registry_withdraw();
    if (srv.thread_started && !pthread_equal(srv.thread, pthread_self())) {
        /* let the clients have the recording's record_done and a close
         * frame; bounded, as the host may be exiting */
        atomic_store(&srv.leaving, true);
        lws_cancel_service(srv.ctx);
        uint64_t until = spy_now_ns() + LEAVE_MAX_NS;
        while (!atomic_load(&srv.left) && spy_now_ns() < until)
            usleep(5000);
    }
    atomic_store(&srv.stop, true);
    lws_cancel_service(srv.ctx);
    if (srv.thread_started && pthread_equal(srv.thread, pthread_self()))
        pthread_detach(srv.thread);     /* stopping from itself, after its loop */
    else if (srv.thread_started)
        pthread_join(srv.thread, NULL);
    srv.thread_started = false;
    /* the app is ending during a recording: write what there is */
    join_writer();
    if (srv.rec_active) {
        srv.rec_active = false;
        spy_store_record_stop(&spy_agent.store);
        struct spy_record_job job;
        fill_job(&job, SPY_SPAN_RECORDING, 0, srv.rec_formats, (double)(spy_now_ns() - srv.rec_started_ns) / 1e9,
                 srv.rec_start_time, srv.rec_id);
        free(spy_record_write(&spy_agent.store, &job));
    }
    for (struct client *c = srv.clients; c; c = c->next)
        clear_queue(c);
    lws_context_destroy(srv.ctx);       /* closes the listening socket it polled */
    srv.ctx = NULL;
    srv.listen_wsi = NULL;
    srv.listen_fd = -1;
    srv.nconns = 0;
    srv.clients = NULL;
    srv.nclients = 0;
    pthread_mutex_lock(&srv.mail_lock);
    free(srv.mail);
    srv.mail = NULL;
    pthread_mutex_unlock(&srv.mail_lock);
}

void spy_server_after_fork_child(void)
{
    /* the server thread and its clients belong to the parent: close the
     * sockets lws opened without calling lws, and forget the rest */
    if (!srv.ctx)
        return;
    for (int i = 0; i < srv.nfds; i++)
        close(srv.fds[i]);
    srv.nfds = 0;
    srv.ctx = NULL;
    srv.listen_wsi = NULL;
    srv.listen_fd = -1;
    srv.nconns = 0;
    srv.thread_started = false;
    srv.writer_running = false;
    srv.clients = NULL;
    srv.nclients = 0;
    srv.rec_active = false;
    srv.mail = NULL;
    pthread_mutex_init(&srv.mail_lock, NULL);
}

int spy_server_clients(void)
{
    return srv.nclients;
}
