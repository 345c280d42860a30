/*
 * role.h — operator overrides of the active/standby role: the realtime
 * signal table and the override state machine (pure, no I/O).
 *
 * Signals SIGRTMIN+0..+3 and `aggregatorctl role` / POST /v1/role map to one
 * of four commands.  The election module (elect.c) consults the resulting
 * mode; until a node runs the election, the mode is recorded and reported.
 */
#ifndef AGG_ROLE_H
#define AGG_ROLE_H

#include <stdbool.h>
#include <time.h>

/* Standby window of the publish gate when no election section sets one, ms. */
#define ROLE_DEFAULT_WINDOW_MS 5000

enum role_cmd {
	ROLE_CMD_YIELD,		/* SIGRTMIN+0: take a fresh attachment timestamp */
	ROLE_CMD_ACTIVE,	/* SIGRTMIN+1: force active */
	ROLE_CMD_STANDBY,	/* SIGRTMIN+2: force standby */
	ROLE_CMD_AUTO,		/* SIGRTMIN+3: back to automatic election */
	ROLE_CMD_COUNT
};

enum role_mode {
	ROLE_MODE_AUTO,
	ROLE_MODE_FORCE_ACTIVE,
	ROLE_MODE_FORCE_STANDBY,
};

struct role_state {
	enum role_mode mode;
	unsigned long count[ROLE_CMD_COUNT];	/* commands received, by kind */
	unsigned long yields;			/* fresh timestamps requested */
	time_t last_change;			/* wall clock of the last command, s; 0 = never */
	const char *last_source;		/* "signal", "http", ... (static text) */
};

/* The realtime signal table: SIGRTMIN+offset -> command, or -1. */
int role_cmd_from_signal(int signo);
/* Number of realtime signals the table maps (they are SIGRTMIN+0..N-1). */
int role_signal_count(void);
int role_cmd_from_name(const char *name);	/* "active" ... or -1 */
const char *role_cmd_name(enum role_cmd cmd);
const char *role_mode_name(enum role_mode mode);

/* Apply a command at time now; returns the new mode. */
enum role_mode role_apply(struct role_state *st, enum role_cmd cmd, time_t now,
			  const char *source);

/*
 * The process-wide role, shared across threads (all atomics, lock-free).
 *
 * Writers: the operator mode and yield requests are written by the main
 * thread only (daemon_role_command); the current role and epoch by one
 * owner: the election thread when the election job runs, else the main
 * thread (active unless forced standby).  Readers: anyone, e.g. the publish
 * thread gating Kafka, singleton jobs deciding whether to run a cycle.
 */
void role_set_mode(enum role_mode mode);	/* main thread */
enum role_mode role_get_mode(void);
void role_request_yield(void);			/* main thread */
unsigned long role_yield_requests(void);	/* a counter: changes on each request */

/*
 * The current role and the stamp events carry (docs/election.md): the
 * epoch, and whether this node is active because it was elected (its events
 * may be fenced by epoch) or by an override (forced active, on_redis_down,
 * no election running: never fenced).  Epoch and mark are stored together
 * in one atomic, so a reader never pairs one with the other's old value.
 * role_set_current() is role_set_stamped() with elected = false.
 */
void role_set_current(bool active, unsigned long long epoch);	/* the role's owner */
void role_set_stamped(bool active, unsigned long long epoch, bool elected);	/* the role's owner */
bool role_is_active(void);
unsigned long long role_epoch(void);
bool role_elected(void);
/* Epoch and mark read together (what publish stamps on an event). */
void role_stamp(unsigned long long *epoch, bool *elected);

/*
 * Who to wake when the mode changes or a yield is requested (the election
 * thread registers itself; NULL to clear).  fn runs on the main thread and
 * must only signal.
 */
void role_set_waker(void (*fn)(void *arg), void *arg);
void role_wake(void);

#endif
