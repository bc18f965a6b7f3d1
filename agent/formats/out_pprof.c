/*
 * out_pprof.c — pprof's profile.proto (github.com/google/pprof, proto/
 * profile.proto), gzip-compressed, hand-encoded: varints and
 * length-delimited fields, no protobuf library.
 *
 * What is written: string_table[0] = "" and every string once (interned);
 * one Function per (name, file) with its start line; one Location per
 * profile frame (id = frame + 1) with one Line (function, line); one
 * Sample per written profile sample, location ids leaf first (as pprof
 * wants), value = [count], label thread = "NAME (TID)".  sample_type is
 * samples/count; period_type cpu/nanoseconds with period 1e9/rate when
 * the rate is known (else samples/count, period 1); time and duration
 * from the profile.  Sub-messages are encoded into a scratch buffer and
 * copied in with their length, so the whole message is built in memory
 * (about 20 bytes per sample and per frame), then deflated into the sink.
 *
 * Runs on the caller's thread; reads the profile only.
 */
#include "out_pprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NONE UINT32_MAX

struct buf {
    unsigned char *b;
    size_t len, cap;
    bool oom;
};

static void reserve(struct buf *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    unsigned char *nb = realloc(b->b, cap);
    if (!nb) {
        b->oom = true;
        return;
    }
    b->b = nb;
    b->cap = cap;
}

static void put_bytes(struct buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->b + b->len, p, n);
    b->len += n;
}

static void varint(struct buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

static void field_varint(struct buf *b, unsigned field, uint64_t v)
{
    varint(b, (uint64_t)field << 3 | 0);
    varint(b, v);
}

static void field_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put_bytes(b, p, n);
}

/* Interned strings -> string_table index. */
struct strings {
    const char **s;
    uint32_t n, cap;
    uint32_t *slots;
    size_t size;
    char **owned;                  /* strings made here (thread labels) */
    uint32_t nowned;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static uint32_t intern(struct strings *t, const char *s)
{
    if ((size_t)t->n * 2 + 2 > t->size) {
        size_t size = t->size ? t->size * 2 : 1024;
        uint32_t *slots = malloc(size * sizeof(*slots));
        if (!slots)
            return NONE;
        memset(slots, 0xff, size * sizeof(*slots));
        for (uint32_t i = 0; i < t->n; i++) {
            size_t k = hash_str(t->s[i]) & (size - 1);
            while (slots[k] != NONE)
                k = (k + 1) & (size - 1);
            slots[k] = i;
        }
        free(t->slots);
        t->slots = slots;
        t->size = size;
    }
    size_t k = hash_str(s) & (t->size - 1);
    for (; t->slots[k] != NONE; k = (k + 1) & (t->size - 1))
        if (strcmp(t->s[t->slots[k]], s) == 0)
            return t->slots[k];
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 1024;
        const char **ns = realloc(t->s, (size_t)cap * sizeof(*ns));
        if (!ns)
            return NONE;
        t->s = ns;
        t->cap = cap;
    }
    t->s[t->n] = s;
    t->slots[k] = t->n;
    return t->n++;
}

static int gzip_to_sink(const struct buf *msg, struct spy_sink *s)
{
    z_stream z;
    unsigned char out[65536];
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    z.next_in = msg->b;
    z.avail_in = (uInt)msg->len;
    int zrc;
    do {
        z.next_out = out;
        z.avail_out = sizeof(out);
        zrc = deflate(&z, Z_FINISH);
        if (zrc == Z_STREAM_ERROR)
            break;
        if (spy_sink_write(s, out, sizeof(out) - z.avail_out) != 0)
            break;
    } while (zrc != Z_STREAM_END);
    deflateEnd(&z);
    return zrc == Z_STREAM_END && !s->failed ? 0 : -1;
}

int spy_write_pprof(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s)
{
    struct buf msg = { 0 }, sub = { 0 }, inner = { 0 };
    struct strings st = { 0 };
    uint32_t *fn_of = NULL;        /* per frame: function id (1-based) */
    uint32_t *fn_frame = NULL;     /* per function: a frame that names it */
    uint32_t *fn_slots = NULL;
    uint32_t *tlabel = NULL;       /* per thread: string index */
    uint32_t nfn = 0;
    int rc = -1;

    if (s->failed)
        return -1;
    if (spy_profile_check(p) != 0 || p->total > (uint64_t)INT64_MAX)
        return spy_sink_fail(s, "invalid profile");
    size_t nf = p->nframes ? p->nframes : 1;
    size_t fsize = 16;
    while (fsize < nf * 2 + 2)
        fsize <<= 1;
    fn_of = malloc(nf * sizeof(*fn_of));
    fn_frame = malloc(nf * sizeof(*fn_frame));
    fn_slots = malloc(fsize * sizeof(*fn_slots));
    tlabel = malloc(((size_t)p->nthreads + 1) * sizeof(*tlabel));
    st.owned = calloc((size_t)p->nthreads + 1, sizeof(*st.owned));
    if (!fn_of || !fn_frame || !fn_slots || !tlabel || !st.owned)
        goto cleanup;
    memset(fn_slots, 0xff, fsize * sizeof(*fn_slots));

    uint32_t s_empty = intern(&st, ""), s_samples = intern(&st, "samples"), s_count = intern(&st, "count");
    uint32_t s_cpu = intern(&st, "cpu"), s_ns = intern(&st, "nanoseconds"), s_thread = intern(&st, "thread");
    if (s_empty != 0 || s_samples == NONE || s_count == NONE || s_cpu == NONE || s_ns == NONE || s_thread == NONE)
        goto cleanup;

    /* functions: (name, file) */
    for (uint32_t i = 0; i < p->nframes; i++) {
        const char *fn = p->frames[i].function ? p->frames[i].function : "?";
        const char *file = p->frames[i].file ? p->frames[i].file : "";
        size_t k = (hash_str(fn) * 31 + hash_str(file)) & (fsize - 1);
        for (; fn_slots[k] != NONE; k = (k + 1) & (fsize - 1)) {
            const struct spy_profile_frame *g = &p->frames[fn_frame[fn_slots[k]]];
            if (strcmp(g->function ? g->function : "?", fn) == 0 && strcmp(g->file ? g->file : "", file) == 0)
                break;
        }
        if (fn_slots[k] == NONE) {
            fn_slots[k] = nfn;
            fn_frame[nfn++] = i;
        }
        fn_of[i] = fn_slots[k] + 1;
    }
    for (uint32_t t = 0; t < p->nthreads; t++) {
        const struct spy_profile_thread *th = &p->threads[t];
        char *l = malloc(sizeof(th->name) + 32);
        if (!l)
            goto cleanup;
        snprintf(l, sizeof(th->name) + 32, "%.*s (%d)", (int)sizeof(th->name), th->name[0] ? th->name : "?",
                 th->tid);
        st.owned[st.nowned++] = l;
        if ((tlabel[t] = intern(&st, l)) == NONE)
            goto cleanup;
    }

    /* sample_type */
    inner.len = 0;
    field_varint(&inner, 1, s_samples);
    field_varint(&inner, 2, s_count);
    field_bytes(&msg, 1, inner.b, inner.len);

    /* samples */
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct spy_profile_sample *smp = &p->samples[i];
        if (smp->count == 0 || ((smp->flags & SPY_FLAG_IDLE) && !o->include_idle))
            continue;
        sub.len = 0;
        inner.len = 0;
        for (uint32_t k = 0; k < smp->depth; k++)        /* leaf first */
            varint(&inner, (uint64_t)p->frame_ids[smp->first + k] + 1);
        if (smp->depth)
            field_bytes(&sub, 1, inner.b, inner.len);
        inner.len = 0;
        varint(&inner, smp->count);
        field_bytes(&sub, 2, inner.b, inner.len);
        inner.len = 0;
        field_varint(&inner, 1, s_thread);
        field_varint(&inner, 2, tlabel[smp->thread]);
        field_bytes(&sub, 3, inner.b, inner.len);
        field_bytes(&msg, 2, sub.b, sub.len);
        if (msg.oom || sub.oom || inner.oom)
            goto cleanup;
    }

    /* locations: one per frame */
    for (uint32_t i = 0; i < p->nframes; i++) {
        sub.len = 0;
        inner.len = 0;
        field_varint(&sub, 1, (uint64_t)i + 1);
        field_varint(&inner, 1, fn_of[i]);
        field_varint(&inner, 2, (uint64_t)(p->frames[i].line > 0 ? p->frames[i].line : 0));
        field_bytes(&sub, 4, inner.b, inner.len);
        field_bytes(&msg, 4, sub.b, sub.len);
    }

    /* functions */
    for (uint32_t f = 0; f < nfn; f++) {
        const struct spy_profile_frame *fr = &p->frames[fn_frame[f]];
        uint32_t name = intern(&st, fr->function ? fr->function : "?");
        uint32_t file = intern(&st, fr->file ? fr->file : "");
        if (name == NONE || file == NONE)
            goto cleanup;
        sub.len = 0;
        field_varint(&sub, 1, (uint64_t)f + 1);
        field_varint(&sub, 2, name);
        field_varint(&sub, 3, name);
        field_varint(&sub, 4, file);
        if (fr->firstlineno > 0)
            field_varint(&sub, 5, (uint64_t)fr->firstlineno);
        field_bytes(&msg, 5, sub.b, sub.len);
    }

    /* string table */
    for (uint32_t i = 0; i < st.n; i++)
        field_bytes(&msg, 6, st.s[i], strlen(st.s[i]));

    /* nanoseconds in an int64: only figures that fit (NaN fails the tests) */
    if (p->start_time > 0 && p->start_time < 9e9)
        field_varint(&msg, 9, (uint64_t)(p->start_time * 1e9));
    if (p->duration > 0 && p->duration < 9e9)
        field_varint(&msg, 10, (uint64_t)(p->duration * 1e9));
    inner.len = 0;
    field_varint(&inner, 1, p->rate > 0 ? s_cpu : s_samples);
    field_varint(&inner, 2, p->rate > 0 ? s_ns : s_count);
    field_bytes(&msg, 11, inner.b, inner.len);
    field_varint(&msg, 12, p->rate > 0 ? (uint64_t)(1000000000 / p->rate) : 1);
    if (msg.oom || sub.oom || inner.oom)
        goto cleanup;
    if (gzip_to_sink(&msg, s) != 0)
        goto cleanup;
    rc = 0;

cleanup:
    if (rc != 0)
        spy_sink_fail(s, "out of memory writing the pprof profile");
    for (uint32_t i = 0; i < st.nowned; i++)
        free(st.owned[i]);
    free(st.owned);
    free(st.s);
    free(st.slots);
    free(msg.b);
    free(sub.b);
    free(inner.b);
    free(fn_of);
    free(fn_frame);
    free(fn_slots);
    free(tlabel);
    return rc;
}
