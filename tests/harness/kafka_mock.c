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
 * taken effect.  To simulate a broker that hangs, SIGWINCH freezes it: the
 * connections stay open and requests are still read (and acted on: a
 * produce request is appended to the log), but no response is sent
 * (librdkafka's mock round-trip delay set to FREEZE_RTT_MS); SIGURG thaws
 * it (delay 0), confirmed by "kafka_mock: broker frozen" / "kafka_mock:
 * broker thawed".  A response held while frozen goes out at the
 * connection's next request after the thaw (the mock writes a connection's
 * responses only when it has something new to send or its delay ran out),
 * so a client that waits in silence waits for its own socket timeout.  A
 * fault proxy in front of the mock would not do: the mock advertises its
 * own address in the metadata, and clients connect there directly.
 *
 * Signals are blocked in every thread (librdkafka's threads inherit the mask
 * from the main thread, which blocks them before creating anything) and
 * taken with sigwait() in the main thread, so no work happens in a signal
 * handler.  See struct waker below for a work-around of a mock-cluster
 * wake-up bug in librdkafka 2.0.2.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* The mock cluster numbers its brokers from 1. */
#define MOCK_BROKER_ID 1
/* The round-trip delay of a frozen broker, ms: 30 min, longer than any test
 * (and small enough that the mock's own ms-to-us product stays in range). */
#define FREEZE_RTT_MS (30 * 60 * 1000)

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

/*
 * librdkafka 2.0.2's mock cluster thread sometimes misses the wake-up for a
 * control operation (topic create, broker down/up) and only serves it on its
 * next 1 s timer tick.  It serves pending operations whenever its poll()
 * returns, so while an operation is pending a "waker" thread connects to the
 * broker's listener every 10 ms (connect, then close) to end that poll.
 * This does not help "broker up" (the listener is closed while down), which
 * may still take up to 1 s.
 */
struct waker {
    pthread_t thread;
    struct sockaddr_in addr;
    atomic_int stop;
    int running;
};

/* Waker thread body: pokes the listener until asked to stop. */
static void *waker_main(void *arg)
{
    struct waker *w = arg;
    struct timespec ts = { 0, 10 * 1000 * 1000 };

    while (!atomic_load(&w->stop)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            (void)connect(fd, (struct sockaddr *)&w->addr, sizeof(w->addr));
            close(fd);
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Starts poking the listener at BOOTSTRAP ("127.0.0.1:PORT"); on any
 * failure the waker just stays off. */
static void waker_start(struct waker *w, const char *bootstrap)
{
    const char *colon = strrchr(bootstrap, ':');
    long port;

    w->running = 0;
    atomic_store(&w->stop, 0);
    if (colon == NULL)
        return;
    port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535)
        return;
    memset(&w->addr, 0, sizeof(w->addr));
    w->addr.sin_family = AF_INET;
    w->addr.sin_port = htons((uint16_t)port);
    w->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (pthread_create(&w->thread, NULL, waker_main, w) == 0)
        w->running = 1;
}

/* Stops the waker started by waker_start, if it runs. */
static void waker_stop(struct waker *w)
{
    if (!w->running)
        return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    w->running = 0;
}

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    struct waker waker;
    const char *bootstrap;
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
    signal(SIGWINCH, SIG_DFL);
    signal(SIGURG, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGURG);
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

    bootstrap = rd_kafka_mock_cluster_bootstraps(mcluster);

    waker_start(&waker, bootstrap);
    for (i = optind; i < argc; i++) {
        rd_kafka_resp_err_t rerr =
            rd_kafka_mock_topic_create(mcluster, argv[i], partitions, 1);
        if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka_mock: cannot create topic '%s': %s\n",
                    argv[i], rd_kafka_err2str(rerr));
            waker_stop(&waker);
            rd_kafka_mock_cluster_destroy(mcluster);
            rd_kafka_destroy(rk);
            return 1;
        }
    }
    waker_stop(&waker);

    printf("%s\n", bootstrap);
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
            rd_kafka_resp_err_t rerr;

            waker_start(&waker, bootstrap);
            rerr = up ? rd_kafka_mock_broker_set_up(mcluster, MOCK_BROKER_ID)
                      : rd_kafka_mock_broker_set_down(mcluster, MOCK_BROKER_ID);
            waker_stop(&waker);
            if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
                fprintf(stderr, "kafka_mock: cannot set the broker %s: %s\n",
                        up ? "up" : "down", rd_kafka_err2str(rerr));
            else
                fprintf(stderr, "kafka_mock: broker %s\n", up ? "up" : "down");
            fflush(stderr);
        }
        if (sig == SIGWINCH || sig == SIGURG) {
            int freeze = (sig == SIGWINCH);
            rd_kafka_resp_err_t rerr;

            waker_start(&waker, bootstrap);
            rerr = rd_kafka_mock_broker_set_rtt(mcluster, MOCK_BROKER_ID,
                                                freeze ? FREEZE_RTT_MS : 0);
            waker_stop(&waker);
            if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR)
                fprintf(stderr, "kafka_mock: cannot %s the broker: %s\n",
                        freeze ? "freeze" : "thaw", rd_kafka_err2str(rerr));
            else
                fprintf(stderr, "kafka_mock: broker %s\n",
                        freeze ? "frozen" : "thawed");
            fflush(stderr);
        }
    }

    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
