/*
 * log.c — stderr logging with syslog priority prefixes.
 *
 * Design: a line is formatted into a stack buffer and written with a single
 * write(2), so lines from different threads never interleave and journald
 * sees one record per line.  The level is an atomic read by every thread; the
 * thread tag is thread-local.  No locks, no allocation.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048	/* bytes; longer messages are cut with "..." */

static _Atomic int log_level = LOG_LVL_INFO;
static _Atomic int log_fd = 2;
static _Thread_local char thread_tag[16] = "main";

static const struct {
	const char *name;
	enum log_level level;
} level_names[] = {
	{ "error", LOG_LVL_ERROR },
	{ "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
};

void log_set_level(enum log_level level) { atomic_store(&log_level, level); }
enum log_level log_get_level(void) { return atomic_load(&log_level); }
void log_set_fd(int fd) { atomic_store(&log_fd, fd); }

int log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i].name) == 0)
			return level_names[i].level;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "?";
}

void log_set_thread_tag(const char *tag)
{
	snprintf(thread_tag, sizeof(thread_tag), "%s", tag);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;

	if ((int)level > atomic_load(&log_level))
		return;
	int n = snprintf(line, sizeof(line), "<%d>%s: ", (int)level, thread_tag);
	if (n < 0)
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len;
	if (m < 0) {
		len = (size_t)n;
	} else if ((size_t)m >= sizeof(line) - (size_t)n - 1) {
		len = sizeof(line) - 1;	/* room for the newline */
		memcpy(line + len - 3, "...", 3);
	} else {
		len = (size_t)n + (size_t)m;
	}
	/* One line per record: fold embedded newlines. */
	for (size_t i = (size_t)n; i < len; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[len++] = '\n';
	const char *p = line;
	while (len > 0) {
		ssize_t w = write(atomic_load(&log_fd), p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	errno = saved;
}

int log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	return -1;
}

noreturn void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
