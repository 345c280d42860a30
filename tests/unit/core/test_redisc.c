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
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "redisc.h"
#include "suites.h"
#include "thread.h"

struct peer {
	int fd;
	const char *reply;	/* written after the request arrived */
	int gap_ms;		/* 0: all at once; else one byte every gap_ms */
	pthread_t t;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char buf[256];
	if (read(p->fd, buf, sizeof(buf)) <= 0 || !p->reply)
		return NULL;
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

/* A blocking context on one end of a socketpair, the peer on the other. */
static redisContext *pair(struct peer *p, const char *reply, int gap_ms)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->fd = sv[1];
	p->reply = reply;
	p->gap_ms = gap_ms;
	ck_assert_int_eq(pthread_create(&p->t, NULL, peer_main, p), 0);
	redisContext *c = redisConnectFd(sv[0]);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->err, 0);
	return c;
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
	suite_add_tcase(s, tc);
	return s;
}
