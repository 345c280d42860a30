/*
 * sweep_db.c — the sweep's MariaDB plumbing: a connection opened with
 * timeouts and its session settings, the helpers that prepare a statement
 * and word an error, and the bindings of a radacct row (values as text,
 * DATETIMEs as UNIX time).
 *
 * At every connect the table's columns and unique indexes are checked (a
 * table not keyed by acctuniqueid alone is refused with the ALTER TABLE
 * that fixes it, radacct.h's ra_check_indexes) and the session's time zone
 * is read: every session keeps its server's own zone (docs/sweep.md, "Time
 * zones").
 *
 * Deadlines and stop.  Every connection waits for its socket through
 * sw_io_wait() (MARIADB_OPT_IO_WAIT: Connector/C calls it for every wait of
 * connect, read and write): a poll(2) of the socket for the library's own
 * timeout (the sweep's `timeout`: connect, read and write timeouts alike)
 * and of the calling thread's worker's stop descriptor (worker.h), which
 * the job's stop request makes readable (the member threads are children
 * of the sweep's worker, so one request reaches them all).  A cancelled
 * wait fails the call as a lost connection would, and the move protocol
 * treats it as one (nothing deleted from a member before master committed;
 * the next cycle copies again, a no-op, and deletes).  Chosen over KILL QUERY, which needs a second connection to a
 * server that may be the one hanging, and over shutdown(2) of the socket
 * from the stopping thread, which races with the owner closing it (and the
 * descriptor's number being reused).  The wait for a timeout is per socket
 * wait, as the library counts it: a server that trickles can stretch a
 * call, and stop still ends it.
 *
 * Threads: any; each uses its own connections (struct conn).  Owns no state
 * but the thread-local deadline flag: a struct conn is its caller's, closed
 * with sw_conn_close().
 */
#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "radacct.h"
#include "sweep_int.h"
#include "worker.h"

static _Thread_local bool timed_out;		/* a wait ran out since sw_timed_out() */

bool sw_timed_out(void)
{
	bool t = timed_out;
	timed_out = false;
	return t;
}

/* Connector/C's wait for its socket (MARIADB_OPT_IO_WAIT): >0 ready, 0 timed
 * out, -1 error or cancelled.  The cancel descriptor is the calling thread's
 * worker's stop descriptor (worker.h; -1 off a worker: --once's caller), and
 * the wait is declared to the liveness check as a call with its deadline. */
static int sw_io_wait(my_socket fd, my_bool is_read, int timeout_ms)
{
	int cancel_fd = worker_stop_fd();
	struct pollfd p[2] = { { .fd = fd, .events = is_read ? POLLIN : POLLOUT },
			       { .fd = cancel_fd, .events = POLLIN } };
	uint64_t call = timeout_ms >= 0 ? worker_call_begin((uint64_t)timeout_ms) : 0;
	int n;
	do
		n = poll(p, cancel_fd >= 0 ? 2 : 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (timeout_ms >= 0)
		worker_call_end(call);
	if (n > 0 && cancel_fd >= 0 && (p[1].revents & POLLIN)) {
		errno = ECANCELED;
		return -1;
	}
	if (n == 0) {
		timed_out = true;
		errno = ETIMEDOUT;
	}
	return n;
}

void sw_conn_close(struct conn *c)
{
	if (c->page)
		mysql_stmt_close(c->page);
	if (c->upsert_full)
		mysql_stmt_close(c->upsert_full);
	if (c->held_full)
		mysql_stmt_close(c->held_full);
	if (c->stage_full)
		mysql_stmt_close(c->stage_full);
	if (c->del_join)
		mysql_stmt_close(c->del_join);
	if (c->stage_clear)
		mysql_stmt_close(c->stage_clear);
	if (c->db)
		mysql_close(c->db);
	memset(c, 0, sizeof(*c));
}

int sw_fail(char *err, size_t len, const char *what, MYSQL *db, MYSQL_STMT *st)
{
	/* an error in a fetch (a row lock that timed out, a KILL QUERY) can be
	 * left on the connection, not the statement */
	if (st && !mysql_stmt_errno(st) && db && mysql_errno(db))
		st = NULL;
	snprintf(err, len, "%s: %s", what, st ? mysql_stmt_error(st) : db ? mysql_error(db) : "out of memory");
	return -1;
}

MYSQL_STMT *sw_prepare(MYSQL *db, const struct buf *sql, char *err, size_t len)
{
	MYSQL_STMT *st = mysql_stmt_init(db);
	if (!st) {
		sw_fail(err, len, "mysql_stmt_init", db, NULL);
		return NULL;
	}
	if (sql->oom || mysql_stmt_prepare(st, sql->data, sql->len) != 0) {
		sw_fail(err, len, "prepare", db, st);
		mysql_stmt_close(st);
		return NULL;
	}
	return st;
}

/*
 * Run an information_schema query whose one parameter is the sweep's table
 * name, with its results bound to res: the statement (caller closes it), or
 * NULL with err saying what failed ("reading WHAT").
 */
static MYSQL_STMT *table_query(struct sweep *sw, MYSQL *db, const char *sql, MYSQL_BIND *res,
			       const char *what, char *err, size_t len)
{
	struct buf q = BUF_INIT;
	buf_adds(&q, sql);
	MYSQL_STMT *st = sw_prepare(db, &q, err, len);
	buf_release(&q);
	if (!st)
		return NULL;
	MYSQL_BIND p = { .buffer_type = MYSQL_TYPE_STRING, .buffer = sw->table,
			 .buffer_length = strlen(sw->table) };
	if (mysql_stmt_bind_param(st, &p) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, res)) {
		sw_fail(err, len, what, db, st);
		mysql_stmt_close(st);
		return NULL;
	}
	return st;
}

/* Check that table has every column the sweep reads and writes. */
static int check_columns(struct sweep *sw, MYSQL *db, const char *where, char *err, size_t len)
{
	char name[128];
	unsigned long nl = 0;
	MYSQL_BIND r = { .buffer_type = MYSQL_TYPE_STRING, .buffer = name,
			 .buffer_length = sizeof(name) - 1, .length = &nl };
	bool have[RA_NCOLS + 1] = { false };
	MYSQL_STMT *st = table_query(sw, db, "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
				     "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
				     &r, "reading the table's columns", err, len);
	if (!st)
		return -1;
	while (mysql_stmt_fetch(st) == 0) {
		name[nl < sizeof(name) ? nl : sizeof(name) - 1] = '\0';
		for (int c = 0; c < RA_NCOLS; c++)
			if (strcasecmp(name, ra_col_names[c]) == 0)
				have[c] = true;
		if (strcasecmp(name, "radacctid") == 0)
			have[RA_NCOLS] = true;
	}
	mysql_stmt_close(st);
	struct buf miss = BUF_INIT;
	for (int c = 0; c <= RA_NCOLS; c++)
		if (!have[c])
			buf_addf(&miss, "%s%s", miss.len ? ", " : "", c < RA_NCOLS ? ra_col_names[c] : "radacctid");
	int rc = 0;
	if (miss.len) {
		snprintf(err, len, "table '%s' on %s lacks column(s): %s", sw->table, where, miss.data);
		rc = -1;
	}
	buf_release(&miss);
	return rc;
}

/*
 * Check the table's unique indexes (ra_check_indexes): the upsert must be
 * keyed by acctuniqueid and nothing else that could merge two sessions.
 * 0; 1 when refused, err saying what is wrong and the ALTER TABLE that
 * fixes it; -1 when the indexes could not be read.
 */
static int check_indexes(struct sweep *sw, MYSQL *db, const struct sweep_db *d, const char *where,
			 char *err, size_t len)
{
	char ix[80], col[80];
	unsigned long ixl = 0, coll = 0;
	long long nonu = 0, part = 0;
	MYSQL_BIND r[4] = {
		{ .buffer_type = MYSQL_TYPE_STRING, .buffer = ix, .buffer_length = sizeof(ix) - 1, .length = &ixl },
		{ .buffer_type = MYSQL_TYPE_STRING, .buffer = col, .buffer_length = sizeof(col) - 1, .length = &coll },
		{ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &nonu },
		{ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &part },
	};
	struct ra_index_col *cols = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, f;
	MYSQL_STMT *st = table_query(sw, db, "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE, SUB_PART IS NOT NULL "
				     "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
				     "AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
				     r, "reading the table's indexes", err, len);
	if (!st)
		return -1;
	while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 32;
			struct ra_index_col *g = realloc(cols, nc * sizeof(*g));
			if (!g)
				break;
			cols = g;
			cap = nc;
		}
		ix[ixl < sizeof(ix) ? ixl : sizeof(ix) - 1] = '\0';
		col[coll < sizeof(col) ? coll : sizeof(col) - 1] = '\0';
		cols[n] = (struct ra_index_col){ .index = strdup(ix), .column = strdup(col),
						 .unique = nonu == 0, .partial = part != 0 };
		if (!cols[n].index || !cols[n].column) {
			free((char *)cols[n].index);
			free((char *)cols[n].column);
			break;
		}
		n++;
	}
	mysql_stmt_free_result(st);
	if (f != MYSQL_NO_DATA) {
		if (f == 0 || f == MYSQL_DATA_TRUNCATED)
			snprintf(err, len, "reading the table's indexes: out of memory");
		else
			sw_fail(err, len, "reading the table's indexes", db, st);
		goto out;
	}
	struct buf why = BUF_INIT;
	rc = ra_check_indexes(cols, n, d->database, sw->table, where, &why) ? 1 : 0;
	if (rc)
		snprintf(err, len, "%s", why.oom ? "the table's unique indexes are wrong (out of memory describing them)" : why.data);
	buf_release(&why);
out:
	for (size_t i = 0; i < n; i++) {
		free((char *)cols[i].index);
		free((char *)cols[i].column);
	}
	free(cols);
	mysql_stmt_close(st);
	return rc;
}

/*
 * The session's time zone (the server's default, the one FreeRADIUS's own
 * connection writes its DATETIMEs in) and its offset from UTC now, into c.
 */
static int read_zone(MYSQL *db, struct conn *c, const char *where, char *err, size_t len)
{
	struct buf q = BUF_INIT;
	buf_adds(&q, "SELECT @@session.time_zone, @@system_time_zone, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())");
	MYSQL_STMT *st = sw_prepare(db, &q, err, len);
	buf_release(&q);
	if (!st)
		return -1;
	char tz[64] = "", sys[64] = "";
	unsigned long tzl = 0, sysl = 0;
	long long off = 0;
	MYSQL_BIND r[3] = {
		{ .buffer_type = MYSQL_TYPE_STRING, .buffer = tz, .buffer_length = sizeof(tz) - 1, .length = &tzl },
		{ .buffer_type = MYSQL_TYPE_STRING, .buffer = sys, .buffer_length = sizeof(sys) - 1, .length = &sysl },
		{ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &off },
	};
	int f = -1;
	if (mysql_stmt_execute(st) == 0 && mysql_stmt_bind_result(st, r) == 0)
		f = mysql_stmt_fetch(st);
	if (f != 0 && f != MYSQL_DATA_TRUNCATED) {
		snprintf(err, len, "%s: reading the time zone: %s", where, mysql_stmt_error(st));
		mysql_stmt_close(st);
		return -1;
	}
	mysql_stmt_free_result(st);
	mysql_stmt_close(st);
	tz[tzl < sizeof(tz) ? tzl : sizeof(tz) - 1] = '\0';
	sys[sysl < sizeof(sys) ? sysl : sizeof(sys) - 1] = '\0';
	if (strcmp(tz, "SYSTEM") == 0)
		snprintf(c->tz, sizeof(c->tz), "SYSTEM (%s)", sys);
	else
		snprintf(c->tz, sizeof(c->tz), "%s", tz);
	c->utc_off = (long)off;
	c->fresh = true;
	return 0;
}

/* "UTC+02:00" for off = 7200 s east of UTC. */
void sw_fmt_off(char *out, size_t n, long off)
{
	long a = off < 0 ? -off : off;
	snprintf(out, n, "UTC%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
}

/*
 * Open c to d unless it is open and answers.  Every session keeps the
 * server's own time zone (docs/sweep.md, "Time zones"); the table's columns
 * and unique indexes are checked, a refusal of the indexes counted in *sch.
 */
int sw_conn_open(struct sweep *sw, struct conn *c, const struct sweep_db *d, bool master,
		 const char *where, struct schema_watch *sch, char *err, size_t len)
{
	if (c->db && mysql_ping(c->db) == 0)
		return 0;
	sw_conn_close(c);
	c->db = mysql_init(NULL);
	if (!c->db)
		return sw_fail(err, len, "mysql_init", NULL, NULL);
	unsigned int to = (unsigned int)sw->timeout;
	mysql_options(c->db, MYSQL_OPT_CONNECT_TIMEOUT, &to);
	mysql_options(c->db, MYSQL_OPT_READ_TIMEOUT, &to);
	mysql_options(c->db, MYSQL_OPT_WRITE_TIMEOUT, &to);
	if (mysql_optionsv(c->db, MARIADB_OPT_IO_WAIT, sw_io_wait)) {
		sw_conn_close(c);
		return sw_fail(err, len, "setting the connection's wait", NULL, NULL);
	}
	mysql_options(c->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	sw_load_setup(c, master);
	if (!mysql_real_connect(c->db, d->host, d->user, d->password, d->database,
				(unsigned int)d->port, NULL, 0)) {
		snprintf(err, len, "cannot connect to %s (%s:%d): %s", where, d->host, d->port,
			 mysql_error(c->db));
		sw_conn_close(c);
		return -1;
	}
	if (mysql_autocommit(c->db, 0) ||
	    (master && !d->log_bin && mysql_query(c->db, "SET SESSION sql_log_bin = 0"))) {
		snprintf(err, len, "%s: session settings: %s", where, mysql_error(c->db));
		sw_conn_close(c);
		return -1;
	}
	if (check_columns(sw, c->db, where, err, len) < 0 || read_zone(c->db, c, where, err, len) < 0) {
		sw_conn_close(c);
		return -1;
	}
	int ix = check_indexes(sw, c->db, d, where, err, len);
	if (ix != 0) {
		if (ix > 0) {	/* refused, not a failed read */
			atomic_fetch_add(&sch->refused, 1);
			atomic_store(&sch->bad, true);
		}
		sw_conn_close(c);
		return -1;
	}
	atomic_store(&sch->bad, false);
	mysql_commit(c->db);	/* end the checks' snapshot */
	return 0;
}

/* Bind the RA_NCOLS values of row r into b[0..RA_NCOLS). */
void sw_bind_row(MYSQL_BIND *b, struct ra_row *r)
{
	for (int c = 0; c < RA_NCOLS; c++) {
		b[c] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING, .buffer = r->v[c],
				     .buffer_length = r->len[c], .length = &r->len[c],
				     .is_null = (my_bool *)&r->null[c] };
	}
}

/* A result binding for value k of row r (a string of at most RA_VAL_MAX - 1 bytes). */
MYSQL_BIND sw_bind_value(struct ra_row *r, int k)
{
	return (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING, .buffer = r->v[k],
			     .buffer_length = RA_VAL_MAX - 1, .length = &r->len[k],
			     .is_null = (my_bool *)&r->null[k] };
}

/*
 * After a fetch: make value k of r a proper string (NULL is "" with length
 * 0; the library need not set a NULL's length).  false when the value was
 * wider than the buffer and is cut short.
 */
bool sw_value_fetched(struct ra_row *r, int k)
{
	bool fits = true;
	if (r->null[k]) {
		r->len[k] = 0;
	} else if (r->len[k] > RA_VAL_MAX - 1) {
		r->len[k] = RA_VAL_MAX - 1;
		fits = false;
	}
	r->v[k][r->len[k]] = '\0';
	return fits;
}

/* Bind result column k to r's UNIX time t (RA_NTIMES of them after the values). */
MYSQL_BIND sw_bind_time(struct ra_row *r, int t, my_bool *is_null)
{
	return (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &r->t[t], .is_null = is_null };
}

/*
 * After a fetch of the RA_NTIMES UNIX times: a NULL one is RA_T_NONE, and
 * the row has a bad time when a DATETIME that is not NULL had none (a zero
 * date, or one before 1970).
 */
void sw_times_fetched(struct ra_row *r, const my_bool *tnull)
{
	r->bad_time = false;
	for (int t = 0; t < RA_NTIMES; t++) {
		if (!tnull[t])
			continue;
		r->t[t] = RA_T_NONE;
		if (!r->null[ra_time_cols[t]])
			r->bad_time = true;
	}
}
