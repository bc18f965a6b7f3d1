/*
 * blocks.c — the live event-loop blocking detector.
 *
 * The sampler calls on_tick (its tick hook, agent.h) after every tick with
 * each thread's slot and interned stack.  Each distinct stack is classified
 * once and cached by stack id, with the rules the report uses
 * (analysis.h: spy_stack_on_loop, spy_stack_loop_waiting,
 * spy_stack_endpoint over the categories' event_loops, loop_waits and
 * endpoints, SPY_CATEGORIES included):
 *   - not on a loop thread (no event_loops frame);
 *   - the loop itself (in its selector, or uvloop's C under its entry);
 *   - a callback: identified by its outermost frame above the loop
 *     machinery (function and line of the first frame inside the innermost
 *     event_loops frame that is not asyncio's own, the async_io category),
 *     plus its endpoint (the route function) when the stack reaches one.
 * A block is the run of consecutive ticks on which a loop thread is in the
 * same callback; it ends on the first tick that finds the thread in its
 * selector, in another callback, or off the loop (or not at all).  Its
 * length is from the first tick that saw it out to the tick that saw it
 * back, so its resolution is the sampling interval (10 ms at 100 Hz, two
 * intervals at worst with the jitter).  Whatever the thread does meanwhile
 * counts: Python, a C call holding the GIL, or a sleep or a synchronous
 * call with the GIL released.  A block of SPY_BLOCK_MS or more becomes an
 * event: the stack seen most often during it (a few candidates counted,
 * space-saving style), its endpoint, the thread, and when; and the name
 * of the asyncio task that was running, read with the GIL-free task
 * reader once the block has lasted half of SPY_BLOCK_MS (on the next
 * ticks again, three tries at most, while none is found).
 *
 * Two callbacks of the same function and line with the same endpoint, run
 * back to back with less than a tick in the selector between them, are
 * one block: sampling cannot tell them apart.
 *
 * Threads: on_tick and its caches are the sampler thread's alone (it
 * allocates only when a new stack or frame is first seen, and when a
 * block is recorded); the kept events, counts and per-endpoint figures
 * are shared under `shared.lock` with the server, leaf, writer and Python
 * threads.  Invariant: shared.n <= SPY_BLOCKS_KEPT, events in the ring in
 * sequence order.
 */
#include "blocks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "analysis.h"
#include "categories.h"
#include "log.h"
#include "threads.h"

#define NONE UINT32_MAX
#define CANDIDATES 8              /* stacks counted per block */
#define MAX_OPEN 64               /* loop threads followed at once */
#define CACHE_MAX (1u << 17)      /* cache slots (2.6 MB) at most: past half full it starts over */

enum kind { K_EMPTY = 0, K_OTHER, K_WAITING, K_CALLBACK };

struct stack_class {
    uint32_t stack;
    uint8_t kind;
    uint32_t callback;            /* frame id (function and line) of the callback's outermost frame */
    uint32_t endpoint;            /* frame id of the endpoint frame, NONE if none */
    uint32_t endpoint_func;       /* its function id, NONE if none */
};

struct loop_state {
    bool open;
    uint64_t start_ns, seen_tick;
    uint32_t callback, endpoint, endpoint_func;
    uint32_t stacks[CANDIDATES], counts[CANDIDATES];
    int nstacks;
    int task_looks;               /* times the running task was looked for during this block */
    char task[64];                /* its name, "" if none found */
};

#define TASKS_READ_MAX 4096       /* tasks read at most to find the running one */
#define TASK_LOOKS 3              /* tries per block (the roots may not be captured yet, a read may tear) */

/* The sampler thread's. */
static struct {
    bool ready;
    int block_ms;
    struct spy_categories *rules;
    struct spy_frame_role *roles;     /* by store frame id */
    uint8_t *known;                   /* by frame id: 0 unknown, 1 known, 2 known and loop machinery */
    uint32_t nroles;
    struct stack_class *cache;        /* open addressing by stack id */
    uint32_t cache_size, cache_n;
    struct loop_state *loops;         /* by store slot */
    int open[MAX_OPEN];
    int nopen;
    uint64_t tick;
    /* to find the running asyncio task (python/tasks.h), allocated on first use */
    uint64_t *task_addrs;
    void *task_scratch;
    struct spy_raw_frame *task_frames;
} det;

struct ep_stat {
    char *endpoint, *file;            /* endpoint NULL: blocks with no endpoint */
    uint64_t count, max_ms, total_ms;
};

static struct {
    pthread_mutex_t lock;
    struct spy_loop_block ring[SPY_BLOCKS_KEPT];
    uint64_t ring_seq[SPY_BLOCKS_KEPT];
    size_t head, n;                   /* oldest at head */
    uint64_t seq, total;
    struct ep_stat eps[SPY_BLOCKS_ENDPOINTS];
    int neps;
    atomic_uint_fast64_t cost_ns, cost_n;
} shared = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- kept events (any thread) ------------------------------------------- */

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Lock held.  Takes what *b owns. */
static void keep(struct spy_loop_block *b)
{
    shared.total++;
    uint64_t ms = b->duration_ms > 0 ? (uint64_t)b->duration_ms : 0;
    int e;
    for (e = 0; e < shared.neps; e++)
        if (same_text(shared.eps[e].endpoint, b->endpoint) && same_text(shared.eps[e].file, b->endpoint_file))
            break;
    if (e == shared.neps && e < SPY_BLOCKS_ENDPOINTS) {
        struct ep_stat *s = &shared.eps[e];
        memset(s, 0, sizeof(*s));
        s->endpoint = b->endpoint ? strdup(b->endpoint) : NULL;
        s->file = b->endpoint_file ? strdup(b->endpoint_file) : NULL;
        if ((!b->endpoint || s->endpoint) && (!b->endpoint_file || s->file)) {
            shared.neps++;
        } else {
            free(s->endpoint);
            free(s->file);
        }
    }
    if (e < shared.neps) {
        struct ep_stat *s = &shared.eps[e];
        s->count++;
        s->total_ms += ms;
        if (ms > s->max_ms)
            s->max_ms = ms;
    }
    size_t at;
    if (shared.n == SPY_BLOCKS_KEPT) {
        at = shared.head;
        spy_loop_block_clear(&shared.ring[at]);
        shared.head = (shared.head + 1) % SPY_BLOCKS_KEPT;
    } else {
        at = (shared.head + shared.n) % SPY_BLOCKS_KEPT;
        shared.n++;
    }
    shared.ring[at] = *b;
    shared.ring_seq[at] = ++shared.seq;
    memset(b, 0, sizeof(*b));
}

void spy_blocks_add(struct spy_loop_block *b)
{
    pthread_mutex_lock(&shared.lock);
    keep(b);
    pthread_mutex_unlock(&shared.lock);
}

uint64_t spy_blocks_total(void)
{
    pthread_mutex_lock(&shared.lock);
    uint64_t t = shared.total;
    pthread_mutex_unlock(&shared.lock);
    return t;
}

uint64_t spy_blocks_seq(void)
{
    pthread_mutex_lock(&shared.lock);
    uint64_t s = shared.seq;
    pthread_mutex_unlock(&shared.lock);
    return s;
}

double spy_blocks_cost_us(void)
{
    uint64_t n = atomic_load(&shared.cost_n);
    return n ? (double)atomic_load(&shared.cost_ns) / (double)n / 1000.0 : 0.0;
}

/* Copies of the kept blocks that `want` accepts, oldest first. */
static int copy_kept(bool (*want)(const struct spy_loop_block *, uint64_t, const void *), const void *arg,
                     struct spy_loop_block **out, size_t *n, uint64_t *last)
{
    int rc = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&shared.lock);
    if (last)
        *last = shared.seq;
    struct spy_loop_block *v = shared.n ? calloc(shared.n, sizeof(*v)) : NULL;
    if (shared.n && !v)
        rc = -1;
    size_t k = 0;
    for (size_t i = 0; v && i < shared.n; i++) {
        size_t at = (shared.head + i) % SPY_BLOCKS_KEPT;
        if (!want(&shared.ring[at], shared.ring_seq[at], arg))
            continue;
        if (spy_loop_block_copy(&v[k], &shared.ring[at]) != 0) {
            rc = -1;
            break;
        }
        k++;
    }
    pthread_mutex_unlock(&shared.lock);
    if (rc != 0) {
        spy_loop_blocks_free(v, k);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static bool after_seq(const struct spy_loop_block *b, uint64_t seq, const void *arg)
{
    (void)b;
    return seq > *(const uint64_t *)arg;
}

static bool in_span(const struct spy_loop_block *b, uint64_t seq, const void *arg)
{
    (void)seq;
    const double *span = arg;
    return b->at >= span[0] && b->at < span[1];
}

int spy_blocks_since(uint64_t after, struct spy_loop_block **out, size_t *n, uint64_t *last)
{
    return copy_kept(after_seq, &after, out, n, last);
}

int spy_blocks_between(double from, double to, struct spy_loop_block **out, size_t *n)
{
    double span[2] = { from, to };
    return copy_kept(in_span, span, out, n, NULL);
}

static int compare_eps(const void *pa, const void *pb)
{
    const struct ep_stat *a = pa, *b = pb;
    if (a->total_ms != b->total_ms)
        return a->total_ms > b->total_ms ? -1 : 1;
    return a->count > b->count ? -1 : a->count < b->count;
}

static void add_text_or_null(cJSON *o, const char *key, const char *text)
{
    if (text)
        cJSON_AddStringToObject(o, key, text);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *spy_blocks_per_endpoint_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&shared.lock);
    struct ep_stat sorted[SPY_BLOCKS_ENDPOINTS];
    int n = shared.neps;
    memcpy(sorted, shared.eps, (size_t)n * sizeof(*sorted));
    qsort(sorted, (size_t)n, sizeof(*sorted), compare_eps);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        add_text_or_null(o, "endpoint", sorted[i].endpoint);
        add_text_or_null(o, "file", sorted[i].file);
        cJSON_AddNumberToObject(o, "count", (double)sorted[i].count);
        cJSON_AddNumberToObject(o, "max_ms", (double)sorted[i].max_ms);
        cJSON_AddNumberToObject(o, "total_ms", (double)sorted[i].total_ms);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&shared.lock);
    return arr;
}

/* ---- JSON ----------------------------------------------------------------- */

cJSON *spy_block_json(const struct spy_loop_block *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *frames = cJSON_CreateArray();
    if (!o || !frames) {
        cJSON_Delete(o);
        cJSON_Delete(frames);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "at", b->at);
    cJSON_AddNumberToObject(o, "duration_ms", (double)b->duration_ms);
    cJSON_AddStringToObject(o, "thread", b->thread);
    cJSON_AddNumberToObject(o, "tid", b->tid);
    cJSON_AddNumberToObject(o, "pid", b->pid);
    add_text_or_null(o, "endpoint", b->endpoint);
    add_text_or_null(o, "endpoint_file", b->endpoint_file);
    add_text_or_null(o, "task", b->task);
    for (uint32_t i = 0; i < b->nframes; i++) {
        cJSON *f = cJSON_CreateObject();
        if (!f)
            break;
        cJSON_AddStringToObject(f, "function", b->frames[i].function ? b->frames[i].function : "");
        cJSON_AddStringToObject(f, "file", b->frames[i].file ? b->frames[i].file : "");
        cJSON_AddNumberToObject(f, "line", b->frames[i].line);
        cJSON_AddItemToArray(frames, f);
    }
    cJSON_AddItemToObject(o, "frames", frames);
    return o;
}

static int json_text(const cJSON *o, const char *key, bool nullable, char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (nullable && (!v || cJSON_IsNull(v)))
        return 0;
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "a block's \"%s\" must be a string%s", key, nullable ? " or null" : "");
        return -1;
    }
    *out = strdup(v->valuestring);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int json_number(const cJSON *o, const char *key, double lo, double hi, double *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(err, errlen, "a block's \"%s\" must be a number from %.0f to %.0f", key, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int spy_block_from_json(const cJSON *o, struct spy_loop_block *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    double at, ms, tid, pid;
    char *thread = NULL;
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "a block must be a JSON object");
        return -1;
    }
    if (json_number(o, "at", 0, 1e11, &at, err, errlen) || json_number(o, "duration_ms", 0, 1e12, &ms, err, errlen)
        || json_number(o, "tid", 0, 2147483647.0, &tid, err, errlen)
        || json_number(o, "pid", 0, 2147483647.0, &pid, err, errlen)
        || json_text(o, "thread", false, &thread, err, errlen))
        goto fail;
    b->at = at;
    b->duration_ms = (int64_t)ms;
    b->tid = (int)tid;
    b->pid = (int)pid;
    snprintf(b->thread, sizeof(b->thread), "%s", thread);
    free(thread);
    thread = NULL;
    if (json_text(o, "endpoint", true, &b->endpoint, err, errlen)
        || json_text(o, "endpoint_file", true, &b->endpoint_file, err, errlen)
        || json_text(o, "task", true, &b->task, err, errlen))
        goto fail;
    const cJSON *frames = cJSON_GetObjectItemCaseSensitive(o, "frames");
    if (!cJSON_IsArray(frames)) {
        snprintf(err, errlen, "a block's \"frames\" must be an array");
        goto fail;
    }
    int nf = cJSON_GetArraySize(frames);
    if (nf > SPY_BLOCK_MAX_FRAMES)
        nf = SPY_BLOCK_MAX_FRAMES;
    b->frames = nf ? calloc((size_t)nf, sizeof(*b->frames)) : NULL;
    if (nf && !b->frames) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < nf; i++) {
        const cJSON *f = cJSON_GetArrayItem(frames, i);
        double line;
        struct spy_loop_block_frame *bf = &b->frames[i];
        b->nframes = (uint32_t)i + 1;
        if (!cJSON_IsObject(f) || json_text(f, "function", false, &bf->function, err, errlen)
            || json_text(f, "file", false, &bf->file, err, errlen)
            || json_number(f, "line", -1, 2147483647.0, &line, err, errlen))
            goto fail;
        bf->line = (int)line;
    }
    return 0;
fail:
    if (!err[0])
        snprintf(err, errlen, "a block's frames must be objects with function, file and line");
    free(thread);
    spy_loop_block_clear(b);
    return -1;
}

/* ---- the detector (sampler thread) -------------------------------------- */

static void text_of(const struct spy_intern *t, uint32_t id, char *out, size_t cap)
{
    uint32_t len;
    const char *s = spy_intern_bytes(t, id, &len);
    snprintf(out, cap, "%.*s", (int)len, s);
}

/* The function and file of a store frame. */
static const struct spy_func_key *frame_func(uint32_t frame, int *line)
{
    struct spy_store *s = &spy_agent.store;
    uint32_t len;
    const struct spy_frame_key *fk = spy_intern_bytes(&s->frames, frame, &len);
    if (line)
        *line = fk->line;
    return spy_intern_bytes(&s->funcs, fk->func, &len);
}

static uint32_t frame_func_id(uint32_t frame)
{
    uint32_t len;
    const struct spy_frame_key *fk = spy_intern_bytes(&spy_agent.store.frames, frame, &len);
    return fk->func;
}

/* Roles of every frame of a stack known; false if out of memory. */
static bool learn_frames(const uint32_t *ids, uint32_t depth)
{
    for (uint32_t k = 0; k < depth; k++) {
        uint32_t f = ids[k];
        if (f >= det.nroles) {
            uint32_t n = det.nroles ? det.nroles : 1024;
            while (n <= f)
                n *= 2;
            struct spy_frame_role *r = realloc(det.roles, n * sizeof(*r));
            if (!r)
                return false;
            det.roles = r;
            uint8_t *kn = realloc(det.known, n);
            if (!kn)
                return false;
            det.known = kn;
            memset(det.known + det.nroles, 0, n - det.nroles);
            det.nroles = n;
        }
        if (det.known[f])
            continue;
        const struct spy_func_key *fn = frame_func(f, NULL);
        char name[SPY_MAX_STR], file[SPY_MAX_STR];
        text_of(&spy_agent.store.strings, fn->name, name, sizeof(name));
        text_of(&spy_agent.store.strings, fn->file, file, sizeof(file));
        spy_frame_role_of(det.rules, name, file, &det.roles[f]);
        int cat = spy_categories_match(det.rules, spy_categories_file_mask(det.rules, file), name);
        det.known[f] = cat == SPY_CAT_ASYNC_IO ? 2 : 1;
    }
    return true;
}

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static bool cache_grow(void)
{
    uint32_t size = det.cache_size ? det.cache_size * 2 : 4096;
    if (size > CACHE_MAX) {
        /* that many stacks: start over rather than grow without end */
        memset(det.cache, 0, det.cache_size * sizeof(*det.cache));
        det.cache_n = 0;
        return true;
    }
    struct stack_class *c = calloc(size, sizeof(*c));
    if (!c)
        return false;
    for (uint32_t i = 0; i < det.cache_size; i++) {
        if (det.cache[i].kind == K_EMPTY)
            continue;
        uint32_t j = mix32(det.cache[i].stack) & (size - 1);
        while (c[j].kind != K_EMPTY)
            j = (j + 1) & (size - 1);
        c[j] = det.cache[i];
    }
    free(det.cache);
    det.cache = c;
    det.cache_size = size;
    return true;
}

/* The class of a stack, computed on first sight; NULL if out of memory. */
static const struct stack_class *classify(uint32_t stack)
{
    if (det.cache_n * 2 + 2 > det.cache_size && !cache_grow())
        return NULL;
    uint32_t j = mix32(stack) & (det.cache_size - 1);
    while (det.cache[j].kind != K_EMPTY && det.cache[j].stack != stack)
        j = (j + 1) & (det.cache_size - 1);
    struct stack_class *c = &det.cache[j];
    if (c->kind != K_EMPTY)
        return c;

    uint32_t len;
    const uint32_t *ids = spy_intern_bytes(&spy_agent.store.stacks, stack, &len);
    uint32_t depth = len / (uint32_t)sizeof(uint32_t);
    if (!learn_frames(ids, depth))
        return NULL;
    c->stack = stack;
    c->callback = c->endpoint = c->endpoint_func = NONE;
    det.cache_n++;
    if (!spy_stack_on_loop(det.roles, ids, depth)) {
        c->kind = K_OTHER;
        return c;
    }
    if (spy_stack_loop_waiting(det.roles, ids, depth)) {
        c->kind = K_WAITING;
        return c;
    }
    c->kind = K_CALLBACK;
    uint32_t loop = 0;
    while (loop < depth && !det.roles[ids[loop]].loop)
        loop++;
    /* the outermost frame inside the loop that is not the loop's machinery */
    int k = (int)loop - 1;
    while (k >= 0 && det.known[ids[k]] == 2)
        k--;
    if (k < 0)
        k = (int)loop - 1;
    c->callback = ids[k];
    int ep = spy_stack_endpoint(det.roles, ids, depth);
    if (ep >= 0) {
        c->endpoint = ids[ep];
        c->endpoint_func = frame_func_id(ids[ep]);
    }
    return c;
}

static void note_stack(struct loop_state *L, uint32_t stack)
{
    int min = 0;
    for (int i = 0; i < L->nstacks; i++) {
        if (L->stacks[i] == stack) {
            L->counts[i]++;
            return;
        }
        if (L->counts[i] < L->counts[min])
            min = i;
    }
    if (L->nstacks < CANDIDATES) {
        L->stacks[L->nstacks] = stack;
        L->counts[L->nstacks++] = 1;
        return;
    }
    /* space saving: the least seen candidate gives way, its count carried */
    L->stacks[min] = stack;
    L->counts[min]++;
}

/* The name of the asyncio task running on the blocked thread, read
 * without the GIL while the block goes on (python/tasks.h): the one task
 * in the running state, or, with several loops running, the main loop's
 * when the thread is the main thread.  "" if none is found. */
static void look_for_task(int slot, struct loop_state *L)
{
    struct spy_agent *a = &spy_agent;
    L->task_looks++;
    L->task[0] = '\0';
    const struct spy_task_reader *tr = spy_task_reader_for(a->py.major, a->py.minor);
    struct spy_task_roots roots;
    if (!tr || !spy_task_roots_load(&roots))
        return;
    if (!det.task_addrs) {
        det.task_addrs = malloc(TASKS_READ_MAX * sizeof(*det.task_addrs));
        det.task_scratch = malloc(SPY_TASKS_SCRATCH);
        det.task_frames = malloc(SPY_TASK_MAX_DEPTH * sizeof(*det.task_frames));
        if (!det.task_addrs || !det.task_scratch || !det.task_frames) {
            free(det.task_addrs);
            free(det.task_scratch);
            free(det.task_frames);
            det.task_addrs = NULL;
            det.task_scratch = NULL;
            det.task_frames = NULL;
            return;
        }
    }
    int n = tr->list_tasks(&a->py.ip, &roots, det.task_addrs, TASKS_READ_MAX, det.task_scratch);
    bool main_thread = a->store.slots[slot].thread_id == a->py.ip.main_thread;
    uint64_t name = 0, main_name = 0;
    int running = 0;
    for (int i = 0; i < n; i++) {
        struct spy_raw_task t;
        memset(&t, 0, sizeof(t));
        t.frames = det.task_frames;
        if (tr->read_task(&a->py.ip, &roots, det.task_addrs[i], &t) != 0 || t.state != SPY_TASK_RUNNING)
            continue;
        running++;
        name = t.name;
        if (roots.main_loop && t.loop == roots.main_loop)
            main_name = t.name;
    }
    uint64_t pick = running == 1 ? name : main_thread ? main_name : 0;
    if (pick && tr->task_name(&a->py.ip, pick, L->task, sizeof(L->task)) != 0)
        L->task[0] = '\0';
}

static char *dup_intern(const struct spy_intern *t, uint32_t id)
{
    char buf[SPY_MAX_STR];
    text_of(t, id, buf, sizeof(buf));
    return strdup(buf);
}

/* A block of ms milliseconds that ended at end_ns: into an event. */
static void record(int slot, const struct loop_state *L, uint64_t end_ns)
{
    struct spy_store *s = &spy_agent.store;
    struct spy_loop_block b;
    memset(&b, 0, sizeof(b));
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    double now_unix = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
    uint64_t mono = spy_now_ns();
    b.at = now_unix - (double)(mono > L->start_ns ? mono - L->start_ns : 0) / 1e9;
    b.duration_ms = (int64_t)((end_ns - L->start_ns) / 1000000ULL);
    const struct spy_thread_slot *sl = &s->slots[slot];
    snprintf(b.thread, sizeof(b.thread), "%s", sl->name);
    b.tid = sl->tid;
    b.pid = sl->pid ? sl->pid : (int)getpid();
    int best = 0;
    for (int i = 1; i < L->nstacks; i++)
        if (L->counts[i] > L->counts[best])
            best = i;
    bool failed = false;
    if (L->nstacks > 0) {
        uint32_t len;
        const uint32_t *ids = spy_intern_bytes(&s->stacks, L->stacks[best], &len);
        uint32_t depth = len / (uint32_t)sizeof(uint32_t);
        if (depth > SPY_BLOCK_MAX_FRAMES)
            depth = SPY_BLOCK_MAX_FRAMES;
        b.frames = depth ? calloc(depth, sizeof(*b.frames)) : NULL;
        failed = depth && !b.frames;
        for (uint32_t k = 0; b.frames && k < depth; k++) {
            int line;
            const struct spy_func_key *fn = frame_func(ids[k], &line);
            b.frames[k].function = dup_intern(&s->strings, fn->name);
            b.frames[k].file = dup_intern(&s->strings, fn->file);
            b.frames[k].line = line;
            b.nframes = k + 1;
            failed |= !b.frames[k].function || !b.frames[k].file;
        }
    }
    if (L->task[0]) {
        b.task = strdup(L->task);
        failed |= !b.task;
    }
    if (L->endpoint != NONE) {
        const struct spy_func_key *fn = frame_func(L->endpoint, NULL);
        b.endpoint = dup_intern(&s->strings, fn->name);
        b.endpoint_file = dup_intern(&s->strings, fn->file);
        failed |= !b.endpoint || !b.endpoint_file;
    }
    if (failed) {
        spy_log(SPY_LOG_DEBUG, "out of memory recording a loop block of %lld ms", (long long)b.duration_ms);
        spy_loop_block_clear(&b);
        return;
    }
    spy_blocks_add(&b);
}

static void close_block(int slot, struct loop_state *L, uint64_t end_ns)
{
    if (!L->open)
        return;
    L->open = false;
    for (int i = 0; i < det.nopen; i++)
        if (det.open[i] == slot) {
            det.open[i] = det.open[--det.nopen];
            break;
        }
    if (end_ns > L->start_ns && (end_ns - L->start_ns) / 1000000ULL >= (uint64_t)det.block_ms)
        record(slot, L, end_ns);
}

static void open_block(int slot, struct loop_state *L, const struct stack_class *c, uint64_t now_ns)
{
    if (det.nopen >= MAX_OPEN)
        return;
    det.open[det.nopen++] = slot;
    L->open = true;
    L->start_ns = now_ns;
    L->callback = c->callback;
    L->endpoint = c->endpoint;
    L->endpoint_func = c->endpoint_func;
    L->nstacks = 0;
    L->task_looks = 0;
    L->task[0] = '\0';
    note_stack(L, c->stack);
}

static bool same_callback(const struct loop_state *L, const struct stack_class *c)
{
    return L->callback == c->callback
           && (L->endpoint_func == NONE || c->endpoint_func == NONE || L->endpoint_func == c->endpoint_func);
}

static void on_tick(const struct spy_tick_thread *threads, int n, uint64_t now_ns)
{
    uint64_t t0 = spy_now_ns();
    det.tick++;
    for (int i = 0; i < n; i++) {
        int slot = threads[i].slot;
        if (slot < 0 || slot >= SPY_MAX_SLOTS)
            continue;
        struct loop_state *L = &det.loops[slot];
        L->seen_tick = det.tick;
        if (threads[i].stack == SPY_INTERN_NONE)
            continue;                       /* no stack this tick (torn): no news */
        const struct stack_class *c = classify(threads[i].stack);
        if (!c)
            continue;
        if (c->kind != K_CALLBACK) {
            close_block(slot, L, now_ns);
            continue;
        }
        if (L->open && same_callback(L, c)) {
            note_stack(L, c->stack);
            if (L->endpoint == NONE && c->endpoint != NONE) {
                L->endpoint = c->endpoint;
                L->endpoint_func = c->endpoint_func;
            }
            /* half way to a block: the task is still running, name it */
            if (!L->task[0] && L->task_looks < TASK_LOOKS
                && (now_ns - L->start_ns) / 1000000ULL * 2 >= (uint64_t)det.block_ms)
                look_for_task(slot, L);
            continue;
        }
        close_block(slot, L, now_ns);
        open_block(slot, L, c, now_ns);
    }
    /* loop threads this tick did not see (gone): their block ends here */
    for (int i = det.nopen - 1; i >= 0; i--) {
        int slot = det.open[i];
        if (det.loops[slot].seen_tick != det.tick)
            close_block(slot, &det.loops[slot], now_ns);
    }
    uint64_t cost = spy_now_ns() - t0;
    if (atomic_load(&shared.cost_n) >= SPY_COST_WINDOW) {   /* a moving window, like the walk cost */
        atomic_store(&shared.cost_ns, atomic_load(&shared.cost_ns) / 2);
        atomic_store(&shared.cost_n, atomic_load(&shared.cost_n) / 2);
    }
    atomic_fetch_add(&shared.cost_ns, cost);
    atomic_fetch_add(&shared.cost_n, 1);
}

int spy_blocks_start(const struct spy_config *cfg)
{
    if (cfg->block_ms <= 0) {
        atomic_store(&spy_agent.tick_hook, NULL);
        return 0;
    }
    if (!det.ready) {
        char err[300];
        if (spy_categories_default(&det.rules, err, sizeof(err)) != 0) {
            spy_log(SPY_LOG_ERROR, "the event-loop blocking detector is off: %s", err);
            return -1;
        }
        det.loops = calloc(SPY_MAX_SLOTS, sizeof(*det.loops));
        if (!det.loops) {
            spy_categories_free(det.rules);
            det.rules = NULL;
            spy_log(SPY_LOG_ERROR, "the event-loop blocking detector is off: out of memory");
            return -1;
        }
        det.ready = true;
    }
    det.block_ms = cfg->block_ms;
    atomic_store(&spy_agent.tick_hook, on_tick);
    return 0;
}

void spy_blocks_stop(void)
{
    /* the state stays: the sampler may be inside on_tick right now, and a
     * later start reuses it */
    atomic_store(&spy_agent.tick_hook, NULL);
}

void spy_blocks_after_fork_child(void)
{
    pthread_mutex_init(&shared.lock, NULL);
    for (size_t i = 0; i < shared.n; i++)
        spy_loop_block_clear(&shared.ring[(shared.head + i) % SPY_BLOCKS_KEPT]);
    for (int e = 0; e < shared.neps; e++) {
        free(shared.eps[e].endpoint);
        free(shared.eps[e].file);
    }
    shared.head = shared.n = 0;
    shared.seq = shared.total = 0;
    shared.neps = 0;
    if (det.loops)
        memset(det.loops, 0, SPY_MAX_SLOTS * sizeof(*det.loops));
    det.nopen = 0;
    /* the store keeps its interned stacks across fork, but the parent's
     * sampler may have been filling the cache when it forked */
    free(det.cache);
    det.cache = NULL;
    det.cache_size = det.cache_n = 0;
}
