/*
 * sweep_load.c — a page of rows new to master written with LOAD DATA LOCAL
 * INFILE, fed from memory: master's cheapest way in, about half the CPU of
 * the prepared multi-row upsert (docs/sweep.md, "Speed").
 *
 * Only a page none of whose sessions master holds goes this way; any other
 * page, and any load that does not take every row exactly (a duplicate
 * that came in between, a value the server would convert: LOAD DATA LOCAL
 * turns such errors into warnings), is rolled back and written by the
 * upsert, whose precedence rule and strict errors apply as before.  The
 * rows travel as data, never as SQL text; the statement names only the
 * configured table (validated) and the fixed columns.
 *
 * Every connection the sweep opens gets this file's handler for a server's
 * LOCAL INFILE request: it serves the page armed by sw_load_new() and
 * nothing else, so no server (a member, or master asked anything else) can
 * make the daemon read a file.  Members never have LOCAL INFILE enabled.
 *
 * Threads: a connection is used by one thread at a time, and its feed with
 * it.
 */
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "radacct.h"
#include "sweep_int.h"

#define ER_LOCK_WAIT 1205
#define ER_DEADLOCK 1213

/* ---- the handler: serves the armed feed, nothing else ---- */

static int feed_init(void **ptr, const char *name, void *userdata)
{
	(void)name;	/* whatever the server asks for, only the page is served */
	struct sw_feed *f = userdata;
	*ptr = f;
	return f && f->armed ? 0 : 1;
}

static int feed_read(void *ptr, char *out, unsigned int n)
{
	struct sw_feed *f = ptr;
	size_t k = f->left < n ? f->left : n;
	memcpy(out, f->p, k);
	f->p += k;
	f->left -= k;
	return (int)k;
}

static void feed_end(void *ptr)
{
	struct sw_feed *f = ptr;
	if (f)
		f->armed = false;
}

static int feed_error(void *ptr, char *msg, unsigned int n)
{
	(void)ptr;
	snprintf(msg, n, "aggregatord serves no file for this request");
	return 2000;	/* CR_UNKNOWN_ERROR */
}

void sw_load_setup(struct conn *c, bool master)
{
	unsigned int on = master ? 1 : 0;
	mysql_options(c->db, MYSQL_OPT_LOCAL_INFILE, &on);
	mysql_set_local_infile_handler(c->db, feed_init, feed_read, feed_end, feed_error, &c->feed);
}

/* ---- the page ---- */

/* How many of rows[0..n) master holds (by acctuniqueid); -1 on error. */
static long count_held(struct member *m, struct ra_row **rows, size_t n, char *err, size_t len)
{
	struct conn *c = &m->sc;
	MYSQL_STMT *st = n == (size_t)m->sw->batch ? c->held_full : NULL;
	bool cached = st != NULL;
	if (!st) {
		struct buf q = BUF_INIT;
		buf_addf(&q, "SELECT COUNT(*) FROM `%s` WHERE `acctuniqueid` IN (", m->sw->table);
		for (size_t i = 0; i < n; i++)
			buf_adds(&q, i ? ",?" : "?");
		buf_addc(&q, ')');
		st = sw_prepare(c->db, &q, err, len);
		buf_release(&q);
		if (!st)
			return -1;
		if (n == (size_t)m->sw->batch) {
			c->held_full = st;
			cached = true;
		}
	}
	long rc = -1;
	long long held = 0;
	MYSQL_BIND *p = malloc(n * sizeof(*p));
	MYSQL_BIND r = { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &held };
	if (!p) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING, .buffer = rows[i]->v[RA_ACCTUNIQUEID],
				     .buffer_length = rows[i]->len[RA_ACCTUNIQUEID] };
	if (mysql_stmt_bind_param(st, p) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, &r) ||
	    mysql_stmt_fetch(st) != 0) {
		sw_fail(err, len, "looking up the page's sessions on master", c->db, st);
		goto out;
	}
	rc = held > 0 ? (long)held : 0;
out:
	if (st)
		mysql_stmt_free_result(st);
	free(p);
	if (!cached && st)
		mysql_stmt_close(st);
	return rc;
}

/* Append value v (len bytes) escaped for LOAD DATA's default format. */
static void add_escaped(struct buf *b, const char *v, size_t len)
{
	size_t from = 0;
	for (size_t i = 0; i < len; i++) {
		const char *e;
		switch (v[i]) {
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\\': e = "\\\\"; break;
		case '\0': e = "\\0"; break;
		default: continue;
		}
		buf_add(b, v + from, i - from);
		buf_adds(b, e);
		from = i + 1;
	}
	buf_add(b, v + from, len - from);
}

/* The page as LOAD DATA's text: a line per row, the RA_NCOLS columns in order, times as UNIX time. */
static void page_text(struct buf *b, struct ra_row **rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ra_row *r = rows[i];
		for (int c = 0, t = 0; c < RA_NCOLS; c++) {
			if (c)
				buf_addc(b, '\t');
			bool time = t < RA_NTIMES && c == (int)ra_time_cols[t];
			if (r->null[c])
				buf_adds(b, "\\N");
			else if (time)
				buf_addf(b, "%lld", r->t[t]);
			else
				add_escaped(b, r->v[c], r->len[c]);
			if (time)
				t++;
		}
		buf_addc(b, '\n');
	}
}

/* The statement: the table's columns in order, the times through FROM_UNIXTIME() as the upsert writes them. */
static void load_sql(struct buf *q, const char *table)
{
	buf_addf(q, "LOAD DATA LOCAL INFILE 'aggregatord-page' INTO TABLE `%s` CHARACTER SET utf8mb4 "
		    "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (", table);
	for (int c = 0, t = 0; c < RA_NCOLS; c++) {
		if (t < RA_NTIMES && c == (int)ra_time_cols[t])
			buf_addf(q, "%s@agg_t%d", c ? "," : "", t++);
		else
			buf_addf(q, "%s`%s`", c ? "," : "", ra_col_names[c]);
	}
	buf_adds(q, ") SET ");
	for (int t = 0; t < RA_NTIMES; t++)
		buf_addf(q, "%s`%s`=FROM_UNIXTIME(@agg_t%d)", t ? "," : "", ra_col_names[ra_time_cols[t]], t);
}

int sw_load_new(struct member *m, struct ra_row **rows, size_t n, char *err, size_t len)
{
	struct conn *c = &m->sc;
	if (c->no_load)
		return 1;
	long held = count_held(m, rows, n, err, len);
	if (held < 0)
		return -1;
	if (held > 0)
		return 1;	/* some are on master already: the precedence rule decides */
	struct buf data = BUF_INIT, q = BUF_INIT;
	page_text(&data, rows, n);
	load_sql(&q, m->sw->table);
	int rc = 1;
	if (data.oom || q.oom) {
		snprintf(err, len, "out of memory");
		rc = -1;
		goto out;
	}
	c->feed = (struct sw_feed){ .p = data.data, .left = data.len, .armed = true };
	int bad = mysql_real_query(c->db, q.data, (unsigned long)q.len);
	c->feed.armed = false;
	if (bad) {
		unsigned int e = mysql_errno(c->db);
		if (e >= 2000 && e < 3000 && e != 2000) {	/* the connection: fail as any statement would */
			sw_fail(err, len, "loading the page into master", c->db, NULL);
			rc = -1;
			goto out;
		}
		if (e != ER_DEADLOCK && e != ER_LOCK_WAIT) {
			/* refused (local_infile off on master, a server without
			 * it): the upsert writes every page from now on */
			log_info("sweep: member '%s': master refuses LOAD DATA LOCAL INFILE (%u: %s); its pages "
				 "go by INSERT ... ON DUPLICATE KEY UPDATE", m->cfg.name, e, mysql_error(c->db));
			c->no_load = true;
		}
		mysql_rollback(c->db);
		goto out;
	}
	if (mysql_affected_rows(c->db) == (my_ulonglong)n && mysql_warning_count(c->db) == 0) {
		rc = 0;
		goto out;
	}
	/* not every row as sent (a session that came in since the count, a
	 * value the server changed): undone, the upsert decides each row */
	log_debug("sweep: member '%s': a page loaded %llu of %zu row(s) with %u warning(s); rolled back, "
		  "written by the upsert", m->cfg.name, (unsigned long long)mysql_affected_rows(c->db), n,
		  mysql_warning_count(c->db));
	if (mysql_rollback(c->db)) {
		sw_fail(err, len, "rolling back a page on master", c->db, NULL);
		rc = -1;
	}
out:
	buf_release(&data);
	buf_release(&q);
	return rc;
}
