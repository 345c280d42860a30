/*
 * rollup_hours.h — the rollup's hour and name arithmetic (pure: no I/O;
 * unit-tested): an hour is the Unix seconds of its start, always UTC.  The
 * text forms write into the caller's buffer (64 bytes are plenty).
 */
#ifndef AGG_ROLLUP_HOURS_H
#define AGG_ROLLUP_HOURS_H

#include <stddef.h>

/* "YYYY-MM-DDTHH" -> Unix seconds of that hour (UTC); -1 if malformed. */
long long rollup_parse_hour(const char *s);
/* The hour of a /v1/usage/ path's rest "YYYY/MM/DD/HH[/...]", digits only;
 * -1 if malformed or no such hour. */
long long rollup_parse_url_hour(const char *rest);
/* The file path of account's hour below dir: dir/account/YYYY/MM/DD/HH.bin. */
int rollup_hour_path(char *out, size_t len, const char *dir, const char *account, long long hour);
/* NULL when name is a safe account or location name, else the reason. */
const char *rollup_check_name(const char *name);

/* The hour as text: YYYYMMDDHH (marker and index names), YYYY-MM-DDTHH
 * (logs, events, status), YYYY/MM/DD/HH (a /v1/usage/ URL). */
void rollup_hour_key(char *out, size_t len, long long hour);
void rollup_hour_text(char *out, size_t len, long long hour);
void rollup_hour_urlpath(char *out, size_t len, long long hour);

#endif
