/*
 * rollup_master.c — the master role: for one hour, fetch each location's
 * files over HTTP (GET /v1/usage/YYYY/MM/DD/HH, then each ACCOUNT.bin, with
 * the location's token) into its kept copy under
 * <state_dir>/locations/<name>/, then merge every kept copy into the hour's
 * files under usage/.  Run by the rollup thread (the schedule calls it only
 * while this node is active) or by --once's caller.  It owns the kept
 * copies on disk and r->lstate (by location name: when it last gave no
 * answer, the hours it answered wrongly for, and its timeout logged once,
 * until that location answers).
 *
 * DESIGN.  An hour's merged files are rebuilt from all kept copies, never
 * appended to, so a rerun or a late location never counts anything twice.
 * A location that fails does not hold up the others: the hour is written
 * with what arrived, its files marked incomplete and the hour not marked
 * done, and rebuilt when the missing location answers (asked again every
 * retry_s, for late_hours).  A merge that failed or never ran (a full
 * state_dir, a stop between fetch and merge) is run again on the next pass:
 * usage/.merged/<hour> records which kept copies the last good merge of
 * the hour included (merge_lags).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fsutil.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "rollup_int.h"
#include "worker.h"

/* One GET of a location's API: the InfluxDB timeout is its whole-call
 * deadline (declared to the liveness check: worker.h), and the rollup
 * worker's stop descriptor cancels it. */
static int get(struct rollup *r, const struct rollup_location *l, const char *url,
	       struct httpc_resp *resp, char *herr, size_t herrlen)
{
	int timeout_ms = r->icfg.timeout_s * 1000;
	uint64_t call = worker_call_begin((uint64_t)timeout_ms);
	int got = httpc_request_cancel("GET", url, l->token, NULL, NULL, timeout_ms, r->w.stop_fd,
				       resp, herr, herrlen);
	worker_call_end(call);
	return got;
}

/* Fetch one location's files for the hour into its kept copy.  0, or < 0
 * (HTTPC_TIMEOUT, HTTPC_CANCELLED, else -1) with err set, and *down set
 * when a request got no answer at all (rather than a wrong one).  Each request has
 * the InfluxDB timeout as its whole-call deadline and ends at the job's stop. */
/* NULL when h is a file of location name alone (its one contributing
 * location and every VM's); else the first other name it holds. */
static const char *written_by(const struct usage_hour *h, const char *name)
{
	if (h->nlocations != 1 || !h->locations[0] || strcmp(h->locations[0], name) != 0)
		return h->nlocations && h->locations[0] ? h->locations[0] : "";
	for (size_t i = 0; i < h->nvms; i++)
		if (!h->vms[i].location || strcmp(h->vms[i].location, name) != 0)
			return h->vms[i].location ? h->vms[i].location : "";
	return NULL;
}

static int fetch_location(struct rollup *r, const struct rollup_location *l, long long hour,
			  bool *down, char *err, size_t errlen)
{
	char hp[64], url[1024], ldir[PATH_MAX];
	rollup_hour_urlpath(hp, sizeof(hp), hour);
	snprintf(url, sizeof(url), "%s/v1/usage/%s", l->url, hp);
	snprintf(ldir, sizeof(ldir), "%s/%s", r->loc_dir, l->name);
	struct httpc_resp resp;
	char herr[512];
	*down = false;
	int got = get(r, l, url, &resp, herr, sizeof(herr));
	if (got < 0) {
		*down = true;
		set_err(err, errlen, "location '%s': %s", l->name, herr);
		return got;
	}
	if (resp.status != 200) {
		set_err(err, errlen, "location '%s': GET %s: HTTP %d", l->name, url, resp.status);
		buf_release(&resp.body);
		return -1;
	}
	char jerr[128];
	struct json *j = json_parse(resp.body.data, resp.body.len, jerr, sizeof(jerr));
	buf_release(&resp.body);
	const struct json *list = json_get(j, "accounts");
	if (!list || list->type != JSON_ARR) {
		json_free(j);
		return set_err(err, errlen, "location '%s': GET %s: not an hour listing", l->name, url);
	}
	/* Files and an index without the done marker: the location has not
	 * finished the hour (a write failed, or it stopped in between; a lower
	 * master merged it incomplete).  Kept as done here, it would never be
	 * asked again, and what the location writes when it finishes (late
	 * samples, a missing location) would be lost. */
	const struct json *complete = json_get(j, "complete");
	if (!complete || complete->type != JSON_BOOL || !complete->boolean) {
		json_free(j);
		return set_err(err, errlen, "location '%s': GET %s: the hour is not complete there yet", l->name,
			       url);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	for (const struct json *a = list->child; a; a = a->next) {
		if (a->type != JSON_STR || rollup_check_name(a->str)) {
			/* never a path: refused and counted, as a location does */
			atomic_fetch_add(&r->skipped_accounts, 1);
			log_warn("rollup: location '%s' lists an account name that is not a safe file name; "
				 "skipped (counted in aggregatord_rollup_skipped_accounts_total)", l->name);
			continue;
		}
		snprintf(url, sizeof(url), "%s/v1/usage/%s/%s.bin", l->url, hp, a->str);
		got = get(r, l, url, &resp, herr, sizeof(herr));
		if (got < 0) {
			*down = true;
			set_err(err, errlen, "location '%s': %s", l->name, herr);
			rc = got;
			goto out;
		}
		if (resp.status != 200) {
			set_err(err, errlen, "location '%s': GET %s: HTTP %d", l->name, url, resp.status);
			buf_release(&resp.body);
			goto out;
		}
		struct usage_hour h;
		char derr[256];
		if (usage_decode(resp.body.data, resp.body.len, &h, derr, sizeof(derr)) < 0) {
			set_err(err, errlen, "location '%s': %s.bin: %s", l->name, a->str, derr);
			buf_release(&resp.body);
			goto out;
		}
		/* The file must be this account's hour, written by this location
		 * (a second name configured for one location's URL would count
		 * its VMs twice). */
		bool ok = h.hour_start == hour && strcmp(h.account, a->str) == 0;
		const char *whose = written_by(&h, l->name);
		bool ours = whose == NULL;
		if (ok && !ours)
			set_err(err, errlen, "location '%s': %s.bin is the file of location '%s'", l->name,
				a->str, whose);
		usage_hour_release(&h);
		char path[PATH_MAX];
		if (!ok || !ours || rollup_hour_path(path, sizeof(path), ldir, a->str, hour) < 0 ||
		    fs_write_atomic(path, resp.body.data, resp.body.len, 0600, err, errlen) < 0) {
			if (!ok)
				set_err(err, errlen, "location '%s': %s.bin is not that account's hour", l->name, a->str);
			buf_release(&resp.body);
			goto out;
		}
		buf_release(&resp.body);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				goto out;
			names = nn;
		}
		names[n++] = a->str;
	}
	if (rollup_write_index(ldir, hour, names, n, err, errlen) < 0 || rollup_mark_done(ldir, hour, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	free(names);
	json_free(j);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The locations whose kept copy of the hour is done, one name a line:
 * what a merge of the hour includes.  0, or -1 out of memory. */
static int done_set(struct rollup *r, long long hour, struct buf *b)
{
	for (size_t k = 0; k < r->nlocs; k++) {
		char ldir[PATH_MAX];
		snprintf(ldir, sizeof(ldir), "%s/%s", r->loc_dir, r->locs[k].name);
		if (rollup_hour_done(ldir, hour))
			buf_addf(b, "%s\n", r->locs[k].name);
	}
	return b->oom ? -1 : 0;
}

/* Whether the hour's merged files lag behind the kept copies: the done set
 * differs from the one the last good merge recorded (none recorded counts
 * as empty).  A merge that failed (a full or read-only state_dir) or never
 * ran (a stop or a crash between a fetch and its merge) is so found again
 * on the next pass, though nothing is left to fetch. */
static bool merge_lags(struct rollup *r, long long hour)
{
	struct buf b = BUF_INIT;
	char *rec = rollup_read_merged(r->usage_dir, hour);
	bool lags = done_set(r, hour, &b) < 0 || strcmp(b.data ? b.data : "", rec ? rec : "") != 0;
	free(rec);
	buf_release(&b);
	return lags;
}

/* Rebuild the hour's merged files from every kept location copy; on
 * success record which copies it included (merge_lags). */
static int merge_hour(struct rollup *r, long long hour, char *err, size_t errlen)
{
	/* every account any location has for the hour */
	char **accounts = NULL;
	size_t na = 0, cap = 0;
	char *indexes[MAX_LOCATIONS] = { NULL };
	bool complete = true;
	int rc = -1;
	for (size_t k = 0; k < r->nlocs; k++) {
		char ldir[PATH_MAX];
		snprintf(ldir, sizeof(ldir), "%s/%s", r->loc_dir, r->locs[k].name);
		if (!rollup_hour_done(ldir, hour)) {
			complete = false;
			continue;
		}
		indexes[k] = rollup_read_index(ldir, hour);
		for (char *line = indexes[k]; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (*line && !rollup_check_name(line)) {
				bool seen = false;
				for (size_t i = 0; i < na && !seen; i++)
					seen = strcmp(accounts[i], line) == 0;
				if (!seen) {
					if (na == cap) {
						cap = cap ? cap * 2 : 256;
						char **nn = realloc(accounts, cap * sizeof(*nn));
						if (!nn)
							goto out;
						accounts = nn;
					}
					accounts[na++] = line;
				}
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	if (na)
		qsort(accounts, na, sizeof(*accounts), str_cmp);
	uint64_t vms_total = 0;
	for (size_t i = 0; i < na; i++) {
		struct usage_hour parts[MAX_LOCATIONS];
		char *locs[MAX_LOCATIONS];
		size_t np = 0, nvm = 0;
		for (size_t k = 0; k < r->nlocs; k++) {
			if (!indexes[k])
				continue;
			char path[PATH_MAX], ldir[PATH_MAX], *data, derr[256];
			size_t len;
			snprintf(ldir, sizeof(ldir), "%s/%s", r->loc_dir, r->locs[k].name);
			if (rollup_hour_path(path, sizeof(path), ldir, accounts[i], hour) < 0 ||
			    fs_read_file(path, FILE_MAX, &data, &len) < 0)
				continue;	/* this location has nothing for the account */
			int d = usage_decode(data, len, &parts[np], derr, sizeof(derr));
			free(data);
			if (d < 0) {
				log_error("rollup: kept copy '%s': %s", path, derr);
				continue;
			}
			nvm += parts[np].nvms;
			locs[np] = r->locs[k].name;
			np++;
		}
		struct usage_vm *vms = calloc(nvm ? nvm : 1, sizeof(*vms));
		if (!vms) {
			for (size_t p = 0; p < np; p++)
				usage_hour_release(&parts[p]);
			set_err(err, errlen, "out of memory");
			goto out;
		}
		size_t o = 0;
		for (size_t p = 0; p < np; p++)
			for (size_t v = 0; v < parts[p].nvms; v++)
				vms[o++] = parts[p].vms[v];	/* borrowed: parts own the strings */
		int w = rollup_write_account(r, r->usage_dir, accounts[i], hour, locs, np, complete, vms, o,
				      err, errlen);
		free(vms);
		for (size_t p = 0; p < np; p++)
			usage_hour_release(&parts[p]);
		if (w < 0)
			goto out;
		vms_total += o;
	}
	if (rollup_write_index(r->usage_dir, hour, accounts, na, err, errlen) < 0)
		goto out;
	if (complete && rollup_mark_done(r->usage_dir, hour, err, errlen) < 0)
		goto out;
	struct buf done = BUF_INIT;
	int rec = done_set(r, hour, &done) < 0 ? set_err(err, errlen, "out of memory")
		: rollup_write_merged(r->usage_dir, hour, done.data ? done.data : "", done.len, err, errlen);
	buf_release(&done);
	if (rec < 0)
		goto out;
	atomic_store(&r->last_accounts, na);
	atomic_store(&r->last_vms, vms_total);
	char ht[64];
	rollup_hour_text(ht, sizeof(ht), hour);
	log_info("rollup: hour %s merged: %zu account(s), %llu VM(s)%s", ht, na,
		 (unsigned long long)vms_total, complete ? "" : " (incomplete: a location is missing)");
	rc = 0;
out:
	free(accounts);
	for (size_t k = 0; k < MAX_LOCATIONS; k++)
		free(indexes[k]);
	return rc;
}

/* When the location last answered wrongly for the hour (wall s), 0: not lately. */
static long long failed_at(const struct rollup_loc_state *ls, long long hour)
{
	for (size_t i = 0; i < sizeof(ls->failed) / sizeof(ls->failed[0]); i++)
		if (ls->failed[i].at && ls->failed[i].hour == hour)
			return ls->failed[i].at;
	return 0;
}

/* Note (at != 0) or forget (at 0) a wrong answer for the hour; a full
 * table gives up its oldest entry (that hour is only retried sooner). */
static void note_failed(struct rollup_loc_state *ls, long long hour, long long at)
{
	size_t n = sizeof(ls->failed) / sizeof(ls->failed[0]), slot = n;
	for (size_t i = 0; i < n && slot == n; i++)
		if (ls->failed[i].at && ls->failed[i].hour == hour)
			slot = i;
	if (!at) {
		if (slot < n)
			ls->failed[slot].at = 0;
		return;
	}
	for (size_t i = 0; i < n && slot == n; i++)
		if (!ls->failed[i].at)
			slot = i;
	if (slot == n) {
		slot = 0;
		for (size_t i = 1; i < n; i++)
			if (ls->failed[i].at < ls->failed[slot].at)
				slot = i;
	}
	ls->failed[slot].hour = hour;
	ls->failed[slot].at = at;
}

/* Fetch what is missing for the hour (due locations only unless force) and
 * rebuild it.  A location that gave no answer waits retry_s for every hour;
 * one that answered wrongly for an hour waits retry_s for that hour only,
 * so one bad hour never holds up the location's other hours. */
int rollup_master_hour(struct rollup *r, long long hour, bool force, char *err, size_t errlen)
{
	long long now = (long long)time(NULL);
	bool fetched = false, failed = false;
	uint64_t missing = 0;
	for (size_t k = 0; k < r->nlocs; k++) {
		char ldir[PATH_MAX];
		snprintf(ldir, sizeof(ldir), "%s/%s", r->loc_dir, r->locs[k].name);
		if (!force && rollup_hour_done(ldir, hour))
			continue;
		struct rollup_loc_state *ls = &r->lstate[k];
		long long wrong = failed_at(ls, hour);
		if (!force && ((ls->down_at && now - ls->down_at < r->retry_s) ||
			       (wrong && now - wrong < r->retry_s))) {
			missing++;
			continue;
		}
		char lerr[512];
		bool down;
		int f = fetch_location(r, &r->locs[k], hour, &down, lerr, sizeof(lerr));
		if (f == 0 || down)
			ls->down_at = f == 0 ? 0 : now;
		note_failed(ls, hour, f < 0 && !down ? now : 0);
		if (f == HTTPC_CANCELLED) {
			set_err(err, errlen, "%s", lerr);
			return HTTPC_CANCELLED;
		}
		if (f == HTTPC_TIMEOUT)
			rollup_timed_out(r, &ls->timing_out, lerr);
		else if (f < 0)
			log_error("rollup: %s", lerr);
		if (f < 0) {
			set_err(err, errlen, "%s", lerr);
			failed = true;
			missing++;
			continue;
		}
		char who[128];
		snprintf(who, sizeof(who), "location '%s'", r->locs[k].name);
		rollup_answered(r, &ls->timing_out, who);
		fetched = true;
	}
	atomic_store(&r->locations_missing, missing);
	if (fetched || force || merge_lags(r, hour)) {
		char merr[512];
		if (merge_hour(r, hour, merr, sizeof(merr)) < 0) {
			log_error("rollup: %s", merr);
			return set_err(err, errlen, "%s", merr);
		}
	}
	return failed ? -1 : 0;
}
