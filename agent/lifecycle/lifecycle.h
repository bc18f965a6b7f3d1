/* lifecycle.h — what the lifecycle's own files (spyagent.c, fork.c, boot.c)
 * share; nothing below the lifecycle includes this. */
#ifndef SPY_LIFECYCLE_H
#define SPY_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

/* Start the sampler thread; the caller holds spy_agent.life.  0 or -1. */
int spy_agent_spawn_sampler(void);
/* A worker whose root (dead_root) died takes over the port and removes
 * what the dead root left in the registry; 0 if it did.  Handed to the
 * worker link (spy_leaf_start), which calls it on the spy-leaf thread. */
int spy_agent_become_root(int dead_root);
/* Registered with spy_threads_on_host_gone: when the program has no thread
 * of its own left, the first caller stops the agent, so the process ends
 * as it would have without it; true for that caller. */
bool spy_agent_end_with_host(void);
/* pymodule.c: `spyagent` as a built-in module, before Py_Initialize. */
void spy_pymodule_register_builtin(void);
/* task_roots.c: capture the asyncio task roots now (a thread holding the
 * GIL, e.g. `import spyagent`); the sampler's per-tick poll that asks for
 * a capture on the main thread until the roots are found; a fork child
 * asks again. */
void spy_task_roots_capture_now(void);
void spy_task_roots_poll(uint64_t now_ns);
void spy_task_roots_after_fork_child(void);
/* True for multiprocessing's helper processes, which are not profiled. */
bool spy_is_helper_process(void);

#endif
