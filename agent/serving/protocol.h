/* protocol.h — commands from clients and the JSON messages of the
 * WebSocket protocol (docs/PROTOCOL.md).  Knows nothing of libwebsockets. */
#ifndef SPY_PROTOCOL_H
#define SPY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

enum spy_cmd_kind {
    SPY_CMD_HELP, SPY_CMD_STATUS, SPY_CMD_TOP, SPY_CMD_LIVE, SPY_CMD_PAUSE, SPY_CMD_RESUME,
    SPY_CMD_DUMP, SPY_CMD_RECORD, SPY_CMD_RECORD_STOP, SPY_CMD_RECORD_LAST, SPY_CMD_RATE,
    SPY_CMD_RESET, SPY_CMD_AUTH, SPY_CMD_FLAME, SPY_CMD_REPORT,
    SPY_CMD_TASKS,
    SPY_CMD_ENDPOINTS,          /* endpoints [window S]: the task view per endpoint */
};

#define SPY_FMT_SVG 1u
#define SPY_FMT_COLLAPSED 2u
#define SPY_FMT_SPEEDSCOPE 4u
#define SPY_FMT_PPROF 8u
#define SPY_FMT_REPORT_HTML 16u     /* not a record format: the report command */

struct spy_cmd {
    enum spy_cmd_kind kind;
    int limit;              /* 0 = not given */
    int window;             /* seconds; 0 = not given / since start */
    bool window_given, window_all;
    bool idle, idle_given;
    int seconds;            /* record S, record last S */
    unsigned formats;       /* SPY_FMT_*; 0 = not given */
    int hz;
    int tid;                /* thread N: one thread's samples; 0 = all */
    bool tid_given;
    int pid;                /* pid N: one process of the tree; 0 = all */
    bool tasks, tasks_given;    /* top/flame/live: the task wall-time view ("tasks"), or CPU ("cpu") */
    bool html;              /* report html */
    char token[260];
    char id[160];           /* the JSON text of "id", echoed; "" if none */
};

struct spy_cmd_error {
    const char *code;       /* unknown_command, bad_argument, ... */
    char message[320];
    char id[160];
};

/* Parse one client message (plain text or a JSON object).  history bounds
 * windows.  0 on success, -1 with err filled. */
int spy_protocol_parse(const char *msg, size_t len, int history, struct spy_cmd *cmd, struct spy_cmd_error *err);

/* Whether a text message is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool spy_utf8_valid(const char *s, size_t len);

/* Names and one-line usages of every command, for help and hello. */
struct spy_cmd_help {
    const char *name, *usage, *description;
};
extern const struct spy_cmd_help spy_cmd_help[];

/* The text of formats as a JSON array body: "svg","collapsed". */
void spy_formats_text(unsigned formats, char *out, size_t cap);

#endif
