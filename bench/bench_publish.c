/*
 * bench_publish.c — producer throughput through the publish gate vs. raw
 * rd_kafka_producev() in a loop, in the same run, against the same broker.
 *
 *   raw:  producev() N messages of the same size and key, counting delivery
 *         reports as any producer must, then flush;
 *   gate: publish_event() N events from another thread (the way jobs do),
 *         delivery reports served by the event loop, until all N are
 *         acknowledged.
 * usage: bench_publish BOOTSTRAP N STATE_DIR
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "publish.h"
#include "role.h"
#include "thread.h"

static const char members[] =
	"\"prefix\":\"web_client\",\"matched\":\"10.0.0.224,200\",\"source\":\"web1\","
	"\"start_ts\":1795456800,\"delta\":3,\"interval_start_ms\":1795459200000,\"flush_ms\":1000";
static const char key[] = "web_client;10.0.0.224,200;web1;1795456800";
static long N;

static long raw_delivered;
static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (!m->err)
		raw_delivered++;
}

static double raw_run(const char *bootstrap)
{
	char err[256], val[512];
	int vl = snprintf(val, sizeof(val), "{\"node\":\"bench\",\"epoch\":1,%s}", members);
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
	rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof(err));
	rd_kafka_conf_set(c, "queue.buffering.max.messages", "1000000", err, sizeof(err));
	rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof(err));
	rd_kafka_conf_set_dr_msg_cb(c, raw_dr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "bench_publish: %s\n", err);
		exit(1);
	}
	uint64_t t0 = mono_usec();
	for (long i = 0; i < N; i++) {
		while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("bench.raw"), RD_KAFKA_V_KEY(key, sizeof(key) - 1),
					 RD_KAFKA_V_VALUE(val, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 1);
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 60000);
	double s = (double)(mono_usec() - t0) / 1e6;
	rd_kafka_destroy(rk);
	return s;
}

static void *feeder(void *arg)
{
	(void)arg;
	for (long i = 0; i < N; i++)
		publish_event("totals", key, sizeof(key) - 1, members, sizeof(members) - 1);
	return NULL;
}

static struct event_base *base;
static void check_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (publish_delivered() >= (uint64_t)N)
		event_base_loopbreak(base);
}

static double gate_run(const char *bootstrap, const char *state_dir)
{
	struct config cfg = { 0 };
	cfg.node.name = "bench";
	cfg.node.state_dir = (char *)state_dir;
	cfg.kafka.enabled = true;
	cfg.kafka.brokers = (char *)bootstrap;
	cfg.kafka.topic_prefix = "bench.gate.";
	struct kv props[] = { { "linger.ms", "5" } };
	cfg.kafka.properties.items = props;
	cfg.kafka.properties.n = 1;
	evthread_use_pthreads();
	base = event_base_new();
	role_set_current(true, 1);
	if (publish_start(base, &cfg, 5000) < 0)
		exit(1);
	struct event *t = event_new(base, -1, EV_PERSIST, check_done, NULL);
	struct timeval tv = { 0, 1000 };
	event_add(t, &tv);
	uint64_t t0 = mono_usec();
	pthread_t th;
	pthread_create(&th, NULL, feeder, NULL);
	event_base_dispatch(base);
	double s = (double)(mono_usec() - t0) / 1e6;
	pthread_join(th, NULL);
	event_free(t);
	publish_stop(5000);
	event_base_free(base);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_publish BOOTSTRAP N STATE_DIR\n");
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	N = atol(argv[2]);
	double raw = raw_run(argv[1]);
	double gate = gate_run(argv[1], argv[3]);
	printf("%-44s %12.0f /s   baseline %12.0f /s (raw rd_kafka_producev loop)   ratio %.2f\n",
	       "events through the publish gate, delivered", (double)N / gate, (double)N / raw, raw / gate);
	return 0;
}
