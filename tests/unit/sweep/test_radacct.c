/*
 * test_radacct.c — the sweep's precedence rule over every pair of states,
 * the FreeRADIUS case of a Stop on one member and a later Interim-Update on
 * another, synthetic closes (stale closing, Accounting-On) against real data,
 * the identifier check, and the shape of the generated SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "radacct.h"
#include "suites.h"

static void set(struct ra_row *r, enum ra_col c, const char *v)
{
	if (!v) {
		r->null[c] = 1;
		r->v[c][0] = '\0';
		r->len[c] = 0;
		return;
	}
	r->null[c] = 0;
	r->len[c] = strlen(v);
	memcpy(r->v[c], v, r->len[c] + 1);
}

#define STALE "Stale-Session"	/* sweep.stale_cause in these tests */

/* A copy's version; cause is acctterminatecause (NULL for NULL). */
static struct ra_version verc(const char *upd, const char *stop, const char *st,
			      const char *in, const char *out, const char *cause)
{
	struct ra_row r;
	memset(&r, 0, sizeof(r));
	set(&r, RA_ACCTUPDATETIME, upd);
	set(&r, RA_ACCTSTOPTIME, stop);
	set(&r, RA_ACCTSESSIONTIME, st);
	set(&r, RA_ACCTINPUTOCTETS, in);
	set(&r, RA_ACCTOUTPUTOCTETS, out);
	set(&r, RA_ACCTTERMINATECAUSE, cause);
	struct ra_version v;
	ra_version_of(&r, STALE, &v);
	return v;
}

/* A copy as FreeRADIUS's Start/Interim/Stop queries leave it: cause '' until a Stop. */
static struct ra_version ver(const char *upd, const char *stop, const char *st,
			    const char *in, const char *out)
{
	return verc(upd, stop, st, in, out, stop ? "User-Request" : "");
}

/* a must beat b, and the rule must be antisymmetric. */
static void beats(struct ra_version a, struct ra_version b)
{
	ck_assert_int_gt(ra_compare(&a, &b), 0);
	ck_assert_int_lt(ra_compare(&b, &a), 0);
}

START_TEST(closed_beats_open)
{
	/* even an open copy updated later loses to a real close (a Stop) */
	beats(ver("2026-11-23 10:00:00", "2026-11-23 10:05:00", "300", "1", "1"),
	      ver("2026-11-23 11:00:00", NULL, "3900", "99", "99"));
	beats(ver(NULL, "2026-11-23 10:05:00", NULL, NULL, NULL),
	      ver("2026-11-23 11:00:00", NULL, "3900", "99", "99"));
}
END_TEST

START_TEST(stop_then_late_interim)
{
	/* FreeRADIUS: Stop lands on member 1 (acctupdatetime untouched by the Stop
	 * query), a later Interim-Update lands on member 2.  The Stop wins. */
	struct ra_version stop = ver("2026-11-23 10:10:00", "2026-11-23 10:30:00", "1800", "5000", "6000");
	struct ra_version late = ver("2026-11-23 10:20:00", NULL, "1200", "4000", "5000");
	beats(stop, late);
}
END_TEST

START_TEST(same_state_order)
{
	/* both open: later update wins */
	beats(ver("2026-11-23 10:20:00", NULL, "10", "1", "1"), ver("2026-11-23 10:10:00", NULL, "99", "9", "9"));
	/* both closed: GREATEST(update, stop) */
	beats(ver("2026-11-23 10:00:00", "2026-11-23 10:40:00", "10", "1", "1"),
	      ver("2026-11-23 10:30:00", "2026-11-23 10:35:00", "99", "9", "9"));
	/* same time: larger session time */
	beats(ver("2026-11-23 10:20:00", NULL, "600", "1", "1"), ver("2026-11-23 10:20:00", NULL, "599", "9", "9"));
	/* then input octets, then output octets */
	beats(ver("2026-11-23 10:20:00", NULL, "600", "10", "1"), ver("2026-11-23 10:20:00", NULL, "600", "9", "9"));
	beats(ver("2026-11-23 10:20:00", NULL, "600", "10", "2"), ver("2026-11-23 10:20:00", NULL, "600", "10", "1"));
	/* NULLs count as nothing */
	beats(ver("2026-11-23 10:20:00", NULL, "1", NULL, NULL), ver("2026-11-23 10:20:00", NULL, NULL, NULL, NULL));
	beats(ver("2026-11-23 00:00:01", NULL, NULL, NULL, NULL), ver(NULL, NULL, NULL, NULL, NULL));
	/* equal versions are equal */
	struct ra_version a = ver("2026-11-23 10:20:00", "2026-11-23 10:21:00", "60", "1", "2");
	struct ra_version b = ver("2026-11-23 10:20:00", "2026-11-23 10:21:00", "60", "1", "2");
	ck_assert_int_eq(ra_compare(&a, &b), 0);
}
END_TEST

START_TEST(every_pair_is_ordered)
{
	/* A small lattice of states: the rule is a total order on it
	 * (antisymmetric and transitive), whatever order copies arrive in. */
	const char *upd[] = { NULL, "2026-11-23 10:00:00", "2026-11-23 10:10:00" };
	const char *stop[] = { NULL, "2026-11-23 10:05:00", "2026-11-23 10:15:00" };
	const char *st[] = { NULL, "300", "900" };
	struct ra_version v[27];
	int n = 0;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 3; k++)
				v[n++] = ver(upd[i], stop[j], st[k], "1", "1");
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			int ab = ra_compare(&v[a], &v[b]), ba = ra_compare(&v[b], &v[a]);
			ck_assert_int_eq(ab > 0, ba < 0);
			ck_assert_int_eq(ab == 0, ba == 0);
			for (int c = 0; c < n; c++)
				if (ab > 0 && ra_compare(&v[b], &v[c]) > 0)
					ck_assert_int_gt(ra_compare(&v[a], &v[c]), 0);
		}
}
END_TEST

/* Copies from servers in different zones compare by their UNIX times. */
START_TEST(version_utc)
{
	struct ra_row a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	/* a: UTC-05:00, updated 12:00 local = 17:00 UTC; b: UTC+03:00, 19:30 local = 16:30 UTC */
	strcpy(a.v[RA_ACCTUPDATETIME], "2026-03-01 12:00:00");
	a.t[RA_T_UPDATE] = 1772384400;	/* 2026-03-01 17:00:00 UTC */
	a.null[RA_ACCTSTOPTIME] = 1;
	strcpy(b.v[RA_ACCTUPDATETIME], "2026-03-01 19:30:00");
	b.t[RA_T_UPDATE] = 1772382600;	/* 16:30 UTC */
	b.null[RA_ACCTSTOPTIME] = 1;
	struct ra_version va, vb;
	ra_version_of(&a, STALE, &va);
	ra_version_of(&b, STALE, &vb);
	ck_assert_int_lt(ra_compare(&va, &vb), 0);	/* by local text, b would win */
	ra_version_of_utc(&a, STALE, &va);
	ra_version_of_utc(&b, STALE, &vb);
	ck_assert_str_eq(va.ts, "2026-03-01 17:00:00");
	ck_assert_str_eq(vb.ts, "2026-03-01 16:30:00");
	ck_assert_int_gt(ra_compare(&va, &vb), 0);
	/* closed: the later of update and stop; neither: "" */
	b.null[RA_ACCTSTOPTIME] = 0;
	b.t[RA_T_STOP] = 1772384460;
	ra_version_of_utc(&b, STALE, &vb);
	ck_assert_str_eq(vb.ts, "2026-03-01 17:01:00");
	b.null[RA_ACCTUPDATETIME] = 1;
	ra_version_of_utc(&b, STALE, &vb);
	ck_assert_str_eq(vb.ts, "2026-03-01 17:01:00");
	b.null[RA_ACCTSTOPTIME] = 1;
	ra_version_of_utc(&b, STALE, &vb);
	ck_assert_str_eq(vb.ts, "");
	/* no UNIX time (a zero date): before any time, as NULL is */
	b.null[RA_ACCTUPDATETIME] = 0;
	b.t[RA_T_UPDATE] = RA_T_NONE;
	ra_version_of_utc(&b, STALE, &vb);
	ck_assert_str_eq(vb.ts, "");
}
END_TEST

/* A row as a server in UTC+off s holds it: local text and UNIX times. */
static void zoned(struct ra_row *r, long off, long long upd, long long stop, const char *st,
		  const char *in, const char *cause)
{
	memset(r, 0, sizeof(*r));
	long long u[2] = { upd, stop };
	enum ra_col c[2] = { RA_ACCTUPDATETIME, RA_ACCTSTOPTIME };
	enum ra_time t[2] = { RA_T_UPDATE, RA_T_STOP };
	for (int k = 0; k < 2; k++) {
		if (u[k] < 0) {
			set(r, c[k], NULL);
			continue;
		}
		time_t lt = (time_t)(u[k] + off);
		struct tm tm;
		char txt[32];
		gmtime_r(&lt, &tm);
		strftime(txt, sizeof(txt), "%Y-%m-%d %H:%M:%S", &tm);
		set(r, c[k], txt);
		r->t[t[k]] = u[k];
	}
	set(r, RA_ACCTSESSIONTIME, st);
	set(r, RA_ACCTINPUTOCTETS, in);
	set(r, RA_ACCTOUTPUTOCTETS, in);
	set(r, RA_ACCTTERMINATECAUSE, cause);
}

/* The precedence rule's synthetic-close cases hold across zones: by UNIX time. */
START_TEST(synthetic_close_across_zones)
{
	const long long T = 1772384400;	/* 2026-03-01 17:00:00 UTC */
	struct ra_row ms, mb;
	struct ra_version vs, vb;
	/* master (UTC) stale-closed the session at its last update, 17:00 UTC */
	zoned(&ms, 0, T, T, "3600", "10", STALE);
	ra_version_of_utc(&ms, STALE, &vs);
	/* a member in UTC-05:00 has an interim of 17:30 UTC (12:30 local): by
	 * local text it is older than the close; by UNIX time it is newer and
	 * reopens the session */
	zoned(&mb, -5 * 3600, T + 1800, -1, "5400", "50", "");
	ra_version_of(&mb, STALE, &vb);
	ra_version_of(&ms, STALE, &vs);
	ck_assert_int_lt(ra_compare(&vb, &vs), 0);
	ra_version_of_utc(&mb, STALE, &vb);
	ra_version_of_utc(&ms, STALE, &vs);
	beats(vb, vs);
	/* a member in UTC+03:00 has the interim the close was made from (20:00
	 * local = 17:00 UTC): by local text it is newer; by UNIX time it is the
	 * same instant and the close stays */
	zoned(&mb, 3 * 3600, T, -1, "3600", "10", "");
	ra_version_of(&mb, STALE, &vb);
	ra_version_of(&ms, STALE, &vs);
	ck_assert_int_gt(ra_compare(&vb, &vs), 0);
	ra_version_of_utc(&mb, STALE, &vb);
	ra_version_of_utc(&ms, STALE, &vs);
	beats(vs, vb);
	/* the NAS's real Stop, on the UTC+03:00 member at 16:50 UTC (earlier than
	 * the close): a real close wins whatever the times */
	zoned(&mb, 3 * 3600, T - 1200, T - 600, "3000", "9", "User-Request");
	ra_version_of_utc(&mb, STALE, &vb);
	ck_assert(vb.real && !vs.real);
	beats(vb, vs);
	/* two real Stops from two zones: the later in UTC */
	struct ra_row m2;
	struct ra_version v2;
	zoned(&m2, -5 * 3600, T - 1200, T - 300, "3300", "9", "User-Request");
	ra_version_of_utc(&m2, STALE, &v2);
	beats(v2, vb);
}
END_TEST

START_TEST(json_times)
{
	struct ra_row r;
	memset(&r, 0, sizeof(r));
	for (int c = 0; c < RA_NCOLS; c++)
		set(&r, c, NULL);
	set(&r, RA_ACCTUNIQUEID, "u1");
	set(&r, RA_ACCTSTARTTIME, "2026-03-01 12:00:00");	/* UTC-05:00 */
	r.t[RA_T_START] = 1772384400;
	set(&r, RA_ACCTUPDATETIME, "0000-00-00 00:00:00");
	r.t[RA_T_UPDATE] = RA_T_NONE;
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init_members(&w, &b);
	ra_json_members(&r, &w);
	ck_assert_ptr_nonnull(strstr(b.data, "\"acctstarttime\":\"2026-03-01 12:00:00\""));
	ck_assert_ptr_nonnull(strstr(b.data, ",\"acctstarttime_ts\":1772384400,\"acctupdatetime_ts\":null,"
					     "\"acctstoptime_ts\":null"));
	buf_release(&b);
}
END_TEST

START_TEST(real_stop_beats_synthetic_close)
{
	/* Accounting-On on one member (stop 10:20) against the real Stop on
	 * another (10:15): the Stop wins, though the Accounting-On is later */
	struct ra_version stop = verc("2026-11-23 10:10:00", "2026-11-23 10:15:00", "900", "900", "990", "User-Request");
	struct ra_version reboot = verc("2026-11-23 10:10:00", "2026-11-23 10:20:00", "1200", "600", "660", "NAS-Reboot");
	beats(stop, reboot);
	/* a stale close, and a Stop from a NAS whose clock is behind */
	struct ra_version stale = verc("2026-11-23 09:00:00", "2026-11-23 09:00:00", "3600", "10", "10", STALE);
	beats(verc("2026-11-23 08:55:00", "2026-11-23 08:55:00", "3300", "900", "950", "Lost-Carrier"), stale);
	/* any cause FreeRADIUS's Stop writes is real, empty or NULL included */
	beats(verc(NULL, "2026-11-23 08:00:00", NULL, NULL, NULL, ""), stale);
	beats(verc(NULL, "2026-11-23 08:00:00", NULL, NULL, NULL, NULL), reboot);
	/* between two real Stops the later still wins */
	beats(verc("2026-11-23 10:10:00", "2026-11-23 10:31:00", "1860", "1", "1", "Idle-Timeout"), stop);
	/* between two synthetic closes too */
	beats(reboot, stale);
}
END_TEST

START_TEST(interim_after_synthetic_close)
{
	/* stale-closed at its last update, 09:00 */
	struct ra_version stale = verc("2026-11-23 09:00:00", "2026-11-23 09:00:00", "3600", "10", "10", STALE);
	/* a slow NAS's interim of 09:40: the session is open, with newer counters */
	beats(verc("2026-11-23 09:40:00", NULL, "6000", "500", "600", ""), stale);
	/* the very interim the close was made from, or an older one: the close stays */
	beats(stale, verc("2026-11-23 09:00:00", NULL, "3600", "10", "10", ""));
	beats(stale, verc("2026-11-23 08:50:00", NULL, "3000", "9", "9", ""));
	/* even with larger counters at the same time: the time decides first */
	beats(stale, verc("2026-11-23 09:00:00", NULL, "3600", "99", "99", ""));
	/* a session never updated, stale-closed at its start */
	struct ra_version never = verc(NULL, "2026-11-23 08:00:00", "0", "0", "0", STALE);
	beats(never, verc(NULL, NULL, "0", "0", "0", ""));
	beats(verc("2026-11-23 08:05:00", NULL, "300", "1", "1", ""), never);
	/* Accounting-On at 10:20 (acctupdatetime left at the last interim) */
	struct ra_version reboot = verc("2026-11-23 10:10:00", "2026-11-23 10:20:00", "1200", "600", "660", "NAS-Reboot");
	beats(verc("2026-11-23 10:25:00", NULL, "1500", "700", "700", ""), reboot);
	beats(reboot, verc("2026-11-23 10:15:00", NULL, "900", "650", "650", ""));
	/* the real Stop after that interim closes it again, for good */
	beats(verc("2026-11-23 10:25:00", "2026-11-23 10:26:00", "1560", "710", "710", "User-Request"),
	      verc("2026-11-23 10:25:00", NULL, "1500", "700", "700", ""));
}
END_TEST

START_TEST(synthetic_causes)
{
	const char *t = "2026-11-23 10:00:00";
	struct ra_version v = verc(t, t, "1", "1", "1", STALE);
	ck_assert(v.closed && !v.real);
	v = verc(t, t, "1", "1", "1", "NAS-Reboot");
	ck_assert(v.closed && !v.real);
	v = verc(t, NULL, "1", "1", "1", STALE);	/* open: not a close at all */
	ck_assert(!v.closed && !v.real);
	/* byte for byte: another case or a trailing space is a real Stop's cause */
	v = verc(t, t, "1", "1", "1", "stale-session");
	ck_assert(v.real);
	v = verc(t, t, "1", "1", "1", "NAS-Reboot ");
	ck_assert(v.real);
	/* the stale cause is the configured one */
	struct ra_row r;
	memset(&r, 0, sizeof(r));
	set(&r, RA_ACCTSTOPTIME, t);
	set(&r, RA_ACCTTERMINATECAUSE, "Closed-By-Sweep");
	ra_version_of(&r, "Closed-By-Sweep", &v);
	ck_assert(!v.real);
	ra_version_of(&r, STALE, &v);
	ck_assert(v.real);
}
END_TEST

START_TEST(lattice)
{
	/* Every combination of update time, stop time, session time and cause
	 * (none, a Stop's, the stale cause, NAS-Reboot): the rule is a total
	 * order (antisymmetric, transitive), and it ranks the classes as
	 * documented: a real close above everything; a synthetic close against
	 * an open copy by time, the close winning a tie. */
	const char *upd[] = { NULL, "2026-11-23 10:00:00", "2026-11-23 10:10:00" };
	const char *stop[] = { NULL, "2026-11-23 10:05:00", "2026-11-23 10:15:00" };
	const char *st[] = { NULL, "300", "900" };
	const char *cause[] = { "", "User-Request", STALE, "NAS-Reboot" };
	static struct ra_version v[3 * 3 * 3 * 4];
	int n = 0;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 3; k++)
				for (int c = 0; c < 4; c++)
					v[n++] = verc(upd[i], stop[j], st[k], "1", "1", cause[c]);
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			int ab = ra_compare(&v[a], &v[b]), ba = ra_compare(&v[b], &v[a]);
			ck_assert_int_eq(ab > 0, ba < 0);
			ck_assert_int_eq(ab == 0, ba == 0);
			if (v[a].real && !v[b].real)
				ck_assert_int_gt(ab, 0);
			if (v[a].closed && !v[a].real && !v[b].closed) {
				int t = strcmp(v[a].ts, v[b].ts);
				ck_assert_int_eq(ab > 0, t >= 0);
			}
			for (int c = 0; c < n; c++)
				if (ab > 0 && ra_compare(&v[b], &v[c]) > 0)
					ck_assert_int_gt(ra_compare(&v[a], &v[c]), 0);
		}
}
END_TEST

START_TEST(seen_once_per_version)
{
	struct ra_seen *s = ra_seen_new(1024);
	ck_assert_ptr_nonnull(s);
	struct ra_version v1 = verc("2026-11-23 10:10:00", "2026-11-23 10:30:00", "1800", "5", "5", "User-Request");
	struct ra_version v2 = verc("2026-11-23 10:10:00", "2026-11-23 10:31:00", "1860", "6", "6", "User-Request");
	ck_assert(ra_seen_mark(s, "u1", 2, &v1));
	ck_assert(!ra_seen_mark(s, "u1", 2, &v1));	/* the same session and version: once */
	ck_assert(ra_seen_mark(s, "u2", 2, &v1));	/* another session */
	ck_assert(ra_seen_mark(s, "u1", 2, &v2));	/* a newer version of u1 */
	ck_assert(!ra_seen_mark(s, "u1", 2, &v2));
	/* the same times and counters, synthetic instead of real: another version */
	struct ra_version syn = verc("2026-11-23 10:10:00", "2026-11-23 10:31:00", "1860", "6", "6", STALE);
	ck_assert(ra_seen_mark(s, "u1", 2, &syn));
	/* an acctuniqueid too long to keep is never taken as seen */
	char lng[RA_SEEN_UID + 1];
	memset(lng, 'x', sizeof(lng));
	ck_assert(ra_seen_mark(s, lng, sizeof(lng), &v1));
	ck_assert(ra_seen_mark(s, lng, sizeof(lng), &v1));
	ra_seen_free(s);
	/* one slot: a session that lost its slot repeats, it is never hidden */
	s = ra_seen_new(1);
	ck_assert(ra_seen_mark(s, "a", 1, &v1));
	ck_assert(ra_seen_mark(s, "b", 1, &v1));
	ck_assert(ra_seen_mark(s, "a", 1, &v1));
	ra_seen_free(s);
	ck_assert_ptr_null(ra_seen_new(0));
}
END_TEST

START_TEST(sql_shapes)
{
	ck_assert_ptr_null(ra_check_identifier("radacct"));
	ck_assert_ptr_null(ra_check_identifier("radacct_2026"));
	ck_assert_ptr_nonnull(ra_check_identifier("rad`acct"));
	ck_assert_ptr_nonnull(ra_check_identifier("radacct; DROP TABLE x"));
	ck_assert_ptr_nonnull(ra_check_identifier(""));
	struct buf b = BUF_INIT;
	ra_sql_upsert(&b, "radacct", 2);
	ck_assert_ptr_nonnull(strstr(b.data, "INSERT INTO `radacct` (`acctsessionid`,"));
	ck_assert_ptr_null(strstr(b.data, "radacctid"));	/* never copied */
	ck_assert_ptr_nonnull(strstr(b.data, "ON DUPLICATE KEY UPDATE `acctsessionid`=IF((@agg_w:="));
	ck_assert_ptr_null(strstr(b.data, "`acctuniqueid`=IF"));
	size_t q = 0;
	for (const char *p = b.data; *p; p++)
		q += *p == '?';
	ck_assert_uint_eq(q, 2 * RA_NCOLS + 2);	/* and the stale cause, new and old */
	/* bind order: every row's values first, then the two stale causes, in
	 * the UPDATE half */
	const char *upd = strstr(b.data, " ON DUPLICATE KEY UPDATE ");
	ck_assert_ptr_nonnull(upd);
	q = 0;
	for (const char *p = b.data; p < upd; p++)
		q += *p == '?';
	ck_assert_uint_eq(q, 2 * RA_NCOLS);
	ck_assert_ptr_nonnull(strstr(upd, "IN (CAST(? AS BINARY),CAST('NAS-Reboot' AS BINARY))"));
	/* times travel as UNIX time, master writes them in its own zone */
	ck_assert_ptr_nonnull(strstr(b.data, ",FROM_UNIXTIME(?),FROM_UNIXTIME(?),FROM_UNIXTIME(?),?,"));
	ck_assert_ptr_null(strstr(upd, "FROM_UNIXTIME"));	/* VALUES() is master's DATETIME */
	buf_reset(&b);
	ra_sql_page(&b, "radacct");
	ck_assert_ptr_nonnull(strstr(b.data, ",UNIX_TIMESTAMP(`acctstarttime`),UNIX_TIMESTAMP(`acctupdatetime`),UNIX_TIMESTAMP(`acctstoptime`) FROM `radacct`"));
	buf_reset(&b);
	ra_sql_versions(&b, "radacct", 2);
	ck_assert_ptr_nonnull(strstr(b.data, "`acctoutputoctets`,`acctterminatecause`,UNIX_TIMESTAMP(`acctupdatetime`),"
					     "UNIX_TIMESTAMP(`acctstoptime`) FROM `radacct` WHERE `acctuniqueid` IN (?,?)"));
	buf_reset(&b);
	ra_sql_rows(&b, "radacct", 2);
	ck_assert_ptr_nonnull(strstr(b.data, "SELECT `acctsessionid`,"));
	ck_assert_ptr_nonnull(strstr(b.data, "`class`,UNIX_TIMESTAMP(`acctstarttime`),UNIX_TIMESTAMP(`acctupdatetime`),"
					     "UNIX_TIMESTAMP(`acctstoptime`) FROM `radacct` WHERE `acctuniqueid` IN (?,?)"));
	buf_reset(&b);
	ra_sql_delete_exact(&b, "radacct", 3);
	q = 0;
	for (const char *p = b.data; *p; p++)
		q += *p == '?';
	ck_assert_uint_eq(q, 3 * (RA_NCOLS + 1));
	ck_assert_ptr_nonnull(strstr(b.data, "`acctstoptime`<=>?"));
	buf_release(&b);
}
END_TEST

/* ---- the unique-index check ---- */

#define IX(i, c, u) { .index = i, .column = c, .unique = u }
static int check_ix(const struct ra_index_col *c, size_t n, struct buf *why)
{
	buf_reset(why);
	return ra_check_indexes(c, n, "radius", "radacct", "master", why);
}

START_TEST(index_check)
{
	struct buf why = BUF_INIT;
	/* FreeRADIUS 3's schema */
	const struct ra_index_col stock[] = {
		IX("PRIMARY", "radacctid", true), IX("acctsessionid", "acctsessionid", false),
		IX("acctuniqueid", "acctuniqueid", true), IX("username", "username", false),
	};
	ck_assert_int_eq(check_ix(stock, 4, &why), 0);
	ck_assert_str_eq(why.data, "");
	/* the key under another name, harmless unique indexes around it */
	const struct ra_index_col other[] = {
		IX("PRIMARY", "radacctid", true), IX("sid_id", "acctsessionid", true), IX("sid_id", "radacctid", true),
		IX("u", "ACCTUNIQUEID", true), IX("u_nas", "acctuniqueid", true), IX("u_nas", "nasipaddress", true),
	};
	ck_assert_int_eq(check_ix(other, 6, &why), 0);
	/* an older schema: a plain index on acctuniqueid */
	const struct ra_index_col plain[] = {
		IX("PRIMARY", "radacctid", true), IX("acctuniqueid", "acctuniqueid", false),
	};
	ck_assert_int_eq(check_ix(plain, 2, &why), 1);
	ck_assert_str_eq(why.data, "table 'radacct' on master has no UNIQUE index on (acctuniqueid): every copy of "
			 "a session would be inserted again each cycle; fix: ALTER TABLE `radius`.`radacct` "
			 "DROP INDEX `acctuniqueid`, ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)");
	/* no index at all on it */
	ck_assert_int_eq(check_ix(plain, 1, &why), 1);
	ck_assert_ptr_nonnull(strstr(why.data, "fix: ALTER TABLE `radius`.`radacct` ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)"));
	ck_assert_int_eq(check_ix(NULL, 0, &why), 1);
	/* keyed on acctsessionid (the old scripts' key) */
	const struct ra_index_col sid[] = {
		IX("PRIMARY", "radacctid", true), IX("acctuniqueid", "acctuniqueid", true),
		IX("s`x", "acctsessionid", true),
	};
	ck_assert_int_eq(check_ix(sid, 3, &why), 1);
	ck_assert_str_eq(why.data, "table 'radacct' on master has UNIQUE index `s``x` on (acctsessionid), which would "
			 "merge distinct sessions with equal values into one row; fix: ALTER TABLE `radius`.`radacct` "
			 "DROP INDEX `s``x`, ADD INDEX `s``x` (`acctsessionid`)");
	/* a primary key on acctsessionid and nasipaddress, and no acctuniqueid key: two problems */
	const struct ra_index_col pk[] = {
		IX("PRIMARY", "acctsessionid", true), IX("PRIMARY", "nasipaddress", true),
		IX("radacctid", "radacctid", true),
	};
	ck_assert_int_eq(check_ix(pk, 3, &why), 2);
	ck_assert_ptr_nonnull(strstr(why.data, "has its PRIMARY KEY on (acctsessionid, nasipaddress), which would merge"));
	ck_assert_ptr_nonnull(strstr(why.data, "DROP PRIMARY KEY, ADD PRIMARY KEY (`radacctid`), ADD INDEX (`acctsessionid`,`nasipaddress`); table"));
	ck_assert_ptr_nonnull(strstr(why.data, "no UNIQUE index on (acctuniqueid)"));
	/* a unique prefix of acctuniqueid merges sessions and is not the key */
	struct ra_index_col pre[] = { IX("acctuniqueid", "acctuniqueid", true) };
	pre[0].partial = true;
	ck_assert_int_eq(check_ix(pre, 1, &why), 2);
	ck_assert_ptr_nonnull(strstr(why.data, "UNIQUE index `acctuniqueid` on (acctuniqueid prefix), which would merge"));
	ck_assert_ptr_nonnull(strstr(why.data, "DROP INDEX `acctuniqueid`, ADD UNIQUE INDEX `acctuniqueid` (`acctuniqueid`)"));
	buf_release(&why);
}
END_TEST


#define M "master = { host = \"h\"; user = \"u\"; };"
#define MEM(n) "{ name = \"" n "\"; host = \"h\"; user = \"u\"; }"

START_TEST(sweep_config)
{
	unit_expect_cfg_error("sweep = {\n table = \"rad`acct\";\n " M " members = ( " MEM("a") " );\n};\n", 2, "'sweep.table'");
	unit_expect_cfg_error("\nsweep = { members = ( " MEM("a") " ); };\n", 2, "'sweep.master' is required");
	unit_expect_cfg_error("sweep = {\n " M "\n};\n", 1, "needs at least one member");
	unit_expect_cfg_error("sweep = { " M " members = (\n " MEM("a") ",\n " MEM("a") "\n); };\n", 3, "is used by member 0");
	unit_expect_cfg_error("sweep = { " M " members = (\n { name = \"a\"; user = \"u\"; }\n); };\n", 2, "'sweep.members[0].host' is required");
	unit_expect_cfg_error("sweep = {\n master = { host = \"h\"; user = \"u\"; database = \"x;y\"; };\n members = ( " MEM("a") " ); };\n", 2, "'sweep.master.database'");
	unit_expect_cfg_error("sweep = { " M " members = ( " MEM("a") " );\n batch = 0; };\n", 2, "'sweep.batch' is 0");
	/* an empty stale cause would make every Stop without a cause a synthetic close */
	unit_expect_cfg_error("sweep = { " M " members = ( " MEM("a") " );\n stale_cause = \"\"; };\n", 2, "'sweep.stale_cause'");
	/* acctterminatecause is a varchar(32): a longer cause could not be written */
	unit_expect_cfg_error("sweep = { " M " members = ( " MEM("a") " );\n stale_cause = \"123456789012345678901234567890123\"; };\n",
			      2, "'sweep.stale_cause' is longer than the column (32)");
	/* at most 64 members: 65 (one a line) are refused at the section's line */
	char text[8192];
	size_t o = (size_t)snprintf(text, sizeof(text), "sweep = { " M " members = (");
	for (int i = 0; i < 65; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\n{ name = \"m%d\"; host = \"h\"; user = \"u\"; }",
				      i ? "," : "", i);
	ck_assert_uint_lt(o, sizeof(text) - 16);
	snprintf(text + o, sizeof(text) - o, "\n); };\n");
	unit_expect_cfg_error(text, 1, "'sweep.members' has 65 members; at most 64");
}
END_TEST

Suite *radacct_suite(void)
{
	Suite *s = suite_create("radacct");
	TCase *tc = tcase_create("precedence");
	tcase_add_test(tc, closed_beats_open);
	tcase_add_test(tc, stop_then_late_interim);
	tcase_add_test(tc, same_state_order);
	tcase_add_test(tc, every_pair_is_ordered);
	tcase_add_test(tc, version_utc);
	tcase_add_test(tc, synthetic_close_across_zones);
	tcase_add_test(tc, json_times);
	tcase_add_test(tc, real_stop_beats_synthetic_close);
	tcase_add_test(tc, interim_after_synthetic_close);
	tcase_add_test(tc, synthetic_causes);
	tcase_add_test(tc, lattice);
	tcase_add_test(tc, seen_once_per_version);
	tcase_add_test(tc, sql_shapes);
	tcase_add_test(tc, index_check);
	tcase_add_test(tc, sweep_config);
	suite_add_tcase(s, tc);
	return s;
}
