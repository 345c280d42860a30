/*
 * test_elect.c — the election's pure core: every row of the priority table,
 * ties (exactly one active, seen from every node), our own entry missing
 * from the read, expired peers, on_redis_down, the Redis blip rule, the key
 * helpers against other groups and hostile keys, and the `election` config
 * section (errors, the short-window warning, redis.timeout_ms from the root).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "elect.h"
#include "job.h"
#include "json.h"
#include "suites.h"

/* An input for node self in automatic mode with Redis answering. */
static struct elect_input auto_in(const char *self, long long self_ts,
				  const struct elect_peer *peers, size_t n)
{
	return (struct elect_input){
		.mode = ROLE_MODE_AUTO, .redis = ELECT_REDIS_OK, .on_redis_down = ELECT_DOWN_ACTIVE,
		.last_active = false, .self = self, .self_ts = self_ts, .peers = peers, .npeers = n,
	};
}

static bool decide(const struct elect_input *in, const char *want_reason)
{
	const char *reason = NULL;
	bool active = elect_decide(in, &reason);
	ck_assert_ptr_nonnull(reason);
	if (want_reason)
		ck_assert_str_eq(reason, want_reason);
	return active;
}

/* ---- the priority table, row by row ---- */

START_TEST(forced_standby_beats_all)
{
	struct elect_peer peers[] = { { "a", 100 }, { "b", 200 } };
	struct elect_input in = auto_in("a", 100, peers, 2);	/* smallest */
	in.mode = ROLE_MODE_FORCE_STANDBY;
	ck_assert(!decide(&in, "forced standby"));
	in.redis = ELECT_REDIS_DOWN;			/* on_redis_down=active */
	in.last_active = true;
	ck_assert(!decide(&in, "forced standby"));
	in.redis = ELECT_REDIS_HOLD;
	ck_assert(!decide(&in, "forced standby"));
}
END_TEST

START_TEST(forced_active_beats_redis_and_timestamps)
{
	struct elect_peer peers[] = { { "a", 100 }, { "b", 200 } };
	struct elect_input in = auto_in("b", 200, peers, 2);	/* not the smallest */
	in.mode = ROLE_MODE_FORCE_ACTIVE;
	ck_assert(decide(&in, "forced active"));
	in.redis = ELECT_REDIS_DOWN;
	in.on_redis_down = ELECT_DOWN_STANDBY;
	ck_assert(decide(&in, "forced active"));
	in.self_ts = 0;					/* never attached */
	ck_assert(decide(&in, "forced active"));
}
END_TEST

START_TEST(redis_down_follows_on_redis_down)
{
	struct elect_peer peers[] = { { "a", 100 } };
	/* b would be standby by timestamp; Redis down decides instead. */
	struct elect_input in = auto_in("b", 200, peers, 1);
	in.redis = ELECT_REDIS_DOWN;
	in.on_redis_down = ELECT_DOWN_ACTIVE;
	ck_assert(decide(&in, "redis unreachable: on_redis_down=active"));
	/* a, smallest by timestamp, follows on_redis_down=standby */
	struct elect_input ina = auto_in("a", 100, peers, 1);
	ina.redis = ELECT_REDIS_DOWN;
	ina.on_redis_down = ELECT_DOWN_STANDBY;
	ck_assert(!decide(&ina, "redis unreachable: on_redis_down=standby"));
	in.on_redis_down = ELECT_DOWN_KEEP;
	in.last_active = true;
	ck_assert(decide(&in, "redis unreachable: on_redis_down=keep (was active)"));
	in.last_active = false;
	ck_assert(!decide(&in, "redis unreachable: on_redis_down=keep (was standby)"));
	/* never reached Redis, never attached: on_redis_down still rules */
	in.self_ts = 0;
	in.npeers = 0;
	in.on_redis_down = ELECT_DOWN_ACTIVE;
	ck_assert(decide(&in, NULL));
}
END_TEST

START_TEST(redis_blip_keeps_role)
{
	struct elect_peer peers[] = { { "a", 100 } };
	struct elect_input in = auto_in("b", 200, peers, 1);
	in.redis = ELECT_REDIS_HOLD;
	in.on_redis_down = ELECT_DOWN_ACTIVE;
	in.last_active = false;
	ck_assert(!decide(&in, NULL));		/* a standby does not jump up on a blip */
	in.last_active = true;
	ck_assert(decide(&in, NULL));

	ck_assert_int_eq(elect_redis_state(true, -1, 1500), ELECT_REDIS_OK);
	ck_assert_int_eq(elect_redis_state(true, 99999, 1500), ELECT_REDIS_OK);
	ck_assert_int_eq(elect_redis_state(false, -1, 1500), ELECT_REDIS_DOWN);	/* never */
	ck_assert_int_eq(elect_redis_state(false, 0, 1500), ELECT_REDIS_HOLD);
	ck_assert_int_eq(elect_redis_state(false, 1499, 1500), ELECT_REDIS_HOLD);
	ck_assert_int_eq(elect_redis_state(false, 1500, 1500), ELECT_REDIS_DOWN);
}
END_TEST

START_TEST(smallest_timestamp_wins)
{
	struct elect_peer peers[] = { { "c", 300 }, { "a", 100 }, { "b", 200 } };
	struct elect_input in = auto_in("a", 100, peers, 3);
	ck_assert(decide(&in, "smallest attachment timestamp"));
	ck_assert_ptr_null(elect_leader(&in));
	in = auto_in("b", 200, peers, 3);
	ck_assert(!decide(&in, "a peer attached earlier"));
	ck_assert_str_eq(elect_leader(&in)->name, "a");
	in = auto_in("c", 300, peers, 3);
	ck_assert(!decide(&in, "a peer attached earlier"));
	/* alone in the group */
	in = auto_in("a", 100, peers + 1, 1);
	ck_assert(decide(&in, "only live node of the group"));
	in = auto_in("a", 100, NULL, 0);
	ck_assert(decide(&in, "only live node of the group"));
	/* the node name does not matter when timestamps differ */
	struct elect_peer p2[] = { { "zzz", 5 }, { "aaa", 6 } };
	in = auto_in("zzz", 5, p2, 2);
	ck_assert(decide(&in, "smallest attachment timestamp"));
	in = auto_in("aaa", 6, p2, 2);
	ck_assert(!decide(&in, "a peer attached earlier"));
}
END_TEST

START_TEST(not_attached_is_standby)
{
	struct elect_input in = auto_in("a", 0, NULL, 0);
	ck_assert(!decide(&in, "no attachment timestamp yet"));
}
END_TEST

/* Our key held by another node of our name: standby, even as the oldest
 * and alone; the overrides still apply. */
START_TEST(name_held_is_standby)
{
	const char *why = "this node's key is held by another node: two nodes of the group "
			  "share its name";
	struct elect_input in = auto_in("a", 100, NULL, 0);
	in.name_held = true;
	ck_assert(!decide(&in, why));
	in.last_active = true;
	ck_assert(!decide(&in, why));
	struct elect_peer peers[] = { { "a", 50 }, { "b", 200 } };
	in = auto_in("a", 100, peers, 2);
	in.name_held = true;
	ck_assert(!decide(&in, why));
	in.mode = ROLE_MODE_FORCE_ACTIVE;
	ck_assert(decide(&in, "forced active"));
	in.mode = ROLE_MODE_AUTO;
	in.redis = ELECT_REDIS_DOWN;
	in.on_redis_down = ELECT_DOWN_STANDBY;
	ck_assert(!decide(&in, "redis unreachable: on_redis_down=standby"));
	in = auto_in("a", 100, peers, 2);
	ck_assert(decide(&in, "smallest attachment timestamp"));
}
END_TEST

START_TEST(first_good_round_does_not_promote)
{
	/* Just started, or Redis just came back (and may have lost the keys):
	 * a standby node waits one more round before it promotes itself. */
	struct elect_peer peers[] = { { "b", 200 } };
	struct elect_input in = auto_in("a", 100, peers, 1);
	in.first_round = true;
	ck_assert(!decide(&in, "first good round: waiting a round for the peers' keys"));
	in.npeers = 0;
	ck_assert(!decide(&in, NULL));
	in.first_round = false;
	ck_assert(decide(&in, "only live node of the group"));
	/* an active node stays active on such a round, and demotes as usual */
	in = auto_in("a", 100, peers, 1);
	in.first_round = true;
	in.last_active = true;
	ck_assert(decide(&in, "smallest attachment timestamp"));
	in = auto_in("b", 200, peers, 1);
	in.first_round = true;
	in.last_active = true;
	struct elect_peer p2[] = { { "a", 100 } };
	in.peers = p2;
	ck_assert(!decide(&in, "a peer attached earlier"));
	/* overrides are not delayed */
	in.mode = ROLE_MODE_FORCE_ACTIVE;
	in.last_active = false;
	ck_assert(decide(&in, "forced active"));
}
END_TEST

/* ---- ties ---- */

START_TEST(tie_smaller_name_wins_on_both_nodes)
{
	struct elect_peer peers[] = { { "b", 1000 }, { "a", 1000 } };
	struct elect_input ina = auto_in("a", 1000, peers, 2);
	struct elect_input inb = auto_in("b", 1000, peers, 2);
	bool a = decide(&ina, "tie on timestamp: smaller name wins");
	bool b = decide(&inb, "tie on timestamp: a peer's name is smaller");
	ck_assert(a);
	ck_assert(!b);
	ck_assert_str_eq(elect_leader(&inb)->name, "a");
	/* case and byte order, as strcmp: "B" < "a" */
	struct elect_peer p2[] = { { "a", 7 }, { "B", 7 } };
	ina = auto_in("a", 7, p2, 2);
	inb = auto_in("B", 7, p2, 2);
	ck_assert(!decide(&ina, NULL));
	ck_assert(decide(&inb, NULL));
}
END_TEST

START_TEST(tie_among_others_is_no_tie_for_us)
{
	/* b and c tie, but a (smaller) wins outright; b loses to a on time */
	struct elect_peer peers[] = { { "a", 10 }, { "b", 20 }, { "c", 20 } };
	struct elect_input in = auto_in("b", 20, peers, 3);
	ck_assert(!decide(&in, "a peer attached earlier"));
	in = auto_in("a", 10, peers, 3);
	ck_assert(decide(&in, "smallest attachment timestamp"));
}
END_TEST

/* Every node of a group, reading the same keys, agrees on exactly one active. */
START_TEST(exactly_one_active)
{
	unsigned seed = 12345;
	for (int round = 0; round < 2000; round++) {
		struct elect_peer peers[8];
		size_t n = 1 + (size_t)(rand_r(&seed) % 8);
		for (size_t i = 0; i < n; i++) {
			snprintf(peers[i].name, sizeof(peers[i].name), "node-%zu", i);
			peers[i].ts_us = 1 + rand_r(&seed) % 3;	/* many ties */
		}
		int actives = 0;
		for (size_t i = 0; i < n; i++) {
			struct elect_input in = auto_in(peers[i].name, peers[i].ts_us, peers, n);
			actives += elect_decide(&in, NULL);
		}
		ck_assert_int_eq(actives, 1);
	}
}
END_TEST

/* ---- what the read returns ---- */

START_TEST(own_entry_missing_from_read)
{
	/* Our key was not in the SCAN (or expired just now): we still count. */
	struct elect_peer peers[] = { { "b", 200 } };
	struct elect_input in = auto_in("a", 100, peers, 1);
	ck_assert(decide(&in, "smallest attachment timestamp"));
	in = auto_in("c", 300, peers, 1);
	ck_assert(!decide(&in, "a peer attached earlier"));
	/* An entry with our name but another value (stale read) is ignored:
	 * self_ts is the truth. */
	struct elect_peer p2[] = { { "a", 50 }, { "b", 200 } };
	in = auto_in("a", 900, p2, 2);
	ck_assert(!decide(&in, "a peer attached earlier"));
	struct elect_peer p3[] = { { "a", 900 }, { "b", 200 } };
	in = auto_in("a", 100, p3, 2);
	ck_assert(decide(&in, "smallest attachment timestamp"));
}
END_TEST

START_TEST(expired_peer_no_longer_counts)
{
	/* Round 1: a (older) is alive, so b is standby. */
	struct elect_peer r1[] = { { "a", 100 }, { "b", 200 } };
	struct elect_input in = auto_in("b", 200, r1, 2);
	ck_assert(!decide(&in, NULL));
	/* Round 2: a's key expired (dead node): it is simply absent. */
	struct elect_peer r2[] = { { "b", 200 } };
	in = auto_in("b", 200, r2, 1);
	in.last_active = false;
	ck_assert(decide(&in, "only live node of the group"));
	/* Entries without a timestamp (nil in MGET) never count. */
	struct elect_peer r3[] = { { "a", 0 }, { "b", 200 } };
	in = auto_in("b", 200, r3, 2);
	ck_assert(decide(&in, NULL));
}
END_TEST

START_TEST(yield_goes_to_the_back)
{
	/* a yields: its fresh timestamp is now the largest. */
	struct elect_peer peers[] = { { "a", 5000 }, { "b", 200 } };
	struct elect_input in = auto_in("a", 5000, peers, 2);
	in.last_active = true;
	ck_assert(!decide(&in, "a peer attached earlier"));
	in = auto_in("b", 200, peers, 2);
	ck_assert(decide(&in, "smallest attachment timestamp"));
}
END_TEST

/* ---- elected or override: what the events carry (docs/election.md) ---- */

static enum elect_role kind(const struct elect_input *in)
{
	const char *reason = NULL;
	enum elect_role r = elect_decide_role(in, &reason);
	ck_assert_ptr_nonnull(reason);
	ck_assert(elect_decide(in, NULL) == (r != ELECT_ROLE_STANDBY));
	return r;
}

START_TEST(overrides_are_not_elected)
{
	struct elect_peer peers[] = { { "a", 100 }, { "b", 200 } };
	struct elect_input in = auto_in("b", 200, peers, 2);	/* a peer attached earlier */
	ck_assert_int_eq(kind(&in), ELECT_ROLE_STANDBY);
	in.mode = ROLE_MODE_FORCE_ACTIVE;			/* SIGRTMIN+1 on the standby */
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
	in = auto_in("a", 100, peers, 2);			/* the leader, forced too */
	in.mode = ROLE_MODE_FORCE_ACTIVE;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
	in.mode = ROLE_MODE_AUTO;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_ELECTED);

	/* Redis unreachable: on_redis_down=active, and keep of an active role,
	 * produce blind: overrides, whatever the role was. */
	in.redis = ELECT_REDIS_DOWN;
	in.last_active = true;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
	in.on_redis_down = ELECT_DOWN_KEEP;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
	in.last_active = false;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_STANDBY);
	in.on_redis_down = ELECT_DOWN_STANDBY;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_STANDBY);

	/* A blip keeps the kind as well as the role. */
	in.redis = ELECT_REDIS_HOLD;
	in.last_active = true;
	in.last_override = false;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_ELECTED);
	in.last_override = true;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
}
END_TEST

START_TEST(override_to_elected_after_a_round)
{
	/* Active by on_redis_down; Redis answers again and this node leads by
	 * timestamp: still an override for the first good round (the peers may
	 * not have rewritten their keys), elected on the next. */
	struct elect_peer peers[] = { { "a", 100 } };
	struct elect_input in = auto_in("a", 100, peers, 1);
	in.last_active = true;
	in.last_override = true;
	in.first_round = true;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_OVERRIDE);
	in.first_round = false;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_ELECTED);

	/* Not the leader: standby at once, first round or not. */
	struct elect_peer two[] = { { "a", 100 }, { "b", 200 } };
	in = auto_in("b", 200, two, 2);
	in.last_active = true;
	in.last_override = true;
	in.first_round = true;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_STANDBY);

	/* Forced active, then back to auto: the leader is elected (a fresh
	 * epoch), the other goes standby. */
	in = auto_in("a", 100, two, 2);
	in.last_active = true;
	in.last_override = true;
	ck_assert_int_eq(kind(&in), ELECT_ROLE_ELECTED);
}
END_TEST

/* ---- keys ---- */

START_TEST(key_building)
{
	char k[256];
	ck_assert_int_eq(elect_key(k, sizeof(k), "radius", 0, "agg-a"), 30);
	ck_assert_str_eq(k, "radius+0+agg-a+attachment_time");
	ck_assert_int_eq(elect_epoch_key(k, sizeof(k), "radius", 7), 14);
	ck_assert_str_eq(k, "radius+7+epoch");
	ck_assert_int_gt(elect_scan_pattern(k, sizeof(k), "radius", 12), 0);
	ck_assert_str_eq(k, "radius+12+*+attachment_time");
	/* glob characters of the cluster name are escaped */
	ck_assert_int_gt(elect_scan_pattern(k, sizeof(k), "a*b?[c]\\", 0), 0);
	ck_assert_str_eq(k, "a\\*b\\?\\[c\\]\\\\+0+*+attachment_time");
	/* too small a buffer: -1, never a truncated key */
	ck_assert_int_eq(elect_key(k, 10, "radius", 0, "agg-a"), -1);
	ck_assert_int_eq(elect_scan_pattern(k, 10, "radius", 0), -1);
	ck_assert_int_eq(elect_scan_pattern(k, 3, "a*", 0), -1);
	ck_assert_int_eq(elect_epoch_key(k, 5, "radius", 0), -1);
}
END_TEST

static int parse(const char *key, const char *cluster, int id, char *node)
{
	return elect_parse_key(key, strlen(key), cluster, id, node);
}

START_TEST(key_parsing)
{
	char node[ELECT_NAME_MAX + 1];
	ck_assert_int_eq(parse("radius+0+agg-a+attachment_time", "radius", 0, node), 0);
	ck_assert_str_eq(node, "agg-a");
	ck_assert_int_eq(parse("radius+12+n.1_x+attachment_time", "radius", 12, node), 0);
	ck_assert_str_eq(node, "n.1_x");
	/* the keys we build parse back */
	char k[256];
	elect_key(k, sizeof(k), "c", 3, "host-9");
	ck_assert_int_eq(parse(k, "c", 3, node), 0);
	ck_assert_str_eq(node, "host-9");
	/* 64 characters is the longest name */
	char longname[80], key[200];
	memset(longname, 'x', 64);
	longname[64] = '\0';
	snprintf(key, sizeof(key), "c+0+%s+attachment_time", longname);
	ck_assert_int_eq(parse(key, "c", 0, node), 0);
	ck_assert_str_eq(node, longname);
}
END_TEST

START_TEST(key_parsing_other_groups)
{
	char node[ELECT_NAME_MAX + 1];
	ck_assert_int_eq(parse("radius2+0+a+attachment_time", "radius", 0, node), -1);
	ck_assert_int_eq(parse("radius+0+a+attachment_time", "radius2", 0, node), -1);
	ck_assert_int_eq(parse("radius+1+a+attachment_time", "radius", 0, node), -1);
	ck_assert_int_eq(parse("radius+01+a+attachment_time", "radius", 1, node), -1);
	ck_assert_int_eq(parse("radius+10+a+attachment_time", "radius", 1, node), -1);
	ck_assert_int_eq(parse("Radius+0+a+attachment_time", "radius", 0, node), -1);
	ck_assert_int_eq(parse("radius+0+epoch", "radius", 0, node), -1);
	/* the totalizer's keys never look like ours */
	ck_assert_int_eq(parse("web_client;1.2.3.4,200;web1;1700000000", "radius", 0, node), -1);
}
END_TEST

START_TEST(key_parsing_hostile)
{
	char node[ELECT_NAME_MAX + 1];
	static const char *const bad[] = {
		"radius+0+a+b+attachment_time",		/* '+' in the name: another id's key? */
		"radius+0+1+a+attachment_time",
		"radius+0++attachment_time",		/* empty name */
		"radius+0+attachment_time",		/* too short */
		"radius+0+",
		"radius+0",
		"",
		"radius+0+a b+attachment_time",
		"radius+0+a*+attachment_time",
		"radius+0+a?+attachment_time",
		"radius+0+a\n+attachment_time",
		"radius+0+\xc3\xa9+attachment_time",	/* non-ASCII */
		"radius+0+a+attachment_time ",
		"radius+0+a+attachment_timex",
		"radius+0+a+ATTACHMENT_TIME",
		"radius+0+a+attachment_time+attachment_time",
		"radius+0+a/../b+attachment_time",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], "radius", 0, node) == -1, "accepted '%s'", bad[i]);
	/* an embedded NUL byte (binary-safe keys) */
	static const char nul[] = "radius+0+a\0b+attachment_time";
	ck_assert_int_eq(elect_parse_key(nul, sizeof(nul) - 1, "radius", 0, node), -1);
	/* a name of 65 characters */
	char key[200], longname[80];
	memset(longname, 'x', 65);
	longname[65] = '\0';
	snprintf(key, sizeof(key), "c+0+%s+attachment_time", longname);
	ck_assert_int_eq(parse(key, "c", 0, node), -1);
}
END_TEST

START_TEST(timestamp_parsing)
{
	long long v = -1;
	ck_assert_int_eq(elect_parse_ts("1712345678901234", 16, &v), 0);
	ck_assert(v == 1712345678901234LL);
	ck_assert_int_eq(elect_parse_ts("1", 1, &v), 0);
	ck_assert(v == 1);
	static const char *const bad[] = { "", "0", "-5", "+5", " 5", "5 ", "12a", "0x10",
					   "1e6", "1234567890123456789" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(elect_parse_ts(bad[i], strlen(bad[i]), &v) == -1, "accepted '%s'",
			      bad[i]);
}
END_TEST

/* ---- config ---- */

static const struct job_ops *const elect_table[] = { &election_job, NULL };

static struct config *load_elect(const char *text, struct cfg_ctx *ctx, char **path)
{
	*path = unit_tmpfile(text);
	cfg_ctx_init(ctx, *path);
	return config_load(*path, ctx, elect_table);
}

static void done(struct config *cfg, struct cfg_ctx *ctx, char *path)
{
	config_free(cfg);
	cfg_ctx_release(ctx);
	unlink(path);
	free(path);
}

START_TEST(config_defaults)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load_elect("election = { };\n", &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	const struct elect_cfg *c = cfg->jobs[0];
	ck_assert(c->enabled);
	ck_assert_str_eq(c->cluster, "aggregatord");
	ck_assert_int_eq(c->cluster_id, 0);
	ck_assert_int_eq(c->interval_ms, 500);
	ck_assert_int_eq(c->ttl_ms, 1500);
	ck_assert_int_eq(c->standby_window_ms, 5000);
	ck_assert_int_eq(elect_standby_window_ms(c), 5000);
	ck_assert_int_eq(c->on_redis_down, ELECT_DOWN_ACTIVE);
	ck_assert_uint_eq(ctx.warnings.len, 0);		/* 5000 > 1500 + 500 + 1000 */
	done(cfg, &ctx, path);

	cfg = load_elect("election = { cluster = \"radius\"; cluster_id = 3; interval_ms = 200;\n"
			 " ttl_ms = 900; standby_window_ms = 10000; on_redis_down = \"keep\"; };\n",
			 &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	c = cfg->jobs[0];
	ck_assert_str_eq(c->cluster, "radius");
	ck_assert_int_eq(c->cluster_id, 3);
	ck_assert_int_eq(c->on_redis_down, ELECT_DOWN_KEEP);
	ck_assert_int_eq(elect_standby_window_ms(c), 10000);
	done(cfg, &ctx, path);
}
END_TEST

static void expect_refused(const char *text, int line, const char *needle)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load_elect(text, &ctx, &path);
	ck_assert_msg(cfg == NULL, "accepted: %s", text);
	char want[512];
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	const char *hit = strstr(ctx.errors.data, want);
	ck_assert_msg(hit && strstr(hit, needle), "no '%s' at line %d in:\n%s", needle, line,
		      ctx.errors.data);
	done(NULL, &ctx, path);
}

START_TEST(config_errors)
{
	expect_refused("election = {\n cluster = \"a+b\";\n};\n", 2, "'election.cluster'");
	expect_refused("election = {\n cluster = \"a*\";\n};\n", 2, "'election.cluster'");
	expect_refused("election = {\n cluster = \"\";\n};\n", 2, "'election.cluster'");
	expect_refused("election = {\n on_redis_down = \"maybe\";\n};\n", 2,
		       "must be one of: active, standby, keep");
	expect_refused("election = {\n interval_ms = 10;\n};\n", 2, "'election.interval_ms'");
	expect_refused("election = {\n cluster_id = -1;\n};\n", 2, "'election.cluster_id'");
	expect_refused("election = { interval_ms = 1000;\n ttl_ms = 1000;\n};\n", 2,
		       "must be longer than 'election.interval_ms' (1000 ms)");
	expect_refused("election = { interval_ms = 1000;\n ttl_ms = 900;\n};\n", 2,
		       "'election.ttl_ms' is 900 ms");
	expect_refused("election = {\n bogus = 1;\n};\n", 2, "bogus");
}
END_TEST

START_TEST(config_window_warning)
{
	struct cfg_ctx ctx;
	char *path;
	/* redis.timeout_ms is read from the file's root: 500 + 1500 + 3000 */
	struct config *cfg = load_elect("redis = { timeout_ms = 3000; };\n"
					"election = {\n standby_window_ms = 4999;\n};\n",
					&ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_msg(strstr(ctx.warnings.data, ":3: 'election.standby_window_ms' (4999 ms) is "
				"shorter than the worst takeover time (5000 ms"), "%s",
		      ctx.warnings.data);
	ck_assert_msg(strstr(ctx.warnings.data, "can lose events"), "%s", ctx.warnings.data);
	done(cfg, &ctx, path);

	cfg = load_elect("redis = { timeout_ms = 3000; };\n"
			 "election = {\n standby_window_ms = 5000;\n ttl_ms = 3600;\n};\n",
			 &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_msg(strstr(ctx.warnings.data, "standby_window_ms' (5000 ms)"), "%s",
		      ctx.warnings.data);	/* 3600 + 500 + 3000 */
	ck_assert_msg(!strstr(ctx.warnings.data, "'election.ttl_ms'"), "%s", ctx.warnings.data);
	done(cfg, &ctx, path);

	/* without a redis section the timeout is its default, 1000 ms */
	cfg = load_elect("election = {\n standby_window_ms = 2999;\n};\n", &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_msg(strstr(ctx.warnings.data, "(3000 ms = ttl_ms 1500 + interval_ms 500 + "
				"redis.timeout_ms 1000)"), "%s", ctx.warnings.data);
	done(cfg, &ctx, path);

	/* a ttl too short for one slow round is worth a warning too */
	cfg = load_elect("election = {\n interval_ms = 500;\n ttl_ms = 1200;\n};\n", &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_msg(strstr(ctx.warnings.data, ":3: 'election.ttl_ms' (1200 ms) is shorter than "
				"interval_ms + redis.timeout_ms (1500 ms)"), "%s", ctx.warnings.data);
	done(cfg, &ctx, path);
}
END_TEST

/* The job before it starts: status and metrics render, nothing is decided. */
START_TEST(job_status_before_start)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load_elect("node = { name = \"n1\"; };\n"
					"election = { cluster = \"g\"; cluster_id = 2; };\n",
					&ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	struct job_env env = { .node = &cfg->node, .redis = &cfg->redis };	/* no loop */
	void *job = election_job.create(&env, cfg->jobs[0]);
	ck_assert_ptr_nonnull(job);
	ck_assert(!elect_active(job));
	struct buf b = BUF_INIT;
	election_job.status(job, &b);
	char err[128];
	struct json *j = json_parse(b.data, b.len, err, sizeof(err));
	ck_assert_msg(j != NULL, "%s: %s", err, b.data);
	ck_assert_str_eq(json_get_str(j, "role", ""), "standby");
	ck_assert_str_eq(json_get_str(j, "cluster", ""), "g");
	ck_assert_str_eq(json_get_str(j, "node", ""), "n1");
	ck_assert_str_eq(json_get_str(j, "redis", ""), "unknown");
	ck_assert(json_get(j, "peers") && json_get(j, "peers")->type == JSON_ARR);
	ck_assert(json_get(j, "last_change")->type == JSON_NULL);
	json_free(j);
	buf_reset(&b);
	election_job.metrics(job, &b);
	ck_assert_msg(strstr(b.data, "# TYPE aggregatord_election_role gauge\n"
				     "aggregatord_election_role 0\n"), "%s", b.data);
	ck_assert(strstr(b.data, "aggregatord_election_transitions_total 0\n"));
	ck_assert(strstr(b.data, "# TYPE aggregatord_election_redis_errors_total counter\n"));
	ck_assert(strstr(b.data, "aggregatord_election_peers 0\n"));
	buf_release(&b);
	election_job.destroy(job);
	done(cfg, &ctx, path);
}
END_TEST

Suite *elect_suite(void)
{
	Suite *s = suite_create("elect");
	TCase *tc = tcase_create("decide");
	tcase_add_test(tc, forced_standby_beats_all);
	tcase_add_test(tc, forced_active_beats_redis_and_timestamps);
	tcase_add_test(tc, redis_down_follows_on_redis_down);
	tcase_add_test(tc, redis_blip_keeps_role);
	tcase_add_test(tc, smallest_timestamp_wins);
	tcase_add_test(tc, not_attached_is_standby);
	tcase_add_test(tc, name_held_is_standby);
	tcase_add_test(tc, first_good_round_does_not_promote);
	tcase_add_test(tc, tie_smaller_name_wins_on_both_nodes);
	tcase_add_test(tc, tie_among_others_is_no_tie_for_us);
	tcase_add_test(tc, exactly_one_active);
	tcase_add_test(tc, own_entry_missing_from_read);
	tcase_add_test(tc, expired_peer_no_longer_counts);
	tcase_add_test(tc, yield_goes_to_the_back);
	tcase_add_test(tc, overrides_are_not_elected);
	tcase_add_test(tc, override_to_elected_after_a_round);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_add_test(tc, key_building);
	tcase_add_test(tc, key_parsing);
	tcase_add_test(tc, key_parsing_other_groups);
	tcase_add_test(tc, key_parsing_hostile);
	tcase_add_test(tc, timestamp_parsing);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, config_defaults);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, config_window_warning);
	tcase_add_test(tc, job_status_before_start);
	suite_add_tcase(s, tc);
	return s;
}
