/*
 * radacct.c — radacct rows, the precedence rule and the sweep's SQL; see
 * radacct.h.  The SQL form of the precedence rule is written next to its C
 * form so the two stay the same rule.  The published-versions table
 * (ra_seen) is in ra_seen.c.
 */
#include "radacct.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"

const char *const ra_col_names[RA_NCOLS] = {
	"acctsessionid", "acctuniqueid", "username", "realm", "nasipaddress",
	"nasportid", "nasporttype", "acctstarttime", "acctupdatetime", "acctstoptime",
	"acctinterval", "acctsessiontime", "acctauthentic", "connectinfo_start",
	"connectinfo_stop", "acctinputoctets", "acctoutputoctets", "calledstationid",
	"callingstationid", "acctterminatecause", "servicetype", "framedprotocol",
	"framedipaddress", "framedipv6address", "framedipv6prefix", "framedinterfaceid",
	"delegatedipv6prefix", "class",
};

const enum ra_col ra_time_cols[RA_NTIMES] = { RA_ACCTSTARTTIME, RA_ACCTUPDATETIME, RA_ACCTSTOPTIME };

static long long num(const struct ra_row *r, enum ra_col c)
{
	return r->null[c] ? 0 : strtoll(r->v[c], NULL, 10);
}

void ra_version_of(const struct ra_row *r, const char *stale_cause, struct ra_version *v)
{
	const char *u = r->null[RA_ACCTUPDATETIME] ? "" : r->v[RA_ACCTUPDATETIME];
	const char *s = r->null[RA_ACCTSTOPTIME] ? "" : r->v[RA_ACCTSTOPTIME];
	const char *cause = r->null[RA_ACCTTERMINATECAUSE] ? "" : r->v[RA_ACCTTERMINATECAUSE];
	v->closed = !r->null[RA_ACCTSTOPTIME];
	v->real = v->closed && strcmp(cause, stale_cause) != 0 && strcmp(cause, RA_CAUSE_NAS_REBOOT) != 0;
	/* 'YYYY-MM-DD HH:MM:SS' orders as text; "" is before any time */
	const char *g = strcmp(u, s) >= 0 ? u : s;
	size_t n = strlen(g);
	if (n > sizeof(v->ts) - 1)
		n = sizeof(v->ts) - 1;
	memcpy(v->ts, g, n);
	v->ts[n] = '\0';
	v->sessiontime = num(r, RA_ACCTSESSIONTIME);
	v->in = num(r, RA_ACCTINPUTOCTETS);
	v->out = num(r, RA_ACCTOUTPUTOCTETS);
}

void ra_version_of_utc(const struct ra_row *r, const char *stale_cause, struct ra_version *v)
{
	ra_version_of(r, stale_cause, v);	/* the state, the cause and the counters */
	bool hu = !r->null[RA_ACCTUPDATETIME], hs = !r->null[RA_ACCTSTOPTIME];
	v->ts[0] = '\0';
	if (!hu && !hs)
		return;
	long long g = !hs || (hu && r->t[RA_T_UPDATE] > r->t[RA_T_STOP]) ? r->t[RA_T_UPDATE] : r->t[RA_T_STOP];
	if (g == RA_T_NONE)
		return;		/* no UNIX time: before any time, as "" is */
	time_t tt = (time_t)g;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(v->ts, sizeof(v->ts), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		v->ts[0] = '\0';
}

static int cmp_ll(long long a, long long b)
{
	return (a > b) - (a < b);
}

/* The key, most significant first: (real, ts, closed, sessiontime, in, out).
 * NEW_WINS below is the same key in SQL. */
int ra_compare(const struct ra_version *a, const struct ra_version *b)
{
	if (a->real != b->real)
		return a->real ? 1 : -1;
	int c = strcmp(a->ts, b->ts);
	if (c)
		return c > 0 ? 1 : -1;
	if (a->closed != b->closed)
		return a->closed ? 1 : -1;
	if ((c = cmp_ll(a->sessiontime, b->sessiontime)))
		return c;
	if ((c = cmp_ll(a->in, b->in)))
		return c;
	return cmp_ll(a->out, b->out);
}

const char *ra_check_identifier(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return "must be 1 to 64 characters";
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return "may hold only letters, digits and '_'";
	return NULL;
}

static void col_list(struct buf *b)
{
	for (int c = 0; c < RA_NCOLS; c++)
		buf_addf(b, "%s`%s`", c ? "," : "", ra_col_names[c]);
}

/* ",UNIX_TIMESTAMP(`acctstarttime`),..." for the RA_NTIMES DATETIMEs, in the session's zone */
static void unix_times(struct buf *b)
{
	for (int t = 0; t < RA_NTIMES; t++)
		buf_addf(b, ",UNIX_TIMESTAMP(`%s`)", ra_col_names[ra_time_cols[t]]);
}

void ra_sql_page(struct buf *b, const char *table)
{
	buf_adds(b, "SELECT `radacctid`,");
	col_list(b);
	unix_times(b);
	buf_addf(b, " FROM `%s` WHERE `radacctid` > ? ORDER BY `radacctid` LIMIT ?", table);
}

/*
 * The precedence rule in SQL, new = VALUES(col), old = col: ra_compare()'s
 * key as a row comparison, which is lexicographic like it.  A cause is
 * compared as the bytes the connection (utf8mb4) gives C, so the SQL and C
 * agree whatever the column's charset or collation.  The two '?' are the
 * stale cause (new, then old).  Evaluated once, in the first assignment,
 * into @agg_w: later assignments must not look at columns already
 * overwritten.
 */
#define ZT "CAST('1000-01-01 00:00:00' AS DATETIME)"
#define TS(u, s) "GREATEST(COALESCE(" u "," ZT "),COALESCE(" s "," ZT "))"
#define SYNTHETIC(c) "CAST(CONVERT(COALESCE(" c ",'') USING utf8mb4) AS BINARY) IN " \
	"(CAST(? AS BINARY),CAST('" RA_CAUSE_NAS_REBOOT "' AS BINARY))"
#define KEY(col) "((" col("acctstoptime") " IS NOT NULL AND NOT " SYNTHETIC(col("acctterminatecause")) ")," \
	TS(col("acctupdatetime"), col("acctstoptime")) "," \
	"(" col("acctstoptime") " IS NOT NULL)," \
	"COALESCE(" col("acctsessiontime") ",0),COALESCE(" col("acctinputoctets") ",0)," \
	"COALESCE(" col("acctoutputoctets") ",0))"
#define NEW(c) "VALUES(`" c "`)"
#define OLD(c) "`" c "`"
static const char new_wins[] = "(" KEY(NEW) ">" KEY(OLD) ")";

void ra_sql_upsert(struct buf *b, const char *table, size_t nrows)
{
	buf_addf(b, "INSERT INTO `%s` (", table);
	col_list(b);
	buf_adds(b, ") VALUES ");
	for (size_t i = 0; i < nrows; i++) {
		buf_adds(b, i ? ",(" : "(");
		for (int c = 0; c < RA_NCOLS; c++) {
			bool time = c == RA_ACCTSTARTTIME || c == RA_ACCTUPDATETIME || c == RA_ACCTSTOPTIME;
			buf_adds(b, c ? "," : "");
			buf_adds(b, time ? "FROM_UNIXTIME(?)" : "?");
		}
		buf_addc(b, ')');
	}
	buf_adds(b, " ON DUPLICATE KEY UPDATE ");
	for (int c = 0; c < RA_NCOLS; c++) {
		if (c == RA_ACCTUNIQUEID)
			continue;	/* the key itself never changes */
		const char *n = ra_col_names[c];
		if (c == 0)
			buf_addf(b, "`%s`=IF((@agg_w:=%s),VALUES(`%s`),`%s`)", n, new_wins, n, n);
		else
			buf_addf(b, ",`%s`=IF(@agg_w,VALUES(`%s`),`%s`)", n, n, n);
	}
}

void ra_sql_delete_exact(struct buf *b, const char *table, size_t nrows)
{
	buf_addf(b, "DELETE FROM `%s` WHERE ", table);
	for (size_t i = 0; i < nrows; i++) {
		buf_adds(b, i ? " OR (`radacctid`=?" : "(`radacctid`=?");
		for (int c = 0; c < RA_NCOLS; c++)
			buf_addf(b, " AND `%s`<=>?", ra_col_names[c]);
		buf_addc(b, ')');
	}
}

void ra_sql_versions(struct buf *b, const char *table, size_t n)
{
	buf_addf(b, "SELECT `acctuniqueid`,`acctupdatetime`,`acctstoptime`,`acctsessiontime`,"
		    "`acctinputoctets`,`acctoutputoctets`,`acctterminatecause`,UNIX_TIMESTAMP(`acctupdatetime`),"
		    "UNIX_TIMESTAMP(`acctstoptime`) FROM `%s` WHERE `acctuniqueid` IN (", table);
	for (size_t i = 0; i < n; i++)
		buf_adds(b, i ? ",?" : "?");
	buf_addc(b, ')');
}

void ra_sql_rows(struct buf *b, const char *table, size_t n)
{
	buf_adds(b, "SELECT ");
	col_list(b);
	unix_times(b);
	buf_addf(b, " FROM `%s` WHERE `acctuniqueid` IN (", table);
	for (size_t i = 0; i < n; i++)
		buf_adds(b, i ? ",?" : "?");
	buf_addc(b, ')');
}

void ra_json_members(const struct ra_row *r, struct jw *w)
{
	for (int c = 0; c < RA_NCOLS; c++) {
		jw_key(w, ra_col_names[c]);
		if (r->null[c])
			jw_null(w);
		else if ((c == RA_ACCTINTERVAL || c == RA_ACCTSESSIONTIME ||
			  c == RA_ACCTINPUTOCTETS || c == RA_ACCTOUTPUTOCTETS) && r->len[c] &&
			 strspn(r->v[c], "-0123456789") == r->len[c])
			jw_num_text(w, r->v[c], r->len[c]);
		else
			jw_strn(w, r->v[c], r->len[c]);
	}
	for (int t = 0; t < RA_NTIMES; t++) {
		enum ra_col c = ra_time_cols[t];
		char key[64];
		snprintf(key, sizeof(key), "%s_ts", ra_col_names[c]);
		jw_key(w, key);
		if (r->null[c] || r->t[t] == RA_T_NONE)
			jw_null(w);
		else
			jw_i64(w, r->t[t]);
	}
}

/* ---- the table's unique indexes ---- */

/* Append `s` quoted as an identifier (a backquote doubled). */
static void add_ident(struct buf *b, const char *s)
{
	buf_addc(b, '`');
	for (; *s; s++) {
		if (*s == '`')
			buf_addc(b, '`');
		buf_addc(b, *s);
	}
	buf_addc(b, '`');
}

/* Append index cols[a..e)'s columns: plain "(c1, c2)" or quoted "(`c1`,`c2`)". */
static void add_cols(struct buf *b, const struct ra_index_col *cols, size_t a, size_t e, bool quoted)
{
	buf_addc(b, '(');
	for (size_t i = a; i < e; i++) {
		if (i > a)
			buf_adds(b, quoted ? "," : ", ");
		if (quoted) {
			add_ident(b, cols[i].column);
		} else {
			buf_adds(b, cols[i].column);
			if (cols[i].partial)
				buf_adds(b, " prefix");
		}
	}
	buf_addc(b, ')');
}

static void problem_head(struct buf *why, int *np, const char *table, const char *where)
{
	if ((*np)++)
		buf_adds(why, "; ");
	buf_addf(why, "table '%s' on %s has ", table, where);
}

static void alter_head(struct buf *why, const char *db, const char *table)
{
	buf_adds(why, "fix: ALTER TABLE ");
	add_ident(why, db);
	buf_addc(why, '.');
	add_ident(why, table);
	buf_addc(why, ' ');
}

int ra_check_indexes(const struct ra_index_col *cols, size_t n, const char *db,
		     const char *table, const char *where, struct buf *why)
{
	int np = 0;
	bool have_key = false, name_taken = false;
	for (size_t a = 0, e; a < n; a = e) {
		bool whole_uid = false, has_id = false, only_uid = true;
		for (e = a; e < n && strcmp(cols[e].index, cols[a].index) == 0; e++) {
			bool uid = strcasecmp(cols[e].column, "acctuniqueid") == 0 && !cols[e].partial;
			whole_uid |= uid;
			only_uid &= uid;
			has_id |= strcasecmp(cols[e].column, "radacctid") == 0;
		}
		if (strcasecmp(cols[a].index, "acctuniqueid") == 0)
			name_taken = true;
		if (!cols[a].unique)
			continue;
		if (only_uid) {
			have_key = true;
			if (strcasecmp(cols[a].index, "acctuniqueid") == 0)
				name_taken = false;	/* it is the key itself */
			continue;
		}
		if (whole_uid || has_id)
			continue;	/* implied by the key, or never equal on an insert */
		bool primary = strcmp(cols[a].index, "PRIMARY") == 0;
		problem_head(why, &np, table, where);
		if (primary)
			buf_adds(why, "its PRIMARY KEY on ");
		else {
			buf_adds(why, "UNIQUE index ");
			add_ident(why, cols[a].index);
			buf_adds(why, " on ");
		}
		add_cols(why, cols, a, e, false);
		buf_adds(why, ", which would merge distinct sessions with equal values into one row; ");
		alter_head(why, db, table);
		if (primary) {
			buf_adds(why, "DROP PRIMARY KEY, ADD PRIMARY KEY (`radacctid`), ADD INDEX ");
		} else {
			buf_adds(why, "DROP INDEX ");
			add_ident(why, cols[a].index);
			buf_adds(why, ", ADD INDEX ");
			add_ident(why, cols[a].index);
			buf_addc(why, ' ');
		}
		add_cols(why, cols, a, e, true);
	}
	if (!have_key) {
		problem_head(why, &np, table, where);
		buf_adds(why, "no UNIQUE index on (acctuniqueid): every copy of a session would be inserted "
			      "again each cycle; ");
		alter_head(why, db, table);
		if (name_taken)
			buf_adds(why, "DROP INDEX `acctuniqueid`, ");
		buf_adds(why, "ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)");
	}
	return np;
}
