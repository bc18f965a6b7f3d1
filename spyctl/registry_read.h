/* registry_read.h — reading the agents' per-user registry (PID.json files
 * written by agent/serving/registry.c), ignoring and removing stale entries. */
#ifndef SPYCTL_REGISTRY_READ_H
#define SPYCTL_REGISTRY_READ_H

#include <stdbool.h>
#include <stddef.h>

struct spyctl_reg_entry {
    int pid, root_pid, port;
    char role[16];            /* "root" or "leaf" */
    char host[128];
    char command_line[512];
    char python_version[32];
    bool token_required;
};

/* The entry of pid if it is registered and alive: 0, else -1.  A stale
 * entry (dead pid) is removed. */
int spyctl_registry_find(int pid, struct spyctl_reg_entry *e);
/* Every live entry, in *out (caller frees); stale ones are removed.
 * Returns the count (0 when there is no registry). */
int spyctl_registry_list(struct spyctl_reg_entry **out);

#endif
