/*
 * test_radacct.c — the sweep's precedence rule over every pair of states,
 * the FreeRADIUS case of a Stop on one member and a later Interim-Update on
 * another, synthetic closes (stale closing, Accounting-On) against real data,
 * the identifier check, and the shape of the generated SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
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
	ck_assert_ptr_nonnull(strstr(b.data, "CAST('NAS-Reboot' AS BINARY)"));
	buf_reset(&b);
	ra_sql_versions(&b, "radacct", 2);
	ck_assert_ptr_nonnull(strstr(b.data, "`acctterminatecause` FROM `radacct` WHERE `acctuniqueid` IN (?,?)"));
	buf_reset(&b);
	ra_sql_rows(&b, "radacct", 2);
	ck_assert_ptr_nonnull(strstr(b.data, "SELECT `acctsessionid`,"));
	ck_assert_ptr_nonnull(strstr(b.data, "`class` FROM `radacct` WHERE `acctuniqueid` IN (?,?)"));
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
	tcase_add_test(tc, real_stop_beats_synthetic_close);
	tcase_add_test(tc, interim_after_synthetic_close);
	tcase_add_test(tc, synthetic_causes);
	tcase_add_test(tc, lattice);
	tcase_add_test(tc, seen_once_per_version);
	tcase_add_test(tc, sql_shapes);
	tcase_add_test(tc, sweep_config);
	suite_add_tcase(s, tc);
	return s;
}
