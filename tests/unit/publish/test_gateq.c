/*
 * test_gateq.c — the publish gate's standby queue with an injected clock:
 * the window (only what is older than it goes), the bound, and the order on
 * drain, including a partial drain handed back in front of newer items.
 */
#include "gateq.h"
#include "suites.h"

struct item {
	struct gateq_item q;	/* first */
	int seq;
};

static struct item items[16];

static void fill(struct gateq *q, int n, uint64_t t0, uint64_t step)
{
	for (int i = 0; i < n; i++) {
		items[i].seq = i;
		ck_assert_int_eq(gateq_push(q, &items[i].q, t0 + (uint64_t)i * step), 0);
	}
}

START_TEST(window)
{
	struct gateq q;
	gateq_init(&q, 100);
	fill(&q, 10, 1000, 100);	/* stamped 1000, 1100, ... 1900 */
	/* at 4000 with a 2500 ms window: items stamped before 1500 have expired */
	int dropped = 0;
	struct gateq_item *it;
	while ((it = gateq_pop_expired(&q, 4000, 2500)))
		ck_assert_int_eq(((struct item *)it)->seq, dropped++);
	ck_assert_int_eq(dropped, 5);
	ck_assert_uint_eq(q.n, 5);
	/* exactly on the edge stays: 1500 at 4000 is 2500 old, not older */
	ck_assert_ptr_null(gateq_pop_expired(&q, 4000, 2500));
	ck_assert_ptr_nonnull(gateq_pop_expired(&q, 4001, 2500));
	/* a clock that went back expires nothing */
	ck_assert_ptr_null(gateq_pop_expired(&q, 10, 0));
}
END_TEST

START_TEST(bound)
{
	struct gateq q;
	gateq_init(&q, 3);
	fill(&q, 3, 0, 1);
	ck_assert_int_eq(gateq_push(&q, &items[3].q, 5), -1);
	ck_assert_uint_eq(q.n, 3);
	size_t n;
	gateq_take_all(&q, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(gateq_push(&q, &items[3].q, 5), 0);
}
END_TEST

START_TEST(order_on_drain)
{
	struct gateq q;
	gateq_init(&q, 100);
	fill(&q, 6, 0, 1);
	size_t n;
	struct gateq_item *list = gateq_take_all(&q, &n);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(q.n, 0);
	/* two produced, then the role flips: 2..5 go back, 10 and 11 arrive later */
	struct gateq_item *rest = list->next->next;
	items[10].seq = 10;
	items[11].seq = 11;
	gateq_push(&q, &items[10].q, 7);
	gateq_push_front(&q, rest, 4);
	gateq_push(&q, &items[11].q, 8);
	int want[] = { 2, 3, 4, 5, 10, 11 };
	list = gateq_take_all(&q, &n);
	ck_assert_uint_eq(n, 6);
	int i = 0;
	for (struct gateq_item *it = list; it; it = it->next)
		ck_assert_int_eq(((struct item *)it)->seq, want[i++]);
	ck_assert_int_eq(i, 6);
	/* pushing back onto an empty queue keeps the tail right */
	gateq_push_front(&q, NULL, 0);
	ck_assert_uint_eq(q.n, 0);
	items[0].q.next = NULL;
	gateq_push_front(&q, &items[0].q, 1);
	gateq_push(&q, &items[1].q, 9);
	list = gateq_take_all(&q, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(list, &items[0].q);
	ck_assert_ptr_eq(list->next, &items[1].q);
}
END_TEST

Suite *gateq_suite(void)
{
	Suite *s = suite_create("gateq");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, window);
	tcase_add_test(tc, bound);
	tcase_add_test(tc, order_on_drain);
	suite_add_tcase(s, tc);
	return s;
}
