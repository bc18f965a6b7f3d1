/*
 * leaf.c — the spy-leaf thread of a worker process: it streams what this
 * process's sampler counted to the root process of the tree, which owns
 * the WebSocket port and shows the app as a whole.
 *
 * The link is a Unix stream socket in the per-user registry directory
 * (0700), named by the root in SPY_ROOT_SOCK.  Once a second the leaf sends
 * the seconds its store completed since the last send, as tab-separated
 * lines; names, frames and stacks are sent once and referred to by the
 * leaf's own ids afterwards:
 *
 *   P <pid> <command line>                       who we are (first line)
 *   T <slot> <tid> <thread name>                 a thread (again if renamed)
 *   F <frame> <first line> <line> <function> <file>
 *   K <stack> <frame>,<frame>,...                innermost first
 *   C <slot> <flags> <stack> <count>             samples of one second
 *
 * and it answers the root's requests: "dump" with "D <dump JSON>", "tasks"
 * with "A <tasks JSON>" (its asyncio tasks, as many as fit in one line the
 * root accepts; the reply's "omitted" counts the others).
 * If the root goes away the leaf keeps sampling and tries to reconnect.
 *
 * Threads: the spy-leaf thread only; it reads the store under its lock or
 * through append-only interned entries.
 */
#include "leaf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "registry.h"
#include "log.h"
#include "threads.h"
#include "messages.h"
#include "procinfo.h"

static struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int wake[2];               /* spy_leaf_stop() writes here to cut waits short */
    char path[108];
    int root_pid;              /* the root we stream to */
    int (*become_root)(int);   /* the lifecycle's takeover when the root is gone */
} leaf = { .wake = { -1, -1 } };

/* Wait up to ms for fd to be readable (fd < 0: just wait); false if we
 * must stop. */
static bool wait_for(int fd, int ms, bool *readable)
{
    struct pollfd p[2] = { { leaf.wake[0], POLLIN, 0 }, { fd, POLLIN, 0 } };
    *readable = false;
    int rc = poll(p, fd >= 0 ? 2 : 1, ms);
    if (atomic_load(&leaf.stop) || (rc > 0 && p[0].revents))
        return false;
    *readable = rc > 0 && fd >= 0 && p[1].revents;
    return true;
}

struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = o->cap - o->len;
        int n = o->buf ? vsnprintf(o->buf + o->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 65536;
        while (n >= 0 && cap - o->len <= (size_t)n)
            cap *= 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->failed = true;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

/* Names travel inside tab-separated lines. */
static void clean(char *s)
{
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r')
            *s = ' ';
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct sent {
    struct spy_counts frames, stacks;   /* id + 1 -> 1 */
    char (*names)[64];                  /* per slot: the name last sent */
    bool *slot_sent;
};

static void send_frame(struct out *o, struct sent *st, uint32_t fid)
{
    struct spy_store *s = &spy_agent.store;
    if (spy_counts_get(&st->frames, (uint64_t)fid + 1))
        return;
    uint32_t len, nlen, flen;
    const struct spy_frame_key *fk = spy_intern_bytes(&s->frames, fid, &len);
    const struct spy_func_key *fn = spy_intern_bytes(&s->funcs, fk->func, &len);
    const char *name = spy_intern_bytes(&s->strings, fn->name, &nlen);
    const char *file = spy_intern_bytes(&s->strings, fn->file, &flen);
    char a[SPY_MAX_STR], b[SPY_MAX_STR];
    snprintf(a, sizeof(a), "%.*s", (int)nlen, name);
    snprintf(b, sizeof(b), "%.*s", (int)flen, file);
    clean(a);
    clean(b);
    put(o, "F\t%u\t%d\t%d\t%s\t%s\n", fid, fn->firstlineno, fk->line, a, b);
    if (spy_counts_add(&st->frames, (uint64_t)fid + 1, 1) != 0)
        spy_counts_maintain(&st->frames);
}

static void send_stack(struct out *o, struct sent *st, uint32_t sid)
{
    struct spy_store *s = &spy_agent.store;
    if (spy_counts_get(&st->stacks, (uint64_t)sid + 1))
        return;
    uint32_t len;
    const uint32_t *ids = spy_intern_bytes(&s->stacks, sid, &len);
    uint32_t depth = len / (uint32_t)sizeof(uint32_t);
    for (uint32_t d = 0; d < depth; d++)
        send_frame(o, st, ids[d]);
    put(o, "K\t%u\t", sid);
    for (uint32_t d = 0; d < depth; d++)
        put(o, d ? ",%u" : "%u", ids[d]);
    put(o, "\n");
    if (spy_counts_add(&st->stacks, (uint64_t)sid + 1, 1) != 0)
        spy_counts_maintain(&st->stacks);
}

/* Everything counted in the seconds completed since *last. */
static void build_batch(struct out *o, struct sent *st, int64_t *last)
{
    struct spy_store *s = &spy_agent.store;
    size_t n = 0;
    int64_t newest;
    struct spy_count *items = spy_store_seconds_after(s, *last, &n, &newest);
    if (!items)
        return;
    struct spy_thread_slot sl;
    for (size_t i = 0; i < n; i++) {
        int slot = spy_key_slot(items[i].key);
        if (slot < 0 || slot >= SPY_MAX_SLOTS)
            continue;
        pthread_mutex_lock(&s->lock);
        sl = s->slots[slot];
        pthread_mutex_unlock(&s->lock);
        if (!st->slot_sent[slot] || strncmp(st->names[slot], sl.name, 64) != 0) {
            char name[64];
            memcpy(name, sl.name, sizeof(name));
            name[63] = '\0';
            clean(name);
            put(o, "T\t%d\t%d\t%s\n", slot, sl.tid, name);
            memcpy(st->names[slot], sl.name, 64);
            st->slot_sent[slot] = true;
        }
        send_stack(o, st, spy_key_stack(items[i].key));
        put(o, "C\t%d\t%u\t%u\t%llu\n", slot, spy_key_flags(items[i].key), spy_key_stack(items[i].key),
            (unsigned long long)items[i].count);
    }
    free(items);
    *last = newest;
}

/* The root serving our port for our tree, from the registry: its pid and
 * socket path (after a takeover the root is another worker of the tree). */
static int find_root(char *path, size_t cap)
{
    return spy_registry_find_root(spy_agent.cfg.ws_port, spy_tree_pid(), path, cap);
}

/* The root is gone: take over the port, or find who did.  True when this
 * process is the root now (the leaf thread then ends). */
static bool after_root_loss(void)
{
    if (spy_pid_alive(leaf.root_pid))
        return false;                   /* still there: just reconnect */
    char path[108];
    int pid = find_root(path, sizeof(path));
    if (pid > 0) {
        leaf.root_pid = pid;
        snprintf(leaf.path, sizeof(leaf.path), "%s", path);
        return false;
    }
    /* spread the siblings out a little so one of them wins cleanly */
    usleep((useconds_t)(getpid() % 8) * 40000);
    if (find_root(path, sizeof(path)) > 0)
        return false;
    return leaf.become_root && leaf.become_root(leaf.root_pid) == 0;
}

static int connect_root(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, leaf.path, sizeof(sa.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Answer the root's requests that arrived on fd; -1 when it went away. */
/* This process's tasks as one line the root accepts (leaves.c reads lines
 * of up to 64 KiB): fewer tasks until the JSON fits. */
#define TASKS_LINE_MAX (60 * 1024)

static char *tasks_json(void)
{
    struct spy_tasks_result tr;
    if (spy_tasks(&tr, SPY_TASKS_REPLY_CAP) != 0)
        return NULL;
    int all = tr.ntasks, omitted = tr.omitted;
    char *json = spy_msg_tasks(&tr, (int)getpid(), "");
    /* too long for one line: the first `keep` tasks, the others counted */
    for (int tries = 0; json && strlen(json) > TASKS_LINE_MAX && tr.ntasks > 0 && tries < 16; tries++) {
        int keep = (int)((double)tr.ntasks * TASKS_LINE_MAX / (double)strlen(json) * 0.9);
        if (keep >= tr.ntasks)
            keep = tr.ntasks - 1;
        if (keep < 0)
            keep = 0;
        tr.ntasks = keep;
        tr.omitted = omitted + (all - keep);
        free(json);
        json = spy_msg_tasks(&tr, (int)getpid(), "");
    }
    tr.ntasks = all;            /* every task read is freed */
    spy_tasks_result_free(&tr);
    if (json && strlen(json) > TASKS_LINE_MAX) {
        free(json);
        json = NULL;
    }
    return json;
}

static int serve_requests(int fd, char *in, size_t *inlen, size_t cap)
{
    ssize_t r = recv(fd, in + *inlen, cap - *inlen - 1, MSG_DONTWAIT);
    if (r == 0)
        return -1;
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    *inlen += (size_t)r;
    in[*inlen] = '\0';
    char *nl;
    while ((nl = memchr(in, '\n', *inlen)) != NULL) {
        *nl = '\0';
        if (strcmp(in, "tasks") == 0) {
            struct out o = { 0 };
            char *json = tasks_json();
            put(&o, "A\t%s\n", json ? json : "{\"type\":\"tasks\",\"tasks\":[]}");
            free(json);
            int rc = o.failed ? -1 : send_all(fd, o.buf, o.len);
            free(o.buf);
            if (rc != 0)
                return -1;
        }
        if (strcmp(in, "dump") == 0) {
            struct spy_dump_result d;
            char *json = NULL;
            if (spy_dump(&d) == 0) {
                json = spy_msg_dump(&d, "");
                spy_dump_result_free(&d);
            }
            struct out o = { 0 };
            put(&o, "D\t%s\n", json ? json : "{\"type\":\"dump\",\"threads\":[]}");
            free(json);
            int rc = o.failed ? -1 : send_all(fd, o.buf, o.len);
            free(o.buf);
            if (rc != 0)
                return -1;
        }
        size_t used = (size_t)(nl - in) + 1;
        memmove(in, nl + 1, *inlen - used);
        *inlen -= used;
    }
    if (*inlen >= cap - 1)
        *inlen = 0;             /* a request too long to be ours: drop it */
    return 0;
}

static void *leaf_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spy-leaf");
    struct sent st = { 0 };
    st.names = calloc(SPY_MAX_SLOTS, sizeof(*st.names));
    st.slot_sent = calloc(SPY_MAX_SLOTS, sizeof(*st.slot_sent));
    if (!st.names || !st.slot_sent || spy_counts_init(&st.frames, 4096) != 0
        || spy_counts_init(&st.stacks, 4096) != 0)
        goto out;
    int64_t last = (int64_t)(spy_now_ns() / 1000000000ULL) - 1;
    char in[4096];
    size_t inlen = 0;
    int fd = -1;
    while (!atomic_load(&leaf.stop)) {
        if (spy_threads_end_with_host())
            break;
        if (fd < 0) {
            fd = connect_root();
            if (fd < 0) {
                if (after_root_loss())
                    break;              /* we serve the tree now */
                bool unused;
                if (!wait_for(-1, 1000, &unused))
                    break;
                continue;
            }
            /* a new link: the root knows nothing of ours yet */
            spy_counts_clear(&st.frames);
            spy_counts_clear(&st.stacks);
            memset(st.slot_sent, 0, SPY_MAX_SLOTS * sizeof(*st.slot_sent));
            inlen = 0;
            char cmdline[512];
            spy_proc_cmdline(cmdline, sizeof(cmdline));
            clean(cmdline);
            struct out o = { 0 };
            put(&o, "P\t%d\t%s\n", (int)getpid(), cmdline);
            if (o.failed || send_all(fd, o.buf, o.len) != 0) {
                close(fd);
                fd = -1;
            }
            free(o.buf);
            continue;
        }
        uint64_t next = spy_now_ns() + 1000000000ULL;
        bool go_on = true;
        while (go_on && spy_now_ns() < next) {
            bool readable;
            int ms = (int)((next - spy_now_ns()) / 1000000ULL) + 1;
            go_on = wait_for(fd, ms, &readable);
            if (go_on && readable && serve_requests(fd, in, &inlen, sizeof(in)) != 0) {
                close(fd);
                fd = -1;
                break;
            }
        }
        if (!go_on)
            break;
        if (fd < 0)
            continue;
        struct out o = { 0 };
        build_batch(&o, &st, &last);
        if (o.len > 0 && (o.failed || send_all(fd, o.buf, o.len) != 0)) {
            close(fd);
            fd = -1;
        }
        free(o.buf);
    }
    if (fd >= 0)
        close(fd);
out:
    free(st.names);
    free(st.slot_sent);
    spy_counts_free(&st.frames);
    spy_counts_free(&st.stacks);
    return NULL;
}

int spy_leaf_start(const char *sock_path, int root_pid, int (*become_root)(int dead_root))
{
    if (leaf.started)
        return 0;
    if (strlen(sock_path) >= sizeof(leaf.path))
        return -1;
    snprintf(leaf.path, sizeof(leaf.path), "%s", sock_path);
    leaf.become_root = become_root;
    leaf.root_pid = root_pid;
    atomic_store(&leaf.stop, false);
    if (leaf.wake[0] < 0 && pipe2(leaf.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    int rc = spy_thread_start(&leaf.thread, leaf_main, NULL);
    leaf.started = rc == 0;
    return rc == 0 ? 0 : -1;
}

void spy_leaf_stop(void)
{
    if (!leaf.started)
        return;
    atomic_store(&leaf.stop, true);
    ssize_t w = write(leaf.wake[1], "x", 1);
    (void)w;
    if (pthread_equal(leaf.thread, pthread_self()))
        pthread_detach(leaf.thread);    /* stopping from itself: it ends on return */
    else
        pthread_join(leaf.thread, NULL);
    leaf.started = false;
}

void spy_leaf_after_fork_child(void)
{
    leaf.started = false;       /* the thread stayed in the parent */
    if (leaf.wake[0] >= 0) {    /* and the pipe is shared with it */
        close(leaf.wake[0]);
        close(leaf.wake[1]);
        leaf.wake[0] = leaf.wake[1] = -1;
    }
}
