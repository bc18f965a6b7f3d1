/*
 * ws_client.c — spyctl's WebSocket client over libwebsockets, behind a
 * synchronous API: every call runs the lws service loop in the caller's
 * thread until what it waits for happens or its deadline passes.
 *
 * One lws context per connection (the context's user pointer is the
 * connection).  lws 4.1 ignores lws_service()'s timeout, so each wait
 * schedules a short timer (sul) that makes lws_service() return at least
 * every 50 ms; the deadline is checked between calls.  Received fragments
 * are gathered into one buffer and whole messages go to a FIFO; sends go
 * through a FIFO written one message per CLIENT_WRITEABLE, as lws wants.
 * lws logging is silenced: errors reach the caller as strings.
 * Single-threaded (spyctl's main thread only).
 */
#include "ws_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#define MAX_MESSAGE (64u << 20) /* a dump or top of a huge app, with room */
#define TICK_US 50000

struct msg {
    struct msg *next;
    size_t len;
    char data[];
};

struct spyctl_ws {
    struct lws_context *ctx;
    struct lws *wsi;
    lws_sorted_usec_list_t sul;
    bool established, closed;
    char why[200];
    char *rx;              /* the message being gathered */
    size_t rx_len, rx_cap;
    bool rx_too_big;
    struct msg *in_head, *in_tail;   /* received, whole */
    struct msg *out_head, *out_tail; /* to send */
};

static volatile sig_atomic_t *abort_flag;

void spyctl_ws_set_abort(volatile sig_atomic_t *flag)
{
    abort_flag = flag;
}

static bool aborted(void)
{
    return abort_flag && *abort_flag;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct msg *msg_new(const void *p, size_t n, size_t pre)
{
    struct msg *m = malloc(sizeof(*m) + pre + n + 1);
    if (!m)
        return NULL;
    m->next = NULL;
    m->len = n;
    memcpy(m->data + pre, p, n);
    m->data[pre + n] = '\0';
    return m;
}

static void queue_push(struct msg **head, struct msg **tail, struct msg *m)
{
    if (*tail)
        (*tail)->next = m;
    else
        *head = m;
    *tail = m;
}

static struct msg *queue_pop(struct msg **head, struct msg **tail)
{
    struct msg *m = *head;
    if (m) {
        *head = m->next;
        if (!*head)
            *tail = NULL;
    }
    return m;
}

static void on_receive(struct spyctl_ws *ws, struct lws *wsi, const void *in, size_t len)
{
    if (!ws->rx_too_big) {
        if (ws->rx_len + len > MAX_MESSAGE) {
            ws->rx_too_big = true;
        } else {
            if (ws->rx_len + len > ws->rx_cap) {
                size_t cap = ws->rx_cap ? ws->rx_cap : 65536;
                while (cap < ws->rx_len + len)
                    cap *= 2;
                char *p = realloc(ws->rx, cap);
                if (!p) {
                    ws->rx_too_big = true;
                    goto check_end;
                }
                ws->rx = p;
                ws->rx_cap = cap;
            }
            memcpy(ws->rx + ws->rx_len, in, len);
            ws->rx_len += len;
        }
    }
check_end:
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (!ws->rx_too_big) {
        struct msg *m = msg_new(ws->rx, ws->rx_len, 0);
        if (m)
            queue_push(&ws->in_head, &ws->in_tail, m);
    }
    ws->rx_len = 0;
    ws->rx_too_big = false;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    struct spyctl_ws *ws = lws_context_user(lws_get_context(wsi));
    if (!ws)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        ws->established = true;
        if (ws->out_head)
            lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(ws->why, sizeof(ws->why), "%.150s", in && len ? (const char *)in : "connection failed");
        if (in && !len)
            snprintf(ws->why, sizeof(ws->why), "%.150s", (const char *)in);
        ws->closed = true;
        ws->wsi = NULL;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(ws, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        struct msg *m = queue_pop(&ws->out_head, &ws->out_tail);
        if (!m)
            break;
        int n = lws_write(wsi, (unsigned char *)m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0) {
            snprintf(ws->why, sizeof(ws->why), "write failed");
            return -1;
        }
        if (ws->out_head)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *p = in;
            snprintf(ws->why, sizeof(ws->why), "the agent closed the connection (%d%s%.*s)", p[0] << 8 | p[1],
                     len > 2 ? ": " : "", (int)(len - 2 > 120 ? 120 : len - 2), (const char *)in + 2);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!ws->why[0])
            snprintf(ws->why, sizeof(ws->why), "the agent closed the connection");
        ws->closed = true;
        ws->wsi = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    { "spyctl", callback, 0, 65536, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void wake(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only there to make lws_service() return */
}

/* One turn of the service loop, returning within ~max_ms. */
static void service_once(struct spyctl_ws *ws, double max_ms)
{
    lws_usec_t us = max_ms < TICK_US / 1000.0 ? (lws_usec_t)(max_ms * 1000) : TICK_US;
    if (us < 1000)
        us = 1000;
    lws_sul_schedule(ws->ctx, 0, &ws->sul, wake, us);
    lws_service(ws->ctx, 0);
}

struct spyctl_ws *spyctl_ws_connect(const char *host, int port, const char *token, int timeout_ms, char *err,
                                    size_t errlen)
{
    struct spyctl_ws *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lws_set_log_level(0, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = ws;
    info.gid = -1;
    info.uid = -1;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        snprintf(err, errlen, "cannot create a libwebsockets context");
        free(ws);
        return NULL;
    }
    char path[400];
    if (token && *token) {
        int n = snprintf(path, sizeof(path), "/?token=%s", token);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            snprintf(err, errlen, "the token is too long");
            spyctl_ws_close(ws);
            return NULL;
        }
    } else {
        snprintf(path, sizeof(path), "/");
    }
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = ws->ctx;
    ci.address = host;
    ci.port = port;
    ci.path = path;
    ci.host = host;
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &ws->wsi;
    if (!lws_client_connect_via_info(&ci)) {
        snprintf(err, errlen, "cannot connect to ws://%.100s:%d/", host, port);
        spyctl_ws_close(ws);
        return NULL;
    }
    double deadline = now_ms() + timeout_ms;
    while (!ws->established && !ws->closed && !aborted() && now_ms() < deadline)
        service_once(ws, deadline - now_ms());
    if (!ws->established) {
        if (ws->closed)
            snprintf(err, errlen, "ws://%.100s:%d/: %.150s", host, port, ws->why);
        else
            snprintf(err, errlen, "ws://%.100s:%d/: no answer within %d ms", host, port, timeout_ms);
        spyctl_ws_close(ws);
        return NULL;
    }
    return ws;
}

int spyctl_ws_send(struct spyctl_ws *ws, const char *text, char *err, size_t errlen)
{
    if (ws->closed || !ws->wsi) {
        snprintf(err, errlen, "%.150s", ws->why[0] ? ws->why : "not connected");
        return -1;
    }
    struct msg *m = msg_new(text, strlen(text), LWS_PRE);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    queue_push(&ws->out_head, &ws->out_tail, m);
    lws_callback_on_writable(ws->wsi);
    double deadline = now_ms() + 5000;
    while (ws->out_head && !ws->closed && !aborted() && now_ms() < deadline)
        service_once(ws, deadline - now_ms());
    if (ws->out_head) {
        snprintf(err, errlen, "%.150s", ws->closed ? ws->why : "the agent does not read what it is sent");
        return -1;
    }
    return 0;
}

cJSON *spyctl_ws_recv(struct spyctl_ws *ws, int timeout_ms, char *err, size_t errlen)
{
    double deadline = now_ms() + timeout_ms;
    while (!ws->in_head && !ws->closed && !aborted() && now_ms() < deadline)
        service_once(ws, deadline - now_ms());
    struct msg *m = queue_pop(&ws->in_head, &ws->in_tail);
    if (!m) {
        snprintf(err, errlen, "%.150s", ws->closed ? ws->why : aborted() ? "interrupted" : "timeout");
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(m->data, m->len);
    free(m);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "the agent sent a message that is not a JSON object");
        return NULL;
    }
    return j;
}

cJSON *spyctl_ws_expect(struct spyctl_ws *ws, const char *type, int timeout_ms, char *err, size_t errlen)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0 || aborted()) {
            snprintf(err, errlen, "%s", left <= 0 ? "timeout" : "interrupted");
            return NULL;
        }
        cJSON *j = spyctl_ws_recv(ws, (int)left + 1, err, errlen);
        if (!j)
            return NULL;
        const char *t = spyctl_json_str(j, "type");
        bool push = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "live"));
        if (!push && (strcmp(t, type) == 0 || strcmp(t, "error") == 0))
            return j;
        cJSON_Delete(j);
    }
}

int spyctl_ws_closed(const struct spyctl_ws *ws)
{
    return ws->closed;
}

void spyctl_ws_close(struct spyctl_ws *ws)
{
    if (!ws)
        return;
    if (ws->ctx) {
        lws_sul_cancel(&ws->sul);
        lws_context_destroy(ws->ctx);
    }
    struct msg *m;
    while ((m = queue_pop(&ws->in_head, &ws->in_tail)))
        free(m);
    while ((m = queue_pop(&ws->out_head, &ws->out_tail)))
        free(m);
    free(ws->rx);
    free(ws);
}

const char *spyctl_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

double spyctl_json_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
