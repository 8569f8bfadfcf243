/* t_bodies.c - request bodies: invalid JSON, Content-Type, nesting depth, size (1 MiB), the
 * top level, duplicate keys, encoding, empty bodies, and where body parsing sits in the order
 * of checks. The target is PATCH /printers/{id} (and PUT .../maintenance). */
#include "apitest.h"

#include <stdlib.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"
#define MIB (1024 * 1024)

static const struct db_query Q_PRINTER_NAME = { "SELECT name FROM printers WHERE id = ?" };

struct target {
	struct tenant t;
	char hub[FX_ID], printer[FX_ID];
	char path[128], mpath[160];
};

static int make_target(struct target *x)
{
	if (fx_tenant(&x->t, "read,write") < 0 || fx_hub(x->t.account, "Body hub", x->hub) < 0 ||
	    fx_printer(x->t.account, x->hub, "Body printer", "P1S", x->printer) < 0)
		return -1;
	snprintf(x->path, sizeof x->path, "/printers/%s", x->printer);
	snprintf(x->mpath, sizeof x->mpath, "/printers/%s/maintenance", x->printer);
	return 0;
}

/* The stored name is still the fixture's (the row must exist). */
#define name_unchanged(x, want) DB_IS(&Q_PRINTER_NAME, (x)->printer, (want))

static void send_body(const struct target *x, const char *method, const char *path, const char *body,
		 size_t len, const char *ctype, struct resp *r)
{
	struct call c = { .method = method, .path = path, .key = x->t.key, .body = body,
			  .body_len = len, .content_type = ctype };
	api_call(&c, r);
}

static void test_invalid_json(void)
{
	static const char *const bad[] = {
		"{\"name\":", "{name: \"x\"}", "nul", "{\"name\":\"x\"} trailing", "{\"name\":'x'}",
		"{\"name\":\"x\",}", "{", "}",
	};
	struct target x;
	RESP(r);
	FX(make_target(&x));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("PATCH", x.path, x.t.key, bad[i], &r);
		EXPECT(r, 400, "INVALID_REQUEST");
	}
	api("PUT", x.mpath, x.t.key, "{\"in_maintenance\":tru}", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	name_unchanged(&x, "Body printer");
}

static void test_content_type(void)
{
	static const char *const refused[] = {
		"text/plain", "application/x-www-form-urlencoded", "", "application/jsonx",
		"application/xml", "multipart/form-data; boundary=x",
	};
	static const char *const accepted[] = {
		"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8",
	};
	struct target x;
	char body[64];
	RESP(r);
	FX(make_target(&x));
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		send_body(&x, "PATCH", x.path, "{\"name\":\"Wrong type\"}", 0, refused[i], &r);
		EXPECT(r, 400, "INVALID_REQUEST");
	}
	name_unchanged(&x, "Body printer");
	for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
		snprintf(body, sizeof body, "{\"name\":\"Typed %zu\"}", i);
		send_body(&x, "PATCH", x.path, body, 0, accepted[i], &r);
		if (EXPECT(r, 200, NULL))
			CHECK(strncmp(jstr(rdata(&r), "name"), "Typed", 5) == 0, &r, "renamed");
	}
}

/* {"name":"Deep","x":[[...]]} nested `depth` levels in all (the object is level 1). */
static char *nested(int depth)
{
	size_t n = (size_t)depth * 2 + 64;
	char *b = malloc(n);
	if (!b)
		abort();
	int o = snprintf(b, n, "{\"name\":\"Deep %d\",\"x\":", depth);
	for (int i = 1; i < depth; i++)
		b[o++] = '[';
	b[o++] = '1';
	for (int i = 1; i < depth; i++)
		b[o++] = ']';
	b[o++] = '}';
	b[o] = '\0';
	return b;
}

static void test_nesting_depth(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	static const int too_deep[] = { 33, 40, 1000 };
	for (int i = 0; i < 3; i++) {
		char *b = nested(too_deep[i]);
		api("PATCH", x.path, x.t.key, b, &r);
		EXPECT(r, 400, "INVALID_REQUEST");
		free(b);
	}
	name_unchanged(&x, "Body printer");
	/* 32 levels are accepted (unknown members are ignored) */
	char *b = nested(32);
	api("PATCH", x.path, x.t.key, b, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Deep 32", &r);
	free(b);
	/* brackets inside strings do not count */
	char *s = malloc(200);
	if (!s)
		abort();
	snprintf(s, 200, "{\"name\":\"Brackets\",\"notes\":\"%s\"}", rep(1, "[{", 40));
	api("PATCH", x.path, x.t.key, s, &r);
	EXPECT(r, 200, NULL);
	free(s);
}

/* A JSON object of exactly len bytes: {"name":"Big","pad":"aaa..."}. */
static char *sized(size_t len)
{
	static const char head[] = "{\"name\":\"Big\",\"pad\":\"";
	char *b = malloc(len + 1);
	if (!b)
		abort();
	size_t h = sizeof head - 1;
	memcpy(b, head, h);
	memset(b + h, 'a', len - h - 2);
	b[len - 2] = '"';
	b[len - 1] = '}';
	b[len] = '\0';
	return b;
}

static void test_body_size(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	char *big = sized(MIB + 1);
	api("PATCH", x.path, x.t.key, big, &r);
	EXPECT(r, 413, "PAYLOAD_TOO_LARGE");
	free(big);
	big = sized(3 * MIB);
	api("PATCH", x.path, x.t.key, big, &r);
	EXPECT(r, 413, "PAYLOAD_TOO_LARGE");
	free(big);
	name_unchanged(&x, "Body printer");
	/* exactly 1 MiB is allowed */
	big = sized(MIB);
	api("PATCH", x.path, x.t.key, big, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Big", &r);
	free(big);
}

static void test_top_level(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	api("PATCH", x.path, x.t.key, "[{\"name\":\"Array\"}]", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(json_is_array(rdetail(&r, "body")), &r, "details names body");
	api("PUT", x.mpath, x.t.key, "[true]", &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(json_is_array(rdetail(&r, "body")), &r, "details names body");
	name_unchanged(&x, "Body printer");
}

static void test_duplicate_keys(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	api("PATCH", x.path, x.t.key, "{\"name\":\"One\",\"name\":\"Two\"}", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	api("PATCH", x.path, x.t.key, "{\"name\":\"One\",\"x\":{\"k\":1,\"k\":2}}", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	api("PUT", x.mpath, x.t.key, "{\"in_maintenance\":true,\"in_maintenance\":false}", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	name_unchanged(&x, "Body printer");
}

static void test_encoding(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	/* invalid UTF-8 */
	api("PATCH", x.path, x.t.key, "{\"name\":\"bad \xff\xfe\"}", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	/* a NUL inside a string is refused: as unparseable (400) or as an invalid name (422) */
	api("PATCH", x.path, x.t.key, "{\"name\":\"nul\\u0000inside\"}", &r);
	const char *code = jstr(r.json, "code");
	CHECK((r.status == 400 && code && strcmp(code, "INVALID_REQUEST") == 0) ||
		      (r.status == 422 && json_is_array(rdetail(&r, "name"))),
	      &r, "\\u0000 in a name: 400 INVALID_REQUEST or 422 naming name");
	name_unchanged(&x, "Body printer");
	/* escapes and non-ASCII are fine */
	api("PATCH", x.path, x.t.key, "{\"name\":\"Caf\\u00e9 \xe2\x98\x85 \\\"q\\\"\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Caf\xc3\xa9 \xe2\x98\x85 \"q\"", &r);
}

static void test_empty_body(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	/* an empty body counts as {} */
	api("PATCH", x.path, x.t.key, NULL, &r);
	EXPECT(r, 400, "NO_UPDATES");
	send_body(&x, "PATCH", x.path, "  \r\n ", 0, NULL, &r);
	EXPECT(r, 400, "NO_UPDATES");
	api("PUT", x.mpath, x.t.key, NULL, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(json_is_array(rdetail(&r, "in_maintenance")), &r, "details names in_maintenance");
}

static void test_order_of_checks(void)
{
	struct target x;
	char readkey[FX_KEY];
	RESP(r);
	FX(make_target(&x));
	FX(fx_tenant_key(&x.t, "read", readkey));
	/* scope (403) before body parsing (400) */
	api("PATCH", x.path, readkey, "{broken", &r);
	EXPECT(r, 403, "INSUFFICIENT_SCOPE");
	/* body parsing (400) before the path id (404) */
	api("PATCH", "/printers/" NO_SUCH_ID, x.t.key, "{broken", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	send_body(&x, "PATCH", "/printers/" NO_SUCH_ID, "{\"name\":\"x\"}", 0, "text/plain", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	/* validation (422) before the path id (404) */
	api("PATCH", "/printers/" NO_SUCH_ID, x.t.key, "{\"name\":\"\"}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	api("PUT", "/printers/" NO_SUCH_ID "/maintenance", x.t.key, "{}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
	/* and a valid body on an unknown id: 404 */
	api("PATCH", "/printers/" NO_SUCH_ID, x.t.key, "{\"name\":\"x\"}", &r);
	EXPECT(r, 404, "PRINTER_NOT_FOUND");
}

static void test_body_ignored_on_get(void)
{
	struct target x;
	RESP(r);
	FX(make_target(&x));
	send_body(&x, "GET", "/printers", "this is not JSON", 0, "text/plain", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 1, &r);
	send_body(&x, "GET", x.path, "{\"name\":", 0, NULL, &r);
	EXPECT(r, 200, NULL);
	/* the connection is still in step afterwards */
	api("GET", x.path, x.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "id"), x.printer, &r);
}

int suite_bodies(void)
{
	CU_pSuite s = CU_add_suite("bodies", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_invalid_json);
	ADD_TEST(s, test_content_type);
	ADD_TEST(s, test_nesting_depth);
	ADD_TEST(s, test_body_size);
	ADD_TEST(s, test_top_level);
	ADD_TEST(s, test_duplicate_keys);
	ADD_TEST(s, test_encoding);
	ADD_TEST(s, test_empty_body);
	ADD_TEST(s, test_order_of_checks);
	ADD_TEST(s, test_body_ignored_on_get);
	return 0;
}
