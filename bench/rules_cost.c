/*
 * rules_cost.c — the totalizer's per-line work outside the kernel, in
 * process on one thread, in CPU ns per line:
 *   match:  the regex search of every rule over every line (rule_match(),
 *           PCRE2 with its JIT): what the rules alone cost, whatever else a
 *           receiver does;
 *   apply:  rule_apply() of every rule (the search, then the key built);
 *   tally:  rule_apply() and, for a match, tally_admit() into one table, as
 *           a receive thread does (the table emptied at the start of each
 *           pass, a pass being REPEAT sweeps of the lines, so most adds bump
 *           a key already held, as in a flush interval at the bench's rates).
 * The three are run in turn, PASSES times each, and the least thread CPU
 * time of each is kept (CLOCK_THREAD_CPUTIME_ID: it holds still when the
 * machine is busy).  The rules are the totalizer section of CONFIG (parsed
 * and compiled as the daemon does); the lines, one a line, are what
 * `udp_blast --print` writes.  bench/run.sh prints each beside the
 * daemon's whole CPU per line, as its share.
 * Prints one line per figure, "NAME NS ns/line  what", then the match counts.
 * usage: rules_cost CONFIG_FILE LINES_FILE [PASSES [REPEAT]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "fsutil.h"
#include "job.h"
#include "rules.h"
#include "tally.h"
#include "totalizer.h"
#include "totalizer_int.h"

struct lines {
	char *buf;
	size_t *off, *len;
	size_t n;
};

static double thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The lines of file (fs_read_file: one buffer), split in place. */
static int read_lines(const char *file, struct lines *ls)
{
	size_t size;
	if (fs_read_file(file, (size_t)64 << 20, &ls->buf, &size) < 0) {
		fprintf(stderr, "rules_cost: cannot read %s: %s\n", file, strerror(errno));
		return -1;
	}
	size_t n = 1;
	for (size_t i = 0; i < size; i++)
		n += ls->buf[i] == '\n';
	ls->off = malloc(n * sizeof(*ls->off));
	ls->len = malloc(n * sizeof(*ls->len));
	if (!ls->off || !ls->len) {
		fprintf(stderr, "rules_cost: out of memory reading %s\n", file);
		return -1;
	}
	ls->n = 0;
	for (size_t at = 0; at < size;) {
		const char *nl = memchr(ls->buf + at, '\n', size - at);
		size_t end = nl ? (size_t)(nl - ls->buf) : size;
		ls->off[ls->n] = at;
		ls->len[ls->n++] = end - at;
		at = end + 1;
	}
	if (!ls->n)
		fprintf(stderr, "rules_cost: %s holds no line\n", file);
	return ls->n ? 0 : -1;
}

enum { MATCH, APPLY, TALLY, NFIG };

/* One pass of figure `fig` over the lines, REPEAT times; its thread CPU ns. */
static double pass(int fig, struct rule *const *rules, size_t nrules, struct rule_scratch *s,
		   const struct lines *ls, int repeat, struct tally *t, time_t now,
		   unsigned long *hits, int *failed)
{
	char key[RULE_KEY_MAX];
	struct key_fields f;
	unsigned long h = 0;
	if (t)
		tally_clear(t);
	double t0 = thread_ns();
	for (int rep = 0; rep < repeat; rep++) {
		for (size_t i = 0; i < ls->n; i++) {
			const char *line = ls->buf + ls->off[i];
			size_t len = ls->len[i];
			for (size_t r = 0; r < nrules; r++) {
				if (fig == MATCH) {
					h += rule_match(rules[r], s, line, len) > 0;
					continue;
				}
				int k = rule_apply(rules[r], s, line, len, "127.0.0.1", now, key, &f);
				if (k <= 0)
					continue;
				h++;
				if (fig == TALLY && tally_admit(t, key, (size_t)k, 1, rule_ttl(rules[r]), &f,
								true) < 0)
					*failed = 1;
			}
		}
	}
	double ns = thread_ns() - t0;
	*hits = h;
	return ns;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: rules_cost CONFIG_FILE LINES_FILE [PASSES [REPEAT]]\n");
		return 2;
	}
	int passes = argc > 3 ? atoi(argv[3]) : 7, repeat = argc > 4 ? atoi(argv[4]) : 4;
	if (passes < 1 || repeat < 1) {
		fprintf(stderr, "rules_cost: PASSES and REPEAT are whole numbers >= 1\n");
		return 2;
	}

	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, argv[1]);
	struct config *cfg = config_load(argv[1], &ctx, job_table);
	if (!cfg) {
		fputs(ctx.errors.data, stderr);
		cfg_ctx_release(&ctx);
		return 1;
	}
	cfg_ctx_release(&ctx);
	const struct totalizer_cfg *tc = NULL;
	for (size_t j = 0; job_table[j]; j++)
		if (job_table[j] == &totalizer_job)
			tc = cfg->jobs[j];
	if (!tc || !tc->nrules) {
		fprintf(stderr, "rules_cost: %s has no totalizer rule\n", argv[1]);
		config_free(cfg);
		return 1;
	}

	int rc = 1;
	struct rule *rules[MAX_RULES];
	size_t nrules = 0;
	struct lines ls = { 0 };
	struct rule_scratch *s = rule_scratch_new();
	struct tally *t = tally_new(4096);
	if (!s || !t) {
		fprintf(stderr, "rules_cost: out of memory\n");
		goto out;
	}
	for (; nrules < tc->nrules && nrules < MAX_RULES; nrules++) {
		char err[256];
		rules[nrules] = rule_compile(&tc->rules[nrules], err, sizeof(err));
		if (!rules[nrules]) {
			fprintf(stderr, "rules_cost: totalizer.rules[%zu]: %s\n", nrules, err);
			goto out;
		}
	}
	if (read_lines(argv[2], &ls) < 0)
		goto out;

	time_t now = time(NULL);
	double best[NFIG] = { 0 };
	unsigned long hits[NFIG] = { 0 };
	int failed = 0;
	for (int p = 0; p < passes; p++) {
		for (int fig = 0; fig < NFIG; fig++) {
			double ns = pass(fig, rules, nrules, s, &ls, repeat, fig == TALLY ? t : NULL, now,
					 &hits[fig], &failed);
			if (p == 0 || ns < best[fig])
				best[fig] = ns;
		}
	}
	if (failed) {
		fprintf(stderr, "rules_cost: the table ran out of memory\n");
		goto out;
	}
	double per = (double)ls.n * (double)repeat;
	printf("match %.1f ns/line  the regex search of each of the %zu rules (PCRE2 JIT), nothing else\n",
	       best[MATCH] / per, nrules);
	printf("apply %.1f ns/line  rule_apply of each rule: the search and the key built\n",
	       best[APPLY] / per);
	printf("tally %.1f ns/line  rule_apply and the tally's add: a receive thread's work per line\n",
	       best[TALLY] / per);
	printf("# %zu lines x %d per pass, best of %d passes (thread CPU); %lu matches a pass "
	       "(%lu in the search alone), %zu keys in the table\n",
	       ls.n, repeat, passes, hits[APPLY], hits[MATCH], t->count);
	rc = hits[MATCH] == hits[APPLY] && hits[APPLY] == hits[TALLY] ? 0 : 1;
	if (rc)
		fprintf(stderr, "rules_cost: the three passes disagree on the matches\n");
out:
	for (size_t i = 0; i < nrules; i++)
		rule_free(rules[i]);
	rule_scratch_free(s);
	tally_free(t);
	free(ls.buf);
	free(ls.off);
	free(ls.len);
	config_free(cfg);
	return rc;
}
