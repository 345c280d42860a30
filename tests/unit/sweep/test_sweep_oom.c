/*
 * test_sweep_oom.c — every allocation of the sweep's pure helpers failed in
 * turn (failalloc.h): the seen-sessions table is NULL or whole, and the SQL
 * texts are either complete or their buffer is marked out of memory (the
 * caller then refuses the statement; a partial text is never sent).  The
 * job itself: created whole or not at all, and a reconfigure that runs out
 * of memory keeps the settings in force (job.h's contract: the daemon logs
 * that the job "keeps running on the old ones").
 */
#include <string.h>

#include "failalloc.h"
#include "buf.h"
#include "radacct.h"
#include "sweep.h"
#include "suites.h"

static void seen_body(void *arg)
{
	(void)arg;
	oom_arm();
	struct ra_seen *s = ra_seen_new(64);
	bool failed = oom_disarm();
	if (!s) {
		ck_assert(failed);
		return;
	}
	struct ra_version v = { 0 };
	ck_assert(ra_seen_mark(s, "u1", 2, &v));
	ck_assert(!ra_seen_mark(s, "u1", 2, &v));
	ra_seen_free(s);
}

START_TEST(seen_oom)
{
	oom_loop("ra_seen_new", seen_body, NULL);
}
END_TEST

/* Each statement text built into one buffer, then its ending checked. */
static void sql_body(void *arg)
{
	int which = *(int *)arg;
	struct buf b = BUF_INIT;
	oom_arm();
	switch (which) {
	case 0: ra_sql_page(&b, "radacct"); break;
	case 1: ra_sql_upsert(&b, "radacct", 50); break;
	case 2: ra_sql_delete_exact(&b, "radacct", 50); break;
	case 3: ra_sql_versions(&b, "radacct", 50); break;
	default: ra_sql_rows(&b, "radacct", 50); break;
	}
	bool failed = oom_disarm();
	if (b.oom) {
		ck_assert(failed);
	} else {
		/* whole: the text a successful build gives */
		struct buf want = BUF_INIT;
		switch (which) {
		case 0: ra_sql_page(&want, "radacct"); break;
		case 1: ra_sql_upsert(&want, "radacct", 50); break;
		case 2: ra_sql_delete_exact(&want, "radacct", 50); break;
		case 3: ra_sql_versions(&want, "radacct", 50); break;
		default: ra_sql_rows(&want, "radacct", 50); break;
		}
		ck_assert(!want.oom);
		ck_assert_str_eq(b.data, want.data);
		buf_release(&want);
	}
	buf_release(&b);
}

START_TEST(sql_oom)
{
	int which = _i;
	oom_loop("ra_sql_*", sql_body, &which);
}
END_TEST

/* ---- the job: create and reconfigure (no thread started, no I/O) ---- */

static struct sweep_db members1[] = {
	{ .name = "m1", .host = "10.0.0.1", .port = 3306, .user = "u1", .password = "p1", .database = "radius" },
	{ .name = "m2", .host = "10.0.0.2", .port = 3306, .user = "u2", .password = "p2", .database = "radius" },
};
static struct sweep_db members2[] = {
	{ .name = "m2", .host = "10.0.0.2", .port = 3306, .user = "u2", .password = "p2", .database = "radius" },
	{ .name = "m3", .host = "10.0.0.3", .port = 3307, .user = "u3", .password = "p3", .database = "acct" },
	{ .name = "m4", .host = "10.0.0.4", .port = 3306, .user = "u4", .password = "p4", .database = "radius" },
};
static const struct sweep_cfg cfg1 = {
	.enabled = true, .interval = 60, .stale_after = 3600, .batch = 50, .timeout = 10, .master_writers = 2,
	.table = "radacct", .stale_cause = "Stale-Session",
	.master = { .host = "10.0.0.9", .port = 3306, .user = "mu", .password = "mp", .database = "master" },
	.members = members1, .nmembers = 2,
};
static const struct sweep_cfg cfg2 = {
	.enabled = true, .interval = 30, .stale_after = 600, .batch = 20, .timeout = 5, .master_writers = 1,
	.table = "radacct2", .stale_cause = "Lost-Carrier",
	.master = { .host = "10.0.0.8", .port = 3306, .user = "mu2", .password = "mp2", .database = "master2" },
	.members = members2, .nmembers = 3,
};
static const struct job_env env0;

/* The job's status text: interval and every member by name. */
static void job_status(void *job, struct buf *out)
{
	buf_reset(out);
	sweep_job.status(job, out);
	ck_assert(!out->oom);
}

static void create_body(void *arg)
{
	(void)arg;
	oom_arm();
	void *job = sweep_job.create(&env0, &cfg2);
	bool failed = oom_disarm();
	if (!job) {
		ck_assert(failed);
		return;
	}
	struct buf got = BUF_INIT;
	job_status(job, &got);
	ck_assert_ptr_nonnull(strstr(got.data, "\"interval_s\":30"));
	ck_assert_ptr_nonnull(strstr(got.data, "\"m2\":{"));
	ck_assert_ptr_nonnull(strstr(got.data, "\"m3\":{"));
	ck_assert_ptr_nonnull(strstr(got.data, "\"m4\":{"));
	buf_release(&got);
	sweep_job.destroy(job);
}

START_TEST(create_oom)
{
	oom_loop("sweep create", create_body, NULL);
}
END_TEST

/* Refused for want of memory: the old settings stay, whole (the status
 * reads as before); taken: the status is a fresh job's of the new ones. */
static void reconfigure_body(void *arg)
{
	(void)arg;
	void *job = sweep_job.create(&env0, &cfg1);
	void *fresh = sweep_job.create(&env0, &cfg2);
	ck_assert(job && fresh);
	struct buf before = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	job_status(job, &before);
	job_status(fresh, &want);
	oom_arm();
	int rc = sweep_job.reconfigure(job, &cfg2);
	bool failed = oom_disarm();
	job_status(job, &got);
	if (rc < 0) {
		ck_assert(failed);
		ck_assert_str_eq(got.data, before.data);
	} else {
		ck_assert_str_eq(got.data, want.data);
	}
	buf_release(&before);
	buf_release(&want);
	buf_release(&got);
	sweep_job.destroy(fresh);
	sweep_job.destroy(job);
}

START_TEST(reconfigure_oom)
{
	oom_loop("sweep reconfigure", reconfigure_body, NULL);
}
END_TEST

Suite *sweep_oom_suite(void)
{
	Suite *s = suite_create("sweep_oom");
	TCase *tc = tcase_create("oom");
	tcase_add_test(tc, seen_oom);
	tcase_add_loop_test(tc, sql_oom, 0, 5);
	tcase_add_test(tc, create_oom);
	tcase_add_test(tc, reconfigure_oom);
	suite_add_tcase(s, tc);
	return s;
}
