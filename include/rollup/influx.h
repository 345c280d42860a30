/*
 * influx.h — the rollup's InfluxDB side: one query per hour over InfluxDB
 * 1.x's HTTP API, and the per-VM hourly record computed from the samples.
 *
 * Data model (every name configurable): measurement vm_usage, tags account,
 * cloudspace, vm; gauges mem_mib (MiB in use) and disk_gib (provisioned
 * GiB); cumulative counters cpu_seconds, io_read, io_write, net_tx_bytes,
 * net_rx_bytes.  The hourly record per VM and its rules: vm_hour.h.
 *
 * The query (see src/rollup/influx_parse.c for why chunked JSON):
 *   SELECT <7 fields> FROM "<m>" WHERE time >= H-lookback AND time < H+3600
 *   GROUP BY "<account>","<cloudspace>","<vm>"
 * with epoch=s, chunked=true, identifiers double-quoted after
 * influx_check_identifier().
 *
 * Threads: influx_rollup_hour() and influx_read_hour() block (a libevent
 * event_base of their own per call): call them from a worker thread, never
 * from the event loop.  The pure parts (vm_acc, the parser, the query text,
 * the identifier check) may be used from any thread.
 *
 * Ownership: a struct influx_cfg only borrows its strings.  The strings
 * handed to an influx_vm_cb live until the callback returns (copy them).
 * A parser is freed with influx_parser_free().
 */
#ifndef AGG_INFLUX_H
#define AGG_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "influx_parse.h"
#include "vm_hour.h"

#define INFLUX_DEFAULT_LOOKBACK 3600	/* s, when lookback_s is 0 */
#define INFLUX_DEFAULT_TIMEOUT 60	/* s, when timeout_s is 0 */
#define INFLUX_MAX_IDENT 255		/* bytes: longest config identifier */
#define INFLUX_CHUNK_SIZE 10000		/* points per chunk asked of InfluxDB */

struct influx_cfg {
	const char *url;		/* "http://host:port" (an optional path prefix is kept) */
	const char *db, *user, *password;	/* user/password "" or NULL = none */
	const char *measurement;
	const char *tag_account, *tag_cloudspace, *tag_vm;
	const char *field_mem, *field_disk, *field_cpu, *field_io_read, *field_io_write, *field_net_tx, *field_net_rx;
	int timeout_s;			/* whole query (connect included); 0 = INFLUX_DEFAULT_TIMEOUT */
	int lookback_s;			/* how far before H to look for the last sample; 0 = INFLUX_DEFAULT_LOOKBACK */
	const int *cancel_fd;		/* NULL, or a descriptor (the caller's) that becomes
					 * readable when the query must give up: the job's stop */
};

/* influx_rollup_hour()'s -1 said more precisely (both are < 0 too). */
#define INFLUX_TIMEOUT (-2)		/* the whole-call deadline passed */
#define INFLUX_CANCELLED (-3)		/* cancel_fd became readable */

/*
 * Blocking (call from a worker thread, never the event loop): query InfluxDB
 * 1.x over its HTTP API with libevent's HTTP client on an event_base of its
 * own, streaming and parsing the answer as it arrives (memory bounded by the
 * number of VMs, not points), and call cb per VM.  0, or -1 with err, e.g.
 * "influxdb http://127.0.0.1:8086: connection refused",
 * "influxdb: HTTP 400: error parsing query: ...",
 * "influxdb: database not found: usage",
 * "influxdb http://127.0.0.1:8086: timed out after 60 s" (INFLUX_TIMEOUT),
 * "influxdb http://127.0.0.1:8086: cancelled (stopping)" (INFLUX_CANCELLED).
 * timeout_s is one deadline for the whole call (connect, headers, a body
 * that trickles), not one per read.
 * After a failure some callbacks may already have run: the caller discards them.
 * st (may be NULL) is filled either way.
 */
int influx_rollup_hour(const struct influx_cfg *cfg, long long hour_start, influx_vm_cb cb, void *arg,
		       struct influx_stats *st, char *err, size_t errlen);

/* The same query, only reading and parsing the rows (the benchmark's floor). */
int influx_read_hour(const struct influx_cfg *cfg, long long hour_start, struct influx_stats *st,
		     char *err, size_t errlen);

/* Is a config identifier (measurement, tag, field name) safe to quote into InfluxQL?  NULL or the reason. */
const char *influx_check_identifier(const char *s);

/*
 * The InfluxQL text of the hour's query (appended to out).  NULL names take
 * the defaults above.  0, or -1 with the reason in err (a bad identifier,
 * a negative lookback, out of memory).
 */
int influx_query(const struct influx_cfg *cfg, long long hour_start, struct buf *out,
		 char *err, size_t errlen);

/* The configured names (measurement, 3 tags, 7 fields), NULL taking the default. */
void influx_names(const struct influx_cfg *cfg, const char *out[11]);
/* The lookback in seconds (the default when lookback_s is 0). */
int influx_lookback(const struct influx_cfg *cfg);

#endif
