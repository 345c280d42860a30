/*
 * udp_sink.c — the raw loopback baseline for the totalizer benchmark.
 *
 * A trivial receiver built the way a fast daemon would be: THREADS UDP
 * sockets bound to the same address with SO_REUSEPORT, one thread each
 * looping on recvmmsg (64 messages of 64 KiB per call), counting datagrams
 * and '\n'-separated lines (memchr; a last line without a newline counts)
 * and the kernel's drops (SO_RXQ_OVFL, and /proc/net/udp* at exit, which
 * also sees drops after the last datagram).  The kernel would spread
 * datagrams across the sockets by flow hash, so one sender would land on
 * one thread; a classic-BPF reuseport program (`ld rand; mod #THREADS;
 * ret a`) spreads even a single flow across all threads.  When the kernel
 * refuses it the sink carries on with the flow hash (-v says so).  Whatever
 * the sink does per line is the floor under what the daemon can do.
 *
 * Runs until SIGTERM/SIGINT, or with --idle-exit MS until no datagram came
 * for MS ms after the first one; then prints `received LINES DATAGRAMS
 * DROPS` on stdout (-v: per-thread figures on stderr, to show the spread).
 * --count-file F: F holds the running line count, rewritten (atomically)
 * every 100 ms and first written once every socket is bound (= ready).
 *
 * usage: udp_sink [-t THREADS] [--rcvbuf BYTES] [--count-file F]
 *                 [--idle-exit MS] [--no-cbpf] [-v] HOST PORT
 * (--no-cbpf: leave the kernel's flow hash, to compare the spread)
 */
#include <errno.h>
#include <getopt.h>
#include <linux/filter.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 65536
#define MAX_THREADS 64

struct worker {
	_Alignas(64) atomic_ullong lines;
	atomic_ullong dgrams;
	atomic_uint drops;	/* latest SO_RXQ_OVFL figure (cumulative) */
	int fd;
	pthread_t th;
};

static struct worker workers[MAX_THREADS];
static atomic_int stopping;

static void die(const char *what)
{
	fprintf(stderr, "udp_sink: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *rx_loop(void *arg)
{
	struct worker *w = arg;
	static _Thread_local struct mmsghdr msgs[BATCH];
	static _Thread_local struct iovec iov[BATCH];
	static _Thread_local char ctrl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	char *buf = malloc((size_t)BATCH * BUFSZ);
	if (!buf)
		die("malloc");
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ buf + (size_t)i * BUFSZ, BUFSZ };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = ctrl[i];
	}
	while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
		for (int i = 0; i < BATCH; i++)
			msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
		/* Blocks for the first message (at most SO_RCVTIMEO), then takes what is queued. */
		int n = recvmmsg(w->fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			die("recvmmsg");
		}
		unsigned long long lines = 0;
		for (int i = 0; i < n; i++) {
			const char *p = iov[i].iov_base, *end = p + msgs[i].msg_len, *nl;
			if (p == end)
				continue;
			lines += end[-1] != '\n';
			while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
				lines++;
				p = nl + 1;
			}
		}
		struct msghdr *last = &msgs[n - 1].msg_hdr;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(last); c; c = CMSG_NXTHDR(last, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
				uint32_t d;
				memcpy(&d, CMSG_DATA(c), sizeof d);
				atomic_store_explicit(&w->drops, d, memory_order_relaxed);
			}
		}
		atomic_fetch_add_explicit(&w->lines, lines, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->dgrams, (unsigned long long)n, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

/* Drops of the socket with inode ino from /proc/net/udp{,6} (last column). */
static unsigned long long proc_drops(unsigned long ino)
{
	static const char *const files[] = { "/proc/net/udp", "/proc/net/udp6" };
	unsigned long long drops = 0;
	for (int f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "r");
		char line[512];
		if (!fp)
			continue;
		while (fgets(line, sizeof line, fp)) {
			unsigned long i;
			unsigned long long d;
			/* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
			if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &i, &d) == 2 &&
			    i == ino)
				drops = d;
		}
		fclose(fp);
	}
	return drops;
}

static void write_count(const char *file, unsigned long long lines)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", file);
	FILE *fp = fopen(tmp, "w");
	if (!fp || fprintf(fp, "%llu\n", lines) < 0 || fclose(fp) != 0 || rename(tmp, file) != 0)
		die(file);
}

static unsigned long long total(int n, atomic_ullong *(*field)(struct worker *))
{
	unsigned long long t = 0;
	for (int i = 0; i < n; i++)
		t += atomic_load_explicit(field(&workers[i]), memory_order_relaxed);
	return t;
}
static atomic_ullong *f_lines(struct worker *w) { return &w->lines; }
static atomic_ullong *f_dgrams(struct worker *w) { return &w->dgrams; }

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void usage(void)
{
	fprintf(stderr, "usage: udp_sink [-t THREADS] [--rcvbuf BYTES] [--count-file F] "
			"[--idle-exit MS] [--no-cbpf] [-v] HOST PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rcvbuf", required_argument, 0, 'r' }, { "count-file", required_argument, 0, 'c' },
		{ "idle-exit", required_argument, 0, 'i' }, { "no-cbpf", no_argument, 0, 'n' },
		{ 0, 0, 0, 0 } };
	int nthreads = 1, rcvbuf = 0, idle_ms = 0, verbose = 0, use_cbpf = 1, o;
	const char *count_file = NULL;
	while ((o = getopt_long(argc, argv, "t:v", opts, NULL)) != -1) {
		switch (o) {
		case 't': nthreads = atoi(optarg); break;
		case 'r': rcvbuf = atoi(optarg); break;
		case 'c': count_file = optarg; break;
		case 'i': idle_ms = atoi(optarg); break;
		case 'v': verbose = 1; break;
		case 'n': use_cbpf = 0; break;
		default: usage();
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || rcvbuf < 0 || idle_ms < 0 || argc - optind != 2)
		usage();

	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
	int e = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (e) {
		fprintf(stderr, "udp_sink: %s: %s\n", argv[optind], gai_strerror(e));
		return 1;
	}
	/* Signals go to the main thread only (sigtimedwait below). */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	const int one = 1;
	const struct timeval tick = { 0, 100000 };	/* threads look at `stopping` this often */
	for (int i = 0; i < nthreads; i++) {
		int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0)
			die("socket");
		if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
			die("SO_RCVBUF");
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			die("bind");
		workers[i].fd = fd;
	}
	freeaddrinfo(ai);
	const char *cbpf = nthreads > 1 ? "not used (flow hash spread)" : "not needed (1 thread)";
	if (nthreads > 1 && use_cbpf) {
		struct sock_filter code[] = {
			{ BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM) },
			{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)nthreads },
			{ BPF_RET | BPF_A, 0, 0, 0 },
		};
		struct sock_fprog prog = { sizeof code / sizeof *code, code };
		cbpf = setsockopt(workers[0].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0
			       ? "attached (random spread)" : "refused (flow hash spread)";
	}
	if (verbose) {
		int got = 0;
		socklen_t gl = sizeof got;
		getsockopt(workers[0].fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
		fprintf(stderr, "udp_sink: %d threads, rcvbuf %d bytes, reuseport cbpf %s\n", nthreads, got,
			cbpf);
	}
	for (int i = 0; i < nthreads; i++)
		if ((errno = pthread_create(&workers[i].th, NULL, rx_loop, &workers[i])) != 0)
			die("pthread_create");
	if (count_file)
		write_count(count_file, 0);

	double poll_ms = idle_ms && idle_ms < 400 ? idle_ms / 4.0 : 100, next_write = now_ms() + 100;
	double last_change = now_ms();
	unsigned long long seen = 0;
	for (;;) {
		struct timespec ts = { 0, (long)(poll_ms * 1e6) };
		if (sigtimedwait(&sigs, NULL, &ts) >= 0)
			break;
		double t = now_ms();
		unsigned long long d = total(nthreads, f_dgrams);
		if (d != seen) {
			seen = d;
			last_change = t;
		} else if (idle_ms && d && t - last_change >= idle_ms) {
			break;
		}
		if (count_file && t >= next_write) {
			write_count(count_file, total(nthreads, f_lines));
			next_write = t + 100;
		}
	}
	atomic_store(&stopping, 1);
	unsigned long long drops = 0;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->th, NULL);
		struct stat st;
		unsigned long long d = atomic_load(&w->drops);
		if (fstat(w->fd, &st) == 0 && proc_drops((unsigned long)st.st_ino) > d)
			d = proc_drops((unsigned long)st.st_ino);
		drops += d;
		if (verbose)
			fprintf(stderr, "udp_sink: thread %d: lines %llu datagrams %llu drops %llu\n", i,
				atomic_load(&w->lines), atomic_load(&w->dgrams), d);
	}
	unsigned long long lines = total(nthreads, f_lines);
	if (count_file)
		write_count(count_file, lines);
	printf("received %llu %llu %llu\n", lines, total(nthreads, f_dgrams), drops);
	return 0;
}
