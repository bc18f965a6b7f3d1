/*
 * output.c — opening and finishing a file the user named for spyctl to
 * write (--output of report/diff/convert and --record, --save-config).
 *
 * What is at the path decides how it is written:
 *   - "-" (or no path): standard output, streamed;
 *   - an existing character or block device, FIFO or socket: opened and
 *     written through, never replaced (/dev/null stays a device);
 *   - a symlink: followed (also when it dangles), so the link stays and
 *     its target gets the bytes;
 *   - a regular file or a new name in an existing directory: a temporary
 *     file in the target's own directory, fsync, rename over it (the old
 *     file keeps its mode), so the file appears whole or not at all;
 *   - a directory, or a directory that does not exist: refused.
 * Every error reads "cannot write PATH: REASON" with the path as given.
 *
 * Single-threaded (spyctl's main thread).  Invariant: a failed or
 * abandoned output leaves no temporary file and no changed regular file.
 */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a sink straight onto a file descriptor (stdout, devices, FIFOs) ---- */

static int fd_flush(struct spy_sink *s)
{
    const char *p = s->wbuf;
    size_t n = s->wlen;
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!s->failed) {
                s->failed = 1;
                snprintf(s->error, sizeof(s->error), "%s", w < 0 ? strerror(errno) : "the write made no progress");
            }
            s->wlen = 0;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    s->wlen = 0;
    return 0;
}

static int fd_write(struct spy_sink *s, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        if (s->wlen == sizeof(s->wbuf) && fd_flush(s) != 0)
            return -1;
        size_t k = sizeof(s->wbuf) - s->wlen < n ? sizeof(s->wbuf) - s->wlen : n;
        memcpy(s->wbuf + s->wlen, c, k);
        s->wlen += k;
        c += k;
        n -= k;
    }
    return 0;
}

static void fd_sink(struct spy_sink *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->write = fd_write;
    s->fd = fd;
}

/* ---- resolving the path ---- */

/* Follows symlinks from path (dangling ones too) into out.  0 with *exists
 * and *st (of the final target) set, or an errno value. */
static int resolve(const char *path, char *out, size_t cap, struct stat *st, bool *exists)
{
    if (strlen(path) >= cap)
        return ENAMETOOLONG;
    snprintf(out, cap, "%s", path);
    for (int hops = 0;; hops++) {
        if (lstat(out, st) != 0) {
            if (errno != ENOENT)
                return errno;
            *exists = false;
            return 0;
        }
        if (!S_ISLNK(st->st_mode)) {
            *exists = true;
            return 0;
        }
        if (hops == 40)
            return ELOOP;
        char target[PATH_MAX];
        ssize_t n = readlink(out, target, sizeof(target) - 1);
        if (n < 0)
            return errno;
        target[n] = '\0';
        const char *slash = strrchr(out, '/');
        if (target[0] == '/' || !slash) {
            if ((size_t)n >= cap)
                return ENAMETOOLONG;
            memcpy(out, target, (size_t)n + 1);
        } else {
            size_t dl = (size_t)(slash - out) + 1;      /* keep "dir/" */
            if (dl + (size_t)n >= cap)
                return ENAMETOOLONG;
            memcpy(out + dl, target, (size_t)n + 1);
        }
    }
}

static int fail(struct spyctl_output *o, char *err, size_t errlen, const char *reason)
{
    snprintf(err, errlen, "cannot write %s: %s", o->shown, reason);
    return -1;
}

int spyctl_output_open(struct spyctl_output *o, const char *path, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->sink.fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        snprintf(o->shown, sizeof(o->shown), "standard output");
        fflush(stdout);
        fd_sink(&o->sink, STDOUT_FILENO);
        return 0;
    }
    snprintf(o->shown, sizeof(o->shown), "%.1000s", path);
    if (!path[0])
        return fail(o, err, errlen, "an empty path");

    char real[PATH_MAX];
    struct stat st;
    bool exists = false;
    int e = resolve(path, real, sizeof(real), &st, &exists);
    if (e != 0)
        return fail(o, err, errlen, strerror(e));
    if (exists && S_ISDIR(st.st_mode))
        return fail(o, err, errlen, strerror(EISDIR));
    if (exists && !S_ISREG(st.st_mode)) {
        /* a device, FIFO or socket: written through (a FIFO waits for its reader) */
        int fd = open(real, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return fail(o, err, errlen, strerror(errno));
        fd_sink(&o->sink, fd);
        o->own_fd = true;
        return 0;
    }

    /* a regular file or a new name: temp file beside the target, rename */
    char dir[PATH_MAX];
    const char *name = real;
    char *slash = strrchr(real, '/');
    if (slash) {
        size_t dl = slash == real ? 1 : (size_t)(slash - real);
        memcpy(dir, real, dl);
        dir[dl] = '\0';
        name = slash + 1;
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    if (!name[0])
        return fail(o, err, errlen, "not a file name (it ends in /)");
    struct stat dst;
    if (stat(dir, &dst) != 0) {
        char why[PATH_MAX + 100];
        snprintf(why, sizeof(why), "%s (directory %.*s)", strerror(errno), PATH_MAX - 1, dir);
        return fail(o, err, errlen, why);
    }
    if (!S_ISDIR(dst.st_mode)) {
        char why[PATH_MAX + 100];
        snprintf(why, sizeof(why), "%s (%.*s)", strerror(ENOTDIR), PATH_MAX - 1, dir);
        return fail(o, err, errlen, why);
    }
    if (spy_sink_file(&o->sink, dir, name) != 0) {
        /* the sink's message names the temporary file's target; keep the user's path */
        const char *why = o->sink.error;
        const char *colon = strrchr(why, ':');
        return fail(o, err, errlen, colon && colon[1] == ' ' ? colon + 2 : why);
    }
    if (exists)
        (void)fchmod(o->sink.fd, st.st_mode & 07777);
    o->replace = true;
    return 0;
}

int spyctl_output_close(struct spyctl_output *o, int rc, char *err, size_t errlen)
{
    struct spy_sink *s = &o->sink;
    if (rc != 0 && !s->failed) {
        s->failed = 1;
        snprintf(s->error, sizeof(s->error), "the output was abandoned");
    }
    char why[sizeof(s->error)];
    if (o->replace) {
        /* spy_sink_close removes the temporary file after any failure */
        int crc = spy_sink_close(s);
        if (crc == 0)
            return 0;
        /* "cannot write DIR/NAME: REASON" from the sink: keep REASON */
        size_t pl = strlen(s->path);
        if (strncmp(s->error, "cannot write ", 13) == 0 && strncmp(s->error + 13, s->path, pl) == 0
            && strncmp(s->error + 13 + pl, ": ", 2) == 0)
            snprintf(why, sizeof(why), "%s", s->error + 13 + pl + 2);
        else
            snprintf(why, sizeof(why), "%s", s->error);
        return fail(o, err, errlen, why);
    }
    if (!s->failed)
        fd_flush(s);
    if (o->own_fd && close(s->fd) != 0 && !s->failed) {
        s->failed = 1;
        snprintf(s->error, sizeof(s->error), "%s", strerror(errno));
    }
    s->fd = -1;
    if (!s->failed)
        return 0;
    snprintf(why, sizeof(why), "%s", s->error);
    return fail(o, err, errlen, why);
}
