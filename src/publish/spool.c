/*
 * spool.c — the publish path's disk spool: events librdkafka finally failed
 * to deliver are appended to <state_dir>/spool/, and replayed, oldest file
 * first, at the front of the publish queue once deliveries succeed again
 * (publish.c decides when).  The file being written (pub.spool_*) is
 * guarded by spool_mu: a delivery report appends to it on whichever thread
 * served it (the event loop, or a job's thread producing events: publish.c,
 * serve_here()).  Syncing, choosing a file to replay and replaying it run
 * on the main thread; spool_file_done() on any thread that ends a replayed
 * event's trip.
 *
 * Spool format (docs/formats.md): files <state_dir>/spool/<ms>-<seq>.spool of
 * records "AGS1", u32 topic length, u32 key length, u32 value length,
 * u32 CRC-32 of topic+key+value (little endian), then the three byte
 * strings.  A file is removed once every record in it was delivered again.
 * A torn or corrupt tail (a crash mid-write) ends the file's replay and is
 * counted.
 *
 * Durability: an event counts as spooled (aggregatord_publish_spooled_total)
 * only once it is on disk, so that a power cut right after cannot take it:
 * spool_append() writes the record, spool_sync() — run once per drained
 * burst of delivery reports, and before a file is closed — fdatasyncs the
 * file and, when the file is new, fsyncs the spool directory (its entry),
 * and only then adds the burst's records to the count.  One sync per burst,
 * not per event: a broker outage fails thousands of events at once.
 *
 * A spooled value is marked "elected":false (unelect.h), when it is written
 * and again when it is read (files of older releases): replayed late, under
 * an epoch that may have been overtaken, it is not a deposed leader's
 * duplicate and the consumer's rule must not fence it (docs/election.md).
 */
#include "publish_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fsutil.h"
#include "log.h"
#include "unelect.h"

#define SPOOL_ROTATE (64u << 20)	/* bytes: a spool file is closed at this size */
#define SPOOL_NAME_TRIES 100	/* names tried past one that exists, before the open counts as failed */

/* The rotation size: SPOOL_ROTATE, or lower by the test knob
 * AGGREGATORD_TEST_SPOOL_ROTATE_BYTES (docs/operations.md), so that a test
 * fills many files with a few hundred events.  Main thread. */
static size_t rotate_bytes(void)
{
	static size_t v;
	if (!v) {
		v = SPOOL_ROTATE;
		const char *e = getenv("AGGREGATORD_TEST_SPOOL_ROTATE_BYTES");
		unsigned long long x = e && *e ? strtoull(e, NULL, 10) : 0;
		if (x >= 1024 && x < SPOOL_ROTATE)
			v = (size_t)x;
	}
	return v;
}

/*
 * Files this process will not replay again: done with, but the disk refused
 * to remove them (or to rename them to NAME.bad: a read-only or failing
 * disk), and files it cannot read at all.  A second replay would duplicate
 * what was delivered, and an unreadable oldest file would hold back every
 * newer one.  The removal (or rename) is tried again each time the spool is
 * looked at; an unreadable file is left alone for an operator.  Any thread
 * adds (spool_file_done), the main thread reads; guarded by gone_mu.
 */
enum gone_todo { GONE_LEAVE, GONE_UNLINK, GONE_RENAME };
struct gone {
	char *path;			/* malloc'ed */
	enum gone_todo todo;
};
/* The spool file being written (pub.spool_*): taken before gone_mu, never after. */
static pthread_mutex_t spool_mu = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t gone_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gone *gone;
static size_t gone_n, gone_cap;

static void gone_add(const char *path, enum gone_todo todo)
{
	char *p = strdup(path);
	pthread_mutex_lock(&gone_mu);
	if (p && gone_n == gone_cap) {
		size_t cap = gone_cap ? gone_cap * 2 : 8;
		struct gone *g = realloc(gone, cap * sizeof(*g));
		if (g) {
			gone = g;
			gone_cap = cap;
		}
	}
	if (p && gone_n < gone_cap) {
		gone[gone_n++] = (struct gone){ .path = p, .todo = todo };
		p = NULL;
	}
	pthread_mutex_unlock(&gone_mu);
	if (p) {
		free(p);
		log_error("publish: out of memory: spool file '%s' may be replayed again", path);
	}
}

/* Quarantine a spool file the replay is done with: NAME.bad, never replayed. */
static int spool_keep_bad(const char *path)
{
	char bad[PATH_MAX + 8];
	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad) < 0)
		return -1;
	log_warn("publish: spool file '%s' held corrupt records, records for an unknown topic or "
		 "records the producer refuses: kept as '%s' for an operator (its good records were "
		 "replayed)", path, bad);
	return 0;
}

/* Finish with a file: remove it, or keep it as NAME.bad; on a disk error,
 * remember it so that it is not replayed again. */
static void spool_finish(const char *path, bool bad)
{
	if (bad ? spool_keep_bad(path) == 0 : unlink(path) == 0 || errno == ENOENT)
		return;
	log_warn("publish: cannot %s replayed spool file '%s': %s; not replayed again by this "
		 "process, tried again later", bad ? "rename" : "remove", path, strerror(errno));
	gone_add(path, bad ? GONE_RENAME : GONE_UNLINK);
}

/* The spool file at path is one not to replay (gone_mu held). */
static bool gone_has(const char *path)
{
	for (size_t i = 0; i < gone_n; i++)
		if (strcmp(gone[i].path, path) == 0)
			return true;
	return false;
}

/* Try again what the disk refused before (main thread). */
static void gone_retry(void)
{
	pthread_mutex_lock(&gone_mu);
	for (size_t i = 0; i < gone_n;) {
		struct gone *g = &gone[i];
		bool done = g->todo == GONE_UNLINK ? unlink(g->path) == 0 || errno == ENOENT
			  : g->todo == GONE_RENAME ? spool_keep_bad(g->path) == 0 : false;
		if (done) {
			free(g->path);
			gone[i] = gone[--gone_n];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&gone_mu);
}

/* A spool record finished its trip (delivered, failed and re-spooled, or dropped). */
void spool_file_done(struct spool_file *sf)
{
	if (atomic_fetch_sub(&sf->outstanding, 1) != 1)
		return;
	if (!atomic_load(&sf->keep))
		spool_finish(sf->path, sf->bad);
	free(sf);
	atomic_store(&pub.replaying, false);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t rec_crc(const char *t, size_t tl, const char *k, size_t kl, const char *v, size_t vl)
{
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, (const Bytef *)t, (uInt)tl);
	c = crc32(c, (const Bytef *)k, (uInt)kl);
	c = crc32(c, (const Bytef *)v, (uInt)vl);
	return (uint32_t)c;
}

static void sync_locked(void)
{
	if (pub.spool_fd < 0 || !pub.spool_dirty)
		return;
	bool ok = true;
	if (fdatasync(pub.spool_fd) < 0) {
		ok = false;
		log_error("publish: cannot fsync spool file '%s': %s; %llu event(s) in it may not survive "
			  "a power cut", pub.spool_cur, strerror(errno), (unsigned long long)pub.spool_unsynced);
	}
	if (pub.spool_dir_dirty && fs_fsync_parent(pub.spool_cur) < 0) {
		ok = false;
		log_error("publish: cannot fsync the spool directory '%s': %s; spool file '%s' may not "
			  "survive a power cut", pub.spool_dir, strerror(errno), pub.spool_cur);
	}
	if (ok)
		pub.spool_dir_dirty = false;
	/* counted even when a sync failed: the records are in the file and
	 * will be replayed unless the machine loses power (logged above) */
	atomic_fetch_add(&pub.spooled, pub.spool_unsynced);
	pub.spool_unsynced = 0;
	pub.spool_dirty = false;
}

void spool_sync(void)
{
	pthread_mutex_lock(&spool_mu);
	sync_locked();
	pthread_mutex_unlock(&spool_mu);
}

bool spool_pending(void)
{
	pthread_mutex_lock(&spool_mu);
	bool dirty = pub.spool_fd >= 0 && pub.spool_dirty;
	pthread_mutex_unlock(&spool_mu);
	return dirty;
}

static void close_locked(void)
{
	if (pub.spool_fd < 0)
		return;
	sync_locked();
	close(pub.spool_fd);
	pub.spool_fd = -1;
	pub.spool_dirty = false;
	pub.spool_cur[0] = '\0';
}

void spool_close(void)
{
	pthread_mutex_lock(&spool_mu);
	close_locked();
	pthread_mutex_unlock(&spool_mu);
}

/* A write to the spool failed: logged once until one succeeds again. */
static int spool_failed(const char *what, const char *err)
{
	if (!pub.spool_failing)
		log_error("publish: cannot %s spool file '%s': %s; events are not spooled until it can "
			  "(those with no other copy counted as lost: dropped_total{cause=\"disk\"})",
			  what, pub.spool_cur, err);
	pub.spool_failing = true;
	return -1;
}

static int append_locked(const char *topic, const void *key, size_t kl, const void *val, size_t vl)
{
	size_t tl = strlen(topic);
	if (pub.spool_fd >= 0 && pub.spool_bytes_cur >= rotate_bytes())
		close_locked();
	if (pub.spool_fd < 0) {
		/* A new file, never one that exists: a wall clock stepped back
		 * (or a restart within the same millisecond) can give the name of
		 * a file left to replay, and records appended to it would sit
		 * behind its torn tail or go with it once it is replayed. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		for (int taken = 0;; taken++) {
			snprintf(pub.spool_cur, sizeof(pub.spool_cur), "%s/%013lld-%06llu.spool",
				 pub.spool_dir, ms, (unsigned long long)++pub.spool_seq % 1000000);
			pub.spool_fd = open(pub.spool_cur, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
					    0600);
			if (pub.spool_fd >= 0 || errno != EEXIST || taken == SPOOL_NAME_TRIES)
				break;
			log_warn("publish: spool file '%s' exists already (the clock stepped back?); taking "
				 "the next name", pub.spool_cur);
		}
		pub.spool_bytes_cur = 0;
		pub.spool_dir_dirty = pub.spool_fd >= 0;	/* its entry: synced with its first records */
		if (pub.spool_fd < 0) {
			spool_failed("open", strerror(errno));
			pub.spool_cur[0] = '\0';
			return -1;
		}
	}
	unsigned char *rec = malloc(20 + tl + kl + vl + UNELECT_EXTRA);
	if (!rec)
		return spool_failed("write", "out of memory");
	/* stored "elected":false: by the time it is replayed its epoch may be
	 * overtaken, and no other node holds it (docs/election.md) */
	char *v = (char *)rec + 20 + tl + kl;
	vl = unelect(val, vl, v);
	size_t n = 20 + tl + kl + vl;
	memcpy(rec, "AGS1", 4);
	put32(rec + 4, (uint32_t)tl);
	put32(rec + 8, (uint32_t)kl);
	put32(rec + 12, (uint32_t)vl);
	put32(rec + 16, rec_crc(topic, tl, key, kl, v, vl));
	memcpy(rec + 20, topic, tl);
	memcpy(rec + 20 + tl, key, kl);
	ssize_t w = write(pub.spool_fd, rec, n);
	int wer = errno;
	free(rec);
	if (w != (ssize_t)n) {
		spool_failed("write", w < 0 ? strerror(wer) : "short write (disk full?)");
		/* a torn record would end the file's replay: cut it off */
		if (w > 0 && ftruncate(pub.spool_fd, (off_t)pub.spool_bytes_cur) < 0)
			close_locked();
		return -1;
	}
	if (pub.spool_failing)
		log_info("publish: spool file '%s' written again", pub.spool_cur);
	pub.spool_failing = false;
	pub.spool_bytes_cur += n;
	pub.spool_dirty = true;
	pub.spool_unsynced++;	/* counted as spooled by spool_sync() */
	return 0;
}

int spool_append(const char *topic, const void *key, size_t kl, const void *val, size_t vl)
{
	pthread_mutex_lock(&spool_mu);
	int rc = append_locked(topic, key, kl, val, vl);
	pthread_mutex_unlock(&spool_mu);
	return rc;
}

/* Oldest closed spool file, or "" (caller's buffer).  A directory it cannot
 * list is logged once a streak, and again when it can. */
void spool_oldest(char *out, size_t len)
{
	out[0] = '\0';
	gone_retry();
	DIR *d = opendir(pub.spool_dir);
	if (!d) {
		int e = errno;
		if (e != ENOENT && !pub.list_failing)
			log_error("publish: cannot list the spool directory '%s': %s; spooled events are not "
				  "replayed until it can be", pub.spool_dir, strerror(e));
		pub.list_failing = e != ENOENT;
		return;
	}
	if (pub.list_failing)
		log_info("publish: the spool directory '%s' can be listed again; replaying its files",
			 pub.spool_dir);
	pub.list_failing = false;
	pthread_mutex_lock(&spool_mu);	/* the file being written is not a candidate */
	pthread_mutex_lock(&gone_mu);
	char best[256] = "";
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".spool") != 0)
			continue;
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s/%s", pub.spool_dir, de->d_name);
		if (strcmp(full, pub.spool_cur) == 0 || gone_has(full))
			continue;
		if (!best[0] || strcmp(de->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	pthread_mutex_unlock(&gone_mu);
	pthread_mutex_unlock(&spool_mu);
	closedir(d);
	if (best[0])
		snprintf(out, len, "%s/%s", pub.spool_dir, best);
}

/*
 * Read one spool file and put its records at the queue's front.  A torn or
 * corrupt frame (a crash mid-write: the lengths cannot be trusted) ends the
 * reading; a record whose frame is sound but whose checksum is not is
 * skipped, and so is one for a topic this node does not produce: the good
 * records after them are replayed too.  A file with any such record is kept
 * as NAME.bad once its good records are done (docs/formats.md).
 */
void spool_replay(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("publish: cannot open spool file '%s': %s; left for an operator", path,
			  strerror(errno));
		gone_add(path, GONE_LEAVE);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)(SPOOL_ROTATE * 2)) {
		close(fd);
		log_error("publish: spool file '%s' is unreadable or too large; left for an operator", path);
		gone_add(path, GONE_LEAVE);
		return;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *buf = malloc(size ? size : 1);
	ssize_t r = buf ? read(fd, buf, size) : -1;
	close(fd);
	if (r != (ssize_t)size) {
		free(buf);
		log_error("publish: cannot read spool file '%s'; left for an operator", path);
		gone_add(path, GONE_LEAVE);
		return;
	}
	struct spool_file *sf = calloc(1, sizeof(*sf));
	if (!sf) {
		free(buf);
		return;
	}
	snprintf(sf->path, sizeof(sf->path), "%s", path);
	struct gateq_item *list = NULL, **tail = &list;
	size_t n = 0, off = 0;
	while (off < size) {
		const unsigned char *h = buf + off;
		uint32_t tl = 0, kl = 0, vl = 0, crc = 0;
		if (size - off >= 20) {
			tl = get32(h + 4);
			kl = get32(h + 8);
			vl = get32(h + 12);
			crc = get32(h + 16);
		}
		if (size - off < 20 || memcmp(h, "AGS1", 4) != 0 ||
		    (uint64_t)tl + kl + vl > size - off - 20) {
			atomic_fetch_add(&pub.spool_corrupt, 1);
			log_warn("publish: spool file '%s' has a torn or corrupt record at byte %zu; "
				 "replaying what precedes it", path, off);
			sf->bad = true;
			break;
		}
		const char *t = (const char *)h + 20, *k = t + tl, *v = k + kl;
		off += 20 + (size_t)tl + kl + vl;
		if (rec_crc(t, tl, k, kl, v, vl) != crc) {
			atomic_fetch_add(&pub.spool_corrupt, 1);
			log_warn("publish: spool file '%s': bad checksum at byte %zu; record skipped", path,
				 off - (20 + (size_t)tl + kl + vl));
			sf->bad = true;
			continue;
		}
		int topic = -1;
		for (int i = 0; i < TOPICS; i++) {
			const char *full = rd_kafka_topic_name(pub.topics[i]);
			if (strlen(full) == tl && memcmp(full, t, tl) == 0)
				topic = i;
		}
		if (topic < 0) {
			atomic_fetch_add(&pub.drop_topic, 1);
			log_warn("publish: spool file '%s': a record for topic '%.*s', not produced by this "
				 "node (kafka.topic_prefix changed?), at byte %zu; skipped", path,
				 (int)(tl > 200 ? 200 : tl), t, off - (20 + (size_t)tl + kl + vl));
			sf->bad = true;
			continue;
		}
		struct pev *e = malloc(sizeof(*e) + kl + vl + UNELECT_EXTRA);
		if (!e) {
			/* what was not queued is still in the file: kept, replayed again */
			atomic_store(&sf->keep, true);
			break;
		}
		*e = (struct pev){ .q.t_ms = mono_ms(), .topic = topic, .raw = true, .sf = sf,
				   .keylen = kl };
		memcpy(e->data, k, kl);
		/* marked again: files of releases that stored the value as
		 * produced, "elected":true with an epoch long overtaken */
		e->len = (uint32_t)unelect(v, vl, e->data + kl);
		*tail = &e->q;
		tail = &e->q.next;
		n++;
	}
	free(buf);
	if (n == 0) {
		/* empty, or nothing good in it */
		if (!atomic_load(&sf->keep))
			spool_finish(path, sf->bad);
		free(sf);
		return;
	}
	atomic_store(&sf->outstanding, n);
	atomic_store(&pub.replaying, true);
	atomic_fetch_add(&pub.replayed, n);
	log_info("publish: replaying %zu event(s) from spool file '%s'", n, path);
	pthread_mutex_lock(&pub.mu);
	gateq_push_front(&pub.queue, list, n);
	atomic_store(&pub.nqueued, pub.queue.n);
	pthread_mutex_unlock(&pub.mu);
	worker_wake(&pub.w);
}
