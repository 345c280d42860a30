/*
 * loop.c — the main thread's event loop wiring: signals, reload, role
 * commands and the systemd watchdog.
 *
 * Design: every signal the daemon acts on is an event on the base
 * (evsignal), so its work runs here in the loop, never inside an async
 * handler.  Worker threads are started with all signals blocked
 * (thread_spawn), so the kernel always delivers them to this thread.
 * A reload runs to completion inside one callback, so two reloads can never
 * overlap.  Realtime signals are dispatched through the table in role.c.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "notify.h"
#include "publish.h"
#include "thread.h"

#define LIVENESS_MARGIN_MS 10000	/* ms past a call's deadline before its thread counts as stuck */

static void on_job_status(void *arg)
{
	daemon_notify_status(arg);
}

void daemon_env_update(struct daemon *d)
{
	d->env.base = d->base;
	d->env.node = &d->cfg->node;
	d->env.redis = &d->cfg->redis;
	d->env.status_changed = on_job_status;
	d->env.arg = d;
}

bool daemon_role_owned(const struct daemon *d)
{
	for (size_t i = 0; job_table[i]; i++)
		if (d->jobs[i] && job_table[i]->owns_role)
			return true;
	return false;
}

void daemon_notify_status(struct daemon *d)
{
	size_t running = 0;
	for (size_t i = 0; job_table[i]; i++)
		running += d->jobs[i] != NULL;
	notify_sendf("STATUS=node %s, %s (epoch %llu, mode %s), %zu job(s) running, reloads %lu ok / %lu failed",
		     d->cfg->node.name, role_is_active() ? "active" : "standby", role_epoch(),
		     role_mode_name(d->role.mode), running, d->reloads_ok, d->reloads_failed);
}

static void log_errors(const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		log_error("%.*s", (int)n, p);
		p += n + (nl != NULL);
	}
}

int daemon_reload(struct daemon *d)
{
	struct cfg_ctx ctx;
	struct config *next;

	notify_send("RELOADING=1");
	log_info("reloading config file '%s'", d->config_file);
	d->last_reload = time(NULL);
	cfg_ctx_init(&ctx, d->config_file);
	next = config_load(d->config_file, &ctx, job_table);
	if (!next) {
		log_error("config file '%s' has errors, not reloading", d->config_file);
		log_errors(ctx.errors.data);
		cfg_ctx_release(&ctx);
		d->reloads_failed++;
		d->last_reload_ok = false;
		notify_send("READY=1");
		daemon_notify_status(d);
		return -1;
	}
	if (ctx.warnings.len)
		log_warn("%s", ctx.warnings.data);
	cfg_ctx_release(&ctx);

	config_carry_restart_keys(d->cfg, next);
	publish_reconfigure(next, daemon_standby_window_ms(next));
	log_set_level(d->debug ? LOG_LVL_DEBUG : (enum log_level)next->log.level);
	if (d->http)
		http_reconfigure(d->http, &next->http);
	/* Jobs see the new config in d->cfg (redis, kafka, node) while they
	 * reconfigure; the old one is freed only after they are done. */
	struct config *old = d->cfg;
	d->cfg = next;
	daemon_env_update(d);
	jobs_reconfigure(d, next);
	config_free(old);
	/* Without a running election this thread owns the role again. */
	if (!daemon_role_owned(d))
		role_set_current(role_get_mode() != ROLE_MODE_FORCE_STANDBY, role_epoch());
	publish_wake();
	d->reloads_ok++;
	d->last_reload_ok = true;
	log_info("config file '%s' reloaded (log level %s)", d->config_file,
		 log_level_name(log_get_level()));
	notify_send("READY=1");
	daemon_notify_status(d);
	return 0;
}

int daemon_standby_window_ms(const struct config *cfg)
{
	for (size_t i = 0; job_table[i]; i++)
		if (job_table[i]->standby_window_ms && cfg->jobs[i])
			return job_table[i]->standby_window_ms(cfg->jobs[i]);
	return ROLE_DEFAULT_WINDOW_MS;
}

void daemon_role_command(struct daemon *d, enum role_cmd cmd, const char *source)
{
	enum role_mode before = d->role.mode;
	enum role_mode after = role_apply(&d->role, cmd, time(NULL), source);

	/* Hand the command to whoever owns the role: the election thread, or,
	 * on a node without an election, this thread. */
	role_set_mode(after);
	if (cmd == ROLE_CMD_YIELD)
		role_request_yield();
	if (daemon_role_owned(d))
		role_wake();
	else
		role_set_current(after != ROLE_MODE_FORCE_STANDBY, role_epoch());
	publish_wake();

	if (cmd == ROLE_CMD_YIELD)
		log_info("role command 'yield' from %s: taking a fresh attachment timestamp",
			 source);
	else if (before != after)
		log_info("role command '%s' from %s: mode %s -> %s", role_cmd_name(cmd), source,
			 role_mode_name(before), role_mode_name(after));
	else
		log_info("role command '%s' from %s: mode stays %s", role_cmd_name(cmd), source,
			 role_mode_name(after));
	daemon_notify_status(d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	(void)what;

	if (sig == SIGTERM || sig == SIGINT) {
		log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		d->stop_signal = (int)sig;
		notify_send("STOPPING=1");
		event_base_loopbreak(d->base);
		return;
	}
	if (sig == SIGHUP) {
		daemon_reload(d);
		return;
	}
	int cmd = role_cmd_from_signal((int)sig);
	if (cmd >= 0)
		daemon_role_command(d, (enum role_cmd)cmd, "signal");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct health_stale why;
	(void)fd;
	(void)what;

	/* A worker is alive while it beats, or while it is inside a call within
	 * that call's own deadline plus a margin (worker.h); one stuck past it
	 * withholds the ping, so systemd restarts a daemon that really hangs. */
	if (health_check(d->watchdog_usec, d->liveness_margin_us, &why)) {
		notify_send("WATCHDOG=1");
	} else {
		d->watchdog_skipped++;
		if (why.overran)
			log_warn("worker '%s' is %llu ms past the deadline of its call (margin %llu ms): "
				 "withholding the watchdog ping", why.name,
				 (unsigned long long)(why.late_us / 1000u),
				 (unsigned long long)(d->liveness_margin_us / 1000u));
		else
			log_warn("worker '%s' has not checked in for %llu ms: withholding the watchdog ping",
				 why.name, (unsigned long long)(why.late_us / 1000u));
	}
}

static int add_signal(struct daemon *d, int sig)
{
	if (d->nsignals >= DAEMON_MAX_SIGNALS)
		return log_error("too many signals");
	struct event *ev = evsignal_new(d->base, sig, on_signal, d);
	if (!ev || event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		return log_error("cannot watch signal %d", sig);
	}
	d->signals[d->nsignals++] = ev;
	return 0;
}

int loop_setup(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	if (add_signal(d, SIGTERM) < 0 || add_signal(d, SIGINT) < 0 ||
	    add_signal(d, SIGHUP) < 0)
		return -1;
	for (int i = 0; i < role_signal_count(); i++)
		if (add_signal(d, SIGRTMIN + i) < 0)
			return -1;

	/* The margin past a call's deadline; the environment variable is a
	 * test knob (docs/operations.md). */
	d->liveness_margin_us = (uint64_t)LIVENESS_MARGIN_MS * 1000u;
	const char *m = getenv("AGGREGATORD_LIVENESS_MARGIN_MS");
	if (m && *m)
		d->liveness_margin_us = strtoull(m, NULL, 10) * 1000u;
	d->watchdog_usec = notify_watchdog_usec();
	if (d->watchdog_usec) {
		struct timeval tv = {
			.tv_sec = (time_t)(d->watchdog_usec / 2 / 1000000u),
			.tv_usec = (suseconds_t)(d->watchdog_usec / 2 % 1000000u),
		};
		d->watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
		if (!d->watchdog || event_add(d->watchdog, &tv) < 0)
			return log_error("cannot start the watchdog timer");
		log_info("systemd watchdog: ping every %llu ms",
			 (unsigned long long)(d->watchdog_usec / 2000u));
	}
	return 0;
}

void loop_teardown(struct daemon *d)
{
	if (d->watchdog)
		event_free(d->watchdog);
	d->watchdog = NULL;
	while (d->nsignals > 0)
		event_free(d->signals[--d->nsignals]);
}
