/*
 * test_redisc.c — the whole-call deadline of redisc.c's calls, against a
 * fake server on the other end of a socketpair (a thread that writes a
 * scripted reply, at once or one byte every few ms, or never): a reply in
 * time is returned, a pipeline's replies come one by one, and a reply that
 * trickles or never comes fails the call at its deadline however the bytes
 * arrive (no socket wait alone would run out), with the context failed and
 * saying so.  Times are bounds with wide margins for a loaded machine.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "redisc.h"
#include "suites.h"
#include "thread.h"

struct peer {
	int fd;
	const char *reply;	/* written after the request arrived */
	int gap_ms;		/* 0: all at once; else one byte every gap_ms */
	int hangup;		/* after the reply (or none), close its end */
	pthread_t t;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char buf[256];
	if (read(p->fd, buf, sizeof(buf)) <= 0)
		return NULL;
	if (!p->reply) {
		if (p->hangup)
			shutdown(p->fd, SHUT_RDWR);
		return NULL;
	}
	size_t n = strlen(p->reply);
	for (size_t i = 0; i < n;) {
		size_t k = p->gap_ms ? 1 : n - i;
		if (p->gap_ms) {
			struct timespec ts = { 0, (long)p->gap_ms * 1000000L };
			nanosleep(&ts, NULL);
		}
		ssize_t w = send(p->fd, p->reply + i, k, MSG_NOSIGNAL);
		if (w <= 0)
			return NULL;
		i += (size_t)w;
	}
	return NULL;
}

/* A blocking context on one end of a socketpair, the peer on the other
 * (hangup: it closes its end after the request, replying nothing). */
static redisContext *pair_h(struct peer *p, const char *reply, int gap_ms, int hangup)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->fd = sv[1];
	p->reply = reply;
	p->gap_ms = gap_ms;
	p->hangup = hangup;
	ck_assert_int_eq(pthread_create(&p->t, NULL, peer_main, p), 0);
	redisContext *c = redisConnectFd(sv[0]);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->err, 0);
	return c;
}

static redisContext *pair(struct peer *p, const char *reply, int gap_ms)
{
	return pair_h(p, reply, gap_ms, 0);
}

static void unpair(struct peer *p, redisContext *c)
{
	redisFree(c);		/* the peer's read or write ends */
	pthread_join(p->t, NULL);
	close(p->fd);
}

START_TEST(test_time_left)
{
	struct timeval tv = redis_time_left(5000000, 1000000);
	ck_assert_int_eq(tv.tv_sec, 4);
	ck_assert_int_eq(tv.tv_usec, 0);
	tv = redis_time_left(1000001, 1000000);
	ck_assert_int_eq(tv.tv_sec, 0);
	ck_assert_int_eq(tv.tv_usec, 1);
	tv = redis_time_left(1000000, 1000000);
	ck_assert_int_eq(tv.tv_sec, 0);
	ck_assert_int_eq(tv.tv_usec, 0);
	tv = redis_time_left(10, 20);
	ck_assert_int_eq(tv.tv_sec, 0);
	ck_assert_int_eq(tv.tv_usec, 0);
	uint64_t now = mono_usec(), d = redis_deadline(250);
	ck_assert_uint_ge(d, now + 250000);
	ck_assert_uint_lt(d, now + 250000 + 1000000);
}
END_TEST

START_TEST(test_reply_in_time)
{
	struct peer p;
	redisContext *c = pair(&p, "+PONG\r\n", 0);
	redisReply *r = redis_call(c, redis_deadline(5000), "PING");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
	ck_assert_str_eq(r->str, "PONG");
	freeReplyObject(r);
	unpair(&p, c);
}
END_TEST

START_TEST(test_pipeline)
{
	struct peer p;
	redisContext *c = pair(&p, "+OK\r\n:3\r\n", 0);
	ck_assert_int_eq(redisAppendCommand(c, "SET k v"), REDIS_OK);
	ck_assert_int_eq(redisAppendCommand(c, "INCRBY n 3"), REDIS_OK);
	redisReply *r = NULL;
	ck_assert_int_eq(redis_reply(c, redis_deadline(5000), &r), 0);
	ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	ck_assert_int_eq(redis_reply(c, redis_deadline(5000), &r), 0);
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(r->integer, 3);
	freeReplyObject(r);
	unpair(&p, c);
}
END_TEST

/* A reply that trickles: every socket wait is short, the call is not. */
START_TEST(test_trickle_hits_deadline)
{
	struct peer p;
	redisContext *c = pair(&p, "+a rather long status line\r\n", 50);
	uint64_t t0 = mono_usec();
	redisReply *r = redis_call(c, redis_deadline(300), "PING");
	uint64_t took = mono_usec() - t0;
	ck_assert_ptr_null(r);
	ck_assert_int_eq(c->err, REDIS_ERR_IO);
	ck_assert_ptr_nonnull(strstr(c->errstr, "(whole call)"));
	ck_assert_uint_ge(took, 300000);
	ck_assert_uint_lt(took, 300000 + 1000000);	/* the trickle alone takes 1.4 s */
	/* the context stays failed: the next call fails at once */
	t0 = mono_usec();
	ck_assert_ptr_null(redis_call(c, redis_deadline(5000), "PING"));
	ck_assert_uint_lt(mono_usec() - t0, 1000000);
	unpair(&p, c);
}
END_TEST

START_TEST(test_silence_hits_deadline)
{
	struct peer p;
	redisContext *c = pair(&p, NULL, 0);
	uint64_t t0 = mono_usec();
	redisReply *r = NULL;
	ck_assert_int_eq(redisAppendCommand(c, "PING"), REDIS_OK);
	ck_assert_int_eq(redis_reply(c, redis_deadline(200), &r), -1);
	uint64_t took = mono_usec() - t0;
	ck_assert_ptr_null(r);
	ck_assert_int_eq(c->err, REDIS_ERR_IO);
	ck_assert_ptr_nonnull(strstr(c->errstr, "timed out after"));
	ck_assert_uint_ge(took, 200000);
	ck_assert_uint_lt(took, 200000 + 1000000);
	unpair(&p, c);
}
END_TEST

/* A deadline already past fails before any wait. */
START_TEST(test_past_deadline)
{
	struct peer p;
	redisContext *c = pair(&p, "+PONG\r\n", 0);
	ck_assert_ptr_null(redis_call(c, mono_usec(), "PING"));
	ck_assert_int_eq(c->err, REDIS_ERR_IO);
	unpair(&p, c);
}
END_TEST

/* Replies a server gives, not a failed call: an error reply is returned as
 * a reply; a reply hiredis cannot parse, or a peer that hangs up, fails the
 * context with hiredis's own error (not the deadline's), and a failed
 * context fails every later call at once. */
START_TEST(test_error_reply_and_broken_peers)
{
	struct peer p;
	redisContext *c = pair(&p, "-ERR unknown command 'NOSUCH'\r\n", 0);
	redisReply *r = redis_call(c, redis_deadline(2000), "NOSUCH");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_str_eq(r->str, "ERR unknown command 'NOSUCH'");
	freeReplyObject(r);
	ck_assert_int_eq(c->err, 0);
	unpair(&p, c);

	c = pair(&p, "?what\r\n", 0);
	const char *argv[] = { "GET", "k" };
	const size_t argvlen[] = { 3, 1 };
	ck_assert_ptr_null(redis_call_argv(c, redis_deadline(2000), 2, argv, argvlen));
	ck_assert_int_eq(c->err, REDIS_ERR_PROTOCOL);
	ck_assert_ptr_null(strstr(c->errstr, "timed out"));
	r = (redisReply *)1;
	ck_assert_int_eq(redis_reply(c, redis_deadline(2000), &r), -1);	/* failed before */
	ck_assert_ptr_null(r);
	unpair(&p, c);

	c = pair_h(&p, NULL, 0, 1);
	uint64_t t0 = mono_usec();
	ck_assert_ptr_null(redis_call(c, redis_deadline(5000), "PING"));
	ck_assert_uint_lt(mono_usec() - t0, 4000000);	/* the hang-up, not the deadline */
	ck_assert_int_ne(c->err, 0);
	ck_assert_ptr_null(strstr(c->errstr, "timed out"));
	unpair(&p, c);
}
END_TEST

/* A fake server on a unix socket: answers each request with the next of
 * replies[] (NULL: no more), one request a read. */
struct server {
	char path[108];
	int lfd;
	const char *const *replies;
	pthread_t t;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	char buf[512];
	for (const char *const *r = s->replies; *r; r++) {
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
		if (send(fd, *r, strlen(*r), MSG_NOSIGNAL) < 0)
			break;
	}
	while (read(fd, buf, sizeof(buf)) > 0)	/* until the client closes */
		;
	close(fd);
	return NULL;
}

static void serve(struct server *s, const char *const *replies)
{
	snprintf(s->path, sizeof(s->path), "/tmp/agg-redisc-%d.sock", (int)getpid());
	unlink(s->path);
	s->replies = replies;
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->path);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&s->t, NULL, server_main, s), 0);
}

static void unserve(struct server *s)
{
	pthread_join(s->t, NULL);
	close(s->lfd);
	unlink(s->path);
}

/* redis_connect: AUTH and SELECT refused by the server, a server that is
 * not there, and both accepted. */
START_TEST(test_connect_refusals)
{
	char err[256];
	struct server s;
	struct redis_cfg rc = { .host = s.path, .password = "secret", .db = 3, .timeout_ms = 2000 };

	static const char *const wrongpass[] = { "-WRONGPASS invalid password\r\n", NULL };
	serve(&s, wrongpass);
	ck_assert_ptr_null(redis_connect(&rc, err, sizeof(err)));
	ck_assert_str_eq(err, "AUTH failed: WRONGPASS invalid password");
	unserve(&s);

	static const char *const baddb[] = { "+OK\r\n", "-ERR DB index is out of range\r\n", NULL };
	serve(&s, baddb);
	ck_assert_ptr_null(redis_connect(&rc, err, sizeof(err)));
	ck_assert_str_eq(err, "SELECT 3 failed: ERR DB index is out of range");
	unserve(&s);

	static const char *const ok[] = { "+OK\r\n", "+OK\r\n", "+PONG\r\n", NULL };
	serve(&s, ok);
	redisContext *c = redis_connect(&rc, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	redisReply *r = redis_call(c, redis_deadline(2000), "PING");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->str, "PONG");
	freeReplyObject(r);
	redisFree(c);
	unserve(&s);

	ck_assert_ptr_null(redis_connect(&rc, err, sizeof(err)));	/* nobody listening */
	ck_assert_msg(strncmp(err, "cannot connect: ", 16) == 0, "err '%s'", err);
}
END_TEST

/* The config copies a thread keeps: deep, released, and a snapshot that
 * points into itself. */
START_TEST(test_cfg_copies)
{
	struct redis_cfg src = { .host = "10.0.0.1", .port = 6380, .password = "pw", .db = 2,
				 .timeout_ms = 700 };
	struct redis_cfg dst = { 0 };
	ck_assert_int_eq(redis_cfg_copy(&dst, &src), 0);
	ck_assert_ptr_ne(dst.host, src.host);
	ck_assert_str_eq(dst.host, "10.0.0.1");
	ck_assert_str_eq(dst.password, "pw");
	ck_assert_int_eq(dst.port, 6380);
	ck_assert_int_eq(dst.db, 2);
	src.host = "/run/redis.sock";
	ck_assert_int_eq(redis_cfg_copy(&dst, &src), 0);	/* the old strings released */
	ck_assert_str_eq(dst.host, "/run/redis.sock");
	redis_cfg_release(&dst);
	ck_assert_ptr_null(dst.host);
	ck_assert_ptr_null(dst.password);
	struct redis_snap snap;
	redis_snap_take(&snap, &src);
	ck_assert_ptr_eq(snap.cfg.host, snap.host);
	ck_assert_str_eq(snap.cfg.host, "/run/redis.sock");
	ck_assert_int_eq(snap.cfg.timeout_ms, 700);
	src.host = NULL;
	src.password = NULL;
	redis_snap_take(&snap, &src);
	ck_assert_str_eq(snap.cfg.host, "");
	ck_assert_str_eq(snap.cfg.password, "");
}
END_TEST

Suite *redisc_suite(void)
{
	Suite *s = suite_create("redisc");
	TCase *tc = tcase_create("deadline");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_time_left);
	tcase_add_test(tc, test_reply_in_time);
	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_trickle_hits_deadline);
	tcase_add_test(tc, test_silence_hits_deadline);
	tcase_add_test(tc, test_past_deadline);
	tcase_add_test(tc, test_error_reply_and_broken_peers);
	tcase_add_test(tc, test_connect_refusals);
	tcase_add_test(tc, test_cfg_copies);
	suite_add_tcase(s, tc);
	return s;
}
