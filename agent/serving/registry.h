/* registry.h — where running agents announce themselves, per user, so that
 * spyctl --list and --pid can find them. */
#ifndef SPY_REGISTRY_H
#define SPY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "rundir.h"            /* spy_registry_dir: where the entries go */

/* Write this process's entry, PID.json (atomically): role "root" or
 * "leaf", the WebSocket host and port that serve it (the root's for a
 * leaf), whether a token is needed (never the token).  Any thread. */
int spy_registry_announce(const char *role, int root_pid, const char *host, int port, bool token_required);
/* Remove this process's entry (at exit). */
void spy_registry_withdraw(void);

#endif
