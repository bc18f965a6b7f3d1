/* log.h — one-line messages to stderr, prefixed "spyagent:". */
#ifndef SPY_LOG_H
#define SPY_LOG_H

enum spy_log_level { SPY_LOG_ERROR = 0, SPY_LOG_INFO = 1, SPY_LOG_DEBUG = 2 };

/* Messages above this level are not printed.  Errors print even when
 * quiet: "quiet" silences information, never the one line that says the
 * agent could not start. */
void spy_log_set_level(enum spy_log_level level);
enum spy_log_level spy_log_get_level(void);
void spy_log(enum spy_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
