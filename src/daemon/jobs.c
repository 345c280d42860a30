/*
 * jobs.c — the job table.  One line per job; see job.h for the contract.
 */
#include "job.h"

#include <stdbool.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
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
 * destroy go in reverse table order, the reverse of start-up.
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
	ops->stop(d->jobs[i]);
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

static void stop_pass(struct daemon *d, bool late)
{
	for (size_t i = job_count(); i-- > 0;)
		if (d->jobs[i] && job_table[i]->stop_late == late)
			job_table[i]->stop(d->jobs[i]);
}

void jobs_stop(struct daemon *d)
{
	stop_pass(d, false);
}

void jobs_stop_late(struct daemon *d)
{
	stop_pass(d, true);
}

void jobs_destroy(struct daemon *d)
{
	for (size_t i = job_count(); i-- > 0;) {
		if (!d->jobs[i])
			continue;
		job_table[i]->destroy(d->jobs[i]);
		d->jobs[i] = NULL;
	}
}
