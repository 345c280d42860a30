/* test_http.c — the request gate's pure parts: token, path, Host,
 * Content-Type and framing checks, the connection cap. */
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <sys/queue.h>

#include "addr.h"
#include "http.h"
#include "suites.h"

START_TEST(token)
{
	ck_assert(http_token_ok("Bearer s3cret", "s3cret"));
	ck_assert(!http_token_ok("Bearer s3cre", "s3cret"));
	ck_assert(!http_token_ok("Bearer s3cretX", "s3cret"));
	ck_assert(!http_token_ok("Bearer S3cret", "s3cret"));
	ck_assert(http_token_ok("bearer s3cret", "s3cret"));	/* RFC 7235: any case */
	ck_assert(http_token_ok("BEARER s3cret", "s3cret"));
	ck_assert(http_token_ok("Bearer  s3cret", "s3cret"));	/* 1*SP */
	ck_assert(!http_token_ok("Bearers3cret", "s3cret"));
	ck_assert(!http_token_ok("Bearerx s3cret", "s3cret"));
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

START_TEST(hosts)
{
	ck_assert(http_host_ok("127.0.0.1:8089", "127.0.0.1:8089"));
	ck_assert(http_host_ok("localhost:8089", "127.0.0.1:8089"));
	ck_assert(http_host_ok("[::1]:8089", "127.0.0.1:8089"));
	ck_assert(!http_host_ok("127.0.0.1:8090", "127.0.0.1:8089"));
	ck_assert(!http_host_ok("127.0.0.1", "127.0.0.1:8089"));	/* port 80 */
	ck_assert(!http_host_ok("evil.example:8089", "127.0.0.1:8089"));	/* rebinding */
	ck_assert(!http_host_ok("", "127.0.0.1:8089"));
	ck_assert(!http_host_ok(NULL, "127.0.0.1:8089"));
	ck_assert(http_host_ok("10.1.2.3:8089", "0.0.0.0:8089"));
	ck_assert(http_host_ok("[fe80::1]:8089", "[::]:8089"));
	ck_assert(!http_host_ok("agg.example:8089", "0.0.0.0:8089"));
	ck_assert(http_host_ok("10.1.2.3:8089", "10.1.2.3:8089"));
	ck_assert(!http_host_ok("10.1.2.4:8089", "10.1.2.3:8089"));
	ck_assert(http_host_ok("Agg.Example:80", "agg.example:80"));
	ck_assert(http_host_ok("agg.example", "agg.example:80"));
	ck_assert(addr_listen_is_loopback("127.0.0.1:1"));
	ck_assert(addr_listen_is_loopback("127.8.0.1:1"));
	ck_assert(addr_listen_is_loopback("[::1]:1"));
	ck_assert(addr_listen_is_loopback("localhost:1"));
	ck_assert(!addr_listen_is_loopback("0.0.0.0:1"));
	ck_assert(!addr_listen_is_loopback("[::]:1"));
	ck_assert(!addr_listen_is_loopback("10.0.0.1:1"));
	ck_assert(!addr_listen_is_loopback("128.0.0.1:1"));
}
END_TEST

START_TEST(content_types)
{
	ck_assert(http_is_json("application/json"));
	ck_assert(http_is_json("Application/JSON; charset=utf-8"));
	ck_assert(!http_is_json("text/plain"));
	ck_assert(!http_is_json("application/x-www-form-urlencoded"));
	ck_assert(!http_is_json("application/jsonp"));
	ck_assert(!http_is_json(""));
	ck_assert(!http_is_json(NULL));
}
END_TEST

START_TEST(framing)
{
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	ck_assert_ptr_null(http_framing_problem(&h));
	evhttp_add_header(&h, "Content-Length", "5");
	ck_assert_ptr_null(http_framing_problem(&h));
	evhttp_add_header(&h, "content-length", "5");
	ck_assert_ptr_nonnull(http_framing_problem(&h));
	evhttp_clear_headers(&h);
	evhttp_add_header(&h, "Content-Length", "5");
	evhttp_add_header(&h, "Transfer-Encoding", "chunked");
	ck_assert_ptr_nonnull(http_framing_problem(&h));
	evhttp_clear_headers(&h);
}
END_TEST

START_TEST(conn_cap)
{
	ck_assert_uint_eq(http_conn_cap(512, 1048576), 512);
	ck_assert_uint_eq(http_conn_cap(512, 1024), 512 < 768 ? 512 : 768);
	ck_assert_uint_eq(http_conn_cap(512, 256), 192);	/* 256 - 64 */
	ck_assert_uint_eq(http_conn_cap(4096, 4096), 3072);	/* a quarter kept */
	ck_assert_uint_eq(http_conn_cap(512, 50), 16);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("gate");
	tcase_add_test(tc, token);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, hosts);
	tcase_add_test(tc, content_types);
	tcase_add_test(tc, framing);
	tcase_add_test(tc, conn_cap);
	suite_add_tcase(s, tc);
	return s;
}
