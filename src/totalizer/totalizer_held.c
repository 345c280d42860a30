/*
 * totalizer_held.c — counts the flusher holds for a Redis that does not
 * answer, kept on disk across a stop: written at stop under
 * <state_dir>/totalizer/, read back at the next start, removed once Redis
 * took them.  Flusher thread only (its start and its stop); it owns the
 * files and the struct held_file list (tz->held) read from them.
 *
 * DESIGN.  Exactness rests on the batch ids (totalizer_flush.c): Redis
 * applies a chunk only if `SET <id> NX` succeeds.  So a kept chunk keeps its
 * id and exactly its keys and deltas: the in-flight batch is cut into the
 * chunks it was sent as (chunk_next(), ids inflight_seq + k), `pending` into
 * chunks with the next ids.  A chunk Redis applied before the stop, its
 * reply lost, is then found applied after the restart and not counted
 * twice — as long as its id is still in Redis (BATCH_ID_TTL, an hour).
 *
 * Files: <state_dir>/totalizer/<boot id, 20 digits>-<first chunk id, 20
 * digits>.held, up to HELD_FILE_CHUNKS chunks each, written with
 * fs_write_atomic() (temp file, fsync, rename, directory fsync): a crash
 * leaves the whole file or none.  Format in docs/formats.md ("Held
 * counts"); its last line carries a CRC-32 of all that precedes it.  A file
 * that is not a regular file, is too large, or does not parse is refused
 * with a log line naming it and the reason, counted
 * (held_files_refused_total), and left in place for an operator; it is
 * never applied in part.
 */
#include "totalizer_int.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "tally.h"

#define HELD_MAGIC "aggregatord held counts 1\n"
#define HELD_FILE_CHUNKS 100	/* chunks per file (50,000 keys, a few MiB) */
#define HELD_FILE_MAX (64u << 20)	/* bytes: a larger file is refused */
#define HELD_KEY_MAX 512	/* bytes: longer keys are refused (the daemon's are < 250) */

/* ---- writing ---- */

static void add_chunk(struct buf *b, const char *id, const struct tally *t,
		      const struct tally_entry *const *ents, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += (uint64_t)ents[i]->delta;
	buf_addf(b, "chunk %zu %s %zu %" PRIu64 "\n", strlen(id), id, n, total);
	for (size_t i = 0; i < n; i++) {
		const struct tally_entry *e = ents[i];
		buf_addf(b, "%" PRId64 " %" PRId32 " %u %u %u %u %u %u ", e->delta, e->ttl,
			 e->f.prefix_len, e->f.matched_off, e->f.matched_len, e->f.source_off,
			 e->f.source_len, (unsigned)e->key_len);
		buf_add(b, tally_key(t, e), e->key_len);
		buf_addc(b, '\n');
	}
}

/* The files being written at stop: the one being built in b. */
struct saver {
	struct totalizer *tz;
	struct buf b;
	size_t nchunks;		/* chunks in b */
	uint64_t first_seq;	/* id of b's first chunk */
	uint64_t counts;	/* sum of b's deltas */
	uint64_t interval_start_ms;
	int flush_ms;
};

/* Close the file being built (its end line) and write it.  The counts in
 * it when it could not be written, else 0. */
static uint64_t write_file(struct saver *sv)
{
	struct buf *b = &sv->b;
	uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)b->data, (uInt)b->len);
	buf_addf(b, "end %zu %08lx\n", sv->nchunks, (unsigned long)crc);
	sv->nchunks = 0;
	char path[PATH_MAX], err[512];
	snprintf(path, sizeof(path), "%s/%020" PRIu64 "-%020" PRIu64 ".held", sv->tz->held_dir,
		 sv->tz->boot_id, sv->first_seq);
	if (b->oom) {
		log_error("totalizer: cannot keep held counts in '%s': out of memory", path);
		return sv->counts;
	}
	if (fs_write_atomic(path, b->data, b->len, 0600, err, sizeof(err)) < 0) {
		log_error("totalizer: cannot keep held counts: %s", err);
		return sv->counts;
	}
	return 0;
}

/* Add the chunks of t, ids from *seq on, to the files; *seq advances.  The
 * counts that could not be written. */
static uint64_t save_table(struct saver *sv, const struct tally *t, uint64_t *seq)
{
	const struct tally_entry *ents[CHUNK_KEYS];
	uint64_t lost = 0;
	size_t slot = 0, n;
	while ((n = chunk_next(t, &slot, ents)) > 0) {
		char id[HELD_ID_MAX];
		chunk_id(sv->tz, *seq, id, sizeof(id));
		if (sv->nchunks == 0) {
			buf_reset(&sv->b);
			buf_adds(&sv->b, HELD_MAGIC);
			buf_addf(&sv->b, "interval_start_ms %" PRIu64 " flush_ms %d\n", sv->interval_start_ms,
				 sv->flush_ms);
			sv->first_seq = *seq;
			sv->counts = 0;
		}
		add_chunk(&sv->b, id, t, ents, n);
		for (size_t i = 0; i < n; i++)
			sv->counts += (uint64_t)ents[i]->delta;
		(*seq)++;
		if (++sv->nchunks == HELD_FILE_CHUNKS)
			lost += write_file(sv);
	}
	return lost;
}

uint64_t held_save(struct totalizer *tz, uint64_t interval_start_ms, int flush_ms)
{
	if (fs_mkdir_p(tz->held_dir, 0700) < 0) {
		log_error("totalizer: cannot create '%s': %s", tz->held_dir, strerror(errno));
		return tz->pending->total + tz->inflight->total;
	}
	struct saver sv = { .tz = tz, .b = BUF_INIT, .interval_start_ms = interval_start_ms,
			    .flush_ms = flush_ms };
	uint64_t lost = 0;
	uint64_t seq = tz->inflight_seq;	/* the ids it was sent under */
	lost += save_table(&sv, tz->inflight, &seq);
	seq = tz->next_seq;			/* pending: the ids it would have had next */
	lost += save_table(&sv, tz->pending, &seq);
	tz->next_seq = seq;
	if (sv.nchunks)
		lost += write_file(&sv);
	buf_release(&sv.b);
	return lost;
}

/* ---- reading ---- */

/* A cursor over a file's bytes; every reader fails (false) past its end. */
struct cur {
	const char *p, *end;
};

static bool lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Decimal digits (a '-' first when neg_ok), then the byte sep. */
static bool num(struct cur *c, bool neg_ok, int64_t lo, int64_t hi, char sep, int64_t *out)
{
	bool neg = neg_ok && c->p < c->end && *c->p == '-';
	const char *q = c->p + neg;
	uint64_t v = 0;
	size_t digits = 0;
	while (q < c->end && *q >= '0' && *q <= '9' && digits < 19) {
		v = v * 10 + (uint64_t)(*q++ - '0');
		digits++;
	}
	if (!digits || q >= c->end || *q != sep || v > (uint64_t)INT64_MAX)
		return false;
	int64_t s = neg ? -(int64_t)v : (int64_t)v;
	if (s < lo || s > hi)
		return false;
	*out = s;
	c->p = q + 1;
	return true;
}

static void held_file_free(struct held_file *hf)
{
	if (!hf)
		return;
	for (size_t i = 0; i < hf->nchunks; i++) {
		free(hf->chunks[i].id);
		tally_free(hf->chunks[i].t);
	}
	free(hf->chunks);
	free(hf->path);
	free(hf);
}

/* Parse a whole file; NULL with *why set when it is refused. */
static struct held_file *parse(const char *data, size_t len, const char **why)
{
	struct cur c = { data, data + len };
	int64_t v, n, id_len, nkeys, total;
	struct held_file *hf = calloc(1, sizeof(*hf));
	if (!hf) {
		*why = "out of memory";
		return NULL;
	}
	*why = "not a held-counts file (bad first line)";
	if (!lit(&c, HELD_MAGIC))
		goto bad;
	*why = "bad interval line";
	if (!lit(&c, "interval_start_ms ") || !num(&c, false, 0, INT64_MAX, ' ', &v) ||
	    !lit(&c, "flush_ms ") || !num(&c, false, 1, 3600000, '\n', &n))
		goto bad;
	hf->interval_start_ms = (uint64_t)v;
	hf->flush_ms = (int)n;
	hf->chunks = calloc(HELD_FILE_CHUNKS, sizeof(*hf->chunks));
	if (!hf->chunks) {
		*why = "out of memory";
		goto bad;
	}
	while (lit(&c, "chunk ")) {
		*why = "bad chunk line";
		if (hf->nchunks == HELD_FILE_CHUNKS || !num(&c, false, 1, HELD_ID_MAX - 1, ' ', &id_len) ||
		    c.end - c.p < id_len + 1 || c.p[id_len] != ' ')
			goto bad;
		for (int64_t i = 0; i < id_len; i++)
			if (c.p[i] <= ' ' || c.p[i] > '~')
				goto bad;
		struct held_chunk *ch = &hf->chunks[hf->nchunks++];	/* freed with hf from here on */
		ch->id = strndup(c.p, (size_t)id_len);
		c.p += id_len + 1;
		if (!num(&c, false, 1, CHUNK_KEYS, ' ', &nkeys) || !num(&c, false, 0, INT64_MAX, '\n', &total))
			goto bad;
		ch->t = tally_new((size_t)nkeys);
		if (!ch->id || !ch->t) {
			*why = "out of memory";
			goto bad;
		}
		*why = "bad key line";
		for (int64_t k = 0; k < nkeys; k++) {
			int64_t delta, ttl, f[5], klen;
			if (!num(&c, true, INT64_MIN + 1, INT64_MAX, ' ', &delta) ||
			    !num(&c, false, 1, INT32_MAX, ' ', &ttl))
				goto bad;
			for (int i = 0; i < 5; i++)
				if (!num(&c, false, 0, 255, ' ', &f[i]))
					goto bad;
			if (!num(&c, false, 1, HELD_KEY_MAX, ' ', &klen) || c.end - c.p < klen + 1 ||
			    c.p[klen] != '\n')
				goto bad;
			struct key_fields kf = { .prefix_len = (uint8_t)f[0], .matched_off = (uint8_t)f[1],
						 .matched_len = (uint8_t)f[2], .source_off = (uint8_t)f[3],
						 .source_len = (uint8_t)f[4] };
			if (kf.prefix_len > klen || kf.matched_off + kf.matched_len > klen ||
			    kf.source_off + kf.source_len > klen)
				goto bad;
			if (tally_add(ch->t, c.p, (size_t)klen, delta, (int32_t)ttl, &kf) < 0) {
				*why = "out of memory";
				goto bad;
			}
			c.p += klen + 1;
		}
		*why = "a chunk's sum does not match its keys";
		if (ch->t->total != (uint64_t)total)
			goto bad;
	}
	*why = "torn or bad end line";
	size_t body = (size_t)(c.p - data);
	if (!lit(&c, "end ") || !num(&c, false, 0, HELD_FILE_CHUNKS, ' ', &n) || (size_t)n != hf->nchunks ||
	    c.end - c.p != 9 || c.p[8] != '\n')
		goto bad;
	char hex[9];
	memcpy(hex, c.p, 8);
	hex[8] = '\0';
	char *e;
	unsigned long want = strtoul(hex, &e, 16);
	uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)data, (uInt)body);
	*why = "checksum mismatch";
	if (*e || want != (unsigned long)crc)
		goto bad;
	*why = "no chunk";
	if (!hf->nchunks)
		goto bad;
	return hf;
bad:
	held_file_free(hf);
	return NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void held_load(struct totalizer *tz)
{
	DIR *d = opendir(tz->held_dir);
	if (!d) {
		if (errno != ENOENT)
			log_error("totalizer: cannot read '%s': %s; counts kept at the last stop not applied",
				  tz->held_dir, strerror(errno));
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	const char *cut = NULL;	/* why the list stopped short, if it did */
	struct dirent *de;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno)
				cut = strerror(errno);
			break;
		}
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".held") != 0)
			continue;	/* ".", "..", temp files of a write cut short */
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
			if (!nn) {
				cut = "out of memory";
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 16;
		}
		if (!(names[n] = strdup(de->d_name))) {
			cut = "out of memory";
			break;
		}
		n++;
	}
	closedir(d);
	if (cut)	/* the files not listed stay where they are: read at the next start */
		log_error("totalizer: cannot list '%s' whole: %s; counts kept at the last stop in files "
			  "past the %zu listed are not applied now, and are left for the next start",
			  tz->held_dir, cut, n);
	if (n)
		qsort(names, n, sizeof(*names), by_name);	/* oldest run first */
	struct held_file **tail = &tz->held;
	while (*tail)
		tail = &(*tail)->next;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", tz->held_dir, names[i]);
		free(names[i]);
		char *data = NULL;
		size_t len = 0;
		const char *why = NULL;
		struct held_file *hf = NULL;
		if (fs_read_file(path, HELD_FILE_MAX, &data, &len) < 0)
			why = fs_read_why(errno);
		else if ((hf = parse(data, len, &why)) != NULL && !(hf->path = strdup(path))) {
			held_file_free(hf);
			hf = NULL;
			why = "out of memory";
		}
		free(data);
		if (!hf) {
			atomic_fetch_add(&tz->held_refused, 1);
			log_error("totalizer: refused held-counts file '%s': %s; left in place, not applied",
				  path, why);
			continue;
		}
		uint64_t total = 0;
		for (size_t k = 0; k < hf->nchunks; k++)
			total += hf->chunks[k].t->total;
		log_info("totalizer: %llu count(s) kept at the last stop read from '%s'; writing them "
			 "to redis", (unsigned long long)total, path);
		*tail = hf;
		tail = &hf->next;
	}
	free(names);
}

void held_done(struct totalizer *tz, struct held_file *hf)
{
	tz->held = hf->next;
	if (unlink(hf->path) < 0 && errno != ENOENT)
		log_error("totalizer: cannot remove applied held-counts file '%s': %s", hf->path,
			  strerror(errno));
	else if (fs_fsync_parent(hf->path) < 0)
		log_warn("totalizer: cannot fsync '%s': %s", tz->held_dir, strerror(errno));
	held_file_free(hf);
}

void held_free_all(struct totalizer *tz)
{
	while (tz->held) {
		struct held_file *hf = tz->held;
		tz->held = hf->next;
		held_file_free(hf);
	}
}
