/*
 * elect.h — the election job: nodes of one group (same election.cluster and
 * cluster_id) pick one *active* node through Redis; the others are standby
 * (docs/election.md).
 *
 * Each node writes `<cluster>+<cluster_id>+<node>+attachment_time` = its
 * attachment timestamp (µs, from the Redis server's TIME: one clock for
 * every node) with `SET ... PX ttl_ms` every interval_ms, finds its peers
 * with SCAN (never KEYS), reads them with one MGET, and the node with the
 * smallest live timestamp is active (ties: the smaller node name).  Operator
 * overrides (role.h) and an unreachable Redis come first.  A newly elected
 * leader bumps `<cluster>+<cluster_id>+epoch` (INCR) and publishes under it,
 * its events marked "elected":true; a node active by an override takes no
 * epoch and its events are marked "elected":false (enum elect_role).
 *
 * Threads: the decision and the key helpers are pure functions (no I/O,
 * no clock), unit-tested, in elect_decide.h.  The job runs one thread of
 * its own ("elect") with a blocking hiredis connection; it is the only writer of the process
 * role (role_set_current) while the job runs, and wakes the main loop on
 * every change of role.  The job's callbacks run on the main thread (job.h).
 */
#ifndef AGG_ELECT_H
#define AGG_ELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "elect_decide.h"
#include "job.h"
#include "role.h"

#define ELECT_MAX_PEERS 256	/* live keys read per round; more are ignored (logged) */

/* The `election` config section. */
struct elect_cfg {
	bool enabled;
	char *cluster;		/* group name: [A-Za-z0-9._-]{1,64} [restart] */
	int cluster_id;		/* group number within the name [restart] */
	int interval_ms;	/* ms between rounds (SET, SCAN, MGET, decide) */
	int ttl_ms;		/* ms a node's key lives without a refresh (> interval_ms) */
	int standby_window_ms;	/* ms of events a standby node holds (publish side) */
	int on_redis_down;	/* enum elect_down */
};

/* election.standby_window_ms of a parsed section (for the publish side). */
int elect_standby_window_ms(const void *cfg);

/* Is this node active?  Any thread (an atomic); job is the running job. */
bool elect_active(void *job);

extern const struct job_ops election_job;

#endif
