/* t_openapi.c - the API describes itself (docs/openapi.md):
 *   - GET /v1/openapi.json answers the OpenAPI 3.1 document without a key (and with a bad one:
 *     no key is looked at, no request counted), exactly what `apf-gendocs openapi` generates;
 *   - it describes every row of fcgi/routes.def, once each;
 *   - nginx serves the interactive docs at /docs/: the page, its scripts and styles.
 * Whether every response of the suites matches the document is checked after the run by
 * tests/openapi_check.py (scripts/test.sh). */
#include "apitest.h"

#include <stdlib.h>

/* The document apf-gendocs generates (new reference) or NULL. */
static json_t *generated(void)
{
	const char *bin = getenv("APF_BIN");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s/apf-gendocs' openapi", bin && *bin ? bin : "build/bin");
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	json_t *doc = json_loadf(p, 0, NULL);
	if (pclose(p) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ROUTE rows of routes.def, or -1. */
static int route_rows(void)
{
	const char *src = getenv("APF_SRC");
	char path[1024], line[512];
	snprintf(path, sizeof path, "%s/fcgi/routes.def", src && *src ? src : ".");
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(line, sizeof line, f))
		n += strncmp(line, "ROUTE(", 6) == 0;
	fclose(f);
	return n;
}

static void test_served_without_key(void)
{
	RESP(r);
	const char *auths[] = { "", "Bearer apf_live_0" };
	for (int i = 0; i < 2; i++) {
		struct call c = { .path = "/openapi.json", .auth = auths[i] };
		api_call(&c, &r);
		CHECK(r.status == 200, &r, "GET /v1/openapi.json answers 200 (Authorization: '%s')",
		      auths[i]);
		const char *ct = resp_header(&r, "Content-Type");
		CHECK(ct && strncmp(ct, "application/json", 16) == 0, &r, "JSON, not %s",
		      ct ? ct : "(none)");
		CHECK(!resp_header(&r, "X-RateLimit-Limit"), &r, "no key was counted");
		STR_EQ(jstr(r.json, "openapi"), "3.1.0", &r);
	}
	json_t *gen = generated();
	if (CHECK(gen != NULL, NULL, "apf-gendocs openapi runs (APF_BIN)"))
		CHECK(json_equal(gen, r.json), &r, "the served document is the generated one");
	json_decref(gen);
}

static void test_every_route(void)
{
	RESP(r);
	api("GET", "/openapi.json", NULL, NULL, &r);
	int rows = route_rows(), ops = 0;
	CHECK(rows > 0, NULL, "fcgi/routes.def readable (set APF_SRC to the source tree)");
	const char *path, *m;
	json_t *item, *op;
	json_object_foreach(json_object_get(r.json, "paths"), path, item) {
		json_object_foreach(item, m, op) {
			ops++;
			CHECK(json_object_get(op, "responses") && json_object_get(op, "x-scope"), &r,
			      "%s %s has responses and x-scope", m, path);
		}
	}
	INT_EQ(ops, rows, &r);
	INT_EQ(jint(json_object_get(r.json, "x-counts"), "operations"), rows, &r);
}

static void test_docs_page(void)
{
	static const struct {
		const char *path, *type, *holds;
	} files[] = {
		{ "/docs/", "text/html", "swagger-ui-bundle.js" },
		{ "/docs/index.html", "text/html", "apf-docs.js" },
		{ "/docs/apf-docs.js", "application/javascript", "/v1/openapi.json" },
		{ "/docs/swagger-ui-bundle.js", "application/javascript", "SwaggerUIBundle" },
		{ "/docs/swagger-ui-standalone-preset.js", "application/javascript", "" },
		{ "/docs/swagger-ui.css", "text/css", ".swagger-ui" },
	};
	RESP(r);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		struct call c = { .path = files[i].path, .from_origin = 1 };
		api_call(&c, &r);
		CHECK(r.status == 200 && r.len > 0, &r, "%s answers 200 with a body", files[i].path);
		const char *ct = resp_header(&r, "Content-Type");
		CHECK(ct && strncmp(ct, files[i].type, strlen(files[i].type)) == 0, &r,
		      "%s is %s, not %s", files[i].path, files[i].type, ct ? ct : "(none)");
		CHECK(r.body && strstr(r.body, files[i].holds), &r, "%s holds %s", files[i].path,
		      files[i].holds);
	}
	struct call c = { .path = "/docs", .from_origin = 1 };
	api_call(&c, &r);
	CHECK(r.status == 301, &r, "/docs redirects");
	const char *loc = resp_header(&r, "Location");
	CHECK(loc && strcmp(loc, "/docs/") == 0, &r, "to /docs/ on this origin, not %s",
	      loc ? loc : "(none)");
}

int suite_openapi(void)
{
	CU_pSuite s = CU_add_suite("openapi", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_served_without_key);
	ADD_TEST(s, test_every_route);
	ADD_TEST(s, test_docs_page);
	return 0;
}
