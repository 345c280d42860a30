/*
 * prom.c — Prometheus text-format lines (see prom.h).  Numbers: integers as
 * %llu; floating point in the shortest of %.15g, %.16g and %.17g that reads back
 * exactly, so no value is rounded on its way to the scraper (NaN and the
 * infinities as the format spells them).
 */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void prom_head(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_label_value(struct buf *b, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			buf_adds(b, "\\\\");
		else if (*p == '"')
			buf_adds(b, "\\\"");
		else if (*p == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *p);
	}
}

static void add_f64(struct buf *b, double v)
{
	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else {
		char s[40];
		for (int prec = 15; prec <= 17; prec++) {	/* the shortest text that reads back exactly */
			snprintf(s, sizeof(s), "%.*g", prec, v);
			if (strtod(s, NULL) == v)
				break;
		}
		buf_adds(b, s);
	}
}

static void labels(struct buf *b, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2)
{
	buf_adds(b, name);
	if (!k1)
		return;
	buf_addf(b, "{%s=\"", k1);
	prom_label_value(b, v1 ? v1 : "");
	buf_adds(b, "\"");
	if (k2) {
		buf_addf(b, ",%s=\"", k2);
		prom_label_value(b, v2 ? v2 : "");
		buf_adds(b, "\"");
	}
	buf_adds(b, "}");
}

void prom_u64(struct buf *b, const char *name, uint64_t v)
{
	buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

void prom_f64(struct buf *b, const char *name, double v)
{
	buf_addf(b, "%s ", name);
	add_f64(b, v);
	buf_addc(b, '\n');
}

void prom_u64_1(struct buf *b, const char *name, const char *k, const char *v, uint64_t val)
{
	labels(b, name, k, v, NULL, NULL);
	buf_addf(b, " %llu\n", (unsigned long long)val);
}

void prom_f64_1(struct buf *b, const char *name, const char *k, const char *v, double val)
{
	labels(b, name, k, v, NULL, NULL);
	buf_addc(b, ' ');
	add_f64(b, val);
	buf_addc(b, '\n');
}

void prom_u64_2(struct buf *b, const char *name, const char *k1, const char *v1,
		const char *k2, const char *v2, uint64_t val)
{
	labels(b, name, k1, v1, k2, v2);
	buf_addf(b, " %llu\n", (unsigned long long)val);
}

void prom_metric_u64(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	prom_head(b, name, type, help);
	prom_u64(b, name, v);
}

void prom_metric_f64(struct buf *b, const char *name, const char *type, const char *help, double v)
{
	prom_head(b, name, type, help);
	prom_f64(b, name, v);
}
