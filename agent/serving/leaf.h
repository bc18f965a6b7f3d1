/* leaf.h — a worker's link to the root process of its tree. */
#ifndef SPY_LEAF_H
#define SPY_LEAF_H

/* Start the spy-leaf thread streaming to the socket of the root root_pid;
 * become_root is the lifecycle's takeover when that root is gone. */
int spy_leaf_start(const char *sock_path, int root_pid, int (*become_root)(int dead_root));
void spy_leaf_stop(void);
void spy_leaf_after_fork_child(void);

/* become_root (spy_leaf_start) is the lifecycle's takeover, called on the
 * thread when the root is gone for good; 0: this process serves the port. */
#endif
