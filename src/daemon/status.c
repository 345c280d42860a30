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

static void metric_head(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void status_metrics(struct daemon *d, struct buf *out)
{
	metric_head(out, "aggregatord_build_info", "gauge", "Version of the running binary.");
	buf_addf(out, "aggregatord_build_info{version=\"%s\"} 1\n", AGG_VERSION);
	metric_head(out, "aggregatord_start_time_seconds", "gauge",
		    "When the process started, seconds since the Unix epoch.");
	buf_addf(out, "aggregatord_start_time_seconds %lld\n", (long long)d->started);
	metric_head(out, "aggregatord_uptime_seconds", "gauge", "Seconds since the process started.");
	buf_addf(out, "aggregatord_uptime_seconds %.3f\n",
		 (double)(mono_usec() - d->started_mono) / 1e6);
	metric_head(out, "aggregatord_config_reloads_total", "counter",
		    "Configuration reloads (SIGHUP) by result.");
	buf_addf(out, "aggregatord_config_reloads_total{result=\"ok\"} %lu\n", d->reloads_ok);
	buf_addf(out, "aggregatord_config_reloads_total{result=\"failed\"} %lu\n", d->reloads_failed);
	metric_head(out, "aggregatord_config_last_reload_successful", "gauge",
		    "1 if the last reload was applied (or none happened), 0 if it was refused.");
	buf_addf(out, "aggregatord_config_last_reload_successful %d\n",
		 d->last_reload == 0 || d->last_reload_ok ? 1 : 0);
	metric_head(out, "aggregatord_role_overrides_total", "counter",
		    "Role commands received (realtime signals and POST /v1/role), by command.");
	for (int c = 0; c < ROLE_CMD_COUNT; c++)
		buf_addf(out, "aggregatord_role_overrides_total{command=\"%s\"} %lu\n",
			 role_cmd_name((enum role_cmd)c), d->role.count[c]);
	metric_head(out, "aggregatord_role_mode", "gauge",
		    "The operator's role mode: 1 for the mode in force.");
	for (int m = ROLE_MODE_AUTO; m <= ROLE_MODE_FORCE_STANDBY; m++)
		buf_addf(out, "aggregatord_role_mode{mode=\"%s\"} %d\n",
			 role_mode_name((enum role_mode)m), d->role.mode == (enum role_mode)m);
	metric_head(out, "aggregatord_watchdog_skipped_total", "counter",
		    "Watchdog pings withheld because a worker thread had not checked in.");
	buf_addf(out, "aggregatord_watchdog_skipped_total %lu\n", d->watchdog_skipped);
	metric_head(out, "aggregatord_job_running", "gauge", "1 if the job runs on this node.");
	for (size_t i = 0; job_table[i]; i++)
		buf_addf(out, "aggregatord_job_running{job=\"%s\"} %d\n", job_table[i]->name,
			 d->jobs[i] != NULL);
	if (d->http)
		http_metrics(d->http, out);
	publish_metrics(out);
	for (size_t i = 0; job_table[i]; i++)
		if (d->jobs[i] && job_table[i]->metrics)
			job_table[i]->metrics(d->jobs[i], out);
}

void status_json(struct daemon *d, struct buf *out)
{
	char ts[32];

	buf_adds(out, "{\"node\":");
	json_add_str(out, d->cfg->node.name);
	buf_adds(out, ",\"version\":");
	json_add_str(out, AGG_VERSION);
	iso_time(d->started, ts, sizeof(ts));
	buf_addf(out, ",\"pid\":%ld,\"started\":\"%s\",\"uptime_s\":%llu",
		 (long)getpid(), ts,
		 (unsigned long long)((mono_usec() - d->started_mono) / 1000000u));
	buf_adds(out, ",\"log_level\":");
	json_add_str(out, log_level_name(log_get_level()));
	buf_adds(out, ",\"config\":{\"file\":");
	json_add_str(out, d->cfg->file);
	buf_addf(out, ",\"reloads_ok\":%lu,\"reloads_failed\":%lu,\"last_reload\":",
		 d->reloads_ok, d->reloads_failed);
	if (d->last_reload) {
		iso_time(d->last_reload, ts, sizeof(ts));
		buf_addf(out, "\"%s\",\"last_reload_ok\":%s", ts,
			 d->last_reload_ok ? "true" : "false");
	} else {
		buf_adds(out, "null,\"last_reload_ok\":true");
	}
	buf_addf(out, "},\"role\":{\"state\":\"%s\",\"epoch\":%llu,\"mode\":",
		 role_is_active() ? "active" : "standby", role_epoch());
	json_add_str(out, role_mode_name(d->role.mode));
	buf_adds(out, ",\"commands\":{");
	for (int c = 0; c < ROLE_CMD_COUNT; c++)
		buf_addf(out, "%s\"%s\":%lu", c ? "," : "", role_cmd_name((enum role_cmd)c),
			 d->role.count[c]);
	buf_adds(out, "},\"last_command\":");
	if (d->role.last_change) {
		iso_time(d->role.last_change, ts, sizeof(ts));
		buf_addf(out, "\"%s\",\"last_source\":", ts);
		json_add_str(out, d->role.last_source);
	} else {
		buf_adds(out, "null,\"last_source\":null");
	}
	buf_adds(out, "},\"publish\":");
	publish_status(out);
	buf_adds(out, ",\"jobs\":[");
	for (size_t i = 0; job_table[i]; i++) {
		buf_addf(out, "%s{\"name\":", i ? "," : "");
		json_add_str(out, job_table[i]->name);
		buf_addf(out, ",\"configured\":%s,\"running\":%s,\"active_only\":%s",
			 d->cfg->jobs[i] ? "true" : "false", d->jobs[i] ? "true" : "false",
			 d->cfg->jobs[i] && job_table[i]->active_only &&
					 job_table[i]->active_only(d->cfg->jobs[i]) ? "true" : "false");
		if (d->jobs[i] && job_table[i]->status) {
			buf_adds(out, ",\"status\":");
			job_table[i]->status(d->jobs[i], out);
		}
		buf_addc(out, '}');
	}
	buf_adds(out, "]}\n");
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
	buf_adds(&b, "{\"ok\":true,\"mode\":");
	json_add_str(&b, role_mode_name(d->role.mode));
	buf_adds(&b, "}\n");
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
