/* profile_read_parts.h — between profile_read.c (format detection, the
 * collapsed and SVG readers, the profile builder) and
 * profile_read_speedscope.c (the streamed speedscope reader): the
 * builder's operations, for one reader call on one thread. */
#ifndef SPY_PROFILE_READ_PARTS_H
#define SPY_PROFILE_READ_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

struct reader;                  /* the file's name and the caller's error buffer */
struct builder;                 /* the profile being built, frames and stacks interned */

/* "NAME: message" into the caller's error buffer; returns -1. */
__attribute__((format(printf, 2, 3)))
int spy_read_fail(struct reader *r, const char *fmt, ...);
/* Frame and thread ids (UINT32_MAX if out of memory); equal ones merge. */
uint32_t spy_read_add_frame(struct builder *b, const char *fn, size_t fl, const char *file, size_t filel, int line);
/* A frame from a label "function (file:line)", "function (file)" or "function". */
uint32_t spy_read_label_frame(struct builder *b, const char *s, size_t n);
uint32_t spy_read_add_thread(struct builder *b, const char *name, size_t len, int tid);
/* count samples of a stack (innermost first) on a thread; 0, or -1 if out of memory. */
int spy_read_add_sample(struct builder *b, uint32_t thread, const uint32_t *ids, uint32_t depth, uint64_t count);
struct spy_profile *spy_read_profile(struct builder *b);

/* Speedscope JSON at offset `start` of fd (a regular file: read through a
 * window with pread), or, fd < 0, in mem[0, memlen).  0, or -1 with the
 * error set; *format: "speedscope" or "py-spy speedscope". */
int spy_read_speedscope(struct reader *r, struct builder *b, int fd, uint64_t start, const char *mem, size_t memlen,
                        const char **format);

#endif
