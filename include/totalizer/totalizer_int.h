/*
 * totalizer_int.h — the totalizer's runtime structures, shared by the
 * files of the job and by nothing else (its public face is totalizer.h):
 *   totalizer.c       the job: config, life cycle, rule generations,
 *                     metrics and status
 *   totalizer_rx.c    the sockets and the receive threads
 *   totalizer_flush.c the Redis script and the flusher thread
 *   totalizer_held.c  held counts kept on disk across a stop (flusher)
 *   totalizer_http.c  GET /v1/totals and its query worker
 *   totalizer_test_rules.c  `aggregatord --test-rules` (MAX_RULES only)
 *
 * Ownership: struct totalizer is made and freed by the job's create and
 * destroy (totalizer.c); it owns its listeners, its current generation, the
 * rx threads' tables and the flusher's.  The comments on the fields and
 * their groups say which thread writes them.
 */
#ifndef AGG_TOTALIZER_INT_H
#define AGG_TOTALIZER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rules.h"
#include "tally.h"
#include "totalizer.h"
#include "worker.h"

#define MAX_THREADS 64
#define MAX_RULES 256
#define MAX_LISTENERS 64
#define RX_BUF 65536		/* bytes per datagram buffer (> largest UDP payload) */
#define RX_TICK_MS 50		/* how often an idle rx thread looks around */
#define CHUNK_KEYS 500		/* keys per idempotent Redis script call (one batch id) */
#define HELD_ID_MAX 160		/* bytes of a batch id, with its NUL */

struct job_env;
struct http_req;
struct offload;
struct redisContext;

struct listener {
	char *addr;			/* "host:port" as configured */
	int fds[MAX_THREADS];		/* one per rx thread */
	int nfds;
	bool keep;			/* scratch flag during reconfigure */
};

/* An immutable set of compiled rules, as the rx threads see it. */
struct gen {
	unsigned long id;
	struct gen *retired_next;	/* main thread: on tz->retired, newest first */
	struct rule **rules;		/* owned */
	size_t nrules;
	struct gen_listener {
		struct listener *l;	/* owned by the totalizer */
		int lidx;		/* listener slot, for per-socket state */
		size_t *rules;		/* indexes into rules[] */
		size_t nrules;
	} *gls;
	size_t ngls;
	struct cidr *allow;
	size_t nallow;
	int max_line;
	bool any_peer;
	int nthreads;
	_Atomic uint64_t (*matched)[MAX_RULES];		/* [thread][rule] */
	_Atomic uint64_t (*unmatched)[MAX_RULES];
	_Atomic uint64_t (*keys_limit)[MAX_RULES];	/* lines dropped at max_keys */
};

struct rx {
	struct totalizer *tz;
	int id;
	pthread_t thread;
	bool started;
	int health;
	_Atomic bool exited;		/* rx_main returned: its tables are the flusher's */
	struct tally *active;		/* owned by the thread while it runs */
	pthread_mutex_t mu;		/* guards handed and spare */
	struct tally *handed;		/* full table for the flusher */
	struct tally *spare;		/* empty table from the flusher */
	_Atomic unsigned long seen_gen;
	_Atomic unsigned long flush_seen;
	_Atomic uint64_t datagrams, lines, allow_drops, oversize, ovfl_drops, match_errors, oom_drops;
	_Atomic uint64_t keys_limit_drops;
};

struct rule_total {			/* per rule name, over retired generations */
	char name[96];
	uint64_t matched, unmatched, keys_limit;
};

/* A chunk read back from a held-counts file: its batch id and its keys. */
struct held_chunk {
	char *id;			/* owned */
	struct tally *t;		/* owned; at most CHUNK_KEYS keys */
};

/* One held-counts file read at start, waiting for Redis (flusher only). */
struct held_file {
	struct held_file *next;
	char *path;			/* owned; removed once applied */
	uint64_t interval_start_ms;	/* for the `totals` events, as at stop */
	int flush_ms;
	struct held_chunk *chunks;	/* owned */
	size_t nchunks;
};

struct totalizer {
	const struct job_env *env;	/* the daemon's loop and core settings (job.h) */
	struct totalizer_cfg *cfg;	/* current section (owned by the config) */
	int nthreads;
	int rcvbuf;
	struct listener *listeners[MAX_LISTENERS];
	_Atomic(struct gen *) gen;
	struct gen *retired;		/* main thread: replaced generations an rx thread may still run */
	unsigned long next_gen_id;
	struct rx rx[MAX_THREADS];
	_Atomic bool running;
	_Atomic size_t max_keys;	/* limit on rx_keys (reloadable) */
	_Atomic size_t rx_keys;		/* keys in the rx tables (active and handed), all threads */

	/* flusher */
	struct worker fw;		/* the flusher thread (worker.h); woken by reloads */
	_Atomic uint64_t stop_deadline;	/* mono_usec() by which the stop gives up; 0 = running */
	pthread_mutex_t mu;		/* guards the fields below */
	pthread_cond_t cv;		/* (CLOCK_MONOTONIC) wakes the flusher waiting for handoffs */
	bool stop_flusher;		/* stop requested: no more waiting for handoffs */
	int flush_ms;
	size_t max_pending_keys;
	struct redis_cfg redis;		/* private copy */
	unsigned long redis_gen;	/* bumped when the redis settings change */
	char *node;
	_Atomic unsigned long flush_gen;

	/* flusher-only state */
	struct tally *pending, *inflight;
	uint64_t inflight_seq;		/* first chunk id of the in-flight batch */
	uint64_t next_seq;
	uint64_t boot_id;		/* µs at start: makes batch ids unique per run */
	char *held_dir;			/* <state_dir>/totalizer: held counts kept at stop */
	struct held_file *held;		/* files read at start, not yet applied, oldest first */

	/* stats (written by the flusher, read by the loop) */
	_Atomic uint64_t flushes, redis_errors, counted, pending_drops, pending_drop_keys, lost;
	_Atomic uint64_t kept;		/* counts written to held-counts files at stop */
	_Atomic uint64_t restored;	/* counts from held-counts files written to Redis */
	_Atomic uint64_t held_refused;	/* held-counts files refused (links, FIFOs, torn, bad) */
	_Atomic uint64_t last_flush_us, last_flush_wall;
	_Atomic size_t pending_keys;
	_Atomic bool redis_up;
	uint64_t keys_limit_logged;	/* flusher only: keys_limit drops already logged */

	struct rule_total totals[MAX_RULES];	/* main thread only: names of the current rules */
	size_t ntotals;

	/* totals queries (GET /v1/totals) run on their own worker */
	struct offload *queries;
	struct redisContext *qconn;	/* used only on the query worker */
	struct redis_cfg qredis;	/* copy for the worker; swapped on the loop between queries */
	unsigned long qredis_gen;	/* redis_gen the worker's connection was made with */
	int queries_out;		/* main thread: submitted, done() not yet run */
	int max_queries;		/* main thread */
	uint64_t queries_refused;	/* main thread */
};

/* totalizer_rx.c */

/* Open nthreads sockets bound to addr (one SO_REUSEPORT group, spread
 * across the threads); NULL after logging.  Main thread; free with
 * listener_free(). */
struct listener *listener_open(const char *addr, int nthreads, int rcvbuf);
void listener_free(struct listener *l);		/* closes its sockets; NULL is fine */
void *rx_main(void *arg);			/* an rx thread; arg is its struct rx */

/* totalizer_flush.c */

void *flusher_main(void *arg);			/* the flusher thread; arg is the struct totalizer */
/* The next chunk of t from *slot on, as every writer cuts a table (used
 * slots in order, CHUNK_KEYS at a time): its entries in ents, their number
 * returned (0 at the end).  Pure. */
size_t chunk_next(const struct tally *t, size_t *slot, const struct tally_entry **ents);
/* The batch id of this run's chunk seq, into out (HELD_ID_MAX bytes). */
void chunk_id(const struct totalizer *tz, uint64_t seq, char *out, size_t len);

/* totalizer_held.c (the flusher thread only) */

/* At stop: write the in-flight batch (its chunks under the ids they were
 * sent with) and pending (the next ids) to files under held_dir.  The
 * counts that could not be kept (logged), else 0. */
uint64_t held_save(struct totalizer *tz, uint64_t interval_start_ms, int flush_ms);
/* At start: read every held-counts file into tz->held; a file that is not
 * a regular file or does not parse is refused, logged, counted, left. */
void held_load(struct totalizer *tz);
/* hf (the head of tz->held) was applied: unlink it, fsync the directory,
 * free it. */
void held_done(struct totalizer *tz, struct held_file *hf);
/* Free tz->held (the files stay on disk). */
void held_free_all(struct totalizer *tz);

/* totalizer_http.c */

void totalizer_http(void *job, struct http_req *r);	/* GET /v1/totals; main thread */

/* totalizer.c */

/* The sum over the rx threads of the _Atomic uint64_t at offset off in
 * struct rx (offsetof(struct rx, lines), ...).  Any thread. */
uint64_t rx_sum(struct totalizer *tz, size_t off);

#endif
