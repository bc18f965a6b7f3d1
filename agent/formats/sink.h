/* sink.h — where a writer's bytes go: memory (tests, replies) or a file that
 * appears whole or not at all (temp name, fsync, rename). */
#ifndef SPY_SINK_H
#define SPY_SINK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct spy_sink {
    int (*write)(struct spy_sink *s, const void *p, size_t n);
    int failed;              /* sticky: once a write fails, the rest are dropped */
    char error[256];         /* why, for the caller's message */
    /* memory sink */
    char *buf;
    size_t len, cap, limit;
    /* file sink */
    int fd;
    char path[1024], tmp[1100];
    char wbuf[65536];
    size_t wlen;
};

/* A growable buffer of at most `limit` bytes (0: no limit).  s->buf holds
 * s->len bytes plus a NUL; the caller frees s->buf after spy_sink_close(). */
void spy_sink_memory(struct spy_sink *s, size_t limit);
/* Open dir/name for writing through a temporary name; -1 with s->error. */
int spy_sink_file(struct spy_sink *s, const char *dir, const char *name);
int spy_sink_write(struct spy_sink *s, const void *p, size_t n);
int spy_sink_puts(struct spy_sink *s, const char *str);
int spy_sink_printf(struct spy_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON string contents (without quotes), escaped. */
int spy_sink_json_str(struct spy_sink *s, const char *str);
/* The same, with <, > and & also as \u escapes, so the result can sit in
 * XML or HTML text (an SVG's script) without further escaping. */
int spy_sink_json_str_xmlsafe(struct spy_sink *s, const char *str);
/* XML/HTML text, escaped (also in attribute values: quotes are escaped);
 * invalid UTF-8 and characters XML forbids become U+FFFD. */
int spy_sink_xml_str(struct spy_sink *s, const char *str);
/* v with a comma between each three digits ("1,234,567"), into buf (32
 * bytes hold any value); returns buf. */
const char *spy_grouped(uint64_t v, char *buf, size_t cap);
int spy_sink_grouped(struct spy_sink *s, uint64_t v);
/* Mark the sink failed with this reason unless it already failed (the
 * first reason stays); always -1, so a writer can `return spy_sink_fail()`. */
int spy_sink_fail(struct spy_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Finish: for a file, flush, fsync and rename into place (or remove the
 * temporary file if anything failed).  Returns 0 or -1 with s->error. */
int spy_sink_close(struct spy_sink *s);

#endif
