/*
 * tally.c — the counting hash table; see tally.h.
 *
 * The hash reads 8 bytes at a time and mixes with multiply-xorshift; the
 * table doubles when 3/4 full.  Deleting is never needed: a table is
 * emptied whole with tally_clear(), and shrunk by tally_trim() once a spike
 * has passed.
 */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

uint64_t tally_hash(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	uint64_t v = 0;
	memcpy(&v, p, n);
	h = (h ^ v) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

#define ARENA_PER_SLOT 48	/* bytes of key arena allocated per slot up front */

/* Slots for n keys below the 3/4 load limit: a power of two, at least 64. */
static size_t cap_for(size_t n)
{
	size_t cap = 64;
	while (cap < n * 4 / 3 + 1)
		cap *= 2;
	return cap;
}

struct tally *tally_new(size_t initial_keys)
{
	struct tally *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	size_t cap = cap_for(initial_keys);
	t->slots = calloc(cap, sizeof(*t->slots));
	t->arena_cap = cap * ARENA_PER_SLOT;
	t->arena = malloc(t->arena_cap);
	if (!t->slots || !t->arena) {
		tally_free(t);
		return NULL;
	}
	t->cap = cap;
	t->min_cap = cap;
	return t;
}

void tally_free(struct tally *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->arena);
	free(t);
}

void tally_clear(struct tally *t)
{
	if (t->count)
		memset(t->slots, 0, t->cap * sizeof(*t->slots));
	t->count = 0;
	t->arena_len = 0;
	t->total = 0;
}

static int grow(struct tally *t)
{
	size_t ncap = t->cap * 2;
	struct tally_entry *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		struct tally_entry *e = &t->slots[i];
		if (!e->used)
			continue;
		size_t j = e->hash & (ncap - 1);
		while (ns[j].used)
			j = (j + 1) & (ncap - 1);
		ns[j] = *e;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

/* Find key's slot: the entry holding it, or the empty one where it goes. */
static struct tally_entry *find(struct tally *t, const char *key, size_t len, uint64_t h)
{
	size_t i = h & (t->cap - 1);
	for (;;) {
		struct tally_entry *e = &t->slots[i];
		if (!e->used)
			return e;
		if (e->hash == h && e->key_len == len && memcmp(t->arena + e->key_off, key, len) == 0)
			return e;
		i = (i + 1) & (t->cap - 1);
	}
}

static int insert(struct tally *t, struct tally_entry *e, const char *key, size_t len, uint64_t h,
		  int64_t delta, int32_t ttl, const struct key_fields *f)
{
	if (t->arena_len + len > t->arena_cap) {
		size_t ncap = t->arena_cap * 2;
		while (ncap < t->arena_len + len)
			ncap *= 2;
		char *na = realloc(t->arena, ncap);
		if (!na)
			return -1;
		t->arena = na;
		t->arena_cap = ncap;
	}
	memcpy(t->arena + t->arena_len, key, len);
	e->hash = h;
	e->key_off = t->arena_len;
	e->key_len = (uint16_t)len;
	e->used = 1;
	e->ttl = ttl;
	e->delta = delta;
	e->f = *f;
	t->arena_len += len;
	t->count++;
	t->total += (uint64_t)delta;
	return 0;
}

/* TALLY_BUMPED, TALLY_INSERTED, TALLY_REFUSED (new key, not may_insert), or -1. */
static int add_hashed(struct tally *t, const char *key, size_t len, uint64_t h, int64_t delta,
		      int32_t ttl, const struct key_fields *f, bool may_insert)
{
	struct tally_entry *e = find(t, key, len, h);
	if (e->used) {
		e->delta += delta;
		e->ttl = ttl;
		t->total += (uint64_t)delta;
		return TALLY_BUMPED;
	}
	if (!may_insert)
		return TALLY_REFUSED;
	if ((t->count + 1) * 4 > t->cap * 3) {
		if (grow(t) < 0)
			return -1;
		e = find(t, key, len, h);
	}
	return insert(t, e, key, len, h, delta, ttl, f) < 0 ? -1 : TALLY_INSERTED;
}

int tally_add(struct tally *t, const char *key, size_t len, int64_t delta, int32_t ttl,
	      const struct key_fields *f)
{
	return add_hashed(t, key, len, tally_hash(key, len), delta, ttl, f, true) < 0 ? -1 : 0;
}

int tally_admit(struct tally *t, const char *key, size_t len, int64_t delta, int32_t ttl,
		const struct key_fields *f, bool may_insert)
{
	return add_hashed(t, key, len, tally_hash(key, len), delta, ttl, f, may_insert);
}

int tally_admit_hashed(struct tally *t, const char *key, size_t len, uint64_t h, int64_t delta,
		       int32_t ttl, const struct key_fields *f, bool may_insert)
{
	return add_hashed(t, key, len, h, delta, ttl, f, may_insert);
}

bool tally_trim(struct tally *t, size_t used)
{
	size_t want = cap_for(used * 2);
	if (want < t->min_cap)
		want = t->min_cap;
	if (t->count || t->cap < want * 8)
		return false;
	struct tally_entry *ns = calloc(want, sizeof(*ns));
	char *na = malloc(want * ARENA_PER_SLOT);
	if (!ns || !na) {
		free(ns);
		free(na);
		return false;
	}
	free(t->slots);
	free(t->arena);
	t->slots = ns;
	t->cap = want;
	t->arena = na;
	t->arena_cap = want * ARENA_PER_SLOT;
	t->arena_len = 0;
	return true;
}

int tally_merge(struct tally *dst, const struct tally *src, size_t max_keys,
		uint64_t *dropped_keys, uint64_t *dropped_counts)
{
	int rc = 0;
	for (size_t i = 0; i < src->cap; i++) {
		const struct tally_entry *e = &src->slots[i];
		if (!e->used)
			continue;
		int r = add_hashed(dst, src->arena + e->key_off, e->key_len, e->hash, e->delta,
				   e->ttl, &e->f, dst->count < max_keys);
		if (r < 0 || r == TALLY_REFUSED) {
			(*dropped_keys)++;
			*dropped_counts += (uint64_t)e->delta;
			if (r < 0)
				rc = -1;
		}
	}
	return rc;
}
