/*
 * http.c — evhttp server, request gate and router.  Main thread only.
 *
 * Design: one generic callback receives every request and does, in order:
 * method check, framing check (one Content-Length, not with
 * Transfer-Encoding), path decode and sanity check, authentication, route
 * lookup.  Routes are a small array searched linearly (there are a handful).
 * The token is kept as a private copy and compared in constant time.
 * Counters of answers by status code are exported on /metrics.
 *
 * Connections.  evhttp in libevent 2.1 has no connection cap and only idle
 * timeouts, so this file keeps its own record of every connection (struct
 * conn): evhttp asks us for each new connection's bufferevent (bevcb), we
 * hold a reference on it until a zero-delay event, run once the accept
 * callback has returned, finds the evhttp connection through the
 * bufferevent's callback argument and hangs a close callback on it.  Each
 * record carries an absolute deadline for reading one whole request
 * (http.request_timeout), disarmed while a request is being answered and
 * re-armed when the answer has been written (keep-alive).  Past
 * http.max_connections (lowered to fit the open-file limit), the oldest
 * connection still waiting for a request is closed to make room (as nginx
 * reuses idle keep-alive connections); when every connection is busy
 * answering, the new one gets a 503 and is closed.  When accept() fails
 * (EMFILE, ENFILE, ENOBUFS) the listener is paused for ACCEPT_PAUSE_MS
 * instead of spinning, and the pause is logged at most once per
 * LOG_EVERY_S seconds.
 */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "json.h"
#include "log.h"
#include "prom.h"

#define HTTP_MAX_ROUTES 32
#define ACCEPT_PAUSE_MS 100	/* ms the listener rests after accept() failed */
#define LOG_EVERY_S 10		/* s: at most one line per this about a repeated condition */

struct route {
	char *path;
	size_t len;
	bool prefix;
	int methods;
	http_handler_fn fn;
	void *arg;
};

/* One accepted connection, from evhttp's bevcb to its close callback. */
struct conn {
	TAILQ_ENTRY(conn) next;		/* in h->pending, then in h->conns (oldest first) */
	struct http *h;
	struct bufferevent *bev;	/* evhttp's; we hold a reference while pending */
	struct evhttp_connection *evcon;/* NULL while pending */
	struct event *deadline;		/* owned: fires when no whole request came in time */
	bool serving;			/* a whole request was read and is being answered */
	bool fresh;			/* set up in the current on_setup round */
};
TAILQ_HEAD(conn_list, conn);

struct http {
	struct evhttp *ev;
	struct event_base *base;
	struct evconnlistener *lev;	/* evhttp's listener (evhttp owns it) */
	struct event *setup_ev;		/* owned: finds new connections' evhttp objects */
	struct event *resume_ev;	/* owned: re-enables the listener after a pause */
	struct http *next_srv;		/* in the list of servers (accept error callback) */
	char *token;			/* "" = open */
	struct route routes[HTTP_MAX_ROUTES];
	size_t nroutes;
	struct conn_list pending;	/* accepted, evhttp object not found yet */
	struct conn_list conns;		/* set up, oldest first */
	size_t nconns;			/* both lists */
	size_t cap;			/* effective connection cap */
	struct timeval req_timeout;	/* whole-request deadline */
	unsigned long answers[6];	/* by status class: [2]=2xx ... [5]=5xx */
	unsigned long unauthorized;	/* 401s */
	unsigned long bad_paths;	/* 400s from the path gate */
	unsigned long bad_framing;	/* 400s for ambiguous message framing */
	unsigned long refused;		/* connections refused with 503 at the cap */
	unsigned long evicted;		/* waiting connections closed to make room */
	unsigned long deadline_drops;	/* connections closed at the request deadline */
	unsigned long accept_pauses;	/* listener pauses after accept() failed */
	bool accept_resting;		/* paused after accept() failed; resume_ev re-enables */
	unsigned long pauses_unlogged;	/* pauses since the last log line */
	time_t pause_logged;		/* when the last pause line was written */
	time_t cap_logged;		/* when the last "cap reached" line was written */
};

/* Every live server, to map evhttp's listener argument back to ours. */
static struct http *servers;

bool http_token_ok(const char *authorization, const char *token)
{
	static const char scheme[] = "Bearer";
	const size_t slen = sizeof(scheme) - 1;

	/* RFC 7235: the scheme is case-insensitive, then 1*SP. */
	if (!authorization || strncasecmp(authorization, scheme, slen) != 0 ||
	    authorization[slen] != ' ')
		return false;
	const char *given = authorization + slen;
	while (*given == ' ')
		given++;
	size_t glen = strlen(given), tlen = strlen(token);
	/* Time depends on the token's length only, not on where they differ. */
	unsigned char diff = (unsigned char)(glen != tlen);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char g = i < glen ? (unsigned char)given[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)token[i]);
	}
	return diff == 0 && tlen > 0;
}

const char *http_path_problem(const char *path, size_t len)
{
	if (len == 0 || path[0] != '/')
		return "path must start with '/'";
	if (len > 1024)
		return "path too long";
	if (strlen(path) != len)
		return "NUL byte in path";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c < 0x20 || c == 0x7f)
			return "control character in path";
		if (c == '\\')
			return "backslash in path";
		if (c == '/' && i + 1 < len && path[i + 1] == '/')
			return "empty segment in path";
		if (c == '.' && (i == 0 || path[i - 1] == '/')) {
			/* "." or ".." as a whole segment */
			size_t j = i + 1;
			if (j < len && path[j] == '.')
				j++;
			if (j == len || path[j] == '/')
				return "'.' or '..' segment in path";
		}
	}
	return NULL;
}

static bool wildcard_name(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || host[0] == '\0';
}

bool http_host_ok(const char *host_header, const char *listen)
{
	char lhost[256], hp[300], host[256];
	int lport, port;
	const char *why;
	unsigned char a[16];

	if (!host_header || !host_header[0] || strlen(host_header) >= 256 ||
	    addr_split(listen, lhost, sizeof(lhost), &lport, &why) < 0)
		return false;
	bool has_port = strrchr(host_header, ':') &&
			(host_header[0] != '[' || strstr(host_header, "]:"));
	snprintf(hp, sizeof(hp), "%s%s", host_header, has_port ? "" : ":80");
	if (addr_split(hp, host, sizeof(host), &port, &why) < 0 || port != lport)
		return false;
	if (strcasecmp(host, lhost) == 0)
		return true;
	if (addr_is_loopback_name(lhost))
		return addr_is_loopback_name(host);
	/* Listening on every address: a literal address names this host; a
	 * name could be anyone's (DNS rebinding), so it must be the listen one. */
	if (wildcard_name(lhost))
		return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
	return false;
}

bool http_is_json(const char *content_type)
{
	static const char t[] = "application/json";
	if (!content_type || strncasecmp(content_type, t, sizeof(t) - 1) != 0)
		return false;
	const char *p = content_type + sizeof(t) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' || *p == ';';
}

const char *http_framing_problem(const struct evkeyvalq *headers)
{
	int cl = 0, te = 0;
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, headers, next) {
		if (strcasecmp(kv->key, "Content-Length") == 0)
			cl++;
		else if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
			te++;
	}
	if (cl > 1)
		return "more than one Content-Length header";
	if (cl && te)
		return "both Content-Length and Transfer-Encoding";
	return NULL;
}

size_t http_conn_cap(size_t max_connections, unsigned long nofile)
{
	unsigned long reserve = nofile / 4 > 64 ? nofile / 4 : 64;
	if (nofile <= reserve + 16)
		return 16;
	return max_connections < nofile - reserve ? max_connections : nofile - reserve;
}

static void count_answer(struct http *h, int code)
{
	int cls = code / 100;
	if (cls >= 1 && cls <= 5)
		h->answers[cls]++;
}

static const char *reason_of(int code)
{
	return code == 200 ? "OK" : code == 400 ? "Bad Request" :
		code == 401 ? "Unauthorized" : code == 403 ? "Forbidden" :
		code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed" :
		code == 409 ? "Conflict" : code == 415 ? "Unsupported Media Type" :
		code == 503 ? "Service Unavailable" : NULL;
}

void http_reply(struct http_req *r, int code, const char *content_type, const struct buf *body)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->req);
	size_t len = body ? body->len : 0;

	if (content_type)
		evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (r->method == EVHTTP_REQ_HEAD) {
		/* evhttp would send the body without its length; a HEAD answer
		 * has the length a GET would have and no body. */
		char cl[32];
		snprintf(cl, sizeof(cl), "%zu", len);
		evhttp_add_header(hdr, "Content-Length", cl);
	} else if (out && len) {
		evbuffer_add(out, body->data, len);
	}
	count_answer(r->srv, code);
	evhttp_send_reply(r->req, code, reason_of(code), out);
	if (out)
		evbuffer_free(out);
}

void http_reply_file(struct http_req *r, const char *content_type, int fd, size_t size)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	char cl[32];

	snprintf(cl, sizeof(cl), "%zu", size);
	if (content_type)
		evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "Content-Length", cl);	/* so not chunked */
	count_answer(r->srv, 200);
	evhttp_send_reply_start(r->req, 200, "OK");
	/* The file goes straight to the socket's output buffer: sendfile(),
	 * no copy in memory, written as the client reads. */
	if (r->method != EVHTTP_REQ_HEAD && size && evcon) {
		struct evbuffer *out = bufferevent_get_output(evhttp_connection_get_bufferevent(evcon));
		if (evbuffer_add_file(out, fd, 0, (ev_off_t)size) == 0)
			fd = -1;	/* the buffer owns it now */
		else {
			/* The length is promised: end the connection after
			 * the short answer so the client cannot misread it. */
			struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
			log_warn("http: cannot queue a file of %zu bytes for %s", size, r->path);
			evhttp_remove_header(in, "Connection");
			evhttp_add_header(in, "Connection", "close");
		}
	}
	if (fd >= 0)
		close(fd);
	evhttp_send_reply_end(r->req);
}

void http_error(struct http_req *r, int code, const char *msg)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"error\":");
	json_add_str(&b, msg);
	buf_adds(&b, "}\n");
	http_reply(r, code, "application/json", &b);
	buf_release(&b);
}

int http_body(struct http_req *r, struct buf *out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);
	if (buf_grow(out, n) < 0)
		return -1;
	if (evbuffer_copyout(in, out->data + out->len, n) != (ssize_t)n)
		return -1;
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

const char *http_query(struct http_req *r, const char *name)
{
	return r->query ? evhttp_find_header(r->query, name) : NULL;
}

/* ---- connections: cap, request deadline, accept pauses ---- */

static struct conn *conn_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct conn *c;
	if (!bev)
		return NULL;
	TAILQ_FOREACH(c, &h->conns, next)
		if (c->bev == bev)
			return c;
	TAILQ_FOREACH(c, &h->pending, next)
		if (c->bev == bev)
			return c;
	return NULL;
}

static void conn_forget(struct conn *c, struct conn_list *list)
{
	TAILQ_REMOVE(list, c, next);
	c->h->nconns--;
	event_free(c->deadline);
	free(c);
}

/* evhttp is freeing the connection (any reason, http_free too). */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	struct conn *c = arg;
	conn_forget(c, &c->h->conns);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct conn *c = arg;
	if (c->serving || !c->evcon)
		return;
	c->h->deadline_drops++;
	evhttp_connection_free(c->evcon);	/* on_close frees c */
}

/* The answer was written: the next request on this connection has its own deadline. */
static void on_complete(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct conn *c = arg;
	c->serving = false;
	evtimer_add(c->deadline, &c->h->req_timeout);
}

static void refuse(struct conn *c)
{
	static const char body[] = "{\"error\":\"too many connections\"}\n";
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "HTTP/1.1 503 Service Unavailable\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Retry-After: 1\r\nConnection: close\r\n\r\n%s", sizeof(body) - 1, body);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0 && n > 0)
		(void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	c->h->refused++;
	evhttp_connection_free(c->evcon);
}

/* Accept again unless resting after an accept() failure. */
static void listen_again(struct http *h)
{
	if (h->lev && !h->accept_resting)
		evconnlistener_enable(h->lev);
}

/* At the cap: close the oldest connections that wait for a request (idle
 * keep-alive or slow senders) down to half the cap, so that a burst of
 * newcomers has room at once; newcomers of this round are spared.  If that
 * is not enough (every connection busy answering), refuse the newest. */
static void make_room(struct http *h)
{
	size_t want = h->cap / 2;
	struct conn *c, *nx;
	time_t now = time(NULL);

	if (now - h->cap_logged >= LOG_EVERY_S) {
		h->cap_logged = now;
		log_warn("http: %zu connections, the cap (http.max_connections): closing the oldest "
			 "waiting ones, refusing new ones when none waits", h->cap);
	}
	for (c = TAILQ_FIRST(&h->conns); c && h->nconns > want; c = nx) {
		nx = TAILQ_NEXT(c, next);
		if (!c->serving && !c->fresh) {
			h->evicted++;
			evhttp_connection_free(c->evcon);	/* on_close frees c */
		}
	}
	while (h->nconns > h->cap && (c = TAILQ_LAST(&h->conns, conn_list)) != NULL &&
	       c->fresh && !c->serving)
		refuse(c);
}

/* Runs after the accept callback: find each new connection's evhttp object. */
static void on_setup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct http *h = arg;
	struct conn *c;

	while ((c = TAILQ_FIRST(&h->pending)) != NULL) {
		struct bufferevent *bev = c->bev;
		bufferevent_data_cb rd, wr;
		bufferevent_event_cb ev;
		void *cbarg = NULL;
		bufferevent_getcb(bev, &rd, &wr, &ev, &cbarg);
		if (!cbarg) {		/* evhttp is already done with it */
			conn_forget(c, &h->pending);
			bufferevent_decref(bev);
			continue;
		}
		TAILQ_REMOVE(&h->pending, c, next);
		TAILQ_INSERT_TAIL(&h->conns, c, next);
		c->evcon = cbarg;
		evhttp_connection_set_closecb(c->evcon, on_close, c);
		if (!c->serving)
			evtimer_add(c->deadline, &h->req_timeout);
		c->fresh = true;
		bufferevent_decref(bev);
	}
	if (h->nconns >= h->cap)
		make_room(h);
	TAILQ_FOREACH(c, &h->conns, next)
		c->fresh = false;
	listen_again(h);
}

/* evhttp asks for the bufferevent of each accepted connection. */
static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
	struct http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);	/* as evhttp's own */
	struct conn *c = bev ? calloc(1, sizeof(*c)) : NULL;
	if (!c || !(c->deadline = evtimer_new(base, on_deadline, c))) {
		free(c);
		return bev;	/* untracked (out of memory): evhttp still serves it */
	}
	bufferevent_incref(bev);
	c->h = h;
	c->bev = bev;
	TAILQ_INSERT_TAIL(&h->pending, c, next);
	h->nconns++;
	event_active(h->setup_ev, EV_TIMEOUT, 0);
	/* Stop this accept round at the cap: on_setup makes room first. */
	if (h->nconns >= h->cap && h->lev)
		evconnlistener_disable(h->lev);
	return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct http *h = arg;
	h->accept_resting = false;
	listen_again(h);
}

/* accept() failed with a non-retriable error: rest, do not spin. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct http *h = servers;
	while (h && h->ev != arg)
		h = h->next_srv;
	evconnlistener_disable(lev);
	if (!h)
		return;
	h->accept_resting = true;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	evtimer_add(h->resume_ev, &tv);
	h->accept_pauses++;
	h->pauses_unlogged++;
	time_t now = time(NULL);
	if (now - h->pause_logged >= LOG_EVERY_S) {
		log_warn("http: cannot accept connections: %s; pausing %d ms each time "
			 "(%lu pause(s) since the last such line, %zu connections open)",
			 strerror(err), ACCEPT_PAUSE_MS, h->pauses_unlogged, h->nconns);
		h->pause_logged = now;
		h->pauses_unlogged = 0;
	}
	/* Out of descriptors: give some back from connections that wait. */
	if (err == EMFILE || err == ENFILE) {
		struct conn *c, *nx;
		int n = 0;
		for (c = TAILQ_FIRST(&h->conns); c && n < 8; c = nx) {
			nx = TAILQ_NEXT(c, next);
			if (!c->serving) {
				h->evicted++;
				n++;
				evhttp_connection_free(c->evcon);
			}
		}
	}
}

static void gencb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct http_req r = { .req = req, .method = evhttp_request_get_command(req), .srv = h };
	struct evkeyvalq query = { 0 };
	char *path = NULL;
	size_t plen = 0;
	const char *why;

	TAILQ_INIT(&query);
	struct conn *c = conn_of(h, req);
	if (c) {
		c->serving = true;
		evtimer_del(c->deadline);
		evhttp_request_set_on_complete_cb(req, on_complete, c);
	}
	if ((why = http_framing_problem(evhttp_request_get_input_headers(req))) != NULL) {
		/* The rest of the stream cannot be trusted: answer and close. */
		h->bad_framing++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_error(&r, 400, why);
		goto out;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!raw || !(path = evhttp_uridecode(raw, 0, &plen))) {
		h->bad_paths++;
		http_error(&r, 400, "bad request path");
		goto out;
	}
	if ((why = http_path_problem(path, plen)) != NULL) {
		h->bad_paths++;
		http_error(&r, 400, why);
		goto out;
	}
	r.path = path;
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	if (q && evhttp_parse_query_str(q, &query) != 0) {
		http_error(&r, 400, "bad query string");
		goto out;
	}
	r.query = &query;
	if (h->token[0] && strcmp(path, "/healthz") != 0) {
		const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req),
						      "Authorization");
		if (!http_token_ok(auth, h->token)) {
			h->unauthorized++;
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "WWW-Authenticate", "Bearer");
			http_error(&r, 401, "missing or wrong bearer token");
			goto out;
		}
	}
	for (size_t i = 0; i < h->nroutes; i++) {
		struct route *rt = &h->routes[i];
		bool hit = rt->prefix ? (plen >= rt->len && memcmp(path, rt->path, rt->len) == 0)
				      : strcmp(path, rt->path) == 0;
		if (!hit)
			continue;
		if (!(rt->methods & (int)r.method)) {
			http_error(&r, 405, "method not allowed");
			goto out;
		}
		r.rest = path + (rt->prefix ? rt->len : plen);
		rt->fn(&r, rt->arg);
		goto out;
	}
	http_error(&r, 404, "no such path");
out:
	evhttp_clear_headers(&query);
	free(path);
}

static int apply_cfg(struct http *h, const struct http_cfg *cfg)
{
	char *tok = strdup(cfg->token ? cfg->token : "");
	if (!tok)
		return log_error("out of memory");
	free(h->token);
	h->token = tok;
	evhttp_set_max_body_size(h->ev, (ev_ssize_t)cfg->max_body);
	evhttp_set_max_headers_size(h->ev, (ev_ssize_t)cfg->max_headers);
	evhttp_set_timeout(h->ev, cfg->timeout);
	h->req_timeout = (struct timeval){ cfg->request_timeout, 0 };

	struct rlimit rl;
	unsigned long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
			       (unsigned long)rl.rlim_cur : 1048576ul;
	h->cap = http_conn_cap((size_t)cfg->max_connections, nofile);
	if (h->cap < (size_t)cfg->max_connections)
		log_warn("http: http.max_connections %d lowered to %zu to fit the open-file limit "
			 "%lu (raise LimitNOFILE= to allow more)", cfg->max_connections, h->cap, nofile);
	return 0;
}

/* Our own listener (evhttp's has a 128-deep queue: a burst of connections
 * then drops SYNs and a client waits a second for its retry). */
static int listen_on(struct http *h, const char *host, int port)
{
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					 .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG };
	struct evutil_addrinfo *ai = NULL;
	char ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	if (evutil_getaddrinfo(host[0] ? host : NULL, ps, &hints, &ai) != 0 || !ai) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	h->lev = evconnlistener_new_bind(h->base, NULL, NULL,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
					 SOMAXCONN, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!h->lev)
		return -1;
	if (!evhttp_bind_listener(h->ev, h->lev)) {	/* evhttp owns it from here */
		evconnlistener_free(h->lev);
		h->lev = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(h->lev, on_accept_error);
	return 0;
}

struct http *http_new(struct event_base *base, const struct http_cfg *cfg)
{
	char host[256];
	int port;
	const char *why;

	if (addr_split(cfg->listen, host, sizeof(host), &port, &why) < 0) {
		log_error("http.listen '%s': %s", cfg->listen, why);
		return NULL;
	}
	struct http *h = calloc(1, sizeof(*h));
	if (!h) {
		log_error("out of memory");
		return NULL;
	}
	TAILQ_INIT(&h->pending);
	TAILQ_INIT(&h->conns);
	h->base = base;
	h->next_srv = servers;
	servers = h;
	h->ev = evhttp_new(base);
	h->setup_ev = event_new(base, -1, 0, on_setup, h);
	h->resume_ev = evtimer_new(base, on_resume, h);
	if (!h->ev || !h->setup_ev || !h->resume_ev) {
		log_error("cannot create the HTTP server");
		http_free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->ev, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(h->ev, gencb, h);
	evhttp_set_bevcb(h->ev, new_bev, h);
	if (apply_cfg(h, cfg) < 0 || listen_on(h, host, port) < 0) {
		log_error("cannot listen for HTTP on '%s': %s", cfg->listen, strerror(errno));
		http_free(h);
		return NULL;
	}
	log_info("HTTP API listening on %s", cfg->listen);
	return h;
}

int http_reconfigure(struct http *h, const struct http_cfg *cfg)
{
	return apply_cfg(h, cfg);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (struct http **p = &servers; *p; p = &(*p)->next_srv)
		if (*p == h) {
			*p = h->next_srv;
			break;
		}
	if (h->ev)
		evhttp_free(h->ev);	/* on_close forgets every set-up connection */
	struct conn *c;
	while ((c = TAILQ_FIRST(&h->pending)) != NULL) {
		struct bufferevent *bev = c->bev;
		conn_forget(c, &h->pending);
		bufferevent_decref(bev);
	}
	if (h->setup_ev)
		event_free(h->setup_ev);
	if (h->resume_ev)
		event_free(h->resume_ev);
	for (size_t i = 0; i < h->nroutes; i++)
		free(h->routes[i].path);
	free(h->token);
	free(h);
}

int http_route(struct http *h, const char *path, int methods, http_handler_fn fn, void *arg)
{
	if (h->nroutes >= HTTP_MAX_ROUTES)
		return log_error("too many HTTP routes (at most %d)", HTTP_MAX_ROUTES);
	struct route *rt = &h->routes[h->nroutes];
	rt->path = strdup(path);
	if (!rt->path)
		return log_error("out of memory");
	rt->len = strlen(path);
	rt->prefix = path[rt->len - 1] == '/';
	rt->methods = methods | ((methods & EVHTTP_REQ_GET) ? EVHTTP_REQ_HEAD : 0);
	rt->fn = fn;
	rt->arg = arg;
	h->nroutes++;
	return 0;
}

void http_metrics(struct http *h, struct buf *out)
{
	prom_head(out, "aggregatord_http_responses_total", "counter",
		  "HTTP API responses by status class.");
	for (int c = 2; c <= 5; c++) {
		char cls[8];
		snprintf(cls, sizeof(cls), "%dxx", c);
		prom_u64_1(out, "aggregatord_http_responses_total", "class", cls, h->answers[c]);
	}
	prom_metric_u64(out, "aggregatord_http_unauthorized_total", "counter",
		"Requests refused for a missing or wrong bearer token.", h->unauthorized);
	prom_metric_u64(out, "aggregatord_http_bad_paths_total", "counter",
		"Requests refused for a malformed or hostile path.", h->bad_paths);
	prom_metric_u64(out, "aggregatord_http_bad_framing_total", "counter",
		"Requests refused for two Content-Length headers, or one with Transfer-Encoding.", h->bad_framing);
	prom_metric_u64(out, "aggregatord_http_connections", "gauge",
		"Open HTTP connections.", h->nconns);
	prom_metric_u64(out, "aggregatord_http_connections_max", "gauge",
		"The connection cap in force (http.max_connections, lowered to fit the open-file limit).", h->cap);
	prom_metric_u64(out, "aggregatord_http_connections_evicted_total", "counter",
		"Connections waiting for a request closed to make room at the cap.", h->evicted);
	prom_metric_u64(out, "aggregatord_http_connections_refused_total", "counter",
		"Connections refused with 503 at the cap (every other connection busy answering).", h->refused);
	prom_metric_u64(out, "aggregatord_http_request_deadline_total", "counter",
		"Connections closed for not sending a whole request within http.request_timeout.", h->deadline_drops);
	prom_metric_u64(out, "aggregatord_http_accept_pauses_total", "counter",
		"Times the listener paused because accept() failed (out of file descriptors).", h->accept_pauses);
}
