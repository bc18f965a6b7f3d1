/*
 * profile_read_speedscope.c — speedscope JSON (ours and py-spy's) read
 * into a profile for profile_read.c, streamed.
 *
 * Never holds the document: a cursor reads it through a 64 KiB window
 * (pread on a file, or the caller's memory), so memory is bounded by what
 * the profile keeps (frames, threads, distinct stacks), not by the file's
 * size, nesting or number of profiles.  Two passes, because a profile's
 * "weights" may follow its "samples", "shared" may follow "profiles", and
 * a count is a weight divided by the smallest weight of the whole file:
 *   1. the document's structure: frames added in order, per profile its
 *      thread, unit, the offsets of its samples and weights arrays, the
 *      smallest weight; every other value skipped;
 *   2. per profile, one cursor on its samples and one on its weights, in
 *      step, each sample added as it is read.
 * Our task view's profiles ("task wall time: NAME (TID)", milliseconds)
 * are read as task milliseconds: they take no part in the rate or the
 * span, which the top-level "spyagent" member gives when no CPU profile is
 * timed.
 * Figures are those of the earlier cJSON reader: same frames, threads,
 * counts (each weight rounded on its own), rate and duration, except that
 * a rate outside 1 Hz..1 MHz (weights like 1e-12 s) is "unknown" (0).
 *
 * Runs on the caller's thread only (spyctl, a test, the server's writer);
 * keeps no state between calls.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"
#include "profile_read_parts.h"

#define NONE UINT32_MAX

static bool all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}


#define SS_WINDOW 65536
#define SS_MAX_DEPTH 1000               /* cJSON's own nesting limit */
#define SS_MAX_STRING ((size_t)1 << 20)
#define SS_MAX_RATE 1000000.0
#define SS_MAX_DURATION (366.0 * 86400)

struct jcur {
    struct reader *r;
    int fd;                        /* -1: memory */
    uint64_t start;                /* fd: file offset of the document */
    char *buf;                     /* the window (memory: the document) */
    size_t len, i;                 /* bytes in the window, next one */
    uint64_t off;                  /* document offset of buf[0] */
    bool eof;
    int depth;                     /* brackets open */
};

struct sbuf {
    char *s;
    size_t len, cap;
};

static uint64_t jc_pos(const struct jcur *c)
{
    return c->off + c->i;
}

/* The next byte, -1 at the end, -2 on a read error (reported). */
static int jc_byte(struct jcur *c)
{
    if (c->i == c->len) {
        if (c->fd < 0 || c->eof)
            return -1;
        c->off += c->len;
        c->i = c->len = 0;
        ssize_t k;
        do
            k = pread(c->fd, c->buf, SS_WINDOW, (off_t)(c->start + c->off));
        while (k < 0 && errno == EINTR);
        if (k < 0) {
            spy_read_fail(c->r, "read error: %s", strerror(errno));
            return -2;
        }
        if (k == 0) {
            c->eof = true;
            return -1;
        }
        c->len = (size_t)k;
    }
    return (unsigned char)c->buf[c->i++];
}

static void jc_seek(struct jcur *c, uint64_t pos)
{
    if (c->fd < 0 || (pos >= c->off && pos <= c->off + c->len)) {
        c->i = (size_t)(pos - c->off);
        return;
    }
    c->off = pos;
    c->i = c->len = 0;
    c->eof = false;
}

static int jc_truncated(struct jcur *c)
{
    return spy_read_fail(c->r, "truncated JSON (ends at byte %llu with %d bracket(s) open): expected a speedscope profile",
                (unsigned long long)jc_pos(c), c->depth);
}

/* A bad byte was just read. */
static int jc_invalid(struct jcur *c, int b)
{
    if (b == 0)
        return spy_read_fail(c->r, "binary data inside (byte %llu): expected speedscope JSON",
                    (unsigned long long)jc_pos(c) - 1);
    return spy_read_fail(c->r, "invalid JSON at byte %llu: expected a speedscope profile", (unsigned long long)jc_pos(c) - 1);
}

static int jc_end(struct jcur *c, int b)
{
    return b == -2 ? -1 : jc_truncated(c);
}

/* The next byte that is not white space, not consumed; < 0 as jc_byte. */
static int jc_peek(struct jcur *c)
{
    for (;;) {
        int b = jc_byte(c);
        if (b < 0)
            return b;
        if (b != ' ' && b != '\n' && b != '\r' && b != '\t') {
            c->i--;
            return b;
        }
    }
}

static int jc_expect(struct jcur *c, int want)
{
    int b = jc_peek(c);
    if (b < 0)
        return jc_end(c, b);
    c->i++;
    if (b != want)
        return jc_invalid(c, b);
    if (b == '{' || b == '[')
        c->depth++;
    else if (b == '}' || b == ']')
        c->depth--;
    return 0;
}

static int sbuf_put(struct jcur *c, struct sbuf *o, const char *p, size_t n)
{
    if (!o)
        return 0;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        if (cap > SS_MAX_STRING + 8)
            return spy_read_fail(c->r, "a string longer than %zu KiB at byte %llu: not a speedscope profile",
                        SS_MAX_STRING >> 10, (unsigned long long)jc_pos(c));
        char *s = realloc(o->s, cap);
        if (!s)
            return spy_read_fail(c->r, "out of memory");
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->len, p, n);
    o->len += n;
    o->s[o->len] = '\0';
    return 0;
}

static int hex4(struct jcur *c, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int b = jc_byte(c);
        if (b < 0)
            return jc_end(c, b);
        int d = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10
                : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
        if (d < 0)
            return jc_invalid(c, b);
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* A string at the cursor, decoded into o (NULL: skipped). */
static int jc_string(struct jcur *c, struct sbuf *o)
{
    if (o)
        o->len = 0;
    if (jc_expect(c, '"') != 0)
        return -1;
    if (o && sbuf_put(c, o, "", 0) != 0)
        return -1;
    for (;;) {
        /* a run of plain bytes straight from the window */
        size_t j = c->i;
        while (j < c->len && c->buf[j] != '"' && c->buf[j] != '\\' && c->buf[j] != '\0')
            j++;
        if (j > c->i) {
            if (sbuf_put(c, o, c->buf + c->i, j - c->i) != 0)
                return -1;
            c->i = j;
        }
        int b = jc_byte(c);
        if (b < 0)
            return jc_end(c, b);
        if (b == '"')
            return 0;
        if (b == 0)
            return jc_invalid(c, b);
        if (b != '\\') {                /* the window ran out in a plain run */
            char ch = (char)b;
            if (sbuf_put(c, o, &ch, 1) != 0)
                return -1;
            continue;
        }
        b = jc_byte(c);
        if (b < 0)
            return jc_end(c, b);
        char ch;
        switch (b) {
        case '"': case '\\': case '/': ch = (char)b; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned u, lo;
            if (hex4(c, &u) != 0)
                return -1;
            if (u >= 0xd800 && u < 0xdc00) {
                int b1 = jc_byte(c), b2 = b1 == '\\' ? jc_byte(c) : b1;
                if (b1 < 0 || b2 < 0)
                    return jc_end(c, b1 < 0 ? b1 : b2);
                if (b1 != '\\' || b2 != 'u')
                    return jc_invalid(c, b2);
                if (hex4(c, &lo) != 0)
                    return -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return spy_read_fail(c->r, "invalid JSON at byte %llu (a lone UTF-16 surrogate): expected a speedscope "
                                "profile", (unsigned long long)jc_pos(c));
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
            char enc[4];
            size_t n;
            if (u < 0x80) {
                enc[0] = (char)u;
                n = 1;
            } else if (u < 0x800) {
                enc[0] = (char)(0xc0 | u >> 6);
                enc[1] = (char)(0x80 | (u & 0x3f));
                n = 2;
            } else if (u < 0x10000) {
                enc[0] = (char)(0xe0 | u >> 12);
                enc[1] = (char)(0x80 | (u >> 6 & 0x3f));
                enc[2] = (char)(0x80 | (u & 0x3f));
                n = 3;
            } else {
                enc[0] = (char)(0xf0 | u >> 18);
                enc[1] = (char)(0x80 | (u >> 12 & 0x3f));
                enc[2] = (char)(0x80 | (u >> 6 & 0x3f));
                enc[3] = (char)(0x80 | (u & 0x3f));
                n = 4;
            }
            if (u == 0)
                return spy_read_fail(c->r, "a string with \\u0000 at byte %llu: not a speedscope frame or name",
                            (unsigned long long)jc_pos(c));
            if (sbuf_put(c, o, enc, n) != 0)
                return -1;
            continue;
        }
        default:
            return jc_invalid(c, b);
        }
        if (sbuf_put(c, o, &ch, 1) != 0)
            return -1;
    }
}

/* A number at the cursor. */
static int jc_number(struct jcur *c, double *v)
{
    char tmp[72];
    size_t n = 0;
    for (;;) {
        int b = jc_byte(c);
        if (b == -2)
            return -1;
        if (b >= 0 && (strchr("+-.eE", b) || (b >= '0' && b <= '9')) && b != 0) {
            if (n + 1 >= sizeof(tmp))
                return spy_read_fail(c->r, "invalid JSON at byte %llu (a number of more than 70 characters): expected a "
                            "speedscope profile", (unsigned long long)jc_pos(c));
            tmp[n++] = (char)b;
            continue;
        }
        if (b >= 0)
            c->i--;
        break;
    }
    tmp[n] = '\0';
    if (n == 0) {
        int b = jc_byte(c);
        return b < 0 ? jc_end(c, b) : jc_invalid(c, b);
    }
    char *e;
    *v = strtod(tmp, &e);
    if (*e != '\0' || !(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return spy_read_fail(c->r, "invalid JSON at byte %llu (\"%s\" is not a number): expected a speedscope profile",
                    (unsigned long long)(jc_pos(c) - n), tmp);
    return 0;
}

/* Any value, skipped without recursion (nesting up to SS_MAX_DEPTH). */
static int jc_skip(struct jcur *c)
{
    unsigned char objs[SS_MAX_DEPTH / 8 + 1];
    int d = 0;
    bool want_value = true;
    for (;;) {
        int b = jc_peek(c);
        if (b < 0)
            return jc_end(c, b);
        if (want_value) {
            if (b == '{' || b == '[') {
                if (d >= SS_MAX_DEPTH)
                    return spy_read_fail(c->r, "nested deeper than %d at byte %llu: not a speedscope profile", SS_MAX_DEPTH,
                                (unsigned long long)jc_pos(c));
                c->i++;
                c->depth++;
                if (b == '{')
                    objs[d / 8] |= (unsigned char)(1u << (d % 8));
                else
                    objs[d / 8] &= (unsigned char)~(1u << (d % 8));
                d++;
                int n = jc_peek(c);
                if (n < 0)
                    return jc_end(c, n);
                if (n == (b == '{' ? '}' : ']')) {
                    c->i++;
                    c->depth--;
                    d--;
                    want_value = false;
                } else if (b == '{' && (jc_string(c, NULL) != 0 || jc_expect(c, ':') != 0)) {
                    return -1;
                }
                if (!want_value && d == 0)
                    return 0;
                continue;
            }
            if (b == '"') {
                if (jc_string(c, NULL) != 0)
                    return -1;
            } else if (b == '-' || (b >= '0' && b <= '9')) {
                double v;
                if (jc_number(c, &v) != 0)
                    return -1;
            } else {
                static const char *const lits[] = { "true", "false", "null" };
                const char *lit = b == 't' ? lits[0] : b == 'f' ? lits[1] : b == 'n' ? lits[2] : NULL;
                if (!lit) {
                    c->i++;
                    return jc_invalid(c, b);
                }
                for (const char *q = lit; *q; q++) {
                    int x = jc_byte(c);
                    if (x < 0)
                        return jc_end(c, x);
                    if (x != *q)
                        return jc_invalid(c, x);
                }
            }
            want_value = false;
            if (d == 0)
                return 0;
            continue;
        }
        /* after a value inside a container */
        bool obj = objs[(d - 1) / 8] >> ((d - 1) % 8) & 1;
        c->i++;
        if (b == ',') {
            if (obj && (jc_string(c, NULL) != 0 || jc_expect(c, ':') != 0))
                return -1;
            want_value = true;
        } else if (b == (obj ? '}' : ']')) {
            c->depth--;
            if (--d == 0)
                return 0;
        } else {
            return jc_invalid(c, b);
        }
    }
}

/* In an object (after '{'): 1 and the next key read with its ':', 0 at
 * the closing '}', -1 on error. */
static int jc_key(struct jcur *c, bool *first, struct sbuf *key)
{
    int b = jc_peek(c);
    if (b < 0)
        return jc_end(c, b);
    if (b == '}' && *first) {
        c->i++;
        c->depth--;
        return 0;
    }
    if (!*first) {
        c->i++;
        if (b == '}') {
            c->depth--;
            return 0;
        }
        if (b != ',')
            return jc_invalid(c, b);
    }
    *first = false;
    if (jc_string(c, key) != 0 || jc_expect(c, ':') != 0)
        return -1;
    return 1;
}

/* In an array (after '['): 1 if an element follows, 0 at the closing ']'. */
static int jc_item(struct jcur *c, bool *first)
{
    int b = jc_peek(c);
    if (b < 0)
        return jc_end(c, b);
    if (b == ']') {
        c->i++;
        c->depth--;
        return 0;
    }
    if (!*first) {
        c->i++;
        if (b != ',')
            return jc_invalid(c, b);
    }
    *first = false;
    return 1;
}

/* A string value, or *is_string false and the value skipped. */
static int jc_string_or_skip(struct jcur *c, struct sbuf *o, bool *is_string)
{
    int b = jc_peek(c);
    if (b < 0)
        return jc_end(c, b);
    *is_string = b == '"';
    return *is_string ? jc_string(c, o) : jc_skip(c);
}

static int jc_number_or_skip(struct jcur *c, double *v, bool *is_number)
{
    int b = jc_peek(c);
    if (b < 0)
        return jc_end(c, b);
    *is_number = b == '-' || (b >= '0' && b <= '9');
    return *is_number ? jc_number(c, v) : jc_skip(c);
}

static double unit_scale(const char *unit)
{
    return !unit || strcmp(unit, "none") == 0 ? 0 : strcmp(unit, "milliseconds") == 0 ? 1e-3
           : strcmp(unit, "microseconds") == 0 ? 1e-6 : strcmp(unit, "nanoseconds") == 0 ? 1e-9 : 1;
}

struct ss_profile {
    uint64_t samples_at, weights_at;   /* document offsets of the arrays' '[' */
    size_t nsamples, nweights;
    bool has_samples, has_weights;
    double scale;                      /* seconds per weight unit, 0: counts */
    char thread[64];
    int tid;
    bool task;                         /* ours: "task wall time: NAME (TID)" */
};

struct ss_state {
    struct jcur c;
    struct sbuf key, str;
    uint32_t *fmap;
    size_t nf, fcap;
    struct ss_profile *profs;
    size_t np, pcap;
    double unit_w, longest;
    double meta_duration;              /* ours with a task view: "spyagent":{"duration","rate"} */
    int meta_rate;
    bool timed, has_frames, has_profiles, bad_schema, has_meta;
};

static int ss_frame(struct ss_state *st, struct builder *b, size_t index)
{
    struct jcur *c = &st->c;
    struct sbuf name = { 0 }, file = { 0 };
    bool has_name = false, has_file = false, first = true, is;
    double line = 0;
    bool has_line = false;
    int rc = -1, k;

    if (st->nf == st->fcap) {
        size_t cap = st->fcap ? st->fcap * 2 : 1024;
        uint32_t *nm = realloc(st->fmap, cap * sizeof(*nm));
        if (!nm) {
            spy_read_fail(c->r, "out of memory");
            goto out;
        }
        st->fmap = nm;
        st->fcap = cap;
    }
    k = jc_peek(c);
    if (k < 0) {
        jc_end(c, k);
        goto out;
    }
    if (k != '{') {
        if (jc_skip(c) == 0)
            spy_read_fail(c->r, "shared.frames[%zu] has no \"name\": expected a speedscope profile", index);
        goto out;
    }
    c->i++;
    c->depth++;
    while ((k = jc_key(c, &first, &st->key)) == 1) {
        if (strcmp(st->key.s, "name") == 0) {
            if (jc_string_or_skip(c, &name, &is) != 0)
                goto out;
            has_name = is;
        } else if (strcmp(st->key.s, "file") == 0) {
            if (jc_string_or_skip(c, &file, &is) != 0)
                goto out;
            has_file = is;
        } else if (strcmp(st->key.s, "line") == 0) {
            if (jc_number_or_skip(c, &line, &has_line) != 0)
                goto out;
        } else if (jc_skip(c) != 0) {
            goto out;
        }
    }
    if (k < 0)
        goto out;
    if (!has_name) {
        spy_read_fail(c->r, "shared.frames[%zu] has no \"name\": expected a speedscope profile", index);
        goto out;
    }
    uint32_t id;
    size_t nl = name.len;
    if (has_file) {
        /* ours: "fn (file:line)" with file and line also apart */
        char tail[64];
        int ln = !has_line ? 0 : line >= INT_MAX ? INT_MAX : line <= INT_MIN ? INT_MIN : (int)line;
        int w = snprintf(tail, sizeof(tail), ":%d)", ln);
        size_t fl = file.len;
        if (w > 0 && nl > fl + (size_t)w + 2 && strcmp(name.s + nl - (size_t)w, tail) == 0
            && memcmp(name.s + nl - (size_t)w - fl, file.s, fl) == 0
            && memcmp(name.s + nl - (size_t)w - fl - 2, " (", 2) == 0)
            nl -= fl + (size_t)w + 2;
        id = spy_read_add_frame(b, name.s, nl, file.s, fl, ln);
    } else {
        id = spy_read_label_frame(b, name.s, nl);
    }
    if (id == NONE) {
        spy_read_fail(c->r, "out of memory");
        goto out;
    }
    st->fmap[st->nf++] = id;
    rc = 0;
out:
    free(name.s);
    free(file.s);
    return rc;
}

static int ss_shared(struct ss_state *st, struct builder *b)
{
    struct jcur *c = &st->c;
    bool first = true;
    int k = jc_peek(c);
    if (k < 0)
        return jc_end(c, k);
    if (k != '{')
        return jc_skip(c);
    c->i++;
    c->depth++;
    while ((k = jc_key(c, &first, &st->key)) == 1) {
        if (strcmp(st->key.s, "frames") != 0 || st->has_frames) {
            if (jc_skip(c) != 0)
                return -1;
            continue;
        }
        int a = jc_peek(c);
        if (a < 0)
            return jc_end(c, a);
        if (a != '[') {
            if (jc_skip(c) != 0)
                return -1;
            continue;
        }
        st->has_frames = true;
        c->i++;
        c->depth++;
        bool ffirst = true;
        int more;
        while ((more = jc_item(c, &ffirst)) == 1)
            if (ss_frame(st, b, st->nf) != 0)
                return -1;
        if (more < 0)
            return -1;
    }
    return k < 0 ? -1 : 0;
}

/* The array at the cursor: its offset and length; samples must be arrays
 * of numbers, weights non-negative numbers (their smallest positive one
 * in *minw). */
static int ss_scan(struct ss_state *st, size_t pi, bool weights, uint64_t *at, size_t *n, double *minw)
{
    struct jcur *c = &st->c;
    bool first = true;
    int k = jc_peek(c);
    if (k < 0)
        return jc_end(c, k);
    if (k != '[') {
        if (jc_skip(c) == 0)
            spy_read_fail(c->r, "profiles[%zu]: \"samples\" and \"weights\" must be arrays of the same length", pi);
        return -1;
    }
    *at = jc_pos(c);
    c->i++;
    c->depth++;
    *n = 0;
    while ((k = jc_item(c, &first)) == 1) {
        int v = jc_peek(c);
        if (v < 0)
            return jc_end(c, v);
        if (weights) {
            double w;
            bool num;
            if (jc_number_or_skip(c, &w, &num) != 0)
                return -1;
            if (!num || w < 0)
                return spy_read_fail(c->r, "profiles[%zu].weights[%zu] is not a non-negative number", pi, *n);
            if (w > 0 && (*minw == 0 || w < *minw))
                *minw = w;
        } else {
            if (v != '[') {
                if (jc_skip(c) == 0)
                    spy_read_fail(c->r, "profiles[%zu].samples[%zu] is not an array of frame indices", pi, *n);
                return -1;
            }
            if (jc_skip(c) != 0)
                return -1;
        }
        (*n)++;
    }
    return k < 0 ? -1 : 0;
}

static int ss_profile(struct ss_state *st, size_t pi)
{
    struct jcur *c = &st->c;
    struct ss_profile pr = { .tid = (int)pi };
    struct sbuf type = { 0 }, unit = { 0 }, name = { 0 };
    bool has_type = false, has_unit = false, has_name = false, first = true, is;
    double sv = 0, ev = 0, minw = 0;
    bool has_sv = false, has_ev = false;
    int k, rc = -1;

    k = jc_peek(c);
    if (k < 0) {
        jc_end(c, k);
        goto out;
    }
    if (k != '{') {
        if (jc_skip(c) == 0)
            spy_read_fail(c->r, "profiles[%zu] is of type \"?\": only \"sampled\" speedscope profiles can be read", pi);
        goto out;
    }
    c->i++;
    c->depth++;
    while ((k = jc_key(c, &first, &st->key)) == 1) {
        const char *key = st->key.s;
        if (strcmp(key, "type") == 0)
            k = jc_string_or_skip(c, &type, &has_type);
        else if (strcmp(key, "unit") == 0)
            k = jc_string_or_skip(c, &unit, &has_unit);
        else if (strcmp(key, "name") == 0)
            k = jc_string_or_skip(c, &name, &has_name);
        else if (strcmp(key, "startValue") == 0)
            k = jc_number_or_skip(c, &sv, &has_sv);
        else if (strcmp(key, "endValue") == 0)
            k = jc_number_or_skip(c, &ev, &has_ev);
        else if (strcmp(key, "samples") == 0 && !pr.has_samples) {
            k = ss_scan(st, pi, false, &pr.samples_at, &pr.nsamples, NULL);
            pr.has_samples = true;
        } else if (strcmp(key, "weights") == 0 && !pr.has_weights) {
            k = ss_scan(st, pi, true, &pr.weights_at, &pr.nweights, &minw);
            pr.has_weights = true;
        } else
            k = jc_skip(c);
        if (k != 0)
            goto out;
    }
    if (k < 0)
        goto out;
    (void)is;
    if (!has_type || strcmp(type.s, "sampled") != 0) {
        spy_read_fail(c->r, "profiles[%zu] is of type \"%.40s\": only \"sampled\" speedscope profiles can be read", pi,
             has_type ? type.s : "?");
        goto out;
    }
    if (!pr.has_samples || (pr.has_weights && pr.nweights != pr.nsamples)) {
        spy_read_fail(c->r, "profiles[%zu]: \"samples\" and \"weights\" must be arrays of the same length", pi);
        goto out;
    }
    pr.scale = unit_scale(has_unit ? unit.s : NULL);
    /* our task view: weights are milliseconds of task wall time, not
     * samples, so they say nothing of the rate or the span */
    static const char task_prefix[] = "task wall time: ";
    pr.task = has_name && strncmp(name.s, task_prefix, sizeof(task_prefix) - 1) == 0;
    if (pr.scale > 0 && pr.has_weights && !pr.task) {
        st->timed = true;
        if (minw > 0 && (st->unit_w == 0 || minw * pr.scale < st->unit_w))
            st->unit_w = minw * pr.scale;
    }
    if (pr.scale > 0 && has_sv && has_ev && !pr.task && (ev - sv) * pr.scale > st->longest)
        st->longest = (ev - sv) * pr.scale;
    /* thread: ours "NAME (TID)"; otherwise the whole name */
    const char *tn = has_name ? name.s + (pr.task ? sizeof(task_prefix) - 1 : 0) : "?";
    size_t tl = strlen(tn);
    if (tl > 3 && tn[tl - 1] == ')') {
        const char *open = strrchr(tn, '(');
        if (open && open > tn + 1 && open[-1] == ' ' && all_digits(open + 1, (size_t)(tn + tl - 2 - open))) {
            pr.tid = atoi(open + 1);
            tl = (size_t)(open - 1 - tn);
        }
    }
    snprintf(pr.thread, sizeof(pr.thread), "%.*s", (int)(tl < 63 ? tl : 63), tn);
    if (st->np == st->pcap) {
        size_t cap = st->pcap ? st->pcap * 2 : 16;
        struct ss_profile *np = realloc(st->profs, cap * sizeof(*np));
        if (!np) {
            spy_read_fail(c->r, "out of memory");
            goto out;
        }
        st->profs = np;
        st->pcap = cap;
    }
    st->profs[st->np++] = pr;
    rc = 0;
out:
    free(type.s);
    free(unit.s);
    free(name.s);
    return rc;
}

/* Ours with a task view: "spyagent":{"duration":S,"rate":HZ}, the span
 * the file covers; other members skipped, bad values ignored. */
static int ss_meta(struct ss_state *st)
{
    struct jcur *c = &st->c;
    bool first = true, is;
    double v;
    int k = jc_peek(c);
    if (k < 0)
        return jc_end(c, k);
    if (k != '{')
        return jc_skip(c);
    c->i++;
    c->depth++;
    while ((k = jc_key(c, &first, &st->key)) == 1) {
        bool duration = strcmp(st->key.s, "duration") == 0, rate = strcmp(st->key.s, "rate") == 0;
        if (!duration && !rate) {
            if (jc_skip(c) != 0)
                return -1;
            continue;
        }
        if (jc_number_or_skip(c, &v, &is) != 0)
            return -1;
        if (is && duration && v > 0 && v <= SS_MAX_DURATION) {
            st->meta_duration = v;
            st->has_meta = true;
        } else if (is && rate && v >= 1 && v <= SS_MAX_RATE) {
            st->meta_rate = (int)(v + 0.5);
        }
    }
    return k < 0 ? -1 : 0;
}

/* Pass 1: the top-level object. */
static int ss_structure(struct ss_state *st, struct builder *b, const char **format)
{
    struct jcur *c = &st->c;
    bool first = true, is;
    int k;
    if (jc_expect(c, '{') != 0)
        return -1;
    while ((k = jc_key(c, &first, &st->key)) == 1) {
        if (strcmp(st->key.s, "$schema") == 0) {
            if (jc_string_or_skip(c, &st->str, &is) != 0)
                return -1;
            if (is && !strstr(st->str.s, "speedscope"))
                st->bad_schema = true;
        } else if (strcmp(st->key.s, "exporter") == 0) {
            if (jc_string_or_skip(c, &st->str, &is) != 0)
                return -1;
            if (is)
                *format = strncmp(st->str.s, "spyagent", 8) == 0 ? "speedscope"
                          : strstr(st->str.s, "py-spy") ? "py-spy speedscope" : "speedscope";
        } else if (strcmp(st->key.s, "name") == 0) {
            if (jc_string_or_skip(c, &st->str, &is) != 0)
                return -1;
            if (is)
                snprintf(spy_read_profile(b)->program, sizeof(spy_read_profile(b)->program), "%s", st->str.s);
        } else if (strcmp(st->key.s, "shared") == 0) {
            if (ss_shared(st, b) != 0)
                return -1;
        } else if (strcmp(st->key.s, "spyagent") == 0) {
            if (ss_meta(st) != 0)
                return -1;
        } else if (strcmp(st->key.s, "profiles") == 0 && !st->has_profiles) {
            int a = jc_peek(c);
            if (a < 0)
                return jc_end(c, a);
            if (a != '[') {
                if (jc_skip(c) != 0)
                    return -1;
                continue;
            }
            st->has_profiles = true;
            c->i++;
            c->depth++;
            bool pfirst = true;
            int more;
            while ((more = jc_item(c, &pfirst)) == 1)
                if (ss_profile(st, st->np) != 0)
                    return -1;
            if (more < 0)
                return -1;
        } else if (jc_skip(c) != 0) {
            return -1;
        }
    }
    if (k < 0)
        return -1;
    if (!st->has_frames || !st->has_profiles || st->bad_schema)
        return spy_read_fail(c->r, "JSON, but not a speedscope profile: expected \"shared\":{\"frames\":[...]} and "
                          "\"profiles\":[...]");
    return 0;
}

/* Pass 2: every profile's samples, with their weights. */
static int ss_samples(struct ss_state *st, struct builder *b, struct jcur *w)
{
    struct jcur *c = &st->c;
    uint32_t *ids = NULL;
    size_t ids_cap = 0;
    int rc = -1;

    for (size_t pi = 0; pi < st->np; pi++) {
        const struct ss_profile *pr = &st->profs[pi];
        uint32_t thread = spy_read_add_thread(b, pr->thread, strlen(pr->thread), pr->tid);
        if (thread == NONE) {
            spy_read_fail(c->r, "out of memory");
            goto out;
        }
        bool sfirst = true, wfirst = true;
        jc_seek(c, pr->samples_at);
        if (jc_expect(c, '[') != 0)
            goto out;
        if (pr->has_weights) {
            jc_seek(w, pr->weights_at);
            if (jc_expect(w, '[') != 0)
                goto out;
        }
        for (size_t k = 0; k < pr->nsamples; k++) {
            uint64_t count = 1;
            if (pr->has_weights) {
                double x;
                int more = jc_item(w, &wfirst);
                if (more == 0)
                    spy_read_fail(c->r, "profiles[%zu]: fewer weights than samples", pi);
                if (more != 1 || jc_number(w, &x) != 0)
                    goto out;
                double n = pr->task ? (pr->scale > 0 ? x * pr->scale * 1e3 : x) + 0.5
                           : pr->scale > 0 && st->unit_w > 0 ? x * pr->scale / st->unit_w + 0.5 : x + 0.5;
                if (!(n < 1e15)) {
                    spy_read_fail(c->r, "profiles[%zu].weights[%zu] is %g: more than 10^15 samples (the weights do not look "
                         "like sample counts or times)", pi, k, x);
                    goto out;
                }
                count = (uint64_t)n;
            }
            int item = jc_item(c, &sfirst);
            if (item == 0)
                spy_read_fail(c->r, "profiles[%zu]: fewer samples than counted", pi);
            if (item != 1 || jc_expect(c, '[') != 0)
                goto out;
            bool ffirst = true;
            size_t depth = 0;
            int more;
            while ((more = jc_item(c, &ffirst)) == 1) {
                double fi;
                bool num;
                if (jc_number_or_skip(c, &fi, &num) != 0)
                    goto out;
                if (!num || fi < 0 || fi >= (double)st->nf) {
                    spy_read_fail(c->r, "profiles[%zu].samples[%zu] refers to a frame that shared.frames does not have", pi, k);
                    goto out;
                }
                if (depth == ids_cap) {
                    size_t cap = ids_cap ? ids_cap * 2 : 256;
                    if (cap > UINT32_MAX / 2) {
                        spy_read_fail(c->r, "profiles[%zu].samples[%zu] is too deep", pi, k);
                        goto out;
                    }
                    uint32_t *ni = realloc(ids, cap * sizeof(*ni));
                    if (!ni) {
                        spy_read_fail(c->r, "out of memory");
                        goto out;
                    }
                    ids = ni;
                    ids_cap = cap;
                }
                ids[depth++] = st->fmap[(size_t)fi];
            }
            if (more < 0)
                goto out;
            /* outermost first in the file */
            for (size_t i = 0, j = depth; i + 1 < j; i++, j--) {
                uint32_t t = ids[i];
                ids[i] = ids[j - 1];
                ids[j - 1] = t;
            }
            if (spy_read_add_sample(b, thread, ids, (uint32_t)depth, count) != 0) {
                spy_read_fail(c->r, "out of memory");
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(ids);
    return rc;
}

/* The document is at `start` in fd (a regular file), or in memory. */
int spy_read_speedscope(struct reader *r, struct builder *b, int fd, uint64_t start, const char *mem,
                           size_t memlen, const char **format)
{
    struct ss_state st = { 0 };
    struct jcur w = { 0 };
    int rc = -1;

    st.c.r = w.r = r;
    st.c.fd = w.fd = fd;
    st.c.start = w.start = start;
    if (fd >= 0) {
        st.c.buf = malloc(SS_WINDOW);
        w.buf = malloc(SS_WINDOW);
        if (!st.c.buf || !w.buf) {
            spy_read_fail(r, "out of memory");
            goto cleanup;
        }
    } else {
        st.c.buf = w.buf = (char *)mem;
        st.c.len = w.len = memlen;
        st.c.eof = w.eof = true;
    }
    *format = "speedscope";
    if (ss_structure(&st, b, format) != 0 || ss_samples(&st, b, &w) != 0)
        goto cleanup;
    if (st.timed && st.unit_w > 0) {
        double rate = 1.0 / st.unit_w;
        spy_read_profile(b)->rate = rate >= 1 && rate <= SS_MAX_RATE ? (int)(rate + 0.5) : 0;
        spy_read_profile(b)->duration = st.longest > 0 && st.longest <= SS_MAX_DURATION ? st.longest : 0;
    } else if (st.has_meta) {
        spy_read_profile(b)->rate = st.meta_rate;
        spy_read_profile(b)->duration = st.meta_duration;
    }
    rc = 0;

cleanup:
    if (fd >= 0) {
        free(st.c.buf);
        free(w.buf);
    }
    free(st.key.s);
    free(st.str.s);
    free(st.fmap);
    free(st.profs);
    return rc;
}
