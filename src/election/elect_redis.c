/*
 * elect_redis.c — the Redis commands of an election round, on the election
 * thread's blocking hiredis connection (e->c): the attachment timestamp
 * from TIME, our key's SET (or its withdrawal in forced standby, or while
 * standby because Redis fails) pipelined with the first SCAN page, the rest
 * of the SCAN, one MGET of the live keys and the group's epoch, the epoch's
 * EVAL, and the withdrawal of our key at stop.  Run by
 * the "elect" thread only (elect.c decides what to do with what it reads);
 * it owns nothing beyond the connection, which it drops on any failure so
 * the next round connects afresh.
 *
 * Deadlines (redisc.h): each command as a whole within redis.timeout_ms,
 * and, while the node is active by election, never past the end of its
 * lease (the SET of the last good round plus ttl_ms): a Redis too slow to
 * renew the lease fails the round by then, and elect.c decides with the
 * lease run out (on_redis_down), not after a call that crawled past it.
 */
#include "elect_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redisc.h"
#include "role.h"
#include "thread.h"

#define SCAN_COUNT 100		/* SCAN ... COUNT hint */
#define SCAN_MAX_CALLS 10000	/* SCAN calls per round at most (a huge keyspace) */

static bool reply_is(const redisReply *r, int type)
{
	return r && r->type == type;
}

static void reply_err(const redisContext *c, const redisReply *r, const char *what,
		      char *err, size_t errlen)
{
	if (!r)
		snprintf(err, errlen, "%s: %s", what, c->errstr[0] ? c->errstr : "no reply");
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(err, errlen, "%s: %s", what, r->str);
	else
		snprintf(err, errlen, "%s: unexpected reply type %d", what, r->type);
}

/*
 * Write our key, only if it is absent or holds what we wrote last
 * (ARGV[2]; 0 when we hold none): nil when written, else the value that
 * holds it (another node configured with our name, or what a crashed run
 * of ours left, until it expires).
 */
static const char attach_script[] =
	"local v = redis.call('GET', KEYS[1])\n"
	"if v and v ~= ARGV[2] and v ~= ARGV[1] then return v end\n"
	"redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n"
	"return false\n";

/*
 * Withdraw our key: delete it only if it holds what we wrote last
 * (ARGV[1]), never a key of our name that another node holds now.  1 when
 * deleted, 0 when it was gone or another's.
 */
static const char withdraw_script[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

/*
 * Our key holds another value: this node is not in the group (standby)
 * while it does.  A crashed run of ours leaves a key that expires within
 * ttl_ms; one held longer is renewed by a live node of the same name: an
 * error, logged once, and in the status (e->name_held).
 */
static void name_held(struct elect *e, const struct elect_settings *s, const char *holder)
{
	uint64_t now = mono_usec();
	if (e->attached)
		log_error("election: key '%s' now holds %s, not this node's timestamp %lld: "
			  "another node uses the name '%s' in this group; this node stays "
			  "standby while the key is not its own", e->key, holder, e->written_ts,
			  e->node);
	e->attached = false;
	if (!e->held_since)
		e->held_since = now;
	if (!e->held_logged && now - e->held_since > (uint64_t)s->ttl_ms * 1000u) {
		log_error("election: key '%s' has been held by another node for more than "
			  "ttl_ms (%d ms): another node uses the name '%s' in this group; this "
			  "node stays standby until the key is free (give each node its own "
			  "node.name)", e->key, s->ttl_ms, e->node);
		e->held_logged = true;
	}
}

/* The deadline of a command starting now (see the top of the file). */
static uint64_t call_deadline(const struct elect *e)
{
	uint64_t d = redis_deadline(e->call_ms);
	return e->lease_end && e->lease_end < d ? e->lease_end : d;
}

/* Fresh attachment timestamp from the server's clock.  0 or -1. */
static int take_time(struct elect *e, redisContext *c, long long *ts, char *err, size_t errlen)
{
	redisReply *r = redis_call(c, call_deadline(e), "TIME");
	long long s, us;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_STRING) ||
	    !reply_is(r->element[1], REDIS_REPLY_STRING) ||
	    elect_parse_dec(r->element[0]->str, r->element[0]->len, &s) < 0 || s <= 0 ||
	    elect_parse_dec(r->element[1]->str, r->element[1]->len, &us) < 0 || us > 999999) {
		reply_err(c, r, "TIME", err, errlen);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	*ts = s * 1000000LL + us;
	freeReplyObject(r);
	return 0;
}

/* Remember one SCAN page's keys of our group (deduplicated).  0 or -1. */
static int scan_page(struct elect *e, redisContext *c, redisReply *r, char *cursor,
		     size_t curlen, char *err, size_t errlen)
{
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_STRING) ||
	    !reply_is(r->element[1], REDIS_REPLY_ARRAY) || r->element[0]->len >= curlen) {
		reply_err(c, r, "SCAN", err, errlen);
		return -1;
	}
	memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
	const redisReply *keys = r->element[1];
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		char name[ELECT_NAME_MAX + 1];
		if (!reply_is(k, REDIS_REPLY_STRING) || k->len >= ELECT_KEY_MAX ||
		    elect_parse_key(k->str, k->len, e->cluster, e->cluster_id, name) < 0)
			continue;
		size_t j;
		for (j = 0; j < e->nrd; j++)
			if (strcmp(e->rd[j].name, name) == 0)
				break;
		if (j < e->nrd)
			continue;	/* SCAN may return a key twice */
		if (e->nrd == ELECT_MAX_PEERS) {
			if (!e->warned_overflow)
				log_warn("election: more than %d live keys match '%s': the rest are "
					 "ignored", ELECT_MAX_PEERS, e->pattern);
			e->warned_overflow = true;
			continue;
		}
		memcpy(e->rd_keys[e->nrd], k->str, k->len + 1);
		memcpy(e->rd[e->nrd].name, name, sizeof(name));
		e->rd[e->nrd].ts_us = 0;
		e->nrd++;
	}
	return 0;
}

/* Read the timestamps of the keys found, and the group's epoch, in one MGET. */
static int read_values(struct elect *e, redisContext *c, unsigned long long *epoch,
		       char *err, size_t errlen)
{
	const char *argv[ELECT_MAX_PEERS + 2];
	size_t argl[ELECT_MAX_PEERS + 2];
	int a = 0;
	argv[a] = "MGET"; argl[a++] = 4;
	argv[a] = e->epoch_key; argl[a++] = strlen(e->epoch_key);
	for (size_t i = 0; i < e->nrd; i++) {
		argv[a] = e->rd_keys[i];
		argl[a++] = strlen(e->rd_keys[i]);
	}
	redisReply *r = redis_call_argv(c, call_deadline(e), a, argv, argl);
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != (size_t)a - 1) {
		reply_err(c, r, "MGET", err, errlen);
		if (r)
			freeReplyObject(r);
		return -1;
	}
	long long ep = 0;
	if (reply_is(r->element[0], REDIS_REPLY_STRING) &&
	    elect_parse_ts(r->element[0]->str, r->element[0]->len, &ep) == 0)
		*epoch = (unsigned long long)ep;
	size_t n = 0;
	for (size_t i = 0; i < e->nrd; i++) {
		const redisReply *v = r->element[i + 1];
		long long ts;
		/* nil: the key expired between SCAN and MGET — that node is gone */
		if (!reply_is(v, REDIS_REPLY_STRING) || elect_parse_ts(v->str, v->len, &ts) < 0)
			continue;
		if (strcmp(e->rd[i].name, e->node) == 0 && ts != e->self_ts && !e->warned_conflict) {
			log_warn("election: key '%s' holds %lld, not this node's timestamp %lld: "
				 "another node uses the name '%s' in this group", e->rd_keys[i], ts,
				 e->self_ts, e->node);
			e->warned_conflict = true;
		}
		e->rd[n] = e->rd[i];
		e->rd[n].ts_us = ts;
		memmove(e->rd_keys[n], e->rd_keys[i], strlen(e->rd_keys[i]) + 1);
		n++;
	}
	e->nrd = n;
	freeReplyObject(r);
	return 0;
}

/*
 * The Redis part of a round: timestamp if needed, SET, SCAN, MGET.  0 on
 * success with the live keys in e->rd; -1 with the reason in err (the
 * connection is dropped, to be made again next round).
 */
int elect_redis_round(struct elect *e, const struct elect_settings *s,
		      const struct redis_cfg *rc, unsigned long rgen,
		      unsigned long long *epoch, char *err, size_t errlen)
{
	redisReply *r = NULL;
	e->nrd = 0;
	e->call_ms = rc->timeout_ms;
	e->lease_end = elect_lease_end(e, s);
	if (e->lease_end && mono_usec() >= e->lease_end) {
		/* Our key may be gone: decide with the lease run out (elect.c)
		 * before asking Redis again. */
		snprintf(err, errlen, "the lease of the last good round (ttl_ms %d) ran out",
			 s->ttl_ms);
		return -1;
	}
	if (e->c && e->conn_gen != rgen) {
		redisFree(e->c);
		e->c = NULL;
	}
	if (!e->c) {
		e->c = redis_connect(rc, err, errlen);
		if (!e->c)
			return -1;
		e->conn_gen = rgen;
	}
	redisContext *c = e->c;
	unsigned long y = role_yield_requests();
	if (e->self_ts <= 0 || y != e->yields_seen) {
		long long ts;
		if (take_time(e, c, &ts, err, errlen) < 0)
			goto fail;
		if (e->self_ts > 0)
			log_info("election: yield: fresh attachment timestamp %lld (was %lld): "
				 "this node goes to the back of the line", ts, e->self_ts);
		else
			log_info("election: attached to group '%s+%d' as '%s' with timestamp %lld",
				 e->cluster, e->cluster_id, e->node, ts);
		e->self_ts = ts;
		e->yields_seen = y;
	}

	char cursor[32] = "0";
	/* A node in forced standby withdraws its key, so that its peers elect
	 * among themselves (maintenance: SIGRTMIN+2 hands the role over); so
	 * does a node standby because Redis failed its rounds (elect.c): its
	 * key, renewed by a SET that passes while a later command fails, would
	 * keep the peers standby, and no node would be active.  The key is
	 * written only if it is absent or holds what this node wrote last: a
	 * key of our name written by someone else is another node configured
	 * with this name, and is left alone (deleted neither). */
	bool withdraw = role_get_mode() == ROLE_MODE_FORCE_STANDBY || e->stepped_down;
	bool write = !withdraw || e->attached;
	int qrc = !write ? REDIS_OK
		  : withdraw ? redisAppendCommand(c, "EVAL %s 1 %s %lld", withdraw_script, e->key,
						  e->written_ts)
			     : redisAppendCommand(c, "EVAL %s 1 %s %lld %lld %d", attach_script, e->key,
						  e->self_ts, e->attached ? e->written_ts : 0LL,
						  s->ttl_ms);
	if (qrc != REDIS_OK ||
	    redisAppendCommand(c, "SCAN 0 MATCH %s COUNT %d", e->pattern, SCAN_COUNT) != REDIS_OK) {
		snprintf(err, errlen, "cannot queue SET: %s", c->errstr);
		goto fail;
	}
	/* On any failure the connection is dropped, pending replies with it.
	 * The lease this SET renews starts no earlier than now. */
	e->lease_from = mono_usec();
	if (write && (redis_reply(c, call_deadline(e), &r) < 0 ||
		      !reply_is(r, withdraw ? REDIS_REPLY_INTEGER : REDIS_REPLY_NIL))) {
		if (!withdraw && reply_is(r, REDIS_REPLY_STRING)) {
			name_held(e, s, r->str);
			freeReplyObject(r);
			r = NULL;
		} else {
			reply_err(c, r, "SET", err, errlen);
			goto fail;
		}
	} else if (write) {
		if (!withdraw && (!e->attached || e->held_since))
			log_info("election: key '%s' written with timestamp %lld: this node is "
				 "in the group", e->key, e->self_ts);
		e->attached = !withdraw;
		e->written_ts = e->self_ts;
		e->held_since = 0;
		e->held_logged = false;
	}
	if (r)
		freeReplyObject(r);
	r = NULL;
	if (redis_reply(c, call_deadline(e), &r) < 0 || scan_page(e, c, r, cursor, sizeof(cursor),
								    err, errlen) < 0)
		goto fail;
	freeReplyObject(r);
	r = NULL;
	for (int calls = 1; strcmp(cursor, "0") != 0; calls++) {
		if (calls == SCAN_MAX_CALLS) {
			snprintf(err, errlen, "SCAN: more than %d calls for one round", SCAN_MAX_CALLS);
			goto fail;
		}
		r = redis_call(c, call_deadline(e), "SCAN %s MATCH %s COUNT %d", cursor, e->pattern,
			       SCAN_COUNT);
		if (scan_page(e, c, r, cursor, sizeof(cursor), err, errlen) < 0)
			goto fail;
		freeReplyObject(r);
		r = NULL;
	}
	if (read_values(e, c, epoch, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	if (r)
		freeReplyObject(r);
	redisFree(e->c);
	e->c = NULL;
	e->nrd = 0;
	return -1;
}

/*
 * Bump the group's epoch: INCR, but never to a value this node has already
 * seen (a restarted or flushed Redis loses the key; epochs must not go
 * back, or consumers would drop the new leader's messages).  One EVAL, so
 * it is atomic against the other nodes.
 */
static const char epoch_script[] =
	"local v = redis.call('INCR', KEYS[1])\n"
	"local floor = tonumber(ARGV[1])\n"
	"if v <= floor then v = floor + 1; redis.call('SET', KEYS[1], v) end\n"
	"return v\n";

/* 0 with *epoch set, or -1 (the connection is dropped). */
int elect_bump_epoch(struct elect *e, unsigned long long floor, unsigned long long *epoch,
		     char *err, size_t errlen)
{
	if (!e->c) {
		snprintf(err, errlen, "not connected");
		return -1;
	}
	redisReply *r = redis_call(e->c, call_deadline(e), "EVAL %s 1 %s %llu", epoch_script,
				   e->epoch_key, floor);
	if (!reply_is(r, REDIS_REPLY_INTEGER) || r->integer <= 0) {
		reply_err(e->c, r, "INCR (EVAL)", err, errlen);
		if (r)
			freeReplyObject(r);
		redisFree(e->c);
		e->c = NULL;
		return -1;
	}
	*epoch = (unsigned long long)r->integer;
	freeReplyObject(r);
	return 0;
}

/* Withdraw our key now (see elect_int.h); what is logged says when. */
int elect_drop_key(struct elect *e, const struct redis_cfg *rc, unsigned long rgen,
		   const char *when)
{
	char err[256];
	if (e->self_ts <= 0 || !e->attached)
		return 0;	/* not ours (never written, withdrawn, or held by another) */
	if (e->c && e->conn_gen != rgen) {
		redisFree(e->c);
		e->c = NULL;
	}
	if (!e->c) {
		e->c = redis_connect(rc, err, sizeof(err));
		e->conn_gen = rgen;
	}
	if (!e->c) {
		log_warn("election: cannot delete key '%s' %s (%s): peers take over once it "
			 "expires", e->key, when, err);
		return -1;
	}
	redisReply *r = redis_call(e->c, redis_deadline(rc->timeout_ms), "EVAL %s 1 %s %lld",
				   withdraw_script, e->key, e->written_ts);
	int ret = 0;
	if (reply_is(r, REDIS_REPLY_INTEGER)) {
		if (r->integer == 1)
			log_info("election: key '%s' deleted %s: a peer can take over now", e->key,
				 when);
		else
			log_info("election: key '%s' no longer holds this node's timestamp %lld %s: "
				 "left alone", e->key, e->written_ts, when);
		e->attached = false;
	} else {
		log_warn("election: cannot delete key '%s' %s (%s): peers take over once it "
			 "expires", e->key, when,
			 r && r->type == REDIS_REPLY_ERROR ? r->str : e->c->errstr);
		redisFree(e->c);
		e->c = NULL;
		ret = -1;
	}
	if (r)
		freeReplyObject(r);
	return ret;
}
