/*
 * bench_core.c — foundation benchmarks, each figure beside a baseline
 * measured in the same run:
 *   - config: aggregatord's full parse and validation of a file vs. a bare
 *     libconfig read of the same file;
 *   - HTTP: requests per second for /v1/status and /metrics from a live
 *     daemon vs. /healthz (the server's fixed cost per request);
 *   - the cost of a whole-call deadline: Redis PINGs per second through
 *     redis_call() (the socket's timeout set before each wait, the call
 *     declared to the watchdog) vs. hiredis's own redisCommand() on the same
 *     connection, the two interleaved, best of five rounds each.
 * usage: bench_core CONFIG_FILE [URL [REDIS_PORT]]
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "job.h"
#include "httpc.h"
#include "log.h"
#include "redisc.h"
#include "thread.h"

static double per_second(unsigned long n, uint64_t us)
{
	return us ? (double)n * 1e6 / (double)us : 0;
}

static double bench_config(const char *file, bool full)
{
	uint64_t t0 = mono_usec(), t;
	unsigned long n = 0;
	do {
		if (full) {
			struct cfg_ctx ctx;
			cfg_ctx_init(&ctx, file);
			struct config *cfg = config_load(file, &ctx, job_table);
			if (!cfg) {
				fprintf(stderr, "%s", ctx.errors.data);
				exit(1);
			}
			config_free(cfg);
			cfg_ctx_release(&ctx);
		} else {
			config_t lc;
			config_init(&lc);
			config_set_options(&lc, 0);
			if (config_read_file(&lc, file) != CONFIG_TRUE)
				exit(1);
			config_destroy(&lc);
		}
		n++;
		t = mono_usec() - t0;
	} while (t < 1000000);
	return per_second(n, t);
}

static double bench_http(const char *url)
{
	uint64_t t0 = mono_usec(), t;
	unsigned long n = 0;
	char err[256];
	do {
		struct httpc_resp r;
		if (httpc_request("GET", url, NULL, NULL, NULL, 5000, &r, err, sizeof(err)) < 0 ||
		    r.status != 200) {
			fprintf(stderr, "bench: %s: %s\n", url, err);
			exit(1);
		}
		buf_release(&r.body);
		n++;
		t = mono_usec() - t0;
	} while (t < 2000000);
	return per_second(n, t);
}

/* PINGs per second for 0.5 s: through the deadline, or hiredis's own call. */
static double redis_round(redisContext *c, bool deadline)
{
	uint64_t t0 = mono_usec(), t;
	unsigned long n = 0;
	do {
		for (int k = 0; k < 256; k++, n++) {
			redisReply *r = deadline ? redis_call(c, redis_deadline(1000), "PING")
						 : redisCommand(c, "PING");
			if (!r || r->type != REDIS_REPLY_STATUS) {
				fprintf(stderr, "bench: PING: %s\n", r ? "unexpected reply" : c->errstr);
				exit(1);
			}
			freeReplyObject(r);
		}
		t = mono_usec() - t0;
	} while (t < 500000);
	return per_second(n, t);
}

static void bench_redis(int port)
{
	struct redis_cfg rc = { .host = "127.0.0.1", .port = port, .password = "", .timeout_ms = 1000 };
	char err[256];
	redisContext *c = redis_connect(&rc, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "bench: redis: %s\n", err);
		exit(1);
	}
	double best[2] = { 0, 0 };
	for (int round = 0; round < 5; round++)
		for (int d = 0; d < 2; d++) {
			double r = redis_round(c, d);
			if (r > best[d])
				best[d] = r;
		}
	redisFree(c);
	printf("%-44s %12.0f /s   baseline %12.0f /s (hiredis redisCommand)    ratio %.2f\n",
	       "Redis PING with a whole-call deadline", best[1], best[0], best[1] / best[0]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_core CONFIG_FILE [URL]\n");
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	double raw = bench_config(argv[1], false), full = bench_config(argv[1], true);
	printf("%-44s %12.0f /s   baseline %12.0f /s (bare libconfig read)   ratio %.2f\n",
	       "config parse + validate (sample config)", full, raw, full / raw);
	if (argc > 3)
		bench_redis(atoi(argv[3]));
	if (argc > 2) {
		char u[512];
		snprintf(u, sizeof(u), "%s/healthz", argv[2]);
		double base = bench_http(u);
		static const char *paths[] = { "/v1/status", "/metrics" };
		for (size_t i = 0; i < 2; i++) {
			snprintf(u, sizeof(u), "%s%s", argv[2], paths[i]);
			double r = bench_http(u);
			printf("HTTP GET %-35s %12.0f /s   baseline %12.0f /s (GET /healthz)            ratio %.2f\n",
			       paths[i], r, base, r / base);
		}
	}
	return 0;
}
