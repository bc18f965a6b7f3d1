/* registry.h — where running agents announce themselves, per user, so that
 * spyctl --list and --pid can find them. */
#ifndef SPY_REGISTRY_H
#define SPY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "rundir.h"            /* spy_registry_dir: where the entries go */

/* Write this process's entry, PID.json (atomically): role "root" or
 * "leaf", the WebSocket host and port that serve it (the root's for a
 * leaf), the tree (SPY_ROOT_PID: the process that started it, which a
 * root that took over the port is not), whether a token is needed (never
 * the token).  Any thread. */
int spy_registry_announce(const char *role, int root_pid, const char *host, int port, bool token_required);
/* Remove this process's entry (at exit). */
void spy_registry_withdraw(void);

/* The live root (not this process) that serves `port` for the tree started
 * by `tree` (any tree if tree <= 0): its pid, and the path of the socket its
 * workers stream to in sock; -1 if there is none. */
int spy_registry_find_root(int port, int tree, char *sock, size_t cap);
/* Remove the entry and the workers' socket that a root killed without
 * cleaning up left behind (only if pid is really gone). */
void spy_registry_remove_dead(int pid);
/* The pid that started this process's tree (SPY_ROOT_PID), else our own. */
int spy_tree_pid(void);
/* The root this process streams to as a worker, and the path of its socket
 * (sock may be NULL): the live process SPY_ROOT_PID names (with
 * SPY_ROOT_SOCK), or, when that one is dead, the live root that took over
 * its tree's port (from the registry).  0 when this process is a root. */
int spy_find_root(char *sock, size_t cap);
/* True when spy_find_root finds a root: an ancestor, or the process that
 * took its place, runs the agent and owns the WebSocket port. */
bool spy_is_descendant(void);

#endif
