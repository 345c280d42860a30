/*
 * bench_publish.c — producer throughput through the publish gate vs. raw
 * rd_kafka_producev() in a loop, in the same run, against the same broker.
 *
 *   raw:  producev() N messages of the same size and key, counting delivery
 *         reports as any producer must, then flush;
 *   gate: publish_event() N events from another thread (the way jobs do),
 *         the event loop running, until all N are acknowledged (the
 *         delivery reports are served by the producing thread while it
 *         produces, by the loop after).
 * One side per run (bench/run.sh interleaves them and keeps the best of
 * each).  Prints the rate and the CPU each side spent per event, split by
 * thread: the producing thread (serving its reports, as the raw loop does),
 * the event loop (the reports left when producing stops), and the rest of
 * the process (librdkafka's threads, the publish thread).  CPU per event holds still
 * when the machine is busy; the rate does not.
 * usage: bench_publish BOOTSTRAP N STATE_DIR raw|gate
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

/* CPU seconds of this thread, and of the whole process */
static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_producer, cpu_reports, cpu_all;	/* of the last run */

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
	double p0 = process_cpu(), c0 = thread_cpu();
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
	cpu_producer = thread_cpu() - c0;
	cpu_reports = 0;	/* served by the producing thread, counted there */
	cpu_all = process_cpu() - p0;
	if (raw_delivered != N) {
		fprintf(stderr, "bench_publish: raw: %ld of %ld delivered\n", raw_delivered, N);
		exit(1);
	}
	rd_kafka_destroy(rk);
	return s;
}

static void *feeder(void *arg)
{
	(void)arg;
	double c0 = thread_cpu();
	for (long i = 0; i < N; i++)
		publish_event("totals", key, sizeof(key) - 1, members, sizeof(members) - 1);
	cpu_producer = thread_cpu() - c0;
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
	double p0 = process_cpu(), c0 = thread_cpu();
	uint64_t t0 = mono_usec();
	pthread_t th;
	pthread_create(&th, NULL, feeder, NULL);
	event_base_dispatch(base);
	double s = (double)(mono_usec() - t0) / 1e6;
	pthread_join(th, NULL);
	cpu_reports = thread_cpu() - c0;
	cpu_all = process_cpu() - p0;
	event_free(t);
	publish_stop(5000);
	event_base_free(base);
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[4], "raw") != 0 && strcmp(argv[4], "gate") != 0)) {
		fprintf(stderr, "usage: bench_publish BOOTSTRAP N STATE_DIR raw|gate\n");
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	N = atol(argv[2]);
	bool raw = strcmp(argv[4], "raw") == 0;
	double s = raw ? raw_run(argv[1]) : gate_run(argv[1], argv[3]);
	/* one line for bench/run.sh: side, events/s, then CPU µs per event:
	 * all, producing thread, delivery reports, the rest */
	double us = 1e6 / (double)N;
	printf("%s %.0f %.3f %.3f %.3f %.3f\n", argv[4], (double)N / s, cpu_all * us, cpu_producer * us,
	       cpu_reports * us, (cpu_all - cpu_producer - cpu_reports) * us);
	return 0;
}
