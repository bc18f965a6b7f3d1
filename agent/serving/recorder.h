/* recorder.h — turns a span of the stack store into files in SPY_DATA_DIR. */
#ifndef SPY_RECORDER_H
#define SPY_RECORDER_H

#include <stdint.h>

#include "stackstore.h"

struct spy_record_job {
    enum spy_span span;        /* SPY_SPAN_RECORDING or SPY_SPAN_WINDOW */
    int window;                /* seconds, for SPY_SPAN_WINDOW */
    unsigned formats;          /* SPY_FMT_* */
    double duration;           /* seconds covered */
    double start_time;         /* Unix time of the start */
    double span_start;         /* Unix time the span began, if not start_time (0): the report command */
    char data_dir[1024];
    char id[160];              /* the command's id, echoed in record_done */
    const char *reply;         /* the reply's type: NULL = "record_done", or "report" */
};

/* Build the profile, write one file per format, and return the record_done
 * message (malloc'd; NULL only when out of memory).  Runs on the writer
 * thread, or on the exiting thread when the app ends during a recording. */
char *spy_record_write(struct spy_store *store, const struct spy_record_job *job);

/* Appends the task view of the same span to a CPU profile built with
 * spy_store_profile (nothing when there is no task wall time in it): what
 * reports and speedscope files are written from.  0, or -1 if out of
 * memory (prof unchanged).  Takes the store lock briefly. */
int spy_record_add_tasks(struct spy_store *store, enum spy_span span, int window, int64_t now_sec,
                         struct spy_profile *prof);

#endif
