/*
 * config.h — the configuration: a libconfig file parsed into a fresh
 * struct config, validated whole, then swapped in by the main loop.
 *
 * Each section is described by a declarative table of keys (struct cfg_key):
 * name, type, default, range, unit, and whether the key can change at
 * runtime.  The same engine parses the core sections (node, log, http,
 * redis, kafka) and every job's section (the job supplies its table through
 * struct job_ops, see job.h).  Errors are collected as "FILE:LINE: message"
 * lines, so `aggregatord -n` shows them all at once; any error refuses the
 * whole file.
 *
 * Ownership: config_load() returns a struct the caller frees with
 * config_free().  Every string in it is a private copy (libconfig's memory is
 * gone when config_load() returns).
 */
#ifndef AGG_CONFIG_H
#define AGG_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define CONFIG_DEFAULT_FILE "/etc/aggregatord/aggregatord.conf"
#define JOB_MAX 8	/* slots in the job table */

/* Collected errors of one parse. */
struct cfg_ctx {
	const char *file;	/* path shown in messages */
	struct buf errors;	/* "FILE:LINE: message\n" lines */
	int nerrors;
	struct buf warnings;	/* same format, for things -n should mention */
	/* the mode of the last file a secret was found in (one stat per file
	 * and load, not one per secret): its path (libconfig's, borrowed) */
	const char *secret_file;
	unsigned secret_mode;	/* st_mode & 07777 of it, 0 when it could not be read */
	unsigned secret_gid;	/* its group */
};

/* Record an error at setting s (may be NULL: no line).  Returns -1. */
int cfg_error(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warning(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

enum cfg_type {
	CFG_T_BOOL,	/* bool field */
	CFG_T_INT,	/* int field, range [min, max] */
	CFG_T_INT64,	/* long long field, range [min, max] */
	CFG_T_STR,	/* char * field (malloc'd); `check` may validate it */
	CFG_T_ENUM,	/* int field: value of the matching enums[] entry */
	CFG_T_ADDR,	/* char * "host:port", validated with addr_split() */
	CFG_T_CUSTOM,	/* parsed by `custom` (s == NULL: set the default) */
};

/* Flags of a key. */
#define CFG_RESTART	0x1	/* cannot change at runtime: a reload keeps the old value and says so */
#define CFG_REQUIRED	0x2	/* no default: must be present */
#define CFG_SECRET	0x4	/* never logged */

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;			/* of the field in the section struct */
	long long min, max;		/* INT/INT64 range */
	long long idef;			/* BOOL/INT/INT64 default */
	const char *sdef;		/* STR/ADDR/ENUM default (by name) */
	const struct cfg_enum *enums;	/* ENUM names, ended by { NULL, 0 } */
	/* STR: extra validation; returns NULL when fine, else the reason. */
	const char *(*check)(const char *value);
	/* CUSTOM: parse s (NULL: key absent, set default) into field. */
	int (*custom)(struct cfg_ctx *ctx, const config_setting_t *s, void *field);
	void (*custom_free)(void *field);	/* CUSTOM: release field */
	unsigned flags;
	const char *unit;		/* for docs and messages, e.g. "ms" */
};

/* Parse group `sec` (NULL: section absent, all defaults) into out. */
int cfg_parse_section(struct cfg_ctx *ctx, const config_setting_t *sec,
		      const char *secname, const struct cfg_key *keys, void *out);
/* Free what cfg_parse_section() allocated in out (not out itself). */
void cfg_free_section(const struct cfg_key *keys, void *out);
/* Log, as a warning, each CFG_RESTART key whose value differs; returns count. */
int cfg_restart_diff(const char *secname, const struct cfg_key *keys,
		     const void *oldv, const void *newv);
/* Copy each CFG_RESTART key's value from oldv to newv (ownership moves). */
void cfg_keep_restart(const struct cfg_key *keys, void *oldv, void *newv);

/*
 * Parse a list of groups (e.g. `members = ( {...}, {...} )`) with one key
 * table: *out becomes a calloc'd array of n elements of elem_size bytes.
 * Free with cfg_free_list().
 */
int cfg_parse_list(struct cfg_ctx *ctx, const config_setting_t *list, const char *what,
		   const struct cfg_key *keys, size_t elem_size, void **out, size_t *n);
void cfg_free_list(const struct cfg_key *keys, size_t elem_size, void *arr, size_t n);

/* Validators for CFG_T_STR keys (NULL = fine, else reason). */
const char *cfg_check_name(const char *v);	/* [A-Za-z0-9._-]{1,64} */
const char *cfg_check_abs_path(const char *v);	/* absolute, no ".." */
const char *cfg_check_nonempty(const char *v);

/* One "key = value" pair of a free-form group (kafka.properties). */
struct kv {
	char *key;
	char *value;
};

struct kv_list {
	struct kv *items;	/* malloc'd array of n */
	size_t n;
};

struct node_cfg {
	char *name;		/* this node's name: Redis keys, events, status */
	char *state_dir;	/* absolute; every file the daemon writes is below it */
};

struct log_cfg {
	int level;		/* enum log_level */
};

struct http_cfg {
	char *listen;		/* "host:port" of the HTTP API */
	char *token;		/* bearer token; "" = no authentication */
	int max_body;		/* bytes: larger request bodies are refused */
	int max_headers;	/* bytes: larger request headers are refused */
	int timeout;		/* seconds: idle connection timeout */
	int request_timeout;	/* seconds: a whole request must arrive within this */
	int max_connections;	/* open connections at most (see http_conn_cap) */
};

struct redis_cfg {
	char *host;		/* host name, address, or a unix socket path */
	int port;
	char *user;		/* ACL user; "" = AUTH with the password alone (user "default") */
	char *password;		/* "" = no AUTH */
	int db;			/* SELECT index */
	int timeout_ms;		/* connect and command timeout, ms */
};

struct kafka_cfg {
	bool enabled;		/* produce events (the section present, unless enabled = false);
				 * false: count them only */
	char *brokers;		/* bootstrap.servers */
	char *topic_prefix;	/* prepended to radacct, totals, usage */
	struct kv_list properties;	/* passed to librdkafka as is */
};

struct config {
	char *file;		/* path it was read from */
	struct node_cfg node;
	struct log_cfg log;
	struct http_cfg http;
	struct redis_cfg redis;
	struct kafka_cfg kafka;
	void *jobs[JOB_MAX];	/* per job-table slot: its section, or NULL if absent */
	const struct job_ops *const *jobtab;	/* the table it was read with (borrowed), or NULL */
};

/*
 * Read and validate FILE: the core sections, and the section of each job in
 * jobs (a NULL-terminated table: slot i of it is cfg->jobs[i]; an unknown
 * section is an error).  jobs NULL reads the core sections alone and
 * ignores every other section (a client such as aggregatorctl, which links
 * no job).  Returns the config (caller frees with config_free(); it keeps a
 * pointer to jobs, which must outlive it), or NULL with every error in
 * ctx->errors (caller initialises ctx with cfg_ctx_init() and releases it
 * with cfg_ctx_release()).
 */
struct job_ops;
struct config *config_load(const char *file, struct cfg_ctx *ctx, const struct job_ops *const *jobs);
void config_free(struct config *cfg);

/*
 * For a reload: warn about every restart-only key that differs and keep its
 * old value in next, so what runs always matches what the log says.
 */
void config_carry_restart_keys(struct config *old, struct config *next);

void cfg_ctx_init(struct cfg_ctx *ctx, const char *file);
void cfg_ctx_release(struct cfg_ctx *ctx);

/* Key tables of the core sections (also used by docs tests). */
extern const struct cfg_key node_keys[], log_keys[], http_keys[], redis_keys[], kafka_keys[];

#endif
