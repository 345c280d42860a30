/*
 * elect_decide.h — the election's decision and key helpers (pure: no I/O,
 * no clock, no globals): who of a group is active this round, the kind of
 * active role, the Redis state as the decision sees it, and the keys the
 * election writes, finds and reads (docs/election.md).
 *
 * The election thread (elect.c) feeds one round's read into elect_decide_role()
 * and acts on the answer; the unit tests feed it every row of the priority
 * table.  Ownership: plain values; the strings returned through reason are
 * static, the pointer elect_leader() returns points into in->peers.  Any
 * thread.
 */
#ifndef AGG_ELECT_DECIDE_H
#define AGG_ELECT_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "role.h"

#define ELECT_NAME_MAX 64	/* bytes of a node or cluster name (cfg_check_name) */
#define ELECT_KEY_MAX 256	/* bytes of a key we build or accept */

/* election.on_redis_down */
enum elect_down {
	ELECT_DOWN_ACTIVE,	/* be active while Redis cannot be reached */
	ELECT_DOWN_STANDBY,	/* be standby while Redis cannot be reached */
	ELECT_DOWN_KEEP,	/* keep the role held before Redis went away */
};

/* A live key read in one round. */
struct elect_peer {
	char name[ELECT_NAME_MAX + 1];	/* the node name from the key */
	long long ts_us;		/* its attachment timestamp, µs (Redis TIME) */
};

/* What the last rounds learnt of Redis. */
enum elect_redis {
	ELECT_REDIS_OK,		/* this round's SET, SCAN and MGET succeeded */
	ELECT_REDIS_DOWN,	/* unreachable, and no success for ttl_ms (or never) */
	ELECT_REDIS_HOLD,	/* this round failed, but the last success is younger than
				 * ttl_ms: our key still stands for the peers, so the role
				 * decided then still holds (a blip does not flap roles) */
};

/*
 * What a round decides.  Both active kinds produce; they differ in what the
 * events carry (docs/election.md, "the consumer's rule"): an elected node
 * takes a fresh epoch and its events are marked "elected":true, so a
 * consumer can fence a deposed leader's late events by epoch; a node active
 * by an override does not take an epoch (it stamps the group's, as far as
 * it knows it) and its events are marked "elected":false, never fenced:
 * the operator asked for both nodes to produce.
 */
enum elect_role {
	ELECT_ROLE_STANDBY,
	ELECT_ROLE_ELECTED,	/* the smallest live timestamp (or that role held over a blip) */
	ELECT_ROLE_OVERRIDE,	/* forced active, or Redis unreachable for ttl_ms with
				 * on_redis_down = active (or keep, when it was active) */
};

struct elect_input {
	enum role_mode mode;		/* operator override (role.h) */
	enum elect_redis redis;		/* see above (elect_redis_state()) */
	int on_redis_down;		/* enum elect_down */
	bool last_active;		/* role before this round */
	bool last_override;		/* ... and it was active by an override, not elected */
	bool first_round;		/* the first good round since start or since Redis was
					 * unreachable: peers may not have (re)written their keys
					 * yet, so a standby node does not promote itself by
					 * timestamp until the next round */
	const char *self;		/* this node's name */
	long long self_ts;		/* our attachment timestamp, µs (from Redis TIME); <= 0: none yet */
	bool name_held;			/* our key holds another node's timestamp (two nodes
					 * configured with one name): standby while it does */
	const struct elect_peer *peers;	/* live keys read this round (may include ourselves) */
	size_t npeers;
};

/*
 * The role for one round: true for active.  *reason (may be NULL) gets a
 * static string for the log and status.  Priority, highest first: forced
 * standby, forced active, Redis unreachable (on_redis_down; HOLD keeps the
 * last role), smallest live timestamp (ties: the smaller node name; a
 * standby node waits for a second good round, see first_round).  Our
 * own entry always counts, with self_ts, whether or not the read found it;
 * entries with our name in peers are ignored for that reason.
 */
bool elect_decide(const struct elect_input *in, const char **reason);

/*
 * The same decision, with the kind of active role: ELECT_ROLE_OVERRIDE for
 * forced active and for an unreachable Redis (on_redis_down active, or keep
 * of an active role); a blip (ELECT_REDIS_HOLD) keeps the last kind; the
 * timestamp order gives ELECT_ROLE_ELECTED.  A node active by an override
 * whose Redis answers again, and which leads by timestamp, stays an
 * override for the first good round (first_round) and is elected on the
 * next, once the peers have rewritten their keys.
 */
enum elect_role elect_decide_role(const struct elect_input *in, const char **reason);

/*
 * The entry that wins the timestamp comparison among in->peers and us:
 * NULL when it is this node, else a pointer into in->peers.  Meaningful only
 * with in->redis == ELECT_REDIS_OK.
 */
const struct elect_peer *elect_leader(const struct elect_input *in);

/*
 * Classify Redis for elect_decide(): round_ok is this round's outcome,
 * since_ok_ms the time since the last successful round (< 0: never).
 */
enum elect_redis elect_redis_state(bool round_ok, long long since_ok_ms, int ttl_ms);

/*
 * Key helpers.  Each writes a NUL-terminated string into out and returns
 * its length, or -1 when it does not fit.
 *   elect_key:          <cluster>+<cluster_id>+<node>+attachment_time
 *   elect_epoch_key:    <cluster>+<cluster_id>+epoch
 *   elect_scan_pattern: <cluster>+<cluster_id>+*+attachment_time, with the
 *                       glob characters of cluster escaped for SCAN MATCH
 */
int elect_key(char *out, size_t len, const char *cluster, int cluster_id, const char *node);
int elect_epoch_key(char *out, size_t len, const char *cluster, int cluster_id);
int elect_scan_pattern(char *out, size_t len, const char *cluster, int cluster_id);

/*
 * Parse a key of len bytes found by SCAN.  Returns 0 and the node name in
 * node (ELECT_NAME_MAX + 1 bytes) when the key belongs to this cluster and
 * cluster_id and names a valid node ([A-Za-z0-9._-]{1,64}, so never '+');
 * -1 for keys of other groups and malformed or hostile keys.
 */
int elect_parse_key(const char *key, size_t len, const char *cluster, int cluster_id,
		    char *node);

/* Parse a stored timestamp (decimal µs, > 0).  0, or -1 when malformed. */
int elect_parse_ts(const char *s, size_t len, long long *out);

/* Plain decimal digits, at most 18 (no sign, no spaces).  0, or -1. */
int elect_parse_dec(const char *s, size_t len, long long *out);

#endif
