/*
 * sweep_move.c — steps 1 to 3 of the move (sweep.c) for one member: read
 * its table a page at a time (keyset paging by radacctid), upsert the page
 * into master in one transaction (at most master_writers at once: the
 * master write gate), then delete from the member exactly the closed rows
 * that were read and the open copies master holds closed and newer; the
 * moved rows go to sweep_events.c (step 5).  Also the lag gauge: the age of
 * the oldest closed row left on the member.
 *
 * Threads: one member thread per member per cycle ("sw-<member>",
 * sw_member_main), started and joined by the cycle (sweep.c); it uses the
 * member's own two connections, counters and page buffer, and shares only
 * the write gate (sw->mw_mu), the published-versions table and the sweep
 * thread's liveness beat.
 */
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "radacct.h"
#include "role.h"
#include "sweep_int.h"
#include "thread.h"
#include "worker.h"

#define DELETE_CHUNK 200	/* rows per staging INSERT (its prepared statement is cached; a page's closed rows are fewer than a page) */
#define UPSERT_TRIES 5		/* attempts of a page's master transaction after a deadlock */

/* Read the next page of the member (rows after *last); returns the count or -1. */
static long read_page(struct member *m, long long *last, char *err, size_t len)
{
	struct sweep *sw = m->sw;
	struct conn *c = &m->mc;
	if (!c->page) {
		struct buf q = BUF_INIT;
		ra_sql_page(&q, sw->table);
		c->page = sw_prepare(c->db, &q, err, len);
		buf_release(&q);
		if (!c->page)
			return -1;
	}
	long long after = *last;
	int lim = sw->batch;
	MYSQL_BIND p[2] = {
		{ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &after },
		{ .buffer_type = MYSQL_TYPE_LONG, .buffer = &lim },
	};
	/* Each row is fetched straight into its place in the page (the result
	 * is bound again before every fetch); a row beyond the page, which
	 * LIMIT rules out, would land in the scratch row. */
	static _Thread_local struct ra_row scratch;
	MYSQL_BIND r[RA_NCOLS + 1 + RA_NTIMES];
	my_bool tnull[RA_NTIMES];
	if (mysql_stmt_bind_param(c->page, p) || mysql_stmt_execute(c->page))
		return sw_fail(err, len, "reading a page", c->db, c->page);
	long n = 0;
	int f;
	for (;;) {
		struct ra_row *dst = n < sw->batch ? &m->rows[n] : &scratch;
		r[0] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &dst->radacctid };
		for (int k = 0; k < RA_NCOLS; k++)
			r[k + 1] = sw_bind_value(dst, k);
		for (int t = 0; t < RA_NTIMES; t++)
			r[RA_NCOLS + 1 + t] = sw_bind_time(dst, t, &tnull[t]);
		if (mysql_stmt_bind_result(c->page, r))
			return sw_fail(err, len, "reading a page", c->db, c->page);
		f = mysql_stmt_fetch(c->page);
		if (f != 0 && f != MYSQL_DATA_TRUNCATED)
			break;
		dst->wide = false;
		for (int k = 0; k < RA_NCOLS; k++)
			if (!sw_value_fetched(dst, k))
				dst->wide = true;	/* wider than the schema's columns allow */
		sw_times_fetched(dst, tnull);
		if (n < sw->batch)
			n++;
	}
	if (f != MYSQL_NO_DATA)
		return sw_fail(err, len, "fetching a page", c->db, c->page);
	mysql_stmt_free_result(c->page);
	mysql_commit(c->db);	/* end the read's snapshot */
	if (n)
		*last = m->rows[n - 1].radacctid;
	return n;
}

/*
 * The master write gate: at most master_writers member threads run a master
 * transaction at once.  Concurrent inserts into one InnoDB table contend on
 * its index pages, and on a box with few cores the spinning costs more than
 * the parallelism gains (docs/sweep.md, "Speed"); a thread waiting here has
 * its member work (delete, next read) overlapped with another's master write.
 */
static void master_enter(struct sweep *sw)
{
	pthread_mutex_lock(&sw->mw_mu);
	while (sw->writing >= sw->master_writers)
		pthread_cond_wait(&sw->mw_cv, &sw->mw_mu);
	sw->writing++;
	pthread_mutex_unlock(&sw->mw_mu);
}

static void master_leave(struct sweep *sw)
{
	pthread_mutex_lock(&sw->mw_mu);
	sw->writing--;
	pthread_cond_signal(&sw->mw_cv);
	pthread_mutex_unlock(&sw->mw_mu);
}

/* Upsert rows[0..n) into master in one transaction. */
static int upsert(struct member *m, struct ra_row **rows, size_t n, char *err, size_t len)
{
	struct sweep *sw = m->sw;
	struct conn *c = &m->sc;
	/* a page new to master goes in by LOAD DATA (sweep_load.c): then no
	 * upsert is prepared or bound for it */
	int ld = sw_load_new(m, rows, n, err, len);
	if (ld < 0) {
		mysql_rollback(c->db);
		return -1;
	}
	if (ld == 0) {
		if (mysql_commit(c->db))
			return sw_fail(err, len, "commit on master", c->db, NULL);
		return 0;
	}
	MYSQL_STMT *st = (n == (size_t)sw->batch) ? c->upsert_full : NULL;
	bool cached = st != NULL;
	if (!st) {
		struct buf q = BUF_INIT;
		ra_sql_upsert(&q, sw->table, n);
		st = sw_prepare(c->db, &q, err, len);
		buf_release(&q);
		if (!st)
			return -1;
		if (n == (size_t)sw->batch) {
			c->upsert_full = st;
			cached = true;
		}
	}
	MYSQL_BIND *b = malloc((n * RA_NCOLS + 2) * sizeof(*b));
	int rc = -1;
	if (!b) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		sw_bind_row(b + i * RA_NCOLS, rows[i]);
		/* the DATETIMEs go as UNIX time: master's FROM_UNIXTIME() writes
		 * them in its own zone, whatever the member's */
		for (int t = 0; t < RA_NTIMES; t++) {
			enum ra_col k = ra_time_cols[t];
			b[i * RA_NCOLS + k] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_LONGLONG,
							    .buffer = &rows[i]->t[t],
							    .is_null = (my_bool *)&rows[i]->null[k] };
		}
	}
	/* after every row's values (the '?'s of the VALUES lists), the
	 * precedence rule's two parameters in the UPDATE half: the stale
	 * cause (new copy, then old) */
	for (int k = 0; k < 2; k++)
		b[n * RA_NCOLS + k] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING, .buffer = sw->stale_cause,
						    .buffer_length = strlen(sw->stale_cause) };
	/* Members are merged concurrently: two pages touching the same sessions
	 * can deadlock on master's unique key.  InnoDB rolls one back; it is
	 * simply run again (the rows are sorted by acctuniqueid, so this is rare). */
	for (int attempt = 1;; attempt++) {
		if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st)) {
			unsigned int e = mysql_stmt_errno(st);
			sw_fail(err, len, "upsert into master", c->db, st);
			mysql_rollback(c->db);
			if ((e == 1213 || e == 1205) && attempt < UPSERT_TRIES) {
				log_info("sweep: member '%s': %s; trying again", m->cfg.name, err);
				continue;
			}
			goto out;
		}
		if (mysql_commit(c->db)) {
			sw_fail(err, len, "commit on master", c->db, NULL);
			goto out;
		}
		break;
	}
	rc = 0;
out:
	free(b);
	if (!cached)
		mysql_stmt_close(st);
	return rc;
}

/* After the staged delete, in its transaction: clear gone[i] for the staged rows still on the member. */
static int survivors(struct member *m, struct ra_row **rows, size_t n, bool *gone, char *err, size_t len)
{
	struct buf q = BUF_INIT;
	buf_addf(&q, "SELECT s.`radacctid` FROM `agg_sweep_stage` s JOIN `%s` t ON t.`radacctid` = s.`radacctid`",
		 m->sw->table);
	MYSQL_STMT *st = sw_prepare(m->mc.db, &q, err, len);
	buf_release(&q);
	if (!st)
		return -1;
	long long id = 0;
	MYSQL_BIND r = { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &id };
	int rc = -1, f;
	if (mysql_stmt_execute(st) || mysql_stmt_bind_result(st, &r)) {
		sw_fail(err, len, "finding the rows left on the member", m->mc.db, st);
		goto out;
	}
	while ((f = mysql_stmt_fetch(st)) == 0)
		for (size_t i = 0; i < n; i++)
			if (rows[i]->radacctid == id)
				gone[i] = false;
	rc = f == MYSQL_NO_DATA ? 0 : sw_fail(err, len, "finding the rows left on the member", m->mc.db, st);
out:
	mysql_stmt_close(st);
	return rc;
}

/*
 * Delete exactly rows[0..n) from the member; returns rows deleted or -1.
 * With gone, gone[i] tells whether rows[i] was deleted (valid when the
 * call returns >= 0, i.e. after the member's commit).
 *
 * The rows as read are staged in a per-connection temporary table, and one
 * DELETE ... JOIN removes the member rows that still equal them column by
 * column (null-safe).  One OR-list statement per chunk made MariaDB scan
 * the table; the join is a primary-key lookup per row in one round trip.
 */
static long delete_exact(struct member *m, struct ra_row **rows, size_t n, bool *gone, char *err, size_t len)
{
	struct sweep *sw = m->sw;
	struct conn *c = &m->mc;
	struct buf q = BUF_INIT;
	if (!c->del_join) {
		buf_addf(&q, "CREATE TEMPORARY TABLE IF NOT EXISTS `agg_sweep_stage` (PRIMARY KEY (`radacctid`)) "
			     "ENGINE=MEMORY SELECT `radacctid`");
		for (int k = 0; k < RA_NCOLS; k++)
			buf_addf(&q, ",`%s`", ra_col_names[k]);
		buf_addf(&q, " FROM `%s` LIMIT 0", sw->table);
		if (q.oom || mysql_real_query(c->db, q.data, q.len)) {
			buf_release(&q);
			return sw_fail(err, len, "creating the staging table on the member", c->db, NULL);
		}
		buf_reset(&q);
		buf_addf(&q, "DELETE t FROM `%s` t JOIN `agg_sweep_stage` s ON t.`radacctid` = s.`radacctid` WHERE 1",
			 sw->table);
		for (int k = 0; k < RA_NCOLS; k++)
			buf_addf(&q, " AND t.`%s` <=> s.`%s`", ra_col_names[k], ra_col_names[k]);
		c->del_join = sw_prepare(c->db, &q, err, len);
		buf_reset(&q);
		buf_adds(&q, "DELETE FROM `agg_sweep_stage`");
		c->stage_clear = c->del_join ? sw_prepare(c->db, &q, err, len) : NULL;
		if (!c->del_join || !c->stage_clear) {
			buf_release(&q);
			return -1;
		}
	}
	MYSQL_BIND *b = malloc(DELETE_CHUNK * (RA_NCOLS + 1) * sizeof(*b));
	long total = 0;
	if (!b) {
		buf_release(&q);
		snprintf(err, len, "out of memory");
		return -1;
	}
	for (size_t off = 0; off < n; off += DELETE_CHUNK) {
		size_t k = n - off < DELETE_CHUNK ? n - off : DELETE_CHUNK;
		MYSQL_STMT *st = k == DELETE_CHUNK ? c->stage_full : NULL;
		if (!st) {
			buf_reset(&q);
			buf_adds(&q, "INSERT INTO `agg_sweep_stage` (`radacctid`");
			for (int col = 0; col < RA_NCOLS; col++)
				buf_addf(&q, ",`%s`", ra_col_names[col]);
			buf_adds(&q, ") VALUES ");
			for (size_t i = 0; i < k; i++) {
				buf_adds(&q, i ? ",(?" : "(?");
				for (int col = 0; col < RA_NCOLS; col++)
					buf_adds(&q, ",?");
				buf_addc(&q, ')');
			}
			st = sw_prepare(c->db, &q, err, len);
			if (!st)
				goto fail;
			if (k == DELETE_CHUNK)
				c->stage_full = st;
		}
		for (size_t i = 0; i < k; i++) {
			MYSQL_BIND *bi = b + i * (RA_NCOLS + 1);
			bi[0] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_LONGLONG,
					      .buffer = &rows[off + i]->radacctid };
			sw_bind_row(bi + 1, rows[off + i]);
		}
		int bad = mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st);
		if (bad)
			sw_fail(err, len, "staging rows on the member", c->db, st);
		if (k != DELETE_CHUNK)
			mysql_stmt_close(st);
		if (bad)
			goto fail;
	}
	/* every row staged: one join deletes them all */
	if (mysql_stmt_execute(c->del_join)) {
		sw_fail(err, len, "delete on the member", c->db, c->del_join);
		goto fail;
	}
	total = (long)mysql_stmt_affected_rows(c->del_join);
	if (gone) {
		for (size_t i = 0; i < n; i++)
			gone[i] = true;
		/* some rows changed since read: those still there (this read sees
		 * the transaction's own deletes) are the ones not deleted */
		if ((size_t)total < n && survivors(m, rows, n, gone, err, len) < 0)
			goto fail;
	}
	if (mysql_stmt_execute(c->stage_clear)) {
		sw_fail(err, len, "clearing the staging table", c->db, c->stage_clear);
		goto fail;
	}
	free(b);
	buf_release(&q);
	if (mysql_commit(c->db)) {
		sw_fail(err, len, "commit on the member", c->db, NULL);
		return -1;
	}
	return total;
fail:
	free(b);
	buf_release(&q);
	mysql_rollback(c->db);
	mysql_stmt_execute(c->stage_clear);
	return -1;
}

/*
 * What master holds of the open rows[0..n): held[i] when master's copy is
 * the same version or a newer one (the upsert would leave it as it is, so
 * the row is not sent again), obsolete[i] when that copy is closed (the
 * member's open copy is a late interim, to be deleted).  Both arrays are
 * cleared first.
 */
static int master_versions(struct member *m, struct ra_row **rows, size_t n, bool *held,
			   bool *obsolete, char *err, size_t len)
{
	memset(held, 0, n * sizeof(*held));
	memset(obsolete, 0, n * sizeof(*obsolete));
	struct sweep *sw = m->sw;
	struct conn *c = &m->sc;
	struct buf q = BUF_INIT;
	ra_sql_versions(&q, sw->table, n);
	MYSQL_STMT *st = sw_prepare(c->db, &q, err, len);
	buf_release(&q);
	if (!st)
		return -1;
	MYSQL_BIND *p = calloc(n, sizeof(*p));
	int rc = -1;
	if (!p) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING,
				     .buffer = rows[i]->v[RA_ACCTUNIQUEID],
				     .buffer_length = rows[i]->len[RA_ACCTUNIQUEID] };
	struct ra_row mr;
	memset(&mr, 0, sizeof(mr));
	/* ra_sql_versions()'s columns: 7 values, then the two UNIX times */
	static const enum ra_col cols[7] = { RA_ACCTUNIQUEID, RA_ACCTUPDATETIME, RA_ACCTSTOPTIME,
					     RA_ACCTSESSIONTIME, RA_ACCTINPUTOCTETS, RA_ACCTOUTPUTOCTETS,
					     RA_ACCTTERMINATECAUSE };
	MYSQL_BIND r[9];
	for (int k = 0; k < 7; k++)
		r[k] = sw_bind_value(&mr, cols[k]);
	my_bool tnull[2];
	r[7] = sw_bind_time(&mr, RA_T_UPDATE, &tnull[0]);
	r[8] = sw_bind_time(&mr, RA_T_STOP, &tnull[1]);
	if (mysql_stmt_bind_param(st, p) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, r)) {
		sw_fail(err, len, "reading master's versions", c->db, st);
		goto out;
	}
	int f;
	while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
		for (int k = 0; k < 7; k++)
			sw_value_fetched(&mr, cols[k]);	/* master's columns fit: the same schema */
		mr.t[RA_T_UPDATE] = tnull[0] ? RA_T_NONE : mr.t[RA_T_UPDATE];
		mr.t[RA_T_STOP] = tnull[1] ? RA_T_NONE : mr.t[RA_T_STOP];
		/* master's times and the member's, compared as UTC (the two
		 * servers' zones may differ), with the synthetic-close rule */
		struct ra_version mv, cv;
		ra_version_of_utc(&mr, sw->stale_cause, &mv);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(rows[i]->v[RA_ACCTUNIQUEID], mr.v[RA_ACCTUNIQUEID]) != 0)
				continue;
			ra_version_of_utc(rows[i], sw->stale_cause, &cv);
			if (ra_compare(&cv, &mv) <= 0) {
				held[i] = true;
				obsolete[i] = mv.closed;	/* master holds it closed, and that wins */
			}
		}
	}
	mysql_stmt_free_result(st);
	mysql_commit(c->db);
	rc = f == MYSQL_NO_DATA ? 0 : sw_fail(err, len, "fetching master's versions", c->db, st);
out:
	free(p);
	mysql_stmt_close(st);
	return rc;
}

static int by_uniqueid(const void *a, const void *b)
{
	const struct ra_row *x = *(const struct ra_row *const *)a, *y = *(const struct ra_row *const *)b;
	return strcmp(x->v[RA_ACCTUNIQUEID], y->v[RA_ACCTUNIQUEID]);
}

/* Sweep one member: every page, until the table is done or we are demoted. */
static int sweep_member(struct member *m, bool once)
{
	struct sweep *sw = m->sw;
	char *err = m->err;
	size_t elen = sizeof(m->err);
	char where[128];
	snprintf(where, sizeof(where), "member '%s'", m->cfg.name);
	if (sw_conn_open(sw, &m->mc, &m->cfg, false, where, &m->schema, err, elen) < 0 ||
	    sw_conn_open(sw, &m->sc, &sw->master, true, "master", &sw->master_schema, err, elen) < 0)
		return -1;
	if ((m->mc.fresh || m->sc.fresh) && (m->mc.utc_off != m->sc.utc_off || strcmp(m->mc.tz, m->sc.tz) != 0)) {
		char mo[32], so[32];
		sw_fmt_off(mo, sizeof(mo), m->mc.utc_off);
		sw_fmt_off(so, sizeof(so), m->sc.utc_off);
		log_warn("sweep: member '%s' runs in time zone %s (%s now), master in %s (%s now): its times "
			 "are converted to master's zone as its rows are copied (docs/sweep.md, \"Time zones\")",
			 m->cfg.name, m->mc.tz, mo, m->sc.tz, so);
	}
	m->mc.fresh = m->sc.fresh = false;
	struct ra_row **closed = malloc((size_t)sw->batch * sizeof(*closed));
	struct ra_row **open = malloc((size_t)sw->batch * sizeof(*open));
	struct ra_row **all = malloc((size_t)sw->batch * sizeof(*all));
	bool *obsolete = malloc((size_t)sw->batch * sizeof(*obsolete));
	bool *held = malloc((size_t)sw->batch * sizeof(*held));
	bool *gone = malloc((size_t)sw->batch * sizeof(*gone));
	const char **ids = malloc((size_t)sw->batch * sizeof(*ids));
	unsigned long *lens = malloc((size_t)sw->batch * sizeof(*lens));
	int rc = -1;
	if (!closed || !open || !all || !obsolete || !held || !gone || !ids || !lens) {
		snprintf(err, elen, "out of memory");
		goto out;
	}
	long long last = 0;
	for (;;) {
		if (!once && !role_is_active()) {
			log_info("sweep: member '%s': node demoted, stopping at a batch boundary", m->cfg.name);
			break;
		}
		if (worker_self() && worker_stopping(worker_self())) {
			log_info("sweep: member '%s': stopping at a batch boundary", m->cfg.name);
			break;
		}
		long n = read_page(m, &last, err, elen);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		atomic_fetch_add(&m->read, (uint64_t)n);
		size_t nc = 0, no = 0, ns = 0;
		for (long i = 0; i < n; i++) {
			if (m->rows[i].wide) {
				/* a truncated copy must not reach master; the row stays
				 * (and shows in the oldest-closed-row gauge) */
				log_error("sweep: member '%s': row radacctid %lld has a value wider than %d bytes; "
					  "left on the member", m->cfg.name, m->rows[i].radacctid, RA_VAL_MAX - 1);
				atomic_fetch_add(&m->wide, 1);
				continue;
			}
			if (m->rows[i].bad_time) {
				/* its time cannot be carried to master's zone */
				log_error("sweep: member '%s': row radacctid %lld has a time with no UNIX time "
					  "(a zero date, or before 1970); left on the member", m->cfg.name,
					  m->rows[i].radacctid);
				atomic_fetch_add(&m->bad_time, 1);
				continue;
			}
			if (m->rows[i].null[RA_ACCTSTOPTIME])
				open[no++] = &m->rows[i];
			else
				all[ns++] = closed[nc++] = &m->rows[i];
		}
		/* open rows master already holds at this version or a newer one
		 * (unchanged since the last cycle, or beaten) are not sent again */
		if (no && master_versions(m, open, no, held, obsolete, err, elen) < 0)
			goto out;
		for (size_t i = 0; i < no; i++)
			if (!held[i])
				all[ns++] = open[i];
		/* 2. master first, in key order (the same lock order in every thread) */
		if (ns) {
			qsort(all, ns, sizeof(*all), by_uniqueid);
			master_enter(sw);
			int up = upsert(m, all, ns, err, elen);
			master_leave(sw);
			if (up < 0)
				goto out;
			atomic_fetch_add(&m->copied, (uint64_t)ns);
		}
		/* 3. then the member: the exact closed rows, and superseded open copies */
		if (nc) {
			long d = delete_exact(m, closed, nc, gone, err, elen);
			if (d < 0)
				goto out;
			atomic_fetch_add(&m->moved, (uint64_t)d);
			if ((size_t)d < nc)
				log_info("sweep: member '%s': %zu closed row(s) changed since read; left for the next cycle",
					 m->cfg.name, nc - (size_t)d);
			/* 5. the rows that left the member, once each, as master holds them */
			sw_publish_moved(m, closed, gone, nc, ids, lens);
		}
		size_t k = 0;
		for (size_t i = 0; i < no; i++)
			if (obsolete[i])
				open[k++] = open[i];
		if (k) {
			long d = delete_exact(m, open, k, NULL, err, elen);
			if (d < 0)
				goto out;
			atomic_fetch_add(&m->superseded, (uint64_t)d);
		}
		worker_beat(&sw->w);
		if (n < sw->batch)
			break;
	}
	rc = 0;
out:
	free(closed);
	free(open);
	free(all);
	free(obsolete);
	free(held);
	free(gone);
	free(ids);
	free(lens);
	return rc;
}

/* The age of the oldest closed row still on the member (0 = none): a lag gauge. */
static void measure_oldest(struct member *m)
{
	if (!m->mc.db)
		return;
	struct buf q = BUF_INIT;
	buf_addf(&q, "SELECT UNIX_TIMESTAMP(MIN(`acctstoptime`)) FROM `%s` WHERE `acctstoptime` IS NOT NULL",
		 m->sw->table);
	char err[256];
	MYSQL_STMT *st = sw_prepare(m->mc.db, &q, err, sizeof(err));
	buf_release(&q);
	if (!st)
		return;
	long long v = 0;
	my_bool isnull = 0;
	MYSQL_BIND r = { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &v, .is_null = &isnull };
	if (mysql_stmt_execute(st) == 0 && mysql_stmt_bind_result(st, &r) == 0 &&
	    mysql_stmt_fetch(st) == 0)
		atomic_store(&m->oldest_closed, isnull ? 0 : v);
	mysql_stmt_free_result(st);
	mysql_stmt_close(st);
	mysql_commit(m->mc.db);
}

void *sw_member_main(void *arg)
{
	struct member_run *r = arg;
	struct member *m = r->m;
	char tag[16];
	snprintf(tag, sizeof(tag), "sw-%s", m->cfg.name);
	log_set_thread_tag(tag);
	mysql_thread_init();
	sw_timed_out();
	uint64_t t0 = mono_usec(), read0 = atomic_load(&m->read), copied0 = atomic_load(&m->copied);
	uint64_t moved0 = atomic_load(&m->moved);
	m->ok = sweep_member(m, r->once) == 0;
	m->timed_out = !m->ok && sw_timed_out();
	if (m->ok)
		measure_oldest(m);
	uint64_t us = mono_usec() - t0;
	atomic_store(&m->last_us, us);
	if (m->ok)
		log_msg(r->once ? LOG_LVL_INFO : LOG_LVL_DEBUG, "sweep: member '%s': %llu row(s) read, %llu copied, %llu moved, %.3f s",
			m->cfg.name, (unsigned long long)(atomic_load(&m->read) - read0),
			(unsigned long long)(atomic_load(&m->copied) - copied0),
			(unsigned long long)(atomic_load(&m->moved) - moved0), (double)us / 1e6);
	if (!m->ok) {
		atomic_fetch_add(&m->errors, 1);
		if (m->timed_out)
			atomic_fetch_add(&m->timeouts, 1);
		/* a broken connection is reopened next time */
		sw_conn_close(&m->mc);
		sw_conn_close(&m->sc);
	}
	mysql_thread_end();
	return NULL;
}
