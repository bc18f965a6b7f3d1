/* leaf.h — a worker's link to the root process of its tree. */
#ifndef SPY_LEAF_H
#define SPY_LEAF_H

/* Start the spy-leaf thread streaming to the root's socket. */
int spy_leaf_start(const char *sock_path, int (*become_root)(void));
void spy_leaf_stop(void);
void spy_leaf_after_fork_child(void);

/* become_root (spy_leaf_start) is the lifecycle's takeover, called on the
 * thread when the root is gone for good; 0: this process serves the port. */
#endif
