/*
 * test_held.c — reading held-counts files (totalizer_held.c, held_load):
 * files written here from the format of docs/formats.md ("Held counts"),
 * not by the daemon's writer.  Two good files are read whole, oldest name
 * first, with their ids, keys and deltas; each file with one defect (every
 * field out of range or malformed in turn, a chunk whose sum does not
 * match, too many chunks, a wrong end count, a checksum mismatch, no chunk,
 * bytes after the end line) is refused and counted, never applied in part;
 * names not ending in ".held" are not read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "failalloc.h"
#include "log.h"
#include "suites.h"
#include "tally.h"
#include "totalizer_int.h"

#define MAGIC "aggregatord held counts 1\n"
#define HEAD MAGIC "interval_start_ms 1700000000000 flush_ms 200\n"
/* key "n;u1;s;1700000000" (17 bytes): prefix 1, matched 2+2, source 5+1 */
#define KEY1 "5 86400 1 2 2 5 1 17 n;u1;s;1700000000\n"
#define KEY2 "-2 86400 1 2 2 5 1 17 n;u2;s;1700000000\n"
#define CHUNK "chunk 5 b:1:7 2 3\n" KEY1 KEY2

static char dir[] = "/tmp/agg-held-XXXXXX";

/* Write body to dir/name; with_end: the end line for nchunks, its CRC. */
static void put(const char *name, const char *body, size_t len, int nchunks, bool with_end)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(body, 1, len, f), len);
	if (with_end)
		fprintf(f, "end %d %08lx\n", nchunks,
			crc32(crc32(0L, Z_NULL, 0), (const Bytef *)body, (uInt)len));
	ck_assert_int_eq(fclose(f), 0);
}

static void put_s(const char *name, const char *body, int nchunks)
{
	put(name, body, strlen(body), nchunks, true);
}

START_TEST(good_and_refused)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* good: read whole, in name order */
	put_s("2-good.held", HEAD CHUNK "chunk 3 b:2 1 5\n" KEY1, 2);
	put_s("1-good.held", HEAD "chunk 3 b:0 1 5\n" KEY1, 1);
	/* not a held-counts file by its name: not read */
	put_s("3.held.tmp", "garbage", 0);
	put_s(".held", "garbage", 0);
	/* one defect each */
	static const struct {
		const char *body;
		int nchunks;
	} bad[] = {
		{ "garbage\n", 0 },
		{ MAGIC "interval_start_ms x flush_ms 200\n" CHUNK, 1 },
		{ MAGIC "interval_start_ms 1 flush_ms 0\n" CHUNK, 1 },
		{ MAGIC "interval_start_ms 1 flush_ms 200", 0 },		/* no newline */
		{ HEAD "chunk 0  2 3\n" KEY1 KEY2, 1 },				/* empty id */
		{ HEAD "chunk 5 b:1\x01x 2 3\n" KEY1 KEY2, 1 },			/* control byte */
		{ HEAD "chunk 5 b: 17 2 3\n" KEY1 KEY2, 1 },			/* space in id */
		{ HEAD "chunk 99 b:1:7 2 3\n" KEY1 KEY2, 1 },			/* id past the end */
		{ HEAD "chunk 5 b:1:7 0 0\n", 1 },				/* no keys */
		{ HEAD "chunk 5 b:1:7 501 3\n" KEY1 KEY2, 1 },			/* > CHUNK_KEYS */
		{ HEAD "chunk 5 b:1:7 1 5\n5 0 1 2 2 5 1 17 n;u1;s;1700000000\n", 1 },	/* ttl 0 */
		{ HEAD "chunk 5 b:1:7 1 5\nx 86400 1 2 2 5 1 17 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 1 256 2 5 1 17 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 1 2 2 5 1 16 n;u1;s;1700000000\n", 1 },	/* klen */
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 1 2 2 5 1 513 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 18 2 2 5 1 17 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 1 16 2 5 1 17 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 1 5\n5 86400 1 2 2 16 2 17 n;u1;s;1700000000\n", 1 },
		{ HEAD "chunk 5 b:1:7 2 4\n" KEY1 KEY2, 1 },			/* sum 3, not 4 */
		{ HEAD "chunk 5 b:1:7 2 3\n" KEY1, 1 },				/* a key missing */
		{ HEAD CHUNK, 2 },						/* end count */
		{ HEAD, 0 },							/* no chunk */
	};
	size_t nbad = sizeof(bad) / sizeof(bad[0]);
	for (size_t i = 0; i < nbad; i++) {
		char name[32];
		snprintf(name, sizeof(name), "bad-%02zu.held", i);
		put_s(name, bad[i].body, bad[i].nchunks);
	}
	/* a checksum mismatch, bytes after the end line, a torn end line */
	put("bad-crc.held", HEAD CHUNK "end 1 00000000\n", strlen(HEAD CHUNK "end 1 00000000\n"), 0, false);
	put("bad-tail.held", HEAD CHUNK, strlen(HEAD CHUNK), 1, true);
	{
		char path[256];
		snprintf(path, sizeof(path), "%s/bad-tail.held", dir);
		FILE *f = fopen(path, "a");
		ck_assert_ptr_nonnull(f);
		fputs("x", f);
		fclose(f);
	}
	put("bad-torn.held", HEAD CHUNK "end 1 1234", strlen(HEAD CHUNK "end 1 1234"), 0, false);
	/* 101 chunks: one past a file's HELD_FILE_CHUNKS */
	size_t cap = 101 * 64 + 128, len = 0;
	char *many = malloc(cap);
	ck_assert_ptr_nonnull(many);
	len += (size_t)snprintf(many + len, cap - len, "%s", HEAD);
	for (int i = 0; i < 101; i++)
		len += (size_t)snprintf(many + len, cap - len, "chunk 5 c:%03d 1 5\n%s", i, KEY1);
	put("bad-many.held", many, len, 101, true);
	free(many);

	struct totalizer tz;
	memset(&tz, 0, sizeof(tz));
	tz.held_dir = dir;
	held_load(&tz);
	ck_assert_uint_eq(atomic_load(&tz.held_refused), nbad + 4);
	struct held_file *a = tz.held;
	ck_assert_ptr_nonnull(a);
	ck_assert_msg(strstr(a->path, "/1-good.held") != NULL, "%s", a->path);
	ck_assert_uint_eq(a->interval_start_ms, 1700000000000ULL);
	ck_assert_int_eq(a->flush_ms, 200);
	ck_assert_uint_eq(a->nchunks, 1);
	ck_assert_str_eq(a->chunks[0].id, "b:0");
	ck_assert_uint_eq(a->chunks[0].t->total, 5);
	struct held_file *b = a->next;
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(strstr(b->path, "/2-good.held") != NULL, "%s", b->path);
	ck_assert_uint_eq(b->nchunks, 2);
	ck_assert_str_eq(b->chunks[0].id, "b:1:7");
	ck_assert_uint_eq(b->chunks[0].t->count, 2);
	ck_assert_uint_eq(b->chunks[0].t->total, 3);	/* 5 - 2 */
	ck_assert_str_eq(b->chunks[1].id, "b:2");
	ck_assert_ptr_null(b->next);

	/* applied: the file goes, the next is first */
	held_done(&tz, a);
	ck_assert_ptr_eq(tz.held, b);
	char path[256];
	snprintf(path, sizeof(path), "%s/1-good.held", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	held_free_all(&tz);
	ck_assert_ptr_null(tz.held);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- out of memory (failalloc.h): every allocation of held_load failed in turn ---- */

/* Each of the three good files is either read whole (its exact counts) or
 * not taken (refused and counted, or not listed this time, which the log
 * says); none is taken in part, and every file is still on disk for the
 * next start. */
static void held_oom_body(void *arg)
{
	(void)arg;
	struct totalizer tz;
	memset(&tz, 0, sizeof(tz));
	tz.held_dir = dir;
	FILE *logf = tmpfile();
	ck_assert_ptr_nonnull(logf);
	log_set_fd(fileno(logf));
	oom_arm();
	held_load(&tz);
	bool failed = oom_disarm();
	log_set_fd(STDERR_FILENO);
	char said[4096] = "";
	rewind(logf);
	said[fread(said, 1, sizeof(said) - 1, logf)] = '\0';
	fclose(logf);
	size_t taken = 0;
	for (struct held_file *hf = tz.held; hf; hf = hf->next, taken++) {
		const char *base = strrchr(hf->path, '/');
		ck_assert_ptr_nonnull(base);
		if (strcmp(base, "/2-good.held") == 0) {
			ck_assert_uint_eq(hf->nchunks, 2);
			ck_assert_uint_eq(hf->chunks[0].t->count, 2);
			ck_assert_uint_eq(hf->chunks[0].t->total, 3);
			ck_assert_uint_eq(hf->chunks[1].t->total, 5);
		} else {
			ck_assert_uint_eq(hf->nchunks, 1);
			ck_assert_uint_eq(hf->chunks[0].t->total, 5);
		}
	}
	ck_assert_uint_le(taken + atomic_load(&tz.held_refused), 3);
	if (taken + atomic_load(&tz.held_refused) < 3)	/* a file not listed: said, and left */
		ck_assert_msg(strstr(said, "cannot list '") && strstr(said, "whole: out of memory"),
			      "n=%ld: %zu taken, %u refused, nothing said of the rest: [%s]", oom_n(), taken,
			      (unsigned)atomic_load(&tz.held_refused), said);
	if (!failed) {
		ck_assert_uint_eq(taken, 3);
		ck_assert_uint_eq(atomic_load(&tz.held_refused), 0);
	}
	held_free_all(&tz);
	for (int i = 1; i <= 3; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%d-good.held", dir, i);
		ck_assert_int_eq(access(path, F_OK), 0);
	}
}

START_TEST(held_load_oom)
{
	snprintf(dir, sizeof(dir), "/tmp/agg-held-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	put_s("1-good.held", HEAD "chunk 3 b:0 1 5\n" KEY1, 1);
	put_s("2-good.held", HEAD CHUNK "chunk 3 b:2 1 5\n" KEY1, 2);
	put_s("3-good.held", HEAD "chunk 3 b:9 1 5\n" KEY1, 1);
	oom_loop("held_load", held_oom_body, NULL);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *held_suite(void)
{
	Suite *s = suite_create("held");
	TCase *tc = tcase_create("read");
	tcase_add_test(tc, good_and_refused);
	tcase_add_test(tc, held_load_oom);
	suite_add_tcase(s, tc);
	return s;
}
