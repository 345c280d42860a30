/*
 * ra_seen.c — the sweep's published-versions table (pure: no I/O): which
 * sessions' master rows have been published, and at which version, in a
 * fixed table of slots indexed by an FNV-1a hash of acctuniqueid; see
 * radacct.h (ra_seen) for the contract.  Not thread-safe: the sweep holds
 * its seen_mu around every call (sweep_events.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radacct.h"

struct seen_slot {
	bool used;
	unsigned char len;		/* bytes of uid */
	char uid[RA_SEEN_UID];
	struct ra_version v;
};

struct ra_seen {
	size_t n;			/* slots */
	struct seen_slot slot[];
};

struct ra_seen *ra_seen_new(size_t slots)
{
	if (slots == 0 || slots > ((size_t)-1 - sizeof(struct ra_seen)) / sizeof(struct seen_slot))
		return NULL;
	struct ra_seen *s = calloc(1, sizeof(*s) + slots * sizeof(s->slot[0]));
	if (s)
		s->n = slots;
	return s;
}

void ra_seen_free(struct ra_seen *s)
{
	free(s);
}

bool ra_seen_mark(struct ra_seen *s, const char *uid, size_t len, const struct ra_version *v)
{
	if (len >= RA_SEEN_UID)
		return true;
	uint64_t h = 0xcbf29ce484222325u;	/* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)uid[i]) * 0x100000001b3u;
	struct seen_slot *e = &s->slot[h % s->n];
	if (e->used && e->len == len && memcmp(e->uid, uid, len) == 0 &&
	    e->v.real == v->real && ra_compare(&e->v, v) == 0)
		return false;
	e->used = true;
	e->len = (unsigned char)len;
	memcpy(e->uid, uid, len);
	e->v = *v;
	return true;
}
