/*
 * thread.c — thread start-up with signals blocked, and the liveness slots
 * the watchdog reads.  See thread.h.
 *
 * The slots are a fixed array of atomics: a worker writes only its own slot,
 * the main loop only reads, so no lock is needed.
 */
#include "thread.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void signals_block_all(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

int thread_spawn(pthread_t *t, const char *name, void *(*fn)(void *), void *arg)
{
	sigset_t old;
	signals_block_all(&old);
	int rc = pthread_create(t, NULL, fn, arg);
	signals_restore(&old);
	if (rc != 0)
		return -1;
	char shortname[16];
	snprintf(shortname, sizeof(shortname), "%s", name);
	pthread_setname_np(*t, shortname);
	return 0;
}

static struct {
	_Atomic bool used;
	_Atomic uint64_t beat;	/* mono_usec() of the last beat */
	char name[32];
} slots[HEALTH_SLOTS];

int health_register(const char *name)
{
	for (int i = 0; i < HEALTH_SLOTS; i++) {
		bool expect = false;
		if (atomic_compare_exchange_strong(&slots[i].used, &expect, true)) {
			snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
			atomic_store(&slots[i].beat, mono_usec());
			return i;
		}
	}
	return -1;
}

void health_unregister(int slot)
{
	if (slot >= 0 && slot < HEALTH_SLOTS)
		atomic_store(&slots[slot].used, false);
}

void health_beat(int slot)
{
	if (slot >= 0 && slot < HEALTH_SLOTS)
		atomic_store_explicit(&slots[slot].beat, mono_usec(), memory_order_relaxed);
}

bool health_all_fresh(uint64_t max_age_us, const char **stale)
{
	uint64_t now = mono_usec();
	for (int i = 0; i < HEALTH_SLOTS; i++) {
		if (!atomic_load(&slots[i].used))
			continue;
		uint64_t b = atomic_load_explicit(&slots[i].beat, memory_order_relaxed);
		if (now > b && now - b > max_age_us) {
			if (stale)
				*stale = slots[i].name;
			return false;
		}
	}
	return true;
}
