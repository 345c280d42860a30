/*
 * thread.h — starting worker threads, and the liveness registry behind the
 * systemd watchdog.
 *
 * Signals belong to the main thread's event loop: thread_spawn() starts a
 * thread with every signal blocked (so it inherits a full mask and so do
 * threads it starts), names it for ps/top, and leaves the caller's mask as it
 * was.  Libraries that start threads of their own (librdkafka) are called
 * between signals_block_all() and signals_restore() for the same reason.
 *
 * Liveness: a worker registers a slot and beats it from its loop; the main
 * loop sends WATCHDOG=1 only while every registered slot is alive.  A slot
 * is alive while it beat within the watchdog's age, or, while its thread
 * declared itself inside a blocking call with a deadline (health_busy), until
 * that deadline plus a margin: a thread waiting inside its own configured
 * timeout is alive, one stuck past it is not, whatever it beat before.
 * Workers reach this through worker.h (worker_call_begin), not directly.
 *
 * Time: every timed wait in the daemon is on CLOCK_MONOTONIC, so a step of
 * the wall clock never stretches or freezes a sleep: condition variables
 * are made with cond_init_mono() and their deadlines with mono_abstime().
 */
#ifndef AGG_THREAD_H
#define AGG_THREAD_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

int thread_spawn(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
void signals_block_all(sigset_t *old);
void signals_restore(const sigset_t *old);

#define HEALTH_SLOTS 256	/* room for 64 rx threads, 64 sweep members and the rest */

/* Register a worker; returns a slot >= 0, or -1 when all are taken. */
int health_register(const char *name);
void health_unregister(int slot);
void health_beat(int slot);			/* any thread; lock-free */
/* The slot's thread is inside a blocking call until until_us (mono_usec());
 * 0: it is not (back to beats).  Any thread; lock-free. */
void health_busy(int slot, uint64_t until_us);
uint64_t health_busy_until(int slot);		/* 0 when none or no slot */

/* Why a slot is not alive (health_check). */
struct health_stale {
	char name[32];
	bool overran;		/* past the deadline of a call (+ margin); else no beat */
	uint64_t late_us;	/* µs past the deadline, or since the last beat */
};
/* True when every registered slot is alive: beat within max_age_us, or
 * inside a call whose deadline plus margin_us has not passed.  Else false
 * with the first dead one described in *why (may be NULL). */
bool health_check(uint64_t max_age_us, uint64_t margin_us, struct health_stale *why);

uint64_t mono_usec(void);			/* CLOCK_MONOTONIC in µs */
/* A condition variable whose timed waits run on CLOCK_MONOTONIC.  0 or -1. */
int cond_init_mono(pthread_cond_t *cv);
/* The absolute CLOCK_MONOTONIC timespec of mono_usec() value at_us, for
 * pthread_cond_timedwait() on a cond_init_mono() variable. */
struct timespec mono_abstime(uint64_t at_us);

#endif
