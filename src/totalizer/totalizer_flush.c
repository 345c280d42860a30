/*
 * totalizer_flush.c — the totalizer's writer: the flusher thread ("flush")
 * that collects the rx threads' tables every flush_ms and writes them to
 * Redis with an idempotent Lua script, then hands each written delta to the
 * publish path.  It owns `pending`, the in-flight batch and its Redis
 * connection.
 *
 * DESIGN.  On every flush_ms tick (aligned to the clock) the flusher asks
 * each rx thread for its table (a swap under the thread's mutex), merges
 * them into `pending`, and writes `pending` to Redis.
 *
 * Exactness: a flush is a set of chunks, each an EVAL of a Lua script that
 * first does SET <batch id> NX and applies its INCRBYs and EXPIREs only if
 * that succeeded.  A chunk whose outcome is unknown (connection dropped) is
 * retried with the same id, so it counts once.  While a flush is in flight
 * (unacknowledged), new counts gather in `pending`, never in the in-flight
 * batch, so a retry always carries exactly the bytes of the first attempt.
 * While Redis fails, `pending` keeps merging up to max_pending_keys; while it
 * answers, every table is merged whole.
 *
 * Memory: after a flush, tables much larger than their last load are shrunk
 * and malloc_trim() hands the pages back, so RSS falls after a spike.
 */
#include "totalizer_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "publish.h"
#include "redisc.h"
#include "tally.h"
#include "thread.h"

#define CHUNK_KEYS 500		/* keys per idempotent Redis script call */
#define BATCH_ID_TTL 3600	/* s a batch id is remembered in Redis (see docs/totalizer.md) */
#define CHUNKS_PER_TRIP 20	/* chunks sent before their replies are read (bounds the write buffer) */

/* ---- Redis ---- */

static const char flush_script[] =
	"if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end\n"
	"for i = 2, #KEYS do\n"
	"  redis.call('INCRBY', KEYS[i], ARGV[i * 2 - 2])\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[i * 2 - 1])\n"
	"end\n"
	"return 1\n";

/*
 * Send the in-flight batch: one pipelined round trip of EVAL calls, chunk k
 * carrying batch id inflight_seq + k.  0 when every chunk is acknowledged
 * (applied now, or found applied before), -1 otherwise.
 */
static int send_inflight(struct totalizer *tz, redisContext *c, char *err, size_t errlen)
{
	const struct tally *t = tz->inflight;
	size_t nchunks = (t->count + CHUNK_KEYS - 1) / CHUNK_KEYS;
	const char **argv = malloc((5 + 3 * CHUNK_KEYS) * sizeof(*argv));	/* EVAL script n id keys ttl (delta ttl)... */
	size_t *argl = malloc((5 + 3 * CHUNK_KEYS) * sizeof(*argl));
	char (*nums)[24] = malloc((2 * CHUNK_KEYS + 2) * sizeof(*nums));
	int rc = -1;
	if (!argv || !argl || !nums) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	size_t slot = 0, unread = 0;
	for (size_t k = 0; k < nchunks; k++) {
		char batch[160];
		size_t nkeys = 0, a = 0, ni = 0;
		snprintf(batch, sizeof(batch), "aggregatord:batch:%s:%llu:%llu", tz->node,
			 (unsigned long long)tz->boot_id, (unsigned long long)(tz->inflight_seq + k));
		argv[a] = "EVAL"; argl[a++] = 4;
		argv[a] = flush_script; argl[a++] = sizeof(flush_script) - 1;
		size_t numkeys_at = a++;
		argv[a] = batch; argl[a++] = strlen(batch);
		/* keys first, then their ARGV pairs: collect this chunk's entries */
		const struct tally_entry *ents[CHUNK_KEYS];
		while (slot < t->cap && nkeys < CHUNK_KEYS) {
			if (t->slots[slot].used)
				ents[nkeys++] = &t->slots[slot];
			slot++;
		}
		for (size_t i = 0; i < nkeys; i++) {
			argv[a] = tally_key(t, ents[i]);
			argl[a++] = ents[i]->key_len;
		}
		snprintf(nums[ni], sizeof(nums[ni]), "%zu", nkeys + 1);
		argv[numkeys_at] = nums[ni];
		argl[numkeys_at] = strlen(nums[ni++]);
		snprintf(nums[ni], sizeof(nums[ni]), "%d", BATCH_ID_TTL);
		argv[a] = nums[ni]; argl[a++] = strlen(nums[ni++]);
		for (size_t i = 0; i < nkeys; i++) {
			snprintf(nums[ni], sizeof(nums[ni]), "%lld", (long long)ents[i]->delta);
			argv[a] = nums[ni]; argl[a++] = strlen(nums[ni++]);
			snprintf(nums[ni], sizeof(nums[ni]), "%d", ents[i]->ttl);
			argv[a] = nums[ni]; argl[a++] = strlen(nums[ni++]);
		}
		if (redisAppendCommandArgv(c, (int)a, argv, argl) != REDIS_OK) {
			snprintf(err, errlen, "cannot queue EVAL: %s", c->errstr);
			goto out;
		}
		/* Read the replies every CHUNKS_PER_TRIP chunks, so the write
		 * buffer holds a few thousand keys, not the whole batch.  On a
		 * failure the caller drops the connection (replies still unread
		 * with it) and retries the whole batch under the same ids. */
		if (++unread < CHUNKS_PER_TRIP && k + 1 < nchunks)
			continue;
		for (; unread; unread--) {
			redisReply *r = NULL;
			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
				snprintf(err, errlen, "EVAL: %s", c->errstr[0] ? c->errstr : "no reply");
				goto out;
			}
			bool bad = r->type == REDIS_REPLY_ERROR;
			if (bad)
				snprintf(err, errlen, "EVAL: %s", r->str);
			freeReplyObject(r);
			if (bad)
				goto out;
		}
	}
	rc = 0;
out:
	free(argv);
	free(argl);
	free(nums);
	return rc;
}

/* Hand each written delta to the publish path as a `totals` event. */
static void publish_inflight(struct totalizer *tz, uint64_t interval_start_ms, int flush_ms)
{
	const struct tally *t = tz->inflight;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < t->cap; i++) {
		const struct tally_entry *e = &t->slots[i];
		if (!e->used)
			continue;
		const char *k = tally_key(t, e);
		const char *ts = memrchr(k, ';', e->key_len);
		buf_reset(&b);
		buf_adds(&b, "\"prefix\":");
		json_add_strn(&b, k, e->f.prefix_len);
		buf_adds(&b, ",\"matched\":");
		json_add_strn(&b, k + e->f.matched_off, e->f.matched_len);
		buf_adds(&b, ",\"source\":");
		json_add_strn(&b, k + e->f.source_off, e->f.source_len);
		buf_addf(&b, ",\"start_ts\":%.*s,\"delta\":%lld,\"interval_start_ms\":%llu,\"flush_ms\":%d",
			 ts ? (int)(e->key_len - (size_t)(ts + 1 - k)) : 1, ts ? ts + 1 : "0",
			 (long long)e->delta, (unsigned long long)interval_start_ms, flush_ms);
		if (!b.oom)
			publish_event("totals", k, e->key_len, b.data, b.len);
	}
	buf_release(&b);
}

/* ---- the flusher ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Keys a merge into pending may reach: no cap while nothing is held for a
 * failing Redis (the rx tables are bounded by max_keys already), else
 * max_pending_keys.  Flusher only. */
static size_t pending_cap(const struct totalizer *tz, size_t max_pending)
{
	return tz->pending->count || tz->inflight->count ? max_pending : SIZE_MAX;
}

/*
 * Merge a full rx table into pending, give its keys back to the intake
 * count, and make it empty again, shrunk when it is far larger than its
 * load.  Flusher only.  True when memory was given back.
 */
static bool absorb(struct totalizer *tz, struct tally *t, size_t cap)
{
	uint64_t dk = 0, dc = 0;
	size_t used = t->count;
	tally_merge(tz->pending, t, cap, &dk, &dc);
	if (dk) {
		atomic_fetch_add(&tz->pending_drop_keys, dk);
		atomic_fetch_add(&tz->pending_drops, dc);
	}
	tally_clear(t);
	atomic_fetch_sub(&tz->rx_keys, used);
	return tally_trim(t, used);
}

/* Ask every rx thread for its table and merge them into pending.  True
 * when a table was shrunk. */
static bool collect(struct totalizer *tz, int flush_ms, size_t max_pending)
{
	bool shrunk = false;
	size_t cap = pending_cap(tz, max_pending);
	unsigned long fg = atomic_fetch_add(&tz->flush_gen, 1) + 1;
	uint64_t wait_ms = (uint64_t)(flush_ms / 2 > 2 * RX_TICK_MS ? flush_ms / 2 : 2 * RX_TICK_MS);
	struct timespec deadline = mono_abstime(mono_usec() + wait_ms * 1000u);	/* tz->cv is monotonic */
	pthread_mutex_lock(&tz->mu);
	for (;;) {
		bool all = true;
		for (int i = 0; i < tz->nthreads; i++)
			if (tz->rx[i].started && atomic_load(&tz->rx[i].flush_seen) != fg)
				all = false;
		if (all || tz->stop_flusher ||
		    pthread_cond_timedwait(&tz->cv, &tz->mu, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&tz->mu);
	for (int i = 0; i < tz->nthreads; i++) {
		struct rx *x = &tz->rx[i];
		pthread_mutex_lock(&x->mu);
		struct tally *h = x->handed;
		x->handed = NULL;
		pthread_mutex_unlock(&x->mu);
		if (!h)
			continue;
		shrunk |= absorb(tz, h, cap);
		pthread_mutex_lock(&x->mu);
		if (!x->spare)
			x->spare = h;
		else
			tally_free(h);
		pthread_mutex_unlock(&x->mu);
	}
	return shrunk;
}

/* Write pending (through inflight) until empty or Redis fails.  Flusher only. */
static void write_out(struct totalizer *tz, redisContext **c, const struct redis_cfg *rcfg,
		      uint64_t interval_start_ms, int flush_ms)
{
	char err[256];
	for (;;) {
		if (tz->inflight->count == 0) {
			if (tz->pending->count == 0)
				break;
			struct tally *tmp = tz->inflight;
			tz->inflight = tz->pending;
			tz->pending = tmp;
			tz->inflight_seq = tz->next_seq;
			tz->next_seq += (tz->inflight->count + CHUNK_KEYS - 1) / CHUNK_KEYS;
		}
		uint64_t t0 = mono_usec();
		if (!*c)
			*c = redis_connect(rcfg, err, sizeof(err));
		if (!*c || send_inflight(tz, *c, err, sizeof(err)) < 0) {
			atomic_fetch_add(&tz->redis_errors, 1);
			if (atomic_exchange(&tz->redis_up, false))
				log_error("totalizer: redis %s:%d: %s; holding %zu key(s) (%llu count(s)) "
					  "in memory until it answers", rcfg->host, rcfg->port, err,
					  tz->inflight->count + tz->pending->count,
					  (unsigned long long)(tz->inflight->total + tz->pending->total));
			if (*c) {
				redisFree(*c);
				*c = NULL;
			}
			break;
		}
		if (!atomic_exchange(&tz->redis_up, true))
			log_info("totalizer: redis %s:%d answers; writing what was held", rcfg->host,
				 rcfg->port);
		atomic_store(&tz->last_flush_us, mono_usec() - t0);
		atomic_store(&tz->last_flush_wall, (uint64_t)time(NULL));
		atomic_fetch_add(&tz->counted, tz->inflight->total);
		atomic_fetch_add(&tz->flushes, 1);
		publish_inflight(tz, interval_start_ms, flush_ms);
		tally_clear(tz->inflight);
	}
	atomic_store(&tz->pending_keys, tz->pending->count + tz->inflight->count);
}

/* After a write: shrink pending and inflight when they are empty and far
 * larger than this interval's load (keys merged).  Flusher only. */
static bool trim_written(struct totalizer *tz, size_t load)
{
	bool shrunk = false;
	if (!tz->inflight->count)
		shrunk |= tally_trim(tz->inflight, load);
	if (!tz->pending->count)
		shrunk |= tally_trim(tz->pending, load);
	return shrunk;
}

/* Once per interval at most: say that intake reached max_keys.  Flusher only. */
static void log_keys_limit(struct totalizer *tz)
{
	uint64_t n = rx_sum(tz, offsetof(struct rx, keys_limit_drops));
	if (n == tz->keys_limit_logged)
		return;
	log_warn("totalizer: the receive tables reached %zu distinct keys (totalizer.max_keys): "
		 "%llu line(s) for new keys dropped since the last flush (cause keys_limit)",
		 atomic_load(&tz->max_keys), (unsigned long long)(n - tz->keys_limit_logged));
	tz->keys_limit_logged = n;
}

/*
 * Sleep until the next multiple of flush_ms on the wall clock: the length
 * is taken from the wall clock once, the sleep itself runs on the monotonic
 * clock (worker_sleep_ms, beating), so a step of the wall clock shifts one
 * interval at most and never stretches it.  false on stop; *changed when a
 * reload changed flush_ms (start over).  *tick_ms is the wall-clock tick.
 */
static bool sleep_to_tick(struct totalizer *tz, int flush_ms, uint64_t *tick_ms, bool *changed)
{
	uint64_t now = wall_ms();
	*tick_ms = (now / (uint64_t)flush_ms + 1) * (uint64_t)flush_ms;
	uint64_t until = mono_usec() + (*tick_ms - now) * 1000u;
	*changed = false;
	for (;;) {
		uint64_t m = mono_usec();
		if (m >= until)
			return true;
		if (!worker_sleep_ms(&tz->fw, (until - m + 999) / 1000))
			return false;
		pthread_mutex_lock(&tz->mu);
		*changed = tz->flush_ms != flush_ms;
		pthread_mutex_unlock(&tz->mu);
		if (*changed)
			return true;
	}
}

/* At stop: wait (bounded) until every rx thread has ended, so that its tables are ours. */
static bool rx_all_out(struct totalizer *tz, uint64_t until_us)
{
	for (;;) {
		bool all = true;
		for (int i = 0; i < tz->nthreads; i++)
			if (tz->rx[i].started && !atomic_load(&tz->rx[i].exited))
				all = false;
		if (all)
			return true;
		if (mono_usec() >= until_us)
			return false;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

void *flusher_main(void *arg)
{
	struct totalizer *tz = arg;
	redisContext *c = NULL;
	unsigned long rgen = 0;
	struct redis_cfg rcfg = { 0 };
	char host[256] = "", pass[256] = "";
	log_set_thread_tag("flush");

	for (;;) {
		pthread_mutex_lock(&tz->mu);
		int flush_ms = tz->flush_ms;
		size_t max_pending = tz->max_pending_keys;
		if (rgen != tz->redis_gen) {
			snprintf(host, sizeof(host), "%s", tz->redis.host);
			snprintf(pass, sizeof(pass), "%s", tz->redis.password);
			rcfg = tz->redis;
			rcfg.host = host;
			rcfg.password = pass;
			rgen = tz->redis_gen;
			if (c) {
				redisFree(c);
				c = NULL;
			}
		}
		pthread_mutex_unlock(&tz->mu);
		uint64_t tick;
		bool changed;
		if (!sleep_to_tick(tz, flush_ms, &tick, &changed))
			break;
		if (changed)
			continue;
		bool shrunk = collect(tz, flush_ms, max_pending);
		log_keys_limit(tz);
		size_t load = tz->pending->count;
		write_out(tz, &c, &rcfg, tick - (uint64_t)flush_ms, flush_ms);
		shrunk |= trim_written(tz, load);
		if (shrunk)
			malloc_trim(0);	/* hand the freed pages back: RSS falls after a spike */
		worker_beat(&tz->fw);
	}

	/* Final flush, started by the stop request (phase 1), bounded by the
	 * stop's deadline less a second for what comes after it. */
	uint64_t stop_by = atomic_load(&tz->stop_deadline);
	uint64_t deadline = mono_usec() + (uint64_t)(rcfg.timeout_ms > 1000 ? rcfg.timeout_ms : 1000) * 3000u;
	if (stop_by && stop_by != UINT64_MAX && stop_by - 1000000u < deadline)
		deadline = stop_by > 1000000u ? stop_by - 1000000u : 0;
	if (!rx_all_out(tz, deadline))
		log_error("totalizer: a receive thread did not end: its counts are not in the final flush");
	/* The rx threads that ended left their tables to us. */
	size_t cap = pending_cap(tz, tz->max_pending_keys);
	for (int i = 0; i < tz->nthreads; i++) {
		struct rx *x = &tz->rx[i];
		if (!atomic_load(&x->exited))
			continue;
		if (x->handed)
			absorb(tz, x->handed, cap);
		if (x->active)
			absorb(tz, x->active, cap);
	}
	log_keys_limit(tz);
	uint64_t stop_ms = wall_ms();
	do {
		write_out(tz, &c, &rcfg, stop_ms - stop_ms % (uint64_t)tz->flush_ms, tz->flush_ms);
	} while ((tz->pending->count || tz->inflight->count) && mono_usec() < deadline);
	uint64_t lost = tz->pending->total + tz->inflight->total;
	if (lost) {
		atomic_fetch_add(&tz->lost, lost);
		log_error("totalizer: redis unreachable at stop: %llu count(s) in %zu key(s) not written",
			  (unsigned long long)lost, tz->pending->count + tz->inflight->count);
	}
	if (c)
		redisFree(c);
	return NULL;
}
