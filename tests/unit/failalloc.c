/*
 * failalloc.c — the allocation-failure injector (see failalloc.h).
 *
 * The wrappers count allocations while armed and fail the one whose index
 * is the target (errno ENOMEM); __real_* are the C library's.  The count
 * is atomic: a call under test may allocate from a worker thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "failalloc.h"
#include "suites.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f);
void __real__mark_point(const char *file, int line);
void __wrap__mark_point(const char *file, int line);

static atomic_bool armed;
static atomic_long seen;	/* allocations since oom_arm() */
static atomic_bool fired;
static long target;		/* the index that fails */
static long cur_n;
static bool arm_called;

/* True when this allocation is the one to fail. */
static bool fail_now(void)
{
	if (!atomic_load(&armed))
		return false;
	if (atomic_fetch_add(&seen, 1) != target)
		return false;
	atomic_store(&fired, true);
	errno = ENOMEM;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	if (fail_now())
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
	if (fail_now())
		return -1;
	return __real_getline(line, cap, f);
}

/*
 * Every passing ck_assert() calls check's _mark_point(), which allocates (it
 * tells the parent process where the test got to): its allocations are not
 * the code's and are neither counted nor failed, so a check inside a
 * callback of the call under test is safe.  (A failing assertion while armed
 * may see its own message allocation fail: check then exits, still a
 * failure.)
 */
void __wrap__mark_point(const char *file, int line)
{
	bool was = atomic_exchange(&armed, false);
	__real__mark_point(file, line);
	atomic_store(&armed, was);
}

void oom_arm(void)
{
	arm_called = true;
	atomic_store(&seen, 0);
	atomic_store(&fired, false);
	target = cur_n;
	atomic_store(&armed, true);
}

bool oom_disarm(void)
{
	atomic_store(&armed, false);
	return atomic_load(&fired);
}

void oom_set_n(long n)
{
	cur_n = n;
}

long oom_n(void)
{
	return cur_n;
}

void oom_loop(const char *what, void (*body)(void *arg), void *arg)
{
	for (cur_n = 0; cur_n < 100000; cur_n++) {
		arm_called = false;
		body(arg);
		ck_assert_msg(arm_called, "%s: the body never armed the injector", what);
		if (!atomic_load(&fired)) {
			ck_assert_msg(cur_n > 0, "%s: the call made no allocation", what);
			return;
		}
	}
	ck_abort_msg("%s: still failing after 100000 allocations", what);
}
