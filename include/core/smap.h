/*
 * smap.h — the one small string-keyed hash map (pure): keys are byte
 * strings of a given length (NULs allowed), copied in; values are size_t
 * (an index into the owner's array, usually).  Open addressing with linear
 * probing, power-of-two capacity, load at most 7/10.  The hash (FNV-1a and
 * a final mix) is seeded, so keys from outside (Redis, InfluxDB) cannot
 * be chosen to collide without knowing the seed.
 *
 * A zeroed struct smap is an empty map with seed 0; smap_init() seeds it.
 * Ownership: the map owns its key copies; smap_release() frees them.  No
 * locking: one owner thread.
 */
#ifndef AGG_SMAP_H
#define AGG_SMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smap_slot {
	char *key;		/* owned copy (NUL-terminated past len), NULL when the slot is free */
	size_t len;		/* bytes of key */
	uint64_t hash;		/* of key, kept for growing */
	size_t val;
};

struct smap {
	struct smap_slot *slot;	/* cap slots */
	size_t cap;		/* 0 or a power of two */
	size_t n;		/* slots in use */
	uint64_t seed;
};

/* An empty map with this hash seed (e.g. from the clock and an address). */
void smap_init(struct smap *m, uint64_t seed);
/* The value of key k[0..n), or false when absent. */
bool smap_get(const struct smap *m, const char *k, size_t n, size_t *val);
/* Add k with val unless present: 0 added, 1 already there (value kept), -1 out of memory. */
int smap_add(struct smap *m, const char *k, size_t n, size_t val);
/* Free the key copies and the table; the map is empty (seed kept). */
void smap_release(struct smap *m);

#endif
