/*
 * faultproxy — a TCP proxy for the integration tests that fails the way
 * production servers fail: not only by dying, but by hanging, trickling or
 * resetting with the connection open.
 *
 *   faultproxy TARGET_HOST TARGET_PORT PORTS_FILE
 *
 * Listens on 127.0.0.1 on a port the kernel chooses and forwards every
 * connection to TARGET_HOST:TARGET_PORT.  A second loopback port takes
 * commands.  Both ports are written to PORTS_FILE as "LISTEN CONTROL\n"
 * (written to a temp name and renamed, so a reader never sees half a line)
 * once the proxy accepts connections; no port race with other tests.
 *
 * Commands, one line per control connection, answered "ok MODE conns=N\n"
 * (or "error ...\n"):
 *
 *   pass         forward as fast as the two sides go (the start mode)
 *   freeze       hold every connection open and move no byte either way;
 *                new connections are accepted (and connected upstream) but
 *                get nothing: the peer sees a server that accepted and hangs
 *   trickle MS   move one byte per direction per connection every MS ms
 *   trickle MS reply
 *                the server's bytes trickle, the client's pass at full
 *                speed: a server that takes each request at once and
 *                answers one byte every MS ms
 *   cut          reset every open connection now (RST, not FIN); the mode
 *                stays as it was, so new connections are served by it
 *   status       only answer
 *
 * Data held while frozen is kept (up to 64 KiB per direction; past that the
 * proxy stops reading that side, as a full socket buffer would) and moves
 * again after "pass".  Single-threaded, poll(2); at most MAX_CONNS
 * connections (more are reset at once).  Runs until SIGTERM/SIGINT.  Not a
 * part of the product: a test tool, built plain (never sanitized).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define MAX_CONNS 512
#define BUFSZ 65536

enum mode { M_PASS, M_FREEZE, M_TRICKLE };
static const char *const mode_name[] = { "pass", "freeze", "trickle" };

struct pipe_dir {
	char buf[BUFSZ];
	size_t off, len;	/* bytes buf[off..off+len) wait to be written */
	bool eof;		/* the reading side sent FIN */
	bool shut;		/* FIN passed on to the writing side */
	int64_t next_ms;	/* trickle: no byte before this time */
};

struct conn {
	int fd[2];		/* 0 = client, 1 = server */
	struct pipe_dir dir[2];	/* dir[i]: from fd[i] to fd[1 - i] */
};

static struct conn *conns[MAX_CONNS];
static enum mode mode = M_PASS;
static int trickle_ms = 100;
static bool trickle_reply_only;	/* trickle: the client's bytes pass at full speed */
static volatile sig_atomic_t stop;
static struct sockaddr_storage target;
static socklen_t target_len;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void reset_close(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void conn_free(int i, bool reset)
{
	struct conn *c = conns[i];
	for (int k = 0; k < 2; k++) {
		if (reset)
			reset_close(c->fd[k]);
		else
			close(c->fd[k]);
	}
	free(c);
	conns[i] = NULL;
}

static int nconns(void)
{
	int n = 0;
	for (int i = 0; i < MAX_CONNS; i++)
		n += conns[i] != NULL;
	return n;
}

static void on_accept(int lfd)
{
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		int slot = -1;
		for (int i = 0; i < MAX_CONNS && slot < 0; i++)
			if (!conns[i])
				slot = i;
		int sfd = slot < 0 ? -1 : socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* A blocking connect to a loopback server: immediate. */
		if (sfd < 0 || connect(sfd, (struct sockaddr *)&target, target_len) < 0) {
			if (sfd >= 0)
				close(sfd);
			reset_close(cfd);
			continue;
		}
		fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK);
		int one = 1;
		setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(sfd);
			reset_close(cfd);
			continue;
		}
		c->fd[0] = cfd;
		c->fd[1] = sfd;
		conns[slot] = c;
	}
}

static void command(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char line[128];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		ssize_t r = read(fd, line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	char reply[160];
	int ms;
	bool ok = true;
	if (strcmp(line, "pass") == 0) {
		mode = M_PASS;
	} else if (strcmp(line, "freeze") == 0) {
		mode = M_FREEZE;
	} else if (sscanf(line, "trickle %d", &ms) == 1 && ms > 0) {
		char dir[16] = "";
		sscanf(line, "trickle %*d %15s", dir);
		if (dir[0] && strcmp(dir, "reply") != 0) {
			ok = false;
		} else {
			mode = M_TRICKLE;
			trickle_ms = ms;
			trickle_reply_only = dir[0] != '\0';
		}
	} else if (strcmp(line, "cut") == 0) {
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i])
				conn_free(i, true);
	} else if (strcmp(line, "status") != 0) {
		ok = false;
	}
	if (ok)
		snprintf(reply, sizeof(reply), "ok %s%s conns=%d\n", mode_name[mode],
			 mode == M_TRICKLE && trickle_reply_only ? " reply" : "", nconns());
	else
		snprintf(reply, sizeof(reply), "error unknown command '%.60s'\n", line);
	if (write(fd, reply, strlen(reply)) < 0) {
		/* the test went away: nothing to tell */
	}
	close(fd);
}

/* Move what may move on direction k of connection c; -1 when the connection is done. */
static int pump(struct conn *c, int k, bool readable, bool writable, int64_t now)
{
	struct pipe_dir *d = &c->dir[k];
	int in = c->fd[k], out = c->fd[1 - k];
	if (readable && !d->eof && d->off + d->len < BUFSZ) {
		if (d->len == 0)
			d->off = 0;
		ssize_t r = read(in, d->buf + d->off + d->len, BUFSZ - d->off - d->len);
		if (r == 0)
			d->eof = true;
		else if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else if (r > 0)
			d->len += (size_t)r;
	}
	if (writable && d->len > 0 && mode != M_FREEZE) {
		size_t n = d->len;
		if (mode == M_TRICKLE && !(k == 0 && trickle_reply_only)) {
			if (now < d->next_ms)
				n = 0;
			else
				n = 1;
		}
		if (n > 0) {
			ssize_t w = write(out, d->buf + d->off, n);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (w > 0) {
				d->off += (size_t)w;
				d->len -= (size_t)w;
				d->next_ms = now + trickle_ms;
			}
		}
	}
	if (d->eof && d->len == 0 && !d->shut && mode != M_FREEZE) {
		shutdown(out, SHUT_WR);
		d->shut = true;
	}
	if (c->dir[0].shut && c->dir[1].shut)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: faultproxy TARGET_HOST TARGET_PORT PORTS_FILE\n");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int gai = getaddrinfo(argv[1], argv[2], &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "faultproxy: cannot resolve %s:%s: %s\n", argv[1], argv[2], gai_strerror(gai));
		return 1;
	}
	memcpy(&target, res->ai_addr, res->ai_addrlen);
	target_len = res->ai_addrlen;
	freeaddrinfo(res);

	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int lport, cport;
	int lfd = listen_loopback(&lport), cfd = listen_loopback(&cport);
	if (lfd < 0 || cfd < 0) {
		fprintf(stderr, "faultproxy: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) & ~O_NONBLOCK);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d %d\n", lport, cport) < 0 || fclose(f) != 0 || rename(tmp, argv[3]) != 0) {
		fprintf(stderr, "faultproxy: cannot write %s: %s\n", argv[3], strerror(errno));
		return 1;
	}

	static struct pollfd pfd[2 + 2 * MAX_CONNS];
	static struct conn *polled[MAX_CONNS];	/* the connection behind pfd[2 + 2i], pfd[3 + 2i] */
	static int polled_slot[MAX_CONNS];
	while (!stop) {
		int64_t now = now_ms(), wake = -1;
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
		int np = 0;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];
			if (!c)
				continue;
			polled[np] = c;
			polled_slot[np++] = i;
			for (int k = 0; k < 2; k++) {
				short ev = 0;
				const struct pipe_dir *in = &c->dir[k], *out = &c->dir[1 - k];
				if (!in->eof && in->off + in->len < BUFSZ)
					ev |= POLLIN;
				if (out->len > 0 && mode != M_FREEZE) {
					if (mode == M_TRICKLE && out->next_ms > now) {
						if (wake < 0 || out->next_ms < wake)
							wake = out->next_ms;
					} else {
						ev |= POLLOUT;
					}
				}
				pfd[n++] = (struct pollfd){ .fd = c->fd[k], .events = ev };
			}
		}
		int timeout = wake < 0 ? 200 : (int)(wake - now > 200 ? 200 : wake - now);
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return 1;
		now = now_ms();
		if (pfd[0].revents & POLLIN)
			on_accept(lfd);
		if (pfd[1].revents & POLLIN)
			command(cfd);
		for (int p = 0; p < np; p++) {
			int i = polled_slot[p];
			struct conn *c = polled[p];
			if (conns[i] != c)
				continue;	/* cut by a command this round */
			short r0 = pfd[2 + 2 * p].revents, r1 = pfd[3 + 2 * p].revents;
			bool bad = ((r0 | r1) & (POLLERR | POLLNVAL)) != 0;
			if (bad || pump(c, 0, r0 & (POLLIN | POLLHUP), r1 & POLLOUT, now) < 0 ||
			    pump(c, 1, r1 & (POLLIN | POLLHUP), r0 & POLLOUT, now) < 0)
				conn_free(i, bad);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_free(i, false);
	unlink(argv[3]);
	return 0;
}
