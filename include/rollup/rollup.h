/*
 * rollup.h — the rollup job: hourly usage per cloud account (docs/rollup.md).
 *
 * A *location* node reads the past hour's per-VM samples from InfluxDB and
 * writes one file per account and hour; a *master* node fetches every
 * location's files over HTTP and merges them per account.  Files are zlib
 * streams of one Cap'n Proto message (docs/usage.capnp, src/rollup/usage_capnp.c).
 *
 * Threads: one "rollup" thread does the work (InfluxDB queries, HTTP
 * fetches, file writes); the main thread runs the life cycle, metrics,
 * status and serves GET /v1/usage/... from the files.
 */
#ifndef AGG_ROLLUP_H
#define AGG_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "job.h"
#include "rollup_hours.h"

enum rollup_role { ROLLUP_LOCATION, ROLLUP_MASTER };

struct rollup_influx {
	char *url, *db, *user, *password, *measurement;
	char *tag_account, *tag_cloudspace, *tag_vm;
	char *field_mem, *field_disk, *field_cpu, *field_io_read, *field_io_write;
	char *field_net_tx, *field_net_rx;
	int timeout;		/* s, whole query */
	int lookback;		/* s before the hour searched for the counters' last sample */
};

struct rollup_location {
	char *name;		/* the location's name (as in its files) */
	char *url;		/* its HTTP API, e.g. "http://10.0.0.1:8089" */
	char *token;		/* its http.token, "" = none */
};

struct rollup_cfg {
	bool enabled;
	int role;		/* enum rollup_role */
	char *location;		/* location role: this location's name */
	int at_minute;		/* minute past the hour to start; -1: 0 (location) or 30 (master) */
	int delay;		/* s added to at_minute */
	int catch_up_hours;	/* location: missed hours caught up, oldest first */
	int retry_s;		/* master: retry a missing location every retry_s */
	int late_hours;		/* master: keep retrying an incomplete hour this long */
	int retention_days;	/* files older than this are pruned; 0 = keep */
	struct rollup_influx influxdb;
	struct rollup_location *locations;	/* master role */
	size_t nlocations;
};

extern const struct job_ops rollup_job;

/* Its pure helpers (hours, file paths, names): rollup_hours.h. */

#endif
