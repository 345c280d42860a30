/*
 * publish.c — the role-gated Kafka producer queue: publish_event(), the
 * publish thread, the one librdkafka producer and its callbacks, life cycle,
 * metrics and status.  The disk spool is in spool.c; what the two share is
 * in publish_int.h.
 *
 * Threads and ownership:
 *   - any thread: publish_event() appends a copy of the event to the queue
 *     (mutex; no I/O under it) and signals the publish thread;
 *   - the publish thread: while this node is active, takes the whole queue
 *     and produces it in order with rd_kafka_producev() (no lock held); while
 *     standby, it drops from the head what is older than the window;
 *   - delivery reports: served by the thread that produces, every
 *     REPORTS_EVERY events it hands to librdkafka (serve_here(): the
 *     messages are freed on the thread that allocated them, as a bare
 *     producer's are, and no third thread is woken per burst), and by the
 *     main thread whenever librdkafka's main queue wakes the loop through a
 *     pipe (what a thread that stopped producing left).  A failed delivery
 *     is appended to the spool on the thread that served it (spool.c
 *     guards the file);
 *   - the main thread: the spool's sync (a producing thread that appended
 *     wakes the loop for it), its replay of the oldest file while
 *     deliveries succeed, and start/stop.
 *
 * Order: the queue is FIFO and only the publish thread takes from it, so
 * events held on a standby are produced before newer ones on promotion, by
 * the same producer.  Replayed spool records are put at the queue's front.
 */
#include "publish.h"

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

#include "gateq.h"
#include "json.h"
#include "log.h"
#include "prom.h"
#include "publish_int.h"
#include "role.h"
#include "thread.h"

#define QUEUE_MAX 1000000	/* events held at most; more are dropped and counted */
#define PRODUCE_CHECK 64	/* events produced between looks at the role */
#define SPOOL_RETRY_MS 5000	/* ms after a failure before the spool is tried again */
#define VALUE_INLINE 2048	/* a value up to this size is built on the stack */
#define REPORTS_EVERY 64	/* events a thread produces between servings of the reports */
#define LATE_MS 20		/* ms the loop leaves reports to producing threads */

const char *const pub_topic_names[TOPICS] = { "radacct", "totals", "usage" };

struct publisher pub = { .spool_fd = -1, .pipe = { -1, -1 } };

/* ---- the queue ---- */

static void pev_drop(struct pev *e);
static int produce_bytes(int topic, const char *key, size_t keylen, const char *data, size_t len,
			 bool raw, struct spool_file *sf);

void publish_event(const char *topic, const char *key, size_t keylen,
		   const char *members, size_t len)
{
	int t;
	for (t = 0; t < TOPICS; t++)
		if (strcmp(topic, pub_topic_names[t]) == 0)
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
	if (pub.closed || gateq_push(&pub.queue, &e->q, mono_ms()) < 0) {
		bool closed = pub.closed;
		pthread_mutex_unlock(&pub.mu);
		atomic_fetch_add(closed ? &pub.drop_stop : &pub.drop_full, 1);
		free(e);
		return;
	}
	atomic_store(&pub.nqueued, pub.queue.n);
	bool wake = pub.pump_waiting;
	pub.pump_waiting = false;
	pthread_mutex_unlock(&pub.mu);
	atomic_fetch_add_explicit(&pub.enqueued[t], 1, memory_order_relaxed);
	if (wake)
		worker_wake(&pub.w);
}

bool publish_enabled(void)
{
	return pub.enabled;
}

void publish_unpublished(size_t n)
{
	atomic_fetch_add(&pub.unpublished, n);
}

void publish_wake(void)
{
	if (!pub.started)
		return;
	worker_wake(&pub.w);
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

/* An event that will not be produced: its spool file, if any, must stay. */
static void pev_drop(struct pev *e)
{
	if (e->sf) {
		atomic_store(&e->sf->keep, true);
		spool_file_done(e->sf);
	}
	free(e);
}

/*
 * An event librdkafka refused for good (counted by produce_bytes): a
 * replayed record would be refused at every replay, so its file is kept as
 * NAME.bad for an operator once its other records are done; kept as it is,
 * it was replayed again and again, its other records duplicated each time.
 */
static void pev_refused(struct pev *e)
{
	if (e->sf) {
		atomic_store(&e->sf->bad, true);
		spool_file_done(e->sf);
	}
	free(e);
}

/*
 * The Kafka value of an event (raw: data is the value; else the members of
 * the object, wrapped with node and the current epoch): written into buf
 * (cap bytes) when it fits, else into a fresh buffer.  Returns the value
 * (buf, or the fresh buffer the caller frees), its length in *vlen; NULL
 * when out of memory.
 */
static char *make_value(const char *data, size_t len, bool raw, char *buf, size_t cap, size_t *vlen)
{
	char *val;
	if (raw) {
		*vlen = len;
		if (len <= cap)
			return len ? memcpy(buf, data, len) : buf;
		val = malloc(len);
		if (val)
			memcpy(val, data, len);
		return val;
	}
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
	size_t need = headlen + 1 + len + 1;
	val = need <= cap ? buf : malloc(need);
	if (!val)
		return NULL;
	char *p = val;
	memcpy(p, head, headlen);
	p += headlen;
	if (len) {
		*p++ = ',';
		memcpy(p, data, len);
		p += len;
	}
	*p++ = '}';
	*vlen = (size_t)(p - val);
	return val;
}

/*
 * Serve the delivery reports that are ready, on a thread that produces
 * (never blocks); a failed delivery appended to the spool wakes the loop,
 * which makes it durable (spool_sync).
 */
static void serve_here(void)
{
	atomic_store_explicit(&pub.served_here_ms, mono_ms(), memory_order_relaxed);
	if (rd_kafka_poll(pub.rk, 0) > 0 && spool_pending() && write(pub.pipe[1], "s", 1) < 0) {
		/* the pipe is full: the loop is woken already */
	}
}

/*
 * Produce one event (raw: value complete; else the members of the object,
 * wrapped with node and the current epoch).  0 done, 1 librdkafka's queue is
 * full (retry later), -1 failed for good (counted and logged).
 */
static int produce_bytes(int topic, const char *key, size_t keylen, const char *data, size_t len,
			 bool raw, struct spool_file *sf)
{
	/* A value that fits is built on the stack and copied by librdkafka
	 * into the message's own allocation (one allocation per event, as a
	 * bare producer has); a larger one is handed over (F_FREE). */
	char small[VALUE_INLINE];
	size_t vlen = 0;
	char *val = make_value(data, len, raw, small, sizeof(small), &vlen);
	if (!val)
		return 1;
	bool own = val != small;
	rd_kafka_resp_err_t err = rd_kafka_producev(
		pub.rk, RD_KAFKA_V_RKT(pub.topics[topic]), RD_KAFKA_V_KEY(key, keylen),
		RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(own ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_OPAQUE(sf), RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_fetch_add_explicit(&pub.produced, 1, memory_order_relaxed);
		static _Thread_local unsigned since_served;
		if (++since_served == REPORTS_EVERY) {
			since_served = 0;
			serve_here();
		}
		return 0;
	}
	if (own)
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

/*
 * Drop held events older than the window (publish thread, mu held): the
 * active node produced its own copies.  Not a replayed spool record: this
 * node holds its only copy, and part of its file may be delivered already
 * (a demotion in the middle of a replay), so dropping it and keeping the
 * whole file would replay those twice.  It stays held, ahead of the rest,
 * until this node produces it or spools it again at stop.
 */
static void trim_window(void)
{
	struct gateq_item *it, *keep = NULL, **tail = &keep;
	size_t kept = 0;
	while ((it = gateq_pop_expired(&pub.queue, mono_ms(), (uint64_t)atomic_load(&pub.window_ms)))) {
		if (((struct pev *)it)->sf) {
			*tail = it;
			tail = &it->next;
			kept++;
			continue;
		}
		atomic_fetch_add(&pub.drop_window, 1);
		pev_drop((struct pev *)it);
	}
	gateq_push_front(&pub.queue, keep, kept);
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
					pev_refused(list);
				else
					free(list);	/* its fate is now in the delivery report */
				list = next;
				done++;
			}
			requeue_front(list, n - done);	/* also ends pump_busy */
			worker_beat(&pub.w);
			pthread_mutex_lock(&pub.mu);
			if (full) {
				/* At a stop, a broker that takes nothing (librdkafka's
				 * queue full) gets until stop_by_us; then publish_stop
				 * spools what is still queued. */
				if (pub.stopping && mono_usec() >= pub.stop_by_us)
					break;
				pthread_mutex_unlock(&pub.mu);
				struct timespec ts = { 0, 2000000 };
				nanosleep(&ts, NULL);
				pthread_mutex_lock(&pub.mu);
			}
			continue;
		}
		if (pub.stopping)
			break;
		if (!active)
			trim_window();
		pub.pump_waiting = true;
		pthread_mutex_unlock(&pub.mu);
		worker_sleep_ms(&pub.w, 100);	/* woken by publish_event; stop is pub.stopping */
		pthread_mutex_lock(&pub.mu);
		pub.pump_waiting = false;
	}
	pthread_mutex_unlock(&pub.mu);
	return NULL;
}

/* ---- librdkafka callbacks (from rd_kafka_poll: the main thread, or a
 * thread that produces, in serve_here) ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	struct spool_file *sf = m->_private;
	if (m->err) {
		atomic_fetch_add(&pub.failed, 1);
		/* sent, never acknowledged (purged in flight at a stop, or timed
		 * out waiting for the answer): the broker may have it, so the
		 * spooled copy may come twice */
		if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
			atomic_fetch_add(&pub.uncertain, 1);
		atomic_store(&pub.last_fail_ms, mono_ms());
		bool streak = atomic_exchange(&pub.ok_since_fail, 0) == 0;
		if (!atomic_exchange(&pub.any_failure, true) || !streak)
			log_error("publish: delivery to '%s' failed: %s; spooling to %s",
				  rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err), pub.spool_dir);
		if (spool_append(rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len) < 0) {
			/* replayed from a spool file: it is still there, keep it */
			if (sf)
				atomic_store(&sf->keep, true);
			else
				atomic_fetch_add(&pub.drop_disk, 1);
		}
	} else {
		atomic_fetch_add_explicit(&pub.delivered, 1, memory_order_relaxed);
		if (atomic_fetch_add_explicit(&pub.ok_since_fail, 1, memory_order_relaxed) == 0 &&
		    atomic_load(&pub.any_failure))
			log_info("publish: deliveries succeed again");
	}
	if (sf)
		spool_file_done(sf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (atomic_exchange(&pub.last_err, err) == err)
		return;
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
	spool_sync();	/* the burst's spooled events on disk, then counted */
}

static void on_late(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	serve();
}

/*
 * librdkafka's main queue has something (or a producing thread appended to
 * the spool).  While threads are producing they serve the reports
 * themselves (serve_here): the loop leaves the reports to them, so that
 * each message is freed where it was allocated, and looks again LATE_MS
 * later for what a thread that stopped producing left.
 */
static void on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	char b[64];
	while (read(fd, b, sizeof(b)) > 0)
		;
	if (mono_ms() - atomic_load_explicit(&pub.served_here_ms, memory_order_relaxed) < LATE_MS) {
		spool_sync();
		if (!evtimer_pending(pub.late, NULL)) {
			struct timeval tv = { 0, LATE_MS * 1000 };
			if (evtimer_add(pub.late, &tv) == 0)
				return;
		} else {
			return;
		}
	}
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
	if (atomic_load(&pub.any_failure) && !atomic_load(&pub.ok_since_fail) &&
	    mono_ms() - atomic_load(&pub.last_fail_ms) < SPOOL_RETRY_MS)
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
		return log_error("publish: cannot create '%s': %s", p, strerror(errno));
	return 0;
}

static int set_prop(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];
	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		return log_error("publish: kafka property '%s': %s", k, err);
	return 0;
}

int publish_start(struct event_base *base, const struct config *cfg, int standby_window_ms)
{
	pthread_mutex_init(&pub.mu, NULL);
	if (worker_init(&pub.w) < 0) {
		pthread_mutex_destroy(&pub.mu);
		return log_error("publish: cannot set up the publish thread");
	}
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
	struct jw w;
	jw_init_members(&w, &nj);
	jw_kv_str(&w, "node", cfg->node.name);
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
		return log_error("publish: cannot create the kafka producer: %s", err);
	}
	for (int t = 0; t < TOPICS; t++) {
		char name[300];
		snprintf(name, sizeof(name), "%s%s", cfg->kafka.topic_prefix, pub_topic_names[t]);
		pub.topics[t] = rd_kafka_topic_new(pub.rk, name, NULL);
		if (!pub.topics[t])
			return log_error("publish: cannot make topic '%s'", name);
	}
	if (pipe2(pub.pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return log_error("publish: pipe: %s", strerror(errno));
	rd_kafka_queue_t *mq = rd_kafka_queue_get_main(pub.rk);
	rd_kafka_queue_io_event_enable(mq, pub.pipe[1], "1", 1);
	rd_kafka_queue_destroy(mq);
	pub.io_ev = event_new(base, pub.pipe[0], EV_READ | EV_PERSIST, on_io, NULL);
	pub.timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
	pub.late = evtimer_new(base, on_late, NULL);
	struct timeval tv = { 0, 250000 };
	if (!pub.io_ev || !pub.timer || !pub.late || event_add(pub.io_ev, NULL) < 0 ||
	    event_add(pub.timer, &tv) < 0)
		return log_error("publish: cannot watch the kafka queue");
	if (worker_start(&pub.w, "publish", pump, NULL) < 0)
		return log_error("publish: cannot start the publish thread");
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

/*
 * What the queue still holds once the publish thread is gone (main thread,
 * at stop, before librdkafka is flushed and purged).  An active node's
 * events go on after the purged ones: it has no other copy, so they are
 * spooled (their spool_file, if replayed from one, is done: the record is in
 * the new file).  A standby's were produced by the active node from its own
 * copies: they are dropped and counted (docs/election.md, "Stopping a
 * standby"), except records replayed from the spool, spooled again as an
 * active node's are (this node holds their only copy).  Events that come later still are dropped as "stopped".
 */
static void stop_queue(void)
{
	pthread_mutex_lock(&pub.mu);
	pub.closed = true;
	size_t n;
	struct pev *e = (struct pev *)gateq_take_all(&pub.queue, &n);
	atomic_store(&pub.nqueued, 0);
	pthread_mutex_unlock(&pub.mu);
	if (!n)
		return;
	bool active = role_is_active();
	size_t spooled = 0, dropped = 0;
	while (e) {
		struct pev *next = (struct pev *)e->q.next;
		size_t vlen = 0;
		char small[VALUE_INLINE];
		/* a replayed record is spooled by a standby too: no other node
		 * holds it, and its old file may be partly delivered */
		char *val = (active || e->sf) && pub.rk
				    ? make_value(e->data + e->keylen, e->len, e->raw, small, sizeof(small), &vlen)
				    : NULL;
		bool made = val != NULL;
		int rc = made ? spool_append(rd_kafka_topic_name(pub.topics[e->topic]), e->data, e->keylen,
					     val, vlen) : -1;
		if (val != small)
			free(val);
		if (rc == 0) {
			if (e->sf)
				spool_file_done(e->sf);
			free(e);
			spooled++;
		} else if (made && e->sf) {
			pev_drop(e);	/* still in its spool file, which stays */
			dropped++;
		} else if (made) {
			atomic_fetch_add(&pub.drop_disk, 1);
			free(e);
			dropped++;
		} else {
			atomic_fetch_add(active ? &pub.drop_stop : &pub.drop_standby_stop, 1);
			pev_drop(e);
			dropped++;
		}
		e = next;
	}
	if (active)
		log_warn("publish: %zu queued event(s) not produced at stop: spooling them to %s%s",
			 spooled, pub.spool_dir, dropped ? " (some not: out of memory or disk, above)" : "");
	else
		log_info("publish: standby: %zu held event(s) dropped at stop (the active node produces "
			 "its own copies), %zu replayed from the spool spooled again to %s", dropped, spooled,
			 pub.spool_dir);
}

int publish_stop(int timeout_ms)
{
	if (!pub.started)
		return 0;
	uint64_t deadline = mono_usec() + (uint64_t)timeout_ms * 1000u;
	bool left = false;
	if (pub.w.started) {
		/* The thread produces what an active node holds, then exits; into
		 * a full librdkafka it tries until the deadline. */
		pthread_mutex_lock(&pub.mu);
		pub.stopping = true;
		pub.stop_by_us = deadline;
		atomic_store(&pub.busy, true);
		pthread_mutex_unlock(&pub.mu);
		worker_stop_request(&pub.w);
		left = worker_join(&pub.w, deadline + 500000u) < 0;
	}
	if (left) {
		/* Not expected (the thread gives up at the deadline): what it
		 * holds stays in memory (counted below as not delivered). */
		log_warn("publish: the publish thread is still producing: left behind, abandoned at exit");
		if (pub.rk) {
			rd_kafka_flush(pub.rk, 0);
			rd_kafka_purge(pub.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			rd_kafka_flush(pub.rk, 500);
			serve();
			spool_close();
		}
		return -1;
	}
	if (pub.rk) {
		uint64_t now = mono_usec();
		int left_ms = now < deadline ? (int)((deadline - now) / 1000u) : 0;
		rd_kafka_resp_err_t err = rd_kafka_flush(pub.rk, left_ms);
		if (err) {
			log_warn("publish: %d event(s) not delivered within %d ms: spooling them",
				 rd_kafka_outq_len(pub.rk), timeout_ms);
			rd_kafka_purge(pub.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			rd_kafka_flush(pub.rk, 500);	/* the purged events' reports: local */
		}
		serve();	/* the purged ones spooled first: they are older */
	}
	stop_queue();
	if (pub.rk) {
		spool_close();
		uint64_t u = atomic_load(&pub.uncertain);
		if (u)
			log_warn("publish: %llu spooled event(s) may already be on the topic (sent, not "
				 "acknowledged; since start): their replay may duplicate them",
				 (unsigned long long)u);
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
	if (pub.late)
		event_free(pub.late);
	pub.io_ev = pub.timer = pub.late = NULL;
	for (int i = 0; i < 2; i++)
		if (pub.pipe[i] >= 0)
			close(pub.pipe[i]);
	pub.pipe[0] = pub.pipe[1] = -1;
	free(pub.node_json);
	pub.node_json = NULL;
	pub.enabled = false;
	pub.started = false;
	worker_destroy(&pub.w);
	pthread_mutex_destroy(&pub.mu);
	return 0;
}
