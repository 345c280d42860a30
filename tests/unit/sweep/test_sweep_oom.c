/*
 * test_sweep_oom.c — every allocation of the sweep's pure helpers failed in
 * turn (failalloc.h): the seen-sessions table is NULL or whole, and the SQL
 * texts are either complete or their buffer is marked out of memory (the
 * caller then refuses the statement; a partial text is never sent).
 */
#include <string.h>

#include "failalloc.h"
#include "radacct.h"
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

Suite *sweep_oom_suite(void)
{
	Suite *s = suite_create("sweep_oom");
	TCase *tc = tcase_create("oom");
	tcase_add_test(tc, seen_oom);
	tcase_add_loop_test(tc, sql_oom, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}
