/*
 * sweep.h — the sweep job: FreeRADIUS radacct rows from a cluster of
 * accounting MariaDB servers ("members") into one master database
 * (docs/sweep.md).
 *
 * Threads: one "sweep" thread runs a cycle every `interval` seconds while
 * this node is active; within a cycle each member is swept by a thread of
 * its own ("sw-<member>") with its own member and master connections; the
 * sweep thread then closes stale sessions.  Callbacks run on the main thread
 * (job.h).  `aggregatord --once sweep` runs one cycle in the foreground.
 */
#ifndef AGG_SWEEP_H
#define AGG_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"

struct sweep_db {
	char *name;		/* members: the member's name (metrics, logs) */
	char *host;
	int port;
	char *user;
	char *password;
	char *database;
	bool log_bin;		/* master: false runs writes with sql_log_bin=0 */
};

struct sweep_cfg {
	bool enabled;
	int interval;		/* s between cycles */
	int stale_after;	/* s without an update before an open session is closed */
	int batch;		/* rows per page and per master transaction */
	int timeout;		/* s: connect/read/write timeout of every connection */
	int master_writers;	/* members writing to master at once */
	char *table;		/* radacct, a plain identifier */
	char *stale_cause;	/* acctterminatecause of stale-closed sessions */
	struct sweep_db master;
	struct sweep_db *members;
	size_t nmembers;
};

extern const struct job_ops sweep_job;

#endif
