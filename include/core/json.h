/*
 * json.h — the little JSON the daemon speaks: a writer onto struct buf
 * (status, totals, Kafka events, HTTP errors) and a small tree parser for
 * aggregatorctl, which reads the daemon's answers.
 *
 * The parser takes bounded input (depth <= JSON_MAX_DEPTH) and builds a tree
 * the caller frees with json_free().  Strings are decoded to UTF-8.
 */
#ifndef AGG_JSON_H
#define AGG_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define JSON_MAX_DEPTH 64

/* Append s as a quoted JSON string (control bytes escaped, UTF-8 kept). */
void json_add_str(struct buf *b, const char *s);
void json_add_strn(struct buf *b, const char *s, size_t n);

/*
 * The object writer: JSON built member by member, with the commas placed by
 * the writer, never by hand at each call site.  Compact output (no spaces).
 * A writer appends to a buf the caller owns (it may hold text already); it
 * allocates nothing itself.  Nesting up to JSON_MAX_DEPTH.
 *
 *	struct jw w;
 *	jw_init(&w, out);
 *	jw_obj(&w);
 *	jw_kv_str(&w, "node", name);
 *	jw_key(&w, "jobs"); jw_arr(&w); ... jw_end(&w);
 *	jw_end(&w);
 */
struct jw {
	struct buf *b;
	int depth;			/* open containers */
	bool more[JSON_MAX_DEPTH + 1];	/* the container at this depth has an element */
	bool arr[JSON_MAX_DEPTH + 1];	/* ... and is an array */
	bool after_key;			/* a key was written: the value needs no comma */
	int base;			/* depth jw_end never closes (1 for jw_init_members) */
};

void jw_init(struct jw *w, struct buf *b);
/* The members of an object whose braces another writes (an event body the
 * publish path wraps in its head): no '{' now, and none closes it. */
void jw_init_members(struct jw *w, struct buf *b);
void jw_obj(struct jw *w);		/* { as the next value */
void jw_arr(struct jw *w);		/* [ as the next value */
void jw_end(struct jw *w);		/* close the innermost */
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s);	/* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_i64(struct jw *w, long long v);
void jw_u64(struct jw *w, unsigned long long v);
void jw_f64(struct jw *w, double v);	/* shortest exact text; NaN and infinities as null */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A number already in JSON's syntax as text (an integer column, a key field). */
void jw_num_text(struct jw *w, const char *s, size_t n);
/* A value written by the caller straight into w->b after this call (e.g. a
 * module's own status object): the writer places the comma before it. */
void jw_raw_next(struct jw *w);
/* Members in one call: key, then the value. */
void jw_kv_str(struct jw *w, const char *k, const char *v);
void jw_kv_i64(struct jw *w, const char *k, long long v);
void jw_kv_u64(struct jw *w, const char *k, unsigned long long v);
void jw_kv_f64(struct jw *w, const char *k, double v);
void jw_kv_bool(struct jw *w, const char *k, bool v);
void jw_kv_null(struct jw *w, const char *k);

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_type type;
	char *key;		/* member name when inside an object, else NULL */
	bool boolean;		/* JSON_BOOL */
	double num;		/* JSON_NUM */
	char *str;		/* JSON_STR (decoded) or the number's text */
	struct json *child;	/* first element/member of ARR/OBJ */
	struct json *next;	/* next sibling */
};

/*
 * Parse text[0..len).  Returns the root (caller frees with json_free()), or
 * NULL with a message in err (e.g. "unexpected 'x' at byte 12").
 */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);

/* Member `key` of object j, or NULL (also when j is NULL or not an object). */
const struct json *json_get(const struct json *j, const char *key);
/* Convenience readers with a fallback when absent or of another type. */
const char *json_get_str(const struct json *j, const char *key, const char *dflt);
double json_get_num(const struct json *j, const char *key, double dflt);

#endif
