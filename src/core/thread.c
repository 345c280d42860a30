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
	_Atomic uint64_t busy;	/* mono_usec() deadline of the call it is in, 0 = none */
	char name[32];
} slots[HEALTH_SLOTS];

int health_register(const char *name)
{
	for (int i = 0; i < HEALTH_SLOTS; i++) {
		bool expect = false;
		if (atomic_compare_exchange_strong(&slots[i].used, &expect, true)) {
			snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
			atomic_store(&slots[i].beat, mono_usec());
			atomic_store(&slots[i].busy, 0);
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

void health_busy(int slot, uint64_t until_us)
{
	if (slot >= 0 && slot < HEALTH_SLOTS) {
		atomic_store_explicit(&slots[slot].beat, mono_usec(), memory_order_relaxed);
		atomic_store_explicit(&slots[slot].busy, until_us, memory_order_relaxed);
	}
}

uint64_t health_busy_until(int slot)
{
	if (slot < 0 || slot >= HEALTH_SLOTS)
		return 0;
	return atomic_load_explicit(&slots[slot].busy, memory_order_relaxed);
}

bool health_check(uint64_t max_age_us, uint64_t margin_us, struct health_stale *why)
{
	uint64_t now = mono_usec();
	for (int i = 0; i < HEALTH_SLOTS; i++) {
		if (!atomic_load(&slots[i].used))
			continue;
		uint64_t b = atomic_load_explicit(&slots[i].beat, memory_order_relaxed);
		uint64_t busy = atomic_load_explicit(&slots[i].busy, memory_order_relaxed);
		bool overran = busy && now > busy && now - busy > margin_us;
		bool stale = !busy && now > b && now - b > max_age_us;
		if (!overran && !stale)
			continue;
		if (why) {
			snprintf(why->name, sizeof(why->name), "%s", slots[i].name);
			why->overran = overran;
			why->late_us = overran ? now - busy : now - b;
		}
		return false;
	}
	return true;
}

int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	return rc ? 0 : -1;
}

struct timespec mono_abstime(uint64_t at_us)
{
	return (struct timespec){ .tv_sec = (time_t)(at_us / 1000000u),
				  .tv_nsec = (long)(at_us % 1000000u) * 1000L };
}
