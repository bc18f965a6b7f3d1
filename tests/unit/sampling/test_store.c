/* The stack store: interning, per-thread counts, idle filtering, windows
 * and the own/total arithmetic of top (recursion counted once). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stackstore.h"

static const struct spy_top_row *row(const struct spy_top *t, const char *fn)
{
    for (int i = 0; i < t->nrows; i++)
        if (strcmp(t->rows[i].function, fn) == 0)
            return &t->rows[i];
    return NULL;
}

int main(void)
{
    struct spy_store s;
    CHECK(spy_store_init(&s, 60, 64u << 20) == 0);

    /* interning is stable */
    uint32_t a = spy_store_frame(&s, "hot_a", "/app/x.py", 10, 12);
    uint32_t a2 = spy_store_frame(&s, "hot_a", "/app/x.py", 10, 12);
    uint32_t a_other_line = spy_store_frame(&s, "hot_a", "/app/x.py", 10, 13);
    uint32_t b = spy_store_frame(&s, "hot_b", "/app/x.py", 20, 21);
    uint32_t main_f = spy_store_frame(&s, "main", "/app/x.py", 1, 30);
    CHECK(a == a2 && a != a_other_line && a != b);

    uint32_t st_a[] = { a, main_f };
    uint32_t st_a2[] = { a_other_line, main_f };
    uint32_t st_b[] = { b, main_f };
    uint32_t st_rec[] = { main_f, main_f, main_f };      /* recursion */
    uint32_t sa = spy_store_stack(&s, st_a, 2), sa2 = spy_store_stack(&s, st_a2, 2);
    uint32_t sb = spy_store_stack(&s, st_b, 2), srec = spy_store_stack(&s, st_rec, 3);
    CHECK(sa == spy_store_stack(&s, st_a, 2) && sa != sb);

    int t1 = spy_store_slot(&s, 101, 0xaaa), t2 = spy_store_slot(&s, 102, 0xbbb);
    CHECK(t1 != t2 && spy_store_slot(&s, 101, 0xaaa) == t1);
    int reused = spy_store_slot(&s, 101, 0xccc);           /* a tid reused by a new thread */
    CHECK(reused != t1 && reused != t2 && spy_store_slot(&s, 101, 0xccc) == reused);
    int no_tid = spy_store_slot(&s, 0, 0xddd);
    CHECK(no_tid != t1 && spy_store_slot(&s, 0, 0xddd) == no_tid);

    int64_t now = 1000;
    spy_store_maintain(&s, now - 100);    /* an old second, out of short windows */
    for (int i = 0; i < 30; i++)
        spy_store_count(&s, t1, sa, 0, now - 100);
    spy_store_maintain(&s, now);
    for (int i = 0; i < 45; i++)
        spy_store_count(&s, t1, sa2, 0, now);
    for (int i = 0; i < 25; i++)
        spy_store_count(&s, t2, sb, SPY_FLAG_GIL, now);
    for (int i = 0; i < 50; i++)
        spy_store_count(&s, t2, srec, SPY_FLAG_IDLE, now);

    struct spy_top t;
    struct spy_top_query q = { .limit = 10, .window = 0, .idle = false, .tid = 0 };
    CHECK(spy_store_top(&s, &q, now, &t) == 0);
    CHECK(t.samples == 100 && t.idle_samples == 50);
    const struct spy_top_row *ra = row(&t, "hot_a"), *rb = row(&t, "hot_b"), *rm = row(&t, "main");
    CHECK(ra && ra->own == 75 && ra->total == 75 && ra->line == 10);     /* both lines of hot_a */
    CHECK(rb && rb->own == 25);
    CHECK(rm && rm->own == 0 && rm->total == 100);
    CHECK(t.nrows == 3 && strcmp(t.rows[0].function, "hot_a") == 0);     /* sorted by own */
    spy_top_free(&t);

    q.idle = true;
    CHECK(spy_store_top(&s, &q, now, &t) == 0);
    rm = row(&t, "main");
    CHECK(t.samples == 150 && rm && rm->own == 50 && rm->total == 150);  /* recursion once */
    spy_top_free(&t);

    /* a 10-second window leaves out the old second */
    q.idle = false;
    q.window = 10;
    CHECK(spy_store_top(&s, &q, now, &t) == 0);
    ra = row(&t, "hot_a");
    CHECK(t.samples == 70 && ra && ra->own == 45);
    spy_top_free(&t);

    /* one thread */
    q.window = 0;
    q.tid = 102;
    CHECK(spy_store_top(&s, &q, now, &t) == 0);
    CHECK(t.samples == 25 && row(&t, "hot_a") == NULL);
    spy_top_free(&t);

    /* limit */
    q.tid = 0;
    q.limit = 1;
    CHECK(spy_store_top(&s, &q, now, &t) == 0 && t.nrows == 1);
    spy_top_free(&t);

    /* buckets roll and tables grow across many seconds and stacks */
    for (int sec = 0; sec < 200; sec++) {
        spy_store_maintain(&s, now + 1 + sec);
        for (int k = 0; k < 50; k++) {
            uint32_t f = spy_store_frame(&s, "gen", "/app/y.py", 1, sec * 50 + k);
            uint32_t st[] = { f, main_f };
            spy_store_count(&s, t1, spy_store_stack(&s, st, 2), 0, now + 1 + sec);
        }
    }
    q.limit = 5;
    q.window = 5;
    CHECK(spy_store_top(&s, &q, now + 200, &t) == 0);
    CHECK(t.samples == 250);       /* 5 seconds x 50 samples */
    spy_top_free(&t);
    CHECK(s.overflow == 0);

    spy_store_reset(&s);
    q.window = 0;
    CHECK(spy_store_top(&s, &q, now + 200, &t) == 0 && t.samples == 0 && t.nrows == 0);
    spy_top_free(&t);
    spy_store_free(&s);

    /* a 1 MiB cap: once reached, known stacks still count, new ones overflow */
    struct spy_store small;
    CHECK(spy_store_init(&small, 30, 1u << 20) == 0);
    int slot = spy_store_slot(&small, 7, 0x77);
    uint32_t keep = 0;
    for (int sec = 0; sec < 120; sec++) {
        spy_store_maintain(&small, sec);
        for (int k = 0; k < 400; k++) {
            uint32_t f = spy_store_frame(&small, "f", "/app/z.py", 1, sec * 400 + k);
            uint32_t st[32];
            for (int d = 0; d < 32; d++)
                st[d] = f;
            uint32_t id = spy_store_stack(&small, st, 32);
            if (sec == 0 && k == 0)
                keep = id;
            if (id != SPY_INTERN_NONE)
                spy_store_count(&small, slot, id, 0, sec);
            else
                small.overflow++;
        }
    }
    CHECK(small.full && small.overflow > 0);
    printf("store bytes at the cap: %zu, overflow %llu\n", small.bytes, (unsigned long long)small.overflow);
    CHECK(small.bytes <= (1u << 20) + (1u << 18));
    uint64_t before = small.recorded;
    {
        uint32_t f = spy_store_frame(&small, "f", "/app/z.py", 1, 0);
        uint32_t st[32];
        for (int d = 0; d < 32; d++)
            st[d] = f;
        CHECK(spy_store_stack(&small, st, 32) == keep);     /* found, not added */
        spy_store_count(&small, slot, keep, 0, 120);
    }
    CHECK(small.recorded == before + 1);
    spy_store_free(&small);
    return check_report();
}
