/*
 * fuzz_influx.c — libFuzzer target for the rollup's InfluxDB response parser
 * (src/rollup/influx_parse.c); built and run by `make fuzz` with ASan and
 * UBSan.
 *
 * The parser is a push parser: InfluxDB's answer reaches it in pieces cut
 * wherever the network cut them.  So each input is parsed three ways, whole,
 * split at every byte (one byte per feed), and split at a point the input
 * chooses, and the three runs must agree exactly: the same verdict, the
 * same error text, the same rows and series, and the same VM records in the
 * same order (a digest of every callback's arguments).  A refusal must come
 * with a message.  Anything else is a crash the fuzzer reports.
 *
 * Seeds: tests/fuzz/corpus/influx (answers of the shape InfluxDB 1.x sends,
 * with errors, partial series, nulls and escapes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "influx_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	uint64_t h;	/* FNV-1a over every callback's arguments */
	uint64_t calls;
};

static void mix(struct digest *d, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		d->h = (d->h ^ b[i]) * 0x100000001b3ULL;
}

static int on_vm(const char *account, const char *cloudspace, const char *vm,
		 const struct vm_hour *h, void *arg)
{
	struct digest *d = arg;
	mix(d, account, strlen(account) + 1);
	mix(d, cloudspace, strlen(cloudspace) + 1);
	mix(d, vm, strlen(vm) + 1);
	mix(d, &h->mem_mib_mean, sizeof(h->mem_mib_mean));
	mix(d, &h->disk_gib_max, sizeof(h->disk_gib_max));
	mix(d, &h->cpu_seconds, sizeof(h->cpu_seconds));
	mix(d, &h->io_read, sizeof(h->io_read));
	mix(d, &h->io_write, sizeof(h->io_write));
	mix(d, &h->net_tx_bytes, sizeof(h->net_tx_bytes));
	mix(d, &h->net_rx_bytes, sizeof(h->net_rx_bytes));
	mix(d, &h->samples, sizeof(h->samples));
	d->calls++;
	return 0;
}

struct outcome {
	int rc;
	char err[600];
	struct influx_stats st;
	struct digest d;
};

/* Parse data[0..size) fed in pieces of at most step bytes, the first piece cut at first. */
static void run(const uint8_t *data, size_t size, size_t first, size_t step, struct outcome *o)
{
	static const char *const tags[3] = { "account", "cloudspace", "vm" };
	memset(o, 0, sizeof(*o));
	o->d.h = 0xcbf29ce484222325ULL;
	struct influx_parser *p = influx_parser_new(tags, 7200, 3600, on_vm, &o->d);
	if (!p)
		abort();
	size_t off = 0;
	o->rc = 0;
	while (off < size && o->rc == 0) {
		size_t n = off == 0 && first ? first : step;
		if (n > size - off)
			n = size - off;
		o->rc = influx_parser_feed(p, (const char *)data + off, n);
		off += n;
	}
	if (o->rc == 0)
		o->rc = influx_parser_finish(p);
	snprintf(o->err, sizeof(o->err), "%s", influx_parser_error(p));
	influx_parser_counts(p, &o->st);
	if (o->rc != 0 && o->err[0] == '\0') {
		fprintf(stderr, "fuzz_influx: refused without a message\n");
		abort();
	}
	influx_parser_free(p);
}

static void agree(const struct outcome *a, const struct outcome *b, const char *how)
{
	if (a->rc != b->rc || strcmp(a->err, b->err) != 0 || a->d.h != b->d.h ||
	    a->d.calls != b->d.calls || a->st.points != b->st.points || a->st.series != b->st.series) {
		fprintf(stderr, "fuzz_influx: fed %s, the parse differs from the whole input's:\n"
			"  whole: rc %d, %llu VMs, '%s'\n  %s: rc %d, %llu VMs, '%s'\n", how,
			a->rc, (unsigned long long)a->d.calls, a->err, how, b->rc,
			(unsigned long long)b->d.calls, b->err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, bytes, cut;
	run(data, size, 0, size ? size : 1, &whole);
	run(data, size, 0, 1, &bytes);
	agree(&whole, &bytes, "byte by byte");
	size_t at = size ? (size_t)data[0] * 257 % size : 0;
	run(data, size, at, size ? size : 1, &cut);
	agree(&whole, &cut, "cut in two");
	return 0;
}
