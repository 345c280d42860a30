/*
 * test_publish_gate.c — the publish path in process, against a broker that
 * is not there (127.0.0.1:1: librdkafka holds what it is given):
 *   - the daemon's queue at its cap: a standby holds 10^6 events, the ones
 *     after them are dropped and counted (queue_full), an unknown topic is
 *     counted apart; at stop the standby drops what it holds (standby_stop);
 *   - a demotion in the middle of a produced list: a standby holding a list
 *     is promoted, then demoted while the publish thread hands the list to
 *     librdkafka; it stops at its next look at the role (every 64 events),
 *     the rest stays held, in front; promoted again it produces the rest;
 *     at stop every event is spooled once (none lost, none twice);
 *   - a standby window shortened at runtime (a reload): the held events
 *     past it are dropped (standby_window), none produced;
 *   - a stop that cannot spool (the spool directory replaced by a file):
 *     the events purged from librdkafka and those still in the daemon's
 *     queue are each counted as lost (disk), none spooled;
 *   - delivery reports served on the thread that produces (the event loop
 *     never runs here): the events that time out are reported failed and
 *     appended to the spool by that thread, counted as spooled once the
 *     spool is synced (the loop's job: at stop here); every event is in the
 *     spool once;
 *   - kafka disabled: events are counted, not produced (and those a job did
 *     not build, counted by publish_unpublished), no spool made; a
 *     second stop does nothing;
 *   - publish_start refusing: a kafka property librdkafka refuses, a
 *     state_dir where the spool directory cannot be made.
 * The oracle is the number of events the test hands over; the figures read
 * are the daemon's metrics (publish_metrics).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "publish.h"
#include "role.h"
#include "suites.h"

#define CAP 1000000	/* publish.c QUEUE_MAX */

static char state_dir[] = "/tmp/agg-unit-pub-XXXXXX";
static struct event_base *base;

/* A config for a broker that never answers; props: extra kafka properties. */
static struct config conf(struct kv *props, size_t nprops)
{
	struct config cfg = { 0 };
	cfg.node.name = "unit";
	cfg.node.state_dir = state_dir;
	cfg.kafka.enabled = true;
	cfg.kafka.brokers = "127.0.0.1:1";
	cfg.kafka.topic_prefix = "unit.";
	cfg.kafka.properties.items = props;
	cfg.kafka.properties.n = nprops;
	return cfg;
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
	evthread_use_pthreads();
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The value of metric line NAME (with its labels) in the metrics. */
static unsigned long long metric(const char *name)
{
	struct buf b = BUF_INIT;
	publish_metrics(&b);
	char pat[200];
	snprintf(pat, sizeof(pat), "\n%s ", name);
	const char *p = strstr(b.data, pat);
	ck_assert_msg(p, "no metric %s", name);
	unsigned long long v = strtoull(p + strlen(pat), NULL, 10);
	buf_release(&b);
	return v;
}

#define QUEUED "aggregatord_publish_queued"
#define PRODUCED "aggregatord_publish_produced_total"
#define SPOOLED "aggregatord_publish_spooled_total"
#define FAILED "aggregatord_publish_failed_total"
#define EVENTS "aggregatord_publish_events_total{topic=\"totals\"}"
#define DROPPED(c) "aggregatord_publish_dropped_total{cause=\"" c "\"}"

static void feed(long from, long to)
{
	char key[32], members[64];
	for (long i = from; i <= to; i++) {
		int kl = snprintf(key, sizeof(key), "seq;%ld", i);
		int ml = snprintf(members, sizeof(members), "\"n\":%ld", i);
		publish_event("totals", key, (size_t)kl, members, (size_t)ml);
	}
}

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* Wait (up to s seconds) until the metric holds still at a value for 50 ms. */
static unsigned long long settled(const char *name, int s)
{
	unsigned long long v = metric(name), last = ~0ull;
	for (int i = 0; i < s * 20 && v != last; i++) {
		last = v;
		nap_us(50000);
		v = metric(name);
	}
	return v;
}

/* The number a shell pipeline prints, run in state_dir. */
static long count_of(const char *pipeline)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "cd '%s' && %s", state_dir, pipeline);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	long n = -1;
	ck_assert_int_eq(fscanf(f, "%ld", &n), 1);
	pclose(f);
	return n;
}

/* Files in state_dir/spool. */
static int spool_files(void)
{
	return (int)count_of("ls -A spool | wc -l");
}

START_TEST(queue_at_its_cap)
{
	struct config cfg = conf(NULL, 0);
	role_set_current(false, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 600000), 0);
	feed(1, CAP + 3);
	publish_event("nosuch", "k", 1, "\"n\":0", 5);
	ck_assert_uint_eq(metric(QUEUED), CAP);
	ck_assert_uint_eq(metric(EVENTS), CAP);
	ck_assert_uint_eq(metric(DROPPED("queue_full")), 3);
	ck_assert_uint_eq(metric(DROPPED("unknown_topic")), 1);
	ck_assert_uint_eq(metric(PRODUCED), 0);
	ck_assert_uint_eq(publish_delivered(), 0);
	ck_assert_int_eq(publish_stop(1000), 0);
	/* a standby's held events: produced by the active node from its copies */
	ck_assert_uint_eq(metric(DROPPED("standby_stop")), CAP);
	ck_assert_uint_eq(metric(SPOOLED), 0);
	ck_assert_int_eq(spool_files(), 0);
}
END_TEST

START_TEST(demoted_mid_list)
{
	enum { N = 100000, TRIES = 5 };
	struct kv props[] = { { "queue.buffering.max.messages", "10000000" } };
	struct config cfg = conf(props, 1);
	role_set_current(false, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 600000), 0);
	unsigned long long epoch = 1, handed = 0, cut = 0;
	for (int t = 0; t < TRIES && !cut; t++) {
		feed((long)handed + 1, (long)handed + N);
		handed += N;
		ck_assert_uint_eq(metric(QUEUED), handed - metric(PRODUCED));
		unsigned long long before = metric(PRODUCED);
		role_set_current(true, ++epoch);
		publish_wake();
		while (metric(PRODUCED) == before)
			nap_us(50);
		role_set_current(false, epoch);
		/* the thread puts what it did not produce back in front (the
		 * queue reads empty while it holds the list) */
		unsigned long long p = settled(PRODUCED, 10), q = metric(QUEUED);
		for (int i = 0; i < 200 && p + q != handed; i++) {
			nap_us(50000);
			p = metric(PRODUCED);
			q = metric(QUEUED);
		}
		ck_assert_uint_eq(p + q, handed);	/* none lost, none twice */
		if (p < handed) {
			/* stopped at a look at the role: a multiple of 64 of this list */
			ck_assert_uint_eq((p - before) % 64, 0);
			cut = p;
		}
	}
	ck_assert_msg(cut, "the list was produced whole before each of %d demotions", TRIES);
	/* promoted again: the rest, and nothing else */
	role_set_current(true, ++epoch);
	publish_wake();
	for (int i = 0; i < 400 && metric(PRODUCED) < handed; i++)
		nap_us(50000);
	ck_assert_uint_eq(settled(PRODUCED, 10), handed);
	ck_assert_uint_eq(metric(QUEUED), 0);
	ck_assert_uint_eq(metric(EVENTS), handed);
	/* the broker never answered: every event spooled at stop, once */
	ck_assert_int_eq(publish_stop(200), 0);
	ck_assert_uint_eq(metric(SPOOLED), handed);
	ck_assert_uint_eq(metric(DROPPED("queue_full")) + metric(DROPPED("stopped")) +
				  metric(DROPPED("standby_window")) + metric(DROPPED("disk")), 0);
}
END_TEST

START_TEST(window_shortened)
{
	struct config cfg = conf(NULL, 0);
	role_set_current(false, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 600000), 0);
	feed(1, 1000);
	ck_assert_uint_eq(metric(QUEUED), 1000);
	nap_us(5000);	/* older than the new window */
	publish_reconfigure(&cfg, 1);
	publish_wake();
	for (int i = 0; i < 200 && metric(QUEUED); i++)
		nap_us(50000);
	ck_assert_uint_eq(metric(QUEUED), 0);
	ck_assert_uint_eq(metric(DROPPED("standby_window")), 1000);
	ck_assert_uint_eq(metric(PRODUCED), 0);
	ck_assert_int_eq(publish_stop(1000), 0);
	ck_assert_uint_eq(metric(DROPPED("standby_stop")), 0);
}
END_TEST

START_TEST(stop_cannot_spool)
{
	struct kv props[] = { { "queue.buffering.max.messages", "100" } };
	struct config cfg = conf(props, 1);
	role_set_current(true, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 5000), 0);
	feed(1, 1000);
	/* 100 in librdkafka (full: the broker never answers), 900 behind them;
	 * the thread takes them and puts them back every 2 ms (the queue reads
	 * empty while it holds them) */
	unsigned long long q = metric(QUEUED);
	for (int i = 0; i < 200 && q != 900; i++) {
		nap_us(50000);
		q = metric(QUEUED);
	}
	ck_assert_uint_eq(q, 900);
	ck_assert_uint_eq(metric(PRODUCED), 100);
	char spool[300];
	snprintf(spool, sizeof(spool), "%s/spool", state_dir);
	ck_assert_int_eq(spool_files(), 0);
	ck_assert_int_eq(rmdir(spool), 0);
	FILE *f = fopen(spool, "w");	/* no file can be made in it, not even by root */
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(publish_stop(200), 0);
	ck_assert_uint_eq(metric("aggregatord_publish_failed_total"), 100);
	ck_assert_uint_eq(metric(DROPPED("disk")), 1000);
	ck_assert_uint_eq(metric(SPOOLED), 0);
}
END_TEST

/* Records in the spool files of state_dir (each starts with "AGS1"; the
 * test's keys and values cannot hold it). */
static long spool_records(void)
{
	return count_of("cat spool/*.spool | grep -ao AGS1 | wc -l");
}

START_TEST(reports_on_producing_thread)
{
	struct kv props[] = { { "message.timeout.ms", "200" } };
	struct config cfg = conf(props, 1);
	role_set_current(true, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 5000), 0);
	/* the loop is never dispatched: only this thread, producing, serves
	 * the reports (every 64 events); it feeds until those of the first
	 * 100 (timed out after 200 ms) have come back failed */
	feed(1, 100);
	long n = 100;
	for (int i = 0; i < 200 && metric(FAILED) < 100; i++) {
		nap_us(50000);
		feed(n + 1, n + 64);
		n += 64;
	}
	ck_assert_uint_ge(metric(FAILED), 100);
	ck_assert_uint_eq(metric(PRODUCED), (unsigned long long)n);
	ck_assert_int_eq(spool_files(), 1);	/* appended by this thread */
	ck_assert_uint_eq(metric(SPOOLED), 0);	/* synced and counted by the loop */
	ck_assert_int_eq(publish_stop(2000), 0);
	ck_assert_uint_eq(metric(FAILED), (unsigned long long)n);
	ck_assert_uint_eq(metric(SPOOLED), (unsigned long long)n);
	ck_assert_uint_eq(metric(DROPPED("disk")) + metric(DROPPED("stopped")), 0);
	ck_assert_int_eq(spool_records(), n);
}
END_TEST

START_TEST(kafka_disabled)
{
	struct config cfg = conf(NULL, 0);
	cfg.kafka.enabled = false;
	role_set_current(true, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 5000), 0);
	feed(1, 10);
	ck_assert_uint_eq(metric("aggregatord_publish_enabled"), 0);
	ck_assert_uint_eq(metric("aggregatord_publish_unpublished_total"), 10);
	ck_assert(!publish_enabled());
	publish_unpublished(5);	/* a job that did not build them */
	ck_assert_uint_eq(metric("aggregatord_publish_unpublished_total"), 15);
	ck_assert_uint_eq(metric(EVENTS), 0);
	ck_assert_uint_eq(metric(QUEUED), 0);
	char spool[300];
	snprintf(spool, sizeof(spool), "%s/spool", state_dir);
	ck_assert_int_eq(access(spool, F_OK), -1);
	ck_assert_int_eq(publish_stop(1000), 0);
	ck_assert_int_eq(publish_stop(1000), 0);	/* stopped already: nothing to do */
	ck_assert_uint_eq(metric(DROPPED("stopped")) + metric(DROPPED("standby_stop")), 0);
}
END_TEST

START_TEST(refused_property)
{
	struct kv props[] = { { "no.such.property", "1" } };
	struct config cfg = conf(props, 1);
	ck_assert_int_eq(publish_start(base, &cfg, 5000), -1);
}
END_TEST

START_TEST(spool_dir_not_made)
{
	char file[300];
	snprintf(file, sizeof(file), "%s/file", state_dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	struct config cfg = conf(NULL, 0);
	cfg.node.state_dir = file;	/* file/spool: not a directory */
	ck_assert_int_eq(publish_start(base, &cfg, 5000), -1);
}
END_TEST

Suite *publish_gate_suite(void)
{
	Suite *s = suite_create("publish_gate");
	TCase *tc = tcase_create("gate");
	/* each test forks (check's default): the publish path is process state */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, queue_at_its_cap);
	tcase_add_test(tc, demoted_mid_list);
	tcase_add_test(tc, window_shortened);
	tcase_add_test(tc, stop_cannot_spool);
	tcase_add_test(tc, reports_on_producing_thread);
	tcase_add_test(tc, kafka_disabled);
	tcase_add_test(tc, refused_property);
	tcase_add_test(tc, spool_dir_not_made);
	suite_add_tcase(s, tc);
	return s;
}
