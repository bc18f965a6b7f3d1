/* report_wall.h — the text and HTML reports' "Where requests wait"
 * section (the task view per endpoint, wall.h).  Each writes nothing when
 * the profile has no task samples; 0, or -1 with the sink's error set. */
#ifndef SPY_REPORT_WALL_H
#define SPY_REPORT_WALL_H

#include "profile.h"
#include "report.h"
#include "sink.h"

int spy_report_wall_text(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s);
int spy_report_wall_html(const struct spy_profile *p, const struct spy_report_options *o, struct spy_sink *s);

#endif
