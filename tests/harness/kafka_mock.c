/*
 * kafka_mock — a throwaway Kafka "cluster" for the integration tests.
 *
 * It runs librdkafka's built-in mock cluster (one broker on a random
 * 127.0.0.1 port, inside this process), so tests can exercise the daemon's
 * Kafka producer and read the result back with real clients (kcat) without
 * a JVM or a real broker.  Usage:
 *
 *     kafka_mock [-p PARTITIONS] [TOPIC...]
 *
 * It creates each TOPIC (PARTITIONS partitions each, default 1; topics not
 * created here are auto-created on first use, with the mock's default of 4
 * partitions), prints the bootstrap address ("127.0.0.1:PORT") as one line
 * on stdout, and then runs until SIGTERM or SIGINT, when it destroys the
 * cluster and exits 0.  To simulate a broker outage, SIGUSR1 takes the
 * broker down (connections are closed and new ones refused) and SIGUSR2
 * brings it back up; each change is confirmed with a line
 * "kafka_mock: broker down" / "kafka_mock: broker up" on stderr once it has
 * taken effect.
 *
 * Signals are blocked in every thread (librdkafka's threads inherit the mask
 * from the main thread, which blocks them before creating anything) and
 * taken with sigwait() in the main thread, so no work happens in a signal
 * handler.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* The mock cluster numbers its brokers from 1. */
#define MOCK_BROKER_ID 1

static void usage(void)
{
    fprintf(stderr, "usage: kafka_mock [-p PARTITIONS] [TOPIC...]\n");
    exit(2);
}

/* Parses a partition count in 1..10000; exits with usage on anything else. */
static int parse_partitions(const char *s)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 10000) {
        fprintf(stderr, "kafka_mock: bad partition count '%s'\n", s);
        usage();
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    sigset_t set;
    int partitions = 1;
    int opt, i, sig, err;

    while ((opt = getopt(argc, argv, "p:h")) != -1) {
        switch (opt) {
        case 'p':
            partitions = parse_partitions(optarg);
            break;
        default:
            usage();
        }
    }

    /*
     * Block the signals we handle before librdkafka starts any thread, so
     * that only sigwait() below ever receives them.  A shell may have
     * started us with SIGINT ignored (background job); an ignored signal is
     * discarded even when blocked, so reset it to the default first.
     */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    err = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (err != 0) {
        fprintf(stderr, "kafka_mock: pthread_sigmask: %s\n", strerror(err));
        return 1;
    }

    /*
     * The handle only hosts the mock cluster; it never produces anything.
     * log_level 4 hides the notice that it has no bootstrap.servers.
     */
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "kafka_mock", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: config: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the client handle: %s\n",
                errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }

    mcluster = rd_kafka_mock_cluster_new(rk, 1);
    if (mcluster == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    for (i = optind; i < argc; i++) {
        rd_kafka_resp_err_t rerr =
            rd_kafka_mock_topic_create(mcluster, argv[i], partitions, 1);
        if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka_mock: cannot create topic '%s': %s\n",
                    argv[i], rd_kafka_err2str(rerr));
            rd_kafka_mock_cluster_destroy(mcluster);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    fflush(stdout);

    for (;;) {
        err = sigwait(&set, &sig);
        if (err != 0) {
            fprintf(stderr, "kafka_mock: sigwait: %s\n", strerror(err));
            break;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            int up = (sig == SIGUSR2);
            rd_kafka_resp_err_t rerr =
                up ? rd_kafka_mock_broker_set_up(mcluster, MOCK_BROKER_ID)
                   : rd_kafka_mock_broker_set_down(mcluster, MOCK_BROKER_ID);
            if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
                fprintf(stderr, "kafka_mock: cannot set the broker %s: %s\n",
                        up ? "up" : "down", rd_kafka_err2str(rerr));
            else
                fprintf(stderr, "kafka_mock: broker %s\n", up ? "up" : "down");
            fflush(stderr);
        }
    }

    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
