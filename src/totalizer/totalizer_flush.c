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

#define BATCH_ID_TTL 3600	/* s a batch id is remembered in Redis (see docs/totalizer.md) */
#define STOP_REDIS_MS 5000	/* ms Redis is given at stop before held counts go to disk */
#define STOP_KEEP_MS 1000	/* ms before the stop's deadline kept for the held counts */
#define CHUNKS_PER_TRIP 20	/* chunks sent before their replies are read (bounds the write buffer) */

/* ---- Redis ---- */

/*
 * A chunk is all or nothing: Redis does not roll a script back when a
 * command in it fails (a key of another type, a value that is not a
 * number, an overflow), so on the first failing INCRBY the script undoes
 * the INCRBYs it made (a key it created goes again) and its batch id, and
 * answers the error: the retry finds the chunk not applied, never "applied
 * before" with only part of it in Redis.
 */
static const char flush_script[] =
	"if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end\n"
	"for i = 2, #KEYS do\n"
	"  local r = redis.pcall('INCRBY', KEYS[i], ARGV[i * 2 - 2])\n"
	"  if type(r) == 'table' and r.err then\n"
	"    for j = 2, i - 1 do\n"
	"      if redis.call('DECRBY', KEYS[j], ARGV[j * 2 - 2]) == 0 then redis.call('DEL', KEYS[j]) end\n"
	"    end\n"
	"    redis.call('DEL', KEYS[1])\n"
	"    return redis.error_reply(r.err .. ' (key ' .. KEYS[i] .. ')')\n"
	"  end\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[i * 2 - 1])\n"
	"end\n"
	"return 1\n";

/*
 * The chunks of a table, as every writer cuts them: its used slots in slot
 * order, CHUNK_KEYS at a time.  Fills ents from *slot on; the number of
 * entries (0 at the end).  The in-flight batch is cut the same way when it
 * is sent and when it is kept at stop, so a chunk id names the same keys
 * and deltas in both.
 */
size_t chunk_next(const struct tally *t, size_t *slot, const struct tally_entry **ents)
{
	size_t n = 0;
	while (*slot < t->cap && n < CHUNK_KEYS) {
		if (t->slots[*slot].used)
			ents[n++] = &t->slots[*slot];
		(*slot)++;
	}
	return n;
}

void chunk_id(const struct totalizer *tz, uint64_t seq, char *out, size_t len)
{
	snprintf(out, len, "aggregatord:batch:%s:%llu:%llu", tz->node, (unsigned long long)tz->boot_id,
		 (unsigned long long)seq);
}

/* One pipelined round trip of chunks: argument space for one EVAL, the
 * replies not read yet, and their deadlines. */
struct trip {
	const char **argv;
	size_t *argl;
	char (*nums)[24];
	size_t unread;
	int call_ms;		/* redis.timeout_ms: each reply within it, the write included */
	uint64_t until;		/* mono_usec(): no reply waited for past it; 0 = none */
};

static int trip_init(struct trip *tr, int call_ms, uint64_t until, char *err, size_t errlen)
{
	tr->call_ms = call_ms;
	tr->until = until;
	tr->argv = malloc((5 + 3 * CHUNK_KEYS) * sizeof(*tr->argv));	/* EVAL script n id keys ttl (delta ttl)... */
	tr->argl = malloc((5 + 3 * CHUNK_KEYS) * sizeof(*tr->argl));
	tr->nums = malloc((2 * CHUNK_KEYS + 2) * sizeof(*tr->nums));
	tr->unread = 0;
	if (tr->argv && tr->argl && tr->nums)
		return 0;
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void trip_release(struct trip *tr)
{
	free(tr->argv);
	free(tr->argl);
	free(tr->nums);
}

/* Read every reply still due.  0 when each chunk is acknowledged (applied
 * now, or found applied before), -1 otherwise. */
static int trip_read(struct trip *tr, redisContext *c, char *err, size_t errlen)
{
	for (; tr->unread; tr->unread--) {
		redisReply *r = NULL;
		uint64_t deadline = redis_deadline(tr->call_ms);
		if (tr->until && tr->until < deadline)
			deadline = tr->until;
		if (redis_reply(c, deadline, &r) < 0) {
			snprintf(err, errlen, "EVAL: %s", c->errstr[0] ? c->errstr : "no reply");
			return -1;
		}
		bool bad = r->type == REDIS_REPLY_ERROR;
		if (bad)
			snprintf(err, errlen, "EVAL: %s", r->str);
		freeReplyObject(r);
		if (bad)
			return -1;
	}
	return 0;
}

/*
 * Queue one chunk (batch id, entries of t) as one EVAL; the replies are
 * read every CHUNKS_PER_TRIP chunks, so the write buffer holds a few
 * thousand keys, not the whole batch.  On a failure the caller drops the
 * connection (replies still unread with it) and retries under the same ids.
 */
static int trip_chunk(struct trip *tr, redisContext *c, const char *batch, const struct tally *t,
		      const struct tally_entry *const *ents, size_t nkeys, char *err, size_t errlen)
{
	size_t a = 0, ni = 0;
	tr->argv[a] = "EVAL"; tr->argl[a++] = 4;
	tr->argv[a] = flush_script; tr->argl[a++] = sizeof(flush_script) - 1;
	size_t numkeys_at = a++;
	tr->argv[a] = batch; tr->argl[a++] = strlen(batch);
	for (size_t i = 0; i < nkeys; i++) {	/* keys first, then their ARGV pairs */
		tr->argv[a] = tally_key(t, ents[i]);
		tr->argl[a++] = ents[i]->key_len;
	}
	snprintf(tr->nums[ni], sizeof(tr->nums[ni]), "%zu", nkeys + 1);
	tr->argv[numkeys_at] = tr->nums[ni];
	tr->argl[numkeys_at] = strlen(tr->nums[ni++]);
	snprintf(tr->nums[ni], sizeof(tr->nums[ni]), "%d", BATCH_ID_TTL);
	tr->argv[a] = tr->nums[ni]; tr->argl[a++] = strlen(tr->nums[ni++]);
	for (size_t i = 0; i < nkeys; i++) {
		snprintf(tr->nums[ni], sizeof(tr->nums[ni]), "%lld", (long long)ents[i]->delta);
		tr->argv[a] = tr->nums[ni]; tr->argl[a++] = strlen(tr->nums[ni++]);
		snprintf(tr->nums[ni], sizeof(tr->nums[ni]), "%d", ents[i]->ttl);
		tr->argv[a] = tr->nums[ni]; tr->argl[a++] = strlen(tr->nums[ni++]);
	}
	if (redisAppendCommandArgv(c, (int)a, tr->argv, tr->argl) != REDIS_OK) {
		snprintf(err, errlen, "cannot queue EVAL: %s", c->errstr);
		return -1;
	}
	if (++tr->unread < CHUNKS_PER_TRIP)
		return 0;
	return trip_read(tr, c, err, errlen);
}

/*
 * Send the in-flight batch: pipelined EVAL calls, chunk k carrying batch id
 * inflight_seq + k.  0 when every chunk is acknowledged (applied now, or
 * found applied before), -1 otherwise.
 */
static int send_inflight(struct totalizer *tz, redisContext *c, int call_ms, uint64_t until,
			 char *err, size_t errlen)
{
	const struct tally *t = tz->inflight;
	const struct tally_entry *ents[CHUNK_KEYS];
	struct trip tr;
	int rc = -1;
	if (trip_init(&tr, call_ms, until, err, errlen) < 0)
		goto out;
	size_t slot = 0, n;
	for (uint64_t k = 0; (n = chunk_next(t, &slot, ents)) > 0; k++) {
		char batch[HELD_ID_MAX];
		chunk_id(tz, tz->inflight_seq + k, batch, sizeof(batch));
		if (trip_chunk(&tr, c, batch, t, ents, n, err, errlen) < 0)
			goto out;
	}
	rc = trip_read(&tr, c, err, errlen);
out:
	trip_release(&tr);
	return rc;
}

/*
 * Send one held-counts file read back at start (totalizer_held.c): each of
 * its chunks under the id it was kept with, so a chunk Redis applied before
 * the stop (its reply lost) is found applied and not counted again.
 */
static int send_held(const struct held_file *hf, redisContext *c, int call_ms, char *err,
		     size_t errlen)
{
	const struct tally_entry *ents[CHUNK_KEYS];
	struct trip tr;
	int rc = -1;
	if (trip_init(&tr, call_ms, 0, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < hf->nchunks; i++) {
		size_t slot = 0, n = chunk_next(hf->chunks[i].t, &slot, ents);
		if (trip_chunk(&tr, c, hf->chunks[i].id, hf->chunks[i].t, ents, n, err, errlen) < 0)
			goto out;
	}
	rc = trip_read(&tr, c, err, errlen);
out:
	trip_release(&tr);
	return rc;
}

/* Hand each written delta of t to the publish path as a `totals` event. */
static void publish_table(const struct tally *t, uint64_t interval_start_ms, int flush_ms)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < t->cap; i++) {
		const struct tally_entry *e = &t->slots[i];
		if (!e->used)
			continue;
		const char *k = tally_key(t, e);
		const char *ts = memrchr(k, ';', e->key_len);
		buf_reset(&b);
		struct jw w;
		jw_init_members(&w, &b);
		jw_key(&w, "prefix");
		jw_strn(&w, k, e->f.prefix_len);
		jw_key(&w, "matched");
		jw_strn(&w, k + e->f.matched_off, e->f.matched_len);
		jw_key(&w, "source");
		jw_strn(&w, k + e->f.source_off, e->f.source_len);
		jw_key(&w, "start_ts");	/* the key's own digits */
		if (ts)
			jw_num_text(&w, ts + 1, e->key_len - (size_t)(ts + 1 - k));
		else
			jw_i64(&w, 0);
		jw_kv_i64(&w, "delta", (long long)e->delta);
		jw_kv_u64(&w, "interval_start_ms", interval_start_ms);
		jw_kv_i64(&w, "flush_ms", flush_ms);
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

/* Write pending (through inflight) until empty or Redis fails, no call
 * running past until (mono_usec(); 0 = each its redis.timeout_ms).  Flusher only. */
static void write_out(struct totalizer *tz, redisContext **c, const struct redis_cfg *rcfg,
		      uint64_t interval_start_ms, int flush_ms, uint64_t until)
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
		if (!*c || send_inflight(tz, *c, rcfg->timeout_ms, until, err, sizeof(err)) < 0) {
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
		publish_table(tz->inflight, interval_start_ms, flush_ms);
		tally_clear(tz->inflight);
	}
	atomic_store(&tz->pending_keys, tz->pending->count + tz->inflight->count);
}

/*
 * Apply the held-counts files read at start, oldest first, until none is
 * left or Redis fails; each file applied is removed.  Flusher only.
 */
static void apply_held(struct totalizer *tz, redisContext **c, const struct redis_cfg *rcfg)
{
	char err[256];
	while (tz->held) {
		struct held_file *hf = tz->held;
		if (!*c)
			*c = redis_connect(rcfg, err, sizeof(err));
		if (!*c || send_held(hf, *c, rcfg->timeout_ms, err, sizeof(err)) < 0) {
			atomic_fetch_add(&tz->redis_errors, 1);
			if (atomic_exchange(&tz->redis_up, false))
				log_error("totalizer: redis %s:%d: %s; holding the counts kept at the last stop "
					  "until it answers", rcfg->host, rcfg->port, err);
			if (*c) {
				redisFree(*c);
				*c = NULL;
			}
			return;
		}
		if (!atomic_exchange(&tz->redis_up, true))
			log_info("totalizer: redis %s:%d answers; writing what was held", rcfg->host,
				 rcfg->port);
		uint64_t total = 0;
		size_t keys = 0;
		for (size_t i = 0; i < hf->nchunks; i++) {
			publish_table(hf->chunks[i].t, hf->interval_start_ms, hf->flush_ms);
			total += hf->chunks[i].t->total;
			keys += hf->chunks[i].t->count;
		}
		atomic_fetch_add(&tz->counted, total);
		atomic_fetch_add(&tz->restored, total);
		log_info("totalizer: %llu count(s) in %zu key(s) kept at the last stop written to redis (%s)",
			 (unsigned long long)total, keys, hf->path);
		held_done(tz, hf);
	}
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
 * At stop (the rx threads out, their tables merged into pending): write
 * what is held to Redis until deadline (stop_deadline(): the stop's own
 * deadline less STOP_KEEP_MS), then keep what Redis did not take under
 * state_dir/totalizer/ with its batch ids (totalizer_held.c), to be
 * applied, exactly once, after the next start.  Flusher only.
 */
static void final_flush(struct totalizer *tz, redisContext **c, struct redis_cfg *rcfg, uint64_t deadline)
{
	uint64_t stop_ms = wall_ms();
	uint64_t interval = stop_ms - stop_ms % (uint64_t)tz->flush_ms;
	int timeout_ms = rcfg->timeout_ms;
	for (int attempt = 0; rcfg->host && attempt < 3 && (tz->pending->count || tz->inflight->count);
	     attempt++) {
		uint64_t now = mono_usec();
		if (now >= deadline)
			break;
		/* nothing runs past the budget: a connect waits at most what is
		 * left of it, every reply's deadline is capped at it */
		int left_ms = (int)((deadline - now) / 1000u);
		rcfg->timeout_ms = left_ms < timeout_ms ? (left_ms > 10 ? left_ms : 10) : timeout_ms;
		if (attempt) {
			struct timespec pause = { 0, 100 * 1000000L };	/* a refusing Redis is not hammered */
			nanosleep(&pause, NULL);
		}
		write_out(tz, c, rcfg, interval, tz->flush_ms, deadline);
	}
	rcfg->timeout_ms = timeout_ms;
	if (!tz->pending->count && !tz->inflight->count)
		return;
	uint64_t held = tz->pending->total + tz->inflight->total;
	size_t keys = tz->pending->count + tz->inflight->count;
	uint64_t lost = held_save(tz, interval, tz->flush_ms);
	if (lost) {
		atomic_fetch_add(&tz->lost, lost);
		log_error("totalizer: redis unreachable at stop: %llu count(s) of %llu not written "
			  "and not kept (see above)", (unsigned long long)lost, (unsigned long long)held);
	} else {
		atomic_fetch_add(&tz->kept, held);
		log_warn("totalizer: redis unreachable at stop: %llu count(s) in %zu key(s) kept in "
			 "'%s', written to redis after the next start", (unsigned long long)held, keys,
			 tz->held_dir);
	}
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

/*
 * Until when the final flush may write to Redis: three of its timeouts, at
 * most STOP_REDIS_MS, and never past the stop's deadline (stop_request's,
 * phase 1) less STOP_KEEP_MS, the time kept for writing what Redis did not
 * take to disk: the held counts are on disk before the daemon gives up on
 * the flusher, whatever else is stuck.
 */
static uint64_t stop_deadline(struct totalizer *tz, const struct redis_cfg *rcfg)
{
	int budget_ms = 3 * (rcfg->timeout_ms > 1000 ? rcfg->timeout_ms : 1000);
	if (budget_ms > STOP_REDIS_MS)
		budget_ms = STOP_REDIS_MS;
	uint64_t deadline = mono_usec() + (uint64_t)budget_ms * 1000u;
	uint64_t stop_by = atomic_load(&tz->stop_deadline);
	if (stop_by && stop_by != UINT64_MAX) {
		uint64_t keep = (uint64_t)STOP_KEEP_MS * 1000u;
		uint64_t redis_by = stop_by > keep ? stop_by - keep : 0;
		if (redis_by < deadline)
			deadline = redis_by;
	}
	return deadline;
}

void *flusher_main(void *arg)
{
	struct totalizer *tz = arg;
	redisContext *c = NULL;
	unsigned long rgen = 0;
	struct redis_snap rs = { 0 };
	log_set_thread_tag("flush");
	held_load(tz);	/* counts kept at the last stop: applied from the first tick on */

	for (;;) {
		pthread_mutex_lock(&tz->mu);
		int flush_ms = tz->flush_ms;
		size_t max_pending = tz->max_pending_keys;
		if (rgen != tz->redis_gen) {
			redis_snap_take(&rs, &tz->redis);
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
		apply_held(tz, &c, &rs.cfg);
		write_out(tz, &c, &rs.cfg, tick - (uint64_t)flush_ms, flush_ms, 0);
		shrunk |= trim_written(tz, load);
		if (shrunk)
			malloc_trim(0);	/* hand the freed pages back: RSS falls after a spike */
		worker_beat(&tz->fw);
	}

	/* Final flush, started by the stop request (phase 1). */
	uint64_t deadline = stop_deadline(tz, &rs.cfg);
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
	final_flush(tz, &c, &rs.cfg, deadline);
	held_free_all(tz);	/* files not applied yet stay on disk for the next start */
	if (c)
		redisFree(c);
	return NULL;
}
