/*
 * sweep_stale.c — step 4 of the move (sweep.c): stale closing.  The open
 * sessions whose latest update is older than stale_after are closed on
 * master, STALE_CHUNK per transaction (acctstoptime = the last update,
 * acctterminatecause = sweep.stale_cause), then the members' copies of
 * them, so the next sweep does not bring them back open; each is published
 * once as "stale-closed" with master's row (sweep_events.c).
 *
 * Threads: the sweep thread (or --once's caller), after the cycle's member
 * threads are joined: it uses the sweep's own master connection (sw->stale)
 * and each member's member connection.
 */
#include <mysql.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "publish.h"
#include "radacct.h"
#include "role.h"
#include "sweep_int.h"

#define STALE_CHUNK 500		/* sessions closed per master transaction */

/* Close stale sessions on master, then on the members' copies. */
int sw_close_stale(struct sweep *sw, bool once, char *err, size_t len)
{
	struct conn *c = &sw->stale;
	if (sw_conn_open(sw, c, &sw->master, true, "master", &sw->master_schema, err, len) < 0)
		return -1;
	struct buf q = BUF_INIT;
	buf_addf(&q, "SELECT `acctuniqueid` FROM `%s` WHERE `acctstoptime` IS NULL AND "
		     "COALESCE(`acctupdatetime`, `acctstarttime`) < NOW() - INTERVAL ? SECOND "
		     "ORDER BY `radacctid` LIMIT %d FOR UPDATE", sw->table, STALE_CHUNK);
	MYSQL_STMT *sel = sw_prepare(c->db, &q, err, len);
	buf_reset(&q);
	/* acctstoptime = the last update; acctsessiontime consistent with it */
	static const char close_set[] =
		" SET `acctstoptime` = COALESCE(`acctupdatetime`, `acctstarttime`),"
		" `acctsessiontime` = GREATEST(0, CAST(UNIX_TIMESTAMP(COALESCE(`acctupdatetime`, `acctstarttime`))"
		" - UNIX_TIMESTAMP(COALESCE(`acctstarttime`, `acctupdatetime`)) AS SIGNED)),"
		" `acctterminatecause` = ? WHERE `acctuniqueid` = ? AND `acctstoptime` IS NULL";
	buf_addf(&q, "UPDATE `%s`%s", sw->table, close_set);
	MYSQL_STMT *upd = sel ? sw_prepare(c->db, &q, err, len) : NULL;
	buf_release(&q);
	char (*ids)[RA_VAL_MAX] = malloc(STALE_CHUNK * sizeof(*ids));
	unsigned long *idl = malloc(STALE_CHUNK * sizeof(*idl));
	const char **pids = malloc(STALE_CHUNK * sizeof(*pids));
	int rc = -1;
	if (!sel || !upd || !ids || !idl || !pids) {
		if (!err[0])
			snprintf(err, len, "out of memory");
		goto out;
	}
	long long after = sw->stale_after;
	for (;;) {
		char id[RA_VAL_MAX];
		unsigned long il = 0;
		MYSQL_BIND p = { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &after };
		MYSQL_BIND r = { .buffer_type = MYSQL_TYPE_STRING, .buffer = id,
				 .buffer_length = sizeof(id) - 1, .length = &il };
		if (mysql_stmt_bind_param(sel, &p) || mysql_stmt_execute(sel) ||
		    mysql_stmt_bind_result(sel, &r)) {
			sw_fail(err, len, "finding stale sessions on master", c->db, sel);
			mysql_rollback(c->db);
			goto out;
		}
		size_t n = 0;
		int f;
		while ((f = mysql_stmt_fetch(sel)) == 0 && n < STALE_CHUNK) {
			if (il > sizeof(id) - 1)
				il = sizeof(id) - 1;
			memcpy(ids[n], id, il);
			ids[n][il] = '\0';
			idl[n++] = il;
		}
		/* The rows are locked as they are fetched: a lock wait that times
		 * out (or a KILL QUERY) ends the fetch with an error, not the
		 * execute.  Taken as the end of the rows, it closed the ones before
		 * and reported the pass done; it is the pass failing. */
		if (f != 0 && f != MYSQL_NO_DATA) {
			sw_fail(err, len, "finding stale sessions on master", c->db, sel);
			mysql_stmt_free_result(sel);
			mysql_rollback(c->db);
			goto out;
		}
		mysql_stmt_free_result(sel);
		for (size_t i = 0; i < n; i++) {
			MYSQL_BIND up[2] = {
				{ .buffer_type = MYSQL_TYPE_STRING, .buffer = sw->stale_cause,
				  .buffer_length = strlen(sw->stale_cause) },
				{ .buffer_type = MYSQL_TYPE_STRING, .buffer = ids[i], .buffer_length = idl[i] },
			};
			if (mysql_stmt_bind_param(upd, up) || mysql_stmt_execute(upd)) {
				sw_fail(err, len, "closing a stale session on master", c->db, upd);
				mysql_rollback(c->db);
				goto out;
			}
		}
		if (mysql_commit(c->db)) {
			sw_fail(err, len, "commit on master", c->db, NULL);
			goto out;
		}
		if (n == 0)
			break;
		atomic_fetch_add(&sw->stale_total, n);
		log_info("sweep: closed %zu stale session(s) on master (no update for %d s)", n, sw->stale_after);
		/* The members' copies, so the next sweep does not bring them back open. */
		for (size_t mi = 0; mi < sw->nm; mi++) {
			struct member *m = &sw->m[mi];
			char merr[1024];
			if (sw_conn_open(sw, &m->mc, &m->cfg, false, m->cfg.name, &m->schema, merr, sizeof(merr)) < 0)
				continue;	/* its copies are superseded by master's closed rows */
			struct buf mq = BUF_INIT;
			buf_addf(&mq, "UPDATE `%s`%s", sw->table, close_set);
			MYSQL_STMT *mu = sw_prepare(m->mc.db, &mq, merr, sizeof(merr));
			buf_release(&mq);
			if (!mu)
				continue;
			uint64_t closed = 0;
			for (size_t i = 0; i < n; i++) {
				MYSQL_BIND up[2] = {
					{ .buffer_type = MYSQL_TYPE_STRING, .buffer = sw->stale_cause,
					  .buffer_length = strlen(sw->stale_cause) },
					{ .buffer_type = MYSQL_TYPE_STRING, .buffer = ids[i], .buffer_length = idl[i] },
				};
				if (mysql_stmt_bind_param(mu, up) || mysql_stmt_execute(mu))
					break;
				closed += mysql_stmt_affected_rows(mu);
			}
			mysql_stmt_close(mu);
			mysql_commit(m->mc.db);
			atomic_fetch_add(&m->stale_closed, closed);
		}
		/* one event per session, master's closed row (the members' copies
		 * closed above then move without one: the same version) */
		for (size_t i = 0; i < n; i++)
			pids[i] = ids[i];
		char perr[256];
		if (sw_publish_master(sw, c, NULL, pids, idl, n, "stale-closed", perr, sizeof(perr)) < 0) {
			log_error("sweep: master: %s; the stale-closed events carry only the session ids", perr);
			for (size_t i = 0; i < n; i++) {
				struct buf b = BUF_INIT;
				struct jw w;
				jw_init_members(&w, &b);
				jw_kv_str(&w, "event", "stale-closed");
				jw_key(&w, "acctuniqueid");
				jw_strn(&w, ids[i], idl[i]);
				jw_kv_str(&w, "acctterminatecause", sw->stale_cause);
				if (!b.oom)
					publish_event("radacct", ids[i], idl[i], b.data, b.len);
				buf_release(&b);
			}
		}
		if (!once && !role_is_active())
			break;
		if (n < STALE_CHUNK)
			break;
	}
	rc = 0;
out:
	free(ids);
	free(idl);
	free(pids);
	if (sel)
		mysql_stmt_close(sel);
	if (upd)
		mysql_stmt_close(upd);
	return rc;
}
