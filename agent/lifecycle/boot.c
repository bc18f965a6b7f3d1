/*
 * boot.c — how the agent enters a process: the shared object's constructor
 * (LD_PRELOAD, or the dlopen that `import spyagent` does) and destructor.
 *
 * In a process that is not CPython it does nothing and says nothing.  In a
 * CPython not yet initialised it makes `spyagent` a built-in module (so
 * `import spyagent` finds the agent already loaded, without PYTHONPATH),
 * and it starts the agent from the SPY_* environment; the sampler
 * thread itself waits until the interpreter is initialised.  A bad setting
 * or an unsupported version is said once on stderr and the agent stays off.
 *
 * Threads: the constructor runs on the loading thread, before main() under
 * LD_PRELOAD; the destructor at exit().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "fork.h"
#include "leaves.h"
#include "lifecycle.h"
#include "log.h"
#include "procinfo.h"
#include "registry.h"
#include "spyagent.h"

__attribute__((constructor)) static void spy_boot(void)
{
    struct spy_python probe;
    if (!spy_python_find(&probe))
        return;                         /* not Python: stay silent */
    spy_pymodule_register_builtin();    /* whatever the settings: the module is there */
    spy_fork_install();
    /* Mark this process as the root of its tree for the Pythons it starts
     * (they inherit the environment and leave the port to us).  This runs
     * before main() under LD_PRELOAD, while no other thread can read the
     * environment. */
    if (!spy_is_descendant()) {
        char pid[24], sock[108];
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("SPY_ROOT_PID", pid, 1);
        if (spy_leaves_socket_path(sock, sizeof(sock)) == 0)
            setenv("SPY_ROOT_SOCK", sock, 1);
    }
    char err[512] = "";
    int rc = spy_start(NULL, NULL, 0, err, sizeof(err));
    if (rc == -1)
        spy_log(SPY_LOG_ERROR, "%s", err);
}

__attribute__((destructor)) static void spy_shutdown(void)
{
    spy_stop();
}
