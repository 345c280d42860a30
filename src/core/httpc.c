/*
 * httpc.c — blocking HTTP/1.0 client; see httpc.h.
 *
 * HTTP/1.0 with "Connection: close" keeps it simple: the server sends the
 * body unchunked and closes, so the answer is everything until EOF.  Socket
 * timeouts (SO_SNDTIMEO covers connect on Linux) bound every step.
 */
#include "httpc.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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

static int dial(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[16];
	int fd = -1;

	snprintf(portstr, sizeof(portstr), "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		set_err(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int saved = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		char hp[300];
		snprintf(hp, sizeof(hp), "%s:%d", host, port);
		set_err(err, errlen, "cannot connect to %s: %s", hp, strerror(saved));
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int httpc_request(const char *method, const char *url, const char *token,
		  const char *body, const char *content_type, int timeout_ms,
		  struct httpc_resp *resp, char *err, size_t errlen)
{
	char hostport[300], host[256];
	const char *why;
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
	if (addr_split(hostport, host, sizeof(host), &port, &why) < 0)
		return set_err(err, errlen, "bad URL '%s': %s", url, why);
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

	int fd = dial(host, port, timeout_ms, err, errlen);
	if (fd < 0) {
		buf_release(&req);
		return -1;
	}
	int rc = -1;
	struct buf in = BUF_INIT;
	if (send_all(fd, req.data, req.len) < 0) {
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
		if (r < 0) {
			set_err(err, errlen, "no answer from %s: %s", hostport,
			     errno == EAGAIN ? "timed out" : strerror(errno));
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
out:
	close(fd);
	buf_release(&in);
	buf_release(&req);
	return rc;
}
