/* ws_client.h — a synchronous WebSocket client for spyctl: connect with a
 * timeout, send one text command, receive the next JSON message with a
 * timeout.  One connection per object; single-threaded. */
#ifndef SPYCTL_WS_CLIENT_H
#define SPYCTL_WS_CLIENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include <signal.h>

struct spyctl_ws;

/* Every wait below ends early (err "interrupted") once *flag is nonzero. */
void spyctl_ws_set_abort(volatile sig_atomic_t *flag);

/* Connects to ws://host:port/ (token: sent as ?token=..., or NULL) within
 * timeout_ms.  NULL with a one-line reason in err. */
struct spyctl_ws *spyctl_ws_connect(const char *host, int port, const char *token, int timeout_ms, char *err,
                                    size_t errlen);
/* Queues a text message and waits (at most 5 s) until it is written.
 * 0, or -1 with err. */
int spyctl_ws_send(struct spyctl_ws *ws, const char *text, char *err, size_t errlen);
/* The next message as a JSON object (caller frees with cJSON_Delete), or
 * NULL on timeout (err "timeout"), a closed connection or a non-JSON
 * message (err says which). */
cJSON *spyctl_ws_recv(struct spyctl_ws *ws, int timeout_ms, char *err, size_t errlen);
/* Reads until a message whose "type" is `type` or "error" arrives; live
 * pushes and other messages are dropped.  NULL as spyctl_ws_recv. */
cJSON *spyctl_ws_expect(struct spyctl_ws *ws, const char *type, int timeout_ms, char *err, size_t errlen);
/* Nonzero once the server closed the connection or it failed. */
int spyctl_ws_closed(const struct spyctl_ws *ws);
void spyctl_ws_close(struct spyctl_ws *ws);

/* JSON helpers: a member's string ("" if absent), number (dflt if absent). */
const char *spyctl_json_str(const cJSON *o, const char *key);
double spyctl_json_num(const cJSON *o, const char *key, double dflt);

#endif
