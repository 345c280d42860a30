/*
 * smap.c — a string-keyed hash map (see smap.h; pure: no I/O).
 */
#include "smap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(uint64_t seed, const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;	/* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;	/* spread the low bits the table indexes with */
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

void smap_init(struct smap *m, uint64_t seed)
{
	*m = (struct smap){ .seed = seed };
}

/* The slot of k, or the free slot where it would go. */
static struct smap_slot *probe(struct smap_slot *slot, size_t cap, uint64_t h, const char *k, size_t n)
{
	size_t i = (size_t)h & (cap - 1);
	while (slot[i].key && !(slot[i].hash == h && slot[i].len == n && memcmp(slot[i].key, k, n) == 0))
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

bool smap_get(const struct smap *m, const char *k, size_t n, size_t *val)
{
	if (!m->cap)
		return false;
	struct smap_slot *s = probe(m->slot, m->cap, hash(m->seed, k, n), k, n);
	if (!s->key)
		return false;
	*val = s->val;
	return true;
}

int smap_add(struct smap *m, const char *k, size_t n, size_t val)
{
	uint64_t h = hash(m->seed, k, n);
	if (m->cap) {
		struct smap_slot *s = probe(m->slot, m->cap, h, k, n);
		if (s->key)
			return 1;
	}
	if ((m->n + 1) * 10 > m->cap * 7) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		if (cap < m->cap)
			return -1;
		struct smap_slot *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].key)
				*probe(slot, cap, m->slot[i].hash, m->slot[i].key, m->slot[i].len) = m->slot[i];
		free(m->slot);
		m->slot = slot;
		m->cap = cap;
	}
	char *copy = malloc(n + 1);
	if (!copy)
		return -1;
	memcpy(copy, k, n);
	copy[n] = '\0';
	*probe(m->slot, m->cap, h, k, n) = (struct smap_slot){ copy, n, h, val };
	m->n++;
	return 0;
}

void smap_release(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slot[i].key);
	free(m->slot);
	uint64_t seed = m->seed;
	*m = (struct smap){ .seed = seed };
}
