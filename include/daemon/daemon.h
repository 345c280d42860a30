/*
 * daemon.h — the state of one running aggregatord, shared by the modules
 * that run on the main thread (loop, HTTP handlers, job callbacks).
 *
 * Only the main thread reads or writes these fields.  Worker threads get
 * what they need copied in, and talk back through their own module's
 * mailbox, never through this struct.
 */
#ifndef AGG_DAEMON_H
#define AGG_DAEMON_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "job.h"
#include "role.h"

#define DAEMON_MAX_SIGNALS 16

struct http;

struct daemon {
	struct event_base *base;
	struct config *cfg;		/* current config, replaced by a good reload */
	const char *config_file;	/* -c argument */
	bool debug;			/* -d: debug level regardless of log.level */
	struct http *http;
	void *jobs[JOB_MAX];		/* running job instances, by job_table slot */
	bool stopped[JOB_MAX];		/* its stop() ran (shut-down) */
	bool left[JOB_MAX];		/* a thread of it was left behind: never destroyed */
	struct job_env env;		/* what every job is given (job.h); node and redis
					 * follow cfg */

	time_t started;			/* wall clock at start, s */
	uint64_t started_mono;		/* mono_usec() at start */
	unsigned long reloads_ok;	/* SIGHUP reloads applied */
	unsigned long reloads_failed;	/* SIGHUP reloads refused */
	time_t last_reload;		/* wall clock of the last attempt; 0 = none */
	bool last_reload_ok;
	struct role_state role;		/* operator overrides */

	struct event *signals[DAEMON_MAX_SIGNALS];
	size_t nsignals;
	struct event *watchdog;		/* timer at half of WATCHDOG_USEC, or NULL */
	uint64_t watchdog_usec;
	unsigned long watchdog_skipped;	/* pings withheld for a stale worker */
	uint64_t liveness_margin_us;	/* past a call's deadline before it counts as stuck */
	int stop_signal;		/* the signal that ended the loop, 0 = none */
};

/* loop.c: signal events, reload, watchdog.  0 or -1. */
int loop_setup(struct daemon *d);
void loop_teardown(struct daemon *d);
/* Re-read the config file and apply it, or keep the old one (logs either way). */
int daemon_reload(struct daemon *d);
/* An operator override from a signal or the HTTP API. */
void daemon_role_command(struct daemon *d, enum role_cmd cmd, const char *source);
/* The standby window of the publish gate for cfg (the role owner's section, or the default). */
int daemon_standby_window_ms(const struct config *cfg);
/* Point d->env at d's loop and d->cfg's core sections (after each config swap). */
void daemon_env_update(struct daemon *d);
/* Does a job that owns the role (the election) run? */
bool daemon_role_owned(const struct daemon *d);
/* Send the one-line STATUS= to systemd. */
void daemon_notify_status(struct daemon *d);

/* status.c: the HTTP endpoints and what they render. */
int status_routes(struct daemon *d);
void status_metrics(struct daemon *d, struct buf *out);
void status_json(struct daemon *d, struct buf *out);

/* jobs.c: drive every configured job through its life cycle.  Shut-down
 * (main.c): jobs_stop_request and jobs_join for all but the stop_late jobs,
 * publish_stop, then both for the stop_late ones (the election), then
 * jobs_destroy (which skips the jobs with a thread left behind). */
#define JOB_STOP_MS 4000	/* ms a job's threads get to finish at a stop */
int jobs_start(struct daemon *d);
void jobs_reconfigure(struct daemon *d, struct config *next);
/* Phase 1 for the jobs whose stop_late is late: ask them to stop. */
void jobs_stop_request(struct daemon *d, bool late, uint64_t deadline_us);
/* Phase 2: wait for them until deadline_us; the number with a thread left behind. */
int jobs_join(struct daemon *d, bool late, uint64_t deadline_us);
void jobs_stop(struct daemon *d);		/* both phases, every job (start-up failure) */
void jobs_destroy(struct daemon *d);
/* state_dir, mkdir -p with mode 0700 for what is created; 0, or -1 after logging. */
int jobs_make_state_dir(const char *path);
/* --once JOB: one cycle of the job with the publish path around it, no loop;
 * around (may be NULL) is called with true just before the cycle and false
 * just after it (a test driver's hook).  0, 1 on a failure, EX_USAGE or
 * EX_CONFIG for a job that does not run in cycles or is not configured. */
int jobs_run_once(struct config *cfg, const char *job, const struct once_args *args,
		  void (*around)(bool before));

#endif
