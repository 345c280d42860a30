/*
 * fuzz_usage.c — libFuzzer target for the usage file decoder
 * (src/rollup/usage_capnp.c); built and run by `make fuzz` with ASan and UBSan.
 *
 * Each input is fed to both usage_decode_raw() (a bare message) and
 * usage_decode() (a zlib stream); then it is compressed and fed to
 * usage_decode(), which must then agree with usage_decode_raw() on the
 * input (mutated zlib streams mostly fail their checksum early, so this is
 * what reaches the decompressor's size cap with valid streams).  A refusal
 * must come with a message.  An accepted record must survive a round trip:
 * encoding it and decoding that gives the same record, and encoding is
 * deterministic.  Anything else is a crash the fuzzer reports.
 *
 * Seeds: tests/fuzz/corpus/usage (valid files, raw and zlib, single and
 * multi-segment with far pointers, and inputs that once crashed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct usage_hour *a, const struct usage_hour *b)
{
	int ok = strcmp(a->account, b->account) == 0 && a->hour_start == b->hour_start &&
		 a->complete == b->complete && a->nlocations == b->nlocations &&
		 a->nvms == b->nvms;
	for (size_t i = 0; ok && i < a->nlocations; i++)
		ok = strcmp(a->locations[i], b->locations[i]) == 0;
	for (size_t i = 0; ok && i < a->nvms; i++) {
		const struct usage_vm *x = &a->vms[i], *y = &b->vms[i];
		ok = strcmp(x->location, y->location) == 0 &&
		     strcmp(x->cloudspace, y->cloudspace) == 0 && strcmp(x->vm, y->vm) == 0 &&
		     memcmp(&x->mem_mib_mean, &y->mem_mib_mean, sizeof(double)) == 0 &&
		     memcmp(&x->disk_gib_max, &y->disk_gib_max, sizeof(double)) == 0 &&
		     memcmp(&x->cpu_seconds, &y->cpu_seconds, sizeof(double)) == 0 &&
		     x->io_read == y->io_read && x->io_write == y->io_write &&
		     x->net_tx_bytes == y->net_tx_bytes && x->net_rx_bytes == y->net_rx_bytes &&
		     x->samples == y->samples;
	}
	if (!ok) {
		fprintf(stderr, "fuzz_usage: record changed in a round trip\n");
		abort();
	}
}

static void check(int rc, struct usage_hour *h, const char *err)
{
	if (rc != 0) {
		if (err[0] == '\0' || h->account || h->vms || h->locations) {
			fprintf(stderr, "fuzz_usage: refusal without a message or with leftovers\n");
			abort();
		}
		return;
	}
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct usage_hour again;
	char err2[256];
	if (usage_encode_raw(h, &a) == 0) {
		if (usage_decode_raw(a.data, a.len, &again, err2, sizeof(err2)) != 0) {
			fprintf(stderr, "fuzz_usage: own encoding refused: %s\n", err2);
			abort();
		}
		same(h, &again);
		if (usage_encode_raw(&again, &b) != 0 || a.len != b.len ||
		    memcmp(a.data, b.data, a.len) != 0) {
			fprintf(stderr, "fuzz_usage: encoding is not deterministic\n");
			abort();
		}
		usage_hour_release(&again);
	}
	buf_release(&a);
	buf_release(&b);
	usage_hour_release(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usage_hour h, hz;
	char err[256], errz[256];

	err[0] = '\0';
	check(usage_decode(data, size, &h, err, sizeof(err)), &h, err);

	/* The same message through zlib: the same verdict and record. */
	uLongf zn = compressBound((uLong)size);
	Bytef *z = malloc(zn ? zn : 1);
	if (!z || compress2(z, &zn, data, (uLong)size, 1) != Z_OK)
		abort();
	err[0] = errz[0] = '\0';
	int rc = usage_decode_raw(data, size, &h, err, sizeof(err));
	int rcz = usage_decode(z, zn, &hz, errz, sizeof(errz));
	free(z);
	if (rc != rcz && !(rc == 0 && size > USAGE_MAX_RAW)) {
		fprintf(stderr, "fuzz_usage: raw %d (%s) but zlib'd %d (%s)\n", rc, err, rcz, errz);
		abort();
	}
	if (rc == 0 && rcz == 0)
		same(&h, &hz);
	if (rcz == 0)
		usage_hour_release(&hz);
	check(rc, &h, err);
	return 0;
}
