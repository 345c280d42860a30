/*
 * config.c — the config engine and the core sections.
 *
 * Design: libconfig reads the file into its tree (syntax errors come back
 * with its line); then each section's key table drives the conversion into
 * our own structs, rejecting unknown keys and wrong types, applying
 * defaults, checking ranges and validators.  Errors are collected, not
 * returned at the first one, and each names FILE:LINE of the offending
 * setting.  Nothing here touches the running daemon: the main loop decides
 * whether to swap the result in (see loop.c).
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "http.h"
#include "job.h"
#include "log.h"

#define FIELD(base, off) ((void *)((char *)(base) + (off)))
#define CFIELD(base, off) ((const void *)((const char *)(base) + (off)))

void cfg_ctx_init(struct cfg_ctx *ctx, const char *file)
{
	ctx->file = file;
	buf_init(&ctx->errors);
	buf_init(&ctx->warnings);
	ctx->nerrors = 0;
	ctx->secret_file = NULL;
}

void cfg_ctx_release(struct cfg_ctx *ctx)
{
	buf_release(&ctx->errors);
	buf_release(&ctx->warnings);
}

static void vnote(struct cfg_ctx *ctx, struct buf *b, const config_setting_t *s,
		  const char *fmt, va_list ap)
{
	unsigned line = s ? config_setting_source_line(s) : 0;
	const char *file = s && config_setting_source_file(s) ?
		config_setting_source_file(s) : ctx->file;
	if (line)
		buf_addf(b, "%s:%u: ", file, line);
	else
		buf_addf(b, "%s: ", file);
	buf_vaddf(b, fmt, ap);
	buf_addc(b, '\n');
}

int cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(ctx, &ctx->errors, s, fmt, ap);
	va_end(ap);
	ctx->nerrors++;
	return -1;
}

void cfg_warning(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(ctx, &ctx->warnings, s, fmt, ap);
	va_end(ap);
}

/* ---- validators ---- */

const char *cfg_check_name(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 64)
		return "must be 1 to 64 characters";
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return "may hold only letters, digits, '.', '_' and '-'";
	}
	return NULL;
}

const char *cfg_check_abs_path(const char *v)
{
	if (v[0] != '/')
		return "must be an absolute path";
	if (strlen(v) > 1024)
		return "is too long";
	for (const char *p = v; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == v || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return "must not contain '..'";
	return NULL;
}

const char *cfg_check_nonempty(const char *v)
{
	return v[0] ? NULL : "must not be empty";
}

/* ---- the engine ---- */

static const char *type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "something else";
	}
}

static const char *want_name(enum cfg_type t)
{
	switch (t) {
	case CFG_T_BOOL: return "a boolean (true or false)";
	case CFG_T_INT: case CFG_T_INT64: return "an integer";
	default: return "a string";
	}
}

static int set_str(struct cfg_ctx *ctx, const config_setting_t *s, char **field,
		   const char *v)
{
	char *copy = strdup(v);
	if (!copy)
		return cfg_error(ctx, s, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

/*
 * A secret (a non-empty CFG_SECRET value) in a file that others may read, or
 * a group other than the one this process runs as: a warning at its
 * FILE:LINE (-n prints it; start and reload log it).  The daemon's own group
 * is allowed: 0640 root:<the service's group> is the recommended install.
 */
static void check_secret_file(struct cfg_ctx *ctx, const config_setting_t *s,
			      const char *secname, const char *name)
{
	const char *file = s && config_setting_source_file(s) ? config_setting_source_file(s)
							      : ctx->file;
	if (!file)
		return;
	if (!ctx->secret_file || strcmp(ctx->secret_file, file) != 0) {
		struct stat st;
		ctx->secret_file = file;
		ctx->secret_mode = stat(file, &st) < 0 ? 0 : (unsigned)(st.st_mode & 07777);
		ctx->secret_gid = ctx->secret_mode ? (unsigned)st.st_gid : 0;
	}
	unsigned mode = ctx->secret_mode;
	if (mode & S_IROTH)
		cfg_warning(ctx, s, "'%s.%s' is a secret in a file readable by others (mode %04o): "
			    "make it 0600, or 0640 with the service's group", secname, name, mode);
	else if ((mode & S_IRGRP) && ctx->secret_gid != (unsigned)getegid())
		cfg_warning(ctx, s, "'%s.%s' is a secret in a file readable by group %u (mode %04o): "
			    "make it 0600, or 0640 with the service's group", secname, name,
			    ctx->secret_gid, mode);
}

static int parse_key(struct cfg_ctx *ctx, const char *secname, const struct cfg_key *k,
		     const config_setting_t *s, void *out)
{
	void *f = FIELD(out, k->offset);

	if (k->type == CFG_T_CUSTOM)
		return k->custom(ctx, s, f);
	if (!s) {
		if (k->flags & CFG_REQUIRED)
			return 0;	/* reported by the caller, with the section's line */
		switch (k->type) {
		case CFG_T_BOOL: *(bool *)f = k->idef != 0; return 0;
		case CFG_T_INT: *(int *)f = (int)k->idef; return 0;
		case CFG_T_INT64: *(long long *)f = k->idef; return 0;
		case CFG_T_STR: case CFG_T_ADDR:
			return set_str(ctx, NULL, (char **)f, k->sdef ? k->sdef : "");
		case CFG_T_ENUM:
			for (const struct cfg_enum *e = k->enums; e->name; e++)
				if (strcmp(e->name, k->sdef) == 0) {
					*(int *)f = e->value;
					return 0;
				}
			return cfg_error(ctx, NULL, "internal: bad default for '%s.%s'",
					 secname, k->name);
		default: return 0;
		}
	}

	int t = config_setting_type(s);
	switch (k->type) {
	case CFG_T_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			goto wrong_type;
		*(bool *)f = config_setting_get_bool(s) != 0;
		return 0;
	case CFG_T_INT:
	case CFG_T_INT64: {
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			goto wrong_type;
		long long v = config_setting_get_int64(s);
		if (v < k->min || v > k->max)
			return cfg_error(ctx, s, "'%s.%s' is %lld, must be %lld..%lld%s%s",
					 secname, k->name, v, k->min, k->max,
					 k->unit ? " " : "", k->unit ? k->unit : "");
		if (k->type == CFG_T_INT)
			*(int *)f = (int)v;
		else
			*(long long *)f = v;
		return 0;
	}
	case CFG_T_STR:
	case CFG_T_ADDR:
	case CFG_T_ENUM: {
		if (t != CONFIG_TYPE_STRING)
			goto wrong_type;
		const char *v = config_setting_get_string(s);
		if (k->type == CFG_T_ENUM) {
			struct buf names = BUF_INIT;
			for (const struct cfg_enum *e = k->enums; e->name; e++) {
				if (strcmp(e->name, v) == 0) {
					*(int *)f = e->value;
					buf_release(&names);
					return 0;
				}
				buf_addf(&names, "%s%s", names.len ? ", " : "", e->name);
			}
			cfg_error(ctx, s, "'%s.%s' is \"%s\", must be one of: %s",
				  secname, k->name, v, names.data);
			buf_release(&names);
			return -1;
		}
		if (k->type == CFG_T_ADDR) {
			char host[256];
			int port;
			const char *why;
			if (addr_split(v, host, sizeof(host), &port, &why) < 0)
				return cfg_error(ctx, s, "'%s.%s' is \"%s\": %s",
						 secname, k->name, v, why);
		}
		if (k->check) {
			const char *why = k->check(v);
			if (why) {
				if (k->flags & CFG_SECRET)
					return cfg_error(ctx, s, "'%s.%s' %s", secname, k->name, why);
				return cfg_error(ctx, s, "'%s.%s' is \"%s\": %s",
						 secname, k->name, v, why);
			}
		}
		if ((k->flags & CFG_SECRET) && v[0])
			check_secret_file(ctx, s, secname, k->name);
		return set_str(ctx, s, (char **)f, v);
	}
	default:
		return 0;
	}
wrong_type:
	return cfg_error(ctx, s, "'%s.%s' must be %s, not %s", secname, k->name,
			 want_name(k->type), type_name(config_setting_type(s)));
}

int cfg_parse_section(struct cfg_ctx *ctx, const config_setting_t *sec,
		      const char *secname, const struct cfg_key *keys, void *out)
{
	int rc = 0;

	if (sec && config_setting_type(sec) != CONFIG_TYPE_GROUP)
		return cfg_error(ctx, sec, "'%s' must be a group { ... }, not %s",
				 secname, type_name(config_setting_type(sec)));
	/* Unknown keys first: a typo is the likeliest mistake. */
	for (int i = 0; sec && i < config_setting_length(sec); i++) {
		const config_setting_t *c = config_setting_get_elem(sec, (unsigned)i);
		const char *name = config_setting_name(c);
		const struct cfg_key *k;
		for (k = keys; k->name; k++)
			if (name && strcmp(k->name, name) == 0)
				break;
		if (!k->name)
			rc = cfg_error(ctx, c, "unknown key '%s.%s'", secname,
				       name ? name : "?");
	}
	for (const struct cfg_key *k = keys; k->name; k++) {
		const config_setting_t *s = sec ? config_setting_get_member(sec, k->name) : NULL;
		if (!s && (k->flags & CFG_REQUIRED)) {
			rc = cfg_error(ctx, sec, "'%s.%s' is required", secname, k->name);
			continue;
		}
		if (parse_key(ctx, secname, k, s, out) < 0)
			rc = -1;
	}
	return rc;
}

void cfg_free_section(const struct cfg_key *keys, void *out)
{
	for (const struct cfg_key *k = keys; k->name; k++) {
		void *f = FIELD(out, k->offset);
		if (k->type == CFG_T_STR || k->type == CFG_T_ADDR) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (k->type == CFG_T_CUSTOM && k->custom_free) {
			k->custom_free(f);
		}
	}
}

static bool key_equal(const struct cfg_key *k, const void *a, const void *b)
{
	const void *fa = CFIELD(a, k->offset), *fb = CFIELD(b, k->offset);
	switch (k->type) {
	case CFG_T_BOOL: return *(const bool *)fa == *(const bool *)fb;
	case CFG_T_INT: case CFG_T_ENUM: return *(const int *)fa == *(const int *)fb;
	case CFG_T_INT64: return *(const long long *)fa == *(const long long *)fb;
	case CFG_T_STR: case CFG_T_ADDR: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	}
	default: return true;	/* custom keys are never restart-only */
	}
}

int cfg_restart_diff(const char *secname, const struct cfg_key *keys,
		     const void *oldv, const void *newv)
{
	int n = 0;
	for (const struct cfg_key *k = keys; k->name; k++) {
		if (!(k->flags & CFG_RESTART) || key_equal(k, oldv, newv))
			continue;
		log_warn("'%s.%s' cannot change at runtime: keeping the old value until restart",
			 secname, k->name);
		n++;
	}
	return n;
}

void cfg_keep_restart(const struct cfg_key *keys, void *oldv, void *newv)
{
	for (const struct cfg_key *k = keys; k->name; k++) {
		if (!(k->flags & CFG_RESTART) || k->type == CFG_T_CUSTOM)
			continue;
		void *fo = FIELD(oldv, k->offset), *fn = FIELD(newv, k->offset);
		switch (k->type) {
		case CFG_T_BOOL: *(bool *)fn = *(bool *)fo; break;
		case CFG_T_INT: case CFG_T_ENUM: *(int *)fn = *(int *)fo; break;
		case CFG_T_INT64: *(long long *)fn = *(long long *)fo; break;
		case CFG_T_STR: case CFG_T_ADDR: {
			char *tmp = *(char **)fn;	/* swap: both stay owned */
			*(char **)fn = *(char **)fo;
			*(char **)fo = tmp;
			break;
		}
		default: break;
		}
	}
}

int cfg_parse_list(struct cfg_ctx *ctx, const config_setting_t *list, const char *what,
		   const struct cfg_key *keys, size_t elem_size, void **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!list)
		return 0;
	int t = config_setting_type(list);
	if (t != CONFIG_TYPE_LIST)
		return cfg_error(ctx, list, "'%s' must be a list ( {...}, ... ), not %s",
				 what, type_name(t));
	size_t len = (size_t)config_setting_length(list);
	if (len == 0)
		return 0;
	char *arr = calloc(len, elem_size);
	if (!arr)
		return cfg_error(ctx, list, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < len; i++) {
		char name[128];
		snprintf(name, sizeof(name), "%s[%zu]", what, i);
		if (cfg_parse_section(ctx, config_setting_get_elem(list, (unsigned)i), name,
				      keys, arr + i * elem_size) < 0)
			rc = -1;
	}
	*out = arr;
	*n = len;
	return rc;
}

void cfg_free_list(const struct cfg_key *keys, size_t elem_size, void *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cfg_free_section(keys, (char *)arr + i * elem_size);
	free(arr);
}

/* ---- core sections ---- */

static const struct cfg_enum log_levels[] = {
	{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG }, { NULL, 0 },
};

static const char *check_token(const char *v)
{
	for (const char *p = v; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return "may hold only printable ASCII without spaces";
	return NULL;
}

static const char *check_topic_prefix(const char *v)
{
	if (strlen(v) > 200)
		return "is too long";
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return "may hold only letters, digits, '.', '_' and '-' (Kafka topic names)";
	return NULL;
}

#define OFF(type, field) offsetof(type, field)

const struct cfg_key node_keys[] = {
	{ .name = "name", .type = CFG_T_STR, .offset = OFF(struct node_cfg, name),
	  .sdef = "", .check = NULL, .flags = CFG_RESTART },
	{ .name = "state_dir", .type = CFG_T_STR, .offset = OFF(struct node_cfg, state_dir),
	  .sdef = "/var/lib/aggregatord", .check = cfg_check_abs_path, .flags = CFG_RESTART },
	{ .name = NULL },
};

const struct cfg_key log_keys[] = {
	{ .name = "level", .type = CFG_T_ENUM, .offset = OFF(struct log_cfg, level),
	  .sdef = "info", .enums = log_levels },
	{ .name = NULL },
};

const struct cfg_key http_keys[] = {
	{ .name = "listen", .type = CFG_T_ADDR, .offset = OFF(struct http_cfg, listen),
	  .sdef = "127.0.0.1:8089", .flags = CFG_RESTART },
	{ .name = "token", .type = CFG_T_STR, .offset = OFF(struct http_cfg, token),
	  .sdef = "", .check = check_token, .flags = CFG_SECRET },
	{ .name = "max_body", .type = CFG_T_INT, .offset = OFF(struct http_cfg, max_body),
	  .min = 256, .max = 16 << 20, .idef = 65536, .unit = "bytes" },
	{ .name = "max_headers", .type = CFG_T_INT, .offset = OFF(struct http_cfg, max_headers),
	  .min = 1024, .max = 1 << 20, .idef = 16384, .unit = "bytes" },
	{ .name = "timeout", .type = CFG_T_INT, .offset = OFF(struct http_cfg, timeout),
	  .min = 1, .max = 3600, .idef = 30, .unit = "s" },
	{ .name = "request_timeout", .type = CFG_T_INT, .offset = OFF(struct http_cfg, request_timeout),
	  .min = 1, .max = 3600, .idef = 10, .unit = "s" },
	{ .name = "max_connections", .type = CFG_T_INT, .offset = OFF(struct http_cfg, max_connections),
	  .min = 16, .max = 1000000, .idef = 512 },
	{ .name = NULL },
};

/* The sample config's token: known to everyone, so no token at all. */
#define HTTP_TOKEN_PLACEHOLDER "CHANGE-ME"

/* An API reachable beyond loopback must have a real token: the role
 * command and every job's data sit behind it. */
static int validate_http(struct cfg_ctx *ctx, const struct config *cfg, const config_setting_t *root)
{
	const config_setting_t *sec = config_setting_get_member(root, "http");
	const config_setting_t *tok = sec ? config_setting_get_member(sec, "token") : NULL;
	const char *t = cfg->http.token ? cfg->http.token : "";
	bool placeholder = strcmp(t, HTTP_TOKEN_PLACEHOLDER) == 0;

	if (!cfg->http.listen || addr_listen_is_loopback(cfg->http.listen)) {
		if (placeholder)
			cfg_warning(ctx, tok, "'http.token' is still the sample placeholder \"%s\": "
				    "set a secret of your own (e.g. openssl rand -hex 24)",
				    HTTP_TOKEN_PLACEHOLDER);
		return 0;
	}
	if (t[0] == '\0' || placeholder)
		return cfg_error(ctx, tok ? tok : sec, "'http.listen' is \"%s\", beyond loopback: "
				 "'http.token' must be set to a secret of your own (it is %s)",
				 cfg->http.listen, t[0] ? "the sample placeholder" : "empty");
	return 0;
}

const struct cfg_key redis_keys[] = {
	{ .name = "host", .type = CFG_T_STR, .offset = OFF(struct redis_cfg, host),
	  .sdef = "127.0.0.1", .check = cfg_check_nonempty },
	{ .name = "port", .type = CFG_T_INT, .offset = OFF(struct redis_cfg, port),
	  .min = 1, .max = 65535, .idef = 6379 },
	{ .name = "user", .type = CFG_T_STR, .offset = OFF(struct redis_cfg, user), .sdef = "" },
	{ .name = "password", .type = CFG_T_STR, .offset = OFF(struct redis_cfg, password),
	  .sdef = "", .flags = CFG_SECRET },
	{ .name = "db", .type = CFG_T_INT, .offset = OFF(struct redis_cfg, db),
	  .min = 0, .max = 1024, .idef = 0 },
	{ .name = "timeout_ms", .type = CFG_T_INT, .offset = OFF(struct redis_cfg, timeout_ms),
	  .min = 10, .max = 60000, .idef = 1000, .unit = "ms" },
	{ .name = NULL },
};

/*
 * kafka.properties: an array of "name=value" strings, like kcat's -X.
 * (libconfig 1.5 setting names cannot hold the dots librdkafka's names
 * have, so a group of `"linger.ms" = ...` cannot be parsed.)
 */
static int parse_props(struct cfg_ctx *ctx, const config_setting_t *s, void *field)
{
	struct kv_list *l = field;
	l->items = NULL;
	l->n = 0;
	if (!s)
		return 0;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return cfg_error(ctx, s, "'kafka.properties' must be an array of \"name=value\" "
				 "strings, e.g. [ \"linger.ms=5\" ]");
	size_t len = (size_t)config_setting_length(s);
	if (len == 0)
		return 0;
	l->items = calloc(len, sizeof(*l->items));
	if (!l->items)
		return cfg_error(ctx, s, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < len; i++) {
		const config_setting_t *c = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_type(c) == CONFIG_TYPE_STRING ?
			config_setting_get_string(c) : NULL;
		const char *eq = v ? strchr(v, '=') : NULL;
		if (!eq || eq == v) {
			rc = cfg_error(ctx, c, "'kafka.properties[%zu]' must be a \"name=value\" string",
				       i);
			continue;
		}
		struct kv *kv = &l->items[l->n++];
		kv->key = strndup(v, (size_t)(eq - v));
		kv->value = strdup(eq + 1);
		if (!kv->key || !kv->value)
			rc = cfg_error(ctx, c, "out of memory");
	}
	return rc;
}

static void free_props(void *field)
{
	struct kv_list *l = field;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

const struct cfg_key kafka_keys[] = {
	/* Present means enabled, as every section; absent: no Kafka (kafka_presence()). */
	{ .name = "enabled", .type = CFG_T_BOOL, .offset = OFF(struct kafka_cfg, enabled),
	  .idef = 1, .flags = CFG_RESTART },
	{ .name = "brokers", .type = CFG_T_STR, .offset = OFF(struct kafka_cfg, brokers),
	  .sdef = "127.0.0.1:9092", .check = cfg_check_nonempty, .flags = CFG_RESTART },
	{ .name = "topic_prefix", .type = CFG_T_STR, .offset = OFF(struct kafka_cfg, topic_prefix),
	  .sdef = "aggregatord.", .check = check_topic_prefix, .flags = CFG_RESTART },
	{ .name = "properties", .type = CFG_T_CUSTOM, .offset = OFF(struct kafka_cfg, properties),
	  .custom = parse_props, .custom_free = free_props, .flags = 0 },
	{ .name = NULL },
};

static const struct {
	const char *name;
	size_t offset;
	const struct cfg_key *keys;
} core_sections[] = {
	{ "node", offsetof(struct config, node), node_keys },
	{ "log", offsetof(struct config, log), log_keys },
	{ "http", offsetof(struct config, http), http_keys },
	{ "redis", offsetof(struct config, redis), redis_keys },
	{ "kafka", offsetof(struct config, kafka), kafka_keys },
};
#define N_CORE (sizeof(core_sections) / sizeof(core_sections[0]))

static int fill_node_name(struct cfg_ctx *ctx, struct config *cfg, const config_setting_t *sec)
{
	if (cfg->node.name && cfg->node.name[0]) {
		const char *why = cfg_check_name(cfg->node.name);
		if (why)
			return cfg_error(ctx, sec ? config_setting_get_member(sec, "name") : NULL,
					 "'node.name' is \"%s\": %s", cfg->node.name, why);
		return 0;
	}
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "aggregatord");
	host[sizeof(host) - 1] = '\0';
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	if (cfg_check_name(host))
		return cfg_error(ctx, sec, "'node.name' is not set and the host name \"%s\" "
				 "is not a valid node name: set node.name", host);
	return set_str(ctx, sec, &cfg->node.name, host);
}

/*
 * The kafka section works like a job's: present means enabled unless it
 * says `enabled = false`; absent means no Kafka (events are counted only).
 * The key table's default (true) is for a present section.
 */
static void kafka_presence(struct config *cfg, const config_setting_t *sec)
{
	if (!sec)
		cfg->kafka.enabled = false;
}

/*
 * Warn (for -n and the start-up log) about each enabled job whose events
 * go nowhere because no Kafka is configured: they are only counted.
 */
static void warn_unpublished(struct cfg_ctx *ctx, config_setting_t *root, const struct config *cfg,
			     const struct job_ops *const *jobs)
{
	if (cfg->kafka.enabled)
		return;
	bool absent = config_setting_get_member(root, "kafka") == NULL;
	for (size_t j = 0; jobs[j] && j < JOB_MAX; j++) {
		const struct job_ops *ops = jobs[j];
		if (!cfg->jobs[j] || (ops->enabled && !ops->enabled(cfg->jobs[j])))
			continue;
		if (ops->topic)
				cfg_warning(ctx, config_setting_get_member(root, ops->name),
					    "'%s' publishes '%s%s' events, but no kafka broker is "
					    "configured (%s): they are dropped, counted in "
					    "aggregatord_publish_unpublished_total",
					    ops->name, cfg->kafka.topic_prefix, ops->topic,
					    absent ? "no kafka section"
						   : "kafka.enabled = false");
	}
}

/* Parse into cfg from an already-read libconfig tree, with a given job table. */
static int config_from_tree(struct cfg_ctx *ctx, config_t *lc, struct config *cfg,
			    const struct job_ops *const *jobs)
{
	config_setting_t *root = config_root_setting(lc);
	int rc = 0;

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		bool known = false;
		for (size_t c = 0; c < N_CORE; c++)
			if (strcmp(core_sections[c].name, name) == 0)
				known = true;
		for (size_t j = 0; jobs && jobs[j]; j++)
			if (strcmp(jobs[j]->name, name) == 0)
				known = true;
		if (!known && jobs)	/* core sections alone: the others are not read */
			rc = cfg_error(ctx, s, "unknown section '%s'", name);
	}
	for (size_t c = 0; c < N_CORE; c++) {
		const config_setting_t *sec = config_setting_get_member(root, core_sections[c].name);
		if (cfg_parse_section(ctx, sec, core_sections[c].name, core_sections[c].keys,
				      (char *)cfg + core_sections[c].offset) < 0)
			rc = -1;
	}
	if (fill_node_name(ctx, cfg, config_setting_get_member(root, "node")) < 0)
		rc = -1;
	kafka_presence(cfg, config_setting_get_member(root, "kafka"));
	if (validate_http(ctx, cfg, root) < 0)
		rc = -1;
	for (size_t j = 0; jobs && jobs[j] && j < JOB_MAX; j++) {
		const struct job_ops *ops = jobs[j];
		const config_setting_t *sec = config_setting_get_member(root, ops->name);
		if (!sec)
			continue;
		void *jc = calloc(1, ops->cfg_size);
		if (!jc)
			return cfg_error(ctx, sec, "out of memory");
		cfg->jobs[j] = jc;
		int jrc = cfg_parse_section(ctx, sec, ops->name, ops->keys, jc);
		if (jrc == 0 && ops->validate)
			jrc = ops->validate(ctx, sec, jc);
		if (jrc < 0)
			rc = -1;
	}
	if (rc == 0 && jobs)
		warn_unpublished(ctx, root, cfg, jobs);
	return rc;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t c = 0; c < N_CORE; c++)
		cfg_free_section(core_sections[c].keys, (char *)cfg + core_sections[c].offset);
	for (size_t j = 0; cfg->jobtab && cfg->jobtab[j] && j < JOB_MAX; j++) {
		if (!cfg->jobs[j])
			continue;
		cfg_free_section(cfg->jobtab[j]->keys, cfg->jobs[j]);
		free(cfg->jobs[j]);
		cfg->jobs[j] = NULL;
	}
	free(cfg->file);
	free(cfg);
}

struct config *config_load(const char *file, struct cfg_ctx *ctx, const struct job_ops *const *jobs)
{
	config_t lc;
	struct config *cfg = NULL;

	config_init(&lc);
	config_set_options(&lc, 0);	/* no auto-conversion between int and float */
	if (config_read_file(&lc, file) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			cfg_error(ctx, NULL, "cannot read the file: %m");
		else
			buf_addf(&ctx->errors, "%s:%d: %s\n",
				 config_error_file(&lc) ? config_error_file(&lc) : file,
				 config_error_line(&lc), config_error_text(&lc)),
			ctx->nerrors++;
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->file = strdup(file))) {
		cfg_error(ctx, NULL, "out of memory");
		free(cfg);
		cfg = NULL;
		goto out;
	}
	cfg->jobtab = jobs;
	if (config_from_tree(ctx, &lc, cfg, jobs) < 0 || ctx->nerrors) {
		config_free(cfg);
		cfg = NULL;
	}
out:
	config_destroy(&lc);
	return cfg;
}

void config_carry_restart_keys(struct config *old, struct config *next)
{
	for (size_t c = 0; c < N_CORE; c++) {
		void *o = (char *)old + core_sections[c].offset;
		void *n = (char *)next + core_sections[c].offset;
		cfg_restart_diff(core_sections[c].name, core_sections[c].keys, o, n);
		cfg_keep_restart(core_sections[c].keys, o, n);
	}
	const struct job_ops *const *jobs = next->jobtab;
	for (size_t j = 0; jobs && old->jobtab == jobs && jobs[j] && j < JOB_MAX; j++) {
		if (!old->jobs[j] || !next->jobs[j])
			continue;
		cfg_restart_diff(jobs[j]->name, jobs[j]->keys, old->jobs[j], next->jobs[j]);
		cfg_keep_restart(jobs[j]->keys, old->jobs[j], next->jobs[j]);
	}
}
