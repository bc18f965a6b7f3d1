/* leaf.h — a worker's link to the root process of its tree. */
#ifndef SPY_LEAF_H
#define SPY_LEAF_H

/* Start the spy-leaf thread streaming to the root's socket. */
int spy_leaf_start(const char *sock_path);
void spy_leaf_stop(void);
void spy_leaf_after_fork_child(void);

#endif
