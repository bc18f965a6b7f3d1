/*
 * oracle_reader.c — the test-only oracle: the frame reader as it was before
 * the offset tables, compiled against one CPython version's own headers
 * (internal ones included, Py_BUILD_CORE), so its layouts come from CPython
 * itself.  tests/oracle/compare.c walks the same threads with it and with
 * the agent's table-driven reader and requires identical results.  Built
 * only where a tested interpreter's headers exist; never part of the agent.
 * meson names the resulting struct spy_reader through SPY_READER_SYMBOL.
 *
 * Invariants:
 *  - every byte of interpreter memory is read through spy_memread into a
 *    local copy; pointers found in copies are only ever passed back to
 *    spy_memread, never dereferenced;
 *  - every walk is bounded (threads, frames, string and table sizes) and
 *    cycles are cut by those bounds;
 *  - a read that fails or does not hold together is counted as torn and the
 *    thread (or frame) is dropped, never reported.
 *
 * Threads: attach() runs on the sampler thread; walk() on the sampler thread
 * and on spy_dump() callers, with caller-owned buffers; the rest is pure.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#if PY_MINOR_VERSION >= 12
#undef _PyGC_FINALIZED
#endif
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_gil.h"
#if PY_MINOR_VERSION >= 11
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#endif

#include <string.h>

#include "reader.h"
#include "memread.h"

#if PY_MAJOR_VERSION != 3 || PY_MINOR_VERSION < 9 || PY_MINOR_VERSION > 13
#error "reader.c supports CPython 3.9 to 3.13"
#endif

#define MAX_LINETABLE (256 * 1024)
#define MAX_DICT_ENTRIES 128
#define MAX_CHUNK_COPY (256 * 1024)

static int rd(void *dst, uint64_t addr, size_t len)
{
    if (addr == 0)
        return -1;
    return spy_memread(dst, addr, len);
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
static int read_str(const struct spy_interp *ip, uint64_t addr, char *out, size_t cap)
{
    PyCompactUnicodeObject hdr;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    if (rd(&hdr, addr, sizeof(hdr)) != 0)
        return -1;
    if ((uint64_t)(uintptr_t)hdr._base.ob_base.ob_type != ip->unicode_type)
        return -1;
    if (!hdr._base.state.compact)
        return -1;
    Py_ssize_t length = hdr._base.length;
    if (length < 0 || length > (1 << 24))
        return -1;
    unsigned kind = hdr._base.state.kind;
    if (kind != 1 && kind != 2 && kind != 4)
        return -1;
    uint64_t data = addr + (hdr._base.state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject));
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
static int bytes_payload(const struct spy_interp *ip, uint64_t addr, uint64_t *data, uint32_t *len)
{
    PyVarObject hdr;
    if (rd(&hdr, addr, sizeof(hdr)) != 0)
        return -1;
    if ((uint64_t)(uintptr_t)Py_TYPE((PyObject *)&hdr) != ip->bytes_type)
        return -1;
    if (hdr.ob_size < 0 || hdr.ob_size > MAX_LINETABLE)
        return -1;
    *data = addr + offsetof(PyBytesObject, ob_sval);
    *len = (uint32_t)hdr.ob_size;
    return 0;
}

/* ---- code objects ----------------------------------------------------- */

#if PY_MINOR_VERSION >= 11
#define CODE_NAME_FIELD co_qualname
#define CODE_LINES_FIELD co_linetable
#elif PY_MINOR_VERSION == 10
#define CODE_NAME_FIELD co_name
#define CODE_LINES_FIELD co_linetable
#else
#define CODE_NAME_FIELD co_name
#define CODE_LINES_FIELD co_lnotab
#endif

#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define FIELD_END(f) (offsetof(PyCodeObject, f) + sizeof(((PyCodeObject *)0)->f))
#define CODE_HEADER_SIZE \
    MAX2(MAX2(FIELD_END(CODE_NAME_FIELD), FIELD_END(co_filename)), \
         MAX2(FIELD_END(CODE_LINES_FIELD), FIELD_END(co_firstlineno)))

static void fingerprint(const void *header, struct spy_code_fingerprint *fp)
{
    const PyCodeObject *co = (const PyCodeObject *)header;
    fp->type = (uint64_t)(uintptr_t)((const PyObject *)co)->ob_type;
    fp->name = (uint64_t)(uintptr_t)co->CODE_NAME_FIELD;
    fp->file = (uint64_t)(uintptr_t)co->co_filename;
    fp->linetable = (uint64_t)(uintptr_t)co->CODE_LINES_FIELD;
    fp->firstlineno = co->co_firstlineno;
}

static int read_code(const struct spy_interp *ip, uint64_t code, struct spy_code_info *out)
{
    union { PyCodeObject co; char raw[CODE_HEADER_SIZE]; } u;
    if (rd(u.raw, code, CODE_HEADER_SIZE) != 0)
        return -1;
    struct spy_code_fingerprint fp;
    fingerprint(u.raw, &fp);
    if (fp.type != ip->code_type)
        return -1;
    if (read_str(ip, fp.name, out->name, sizeof(out->name)) != 0)
        return -1;
    if (read_str(ip, fp.file, out->file, sizeof(out->file)) != 0)
        return -1;
    out->firstlineno = (int32_t)fp.firstlineno;
    if (bytes_payload(ip, fp.linetable, &out->linetable, &out->linetable_len) != 0) {
        out->linetable = 0;
        out->linetable_len = 0;
    }
    return 0;
}

/* ---- line tables -------------------------------------------------------- */

#if PY_MINOR_VERSION == 9
/* co_lnotab: pairs (byte offset increment, signed line increment). */
static int line_for(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    int line = firstlineno;
    int32_t addr = 0;
    if (offset < 0)
        return firstlineno;
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += t[i];
        if (addr > offset)
            break;
        line += (int8_t)t[i + 1];
    }
    return line;
}
#elif PY_MINOR_VERSION == 10
/* PEP 626 table: pairs (byte length, signed line delta; -128 = no line). */
static int line_for(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
{
    int line = firstlineno;
    int32_t start = 0;
    if (offset < 0)
        return firstlineno;
    for (size_t i = 0; i + 1 < len; i += 2) {
        int32_t end = start + t[i];
        int8_t delta = (int8_t)t[i + 1];
        if (delta != -128)
            line += delta;
        if (offset >= start && offset < end)
            return delta == -128 ? -1 : line;
        start = end;
    }
    return -1;
}
#else
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

static int line_for(const uint8_t *t, size_t len, int firstlineno, int32_t offset)
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
        if (has_line)
            line += delta;
        if (offset >= addr && offset < end)
            return has_line ? line : -1;
        addr = end;
    }
    return -1;
}
#endif

/* ---- threads and frames ---------------------------------------------- */

#if PY_MINOR_VERSION >= 11
#define THREADS_HEAD_FIELD threads.head
#else
#define THREADS_HEAD_FIELD tstate_head
#endif

/* Holder and lock state from a copy of the GIL's struct. */
static void gil_from(const struct _gil_runtime_state *g, uint64_t *holder, int *locked)
{
#if PY_MINOR_VERSION >= 13
    *holder = (uint64_t)(uintptr_t)g->last_holder;
    *locked = g->locked;
#else
    *holder = (uint64_t)g->last_holder._value;
    *locked = g->locked._value;
#endif
}

#if PY_MINOR_VERSION >= 12
static uint64_t first_interp(const struct spy_interp *ip)
{
    uint64_t head = 0;
    if (rd(&head, ip->runtime + offsetof(_PyRuntimeState, interpreters.head), sizeof(head)) != 0)
        return 0;
    return head;
}
#endif

#if PY_MINOR_VERSION <= 10
static void walk_frames(const PyThreadState *ts, struct spy_raw_thread *t, struct spy_walk_stats *st,
                        void *scratch)
{
    (void)scratch;
    uint64_t f = (uint64_t)(uintptr_t)ts->frame;
    uint64_t outermost_local0 = 0;
    int depth = 0;
    while (f != 0) {
        if (depth >= SPY_MAX_DEPTH) {
            t->truncated = true;
            break;
        }
        /* only the head of the frame: back, code, generator, last instruction */
        _Static_assert(offsetof(PyFrameObject, f_gen) < offsetof(PyFrameObject, f_lasti), "f_gen in the head");
        PyFrameObject fo;
        if (rd(&fo, f, offsetof(PyFrameObject, f_lasti) + sizeof(fo.f_lasti)) != 0) {
            st->torn++;
            t->truncated = true;
            break;
        }
        struct spy_raw_frame *rf = &t->frames[depth++];
        rf->code = (uint64_t)(uintptr_t)fo.f_code;
        /* f_lasti is read from a frame that may be changing or freed: bound
         * it before any arithmetic */
#if PY_MINOR_VERSION == 9
        rf->offset = fo.f_lasti < 0 ? -1 : fo.f_lasti;
#else
        rf->offset = fo.f_lasti < 0 || fo.f_lasti > INT32_MAX / (int)sizeof(_Py_CODEUNIT)
                         ? -1 : fo.f_lasti * (int32_t)sizeof(_Py_CODEUNIT);
#endif
        uint64_t here = f;
        f = (uint64_t)(uintptr_t)fo.f_back;
        if (f == 0 && rd(&outermost_local0, here + offsetof(PyFrameObject, f_localsplus), sizeof(uint64_t)) != 0)
            outermost_local0 = 0;   /* the first local of the outermost frame: threading's Thread */
        if (f == 0 && fo.f_gen != NULL) {
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
#else
#if PY_MINOR_VERSION >= 13
#define FRAME_CODE_FIELD f_executable
#define FRAME_INSTR_FIELD instr_ptr
#else
#define FRAME_CODE_FIELD f_code
#define FRAME_INSTR_FIELD prev_instr
#endif
#define FRAME_CODE(fr) ((fr)->FRAME_CODE_FIELD)
#define FRAME_INSTR(fr) ((fr)->FRAME_INSTR_FIELD)

/* A thread's frames live mostly in its datastack chunks: copy the used part
 * of a chunk once and follow pointers in the copy.  The current chunk is
 * copied up front; older chunks (deep recursion) when a frame is first
 * found in one; frames elsewhere (generators, coroutines) are read one by
 * one. */
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

static void copy_chunk(const PyThreadState *ts, struct chunk_copy *cc)
{
    cc->nr = 0;
    cc->used = 0;
    cc->listed = false;
    cc->older = 0;
    uint64_t chunk = (uint64_t)(uintptr_t)ts->datastack_chunk;
    uint64_t top = (uint64_t)(uintptr_t)ts->datastack_top;
    if (chunk == 0 || top == 0)
        return;
    _PyStackChunk head;
    if (rd(&head, chunk, offsetof(_PyStackChunk, data)) != 0)
        return;
    uint64_t lo = chunk + offsetof(_PyStackChunk, data);
    cc->older = (uint64_t)(uintptr_t)head.previous;
    if (top <= lo || top - lo > head.size)
        return;
    struct chunk_range *r = &cc->r[cc->nr++];
    r->lo = lo;
    r->hi = top;
    copy_range(cc, r);
}

/* Read the headers of the older chunks once per walk. */
static void list_older(struct chunk_copy *cc)
{
    cc->listed = true;
    uint64_t chunk = cc->older;
    while (chunk != 0 && cc->nr < MAX_CHUNKS) {
        _PyStackChunk h;
        if (rd(&h, chunk, offsetof(_PyStackChunk, data)) != 0)
            return;
        uint64_t lo = chunk + offsetof(_PyStackChunk, data);
        if (h.top > h.size / sizeof(PyObject *) || h.size > (64u << 20))
            return;
        struct chunk_range *r = &cc->r[cc->nr++];
        r->lo = lo;
        r->hi = lo + h.top * sizeof(PyObject *);
        r->at = SIZE_MAX - 1;  /* not copied yet */
        chunk = (uint64_t)(uintptr_t)h.previous;
    }
}

static int read_iframe(struct chunk_copy *cc, uint64_t addr, _PyInterpreterFrame *out)
{
    size_t n = offsetof(_PyInterpreterFrame, localsplus) + sizeof(PyObject *);
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
            list_older(cc);
        }
    }
    return rd(out, addr, n);
}

static void walk_frames(const PyThreadState *ts, struct spy_raw_thread *t, struct spy_walk_stats *st,
                        void *scratch)
{
#if PY_MINOR_VERSION >= 13
    uint64_t f = (uint64_t)(uintptr_t)ts->current_frame;
#else
    uint64_t f = 0;
    _PyCFrame cf;
    if (ts->cframe != NULL && rd(&cf, (uint64_t)(uintptr_t)ts->cframe, sizeof(cf)) == 0)
        f = (uint64_t)(uintptr_t)cf.current_frame;
#endif
    struct chunk_copy *cc = scratch;
    if (cc)
        copy_chunk(ts, cc);
    uint64_t outermost_local0 = 0;
    int depth = 0;
    int steps = 0;
    while (f != 0) {
        if (depth >= SPY_MAX_DEPTH || ++steps > 4 * SPY_MAX_DEPTH) {
            t->truncated = true;
            break;
        }
        _PyInterpreterFrame fr;
        if (read_iframe(cc, f, &fr) != 0) {
            st->torn++;
            t->truncated = true;
            break;
        }
        f = (uint64_t)(uintptr_t)fr.previous;
        if (f == 0 && fr.owner == FRAME_OWNED_BY_GENERATOR) {
            /* a suspended generator (no caller): it yielded while we read */
            st->torn++;
            t->truncated = true;
            break;
        }
#if PY_MINOR_VERSION >= 12
        if (fr.owner == FRAME_OWNED_BY_CSTACK)
            continue;
#endif
        uint64_t code = (uint64_t)(uintptr_t)FRAME_CODE(&fr);
        uint64_t start = code + offsetof(PyCodeObject, co_code_adaptive);
        uint64_t instr = (uint64_t)(uintptr_t)FRAME_INSTR(&fr);
        if (instr < start)
            continue;                   /* incomplete frame: not started yet */
        uint64_t off = instr - start;
        struct spy_raw_frame *rf = &t->frames[depth++];
        rf->code = code;
        rf->offset = off > INT32_MAX ? -1 : (int32_t)off;
        outermost_local0 = (uint64_t)(uintptr_t)fr.localsplus[0];
    }
    t->depth = (uint16_t)depth;
    t->thread_obj = t->truncated ? 0 : outermost_local0;
}
#endif

/* The head of a thread state: everything up to the frame pointer, which
 * includes the link to the next thread state. */
#if PY_MINOR_VERSION <= 10
#define TSTATE_FRAME_FIELD frame
#elif PY_MINOR_VERSION <= 12
#define TSTATE_FRAME_FIELD cframe
#else
#define TSTATE_FRAME_FIELD current_frame
#endif
#define TSTATE_HEAD (offsetof(PyThreadState, TSTATE_FRAME_FIELD) + sizeof(void *))
_Static_assert(offsetof(PyThreadState, next) < TSTATE_HEAD, "next is in the head");

/* The innermost frame's identity: address, code, instruction and caller.
 * One small read (two on 3.11/3.12, where the frame pointer sits in the C
 * frame); only the head of ts is used.  0, or -1 if unreadable. */
static int read_top(const PyThreadState *ts, uint64_t top[5])
{
    memset(top, 0, 5 * sizeof(top[0]));
#if PY_MINOR_VERSION <= 10
    uint64_t f = (uint64_t)(uintptr_t)ts->frame;
    if (f == 0)
        return 0;
    PyFrameObject fo;
    if (rd(&fo, f, offsetof(PyFrameObject, f_lasti) + sizeof(fo.f_lasti)) != 0)
        return -1;
    top[0] = f;
    top[1] = (uint64_t)(uintptr_t)fo.f_code;
    top[2] = (uint64_t)(int64_t)fo.f_lasti;
    top[3] = (uint64_t)(uintptr_t)fo.f_back;
#else
#if PY_MINOR_VERSION >= 13
    uint64_t f = (uint64_t)(uintptr_t)ts->current_frame;
#else
    uint64_t f = 0;
    if (ts->cframe != NULL) {
        _PyCFrame cf;
        if (rd(&cf, (uint64_t)(uintptr_t)ts->cframe, sizeof(cf)) != 0)
            return -1;
        f = (uint64_t)(uintptr_t)cf.current_frame;
    }
#endif
    if (f == 0)
        return 0;
    _PyInterpreterFrame fr;
#define IFRAME_TOP_END MAX2(MAX2(offsetof(_PyInterpreterFrame, previous) + sizeof(void *), \
                                 offsetof(_PyInterpreterFrame, FRAME_INSTR_FIELD) + sizeof(void *)), \
                            offsetof(_PyInterpreterFrame, FRAME_CODE_FIELD) + sizeof(void *))
    if (rd(&fr, f, IFRAME_TOP_END) != 0)
        return -1;
    top[0] = f;
    top[1] = (uint64_t)(uintptr_t)FRAME_CODE(&fr);
    top[2] = (uint64_t)(uintptr_t)FRAME_INSTR(&fr);
    top[3] = (uint64_t)(uintptr_t)fr.previous;
#endif
    return 0;
}

static int walk(const struct spy_interp *ip, struct spy_raw_thread *threads, int max_threads,
                struct spy_walk_stats *st, void *scratch)
{
    /* the first interpreter and the GIL's state in one system call */
    uint64_t interp = 0;
    struct _gil_runtime_state g;
    struct spy_memread_req req[2] = {
        { &interp, ip->runtime + offsetof(_PyRuntimeState, interpreters.head), sizeof(interp), 0 },
        { &g, ip->gil, sizeof(g), 0 },
    };
    spy_memread_many(req, ip->gil ? 2 : 1);
    if (!req[0].ok || interp == 0)
        return 0;                       /* not initialised yet, or finalised */
    uint64_t ts_addr = 0;
    if (rd(&ts_addr, interp + offsetof(PyInterpreterState, THREADS_HEAD_FIELD), sizeof(ts_addr)) != 0) {
        st->torn++;
        return -1;
    }
    uint64_t holder = 0;
    int locked = 0;
    if (ip->gil && req[1].ok)
        gil_from(&g, &holder, &locked);
    int n = 0;
    while (ts_addr != 0 && n < max_threads) {
        /* First only the head of the thread state (the link to the next one
         * and the frame pointer); the rest only for a thread that moved. */
        PyThreadState ts;
        if (rd(&ts, ts_addr, TSTATE_HEAD) != 0) {
            st->torn++;
            break;
        }
        struct spy_raw_thread *t = &threads[n];
        uint64_t top[5];
        bool have_top = read_top(&ts, top) == 0;
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
            ts_addr = (uint64_t)(uintptr_t)ts.next;
            continue;
        }
        if (rd((char *)&ts + TSTATE_HEAD, ts_addr + TSTATE_HEAD, sizeof(ts) - TSTATE_HEAD) != 0) {
            st->torn++;
            break;
        }
        same_thread = same_thread && t->thread_id == (uint64_t)ts.thread_id;
        t->tstate = ts_addr;
        t->thread_id = (uint64_t)ts.thread_id;
#if PY_MINOR_VERSION >= 11
        t->native_tid = (int32_t)ts.native_thread_id;
#else
        if (!same_thread || t->native_tid == 0) {
            t->native_tid = 0;
            if (ip->pthread_tid_offset >= 0 && ts.thread_id != 0) {
                int32_t tid = 0;
                if (rd(&tid, (uint64_t)ts.thread_id + (uint64_t)ip->pthread_tid_offset, sizeof(tid)) == 0)
                    t->native_tid = tid;
            }
        }
#endif
        t->gil = locked > 0 && holder == ts_addr;
        t->unchanged = false;
        t->reused = 0;
        t->truncated = false;
        t->depth = 0;
        t->thread_obj = 0;
        walk_frames(&ts, t, st, scratch);
        memcpy(t->top, top, sizeof(top));
        if (!have_top)
            t->reused = SPY_MAX_REUSE;  /* nothing to compare with: walk again next time */
        n++;
        ts_addr = (uint64_t)(uintptr_t)ts.next;
    }
    return n;
}

/* ---- attributes of a threading.Thread --------------------------------- */

#if PY_MINOR_VERSION <= 10
struct keys_3_9 {             /* Objects/dict-common.h, not installed */
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
};
struct entry_3_9 { Py_hash_t hash; PyObject *key; PyObject *value; };
#endif

static int key_is(const struct spy_interp *ip, uint64_t key, const char *want)
{
    char buf[64];
    if (read_str(ip, key, buf, sizeof(buf)) != 0)
        return 0;
    return strcmp(buf, want) == 0;
}

/* Find the entry index of a str key in a keys object; -1 if absent.
 * Sets *value to the entry's own value (combined tables). */
static int keys_lookup(const struct spy_interp *ip, uint64_t keys, const char *want, uint64_t *value)
{
#if PY_MINOR_VERSION <= 10
    struct keys_3_9 k;
    if (rd(&k, keys, sizeof(k)) != 0)
        return -1;
    if (k.dk_size <= 0 || k.dk_size > (1 << 20) || k.dk_nentries < 0 || k.dk_nentries > k.dk_size)
        return -1;
    size_t ixsize = k.dk_size <= 0xff ? 1 : k.dk_size <= 0xffff ? 2 : 4;
    uint64_t entries = keys + offsetof(struct keys_3_9, dk_indices) + (uint64_t)k.dk_size * ixsize;
    Py_ssize_t n = k.dk_nentries < MAX_DICT_ENTRIES ? k.dk_nentries : MAX_DICT_ENTRIES;
    struct entry_3_9 e[MAX_DICT_ENTRIES];
    if (n == 0 || rd(e, entries, (size_t)n * sizeof(e[0])) != 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (e[i].key && key_is(ip, (uint64_t)(uintptr_t)e[i].key, want)) {
            *value = (uint64_t)(uintptr_t)e[i].value;
            return (int)i;
        }
    }
#else
    PyDictKeysObject k;
    if (rd(&k, keys, sizeof(k)) != 0)
        return -1;
    if (k.dk_log2_size > 20 || k.dk_log2_index_bytes > 23 || k.dk_nentries < 0
        || k.dk_nentries > ((Py_ssize_t)1 << k.dk_log2_size))
        return -1;
    uint64_t entries = keys + offsetof(PyDictKeysObject, dk_indices) + ((uint64_t)1 << k.dk_log2_index_bytes);
    Py_ssize_t n = k.dk_nentries < MAX_DICT_ENTRIES ? k.dk_nentries : MAX_DICT_ENTRIES;
    if (n == 0)
        return -1;
    if (k.dk_kind == DICT_KEYS_GENERAL) {
        PyDictKeyEntry e[MAX_DICT_ENTRIES];
        if (rd(e, entries, (size_t)n * sizeof(e[0])) != 0)
            return -1;
        for (Py_ssize_t i = 0; i < n; i++)
            if (e[i].me_key && key_is(ip, (uint64_t)(uintptr_t)e[i].me_key, want)) {
                *value = (uint64_t)(uintptr_t)e[i].me_value;
                return (int)i;
            }
    } else {
        PyDictUnicodeEntry e[MAX_DICT_ENTRIES];
        if (rd(e, entries, (size_t)n * sizeof(e[0])) != 0)
            return -1;
        for (Py_ssize_t i = 0; i < n; i++)
            if (e[i].me_key && key_is(ip, (uint64_t)(uintptr_t)e[i].me_key, want)) {
                *value = (uint64_t)(uintptr_t)e[i].me_value;
                return (int)i;
            }
    }
#endif
    return -1;
}

/* Value at index i of a split table's values array. */
static uint64_t split_value(uint64_t values, int i)
{
    uint64_t v = 0;
#if PY_MINOR_VERSION >= 13
    uint64_t base = values + offsetof(PyDictValues, values);
#else
    uint64_t base = values;
#endif
    if (rd(&v, base + (uint64_t)i * sizeof(PyObject *), sizeof(v)) != 0)
        return 0;
    return v;
}

static uint64_t dict_lookup(const struct spy_interp *ip, uint64_t dict, const char *want)
{
    PyDictObject d;
    uint64_t v = 0;
    if (rd(&d, dict, sizeof(d)) != 0)
        return 0;
    int i = keys_lookup(ip, (uint64_t)(uintptr_t)d.ma_keys, want, &v);
    if (i < 0)
        return 0;
    if (d.ma_values != NULL)
        return split_value((uint64_t)(uintptr_t)d.ma_values, i);
    return v;
}

static uint64_t attribute(const struct spy_interp *ip, uint64_t obj, const char *want)
{
    PyObject ob;
    if (rd(&ob, obj, sizeof(ob)) != 0)
        return 0;
    PyHeapTypeObject ty;
    if (rd(&ty, (uint64_t)(uintptr_t)ob.ob_type, sizeof(ty)) != 0)
        return 0;
    unsigned long flags = ty.ht_type.tp_flags;
    uint64_t dict = 0;
#if PY_MINOR_VERSION <= 10
    (void)flags;
    if (ty.ht_type.tp_dictoffset <= 0 || ty.ht_type.tp_dictoffset > 4096)
        return 0;
    if (rd(&dict, obj + (uint64_t)ty.ht_type.tp_dictoffset, sizeof(dict)) != 0)
        return 0;
#else
    if (!(flags & Py_TPFLAGS_MANAGED_DICT))
        return 0;
    uint64_t values = 0;
    uint64_t unused = 0;
#if PY_MINOR_VERSION == 11
    if (rd(&values, obj - 4 * sizeof(PyObject *), sizeof(values)) != 0)
        return 0;
    if (rd(&dict, obj - 3 * sizeof(PyObject *), sizeof(dict)) != 0)
        return 0;
#elif PY_MINOR_VERSION == 12
    uint64_t dorv = 0;
    if (rd(&dorv, obj - 3 * sizeof(PyObject *), sizeof(dorv)) != 0)
        return 0;
    if (dorv & 1)
        values = dorv + 1;
    else
        dict = dorv;
#else
    if (flags & Py_TPFLAGS_INLINE_VALUES) {
        PyDictValues hv;
        uint64_t at = obj + (uint64_t)ty.ht_type.tp_basicsize;
        if (rd(&hv, at, offsetof(PyDictValues, values)) == 0 && hv.valid)
            values = at;
    }
    if (values == 0 && rd(&dict, obj + (uint64_t)MANAGED_DICT_OFFSET, sizeof(dict)) != 0)
        return 0;
#endif
    if (values != 0) {
        int i = keys_lookup(ip, (uint64_t)(uintptr_t)ty.ht_cached_keys, want, &unused);
        return i < 0 ? 0 : split_value(values, i);
    }
#endif
    return dict ? dict_lookup(ip, dict, want) : 0;
}

static int thread_name(const struct spy_interp *ip, uint64_t thread_obj, char *out, size_t cap)
{
    uint64_t name = attribute(ip, thread_obj, "_name");
    if (name == 0)
        return -1;
    return read_str(ip, name, out, cap);
}

/* ---- attach ------------------------------------------------------------ */

static int attach(struct spy_interp *ip)
{
    uint64_t main_thread = 0;
    if (rd(&main_thread, ip->runtime + offsetof(_PyRuntimeState, main_thread), sizeof(main_thread)) != 0)
        return -1;
    ip->main_thread = main_thread;
#if PY_MINOR_VERSION >= 12
    uint64_t interp = first_interp(ip);
    if (interp == 0)
        return -1;
    uint64_t gil = 0;
    if (rd(&gil, interp + offsetof(PyInterpreterState, ceval.gil), sizeof(gil)) != 0)
        return -1;
    ip->gil = gil;
#else
    ip->gil = ip->runtime + offsetof(_PyRuntimeState, ceval.gil);
#endif
#if PY_MINOR_VERSION >= 13
    /* The runtime describes its own layout: refuse one that differs from
     * the headers this reader was built with. */
    _Py_DebugOffsets d;
    if (rd(&d, ip->runtime, sizeof(d)) != 0)
        return -1;
    if (memcmp(d.cookie, _Py_Debug_Cookie, sizeof(d.cookie)) != 0)
        return -1;
    if ((d.version >> 16) != (PY_VERSION_HEX >> 16))
        return -1;
    if (d.thread_state.current_frame != offsetof(PyThreadState, current_frame)
        || d.interpreter_frame.previous != offsetof(_PyInterpreterFrame, previous)
        || d.interpreter_frame.instr_ptr != offsetof(_PyInterpreterFrame, instr_ptr)
        || d.code_object.qualname != offsetof(PyCodeObject, co_qualname)
        || d.interpreter_state.threads_head != offsetof(PyInterpreterState, threads.head))
        return -1;
#endif
    return 0;
}

#define SPY_CAT2(a, b) a##b
#define SPY_CAT(a, b) SPY_CAT2(a, b)

const struct spy_reader SPY_READER_SYMBOL = {
    .major = PY_MAJOR_VERSION,
    .minor = PY_MINOR_VERSION,
    .code_header_size = CODE_HEADER_SIZE,
    .attach = attach,
    .walk = walk,
    .fingerprint = fingerprint,
    .read_code = read_code,
    .line_for = line_for,
    .thread_name = thread_name,
};
