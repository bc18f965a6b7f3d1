/*
 * live_top.c — `spyctl --pid N` (and after --wait/--start): a live top like
 * py-spy top, from the agent's `top` replies.
 *
 * spyctl pauses the agent's live pushes for its connection and asks
 * `top LIMIT [window 5] [idle] [pid N]` once per --interval, so narrowing
 * to one process and the window are in its hands.  Rows are sorted here
 * (own %, total %, own time, total time, name), so a sort key changes the
 * view at once.
 *
 * On a terminal: raw keys (termios), the alternate screen, the cursor
 * hidden; everything is put back on every way out — q, Ctrl+C/SIGTERM
 * (they only set spyctl_stop; the loop then returns and restores), the app
 * going away, errors — and by atexit as a last resort.  When stdout is not
 * a terminal: one plain-text snapshot per interval, for --duration seconds
 * if given, else until a signal or the agent goes away.
 * Single-threaded.
 */
#include "live.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum sort_key { SORT_OWN_PCT, SORT_TOTAL_PCT, SORT_OWN, SORT_TOTAL, SORT_NAME };
static const char *const sort_names[] = { "%Own", "%Total", "OwnTime", "TotalTime", "Function" };

struct row {
    const char *function, *file;
    long line, own, total, pid;
    double own_pct, total_pct;
};

static struct termios saved_tio;
static int term_raw;

static void term_restore(void)
{
    if (!term_raw)
        return;
    term_raw = 0;
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

static int term_enter(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return -1;
    struct termios t = saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0)
        return -1;
    static int registered;
    if (!registered++)
        atexit(term_restore);
    term_raw = 1;
    fputs("\033[?1049h\033[?25l", stdout);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum sort_key sort_by;

static int cmp_rows(const void *pa, const void *pb)
{
    const struct row *a = pa, *b = pb;
    double x = 0, y = 0;
    switch (sort_by) {
    case SORT_OWN_PCT: x = a->own_pct; y = b->own_pct; break;
    case SORT_TOTAL_PCT: x = a->total_pct; y = b->total_pct; break;
    case SORT_OWN: x = (double)a->own; y = (double)b->own; break;
    case SORT_TOTAL: x = (double)a->total; y = (double)b->total; break;
    case SORT_NAME: return strcmp(a->function, b->function);
    }
    if (x != y)
        return x < y ? 1 : -1;
    return strcmp(a->function, b->function);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Rows of a top reply, sorted; returns the count (rows owned by top). */
static int rows_of(const cJSON *top, struct row **out)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(top, "rows"), *r;
    int n = cJSON_GetArraySize(rows), i = 0;
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof(struct row));
    if (!*out)
        return 0;
    cJSON_ArrayForEach(r, rows)
    {
        if (i >= n)
            break;
        struct row *w = &(*out)[i++];
        w->function = spyctl_json_str(r, "function");
        w->file = spyctl_json_str(r, "file");
        w->line = (long)spyctl_json_num(r, "line", 0);
        w->own = (long)spyctl_json_num(r, "own", 0);
        w->total = (long)spyctl_json_num(r, "total", 0);
        w->own_pct = spyctl_json_num(r, "own_pct", 0);
        w->total_pct = spyctl_json_num(r, "total_pct", 0);
        w->pid = (long)spyctl_json_num(r, "pid", 0);
    }
    qsort(*out, (size_t)i, sizeof(struct row), cmp_rows);
    return i;
}

/* Prints a top reply: at most max_rows rows, each at most width columns. */
static void print_top(const struct spyctl_session *s, const cJSON *top, int max_rows, int width, bool tty,
                      bool paused, bool idle, int window)
{
    struct row *rows;
    int n = rows_of(top, &rows);
    double rate = spyctl_json_num(top, "effective_rate", spyctl_json_num(top, "rate", 100));
    if (rate <= 0)
        rate = 100;
    char when[32];
    time_t t = time(NULL);
    strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
    const char *cl = tty ? "\033[K" : "";
    printf("%s  pid %d%s  %s  Python %s  (%s%s)%s\n", when, s->pid,
           s->narrow ? "" : (s->agent_pid != s->pid ? " (whole app)" : ""), s->url,
           spyctl_json_str(s->hello, "python_version"), paused ? "paused, " : "",
           window ? "last 5 s" : "since start", cl);
    printf("Samples: %ld%s   Rate: %.0f Hz   Threads: %d   Sorted by %s%s\n",
           (long)spyctl_json_num(top, "samples", 0), idle ? " (idle included)" : "", rate,
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(top, "threads")), sort_names[sort_by], cl);
    if (tty)
        printf("Keys: 1-4 sort columns, n name, space pause, i idle, a window, q quit\033[K\n");
    printf("%s\n", cl);
    printf("%7s %7s %9s %9s  %s%s\n", "%Own", "%Total", "OwnTime", "TotalTime", "Function (file:line)", cl);
    for (int i = 0; i < n && i < max_rows; i++) {
        char line[2048];
        int k = snprintf(line, sizeof(line), "%6.1f%% %6.1f%% %8.2fs %8.2fs  %s (%s:%ld)", rows[i].own_pct,
                         rows[i].total_pct, rows[i].own / rate, rows[i].total / rate, rows[i].function,
                         base_name(rows[i].file), rows[i].line);
        if (k >= 0 && rows[i].pid && !s->narrow && s->agent_pid && (size_t)k < sizeof(line) - 24)
            snprintf(line + k, sizeof(line) - (size_t)k, " [pid %ld]", rows[i].pid);
        if (width > 0 && (int)strlen(line) > width)
            line[width] = '\0';
        printf("%s%s\n", line, cl);
    }
    if (tty)
        fputs("\033[J", stdout);
    free(rows);
}

int spyctl_top_run(struct spyctl_session *s, const struct spyctl_live_opts *o, bool (*alive)(void *), void *ctx)
{
    char err[300], cmd[120];
    bool tty = isatty(STDOUT_FILENO) && term_enter() == 0;
    bool paused = false, idle = false;
    int window = 5;
    cJSON *last = NULL;
    int rc = 0;
    sort_by = SORT_OWN_PCT;
    /* our own polls replace the agent's pushes */
    if (spyctl_ws_send(s->ws, "pause", err, sizeof(err)) == 0) {
        cJSON *r = spyctl_ws_expect(s->ws, "paused", 5000, err, sizeof(err));
        cJSON_Delete(r);
    }
    double end = o->duration ? now_s() + o->duration : 0, next = now_s();
    bool redraw = false;
    while (!spyctl_stop) {
        if (end && now_s() >= end)
            break;
        if (alive && !alive(ctx)) {
            term_restore();
            fprintf(stderr, "spyctl: process %d is gone\n", s->pid);
            break;
        }
        if (!paused && now_s() >= next) {
            int len = snprintf(cmd, sizeof(cmd), "top %d", o->limit);
            if (window)
                len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " window %d", window);
            if (idle)
                len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " idle");
            if (s->narrow)
                snprintf(cmd + len, sizeof(cmd) - (size_t)len, " pid %d", s->pid);
            cJSON *top = NULL;
            if (spyctl_ws_send(s->ws, cmd, err, sizeof(err)) == 0)
                top = spyctl_ws_expect(s->ws, "top", 10000, err, sizeof(err));
            if (!top) {
                if (spyctl_stop)
                    break;
                term_restore();
                fprintf(stderr, "spyctl: %s: %s\n", s->url, err);
                rc = 1;
                break;
            }
            if (strcmp(spyctl_json_str(top, "type"), "error") == 0) {
                term_restore();
                fprintf(stderr, "spyctl: the agent refused \"%s\": %s\n", cmd, spyctl_json_str(top, "message"));
                cJSON_Delete(top);
                rc = 1;
                break;
            }
            cJSON_Delete(last);
            last = top;
            redraw = true;
            next = now_s() + o->interval;
        }
        if (redraw && last) {
            if (tty) {
                struct winsize ws = { 0 };
                int rows = 24, cols = 80;
                if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
                    rows = ws.ws_row;
                    cols = ws.ws_col;
                }
                fputs("\033[H", stdout);
                print_top(s, last, rows - 7 > 1 ? rows - 7 : 1, cols, true, paused, idle, window);
            } else {
                print_top(s, last, o->limit < 25 ? o->limit : 25, 0, false, paused, idle, window);
                printf("\n");
            }
            fflush(stdout);
            redraw = false;
        }
        /* wait for a key (tty) or the next refresh */
        double wait = paused ? 0.2 : next - now_s();
        if (end && end - now_s() < wait)
            wait = end - now_s();
        if (wait < 0.01)
            wait = 0.01;
        if (wait > 0.2)
            wait = 0.2; /* the app's liveness is checked this often */
        if (tty) {
            struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
            if (poll(&p, 1, (int)(wait * 1000)) > 0) {
                char keys[16];
                ssize_t k = read(STDIN_FILENO, keys, sizeof(keys));
                for (ssize_t i = 0; i < k; i++) {
                    char c = keys[i];
                    if (c == 'q' || c == 'Q' || c == 3)
                        spyctl_stop = SIGINT;
                    else if (c >= '1' && c <= '4')
                        sort_by = (enum sort_key)(c - '1');
                    else if (c == 'n')
                        sort_by = SORT_NAME;
                    else if (c == ' ' || c == 'p')
                        paused = !paused;
                    else if (c == 'i')
                        idle = !idle, next = 0;
                    else if (c == 'a')
                        window = window ? 0 : 5, next = 0;
                    redraw = true;
                }
            }
        } else {
            struct timespec ts = { 0, (long)(wait * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    term_restore();
    cJSON_Delete(last);
    return rc;
}
