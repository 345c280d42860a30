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
#include "thread.h"

struct offload_task {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct offload_task *next;
};

struct offload {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct offload_task *todo, **todo_tail;	/* guarded by mu */
	struct offload_task *finished, **fin_tail;	/* guarded by mu */
	bool stopping;			/* guarded by mu */
	struct event *ev;		/* fires done() on the loop */
	char name[16];
	int health;
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

static void *worker(void *arg)
{
	struct offload *o = arg;
	log_set_thread_tag(o->name);
	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->todo && !o->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_mutex_unlock(&o->mu);
			health_beat(o->health);
			pthread_mutex_lock(&o->mu);
			if (!o->todo && !o->stopping)
				pthread_cond_timedwait(&o->cv, &o->mu, &ts);
		}
		struct offload_task *j = o->todo;
		if (!j)
			break;	/* stopping and nothing left */
		o->todo = j->next;
		if (!o->todo)
			o->todo_tail = &o->todo;
		pthread_mutex_unlock(&o->mu);
		j->work(j->arg);
		health_beat(o->health);
		pthread_mutex_lock(&o->mu);
		j->next = NULL;
		*o->fin_tail = j;
		o->fin_tail = &j->next;
		event_active(o->ev, 0, 0);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

struct offload *offload_new(struct event_base *base, const char *name)
{
	struct offload *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	snprintf(o->name, sizeof(o->name), "%s", name);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	o->todo_tail = &o->todo;
	o->fin_tail = &o->finished;
	o->ev = event_new(base, -1, 0, on_done, o);
	o->health = health_register(name);
	if (!o->ev || thread_spawn(&o->thread, name, worker, o) < 0) {
		if (o->ev)
			event_free(o->ev);
		health_unregister(o->health);
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
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

void offload_free(struct offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->stopping = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->thread, NULL);
	run_done(o);
	event_free(o->ev);
	health_unregister(o->health);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o);
}
