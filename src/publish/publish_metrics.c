/*
 * publish_metrics.c — what the publish path shows: its Prometheus metrics,
 * its part of /v1/status, and the delivered count tests and benchmarks
 * read.  Any thread (the HTTP server's, mostly): the counters are atomics
 * and the queue's length is read under its lock.
 */
#include "publish.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "json.h"
#include "prom.h"
#include "publish_int.h"

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
	prom_metric_u64(out, "aggregatord_publish_enabled", "gauge",
		"1 when events are produced to Kafka (a kafka section, enabled).", pub.enabled ? 1 : 0);
	prom_head(out, "aggregatord_publish_events_total", "counter",
		  "Events handed to the publish path, by topic.");
	for (int t = 0; t < TOPICS; t++)
		prom_u64_1(out, "aggregatord_publish_events_total", "topic", pub_topic_names[t],
			   atomic_load(&pub.enqueued[t]));
	prom_metric_u64(out, "aggregatord_publish_queued", "gauge",
		"Events waiting to be produced (held while standby).", queued_now());
	prom_metric_u64(out, "aggregatord_publish_produced_total", "counter",
		"Events handed to librdkafka.", atomic_load(&pub.produced));
	prom_metric_u64(out, "aggregatord_publish_delivered_total", "counter",
		"Events the broker acknowledged.", atomic_load(&pub.delivered));
	prom_metric_u64(out, "aggregatord_publish_failed_total", "counter",
		"Events librdkafka finally failed to deliver (then spooled).", atomic_load(&pub.failed));
	prom_metric_u64(out, "aggregatord_publish_spooled_total", "counter",
		"Events written to the disk spool.", atomic_load(&pub.spooled));
	prom_metric_u64(out, "aggregatord_publish_spooled_uncertain_total", "counter",
		"Events spooled after a failed delivery whose outcome is unknown (sent, not acknowledged): "
		"their replay may duplicate them.", atomic_load(&pub.uncertain));
	prom_metric_u64(out, "aggregatord_publish_replayed_total", "counter",
		"Events read back from the spool to be produced again.", atomic_load(&pub.replayed));
	prom_head(out, "aggregatord_publish_dropped_total", "counter", "Events dropped, by cause.");
	const struct {
		const char *cause;
		uint64_t n;
	} dropped[] = {
		{ "standby_window", atomic_load(&pub.drop_window) },
		{ "queue_full", atomic_load(&pub.drop_full) },
		{ "disk", atomic_load(&pub.drop_disk) },
		{ "unknown_topic", atomic_load(&pub.drop_topic) },
		{ "stopped", atomic_load(&pub.drop_stop) },
		{ "standby_stop", atomic_load(&pub.drop_standby_stop) },
		{ "produce_error", atomic_load(&pub.drop_produce) },
	};
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		prom_u64_1(out, "aggregatord_publish_dropped_total", "cause", dropped[i].cause,
			   dropped[i].n);
	prom_metric_u64(out, "aggregatord_publish_unpublished_total", "counter",
		"Events counted, not produced: no kafka section, or kafka.enabled = false.", atomic_load(&pub.unpublished));
	prom_metric_u64(out, "aggregatord_publish_spool_corrupt_total", "counter",
		"Torn or corrupt spool records skipped.", atomic_load(&pub.spool_corrupt));
}

void publish_status(struct buf *out)
{
	struct jw w;
	jw_init(&w, out);
	jw_obj(&w);
	jw_kv_str(&w, "kafka", pub.enabled ? "enabled" : "disabled");
	jw_kv_u64(&w, "queued", queued_now());
	jw_kv_u64(&w, "produced", atomic_load(&pub.produced));
	jw_kv_u64(&w, "delivered", atomic_load(&pub.delivered));
	jw_kv_u64(&w, "failed", atomic_load(&pub.failed));
	jw_kv_u64(&w, "spooled", atomic_load(&pub.spooled));
	jw_kv_u64(&w, "replayed", atomic_load(&pub.replayed));
	jw_kv_u64(&w, "dropped_standby", atomic_load(&pub.drop_window));
	jw_end(&w);
}
