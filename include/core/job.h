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
 * A job sees the daemon only through its job_env: the event loop, the
 * core settings it needs (node, Redis) and a callback to say that its part
 * of the daemon's status changed.  It never sees struct daemon (daemon.h is
 * private to src/daemon/).  What the daemon needs to know about a job is
 * in its job_ops: the topic it publishes to, whether it runs only while
 * the node is active, whether it owns the role, a command-line tool.
 *
 * Threads: every callback runs on the main thread.  A job that needs worker
 * threads starts them in start() (on worker.h, the one background-thread
 * primitive, which keeps signals away from them) and joins them in stop().
 *
 * Stop comes in two phases so that one job stuck in I/O never delays
 * another's final flush: the daemon calls stop_request() on every job
 * (intake first: reverse table order), each returning at once with its
 * final work under way on its own threads, then stop() on each with one
 * shared deadline.  A thread still busy at the deadline is abandoned (the
 * job logs which one and why); such a job is never destroyed, and the
 * daemon exits without freeing it.  `cfg` pointers passed to
 * create() and reconfigure() belong to the config and live until the next
 * reconfigure() or destroy(); copy what worker threads read.  During
 * reconfigure(), env->node and env->redis already are the new config's.
 */
#ifndef AGG_JOB_H
#define AGG_JOB_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"

struct event_base;
struct http_req;

/*
 * What a job is given (borrowed: it outlives every job).  node and redis
 * point into the config in force and change (before reconfigure()) when a
 * reload applies a new one; read them on the main thread and copy what
 * worker threads need.
 */
struct job_env {
	struct event_base *base;		/* the main loop; NULL under --once */
	const struct node_cfg *node;		/* node name, state_dir */
	const struct redis_cfg *redis;		/* the Redis the daemon talks to */
	/* The job's status changed (e.g. its role): the daemon refreshes its
	 * systemd STATUS= line.  Main thread only. */
	void (*status_changed)(void *arg);
	void *arg;
};

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
	void *(*create)(const struct job_env *env, const void *cfg);
	int (*start)(void *job);			/* 0 or -1 */
	int (*reconfigure)(void *job, const void *cfg);	/* 0 or -1 (keeps old) */
	/* Phase 1: ask every thread to stop, intake first, and start the final
	 * work (a flush); returns at once.  deadline_us (mono_usec()) is when
	 * stop() will give up: final work bounds itself by it.  May be NULL. */
	void (*stop_request)(void *job, uint64_t deadline_us);
	/* Phase 2: wait for the threads until deadline_us (0: no bound).  0 when
	 * all joined; -1 when one was abandoned (logged): do not destroy. */
	int (*stop)(void *job, uint64_t deadline_us);
	void (*destroy)(void *job);			/* free everything */

	/* Append Prometheus text for this job, through prom.h (may be NULL). */
	void (*metrics)(void *job, struct buf *out);
	/* Append one JSON object describing this job, through the jw writer of
	 * json.h (may be NULL). */
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

	/* The Kafka topic (after kafka.topic_prefix) its events go to, or NULL. */
	const char *topic;
	/* Does it work only while the node is active, under this section?
	 * (shown in /v1/status; the job itself checks the role).  NULL: no. */
	bool (*active_only)(const void *cfg);
	/* Writes the node's role while it runs (the election); without such a
	 * job the main thread owns the role. */
	bool owns_role;
	/* How long a standby holds events under this job's section (the role
	 * owner's); NULL: not this job's to say. */
	int (*standby_window_ms)(const void *cfg);
	/* A command-line tool: `aggregatord --NAME` runs tool() on the job's
	 * section and exits with its return value (NULL name: none). */
	const char *tool_name;
	const char *tool_help;			/* one line for --help */
	int (*tool)(const void *cfg, FILE *in, FILE *out);
};

/* The job table: NULL-terminated, slot i matches config->jobs[i]. */
extern const struct job_ops *const job_table[];
size_t job_count(void);
int job_index(const char *name);	/* slot, or -1 */

#endif
