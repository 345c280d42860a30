/*
 * notify.c — sd_notify(3) in forty lines: one AF_UNIX datagram per message.
 *
 * The socket is opened once at start-up and kept (the unit's sandbox may
 * forbid creating sockets later); the address comes from NOTIFY_SOCKET, and
 * a leading '@' means Linux's abstract namespace.  Send errors are logged at
 * debug level only: systemd going away must not take the daemon with it.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;

int notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !path[0])
		return 0;
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(notify_addr.sun_path))
		return log_error("NOTIFY_SOCKET '%s' is not a usable socket address", path);
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0)
		return log_error("cannot create the systemd notification socket: %s", strerror(errno));
	return 0;
}

int notify_send(const char *msg)
{
	if (notify_fd < 0)
		return 0;
	if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL,
		   (struct sockaddr *)&notify_addr, notify_addrlen) < 0) {
		log_debug("systemd notification '%s' not sent: %s", msg, strerror(errno));
		return -1;
	}
	return 0;
}

int notify_sendf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return notify_send(msg);
}

uint64_t notify_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	if (!us)
		return 0;
	if (pid && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	unsigned long long v = strtoull(us, NULL, 10);
	return (uint64_t)v;
}

void notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
