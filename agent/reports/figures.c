/*
 * figures.c — the pieces the text and HTML reports share, so both print
 * the same figures the same way: the analysis a report starts from (and
 * its error), and a row's main category.
 *
 * Runs on the caller's thread; reads the profile only.
 */
#include "figures.h"

int spy_report_analyse(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s,
                       struct spy_analysis *a, const char **title)
{
    char err[256];
    if (s->failed)
        return -1;
    if (spy_analyse(p, o ? o->categories : NULL, a, err, sizeof(err)) != 0)
        return spy_sink_fail(s, "%s", err);
    *title = o && o->title ? o->title : a->program[0] ? a->program : "profile";
    return 0;
}

int spy_main_category(const uint64_t *cat)
{
    int best = -1;
    uint64_t v = 0;
    for (int c = 0; c < SPY_CAT_COUNT; c++)
        if (cat[c] > v) {
            v = cat[c];
            best = c;
        }
    return best;
}
