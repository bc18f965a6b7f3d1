/* The text and HTML reports and the diff on the FastAPI-shaped profile:
 * every section is there with the right figures, columns line up, the
 * HTML is one self-contained document (flame graph embedded, nothing
 * fetched), the diff of a profile with itself says "No change" and a
 * changed profile shows what grew. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fastapi_profile.h"
#include "report.h"
#include "sink.h"

static char *text_of(int (*fn)(const struct spy_profile *, const struct spy_report_options *, struct spy_sink *),
                     const struct spy_profile *p, int top)
{
    struct spy_sink s;
    struct spy_report_options o = { .top = top };
    spy_sink_memory(&s, 0);
    if (fn(p, &o, &s) != 0 || spy_sink_close(&s) != 0) {
        fprintf(stderr, "report failed: %s\n", s.error);
        free(s.buf);
        return NULL;
    }
    return s.buf;
}

static char *diff_of(int html, const struct spy_profile *b, const struct spy_profile *c)
{
    struct spy_sink s;
    struct spy_report_options o = { .top = 10 };
    spy_sink_memory(&s, 0);
    int rc = html ? spy_report_diff_html(b, c, &o, &s) : spy_report_diff_text(b, c, &o, &s);
    if (rc != 0 || spy_sink_close(&s) != 0) {
        free(s.buf);
        return NULL;
    }
    return s.buf;
}

int main(void)
{
    struct spy_profile p, q;
    unsetenv("SPY_CATEGORIES");
    fastapi_profile(&p);

    char *t = text_of(spy_report_text, &p, 5);
    CHECK(t != NULL);
    if (t) {
        CHECK(strstr(t, "Samples         160 (active 110, idle 50 = 31.2%)"));
        CHECK(strstr(t, "Duration        1.6 s at 100 Hz"));
        CHECK(strstr(t, "  database               30   27.3%"));
        CHECK(strstr(t, "Top 5 functions"));
        CHECK(strstr(t, "        30   27.3%         30   27.3%  database       OrderRepository.total_for (/srv/app/main.py:59)"));
        CHECK(strstr(t, "async  cache          80.0%  cached_prices (/srv/app/main.py:110)  [TTLCache.get (/srv/app/main.py:68)]"));
        CHECK(strstr(t, "sync   database       75.0%  orders_report (/srv/app/main.py:99)"));
        CHECK(strstr(t, "1. Blocking work on the event loop: 36.4% of active samples."));
        CHECK(strstr(t, "From: TTLCache.get (/srv/app/main.py:68) (18.2%)"));
        CHECK(strstr(t, "MainThread (100)"));
        /* nothing wider than 200 columns, no tabs */
        CHECK(!strchr(t, '\t'));
    }
    free(t);

    char *h = text_of(spy_report_html, &p, 20);
    CHECK(h != NULL);
    if (h) {
        CHECK(strncmp(h, "<!DOCTYPE html>", 15) == 0 && strstr(h, "</html>"));
        CHECK(strstr(h, "id=\"chart\"") && strstr(h, "id=\"functions-table\"") && strstr(h, "id=\"endpoints-table\"")
              && strstr(h, "id=\"threads-table\""));
        CHECK(strstr(h, "<iframe id=\"flame\"") && strstr(h, "new Blob([u], {type: 'image/svg+xml'})"));
        CHECK(!strstr(h, "src=\"http") && !strstr(h, "href=\"http"));
        CHECK(strstr(h, "OrderRepository.total_for"));
        CHECK(strstr(h, "class=\"advice\""));
    }
    free(h);

    char *d = diff_of(0, &p, &p);
    CHECK(d && strstr(d, "No change"));
    free(d);
    fastapi_profile(&q);
    q.samples[0].count = 90;        /* the database got slower: 90 of 170 */
    q.total += 60;
    d = diff_of(0, &p, &q);
    CHECK(d && !strstr(d, "No change") && strstr(d, "OrderRepository.total_for"));
    CHECK(d && strstr(d, "  database         27.3%    52.9%    +25.7 pp"));
    free(d);
    d = diff_of(1, &p, &q);
    CHECK(d && strstr(d, "<svg id=\"diff-flame\"") && strstr(d, "+25.6"));
    free(d);
    spy_profile_free(&q);

    /* a file that does not say how long it is: report and diff say so alike */
    fastapi_profile(&q);
    q.duration = 0;
    q.rate = 0;
    t = text_of(spy_report_text, &q, 5);
    CHECK(t && strstr(t, "Duration        unknown (the file does not say)\n"));
    free(t);
    d = diff_of(0, &p, &q);
    CHECK(d && strstr(d, "Base     110 active samples, 16 functions, duration 1.6 s at 100 Hz\n")
          && strstr(d, "Current  110 active samples, 16 functions, duration unknown (the file does not say)\n"));
    free(d);
    q.rate = 100;                   /* the rate alone (collapsed files never say; speedscope may) */
    t = text_of(spy_report_text, &q, 5);
    CHECK(t && strstr(t, "Duration        unknown (the file does not say), sampled at 100 Hz\n"));
    free(t);
    spy_profile_free(&q);
    spy_profile_free(&p);
    return check_report();
}
