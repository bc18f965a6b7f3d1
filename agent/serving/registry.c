/*
 * registry.c — one small JSON file per running agent in a per-user
 * runtime directory:
 *
 *   $XDG_RUNTIME_DIR/spyagent/PID.json   (or /tmp/spyagent-UID/PID.json)
 *   {"pid":4242,"role":"root","root_pid":4242,"host":"127.0.0.1","port":7799,
 *    "command_line":"...","python_version":"3.11.2","token_required":false,
 *    "started":1796000000}
 *
 * Files are written to a temporary name and renamed, so a reader never
 * sees half of one; the directory is 0700 and must belong to us.  An entry
 * is removed at exit; one left by a killed process names a dead pid, and
 * readers (spyctl) ignore and remove it.  The token itself is never
 * written.  Threads: any; called at start and exit.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "procinfo.h"
#include "sink.h"

static char entry_path[1100];
static int entry_pid;

int spy_registry_announce(const char *role, int root_pid, const char *host, int port, bool token_required)
{
    char dir[1024], err[300];
    if (spy_registry_dir(dir, sizeof(dir), true, err, sizeof(err)) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", err);
        return -1;
    }
    char cmdline[1024], name[32];
    spy_proc_cmdline(cmdline, sizeof(cmdline));
    int pid = (int)getpid();
    snprintf(name, sizeof(name), "%d.json", pid);
    struct spy_sink s;
    if (spy_sink_file(&s, dir, name) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", s.error);
        return -1;
    }
    spy_sink_printf(&s, "{\"pid\":%d,\"role\":\"%s\",\"root_pid\":%d,\"host\":\"", pid, role, root_pid);
    spy_sink_json_str(&s, host);
    spy_sink_printf(&s, "\",\"port\":%d,\"command_line\":\"", port);
    spy_sink_json_str(&s, cmdline);
    spy_sink_puts(&s, "\",\"python_version\":\"");
    spy_sink_json_str(&s, spy_agent.py.version);
    spy_sink_printf(&s, "\",\"token_required\":%s,\"started\":%lld}\n", token_required ? "true" : "false",
                    (long long)time(NULL));
    if (spy_sink_close(&s) != 0) {
        spy_log(SPY_LOG_DEBUG, "%s", s.error);
        return -1;
    }
    if (snprintf(entry_path, sizeof(entry_path), "%s/%s", dir, name) >= (int)sizeof(entry_path))
        entry_path[0] = '\0';
    entry_pid = pid;
    return 0;
}

void spy_registry_withdraw(void)
{
    /* only the process that wrote the entry removes it (not a fork child) */
    if (entry_path[0] && entry_pid == (int)getpid())
        unlink(entry_path);
    entry_path[0] = '\0';
}
