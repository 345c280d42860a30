/*
 * gateq.h — the publish gate's queue: a bounded FIFO of timestamped items.
 *
 * Pure data structure, no locks, no clock: the caller passes the time and
 * holds its own lock (publish.c and spool.c hold pub.mu around every
 * call).  Items are intrusive (embed struct gateq_item first) and owned by
 * the caller: the queue only links them.
 *
 * Order is the contract: items leave in the order they came, and a list
 * taken with gateq_take_all() and partly handed back with
 * gateq_push_front() keeps its place ahead of newer items — that is how a
 * standby's held events are produced before new ones on promotion.
 */
#ifndef AGG_GATEQ_H
#define AGG_GATEQ_H

#include <stddef.h>
#include <stdint.h>

struct gateq_item {
	struct gateq_item *next;
	uint64_t t_ms;			/* when it was queued (caller's clock, ms) */
};

struct gateq {
	struct gateq_item *head, **tail;
	size_t n;			/* items held */
	size_t max;			/* bound: gateq_push() refuses beyond it */
};

void gateq_init(struct gateq *q, size_t max);
/* Append it stamped with now_ms; 0, or -1 when the queue holds max items. */
int gateq_push(struct gateq *q, struct gateq_item *it, uint64_t now_ms);
/* Take every item, oldest first (a NULL-terminated list); *n their count. */
struct gateq_item *gateq_take_all(struct gateq *q, size_t *n);
/* Put a list of n items (oldest first) back ahead of everything held. */
void gateq_push_front(struct gateq *q, struct gateq_item *list, size_t n);
/* Remove and return the oldest item if it is older than window_ms at now_ms. */
struct gateq_item *gateq_pop_expired(struct gateq *q, uint64_t now_ms, uint64_t window_ms);

#endif
