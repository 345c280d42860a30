/*
 * role.c — the role override commands and their signal table.  Pure state;
 * the main loop calls role_apply() when a signal or request arrives.
 *
 * SIGRTMIN is not a compile-time constant on glibc, so the table is of
 * offsets from it, resolved at run time.
 */
#include "role.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static const struct {
	int offset;		/* from SIGRTMIN */
	enum role_cmd cmd;
	const char *name;
} role_table[] = {
	{ 0, ROLE_CMD_YIELD, "yield" },
	{ 1, ROLE_CMD_ACTIVE, "active" },
	{ 2, ROLE_CMD_STANDBY, "standby" },
	{ 3, ROLE_CMD_AUTO, "auto" },
};
#define N_ROLE (sizeof(role_table) / sizeof(role_table[0]))

int role_cmd_from_signal(int signo)
{
	for (size_t i = 0; i < N_ROLE; i++)
		if (signo == SIGRTMIN + role_table[i].offset)
			return (int)role_table[i].cmd;
	return -1;
}

int role_signal_count(void)
{
	return (int)N_ROLE;
}

int role_cmd_from_name(const char *name)
{
	for (size_t i = 0; i < N_ROLE; i++)
		if (strcmp(name, role_table[i].name) == 0)
			return (int)role_table[i].cmd;
	return -1;
}

const char *role_cmd_name(enum role_cmd cmd)
{
	for (size_t i = 0; i < N_ROLE; i++)
		if (role_table[i].cmd == cmd)
			return role_table[i].name;
	return "?";
}

const char *role_mode_name(enum role_mode mode)
{
	switch (mode) {
	case ROLE_MODE_AUTO: return "auto";
	case ROLE_MODE_FORCE_ACTIVE: return "forced-active";
	case ROLE_MODE_FORCE_STANDBY: return "forced-standby";
	}
	return "?";
}

enum role_mode role_apply(struct role_state *st, enum role_cmd cmd, time_t now,
			  const char *source)
{
	if (cmd >= ROLE_CMD_COUNT)
		return st->mode;
	st->count[cmd]++;
	st->last_change = now;
	st->last_source = source;
	switch (cmd) {
	case ROLE_CMD_ACTIVE: st->mode = ROLE_MODE_FORCE_ACTIVE; break;
	case ROLE_CMD_STANDBY: st->mode = ROLE_MODE_FORCE_STANDBY; break;
	case ROLE_CMD_AUTO: st->mode = ROLE_MODE_AUTO; break;
	case ROLE_CMD_YIELD: st->yields++; break;	/* mode unchanged */
	default: break;
	}
	return st->mode;
}

/* ---- process-wide role (see role.h) ---- */

static _Atomic int cur_mode = ROLE_MODE_AUTO;
static _Atomic unsigned long yield_requests;
static _Atomic bool cur_active = true;
static _Atomic unsigned long long cur_stamp;	/* epoch << 1 | elected */
static void (*waker)(void *);
static void *waker_arg;

void role_set_mode(enum role_mode mode) { atomic_store(&cur_mode, (int)mode); }
enum role_mode role_get_mode(void) { return (enum role_mode)atomic_load(&cur_mode); }
void role_request_yield(void) { atomic_fetch_add(&yield_requests, 1); }
unsigned long role_yield_requests(void) { return atomic_load(&yield_requests); }

void role_set_stamped(bool active, unsigned long long epoch, bool elected)
{
	/* The stamp first: a reader that sees the new role sees its stamp. */
	atomic_store(&cur_stamp, epoch << 1 | (elected ? 1u : 0u));
	atomic_store(&cur_active, active);
}

void role_set_current(bool active, unsigned long long epoch)
{
	role_set_stamped(active, epoch, false);
}

bool role_is_active(void) { return atomic_load(&cur_active); }
unsigned long long role_epoch(void) { return atomic_load(&cur_stamp) >> 1; }
bool role_elected(void) { return atomic_load(&cur_stamp) & 1u; }

void role_stamp(unsigned long long *epoch, bool *elected)
{
	unsigned long long v = atomic_load(&cur_stamp);
	*epoch = v >> 1;
	*elected = v & 1u;
}

void role_set_waker(void (*fn)(void *arg), void *arg)
{
	waker = fn;
	waker_arg = arg;
}

void role_wake(void)
{
	if (waker)
		waker(waker_arg);
}
