/* out_pprof.h — a profile as gzip-compressed pprof protobuf (profile.proto),
 * what Grafana Pyroscope, Parca and `go tool pprof` read. */
#ifndef SPY_OUT_PPROF_H
#define SPY_OUT_PPROF_H

#include "writers.h"

/* Sample type "samples"/"count", period 1e9/rate nanoseconds ("cpu"/
 * "nanoseconds") when the rate is known; a "thread" label per sample.
 * 0, or -1 with the sink's error set. */
int spy_write_pprof(const struct spy_profile *p, const struct spy_write_options *o, struct spy_sink *s);

#endif
