/*
 * loop_blocks.c — owning copies of event-loop block events, and the
 * order the reports list them in (slowest first).
 *
 * Threads: pure functions on the blocks they are given, any thread.
 */
#include "loop_blocks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

void spy_loop_block_clear(struct spy_loop_block *b)
{
    if (!b)
        return;
    free(b->endpoint);
    free(b->endpoint_file);
    free(b->task);
    for (uint32_t i = 0; i < b->nframes; i++) {
        free(b->frames[i].function);
        free(b->frames[i].file);
    }
    free(b->frames);
    memset(b, 0, sizeof(*b));
}

int spy_loop_block_copy(struct spy_loop_block *dst, const struct spy_loop_block *src)
{
    bool failed = false;
    *dst = *src;
    dst->endpoint = dup_or_null(src->endpoint, &failed);
    dst->endpoint_file = dup_or_null(src->endpoint_file, &failed);
    dst->task = dup_or_null(src->task, &failed);
    dst->frames = NULL;
    dst->nframes = 0;
    if (src->nframes) {
        dst->frames = calloc(src->nframes, sizeof(*dst->frames));
        if (!dst->frames)
            failed = true;
        for (uint32_t i = 0; dst->frames && i < src->nframes; i++) {
            dst->frames[i].function = dup_or_null(src->frames[i].function, &failed);
            dst->frames[i].file = dup_or_null(src->frames[i].file, &failed);
            dst->frames[i].line = src->frames[i].line;
            dst->nframes = i + 1;
        }
    }
    if (failed) {
        spy_loop_block_clear(dst);
        return -1;
    }
    return 0;
}

void spy_loop_blocks_free(struct spy_loop_block *b, size_t n)
{
    for (size_t i = 0; b && i < n; i++)
        spy_loop_block_clear(&b[i]);
    free(b);
}

size_t spy_loop_blocks_slowest(const struct spy_loop_block *b, size_t n, size_t *order, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* insertion into the top max */
        size_t at = k < max ? k++ : max;
        if (at == max) {
            if (max == 0 || b[i].duration_ms <= b[order[max - 1]].duration_ms)
                continue;
            at = max - 1;
        }
        while (at > 0 && b[order[at - 1]].duration_ms < b[i].duration_ms) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = i;
    }
    return k;
}
