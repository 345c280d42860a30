/*
 * totals_cli.c — test driver for the totals query's Redis shell: runs
 * totals_run() once against a real Redis and prints totals_json() on stdout.
 *
 *   totals_cli [-t TTL_S] HOST PORT PREFIX WINDOW_S WIDTH_S NOW [FIELD|* ...]
 *
 * -t gives the keys' ttl (the query then warns when the window is longer).
 * Exit status 0 with the JSON and a newline, 1 with "totals_cli: message"
 * on stderr when the query failed, 2 on a usage error.  Single-threaded; it
 * owns its one Redis connection.  Built by tests/integration/
 * test_totals_redis.sh against build/libagg.a.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "totals.h"

static long long num(const char *s, const char *what)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end) {
		fprintf(stderr, "totals_cli: %s '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long long ttl = 0;
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		ttl = num(argv[2], "ttl");
		argc -= 2;
		argv += 2;
	}
	if (argc < 7) {
		fprintf(stderr, "usage: totals_cli [-t TTL_S] HOST PORT PREFIX WINDOW_S WIDTH_S NOW [FIELD|* ...]\n");
		return 2;
	}
	struct totals_query q = {
		.prefix = argv[3],
		.fields = (const char *const *)argv + 7,
		.nfields = (size_t)(argc - 7),
		.window_s = num(argv[4], "window"),
		.width_s = num(argv[5], "width"),
		.ttl_s = ttl,
		.now = num(argv[6], "now"),
	};
	struct timeval tv = { .tv_sec = 5 };
	redisContext *c = redisConnectWithTimeout(argv[1], (int)num(argv[2], "port"), tv);
	if (!c || c->err) {
		fprintf(stderr, "totals_cli: cannot connect to redis %s:%s: %s\n", argv[1], argv[2],
			c ? c->errstr : "out of memory");
		redisFree(c);
		return 1;
	}
	struct totals_result r;
	struct buf out = BUF_INIT;
	char err[256];
	int rc = 1;
	if (totals_run(c, 5000, &q, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "totals_cli: %s\n", err);
	} else if (totals_json(&r, &out) < 0) {
		fprintf(stderr, "totals_cli: out of memory for the JSON\n");
	} else {
		printf("%s\n", out.data);
		rc = 0;
	}
	totals_result_release(&r);	/* empty after a failure */
	buf_release(&out);
	redisFree(c);
	return rc;
}
