/*
 * udp_blast.c — load generator and synthetic log source for the totalizer.
 *
 * Makes deterministic Apache combined-format access log lines from a seed
 * (client addresses from a pool of --clients, paths from a pool of --pages
 * with varied case, nested directories, trailing slashes, query strings and
 * the odd long name; GET and POST, plus a few HEAD lines that match neither
 * sample rule; statuses from {200,200,200,304,404,500}; real-looking
 * referrers and user agents; ~150-250 bytes a line).  A pool of --pool lines
 * is generated once and cycled through, so generation never limits the rate;
 * line i sent is always pool line i % pool, and --print writes exactly the
 * lines a send with the same options would send, in the same order.
 *
 * Send mode packs K lines per datagram (joined with '\n'; --newline adds a
 * trailing one), sends them with sendmmsg in batches from N connected
 * sockets (N source ports, round robin per batch) and paces with a token
 * bucket on CLOCK_MONOTONIC, checked once per batch; a batch is kept to
 * about 1 ms of traffic so the stream stays smooth.  It then prints
 * `sent LINES DATAGRAMS SECONDS RATE` (and with -v its own CPU use on
 * stderr: on loopback the sender also pays the kernel's receive path).
 *
 * usage: udp_blast --print -n COUNT [options]
 *        udp_blast -n COUNT [-k LINES] [--rate LINES_PER_S] [--sockets N]
 *                  [--batch DGRAMS] [--burst LINES] [--newline] [-v]
 *                  [options] HOST PORT
 * options: --seed S (1)  --clients N (1000)  --pages N (500)  --pool N (65536)
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 1024
#define MAX_DGRAM 65507

static uint64_t rng_state;

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void die(const char *what)
{
	fprintf(stderr, "udp_blast: %s: %s\n", what, strerror(errno));
	exit(1);
}

static const char *const words[] = {
	"products", "blog", "api", "v2", "static", "img", "news", "about", "shop",
	"cart", "search", "docs", "user", "account", "download", "media", "2024",
	"archive", "support", "en", "de", "category", "item", "assets", "help",
};
static const char *const exts[] = { ".html", ".php", ".jpg", ".css", ".js", ".png", "", "" };
static const char *const agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"curl/7.88.1",
	"python-requests/2.31.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.164 Mobile Safari/537.36",
};
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Copy word w into out with case variant v (0 lower, 1 Capitalised, 2 UPPER). */
static int put_word(char *out, const char *w, unsigned v)
{
	int n = 0;
	for (; w[n]; n++) {
		char c = w[n];
		if (c >= 'a' && c <= 'z' && (v == 2 || (v == 1 && n == 0)))
			c = (char)(c - 'a' + 'A');
		out[n] = c;
	}
	return n;
}

/* Page j of the pool: 0-3 directories, then a file, a directory with a
 * trailing slash, or a name longer than 32 bytes (the rule's cap). */
static char *make_page(unsigned j)
{
	char p[200];
	int n = 0;
	unsigned depth = pick(4), v = pick(3), kind = pick(10);
	if (j == 0)
		return strdup("/");
	for (unsigned d = 0; d < depth; d++) {
		p[n++] = '/';
		n += put_word(p + n, words[pick(sizeof words / sizeof *words)], v);
	}
	p[n++] = '/';
	if (kind == 0) {	/* long slug */
		n += snprintf(p + n, sizeof p - (size_t)n,
			      "how-to-configure-the-%s-and-%s-in-%u-steps.html",
			      words[pick(25)], words[pick(25)], j);
	} else {
		n += put_word(p + n, words[pick(sizeof words / sizeof *words)], v);
		n += snprintf(p + n, sizeof p - (size_t)n, "-%u", j);
		if (kind == 1)
			n += snprintf(p + n, sizeof p - (size_t)n, "%%20%s", "Final");
		if (kind <= 3)
			p[n++] = '/';	/* trailing slash */
		else
			n += snprintf(p + n, sizeof p - (size_t)n, "%s", exts[pick(8)]);
	}
	p[n] = 0;
	return strdup(p);
}

struct pool {
	char *buf;		/* lines, each followed by '\n' */
	size_t *off;		/* off[i] = start of line i; off[n] = end */
	size_t n;
};

static void make_pool(struct pool *pl, size_t n, uint64_t seed, unsigned clients, unsigned pages)
{
	char **page = malloc(pages * sizeof *page);
	rng_state = seed * 0x2545f4914f6cdd1dULL + 7;
	for (unsigned j = 0; j < pages; j++)
		page[j] = make_page(j);
	pl->n = n;
	pl->off = malloc((n + 1) * sizeof *pl->off);
	pl->buf = malloc(n * 512);
	if (!page || !pl->off || !pl->buf)
		die("malloc");
	rng_state = seed;
	time_t t0 = 1710072000;		/* 2024-03-10 12:00:00 UTC */
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned r = pick(1000);
		unsigned c = pick(1 + pick(clients));	/* skewed: low numbers busier */
		const char *method = r < 20 ? "HEAD" : r < 150 ? "POST" : "GET";
		static const int statuses[] = { 200, 200, 200, 304, 404, 500 };
		int status = statuses[pick(6)];
		char query[64] = "", bytes[16] = "-", ref[160] = "-";
		unsigned q = pick(10);
		if (q < 2)
			snprintf(query, sizeof query, "?id=%u&sort=%s", pick(100000), words[pick(25)]);
		else if (q == 2)
			snprintf(query, sizeof query, "?utm_source=newsletter&utm_campaign=%u", pick(50));
		if (status != 304)
			snprintf(bytes, sizeof bytes, "%u", status == 200 ? 200 + pick(90000) : 150 + pick(400));
		unsigned rr = pick(10);
		if (rr < 4)
			snprintf(ref, sizeof ref, "https://www.example.com%s", page[pick(pages)]);
		else if (rr < 6)
			snprintf(ref, sizeof ref, "https://www.google.com/search?q=%s+%s",
				 words[pick(25)], words[pick(25)]);
		time_t t = t0 + (time_t)(i / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		const char *pg = page[pick(pages)], *proto = pick(8) ? "1.1" : "1.0";
		const char *agent = agents[pick(sizeof agents / sizeof *agents)];
		int len;
		for (int shorten = 0;; shorten++) {	/* keep lines to ~250 bytes */
			len = snprintf(pl->buf + at, 512,
				       "10.%u.%u.%u - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"%s %s%s HTTP/%s\" %d %s \"%s\" \"%s\"\n",
				       c / 65024, c / 254 % 256, c % 254 + 1, tm.tm_mday, months[tm.tm_mon],
				       tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, method, pg, query,
				       proto, status, bytes, ref, agent);
			if (len <= 251 || shorten == 2)
				break;
			if (shorten == 0)
				strcpy(ref, "-");
			else
				agent = agents[1];
		}
		pl->off[i] = at;
		at += (size_t)len;
	}
	pl->off[n] = at;
	for (unsigned j = 0; j < pages; j++)
		free(page[j]);
	free(page);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void sleep_until(double t)
{
	struct timespec ts = { (time_t)t, (long)((t - (double)(time_t)t) * 1e9) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: udp_blast --print -n COUNT [--seed S] [--clients N] [--pages N] [--pool N]\n"
		"       udp_blast -n COUNT [-k LINES_PER_DGRAM] [--rate LINES_PER_S] [--sockets N]\n"
		"                 [--batch DGRAMS] [--burst LINES] [--newline] [-v] [same options] HOST PORT\n");
	exit(2);
}

static unsigned long long num(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);	/* accepts 2e6 and 1.5e6 */
	if (errno || end == s || *end || v < 0)
		usage();
	return (unsigned long long)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "print", no_argument, 0, 'p' }, { "rate", required_argument, 0, 'r' },
		{ "sockets", required_argument, 0, 's' }, { "seed", required_argument, 0, 'S' },
		{ "clients", required_argument, 0, 'c' }, { "pages", required_argument, 0, 'P' },
		{ "pool", required_argument, 0, 'L' }, { "batch", required_argument, 0, 'b' },
		{ "burst", required_argument, 0, 'B' }, { "newline", no_argument, 0, 'N' },
		{ 0, 0, 0, 0 } };
	unsigned long long count = 0, k = 1, nsock = 1, seed = 1, clients = 1000, pages = 500;
	unsigned long long poolsz = 65536, batch = 64, burst = 0;
	double rate = 0;
	int print = 0, verbose = 0, newline = 0, o;
	while ((o = getopt_long(argc, argv, "n:k:v", opts, NULL)) != -1) {
		switch (o) {
		case 'n': count = num(optarg); break;
		case 'k': k = num(optarg); break;
		case 'v': verbose = 1; break;
		case 'p': print = 1; break;
		case 'r': rate = (double)num(optarg); break;
		case 's': nsock = num(optarg); break;
		case 'S': seed = num(optarg); break;
		case 'c': clients = num(optarg); break;
		case 'P': pages = num(optarg); break;
		case 'L': poolsz = num(optarg); break;
		case 'b': batch = num(optarg); break;
		case 'B': burst = num(optarg); break;
		case 'N': newline = 1; break;
		default: usage();
		}
	}
	if (!count || !k || !nsock || nsock > 1024 || !clients || clients > 16000000 || !pages ||
	    pages > 10000000 || !poolsz || k > poolsz || !batch || batch > MAX_BATCH || argc - optind != (print ? 0 : 2))
		usage();

	struct pool pl;
	make_pool(&pl, count < poolsz ? (size_t)count : (size_t)poolsz, seed, (unsigned)clients,
		  (unsigned)pages);
	if (print) {
		static char out[1 << 16];
		setvbuf(stdout, out, _IOFBF, sizeof out);
		for (unsigned long long i = 0; i < count; i++) {
			size_t l = i % pl.n;
			fwrite(pl.buf + pl.off[l], 1, pl.off[l + 1] - pl.off[l], stdout);
		}
		int bad = fflush(stdout) != 0;
		free(pl.buf);
		free(pl.off);
		return bad;
	}

	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *ai;
	int e = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (e) {
		fprintf(stderr, "udp_blast: %s: %s\n", argv[optind], gai_strerror(e));
		return 1;
	}
	int fds[1024];
	for (unsigned i = 0; i < nsock; i++) {
		fds[i] = socket(ai->ai_family, SOCK_DGRAM, 0);
		if (fds[i] < 0 || connect(fds[i], ai->ai_addr, ai->ai_addrlen) < 0)
			die("socket/connect");
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	/* Keep a paced batch to ~1 ms of traffic; the bucket holds at least a batch. */
	if (rate > 0) {
		double per_ms = rate / 1000.0 / (double)k;
		if (per_ms < (double)batch)
			batch = per_ms < 1 ? 1 : (unsigned long long)per_ms;
		if (!burst)
			burst = (unsigned long long)(rate / 500);	/* default: 2 ms */
		if (burst < batch * k)
			burst = batch * k;
	}
	struct rusage ru0, ru;
	getrusage(RUSAGE_SELF, &ru0);
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov[MAX_BATCH][2];
	unsigned long long lines = 0, dgrams = 0, refused = 0, nbatch = 0;
	double t0 = now_s(), tokens = (double)burst, last = t0;
	size_t pos = 0;		/* pool line of the next datagram */
	while (lines < count) {
		unsigned n = 0;
		unsigned long long blines = 0;
		for (; n < batch && lines + blines < count; n++) {
			unsigned long long l = count - lines - blines < k ? count - lines - blines : k;
			size_t end = pos + (size_t)l, len;
			memset(&msgs[n], 0, sizeof msgs[n]);
			msgs[n].msg_hdr.msg_iov = iov[n];
			if (end <= pl.n) {
				len = pl.off[end] - pl.off[pos] - !newline;
				iov[n][0] = (struct iovec){ pl.buf + pl.off[pos], len };
				msgs[n].msg_hdr.msg_iovlen = 1;
			} else {	/* wraps around the pool end */
				end -= pl.n;
				size_t a = pl.off[pl.n] - pl.off[pos], b = pl.off[end] - !newline;
				iov[n][0] = (struct iovec){ pl.buf + pl.off[pos], a };
				iov[n][1] = (struct iovec){ pl.buf, b };
				msgs[n].msg_hdr.msg_iovlen = 2;
				len = a + b;
			}
			if (len > MAX_DGRAM) {
				fprintf(stderr, "udp_blast: %llu lines make a %zu-byte datagram\n", l, len);
				return 1;
			}
			pos = end == pl.n ? 0 : end;
			blines += l;
		}
		if (rate > 0) {
			double t = now_s();
			tokens += (t - last) * rate;
			if (tokens > (double)burst)
				tokens = (double)burst;
			last = t;
			if (tokens < (double)blines) {
				sleep_until(t + ((double)blines - tokens) / rate);
				t = now_s();
				tokens += (t - last) * rate;
				last = t;
			}
			tokens -= (double)blines;
		}
		int fd = fds[nbatch++ % nsock];
		for (unsigned done = 0; done < n;) {
			int r = sendmmsg(fd, msgs + done, n - done, 0);
			if (r > 0) {
				done += (unsigned)r;
			} else if (r < 0 && errno == ECONNREFUSED) {
				if (++refused > 1000000)
					die("sendmmsg");	/* nobody listens, for good */
			} else if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)) {
				sched_yield();
			} else if (r < 0) {
				die("sendmmsg");
			}
		}
		lines += blines;
		dgrams += n;
	}
	double secs = now_s() - t0;
	printf("sent %llu %llu %.3f %.0f\n", lines, dgrams, secs, secs > 0 ? (double)lines / secs : 0);
	if (verbose) {
		getrusage(RUSAGE_SELF, &ru);
		double u = tv_s(ru.ru_utime) - tv_s(ru0.ru_utime);
		double s = tv_s(ru.ru_stime) - tv_s(ru0.ru_stime);
		fprintf(stderr, "udp_blast: cpu user %.2f s sys %.2f s = %.0f%% of one core; batch %llu, sockets %llu%s\n",
			u, s, secs > 0 ? 100 * (u + s) / secs : 0, batch, nsock,
			refused ? " (some sends refused: no receiver?)" : "");
	}
	freeaddrinfo(ai);
	free(pl.buf);
	free(pl.off);
	return 0;
}
