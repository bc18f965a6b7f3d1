/* Numbers read from profile files and written back: collapsed counts of
 * any size that fits (what `spyctl convert` writes reads back), overflow
 * refused naming the file, the line and the count; SVG box widths and
 * subtitle figures (pid, duration, rate) refused out of bounds naming the
 * value; writers never print a rate or duration they cannot represent
 * ("at -2147483648 Hz"), and pprof never converts an out-of-range double.
 * Run under UBSan too (the sanitizer suite). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "out_pprof.h"
#include "profile.h"
#include "profile_read.h"
#include "sink.h"
#include "writers.h"

static int read_text(const char *name, const char *text, struct spy_profile *p, char *err, size_t errlen)
{
    return spy_profile_read_mem(name, text, strlen(text), p, NULL, err, errlen);
}

/* Reading text must fail with a message holding every one of want[]. */
static void refused(const char *what, const char *text, const char *const *want)
{
    struct spy_profile p;
    char err[600] = "";
    int rc = read_text("in.file", text, &p, err, sizeof(err));
    CHECK(rc == -1);
    if (rc == 0) {
        fprintf(stderr, "%s: accepted (total %llu)\n", what, (unsigned long long)p.total);
        spy_profile_free(&p);
        return;
    }
    CHECK(strncmp(err, "in.file: ", 9) == 0);
    for (; *want; want++) {
        CHECK(strstr(err, *want) != NULL);
        if (!strstr(err, *want))
            fprintf(stderr, "%s: got \"%s\", wanted \"%s\"\n", what, err, *want);
    }
}

static char *write_with(int (*w)(const struct spy_profile *, const struct spy_write_options *, struct spy_sink *),
                        const struct spy_profile *p, size_t *len)
{
    struct spy_sink s;
    struct spy_write_options o = { .include_idle = true };
    spy_sink_memory(&s, 0);
    if (w(p, &o, &s) != 0 || spy_sink_close(&s) != 0) {
        fprintf(stderr, "writer failed: %s\n", s.error);
        free(s.buf);
        return NULL;
    }
    if (len)
        *len = s.len;
    return s.buf;
}

static void collapsed_counts(void)
{
    char err[600] = "";
    struct spy_profile p, q;

    /* ten and more digits: accepted */
    CHECK(read_text("big.txt", "main;work 12345678901\nmain;idle 9000000000000000000\n", &p, err, sizeof(err)) == 0);
    if (err[0])
        fprintf(stderr, "big counts: %s\n", err);
    CHECK(p.total == 12345678901ull + 9000000000000000000ull);
    /* and convert's output reads back the same */
    size_t len = 0;
    char *txt = write_with(spy_write_collapsed, &p, &len);
    CHECK(txt && strstr(txt, " 12345678901\n") && strstr(txt, " 9000000000000000000\n"));
    if (txt) {
        CHECK(spy_profile_read_mem("again.txt", txt, len, &q, NULL, err, sizeof(err)) == 0);
        CHECK(q.total == p.total);
        spy_profile_free(&q);
    }
    free(txt);
    spy_profile_free(&p);

    /* exactly the limit: accepted */
    CHECK(read_text("max.txt", "a;b 9223372036854775807\n", &p, err, sizeof(err)) == 0);
    CHECK(p.total == 9223372036854775807ull);
    spy_profile_free(&p);

    refused("one past int64", "a;b 3\na;c 9223372036854775808\n",
            (const char *const[]){ "line 2", "9223372036854775808", NULL });
    refused("past uint64", "a;b 18446744073709551616\n",
            (const char *const[]){ "line 1", "18446744073709551616", NULL });
    refused("forty digits", "a;b 1234567890123456789012345678901234567890\n",
            (const char *const[]){ "line 1", "1234567890123456789012345678901234567890", NULL });
    refused("sum past int64", "a;b 9223372036854775807\na;c 1\n",
            (const char *const[]){ "line 2", "total", NULL });
}

/* Our SVG of a small profile with its root box's width replaced. */
static char *our_svg_with_root(const char *width, size_t *len)
{
    char err[600];
    struct spy_profile p;
    if (read_text("small.txt", "main;work 5\n", &p, err, sizeof(err)) != 0)
        return NULL;
    char *svg = write_with(spy_write_svg, &p, len);
    spy_profile_free(&p);
    if (!svg)
        return NULL;
    char *root = strstr(svg, "data-v=\"0 5 0 ");
    CHECK(root != NULL);
    if (!root)
        return svg;
    size_t off = (size_t)(root - svg) + 10, wl = strlen(width);
    char *out = malloc(*len + wl + 1);
    memcpy(out, svg, off);
    memcpy(out + off, width, wl);
    memcpy(out + off + wl, svg + off + 1, *len - off - 1);
    *len = *len + wl - 1;
    out[*len] = '\0';
    free(svg);
    return out;
}

static void svg_numbers(void)
{
    char err[600] = "";
    struct spy_profile p;
    size_t len = 0;

    /* the check of the edit itself: width 5 reads back */
    char *svg = our_svg_with_root("5", &len);
    CHECK(svg && spy_profile_read_mem("ok.svg", svg, len, &p, NULL, err, sizeof(err)) == 0);
    if (svg && p.total == 5)
        spy_profile_free(&p);
    free(svg);

    svg = our_svg_with_root("18446744073709551615", &len);
    if (svg) {
        int rc = spy_profile_read_mem("huge.svg", svg, len, &p, NULL, err, sizeof(err));
        CHECK(rc == -1);
        CHECK(strstr(err, "huge.svg: ") == err && strstr(err, "18446744073709551615"));
        if (rc == 0)
            spy_profile_free(&p);
        else if (!strstr(err, "18446744073709551615"))
            fprintf(stderr, "huge root: %s\n", err);
    }
    free(svg);

    /* flamegraph.pl style: the count in the title */
    refused("flamegraph count",
            "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\">"
            "<g><title>all (18,446,744,073,709,551,615 samples, 100%)</title>"
            "<rect x=\"10\" y=\"100\" width=\"1000\" height=\"15\"/></g></svg>",
            (const char *const[]){ "18446744073709551615", "more than", NULL });
    refused("flamegraph count past uint64",
            "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\">"
            "<g><title>all (99,999,999,999,999,999,999,999 samples, 100%)</title>"
            "<rect x=\"10\" y=\"100\" width=\"1000\" height=\"15\"/></g></svg>",
            (const char *const[]){ "more than", NULL });
    refused("flamegraph children past int64",
            "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\">"
            "<g><title>all (10 samples, 100%)</title><rect x=\"0\" y=\"100\" width=\"100\" height=\"15\"/></g>"
            "<g><title>a (9,223,372,036,854,775,807 samples, 50%)</title>"
            "<rect x=\"0\" y=\"84\" width=\"50\" height=\"15\"/></g>"
            "<g><title>b (9,223,372,036,854,775,807 samples, 50%)</title>"
            "<rect x=\"50\" y=\"84\" width=\"50\" height=\"15\"/></g></svg>",
            (const char *const[]){ "add up to more than", NULL });
}

/* Our SVG with its subtitle's "at N Hz" / "in D s" replaced. */
static void subtitle_numbers(void)
{
    char err[600];
    struct spy_profile p;
    CHECK(read_text("small.txt", "main;work 5\n", &p, err, sizeof(err)) == 0);
    p.rate = 100;
    p.duration = 2;
    size_t len = 0;
    char *svg = write_with(spy_write_svg, &p, &len);
    spy_profile_free(&p);
    if (!svg)
        return;
    const char *at = strstr(svg, " samples in 2.0 s at 100 Hz");
    CHECK(at != NULL);
    if (!at) {
        free(svg);
        return;
    }
    static const struct { const char *text, *want; } cases[] = {
        { " samples in 2.0 s at -2147483648 Hz", "-2147483648" },
        { " samples in 2.0 s at 99999999999 Hz", "99999999999" },
        { " samples in nan s at 100 Hz", "nan" },
        { " samples in 1e300 s at 100 Hz", "1e300" },
        { " samples in -5 s at 100 Hz", "-5" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t pre = (size_t)(at - svg), old = strlen(" samples in 2.0 s at 100 Hz"), nl = strlen(cases[i].text);
        char *edited = malloc(len + nl + 1);
        memcpy(edited, svg, pre);
        memcpy(edited + pre, cases[i].text, nl);
        memcpy(edited + pre + nl, at + old, len - pre - old + 1);
        struct spy_profile q;
        err[0] = '\0';
        int rc = spy_profile_read_mem("sub.svg", edited, len - old + nl, &q, NULL, err, sizeof(err));
        CHECK(rc == -1);
        CHECK(strstr(err, "sub.svg: ") == err && strstr(err, cases[i].want));
        if (rc == 0) {
            fprintf(stderr, "subtitle %s: accepted (rate %d, duration %g)\n", cases[i].text, q.rate, q.duration);
            spy_profile_free(&q);
        } else if (!strstr(err, cases[i].want)) {
            fprintf(stderr, "subtitle %s: %s\n", cases[i].text, err);
        }
        free(edited);
    }
    free(svg);
}

/* Writers given a profile whose figures are out of range (as a reader of
 * someone else's file might leave them) print nothing unrepresentable. */
static void writer_bounds(void)
{
    char err[600];
    struct spy_profile p;
    CHECK(read_text("small.txt", "main;work 5\n", &p, err, sizeof(err)) == 0);
    static const struct { int rate; double duration, start; } cases[] = {
        { -2147483647 - 1, NAN, NAN }, { -5, -1, -1 }, { 2147483647, INFINITY, INFINITY }, { 100, 1e300, 1e300 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p.rate = cases[i].rate;
        p.duration = cases[i].duration;
        p.start_time = cases[i].start;
        size_t len = 0;
        char *svg = write_with(spy_write_svg, &p, &len);
        CHECK(svg != NULL);
        if (!svg)
            continue;
        CHECK(!strstr(svg, "-2147483648") && !strstr(svg, "2147483647 Hz") && !strstr(svg, "-5 Hz"));
        CHECK(!strstr(svg, " nan ") && !strstr(svg, " inf ") && !strstr(svg, " -1.0 s") && !strstr(svg, "e+300"));
        /* and what was written reads back */
        struct spy_profile q;
        CHECK(spy_profile_read_mem("w.svg", svg, len, &q, NULL, err, sizeof(err)) == 0);
        if (q.total == 5)
            spy_profile_free(&q);
        free(svg);
        char *pb = write_with(spy_write_pprof, &p, &len);   /* UBSan: no out-of-range double to integer */
        CHECK(pb != NULL && len > 10);
        free(pb);
    }
    spy_profile_free(&p);
}

int main(void)
{
    collapsed_counts();
    svg_numbers();
    subtitle_numbers();
    writer_bounds();
    return check_report();
}
