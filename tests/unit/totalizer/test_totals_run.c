/*
 * test_totals_run.c — totals_run() (totals.c), the totals query's Redis
 * shell, against a scripted server on the other end of a socketpair: a
 * thread that reads each command and answers it with the next reply of its
 * script (and closes the connection when the script runs out).  Driven:
 * SCAN's cursor handed back page after page, an empty page, MGET's nil
 * values (keys gone between SCAN and MGET), and every reply a real Redis
 * does not send — SCAN or MGET answering with another type, the wrong
 * number of elements, a cursor too long, a page holding a non-string, an
 * error reply, the connection closed — each an error naming the command,
 * never a partial total.  The oracle is the script: the totals are worked
 * out by hand from its values, the commands the server saw are logged.
 *
 * Fixtures: width 900 s, buckets aligned on T0 = 1700000100.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "suites.h"
#include "totals.h"

#define W 900LL
#define T0 1700000100LL
#define KA "web_client;a;s;1700000100"	/* T0: whole inside the window */
#define KB "web_client;b;s;1700000100"
#define KC "web_client;c;s;1700001000"	/* T0 + W */

struct script {
	int fd;
	const char *const *replies;	/* NULL-terminated */
	char log[1024];			/* the commands seen, "SCAN 0|MGET k k|..." */
	pthread_t t;
};

/* One line up to "\r\n" (removed); false at the end of the stream. */
static bool read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;
	char ch;
	while (read(fd, &ch, 1) == 1) {
		if (ch == '\n') {
			if (n && out[n - 1] == '\r')
				n--;
			out[n] = '\0';
			return true;
		}
		if (n + 1 < cap)
			out[n++] = ch;
	}
	return false;
}

/* A RESP command: "*N" then N "$len" lines each followed by its bytes.
 * Logs the command name and its arguments after SCAN's MATCH or MGET's. */
static bool read_command(struct script *s)
{
	char line[512];
	if (!read_line(s->fd, line, sizeof(line)) || line[0] != '*')
		return false;
	int n = atoi(line + 1);
	size_t at = strlen(s->log);
	if (at)
		at += (size_t)snprintf(s->log + at, sizeof(s->log) - at, "|");
	size_t start = at;	/* this command's entry */
	for (int i = 0; i < n; i++) {
		if (!read_line(s->fd, line, sizeof(line)) || line[0] != '$')
			return false;
		if (!read_line(s->fd, line, sizeof(line)))
			return false;
		/* SCAN's pattern and COUNT are not logged: SCAN <cursor> only */
		if (i > 1 && strncmp(s->log + start, "SCAN", 4) == 0)
			continue;
		if (at < sizeof(s->log))
			at += (size_t)snprintf(s->log + at, sizeof(s->log) - at, "%s%s", i ? " " : "",
					       line);
	}
	return true;
}

static void *script_main(void *arg)
{
	struct script *s = arg;
	for (const char *const *r = s->replies; *r; r++) {
		if (!read_command(s))
			return NULL;
		size_t len = strlen(*r), off = 0;
		while (off < len) {
			ssize_t w = send(s->fd, *r + off, len - off, MSG_NOSIGNAL);
			if (w <= 0)
				return NULL;
			off += (size_t)w;
		}
	}
	if (read_command(s))		/* one more command: answered by closing */
		shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/*
 * Run the query q (NULL: no fields, window 3600 at T0 + 2W, where KA, KB,
 * KC are whole) against the script; returns totals_run's result, *r and
 * err filled, s->log the commands the server saw.
 */
static int run_query(struct script *s, const struct totals_query *q, const char *const *replies,
		     struct totals_result *r, char *err, size_t errlen)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(s, 0, sizeof(*s));
	s->fd = sv[1];
	s->replies = replies;
	ck_assert_int_eq(pthread_create(&s->t, NULL, script_main, s), 0);
	redisContext *c = redisConnectFd(sv[0]);
	ck_assert_ptr_nonnull(c);
	struct totals_query dq = { .prefix = "web_client", .window_s = 3600, .width_s = W,
				   .now = T0 + 2 * W };
	err[0] = '\0';
	int rc = totals_run(c, 5000, q ? q : &dq, r, err, errlen);
	redisFree(c);
	pthread_join(s->t, NULL);
	close(s->fd);
	return rc;
}

static int run_script(struct script *s, const char *const *replies, struct totals_result *r,
		      char *err, size_t errlen)
{
	return run_query(s, NULL, replies, r, err, errlen);
}

/* Three pages (the second empty), a nil value: cursors handed back, the
 * nil counted missing, the values summed exactly. */
START_TEST(pages_and_nil)
{
	static const char *const replies[] = {
		"*2\r\n$2\r\n17\r\n*2\r\n$25\r\n" KA "\r\n$25\r\n" KB "\r\n",
		"*2\r\n$2\r\n40\r\n$3\r\n-12\r\n",
		"*2\r\n$1\r\n5\r\n*0\r\n",
		"*2\r\n$1\r\n0\r\n*1\r\n$25\r\n" KC "\r\n",
		"*1\r\n$-1\r\n",
		NULL,
	};
	struct script s;
	struct totals_result r;
	char err[256];
	ck_assert_msg(run_script(&s, replies, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(s.log, "SCAN 0|MGET " KA " " KB "|SCAN 17|SCAN 5|MGET " KC);
	ck_assert_int_eq(r.whole, 28);		/* 40 - 12; KC gone between SCAN and MGET */
	ck_assert_int_eq(r.frac, 0);
	ck_assert_int_eq(r.keys.seen, 2);
	ck_assert_int_eq(r.keys.counted, 2);
	ck_assert_int_eq(r.keys.missing, 1);
	totals_result_release(&r);
}
END_TEST

struct bad {
	const char *replies[4];
	const char *err;	/* totals_run's error, exactly */
};

/* Replies a real Redis does not send, each on the first or a later page:
 * an error naming the command, never a total. */
START_TEST(unexpected_replies)
{
	static const char page1[] = "*2\r\n$1\r\n9\r\n*1\r\n$25\r\n" KA "\r\n";
	static const char last[] = "*2\r\n$1\r\n0\r\n*1\r\n$25\r\n" KA "\r\n";
	static const struct bad cases[] = {
		{ { "-ERR unknown command 'SCAN'\r\n" }, "redis SCAN failed: ERR unknown command 'SCAN'" },
		{ { "+OK\r\n" }, "redis SCAN: unexpected reply (type 5)" },
		{ { "*3\r\n$1\r\n0\r\n*0\r\n*0\r\n" }, "redis SCAN: unexpected reply (type 2)" },
		{ { "*2\r\n:0\r\n*0\r\n" }, "redis SCAN: unexpected reply (type 2)" },
		{ { "*2\r\n$32\r\n12345678901234567890123456789012\r\n*0\r\n" },
		  "redis SCAN: unexpected reply (type 2)" },
		{ { "*2\r\n$1\r\n0\r\n$3\r\nabc\r\n" }, "redis SCAN: unexpected reply (type 2)" },
		{ { "*2\r\n$1\r\n0\r\n*2\r\n$25\r\n" KA "\r\n:7\r\n" },
		  "redis SCAN: unexpected reply (type 3)" },
		{ { page1, "+OK\r\n" }, "redis MGET: unexpected reply (type 5)" },
		{ { page1, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n" }, "redis MGET: unexpected reply (type 2)" },
		{ { page1, "*1\r\n:4\r\n" }, "redis MGET: unexpected reply (type 3)" },
		{ { page1, "-NOPERM no permissions\r\n" }, "redis MGET failed: NOPERM no permissions" },
		{ { last, "*1\r\n$1\r\nx\r\n" }, NULL },	/* a value not a number */
		{ { page1, "*1\r\n$1\r\n3\r\n", "-LOADING loading\r\n" },
		  "redis SCAN failed: LOADING loading" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct script s;
		struct totals_result r;
		char err[256];
		int rc = run_script(&s, cases[i].replies, &r, err, sizeof(err));
		if (!cases[i].err) {
			/* an unparsable value is skipped, not an error: the total is 0 */
			ck_assert_msg(rc == 0, "case %zu: %s", i, err);
			ck_assert_int_eq(r.whole, 0);
			ck_assert_int_eq(r.keys.skipped, 1);
			totals_result_release(&r);
			continue;
		}
		ck_assert_msg(rc == -1, "case %zu: answered a total", i);
		ck_assert_msg(strcmp(err, cases[i].err) == 0, "case %zu: '%s', want '%s'", i, err,
			      cases[i].err);
	}
}
END_TEST

/* The server goes away: before SCAN's reply, and after the first page
 * before MGET's. */
START_TEST(connection_closed)
{
	static const char *const none[] = { NULL };
	static const char *const one[] = { "*2\r\n$1\r\n9\r\n*1\r\n$25\r\n" KA "\r\n", NULL };
	struct script s;
	struct totals_result r;
	char err[256];
	ck_assert_int_eq(run_script(&s, none, &r, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "redis SCAN failed: ", 19) == 0, "%s", err);
	ck_assert_int_eq(run_script(&s, one, &r, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "redis MGET failed: ", 19) == 0, "%s", err);
	ck_assert_str_eq(s.log, "SCAN 0|MGET " KA);
}
END_TEST

/* A sum out of range, in a page (adding) or at the end (a pro-rated
 * share); a query refused before any command. */
START_TEST(sum_out_of_range)
{
	static const char *const in_page[] = {
		"*2\r\n$1\r\n0\r\n*2\r\n$25\r\n" KA "\r\n$25\r\n" KB "\r\n",
		"*2\r\n$19\r\n9223372036854775807\r\n$1\r\n1\r\n",
		NULL,
	};
	struct script s;
	struct totals_result r;
	char err[256];
	ck_assert_int_eq(run_script(&s, in_page, &r, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "a total is out of range");

	/* window 4W at T0 + 5W + 300: T0 + 3W whole, T0 + W 600 of 900 s inside */
	static const char *const at_end[] = {
		"*2\r\n$1\r\n0\r\n*2\r\n$25\r\nweb_client;a;s;1700002800\r\n"
		"$25\r\nweb_client;b;s;1700001000\r\n",
		"*2\r\n$19\r\n9223372036854775807\r\n$1\r\n3\r\n",
		NULL,
	};
	struct totals_query q = { .prefix = "web_client", .window_s = 4 * W, .width_s = W,
				  .now = T0 + 5 * W + 300 };
	ck_assert_int_eq(run_query(&s, &q, at_end, &r, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "a total is out of range");
	ck_assert_str_eq(s.log, "SCAN 0|MGET web_client;a;s;1700002800 web_client;b;s;1700001000");

	static const char *const none[] = { NULL };
	q.width_s = 0;
	ck_assert_int_eq(run_query(&s, &q, none, &r, err, sizeof(err)), -1);
	ck_assert_msg(err[0] != '\0', "no error for a query without a width");
	ck_assert_str_eq(s.log, "");
}
END_TEST

Suite *totals_run_suite(void)
{
	Suite *s = suite_create("totals_run");
	TCase *tc = tcase_create("redis");
	tcase_add_test(tc, pages_and_nil);
	tcase_add_test(tc, unexpected_replies);
	tcase_add_test(tc, connection_closed);
	tcase_add_test(tc, sum_out_of_range);
	suite_add_tcase(s, tc);
	return s;
}
