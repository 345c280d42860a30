/*
 * main.c — runs every unit suite.  check forks each test, so a crash fails
 * one test, not the run.  Exit status 0 only when all passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "job.h"
#include "suites.h"

char *unit_tmpfile(const char *text)
{
	char tmpl[] = "/tmp/aggd-unit.XXXXXX";
	int fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	size_t n = strlen(text);
	ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
	close(fd);
	return strdup(tmpl);
}

void unit_expect_cfg_error(const char *text, int line, const char *needle)
{
	char *path = unit_tmpfile(text);
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, job_table);
	ck_assert_msg(cfg == NULL, "config should be refused: %s", text);
	char want[512];
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	const char *hit = strstr(ctx.errors.data, want);
	ck_assert_msg(hit != NULL, "no error at line %d in:\n%s", line, ctx.errors.data);
	ck_assert_msg(strstr(hit, needle) != NULL, "error at line %d lacks '%s':\n%s", line,
		      needle, ctx.errors.data);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	SRunner *sr = srunner_create(config_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, fsutil_suite());
	srunner_add_suite(sr, prom_suite());
	srunner_add_suite(sr, smap_suite());
	srunner_add_suite(sr, worker_suite());
	srunner_add_suite(sr, redisc_suite());
	srunner_add_suite(sr, role_suite());
	srunner_add_suite(sr, http_suite());
	srunner_add_suite(sr, status_suite());
	srunner_add_suite(sr, rules_suite());
	srunner_add_suite(sr, tally_suite());
	srunner_add_suite(sr, gateq_suite());
	srunner_add_suite(sr, unelect_suite());
	srunner_add_suite(sr, publish_gate_suite());
	srunner_add_suite(sr, radacct_suite());
	srunner_add_suite(sr, rollup_suite());
	srunner_add_suite(sr, totals_suite());
	srunner_add_suite(sr, totals_run_suite());
	srunner_add_suite(sr, held_suite());
	srunner_add_suite(sr, elect_suite());
	srunner_add_suite(sr, influx_suite());
	srunner_add_suite(sr, usage_suite());
	srunner_add_suite(sr, totalizer_oom_suite());
	srunner_add_suite(sr, usage_oom_suite());
	srunner_add_suite(sr, sweep_oom_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
