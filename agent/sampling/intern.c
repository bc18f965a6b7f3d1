/*
 * intern.c — append-only interning of byte strings to dense ids.
 *
 * Used for function names and paths, function keys, frames and stacks.
 * Bytes and entries live in reservations that never move (pages.c); the
 * slot table is the only thing that grows, and only in spy_intern_maintain,
 * which the sampler calls between ticks, so adding never allocates.
 *
 * Threads: one writer (the sampler) under the store lock; readers look up
 * entries by id below a count they read under that lock.
 */
#include "intern.h"

#include <stdlib.h>
#include <string.h>

#include "pages.h"

uint32_t spy_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, then a final mix so low bits spread well */
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    return h;
}

int spy_intern_init(struct spy_intern *t, size_t arena_cap, uint32_t max_entries)
{
    memset(t, 0, sizeof(*t));
    t->arena = spy_pages_reserve(arena_cap);
    t->entries = spy_pages_reserve((size_t)max_entries * sizeof(struct spy_intern_entry));
    t->slots = calloc(1024, sizeof(uint32_t));
    if (!t->arena || !t->entries || !t->slots) {
        spy_intern_free(t);
        return -1;
    }
    t->arena_cap = arena_cap;
    t->max_entries = max_entries;
    t->mask = 1023;
    return 0;
}

void spy_intern_free(struct spy_intern *t)
{
    spy_pages_release(t->arena, t->arena_cap);
    spy_pages_release(t->entries, (size_t)t->max_entries * sizeof(struct spy_intern_entry));
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static uint32_t probe(const struct spy_intern *t, const void *bytes, uint32_t len, uint32_t h, uint32_t *slot)
{
    uint32_t i = h & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (v == 0) {
            *slot = i;
            return SPY_INTERN_NONE;
        }
        const struct spy_intern_entry *e = &t->entries[v - 1];
        if (e->hash == h && e->len == len && memcmp(t->arena + e->offset, bytes, len) == 0)
            return v - 1;
        i = (i + 1) & t->mask;
    }
}

uint32_t spy_intern_find(const struct spy_intern *t, const void *bytes, uint32_t len)
{
    uint32_t slot;
    if (!t->slots)
        return SPY_INTERN_NONE;
    return probe(t, bytes, len, spy_hash_bytes(bytes, len), &slot);
}

uint32_t spy_intern_add(struct spy_intern *t, const void *bytes, uint32_t len)
{
    if (!t->slots)
        return SPY_INTERN_NONE;
    uint32_t h = spy_hash_bytes(bytes, len);
    uint32_t slot;
    uint32_t id = probe(t, bytes, len, h, &slot);
    if (id != SPY_INTERN_NONE)
        return id;
    /* keep the table at most 7/8 full even if maintenance fell behind */
    if (t->count + 1 >= t->max_entries || (uint64_t)(t->count + 1) * 8 > (uint64_t)(t->mask + 1) * 7)
        return SPY_INTERN_NONE;
    size_t off = (t->arena_used + 7) & ~(size_t)7;
    if (off + len > t->arena_cap)
        return SPY_INTERN_NONE;
    memcpy(t->arena + off, bytes, len);
    t->arena_used = off + len;
    id = t->count;
    t->entries[id].offset = off;
    t->entries[id].len = len;
    t->entries[id].hash = h;
    t->count++;
    t->slots[slot] = id + 1;
    return id;
}

int spy_intern_maintain(struct spy_intern *t)
{
    if (!t->slots || (uint64_t)t->count * 2 <= (uint64_t)(t->mask + 1))
        return 0;
    uint32_t size = (t->mask + 1) * 2;
    uint32_t *ns = calloc(size, sizeof(uint32_t));
    if (!ns)
        return -1;
    for (uint32_t id = 0; id < t->count; id++) {
        uint32_t i = t->entries[id].hash & (size - 1);
        while (ns[i])
            i = (i + 1) & (size - 1);
        ns[i] = id + 1;
    }
    free(t->slots);
    t->slots = ns;
    t->mask = size - 1;
    return 0;
}
