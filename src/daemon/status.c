/*
 * status.c — what the daemon says about itself: /healthz, /metrics
 * (Prometheus text exposition 0.0.4), /v1/status (JSON) and POST /v1/role.
 *
 * Runs on the main thread, as HTTP handlers.  Each job appends its own
 * metrics and status through its job_ops callbacks; this file renders the
 * process-wide part and the frame around them.
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <sys/queue.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "addr.h"
#include "http.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "prom.h"
#include "publish.h"
#include "thread.h"

#ifndef AGG_VERSION
#define AGG_VERSION "dev"
#endif

static void iso_time(time_t t, char *out, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void status_metrics(struct daemon *d, struct buf *out)
{
	prom_head(out, "aggregatord_build_info", "gauge", "Version of the running binary.");
	prom_u64_1(out, "aggregatord_build_info", "version", AGG_VERSION, 1);
	prom_metric_u64(out, "aggregatord_start_time_seconds", "gauge",
		"When the process started, seconds since the Unix epoch.", (uint64_t)d->started);
	prom_head(out, "aggregatord_uptime_seconds", "gauge", "Seconds since the process started.");
	prom_f64(out, "aggregatord_uptime_seconds",
		 (double)((mono_usec() - d->started_mono) / 1000) / 1e3);	/* to the ms */
	prom_head(out, "aggregatord_config_reloads_total", "counter",
		  "Configuration reloads (SIGHUP) by result.");
	prom_u64_1(out, "aggregatord_config_reloads_total", "result", "ok", d->reloads_ok);
	prom_u64_1(out, "aggregatord_config_reloads_total", "result", "failed", d->reloads_failed);
	prom_head(out, "aggregatord_config_last_reload_successful", "gauge",
		  "1 if the last reload was applied (or none happened), 0 if it was refused.");
	prom_u64(out, "aggregatord_config_last_reload_successful",
		 d->last_reload == 0 || d->last_reload_ok ? 1 : 0);
	prom_head(out, "aggregatord_role_overrides_total", "counter",
		  "Role commands received (realtime signals and POST /v1/role), by command.");
	for (int c = 0; c < ROLE_CMD_COUNT; c++)
		prom_u64_1(out, "aggregatord_role_overrides_total", "command",
			   role_cmd_name((enum role_cmd)c), d->role.count[c]);
	prom_head(out, "aggregatord_role_mode", "gauge",
		  "The operator's role mode: 1 for the mode in force.");
	for (int m = ROLE_MODE_AUTO; m <= ROLE_MODE_FORCE_STANDBY; m++)
		prom_u64_1(out, "aggregatord_role_mode", "mode", role_mode_name((enum role_mode)m),
			   d->role.mode == (enum role_mode)m);
	prom_metric_u64(out, "aggregatord_watchdog_skipped_total", "counter",
		"Watchdog pings withheld because a worker thread had not checked in.", d->watchdog_skipped);
	prom_head(out, "aggregatord_job_running", "gauge", "1 if the job runs on this node.");
	for (size_t i = 0; job_table[i]; i++)
		prom_u64_1(out, "aggregatord_job_running", "job", job_table[i]->name, d->jobs[i] != NULL);
	if (d->http)
		http_metrics(d->http, out);
	publish_metrics(out);
	for (size_t i = 0; job_table[i]; i++)
		if (d->jobs[i] && job_table[i]->metrics)
			job_table[i]->metrics(d->jobs[i], out);
}

/* An ISO 8601 UTC time, or null when t is 0 (never). */
static void kv_time(struct jw *w, const char *k, time_t t)
{
	char ts[32];
	if (!t) {
		jw_kv_null(w, k);
		return;
	}
	iso_time(t, ts, sizeof(ts));
	jw_kv_str(w, k, ts);
}

void status_json(struct daemon *d, struct buf *out)
{
	struct jw w;

	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_str(&w, "node", d->cfg->node.name);
	jw_kv_str(&w, "version", AGG_VERSION);
	jw_kv_i64(&w, "pid", (long long)getpid());
	kv_time(&w, "started", d->started);
	jw_kv_u64(&w, "uptime_s", (unsigned long long)((mono_usec() - d->started_mono) / 1000000u));
	jw_kv_str(&w, "log_level", log_level_name(log_get_level()));

	jw_key(&w, "config");
	jw_obj(&w);
	jw_kv_str(&w, "file", d->cfg->file);
	jw_kv_u64(&w, "reloads_ok", d->reloads_ok);
	jw_kv_u64(&w, "reloads_failed", d->reloads_failed);
	kv_time(&w, "last_reload", d->last_reload);
	jw_kv_bool(&w, "last_reload_ok", !d->last_reload || d->last_reload_ok);
	jw_end(&w);

	jw_key(&w, "role");
	jw_obj(&w);
	jw_kv_str(&w, "state", role_is_active() ? "active" : "standby");
	jw_kv_u64(&w, "epoch", role_epoch());
	jw_kv_str(&w, "mode", role_mode_name(d->role.mode));
	jw_key(&w, "commands");
	jw_obj(&w);
	for (int c = 0; c < ROLE_CMD_COUNT; c++)
		jw_kv_u64(&w, role_cmd_name((enum role_cmd)c), d->role.count[c]);
	jw_end(&w);
	kv_time(&w, "last_command", d->role.last_change);
	jw_kv_str(&w, "last_source", d->role.last_change ? d->role.last_source : NULL);
	jw_end(&w);

	jw_key(&w, "publish");
	jw_raw_next(&w);
	publish_status(out);

	jw_key(&w, "jobs");
	jw_arr(&w);
	for (size_t i = 0; job_table[i]; i++) {
		jw_obj(&w);
		jw_kv_str(&w, "name", job_table[i]->name);
		jw_kv_bool(&w, "configured", d->cfg->jobs[i] != NULL);
		jw_kv_bool(&w, "running", d->jobs[i] != NULL);
		jw_kv_bool(&w, "active_only", d->cfg->jobs[i] && job_table[i]->active_only &&
						     job_table[i]->active_only(d->cfg->jobs[i]));
		if (d->jobs[i] && job_table[i]->status) {
			jw_key(&w, "status");
			jw_raw_next(&w);
			job_table[i]->status(d->jobs[i], out);
		}
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
	buf_addc(out, '\n');
}

static void reply_doc(struct http_req *r, const char *type, struct buf *b)
{
	if (b->oom)
		http_error(r, 503, "out of memory");
	else
		http_reply(r, 200, type, b);
	buf_release(b);
}

static void h_healthz(struct http_req *r, void *arg)
{
	(void)arg;
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"ok\":true}\n");
	reply_doc(r, "application/json", &b);
}

static void h_metrics(struct http_req *r, void *arg)
{
	struct buf b = BUF_INIT;
	status_metrics(arg, &b);
	reply_doc(r, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static void h_status(struct http_req *r, void *arg)
{
	struct buf b = BUF_INIT;
	status_json(arg, &b);
	reply_doc(r, "application/json", &b);
}

/* POST /v1/role with the JSON body {"role":"active|standby|auto|yield"}.
 * A role change is a write: only as application/json (a browser cannot send
 * that cross-origin without a preflight we never answer), only with a Host
 * that names this server (DNS rebinding), and never without a token when the
 * API listens beyond loopback (config refuses that; checked here again). */
static void h_role(struct http_req *r, void *arg)
{
	struct daemon *d = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	const struct http_cfg *hc = &d->cfg->http;
	struct buf body = BUF_INIT;
	struct json *j = NULL;
	char err[128];

	if (!hc->token[0] && !addr_listen_is_loopback(hc->listen)) {
		http_error(r, 403, "role changes need http.token when the API listens beyond loopback");
		goto out;
	}
	if (!http_host_ok(evhttp_find_header(in, "Host"), hc->listen)) {
		http_error(r, 403, "the Host header does not name this server");
		goto out;
	}
	if (r->query && TAILQ_FIRST(r->query)) {
		http_error(r, 400, "no query string: send the JSON body {\"role\":\"...\"}");
		goto out;
	}
	if (!http_is_json(evhttp_find_header(in, "Content-Type"))) {
		http_error(r, 415, "Content-Type must be application/json");
		goto out;
	}
	if (http_body(r, &body) < 0) {
		http_error(r, 400, "cannot read the request body");
		goto out;
	}
	j = json_parse(body.data, body.len, err, sizeof(err));
	if (!j) {
		http_error(r, 400, "body must be JSON like {\"role\":\"active\"}");
		goto out;
	}
	const char *name = json_get_str(j, "role", NULL);
	int cmd = name ? role_cmd_from_name(name) : -1;
	if (cmd < 0) {
		http_error(r, 400, "role must be one of: active, standby, auto, yield");
		goto out;
	}
	daemon_role_command(d, (enum role_cmd)cmd, "http");
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kv_bool(&w, "ok", true);
	jw_kv_str(&w, "mode", role_mode_name(d->role.mode));
	jw_end(&w);
	buf_addc(&b, '\n');
	reply_doc(r, "application/json", &b);
out:
	json_free(j);
	buf_release(&body);
}

/* A job's endpoint: served by the job while it runs here. */
struct job_route {
	struct daemon *d;
	size_t slot;
};

static void h_job(struct http_req *r, void *arg)
{
	struct job_route *jr = arg;
	void *job = jr->d->jobs[jr->slot];
	if (!job) {
		char msg[128];
		snprintf(msg, sizeof(msg), "job '%s' is not running on this node",
			 job_table[jr->slot]->name);
		http_error(r, 503, msg);
		return;
	}
	job_table[jr->slot]->http(job, r);
}

int status_routes(struct daemon *d)
{
	static struct job_route routes[JOB_MAX];
	for (size_t i = 0; job_table[i] && i < JOB_MAX; i++) {
		if (!job_table[i]->http)
			continue;
		routes[i] = (struct job_route){ d, i };
		if (http_route(d->http, job_table[i]->http_path, job_table[i]->http_methods,
			       h_job, &routes[i]) < 0)
			return -1;
	}
	if (http_route(d->http, "/healthz", EVHTTP_REQ_GET, h_healthz, d) < 0 ||
	    http_route(d->http, "/metrics", EVHTTP_REQ_GET, h_metrics, d) < 0 ||
	    http_route(d->http, "/v1/status", EVHTTP_REQ_GET, h_status, d) < 0 ||
	    http_route(d->http, "/v1/role", EVHTTP_REQ_POST, h_role, d) < 0)
		return -1;
	return 0;
}
