/*
 * http.h — the daemon's HTTP API server (libevent evhttp, main thread).
 *
 * One listener on http.listen.  Every request passes the same gate before a
 * handler sees it: method allowed, size limits (evhttp answers 413 itself),
 * one Content-Length and not with Transfer-Encoding (else 400 and close),
 * the path percent-decoded and refused with 400 if it holds NUL, control
 * bytes, "..", "//" or a backslash, and the bearer token compared in
 * constant time (all paths but /healthz).  Handlers are found by exact path
 * or by prefix (routes ending in '/').  Unknown paths get 404 JSON.
 *
 * Connections are capped (http.max_connections, lowered to fit the
 * open-file limit) and each request must arrive whole within
 * http.request_timeout of the connection's start or of the previous answer;
 * a failing accept() pauses the listener instead of spinning (see http.c).
 *
 * Ownership: http_new() returns a server the caller frees with http_free().
 * Handlers reply exactly once with http_reply() or http_error().
 */
#ifndef AGG_HTTP_H
#define AGG_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"

struct http;

struct http_req {
	struct evhttp_request *req;
	const char *path;		/* decoded and checked */
	const char *rest;		/* for prefix routes: the part after the prefix */
	enum evhttp_cmd_type method;
	struct evkeyvalq *query;	/* decoded query parameters */
	struct http *srv;		/* the server that took the request */
};

typedef void (*http_handler_fn)(struct http_req *r, void *arg);

/* Bind cfg->listen on base.  NULL after logging when it cannot. */
struct http *http_new(struct event_base *base, const struct http_cfg *cfg);
/* Apply the runtime-changeable keys (token, limits, timeout). */
int http_reconfigure(struct http *h, const struct http_cfg *cfg);
void http_free(struct http *h);

/* methods: EVHTTP_REQ_GET | EVHTTP_REQ_POST ...; path ending in '/' = prefix. */
int http_route(struct http *h, const char *path, int methods, http_handler_fn fn, void *arg);

/* Reply with body (may be NULL); the buffer is left to the caller. */
void http_reply(struct http_req *r, int code, const char *content_type, const struct buf *body);
/* Reply 200 with the first size bytes of the regular file fd, streamed from
 * the file (sendfile) as the client reads, with its Content-Length.  Takes
 * fd in every case (closes it).  HEAD gets the headers only. */
void http_reply_file(struct http_req *r, const char *content_type, int fd, size_t size);
/* Reply {"error": msg} with code. */
void http_error(struct http_req *r, int code, const char *msg);
/* Read the request body (at most max bytes, the limit evhttp enforced). */
int http_body(struct http_req *r, struct buf *out);
/* Decoded query parameter, or NULL. */
const char *http_query(struct http_req *r, const char *name);

/* Prometheus text of the server's own counters. */
void http_metrics(struct http *h, struct buf *out);

/* Constant-time check of an Authorization header against token (pure).
 * The "Bearer" scheme is matched in any case, then one or more spaces. */
bool http_token_ok(const char *authorization, const char *token);
/* Does a Host header name this server listening on listen (pure)?  The port
 * must match (80 when absent); the host must be the listen host, any
 * loopback name when that is loopback, any address literal when listening
 * on 0.0.0.0 or ::.  Another name is refused (DNS rebinding). */
bool http_host_ok(const char *host_header, const char *listen);
/* Is a Content-Type application/json (any case, parameters allowed)? (pure) */
bool http_is_json(const char *content_type);
/* Ambiguous framing in request headers (pure): NULL, or the reason. */
const char *http_framing_problem(const struct evkeyvalq *headers);
/* The connection cap in force: max_connections, lowered to leave a quarter
 * of the open-file limit nofile (at least 64) to the rest of the daemon (pure). */
size_t http_conn_cap(size_t max_connections, unsigned long nofile);
/* Is a decoded path acceptable (pure)?  NULL, or the reason. */
const char *http_path_problem(const char *path, size_t len);

#endif
