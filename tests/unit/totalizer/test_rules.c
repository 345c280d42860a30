/*
 * test_rules.c — totalizer rules: templates and transforms on tricky lines,
 * key safety (';', binary bytes, overlong fields), bucket alignment, the
 * allow list, and compile errors.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "job.h"
#include "rules.h"
#include "totalizer.h"
#include "suites.h"

static const char *CLIENT_RE = "^([^ ]+).*?\"(?:GET|POST) .*? HTTP/[^\"]*\" (\\d\\d\\d)";
static const char *PAGE_RE = "\"(?:GET|POST) ([^ ?\"]*)[^\"]*\" \\d\\d\\d";

static struct rule_cfg base(const char *match, const char *matched)
{
	struct rule_cfg c = {
		.name = "", .prefix = "web", .listen = "127.0.0.1:1", .match = (char *)match,
		.matched = (char *)matched, .source = "web1", .ttl = 86400, .buckets = 4,
		.keypattern = "<prefix>;<matched>;<source>;<start_ts>",
	};
	return c;
}

/* Apply cfg to line at time now; returns the key text or "" for no match. */
static const char *apply(struct rule_cfg c, const char *line, const char *peer, time_t now)
{
	static char out[RULE_KEY_MAX + 1];
	char err[256];
	struct rule *r = rule_compile(&c, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	struct rule_scratch *s = rule_scratch_new();
	struct key_fields f;
	int n = rule_apply(r, s, line, strlen(line), peer, now, out, &f);
	ck_assert_int_ge(n, 0);
	ck_assert_int_lt(n, RULE_KEY_MAX);
	out[n] = '\0';
	rule_scratch_free(s);
	rule_free(r);
	return out;
}

START_TEST(sample_rules)
{
	const char *line = "10.0.0.224 - - [23/Nov/2026:10:00:00 +0000] \"GET /Docs/Guide/Intro.HTML?x=1 HTTP/1.1\" 304 0 \"-\" \"curl/8\"";
	ck_assert_str_eq(apply(base(CLIENT_RE, "$1,$2"), line, "", 1000), "web;10.0.0.224,304;web1;0");
	struct rule_cfg p = base(PAGE_RE, "$1");
	p.last_segment = true;
	p.lower = true;
	p.max_len = 32;
	ck_assert_str_eq(apply(p, line, "", 21600), "web;intro.html;web1;21600");
	/* trailing slash ignored, then the last segment */
	const char *l2 = "1.2.3.4 - - [x] \"POST /api/Login/ HTTP/1.0\" 200 1";
	ck_assert_str_eq(apply(p, l2, "", 0), "web;login;web1;0");
	/* max_len caps after last_segment */
	const char *l3 = "1.2.3.4 - - [x] \"GET /a/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789xyz HTTP/1.0\" 200 1";
	ck_assert_str_eq(apply(p, l3, "", 0), "web;abcdefghijklmnopqrstuvwxyz012345;web1;0");
	/* no match */
	ck_assert_str_eq(apply(base(CLIENT_RE, "$1,$2"), "garbage", "", 0), "");
	ck_assert_str_eq(apply(base(CLIENT_RE, "$1,$2"), "", "", 0), "");
}
END_TEST

START_TEST(templates)
{
	ck_assert_str_eq(apply(base("(?<user>\\w+)@(\\w+)", "${user} at $2 $$1 ${2}"), "x bob@host y", "", 0),
			 "web;bob at host $1 host;web1;0");
	/* an empty or unset group contributes nothing */
	ck_assert_str_eq(apply(base("a(b?)(c)?", "[$1][$2]"), "a", "", 0), "web;[][];web1;0");
	ck_assert_str_eq(apply(base("x", "$0"), "axb", "", 0), "web;x;web1;0");
	/* $peer as the source */
	struct rule_cfg c = base("x", "$0");
	c.source = "$peer";
	ck_assert_str_eq(apply(c, "x", "192.0.2.7", 0), "web;x;192.0.2.7;0");
	ck_assert_str_eq(apply(c, "x", "2001:db8::1", 0), "web;x;2001:db8::1;0");
	/* a custom key pattern */
	c = base("(\\d+)", "$1");
	c.keypattern = "<prefix>;<source>;v2;<matched>;<start_ts>";
	ck_assert_str_eq(apply(c, "n=42", "", 7200), "web;web1;v2;42;0");
}
END_TEST

START_TEST(key_safety)
{
	/* ';' and backslash inside a field are escaped, so the key keeps four fields */
	ck_assert_str_eq(apply(base("v=(\\S+)", "$1"), "v=a;b\\c", "", 0), "web;a\\x3bb\\x5cc;web1;0");
	/* bytes outside printable ASCII become \xNN */
	ck_assert_str_eq(apply(base("v=(.*)", "$1"), "v=\x01\xff\xc3\xa9 ok", "", 0),
			 "web;\\x01\\xff\\xc3\\xa9 ok;web1;0");
	/* an overlong field is capped so the key stays under RULE_KEY_MAX */
	char line[2100] = "v=";
	memset(line + 2, 'a', 2000);
	line[2002] = '\0';
	const char *k = apply(base("v=(.*)", "$1"), line, "", 1700000000);
	ck_assert_uint_lt(strlen(k), RULE_KEY_MAX);
	ck_assert_ptr_nonnull(strstr(k, ";web1;1699984800"));
	/* capping never splits an escape */
	memset(line + 2, '\x01', 2000);
	k = apply(base("v=(.*)", "$1"), line, "", 0);
	const char *m = strchr(k, ';') + 1;
	size_t mlen = (size_t)(strchr(m, ';') - m);
	ck_assert_uint_eq(mlen % 4, 0);
	/* a hostile $peer cannot inject fields either */
	struct rule_cfg c = base("x", "$0");
	c.source = "$peer";
	ck_assert_str_eq(apply(c, "x", "a;b", 0), "web;x;a\\x3bb;0");
}
END_TEST

START_TEST(buckets)
{
	ck_assert_int_eq(bucket_start(1700000000, 21600), 1699984800);
	ck_assert_int_eq(bucket_start(1699984800, 21600), 1699984800);
	ck_assert_int_eq(bucket_start(1699984799, 21600), 1699963200);
	ck_assert_int_eq(bucket_start(59, 60), 0);
	ck_assert_int_eq(bucket_start(60, 60), 60);
	ck_assert_int_eq(bucket_start(0, 1), 0);
	/* width = ttl / buckets, used in the key */
	struct rule_cfg c = base("x", "$0");
	c.ttl = 3600;
	c.buckets = 60;
	ck_assert_str_eq(apply(c, "x", "", 1700000059), "web;x;web1;1700000040");
}
END_TEST

/*
 * One scratch through many lines, as a receive thread uses it: rules whose
 * widths share a slot of the scratch's memo of bucket starts (4 s and 8 s),
 * and one alone in its slot (6 s), alternating over times that cross their
 * buckets' edges; each key against bucket_start() computed here.
 */
START_TEST(bucket_memo)
{
	int widths[3] = { 4, 8, 6 };	/* 4 and 8 share a slot, 6 has one alone */
	struct rule *r[3];
	char err[256], key[RULE_KEY_MAX + 1], want[RULE_KEY_MAX + 1];
	for (int i = 0; i < 3; i++) {
		struct rule_cfg c = base("x", "$0");
		c.ttl = widths[i] * 4;
		r[i] = rule_compile(&c, err, sizeof(err));
		ck_assert_msg(r[i] != NULL, "%s", err);
	}
	struct rule_scratch *s = rule_scratch_new();
	ck_assert_ptr_nonnull(s);
	for (time_t now = 1699999990; now < 1700000130; now += 3) {
		for (int k = 0; k < 6; k++) {	/* each rule twice, in turns */
			int i = k % 3;
			struct key_fields f;
			int n = rule_apply(r[i], s, "x", 1, "", now, key, &f);
			ck_assert_int_gt(n, 0);
			key[n] = '\0';
			snprintf(want, sizeof(want), "web;x;web1;%lld", (long long)bucket_start(now, widths[i]));
			ck_assert_msg(strcmp(key, want) == 0, "width %d at %lld: %s, want %s", widths[i],
				      (long long)now, key, want);
		}
	}
	rule_scratch_free(s);
	for (int i = 0; i < 3; i++)
		rule_free(r[i]);
}
END_TEST

static void compile_fails(struct rule_cfg c, const char *needle)
{
	char err[256];
	struct rule *r = rule_compile(&c, err, sizeof(err));
	ck_assert_msg(r == NULL, "compiled but should not: %s", needle);
	ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
}

START_TEST(compile_errors)
{
	compile_fails(base("(unclosed", "$1"), "does not compile");
	compile_fails(base("(a)", "$2"), "refers to group 2");
	compile_fails(base("(a)", "${nope}"), "names group 'nope'");
	compile_fails(base("(a)", "$x"), "'$' must be followed");
	struct rule_cfg c = base("(a)", "$1");
	c.prefix = "we;b";
	compile_fails(c, "'prefix'");
	c = base("(a)", "$1");
	c.source = "a b";
	compile_fails(c, "'source'");
	c = base("(a)", "$1");
	c.ttl = 100;
	c.buckets = 3;
	compile_fails(c, "whole multiple");
	c = base("(a)", "$1");
	c.keypattern = "<matched>;<prefix>;<source>;<start_ts>";
	compile_fails(c, "must start with <prefix>");
	c = base("(a)", "$1");
	c.keypattern = "<prefix>;<matched>;<start_ts>";
	compile_fails(c, "must start with <prefix>");
}
END_TEST

/*
 * Key room.  A keypattern's fixed parts (prefix, literal text, the ';'s, the
 * source at its widest, start_ts at its widest) must leave RULE_MATCHED_MIN
 * bytes for <matched>; rule_apply() never writes past RULE_KEY_MAX whatever
 * the line, the peer or the clock.
 */

/* "<prefix>;<matched>;<source>;LLL...;<start_ts>" with n literal bytes. */
static const char *long_kp(size_t n)
{
	static char kp[600];
	char lit[512];
	ck_assert_uint_lt(n, sizeof(lit));
	memset(lit, 'L', n);
	lit[n] = '\0';
	snprintf(kp, sizeof(kp), "<prefix>;<matched>;<source>;%s;<start_ts>", lit);
	return kp;
}

static const char *hostile_line(void)
{
	static char line[700] = "v=";
	memset(line + 2, 'A', 600);
	line[602] = '\0';
	return line;
}

START_TEST(key_room_refused)
{
	/* The reported case: 235 literal bytes, a $peer source, "v=" + 600 x 'A'. */
	struct rule_cfg c = base("v=(.*)", "$1");
	c.source = "$peer";
	c.keypattern = (char *)long_kp(235);
	char err[256] = "";
	struct rule *r = rule_compile(&c, err, sizeof(err));
	if (r) {
		/* Old behaviour: it compiled.  Show what the hostile line does. */
		struct rule_scratch *s = rule_scratch_new();
		struct key_fields f;
		char guarded[RULE_KEY_MAX + 1024];
		memset(guarded, 0x5a, sizeof(guarded));
		int n = rule_apply(r, s, hostile_line(), strlen(hostile_line()), "127.0.0.1", 1700000000,
				   guarded, &f);
		for (size_t i = RULE_KEY_MAX; i < sizeof(guarded); i++)
			ck_assert_msg(guarded[i] == 0x5a, "rule_apply wrote byte %zu of a %d-byte key buffer (returned %d)",
				      i, RULE_KEY_MAX, n);
		char key[RULE_KEY_MAX];	/* under ASan: stack-buffer-overflow here */
		rule_apply(r, s, hostile_line(), strlen(hostile_line()), "127.0.0.1", 1700000000, key, &f);
		rule_scratch_free(s);
		rule_free(r);
		ck_abort_msg("a keypattern leaving no room for <matched> compiled");
	}
	/* 249 - (3 prefix + 235 text + 4 ';') - 64 source - 20 start_ts = -77 */
	ck_assert_msg(strstr(err, "'keypattern' leaves -77 bytes for <matched>, at least 32 needed") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "prefix, fixed text and ';' take 242") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "source up to 64") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "start_ts up to 20") != NULL, "%s", err);

	/* A fixed source counts at its own length: 249 - 194 - 4 - 20 = 31. */
	c = base("v=(.*)", "$1");
	c.keypattern = (char *)long_kp(187);
	compile_fails(c, "'keypattern' leaves 31 bytes for <matched>, at least 32 needed");
	/* ... and through the config, with FILE:LINE. */
	char text[1024];
	snprintf(text, sizeof(text),
		 "totalizer = {\n rules = (\n  { prefix = \"web\"; listen = \"127.0.0.1:3430\"; match = \"(a)\";\n"
		 "    matched = \"$1\"; source = \"$peer\";\n    keypattern = \"%s\"; }\n );\n};\n", long_kp(235));
	unit_expect_cfg_error(text, 3, "totalizer.rules[0]: 'keypattern' leaves -77 bytes for <matched>");
}
END_TEST

START_TEST(key_room_at_limit)
{
	/* 249 - (3 + 186 + 4) - 4 ("web1") - 20 = 32: accepted. */
	struct rule_cfg c = base("v=(.*)", "$1");
	c.keypattern = (char *)long_kp(186);
	/* Today's clock has 10 digits, not 20: matched gets 42 bytes, the key is 249. */
	char want[RULE_KEY_MAX + 1];
	char lit[187];
	memset(lit, 'L', 186);
	lit[186] = '\0';
	snprintf(want, sizeof(want), "web;%.42s;web1;%s;1699984800", hostile_line() + 2, lit);
	ck_assert_uint_eq(strlen(want), RULE_KEY_MAX - 1);
	ck_assert_str_eq(apply(c, hostile_line(), "", 1700000000), want);

	/* The widest source and clock: $peer at its 64-byte cap, a 19-digit time. */
	c.source = "$peer";
	c.keypattern = (char *)long_kp(126);	/* 249 - 133 - 64 - 20 = 32 */
	char err[256];
	struct rule *r = rule_compile(&c, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	struct rule_scratch *s = rule_scratch_new();
	ck_assert_ptr_nonnull(s);
	char peer[200];
	memset(peer, ';', sizeof(peer) - 1);	/* each escapes to 4 bytes */
	peer[sizeof(peer) - 1] = '\0';
	const time_t tmax = (time_t)INT64_MAX;
	char guarded[RULE_KEY_MAX + 512];
	memset(guarded, 0x5a, sizeof(guarded));
	struct key_fields f;
	int n = rule_apply(r, s, hostile_line(), strlen(hostile_line()), peer, tmax, guarded, &f);
	for (size_t i = RULE_KEY_MAX; i < sizeof(guarded); i++)
		ck_assert_msg(guarded[i] == 0x5a, "rule_apply wrote past the key buffer at %zu", i);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, RULE_KEY_MAX);
	guarded[n] = '\0';
	/* 199 escaped ";" (4 bytes each) are capped at 64 bytes */
	ck_assert_uint_eq(f.source_len, 64);
	ck_assert_uint_eq(f.matched_len, (unsigned)(RULE_KEY_MAX - 1 - 133 - 64 - 19));
	ck_assert_int_eq(n, RULE_KEY_MAX - 1);
	ck_assert_int_eq(memcmp(guarded + f.matched_off, "AAAA", 4), 0);
	ck_assert_int_eq(memcmp(guarded, "web;", 4), 0);
	char ts[32];
	snprintf(ts, sizeof(ts), ";%lld", (long long)bucket_start(tmax, 21600));
	ck_assert_str_eq(guarded + n - strlen(ts), ts);
	rule_scratch_free(s);
	rule_free(r);
}
END_TEST

static bool allowed(const struct cidr *l, size_t n, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s4->sin_addr);
	}
	return cidr_allows(l, n, (struct sockaddr *)&ss);
}

START_TEST(allow_list)
{
	struct cidr l[3];
	ck_assert_int_eq(cidr_parse("10.1.0.0/16", &l[0]), 0);
	ck_assert_int_eq(cidr_parse("192.0.2.9", &l[1]), 0);
	ck_assert_int_eq(cidr_parse("2001:db8::/32", &l[2]), 0);
	ck_assert(allowed(l, 3, "10.1.255.3"));
	ck_assert(!allowed(l, 3, "10.2.0.1"));
	ck_assert(allowed(l, 3, "192.0.2.9"));
	ck_assert(!allowed(l, 3, "192.0.2.10"));
	ck_assert(allowed(l, 3, "2001:db8:1::5"));
	ck_assert(!allowed(l, 3, "2001:db9::5"));
	ck_assert(allowed(l, 3, "::ffff:10.1.2.3"));	/* v4-mapped counts as v4 */
	ck_assert(!allowed(l, 0, "10.1.2.3"));
	struct cidr x;
	ck_assert_int_eq(cidr_parse("10.0.0.1/33", &x), -1);
	ck_assert_int_eq(cidr_parse("nonsense", &x), -1);
	ck_assert_int_eq(cidr_parse("10.0.0.0/", &x), -1);
	ck_assert_int_eq(cidr_parse("10.3.4.5/8", &x), 0);	/* host bits cleared */
	ck_assert_int_eq(x.addr[1], 0);
}
END_TEST

/* totalizer config errors carry the line of the offending rule or key. */

#define RULE(extra) "{ prefix = \"web\"; listen = \"127.0.0.1:3430\"; match = \"(a)\"; matched = \"$1\"; " extra " }"

START_TEST(totalizer_config)
{
	char *path = unit_tmpfile("totalizer = {\n rules = ( " RULE("") " );\n};\n");
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, job_table);
	ck_assert_msg(cfg != NULL, "%s", ctx.errors.data);
	const struct totalizer_cfg *t = cfg->jobs[job_index("totalizer")];
	ck_assert(t->enabled);
	ck_assert_int_eq(t->flush_ms, 1000);
	ck_assert_int_eq(t->threads, 2);
	ck_assert_uint_eq(t->nallow, 2);
	ck_assert_uint_eq(t->nrules, 1);
	ck_assert_str_eq(t->rules[0].source, "$peer");
	ck_assert_int_eq(t->rules[0].ttl, 86400);
	config_free(cfg);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);

	unit_expect_cfg_error("totalizer = {\n rules = (\n  " RULE("") ",\n  { prefix = \"x\"; listen = \"127.0.0.1:1\"; match = \"(\"; matched = \"$1\"; }\n );\n};\n",
		  4, "totalizer.rules[1]: 'match' does not compile");
	unit_expect_cfg_error("totalizer = {\n rules = (\n  " RULE("") ",\n  " RULE("") "\n );\n};\n",
		  4, "name 'web' is used by rule 0");
	unit_expect_cfg_error("totalizer = {\n rules = (\n  " RULE("name = \"a\";") ",\n  " RULE("name = \"b\"; ttl = 60; buckets = 2;") "\n );\n};\n",
		  4, "another bucket width");
	unit_expect_cfg_error("totalizer = {\n rules = (\n  { prefix = \"x\"; match = \"a\"; matched = \"$0\"; }\n );\n};\n",
		  3, "'totalizer.rules[0].listen' is required");
	unit_expect_cfg_error("totalizer = {\n rules = ( " RULE("colour = 1;") " );\n};\n", 2, "unknown key 'totalizer.rules[0].colour'");
	unit_expect_cfg_error("totalizer = {\n allow = [ \"10.0.0.0/8\", \"bogus\" ];\n rules = ( " RULE("") " );\n};\n",
		  2, "'totalizer.allow[1]' is \"bogus\"");
	unit_expect_cfg_error("totalizer = {\n flush_ms = 10;\n rules = ( " RULE("") " );\n};\n", 2, "'totalizer.flush_ms' is 10");
	unit_expect_cfg_error("\ntotalizer = { };\n", 2, "needs at least one rule");
	unit_expect_cfg_error("totalizer = {\n rules = ( " RULE("ttl = 100; buckets = 3;") " );\n};\n", 2, "whole multiple");
}
END_TEST

/* Every error rule_compile() reports, one config at a time (the message names the fault). */
static const char *rep(const char *unit, int n)
{
	static char out[600];
	size_t u = strlen(unit), o = 0;
	for (int i = 0; i < n && o + u < sizeof(out); i++, o += u)
		memcpy(out + o, unit, u);
	out[o] = '\0';
	return out;
}

START_TEST(compile_errors_each)
{
	char t[700];
	/* matched: 32 segments at most, whichever segment is the 33rd */
	strcpy(t, rep("$1", 33));		/* a group */
	compile_fails(base("(a)", t), "is too long");
	strcat(strcpy(t, rep("a$1", 16)), "a");	/* the closing text */
	compile_fails(base("(a)", t), "is too long");
	strcat(strcpy(t, rep("a$1", 16)), "a$1");	/* text before a '$' */
	compile_fails(base("(a)", t), "is too long");
	strcpy(t, rep("a$1", 16));		/* 32: accepted */
	ck_assert_str_eq(apply(base("(b)", t), "b", "", 0), "web;abababababababababababababababab;web1;0");
	strcat(strcat(strcpy(t, "${"), rep("g", 64)), "}");
	compile_fails(base("(?<g>a)", t), "group name too long");
	compile_fails(base("(a)", "${1x}"), "bad group ${...}");
	compile_fails(base("(a)", "${}"), "unclosed or empty ${}");
	compile_fails(base("(a)", "${1"), "unclosed or empty ${}");
	compile_fails(base("(a)", "x$"), "'$' must be followed");
	compile_fails(base("(a)", "${3}"), "refers to group 3 but 'match' has 1 group(s)");
	compile_fails(base("(a)", "$99999"), "refers to group");
	/* keypattern */
	struct rule_cfg c = base("(a)", "$1");
	c.keypattern = "<prefix>;a;b;c;d;e;<matched>;<source>;<start_ts>";
	compile_fails(c, "has too many fields");
	c.keypattern = "<prefix>;;<matched>;<source>;<start_ts>";
	compile_fails(c, "has an empty field");
	const char *bad_text[] = { "a b", "<x>", "a\\b", "a\tb", "a\x7f", "x>" };
	char kp[128];
	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		snprintf(kp, sizeof(kp), "<prefix>;%s;<matched>;<source>;<start_ts>", bad_text[i]);
		c.keypattern = kp;
		compile_fails(c, "plain printable text");
	}
	c.keypattern = "<prefix>;<matched>;<matched>;<source>;<start_ts>";
	compile_fails(c, "<matched> and <source> once each");
	c.keypattern = "<prefix>;<matched>;<source>;<start_ts>;<start_ts>";
	compile_fails(c, "<matched> and <source> once each");
	c.keypattern = "<prefix>;<matched>;<start_ts>;<source>";
	compile_fails(c, "end with <start_ts>");
	c.keypattern = "<prefix>;<prefix>;<matched>;<source>;<start_ts>";
	compile_fails(c, "must start with <prefix>");
	/* prefix and source text */
	const char *bad_field[] = { "", "a b", "a;b", "a*", "a?", "a[", "a]", "a\\", "\x7f", "\x01" };
	for (size_t i = 0; i < sizeof(bad_field) / sizeof(bad_field[0]); i++) {
		c = base("(a)", "$1");
		c.prefix = (char *)bad_field[i];
		compile_fails(c, "'prefix'");
		c = base("(a)", "$1");
		c.source = (char *)bad_field[i];
		compile_fails(c, "'source'");
	}
	c = base("(a)", "$1");
	c.prefix = "";
	compile_fails(c, "'prefix' must not be empty");
	c.prefix = (char *)rep("p", 65);
	compile_fails(c, "'prefix' is longer than 64 bytes");
	c.prefix = (char *)rep("p", 64);	/* 64 is the cap; the room for <matched> decides next */
	char err[256];
	struct rule *r = rule_compile(&c, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	rule_free(r);
	c = base("(a)", "$1");
	c.source = (char *)rep("s", 65);
	compile_fails(c, "'source' is longer than 64 bytes");
	/* ttl and buckets */
	int tb[][2] = { { 0, 1 }, { -60, 1 }, { 60, 0 }, { 60, -2 }, { 60, 120 }, { 100, 3 } };
	for (size_t i = 0; i < sizeof(tb) / sizeof(tb[0]); i++) {
		c = base("(a)", "$1");
		c.ttl = tb[i][0];
		c.buckets = tb[i][1];
		compile_fails(c, "must be a whole multiple of 'buckets'");
	}
	/* 31 capture groups are allowed, 32 are not */
	char re[700], line[700];
	strcpy(re, rep("(a)", 32));
	compile_fails(base(re, "$1"), "'match' has 32 groups; at most 31");
	strcpy(re, rep("(a)", 31));
	strcpy(line, rep("a", 31));
	ck_assert_str_eq(apply(base(re, "$31$1"), line, "", 0), "web;aa;web1;0");
	rule_free(NULL);
}
END_TEST

/* Rule shapes: names, literal key fields, transforms at their edges, a line that exhausts the match limit. */
START_TEST(rule_shapes)
{
	char err[256];
	struct rule_cfg c = base("(a)", "$1");
	struct rule *r = rule_compile(&c, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(rule_name(r), "web");	/* no name: the prefix */
	ck_assert_str_eq(rule_prefix(r), "web");
	ck_assert_int_eq(rule_ttl(r), 86400);
	ck_assert_int_eq(rule_width(r), 21600);
	ck_assert(!rule_uses_peer(r));
	rule_free(r);
	c.name = "web_hits";
	r = rule_compile(&c, err, sizeof(err));
	ck_assert_str_eq(rule_name(r), "web_hits");
	rule_free(r);

	/* literal fields keep their place */
	c = base("id=(\\d+)", "$1");
	c.keypattern = "<prefix>;v2;<source>;<matched>;<start_ts>";
	ck_assert_str_eq(apply(c, "id=42", "", 43200), "web;v2;web1;42;43200");

	/* last_segment: no slash, only a slash, a slash at the start */
	c = base("p=(\\S*)", "[$1]");
	c.last_segment = true;
	ck_assert_str_eq(apply(c, "p=abc", "", 0), "web;[abc];web1;0");
	ck_assert_str_eq(apply(c, "p=/", "", 0), "web;[];web1;0");
	ck_assert_str_eq(apply(c, "p=/x", "", 0), "web;[x];web1;0");
	ck_assert_str_eq(apply(c, "p=", "", 0), "web;[];web1;0");
	/* lower leaves what is not A-Z */
	c = base("p=(\\S*)", "$1");
	c.lower = true;
	ck_assert_str_eq(apply(c, "p=AZaz@[`{09", "", 0), "web;azaz@[`{09;web1;0");

	/* literal template text longer than a key: matched takes the room left (249 - 6 - 4 - 1) */
	char t[1600];
	memset(t, 'x', 1500);
	t[1500] = '\0';
	const char *k = apply(base("(a)", t), "a", "", 0);
	ck_assert_uint_eq(strlen(k), RULE_KEY_MAX - 1);
	ck_assert_int_eq(strspn(k + 4, "x"), 238);
	ck_assert_str_eq(k + 4 + 238, ";web1;0");

	/* catastrophic backtracking: the match limit stops it, rule_apply reports -1 */
	c = base("^(\\w+\\s?)*$", "$1");
	r = rule_compile(&c, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	struct rule_scratch *s = rule_scratch_new();
	char line[80];
	memset(line, 'a', 60);
	line[60] = '!';
	line[61] = '\0';
	char key[RULE_KEY_MAX];
	struct key_fields f;
	ck_assert_int_eq(rule_apply(r, s, line, strlen(line), "", 0, key, &f), -1);
	/* the scratch stays usable */
	ck_assert_int_gt(rule_apply(r, s, "ab c", 4, "", 0, key, &f), 0);
	rule_scratch_free(s);
	rule_free(r);
	rule_scratch_free(NULL);
}
END_TEST

/* The allow list's edges: prefixes not on a byte boundary, /0, refused forms, other families. */
START_TEST(allow_list_edges)
{
	struct cidr l[3];
	ck_assert_int_eq(cidr_parse("10.16.0.0/12", &l[0]), 0);
	ck_assert_int_eq(cidr_parse("2001:db8:8000::/33", &l[1]), 0);
	ck_assert(allowed(l, 2, "10.31.255.255"));
	ck_assert(allowed(l, 2, "10.16.0.0"));
	ck_assert(!allowed(l, 2, "10.32.0.0"));
	ck_assert(!allowed(l, 2, "10.15.255.255"));
	ck_assert(allowed(l, 2, "2001:db8:ffff::1"));
	ck_assert(!allowed(l, 2, "2001:db8:7fff::1"));
	ck_assert(!allowed(l, 1, "::ffff:10.32.0.1"));
	ck_assert(!allowed(&l[1], 1, "10.16.0.1"));	/* a v6 entry never admits v4 */
	ck_assert_int_eq(cidr_parse("0.0.0.0/0", &l[2]), 0);
	ck_assert(allowed(&l[2], 1, "203.0.113.9"));
	ck_assert(!allowed(&l[2], 1, "2001:db8::1"));
	ck_assert_int_eq(cidr_parse("::/0", &l[2]), 0);
	ck_assert(allowed(&l[2], 1, "2001:db8::1"));
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	ck_assert(!cidr_allows(&l[2], 1, (struct sockaddr *)&un));
	struct cidr x;
	const char *bad[] = { "", "/8", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/+8",
			      "::/129", "0123456789012345678901234567890123456789012345678901234567890123/8" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cidr_parse(bad[i], &x) == -1, "'%s' accepted", bad[i]);
	ck_assert_int_eq(cidr_parse("2001:db8::1", &x), 0);
	ck_assert_int_eq(x.bits, 128);
}
END_TEST

/* totalizer_test_rules() with a rule that does not compile (the config loader
 * refuses one first; the function still checks): -1, no line read or printed,
 * the rules compiled before it freed. */
START_TEST(test_rules_bad_rule)
{
	struct rule_cfg rc[2] = { base("(a)", "$1"), base("(b)", "$1") };
	rc[1].keypattern = "<prefix>;<matched>;<start_ts>";
	struct totalizer_cfg cfg = { .rules = rc, .nrules = 2 };
	char inbuf[] = "a\nb\n";
	FILE *in = fmemopen(inbuf, strlen(inbuf), "r");
	char *outbuf = NULL;
	size_t outlen = 0;
	FILE *out = open_memstream(&outbuf, &outlen);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(totalizer_test_rules(&cfg, in, out, 0), -1);
	ck_assert_int_eq(ftell(in), 0);
	fclose(out);
	ck_assert_uint_eq(outlen, 0);
	free(outbuf);
	/* the same input with the good rule alone */
	rewind(in);
	out = open_memstream(&outbuf, &outlen);
	cfg.nrules = 1;
	ck_assert_int_eq(totalizer_test_rules(&cfg, in, out, 21601), 0);
	fclose(out);
	ck_assert_str_eq(outbuf, "1\tweb\tweb;a;web1;21600\n2\tno match\n");
	free(outbuf);
	fclose(in);
}
END_TEST

/* More listen addresses than the totalizer opens sockets for: refused by the
 * config check (it used to pass `-n` and fail at start); 64 pass.  The same
 * address named twice counts once; allow must be a list of strings. */
static char *many_listeners(int n, int dup)
{
	static char text[40000];
	size_t o = (size_t)snprintf(text, sizeof(text), "totalizer = {\n rules = (\n");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "  { name = \"r%d\"; prefix = \"web\"; listen = \"127.0.0.1:%d\"; match = \"(a)\"; matched = \"$1\"; }%s\n",
				      i, 40000 + (i < dup ? 0 : i), i + 1 < n ? "," : "");
	snprintf(text + o, sizeof(text) - o, " );\n};\n");
	return text;
}

START_TEST(totalizer_config_limits)
{
	char *path = unit_tmpfile(many_listeners(65, 0));
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, path);
	struct config *cfg = config_load(path, &ctx, job_table);
	ck_assert_msg(cfg == NULL, "65 listen addresses accepted");
	ck_assert_msg(strstr(ctx.errors.data, ":2: 'totalizer.rules' listens on 65 addresses; at most 64") != NULL,
		      "%s", ctx.errors.data);
	cfg_ctx_release(&ctx);
	unlink(path);
	free(path);
	const char *ok[] = { many_listeners(64, 0), many_listeners(65, 2) };
	for (size_t i = 0; i < 2; i++) {
		path = unit_tmpfile(ok[i]);
		cfg_ctx_init(&ctx, path);
		cfg = config_load(path, &ctx, job_table);
		ck_assert_msg(cfg != NULL, "%zu: %s", i, ctx.errors.data);
		config_free(cfg);
		cfg_ctx_release(&ctx);
		unlink(path);
		free(path);
	}
	unit_expect_cfg_error("totalizer = {\n allow = \"10.0.0.0/8\";\n rules = ( " RULE("") " );\n};\n",
			      2, "'totalizer.allow' must be an array of CIDR strings");
	unit_expect_cfg_error("totalizer = {\n allow = [ 10 ];\n rules = ( " RULE("") " );\n};\n",
			      2, "'totalizer.allow[0]' must be a string");
}
END_TEST

Suite *rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, sample_rules);
	tcase_add_test(tc, templates);
	tcase_add_test(tc, key_safety);
	tcase_add_test(tc, bucket_memo);
	tcase_add_test(tc, buckets);
	tcase_add_test(tc, compile_errors);
	tcase_add_test(tc, key_room_refused);
	tcase_add_test(tc, key_room_at_limit);
	tcase_add_test(tc, allow_list);
	tcase_add_test(tc, totalizer_config);
	tcase_add_test(tc, compile_errors_each);
	tcase_add_test(tc, rule_shapes);
	tcase_add_test(tc, allow_list_edges);
	tcase_add_test(tc, test_rules_bad_rule);
	tcase_add_test(tc, totalizer_config_limits);
	suite_add_tcase(s, tc);
	return s;
}
