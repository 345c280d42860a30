/* test_role.c — the realtime signal table and the override state machine. */
#include <signal.h>

#include "role.h"
#include "suites.h"

START_TEST(signal_table)
{
	ck_assert_int_eq(role_signal_count(), 4);
	ck_assert_int_eq(role_cmd_from_signal(SIGRTMIN + 0), ROLE_CMD_YIELD);
	ck_assert_int_eq(role_cmd_from_signal(SIGRTMIN + 1), ROLE_CMD_ACTIVE);
	ck_assert_int_eq(role_cmd_from_signal(SIGRTMIN + 2), ROLE_CMD_STANDBY);
	ck_assert_int_eq(role_cmd_from_signal(SIGRTMIN + 3), ROLE_CMD_AUTO);
	ck_assert_int_eq(role_cmd_from_signal(SIGRTMIN + 4), -1);
	ck_assert_int_eq(role_cmd_from_signal(SIGHUP), -1);
	ck_assert_int_eq(role_cmd_from_signal(SIGTERM), -1);
	/* On Linux/glibc these are 34..37, as the operations guide says. */
	ck_assert_int_eq(SIGRTMIN, 34);
}
END_TEST

START_TEST(names)
{
	ck_assert_int_eq(role_cmd_from_name("active"), ROLE_CMD_ACTIVE);
	ck_assert_int_eq(role_cmd_from_name("standby"), ROLE_CMD_STANDBY);
	ck_assert_int_eq(role_cmd_from_name("auto"), ROLE_CMD_AUTO);
	ck_assert_int_eq(role_cmd_from_name("yield"), ROLE_CMD_YIELD);
	ck_assert_int_eq(role_cmd_from_name("ACTIVE"), -1);
	ck_assert_int_eq(role_cmd_from_name(""), -1);
	ck_assert_str_eq(role_cmd_name(ROLE_CMD_STANDBY), "standby");
}
END_TEST

START_TEST(transitions)
{
	struct role_state st = { 0 };
	ck_assert_int_eq(role_apply(&st, ROLE_CMD_ACTIVE, 100, "signal"), ROLE_MODE_FORCE_ACTIVE);
	ck_assert_int_eq(role_apply(&st, ROLE_CMD_YIELD, 101, "signal"), ROLE_MODE_FORCE_ACTIVE);
	ck_assert_uint_eq(st.yields, 1);
	ck_assert_int_eq(role_apply(&st, ROLE_CMD_STANDBY, 102, "http"), ROLE_MODE_FORCE_STANDBY);
	ck_assert_int_eq(role_apply(&st, ROLE_CMD_AUTO, 103, "http"), ROLE_MODE_AUTO);
	ck_assert_uint_eq(st.count[ROLE_CMD_ACTIVE], 1);
	ck_assert_uint_eq(st.count[ROLE_CMD_AUTO], 1);
	ck_assert_int_eq((int)st.last_change, 103);
	ck_assert_str_eq(st.last_source, "http");
	ck_assert_int_eq(role_apply(&st, ROLE_CMD_COUNT, 104, "x"), ROLE_MODE_AUTO);
	ck_assert_int_eq((int)st.last_change, 103);
}
END_TEST

Suite *role_suite(void)
{
	Suite *s = suite_create("role");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, signal_table);
	tcase_add_test(tc, names);
	tcase_add_test(tc, transitions);
	suite_add_tcase(s, tc);
	return s;
}
