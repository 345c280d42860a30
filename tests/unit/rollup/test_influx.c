/*
 * test_influx.c — the rollup's InfluxDB side, pure parts: the per-VM
 * arithmetic (mean, max, counter increase with resets, gaps, the sample
 * before the hour, the hour's edges), the identifier check, the query text,
 * and the chunked-JSON answer parser on canned answers, fed whole, byte by
 * byte and in random pieces, including hostile ones (truncated, garbage,
 * huge strings and numbers, deep nesting, mutated answers): errors, never a
 * crash.
 *
 * Fixtures: hour H = 1700002800 (a multiple of 3600).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "influx.h"
#include "suites.h"

#define H 1700002800LL

/* ---- the arithmetic ---- */

#define ALL ((1u << VM_NFIELDS) - 1)

static struct vm_sample smp(long long t, double mem, double disk, double cpu, uint64_t rd,
			    uint64_t wr, uint64_t tx, uint64_t rx)
{
	return (struct vm_sample){ .t = t, .have = ALL, .mem_mib = mem, .disk_gib = disk,
				   .cpu_seconds = cpu, .io_read = rd, .io_write = wr,
				   .net_tx_bytes = tx, .net_rx_bytes = rx };
}

static struct vm_hour feed(const struct vm_sample *s, size_t n, bool *have)
{
	struct vm_acc a;
	struct vm_hour h = { 0 };
	vm_acc_init(&a, H);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(vm_acc_add(&a, &s[i]), 0);
	*have = vm_acc_result(&a, &h);
	return h;
}

START_TEST(mean_max_and_increase)
{
	const struct vm_sample s[] = {
		smp(H - 60, 999, 999, 100, 1000, 10, 5, 7),	/* before: starting point only */
		smp(H + 0, 100, 20, 110, 1100, 10, 5, 7),	/* at H: inside */
		smp(H + 60, 200, 40, 125.5, 1300, 15, 5, 9),
		smp(H + 120, 300, 30, 130, 1350, 16, 6, 10),
	};
	bool have;
	struct vm_hour h = feed(s, 4, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 3);
	ck_assert_double_eq(h.mem_mib_mean, 200);
	ck_assert_double_eq(h.disk_gib_max, 40);
	ck_assert_double_eq(h.cpu_seconds, 30);
	ck_assert_uint_eq(h.io_read, 350);
	ck_assert_uint_eq(h.io_write, 6);
	ck_assert_uint_eq(h.net_tx_bytes, 1);
	ck_assert_uint_eq(h.net_rx_bytes, 3);
}
END_TEST

START_TEST(counter_resets)
{
	const struct vm_sample s[] = {
		smp(H - 30, 1, 1, 500, 1000, 0, UINT64_C(18446744073709551000), 0),
		smp(H + 30, 1, 1, 4, 50, 0, 100, 0),		/* reset: +4, +50, +100 */
		smp(H + 90, 1, 1, 10, 70, 0, 300, 0),		/* +6, +20, +200 */
		smp(H + 150, 1, 1, 3, 5, 0, 0, 0),		/* reset again: +3, +5, +0 */
	};
	bool have;
	struct vm_hour h = feed(s, 4, &have);
	ck_assert(have);
	ck_assert_double_eq(h.cpu_seconds, 13);
	ck_assert_uint_eq(h.io_read, 75);
	ck_assert_uint_eq(h.net_tx_bytes, 300);
}
END_TEST

START_TEST(no_sample_before_the_hour)
{
	/* The first sample inside is the starting point: its value does not count. */
	const struct vm_sample s[] = {
		smp(H + 10, 10, 1, 1000, 5000, 0, 0, 0),
		smp(H + 70, 20, 1, 1060, 5600, 0, 0, 0),
	};
	bool have;
	struct vm_hour h = feed(s, 2, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 2);
	ck_assert_double_eq(h.mem_mib_mean, 15);
	ck_assert_double_eq(h.cpu_seconds, 60);
	ck_assert_uint_eq(h.io_read, 600);
}
END_TEST

START_TEST(only_the_last_sample_before_counts)
{
	/* Steps between samples before H are not the hour's usage. */
	const struct vm_sample s[] = {
		smp(H - 3000, 1, 1, 10, 10, 0, 0, 0),
		smp(H - 600, 1, 1, 50, 900, 0, 0, 0),
		smp(H - 1, 1, 1, 40, 1000, 0, 0, 0),		/* a reset before H: not counted */
		smp(H + 1, 7, 3, 45, 1001, 0, 0, 0),
	};
	bool have;
	struct vm_hour h = feed(s, 4, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 1);
	ck_assert_double_eq(h.mem_mib_mean, 7);
	ck_assert_double_eq(h.disk_gib_max, 3);
	ck_assert_double_eq(h.cpu_seconds, 5);
	ck_assert_uint_eq(h.io_read, 1);
}
END_TEST

START_TEST(hour_edges)
{
	const struct vm_sample s[] = {
		smp(H, 10, 1, 100, 100, 0, 0, 0),		/* inside */
		smp(H + 3599, 20, 2, 150, 150, 0, 0, 0),	/* inside */
		smp(H + 3600, 1000, 99, 900, 900, 0, 0, 0),	/* outside: ignored */
		smp(H + 7200, 1000, 99, 999, 999, 0, 0, 0),
	};
	bool have;
	struct vm_hour h = feed(s, 4, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 2);
	ck_assert_double_eq(h.mem_mib_mean, 15);
	ck_assert_double_eq(h.disk_gib_max, 2);
	ck_assert_double_eq(h.cpu_seconds, 50);
	ck_assert_uint_eq(h.io_read, 50);

	/* Nothing inside: no record, before or after alone. */
	const struct vm_sample out[] = { smp(H - 10, 1, 1, 1, 1, 1, 1, 1), smp(H + 3600, 1, 1, 2, 2, 2, 2, 2) };
	feed(out, 2, &have);
	ck_assert(!have);
	feed(out, 0, &have);
	ck_assert(!have);
}
END_TEST

START_TEST(one_sample_only)
{
	const struct vm_sample s[] = { smp(H + 1800, 512.25, 40, 1e6, 123456, 7, 8, 9) };
	bool have;
	struct vm_hour h = feed(s, 1, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 1);
	ck_assert_double_eq(h.mem_mib_mean, 512.25);
	ck_assert_double_eq(h.disk_gib_max, 40);
	ck_assert_double_eq(h.cpu_seconds, 0);
	ck_assert_uint_eq(h.io_read + h.io_write + h.net_tx_bytes + h.net_rx_bytes, 0);
}
END_TEST

START_TEST(gaps_and_missing_values)
{
	struct vm_sample s[] = {
		smp(H - 120, 0, 0, 10, 100, 0, 0, 0),
		smp(H + 600, 100, 5, 20, 200, 0, 0, 0),
		smp(H + 2400, 300, 0, 0, 0, 0, 0, 0),		/* after a 30 min gap; counters null */
		smp(H + 3000, 0, 9, 35, 260, 0, 0, 0),		/* mem null */
	};
	s[2].have = 1u << VM_MEM | 1u << VM_DISK;
	s[3].have = ALL & ~(1u << VM_MEM);
	bool have;
	struct vm_hour h = feed(s, 4, &have);
	ck_assert(have);
	ck_assert_uint_eq(h.samples, 3);
	ck_assert_double_eq(h.mem_mib_mean, 200);	/* over the two with a value */
	ck_assert_double_eq(h.disk_gib_max, 9);
	ck_assert_double_eq(h.cpu_seconds, 25);		/* 10 -> 20 -> (null) -> 35 */
	ck_assert_uint_eq(h.io_read, 160);
}
END_TEST

START_TEST(time_order)
{
	struct vm_acc a;
	vm_acc_init(&a, H);
	struct vm_sample s = smp(H + 10, 1, 1, 1, 1, 1, 1, 1);
	ck_assert_int_eq(vm_acc_add(&a, &s), 0);
	ck_assert_int_eq(vm_acc_add(&a, &s), -1);	/* the same time twice: two series merged */
	s.t = H + 5;
	ck_assert_int_eq(vm_acc_add(&a, &s), -1);
	ck_assert_uint_eq(a.samples, 1);
}
END_TEST

/* ---- identifiers and the query ---- */

START_TEST(identifiers)
{
	ck_assert_ptr_null(influx_check_identifier("vm_usage"));
	ck_assert_ptr_null(influx_check_identifier("net tx (bytes), total=x"));
	ck_assert_ptr_null(influx_check_identifier("mémoire"));
	ck_assert_ptr_null(influx_check_identifier("\xf0\x9f\x98\x80"));
	ck_assert_str_eq(influx_check_identifier(""), "is empty");
	ck_assert_str_eq(influx_check_identifier(NULL), "is empty");
	ck_assert_str_eq(influx_check_identifier("a\"b"), "contains a double quote");
	ck_assert_str_eq(influx_check_identifier("a\\b"), "contains a backslash");
	ck_assert_str_eq(influx_check_identifier("a\nb"), "contains a control character");
	ck_assert_str_eq(influx_check_identifier("a\x7f"), "contains a control character");
	ck_assert_str_eq(influx_check_identifier("\xff"), "is not valid UTF-8");
	ck_assert_str_eq(influx_check_identifier("\xc0\xaf"), "is not valid UTF-8");	/* overlong */
	ck_assert_str_eq(influx_check_identifier("\xed\xa0\x80"), "is not valid UTF-8");	/* surrogate */
	ck_assert_str_eq(influx_check_identifier("a\xc3"), "is not valid UTF-8");	/* truncated */
	ck_assert_str_eq(influx_check_identifier("\x80"), "is not valid UTF-8");
	/* each length at its edges: the smallest and largest code point of
	 * 2, 3 and 4 bytes, and the first one past each rule */
	ck_assert_ptr_null(influx_check_identifier("\xc2\x80\xdf\xbf"));	/* U+0080, U+07FF */
	ck_assert_ptr_null(influx_check_identifier("\xe0\xa0\x80\xef\xbf\xbf"));	/* U+0800, U+FFFF */
	ck_assert_ptr_null(influx_check_identifier("\xed\x9f\xbf\xee\x80\x80"));	/* U+D7FF, U+E000 */
	ck_assert_ptr_null(influx_check_identifier("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"));	/* U+10000, U+10FFFF */
	ck_assert_str_eq(influx_check_identifier("\xc1\xbf"), "is not valid UTF-8");	/* lead 0xc1: overlong */
	ck_assert_str_eq(influx_check_identifier("\xe0\x9f\xbf"), "is not valid UTF-8");	/* U+07FF in 3 bytes */
	ck_assert_str_eq(influx_check_identifier("\xed\xbf\xbf"), "is not valid UTF-8");	/* U+DFFF */
	ck_assert_str_eq(influx_check_identifier("\xf0\x8f\xbf\xbf"), "is not valid UTF-8");	/* U+FFFF in 4 */
	ck_assert_str_eq(influx_check_identifier("\xf4\x90\x80\x80"), "is not valid UTF-8");	/* U+110000 */
	ck_assert_str_eq(influx_check_identifier("\xf5\x80\x80\x80"), "is not valid UTF-8");	/* lead 0xf5 */
	ck_assert_str_eq(influx_check_identifier("\xe2\x82"), "is not valid UTF-8");	/* truncated, 3 */
	ck_assert_str_eq(influx_check_identifier("\xf0\x9f\x98"), "is not valid UTF-8");	/* truncated, 4 */
	ck_assert_str_eq(influx_check_identifier("\xe2\x28\xa1"), "is not valid UTF-8");	/* not a continuation */
	ck_assert_str_eq(influx_check_identifier("\xf0\x9f\x98\x41"), "is not valid UTF-8");
	ck_assert_str_eq(influx_check_identifier("a\x1f"), "contains a control character");
	char longname[300];
	memset(longname, 'x', sizeof(longname));
	longname[255] = '\0';
	ck_assert_ptr_null(influx_check_identifier(longname));
	longname[255] = 'x';
	longname[256] = '\0';
	ck_assert_str_eq(influx_check_identifier(longname), "is longer than 255 bytes");
}
END_TEST

START_TEST(query_text)
{
	struct buf b = BUF_INIT;
	char err[200];
	struct influx_cfg cfg = { .url = "http://x", .db = "usage" };
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.data,
		"SELECT \"mem_mib\",\"disk_gib\",\"cpu_seconds\",\"io_read\",\"io_write\",\"net_tx_bytes\","
		"\"net_rx_bytes\" FROM \"vm_usage\" WHERE time >= 1699999200s AND time < 1700006400s "
		"GROUP BY \"account\",\"cloudspace\",\"vm\"");
	cfg = (struct influx_cfg){ .measurement = "m 1", .tag_account = "tenant", .tag_cloudspace = "cs",
				   .tag_vm = "machine", .field_mem = "m", .field_disk = "d", .field_cpu = "c",
				   .field_io_read = "r", .field_io_write = "w", .field_net_tx = "t",
				   .field_net_rx = "x", .lookback_s = 300 };
	buf_reset(&b);
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.data,
		"SELECT \"m\",\"d\",\"c\",\"r\",\"w\",\"t\",\"x\" FROM \"m 1\" WHERE time >= 1700002500s AND "
		"time < 1700006400s GROUP BY \"tenant\",\"cs\",\"machine\"");
	cfg.field_net_tx = "x\" OR 1=1 --";
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "field_net_tx 'x\" OR 1=1 --' contains a double quote");
	cfg.field_net_tx = "t";
	cfg.lookback_s = -1;
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "lookback -1 s is out of range (0..604800)");
	cfg.lookback_s = 0;
	ck_assert_int_eq(influx_query(&cfg, 100, &b, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "hour 100 is out of range");
	cfg.lookback_s = 7 * 86400 + 1;
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "lookback 604801 s is out of range (0..604800)");
	cfg.lookback_s = 7 * 86400;	/* the largest */
	buf_reset(&b);
	ck_assert_int_eq(influx_query(&cfg, H, &b, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "time >= 1699398000s AND time < 1700006400s"));
	ck_assert_int_eq(influx_query(&cfg, 100000000000LL + 3600, &b, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "hour 100000003600 is out of range");
	buf_release(&b);
}
END_TEST

/* ---- the answer parser ---- */

static const char *const TAGS[3] = { "account", "cloudspace", "vm" };

#define COLS "\"columns\":[\"time\",\"mem_mib\",\"disk_gib\",\"cpu_seconds\",\"io_read\",\"io_write\"," \
	     "\"net_tx_bytes\",\"net_rx_bytes\"]"

/*
 * Four series in four chunks: vm1 split over two (partial), a VM whose only
 * sample is at H+3600, and one with escapes and extreme numbers.
 */
static const char ANSWER[] =
	"{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"vm_usage\",\"tags\":{\"account\":\"acme\","
	"\"cloudspace\":\"cs1\",\"vm\":\"vm1\"}," COLS ",\"values\":[[1700002740,100,10,5.5,10,3,1000,2000],"
	"[1700002800,200,12,7.5,20,5,1500,2100]],\"partial\":true}],\"partial\":true}]}\n"
	"{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"vm_usage\",\"tags\":{\"account\":\"acme\","
	"\"cloudspace\":\"cs1\",\"vm\":\"vm1\"}," COLS ",\"values\":[[1700002860,300,11,2.5,25,null,500,2200]]}],"
	"\"partial\":true}]}\n"
	"{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"vm_usage\",\"tags\":{\"account\":"
	"\"we,ird \\\"x\\\"=y\\\\z\",\"cloudspace\":\"cs=2\",\"vm\":\"vm 2\\u00e9\\ud83d\\ude00\"}," COLS
	",\"values\":[[1700006400,1,1,1,1,1,1,1]]}],\"partial\":true}]}\n"
	"{\"results\":[{\"statement_id\":0,\"messages\":[{\"level\":\"warning\",\"text\":\"x\"}],\"series\":[{"
	"\"name\":\"vm_usage\",\"tags\":{\"vm\":\"v\",\"account\":\"b\\u003cc\\t\\/\",\"cloudspace\":\"\","
	"\"other\":\"o\"}," COLS ",\"values\":[[1700002810,50.5,1e+1,0.000001,9223372036854775807,0,0,-5],"
	"[1700002820,49.5,2,1e-07,1,0,0,4.6]]}]}]}\n";

struct rec {
	char acct[64], cs[64], vm[64];
	struct vm_hour h;
};

struct got {
	struct rec r[16];
	int n;
	int abort_at;	/* 0 = never */
};

static int collect(const char *account, const char *cloudspace, const char *vm,
		   const struct vm_hour *h, void *arg)
{
	struct got *g = arg;
	if (g->abort_at && g->n + 1 >= g->abort_at)
		return -1;
	ck_assert_int_lt(g->n, 16);
	struct rec *r = &g->r[g->n++];
	snprintf(r->acct, sizeof(r->acct), "%s", account);
	snprintf(r->cs, sizeof(r->cs), "%s", cloudspace);
	snprintf(r->vm, sizeof(r->vm), "%s", vm);
	r->h = *h;
	return 0;
}

/* Feed text in pieces of step bytes (0: random sizes from seed); finish. */
static int parse(const char *text, size_t len, size_t step, unsigned seed, struct got *g,
		 char *err, size_t errlen, struct influx_stats *st)
{
	struct influx_parser *p = influx_parser_new(TAGS, H, 3600, g ? collect : NULL, g);
	ck_assert_ptr_nonnull(p);
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		size_t n = step;
		if (!n) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 300;
		}
		if (n > len - i)
			n = len - i;
		rc = influx_parser_feed(p, text + i, n);
		i += n;
	}
	if (rc == 0)
		rc = influx_parser_finish(p);
	snprintf(err, errlen, "%s", influx_parser_error(p));
	if (st)
		influx_parser_counts(p, st);
	influx_parser_free(p);
	return rc;
}

static void check_answer(const struct got *g)
{
	ck_assert_int_eq(g->n, 2);
	const struct rec *a = &g->r[0], *b = &g->r[1];
	ck_assert_str_eq(a->acct, "acme");
	ck_assert_str_eq(a->cs, "cs1");
	ck_assert_str_eq(a->vm, "vm1");
	ck_assert_uint_eq(a->h.samples, 2);
	ck_assert_double_eq(a->h.mem_mib_mean, 250);
	ck_assert_double_eq(a->h.disk_gib_max, 12);
	ck_assert_double_eq(a->h.cpu_seconds, 4.5);	/* 5.5 -> 7.5 -> reset 2.5 */
	ck_assert_uint_eq(a->h.io_read, 15);
	ck_assert_uint_eq(a->h.io_write, 2);		/* 3 -> 5, then null */
	ck_assert_uint_eq(a->h.net_tx_bytes, 1000);	/* +500, reset +500 */
	ck_assert_uint_eq(a->h.net_rx_bytes, 200);
	ck_assert_str_eq(b->acct, "b<c\t/");
	ck_assert_str_eq(b->cs, "");
	ck_assert_str_eq(b->vm, "v");
	ck_assert_uint_eq(b->h.samples, 2);
	ck_assert_double_eq(b->h.mem_mib_mean, 50);
	ck_assert_double_eq(b->h.disk_gib_max, 10);
	ck_assert_double_eq(b->h.cpu_seconds, 1e-07);
	ck_assert_uint_eq(b->h.io_read, 1);		/* from 2^63-1 down to 1: a reset */
	ck_assert_uint_eq(b->h.net_rx_bytes, 0);	/* -5 is absent: 4.6 -> 5 is the start */
}

START_TEST(parse_answer_any_split)
{
	char err[512];
	struct influx_stats st;
	size_t len = strlen(ANSWER);
	for (size_t step = 0; step <= 7; step++) {
		struct got g = { 0 };
		ck_assert_msg(parse(ANSWER, len, step == 7 ? len : step, 1, &g, err, sizeof(err), &st) == 0,
			      "step %zu: %s", step, err);
		check_answer(&g);
		ck_assert_uint_eq(st.points, 6);
		ck_assert_uint_eq(st.series, 3);
		ck_assert_uint_eq(st.bytes, len);
	}
	for (unsigned seed = 1; seed < 50; seed++) {
		struct got g = { 0 };
		ck_assert_int_eq(parse(ANSWER, len, 0, seed, &g, err, sizeof(err), NULL), 0);
		check_answer(&g);
	}
	/* read-only: the same rows, no callbacks */
	ck_assert_int_eq(parse(ANSWER, len, 0, 3, NULL, err, sizeof(err), &st), 0);
	ck_assert_uint_eq(st.points, 6);
	ck_assert_uint_eq(st.series, 3);
}
END_TEST

START_TEST(parse_tag_values_exactly)
{
	/* The VM at H+3600 has no record; put a sample inside to see its tags. */
	static const char a[] =
		"{\"results\":[{\"series\":[{\"tags\":{\"account\":\"we,ird \\\"x\\\"=y\\\\z\","
		"\"cloudspace\":\"cs=2\",\"vm\":\"vm 2\\u00e9\\ud83d\\ude00 \\ud800x\\udc00\"}," COLS
		",\"values\":[[1700002800,1,1,1,1,1,1,1]]}]}]}";
	char err[512];
	struct got g = { 0 };
	ck_assert_msg(parse(a, strlen(a), 1, 0, &g, err, sizeof(err), NULL) == 0, "%s", err);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.r[0].acct, "we,ird \"x\"=y\\z");
	ck_assert_str_eq(g.r[0].cs, "cs=2");
	/* a lone surrogate of either half reads as U+FFFD */
	ck_assert_str_eq(g.r[0].vm, "vm 2\xc3\xa9\xf0\x9f\x98\x80 \xef\xbf\xbdx\xef\xbf\xbd");
}
END_TEST

/* Parse text and expect failure with msg inside the error. */
static void expect_fail(const char *text, size_t len, const char *msg)
{
	char err[512];
	struct got g = { 0 };
	ck_assert_int_eq(parse(text, len, 0, 7, &g, err, sizeof(err), NULL), -1);
	ck_assert_msg(strstr(err, msg) != NULL, "error '%s' lacks '%s'", err, msg);
}

#define EF(lit, msg) expect_fail(lit, sizeof(lit) - 1, msg)

START_TEST(parse_server_errors)
{
	static const char e1[] = "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: usage\"}]}\n";
	static const char e2[] = "{\"error\":\"error parsing query: found EOF\"}";
	char err[512];
	struct influx_parser *p = influx_parser_new(TAGS, H, 3600, collect, &(struct got){ 0 });
	ck_assert_int_eq(influx_parser_feed(p, e1, strlen(e1)), -1);
	ck_assert_str_eq(influx_parser_error(p), "database not found: usage");
	ck_assert(influx_parser_server_error(p));
	influx_parser_free(p);
	expect_fail(e2, strlen(e2), "error parsing query: found EOF");
	/* an error after rows were read (e.g. a limit hit mid-stream) */
	char mid[2048];
	snprintf(mid, sizeof(mid), "%.*s{\"results\":[{\"statement_id\":0,\"error\":\"max-select-point limit exceeded\"}]}",
		 (int)(strchr(ANSWER, '\n') - ANSWER + 1), ANSWER);
	expect_fail(mid, strlen(mid), "max-select-point limit exceeded");
	/* an empty error message still says something (found by fuzz_influx) */
	static const char e3[] = "{\"error\":\"\"}";
	expect_fail(e3, strlen(e3), "InfluxDB reported an error without a message");
	/* empty results: no VM, no error */
	static const char none[] = "{\"results\":[{\"statement_id\":0}]}\n";
	struct got g = { 0 };
	ck_assert_int_eq(parse(none, strlen(none), 0, 1, &g, err, sizeof(err), NULL), 0);
	ck_assert_int_eq(g.n, 0);
}
END_TEST

START_TEST(parse_truncated)
{
	char err[512];
	size_t len = strlen(ANSWER);
	/* Every proper prefix is refused (each chunk but the last says "partial"). */
	for (size_t n = 0; n < len - 1; n++) {
		struct got g = { 0 };
		ck_assert_msg(parse(ANSWER, n, 0, (unsigned)n, &g, err, sizeof(err), NULL) == -1,
			      "prefix %zu accepted", n);
		ck_assert(strstr(err, "truncated") || strstr(err, "empty") || strstr(err, "partial"));
	}
	expect_fail("", 0, "the answer is empty");
	expect_fail("   \n", 4, "the answer is empty");
}
END_TEST

START_TEST(parse_garbage)
{
	EF("<html>502 Bad Gateway</html>", "expected '{' to begin an answer");
	EF("[1,2]", "expected '{' to begin an answer");
	EF("{\"results\":{}}", "unexpected '{'");
	EF("{\"results\":[{\"series\":5}]}", "'series' is not an array");
	EF("{\"a\":tru}", "bad literal");
	EF("{\"a\":1}}", "expected '{'");
	EF("{\"a\":\"x\\q\"}", "bad escape");
	EF("{\"a\":\"x\\u12g4\"}", "bad \\u escape");
	EF("{\"a\":\"x\ny\"}", "control byte");
	EF("{\"a\" 1}", "expected ':'");
	EF("{\"a\":1 2}", "expected ','");
	EF("{\"a\":[1}", "unexpected '}'");
	EF("{1:2}", "expected a member name");
	expect_fail("{\"a\":\0}", 7, "unexpected byte 0x00");
	/* the answer's shape */
	static const char vbc[] = "{\"results\":[{\"series\":[{\"tags\":{},\"values\":[[1,2]]}]}]}";
	expect_fail(vbc, strlen(vbc), "values before its columns");
	static const char cols[] = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"a\"],\"values\":[]}]}]}";
	expect_fail(cols, strlen(cols), "2 columns where 8 were asked for");
	static const char notime[] = "{\"results\":[{\"series\":[{\"columns\":[\"x\"]}]}]}";
	expect_fail(notime, strlen(notime), "first column is not 'time'");
	char row[1024];
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,1,\"x\",1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "column 'disk_gib' holds a string");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "a row has 7 values for 8 columns");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,1,1,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "more values than columns");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[\"2023-11-14T23:00:00Z\",1,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "column 'time' holds a string");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1.5,1,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "not an integer");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,01,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "bad number");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,1,1,1,1e30,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "out of range");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,[1],1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "nested value");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{\"tags\":{\"vm\":\"a\\u0000b\"}," COLS
		 ",\"values\":[[1700002800,1,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "tag 'vm' of a series holds a NUL byte");
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{\"tags\":{\"vm\":5}}]}]}");
	expect_fail(row, strlen(row), "tag 'vm' is not a string");
	/* samples out of order, or two at the same time: series merged by a wrong tag name */
	snprintf(row, sizeof(row), "{\"results\":[{\"series\":[{" COLS ",\"values\":[[1700002800,1,1,1,1,1,1,1],"
		 "[1700002800,1,1,1,1,1,1,1]]}]}]}");
	expect_fail(row, strlen(row), "not in time order");
}
END_TEST

START_TEST(parse_duplicate_series)
{
	/* The same tags twice without "partial": two series read back alike (invalid UTF-8). */
	char a[2048];
	snprintf(a, sizeof(a),
		 "{\"results\":[{\"series\":[{\"tags\":{\"account\":\"bad\\ufffd\"}," COLS
		 ",\"values\":[[1700002800,1,1,1,1,1,1,1]]}],\"partial\":true}]}\n"
		 "{\"results\":[{\"series\":[{\"tags\":{\"account\":\"bad\\ufffd\"}," COLS
		 ",\"values\":[[1700002800,2,1,1,1,1,1,1]]}]}]}\n");
	expect_fail(a, strlen(a), "appears twice");
	/* ... even when another series came between */
	snprintf(a, sizeof(a),
		 "{\"results\":[{\"series\":[{\"tags\":{\"account\":\"a\"}," COLS
		 ",\"values\":[[1700002800,1,1,1,1,1,1,1]]},{\"tags\":{\"account\":\"b\"}," COLS
		 ",\"values\":[[1700002800,1,1,1,1,1,1,1]]},{\"tags\":{\"account\":\"a\"}," COLS
		 ",\"values\":[[1700002900,1,1,1,1,1,1,1]]}]}]}");
	expect_fail(a, strlen(a), "account='a' cloudspace='' vm='' appears twice");
}
END_TEST

START_TEST(parse_callback_abort)
{
	char err[512];
	struct got g = { .abort_at = 2 };
	ck_assert_int_eq(parse(ANSWER, strlen(ANSWER), 0, 1, &g, err, sizeof(err), NULL), -1);
	ck_assert_str_eq(err, "aborted by the callback");
	ck_assert_int_eq(g.n, 1);
}
END_TEST

START_TEST(parse_huge)
{
	size_t n = INFLUX_MAX_STRING + 100;
	char *big = malloc(n + 64);
	ck_assert_ptr_nonnull(big);
	/* a huge tag value */
	int k = snprintf(big, 64, "{\"results\":[{\"series\":[{\"tags\":{\"vm\":\"");
	memset(big + k, 'a', n - (size_t)k);
	expect_fail(big, n, "a string longer than 65536 bytes");
	/* a huge number */
	k = snprintf(big, 64, "{\"results\":[{\"series\":[{\"x\":1");
	memset(big + k, '0', n - (size_t)k);
	expect_fail(big, n, "a number longer than 47 characters");
	/* deep nesting */
	k = snprintf(big, 64, "{\"a\":");
	memset(big + k, '[', n - (size_t)k);
	expect_fail(big, n, "nested deeper than 32");
	/* a huge line of white space, then a good answer: fine */
	memset(big, ' ', n);
	struct influx_parser *p = influx_parser_new(TAGS, H, 3600, NULL, NULL);
	ck_assert_int_eq(influx_parser_feed(p, big, n), 0);
	ck_assert_int_eq(influx_parser_feed(p, ANSWER, strlen(ANSWER)), 0);
	ck_assert_int_eq(influx_parser_finish(p), 0);
	influx_parser_free(p);
	/* a skipped member holding a long string within the limit */
	k = snprintf(big, 64, "{\"results\":[],\"x\":\"");
	memset(big + k, 'b', INFLUX_MAX_STRING);
	memcpy(big + k + INFLUX_MAX_STRING, "\"}", 2);
	char err[512];
	ck_assert_int_eq(parse(big, (size_t)k + INFLUX_MAX_STRING + 2, 0, 5, NULL, err, sizeof(err), NULL), 0);
	free(big);
}
END_TEST

/* A refusal names the same byte however the answer was cut (found by fuzz_influx). */
START_TEST(parse_error_position_any_split)
{
	size_t n = INFLUX_MAX_STRING + 100;
	char *big = malloc(n + 64);
	ck_assert_ptr_nonnull(big);
	const char *heads[] = { "{\"results\":[{\"statement_id\":0", "{\"results\":[{\"series\":[{\"tags\":{\"vm\":\"" };
	const char fill[] = { '7', 'a' };
	for (int h = 0; h < 2; h++) {
		int k = snprintf(big, 64, "%s", heads[h]);
		memset(big + k, fill[h], n - (size_t)k);
		char whole[512], bytes[512], pieces[512];
		ck_assert_int_eq(parse(big, n, n, 0, NULL, whole, sizeof(whole), NULL), -1);
		ck_assert_int_eq(parse(big, n, 1, 0, NULL, bytes, sizeof(bytes), NULL), -1);
		ck_assert_int_eq(parse(big, n, 0, 7, NULL, pieces, sizeof(pieces), NULL), -1);
		ck_assert_str_eq(bytes, whole);
		ck_assert_str_eq(pieces, whole);
	}
	free(big);
}
END_TEST

START_TEST(parse_mutations_never_crash)
{
	/* Random edits of a good answer, fed in random pieces: 0 or -1, never a crash. */
	size_t len = strlen(ANSWER);
	char *m = malloc(len + 64);
	ck_assert_ptr_nonnull(m);
	unsigned seed = 12345;
	int failed = 0;
	for (int iter = 0; iter < 3000; iter++) {
		memcpy(m, ANSWER, len);
		size_t ml = len;
		int edits = 1 + iter % 4;
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % ml;
			int op = (int)(seed >> 28) % 4;
			static const char pool[] = "{}[]\",:\\0123456789.-eEtrufalsn \n\x00\xff";
			char c = pool[(seed >> 3) % (sizeof(pool) - 1)];
			if (op == 0) {
				m[at] = c;
			} else if (op == 1 && ml > 1) {
				memmove(m + at, m + at + 1, ml - at - 1);
				ml--;
			} else if (op == 2 && ml < len + 60) {
				memmove(m + at + 1, m + at, ml - at);
				m[at] = c;
				ml++;
			} else {
				ml = at + 1;	/* cut */
			}
		}
		char err[512];
		struct got g = { 0 };
		int rc = parse(m, ml, 0, seed, iter % 2 ? &g : NULL, err, sizeof(err), NULL);
		ck_assert(rc == 0 || rc == -1);
		ck_assert(rc == 0 || err[0]);
		failed += rc < 0;
	}
	ck_assert_int_gt(failed, 1000);
	free(m);
}
END_TEST

/* ---- out of memory (failalloc.h): every allocation of the parser failed in turn ---- */

/* The answer fed in pieces of 7 bytes; an allocation failure must be reported (NULL or -1
 * with "out of memory"), never taken as an answer, and the VMs handed over before it are
 * exactly the answer's first ones. */
static void parser_oom_body(void *arg)
{
	(void)arg;
	struct got g = { 0 };
	size_t len = strlen(ANSWER);
	int rc = 0;
	oom_arm();
	struct influx_parser *p = influx_parser_new(TAGS, H, 3600, collect, &g);
	if (p) {
		for (size_t i = 0; i < len && rc == 0; i += 7)
			rc = influx_parser_feed(p, ANSWER + i, len - i < 7 ? len - i : 7);
		if (rc == 0)
			rc = influx_parser_finish(p);
	}
	bool failed = oom_disarm();
	if (!p) {
		ck_assert(failed);
		return;
	}
	if (rc != 0) {
		ck_assert(failed);
		ck_assert_msg(strstr(influx_parser_error(p), "out of memory") != NULL, "%s",
			      influx_parser_error(p));
		ck_assert(!influx_parser_server_error(p));
		ck_assert_int_le(g.n, 2);
		if (g.n >= 1)
			ck_assert_str_eq(g.r[0].vm, "vm1");
	} else {
		check_answer(&g);
	}
	influx_parser_free(p);
}

START_TEST(parser_oom)
{
	oom_loop("influx parser", parser_oom_body, NULL);
}
END_TEST

Suite *influx_suite(void)
{
	Suite *s = suite_create("influx");
	TCase *tc = tcase_create("arithmetic");
	tcase_add_test(tc, mean_max_and_increase);
	tcase_add_test(tc, counter_resets);
	tcase_add_test(tc, no_sample_before_the_hour);
	tcase_add_test(tc, only_the_last_sample_before_counts);
	tcase_add_test(tc, hour_edges);
	tcase_add_test(tc, one_sample_only);
	tcase_add_test(tc, gaps_and_missing_values);
	tcase_add_test(tc, time_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("query");
	tcase_add_test(tc, identifiers);
	tcase_add_test(tc, query_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("parser");
	tcase_add_test(tc, parse_answer_any_split);
	tcase_add_test(tc, parser_oom);
	tcase_add_test(tc, parse_error_position_any_split);
	tcase_add_test(tc, parse_tag_values_exactly);
	tcase_add_test(tc, parse_server_errors);
	tcase_add_test(tc, parse_truncated);
	tcase_add_test(tc, parse_garbage);
	tcase_add_test(tc, parse_duplicate_series);
	tcase_add_test(tc, parse_callback_abort);
	tcase_add_test(tc, parse_huge);
	tcase_add_test(tc, parse_mutations_never_crash);
	suite_add_tcase(s, tc);
	return s;
}
