/*
 * procs.c — reading /proc: the Uvicorn and Gunicorn processes of this
 * machine (a process whose argv names uvicorn or gunicorn, plus every
 * descendant, so spawned workers whose command line is multiprocessing's
 * are listed too), which agent serves a pid, and which process listens on
 * a TCP port (/proc/net/tcp{,6} socket inodes matched against
 * /proc/PID/fd).  Processes of other users cannot be read in full; they
 * are listed with what can be seen.  Every scan is bounded by what /proc
 * holds; nothing here blocks.  Single-threaded.
 */
#include "procs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry_read.h"

bool spyctl_pid_alive(int pid)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return false;
    /* a zombie is not alive for us */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* Reads a /proc file whole (NULs kept); returns the length or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

int spyctl_proc_cmdline(int pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    ssize_t n = read_proc(path, out, cap);
    if (n < 0)
        return -1;
    while (n > 0 && out[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0' || out[i] == '\n')
            out[i] = ' ';
    out[n] = '\0';
    return 0;
}

int spyctl_proc_ppid(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_proc(path, buf, sizeof(buf)) < 0)
        return 0;
    const char *p = strrchr(buf, ')');
    int ppid = 0;
    char state;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return 0;
    return ppid;
}

/* Does argv (NUL-separated, n bytes) name uvicorn or gunicorn? */
static bool argv_is_server(const char *argv, size_t n)
{
    const char *names[] = { "uvicorn", "gunicorn" };
    for (size_t off = 0; off < n; off += strlen(argv + off) + 1) {
        const char *a = argv + off, *base = strrchr(a, '/');
        base = base ? base + 1 : a;
        if (off == 0 && strncmp(base, "spyctl", 6) == 0)
            return false;
        for (size_t k = 0; k < 2; k++) {
            size_t l = strlen(names[k]);
            /* "uvicorn", "/usr/bin/gunicorn", "gunicorn:" (a process title) */
            if (strncmp(base, names[k], l) == 0 && (base[l] == '\0' || base[l] == ':' || base[l] == ' '))
                return true;
        }
    }
    return false;
}

static int cmp_proc(const void *a, const void *b)
{
    return ((const struct spyctl_proc *)a)->pid - ((const struct spyctl_proc *)b)->pid;
}

int spyctl_procs_scan(struct spyctl_proc **out)
{
    *out = NULL;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    /* pass 1: every process's pid, ppid and whether it is a server */
    struct all { int pid, ppid; bool server; } *all = NULL;
    size_t nall = 0, capall = 0;
    struct dirent *de;
    char *argv = malloc(65536);
    int self = (int)getpid();
    /* registered agents are listed whatever they run (this also removes
     * stale entries) */
    struct spyctl_reg_entry *reg;
    int nreg = spyctl_registry_list(&reg);
    while (argv && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        int pid = atoi(de->d_name);
        if (pid == self)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        ssize_t n = read_proc(path, argv, 65536);
        if (n <= 0)
            continue; /* kernel thread or gone */
        if (nall == capall) {
            capall = capall ? capall * 2 : 512;
            void *p = realloc(all, capall * sizeof(*all));
            if (!p)
                break;
            all = p;
        }
        all[nall].pid = pid;
        all[nall].ppid = spyctl_proc_ppid(pid);
        all[nall].server = argv_is_server(argv, (size_t)n);
        for (int r = 0; r < nreg && !all[nall].server; r++)
            all[nall].server = reg[r].pid == pid;
        nall++;
    }
    closedir(d);
    free(argv);
    free(reg);
    /* pass 2: servers and their descendants (ancestry walks are bounded) */
    int count = 0;
    for (size_t i = 0; i < nall; i++) {
        bool keep = all[i].server;
        int ppid = all[i].ppid;
        for (int depth = 0; !keep && ppid > 1 && depth < 64; depth++) {
            size_t k;
            for (k = 0; k < nall && all[k].pid != ppid; k++)
                ;
            if (k == nall)
                break;
            keep = all[k].server;
            ppid = all[k].ppid;
        }
        if (!keep)
            continue;
        struct spyctl_proc *p = realloc(*out, (size_t)(count + 1) * sizeof(*p));
        if (!p)
            break;
        *out = p;
        struct spyctl_proc *e = &(*out)[count++];
        memset(e, 0, sizeof(*e));
        e->pid = all[i].pid;
        e->ppid = all[i].ppid;
        e->matched = all[i].server;
        if (spyctl_proc_cmdline(e->pid, e->cmdline, sizeof(e->cmdline)) != 0)
            snprintf(e->cmdline, sizeof(e->cmdline), "(gone)");
        char err[200];
        e->has_agent = spyctl_agent_for_pid(e->pid, &e->agent, err, sizeof(err)) == 0;
    }
    free(all);
    if (count > 1)
        qsort(*out, (size_t)count, sizeof(**out), cmp_proc);
    return count;
}

/* The value of NAME in a NUL-separated environment block, or NULL. */
static const char *env_get(const char *env, size_t n, const char *name)
{
    size_t l = strlen(name);
    for (size_t off = 0; off < n; off += strlen(env + off) + 1)
        if (strncmp(env + off, name, l) == 0 && env[off + l] == '=')
            return env + off + l + 1;
    return NULL;
}

/* Is the agent (spyagent.so) mapped into pid? -1 if we cannot tell. */
static int agent_mapped(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        const char *slash = strrchr(line, '/');
        if (slash && strncmp(slash, "/spyagent", 9) == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

int spyctl_agent_for_pid(int pid, struct spyctl_agent_ref *ref, char *err, size_t errlen)
{
    memset(ref, 0, sizeof(*ref));
    ref->pid = pid;
    if (!spyctl_pid_alive(pid)) {
        snprintf(err, errlen, "no process %d", pid);
        return -1;
    }
    struct spyctl_reg_entry e;
    if (spyctl_registry_find(pid, &e) == 0) {
        ref->root_pid = e.root_pid;
        snprintf(ref->role, sizeof(ref->role), "%s", e.role);
        snprintf(ref->host, sizeof(ref->host), "%s", e.host);
        ref->port = e.port;
        ref->token_required = e.token_required;
        ref->source = "registry";
        struct spyctl_reg_entry root;
        /* a leaf's entry names its root: take the root's address if the
         * root is registered (it owns the port) */
        if (strcmp(e.role, "leaf") == 0 && spyctl_registry_find(e.root_pid, &root) == 0) {
            snprintf(ref->host, sizeof(ref->host), "%s", root.host);
            ref->port = root.port;
        }
        return 0;
    }
    /* No entry: an agent that predates the registry, or none at all. */
    char path[64];
    char *env = malloc(131072);
    if (!env) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/environ", pid);
    ssize_t n = read_proc(path, env, 131072);
    int mapped = agent_mapped(pid);
    int rc = -1;
    if (n < 0) {
        snprintf(err, errlen, "cannot read /proc/%d/environ (%s): is it another user's process?", pid,
                 strerror(errno));
        goto out;
    }
    const char *preload = env_get(env, (size_t)n, "LD_PRELOAD");
    const char *enabled = env_get(env, (size_t)n, "SPY_ENABLED");
    bool preloaded = preload && strstr(preload, "libspyagent") != NULL;
    if (mapped == 0 || (mapped < 0 && !preloaded)) {
        snprintf(err, errlen, "process %d runs no spyagent%s", pid,
                 preloaded ? " (LD_PRELOAD names it, but it is not loaded: not a supported CPython?)" : "");
        goto out;
    }
    if (enabled && (strcmp(enabled, "0") == 0 || strcmp(enabled, "false") == 0 || strcmp(enabled, "no") == 0
                    || strcmp(enabled, "off") == 0)) {
        snprintf(err, errlen, "process %d has the agent loaded but off (SPY_ENABLED=%.10s)", pid, enabled);
        goto out;
    }
    const char *host = env_get(env, (size_t)n, "SPY_WS_HOST");
    const char *port = env_get(env, (size_t)n, "SPY_WS_PORT");
    snprintf(ref->host, sizeof(ref->host), "%.120s",
             host && *host && strcmp(host, "0.0.0.0") != 0 ? host : "127.0.0.1");
    ref->port = port && atoi(port) > 0 && atoi(port) < 65536 ? atoi(port) : 7799;
    ref->token_required = env_get(env, (size_t)n, "SPY_TOKEN") != NULL;
    ref->source = "environment";
    /* the process that owns the port is the root if it is pid or one of
     * pid's ancestors; otherwise the roles are unknown */
    int owner = spyctl_pid_listening_on(ref->port), up = pid;
    for (int depth = 0; owner > 0 && up > 1 && depth < 64; depth++, up = spyctl_proc_ppid(up)) {
        if (up == owner) {
            ref->root_pid = owner;
            snprintf(ref->role, sizeof(ref->role), "%s", owner == pid ? "root" : "leaf");
            break;
        }
    }
    rc = 0;
out:
    free(env);
    return rc;
}

/* Adds the inodes of sockets listening on port in one /proc/net file. */
static int listening_inodes(const char *file, int port, unsigned long *inodes, int max, int n)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return n;
    char line[512];
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return n;
    }
    while (n < max && fgets(line, sizeof(line), f)) {
        char local[80];
        unsigned st;
        unsigned long inode;
        /* sl local rem st tx:rx tr:when retr uid timeout inode */
        if (sscanf(line, " %*s %79s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
            continue;
        const char *colon = strrchr(local, ':');
        if (st == 0x0A && colon && (int)strtol(colon + 1, NULL, 16) == port && inode)
            inodes[n++] = inode;
    }
    fclose(f);
    return n;
}

static bool holds_inode(int pid, const unsigned long *inodes, int n)
{
    char path[64], link[96], target[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%.20s", path, de->d_name);
        ssize_t l = readlink(link, target, sizeof(target) - 1);
        if (l <= 0)
            continue;
        target[l] = '\0';
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1)
            for (int i = 0; i < n; i++)
                found = found || ino == inodes[i];
    }
    closedir(d);
    return found;
}

int spyctl_pid_listening_on(int port)
{
    unsigned long inodes[16];
    int n = listening_inodes("/proc/net/tcp", port, inodes, 16, 0);
    n = listening_inodes("/proc/net/tcp6", port, inodes, 16, n);
    if (n == 0)
        return 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int holders[64], nh = 0;
    struct dirent *de;
    while (nh < 64 && (de = readdir(d)))
        if (isdigit((unsigned char)de->d_name[0]) && holds_inode(atoi(de->d_name), inodes, n))
            holders[nh++] = atoi(de->d_name);
    closedir(d);
    for (int i = 0; i < nh; i++) {
        int ppid = spyctl_proc_ppid(holders[i]);
        bool parent_holds = false;
        for (int k = 0; k < nh; k++)
            parent_holds = parent_holds || holders[k] == ppid;
        if (!parent_holds)
            return holders[i];
    }
    return nh ? holders[0] : 0;
}

bool spyctl_port_open(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}
