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
 * loop sends WATCHDOG=1 only while every registered slot beat recently.
 */
#ifndef AGG_THREAD_H
#define AGG_THREAD_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

int thread_spawn(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);
void signals_block_all(sigset_t *old);
void signals_restore(const sigset_t *old);

#define HEALTH_SLOTS 64

/* Register a worker; returns a slot >= 0, or -1 when all are taken. */
int health_register(const char *name);
void health_unregister(int slot);
void health_beat(int slot);			/* any thread; lock-free */
/* True when every registered slot beat within max_age_us; else names one. */
bool health_all_fresh(uint64_t max_age_us, const char **stale);

uint64_t mono_usec(void);			/* CLOCK_MONOTONIC in µs */

#endif
