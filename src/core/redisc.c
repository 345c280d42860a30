/*
 * redisc.c — connecting to Redis the way every thread of the daemon does:
 * the configured host (or unix socket), connect and command timeouts,
 * AUTH and SELECT.  See redisc.h.
 */
#include "redisc.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

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
	if (rc->password[0]) {
		r = redisCommand(c, "AUTH %s", rc->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "AUTH failed: %s", r ? r->str : c->errstr);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (rc->db) {
		r = redisCommand(c, "SELECT %d", rc->db);
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
	if (!h || !p) {
		free(h);
		free(p);
		return log_error("out of memory");
	}
	redis_cfg_release(dst);
	*dst = *src;
	dst->host = h;
	dst->password = p;
	return 0;
}

void redis_cfg_release(struct redis_cfg *c)
{
	free(c->host);
	free(c->password);
	c->host = c->password = NULL;
}

void redis_snap_take(struct redis_snap *s, const struct redis_cfg *src)
{
	snprintf(s->host, sizeof(s->host), "%s", src->host ? src->host : "");
	snprintf(s->password, sizeof(s->password), "%s", src->password ? src->password : "");
	s->cfg = *src;
	s->cfg.host = s->host;
	s->cfg.password = s->password;
}
