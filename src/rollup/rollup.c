/*
 * rollup.c — the rollup job: hourly usage per cloud account (rollup.h,
 * docs/rollup.md).  This file is the job itself: its config section, its
 * runtime settings (struct rollup, rollup_int.h), the schedule of the
 * "rollup" thread and the pruning of old files (retention_days), the life
 * cycle (create, start, reconfigure, stop, destroy, --once), metrics and
 * status.  It owns the struct rollup and everything in it.
 *
 * Threads and files:
 *   - the "rollup" thread (run_due, every 10 s): a location rolls up each
 *     hour not done yet, oldest first (rollup_location.c: InfluxDB into
 *     files); a master, only while this node is active, fetches and merges
 *     each hour not complete yet (rollup_master.c); both write through the
 *     file store (rollup_store.c, which describes the layout on disk).
 *   - the main thread: the life cycle, metrics, status and GET
 *     /v1/usage/... (rollup_http.c), which serves the files.
 * Hours, paths and names are pure arithmetic (rollup_hours.c).  The
 * counters the main thread reads are atomics written by the rollup thread;
 * the settings change only while the thread is stopped (a reload stops it,
 * reloads them and starts it again).
 */
#include "rollup_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "httpc.h"
#include "influx.h"
#include "json.h"
#include "log.h"
#include "prom.h"
#include "role.h"
#include "thread.h"
#include "worker.h"

/* ---- config ---- */

static const struct cfg_enum roles[] = {
	{ "location", ROLLUP_LOCATION }, { "master", ROLLUP_MASTER }, { NULL, 0 },
};

static const char *check_url(const char *v)
{
	return strncmp(v, "http://", 7) == 0 && v[7] ? NULL : "must be an http:// URL";
}

static const char *check_influx_ident(const char *v)
{
	return influx_check_identifier(v);
}

static const char *check_name_cfg(const char *v)
{
	return v[0] ? rollup_check_name(v) : NULL;
}

#define IOFF(f) offsetof(struct rollup_influx, f)
#define IDENT(n, f, d) { .name = n, .type = CFG_T_STR, .offset = IOFF(f), .sdef = d, .check = check_influx_ident }
static const struct cfg_key influx_keys[] = {
	{ .name = "url", .type = CFG_T_STR, .offset = IOFF(url), .sdef = "http://127.0.0.1:8086", .check = check_url },
	{ .name = "db", .type = CFG_T_STR, .offset = IOFF(db), .sdef = "usage", .check = cfg_check_nonempty },
	{ .name = "user", .type = CFG_T_STR, .offset = IOFF(user), .sdef = "" },
	{ .name = "password", .type = CFG_T_STR, .offset = IOFF(password), .sdef = "", .flags = CFG_SECRET },
	IDENT("measurement", measurement, "vm_usage"),
	IDENT("tag_account", tag_account, "account"),
	IDENT("tag_cloudspace", tag_cloudspace, "cloudspace"),
	IDENT("tag_vm", tag_vm, "vm"),
	IDENT("field_mem", field_mem, "mem_mib"),
	IDENT("field_disk", field_disk, "disk_gib"),
	IDENT("field_cpu", field_cpu, "cpu_seconds"),
	IDENT("field_io_read", field_io_read, "io_read"),
	IDENT("field_io_write", field_io_write, "io_write"),
	IDENT("field_net_tx", field_net_tx, "net_tx_bytes"),
	IDENT("field_net_rx", field_net_rx, "net_rx_bytes"),
	{ .name = "timeout", .type = CFG_T_INT, .offset = IOFF(timeout), .min = 1, .max = 3600, .idef = 120, .unit = "s" },
	{ .name = "lookback", .type = CFG_T_INT, .offset = IOFF(lookback), .min = 0, .max = 86400, .idef = 3600, .unit = "s" },
	{ .name = NULL },
};

#define LOFF(f) offsetof(struct rollup_location, f)
static const struct cfg_key location_keys[] = {
	{ .name = "name", .type = CFG_T_STR, .offset = LOFF(name), .flags = CFG_REQUIRED, .check = rollup_check_name },
	{ .name = "url", .type = CFG_T_STR, .offset = LOFF(url), .flags = CFG_REQUIRED, .check = check_url },
	{ .name = "token", .type = CFG_T_STR, .offset = LOFF(token), .sdef = "", .flags = CFG_SECRET },
	{ .name = NULL },
};

#define ROFF(f) offsetof(struct rollup_cfg, f)
static int parse_influx(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	return cfg_parse_section(ctx, s, "rollup.influxdb", influx_keys, field);
}

static void free_influx(void *field)
{
	cfg_free_section(influx_keys, field);
}

static int parse_locations(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct rollup_cfg *c = (struct rollup_cfg *)((char *)field - ROFF(locations));
	void *arr;
	int rc = cfg_parse_list(ctx, s, "rollup.locations", location_keys, sizeof(struct rollup_location),
				&arr, &c->nlocations);
	c->locations = arr;
	return rc;
}

static void free_locations(void *field)
{
	struct rollup_cfg *c = (struct rollup_cfg *)((char *)field - ROFF(locations));
	cfg_free_list(location_keys, sizeof(struct rollup_location), c->locations, c->nlocations);
	c->locations = NULL;
	c->nlocations = 0;
}

static const struct cfg_key rollup_keys[] = {
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = ROFF(enabled), .idef = 1 },
	{ .name = "role", .type = CFG_T_ENUM, .offset = ROFF(role), .sdef = "location", .enums = roles },
	{ .name = "location", .type = CFG_T_STR, .offset = ROFF(location), .sdef = "", .check = check_name_cfg },
	{ .name = "at_minute", .type = CFG_T_INT, .offset = ROFF(at_minute), .min = -1, .max = 59, .idef = -1, .unit = "min" },
	{ .name = "delay", .type = CFG_T_INT, .offset = ROFF(delay), .min = 0, .max = 3599, .idef = 30, .unit = "s" },
	{ .name = "catch_up_hours", .type = CFG_T_INT, .offset = ROFF(catch_up_hours), .min = 0, .max = 24 * 31, .idef = 48 },
	{ .name = "retry_s", .type = CFG_T_INT, .offset = ROFF(retry_s), .min = 1, .max = 86400, .idef = 300, .unit = "s" },
	{ .name = "late_hours", .type = CFG_T_INT, .offset = ROFF(late_hours), .min = 0, .max = 24 * 31, .idef = 24 },
	{ .name = "retention_days", .type = CFG_T_INT, .offset = ROFF(retention_days), .min = 0, .max = 3660, .idef = 400, .unit = "days" },
	{ .name = "influxdb", .type = CFG_T_CUSTOM, .offset = ROFF(influxdb), .custom = parse_influx, .custom_free = free_influx },
	{ .name = "locations", .type = CFG_T_CUSTOM, .offset = ROFF(locations), .custom = parse_locations, .custom_free = free_locations },
	{ .name = NULL },
};

static int rollup_validate(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfgp)
{
	struct rollup_cfg *c = cfgp;
	int rc = 0;
	if (c->role == ROLLUP_LOCATION && !c->location[0])
		rc = cfg_error(ctx, sec, "'rollup.location' is required for role \"location\": the name this location writes in its files");
	if (c->role == ROLLUP_MASTER && c->nlocations == 0)
		rc = cfg_error(ctx, sec, "'rollup.locations' needs at least one location for role \"master\"");
	if (c->nlocations > MAX_LOCATIONS)
		rc = cfg_error(ctx, sec, "'rollup.locations' has more than %d locations", MAX_LOCATIONS);
	/* The schedule's newest hour starts less than 3 h before now (it runs
	 * within the hour after the next one), its oldest catch_up_hours
	 * (location) or late_hours (master) before that, so that hour ends
	 * after now - (hours + 2) h; prune() removes a day once it ended
	 * retention_days before now.  Reaching back further, the schedule
	 * would redo hours the prune removes, every hour. */
	const char *back = c->role == ROLLUP_MASTER ? "late_hours" : "catch_up_hours";
	int hours = c->role == ROLLUP_MASTER ? c->late_hours : c->catch_up_hours;
	if (c->retention_days && hours > 24 * c->retention_days - 2) {
		const config_setting_t *at = config_setting_get_member(sec, back);
		rc = cfg_error(ctx, at ? at : sec,
			       "'rollup.%s' (%d) reaches back further than 'rollup.retention_days' (%d) keeps: "
			       "the hours it prunes would be redone every hour; set %s to at most %d "
			       "(24 x retention_days - 2) or raise retention_days",
			       back, hours, c->retention_days, back, 24 * c->retention_days - 2);
	}
	const config_setting_t *list = config_setting_get_member(sec, "locations");
	for (size_t i = 0; i < c->nlocations; i++)
		for (size_t j = 0; j < i; j++)
			if (c->locations[i].name && c->locations[j].name &&
			    strcmp(c->locations[i].name, c->locations[j].name) == 0)
				rc = cfg_error(ctx, config_setting_get_elem(list, (unsigned)i),
					       "'rollup.locations[%zu].name' '%s' is used by location %zu too",
					       i, c->locations[i].name, j);
	return rc;
}

static int rollup_enabled(const void *cfg)
{
	return ((const struct rollup_cfg *)cfg)->enabled;
}

/* ---- runtime ---- */

static char *keep(struct rollup *r, const char *s)
{
	if (r->nstrs == sizeof(r->strs) / sizeof(r->strs[0]))
		return NULL;
	char *c = strdup(s ? s : "");
	if (c)
		r->strs[r->nstrs++] = c;
	return c;
}

static int load(struct rollup *r, const struct rollup_cfg *c)
{
	r->role = c->role;
	r->at_minute = c->at_minute >= 0 ? c->at_minute : (c->role == ROLLUP_MASTER ? 30 : 0);
	r->delay = c->delay;
	r->catch_up_hours = c->catch_up_hours;
	r->retry_s = c->retry_s;
	r->late_hours = c->late_hours;
	r->retention_days = c->retention_days;
	r->location = keep(r, c->location);
	const struct rollup_influx *i = &c->influxdb;
	r->icfg = (struct influx_cfg){
		.url = keep(r, i->url), .db = keep(r, i->db), .user = keep(r, i->user),
		.password = keep(r, i->password), .measurement = keep(r, i->measurement),
		.tag_account = keep(r, i->tag_account), .tag_cloudspace = keep(r, i->tag_cloudspace),
		.tag_vm = keep(r, i->tag_vm), .field_mem = keep(r, i->field_mem),
		.field_disk = keep(r, i->field_disk), .field_cpu = keep(r, i->field_cpu),
		.field_io_read = keep(r, i->field_io_read), .field_io_write = keep(r, i->field_io_write),
		.field_net_tx = keep(r, i->field_net_tx), .field_net_rx = keep(r, i->field_net_rx),
		.timeout_s = i->timeout, .lookback_s = i->lookback, .cancel_fd = &r->w.stop_fd,
	};
	if (!r->location || !r->icfg.url || !r->icfg.field_net_rx)
		return -1;
	r->locs = calloc(c->nlocations ? c->nlocations : 1, sizeof(*r->locs));
	if (!r->locs)
		return -1;
	r->nlocs = c->nlocations;
	/* each location keeps its retry time and timeout flag by name */
	struct rollup_loc_state old[MAX_LOCATIONS];
	memcpy(old, r->lstate, sizeof(old));
	memset(r->lstate, 0, sizeof(r->lstate));
	for (size_t k = 0; k < r->nlocs && k < MAX_LOCATIONS; k++) {
		snprintf(r->lstate[k].name, sizeof(r->lstate[k].name), "%s", c->locations[k].name);
		for (size_t j = 0; j < MAX_LOCATIONS; j++)
			if (old[j].name[0] && strcmp(old[j].name, r->lstate[k].name) == 0)
				r->lstate[k] = old[j];
	}
	for (size_t k = 0; k < r->nlocs; k++) {
		r->locs[k].name = strdup(c->locations[k].name);
		r->locs[k].url = strdup(c->locations[k].url);
		r->locs[k].token = strdup(c->locations[k].token);
		if (!r->locs[k].name || !r->locs[k].url || !r->locs[k].token)
			return -1;
	}
	return 0;
}

static void unload(struct rollup *r)
{
	for (size_t k = 0; k < r->nstrs; k++)
		free(r->strs[k]);
	r->nstrs = 0;
	for (size_t k = 0; k < r->nlocs; k++) {
		free(r->locs[k].name);
		free(r->locs[k].url);
		free(r->locs[k].token);
	}
	free(r->locs);
	r->locs = NULL;
	r->nlocs = 0;
}

/* ---- schedule ---- */

static long long due_hour(struct rollup *r, long long now)
{
	/* the newest hour whose run time has come */
	long long last = now - now % HOUR - HOUR;
	if (now < last + HOUR + r->at_minute * 60 + r->delay)
		last -= HOUR;
	return last;
}

/* out = a "/" b; -1 when it does not fit. */
static int join(char *out, size_t len, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + 1 + lb + 1 > len)
		return -1;
	memcpy(out, a, la);
	out[la] = '/';
	memcpy(out + la + 1, b, lb + 1);
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* When the UTC day y-m-d ends. */
static long long day_end(int y, int m, int d)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
	return (long long)timegm(&tm) + 86400;
}

/* Remove the hour markers below dir (.index, .done, .merged: <YYYYMMDDHH>,
 * rollup_store.c) of the days prune_account removes: by the same rule, so a
 * marker never outlives its files (an index listing pruned files) nor goes
 * before them (files no index serves).  Other names are left alone. */
static void prune_markers(const char *dir, long long cutoff)
{
	static const char *const kinds[] = { ".index", ".done", ".merged" };
	char kdir[PATH_MAX], fp[PATH_MAX];
	struct dirent *e;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (join(kdir, sizeof(kdir), dir, kinds[k]) < 0)
			continue;
		DIR *d = opendir(kdir);
		while (d && (e = readdir(d))) {
			int y, m, day;
			if (!all_digits(e->d_name, 10) || sscanf(e->d_name, "%4d%2d%2d", &y, &m, &day) != 3 ||
			    day_end(y, m, day) > cutoff || join(fp, sizeof(fp), kdir, e->d_name) < 0)
				continue;
			unlink(fp);
		}
		if (d)
			closedir(d);
	}
}

/* Remove the day directories below an account dir (YYYY/MM/DD) that end before cutoff. */
static void prune_account(const char *adir, long long cutoff)
{
	static const size_t width[3] = { 4, 2, 2 };
	char ydir[PATH_MAX], mdir[PATH_MAX], ddir[PATH_MAX], fp[PATH_MAX];
	DIR *y = opendir(adir);
	struct dirent *ye, *me, *de, *fe;
	while (y && (ye = readdir(y))) {
		if (!all_digits(ye->d_name, width[0]) || join(ydir, sizeof(ydir), adir, ye->d_name) < 0)
			continue;
		DIR *m = opendir(ydir);
		while (m && (me = readdir(m))) {
			if (!all_digits(me->d_name, width[1]) || join(mdir, sizeof(mdir), ydir, me->d_name) < 0)
				continue;
			DIR *d = opendir(mdir);
			while (d && (de = readdir(d))) {
				if (!all_digits(de->d_name, width[2]) || join(ddir, sizeof(ddir), mdir, de->d_name) < 0)
					continue;
				if (day_end(atoi(ye->d_name), atoi(me->d_name), atoi(de->d_name)) > cutoff)
					continue;
				DIR *f = opendir(ddir);
				while (f && (fe = readdir(f)))
					if (fe->d_name[0] != '.' && join(fp, sizeof(fp), ddir, fe->d_name) == 0)
						unlink(fp);
				if (f)
					closedir(f);
				rmdir(ddir);
			}
			if (d)
				closedir(d);
		}
		if (m)
			closedir(m);
	}
	if (y)
		closedir(y);
}

/* retention_days: once an hour, prune usage/ and every location's kept
 * copies: an hour's markers first, then its files, so no index lists a
 * file already gone. */
static void prune(struct rollup *r, long long now)
{
	if (!r->retention_days || now - r->last_prune < HOUR)
		return;
	r->last_prune = now;
	long long cutoff = now - (long long)r->retention_days * 86400;
	char adir[PATH_MAX], ldir[PATH_MAX];
	struct dirent *e, *a;
	prune_markers(r->usage_dir, cutoff);
	DIR *u = opendir(r->usage_dir);
	while (u && (e = readdir(u)))
		if (e->d_name[0] != '.' && join(adir, sizeof(adir), r->usage_dir, e->d_name) == 0)
			prune_account(adir, cutoff);
	if (u)
		closedir(u);
	DIR *l = opendir(r->loc_dir);
	while (l && (e = readdir(l))) {
		if (e->d_name[0] == '.' || join(ldir, sizeof(ldir), r->loc_dir, e->d_name) < 0)
			continue;
		prune_markers(ldir, cutoff);
		DIR *la = opendir(ldir);
		while (la && (a = readdir(la)))
			if (a->d_name[0] != '.' && join(adir, sizeof(adir), ldir, a->d_name) == 0)
				prune_account(adir, cutoff);
		if (la)
			closedir(la);
	}
	if (l)
		closedir(l);
}

static void run_due(struct rollup *r)
{
	long long now = (long long)time(NULL);
	long long last = due_hour(r, now);
	char err[512];
	/* First, whatever the rolling does: a location backing off from a
	 * failing InfluxDB (or a standby master) still prunes.  The schedule
	 * never reaches back into what is pruned (rollup_validate). */
	prune(r, now);
	if (r->role == ROLLUP_LOCATION) {
		if (now < r->next_ok)
			return;
		for (long long h = last - (long long)r->catch_up_hours * HOUR; h <= last; h += HOUR) {
			if (rollup_hour_done(r->usage_dir, h))
				continue;
			/* The hour is one InfluxDB query bounded by its timeout (the
			 * files after it are local): alive until then (worker.h). */
			uint64_t call = worker_call_begin((uint64_t)r->icfg.timeout_s * 1000u);
			int rc = rollup_location_hour(r, h, err, sizeof(err));
			worker_call_end(call);
			if (rc == INFLUX_CANCELLED)
				return;	/* stopping: not an error */
			if (rc < 0) {
				atomic_fetch_add(&r->errors, 1);
				r->backoff_s = r->backoff_s ? (r->backoff_s * 2 > 600 ? 600 : r->backoff_s * 2) : 10;
				r->next_ok = now + r->backoff_s;
				if (rc == INFLUX_TIMEOUT)
					rollup_timed_out(r, &r->timing_out, err);
				else
					log_error("rollup: %s; retrying in %d s", err, r->backoff_s);
				return;
			}
			rollup_answered(r, &r->timing_out, NULL);
			r->backoff_s = 0;
			atomic_fetch_add(&r->hours_done, 1);
			atomic_store(&r->last_hour_done, h);
			worker_beat(&r->w);
		}
	} else if (role_is_active()) {
		for (long long h = last - (long long)r->late_hours * HOUR; h <= last; h += HOUR) {
			if (rollup_hour_done(r->usage_dir, h))
				continue;
			int rc = rollup_master_hour(r, h, false, err, sizeof(err));
			if (rc == HTTPC_CANCELLED)
				return;	/* stopping: not an error */
			if (rc < 0)
				atomic_fetch_add(&r->errors, 1);
			if (rollup_hour_done(r->usage_dir, h)) {	/* this run completed it */
				atomic_fetch_add(&r->hours_done, 1);
				atomic_store(&r->last_hour_done, h);
			}
			worker_beat(&r->w);
		}
	}
}

void rollup_timed_out(struct rollup *r, bool *timing_out, const char *what)
{
	atomic_fetch_add(&r->timeouts, 1);
	if (!*timing_out)
		log_error("rollup: %s; retried, logged again only once it answers (counted in "
			  "aggregatord_rollup_timeouts_total)", what);
	else
		log_debug("rollup: %s", what);
	*timing_out = true;
}

void rollup_answered(struct rollup *r, bool *timing_out, const char *who)
{
	(void)r;
	if (*timing_out && who)
		log_info("rollup: %s answers again after timing out", who);
	else if (*timing_out)
		log_info("rollup: answers again after timing out");
	*timing_out = false;
}

static void *rollup_main(void *arg)
{
	struct rollup *r = arg;
	log_set_thread_tag("rollup");
	do
		run_due(r);
	while (worker_sleep_ms(&r->w, 10000));
	return NULL;
}

/* ---- life cycle ---- */

static void rollup_destroy(void *job);

static void *rollup_create(const struct job_env *env, const void *cfgp)
{
	struct rollup *r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("out of memory");
		return NULL;
	}
	r->env = env;
	if (worker_init(&r->w) < 0) {
		log_error("rollup: cannot set up its thread");
		free(r);
		return NULL;
	}
	snprintf(r->usage_dir, sizeof(r->usage_dir), "%s/usage", env->node->state_dir);
	snprintf(r->loc_dir, sizeof(r->loc_dir), "%s/locations", env->node->state_dir);
	snprintf(r->node, sizeof(r->node), "%s", env->node->name);
	if (load(r, cfgp) < 0) {
		log_error("rollup: out of memory");
		rollup_destroy(r);
		return NULL;
	}
	return r;
}

static int rollup_start(void *job)
{
	struct rollup *r = job;
	if (worker_start(&r->w, "rollup", rollup_main, r) < 0)
		return log_error("rollup: cannot start its thread");
	if (r->role == ROLLUP_LOCATION)
		log_info("rollup: location '%s': hourly from %s db '%s' at minute %d (+%d s), catching up %d h",
			 r->location, r->icfg.url, r->icfg.db, r->at_minute, r->delay, r->catch_up_hours);
	else
		log_info("rollup: master of %zu location(s) at minute %d (+%d s), only while active",
			 r->nlocs, r->at_minute, r->delay);
	return 0;
}

/* The worker's stop descriptor (r->w.stop_fd) is the cancel descriptor of
 * the InfluxDB query and the location fetches: the request ends a call in
 * progress at once, so the join never waits for a 120 s query. */
static void rollup_stop_request(void *job, uint64_t deadline_us)
{
	struct rollup *r = job;
	(void)deadline_us;
	if (r->w.started)
		worker_stop_request(&r->w);
}

static int rollup_stop(void *job, uint64_t deadline_us)
{
	struct rollup *r = job;
	if (worker_join(&r->w, deadline_us) < 0) {
		log_warn("rollup: its thread is still inside a call (InfluxDB or a location's API): "
			 "left behind, abandoned at exit");
		return -1;
	}
	return 0;
}

static int rollup_reconfigure(void *job, const void *cfgp)
{
	struct rollup *r = job;
	bool was = r->w.started;
	worker_stop(&r->w);
	unload(r);
	if (load(r, cfgp) < 0)
		return log_error("rollup: out of memory");
	return was ? rollup_start(r) : 0;
}

static void rollup_destroy(void *job)
{
	struct rollup *r = job;
	if (!r)
		return;
	unload(r);
	worker_destroy(&r->w);
	free(r);
}

static int rollup_once(void *job, const struct once_args *args)
{
	struct rollup *r = job;
	long long now = (long long)time(NULL);
	long long hour = args && args->hour ? rollup_parse_hour(args->hour) : now - now % HOUR - HOUR;
	if (hour < 0) {
		fprintf(stderr, "aggregatord: --hour '%s' is not YYYY-MM-DDTHH\n", args->hour);
		return -1;
	}
	char err[512], ht[32];
	rollup_hour_text(ht, sizeof(ht), hour);
	int rc = r->role == ROLLUP_LOCATION ? rollup_location_hour(r, hour, err, sizeof(err))
					     : rollup_master_hour(r, hour, true, err, sizeof(err));
	if (rc < 0)
		log_error("rollup: hour %s: %s", ht, err);
	else
		log_info("rollup: hour %s rebuilt", ht);
	return rc;
}

/* ---- metrics and status ---- */

static void rollup_metrics(void *job, struct buf *out)
{
	struct rollup *r = job;
#define M(name, type, help, val) do { \
		prom_head(out, "aggregatord_rollup_" name, type, help); \
		prom_u64(out, "aggregatord_rollup_" name, (uint64_t)(val)); \
	} while (0)
	M("completed_total", "counter", "Hour runs completed (a location's rollup, or a master's complete merge).", atomic_load(&r->hours_done));
	M("files_written_total", "counter", "Usage files written.", atomic_load(&r->files_written));
	M("errors_total", "counter", "Failed hour runs (InfluxDB, a location, files).", atomic_load(&r->errors));
	M("skipped_accounts_total", "counter", "Account names refused as file names.", atomic_load(&r->skipped_accounts));
	M("accounts", "gauge", "Accounts in the last hour written.", atomic_load(&r->last_accounts));
	M("vms", "gauge", "VMs in the last hour written.", atomic_load(&r->last_vms));
	M("last_completed_timestamp_seconds", "gauge", "Start of the last hour completed.", atomic_load(&r->last_hour_done));
	M("locations_missing", "gauge", "Master: locations missing from the hours being retried.", atomic_load(&r->locations_missing));
	M("timeouts_total", "counter", "InfluxDB queries and location fetches that hit their deadline (influxdb.timeout).", atomic_load(&r->timeouts));
#undef M
	prom_metric_f64(out, "aggregatord_rollup_query_duration_seconds", "gauge",
		"Duration of the last InfluxDB query.", (double)atomic_load(&r->query_ms) / 1000.0);
}

static void rollup_status(void *job, struct buf *out)
{
	struct rollup *r = job;
	char ht[64] = "";
	long long last = atomic_load(&r->last_hour_done);
	if (last)
		rollup_hour_text(ht, sizeof(ht), last);
	struct jw w;
	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_str(&w, "role", r->role == ROLLUP_MASTER ? "master" : "location");
	jw_kv_u64(&w, "hours_done", atomic_load(&r->hours_done));
	jw_kv_str(&w, "last_hour_done", ht);
	jw_kv_u64(&w, "accounts", atomic_load(&r->last_accounts));
	jw_kv_u64(&w, "vms", atomic_load(&r->last_vms));
	jw_kv_u64(&w, "files_written", atomic_load(&r->files_written));
	jw_kv_u64(&w, "errors", atomic_load(&r->errors));
	jw_kv_u64(&w, "locations_missing", atomic_load(&r->locations_missing));
	jw_kv_u64(&w, "timeouts", atomic_load(&r->timeouts));
	jw_end(&w);
}

/* The master's merge is singleton work; a location rolls up on every node. */
static bool rollup_active_only(const void *cfg)
{
	return ((const struct rollup_cfg *)cfg)->role == ROLLUP_MASTER;
}

const struct job_ops rollup_job = {
	.name = "rollup",
	.keys = rollup_keys,
	.cfg_size = sizeof(struct rollup_cfg),
	.validate = rollup_validate,
	.enabled = rollup_enabled,
	.create = rollup_create,
	.start = rollup_start,
	.reconfigure = rollup_reconfigure,
	.stop_request = rollup_stop_request,
	.stop = rollup_stop,
	.destroy = rollup_destroy,
	.metrics = rollup_metrics,
	.status = rollup_status,
	.once = rollup_once,
	.http_path = "/v1/usage/",
	.http_methods = EVHTTP_REQ_GET,
	.http = rollup_http,
	.topic = "usage",
	.active_only = rollup_active_only,
};
