/* test_smap.c — the string-keyed hash map (src/core/smap.c). */
#include <stdio.h>
#include <string.h>

#include "smap.h"
#include "suites.h"

START_TEST(add_get_grow)
{
	struct smap m;
	smap_init(&m, 42);
	char k[32];
	for (size_t i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof(k), "key-%zu", i);
		ck_assert_int_eq(smap_add(&m, k, (size_t)n, i * 3), 0);
	}
	ck_assert_uint_eq(m.n, 5000);
	ck_assert_uint_ge(m.cap * 7, m.n * 10);	/* load at most 7/10 */
	for (size_t i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof(k), "key-%zu", i);
		size_t v = 0;
		ck_assert(smap_get(&m, k, (size_t)n, &v));
		ck_assert_uint_eq(v, i * 3);
	}
	size_t v = 7;
	ck_assert(!smap_get(&m, "key-5000", 8, &v));
	ck_assert_uint_eq(v, 7);
	/* present: 1, the first value kept */
	ck_assert_int_eq(smap_add(&m, "key-1", 5, 99), 1);
	ck_assert(smap_get(&m, "key-1", 5, &v));
	ck_assert_uint_eq(v, 3);
	smap_release(&m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert(!smap_get(&m, "key-1", 5, &v));
	ck_assert_uint_eq(m.seed, 42);
}
END_TEST

START_TEST(binary_keys)
{
	struct smap m = { 0 };	/* a zeroed map is empty */
	ck_assert_int_eq(smap_add(&m, "a\0b", 3, 1), 0);
	ck_assert_int_eq(smap_add(&m, "a\0c", 3, 2), 0);
	ck_assert_int_eq(smap_add(&m, "a", 1, 3), 0);	/* a prefix is another key */
	ck_assert_int_eq(smap_add(&m, "", 0, 4), 0);
	size_t v;
	ck_assert(smap_get(&m, "a\0c", 3, &v) && v == 2);
	ck_assert(smap_get(&m, "a", 1, &v) && v == 3);
	ck_assert(smap_get(&m, "", 0, &v) && v == 4);
	ck_assert(!smap_get(&m, "a\0", 2, &v));
	smap_release(&m);
}
END_TEST

Suite *smap_suite(void)
{
	Suite *s = suite_create("smap");
	TCase *tc = tcase_create("smap");
	tcase_add_test(tc, add_get_grow);
	tcase_add_test(tc, binary_keys);
	suite_add_tcase(s, tc);
	return s;
}
