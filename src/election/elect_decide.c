/*
 * elect_decide.c — the election's decision and its key helpers (pure: no
 * I/O): the priority table (overrides, an unreachable Redis, the blip rule,
 * then the smallest attachment timestamp, ties on the name), the leader
 * among a round's read, and the keys built, escaped and parsed; see
 * elect_decide.h.  Called by the election thread (elect.c) once a round and
 * by the unit tests; owns nothing.
 */
#include "elect_decide.h"

#include <stdio.h>
#include <string.h>

#define ATTACH_SUFFIX "+attachment_time"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Does (ts_a, name_a) come before (ts_b, name_b)? */
static bool precedes(long long ts_a, const char *name_a, long long ts_b, const char *name_b)
{
	if (ts_a != ts_b)
		return ts_a < ts_b;
	return strcmp(name_a, name_b) < 0;
}

const struct elect_peer *elect_leader(const struct elect_input *in)
{
	const struct elect_peer *best = NULL;
	long long best_ts = in->self_ts;
	const char *best_name = in->self;
	for (size_t i = 0; i < in->npeers; i++) {
		const struct elect_peer *p = &in->peers[i];
		if (p->ts_us <= 0 || strcmp(p->name, in->self) == 0)
			continue;	/* we count with self_ts, whatever the read found */
		if (precedes(p->ts_us, p->name, best_ts, best_name)) {
			best = p;
			best_ts = p->ts_us;
			best_name = p->name;
		}
	}
	return best;
}

enum elect_role elect_decide_role(const struct elect_input *in, const char **reason)
{
	const char *why;
	enum elect_role role;
	enum elect_role last = !in->last_active ? ELECT_ROLE_STANDBY
			       : in->last_override ? ELECT_ROLE_OVERRIDE : ELECT_ROLE_ELECTED;

	if (in->mode == ROLE_MODE_FORCE_STANDBY) {
		why = "forced standby";
		role = ELECT_ROLE_STANDBY;
	} else if (in->mode == ROLE_MODE_FORCE_ACTIVE) {
		why = "forced active";
		role = ELECT_ROLE_OVERRIDE;
	} else if (in->redis == ELECT_REDIS_DOWN) {
		switch (in->on_redis_down) {
		case ELECT_DOWN_STANDBY:
			why = "redis unreachable: on_redis_down=standby";
			role = ELECT_ROLE_STANDBY;
			break;
		case ELECT_DOWN_KEEP:
			/* Blind to the peers, it cannot know it is still the
			 * elected one: an active node produces as an override. */
			role = in->last_active ? ELECT_ROLE_OVERRIDE : ELECT_ROLE_STANDBY;
			why = in->last_active ? "redis unreachable: on_redis_down=keep (was active)"
					      : "redis unreachable: on_redis_down=keep (was standby)";
			break;
		default:
			why = "redis unreachable: on_redis_down=active";
			role = ELECT_ROLE_OVERRIDE;
			break;
		}
	} else if (in->redis == ELECT_REDIS_HOLD) {
		role = last;
		why = "redis did not answer this round (for less than ttl_ms): role kept";
	} else if (in->name_held) {
		why = "this node's key is held by another node: two nodes of the group share its name";
		role = ELECT_ROLE_STANDBY;
	} else if (in->self_ts <= 0) {
		why = "no attachment timestamp yet";
		role = ELECT_ROLE_STANDBY;
	} else {
		const struct elect_peer *leader = elect_leader(in);
		bool tie = false, others = false;
		for (size_t i = 0; i < in->npeers; i++) {
			const struct elect_peer *p = &in->peers[i];
			if (p->ts_us <= 0 || strcmp(p->name, in->self) == 0)
				continue;
			others = true;
			if (!leader && p->ts_us == in->self_ts)
				tie = true;	/* we win, on the name */
		}
		if (leader && leader->ts_us == in->self_ts)
			tie = true;		/* a peer wins against us on the name */
		if (leader) {
			role = ELECT_ROLE_STANDBY;
			why = tie ? "tie on timestamp: a peer's name is smaller"
				  : "a peer attached earlier";
		} else if (in->first_round && last != ELECT_ROLE_ELECTED) {
			role = last;	/* standby stays standby, an override stays one */
			why = last == ELECT_ROLE_OVERRIDE
				      ? "first good round: waiting a round for the peers' keys "
					"before being elected (still active by the override)"
				      : "first good round: waiting a round for the peers' keys";
		} else {
			role = ELECT_ROLE_ELECTED;
			why = !others ? "only live node of the group"
			      : tie ? "tie on timestamp: smaller name wins"
				    : "smallest attachment timestamp";
		}
	}
	if (reason)
		*reason = why;
	return role;
}

bool elect_decide(const struct elect_input *in, const char **reason)
{
	return elect_decide_role(in, reason) != ELECT_ROLE_STANDBY;
}

enum elect_redis elect_redis_state(bool round_ok, long long since_ok_ms, int ttl_ms)
{
	if (round_ok)
		return ELECT_REDIS_OK;
	if (since_ok_ms < 0 || since_ok_ms >= ttl_ms)
		return ELECT_REDIS_DOWN;
	return ELECT_REDIS_HOLD;
}

/* snprintf's result as a length, or -1 when it did not fit. */
static int fitted(size_t len, int n)
{
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int elect_key(char *out, size_t len, const char *cluster, int cluster_id, const char *node)
{
	return fitted(len, snprintf(out, len, "%s+%d+%s" ATTACH_SUFFIX, cluster, cluster_id, node));
}

int elect_epoch_key(char *out, size_t len, const char *cluster, int cluster_id)
{
	return fitted(len, snprintf(out, len, "%s+%d+epoch", cluster, cluster_id));
}

int elect_scan_pattern(char *out, size_t len, const char *cluster, int cluster_id)
{
	size_t n = 0;
	for (const char *p = cluster; *p; p++) {
		if (strchr("*?[]\\", *p)) {
			if (n + 1 >= len)
				return -1;
			out[n++] = '\\';
		}
		if (n + 1 >= len)
			return -1;
		out[n++] = *p;
	}
	int k = snprintf(out + n, len - n, "+%d+*" ATTACH_SUFFIX, cluster_id);
	if (k < 0 || (size_t)k >= len - n)
		return -1;
	return (int)(n + (size_t)k);
}

int elect_parse_key(const char *key, size_t len, const char *cluster, int cluster_id,
		    char *node)
{
	char prefix[ELECT_KEY_MAX];
	int pl = snprintf(prefix, sizeof(prefix), "%s+%d+", cluster, cluster_id);
	size_t sl = sizeof(ATTACH_SUFFIX) - 1;
	if (pl < 0 || (size_t)pl >= sizeof(prefix) || len <= (size_t)pl + sl)
		return -1;
	if (memcmp(key, prefix, (size_t)pl) != 0 || memcmp(key + len - sl, ATTACH_SUFFIX, sl) != 0)
		return -1;
	const char *name = key + pl;
	size_t nl = len - (size_t)pl - sl;
	if (nl == 0 || nl > ELECT_NAME_MAX)
		return -1;
	for (size_t i = 0; i < nl; i++)
		if (!name_char(name[i]))
			return -1;	/* '+', NUL, spaces, glob or control characters */
	memcpy(node, name, nl);
	node[nl] = '\0';
	return 0;
}

/* Plain decimal digits, at most 18 (no sign, no spaces).  0 or -1. */
int elect_parse_dec(const char *s, size_t len, long long *out)
{
	long long v = 0;
	if (len == 0 || len > 18)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int elect_parse_ts(const char *s, size_t len, long long *out)
{
	long long v;
	if (elect_parse_dec(s, len, &v) < 0 || v <= 0)
		return -1;
	*out = v;
	return 0;
}
