/*
 * export.c — `aggregatorctl export`: usage files as .xlsx or CSV; see
 * export.h for the contract.
 *
 * DESIGN.  Runs in aggregatorctl's one thread, offline: it reads files under
 * a usage directory and writes one output, nothing else.  The decoding is
 * usage_decode()'s (the same checks as the daemon's); this file only lays
 * out cells.  A sheet's columns and units are one table (vm_cols) shared by
 * the single-file sheet, the CSV and the invoice's day sheets, so they
 * cannot drift apart.  Sums are kept in long double: exact for counters up
 * to 2^64 on x86-64, and never wrapping.  An invoice is built one hour at a
 * time (each file is decoded, written into the workbook and released), so
 * memory is what libxlsxwriter holds for the cells plus one hour's record.
 */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xlsxwriter.h>

#define XLSX_MAX_STR 32767	/* bytes Excel keeps in a cell */

/* ---- hours ---- */

int export_parse_hour(const char *s, int64_t *hour)
{
	unsigned y, mo, d, h;
	int n = 0;

	if (strlen(s) != 13 || sscanf(s, "%4u-%2u-%2uT%2u%n", &y, &mo, &d, &h, &n) != 4 ||
	    n != 13 || strspn(s, "0123456789-T") != 13)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23)
		return -1;
	struct tm tm = { .tm_year = (int)y - 1900, .tm_mon = (int)mo - 1, .tm_mday = (int)d,
			 .tm_hour = (int)h };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != (int)d || tm.tm_mon != (int)mo - 1)
		return -1;	/* 2023-02-30 normalises to March: refused */
	*hour = (int64_t)t;
	return 0;
}

void export_format_hour(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%dT%H", &tm) == 0)
		snprintf(out, len, "@%" PRId64, t);
}

/* ---- loading ---- */

int export_load(const char *path, struct usage_hour *h, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char why[256];
	struct stat st;
	FILE *f = fopen(path, "rb");

	memset(h, 0, sizeof(*h));
	if (!f)
		return set_err(err, errlen, "'%s': %s", path, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > USAGE_MAX_RAW) {
		fclose(f);
		return set_err(err, errlen, "'%s': %lld bytes, larger than any usage file", path,
			       (long long)st.st_size);
	}
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= USAGE_MAX_RAW)
		buf_add(&b, chunk, n);
	int bad = ferror(f);
	fclose(f);
	if (bad || b.oom) {
		buf_release(&b);
		return set_err(err, errlen, "'%s': %s", path, bad ? "read error" : "out of memory");
	}
	int rc = usage_decode(b.data, b.len, h, why, sizeof(why));
	buf_release(&b);
	if (rc < 0)
		return set_err(err, errlen, "'%s': %s", path, why);
	return 0;
}

/* ---- columns and sums ---- */

enum col_kind { COL_TEXT, COL_DEC, COL_INT };

static const struct col {
	const char *head;	/* header, with the unit */
	enum col_kind kind;
	double width;		/* characters, in .xlsx */
} vm_cols[] = {
	{ "location", COL_TEXT, 12 },
	{ "cloudspace", COL_TEXT, 16 },
	{ "vm", COL_TEXT, 22 },
	{ "mean memory (MiB)", COL_DEC, 18 },
	{ "max disk (GiB)", COL_DEC, 15 },
	{ "CPU (seconds)", COL_DEC, 15 },
	{ "read IOs (operations)", COL_INT, 21 },
	{ "write IOs (operations)", COL_INT, 22 },
	{ "net tx (bytes)", COL_INT, 18 },
	{ "net rx (bytes)", COL_INT, 18 },
	{ "samples", COL_INT, 10 },
};
#define NCOLS (sizeof(vm_cols) / sizeof(vm_cols[0]))
#define NFIG 8		/* the figures: columns 3.. */

/* The figures of a VM in column order, and their sums. */
static void vm_figures(const struct usage_vm *v, long double f[NFIG])
{
	f[0] = v->mem_mib_mean;
	f[1] = v->disk_gib_max;
	f[2] = v->cpu_seconds;
	f[3] = v->io_read;
	f[4] = v->io_write;
	f[5] = v->net_tx_bytes;
	f[6] = v->net_rx_bytes;
	f[7] = v->samples;
}

struct sums {
	size_t vms;
	long double f[NFIG];	/* memory and disk: the sum of the per-VM figures */
};

static void sums_add_vm(struct sums *s, const struct usage_vm *v)
{
	long double f[NFIG];
	vm_figures(v, f);
	for (int i = 0; i < NFIG; i++)
		s->f[i] += f[i];
	s->vms++;
}

static void sums_add(struct sums *s, const struct sums *t)
{
	for (int i = 0; i < NFIG; i++)
		s->f[i] += t->f[i];
	s->vms += t->vms;
}

static void hour_sums(const struct usage_hour *h, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < h->nvms; i++)
		sums_add_vm(s, &h->vms[i]);
}

/* "2023-11-14 22:00 to 23:00 UTC" */
static void hour_span(int64_t t, char *out, size_t len)
{
	time_t a = (time_t)t, b = (time_t)(t + 3600);
	struct tm ta, tb;
	char s1[32] = "?", s2[16] = "?";
	if (gmtime_r(&a, &ta))
		strftime(s1, sizeof(s1), "%Y-%m-%d %H:%M", &ta);
	if (gmtime_r(&b, &tb))
		strftime(s2, sizeof(s2), "%H:%M", &tb);
	snprintf(out, len, "%s to %s UTC", s1, s2);
}

static void join_locations(const struct usage_hour *h, struct buf *b)
{
	for (size_t i = 0; i < h->nlocations; i++)
		buf_addf(b, "%s%s", i ? ", " : "", h->locations[i]);
	if (!h->nlocations)
		buf_adds(b, "none");
}

/* ---- CSV ---- */

static void csv_field(FILE *out, const char *s)
{
	bool guard = strchr("=+-@\t\r", s[0]) && s[0];
	bool quote = guard || strpbrk(s, ",\"\r\n") || s[0] == ' ' ||
		     (s[0] && s[strlen(s) - 1] == ' ');
	if (!quote) {
		fputs(s, out);
		return;
	}
	putc('"', out);
	if (guard)
		putc('\'', out);
	for (; *s; s++) {
		if (*s == '"')
			putc('"', out);
		putc(*s, out);
	}
	putc('"', out);
}

static void csv_num(FILE *out, enum col_kind k, long double v)
{
	if (k == COL_INT)
		fprintf(out, ",%.0Lf", v);
	else
		fprintf(out, ",%.15Lg", v);
}

int export_csv(const struct usage_hour *h, FILE *out, char *err, size_t errlen)
{
	struct sums s;

	for (size_t c = 0; c < NCOLS; c++)
		fprintf(out, "%s%s", c ? "," : "", vm_cols[c].head);
	putc('\n', out);
	for (size_t i = 0; i < h->nvms; i++) {
		const struct usage_vm *v = &h->vms[i];
		long double f[NFIG];
		csv_field(out, v->location);
		putc(',', out);
		csv_field(out, v->cloudspace);
		putc(',', out);
		csv_field(out, v->vm);
		vm_figures(v, f);
		for (int k = 0; k < NFIG; k++)
			csv_num(out, vm_cols[3 + k].kind, f[k]);
		putc('\n', out);
	}
	hour_sums(h, &s);
	fprintf(out, "total,,%zu VMs", s.vms);
	for (int k = 0; k < NFIG; k++)
		csv_num(out, vm_cols[3 + k].kind, s.f[k]);
	putc('\n', out);
	if (fflush(out) != 0 || ferror(out))
		return set_err(err, errlen, "cannot write the CSV: %s", strerror(errno));
	return 0;
}

/* ---- xlsx ---- */

struct xl {
	lxw_workbook *wb;
	lxw_format *title, *bold, *dec, *integer, *dec_b, *int_b;
	lxw_error err;		/* the first cell that failed */
	struct buf tmp;		/* a string made valid for a cell */
};

/* Append the code point's UTF-8. */
static void add_utf8(struct buf *b, uint32_t c)
{
	if (c < 0x80) {
		buf_addc(b, (char)c);
	} else if (c < 0x800) {
		buf_addc(b, (char)(0xc0 | c >> 6));
		buf_addc(b, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_addc(b, (char)(0xe0 | c >> 12));
		buf_addc(b, (char)(0x80 | (c >> 6 & 0x3f)));
		buf_addc(b, (char)(0x80 | (c & 0x3f)));
	}
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
	if (n == 0 || c > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||	/* overlong, surrogate */
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))	/* overlong, > U+10FFFF */
		return 0;
	return n;
}

/* s as a cell can hold it: valid UTF-8 (else U+FFFD), at most XLSX_MAX_STR bytes. */
static const char *cell_text(struct xl *x, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (p[i] && (n = utf8_len(p + i)) > 0 && i + n <= XLSX_MAX_STR)
		i += n;
	if (!p[i])
		return s;
	buf_reset(&x->tmp);
	for (i = 0; p[i] && x->tmp.len + 4 <= XLSX_MAX_STR;) {
		n = utf8_len(p + i);
		if (n) {
			buf_add(&x->tmp, p + i, n);
			i += n;
		} else {
			add_utf8(&x->tmp, 0xfffd);
			i++;
		}
	}
	return x->tmp.oom ? "?" : x->tmp.data;
}

static void put_str(struct xl *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *s,
		    lxw_format *f)
{
	lxw_error e = worksheet_write_string(ws, r, c, cell_text(x, s), f);
	if (e && !x->err)
		x->err = e;
}

static void put_num(struct xl *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, long double v,
		    lxw_format *f)
{
	if (!isfinite((double)v)) {	/* a cell cannot hold NaN or infinity */
		put_str(x, ws, r, c, isnan((double)v) ? "NaN" : v > 0 ? "inf" : "-inf", f);
		return;
	}
	lxw_error e = worksheet_write_number(ws, r, c, (double)v, f);
	if (e && !x->err)
		x->err = e;
}

static int xl_open(struct xl *x, const char *path, char *err, size_t errlen)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->tmp);
	x->wb = workbook_new(path);
	if (!x->wb)
		return set_err(err, errlen, "cannot create workbook '%s'", path);
	x->title = workbook_add_format(x->wb);
	x->bold = workbook_add_format(x->wb);
	x->dec = workbook_add_format(x->wb);
	x->integer = workbook_add_format(x->wb);
	x->dec_b = workbook_add_format(x->wb);
	x->int_b = workbook_add_format(x->wb);
	if (!x->title || !x->bold || !x->dec || !x->integer || !x->dec_b || !x->int_b) {
		workbook_close(x->wb);
		unlink(path);
		return set_err(err, errlen, "out of memory for workbook '%s'", path);
	}
	format_set_bold(x->title);
	format_set_font_size(x->title, 14);
	format_set_bold(x->bold);
	format_set_num_format(x->dec, "#,##0.000");
	format_set_num_format(x->integer, "#,##0");
	format_set_bold(x->dec_b);
	format_set_num_format(x->dec_b, "#,##0.000");
	format_set_bold(x->int_b);
	format_set_num_format(x->int_b, "#,##0");
	return 0;
}

static int xl_close(struct xl *x, const char *path, char *err, size_t errlen)
{
	lxw_error cell = x->err;
	lxw_error e = workbook_close(x->wb);
	buf_release(&x->tmp);
	if (cell || e) {
		unlink(path);
		return set_err(err, errlen, "cannot write workbook '%s': %s", path,
			       lxw_strerror(cell ? cell : e));
	}
	return 0;
}

static lxw_format *num_format(const struct xl *x, enum col_kind k, bool bold)
{
	return k == COL_INT ? (bold ? x->int_b : x->integer) : (bold ? x->dec_b : x->dec);
}

/* The header of VM rows at row r, from column c0 on; column widths too. */
static void vm_header(struct xl *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c0)
{
	for (size_t c = 0; c < NCOLS; c++) {
		put_str(x, ws, r, (lxw_col_t)(c0 + c), vm_cols[c].head, x->bold);
		worksheet_set_column(ws, (lxw_col_t)(c0 + c), (lxw_col_t)(c0 + c),
				     vm_cols[c].width, NULL);
	}
}

static void vm_row(struct xl *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c0,
		   const struct usage_vm *v)
{
	long double f[NFIG];
	put_str(x, ws, r, c0, v->location, NULL);
	put_str(x, ws, r, (lxw_col_t)(c0 + 1), v->cloudspace, NULL);
	put_str(x, ws, r, (lxw_col_t)(c0 + 2), v->vm, NULL);
	vm_figures(v, f);
	for (int k = 0; k < NFIG; k++)
		put_num(x, ws, r, (lxw_col_t)(c0 + 3 + k), f[k], num_format(x, vm_cols[3 + k].kind, false));
}

static void sums_row(struct xl *x, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c0,
		     const struct sums *s)
{
	char n[48];
	snprintf(n, sizeof(n), "%zu VMs", s->vms);
	put_str(x, ws, r, c0, "total", x->bold);
	put_str(x, ws, r, (lxw_col_t)(c0 + 2), n, x->bold);
	for (int k = 0; k < NFIG; k++)
		put_num(x, ws, r, (lxw_col_t)(c0 + 3 + k), s->f[k], num_format(x, vm_cols[3 + k].kind, true));
}

int export_xlsx(const struct usage_hour *h, const char *path, char *err, size_t errlen)
{
	struct xl x;
	char name[32], span[64];
	struct buf line = BUF_INIT;
	struct sums s;

	if (xl_open(&x, path, err, errlen) < 0)
		return -1;
	export_format_hour(h->hour_start, name, sizeof(name));
	lxw_worksheet *ws = workbook_add_worksheet(x.wb, name);
	if (!ws) {
		x.err = LXW_ERROR_MEMORY_MALLOC_FAILED;
		return xl_close(&x, path, err, errlen);
	}
	hour_span(h->hour_start, span, sizeof(span));
	buf_addf(&line, "Usage of account %s, %s", h->account, span);
	put_str(&x, ws, 0, 0, line.data, x.title);
	buf_reset(&line);
	buf_adds(&line, h->complete ? "complete: every configured location contributed ("
				    : "INCOMPLETE: not every configured location contributed (");
	join_locations(h, &line);
	buf_adds(&line, ")");
	put_str(&x, ws, 1, 0, line.data, NULL);
	buf_release(&line);
	vm_header(&x, ws, 3, 0);
	worksheet_freeze_panes(ws, 4, 0);
	lxw_row_t r = 4;
	for (size_t i = 0; i < h->nvms; i++)
		vm_row(&x, ws, r++, 0, &h->vms[i]);
	hour_sums(h, &s);
	sums_row(&x, ws, r, 0, &s);
	return xl_close(&x, path, err, errlen);
}

/* ---- invoice ---- */

static const char *const sum_cols[] = {
	"hour (UTC)", "status", "locations", "VMs", "memory (MiB-hours)", "disk (GiB-hours)",
	"CPU (seconds)", "read IOs (operations)", "write IOs (operations)", "net tx (bytes)",
	"net rx (bytes)", "samples",
};
#define NSUM (sizeof(sum_cols) / sizeof(sum_cols[0]))

/* A day's detail sheet (or its continuation once a sheet is full). */
struct day {
	lxw_worksheet *ws;
	char date[16];		/* "YYYY-MM-DD" */
	int part;		/* 1, 2, ... sheets of this day */
	lxw_row_t row;		/* next row */
	struct sums sums;
};

static int account_ok(const char *a)
{
	return a[0] && strcmp(a, ".") != 0 && strcmp(a, "..") != 0 && !strchr(a, '/') &&
	       strlen(a) <= 255;
}

static int day_sheet(struct xl *x, struct day *d)
{
	char name[32];
	if (d->part > 1)
		snprintf(name, sizeof(name), "%s (%d)", d->date, d->part);
	else
		snprintf(name, sizeof(name), "%s", d->date);
	d->ws = workbook_add_worksheet(x->wb, name);
	if (!d->ws)
		return -1;
	put_str(x, d->ws, 0, 0, "hour (UTC)", x->bold);
	worksheet_set_column(d->ws, 0, 0, 14, NULL);
	vm_header(x, d->ws, 0, 1);
	worksheet_freeze_panes(d->ws, 1, 0);
	d->row = 1;
	return 0;
}

static void day_finish(struct xl *x, struct day *d)
{
	if (!d->ws)
		return;
	if (d->sums.vms == 0)
		put_str(x, d->ws, d->row++, 0, "(no usage this day)", NULL);
	sums_row(x, d->ws, d->row, 1, &d->sums);
	memset(d, 0, sizeof(*d));
}

/* One hour's record into the day sheet(s). */
static int day_add(struct xl *x, struct day *d, const char *hour, const struct usage_hour *h)
{
	for (size_t i = 0; i < h->nvms; i++) {
		if (d->row >= LXW_ROW_MAX - 2) {	/* keep a row for the totals */
			d->part++;
			if (day_sheet(x, d) < 0)
				return -1;
		}
		put_str(x, d->ws, d->row, 0, hour, NULL);
		vm_row(x, d->ws, d->row++, 1, &h->vms[i]);
		sums_add_vm(&d->sums, &h->vms[i]);
	}
	return 0;
}

int export_invoice_xlsx(const struct export_invoice *q, const char *path,
			struct export_report *rep, char *err, size_t errlen)
{
	struct xl x;
	struct day d = { 0 };
	struct sums total = { 0 };
	struct buf line = BUF_INIT;
	char from[32], to[32];

	memset(rep, 0, sizeof(*rep));
	buf_init(&rep->notes);
	if (!account_ok(q->account))
		return set_err(err, errlen, "account '%s' is not a file name", q->account);
	if (q->from % 3600 || q->to % 3600 || q->to < q->from)
		return set_err(err, errlen, "the hours must be whole and --from <= --to");
	if ((q->to - q->from) / 3600 + 1 > EXPORT_MAX_HOURS)
		return set_err(err, errlen, "%lld hours asked for, at most %d in one workbook",
			       (long long)((q->to - q->from) / 3600 + 1), EXPORT_MAX_HOURS);
	if (xl_open(&x, path, err, errlen) < 0)
		return -1;
	lxw_worksheet *sum = workbook_add_worksheet(x.wb, "Summary");
	if (!sum) {
		x.err = LXW_ERROR_MEMORY_MALLOC_FAILED;
		return xl_close(&x, path, err, errlen);
	}
	export_format_hour(q->from, from, sizeof(from));
	export_format_hour(q->to, to, sizeof(to));
	rep->hours = (unsigned)((q->to - q->from) / 3600 + 1);
	buf_addf(&line, "Usage of account %s, hours %s to %s UTC (%u hours)", q->account, from,
		 to, rep->hours);
	put_str(&x, sum, 0, 0, line.data, x.title);
	put_str(&x, sum, 2, 0, "memory and disk per hour: the sum over VMs of the mean memory and "
		"the largest disk in that hour, so MiB-hours and GiB-hours; detail: one sheet per "
		"UTC day", NULL);
	for (size_t c = 0; c < NSUM; c++) {
		put_str(&x, sum, 4, (lxw_col_t)c, sum_cols[c], x.bold);
		worksheet_set_column(sum, (lxw_col_t)c, (lxw_col_t)c, c == 1 || c == 2 ? 24 : 18,
				     NULL);
	}
	worksheet_freeze_panes(sum, 5, 0);
	lxw_row_t r = 5;

	for (int64_t t = q->from; t <= q->to; t += 3600, r++) {
		char hour[32], file[4096], why[512];
		struct usage_hour h;
		struct sums s;
		time_t tt = (time_t)t;
		struct tm tm;

		export_format_hour(t, hour, sizeof(hour));
		if (!gmtime_r(&tt, &tm))
			continue;
		if (!d.ws || strncmp(d.date, hour, 10) != 0) {
			day_finish(&x, &d);
			snprintf(d.date, sizeof(d.date), "%.10s", hour);
			d.part = 1;
			if (day_sheet(&x, &d) < 0) {
				x.err = LXW_ERROR_MEMORY_MALLOC_FAILED;
				break;
			}
		}
		snprintf(file, sizeof(file), "%s/%s/%04d/%02d/%02d/%02d.bin", q->dir, q->account,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
		put_str(&x, sum, r, 0, hour, NULL);
		if (access(file, F_OK) != 0 && errno == ENOENT) {
			rep->missing++;
			buf_addf(&rep->notes, "%s: missing (%s)\n", hour, file);
			put_str(&x, sum, r, 1, "missing", NULL);
			continue;
		}
		if (export_load(file, &h, why, sizeof(why)) < 0) {
			rep->unreadable++;
			buf_addf(&rep->notes, "%s: unreadable: %s\n", hour, why);
			buf_reset(&line);
			buf_addf(&line, "unreadable: %s", why);
			put_str(&x, sum, r, 1, line.data, NULL);
			continue;
		}
		if (strcmp(h.account, q->account) != 0 || h.hour_start != t) {
			char other[32];
			export_format_hour(h.hour_start, other, sizeof(other));
			rep->unreadable++;
			buf_reset(&line);
			buf_addf(&line, "unreadable: '%s' holds account '%s', hour %s", file,
				 h.account, other);
			buf_addf(&rep->notes, "%s: %s\n", hour, line.data);
			put_str(&x, sum, r, 1, line.data, NULL);
			usage_hour_release(&h);
			continue;
		}
		if (h.complete) {
			rep->complete++;
		} else {
			rep->incomplete++;
			buf_addf(&rep->notes, "%s: incomplete (locations: ", hour);
			join_locations(&h, &rep->notes);
			buf_adds(&rep->notes, ")\n");
		}
		put_str(&x, sum, r, 1, h.complete ? "complete" : "incomplete", NULL);
		buf_reset(&line);
		join_locations(&h, &line);
		put_str(&x, sum, r, 2, line.data, NULL);
		hour_sums(&h, &s);
		put_num(&x, sum, r, 3, (long double)s.vms, x.integer);
		for (int k = 0; k < NFIG; k++)
			put_num(&x, sum, r, (lxw_col_t)(4 + k), s.f[k], num_format(&x, vm_cols[3 + k].kind, false));
		sums_add(&total, &s);
		if (day_add(&x, &d, hour, &h) < 0)
			x.err = LXW_ERROR_MEMORY_MALLOC_FAILED;
		usage_hour_release(&h);
	}
	day_finish(&x, &d);
	put_str(&x, sum, r, 0, "total", x.bold);
	put_num(&x, sum, r, 3, (long double)total.vms, x.int_b);
	for (int k = 0; k < NFIG; k++)
		put_num(&x, sum, r, (lxw_col_t)(4 + k), total.f[k], num_format(&x, vm_cols[3 + k].kind, true));
	buf_reset(&line);
	buf_addf(&line, "%u hours: %u complete, %u incomplete, %u missing, %u unreadable",
		 rep->hours, rep->complete, rep->incomplete, rep->missing, rep->unreadable);
	put_str(&x, sum, 1, 0, line.data, NULL);
	buf_release(&line);
	return xl_close(&x, path, err, errlen);
}

/* ---- the command ---- */

static int export_usage(void)
{
	fprintf(stderr,
		"usage: aggregatorctl export FILE.bin [-o OUT.xlsx | --csv]\n"
		"       aggregatorctl export --dir STATE_DIR/usage --account A --from YYYY-MM-DDTHH\n"
		"                            --to YYYY-MM-DDTHH -o OUT.xlsx\n");
	return 2;
}

/* The value of option `name` at argv[*i] ("--name V" or "--name=V"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int export_main(int argc, char **argv)
{
	const char *file = NULL, *out = NULL, *dir = NULL, *account = NULL, *from = NULL,
		   *to = NULL, *v;
	bool csv = false;
	char err[1024];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0)
			csv = true;
		else if ((v = opt_value(argc, argv, &i, "-o")) || (v = opt_value(argc, argv, &i, "--output")))
			out = v;
		else if ((v = opt_value(argc, argv, &i, "--dir")))
			dir = v;
		else if ((v = opt_value(argc, argv, &i, "--account")))
			account = v;
		else if ((v = opt_value(argc, argv, &i, "--from")))
			from = v;
		else if ((v = opt_value(argc, argv, &i, "--to")))
			to = v;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "aggregatorctl: export: unknown option or missing value '%s'\n",
				argv[i]);
			return export_usage();
		} else if (!file)
			file = argv[i];
		else
			return export_usage();
	}

	if (file) {
		if (dir || account || from || to || (csv == (out != NULL))) {
			fprintf(stderr, "aggregatorctl: export: give FILE.bin with either -o OUT.xlsx "
				"or --csv\n");
			return export_usage();
		}
		struct usage_hour h;
		if (export_load(file, &h, err, sizeof(err)) < 0) {
			fprintf(stderr, "aggregatorctl: export: %s\n", err);
			return 1;
		}
		int rc = csv ? export_csv(&h, stdout, err, sizeof(err))
			     : export_xlsx(&h, out, err, sizeof(err));
		usage_hour_release(&h);
		if (rc < 0) {
			fprintf(stderr, "aggregatorctl: export: %s\n", err);
			return 1;
		}
		return 0;
	}

	if (!dir || !account || !from || !to || !out || csv) {
		fprintf(stderr, "aggregatorctl: export: the invoice form needs --dir, --account, "
			"--from, --to and -o OUT.xlsx (no --csv)\n");
		return export_usage();
	}
	struct export_invoice q = { .dir = dir, .account = account };
	if (export_parse_hour(from, &q.from) < 0 || export_parse_hour(to, &q.to) < 0) {
		fprintf(stderr, "aggregatorctl: export: hours are YYYY-MM-DDTHH (UTC), got '%s' "
			"and '%s'\n", from, to);
		return 2;
	}
	struct export_report rep;
	int rc = export_invoice_xlsx(&q, out, &rep, err, sizeof(err));
	fputs(rep.notes.data, stderr);
	buf_release(&rep.notes);
	if (rc < 0) {
		fprintf(stderr, "aggregatorctl: export: %s\n", err);
		return 1;
	}
	fprintf(stderr, "aggregatorctl: export: wrote '%s': %u hours: %u complete, %u incomplete, "
		"%u missing, %u unreadable\n", out, rep.hours, rep.complete, rep.incomplete,
		rep.missing, rep.unreadable);
	return rep.unreadable ? 1 : 0;
}
