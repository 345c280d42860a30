/*
 * rollup_http.c — GET /v1/usage/YYYY/MM/DD/HH[/ACCOUNT.bin], on the main
 * thread: an hour's listing (its index and whether it is done, as JSON) or
 * one account's file, streamed from disk as the client reads
 * (http_reply_file), never read whole on the loop.  A master fetches its
 * locations' hours through it (rollup_master.c).  It only reads the store;
 * the hour in the path must be a real one and the account a safe name
 * (rollup_hours.h), and only a regular file is served.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"
#include "json.h"
#include "rollup_int.h"

void rollup_http(void *job, struct http_req *req)
{
	struct rollup *r = job;
	const char *rest = req->rest;
	char hourtxt[64];
	long long hour = rollup_parse_url_hour(rest);
	if (hour < 0) {
		http_error(req, 400, "path must be /v1/usage/YYYY/MM/DD/HH[/ACCOUNT.bin], a real hour");
		return;
	}
	rollup_hour_text(hourtxt, sizeof(hourtxt), hour);
	if (rest[13] == '\0') {
		char *idx = rollup_read_index(r->usage_dir, hour);
		struct buf b = BUF_INIT;
		struct jw w;
		jw_init(&w, &b);
		jw_obj(&w);
		jw_kv_str(&w, "hour", hourtxt);
		jw_kv_bool(&w, "complete", rollup_hour_done(r->usage_dir, hour));
		jw_key(&w, "accounts");
		jw_arr(&w);
		for (char *line = idx; line && *line;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (*line && !rollup_check_name(line))
				jw_str(&w, line);
			line = nl ? nl + 1 : NULL;
		}
		jw_end(&w);
		jw_end(&w);
		buf_addc(&b, '\n');
		free(idx);
		if (!idx) {
			buf_release(&b);
			http_error(req, 404, "no files for that hour");
			return;
		}
		http_reply(req, 200, "application/json", &b);
		buf_release(&b);
		return;
	}
	const char *file = rest + 14;
	size_t fl = strlen(file);
	char account[160];
	if (fl < 5 || fl - 4 >= sizeof(account) || strcmp(file + fl - 4, ".bin") != 0) {
		http_error(req, 400, "file must be ACCOUNT.bin");
		return;
	}
	memcpy(account, file, fl - 4);
	account[fl - 4] = '\0';
	if (rollup_check_name(account)) {
		http_error(req, 400, "bad account name");
		return;
	}
	char path[PATH_MAX];
	int fd = -1;
	struct stat st;
	/* Served from the file as the client reads (http_reply_file), never
	 * read whole on the loop.  O_NONBLOCK: a FIFO must not block open(). */
	if (rollup_hour_path(path, sizeof(path), r->usage_dir, account, hour) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0 ||
	    fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)FILE_MAX) {
		if (fd >= 0)
			close(fd);
		http_error(req, 404, "no such file");
		return;
	}
	http_reply_file(req, "application/octet-stream", fd, (size_t)st.st_size);
}
