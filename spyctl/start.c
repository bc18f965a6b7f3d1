/*
 * start.c — `spyctl --start`: runs `PYTHON -m uvicorn APP --port PORT ...`
 * with the agent preloaded, and stops its whole process tree afterwards.
 *
 * The app gets a process group of its own (so the terminal's Ctrl+C
 * reaches spyctl only, and spyctl decides how the app stops) and
 * PR_SET_PDEATHSIG, so it gets SIGTERM if spyctl dies abruptly.  spyctl
 * makes itself a child subreaper before forking: a worker whose parent
 * dies is re-parented to spyctl, not to init, so every process of the tree
 * stays findable (descendants of spyctl in /proc) and is reaped here — no
 * orphans, no zombies.  Stopping: SIGTERM to the group and to every
 * descendant (Uvicorn shuts down gracefully on it), a grace period with
 * reaping, then SIGKILL for whatever is left, then reaping until nothing
 * remains.  exec failures come back through a close-on-exec pipe.  The
 * app's standard output and error go to a log file spyctl names (the live
 * top owns the terminal), its standard input is /dev/null.
 * Single-threaded; only the main thread forks.
 */
#include "start.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procs.h"

int spyctl_agent_lib(const struct spyctl_live_opts *o, char *out, size_t cap, char *err, size_t errlen)
{
    if (o->agent) {
        if (access(o->agent, R_OK) != 0 || !realpath(o->agent, out) || strlen(out) >= cap) {
            snprintf(err, errlen, "the agent library %.200s cannot be read (--agent / SPY_AGENT_LIB)", o->agent);
            return -1;
        }
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        const char *rel[] = { "../agent/libspyagent.so", "libspyagent.so", "../lib/libspyagent.so",
                              "../lib/x86_64-linux-gnu/libspyagent.so" };
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof(path), "%.*s/%s", PATH_MAX - 1, self, rel[i]);
            char real[PATH_MAX];
            if (access(path, R_OK) == 0 && realpath(path, real) && strlen(real) < cap) {
                snprintf(out, cap, "%s", real);
                return 0;
            }
        }
    }
    snprintf(err, errlen, "cannot find libspyagent.so next to spyctl: give --agent PATH or SPY_AGENT_LIB");
    return -1;
}

int spyctl_app_log(char *out, size_t cap, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    int n = snprintf(out, cap, "%s/spyctl-app-%d.log", tmp, (int)getpid());
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "the app's log path under %.200s is too long (TMPDIR)", tmp);
        return -1;
    }
    /* a stale file of an earlier spyctl with this pid is ours to replace,
     * but never followed if it is a link */
    struct stat st;
    if (lstat(out, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid())
        unlink(out);
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the app's log %s: %s", out, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

void spyctl_app_log_tail(const char *log, int max_lines)
{
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p = buf;
    if (from > 0) {                /* start after a line break */
        char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : buf + n;
    }
    int total = 0;
    for (const char *q = p; *q; q++)
        total += *q == '\n' || q[1] == '\0';
    for (int skip = total - max_lines; skip > 0; skip--) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    for (char *line = p; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        fprintf(stderr, "  | %s\n", line);
        if (!nl)
            break;
        line = nl + 1;
    }
}

int spyctl_start_app(const struct spyctl_live_opts *o, const char *lib, const char *log, pid_t *pid, char *err,
                     size_t errlen)
{
    if (access(o->python, X_OK) != 0) {
        snprintf(err, errlen, "cannot run %.200s (--python): %s", o->python, strerror(errno));
        return -1;
    }
    int logfd = open(log, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot open the app's log %s: %s", log, strerror(errno));
        return -1;
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char port[16];
    snprintf(port, sizeof(port), "%d", o->port);
    const char *old = getenv("LD_PRELOAD");
    size_t plen = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *preload = malloc(plen);
    char **argv = calloc((size_t)o->nextra + 8, sizeof(char *));
    if (!preload || !argv || nullfd < 0) {
        free(preload);
        free(argv);
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        snprintf(err, errlen, nullfd < 0 ? "cannot open /dev/null" : "out of memory");
        return -1;
    }
    /* after what is there: a sanitizer runtime must stay first */
    if (old && *old && !strstr(old, "libspyagent"))
        snprintf(preload, plen, "%s:%s", old, lib);
    else
        snprintf(preload, plen, "%s", lib);
    int k = 0;
    argv[k++] = (char *)o->python;
    argv[k++] = "-m";
    argv[k++] = "uvicorn";
    argv[k++] = (char *)o->app;
    argv[k++] = "--port";
    argv[k++] = port;
    for (int i = 0; i < o->nextra; i++)
        argv[k++] = o->extra[i];
    argv[k] = NULL;

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(preload);
        free(argv);
        close(logfd);
        close(nullfd);
        return -1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        free(preload);
        free(argv);
        close(logfd);
        close(nullfd);
        return -1;
    }
    if (child == 0) {
        close(pfd[0]);
        /* the app's output to its log, never onto the live top's screen */
        if (dup2(nullfd, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0) {
            int e = errno;
            ssize_t w = write(pfd[1], &e, sizeof(e));
            (void)w;
            _exit(127);
        }
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        setenv("LD_PRELOAD", preload, 1);
        execv(o->python, argv);
        int e = errno;
        ssize_t w = write(pfd[1], &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    setpgid(child, child);
    close(pfd[1]);
    close(logfd);
    close(nullfd);
    free(preload);
    free(argv);
    int e = 0;
    ssize_t r;
    do
        r = read(pfd[0], &e, sizeof(e));
    while (r < 0 && errno == EINTR);
    close(pfd[0]);
    if (r == (ssize_t)sizeof(e)) {
        waitpid(child, NULL, 0);
        snprintf(err, errlen, "cannot run %.200s: %s", o->python, strerror(e));
        return -1;
    }
    *pid = child;
    return 0;
}

bool spyctl_app_running(pid_t pid)
{
    bool running = true;
    int status;
    pid_t r;
    while ((r = waitpid(-1, &status, WNOHANG)) > 0)
        if (r == pid)
            running = false;
    if (r < 0 && errno == ECHILD)
        running = false;
    return running && kill(pid, 0) == 0;
}

/* The processes of the tree still present: in the app's group, or
 * descendants of spyctl (orphans come to us as subreaper).  Zombies are
 * reaped, not counted. */
static int tree_members(pid_t pgid, pid_t *out, int max)
{
    pid_t self = getpid();
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *de;
    while (n < max && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid == self)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *p = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (!p || sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 || state == 'Z')
            continue;
        bool member = pgrp == pgid;
        for (int depth = 0; !member && ppid > 1 && depth < 64; depth++) {
            if (ppid == self)
                member = true;
            else
                ppid = spyctl_proc_ppid(ppid);
        }
        if (member)
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

static void reap_all(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int spyctl_stop_tree(pid_t pid, int grace_ms)
{
    pid_t members[256];
    int n = tree_members(pid, members, 256);
    kill(-pid, SIGTERM);
    for (int i = 0; i < n; i++)
        kill(members[i], SIGTERM);
    int waited = 0;
    while (waited < grace_ms) {
        reap_all();
        if (tree_members(pid, members, 256) == 0)
            break;
        sleep_ms(50);
        waited += 50;
    }
    int killed = 0;
    for (int round = 0; round < 100; round++) {
        reap_all();
        n = tree_members(pid, members, 256);
        if (n == 0)
            break;
        kill(-pid, SIGKILL);
        for (int i = 0; i < n; i++)
            if (kill(members[i], SIGKILL) == 0 && round == 0)
                killed++;
        sleep_ms(50);
    }
    reap_all();
    return killed;
}
