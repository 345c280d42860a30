/*
 * test_unelect.c — a spooled event's value marked "elected":false: an
 * elected mark replaced, a missing one (a release before the mark) added
 * after the epoch, a false one and anything not our envelope left alone; a
 * node name that holds the member's text in escaped form does not fool it;
 * the output never needs more than UNELECT_EXTRA bytes of room.
 */
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "unelect.h"

/* unelect() of in, as a fresh NUL-terminated string (the test frees it). */
static char *run(const char *in)
{
	size_t len = strlen(in);
	char *out = malloc(len + UNELECT_EXTRA + 1);
	ck_assert_ptr_nonnull(out);
	memset(out, '#', len + UNELECT_EXTRA + 1);
	size_t n = unelect(in, len, out);
	ck_assert_uint_le(n, len + UNELECT_EXTRA);
	out[n] = '\0';
	return out;
}

static void expect(const char *in, const char *want)
{
	char *got = run(in);
	ck_assert_str_eq(got, want);
	/* idempotent: a record spooled twice, or replayed by a newer release */
	char *again = run(got);
	ck_assert_str_eq(again, want);
	free(again);
	free(got);
}

START_TEST(elected_becomes_false)
{
	expect("{\"node\":\"agg-a\",\"epoch\":7,\"elected\":true,\"prefix\":\"seq\",\"delta\":1}",
	       "{\"node\":\"agg-a\",\"epoch\":7,\"elected\":false,\"prefix\":\"seq\",\"delta\":1}");
	/* no members at all */
	expect("{\"node\":\"a\",\"epoch\":12345678901234567890,\"elected\":true}",
	       "{\"node\":\"a\",\"epoch\":12345678901234567890,\"elected\":false}");
	/* an event member of the same name further on is the event's own */
	expect("{\"node\":\"a\",\"epoch\":3,\"elected\":true,\"x\":{\"epoch\":9,\"elected\":true}}",
	       "{\"node\":\"a\",\"epoch\":3,\"elected\":false,\"x\":{\"epoch\":9,\"elected\":true}}");
}
END_TEST

START_TEST(missing_mark_added)
{
	/* a spool file of a release before the mark: no mark counts as elected */
	expect("{\"node\":\"agg-a\",\"epoch\":4,\"prefix\":\"seq\",\"delta\":1}",
	       "{\"node\":\"agg-a\",\"epoch\":4,\"elected\":false,\"prefix\":\"seq\",\"delta\":1}");
	expect("{\"node\":\"a\",\"epoch\":0}", "{\"node\":\"a\",\"epoch\":0,\"elected\":false}");
	/* the room needed is exactly UNELECT_EXTRA */
	const char *in = "{\"node\":\"a\",\"epoch\":0}";
	char *got = run(in);
	ck_assert_uint_eq(strlen(got), strlen(in) + UNELECT_EXTRA);
	free(got);
}
END_TEST

START_TEST(left_alone)
{
	const char *same[] = {
		"{\"node\":\"a\",\"epoch\":7,\"elected\":false,\"prefix\":\"seq\"}",
		"",
		"{",
		"not json",
		"{\"node\":\"a\"",
		"{\"node\":\"a\",\"epoch\":",
		"{\"node\":\"a\",\"epoch\":x,\"elected\":true}",
		"{\"epoch\":7,\"elected\":true,\"node\":\"a\"}",
		"{\"prefix\":\"seq\",\"node\":\"a\",\"epoch\":7,\"elected\":true}",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		char *got = run(same[i]);
		ck_assert_str_eq(got, same[i]);
		free(got);
	}
}
END_TEST

START_TEST(node_name_cannot_fool_it)
{
	/* node names holding the member's text: in a JSON string the quotes
	 * are escaped, so the first unescaped ,"epoch": is the member */
	expect("{\"node\":\"x\\\",\\\"epoch\\\":1,\\\"elected\\\":true\",\"epoch\":8,\"elected\":true,\"d\":1}",
	       "{\"node\":\"x\\\",\\\"epoch\\\":1,\\\"elected\\\":true\",\"epoch\":8,\"elected\":false,\"d\":1}");
	expect("{\"node\":\"x\\\\\",\"epoch\":8,\"elected\":true}",
	       "{\"node\":\"x\\\\\",\"epoch\":8,\"elected\":false}");
}
END_TEST

START_TEST(every_prefix)
{
	/* a torn value (cut anywhere) never reads or writes out of bounds */
	const char *full = "{\"node\":\"agg-a\",\"epoch\":7,\"elected\":true,\"delta\":1}";
	size_t n = strlen(full);
	for (size_t cut = 0; cut <= n; cut++) {
		char *in = malloc(cut ? cut : 1);
		char *out = malloc(cut + UNELECT_EXTRA);
		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(out);
		memcpy(in, full, cut);
		size_t got = unelect(in, cut, out);
		ck_assert_uint_le(got, cut + UNELECT_EXTRA);
		free(in);
		free(out);
	}
}
END_TEST

Suite *unelect_suite(void)
{
	Suite *s = suite_create("unelect");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, elected_becomes_false);
	tcase_add_test(tc, missing_mark_added);
	tcase_add_test(tc, left_alone);
	tcase_add_test(tc, node_name_cannot_fool_it);
	tcase_add_test(tc, every_prefix);
	suite_add_tcase(s, tc);
	return s;
}
