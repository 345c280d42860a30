/*
 * http.c — evhttp server, request gate and router.  Main thread only.
 *
 * Design: one generic callback receives every request and does, in order:
 * method check, path decode and sanity check, authentication, route lookup.
 * Routes are a small array searched linearly (there are a handful).  The
 * token is kept as a private copy and compared in constant time.  Counters
 * of answers by status code are exported on /metrics.
 */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "addr.h"
#include "json.h"
#include "log.h"

#define HTTP_MAX_ROUTES 32

struct route {
	char *path;
	size_t len;
	bool prefix;
	int methods;
	http_handler_fn fn;
	void *arg;
};

struct http {
	struct evhttp *ev;
	char *token;			/* "" = open */
	struct route routes[HTTP_MAX_ROUTES];
	size_t nroutes;
	unsigned long answers[6];	/* by status class: [2]=2xx ... [5]=5xx */
	unsigned long unauthorized;	/* 401s */
	unsigned long bad_paths;	/* 400s from the path gate */
};

bool http_token_ok(const char *authorization, const char *token)
{
	static const char scheme[] = "Bearer ";
	const size_t slen = sizeof(scheme) - 1;

	if (!authorization || strncmp(authorization, scheme, slen) != 0)
		return false;
	const char *given = authorization + slen;
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

static void count_answer(struct http *h, int code)
{
	int cls = code / 100;
	if (cls >= 1 && cls <= 5)
		h->answers[cls]++;
}

void http_reply(struct http_req *r, int code, const char *content_type, const struct buf *body)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->req);

	if (content_type)
		evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (out && body && body->len)
		evbuffer_add(out, body->data, body->len);
	const char *reason = code == 200 ? "OK" : code == 400 ? "Bad Request" :
		code == 401 ? "Unauthorized" : code == 404 ? "Not Found" :
		code == 405 ? "Method Not Allowed" : code == 409 ? "Conflict" :
		code == 503 ? "Service Unavailable" : NULL;
	count_answer(r->srv, code);
	evhttp_send_reply(r->req, code, reason, out);
	if (out)
		evbuffer_free(out);
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

static void gencb(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct http_req r = { .req = req, .method = evhttp_request_get_command(req), .srv = h };
	struct evkeyvalq query = { 0 };
	char *path = NULL;
	size_t plen = 0;
	const char *why;

	TAILQ_INIT(&query);
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
		return error("out of memory");
	free(h->token);
	h->token = tok;
	evhttp_set_max_body_size(h->ev, (ev_ssize_t)cfg->max_body);
	evhttp_set_max_headers_size(h->ev, (ev_ssize_t)cfg->max_headers);
	evhttp_set_timeout(h->ev, cfg->timeout);
	return 0;
}

struct http *http_new(struct event_base *base, const struct http_cfg *cfg)
{
	char host[256];
	int port;
	const char *why;

	if (addr_split(cfg->listen, host, sizeof(host), &port, &why) < 0) {
		error("http.listen '%s': %s", cfg->listen, why);
		return NULL;
	}
	struct http *h = calloc(1, sizeof(*h));
	if (!h) {
		error("out of memory");
		return NULL;
	}
	h->ev = evhttp_new(base);
	if (!h->ev) {
		error("cannot create the HTTP server");
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->ev, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(h->ev, gencb, h);
	if (apply_cfg(h, cfg) < 0 ||
	    !evhttp_bind_socket_with_handle(h->ev, host, (ev_uint16_t)port)) {
		error("cannot listen for HTTP on '%s': %s", cfg->listen, strerror(errno));
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
	if (h->ev)
		evhttp_free(h->ev);
	for (size_t i = 0; i < h->nroutes; i++)
		free(h->routes[i].path);
	free(h->token);
	free(h);
}

int http_route(struct http *h, const char *path, int methods, http_handler_fn fn, void *arg)
{
	if (h->nroutes >= HTTP_MAX_ROUTES)
		return error("too many HTTP routes (at most %d)", HTTP_MAX_ROUTES);
	struct route *rt = &h->routes[h->nroutes];
	rt->path = strdup(path);
	if (!rt->path)
		return error("out of memory");
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
	buf_adds(out, "# HELP aggregatord_http_responses_total HTTP API responses by status class.\n"
		      "# TYPE aggregatord_http_responses_total counter\n");
	for (int c = 2; c <= 5; c++)
		buf_addf(out, "aggregatord_http_responses_total{class=\"%dxx\"} %lu\n", c,
			 h->answers[c]);
	buf_addf(out, "# HELP aggregatord_http_unauthorized_total Requests refused for a missing or wrong bearer token.\n"
		      "# TYPE aggregatord_http_unauthorized_total counter\n"
		      "aggregatord_http_unauthorized_total %lu\n", h->unauthorized);
	buf_addf(out, "# HELP aggregatord_http_bad_paths_total Requests refused for a malformed or hostile path.\n"
		      "# TYPE aggregatord_http_bad_paths_total counter\n"
		      "aggregatord_http_bad_paths_total %lu\n", h->bad_paths);
}
