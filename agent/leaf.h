/* leaf.h — a worker's link to the root process of its tree. */
#ifndef SPY_LEAF_H
#define SPY_LEAF_H

/* Start the spy-leaf thread streaming to the socket of the root root_pid. */
int spy_leaf_start(const char *sock_path, int root_pid);
void spy_leaf_stop(void);
void spy_leaf_after_fork_child(void);

#endif
