/*
 * publish.h — the one function every job hands its downstream events to.
 *
 * Events are JSON objects bound for Kafka topic <topic_prefix><topic>, with a
 * message key.  The election + publish job (publish.c's next stage) gates
 * them by role, queues them in order and produces them through one
 * librdkafka producer; until that job is configured on a node, events are
 * counted here and go nowhere.  Thread-safe; copies what it keeps.
 */
#ifndef AGG_PUBLISH_H
#define AGG_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

void publish_event(const char *topic, const char *key, size_t keylen,
		   const char *json, size_t len);

/* Prometheus text for the publish path. */
void publish_metrics(struct buf *out);

#endif
