/*
 * worker.h — the one way to run a background thread: start, sleep with
 * wake-up, beat, stop (in two phases), join; every wait on CLOCK_MONOTONIC.
 * Every long-lived thread of the daemon runs on it: the sweep and its
 * member threads, the rollup, the election, the publish thread, the
 * totalizer's flusher and the offload workers (the totals queries).
 *
 * Life cycle (the owner's thread, normally the main thread):
 *   worker_init -> worker_start -> [worker_wake]* -> worker_stop_request
 *     -> worker_join(deadline) -> worker_destroy
 * worker_stop() is request + join without a bound.  worker_join() returns
 * -1 when the thread is still running at the deadline: it is *abandoned*
 * (left running, e.g. inside a call to a frozen server) and its worker and
 * everything the thread uses must not be freed; the process exits soon
 * after (two-phase shut-down, docs/operations.md).
 *
 * The thread itself: worker_sleep_ms() between rounds (returns false once
 * stop was requested; true on time-out or worker_wake), worker_beat() as it
 * makes progress, worker_stopping() at its own cut points.  A worker
 * started from another worker's thread is its child: a stop request to the
 * parent reaches it.
 *
 * Calls with a deadline (the watchdog's truth): before a blocking call the
 * thread says how long the call may take, and the liveness check counts it
 * alive until then plus a margin, beat or no beat:
 *
 *	uint64_t t = worker_call_begin(timeout_ms);
 *	rc = the_blocking_call(...);	   // honours timeout_ms as a whole
 *	worker_call_end(t);
 *
 * These act on the calling thread's own worker (none: they do nothing), so
 * a library call deep in a job (httpc, influx, redisc, sweep_db) can
 * declare its deadline without a worker pointer; they nest.
 *
 * Cancellation: the stop request is the one way to end a blocking call
 * early.  A call that can poll watches its thread's worker_stop_fd()
 * (readable once stop was requested for that worker or one above it) next
 * to its socket: the rollup's InfluxDB query and location fetches (its
 * worker's stop_fd as their cancel descriptor), the sweep's MariaDB waits
 * (sweep_db.c, on the member threads, children of the sweep's worker).
 */
#ifndef AGG_WORKER_H
#define AGG_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Embedded in its owner's struct; the fields are the worker's own. */
struct worker {
	bool ready;		/* worker_init succeeded (zeroed memory: false) */
	pthread_t thread;
	bool started;		/* owner: between start and a completed join */
	bool abandoned;		/* owner: a join gave up on it */
	int health;		/* liveness slot, -1 when none */
	int stop_fd;		/* eventfd, readable once stop is requested; -1 = none */
	char name[16];
	void *(*fn)(void *);
	void *arg;
	struct worker *parent;	/* the worker whose thread started this one, or NULL */
	pthread_mutex_t mu;	/* guards the fields below */
	pthread_cond_t cv;	/* CLOCK_MONOTONIC */
	bool stop;		/* stop requested */
	bool woken;		/* a wake not yet seen by worker_sleep_ms */
	bool done;		/* fn returned */
	struct worker *child;	/* first child running (a list through next) */
	struct worker *next;
};

#define WORKER_BEAT_MS 1000	/* ms between beats while a worker sleeps */

int worker_init(struct worker *w);		/* 0 or -1 */
/* Not while started (or abandoned); a zeroed, never initialised worker is fine. */
void worker_destroy(struct worker *w);
/* Spawn the thread (signals blocked, named, a liveness slot).  0 or -1. */
int worker_start(struct worker *w, const char *name, void *(*fn)(void *), void *arg);
/* Phase 1: ask the thread (and its children) to stop; returns at once.  Any thread. */
void worker_stop_request(struct worker *w);
/* Phase 2: wait until the thread ended or deadline_us (mono_usec(); 0 = no
 * bound) passed.  0 when joined; -1 when abandoned (logged by the caller). */
int worker_join(struct worker *w, uint64_t deadline_us);
/* Request and join, unbounded (reloads, --once). */
void worker_stop(struct worker *w);
/* Make the thread's current or next worker_sleep_ms() return at once.  Any thread. */
void worker_wake(struct worker *w);

/* On the worker's thread (or a helper it waits for): */
/* Sleep up to ms, beating; false once stop was requested, else true (time
 * up or woken). */
bool worker_sleep_ms(struct worker *w, uint64_t ms);
/* Was stop requested for w or a worker above it? */
bool worker_stopping(struct worker *w);
/* Progress: beats w's slot, and the calling thread's own worker's if that is another. */
void worker_beat(struct worker *w);

/* The calling thread's own worker, or NULL. */
struct worker *worker_self(void);
/* Enter a blocking call that ends within timeout_ms; returns what
 * worker_call_end() restores.  No worker: does nothing. */
uint64_t worker_call_begin(uint64_t timeout_ms);
void worker_call_end(uint64_t token);
/* The calling thread's stop eventfd (poll it for POLLIN), or -1. */
int worker_stop_fd(void);

/* Test knob (docs/operations.md): AGGREGATORD_TEST_DEADLINE_CAP_MS, when
 * set, caps every declared call deadline, to exercise the liveness check
 * with a call that overruns it.  Read once by worker_start. */

#endif
