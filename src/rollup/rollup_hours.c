/*
 * rollup_hours.c — the rollup's hour and name arithmetic (pure: no I/O):
 * an hour's text in its three spellings (YYYY-MM-DDTHH, YYYYMMDDHH,
 * YYYY/MM/DD/HH) and read back from two of them, the file path of an
 * account's hour, and the check that keeps an account or location name a
 * safe file name.  All in UTC; any thread.  See rollup_hours.h.
 */
#include "rollup_hours.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *rollup_check_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return "must be 1 to 128 characters";
	if (s[0] == '.')
		return "must not start with '.'";
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-' || s[i] == '@'))
			return "may hold only letters, digits, '.', '_', '-' and '@'";
	return NULL;
}

long long rollup_parse_hour(const char *s)
{
	int y, mo, d, h;
	char tail;
	if (strlen(s) != 13 || sscanf(s, "%4d-%2d-%2dT%2d%c", &y, &mo, &d, &h, &tail) != 4 ||
	    s[4] != '-' || s[7] != '-' || s[10] != 'T')
		return -1;
	for (int i = 0; i < 13; i++)
		if (i != 4 && i != 7 && i != 10 && (s[i] < '0' || s[i] > '9'))
			return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h };
	time_t t = timegm(&tm);
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != d || back.tm_mon != mo - 1)
		return -1;	/* 2026-02-30 */
	return (long long)t;
}

long long rollup_parse_url_hour(const char *rest)
{
	char txt[14];
	if (strlen(rest) < 13 || rest[4] != '/' || rest[7] != '/' || rest[10] != '/' ||
	    (rest[13] != '\0' && rest[13] != '/'))
		return -1;
	/* Copied as they are, so rollup_parse_hour sees every character:
	 * "+1" or " 1" is not a day. */
	memcpy(txt, rest, 13);
	txt[4] = txt[7] = '-';
	txt[10] = 'T';
	txt[13] = '\0';
	return rollup_parse_hour(txt);
}

int rollup_hour_path(char *out, size_t len, const char *dir, const char *account, long long hour)
{
	time_t t = (time_t)hour;
	struct tm tm;
	gmtime_r(&t, &tm);
	int n = snprintf(out, len, "%s/%s/%04d/%02d/%02d/%02d.bin", dir, account, tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

void rollup_hour_key(char *out, size_t len, long long hour)	/* YYYYMMDDHH */
{
	time_t t = (time_t)hour;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, len, "%04d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

void rollup_hour_text(char *out, size_t len, long long hour)	/* YYYY-MM-DDTHH */
{
	time_t t = (time_t)hour;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}

void rollup_hour_urlpath(char *out, size_t len, long long hour)	/* YYYY/MM/DD/HH */
{
	time_t t = (time_t)hour;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, len, "%04d/%02d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
}
