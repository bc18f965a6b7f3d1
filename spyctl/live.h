/* live.h — spyctl's live side: finding an app's agent, connecting, and the
 * actions (list, top, dump, record, wait, start) built on it. */
#ifndef SPYCTL_LIVE_H
#define SPYCTL_LIVE_H

#include <signal.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "ws_client.h"

/* Set by SIGINT/SIGTERM/SIGHUP while a live action runs; every wait checks it. */
extern volatile sig_atomic_t spyctl_stop;

/* A connection to the agent that serves one process. */
struct spyctl_session {
    struct spyctl_ws *ws;
    cJSON *hello;
    int pid;              /* the process asked about */
    int agent_pid;        /* hello.pid: the root, which owns the port */
    bool narrow;          /* commands take " pid N" (a leaf of a tree that can narrow) */
    char url[160];
};

/* Runs the live side; returns the exit status. */
int spyctl_live_main(const struct spyctl_live_opts *o);

/* live_top.c: the live top (terminal UI, or snapshots when stdout is not a
 * terminal).  alive(ctx) false ends it (the app went away).  Exit status. */
int spyctl_top_run(struct spyctl_session *s, const struct spyctl_live_opts *o, bool (*alive)(void *), void *ctx);

#endif
