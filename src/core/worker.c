/*
 * worker.c — the one background-thread primitive; see worker.h.
 *
 * DESIGN.  The thread runs a trampoline that records the worker in a
 * thread-local (worker_self) and, when fn returns, sets `done` under the
 * worker's mutex and broadcasts its condition variable; worker_join() waits
 * for `done` on that variable with a CLOCK_MONOTONIC deadline, and only then
 * calls pthread_join() (which returns at once).  So a join can give up on a
 * thread stuck in a blocking call: the thread is abandoned, its memory kept.
 * A wake-up is a flag under the mutex, so one sent while the thread is busy
 * is seen by its next sleep (no lost wake-ups).  The stop request is also
 * an eventfd a blocking call can poll, and it reaches the children a
 * worker's thread started.
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "thread.h"

#define FOREVER UINT64_MAX

static _Thread_local struct worker *self;
static uint64_t deadline_cap_ms;	/* AGGREGATORD_TEST_DEADLINE_CAP_MS; 0 = none */
static pthread_once_t knobs_once = PTHREAD_ONCE_INIT;

static void read_knobs(void)
{
	const char *v = getenv("AGGREGATORD_TEST_DEADLINE_CAP_MS");
	if (v && *v)
		deadline_cap_ms = strtoull(v, NULL, 10);
}

int worker_init(struct worker *w)
{
	*w = (struct worker){ .health = -1 };
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		if (w->stop_fd >= 0)
			close(w->stop_fd);
		w->stop_fd = -1;
		return -1;
	}
	if (cond_init_mono(&w->cv) < 0) {
		pthread_mutex_destroy(&w->mu);
		if (w->stop_fd >= 0)
			close(w->stop_fd);
		w->stop_fd = -1;
		return -1;
	}
	w->ready = true;
	return 0;
}

void worker_destroy(struct worker *w)
{
	if (!w->ready)
		return;
	w->ready = false;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->stop_fd = -1;
}

static void *trampoline(void *arg)
{
	struct worker *w = arg;
	self = w;
	void *ret = w->fn(w->arg);
	health_busy(w->health, 0);
	self = NULL;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);	/* the owner may free w from here on */
	return ret;
}

static void signal_stop_fd(struct worker *w)
{
	if (w->stop_fd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(w->stop_fd, &one, sizeof(one));
		(void)n;	/* a full counter is readable anyway */
	}
}

/* Take w out of its parent's list of children (it has stopped, or never ran). */
static void detach_from_parent(struct worker *w)
{
	if (!w->parent)
		return;
	pthread_mutex_lock(&w->parent->mu);
	for (struct worker **p = &w->parent->child; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&w->parent->mu);
	w->parent = NULL;
}

int worker_start(struct worker *w, const char *name, void *(*fn)(void *), void *arg)
{
	pthread_once(&knobs_once, read_knobs);
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->fn = fn;
	w->arg = arg;
	w->stop = false;
	w->woken = false;
	w->done = false;
	w->abandoned = false;
	w->child = w->next = NULL;
	if (w->stop_fd >= 0) {
		uint64_t v;
		while (read(w->stop_fd, &v, sizeof(v)) > 0)
			;	/* a restart after a stop: not stopping any more */
	}
	w->parent = self;
	if (w->parent) {
		pthread_mutex_lock(&w->parent->mu);
		w->next = w->parent->child;
		w->parent->child = w;
		if (w->parent->stop) {
			w->stop = true;
			signal_stop_fd(w);
		}
		pthread_mutex_unlock(&w->parent->mu);
	}
	w->health = health_register(name);
	if (thread_spawn(&w->thread, name, trampoline, w) < 0) {
		health_unregister(w->health);
		w->health = -1;
		detach_from_parent(w);
		return -1;
	}
	w->started = true;
	return 0;
}

void worker_stop_request(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	if (!w->stop) {
		w->stop = true;
		signal_stop_fd(w);
	}
	pthread_cond_broadcast(&w->cv);
	for (struct worker *c = w->child; c; c = c->next)
		worker_stop_request(c);	/* lock order: parent, then child */
	pthread_mutex_unlock(&w->mu);
}

int worker_join(struct worker *w, uint64_t deadline_us)
{
	if (!w->started)
		return 0;
	/* A worker waiting for its children is not stuck: they are watched. */
	uint64_t tok = worker_call_begin(FOREVER);
	pthread_mutex_lock(&w->mu);
	while (!w->done) {
		if (!deadline_us) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (mono_usec() >= deadline_us)
			break;
		struct timespec ts = mono_abstime(deadline_us);
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	bool done = w->done;
	pthread_mutex_unlock(&w->mu);
	worker_call_end(tok);
	if (!done) {
		w->abandoned = true;
		return -1;
	}
	pthread_join(w->thread, NULL);
	w->started = false;
	health_unregister(w->health);
	w->health = -1;
	detach_from_parent(w);
	return 0;
}

void worker_stop(struct worker *w)
{
	if (!w->started)
		return;
	worker_stop_request(w);
	worker_join(w, 0);
}

void worker_wake(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->woken = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool worker_sleep_ms(struct worker *w, uint64_t ms)
{
	uint64_t end = mono_usec() + ms * 1000u;
	health_beat(w->health);
	pthread_mutex_lock(&w->mu);
	while (!w->stop && !w->woken) {
		uint64_t now = mono_usec();
		if (now >= end)
			break;
		uint64_t step = now + (uint64_t)WORKER_BEAT_MS * 1000u;
		struct timespec ts = mono_abstime(step < end ? step : end);
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		health_beat(w->health);
	}
	bool go_on = !w->stop;
	w->woken = false;
	pthread_mutex_unlock(&w->mu);
	return go_on;
}

bool worker_stopping(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	bool s = w->stop;
	pthread_mutex_unlock(&w->mu);
	return s;
}

void worker_beat(struct worker *w)
{
	health_beat(w->health);
	if (self && self != w)
		health_beat(self->health);
}

struct worker *worker_self(void)
{
	return self;
}

uint64_t worker_call_begin(uint64_t timeout_ms)
{
	if (!self || self->health < 0)
		return 0;
	uint64_t prev = health_busy_until(self->health);
	uint64_t until = FOREVER;
	if (timeout_ms != FOREVER) {
		if (deadline_cap_ms && timeout_ms > deadline_cap_ms)
			timeout_ms = deadline_cap_ms;
		until = mono_usec() + timeout_ms * 1000u;
	}
	health_busy(self->health, until);
	return prev;
}

void worker_call_end(uint64_t token)
{
	if (self && self->health >= 0)
		health_busy(self->health, token);
}

int worker_stop_fd(void)
{
	return self ? self->stop_fd : -1;
}
