/*
 * rollup_location.c — the location role: one hour [H, H+1h) from InfluxDB
 * (influx.h: the query, the per-VM arithmetic) into one usage file per
 * account, then the hour's index and its done marker (rollup_store.c).
 * Run by the rollup thread (or --once's caller).  An hour's samples are
 * collected whole, sorted by account and written; nothing is kept between
 * hours.  An account name that is not a safe file name is skipped and
 * counted (skipped_accounts); the first of each hour is logged.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "rollup_int.h"
#include "thread.h"

struct collect {
	struct rollup *r;
	struct entry {
		char *account;
		struct usage_vm vm;
	} *e;
	size_t n, cap;
	uint64_t skipped;
};

static int collect_cb(const char *account, const char *cloudspace, const char *vm,
		      const struct vm_hour *h, void *arg)
{
	struct collect *c = arg;
	if (rollup_check_name(account)) {
		if (c->skipped++ == 0)
			log_warn("rollup: account name '%.64s' is not a safe file name: its samples are skipped (counted)",
				 account);
		return 0;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		struct entry *ne = realloc(c->e, ncap * sizeof(*ne));
		if (!ne)
			return -1;
		c->e = ne;
		c->cap = ncap;
	}
	struct entry *e = &c->e[c->n];
	e->account = strdup(account);
	e->vm = (struct usage_vm){
		.location = strdup(c->r->location), .cloudspace = strdup(cloudspace), .vm = strdup(vm),
		.mem_mib_mean = h->mem_mib_mean, .disk_gib_max = h->disk_gib_max, .cpu_seconds = h->cpu_seconds,
		.io_read = h->io_read, .io_write = h->io_write, .net_tx_bytes = h->net_tx_bytes,
		.net_rx_bytes = h->net_rx_bytes, .samples = h->samples,
	};
	if (!e->account || !e->vm.location || !e->vm.cloudspace || !e->vm.vm) {
		free(e->account);
		free(e->vm.location);
		free(e->vm.cloudspace);
		free(e->vm.vm);
		return -1;
	}
	c->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->account, ((const struct entry *)b)->account);
}

static void free_entries(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].account);
		free(c->e[i].vm.location);
		free(c->e[i].vm.cloudspace);
		free(c->e[i].vm.vm);
	}
	free(c->e);
	c->e = NULL;
	c->n = c->cap = 0;
}

/* Roll up hour [hour, hour+3600) from InfluxDB into one file per account. */
int rollup_location_hour(struct rollup *r, long long hour, char *err, size_t errlen)
{
	struct collect c = { .r = r };
	struct influx_stats st = { 0 };
	uint64_t t0 = mono_usec();
	int q = influx_rollup_hour(&r->icfg, hour, collect_cb, &c, &st, err, errlen);
	if (q < 0) {
		free_entries(&c);
		return q;
	}
	atomic_store(&r->query_ms, (mono_usec() - t0) / 1000u);
	atomic_fetch_add(&r->skipped_accounts, c.skipped);
	if (c.n)
		qsort(c.e, c.n, sizeof(*c.e), entry_cmp);
	char **accounts = calloc(c.n ? c.n : 1, sizeof(*accounts));
	struct usage_vm *vms = calloc(c.n ? c.n : 1, sizeof(*vms));
	size_t na = 0;
	int rc = -1;
	if (!accounts || !vms) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	char *locs[1] = { r->location };
	for (size_t i = 0; i < c.n;) {
		size_t j = i;
		while (j < c.n && strcmp(c.e[j].account, c.e[i].account) == 0) {
			vms[j - i] = c.e[j].vm;
			j++;
		}
		if (rollup_write_account(r, r->usage_dir, c.e[i].account, hour, locs, 1, true, vms, j - i,
				  err, errlen) < 0)
			goto out;
		accounts[na++] = c.e[i].account;
		i = j;
	}
	if (rollup_write_index(r->usage_dir, hour, accounts, na, err, errlen) < 0 ||
	    rollup_mark_done(r->usage_dir, hour, err, errlen) < 0)
		goto out;
	char ht[64];
	rollup_hour_text(ht, sizeof(ht), hour);
	log_info("rollup: hour %s: %zu account(s), %zu VM(s) from %llu point(s) in %.3f s", ht, na, c.n,
		 (unsigned long long)st.points, (double)(mono_usec() - t0) / 1e6);
	atomic_store(&r->last_accounts, na);
	atomic_store(&r->last_vms, c.n);
	rc = 0;
out:
	free(accounts);
	free(vms);
	free_entries(&c);
	return rc;
}
