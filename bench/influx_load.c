/*
 * influx_load.c — loads InfluxDB 1.x with the rollup benchmark's samples,
 * as fast as it can: line protocol generated in memory, series by series
 * (InfluxDB 1.6 ingests that order several times faster than time-major
 * order: its cache snapshots then hold long runs per series), POSTed in big
 * batches over keep-alive HTTP/1.1 connections by several threads.
 *
 *   influx_load URL DB VMS ACCOUNTS HOUR_START [CONNS [LINES_PER_BATCH]]
 *
 * VM i (0 <= i < VMS) is account "acct%05d" (i % ACCOUNTS), cloudspace
 * "cs%d" (i / ACCOUNTS % 4), vm "vm%07d" (i), with one sample a minute from
 * HOUR_START-3600 to HOUR_START+3540 (the hour and the hour before it: 120
 * points).  Gauges vary, counters grow; every 50th VM's counters restart
 * from zero at HOUR_START+1800.  A write refused with 5xx (InfluxDB's cache
 * full while it compacts) is retried after a pause.  Prints
 * "points=N bytes=N seconds=S rate=N/s" on stdout.  Exit status 0, 1 on an
 * error, 2 on a usage error.  Plain sockets, no library: a bench tool.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char host[256], port[16], path[512];
static long long hour;
static long vms, accounts, vms_per_batch;
static atomic_long next_vm;
static atomic_llong total_bytes;
static atomic_int failed;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Append the 120 points of VM i to p; returns the new end. */
static char *gen_vm(char *p, long i)
{
	long a = i % accounts;
	char tags[96];
	snprintf(tags, sizeof(tags), "vm_usage,account=acct%05ld,cloudspace=cs%ld,vm=vm%07ld", a,
		 i / accounts % 4, i);
	unsigned long long cpu = 0, rd = 1000 + (unsigned long long)i, wr = 500, tx = 100000, rx = 200000;
	for (int j = 0; j < 120; j++) {
		long long t = hour - 3600 + 60LL * j;
		if (i % 50 == 0 && t == hour + 1800)
			cpu = rd = wr = tx = rx = 0;	/* a restart */
		cpu += 20 + (unsigned long long)((i + j) % 17);
		rd += 100 + (unsigned long long)(j % 7) * 10;
		wr += 40 + (unsigned long long)(i % 5);
		tx += 123456 + (unsigned long long)(i % 1000) * 7;
		rx += 654321 + (unsigned long long)(j % 13) * 11;
		p += sprintf(p, "%s mem_mib=%ld.%d,disk_gib=%ldi,cpu_seconds=%llu.%llu,io_read=%llui,"
			     "io_write=%llui,net_tx_bytes=%llui,net_rx_bytes=%llui %lld\n",
			     tags, 512 + (i * 7 + j * 13) % 3584, j % 4 * 25, 20 + i % 200, cpu / 4,
			     cpu % 4 * 25, rd, wr, tx, rx, t);
	}
	return p;
}

/* POST body on fd (reconnecting once if the kept-alive connection went away); the HTTP status. */
static int post(int *fd, const char *body, size_t len)
{
	char req[1024], resp[8192];
	int n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n\r\n", path, host, port, len);
	for (int tries = 0; tries < 2; tries++) {
		if (*fd < 0 && (*fd = dial()) < 0)
			return -1;
		if (send(*fd, req, (size_t)n, MSG_NOSIGNAL) != n)
			goto again;
		for (size_t off = 0; off < len;) {
			ssize_t w = send(*fd, body + off, len - off, MSG_NOSIGNAL);
			if (w <= 0)
				goto again;
			off += (size_t)w;
		}
		size_t got = 0;
		char *hend = NULL;
		while (!(hend = memmem(resp, got, "\r\n\r\n", 4))) {
			ssize_t r = recv(*fd, resp + got, sizeof(resp) - 1 - got, 0);
			if (r <= 0 || got + (size_t)r >= sizeof(resp) - 1)
				goto again;
			got += (size_t)r;
		}
		resp[got] = '\0';
		int status = 0;
		sscanf(resp, "HTTP/1.%*d %d", &status);
		/* skip the body (Content-Length) so the connection can be kept */
		const char *cl = strcasestr(resp, "\r\nContent-Length:");
		size_t blen = cl && cl < hend ? strtoul(cl + 17, NULL, 10) : 0;
		size_t have = got - (size_t)(hend + 4 - resp);
		if (status >= 400)
			fprintf(stderr, "influx_load: HTTP %d: %.*s\n", status, (int)(have < 300 ? have : 300), hend + 4);
		while (have < blen) {
			ssize_t r = recv(*fd, resp, sizeof(resp), 0);
			if (r <= 0)
				break;
			have += (size_t)r;
		}
		return status;
again:
		close(*fd);
		*fd = -1;
	}
	return -1;
}

static void *worker(void *arg)
{
	(void)arg;
	size_t cap = (size_t)vms_per_batch * 120 * 256 + 4096;
	char *buf = malloc(cap);
	int fd = -1;
	if (!buf) {
		failed = 1;
		return NULL;
	}
	for (;;) {
		long first = atomic_fetch_add(&next_vm, vms_per_batch);
		if (first >= vms || failed)
			break;
		long last = first + vms_per_batch < vms ? first + vms_per_batch : vms;
		char *p = buf;
		for (long i = first; i < last; i++)
			p = gen_vm(p, i);
		size_t len = (size_t)(p - buf);
		int status, pause_ms = 200;
		while ((status = post(&fd, buf, len)) >= 500 && pause_ms < 60000) {
			struct timespec ts = { pause_ms / 1000, pause_ms % 1000 * 1000000L };
			nanosleep(&ts, NULL);
			pause_ms *= 2;
		}
		if (status != 204) {
			fprintf(stderr, "influx_load: write of VMs %ld..%ld failed (status %d)\n", first, last - 1, status);
			failed = 1;
			break;
		}
		total_bytes += (long long)len;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 8) {
		fprintf(stderr, "usage: influx_load URL DB VMS ACCOUNTS HOUR_START [CONNS [LINES_PER_BATCH]]\n");
		return 2;
	}
	const char *url = argv[1];
	if (strncmp(url, "http://", 7) != 0 || sscanf(url + 7, "%255[^:/]:%15[0-9]", host, port) != 2) {
		fprintf(stderr, "influx_load: URL '%s' must be http://HOST:PORT\n", url);
		return 2;
	}
	snprintf(path, sizeof(path), "/write?db=%s&precision=s", argv[2]);
	vms = atol(argv[3]);
	accounts = atol(argv[4]);
	hour = atoll(argv[5]);
	int conns = argc > 6 ? atoi(argv[6]) : 2;
	long lines = argc > 7 ? atol(argv[7]) : 60000;
	if (vms <= 0 || accounts <= 0 || hour < 3600 || conns <= 0 || conns > 64 || lines < 120) {
		fprintf(stderr, "influx_load: bad arguments\n");
		return 2;
	}
	vms_per_batch = lines / 120;
	double t0 = now_s();
	pthread_t th[64];
	for (int k = 0; k < conns; k++)
		pthread_create(&th[k], NULL, worker, NULL);
	for (int k = 0; k < conns; k++)
		pthread_join(th[k], NULL);
	double secs = now_s() - t0;
	if (failed)
		return 1;
	long long points = (long long)vms * 120;
	printf("points=%lld bytes=%lld seconds=%.1f rate=%.0f/s\n", points, (long long)total_bytes, secs,
	       (double)points / secs);
	return 0;
}
