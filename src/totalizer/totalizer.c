/*
 * totalizer.c — the totalizer job: UDP log lines into time-bucketed Redis
 * counters.  This file is the job itself, run on the main thread: its
 * config section, the life cycle (create, start, reconfigure, stop,
 * destroy), the rule generations and their reload, metrics and status.
 * It owns the struct totalizer (totalizer_int.h) and everything in it.
 *
 * Threads and ownership:
 *   - rx threads (rx0, rx1, ...; totalizer_rx.c): each owns one socket per
 *     listen address (all sockets of an address form one SO_REUSEPORT
 *     group, spread at random by a classic-BPF program so even one sender
 *     is shared), reads recvmmsg() batches, splits datagrams into lines,
 *     applies the rules of the listener and counts into its own table
 *     (tally.h).  No locks on this path.
 *   - the flusher thread (totalizer_flush.c): on every flush_ms tick
 *     (aligned to the clock) it asks each rx thread for its table (a swap
 *     under the thread's mutex), merges them into `pending`, and writes
 *     `pending` to Redis.
 *   - the totals query worker ("totals"; totalizer_http.c): GET /v1/totals
 *     on its own Redis connection.
 *   - the main thread: create/start/reconfigure/stop, metrics, status.
 *
 * Exactness (idempotent writes to Redis) and memory (max_keys at intake,
 * pending while Redis fails, tables that shrink): totalizer_flush.c and
 * totalizer_rx.c.
 *
 * Reload: rules are compiled into a new immutable generation, published to
 * the rx threads through an atomic pointer; the old generation is freed once
 * every thread has moved on.  Sockets of listen addresses that stay are
 * kept, so no datagram is lost; counting tables are untouched.
 */
#include "totalizer.h"

#include <hiredis/hiredis.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "prom.h"
#include "offload.h"
#include "redisc.h"
#include "tally.h"
#include "thread.h"
#include "totalizer_int.h"

#define DEFAULT_MAX_KEYS 262144	/* ~64 MiB of tables at ~250 bytes a key (docs/totalizer.md) */
#define TABLE_KEYS0 256		/* keys a table is made for; it grows with the load and shrinks back */

/* ---- config ---- */

static const char *default_allow[] = { "127.0.0.0/8", "::1/128" };

static int parse_allow(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct totalizer_cfg *c = (struct totalizer_cfg *)((char *)field -
						    offsetof(struct totalizer_cfg, allow));
	size_t n = s ? (size_t)config_setting_length(s) : 2;
	if (s && config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return cfg_error(ctx, s, "'totalizer.allow' must be an array of CIDR strings, e.g. [ \"10.0.0.0/8\" ]");
	c->allow = calloc(n ? n : 1, sizeof(*c->allow));
	if (!c->allow)
		return cfg_error(ctx, s, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *v = default_allow[i < 2 ? i : 0];
		const config_setting_t *e = s ? config_setting_get_elem(s, (unsigned)i) : NULL;
		if (e) {
			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				rc = cfg_error(ctx, e, "'totalizer.allow[%zu]' must be a string", i);
				continue;
			}
			v = config_setting_get_string(e);
		}
		if (cidr_parse(v, &c->allow[c->nallow]) < 0) {
			rc = cfg_error(ctx, e, "'totalizer.allow[%zu]' is \"%s\": not an address or CIDR", i, v);
			continue;
		}
		c->nallow++;
	}
	return rc;
}

static void free_allow(void *field)
{
	struct totalizer_cfg *c = (struct totalizer_cfg *)((char *)field -
						    offsetof(struct totalizer_cfg, allow));
	free(c->allow);
	c->allow = NULL;
	c->nallow = 0;
}

#define ROFF(f) offsetof(struct rule_cfg, f)
static const struct cfg_key rule_keys[] = {
	{ .name = "name", .type = CFG_T_STR, .offset = ROFF(name), .sdef = "" },
	{ .name = "prefix", .type = CFG_T_STR, .offset = ROFF(prefix), .flags = CFG_REQUIRED },
	{ .name = "listen", .type = CFG_T_ADDR, .offset = ROFF(listen), .flags = CFG_REQUIRED },
	{ .name = "match", .type = CFG_T_STR, .offset = ROFF(match), .flags = CFG_REQUIRED },
	{ .name = "matched", .type = CFG_T_STR, .offset = ROFF(matched), .flags = CFG_REQUIRED },
	{ .name = "source", .type = CFG_T_STR, .offset = ROFF(source), .sdef = "$peer" },
	{ .name = "lower", .type = CFG_T_BOOL, .offset = ROFF(lower), .idef = 0 },
	{ .name = "max_len", .type = CFG_T_INT, .offset = ROFF(max_len), .min = 0, .max = 240, .idef = 0, .unit = "bytes" },
	{ .name = "last_segment", .type = CFG_T_BOOL, .offset = ROFF(last_segment), .idef = 0 },
	{ .name = "ttl", .type = CFG_T_INT, .offset = ROFF(ttl), .min = 1, .max = 366 * 86400, .idef = 86400, .unit = "s" },
	{ .name = "buckets", .type = CFG_T_INT, .offset = ROFF(buckets), .min = 1, .max = 100000, .idef = 4 },
	{ .name = "keypattern", .type = CFG_T_STR, .offset = ROFF(keypattern),
	  .sdef = "<prefix>;<matched>;<source>;<start_ts>" },
	{ .name = NULL },
};

static int parse_rules(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct totalizer_cfg *c = (struct totalizer_cfg *)((char *)field -
						    offsetof(struct totalizer_cfg, rules));
	void *arr;
	int rc = cfg_parse_list(ctx, s, "totalizer.rules", rule_keys, sizeof(struct rule_cfg),
				&arr, &c->nrules);
	c->rules = arr;
	return rc;
}

static void free_rules(void *field)
{
	struct totalizer_cfg *c = (struct totalizer_cfg *)((char *)field -
						    offsetof(struct totalizer_cfg, rules));
	cfg_free_list(rule_keys, sizeof(struct rule_cfg), c->rules, c->nrules);
	c->rules = NULL;
	c->nrules = 0;
}

#define TOFF(f) offsetof(struct totalizer_cfg, f)
static const struct cfg_key totalizer_keys[] = {
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = TOFF(enabled), .idef = 1 },
	{ .name = "flush_ms", .type = CFG_T_INT, .offset = TOFF(flush_ms), .min = 100, .max = 60000, .idef = 1000, .unit = "ms" },
	{ .name = "threads", .type = CFG_T_INT, .offset = TOFF(threads), .min = 1, .max = MAX_THREADS, .idef = 2, .flags = CFG_RESTART },
	{ .name = "rcvbuf", .type = CFG_T_INT, .offset = TOFF(rcvbuf), .min = 0, .max = 1 << 30, .idef = 8 << 20, .unit = "bytes", .flags = CFG_RESTART },
	{ .name = "max_keys", .type = CFG_T_INT, .offset = TOFF(max_keys), .min = 1000, .max = 100000000, .idef = DEFAULT_MAX_KEYS },
	{ .name = "max_pending_keys", .type = CFG_T_INT, .offset = TOFF(max_pending_keys), .min = 1000, .max = 100000000, .idef = 1000000 },
	{ .name = "max_queries", .type = CFG_T_INT, .offset = TOFF(max_queries), .min = 1, .max = 10000, .idef = 8 },
	{ .name = "max_line", .type = CFG_T_INT, .offset = TOFF(max_line), .min = 64, .max = RX_BUF, .idef = 16384, .unit = "bytes" },
	{ .name = "allow", .type = CFG_T_CUSTOM, .offset = TOFF(allow), .custom = parse_allow, .custom_free = free_allow },
	{ .name = "rules", .type = CFG_T_CUSTOM, .offset = TOFF(rules), .custom = parse_rules, .custom_free = free_rules },
	{ .name = NULL },
};

static int totalizer_validate(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfgp)
{
	struct totalizer_cfg *c = cfgp;
	const config_setting_t *list = config_setting_get_member(sec, "rules");
	int rc = 0;
	if (c->enabled && c->nrules == 0)
		return cfg_error(ctx, list ? list : sec, "'totalizer.rules' needs at least one rule");
	if (c->nrules > MAX_RULES)
		return cfg_error(ctx, list, "'totalizer.rules' has %zu rules; at most %d", c->nrules, MAX_RULES);
	/* gen_build() opens one socket set per distinct listen string, at most MAX_LISTENERS */
	size_t naddr = 0;
	for (size_t i = 0; i < c->nrules; i++) {
		size_t j = 0;
		while (j < i && strcmp(c->rules[j].listen, c->rules[i].listen) != 0)
			j++;
		naddr += j == i;
	}
	if (naddr > MAX_LISTENERS)
		return cfg_error(ctx, list, "'totalizer.rules' listens on %zu addresses; at most %d",
				 naddr, MAX_LISTENERS);
	for (size_t i = 0; i < c->nrules; i++) {
		const config_setting_t *rs = config_setting_get_elem(list, (unsigned)i);
		char err[256];
		struct rule *r = rule_compile(&c->rules[i], err, sizeof(err));
		if (!r) {
			rc = cfg_error(ctx, rs, "totalizer.rules[%zu]: %s", i, err);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct rule_cfg *o = &c->rules[j];
			const char *on = o->name[0] ? o->name : o->prefix;
			if (strcmp(on, rule_name(r)) == 0)
				rc = cfg_error(ctx, rs, "totalizer.rules[%zu]: name '%s' is used by rule %zu too "
					       "(set 'name' to tell them apart)", i, on, j);
			if (strcmp(o->prefix, rule_prefix(r)) == 0 &&
			    o->ttl / (o->buckets ? o->buckets : 1) != rule_width(r))
				rc = cfg_error(ctx, rs, "totalizer.rules[%zu]: prefix '%s' is used by rule %zu "
					       "with another bucket width (ttl/buckets)", i, o->prefix, j);
		}
		rule_free(r);
	}
	return rc;
}

static int totalizer_enabled(const void *cfg)
{
	return ((const struct totalizer_cfg *)cfg)->enabled;
}

/* ---- generations ---- */

static void gen_free(struct gen *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nrules; i++)
		rule_free(g->rules[i]);
	for (size_t i = 0; i < g->ngls; i++)
		free(g->gls[i].rules);
	free(g->rules);
	free(g->gls);
	free(g->allow);
	free((void *)g->matched);
	free((void *)g->unmatched);
	free((void *)g->keys_limit);
	free(g);
}

static int find_listener(struct totalizer *tz, const char *addr)
{
	for (int i = 0; i < MAX_LISTENERS; i++)
		if (tz->listeners[i] && strcmp(tz->listeners[i]->addr, addr) == 0)
			return i;
	return -1;
}

/*
 * Build a generation for cfg, opening sockets for new listen addresses
 * (marked keep; existing ones reused).  NULL after logging on failure; new
 * sockets opened for it are closed again.
 */
static struct gen *gen_build(struct totalizer *tz, const struct totalizer_cfg *cfg)
{
	struct gen *g = calloc(1, sizeof(*g));
	int opened[MAX_LISTENERS];
	int nopened = 0;
	if (!g)
		goto oom;
	g->id = ++tz->next_gen_id;
	g->nthreads = tz->nthreads;
	g->max_line = cfg->max_line;
	g->rules = calloc(cfg->nrules, sizeof(*g->rules));
	g->gls = calloc(cfg->nrules, sizeof(*g->gls));
	g->allow = calloc(cfg->nallow ? cfg->nallow : 1, sizeof(*g->allow));
	g->matched = calloc((size_t)tz->nthreads, sizeof(*g->matched));
	g->unmatched = calloc((size_t)tz->nthreads, sizeof(*g->unmatched));
	g->keys_limit = calloc((size_t)tz->nthreads, sizeof(*g->keys_limit));
	if (!g->rules || !g->gls || !g->allow || !g->matched || !g->unmatched || !g->keys_limit)
		goto oom;
	memcpy(g->allow, cfg->allow, cfg->nallow * sizeof(*cfg->allow));
	g->nallow = cfg->nallow;
	for (size_t i = 0; i < cfg->nrules; i++) {
		char err[256];
		g->rules[i] = rule_compile(&cfg->rules[i], err, sizeof(err));
		if (!g->rules[i]) {
			log_error("totalizer: rule %zu: %s", i, err);
			goto fail;
		}
		g->nrules++;
		g->any_peer |= rule_uses_peer(g->rules[i]);
		const char *addr = cfg->rules[i].listen;
		size_t k;
		for (k = 0; k < g->ngls; k++)
			if (strcmp(g->gls[k].l->addr, addr) == 0)
				break;
		if (k == g->ngls) {
			int li = find_listener(tz, addr);
			if (li < 0) {
				for (li = 0; li < MAX_LISTENERS && tz->listeners[li]; li++)
					;
				if (li == MAX_LISTENERS) {
					log_error("totalizer: more than %d listen addresses", MAX_LISTENERS);
					goto fail;
				}
				tz->listeners[li] = listener_open(addr, tz->nthreads, tz->rcvbuf);
				if (!tz->listeners[li])
					goto fail;
				opened[nopened++] = li;
			}
			g->gls[k].l = tz->listeners[li];
			g->gls[k].lidx = li;
			g->gls[k].rules = calloc(cfg->nrules, sizeof(size_t));
			if (!g->gls[k].rules)
				goto oom;
			g->ngls++;
		}
		g->gls[k].rules[g->gls[k].nrules++] = i;
	}
	return g;
oom:
	log_error("totalizer: out of memory building rules");
fail:
	for (int i = 0; i < nopened; i++) {
		listener_free(tz->listeners[opened[i]]);
		tz->listeners[opened[i]] = NULL;
	}
	gen_free(g);
	return NULL;
}

static bool gen_has_rule(const struct gen *g, const char *name)
{
	for (size_t r = 0; r < g->nrules; r++)
		if (strcmp(rule_name(g->rules[r]), name) == 0)
			return true;
	return false;
}

/*
 * Fold a retired generation's per-rule counters into the by-name totals of
 * the rules the current generation cur has (the names of rules gone are
 * forgotten: a rule added back starts at 0).  Main thread.
 */
static void gen_fold(struct totalizer *tz, struct gen *g, const struct gen *cur)
{
	for (size_t r = 0; r < g->nrules; r++) {
		const char *name = rule_name(g->rules[r]);
		if (!gen_has_rule(cur, name))
			continue;
		size_t k;
		for (k = 0; k < tz->ntotals; k++)
			if (strcmp(tz->totals[k].name, name) == 0)
				break;
		if (k == tz->ntotals) {	/* cur has at most MAX_RULES names: always room */
			if (tz->ntotals == sizeof(tz->totals) / sizeof(tz->totals[0]))
				continue;
			snprintf(tz->totals[k].name, sizeof(tz->totals[k].name), "%s", name);
			tz->totals[k].matched = tz->totals[k].unmatched = tz->totals[k].keys_limit = 0;
			tz->ntotals++;
		}
		for (int t = 0; t < g->nthreads; t++) {
			tz->totals[k].matched += atomic_load(&g->matched[t][r]);
			tz->totals[k].unmatched += atomic_load(&g->unmatched[t][r]);
			tz->totals[k].keys_limit += atomic_load(&g->keys_limit[t][r]);
		}
	}
}

/* Forget the totals of names the current generation no longer has.  Main thread. */
static void totals_prune(struct totalizer *tz, const struct gen *cur)
{
	size_t w = 0;
	for (size_t k = 0; k < tz->ntotals; k++)
		if (gen_has_rule(cur, tz->totals[k].name))
			tz->totals[w++] = tz->totals[k];
	tz->ntotals = w;
}

/* Every running rx thread has picked up generation id. */
static bool gen_seen_by_all(struct totalizer *tz, unsigned long id)
{
	for (int i = 0; i < tz->nthreads; i++)
		if (tz->rx[i].started && !atomic_load(&tz->rx[i].exited) &&
		    atomic_load(&tz->rx[i].seen_gen) != id)
			return false;
	return true;
}

/*
 * Free the retired generations once no rx thread can run them any more
 * (every running thread has picked up the current one; a thread busy in a
 * long batch keeps them until a later reload, metrics scrape or status
 * call finds it moved on), folding their counters first, and close the
 * sockets of addresses the current rules do not use.  Main thread.
 */
static void gen_reap(struct totalizer *tz)
{
	struct gen *cur = atomic_load(&tz->gen);
	if (!tz->retired || !gen_seen_by_all(tz, cur->id))
		return;
	while (tz->retired) {
		struct gen *old = tz->retired;
		tz->retired = old->retired_next;
		gen_fold(tz, old, cur);
		gen_free(old);
	}
	totals_prune(tz, cur);
	for (int li = 0; li < MAX_LISTENERS; li++) {
		struct listener *l = tz->listeners[li];
		if (!l)
			continue;
		bool used = false;
		for (size_t k = 0; k < cur->ngls; k++)
			used |= cur->gls[k].l == l;
		if (!used) {
			log_info("totalizer: no rule listens on udp %s any more: closed", l->addr);
			listener_free(l);
			tz->listeners[li] = NULL;
		}
	}
}

/* ---- life cycle ---- */

static int copy_redis(struct totalizer *tz, const struct redis_cfg *r)
{
	if (redis_cfg_copy(&tz->redis, r) < 0)
		return -1;
	tz->redis_gen++;
	return 0;
}

static void totalizer_destroy(void *job);

static void *totalizer_create(const struct job_env *env, const void *cfgp)
{
	const struct totalizer_cfg *cfg = cfgp;
	struct totalizer *tz = calloc(1, sizeof(*tz));
	if (!tz) {
		log_error("out of memory");
		return NULL;
	}
	tz->env = env;
	tz->nthreads = cfg->threads;
	tz->rcvbuf = cfg->rcvbuf;
	tz->flush_ms = cfg->flush_ms;
	tz->max_pending_keys = (size_t)cfg->max_pending_keys;
	atomic_store(&tz->max_keys, (size_t)cfg->max_keys);
	tz->max_queries = cfg->max_queries;
	tz->boot_id = (uint64_t)time(NULL) * 1000000u + mono_usec() % 1000000u;
	/* glibc raises its mmap and trim thresholds after big blocks are freed,
	 * so the tables of a spike would stay resident at the top of the
	 * threads' heaps; fixed thresholds keep big tables mmap()ed and give
	 * them back to the system when they are shrunk. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	atomic_store(&tz->redis_up, true);
	pthread_mutex_init(&tz->mu, NULL);
	if (cond_init_mono(&tz->cv) < 0 || worker_init(&tz->fw) < 0) {
		log_error("totalizer: cannot set up its threads");
		pthread_mutex_destroy(&tz->mu);
		free(tz);
		return NULL;
	}
	tz->node = strdup(env->node->name);
	if (asprintf(&tz->held_dir, "%s/totalizer", env->node->state_dir) < 0)
		tz->held_dir = NULL;
	tz->pending = tally_new(TABLE_KEYS0);
	tz->inflight = tally_new(TABLE_KEYS0);
	if (!tz->node || !tz->held_dir || !tz->pending || !tz->inflight || copy_redis(tz, env->redis) < 0)
		goto fail;
	for (int i = 0; i < tz->nthreads; i++) {
		struct rx *x = &tz->rx[i];
		x->tz = tz;
		x->id = i;
		x->health = -1;
		pthread_mutex_init(&x->mu, NULL);
		x->active = tally_new(TABLE_KEYS0);
		x->spare = tally_new(TABLE_KEYS0);
		if (!x->active || !x->spare)
			goto fail;
	}
	struct gen *g = gen_build(tz, cfg);
	if (!g)
		goto fail;
	atomic_store(&tz->gen, g);
	return tz;
fail:
	log_error("totalizer: cannot set up");
	totalizer_destroy(tz);
	return NULL;
}

/* An rx thread: the intake loop, then a word to the flusher, whose final
 * flush takes the thread's tables once every rx thread has ended. */
static void *rx_thread(void *arg)
{
	struct rx *x = arg;
	rx_main(x);
	atomic_store(&x->exited, true);
	worker_wake(&x->tz->fw);
	return NULL;
}

static int totalizer_start(void *job)
{
	struct totalizer *tz = job;
	atomic_store(&tz->running, true);
	for (int i = 0; i < tz->nthreads; i++) {
		struct rx *x = &tz->rx[i];
		char name[16];
		snprintf(name, sizeof(name), "rx%d", i);
		x->health = health_register(name);
		atomic_store(&x->exited, false);
		if (thread_spawn(&x->thread, name, rx_thread, x) < 0)
			return log_error("totalizer: cannot start receive thread %d", i);
		x->started = true;
	}
	atomic_store(&tz->stop_deadline, 0);
	if (worker_start(&tz->fw, "flush", flusher_main, tz) < 0)
		return log_error("totalizer: cannot start the flusher thread");
	if (tz->env->base) {
		tz->queries = offload_new(tz->env->base, "totals");
		if (!tz->queries)
			return log_error("totalizer: cannot start the totals query worker");
	}
	struct gen *g = atomic_load(&tz->gen);
	for (size_t i = 0; i < g->ngls; i++)
		log_info("totalizer: listening on udp %s (%zu rule(s), %d thread(s))", g->gls[i].l->addr,
			 g->gls[i].nrules, tz->nthreads);
	return 0;
}

/* Wait until every rx thread has picked up generation id (bounded: a
 * thread still busy keeps the old generation alive, gen_reap). */
static void wait_gen_seen(struct totalizer *tz, unsigned long id)
{
	uint64_t until = mono_usec() + 20u * RX_TICK_MS * 1000u;
	while (!gen_seen_by_all(tz, id) && mono_usec() <= until) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static int totalizer_reconfigure(void *job, const void *cfgp)
{
	struct totalizer *tz = job;
	const struct totalizer_cfg *cfg = cfgp;
	struct gen *old = atomic_load(&tz->gen);
	struct gen *g = gen_build(tz, cfg);
	if (!g)
		return -1;
	atomic_store(&tz->gen, g);
	old->retired_next = tz->retired;
	tz->retired = old;
	wait_gen_seen(tz, g->id);
	gen_reap(tz);
	if (tz->retired)
		log_info("totalizer: a receive thread is still busy on the rules before: they are freed "
			 "once it moves on");
	pthread_mutex_lock(&tz->mu);
	tz->flush_ms = cfg->flush_ms;
	tz->max_pending_keys = (size_t)cfg->max_pending_keys;
	atomic_store(&tz->max_keys, (size_t)cfg->max_keys);
	tz->max_queries = cfg->max_queries;
	int rc = copy_redis(tz, tz->env->redis);
	pthread_cond_broadcast(&tz->cv);
	pthread_mutex_unlock(&tz->mu);
	worker_wake(&tz->fw);	/* a new flush_ms takes effect now */
	log_info("totalizer: %zu rule(s) on %zu address(es) in force", g->nrules, g->ngls);
	return rc;
}

/*
 * Phase 1: intake stops (the rx threads end within RX_TICK_MS), queued
 * totals queries are answered, and the flusher starts its final flush as
 * soon as the rx threads are out, bounded by the stop's deadline.
 */
static void totalizer_stop_request(void *job, uint64_t deadline_us)
{
	struct totalizer *tz = job;
	atomic_store(&tz->running, false);
	if (tz->queries)
		offload_stop_request(tz->queries);
	atomic_store(&tz->stop_deadline, deadline_us ? deadline_us : UINT64_MAX);
	pthread_mutex_lock(&tz->mu);
	tz->stop_flusher = true;
	pthread_cond_broadcast(&tz->cv);
	pthread_mutex_unlock(&tz->mu);
	if (tz->fw.started)
		worker_stop_request(&tz->fw);
}

static int totalizer_stop(void *job, uint64_t deadline_us)
{
	struct totalizer *tz = job;
	int rc = 0;
	if (!atomic_load(&tz->stop_deadline))
		totalizer_stop_request(tz, deadline_us);
	for (int i = 0; i < tz->nthreads; i++)
		if (tz->rx[i].started)
			pthread_join(tz->rx[i].thread, NULL);	/* no I/O but recv: a tick */
	if (tz->fw.started) {
		if (worker_join(&tz->fw, deadline_us) < 0) {
			log_warn("totalizer: the flusher is still inside a Redis call: left behind, "
				 "abandoned at exit (what it held is not written)");
			rc = -1;
		} else {
			log_info("totalizer: stopped; %llu count(s) written to redis in all",
				 (unsigned long long)atomic_load(&tz->counted));
		}
	}
	if (rc == 0) {
		for (int i = 0; i < tz->nthreads; i++) {
			if (!tz->rx[i].started)
				continue;
			tz->rx[i].started = false;
			health_unregister(tz->rx[i].health);
		}
	}
	if (tz->queries) {
		if (offload_free(tz->queries, deadline_us) < 0) {
			log_warn("totalizer: a totals query is still inside a Redis call: left behind, "
				 "abandoned at exit");
			rc = -1;
		} else {
			tz->queries = NULL;
		}
	}
	if (tz->qconn && !tz->queries) {
		redisFree(tz->qconn);
		tz->qconn = NULL;
	}
	return rc;
}

static void totalizer_destroy(void *job)
{
	struct totalizer *tz = job;
	if (!tz)
		return;
	for (int i = 0; i < MAX_LISTENERS; i++)
		listener_free(tz->listeners[i]);
	gen_free(atomic_load(&tz->gen));
	while (tz->retired) {	/* the rx threads are joined */
		struct gen *old = tz->retired;
		tz->retired = old->retired_next;
		gen_free(old);
	}
	for (int i = 0; i < tz->nthreads; i++) {
		tally_free(tz->rx[i].active);
		tally_free(tz->rx[i].handed);
		tally_free(tz->rx[i].spare);
		pthread_mutex_destroy(&tz->rx[i].mu);
	}
	tally_free(tz->pending);
	tally_free(tz->inflight);
	redis_cfg_release(&tz->redis);
	free(tz->node);
	free(tz->held_dir);
	worker_destroy(&tz->fw);
	pthread_cond_destroy(&tz->cv);
	pthread_mutex_destroy(&tz->mu);
	free(tz);
}

/* ---- metrics and status ---- */

uint64_t rx_sum(struct totalizer *tz, size_t off)
{
	uint64_t s = 0;
	for (int i = 0; i < tz->nthreads; i++)
		s += atomic_load((_Atomic uint64_t *)((char *)&tz->rx[i] + off));
	return s;
}

/* Add one generation's counts of the rule called name to c. */
static void gen_counts(const struct gen *g, const char *name, uint64_t c[3])
{
	for (size_t r = 0; r < g->nrules; r++) {
		if (strcmp(rule_name(g->rules[r]), name) != 0)
			continue;
		for (int t = 0; t < g->nthreads; t++) {
			c[0] += atomic_load(&g->matched[t][r]);
			c[1] += atomic_load(&g->unmatched[t][r]);
			c[2] += atomic_load(&g->keys_limit[t][r]);
		}
	}
}

/* Per-rule counts by name: c[0] matched, c[1] unmatched, c[2] keys_limit drops. */
static void rule_counts(struct totalizer *tz, const char *name, uint64_t c[3])
{
	c[0] = c[1] = c[2] = 0;
	for (size_t k = 0; k < tz->ntotals; k++)
		if (strcmp(tz->totals[k].name, name) == 0) {
			c[0] += tz->totals[k].matched;
			c[1] += tz->totals[k].unmatched;
			c[2] += tz->totals[k].keys_limit;
		}
	gen_counts(atomic_load(&tz->gen), name, c);
	for (const struct gen *g = tz->retired; g; g = g->retired_next)	/* not folded yet */
		gen_counts(g, name, c);
}

static void totalizer_metrics(void *job, struct buf *out)
{
	struct totalizer *tz = job;
	gen_reap(tz);
	struct gen *g = atomic_load(&tz->gen);
	prom_metric_u64(out, "aggregatord_totalizer_datagrams_total", "counter",
		"UDP datagrams received.", rx_sum(tz, offsetof(struct rx, datagrams)));
	prom_metric_u64(out, "aggregatord_totalizer_lines_total", "counter",
		"Lines taken from datagrams (empty lines not counted).", rx_sum(tz, offsetof(struct rx, lines)));
	static const struct {
		const char *name, *help;
	} per_rule[2] = {
		{ "aggregatord_totalizer_matched_total", "Lines a rule matched, by rule." },
		{ "aggregatord_totalizer_unmatched_total", "Lines a rule did not match, by rule." },
	};
	for (int which = 0; which < 2; which++) {
		prom_head(out, per_rule[which].name, "counter", per_rule[which].help);
		for (size_t r = 0; r < g->nrules; r++) {
			uint64_t mu[3];
			rule_counts(tz, rule_name(g->rules[r]), mu);
			prom_u64_1(out, per_rule[which].name, "rule", rule_name(g->rules[r]), mu[which]);
		}
	}
	prom_head(out, "aggregatord_totalizer_dropped_total", "counter",
		  "Datagrams, lines or counts dropped, by cause.");
	const struct {
		const char *cause;
		uint64_t n;
	} dropped[] = {
		{ "allow", rx_sum(tz, offsetof(struct rx, allow_drops)) },
		{ "oversize", rx_sum(tz, offsetof(struct rx, oversize)) },
		{ "kernel_overflow", rx_sum(tz, offsetof(struct rx, ovfl_drops)) },
		{ "pending_overflow", atomic_load(&tz->pending_drops) },
		{ "match_error", rx_sum(tz, offsetof(struct rx, match_errors)) },
		{ "memory", rx_sum(tz, offsetof(struct rx, oom_drops)) },
		{ "lost_at_stop", atomic_load(&tz->lost) },
		{ "keys_limit", rx_sum(tz, offsetof(struct rx, keys_limit_drops)) },
	};
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		prom_u64_1(out, "aggregatord_totalizer_dropped_total", "cause", dropped[i].cause,
			   dropped[i].n);
	prom_head(out, "aggregatord_totalizer_dropped_lines_total", "counter",
		  "Matched lines dropped at intake, by rule and cause.");
	for (size_t r = 0; r < g->nrules; r++) {
		uint64_t c[3];
		rule_counts(tz, rule_name(g->rules[r]), c);
		prom_u64_2(out, "aggregatord_totalizer_dropped_lines_total", "rule",
			   rule_name(g->rules[r]), "cause", "keys_limit", c[2]);
	}
	prom_metric_u64(out, "aggregatord_totalizer_keys", "gauge",
		"Distinct keys in the receive tables (limit: totalizer.max_keys).", atomic_load(&tz->rx_keys));
	prom_metric_u64(out, "aggregatord_totalizer_queries_queued", "gauge",
		"Totals queries queued or running.", (uint64_t)tz->queries_out);
	prom_metric_u64(out, "aggregatord_totalizer_queries_refused_total", "counter",
		"Totals queries refused with 503: totalizer.max_queries reached.", tz->queries_refused);
	prom_metric_u64(out, "aggregatord_totalizer_counted_total", "counter",
		"Counts acknowledged by Redis.", atomic_load(&tz->counted));
	prom_metric_u64(out, "aggregatord_totalizer_kept_total", "counter",
		"Counts Redis could not take at stop, kept under state_dir/totalizer/.", atomic_load(&tz->kept));
	prom_metric_u64(out, "aggregatord_totalizer_restored_total", "counter",
		"Counts kept at a stop, read back and written to Redis.", atomic_load(&tz->restored));
	prom_metric_u64(out, "aggregatord_totalizer_held_files_refused_total", "counter",
		"Files under state_dir/totalizer/ refused: links, FIFOs, torn or corrupt.", atomic_load(&tz->held_refused));
	prom_metric_u64(out, "aggregatord_totalizer_flushes_total", "counter",
		"Batches acknowledged by Redis.", atomic_load(&tz->flushes));
	prom_head(out, "aggregatord_totalizer_flush_duration_seconds", "gauge",
		  "Duration of the last Redis write.");
	prom_f64(out, "aggregatord_totalizer_flush_duration_seconds",
		 (double)atomic_load(&tz->last_flush_us) / 1e6);
	prom_metric_u64(out, "aggregatord_totalizer_pending_keys", "gauge",
		"Keys counted but not yet acknowledged by Redis.", atomic_load(&tz->pending_keys));
	prom_metric_u64(out, "aggregatord_totalizer_redis_errors_total", "counter",
		"Failed Redis writes (each retried).", atomic_load(&tz->redis_errors));
	prom_metric_u64(out, "aggregatord_totalizer_redis_up", "gauge",
		"1 while the last Redis write succeeded.", atomic_load(&tz->redis_up) ? 1 : 0);
}

static void totalizer_status(void *job, struct buf *out)
{
	struct totalizer *tz = job;
	gen_reap(tz);
	struct gen *g = atomic_load(&tz->gen);
	struct jw w;
	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_i64(&w, "threads", tz->nthreads);
	jw_key(&w, "listen");
	jw_arr(&w);
	for (size_t i = 0; i < g->ngls; i++)
		jw_str(&w, g->gls[i].l->addr);
	jw_end(&w);
	jw_key(&w, "rules");
	jw_obj(&w);
	for (size_t r = 0; r < g->nrules; r++) {
		uint64_t c[3];
		rule_counts(tz, rule_name(g->rules[r]), c);
		jw_key(&w, rule_name(g->rules[r]));
		jw_obj(&w);
		jw_kv_u64(&w, "matched", c[0]);
		jw_kv_u64(&w, "unmatched", c[1]);
		jw_end(&w);
	}
	jw_end(&w);
	jw_kv_u64(&w, "lines", rx_sum(tz, offsetof(struct rx, lines)));
	jw_kv_u64(&w, "counted", atomic_load(&tz->counted));
	jw_kv_u64(&w, "pending_keys", atomic_load(&tz->pending_keys));
	jw_kv_str(&w, "redis", atomic_load(&tz->redis_up) ? "up" : "down");
	jw_kv_f64(&w, "last_flush_ms", (double)atomic_load(&tz->last_flush_us) / 1000.0);
	jw_kv_u64(&w, "dropped", rx_sum(tz, offsetof(struct rx, allow_drops)) +
				 rx_sum(tz, offsetof(struct rx, oversize)) +
				 rx_sum(tz, offsetof(struct rx, ovfl_drops)) +
				 rx_sum(tz, offsetof(struct rx, keys_limit_drops)) +
				 atomic_load(&tz->pending_drops));
	jw_end(&w);
}

/* --test-rules: the section's rules over stdin, at the clock of now. */
static int totalizer_tool(const void *cfg, FILE *in, FILE *out)
{
	return totalizer_test_rules(cfg, in, out, time(NULL)) == 0 ? 0 : 1;
}

const struct job_ops totalizer_job = {
	.name = "totalizer",
	.keys = totalizer_keys,
	.cfg_size = sizeof(struct totalizer_cfg),
	.validate = totalizer_validate,
	.enabled = totalizer_enabled,
	.create = totalizer_create,
	.start = totalizer_start,
	.reconfigure = totalizer_reconfigure,
	.stop_request = totalizer_stop_request,
	.stop = totalizer_stop,
	.destroy = totalizer_destroy,
	.metrics = totalizer_metrics,
	.status = totalizer_status,
	.http_path = "/v1/totals",
	.http_methods = EVHTTP_REQ_GET,
	.http = totalizer_http,
	.topic = "totals",
	.tool_name = "test-rules",
	.tool_help = "read log lines on stdin, print the totalizer keys each bumps",
	.tool = totalizer_tool,
};
