/*
 * publish.c — the publish path.  At this stage it only counts: no Kafka
 * producer runs until the election + publish job exists (docs/election.md).
 */
#include "publish.h"

#include <stdatomic.h>

static _Atomic uint64_t unpublished;	/* events handed over with no producer */

void publish_event(const char *topic, const char *key, size_t keylen,
		   const char *json, size_t len)
{
	(void)topic;
	(void)key;
	(void)keylen;
	(void)json;
	(void)len;
	atomic_fetch_add_explicit(&unpublished, 1, memory_order_relaxed);
}

void publish_metrics(struct buf *out)
{
	buf_addf(out, "# HELP aggregatord_publish_unpublished_total Events handed to the publish path while no Kafka producer runs.\n"
		      "# TYPE aggregatord_publish_unpublished_total counter\n"
		      "aggregatord_publish_unpublished_total %llu\n",
		 (unsigned long long)atomic_load(&unpublished));
}
