/*
 * sweep_int.h — the sweep job's runtime state and the functions its files
 * share; private to src/sweep/ (the job's interface is sweep.h).
 *
 * struct sweep is the job; struct member one member with its two
 * connections; struct conn one MariaDB connection with its cached
 * statements.  A connection is used by one thread at a time (sweep.h,
 * "Threads"); the counters are atomics written by one thread each.  The
 * functions shared between the files are named sw_*.
 */
#ifndef AGG_SWEEP_INT_H
#define AGG_SWEEP_INT_H

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "radacct.h"
#include "sweep.h"
#include "worker.h"

struct sweep;

/* The page a LOAD DATA LOCAL INFILE is fed from (sweep_load.c). */
struct sw_feed {
	const char *p;			/* what is left to send */
	size_t left;
	bool armed;			/* served only while its statement runs */
};

struct conn {
	MYSQL *db;
	MYSQL_STMT *page, *upsert_full;		/* cached statements */
	MYSQL_STMT *held_full;			/* master: how many of a full page it holds */
	struct sw_feed feed;			/* master: the page being loaded */
	bool no_load;			/* master refused LOAD DATA LOCAL: upsert every page */
	MYSQL_STMT *stage_full, *del_join, *stage_clear;	/* the exact delete */
	char tz[80];			/* the session's time zone as the server names it */
	long utc_off;			/* s east of UTC at connect */
	bool fresh;			/* opened since its zone was last compared */
};

/* Refusals of a server's table by the unique-index check at connect. */
struct schema_watch {
	_Atomic uint64_t refused;	/* connects refused */
	_Atomic bool bad;		/* the last check refused it */
};

struct member {
	struct sweep *sw;
	struct sweep_db cfg;		/* private copy */
	struct conn mc;			/* member connection (its thread only) */
	struct conn sc;			/* master connection (its thread only) */
	struct worker w;		/* its thread during a cycle (a child of the sweep's) */
	int failures;			/* consecutive failed cycles */
	int skip;			/* cycles to skip (back-off) */
	_Atomic long long down_since;	/* wall clock when it became unreachable; 0 = up (read by status) */
	bool ok;			/* this cycle succeeded */
	bool timed_out;			/* this cycle failed on a timeout */
	bool timing_out;		/* the last failure was a timeout, logged (once) */
	char err[1024];			/* why it failed (a schema refusal carries its ALTER TABLE) */
	struct ra_row *rows;		/* one page */
	_Atomic uint64_t read, copied, moved, superseded, stale_closed, errors, wide, bad_time;
	_Atomic uint64_t timeouts;	/* cycles failed on a MariaDB timeout (member or master) */
	struct schema_watch schema;	/* the member's table */
	_Atomic uint64_t last_us;	/* last cycle's duration, µs */
	_Atomic long long oldest_closed;	/* acctstoptime epoch of the oldest closed row left, 0 = none */
};

struct sweep {
	const struct job_env *env;	/* the daemon's loop and core settings (job.h) */
	int interval, stale_after, batch, timeout;
	char *table, *stale_cause;
	struct sweep_db master;		/* private copy */
	struct member *m;
	size_t nm;
	struct conn stale;		/* the sweep thread's master connection */
	int master_writers;		/* member threads writing to master at once */
	int writing;			/* how many are (under mw_mu) */
	pthread_mutex_t mw_mu;
	pthread_cond_t mw_cv;
	struct worker w;		/* the sweep thread */
	struct ra_seen *seen;		/* published versions; kept across reloads, under seen_mu */
	pthread_mutex_t seen_mu;
	_Atomic uint64_t cycles, failed_cycles, stale_total;
	struct schema_watch master_schema;	/* master's table */
	_Atomic uint64_t last_cycle_us, last_cycle_wall;
	_Atomic bool in_cycle;
};

/* What a member thread is started with (sw_member_main). */
struct member_run {
	struct member *m;
	bool once;
};

/* ---- sweep_db.c: connections and bindings ---- */
/* (each described where it is defined) */

/* Did a wait of this thread run out its timeout since the last call?  (clears it) */
bool sw_timed_out(void);
/* Close c's statements and connection; c is zeroed (closing it again is a no-op). */
void sw_conn_close(struct conn *c);
/* err = "what: <the statement's, else the connection's error>" ("out of memory" with neither); -1. */
int sw_fail(char *err, size_t len, const char *what, MYSQL *db, MYSQL_STMT *st);
/* A statement prepared from sql on db, or NULL with err set; the caller closes it. */
MYSQL_STMT *sw_prepare(MYSQL *db, const struct buf *sql, char *err, size_t len);

/*
 * sweep_load.c.  sw_load_setup: on a connection just initialised, LOCAL
 * INFILE on for master only, and the handler that serves nothing but the
 * armed page.  sw_load_new: rows[0..n) (sorted, every one movable) into
 * master by LOAD DATA LOCAL INFILE in m's master transaction, when master
 * holds none of them; 0 loaded (the caller commits), 1 nothing written
 * (the caller upserts them), -1 failed (err set; the caller rolls back).
 */
void sw_load_setup(struct conn *c, bool master);
int sw_load_new(struct member *m, struct ra_row **rows, size_t n, char *err, size_t len);
int sw_conn_open(struct sweep *sw, struct conn *c, const struct sweep_db *d, bool master,
		 const char *where, struct schema_watch *sch, char *err, size_t len);
void sw_fmt_off(char *out, size_t n, long off);
void sw_bind_row(MYSQL_BIND *b, struct ra_row *r);
MYSQL_BIND sw_bind_value(struct ra_row *r, int k);
bool sw_value_fetched(struct ra_row *r, int k);
MYSQL_BIND sw_bind_time(struct ra_row *r, int t, my_bool *is_null);
void sw_times_fetched(struct ra_row *r, const my_bool *tnull);

/* ---- sweep_events.c: step 5, the events ---- */

int sw_publish_master(struct sweep *sw, struct conn *c, const char *member, const char *const *ids,
		      const unsigned long *lens, size_t n, const char *what, char *err, size_t len);
void sw_publish_moved(struct member *m, struct ra_row **rows, const bool *gone, size_t n,
		      const char **ids, unsigned long *lens);

/* ---- sweep_stale.c: step 4, stale closing ---- */

int sw_close_stale(struct sweep *sw, bool once, char *err, size_t len);

/* ---- sweep_move.c: steps 1-3, a member's move ---- */

/* A member thread (arg: its struct member_run): one sweep of the member, m->ok set; returns NULL. */
void *sw_member_main(void *arg);

#endif
