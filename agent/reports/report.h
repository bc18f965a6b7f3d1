/* report.h — performance reports from a profile: text for terminals and
 * replies, one self-contained HTML file, and the diff of two profiles.
 * Each returns 0, or -1 with the sink's error set.  They read the
 * profiles only and may run on any one thread at a time. */
#ifndef SPY_REPORT_H
#define SPY_REPORT_H

#include "categories.h"
#include "loop_blocks.h"
#include "profile.h"
#include "sink.h"

struct spy_report_options {
    int top;                                  /* functions listed; <= 0: 20 */
    const struct spy_categories *categories;  /* NULL: SPY_CATEGORIES or the built-in rules */
    const char *title;                        /* NULL: from the profile */
    /* event-loop blocks of the span (agent/serving/blocks.c): the report
     * lists the slowest with their stacks; none given, no such section */
    bool blocks_given;
    const struct spy_loop_block *blocks;
    size_t nblocks;
    int block_ms;                             /* the threshold they were found with */
};

#define SPY_REPORT_BLOCKS 5                   /* slowest loop blocks a report lists */
#define SPY_REPORT_BLOCK_FRAMES 12            /* frames shown of each */

int spy_report_text(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s);
int spy_report_html(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s);

/* What changed from `base` to `current`, shares normalised by each
 * profile's active samples; the HTML one has a differential flame graph. */
int spy_report_diff_text(const struct spy_profile *base, const struct spy_profile *current,
                         const struct spy_report_options *o, struct spy_sink *s);
int spy_report_diff_html(const struct spy_profile *base, const struct spy_profile *current,
                         const struct spy_report_options *o, struct spy_sink *s);

#endif
