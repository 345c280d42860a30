/*
 * worker.c — a job's background thread; see worker.h.
 */
#include "worker.h"

#include <time.h>

#include "thread.h"

#define BEAT_S 5	/* s between liveness beats while sleeping */

void worker_init(struct worker *w)
{
	w->started = false;
	w->health = -1;
	w->stop = false;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

void worker_destroy(struct worker *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

int worker_start(struct worker *w, const char *name, void *(*fn)(void *), void *arg)
{
	w->stop = false;
	w->health = health_register(name);
	if (thread_spawn(&w->thread, name, fn, arg) < 0) {
		health_unregister(w->health);
		w->health = -1;
		return -1;
	}
	w->started = true;
	return 0;
}

void worker_stop(struct worker *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->started = false;
	health_unregister(w->health);
	w->health = -1;
}

void worker_beat(struct worker *w)
{
	health_beat(w->health);
}

bool worker_sleep(struct worker *w, int seconds)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += seconds;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec now, step;
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		step = now;
		step.tv_sec += BEAT_S;
		if (step.tv_sec > end.tv_sec || (step.tv_sec == end.tv_sec && step.tv_nsec > end.tv_nsec))
			step = end;
		pthread_cond_timedwait(&w->cv, &w->mu, &step);
		health_beat(w->health);
	}
	bool go_on = !w->stop;
	pthread_mutex_unlock(&w->mu);
	return go_on;
}
