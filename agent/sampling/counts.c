/*
 * counts.c — open-addressing map of 64-bit keys to counts.
 *
 * Adding never allocates; the table doubles only in spy_counts_maintain,
 * which the sampler calls between ticks.  Threads: one writer under the
 * store lock; readers iterate under the same lock.
 */
#include "counts.h"

#include <stdlib.h>
#include <string.h>

static uint32_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

int spy_counts_init(struct spy_counts *m, uint32_t initial)
{
    uint32_t size = 64;
    while (size < initial)
        size *= 2;
    m->slots = calloc(size, sizeof(struct spy_count));
    m->mask = m->slots ? size - 1 : 0;
    m->used = 0;
    return m->slots ? 0 : -1;
}

void spy_counts_free(struct spy_counts *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

void spy_counts_clear(struct spy_counts *m)
{
    if (m->slots)
        memset(m->slots, 0, ((size_t)m->mask + 1) * sizeof(struct spy_count));
    m->used = 0;
}

int spy_counts_add(struct spy_counts *m, uint64_t key, uint64_t n)
{
    if (!m->slots || key == 0)
        return -1;
    uint32_t i = mix(key) & m->mask;
    for (;;) {
        struct spy_count *s = &m->slots[i];
        if (s->key == key) {
            s->count += n;
            return 0;
        }
        if (s->key == 0) {
            if ((uint64_t)(m->used + 1) * 8 > ((uint64_t)m->mask + 1) * 7)
                return -1;
            s->key = key;
            s->count = n;
            m->used++;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
}

uint64_t spy_counts_get(const struct spy_counts *m, uint64_t key)
{
    if (!m->slots || key == 0)
        return 0;
    uint32_t i = mix(key) & m->mask;
    for (;;) {
        const struct spy_count *s = &m->slots[i];
        if (s->key == key)
            return s->count;
        if (s->key == 0)
            return 0;
        i = (i + 1) & m->mask;
    }
}

int spy_counts_maintain(struct spy_counts *m)
{
    if (!m->slots || (uint64_t)m->used * 2 <= (uint64_t)m->mask + 1)
        return 0;
    uint32_t size = (m->mask + 1) * 2;
    struct spy_count *ns = calloc(size, sizeof(struct spy_count));
    if (!ns)
        return -1;
    for (uint32_t j = 0; j <= m->mask; j++) {
        if (m->slots[j].key == 0)
            continue;
        uint32_t i = mix(m->slots[j].key) & (size - 1);
        while (ns[i].key)
            i = (i + 1) & (size - 1);
        ns[i] = m->slots[j];
    }
    free(m->slots);
    m->slots = ns;
    m->mask = size - 1;
    return 0;
}
