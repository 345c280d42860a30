/*
 * hflood — slow-client load on an HTTP server, with a health probe.
 *
 *   hflood HOST PORT CONNS SECONDS PROBE_MS PROBE_PATH
 *
 * Keeps CONNS connections to HOST:PORT open for SECONDS, each sending a
 * request one byte a second and never finishing it (a "slowloris"); a
 * connection the server closes is opened again at once.  Every PROBE_MS a
 * fresh connection sends a whole "GET PROBE_PATH" and waits for the status
 * line; its time from connect() to the answer is the probe's latency.
 * Prints one line:
 *
 *   probes=N ok=N failed=N max_ms=M slow=S reconnects=R
 *
 * where ok counts "HTTP/1.x 200" answers and failed every other outcome
 * (refused, timed out after 2 s, another status), and slow the probes that
 * took 100 ms or more.  Exits 0 when it could
 * run, 2 on a usage error.  Raises its own open-file limit to the hard limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

static struct sockaddr_in dst;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int open_slow(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A fresh connection, a whole request, the status line: 1 = 200, 0 = other. */
static int probe(const char *path, double *ms)
{
    double t0 = now_ms();
    char req[512], resp[64];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;
    struct timeval tv = { 2, 0 };
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Connection: close\r\n\r\n", path, ntohs(dst.sin_port));
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 &&
        send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        ssize_t got = recv(fd, resp, sizeof(resp) - 1, 0);
        if (got >= 12) {
            resp[got] = '\0';
            ok = strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0;
        }
    }
    close(fd);
    *ms = now_ms() - t0;
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: hflood HOST PORT CONNS SECONDS PROBE_MS PROBE_PATH\n");
        return 2;
    }
    int conns = atoi(argv[3]), seconds = atoi(argv[4]), probe_ms = atoi(argv[5]);
    dst.sin_family = AF_INET;
    dst.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || conns < 1 || seconds < 1 || probe_ms < 1) {
        fprintf(stderr, "hflood: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int *fd = calloc((size_t)conns, sizeof(*fd));
    size_t *sent = calloc((size_t)conns, sizeof(*sent));
    if (!fd || !sent) {
        fprintf(stderr, "hflood: out of memory\n");
        return 1;
    }
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    long probes = 0, ok = 0, slow = 0, reconnects = 0;
    double max_ms = 0, end = now_ms() + seconds * 1e3, next_probe = now_ms(), next_byte = now_ms();
    for (int i = 0; i < conns; i++)
        fd[i] = open_slow();
    while (now_ms() < end) {
        if (now_ms() >= next_byte) {
            next_byte += 1000;
            for (int i = 0; i < conns; i++) {
                char c;
                if (fd[i] >= 0) {
                    ssize_t r = recv(fd[i], &c, 1, MSG_DONTWAIT);
                    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                                   errno != ENOTCONN)) {
                        close(fd[i]);
                        fd[i] = -1;
                    } else if (r > 0) {	/* an answer (503): the server gave up on us */
                        close(fd[i]);
                        fd[i] = -1;
                    }
                }
                if (fd[i] < 0) {
                    fd[i] = open_slow();
                    sent[i] = 0;
                    reconnects++;
                    continue;
                }
                c = sent[i] < sizeof(head) - 1 ? head[sent[i]] : 'x';
                if (send(fd[i], &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
                    sent[i]++;
            }
        }
        if (now_ms() >= next_probe) {
            double ms;
            next_probe += probe_ms;
            probes++;
            ok += probe(argv[6], &ms);
            if (ms > max_ms)
                max_ms = ms;
            if (ms >= 100)
                slow++;
        }
        double wait = (next_probe < next_byte ? next_probe : next_byte) - now_ms();
        if (wait > 0)
            poll(NULL, 0, (int)wait + 1);
    }
    for (int i = 0; i < conns; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    printf("probes=%ld ok=%ld failed=%ld max_ms=%.0f slow=%ld reconnects=%ld\n", probes, ok,
           probes - ok, max_ms, slow, reconnects);
    free(fd);
    free(sent);
    return 0;
}
