/*
 * totals.h — the totals query's Redis shell: the pages of one prefix's keys
 * read from Redis and fed to the pure core (window.h, which has the
 * contract and the window rule).
 *
 * Threads: totals_run() does blocking Redis I/O on the caller's connection:
 * call it from a worker thread that owns that connection, never from the
 * event loop.
 *
 * Ownership: as in window.h; the connection stays the caller's.
 */
#ifndef AGG_TOTALS_H
#define AGG_TOTALS_H

#include <stddef.h>

#include "window.h"

#define TOTALS_SCAN_COUNT 1000		/* SCAN ... COUNT hint: keys per page */

/*
 * Run q against Redis with SCAN ... MATCH ... COUNT and one MGET per page
 * (memory bounded by a page plus the totals), each command within
 * timeout_ms as a whole (redisc.h).  Blocks: worker threads only.
 * Returns 0 with *out filled (caller releases it), or -1 with a message in
 * err naming what failed (e.g. "redis SCAN failed: connection refused") and
 * *out empty.
 */
struct redisContext;
int totals_run(struct redisContext *c, int timeout_ms, const struct totals_query *q,
	       struct totals_result *out, char *err, size_t errlen);

#endif
