/*
 * test_rollup.c — the rollup's pure helpers: hour parsing, file naming at
 * day, month and year edges (UTC, the hour the usage happened), and the
 * account-name check that keeps hostile tag values inside state_dir.
 */
#include <string.h>

#include "rollup.h"
#include "suites.h"

START_TEST(hours)
{
	ck_assert_int_eq(rollup_parse_hour("1970-01-01T00"), 0);
	ck_assert_int_eq(rollup_parse_hour("2026-11-23T10"), 1795428000);
	ck_assert_int_eq(rollup_parse_hour("2024-02-29T23"), 1709247600);	/* leap day */
	ck_assert_int_eq(rollup_parse_hour("2026-02-29T00"), -1);	/* not a leap year */
	ck_assert_int_eq(rollup_parse_hour("2026-11-23T24"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-13-01T00"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-11-23 10"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-11-23T1"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-11-23T10x"), -1);
	ck_assert_int_eq(rollup_parse_hour("+026-11-23T10"), -1);
	ck_assert_int_eq(rollup_parse_hour(""), -1);
	/* each field's range, at its edges */
	ck_assert_int_eq(rollup_parse_hour("1969-12-31T23"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-00-01T00"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-01-00T00"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-01-32T00"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-12-31T23"), 1798758000);
	/* 13 characters that sscanf reads as four numbers (it skips blanks
	 * before a number, and a field may be one digit): each separator out of
	 * place, then a blank where a digit belongs */
	ck_assert_int_eq(rollup_parse_hour("  1-01-01T 10"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-1-01T 10"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-01-1T 10"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-01-01T 1"), -1);
	ck_assert_int_eq(rollup_parse_hour("2026-01- 1T10"), -1);
}
END_TEST

START_TEST(url_hours)
{
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01/12"), rollup_parse_hour("2026-12-01T12"));
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01/12/acme.bin"), rollup_parse_hour("2026-12-01T12"));
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/+1/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/ 1/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/-1/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/02/30/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01/1"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01/12x"), -1);
	ck_assert_int_eq(rollup_parse_url_hour(""), -1);
	/* each separator out of place */
	ck_assert_int_eq(rollup_parse_url_hour("2026-12/01/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12-01/12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01-12"), -1);
	ck_assert_int_eq(rollup_parse_url_hour("2026/12/01T12"), -1);
}
END_TEST

START_TEST(paths)
{
	char p[256];
	/* the last hour of a year, of a month, and the first of the next */
	ck_assert_int_eq(rollup_hour_path(p, sizeof(p), "/s/usage", "acme", rollup_parse_hour("2025-12-31T23")), 0);
	ck_assert_str_eq(p, "/s/usage/acme/2025/12/31/23.bin");
	ck_assert_int_eq(rollup_hour_path(p, sizeof(p), "/s/usage", "acme", rollup_parse_hour("2026-01-01T00")), 0);
	ck_assert_str_eq(p, "/s/usage/acme/2026/01/01/00.bin");
	ck_assert_int_eq(rollup_hour_path(p, sizeof(p), "/s", "a", rollup_parse_hour("2026-02-28T23") + 3600), 0);
	ck_assert_str_eq(p, "/s/a/2026/03/01/00.bin");
	ck_assert_int_eq(rollup_hour_path(p, 10, "/s/usage", "acme", 0), -1);	/* too long */
}
END_TEST

START_TEST(names)
{
	ck_assert_ptr_null(rollup_check_name("acme"));
	ck_assert_ptr_null(rollup_check_name("acme-1.prod_eu@x"));
	ck_assert_ptr_nonnull(rollup_check_name(".."));
	ck_assert_ptr_nonnull(rollup_check_name("."));
	ck_assert_ptr_nonnull(rollup_check_name(".hidden"));
	ck_assert_ptr_nonnull(rollup_check_name("a/b"));
	ck_assert_ptr_nonnull(rollup_check_name("../../etc/passwd"));
	ck_assert_ptr_nonnull(rollup_check_name("a b"));
	ck_assert_ptr_nonnull(rollup_check_name("a\\b"));
	ck_assert_ptr_nonnull(rollup_check_name(""));
	/* every class of the allowed set at its edges, and the character just
	 * outside each range */
	ck_assert_ptr_null(rollup_check_name("AZaz09._-@"));
	ck_assert_ptr_null(rollup_check_name("a."));
	const char *outside[] = { "a`", "a{", "a@[", "A[", "Z\\", "0/", "9:", "a?", "a\x7f", "a\xc3\xa9" };
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		ck_assert_msg(rollup_check_name(outside[i]) != NULL, "'%s' accepted", outside[i]);
	char edge[130];
	memset(edge, 'b', 128);
	edge[128] = '\0';
	ck_assert_ptr_null(rollup_check_name(edge));	/* 128: the longest */
	edge[128] = 'b';
	edge[129] = '\0';
	ck_assert_ptr_nonnull(rollup_check_name(edge));
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_ptr_nonnull(rollup_check_name(longname));
}
END_TEST

Suite *rollup_suite(void)
{
	Suite *s = suite_create("rollup");
	TCase *tc = tcase_create("pure");
	tcase_add_test(tc, hours);
	tcase_add_test(tc, url_hours);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	return s;
}
