/* leaves.h — the root's side of the worker links: it counts what every
 * worker of the tree streams into its own store. */
#ifndef SPY_LEAVES_H
#define SPY_LEAVES_H

#include <stdbool.h>
#include <stdint.h>

struct spy_process {
    int pid;
    char command_line[256];
    bool alive;
    uint64_t samples;
};

int spy_leaves_start(const char *sock_path);
void spy_leaves_stop(void);
void spy_leaves_after_fork_child(void);
/* The workers seen so far (gone ones included); returns how many. */
int spy_leaves_list(struct spy_process *out, int cap);
/* A worker's dump message (malloc'd JSON), or NULL if it did not answer
 * within timeout_ms.  Called on the server thread. */
char *spy_leaves_dump(int pid, int timeout_ms);
/* A worker's tasks message (malloc'd JSON), or NULL if it did not answer
 * in time. */
char *spy_leaves_tasks(int pid, int timeout_ms);
/* The socket path a root process uses, for SPY_ROOT_SOCK. */
int spy_leaves_socket_path(char *out, unsigned cap);

#endif
