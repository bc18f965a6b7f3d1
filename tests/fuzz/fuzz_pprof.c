/* fuzz_pprof.c — libFuzzer target: a profile built from the input (frame
 * names of any bytes, any stacks, counts up to 2^64-1, hostile rates and
 * durations) through the pprof writer, then decoded: gunzip, walk the
 * protobuf wire format, check every sample's location ids, string
 * indices and that the values sum to the samples written.  A profile past
 * INT64_MAX samples must be refused, never written.  The same profile also
 * goes through the collapsed writer and reader: the same total.
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "out_pprof.h"
#include "profile.h"
#include "profile_read.h"
#include "sink.h"
#include "writers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
    const uint8_t *d;
    size_t n, i;
};

static unsigned byte(struct in *in)
{
    return in->i < in->n ? in->d[in->i++] : 0;
}

static uint64_t u64(struct in *in)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | byte(in);
    return v;
}

static char *str(struct in *in)
{
    size_t len = byte(in) % 48;
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    for (size_t k = 0; k < len; k++)
        s[k] = (char)(byte(in) | 1);                  /* any byte but NUL */
    s[len] = '\0';
    return s;
}

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_pprof: %s\n", why);
    abort();
}

/* ---- protobuf decoding ---- */

static int varint(const uint8_t *b, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n)
            return -1;
        uint8_t c = b[(*i)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Next field: number, wire type, varint value or [*p, *plen) payload. */
static int field(const uint8_t *b, size_t n, size_t *i, uint64_t *num, uint64_t *v, const uint8_t **p, size_t *plen)
{
    uint64_t key;
    if (varint(b, n, i, &key) != 0)
        return -1;
    *num = key >> 3;
    switch (key & 7) {
    case 0:
        return varint(b, n, i, v);
    case 2:
        if (varint(b, n, i, v) != 0 || *v > n - *i)
            return -1;
        *p = b + *i;
        *plen = (size_t)*v;
        *i += (size_t)*v;
        return 0;
    default:
        return -1;                                    /* the writer uses no other wire type */
    }
}

struct decoded {
    uint64_t nloc, nstr, nfn, value_sum, nsamples;
    uint64_t max_loc_ref, max_str_ref;
};

static void decode(const uint8_t *b, size_t n, struct decoded *d)
{
    memset(d, 0, sizeof(*d));
    size_t i = 0;
    /* first pass: counts of locations and strings */
    while (i < n) {
        uint64_t num, v;
        const uint8_t *p = NULL;
        size_t pl = 0;
        if (field(b, n, &i, &num, &v, &p, &pl) != 0)
            fail("the profile message does not decode");
        d->nloc += num == 4;
        d->nstr += num == 6;
        d->nfn += num == 5;
    }
    /* second pass: samples and function names */
    i = 0;
    while (i < n) {
        uint64_t num, v;
        const uint8_t *p = NULL;
        size_t pl = 0;
        field(b, n, &i, &num, &v, &p, &pl);
        if (num == 2) {
            d->nsamples++;
            size_t j = 0;
            while (j < pl) {
                uint64_t sn, sv;
                const uint8_t *sp = NULL;
                size_t spl = 0;
                if (field(p, pl, &j, &sn, &sv, &sp, &spl) != 0)
                    fail("a sample does not decode");
                size_t k = 0;
                if (sn == 1 || sn == 2) {
                    while (k < spl) {
                        uint64_t x;
                        if (varint(sp, spl, &k, &x) != 0)
                            fail("a packed sample field does not decode");
                        if (sn == 1 && (x == 0 || x > d->nloc))
                            fail("a sample names a location that is not there");
                        if (sn == 2) {
                            if (x > (uint64_t)INT64_MAX - d->value_sum)
                                fail("sample values past int64");
                            d->value_sum += x;
                        }
                    }
                } else if (sn == 3) {
                    while (k < spl) {
                        uint64_t ln, lv;
                        const uint8_t *lp;
                        size_t lpl;
                        if (field(sp, spl, &k, &ln, &lv, &lp, &lpl) != 0)
                            fail("a label does not decode");
                        if ((ln == 1 || ln == 2) && lv >= d->nstr)
                            fail("a label names a string that is not there");
                    }
                }
            }
        } else if (num == 5) {
            size_t j = 0;
            while (j < pl) {
                uint64_t fn, fv;
                const uint8_t *fp;
                size_t fpl;
                if (field(p, pl, &j, &fn, &fv, &fp, &fpl) != 0)
                    fail("a function does not decode");
                if ((fn == 2 || fn == 3 || fn == 4) && fv >= d->nstr)
                    fail("a function names a string that is not there");
            }
        }
    }
}

static void check_pprof(const struct spy_profile *p)
{
    uint64_t want = 0;
    bool over = false;
    for (size_t k = 0; k < p->nsamples; k++) {
        if (p->samples[k].count > UINT64_MAX - want)
            over = true;
        else
            want += p->samples[k].count;
    }
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = true };
    spy_sink_memory(&s, 64u << 20);
    int rc = spy_write_pprof(p, &o, &s);
    spy_sink_close(&s);
    if (p->total > (uint64_t)INT64_MAX || over) {
        if (rc == 0)
            fail("a profile past INT64_MAX samples was written");
        free(s.buf);
        return;
    }
    if (rc != 0)
        fail(s.error);
    /* gunzip */
    size_t cap = 1u << 20, len = 0;
    uint8_t *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
        fail("inflateInit2");
    z.next_in = (Bytef *)s.buf;
    z.avail_in = (uInt)s.len;
    int zrc;
    do {
        if (len == cap) {
            cap *= 2;
            uint8_t *nb = realloc(out, cap);
            if (!nb)
                fail("out of memory");
            out = nb;
        }
        z.next_out = out + len;
        z.avail_out = (uInt)(cap - len);
        zrc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
    } while (zrc == Z_OK);
    inflateEnd(&z);
    if (zrc != Z_STREAM_END)
        fail("the pprof file is not whole gzip");
    struct decoded d;
    decode(out, len, &d);
    if (d.value_sum != want)
        fail("the sample values do not sum to the profile's samples");
    if (d.nloc != p->nframes)
        fail("not one location per frame");
    free(out);
    free(s.buf);
}

static void check_collapsed(const struct spy_profile *p)
{
    if (p->total > SPY_READ_MAX_SAMPLES)
        return;
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = true };
    spy_sink_memory(&s, 64u << 20);
    if (spy_write_collapsed(p, &o, &s) != 0 || spy_sink_close(&s) != 0)
        fail(s.error);
    struct spy_profile q;
    char err[600];
    if (spy_profile_read_mem("fuzz.collapsed", s.buf, s.len, &q, NULL, err, sizeof(err)) == 0) {
        if (q.total != p->total)
            fail("the collapsed output reads back with another total");
        spy_profile_free(&q);
    } else if (p->total != 0) {
        fprintf(stderr, "%s\nthe collapsed output began: %.*s\n", err, (int)(s.len < 400 ? s.len : 400), s.buf);
        fail("the collapsed output does not read back");
    }
    free(s.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size, 0 };
    struct spy_profile p;
    memset(&p, 0, sizeof(p));
    p.nframes = byte(&in) % 32 + 1;
    p.nthreads = byte(&in) % 4 + 1;
    p.frames = calloc(p.nframes, sizeof(*p.frames));
    p.threads = calloc(p.nthreads, sizeof(*p.threads));
    p.samples = calloc(64, sizeof(*p.samples));
    p.frame_ids = calloc(64 * 40, sizeof(*p.frame_ids));
    if (!p.frames || !p.threads || !p.samples || !p.frame_ids)
        goto out;
    static const double odd[] = { 0, 1.5, -1, 1e300, -1e300, NAN, INFINITY, 9.3e9 };
    unsigned m = byte(&in);
    p.rate = (int)(uint32_t)u64(&in);
    p.duration = odd[m & 7];
    p.start_time = odd[(m >> 3) & 7];
    p.pid = (int)(uint32_t)u64(&in);
    for (uint32_t f = 0; f < p.nframes; f++) {
        p.frames[f].function = str(&in);
        p.frames[f].file = str(&in);
        p.frames[f].line = (int)(uint32_t)u64(&in);
        p.frames[f].firstlineno = (int)(int8_t)byte(&in);
        if (!p.frames[f].function || !p.frames[f].file)
            goto out;
    }
    for (uint32_t t = 0; t < p.nthreads; t++) {
        p.threads[t].tid = (int)byte(&in);
        size_t nl = byte(&in) % sizeof(p.threads[t].name);
        for (size_t k = 0; k < nl; k++)
            p.threads[t].name[k] = (char)(byte(&in) | 1);
    }
    while (in.i < in.n && p.nsamples < 64) {
        struct spy_profile_sample *s = &p.samples[p.nsamples];
        s->thread = byte(&in) % p.nthreads;
        s->depth = byte(&in) % 40;
        s->first = (uint32_t)p.nframe_ids;
        s->flags = byte(&in) & 3;
        for (uint32_t k = 0; k < s->depth; k++)
            p.frame_ids[p.nframe_ids++] = byte(&in) % p.nframes;
        unsigned big = byte(&in);
        s->count = big >= 0xf0 ? u64(&in) : big;      /* mostly small, sometimes anything */
        if (s->count > UINT64_MAX - p.total)          /* total stays the sum; past INT64_MAX is refused */
            s->count = UINT64_MAX - p.total;
        p.total += s->count;
        p.nsamples++;
    }
    if (spy_profile_check(&p) != 0)
        fail("the harness built an inconsistent profile");
    check_pprof(&p);
    check_collapsed(&p);
out:
    spy_profile_free(&p);
    return 0;
}
