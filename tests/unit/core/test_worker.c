/*
 * test_worker.c — the background-thread primitive (worker.c) and the
 * liveness slots it feeds (thread.c): a wake-up ends a sleep, a stop
 * request ends it and reaches a child and its stop fd, a join gives up on
 * a thread stuck in a call (abandoned, joinable later), and a thread inside
 * a declared call is alive until the deadline plus the margin, then not.
 * Times are bounds with wide margins (check runs each test in its own
 * process; the machine may be loaded).
 */
#include <poll.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "thread.h"
#include "worker.h"

static void wait_for(_Atomic int *v, int want)
{
	uint64_t until = mono_usec() + 10000000u;
	while (atomic_load(v) < want && mono_usec() < until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	ck_assert_int_ge(atomic_load(v), want);
}

struct sleeper {
	struct worker w;
	_Atomic int rounds;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	while (worker_sleep_ms(&s->w, 600000))
		atomic_fetch_add(&s->rounds, 1);
	return NULL;
}

START_TEST(wake_then_stop)
{
	struct sleeper s = { .rounds = 0 };
	ck_assert_int_eq(worker_init(&s.w), 0);
	ck_assert_int_eq(worker_start(&s.w, "t-sleep", sleeper_main, &s), 0);
	worker_wake(&s.w);
	wait_for(&s.rounds, 1);		/* a 10-minute sleep ended by the wake */
	worker_stop_request(&s.w);
	uint64_t t0 = mono_usec();
	ck_assert_int_eq(worker_join(&s.w, t0 + 5000000u), 0);
	ck_assert(mono_usec() - t0 < 5000000u);
	ck_assert(!s.w.started && !s.w.abandoned);
	worker_destroy(&s.w);
}
END_TEST

struct stuck {
	struct worker w;
	int fds[2];
	_Atomic int in_call;
	ssize_t n;	/* what the read returned, and the byte it read */
	char got;
};

/* A call that ignores stop (a read on a pipe nobody writes yet). */
static void *stuck_main(void *arg)
{
	struct stuck *s = arg;
	uint64_t t = worker_call_begin(2000);
	atomic_store(&s->in_call, 1);
	s->n = read(s->fds[0], &s->got, 1);
	worker_call_end(t);
	return NULL;
}

START_TEST(join_abandons_a_stuck_thread)
{
	struct stuck s = { .in_call = 0 };
	ck_assert_int_eq(pipe(s.fds), 0);
	ck_assert_int_eq(worker_init(&s.w), 0);
	ck_assert_int_eq(worker_start(&s.w, "t-stuck", stuck_main, &s), 0);
	wait_for(&s.in_call, 1);
	worker_stop_request(&s.w);
	ck_assert_int_eq(worker_join(&s.w, mono_usec() + 200000u), -1);
	ck_assert(s.w.abandoned && s.w.started);
	ck_assert_int_eq(write(s.fds[1], "x", 1), 1);	/* the call returns */
	ck_assert_int_eq(worker_join(&s.w, 0), 0);	/* and it can be joined */
	ck_assert(!s.w.started);
	/* it was the test's byte that ended the call (not stop, not an error) */
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.got, 'x');
	worker_destroy(&s.w);
	close(s.fds[0]);
	close(s.fds[1]);
}
END_TEST

START_TEST(alive_inside_the_call_deadline_only)
{
	struct stuck s = { .in_call = 0 };
	struct health_stale why;
	ck_assert_int_eq(pipe(s.fds), 0);
	ck_assert_int_eq(worker_init(&s.w), 0);
	uint64_t t0 = mono_usec();
	ck_assert_int_eq(worker_start(&s.w, "t-call", stuck_main, &s), 0);
	wait_for(&s.in_call, 1);
	/* no beat for far longer than max_age (1 ms), but inside a 2 s call */
	struct timespec ts = { 0, 50000000 };
	nanosleep(&ts, NULL);
	if (mono_usec() - t0 < 2000000u)
		ck_assert(health_check(1000, 500000, &why));
	/* past 2 s + 0.5 s: stuck */
	uint64_t until = mono_usec() + 10000000u;
	while (health_check(1000, 500000, &why) && mono_usec() < until)
		nanosleep(&ts, NULL);
	ck_assert(!health_check(1000, 500000, &why));
	ck_assert(mono_usec() - t0 >= 2500000u);
	ck_assert_str_eq(why.name, "t-call");
	ck_assert(why.overran);
	ck_assert_int_eq(write(s.fds[1], "x", 1), 1);
	ck_assert_int_eq(worker_join(&s.w, 0), 0);
	ck_assert(s.n == 1 && s.got == 'x');	/* the call lasted until the test's byte */
	ck_assert(health_check(1000, 500000, NULL));	/* its slot is gone */
	worker_destroy(&s.w);
	close(s.fds[0]);
	close(s.fds[1]);
}
END_TEST

struct family {
	struct worker parent, child;
	_Atomic int child_saw_fd;
};

static void *child_main(void *arg)
{
	struct family *f = arg;
	struct pollfd p = { .fd = worker_stop_fd(), .events = POLLIN };
	if (p.fd >= 0 && poll(&p, 1, 10000) == 1)
		atomic_store(&f->child_saw_fd, 1);
	while (worker_sleep_ms(&f->child, 600000))
		;
	return NULL;
}

static void *parent_main(void *arg)
{
	struct family *f = arg;
	if (worker_start(&f->child, "t-child", child_main, f) == 0)
		worker_join(&f->child, 0);
	return NULL;
}

START_TEST(stop_reaches_a_child_and_its_stop_fd)
{
	struct family f = { .child_saw_fd = 0 };
	ck_assert_int_eq(worker_init(&f.parent), 0);
	ck_assert_int_eq(worker_init(&f.child), 0);
	ck_assert_int_eq(worker_start(&f.parent, "t-parent", parent_main, &f), 0);
	/* whether the child is running yet or not, the request reaches it */
	worker_stop_request(&f.parent);
	ck_assert_int_eq(worker_join(&f.parent, mono_usec() + 5000000u), 0);
	ck_assert_int_eq(atomic_load(&f.child_saw_fd), 1);
	worker_destroy(&f.child);
	worker_destroy(&f.parent);
}
END_TEST

Suite *worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("worker");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, wake_then_stop);
	tcase_add_test(tc, join_abandons_a_stuck_thread);
	tcase_add_test(tc, alive_inside_the_call_deadline_only);
	tcase_add_test(tc, stop_reaches_a_child_and_its_stop_fd);
	suite_add_tcase(s, tc);
	return s;
}
