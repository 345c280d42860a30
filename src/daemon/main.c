/*
 * main.c — aggregatord's start-up and shut-down order.
 *
 * Start-up: arguments, config (refused whole on any error), then -n or
 * --once, else libevent with pthreads, signals as loop events, the HTTP
 * API, the jobs, READY=1.  Shut-down mirrors it: the loop breaks on
 * SIGTERM/SIGINT, every job is asked to stop (reverse order: intake
 * first), then each is joined against one deadline, Kafka is flushed and
 * the rest spooled, the election stops last; the HTTP server closes,
 * everything is freed in reverse order of creation.  A thread still stuck
 * in a call at its deadline is left behind and the process exits without
 * freeing what it uses.
 * The daemon never forks and writes no pidfile: systemd supervises it.
 * Exit status: 0, 1 on a failure at run time, EX_USAGE (64) for a bad
 * command line, EX_CONFIG (78) for a config that does not check (the unit's
 * RestartPreventExitStatus=78 keeps a broken file from a restart loop).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fsutil.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "publish.h"
#include "thread.h"

/*
 * The stop budget (docs/operations.md, "When a dependency hangs"), from
 * SIGTERM: the jobs' threads finish by JOB_STOP_MS (daemon.h, 4 s; the
 * totalizer's final flush by 1 s before that), then Kafka gets
 * PUBLISH_STOP_MS (+ 0.5 s to spool what is left), then the election
 * gives up the role by LATE_STOP_MS: under 10 s with any one dependency
 * frozen, inside systemd's TimeoutStopSec.
 */
#define PUBLISH_STOP_MS 2500	/* how long a stop waits for Kafka */
#define LATE_STOP_MS 8000	/* ms after SIGTERM by which the election is joined */

#ifndef AGG_VERSION
#define AGG_VERSION "dev"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aggregatord [-c FILE] [-n] [-d] [--once JOB [--hour YYYY-MM-DDTHH]]\n"
		"  -c FILE     config file (default %s)\n"
		"  -n          check the config, print \"configuration OK\" and exit\n"
		"  -d          debug log level\n"
		"  --once JOB  run one cycle of JOB and exit\n"
		"  --hour H    with --once rollup: the hour to rebuild\n",
		CONFIG_DEFAULT_FILE);
	for (size_t i = 0; job_table[i]; i++)
		if (job_table[i]->tool_name)
			fprintf(f, "  --%s  %s\n", job_table[i]->tool_name, job_table[i]->tool_help);
	fprintf(f, "  -V          print the version\n");
}

/* --NAME: a job's command-line tool on its config section. */
static int run_tool(struct config *cfg, const char *file, int slot)
{
	const struct job_ops *ops = job_table[slot];
	if (!cfg->jobs[slot]) {
		fprintf(stderr, "aggregatord: --%s: '%s' has no %s section\n", ops->tool_name, file,
			ops->name);
		return EX_CONFIG;
	}
	return ops->tool(cfg->jobs[slot], stdin, stdout);
}

int main(int argc, char **argv)
{
	/* The fixed options, then one --NAME per job tool (val TOOL_OPT + slot). */
	enum { TOOL_OPT = 1000 };
	struct option longopts[5 + JOB_MAX + 1] = {
		{ "once", required_argument, NULL, 'O' },
		{ "hour", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	size_t nopt = 4;
	for (size_t i = 0; job_table[i] && i < JOB_MAX; i++)
		if (job_table[i]->tool_name)
			longopts[nopt++] = (struct option){ job_table[i]->tool_name, no_argument, NULL,
							    TOOL_OPT + (int)i };
	const char *file = CONFIG_DEFAULT_FILE, *once = NULL;
	struct once_args oargs = { 0 };
	bool check_only = false, debug = false;
	int c, tool = -1;

	while ((c = getopt_long(argc, argv, "c:ndhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'n': check_only = true; break;
		case 'd': debug = true; break;
		case 'O': once = optarg; break;
		case 'H': oargs.hour = optarg; break;
		case 'V': printf("aggregatord %s\n", AGG_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default:
			if (c >= TOOL_OPT && c < TOOL_OPT + JOB_MAX) {
				tool = c - TOOL_OPT;
				break;
			}
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (oargs.hour && !once) {
		fprintf(stderr, "aggregatord: --hour goes with --once rollup\n");
		return EX_USAGE;
	}
	log_set_thread_tag("main");

	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, file);
	struct config *cfg = config_load(file, &ctx, job_table);
	if (!cfg) {
		fputs(ctx.errors.data, stderr);
		cfg_ctx_release(&ctx);
		return EX_CONFIG;
	}
	if (check_only) {
		fputs(ctx.warnings.data, stderr);
		cfg_ctx_release(&ctx);
		config_free(cfg);
		puts("configuration OK");
		return 0;
	}
	if (ctx.warnings.len)
		log_warn("%s", ctx.warnings.data);
	cfg_ctx_release(&ctx);
	log_set_level(debug ? LOG_LVL_DEBUG : (enum log_level)cfg->log.level);

	if (tool >= 0) {
		int rc = run_tool(cfg, file, tool);
		config_free(cfg);
		return rc;
	}
	if (once) {
		int rc = jobs_run_once(cfg, once, &oargs, NULL);
		config_free(cfg);
		return rc;
	}

	struct daemon d = { .cfg = cfg, .config_file = file, .debug = debug };
	d.started = time(NULL);
	d.started_mono = mono_usec();
	int rc = 1;

	if (evthread_use_pthreads() < 0) {
		log_error("libevent has no pthreads support");
		goto out_cfg;
	}
	d.base = event_base_new();
	if (!d.base) {
		log_error("cannot create the event loop");
		goto out_cfg;
	}
	daemon_env_update(&d);
	if (notify_init() < 0 || jobs_make_state_dir(cfg->node.state_dir) < 0 || loop_setup(&d) < 0)
		goto out_loop;
	d.http = http_new(d.base, &cfg->http);
	if (!d.http || status_routes(&d) < 0)
		goto out_http;
	role_set_current(true, 0);	/* until an election says otherwise */
	if (publish_start(d.base, cfg, daemon_standby_window_ms(cfg)) < 0)
		goto out_publish;
	if (jobs_start(&d) < 0) {
		publish_stop(PUBLISH_STOP_MS);
		goto out_http;
	}

	log_info("aggregatord %s started: node '%s', config '%s', log level %s",
		 AGG_VERSION, cfg->node.name, file, log_level_name(log_get_level()));
	notify_send("READY=1");
	daemon_notify_status(&d);

	event_base_dispatch(d.base);

	/* Reverse order of start-up, in two phases: every job is asked to stop
	 * (intake first), so the totalizer's final flush runs while another job
	 * may still be stuck in I/O; then each is waited for against one
	 * deadline; then Kafka is flushed and what is left spooled; the election
	 * gives up the role last.  A thread still busy is left behind. */
	rc = d.stop_signal ? 0 : 1;
out_publish:;
	uint64_t t0 = mono_usec();
	int left = 0;
	jobs_stop_request(&d, false, t0 + (uint64_t)JOB_STOP_MS * 1000u);
	left += jobs_join(&d, false, t0 + (uint64_t)JOB_STOP_MS * 1000u);
	left += publish_stop(PUBLISH_STOP_MS) < 0;
	jobs_stop_request(&d, true, t0 + (uint64_t)LATE_STOP_MS * 1000u);
	left += jobs_join(&d, true, t0 + (uint64_t)LATE_STOP_MS * 1000u);
	if (left) {
		/* Flushes and the spool are done; the threads left behind are
		 * inside calls to a server that does not answer, and use memory
		 * that must not be freed under them: exit now, without freeing. */
		log_warn("stopped in %llu ms; %d part(s) left behind inside a call (named above): "
			 "exiting without waiting for them",
			 (unsigned long long)((mono_usec() - t0) / 1000u), left);
		notify_close();
		_exit(rc);
	}
	if (rc == 0)
		log_info("stopped in %llu ms", (unsigned long long)((mono_usec() - t0) / 1000u));
out_http:
	http_free(d.http);
	d.http = NULL;
	jobs_destroy(&d);
out_loop:
	loop_teardown(&d);
	event_base_free(d.base);
	notify_close();
out_cfg:
	config_free(d.cfg);
	libevent_global_shutdown();
	return rc;
}
