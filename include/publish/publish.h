/*
 * publish.h — the one path every event takes to Kafka, gated by the role.
 *
 * Jobs call publish_event() from any thread with a topic ("radacct",
 * "totals", "usage"; the topic is <kafka.topic_prefix><topic>), a message
 * key and the members of a JSON object; publish adds "node", "epoch" and
 * "elected" (stamped when the event is produced: role_stamp()) and
 * produces it through the process's one librdkafka producer.
 *
 * The gate (docs/election.md): on the active node events are produced in
 * order; on a standby they are held, in order, for standby_window_ms and
 * then dropped (counted); on promotion the held ones go first, through the
 * same producer, before new ones.  An event librdkafka finally fails to
 * deliver is appended to <state_dir>/spool/ and replayed, oldest first, once
 * deliveries succeed again; the spool survives a restart.
 *
 * Threads: publish_event() and publish_wake() are thread-safe.  Everything
 * else runs on the main thread: delivery reports are served from the event
 * loop, spool files are written and read there.  One "publish" thread moves
 * queued events into librdkafka; no lock is held while calling librdkafka.
 */
#ifndef AGG_PUBLISH_H
#define AGG_PUBLISH_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

/*
 * Start the publish path for cfg (kafka, node, state_dir) on base: the
 * producer (with signals blocked), the spool, the publish thread.  With
 * kafka.enabled = false it only counts events.  0, or -1 after logging.
 */
int publish_start(struct event_base *base, const struct config *cfg, int standby_window_ms);
/* Apply what can change at runtime (the standby window). */
void publish_reconfigure(const struct config *cfg, int standby_window_ms);
/*
 * Clean stop: produce what the active node still holds (into a full
 * librdkafka queue, until timeout_ms), flush librdkafka, spool what is left
 * and then what the active node's queue still holds; a standby drops what
 * it holds (counted, cause "standby_stop": docs/election.md); stop the
 * thread, free everything, all within about timeout_ms (+ 0.5 s for the
 * spooling).  Events handed over after that are dropped (cause "stopped").
 * 0; -1 when the publish thread was still producing at the end: it is left
 * running and nothing is freed (the process is exiting).
 */
int publish_stop(int timeout_ms);

void publish_event(const char *topic, const char *key, size_t keylen,
		   const char *members, size_t len);
/* The role may have changed: let the publish thread look again. */
void publish_wake(void);

/* Whether events are produced: a kafka section, enabled (a restart setting,
 * so fixed for the process's life).  A job may skip building events when
 * it is false, counting them with publish_unpublished(). */
bool publish_enabled(void);
/* Count n events a job did not build because publish_enabled() is false. */
void publish_unpublished(size_t n);

/* Events the broker acknowledged since start (for tests and benchmarks). */
uint64_t publish_delivered(void);

void publish_metrics(struct buf *out);
void publish_status(struct buf *out);	/* one JSON object */

#endif
