/*
 * radacct.h — FreeRADIUS's radacct table as the sweep sees it: the row, the
 * precedence rule between two copies of one session, and the SQL text of
 * the statements the sweep prepares.  Pure: no I/O, usable from any thread.
 *
 * The contract is FreeRADIUS 3.x's MySQL schema (mods-config/sql/main/mysql/
 * schema.sql).  `radacctid` is per server and never copied; `acctuniqueid`
 * is the session's identity.  Every value travels as text (MariaDB converts
 * DATETIME and integers to and from their text forms), NULL kept as NULL,
 * except that the DATETIMEs go from server to server as UNIX time (each
 * server's text is in its own time zone).
 */
#ifndef AGG_RADACCT_H
#define AGG_RADACCT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum ra_col {
	RA_ACCTSESSIONID, RA_ACCTUNIQUEID, RA_USERNAME, RA_REALM, RA_NASIPADDRESS,
	RA_NASPORTID, RA_NASPORTTYPE, RA_ACCTSTARTTIME, RA_ACCTUPDATETIME, RA_ACCTSTOPTIME,
	RA_ACCTINTERVAL, RA_ACCTSESSIONTIME, RA_ACCTAUTHENTIC, RA_CONNECTINFO_START,
	RA_CONNECTINFO_STOP, RA_ACCTINPUTOCTETS, RA_ACCTOUTPUTOCTETS, RA_CALLEDSTATIONID,
	RA_CALLINGSTATIONID, RA_ACCTTERMINATECAUSE, RA_SERVICETYPE, RA_FRAMEDPROTOCOL,
	RA_FRAMEDIPADDRESS, RA_FRAMEDIPV6ADDRESS, RA_FRAMEDIPV6PREFIX, RA_FRAMEDINTERFACEID,
	RA_DELEGATEDIPV6PREFIX, RA_CLASS,
	RA_NCOLS
};

extern const char *const ra_col_names[RA_NCOLS];

#define RA_VAL_MAX 132		/* bytes: the widest column (varchar(128)) plus room */

/* The DATETIME columns, which the sweep also carries as UNIX time. */
enum ra_time { RA_T_START, RA_T_UPDATE, RA_T_STOP, RA_NTIMES };
extern const enum ra_col ra_time_cols[RA_NTIMES];
#define RA_T_NONE LLONG_MIN	/* t[] of a DATETIME with no UNIX time */

/* One row of radacct (all columns but radacctid as text). */
struct ra_row {
	long long radacctid;		/* the server's own id (paging, delete) */
	char v[RA_NCOLS][RA_VAL_MAX];	/* values, NUL-terminated */
	unsigned long len[RA_NCOLS];	/* value lengths */
	char null[RA_NCOLS];		/* 1 when the value is NULL */
	bool wide;			/* a value did not fit RA_VAL_MAX: not to be moved */
	long long t[RA_NTIMES];		/* s since the epoch: the DATETIMEs read in their server's
					 * own time zone (the text in v is that server's local time);
					 * RA_T_NONE when the DATETIME has no UNIX time */
	bool bad_time;			/* a DATETIME with no UNIX time (before 1970, zero): not to be moved */
};

/*
 * Causes of a synthetic close: a row closed by no Stop of its own.  The
 * sweep's stale closing writes its configured cause (sweep.stale_cause);
 * FreeRADIUS's Accounting-On query closes a NAS's open rows with
 * RA_CAUSE_NAS_REBOOT (when the packet carries no Acct-Terminate-Cause).
 */
#define RA_CAUSE_NAS_REBOOT "NAS-Reboot"

/* What the precedence rule looks at. */
struct ra_version {
	bool closed;			/* acctstoptime IS NOT NULL */
	bool real;			/* closed by a Stop: closed and the cause is not a synthetic one */
	char ts[20];			/* GREATEST(acctupdatetime, acctstoptime), "" if both NULL */
	long long sessiontime;		/* acctsessiontime, NULL = 0 */
	long long in, out;		/* octet counters, NULL = 0 */
};

/*
 * The version of r.  stale_cause is the sweep's stale-closing cause (not
 * empty): a closed row whose acctterminatecause equals it, or
 * RA_CAUSE_NAS_REBOOT, byte for byte, is a synthetic close.
 */
void ra_version_of(const struct ra_row *r, const char *stale_cause, struct ra_version *v);

/*
 * The same, with the time taken from r->t (UTC) rather than from the text:
 * for comparing copies read from servers in different time zones.  The
 * sweep compares versions only this way (master's with the members', and
 * the published ones); ra_version_of() is for rows of one zone.
 */
void ra_version_of_utc(const struct ra_row *r, const char *stale_cause, struct ra_version *v);

/*
 * Which copy is the one right version?  > 0: a wins, < 0: b wins, 0: the
 * same version.  The order, most significant first:
 *   1. a real close (a Stop) beats anything else, whatever the times;
 *   2. the later GREATEST(acctupdatetime, acctstoptime): so an open copy
 *      updated after a synthetic close was made (a slow NAS's interim)
 *      beats it, and the session is open again;
 *   3. closed beats open (a synthetic close beats the open copy it was
 *      made from, and any older one);
 *   4. the larger acctsessiontime, input octets, output octets.
 * Between two real closes, or two open copies, this is the later time, then
 * the counters, as before; it is a total order (docs/sweep.md).
 */
int ra_compare(const struct ra_version *a, const struct ra_version *b);

/* NULL when s is a plain identifier ([A-Za-z0-9_]{1,64}), else the reason. */
const char *ra_check_identifier(const char *s);

/*
 * The statements (table already checked with ra_check_identifier()):
 * page: SELECT radacctid, <cols>, UNIX_TIMESTAMP() of the RA_NTIMES
 *   DATETIMEs ... WHERE radacctid > ? ORDER BY radacctid LIMIT ?
 * upsert: INSERT of n rows, ON DUPLICATE KEY UPDATE taking the new values
 *   only when the precedence rule (in SQL, the same as ra_compare) says the
 *   new copy wins; an older copy never overwrites a newer one.  The
 *   DATETIME columns take FROM_UNIXTIME(?) (bind the row's t[]): master
 *   stores them in its own session's time zone.  Parameters, in this
 *   order: the n rows' RA_NCOLS values (a DATETIME as its UNIX time), then
 *   the stale cause twice (the precedence rule's new and old copy).
 * delete_exact: DELETE of n rows, each matched by radacctid and every
 *   column null-safely, so a row changed since it was read survives.
 * versions: SELECT the version columns for n acctuniqueids (acctuniqueid,
 *   acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets,
 *   acctoutputoctets, acctterminatecause), then
 *   UNIX_TIMESTAMP(acctupdatetime), UNIX_TIMESTAMP(acctstoptime).
 * rows: SELECT every column (as the page, without radacctid, with the
 *   RA_NTIMES UNIX_TIMESTAMP()s) for n acctuniqueids.
 */
void ra_sql_page(struct buf *b, const char *table);
void ra_sql_upsert(struct buf *b, const char *table, size_t nrows);
void ra_sql_delete_exact(struct buf *b, const char *table, size_t nrows);
void ra_sql_versions(struct buf *b, const char *table, size_t n);
void ra_sql_rows(struct buf *b, const char *table, size_t n);

/*
 * The sessions whose master row has been published, and at which version:
 * the sweep publishes a session once per version of master's row, whichever
 * member's copy (or stale closing) brings it there.  A fixed table of slots
 * indexed by a hash of acctuniqueid: an entry is forgotten only when another
 * session takes its slot, and a forgotten entry can only repeat an event
 * (with the same content), never hide one.  Not thread-safe: the caller
 * serialises calls on one table.  (ra_seen.c)
 */
struct ra_seen;
/* A table of `slots` entries, or NULL when out of memory; free with ra_seen_free(). */
struct ra_seen *ra_seen_new(size_t slots);
void ra_seen_free(struct ra_seen *s);
/*
 * true when session uid (len bytes) at version v is not marked yet, and
 * marks it; false when it is.  An acctuniqueid longer than RA_SEEN_UID - 1
 * bytes is never marked (always true).
 */
#define RA_SEEN_UID 64
bool ra_seen_mark(struct ra_seen *s, const char *uid, size_t len, const struct ra_version *v);

/*
 * Append r as JSON members ("acctuniqueid":...,...) for a Kafka event: every
 * column but radacctid as its server holds it (a DATETIME as that server's
 * local time), then acctstarttime_ts, acctupdatetime_ts, acctstoptime_ts:
 * the same instants as UNIX seconds from r->t (null when the DATETIME is
 * NULL or has no UNIX time), which need no time zone to read.
 */
struct jw;
void ra_json_members(const struct ra_row *r, struct jw *w);

/* ---- the table's unique indexes (checked at every connect) ---- */

/* One column of one index, as information_schema.STATISTICS lists it. */
struct ra_index_col {
	const char *index;	/* INDEX_NAME, "PRIMARY" for the primary key */
	const char *column;	/* COLUMN_NAME */
	bool unique;		/* NON_UNIQUE = 0 */
	bool partial;		/* SUB_PART set: only a prefix of the column is indexed */
};

/*
 * May the upsert trust the table's unique indexes?  cols[0..n) are the
 * table's index columns, each index's together, in column order.
 *  - The table needs a UNIQUE index on the whole of acctuniqueid alone:
 *    without it ON DUPLICATE KEY never fires on a session's identity and
 *    every copy is inserted again (double counting).
 *  - Any other UNIQUE index must hold the whole of acctuniqueid, or
 *    radacctid (never copied: new on every insert).  One on other columns
 *    alone (acctsessionid, a prefix of acctuniqueid) makes two distinct
 *    sessions collide, and the upsert would merge them into one row.
 * Returns the number of problems, each appended to why ("; " between them)
 * as "table 'T' on WHERE has ...: consequence; fix: ALTER TABLE `DB`.`T`
 * ..." — the statement that fixes it, to run as it is.
 */
int ra_check_indexes(const struct ra_index_col *cols, size_t n, const char *db,
		     const char *table, const char *where, struct buf *why);

#endif
