/*
 * rundir.c — the per-user directory where running agents register
 * (serving/registry.c), where the root of a tree listens for its workers
 * (serving/leaves.c), and where spyctl looks for both.  Keeping the rule
 * in one place keeps the writer and the readers in step: a directory is
 * used only if it is a directory of this user with no group or other
 * access, so another user cannot plant entries or sockets in it.
 *
 * Threads: any; no state.
 */
#include "rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int spy_registry_dir(char *out, size_t cap, bool create, char *err, size_t errlen)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg && xdg[0] == '/' && access(xdg, W_OK) == 0)
        n = snprintf(out, cap, "%s/spyagent", xdg);
    else
        n = snprintf(out, cap, "/tmp/spyagent-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "the registry path is too long");
        return -1;
    }
    if (create && mkdir(out, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", out, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(out, &st) != 0) {
        snprintf(err, errlen, "cannot use %s: %s", out, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
        snprintf(err, errlen, "%s is not a private directory of this user; the agent will not register in it", out);
        return -1;
    }
    return 0;
}
