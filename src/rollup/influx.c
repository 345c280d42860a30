/*
 * influx.c — the rollup's InfluxDB HTTP exchange (the I/O shell around the
 * pure parser in influx_parse.c and the query text in influx_query.c); see
 * influx.h for the contract and the data model.
 *
 * DESIGN.  The answer format is InfluxDB 1.x's chunked JSON (chunked=true,
 * chunk_size=INFLUX_CHUNK_SIZE, epoch=s); influx_parse.c says why and how it
 * is parsed.
 *
 * The shell resolves the URL's host itself (a clear message, and each
 * address in turn), then runs one GET /query with libevent's evhttp client
 * on an event_base of its own, feeding each piece of the body to the parser
 * as it arrives and draining it.  One timer bounds the whole call (connect,
 * headers and a body that trickles alike), and an event on the caller's
 * cancel descriptor ends it at once when the job stops.  When
 * nothing came back from an address, one plain connect() learns why
 * (libevent reports a refused connection without its errno) and the next
 * address is tried.  It blocks: worker threads only.
 */
#include "influx.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc.h"
#include "thread.h"

#define ERRBODY_MAX 4096	/* bytes kept of a non-200 answer */

/* One request on one address. */
struct run {
	struct event_base *base;
	struct influx_parser *p;
	int status;			/* HTTP status, 0 until the headers */
	bool headers, finished, conn_failed, timed_out, cancelled, stop;
	int req_err;			/* enum evhttp_request_error + 1, 0 = none */
	char xerr[400];			/* X-Influxdb-Error of a non-200 answer */
	struct buf errbody;		/* the body of a non-200 answer, capped */
};

static int on_headers(struct evhttp_request *req, void *arg)
{
	struct run *r = arg;
	r->headers = true;
	r->status = evhttp_request_get_response_code(req);
	if (r->status != 200) {
		const char *x = evhttp_find_header(evhttp_request_get_input_headers(req),
						   "X-Influxdb-Error");
		if (x)
			snprintf(r->xerr, sizeof(r->xerr), "%s", x);
	}
	return 0;
}

/* Hand what arrived to the parser (or keep the start of an error body), and drain it. */
static void consume(struct run *r, struct evbuffer *in)
{
	size_t n;
	while ((n = evbuffer_get_length(in)) > 0) {
		struct evbuffer_iovec v[8];
		int k = evbuffer_peek(in, -1, NULL, v, 8);
		if (k > 8)
			k = 8;
		size_t used = 0;
		for (int j = 0; j < k; j++) {
			if (r->status == 200 && !r->stop) {
				if (influx_parser_feed(r->p, v[j].iov_base, v[j].iov_len) < 0) {
					r->stop = true;
					event_base_loopbreak(r->base);
				}
			} else if (r->status != 200 && r->errbody.len < ERRBODY_MAX) {
				size_t room = ERRBODY_MAX - r->errbody.len;
				buf_add(&r->errbody, v[j].iov_base, v[j].iov_len < room ? v[j].iov_len : room);
			}
			used += v[j].iov_len;
		}
		evbuffer_drain(in, used ? used : n);
	}
}

static void on_chunk(struct evhttp_request *req, void *arg)
{
	consume(arg, evhttp_request_get_input_buffer(req));
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct run *r = arg;
	r->req_err = (int)e + 1;
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct run *r = arg;
	if (!req || evhttp_request_get_response_code(req) == 0) {
		r->conn_failed = true;
	} else {
		consume(r, evhttp_request_get_input_buffer(req));
		r->finished = true;
	}
	event_base_loopbreak(r->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)fd, (void)what;
	r->timed_out = true;
	event_base_loopbreak(r->base);
}

static void on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)fd, (void)what;
	r->cancelled = true;
	event_base_loopbreak(r->base);
}

static void lower_first(char *s)
{
	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = (char)(s[0] - 'A' + 'a');
}

static void base64(struct buf *b, const char *s, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)(unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		char o[4] = { tab[v >> 18], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=',
			      i + 2 < n ? tab[v & 63] : '=' };
		buf_add(b, o, 4);
	}
}

/*
 * Why could the request not reach ai?  libevent's client says only that it
 * failed, so connect once more to learn the errno ("connection refused"),
 * within at most 2 s of the deadline (mono µs).  Writes why; returns true
 * when this connect succeeded (the server accepted and then said nothing).
 */
static bool diagnose(const struct addrinfo *ai, uint64_t deadline, char *why, size_t wlen)
{
	int err = 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		err = errno;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			uint64_t now = mono_usec();
			uint64_t left = now >= deadline ? 0 : deadline - now;
			int ms = left > 2000000u ? 2000 : (int)(left / 1000);
			int n;
			do
				n = poll(&pfd, 1, ms);
			while (n < 0 && errno == EINTR);
			socklen_t sl = sizeof(err);
			if (n == 0)
				err = ETIMEDOUT;
			else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
		}
	}
	if (fd >= 0)
		close(fd);
	if (err == 0) {
		snprintf(why, wlen, "connection closed without an answer");
		return true;
	}
	snprintf(why, wlen, "%s", strerror(err));
	lower_first(why);
	return false;
}

/* The message of a non-200 answer: X-Influxdb-Error, else {"error":...}, else the body. */
static void http_error(struct run *r, char *err, size_t errlen)
{
	const char *msg = r->xerr;
	char body[400];
	if (!msg[0]) {
		const char *b = r->errbody.data;
		const char *e = strstr(b, "\"error\":\"");
		size_t n = 0;
		if (e) {
			e += 9;
			while (e[n] && e[n] != '"' && n < sizeof(body) - 1)
				n++;
			b = e;
		} else {
			while (b[n] && b[n] != '\n' && n < sizeof(body) - 1)
				n++;
		}
		snprintf(body, sizeof(body), "%.*s", (int)n, b);
		msg = body;
	}
	snprintf(err, errlen, "influxdb: HTTP %d: %s", r->status, msg[0] ? msg : "(no message)");
}

/*
 * Did bytes of an answer come back, although its headers never parsed?  A
 * bad header line or headers past the limit: the server answered (wrongly),
 * it is not unreachable, and the next address is not tried.
 */
static bool answered(const struct run *r)
{
	return r->req_err == EVREQ_HTTP_INVALID_HEADER + 1 || r->req_err == EVREQ_HTTP_DATA_TOO_LONG + 1;
}

/* What one request needs besides the address. */
struct target {
	const char *url;		/* as configured, for messages */
	int port;
	int timeout;			/* s */
	int cancel_fd;			/* -1 or readable once the job stops */
	uint64_t deadline;		/* mono µs */
	const char *uri;		/* path and query */
	const char *host;		/* Host header */
	const char *auth;		/* Authorization header, "" = none */
};

enum attempt { ATT_OK, ATT_FAILED, ATT_UNREACHED, ATT_TIMEOUT, ATT_CANCELLED };

/*
 * Run the request against one address (numeric).  ATT_UNREACHED when
 * nothing at all came back (the next address may be tried: p is untouched).
 */
static enum attempt attempt(const struct target *t, const char *numeric, struct influx_parser *p,
			    char *err, size_t errlen)
{
	struct run r = { .p = p, .errbody = BUF_INIT };
	struct evhttp_connection *conn = NULL;
	struct event *timer = NULL, *cancel = NULL;
	enum attempt rc = ATT_FAILED;

	r.base = event_base_new();
	if (r.base) {
		conn = evhttp_connection_base_new(r.base, NULL, numeric, (unsigned short)t->port);
		timer = evtimer_new(r.base, on_timeout, &r);
		if (t->cancel_fd >= 0)
			cancel = event_new(r.base, t->cancel_fd, EV_READ, on_cancel, &r);
	}
	struct evhttp_request *req = conn && timer && (cancel || t->cancel_fd < 0)
					     ? evhttp_request_new(on_done, &r) : NULL;
	if (!req) {
		set_err(err, errlen, "influxdb: out of memory");
		goto out;
	}
	evhttp_connection_set_retries(conn, 0);
	evhttp_connection_set_timeout(conn, t->timeout);
	evhttp_connection_set_max_headers_size(conn, 65536);
	bufferevent_set_max_single_read(evhttp_connection_get_bufferevent(conn), 1 << 18);
	evhttp_request_set_header_cb(req, on_headers);
	evhttp_request_set_chunked_cb(req, on_chunk);
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", t->host);
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "User-Agent", "aggregatord/" AGG_VERSION);
	evhttp_add_header(h, "Connection", "close");
	if (t->auth[0])
		evhttp_add_header(h, "Authorization", t->auth);
	uint64_t now = mono_usec();
	uint64_t left = now >= t->deadline ? 0 : t->deadline - now;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000000u), .tv_usec = (suseconds_t)(left % 1000000u) };
	evtimer_add(timer, &tv);
	if (cancel)
		event_add(cancel, NULL);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, t->uri) < 0) {
		set_err(err, errlen, "influxdb %s: cannot send the request", t->url);
		goto out;
	}
	event_base_dispatch(r.base);

	if (r.cancelled) {
		set_err(err, errlen, "influxdb %s: cancelled (stopping)", t->url);
		rc = ATT_CANCELLED;
	} else if (r.stop) {
		if (influx_parser_server_error(p))
			set_err(err, errlen, "influxdb: %s", influx_parser_error(p));
		else
			set_err(err, errlen, "influxdb %s: %s", t->url, influx_parser_error(p));
	} else if (r.timed_out || r.req_err == EVREQ_HTTP_TIMEOUT + 1) {
		set_err(err, errlen, "influxdb %s: timed out after %d s", t->url, t->timeout);
		rc = ATT_TIMEOUT;
	} else if (!r.headers && (r.conn_failed || !r.finished) && !answered(&r)) {
		rc = ATT_UNREACHED;
	} else if (r.conn_failed || !r.finished) {
		set_err(err, errlen, "influxdb %s: %s", t->url,
			r.req_err == EVREQ_HTTP_INVALID_HEADER + 1 ? "bad HTTP answer"
			: r.req_err == EVREQ_HTTP_DATA_TOO_LONG + 1 ? "HTTP headers too long"
			: "connection closed before the answer was complete");
	} else if (r.status != 200) {
		http_error(&r, err, errlen);
	} else if (influx_parser_finish(p) < 0) {
		if (influx_parser_server_error(p))
			set_err(err, errlen, "influxdb: %s", influx_parser_error(p));
		else
			set_err(err, errlen, "influxdb %s: %s", t->url, influx_parser_error(p));
	} else {
		rc = ATT_OK;
	}
out:
	if (conn)
		evhttp_connection_free(conn);	/* frees a request still pending */
	else if (req)
		evhttp_request_free(req);
	if (timer)
		event_free(timer);
	if (cancel)
		event_free(cancel);
	if (r.base)
		event_base_free(r.base);
	buf_release(&r.errbody);
	return rc;
}

static int run_query(const struct influx_cfg *cfg, long long hour_start, influx_vm_cb cb, void *arg,
		     struct influx_stats *st, char *err, size_t errlen)
{
	uint64_t t0 = mono_usec();
	struct influx_stats dummy;
	if (!st)
		st = &dummy;
	*st = (struct influx_stats){ 0 };
	if (cfg->timeout_s < 0)
		return set_err(err, errlen, "influxdb: timeout %d s is negative", cfg->timeout_s);
	const char *url = cfg->url ? cfg->url : "";
	if (!cfg->db || !cfg->db[0])
		return set_err(err, errlen, "influxdb %s: no database given", url);

	struct buf q = BUF_INIT, uri = BUF_INIT, auth = BUF_INIT, hosthdr = BUF_INIT;
	struct evhttp_uri *u = NULL;
	struct addrinfo *res = NULL;
	struct influx_parser *p = NULL;
	int rc = -1;
	char qerr[300];
	struct target t = { .url = url, .timeout = cfg->timeout_s ? cfg->timeout_s : INFLUX_DEFAULT_TIMEOUT,
			    .cancel_fd = cfg->cancel_fd ? *cfg->cancel_fd : -1 };
	t.deadline = t0 + (uint64_t)t.timeout * 1000000u;

	if (influx_query(cfg, hour_start, &q, qerr, sizeof(qerr)) < 0) {
		set_err(err, errlen, "influxdb: %s", qerr);
		goto out;
	}
	u = evhttp_uri_parse(url);
	const char *host = u ? evhttp_uri_get_host(u) : NULL;
	const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
	if (!u || !host || !host[0] || !scheme) {
		set_err(err, errlen, "influxdb: bad url '%s' (want http://host:port)", url);
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0) {
		set_err(err, errlen, "influxdb %s: scheme '%s' is not supported (http only)", url, scheme);
		goto out;
	}
	if (evhttp_uri_get_userinfo(u) || evhttp_uri_get_query(u)) {
		set_err(err, errlen, "influxdb %s: the url takes no credentials or query (use user, password)", url);
		goto out;
	}
	t.port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
	const char *path = evhttp_uri_get_path(u);
	size_t plen = path ? strlen(path) : 0;
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	buf_add(&uri, path ? path : "", plen);
	buf_adds(&uri, "/query?db=");
	httpc_escape(&uri, cfg->db);
	buf_addf(&uri, "&epoch=s&chunked=true&chunk_size=%d&q=", INFLUX_CHUNK_SIZE);
	httpc_escape(&uri, q.data);
	/* libevent keeps an IP-literal's brackets ("[::1]"): the Host header
	 * wants them, getaddrinfo does not. */
	buf_addf(&hosthdr, "%s:%d", host, t.port);
	char name[256];
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']' && hl - 2 < sizeof(name)) {
		memcpy(name, host + 1, hl - 2);
		name[hl - 2] = '\0';
		host = name;
	}
	if (cfg->user && cfg->user[0]) {
		struct buf up = BUF_INIT;
		buf_addf(&up, "%s:%s", cfg->user, cfg->password ? cfg->password : "");
		buf_adds(&auth, "Basic ");
		base64(&auth, up.data, up.len);
		if (up.oom)
			auth.oom = true;
		buf_release(&up);
	}
	if (uri.oom || auth.oom || hosthdr.oom) {
		set_err(err, errlen, "influxdb: out of memory");
		goto out;
	}
	t.uri = uri.data;
	t.host = hosthdr.data;
	t.auth = auth.data;

	/* Resolve here (a clear message, and every address to try); libevent gets numbers. */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", t.port);
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		char g[128];
		snprintf(g, sizeof(g), "%s", gai_strerror(gai));
		lower_first(g);
		set_err(err, errlen, "influxdb %s: cannot resolve '%s': %s", url, host, g);
		goto out;
	}
	const char *tags[3];
	const char *n[11];
	influx_names(cfg, n);
	tags[0] = n[1], tags[1] = n[2], tags[2] = n[3];
	p = influx_parser_new(tags, hour_start, influx_lookback(cfg), cb, arg);
	if (!p) {
		set_err(err, errlen, "influxdb: out of memory");
		goto out;
	}
	set_err(err, errlen, "influxdb %s: no address to connect to", url);
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char numeric[NI_MAXHOST], why[200];
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, sizeof(numeric), NULL, 0,
				NI_NUMERICHOST) != 0)
			continue;
		enum attempt a = attempt(&t, numeric, p, err, errlen);
		rc = a == ATT_OK ? 0 : a == ATT_TIMEOUT ? INFLUX_TIMEOUT : a == ATT_CANCELLED ? INFLUX_CANCELLED : -1;
		if (a != ATT_UNREACHED)
			break;
		bool accepted = diagnose(ai, t.deadline, why, sizeof(why));
		set_err(err, errlen, "influxdb %s: %s", url, why);
		if (accepted || mono_usec() >= t.deadline)
			break;
	}
out:
	if (p)
		influx_parser_counts(p, st);
	influx_parser_free(p);
	if (res)
		freeaddrinfo(res);
	if (u)
		evhttp_uri_free(u);
	buf_release(&q);
	buf_release(&uri);
	buf_release(&auth);
	buf_release(&hosthdr);
	st->seconds = (double)(mono_usec() - t0) / 1e6;
	return rc;
}

int influx_rollup_hour(const struct influx_cfg *cfg, long long hour_start, influx_vm_cb cb, void *arg,
		       struct influx_stats *st, char *err, size_t errlen)
{
	if (!cb)
		return set_err(err, errlen, "influxdb: no callback given");
	return run_query(cfg, hour_start, cb, arg, st, err, errlen);
}

int influx_read_hour(const struct influx_cfg *cfg, long long hour_start, struct influx_stats *st,
		     char *err, size_t errlen)
{
	return run_query(cfg, hour_start, NULL, NULL, st, err, errlen);
}

