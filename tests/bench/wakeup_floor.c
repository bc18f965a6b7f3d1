/* wakeup_floor: the CPU that a thread costs when all it does is wake up at a
 * fixed rate, the floor under any sampler that ticks at that rate.
 *
 *     cc -O2 -pthread -o wakeup_floor tests/bench/wakeup_floor.c
 *     taskset -c 0 ./wakeup_floor RATE_HZ SECONDS
 *
 * One worker thread sleeps to absolute deadlines (clock_nanosleep with
 * TIMER_ABSTIME on CLOCK_MONOTONIC), period 1/RATE, for SECONDS, and does
 * nothing else; the main thread only starts it, joins it and prints one JSON
 * line: the wake-ups, the worker's own CPU time (CLOCK_THREAD_CPUTIME_ID,
 * which counts the kernel's work for its sleeps and wake-ups too), the CPU
 * per wake-up in microseconds, how late the wake-ups were, and how many
 * deadlines were skipped because the thread woke after the next one was due.
 * Invariant: deadlines only move forward, by whole periods, so a late
 * wake-up never makes the ones after it early. Used by bench_overhead.py.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000LL

struct floor_run {
    long long period_ns;
    long long duration_ns;
    long long wakeups;
    long long skipped;
    long long cpu_ns;
    long long late_sum_ns;
    long long late_max_ns;
    int error;              /* errno of a failed clock call, 0 if none */
};

static long long ts_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

static struct timespec ns_ts(long long ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S) };
    return ts;
}

static int now_ns(clockid_t clock, long long *out)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return errno;
    *out = ts_ns(&ts);
    return 0;
}

static void *tick_loop(void *arg)
{
    struct floor_run *run = arg;
    long long start = 0, cpu0 = 0, cpu1 = 0, now = 0;
    int err = now_ns(CLOCK_MONOTONIC, &start);
    if (!err)
        err = now_ns(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    if (err) {
        run->error = err;
        return NULL;
    }
    long long end = start + run->duration_ns;
    long long deadline = start + run->period_ns;
    while (deadline <= end) {
        struct timespec ts = ns_ts(deadline);
        int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (rc == EINTR)
            continue;
        if (rc != 0 || (rc = now_ns(CLOCK_MONOTONIC, &now)) != 0) {
            run->error = rc;
            return NULL;
        }
        run->wakeups++;
        long long late = now - deadline;
        run->late_sum_ns += late;
        if (late > run->late_max_ns)
            run->late_max_ns = late;
        deadline += run->period_ns;
        while (deadline <= now) {       /* woke after the next deadline: skip it */
            deadline += run->period_ns;
            run->skipped++;
        }
    }
    err = now_ns(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    if (err) {
        run->error = err;
        return NULL;
    }
    run->cpu_ns = cpu1 - cpu0;
    return NULL;
}

static int parse_number(const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    double rate, seconds;
    if (argc != 3) {
        fprintf(stderr, "usage: %s RATE_HZ SECONDS\n", argv[0]);
        return 2;
    }
    if (parse_number(argv[1], 1, 100000, &rate) != 0) {
        fprintf(stderr, "wakeup_floor: RATE_HZ must be a number from 1 to 100000, got '%s'\n", argv[1]);
        return 2;
    }
    if (parse_number(argv[2], 0.01, 86400, &seconds) != 0) {
        fprintf(stderr, "wakeup_floor: SECONDS must be a number from 0.01 to 86400, got '%s'\n", argv[2]);
        return 2;
    }
    struct floor_run run;
    memset(&run, 0, sizeof run);
    run.period_ns = (long long)((double)NS_PER_S / rate + 0.5);
    run.duration_ns = (long long)(seconds * (double)NS_PER_S + 0.5);

    pthread_t tid;
    int rc = pthread_create(&tid, NULL, tick_loop, &run);
    if (rc != 0) {
        fprintf(stderr, "wakeup_floor: pthread_create: %s\n", strerror(rc));
        return 1;
    }
    rc = pthread_join(tid, NULL);
    if (rc != 0) {
        fprintf(stderr, "wakeup_floor: pthread_join: %s\n", strerror(rc));
        return 1;
    }
    if (run.error) {
        fprintf(stderr, "wakeup_floor: clock call failed: %s\n", strerror(run.error));
        return 1;
    }
    if (run.wakeups == 0) {
        fprintf(stderr, "wakeup_floor: no wake-up in %g s at %g Hz\n", seconds, rate);
        return 1;
    }
    printf("{\"rate\": %.6g, \"seconds\": %.6g, \"wakeups\": %lld, \"skipped\": %lld, "
           "\"cpu_ns\": %lld, \"us_per_wakeup\": %.4f, \"late_mean_us\": %.2f, \"late_max_us\": %.2f}\n",
           rate, seconds, run.wakeups, run.skipped, run.cpu_ns,
           (double)run.cpu_ns / (double)run.wakeups / 1000.0,
           (double)run.late_sum_ns / (double)run.wakeups / 1000.0, (double)run.late_max_ns / 1000.0);
    return 0;
}
