/*
 * redisc.c — connecting to Redis the way every thread of the daemon does
 * (the configured host or unix socket, connect timeout, AUTH and SELECT),
 * and the one way a command is exchanged on such a connection: with a
 * whole-call deadline.  See redisc.h.
 *
 * DESIGN.  hiredis's blocking calls (redisCommand, redisGetReply) wait for
 * each socket read and write with the socket's timeout, so a server that
 * sends a byte now and then stretches one call without end.  redis_reply()
 * drives the same steps itself (redisBufferWrite, redisBufferRead,
 * redisGetReplyFromReader) and sets the socket's timeout to the time left
 * before each wait; past the deadline the context is failed with
 * "timed out after N ms (whole call)", as any I/O error fails it, so the
 * callers' error paths (drop the connection, hold, retry) run unchanged.
 * The wait is declared to the watchdog (worker_call_begin), as the other
 * blocking clients do.  Stop does not cancel a Redis call: the totalizer's
 * final flush writes after stop was requested; the deadline bounds it.
 */
#include "redisc.h"

#include "log.h"
#include "thread.h"
#include "worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

uint64_t redis_deadline(int timeout_ms)
{
	return mono_usec() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000u;
}

struct timeval redis_time_left(uint64_t deadline_us, uint64_t now_us)
{
	struct timeval tv = { 0, 0 };
	if (deadline_us > now_us) {
		uint64_t left = deadline_us - now_us;
		tv.tv_sec = (time_t)(left / 1000000u);
		tv.tv_usec = (suseconds_t)(left % 1000000u);
	}
	return tv;
}

/* Fail c as hiredis fails it on an I/O error, saying the deadline ran out. */
static void fail_timeout(redisContext *c, uint64_t started_us)
{
	c->err = REDIS_ERR_IO;
	snprintf(c->errstr, sizeof(c->errstr), "timed out after %llu ms (whole call)",
		 (unsigned long long)((mono_usec() - started_us + 500u) / 1000u));
}

/*
 * Before a wait: the socket's timeout set to what is left of the deadline.
 * -1 (c failed) when nothing is left.  A zero timeval means "no timeout"
 * to the kernel, so what is left is at least 1 µs here.
 */
static int arm(redisContext *c, uint64_t deadline_us, uint64_t started_us)
{
	uint64_t now = mono_usec();
	if (now >= deadline_us) {
		fail_timeout(c, started_us);
		return -1;
	}
	if (redisSetTimeout(c, redis_time_left(deadline_us, now)) != REDIS_OK)
		return -1;	/* hiredis set c->err */
	return 0;
}

/* After a failed socket step: a timeout (EAGAIN from SO_RCVTIMEO or
 * SO_SNDTIMEO) reads as the deadline's; any other error stays hiredis's. */
static int step_failed(redisContext *c, int saved_errno, uint64_t started_us)
{
	if (c->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
		fail_timeout(c, started_us);
	return -1;
}

int redis_reply(redisContext *c, uint64_t deadline_us, redisReply **reply)
{
	void *aux = NULL;
	*reply = NULL;
	if (c->err)
		return -1;
	if (redisGetReplyFromReader(c, &aux) != REDIS_OK)
		return -1;
	if (aux) {		/* read with an earlier reply */
		*reply = aux;
		return 0;
	}
	uint64_t started = mono_usec();
	uint64_t call = worker_call_begin(deadline_us > started ? (deadline_us - started + 999u) / 1000u : 0);
	int rc = -1;
	int done = 0;
	while (!done) {
		if (arm(c, deadline_us, started) < 0)
			goto out;
		errno = 0;
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			step_failed(c, errno, started);
			goto out;
		}
	}
	while (!aux) {
		if (arm(c, deadline_us, started) < 0)
			goto out;
		errno = 0;
		if (redisBufferRead(c) != REDIS_OK) {
			step_failed(c, errno, started);
			goto out;
		}
		if (redisGetReplyFromReader(c, &aux) != REDIS_OK)
			goto out;
	}
	*reply = aux;
	rc = 0;
out:
	worker_call_end(call);
	return rc;
}

redisReply *redis_call(redisContext *c, uint64_t deadline_us, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAppendCommand(c, fmt, ap);
	va_end(ap);
	redisReply *r = NULL;
	if (rc != REDIS_OK || redis_reply(c, deadline_us, &r) < 0)
		return NULL;
	return r;
}

redisReply *redis_call_argv(redisContext *c, uint64_t deadline_us, int argc, const char **argv,
			    const size_t *argvlen)
{
	redisReply *r = NULL;
	if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK ||
	    redis_reply(c, deadline_us, &r) < 0)
		return NULL;
	return r;
}

redisContext *redis_connect(const struct redis_cfg *rc, char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = rc->timeout_ms / 1000, .tv_usec = (rc->timeout_ms % 1000) * 1000 };
	redisContext *c = rc->host[0] == '/' ? redisConnectUnixWithTimeout(rc->host, tv)
					     : redisConnectWithTimeout(rc->host, rc->port, tv);
	if (!c || c->err) {
		snprintf(err, errlen, "cannot connect: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	redisReply *r = NULL;
	uint64_t deadline = redis_deadline(rc->timeout_ms);	/* AUTH and SELECT together */
	if (rc->user && rc->user[0]) {	/* an ACL user (Redis 6+); "" if it has nopass */
		r = redis_call(c, deadline, "AUTH %s %s", rc->user, rc->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH as '%s' failed: %s", rc->user,
				 r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	} else if (rc->password[0]) {
		r = redis_call(c, deadline, "AUTH %s", rc->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH failed: %s", r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (rc->db) {
		r = redis_call(c, deadline, "SELECT %d", rc->db);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "SELECT %d failed: %s", rc->db, r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	}
	return c;
fail:
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return NULL;
}


int redis_cfg_copy(struct redis_cfg *dst, const struct redis_cfg *src)
{
	char *h = strdup(src->host), *p = strdup(src->password);
	char *u = strdup(src->user ? src->user : "");
	if (!h || !p || !u) {
		free(h);
		free(p);
		free(u);
		return log_error("out of memory");
	}
	redis_cfg_release(dst);
	*dst = *src;
	dst->host = h;
	dst->user = u;
	dst->password = p;
	return 0;
}

void redis_cfg_release(struct redis_cfg *c)
{
	free(c->host);
	free(c->user);
	free(c->password);
	c->host = c->user = c->password = NULL;
}

void redis_snap_take(struct redis_snap *s, const struct redis_cfg *src)
{
	snprintf(s->host, sizeof(s->host), "%s", src->host ? src->host : "");
	snprintf(s->user, sizeof(s->user), "%s", src->user ? src->user : "");
	snprintf(s->password, sizeof(s->password), "%s", src->password ? src->password : "");
	s->cfg = *src;
	s->cfg.host = s->host;
	s->cfg.user = s->user;
	s->cfg.password = s->password;
}
