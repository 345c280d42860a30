/*
 * httpc.c — blocking HTTP/1.0 client; see httpc.h.
 *
 * HTTP/1.0 with "Connection: close" keeps it simple: the server sends the
 * body unchunked and closes, so the answer is everything until EOF.
 *
 * One deadline bounds the whole call: the socket is non-blocking and every
 * wait (connect, send, each read) is a poll(2) for what is left of it on
 * CLOCK_MONOTONIC, so a server that trickles its answer a byte at a time
 * cannot stretch the call (a timeout per recv could, without end).  The
 * same poll watches the caller's cancel descriptor, which a job's stop
 * makes readable.  Name resolution (getaddrinfo) is outside the deadline:
 * the URLs the daemon uses are numeric or resolved by the local resolver.
 */
#include "httpc.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

void httpc_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_addc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			buf_add(b, e, 3);
		}
	}
}

/* Now on CLOCK_MONOTONIC, µs. */
static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

enum wait_rc { W_READY = 1, W_TIMEOUT = 0, W_CANCELLED = -2, W_ERROR = -1 };

/* Wait until fd is ready for events, the deadline (mono µs) passes, or cancel_fd is readable. */
static enum wait_rc wait_fd(int fd, short events, uint64_t deadline, int cancel_fd)
{
	for (;;) {
		uint64_t now = now_us();
		if (now >= deadline)
			return W_TIMEOUT;
		uint64_t left = (deadline - now + 999u) / 1000u;
		struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = cancel_fd, .events = POLLIN } };
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return W_ERROR;
		if (cancel_fd >= 0 && (p[1].revents & POLLIN))
			return W_CANCELLED;
		if (n > 0)
			return W_READY;
	}
}

/* A connected non-blocking socket to host:port, or -1 with err (a wait's outcome in *why). */
static int dial(const char *host, int port, uint64_t deadline, int cancel_fd, enum wait_rc *why,
		char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[16];
	int fd = -1;

	*why = W_READY;
	snprintf(portstr, sizeof(portstr), "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		set_err(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	int saved = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		if (saved == EINPROGRESS) {
			*why = wait_fd(fd, POLLOUT, deadline, cancel_fd);
			socklen_t sl = sizeof(saved);
			if (*why == W_READY && getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &sl) == 0 && saved == 0)
				break;
			if (*why == W_ERROR)
				saved = errno;
		}
		close(fd);
		fd = -1;
		if (*why == W_TIMEOUT || *why == W_CANCELLED)
			break;
		*why = W_READY;
	}
	freeaddrinfo(res);
	if (fd < 0 && *why == W_READY)
		set_err(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(saved));
	return fd;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline, int cancel_fd, enum wait_rc *why)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			*why = wait_fd(fd, POLLOUT, deadline, cancel_fd);
			if (*why != W_READY)
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int httpc_request(const char *method, const char *url, const char *token,
		  const char *body, const char *content_type, int timeout_ms,
		  struct httpc_resp *resp, char *err, size_t errlen)
{
	return httpc_request_cancel(method, url, token, body, content_type, timeout_ms, -1, resp,
				    err, errlen);
}

int httpc_request_cancel(const char *method, const char *url, const char *token,
			 const char *body, const char *content_type, int timeout_ms, int cancel_fd,
			 struct httpc_resp *resp, char *err, size_t errlen)
{
	uint64_t deadline = now_us() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000u;
	enum wait_rc why = W_READY;
	char hostport[300], host[256];
	const char *bad;
	int port;

	resp->status = 0;
	buf_init(&resp->body);
	if (strncmp(url, "http://", 7) != 0)
		return set_err(err, errlen, "URL '%s' must start with http://", url);
	const char *hp = url + 7;
	const char *path = strchr(hp, '/');
	size_t hplen = path ? (size_t)(path - hp) : strlen(hp);
	if (hplen == 0 || hplen >= sizeof(hostport))
		return set_err(err, errlen, "bad URL '%s'", url);
	memcpy(hostport, hp, hplen);
	hostport[hplen] = '\0';
	if (!strchr(hostport, ':') || hostport[hplen - 1] == ']')
		strcat(hostport, ":80");
	if (addr_split(hostport, host, sizeof(host), &port, &bad) < 0)
		return set_err(err, errlen, "bad URL '%s': %s", url, bad);
	if (!path)
		path = "/";

	struct buf req = BUF_INIT;
	buf_addf(&req, "%s %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n"
		 "User-Agent: aggregatorctl\r\n", method, path, hostport);
	if (token && token[0])
		buf_addf(&req, "Authorization: Bearer %s\r\n", token);
	if (body)
		buf_addf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			 content_type ? content_type : "application/json", strlen(body));
	buf_adds(&req, "\r\n");
	if (body)
		buf_adds(&req, body);
	if (req.oom) {
		buf_release(&req);
		return set_err(err, errlen, "out of memory");
	}

	int rc = -1;
	struct buf in = BUF_INIT;
	int fd = dial(host, port, deadline, cancel_fd, &why, err, errlen);
	if (fd < 0) {
		if (why != W_READY)
			goto waited;
		buf_release(&req);
		return -1;
	}
	if (send_all(fd, req.data, req.len, deadline, cancel_fd, &why) < 0) {
		if (why != W_READY)
			goto waited;
		set_err(err, errlen, "cannot send the request to %s: %s", hostport, strerror(errno));
		goto out;
	}
	for (;;) {
		if (buf_grow(&in, 65536) < 0) {
			set_err(err, errlen, "out of memory reading from %s", hostport);
			goto out;
		}
		ssize_t r = recv(fd, in.data + in.len, 65536, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			why = wait_fd(fd, POLLIN, deadline, cancel_fd);
			if (why != W_READY)
				goto waited;
			continue;
		}
		if (r < 0) {
			set_err(err, errlen, "no answer from %s: %s", hostport, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		in.len += (size_t)r;
		in.data[in.len] = '\0';
		if (in.len > HTTPC_MAX_BODY) {
			set_err(err, errlen, "answer from %s is too large", hostport);
			goto out;
		}
	}
	int major, minor, status;
	if (in.len < 12 || sscanf(in.data, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
		set_err(err, errlen, "%s did not answer with HTTP", hostport);
		goto out;
	}
	const char *sep = strstr(in.data, "\r\n\r\n");
	if (!sep) {
		set_err(err, errlen, "%s sent a truncated answer", hostport);
		goto out;
	}
	sep += 4;
	resp->status = status;
	buf_add(&resp->body, sep, in.len - (size_t)(sep - in.data));
	if (resp->body.oom) {
		buf_release(&resp->body);
		set_err(err, errlen, "out of memory reading from %s", hostport);
		goto out;
	}
	rc = 0;
	goto out;
waited:
	if (why == W_TIMEOUT) {
		set_err(err, errlen, "%s: timed out after %d ms (%s)", hostport, timeout_ms,
			fd < 0 ? "connecting" : in.len ? "the answer was incomplete" : "no answer");
		rc = HTTPC_TIMEOUT;
	} else if (why == W_CANCELLED) {
		set_err(err, errlen, "%s: cancelled (stopping)", hostport);
		rc = HTTPC_CANCELLED;
	} else {
		set_err(err, errlen, "%s: %s", hostport, strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	buf_release(&in);
	buf_release(&req);
	return rc;
}
