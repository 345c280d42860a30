/*
 * sweep_oom.c — test driver for the sweep's out-of-memory paths against
 * real servers: one cycle of `aggregatord --once sweep` (jobs_run_once(),
 * the daemon's own path) with the Nth allocation of the cycle failing once.
 *
 *   sweep_oom CONF N
 *
 * The config is loaded as the daemon loads it, the publish path started and
 * the job created with the injector off; it is armed just before the cycle
 * (N = 1: the cycle's first allocation fails) and disarmed just after it.
 * The count is atomic and covers the member threads too: the Nth is
 * whichever allocation comes Nth.  Linked with tests/unit/failalloc.c and
 * the unit binary's --wrap flags (Makefile), so only the statically linked
 * code fails (libagg.a; not libmariadb, libconfig, libc's internals).
 * Exit status: 0 when an allocation was failed (whatever the cycle did),
 * 3 when the cycle made fewer than N allocations (it ran whole: a loop
 * over N is done), 1 on a setup error, 2 on a usage error.  Built by `make
 * harness`; never installed.  Driven by tests/integration/
 * test_fault_sweep_oom.sh.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "failalloc.h"
#include "job.h"
#include "log.h"

static bool failed;

static void around(bool before)
{
	if (before)
		oom_arm();
	else
		failed = oom_disarm();
}

int main(int argc, char **argv)
{
	char *end;
	long n = argc == 3 ? strtol(argv[2], &end, 10) : 0;
	if (argc != 3 || !*argv[2] || *end || n < 1) {
		fprintf(stderr, "usage: sweep_oom CONF N (N >= 1)\n");
		return 2;
	}
	log_set_thread_tag("main");
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, argv[1]);
	struct config *cfg = config_load(argv[1], &ctx, job_table);
	if (!cfg)
		fputs(ctx.errors.data, stderr);
	cfg_ctx_release(&ctx);
	if (!cfg)
		return 1;
	log_set_level((enum log_level)cfg->log.level);
	oom_set_n(n - 1);	/* counted from 0 */
	int rc = jobs_run_once(cfg, "sweep", NULL, around);
	config_free(cfg);
	if (failed)
		return 0;
	if (rc != 0) {
		fprintf(stderr, "sweep_oom: the cycle failed with no allocation failed\n");
		return 1;
	}
	return 3;
}
