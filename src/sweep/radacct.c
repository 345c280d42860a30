/*
 * radacct.c — radacct rows, the precedence rule and the sweep's SQL; see
 * radacct.h.  The SQL form of the precedence rule is written next to its C
 * form so the two stay the same rule.
 */
#include "radacct.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

const char *const ra_col_names[RA_NCOLS] = {
	"acctsessionid", "acctuniqueid", "username", "realm", "nasipaddress",
	"nasportid", "nasporttype", "acctstarttime", "acctupdatetime", "acctstoptime",
	"acctinterval", "acctsessiontime", "acctauthentic", "connectinfo_start",
	"connectinfo_stop", "acctinputoctets", "acctoutputoctets", "calledstationid",
	"callingstationid", "acctterminatecause", "servicetype", "framedprotocol",
	"framedipaddress", "framedipv6address", "framedipv6prefix", "framedinterfaceid",
	"delegatedipv6prefix", "class",
};

static long long num(const struct ra_row *r, enum ra_col c)
{
	return r->null[c] ? 0 : strtoll(r->v[c], NULL, 10);
}

void ra_version_of(const struct ra_row *r, struct ra_version *v)
{
	const char *u = r->null[RA_ACCTUPDATETIME] ? "" : r->v[RA_ACCTUPDATETIME];
	const char *s = r->null[RA_ACCTSTOPTIME] ? "" : r->v[RA_ACCTSTOPTIME];
	v->closed = !r->null[RA_ACCTSTOPTIME];
	/* 'YYYY-MM-DD HH:MM:SS' orders as text; "" is before any time */
	const char *g = strcmp(u, s) >= 0 ? u : s;
	size_t n = strlen(g);
	if (n > sizeof(v->ts) - 1)
		n = sizeof(v->ts) - 1;
	memcpy(v->ts, g, n);
	v->ts[n] = '\0';
	v->sessiontime = num(r, RA_ACCTSESSIONTIME);
	v->in = num(r, RA_ACCTINPUTOCTETS);
	v->out = num(r, RA_ACCTOUTPUTOCTETS);
}

static int cmp_ll(long long a, long long b)
{
	return (a > b) - (a < b);
}

int ra_compare(const struct ra_version *a, const struct ra_version *b)
{
	if (a->closed != b->closed)
		return a->closed ? 1 : -1;
	int c = strcmp(a->ts, b->ts);
	if (c)
		return c > 0 ? 1 : -1;
	if ((c = cmp_ll(a->sessiontime, b->sessiontime)))
		return c;
	if ((c = cmp_ll(a->in, b->in)))
		return c;
	return cmp_ll(a->out, b->out);
}

const char *ra_check_identifier(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return "must be 1 to 64 characters";
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return "may hold only letters, digits and '_'";
	return NULL;
}

static void col_list(struct buf *b)
{
	for (int c = 0; c < RA_NCOLS; c++)
		buf_addf(b, "%s`%s`", c ? "," : "", ra_col_names[c]);
}

void ra_sql_page(struct buf *b, const char *table)
{
	buf_adds(b, "SELECT `radacctid`,");
	col_list(b);
	buf_addf(b, " FROM `%s` WHERE `radacctid` > ? ORDER BY `radacctid` LIMIT ?", table);
}

/*
 * The precedence rule in SQL, new = VALUES(col), old = col.  Evaluated once,
 * in the first assignment, into @agg_w: later assignments must not look at
 * columns already overwritten.
 */
#define ZT "CAST('1000-01-01 00:00:00' AS DATETIME)"
#define NEW_TS "GREATEST(COALESCE(VALUES(`acctupdatetime`)," ZT "),COALESCE(VALUES(`acctstoptime`)," ZT "))"
#define OLD_TS "GREATEST(COALESCE(`acctupdatetime`," ZT "),COALESCE(`acctstoptime`," ZT "))"
#define NEW_CL "(VALUES(`acctstoptime`) IS NOT NULL)"
#define OLD_CL "(`acctstoptime` IS NOT NULL)"
#define N(c) "COALESCE(VALUES(`" c "`),0)"
#define O(c) "COALESCE(`" c "`,0)"
static const char new_wins[] =
	"(" NEW_CL ">" OLD_CL " OR (" NEW_CL "=" OLD_CL " AND (" NEW_TS ">" OLD_TS
	" OR (" NEW_TS "=" OLD_TS " AND (" N("acctsessiontime") ">" O("acctsessiontime")
	" OR (" N("acctsessiontime") "=" O("acctsessiontime") " AND (" N("acctinputoctets") ">"
	O("acctinputoctets") " OR (" N("acctinputoctets") "=" O("acctinputoctets") " AND "
	N("acctoutputoctets") ">" O("acctoutputoctets") "))))))))";

void ra_sql_upsert(struct buf *b, const char *table, size_t nrows)
{
	buf_addf(b, "INSERT INTO `%s` (", table);
	col_list(b);
	buf_adds(b, ") VALUES ");
	for (size_t i = 0; i < nrows; i++) {
		buf_adds(b, i ? ",(" : "(");
		for (int c = 0; c < RA_NCOLS; c++)
			buf_adds(b, c ? ",?" : "?");
		buf_addc(b, ')');
	}
	buf_adds(b, " ON DUPLICATE KEY UPDATE ");
	for (int c = 0; c < RA_NCOLS; c++) {
		if (c == RA_ACCTUNIQUEID)
			continue;	/* the key itself never changes */
		const char *n = ra_col_names[c];
		if (c == 0)
			buf_addf(b, "`%s`=IF((@agg_w:=%s),VALUES(`%s`),`%s`)", n, new_wins, n, n);
		else
			buf_addf(b, ",`%s`=IF(@agg_w,VALUES(`%s`),`%s`)", n, n, n);
	}
}

void ra_sql_delete_exact(struct buf *b, const char *table, size_t nrows)
{
	buf_addf(b, "DELETE FROM `%s` WHERE ", table);
	for (size_t i = 0; i < nrows; i++) {
		buf_adds(b, i ? " OR (`radacctid`=?" : "(`radacctid`=?");
		for (int c = 0; c < RA_NCOLS; c++)
			buf_addf(b, " AND `%s`<=>?", ra_col_names[c]);
		buf_addc(b, ')');
	}
}

void ra_sql_versions(struct buf *b, const char *table, size_t n)
{
	buf_addf(b, "SELECT `acctuniqueid`,`acctupdatetime`,`acctstoptime`,`acctsessiontime`,"
		    "`acctinputoctets`,`acctoutputoctets` FROM `%s` WHERE `acctuniqueid` IN (", table);
	for (size_t i = 0; i < n; i++)
		buf_adds(b, i ? ",?" : "?");
	buf_addc(b, ')');
}

void ra_json_members(const struct ra_row *r, struct buf *b)
{
	for (int c = 0; c < RA_NCOLS; c++) {
		buf_adds(b, c ? ",\"" : "\"");
		buf_adds(b, ra_col_names[c]);
		buf_add(b, "\":", 2);
		if (r->null[c])
			buf_adds(b, "null");
		else if ((c == RA_ACCTINTERVAL || c == RA_ACCTSESSIONTIME ||
			  c == RA_ACCTINPUTOCTETS || c == RA_ACCTOUTPUTOCTETS) && r->len[c] &&
			 strspn(r->v[c], "-0123456789") == r->len[c])
			buf_add(b, r->v[c], r->len[c]);
		else
			json_add_strn(b, r->v[c], r->len[c]);
	}
}
