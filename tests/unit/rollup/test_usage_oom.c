/*
 * test_usage_oom.c — every allocation of the usage codec failed in turn
 * (failalloc.h): usage_encode() reports -1 with its buffer marked oom,
 * usage_decode() reports -1 with a reason and *out zeroed (nothing to
 * release, nothing half-built); otherwise the record reads back the same.
 * zlib allocates through its own default allocator (not wrapped).
 */
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "suites.h"
#include "usage.h"

static char *locs[] = { "fra1", "par2" };
static struct usage_vm vms[] = {
	{ .location = "fra1", .cloudspace = "cs1", .vm = "vm1", .mem_mib_mean = 512.5,
	  .disk_gib_max = 20, .cpu_seconds = 3600, .io_read = 10, .io_write = 20,
	  .net_tx_bytes = 30, .net_rx_bytes = 40, .samples = 60 },
	{ .location = "fra1", .cloudspace = "cs1", .vm = "vm2", .samples = 1 },
	{ .location = "par2", .cloudspace = "", .vm = "x", .io_read = 7, .samples = 2 },
};
static const struct usage_hour hour = { .account = "acme", .hour_start = 1700002800,
					.locations = locs, .nlocations = 2, .complete = true,
					.vms = vms, .nvms = 3 };

static bool is_zero(const struct usage_hour *h)
{
	static const struct usage_hour z;
	return memcmp(h, &z, sizeof(z)) == 0;
}

static void codec_body(void *arg)
{
	bool zlib = *(bool *)arg;
	struct buf b = BUF_INIT;
	struct usage_hour d;
	memset(&d, 0xa5, sizeof(d));
	char err[256] = "";
	oom_arm();
	int erc = zlib ? usage_encode(&hour, &b) : usage_encode_raw(&hour, &b);
	int drc = -2;
	if (erc == 0)
		drc = zlib ? usage_decode(b.data, b.len, &d, err, sizeof(err)) :
			     usage_decode_raw(b.data, b.len, &d, err, sizeof(err));
	bool failed = oom_disarm();
	if (erc != 0) {
		ck_assert(failed);
		ck_assert_int_eq(erc, -1);
		ck_assert(b.oom);
	} else if (drc != 0) {
		ck_assert(failed);
		ck_assert_int_eq(drc, -1);
		ck_assert_msg(err[0] != '\0', "no reason at n=%ld", oom_n());
		ck_assert_msg(is_zero(&d), "*out not zeroed at n=%ld", oom_n());
	} else {
		ck_assert_str_eq(d.account, "acme");
		ck_assert_int_eq(d.hour_start, 1700002800);
		ck_assert(d.complete);
		ck_assert_uint_eq(d.nlocations, 2);
		ck_assert_str_eq(d.locations[1], "par2");
		ck_assert_uint_eq(d.nvms, 3);
		ck_assert_str_eq(d.vms[0].vm, "vm1");
		ck_assert_double_eq(d.vms[0].mem_mib_mean, 512.5);
		ck_assert_uint_eq(d.vms[0].net_rx_bytes, 40);
		ck_assert_str_eq(d.vms[2].cloudspace, "");
		ck_assert_uint_eq(d.vms[2].io_read, 7);
		usage_hour_release(&d);
	}
	buf_release(&b);
}

START_TEST(codec_oom)
{
	bool zlib = _i;
	oom_loop(zlib ? "usage codec (zlib)" : "usage codec (raw)", codec_body, &zlib);
}
END_TEST

Suite *usage_oom_suite(void)
{
	Suite *s = suite_create("usage_oom");
	TCase *tc = tcase_create("oom");
	tcase_add_loop_test(tc, codec_oom, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
