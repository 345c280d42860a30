/*
 * totalizer.h — the totalizer job: log lines over UDP into time-bucketed
 * Redis counters (docs/totalizer.md).
 *
 * Threads: `threads` receive threads (rx0..), each with its own
 * SO_REUSEPORT socket per listen address and its own counting table, and one
 * flusher thread that merges the tables every flush_ms and writes them to
 * Redis in one pipelined, idempotent round trip.  The job's callbacks run on
 * the main thread (job.h).
 */
#ifndef AGG_TOTALIZER_H
#define AGG_TOTALIZER_H

#include <stdbool.h>
#include <stdio.h>

#include "job.h"
#include "rules.h"

struct totalizer_cfg {
	bool enabled;
	int flush_ms;		/* ms between flushes to Redis */
	int threads;		/* receive threads */
	int rcvbuf;		/* bytes of socket receive buffer; 0 = system default */
	int max_keys;		/* keys the receive tables hold between two flushes, all threads */
	int max_pending_keys;	/* keys held while Redis fails */
	int max_queries;	/* totals queries queued or running; past it 503 */
	int max_line;		/* bytes: longer lines are dropped and counted */
	struct cidr *allow;	/* senders accepted */
	size_t nallow;
	struct rule_cfg *rules;
	size_t nrules;
};

extern const struct job_ops totalizer_job;

/*
 * `aggregatord --test-rules`: read lines from in, print for each the keys it
 * would bump (or "no match") to out, at time now.  0, or -1 on a bad config.
 */
int totalizer_test_rules(const struct totalizer_cfg *cfg, FILE *in, FILE *out, time_t now);

#endif
