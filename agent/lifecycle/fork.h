/* fork.h — keeping the agent sound across fork(). */
#ifndef SPY_FORK_H
#define SPY_FORK_H

/* Register the pthread_atfork handlers (once). */
void spy_fork_install(void);

#endif
