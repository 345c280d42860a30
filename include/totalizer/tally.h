/*
 * tally.h — a counting table: Redis key -> delta, with the key's TTL and
 * field positions, for the totalizer.
 *
 * Open addressing with linear probing; keys live in an arena owned by the
 * table.  One table belongs to one thread at a time (no locks inside): each
 * receive thread counts into its own, the flusher merges them.  tally_clear()
 * keeps the memory so a table can be reused without allocating on the hot
 * path; tally_trim() gives it back after a spike.  Ownership: tally_new()
 * returns a table the caller frees with tally_free().
 */
#ifndef AGG_TALLY_H
#define AGG_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct tally_entry {		/* 40 bytes */
	uint64_t hash;
	uint64_t key_off;	/* bytes into the arena (64 bits: an arena may pass 4 GiB) */
	int64_t delta;		/* count to add */
	int32_t ttl;		/* seconds */
	uint16_t key_len;	/* bytes */
	uint8_t used;		/* 1 when the slot holds a key */
	struct key_fields f;	/* where prefix/matched/source sit in the key */
};

struct tally {
	struct tally_entry *slots;
	size_t cap;		/* slots, a power of two */
	size_t count;		/* keys held */
	char *arena;		/* key bytes */
	size_t arena_len, arena_cap;
	uint64_t total;		/* sum of deltas held */
	size_t min_cap;		/* slots at creation: tally_trim() never goes below */
};

struct tally *tally_new(size_t initial_keys);
void tally_free(struct tally *t);
void tally_clear(struct tally *t);

/* Add delta to key (inserting it); 0, or -1 when memory ran out. */
int tally_add(struct tally *t, const char *key, size_t len, int64_t delta, int32_t ttl,
	      const struct key_fields *f);

/*
 * Add delta to key at intake, where a process-wide limit on keys decides:
 * a key already held is always bumped (TALLY_BUMPED); a new key is inserted
 * (TALLY_INSERTED) only when may_insert, else nothing changes
 * (TALLY_REFUSED).  -1 when memory ran out.
 */
enum { TALLY_BUMPED = 0, TALLY_INSERTED = 1, TALLY_REFUSED = 2 };
int tally_admit(struct tally *t, const char *key, size_t len, int64_t delta, int32_t ttl,
		const struct key_fields *f, bool may_insert);

/* tally_admit() of a key whose tally_hash() is h, computed by the caller. */
int tally_admit_hashed(struct tally *t, const char *key, size_t len, uint64_t h, int64_t delta,
		       int32_t ttl, const struct key_fields *f, bool may_insert);

/*
 * Hints for a batch of adds (a receive thread builds a datagram's keys
 * first, then adds them): tally_prefetch() starts loading the slot where the
 * key of hash h is looked for first; tally_prefetch_key(), once that slot has
 * had time to arrive, starts loading the key bytes it holds if its hash is h.
 * Neither changes the table; they only let the misses of many keys overlap
 * instead of each add waiting for its own.
 */
static inline void tally_prefetch(const struct tally *t, uint64_t h)
{
	const char *e = (const char *)&t->slots[h & (t->cap - 1)];
	__builtin_prefetch(e);
	__builtin_prefetch(e + sizeof(struct tally_entry) - 1);
}

static inline void tally_prefetch_key(const struct tally *t, uint64_t h)
{
	const struct tally_entry *e = &t->slots[h & (t->cap - 1)];
	if (e->used && e->hash == h) {
		__builtin_prefetch(t->arena + e->key_off);
		__builtin_prefetch(t->arena + e->key_off + e->key_len - 1);
	}
}

/*
 * Give memory back after a spike.  t must be empty (just cleared); used is
 * how many keys it held before.  When the slots are 8 or more times what
 * twice `used` needs (and above the size at creation), slots and arena are
 * reallocated at that size.  A table that fits its own load is left alone,
 * so a steady load never shrinks and regrows.  True when it shrank (the
 * caller may then hand the memory back to the system with malloc_trim);
 * false when left alone or when the smaller allocation failed (the table is
 * then unchanged and still usable).
 */
bool tally_trim(struct tally *t, size_t used);

/*
 * Merge src into dst.  A key new to dst is inserted only while dst holds
 * fewer than max_keys keys; otherwise it is dropped and counted in
 * *dropped_keys and *dropped_counts.  Returns 0, or -1 when memory ran out
 * (what was not merged is counted as dropped).
 */
int tally_merge(struct tally *dst, const struct tally *src, size_t max_keys,
		uint64_t *dropped_keys, uint64_t *dropped_counts);

static inline const char *tally_key(const struct tally *t, const struct tally_entry *e)
{
	return t->arena + e->key_off;
}

uint64_t tally_hash(const char *p, size_t n);

#endif
