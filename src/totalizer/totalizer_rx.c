/*
 * totalizer_rx.c — the totalizer's intake: the UDP sockets of each listen
 * address and the receive threads (rx0, rx1, ...) that count their lines.
 * listener_open() and listener_free() run on the main thread (create,
 * reload, destroy); rx_main() is an rx thread.
 *
 * DESIGN.  Each rx thread owns one socket per listen address (all sockets
 * of an address form one SO_REUSEPORT group, spread at random by a
 * classic-BPF program so even one sender is shared), reads recvmmsg()
 * batches, splits datagrams into lines, applies the rules of the listener
 * and counts into its own table (tally.h).  No locks on this path.  It
 * moves to a new rule generation when it sees the pointer change, and hands
 * its table to the flusher (a swap under its own mutex) when asked.
 *
 * Memory: the receive tables together hold at most max_keys keys between two
 * flushes (a process-wide count checked at intake; a line for a new key past
 * it is dropped and counted by rule, cause keys_limit, and logged once per
 * interval).  The rx threads never wait on the flusher or Redis: past the
 * limit they keep draining their sockets and bumping the keys they hold.
 */
#include "totalizer_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "thread.h"

#define RX_BATCH 64		/* datagrams per recvmmsg() */

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

/* ---- sockets ---- */

static int attach_spread(int fd, int n)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM) },
		{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)n },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	struct sock_fprog prog = { .len = 3, .filter = code };
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	free(l->addr);
	free(l);
}

struct listener *listener_open(const char *addr, int nthreads, int rcvbuf)
{
	char host[256], port[16];
	int p;
	const char *why;
	if (addr_split(addr, host, sizeof(host), &p, &why) < 0) {
		log_error("totalizer: listen '%s': %s", addr, why);
		return NULL;
	}
	snprintf(port, sizeof(port), "%d", p);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		log_error("totalizer: listen '%s': %s", addr, gai_strerror(rc));
		return NULL;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l || !(l->addr = strdup(addr))) {
		free(l);
		freeaddrinfo(ai);
		log_error("out of memory");
		return NULL;
	}
	for (int i = 0; i < nthreads; i++) {
		int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd < 0)
			goto fail;
		l->fds[l->nfds++] = fd;
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
		if (rcvbuf > 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			goto fail;
	}
	if (nthreads > 1 && attach_spread(l->fds[0], nthreads) < 0)
		log_warn("totalizer: listen '%s': cannot spread one sender across threads (%s); "
			 "each sender will be served by one thread", addr, strerror(errno));
	freeaddrinfo(ai);
	return l;
fail:
	log_error("totalizer: cannot listen on UDP '%s': %s", addr, strerror(errno));
	freeaddrinfo(ai);
	listener_free(l);
	return NULL;
}

/* ---- receive threads ---- */

struct rx_buffers {
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct sockaddr_storage names[RX_BATCH];
	char ctrl[RX_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	char data[RX_BATCH][RX_BUF];
};

#define RX_PENDING 32		/* keys built before they are added (see count_lines) */

struct rx_key {				/* a key built, waiting to be added */
	uint64_t hash;
	size_t rule;
	uint16_t len;
	struct key_fields f;
	char key[RULE_KEY_MAX];
};

struct rx_local {			/* counts of one batch, added to the atomics after it */
	uint64_t datagrams, lines, allow_drops, oversize, ovfl_drops, match_errors, oom_drops;
	uint64_t keys_limit_drops;
	uint64_t matched[MAX_RULES], unmatched[MAX_RULES], keys_limit[MAX_RULES];
	bool touched[MAX_RULES];
	struct rx_key pending[RX_PENDING];
	size_t npending;
};

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)len);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, a->s6_addr + 12, out, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)len);
	} else {
		snprintf(out, len, "unknown");
	}
}

/*
 * Add the keys built so far to the thread's table, in the order they were
 * built.  Their slots were asked for as each key was hashed; the key bytes
 * of those that hold one are asked for here, all before the first add, so
 * the table's cache misses (most adds miss: the datagrams streaming through
 * evict the table between two lines of one key) overlap instead of each add
 * waiting for its own.
 */
static void add_pending(struct rx *x, const struct gen *g, struct rx_local *loc)
{
	struct totalizer *tz = x->tz;
	for (size_t i = 0; i < loc->npending; i++)
		tally_prefetch_key(x->active, loc->pending[i].hash);
	for (size_t i = 0; i < loc->npending; i++) {
		const struct rx_key *p = &loc->pending[i];
		bool room = atomic_load_explicit(&tz->rx_keys, memory_order_relaxed) <
			    atomic_load_explicit(&tz->max_keys, memory_order_relaxed);
		int r = tally_admit_hashed(x->active, p->key, p->len, p->hash, 1,
					   rule_ttl(g->rules[p->rule]), &p->f, room);
		if (r == TALLY_INSERTED) {
			atomic_fetch_add_explicit(&tz->rx_keys, 1, memory_order_relaxed);
		} else if (r == TALLY_REFUSED) {
			loc->keys_limit[p->rule]++;
			loc->keys_limit_drops++;
		} else if (r < 0) {
			loc->oom_drops++;
		}
	}
	loc->npending = 0;
}

/* One datagram's lines through the listener's rules: the keys are built and
 * hashed first, then added (add_pending) at most RX_PENDING at a time. */
static void count_lines(struct rx *x, const struct gen *g, const struct gen_listener *gl,
			struct rule_scratch *scratch, const char *p, size_t n, const char *peer,
			time_t now, struct rx_local *loc)
{
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		if (len && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (len > (size_t)g->max_line) {
			loc->oversize++;
			continue;
		}
		loc->lines++;
		for (size_t i = 0; i < gl->nrules; i++) {
			size_t ri = gl->rules[i];
			struct rx_key *pk = &loc->pending[loc->npending];
			int k = rule_apply(g->rules[ri], scratch, line, len, peer, now, pk->key, &pk->f);
			loc->touched[ri] = true;
			if (k > 0) {
				loc->matched[ri]++;
				pk->len = (uint16_t)k;
				pk->rule = ri;
				pk->hash = tally_hash(pk->key, (size_t)k);
				tally_prefetch(x->active, pk->hash);
				if (++loc->npending == RX_PENDING)
					add_pending(x, g, loc);
			} else if (k == 0) {
				loc->unmatched[ri]++;
			} else {
				loc->match_errors++;
			}
		}
	}
	add_pending(x, g, loc);
}

static void rx_publish_stats(struct rx *x, struct gen *g, struct rx_local *loc)
{
#define ADD(f) if (loc->f) { atomic_fetch_add_explicit(&x->f, loc->f, memory_order_relaxed); loc->f = 0; }
	ADD(datagrams) ADD(lines) ADD(allow_drops) ADD(oversize) ADD(ovfl_drops) ADD(match_errors) ADD(oom_drops)
	ADD(keys_limit_drops)
#undef ADD
	for (size_t r = 0; r < g->nrules; r++) {
		if (!loc->touched[r])
			continue;
		atomic_fetch_add_explicit(&g->matched[x->id][r], loc->matched[r], memory_order_relaxed);
		atomic_fetch_add_explicit(&g->unmatched[x->id][r], loc->unmatched[r], memory_order_relaxed);
		if (loc->keys_limit[r])
			atomic_fetch_add_explicit(&g->keys_limit[x->id][r], loc->keys_limit[r],
						  memory_order_relaxed);
		loc->matched[r] = loc->unmatched[r] = loc->keys_limit[r] = 0;
		loc->touched[r] = false;
	}
}

/* Read what is queued on one socket, a bounded number of batches. */
static void rx_drain(struct rx *x, struct gen *g, const struct gen_listener *gl,
		     struct rx_buffers *b, struct rule_scratch *scratch, uint32_t *ovfl_seen,
		     struct rx_local *loc)
{
	int fd = gl->l->fds[x->id];
	char peer[INET6_ADDRSTRLEN] = "";
	struct sockaddr_storage last_peer = { 0 };

	for (int round = 0; round < 16; round++) {
		for (int i = 0; i < RX_BATCH; i++) {
			b->iov[i].iov_base = b->data[i];
			b->iov[i].iov_len = RX_BUF;
			b->msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &b->names[i], .msg_namelen = sizeof(b->names[i]),
				.msg_iov = &b->iov[i], .msg_iovlen = 1,
				.msg_control = b->ctrl[i], .msg_controllen = sizeof(b->ctrl[i]),
			};
		}
		int n = recvmmsg(fd, b->msgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		time_t now = time(NULL);
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &b->msgs[i].msg_hdr;
			loc->datagrams++;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
					uint32_t v;
					memcpy(&v, CMSG_DATA(c), sizeof(v));
					if (v > *ovfl_seen) {
						loc->ovfl_drops += v - *ovfl_seen;
						*ovfl_seen = v;
					}
				}
			}
			if (!cidr_allows(g->allow, g->nallow, (struct sockaddr *)&b->names[i])) {
				loc->allow_drops++;
				continue;
			}
			if (h->msg_flags & MSG_TRUNC) {
				loc->oversize++;
				continue;
			}
			if (g->any_peer && memcmp(&last_peer, &b->names[i], h->msg_namelen) != 0) {
				peer_text(&b->names[i], peer, sizeof(peer));
				memcpy(&last_peer, &b->names[i], h->msg_namelen);
			}
			count_lines(x, g, gl, scratch, b->data[i], b->msgs[i].msg_len, peer, now, loc);
		}
		rx_publish_stats(x, g, loc);
		if (n < RX_BATCH)
			break;
	}
}

/* Hand the table to the flusher when it asked (a new flush generation). */
static void rx_handoff(struct rx *x)
{
	struct totalizer *tz = x->tz;
	unsigned long fg = atomic_load(&tz->flush_gen);
	if (fg == atomic_load(&x->flush_seen))
		return;
	bool done = false;
	pthread_mutex_lock(&x->mu);
	if (!x->handed && x->spare) {
		x->handed = x->active;
		x->active = x->spare;
		x->spare = NULL;
		done = true;
	}
	pthread_mutex_unlock(&x->mu);
	if (done) {
		atomic_store(&x->flush_seen, fg);
		pthread_mutex_lock(&tz->mu);
		pthread_cond_broadcast(&tz->cv);
		pthread_mutex_unlock(&tz->mu);
	}
}

void *rx_main(void *arg)
{
	struct rx *x = arg;
	struct totalizer *tz = x->tz;
	char tag[16];
	snprintf(tag, sizeof(tag), "rx%d", x->id);
	log_set_thread_tag(tag);

	struct rx_buffers *b = malloc(sizeof(*b));
	struct rx_local *loc = calloc(1, sizeof(*loc));
	struct rule_scratch *scratch = rule_scratch_new();
	uint32_t *ovfl = calloc(MAX_LISTENERS, sizeof(uint32_t));
	int ep = -1;
	struct gen *g = NULL;
	if (!b || !loc || !scratch || !ovfl) {
		log_error("totalizer: out of memory starting a receive thread");
		goto out;
	}
	while (atomic_load(&tz->running)) {
		struct gen *cur = atomic_load(&tz->gen);
		if (cur != g) {
			int nep = epoll_create1(EPOLL_CLOEXEC);
			if (nep < 0) {
				log_error("totalizer: epoll_create1: %s", strerror(errno));
				break;
			}
			for (size_t i = 0; i < cur->ngls; i++) {
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cur->gls[i] };
				epoll_ctl(nep, EPOLL_CTL_ADD, cur->gls[i].l->fds[x->id], &ev);
			}
			if (ep >= 0)
				close(ep);
			ep = nep;
			g = cur;
			atomic_store(&x->seen_gen, g->id);
		}
		struct epoll_event evs[MAX_LISTENERS];
		int n = epoll_wait(ep, evs, MAX_LISTENERS, RX_TICK_MS);
		for (int i = 0; i < n; i++) {
			struct gen_listener *gl = evs[i].data.ptr;
			rx_drain(x, g, gl, b, scratch, &ovfl[gl->lidx], loc);
		}
		rx_handoff(x);
		health_beat(x->health);
	}
out:
	if (ep >= 0)
		close(ep);
	rule_scratch_free(scratch);
	free(ovfl);
	free(loc);
	free(b);
	return NULL;
}
