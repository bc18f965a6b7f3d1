/*
 * sink.c — where a writer's bytes go.
 *
 * Two kinds: a memory sink (a growable buffer with a byte limit, for tests
 * and replies) and a file sink that writes DIR/.NAME.tmp.PID through a 64 KiB
 * buffer and, on close, fsyncs it and renames it over DIR/NAME, so a reader
 * sees the old file or the whole new one, never half of one.  Plus the
 * escapers every writer needs (JSON strings, XML text), which also repair
 * invalid UTF-8 so the outputs always parse.
 *
 * Threads: a sink belongs to one thread at a time (a writer thread or a
 * test); nothing here is shared.  Invariants: `failed` is sticky — after the
 * first error every write returns -1 and `error` keeps the first reason; a
 * failed file sink leaves no temporary file behind once closed.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* A long path may not fit: the message is then cut, never overflowed. */
__attribute__((format(printf, 2, 3)))
static void set_error(struct spy_sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

/* Records the first failure: fmt takes the subject (a path) and the reason. */
static int fail(struct spy_sink *s, const char *fmt, const char *what, int err)
{
    if (!s->failed) {
        s->failed = 1;
        set_error(s, fmt, what, strerror(err));
    }
    return -1;
}

/* ---- memory ---- */

static int memory_write(struct spy_sink *s, const void *p, size_t n)
{
    size_t limit = s->limit ? s->limit : SIZE_MAX - 1;
    if (n > limit - s->len) {
        s->failed = 1;
        snprintf(s->error, sizeof(s->error),
                 "output larger than the limit of %zu bytes", s->limit);
        return -1;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? s->len + n + 1 : cap * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return fail(s, "%s: %s", "cannot grow the output buffer", ENOMEM);
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return 0;
}

void spy_sink_memory(struct spy_sink *s, size_t limit)
{
    memset(s, 0, sizeof(*s));
    s->write = memory_write;
    s->limit = limit;
    s->fd = -1;
}

/* ---- file ---- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int file_flush(struct spy_sink *s)
{
    if (s->wlen && write_all(s->fd, s->wbuf, s->wlen) != 0)
        return fail(s, "cannot write %s: %s", s->path, errno);
    s->wlen = 0;
    return 0;
}

static int file_write(struct spy_sink *s, const void *p, size_t n)
{
    if (s->fd < 0)
        return -1;
    if (n <= sizeof(s->wbuf) - s->wlen) {
        memcpy(s->wbuf + s->wlen, p, n);
        s->wlen += n;
        return 0;
    }
    if (file_flush(s) != 0)
        return -1;
    if (n < sizeof(s->wbuf)) {
        memcpy(s->wbuf, p, n);
        s->wlen = n;
        return 0;
    }
    if (write_all(s->fd, p, n) != 0)
        return fail(s, "cannot write %s: %s", s->path, errno);
    return 0;
}

/* mkdir -p, mode 0755; an existing directory is fine. */
static int make_dirs(struct spy_sink *s, const char *dir)
{
    char buf[1024];
    size_t n = strlen(dir);
    if (n == 0)
        return 0;
    if (n >= sizeof(buf))
        return fail(s, "cannot create directory %s: %s", dir, ENAMETOOLONG);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return fail(s, "cannot create directory %s: %s", buf, errno);
        buf[i] = c;
    }
    return 0;
}

int spy_sink_file(struct spy_sink *s, const char *dir, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->write = file_write;
    s->fd = -1;
    if (!dir || !*dir)
        dir = ".";
    if (!name || !*name || strchr(name, '/'))
        return fail(s, "cannot write %s: %s", name ? name : "(null)", EINVAL);
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    int w1 = snprintf(s->path, sizeof(s->path), "%s%s%s", dir, sep, name);
    int w2 = snprintf(s->tmp, sizeof(s->tmp), "%s%s.%s.tmp.%ld", dir, sep, name, (long)getpid());
    if (w1 < 0 || (size_t)w1 >= sizeof(s->path) || w2 < 0 || (size_t)w2 >= sizeof(s->tmp))
        return fail(s, "cannot write %s: %s", name, ENAMETOOLONG);
    if (make_dirs(s, dir) != 0)
        return -1;
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (s->fd < 0)
        return fail(s, "cannot write %s: %s", s->path, errno);
    return 0;
}

static int close_file(struct spy_sink *s)
{
    if (s->fd < 0)
        return -1;               /* never opened: error already set */
    if (!s->failed)
        file_flush(s);
    if (!s->failed && fsync(s->fd) != 0)
        fail(s, "cannot write %s: %s", s->path, errno);
    if (close(s->fd) != 0 && !s->failed)
        fail(s, "cannot write %s: %s", s->path, errno);
    s->fd = -1;
    if (!s->failed && rename(s->tmp, s->path) != 0)
        fail(s, "cannot write %s: %s", s->path, errno);
    if (s->failed) {
        unlink(s->tmp);
        return -1;
    }
    /* Make the rename itself durable; a failure here loses nothing visible. */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", s->path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

int spy_sink_close(struct spy_sink *s)
{
    if (s->write == file_write)
        return close_file(s);
    return s->failed ? -1 : 0;
}

/* ---- writing ---- */

int spy_sink_write(struct spy_sink *s, const void *p, size_t n)
{
    if (s->failed)
        return -1;
    if (n == 0)
        return 0;
    return s->write(s, p, n);
}

int spy_sink_puts(struct spy_sink *s, const char *str)
{
    return spy_sink_write(s, str, strlen(str));
}

int spy_sink_printf(struct spy_sink *s, const char *fmt, ...)
{
    char small[512];
    va_list ap;

    if (s->failed)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return fail(s, "%s: %s", "cannot format output", EINVAL);
    if ((size_t)n < sizeof(small))
        return spy_sink_write(s, small, (size_t)n);

    char *big = malloc((size_t)n + 1);
    if (!big)
        return fail(s, "%s: %s", "cannot format output", ENOMEM);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = spy_sink_write(s, big, (size_t)n);
    free(big);
    return rc;
}

/* ---- escaping ---- */

/* Decodes one UTF-8 character at p.  Returns the code point and sets *adv,
 * or returns -1 with *adv = 1 for a byte that does not start a valid,
 * shortest-form, non-surrogate sequence.  Stops at NUL: it is never a
 * continuation byte. */
static long utf8_next(const unsigned char *p, size_t *adv)
{
    unsigned c = p[0];
    *adv = 1;
    if (c < 0x80)
        return c;
    int n;
    long cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1; cp = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2; cp = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3; cp = c & 0x07; min = 0x10000;
    } else {
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *adv = (size_t)n + 1;
    return cp;
}

static const char replacement[] = "\xef\xbf\xbd";     /* U+FFFD */

static int json_escape(struct spy_sink *s, const char *str, int xmlsafe)
{
    const unsigned char *p = (const unsigned char *)(str ? str : "");
    const unsigned char *run = p;
    char esc[16];

    while (*p) {
        size_t adv;
        long cp = utf8_next(p, &adv);
        const char *out = NULL;
        size_t outlen = 0;
        if (cp < 0) {
            out = replacement;
            outlen = 3;
        } else if (cp == '"') {
            out = "\\\"";
            outlen = 2;
        } else if (cp == '\\') {
            out = "\\\\";
            outlen = 2;
        } else if (cp < 0x20 || (xmlsafe && (cp == '<' || cp == '>' || cp == '&'))) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp & 0xffu);
            out = esc;
            outlen = 6;
        }
        if (out) {
            if (spy_sink_write(s, run, (size_t)(p - run)) != 0
                || spy_sink_write(s, out, outlen) != 0)
                return -1;
            run = p + adv;
        }
        p += adv;
    }
    return spy_sink_write(s, run, (size_t)(p - run));
}

int spy_sink_json_str(struct spy_sink *s, const char *str)
{
    return json_escape(s, str, 0);
}

int spy_sink_json_str_xmlsafe(struct spy_sink *s, const char *str)
{
    return json_escape(s, str, 1);
}

int spy_sink_xml_str(struct spy_sink *s, const char *str)
{
    const unsigned char *p = (const unsigned char *)(str ? str : "");
    const unsigned char *run = p;

    while (*p) {
        size_t adv;
        long cp = utf8_next(p, &adv);
        const char *out = NULL;
        if (cp < 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')
            || cp == 0xfffe || cp == 0xffff)
            out = replacement;
        else if (cp == '&')
            out = "&amp;";
        else if (cp == '<')
            out = "&lt;";
        else if (cp == '>')
            out = "&gt;";
        else if (cp == '"')
            out = "&quot;";
        else if (cp == '\'')
            out = "&#39;";
        if (out) {
            if (spy_sink_write(s, run, (size_t)(p - run)) != 0 || spy_sink_puts(s, out) != 0)
                return -1;
            run = p + adv;
        }
        p += adv;
    }
    return spy_sink_write(s, run, (size_t)(p - run));
}

const char *spy_grouped(uint64_t v, char *buf, size_t cap)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    size_t j = 0;
    for (int i = 0; i < n && j + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}

int spy_sink_grouped(struct spy_sink *s, uint64_t v)
{
    char buf[32];
    return spy_sink_puts(s, spy_grouped(v, buf, sizeof(buf)));
}

int spy_sink_fail(struct spy_sink *s, const char *fmt, ...)
{
    if (!s->failed) {
        s->failed = 1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof(s->error), fmt, ap);
        va_end(ap);
    }
    return -1;
}
