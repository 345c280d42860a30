/*
 * totals.c — the totals query's Redis shell (the read side of the
 * totalizer's Redis keys), around the pure core in window.c; see totals.h.
 *
 * DESIGN.  totals_run() pages through SCAN ... MATCH ... COUNT and asks for
 * each page's values with one MGET, freeing each page before the next, and
 * feeds every (key, value) to the accumulator (window.h).  It blocks on the
 * caller's Redis connection, each command within timeout_ms as a whole
 * (redisc.h): worker threads only (the totalizer's totals
 * query worker, and tests/harness/totals_cli.c).
 */
#include "totals.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redisc.h"

/* Describe a failed command: NULL reply (connection) or an error reply. */
static int redis_fail(redisContext *c, const redisReply *rep, const char *cmd, char *err,
		      size_t errlen)
{
	if (!rep)
		snprintf(err, errlen, "redis %s failed: %s", cmd,
			 c->errstr[0] ? c->errstr : "no reply");
	else if (rep->type == REDIS_REPLY_ERROR)
		snprintf(err, errlen, "redis %s failed: %s", cmd, rep->str);
	else
		snprintf(err, errlen, "redis %s: unexpected reply (type %d)", cmd, rep->type);
	return -1;
}

/* MGET the keys of one SCAN page and feed the accumulator. */
static int scan_page(redisContext *c, int timeout_ms, struct totals_acc *a, const redisReply *keys,
		     char *err, size_t errlen)
{
	size_t n = keys->elements;
	const char **argv = malloc((n + 1) * sizeof(*argv));
	size_t *argvlen = malloc((n + 1) * sizeof(*argvlen));
	redisReply *rep = NULL;
	int rc = -1;

	if (!argv || !argvlen) {
		snprintf(err, errlen, "out of memory for a page of %zu keys", n);
		goto out;
	}
	argv[0] = "MGET";
	argvlen[0] = 4;
	for (size_t i = 0; i < n; i++) {
		const redisReply *k = keys->element[i];
		if (k->type != REDIS_REPLY_STRING) {
			redis_fail(c, k, "SCAN", err, errlen);
			goto out;
		}
		argv[i + 1] = k->str;
		argvlen[i + 1] = k->len;
	}
	rep = redis_call_argv(c, redis_deadline(timeout_ms), (int)(n + 1), argv, argvlen);
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
		redis_fail(c, rep, "MGET", err, errlen);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const redisReply *v = rep->element[i];
		if (v->type == REDIS_REPLY_NIL) {
			totals_acc_missing(a);
		} else if (v->type != REDIS_REPLY_STRING) {
			redis_fail(c, v, "MGET", err, errlen);
			goto out;
		} else if (totals_acc_add(a, argv[i + 1], argvlen[i + 1], v->str, v->len) < 0) {
			snprintf(err, errlen, "%s", totals_acc_error(a));
			goto out;
		}
	}
	rc = 0;
out:
	if (rep)
		freeReplyObject(rep);
	free(argv);
	free(argvlen);
	return rc;
}

int totals_run(redisContext *c, int timeout_ms, const struct totals_query *q,
	       struct totals_result *out, char *err, size_t errlen)
{
	struct buf pat = BUF_INIT;
	char cursor[32] = "0";
	int rc = -1;

	memset(out, 0, sizeof(*out));
	struct totals_acc *a = totals_acc_new(q, err, errlen);
	if (!a)
		return -1;
	if (totals_pattern(q, &pat) < 0) {
		snprintf(err, errlen, "out of memory for the SCAN pattern");
		goto out;
	}
	do {
		redisReply *rep = redis_call(c, redis_deadline(timeout_ms), "SCAN %s MATCH %b COUNT %d",
					     cursor, pat.data, pat.len, TOTALS_SCAN_COUNT);
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[0]->len >= sizeof(cursor) ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY) {
			redis_fail(c, rep, "SCAN", err, errlen);
			if (rep)
				freeReplyObject(rep);
			goto out;
		}
		memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
		int prc = rep->element[1]->elements ? scan_page(c, timeout_ms, a, rep->element[1], err, errlen) : 0;
		freeReplyObject(rep);
		if (prc < 0)
			goto out;
	} while (strcmp(cursor, "0") != 0);
	if (totals_acc_finish(a, out) < 0) {
		snprintf(err, errlen, "%s", totals_acc_error(a));
		goto out;
	}
	rc = 0;
out:
	totals_acc_free(a);
	buf_release(&pat);
	return rc;
}
