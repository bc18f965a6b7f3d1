/*
 * leaves.c — the spy-leaves thread of the root process: it accepts the
 * links of the worker processes of the tree (leaf.c) on a Unix socket in
 * the per-user registry directory and counts what they stream into the
 * root's own stack store, under thread slots marked with the worker's pid.
 * So top, flame, record and report cover the whole app, and can be
 * narrowed to one process.
 *
 * Each worker's ids (frames, stacks, thread slots) are translated to the
 * root's through per-worker maps.  Workers that exit are kept in the list
 * as gone, with their data.  The requests the root sends a worker are
 * "dump" and "tasks" (its threads and asyncio tasks can only be read from
 * inside it); the server thread waits for the answer with a timeout.
 *
 * Threads: the spy-leaves thread owns the sockets and the maps; the
 * server thread calls spy_leaves_list, spy_leaves_dump and spy_leaves_tasks, which take
 * `lock`.  Store updates happen under the store lock.
 */
#include "leaves.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "threads.h"
#include "registry.h"

#define MAX_LEAVES 64
#define LINE_MAX_LEN (64 * 1024)

struct leaf_conn {
    int fd;                       /* -1 once gone */
    struct spy_process info;
    char *buf;
    size_t len;
    struct spy_counts frames, stacks, slots;   /* leaf id + 1 -> root id + 1 */
    char *dump;                   /* the answer to a dump request */
    bool dump_wanted;
    char *tasks;                  /* the answer to a tasks request */
    bool tasks_wanted;
};

static struct {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int listen_fd;
    int wake[2];
    char path[108];
    pthread_mutex_t lock;
    pthread_cond_t answered;
    struct leaf_conn leaves[MAX_LEAVES];
    int nleaves;
} lv = { .listen_fd = -1, .wake = { -1, -1 }, .lock = PTHREAD_MUTEX_INITIALIZER,
         .answered = PTHREAD_COND_INITIALIZER };

int spy_leaves_socket_path(char *out, unsigned cap)
{
    char dir[1024], err[300];
    if (spy_registry_dir(dir, sizeof(dir), true, err, sizeof(err)) != 0)
        return -1;
    int n = snprintf(out, cap, "%s/root-%d.sock", dir, (int)getpid());
    return n > 0 && (unsigned)n < cap && n < 108 ? 0 : -1;
}

static uint32_t lookup(struct spy_counts *m, uint64_t leaf_id)
{
    uint64_t v = spy_counts_get(m, leaf_id + 1);
    return v ? (uint32_t)(v - 1) : SPY_INTERN_NONE;
}

static void remember(struct spy_counts *m, uint64_t leaf_id, uint32_t root_id)
{
    if (spy_counts_add(m, leaf_id + 1, (uint64_t)root_id + 1 - spy_counts_get(m, leaf_id + 1)) != 0
        && spy_counts_maintain(m) == 0)
        spy_counts_add(m, leaf_id + 1, (uint64_t)root_id + 1);
}

/* Split a line into tab-separated fields, in place. */
static int fields(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static void handle_line(struct leaf_conn *l, char *line)
{
    struct spy_store *s = &spy_agent.store;
    char *f[8];
    int n = fields(line, f, 8);
    switch (line[0]) {
    case 'P':
        if (n >= 3) {
            pthread_mutex_lock(&lv.lock);
            l->info.pid = atoi(f[1]);
            snprintf(l->info.command_line, sizeof(l->info.command_line), "%s", f[2]);
            pthread_mutex_unlock(&lv.lock);
        }
        break;
    case 'T':
        if (n >= 4 && l->info.pid > 0) {
            long slot = atol(f[1]);
            int tid = atoi(f[2]);
            pthread_mutex_lock(&s->lock);
            int root = spy_store_slot_for(s, l->info.pid, tid, (uint64_t)tid);
            snprintf(s->slots[root].name, sizeof(s->slots[root].name), "%s", f[3]);
            pthread_mutex_unlock(&s->lock);
            remember(&l->slots, (uint64_t)slot, (uint32_t)root);
        }
        break;
    case 'F':
        if (n >= 6) {
            pthread_mutex_lock(&s->lock);
            uint32_t id = spy_store_frame(s, f[4], f[5], atoi(f[2]), atoi(f[3]));
            pthread_mutex_unlock(&s->lock);
            if (id != SPY_INTERN_NONE)
                remember(&l->frames, strtoull(f[1], NULL, 10), id);
        }
        break;
    case 'K':
        if (n >= 3) {
            uint32_t ids[SPY_MAX_DEPTH];
            uint32_t depth = 0;
            bool ok = true;
            for (char *p = f[2]; *p && depth < SPY_MAX_DEPTH;) {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p)
                    break;
                uint32_t id = lookup(&l->frames, v);
                if (id == SPY_INTERN_NONE)
                    ok = false;
                ids[depth++] = id;
                p = *end == ',' ? end + 1 : end;
            }
            if (ok && depth > 0) {
                pthread_mutex_lock(&s->lock);
                uint32_t id = spy_store_stack(s, ids, depth);
                pthread_mutex_unlock(&s->lock);
                if (id != SPY_INTERN_NONE)
                    remember(&l->stacks, strtoull(f[1], NULL, 10), id);
            }
        }
        break;
    case 'C':
        if (n >= 5) {
            uint32_t slot = lookup(&l->slots, strtoull(f[1], NULL, 10));
            uint32_t stack = lookup(&l->stacks, strtoull(f[3], NULL, 10));
            unsigned flags = (unsigned)atoi(f[2]) & (SPY_FLAG_IDLE | SPY_FLAG_GIL | SPY_FLAG_TASK | SPY_FLAG_READY);
            uint64_t count = strtoull(f[4], NULL, 10);
            /* a second holds at most a million samples, or (task ms) a
             * second of each of SPY_TASKS_MAX tasks */
            uint64_t most = (flags & SPY_FLAG_TASK) ? 1000ULL * 65536 : 1000000;
            if (slot == SPY_INTERN_NONE || stack == SPY_INTERN_NONE || count == 0 || count > most)
                break;
            pthread_mutex_lock(&s->lock);
            spy_store_add(s, (int)slot, stack, flags, count);
            if (!(flags & SPY_FLAG_TASK))
                s->slots[slot].samples += count;
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_lock(&lv.lock);
            l->info.samples += (flags & SPY_FLAG_TASK) ? 0 : count;    /* task ms are no samples */
            pthread_mutex_unlock(&lv.lock);
        }
        break;
    case 'D':
    case 'A':
        if (n >= 2) {
            char **slot = f[0][0] == 'D' ? &l->dump : &l->tasks;
            pthread_mutex_lock(&lv.lock);
            free(*slot);
            *slot = strdup(f[1]);
            pthread_cond_broadcast(&lv.answered);
            pthread_mutex_unlock(&lv.lock);
        }
        break;
    default:
        break;
    }
}

static void drop(struct leaf_conn *l)
{
    close(l->fd);
    pthread_mutex_lock(&lv.lock);
    l->fd = -1;
    l->info.alive = false;
    pthread_cond_broadcast(&lv.answered);
    pthread_mutex_unlock(&lv.lock);
    free(l->buf);
    l->buf = NULL;
    l->len = 0;
    spy_counts_free(&l->frames);
    spy_counts_free(&l->stacks);
    spy_counts_free(&l->slots);
}

static void read_leaf(struct leaf_conn *l)
{
    if (l->len + 65536 > LINE_MAX_LEN * 2) {
        drop(l);                /* a line longer than any we send: not a leaf of ours */
        return;
    }
    ssize_t r = recv(l->fd, l->buf + l->len, LINE_MAX_LEN * 2 - l->len - 1, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(l);
        return;
    }
    if (r < 0)
        return;
    l->len += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->buf[i] != '\n')
            continue;
        l->buf[i] = '\0';
        handle_line(l, l->buf + start);
        start = i + 1;
    }
    memmove(l->buf, l->buf + start, l->len - start);
    l->len -= start;
}

static void accept_leaf(void)
{
    int fd = accept4(lv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    pthread_mutex_lock(&lv.lock);
    struct leaf_conn *l = NULL;
    for (int i = 0; i < lv.nleaves && !l; i++)
        if (lv.leaves[i].fd < 0 && !lv.leaves[i].info.alive && lv.leaves[i].info.pid == 0)
            l = &lv.leaves[i];
    if (!l && lv.nleaves < MAX_LEAVES)
        l = &lv.leaves[lv.nleaves++];
    if (!l) {
        /* full: reuse the oldest gone worker's entry */
        for (int i = 0; i < lv.nleaves && !l; i++)
            if (lv.leaves[i].fd < 0)
                l = &lv.leaves[i];
    }
    if (l) {
        free(l->dump);
        free(l->tasks);
        memset(l, 0, sizeof(*l));
        l->fd = fd;
        l->info.alive = true;
    }
    pthread_mutex_unlock(&lv.lock);
    if (!l || !(l->buf = malloc(LINE_MAX_LEN * 2)) || spy_counts_init(&l->frames, 1024) != 0
        || spy_counts_init(&l->stacks, 1024) != 0 || spy_counts_init(&l->slots, 64) != 0) {
        if (l)
            drop(l);
        else
            close(fd);
    }
}

static void *leaves_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spy-leaves");
    struct pollfd p[MAX_LEAVES + 2];
    uint64_t next_host_check = 0;
    while (!atomic_load(&lv.stop)) {
        if (spy_now_ns() >= next_host_check) {
            next_host_check = spy_now_ns() + 1000000000ULL;
            if (spy_threads_end_with_host())
                break;              /* everything of ours is closed already */
        }
        int n = 0;
        p[n++] = (struct pollfd){ lv.listen_fd, POLLIN, 0 };
        p[n++] = (struct pollfd){ lv.wake[0], POLLIN, 0 };
        int idx[MAX_LEAVES];
        for (int i = 0; i < lv.nleaves; i++)
            if (lv.leaves[i].fd >= 0) {
                idx[n - 2] = i;
                p[n++] = (struct pollfd){ lv.leaves[i].fd, POLLIN, 0 };
            }
        if (poll(p, (nfds_t)n, 1000) <= 0)
            continue;
        if (p[1].revents) {
            char b[64];
            while (read(lv.wake[0], b, sizeof(b)) > 0) {
            }
            /* a dump was asked for: send the requests */
            pthread_mutex_lock(&lv.lock);
            for (int i = 0; i < lv.nleaves; i++) {
                if (lv.leaves[i].dump_wanted && lv.leaves[i].fd >= 0) {
                    lv.leaves[i].dump_wanted = false;
                    ssize_t w = send(lv.leaves[i].fd, "dump\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
                    (void)w;
                }
                if (lv.leaves[i].tasks_wanted && lv.leaves[i].fd >= 0) {
                    lv.leaves[i].tasks_wanted = false;
                    ssize_t w = send(lv.leaves[i].fd, "tasks\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
                    (void)w;
                }
            }
            pthread_mutex_unlock(&lv.lock);
        }
        for (int k = 2; k < n; k++)
            if (p[k].revents)
                read_leaf(&lv.leaves[idx[k - 2]]);
        if (p[0].revents)
            accept_leaf();
    }
    return NULL;
}

int spy_leaves_start(const char *sock_path)
{
    if (lv.started)
        return 0;
    struct sockaddr_un sa;
    size_t len = strlen(sock_path);
    if (len >= sizeof(sa.sun_path) || len >= sizeof(lv.path))
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sock_path, len);
    memcpy(lv.path, sock_path, len + 1);
    unlink(sock_path);          /* a stale socket of a dead root with our pid */
    lv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lv.listen_fd < 0 || bind(lv.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
        || chmod(sock_path, 0600) != 0 || listen(lv.listen_fd, 16) != 0 || pipe2(lv.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        spy_log(SPY_LOG_DEBUG, "cannot listen for workers on %s: %s", sock_path, strerror(errno));
        if (lv.listen_fd >= 0)
            close(lv.listen_fd);
        lv.listen_fd = -1;
        return -1;
    }
    atomic_store(&lv.stop, false);
    int rc = spy_thread_start(&lv.thread, leaves_main, NULL);
    lv.started = rc == 0;
    return rc == 0 ? 0 : -1;
}

void spy_leaves_stop(void)
{
    if (!lv.started)
        return;
    atomic_store(&lv.stop, true);
    ssize_t w = write(lv.wake[1], "x", 1);
    (void)w;
    if (pthread_equal(lv.thread, pthread_self()))
        pthread_detach(lv.thread);      /* stopping from itself: it ends on return */
    else
        pthread_join(lv.thread, NULL);
    lv.started = false;
    for (int i = 0; i < lv.nleaves; i++)
        if (lv.leaves[i].fd >= 0)
            drop(&lv.leaves[i]);
    close(lv.listen_fd);
    close(lv.wake[0]);
    close(lv.wake[1]);
    lv.listen_fd = lv.wake[0] = lv.wake[1] = -1;
    unlink(lv.path);
}

void spy_leaves_after_fork_child(void)
{
    /* the thread and the links belong to the parent */
    if (!lv.started)
        return;
    if (lv.listen_fd >= 0)
        close(lv.listen_fd);
    if (lv.wake[0] >= 0)
        close(lv.wake[0]);
    if (lv.wake[1] >= 0)
        close(lv.wake[1]);
    for (int i = 0; i < lv.nleaves; i++)
        if (lv.leaves[i].fd >= 0)
            close(lv.leaves[i].fd);
    lv.listen_fd = lv.wake[0] = lv.wake[1] = -1;
    lv.nleaves = 0;
    lv.started = false;
    pthread_mutex_init(&lv.lock, NULL);
    pthread_cond_init(&lv.answered, NULL);
}

int spy_leaves_list(struct spy_process *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&lv.lock);
    for (int i = 0; i < lv.nleaves && n < cap; i++)
        if (lv.leaves[i].info.pid > 0)
            out[n++] = lv.leaves[i].info;
    pthread_mutex_unlock(&lv.lock);
    return n;
}

/* Ask one worker for a dump or its tasks and wait for the answer. */
static char *ask(int pid, int timeout_ms, bool tasks)
{
    char *answer = NULL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lv.lock);
    struct leaf_conn *l = NULL;
    for (int i = 0; i < lv.nleaves && !l; i++)
        if (lv.leaves[i].info.pid == pid && lv.leaves[i].fd >= 0)
            l = &lv.leaves[i];
    if (l && lv.started) {
        char **slot = tasks ? &l->tasks : &l->dump;
        free(*slot);
        *slot = NULL;
        if (tasks)
            l->tasks_wanted = true;
        else
            l->dump_wanted = true;
        ssize_t w = write(lv.wake[1], "d", 1);
        (void)w;
        while (!*slot && l->fd >= 0)
            if (pthread_cond_timedwait(&lv.answered, &lv.lock, &until) != 0)
                break;
        answer = *slot;
        *slot = NULL;
    }
    pthread_mutex_unlock(&lv.lock);
    return answer;
}

char *spy_leaves_dump(int pid, int timeout_ms)
{
    return ask(pid, timeout_ms, false);
}

char *spy_leaves_tasks(int pid, int timeout_ms)
{
    return ask(pid, timeout_ms, true);
}
