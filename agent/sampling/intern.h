/* intern.h — byte strings interned to small dense ids. */
#ifndef SPY_INTERN_H
#define SPY_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define SPY_INTERN_NONE UINT32_MAX

struct spy_intern_entry {
    uint64_t offset;    /* into the arena */
    uint32_t len;
    uint32_t hash;
};

struct spy_intern {
    unsigned char *arena;          /* reserved, append-only */
    size_t arena_used, arena_cap;
    struct spy_intern_entry *entries;  /* reserved, append-only */
    uint32_t count, max_entries;
    uint32_t *slots;               /* id + 1, 0 = empty; grows */
    uint32_t mask;
};

int spy_intern_init(struct spy_intern *t, size_t arena_cap, uint32_t max_entries);
void spy_intern_free(struct spy_intern *t);
/* The id of these bytes, adding them if new.  SPY_INTERN_NONE when the
 * table is full (the caller counts it).  Never allocates. */
uint32_t spy_intern_add(struct spy_intern *t, const void *bytes, uint32_t len);
/* The id if present, else SPY_INTERN_NONE. */
uint32_t spy_intern_find(const struct spy_intern *t, const void *bytes, uint32_t len);
static inline const void *spy_intern_bytes(const struct spy_intern *t, uint32_t id, uint32_t *len)
{
    *len = t->entries[id].len;
    return t->arena + t->entries[id].offset;
}
/* Grow the slot table when it is over half full; call outside hot paths.
 * Returns -1 if memory could not be had (the table keeps working). */
int spy_intern_maintain(struct spy_intern *t);

uint32_t spy_hash_bytes(const void *p, size_t n);

#endif
