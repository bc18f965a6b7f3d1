/* The task view of the stack store (issue 12): entries flagged
 * SPY_FLAG_TASK (task wall time in milliseconds) never reach a CPU view —
 * top, windows, the recording, profiles (what flame, recordings and
 * reports are built from) — and a task view holds only them, with every
 * task state counted. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "profile.h"
#include "stackstore.h"

struct top_copy {
    uint64_t samples, idle_samples;
    int nrows;
    char fn[8][32];
    uint64_t own[8], total[8], running[8], ready[8];
};

static void take(struct spy_store *s, const struct spy_top_query *q, int64_t now, struct top_copy *c)
{
    struct spy_top t;
    memset(c, 0, sizeof(*c));
    CHECK(spy_store_top(s, q, now, &t) == 0);
    c->samples = t.samples;
    c->idle_samples = t.idle_samples;
    c->nrows = t.nrows;
    for (int i = 0; i < t.nrows && i < 8; i++) {
        snprintf(c->fn[i], sizeof(c->fn[i]), "%s", t.rows[i].function);
        c->own[i] = t.rows[i].own;
        c->total[i] = t.rows[i].total;
        c->running[i] = t.rows[i].running;
        c->ready[i] = t.rows[i].ready;
    }
    spy_top_free(&t);
}

static bool same(const struct top_copy *a, const struct top_copy *b)
{
    if (a->samples != b->samples || a->idle_samples != b->idle_samples || a->nrows != b->nrows)
        return false;
    for (int i = 0; i < a->nrows && i < 8; i++)
        if (strcmp(a->fn[i], b->fn[i]) || a->own[i] != b->own[i] || a->total[i] != b->total[i])
            return false;
    return true;
}

static bool has_fn(const struct top_copy *c, const char *fn)
{
    for (int i = 0; i < c->nrows && i < 8; i++)
        if (strcmp(c->fn[i], fn) == 0)
            return true;
    return false;
}

static uint64_t profile_total(struct spy_store *s, enum spy_span span, int window, int64_t now, enum spy_view v,
                              unsigned *flags_seen, bool *tasks)
{
    struct spy_profile p;
    *flags_seen = 0;
    if (spy_store_profile(s, span, window, now, v, &p) != 0)
        return UINT64_MAX;
    uint64_t total = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        total += p.samples[i].count;
        *flags_seen |= p.samples[i].flags;
    }
    CHECK(total == p.total);
    *tasks = p.tasks;
    spy_profile_free(&p);
    return total;
}

int main(void)
{
    struct spy_store s;
    CHECK(spy_store_init(&s, 60, 64u << 20) == 0);
    uint32_t cpu_f = spy_store_frame(&s, "burn", "/app/x.py", 10, 11);
    uint32_t main_f = spy_store_frame(&s, "main", "/app/x.py", 1, 2);
    uint32_t sleep_f = spy_store_frame(&s, "sleep", "/usr/lib/asyncio/tasks.py", 600, 605);
    uint32_t h2 = spy_store_frame(&s, "h2", "/app/x.py", 30, 31);
    uint32_t route = spy_store_frame(&s, "route", "/app/x.py", 40, 41);
    uint32_t st_cpu[] = { cpu_f, main_f }, st_idle[] = { main_f };
    uint32_t st_task[] = { sleep_f, h2, route }, st_run[] = { cpu_f, route };
    uint32_t scpu = spy_store_stack(&s, st_cpu, 2), sidle = spy_store_stack(&s, st_idle, 1);
    uint32_t stask = spy_store_stack(&s, st_task, 3), srun = spy_store_stack(&s, st_run, 2);
    int slot = spy_store_slot(&s, 101, 0xaaa);
    int64_t now = 1000;

    /* CPU counts only, in an old second and the current one, and a recording */
    spy_store_maintain(&s, now - 5);
    for (int i = 0; i < 40; i++)
        spy_store_count(&s, slot, scpu, SPY_FLAG_GIL, now - 5);
    spy_store_maintain(&s, now);
    CHECK(spy_store_record_start(&s) == 0);
    for (int i = 0; i < 20; i++)
        spy_store_count(&s, slot, sidle, SPY_FLAG_IDLE, now);
    for (int i = 0; i < 10; i++)
        spy_store_count(&s, slot, scpu, 0, now);

    struct spy_top_query cpu_q = { .limit = 10 }, cpu_idle_q = { .limit = 10, .idle = true };
    struct spy_top_query cpu_w = { .limit = 10, .window = 3 };
    struct top_copy before, before_idle, before_w, after;
    take(&s, &cpu_q, now, &before);
    take(&s, &cpu_idle_q, now, &before_idle);
    take(&s, &cpu_w, now, &before_w);
    unsigned fl;
    bool tasks;
    uint64_t prof_all = profile_total(&s, SPY_SPAN_ALL, 0, now, SPY_VIEW_CPU, &fl, &tasks);
    uint64_t prof_rec = profile_total(&s, SPY_SPAN_RECORDING, 0, now, SPY_VIEW_CPU, &fl, &tasks);
    uint64_t prof_win = profile_total(&s, SPY_SPAN_WINDOW, 3, now, SPY_VIEW_CPU, &fl, &tasks);
    uint64_t recorded = s.recorded, rec_samples = s.rec_samples, rec_busy = s.rec_busy;
    CHECK(before.samples == 50 && before_idle.samples == 70 && before_w.samples == 10);
    CHECK(prof_all == 70 && prof_rec == 30 && prof_win == 30);

    /* task entries: waiting 600 ms, ready 30 ms, on CPU 25 ms, in both seconds */
    spy_store_add(&s, slot, stask, SPY_FLAG_TASK | SPY_FLAG_IDLE, 600);
    spy_store_add(&s, slot, stask, SPY_FLAG_TASK | SPY_FLAG_READY, 30);
    spy_store_add(&s, slot, srun, SPY_FLAG_TASK, 25);

    /* every CPU view is unchanged */
    take(&s, &cpu_q, now, &after);
    CHECK(same(&before, &after) && !has_fn(&after, "sleep") && !has_fn(&after, "route"));
    take(&s, &cpu_idle_q, now, &after);
    CHECK(same(&before_idle, &after));
    take(&s, &cpu_w, now, &after);
    CHECK(same(&before_w, &after));
    CHECK(profile_total(&s, SPY_SPAN_ALL, 0, now, SPY_VIEW_CPU, &fl, &tasks) == prof_all && !(fl & SPY_FLAG_TASK)
          && !tasks);
    CHECK(profile_total(&s, SPY_SPAN_RECORDING, 0, now, SPY_VIEW_CPU, &fl, &tasks) == prof_rec
          && !(fl & SPY_FLAG_TASK));
    CHECK(profile_total(&s, SPY_SPAN_WINDOW, 3, now, SPY_VIEW_CPU, &fl, &tasks) == prof_win);
    /* sample counters are of thread samples only */
    CHECK(s.recorded == recorded && s.rec_samples == rec_samples && s.rec_busy == rec_busy);
    CHECK(s.task_ms == 655 && s.rec_task_ms == 655);

    /* the task view holds only task entries, every state, idle or not */
    struct spy_top_query task_q = { .limit = 10, .tasks = true };
    take(&s, &task_q, now, &after);
    CHECK(after.samples == 655 && after.idle_samples == 600);
    CHECK(has_fn(&after, "sleep") && has_fn(&after, "route") && has_fn(&after, "burn") && !has_fn(&after, "main"));
    CHECK(after.nrows == 4 && strcmp(after.fn[0], "sleep") == 0 && after.own[0] == 630);
    for (int i = 0; i < after.nrows; i++)
        if (strcmp(after.fn[i], "route") == 0)
            CHECK(after.total[i] == 655 && after.own[i] == 0 && after.running[i] == 25 && after.ready[i] == 30);
        else if (strcmp(after.fn[i], "burn") == 0)
            CHECK(after.own[i] == 25 && after.running[i] == 25 && after.ready[i] == 0);
        else if (strcmp(after.fn[i], "sleep") == 0)
            CHECK(after.running[i] == 0 && after.ready[i] == 30);
    task_q.idle = true;            /* makes no difference to the task view */
    struct top_copy again;
    take(&s, &task_q, now, &again);
    CHECK(same(&after, &again));
    uint64_t tprof = profile_total(&s, SPY_SPAN_ALL, 0, now, SPY_VIEW_TASKS, &fl, &tasks);
    CHECK(tprof == 655 && (fl & SPY_FLAG_TASK) && tasks);
    CHECK(profile_total(&s, SPY_SPAN_RECORDING, 0, now, SPY_VIEW_TASKS, &fl, &tasks) == 655);

    /* windows: the task view of an old second only */
    spy_store_maintain(&s, now + 1);
    spy_store_add(&s, slot, stask, SPY_FLAG_TASK | SPY_FLAG_IDLE, 1000);
    spy_store_count(&s, slot, scpu, 0, now + 1);
    struct spy_top_query task_w = { .limit = 10, .window = 1, .tasks = true };
    take(&s, &task_w, now + 1, &after);
    CHECK(after.samples == 1000 && after.nrows == 3);
    cpu_w.window = 1;
    take(&s, &cpu_w, now + 1, &after);
    CHECK(after.samples == 1 && !has_fn(&after, "sleep"));

    /* ring copies (what leaves forward) keep the flags */
    spy_store_maintain(&s, now + 2);
    size_t n = 0;
    int64_t newest;
    struct spy_count *items = spy_store_seconds_after(&s, now, &n, &newest);
    bool task_seen = false;
    for (size_t i = 0; items && i < n; i++)
        if (spy_key_flags(items[i].key) == (SPY_FLAG_TASK | SPY_FLAG_IDLE) && items[i].count == 1000)
            task_seen = true;
    CHECK(task_seen && newest == now + 1);
    free(items);

    spy_store_record_stop(&s);
    spy_store_reset(&s);
    CHECK(s.task_ms == 0);
    spy_store_free(&s);
    return check_report();
}
