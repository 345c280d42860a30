/*
 * sweep.c — move FreeRADIUS radacct rows from the members into master.
 *
 * The move protocol (docs/sweep.md has the argument in full):
 *   1. read a member's table a page at a time, by radacctid (keyset paging:
 *      memory is one page whatever the backlog);
 *   2. upsert the page into master in one transaction, keyed by
 *      acctuniqueid; the statement itself applies the precedence rule, so an
 *      older copy never overwrites a newer one, in whatever order members
 *      are swept; open rows master already holds at that version or a newer
 *      one are left out (they would change nothing);
 *   3. only after master committed, delete from the member exactly the
 *      closed rows that were read — every column compared null-safely, so a
 *      row FreeRADIUS changed in between survives to the next cycle — and the
 *      open copies master already holds closed with a newer-or-equal
 *      version (late interims);
 *   4. after all members, close on master (and on the members' copies) the
 *      open sessions whose latest update is older than stale_after;
 *   5. publish each session a member's delete moved (after its commit) and
 *      each stale-closed one, with master's row, once per version of that
 *      row (sw_publish_master, radacct.h's ra_seen).
 * Sessions keep their server's own time zone; DATETIMEs travel from member
 * to master as UNIX time, and versions from different servers are compared
 * by it (docs/sweep.md, "Time zones").
 * A crash anywhere leaves at worst rows copied and not yet deleted; the next
 * cycle copies them again (a no-op) and deletes them.  Master down: nothing
 * is deleted anywhere.
 *
 * Threads: the sweep thread (cycles, stale closing, its own master
 * connection), one thread per member per cycle (its own member and master
 * connections), the main thread (life cycle, metrics, status).  Counters are
 * atomics written by one thread each.
 *
 * This file: the config, the cycle that drives the member threads and stale
 * closing, the sweep thread, the life cycle, metrics and status.  Steps 1-3
 * (a member's move, its thread) are in sweep_move.c, step 4 in
 * sweep_stale.c, step 5 (the events) in sweep_events.c; sweep_db.c opens
 * the connections (and checks the table at connect) and binds rows;
 * radacct.c has the pure rules and the statements' text; sweep_int.h the
 * state they share.
 */
#include "sweep.h"

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "prom.h"
#include "radacct.h"
#include "role.h"
#include "sweep_int.h"
#include "thread.h"
#include "worker.h"

#define MAX_MEMBERS 64
#define SEEN_SLOTS 16384	/* sessions remembered as published (radacct.h, ra_seen) */

/* ---- config ---- */

#define DOFF(f) offsetof(struct sweep_db, f)
static const struct cfg_key master_keys[] = {
	{ .name = "host", .type = CFG_T_STR, .offset = DOFF(host), .flags = CFG_REQUIRED, .check = cfg_check_nonempty },
	{ .name = "port", .type = CFG_T_INT, .offset = DOFF(port), .min = 1, .max = 65535, .idef = 3306 },
	{ .name = "user", .type = CFG_T_STR, .offset = DOFF(user), .flags = CFG_REQUIRED, .check = cfg_check_nonempty },
	{ .name = "password", .type = CFG_T_STR, .offset = DOFF(password), .sdef = "", .flags = CFG_SECRET },
	{ .name = "database", .type = CFG_T_STR, .offset = DOFF(database), .sdef = "radius", .check = ra_check_identifier },
	{ .name = "log_bin", .type = CFG_T_BOOL, .offset = DOFF(log_bin), .idef = 1 },
	{ .name = NULL },
};

static const struct cfg_key member_keys[] = {
	{ .name = "name", .type = CFG_T_STR, .offset = DOFF(name), .flags = CFG_REQUIRED, .check = cfg_check_name },
	{ .name = "host", .type = CFG_T_STR, .offset = DOFF(host), .flags = CFG_REQUIRED, .check = cfg_check_nonempty },
	{ .name = "port", .type = CFG_T_INT, .offset = DOFF(port), .min = 1, .max = 65535, .idef = 3306 },
	{ .name = "user", .type = CFG_T_STR, .offset = DOFF(user), .flags = CFG_REQUIRED, .check = cfg_check_nonempty },
	{ .name = "password", .type = CFG_T_STR, .offset = DOFF(password), .sdef = "", .flags = CFG_SECRET },
	{ .name = "database", .type = CFG_T_STR, .offset = DOFF(database), .sdef = "radius", .check = ra_check_identifier },
	{ .name = NULL },
};

static int parse_master(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	if (!s)
		return 0;	/* reported by validate, with the section's line */
	return cfg_parse_section(ctx, s, "sweep.master", master_keys, field);
}

static void free_master(void *field)
{
	cfg_free_section(master_keys, field);
}

#define SOFF(f) offsetof(struct sweep_cfg, f)
static int parse_members(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct sweep_cfg *c = (struct sweep_cfg *)((char *)field - SOFF(members));
	void *arr;
	int rc = cfg_parse_list(ctx, s, "sweep.members", member_keys, sizeof(struct sweep_db),
				&arr, &c->nmembers);
	c->members = arr;
	return rc;
}

static void free_members(void *field)
{
	struct sweep_cfg *c = (struct sweep_cfg *)((char *)field - SOFF(members));
	cfg_free_list(member_keys, sizeof(struct sweep_db), c->members, c->nmembers);
	c->members = NULL;
	c->nmembers = 0;
}

static const struct cfg_key sweep_keys[] = {
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = SOFF(enabled), .idef = 1 },
	{ .name = "interval", .type = CFG_T_INT, .offset = SOFF(interval), .min = 1, .max = 86400, .idef = 60, .unit = "s" },
	{ .name = "stale_after", .type = CFG_T_INT, .offset = SOFF(stale_after), .min = 60, .max = 30 * 86400, .idef = 1800, .unit = "s" },
	{ .name = "batch", .type = CFG_T_INT, .offset = SOFF(batch), .min = 1, .max = 2000, .idef = 1000, .unit = "rows" },
	{ .name = "timeout", .type = CFG_T_INT, .offset = SOFF(timeout), .min = 1, .max = 3600, .idef = 30, .unit = "s" },
	{ .name = "master_writers", .type = CFG_T_INT, .offset = SOFF(master_writers), .min = 1, .max = MAX_MEMBERS, .idef = 1 },
	{ .name = "table", .type = CFG_T_STR, .offset = SOFF(table), .sdef = "radacct", .check = ra_check_identifier },
	{ .name = "stale_cause", .type = CFG_T_STR, .offset = SOFF(stale_cause), .sdef = "Stale-Session", .check = cfg_check_nonempty },
	{ .name = "master", .type = CFG_T_CUSTOM, .offset = SOFF(master), .custom = parse_master, .custom_free = free_master },
	{ .name = "members", .type = CFG_T_CUSTOM, .offset = SOFF(members), .custom = parse_members, .custom_free = free_members },
	{ .name = NULL },
};

static int sweep_validate(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfgp)
{
	struct sweep_cfg *c = cfgp;
	int rc = 0;
	if (!config_setting_get_member(sec, "master"))
		rc = cfg_error(ctx, sec, "'sweep.master' is required");
	if (c->nmembers == 0)
		rc = cfg_error(ctx, sec, "'sweep.members' needs at least one member");
	if (c->nmembers > MAX_MEMBERS)
		rc = cfg_error(ctx, sec, "'sweep.members' has %zu members; at most %d", c->nmembers, MAX_MEMBERS);
	if (strlen(c->stale_cause) > 32)
		rc = cfg_error(ctx, config_setting_get_member(sec, "stale_cause"),
			       "'sweep.stale_cause' is longer than the column (32)");
	const config_setting_t *list = config_setting_get_member(sec, "members");
	for (size_t i = 0; i < c->nmembers; i++)
		for (size_t j = 0; j < i; j++)
			if (c->members[i].name && c->members[j].name &&
			    strcmp(c->members[i].name, c->members[j].name) == 0)
				rc = cfg_error(ctx, config_setting_get_elem(list, (unsigned)i),
					       "'sweep.members[%zu].name' '%s' is used by member %zu too",
					       i, c->members[i].name, j);
	return rc;
}

static int sweep_enabled(const void *cfg)
{
	return ((const struct sweep_cfg *)cfg)->enabled;
}

/* ---- the cycle ---- */

/*
 * One cycle: every member concurrently (skipping those in back-off), then
 * stale closing when master's view is whole enough.  0, or -1 with the
 * failures logged (names of members or master).
 */
static int cycle(struct sweep *sw, bool once)
{
	uint64_t t0 = mono_usec();
	time_t now = time(NULL);
	struct member_run runs[MAX_MEMBERS];
	bool ran[MAX_MEMBERS] = { false };
	int rc = 0;
	atomic_store(&sw->in_cycle, true);
	for (size_t i = 0; i < sw->nm; i++) {
		struct member *m = &sw->m[i];
		m->err[0] = '\0';
		m->ok = false;
		if (!once && m->skip > 0) {
			m->skip--;
			continue;
		}
		runs[i] = (struct member_run){ m, once };
		char name[16];
		snprintf(name, sizeof(name), "sw-%s", m->cfg.name);
		if (worker_start(&m->w, name, sw_member_main, &runs[i]) < 0) {
			snprintf(m->err, sizeof(m->err), "cannot start a thread");
			continue;
		}
		ran[i] = true;
	}
	bool whole = true;	/* may stale closing trust master's view? */
	for (size_t i = 0; i < sw->nm; i++) {
		struct member *m = &sw->m[i];
		if (ran[i])
			worker_join(&m->w, 0);	/* each statement has its own timeout */
		if (ran[i] && m->ok) {
			if (atomic_load(&m->down_since))
				log_info("sweep: member '%s' is reachable again", m->cfg.name);
			m->timing_out = false;
			m->failures = 0;
			atomic_store(&m->down_since, 0);
			continue;
		}
		rc = -1;
		if (ran[i] && !once && worker_stopping(&sw->w)) {
			/* cancelled by stop: not a failure of the member */
		} else if (ran[i]) {
			m->failures++;
			int backoff = 1 << (m->failures < 4 ? m->failures - 1 : 3);
			m->skip = backoff - 1;
			if (!atomic_load(&m->down_since))
				atomic_store(&m->down_since, (long long)now);
			if (m->timed_out && m->timing_out)	/* logged once, at the first */
				log_debug("sweep: member '%s': %s; retrying in %d cycle(s)", m->cfg.name,
					  m->err, backoff);
			else
				log_error("sweep: member '%s': %s%s; retrying in %d cycle(s)", m->cfg.name,
					  m->err[0] ? m->err : "failed",
					  m->timed_out ? " (timed out: logged again only once it answers, "
							 "counted in aggregatord_sweep_timeouts_total)" : "",
					  backoff);
			m->timing_out = m->timed_out;
		}
		/* Its copies could be newer than master's, unless it has been away
		 * for longer than stale_after (then nothing on it is that recent). */
		long long down = atomic_load(&m->down_since);
		if (!down || (long long)now - down < sw->stale_after)
			whole = false;
	}
	char err[1024] = "";
	if (!once && worker_stopping(&sw->w)) {
		/* stopping: the members ended at a batch boundary; no stale closing */
	} else if (whole && (once || role_is_active())) {
		if (sw_close_stale(sw, once, err, sizeof(err)) < 0) {
			log_error("sweep: master: %s", err);
			sw_conn_close(&sw->stale);
			rc = -1;
		}
	} else if (!whole) {
		log_info("sweep: stale sessions not closed this cycle: not every member was swept");
	}
	atomic_store(&sw->last_cycle_us, mono_usec() - t0);
	atomic_store(&sw->last_cycle_wall, (uint64_t)time(NULL));
	atomic_fetch_add(&sw->cycles, 1);
	if (rc < 0)
		atomic_fetch_add(&sw->failed_cycles, 1);
	atomic_store(&sw->in_cycle, false);
	return rc;
}

static void *sweep_main(void *arg)
{
	struct sweep *sw = arg;
	log_set_thread_tag("sweep");
	mysql_thread_init();
	do {
		if (role_is_active())
			cycle(sw, false);
		worker_beat(&sw->w);
	} while (worker_sleep_ms(&sw->w, (uint64_t)sw->interval * 1000u));
	sw_conn_close(&sw->stale);
	for (size_t i = 0; i < sw->nm; i++) {
		sw_conn_close(&sw->m[i].mc);
		sw_conn_close(&sw->m[i].sc);
	}
	mysql_thread_end();
	return NULL;
}

/* ---- life cycle ---- */

static char *dupz(const char *s)
{
	return strdup(s ? s : "");
}

static int db_copy(struct sweep_db *dst, const struct sweep_db *src)
{
	*dst = *src;
	dst->name = dupz(src->name);
	dst->host = dupz(src->host);
	dst->user = dupz(src->user);
	dst->password = dupz(src->password);
	dst->database = dupz(src->database);
	return dst->name && dst->host && dst->user && dst->password && dst->database ? 0 : -1;
}

static void db_free(struct sweep_db *d)
{
	free(d->name);
	free(d->host);
	free(d->user);
	free(d->password);
	free(d->database);
	memset(d, 0, sizeof(*d));
}

static void sweep_destroy(void *job);

/* The settings into sw's fields, its members owned by owner (sw itself, or
 * the job a reconfigure loads for); -1 out of memory, what was loaded
 * then freed by unload_cfg(sw). */
static int load_cfg(struct sweep *sw, struct sweep *owner, const struct sweep_cfg *cfg)
{
	sw->interval = cfg->interval;
	sw->stale_after = cfg->stale_after;
	sw->batch = cfg->batch;
	sw->timeout = cfg->timeout;
	sw->master_writers = cfg->master_writers;
	sw->table = strdup(cfg->table);
	sw->stale_cause = strdup(cfg->stale_cause);
	if (!sw->table || !sw->stale_cause || db_copy(&sw->master, &cfg->master) < 0)
		return -1;
	sw->m = calloc(cfg->nmembers, sizeof(*sw->m));
	if (!sw->m)
		return -1;
	sw->nm = cfg->nmembers;
	for (size_t i = 0; i < sw->nm; i++) {
		struct member *m = &sw->m[i];
		m->sw = owner;
		if (worker_init(&m->w) < 0)
			return -1;
		m->rows = malloc((size_t)cfg->batch * sizeof(*m->rows));
		if (!m->rows || db_copy(&m->cfg, &cfg->members[i]) < 0)
			return -1;
	}
	return 0;
}

static void members_free(struct member *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sw_conn_close(&m[i].mc);
		sw_conn_close(&m[i].sc);
		worker_destroy(&m[i].w);
		free(m[i].rows);
		db_free(&m[i].cfg);
	}
	free(m);
}

static void unload_cfg(struct sweep *sw)
{
	members_free(sw->m, sw->nm);
	sw->m = NULL;
	sw->nm = 0;
	sw_conn_close(&sw->stale);
	db_free(&sw->master);
	free(sw->table);
	free(sw->stale_cause);
	sw->table = sw->stale_cause = NULL;
}

static void *sweep_create(const struct job_env *env, const void *cfgp)
{
	static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
	pthread_once(&lib_once, (void (*)(void))mysql_library_init);
	struct sweep *sw = calloc(1, sizeof(*sw));
	if (!sw) {
		log_error("out of memory");
		return NULL;
	}
	sw->env = env;
	if (worker_init(&sw->w) < 0) {
		log_error("sweep: cannot set up its thread");
		free(sw);
		return NULL;
	}
	pthread_mutex_init(&sw->mw_mu, NULL);
	pthread_cond_init(&sw->mw_cv, NULL);
	pthread_mutex_init(&sw->seen_mu, NULL);
	sw->seen = ra_seen_new(SEEN_SLOTS);
	if (!sw->seen || load_cfg(sw, sw, cfgp) < 0) {
		log_error("sweep: out of memory");
		sweep_destroy(sw);
		return NULL;
	}
	return sw;
}

static int sweep_start(void *job)
{
	struct sweep *sw = job;
	if (worker_start(&sw->w, "sweep", sweep_main, sw) < 0)
		return log_error("sweep: cannot start its thread");
	log_info("sweep: %zu member(s) into master %s:%d/%s, table '%s', every %d s (only while active)",
		 sw->nm, sw->master.host, sw->master.port, sw->master.database, sw->table, sw->interval);
	return 0;
}

/*
 * A cycle in progress ends at its batch boundary, and a MariaDB call in
 * progress (a member or master that hangs) is cancelled: the member threads
 * are children of the sweep's worker, so the request makes every one's stop
 * descriptor readable, and sweep_db.c's sw_io_wait polls the calling
 * thread's (worker_stop_fd).  The join never waits for a timeout.
 */
static void sweep_stop_request(void *job, uint64_t deadline_us)
{
	struct sweep *sw = job;
	(void)deadline_us;
	if (sw->w.started)
		worker_stop_request(&sw->w);
}

static int sweep_stop(void *job, uint64_t deadline_us)
{
	struct sweep *sw = job;
	if (worker_join(&sw->w, deadline_us) < 0) {
		log_warn("sweep: a member or master statement is still running: left behind, "
			 "abandoned at exit (its transaction is rolled back by the server)");
		return -1;
	}
	return 0;
}

static bool str_same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Does d reach the same table of the same server as e? */
static bool db_same(const struct sweep_db *d, const struct sweep_db *e)
{
	return str_same(d->host, e->host) && d->port == e->port && str_same(d->user, e->user) &&
	       str_same(d->password, e->password) && str_same(d->database, e->database);
}

#define CARRY(f) atomic_store(&to->f, atomic_load(&from->f))
/*
 * A member kept across a reload (the same name) keeps what it counted: its
 * counters, its gauges and its schema refusals, so /metrics never goes
 * backwards.  Its back-off and "down since" carry over too while it still
 * names the same server and table (stale closing keeps counting how long it
 * has been away); pointed elsewhere, it is tried at once.  Both stopped.
 */
static void member_carry(struct member *to, const struct member *from, bool same_place)
{
	CARRY(read);
	CARRY(copied);
	CARRY(moved);
	CARRY(superseded);
	CARRY(stale_closed);
	CARRY(errors);
	CARRY(wide);
	CARRY(bad_time);
	CARRY(timeouts);
	CARRY(schema.refused);
	CARRY(last_us);
	if (!same_place)
		return;
	CARRY(schema.bad);
	CARRY(oldest_closed);
	to->failures = from->failures;
	to->skip = from->skip;
	CARRY(down_since);
	to->timing_out = from->timing_out;
}
#undef CARRY

/*
 * The new settings and members are loaded first, beside the ones in force:
 * out of memory, nothing has changed (the thread runs on, the old settings
 * whole; the daemon says so).  Then the sweep thread ends at a batch
 * boundary (its members with it), and each member whose name stays takes
 * over its old self's counters and state (member_carry); a member removed
 * or renamed is gone with its series.  Connections are made again by the
 * next cycle, which starts at once.
 */
static int sweep_reconfigure(void *job, const void *cfgp)
{
	struct sweep *sw = job;
	struct sweep nw = { 0 };
	if (load_cfg(&nw, sw, cfgp) < 0) {
		unload_cfg(&nw);
		return log_error("sweep: out of memory loading the new settings");
	}
	bool was = sw->w.started;
	worker_stop(&sw->w);
	for (size_t i = 0; i < nw.nm; i++)
		for (size_t j = 0; j < sw->nm; j++)
			if (strcmp(nw.m[i].cfg.name, sw->m[j].cfg.name) == 0)
				member_carry(&nw.m[i], &sw->m[j],
					     db_same(&nw.m[i].cfg, &sw->m[j].cfg) && str_same(nw.table, sw->table));
	unload_cfg(sw);
	sw->interval = nw.interval;
	sw->stale_after = nw.stale_after;
	sw->batch = nw.batch;
	sw->timeout = nw.timeout;
	sw->master_writers = nw.master_writers;
	sw->table = nw.table;
	sw->stale_cause = nw.stale_cause;
	sw->master = nw.master;
	sw->m = nw.m;
	sw->nm = nw.nm;
	return was ? sweep_start(sw) : 0;
}

static void sweep_destroy(void *job)
{
	struct sweep *sw = job;
	if (!sw)
		return;
	unload_cfg(sw);
	worker_destroy(&sw->w);
	pthread_mutex_destroy(&sw->mw_mu);
	pthread_cond_destroy(&sw->mw_cv);
	pthread_mutex_destroy(&sw->seen_mu);
	ra_seen_free(sw->seen);
	free(sw);
}

static int sweep_once(void *job, const struct once_args *args)
{
	struct sweep *sw = job;
	(void)args;
	mysql_thread_init();
	int rc = cycle(sw, true);
	uint64_t moved = 0, read = 0, sup = 0;
	for (size_t i = 0; i < sw->nm; i++) {
		moved += atomic_load(&sw->m[i].moved);
		read += atomic_load(&sw->m[i].read);
		sup += atomic_load(&sw->m[i].superseded);
	}
	log_info("sweep: one cycle %s: %llu row(s) read, %llu moved, %llu superseded removed, "
		 "%llu stale closed, %.3f s", rc == 0 ? "done" : "FAILED", (unsigned long long)read,
		 (unsigned long long)moved, (unsigned long long)sup,
		 (unsigned long long)atomic_load(&sw->stale_total),
		 (double)atomic_load(&sw->last_cycle_us) / 1e6);
	sw_conn_close(&sw->stale);
	for (size_t i = 0; i < sw->nm; i++) {
		sw_conn_close(&sw->m[i].mc);
		sw_conn_close(&sw->m[i].sc);
	}
	mysql_thread_end();
	return rc;
}

/* ---- metrics and status ---- */

/* A duration in µs as seconds to the millisecond, the resolution shown. */
static double us_to_ms_s(uint64_t us)
{
	return (double)((us + 500) / 1000) / 1e3;
}

static void sweep_metrics(void *job, struct buf *out)
{
	struct sweep *sw = job;
	static const struct {
		const char *name, *help;
		size_t off;
	} per[] = {
		{ "rows_read_total", "Rows read from the member.", offsetof(struct member, read) },
		{ "rows_copied_total", "Rows written to master (open rows it already held at that version are not).", offsetof(struct member, copied) },
		{ "rows_moved_total", "Closed rows deleted from the member after master committed them.", offsetof(struct member, moved) },
		{ "superseded_deleted_total", "Open copies deleted because master holds the session closed and newer.", offsetof(struct member, superseded) },
		{ "member_stale_closed_total", "The member's copies closed as stale.", offsetof(struct member, stale_closed) },
		{ "errors_total", "Failed member cycles.", offsetof(struct member, errors) },
		{ "rows_too_wide_total", "Rows left on the member: a value wider than the sweep's row buffer.", offsetof(struct member, wide) },
		{ "rows_bad_time_total", "Rows left on the member: a DATETIME with no UNIX time (zero, or before 1970).", offsetof(struct member, bad_time) },
		{ "timeouts_total", "Member cycles that failed on a MariaDB timeout (timeout), the member's or master's.", offsetof(struct member, timeouts) },
		{ "member_schema_refused_total", "Connects refused: the member's table has no unique acctuniqueid index, or a unique index that could merge sessions.", offsetof(struct member, schema.refused) },
	};
	for (size_t k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
		char name[80];
		snprintf(name, sizeof(name), "aggregatord_sweep_%s", per[k].name);
		prom_head(out, name, "counter", per[k].help);
		for (size_t i = 0; i < sw->nm; i++)
			prom_u64_1(out, name, "member", sw->m[i].cfg.name,
				   atomic_load((_Atomic uint64_t *)((char *)&sw->m[i] + per[k].off)));
	}
	prom_head(out, "aggregatord_sweep_member_cycle_seconds", "gauge",
		  "Duration of the member's last cycle.");
	for (size_t i = 0; i < sw->nm; i++)
		prom_f64_1(out, "aggregatord_sweep_member_cycle_seconds", "member", sw->m[i].cfg.name,
			   us_to_ms_s(atomic_load(&sw->m[i].last_us)));
	prom_head(out, "aggregatord_sweep_oldest_closed_age_seconds", "gauge",
		  "Age of the oldest closed row still on the member (0: none).");
	long long now = (long long)time(NULL);
	for (size_t i = 0; i < sw->nm; i++) {
		long long o = atomic_load(&sw->m[i].oldest_closed);
		/* a whole number of seconds; negative when the member's clock is ahead */
		prom_f64_1(out, "aggregatord_sweep_oldest_closed_age_seconds", "member",
			   sw->m[i].cfg.name, (double)(o ? now - o : 0));
	}
	prom_metric_u64(out, "aggregatord_sweep_cycles_total", "counter",
		"Sweep cycles run.", atomic_load(&sw->cycles));
	prom_metric_u64(out, "aggregatord_sweep_failed_cycles_total", "counter",
		"Cycles in which a member or master failed.", atomic_load(&sw->failed_cycles));
	prom_metric_u64(out, "aggregatord_sweep_stale_closed_total", "counter",
		"Sessions closed as stale on master.", atomic_load(&sw->stale_total));
	prom_head(out, "aggregatord_sweep_master_schema_refused_total", "counter",
		  "Connects refused: master's table has no unique acctuniqueid index, or a unique index that could merge sessions.");
	prom_u64(out, "aggregatord_sweep_master_schema_refused_total",
		 atomic_load(&sw->master_schema.refused));
	prom_metric_f64(out, "aggregatord_sweep_cycle_seconds", "gauge",
		"Duration of the last cycle.", us_to_ms_s(atomic_load(&sw->last_cycle_us)));
}

static void sweep_status(void *job, struct buf *out)
{
	struct sweep *sw = job;
	struct jw w;
	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_i64(&w, "interval_s", sw->interval);
	jw_kv_u64(&w, "cycles", atomic_load(&sw->cycles));
	jw_kv_u64(&w, "failed_cycles", atomic_load(&sw->failed_cycles));
	jw_kv_f64(&w, "last_cycle_s", us_to_ms_s(atomic_load(&sw->last_cycle_us)));
	jw_kv_u64(&w, "stale_closed", atomic_load(&sw->stale_total));
	jw_kv_str(&w, "master_schema", atomic_load(&sw->master_schema.bad) ? "refused" : "ok");
	jw_kv_u64(&w, "master_schema_refused", atomic_load(&sw->master_schema.refused));
	jw_kv_bool(&w, "running", atomic_load(&sw->in_cycle));
	jw_key(&w, "members");
	jw_obj(&w);
	for (size_t i = 0; i < sw->nm; i++) {
		struct member *m = &sw->m[i];
		jw_key(&w, m->cfg.name);
		jw_obj(&w);
		jw_kv_u64(&w, "read", atomic_load(&m->read));
		jw_kv_u64(&w, "moved", atomic_load(&m->moved));
		jw_kv_u64(&w, "superseded", atomic_load(&m->superseded));
		jw_kv_u64(&w, "errors", atomic_load(&m->errors));
		jw_kv_u64(&w, "timeouts", atomic_load(&m->timeouts));
		jw_kv_str(&w, "state", atomic_load(&m->down_since) ? "down" : "up");
		jw_kv_str(&w, "schema", atomic_load(&m->schema.bad) ? "refused" : "ok");
		jw_kv_u64(&w, "schema_refused", atomic_load(&m->schema.refused));
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
}

/* The sweep is singleton work: the active node's. */
static bool sweep_active_only(const void *cfg)
{
	(void)cfg;
	return true;
}

const struct job_ops sweep_job = {
	.name = "sweep",
	.keys = sweep_keys,
	.cfg_size = sizeof(struct sweep_cfg),
	.validate = sweep_validate,
	.enabled = sweep_enabled,
	.create = sweep_create,
	.start = sweep_start,
	.reconfigure = sweep_reconfigure,
	.stop_request = sweep_stop_request,
	.stop = sweep_stop,
	.destroy = sweep_destroy,
	.metrics = sweep_metrics,
	.status = sweep_status,
	.once = sweep_once,
	.topic = "radacct",
	.active_only = sweep_active_only,
};
