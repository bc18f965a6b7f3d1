/* profile_read.h — a saved profile file back into a struct spy_profile, the
 * format found from the content: collapsed stacks (ours, flamegraph.pl's,
 * py-spy's raw output), speedscope JSON (ours and py-spy's) and SVG flame
 * graphs (ours, and flamegraph.pl/inferno style as py-spy writes them). */
#ifndef SPY_PROFILE_READ_H
#define SPY_PROFILE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

#define SPY_READ_MAX_LINE ((size_t)1 << 20)       /* a collapsed line */
#define SPY_READ_MAX_DOC ((size_t)256 << 20)      /* a JSON or SVG document */
/* Most samples a profile read may hold (one stack's count and the sum of
 * all): what every writer can represent (pprof's int64 values). */
#define SPY_READ_MAX_SAMPLES ((uint64_t)INT64_MAX)
/* Metadata read back from a file is refused outside these bounds. */
#define SPY_READ_MAX_RATE 1000000                 /* Hz */
#define SPY_READ_MAX_DURATION 1e9                 /* seconds (31 years) */

/* 0 and *p filled (free with spy_profile_free), or -1 with a message in
 * err that names the file and what was expected.  *format, if not NULL,
 * gets a static name of the format found ("collapsed", "speedscope",
 * "py-spy speedscope", "svg", "flamegraph svg"). */
int spy_profile_read(const char *path, struct spy_profile *p, const char **format,
                     char *err, size_t errlen);
/* The same from memory; `name` is used in messages. */
int spy_profile_read_mem(const char *name, const char *data, size_t len, struct spy_profile *p,
                         const char **format, char *err, size_t errlen);

#endif
