/*
 * offload.c — one worker thread with a FIFO mailbox, finishing on the loop
 * through event_active() (thread-safe once evthread_use_pthreads() ran).
 * See offload.h.
 */
#include "offload.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "worker.h"

struct offload_task {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct offload_task *next;
};

struct offload {
	struct worker w;		/* the worker thread (worker.h) */
	pthread_mutex_t mu;
	struct offload_task *todo, **todo_tail;	/* guarded by mu */
	struct offload_task *finished, **fin_tail;	/* guarded by mu */
	struct event *ev;		/* fires done() on the loop */
	char name[16];
};

static void run_done(struct offload *o)
{
	pthread_mutex_lock(&o->mu);
	struct offload_task *j = o->finished;
	o->finished = NULL;
	o->fin_tail = &o->finished;
	pthread_mutex_unlock(&o->mu);
	while (j) {
		struct offload_task *next = j->next;
		j->done(j->arg);
		free(j);
		j = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_done(arg);
}

/* The worker: tasks in order; once stop is requested, what is queued still
 * runs, then the thread ends. */
static void *worker_main(void *arg)
{
	struct offload *o = arg;
	log_set_thread_tag(o->name);
	bool go_on = true;
	for (;;) {
		pthread_mutex_lock(&o->mu);
		struct offload_task *j = o->todo;
		if (j) {
			o->todo = j->next;
			if (!o->todo)
				o->todo_tail = &o->todo;
		}
		pthread_mutex_unlock(&o->mu);
		if (!j) {
			if (!go_on)
				break;	/* stopping and nothing left */
			go_on = worker_sleep_ms(&o->w, WORKER_BEAT_MS);
			continue;
		}
		j->work(j->arg);
		worker_beat(&o->w);
		pthread_mutex_lock(&o->mu);
		j->next = NULL;
		*o->fin_tail = j;
		o->fin_tail = &j->next;
		event_active(o->ev, 0, 0);
		pthread_mutex_unlock(&o->mu);
	}
	return NULL;
}

struct offload *offload_new(struct event_base *base, const char *name)
{
	struct offload *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	snprintf(o->name, sizeof(o->name), "%s", name);
	if (worker_init(&o->w) < 0) {
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->mu, NULL);
	o->todo_tail = &o->todo;
	o->fin_tail = &o->finished;
	o->ev = event_new(base, -1, 0, on_done, o);
	if (!o->ev || worker_start(&o->w, name, worker_main, o) < 0) {
		if (o->ev)
			event_free(o->ev);
		pthread_mutex_destroy(&o->mu);
		worker_destroy(&o->w);
		free(o);
		return NULL;
	}
	return o;
}

int offload_submit(struct offload *o, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct offload_task *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&o->mu);
	*o->todo_tail = j;
	o->todo_tail = &j->next;
	pthread_mutex_unlock(&o->mu);
	worker_wake(&o->w);
	return 0;
}

void offload_stop_request(struct offload *o)
{
	if (o)
		worker_stop_request(&o->w);
}

int offload_free(struct offload *o, uint64_t deadline_us)
{
	if (!o)
		return 0;
	worker_stop_request(&o->w);
	if (worker_join(&o->w, deadline_us) < 0)
		return -1;	/* left running: nothing freed */
	run_done(o);
	event_free(o->ev);
	worker_destroy(&o->w);
	pthread_mutex_destroy(&o->mu);
	free(o);
	return 0;
}
