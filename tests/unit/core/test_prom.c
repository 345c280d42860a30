/* test_prom.c — the Prometheus text writer (src/core/prom.c). */
#include <math.h>
#include <string.h>

#include "prom.h"
#include "suites.h"

START_TEST(lines_and_escapes)
{
	struct buf b;
	buf_init(&b);
	prom_head(&b, "x_total", "counter", "Things.");
	prom_u64(&b, "x_total", 18446744073709551615ull);
	prom_u64_1(&b, "x_total", "member", "a\"b\\c\nd", 3);
	prom_u64_2(&b, "x_total", "rule", "r1", "cause", "keys_limit", 4);
	prom_f64(&b, "y_seconds", 0.1);
	prom_f64_1(&b, "y_seconds", "member", "m", 1.5);
	prom_f64(&b, "w", 0.1 + 0.2);
	prom_metric_u64(&b, "m_total", "counter", "One.", 7);
	prom_f64(&b, "t", 1796140419139175 / 1e6);	/* 16 digits read back */
	prom_f64(&b, "z", NAN);
	prom_f64(&b, "z", -INFINITY);
	ck_assert(!b.oom);
	ck_assert_str_eq(b.data,
			 "# HELP x_total Things.\n# TYPE x_total counter\n"
			 "x_total 18446744073709551615\n"
			 "x_total{member=\"a\\\"b\\\\c\\nd\"} 3\n"
			 "x_total{rule=\"r1\",cause=\"keys_limit\"} 4\n"
			 "y_seconds 0.1\n"
			 "y_seconds{member=\"m\"} 1.5\n"
			 "w 0.30000000000000004\n"
			 "# HELP m_total One.\n# TYPE m_total counter\nm_total 7\n"
			 "t 1796140419.139175\n"
			 "z NaN\n"
			 "z -Inf\n");
	buf_release(&b);
}
END_TEST

Suite *prom_suite(void)
{
	Suite *s = suite_create("prom");
	TCase *tc = tcase_create("prom");
	tcase_add_test(tc, lines_and_escapes);
	suite_add_tcase(s, tc);
	return s;
}
