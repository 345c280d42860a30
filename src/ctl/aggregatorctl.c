/*
 * aggregatorctl.c — the operator's command line for a running aggregatord.
 *
 * It speaks the daemon's HTTP API (see docs/operations.md): `status` reads
 * /v1/status and prints a table (or the JSON with --json), `total` reads
 * /v1/totals and prints a table of totals (or the JSON), `role` posts to
 * /v1/role.  Where the daemon is: -s URL, else $AGGREGATORD_URL, else the
 * http.listen of the config file (-c FILE, default the system one, if
 * readable), else http://127.0.0.1:8089.  The token likewise: -t TOKEN,
 * $AGGREGATORD_TOKEN, or the config file's http.token.
 *
 * Exit status: 0 success, 1 the daemon refused or could not be reached,
 * 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "export.h"
#include "httpc.h"
#include "json.h"
#include "role.h"

#ifndef AGG_VERSION
#define AGG_VERSION "dev"
#endif

struct ctl {
	char url[512];		/* base URL, no trailing slash */
	char *token;		/* malloc'd or NULL */
	int timeout_ms;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aggregatorctl [-s URL] [-t TOKEN] [-c FILE] COMMAND\n"
		"  status [--json]                    role, jobs, last runs, counters\n"
		"  total PREFIX [FIELD|* ...] [--window SECONDS] [--json]\n"
		"                                     a totalizer's counts over the last SECONDS\n"
		"                                     (default 3600), one row per value of each\n"
		"                                     '*' field; other fields fix their value\n"
		"  role active|standby|auto|yield     override the election (like SIGRTMIN+1,2,3,0)\n"
		"  export FILE.bin [-o OUT.xlsx | --csv]\n"
		"                                     an hourly usage file as a sheet or CSV (offline)\n"
		"  export --dir STATE_DIR/usage --account A --from YYYY-MM-DDTHH --to YYYY-MM-DDTHH\n"
		"         -o OUT.xlsx                 an account's hours (UTC, --to included) as an\n"
		"                                     invoice: a summary sheet, one sheet per day\n"
		"options:\n"
		"  -s URL     the daemon's HTTP API (default: http.listen of the config file)\n"
		"  -t TOKEN   bearer token (default: $AGGREGATORD_TOKEN or http.token of the config)\n"
		"  -c FILE    config file to read those from (default %s)\n"
		"  -T MS      deadline of each call to the daemon, the whole exchange, in\n"
		"             milliseconds (default 5000)\n"
		"  -V, --version  print the version\n",
		CONFIG_DEFAULT_FILE);
}

/* Fill url/token from the daemon's config file, when it can be read. */
static void from_config(struct ctl *c, const char *file, bool must)
{
	if (!must && access(file, R_OK) != 0)
		return;
	struct cfg_ctx ctx;
	cfg_ctx_init(&ctx, file);
	struct config *cfg = config_load(file, &ctx, NULL);	/* core sections only */
	if (!cfg) {
		fprintf(stderr, "aggregatorctl: cannot use config file '%s':\n%s", file,
			ctx.errors.data);
		cfg_ctx_release(&ctx);
		if (must)
			exit(2);
		return;
	}
	cfg_ctx_release(&ctx);
	if (!c->url[0]) {
		const char *l = cfg->http.listen;
		/* A wildcard listen address is reached on loopback. */
		if (strncmp(l, "0.0.0.0:", 8) == 0)
			snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%s", l + 8);
		else if (strncmp(l, "[::]:", 5) == 0)
			snprintf(c->url, sizeof(c->url), "http://[::1]:%s", l + 5);
		else
			snprintf(c->url, sizeof(c->url), "http://%s", l);
	}
	if (!c->token && cfg->http.token[0])
		c->token = strdup(cfg->http.token);
	config_free(cfg);
}

/*
 * Terminal-safe text for the human output: every byte outside printable
 * ASCII (control bytes, DEL, anything from 0x80) is shown as \xNN, so a key
 * written into Redis by anyone, or a message, cannot move the cursor, clear
 * the screen or retitle the terminal.  Keys written by aggregatord are
 * printable already and show unchanged.  --json output is left as it is.
 */
static bool safe_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/* Columns s takes once escaped. */
static size_t safe_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += safe_byte((unsigned char)*s) ? 1 : 4;
	return n;
}

/* Write s escaped to f, then spaces up to width columns. */
static void fput_safe(FILE *f, const char *s, size_t width)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (safe_byte(c)) {
			putc(c, f);
			n++;
		} else {
			fprintf(f, "\\x%c%c", hex[c >> 4], hex[c & 15]);
			n += 4;
		}
	}
	for (; n < width; n++)
		putc(' ', f);
}

/* GET or POST path; on success *out is the parsed JSON (caller frees). */
static int call(struct ctl *c, const char *method, const char *path, const char *body,
		struct httpc_resp *resp)
{
	char url[1024], err[512];
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	if (httpc_request(method, url, c->token, body, "application/json", c->timeout_ms,
			  resp, err, sizeof(err)) < 0) {
		fprintf(stderr, "aggregatorctl: %s\n", err);
		return -1;
	}
	if (resp->status != 200) {
		char jerr[128];
		struct json *j = json_parse(resp->body.data, resp->body.len, jerr, sizeof(jerr));
		fprintf(stderr, "aggregatorctl: %s %s: HTTP %d: ", method, path, resp->status);
		fput_safe(stderr, json_get_str(j, "error", resp->body.data), 0);
		putc('\n', stderr);
		json_free(j);
		buf_release(&resp->body);
		return -1;
	}
	return 0;
}

static void print_value(const struct json *v)
{
	switch (v->type) {
	case JSON_NULL: printf("-"); break;
	case JSON_BOOL: printf("%s", v->boolean ? "yes" : "no"); break;
	case JSON_NUM: printf("%s", v->str); break;
	case JSON_STR: fput_safe(stdout, v->str, 0); break;
	case JSON_ARR: {
		int first = 1;
		for (const struct json *e = v->child; e; e = e->next) {
			printf("%s", first ? "" : ", ");
			first = 0;
			if (e->type == JSON_OBJ || e->type == JSON_ARR)
				printf("{...}");
			else
				print_value(e);
		}
		break;
	}
	case JSON_OBJ: printf("{...}"); break;
	}
}

/* Print an object's members as indented "key  value" lines. */
static void print_object(const struct json *o, int indent)
{
	for (const struct json *m = o->child; m; m = m->next) {
		if (m->type == JSON_OBJ) {
			printf("%*s", indent, "");
			fput_safe(stdout, m->key, 0);
			printf(":\n");
			print_object(m, indent + 2);
			continue;
		}
		printf("%*s", indent, "");
		fput_safe(stdout, m->key, (size_t)(24 - indent > 8 ? 24 - indent : 8));
		putchar(' ');
		print_value(m);
		putchar('\n');
	}
}

static void fmt_duration(double s, char *out, size_t len)
{
	unsigned long t = (unsigned long)s;
	if (t >= 86400)
		snprintf(out, len, "%lud %02luh %02lum", t / 86400, t % 86400 / 3600, t % 3600 / 60);
	else if (t >= 3600)
		snprintf(out, len, "%luh %02lum %02lus", t / 3600, t % 3600 / 60, t % 60);
	else
		snprintf(out, len, "%lum %02lus", t / 60, t % 60);
}

static int cmd_status(struct ctl *c)
{
	struct httpc_resp resp;
	char err[128], up[64];

	if (call(c, "GET", "/v1/status", NULL, &resp) < 0)
		return 1;
	if (c->json) {
		fputs(resp.body.data, stdout);
		buf_release(&resp.body);
		return 0;
	}
	struct json *j = json_parse(resp.body.data, resp.body.len, err, sizeof(err));
	buf_release(&resp.body);
	if (!j) {
		fprintf(stderr, "aggregatorctl: bad status JSON: %s\n", err);
		return 1;
	}
	const struct json *cfg = json_get(j, "config"), *role = json_get(j, "role");
	fmt_duration(json_get_num(j, "uptime_s", 0), up, sizeof(up));
	printf("%-12s %s\n", "node", json_get_str(j, "node", "?"));
	printf("%-12s %s (pid %.0f, up %s since %s)\n", "version", json_get_str(j, "version", "?"),
	       json_get_num(j, "pid", 0), up, json_get_str(j, "started", "?"));
	printf("%-12s %s\n", "log level", json_get_str(j, "log_level", "?"));
	printf("%-12s %s (reloads: %.0f ok, %.0f failed; last: %s%s)\n", "config",
	       json_get_str(cfg, "file", "?"), json_get_num(cfg, "reloads_ok", 0),
	       json_get_num(cfg, "reloads_failed", 0), json_get_str(cfg, "last_reload", "never"),
	       json_get(cfg, "last_reload") && json_get(cfg, "last_reload")->type == JSON_STR ?
		       (json_get(cfg, "last_reload_ok") && json_get(cfg, "last_reload_ok")->boolean ?
				" ok" : " REFUSED") : "");
	printf("%-12s %s", "role", json_get_str(role, "mode", "?"));
	const char *state = json_get_str(role, "state", NULL);
	if (state)
		printf(", %s", state);
	const char *last = json_get_str(role, "last_command", NULL);
	if (last)
		printf(" (last command %s via %s)", last, json_get_str(role, "last_source", "?"));
	putchar('\n');

	const struct json *jobs = json_get(j, "jobs");
	printf("\n%-12s %-11s %s\n", "JOB", "CONFIGURED", "RUNNING");
	int n = 0;
	for (const struct json *job = jobs ? jobs->child : NULL; job; job = job->next, n++) {
		const struct json *conf = json_get(job, "configured"), *run = json_get(job, "running");
		printf("%-12s %-11s %s\n", json_get_str(job, "name", "?"),
		       conf && conf->boolean ? "yes" : "no", run && run->boolean ? "yes" : "no");
	}
	if (n == 0)
		printf("(no jobs in this build)\n");
	for (const struct json *job = jobs ? jobs->child : NULL; job; job = job->next) {
		const struct json *st = json_get(job, "status");
		if (!st || st->type != JSON_OBJ)
			continue;
		printf("\n[%s]\n", json_get_str(job, "name", "?"));
		print_object(st, 2);
	}
	json_free(j);
	return 0;
}

/* Column title of grouped field i (0 = the first field after the prefix). */
static void field_title(size_t i, char *out, size_t len)
{
	if (i == 0)
		snprintf(out, len, "MATCHED");
	else if (i == 1)
		snprintf(out, len, "SOURCE");
	else
		snprintf(out, len, "FIELD%zu", i + 1);
}

/* The text of a total (the JSON number as the daemon wrote it). */
static const char *total_text(const struct json *v)
{
	return v && v->type == JSON_NUM ? v->str : "?";
}

/* Print /v1/totals' answer as a table: grouped fields, TOTAL, then the sum. */
static int print_totals(const struct json *j)
{
	const struct json *gb = json_get(j, "group_by"), *rows = json_get(j, "rows"), *g, *r;
	size_t ng = 0, lw = 0, tw = strlen("TOTAL");
	char title[32];

	for (g = gb && gb->type == JSON_ARR ? gb->child : NULL; g; g = g->next)
		ng++;
	size_t *w = calloc(ng ? ng : 1, sizeof(*w));
	if (!w) {
		fprintf(stderr, "aggregatorctl: out of memory for the table\n");
		return 1;
	}
	size_t i = 0;
	for (g = gb && gb->type == JSON_ARR ? gb->child : NULL; g; g = g->next, i++) {
		field_title((size_t)g->num, title, sizeof(title));
		w[i] = strlen(title);
	}
	for (r = rows && rows->type == JSON_ARR ? rows->child : NULL; r; r = r->next) {
		const struct json *f = json_get(r, "fields");
		i = 0;
		for (f = f && f->type == JSON_ARR ? f->child : NULL; f && i < ng; f = f->next, i++)
			if (f->type == JSON_STR && safe_len(f->str) > w[i])
				w[i] = safe_len(f->str);
		if (strlen(total_text(json_get(r, "total"))) > tw)
			tw = strlen(total_text(json_get(r, "total")));
	}
	if (strlen(total_text(json_get(j, "total"))) > tw)
		tw = strlen(total_text(json_get(j, "total")));
	for (i = 0; i < ng; i++)
		lw += w[i] + (i ? 2 : 0);
	if (lw < strlen("total")) {	/* room for the "total" label */
		if (ng)
			w[ng - 1] += strlen("total") - lw;
		lw = strlen("total");
	}

	i = 0;
	for (g = gb && gb->type == JSON_ARR ? gb->child : NULL; g; g = g->next, i++) {
		field_title((size_t)g->num, title, sizeof(title));
		printf("%-*s  ", (int)w[i], title);
	}
	printf("%s%*s\n", ng ? "" : "       ", (int)tw, "TOTAL");
	for (r = rows && rows->type == JSON_ARR ? rows->child : NULL; r; r = r->next) {
		const struct json *f = json_get(r, "fields");
		f = f && f->type == JSON_ARR ? f->child : NULL;
		for (i = 0; i < ng; i++, f = f ? f->next : NULL) {
			fput_safe(stdout, f && f->type == JSON_STR ? f->str : "", w[i]);
			printf("  ");
		}
		printf("%s%*s\n", ng ? "" : "       ", (int)tw, total_text(json_get(r, "total")));
	}
	for (i = 0; i < lw + 2 + tw; i++)
		putchar('-');
	printf("\n%-*s  %*s\n", (int)lw, "total", (int)tw, total_text(json_get(j, "total")));
	free(w);

	const struct json *keys = json_get(j, "keys");
	double skipped = json_get_num(keys, "skipped", 0), future = json_get_num(keys, "future", 0);
	if (skipped > 0 || future > 0) {
		fprintf(stderr, "aggregatorctl: keys under '");
		fput_safe(stderr, json_get_str(j, "prefix", "?"), 0);
		fprintf(stderr, "' left out: %.0f unparsable, %.0f starting after the daemon's clock\n",
			skipped, future);
	}
	const struct json *warn = json_get(j, "warnings");
	for (g = warn && warn->type == JSON_ARR ? warn->child : NULL; g; g = g->next)
		if (g->type == JSON_STR) {
			fprintf(stderr, "aggregatorctl: warning: ");
			fput_safe(stderr, g->str, 0);
			fprintf(stderr, "\n");
		}
	return 0;
}

/* total PREFIX [FIELD|* ...] [--window SECONDS]: GET /v1/totals. */
static int cmd_total(struct ctl *c, int argc, char **argv)
{
	struct buf path = BUF_INIT, fields = BUF_INIT;
	const char *prefix = NULL, *window = "3600";
	bool opts = true;
	int rc = 2;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (opts && strcmp(a, "--") == 0) {
			opts = false;
		} else if (opts && strcmp(a, "--window") == 0) {
			if (++i == argc)
				goto usage;
			window = argv[i];
		} else if (opts && strncmp(a, "--window=", 9) == 0) {
			window = a + 9;
		} else if (opts && a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "aggregatorctl: total: unknown option '%s'\n", a);
			goto usage;
		} else if (!prefix) {
			prefix = a;
		} else {
			buf_adds(&fields, "&field=");
			httpc_escape(&fields, a);
		}
	}
	if (!prefix || !prefix[0])
		goto usage;
	if (!window[0] || strspn(window, "0123456789") != strlen(window) ||
	    strspn(window, "0") == strlen(window) || strlen(window) > 10) {
		fprintf(stderr, "aggregatorctl: --window '%s' is not a number of seconds\n", window);
		goto out;
	}
	buf_adds(&path, "/v1/totals?prefix=");
	httpc_escape(&path, prefix);
	buf_addf(&path, "&window=%s%s", window, fields.data);
	if (path.oom || fields.oom) {
		fprintf(stderr, "aggregatorctl: out of memory for the query\n");
		rc = 1;
		goto out;
	}
	if (strlen(c->url) + path.len >= 1024) {	/* the URL buffer of call() */
		fprintf(stderr, "aggregatorctl: total: the query is too long (%zu bytes)\n",
			path.len);
		goto out;
	}
	struct httpc_resp resp;
	rc = 1;
	if (call(c, "GET", path.data, NULL, &resp) < 0)
		goto out;
	if (c->json) {
		fputs(resp.body.data, stdout);
		if (resp.body.len && resp.body.data[resp.body.len - 1] != '\n')
			putchar('\n');
		buf_release(&resp.body);
		rc = 0;
		goto out;
	}
	char err[128];
	struct json *j = json_parse(resp.body.data, resp.body.len, err, sizeof(err));
	buf_release(&resp.body);
	if (!j) {
		fprintf(stderr, "aggregatorctl: bad totals JSON: %s\n", err);
		goto out;
	}
	rc = print_totals(j);
	json_free(j);
	goto out;
usage:
	usage(stderr);
out:
	buf_release(&path);
	buf_release(&fields);
	return rc;
}

static int cmd_role(struct ctl *c, const char *what)
{
	if (role_cmd_from_name(what) < 0) {
		fprintf(stderr, "aggregatorctl: role must be active, standby, auto or yield\n");
		return 2;
	}
	struct buf body = BUF_INIT;
	buf_adds(&body, "{\"role\":");
	json_add_str(&body, what);
	buf_adds(&body, "}");
	struct httpc_resp resp;
	int rc = call(c, "POST", "/v1/role", body.data, &resp);
	buf_release(&body);
	if (rc < 0)
		return 1;
	char err[128];
	struct json *j = json_parse(resp.body.data, resp.body.len, err, sizeof(err));
	printf("role command '%s' accepted: mode %s\n", what, json_get_str(j, "mode", "?"));
	json_free(j);
	buf_release(&resp.body);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .timeout_ms = 5000 };
	const char *file = NULL, *s = NULL, *t = NULL;
	int opt;

	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "+s:t:c:T:jhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': s = optarg; break;
		case 't': t = optarg; break;
		case 'c': file = optarg; break;
		case 'T':
			c.timeout_ms = atoi(optarg);
			if (c.timeout_ms <= 0) {
				fprintf(stderr, "aggregatorctl: -T '%s': want a positive number of milliseconds\n", optarg);
				return 2;
			}
			break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("aggregatorctl %s\n", AGG_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind++];
	/* export works on files, offline: no daemon, no config. */
	if (strcmp(cmd, "export") == 0)
		return export_main(argc - optind, argv + optind);
	/* Options may also follow the command (status --json). */
	int rest = optind;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c.json = true;
		else
			argv[rest++] = argv[i];
	}
	argc = rest;

	if (!s)
		s = getenv("AGGREGATORD_URL");
	if (!t)
		t = getenv("AGGREGATORD_TOKEN");
	if (s)
		snprintf(c.url, sizeof(c.url), "%s", s);
	if (t)
		c.token = strdup(t);
	if (!c.url[0] || !c.token)
		from_config(&c, file ? file : CONFIG_DEFAULT_FILE, file != NULL);
	if (!c.url[0])
		snprintf(c.url, sizeof(c.url), "http://127.0.0.1:8089");
	size_t ul = strlen(c.url);
	if (ul && c.url[ul - 1] == '/')
		c.url[ul - 1] = '\0';

	int rc;
	if (strcmp(cmd, "status") == 0 && optind == argc) {
		rc = cmd_status(&c);
	} else if (strcmp(cmd, "total") == 0 && optind < argc) {
		rc = cmd_total(&c, argc - optind, argv + optind);
	} else if (strcmp(cmd, "role") == 0 && optind + 1 == argc) {
		rc = cmd_role(&c, argv[optind]);
	} else {
		usage(stderr);
		rc = 2;
	}
	free(c.token);
	return rc;
}
