/*
 * export.h — `aggregatorctl export`: the rollup's hourly usage files (see
 * usage.h) turned into spreadsheets for people, offline (no daemon).
 *
 * One file gives one sheet (.xlsx through libxlsxwriter) or CSV: a row per
 * VM, units in the header, a totals row.  An account's range of hours
 * gives an invoice workbook: a "Summary" sheet with a row per hour (its
 * status and totals) and a totals row, then one detail sheet per UTC day
 * ("YYYY-MM-DD") with a row per VM and hour.  See docs/formats.md.
 *
 * Single-threaded, blocking file I/O; nothing here is used by the daemon.
 * Strings go into the sheets as UTF-8 (invalid bytes become U+FFFD), never
 * as formulas; in CSV a field that starts with = + - @ gets a leading '
 * so a spreadsheet does not run it.
 */
#ifndef AGG_EXPORT_H
#define AGG_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "usage.h"

#define EXPORT_MAX_HOURS (366 * 24)	/* hours of one invoice workbook */

/* Read and decode a usage file.  0, or -1 with "'PATH': why" in err. */
int export_load(const char *path, struct usage_hour *h, char *err, size_t errlen);

/* h as CSV on out: the header, a row per VM, a totals row.  0 or -1 (write error). */
int export_csv(const struct usage_hour *h, FILE *out, char *err, size_t errlen);

/* h as a one-sheet workbook written to path (replaced).  0 or -1 with err. */
int export_xlsx(const struct usage_hour *h, const char *path, char *err, size_t errlen);

/* An invoice: account's hours [from, to] (hour starts, Unix seconds, inclusive). */
struct export_invoice {
	const char *dir;	/* <state_dir>/usage */
	const char *account;
	int64_t from, to;
};

/* What an invoice found, hour by hour. */
struct export_report {
	unsigned hours;		/* hours in the range */
	unsigned complete;	/* files marked complete */
	unsigned incomplete;	/* files of hours some location did not contribute to */
	unsigned missing;	/* no file */
	unsigned unreadable;	/* a file that could not be read, decoded, or is for another
				   account or hour */
	struct buf notes;	/* one line per hour that is not complete: "HOUR: why\n";
				   caller releases with buf_release() */
};

/*
 * Write the invoice workbook for q to path.  Missing, incomplete and
 * unreadable hours are listed in the summary sheet (and in rep); they do
 * not stop the export.  0 when the workbook was written, -1 with err when
 * it could not be (bad query, write error).  rep is filled either way.
 */
int export_invoice_xlsx(const struct export_invoice *q, const char *path,
			struct export_report *rep, char *err, size_t errlen);

/* "YYYY-MM-DDTHH" (UTC) to the hour's Unix seconds.  0, or -1 if malformed. */
int export_parse_hour(const char *s, int64_t *hour);

/* The hour starting at t as "YYYY-MM-DDTHH" (UTC). */
void export_format_hour(int64_t t, char *out, size_t len);

/* `aggregatorctl export ARGS...`: exit status 0, 1 (failed) or 2 (usage). */
int export_main(int argc, char **argv);

#endif
