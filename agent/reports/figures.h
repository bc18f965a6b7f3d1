/* figures.h — what the text and HTML reports share besides the analysis:
 * the analysis a report starts from, shares, and a row's main category. */
#ifndef SPY_FIGURES_H
#define SPY_FIGURES_H

#include <stdint.h>

#include "analysis.h"
#include "report.h"

/* Analyse p for a report.  0 with *a filled (free with spy_analysis_free)
 * and *title set (the options' title, else the program, else "profile");
 * -1 with the sink failed and the reason in it, or if it had failed. */
int spy_report_analyse(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s,
                       struct spy_analysis *a, const char **title);

/* part as a percentage of whole; 0 when whole is 0. */
static inline double spy_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The category with the most samples in cat[SPY_CAT_COUNT] (the first of
 * equals), or -1 if all are 0. */
int spy_main_category(const uint64_t *cat);

#endif
