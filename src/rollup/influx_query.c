/*
 * influx_query.c — the text of the rollup's InfluxQL query and the check of
 * the configured identifiers that go into it (pure: no I/O).  The names are
 * double-quoted into the query only after influx_check_identifier() has
 * accepted them; the time bounds are integers.
 */
#include "influx.h"

#include <stdio.h>
#include <string.h>

#define HOUR 3600LL

static const char *const default_names[] = {
	"vm_usage", "account", "cloudspace", "vm", "mem_mib", "disk_gib", "cpu_seconds",
	"io_read", "io_write", "net_tx_bytes", "net_rx_bytes",
};

const char *influx_check_identifier(const char *s)
{
	if (!s || !*s)
		return "is empty";
	size_t n = strlen(s);
	if (n > INFLUX_MAX_IDENT)
		return "is longer than 255 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return "contains a double quote";
		if (c == '\\')
			return "contains a backslash";
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c < 0x80)
			continue;
		/* UTF-8: a lead byte and its continuation bytes, shortest form. */
		size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
		if (len == 0 || (c >= 0xe0 && c <= 0xef && len != 3) || i + len > n)
			return "is not valid UTF-8";
		unsigned cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
		for (size_t k = 1; k < len; k++) {
			unsigned char d = (unsigned char)s[i + k];
			if ((d & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = cp << 6 | (d & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return "is not valid UTF-8";
		i += len - 1;
	}
	return NULL;
}

void influx_names(const struct influx_cfg *cfg, const char *out[11])
{
	const char *v[11] = {
		cfg->measurement, cfg->tag_account, cfg->tag_cloudspace, cfg->tag_vm,
		cfg->field_mem, cfg->field_disk, cfg->field_cpu, cfg->field_io_read,
		cfg->field_io_write, cfg->field_net_tx, cfg->field_net_rx,
	};
	for (int i = 0; i < 11; i++)
		out[i] = v[i] ? v[i] : default_names[i];
}

int influx_lookback(const struct influx_cfg *cfg)
{
	return cfg->lookback_s ? cfg->lookback_s : INFLUX_DEFAULT_LOOKBACK;
}

int influx_query(const struct influx_cfg *cfg, long long hour_start, struct buf *out,
		 char *err, size_t errlen)
{
	static const char *const what[11] = {
		"measurement", "tag_account", "tag_cloudspace", "tag_vm", "field_mem", "field_disk",
		"field_cpu", "field_io_read", "field_io_write", "field_net_tx", "field_net_rx",
	};
	const char *n[11];
	influx_names(cfg, n);
	for (int i = 0; i < 11; i++) {
		const char *why = influx_check_identifier(n[i]);
		if (why)
			return set_err(err, errlen, "%s '%.64s' %s", what[i], n[i], why);
	}
	if (cfg->lookback_s < 0 || cfg->lookback_s > 7 * 86400)
		return set_err(err, errlen, "lookback %d s is out of range (0..604800)", cfg->lookback_s);
	long long lo = hour_start - influx_lookback(cfg);
	if (lo < 0 || hour_start > 100000000000LL)
		return set_err(err, errlen, "hour %lld is out of range", hour_start);
	buf_adds(out, "SELECT ");
	for (int i = 4; i < 11; i++)
		buf_addf(out, "%s\"%s\"", i > 4 ? "," : "", n[i]);
	buf_addf(out, " FROM \"%s\" WHERE time >= %llds AND time < %llds GROUP BY \"%s\",\"%s\",\"%s\"",
		 n[0], lo, hour_start + HOUR, n[1], n[2], n[3]);
	if (out->oom)
		return set_err(err, errlen, "out of memory");
	return 0;
}
