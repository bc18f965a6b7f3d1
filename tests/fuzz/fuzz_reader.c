/* fuzz_reader.c — libFuzzer target: the frame readers (agent/sampling/python/
 * reader.c, one per CPython version in the build) walking a hostile
 * memory image through the public struct spy_reader interface only.
 *
 * The image is a 256 KiB arena followed by an inaccessible guard page.  By
 * default every 8-byte word of it is a pointer to another word of the
 * arena (a pseudo-random permutation chosen by the input), so whatever a
 * reader follows stays inside and the walk goes deep; the input then
 * overwrites pieces of it: records of [u32 offset][u8 length][bytes],
 * where any 8-byte little-endian word tagged 0x5059 in its top 16 bits is
 * relocated to the arena address of its low 18 bits.  _PyRuntime,
 * PyCode_Type, PyUnicode_Type and PyBytes_Type point into the arena.
 *
 * Then attach(), walk() (every thread, every frame), read_code() on each
 * frame's code object, line_for() on its line table (copied out of the
 * arena) and on the raw input, and thread_name().  Checks: the walk
 * returns at most max_threads threads of at most SPY_MAX_DEPTH frames,
 * strings come back NUL-terminated, and nothing crashes or hangs
 * (libFuzzer's -timeout).  Reads go through spy_memread, as in the agent.
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interp.h"
#include "memread.h"
#include "python/reader.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA (1u << 18)
#define TAG 0x5059u

static uint8_t *arena;
static struct spy_raw_thread *threads;
static void *scratch;
static size_t nreaders;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (spy_memread_init(SPY_READ_VM_READV) != 0) {
        fprintf(stderr, "fuzz_reader: no memory read method works here\n");
        abort();
    }
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, ARENA + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + ARENA, (size_t)page, PROT_NONE) != 0)
        abort();
    arena = m;
    threads = spy_raw_threads_new(SPY_MAX_THREADS);
    scratch = malloc(SPY_WALK_SCRATCH);
    if (!threads || !scratch)
        abort();
    while (spy_readers[nreaders])
        nreaders++;
    return 0;
}

static uint64_t at(uint64_t off)
{
    return (uint64_t)(uintptr_t)arena + (off % ARENA & ~(uint64_t)7);
}

static void fill(uint32_t seed, unsigned mode)
{
    uint64_t *w = (uint64_t *)arena;
    size_t n = ARENA / 8;
    uint32_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        switch (mode) {
        case 0:  w[i] = at((uint64_t)x * 8); break;                /* pointers everywhere */
        case 1:  w[i] = 0; break;
        case 2:  w[i] = x & 0xff; break;                           /* small numbers */
        default: w[i] = i & 1 ? at((uint64_t)x * 8) : x; break;    /* a mix */
        }
    }
}

static void check_str(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || nreaders == 0)
        return 0;
    const struct spy_reader *r = spy_readers[data[0] % nreaders];
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
    fill(seed, data[4] & 3);
    struct spy_interp ip = {
        .runtime = at((uint64_t)data[5] << 12),
        .code_type = at((uint64_t)data[6] << 12 | 8),
        .unicode_type = at((uint64_t)data[6] << 12 | 16),
        .bytes_type = at((uint64_t)data[6] << 12 | 24),
        .pthread_tid_offset = data[7] & 1 ? 720 : -1,
    };
    /* the patches */
    size_t i = 8;
    while (i + 5 <= size) {
        uint32_t off = ((uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16
                        | (uint32_t)data[i + 3] << 24) % ARENA;
        size_t len = data[i + 4];
        i += 5;
        if (len > size - i)
            len = size - i;
        if (len > ARENA - off)
            len = ARENA - off;
        memcpy(arena + off, data + i, len);
        i += len;
        for (uint32_t w = off & ~7u; w + 8 <= off + len && w + 8 <= ARENA; w += 8) {
            uint64_t v;
            memcpy(&v, arena + w, 8);
            if (v >> 48 == TAG) {
                v = (uint64_t)(uintptr_t)arena + (v & (ARENA - 1));
                memcpy(arena + w, &v, 8);
            }
        }
    }
    if (r->attach(&ip) != 0) {
        /* a reader that refuses the runtime is not walked by the agent
         * either; still walk with the GIL unknown, as the first tick may */
        ip.gil = 0;
    }
    struct spy_walk_stats st = { 0 };
    int max = 1 + data[7] % 4;
    /* every other input walks again over what the last one left, so the
     * reuse of unchanged threads is fuzzed too; the others walk afresh */
    if (data[7] & 4)
        for (int i = 0; i < max; i++)
            threads[i].tstate = 0;
    int n = r->walk(&ip, threads, max, &st, scratch);
    if (n < -1 || n > max)
        abort();
    int codes = 0;
    for (int t = 0; t < n; t++) {
        if (threads[t].depth > SPY_MAX_DEPTH)
            abort();
        for (unsigned f = 0; f < threads[t].depth && codes < 16; f++, codes++) {
            struct spy_code_info ci;
            memset(&ci, 0xa5, sizeof(ci));
            if (r->read_code(&ip, threads[t].frames[f].code, &ci) != 0)
                continue;
            check_str(ci.name, sizeof(ci.name));
            check_str(ci.file, sizeof(ci.file));
            /* the line table as the agent would copy it: only what is inside the arena */
            uint64_t lo = (uint64_t)(uintptr_t)arena;
            if (ci.linetable >= lo && ci.linetable < lo + ARENA) {
                size_t tl = ci.linetable_len;
                if (tl > lo + ARENA - ci.linetable)
                    tl = (size_t)(lo + ARENA - ci.linetable);
                uint8_t *copy = malloc(tl ? tl : 1);
                if (copy) {
                    memcpy(copy, (const void *)(uintptr_t)ci.linetable, tl);
                    (void)r->line_for(copy, tl, ci.firstlineno, threads[t].frames[f].offset);
                    free(copy);
                }
            }
            if (r->code_header_size <= ARENA) {
                struct spy_code_fingerprint fp;
                uint8_t *hdr = malloc(r->code_header_size);
                if (hdr) {
                    memcpy(hdr, arena + (threads[t].frames[f].code % ARENA) % (ARENA - r->code_header_size + 1),
                           r->code_header_size);
                    r->fingerprint(hdr, &fp);
                    free(hdr);
                }
            }
        }
        if (threads[t].thread_obj) {
            char name[SPY_MAX_STR];
            memset(name, 0xa5, sizeof(name));
            if (r->thread_name(&ip, threads[t].thread_obj, name, sizeof(name)) == 0)
                check_str(name, sizeof(name));
        }
    }
    /* line tables straight from the input, with hostile offsets */
    int32_t offset = (int32_t)((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]);
    uint8_t *raw = malloc(size - 8 ? size - 8 : 1);
    if (raw) {
        memcpy(raw, data + 8, size - 8);
        (void)r->line_for(raw, size - 8, (int)(int8_t)data[5] * 1000, offset);
        (void)r->line_for(raw, size - 8, 1, (int32_t)(size - 8) * 2);
        free(raw);
    }
    return 0;
}
