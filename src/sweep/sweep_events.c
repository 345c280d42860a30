/*
 * sweep_events.c — step 5 of the move (sweep.c): the radacct Kafka events.
 * Each session is published once per version of master's row, with
 * master's row, whichever member's copy (or stale closing) brought it
 * there: the published-versions table (radacct.h's ra_seen, sw->seen) is
 * kept across reloads, under sw->seen_mu.  A session master holds open is
 * not published; its close will be.  When master cannot be read, the moved
 * members' copies are published instead, so no move goes unpublished.
 *
 * Threads: the member threads (the rows a delete moved) and the sweep
 * thread (stale closing), each reading master on its own connection.
 */
#include <mysql.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "publish.h"
#include "radacct.h"
#include "sweep_int.h"

/* Publish row r as a `what` event; member: the member the copy moved from, or NULL. */
static void publish_row(const char *member, const struct ra_row *r, const char *what)
{
	struct buf b = BUF_INIT;
	buf_grow(&b, 2048);	/* one allocation for the usual row */
	struct jw w;
	jw_init_members(&w, &b);
	jw_kv_str(&w, "event", what);
	if (member)
		jw_kv_str(&w, "member", member);
	ra_json_members(r, &w);
	if (!b.oom)
		publish_event("radacct", r->v[RA_ACCTUNIQUEID], r->len[RA_ACCTUNIQUEID], b.data, b.len);
	buf_release(&b);
}

/*
 * Publish master's rows of the sessions ids[0..n) (lens[i] bytes each) as
 * `what` events, each session once per version of master's row (sw->seen):
 * a session master holds open is not published, its close will be.  member
 * as publish_row().  Reads master on c, the calling thread's connection.
 * 0, or -1 when master could not be read whole (err says why; some rows may
 * have been published).  No kafka (publish_enabled() false, fixed until a
 * restart): master is not read; each session counts as one unpublished
 * event.
 */
int sw_publish_master(struct sweep *sw, struct conn *c, const char *member, const char *const *ids,
		      const unsigned long *lens, size_t n, const char *what, char *err, size_t len)
{
	if (!publish_enabled()) {
		publish_unpublished(n);
		return 0;
	}
	struct buf q = BUF_INIT;
	ra_sql_rows(&q, sw->table, n);
	MYSQL_STMT *st = sw_prepare(c->db, &q, err, len);
	buf_release(&q);
	if (!st)
		return -1;
	MYSQL_BIND *p = calloc(n, sizeof(*p));
	struct ra_row *r = calloc(1, sizeof(*r));
	int rc = -1, f = 0;
	if (!p || !r) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (MYSQL_BIND){ .buffer_type = MYSQL_TYPE_STRING, .buffer = (void *)ids[i],
				     .buffer_length = lens[i] };
	MYSQL_BIND rb[RA_NCOLS + RA_NTIMES];
	my_bool tnull[RA_NTIMES];
	for (int k = 0; k < RA_NCOLS; k++)
		rb[k] = sw_bind_value(r, k);
	for (int t = 0; t < RA_NTIMES; t++)
		rb[RA_NCOLS + t] = sw_bind_time(r, t, &tnull[t]);
	if (mysql_stmt_bind_param(st, p) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, rb)) {
		sw_fail(err, len, "reading master's rows", c->db, st);
		goto out;
	}
	while ((f = mysql_stmt_fetch(st)) == 0 || f == MYSQL_DATA_TRUNCATED) {
		bool fits = true;
		for (int k = 0; k < RA_NCOLS; k++)
			if (!sw_value_fetched(r, k))
				fits = false;
		sw_times_fetched(r, tnull);	/* a bad time on master: its _ts is null */
		if (!fits) {
			log_error("sweep: master's row of session '%s' has a value wider than %d bytes; "
				  "no event for it", r->v[RA_ACCTUNIQUEID], RA_VAL_MAX - 1);
			continue;
		}
		/* the UTC version: the one table of published versions holds
		 * master's rows and, when master was unreadable, members' copies */
		struct ra_version v;
		ra_version_of_utc(r, sw->stale_cause, &v);
		if (!v.closed)
			continue;
		pthread_mutex_lock(&sw->seen_mu);
		bool fresh = ra_seen_mark(sw->seen, r->v[RA_ACCTUNIQUEID], r->len[RA_ACCTUNIQUEID], &v);
		pthread_mutex_unlock(&sw->seen_mu);
		if (fresh)
			publish_row(member, r, what);
	}
	mysql_stmt_free_result(st);
	mysql_commit(c->db);	/* end the read's snapshot */
	rc = f == MYSQL_NO_DATA ? 0 : sw_fail(err, len, "fetching master's rows", c->db, st);
out:
	free(p);
	free(r);
	mysql_stmt_close(st);
	return rc;
}

/*
 * Step 5 for the closed rows[0..n) whose member delete has committed
 * (gone[i]): one "closed" event per session with master's row.  Master
 * unreadable: the moved copies themselves, so no move goes unpublished.
 */
void sw_publish_moved(struct member *m, struct ra_row **rows, const bool *gone, size_t n,
		      const char **ids, unsigned long *lens)
{
	struct sweep *sw = m->sw;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (gone[i]) {
			ids[k] = rows[i]->v[RA_ACCTUNIQUEID];
			lens[k++] = rows[i]->len[RA_ACCTUNIQUEID];
		}
	char err[256];
	if (k == 0 || sw_publish_master(sw, &m->sc, m->cfg.name, ids, lens, k, "closed", err, sizeof(err)) == 0)
		return;
	log_error("sweep: member '%s': %s; the events of %zu moved row(s) carry the member's copies",
		  m->cfg.name, err, k);
	for (size_t i = 0; i < n; i++) {
		if (!gone[i])
			continue;
		struct ra_version v;
		ra_version_of_utc(rows[i], sw->stale_cause, &v);
		pthread_mutex_lock(&sw->seen_mu);
		bool fresh = ra_seen_mark(sw->seen, rows[i]->v[RA_ACCTUNIQUEID], rows[i]->len[RA_ACCTUNIQUEID], &v);
		pthread_mutex_unlock(&sw->seen_mu);
		if (fresh)
			publish_row(m->cfg.name, rows[i], "closed");
	}
}
