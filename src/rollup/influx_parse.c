/*
 * influx_parse.c — the rollup's InfluxDB response parser (pure: no I/O, no
 * network library): InfluxDB 1.x's chunked JSON fed in pieces of any size,
 * each series' rows fed to its VM's accumulator (vm_hour.c).
 *
 * Longer than 800 lines for one reason: it is one state machine (the
 * tokenizer and the semantic layer over it share the parser's state and
 * call each other per byte); cut in two, each half would need the other's
 * internals.
 *
 * DESIGN.
 * The answer format is InfluxDB 1.x's chunked JSON (chunked=true,
 * chunk_size=INFLUX_CHUNK_SIZE, epoch=s): a stream of {"results":[...]}
 * objects, one series (or a piece of one, marked "partial") per object,
 * series in tag order and points in time order.  The server sends it as it
 * reads (without chunked=true it builds the whole answer in its memory
 * first).  Chosen over Accept: application/csv, which InfluxDB 1.6 also
 * streams, because its CSV is lossy where billing cannot be: the tags
 * column is one CSV field holding "account=a,cloudspace=c,vm=v" with only
 * ',', ' ' and '=' backslash-escaped (a backslash itself is not, so a value
 * with a backslash before one of those is ambiguous); it repeats the tags
 * on every row (twice the bytes of JSON here); and a statement error such as
 * "database not found" comes back as an empty 200 answer.  JSON carries
 * tag values exactly (one caveat: InfluxDB's encoder turns invalid UTF-8
 * into U+FFFD, so two series whose tags differ only there decode alike: the
 * parser refuses an answer where a series key appears twice rather than
 * merge them).
 *
 * The parser is a push tokenizer (any split of the input, byte by byte
 * included) under a small semantic layer that knows the answer's shape by
 * the role of each open container: top, results, result, series list,
 * series, tags, columns, values, row; anything else is skipped.  It keeps
 * the current series' accumulator (struct vm_acc) and, for the check
 * above, the set of series keys already finished: memory follows the
 * number of VMs, never the number of points.  A VM's callback runs when its
 * series ends.  Strings are capped at INFLUX_MAX_STRING bytes, numbers at
 * 47 characters, nesting at 32 levels: hostile answers fail cleanly.
 */
#include "influx_parse.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "smap.h"

#define MAX_DEPTH 32		/* JSON nesting accepted */
#define MAX_NUMBER 47		/* characters in a JSON number */
#define NCOLS (1 + VM_NFIELDS)	/* time + the seven fields */

/* ---- JSON numbers ---- */

struct jnum {
	bool is_int;	/* no fraction, no exponent, and |v| fits in u */
	bool neg;
	uint64_t u;	/* magnitude when is_int */
	double d;	/* the value */
};

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Parse JSON number s[0..n) (NUL-terminated).  Exact integers; decimals by
 * the exact fast path when the mantissa fits 53 bits and the power of ten
 * 22, else strtod (C locale).  false when s is not a JSON number.
 */
static bool parse_number(const char *s, size_t n, struct jnum *o)
{
	size_t i = 0;
	uint64_t m = 0;
	int fracdigits = 0, exp = 0;
	bool frac = false, expo = false, big = false;

	o->neg = s[0] == '-';
	i = o->neg;
	if (i == n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9'))
		return false;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (m > (UINT64_MAX - 9) / 10)
			big = true;
		else
			m = m * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		frac = true;
		if (++i == n || s[i] < '0' || s[i] > '9')
			return false;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (m > (UINT64_MAX - 9) / 10) {
				big = true;
			} else {
				m = m * 10 + (uint64_t)(s[i] - '0');
				fracdigits++;
			}
		}
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		expo = true;
		i++;
		bool eneg = i < n && s[i] == '-';
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || s[i] < '0' || s[i] > '9')
			return false;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (exp < 100000)
				exp = exp * 10 + (s[i] - '0');
		if (eneg)
			exp = -exp;
	}
	if (i != n)
		return false;
	o->is_int = !frac && !expo && !big;
	o->u = m;
	int e10 = exp - fracdigits;
	if (!big && m <= (1ULL << 53) && e10 >= -22 && e10 <= 22)
		o->d = e10 < 0 ? (double)m / pow10_tab[-e10] : (double)m * pow10_tab[e10];
	else if (!big && !frac && !expo)
		o->d = (double)m;
	else
		o->d = strtod(s + o->neg, NULL);
	if (o->neg)
		o->d = -o->d;
	return true;
}

/* ---- the response parser ---- */

enum jstate {
	JS_VALUE,		/* a value (after ':' or ',' in an array) */
	JS_VALUE_OR_CLOSE,	/* after '[' */
	JS_KEY,			/* after ',' in an object */
	JS_KEY_OR_CLOSE,	/* after '{' */
	JS_COLON,		/* after a key */
	JS_AFTER,		/* after a value: ',' or a closer; at depth 0 the next object */
	JS_STRING, JS_ESCAPE, JS_UNICODE, JS_NUMBER, JS_LITERAL,
};

enum role { R_SKIP, R_TOP, R_RESULTS, R_RESULT, R_SERIES_LIST, R_SERIES, R_TAGS, R_COLUMNS, R_VALUES, R_ROW };
enum key { K_OTHER, K_RESULTS, K_ERROR, K_SERIES, K_PARTIAL, K_NAME, K_TAGS, K_COLUMNS, K_VALUES,
	   K_TAG0, K_TAG1, K_TAG2 };
enum scalar { S_STR, S_NUM, S_TRUE, S_FALSE, S_NULL };

struct frame {
	char type;		/* '{' or '[' */
	unsigned char role;	/* enum role */
	unsigned char key;	/* enum key: the member being read (objects) */
	uint32_t index;		/* element index (arrays) */
};


struct influx_parser {
	const char *tagname[3];		/* borrowed */
	long long hour_start, lo;	/* H, and H - lookback: older rows are ignored */
	influx_vm_cb cb;		/* NULL: parse only */
	void *arg;

	/* tokenizer */
	enum jstate st;
	int depth;
	struct frame fr[MAX_DEPTH];
	bool in_key;			/* the string being read is a member name */
	bool str_nul;			/* ... and holds a \u0000 */
	size_t slen;
	unsigned ucode, ucount, hisur;	/* \uXXXX being read; pending high surrogate */
	char num[MAX_NUMBER + 1];
	size_t nlen;
	const char *lit;		/* "true", "false", "null" being matched */
	size_t litpos;
	uint64_t offset;		/* bytes fed */
	uint64_t ntop;			/* top-level objects completed */

	/* the answer's meaning */
	struct buf tag[3];		/* the tags of the series object being read */
	bool tag_nul[3];
	int ncols;
	bool cols_ok;
	char colname[NCOLS][64];	/* for messages, truncated */
	struct vm_sample row;
	int rowcols;
	bool result_partial, series_partial, prev_partial;

	bool cur_active;		/* a series is open */
	struct buf cur[3];		/* its tags */
	struct vm_acc acc;

	struct smap seen;		/* series keys already finished (account \0 cloudspace \0 vm \0) */

	uint64_t points, series;
	bool failed, server_error;
	char err[512];
	char str[INFLUX_MAX_STRING + 8];	/* the string being read (decoded UTF-8) */
};

static int fail(struct influx_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct influx_parser *p, const char *fmt, ...)
{
	if (!p->failed) {
		char msg[400];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(p->err, sizeof(p->err), "bad answer at byte %llu: %s",
			 (unsigned long long)p->offset, msg);
		p->failed = true;
	}
	return -1;
}

static int fail_server(struct influx_parser *p, const char *msg, size_t len)
{
	if (!p->failed) {
		if (len == 0)
			snprintf(p->err, sizeof(p->err), "InfluxDB reported an error without a message");
		else
			snprintf(p->err, sizeof(p->err), "%.*s", (int)(len > 400 ? 400 : len), msg);
		p->failed = true;
		p->server_error = true;
	}
	return -1;
}

struct influx_parser *influx_parser_new(const char *const tags[3], long long hour_start,
					int lookback_s, influx_vm_cb cb, void *arg)
{
	struct influx_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	for (int i = 0; i < 3; i++) {
		p->tagname[i] = tags[i];
		buf_init(&p->tag[i]);
		buf_init(&p->cur[i]);
	}
	p->hour_start = hour_start;
	p->lo = hour_start - (lookback_s > 0 ? lookback_s : 0);
	p->cb = cb;
	p->arg = arg;
	p->st = JS_AFTER;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	smap_init(&p->seen, (uint64_t)(uintptr_t)p ^
				    ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) * 0x9e3779b97f4a7c15ULL);
	return p;
}

void influx_parser_free(struct influx_parser *p)
{
	if (!p)
		return;
	for (int i = 0; i < 3; i++) {
		buf_release(&p->tag[i]);
		buf_release(&p->cur[i]);
	}
	smap_release(&p->seen);
	free(p);
}

const char *influx_parser_error(const struct influx_parser *p)
{
	return p->failed ? p->err : "";
}

bool influx_parser_server_error(const struct influx_parser *p)
{
	return p->server_error;
}

void influx_parser_counts(const struct influx_parser *p, struct influx_stats *st)
{
	st->points = p->points;
	st->series = p->series;
	st->bytes = p->offset;
}

/* -- the set of finished series keys -- */

/* -- series -- */

static int finish_series(struct influx_parser *p)
{
	if (!p->cur_active)
		return 0;
	p->cur_active = false;
	struct vm_hour h;
	if (p->cb && vm_acc_result(&p->acc, &h) &&
	    p->cb(p->cur[0].data, p->cur[1].data, p->cur[2].data, &h, p->arg) != 0) {
		snprintf(p->err, sizeof(p->err), "aborted by the callback");
		p->failed = true;
		return -1;
	}
	return 0;
}

static bool same_tags(const struct influx_parser *p)
{
	for (int i = 0; i < 3; i++)
		if (p->tag[i].len != p->cur[i].len || memcmp(p->tag[i].data, p->cur[i].data, p->tag[i].len))
			return false;
	return true;
}

/* The "values" of a series object begin: continue the open series or start one. */
static int start_series(struct influx_parser *p)
{
	if (!p->cols_ok)
		return fail(p, "series values before its columns");
	for (int i = 0; i < 3; i++)
		if (p->tag_nul[i])
			return fail(p, "tag '%s' of a series holds a NUL byte", p->tagname[i]);
	bool cont = p->cur_active && p->prev_partial && same_tags(p);
	p->prev_partial = false;
	if (cont)
		return 0;
	if (finish_series(p) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		buf_reset(&p->cur[i]);
		buf_add(&p->cur[i], p->tag[i].data, p->tag[i].len);
		if (p->cur[i].oom)
			return fail(p, "out of memory");
	}
	p->series++;
	if (p->cb) {
		struct buf k = BUF_INIT;
		for (int i = 0; i < 3; i++)
			buf_add(&k, p->cur[i].data, p->cur[i].len + 1);
		int rc = k.oom ? -1 : smap_add(&p->seen, k.data, k.len, 0);
		buf_release(&k);
		if (rc < 0)
			return fail(p, "out of memory");
		if (rc > 0)
			return fail(p, "series %s='%.60s' %s='%.60s' %s='%.60s' appears twice (tag values "
				    "differing only in invalid UTF-8 read back alike)",
				    p->tagname[0], p->cur[0].data, p->tagname[1], p->cur[1].data,
				    p->tagname[2], p->cur[2].data);
	}
	vm_acc_init(&p->acc, p->hour_start);
	p->cur_active = true;
	return 0;
}

static int end_row(struct influx_parser *p)
{
	if (p->rowcols != p->ncols)
		return fail(p, "a row has %d values for %d columns", p->rowcols, p->ncols);
	p->points++;
	if (!p->cb || p->row.t < p->lo)
		return 0;
	if (vm_acc_add(&p->acc, &p->row) < 0)
		return fail(p, "samples not in time order (or two at time %lld) in series %s='%.60s' "
			    "%s='%.60s' %s='%.60s': is a tag name wrong?", p->row.t,
			    p->tagname[0], p->cur[0].data, p->tagname[1], p->cur[1].data,
			    p->tagname[2], p->cur[2].data);
	return 0;
}

/* A value in a row: column col (0 = time). */
static int row_value(struct influx_parser *p, int col, enum scalar kind)
{
	if (col >= p->ncols)
		return fail(p, "a row has more values than columns");
	p->rowcols = col + 1;
	if (kind == S_NULL && col > 0)
		return 0;
	if (kind != S_NUM)
		return fail(p, "column '%s' holds a %s, not a number", p->colname[col],
			    kind == S_STR ? "string" : kind == S_NULL ? "null" : "boolean");
	struct jnum v;
	if (!parse_number(p->num, p->nlen, &v))
		return fail(p, "bad number '%s'", p->num);
	if (col == 0) {
		if (!v.is_int || v.u > (uint64_t)LLONG_MAX)
			return fail(p, "time '%s' is not an integer (epoch=s)", p->num);
		p->row.t = v.neg ? -(long long)v.u : (long long)v.u;
		return 0;
	}
	int f = col - 1;
	switch (f) {
	case VM_MEM:
		p->row.mem_mib = v.d;
		break;
	case VM_DISK:
		p->row.disk_gib = v.d;
		break;
	case VM_CPU:
		if (v.d < 0)
			return 0;	/* a negative counter: absent */
		p->row.cpu_seconds = v.d;
		break;
	default: {
		uint64_t u;
		if (v.d < 0)
			return 0;	/* a negative counter: absent */
		if (v.is_int) {
			u = v.u;
		} else if (v.d < 18446744073709551616.0) {
			u = (uint64_t)v.d;	/* then rounded to nearest */
			if (v.d - (double)u >= 0.5 && u != UINT64_MAX)
				u++;
		} else
			return fail(p, "counter '%s' value %s is out of range", p->colname[col], p->num);
		const int k = f - VM_IO_READ;
		uint64_t *dst[4] = { &p->row.io_read, &p->row.io_write, &p->row.net_tx_bytes,
				     &p->row.net_rx_bytes };
		*dst[k] = u;
	}
	}
	p->row.have |= 1u << f;
	return 0;
}

/* A scalar value completed (string in p->str, number in p->num). */
static int on_scalar(struct influx_parser *p, enum scalar kind)
{
	if (p->depth == 0)
		return fail(p, "the answer is not a JSON object");
	struct frame *f = &p->fr[p->depth - 1];
	switch (f->role) {
	case R_TOP:
	case R_RESULT:
		if (f->key == K_ERROR && kind == S_STR)
			return fail_server(p, p->str, p->slen);
		if (f->role == R_RESULT && f->key == K_PARTIAL)
			p->result_partial = kind == S_TRUE;
		else if ((f->key == K_RESULTS || f->key == K_SERIES) && kind != S_NULL)
			return fail(p, "'%s' is not an array", f->key == K_RESULTS ? "results" : "series");
		return 0;
	case R_SERIES:
		if (f->key == K_PARTIAL)
			p->series_partial = kind == S_TRUE;
		else if (f->key == K_TAGS || f->key == K_COLUMNS || f->key == K_VALUES)
			return fail(p, "a series member has the wrong type");
		return 0;
	case R_TAGS:
		if (f->key >= K_TAG0 && f->key <= K_TAG2) {
			int i = f->key - K_TAG0;
			if (kind != S_STR && kind != S_NULL)
				return fail(p, "tag '%s' is not a string", p->tagname[i]);
			buf_reset(&p->tag[i]);
			if (kind == S_STR)
				buf_add(&p->tag[i], p->str, p->slen);
			p->tag_nul[i] = kind == S_STR && p->str_nul;
			if (p->tag[i].oom)
				return fail(p, "out of memory");
		}
		return 0;
	case R_COLUMNS:
		if (kind != S_STR)
			return fail(p, "a column name is not a string");
		if (f->index >= NCOLS)
			return fail(p, "more columns than asked for");
		if (f->index == 0 && (p->slen != 4 || memcmp(p->str, "time", 4) != 0))
			return fail(p, "the first column is not 'time'");
		snprintf(p->colname[f->index], sizeof(p->colname[0]), "%.*s",
			 (int)(p->slen > 63 ? 63 : p->slen), p->str);
		p->ncols = (int)f->index + 1;
		return 0;
	case R_VALUES:
		return fail(p, "a row is not an array");
	case R_ROW:
		return row_value(p, (int)f->index, kind);
	default:
		return 0;
	}
}

static int on_key(struct influx_parser *p)
{
	struct frame *f = &p->fr[p->depth - 1];
#define IS(s) (p->slen == sizeof(s) - 1 && memcmp(p->str, s, sizeof(s) - 1) == 0)
	f->key = K_OTHER;
	switch (f->role) {
	case R_TOP:
		f->key = IS("results") ? K_RESULTS : IS("error") ? K_ERROR : K_OTHER;
		break;
	case R_RESULT:
		f->key = IS("series") ? K_SERIES : IS("error") ? K_ERROR : IS("partial") ? K_PARTIAL : K_OTHER;
		break;
	case R_SERIES:
		f->key = IS("tags") ? K_TAGS : IS("columns") ? K_COLUMNS : IS("values") ? K_VALUES
		       : IS("partial") ? K_PARTIAL : IS("name") ? K_NAME : K_OTHER;
		break;
	case R_TAGS:
		for (int i = 0; i < 3; i++)
			if (p->slen == strlen(p->tagname[i]) && memcmp(p->str, p->tagname[i], p->slen) == 0)
				f->key = (unsigned char)(K_TAG0 + i);
		break;
	default:
		break;
	}
#undef IS
	return 0;
}

static int begin_container(struct influx_parser *p, char type)
{
	if (p->depth == MAX_DEPTH)
		return fail(p, "nested deeper than %d", MAX_DEPTH);
	enum role role = R_SKIP;
	if (p->depth == 0) {
		if (type != '{')
			return fail(p, "the answer is not a JSON object");
		role = R_TOP;
	} else {
		const struct frame *up = &p->fr[p->depth - 1];
		enum role want = R_SKIP;
		char wtype = type;
		switch (up->role) {
		case R_TOP:
			if (up->key == K_RESULTS)
				want = R_RESULTS, wtype = '[';
			else if (up->key == K_ERROR)
				return fail(p, "'error' is not a string");
			break;
		case R_RESULTS:
			want = R_RESULT, wtype = '{';
			break;
		case R_RESULT:
			if (up->key == K_SERIES)
				want = R_SERIES_LIST, wtype = '[';
			else if (up->key == K_ERROR)
				return fail(p, "'error' is not a string");
			break;
		case R_SERIES_LIST:
			want = R_SERIES, wtype = '{';
			break;
		case R_SERIES:
			if (up->key == K_TAGS)
				want = R_TAGS, wtype = '{';
			else if (up->key == K_COLUMNS)
				want = R_COLUMNS, wtype = '[';
			else if (up->key == K_VALUES)
				want = R_VALUES, wtype = '[';
			break;
		case R_TAGS:
			if (up->key != K_OTHER)
				return fail(p, "a tag value is not a string");
			break;
		case R_COLUMNS:
			return fail(p, "a column name is not a string");
		case R_VALUES:
			want = R_ROW, wtype = '[';
			break;
		case R_ROW:
			return fail(p, "a row holds a nested value");
		default:
			break;
		}
		if (want != R_SKIP && wtype != type)
			return fail(p, "unexpected '%c' in the answer's structure", type);
		role = want;
	}
	p->fr[p->depth++] = (struct frame){ .type = type, .role = (unsigned char)role };
	switch (role) {
	case R_RESULT:
		p->result_partial = false;
		break;
	case R_SERIES:
		for (int i = 0; i < 3; i++) {
			buf_reset(&p->tag[i]);
			p->tag_nul[i] = false;
		}
		p->ncols = 0;
		p->cols_ok = false;
		p->series_partial = false;
		break;
	case R_VALUES:
		return start_series(p);
	case R_ROW:
		p->row = (struct vm_sample){ 0 };
		p->rowcols = 0;
		break;
	default:
		break;
	}
	return 0;
}

static int end_container(struct influx_parser *p, char closer)
{
	struct frame *f = &p->fr[p->depth - 1];
	if ((closer == '}') != (f->type == '{'))
		return fail(p, "unexpected '%c'", closer);
	p->depth--;
	switch (f->role) {
	case R_TOP:
		p->ntop++;
		break;
	case R_COLUMNS:
		if (p->ncols != NCOLS)
			return fail(p, "%d columns where %d were asked for", p->ncols, NCOLS);
		p->cols_ok = true;
		break;
	case R_SERIES:
		p->prev_partial = p->series_partial;
		break;
	case R_ROW:
		return end_row(p);
	default:
		break;
	}
	return 0;
}

/* A value finished: what may come next. */
static void after_value(struct influx_parser *p)
{
	p->st = JS_AFTER;
}

static int str_add(struct influx_parser *p, const char *s, size_t n)
{
	if (n > INFLUX_MAX_STRING - p->slen)
		return fail(p, "a string longer than %d bytes", INFLUX_MAX_STRING);
	memcpy(p->str + p->slen, s, n);
	p->slen += n;
	return 0;
}

static int str_add_cp(struct influx_parser *p, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	}
	if (cp == 0)
		p->str_nul = true;
	return str_add(p, u, n);
}

/* A lone high surrogate before anything but its low half: U+FFFD. */
static int flush_surrogate(struct influx_parser *p)
{
	if (!p->hisur)
		return 0;
	p->hisur = 0;
	return str_add_cp(p, 0xfffd);
}

static int end_string(struct influx_parser *p)
{
	if (flush_surrogate(p) < 0)
		return -1;
	p->str[p->slen] = '\0';
	if (p->in_key) {
		p->st = JS_COLON;
		return on_key(p);
	}
	after_value(p);
	return on_scalar(p, S_STR);
}

static int end_number(struct influx_parser *p)
{
	p->num[p->nlen] = '\0';
	after_value(p);
	return on_scalar(p, S_NUM);
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The start of a value (or a closer where one is allowed). */
static int value_start(struct influx_parser *p, char c)
{
	switch (c) {
	case '{':
		p->st = JS_KEY_OR_CLOSE;
		return begin_container(p, '{');
	case '[':
		p->st = JS_VALUE_OR_CLOSE;
		return begin_container(p, '[');
	case '"':
		p->st = JS_STRING;
		p->in_key = false;
		p->str_nul = false;
		p->slen = 0;
		return 0;
	case 't': case 'f': case 'n':
		p->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		p->litpos = 1;
		p->st = JS_LITERAL;
		return 0;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			p->num[0] = c;
			p->nlen = 1;
			p->st = JS_NUMBER;
			return 0;
		}
		return fail(p, "unexpected byte 0x%02x", (unsigned char)c);
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int influx_parser_feed(struct influx_parser *p, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (p->failed)
			return -1;
		char c = data[i];
		switch (p->st) {
		case JS_STRING: {
			size_t j = i;
			while (j < len && data[j] != '"' && data[j] != '\\' && (unsigned char)data[j] >= 0x20)
				j++;
			if (j > i && p->hisur && flush_surrogate(p) < 0)
				return -1;
			if (j - i > INFLUX_MAX_STRING - p->slen) {
				/* name the first byte past the limit, however the answer was cut */
				p->offset += INFLUX_MAX_STRING - p->slen;
				return fail(p, "a string longer than %d bytes", INFLUX_MAX_STRING);
			}
			if (j > i && str_add(p, data + i, j - i) < 0)
				return -1;
			p->offset += j - i;
			i = j;
			if (i == len)
				return 0;
			c = data[i];
			if (c == '"') {
				i++, p->offset++;
				if (end_string(p) < 0)
					return -1;
			} else if (c == '\\') {
				i++, p->offset++;
				p->st = JS_ESCAPE;
			} else {
				return fail(p, "a control byte in a string");
			}
			continue;
		}
		case JS_ESCAPE: {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *e = c ? strchr(from, c) : NULL;
			i++, p->offset++;
			if (c == 'u') {
				p->ucode = 0;
				p->ucount = 0;
				p->st = JS_UNICODE;
				continue;
			}
			if (!e)
				return fail(p, "bad escape '\\%c' in a string", c);
			if (flush_surrogate(p) < 0 || str_add(p, &to[e - from], 1) < 0)
				return -1;
			p->st = JS_STRING;
			continue;
		}
		case JS_UNICODE: {
			int h = hexval(c);
			if (h < 0)
				return fail(p, "bad \\u escape in a string");
			i++, p->offset++;
			p->ucode = p->ucode << 4 | (unsigned)h;
			if (++p->ucount < 4)
				continue;
			p->st = JS_STRING;
			unsigned cp = p->ucode;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (flush_surrogate(p) < 0)
					return -1;
				p->hisur = cp;
				continue;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				if (!p->hisur)
					cp = 0xfffd;
				else
					cp = 0x10000 + ((p->hisur - 0xd800) << 10) + (cp - 0xdc00);
				p->hisur = 0;
			} else if (flush_surrogate(p) < 0) {
				return -1;
			}
			if (str_add_cp(p, cp) < 0)
				return -1;
			continue;
		}
		case JS_NUMBER: {
			size_t j = i;
			while (j < len && is_num_char(data[j]))
				j++;
			if (j - i > MAX_NUMBER - p->nlen) {
				p->offset += MAX_NUMBER - p->nlen;	/* the first character past the limit */
				return fail(p, "a number longer than %d characters", MAX_NUMBER);
			}
			memcpy(p->num + p->nlen, data + i, j - i);
			p->nlen += j - i;
			p->offset += j - i;
			i = j;
			if (i == len)
				return 0;
			if (end_number(p) < 0)
				return -1;
			continue;	/* data[i] is read again as what follows */
		}
		case JS_LITERAL:
			if (c != p->lit[p->litpos])
				return fail(p, "bad literal (expected '%s')", p->lit);
			i++, p->offset++;
			if (p->lit[++p->litpos] == '\0') {
				after_value(p);
				if (on_scalar(p, p->lit[0] == 't' ? S_TRUE : p->lit[0] == 'f' ? S_FALSE
							     : S_NULL) < 0)
					return -1;
			}
			continue;
		default:
			break;
		}
		/* structural states: skip white space */
		i++, p->offset++;
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		int rc = 0;
		switch (p->st) {
		case JS_VALUE:
			rc = value_start(p, c);
			break;
		case JS_VALUE_OR_CLOSE:
			if (c == ']') {
				after_value(p);
				rc = end_container(p, c);
			} else {
				rc = value_start(p, c);
			}
			break;
		case JS_KEY_OR_CLOSE:
		case JS_KEY:
			if (c == '"') {
				p->st = JS_STRING;
				p->in_key = true;
				p->str_nul = false;
				p->slen = 0;
			} else if (c == '}' && p->st == JS_KEY_OR_CLOSE) {
				after_value(p);
				rc = end_container(p, c);
			} else {
				rc = fail(p, "expected a member name");
			}
			break;
		case JS_COLON:
			rc = c == ':' ? (p->st = JS_VALUE, 0) : fail(p, "expected ':'");
			break;
		case JS_AFTER:
			if (p->depth == 0) {
				rc = c == '{' ? value_start(p, c) : fail(p, "expected '{' to begin an answer");
			} else if (c == ',') {
				struct frame *f = &p->fr[p->depth - 1];
				if (f->type == '[')
					f->index++;
				p->st = f->type == '[' ? JS_VALUE : JS_KEY;
			} else if (c == ']' || c == '}') {
				rc = end_container(p, c);
			} else {
				rc = fail(p, "expected ',' or a closing bracket");
			}
			break;
		default:
			rc = fail(p, "internal parser state");
			break;
		}
		if (rc < 0)
			return -1;
	}
	return p->failed ? -1 : 0;
}

int influx_parser_finish(struct influx_parser *p)
{
	if (p->failed)
		return -1;
	if (p->depth != 0 || p->st != JS_AFTER)
		return fail(p, "the answer ends inside a JSON value (truncated)");
	if (p->ntop == 0)
		return fail(p, "the answer is empty");
	if (p->result_partial)
		return fail(p, "the answer ends where InfluxDB said more would follow (truncated)");
	return finish_series(p);
}
