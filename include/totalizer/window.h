/*
 * window.h — the totals query's pure core (pure: no I/O): sum the
 * totalizer's counters under one prefix over a time window, grouped by the
 * fields the caller asks for.  The Redis shell that feeds it is totals.h.
 *
 * Keys are <prefix>;<field>;...;<field>;<start_ts> (the default layout has
 * two fields, matched and source); values are integer counters.  A query
 * gives one selector per field, in key order: a literal fixes that field,
 * "*" (or NULL) groups by it; fields past the last selector are summed over.
 *
 * Window rule, per resource (a key without its start_ts), with
 * lo = now - window_s: a bucket with lo <= start_ts <= now counts whole; a
 * bucket starting after now counts 0 (clock skew); of the buckets that start
 * before lo only the newest counts, pro-rated over the time its counts
 * really cover:
 *
 *     end     = min(start_ts + width_s,
 *                   start_ts of the next newer bucket of the resource,
 *                   now)
 *     portion = (end - lo) / (end - start_ts), 0 when end <= lo
 *
 * so the current, still-filling bucket is shared over [start_ts, now], not
 * over time that has not happened yet (as the original client did).  Totals
 * are exact: a total is whole + frac / den with 0 <= frac < den, den the
 * least common multiple of the portions' denominators.  Should that pass
 * TOTALS_MAX_DEN (spans of many different lengths: unaligned keys), a
 * further share is rounded to the nearest 1/den (den is then above
 * TOTALS_MAX_DEN / width_s, so each rounding is below 2e-8) and counted in
 * keys.rounded.
 *
 * When the query knows the keys' ttl and the window is longer, the oldest
 * buckets of the window have expired: the result says so (past_ttl, and a
 * warning in the JSON).
 *
 * Threads: everything here (the query check, totals_pattern, the
 * accumulator, totals_json) may be used from any thread; an accumulator
 * belongs to one.
 *
 * Ownership: a struct totals_query only borrows its strings.  A struct
 * totals_result owns everything it points to; the caller releases it with
 * totals_result_release().  An accumulator is freed with totals_acc_free().
 */
#ifndef AGG_WINDOW_H
#define AGG_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define TOTALS_MAX_FIELDS 16		/* selectors per query */
#define TOTALS_MAX_WIDTH 31622400LL	/* seconds (366 days): widest bucket accepted */
#define TOTALS_MAX_DEN 1000000000000000LL /* largest exact denominator (10^15) */

struct totals_query {
	const char *prefix;		/* first key field; no ';' */
	const char *const *fields;	/* nfields selectors: literal, or "*"/NULL to group */
	size_t nfields;			/* <= TOTALS_MAX_FIELDS */
	long long window_s;		/* seconds back from now, >= 1 */
	long long width_s;		/* bucket width of the rule, seconds, 1..TOTALS_MAX_WIDTH */
	long long ttl_s;		/* the keys' ttl, seconds; 0 = not known (no expiry warning) */
	long long now;			/* Unix seconds (the injected clock), >= 0 */
};

struct totals_row {
	char **fields;		/* ngroup values of the grouped fields, in key order */
	long long whole;	/* integer part of the total (counted lines) */
	long long frac;		/* fractional part, in 1/den: 0 <= frac < den */
	long long den;		/* 1..TOTALS_MAX_DEN */
};

struct totals_counts {
	unsigned long long seen;	/* keys handed in (SCAN may repeat a key) */
	unsigned long long counted;	/* distinct keys with a non-zero weight */
	unsigned long long skipped;	/* unparsable: field count, start_ts, value */
	unsigned long long future;	/* start_ts after now (clock skew?) */
	unsigned long long missing;	/* no string value at MGET (expired, or another type) */
	unsigned long long repeated;	/* the same bucket handed in again */
	unsigned long long rounded;	/* shares rounded to 1/den (see the window rule) */
};

struct totals_result {
	char *prefix;			/* copy of the query's prefix */
	long long window_s, width_s, ttl_s, now; /* as queried, seconds */
	bool past_ttl;			/* window_s > ttl_s > 0: the oldest buckets have expired */
	size_t group_by[TOTALS_MAX_FIELDS]; /* grouped field indexes, 0 = first after the prefix */
	size_t ngroup;
	struct totals_row *rows;	/* nrows, by total descending, then fields ascending */
	size_t nrows;
	long long whole, frac, den;	/* grand total, as in a row */
	struct totals_counts keys;
};

/* Is q usable?  0, or -1 with the reason in err (e.g. "field 2 'a;b' contains ';'"). */
int totals_query_check(const struct totals_query *q, char *err, size_t errlen);

/*
 * Append the SCAN MATCH pattern of q to out: prefix;sel;...;sel;* with
 * literals (and the prefix) glob-escaped and "*" for grouped fields.
 * Returns 0, or -1 when out ran out of memory.
 */
int totals_pattern(const struct totals_query *q, struct buf *out);

/* Append s to out with the glob characters * ? [ ] \ escaped by '\'. */
void totals_glob_escape(struct buf *out, const char *s);

/*
 * The accumulator: feed it (key, value) pairs in any order, then take the
 * result.  totals_acc_new() copies what it needs from q (checked first);
 * returns NULL with the reason in err.  Caller frees with totals_acc_free().
 */
struct totals_acc;
struct totals_acc *totals_acc_new(const struct totals_query *q, char *err, size_t errlen);
void totals_acc_free(struct totals_acc *a);

/*
 * Count one key (bytes, no NUL needed) with its value.  Keys of other
 * prefixes or other literals are ignored; unparsable ones are counted as
 * skipped.  Returns 0, or -1 after an allocation failure or a total beyond
 * the range of long long (see totals_acc_error()); the accumulator is then
 * unusable.
 */
int totals_acc_add(struct totals_acc *a, const char *key, size_t keylen,
		   const char *val, size_t vallen);
/* A key listed by SCAN had no string value at MGET (expired, or another type). */
void totals_acc_missing(struct totals_acc *a);
/* Why the last call failed ("out of memory", ...), or "" when none did. */
const char *totals_acc_error(const struct totals_acc *a);

/*
 * Move the sorted totals into *out (overwritten; release it with
 * totals_result_release()).  Returns 0, or -1 with totals_acc_error() set;
 * either way the accumulator is left only to be freed.
 */
int totals_acc_finish(struct totals_acc *a, struct totals_result *out);

void totals_result_release(struct totals_result *r);

/*
 * Format whole + frac/den (0 <= frac < den <= TOTALS_MAX_DEN): "12" when
 * frac is 0, else rounded to three decimals ("12.500", "-0.250").  out
 * needs 32 bytes.
 */
void totals_fmt(long long whole, long long frac, long long den, char *out, size_t len);

/*
 * Append r as JSON: {"prefix":..,"window":..,"width":..,"ttl":..,"now":..,
 * "group_by":[..],"rows":[{"fields":[..],"total":N},..],"total":N,
 * "keys":{"seen":..,"counted":..,"skipped":..,"future":..,"missing":..,
 * "repeated":..,"rounded":..},"warnings":["..",..]}; "ttl" is 0 when not
 * known.  Returns 0, or -1 when out ran out of memory.
 */
int totals_json(const struct totals_result *r, struct buf *out);

#endif
