/*
 * test_totals.c — the totals query's pure core: the SCAN pattern and its
 * escaping, the window arithmetic on fixed buckets (the current bucket
 * pro-rated over [start, now], a bucket ended by the next one or by a gap,
 * exact fractions over spans of different lengths, the window past the
 * ttl), grouping by wildcards and literals, sorting, unparsable and
 * repeated keys, and the JSON.
 *
 * Fixtures: width W = 900 s (ttl 3600, 4 buckets), buckets aligned on
 * T0 = 1700000100 (a multiple of 900).
 */
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "window.h"

#define W 900LL
#define T0 1700000100LL

struct kv {
	const char *key;
	const char *val;
};

static struct totals_query query(const char *const *fields, size_t n, long long window,
				 long long now)
{
	return (struct totals_query){ .prefix = "web_client", .fields = fields, .nfields = n,
				      .window_s = window, .width_s = W, .now = now };
}

/* Feed pairs to an accumulator for q and finish it into *r. */
static void run(const struct totals_query *q, const struct kv *kv, size_t n,
		struct totals_result *r)
{
	char err[128];
	struct totals_acc *a = totals_acc_new(q, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(totals_acc_add(a, kv[i].key, strlen(kv[i].key), kv[i].val,
						strlen(kv[i].val)), 0);
	ck_assert_int_eq(totals_acc_finish(a, r), 0);
	totals_acc_free(a);
}

static const char *fmt(long long whole, long long frac, long long den)
{
	static char out[32];
	totals_fmt(whole, frac, den, out, sizeof(out));
	return out;
}

/* A row or a result, formatted: fractions are in 1/den. */
#define FMT(x) fmt((x).whole, (x).frac, (x).den)

static char *key(long long start, const char *mid)
{
	static char k[8][128];
	static int n;
	char *p = k[n++ % 8];
	snprintf(p, sizeof(k[0]), "web_client;%s;%lld", mid, start);
	return p;
}

START_TEST(pattern_building)
{
	struct buf b = BUF_INIT;
	struct totals_query q = query(NULL, 0, 3600, T0);
	ck_assert_int_eq(totals_pattern(&q, &b), 0);
	ck_assert_str_eq(b.data, "web_client;*");

	const char *const grp[] = { "*" };
	q = query(grp, 1, 3600, T0);
	buf_reset(&b);
	totals_pattern(&q, &b);
	ck_assert_str_eq(b.data, "web_client;*;*");

	const char *const mixed[] = { "10.0.0.1,200", NULL };
	q = query(mixed, 2, 3600, T0);
	buf_reset(&b);
	totals_pattern(&q, &b);
	ck_assert_str_eq(b.data, "web_client;10.0.0.1,200;*;*");

	const char *const lit2[] = { "*", "web1" };
	q = query(lit2, 2, 3600, T0);
	buf_reset(&b);
	totals_pattern(&q, &b);
	ck_assert_str_eq(b.data, "web_client;*;web1;*");
	buf_release(&b);
}
END_TEST

START_TEST(pattern_escaping)
{
	struct buf b = BUF_INIT;
	const char *const f[] = { "a*b?c[d]e\\f", "*" };
	struct totals_query q = query(f, 2, 3600, T0);
	q.prefix = "p[1]*";
	ck_assert_int_eq(totals_pattern(&q, &b), 0);
	ck_assert_str_eq(b.data, "p\\[1\\]\\*;a\\*b\\?c\\[d\\]e\\\\f;*;*");
	buf_reset(&b);
	totals_glob_escape(&b, "plain,1.2.3.4:80/x");
	ck_assert_str_eq(b.data, "plain,1.2.3.4:80/x");
	buf_release(&b);
}
END_TEST

START_TEST(query_checks)
{
	char err[128];
	const char *const semi[] = { "*", "a;b" };
	const char *const many[TOTALS_MAX_FIELDS + 1] = { 0 };
	struct totals_query q = query(NULL, 0, 3600, T0);
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), 0);

	q.prefix = "";
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "prefix is empty");
	q.prefix = "a;b";
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "prefix 'a;b' contains ';'");
	q = query(semi, 2, 3600, T0);
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "field 2 'a;b' contains ';'");
	q = query(many, TOTALS_MAX_FIELDS + 1, 3600, T0);
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "too many fields (17, at most 16)");
	q = query(NULL, 0, 0, T0);
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "window 0 s is out of range"));
	q = query(NULL, 0, 3600, T0);
	q.width_s = 0;
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "bucket width 0 s is out of range"));
	q.width_s = W;
	q.now = -1;
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_ptr_null(totals_acc_new(&q, err, sizeof(err)));
	ck_assert_str_eq(err, "clock -1 is out of range");
}
END_TEST

/*
 * One resource, buckets T0 .. T0+6W; now = T0+5W+300, window 4W, so the
 * window starts at lo = T0+W+300: T0+2W..T0+5W count whole, T0+W is the
 * newest bucket before the window (600 of its 900 s inside: 2/3), T0 ended
 * before lo (0) and T0+6W is in the future (0).
 */
static const long long vals[] = { 1000, 3, 10, 20, 40, 80, 5000 };

static void load(struct kv *kv, const char *mid, long long base)
{
	static char vbuf[7][24];
	for (int i = 0; i < 7; i++) {
		snprintf(vbuf[i], sizeof(vbuf[i]), "%lld", vals[i]);
		kv[i] = (struct kv){ key(base + i * W, mid), vbuf[i] };
	}
}

START_TEST(window_inside_prorated_old_future)
{
	struct kv kv[7];
	struct totals_result r;
	load(kv, "a;s1", T0);
	struct totals_query q = query(NULL, 0, 4 * W, T0 + 5 * W + 300);
	run(&q, kv, 7, &r);
	/* 10 + 20 + 40 + 80 whole, 3 * 2/3 = 2 from the straddling bucket. */
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_str_eq(FMT(r), "152");
	ck_assert_int_eq(r.keys.seen, 7);
	ck_assert_int_eq(r.keys.counted, 5);
	ck_assert_int_eq(r.keys.future, 1);
	ck_assert_int_eq(r.keys.skipped, 0);
	totals_result_release(&r);

	/* A fraction that is not whole: the straddling bucket holds 1 -> 0.667. */
	kv[1].val = "1";
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "150.667");
	ck_assert_int_eq(r.frac * 3, 2 * r.den);	/* exactly 2/3 */
	totals_result_release(&r);

	/* Window ending mid-bucket: now = T0+5W+899, lo = T0+W+899 -> 1/900 of T0+W. */
	kv[1].val = "900";
	q.now = T0 + 5 * W + 899;
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "151");
	totals_result_release(&r);
}
END_TEST

START_TEST(window_on_bucket_boundary)
{
	struct kv kv[7];
	struct totals_result r;
	load(kv, "a;s1", T0);
	/* now = T0+5W exactly, lo = T0+W: T0+W..T0+5W whole (T0+5W starts at now),
	 * T0 covers 0 s of the window, T0+6W is in the future. */
	struct totals_query q = query(NULL, 0, 4 * W, T0 + 5 * W);
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "153");
	ck_assert_int_eq(r.keys.counted, 5);
	totals_result_release(&r);

	/* One second later the oldest whole bucket starts pro-rating. */
	q.now++;
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "152.997");
	totals_result_release(&r);
}
END_TEST

START_TEST(window_longer_than_data)
{
	struct kv kv[7];
	struct totals_result r;
	load(kv, "a;s1", T0);
	struct totals_query q = query(NULL, 0, 100 * W, T0 + 5 * W + 300);
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "1153");	/* all but the future one */
	ck_assert_int_eq(r.keys.counted, 6);
	totals_result_release(&r);

	/* A window shorter than one bucket: only the current bucket, pro-rated
	 * over the part of it that has happened: lo = T0+5W+200, its 80 counts
	 * cover [T0+5W, now] = 300 s, 100 of them inside -> 80 / 3. */
	q.window_s = 100;
	run(&q, kv, 7, &r);
	ck_assert_str_eq(FMT(r), "26.667");
	ck_assert_int_eq(r.whole, 26);
	ck_assert_int_eq(r.frac * 3, 2 * r.den);	/* exactly 2/3 */
	totals_result_release(&r);
}
END_TEST

/*
 * Steady traffic of one line a second, 6 h buckets (the default 86400 s ttl
 * in 4 buckets), queried with the docs' --window 3600.  The current bucket
 * started before the window and holds only the lines of [start, now]: its
 * share is (now - lo) / (now - start), so the answer is the 3600 lines of
 * the last hour wherever now is inside the bucket.  The old rule,
 * (start + width - lo) / width, counted the part of the bucket after now.
 */
START_TEST(current_bucket_straddling)
{
	const long long w6 = 21600, b = 1700006400;	/* a multiple of 21600 */
	char kprev[64], kcur[64], vcur[24];
	snprintf(kprev, sizeof(kprev), "web_client;a;s;%lld", b - w6);
	snprintf(kcur, sizeof(kcur), "web_client;a;s;%lld", b);
	const long long elapsed[] = { 3601, 7200, 12600, 21599 };
	for (size_t i = 0; i < sizeof(elapsed) / sizeof(elapsed[0]); i++) {
		snprintf(vcur, sizeof(vcur), "%lld", elapsed[i]);
		const struct kv kv[] = { { kprev, "21600" }, { kcur, vcur } };
		struct totals_query q = query(NULL, 0, 3600, b + elapsed[i]);
		q.width_s = w6;
		struct totals_result r;
		run(&q, kv, 2, &r);
		ck_assert_msg(r.whole == 3600 && r.frac == 0,
			      "now = start + %lld: total %lld + %lld/%lld, expected 3600",
			      elapsed[i], r.whole, r.frac, r.den);
		ck_assert_int_eq(r.keys.counted, 1);
		totals_result_release(&r);
	}

	/* Two resources whose current buckets cover different spans (keys of
	 * the original agent start whenever a line came): each share has its
	 * own denominator and the sum stays exact.  a: 700 lines over 700 s,
	 * b: 1000 lines over 300 s, window 100 -> 100 + 333.333... */
	const struct kv kv2[] = {
		{ "web_client;a;s;1700006300", "700" },
		{ "web_client;b;s;1700006700", "1000" },
	};
	const char *const f[] = { "*" };
	struct totals_query q = query(f, 1, 100, 1700007000);
	q.width_s = w6;
	struct totals_result r;
	run(&q, kv2, 2, &r);
	ck_assert_int_eq(r.nrows, 2);
	ck_assert_str_eq(r.rows[0].fields[0], "b");
	ck_assert_str_eq(FMT(r.rows[0]), "333.333");
	ck_assert_int_eq(r.rows[1].whole, 100);
	ck_assert_int_eq(r.rows[1].frac, 0);
	ck_assert_int_eq(r.whole, 433);
	ck_assert_int_eq(r.frac * 3, r.den);	/* 1/3 exactly */
	ck_assert_int_eq(r.keys.rounded, 0);
	totals_result_release(&r);
}
END_TEST

/*
 * The bucket before the window ends at the first of: its width, the start
 * of the next newer bucket of the same resource, now.
 */
START_TEST(prorate_end_rule)
{
	struct totals_result r;
	/* A gap: traffic stopped after T0's bucket, nothing newer.  lo = T0+300:
	 * T0 ends at T0+W (not at now), 600 of its 900 s inside -> 9 * 2/3. */
	const struct kv gap[] = { { key(T0, "a;s"), "9" } };
	struct totals_query q = query(NULL, 0, 5 * W - 300, T0 + 5 * W);
	run(&q, gap, 1, &r);
	ck_assert_str_eq(FMT(r), "6");
	ck_assert_int_eq(r.keys.counted, 1);
	totals_result_release(&r);

	/* The next bucket starts before T0's width is over (the rule's width
	 * shrank to 300 s at T0+300): T0's lines cover [T0, T0+300], lo =
	 * T0+200 -> 9 * 100/300, plus the newer bucket whole. */
	const struct kv shrunk[] = { { key(T0, "a;s"), "9" }, { key(T0 + 300, "a;s"), "4" } };
	q = query(NULL, 0, 400, T0 + 600);
	run(&q, shrunk, 2, &r);
	ck_assert_str_eq(FMT(r), "7");
	totals_result_release(&r);

	/* A bucket of another resource does not end it. */
	const struct kv other[] = { { key(T0, "a;s"), "9" }, { key(T0 + 300, "b;s"), "4" } };
	run(&q, other, 2, &r);
	ck_assert_str_eq(FMT(r), "10");	/* 9 * 600/900 (ends at now) + 4 */
	totals_result_release(&r);

	/* A future bucket (clock skew) does not end it either: now does. */
	const struct kv fut[] = { { key(T0, "a;s"), "9" }, { key(T0 + 700, "a;s"), "4" } };
	run(&q, fut, 2, &r);
	ck_assert_str_eq(FMT(r), "6");	/* 9 * 400/600 */
	ck_assert_int_eq(r.keys.future, 1);
	totals_result_release(&r);
}
END_TEST

/*
 * Current buckets of many different spans (unaligned keys): the exact common
 * denominator would pass TOTALS_MAX_DEN, so later shares are rounded to the
 * nearest 1/den and counted; the total stays within 1e-6 of the exact sum
 * (computed here in long double).  A next bucket starting at lo leaves
 * nothing of the older one inside.
 */
START_TEST(many_spans_rounded)
{
	static const int primes[] = { 101, 103, 107, 109, 113, 127, 131, 137, 139, 149,
				      151, 157, 163, 167, 173, 179, 181, 191, 193, 197 };
	enum { NP = sizeof(primes) / sizeof(primes[0]) };
	const long long now = 1700007000;
	static char kbuf[NP][64], vbuf[NP][24];
	struct kv kv[NP];
	long double exact = 0;
	for (int i = 0; i < NP; i++) {
		long long v = 1000 + 7 * i;
		snprintf(kbuf[i], sizeof(kbuf[i]), "web_client;m%d;s;%lld", i, now - primes[i]);
		snprintf(vbuf[i], sizeof(vbuf[i]), "%lld", v);
		kv[i] = (struct kv){ kbuf[i], vbuf[i] };
		exact += (long double)v * 50 / primes[i];	/* window 50 of each span */
	}
	struct totals_query q = query(NULL, 0, 50, now);
	q.width_s = 21600;
	struct totals_result r;
	run(&q, kv, NP, &r);
	ck_assert_int_gt(r.keys.rounded, 0);
	ck_assert_int_le(r.den, TOTALS_MAX_DEN);
	ck_assert(r.frac >= 0 && r.frac < r.den);
	long double got = (long double)r.whole + (long double)r.frac / r.den;
	ck_assert_msg(got - exact < 1e-6L && exact - got < 1e-6L, "%.9Lf vs %.9Lf", got, exact);
	ck_assert_int_eq(r.keys.counted, NP);
	totals_result_release(&r);

	const struct kv at_lo[] = { { key(T0, "a;s"), "9" }, { key(T0 + 300, "a;s"), "4" } };
	q = query(NULL, 0, 300, T0 + 600);	/* lo = T0+300 */
	run(&q, at_lo, 2, &r);
	ck_assert_str_eq(FMT(r), "4");
	ck_assert_int_eq(r.keys.counted, 1);
	totals_result_release(&r);
}
END_TEST

/*
 * A window longer than the keys' ttl: the oldest buckets have expired, so
 * the total is short of what was sent; the result says so.
 */
START_TEST(window_past_ttl)
{
	struct kv kv[7];
	struct totals_result r;
	struct buf b = BUF_INIT;
	load(kv, "a;s1", T0);
	struct totals_query q = query(NULL, 0, 2 * 3600, T0 + 5 * W + 300);
	q.ttl_s = 3600;
	run(&q, kv, 7, &r);
	ck_assert(r.past_ttl);
	ck_assert_int_eq(r.ttl_s, 3600);
	ck_assert_int_eq(totals_json(&r, &b), 0);
	ck_assert_msg(strstr(b.data, "\"warnings\":[\"window 7200 s is longer than the ttl of "
			     "'web_client' (3600 s): buckets older than 3600 s have expired, "
			     "the total covers about the last 3600 s only\"]") != NULL,
		      "%s", b.data);
	totals_result_release(&r);

	/* A window of the ttl or less, or an unknown ttl: no warning. */
	q.window_s = 3600;
	run(&q, kv, 7, &r);
	ck_assert(!r.past_ttl);
	buf_reset(&b);
	totals_json(&r, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "\"warnings\":[]"));
	totals_result_release(&r);
	q.window_s = 7200;
	q.ttl_s = 0;
	run(&q, kv, 7, &r);
	ck_assert(!r.past_ttl);
	totals_result_release(&r);
	buf_release(&b);

	char err[128];
	q.ttl_s = -1;
	ck_assert_int_eq(totals_query_check(&q, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "ttl -1 s is out of range"));
}
END_TEST

START_TEST(only_newest_before_window)
{
	/* Buckets of another width (the rule changed): two start before lo and
	 * both reach into the window; only the newer one counts. */
	const struct kv kv[] = {
		{ key(T0 + 1000, "a;s1"), "900" },	/* lo = T0+1200: 700 of 900 s */
		{ key(T0 + 500, "a;s1"), "900" },	/* older: ignored */
		{ key(T0 + 1300, "a;s1"), "5" },
	};
	/* T0+1000's lines cover [T0+1000, T0+1300] (the next bucket's start):
	 * 100 of those 300 s are inside -> 900 / 3 = 300, plus 5. */
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 1000, T0 + 2200);
	run(&q, kv, 3, &r);
	ck_assert_str_eq(FMT(r), "305");
	ck_assert_int_eq(r.keys.counted, 2);
	totals_result_release(&r);

	/* The same keys in the other order: SCAN gives no order. */
	const struct kv rev[] = { kv[2], kv[0], kv[1] };
	run(&q, rev, 3, &r);
	ck_assert_str_eq(FMT(r), "305");
	totals_result_release(&r);
}
END_TEST

/* Two matched values, three sources, all inside the window. */
static const struct kv grid[] = {
	{ "web_client;10.0.0.224,200;web1;1700000100", "4" },
	{ "web_client;10.0.0.224,200;web2;1700000100", "2" },
	{ "web_client;10.0.0.224,200;web2;1700001000", "1" },
	{ "web_client;10.0.0.224,304;web1;1700001000", "2" },
	{ "web_client;10.0.0.9,404;web3;1700001000", "2" },
};
#define NGRID (sizeof(grid) / sizeof(grid[0]))

START_TEST(group_none)
{
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.ngroup, 0);
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_str_eq(FMT(r.rows[0]), "11");
	ck_assert_str_eq(FMT(r), "11");
	totals_result_release(&r);
}
END_TEST

START_TEST(group_by_matched)
{
	/* The original client: total(['web_client', None], 3600). */
	struct totals_result r;
	const char *const f[] = { "*" };
	struct totals_query q = query(f, 1, 3600, T0 + 2 * W);
	run(&q, grid, NGRID - 1, &r);
	ck_assert_int_eq(r.ngroup, 1);
	ck_assert_int_eq(r.group_by[0], 0);
	ck_assert_int_eq(r.nrows, 2);
	ck_assert_str_eq(r.rows[0].fields[0], "10.0.0.224,200");
	ck_assert_str_eq(FMT(r.rows[0]), "7");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(FMT(r.rows[1]), "2");
	ck_assert_str_eq(FMT(r), "9");
	totals_result_release(&r);
}
END_TEST

START_TEST(group_by_matched_and_source)
{
	struct totals_result r;
	const char *const f[] = { "*", NULL };
	struct totals_query q = query(f, 2, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.ngroup, 2);
	ck_assert_int_eq(r.nrows, 4);
	/* 4, then three rows of 3 and 2 and 2 in label order. */
	ck_assert_str_eq(r.rows[0].fields[1], "web1");
	ck_assert_str_eq(FMT(r.rows[0]), "4");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,200");
	ck_assert_str_eq(r.rows[1].fields[1], "web2");
	ck_assert_str_eq(FMT(r.rows[1]), "3");
	ck_assert_str_eq(r.rows[2].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(r.rows[3].fields[0], "10.0.0.9,404");
	ck_assert_str_eq(r.rows[3].fields[1], "web3");
	ck_assert_str_eq(FMT(r), "11");
	totals_result_release(&r);
}
END_TEST

START_TEST(literals)
{
	struct totals_result r;
	const char *const f[] = { "10.0.0.224,200" };
	struct totals_query q = query(f, 1, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.ngroup, 0);
	ck_assert_int_eq(r.nrows, 1);
	ck_assert_str_eq(FMT(r), "7");
	ck_assert_int_eq(r.keys.counted, 3);
	totals_result_release(&r);

	/* Grouped by matched, source fixed. */
	const char *const g[] = { "*", "web1" };
	q = query(g, 2, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.ngroup, 1);
	ck_assert_int_eq(r.nrows, 2);
	ck_assert_str_eq(r.rows[0].fields[0], "10.0.0.224,200");
	ck_assert_str_eq(FMT(r.rows[0]), "4");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(FMT(r), "6");
	totals_result_release(&r);

	/* A literal that is a prefix of a value does not match it. */
	const char *const h[] = { "10.0.0.224" };
	q = query(h, 1, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.nrows, 0);
	ck_assert_str_eq(FMT(r), "0");
	totals_result_release(&r);
}
END_TEST

START_TEST(extra_fields_summed)
{
	/* Keys with three fields; the query names one: the rest are summed. */
	const struct kv kv[] = {
		{ "web_client;GET;web1;eu;1700000100", "1" },
		{ "web_client;GET;web2;us;1700000100", "2" },
		{ "web_client;PUT;web1;eu;1700000100", "4" },
		{ "web_client;GET;web1;1700000100", "8" },	/* a two-field key */
	};
	struct totals_result r;
	const char *const f[] = { "*", "*", "*" };
	struct totals_query q = query(f, 1, 3600, T0 + W);
	run(&q, kv, 4, &r);
	ck_assert_int_eq(r.nrows, 2);
	ck_assert_str_eq(r.rows[0].fields[0], "GET");
	ck_assert_str_eq(FMT(r.rows[0]), "11");
	totals_result_release(&r);

	/* Three selectors: the two-field key has too few fields. */
	q = query(f, 3, 3600, T0 + W);
	run(&q, kv, 4, &r);
	ck_assert_int_eq(r.nrows, 3);
	ck_assert_str_eq(r.rows[0].fields[2], "eu");
	ck_assert_int_eq(r.keys.skipped, 1);
	totals_result_release(&r);
}
END_TEST

START_TEST(sorting)
{
	const struct kv kv[] = {
		{ "web_client;b;s;1700000100", "5" },
		{ "web_client;a;s;1700000100", "5" },
		{ "web_client;c;s;1700000100", "9" },
		{ "web_client;d;s;1700000100", "1" },
		{ "web_client;aa;s;1700000100", "5" },
		/* e: 4.5 after pro-rating (9 * 450/900), between 5 and 1 */
		{ "web_client;e;s;1699999200", "9" },
	};
	struct totals_result r;
	const char *const f[] = { "*" };
	struct totals_query q = query(f, 1, 900, T0 + 450);
	run(&q, kv, 6, &r);
	const char *order[] = { "c", "a", "aa", "b", "e", "d" };
	ck_assert_int_eq(r.nrows, 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_str_eq(r.rows[i].fields[0], order[i]);
	ck_assert_str_eq(FMT(r.rows[4]), "4.500");
	ck_assert_str_eq(FMT(r), "29.500");
	totals_result_release(&r);
}
END_TEST

START_TEST(unparsable_skipped)
{
	const struct kv kv[] = {
		{ "web_client;1700000100", "1" },		/* no field */
		{ "web_client;a;s;17000x0100", "1" },		/* start_ts */
		{ "web_client;a;s;", "1" },			/* empty start_ts */
		{ "web_client;a;s;-1700000100", "1" },		/* negative start_ts */
		{ "web_client;a;s;99999999999999999999", "1" },	/* out of range */
		{ "web_client;a;s;1700000100", "1.5" },		/* value */
		{ "web_client;a;s;1700000100", "" },
		{ "web_client;a;s;1700000100", " 1" },
		{ "web_client;a;s;1700000100", "9223372036854775808" },
		{ "web_client", "1" },				/* no ';' at all */
		{ "other;a;s;1700000100", "100" },		/* another prefix: ignored */
		{ "web_clientx;a;s;1700000100", "100" },
		{ "web_client;a;t;1700000100", "6" },		/* good */
	};
	size_t n = sizeof(kv) / sizeof(kv[0]);
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 3600, T0 + W);
	run(&q, kv, n, &r);
	ck_assert_str_eq(FMT(r), "6");
	ck_assert_int_eq(r.keys.seen, n);
	ck_assert_int_eq(r.keys.skipped, 9);
	ck_assert_int_eq(r.keys.counted, 1);
	totals_result_release(&r);
}
END_TEST

START_TEST(repeated_keys_once)
{
	/* SCAN may return a key twice: count it once, whole or pro-rated. */
	const struct kv kv[] = {
		{ key(T0 + W, "a;s"), "10" },
		{ key(T0, "a;s"), "9" },
		{ key(T0 + W, "a;s"), "10" },
		{ key(T0, "a;s"), "9" },
	};
	struct totals_result r;
	struct totals_query q = query(NULL, 0, W, T0 + W + 300);	/* T0: 600/900 */
	run(&q, kv, 4, &r);
	ck_assert_str_eq(FMT(r), "16");
	ck_assert_int_eq(r.keys.repeated, 2);
	ck_assert_int_eq(r.keys.counted, 2);
	totals_result_release(&r);
}
END_TEST

START_TEST(missing_and_negative)
{
	char err[128];
	/* Counters below zero are integers too: summed exactly, floor-normalised. */
	struct totals_query q = query(NULL, 0, W + 200, T0 + W);	/* lo = T0 - 200 */
	struct totals_acc *a = totals_acc_new(&q, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	totals_acc_missing(a);
	/* T0 - W, ended by the next bucket at T0 - 100: 100 of 800 s inside. */
	const char *k = "web_client;a;s;1699999200";
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "5", 1), 0);
	k = "web_client;a;s;1700000000";		/* inside: whole */
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "-9", 2), 0);
	ck_assert_str_eq(totals_acc_error(a), "");
	struct totals_result r;
	ck_assert_int_eq(totals_acc_finish(a, &r), 0);
	ck_assert_str_eq(FMT(r), "-8.375");	/* -9 + 5/8 */
	ck_assert_int_eq(r.whole, -9);
	ck_assert_int_eq(r.frac, 5);
	ck_assert_int_eq(r.den, 8);
	ck_assert_int_eq(r.keys.missing, 1);
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "1", 1), -1);	/* finished */
	totals_acc_free(a);
	totals_result_release(&r);
}
END_TEST

/*
 * Two shares of 2/3 (each resource's newest bucket before the window, 600
 * of its 900 s inside) add up past 1: the fraction carries into the whole.
 * Below zero the same shares floor: -1 * 2/3 is -1 + 1/3.
 */
START_TEST(fraction_carry_and_negative_share)
{
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 4 * W, T0 + 5 * W + 300);	/* lo = T0+W+300 */
	struct kv two[] = { { key(T0 + W, "a;s1"), "1" }, { key(T0 + W, "b;s1"), "1" } };
	run(&q, two, 2, &r);
	ck_assert_int_eq(r.whole, 1);
	ck_assert_int_eq(r.frac * 3, r.den);	/* 4/3 = 1 + 1/3 */
	ck_assert_str_eq(FMT(r), "1.333");
	totals_result_release(&r);

	struct kv neg[] = { { key(T0 + W, "a;s1"), "-1" } };
	run(&q, neg, 1, &r);
	ck_assert_int_eq(r.whole, -1);
	ck_assert_int_eq(r.frac * 3, r.den);	/* -2/3 = -1 + 1/3 */
	ck_assert_str_eq(FMT(r), "-0.667");
	totals_result_release(&r);

	/* 5 shares of 2/3 and 2 of -2/3: 2 exactly, the fraction gone */
	const char *mids[] = { "a;s1", "b;s1", "c;s1", "d;s1", "e;s1", "f;s1", "g;s1" };
	const char *vals7[] = { "1", "1", "1", "1", "1", "-1", "-1" };
	struct kv seven[7];
	for (int i = 0; i < 7; i++)
		seven[i] = (struct kv){ key(T0 + W, mids[i]), vals7[i] };
	run(&q, seven, 7, &r);
	ck_assert_int_eq(r.whole, 2);
	ck_assert_int_eq(r.frac, 0);
	totals_result_release(&r);
}
END_TEST

/* A total that leaves long long is an error, never a wrapped number. */
START_TEST(totals_out_of_range)
{
	char err[128];
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 4 * W, T0 + 5 * W + 300);
	const char *max = "9223372036854775807";
	/* whole buckets: the sum overflows at the second key */
	struct totals_acc *a = totals_acc_new(&q, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	const char *k = key(T0 + 3 * W, "a;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), max, strlen(max)), 0);
	k = key(T0 + 3 * W, "b;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "1", 1), -1);
	ck_assert_str_eq(totals_acc_error(a), "a total is out of range");
	totals_acc_free(a);

	/* a pro-rated share that overflows at finish */
	a = totals_acc_new(&q, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	k = key(T0 + 3 * W, "a;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), max, strlen(max)), 0);
	k = key(T0 + W, "b;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "3", 1), 0);	/* 2 of it inside */
	ck_assert_int_eq(totals_acc_finish(a, &r), -1);
	ck_assert_str_eq(totals_acc_error(a), "a total is out of range");
	totals_acc_free(a);

	/* rows each in range, their grand total not */
	const char *const f[] = { "*" };
	q = query(f, 1, 4 * W, T0 + 5 * W + 300);
	a = totals_acc_new(&q, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	k = key(T0 + 3 * W, "a;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), max, strlen(max)), 0);
	k = key(T0 + 3 * W, "b;s1");
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "1", 1), 0);
	ck_assert_int_eq(totals_acc_finish(a, &r), -1);
	ck_assert_str_eq(totals_acc_error(a), "the grand total is out of range");
	totals_acc_free(a);
}
END_TEST

START_TEST(formatting)
{
	char out[32];
	totals_fmt(12, 0, 900, out, sizeof(out));
	ck_assert_str_eq(out, "12");
	totals_fmt(12, 450, 900, out, sizeof(out));
	ck_assert_str_eq(out, "12.500");
	totals_fmt(0, 1, 900, out, sizeof(out));
	ck_assert_str_eq(out, "0.001");
	totals_fmt(12, 899, 900, out, sizeof(out));	/* 12.9989 */
	ck_assert_str_eq(out, "12.999");
	totals_fmt(12, 3599999, 3600000, out, sizeof(out));	/* rounds up */
	ck_assert_str_eq(out, "13.000");
	totals_fmt(-1, 675, 900, out, sizeof(out));	/* -0.25 */
	ck_assert_str_eq(out, "-0.250");
	totals_fmt(-3, 225, 900, out, sizeof(out));	/* -2.75 */
	ck_assert_str_eq(out, "-2.750");
}
END_TEST

START_TEST(json_rendering)
{
	const struct kv kv[] = {
		{ "web_client;10.0.0.224,200;web1;1700000100", "7" },
		{ "web_client;say \"hi\";web1;1700000100", "2" },
		{ "web_client;10.0.0.224,304;web1;1699999200", "3" },
	};
	struct totals_result r;
	const char *const f[] = { "*", "*" };
	struct totals_query q = query(f, 2, 600, T0 + 300);	/* lo = T0-300: 1/3 of T0-W */
	run(&q, kv, 3, &r);
	struct buf b = BUF_INIT;
	ck_assert_int_eq(totals_json(&r, &b), 0);
	ck_assert_str_eq(b.data,
		"{\"prefix\":\"web_client\",\"window\":600,\"width\":900,\"ttl\":0,\"now\":1700000400,"
		"\"group_by\":[0,1],\"rows\":["
		"{\"fields\":[\"10.0.0.224,200\",\"web1\"],\"total\":7},"
		"{\"fields\":[\"say \\\"hi\\\"\",\"web1\"],\"total\":2},"
		"{\"fields\":[\"10.0.0.224,304\",\"web1\"],\"total\":1}],"
		"\"total\":10,\"keys\":{\"seen\":3,\"counted\":3,\"skipped\":0,"
		"\"future\":0,\"missing\":0,\"repeated\":0,\"rounded\":0},\"warnings\":[]}");
	totals_result_release(&r);

	/* No data at all. */
	q = query(NULL, 0, 900, T0);
	run(&q, NULL, 0, &r);
	buf_reset(&b);
	totals_json(&r, &b);
	ck_assert_str_eq(b.data,
		"{\"prefix\":\"web_client\",\"window\":900,\"width\":900,\"ttl\":0,\"now\":1700000100,"
		"\"group_by\":[],\"rows\":[],\"total\":0,\"keys\":{\"seen\":0,\"counted\":0,"
		"\"skipped\":0,\"future\":0,\"missing\":0,\"repeated\":0,\"rounded\":0},"
		"\"warnings\":[]}");
	totals_result_release(&r);
	buf_release(&b);
}
END_TEST

Suite *totals_suite(void)
{
	Suite *s = suite_create("totals");
	TCase *tc = tcase_create("pattern");
	tcase_add_test(tc, pattern_building);
	tcase_add_test(tc, pattern_escaping);
	tcase_add_test(tc, query_checks);
	suite_add_tcase(s, tc);
	tc = tcase_create("window");
	tcase_add_test(tc, window_inside_prorated_old_future);
	tcase_add_test(tc, window_on_bucket_boundary);
	tcase_add_test(tc, window_longer_than_data);
	tcase_add_test(tc, only_newest_before_window);
	tcase_add_test(tc, current_bucket_straddling);
	tcase_add_test(tc, prorate_end_rule);
	tcase_add_test(tc, many_spans_rounded);
	tcase_add_test(tc, window_past_ttl);
	suite_add_tcase(s, tc);
	tc = tcase_create("grouping");
	tcase_add_test(tc, group_none);
	tcase_add_test(tc, group_by_matched);
	tcase_add_test(tc, group_by_matched_and_source);
	tcase_add_test(tc, literals);
	tcase_add_test(tc, extra_fields_summed);
	tcase_add_test(tc, sorting);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_add_test(tc, unparsable_skipped);
	tcase_add_test(tc, repeated_keys_once);
	tcase_add_test(tc, missing_and_negative);
	tcase_add_test(tc, fraction_carry_and_negative_share);
	tcase_add_test(tc, totals_out_of_range);
	tcase_add_test(tc, formatting);
	tcase_add_test(tc, json_rendering);
	suite_add_tcase(s, tc);
	return s;
}
