/*
 * publish.c — the role-gated Kafka producer queue and its disk spool.
 *
 * Threads and ownership:
 *   - any thread: publish_event() appends a copy of the event to the queue
 *     (mutex; no I/O under it) and signals the publish thread;
 *   - the publish thread: while this node is active, takes the whole queue
 *     and produces it in order with rd_kafka_producev() (no lock held); while
 *     standby, it drops from the head what is older than the window;
 *   - the main thread: delivery reports (librdkafka's main queue wakes the
 *     loop through a pipe; rd_kafka_poll() runs there), the spool (append on
 *     a failed delivery, replay of the oldest file while deliveries succeed),
 *     and start/stop.
 *
 * Order: the queue is FIFO and only the publish thread takes from it, so
 * events held on a standby are produced before newer ones on promotion, by
 * the same producer.  Replayed spool records are put at the queue's front.
 *
 * Spool format (docs/formats.md): files <state_dir>/spool/<ms>-<seq>.spool of
 * records "AGS1", u32 topic length, u32 key length, u32 value length,
 * u32 CRC-32 of topic+key+value (little endian), then the three byte
 * strings.  A file is fdatasync'ed after each batch of delivery reports and
 * removed once every record in it was delivered again.  A torn or corrupt
 * tail (a crash mid-write) ends the file's replay and is counted.
 *
 * A spooled value is marked "elected":false (unelect.h), when it is written
 * and again when it is read (files of older releases): replayed late, under
 * an epoch that may have been overtaken, it is not a deposed leader's
 * duplicate and the consumer's rule must not fence it (docs/election.md).
 */
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gateq.h"
#include "json.h"
#include "log.h"
#include "role.h"
#include "thread.h"
#include "unelect.h"

#define TOPICS 3
#define QUEUE_MAX 1000000	/* events held at most; more are dropped and counted */
#define SPOOL_ROTATE (64u << 20)	/* bytes: a spool file is closed at this size */
#define PRODUCE_CHECK 64	/* events produced between looks at the role */
#define SPOOL_RETRY_MS 5000	/* ms after a failure before the spool is tried again */

static const char *const topic_names[TOPICS] = { "radacct", "totals", "usage" };

struct spool_file {
	char path[PATH_MAX];
	_Atomic size_t outstanding;	/* records not yet delivered again */
	_Atomic bool keep;		/* some record was not re-produced: keep the file */
};

struct pev {
	struct gateq_item q;		/* first: links it in the gate queue */
	int topic;
	bool raw;			/* value complete (from the spool) */
	struct spool_file *sf;		/* the spool file it came from, or NULL */
	uint32_t keylen, len;
	char data[];			/* key bytes, then members (or the raw value) */
};

/* The publish path of the process: one per process, started by publish_start(). */
static struct {
	bool started, enabled;
	struct event_base *base;
	rd_kafka_t *rk;
	rd_kafka_topic_t *topics[TOPICS];
	char *node_json;		/* "\"node\":\"agg-a\"" */
	char spool_dir[3072];		/* <state_dir>/spool */

	pthread_t thread;
	bool thread_started;
	int health;
	pthread_mutex_t mu;		/* guards queue/stopping/pump_* */
	pthread_cond_t cv;
	struct gateq queue;
	bool stopping;
	bool pump_waiting;		/* the publish thread sleeps on cv */
	bool pump_busy;			/* the publish thread is producing a taken list */
	_Atomic size_t nqueued;		/* copy of queued, read without the lock */
	_Atomic bool busy;		/* copy of pump_busy || stopping, read without the lock */
	_Atomic int window_ms;

	int pipe[2];
	struct event *io_ev, *timer;

	/* spool: main thread only */
	int spool_fd;
	size_t spool_bytes_cur;
	char spool_cur[PATH_MAX];
	uint64_t spool_seq;
	bool spool_dirty;
	_Atomic bool replaying;
	uint64_t ok_since_fail;		/* deliveries since the last failure */
	bool any_failure;
	uint64_t last_fail_ms;		/* monotonic ms of the last failed delivery */
	rd_kafka_resp_err_t last_err;	/* last broker-level error logged */

	_Atomic uint64_t enqueued[TOPICS], produced, delivered, failed, spooled, replayed;
	_Atomic uint64_t drop_window, drop_full, drop_disk, drop_topic, drop_stop, drop_produce;
	_Atomic uint64_t unpublished, spool_corrupt;
} pub = { .spool_fd = -1, .pipe = { -1, -1 } };

static uint64_t mono_ms(void)
{
	return mono_usec() / 1000u;
}

/* ---- the queue ---- */

static void pev_drop(struct pev *e);
static int produce_bytes(int topic, const char *key, size_t keylen, const char *data, size_t len,
			 bool raw, struct spool_file *sf);

void publish_event(const char *topic, const char *key, size_t keylen,
		   const char *members, size_t len)
{
	int t;
	for (t = 0; t < TOPICS; t++)
		if (strcmp(topic, topic_names[t]) == 0)
			break;
	if (t == TOPICS) {
		atomic_fetch_add(&pub.drop_topic, 1);
		return;
	}
	if (!pub.enabled) {
		atomic_fetch_add(&pub.unpublished, 1);
		return;
	}
	/*
	 * The direct path: active, nothing held and the publish thread idle, so
	 * nothing queued can be overtaken — produce from the caller's thread
	 * (no lock held).  Otherwise, or when librdkafka's queue is full, the
	 * event joins the queue behind what is held.
	 */
	bool direct = atomic_load_explicit(&pub.nqueued, memory_order_acquire) == 0 &&
		      !atomic_load_explicit(&pub.busy, memory_order_acquire) && role_is_active();
	if (direct) {
		int rc = produce_bytes(t, key, keylen, members, len, false, NULL);
		if (rc <= 0) {
			atomic_fetch_add_explicit(&pub.enqueued[t], 1, memory_order_relaxed);
			return;
		}
	}
	struct pev *e = malloc(sizeof(*e) + keylen + len);
	if (!e) {
		atomic_fetch_add(&pub.drop_full, 1);
		return;
	}
	*e = (struct pev){ .topic = t, .keylen = (uint32_t)keylen, .len = (uint32_t)len };
	memcpy(e->data, key, keylen);
	memcpy(e->data + keylen, members, len);
	pthread_mutex_lock(&pub.mu);
	if (pub.stopping || gateq_push(&pub.queue, &e->q, mono_ms()) < 0) {
		bool stopping = pub.stopping;
		pthread_mutex_unlock(&pub.mu);
		atomic_fetch_add(stopping ? &pub.drop_stop : &pub.drop_full, 1);
		free(e);
		return;
	}
	atomic_store(&pub.nqueued, pub.queue.n);
	bool wake = pub.pump_waiting;
	pub.pump_waiting = false;
	pthread_mutex_unlock(&pub.mu);
	atomic_fetch_add_explicit(&pub.enqueued[t], 1, memory_order_relaxed);
	if (wake)
		pthread_cond_signal(&pub.cv);
}

void publish_wake(void)
{
	if (!pub.started)
		return;
	pthread_mutex_lock(&pub.mu);
	pthread_cond_signal(&pub.cv);
	pthread_mutex_unlock(&pub.mu);
}

/* Put a list back at the front of the queue and end the busy spell (publish thread). */
static void requeue_front(struct pev *list, size_t n)
{
	pthread_mutex_lock(&pub.mu);
	gateq_push_front(&pub.queue, (struct gateq_item *)list, n);
	atomic_store(&pub.nqueued, pub.queue.n);
	pub.pump_busy = false;
	atomic_store(&pub.busy, pub.stopping);
	pthread_mutex_unlock(&pub.mu);
}

/* A spool record finished its trip (delivered, failed and re-spooled, or dropped). */
static void sf_done(struct spool_file *sf)
{
	if (atomic_fetch_sub(&sf->outstanding, 1) != 1)
		return;
	if (!atomic_load(&sf->keep) && unlink(sf->path) < 0 && errno != ENOENT)
		log_warn("publish: cannot remove replayed spool file '%s': %s", sf->path, strerror(errno));
	free(sf);
	atomic_store(&pub.replaying, false);
}

/* An event that will not be produced: its spool file, if any, must stay. */
static void pev_drop(struct pev *e)
{
	if (e->sf) {
		atomic_store(&e->sf->keep, true);
		sf_done(e->sf);
	}
	free(e);
}

/*
 * Produce one event (raw: value complete; else the members of the object,
 * wrapped with node and the current epoch).  0 done, 1 librdkafka's queue is
 * full (retry later), -1 failed for good (counted and logged).
 */
static int produce_bytes(int topic, const char *key, size_t keylen, const char *data, size_t len,
			 bool raw, struct spool_file *sf)
{
	size_t vlen;
	char *val;
	if (raw) {
		vlen = len;
		val = malloc(vlen ? vlen : 1);
		if (val)
			memcpy(val, data, vlen);
	} else {
		/* {"node":"x","epoch":N,"elected":B, + members + } ; the head is
		 * cached per stamp (docs/election.md: the consumer's rule) */
		static _Thread_local char head[400];
		static _Thread_local size_t headlen;
		static _Thread_local unsigned long long head_epoch = ~0ull;
		static _Thread_local bool head_elected;
		unsigned long long ep;
		bool elected;
		role_stamp(&ep, &elected);
		if (ep != head_epoch || elected != head_elected || !headlen) {
			int n = snprintf(head, sizeof(head), "{%s,\"epoch\":%llu,\"elected\":%s",
					 pub.node_json, ep, elected ? "true" : "false");
			headlen = n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0;
			head_epoch = ep;
			head_elected = elected;
		}
		vlen = headlen + 1 + len + 1;
		val = malloc(vlen);
		if (val) {
			char *p = val;
			memcpy(p, head, headlen);
			p += headlen;
			if (len) {
				*p++ = ',';
				memcpy(p, data, len);
				p += len;
			}
			*p++ = '}';
			vlen = (size_t)(p - val);
		}
	}
	if (!val)
		return 1;
	rd_kafka_resp_err_t err = rd_kafka_producev(
		pub.rk, RD_KAFKA_V_RKT(pub.topics[topic]), RD_KAFKA_V_KEY(key, keylen),
		RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
		RD_KAFKA_V_OPAQUE(sf), RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_fetch_add_explicit(&pub.produced, 1, memory_order_relaxed);
		return 0;
	}
	free(val);	/* not taken on error */
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return 1;
	atomic_fetch_add(&pub.drop_produce, 1);
	log_error("publish: cannot produce to '%s': %s", rd_kafka_topic_name(pub.topics[topic]),
		  rd_kafka_err2str(err));
	return -1;
}

static int produce(struct pev *e)
{
	return produce_bytes(e->topic, e->data, e->keylen, e->data + e->keylen, e->len, e->raw, e->sf);
}

/* Drop held events older than the window (publish thread, mu held). */
static void trim_window(void)
{
	struct gateq_item *it;
	while ((it = gateq_pop_expired(&pub.queue, mono_ms(), (uint64_t)atomic_load(&pub.window_ms)))) {
		atomic_fetch_add(&pub.drop_window, 1);
		pev_drop((struct pev *)it);
	}
	atomic_store(&pub.nqueued, pub.queue.n);
}

static void *pump(void *arg)
{
	(void)arg;
	log_set_thread_tag("publish");
	pthread_mutex_lock(&pub.mu);
	for (;;) {
		bool active = role_is_active();
		if (pub.queue.n && active) {
			size_t n;
			struct pev *list = (struct pev *)gateq_take_all(&pub.queue, &n);
			pub.pump_busy = true;
			atomic_store(&pub.busy, true);
			atomic_store(&pub.nqueued, 0);
			pthread_mutex_unlock(&pub.mu);
			size_t done = 0;
			bool full = false;
			while (list) {
				if (done % PRODUCE_CHECK == 0 && done && !role_is_active())
					break;
				int rc = produce(list);
				if (rc == 1) {
					full = true;
					break;
				}
				struct pev *next = (struct pev *)list->q.next;
				if (rc < 0)
					pev_drop(list);
				else
					free(list);	/* its fate is now in the delivery report */
				list = next;
				done++;
			}
			requeue_front(list, n - done);	/* also ends pump_busy */
			health_beat(pub.health);
			if (full) {
				struct timespec ts = { 0, 2000000 };
				nanosleep(&ts, NULL);
			}
			pthread_mutex_lock(&pub.mu);
			continue;
		}
		if (pub.stopping)
			break;
		if (!active)
			trim_window();
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pub.pump_waiting = true;
		pthread_cond_timedwait(&pub.cv, &pub.mu, &ts);
		pub.pump_waiting = false;
		health_beat(pub.health);
	}
	pthread_mutex_unlock(&pub.mu);
	return NULL;
}

/* ---- the spool (main thread) ---- */

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

static void spool_close(void)
{
	if (pub.spool_fd < 0)
		return;
	if (pub.spool_dirty)
		fdatasync(pub.spool_fd);
	close(pub.spool_fd);
	pub.spool_fd = -1;
	pub.spool_dirty = false;
	pub.spool_cur[0] = '\0';
}

static void spool_append(const char *topic, const void *key, size_t kl, const void *val, size_t vl)
{
	size_t tl = strlen(topic);
	if (pub.spool_fd >= 0 && pub.spool_bytes_cur >= SPOOL_ROTATE)
		spool_close();
	if (pub.spool_fd < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(pub.spool_cur, sizeof(pub.spool_cur), "%s/%013lld-%06llu.spool", pub.spool_dir,
			 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			 (unsigned long long)++pub.spool_seq % 1000000);
		pub.spool_fd = open(pub.spool_cur, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		pub.spool_bytes_cur = 0;
		if (pub.spool_fd < 0) {
			atomic_fetch_add(&pub.drop_disk, 1);
			log_error("publish: cannot open spool file '%s': %s; event lost", pub.spool_cur,
				  strerror(errno));
			pub.spool_cur[0] = '\0';
			return;
		}
	}
	unsigned char *rec = malloc(20 + tl + kl + vl + UNELECT_EXTRA);
	if (!rec) {
		atomic_fetch_add(&pub.drop_disk, 1);
		return;
	}
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
	free(rec);
	if (w != (ssize_t)n) {
		atomic_fetch_add(&pub.drop_disk, 1);
		log_error("publish: cannot write spool file '%s': %s; event lost", pub.spool_cur,
			  w < 0 ? strerror(errno) : "short write (disk full?)");
		if (w > 0 && ftruncate(pub.spool_fd, (off_t)pub.spool_bytes_cur) < 0)
			spool_close();
		return;
	}
	pub.spool_bytes_cur += n;
	pub.spool_dirty = true;
	atomic_fetch_add(&pub.spooled, 1);
}

/* Oldest closed spool file, or "" (caller's buffer). */
static void spool_oldest(char *out, size_t len)
{
	out[0] = '\0';
	DIR *d = opendir(pub.spool_dir);
	if (!d)
		return;
	char best[256] = "";
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".spool") != 0)
			continue;
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s/%s", pub.spool_dir, de->d_name);
		if (strcmp(full, pub.spool_cur) == 0)
			continue;
		if (!best[0] || strcmp(de->d_name, best) < 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (best[0])
		snprintf(out, len, "%s/%s", pub.spool_dir, best);
}

/* Read one spool file and put its records at the queue's front. */
static void spool_replay(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("publish: cannot open spool file '%s': %s", path, strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)(SPOOL_ROTATE * 2)) {
		close(fd);
		log_error("publish: spool file '%s' is unreadable or too large; left for an operator", path);
		return;
	}
	size_t size = (size_t)st.st_size;
	unsigned char *buf = malloc(size ? size : 1);
	ssize_t r = buf ? read(fd, buf, size) : -1;
	close(fd);
	if (r != (ssize_t)size) {
		free(buf);
		log_error("publish: cannot read spool file '%s'", path);
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
	while (off + 20 <= size) {
		const unsigned char *h = buf + off;
		uint32_t tl = get32(h + 4), kl = get32(h + 8), vl = get32(h + 12), crc = get32(h + 16);
		if (memcmp(h, "AGS1", 4) != 0 || (uint64_t)tl + kl + vl > size - off - 20) {
			atomic_fetch_add(&pub.spool_corrupt, 1);
			log_warn("publish: spool file '%s' has a torn or corrupt record at byte %zu; "
				 "replaying what precedes it", path, off);
			break;
		}
		const char *t = (const char *)h + 20, *k = t + tl, *v = k + kl;
		if (rec_crc(t, tl, k, kl, v, vl) != crc) {
			atomic_fetch_add(&pub.spool_corrupt, 1);
			log_warn("publish: spool file '%s': bad checksum at byte %zu; stopping there", path, off);
			break;
		}
		off += 20 + tl + kl + vl;
		int topic = -1;
		for (int i = 0; i < TOPICS; i++) {
			const char *full = rd_kafka_topic_name(pub.topics[i]);
			if (strlen(full) == tl && memcmp(full, t, tl) == 0)
				topic = i;
		}
		if (topic < 0) {
			atomic_fetch_add(&pub.drop_topic, 1);
			continue;
		}
		struct pev *e = malloc(sizeof(*e) + kl + vl + UNELECT_EXTRA);
		if (!e)
			break;
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
		unlink(path);
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
	pthread_cond_signal(&pub.cv);
	pthread_mutex_unlock(&pub.mu);
}

/* ---- librdkafka callbacks (main thread, from rd_kafka_poll) ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	struct spool_file *sf = m->_private;
	if (m->err) {
		atomic_fetch_add(&pub.failed, 1);
		if (pub.ok_since_fail || !pub.any_failure)
			log_error("publish: delivery to '%s' failed: %s; spooling to %s",
				  rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err), pub.spool_dir);
		pub.ok_since_fail = 0;
		pub.any_failure = true;
		pub.last_fail_ms = mono_ms();
		spool_append(rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len);
	} else {
		atomic_fetch_add(&pub.delivered, 1);
		if (pub.any_failure && pub.ok_since_fail == 0)
			log_info("publish: deliveries succeed again");
		pub.ok_since_fail++;
	}
	if (sf)
		sf_done(sf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if ((rd_kafka_resp_err_t)err == pub.last_err)
		return;
	pub.last_err = (rd_kafka_resp_err_t)err;
	log_warn("publish: kafka: %s", reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	log_msg(level <= 3 ? LOG_LVL_ERROR : level <= 4 ? LOG_LVL_WARN : LOG_LVL_DEBUG,
		"publish: kafka %s: %s", fac, buf);
}

static void serve(void)
{
	while (rd_kafka_poll(pub.rk, 0) > 0)
		;
	if (pub.spool_dirty && pub.spool_fd >= 0) {
		fdatasync(pub.spool_fd);
		pub.spool_dirty = false;
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	char b[64];
	while (read(fd, b, sizeof(b)) > 0)
		;
	serve();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	serve();
	/* Replay the oldest spool file while active and deliveries succeed,
	 * or, with nothing else to show the broker is back, a while after the
	 * last failure (a replay that fails again is spooled again). */
	if (!role_is_active() || atomic_load(&pub.replaying))
		return;
	if (pub.any_failure && !pub.ok_since_fail && mono_ms() - pub.last_fail_ms < SPOOL_RETRY_MS)
		return;
	spool_close();	/* what failed before is ready to go again */
	char path[PATH_MAX];
	spool_oldest(path, sizeof(path));
	if (path[0])
		spool_replay(path);
}

/* ---- life cycle ---- */

static int make_dir(const char *p)
{
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return error("publish: cannot create '%s': %s", p, strerror(errno));
	return 0;
}

static int set_prop(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];
	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		return error("publish: kafka property '%s': %s", k, err);
	return 0;
}

int publish_start(struct event_base *base, const struct config *cfg, int standby_window_ms)
{
	pthread_mutex_init(&pub.mu, NULL);
	pthread_cond_init(&pub.cv, NULL);
	gateq_init(&pub.queue, QUEUE_MAX);
	pub.base = base;
	atomic_store(&pub.window_ms, standby_window_ms);
	pub.started = true;
	if (!cfg->kafka.enabled) {
		log_info("publish: no kafka section (or kafka.enabled = false): events are counted, "
			 "not produced");
		return 0;
	}
	struct buf nj = BUF_INIT;
	buf_adds(&nj, "\"node\":");
	json_add_str(&nj, cfg->node.name);
	pub.node_json = buf_detach(&nj, NULL);
	snprintf(pub.spool_dir, sizeof(pub.spool_dir), "%s/spool", cfg->node.state_dir);
	if (!pub.node_json || make_dir(pub.spool_dir) < 0)
		return -1;

	char err[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (set_prop(c, "bootstrap.servers", cfg->kafka.brokers) < 0 ||
	    set_prop(c, "enable.idempotence", "true") < 0 ||
	    set_prop(c, "queue.buffering.max.messages", "1000000") < 0 ||
	    set_prop(c, "client.id", cfg->node.name) < 0)
		goto fail_conf;
	for (size_t i = 0; i < cfg->kafka.properties.n; i++)
		if (set_prop(c, cfg->kafka.properties.items[i].key, cfg->kafka.properties.items[i].value) < 0)
			goto fail_conf;
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	rd_kafka_conf_set_error_cb(c, error_cb);
	rd_kafka_conf_set_log_cb(c, log_cb);
	sigset_t old;
	signals_block_all(&old);	/* librdkafka's threads must not take our signals */
	pub.rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	signals_restore(&old);
	if (!pub.rk) {
		rd_kafka_conf_destroy(c);
		return error("publish: cannot create the kafka producer: %s", err);
	}
	for (int t = 0; t < TOPICS; t++) {
		char name[300];
		snprintf(name, sizeof(name), "%s%s", cfg->kafka.topic_prefix, topic_names[t]);
		pub.topics[t] = rd_kafka_topic_new(pub.rk, name, NULL);
		if (!pub.topics[t])
			return error("publish: cannot make topic '%s'", name);
	}
	if (pipe2(pub.pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return error("publish: pipe: %s", strerror(errno));
	rd_kafka_queue_t *mq = rd_kafka_queue_get_main(pub.rk);
	rd_kafka_queue_io_event_enable(mq, pub.pipe[1], "1", 1);
	rd_kafka_queue_destroy(mq);
	pub.io_ev = event_new(base, pub.pipe[0], EV_READ | EV_PERSIST, on_io, NULL);
	pub.timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
	struct timeval tv = { 0, 250000 };
	if (!pub.io_ev || !pub.timer || event_add(pub.io_ev, NULL) < 0 || event_add(pub.timer, &tv) < 0)
		return error("publish: cannot watch the kafka queue");
	pub.health = health_register("publish");
	if (thread_spawn(&pub.thread, "publish", pump, NULL) < 0)
		return error("publish: cannot start the publish thread");
	pub.thread_started = true;
	pub.enabled = true;
	log_info("publish: producing to %s (topics %sradacct, %stotals, %susage); standby window %d ms",
		 cfg->kafka.brokers, cfg->kafka.topic_prefix, cfg->kafka.topic_prefix,
		 cfg->kafka.topic_prefix, standby_window_ms);
	return 0;
fail_conf:
	rd_kafka_conf_destroy(c);
	return -1;
}

void publish_reconfigure(const struct config *cfg, int standby_window_ms)
{
	(void)cfg;
	atomic_store(&pub.window_ms, standby_window_ms);
}

void publish_stop(int timeout_ms)
{
	if (!pub.started)
		return;
	if (pub.thread_started) {
		/* The thread produces what an active node holds, then exits. */
		pthread_mutex_lock(&pub.mu);
		pub.stopping = true;
		atomic_store(&pub.busy, true);
		pthread_cond_signal(&pub.cv);
		pthread_mutex_unlock(&pub.mu);
		pthread_join(pub.thread, NULL);
		pub.thread_started = false;
		health_unregister(pub.health);
	}
	/* What is still queued was held by a standby (or never made it). */
	pthread_mutex_lock(&pub.mu);
	size_t n;
	struct pev *e = (struct pev *)gateq_take_all(&pub.queue, &n);
	atomic_store(&pub.nqueued, 0);
	pthread_mutex_unlock(&pub.mu);
	while (e) {
		struct pev *next = (struct pev *)e->q.next;
		atomic_fetch_add(&pub.drop_stop, 1);
		pev_drop(e);
		e = next;
	}
	if (pub.rk) {
		rd_kafka_resp_err_t err = rd_kafka_flush(pub.rk, timeout_ms);
		if (err) {
			log_warn("publish: %d event(s) not delivered within %d ms: spooling them",
				 rd_kafka_outq_len(pub.rk), timeout_ms);
			rd_kafka_purge(pub.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			rd_kafka_flush(pub.rk, 1000);
		}
		serve();
		spool_close();
		for (int t = 0; t < TOPICS; t++)
			if (pub.topics[t])
				rd_kafka_topic_destroy(pub.topics[t]);
		rd_kafka_destroy(pub.rk);
		pub.rk = NULL;
	}
	if (pub.io_ev)
		event_free(pub.io_ev);
	if (pub.timer)
		event_free(pub.timer);
	pub.io_ev = pub.timer = NULL;
	for (int i = 0; i < 2; i++)
		if (pub.pipe[i] >= 0)
			close(pub.pipe[i]);
	pub.pipe[0] = pub.pipe[1] = -1;
	free(pub.node_json);
	pub.node_json = NULL;
	pub.enabled = false;
	pub.started = false;
	pthread_cond_destroy(&pub.cv);
	pthread_mutex_destroy(&pub.mu);
}

/* ---- metrics and status ---- */

uint64_t publish_delivered(void)
{
	return atomic_load(&pub.delivered);
}

static size_t queued_now(void)
{
	if (!pub.started)
		return 0;
	pthread_mutex_lock(&pub.mu);
	size_t n = pub.queue.n;
	pthread_mutex_unlock(&pub.mu);
	return n;
}

void publish_metrics(struct buf *out)
{
#define HEAD(n, t, h) buf_adds(out, "# HELP aggregatord_publish_" n " " h "\n# TYPE aggregatord_publish_" n " " t "\n")
#define U(x) (unsigned long long)atomic_load(&(x))
	HEAD("enabled", "gauge", "1 when events are produced to Kafka (a kafka section, enabled).");
	buf_addf(out, "aggregatord_publish_enabled %d\n", pub.enabled ? 1 : 0);
	HEAD("events_total", "counter", "Events handed to the publish path, by topic.");
	for (int t = 0; t < TOPICS; t++)
		buf_addf(out, "aggregatord_publish_events_total{topic=\"%s\"} %llu\n", topic_names[t], U(pub.enqueued[t]));
	HEAD("queued", "gauge", "Events waiting to be produced (held while standby).");
	buf_addf(out, "aggregatord_publish_queued %zu\n", queued_now());
	HEAD("produced_total", "counter", "Events handed to librdkafka.");
	buf_addf(out, "aggregatord_publish_produced_total %llu\n", U(pub.produced));
	HEAD("delivered_total", "counter", "Events the broker acknowledged.");
	buf_addf(out, "aggregatord_publish_delivered_total %llu\n", U(pub.delivered));
	HEAD("failed_total", "counter", "Events librdkafka finally failed to deliver (then spooled).");
	buf_addf(out, "aggregatord_publish_failed_total %llu\n", U(pub.failed));
	HEAD("spooled_total", "counter", "Events written to the disk spool.");
	buf_addf(out, "aggregatord_publish_spooled_total %llu\n", U(pub.spooled));
	HEAD("replayed_total", "counter", "Events read back from the spool to be produced again.");
	buf_addf(out, "aggregatord_publish_replayed_total %llu\n", U(pub.replayed));
	HEAD("dropped_total", "counter", "Events dropped, by cause.");
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"standby_window\"} %llu\n", U(pub.drop_window));
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"queue_full\"} %llu\n", U(pub.drop_full));
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"disk\"} %llu\n", U(pub.drop_disk));
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"unknown_topic\"} %llu\n", U(pub.drop_topic));
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"stopped\"} %llu\n", U(pub.drop_stop));
	buf_addf(out, "aggregatord_publish_dropped_total{cause=\"produce_error\"} %llu\n", U(pub.drop_produce));
	HEAD("unpublished_total", "counter", "Events counted, not produced: no kafka section, or kafka.enabled = false.");
	buf_addf(out, "aggregatord_publish_unpublished_total %llu\n", U(pub.unpublished));
	HEAD("spool_corrupt_total", "counter", "Torn or corrupt spool records skipped.");
	buf_addf(out, "aggregatord_publish_spool_corrupt_total %llu\n", U(pub.spool_corrupt));
#undef HEAD
#undef U
}

void publish_status(struct buf *out)
{
	buf_addf(out, "{\"kafka\":\"%s\",\"queued\":%zu,\"produced\":%llu,\"delivered\":%llu,"
		 "\"failed\":%llu,\"spooled\":%llu,\"replayed\":%llu,\"dropped_standby\":%llu}",
		 pub.enabled ? "enabled" : "disabled", queued_now(),
		 (unsigned long long)atomic_load(&pub.produced), (unsigned long long)atomic_load(&pub.delivered),
		 (unsigned long long)atomic_load(&pub.failed), (unsigned long long)atomic_load(&pub.spooled),
		 (unsigned long long)atomic_load(&pub.replayed), (unsigned long long)atomic_load(&pub.drop_window));
}
