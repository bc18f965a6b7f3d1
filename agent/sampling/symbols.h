/* symbols.h — code objects to interned frames, with a validated cache. */
#ifndef SPY_SYMBOLS_H
#define SPY_SYMBOLS_H

#include <stdint.h>

#include "counts.h"
#include "python/reader.h"
#include "stackstore.h"

struct spy_code_entry {
    uint64_t code;
    struct spy_code_fingerprint fp;
    uint32_t name, file;          /* interned strings */
    int32_t firstlineno;
    uint64_t lines_off;           /* line table copy in `lines` */
    uint32_t lines_len;
    uint32_t valid_tick;          /* tick it was last validated in */
};

struct spy_symbols {
    const struct spy_reader *reader;
    const struct spy_interp *ip;
    struct spy_counts by_code;    /* code address -> entry index + 1 */
    struct spy_counts line_cache; /* (entry, offset) + 1 -> frame id + 1 */
    struct spy_code_entry *entries;  /* reserved, append-only */
    uint32_t nentries, max_entries;
    uint8_t *lines;               /* reserved, append-only */
    uint64_t lines_used, lines_cap;
    uint32_t tick;
    /* per-tick scratch */
    uint64_t *batch_codes;
    uint8_t *batch_headers;
    uint64_t misses, evictions;
};

int spy_symbols_init(struct spy_symbols *y, const struct spy_reader *r, const struct spy_interp *ip);
void spy_symbols_free(struct spy_symbols *y);

/* Sampler thread, before taking the store lock: check that every cached
 * code object the threads' frames point at still is what it was, in one
 * batched read.  Threads the walk found unchanged are skipped: the frames
 * they still run in hold their code objects alive. */
void spy_symbols_validate(struct spy_symbols *y, struct spy_raw_thread *threads, int n);

/* Sampler thread, holding the store lock: the frame id for a raw frame, or
 * SPY_INTERN_NONE if it cannot be resolved. */
uint32_t spy_symbols_frame(struct spy_symbols *y, struct spy_store *s, const struct spy_raw_frame *f);

/* Between ticks: grow the caches. */
void spy_symbols_maintain(struct spy_symbols *y);

#endif
