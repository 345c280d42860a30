/*
 * cfg_keys.c — prints every config key the daemon accepts, one path a line:
 * `http.listen`, `sweep.master.host`, `totalizer.rules[].prefix`.
 *
 *   cfg_keys SAMPLE.conf
 *
 * The core sections' tables (node_keys ...) and each job's (job_table[i]->
 * keys) are exported; the nested ones (sweep.master, sweep.members,
 * rollup.influxdb, rollup.locations, totalizer.rules) are static to their
 * job, reached only through the job's custom parser.  So this program is
 * linked with `-Wl,--wrap=cfg_parse_section,--wrap=cfg_parse_list`: it loads
 * SAMPLE (the annotated sample, which holds every nested group: the unit
 * test keys_documented checks that) and records each table a job's parser
 * hands to the engine, with the name it gives it.  Nothing else changes:
 * the wrappers call the real functions.
 *
 * Exit status 0, 1 when SAMPLE does not load.  Used by tests/man/
 * check-man.sh to hold man/aggregatord.conf.5 to the code.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "job.h"

int __real_cfg_parse_section(struct cfg_ctx *ctx, const config_setting_t *sec,
			     const char *secname, const struct cfg_key *keys, void *out);
int __real_cfg_parse_list(struct cfg_ctx *ctx, const config_setting_t *list, const char *what,
			  const struct cfg_key *keys, size_t elem_size, void **out, size_t *n);
int __wrap_cfg_parse_section(struct cfg_ctx *ctx, const config_setting_t *sec,
			     const char *secname, const struct cfg_key *keys, void *out);
int __wrap_cfg_parse_list(struct cfg_ctx *ctx, const config_setting_t *list, const char *what,
			  const struct cfg_key *keys, size_t elem_size, void **out, size_t *n);

#define MAX_NESTED 64

/* The nested tables seen, by path ("sweep.master", "totalizer.rules[]"). */
static struct {
	char path[96];
	const struct cfg_key *keys;
} nested[MAX_NESTED];
static size_t nnested;

static void record(const char *path, const char *suffix, const struct cfg_key *keys)
{
	char p[96];
	snprintf(p, sizeof(p), "%s%s", path, suffix);
	for (size_t i = 0; i < nnested; i++)
		if (strcmp(nested[i].path, p) == 0)
			return;
	if (nnested < MAX_NESTED) {
		snprintf(nested[nnested].path, sizeof(nested[nnested].path), "%s", p);
		nested[nnested++].keys = keys;
	}
}

int __wrap_cfg_parse_section(struct cfg_ctx *ctx, const config_setting_t *sec,
			     const char *secname, const struct cfg_key *keys, void *out)
{
	record(secname, "", keys);
	return __real_cfg_parse_section(ctx, sec, secname, keys, out);
}

int __wrap_cfg_parse_list(struct cfg_ctx *ctx, const config_setting_t *list, const char *what,
			  const struct cfg_key *keys, size_t elem_size, void **out, size_t *n)
{
	record(what, "[]", keys);
	return __real_cfg_parse_list(ctx, list, what, keys, elem_size, out, n);
}

static void print_table(const char *path, const struct cfg_key *keys)
{
	for (const struct cfg_key *k = keys; k->name; k++)
		printf("%s.%s\n", path, k->name);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cfg_keys SAMPLE.conf\n");
		return 2;
	}
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, argv[1]);
	struct config *cfg = config_load(argv[1], &ctx, job_table);
	if (!cfg) {
		fprintf(stderr, "cfg_keys: %s", ctx.errors.data);
		cfg_ctx_release(&ctx);
		return 1;
	}
	static const struct {
		const char *sec;
		const struct cfg_key *keys;
	} core[] = {
		{ "node", node_keys }, { "log", log_keys }, { "http", http_keys },
		{ "redis", redis_keys }, { "kafka", kafka_keys },
	};
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		print_table(core[i].sec, core[i].keys);
	for (size_t j = 0; job_table[j]; j++)
		print_table(job_table[j]->name, job_table[j]->keys);
	/* The nested tables: those whose path is not a top section. */
	for (size_t i = 0; i < nnested; i++) {
		if (!strchr(nested[i].path, '.'))
			continue;
		print_table(nested[i].path, nested[i].keys);
	}
	config_free(cfg);
	cfg_ctx_release(&ctx);
	return 0;
}
