/*
 * test_totalizer_oom.c — every allocation of the totalizer's pure code
 * failed in turn (failalloc.h): the counting table's growth and merge, a
 * rule's compilation, the totals accumulator and its JSON.  At each failure
 * the call reports it (its documented error return), the object is still
 * consistent (what it holds is exactly what was counted) and usable, and
 * nothing leaks (the SANITIZE build).
 */
#include <stdio.h>
#include <string.h>

#include "failalloc.h"
#include "rules.h"
#include "suites.h"
#include "tally.h"
#include "window.h"

#define NKEYS 300

static const char *tkey(int i)
{
	static char k[32];
	snprintf(k, sizeof(k), "p;%d;s;0", i);
	return k;
}

/* Sum of deltas and count of used slots, read from the slots themselves. */
static void tally_sums(const struct tally *t, uint64_t *total, size_t *count)
{
	*total = 0;
	*count = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].used) {
			*total += (uint64_t)t->slots[i].delta;
			(*count)++;
		}
}

static void tally_grow_body(void *arg)
{
	(void)arg;
	struct key_fields f = { 0 };
	oom_arm();
	struct tally *t = tally_new(1);
	int done = 0, rc = 0;
	if (t)
		for (; done < NKEYS; done++) {
			const char *k = tkey(done);
			if ((rc = tally_add(t, k, strlen(k), done + 1, 60, &f)) != 0)
				break;
		}
	bool failed = oom_disarm();
	if (!t) {
		ck_assert(failed);
		return;
	}
	ck_assert_int_eq(rc, failed ? -1 : 0);
	/* What the table holds is exactly the keys added before the failure. */
	uint64_t total;
	size_t count;
	tally_sums(t, &total, &count);
	ck_assert_uint_eq(count, (size_t)done);
	ck_assert_uint_eq(t->count, (size_t)done);
	ck_assert_uint_eq(total, (uint64_t)done * (done + 1) / 2);
	ck_assert_uint_eq(t->total, total);
	/* Still usable: the rest goes in. */
	for (int i = done; i < NKEYS; i++) {
		const char *k = tkey(i);
		ck_assert_int_eq(tally_add(t, k, strlen(k), i + 1, 60, &f), 0);
	}
	ck_assert_uint_eq(t->count, NKEYS);
	ck_assert_uint_eq(t->total, (uint64_t)NKEYS * (NKEYS + 1) / 2);
	tally_free(t);
}

START_TEST(tally_grow_oom)
{
	oom_loop("tally_add", tally_grow_body, NULL);
}
END_TEST

static void tally_merge_body(void *arg)
{
	(void)arg;
	struct key_fields f = { 0 };
	struct tally *dst = tally_new(1), *src = tally_new(8);
	ck_assert(dst && src);
	tally_add(dst, "p;0;s;0", 7, 5, 60, &f);
	for (int i = 0; i < NKEYS; i++) {
		const char *k = tkey(i);
		ck_assert_int_eq(tally_add(src, k, strlen(k), 1, 60, &f), 0);
	}
	uint64_t dk = 0, dc = 0;
	oom_arm();
	int rc = tally_merge(dst, src, 1000, &dk, &dc);
	bool failed = oom_disarm();
	ck_assert_int_eq(rc, failed ? -1 : 0);
	/* Nothing lost unaccounted: merged + dropped = what src held. */
	ck_assert_uint_eq(dst->total + dc, 5 + NKEYS);
	ck_assert_uint_eq(dst->count + dk, NKEYS);
	uint64_t total;
	size_t count;
	tally_sums(dst, &total, &count);
	ck_assert_uint_eq(total, dst->total);
	ck_assert_uint_eq(count, dst->count);
	if (!failed)
		ck_assert_uint_eq(dk, 0);
	tally_free(dst);
	tally_free(src);
}

START_TEST(tally_merge_oom)
{
	oom_loop("tally_merge", tally_merge_body, NULL);
}
END_TEST

static void rule_body(void *arg)
{
	(void)arg;
	struct rule_cfg c = {
		.name = "r", .prefix = "web", .listen = "127.0.0.1:1", .match = "GET (\\S+)",
		.matched = "$1", .source = "$peer", .ttl = 3600, .buckets = 4,
		.keypattern = "<prefix>;<matched>;<source>;<start_ts>",
	};
	char err[256] = "";
	oom_arm();
	struct rule *r = rule_compile(&c, err, sizeof(err));
	struct rule_scratch *s = r ? rule_scratch_new() : NULL;
	bool failed = oom_disarm();
	if (!r) {
		ck_assert(failed);
		ck_assert_msg(err[0] != '\0', "no reason given at n=%ld", oom_n());
		return;
	}
	if (!s) {
		ck_assert(failed);
		rule_free(r);
		return;
	}
	ck_assert_str_eq(rule_name(r), "r");
	ck_assert_str_eq(rule_prefix(r), "web");
	rule_scratch_free(s);
	rule_free(r);
}

START_TEST(rule_compile_oom)
{
	oom_loop("rule_compile", rule_body, NULL);
}
END_TEST

/* Two groups over a window of whole buckets: a = 1 + 2, b = 4. */
static void totals_body(void *arg)
{
	(void)arg;
	static const char *const fields[] = { "*", "s" };
	struct totals_query q = { .prefix = "web", .fields = fields, .nfields = 2,
				  .window_s = 1800, .width_s = 900, .now = 1700001900 };
	static const struct { const char *k, *v; } kv[] = {
		{ "web;a;s;1700000100", "1" }, { "web;a;s;1700001000", "2" },
		{ "web;b;s;1700001000", "4" }, { "web;c;t;1700001000", "8" },
	};
	char err[256] = "";
	struct totals_result r;
	struct buf pat = BUF_INIT, json = BUF_INIT;
	int step = 0, rc = 0;
	oom_arm();
	struct totals_acc *a = totals_acc_new(&q, err, sizeof(err));
	if (a) {
		for (step = 1; step <= 4 && rc == 0; step++)
			rc = totals_acc_add(a, kv[step - 1].k, strlen(kv[step - 1].k), kv[step - 1].v,
					    strlen(kv[step - 1].v));
		if (rc == 0)
			rc = totals_acc_finish(a, &r) == 0 ? 0 : -2;
	}
	int jrc = 0, prc = totals_pattern(&q, &pat);
	if (a && rc == 0)
		jrc = totals_json(&r, &json);
	bool failed = oom_disarm();
	if (!a) {
		ck_assert(failed);
		ck_assert_msg(strstr(err, "out of memory") != NULL, "%s", err);
	} else if (rc != 0) {
		ck_assert(failed);
		ck_assert_msg(strstr(totals_acc_error(a), "out of memory") != NULL, "%s",
			      totals_acc_error(a));
	} else {
		ck_assert_uint_eq(r.nrows, 2);
		ck_assert_str_eq(r.rows[0].fields[0], "b");
		ck_assert_int_eq(r.rows[0].whole, 4);
		ck_assert_str_eq(r.rows[1].fields[0], "a");
		ck_assert_int_eq(r.rows[1].whole, 3);
		ck_assert_int_eq(r.whole, 7);
		if (jrc == 0)
			ck_assert_msg(strstr(json.data, "\"rows\":[{\"fields\":[\"b\"],\"total\":4},"
						   "{\"fields\":[\"a\"],\"total\":3}]") != NULL,
				      "%s", json.data);
		else
			ck_assert(failed && json.oom);
		totals_result_release(&r);
	}
	if (prc == 0)
		ck_assert_str_eq(pat.data, "web;*;s;*");
	else
		ck_assert(failed && pat.oom);
	totals_acc_free(a);
	buf_release(&pat);
	buf_release(&json);
}

START_TEST(totals_acc_oom)
{
	oom_loop("totals accumulator", totals_body, NULL);
}
END_TEST

Suite *totalizer_oom_suite(void)
{
	Suite *s = suite_create("totalizer_oom");
	TCase *tc = tcase_create("oom");
	tcase_add_test(tc, tally_grow_oom);
	tcase_add_test(tc, tally_merge_oom);
	tcase_add_test(tc, rule_compile_oom);
	tcase_add_test(tc, totals_acc_oom);
	suite_add_tcase(s, tc);
	return s;
}
