/* test_json.c — the JSON writer's escaping and the parser on good and hostile input. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "suites.h"

START_TEST(writer_escapes)
{
	struct buf b = BUF_INIT;
	json_add_str(&b, "a\"b\\c\nd\te\x01" "f\x7f");
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\"");
	buf_release(&b);
}
END_TEST

START_TEST(round_trip)
{
	struct buf b = BUF_INIT;
	const char *odd = "tab\t quote\" slash\\ nl\n é \x02";
	buf_adds(&b, "{\"s\":");
	json_add_str(&b, odd);
	buf_adds(&b, ",\"n\":-12.5e1,\"t\":true,\"f\":false,\"z\":null,\"a\":[1,{\"x\":\"y\"},[]],\"o\":{}}");
	char err[128];
	struct json *j = json_parse(b.data, b.len, err, sizeof(err));
	ck_assert_msg(j != NULL, "%s", err);
	ck_assert_str_eq(json_get_str(j, "s", ""), odd);
	ck_assert(json_get_num(j, "n", 0) == -125.0);
	ck_assert(json_get(j, "t")->boolean);
	ck_assert(!json_get(j, "f")->boolean);
	ck_assert_int_eq(json_get(j, "z")->type, JSON_NULL);
	const struct json *a = json_get(j, "a");
	ck_assert_int_eq(a->type, JSON_ARR);
	ck_assert_str_eq(json_get_str(a->child->next, "x", ""), "y");
	ck_assert_ptr_null(json_get(j, "missing"));
	json_free(j);
	buf_release(&b);
}
END_TEST

START_TEST(unicode_escapes)
{
	const char *t = "[\"\\u00e9\\ud83d\\ude00\\u0041\"]";
	struct json *j = json_parse(t, strlen(t), NULL, 0);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(j->child->str, "\xc3\xa9\xf0\x9f\x98\x80" "A");
	json_free(j);
}
END_TEST

START_TEST(hostile_input)
{
	static const char *bad[] = {
		"", "{", "[1,", "{\"a\"}", "{\"a\":}", "[1 2]", "\"unterminated",
		"\"bad \\x escape\"", "tru", "nul", "-", "1e999", "[1]x", "{\"a\":1,}",
		"\"\\ud83d\"x", "\"ctl\x01\"", "{1:2}",
	};
	char err[128];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json *j = json_parse(bad[i], strlen(bad[i]), err, sizeof(err));
		ck_assert_msg(j == NULL, "accepted: %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no message for: %s", bad[i]);
	}
	/* Deep nesting is refused, not a stack overflow. */
	char deep[4096];
	memset(deep, '[', sizeof(deep));
	ck_assert_ptr_null(json_parse(deep, sizeof(deep), err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "too deep"));
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, writer_escapes);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, unicode_escapes);
	tcase_add_test(tc, hostile_input);
	suite_add_tcase(s, tc);
	return s;
}
