/*
 * influx_parse.h — the rollup's InfluxDB response parser (pure: no I/O).
 *
 * Ownership: a parser is freed with influx_parser_free(); the tag names it
 * is given are borrowed until then.  The strings handed to an influx_vm_cb
 * live until the callback returns (copy them).  One parser, one thread.
 */
#ifndef AGG_INFLUX_PARSE_H
#define AGG_INFLUX_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_hour.h"

#define INFLUX_MAX_STRING 65536		/* bytes: longest JSON string accepted (tag values, errors) */

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
