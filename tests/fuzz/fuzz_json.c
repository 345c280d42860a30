/*
 * fuzz_json.c — libFuzzer target for the JSON tree parser (src/core/json.c),
 * which aggregatorctl and the rollup master use to read answers off the
 * network; built and run by `make fuzz` with ASan and UBSan.
 *
 * Each input is parsed.  A refusal must come with a message.  An accepted
 * tree is written back out with the daemon's own JSON writer (json_add_str
 * for strings and keys, the number's text as parsed) and parsed again: the
 * second tree must equal the first, node by node.  And the input cut at
 * every byte (inputs up to 512 bytes; a few cuts for longer ones) must never
 * crash and, when refused, say why.  Anything else is a crash the fuzzer
 * reports.
 *
 * Seeds: tests/fuzz/corpus/json (answers of /v1/status, /v1/totals and
 * /v1/usage listings, and edge cases of the grammar).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_tree(struct buf *b, const struct json *j)
{
	switch (j->type) {
	case JSON_NULL: buf_adds(b, "null"); break;
	case JSON_BOOL: buf_adds(b, j->boolean ? "true" : "false"); break;
	case JSON_NUM: buf_adds(b, j->str); break;
	case JSON_STR: json_add_str(b, j->str); break;
	case JSON_ARR:
	case JSON_OBJ:
		buf_adds(b, j->type == JSON_ARR ? "[" : "{");
		for (const struct json *c = j->child; c; c = c->next) {
			if (c != j->child)
				buf_adds(b, ",");
			if (j->type == JSON_OBJ) {
				json_add_str(b, c->key);
				buf_adds(b, ":");
			}
			write_tree(b, c);
		}
		buf_adds(b, j->type == JSON_ARR ? "]" : "}");
		break;
	}
}

static int same(const struct json *a, const struct json *b)
{
	if (a->type != b->type)
		return 0;
	if ((a->key == NULL) != (b->key == NULL) || (a->key && strcmp(a->key, b->key) != 0))
		return 0;
	switch (a->type) {
	case JSON_NULL: return 1;
	case JSON_BOOL: return a->boolean == b->boolean;
	case JSON_NUM: return strcmp(a->str, b->str) == 0 && memcmp(&a->num, &b->num, sizeof(a->num)) == 0;
	case JSON_STR: return strcmp(a->str, b->str) == 0;
	default: break;
	}
	const struct json *x = a->child, *y = b->child;
	for (; x && y; x = x->next, y = y->next)
		if (!same(x, y))
			return 0;
	return x == NULL && y == NULL;
}

static struct json *parse(const char *text, size_t len)
{
	char err[256] = "";
	struct json *j = json_parse(text, len, err, sizeof(err));
	if (!j && err[0] == '\0') {
		fprintf(stderr, "fuzz_json: refused without a message\n");
		abort();
	}
	return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json *j = parse(text, size);
	if (j) {
		struct buf b;
		buf_init(&b);
		write_tree(&b, j);
		if (b.oom)
			abort();
		struct json *k = parse(b.data ? b.data : "", b.len);
		if (!k || !same(j, k)) {
			fprintf(stderr, "fuzz_json: the tree written back parses %s\n",
				k ? "to another tree" : "not at all");
			abort();
		}
		json_free(k);
		buf_release(&b);
		json_free(j);
	}
	size_t step = size <= 512 ? 1 : size / 7 + 1;
	for (size_t cut = 0; cut < size; cut += step)
		json_free(parse(text, cut));
	return 0;
}
