/* The arithmetic of task snapshots: the reservoir is a uniform sample that
 * moves addresses without losing any, the weights of a capped snapshot add
 * up to every pending task, rounding to whole milliseconds carries its
 * remainder, and the running task's stack is cut from the thread that
 * runs its coroutines. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "task_sampler.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    uint64_t rng = 12345;

    /* pick: the front k are a permutation-preserving uniform sample */
    enum { N = 10, K = 3, TRIALS = 60000 };
    int chosen[N] = { 0 };
    for (int t = 0; t < TRIALS; t++) {
        uint64_t a[N], sorted[N];
        for (int i = 0; i < N; i++)
            a[i] = 100 + (uint64_t)i;
        CHECK(spy_task_pick(a, N, K, &rng) == K);
        memcpy(sorted, a, sizeof(a));
        qsort(sorted, N, sizeof(uint64_t), cmp_u64);
        for (int i = 0; i < N; i++)
            if (sorted[i] != 100 + (uint64_t)i) {
                CHECK(!"an address was lost or repeated");
                break;
            }
        for (int i = 0; i < K; i++)
            chosen[a[i] - 100]++;
    }
    /* each is chosen with probability K/N = 0.3: 18,000 of 60,000, sd ~112 */
    for (int i = 0; i < N; i++)
        CHECK(chosen[i] > 17400 && chosen[i] < 18600);
    uint64_t few[4] = { 1, 2, 3, 4 };
    CHECK(spy_task_pick(few, 4, 64, &rng) == 4 && few[0] == 1 && few[3] == 4);   /* under the cap: all, in place */
    CHECK(spy_task_pick(few, 0, 64, &rng) == 0);

    /* weights: the running task stands for itself, the others for the rest */
    CHECK(spy_task_weight(5000, 64, 1, true) == 1.0);
    double w = spy_task_weight(5000, 64, 1, false);
    CHECK(w > 79.349 && w < 79.350);                    /* 4999 / 63 */
    CHECK(1.0 + 63 * w > 4999.99 && 1.0 + 63 * w < 5000.01);
    w = spy_task_weight(5000, 64, 0, false);
    CHECK(w == 5000.0 / 64);
    CHECK(spy_task_weight(40, 64, 1, false) == 1.0);    /* all read */
    CHECK(spy_task_weight(40, 40, 0, false) == 1.0);

    /* rounding carries: 1000 adds of 0.3 ms are 300 ms, of 50.5 are 50500 */
    double carry = 0.0;
    uint64_t sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += spy_task_round(0.3, &carry);
    CHECK(sum == 299 || sum == 300);
    CHECK(carry >= 0.0 && carry < 1.0);
    carry = 0.0;
    sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += spy_task_round(50.5, &carry);
    CHECK(sum == 50500 || sum == 50499);

    /* splice: the thread running the task's coroutines, cut after its own coroutine */
    struct spy_raw_thread *th = spy_raw_threads_new(3);
    CHECK(th != NULL);
    if (th) {
        uint64_t other[] = { 0x10, 0x11 };
        uint64_t loop_thread[] = { 0x20 /* sync helper */, 0x21 /* burn */, 0x30 /* route (inner) */,
                                   0x31 /* dispatcher */, 0x40 /* run_asgi (outer) */, 0x50 /* _run */,
                                   0x51 /* run_forever */ };
        uint64_t decoy[] = { 0x40, 0x30 };      /* outer code first: not this task's chain */
        th[0].depth = 2;
        for (int d = 0; d < 2; d++)
            th[0].frames[d].code = other[d];
        th[1].depth = 2;
        for (int d = 0; d < 2; d++)
            th[1].frames[d].code = decoy[d];
        th[2].depth = 7;
        for (int d = 0; d < 7; d++)
            th[2].frames[d].code = loop_thread[d];
        int which = -2;
        CHECK(spy_task_splice(th, 3, 0x30, 0x40, &which) == 5 && which == 2);
        CHECK(spy_task_splice(th, 3, 0x40, 0x40, &which) == 1 && which == 1);   /* a one-level chain */
        CHECK(spy_task_splice(th, 3, 0x99, 0x40, &which) == 0 && which == -1);  /* nobody runs it */
        CHECK(spy_task_splice(th, 3, 0, 0x40, &which) == 0);
        th[2].truncated = true;         /* a torn walk is never used */
        CHECK(spy_task_splice(th, 3, 0x30, 0x40, &which) == 0);
        free(th);
    }
    return check_report();
}
