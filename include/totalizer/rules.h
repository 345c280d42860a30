/*
 * rules.h — totalizer rules: a log line in, the Redis keys it bumps out.
 *
 * Pure functions of their inputs (the line, the sender, the time), shared by
 * the receive threads, `--test-rules` and the unit tests.  A compiled rule is
 * immutable and may be used by any number of threads at once; each thread
 * brings its own struct rule_scratch (PCRE2 match data and JIT stack).
 *
 * Key layout (default keypattern): <prefix>;<matched>;<source>;<start_ts>,
 * start_ts = floor(t / width) * width, width = ttl / buckets seconds.  Field
 * safety: ';', '\' and bytes outside printable ASCII become \xNN; matched and
 * source are capped so the whole key stays under RULE_KEY_MAX bytes.
 * rule_compile() refuses a keypattern whose fixed parts (prefix, literal
 * text, the ';'s, source at its widest, start_ts at RULE_TS_MAX) leave less
 * than RULE_MATCHED_MIN bytes for <matched>.
 */
#ifndef AGG_RULES_H
#define AGG_RULES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define RULE_KEY_MAX 250	/* bytes: every key is shorter */
#define RULE_SOURCE_MAX 64	/* bytes: cap of the source field */
#define RULE_TS_MAX 20		/* bytes: the widest start_ts (a 64-bit time) */
#define RULE_MATCHED_MIN 32	/* bytes: the least room a keypattern must leave for <matched> */

/* One element of totalizer.rules, as parsed from the config. */
struct rule_cfg {
	char *name;		/* metrics label; default: the prefix */
	char *prefix;		/* first key field */
	char *listen;		/* "host:port" of the UDP socket */
	char *match;		/* PCRE2 pattern, search semantics */
	char *matched;		/* template: text, $N, ${N}, ${name}, $$ */
	char *source;		/* fixed text, or "$peer" (the sender's address) */
	bool lower;		/* lower-case each substituted group */
	int max_len;		/* bytes kept of each substituted group; 0 = all */
	bool last_segment;	/* keep what follows the last '/' (a trailing one ignored) */
	int ttl;		/* seconds a key lives after its last update */
	int buckets;		/* buckets per ttl; width = ttl / buckets seconds */
	char *keypattern;	/* "<prefix>;<matched>;<source>;<start_ts>" */
};

struct rule;

/* Field positions inside a built key (for events). */
struct key_fields {
	uint8_t matched_off, matched_len;
	uint8_t source_off, source_len;
	uint8_t prefix_len;
};

/* Per-thread matching state; create with rule_scratch_new(), free with rule_scratch_free(). */
struct rule_scratch;
struct rule_scratch *rule_scratch_new(void);
void rule_scratch_free(struct rule_scratch *s);

/*
 * Compile cfg (regex with JIT where available, template, key pattern).
 * Returns the rule (caller frees with rule_free()), or NULL with the reason
 * in err, e.g. "'match' does not compile: missing closing parenthesis at
 * offset 9".  cfg is only read; the rule keeps copies of what it needs.
 */
struct rule *rule_compile(const struct rule_cfg *cfg, char *err, size_t errlen);
void rule_free(struct rule *r);
const char *rule_name(const struct rule *r);
const char *rule_prefix(const struct rule *r);
int rule_width(const struct rule *r);		/* bucket width, s */
int rule_ttl(const struct rule *r);
bool rule_uses_peer(const struct rule *r);

/*
 * Apply r to one line (no newline).  peer is the sender's address text
 * (used by a "$peer" source).  On a match, writes the key for time now into
 * key[RULE_KEY_MAX] (the caller's buffer; never written past, not
 * NUL-terminated) and returns its length (> 0, < RULE_KEY_MAX); returns 0 for
 * no match and -1 when matching failed (resource limits on a hostile line) or,
 * which rule_compile() rules out, the fixed fields would not fit.
 */
int rule_apply(const struct rule *r, struct rule_scratch *s, const char *line, size_t len,
	       const char *peer, time_t now, char *key, struct key_fields *f);

/*
 * The regex search of rule_apply() alone, into s (no key built): PCRE2's
 * return code, > 0 on a match, negative for no match or a failed match.
 * For measuring what the matching itself costs (bench/rules_cost.c).
 */
int rule_match(const struct rule *r, struct rule_scratch *s, const char *line, size_t len);

/* Bucket start of time t for width w (pure). */
static inline time_t bucket_start(time_t t, int w)
{
	return t - (((t % w) + w) % w);
}

/*
 * Append field bytes to out (capacity cap) with the key-safety escaping,
 * never splitting an escape; returns the bytes written.
 */
size_t key_escape(char *out, size_t cap, const char *in, size_t len);

/* An allow-list entry (totalizer.allow). */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network address, network byte order */
	int bits;		/* prefix length */
};

/* Parse "10.0.0.0/8", "::1/128" or a bare address; 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* Is the sender in any of the n entries?  IPv4-mapped IPv6 counts as IPv4. */
bool cidr_allows(const struct cidr *list, size_t n, const struct sockaddr *sa);

#endif
