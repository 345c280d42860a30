/*
 * test_config.c — the config engine: a good file, defaults, every kind of
 * error with its FILE:LINE, job sections through a test job table, and the
 * restart-only keys on reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "job.h"
#include "log.h"
#include "suites.h"

static struct config *load(const char *text, struct cfg_ctx *ctx, char **path)
{
	*path = unit_tmpfile(text);
	cfg_ctx_init(ctx, *path);
	return config_load(*path, ctx, job_table);
}

/* Assert that text fails with an error line "FILE:line: ...needle...". */

START_TEST(good_file_and_defaults)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load(
		"node = { name = \"agg-a\"; state_dir = \"/var/lib/x\"; };\n"
		"log = { level = \"debug\"; };\n"
		"http = { listen = \"[::1]:9000\"; token = \"s3cret\"; };\n"
		"redis = { host = \"10.0.0.5\"; port = 6380; db = 2; };\n"
		"kafka = { brokers = \"k1:9092,k2:9092\"; properties = [ \"linger.ms=5\", \"acks=all\" ]; };\n",
		&ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_str_eq(cfg->node.name, "agg-a");
	ck_assert_str_eq(cfg->node.state_dir, "/var/lib/x");
	ck_assert_int_eq(cfg->log.level, LOG_LVL_DEBUG);
	ck_assert_str_eq(cfg->http.listen, "[::1]:9000");
	ck_assert_str_eq(cfg->http.token, "s3cret");
	ck_assert_int_eq(cfg->http.max_body, 65536);
	ck_assert_str_eq(cfg->redis.host, "10.0.0.5");
	ck_assert_int_eq(cfg->redis.port, 6380);
	ck_assert_int_eq(cfg->redis.db, 2);
	ck_assert_int_eq(cfg->redis.timeout_ms, 1000);
	ck_assert_str_eq(cfg->kafka.topic_prefix, "aggregatord.");
	ck_assert_uint_eq(cfg->kafka.properties.n, 2);
	ck_assert_str_eq(cfg->kafka.properties.items[0].key, "linger.ms");
	ck_assert_str_eq(cfg->kafka.properties.items[0].value, "5");
	ck_assert_str_eq(cfg->kafka.properties.items[1].value, "all");
	config_free(cfg);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(empty_file_gets_defaults)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load("", &ctx, &path);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	ck_assert_str_eq(cfg->http.listen, "127.0.0.1:8089");
	ck_assert_str_eq(cfg->node.state_dir, "/var/lib/aggregatord");
	ck_assert_int_eq(cfg->log.level, LOG_LVL_INFO);
	ck_assert(cfg->node.name[0] != '\0');	/* the host name */
	config_free(cfg);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(errors_with_lines)
{
	unit_expect_cfg_error("node = {\n  name = \"ok\";\n  nmae = \"typo\";\n};\n", 3, "unknown key 'node.nmae'");
	unit_expect_cfg_error("\n\nbogus = { };\n", 3, "unknown section 'bogus'");
	unit_expect_cfg_error("log = { level = \"loud\"; };\n", 1, "must be one of: error, warn, info, debug");
	unit_expect_cfg_error("log = {\n level = 3;\n};\n", 2, "must be a string, not an integer");
	unit_expect_cfg_error("redis = {\n\n port = 70000;\n};\n", 3, "must be 1..65535");
	unit_expect_cfg_error("redis = { port = \"6379\"; };\n", 1, "must be an integer, not a string");
	unit_expect_cfg_error("redis = { timeout_ms = 1.5; };\n", 1, "must be an integer, not a float");
	unit_expect_cfg_error("http = {\n listen = \"localhost\";\n};\n", 2, "expected host:port");
	unit_expect_cfg_error("http = { listen = \"::1:80\"; };\n", 1, "brackets");
	unit_expect_cfg_error("http = { listen = \"1.2.3.4:0\"; };\n", 1, "port must be 1..65535");
	unit_expect_cfg_error("http = { token = \"has space\"; };\n", 1, "printable ASCII");
	unit_expect_cfg_error("node = { state_dir = \"relative/dir\"; };\n", 1, "absolute path");
	unit_expect_cfg_error("node = { state_dir = \"/var/../etc\"; };\n", 1, "'..'");
	unit_expect_cfg_error("node = { name = \"a+b\"; };\n", 1, "may hold only letters");
	unit_expect_cfg_error("kafka = { topic_prefix = \"a/b\"; };\n", 1, "Kafka topic");
	unit_expect_cfg_error("kafka = {\n properties = [ \"noequals\" ];\n};\n", 2, "name=value");
	unit_expect_cfg_error("node = 5;\n", 1, "must be a group");
	unit_expect_cfg_error("node = {\n name = \"x\";\n\n", 4, "syntax error");
	unit_expect_cfg_error("node = { name = \"x\"; name = \"y\"; };\n", 1, "duplicate");
	unit_expect_cfg_error("http = { max_body = 10; };\nredis = { db = -1; };\n", 2, "'redis.db'");
}
END_TEST

START_TEST(all_errors_reported)
{
	struct cfg_ctx ctx;
	char *path;
	struct config *cfg = load("node = { x = 1; };\nredis = { port = 0; };\nlog = { level = \"x\"; };\n",
				  &ctx, &path);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(ctx.nerrors, 3);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(unreadable_file)
{
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, "/nonexistent/aggregatord.conf");
	ck_assert_ptr_null(config_load("/nonexistent/aggregatord.conf", &ctx, job_table));
	ck_assert_ptr_nonnull(strstr(ctx.errors.data, "/nonexistent/aggregatord.conf: cannot read"));
	cfg_ctx_release(&ctx);
}
END_TEST

/*
 * A file holding a secret (http.token, any password or token) that others,
 * or a group other than the daemon's own, may read gets a warning with the
 * secret's FILE:LINE; the config still loads.
 */
static char *secret_warnings(const char *text, mode_t mode, gid_t gid)
{
	struct cfg_ctx ctx;
	char *path = unit_tmpfile(text);
	ck_assert_int_eq(chown(path, (uid_t)-1, gid), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, job_table);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	config_free(cfg);
	char *w = strdup(ctx.warnings.data);
	ck_assert_ptr_nonnull(w);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
	return w;
}

static void expect_warning(const char *text, mode_t mode, gid_t gid, const char *needle)
{
	char *w = secret_warnings(text, mode, gid);
	if (needle)
		ck_assert_msg(strstr(w, needle) != NULL, "mode %04o gid %u: '%s' lacks '%s'",
			      (unsigned)mode, (unsigned)gid, w, needle);
	else
		ck_assert_msg(strstr(w, "secret") == NULL, "mode %04o gid %u: unexpected '%s'",
			      (unsigned)mode, (unsigned)gid, w);
	free(w);
}

START_TEST(secret_file_mode)
{
	const char *tok = "node = { name = \"a\"; };\n\nhttp = { token = \"s3cret\"; };\n";
	const char *pw = "node = { name = \"a\"; };\nredis = {\n  password = \"pw\";\n};\n";
	const char *none = "node = { name = \"a\"; };\nhttp = { token = \"\"; };\nredis = { password = \"\"; };\n";
	gid_t own = getegid();

	expect_warning(tok, 0600, own, NULL);
	expect_warning(tok, 0640, own, NULL);	/* the daemon's own group */
	expect_warning(tok, 0644, own, ":3: 'http.token' is a secret in a file readable by others (mode 0644)");
	expect_warning(tok, 0604, own, "readable by others (mode 0604)");
	expect_warning(pw, 0644, own, ":3: 'redis.password' is a secret in a file readable by others");
	expect_warning(none, 0644, own, NULL);	/* empty: nothing to protect */

	/* Group-readable by a group the daemon does not run as. */
	gid_t other = own == 65534 ? 65533 : 65534;
	if (geteuid() != 0) {
		/* chown to a group needs root or membership: use a supplementary group */
		gid_t gs[64];
		int n = getgroups(64, gs);
		other = own;
		for (int i = 0; i < n; i++)
			if (gs[i] != own)
				other = gs[i];
	}
	if (other != own) {
		char want[128];
		snprintf(want, sizeof(want), "readable by group %u (mode 0640)", (unsigned)other);
		expect_warning(tok, 0640, other, want);
		expect_warning(tok, 0600, other, NULL);
	}
}
END_TEST

/* A job section through the same engine, as a job would define it. */
struct demo_cfg {
	bool enabled;
	int interval;
	char *name;
	struct demo_member { char *host; int port; } *members;
	size_t nmembers;
};

static const struct cfg_key member_keys[] = {
	{ .name = "host", .type = CFG_T_STR, .offset = offsetof(struct demo_member, host),
	  .flags = CFG_REQUIRED, .check = cfg_check_nonempty },
	{ .name = "port", .type = CFG_T_INT, .offset = offsetof(struct demo_member, port),
	  .min = 1, .max = 65535, .idef = 3306 },
	{ .name = NULL },
};

static int parse_members(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct demo_cfg *c = (struct demo_cfg *)((char *)field - offsetof(struct demo_cfg, members));
	void *arr;
	int rc = cfg_parse_list(ctx, s, "demo.members", member_keys, sizeof(struct demo_member),
				&arr, &c->nmembers);
	c->members = arr;
	return rc;
}

static void free_members(void *field)
{
	struct demo_cfg *c = (struct demo_cfg *)((char *)field - offsetof(struct demo_cfg, members));
	cfg_free_list(member_keys, sizeof(struct demo_member), c->members, c->nmembers);
}

static const struct cfg_key demo_keys[] = {
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = offsetof(struct demo_cfg, enabled), .idef = 1 },
	{ .name = "interval", .type = CFG_T_INT, .offset = offsetof(struct demo_cfg, interval),
	  .min = 1, .max = 86400, .idef = 60, .unit = "s" },
	{ .name = "name", .type = CFG_T_STR, .offset = offsetof(struct demo_cfg, name),
	  .sdef = "d", .flags = CFG_RESTART },
	{ .name = "members", .type = CFG_T_CUSTOM, .offset = offsetof(struct demo_cfg, members),
	  .custom = parse_members, .custom_free = free_members },
	{ .name = NULL },
};

static int demo_validate(struct cfg_ctx *ctx, const config_setting_t *sec, void *cfg)
{
	struct demo_cfg *c = cfg;
	if (c->enabled && c->nmembers == 0)
		return cfg_error(ctx, sec, "'demo' needs at least one member");
	return 0;
}

static const struct job_ops demo_job = {
	.name = "demo", .keys = demo_keys, .cfg_size = sizeof(struct demo_cfg),
	.validate = demo_validate,
};
static const struct job_ops *const demo_table[] = { &demo_job, NULL };

START_TEST(job_section)
{
	struct cfg_ctx ctx;
	char *path = unit_tmpfile("demo = {\n interval = 5;\n members = (\n"
				  "  { host = \"a\"; },\n  { host = \"b\"; port = 3307; }\n );\n};\n");
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, demo_table);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	struct demo_cfg *d = cfg->jobs[0];
	ck_assert_ptr_nonnull(d);
	ck_assert(d->enabled);
	ck_assert_int_eq(d->interval, 5);
	ck_assert_str_eq(d->name, "d");
	ck_assert_uint_eq(d->nmembers, 2);
	ck_assert_str_eq(d->members[1].host, "b");
	ck_assert_int_eq(d->members[0].port, 3306);
	ck_assert_int_eq(d->members[1].port, 3307);
	config_free(cfg);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);

	/* Errors inside list elements and from validate carry their lines. */
	path = unit_tmpfile("demo = {\n members = (\n  { port = 1; },\n  { host = \"b\"; port = 0; }\n );\n};\n");
	cfg_ctx_init(&ctx, path);
	ck_assert_ptr_null(config_load(path, &ctx, demo_table));
	ck_assert_msg(strstr(ctx.errors.data, ":3: 'demo.members[0].host' is required"), "%s",
		      ctx.errors.data);
	ck_assert_msg(strstr(ctx.errors.data, ":4: 'demo.members[1].port' is 0"), "%s",
		      ctx.errors.data);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);

	path = unit_tmpfile("\ndemo = { interval = 5; };\n");
	cfg_ctx_init(&ctx, path);
	ck_assert_ptr_null(config_load(path, &ctx, demo_table));
	ck_assert_msg(strstr(ctx.errors.data, ":2: 'demo' needs at least one member"), "%s",
		      ctx.errors.data);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(restart_keys_kept)
{
	struct cfg_ctx ctx;
	char *p1, *p2;
	struct config *a = load("node = { name = \"one\"; };\nhttp = { listen = \"127.0.0.1:1000\"; token = \"t1\"; };\n", &ctx, &p1);
	cfg_ctx_release(&ctx);
	struct config *b = load("node = { name = \"two\"; };\nhttp = { listen = \"127.0.0.1:2000\"; token = \"t2\"; };\n", &ctx, &p2);
	cfg_ctx_release(&ctx);
	ck_assert(a && b);
	config_carry_restart_keys(a, b);
	ck_assert_str_eq(b->node.name, "one");		/* restart-only: kept */
	ck_assert_str_eq(b->http.listen, "127.0.0.1:1000");
	ck_assert_str_eq(b->http.token, "t2");		/* runtime: applied */
	config_free(a);
	config_free(b);
	unlink(p1);
	unlink(p2);
	free(p1);
	free(p2);
}
END_TEST

/*
 * The kafka section works like the others: present means enabled unless it
 * says enabled = false; absent means no Kafka.  A job that publishes with no
 * Kafka to publish to is worth a warning from -n.
 */
START_TEST(kafka_present_means_enabled)
{
	static const char tot[] =
		"totalizer = { rules = ( { prefix = \"p\"; listen = \"127.0.0.1:3430\"; "
		"match = \"(x)\"; matched = \"$1\"; source = \"s\"; } ); };\n";
	static const struct {
		const char *kafka;	/* the kafka section, or "" */
		bool job;		/* with a publishing job (totalizer) */
		bool enabled;		/* cfg->kafka.enabled expected */
		bool warned;		/* a warning naming the dropped events expected */
	} cases[] = {
		{ "kafka = { brokers = \"k1:9092\"; };\n", false, true, false },
		{ "kafka = { brokers = \"k1:9092\"; };\n", true, true, false },
		{ "kafka = { };\n", true, true, false },
		{ "kafka = { enabled = true; };\n", true, true, false },
		{ "kafka = { enabled = false; brokers = \"k1:9092\"; };\n", false, false, false },
		{ "kafka = { enabled = false; brokers = \"k1:9092\"; };\n", true, false, true },
		{ "", false, false, false },
		{ "", true, false, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), "%s%s", cases[i].kafka, cases[i].job ? tot : "");
		struct cfg_ctx ctx;
		char *path;
		struct config *cfg = load(text, &ctx, &path);
		ck_assert_msg(cfg != NULL, "case %zu: %s", i, ctx.errors.data);
		ck_assert_msg(cfg->kafka.enabled == cases[i].enabled, "case %zu: kafka.enabled is %d",
			      i, cfg->kafka.enabled);
		const char *w = ctx.warnings.data ? ctx.warnings.data : "";
		bool warned = strstr(w, "no kafka") != NULL;
		ck_assert_msg(warned == cases[i].warned, "case %zu: warnings: '%s'", i, w);
		if (warned)
			ck_assert_msg(strstr(w, "'totalizer'") && strstr(w, "totals"),
				      "case %zu: the warning names the job and topic: '%s'", i, w);
		config_free(cfg);
		cfg_ctx_release(&ctx);
		unlink(path);
		free(path);
	}
}
END_TEST

/* Every core key is documented in docs/config.md and shown in the sample. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (run from the repository top)", path);
	static char text[1 << 18];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return strdup(text);
}

START_TEST(keys_documented)
{
	static const struct { const char *sec; const struct cfg_key *keys; } secs[] = {
		{ "node", node_keys }, { "log", log_keys }, { "http", http_keys },
		{ "redis", redis_keys }, { "kafka", kafka_keys },
	};
	char *doc = slurp("docs/config.md"), *sample = slurp("conf/aggregatord.conf");
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		for (const struct cfg_key *k = secs[i].keys; k->name; k++) {
			char want[128];
			snprintf(want, sizeof(want), "`%s.%s`", secs[i].sec, k->name);
			ck_assert_msg(strstr(doc, want), "docs/config.md lacks %s", want);
			snprintf(want, sizeof(want), "%s =", k->name);
			ck_assert_msg(strstr(sample, want), "conf/aggregatord.conf lacks '%s'", want);
		}
	}
	/* Each job's keys are in its own page and in the sample. */
	for (size_t j = 0; job_table[j]; j++) {
		char page[64];
		snprintf(page, sizeof(page), "docs/%s.md", job_table[j]->name);
		char *jdoc = slurp(page);
		for (const struct cfg_key *k = job_table[j]->keys; k->name; k++) {
			char want[128];
			snprintf(want, sizeof(want), "`%s.%s`", job_table[j]->name, k->name);
			ck_assert_msg(strstr(jdoc, want), "%s lacks %s", page, want);
			snprintf(want, sizeof(want), "%s =", k->name);
			ck_assert_msg(strstr(sample, want), "conf/aggregatord.conf lacks '%s'", want);
		}
		free(jdoc);
	}
	free(doc);
	free(sample);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, good_file_and_defaults);
	tcase_add_test(tc, empty_file_gets_defaults);
	tcase_add_test(tc, errors_with_lines);
	tcase_add_test(tc, all_errors_reported);
	tcase_add_test(tc, unreadable_file);
	tcase_add_test(tc, secret_file_mode);
	tcase_add_test(tc, job_section);
	tcase_add_test(tc, restart_keys_kept);
	tcase_add_test(tc, keys_documented);
	tcase_add_test(tc, kafka_present_means_enabled);
	suite_add_tcase(s, tc);
	return s;
}
