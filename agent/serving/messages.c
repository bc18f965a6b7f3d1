/*
 * messages.c — builds every JSON message the agent sends, with cJSON, from
 * the same C structs the Python API converts to dicts, so a `top` row over
 * the WebSocket has exactly the keys of a spyagent.top() row.
 *
 * Threads: pure functions; called on the server and writer threads.
 */
#include "messages.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "blocks.h"
#include "leaves.h"
#include "procinfo.h"
#include "registry.h"
#include "wall.h"

static cJSON *begin(const char *type, const char *id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "type", type);
    if (id && id[0]) {
        cJSON *v = cJSON_Parse(id);
        if (v)
            cJSON_AddItemToObject(o, "id", v);
    }
    return o;
}

static char *finish(cJSON *o)
{
    if (!o)
        return NULL;
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddNumberToObject(o, k, v);
}

char *spy_msg_error(const char *code, const char *message, const char *id)
{
    cJSON *o = begin("error", id);
    if (o) {
        cJSON_AddStringToObject(o, "error", code);
        cJSON_AddStringToObject(o, "message", message);
    }
    return finish(o);
}

char *spy_msg_simple(const char *type, const char *id)
{
    return finish(begin(type, id));
}

/* This process and every worker seen, for hello and status. */
static cJSON *processes(void)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    struct spy_status st;
    spy_get_status(&st);
    char cmdline[512];
    spy_proc_cmdline(cmdline, sizeof(cmdline));
    cJSON *me = cJSON_CreateObject();
    add_num(me, "pid", st.pid);
    cJSON_AddStringToObject(me, "role", spy_is_descendant() ? "worker" : "root");
    cJSON_AddStringToObject(me, "command_line", cmdline);
    cJSON_AddBoolToObject(me, "alive", true);
    add_num(me, "samples", (double)st.samples);
    cJSON_AddItemToArray(a, me);
    struct spy_process procs[64];
    int n = spy_leaves_list(procs, 64);
    for (int i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateObject();
        add_num(p, "pid", procs[i].pid);
        cJSON_AddStringToObject(p, "role", "worker");
        cJSON_AddStringToObject(p, "command_line", procs[i].command_line);
        cJSON_AddBoolToObject(p, "alive", procs[i].alive);
        add_num(p, "samples", (double)procs[i].samples);
        cJSON_AddItemToArray(a, p);
    }
    return a;
}

static cJSON *command_names(void)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && spy_cmd_help[i].name; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(spy_cmd_help[i].name));
    return a;
}

char *spy_msg_hello(const char *cmdline, int interval_ms, const char *data_dir, const char *id)
{
    struct spy_status st;
    spy_get_status(&st);
    cJSON *o = begin("hello", id);
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "version", st.version);
    add_num(o, "pid", st.pid);
    cJSON_AddStringToObject(o, "python_version", st.python_version);
    cJSON_AddStringToObject(o, "command_line", cmdline);
    add_num(o, "rate", st.rate);
    add_num(o, "effective_rate", st.effective_rate);
    add_num(o, "interval_ms", interval_ms);
    add_num(o, "history", st.history);
    cJSON_AddStringToObject(o, "data_dir", data_dir);
    cJSON_AddItemToObject(o, "commands", command_names());
    cJSON_AddItemToObject(o, "processes", processes());
    return finish(o);
}

char *spy_msg_help(const char *id)
{
    cJSON *o = begin("help", id);
    cJSON *a = cJSON_CreateArray();
    if (!o || !a) {
        cJSON_Delete(o);
        cJSON_Delete(a);
        return NULL;
    }
    for (int i = 0; spy_cmd_help[i].name; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", spy_cmd_help[i].name);
        cJSON_AddStringToObject(c, "usage", spy_cmd_help[i].usage);
        cJSON_AddStringToObject(c, "description", spy_cmd_help[i].description);
        cJSON_AddItemToArray(a, c);
    }
    cJSON_AddItemToObject(o, "commands", a);
    return finish(o);
}

char *spy_msg_top(const struct spy_top_result *top, bool live, int limit, bool idle, const char *id)
{
    struct spy_status st;
    spy_get_status(&st);
    cJSON *o = begin("top", id);
    cJSON *rows = cJSON_CreateArray();
    cJSON *ths = cJSON_CreateArray();
    if (!o || !rows || !ths) {
        cJSON_Delete(o);
        cJSON_Delete(rows);
        cJSON_Delete(ths);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "live", live);
    cJSON_AddStringToObject(o, "view", top->tasks ? "tasks" : "cpu");
    cJSON_AddStringToObject(o, "unit", top->tasks ? "ms" : "samples");
    add_num(o, "limit", limit);
    add_num(o, "window", top->window);
    cJSON_AddBoolToObject(o, "idle", idle);
    add_num(o, "samples", (double)top->samples);
    add_num(o, "idle_samples", (double)top->idle_samples);
    add_num(o, "rate", st.rate);
    add_num(o, "effective_rate", st.effective_rate);
    for (int i = 0; i < top->nrows; i++) {
        const struct spy_top_entry *e = &top->rows[i];
        cJSON *r = cJSON_CreateObject();
        if (!r)
            break;
        cJSON_AddStringToObject(r, "function", e->function);
        cJSON_AddStringToObject(r, "file", e->file);
        add_num(r, "line", e->line);
        add_num(r, "own", (double)e->own);
        add_num(r, "total", (double)e->total);
        add_num(r, "own_pct", e->own_pct);
        add_num(r, "total_pct", e->total_pct);
        if (top->tasks) {
            add_num(r, "running", (double)e->running);
            add_num(r, "ready", (double)e->ready);
            add_num(r, "waiting", (double)(e->total - e->running - e->ready));
        }
        cJSON *pids = cJSON_CreateArray();
        for (int k = 0; pids && k < e->npids; k++)
            cJSON_AddItemToArray(pids, cJSON_CreateNumber(e->pids[k]));
        cJSON_AddItemToObject(r, "pids", pids);
        cJSON_AddItemToArray(rows, r);
    }
    cJSON_AddItemToObject(o, "rows", rows);
    const struct spy_top_thread *threads = top->threads;
    for (int i = 0; i < top->nthreads; i++) {
        cJSON *t = cJSON_CreateObject();
        if (!t)
            break;
        add_num(t, "pid", threads[i].pid);
        add_num(t, "tid", threads[i].tid);
        if (threads[i].name[0])
            cJSON_AddStringToObject(t, "name", threads[i].name);
        else
            cJSON_AddNullToObject(t, "name");
        add_num(t, "samples", (double)threads[i].samples);
        cJSON_AddBoolToObject(t, "idle", threads[i].idle);
        cJSON_AddBoolToObject(t, "gil", threads[i].gil);
        cJSON_AddItemToArray(ths, t);
    }
    cJSON_AddItemToObject(o, "threads", ths);
    return finish(o);
}

static void add_formats(cJSON *o, unsigned formats)
{
    cJSON *a = cJSON_CreateArray();
    const char *names[] = { "svg", "collapsed", "speedscope", "pprof" };
    for (int i = 0; a && i < 4; i++)
        if (formats & (1u << i))
            cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    cJSON_AddItemToObject(o, "formats", a);
}

char *spy_msg_status(int clients, uint64_t frames_dropped, bool recording, int rec_seconds, double rec_elapsed,
                     unsigned rec_formats, uint64_t rec_samples, const char *id)
{
    struct spy_status st;
    spy_get_status(&st);
    cJSON *o = begin("status", id);
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "version", st.version);
    add_num(o, "pid", st.pid);
    cJSON_AddStringToObject(o, "python_version", st.python_version);
    cJSON_AddBoolToObject(o, "running", st.running);
    add_num(o, "rate", st.rate);
    add_num(o, "effective_rate", st.effective_rate);
    add_num(o, "samples", (double)st.samples);
    add_num(o, "dropped", (double)st.dropped);
    add_num(o, "torn_reads", (double)st.torn_reads);
    add_num(o, "missed_ticks", (double)st.missed_ticks);
    add_num(o, "overflow", (double)st.overflow);
    add_num(o, "uptime", st.uptime);
    add_num(o, "cpu_budget", st.cpu_budget);
    add_num(o, "sampler_cpu_seconds", st.sampler_cpu_seconds);
    cJSON_AddStringToObject(o, "read_method", st.read_method);
    cJSON_AddStringToObject(o, "read_method_reason", st.read_method_reason);
    add_num(o, "threads", st.threads);
    add_num(o, "sample_cost_us", st.sample_cost_us);
    add_num(o, "history", st.history);
    add_num(o, "memory_bytes", (double)st.memory_bytes);
    add_num(o, "stacks", (double)st.stacks);
    add_num(o, "functions", (double)st.functions);
    add_num(o, "task_rate", st.task_rate);
    add_num(o, "task_effective_rate", st.task_effective_rate);
    add_num(o, "task_cap", st.task_cap);
    add_num(o, "tasks", st.tasks);
    add_num(o, "tasks_walked", st.tasks_walked);
    add_num(o, "task_snapshots", (double)st.task_snapshots);
    add_num(o, "task_snapshots_torn", (double)st.task_snapshots_torn);
    add_num(o, "task_cost_us", st.task_cost_us);
    cJSON_AddItemToObject(o, "processes", processes());
    add_num(o, "clients", clients);
    add_num(o, "frames_dropped", (double)frames_dropped);
    add_num(o, "blocks", (double)spy_blocks_total());
    add_num(o, "block_ms", spy_agent.cfg.block_ms);
    add_num(o, "block_cost_us", spy_blocks_cost_us());
    if (recording) {
        cJSON *r = cJSON_CreateObject();
        add_num(r, "seconds", rec_seconds);
        add_num(r, "elapsed", rec_elapsed);
        add_formats(r, rec_formats);
        add_num(r, "samples", (double)rec_samples);
        cJSON_AddItemToObject(o, "recording", r);
    } else {
        cJSON_AddNullToObject(o, "recording");
    }
    return finish(o);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *frames_json(const struct spy_dump_frame *frames, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int f = 0; arr && f < n; f++) {
        cJSON *fr = cJSON_CreateObject();
        if (!fr)
            break;
        cJSON_AddStringToObject(fr, "function", frames[f].function ? frames[f].function : "?");
        cJSON_AddStringToObject(fr, "file", frames[f].file ? frames[f].file : "?");
        add_num(fr, "line", frames[f].line);
        cJSON_AddItemToArray(arr, fr);
    }
    return arr;
}

char *spy_msg_tasks(const struct spy_tasks_result *r, int pid, const char *id)
{
    cJSON *o = begin("tasks", id);
    cJSON *arr = cJSON_CreateArray();
    if (!o || !arr) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        return NULL;
    }
    for (int i = 0; i < r->ntasks; i++) {
        const struct spy_task_info *t = &r->tasks[i];
        cJSON *j = cJSON_CreateObject();
        cJSON *frames = frames_json(t->frames, t->nframes);
        if (!j || !frames) {
            cJSON_Delete(j);
            cJSON_Delete(frames);
            break;
        }
        cJSON_AddStringToObject(j, "id", t->id);
        add_str_or_null(j, "name", t->name);
        cJSON_AddStringToObject(j, "state", t->state);
        add_str_or_null(j, "awaiting", t->awaiting);
        add_str_or_null(j, "awaited_by", t->awaited_by[0] ? t->awaited_by : NULL);
        cJSON_AddBoolToObject(j, "truncated", t->truncated);
        add_num(j, "pid", pid);
        cJSON_AddItemToObject(j, "frames", frames);
        cJSON_AddItemToArray(arr, j);
    }
    cJSON_AddItemToObject(o, "tasks", arr);
    cJSON_AddBoolToObject(o, "available", r->available);
    add_num(o, "omitted", r->omitted);
    add_num(o, "pid", pid);
    return finish(o);
}

char *spy_msg_blocked(const struct spy_loop_block *b)
{
    cJSON *o = begin("blocked", "");
    cJSON *body = spy_block_json(b);
    if (!o || !body) {
        cJSON_Delete(o);
        cJSON_Delete(body);
        return NULL;
    }
    while (body->child) {
        cJSON *it = cJSON_DetachItemViaPointer(body, body->child);
        cJSON_AddItemToObject(o, it->string, it);
    }
    cJSON_Delete(body);
    return finish(o);
}

char *spy_msg_blocks(const char *id)
{
    struct spy_loop_block *v = NULL;
    size_t n = 0;
    uint64_t last;
    cJSON *o = begin("blocks", id);
    cJSON *arr = cJSON_CreateArray();
    cJSON *eps = spy_blocks_per_endpoint_json();
    if (!o || !arr || !eps || spy_blocks_since(0, &v, &n, &last) != 0) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        cJSON_Delete(eps);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *b = spy_block_json(&v[i]);
        if (b)
            cJSON_AddItemToArray(arr, b);
    }
    spy_loop_blocks_free(v, n);
    cJSON_AddItemToObject(o, "blocks", arr);
    add_num(o, "total", (double)spy_blocks_total());
    add_num(o, "block_ms", spy_agent.cfg.block_ms);
    cJSON_AddItemToObject(o, "per_endpoint", eps);
    return finish(o);
}

char *spy_msg_dump(const struct spy_dump_result *dump, const char *id)
{
    cJSON *o = begin("dump", id);
    cJSON *ths = cJSON_CreateArray();
    if (!o || !ths) {
        cJSON_Delete(o);
        cJSON_Delete(ths);
        return NULL;
    }
    for (int i = 0; i < dump->nthreads; i++) {
        const struct spy_dump_thread *t = &dump->threads[i];
        cJSON *j = cJSON_CreateObject();
        cJSON *frames = frames_json(t->frames, t->nframes);
        if (!j || !frames) {
            cJSON_Delete(j);
            cJSON_Delete(frames);
            break;
        }
        add_num(j, "tid", t->tid);
        add_num(j, "thread_id", (double)t->thread_id);
        if (t->name)
            cJSON_AddStringToObject(j, "name", t->name);
        else
            cJSON_AddNullToObject(j, "name");
        cJSON_AddBoolToObject(j, "gil", t->gil);
        cJSON_AddBoolToObject(j, "idle", t->idle);
        cJSON_AddBoolToObject(j, "truncated", t->truncated);
        cJSON_AddItemToObject(j, "frames", frames);
        cJSON_AddItemToArray(ths, j);
    }
    cJSON_AddItemToObject(o, "threads", ths);
    return finish(o);
}

char *spy_msg_rate(int rate, const char *id)
{
    cJSON *o = begin("rate", id);
    if (o)
        add_num(o, "rate", rate);
    return finish(o);
}

char *spy_msg_report_text(const char *text, const char *span, int seconds, const char *id)
{
    cJSON *o = begin("report", id);
    if (o) {
        cJSON_AddStringToObject(o, "format", "text");
        cJSON_AddStringToObject(o, "span", span);
        add_num(o, "seconds", seconds);
        cJSON_AddStringToObject(o, "text", text);
    }
    return finish(o);
}

char *spy_msg_live(int limit, int window, bool idle, bool tasks, const char *id)
{
    cJSON *o = begin("live", id);
    if (o) {
        cJSON_AddStringToObject(o, "view", tasks ? "tasks" : "cpu");
        add_num(o, "limit", limit);
        add_num(o, "window", window);
        cJSON_AddBoolToObject(o, "idle", idle);
    }
    return finish(o);
}

char *spy_msg_record_started(int seconds, unsigned formats, const char *id)
{
    cJSON *o = begin("record_started", id);
    if (o) {
        add_num(o, "seconds", seconds);
        add_formats(o, formats);
    }
    return finish(o);
}

char *spy_msg_record_progress(double elapsed, int seconds, uint64_t samples)
{
    cJSON *o = begin("record_progress", NULL);
    if (o) {
        add_num(o, "elapsed", elapsed);
        add_num(o, "seconds", seconds);
        add_num(o, "samples", (double)samples);
    }
    return finish(o);
}

char *spy_msg_record_done(const char *type, const struct spy_written *files, int nfiles, uint64_t samples, double duration,
                          uint64_t unique_stacks, const char *error, const char *id)
{
    cJSON *o = begin(type ? type : "record_done", id);
    if (o && type)
        cJSON_AddStringToObject(o, "format", "html");
    cJSON *a = cJSON_CreateArray();
    if (!o || !a) {
        cJSON_Delete(o);
        cJSON_Delete(a);
        return NULL;
    }
    for (int i = 0; i < nfiles; i++) {
        cJSON *f = cJSON_CreateObject();
        if (!f)
            break;
        cJSON_AddStringToObject(f, "format", files[i].format);
        if (files[i].view)
            cJSON_AddStringToObject(f, "view", files[i].view);
        if (files[i].pid)
            add_num(f, "pid", files[i].pid);
        cJSON_AddStringToObject(f, "path", files[i].path);
        add_num(f, "bytes", (double)files[i].bytes);
        cJSON_AddItemToArray(a, f);
    }
    cJSON_AddItemToObject(o, "files", a);
    add_num(o, "samples", (double)samples);
    add_num(o, "duration", duration);
    add_num(o, "unique_stacks", (double)unique_stacks);
    if (error)
        cJSON_AddStringToObject(o, "error", error);
    return finish(o);
}

/* x rounded to `places` decimals, for shares and rates a person reads. */
static double rounded(double x, double scale)
{
    return x >= 0 ? (double)(int64_t)(x * scale + 0.5) / scale : -(double)(int64_t)(-x * scale + 0.5) / scale;
}

static double pct_of(uint64_t part, uint64_t whole)
{
    return whole ? rounded(100.0 * (double)part / (double)whole, 10) : 0;
}

#define ENDPOINT_FNS 10              /* functions listed per endpoint and state */

static cJSON *wall_fns(const struct spy_wall_fn *l, uint32_t n, uint64_t whole)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < n && i < ENDPOINT_FNS; i++) {
        cJSON *f = cJSON_CreateObject();
        if (!f)
            break;
        cJSON_AddStringToObject(f, "function", l[i].function);
        cJSON_AddStringToObject(f, "file", l[i].file);
        add_num(f, "line", l[i].line);
        add_num(f, "ms", (double)l[i].ms);
        add_num(f, "pct", pct_of(l[i].ms, whole));
        cJSON_AddItemToArray(a, f);
    }
    return a;
}

char *spy_msg_endpoints(const struct spy_wall *w, int window, double span, const char *id)
{
    cJSON *o = begin("endpoints", id);
    cJSON *a = cJSON_CreateArray();
    if (!o || !a) {
        cJSON_Delete(o);
        cJSON_Delete(a);
        return NULL;
    }
    add_num(o, "window", window);
    add_num(o, "span", rounded(span, 1000));
    add_num(o, "task_ms", (double)w->ms);
    add_num(o, "in_flight", span > 0 ? rounded(spy_wall_in_flight(w->ms, span), 1000) : 0);
    for (uint32_t e = 0; e < w->nendpoints; e++) {
        const struct spy_wall_endpoint *ep = &w->endpoints[e];
        cJSON *r = cJSON_CreateObject();
        if (!r)
            break;
        if (ep->function) {
            cJSON_AddStringToObject(r, "endpoint", ep->function);
            cJSON_AddStringToObject(r, "file", ep->file);
        } else {
            cJSON_AddNullToObject(r, "endpoint");
            cJSON_AddNullToObject(r, "file");
        }
        add_num(r, "line", ep->line);
        add_num(r, "task_ms", (double)ep->ms);
        add_num(r, "in_flight", span > 0 ? rounded(spy_wall_in_flight(ep->ms, span), 1000) : 0);
        add_num(r, "running_pct", pct_of(ep->state_ms[SPY_VIEW_RUNNING], ep->ms));
        add_num(r, "ready_pct", pct_of(ep->state_ms[SPY_VIEW_READY], ep->ms));
        add_num(r, "waiting_pct", pct_of(ep->state_ms[SPY_VIEW_WAITING], ep->ms));
        cJSON_AddItemToObject(r, "awaiting", wall_fns(ep->awaiting, ep->nawaiting, ep->ms));
        cJSON_AddItemToObject(r, "on_cpu", wall_fns(ep->on_cpu, ep->non_cpu, ep->ms));
        cJSON_AddItemToArray(a, r);
    }
    cJSON_AddItemToObject(o, "endpoints", a);
    return finish(o);
}
