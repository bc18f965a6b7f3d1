/*
 * tasks.c — reads pending asyncio tasks of CPython 3.9–3.13 without the GIL
 * (the interface is tasks.h).
 *
 * Table-driven like reader.c: coroutine, frame, set, weakref and int
 * layouts come from the version's struct spy_offsets (generated from
 * CPython's headers by offsets_gen.c).  TaskObj and FutureObj are private to
 * Modules/_asynciomodule.c, so their few fields are constants below, one row
 * per version; they are verified on every interpreter by the task-reader
 * tests (tests/integration/test_task_reader.py), which compare what is read
 * here with asyncio's own view of the same tasks.
 *
 * A task's chain: from the task's coroutine, while the coroutine is
 * suspended in an await (the next instruction is YIELD_FROM on 3.9/3.10,
 * RESUME with oparg >= 2 on 3.11/3.12, gi_frame_state ==
 * FRAME_SUSPENDED_YIELD_FROM on 3.13: the test CPython's own _PyGen_yf
 * makes), the awaited object is the top of its value stack; it is followed
 * only into coroutines, generators and async generators (an asend object
 * leads to its async generator).  The first other object ends the chain:
 * its type is the leaf (through a FutureIter, its future's type).
 *
 * Invariants: every byte is read through spy_memread into local buffers;
 * every loop is bounded (set table <= 65,536 slots, chain <= SPY_TASK_MAX_DEPTH
 * levels plus as many asend steps, strings by their buffers); nothing is
 * allocated; a read that fails or does not hold together drops the task.
 *
 * Threads: any thread, with caller-owned buffers; the tables are read-only.
 */
#include <string.h>

#include "tasks.h"
#include "offsets.h"
#include "../memread.h"

#define MAX_SET_SLOTS 65536
#define BATCH 64
#define BUF 256

_Static_assert(SPY_TASKS_SCRATCH >= MAX_SET_SLOTS * 16, "scratch too small for a set table");

/* TaskObj / FutureObj fields (Modules/_asynciomodule.c), x86-64 and
 * aarch64 Linux; checked by the task-reader tests on every version. */
struct asyncio_layout {
    int minor;
    int32_t fut_state;          /* fut_state_enum: 0 = pending */
    int32_t task_loop;          /* fut_loop */
    int32_t task_fut_waiter;
    int32_t task_coro;
    int32_t task_name;
};

static const struct asyncio_layout layouts[] = {
    { 9, 80, 16, 144, 152, 160 },
    { 10, 88, 16, 152, 160, 168 },
    { 11, 88, 16, 128, 136, 144 },
    { 12, 88, 16, 128, 136, 144 },
    { 13, 96, 16, 112, 120, 128 },
};

#define FUT_PENDING 0
#define FUTUREITER_FUTURE 16    /* futureiterobject.future, after PyObject_HEAD */
#define ASEND_GEN 16            /* PyAsyncGenASend.ags_gen, after PyObject_HEAD */
#define TPFLAGS_LONG_SUBCLASS (1UL << 24)

struct ctx {
    const struct spy_offsets *o;
    const struct asyncio_layout *a;
};

static const struct asyncio_layout *layout_for(const struct spy_offsets *o)
{
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
        if (layouts[i].minor == o->minor)
            return &layouts[i];
    return NULL;
}

static int rd(void *dst, uint64_t addr, size_t len)
{
    if (addr == 0 || addr > UINT64_MAX - len)
        return -1;
    return spy_memread(dst, addr, len);
}

static inline uint64_t u64_at(const void *buf, int32_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline int32_t i32_at(const void *buf, int32_t off)
{
    int32_t v;
    memcpy(&v, (const char *)buf + off, sizeof(v));
    return v;
}

static inline int8_t i8_at(const void *buf, int32_t off)
{
    return (int8_t)((const uint8_t *)buf)[off];
}

#define MAX2(a, b) ((a) > (b) ? (a) : (b))

/* Bytes of a task read: up to and including task_name. */
static size_t task_head(const struct asyncio_layout *a)
{
    return (size_t)MAX2(MAX2(a->fut_state + 4, a->task_coro + 8), MAX2(a->task_name + 8, a->task_fut_waiter + 8));
}

static bool is_coroutine_type(const struct spy_task_roots *r, uint64_t type)
{
    return type != 0 && (type == r->coro_type || type == r->gen_type);
}

static int type_name(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t type, char *out,
                     size_t cap);

/* ---- listing ------------------------------------------------------------- */

/* Of n candidate objects, keep the pending native tasks with a coroutine. */
static int keep_tasks(const struct ctx *c, const struct spy_task_roots *r, const uint64_t *cand, int n,
                      uint64_t *out, int count, int max)
{
    const struct spy_offsets *o = c->o;
    size_t head = task_head(c->a);
    unsigned char task[BATCH][BUF];
    uint64_t coro_type[BATCH];
    struct spy_memread_req req[BATCH];
    for (int i = 0; i < n; i++)
        req[i] = (struct spy_memread_req){ task[i], cand[i], head, 0 };
    spy_memread_many(req, n);
    int m = 0;
    struct spy_memread_req creq[BATCH];
    int idx[BATCH];
    for (int i = 0; i < n; i++) {
        if (!req[i].ok || cand[i] == 0)
            continue;
        if (u64_at(task[i], o->ob_type) != r->task_type || i32_at(task[i], c->a->fut_state) != FUT_PENDING)
            continue;
        uint64_t coro = u64_at(task[i], c->a->task_coro);
        if (coro == 0)
            continue;
        idx[m] = i;
        creq[m] = (struct spy_memread_req){ &coro_type[m], coro + (uint64_t)o->ob_type, 8, 0 };
        m++;
    }
    spy_memread_many(creq, m);
    for (int k = 0; k < m && count < max; k++)
        if (creq[k].ok && is_coroutine_type(r, coro_type[k]))
            out[count++] = cand[idx[k]];
    return count;
}

/* The keys of a set, copied into scratch; the slot count or -1. */
static int copy_set(const struct spy_offsets *o, uint64_t set, void *scratch)
{
    unsigned char s[BUF];
    if (rd(s, set, (size_t)o->set_table + 8) != 0)
        return -1;
    int64_t mask = (int64_t)u64_at(s, o->set_mask);
    uint64_t table = u64_at(s, o->set_table);
    if (mask < 0 || mask + 1 > MAX_SET_SLOTS || ((mask + 1) & mask) != 0 || table == 0)
        return -1;
    size_t slots = (size_t)mask + 1;
    if (rd(scratch, table, slots * (size_t)o->setentry_size) != 0)
        return -1;
    return (int)slots;
}

static int list_tasks(const struct spy_offsets *o, const struct spy_interp *ip, const struct spy_task_roots *r,
                      uint64_t *out, int max, void *scratch)
{
    (void)ip;
    const struct asyncio_layout *a = layout_for(o);
    if (a == NULL || r->tasks_set == 0 || r->task_type == 0 || max <= 0)
        return -1;
    if (max > SPY_TASKS_MAX)
        max = SPY_TASKS_MAX;
    struct ctx c = { o, a };
    int count = 0;
    for (int which = 0; which < 2 && count < max; which++) {
        uint64_t set = which == 0 ? r->tasks_set : r->eager_set;
        if (set == 0)
            continue;
        int slots = copy_set(o, set, scratch);
        if (slots < 0) {
            if (which == 0)
                return -1;
            continue;
        }
        const unsigned char *table = scratch;
        uint64_t cand[BATCH];
        int n = 0;
        for (int i = 0; i <= slots && count < max; i++) {
            if (i < slots) {
                uint64_t key = u64_at(table + (size_t)i * (size_t)o->setentry_size, o->setentry_key);
                if (key != 0 && key != r->set_dummy)
                    cand[n++] = key;
                if (n < BATCH)
                    continue;
            }
            if (n == 0)
                continue;
            if (which == 0) {
                /* weakrefs: keep the referents still alive */
                unsigned char wr[BATCH][32];
                struct spy_memread_req req[BATCH];
                for (int k = 0; k < n; k++)
                    req[k] = (struct spy_memread_req){ wr[k], cand[k], (size_t)o->wr_object + 8, 0 };
                spy_memread_many(req, n);
                for (int k = 0; k < n; k++) {
                    uint64_t obj = 0;
                    if (req[k].ok && u64_at(wr[k], o->ob_type) == r->weakref_type)
                        obj = u64_at(wr[k], o->wr_object);
                    cand[k] = obj == r->none ? 0 : obj;
                }
            }
            count = keep_tasks(&c, r, cand, n, out, count, max);
            n = 0;
        }
    }
    return count;
}

/* ---- one task ------------------------------------------------------------ */

/* One coroutine level as read. */
struct level {
    uint64_t code;
    int32_t offset;
    bool created, executing, finished;
    uint64_t awaited;           /* the object it awaits, 0 if none */
};

/* Bytes of a coroutine read at once: its head with the frame (3.11+: the
 * embedded interpreter frame up to localsplus), which includes ob_type. */
static size_t level_head(const struct spy_offsets *o)
{
    if (o->gen_iframe >= 0)
        return (size_t)o->gen_iframe + (size_t)o->if_localsplus;
    return (size_t)MAX2(MAX2(o->gen_frame + 8, o->gen_running + 1), ASEND_GEN + 8);
}

/* 3.11+: the generator object holds its frame (g: level_head bytes of it).
 * A suspended frame is in an await when its state says so (3.13) or the
 * next instruction is RESUME with oparg >= 2 (3.11/3.12): the instruction
 * and the top of the value stack are read in one go. */
static int read_level_iframe(const struct spy_offsets *o, uint64_t gen, const unsigned char *g, struct level *lv)
{
    int state = i8_at(g, o->gen_frame_state);
    if (state >= 1) {           /* FRAME_COMPLETED, FRAME_CLEARED */
        lv->finished = true;
        return 0;
    }
    const unsigned char *f = g + o->gen_iframe;
    uint64_t frame = gen + (uint64_t)o->gen_iframe;
    lv->code = u64_at(f, o->if_code);
    uint64_t start = lv->code + (uint64_t)o->co_code_adaptive;
    uint64_t instr = u64_at(f, o->if_instr);
    lv->offset = instr < start || instr - start > INT32_MAX ? -1 : (int32_t)(instr - start);
    lv->created = state == o->state_created;
    lv->executing = state == o->state_executing;
    if (lv->created || lv->executing)
        return 0;
    bool by_state = o->state_suspended_yf != 100;
    if (by_state && state != o->state_suspended_yf)
        return 0;
    if (!by_state && instr < start)
        return 0;
    /* an empty stack is normal at a plain yield (asyncio.sleep(0)'s
     * generator has no locals): only an await needs the top */
    int32_t top = i32_at(f, o->if_stacktop);
    bool have_top = top >= 1 && top <= (1 << 20);
    if (by_state && !have_top)
        return -1;
    uint64_t slot = frame + (uint64_t)o->if_localsplus + (uint64_t)(have_top ? top - 1 : 0) * 8;
    uint8_t next[2] = { 0, 0 };
    uint64_t awaited = 0;
    struct spy_memread_req req[2] = {
        { next, instr + 2, sizeof(next), 0 },
        { &awaited, slot, 8, 0 },
    };
    if (by_state)
        req[0] = req[1];
    spy_memread_many(req, by_state || !have_top ? 1 : 2);
    if (!by_state) {
        bool resume = next[0] == o->op_resume || (o->op_resume_alt >= 0 && next[0] == o->op_resume_alt);
        if (!req[0].ok || !resume || next[1] < 2)
            return 0;           /* suspended at a plain yield */
        if (!have_top || !req[1].ok)
            return -1;          /* in an await with nothing awaited: torn */
    } else if (!req[0].ok) {
        return -1;
    }
    lv->awaited = awaited;
    return 0;
}

/* 3.9/3.10: a frame object, reached through gi_frame (g: level_head bytes
 * of the generator).  In an await when the next instruction in co_code is
 * YIELD_FROM; then the top of the value stack is what it awaits. */
static int read_level_frame(const struct spy_offsets *o, const unsigned char *g, struct level *lv)
{
    uint64_t frame = u64_at(g, o->gen_frame);
    if (frame == 0) {
        lv->finished = true;
        return 0;
    }
    unsigned char f[BUF];
    size_t fn = (size_t)MAX2(MAX2(o->fo_code + 8, o->fo_lasti + 4), MAX2(o->fo_valuestack + 8, o->fo_stacktop + 8));
    fn = (size_t)MAX2((int32_t)fn, MAX2(o->fo_stackdepth + 4, o->fo_state + 1));
    if (fn > sizeof(f) || rd(f, frame, fn) != 0)
        return -1;
    lv->code = u64_at(f, o->fo_code);
    int32_t lasti = i32_at(f, o->fo_lasti);
    lv->offset = lasti < 0 || lasti > INT32_MAX / o->lasti_unit ? -1 : lasti * o->lasti_unit;
    int64_t next;               /* byte index of the next instruction */
    uint64_t slot;
    if (o->fo_state >= 0) {     /* 3.10 */
        int state = i8_at(f, o->fo_state);
        lv->created = state == o->state_created;
        lv->executing = state == o->state_executing;
        if (state > o->state_executing) {
            lv->finished = true;
            return 0;
        }
        if (lv->created || lv->executing)
            return 0;
        int32_t depth = i32_at(f, o->fo_stackdepth);
        if (depth < 1 || depth > (1 << 20) || lasti < 0)
            return 0;
        next = ((int64_t)lasti + 1) * o->lasti_unit;
        slot = u64_at(f, o->fo_valuestack) + (uint64_t)(depth - 1) * 8;
    } else {                    /* 3.9 */
        lv->executing = g[o->gen_running] != 0;
        lv->created = lasti < 0;
        if (lv->created || lv->executing)
            return 0;
        uint64_t stacktop = u64_at(f, o->fo_stacktop);
        if (stacktop == 0 || stacktop <= u64_at(f, o->fo_valuestack))
            return 0;
        next = (int64_t)lasti + 2;
        slot = stacktop - 8;
    }
    /* co_code and the stack top together, then the bytes' size and the
     * opcode together (the opcode read may fail past the end: checked) */
    uint64_t bytes = 0, awaited = 0;
    struct spy_memread_req r1[2] = {
        { &bytes, lv->code + (uint64_t)o->co_code, 8, 0 },
        { &awaited, slot, 8, 0 },
    };
    spy_memread_many(r1, 2);
    if (!r1[0].ok || bytes == 0)
        return -1;
    int64_t size = -1;
    uint8_t op = 0;
    struct spy_memread_req r2[2] = {
        { &size, bytes + (uint64_t)o->ob_size, 8, 0 },
        { &op, bytes + (uint64_t)o->bytes_sval + (uint64_t)next, 1, 0 },
    };
    spy_memread_many(r2, 2);
    if (!r2[0].ok || next >= size)
        return -1;
    if (!r2[1].ok || op != o->op_yield_from)
        return 0;
    if (!r1[1].ok)
        return -1;
    lv->awaited = awaited;
    return 0;
}

static int type_of(const struct spy_offsets *o, uint64_t obj, uint64_t *type)
{
    *type = 0;
    return rd(type, obj + (uint64_t)o->ob_type, 8);
}

static int read_task(const struct spy_offsets *o, const struct spy_interp *ip, const struct spy_task_roots *r,
                     uint64_t task, struct spy_raw_task *out)
{
    const struct asyncio_layout *a = layout_for(o);
    struct spy_raw_frame *frames = out->frames;
    memset(out, 0, sizeof(*out));
    out->frames = frames;
    if (a == NULL || frames == NULL || r->task_type == 0)
        return -1;
    unsigned char t[BUF];
    if (rd(t, task, task_head(a)) != 0)
        return -1;
    if (u64_at(t, o->ob_type) != r->task_type || i32_at(t, a->fut_state) != FUT_PENDING)
        return -1;
    out->addr = task;
    out->loop = u64_at(t, a->task_loop);
    out->coro = u64_at(t, a->task_coro);
    out->name = u64_at(t, a->task_name);
    out->waiter = u64_at(t, a->task_fut_waiter);
    bool waiter_done = false;
    if (out->waiter != 0) {
        /* its type and state in one read (a small object: its type alone) */
        unsigned char w[BUF];
        size_t wn = (size_t)MAX2(a->fut_state + 4, o->ob_type + 8);
        bool whole = rd(w, out->waiter, wn) == 0;
        if (whole || rd(w, out->waiter, (size_t)o->ob_type + 8) == 0) {
            uint64_t wt = u64_at(w, o->ob_type);
            out->waiter_is_task = wt == r->task_type;
            if (whole && (wt == r->task_type || (wt != 0 && wt == r->future_type)))
                waiter_done = i32_at(w, a->fut_state) != FUT_PENDING;
        }
    }
    /* the chain, outermost first, reversed at the end */
    uint64_t cur = out->coro;
    int depth = 0;
    bool created = false, executing = false;
    uint64_t leaf = 0, leaf_type = 0, leaf_future = 0;
    size_t head = level_head(o);
    for (int steps = 0; cur != 0 && steps < 2 * SPY_TASK_MAX_DEPTH + 2; steps++) {
        /* the coroutine's head and frame at once; a smaller object (the
         * leaf) may end before that: then its first words alone */
        unsigned char g[BUF];
        bool whole = head <= sizeof(g) && rd(g, cur, head) == 0;
        if (!whole && rd(g, cur, ASEND_GEN + 8) != 0)
            return -1;
        uint64_t type = u64_at(g, o->ob_type);
        if (type == r->asend_type && r->asend_type != 0) {
            cur = u64_at(g, ASEND_GEN);
            continue;
        }
        if (!(is_coroutine_type(r, type) || (type == r->asyncgen_type && type != 0))) {
            leaf = cur;
            leaf_type = type;
            leaf_future = u64_at(g, FUTUREITER_FUTURE);
            break;
        }
        if (!whole)
            return -1;
        if (depth == SPY_TASK_MAX_DEPTH) {
            out->truncated = true;
            break;
        }
        struct level lv = { 0 };
        int rc = o->gen_iframe >= 0 ? read_level_iframe(o, cur, g, &lv) : read_level_frame(o, g, &lv);
        if (rc != 0)
            return -1;
        if (lv.finished) {
            if (depth == 0)
                return -1;      /* the task's coroutine is done: so is the task, nearly */
            break;
        }
        frames[depth].code = lv.code;
        frames[depth].offset = lv.offset;
        frames[depth].pad = 0;
        depth++;
        if (lv.created)
            created = created || depth == 1;
        if (lv.executing)
            executing = true;
        if (lv.created || lv.executing)
            break;
        cur = lv.awaited;
    }
    if (depth == 0)
        return -1;
    for (int i = 0, j = depth - 1; i < j; i++, j--) {
        struct spy_raw_frame tmp = frames[i];
        frames[i] = frames[j];
        frames[j] = tmp;
    }
    out->depth = (uint16_t)depth;
    out->inner_code = frames[0].code;
    out->outer_code = frames[depth - 1].code;
    if (leaf != 0 && leaf_type != 0) {
        char tn[24];
        bool iter = leaf_type == r->futureiter_type
                    || (r->futureiter_type == 0 && type_name(o, ip, leaf_type, tn, sizeof(tn)) == 0
                        && strcmp(tn, "_asyncio.FutureIter") == 0);
        uint64_t ft = 0;
        if (iter && leaf_future != 0 && type_of(o, leaf_future, &ft) == 0 && ft != 0)
            leaf_type = ft;
        out->leaf_type = leaf_type;
    }
    if (executing)
        out->state = SPY_TASK_RUNNING;
    else if (created)
        out->state = SPY_TASK_CREATED;
    else if (out->waiter == 0 || waiter_done)
        out->state = SPY_TASK_READY;
    else
        out->state = SPY_TASK_WAITING;
    return 0;
}

/* ---- names ----------------------------------------------------------------- */

/* A NUL-terminated C string at addr, read without crossing into a page
 * that may not exist before it is needed. */
static int read_cstr(uint64_t addr, char *out, size_t cap)
{
    if (cap == 0)
        return -1;
    size_t pos = 0;
    while (pos + 1 < cap) {
        uint64_t at = addr + pos;
        size_t chunk = 4096 - (size_t)(at & 4095);
        if (chunk > 64)
            chunk = 64;
        if (chunk > cap - 1 - pos)
            chunk = cap - 1 - pos;
        if (rd(out + pos, at, chunk) != 0)
            return -1;
        void *nul = memchr(out + pos, '\0', chunk);
        if (nul)
            return 0;
        pos += chunk;
    }
    out[pos] = '\0';
    return 0;
}

static int type_name(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t type, char *out,
                     size_t cap)
{
    (void)ip;
    uint64_t name = 0;
    if (o == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    if (type == 0 || rd(&name, type + (uint64_t)o->tp_name, 8) != 0 || name == 0)
        return -1;
    if (read_cstr(name, out, cap) != 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static int task_name(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t name_obj, char *out,
                     size_t cap)
{
    uint64_t type;
    if (o == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    if (name_obj == 0)
        return -1;
    if (spy_read_str(o, ip, name_obj, out, cap) == 0)
        return 0;               /* a str: the usual case */
    out[0] = '\0';
    if (type_of(o, name_obj, &type) != 0 || type == ip->unicode_type)
        return -1;
    /* 3.12+: an int until get_name() is called; CPython names it Task-<n> */
    uint64_t flags = 0;
    if (rd(&flags, type + (uint64_t)o->tp_flags, 8) != 0 || !(flags & TPFLAGS_LONG_SUBCLASS))
        return -1;
    unsigned char l[64];
    if (rd(l, name_obj, (size_t)o->long_digits + 8) != 0)
        return -1;
    uint64_t tag = u64_at(l, o->long_size);
    uint64_t ndigits;
    bool negative;
    if (o->long_tag_shift > 0) {
        ndigits = tag >> o->long_tag_shift;
        negative = (tag & 3) == 2;
    } else {
        int64_t size = (int64_t)tag;
        negative = size < 0;
        ndigits = (uint64_t)(size < 0 ? -size : size);
    }
    if (ndigits > 2 || negative)
        return -1;
    uint32_t d[2] = { 0, 0 };
    memcpy(d, l + o->long_digits, 8);
    uint64_t v = 0;
    for (uint64_t i = 0; i < ndigits; i++)
        v |= (uint64_t)(d[i] & ((1u << o->long_digit_bits) - 1)) << (o->long_digit_bits * (int)i);
    char buf[32];
    int n = 0;
    char digits[24];
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < (int)sizeof(digits));
    memcpy(buf, "Task-", 5);
    for (int i = 0; i < n; i++)
        buf[5 + i] = digits[n - 1 - i];
    buf[5 + n] = '\0';
    size_t len = (size_t)5 + (size_t)n;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}

/* ---- roots without the GIL ------------------------------------------------- */

#define MODULE_DICT 16          /* PyModuleObject.md_dict, after PyObject_HEAD (3.9-3.13) */

static bool type_is(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t obj, const char *name)
{
    uint64_t type;
    char buf[64];
    return obj != 0 && type_of(o, obj, &type) == 0 && type_name(o, ip, type, buf, sizeof(buf)) == 0
           && strcmp(buf, name) == 0;
}

static uint64_t module_dict(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t modules,
                            const char *name)
{
    uint64_t m = spy_dict_lookup(o, ip, modules, name), d = 0;
    if (m == 0 || !type_is(o, ip, m, "module") || rd(&d, m + MODULE_DICT, 8) != 0)
        return 0;
    return d;
}

static int find_roots(const struct spy_offsets *o, const struct spy_interp *ip, struct spy_task_roots *out)
{
    uint64_t interp = 0, sysdict = 0;
    if (o == NULL || rd(&interp, ip->runtime + (uint64_t)o->rt_interpreters_head, 8) != 0
        || rd(&sysdict, interp + (uint64_t)o->is_sysdict, 8) != 0)
        return -1;
    uint64_t modules = spy_dict_lookup(o, ip, sysdict, "modules");
    if (modules == 0)
        return -1;
    uint64_t tasks = module_dict(o, ip, modules, "asyncio.tasks");
    uint64_t aio = tasks ? module_dict(o, ip, modules, "_asyncio") : 0;
    if (tasks == 0 || aio == 0)
        return -1;
    uint64_t weakset = spy_dict_lookup(o, ip, tasks, "_scheduled_tasks");          /* 3.12+ */
    if (weakset == 0)
        weakset = spy_dict_lookup(o, ip, tasks, "_all_tasks");                     /* 3.9-3.11 */
    uint64_t set = weakset ? spy_attribute(o, ip, weakset, "data") : 0;
    uint64_t eager = spy_dict_lookup(o, ip, tasks, "_eager_tasks");
    uint64_t task = spy_dict_lookup(o, ip, aio, "Task");
    uint64_t future = spy_dict_lookup(o, ip, aio, "Future");
    if (!type_is(o, ip, set, "set") || !type_is(o, ip, task, "type") || !type_is(o, ip, future, "type"))
        return -1;
    char name[64];
    if (type_name(o, ip, task, name, sizeof(name)) != 0 || strcmp(name, "_asyncio.Task") != 0
        || type_name(o, ip, future, name, sizeof(name)) != 0 || strcmp(name, "_asyncio.Future") != 0)
        return -1;
    out->tasks_set = set;
    out->eager_set = type_is(o, ip, eager, "set") ? eager : 0;
    out->task_type = task;
    out->future_type = future;
    return 0;
}

/* ---- one reader per version ---------------------------------------------- */

#define SPY_TASK_READER(MIN) \
    static int list_##MIN(const struct spy_interp *ip, const struct spy_task_roots *r, uint64_t *out, int max, \
                          void *scratch) \
    { return list_tasks(spy_offsets_for(3, MIN), ip, r, out, max, scratch); } \
    static int read_##MIN(const struct spy_interp *ip, const struct spy_task_roots *r, uint64_t task, \
                          struct spy_raw_task *out) \
    { return read_task(spy_offsets_for(3, MIN), ip, r, task, out); } \
    static int name_##MIN(const struct spy_interp *ip, uint64_t obj, char *out, size_t cap) \
    { return task_name(spy_offsets_for(3, MIN), ip, obj, out, cap); } \
    static int type_##MIN(const struct spy_interp *ip, uint64_t type, char *out, size_t cap) \
    { return type_name(spy_offsets_for(3, MIN), ip, type, out, cap); } \
    static int roots_##MIN(const struct spy_interp *ip, struct spy_task_roots *out) \
    { return find_roots(spy_offsets_for(3, MIN), ip, out); } \
    static const struct spy_task_reader task_reader_3_##MIN = { \
        .find_roots = roots_##MIN, \
        .list_tasks = list_##MIN, \
        .read_task = read_##MIN, \
        .task_name = name_##MIN, \
        .type_name = type_##MIN, \
    };

SPY_TASK_READER(9)
SPY_TASK_READER(10)
SPY_TASK_READER(11)
SPY_TASK_READER(12)
SPY_TASK_READER(13)

const struct spy_task_reader *spy_task_reader_for(int major, int minor)
{
    if (major != 3)
        return NULL;
    switch (minor) {
    case 9: return &task_reader_3_9;
    case 10: return &task_reader_3_10;
    case 11: return &task_reader_3_11;
    case 12: return &task_reader_3_12;
    case 13: return &task_reader_3_13;
    default: return NULL;
    }
}
