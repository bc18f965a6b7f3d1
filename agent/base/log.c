/*
 * log.c — the agent's voice on stderr.
 *
 * Each message is one line, "spyagent: <text>\n", written with a single
 * write(2) so lines from several threads or processes never interleave, and
 * without stdio so nothing of ours sits in the host's stdout/stderr buffers
 * when it forks or exits.  Callable from any thread.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static volatile enum spy_log_level current = SPY_LOG_INFO;

void spy_log_set_level(enum spy_log_level level)
{
    current = level;
}

enum spy_log_level spy_log_get_level(void)
{
    return current;
}

void spy_log(enum spy_log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "spyagent: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
}
