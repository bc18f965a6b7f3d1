/*
 * symbols.c — turns (code object address, instruction offset) into an
 * interned frame (function, file, first line, current line).
 *
 * Resolving a code object costs several reads (the object, its name, its
 * file, its line table), so results are cached by address.  An address can
 * be freed and reused by a different code object, so each tick re-reads the
 * identifying fields (type, name, file, line table pointers, first line) of
 * every cached code object in the sample with one batched read, and
 * re-resolves those that changed.  Line numbers are cached per (entry,
 * offset).  Line tables are copied once into an append-only reservation.
 *
 * Threads: the sampler thread only.  Lookups in the store's intern tables
 * happen with the store lock held by the caller.
 */
#include "symbols.h"

#include <stdlib.h>
#include <string.h>

#include "memread.h"
#include "pages.h"

#define MAX_CODE_ENTRIES (1u << 20)
#define LINES_CAP (256u << 20)
#define BATCH_MAX (SPY_MAX_THREADS * 4)
#define HEADER_MAX 512

int spy_symbols_init(struct spy_symbols *y, const struct spy_reader *r, const struct spy_interp *ip)
{
    memset(y, 0, sizeof(*y));
    y->reader = r;
    y->ip = ip;
    y->max_entries = MAX_CODE_ENTRIES;
    y->lines_cap = LINES_CAP;
    y->entries = spy_pages_reserve((size_t)MAX_CODE_ENTRIES * sizeof(struct spy_code_entry));
    y->lines = spy_pages_reserve(LINES_CAP);
    y->batch_codes = calloc(BATCH_MAX, sizeof(uint64_t));
    y->batch_headers = calloc(BATCH_MAX, HEADER_MAX);
    if (!y->entries || !y->lines || !y->batch_codes || !y->batch_headers || r->code_header_size > HEADER_MAX
        || spy_counts_init(&y->by_code, 4096) != 0 || spy_counts_init(&y->line_cache, 16384) != 0) {
        spy_symbols_free(y);
        return -1;
    }
    return 0;
}

void spy_symbols_free(struct spy_symbols *y)
{
    spy_pages_release(y->entries, (size_t)MAX_CODE_ENTRIES * sizeof(struct spy_code_entry));
    spy_pages_release(y->lines, LINES_CAP);
    free(y->batch_codes);
    free(y->batch_headers);
    spy_counts_free(&y->by_code);
    spy_counts_free(&y->line_cache);
    memset(y, 0, sizeof(*y));
}

static int same_fp(const struct spy_code_fingerprint *a, const struct spy_code_fingerprint *b)
{
    return a->type == b->type && a->name == b->name && a->file == b->file && a->linetable == b->linetable
           && a->firstlineno == b->firstlineno;
}

/* Compare the freshly read headers with the cached fingerprints; forget
 * the entries whose code object changed or vanished. */
static void check_batch(struct spy_symbols *y, struct spy_memread_req *reqs, const uint32_t *ids, int n)
{
    spy_memread_many(reqs, n);
    for (int i = 0; i < n; i++) {
        struct spy_code_entry *ce = &y->entries[ids[i]];
        struct spy_code_fingerprint fp;
        if (reqs[i].ok)
            y->reader->fingerprint(reqs[i].dst, &fp);
        if (!reqs[i].ok || !same_fp(&fp, &ce->fp)) {
            /* a zero count reads as absent: the frame resolves afresh */
            uint64_t idx = spy_counts_get(&y->by_code, ce->code);
            spy_counts_add(&y->by_code, ce->code, (uint64_t)0 - idx);
            ce->valid_tick = 0;
            y->evictions++;
        }
    }
}

void spy_symbols_validate(struct spy_symbols *y, struct spy_raw_thread *threads, int n)
{
    struct spy_memread_req reqs[64];
    uint32_t ids[64];
    int nreq = 0;
    size_t hs = y->reader->code_header_size;
    y->tick++;
    for (int t = 0; t < n; t++) {
        if (threads[t].unchanged)
            continue;                   /* its frames, and their code objects, are live */
        for (int d = 0; d < threads[t].depth; d++) {
            uint64_t idx = spy_counts_get(&y->by_code, threads[t].frames[d].code);
            if (idx == 0)
                continue;               /* a miss: resolved under the lock */
            struct spy_code_entry *e = &y->entries[idx - 1];
            if (e->valid_tick == y->tick)
                continue;
            e->valid_tick = y->tick;    /* checked once per tick */
            ids[nreq] = (uint32_t)(idx - 1);
            reqs[nreq].dst = y->batch_headers + (size_t)nreq * HEADER_MAX;
            reqs[nreq].src = e->code;
            reqs[nreq].len = hs;
            if (++nreq == 64) {
                check_batch(y, reqs, ids, nreq);
                nreq = 0;
            }
        }
    }
    if (nreq > 0)
        check_batch(y, reqs, ids, nreq);
}

/* Resolve a code object not in the cache; the store lock is held. */
static struct spy_code_entry *resolve(struct spy_symbols *y, struct spy_store *s, uint64_t code)
{
    if (y->nentries >= y->max_entries)
        return NULL;
    struct spy_code_info info;
    union { char raw[HEADER_MAX]; uint64_t align; } hdr;
    if (spy_memread(hdr.raw, code, y->reader->code_header_size) != 0)
        return NULL;
    struct spy_code_entry *e = &y->entries[y->nentries];
    memset(e, 0, sizeof(*e));
    y->reader->fingerprint(hdr.raw, &e->fp);
    if (e->fp.type != y->ip->code_type || y->reader->read_code(y->ip, code, &info) != 0)
        return NULL;
    e->code = code;
    e->firstlineno = info.firstlineno;
    e->name = spy_store_string(s, info.name);
    e->file = spy_store_string(s, info.file);
    if (e->name == SPY_INTERN_NONE || e->file == SPY_INTERN_NONE)
        return NULL;
    if (info.linetable_len > 0 && y->lines_used + info.linetable_len <= y->lines_cap
        && spy_memread(y->lines + y->lines_used, info.linetable, info.linetable_len) == 0) {
        e->lines_off = y->lines_used;
        e->lines_len = info.linetable_len;
        y->lines_used += info.linetable_len;
    }
    e->valid_tick = y->tick;
    uint64_t old = spy_counts_get(&y->by_code, code);
    if (spy_counts_add(&y->by_code, code, (uint64_t)(y->nentries + 1) - old) != 0)
        return NULL;
    y->nentries++;
    y->misses++;
    return e;
}

uint32_t spy_symbols_frame(struct spy_symbols *y, struct spy_store *s, const struct spy_raw_frame *f)
{
    if (f->code == 0)
        return SPY_INTERN_NONE;
    uint64_t idx = spy_counts_get(&y->by_code, f->code);
    struct spy_code_entry *e = idx ? &y->entries[idx - 1] : resolve(y, s, f->code);
    if (!e)
        return SPY_INTERN_NONE;
    uint32_t eid = (uint32_t)(e - y->entries);
    uint64_t key = (((uint64_t)eid << 32) | (uint32_t)(f->offset < 0 ? 0xffffffffu : (uint32_t)f->offset)) + 1;
    uint64_t cached = spy_counts_get(&y->line_cache, key);
    if (cached)
        return (uint32_t)(cached - 1);
    int line = e->firstlineno;
    if (f->offset >= 0) {
        int l = y->reader->line_for(y->lines + e->lines_off, e->lines_len, e->firstlineno, f->offset);
        if (l > 0)
            line = l;
    }
    uint32_t id = spy_store_frame_ids(s, e->name, e->file, e->firstlineno, line);
    if (id != SPY_INTERN_NONE)
        spy_counts_add(&y->line_cache, key, (uint64_t)id + 1);
    return id;
}

void spy_symbols_maintain(struct spy_symbols *y)
{
    spy_counts_maintain(&y->by_code);
    spy_counts_maintain(&y->line_cache);
}
