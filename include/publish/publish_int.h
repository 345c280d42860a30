/*
 * publish_int.h — what the publish group's files share inside the group:
 * the one publish state of the process (pub), the event as it waits in the
 * queue (struct pev), the spool file it may come from, and the spool's
 * functions (spool.c) that the producer side (publish.c) calls.  Not for
 * other groups: they use publish.h.
 *
 * Threads: the fields of pub say who touches them.  Delivery reports run
 * on the main thread and on the threads that produce (publish.c,
 * serve_here()), so spool_append() may run on any of them (the spool file
 * being written is guarded in spool.c); spool_sync(), spool_oldest() and
 * spool_replay() run on the main thread; spool_file_done() on any thread
 * that ends a replayed event's trip (a delivery report, the publish
 * thread's window trim, stop).
 */
#ifndef AGG_PUBLISH_INT_H
#define AGG_PUBLISH_INT_H

#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateq.h"
#include "worker.h"
#include "thread.h"

#define TOPICS 3

struct spool_file {
	char path[PATH_MAX];
	_Atomic size_t outstanding;	/* records not yet delivered again */
	_Atomic bool keep;		/* some record was not re-produced: keep the file */
	_Atomic bool bad;		/* a record was corrupt, for an unknown topic, or
					 * refused by librdkafka for good (the publish thread):
					 * once the others are done, kept as NAME.bad */
};

struct pev {
	struct gateq_item q;		/* first: links it in the gate queue */
	int topic;
	bool raw;			/* value complete (from the spool) */
	struct spool_file *sf;		/* the spool file it came from, or NULL */
	uint32_t keylen, len;
	char data[];			/* key bytes, then members (or the raw value) */
};

/*
 * The publish path of the process: one per process (pub, defined in
 * publish.c), started by publish_start().
 */
struct publisher {
	bool started, enabled;
	struct event_base *base;
	rd_kafka_t *rk;
	rd_kafka_topic_t *topics[TOPICS];
	char *node_json;		/* "\"node\":\"agg-a\"" */
	char spool_dir[3072];		/* <state_dir>/spool */

	struct worker w;		/* the publish thread (worker.h); woken by new events */
	pthread_mutex_t mu;		/* guards queue/stopping/closed/stop_by_us/pump_* */
	struct gateq queue;
	bool stopping;			/* publish_stop() began: the thread produces what is held, then exits */
	bool closed;			/* publish_stop() took the queue for good: new events are dropped */
	uint64_t stop_by_us;		/* monotonic us: a stopping thread facing a full librdkafka gives up */
	bool pump_waiting;		/* the publish thread sleeps (worker_sleep_ms) */
	bool pump_busy;			/* the publish thread is producing a taken list */
	_Atomic size_t nqueued;		/* copy of queued, read without the lock */
	_Atomic bool busy;		/* copy of pump_busy || stopping, read without the lock */
	_Atomic int window_ms;

	int pipe[2];
	struct event *io_ev, *timer;
	struct event *late;		/* the loop's look at the reports producing threads left */
	_Atomic uint64_t served_here_ms;	/* monotonic ms a producing thread last served reports */

	/* the spool file being written (spool.c; guarded by its spool_mu) */
	int spool_fd;
	size_t spool_bytes_cur;
	char spool_cur[PATH_MAX];
	uint64_t spool_seq;
	bool spool_dirty;		/* records written since the last spool_sync() */
	bool spool_dir_dirty;		/* the file is new: the directory needs an fsync */
	bool spool_failing;		/* the last append failed (logged once a streak) */
	bool list_failing;		/* the spool directory could not be listed (logged once a streak; event loop) */
	uint64_t spool_unsynced;	/* records written, not yet synced nor counted */
	_Atomic bool replaying;
	/* set by the delivery reports and librdkafka's error callback, on any
	 * thread that serves them; read by the loop's timer */
	_Atomic uint64_t ok_since_fail;	/* deliveries since the last failure */
	_Atomic bool any_failure;
	_Atomic uint64_t last_fail_ms;	/* monotonic ms of the last failed delivery */
	_Atomic int last_err;		/* last broker-level error logged (rd_kafka_resp_err_t) */

	/* Counted per event by the threads that hand events in, and by the
	 * delivery reports: each side on cache lines of its own, so that a
	 * report served on the event loop does not make the producing thread's
	 * line travel between cores. */
	_Alignas(64) _Atomic uint64_t enqueued[TOPICS], produced;
	_Alignas(64) _Atomic uint64_t delivered, failed, spooled, replayed;
	_Alignas(64) char split_;	/* what follows starts a line of its own */
	_Atomic uint64_t drop_window, drop_full, drop_disk, drop_topic, drop_stop, drop_produce;
	_Atomic uint64_t drop_standby_stop;	/* held by a standby at stop (docs/election.md) */
	_Atomic uint64_t uncertain;	/* spooled after a failure, possibly on the topic already */
	_Atomic uint64_t unpublished, spool_corrupt;
};

extern struct publisher pub;
extern const char *const pub_topic_names[TOPICS];	/* "radacct", "totals", "usage" */

static inline uint64_t mono_ms(void)
{
	return mono_usec() / 1000u;
}

/* ---- the spool (spool.c) ---- */

/* Make what was appended durable: fdatasync the file, fsync the spool
 * directory when the file is new, then count the records as spooled.  Once
 * per drained burst of delivery reports. */
void spool_sync(void);
/* Appended records wait for spool_sync() (any thread). */
bool spool_pending(void);
/* Close the spool file being written (spool_sync() first). */
void spool_close(void);
/* Append one failed event to the spool file being written (opened or
 * rotated as needed); it counts as spooled at the next spool_sync().  0, or
 * -1 when the disk refused (logged; the caller counts the loss). */
int spool_append(const char *topic, const void *key, size_t kl, const void *val, size_t vl);
/* Oldest closed spool file, or "" (caller's buffer). */
void spool_oldest(char *out, size_t len);
/* Read one spool file and put its records at the queue's front. */
void spool_replay(const char *path);
/* A spool record finished its trip (delivered, failed and re-spooled, or dropped). */
void spool_file_done(struct spool_file *sf);

#endif
