/* test_json.c — the JSON writer's escaping and the parser on good and hostile input. */
#include <stdlib.h>
#include <math.h>
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

/* The object writer places every comma; the result parses back. */
START_TEST(writer_commas)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "x=");	/* a writer may append to text already there */
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kv_str(&w, "node", "a\"b");
	jw_kv_i64(&w, "n", -3);
	jw_kv_u64(&w, "u", 18446744073709551615ull);
	jw_kv_f64(&w, "f", 0.1);
	jw_kv_f64(&w, "t", 1796140419139175 / 1e6);
	jw_kv_f64(&w, "nan", NAN);
	jw_kv_bool(&w, "ok", true);
	jw_kv_null(&w, "none");
	jw_key(&w, "list");
	jw_arr(&w);
	jw_i64(&w, 1);
	jw_str(&w, NULL);
	jw_obj(&w);
	jw_end(&w);
	jw_arr(&w);
	jw_end(&w);
	jw_raw_next(&w);
	buf_adds(&b, "{\"raw\":1}");
	jw_end(&w);
	jw_key(&w, "empty");
	jw_obj(&w);
	jw_end(&w);
	jw_end(&w);
	ck_assert(!b.oom);
	ck_assert_str_eq(b.data, "x={\"node\":\"a\\\"b\",\"n\":-3,\"u\":18446744073709551615,"
				 "\"f\":0.1,\"t\":1796140419.139175,\"nan\":null,\"ok\":true,\"none\":null,"
				 "\"list\":[1,null,{},[],{\"raw\":1}],\"empty\":{}}");
	char err[128];
	struct json *j = json_parse(b.data + 2, b.len - 2, err, sizeof(err));
	ck_assert_msg(j != NULL, "%s", err);
	json_free(j);
	buf_release(&b);
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
	tcase_add_test(tc, writer_commas);
	suite_add_tcase(s, tc);
	return s;
}
