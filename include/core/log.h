/*
 * log.h — the daemon's one logging path.
 *
 * Every line goes to stderr as "<N>tag: message\n" in one write(2), where N
 * is the syslog priority (journald strips and honours it) and tag names the
 * thread that logged (set once per thread with log_set_thread_tag()).  Safe
 * from any thread; never call it from an async signal handler.
 *
 * Messages follow one habit: lowercase, what went wrong first, the subject
 * quoted, then the context an operator needs (which member, key, file:line).
 */
#ifndef AGG_LOG_H
#define AGG_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

enum log_level {
	LOG_LVL_ERROR = 3,	/* syslog LOG_ERR */
	LOG_LVL_WARN = 4,	/* syslog LOG_WARNING */
	LOG_LVL_INFO = 6,	/* syslog LOG_INFO */
	LOG_LVL_DEBUG = 7,	/* syslog LOG_DEBUG */
};

/* Set the most verbose level printed (atomic; any thread may call). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parse "error"/"warn"/"info"/"debug"; returns -1 for anything else. */
int log_level_from_name(const char *name);
const char *log_level_name(enum log_level level);

/* Name this thread in its log lines (copied, at most 15 chars kept). */
void log_set_thread_tag(const char *tag);

/* Redirect output to fd (tests); default 2. */
void log_set_fd(int fd);

/* Log one line; returns -1, so a caller can write `return log_error("...")`. */
int log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Log at error level and exit(1).  Only before start-up completes. */
noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
