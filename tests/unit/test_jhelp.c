/* test_jhelp.c - field-table validation and column maps (common/jhelp.c). */
#include "tunit.h"

#include "jhelp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JF_END { NULL, JF_STRING, 0, 0, 0, { NULL } }

static const char *const COLORS[] = { "red", "green", "blue", NULL };

/* Validates the JSON text against fields; returns the problem count, *details owned. */
static int check(const char *text, const struct jfield *fields, json_t **details)
{
	json_error_t je;
	json_t *body = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	TU_CHECK(body != NULL, "test JSON does not parse: %s (%s)", text, je.text);
	*details = json_object();
	int n = jhelp_check(body, fields, *details);
	json_decref(body);
	return n;
}

/* Number of messages recorded for field (0 when none). */
static size_t nmsgs(const json_t *details, const char *field)
{
	return json_array_size(json_object_get(details, field));
}

static const char *msg(const json_t *details, const char *field, size_t i)
{
	return json_string_value(json_array_get(json_object_get(details, field), i));
}

/* 1 when body passes the single-field table. */
static int accepts(const struct jfield *f, const char *text)
{
	struct jfield t[2] = { *f, JF_END };
	json_t *d;
	int n = check(text, t, &d);
	int ok = n == 0 && json_object_size(d) == 0;
	if (!ok && n == 0)
		TU_CHECK(0, "%s: details not empty although count is 0", text);
	if (n != 0)
		TU_CHECK(nmsgs(d, f->name) == 1, "%s: want exactly one message for %s, got %zu", text,
			 f->name, nmsgs(d, f->name));
	json_decref(d);
	return ok;
}

#define ACCEPT(f, text) TU_CHECK(accepts(&(f), text), "rejected: %s", text)
#define REJECT(f, text) TU_CHECK(!accepts(&(f), text), "accepted: %s", text)

static void test_jf_string(void)
{
	struct jfield f = { "name", JF_STRING, 0, 1, 5, { NULL } };
	ACCEPT(f, "{}");
	ACCEPT(f, "{\"name\": \"a\"}");
	ACCEPT(f, "{\"name\": \"abcde\"}");
	REJECT(f, "{\"name\": \"\"}");
	REJECT(f, "{\"name\": \"abcdef\"}");
	REJECT(f, "{\"name\": 5}");
	REJECT(f, "{\"name\": true}");
	REJECT(f, "{\"name\": [\"a\"]}");
	REJECT(f, "{\"name\": {}}");
	REJECT(f, "{\"name\": null}");
	REJECT(f, "{\"name\": \"a\\u0000b\"}"); /* embedded NUL (parsed with JSON_ALLOW_NUL) */
	ACCEPT(f, "{\"other\": 5, \"x\": null}"); /* unknown fields are ignored */

	struct jfield unb = { "note", JF_STRING, 0, 0, 0, { NULL } }; /* 0,0 = no bounds */
	ACCEPT(unb, "{\"note\": \"\"}");
	char big[5000];
	memset(big, 0, sizeof big);
	strcpy(big, "{\"note\": \"");
	memset(big + strlen(big), 'x', 4000);
	strcat(big, "\"}");
	ACCEPT(unb, big);

	struct jfield max_only = { "n", JF_STRING, 0, 0, 3, { NULL } };
	ACCEPT(max_only, "{\"n\": \"\"}");
	ACCEPT(max_only, "{\"n\": \"abc\"}");
	REJECT(max_only, "{\"n\": \"abcd\"}");
	json_t *d;
	struct jfield t[] = { max_only, JF_END };
	TU_INT(check("{\"n\": \"abcd\"}", t, &d), 1);
	TU_STR(msg(d, "n", 0), "n must be at most 3 characters");
	json_decref(d);
	struct jfield t2[] = { f, JF_END };
	TU_INT(check("{\"name\": \"abcdef\"}", t2, &d), 1);
	TU_STR(msg(d, "name", 0), "name must be 1 to 5 characters");
	json_decref(d);
}

/* Lengths count characters (code points), not bytes. */
static void test_jf_string_utf8(void)
{
	struct jfield f = { "title", JF_STRING, 0, 1, 120, { NULL } };
	char text[1024];
	size_t o = (size_t)snprintf(text, sizeof text, "{\"title\": \"");
	for (int i = 0; i < 120; i++) {
		text[o++] = (char)0xc3;
		text[o++] = (char)0xa9; /* é */
	}
	strcpy(text + o, "\"}");
	ACCEPT(f, text); /* 120 characters, 240 bytes */
	o = (size_t)snprintf(text, sizeof text, "{\"title\": \"");
	for (int i = 0; i < 121; i++) {
		text[o++] = (char)0xc3;
		text[o++] = (char)0xa9;
	}
	strcpy(text + o, "\"}");
	REJECT(f, text);
	/* 4-byte characters: 2 emoji = 2 characters */
	struct jfield two = { "t", JF_STRING, 0, 2, 2, { NULL } };
	ACCEPT(two, "{\"t\": \"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}");
	ACCEPT(two, "{\"t\": \"\\u20ac\\u20ac\"}");
	ACCEPT(two, "{\"t\": \"\\ud83d\\ude00\\u20ac\"}"); /* surrogate pair = 1 character */
	REJECT(two, "{\"t\": \"\xf0\x9f\x98\x80\"}");
	REJECT(two, "{\"t\": \"\\ud83d\\ude00\\u20ac\\u20ac\"}");
}

static void test_jf_int(void)
{
	struct jfield f = { "qty", JF_INT, 0, 1, 100, { NULL } };
	ACCEPT(f, "{\"qty\": 1}");
	ACCEPT(f, "{\"qty\": 100}");
	REJECT(f, "{\"qty\": 0}");
	REJECT(f, "{\"qty\": 101}");
	REJECT(f, "{\"qty\": -5}");
	REJECT(f, "{\"qty\": 1.5}");
	REJECT(f, "{\"qty\": 2.0}");
	REJECT(f, "{\"qty\": \"1\"}");
	REJECT(f, "{\"qty\": true}");
	REJECT(f, "{\"qty\": null}");
	struct jfield unb = { "n", JF_INT, 0, 0, 0, { NULL } };
	ACCEPT(unb, "{\"n\": -9223372036854775807}");
	ACCEPT(unb, "{\"n\": 0}");
	struct jfield neg = { "n", JF_INT, 0, -10, -1, { NULL } };
	ACCEPT(neg, "{\"n\": -10}");
	REJECT(neg, "{\"n\": 0}");
	json_t *d;
	struct jfield t[] = { f, JF_END };
	TU_INT(check("{\"qty\": 1.5}", t, &d), 1);
	TU_STR(msg(d, "qty", 0), "qty must be an integer");
	json_decref(d);
	TU_INT(check("{\"qty\": 500}", t, &d), 1);
	TU_STR(msg(d, "qty", 0), "qty must be between 1 and 100");
	json_decref(d);
}

static void test_jf_number(void)
{
	struct jfield f = { "price", JF_NUMBER, 0, 0, 10.5, { NULL } };
	ACCEPT(f, "{\"price\": 0}");
	ACCEPT(f, "{\"price\": 0.4}");
	ACCEPT(f, "{\"price\": 10.5}");
	ACCEPT(f, "{\"price\": 10}");
	REJECT(f, "{\"price\": 10.51}");
	REJECT(f, "{\"price\": -0.01}");
	REJECT(f, "{\"price\": \"1.0\"}");
	REJECT(f, "{\"price\": false}");
	REJECT(f, "{\"price\": null}");
	struct jfield unb = { "x", JF_NUMBER, 0, 0, 0, { NULL } };
	ACCEPT(unb, "{\"x\": -1e300}");
}

static void test_jf_bool(void)
{
	struct jfield f = { "is_active", JF_BOOL, 0, 0, 0, { NULL } };
	ACCEPT(f, "{\"is_active\": true}");
	ACCEPT(f, "{\"is_active\": false}");
	REJECT(f, "{\"is_active\": 1}");
	REJECT(f, "{\"is_active\": 0}");
	REJECT(f, "{\"is_active\": \"true\"}");
	REJECT(f, "{\"is_active\": null}");
	json_t *d;
	struct jfield t[] = { f, JF_END };
	TU_INT(check("{\"is_active\": \"yes\"}", t, &d), 1);
	TU_STR(msg(d, "is_active", 0), "is_active must be true or false");
	json_decref(d);
}

static void test_jf_enum(void)
{
	struct jfield f = { "color", JF_ENUM, 0, 0, 0, { COLORS } };
	ACCEPT(f, "{\"color\": \"red\"}");
	ACCEPT(f, "{\"color\": \"blue\"}");
	REJECT(f, "{\"color\": \"Red\"}"); /* exact match */
	REJECT(f, "{\"color\": \"purple\"}");
	REJECT(f, "{\"color\": \"\"}");
	REJECT(f, "{\"color\": \"red \"}");
	REJECT(f, "{\"color\": 1}");
	json_t *d;
	struct jfield t[] = { f, JF_END };
	TU_INT(check("{\"color\": \"purple\"}", t, &d), 1);
	TU_STR(msg(d, "color", 0), "color must be one of: red, green, blue");
	json_decref(d);
}

static void test_jf_time(void)
{
	struct jfield f = { "due", JF_TIME, 0, 0, 0, { NULL } };
	ACCEPT(f, "{\"due\": \"2025-01-15\"}");
	ACCEPT(f, "{\"due\": \"2025-01-15T10:30:00.000Z\"}");
	ACCEPT(f, "{\"due\": \"2025-01-15T10:30:00+02:00\"}");
	REJECT(f, "{\"due\": \"2025-02-30\"}");
	REJECT(f, "{\"due\": \"tomorrow\"}");
	REJECT(f, "{\"due\": 1736937000000}");
	REJECT(f, "{\"due\": \"\"}");
	json_t *d;
	struct jfield t[] = { f, JF_END };
	TU_INT(check("{\"due\": \"x\"}", t, &d), 1);
	TU_STR(msg(d, "due", 0), "due must be an ISO-8601 date or date-time");
	json_decref(d);
}

static void test_jf_array_object_any(void)
{
	struct jfield a = { "items", JF_ARRAY, 0, 1, 3, { NULL } };
	ACCEPT(a, "{\"items\": [1]}");
	ACCEPT(a, "{\"items\": [1, \"x\", {}]}");
	REJECT(a, "{\"items\": []}");
	REJECT(a, "{\"items\": [1, 2, 3, 4]}");
	REJECT(a, "{\"items\": {}}");
	REJECT(a, "{\"items\": \"[1]\"}");
	struct jfield au = { "items", JF_ARRAY, 0, 0, 0, { NULL } };
	ACCEPT(au, "{\"items\": []}");

	struct jfield o = { "meta", JF_OBJECT, 0, 0, 0, { NULL } };
	ACCEPT(o, "{\"meta\": {}}");
	ACCEPT(o, "{\"meta\": {\"a\": [1]}}");
	REJECT(o, "{\"meta\": []}");
	REJECT(o, "{\"meta\": \"{}\"}");
	REJECT(o, "{\"meta\": null}");

	struct jfield any = { "v", JF_ANY, 0, 0, 0, { NULL } };
	ACCEPT(any, "{\"v\": 1}");
	ACCEPT(any, "{\"v\": \"s\"}");
	ACCEPT(any, "{\"v\": [null]}");
	REJECT(any, "{\"v\": null}"); /* null needs JF_NULLABLE, whatever the type */
}

static void test_jf_flags(void)
{
	struct jfield req = { "name", JF_STRING, JF_REQUIRED, 1, 10, { NULL } };
	REJECT(req, "{}");
	REJECT(req, "{\"Name\": \"x\"}"); /* names are case-sensitive */
	ACCEPT(req, "{\"name\": \"x\"}");
	REJECT(req, "{\"name\": null}");
	json_t *d;
	struct jfield t1[] = { req, JF_END };
	TU_INT(check("{}", t1, &d), 1);
	TU_STR(msg(d, "name", 0), "name is required");
	json_decref(d);
	TU_INT(check("{\"name\": null}", t1, &d), 1);
	TU_STR(msg(d, "name", 0), "name must not be null");
	json_decref(d);

	struct jfield nul = { "notes", JF_STRING, JF_NULLABLE, 1, 10, { NULL } };
	ACCEPT(nul, "{\"notes\": null}");
	ACCEPT(nul, "{}");
	REJECT(nul, "{\"notes\": \"\"}");

	struct jfield rn = { "loc", JF_STRING, JF_REQUIRED | JF_NULLABLE, 0, 0, { NULL } };
	ACCEPT(rn, "{\"loc\": null}"); /* present, null allowed */
	REJECT(rn, "{}");

	struct jfield rej = { "cost", JF_NUMBER, JF_REJECT, 0, 0, { NULL } };
	ACCEPT(rej, "{}");
	REJECT(rej, "{\"cost\": 5}");
	REJECT(rej, "{\"cost\": null}");
	REJECT(rej, "{\"cost\": \"x\"}");
	struct jfield t2[] = { rej, JF_END };
	TU_INT(check("{\"cost\": 5}", t2, &d), 1);
	TU_STR(msg(d, "cost", 0), "cost cannot be set through the API");
	json_decref(d);
	struct jfield rejn = { "id", JF_STRING, JF_REJECT | JF_NULLABLE, 0, 0, { NULL } };
	REJECT(rejn, "{\"id\": null}");
}

static void test_jf_body_and_details(void)
{
	static const struct jfield F[] = {
		{ "name", JF_STRING, JF_REQUIRED, 1, 5, { NULL } },
		{ "qty", JF_INT, JF_REQUIRED, 1, 10, { NULL } },
		{ "color", JF_ENUM, 0, 0, 0, { COLORS } },
		{ "ok", JF_BOOL, 0, 0, 0, { NULL } },
		JF_END
	};
	static const char *const not_objects[] = { "[]", "[{\"name\": \"a\"}]", "\"x\"", "3", "null",
						    "true", NULL };
	for (int i = 0; not_objects[i]; i++) {
		json_t *d;
		TU_INT(check(not_objects[i], F, &d), 1);
		TU_INT(json_object_size(d), 1);
		TU_INT(nmsgs(d, "body"), 1);
		TU_STR(msg(d, "body", 0), "request body must be a JSON object");
		json_decref(d);
	}
	json_t *d = json_object();
	TU_INT(jhelp_check(NULL, F, d), 1); /* no body at all */
	TU_INT(nmsgs(d, "body"), 1);
	json_decref(d);

	/* every problem is reported, one list per field */
	TU_INT(check("{\"name\": \"toolong\", \"color\": \"pink\", \"ok\": 1, \"extra\": 1}", F, &d), 4);
	TU_INT(json_object_size(d), 4);
	TU_INT(nmsgs(d, "name"), 1);
	TU_INT(nmsgs(d, "qty"), 1);
	TU_INT(nmsgs(d, "color"), 1);
	TU_INT(nmsgs(d, "ok"), 1);
	TU_CHECK(json_object_get(d, "extra") == NULL, "unknown field reported");
	TU_STR(msg(d, "qty", 0), "qty is required");
	json_decref(d);

	TU_INT(check("{\"name\": \"abc\", \"qty\": 3, \"color\": \"red\", \"ok\": false}", F, &d), 0);
	TU_INT(json_object_size(d), 0);
	json_decref(d);

	/* jhelp_detail appends to an existing list and replaces a non-list */
	d = json_object();
	jhelp_detail(d, "f", "first %d", 1);
	jhelp_detail(d, "f", "second %s", "x");
	jhelp_detail(d, "g", "only");
	TU_INT(nmsgs(d, "f"), 2);
	TU_STR(msg(d, "f", 0), "first 1");
	TU_STR(msg(d, "f", 1), "second x");
	TU_INT(nmsgs(d, "g"), 1);
	json_object_set_new(d, "h", json_string("not a list"));
	jhelp_detail(d, "h", "now a list");
	TU_INT(nmsgs(d, "h"), 1);
	TU_STR(msg(d, "h", 0), "now a list");
	/* details dumps as field -> array of strings */
	char *s = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
	TU_STR(s, "{\"f\":[\"first 1\",\"second x\"],\"g\":[\"only\"],\"h\":[\"now a list\"]}");
	free(s);
	json_decref(d);
}

static void test_enum_helpers(void)
{
	TU_INT(jhelp_enum_index(COLORS, "red"), 0);
	TU_INT(jhelp_enum_index(COLORS, "blue"), 2);
	TU_INT(jhelp_enum_index(COLORS, "BLUE"), -1);
	TU_INT(jhelp_enum_index(COLORS, ""), -1);
	TU_INT(jhelp_enum_index(NULL, "red"), -1);
	char buf[64];
	TU_STR(jhelp_enum_list(COLORS, buf, sizeof buf), "red, green, blue");
	static const char *const one[] = { "only", NULL };
	TU_STR(jhelp_enum_list(one, buf, sizeof buf), "only");
	static const char *const none[] = { NULL };
	TU_STR(jhelp_enum_list(none, buf, sizeof buf), "");
	/* a short buffer is truncated, never overrun */
	char small[8];
	memset(small, 'Q', sizeof small);
	jhelp_enum_list(COLORS, small, sizeof small);
	TU_CHECK(memchr(small, '\0', sizeof small) != NULL, "enum list not terminated");
	TU_STR(small, "red, gr");
}

static char *dump(json_t *v)
{
	size_t flags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15);
	char *s = v ? json_dumps(v, flags) : NULL;
	json_decref(v);
	return s;
}

#define CELL(type, cell, want)                                   \
	do {                                                     \
		char *tu_s = dump(jhelp_cell(type, cell));       \
		TU_STR(tu_s, want);                              \
		free(tu_s);                                      \
	} while (0)

static void test_cell(void)
{
	CELL(JC_STR, "abc", "\"abc\"");
	CELL(JC_STR, "", "\"\"");
	CELL(JC_STR, "1", "\"1\"");
	CELL(JC_INT, "42", "42");
	CELL(JC_INT, "-7", "-7");
	CELL(JC_INT, "9007199254740993", "9007199254740993");
	CELL(JC_EPOCH_MS, "1736937000123", "1736937000123");
	CELL(JC_BOOL, "1", "true");
	CELL(JC_BOOL, "0", "false");
	CELL(JC_BOOL, "", "false");
	CELL(JC_TIME, "2025-01-15 10:30:00.123", "\"2025-01-15T10:30:00.123Z\"");
	CELL(JC_TIME, "2025-01-15 10:30:00", "\"2025-01-15T10:30:00.000Z\"");
	CELL(JC_TIME, "garbage", "null");
	CELL(JC_JSON, "{\"a\":[1,2]}", "{\"a\":[1,2]}");
	CELL(JC_JSON, "[]", "[]");
	CELL(JC_JSON, "\"s\"", "\"s\"");
	CELL(JC_JSON, "3", "3");
	CELL(JC_JSON, "{broken", "null");
	for (int t = JC_STR; t <= JC_EPOCH_MS; t++)
		CELL((enum jc_type)t, NULL, "null");

	/* JC_NUM: integers stay integers, decimals become reals */
	json_t *v = jhelp_cell(JC_NUM, "0.40");
	TU_CHECK(json_is_real(v) && fabs(json_real_value(v) - 0.4) < 1e-12, "JC_NUM 0.40");
	json_decref(v);
	v = jhelp_cell(JC_NUM, "2");
	TU_CHECK(json_is_integer(v) && json_integer_value(v) == 2, "JC_NUM 2");
	json_decref(v);
	v = jhelp_cell(JC_NUM, "-15");
	TU_CHECK(json_is_integer(v) && json_integer_value(v) == -15, "JC_NUM -15");
	json_decref(v);
	v = jhelp_cell(JC_NUM, "12.5");
	TU_CHECK(json_is_real(v) && json_real_value(v) == 12.5, "JC_NUM 12.5");
	json_decref(v);
	v = jhelp_cell(JC_NUM, "1e20");
	TU_CHECK(json_is_real(v) && json_real_value(v) == 1e20, "JC_NUM 1e20");
	json_decref(v);
}

static void test_rows(void)
{
	static const struct jcol C[] = {
		{ "id", JC_STR }, { "qty", JC_INT }, { "ok", JC_BOOL }, { "price", JC_NUM },
		{ "at", JC_TIME }, { "extra", JC_JSON }, { NULL, 0 }
	};
	char *cells[] = {
		"a", "3", "1", "0.40", "2025-01-15 10:30:00.123", "{\"k\":1}",
		"b", NULL, "0", "2", NULL, NULL,
	};
	struct db_res res = { .nrows = 2, .ncols = 6, .cells = cells };
	json_t *rows = jhelp_rows(C, &res);
	TU_INT(json_array_size(rows), 2);
	char *s = dump(json_incref(json_array_get(rows, 0)));
	TU_STR(s, "{\"at\":\"2025-01-15T10:30:00.123Z\",\"extra\":{\"k\":1},\"id\":\"a\",\"ok\":true,"
		  "\"price\":0.4,\"qty\":3}");
	free(s);
	s = dump(json_incref(json_array_get(rows, 1)));
	TU_STR(s, "{\"at\":null,\"extra\":null,\"id\":\"b\",\"ok\":false,\"price\":2,\"qty\":null}");
	free(s);
	json_decref(rows);

	/* no rows: an empty array, not NULL */
	struct db_res empty = { .nrows = 0, .ncols = 6, .cells = NULL };
	s = dump(jhelp_rows(C, &empty));
	TU_STR(s, "[]");
	free(s);

	/* jhelp_row with an offset, jhelp_row_into adds to an object and counts columns */
	static const struct jcol C2[] = { { "ok", JC_BOOL }, { "price", JC_NUM }, { NULL, 0 } };
	s = dump(jhelp_row(C2, &res, 1, 2));
	TU_STR(s, "{\"ok\":false,\"price\":2}");
	free(s);
	json_t *obj = json_pack("{s:s}", "pre", "x");
	TU_INT(jhelp_row_into(obj, C2, &res, 0, 2), 2);
	s = dump(obj);
	TU_STR(s, "{\"ok\":true,\"pre\":\"x\",\"price\":0.4}");
	free(s);
	/* a map wider than the result yields null for the missing columns */
	s = dump(jhelp_row(C2, &res, 0, 5));
	TU_STR(s, "{\"ok\":true,\"price\":null}");
	free(s);
	/* only mapped columns reach JSON */
	static const struct jcol C1[] = { { "id", JC_STR }, { NULL, 0 } };
	s = dump(jhelp_rows(C1, &res));
	TU_STR(s, "[{\"id\":\"a\"},{\"id\":\"b\"}]");
	free(s);
}

/* The text path (lists) and the tree path must give equal JSON for every column type. */
static void test_rows_text_equals_tree(void)
{
	static const struct jcol C[] = {
		{ "id", JC_STR }, { "qty", JC_INT }, { "ok", JC_BOOL }, { "price", JC_NUM },
		{ "at", JC_TIME }, { "extra", JC_JSON }, { "ms", JC_EPOCH_MS }, { NULL, 0 }
	};
	char *cells[] = {
		"a\"\\\n\x01\xc3\xa9", "3", "1", "0.40", "2025-01-15 10:30:00.123", "{\"k\":[1,2]}",
		"1767225600000",
		"", NULL, "0", "2", "2025-01-15 10:30:00", "not json", NULL,
		NULL, "-7", "5", "2.00", "bad date", "[]", "0",
	};
	struct db_res res = { .nrows = 3, .ncols = 7, .cells = cells };
	char *text = jhelp_rows_text(C, &res);
	CU_ASSERT_FATAL(text != NULL);
	json_error_t je;
	json_t *from_text = json_loads(text, 0, &je);
	CU_ASSERT_FATAL(from_text != NULL);
	json_t *tree = jhelp_rows(C, &res);
	CU_ASSERT_FATAL(json_equal(from_text, tree));
	/* key order follows the column map in the text path */
	CU_ASSERT_FATAL(strncmp(text, "[{\"id\":", 7) == 0);
	free(text);
	json_decref(from_text);
	json_decref(tree);
	struct db_res empty = { .nrows = 0, .ncols = 7, .cells = NULL };
	text = jhelp_rows_text(C, &empty);
	TU_STR(text, "[]");
	free(text);
}

static void test_str_member(void)
{
	json_t *o = json_pack("{s:s, s:i, s:n}", "a", "x", "b", 1, "c");
	TU_STR(jhelp_str(o, "a"), "x");
	TU_CHECK(jhelp_str(o, "b") == NULL, "integer member read as string");
	TU_CHECK(jhelp_str(o, "c") == NULL, "null member read as string");
	TU_CHECK(jhelp_str(o, "zz") == NULL, "absent member");
	TU_CHECK(jhelp_str(NULL, "a") == NULL, "NULL object");
	json_decref(o);
}

/* Arrays check each item against their item field, objects their members; problems are named
 * by path (what a catalog body with nested lists needs). */
static void test_jf_nested(void)
{
	static const struct jfield tag = { "tag", JF_STRING, 0, 1, 5, { NULL } };
	static const struct jfield step_fields[] = {
		{ "title", JF_STRING, JF_REQUIRED, 1, 10, { NULL } },
		{ "minutes", JF_INT, JF_NULLABLE, 0, 60, { NULL } },
		JF_END
	};
	static const struct jfield step = { "step", JF_OBJECT, 0, 0, 0, { .sub = step_fields } };
	const struct jfield fields[] = {
		{ "tags", JF_ARRAY, 0, 0, 3, { .sub = &tag } },
		{ "steps", JF_ARRAY, JF_NULLABLE, 0, 0, { .sub = &step } },
		{ "meta", JF_OBJECT, 0, 0, 0, { .sub = step_fields } },
		JF_END
	};
	json_t *d;
	TU_INT(check("{\"tags\": [\"a\", \"bcd\"], \"steps\": [{\"title\": \"x\"},"
		     " {\"title\": \"y\", \"minutes\": null}], \"meta\": {\"title\": \"m\"}}",
		     fields, &d), 0);
	json_decref(d);
	TU_INT(check("{\"tags\": [\"a\", \"toolong\", 5], \"steps\": [{\"minutes\": 61}, 3],"
		     " \"meta\": {\"title\": \"\"}}", fields, &d), 6);
	TU_STR(msg(d, "tags[1]", 0), "tags[1] must be 1 to 5 characters");
	TU_STR(msg(d, "tags[2]", 0), "tags[2] must be a string");
	TU_STR(msg(d, "steps[0].title", 0), "steps[0].title is required");
	TU_STR(msg(d, "steps[0].minutes", 0), "steps[0].minutes must be between 0 and 60");
	TU_STR(msg(d, "steps[1]", 0), "steps[1] must be an object");
	TU_STR(msg(d, "meta.title", 0), "meta.title must be 1 to 10 characters");
	TU_INT(nmsgs(d, "tags[0]"), 0);
	json_decref(d);
	TU_INT(check("{\"tags\": [\"a\", \"b\", \"c\", \"d\"]}", fields, &d), 1);
	TU_STR(msg(d, "tags", 0), "tags must have 0 to 3 items");
	json_decref(d);

	/* one value on its own, named by its field (what the resource layer calls) */
	json_t *v = json_string("toolong");
	d = json_object();
	TU_INT(jhelp_check_value(&tag, v, d), 1);
	TU_STR(msg(d, "tag", 0), "tag must be 1 to 5 characters");
	json_decref(v);
	json_decref(d);
}

int init_jhelp_suite(void)
{
	CU_pSuite s = CU_add_suite("jhelp", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_jf_string);
	TU_ADD(s, test_jf_string_utf8);
	TU_ADD(s, test_jf_int);
	TU_ADD(s, test_jf_number);
	TU_ADD(s, test_jf_bool);
	TU_ADD(s, test_jf_enum);
	TU_ADD(s, test_jf_time);
	TU_ADD(s, test_jf_array_object_any);
	TU_ADD(s, test_jf_nested);
	TU_ADD(s, test_jf_flags);
	TU_ADD(s, test_jf_body_and_details);
	TU_ADD(s, test_enum_helpers);
	TU_ADD(s, test_cell);
	TU_ADD(s, test_rows);
	TU_ADD(s, test_rows_text_equals_tree);
	TU_ADD(s, test_str_member);
	return 0;
}
