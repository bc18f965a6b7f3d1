/*
 * procinfo.c — reads /proc/self/cmdline once per call: the command line for
 * hello messages and a short program name for recording file names; and
 * whether this process is a worker of a tree whose root runs the agent.
 * Threads: any; no state.
 */
#include "procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t read_cmdline(char *buf, size_t cap)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

void spy_proc_cmdline(char *out, size_t cap)
{
    char buf[4096];
    size_t n = read_cmdline(buf, sizeof(buf));
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = buf[i] == '\0' ? ' ' : buf[i];
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void spy_proc_program(char *out, size_t cap)
{
    char buf[4096];
    size_t n = read_cmdline(buf, sizeof(buf));
    const char *args[32];
    int na = 0;
    for (size_t i = 0; i < n && na < 32; i += strlen(buf + i) + 1)
        args[na++] = buf + i;
    const char *pick = na > 0 ? base(args[0]) : "python";
    if (strncmp(pick, "python", 6) == 0) {
        /* the module after -m, or the first argument that is not an option */
        for (int i = 1; i < na; i++) {
            if (strcmp(args[i], "-m") == 0 && i + 1 < na) {
                pick = args[i + 1];
                break;
            }
            if (strcmp(args[i], "-c") == 0) {
                pick = "python-c";
                break;
            }
            if (args[i][0] != '-') {
                pick = base(args[i]);
                break;
            }
        }
    }
    size_t k = 0;
    for (size_t i = 0; pick[i] && k + 1 < cap && k < 40; i++) {
        char c = pick[i];
        if (c == '.' && strcmp(pick + i, ".py") == 0)
            break;
        out[k++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
                    || c == '-') ? c : '_';
    }
    out[k] = '\0';
    if (k == 0)
        snprintf(out, cap, "python");
}

bool spy_pid_alive(int pid)
{
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return false;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;            /* no /proc: trust kill() */
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');   /* the name may hold spaces */
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}
