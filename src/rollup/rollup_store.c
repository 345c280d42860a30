/*
 * rollup_store.c — the rollup's file store: the done markers and the hour
 * indexes, reading an index back, and writing one account's hour file
 * (encoded with usage.h) with its "usage" event.  Run by the rollup thread
 * (the location and master roles); the main thread reads indexes and
 * markers through rollup_http.c.  It owns no state: everything is on disk.
 *
 * DESIGN.  Files: <state_dir>/usage/<account>/<YYYY>/<MM>/<DD>/<HH>.bin
 * (UTC, the hour the usage happened), written to a temp file, fsynced,
 * renamed, the directory fsynced (fsutil.h).  Each hour also gets an index,
 * usage/.index/<YYYYMMDDHH> (one account a line), which GET
 * /v1/usage/YYYY/MM/DD/HH serves, and a done marker, usage/.done/<YYYYMMDDHH>,
 * which the schedule reads: the state lives on disk and survives restarts.
 * A master also records, in usage/.merged/<YYYYMMDDHH>, which locations'
 * copies its last good merge of the hour included (rollup_master.c).
 * A master keeps each location's copy under <state_dir>/locations/<name>/
 * (same layout, with its own .done markers; rollup_master.c).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "json.h"
#include "publish.h"
#include "rollup_int.h"

/* ---- markers and index ---- */

static void marker_path(char *out, size_t len, const char *dir, const char *kind, long long hour)
{
	char k[64];
	rollup_hour_key(k, sizeof(k), hour);
	snprintf(out, len, "%s/.%s/%s", dir, kind, k);
}

bool rollup_hour_done(const char *dir, long long hour)
{
	char p[PATH_MAX];
	marker_path(p, sizeof(p), dir, "done", hour);
	return access(p, F_OK) == 0;
}

int rollup_mark_done(const char *dir, long long hour, char *err, size_t errlen)
{
	char p[PATH_MAX];
	marker_path(p, sizeof(p), dir, "done", hour);
	return fs_write_atomic(p, "", 0, 0600, err, errlen);
}

/* The hour's index: the accounts that have a file for it. */
int rollup_write_index(const char *dir, long long hour, char **accounts, size_t n, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s\n", accounts[i]);
	char p[PATH_MAX];
	marker_path(p, sizeof(p), dir, "index", hour);
	int rc = b.oom ? set_err(err, errlen, "out of memory") : fs_write_atomic(p, b.data, b.len, 0600, err, errlen);
	buf_release(&b);
	return rc;
}

/* Read an hour's index below dir; returns a malloc'd buffer of names, one a line. */
char *rollup_read_index(const char *dir, long long hour)
{
	char p[PATH_MAX], *data;
	size_t len;
	marker_path(p, sizeof(p), dir, "index", hour);
	return fs_read_file(p, FILE_MAX, &data, &len) == 0 ? data : NULL;
}

int rollup_write_merged(const char *dir, long long hour, const char *data, size_t len, char *err, size_t errlen)
{
	char p[PATH_MAX];
	marker_path(p, sizeof(p), dir, "merged", hour);
	return fs_write_atomic(p, data, len, 0600, err, errlen);
}

char *rollup_read_merged(const char *dir, long long hour)
{
	char p[PATH_MAX], *data;
	size_t len;
	marker_path(p, sizeof(p), dir, "merged", hour);
	return fs_read_file(p, FILE_MAX, &data, &len) == 0 ? data : NULL;
}

/* ---- writing usage files ---- */

static void publish_summary(struct rollup *r, const struct usage_hour *h)
{
	double cpu = 0, mem = 0;
	unsigned long long rd = 0, wr = 0, tx = 0, rx = 0;
	for (size_t i = 0; i < h->nvms; i++) {
		cpu += h->vms[i].cpu_seconds;
		mem += h->vms[i].mem_mib_mean;
		rd += h->vms[i].io_read;
		wr += h->vms[i].io_write;
		tx += h->vms[i].net_tx_bytes;
		rx += h->vms[i].net_rx_bytes;
	}
	char ht[64];
	rollup_hour_text(ht, sizeof(ht), h->hour_start);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init_members(&w, &b);
	jw_kv_str(&w, "account", h->account);
	jw_kv_str(&w, "hour", ht);
	jw_kv_i64(&w, "hour_start", (long long)h->hour_start);
	jw_kv_str(&w, "role", r->role == ROLLUP_MASTER ? "master" : "location");
	jw_kv_bool(&w, "complete", h->complete);
	jw_key(&w, "locations");
	jw_arr(&w);
	for (size_t i = 0; i < h->nlocations; i++)
		jw_str(&w, h->locations[i]);
	jw_end(&w);
	jw_kv_u64(&w, "vms", h->nvms);
	/* to the thousandth, as the event always gave them */
	jw_kv_f64(&w, "mem_mib_mean_sum", round(mem * 1000) / 1000);
	jw_kv_f64(&w, "cpu_seconds", round(cpu * 1000) / 1000);
	jw_kv_u64(&w, "io_read", rd);
	jw_kv_u64(&w, "io_write", wr);
	jw_kv_u64(&w, "net_tx_bytes", tx);
	jw_kv_u64(&w, "net_rx_bytes", rx);
	char key[256];
	snprintf(key, sizeof(key), "%s;%s", h->account, ht);
	if (!b.oom)
		publish_event("usage", key, strlen(key), b.data, b.len);
	buf_release(&b);
}

/* Write one account's hour file from vms[0..n) (they are moved into h). */
int rollup_write_account(struct rollup *r, const char *dir, const char *account, long long hour,
			 char **locations, size_t nloc, bool complete, struct usage_vm *vms, size_t n,
			 char *err, size_t errlen)
{
	struct usage_hour h = {
		.account = (char *)account, .hour_start = hour, .locations = locations,
		.nlocations = nloc, .complete = complete, .vms = vms, .nvms = n,
	};
	usage_hour_sort(&h);
	struct buf b = BUF_INIT;
	char path[PATH_MAX];
	int rc = -1;
	if (usage_encode(&h, &b) < 0 || b.oom) {
		set_err(err, errlen, "cannot encode account '%s'", account);
		goto out;
	}
	if (rollup_hour_path(path, sizeof(path), dir, account, hour) < 0) {
		set_err(err, errlen, "path too long for account '%s'", account);
		goto out;
	}
	if (fs_write_atomic(path, b.data, b.len, 0600, err, errlen) < 0)
		goto out;
	atomic_fetch_add(&r->files_written, 1);
	publish_summary(r, &h);
	rc = 0;
out:
	buf_release(&b);
	return rc;
}

