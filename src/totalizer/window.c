/*
 * window.c — the totals query's pure core (pure: no I/O): the query check
 * and the SCAN pattern, exact amounts, the accumulator that applies the
 * window rule, and the JSON of a result; see window.h for the contract and
 * the window rule.  Its Redis shell is totals.c.
 *
 * DESIGN.  The accumulator takes (key, value) pairs in any order — SCAN
 * gives no order and may hand out a key twice.  It keeps, per resource (a
 * key without its start_ts), its group, the newest bucket that started
 * before the window (the only one that may count pro-rated, settled at the
 * end), the oldest bucket it counted whole (where the pro-rated one ends,
 * when that comes before its width and now), and a set of the (resource,
 * start_ts) pairs it counted whole, so a repeated key is not counted twice.
 * Whole buckets are added to their group at once.  Totals are kept exact as
 * whole + frac / den (den the least common multiple of the shares' spans,
 * reduced): nothing is lost to floating point.  Memory: one entry per
 * counted resource, per counted bucket (16 bytes) and per group; none per
 * key outside the window.
 *
 * Threads: any; an accumulator belongs to one.
 */
#include "window.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "smap.h"

#define TOTALS_MAX_WINDOW 3155760000LL	/* seconds (100 years) */
#define TOTALS_MAX_NOW 100000000000LL	/* Unix seconds (year 5138) */

/* ---- query and pattern ---- */

static bool is_group(const char *sel)
{
	return sel == NULL || strcmp(sel, "*") == 0;
}

int totals_query_check(const struct totals_query *q, char *err, size_t errlen)
{
	if (!q->prefix || !q->prefix[0]) {
		snprintf(err, errlen, "prefix is empty");
		return -1;
	}
	if (strchr(q->prefix, ';')) {
		snprintf(err, errlen, "prefix '%s' contains ';'", q->prefix);
		return -1;
	}
	if (q->nfields > TOTALS_MAX_FIELDS) {
		snprintf(err, errlen, "too many fields (%zu, at most %d)", q->nfields,
			 TOTALS_MAX_FIELDS);
		return -1;
	}
	for (size_t i = 0; i < q->nfields; i++) {
		if (!is_group(q->fields[i]) && strchr(q->fields[i], ';')) {
			snprintf(err, errlen, "field %zu '%s' contains ';'", i + 1, q->fields[i]);
			return -1;
		}
	}
	if (q->window_s < 1 || q->window_s > TOTALS_MAX_WINDOW) {
		snprintf(err, errlen, "window %lld s is out of range (1..%lld)", q->window_s,
			 TOTALS_MAX_WINDOW);
		return -1;
	}
	if (q->width_s < 1 || q->width_s > TOTALS_MAX_WIDTH) {
		snprintf(err, errlen, "bucket width %lld s is out of range (1..%lld)", q->width_s,
			 TOTALS_MAX_WIDTH);
		return -1;
	}
	if (q->ttl_s < 0 || q->ttl_s > TOTALS_MAX_WINDOW) {
		snprintf(err, errlen, "ttl %lld s is out of range (0..%lld)", q->ttl_s,
			 TOTALS_MAX_WINDOW);
		return -1;
	}
	if (q->now < 0 || q->now > TOTALS_MAX_NOW) {
		snprintf(err, errlen, "clock %lld is out of range", q->now);
		return -1;
	}
	return 0;
}

void totals_glob_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (strchr("*?[]\\", *s))
			buf_addc(out, '\\');
		buf_addc(out, *s);
	}
}

int totals_pattern(const struct totals_query *q, struct buf *out)
{
	totals_glob_escape(out, q->prefix);
	for (size_t i = 0; i < q->nfields; i++) {
		buf_addc(out, ';');
		if (is_group(q->fields[i]))
			buf_addc(out, '*');
		else
			totals_glob_escape(out, q->fields[i]);
	}
	buf_adds(out, ";*");
	return out->oom ? -1 : 0;
}

/* ---- a set of (resource, start_ts) pairs: the buckets counted whole ---- */

struct bset_slot {
	size_t res1;		/* resource index + 1; 0 when the slot is free */
	long long start;	/* start_ts, s */
};

struct bset {
	struct bset_slot *slot;	/* cap slots, cap a power of two */
	size_t cap;
	size_t n;
};

static size_t bset_hash(size_t res, long long start)
{
	uint64_t x = (uint64_t)res * 0x9e3779b97f4a7c15ULL ^ (uint64_t)start;
	x ^= x >> 30;	/* splitmix64's finaliser */
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return (size_t)(x ^ (x >> 31));
}

static struct bset_slot *bset_probe(struct bset_slot *slot, size_t cap, size_t res1,
				    long long start)
{
	size_t i = bset_hash(res1, start) & (cap - 1);
	while (slot[i].res1 && !(slot[i].res1 == res1 && slot[i].start == start))
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

/* Add (res, start): 1 when added, 0 when it was there, -1 when out of memory. */
static int bset_add(struct bset *s, size_t res, long long start)
{
	if ((s->n + 1) * 10 > s->cap * 7) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct bset_slot *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i].res1)
				*bset_probe(slot, cap, s->slot[i].res1, s->slot[i].start) = s->slot[i];
		free(s->slot);
		s->slot = slot;
		s->cap = cap;
	}
	struct bset_slot *e = bset_probe(s->slot, s->cap, res + 1, start);
	if (e->res1)
		return 0;
	*e = (struct bset_slot){ res + 1, start };
	s->n++;
	return 1;
}

/* ---- exact amounts: whole + frac / den, 0 <= frac < den <= TOTALS_MAX_DEN ---- */

static long long gcd_ll(long long a, long long b)
{
	while (b) {
		long long t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/*
 * Add v * num / den (0 <= num <= den, 1 <= den <= TOTALS_MAX_DEN) to
 * *whole + *frac / *fden.  Exact while the common denominator stays within
 * TOTALS_MAX_DEN; past it the share's fraction is rounded to the nearest
 * 1 / *fden and *rounded is counted.  The fraction is kept reduced.
 * 0, or -1 when the total leaves long long.
 */
static int amount_add(long long *whole, long long *frac, long long *fden, long long v,
		      long long num, long long den, unsigned long long *rounded)
{
	long long g = gcd_ll(num, den);		/* num 0: g = den, so 0 / 1 */
	num /= g;
	den /= g;
	/* num <= den, so |q| <= |v|: q fits in long long. */
	__int128 p = (__int128)v * num, q = p / den, r = p % den;
	if (r < 0) {	/* floor division for negative counters */
		q--;
		r += den;
	}
	if (__builtin_add_overflow(*whole, (long long)q, whole))
		return -1;
	if (r == 0)
		return 0;
	long long fd = *fden;
	__int128 l = (__int128)(fd / gcd_ll(fd, den)) * den, f;
	if (l <= TOTALS_MAX_DEN) {
		f = (__int128)*frac * (l / fd) + r * (l / den);
		fd = (long long)l;
	} else {
		f = *frac + (2 * r * fd + den) / (2 * den);
		(*rounded)++;
	}
	if (f >= fd) {	/* f < 2 fd */
		f -= fd;
		if (__builtin_add_overflow(*whole, 1, whole))
			return -1;
	}
	g = gcd_ll((long long)f, fd);
	*frac = (long long)f / g;
	*fden = fd / g;
	return 0;
}

void totals_fmt(long long whole, long long frac, long long den, char *out, size_t len)
{
	if (frac == 0 || den <= 0) {
		snprintf(out, len, "%lld", whole);
		return;
	}
	long long milli = (long long)(((__int128)frac * 1000 + den / 2) / den);
	if (milli == 1000) {	/* rounds up to the next integer */
		if (whole < LLONG_MAX) {
			whole++;
			milli = 0;
		} else {
			milli = 999;
		}
	}
	if (whole >= 0 || milli == 0)
		snprintf(out, len, "%lld.%03lld", whole, milli);
	else	/* whole + milli/1000 with whole < 0 is -(-whole - 1 + (1000 - milli)/1000) */
		snprintf(out, len, "-%lld.%03lld", -(whole + 1), 1000 - milli);
}

/* ---- the accumulator ---- */

struct resource {
	size_t group;		/* index into rows */
	bool has_cand;		/* a bucket started before the window, weight > 0 */
	long long cand_start;	/* the newest such bucket's start_ts, s */
	long long cand_value;	/* and its counter */
	long long next_start;	/* oldest bucket counted whole, s; LLONG_MAX = none */
};

struct totals_acc {
	char *prefix;			/* owned copy */
	size_t prefixlen;
	char *sel[TOTALS_MAX_FIELDS];	/* owned literals; NULL = grouped */
	size_t nsel;
	size_t group_by[TOTALS_MAX_FIELDS];
	size_t ngroup;
	long long window_s, width_s, ttl_s, now;
	long long lo;			/* now - window_s: the window's start, s */

	struct smap group_map;		/* label (grouped fields joined by ';') -> row */
	struct totals_row *rows;
	size_t nrows, caprows;
	struct smap res_map;		/* key without ";start_ts" -> resource */
	struct resource *res;
	size_t nres, capres;
	struct bset counted;		/* buckets counted whole, against SCAN repeats */

	struct buf label;		/* scratch for a group label */
	struct totals_counts keys;
	unsigned long long counted_whole; /* keys counted whole */
	char err[128];			/* why it failed; "" while it has not */
};

static int acc_fail(struct totals_acc *a, const char *what)
{
	if (!a->err[0])
		snprintf(a->err, sizeof(a->err), "%s", what);
	return -1;
}

struct totals_acc *totals_acc_new(const struct totals_query *q, char *err, size_t errlen)
{
	if (totals_query_check(q, err, errlen) < 0)
		return NULL;
	struct totals_acc *a = calloc(1, sizeof(*a));
	if (!a)
		goto oom;
	buf_init(&a->label);
	/* keys come from Redis: seed the maps' hashes (the heap address will do) */
	uint64_t seed = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ULL;
	smap_init(&a->group_map, seed);
	smap_init(&a->res_map, seed ^ 0x5bd1e995u);
	a->prefix = strdup(q->prefix);
	if (!a->prefix)
		goto oom;
	a->prefixlen = strlen(a->prefix);
	a->nsel = q->nfields;
	for (size_t i = 0; i < q->nfields; i++) {
		if (is_group(q->fields[i])) {
			a->group_by[a->ngroup++] = i;
		} else if (!(a->sel[i] = strdup(q->fields[i]))) {
			goto oom;
		}
	}
	a->window_s = q->window_s;
	a->width_s = q->width_s;
	a->ttl_s = q->ttl_s;
	a->now = q->now;
	a->lo = q->now - q->window_s;
	return a;
oom:
	totals_acc_free(a);
	snprintf(err, errlen, "out of memory for the totals accumulator");
	return NULL;
}

static void free_fields(char **fields, size_t n)
{
	if (!fields)
		return;
	for (size_t i = 0; i < n; i++)
		free(fields[i]);
	free(fields);
}

void totals_acc_free(struct totals_acc *a)
{
	if (!a)
		return;
	free(a->prefix);
	for (size_t i = 0; i < a->nsel; i++)
		free(a->sel[i]);
	for (size_t i = 0; i < a->nrows; i++)
		free_fields(a->rows[i].fields, a->ngroup);
	free(a->rows);
	free(a->res);
	free(a->counted.slot);
	smap_release(&a->group_map);
	smap_release(&a->res_map);
	buf_release(&a->label);
	free(a);
}

const char *totals_acc_error(const struct totals_acc *a)
{
	return a->err;
}

void totals_acc_missing(struct totals_acc *a)
{
	a->keys.missing++;
}

/* Parse [-]digits into *v (no spaces, no '+').  false when not an integer. */
static bool parse_ll(const char *s, size_t n, bool allow_neg, long long *v)
{
	bool neg = false;
	if (n && s[0] == '-' && allow_neg) {
		neg = true;
		s++;
		n--;
	}
	if (n == 0)
		return false;
	long long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		int d = s[i] - '0';
		/* Accumulate negatively so LLONG_MIN parses too. */
		if (x < (LLONG_MIN + d) / 10)
			return false;
		x = x * 10 - d;
	}
	if (!neg) {
		if (x == LLONG_MIN)
			return false;
		x = -x;
	}
	*v = x;
	return true;
}

/* The row for the current label (a->label), created with its fields when new. */
static int group_for(struct totals_acc *a, const char *const *fstart, const size_t *flen,
		     size_t *row)
{
	if (smap_get(&a->group_map, a->label.data, a->label.len, row))
		return 0;
	if (a->nrows == a->caprows) {
		size_t cap = a->caprows ? a->caprows * 2 : 16;
		struct totals_row *r = realloc(a->rows, cap * sizeof(*r));
		if (!r)
			return -1;
		a->rows = r;
		a->caprows = cap;
	}
	char **fields = NULL;
	if (a->ngroup) {
		fields = calloc(a->ngroup, sizeof(*fields));
		if (!fields)
			return -1;
		for (size_t g = 0; g < a->ngroup; g++) {
			size_t i = a->group_by[g];
			if (!(fields[g] = strndup(fstart[i], flen[i]))) {
				free_fields(fields, a->ngroup);
				return -1;
			}
		}
	}
	if (smap_add(&a->group_map, a->label.data, a->label.len, a->nrows) < 0) {
		free_fields(fields, a->ngroup);
		return -1;
	}
	a->rows[a->nrows] = (struct totals_row){ .fields = fields, .den = 1 };
	*row = a->nrows++;
	return 0;
}

/* The resource of key[0..n) (without ";start_ts"), created when new. */
static int resource_for(struct totals_acc *a, const char *key, size_t n,
			const char *const *fstart, const size_t *flen, struct resource **out)
{
	size_t i;
	if (smap_get(&a->res_map, key, n, &i)) {
		*out = &a->res[i];
		return 0;
	}
	buf_reset(&a->label);
	for (size_t g = 0; g < a->ngroup; g++) {
		if (g)
			buf_addc(&a->label, ';');
		buf_add(&a->label, fstart[a->group_by[g]], flen[a->group_by[g]]);
	}
	size_t row;
	if (a->label.oom || group_for(a, fstart, flen, &row) < 0)
		return -1;
	if (a->nres == a->capres) {
		size_t cap = a->capres ? a->capres * 2 : 64;
		struct resource *r = realloc(a->res, cap * sizeof(*r));
		if (!r)
			return -1;
		a->res = r;
		a->capres = cap;
	}
	if (smap_add(&a->res_map, key, n, a->nres) < 0)
		return -1;
	a->res[a->nres] = (struct resource){ .group = row, .next_start = LLONG_MAX };
	*out = &a->res[a->nres++];
	return 0;
}

static int count_whole(struct totals_acc *a, struct resource *r, long long start, long long v)
{
	int added = bset_add(&a->counted, (size_t)(r - a->res), start);
	if (added < 0)
		return acc_fail(a, "out of memory for the totals");
	if (!added) {
		a->keys.repeated++;
		return 0;
	}
	struct totals_row *row = &a->rows[r->group];
	if (__builtin_add_overflow(row->whole, v, &row->whole))
		return acc_fail(a, "a total is out of range");
	a->counted_whole++;
	return 0;
}

int totals_acc_add(struct totals_acc *a, const char *key, size_t keylen,
		   const char *val, size_t vallen)
{
	const char *fstart[TOTALS_MAX_FIELDS];
	size_t flen[TOTALS_MAX_FIELDS];

	if (a->err[0])
		return -1;
	a->keys.seen++;

	/* prefix ; field ; ... ; start_ts */
	const char *end = key + keylen, *last = NULL;
	for (const char *p = key; p < end; p++)
		if (*p == ';')
			last = p;
	const char *first = memchr(key, ';', keylen);
	if (!first || (size_t)(first - key) != a->prefixlen ||
	    memcmp(key, a->prefix, a->prefixlen) != 0)
		return 0;	/* another prefix: not ours */
	long long start, v;
	if (last == first || !parse_ll(last + 1, (size_t)(end - last - 1), false, &start)) {
		a->keys.skipped++;
		return 0;
	}
	/* The fields between the prefix and start_ts; the first nsel are kept. */
	size_t nf = 0;
	for (const char *p = first + 1;; nf++) {
		const char *q = memchr(p, ';', (size_t)(last - p));
		if (!q)
			q = last;
		if (nf < a->nsel) {
			fstart[nf] = p;
			flen[nf] = (size_t)(q - p);
		}
		if (q == last) {
			nf++;
			break;
		}
		p = q + 1;
	}
	if (nf < a->nsel) {
		a->keys.skipped++;	/* fewer fields than selectors */
		return 0;
	}
	for (size_t i = 0; i < a->nsel; i++)
		if (a->sel[i] && (strlen(a->sel[i]) != flen[i] ||
				  memcmp(a->sel[i], fstart[i], flen[i]) != 0))
			return 0;	/* another literal: not selected */
	if (!parse_ll(val, vallen, true, &v)) {
		a->keys.skipped++;
		return 0;
	}

	if (start > a->now) {
		a->keys.future++;
		return 0;
	}
	bool whole = start >= a->lo;
	if (!whole && start + a->width_s - a->lo <= 0)
		return 0;	/* ended before the window: weight 0 */

	struct resource *r;
	if (resource_for(a, key, (size_t)(last - key), fstart, flen, &r) < 0)
		return acc_fail(a, "out of memory for the totals");
	if (whole) {
		if (start < r->next_start)
			r->next_start = start;
		return count_whole(a, r, start, v);
	}
	if (r->has_cand && r->cand_start == start) {
		a->keys.repeated++;
	} else if (!r->has_cand || start > r->cand_start) {
		r->has_cand = true;
		r->cand_start = start;
		r->cand_value = v;
	}
	return 0;
}

static int row_cmp(const void *x, const void *y, void *ngroup)
{
	const struct totals_row *a = x, *b = y;
	if (a->whole != b->whole)
		return a->whole > b->whole ? -1 : 1;
	__int128 fa = (__int128)a->frac * b->den, fb = (__int128)b->frac * a->den;
	if (fa != fb)
		return fa > fb ? -1 : 1;
	for (size_t i = 0; i < *(size_t *)ngroup; i++) {
		int c = strcmp(a->fields[i], b->fields[i]);
		if (c)
			return c;
	}
	return 0;
}

int totals_acc_finish(struct totals_acc *a, struct totals_result *out)
{
	memset(out, 0, sizeof(*out));
	if (a->err[0])
		return -1;
	unsigned long long cands = 0;
	for (size_t i = 0; i < a->nres; i++) {
		struct resource *r = &a->res[i];
		if (!r->has_cand)
			continue;
		/* Its counts cover [start, end): up to its width, the next newer
		 * bucket of the resource, or now, whichever comes first. */
		long long end = r->cand_start + a->width_s;
		if (r->next_start < end)
			end = r->next_start;
		if (a->now < end)
			end = a->now;
		if (end <= a->lo)
			continue;	/* the next bucket starts at lo: nothing inside */
		struct totals_row *row = &a->rows[r->group];
		if (amount_add(&row->whole, &row->frac, &row->den, r->cand_value, end - a->lo,
			       end - r->cand_start, &a->keys.rounded) < 0)
			return acc_fail(a, "a total is out of range");
		cands++;
	}
	out->den = 1;
	for (size_t i = 0; i < a->nrows; i++) {
		if (amount_add(&out->whole, &out->frac, &out->den, a->rows[i].whole, 1, 1,
			       &a->keys.rounded) < 0 ||
		    amount_add(&out->whole, &out->frac, &out->den, a->rows[i].frac, 1,
			       a->rows[i].den, &a->keys.rounded) < 0) {
			memset(out, 0, sizeof(*out));
			return acc_fail(a, "the grand total is out of range");
		}
	}
	out->prefix = strdup(a->prefix);
	if (!out->prefix) {
		memset(out, 0, sizeof(*out));
		return acc_fail(a, "out of memory for the totals");
	}
	if (a->nrows > 1)
		qsort_r(a->rows, a->nrows, sizeof(*a->rows), row_cmp, &a->ngroup);
	out->window_s = a->window_s;
	out->width_s = a->width_s;
	out->ttl_s = a->ttl_s;
	out->past_ttl = a->ttl_s > 0 && a->window_s > a->ttl_s;
	out->now = a->now;
	memcpy(out->group_by, a->group_by, sizeof(out->group_by));
	out->ngroup = a->ngroup;
	out->rows = a->rows;
	out->nrows = a->nrows;
	a->rows = NULL;
	a->nrows = a->caprows = 0;
	out->keys = a->keys;
	out->keys.counted = a->counted_whole + cands;
	snprintf(a->err, sizeof(a->err), "the accumulator was finished");
	return 0;
}

void totals_result_release(struct totals_result *r)
{
	free(r->prefix);
	for (size_t i = 0; i < r->nrows; i++)
		free_fields(r->rows[i].fields, r->ngroup);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* ---- rendering ---- */

int totals_json(const struct totals_result *r, struct buf *out)
{
	char num[32];
	struct jw w;

	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_str(&w, "prefix", r->prefix);
	jw_kv_i64(&w, "window", r->window_s);
	jw_kv_i64(&w, "width", r->width_s);
	jw_kv_i64(&w, "ttl", r->ttl_s);
	jw_kv_i64(&w, "now", r->now);
	jw_key(&w, "group_by");
	jw_arr(&w);
	for (size_t g = 0; g < r->ngroup; g++)
		jw_u64(&w, r->group_by[g]);
	jw_end(&w);
	jw_key(&w, "rows");
	jw_arr(&w);
	for (size_t i = 0; i < r->nrows; i++) {
		jw_obj(&w);
		jw_key(&w, "fields");
		jw_arr(&w);
		for (size_t g = 0; g < r->ngroup; g++)
			jw_str(&w, r->rows[i].fields[g]);
		jw_end(&w);
		/* the exact decimal of whole + frac/den (totals_fmt), as it is */
		totals_fmt(r->rows[i].whole, r->rows[i].frac, r->rows[i].den, num, sizeof(num));
		jw_key(&w, "total");
		jw_raw_next(&w);
		buf_adds(out, num);
		jw_end(&w);
	}
	jw_end(&w);
	totals_fmt(r->whole, r->frac, r->den, num, sizeof(num));
	jw_key(&w, "total");
	jw_raw_next(&w);
	buf_adds(out, num);
	jw_key(&w, "keys");
	jw_obj(&w);
	jw_kv_u64(&w, "seen", r->keys.seen);
	jw_kv_u64(&w, "counted", r->keys.counted);
	jw_kv_u64(&w, "skipped", r->keys.skipped);
	jw_kv_u64(&w, "future", r->keys.future);
	jw_kv_u64(&w, "missing", r->keys.missing);
	jw_kv_u64(&w, "repeated", r->keys.repeated);
	jw_kv_u64(&w, "rounded", r->keys.rounded);
	jw_end(&w);
	jw_key(&w, "warnings");
	jw_arr(&w);
	if (r->past_ttl) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "window %lld s is longer than the ttl of '%s' (%lld s): buckets older "
			 "than %lld s have expired, the total covers about the last %lld s only",
			 r->window_s, r->prefix, r->ttl_s, r->ttl_s, r->ttl_s);
		if (m.oom)
			out->oom = true;
		else
			jw_str(&w, m.data);
		buf_release(&m);
	}
	jw_end(&w);
	jw_end(&w);
	return out->oom ? -1 : 0;
}
