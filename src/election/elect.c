/*
 * elect.c — the election job: one active node per group, chosen through
 * Redis timestamps (see elect.h and docs/election.md).
 *
 * Design: a pure core (elect_decide() and the key helpers, elect_decide.c)
 * and a thin shell: this file holds the `election` config section, the
 * thread and its rounds, the life cycle, metrics and status; the Redis
 * commands of a round are in elect_redis.c (elect_int.h).
 * The shell is one thread ("elect") that owns a blocking hiredis connection
 * with redis.timeout_ms on connect and on every command as a whole
 * (redisc.h), so a stalled or trickling Redis costs this thread a few
 * timeouts and never the event loop.  Every
 * interval_ms, or at once when woken, a round:
 *
 *   1. connects if needed; takes the attachment timestamp from Redis TIME
 *      on the first round and whenever a yield was requested (SIGRTMIN+0);
 *   2. SET <cluster>+<id>+<node>+attachment_time <ts> PX ttl_ms, pipelined
 *      with the first SCAN page (MATCH <cluster>+<id>+*+attachment_time);
 *   3. reads every live key, and the group's epoch, in one MGET;
 *   4. decides (elect_decide_role) and, when the node becomes the elected
 *      leader, takes a new epoch (INCR <cluster>+<id>+epoch, in a script
 *      that never goes below an epoch already seen: a restarted Redis may
 *      have lost the key); a node active by an override (forced active,
 *      on_redis_down) takes none and stamps the group's epoch, marked not
 *      elected, so consumers never fence it (docs/election.md).  It
 *      publishes the role with role_set_stamped(), logs the transition once
 *      and wakes the main loop (event_active on an event of env->base).
 *
 * A round that fails on a connection the server dropped is retried once on
 * a fresh one.  A failing Redis is logged once when it goes and once when it
 * answers again; for ttl_ms after the SET of the last good round the role
 * is kept (our key still stands for the peers; no call of a round runs
 * past that while active, elect_redis.c), then on_redis_down decides.
 *
 * Ownership and threads: the thread is the only writer of the process role
 * while the job runs.  The main thread talks to it through a mailbox under
 * `mu` (stop, wake, new settings) and reads what it learnt from a snapshot
 * under the same mutex; no I/O is done with `mu` held.  Role commands reach
 * the thread through role_set_waker() (the main loop calls role_wake()).
 *
 * Stop: the thread deletes its key (a peer takes over on its next round),
 * closes its connection and exits; stop() then marks the node standby.
 */
#include "elect.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "elect_int.h"
#include "json.h"
#include "log.h"
#include "prom.h"
#include "redisc.h"
#include "role.h"
#include "thread.h"

/* ---- config ---- */

static const struct cfg_enum down_names[] = {
	{ "active", ELECT_DOWN_ACTIVE },
	{ "standby", ELECT_DOWN_STANDBY },
	{ "keep", ELECT_DOWN_KEEP },
	{ NULL, 0 },
};

#define EOFF(f) offsetof(struct elect_cfg, f)
static const struct cfg_key elect_keys[] = {
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = EOFF(enabled), .idef = 1 },
	{ .name = "cluster", .type = CFG_T_STR, .offset = EOFF(cluster), .sdef = "aggregatord",
	  .check = cfg_check_name, .flags = CFG_RESTART },
	{ .name = "cluster_id", .type = CFG_T_INT, .offset = EOFF(cluster_id), .min = 0,
	  .max = 1000000, .idef = 0, .flags = CFG_RESTART },
	{ .name = "interval_ms", .type = CFG_T_INT, .offset = EOFF(interval_ms), .min = 50,
	  .max = 60000, .idef = 500, .unit = "ms" },
	{ .name = "ttl_ms", .type = CFG_T_INT, .offset = EOFF(ttl_ms), .min = 100, .max = 600000,
	  .idef = 1500, .unit = "ms" },
	{ .name = "standby_window_ms", .type = CFG_T_INT, .offset = EOFF(standby_window_ms),
	  .min = 0, .max = 3600000, .idef = 5000, .unit = "ms" },
	{ .name = "on_redis_down", .type = CFG_T_ENUM, .offset = EOFF(on_redis_down),
	  .sdef = "active", .enums = down_names },
	{ .name = NULL },
};

static const char *down_name(int v)
{
	for (const struct cfg_enum *e = down_names; e->name; e++)
		if (e->value == v)
			return e->name;
	return "?";
}

/* redis.timeout_ms of the file the section sec belongs to (default 1000). */
static int root_redis_timeout(const config_setting_t *sec)
{
	const config_setting_t *root = sec;
	int v = 1000;
	while (root && !config_setting_is_root(root))
		root = config_setting_parent(root);
	const config_setting_t *redis = root ? config_setting_get_member(root, "redis") : NULL;
	if (redis && config_setting_is_group(redis))
		config_setting_lookup_int(redis, "timeout_ms", &v);
	return v;
}

static const config_setting_t *member_or(const config_setting_t *sec, const char *name)
{
	const config_setting_t *s = sec ? config_setting_get_member(sec, name) : NULL;
	return s ? s : sec;
}

static int elect_validate(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfgp)
{
	const struct elect_cfg *c = cfgp;
	if (c->ttl_ms <= c->interval_ms)
		return cfg_error(ctx, member_or(sec, "ttl_ms"),
				 "'election.ttl_ms' is %d ms: it must be longer than "
				 "'election.interval_ms' (%d ms), or a live node's key expires "
				 "between its refreshes", c->ttl_ms, c->interval_ms);
	long long timeout = root_redis_timeout(sec);
	long long worst = (long long)c->ttl_ms + c->interval_ms + timeout;
	if (c->standby_window_ms < worst)
		cfg_warning(ctx, member_or(sec, "standby_window_ms"),
			    "'election.standby_window_ms' (%d ms) is shorter than the worst takeover "
			    "time (%lld ms = ttl_ms %d + interval_ms %d + redis.timeout_ms %lld), so a "
			    "failover can lose events", c->standby_window_ms, worst, c->ttl_ms,
			    c->interval_ms, timeout);
	if (c->ttl_ms < (long long)c->interval_ms + timeout)
		cfg_warning(ctx, member_or(sec, "ttl_ms"),
			    "'election.ttl_ms' (%d ms) is shorter than interval_ms + redis.timeout_ms "
			    "(%lld ms): one slow round lets this node's key expire while it still "
			    "counts itself, and two nodes can be active for a moment",
			    c->ttl_ms, c->interval_ms + timeout);
	return 0;
}

static int elect_enabled(const void *cfg)
{
	return ((const struct elect_cfg *)cfg)->enabled;
}

int elect_standby_window_ms(const void *cfg)
{
	return ((const struct elect_cfg *)cfg)->standby_window_ms;
}

/* ---- runtime ---- */

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void peers_text(struct buf *b, const struct elect_peer *p, size_t n, const char *self)
{
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(p[i].name, self) == 0)
			continue;
		if (shown == 16) {
			buf_addf(b, ", ...");
			break;
		}
		buf_addf(b, "%s'%s' %lld", shown ? ", " : "", p[i].name, p[i].ts_us);
		shown++;
	}
	if (!shown)
		buf_adds(b, "none");
}

/*
 * Keep the highest epoch seen on disk when it grew (elect_epoch.c), before
 * events are stamped with it.  A failed write is logged once a streak and
 * tried again next round; the node goes on with the epoch it holds.
 */
static void remember_epoch(struct elect *e)
{
	if (e->known_epoch <= e->saved_epoch)
		return;
	char err[256];
	if (elect_epoch_save(e, e->known_epoch, err, sizeof(err)) < 0) {
		if (!e->save_failing)
			log_error("election: cannot keep epoch %llu in '%s': %s; restarted, the node would "
				  "know only the epoch redis holds", e->known_epoch, e->epoch_path, err);
		e->save_failing = true;
		return;
	}
	if (e->save_failing)
		log_info("election: epoch %llu kept in '%s' again", e->known_epoch, e->epoch_path);
	e->save_failing = false;
	e->saved_epoch = e->known_epoch;
}

static void round_once(struct elect *e, const struct elect_settings *s,
		       const struct redis_cfg *rc, unsigned long rgen)
{
	char err[256] = "";
	unsigned long long cluster_epoch = 0;
	bool reused = e->c != NULL;
	bool ok = elect_redis_round(e, s, rc, rgen, &cluster_epoch, err, sizeof(err)) == 0;
	if (!ok && reused)	/* a connection the server dropped: one fresh try */
		ok = elect_redis_round(e, s, rc, rgen, &cluster_epoch, err, sizeof(err)) == 0;
	uint64_t now = mono_usec();

	if (ok) {
		e->stepped_down = false;	/* this round withdrew the key; the next writes it */
		e->ever_ok = true;
		e->last_ok_mono = e->lease_from;	/* our key lives ttl_ms from its SET */
		if (cluster_epoch > e->known_epoch)
			e->known_epoch = cluster_epoch;
		if (!e->redis_up)
			log_info("election: redis %s:%d answers%s", rc->host, rc->port,
				 e->decided ? " again" : "");
		e->redis_up = true;
	} else {
		atomic_fetch_add(&e->redis_errors, 1);
		if (e->redis_up)
			log_error("election: redis %s:%d: %s; after %d ms without an answer the role "
				  "follows on_redis_down=%s", rc->host, rc->port, err, s->ttl_ms,
				  down_name(s->on_redis_down));
		e->redis_up = false;
	}

	long long since = e->ever_ok ? (long long)((now - e->last_ok_mono) / 1000u) : -1;
	struct elect_input in = {
		.mode = role_get_mode(),
		.redis = elect_redis_state(ok, since, s->ttl_ms),
		.on_redis_down = s->on_redis_down,
		.last_active = e->is_active,
		.last_override = e->is_override,
		.first_round = ok && !e->prev_ok,
		.self = e->node,
		.self_ts = e->self_ts,
		.name_held = ok && e->held_since != 0,
		.peers = e->rd,
		.npeers = ok ? e->nrd : 0,
	};
	const char *reason;
	enum elect_role role = elect_decide_role(&in, &reason);
	bool active = role != ELECT_ROLE_STANDBY;
	bool elected = role == ELECT_ROLE_ELECTED;
	bool was_elected = e->is_active && !e->is_override;
	const struct elect_peer *leader = ok ? elect_leader(&in) : NULL;
	bool kind_changed = active && e->is_active && elected != was_elected;
	bool changed = !e->decided || active != e->is_active || kind_changed;
	/* A round counts as the first good one unless the last reached Redis
	 * with our key written: a round that withdrew it (forced standby,
	 * stepped down) or found it held is followed by a round of waiting, so
	 * the peers read our key before we count ourselves the leader. */
	e->prev_ok = ok && e->attached;
	unsigned long long epoch = e->epoch;
	unsigned long long group = e->known_epoch > e->epoch ? e->known_epoch : e->epoch;

	if (elected && (!was_elected || e->epoch_stale)) {
		/* Elected (from standby or from an override): a fresh epoch, so
		 * consumers can fence whoever led before. */
		if (ok && elect_bump_epoch(e, group, &epoch, err, sizeof(err)) == 0) {
			if (was_elected)
				log_info("election: epoch %llu taken now that redis answers (was %llu)",
					 epoch, e->epoch);
			e->epoch_stale = false;
			e->known_epoch = epoch;
		} else {
			if (ok)
				atomic_fetch_add(&e->redis_errors, 1);
			epoch = group;
			if (!was_elected)
				log_warn("election: cannot take a new epoch (%s): keeping epoch %llu, the "
					 "last known; a fresh one is taken once redis answers",
					 ok ? err : "redis unreachable", epoch);
			e->epoch_stale = true;
		}
	} else if (!elected) {
		/* Standby follows the group's epoch (what an election starts
		 * from).  An override stamps it too, marked not elected, and
		 * takes none: bumping it would fence the elected node's events
		 * (docs/election.md, the consumer's rule). */
		epoch = group;
		e->epoch_stale = false;
	}

	if (changed) {
		struct buf b = BUF_INIT;
		peers_text(&b, e->rd, in.npeers, e->node);
		const char *was = !e->is_active ? "standby"
				  : e->is_override ? "active (override)" : "active (elected)";
		const char *now_role = !active ? "standby"
				       : elected ? "active (elected)" : "active (override)";
		if (!e->decided)
			log_info("election: %s at start: %s%s%s%s; epoch %llu; group '%s+%d'; peers: %s",
				 now_role, reason,
				 leader ? " (earliest '" : "", leader ? leader->name : "",
				 leader ? "')" : "", epoch, e->cluster, e->cluster_id,
				 b.oom ? "?" : b.data);
		else
			log_info("election: %s -> %s: %s%s%s%s; epoch %llu; group '%s+%d'; peers: %s",
				 was, now_role,
				 reason, leader ? " (earliest '" : "", leader ? leader->name : "",
				 leader ? "')" : "", epoch, e->cluster, e->cluster_id,
				 b.oom ? "?" : b.data);
		buf_release(&b);
	}
	remember_epoch(e);	/* on disk before any event carries it */
	bool role_changed = active != e->is_active;
	/* Elected without a fresh epoch (the bump failed): the events are
	 * marked not elected until one is taken.  Stamped elected, the last
	 * epoch read could be below one a peer took meanwhile, and consumers
	 * would fence the leader's own events (docs/election.md). */
	bool stamp = elected && !e->epoch_stale;
	if (role_changed || kind_changed || epoch != e->epoch || stamp != e->stamped_elected ||
	    !e->decided)
		role_set_stamped(active, epoch, stamp);
	e->stamped_elected = stamp;
	if (role_changed)
		atomic_fetch_add(&e->transitions, 1);
	atomic_store(&e->active, active);
	e->is_active = active;
	e->is_override = active && !elected;
	e->epoch = epoch;

	pthread_mutex_lock(&e->mu);
	struct elect_snap *sn = &e->snap;
	sn->active = active;
	sn->elected = elected;
	sn->epoch = epoch;
	sn->epoch_stale = e->epoch_stale;
	sn->reason = reason;
	sn->redis_up = ok;
	sn->self_ts = e->self_ts;
	if (ok) {
		snprintf(sn->earliest, sizeof(sn->earliest), "%s", leader ? leader->name : e->node);
		sn->npeers = 0;
		for (size_t i = 0; i < e->nrd; i++)
			if (strcmp(e->rd[i].name, e->node) != 0)
				sn->peers[sn->npeers++] = e->rd[i];
	} else {
		sn->earliest[0] = '\0';
	}
	if (role_changed || !e->decided)
		sn->last_change_us = (long long)wall_us();
	sn->decided = true;
	pthread_mutex_unlock(&e->mu);

	if ((role_changed || !e->decided) && e->wake_ev)
		event_active(e->wake_ev, EV_TIMEOUT, 0);
	e->decided = true;

	/* Standby because Redis fails (on_redis_down=standby, or keep while
	 * standby): stop renewing our key and delete it if it is still ours.
	 * A SET that passes while SCAN or MGET is denied would otherwise keep
	 * it alive, the peers counting this node first, and no node would be
	 * active.  Done after the role is published: the key goes only once
	 * this node no longer produces. */
	if (!ok && !active && in.redis == ELECT_REDIS_DOWN && !e->stepped_down) {
		e->stepped_down = true;
		if (e->attached)
			log_warn("election: standby while redis fails: key '%s' is no longer "
				 "renewed, so a peer can be elected", e->key);
		elect_drop_key(e, rc, rgen, "while redis fails");
	}
}

/* When the lease of an elected node ends (the SET of its last good round
 * plus ttl_ms: its key expires no earlier), or 0 when it holds none. */
uint64_t elect_lease_end(const struct elect *e, const struct elect_settings *s)
{
	return e->is_active && !e->is_override && e->ever_ok
	       ? e->last_ok_mono + (uint64_t)s->ttl_ms * 1000u : 0;
}

static void *elect_main(void *arg)
{
	struct elect *e = arg;
	struct elect_settings s;
	struct redis_snap rs = { 0 };
	unsigned long rgen = 0;
	log_set_thread_tag("elect");

	for (;;) {
		pthread_mutex_lock(&e->mu);
		s = e->set;
		if (rgen != e->redis_gen) {
			redis_snap_take(&rs, &e->redis);
			rgen = e->redis_gen;
		}
		pthread_mutex_unlock(&e->mu);

		uint64_t start = mono_usec();
		round_once(e, &s, &rs.cfg, rgen);
		worker_beat(&e->w);

		/* The next round interval_ms after this one began, or at once on a
		 * wake-up (a role command, a reload); a wake during the round is
		 * kept for this sleep.  An elected node wakes no later than the
		 * end of its lease: rounds that fail fast (error replies) must not
		 * let it sleep past the moment its key expires and a peer may take
		 * over. */
		uint64_t now = mono_usec(), next = start + (uint64_t)s.interval_ms * 1000u;
		uint64_t lease = elect_lease_end(e, &s);
		if (lease && lease < next)
			next = lease;
		if (!worker_sleep_ms(&e->w, next > now ? (next - now + 999) / 1000 : 0))
			break;
	}

	elect_drop_key(e, &rs.cfg, rgen, "at stop");
	if (e->c)
		redisFree(e->c);
	e->c = NULL;
	return NULL;
}

/* Runs on the main thread when the role or the yield counter changes. */
static void elect_waker(void *arg)
{
	struct elect *e = arg;
	worker_wake(&e->w);
}

/* On the loop: the thread saw a change of role. */
static void on_change(evutil_socket_t fd, short what, void *arg)
{
	struct elect *e = arg;
	(void)fd;
	(void)what;
	e->env->status_changed(e->env->arg);
}

static int copy_redis(struct elect *e, const struct redis_cfg *r)
{
	if (redis_cfg_copy(&e->redis, r) < 0)
		return -1;
	e->redis_gen++;
	return 0;
}

static bool redis_same(const struct redis_cfg *a, const struct redis_cfg *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	       strcmp(a->user, b->user) == 0 && strcmp(a->password, b->password) == 0 &&
	       a->db == b->db &&
	       a->timeout_ms == b->timeout_ms;
}

static void settings_from(struct elect_settings *s, const struct elect_cfg *cfg)
{
	s->interval_ms = cfg->interval_ms;
	s->ttl_ms = cfg->ttl_ms;
	s->on_redis_down = cfg->on_redis_down;
	s->standby_window_ms = cfg->standby_window_ms;
}

static void elect_destroy(void *job);

static void *elect_create(const struct job_env *env, const void *cfgp)
{
	const struct elect_cfg *cfg = cfgp;
	struct elect *e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("out of memory");
		return NULL;
	}
	e->env = env;
	pthread_mutex_init(&e->mu, NULL);
	if (worker_init(&e->w) < 0) {
		log_error("election: cannot set up its thread");
		goto fail;
	}
	snprintf(e->node, sizeof(e->node), "%s", env->node->name);
	snprintf(e->cluster, sizeof(e->cluster), "%s", cfg->cluster);
	e->cluster_id = cfg->cluster_id;
	settings_from(&e->set, cfg);
	if (elect_key(e->key, sizeof(e->key), e->cluster, e->cluster_id, e->node) < 0 ||
	    elect_epoch_key(e->epoch_key, sizeof(e->epoch_key), e->cluster, e->cluster_id) < 0 ||
	    elect_scan_pattern(e->pattern, sizeof(e->pattern), e->cluster, e->cluster_id) < 0) {
		log_error("election: keys for group '%s+%d' are too long", e->cluster, e->cluster_id);
		goto fail;
	}
	if (elect_epoch_path(e->epoch_path, sizeof(e->epoch_path), env->node->state_dir) < 0) {
		log_error("election: the state directory's path is too long");
		goto fail;
	}
	e->known_epoch = e->saved_epoch = elect_epoch_load(e);
	if (e->known_epoch)
		log_info("election: epoch %llu seen before the restart (%s); no epoch below it is taken",
			 e->known_epoch, e->epoch_path);
	if (copy_redis(e, env->redis) < 0)
		goto fail;
	if (env->base) {
		e->wake_ev = event_new(env->base, -1, 0, on_change, e);
		if (!e->wake_ev) {
			log_error("election: cannot create the loop event");
			goto fail;
		}
	}
	e->snap.reason = "not decided yet";
	return e;
fail:
	elect_destroy(e);
	return NULL;
}

static int elect_start(void *job)
{
	struct elect *e = job;
	/* Standby until the first round decides: nothing is produced twice. */
	role_set_current(false, 0);
	e->yields_seen = role_yield_requests();
	e->redis_up = true;	/* so the first failure is logged as such */
	if (worker_start(&e->w, "elect", elect_main, e) < 0)
		return log_error("election: cannot start its thread");
	role_set_waker(elect_waker, e);
	log_info("election: group '%s+%d' as '%s': a round every %d ms, keys live %d ms, "
		 "on_redis_down=%s", e->cluster, e->cluster_id, e->node, e->set.interval_ms,
		 e->set.ttl_ms, down_name(e->set.on_redis_down));
	return 0;
}

static int elect_reconfigure(void *job, const void *cfgp)
{
	struct elect *e = job;
	const struct elect_cfg *cfg = cfgp;
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	struct elect_settings old = e->set;
	settings_from(&e->set, cfg);
	if (!redis_same(&e->redis, e->env->redis))
		rc = copy_redis(e, e->env->redis);
	pthread_mutex_unlock(&e->mu);
	worker_wake(&e->w);
	if (memcmp(&old, &e->set, sizeof(old)) != 0)
		log_info("election: now a round every %d ms, keys live %d ms, on_redis_down=%s, "
			 "standby window %d ms", cfg->interval_ms, cfg->ttl_ms,
			 down_name(cfg->on_redis_down), cfg->standby_window_ms);
	return rc;
}

static void elect_stop_request(void *job, uint64_t deadline_us)
{
	struct elect *e = job;
	(void)deadline_us;
	role_set_waker(NULL, NULL);
	if (e->w.started)
		worker_stop_request(&e->w);
}

static int elect_stop(void *job, uint64_t deadline_us)
{
	struct elect *e = job;
	int rc = 0;
	if (worker_join(&e->w, deadline_us) < 0) {
		log_warn("election: its thread is still inside a Redis command: left behind, "
			 "abandoned at exit (its key expires after ttl_ms)");
		rc = -1;
	}
	/* This node no longer produces: it is standby for the rest of its life. */
	role_set_current(false, e->epoch);
	atomic_store(&e->active, false);
	pthread_mutex_lock(&e->mu);
	e->snap.active = false;
	e->snap.elected = false;
	e->snap.reason = "stopped";
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static void elect_destroy(void *job)
{
	struct elect *e = job;
	if (!e)
		return;
	if (e->wake_ev)
		event_free(e->wake_ev);
	if (e->c)
		redisFree(e->c);
	redis_cfg_release(&e->redis);
	worker_destroy(&e->w);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

bool elect_active(void *job)
{
	return job ? atomic_load(&((struct elect *)job)->active) : role_is_active();
}

/* ---- metrics and status ---- */

static void elect_metrics(void *job, struct buf *out)
{
	struct elect *e = job;
	pthread_mutex_lock(&e->mu);
	bool active = e->snap.active, up = e->snap.redis_up;
	unsigned long long epoch = e->snap.epoch;
	size_t npeers = e->snap.npeers;
	long long last = e->snap.last_change_us;
	pthread_mutex_unlock(&e->mu);
	prom_metric_u64(out, "aggregatord_election_role", "gauge",
		"1 while this node is active, 0 while standby.", active ? 1 : 0);
	prom_metric_u64(out, "aggregatord_election_epoch", "gauge",
		"The epoch this node publishes under (the group's while standby).", epoch);
	prom_metric_u64(out, "aggregatord_election_transitions_total", "counter",
		"Changes of role (a node starts as standby).", atomic_load(&e->transitions));
	prom_metric_u64(out, "aggregatord_election_redis_errors_total", "counter",
		"Election rounds or epoch bumps that Redis failed.", atomic_load(&e->redis_errors));
	prom_metric_u64(out, "aggregatord_election_redis_up", "gauge",
		"1 while the last election round reached Redis.", up ? 1 : 0);
	prom_metric_u64(out, "aggregatord_election_peers", "gauge",
		"Other live nodes of the group seen in the last good round.", npeers);
	prom_metric_f64(out, "aggregatord_election_last_change_timestamp_seconds", "gauge",
		"When the role last changed (or was first decided), seconds since the Unix epoch.", (double)last / 1e6);
}

static void iso_us(long long us, char *out, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03dZ", (int)(us % 1000000 / 1000));
}

static void elect_status(void *job, struct buf *out)
{
	struct elect *e = job;
	struct elect_settings s;
	struct jw w;
	char ts[40];
	jw_init(&w, out);
	jw_obj(&w);
	pthread_mutex_lock(&e->mu);
	s = e->set;
	const struct elect_snap *sn = &e->snap;
	jw_kv_str(&w, "role", sn->active ? "active" : "standby");
	jw_kv_bool(&w, "elected", sn->elected);
	jw_kv_u64(&w, "epoch", sn->epoch);
	jw_kv_bool(&w, "epoch_fresh", !sn->epoch_stale);
	jw_kv_str(&w, "reason", sn->reason);
	jw_kv_str(&w, "mode", role_mode_name(role_get_mode()));
	jw_kv_str(&w, "cluster", e->cluster);
	jw_kv_i64(&w, "cluster_id", e->cluster_id);
	jw_kv_str(&w, "node", e->node);
	jw_kv_i64(&w, "attachment_ts_us", sn->self_ts);
	jw_kv_str(&w, "earliest", sn->earliest[0] ? sn->earliest : NULL);
	jw_key(&w, "peers");
	jw_arr(&w);
	for (size_t i = 0; i < sn->npeers; i++) {
		jw_obj(&w);
		jw_kv_str(&w, "name", sn->peers[i].name);
		jw_kv_i64(&w, "ts_us", sn->peers[i].ts_us);
		jw_end(&w);
	}
	jw_end(&w);
	if (sn->last_change_us) {
		iso_us(sn->last_change_us, ts, sizeof(ts));
		jw_kv_str(&w, "last_change", ts);
	} else {
		jw_kv_null(&w, "last_change");
	}
	jw_kv_str(&w, "redis", sn->decided ? (sn->redis_up ? "up" : "down") : "unknown");
	pthread_mutex_unlock(&e->mu);
	jw_kv_u64(&w, "transitions", atomic_load(&e->transitions));
	jw_kv_u64(&w, "redis_errors", atomic_load(&e->redis_errors));
	jw_kv_i64(&w, "interval_ms", s.interval_ms);
	jw_kv_i64(&w, "ttl_ms", s.ttl_ms);
	jw_kv_i64(&w, "standby_window_ms", s.standby_window_ms);
	jw_kv_str(&w, "on_redis_down", down_name(s.on_redis_down));
	jw_end(&w);
}

const struct job_ops election_job = {
	.name = "election",
	.keys = elect_keys,
	.cfg_size = sizeof(struct elect_cfg),
	.validate = elect_validate,
	.enabled = elect_enabled,
	.create = elect_create,
	.start = elect_start,
	.reconfigure = elect_reconfigure,
	.stop_request = elect_stop_request,
	.stop = elect_stop,
	.destroy = elect_destroy,
	.metrics = elect_metrics,
	.status = elect_status,
	.stop_late = true,	/* keep the role until the publish queue is flushed */
	.owns_role = true,
	.standby_window_ms = elect_standby_window_ms,
};
