/* rundir.h — the per-user directory where running agents register and the
 * root process of a tree listens for its workers: the one place the agent
 * and spyctl agree on where it is and when it can be trusted. */
#ifndef SPY_RUNDIR_H
#define SPY_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

/* $XDG_RUNTIME_DIR/spyagent, or /tmp/spyagent-UID; created mode 0700 if
 * asked, and checked to be a directory of this user that no one else may
 * read or write.  0, or -1 with err filled. */
int spy_registry_dir(char *out, size_t cap, bool create, char *err, size_t errlen);

#endif
