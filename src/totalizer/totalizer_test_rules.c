/*
 * totalizer_test_rules.c — `aggregatord --test-rules`: the configured rules
 * applied to log lines read from a stream (stdin), printing the keys each
 * line would bump (see totalizer.h).  It runs on the main thread of that
 * one-shot command, right after the config is loaded and before any loop
 * or thread exists; no socket, no Redis.  It owns the rules it compiles and
 * frees them before it returns.
 */
#include "totalizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "rules.h"
#include "totalizer_int.h"

int totalizer_test_rules(const struct totalizer_cfg *cfg, FILE *in, FILE *out, time_t now)
{
	struct rule *rules[MAX_RULES];
	size_t n = 0;
	int rc = -1;
	struct rule_scratch *s = rule_scratch_new();
	char *line = NULL;
	size_t cap = 0;
	if (!s)
		goto out;
	for (; n < cfg->nrules; n++) {
		char err[256];
		rules[n] = rule_compile(&cfg->rules[n], err, sizeof(err));
		if (!rules[n]) {
			fprintf(stderr, "totalizer.rules[%zu]: %s\n", n, err);
			goto out;
		}
	}
	ssize_t len;
	unsigned long lineno = 0;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		int hits = 0;
		for (size_t i = 0; i < n; i++) {
			char key[RULE_KEY_MAX];
			struct key_fields f;
			int k = rule_apply(rules[i], s, line, (size_t)len, "127.0.0.1", now, key, &f);
			if (k > 0) {
				fprintf(out, "%lu\t%s\t%.*s\n", lineno, rule_name(rules[i]), k, key);
				hits++;
			} else if (k < 0) {
				fprintf(out, "%lu\t%s\tmatch error (resource limit)\n", lineno,
					rule_name(rules[i]));
			}
		}
		if (!hits)
			fprintf(out, "%lu\tno match\n", lineno);
	}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		rule_free(rules[i]);
	rule_scratch_free(s);
	free(line);
	return rc;
}
