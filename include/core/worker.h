/*
 * worker.h — a job's background thread with a stop flag and a wake-up:
 * the life cycle shared by the sweep and rollup threads.
 *
 * worker_start() spawns the thread (signals blocked, named, a liveness slot
 * registered); the thread runs its work, then worker_sleep() between
 * rounds, which beats the liveness slot every few seconds and returns false
 * once worker_stop() was called.  worker_stop() sets the flag, wakes the
 * thread and joins it.  Main thread: init, start, stop, destroy; the worker
 * thread: sleep, beat.
 */
#ifndef AGG_WORKER_H
#define AGG_WORKER_H

#include <pthread.h>
#include <stdbool.h>

struct worker {
	pthread_t thread;
	bool started;
	int health;		/* liveness slot, -1 when none */
	pthread_mutex_t mu;	/* guards stop */
	pthread_cond_t cv;
	bool stop;
};

void worker_init(struct worker *w);
void worker_destroy(struct worker *w);
int worker_start(struct worker *w, const char *name, void *(*fn)(void *), void *arg);
void worker_stop(struct worker *w);
/* Sleep up to seconds; false as soon as the worker is asked to stop. */
bool worker_sleep(struct worker *w, int seconds);
void worker_beat(struct worker *w);

#endif
