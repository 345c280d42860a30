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

#endif
