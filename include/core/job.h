/*
 * job.h — how a job (sweep, totalizer, rollup, election) plugs into the
 * daemon.
 *
 * A job is one opaque struct with a fixed life cycle, driven from the main
 * loop: new -> start -> reconfigure* -> stop -> free.  Its config section is
 * described by a key table (config.h) and parsed by the same engine as the
 * core sections.  Adding a job is one new file that defines a
 * `const struct job_ops X_job` and one line in job_table[] (jobs.c).
 *
 * Threads: every callback runs on the main thread.  A job that needs worker
 * threads starts them in start() (with thread_spawn(), which keeps signals
 * away from them) and joins them in stop().  `cfg` pointers passed to new()
 * and reconfigure() belong to the config and live until the next
 * reconfigure() or free(); copy what worker threads read.  During
 * reconfigure(), d->cfg already is the new config (for the core sections a
 * job reads, such as redis and node).
 */
#ifndef AGG_JOB_H
#define AGG_JOB_H

#include <libconfig.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

struct daemon;
struct http_req;

/* Arguments of `aggregatord --once JOB`. */
struct once_args {
	const char *hour;	/* --hour YYYY-MM-DDTHH, or NULL */
};

struct job_ops {
	const char *name;		/* job and config section name */
	const struct cfg_key *keys;	/* the section's keys */
	size_t cfg_size;		/* bytes of the section struct */
	/* Cross-key checks after the keys parsed (may be NULL). */
	int (*validate)(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfg);
	/* Is the section switched on (e.g. its `enabled` key)?  NULL: yes. */
	int (*enabled)(const void *cfg);

	/* Create (no threads, no I/O yet).  NULL on failure, after logging. */
	void *(*create)(struct daemon *d, const void *cfg);
	int (*start)(void *job);			/* 0 or -1 */
	int (*reconfigure)(void *job, const void *cfg);	/* 0 or -1 (keeps old) */
	void (*stop)(void *job);			/* stop intake, flush, join */
	void (*destroy)(void *job);			/* free everything */

	/* Append Prometheus text for this job (may be NULL). */
	void (*metrics)(void *job, struct buf *out);
	/* Append one JSON object describing this job (may be NULL). */
	void (*status)(void *job, struct buf *out);
	/* Run one cycle and return 0/-1 (`--once`); NULL: not supported. */
	int (*once)(void *job, const struct once_args *args);

	/* The job's HTTP endpoint (exact path, or a prefix ending in '/'), served
	 * by http() while the job runs and answered 503 while it does not. */
	const char *http_path;
	/* Stopped after the publish path is flushed (jobs_stop_late), not with
	 * the others: the election keeps the node's role until then. */
	bool stop_late;
	int http_methods;			/* EVHTTP_REQ_GET ... */
	void (*http)(void *job, struct http_req *r);
};

/* The job table: NULL-terminated, slot i matches config->jobs[i]. */
extern const struct job_ops *const job_table[];
size_t job_count(void);
int job_index(const char *name);	/* slot, or -1 */

#endif
