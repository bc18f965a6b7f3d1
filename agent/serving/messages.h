/* messages.h — the JSON objects the agent sends (docs/PROTOCOL.md), built
 * from the C API's results.  Each returns a malloc'd NUL-terminated string
 * (free() it), or NULL when out of memory. */
#ifndef SPY_MESSAGES_H
#define SPY_MESSAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"
#include "spyagent.h"

/* id: the JSON text of the command's "id" ("" for none). */
char *spy_msg_error(const char *code, const char *message, const char *id);
char *spy_msg_simple(const char *type, const char *id);
char *spy_msg_hello(const char *cmdline, int interval_ms, const char *data_dir, const char *id);
char *spy_msg_help(const char *id);
char *spy_msg_top(const struct spy_top_result *top, bool live, int limit, bool idle, const char *id);
char *spy_msg_status(int clients, uint64_t frames_dropped, bool recording, int rec_seconds, double rec_elapsed,
                     unsigned rec_formats, uint64_t rec_samples, const char *id);
char *spy_msg_dump(const struct spy_dump_result *dump, const char *id);
/* The `tasks` reply: this process's pending asyncio tasks (spy_tasks). */
char *spy_msg_tasks(const struct spy_tasks_result *r, int pid, const char *id);
char *spy_msg_rate(int rate, const char *id);
/* A text report: {"type":"report","format":"text","span":..,"text":..} */
char *spy_msg_report_text(const char *text, const char *span, int seconds, const char *id);
char *spy_msg_live(int limit, int window, bool idle, bool tasks, const char *id);
char *spy_msg_record_started(int seconds, unsigned formats, const char *id);
struct spy_wall;
/* The endpoints reply: the task view per endpoint over `span` seconds
 * (window: 0 = since start), wall.h's figures as shares. */
char *spy_msg_endpoints(const struct spy_wall *w, int window, double span, const char *id);
char *spy_msg_record_progress(double elapsed, int seconds, uint64_t samples);

struct spy_written {
    const char *format;
    const char *view;        /* NULL: the CPU view (no member); "tasks": the task view's file */
    int pid;                 /* 0: the merged file; else one process's */
    char path[1200];
    uint64_t bytes;
};
/* type: NULL for "record_done", or "report" for the report command. */
char *spy_msg_record_done(const char *type, const struct spy_written *files, int nfiles, uint64_t samples, double duration,
                          uint64_t unique_stacks, const char *error, const char *id);

#endif
