/* procinfo.h — facts about this process for messages and file names. */
#ifndef SPY_PROCINFO_H
#define SPY_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>

/* The command line, arguments joined by spaces (shortened to cap). */
void spy_proc_cmdline(char *out, size_t cap);
/* A short program name for file names: the script or module a Python
 * interpreter runs ("uvicorn", "main"), else the executable's basename;
 * only [A-Za-z0-9._-]. */
void spy_proc_program(char *out, size_t cap);

/* Whether pid names a running process (not gone, not a zombie waiting
 * for its parent to reap it). */
bool spy_pid_alive(int pid);

#endif
