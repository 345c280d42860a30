/*
 * jobs.c — the job table.  One line per job; see job.h for the contract.
 */
#include "job.h"

#include <errno.h>
#include <event2/thread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "daemon.h"
#include "fsutil.h"
#include "log.h"
#include "publish.h"
#include "thread.h"
#include "elect.h"
#include "rollup.h"
#include "sweep.h"
#include "totalizer.h"

const struct job_ops *const job_table[] = {
	&election_job,	/* first: the role exists before the jobs that it gates */
	&totalizer_job,
	&sweep_job,
	&rollup_job,
	NULL
};

size_t job_count(void)
{
	size_t n = 0;
	while (job_table[n])
		n++;
	return n;
}

int job_index(const char *name)
{
	for (size_t i = 0; job_table[i]; i++)
		if (strcmp(job_table[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Life cycle of the configured jobs.  A slot runs when its section is
 * present and enabled; a reload can switch a job on (create + start), off
 * (stop + destroy) or hand it its new section (reconfigure).  Stop and
 * destroy go in reverse table order, the reverse of start-up.  Shut-down
 * is in two phases (job.h): every job is asked to stop, then each is
 * waited for against one deadline; a job with a thread left behind is
 * never destroyed.
 */

static bool job_wanted(size_t i, const struct config *cfg)
{
	const struct job_ops *ops = job_table[i];
	return cfg->jobs[i] && (!ops->enabled || ops->enabled(cfg->jobs[i]));
}

static int job_bring_up(struct daemon *d, size_t i, const struct config *cfg)
{
	const struct job_ops *ops = job_table[i];
	void *j = ops->create(&d->env, cfg->jobs[i]);
	if (!j)
		return log_error("job '%s' could not be created", ops->name);
	if (ops->start(j) < 0) {
		/* Threads it did start are stopped before it is freed. */
		uint64_t deadline = mono_usec() + (uint64_t)JOB_STOP_MS * 1000u;
		if (ops->stop_request)
			ops->stop_request(j, deadline);
		if (ops->stop(j, deadline) == 0)
			ops->destroy(j);
		return log_error("job '%s' could not start", ops->name);
	}
	d->jobs[i] = j;
	log_info("job '%s' started", ops->name);
	return 0;
}

static void job_bring_down(struct daemon *d, size_t i)
{
	const struct job_ops *ops = job_table[i];
	if (!d->jobs[i])
		return;
	uint64_t deadline = mono_usec() + (uint64_t)JOB_STOP_MS * 1000u;
	if (ops->stop_request)
		ops->stop_request(d->jobs[i], deadline);
	if (ops->stop(d->jobs[i], deadline) < 0)
		log_warn("job '%s' left behind with a thread still in a call: not freed", ops->name);
	else
		ops->destroy(d->jobs[i]);
	d->jobs[i] = NULL;
	log_info("job '%s' stopped", ops->name);
}

int jobs_start(struct daemon *d)
{
	for (size_t i = 0; job_table[i]; i++) {
		if (!job_wanted(i, d->cfg))
			continue;
		if (job_bring_up(d, i, d->cfg) < 0) {
			jobs_stop(d);
			jobs_destroy(d);
			return -1;
		}
	}
	return 0;
}

void jobs_reconfigure(struct daemon *d, struct config *next)
{
	for (size_t i = 0; job_table[i]; i++) {
		const struct job_ops *ops = job_table[i];
		bool want = job_wanted(i, next);
		if (d->jobs[i] && !want) {
			job_bring_down(d, i);
		} else if (!d->jobs[i] && want) {
			job_bring_up(d, i, next);
		} else if (d->jobs[i] && ops->reconfigure(d->jobs[i], next->jobs[i]) < 0) {
			log_error("job '%s' refused its new settings: it keeps running on the old ones",
				  ops->name);
		}
	}
}

/* Phase 1: every job of the pass (intake first: reverse table order). */
void jobs_stop_request(struct daemon *d, bool late, uint64_t deadline_us)
{
	for (size_t i = job_count(); i-- > 0;)
		if (d->jobs[i] && !d->stopped[i] && job_table[i]->stop_late == late &&
		    job_table[i]->stop_request)
			job_table[i]->stop_request(d->jobs[i], deadline_us);
}

/* Phase 2: wait for each, all against one deadline. */
int jobs_join(struct daemon *d, bool late, uint64_t deadline_us)
{
	int left = 0;
	for (size_t i = job_count(); i-- > 0;) {
		if (!d->jobs[i] || d->stopped[i] || job_table[i]->stop_late != late)
			continue;
		d->stopped[i] = true;
		if (job_table[i]->stop(d->jobs[i], deadline_us) < 0) {
			d->left[i] = true;
			left++;
		}
	}
	return left;
}

void jobs_stop(struct daemon *d)
{
	uint64_t deadline = mono_usec() + (uint64_t)JOB_STOP_MS * 1000u;
	jobs_stop_request(d, false, deadline);
	jobs_join(d, false, deadline);
	jobs_stop_request(d, true, deadline);
	jobs_join(d, true, deadline);
}

void jobs_destroy(struct daemon *d)
{
	for (size_t i = job_count(); i-- > 0;) {
		if (!d->jobs[i])
			continue;
		if (!d->left[i])	/* a thread left behind may still use it */
			job_table[i]->destroy(d->jobs[i]);
		d->jobs[i] = NULL;
		d->stopped[i] = d->left[i] = false;
	}
}

#define ONCE_PUBLISH_STOP_MS 5000	/* --once: how long it waits for Kafka */

int jobs_make_state_dir(const char *path)
{
	if (fs_mkdir_p(path, 0700) < 0)
		return log_error("cannot create directory '%s': %s", path, strerror(errno));
	return 0;
}

int jobs_run_once(struct config *cfg, const char *job, const struct once_args *args,
		  void (*around)(bool before))
{
	int i = job_index(job);
	if (i < 0 || !job_table[i]->once) {
		fprintf(stderr, "aggregatord: --once: '%s' is not a job that runs in cycles\n", job);
		return EX_USAGE;
	}
	if (!cfg->jobs[i]) {
		fprintf(stderr, "aggregatord: --once %s: the config file has no '%s' section\n",
			job, job);
		return EX_CONFIG;
	}
	struct daemon d = { .cfg = cfg, .config_file = cfg->file };
	d.started = time(NULL);
	d.started_mono = mono_usec();
	daemon_env_update(&d);
	d.env.base = NULL;	/* --once: no loop for the job */
	/* The events of the cycle go out through the publish path, as in the
	 * daemon; the stop below flushes them (delivery reports served there). */
	if (jobs_make_state_dir(cfg->node.state_dir) < 0)
		return 1;
	evthread_use_pthreads();
	d.base = event_base_new();
	role_set_current(true, 0);
	if (!d.base || publish_start(d.base, cfg, daemon_standby_window_ms(cfg)) < 0) {
		fprintf(stderr, "aggregatord: --once %s: cannot start the publish path\n", job);
		if (d.base)
			event_base_free(d.base);
		return 1;
	}
	void *j = job_table[i]->create(&d.env, cfg->jobs[i]);
	int rc = 1;
	if (j) {
		if (around)
			around(true);
		rc = job_table[i]->once(j, args);
		if (around)
			around(false);
		job_table[i]->destroy(j);
	}
	publish_stop(ONCE_PUBLISH_STOP_MS);
	event_base_free(d.base);
	return rc == 0 ? 0 : 1;
}
