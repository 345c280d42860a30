/*
 * addr.c — parsing of config addresses; see addr.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int addr_split(const char *s, char *host, size_t hostlen, int *port, const char **why)
{
	const char *colon, *h = s;
	size_t hl;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':') {
			*why = "expected [IPv6]:port";
			return -1;
		}
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected host:port";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			*why = "IPv6 addresses need brackets: [addr]:port";
			return -1;
		}
		hl = (size_t)(colon - s);
	}
	if (hl == 0) {
		*why = "empty host";
		return -1;
	}
	if (hl >= hostlen) {
		*why = "host too long";
		return -1;
	}
	char *end;
	const char *ps = colon + 1;
	if (*ps < '0' || *ps > '9') {
		*why = "port must be a number";
		return -1;
	}
	long p = strtol(ps, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535) {
		*why = "port must be 1..65535";
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
		      c == '_' || c == '%')) {
			*why = "bad character in host";
			return -1;
		}
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

bool addr_is_loopback_name(const char *host)
{
	struct in_addr a4;
	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool addr_listen_is_loopback(const char *listen)
{
	char host[256];
	int port;
	const char *why;
	return addr_split(listen, host, sizeof(host), &port, &why) == 0 && addr_is_loopback_name(host);
}
