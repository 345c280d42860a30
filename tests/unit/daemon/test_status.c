/* test_status.c — /v1/status JSON and /metrics text rendered from a daemon state. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "json.h"
#include "job.h"
#include "suites.h"
#include "thread.h"

static struct config *tiny_config(char **path)
{
	struct cfg_ctx ctx;
	*path = unit_tmpfile("node = { name = \"agg-\\\"q\"; };\n");
	cfg_ctx_init(&ctx, *path);
	struct config *cfg = config_load(*path, &ctx, job_table);
	cfg_ctx_release(&ctx);
	return cfg;
}

START_TEST(status_is_json)
{
	char *path;
	struct config *cfg = tiny_config(&path);
	ck_assert_ptr_null(cfg);	/* '"' is not allowed in a node name */
	unlink(path);
	free(path);

	struct cfg_ctx ctx;
	path = unit_tmpfile("node = { name = \"agg-a\"; };\n");
	cfg_ctx_init(&ctx, path);
	cfg = config_load(path, &ctx, job_table);
	cfg_ctx_release(&ctx);
	ck_assert_ptr_nonnull(cfg);

	struct daemon d = { .cfg = cfg, .started = 1700000000, .started_mono = mono_usec() };
	d.reloads_ok = 2;
	d.reloads_failed = 1;
	d.last_reload = 1700000100;
	d.last_reload_ok = false;
	role_apply(&d.role, ROLE_CMD_ACTIVE, 1700000200, "signal");

	struct buf b = BUF_INIT;
	status_json(&d, &b);
	char err[128];
	struct json *j = json_parse(b.data, b.len, err, sizeof(err));
	ck_assert_msg(j != NULL, "%s in %s", err, b.data);
	ck_assert_str_eq(json_get_str(j, "node", ""), "agg-a");
	ck_assert_str_eq(json_get_str(j, "started", ""), "2023-11-14T22:13:20Z");
	const struct json *c = json_get(j, "config");
	ck_assert(json_get_num(c, "reloads_ok", 0) == 2);
	ck_assert(json_get_num(c, "reloads_failed", 0) == 1);
	ck_assert(!json_get(c, "last_reload_ok")->boolean);
	const struct json *r = json_get(j, "role");
	ck_assert_str_eq(json_get_str(r, "mode", ""), "forced-active");
	ck_assert(json_get_num(json_get(r, "commands"), "active", 0) == 1);
	ck_assert_str_eq(json_get_str(r, "last_source", ""), "signal");
	ck_assert_int_eq(json_get(j, "jobs")->type, JSON_ARR);
	json_free(j);

	buf_reset(&b);
	status_metrics(&d, &b);
	ck_assert_ptr_nonnull(strstr(b.data, "aggregatord_config_reloads_total{result=\"failed\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "aggregatord_role_overrides_total{command=\"active\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "aggregatord_config_last_reload_successful 0\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "# TYPE aggregatord_build_info gauge\n"));
	buf_release(&b);
	config_free(cfg);
	unlink(path);
	free(path);
}
END_TEST

/* A UDP port free on loopback right now. */
static int free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A totalizer rule's name is free text (a quote, a backslash, a newline are
 * accepted): as a label value it is escaped, so /metrics stays one sample a
 * line; in /v1/status it is a JSON key that reads back whole. */
START_TEST(rule_name_cannot_break_metrics)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "node = { name = \"agg-a\"; };\n"
		 "totalizer = { threads = 1; rules = ( { name = \"q\\\"b\\\\s\\nn\"; prefix = \"seq\";\n"
		 "  listen = \"127.0.0.1:%d\"; match = \"seq=(\\\\d+)\"; matched = \"$1\"; } ); };\n",
		 free_udp_port());
	char *path = unit_tmpfile(text);
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, job_table);
	cfg_ctx_release(&ctx);
	ck_assert_ptr_nonnull(cfg);

	struct daemon d = { .cfg = cfg, .started = 1700000000, .started_mono = mono_usec() };
	daemon_env_update(&d);
	size_t slot = 0;
	while (job_table[slot] && strcmp(job_table[slot]->name, "totalizer") != 0)
		slot++;
	ck_assert_ptr_nonnull(job_table[slot]);
	d.jobs[slot] = job_table[slot]->create(&d.env, cfg->jobs[slot]);
	ck_assert_ptr_nonnull(d.jobs[slot]);

	struct buf b = BUF_INIT;
	status_metrics(&d, &b);
	ck_assert(!b.oom);
	ck_assert_ptr_nonnull(strstr(b.data, "aggregatord_totalizer_matched_total{rule=\"q\\\"b\\\\s\\nn\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "aggregatord_totalizer_dropped_lines_total"
					     "{rule=\"q\\\"b\\\\s\\nn\",cause=\"keys_limit\"} 0\n"));
	/* every line a comment or a sample of ours */
	for (const char *l = b.data; *l; l = strchr(l, '\n') + 1)
		ck_assert_msg(*l == '#' || strncmp(l, "aggregatord_", 12) == 0, "broken line: %.40s", l);

	buf_reset(&b);
	status_json(&d, &b);
	char err[128];
	struct json *j = json_parse(b.data, b.len, err, sizeof(err));
	ck_assert_msg(j != NULL, "%s in %s", err, b.data);
	const struct json *job = json_get(j, "jobs")->child;
	for (size_t i = 0; i < slot; i++)
		job = job->next;
	ck_assert_str_eq(json_get_str(job, "name", ""), "totalizer");
	const struct json *rules = json_get(json_get(job, "status"), "rules");
	ck_assert_ptr_nonnull(rules);
	ck_assert_str_eq(rules->child->key, "q\"b\\s\nn");
	json_free(j);

	buf_release(&b);
	job_table[slot]->destroy(d.jobs[slot]);
	config_free(cfg);
	unlink(path);
	free(path);
}
END_TEST

Suite *status_suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("render");
	tcase_add_test(tc, status_is_json);
	tcase_add_test(tc, rule_name_cannot_break_metrics);
	suite_add_tcase(s, tc);
	return s;
}
