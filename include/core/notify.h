/*
 * notify.h — the systemd notification protocol without libsystemd.
 *
 * notify_init() reads NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace) once; every later call sends one datagram there, or does
 * nothing when the daemon runs outside systemd.  Main thread only.
 */
#ifndef AGG_NOTIFY_H
#define AGG_NOTIFY_H

#include <stdint.h>

int notify_init(void);		/* 0, or -1 after logging (bad NOTIFY_SOCKET) */
int notify_send(const char *msg);	/* e.g. "READY=1"; 0 or -1 */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG_USEC when the watchdog is meant for this process, else 0. */
uint64_t notify_watchdog_usec(void);
void notify_close(void);

#endif
