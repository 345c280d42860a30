/*
 * test_usage.c — the usage file codec (usage_capnp.c): round trips, the
 * canonical bytes (checked against `capnp convert binary:canonical` once and
 * kept here as golden bytes), byte-identical re-encoding, messages written by
 * the stock `capnp encode --segment-size=1` (far pointers, 13 segments),
 * hand-built double-far pointers and short or long struct sections, and
 * hostile input: every truncation, random bit flips, bad pointers, absurd
 * sizes, traversal and size limits, zip bombs.  Each refusal names its
 * reason; none crashes (check forks each test, and `make SANITIZE=...` runs
 * them under ASan and UBSan).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "suites.h"
#include "usage.h"

#define HOUR 1699999200LL	/* 2023-11-14T22:00:00Z */

/* ---- helpers ---- */

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void assert_same(const struct usage_hour *a, const struct usage_hour *b)
{
	ck_assert_str_eq(nz(a->account), nz(b->account));
	ck_assert_int_eq(a->hour_start, b->hour_start);
	ck_assert_int_eq(a->complete, b->complete);
	ck_assert_uint_eq(a->nlocations, b->nlocations);
	for (size_t i = 0; i < a->nlocations; i++)
		ck_assert_str_eq(nz(a->locations[i]), nz(b->locations[i]));
	ck_assert_uint_eq(a->nvms, b->nvms);
	for (size_t i = 0; i < a->nvms; i++) {
		const struct usage_vm *x = &a->vms[i], *y = &b->vms[i];
		ck_assert_str_eq(nz(x->location), nz(y->location));
		ck_assert_str_eq(nz(x->cloudspace), nz(y->cloudspace));
		ck_assert_str_eq(nz(x->vm), nz(y->vm));
		/* Bitwise: NaN, infinities and -0.0 survive too. */
		ck_assert(memcmp(&x->mem_mib_mean, &y->mem_mib_mean, sizeof(double)) == 0);
		ck_assert(memcmp(&x->disk_gib_max, &y->disk_gib_max, sizeof(double)) == 0);
		ck_assert(memcmp(&x->cpu_seconds, &y->cpu_seconds, sizeof(double)) == 0);
		ck_assert_uint_eq(x->io_read, y->io_read);
		ck_assert_uint_eq(x->io_write, y->io_write);
		ck_assert_uint_eq(x->net_tx_bytes, y->net_tx_bytes);
		ck_assert_uint_eq(x->net_rx_bytes, y->net_rx_bytes);
		ck_assert_uint_eq(x->samples, y->samples);
	}
}

/* Encode (zlib and raw), decode both, compare, and re-encode the decoded copy byte for byte. */
static void round_trip(const struct usage_hour *h)
{
	struct buf z = BUF_INIT, raw = BUF_INIT, again = BUF_INIT;
	struct usage_hour d;
	char err[256];

	ck_assert_int_eq(usage_encode(h, &z), 0);
	ck_assert_int_eq(usage_encode_raw(h, &raw), 0);
	ck_assert_msg(usage_decode(z.data, z.len, &d, err, sizeof(err)) == 0, "%s", err);
	assert_same(h, &d);
	ck_assert_int_eq(usage_encode(&d, &again), 0);
	/* NULL strings come back as "", which encode differently: compare only when none. */
	bool has_null = h->account == NULL;
	for (size_t i = 0; i < h->nlocations; i++)
		has_null |= h->locations[i] == NULL;
	for (size_t i = 0; i < h->nvms; i++)
		has_null |= !h->vms[i].location || !h->vms[i].cloudspace || !h->vms[i].vm;
	if (!has_null) {
		ck_assert_uint_eq(again.len, z.len);
		ck_assert(memcmp(again.data, z.data, z.len) == 0);
	}
	usage_hour_release(&d);
	ck_assert_msg(usage_decode_raw(raw.data, raw.len, &d, err, sizeof(err)) == 0, "%s", err);
	assert_same(h, &d);
	usage_hour_release(&d);
	buf_release(&z);
	buf_release(&raw);
	buf_release(&again);
}

/* xorshift64*: deterministic pseudo-random numbers for the tests. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* A malloc'd hour of n VMs with realistic names and figures, in canonical order. */
static void synth(struct usage_hour *h, size_t n, uint64_t seed)
{
	static const char *const role[] = { "web", "db", "app", "cache" };
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
	char name[64];

	memset(h, 0, sizeof(*h));
	h->account = strdup("acme");
	h->hour_start = HOUR;
	h->complete = true;
	h->locations = calloc(2, sizeof(char *));
	ck_assert(h->account && h->locations);
	h->locations[0] = strdup("loc-b");
	h->locations[1] = strdup("loc-a");
	h->nlocations = 2;
	h->vms = calloc(n ? n : 1, sizeof(*h->vms));
	ck_assert_ptr_nonnull(h->vms);
	h->nvms = n;
	for (size_t i = 0; i < n; i++) {
		struct usage_vm *v = &h->vms[i];
		v->location = strdup(i % 3 ? "loc-a" : "loc-b");
		snprintf(name, sizeof(name), "cs-%04u", (unsigned)(rnd(&s) % 300));
		v->cloudspace = strdup(name);
		snprintf(name, sizeof(name), "vm-%04u-%s", (unsigned)i, role[rnd(&s) % 4]);
		v->vm = strdup(name);
		ck_assert(v->location && v->cloudspace && v->vm);
		v->mem_mib_mean = (double)(rnd(&s) % 1000000) / 7.0;
		v->disk_gib_max = (double)(10 * (rnd(&s) % 50));
		v->cpu_seconds = (double)(rnd(&s) % 1000000) / 277.0;
		v->io_read = rnd(&s) % 500000;
		v->io_write = rnd(&s) % 200000;
		v->net_tx_bytes = rnd(&s);
		v->net_rx_bytes = rnd(&s) % 500000000;
		v->samples = 60;
	}
	usage_hour_sort(h);
}

/* ---- hand-built messages ---- */

static uint64_t sp(int64_t off, unsigned dw, unsigned pc)	/* struct pointer */
{
	return (uint64_t)(uint32_t)((uint64_t)off << 2) | (uint64_t)dw << 32 | (uint64_t)pc << 48;
}

static uint64_t lp(int64_t off, unsigned size, uint64_t n)	/* list pointer */
{
	return (uint64_t)(uint32_t)((uint64_t)off << 2) | 1 | (uint64_t)size << 32 | n << 35;
}

static uint64_t fp(int dbl, uint32_t pad, uint32_t seg)		/* far pointer */
{
	return 2 | (uint64_t)dbl << 2 | (uint64_t)pad << 3 | (uint64_t)seg << 32;
}

static uint64_t txt(const char *s)	/* up to 7 bytes of text and its NUL as a word */
{
	uint64_t w = 0;
	for (size_t i = 0; s[i]; i++)
		w |= (uint64_t)(uint8_t)s[i] << (8 * i);
	return w;
}

static uint64_t dbl(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

enum { BYTE = 2, EIGHT = 5, PTR = 6, COMPOSITE = 7, BIT = 1, VOID = 0 };

static void put_le(struct buf *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		buf_addc(b, (char)(uint8_t)(v >> (8 * i)));
}

/* Frame segments (word arrays) as a message: count - 1, sizes, padding, words. */
static void frame(struct buf *b, unsigned nseg, const uint64_t *const *segs, const size_t *n)
{
	put_le(b, nseg - 1, 4);
	for (unsigned i = 0; i < nseg; i++)
		put_le(b, n[i], 4);
	if (nseg % 2 == 0)
		put_le(b, 0, 4);
	for (unsigned i = 0; i < nseg; i++)
		for (size_t k = 0; k < n[i]; k++)
			put_le(b, segs[i][k], 8);
	ck_assert(!b->oom);
}

static void frame1(struct buf *b, const uint64_t *w, size_t n)
{
	frame(b, 1, &w, &n);
}

static int decode_words(const uint64_t *w, size_t n, struct usage_hour *h, char *err, size_t len)
{
	struct buf b = BUF_INIT;
	frame1(&b, w, n);
	int rc = usage_decode_raw(b.data, b.len, h, err, len);
	buf_release(&b);
	return rc;
}

/* Decoding must fail with a message containing want, leaving *h empty. */
static void refuse_words(const uint64_t *w, size_t n, const char *want)
{
	struct usage_hour h;
	char err[256] = "";
	ck_assert_int_eq(decode_words(w, n, &h, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
	ck_assert_ptr_null(h.account);
	ck_assert_ptr_null(h.vms);
	ck_assert_ptr_null(h.locations);
}

static void refuse_bytes(const void *p, size_t n, bool zlib, const char *want)
{
	struct usage_hour h;
	char err[256] = "";
	int rc = zlib ? usage_decode(p, n, &h, err, sizeof(err)) :
			usage_decode_raw(p, n, &h, err, sizeof(err));
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
	ck_assert_ptr_null(h.account);
}

/* `capnp encode --segment-size=1 docs/usage.capnp HourUsage` of the text
 * (account = "acme", hourStart = 1699999200, locations = ["loc-a", "loc-b"],
 *  complete = true, vms = [(location = "loc-a", cloudspace = "cs-1234",
 *  vm = "vm-5678-web", memMibMean = 2048.5, diskGibMax = 40, cpuSeconds = 1234.25,
 *  ioRead = 1000, ioWrite = 2000, netTxBytes = 300000, netRxBytes = 400000,
 *  samples = 60), (location = "loc-b", cloudspace = "cs-9", vm = "vm-été",
 *  memMibMean = 512, ioRead = 18446744073709551615, samples = 4294967295)])
 * 13 segments, 12 far pointers. */
static const unsigned char capnp_seg1[] = {
	0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03, 0x00,
	0xe0, 0xed, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00,
	0x61, 0x63, 0x6d, 0x65, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x16, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x32, 0x00, 0x00, 0x00, 0x6c, 0x6f, 0x63, 0x2d, 0x61, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x6c, 0x6f, 0x63, 0x2d,
	0x62, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xb7, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0xa0, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x40,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x49, 0x93, 0x40, 0xe8, 0x03, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xd0, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xe0, 0x93, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x1a, 0x06, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00,
	0x6c, 0x6f, 0x63, 0x2d, 0x61, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x42, 0x00, 0x00, 0x00, 0x63, 0x73, 0x2d, 0x31, 0x32, 0x33, 0x34, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x76, 0x6d, 0x2d, 0x35,
	0x36, 0x37, 0x38, 0x2d, 0x77, 0x65, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x6c, 0x6f, 0x63, 0x2d,
	0x62, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00,
	0x63, 0x73, 0x2d, 0x39, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x4a, 0x00, 0x00, 0x00, 0x76, 0x6d, 0x2d, 0xc3, 0xa9, 0x74, 0xc3, 0xa9,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

static void check_capnp_sample(const struct usage_hour *h)
{
	ck_assert_str_eq(h->account, "acme");
	ck_assert_int_eq(h->hour_start, HOUR);
	ck_assert(h->complete);
	ck_assert_uint_eq(h->nlocations, 2);
	ck_assert_str_eq(h->locations[0], "loc-a");
	ck_assert_str_eq(h->locations[1], "loc-b");
	ck_assert_uint_eq(h->nvms, 2);
	ck_assert_str_eq(h->vms[0].vm, "vm-5678-web");
	ck_assert_str_eq(h->vms[0].cloudspace, "cs-1234");
	ck_assert(h->vms[0].mem_mib_mean == 2048.5);
	ck_assert(h->vms[0].disk_gib_max == 40);
	ck_assert(h->vms[0].cpu_seconds == 1234.25);
	ck_assert_uint_eq(h->vms[0].io_read, 1000);
	ck_assert_uint_eq(h->vms[0].io_write, 2000);
	ck_assert_uint_eq(h->vms[0].net_tx_bytes, 300000);
	ck_assert_uint_eq(h->vms[0].net_rx_bytes, 400000);
	ck_assert_uint_eq(h->vms[0].samples, 60);
	ck_assert_str_eq(h->vms[1].location, "loc-b");
	ck_assert_str_eq(h->vms[1].vm, "vm-\xc3\xa9t\xc3\xa9");
	ck_assert(h->vms[1].mem_mib_mean == 512);
	ck_assert_uint_eq(h->vms[1].io_read, UINT64_MAX);
	ck_assert_uint_eq(h->vms[1].samples, UINT32_MAX);
	ck_assert_uint_eq(h->vms[1].net_rx_bytes, 0);
}

/* ---- round trips ---- */

START_TEST(round_trip_shapes)
{
	struct usage_hour h = { .account = "acme", .hour_start = HOUR };
	round_trip(&h);			/* no VMs, no locations */
	h.complete = true;
	round_trip(&h);
	struct usage_hour empty = { 0 };
	round_trip(&empty);		/* all defaults: a zero-sized root struct */
	h.hour_start = -3600;		/* negative Int64 */
	round_trip(&h);

	char *locs[] = { "loc-a" };
	struct usage_vm one = { "loc-a", "cs-1", "vm-1", 1.5, 2, 3.25, 4, 5, 6, 7, 8 };
	struct usage_hour h1 = { .account = "a", .hour_start = HOUR, .locations = locs,
				 .nlocations = 1, .complete = true, .vms = &one, .nvms = 1 };
	round_trip(&h1);

	/* Extreme figures: bitwise equality. */
	struct usage_vm odd = { "", "", "", NAN, INFINITY, -0.0, UINT64_MAX, 0, 1, UINT64_MAX - 1,
				UINT32_MAX };
	h1.vms = &odd;
	round_trip(&h1);
	/* All-zero figures and NULL names: truncated sections, null pointers. */
	struct usage_vm zero = { 0 };
	h1.vms = &zero;
	round_trip(&h1);
	struct usage_vm mixed[2] = { { 0 }, { NULL, "cs", NULL, 0, 0, 0, 0, 0, 0, 0, 1 } };
	h1.vms = mixed;
	h1.nvms = 2;
	round_trip(&h1);
}
END_TEST

START_TEST(round_trip_names)
{
	/* UTF-8 (2-, 3- and 4-byte sequences) and names of every length around word edges. */
	char *locs[] = { "z\xc3\xbcrich", "\xe6\x9d\xb1\xe4\xba\xac", "\xf0\x9f\x98\x80" };
	struct usage_vm v[3] = {
		{ "z\xc3\xbcrich", "\xc3\xa9t\xc3\xa9", "vm-\xf0\x9f\x98\x80", 1, 1, 1, 1, 1, 1, 1, 1 },
	};
	struct usage_hour h = { .account = "soci\xc3\xa9t\xc3\xa9", .hour_start = HOUR,
				.locations = locs, .nlocations = 3, .vms = v, .nvms = 1 };
	round_trip(&h);

	char *names = malloc(70000);
	ck_assert_ptr_nonnull(names);
	for (size_t len = 0; len < 40; len++) {	/* 0..39 bytes: every padding */
		memset(names, 'a' + (int)(len % 26), len);
		names[len] = '\0';
		v[0].vm = names;
		v[0].cloudspace = names;
		h.account = names;
		round_trip(&h);
	}
	memset(names, 'x', 69999);	/* long names */
	names[69999] = '\0';
	v[0].location = names;
	round_trip(&h);
	free(names);
}
END_TEST

START_TEST(round_trip_many)
{
	struct usage_hour h;
	synth(&h, 5000, 7);
	round_trip(&h);
	usage_hour_release(&h);
	ck_assert_ptr_null(h.vms);
}
END_TEST

/* The encoder's bytes are Cap'n Proto's canonical form (checked with capnp convert). */
START_TEST(canonical_golden)
{
	char *locs[] = { NULL, "a" };
	struct usage_hour h = { .account = "q", .locations = locs, .nlocations = 2,
				.complete = true };
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, /* 1 segment of 9 words */
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, /* root: 2 data, 2 pointers */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* hourStart 0 */
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* complete */
		0x05, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, /* account: 2 bytes, +1 */
		0x05, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, /* locations: 2 pointers, +1 */
		0x71, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* "q" */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* locations[0]: null */
		0x01, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, /* locations[1]: 2 bytes, +0 */
		0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* "a" */
	};
	struct buf b = BUF_INIT;
	ck_assert_int_eq(usage_encode_raw(&h, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert(memcmp(b.data, want, sizeof(want)) == 0);
	buf_release(&b);

	/* The empty record: a zero-sized root struct points at offset -1. */
	static const uint8_t empty[] = { 0, 0, 0, 0, 1, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	struct usage_hour e = { 0 };
	ck_assert_int_eq(usage_encode_raw(&e, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(empty));
	ck_assert(memcmp(b.data, empty, sizeof(empty)) == 0);
	buf_release(&b);
}
END_TEST

/* The same record in any input order gives the same bytes once sorted. */
START_TEST(deterministic)
{
	struct usage_hour h;
	struct buf a = BUF_INIT, b = BUF_INIT;
	uint64_t s = 99;

	synth(&h, 300, 3);
	ck_assert_int_eq(usage_encode(&h, &a), 0);
	for (size_t i = h.nvms - 1; i > 0; i--) {	/* shuffle, then sort again */
		size_t j = rnd(&s) % (i + 1);
		struct usage_vm t = h.vms[i];
		h.vms[i] = h.vms[j];
		h.vms[j] = t;
	}
	char *t = h.locations[0];
	h.locations[0] = h.locations[1];
	h.locations[1] = t;
	usage_hour_sort(&h);
	ck_assert_str_eq(h.locations[0], "loc-a");
	for (size_t i = 1; i < h.nvms; i++) {
		const struct usage_vm *p = &h.vms[i - 1], *q = &h.vms[i];
		int c = strcmp(p->location, q->location);
		if (!c)
			c = strcmp(p->cloudspace, q->cloudspace);
		if (!c)
			c = strcmp(p->vm, q->vm);
		ck_assert_int_le(c, 0);
	}
	ck_assert_int_eq(usage_encode(&h, &b), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert(memcmp(a.data, b.data, a.len) == 0);
	/* Appends: a second encode goes after the first. */
	ck_assert_int_eq(usage_encode(&h, &b), 0);
	ck_assert_uint_eq(b.len, 2 * a.len);
	ck_assert(memcmp(b.data + a.len, a.data, a.len) == 0);
	usage_hour_release(&h);
	buf_release(&a);
	buf_release(&b);
}
END_TEST

/* ---- other writers' messages ---- */

START_TEST(capnp_multi_segment)
{
	struct usage_hour h;
	char err[256];
	ck_assert_msg(usage_decode_raw(capnp_seg1, sizeof(capnp_seg1), &h, err, sizeof(err)) == 0,
		      "%s", err);
	check_capnp_sample(&h);
	usage_hour_release(&h);
	/* The same, zlib-compressed, through usage_decode(). */
	uLongf n = compressBound(sizeof(capnp_seg1));
	Bytef *z = malloc(n);
	ck_assert_ptr_nonnull(z);
	ck_assert_int_eq(compress2(z, &n, capnp_seg1, sizeof(capnp_seg1), 9), Z_OK);
	ck_assert_msg(usage_decode(z, n, &h, err, sizeof(err)) == 0, "%s", err);
	check_capnp_sample(&h);
	usage_hour_release(&h);
	free(z);
}
END_TEST

/* Double-far and single-far pointers to every kind of object, across four segments. */
START_TEST(double_far)
{
	const uint64_t s0[] = { fp(1, 0, 1) };	/* root: double-far, pad in segment 1 */
	const uint64_t s1[] = {
		fp(0, 0, 2), sp(0, 2, 3),		/* root pad: content at 2:0, its tag */
		fp(0, 18, 2), lp(0, BYTE, 5),		/* account pad: "acme" at 2:18 */
		fp(0, 5, 3), lp(0, BYTE, 5),		/* vms[0].vm pad: "vm-1" at 3:5 */
	};
	const uint64_t s2[] = {
		(uint64_t)HOUR, 1,			/* root data: hourStart, complete */
		fp(1, 2, 1),				/* account: double-far */
		fp(0, 0, 3),				/* locations: single far, pad at 3:0 */
		lp(0, COMPOSITE, 11),			/* vms: near */
		sp(1, 8, 3),				/* tag: 1 element of 8 data words, 3 pointers */
		dbl(2048.5), dbl(40), dbl(1.5), 1, 2, 3, 4, 60,
		lp(2, BYTE, 6),				/* location: near, to 2:17 */
		fp(0, 3, 3),				/* cloudspace: single far, pad at 3:3 */
		fp(1, 4, 1),				/* vm: double-far, pad at 1:4 */
		txt("loc-a"), txt("acme"),
	};
	const uint64_t s3[] = {
		lp(0, PTR, 1),				/* locations' pad: 1 pointer at 3:1 */
		lp(0, BYTE, 6), txt("loc-a"),
		lp(0, BYTE, 5), txt("cs-1"),		/* cloudspace's pad and text */
		txt("vm-1"),
	};
	const uint64_t *segs[] = { s0, s1, s2, s3 };
	const size_t n[] = { 1, 6, 19, 6 };
	struct buf b = BUF_INIT;
	struct usage_hour h;
	char err[256];

	frame(&b, 4, segs, n);
	ck_assert_msg(usage_decode_raw(b.data, b.len, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(h.account, "acme");
	ck_assert_int_eq(h.hour_start, HOUR);
	ck_assert(h.complete);
	ck_assert_uint_eq(h.nlocations, 1);
	ck_assert_str_eq(h.locations[0], "loc-a");
	ck_assert_uint_eq(h.nvms, 1);
	ck_assert_str_eq(h.vms[0].location, "loc-a");
	ck_assert_str_eq(h.vms[0].cloudspace, "cs-1");
	ck_assert_str_eq(h.vms[0].vm, "vm-1");
	ck_assert(h.vms[0].mem_mib_mean == 2048.5 && h.vms[0].cpu_seconds == 1.5);
	ck_assert_uint_eq(h.vms[0].net_rx_bytes, 4);
	ck_assert_uint_eq(h.vms[0].samples, 60);
	usage_hour_release(&h);

	/* Every truncation and some flips of this message fail cleanly. */
	for (size_t len = 0; len < b.len; len++) {
		ck_assert_int_eq(usage_decode_raw(b.data, len, &h, err, sizeof(err)), -1);
		ck_assert(err[0] != '\0');
	}
	buf_release(&b);
}
END_TEST

/* Sections shorter or longer than the schema, and lists of other element sizes. */
START_TEST(other_layouts)
{
	struct usage_hour h;
	char err[256];

	/* Root with 1 data word (no complete bit); VMs of 1 data word and 1 pointer. */
	const uint64_t shortw[] = {
		sp(0, 1, 3), (uint64_t)HOUR, 0, 0,
		lp(0, COMPOSITE, 4), sp(2, 1, 1),
		dbl(7.5), lp(2, BYTE, 2),
		dbl(8.5), 0,
		txt("x"),
	};
	ck_assert_msg(decode_words(shortw, 11, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(h.hour_start, HOUR);
	ck_assert(!h.complete);
	ck_assert_str_eq(h.account, "");
	ck_assert_uint_eq(h.nvms, 2);
	ck_assert(h.vms[0].mem_mib_mean == 7.5 && h.vms[1].mem_mib_mean == 8.5);
	ck_assert_str_eq(h.vms[0].location, "x");
	ck_assert_str_eq(h.vms[0].vm, "");
	ck_assert_str_eq(h.vms[1].location, "");
	ck_assert(h.vms[0].disk_gib_max == 0);
	ck_assert_uint_eq(h.vms[0].samples, 0);
	usage_hour_release(&h);

	/* A newer writer: 3 data words and 4 pointers in the root, 9+4 in VMs. */
	const uint64_t longw[] = {
		sp(0, 3, 4), (uint64_t)HOUR, 1, 0xdead,
		lp(17, BYTE, 3), 0, lp(1, COMPOSITE, 13), 0,
		sp(1, 9, 4), dbl(1), dbl(2), dbl(3), 4, 5, 6, 7, 8, 0xbeef, 0, 0, 0, 0,
		txt("zz"),
	};
	ck_assert_msg(decode_words(longw, 23, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert(h.complete);
	ck_assert_str_eq(h.account, "zz");
	ck_assert_uint_eq(h.nvms, 1);
	ck_assert(h.vms[0].cpu_seconds == 3);
	ck_assert_uint_eq(h.vms[0].samples, 8);
	usage_hour_release(&h);

	/* List(VmUsage) as a list of pointers (each element: its first pointer);
	 * List(Text) as a struct list whose first pointer is the text. */
	const uint64_t ptrlist[] = {
		sp(0, 0, 3), 0, lp(2, COMPOSITE, 2), lp(5, PTR, 1),
		txt("no"),
		sp(1, 1, 1), 42, lp(0, BYTE, 3), txt("L1"),
		lp(0, BYTE, 3), txt("V1"),
	};
	ck_assert_msg(decode_words(ptrlist, 11, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(h.nlocations, 1);
	ck_assert_str_eq(h.locations[0], "L1");
	ck_assert_uint_eq(h.nvms, 1);
	ck_assert_str_eq(h.vms[0].location, "V1");
	ck_assert(h.vms[0].mem_mib_mean == 0);
	usage_hour_release(&h);

	/* List(VmUsage) as a list of bytes: three elements, all defaults. */
	const uint64_t bytes[] = { sp(0, 0, 3), 0, 0, lp(0, BYTE, 3), 0x030201 };
	ck_assert_msg(decode_words(bytes, 5, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(h.nvms, 3);
	ck_assert_str_eq(h.vms[2].vm, "");
	ck_assert(h.vms[2].mem_mib_mean == 0);
	usage_hour_release(&h);
}
END_TEST

/* ---- hostile input ---- */

START_TEST(hostile_framing)
{
	struct buf b = BUF_INIT;
	uint8_t m[64] = { 0 };

	refuse_bytes(m, 0, false, "truncated");
	refuse_bytes(m, 7, false, "truncated");
	m[0] = 0x57;	/* 600 segments */
	m[1] = 0x02;
	refuse_bytes(m, 64, false, "600 segments");
	memset(m, 0xff, 4);	/* 2^32 segments */
	refuse_bytes(m, 64, false, "segments");
	memset(m, 0, sizeof(m));
	m[0] = 5;	/* 6 segments: 32 bytes of table */
	refuse_bytes(m, 16, false, "segment table");
	m[0] = 0;
	m[4] = 100;	/* 1 segment of 100 words, 8 there */
	refuse_bytes(m, 16, false, "truncated");
	m[4] = 0xff, m[5] = 0xff, m[6] = 0xff, m[7] = 0xff;	/* 2^32 - 1 words */
	refuse_bytes(m, 16, false, "truncated");
	m[4] = 0, m[5] = 0, m[6] = 0, m[7] = 0;	/* an empty segment 0 */
	refuse_bytes(m, 8, false, "root pointer");
	m[4] = 1;	/* a valid (all-default) message with bytes after it */
	refuse_bytes(m, 24, false, "8 bytes after the message");

	/* The same checks through zlib, and zlib's own. */
	char *locs[] = { "loc-a" };
	struct usage_hour h = { .account = "acme", .locations = locs, .nlocations = 1 };
	ck_assert_int_eq(usage_encode(&h, &b), 0);
	buf_addc(&b, 'x');
	refuse_bytes(b.data, b.len, true, "1 bytes after the zlib stream");
	refuse_bytes(b.data, b.len - 3, true, "truncated");
	refuse_bytes(b.data, 0, true, "truncated");
	b.data[0] = 0x12;
	refuse_bytes(b.data, b.len - 1, true, "corrupt zlib");
	buf_release(&b);
}
END_TEST

START_TEST(hostile_pointers)
{
	/* Root of the wrong kind or out of bounds. */
	refuse_words((uint64_t[]){ lp(0, BYTE, 1), 0 }, 2, "list pointer where a struct");
	refuse_words((uint64_t[]){ 3, 0 }, 2, "capability");
	refuse_words((uint64_t[]){ sp(100, 1, 0), 0 }, 2, "outside segment 0");
	refuse_words((uint64_t[]){ sp(-5, 1, 0), 0 }, 2, "outside segment 0");
	refuse_words((uint64_t[]){ sp(0, 2, 0), 0 }, 2, "runs past the end");
	refuse_words((uint64_t[]){ sp(0, 0xffff, 0xffff) }, 1, "runs past the end");
	/* Far pointers: missing segment, pad outside, pad of the wrong kind. */
	refuse_words((uint64_t[]){ fp(0, 0, 1) }, 1, "far pointer to segment 1");
	refuse_words((uint64_t[]){ fp(0, 5, 0) }, 1, "landing pad");
	refuse_words((uint64_t[]){ fp(0, 1, 0), fp(0, 0, 0) }, 2, "another far pointer");
	refuse_words((uint64_t[]){ fp(0, 1, 0), 3 }, 2, "capability");
	refuse_words((uint64_t[]){ fp(1, 1, 0), sp(0, 0, 0), 0 }, 3, "double-far landing pad");
	refuse_words((uint64_t[]){ fp(1, 1, 0), fp(1, 0, 0), 0 }, 3, "double-far landing pad");
	refuse_words((uint64_t[]){ fp(1, 1, 0), fp(0, 0, 0), fp(0, 0, 0) }, 3, "tag");
	refuse_words((uint64_t[]){ fp(1, 1, 0), fp(0, 0, 7), sp(0, 0, 0) }, 3,
		     "far pointer to segment 7");
	refuse_words((uint64_t[]){ fp(1, 1, 0), fp(0, 0x1fffffff, 0), sp(0, 0, 0) }, 3,
		     "outside segment");
	refuse_words((uint64_t[]){ fp(1, 2, 0) }, 1, "landing pad");
	/* The account: struct, words, no NUL, empty, NUL inside, too long, through far. */
	refuse_words((uint64_t[]){ sp(0, 0, 1), sp(-1, 0, 0) }, 2, "HourUsage.account: struct pointer");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, EIGHT, 1), 0 }, 3, "where text was expected");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, COMPOSITE, 0), sp(0, 0, 0) }, 3,
		     "structs where text");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, BYTE, 2), txt("ab") }, 3, "NUL-terminated");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, BYTE, 0) }, 2, "NUL-terminated");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, BYTE, 4), 0x00620061 }, 3, "holds a NUL");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, BYTE, 9), txt("ab") }, 3, "runs past");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(0, BYTE, (1u << 29) - 1), 0 }, 3, "runs past");
	refuse_words((uint64_t[]){ sp(0, 0, 1), lp(-3, BYTE, 1) }, 2, "outside segment");
	refuse_words((uint64_t[]){ sp(0, 0, 1), 3 }, 2, "capability");
	/* Locations: not a pointer list, an element that is not text. */
	refuse_words((uint64_t[]){ sp(0, 0, 2), 0, lp(0, BYTE, 3), 0 }, 4, "list of text");
	refuse_words((uint64_t[]){ sp(0, 0, 2), 0, lp(0, COMPOSITE, 1), sp(1, 1, 0), 0 }, 5,
		     "data-only");
	refuse_words((uint64_t[]){ sp(0, 0, 2), 0, lp(0, PTR, 2), lp(1, BYTE, 2), sp(-1, 0, 0),
				   txt("a") }, 6, "HourUsage.locations[1]: struct pointer");
	/* VMs: bits, bad composite tags and counts, elements past the end. */
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, BIT, 5), 0 }, 5, "bits");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 1), lp(1, 0, 0), 0 }, 6,
		     "tag is not a struct");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 2), sp(2, 1, 1), 0, 0 }, 7,
		     "overflows");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 1), sp(-1, 1, 0), 0 }, 6,
		     "negative");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 4), sp(1, 1, 0), 0 }, 6,
		     "runs past");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, EIGHT, 4), 0 }, 5, "runs past");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 2), sp(1, 1, 1), 0,
				   lp(0, BYTE, 1), 0x78 }, 8,
		     "HourUsage.vms[0].location: text is not NUL-terminated");
}
END_TEST

/* Limits: the traversal budget, the decoded-size budget, the decompressed size. */
START_TEST(hostile_limits)
{
	/* 9000 pointers to one text of 1000 words: 9 Mi words read from a 80 kB message. */
	size_t n = 3 + 9000 + 1000;
	uint64_t *w = calloc(n, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	w[0] = sp(0, 0, 2);
	w[2] = lp(0, PTR, 9000);
	for (size_t i = 0; i < 9000; i++)	/* element i at word 3 + i, the text at 9003 */
		w[3 + i] = lp((int64_t)(9003 - (3 + i) - 1), BYTE, 8000);
	for (size_t i = 0; i < 1000; i++)
		w[9003 + i] = 0x6161616161616161ULL;
	w[9003 + 999] = 0x0061616161616161ULL;
	refuse_words(w, n, "traversal limit");
	/* The same with 100 pointers is fine (words nothing points to are allowed). */
	w[2] = lp(0, PTR, 100);
	struct usage_hour h;
	char err[256];
	ck_assert_msg(decode_words(w, n, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(h.nlocations, 100);
	ck_assert_uint_eq(strlen(h.locations[99]), 7999);
	usage_hour_release(&h);
	free(w);

	/* 2^29 - 1 empty elements from a few words: the read is charged a word each. */
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, VOID, (1u << 29) - 1) }, 4, "traversal");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 0), sp((1 << 29) - 1, 0, 0) },
		     5, "traversal");
	/* A VmUsage costs at least its 11 words, even when its sections are empty. */
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, COMPOSITE, 0), sp(800000, 0, 0) },
		     5, "traversal");
	refuse_words((uint64_t[]){ sp(0, 0, 3), 0, 0, lp(0, BYTE, 800000) }, 4, "runs past");
	/* 5.5 M null locations pass the traversal budget (a word each) but would
	 * decode to 5.5 M strings and pointers, over 128 MiB. */
	n = 3 + 5500000;
	w = calloc(n, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	w[0] = sp(0, 0, 2);
	w[2] = lp(0, PTR, 5500000);
	refuse_words(w, n, "decoded record would exceed 128 MiB");
	free(w);
	refuse_words((uint64_t[]){ sp(0, 0, 2), 0, lp(0, VOID, 8000000) }, 3,
		     "HourUsage.locations: list of non-pointers");
}
END_TEST

START_TEST(zip_bomb)
{
	/* 65 MiB of zeros compress to ~65 kB; the decoder stops at 64 MiB. */
	size_t big = USAGE_MAX_RAW + (1u << 20);
	uint8_t *zeros = calloc(big, 1);
	uLongf n = compressBound(big);
	Bytef *z = malloc(n);
	ck_assert(zeros && z);
	ck_assert_int_eq(compress2(z, &n, zeros, big, 9), Z_OK);
	free(zeros);
	refuse_bytes(z, n, true, "exceeds 64 MiB");
	free(z);
}
END_TEST

/* A message of exactly USAGE_MAX_RAW bytes is written and read; one word more is refused. */
START_TEST(size_limit_edge)
{
	size_t len = USAGE_MAX_RAW - 25;	/* 8 + 8 * (1 + 1 + (len + 1) / 8) == 64 MiB */
	char *s = malloc(len + 8);
	ck_assert_ptr_nonnull(s);
	memset(s, 'a', len + 8);
	s[len] = '\0';
	struct usage_hour h = { .account = s }, d;
	struct buf b = BUF_INIT;
	char err[256];
	ck_assert_int_eq(usage_encode(&h, &b), 0);
	ck_assert_msg(usage_decode(b.data, b.len, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(strlen(d.account), len);
	usage_hour_release(&d);
	buf_reset(&b);
	s[len] = 'a';
	s[len + 1] = '\0';
	ck_assert_int_eq(usage_encode(&h, &b), -1);	/* 64 MiB + 8 bytes */
	buf_release(&b);
	free(s);
}
END_TEST

/*
 * Every truncation of a file fails, naming its reason; random bit flips
 * never crash, and what they let through is checked against an oracle: a
 * zlib file that still decodes is the original hour (its Adler-32 covers
 * every decoded byte: only flips in bits zlib never reads, such as the
 * last byte's padding, get through); a raw message that decodes (a flip in
 * a figure or a name) is a well-formed hour, written again and read back
 * the same, and enough of them do (at least a tenth: the raw messages are
 * mostly figures and names, which any bit pattern decodes); a refusal
 * names its reason.
 */
static void mangle(const struct buf *good, bool zlib, uint64_t seed, int rounds)
{
	struct usage_hour h, orig, again;
	struct buf re = BUF_INIT;
	char err[256];
	uint8_t *m = malloc(good->len);
	uint64_t s = seed;
	int ok = 0;

	ck_assert_ptr_nonnull(m);
	int rc = zlib ? usage_decode(good->data, good->len, &orig, err, sizeof(err)) :
			usage_decode_raw(good->data, good->len, &orig, err, sizeof(err));
	ck_assert_msg(rc == 0, "the unmangled message: %s", err);
	for (size_t len = 0; len < good->len; len++) {
		err[0] = '\0';
		rc = zlib ? usage_decode(good->data, len, &h, err, sizeof(err)) :
			    usage_decode_raw(good->data, len, &h, err, sizeof(err));
		ck_assert_msg(rc == -1, "a truncation to %zu of %zu bytes decoded", len, good->len);
		ck_assert(err[0] != '\0');
	}
	for (int r = 0; r < rounds; r++) {
		memcpy(m, good->data, good->len);
		int flips = 1 + (int)(rnd(&s) % 4);
		for (int f = 0; f < flips; f++)
			m[rnd(&s) % good->len] ^= (uint8_t)(1u << (rnd(&s) % 8));
		err[0] = '\0';
		rc = zlib ? usage_decode(m, good->len, &h, err, sizeof(err)) :
			    usage_decode_raw(m, good->len, &h, err, sizeof(err));
		if (rc != 0) {
			ck_assert_int_eq(rc, -1);
			ck_assert_msg(err[0] != '\0', "round %d: a refusal without a reason", r);
			continue;
		}
		ok++;
		if (zlib) {
			assert_same(&orig, &h);
		} else {
			ck_assert_int_eq(usage_encode_raw(&h, &re), 0);
			ck_assert_msg(usage_decode_raw(re.data, re.len, &again, err, sizeof(err)) == 0,
				      "round %d: a decoded hour written again does not read back: %s", r, err);
			assert_same(&h, &again);
			usage_hour_release(&again);
			buf_reset(&re);
		}
		usage_hour_release(&h);
	}
	if (!zlib)
		ck_assert_msg(ok >= rounds / 10, "only %d of %d raw messages with a flipped bit decoded",
			      ok, rounds);
	usage_hour_release(&orig);
	buf_release(&re);
	free(m);
}

START_TEST(truncations_and_flips)
{
	struct usage_hour h;
	struct buf z = BUF_INIT, raw = BUF_INIT, seg = BUF_INIT;

	synth(&h, 6, 11);
	ck_assert_int_eq(usage_encode(&h, &z), 0);
	ck_assert_int_eq(usage_encode_raw(&h, &raw), 0);
	mangle(&raw, false, 1, 20000);
	mangle(&z, true, 2, 20000);
	buf_add(&seg, capnp_seg1, sizeof(capnp_seg1));
	mangle(&seg, false, 3, 20000);
	usage_hour_release(&h);
	buf_release(&z);
	buf_release(&raw);
	buf_release(&seg);
}
END_TEST

/*
 * The canonical order's ties: the same VM twice sorts by its figures
 * (whatever the input's order), a NULL name before an empty one, and a
 * NULL location before "".
 */
START_TEST(sort_ties)
{
	struct usage_vm vms[3] = {
		{ .location = "l", .cloudspace = "c", .vm = "v", .mem_mib_mean = 20, .samples = 1 },
		{ .location = "l", .cloudspace = "", .vm = "v", .mem_mib_mean = 10 },
		{ .location = "l", .cloudspace = NULL, .vm = "v", .mem_mib_mean = 10 },
	};
	struct usage_vm same = { .location = "l", .cloudspace = "c", .vm = "v", .mem_mib_mean = 10, .samples = 9 };
	char *locs[3] = { "", "b", NULL };
	struct usage_hour h = { .vms = vms, .nvms = 3, .locations = locs, .nlocations = 3 };
	usage_hour_sort(&h);
	ck_assert_ptr_null(vms[0].cloudspace);
	ck_assert_str_eq(vms[1].cloudspace, "");
	ck_assert_double_eq(vms[2].mem_mib_mean, 20);
	ck_assert_ptr_null(locs[0]);
	ck_assert_str_eq(locs[1], "");
	ck_assert_str_eq(locs[2], "b");
	/* the same VM twice: the smaller figures first, either way round */
	struct usage_vm two[2] = { vms[2], same };
	h = (struct usage_hour){ .vms = two, .nvms = 2 };
	usage_hour_sort(&h);
	ck_assert_double_eq(two[0].mem_mib_mean, 10);
	ck_assert_uint_eq(two[0].samples, 9);
	ck_assert_double_eq(two[1].mem_mib_mean, 20);
	usage_hour_sort(&h);
	ck_assert_uint_eq(two[0].samples, 9);
}
END_TEST

/*
 * A null root pointer is a HourUsage of defaults (Cap'n Proto's rule: the
 * account "", no VMs); a
 * zlib stream that needs a preset dictionary, and a file larger than any
 * message can be, are refused with their reasons.
 */
START_TEST(defaults_and_zlib_refusals)
{
	struct usage_hour h;
	char err[256] = "";
	ck_assert_msg(decode_words((uint64_t[]){ 0 }, 1, &h, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(h.account, "");	/* decoded strings are never NULL (usage.h) */
	ck_assert_int_eq(h.hour_start, 0);
	ck_assert(!h.complete);
	ck_assert_uint_eq(h.nvms, 0);
	ck_assert_uint_eq(h.nlocations, 0);
	usage_hour_release(&h);

	static const char dict[] = "a preset dictionary";
	static const char text[] = "any message at all";
	z_stream z = { 0 };
	unsigned char out[256];
	ck_assert_int_eq(deflateInit(&z, 9), Z_OK);
	ck_assert_int_eq(deflateSetDictionary(&z, (const Bytef *)dict, sizeof(dict)), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)text;
	z.avail_in = sizeof(text);
	z.next_out = out;
	z.avail_out = sizeof(out);
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = sizeof(out) - z.avail_out;
	deflateEnd(&z);
	refuse_bytes(out, n, true, "corrupt zlib stream: needs a dictionary");

	size_t big = USAGE_MAX_RAW + 1;
	uint8_t *zeros = calloc(big, 1);
	ck_assert_ptr_nonnull(zeros);
	refuse_bytes(zeros, big, true, "is larger than any valid one");
	free(zeros);
}
END_TEST

START_TEST(release_is_idempotent)
{
	struct usage_hour h = { 0 };
	usage_hour_release(&h);
	synth(&h, 3, 1);
	usage_hour_release(&h);
	usage_hour_release(&h);
	ck_assert_ptr_null(h.account);
	ck_assert_uint_eq(h.nvms, 0);
}
END_TEST

Suite *usage_suite(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip_shapes);
	tcase_add_test(tc, round_trip_names);
	tcase_add_test(tc, round_trip_many);
	tcase_add_test(tc, canonical_golden);
	tcase_add_test(tc, deterministic);
	tcase_add_test(tc, capnp_multi_segment);
	tcase_add_test(tc, double_far);
	tcase_add_test(tc, other_layouts);
	tcase_add_test(tc, hostile_framing);
	tcase_add_test(tc, hostile_pointers);
	tcase_add_test(tc, hostile_limits);
	tcase_add_test(tc, zip_bomb);
	tcase_add_test(tc, size_limit_edge);
	tcase_add_test(tc, truncations_and_flips);
	tcase_add_test(tc, release_is_idempotent);
	tcase_add_test(tc, sort_ties);
	tcase_add_test(tc, defaults_and_zlib_refusals);
	suite_add_tcase(s, tc);
	return s;
}
