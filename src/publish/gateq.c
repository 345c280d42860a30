/*
 * gateq.c — the publish gate's bounded FIFO; see gateq.h.
 */
#include "gateq.h"

void gateq_init(struct gateq *q, size_t max)
{
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
	q->max = max;
}

int gateq_push(struct gateq *q, struct gateq_item *it, uint64_t now_ms)
{
	if (q->n >= q->max)
		return -1;
	it->next = NULL;
	it->t_ms = now_ms;
	*q->tail = it;
	q->tail = &it->next;
	q->n++;
	return 0;
}

struct gateq_item *gateq_take_all(struct gateq *q, size_t *n)
{
	struct gateq_item *list = q->head;
	*n = q->n;
	q->head = NULL;
	q->tail = &q->head;
	q->n = 0;
	return list;
}

void gateq_push_front(struct gateq *q, struct gateq_item *list, size_t n)
{
	if (!list)
		return;
	struct gateq_item *last = list;
	while (last->next)
		last = last->next;
	last->next = q->head;
	if (!q->head)
		q->tail = &last->next;
	q->head = list;
	q->n += n;
}

struct gateq_item *gateq_pop_expired(struct gateq *q, uint64_t now_ms, uint64_t window_ms)
{
	struct gateq_item *it = q->head;
	if (!it || now_ms < it->t_ms || now_ms - it->t_ms <= window_ms)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = &q->head;
	q->n--;
	it->next = NULL;
	return it;
}
