/*
 * totalizer_http.c — GET /v1/totals: the HTTP handler on the main thread
 * checks the query and hands it to the totals query worker ("totals", an
 * offload), which runs it on its own Redis connection (totals.h) and
 * replies on the loop.  The worker owns tz->qconn (the job's stop frees it
 * once the worker is gone); a call owns its copies of the query's strings
 * and of the Redis settings until its reply is written.
 *
 * DESIGN.  Each query holds its result (every key of the prefix) until its
 * reply is written, so at most max_queries are queued or running; past it
 * the handler answers 503 at once.  The Redis settings are copied under
 * tz->mu into each call, and the worker reconnects when they changed.
 */
#include "totalizer_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <time.h>

#include "buf.h"
#include "http.h"
#include "offload.h"
#include "redisc.h"
#include "rules.h"
#include "totals.h"

struct totals_call {
	struct totalizer *tz;
	struct http_req req;		/* evhttp request kept for the reply */
	struct evhttp_request *evreq;
	struct totals_query q;
	const char *fields[TOTALS_MAX_FIELDS];
	char *strings[TOTALS_MAX_FIELDS + 1];	/* owned copies */
	struct redis_cfg redis;		/* private copy for the worker */
	char host[256], user[256], password[256];
	unsigned long redis_gen;
	struct totals_result res;
	int rc;
	char err[256];
};

static void totals_work(void *arg)
{
	struct totals_call *c = arg;
	struct totalizer *tz = c->tz;
	if (tz->qconn && tz->qredis_gen != c->redis_gen) {
		redisFree(tz->qconn);
		tz->qconn = NULL;
	}
	if (!tz->qconn) {
		tz->qconn = redis_connect(&c->redis, c->err, sizeof(c->err));
		tz->qredis_gen = c->redis_gen;
	}
	c->rc = tz->qconn ? totals_run(tz->qconn, c->redis.timeout_ms, &c->q, &c->res, c->err,
						  sizeof(c->err)) : -1;
	if (c->rc < 0 && tz->qconn) {
		redisFree(tz->qconn);
		tz->qconn = NULL;
	}
}

static void totals_call_free(struct totals_call *c)
{
	for (size_t i = 0; i <= TOTALS_MAX_FIELDS; i++)
		free(c->strings[i]);
	free(c);
}

static void totals_done(void *arg)
{
	struct totals_call *c = arg;
	struct http_req r = { .req = c->evreq, .srv = c->req.srv };
	c->tz->queries_out--;
	if (c->rc < 0) {
		http_error(&r, 503, c->err);
	} else {
		struct buf b = BUF_INIT;
		if (totals_json(&c->res, &b) < 0)
			http_error(&r, 503, "out of memory");
		else
			http_reply(&r, 200, "application/json", &b);
		buf_release(&b);
		totals_result_release(&c->res);
	}
	totals_call_free(c);
}

static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

void totalizer_http(void *job, struct http_req *r)
{
	struct totalizer *tz = job;
	struct totals_call *c;
	char err[256];
	/* Each query holds its result (every key of the prefix) until its reply
	 * is written: past max_queries queued or running, refuse at once. */
	if (tz->queries_out >= tz->max_queries) {
		tz->queries_refused++;
		snprintf(err, sizeof(err), "too many totals queries at once (%d queued or running, "
			 "totalizer.max_queries); try again later", tz->queries_out);
		http_error(r, 503, err);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_error(r, 503, "out of memory");
		return;
	}
	c->tz = tz;
	const char *prefix = http_query(r, "prefix");
	if (!prefix || !prefix[0]) {
		http_error(r, 400, "'prefix' is required");
		goto fail;
	}
	long long window = 3600, width = 0;
	const char *w = http_query(r, "window");
	if (w && !parse_ll(w, 1, 10LL * 366 * 86400, &window)) {
		http_error(r, 400, "'window' must be a number of seconds, 1 or more");
		goto fail;
	}
	const char *wd = http_query(r, "width");
	if (wd && !parse_ll(wd, 1, TOTALS_MAX_WIDTH, &width)) {
		http_error(r, 400, "'width' must be a number of seconds, 1 or more");
		goto fail;
	}
	long long ttl = 0;	/* 0: not known, no expiry warning */
	const char *tt = http_query(r, "ttl");
	if (tt && !parse_ll(tt, 1, 10LL * 366 * 86400, &ttl)) {
		http_error(r, 400, "'ttl' must be a number of seconds, 1 or more");
		goto fail;
	}
	/* Rules sharing a prefix share its width; of their ttls the shortest
	 * says when the first of the prefix's keys expire. */
	long long rule_ttl_min = 0;
	struct gen *g = atomic_load(&tz->gen);
	for (size_t i = 0; i < g->nrules; i++)
		if (strcmp(rule_prefix(g->rules[i]), prefix) == 0) {
			if (!width)
				width = rule_width(g->rules[i]);
			if (!rule_ttl_min || rule_ttl(g->rules[i]) < rule_ttl_min)
				rule_ttl_min = rule_ttl(g->rules[i]);
		}
	if (!ttl)
		ttl = rule_ttl_min;
	if (!width) {
		http_error(r, 400, "no rule here has that prefix: give its bucket width as 'width' (seconds)");
		goto fail;
	}
	c->strings[TOTALS_MAX_FIELDS] = strdup(prefix);
	size_t n = 0;
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, r->query, next) {
		if (strcmp(kv->key, "field") != 0)
			continue;
		if (n == TOTALS_MAX_FIELDS) {
			http_error(r, 400, "too many 'field' parameters");
			goto fail;
		}
		c->strings[n] = strdup(kv->value);
		c->fields[n] = c->strings[n];
		if (!c->strings[n]) {
			http_error(r, 503, "out of memory");
			goto fail;
		}
		n++;
	}
	if (!c->strings[TOTALS_MAX_FIELDS]) {
		http_error(r, 503, "out of memory");
		goto fail;
	}
	c->q = (struct totals_query){
		.prefix = c->strings[TOTALS_MAX_FIELDS], .fields = c->fields, .nfields = n,
		.window_s = window, .width_s = width, .ttl_s = ttl, .now = (long long)time(NULL),
	};
	if (totals_query_check(&c->q, err, sizeof(err)) < 0) {
		http_error(r, 400, err);
		goto fail;
	}
	pthread_mutex_lock(&tz->mu);
	snprintf(c->host, sizeof(c->host), "%s", tz->redis.host);
	snprintf(c->user, sizeof(c->user), "%s", tz->redis.user ? tz->redis.user : "");
	snprintf(c->password, sizeof(c->password), "%s", tz->redis.password);
	c->redis = tz->redis;
	c->redis_gen = tz->redis_gen;
	pthread_mutex_unlock(&tz->mu);
	c->redis.host = c->host;
	c->redis.user = c->user;
	c->redis.password = c->password;
	c->evreq = r->req;
	c->req.srv = r->srv;
	if (!tz->queries || offload_submit(tz->queries, totals_work, totals_done, c) < 0) {
		http_error(r, 503, "cannot queue the query");
		goto fail;
	}
	tz->queries_out++;
	return;
fail:
	totals_call_free(c);
}
