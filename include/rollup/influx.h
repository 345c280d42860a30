/*
 * influx.h — the rollup's InfluxDB side: one query per hour over InfluxDB
 * 1.x's HTTP API, and the per-VM hourly record computed from the samples.
 *
 * Data model (every name configurable): measurement vm_usage, tags account,
 * cloudspace, vm; gauges mem_mib (MiB in use) and disk_gib (provisioned
 * GiB); cumulative counters cpu_seconds, io_read, io_write, net_tx_bytes,
 * net_rx_bytes.  For hour [H, H+3600) and one VM:
 *   - mem_mib_mean: mean of mem_mib over the samples inside the hour;
 *   - disk_gib_max: max of disk_gib inside the hour;
 *   - each counter: its increase, sum over consecutive samples of
 *     (v_i >= v_{i-1} ? v_i - v_{i-1} : v_i), starting from the last sample
 *     before H when there is one within lookback_s (used only as the
 *     starting point), a drop counting as a restart from zero (Prometheus'
 *     increase() without extrapolation).  Each counter chains over its own
 *     non-null values; a negative counter value is treated as absent;
 *   - samples: the points inside the hour.
 * A VM with no sample inside the hour has no record.
 *
 * The query (see src/influx.c for why chunked JSON):
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

#define INFLUX_DEFAULT_LOOKBACK 3600	/* s, when lookback_s is 0 */
#define INFLUX_DEFAULT_TIMEOUT 60	/* s, when timeout_s is 0 */
#define INFLUX_MAX_STRING 65536		/* bytes: longest JSON string accepted (tag values, errors) */
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
};

struct vm_hour {
	double mem_mib_mean;	/* MiB, mean over the samples inside the hour with a value (0 if none) */
	double disk_gib_max;	/* GiB, max inside the hour (0 if none) */
	double cpu_seconds;	/* s, increase of the CPU counter over the hour */
	uint64_t io_read, io_write;		/* operations, increase over the hour */
	uint64_t net_tx_bytes, net_rx_bytes;	/* bytes, increase over the hour */
	uint32_t samples;	/* points inside [H, H+3600) */
};

/* Called once per VM with samples inside the hour, in no particular order; return 0 to go on, -1 to abort. */
typedef int (*influx_vm_cb)(const char *account, const char *cloudspace, const char *vm,
			    const struct vm_hour *h, void *arg);

struct influx_stats {
	uint64_t points;	/* rows read, before and inside the hour */
	uint64_t series;	/* series (VMs) in the answer, with or without a sample inside the hour */
	uint64_t bytes;		/* body bytes read */
	double seconds;		/* wall time of the whole call */
};

/*
 * Blocking (call from a worker thread, never the event loop): query InfluxDB
 * 1.x over its HTTP API with libevent's HTTP client on an event_base of its
 * own, streaming and parsing the answer as it arrives (memory bounded by the
 * number of VMs, not points), and call cb per VM.  0, or -1 with err, e.g.
 * "influxdb http://127.0.0.1:8086: connection refused",
 * "influxdb: HTTP 400: error parsing query: ...",
 * "influxdb: database not found: usage",
 * "influxdb http://127.0.0.1:8086: timed out after 60 s".
 * After a -1 some callbacks may already have run: the caller discards them.
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

/* ---- Pure core, for unit tests: feed one series' samples in time order. ---- */

enum vm_field { VM_MEM, VM_DISK, VM_CPU, VM_IO_READ, VM_IO_WRITE, VM_NET_TX, VM_NET_RX, VM_NFIELDS };

struct vm_sample {
	long long t;		/* Unix seconds */
	unsigned have;		/* bit (1u << VM_x) for each field with a value (not null) */
	double mem_mib, disk_gib, cpu_seconds;			/* MiB, GiB, s */
	uint64_t io_read, io_write, net_tx_bytes, net_rx_bytes;	/* counters */
};

struct vm_acc {
	long long hour_start;	/* H, Unix seconds */
	long long last_t;	/* time of the last sample fed, LLONG_MIN before the first */
	uint32_t samples;	/* inside [H, H+3600) */
	uint32_t mem_n;		/* samples inside with a mem value */
	double mem_sum;		/* MiB, sum over those */
	double disk_max;	/* GiB, valid when disk_have */
	bool disk_have;
	unsigned have_last;	/* bit (1u << VM_x): counter x has a previous value */
	double cpu_last, cpu_inc;	/* s */
	uint64_t last[4], inc[4];	/* io_read, io_write, net_tx, net_rx */
};

void vm_acc_init(struct vm_acc *a, long long hour_start);
/*
 * Feed one sample.  Samples before H only set the counters' starting
 * points; samples at or after H+3600 are ignored.  0, or -1 when s is older
 * than the previous sample (a is unchanged).
 */
int vm_acc_add(struct vm_acc *a, const struct vm_sample *s);
/* Fill out; false (out untouched) when no sample fell inside the hour. */
bool vm_acc_result(const struct vm_acc *a, struct vm_hour *out);

/*
 * The response parser: InfluxDB 1.x's chunked JSON (a stream of
 * {"results":[...]} objects) fed in pieces of any size.  tags[3] names the
 * account, cloudspace and vm tags (borrowed until freed); columns are
 * time and then the seven fields in enum vm_field order.  cb NULL only
 * parses (the read-only floor).  Returns NULL when out of memory.
 */
struct influx_parser;
struct influx_parser *influx_parser_new(const char *const tags[3], long long hour_start,
					int lookback_s, influx_vm_cb cb, void *arg);
/* 0, or -1: the answer is bad, InfluxDB reported an error, or cb aborted. */
int influx_parser_feed(struct influx_parser *p, const char *data, size_t len);
/* The answer is complete: emit the last VM.  0 or -1. */
int influx_parser_finish(struct influx_parser *p);
/* Why the last call failed ("" when none did). */
const char *influx_parser_error(const struct influx_parser *p);
/* True when the failure is InfluxDB's own error message (not a bad answer). */
bool influx_parser_server_error(const struct influx_parser *p);
/* Rows and series seen, bytes fed (seconds untouched). */
void influx_parser_counts(const struct influx_parser *p, struct influx_stats *st);
void influx_parser_free(struct influx_parser *p);

#endif
