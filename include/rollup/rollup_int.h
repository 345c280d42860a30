/*
 * rollup_int.h — the rollup job's runtime state and the functions its files
 * share; private to src/rollup/ (the job's interface is rollup.h).
 *
 * struct rollup is the job (rollup.c owns it: created, loaded from the
 * config and freed there).  The "rollup" thread is the only one that runs
 * the schedule, the location and master roles and writes the files; the
 * main thread reads the atomic counters (metrics, status) and serves the
 * files (rollup_http.c).  Settings change only while the thread is stopped
 * (a reload stops it, reloads, starts it again).
 */
#ifndef AGG_ROLLUP_INT_H
#define AGG_ROLLUP_INT_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "influx.h"
#include "rollup.h"
#include "usage.h"
#include "worker.h"

#define HOUR 3600
#define MAX_LOCATIONS 64
#define FILE_MAX (64u << 20)	/* bytes: a usage file larger than this is refused */

struct http_req;

struct rollup {
	const struct job_env *env;	/* the daemon's loop and core settings (job.h) */
	int role;
	char *location;
	int at_minute, delay, catch_up_hours, retry_s, late_hours, retention_days;
	struct influx_cfg icfg;		/* strings point into strs */
	char *strs[20];
	size_t nstrs;
	struct rollup_location *locs;
	size_t nlocs;
	char usage_dir[PATH_MAX / 2];	/* <state_dir>/usage */
	char loc_dir[PATH_MAX / 2];	/* <state_dir>/locations */
	char node[65];

	struct worker w;		/* the rollup thread; its stop_fd is the cancel descriptor
					 * of the InfluxDB query and the location fetches */
	bool timing_out;		/* location: the last InfluxDB query hit its deadline (logged once) */

	/* master: per location of locs[], same index, kept by NAME across a
	 * reload (load() carries each name's state over, so a reload that
	 * reorders, adds or removes locations shifts nothing) */
	struct rollup_loc_state {
		char name[129];		/* the location's name (rollup_check_name: <= 128) */
		long long down_at;	/* wall time, s, of its last fetch that got no answer
					 * (connect, deadline, not HTTP): every hour of it waits
					 * retry_s from then, so a hung location costs one deadline
					 * a retry_s, not one an hour; 0 = answering */
		struct {
			long long hour, at;	/* an hour it answered wrongly for (an error status,
						 * not a listing, a refused file) and when (wall s):
						 * that hour alone waits retry_s; at 0 = free slot */
		} failed[32];
		bool timing_out;	/* its last fetch hit its deadline (logged once; one per
					 * location, so another answering does not log it again) */
	} lstate[MAX_LOCATIONS];
	int backoff_s;			/* location: after an InfluxDB error */
	long long next_ok;		/* location: no query before this wall time */
	long long last_prune;

	_Atomic uint64_t hours_done, files_written, errors, skipped_accounts;
	_Atomic long long last_hour_done;	/* Unix s of the last hour completed, 0 = none */
	_Atomic uint64_t last_accounts, last_vms, locations_missing;
	_Atomic uint64_t query_ms;	/* last InfluxDB query, ms */
	_Atomic uint64_t timeouts;	/* InfluxDB queries and location fetches that hit their deadline */
};

/* The file store (rollup_store.c); dir is a usage tree: r->usage_dir or a
 * master's kept copy of one location. */
bool rollup_hour_done(const char *dir, long long hour);
int rollup_mark_done(const char *dir, long long hour, char *err, size_t errlen);
int rollup_write_index(const char *dir, long long hour, char **accounts, size_t n, char *err, size_t errlen);
char *rollup_read_index(const char *dir, long long hour);	/* caller frees; NULL: none */
/* A master's record of what its last good merge of the hour included
 * (.merged/<YYYYMMDDHH>, see rollup_master.c); read: caller frees, NULL: none. */
int rollup_write_merged(const char *dir, long long hour, const char *data, size_t len, char *err, size_t errlen);
char *rollup_read_merged(const char *dir, long long hour);
int rollup_write_account(struct rollup *r, const char *dir, const char *account, long long hour,
			 char **locations, size_t nloc, bool complete, struct usage_vm *vms, size_t n,
			 char *err, size_t errlen);

/* The location role (rollup_location.c): roll up one hour from InfluxDB into
 * r->usage_dir.  0, or < 0 with err set: INFLUX_TIMEOUT or INFLUX_CANCELLED
 * when the query hit its deadline or was cancelled by stop, else -1. */
int rollup_location_hour(struct rollup *r, long long hour, char *err, size_t errlen);

/* The master role (rollup_master.c): fetch what is missing for the hour
 * (every location when force) and rebuild its merged files.  0, or -1 with
 * err set when a location failed or the merge did; HTTPC_CANCELLED when the
 * job's stop cancelled a fetch (nothing merged). */
int rollup_master_hour(struct rollup *r, long long hour, bool force, char *err, size_t errlen);

/* A call to one server (InfluxDB, or one location) that hit its deadline:
 * counted, logged once until a call to that same server succeeds;
 * *timing_out is that server's flag (r->timing_out, r->lstate[k].timing_out),
 * who names it in the "answers again" line (NULL: InfluxDB's line).
 * rollup.c; the rollup thread. */
void rollup_timed_out(struct rollup *r, bool *timing_out, const char *what);
void rollup_answered(struct rollup *r, bool *timing_out, const char *who);

/* GET /v1/usage/... (rollup_http.c), the job's http handler; main thread. */
void rollup_http(void *job, struct http_req *req);

#endif
