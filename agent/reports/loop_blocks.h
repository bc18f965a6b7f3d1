/* loop_blocks.h — one event-loop block as reports, messages and files see
 * it: a thread running an event loop kept from its selector by one
 * callback for at least SPY_BLOCK_MS (found live by
 * agent/serving/blocks.c).  Plain data; every string is owned (malloc'd). */
#ifndef SPY_LOOP_BLOCKS_H
#define SPY_LOOP_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

struct spy_loop_block_frame {
    char *function, *file;
    int line;
};

struct spy_loop_block {
    double at;                   /* Unix time the block started (first tick seen out of the selector) */
    int64_t duration_ms;         /* to the tick it was seen back (or in another callback) */
    char thread[64];             /* thread name, "" if unknown */
    int tid, pid;
    char *endpoint;              /* the route function, NULL if the stack reaches no dispatcher */
    char *endpoint_file;
    char *task;                  /* the running asyncio task's name, NULL if unknown */
    struct spy_loop_block_frame *frames;   /* the stack that held the loop, innermost first */
    uint32_t nframes;
};

/* Free what the block owns (not the block itself) and zero it. */
void spy_loop_block_clear(struct spy_loop_block *b);
/* A deep copy; 0, or -1 if out of memory (dst cleared). */
int spy_loop_block_copy(struct spy_loop_block *dst, const struct spy_loop_block *src);
/* Free an array of n blocks and their contents. */
void spy_loop_blocks_free(struct spy_loop_block *b, size_t n);
/* Indexes of the blocks by duration, longest first (ties: earliest first),
 * at most max of them; returns how many were written to order. */
size_t spy_loop_blocks_slowest(const struct spy_loop_block *b, size_t n, size_t *order, size_t max);

#endif
