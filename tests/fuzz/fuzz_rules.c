/*
 * fuzz_rules.c — libFuzzer target for totalizer rules (src/rules.c): compile
 * an arbitrary rule, then apply it to arbitrary lines; built and run by
 * `make fuzz` with ASan and UBSan.
 *
 * Input layout (tests/fuzz/corpus/rules holds examples):
 *
 *   byte 0      flags: bit 0 lower, bit 1 last_segment, bits 2..7 max_len
 *   bytes 1..8  the clock, little-endian, taken as a non-negative time_t
 *   then six NUL-terminated strings: prefix, keypattern, match, matched,
 *   source, peer; the rest is lines separated by '\n'.
 *
 * A refused rule must say why.  For a compiled rule, each line's key is
 * built into a heap buffer of exactly RULE_KEY_MAX bytes (ASan catches a
 * byte past it) and must then be: shorter than RULE_KEY_MAX, printable
 * ASCII, with as many ';' as the keypattern has separators, starting with
 * "<prefix>;" and ending with ";<bucket start>", and its field offsets inside
 * the key with no ';' within <matched> or <source>.  Anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *key, int n)
{
	fprintf(stderr, "fuzz_rules: %s (n=%d): %.*s\n", what, n, n > 0 ? n : 0, key ? key : "");
	abort();
}

static size_t count_semis(const char *p, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += p[i] == ';';
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rule_scratch *scratch;
	if (!scratch && !(scratch = rule_scratch_new()))
		abort();
	if (size < 9)
		return 0;
	uint8_t flags = data[0];
	uint64_t clk = 0;
	for (int i = 0; i < 8; i++)
		clk |= (uint64_t)data[1 + i] << (8 * i);
	time_t now = (time_t)(clk & (uint64_t)INT64_MAX);

	/* A NUL-terminated copy, so strings can be cut out of it in place. */
	char *buf = malloc(size - 9 + 1);
	if (!buf)
		abort();
	memcpy(buf, data + 9, size - 9);
	buf[size - 9] = '\0';
	char *str[6];
	char *p = buf, *end = buf + (size - 9);
	for (int i = 0; i < 6; i++) {
		if (p >= end) {
			free(buf);
			return 0;
		}
		str[i] = p;
		p += strlen(p) + 1;
	}
	struct rule_cfg cfg = {
		.name = "", .prefix = str[0], .listen = "127.0.0.1:1", .keypattern = str[1],
		.match = str[2], .matched = str[3], .source = str[4],
		.lower = flags & 1, .last_segment = (flags >> 1) & 1, .max_len = flags >> 2,
		.ttl = 86400, .buckets = 4,
	};
	const char *peer = str[5];

	char err[256] = "";
	struct rule *r = rule_compile(&cfg, err, sizeof(err));
	if (!r) {
		if (!err[0])
			fail("refused without a message", NULL, 0);
		free(buf);
		return 0;
	}
	size_t seps = count_semis(cfg.keypattern, strlen(cfg.keypattern));
	size_t plen = strlen(cfg.prefix);
	char tail[32];
	int tlen = snprintf(tail, sizeof(tail), ";%lld", (long long)bucket_start(now, rule_width(r)));

	char *key = malloc(RULE_KEY_MAX);
	if (!key)
		abort();
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct key_fields f;
		int n = rule_apply(r, scratch, p, len, peer, now, key, &f);
		p += len + 1;
		if (n <= 0)
			continue;
		if (n >= RULE_KEY_MAX)
			fail("key too long", key, n);
		for (int i = 0; i < n; i++)
			if (key[i] < 0x20 || key[i] > 0x7e)
				fail("byte outside printable ASCII", key, n);
		if (count_semis(key, (size_t)n) != seps)
			fail("field count differs from the keypattern", key, n);
		if ((size_t)n < plen + 1 || memcmp(key, cfg.prefix, plen) != 0 || key[plen] != ';' ||
		    f.prefix_len != plen)
			fail("key does not start with the prefix", key, n);
		if (n < tlen || memcmp(key + n - tlen, tail, (size_t)tlen) != 0)
			fail("key does not end with the bucket start", key, n);
		if ((size_t)f.matched_off + f.matched_len > (size_t)n ||
		    (size_t)f.source_off + f.source_len > (size_t)n)
			fail("field offsets outside the key", key, n);
		if (f.source_len > RULE_SOURCE_MAX)
			fail("source over its cap", key, n);
		if (memchr(key + f.matched_off, ';', f.matched_len) ||
		    memchr(key + f.source_off, ';', f.source_len))
			fail("';' inside a field", key, n);
	}
	free(key);
	rule_free(r);
	free(buf);
	return 0;
}
