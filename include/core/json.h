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
