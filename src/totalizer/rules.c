/*
 * rules.c — compiling totalizer rules and turning a line into a key.
 *
 * Design: everything that can be decided once is decided in rule_compile():
 * the regex is compiled and JIT-compiled, the `matched` template and the key
 * pattern are parsed into segment lists, named groups are resolved to
 * numbers.  rule_apply() then does one regex search and a few memcpy()s.
 * No allocation on the per-line path; per-thread state (match data, JIT
 * stack, limits against catastrophic backtracking) lives in rule_scratch.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules.h"

#include <arpa/inet.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define RULE_MAX_GROUPS 31	/* capture groups a pattern may have */
#define TEMPLATE_MAX 32		/* segments of a `matched` template */
#define MATCHED_RAW_MAX 1024	/* bytes of an assembled matched value before escaping */
#define MATCH_LIMIT 1000000	/* PCRE2 match limit per line */

enum seg_kind { SEG_TEXT, SEG_GROUP };

struct seg {
	enum seg_kind kind;
	char *text;		/* SEG_TEXT */
	size_t len;
	int group;		/* SEG_GROUP */
};

enum field_kind { F_TEXT, F_PREFIX, F_MATCHED, F_SOURCE, F_TS };

struct field {
	enum field_kind kind;
	char *text;		/* F_TEXT (already key-safe) */
	size_t len;
};

struct rule {
	char *name, *prefix, *source;
	size_t prefix_len, source_len;
	bool source_peer;
	bool lower, last_segment;
	int max_len, ttl, width;
	pcre2_code *code;
	bool jit;
	struct seg tmpl[TEMPLATE_MAX];
	size_t ntmpl;
	struct field fields[8];
	size_t nfields;
	size_t fixed_len;	/* key bytes besides matched, source and ts */
};

struct rule_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *stack;
	/* the last bucket start written per width (a line's time changes once
	 * a second at most: its division and digits are done once, not per line) */
	struct ts_memo {
		time_t now;
		int width;
		size_t len;	/* 0: empty */
		char text[24];
	} ts[4];
};

struct rule_scratch *rule_scratch_new(void)
{
	struct rule_scratch *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->md = pcre2_match_data_create(RULE_MAX_GROUPS + 1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	s->stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (!s->md || !s->mctx || !s->stack) {
		rule_scratch_free(s);
		return NULL;
	}
	pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, MATCH_LIMIT / 10);
	pcre2_jit_stack_assign(s->mctx, NULL, s->stack);
	return s;
}

void rule_scratch_free(struct rule_scratch *s)
{
	if (!s)
		return;
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_jit_stack_free(s->stack);
	free(s);
}

size_t key_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c < 0x7f && c != ';' && c != '\\') {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 > cap)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

static int add_text(struct seg *segs, size_t *n, const char *p, size_t len)
{
	if (len == 0)
		return 0;
	if (*n >= TEMPLATE_MAX)
		return -1;
	segs[*n].kind = SEG_TEXT;
	segs[*n].text = strndup(p, len);
	segs[*n].len = len;
	if (!segs[*n].text)
		return -1;
	(*n)++;
	return 0;
}

/* Parse the `matched` template against the compiled pattern. */
static int parse_template(struct rule *r, const char *t, char *err, size_t errlen)
{
	uint32_t ngroups = 0;
	pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &ngroups);
	const char *p = t, *lit = t;

	while (*p) {
		if (*p != '$') {
			p++;
			continue;
		}
		if (add_text(r->tmpl, &r->ntmpl, lit, (size_t)(p - lit)) < 0)
			return set_err(err, errlen, "'matched' template '%s' is too long", t);
		p++;
		int group = -1;
		if (*p == '$') {
			lit = p++;	/* "$$" -> "$" */
			continue;
		} else if (*p >= '0' && *p <= '9') {
			group = 0;
			while (*p >= '0' && *p <= '9' && group < 1000)
				group = group * 10 + (*p++ - '0');
		} else if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close || close == p + 1)
				return set_err(err, errlen, "'matched' template '%s' has an unclosed or empty ${}", t);
			char name[64];
			size_t nl = (size_t)(close - p - 1);
			if (nl >= sizeof(name))
				return set_err(err, errlen, "'matched' template '%s' has a group name too long", t);
			memcpy(name, p + 1, nl);
			name[nl] = '\0';
			if (name[0] >= '0' && name[0] <= '9') {
				char *end;
				group = (int)strtol(name, &end, 10);
				if (*end)
					return set_err(err, errlen, "'matched' template '%s' has a bad group ${...}", t);
			} else {
				group = pcre2_substring_number_from_name(r->code, (PCRE2_SPTR)name);
				if (group < 0) {
					char msg[160];
					snprintf(msg, sizeof(msg), "'matched' names group '%s', which 'match' does not define", name);
					return set_err(err, errlen, "%s", msg);
				}
			}
			p = close + 1;
		} else {
			return set_err(err, errlen, "'matched' template '%s': '$' must be followed by a group number, {name} or '$'", t);
		}
		if (group > (int)ngroups) {
			char msg[200];
			snprintf(msg, sizeof(msg), "'matched' refers to group %d but 'match' has %u group(s)",
				 group, ngroups);
			return set_err(err, errlen, "%s", msg);
		}
		if (r->ntmpl >= TEMPLATE_MAX)
			return set_err(err, errlen, "'matched' template '%s' is too long", t);
		r->tmpl[r->ntmpl].kind = SEG_GROUP;
		r->tmpl[r->ntmpl].group = group;
		r->ntmpl++;
		lit = p;
	}
	if (add_text(r->tmpl, &r->ntmpl, lit, (size_t)(p - lit)) < 0)
		return set_err(err, errlen, "'matched' template '%s' is too long", t);
	return 0;
}

/* Parse the key pattern: ';'-separated fields, <prefix> first, <start_ts> last. */
static int parse_keypattern(struct rule *r, const char *kp, char *err, size_t errlen)
{
	static const struct { const char *name; enum field_kind kind; } names[] = {
		{ "<prefix>", F_PREFIX }, { "<matched>", F_MATCHED },
		{ "<source>", F_SOURCE }, { "<start_ts>", F_TS },
	};
	int seen[5] = { 0 };
	const char *p = kp;

	for (;;) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);
		if (r->nfields >= sizeof(r->fields) / sizeof(r->fields[0]))
			return set_err(err, errlen, "'keypattern' '%s' has too many fields", kp);
		struct field *f = &r->fields[r->nfields++];
		f->kind = F_TEXT;
		for (size_t i = 0; i < 4; i++)
			if (strlen(names[i].name) == len && memcmp(p, names[i].name, len) == 0)
				f->kind = names[i].kind;
		if (f->kind == F_TEXT) {
			if (len == 0)
				return set_err(err, errlen, "'keypattern' '%s' has an empty field", kp);
			for (size_t i = 0; i < len; i++)
				if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '<' || p[i] == '>' || p[i] == '\\')
					return set_err(err, errlen, "'keypattern' '%s': fields are <prefix>, <matched>, <source>, <start_ts> or plain printable text", kp);
			f->text = strndup(p, len);
			f->len = len;
			if (!f->text)
				return set_err(err, errlen, "out of memory%s", "");
			r->fixed_len += len;
		}
		seen[f->kind]++;
		if (!semi)
			break;
		r->fixed_len++;	/* the ';' */
		p = semi + 1;
	}
	if (seen[F_PREFIX] != 1 || seen[F_MATCHED] != 1 || seen[F_SOURCE] != 1 || seen[F_TS] != 1 ||
	    r->fields[0].kind != F_PREFIX || r->fields[r->nfields - 1].kind != F_TS)
		return set_err(err, errlen, "'keypattern' '%s' must start with <prefix>, end with <start_ts>, and hold <matched> and <source> once each", kp);
	r->fixed_len += r->prefix_len;

	/*
	 * Room left for <matched> when every other field is at its widest: the
	 * source at its cap ($peer) or its own length, start_ts at RULE_TS_MAX
	 * digits.  Computed signed: a long literal makes it negative.
	 */
	long src_max = r->source_peer ? RULE_SOURCE_MAX : (long)r->source_len;
	long room = (long)RULE_KEY_MAX - 1 - (long)r->fixed_len - src_max - RULE_TS_MAX;
	if (room < RULE_MATCHED_MIN)
		return set_err(err, errlen, "'keypattern' leaves %ld bytes for <matched>, at least %d needed "
			       "(a key holds at most %d bytes: prefix, fixed text and ';' take %zu, "
			       "source up to %ld, start_ts up to %d)",
			       room, RULE_MATCHED_MIN, RULE_KEY_MAX - 1, r->fixed_len, src_max, RULE_TS_MAX);
	return 0;
}

static int check_field_text(const char *what, const char *v, char *err, size_t errlen)
{
	if (!v[0]) {
		snprintf(err, errlen, "'%s' must not be empty", what);
		return -1;
	}
	for (const char *p = v; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == ';' || *p == '*' || *p == '?' || *p == '[' ||
		    *p == ']' || *p == '\\') {
			snprintf(err, errlen, "'%s' is \"%s\": printable ASCII without spaces, ';', '\\' or glob characters", what, v);
			return -1;
		}
	return 0;
}

struct rule *rule_compile(const struct rule_cfg *cfg, char *err, size_t errlen)
{
	struct rule *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (check_field_text("prefix", cfg->prefix, err, errlen) < 0)
		goto fail;
	if (strlen(cfg->prefix) > 64) {
		snprintf(err, errlen, "'prefix' is longer than 64 bytes");
		goto fail;
	}
	r->source_peer = strcmp(cfg->source, "$peer") == 0;
	if (!r->source_peer) {
		if (check_field_text("source", cfg->source, err, errlen) < 0)
			goto fail;
		if (strlen(cfg->source) > RULE_SOURCE_MAX) {
			snprintf(err, errlen, "'source' is longer than %d bytes", RULE_SOURCE_MAX);
			goto fail;
		}
	}
	if (cfg->ttl < 1 || cfg->buckets < 1 || cfg->buckets > cfg->ttl || cfg->ttl % cfg->buckets) {
		snprintf(err, errlen, "'ttl' (%d s) must be a whole multiple of 'buckets' (%d)",
			 cfg->ttl, cfg->buckets);
		goto fail;
	}
	r->name = strdup(cfg->name && cfg->name[0] ? cfg->name : cfg->prefix);
	r->prefix = strdup(cfg->prefix);
	r->source = strdup(cfg->source);
	if (!r->name || !r->prefix || !r->source) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->prefix_len = strlen(r->prefix);
	r->source_len = strlen(r->source);
	r->lower = cfg->lower;
	r->last_segment = cfg->last_segment;
	r->max_len = cfg->max_len;
	r->ttl = cfg->ttl;
	r->width = cfg->ttl / cfg->buckets;

	int ecode;
	PCRE2_SIZE eoff;
	r->code = pcre2_compile((PCRE2_SPTR)cfg->match, PCRE2_ZERO_TERMINATED, 0, &ecode, &eoff, NULL);
	if (!r->code) {
		char msg[160];
		pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(err, errlen, "'match' does not compile: %s at offset %zu", msg, (size_t)eoff);
		goto fail;
	}
	uint32_t ngroups = 0;
	pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &ngroups);
	if (ngroups > RULE_MAX_GROUPS) {
		snprintf(err, errlen, "'match' has %u groups; at most %d", ngroups, RULE_MAX_GROUPS);
		goto fail;
	}
	r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
	if (parse_template(r, cfg->matched, err, errlen) < 0 ||
	    parse_keypattern(r, cfg->keypattern, err, errlen) < 0)
		goto fail;
	return r;
fail:
	rule_free(r);
	return NULL;
}

void rule_free(struct rule *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ntmpl; i++)
		free(r->tmpl[i].text);
	for (size_t i = 0; i < r->nfields; i++)
		free(r->fields[i].text);
	pcre2_code_free(r->code);
	free(r->name);
	free(r->prefix);
	free(r->source);
	free(r);
}

const char *rule_name(const struct rule *r) { return r->name; }
const char *rule_prefix(const struct rule *r) { return r->prefix; }
int rule_width(const struct rule *r) { return r->width; }
int rule_ttl(const struct rule *r) { return r->ttl; }
bool rule_uses_peer(const struct rule *r) { return r->source_peer; }

/* Apply the field transforms to one group's value, into out. */
static size_t transform(const struct rule *r, const char *v, size_t len, char *out, size_t cap)
{
	if (r->last_segment) {
		if (len > 0 && v[len - 1] == '/')
			len--;
		const char *slash = len ? memrchr(v, '/', len) : NULL;
		if (slash) {
			len -= (size_t)(slash + 1 - v);
			v = slash + 1;
		}
	}
	if (r->max_len > 0 && len > (size_t)r->max_len)
		len = (size_t)r->max_len;
	if (len > cap)
		len = cap;
	if (r->lower) {
		for (size_t i = 0; i < len; i++) {
			char c = v[i];
			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
	} else {
		memcpy(out, v, len);
	}
	return len;
}

static size_t put_ts(char *out, time_t ts)
{
	char tmp[24];
	size_t n = 0;
	unsigned long long v = ts < 0 ? 0 : (unsigned long long)ts;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

#define KEY_LEN_MAX ((size_t)RULE_KEY_MAX - 1)	/* bytes: the longest key */

/* Append n bytes at key[*o] if they fit in KEY_LEN_MAX; 0 or -1. */
static int put(char *key, size_t *o, const char *p, size_t n)
{
	if (*o > KEY_LEN_MAX || n > KEY_LEN_MAX - *o)
		return -1;
	memcpy(key + *o, p, n);
	*o += n;
	return 0;
}

int rule_match(const struct rule *r, struct rule_scratch *s, const char *line, size_t len)
{
	return r->jit ? pcre2_jit_match(r->code, (PCRE2_SPTR)line, len, 0, 0, s->md, s->mctx)
		      : pcre2_match(r->code, (PCRE2_SPTR)line, len, 0, 0, s->md, s->mctx);
}

int rule_apply(const struct rule *r, struct rule_scratch *s, const char *line, size_t len,
	       const char *peer, time_t now, char *key, struct key_fields *f)
{
	int rc = rule_match(r, s, line, len);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0)
		return -1;

	/* Assemble the matched value from the template. */
	char raw[MATCHED_RAW_MAX];
	size_t rl = 0;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
	for (size_t i = 0; i < r->ntmpl; i++) {
		const struct seg *sg = &r->tmpl[i];
		if (sg->kind == SEG_TEXT) {
			size_t n = sg->len < sizeof(raw) - rl ? sg->len : sizeof(raw) - rl;
			memcpy(raw + rl, sg->text, n);
			rl += n;
		} else if (sg->group < rc && ov[2 * sg->group] != PCRE2_UNSET) {
			size_t a = ov[2 * sg->group], b = ov[2 * sg->group + 1];
			rl += transform(r, line + a, b - a, raw + rl, sizeof(raw) - rl);
		}
	}

	/*
	 * Source first (capped at RULE_SOURCE_MAX), then matched gets the rest.
	 * The budget is signed and every copy is bounded by what is left of
	 * key[]: rule_compile() makes the fixed fields fit, this makes sure.
	 */
	char src[RULE_SOURCE_MAX];
	size_t sl = r->source_peer ? key_escape(src, sizeof(src), peer, strlen(peer))
				   : (memcpy(src, r->source, r->source_len), r->source_len);
	struct ts_memo *tm = &s->ts[(unsigned)r->width % 4u];
	if (!tm->len || tm->now != now || tm->width != r->width) {
		tm->now = now;
		tm->width = r->width;
		tm->len = put_ts(tm->text, bucket_start(now, r->width));
	}
	const char *tsbuf = tm->text;
	size_t tl = tm->len;
	long budget = (long)KEY_LEN_MAX - (long)r->fixed_len - (long)sl - (long)tl;
	if (budget < 0)
		return -1;

	size_t o = 0;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct field *fd = &r->fields[i];
		if (i && put(key, &o, ";", 1) < 0)
			return -1;
		switch (fd->kind) {
		case F_TEXT:
			if (put(key, &o, fd->text, fd->len) < 0)
				return -1;
			break;
		case F_PREFIX:
			if (put(key, &o, r->prefix, r->prefix_len) < 0)
				return -1;
			break;
		case F_SOURCE:
			f->source_off = (uint8_t)o;
			f->source_len = (uint8_t)sl;
			if (put(key, &o, src, sl) < 0)
				return -1;
			break;
		case F_MATCHED: {
			size_t cap = KEY_LEN_MAX - o;
			if ((size_t)budget < cap)
				cap = (size_t)budget;
			size_t m = key_escape(key + o, cap, raw, rl);
			f->matched_off = (uint8_t)o;
			f->matched_len = (uint8_t)m;
			o += m;
			break;
		}
		case F_TS:
			if (put(key, &o, tsbuf, tl) < 0)
				return -1;
			break;
		}
	}
	f->prefix_len = (uint8_t)r->prefix_len;
	return (int)o;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t al = slash ? (size_t)(slash - s) : strlen(s);
	if (al == 0 || al >= sizeof(addr))
		return -1;
	memcpy(addr, s, al);
	addr[al] = '\0';
	memset(out, 0, sizeof(*out));
	int max;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->bits = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end || b < 0 || b > max)
			return -1;
		out->bits = (int)b;
	}
	/* Clear host bits so the entry is its network. */
	for (int i = out->bits; i < max; i++)
		out->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool cidr_allows(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	uint8_t a[16];
	int fam;
	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		fam = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			memcpy(a, b + 12, 4);
			fam = AF_INET;
		} else {
			memcpy(a, b, 16);
			fam = AF_INET6;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i].family == fam && prefix_eq(a, list[i].addr, list[i].bits))
			return true;
	return false;
}
