/* suites.h — the check suites of the unit test binary (one per module). */
#ifndef AGG_TEST_SUITES_H
#define AGG_TEST_SUITES_H

#include <check.h>

Suite *config_suite(void);
Suite *json_suite(void);
Suite *fsutil_suite(void);
Suite *prom_suite(void);
Suite *smap_suite(void);
Suite *worker_suite(void);
Suite *redisc_suite(void);
Suite *role_suite(void);
Suite *http_suite(void);
Suite *status_suite(void);
Suite *rules_suite(void);
Suite *tally_suite(void);
Suite *gateq_suite(void);
Suite *unelect_suite(void);
Suite *publish_gate_suite(void);
Suite *radacct_suite(void);
Suite *rollup_suite(void);
Suite *totals_suite(void);
Suite *totals_run_suite(void);
Suite *held_suite(void);
Suite *elect_suite(void);
Suite *influx_suite(void);
Suite *usage_suite(void);
Suite *totalizer_oom_suite(void);
Suite *usage_oom_suite(void);
Suite *sweep_oom_suite(void);

/* Write text to a fresh temp file; returns its path (caller frees). */
char *unit_tmpfile(const char *text);
/* Load text as a config file: it must be refused with "FILE:line: ...needle...". */
void unit_expect_cfg_error(const char *text, int line, const char *needle);

#endif
