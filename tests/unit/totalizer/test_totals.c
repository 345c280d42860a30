/*
 * test_totals.c — the totals query's pure core: the SCAN pattern and its
 * escaping, the window arithmetic on fixed buckets, grouping by wildcards
 * and literals, sorting, unparsable and repeated keys, and the JSON.
 *
 * Fixtures: width W = 900 s (ttl 3600, 4 buckets), buckets aligned on
 * T0 = 1700000100 (a multiple of 900).
 */
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "totals.h"

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

static const char *fmt(long long whole, long long frac)
{
	static char out[32];
	totals_fmt(whole, frac, W, out, sizeof(out));
	return out;
}

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
	ck_assert_str_eq(fmt(r.whole, r.frac), "152");
	ck_assert_int_eq(r.keys.seen, 7);
	ck_assert_int_eq(r.keys.counted, 5);
	ck_assert_int_eq(r.keys.future, 1);
	ck_assert_int_eq(r.keys.skipped, 0);
	totals_result_release(&r);

	/* A fraction that is not whole: the straddling bucket holds 1 -> 0.667. */
	kv[1].val = "1";
	run(&q, kv, 7, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "150.667");
	ck_assert_int_eq(r.frac, 600);
	totals_result_release(&r);

	/* Window ending mid-bucket: now = T0+5W+899, lo = T0+W+899 -> 1/900 of T0+W. */
	kv[1].val = "900";
	q.now = T0 + 5 * W + 899;
	run(&q, kv, 7, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "151");
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
	ck_assert_str_eq(fmt(r.whole, r.frac), "153");
	ck_assert_int_eq(r.keys.counted, 5);
	totals_result_release(&r);

	/* One second later the oldest whole bucket starts pro-rating. */
	q.now++;
	run(&q, kv, 7, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "152.997");
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
	ck_assert_str_eq(fmt(r.whole, r.frac), "1153");	/* all but the future one */
	ck_assert_int_eq(r.keys.counted, 6);
	totals_result_release(&r);

	/* A window shorter than one bucket: only the current bucket, pro-rated
	 * when it started before the window. */
	q.window_s = 100;	/* lo = T0+5W+200: T0+5W covers 700 of 900 */
	run(&q, kv, 7, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "62.222");
	totals_result_release(&r);
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
	struct totals_result r;
	struct totals_query q = query(NULL, 0, 1000, T0 + 2200);
	run(&q, kv, 3, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "705");
	ck_assert_int_eq(r.keys.counted, 2);
	totals_result_release(&r);

	/* The same keys in the other order: SCAN gives no order. */
	const struct kv rev[] = { kv[2], kv[0], kv[1] };
	run(&q, rev, 3, &r);
	ck_assert_str_eq(fmt(r.whole, r.frac), "705");
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
	ck_assert_str_eq(fmt(r.rows[0].whole, r.rows[0].frac), "11");
	ck_assert_str_eq(fmt(r.whole, r.frac), "11");
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
	ck_assert_str_eq(fmt(r.rows[0].whole, r.rows[0].frac), "7");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(fmt(r.rows[1].whole, r.rows[1].frac), "2");
	ck_assert_str_eq(fmt(r.whole, r.frac), "9");
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
	ck_assert_str_eq(fmt(r.rows[0].whole, 0), "4");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,200");
	ck_assert_str_eq(r.rows[1].fields[1], "web2");
	ck_assert_str_eq(fmt(r.rows[1].whole, 0), "3");
	ck_assert_str_eq(r.rows[2].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(r.rows[3].fields[0], "10.0.0.9,404");
	ck_assert_str_eq(r.rows[3].fields[1], "web3");
	ck_assert_str_eq(fmt(r.whole, r.frac), "11");
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
	ck_assert_str_eq(fmt(r.whole, r.frac), "7");
	ck_assert_int_eq(r.keys.counted, 3);
	totals_result_release(&r);

	/* Grouped by matched, source fixed. */
	const char *const g[] = { "*", "web1" };
	q = query(g, 2, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.ngroup, 1);
	ck_assert_int_eq(r.nrows, 2);
	ck_assert_str_eq(r.rows[0].fields[0], "10.0.0.224,200");
	ck_assert_str_eq(fmt(r.rows[0].whole, 0), "4");
	ck_assert_str_eq(r.rows[1].fields[0], "10.0.0.224,304");
	ck_assert_str_eq(fmt(r.whole, r.frac), "6");
	totals_result_release(&r);

	/* A literal that is a prefix of a value does not match it. */
	const char *const h[] = { "10.0.0.224" };
	q = query(h, 1, 3600, T0 + 2 * W);
	run(&q, grid, NGRID, &r);
	ck_assert_int_eq(r.nrows, 0);
	ck_assert_str_eq(fmt(r.whole, r.frac), "0");
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
	ck_assert_str_eq(fmt(r.rows[0].whole, 0), "11");
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
	ck_assert_str_eq(fmt(r.rows[4].whole, r.rows[4].frac), "4.500");
	ck_assert_str_eq(fmt(r.whole, r.frac), "29.500");
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
	ck_assert_str_eq(fmt(r.whole, r.frac), "6");
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
	ck_assert_str_eq(fmt(r.whole, r.frac), "16");
	ck_assert_int_eq(r.keys.repeated, 2);
	ck_assert_int_eq(r.keys.counted, 2);
	totals_result_release(&r);
}
END_TEST

START_TEST(missing_and_negative)
{
	char err[128];
	/* Counters below zero are integers too: summed exactly, floor-normalised. */
	struct totals_query q = query(NULL, 0, W + 100, T0 + W);	/* lo = T0 - 100 */
	struct totals_acc *a = totals_acc_new(&q, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	totals_acc_missing(a);
	const char *k = "web_client;a;s;1699999200";	/* T0 - W: 100 of 900 s inside */
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "5", 1), 0);
	k = "web_client;a;s;1700000000";		/* starts at lo: whole */
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "-9", 2), 0);
	ck_assert_str_eq(totals_acc_error(a), "");
	struct totals_result r;
	ck_assert_int_eq(totals_acc_finish(a, &r), 0);
	ck_assert_str_eq(fmt(r.whole, r.frac), "-8.444");
	ck_assert_int_eq(r.keys.missing, 1);
	ck_assert_int_eq(totals_acc_add(a, k, strlen(k), "1", 1), -1);	/* finished */
	totals_acc_free(a);
	totals_result_release(&r);
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
		"{\"prefix\":\"web_client\",\"window\":600,\"width\":900,\"now\":1700000400,"
		"\"group_by\":[0,1],\"rows\":["
		"{\"fields\":[\"10.0.0.224,200\",\"web1\"],\"total\":7},"
		"{\"fields\":[\"say \\\"hi\\\"\",\"web1\"],\"total\":2},"
		"{\"fields\":[\"10.0.0.224,304\",\"web1\"],\"total\":1}],"
		"\"total\":10,\"keys\":{\"seen\":3,\"counted\":3,\"skipped\":0,"
		"\"future\":0,\"missing\":0,\"repeated\":0}}");
	totals_result_release(&r);

	/* No data at all. */
	q = query(NULL, 0, 900, T0);
	run(&q, NULL, 0, &r);
	buf_reset(&b);
	totals_json(&r, &b);
	ck_assert_str_eq(b.data,
		"{\"prefix\":\"web_client\",\"window\":900,\"width\":900,\"now\":1700000100,"
		"\"group_by\":[],\"rows\":[],\"total\":0,\"keys\":{\"seen\":0,\"counted\":0,"
		"\"skipped\":0,\"future\":0,\"missing\":0,\"repeated\":0}}");
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
	tcase_add_test(tc, formatting);
	tcase_add_test(tc, json_rendering);
	suite_add_tcase(s, tc);
	return s;
}
