/*
 * reader.c — reads CPython 3.9–3.13 thread and frame state without the GIL,
 * from offset tables rather than from Python headers.
 *
 * One implementation for every version: each field is fetched at the offset
 * the version's struct spy_offsets gives (offsets_3_<minor>.h, generated
 * from CPython's own headers by offsets_gen.c and checked in).  What is not
 * an offset is a small branch on the minor version in one place: the frame
 * chain (frame objects before 3.11, interpreter frames after; the C frame
 * in between on 3.11/3.12), the three line-table formats, the dict-keys
 * layout before 3.11 and how managed dicts are found on 3.11/3.12/3.13.
 * On 3.13 attach() validates the running interpreter's own _Py_DebugOffsets
 * and uses it where it differs from the table.  attach() then checks what
 * the offsets read against CPython's exported debugger functions, known type
 * pointers and a walk of every thread before the first sample.
 *
 * Invariants:
 *  - every byte of interpreter memory is read through spy_memread into a
 *    local buffer; pointers found in buffers are only ever passed back to
 *    spy_memread, never dereferenced (the exported functions attach() calls
 *    are given only pointers it has just read successfully);
 *  - every walk is bounded (threads, frames, string and table sizes) and
 *    cycles are cut by those bounds;
 *  - a read that fails or does not hold together is counted as torn and the
 *    thread (or frame) is dropped, never reported;
 *  - the tables are only changed by attach(), before any walk.
 *
 * Threads: attach() runs on the sampler thread; walk() on the sampler thread
 * and on spy_dump() callers, with caller-owned buffers; the rest is pure.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"
#include "offsets.h"
#include "offsets_3_9.h"
#include "offsets_3_10.h"
#include "offsets_3_11.h"
#include "offsets_3_12.h"
#include "offsets_3_13.h"
#include "../memread.h"

#define MAX_LINETABLE (256 * 1024)
#define MAX_DICT_ENTRIES 128     /* entries read at a time */
#define MAX_DICT_SCAN 16384       /* entries looked at in one dict at most */
#define MAX_CHUNK_COPY (256 * 1024)
#define BUF_TSTATE 1024        /* the part of a thread state read */
#define BUF_TYPE 1024          /* the part of a type object read */
#define BUF_SMALL 128          /* frame heads, str and dict-keys headers, GIL */

static int rd(void *dst, uint64_t addr, size_t len)
{
    if (addr == 0)
        return -1;
    return spy_memread(dst, addr, len);
}

static inline uint64_t u64_at(const void *buf, int32_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline int64_t i64_at(const void *buf, int32_t off)
{
    int64_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline uint32_t u32_at(const void *buf, int32_t off)
{
    uint32_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline int32_t i32_at(const void *buf, int32_t off)
{
    int32_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline uint8_t u8_at(const void *buf, int32_t off)
{
    return ((const uint8_t *)buf)[off];
}

static uint64_t read_u64(uint64_t addr, int *ok)
{
    uint64_t v = 0;
    *ok = rd(&v, addr, sizeof(v)) == 0;
    return v;
}

#define MAX2(a, b) ((a) > (b) ? (a) : (b))

/* ---- the tables in this build ----------------------------------------- */

static const struct spy_offsets tables[] = {
    SPY_OFFSETS_3_9, SPY_OFFSETS_3_10, SPY_OFFSETS_3_11, SPY_OFFSETS_3_12, SPY_OFFSETS_3_13,
};

const struct spy_offsets *spy_offsets_for(int major, int minor)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (tables[i].major == major && tables[i].minor == minor)
            return &tables[i];
    return NULL;
}

/* ---- strings ---------------------------------------------------------- */

static size_t put_utf8(char *out, size_t pos, size_t cap, uint32_t c)
{
    char buf[4];
    size_t n;
    if (c < 0x80) { buf[0] = (char)c; n = 1; }
    else if (c < 0x800) { buf[0] = (char)(0xC0 | (c >> 6)); buf[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) {
        if (c >= 0xD800 && c <= 0xDFFF)
            c = 0xFFFD;
        buf[0] = (char)(0xE0 | (c >> 12)); buf[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (c & 0x3F)); n = 3;
    } else if (c < 0x110000) {
        buf[0] = (char)(0xF0 | (c >> 18)); buf[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        buf[2] = (char)(0x80 | ((c >> 6) & 0x3F)); buf[3] = (char)(0x80 | (c & 0x3F)); n = 4;
    } else {
        return put_utf8(out, pos, cap, 0xFFFD);
    }
    if (pos + n >= cap)
        return pos;
    memcpy(out + pos, buf, n);
    return pos + n;
}

/* Copy a str object's text as UTF-8 into out (always NUL-terminated). */
int spy_read_str(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t addr,
                    char *out, size_t cap)
{
    unsigned char hdr[BUF_SMALL];
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (rd(hdr, addr, (size_t)o->uni_compact_size) != 0)
        return -1;
    if (u64_at(hdr, o->ob_type) != ip->unicode_type)
        return -1;
    uint32_t state = u32_at(hdr, o->uni_state);
    if (!(state & o->uni_compact_bit))
        return -1;
    int64_t length = i64_at(hdr, o->uni_length);
    if (length < 0 || length > (1 << 24))
        return -1;
    unsigned kind = (state & o->uni_kind_mask) >> o->uni_kind_shift;
    if (kind != 1 && kind != 2 && kind != 4)
        return -1;
    uint64_t data = addr + (uint64_t)((state & o->uni_ascii_bit) ? o->uni_ascii_size : o->uni_compact_size);
    size_t want = (size_t)length;
    if (want > cap - 1)
        want = cap - 1;                 /* never more characters than bytes of room */
    uint8_t raw[SPY_MAX_STR * 4];
    if (want * kind > sizeof(raw))
        want = sizeof(raw) / kind;
    if (want > 0 && rd(raw, data, want * kind) != 0)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < want; i++) {
        uint32_t c;
        if (kind == 1) c = raw[i];
        else if (kind == 2) { uint16_t v; memcpy(&v, raw + 2 * i, 2); c = v; }
        else { uint32_t v; memcpy(&v, raw + 4 * i, 4); c = v; }
        size_t next = put_utf8(out, pos, cap, c);
        if (next == pos)
            break;
        pos = next;
    }
    out[pos] = '\0';
    return 0;
}

/* Address and length of a bytes object's payload. */
static int bytes_payload(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t addr,
                         uint64_t *data, uint32_t *len)
{
    unsigned char hdr[BUF_SMALL];
    if (rd(hdr, addr, (size_t)MAX2(o->ob_type, o->ob_size) + 8) != 0)
        return -1;
    if (u64_at(hdr, o->ob_type) != ip->bytes_type)
        return -1;
    int64_t size = i64_at(hdr, o->ob_size);
    if (size < 0 || size > MAX_LINETABLE)
        return -1;
    *data = addr + (uint64_t)o->bytes_sval;
    *len = (uint32_t)size;
    return 0;
}

/* ---- code objects ----------------------------------------------------- */

static void fingerprint(const struct spy_offsets *o, const void *header, struct spy_code_fingerprint *fp)
{
    fp->type = u64_at(header, o->ob_type);
    fp->name = u64_at(header, o->co_name);
    fp->file = u64_at(header, o->co_filename);
    fp->linetable = u64_at(header, o->co_linetable);
    fp->firstlineno = i32_at(header, o->co_firstlineno);
}

static int read_code(const struct spy_offsets *o, size_t header_size, const struct spy_interp *ip,
                     uint64_t code, struct spy_code_info *out)
{
    unsigned char raw[512];
    if (header_size > sizeof(raw) || rd(raw, code, header_size) != 0)
        return -1;
    struct spy_code_fingerprint fp;
    fingerprint(o, raw, &fp);
    if (fp.type != ip->code_type)
        return -1;
    if (spy_read_str(o, ip, fp.name, out->name, sizeof(out->name)) != 0)
        return -1;
    if (spy_read_str(o, ip, fp.file, out->file, sizeof(out->file)) != 0)
        return -1;
    out->firstlineno = (int32_t)fp.firstlineno;
    if (bytes_payload(o, ip, fp.linetable, &out->linetable, &out->linetable_len) != 0) {
        out->linetable = 0;
        out->linetable_len = 0;
    }
    return 0;
}

/* ---- line tables -------------------------------------------------------- */

/* line += delta unless that leaves int: tables and first lines read from
 * memory may be torn (found by tests/fuzz). */
static bool line_add(int *line, int32_t delta)
{
    int64_t l = (int64_t)*line + delta;
    if (l < INT_MIN || l > INT_MAX)
        return false;
    *line = (int)l;
    return true;
}

/* 3.9 co_lnotab: pairs (byte offset increment, signed line increment). */
static int line_for_lnotab(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    int line = firstlineno;
    int32_t addr = 0;
    if (offset < 0)
        return firstlineno;
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += t[i];
        if (addr > offset)
            break;
        if (!line_add(&line, (int8_t)t[i + 1]))
            return -1;
    }
    return line;
}

/* 3.10 PEP 626 table: pairs (byte length, signed line delta; -128 = no line). */
static int line_for_pep626(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    int line = firstlineno;
    int32_t start = 0;
    if (offset < 0)
        return firstlineno;
    for (size_t i = 0; i + 1 < len; i += 2) {
        int32_t end = start + t[i];
        int8_t delta = (int8_t)t[i + 1];
        if (delta != -128 && !line_add(&line, delta))
            return -1;
        if (offset >= start && offset < end)
            return delta == -128 ? -1 : line;
        start = end;
    }
    return -1;
}

/* 3.11+ location table: entries of (code units, line info), varint coded. */
static int read_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
    uint32_t val = 0;
    int shift = 0;
    while (*i < len && shift < 32) {
        uint8_t b = t[(*i)++];
        val |= (uint32_t)(b & 63) << shift;
        if (!(b & 64)) {
            *out = val;
            return 0;
        }
        shift += 6;
    }
    return -1;
}

static int read_svarint(const uint8_t *t, size_t len, size_t *i, int32_t *out)
{
    uint32_t v;
    if (read_varint(t, len, i, &v) != 0)
        return -1;
    *out = (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
    return 0;
}

static int line_for_locations(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    int line = firstlineno;
    int32_t addr = 0;           /* in bytes */
    size_t i = 0;
    if (offset < 0)
        return firstlineno;
    while (i < len) {
        uint8_t first = t[i++];
        if (!(first & 128))
            return -1;                      /* not an entry start: corrupt */
        int code = (first >> 3) & 15;
        int32_t end = addr + ((first & 7) + 1) * 2;
        int has_line = 1;
        int32_t delta = 0;
        uint32_t skip;
        switch (code) {
        case 15: has_line = 0; break;                               /* no location */
        case 14:                                                    /* long form */
            if (read_svarint(t, len, &i, &delta) != 0) return -1;
            for (int k = 0; k < 3; k++)
                if (read_varint(t, len, &i, &skip) != 0) return -1;
            break;
        case 13:                                                    /* no column */
            if (read_svarint(t, len, &i, &delta) != 0) return -1;
            break;
        case 10: case 11: case 12:                                  /* one-line forms */
            delta = code - 10;
            i += 2;
            break;
        default:                                                    /* short form */
            i += 1;
            break;
        }
        if (has_line && !line_add(&line, delta))
            return -1;
        if (offset >= addr && offset < end)
            return has_line ? line : -1;
        addr = end;
    }
    return -1;
}

static int line_for(int minor, const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    if (minor == 9)
        return line_for_lnotab(t, len, firstlineno, offset);
    if (minor == 10)
        return line_for_pep626(t, len, firstlineno, offset);
    return line_for_locations(t, len, firstlineno, offset);
}

/* ---- threads and frames ---------------------------------------------- */

/* Frame objects (3.9/3.10): follow f_back, reading only each frame's head. */
static void walk_frame_objects(const struct spy_offsets *o, const void *ts, struct spy_raw_thread *t,
                               struct spy_walk_stats *st)
{
    uint64_t f = u64_at(ts, o->ts_frame);
    uint64_t outermost_local0 = 0;
    size_t head = (size_t)o->fo_lasti + 4;
    int depth = 0;
    while (f != 0) {
        if (depth >= SPY_MAX_DEPTH) {
            t->truncated = true;
            break;
        }
        /* only the head of the frame: back, code, generator, last instruction */
        unsigned char fo[BUF_SMALL];
        if (rd(fo, f, head) != 0) {
            st->torn++;
            t->truncated = true;
            break;
        }
        struct spy_raw_frame *rf = &t->frames[depth++];
        rf->code = u64_at(fo, o->fo_code);
        /* f_lasti is read from a frame that may be changing or freed: bound
         * it before any arithmetic */
        int32_t lasti = i32_at(fo, o->fo_lasti);
        rf->offset = lasti < 0 || lasti > INT32_MAX / o->lasti_unit ? -1 : lasti * o->lasti_unit;
        uint64_t here = f;
        f = u64_at(fo, o->fo_back);
        if (f == 0 && rd(&outermost_local0, here + (uint64_t)o->fo_localsplus, sizeof(uint64_t)) != 0)
            outermost_local0 = 0;   /* the first local of the outermost frame: threading's Thread */
        if (f == 0 && u64_at(fo, o->fo_gen) != 0) {
            /* A running generator always has a caller; one without is
             * suspended, so it was not on this stack when the walk began:
             * the generator yielded while we read. */
            st->torn++;
            t->truncated = true;
        }
    }
    t->depth = (uint16_t)depth;
    t->thread_obj = t->truncated ? 0 : outermost_local0;
}

/* A thread's interpreter frames (3.11+) live mostly in its datastack
 * chunks: copy the used part of a chunk once and follow pointers in the
 * copy.  The current chunk is copied up front; older chunks (deep
 * recursion) when a frame is first found in one; frames elsewhere
 * (generators, coroutines) are read one by one. */
#define MAX_CHUNKS 8

struct chunk_range {
    uint64_t lo, hi;           /* used part of the chunk in the host */
    size_t at;                 /* where its copy starts in data, or SIZE_MAX */
};

struct chunk_copy {
    struct chunk_range r[MAX_CHUNKS];
    int nr;
    bool listed;               /* older chunks enumerated */
    uint64_t older;            /* first older chunk to enumerate */
    size_t used;
    _Alignas(16) unsigned char data[MAX_CHUNK_COPY];
};
_Static_assert(sizeof(struct chunk_copy) <= SPY_WALK_SCRATCH, "scratch too small");

static void copy_range(struct chunk_copy *cc, struct chunk_range *r)
{
    size_t len = (size_t)(r->hi - r->lo);
    r->at = SIZE_MAX;
    if (len == 0 || len > MAX_CHUNK_COPY - cc->used)
        return;
    if (rd(cc->data + cc->used, r->lo, len) != 0)
        return;
    r->at = cc->used;
    cc->used += (len + 15) & ~(size_t)15;
    if (cc->used > MAX_CHUNK_COPY)
        cc->used = MAX_CHUNK_COPY;
}

static void copy_chunk(const struct spy_offsets *o, const void *ts, struct chunk_copy *cc)
{
    cc->nr = 0;
    cc->used = 0;
    cc->listed = false;
    cc->older = 0;
    uint64_t chunk = u64_at(ts, o->ts_datastack_chunk);
    uint64_t top = u64_at(ts, o->ts_datastack_top);
    if (chunk == 0 || top == 0)
        return;
    unsigned char head[BUF_SMALL];
    if (rd(head, chunk, (size_t)o->chunk_data) != 0)
        return;
    uint64_t lo = chunk + (uint64_t)o->chunk_data;
    cc->older = u64_at(head, o->chunk_previous);
    if (top <= lo || top - lo > u64_at(head, o->chunk_size))
        return;
    struct chunk_range *r = &cc->r[cc->nr++];
    r->lo = lo;
    r->hi = top;
    copy_range(cc, r);
}

/* Read the headers of the older chunks once per walk. */
static void list_older(const struct spy_offsets *o, struct chunk_copy *cc)
{
    cc->listed = true;
    uint64_t chunk = cc->older;
    while (chunk != 0 && cc->nr < MAX_CHUNKS) {
        unsigned char h[BUF_SMALL];
        if (rd(h, chunk, (size_t)o->chunk_data) != 0)
            return;
        uint64_t lo = chunk + (uint64_t)o->chunk_data;
        uint64_t size = u64_at(h, o->chunk_size), top = u64_at(h, o->chunk_top);
        if (top > size / sizeof(uint64_t) || size > (64u << 20))
            return;
        struct chunk_range *r = &cc->r[cc->nr++];
        r->lo = lo;
        r->hi = lo + top * sizeof(uint64_t);
        r->at = SIZE_MAX - 1;  /* not copied yet */
        chunk = u64_at(h, o->chunk_previous);
    }
}

/* The head of an interpreter frame, up to and including localsplus[0]. */
static int read_iframe(const struct spy_offsets *o, struct chunk_copy *cc, uint64_t addr, void *out)
{
    size_t n = (size_t)o->if_localsplus + 8;
    if (cc) {
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < cc->nr; i++) {
                struct chunk_range *r = &cc->r[i];
                if (addr < r->lo || addr >= r->hi || r->hi - addr < n)
                    continue;
                if (r->at == SIZE_MAX - 1)
                    copy_range(cc, r);
                if (r->at == SIZE_MAX)
                    return rd(out, addr, n);
                memcpy(out, cc->data + r->at + (addr - r->lo), n);
                return 0;
            }
            if (cc->listed)
                break;
            list_older(o, cc);
        }
    }
    return rd(out, addr, n);
}

/* The innermost interpreter frame of a thread state (3.11+): 0 if none,
 * -1 if unreadable. */
static int current_iframe(const struct spy_offsets *o, const void *ts, uint64_t *f)
{
    *f = 0;
    uint64_t p = u64_at(ts, o->ts_frame);
    if (o->cframe_current_frame < 0) {
        *f = p;                         /* 3.13: the frame itself */
        return 0;
    }
    if (p == 0)
        return 0;                       /* 3.11/3.12: through the C frame */
    int ok;
    *f = read_u64(p + (uint64_t)o->cframe_current_frame, &ok);
    return ok ? 0 : -1;
}

static void walk_iframes(const struct spy_offsets *o, const void *ts, struct spy_raw_thread *t,
                         struct spy_walk_stats *st, void *scratch)
{
    uint64_t f = 0;
    if (current_iframe(o, ts, &f) != 0)
        f = 0;
    struct chunk_copy *cc = scratch;
    if (cc)
        copy_chunk(o, ts, cc);
    uint64_t outermost_local0 = 0;
    int depth = 0;
    int steps = 0;
    while (f != 0) {
        if (depth >= SPY_MAX_DEPTH || ++steps > 4 * SPY_MAX_DEPTH) {
            t->truncated = true;
            break;
        }
        unsigned char fr[BUF_SMALL];
        if (read_iframe(o, cc, f, fr) != 0) {
            st->torn++;
            t->truncated = true;
            break;
        }
        f = u64_at(fr, o->if_previous);
        int owner = u8_at(fr, o->if_owner);
        if (f == 0 && owner == o->owned_by_generator) {
            /* a suspended generator (no caller): it yielded while we read */
            st->torn++;
            t->truncated = true;
            break;
        }
        if (owner == o->owned_by_cstack)
            continue;
        uint64_t code = u64_at(fr, o->if_code);
        uint64_t start = code + (uint64_t)o->co_code_adaptive;
        uint64_t instr = u64_at(fr, o->if_instr);
        if (instr < start)
            continue;                   /* incomplete frame: not started yet */
        uint64_t off = instr - start;
        struct spy_raw_frame *rf = &t->frames[depth++];
        rf->code = code;
        rf->offset = off > INT32_MAX ? -1 : (int32_t)off;
        outermost_local0 = u64_at(fr, o->if_localsplus);
    }
    t->depth = (uint16_t)depth;
    t->thread_obj = t->truncated ? 0 : outermost_local0;
}

/* The innermost frame's identity: address, code, instruction and caller.
 * One small read (two on 3.11/3.12, where the frame pointer sits in the C
 * frame); only the head of ts is used.  0, or -1 if unreadable. */
static int read_top(const struct spy_offsets *o, const void *ts, uint64_t top[5])
{
    memset(top, 0, 5 * sizeof(top[0]));
    unsigned char fr[BUF_SMALL];
    if (o->fo_code >= 0) {
        uint64_t f = u64_at(ts, o->ts_frame);
        if (f == 0)
            return 0;
        if (rd(fr, f, (size_t)o->fo_lasti + 4) != 0)
            return -1;
        top[0] = f;
        top[1] = u64_at(fr, o->fo_code);
        top[2] = (uint64_t)(int64_t)i32_at(fr, o->fo_lasti);
        top[3] = u64_at(fr, o->fo_back);
        return 0;
    }
    uint64_t f;
    if (current_iframe(o, ts, &f) != 0)
        return -1;
    if (f == 0)
        return 0;
    size_t end = (size_t)MAX2(MAX2(o->if_previous, o->if_instr), o->if_code) + 8;
    if (rd(fr, f, end) != 0)
        return -1;
    top[0] = f;
    top[1] = u64_at(fr, o->if_code);
    top[2] = u64_at(fr, o->if_instr);
    top[3] = u64_at(fr, o->if_previous);
    return 0;
}

static int walk(const struct spy_offsets *o, const struct spy_interp *ip, struct spy_raw_thread *threads,
                int max_threads, struct spy_walk_stats *st, void *scratch)
{
    /* the first interpreter and the GIL's state in one system call */
    uint64_t interp = 0;
    unsigned char g[BUF_SMALL];
    struct spy_memread_req req[2] = {
        { &interp, ip->runtime + (uint64_t)o->rt_interpreters_head, sizeof(interp), 0 },
        { g, ip->gil, (size_t)MAX2(o->gil_locked + 4, o->gil_last_holder + 8), 0 },
    };
    spy_memread_many(req, ip->gil ? 2 : 1);
    if (!req[0].ok || interp == 0)
        return 0;                       /* not initialised yet, or finalised */
    int ok;
    uint64_t ts_addr = read_u64(interp + (uint64_t)o->is_threads_head, &ok);
    if (!ok) {
        st->torn++;
        return -1;
    }
    uint64_t holder = 0;
    int locked = 0;
    if (ip->gil && req[1].ok) {
        holder = u64_at(g, o->gil_last_holder);
        locked = i32_at(g, o->gil_locked);
    }
    /* The head of a thread state: everything up to the frame pointer, which
     * includes the link to the next thread state (checked at attach). */
    size_t head = (size_t)o->ts_frame + 8;
    size_t whole = (size_t)MAX2(MAX2(o->ts_thread_id, o->ts_native_thread_id),
                                MAX2(o->ts_datastack_chunk, o->ts_datastack_top)) + 8;
    if (whole < head)
        whole = head;
    int n = 0;
    while (ts_addr != 0 && n < max_threads) {
        /* First only the head of the thread state (the link to the next one
         * and the frame pointer); the rest only for a thread that moved. */
        unsigned char ts[BUF_TSTATE];
        if (rd(ts, ts_addr, head) != 0) {
            st->torn++;
            break;
        }
        struct spy_raw_thread *t = &threads[n];
        uint64_t top[5];
        bool have_top = read_top(o, ts, top) == 0;
        /* the same thread state as last time, with the same innermost frame:
         * its stack (and its ids) are what we have already */
        bool same_thread = t->tstate == ts_addr;
        bool same = same_thread && have_top && !t->truncated && t->reused < SPY_MAX_REUSE
                    && memcmp(t->top, top, sizeof(top)) == 0;
        if (same) {
            t->unchanged = true;
            t->reused++;
            t->gil = locked > 0 && holder == ts_addr;
            n++;
            ts_addr = u64_at(ts, o->ts_next);
            continue;
        }
        if (whole > head && rd(ts + head, ts_addr + head, whole - head) != 0) {
            st->torn++;
            break;
        }
        uint64_t thread_id = u64_at(ts, o->ts_thread_id);
        same_thread = same_thread && t->thread_id == thread_id;
        t->tstate = ts_addr;
        t->thread_id = thread_id;
        if (o->ts_native_thread_id >= 0) {
            t->native_tid = i32_at(ts, o->ts_native_thread_id);
        } else if (!same_thread || t->native_tid == 0) {
            t->native_tid = 0;
            if (ip->pthread_tid_offset >= 0 && thread_id != 0) {
                int32_t tid = 0;
                if (rd(&tid, thread_id + (uint64_t)ip->pthread_tid_offset, sizeof(tid)) == 0)
                    t->native_tid = tid;
            }
        }
        t->gil = locked > 0 && holder == ts_addr;
        t->unchanged = false;
        t->reused = 0;
        t->truncated = false;
        t->depth = 0;
        t->thread_obj = 0;
        if (o->fo_code >= 0)
            walk_frame_objects(o, ts, t, st);
        else
            walk_iframes(o, ts, t, st, scratch);
        memcpy(t->top, top, sizeof(top));
        if (!have_top)
            t->reused = SPY_MAX_REUSE;  /* nothing to compare with: walk again next time */
        n++;
        ts_addr = u64_at(ts, o->ts_next);
    }
    return n;
}

/* ---- attributes of a threading.Thread --------------------------------- */

static int key_is(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t key, const char *want)
{
    char buf[64];
    if (spy_read_str(o, ip, key, buf, sizeof(buf)) != 0)
        return 0;
    return strcmp(buf, want) == 0;
}

/* Find the entry index of a str key in a keys object; -1 if absent.
 * Sets *value to the entry's own value (combined tables). */
static int keys_lookup(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t keys,
                       const char *want, uint64_t *value)
{
    unsigned char k[BUF_SMALL];
    if (rd(k, keys, (size_t)o->dk_indices) != 0)
        return -1;
    int64_t nentries = i64_at(k, o->dk_nentries);
    uint64_t entries;
    int32_t esize = o->dict_entry_size, ekey = o->dict_entry_key, evalue = o->dict_entry_value;
    if (o->dk_size >= 0) {              /* 3.9/3.10: dk_size, index width from it */
        int64_t size = i64_at(k, o->dk_size);
        if (size <= 0 || size > (1 << 20) || nentries < 0 || nentries > size)
            return -1;
        uint64_t ixsize = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
        entries = keys + (uint64_t)o->dk_indices + (uint64_t)size * ixsize;
    } else {                            /* 3.11+: log2 sizes and a kind */
        unsigned log2_size = u8_at(k, o->dk_log2_size), log2_index = u8_at(k, o->dk_log2_index_bytes);
        if (log2_size > 20 || log2_index > 23 || nentries < 0 || nentries > ((int64_t)1 << log2_size))
            return -1;
        entries = keys + (uint64_t)o->dk_indices + ((uint64_t)1 << log2_index);
        if (u8_at(k, o->dk_kind) != o->dk_kind_general) {
            esize = o->dict_uentry_size;
            ekey = o->dict_uentry_key;
            evalue = o->dict_uentry_value;
        }
    }
    /* entries in chunks: sys.modules and module dicts run to hundreds */
    unsigned char e[MAX_DICT_ENTRIES * 32];
    if (esize <= 0 || esize > 32 || nentries > MAX_DICT_SCAN)
        return -1;
    for (int64_t base = 0; base < nentries; base += MAX_DICT_ENTRIES) {
        int64_t n = nentries - base < MAX_DICT_ENTRIES ? nentries - base : MAX_DICT_ENTRIES;
        if (rd(e, entries + (uint64_t)(base * esize), (size_t)n * (size_t)esize) != 0)
            return -1;
        for (int64_t i = 0; i < n; i++) {
            uint64_t key = u64_at(e, (int32_t)(i * esize + ekey));
            if (key && key_is(o, ip, key, want)) {
                *value = u64_at(e, (int32_t)(i * esize + evalue));
                return (int)(base + i);
            }
        }
    }
    return -1;
}

/* Value at index i of a split table's values array. */
static uint64_t split_value(const struct spy_offsets *o, uint64_t values, int i)
{
    int ok;
    uint64_t v = read_u64(values + (uint64_t)o->dict_values_values + (uint64_t)i * 8, &ok);
    return ok ? v : 0;
}

uint64_t spy_dict_lookup(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t dict,
                         const char *want)
{
    unsigned char d[BUF_SMALL];
    uint64_t v = 0;
    if (rd(d, dict, (size_t)MAX2(o->dict_ma_keys, o->dict_ma_values) + 8) != 0)
        return 0;
    int i = keys_lookup(o, ip, u64_at(d, o->dict_ma_keys), want, &v);
    if (i < 0)
        return 0;
    uint64_t values = u64_at(d, o->dict_ma_values);
    if (values != 0)
        return split_value(o, values, i);
    return v;
}

uint64_t spy_attribute(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t obj,
                       const char *want)
{
    int ok;
    uint64_t type = read_u64(obj + (uint64_t)o->ob_type, &ok);
    if (!ok)
        return 0;
    unsigned char ty[BUF_TYPE];
    size_t tylen = (size_t)MAX2(MAX2(o->tp_flags, o->tp_dictoffset), MAX2(o->tp_basicsize, o->ht_cached_keys)) + 8;
    if (rd(ty, type, tylen) != 0)
        return 0;
    uint64_t flags = u64_at(ty, o->tp_flags);
    uint64_t dict = 0;
    uint64_t values = 0;
    if (o->minor <= 10) {
        int64_t dictoffset = i64_at(ty, o->tp_dictoffset);
        if (dictoffset <= 0 || dictoffset > 4096)
            return 0;
        dict = read_u64(obj + (uint64_t)dictoffset, &ok);
        if (!ok)
            return 0;
    } else {
        if (!(flags & o->tpflags_managed_dict))
            return 0;
        if (o->minor == 11) {
            /* values and dict pointers just before the object */
            values = read_u64(obj - 4 * 8, &ok);
            if (!ok)
                return 0;
            dict = read_u64(obj - 3 * 8, &ok);
            if (!ok)
                return 0;
        } else if (o->minor == 12) {
            /* one word before the object: tagged values pointer or dict */
            uint64_t dorv = read_u64(obj - 3 * 8, &ok);
            if (!ok)
                return 0;
            if (dorv & 1)
                values = dorv + 1;
            else
                dict = dorv;
        } else {
            /* 3.13: inline values after the object, else a managed dict */
            if (flags & o->tpflags_inline_values) {
                unsigned char hv[BUF_SMALL];
                uint64_t at = obj + (uint64_t)i64_at(ty, o->tp_basicsize);
                if (rd(hv, at, (size_t)o->dict_values_values) == 0 && u8_at(hv, o->dict_values_valid))
                    values = at;
            }
            if (values == 0) {
                dict = read_u64(obj + (uint64_t)(int64_t)o->managed_dict_offset, &ok);
                if (!ok)
                    return 0;
            }
        }
        if (values != 0) {
            uint64_t unused = 0;
            int i = keys_lookup(o, ip, u64_at(ty, o->ht_cached_keys), want, &unused);
            return i < 0 ? 0 : split_value(o, values, i);
        }
    }
    return dict ? spy_dict_lookup(o, ip, dict, want) : 0;
}

static int thread_name(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t thread_obj,
                       char *out, size_t cap)
{
    uint64_t name = spy_attribute(o, ip, thread_obj, "_name");
    if (name == 0)
        return -1;
    return spy_read_str(o, ip, name, out, cap);
}

/* ---- attach ------------------------------------------------------------ */

static void fail(struct spy_interp *ip, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct spy_interp *ip, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ip->attach_error, sizeof(ip->attach_error), fmt, ap);
    va_end(ap);
}

/* 3.13+: the running interpreter's _Py_DebugOffsets, at &_PyRuntime.
 * Checked (cookie, version, flavour), validated (sizes sane, fields inside
 * their structs), compared entry by entry with the table; a differing entry
 * replaces the table's value.  Every field the table has beyond what the
 * interpreter describes stays the table's. */
static int apply_debug_offsets(struct spy_offsets *o, size_t code_header, struct spy_interp *ip)
{
    unsigned char d[1024];
    if (o->dbg_size <= 0 || (size_t)o->dbg_size > sizeof(d)) {
        fail(ip, "no _Py_DebugOffsets layout in the table");
        return -1;
    }
    if (rd(d, ip->runtime, (size_t)o->dbg_size) != 0) {
        fail(ip, "cannot read _Py_DebugOffsets at _PyRuntime");
        return -1;
    }
    if (memcmp(d, "xdebugpy", 8) != 0) {
        fail(ip, "_PyRuntime does not start with the _Py_DebugOffsets cookie");
        return -1;
    }
    uint64_t version = u64_at(d, 8);
    if (ip->hexversion != 0 && version != ip->hexversion) {
        fail(ip, "_Py_DebugOffsets version %#llx differs from Py_Version %#llx",
             (unsigned long long)version, (unsigned long long)ip->hexversion);
        return -1;
    }
    if ((version >> 24) != (uint64_t)o->major || ((version >> 16) & 0xff) != (uint64_t)o->minor) {
        fail(ip, "_Py_DebugOffsets is for version %#llx, not %d.%d", (unsigned long long)version, o->major, o->minor);
        return -1;
    }
    if (u64_at(d, 16) != 0) {
        fail(ip, "a free-threaded build (_Py_DebugOffsets.free_threaded is set)");
        return -1;
    }
    struct spy_offsets live = *o;
    int changed = 0;
    char what[128] = "";
#define SPY_DBG_APPLY(id, field, path, bound) { \
        uint64_t v = u64_at(d, o->dbg_at[SPY_DBG_##id]); \
        if (v >= (1u << 20)) { \
            fail(ip, "_Py_DebugOffsets." #path " = %llu is not a sane offset or size", (unsigned long long)v); \
            return -1; \
        } \
        if ((int64_t)v != live.field) { \
            if (changed++ == 0) \
                snprintf(what, sizeof(what), #path " %d -> %llu", live.field, (unsigned long long)v); \
            live.field = (int32_t)v; \
        } \
    }
    SPY_DEBUG_FIELDS(SPY_DBG_APPLY)
#undef SPY_DBG_APPLY
    /* every mapped field inside the struct it belongs to, by the live sizes */
    {
        const struct spy_offsets *lo = &live;
#define SPY_DBG_INSIDE(id, field, path, bound) { \
            const struct spy_offsets *o = lo; \
            if (lo->field < 0 || (int64_t)lo->field >= (int64_t)(bound)) { \
                fail(ip, "_Py_DebugOffsets." #path " = %d lies outside its struct (%lld bytes)", lo->field, \
                     (long long)(bound)); \
                return -1; \
            } \
            (void)o; \
        }
        SPY_DEBUG_FIELDS(SPY_DBG_INSIDE)
#undef SPY_DBG_INSIDE
    }
    /* the fields we copy must still fit our buffers */
    if (live.ts_frame + 8 > BUF_TSTATE || live.ts_datastack_chunk + 8 > BUF_TSTATE
        || live.ts_thread_id + 8 > BUF_TSTATE || live.ts_native_thread_id + 8 > BUF_TSTATE
        || live.if_localsplus + 8 > BUF_SMALL || live.uni_compact_size > BUF_SMALL
        || (size_t)live.co_name + 8 > code_header || (size_t)live.co_filename + 8 > code_header
        || (size_t)live.co_linetable + 8 > code_header || (size_t)live.co_firstlineno + 4 > code_header) {
        fail(ip, "_Py_DebugOffsets places fields beyond what this build reads");
        return -1;
    }
    if (!changed)
        return 0;
    snprintf(ip->attach_note, sizeof(ip->attach_note),
             "_Py_DebugOffsets differs from the built-in table in %d field%s (first: %s); using the interpreter's",
             changed, changed == 1 ? "" : "s", what);
    *o = live;
    return 0;
}

/* Call an exported debugger function found by name; *ok = 0 if absent. */
typedef uint64_t (*ptr_fn)(uint64_t);

static ptr_fn sym(const char *name)
{
    return (ptr_fn)(uintptr_t)dlsym(RTLD_DEFAULT, name);
}

/* What the offsets read must be what CPython's own functions return.  The
 * threads are live, so a read is taken before and after each call: only a
 * difference both reads agree on counts. */
static int cross_check(const struct spy_offsets *o, size_t code_header, struct spy_interp *ip)
{
    int ok;
    uint64_t (*head_fn)(void) = (uint64_t (*)(void))(uintptr_t)dlsym(RTLD_DEFAULT, "PyInterpreterState_Head");
    ptr_fn thread_head_fn = sym("PyInterpreterState_ThreadHead");
    ptr_fn next_fn = sym("PyThreadState_Next");
    ptr_fn interp_fn = sym("PyThreadState_GetInterpreter");
    int64_t (*id_fn)(uint64_t) = (int64_t (*)(uint64_t))(uintptr_t)dlsym(RTLD_DEFAULT, "PyInterpreterState_GetID");
    uint64_t dict_type = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "PyDict_Type");
    if (!head_fn || !thread_head_fn || !next_fn || !interp_fn || !id_fn || !dict_type) {
        fail(ip, "the interpreter does not export PyInterpreterState_Head, PyInterpreterState_ThreadHead, "
             "PyThreadState_Next, PyThreadState_GetInterpreter, PyInterpreterState_GetID and PyDict_Type");
        return -1;
    }
    uint64_t interp = read_u64(ip->runtime + (uint64_t)o->rt_interpreters_head, &ok);
    if (!ok || interp == 0) {
        fail(ip, "no interpreter at _PyRuntime.interpreters.head yet");
        return -1;
    }
    uint64_t api = head_fn();
    if (api != interp) {
        fail(ip, "PyInterpreterState_Head() %#llx, offsets read %#llx", (unsigned long long)api,
             (unsigned long long)interp);
        return -1;
    }
    int64_t id = 0;
    if (rd(&id, interp + (uint64_t)o->is_id, sizeof(id)) != 0 || id != id_fn(interp)) {
        fail(ip, "PyInterpreterState_GetID() %lld, offsets read %lld", (long long)id_fn(interp), (long long)id);
        return -1;
    }
    /* known objects have the types they must have */
    uint64_t sysdict = read_u64(interp + (uint64_t)o->is_sysdict, &ok);
    uint64_t builtins = ok ? read_u64(interp + (uint64_t)o->is_builtins, &ok) : 0;
    uint64_t t1 = ok ? read_u64(sysdict + (uint64_t)o->ob_type, &ok) : 0;
    uint64_t t2 = ok ? read_u64(builtins + (uint64_t)o->ob_type, &ok) : 0;
    if (!ok || t1 != dict_type || t2 != dict_type) {
        fail(ip, "the interpreter's sys and builtins dicts do not read as dicts");
        return -1;
    }
    /* a lookup by str key: dict keys, str state bits and str data */
    uint64_t modules = spy_dict_lookup(o, ip, sysdict, "modules");
    uint64_t t3 = modules ? read_u64(modules + (uint64_t)o->ob_type, &ok) : 0;
    if (!modules || !ok || t3 != dict_type) {
        fail(ip, "sys.__dict__['modules'] does not read as a dict (dict keys or str layout)");
        return -1;
    }
    uint64_t ts = read_u64(interp + (uint64_t)o->is_threads_head, &ok);
    uint64_t api_ts = thread_head_fn(interp);
    if (!ok || (ts != api_ts && ts == read_u64(interp + (uint64_t)o->is_threads_head, &ok))) {
        fail(ip, "PyInterpreterState_ThreadHead() %#llx, offsets read %#llx", (unsigned long long)api_ts,
             (unsigned long long)ts);
        return -1;
    }
    if (ts == 0) {
        fail(ip, "the interpreter has no thread yet");
        return -1;
    }
    for (int i = 0; ts != 0 && i < 16; i++) {
        uint64_t next = read_u64(ts + (uint64_t)o->ts_next, &ok);
        if (!ok)
            return -1;
        uint64_t owner = read_u64(ts + (uint64_t)o->ts_interp, &ok);
        if (!ok)
            return -1;
        uint64_t api_next = next_fn(ts), api_owner = interp_fn(ts);
        uint64_t next2 = read_u64(ts + (uint64_t)o->ts_next, &ok);
        if (api_next != next && next2 == next) {
            fail(ip, "PyThreadState_Next() %#llx, offsets read %#llx", (unsigned long long)api_next,
                 (unsigned long long)next);
            return -1;
        }
        if (api_owner != owner || owner != interp) {
            fail(ip, "PyThreadState_GetInterpreter() %#llx, offsets read %#llx", (unsigned long long)api_owner,
                 (unsigned long long)owner);
            return -1;
        }
        if (next2 != next)
            return -1;                  /* changed under us: try again */
        ts = next;
    }
    (void)code_header;
    return 0;
}

/* Every frame of every thread must name a code object whose name and file
 * read as str: this exercises the frame, code and str offsets together. */
static int check_walk(const struct spy_offsets *o, size_t code_header, struct spy_interp *ip)
{
    static struct spy_raw_thread threads[8];
    static struct spy_raw_frame frames[8][SPY_MAX_DEPTH];
    static struct chunk_copy cc;
    memset(threads, 0, sizeof(threads));
    for (int i = 0; i < 8; i++)
        threads[i].frames = frames[i];
    struct spy_walk_stats st = { 0 };
    int n = walk(o, ip, threads, 8, &st, &cc);
    if (n <= 0) {
        fail(ip, "a walk of the interpreter's threads found none");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        for (int f = 0; f < threads[i].depth; f++) {
            struct spy_code_info info;
            if (read_code(o, code_header, ip, threads[i].frames[f].code, &info) != 0) {
                fail(ip, "frame %d of thread %d does not read as a code object with a str name and file", f, i);
                return -1;
            }
        }
    }
    return 0;
}

static int attach(struct spy_offsets *o, size_t code_header, struct spy_interp *ip)
{
    ip->attach_error[0] = '\0';
    ip->attach_note[0] = '\0';
    /* what walk() relies on: the link to the next thread state lies in the
     * head it reads first, and every buffer is large enough */
    if (o->ts_next + 8 > o->ts_frame + 8 || o->ts_frame + 8 > BUF_TSTATE || o->uni_compact_size > BUF_SMALL
        || o->if_localsplus + 8 > BUF_SMALL || o->fo_lasti + 4 > BUF_SMALL || o->chunk_data > BUF_SMALL
        || o->dk_indices > BUF_SMALL || o->ht_cached_keys + 8 > BUF_TYPE || o->tp_flags + 8 > BUF_TYPE) {
        fail(ip, "the offset table for %d.%d does not fit this reader's buffers", o->major, o->minor);
        return -1;
    }
    if (o->dbg_size > 0 && apply_debug_offsets(o, code_header, ip) != 0)
        return -1;
    int ok;
    ip->main_thread = read_u64(ip->runtime + (uint64_t)o->rt_main_thread, &ok);
    if (!ok) {
        fail(ip, "cannot read _PyRuntime.main_thread");
        return -1;
    }
    if (o->is_ceval_gil >= 0) {
        uint64_t interp = read_u64(ip->runtime + (uint64_t)o->rt_interpreters_head, &ok);
        if (!ok || interp == 0) {
            fail(ip, "no interpreter at _PyRuntime.interpreters.head yet");
            return -1;
        }
        ip->gil = read_u64(interp + (uint64_t)o->is_ceval_gil, &ok);
        if (!ok) {
            fail(ip, "cannot read the interpreter's GIL pointer");
            return -1;
        }
    } else {
        ip->gil = ip->runtime + (uint64_t)o->rt_ceval_gil;
    }
    if (cross_check(o, code_header, ip) != 0)
        return -1;
    if (check_walk(o, code_header, ip) != 0)
        return -1;
    return 0;
}

/* ---- one struct spy_reader per table ------------------------------------ */

#ifdef SPY_TEST_CORRUPT_OFFSETS
/* Test builds only (tests/refusals/meson.build), never the agent: one table
 * entry deliberately wrong, chosen by SPYTEST_CORRUPT, so the suite can show
 * attach() refusing a table that does not match and correcting one from the
 * interpreter where it can:
 *   strings  the str state bits, which _Py_DebugOffsets does not describe;
 *   link     the thread-state link, which 3.13's _Py_DebugOffsets describes;
 *   lines    the first line number, which only a comparison with real
 *            frames, or 3.13's _Py_DebugOffsets, can catch. */
static void test_corrupt(struct spy_offsets *o)
{
    const char *which = getenv("SPYTEST_CORRUPT");
    if (which == NULL)
        return;
    if (strcmp(which, "strings") == 0)
        o->uni_compact_bit = 0x80000000u;
    else if (strcmp(which, "link") == 0)
        o->ts_next = o->ts_interp;
    else if (strcmp(which, "lines") == 0)
        o->co_firstlineno = o->co_filename + 4;
}
#else
static void test_corrupt(struct spy_offsets *o)
{
    (void)o;
}
#endif

/* Each minor version's reader works on its own copy of the table, which
 * attach() may correct from the interpreter before any walk. */
#define SPY_READER(MIN) \
    static struct spy_offsets off_3_##MIN = SPY_OFFSETS_3_##MIN; \
    static int attach_3_##MIN(struct spy_interp *ip) \
    { test_corrupt(&off_3_##MIN); return attach(&off_3_##MIN, SPY_CODE_HEADER_3_##MIN, ip); } \
    static int walk_3_##MIN(const struct spy_interp *ip, struct spy_raw_thread *t, int max, \
                            struct spy_walk_stats *st, void *scratch) \
    { return walk(&off_3_##MIN, ip, t, max, st, scratch); } \
    static void fingerprint_3_##MIN(const void *header, struct spy_code_fingerprint *fp) \
    { fingerprint(&off_3_##MIN, header, fp); } \
    static int read_code_3_##MIN(const struct spy_interp *ip, uint64_t code, struct spy_code_info *out) \
    { return read_code(&off_3_##MIN, SPY_CODE_HEADER_3_##MIN, ip, code, out); } \
    static int line_for_3_##MIN(const uint8_t *t, size_t len, int firstlineno, int32_t offset) \
    { return line_for(MIN, t, len, firstlineno, offset); } \
    static int thread_name_3_##MIN(const struct spy_interp *ip, uint64_t obj, char *out, size_t cap) \
    { return thread_name(&off_3_##MIN, ip, obj, out, cap); } \
    const struct spy_reader spy_reader_3_##MIN = { \
        .major = 3, \
        .minor = MIN, \
        .code_header_size = SPY_CODE_HEADER_3_##MIN, \
        .attach = attach_3_##MIN, \
        .walk = walk_3_##MIN, \
        .fingerprint = fingerprint_3_##MIN, \
        .read_code = read_code_3_##MIN, \
        .line_for = line_for_3_##MIN, \
        .thread_name = thread_name_3_##MIN, \
    };

SPY_READER(9)
SPY_READER(10)
SPY_READER(11)
SPY_READER(12)
SPY_READER(13)

const struct spy_reader *const spy_readers[] = {
    &spy_reader_3_9, &spy_reader_3_10, &spy_reader_3_11, &spy_reader_3_12, &spy_reader_3_13, NULL,
};
