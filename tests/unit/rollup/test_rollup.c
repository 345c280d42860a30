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
