/* counts.h — a map from 64-bit keys to sample counts. */
#ifndef SPY_COUNTS_H
#define SPY_COUNTS_H

#include <stdint.h>

struct spy_count {
    uint64_t key;     /* 0 is never a key: callers offset keys by one */
    uint64_t count;
};

struct spy_counts {
    struct spy_count *slots;
    uint32_t mask;
    uint32_t used;
};

int spy_counts_init(struct spy_counts *m, uint32_t initial);
void spy_counts_free(struct spy_counts *m);
void spy_counts_clear(struct spy_counts *m);
/* Add n to key's count; -1 when full (never allocates). */
int spy_counts_add(struct spy_counts *m, uint64_t key, uint64_t n);
uint64_t spy_counts_get(const struct spy_counts *m, uint64_t key);
/* Double the table when over half full; call outside hot paths. */
int spy_counts_maintain(struct spy_counts *m);

#define SPY_COUNTS_FOREACH(m, it) \
    for (const struct spy_count *it = (m)->slots; it && it <= (m)->slots + (m)->mask; it++) \
        if (it->key != 0)

#endif
