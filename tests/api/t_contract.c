/* t_contract.c - the envelope, X-Request-Id, unknown routes (404), wrong methods (405 + Allow),
 * paths outside /v1, trailing slashes, response headers. */
#include "apitest.h"

#include "util.h"

#include <stdlib.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

/* The Allow header lists exactly the methods of want (any order). */
static int allow_is(const struct resp *r, const char *want)
{
	const char *got = resp_header(r, "Allow");
	return got && method_bits(got) == method_bits(want);
}

static void test_success_envelope(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	api("GET", "/printers", t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	CHECK(json_is_array(rdata(&r)), &r, "data of a list is an array");
	CHECK(json_array_size(rdata(&r)) == 0, &r, "a new account has no printers");
	CHECK(!json_object_get(r.json, "meta"), &r, "an unpaginated list has no meta");
	KEYS(r.json, ((const char *[]){ "success", "data", NULL }), &r);
	STR_EQ(resp_header(&r, "Content-Type"), "application/json; charset=utf-8", &r);
	STR_EQ(resp_header(&r, "Cache-Control"), "no-store", &r);
}

static void test_error_envelope(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	api("GET", "/printers/" NO_SUCH_ID, t.key, NULL, &r);
	if (!EXPECT(r, 404, "PRINTER_NOT_FOUND"))
		return;
	KEYS(r.json, ((const char *[]){ "success", "code", "error", NULL }), &r);
	STR_EQ(resp_header(&r, "Content-Type"), "application/json; charset=utf-8", &r);
	CHECK(!json_object_get(r.json, "message"), &r, "no top-level message member");
}

static void test_validation_envelope(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	api("GET", "/printers?status=bogus", t.key, NULL, &r);
	if (!EXPECT(r, 422, "VALIDATION_ERROR"))
		return;
	KEYS(r.json, ((const char *[]){ "success", "code", "error", "details", NULL }), &r);
	json_t *d = json_object_get(r.json, "details");
	CHECK(json_is_object(d) && json_object_size(d) == 1, &r, "details names one field");
	json_t *list = rdetail(&r, "status");
	CHECK(json_is_array(list) && json_array_size(list) >= 1 &&
		      json_is_string(json_array_get(list, 0)),
	      &r, "details.status is a list of messages");
	CHECK(jstr(r.json, "error") && strstr(jstr(r.json, "error"), "status"), &r,
	      "the message names the parameter");
}

static void test_request_id_echoed(void)
{
	static const char *const ids[] = {
		"abc", "A-b_c.9", "req-2026-11-27T21.40.31",
		"0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
	};
	struct tenant t;
	FX(fx_tenant(&t, "read"));
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		RESP(r);
		char h[128];
		snprintf(h, sizeof h, "X-Request-Id: %s", ids[i]);
		struct call ok = { .path = "/printers", .key = t.key, .headers = { h } };
		api_call(&ok, &r);
		EXPECT(r, 200, NULL);
		STR_EQ(resp_header(&r, "X-Request-Id"), ids[i], &r);
		INT_EQ(resp_header_count(&r, "X-Request-Id"), 1, &r);
		/* errors carry it too: 404 of a handler, 401, unknown route */
		struct call nf = { .path = "/printers/" NO_SUCH_ID, .key = t.key, .headers = { h } };
		api_call(&nf, &r);
		EXPECT(r, 404, "PRINTER_NOT_FOUND");
		STR_EQ(resp_header(&r, "X-Request-Id"), ids[i], &r);
		struct call ua = { .path = "/printers", .headers = { h } };
		api_call(&ua, &r);
		EXPECT(r, 401, "UNAUTHORIZED");
		STR_EQ(resp_header(&r, "X-Request-Id"), ids[i], &r);
		struct call nr = { .path = "/no-such-route", .key = t.key, .headers = { h } };
		api_call(&nr, &r);
		EXPECT(r, 404, "NOT_FOUND");
		STR_EQ(resp_header(&r, "X-Request-Id"), ids[i], &r);
	}
}

/* Ids generated for requests without a sane X-Request-Id: nginx's $request_id (32 hex). */
static int generated_id(const char *s)
{
	return s && strlen(s) == 32 && util_is_hex(s, 32);
}

static void test_request_id_generated(void)
{
	static const char *const bad[] = {
		"has space", "semi;colon", "slash/x", "quote\"x", "caf\xc3\xa9",
		"01234567890123456789012345678901234567890123456789012345678901234", /* 65 */
	};
	struct tenant t;
	RESP(r);
	RESP(r2);
	FX(fx_tenant(&t, "read"));
	api("GET", "/printers", t.key, NULL, &r);
	api("GET", "/printers", t.key, NULL, &r2);
	const char *a = resp_header(&r, "X-Request-Id"), *b = resp_header(&r2, "X-Request-Id");
	CHECK(generated_id(a), &r, "a generated X-Request-Id is 32 hex (got %s)", a ? a : "none");
	CHECK(a && b && strcmp(a, b) != 0, &r2, "two requests get two ids (%s, %s)", a ? a : "-",
	      b ? b : "-");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char h[128];
		snprintf(h, sizeof h, "X-Request-Id: %s", bad[i]);
		struct call c = { .path = "/printers", .key = t.key, .headers = { h } };
		api_call(&c, &r);
		EXPECT(r, 200, NULL);
		const char *got = resp_header(&r, "X-Request-Id");
		CHECK(generated_id(got), &r, "insane X-Request-Id \"%s\" replaced by a generated id, got %s",
		      bad[i], got ? got : "none");
	}
	/* an empty one too */
	struct call c = { .path = "/printers", .key = t.key, .headers = { "X-Request-Id;" } };
	api_call(&c, &r);
	const char *got = resp_header(&r, "X-Request-Id");
	CHECK(generated_id(got), &r, "empty X-Request-Id replaced by a generated id");
}

static void test_unknown_route(void)
{
	static const char *const paths[] = {
		"/no-such-route", "/printers/" NO_SUCH_ID "/nope", "/printers/a/b/c/d", "/",
		"/PRINTERS", "/hubs/" NO_SUCH_ID "/connection/extra",
	};
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read,write,control"));
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		api("GET", paths[i], t.key, NULL, &r);
		EXPECT(r, 404, "NOT_FOUND");
		CHECK(resp_header(&r, "X-Request-Id") != NULL, &r, "X-Request-Id on a 404");
	}
	/* the route is checked before the key: no key, still 404 */
	api("GET", "/no-such-route", NULL, NULL, &r);
	EXPECT(r, 404, "NOT_FOUND");
	api("POST", "/no-such-route", "apf_live_nonsense", "{}", &r);
	EXPECT(r, 404, "NOT_FOUND");
}

static void test_method_not_allowed(void)
{
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
		{ "DELETE", "/printers", "GET" },
		{ "POST", "/printers", "GET" },
		{ "PUT", "/printers/" NO_SUCH_ID, "GET, PATCH" },
		{ "DELETE", "/printers/" NO_SUCH_ID, "GET, PATCH" },
		{ "GET", "/printers/" NO_SUCH_ID "/maintenance", "PUT" },
		{ "PATCH", "/printers/" NO_SUCH_ID "/maintenance", "PUT" },
		{ "POST", "/hubs", "GET" },
		{ "DELETE", "/hubs/" NO_SUCH_ID, "GET" },
		{ "PUT", "/hubs/" NO_SUCH_ID "/connection", "GET" },
		{ "DELETE", "/printers/stats", "GET" },
		{ "OPTIONS", "/printers", "GET" },
		{ "PUT", "/jobs", "GET, POST" },
	};
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read,write,control"));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct call c = { .method = cases[i].method, .path = cases[i].path, .key = t.key };
		api_call(&c, &r);
		EXPECT(r, 405, "METHOD_NOT_ALLOWED");
		CHECK(allow_is(&r, cases[i].allow), &r, "Allow: want \"%s\", got \"%s\"", cases[i].allow,
		      resp_header(&r, "Allow") ? resp_header(&r, "Allow") : "(none)");
	}
	/* the route is checked before the key */
	api("DELETE", "/printers", NULL, NULL, &r);
	EXPECT(r, 405, "METHOD_NOT_ALLOWED");
	CHECK(allow_is(&r, "GET"), &r, "Allow: GET without a key too");
}

static void test_outside_v1(void)
{
	/* (nginx answers "/v1" itself with a redirect to "/v1/", which is a 404 below) */
	static const char *const paths[] = { "/", "/v2/printers", "/v1printers", "/api/v1/printers",
					     "/printers", "/V1/printers" };
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read"));
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct call c = { .path = paths[i], .from_origin = 1, .key = t.key };
		api_call(&c, &r);
		EXPECT(r, 404, "NOT_FOUND");
	}
}

static void test_trailing_slash(void)
{
	struct tenant t;
	char hub[FX_ID], p[FX_ID], path[256];
	RESP(a);
	RESP(b);
	FX(fx_tenant(&t, "read"));
	FX(fx_hub(t.account, "Slash hub", hub));
	FX(fx_printer(t.account, hub, "Slash printer", "P1S", p));
	api("GET", "/printers", t.key, NULL, &a);
	api("GET", "/printers/", t.key, NULL, &b);
	EXPECT(a, 200, NULL);
	EXPECT(b, 200, NULL);
	CHECK(json_equal(rdata(&a), rdata(&b)), &b, "/printers/ answers like /printers");
	INT_EQ(json_array_size(rdata(&b)), 1, &b);
	snprintf(path, sizeof path, "/printers/%s/", p);
	api("GET", path, t.key, NULL, &b);
	if (EXPECT(b, 200, NULL))
		STR_EQ(jstr(rdata(&b), "id"), p, &b);
	snprintf(path, sizeof path, "/hubs/%s/connection/", hub);
	api("GET", path, t.key, NULL, &b);
	if (EXPECT(b, 200, NULL))
		STR_EQ(jstr(rdata(&b), "id"), hub, &b);
	api("GET", "/printers/?search=Slash", t.key, NULL, &b);
	if (EXPECT(b, 200, NULL))
		INT_EQ(json_array_size(rdata(&b)), 1, &b);
	api("GET", "/hubs/", t.key, NULL, &b);
	if (EXPECT(b, 200, NULL))
		INT_EQ(json_array_size(rdata(&b)), 1, &b);
}

/* decisions.md: "Every response carries X-Request-Id" - also the 413 that nginx answers for a
 * JSON body over 1 MiB. */
static void test_request_id_on_413(void)
{
	struct tenant t;
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	size_t n = 1024 * 1024 + 100;
	char *big = malloc(n + 1);
	if (!big)
		abort();
	memset(big, ' ', n);
	memcpy(big, "{\"name\":\"x\"", 11);
	big[n - 1] = '}';
	big[n] = '\0';
	struct call c = { .method = "PATCH", .path = "/printers/" NO_SUCH_ID, .key = t.key,
			  .body = big, .headers = { "X-Request-Id: big-body-1" } };
	api_call(&c, &r);
	free(big);
	EXPECT(r, 413, "PAYLOAD_TOO_LARGE");
	STR_EQ(resp_header(&r, "X-Request-Id"), "big-body-1", &r);
}

int suite_contract(void)
{
	CU_pSuite s = CU_add_suite("contract", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_success_envelope);
	ADD_TEST(s, test_error_envelope);
	ADD_TEST(s, test_validation_envelope);
	ADD_TEST(s, test_request_id_echoed);
	ADD_TEST(s, test_request_id_generated);
	ADD_TEST(s, test_request_id_on_413);
	ADD_TEST(s, test_unknown_route);
	ADD_TEST(s, test_method_not_allowed);
	ADD_TEST(s, test_outside_v1);
	ADD_TEST(s, test_trailing_slash);
	return 0;
}
