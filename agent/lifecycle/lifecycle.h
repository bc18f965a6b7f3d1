/* lifecycle.h — what the lifecycle's own files (spyagent.c, fork.c, boot.c)
 * share; nothing below the lifecycle includes this. */
#ifndef SPY_LIFECYCLE_H
#define SPY_LIFECYCLE_H

#include <stdbool.h>

/* Start the sampler thread; the caller holds spy_agent.life.  0 or -1. */
int spy_agent_spawn_sampler(void);
/* A worker whose root died takes over the port; 0 if it did.  Handed to
 * the worker link (spy_leaf_start), which calls it on the spy-leaf thread. */
int spy_agent_become_root(void);
/* True for multiprocessing's helper processes, which are not profiled. */
bool spy_is_helper_process(void);

#endif
