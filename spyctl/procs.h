/* procs.h — what /proc says about processes: Uvicorn/Gunicorn processes,
 * whether and where an agent serves a pid, who listens on a TCP port. */
#ifndef SPYCTL_PROCS_H
#define SPYCTL_PROCS_H

#include <stdbool.h>
#include <stddef.h>

/* Where the agent serving a process can be reached. */
struct spyctl_agent_ref {
    int pid;              /* the process asked about */
    int root_pid;         /* the agent's root (owns the port); 0 unknown */
    char role[16];        /* "root", "leaf", or "" when not known */
    char host[128];
    int port;
    bool token_required;
    const char *source;   /* "registry" or "environment" */
};

struct spyctl_proc {
    int pid, ppid;
    char cmdline[1024];
    bool matched;         /* Uvicorn/Gunicorn itself (else a descendant) */
    bool has_agent;
    struct spyctl_agent_ref agent;
};

bool spyctl_pid_alive(int pid);
/* The command line of pid, NUL bytes as spaces; 0 or -1 (no such process). */
int spyctl_proc_cmdline(int pid, char *out, size_t cap);
int spyctl_proc_ppid(int pid);
/* Every Uvicorn or Gunicorn process and its descendants, sorted by pid,
 * in *out (caller frees).  Returns the count. */
int spyctl_procs_scan(struct spyctl_proc **out);
/* Finds the agent that serves pid: its registry entry, else LD_PRELOAD /
 * the loaded agent and SPY_WS_HOST/SPY_WS_PORT in /proc/PID.  0 found;
 * -1: none (err says why: no such process, or no agent in it). */
int spyctl_agent_for_pid(int pid, struct spyctl_agent_ref *ref, char *err, size_t errlen);
/* The topmost process holding a listening TCP socket on port (the one
 * whose parent does not hold it too); 0 if none can be seen. */
int spyctl_pid_listening_on(int port);
/* True if a TCP connection to 127.0.0.1:port is accepted right now. */
bool spyctl_port_open(const char *host, int port);

#endif
