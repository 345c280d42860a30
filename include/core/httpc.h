/*
 * httpc.h — a small blocking HTTP/1.0 client for aggregatorctl and the
 * rollup master's location fetches (and tools).  One request per connection; the whole answer is read
 * into memory, up to HTTPC_MAX_BODY bytes.
 *
 * Ownership: httpc_request() fills resp->body; the caller releases it with
 * buf_release().
 */
#ifndef AGG_HTTPC_H
#define AGG_HTTPC_H

#include <stddef.h>

#include "buf.h"

#define HTTPC_MAX_BODY (256u << 20)	/* bytes */
#define HTTPC_TIMEOUT (-2)		/* the call's deadline passed (a -1 said precisely) */
#define HTTPC_CANCELLED (-3)		/* the cancel descriptor became readable */

struct httpc_resp {
	int status;		/* HTTP status code */
	struct buf body;	/* the body, NUL-terminated */
};

/*
 * method "GET"/"POST"; url "http://host:port/path?query"; token "" or NULL
 * for none; body may be NULL.  timeout_ms bounds the whole exchange
 * (connect, request, headers and body), not each read.  Returns 0 (any
 * status), or < 0 with a message in err when no answer was had: -1
 * (connection refused, bad reply), HTTPC_TIMEOUT ("HOST:PORT: timed out
 * after N ms (...)").
 */
int httpc_request(const char *method, const char *url, const char *token,
		  const char *body, const char *content_type, int timeout_ms,
		  struct httpc_resp *resp, char *err, size_t errlen);

/*
 * The same, and cancel_fd (-1: none), a descriptor the caller does not
 * give away: once it is readable (a job's stop) the call gives up at once
 * with "HOST:PORT: cancelled (stopping)" (HTTPC_CANCELLED).
 */
int httpc_request_cancel(const char *method, const char *url, const char *token,
			 const char *body, const char *content_type, int timeout_ms, int cancel_fd,
			 struct httpc_resp *resp, char *err, size_t errlen);

/* Percent-encode s for a query or path segment (RFC 3986 unreserved kept). */
void httpc_escape(struct buf *b, const char *s);

#endif
