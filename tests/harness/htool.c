/*
 * htool — small helpers for the integration test harness (tests/harness/lib.sh).
 *
 *   htool freeport [tcp|udp]
 *       Bind 127.0.0.1:0 (TCP by default) and print the port the kernel
 *       chose.  The port is released again when htool exits, so the caller
 *       must hand it to a server promptly.
 *
 *   htool notify-listen SOCKET_PATH OUT_FILE
 *       Bind an AF_UNIX datagram socket at SOCKET_PATH (a stale file there is
 *       removed; a leading '@' means the abstract namespace, as with
 *       systemd's NOTIFY_SOCKET) and append every datagram received to
 *       OUT_FILE verbatim, followed by "\n", flushed at once.  A datagram may
 *       hold several KEY=VALUE lines; they are kept as they are.  Runs until
 *       SIGTERM/SIGINT, then removes the socket file.  Used to test the
 *       daemon's sd_notify support.
 *
 *   htool udp-send [-n N] [-t] [-i USEC] HOST PORT
 *       Read stdin and send it as UDP datagrams to HOST:PORT, one line per
 *       datagram, or N lines per datagram with -n.  Each line keeps its
 *       trailing newline (like `nc -u` fed line by line) unless -t is given,
 *       which drops the newline at the end of each datagram (syslog style).
 *       -i waits USEC microseconds between datagrams, to avoid overrunning
 *       the receiver's socket buffer.  Exits 0 when stdin ends.
 *
 *   htool spawn PARENT_PID COMMAND [ARGS...]
 *       Exec COMMAND with every signal at its default disposition and none
 *       blocked (a non-interactive shell starts background jobs with SIGINT
 *       and SIGQUIT ignored; a service under systemd has them at default),
 *       and with SIGKILL set as its parent-death signal, so that a server
 *       started by a test dies with the test's shell even if that shell is
 *       killed outright.  Exits 127 at once if the process whose pid is
 *       PARENT_PID is no longer its parent (the shell died before the
 *       parent-death signal was armed).
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: htool freeport [tcp|udp]\n"
            "       htool notify-listen SOCKET_PATH OUT_FILE\n"
            "       htool udp-send [-n N] [-t] [-i USEC] HOST PORT\n"
            "       htool spawn PARENT_PID COMMAND [ARGS...]\n");
    exit(2);
}

/* Parses a decimal number in [min, max]; exits with a message on error. */
static long parse_num(const char *what, const char *s, long min, long max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "htool: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

/* freeport: prints a port that was free on 127.0.0.1 a moment ago. */
static int cmd_freeport(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int type = SOCK_STREAM;
    int fd;

    if (argc > 2)
        usage();
    if (argc == 2) {
        if (strcmp(argv[1], "udp") == 0)
            type = SOCK_DGRAM;
        else if (strcmp(argv[1], "tcp") != 0)
            usage();
    }
    fd = socket(AF_INET, type, 0);
    if (fd < 0) {
        fprintf(stderr, "htool freeport: socket: %s\n", strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        fprintf(stderr, "htool freeport: bind 127.0.0.1:0: %s\n",
                strerror(errno));
        close(fd);
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    close(fd);
    return fflush(stdout) == 0 ? 0 : 1;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* notify-listen: logs each datagram at SOCKET_PATH into OUT_FILE. */
static int cmd_notify_listen(int argc, char **argv)
{
    static char buf[256 * 1024];
    struct sockaddr_un sa;
    struct sigaction act;
    const char *path, *out_path;
    socklen_t salen;
    size_t plen;
    int abstract, fd;
    FILE *out;

    if (argc != 3)
        usage();
    path = argv[1];
    out_path = argv[2];
    abstract = (path[0] == '@');
    plen = strlen(path);
    if (plen == 0 || plen >= sizeof(sa.sun_path)) {
        fprintf(stderr, "htool notify-listen: socket path '%s' is empty or "
                        "too long (max %zu bytes)\n",
                path, sizeof(sa.sun_path) - 1);
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen);
    if (abstract)
        sa.sun_path[0] = '\0';
    else if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "htool notify-listen: cannot remove stale '%s': %s\n",
                path, strerror(errno));
        return 1;
    }
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
                        (abstract ? 0 : 1));

    out = fopen(out_path, "a");
    if (out == NULL) {
        fprintf(stderr, "htool notify-listen: cannot open '%s': %s\n",
                out_path, strerror(errno));
        return 1;
    }

    /* No SA_RESTART: a stop signal must interrupt recv(). */
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_stop;
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, salen) < 0) {
        fprintf(stderr, "htool notify-listen: cannot bind '%s': %s\n", path,
                strerror(errno));
        fclose(out);
        return 1;
    }

    while (!stop_requested) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "htool notify-listen: recv on '%s': %s\n", path,
                    strerror(errno));
            break;
        }
        if ((size_t)n > sizeof(buf)) {
            fprintf(stderr, "htool notify-listen: datagram of %zd bytes "
                            "truncated to %zu\n", n, sizeof(buf));
            n = (ssize_t)sizeof(buf);
        }
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n ||
            fputc('\n', out) == EOF || fflush(out) != 0) {
            fprintf(stderr, "htool notify-listen: cannot write '%s': %s\n",
                    out_path, strerror(errno));
            break;
        }
    }

    close(fd);
    if (!abstract)
        unlink(path);
    fclose(out);
    return stop_requested ? 0 : 1;
}

/*
 * Sends one datagram.  ECONNREFUSED reports an ICMP port-unreachable for an
 * earlier datagram (nobody was listening then) and means this one was not
 * sent: send it once more; a second refusal is not fatal either.
 */
static int send_datagram(int fd, const char *buf, size_t len)
{
    int refused = 0;

    for (;;) {
        if (send(fd, buf, len, 0) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == ECONNREFUSED) {
            if (refused++ == 0)
                continue;
            return 0;
        }
        fprintf(stderr, "htool udp-send: send: %s\n", strerror(errno));
        return -1;
    }
}

/* Sleeps for usec microseconds (0: no sleep). */
static void pause_usec(long usec)
{
    struct timespec ts;

    if (usec <= 0)
        return;
    ts.tv_sec = usec / 1000000;
    ts.tv_nsec = (usec % 1000000) * 1000;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* udp-send: sends stdin to HOST:PORT, N lines per datagram. */
static int cmd_udp_send(int argc, char **argv)
{
    struct addrinfo hints, *res = NULL, *ai;
    long per = 1, interval = 0;
    int trim = 0, opt, fd = -1, rc, lines = 0;
    char *line = NULL, *dgram = NULL;
    size_t cap = 0, dlen = 0, dcap = 0;
    ssize_t n;

    optind = 1;
    while ((opt = getopt(argc, argv, "n:ti:")) != -1) {
        switch (opt) {
        case 'n':
            per = parse_num("line count", optarg, 1, 1000000);
            break;
        case 't':
            trim = 1;
            break;
        case 'i':
            interval = parse_num("interval", optarg, 0, 10000000);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2)
        usage();

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    rc = getaddrinfo(argv[optind], argv[optind + 1], &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "htool udp-send: cannot resolve %s port %s: %s\n",
                argv[optind], argv[optind + 1], gai_strerror(rc));
        return 1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "htool udp-send: cannot reach %s port %s: %s\n",
                argv[optind], argv[optind + 1], strerror(errno));
        return 1;
    }

    rc = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (dgram == NULL || dlen + (size_t)n > dcap) {
            size_t ncap = (dlen + (size_t)n) * 2 + 64;
            char *p = realloc(dgram, ncap);
            if (p == NULL) {
                fprintf(stderr, "htool udp-send: out of memory\n");
                rc = 1;
                break;
            }
            dgram = p;
            dcap = ncap;
        }
        memcpy(dgram + dlen, line, (size_t)n);
        dlen += (size_t)n;
        if (++lines < per)
            continue;
        if (trim && dlen > 0 && dgram[dlen - 1] == '\n')
            dlen--;
        if (send_datagram(fd, dgram, dlen) < 0) {
            rc = 1;
            break;
        }
        dlen = 0;
        lines = 0;
        pause_usec(interval);
    }
    if (rc == 0 && lines > 0) {
        if (trim && dlen > 0 && dgram[dlen - 1] == '\n')
            dlen--;
        if (send_datagram(fd, dgram, dlen) < 0)
            rc = 1;
    }
    if (rc == 0 && ferror(stdin)) {
        fprintf(stderr, "htool udp-send: reading stdin: %s\n", strerror(errno));
        rc = 1;
    }
    free(line);
    free(dgram);
    close(fd);
    return rc;
}

/* spawn: execs a command with default signals and a parent-death signal. */
static int cmd_spawn(int argc, char **argv)
{
    sigset_t none;
    pid_t parent;
    int sig;

    if (argc < 3)
        usage();
    parent = (pid_t)parse_num("parent pid", argv[1], 1, 0x7fffffff);

    for (sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            signal(sig, SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        fprintf(stderr, "htool spawn: prctl(PR_SET_PDEATHSIG): %s\n",
                strerror(errno));
        return 127;
    }
    if (getppid() != parent) {
        fprintf(stderr, "htool spawn: parent %ld is gone, not starting %s\n",
                (long)parent, argv[2]);
        return 127;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "htool spawn: cannot run %s: %s\n", argv[2],
            strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "freeport") == 0)
        return cmd_freeport(argc - 1, argv + 1);
    if (strcmp(argv[1], "notify-listen") == 0)
        return cmd_notify_listen(argc - 1, argv + 1);
    if (strcmp(argv[1], "udp-send") == 0)
        return cmd_udp_send(argc - 1, argv + 1);
    if (strcmp(argv[1], "spawn") == 0)
        return cmd_spawn(argc - 1, argv + 1);
    usage();
    return 2;
}
