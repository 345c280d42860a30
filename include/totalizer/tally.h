/*
 * tally.h — a counting table: Redis key -> delta, with the key's TTL and
 * field positions, for the totalizer.
 *
 * Open addressing with linear probing; keys live in an arena owned by the
 * table.  One table belongs to one thread at a time (no locks inside): each
 * receive thread counts into its own, the flusher merges them.  tally_clear()
 * keeps the memory so a table can be reused without allocating on the hot
 * path.  Ownership: tally_new() returns a table the caller frees with
 * tally_free().
 */
#ifndef AGG_TALLY_H
#define AGG_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct tally_entry {
	uint64_t hash;
	uint32_t key_off;	/* into the arena */
	uint16_t key_len;
	uint16_t used;		/* 1 when the slot holds a key */
	int32_t ttl;		/* seconds */
	int64_t delta;		/* count to add */
	struct key_fields f;	/* where prefix/matched/source sit in the key */
};

struct tally {
	struct tally_entry *slots;
	size_t cap;		/* slots, a power of two */
	size_t count;		/* keys held */
	char *arena;		/* key bytes */
	size_t arena_len, arena_cap;
	uint64_t total;		/* sum of deltas held */
};

struct tally *tally_new(size_t initial_keys);
void tally_free(struct tally *t);
void tally_clear(struct tally *t);

/* Add delta to key (inserting it); 0, or -1 when memory ran out. */
int tally_add(struct tally *t, const char *key, size_t len, int64_t delta, int32_t ttl,
	      const struct key_fields *f);

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
