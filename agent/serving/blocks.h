/* blocks.h — the live event-loop blocking detector: a thread running an
 * event loop that does not get back to its selector for SPY_BLOCK_MS or
 * more becomes one event, kept (the recent ones), counted per endpoint,
 * pushed to clients (`blocked`), listed by `blocks` and spyagent.blocks(),
 * and written into recordings. */
#ifndef SPY_BLOCKS_H
#define SPY_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "loop_blocks.h"

#define SPY_BLOCKS_KEPT 128          /* recent blocks kept */
#define SPY_BLOCKS_ENDPOINTS 512     /* endpoints counted separately */
#define SPY_BLOCK_MAX_FRAMES 128     /* frames kept of the stack that held the loop */

/* Start the detector (the sampler's tick hook) when cfg->block_ms > 0:
 * 0, or -1 with a log line (the agent runs on without it). */
int spy_blocks_start(const struct spy_config *cfg);
/* Stop feeding it (the kept blocks stay readable). */
void spy_blocks_stop(void);
/* In a fork child: the parent's blocks and loop states are not ours. */
void spy_blocks_after_fork_child(void);

/* Readers, any thread. */
uint64_t spy_blocks_total(void);        /* blocks since start (this process and its workers) */
uint64_t spy_blocks_seq(void);          /* the newest block's sequence number, 0 if none */
double spy_blocks_cost_us(void);        /* the detector's mean time per tick, in microseconds */
/* Copies of the kept blocks with a sequence number above `after`, oldest
 * first, and the newest one's number in *last.  0, or -1 if out of memory.
 * Free with spy_loop_blocks_free. */
int spy_blocks_since(uint64_t after, struct spy_loop_block **out, size_t *n, uint64_t *last);
/* Copies of the kept blocks that started in [from, to) (Unix time). */
int spy_blocks_between(double from, double to, struct spy_loop_block **out, size_t *n);
/* The "per_endpoint" array of the blocks message. */
cJSON *spy_blocks_per_endpoint_json(void);

/* A block found elsewhere (a worker's, on the root): counted and kept as
 * ours; takes what *b owns. */
void spy_blocks_add(struct spy_loop_block *b);

/* A block as the JSON object of docs/PROTOCOL.md (without "type"). */
cJSON *spy_block_json(const struct spy_loop_block *b);
/* And back (a worker's line, a recording's file): 0, or -1 with err. */
int spy_block_from_json(const cJSON *o, struct spy_loop_block *b, char *err, size_t errlen);

#endif
