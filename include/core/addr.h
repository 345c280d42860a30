/*
 * addr.h — "host:port" strings as written in the config ("127.0.0.1:8089",
 * "[::1]:8089", "localhost:9092").  Pure functions, no I/O.
 */
#ifndef AGG_ADDR_H
#define AGG_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Split s into host and port.  IPv6 hosts are written in brackets, which are
 * removed.  Returns 0, or -1 with a reason in why (static text).
 */
int addr_split(const char *s, char *host, size_t hostlen, int *port, const char **why);

/* Is host "localhost", "::1" or in 127.0.0.0/8? */
bool addr_is_loopback_name(const char *host);
/* Does a "host:port" listen address bind loopback only? (false when it does not parse) */
bool addr_listen_is_loopback(const char *listen);

#endif
