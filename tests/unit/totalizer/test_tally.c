/* test_tally.c — the counting table: add, grow, merge with a key cap, clear,
 * admission at intake (also with the hash given and the prefetch hints),
 * giving memory back, 64-bit key offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "tally.h"

static int64_t get(const struct tally *t, const char *key)
{
	for (size_t i = 0; i < t->cap; i++) {
		const struct tally_entry *e = &t->slots[i];
		if (e->used && e->key_len == strlen(key) && memcmp(tally_key(t, e), key, e->key_len) == 0)
			return e->delta;
	}
	return -1;
}

START_TEST(add_and_grow)
{
	struct tally *t = tally_new(1);
	struct key_fields f = { 0 };
	char k[32];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 5000; i++) {
			snprintf(k, sizeof(k), "p;%d;s;0", i);
			ck_assert_int_eq(tally_add(t, k, strlen(k), i % 7 + 1, 60, &f), 0);
		}
	ck_assert_uint_eq(t->count, 5000);
	ck_assert_int_eq(get(t, "p;0;s;0"), 3);
	ck_assert_int_eq(get(t, "p;13;s;0"), 3 * 7);
	ck_assert_int_eq(get(t, "p;5000;s;0"), -1);
	uint64_t want = 0;
	for (int i = 0; i < 5000; i++)
		want += 3u * (unsigned)(i % 7 + 1);
	ck_assert_uint_eq(t->total, want);
	tally_clear(t);
	ck_assert_uint_eq(t->count, 0);
	ck_assert_int_eq(get(t, "p;0;s;0"), -1);
	tally_free(t);
}
END_TEST

START_TEST(merge_with_cap)
{
	struct tally *a = tally_new(8), *b = tally_new(8);
	struct key_fields f = { 0 };
	tally_add(a, "k1", 2, 5, 60, &f);
	tally_add(a, "k2", 2, 1, 60, &f);
	tally_add(b, "k2", 2, 2, 90, &f);
	tally_add(b, "k3", 2, 4, 60, &f);
	tally_add(b, "k4", 2, 8, 60, &f);
	uint64_t dk = 0, dc = 0;
	ck_assert_int_eq(tally_merge(a, b, 3, &dk, &dc), 0);
	ck_assert_int_eq(get(a, "k1"), 5);
	ck_assert_int_eq(get(a, "k2"), 3);	/* existing keys always merge */
	ck_assert_uint_eq(a->count, 3);		/* one of k3/k4 fit, the other dropped */
	ck_assert_uint_eq(dk, 1);
	ck_assert(dc == 4 || dc == 8);
	ck_assert_uint_eq(a->total + dc, 5 + 1 + 2 + 4 + 8);
	tally_free(a);
	tally_free(b);
}
END_TEST

START_TEST(admit_new_keys)
{
	struct tally *t = tally_new(8);
	struct key_fields f = { 0 };
	ck_assert_int_eq(tally_admit(t, "k1", 2, 1, 60, &f, true), TALLY_INSERTED);
	ck_assert_int_eq(tally_admit(t, "k1", 2, 2, 60, &f, false), TALLY_BUMPED);	/* a known key always counts */
	ck_assert_int_eq(tally_admit(t, "k2", 2, 4, 60, &f, false), TALLY_REFUSED);
	ck_assert_int_eq(tally_admit(t, "k2", 2, 4, 60, &f, true), TALLY_INSERTED);
	ck_assert_uint_eq(t->count, 2);
	ck_assert_int_eq(get(t, "k1"), 3);
	ck_assert_int_eq(get(t, "k2"), 4);
	ck_assert_uint_eq(t->total, 7);
	tally_free(t);
}
END_TEST

/* The batched intake's way (hash first, the two hints, then the add) counts
 * as tally_admit() does, across a growth that makes the hints stale. */
START_TEST(admit_hashed_with_hints)
{
	struct tally *a = tally_new(1), *b = tally_new(1);
	struct key_fields f = { 0 };
	char k[32];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 300; i++) {
			snprintf(k, sizeof(k), "p;%d;s;0", i % 200);
			size_t n = strlen(k);
			uint64_t h = tally_hash(k, n);
			tally_prefetch(b, h);
			tally_prefetch_key(b, h);
			int want = tally_admit(a, k, n, 1, 60, &f, i < 250);
			ck_assert_int_eq(tally_admit_hashed(b, k, n, h, 1, 60, &f, i < 250), want);
		}
	ck_assert_uint_eq(b->count, a->count);
	ck_assert_uint_eq(b->total, a->total);
	ck_assert_int_eq(get(b, "p;7;s;0"), get(a, "p;7;s;0"));
	ck_assert_int_eq(get(b, "p;199;s;0"), get(a, "p;199;s;0"));
	tally_free(a);
	tally_free(b);
}
END_TEST

START_TEST(trim_after_spike)
{
	struct tally *t = tally_new(16);
	struct key_fields f = { 0 };
	size_t cap0 = t->cap, arena0 = t->arena_cap;
	char k[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "p;%d;s;0", i);
		ck_assert_int_eq(tally_add(t, k, strlen(k), 1, 60, &f), 0);
	}
	size_t big = t->cap;
	ck_assert_uint_gt(big, 100000);
	size_t used = t->count;
	tally_clear(t);
	/* the interval that held the spike keeps its room: the next may be alike */
	ck_assert(!tally_trim(t, used));
	ck_assert_uint_eq(t->cap, big);
	/* a quiet interval after it gives the memory back */
	ck_assert(tally_trim(t, 10));
	ck_assert_uint_eq(t->cap, cap0);
	ck_assert_uint_le(t->arena_cap, arena0);
	/* the table still works, and grows again */
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "q;%d;s;0", i);
		ck_assert_int_eq(tally_add(t, k, strlen(k), 2, 60, &f), 0);
	}
	ck_assert_uint_eq(t->count, 1000);
	ck_assert_int_eq(get(t, "q;999;s;0"), 2);
	tally_free(t);
}
END_TEST

START_TEST(trim_steady_load_keeps_table)
{
	struct tally *t = tally_new(16);
	struct key_fields f = { 0 };
	char k[32];
	/* a table sized by its own steady load is never shrunk (no thrashing) */
	for (int round = 0; round < 4; round++) {
		size_t n = round % 2 ? 3000 : 1600;
		for (size_t i = 0; i < n; i++) {
			snprintf(k, sizeof(k), "p;%zu;s;0", i);
			tally_add(t, k, strlen(k), 1, 60, &f);
		}
		size_t cap = t->cap, used = t->count;
		tally_clear(t);
		ck_assert(!tally_trim(t, used));
		ck_assert_uint_eq(t->cap, cap);
	}
	tally_free(t);
}
END_TEST

START_TEST(wide_key_offsets)
{
	/* a key arena past 4 GiB must not wrap the offsets */
	struct tally_entry e = { 0 };
	e.key_off = (uint64_t)5 << 30;
	ck_assert(e.key_off == (uint64_t)5 << 30);
	ck_assert_uint_ge(sizeof(e.key_off), 8);
}
END_TEST

/* A key wider than twice the arena (keys are bytes, whatever their length), and a table
 * still holding keys is never trimmed. */
START_TEST(wide_key_and_trim_refused)
{
	struct tally *t = tally_new(1);
	struct key_fields f = { 0 };
	size_t arena0 = t->arena_cap;
	size_t len = arena0 * 5 + 3;
	char *big = malloc(len + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'k', len);
	big[len] = '\0';
	ck_assert_int_eq(tally_add(t, "a;1;s;0", 7, 2, 60, &f), 0);
	ck_assert_int_eq(tally_add(t, big, len, 5, 60, &f), 0);
	ck_assert_uint_ge(t->arena_cap, arena0 + len);
	ck_assert_int_eq(tally_add(t, big, len, 1, 60, &f), 0);
	ck_assert_int_eq(tally_add(t, "a;1;s;0", 7, 1, 60, &f), 0);
	ck_assert_int_eq(get(t, big), 6);
	ck_assert_int_eq(get(t, "a;1;s;0"), 3);
	ck_assert_uint_eq(t->count, 2);
	ck_assert_uint_eq(t->total, 9);
	/* a key differing only in its last byte is another key */
	big[len - 1] = 'j';
	ck_assert_int_eq(tally_add(t, big, len, 7, 60, &f), 0);
	ck_assert_int_eq(get(t, big), 7);
	ck_assert_uint_eq(t->count, 3);
	size_t cap = t->cap;
	ck_assert(!tally_trim(t, 0));	/* keys still held: nothing given back */
	ck_assert_uint_eq(t->cap, cap);
	ck_assert_int_eq(get(t, big), 7);
	free(big);
	tally_free(t);
	tally_free(NULL);
}
END_TEST

Suite *tally_suite(void)
{
	Suite *s = suite_create("tally");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, add_and_grow);
	tcase_add_test(tc, merge_with_cap);
	tcase_add_test(tc, admit_new_keys);
	tcase_add_test(tc, admit_hashed_with_hints);
	tcase_add_test(tc, trim_after_spike);
	tcase_add_test(tc, trim_steady_load_keeps_table);
	tcase_add_test(tc, wide_key_offsets);
	tcase_add_test(tc, wide_key_and_trim_refused);
	suite_add_tcase(s, tc);
	return s;
}
