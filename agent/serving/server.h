/* server.h — the WebSocket server thread (spy-server). */
#ifndef SPY_SERVER_H
#define SPY_SERVER_H

#include <stdbool.h>

#include "config.h"

/* Start listening on cfg->ws_host:ws_port.  On failure says so once on
 * stderr and returns -1; the agent keeps sampling without it. */
int spy_server_start(const struct spy_config *cfg);
/* The same, saying nothing when the port is taken (a worker trying to take
 * over from a root that died, racing its siblings). */
int spy_server_start_quiet(const struct spy_config *cfg, bool quiet);
/* Stop the thread, write a recording in progress, close every client. */
void spy_server_stop(void);
/* In a fork child: forget the parent's server without calling lws. */
void spy_server_after_fork_child(void);
int spy_server_clients(void);

#endif
