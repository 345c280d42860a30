/*
 * elect_int.h — what the election's files share inside the group: the
 * job's struct and the Redis commands of a round (elect_redis.c) that the
 * election thread (elect.c) calls.  Not for other groups.
 *
 * Ownership: struct elect is made and freed by elect.c; the fields under
 * "thread-only", the connection c among them, belong to the "elect" thread,
 * the only caller of the functions below.
 */
#ifndef AGG_ELECT_INT_H
#define AGG_ELECT_INT_H

#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "elect.h"
#include "worker.h"

struct job_env;
struct event;

struct elect_settings {
	int interval_ms;
	int ttl_ms;
	int on_redis_down;	/* enum elect_down */
	int standby_window_ms;
};

/* What the thread learnt, for the main thread (under mu). */
struct elect_snap {
	bool decided;		/* a first decision was made */
	bool active;
	bool elected;		/* active by the election (false: standby, or an override) */
	unsigned long long epoch;
	bool epoch_stale;	/* became active without Redis: epoch not fresh */
	const char *reason;	/* static text */
	char earliest[ELECT_NAME_MAX + 1];	/* smallest live timestamp; "" = unknown */
	long long self_ts;	/* µs; 0 = not attached yet */
	struct elect_peer peers[ELECT_MAX_PEERS];	/* other live nodes seen */
	size_t npeers;
	long long last_change_us;	/* wall clock of the last change of role, µs; 0 = none */
	bool redis_up;
};

struct elect {
	const struct job_env *env;	/* the daemon's loop and core settings (job.h) */
	/* fixed at create (restart-only) */
	char node[ELECT_NAME_MAX + 1];
	char cluster[ELECT_NAME_MAX + 1];
	int cluster_id;
	char key[ELECT_KEY_MAX];		/* our attachment key */
	char epoch_key[ELECT_KEY_MAX];
	char epoch_path[PATH_MAX];		/* <state_dir>/election/epoch */
	char pattern[2 * ELECT_KEY_MAX];	/* SCAN MATCH */
	struct event *wake_ev;		/* on d->base: a change of role, seen by the loop */

	struct worker w;		/* the election thread (worker.h); wakes on role commands */

	pthread_mutex_t mu;		/* guards the settings, redis and snap */
	struct elect_settings set;
	struct redis_cfg redis;		/* private copy (host, password owned) */
	unsigned long redis_gen;	/* bumped when the redis settings change */
	struct elect_snap snap;

	_Atomic bool active;
	_Atomic unsigned long long transitions, redis_errors;

	/* thread-only */
	redisContext *c;
	unsigned long conn_gen;		/* redis_gen the connection was made with */
	long long self_ts;		/* µs from TIME; 0 = none yet */
	unsigned long yields_seen;
	bool decided, is_active;
	bool is_override;		/* active by an override, not elected */
	unsigned long long epoch, known_epoch;
	unsigned long long saved_epoch;	/* known_epoch as last written to epoch_path */
	bool save_failing;		/* the last write of epoch_path failed (logged once a streak) */
	bool epoch_stale;
	bool stamped_elected;		/* events stamped "elected":true (elected, epoch fresh) */
	bool ever_ok;
	bool prev_ok;			/* the last round reached Redis */
	uint64_t last_ok_mono;		/* µs: the SET of the last good round was sent */
	uint64_t lease_from;		/* µs: this round's SET was sent */
	uint64_t lease_end;		/* µs: no call past it (active by election); 0 = none */
	int call_ms;			/* redis.timeout_ms: a command's deadline */
	bool redis_up;
	bool warned_overflow, warned_conflict;
	bool attached;			/* our key holds what we wrote last (written_ts) */
	bool stepped_down;		/* standby because Redis fails: our key withdrawn, not renewed */
	long long written_ts;		/* the timestamp we last wrote into our key */
	uint64_t held_since;		/* mono µs: our key first found held by another; 0 = not */
	bool held_logged;		/* ... held for longer than ttl_ms: logged as an error */
	struct elect_peer rd[ELECT_MAX_PEERS];	/* this round's read */
	char rd_keys[ELECT_MAX_PEERS][ELECT_KEY_MAX];
	size_t nrd;
};

/*
 * The Redis part of a round: timestamp if needed, SET, SCAN, MGET.  0 on
 * success with the live keys in e->rd and the group's epoch in *epoch; -1
 * with the reason in err (the connection is dropped, to be made again next
 * round).
 */
int elect_redis_round(struct elect *e, const struct elect_settings *s,
		      const struct redis_cfg *rc, unsigned long rgen,
		      unsigned long long *epoch, char *err, size_t errlen);

/*
 * Take a new epoch for the group, never at or below floor.  0 with *epoch
 * set, or -1 with the reason in err (the connection is dropped).
 */
int elect_bump_epoch(struct elect *e, unsigned long long floor, unsigned long long *epoch,
		     char *err, size_t errlen);

/*
 * The highest epoch seen, across restarts (elect_epoch.c): its file under
 * state_dir (-1 when the path is too long); what e->epoch_path holds for
 * e's group, 0 when there is none or it cannot be used (logged); write
 * epoch there (0, or -1 with the reason in err).
 */
int elect_epoch_path(char *out, size_t n, const char *state_dir);
unsigned long long elect_epoch_load(const struct elect *e);
int elect_epoch_save(const struct elect *e, unsigned long long epoch, char *err, size_t errlen);

/* The end of an elected node's lease, mono µs; 0 when it holds none (elect.c). */
uint64_t elect_lease_end(const struct elect *e, const struct elect_settings *s);

/*
 * Delete our key if it still holds what we wrote (at a clean stop, when
 * stepping down because Redis fails), so a peer takes over on its next
 * round; when says when, for the log.  Connects if needed.  0 when the key
 * is no longer ours (deleted, or held by another), -1 when Redis failed
 * (logged; it expires ttl_ms after our last write).
 */
int elect_drop_key(struct elect *e, const struct redis_cfg *rc, unsigned long rgen,
		   const char *when);

#endif
