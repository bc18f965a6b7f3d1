/*
 * bench_top_json — how long one live `top` push takes to compute and
 * serialise when the store holds N distinct functions (default 10,000):
 * spy_top() over the whole run, then the JSON message, median of 25 runs
 * each (and the limit the live push uses, 50 rows, plus all rows).
 *
 *   bench_top_json [FUNCTIONS [STACKS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "messages.h"
#include "spyagent.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(int limit, int runs)
{
    double top_ms[64], json_ms[64];
    size_t bytes = 0;
    for (int r = 0; r < runs; r++) {
        struct spy_top_result t;
        double t0 = now_ms();
        if (spy_top(limit, 0, false, 0, 0, &t) != 0)
            exit(1);
        double t1 = now_ms();
        char *m = spy_msg_top(&t, true, limit, false, "");
        double t2 = now_ms();
        bytes = m ? strlen(m) : 0;
        free(m);
        spy_top_result_free(&t);
        top_ms[r] = t1 - t0;
        json_ms[r] = t2 - t1;
    }
    qsort(top_ms, (size_t)runs, sizeof(double), cmp);
    qsort(json_ms, (size_t)runs, sizeof(double), cmp);
    printf("| %d rows | %.2f | %.2f | %.2f | %zu |\n", limit, top_ms[runs / 2], json_ms[runs / 2],
           top_ms[runs / 2] + json_ms[runs / 2], bytes);
}

int main(int argc, char **argv)
{
    int nfuncs = argc > 1 ? atoi(argv[1]) : 10000;
    int nstacks = argc > 2 ? atoi(argv[2]) : 50000;
    if (nfuncs < 1 || nstacks < 1) {
        fprintf(stderr, "usage: bench_top_json [FUNCTIONS>=1 [STACKS>=1]]\n");
        return 2;
    }
    struct spy_store *s = &spy_agent.store;
    if (spy_store_init(s, 300, (size_t)1 << 30) != 0)
        return 1;
    spy_agent.store_ready = true;
    srand(1);
    int slot = spy_store_slot(s, 1, 1);
    uint32_t *frames = malloc((size_t)nfuncs * sizeof(uint32_t));
    for (int f = 0; f < nfuncs; f++) {
        char name[64], file[96];
        snprintf(name, sizeof(name), "handler_%d.<locals>.step", f);
        snprintf(file, sizeof(file), "/srv/app/module_%d/views.py", f % 200);
        frames[f] = spy_store_frame(s, name, file, 10 + f % 500, 12 + f % 500);
        if (f % 256 == 0)
            spy_store_maintain(s, 1);     /* what the sampler does between ticks */
    }
    for (int k = 0; k < nstacks; k++) {
        uint32_t st[24];
        int depth = 4 + rand() % 20;
        for (int d = 0; d < depth; d++)
            st[d] = frames[rand() % nfuncs];
        uint32_t id = spy_store_stack(s, st, (uint32_t)depth);
        for (int c = 0; c < 1 + rand() % 20; c++)
            spy_store_count(s, slot, id, 0, 1);
        if (k % 256 == 0)
            spy_store_maintain(s, 1);
    }
    spy_store_maintain(s, 2);
    printf("Store: %d functions, %d stacks, %llu samples.\n\n", nfuncs, nstacks,
           (unsigned long long)s->recorded);
    printf("| top push | compute (ms) | JSON (ms) | total (ms) | bytes |\n|---|---:|---:|---:|---:|\n");
    measure(50, 25);
    measure(1000, 25);
    return 0;
}
