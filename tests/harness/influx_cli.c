/*
 * influx_cli.c — test and benchmark driver for the rollup's InfluxDB query
 * (src/rollup/influx.c): runs influx_rollup_hour() (or influx_read_hour()) once
 * against a real InfluxDB and prints what it got.
 *
 *   influx_cli [-r] [-q] [-a N] [-u USER] [-p PASSWORD] [-t TIMEOUT_S]
 *              [-l LOOKBACK_S] [-m MEASUREMENT] URL DB HOUR_START
 *
 *   -r  only read and parse the rows (influx_read_hour, the floor)
 *   -q  print no VM lines, only the figures line
 *   -a  make the callback abort at the Nth VM
 *
 * Output: one line per VM, sorted, with the tag values as JSON strings:
 *   "ACCOUNT" "CLOUDSPACE" "VM" samples=N mem_mib=%.3f disk_gib=%.3f
 *   cpu_seconds=%.3f io_read=N io_write=N net_tx_bytes=N net_rx_bytes=N
 * then (with -q or -r) "vms=N points=N series=N bytes=N seconds=S".  The
 * figures always go to stderr too.  Exit status 0; 1 with
 * "influx_cli: message" on stderr when the query failed; 2 on a usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "influx.h"
#include "json.h"

struct out {
	char **lines;
	size_t n, cap;
	bool quiet;
	long abort_at;		/* 0 = never */
	uint64_t vms;
};

static int on_vm(const char *account, const char *cloudspace, const char *vm,
		 const struct vm_hour *h, void *arg)
{
	struct out *o = arg;
	o->vms++;
	if (o->abort_at && (long)o->vms >= o->abort_at)
		return -1;
	if (o->quiet)
		return 0;
	struct buf b = BUF_INIT;
	json_add_str(&b, account);
	buf_addc(&b, ' ');
	json_add_str(&b, cloudspace);
	buf_addc(&b, ' ');
	json_add_str(&b, vm);
	buf_addf(&b, " samples=%" PRIu32 " mem_mib=%.3f disk_gib=%.3f cpu_seconds=%.3f io_read=%" PRIu64
		 " io_write=%" PRIu64 " net_tx_bytes=%" PRIu64 " net_rx_bytes=%" PRIu64,
		 h->samples, h->mem_mib_mean, h->disk_gib_max, h->cpu_seconds, h->io_read, h->io_write,
		 h->net_tx_bytes, h->net_rx_bytes);
	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		char **nl = realloc(o->lines, ncap * sizeof(*nl));
		if (!nl) {
			buf_release(&b);
			return -1;
		}
		o->lines = nl;
		o->cap = ncap;
	}
	o->lines[o->n] = buf_detach(&b, NULL);
	if (!o->lines[o->n])
		return -1;
	o->n++;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static long num(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end) {
		fprintf(stderr, "influx_cli: %s '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct influx_cfg cfg = { .user = "", .password = "" };
	struct out o = { 0 };
	bool read_only = false;
	int c;
	while ((c = getopt(argc, argv, "rqa:u:p:t:l:m:")) != -1) {
		switch (c) {
		case 'r': read_only = true; break;
		case 'q': o.quiet = true; break;
		case 'a': o.abort_at = num(optarg, "abort count"); break;
		case 'u': cfg.user = optarg; break;
		case 'p': cfg.password = optarg; break;
		case 't': cfg.timeout_s = (int)num(optarg, "timeout"); break;
		case 'l': cfg.lookback_s = (int)num(optarg, "lookback"); break;
		case 'm': cfg.measurement = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	cfg.url = argv[optind];
	cfg.db = argv[optind + 1];
	long long hour = num(argv[optind + 2], "hour");

	struct influx_stats st;
	char err[512];
	int rc = read_only ? influx_read_hour(&cfg, hour, &st, err, sizeof(err))
			   : influx_rollup_hour(&cfg, hour, on_vm, &o, &st, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "influx_cli: %s\n", err);
	} else {
		if (o.n)
			qsort(o.lines, o.n, sizeof(*o.lines), cmp);
		for (size_t i = 0; i < o.n; i++)
			printf("%s\n", o.lines[i]);
	}
	char fig[200];
	snprintf(fig, sizeof(fig), "vms=%" PRIu64 " points=%" PRIu64 " series=%" PRIu64 " bytes=%" PRIu64
		 " seconds=%.3f", o.vms, st.points, st.series, st.bytes, st.seconds);
	if (rc == 0 && (o.quiet || read_only))
		printf("%s\n", fig);
	fprintf(stderr, "influx_cli: %s%s\n", read_only ? "read " : "rollup ", fig);
	for (size_t i = 0; i < o.n; i++)
		free(o.lines[i]);
	free(o.lines);
	return rc < 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: influx_cli [-r] [-q] [-a N] [-u USER] [-p PASSWORD] [-t TIMEOUT_S] "
		"[-l LOOKBACK_S] [-m MEASUREMENT] URL DB HOUR_START\n");
	return 2;
}
