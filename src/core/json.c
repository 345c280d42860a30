/*
 * json.c — JSON string writer and a small recursive-descent parser.
 *
 * The writer escapes what RFC 8259 requires and passes other bytes through;
 * callers give it UTF-8 (or printable ASCII keys).  The parser is for the
 * daemon's own replies, read by aggregatorctl, but it is strict and bounded
 * so hostile input fails with a message instead of a crash.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_add_strn(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	buf_addc(b, '"');
	size_t run = 0;		/* start of the pending run of bytes that need no escape */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\r': buf_adds(b, "\\r"); break;
		case '\t': buf_adds(b, "\\t"); break;
		default: {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			buf_add(b, esc, 6);
		}
		}
	}
	buf_add(b, s + run, n - run);
	buf_addc(b, '"');
}

void json_add_str(struct buf *b, const char *s)
{
	json_add_strn(b, s ? s : "", s ? strlen(s) : 0);
}

/* ---- the object writer ---- */

void jw_init(struct jw *w, struct buf *b)
{
	*w = (struct jw){ .b = b };
}

void jw_init_members(struct jw *w, struct buf *b)
{
	*w = (struct jw){ .b = b, .depth = 1 };
	w->base = 1;
}

/* Before a value: the comma after the previous element of the container. */
static void jw_value(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->more[w->depth])
		buf_addc(w->b, ',');
	w->more[w->depth] = true;
}

static void jw_open(struct jw *w, bool arr)
{
	jw_value(w);
	buf_addc(w->b, arr ? '[' : '{');
	if (w->depth < JSON_MAX_DEPTH)
		w->depth++;
	w->more[w->depth] = false;
	w->arr[w->depth] = arr;
}

void jw_obj(struct jw *w)
{
	jw_open(w, false);
}

void jw_arr(struct jw *w)
{
	jw_open(w, true);
}

void jw_end(struct jw *w)
{
	if (w->depth <= w->base)
		return;
	buf_addc(w->b, w->arr[w->depth] ? ']' : '}');
	w->depth--;
}

void jw_key(struct jw *w, const char *k)
{
	jw_value(w);
	json_add_str(w->b, k);
	buf_addc(w->b, ':');
	w->after_key = true;
}

void jw_str(struct jw *w, const char *s)
{
	jw_value(w);
	if (s)
		json_add_str(w->b, s);
	else
		buf_adds(w->b, "null");
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	jw_value(w);
	json_add_strn(w->b, s, n);
}

void jw_i64(struct jw *w, long long v)
{
	jw_value(w);
	buf_addf(w->b, "%lld", v);
}

void jw_u64(struct jw *w, unsigned long long v)
{
	jw_value(w);
	buf_addf(w->b, "%llu", v);
}

void jw_f64(struct jw *w, double v)
{
	jw_value(w);
	if (!isfinite(v)) {
		buf_adds(w->b, "null");
		return;
	}
	char s[40];
	for (int prec = 15; prec <= 17; prec++) {	/* the shortest text that reads back exactly */
		snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	buf_adds(w->b, s);
}

void jw_bool(struct jw *w, bool v)
{
	jw_value(w);
	buf_adds(w->b, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	jw_value(w);
	buf_adds(w->b, "null");
}

void jw_num_text(struct jw *w, const char *s, size_t n)
{
	jw_value(w);
	buf_add(w->b, s, n);
}

void jw_raw_next(struct jw *w)
{
	jw_value(w);
}

void jw_kv_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void jw_kv_i64(struct jw *w, const char *k, long long v)
{
	jw_key(w, k);
	jw_i64(w, v);
}

void jw_kv_u64(struct jw *w, const char *k, unsigned long long v)
{
	jw_key(w, k);
	jw_u64(w, v);
}

void jw_kv_f64(struct jw *w, const char *k, double v)
{
	jw_key(w, k);
	jw_f64(w, v);
}

void jw_kv_bool(struct jw *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}

void jw_kv_null(struct jw *w, const char *k)
{
	jw_key(w, k);
	jw_null(w);
}

/* ---- parser ---- */


struct parser {
	const char *p, *end, *start;
	char *err;
	size_t errlen;
	int depth;
};

static int perr(struct parser *ps, const char *what)
{
	if (ps->err && !ps->err[0]) {
		if (ps->p < ps->end)
			snprintf(ps->err, ps->errlen, "%s at byte %zu ('%c')", what,
				 (size_t)(ps->p - ps->start),
				 (*ps->p >= 0x20 && *ps->p < 0x7f) ? *ps->p : '?');
		else
			snprintf(ps->err, ps->errlen, "%s at end of input", what);
	}
	return -1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int parse_hex4(struct parser *ps, unsigned *out)
{
	if (ps->end - ps->p < 4)
		return perr(ps, "short \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(ps->p[i]);
		if (h < 0)
			return perr(ps, "bad \\u escape");
		v = v * 16 + (unsigned)h;
	}
	ps->p += 4;
	*out = v;
	return 0;
}

static void add_utf8(struct buf *b, unsigned cp)
{
	if (cp < 0x80) {
		buf_addc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_addc(b, (char)(0xc0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addc(b, (char)(0xe0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addc(b, (char)(0xf0 | (cp >> 18)));
		buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

/* Parse a string at ps->p (which points at '"'); returns malloc'd text. */
static char *parse_string(struct parser *ps)
{
	struct buf b = BUF_INIT;

	ps->p++;
	for (;;) {
		if (ps->p >= ps->end) {
			perr(ps, "unterminated string");
			goto fail;
		}
		unsigned char c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c < 0x20) {
			ps->p--;
			perr(ps, "control character in string");
			goto fail;
		}
		if (c != '\\') {
			buf_addc(&b, (char)c);
			continue;
		}
		if (ps->p >= ps->end) {
			perr(ps, "unterminated escape");
			goto fail;
		}
		char e = *ps->p++;
		unsigned cp;
		switch (e) {
		case '"': buf_addc(&b, '"'); break;
		case '\\': buf_addc(&b, '\\'); break;
		case '/': buf_addc(&b, '/'); break;
		case 'b': buf_addc(&b, '\b'); break;
		case 'f': buf_addc(&b, '\f'); break;
		case 'n': buf_addc(&b, '\n'); break;
		case 'r': buf_addc(&b, '\r'); break;
		case 't': buf_addc(&b, '\t'); break;
		case 'u':
			if (parse_hex4(ps, &cp) < 0)
				goto fail;
			if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 &&
			    ps->p[0] == '\\' && ps->p[1] == 'u') {
				unsigned lo;
				ps->p += 2;
				if (parse_hex4(ps, &lo) < 0)
					goto fail;
				if (lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					cp = 0xfffd;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			add_utf8(&b, cp);
			break;
		default:
			ps->p--;
			perr(ps, "bad escape");
			goto fail;
		}
	}
	char *s = buf_detach(&b, NULL);
	if (!s)
		perr(ps, "out of memory");
	return s;
fail:
	buf_release(&b);
	return NULL;
}

static struct json *parse_value(struct parser *ps);

static struct json *new_node(struct parser *ps, enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));
	if (!j)
		perr(ps, "out of memory");
	else
		j->type = t;
	return j;
}

static struct json *parse_container(struct parser *ps, bool obj)
{
	struct json *j = new_node(ps, obj ? JSON_OBJ : JSON_ARR);
	struct json **tail;
	char close = obj ? '}' : ']';

	if (!j)
		return NULL;
	if (++ps->depth > JSON_MAX_DEPTH) {
		perr(ps, "nesting too deep");
		goto fail;
	}
	tail = &j->child;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(ps);
		if (obj) {
			if (ps->p >= ps->end || *ps->p != '"') {
				perr(ps, "expected member name");
				goto fail;
			}
			key = parse_string(ps);
			if (!key)
				goto fail;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				free(key);
				perr(ps, "expected ':'");
				goto fail;
			}
			ps->p++;
		}
		struct json *v = parse_value(ps);
		if (!v) {
			free(key);
			goto fail;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		perr(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
		goto fail;
	}
	ps->depth--;
	return j;
fail:
	json_free(j);
	return NULL;
}

static int match_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
		ps->p += n;
		return 1;
	}
	return 0;
}

static struct json *parse_number(struct parser *ps)
{
	const char *s = ps->p;
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
		perr(ps, "bad number");
		return NULL;
	}
	while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '.' ||
				   *ps->p == 'e' || *ps->p == 'E' || *ps->p == '+' ||
				   *ps->p == '-'))
		ps->p++;
	size_t n = (size_t)(ps->p - s);
	if (n > 64) {
		perr(ps, "number too long");
		return NULL;
	}
	char tmp[65];
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	char *endp;
	double d = strtod(tmp, &endp);
	if (*endp != '\0' || !isfinite(d)) {
		ps->p = s;
		perr(ps, "bad number");
		return NULL;
	}
	struct json *j = new_node(ps, JSON_NUM);
	if (!j)
		return NULL;
	j->num = d;
	j->str = strdup(tmp);
	if (!j->str) {
		free(j);
		perr(ps, "out of memory");
		return NULL;
	}
	return j;
}

static struct json *parse_value(struct parser *ps)
{
	struct json *j;

	skip_ws(ps);
	if (ps->p >= ps->end) {
		perr(ps, "expected a value");
		return NULL;
	}
	switch (*ps->p) {
	case '{': return parse_container(ps, true);
	case '[': return parse_container(ps, false);
	case '"':
		j = new_node(ps, JSON_STR);
		if (!j)
			return NULL;
		j->str = parse_string(ps);
		if (!j->str) {
			free(j);
			return NULL;
		}
		return j;
	case 't':
	case 'f':
	case 'n':
		if (match_word(ps, "true") || match_word(ps, "false")) {
			j = new_node(ps, JSON_BOOL);
			if (j)
				j->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
			return j;
		}
		if (match_word(ps, "null"))
			return new_node(ps, JSON_NULL);
		perr(ps, "unexpected word");
		return NULL;
	default:
		return parse_number(ps);
	}
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = { text, text + len, text, err, errlen, 0 };

	if (err && errlen)
		err[0] = '\0';
	struct json *j = parse_value(&ps);
	if (!j)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		perr(&ps, "trailing data");
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
		j = next;
	}
}

const struct json *json_get(const struct json *j, const char *key)
{
	if (!j || j->type != JSON_OBJ)
		return NULL;
	for (const struct json *c = j->child; c; c = c->next)
		if (c->key && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const char *json_get_str(const struct json *j, const char *key, const char *dflt)
{
	const struct json *v = json_get(j, key);
	return v && v->type == JSON_STR ? v->str : dflt;
}

double json_get_num(const struct json *j, const char *key, double dflt)
{
	const struct json *v = json_get(j, key);
	return v && v->type == JSON_NUM ? v->num : dflt;
}
