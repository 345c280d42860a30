/*
 * prom.h — the one Prometheus text-format writer (exposition format 0.0.4)
 * every module renders its /metrics lines with: a HELP and TYPE head, then
 * samples with none, one or two labels.  Label values are escaped (\\, \",
 * \n) here, so a member or rule name from the config can never break the
 * page.  Names and help texts are the caller's constants.
 *
 * Appends to a struct buf (out of memory is recorded on the buf).  Any
 * thread; no state.
 */
#ifndef AGG_PROM_H
#define AGG_PROM_H

#include <stdint.h>

#include "buf.h"

/* "# HELP name help\n# TYPE name type\n"; type is "counter" or "gauge". */
void prom_head(struct buf *b, const char *name, const char *type, const char *help);

/* A metric with one unlabelled sample: its head, then name value. */
void prom_metric_u64(struct buf *b, const char *name, const char *type, const char *help, uint64_t v);
void prom_metric_f64(struct buf *b, const char *name, const char *type, const char *help, double v);

/* name value */
void prom_u64(struct buf *b, const char *name, uint64_t v);
void prom_f64(struct buf *b, const char *name, double v);

/* name{k="v"} value */
void prom_u64_1(struct buf *b, const char *name, const char *k, const char *v, uint64_t val);
void prom_f64_1(struct buf *b, const char *name, const char *k, const char *v, double val);

/* name{k1="v1",k2="v2"} value */
void prom_u64_2(struct buf *b, const char *name, const char *k1, const char *v1,
		const char *k2, const char *v2, uint64_t val);

/* A label value escaped for the text format (appended to b). */
void prom_label_value(struct buf *b, const char *v);

#endif
