/* test_req.c - query accessors, problems and response helpers of fcgi/req.c, on a request
 * built by hand (no FastCGI, no database). */
#include "tunit.h"

#include "req.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define JF_END { NULL, JF_STRING, 0, 0, 0, { NULL } }

static void req_init(struct req *r)
{
	memset(r, 0, sizeof *r);
	r->status = 200;
}

/* Adds a query pair (the strings must outlive r). */
static void q(struct req *r, const char *key, const char *value)
{
	r->query[r->nquery].key = (char *)key;
	r->query[r->nquery].value = (char *)value;
	r->nquery++;
}

static void req_done(struct req *r)
{
	json_decref(r->details);
	json_decref(r->data);
	json_decref(r->meta);
	json_decref(r->body);
	json_decref(r->error_extra);
	free(r->segs);
	memset(r, 0, sizeof *r);
}

static size_t nmsgs(const struct req *r, const char *field)
{
	return json_array_size(json_object_get(r->details, field));
}

static const char *msg(const struct req *r, const char *field, size_t i)
{
	return json_string_value(json_array_get(json_object_get(r->details, field), i));
}

static size_t nfields(const struct req *r)
{
	return r->details ? json_object_size(r->details) : 0;
}

static void test_query_lookup(void)
{
	struct req r;
	req_init(&r);
	q(&r, "a", "1");
	q(&r, "empty", "");
	q(&r, "a", "2");
	TU_STR(req_query(&r, "a"), "1"); /* the first occurrence wins */
	TU_STR(req_query(&r, "empty"), "");
	TU_CHECK(req_query(&r, "A") == NULL, "keys are case-sensitive");
	TU_CHECK(req_query(&r, "missing") == NULL, "missing key");
	TU_CHECK(req_query(&r, "") == NULL, "empty key");
	TU_INT(req_invalid(&r), 0);
	req_done(&r);
}

static void test_paging_defaults(void)
{
	struct req r;
	req_init(&r);
	long long limit = -1, offset = -1;
	TU_INT(req_paging(&r, &limit, &offset), 0);
	TU_INT(limit, 50);
	TU_INT(offset, 0);
	TU_INT(req_invalid(&r), 0);
	TU_INT(nfields(&r), 0);
	req_done(&r);
}

static void paging_ok(const char *lim, const char *off, long long want_l, long long want_o)
{
	struct req r;
	req_init(&r);
	if (lim)
		q(&r, "limit", lim);
	if (off)
		q(&r, "offset", off);
	long long limit = -1, offset = -1;
	TU_CHECK(req_paging(&r, &limit, &offset) == 0, "limit=%s offset=%s refused", lim ? lim : "-",
		 off ? off : "-");
	TU_CHECK(limit == want_l && offset == want_o, "limit=%s offset=%s -> %lld, %lld",
		 lim ? lim : "-", off ? off : "-", limit, offset);
	TU_INT(req_invalid(&r), 0);
	req_done(&r);
}

/* One bad paging value: -1, one problem naming the parameter, the other keeps its value. */
static void paging_bad(const char *name, const char *value)
{
	struct req r;
	req_init(&r);
	q(&r, name, value);
	long long limit = -1, offset = -1;
	TU_CHECK(req_paging(&r, &limit, &offset) == -1, "%s=%s accepted", name, value);
	TU_INT(req_invalid(&r), 1);
	TU_INT(nfields(&r), 1);
	TU_CHECK(nmsgs(&r, name) == 1, "%s=%s: %zu messages for %s", name, value, nmsgs(&r, name),
		 name);
	const char *m = msg(&r, name, 0);
	TU_CHECK(m && strstr(m, name) == m, "%s=%s: message \"%s\" does not name the parameter", name,
		 value, m ? m : "(null)");
	if (strcmp(name, "limit") == 0) {
		TU_STR(m, "limit must be an integer between 1 and 100");
		TU_INT(offset, 0);
	} else {
		TU_STR(m, "offset must be an integer between 0 and 1000000000");
		TU_INT(limit, 50);
	}
	req_done(&r);
}

static void test_paging_values(void)
{
	paging_ok("1", NULL, 1, 0);
	paging_ok("100", NULL, 100, 0);
	paging_ok("25", "75", 25, 75);
	paging_ok(NULL, "0", 50, 0);
	paging_ok(NULL, "1000000", 50, 1000000);
	paging_bad("limit", "0");
	paging_bad("limit", "101");
	paging_bad("limit", "-1");
	paging_bad("limit", "abc");
	paging_bad("limit", "");
	paging_bad("limit", "10abc");
	paging_bad("limit", "1.5");
	paging_bad("limit", "1e2");
	paging_bad("limit", "0x10");
	paging_bad("limit", "99999999999999999999999");
	paging_bad("offset", "-1");
	paging_bad("offset", "x");
	paging_bad("offset", "");
	paging_bad("offset", "-99999999999999999999999");

	/* both wrong: both named */
	struct req r;
	req_init(&r);
	q(&r, "limit", "0");
	q(&r, "offset", "-5");
	long long limit, offset;
	TU_INT(req_paging(&r, &limit, &offset), -1);
	TU_INT(nfields(&r), 2);
	TU_INT(nmsgs(&r, "limit"), 1);
	TU_INT(nmsgs(&r, "offset"), 1);
	req_done(&r);
}

static void test_query_int(void)
{
	struct req r;
	req_init(&r);
	q(&r, "n", "-7");
	q(&r, "big", "9223372036854775807");
	q(&r, "over", "9223372036854775808");
	long long v = 123;
	TU_INT(req_query_int(&r, "absent", 0, 10, &v), 0);
	TU_INT(v, 123); /* untouched */
	TU_INT(req_query_int(&r, "n", -10, 10, &v), 0);
	TU_INT(v, -7);
	TU_INT(req_query_int(&r, "big", 0, LLONG_MAX, &v), 0);
	TU_INT(v, LLONG_MAX);
	TU_INT(req_invalid(&r), 0);
	v = 5;
	TU_INT(req_query_int(&r, "n", 0, 10, &v), -1);
	TU_INT(v, 5);
	TU_STR(msg(&r, "n", 0), "n must be an integer between 0 and 10");
	/* a value beyond long long is not silently clamped to the maximum */
	v = 5;
	TU_INT(req_query_int(&r, "over", 0, LLONG_MAX, &v), -1);
	TU_INT(v, 5);
	req_done(&r);
}

static void test_query_bool(void)
{
	static const char *const bad[] = { "1", "0", "TRUE", "True", "yes", "", "false ", "t", NULL };
	struct req r;
	req_init(&r);
	q(&r, "t", "true");
	q(&r, "f", "false");
	int v = 7;
	TU_INT(req_query_bool(&r, "absent", &v), 0);
	TU_INT(v, 7);
	TU_INT(req_query_bool(&r, "t", &v), 0);
	TU_INT(v, 1);
	TU_INT(req_query_bool(&r, "f", &v), 0);
	TU_INT(v, 0);
	TU_INT(req_invalid(&r), 0);
	req_done(&r);
	for (int i = 0; bad[i]; i++) {
		req_init(&r);
		q(&r, "is_active", bad[i]);
		v = 7;
		TU_CHECK(req_query_bool(&r, "is_active", &v) == -1, "is_active=\"%s\" accepted", bad[i]);
		TU_INT(v, 7);
		TU_INT(req_invalid(&r), 1);
		TU_STR(msg(&r, "is_active", 0), "is_active must be true or false");
		req_done(&r);
	}
}

static void test_query_enum(void)
{
	static const char *const statuses[] = { "idle", "printing", "paused", NULL };
	struct req r;
	req_init(&r);
	q(&r, "status", "printing");
	q(&r, "bad", "Printing");
	q(&r, "empty", "");
	const char *out = "unset";
	TU_INT(req_query_enum(&r, "absent", statuses, &out), 0);
	TU_STR(out, "unset");
	TU_INT(req_query_enum(&r, "status", statuses, &out), 0);
	TU_STR(out, "printing");
	TU_INT(req_invalid(&r), 0);
	out = "unset";
	TU_INT(req_query_enum(&r, "bad", statuses, &out), -1);
	TU_STR(out, "unset");
	TU_STR(msg(&r, "bad", 0), "bad must be one of: idle, printing, paused");
	TU_INT(req_query_enum(&r, "empty", statuses, &out), -1);
	TU_INT(nfields(&r), 2);
	req_done(&r);
}

static void test_query_str(void)
{
	char e120[241], e121[243];
	for (int i = 0; i < 120; i++)
		memcpy(e120 + 2 * i, "\xc3\xa9", 2);
	e120[240] = '\0';
	memcpy(e121, e120, 240);
	memcpy(e121 + 240, "\xc3\xa9", 3);
	struct req r;
	req_init(&r);
	q(&r, "s", "abc");
	q(&r, "e", "");
	q(&r, "u120", e120);
	q(&r, "u121", e121);
	const char *out = "unset";
	TU_INT(req_query_str(&r, "absent", 1, 10, &out), 0);
	TU_STR(out, "unset");
	TU_INT(req_query_str(&r, "s", 1, 3, &out), 0);
	TU_STR(out, "abc");
	TU_INT(req_query_str(&r, "s", 3, 3, &out), 0);
	TU_INT(req_query_str(&r, "e", 0, 3, &out), 0);
	TU_STR(out, "");
	TU_INT(req_query_str(&r, "u120", 1, 120, &out), 0); /* 120 characters, 240 bytes */
	TU_INT(req_invalid(&r), 0);
	out = "unset";
	TU_INT(req_query_str(&r, "u121", 1, 120, &out), -1);
	TU_STR(out, "unset");
	TU_STR(msg(&r, "u121", 0), "u121 must be 1 to 120 characters");
	TU_INT(req_query_str(&r, "s", 4, 10, &out), -1);
	TU_INT(req_query_str(&r, "s", 1, 2, &out), -1);
	TU_INT(req_query_str(&r, "e", 1, 120, &out), -1);
	TU_INT(nmsgs(&r, "s"), 2); /* two problems on one parameter: one list */
	TU_INT(nfields(&r), 3);
	req_done(&r);
}

static void test_query_time(void)
{
	struct req r;
	req_init(&r);
	q(&r, "from", "2025-01-15");
	q(&r, "to", "2025-01-15T12:30:00.250+02:00");
	q(&r, "bad", "2025-02-30");
	q(&r, "junk", "yesterday");
	int64_t ms = 77;
	TU_INT(req_query_time(&r, "absent", &ms), 0);
	TU_INT(ms, 77);
	TU_INT(req_query_time(&r, "from", &ms), 0);
	TU_INT(ms, 1736899200000LL);
	TU_INT(req_query_time(&r, "to", &ms), 0);
	TU_INT(ms, 1736937000250LL);
	TU_INT(req_invalid(&r), 0);
	TU_INT(req_query_time(&r, "bad", &ms), -1);
	TU_INT(req_query_time(&r, "junk", &ms), -1);
	TU_STR(msg(&r, "bad", 0), "bad must be an ISO-8601 date or date-time");
	TU_INT(nfields(&r), 2);
	req_done(&r);
}

static void test_problem_and_body(void)
{
	struct req r;
	req_init(&r);
	TU_INT(req_invalid(&r), 0);
	req_problem(&r, "field", "value %d is %s", 5, "wrong");
	req_problem(&r, "field", "100%% wrong");
	TU_INT(req_invalid(&r), 1);
	TU_INT(nmsgs(&r, "field"), 2);
	TU_STR(msg(&r, "field", 0), "value 5 is wrong");
	TU_STR(msg(&r, "field", 1), "100% wrong");
	req_done(&r);

	static const struct jfield F[] = {
		{ "name", JF_STRING, JF_REQUIRED, 1, 10, { NULL } },
		JF_END
	};
	req_init(&r);
	r.body = json_pack("{s:s}", "name", "ok");
	TU_INT(req_check_body(&r, F), 0);
	TU_INT(req_invalid(&r), 0);
	req_done(&r);
	req_init(&r);
	r.body = json_pack("{s:i}", "name", 3);
	TU_INT(req_check_body(&r, F), 1);
	TU_INT(req_invalid(&r), 1);
	TU_STR(msg(&r, "name", 0), "name must be a string");
	req_done(&r);
	req_init(&r); /* no body at all (R_OPTBODY without one) */
	TU_INT(req_check_body(&r, F), 1);
	TU_INT(nmsgs(&r, "body"), 1);
	req_done(&r);
	/* query and body problems share one details object */
	req_init(&r);
	q(&r, "limit", "0");
	long long l, o;
	req_paging(&r, &l, &o);
	r.body = json_object();
	TU_INT(req_check_body(&r, F), 1);
	TU_INT(nfields(&r), 2);
	req_done(&r);
}

static void test_results(void)
{
	struct req r;
	req_init(&r);
	TU_INT(req_fail(&r, E_PRINTER_NOT_FOUND, "Printer %s not found", "p1"), E_PRINTER_NOT_FOUND);
	TU_STR(r.errmsg, "Printer p1 not found");
	char longarg[1000];
	memset(longarg, 'x', sizeof longarg - 1);
	longarg[sizeof longarg - 1] = '\0';
	TU_INT(req_fail(&r, E_INVALID_STATE, "%s", longarg), E_INVALID_STATE);
	TU_INT(strlen(r.errmsg), sizeof r.errmsg - 1); /* truncated, terminated */

	TU_INT(req_ok(&r, json_pack("{s:i}", "a", 1)), E_OK);
	TU_INT(r.status, 200);
	TU_INT(json_integer_value(json_object_get(r.data, "a")), 1);
	TU_INT(req_ok(&r, json_pack("{s:i}", "a", 2)), E_OK); /* replaces (ASan: no leak) */
	TU_INT(json_integer_value(json_object_get(r.data, "a")), 2);
	TU_INT(req_created(&r, json_object()), E_OK);
	TU_INT(r.status, 201);
	TU_INT(req_ok(&r, NULL), E_INTERNAL_ERROR); /* allocation failure upstream */
	req_done(&r);

	req_init(&r);
	json_t *rows = json_pack("[i,i,i]", 1, 2, 3);
	TU_INT(req_list(&r, rows, 10, 20), E_OK);
	TU_CHECK(r.data == rows, "req_list data");
	char *meta = json_dumps(r.meta, JSON_SORT_KEYS | JSON_COMPACT);
	TU_STR(meta, "{\"count\":3,\"limit\":10,\"offset\":20}");
	free(meta);
	TU_INT(req_list(&r, json_array(), 50, 0), E_OK); /* again: meta and data replaced */
	meta = json_dumps(r.meta, JSON_SORT_KEYS | JSON_COMPACT);
	TU_STR(meta, "{\"count\":0,\"limit\":50,\"offset\":0}");
	free(meta);
	req_done(&r);
}

static void test_headers(void)
{
	struct req r;
	req_init(&r);
	req_header(&r, "X-RateLimit-Limit: %d", 120);
	req_header(&r, "Allow: %s", "GET, PATCH");
	TU_STR(r.headers, "X-RateLimit-Limit: 120\r\nAllow: GET, PATCH\r\n");
	TU_INT(r.headers_len, strlen(r.headers));
	/* a header that does not fit is dropped whole; what was there stays */
	char big[3000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	size_t before = r.headers_len;
	req_header(&r, "X-Big: %s", big);
	TU_INT(r.headers_len, before);
	TU_STR(r.headers, "X-RateLimit-Limit: 120\r\nAllow: GET, PATCH\r\n");
	/* filling up exactly: the last line that fits with its CRLF and NUL is kept */
	req_init(&r);
	size_t room = sizeof r.headers; /* n + 2 + 1 <= room */
	char line[sizeof r.headers];
	memset(line, 'a', room - 3);
	line[room - 3] = '\0';
	req_header(&r, "%s", line);
	TU_INT(r.headers_len, room - 1);
	TU_INT(strlen(r.headers), room - 1);
	TU_CHECK(r.headers[room - 3] == '\r' && r.headers[room - 2] == '\n', "CRLF at the end");
	req_header(&r, "X: y"); /* full: ignored, still terminated */
	TU_INT(r.headers_len, room - 1);
	TU_INT(strlen(r.headers), room - 1);
	req_init(&r);
	memset(line, 'a', room - 2);
	line[room - 2] = '\0';
	req_header(&r, "%s", line); /* one byte too long */
	TU_INT(r.headers_len, 0);
	TU_STR(r.headers, "");
	req_done(&r);
}

int init_req_suite(void)
{
	CU_pSuite s = CU_add_suite("req", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_query_lookup);
	TU_ADD(s, test_paging_defaults);
	TU_ADD(s, test_paging_values);
	TU_ADD(s, test_query_int);
	TU_ADD(s, test_query_bool);
	TU_ADD(s, test_query_enum);
	TU_ADD(s, test_query_str);
	TU_ADD(s, test_query_time);
	TU_ADD(s, test_problem_and_body);
	TU_ADD(s, test_results);
	TU_ADD(s, test_headers);
	return 0;
}
