/* fuzz_tasks.c — libFuzzer target: the asyncio task readers (agent/sampling/
 * python/tasks.c, one per CPython version in the build) on a hostile memory
 * image, through the public struct spy_task_reader interface only.
 *
 * The image is fuzz_reader.c's: a 256 KiB arena followed by an
 * inaccessible guard page, every 8-byte word a pointer to another word of
 * the arena (or zeros, small numbers, a mix: a seed and a mode chosen by the
 * input), then patched by the input: records of [u32 offset][u8 length]
 * [bytes], where an 8-byte word tagged 0x5059 in its top 16 bits is relocated
 * to the arena address of its low 18 bits.  The task roots (the set, the
 * Task, coroutine, weakref and other types, None, the dummy key) and
 * _PyRuntime point into the arena at places the input picks, so set tables,
 * weakrefs, tasks and coroutine chains can all be built by the input.
 *
 * Then find_roots(), list_tasks() into a caller buffer, read_task() on every
 * task listed and on a few arbitrary arena words, task_name() and
 * type_name() on what they found.  Checks: at most `max` tasks listed, at
 * most SPY_TASK_MAX_DEPTH frames, a known state, NUL-terminated strings, and
 * nothing crashes or hangs (libFuzzer's -timeout).  Built only by
 * scripts/fuzz.sh (clang, -Dfuzz=true). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memread.h"
#include "python/tasks.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA (1u << 18)
#define TAG 0x5059u
#define MAX_LIST 256

static uint8_t *arena;
static void *scratch;
static uint64_t *addrs;
static struct spy_raw_frame *frames;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (spy_memread_init(SPY_READ_VM_READV) != 0) {
        fprintf(stderr, "fuzz_tasks: no memory read method works here\n");
        abort();
    }
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, ARENA + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + ARENA, (size_t)page, PROT_NONE) != 0)
        abort();
    arena = m;
    scratch = malloc(SPY_TASKS_SCRATCH);
    addrs = calloc(MAX_LIST, sizeof(*addrs));
    frames = calloc(SPY_TASK_MAX_DEPTH, sizeof(*frames));
    if (!scratch || !addrs || !frames)
        abort();
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
        case 0:  w[i] = at((uint64_t)x * 8); break;
        case 1:  w[i] = 0; break;
        case 2:  w[i] = x & 0xff; break;
        default: w[i] = i & 1 ? at((uint64_t)x * 8) : x; break;
        }
    }
}

static void check_str(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        abort();
}

static void check_task(const struct spy_task_reader *tr, const struct spy_interp *ip, const struct spy_raw_task *t)
{
    if (t->depth > SPY_TASK_MAX_DEPTH || t->state > SPY_TASK_CREATED || t->frames != frames)
        abort();
    char name[SPY_MAX_STR];
    memset(name, 0xa5, sizeof(name));
    if (tr->task_name(ip, t->name, name, sizeof(name)) == 0)
        check_str(name, sizeof(name));
    memset(name, 0xa5, sizeof(name));
    if (tr->type_name(ip, t->leaf_type, name, sizeof(name)) == 0)
        check_str(name, sizeof(name));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    int minor = 9 + data[0] % 5;
    const struct spy_task_reader *tr = spy_task_reader_for(3, minor);
    if (!tr)
        abort();
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
    fill(seed, data[4] & 3);
    uint64_t types = (uint64_t)data[6] << 12;
    struct spy_interp ip = {
        .runtime = at((uint64_t)data[5] << 12),
        .code_type = at(types | 8),
        .unicode_type = at(types | 16),
        .bytes_type = at(types | 24),
    };
    struct spy_task_roots r = {
        .tasks_set = at((uint64_t)data[7] << 12),
        .eager_set = data[8] & 1 ? at((uint64_t)data[8] << 12 | 64) : 0,
        .task_type = at(types | 32),
        .future_type = at(types | 40),
        .coro_type = at(types | 48),
        .gen_type = at(types | 56),
        .asyncgen_type = at(types | 64),
        .asend_type = at(types | 72),
        .weakref_type = at(types | 80),
        .none = at(types | 88),
        .set_dummy = at(types | 96),
        .futureiter_type = data[8] & 2 ? at(types | 104) : 0,
    };
    size_t i = 12;
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
    struct spy_task_roots found;
    memset(&found, 0, sizeof(found));
    (void)tr->find_roots(&ip, &found);
    int max = 1 + data[9] % MAX_LIST;
    int n = tr->list_tasks(&ip, &r, addrs, max, scratch);
    if (n < -1 || n > max)
        abort();
    struct spy_raw_task t;
    bool verbose = getenv("FUZZ_TASKS_VERBOSE") != NULL;   /* to see what a seed reaches */
    for (int k = 0; k < n; k++) {
        t.frames = frames;
        int rc = tr->read_task(&ip, &r, addrs[k], &t);
        if (verbose)
            fprintf(stderr, "fuzz_tasks: 3.%d listed %d, task %d: rc %d depth %u state %u leaf %s\n", minor, n, k,
                    rc, (unsigned)t.depth, (unsigned)t.state, t.leaf_type == r.future_type ? "future" : "other");
        if (rc == 0)
            check_task(tr, &ip, &t);
    }
    /* tasks anywhere: words of the arena the input points at */
    for (int k = 0; k < 4; k++) {
        t.frames = frames;
        if (tr->read_task(&ip, &r, at((uint64_t)data[10 + (k & 1)] << (4 + k)), &t) == 0)
            check_task(tr, &ip, &t);
    }
    return 0;
}
