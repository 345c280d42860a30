/* test_http.c — the request gate's pure parts: token check and path check. */
#include <string.h>

#include "addr.h"
#include "http.h"
#include "suites.h"

START_TEST(token)
{
	ck_assert(http_token_ok("Bearer s3cret", "s3cret"));
	ck_assert(!http_token_ok("Bearer s3cre", "s3cret"));
	ck_assert(!http_token_ok("Bearer s3cretX", "s3cret"));
	ck_assert(!http_token_ok("Bearer S3cret", "s3cret"));
	ck_assert(!http_token_ok("bearer s3cret", "s3cret"));
	ck_assert(!http_token_ok("Basic s3cret", "s3cret"));
	ck_assert(!http_token_ok("Bearer ", "s3cret"));
	ck_assert(!http_token_ok(NULL, "s3cret"));
	ck_assert(!http_token_ok("Bearer ", ""));	/* an empty token never matches */
}
END_TEST

static const char *pp(const char *p)
{
	return http_path_problem(p, strlen(p));
}

START_TEST(paths)
{
	ck_assert_ptr_null(pp("/"));
	ck_assert_ptr_null(pp("/v1/usage/2026/11/23/10/acme.bin"));
	ck_assert_ptr_null(pp("/a/..b/c."));
	ck_assert_ptr_nonnull(pp("/a/../b"));
	ck_assert_ptr_nonnull(pp("/.."));
	ck_assert_ptr_nonnull(pp("/./x"));
	ck_assert_ptr_nonnull(pp("/a//b"));
	ck_assert_ptr_nonnull(pp("/a\\b"));
	ck_assert_ptr_nonnull(pp("/a\x01"));
	ck_assert_ptr_nonnull(pp("relative"));
	ck_assert_ptr_nonnull(pp(""));
	ck_assert_ptr_nonnull(http_path_problem("/a\0b", 4));
}
END_TEST

START_TEST(addresses)
{
	char host[64];
	int port;
	const char *why;
	ck_assert_int_eq(addr_split("127.0.0.1:8089", host, sizeof(host), &port, &why), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 8089);
	ck_assert_int_eq(addr_split("[::1]:53", host, sizeof(host), &port, &why), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(addr_split("localhost:1", host, sizeof(host), &port, &why), 0);
	ck_assert_int_eq(addr_split("::1:53", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split("host:", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split(":80", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split("h:65536", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split("h:12x", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split("h h:12", host, sizeof(host), &port, &why), -1);
	ck_assert_int_eq(addr_split("[::1]53", host, sizeof(host), &port, &why), -1);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("gate");
	tcase_add_test(tc, token);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, addresses);
	suite_add_tcase(s, tc);
	return s;
}
