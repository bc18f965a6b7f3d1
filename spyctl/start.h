/* start.h — starting the app under the agent, and stopping its whole tree. */
#ifndef SPYCTL_START_H
#define SPYCTL_START_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "args.h"

/* The libspyagent.so to preload: --agent/SPY_AGENT_LIB, else the one next
 * to spyctl's build directory.  0 with the absolute path, or -1 with err. */
int spyctl_agent_lib(const struct spyctl_live_opts *o, char *out, size_t cap, char *err, size_t errlen);
/* A new log file for the app's output: ${TMPDIR:-/tmp}/spyctl-app-PID.log,
 * created (mode 0600, never through a symlink), its path in out.  0, or -1
 * with err. */
int spyctl_app_log(char *out, size_t cap, char *err, size_t errlen);
/* Forks `PYTHON -m uvicorn APP --port PORT EXTRA...` with LD_PRELOAD=lib in a
 * new process group (spyctl becomes the subreaper of the tree), its
 * standard output and error appended to log (so the live top keeps its
 * screen) and its standard input /dev/null (so it takes no keys).  0 with
 * *pid, or -1 with err (also when exec fails). */
int spyctl_start_app(const struct spyctl_live_opts *o, const char *lib, const char *log, pid_t *pid, char *err,
                     size_t errlen);
/* The last lines of the app's log (at most max_lines, a few KiB) to stderr,
 * each indented. */
void spyctl_app_log_tail(const char *log, int max_lines);
/* Reaps what has exited; true while the app's first process runs. */
bool spyctl_app_running(pid_t pid);
/* Stops the tree: SIGTERM to the group and every descendant, up to
 * grace_ms for them to exit, then SIGKILL; reaps everything.  Returns the
 * number of processes that had to be killed. */
int spyctl_stop_tree(pid_t pid, int grace_ms);

#endif
