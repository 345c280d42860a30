/*
 * usage.h — the rollup's hourly usage record and its file encoding: a zlib
 * stream of one Cap'n Proto message whose root is HourUsage from
 * docs/usage.capnp (see docs/formats.md).  Pure: no I/O, no logging, no
 * global state; safe to call from any thread.
 *
 * Writing: fill a struct usage_hour, usage_hour_sort() it, usage_encode().
 * The message is a single segment in Cap'n Proto's canonical layout
 * (`capnp convert binary:canonical` gives the same bytes), so the same
 * record always gives the same bytes (with the same zlib build).
 *
 * Reading: usage_decode() accepts any valid message (several segments, far
 * and double-far pointers, struct data shorter or longer than this schema:
 * missing fields read as their defaults) and refuses anything else with a
 * message in err and nothing allocated: pointers of the wrong kind or
 * outside their segment, absurd segment tables, text that is not
 * NUL-terminated or holds a NUL, more than USAGE_TRAVERSAL_WORDS words read
 * (shared or overlapping objects count each time they are read, as in
 * Cap'n Proto's own reader), a decompressed message over USAGE_MAX_RAW
 * bytes, a decoded record over USAGE_MAX_DECODED bytes, bytes after the
 * message.  Text is not checked to be UTF-8 (Cap'n Proto does not either).
 */
#ifndef AGG_USAGE_H
#define AGG_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Limits (the fuzz build lowers them with -D to run faster; nothing else may). */
#ifndef USAGE_MAX_RAW
#define USAGE_MAX_RAW		(64u << 20)	/* bytes of a decompressed message */
#endif
#define USAGE_MAX_SEGMENTS	512u		/* segments of a message */
#ifndef USAGE_TRAVERSAL_WORDS
#define USAGE_TRAVERSAL_WORDS	(8u << 20)	/* words read while decoding (64 MiB) */
#endif
#ifndef USAGE_MAX_DECODED
#define USAGE_MAX_DECODED	(128u << 20)	/* bytes of a decoded struct usage_hour */
#endif

/* One VM's usage in the hour (VmUsage). */
struct usage_vm {
	char *location;		/* location (data centre) name */
	char *cloudspace;	/* cloudspace name */
	char *vm;		/* VM name */
	double mem_mib_mean;	/* mean memory in use over the samples, MiB */
	double disk_gib_max;	/* largest provisioned disk, GiB */
	double cpu_seconds;	/* CPU time used in the hour, seconds */
	uint64_t io_read;	/* read operations in the hour */
	uint64_t io_write;	/* write operations in the hour */
	uint64_t net_tx_bytes;	/* bytes sent in the hour */
	uint64_t net_rx_bytes;	/* bytes received in the hour */
	uint32_t samples;	/* samples the figures come from */
};

/* One account's usage in one hour (HourUsage). */
struct usage_hour {
	char *account;		/* the cloud account */
	int64_t hour_start;	/* Unix seconds, UTC, a multiple of 3600 */
	char **locations;	/* locations that contributed, nlocations of them */
	size_t nlocations;
	bool complete;		/* master: every configured location contributed */
	struct usage_vm *vms;	/* nvms records, sorted by location, cloudspace, vm */
	size_t nvms;
};

/*
 * Encode h as one message (stream framing, single segment) compressed with
 * zlib, and append it to out.  The caller keeps h (usage_hour_sort() it
 * first for the canonical order).  A NULL string is written as a null
 * pointer (it reads back as "").  0, or -1 when out ran out of memory (out
 * is then marked oom) or when usage_decode() would refuse the result: a
 * message over USAGE_MAX_RAW bytes or USAGE_TRAVERSAL_WORDS words to read
 * (about 550 k VMs with short names), or a record over USAGE_MAX_DECODED.
 */
int usage_encode(const struct usage_hour *h, struct buf *out);

/* The same message, uncompressed (for tests and `capnp decode`). */
int usage_encode_raw(const struct usage_hour *h, struct buf *out);

/*
 * Decode a file's bytes (one zlib stream, nothing after it) into *out.
 * 0, with every string and array in *out malloc'd (strings never NULL) and
 * released by usage_hour_release(); or -1 with a message in err and *out
 * zeroed (nothing to release).
 */
int usage_decode(const void *data, size_t len, struct usage_hour *out, char *err,
		 size_t errlen);

/* The same from an uncompressed message (stream framing, nothing after it). */
int usage_decode_raw(const void *msg, size_t len, struct usage_hour *out, char *err,
		     size_t errlen);

/*
 * free() every string and array of h (each may be NULL) and zero it.  Works
 * on what usage_decode() returned and on any record built with malloc'd
 * members.
 */
void usage_hour_release(struct usage_hour *h);

/*
 * Sort vms by (location, cloudspace, vm), ties by the figures, and
 * locations by name, all in byte order (NULL sorts as "").  usage_encode()
 * writes the arrays in the order it finds them: sort first for
 * byte-identical files.
 */
void usage_hour_sort(struct usage_hour *h);

#endif
