/* t_scopes.c - scopes (403 INSUFFICIENT_SCOPE with the scope named), the order of checks on
 * unbuilt routes (401 -> 403 -> 501), and the whole route table of fcgi/routes.def: every
 * unbuilt row answers 501, every row refuses a key without its scope, every path answers 405
 * with the table's methods in Allow for a method it does not have. */
#include "apitest.h"

#include <stdlib.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static void expect_scope(const struct resp *r, const char *scope, const char *file,
			 unsigned line)
{
	char msg[96];
	snprintf(msg, sizeof msg, "API key missing required scope: %s", scope);
	if (at_expect(r, 403, "INSUFFICIENT_SCOPE", file, line))
		at_str(jstr(r->json, "error"), msg, "error", r, file, line);
	/* the key was valid: the request was counted */
	at_check(resp_header(r, "X-RateLimit-Remaining") != NULL, r, file, line,
		 "a 403 carries the X-RateLimit-* headers");
}
#define EXPECT_SCOPE(r, scope) expect_scope(&(r), (scope), __FILE__, __LINE__)

static const struct db_query Q_PRINTER_NAME = { "SELECT name FROM printers WHERE id = ?" };
static const struct db_query Q_PRINTER_MAINT = {
	"SELECT in_maintenance FROM printers WHERE id = ?"
};

struct world {
	struct tenant t;            /* key with read,write,control */
	char read[FX_KEY], write[FX_KEY], control[FX_KEY];
	char hub[FX_ID], printer[FX_ID];
	char ppath[128], mpath[128];
};

static int make_world(struct world *w)
{
	if (fx_tenant(&w->t, "read,write,control") < 0 || fx_tenant_key(&w->t, "read", w->read) < 0 ||
	    fx_tenant_key(&w->t, "write", w->write) < 0 ||
	    fx_tenant_key(&w->t, "control", w->control) < 0 ||
	    fx_hub(w->t.account, "Scope hub", w->hub) < 0 ||
	    fx_printer(w->t.account, w->hub, "Scope printer", "X1 Carbon", w->printer) < 0)
		return -1;
	snprintf(w->ppath, sizeof w->ppath, "/printers/%s", w->printer);
	snprintf(w->mpath, sizeof w->mpath, "/printers/%s/maintenance", w->printer);
	return 0;
}

static void test_read_only_key(void)
{
	struct world w;
	char name[128], maint[8];
	RESP(r);
	FX(make_world(&w));
	api("PATCH", w.ppath, w.read, "{\"name\":\"Changed\"}", &r);
	EXPECT_SCOPE(r, "write");
	api("PUT", w.mpath, w.read, "{\"in_maintenance\":true}", &r);
	EXPECT_SCOPE(r, "write");
	FX(FX_TEXT(name, Q_PRINTER_NAME, DS(w.printer)));
	STR_EQ(name, "Scope printer", NULL);
	FX(FX_TEXT(maint, Q_PRINTER_MAINT, DS(w.printer)));
	STR_EQ(maint, "0", NULL);
	/* every read works */
	static const char *const reads[] = { "/printers", "/printers/stats", "/hubs" };
	for (int i = 0; i < 3; i++) {
		api("GET", reads[i], w.read, NULL, &r);
		EXPECT(r, 200, NULL);
	}
	api("GET", w.ppath, w.read, NULL, &r);
	EXPECT(r, 200, NULL);
	/* control actions need control */
	char path[160];
	snprintf(path, sizeof path, "%s/control", w.ppath);
	api("POST", path, w.read, "{\"action\":\"pause\"}", &r);
	EXPECT_SCOPE(r, "control");
}

static void test_write_only_key(void)
{
	struct world w;
	char path[160];
	RESP(r);
	FX(make_world(&w));
	static const char *const reads[] = { "/printers", "/printers/stats", "/hubs", "/jobs" };
	for (int i = 0; i < 4; i++) {
		api("GET", reads[i], w.write, NULL, &r);
		EXPECT_SCOPE(r, "read");
	}
	api("GET", w.ppath, w.write, NULL, &r);
	EXPECT_SCOPE(r, "read");
	snprintf(path, sizeof path, "/hubs/%s", w.hub);
	api("GET", path, w.write, NULL, &r);
	EXPECT_SCOPE(r, "read");
	/* writes work */
	api("PATCH", w.ppath, w.write, "{\"location\":\"Rack 1\"}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "location"), "Rack 1", &r);
}

static void test_control_only_key(void)
{
	struct world w;
	char path[160];
	RESP(r);
	FX(make_world(&w));
	api("GET", "/printers", w.control, NULL, &r);
	EXPECT_SCOPE(r, "read");
	api("GET", w.ppath, w.control, NULL, &r);
	EXPECT_SCOPE(r, "read");
	api("PATCH", w.ppath, w.control, "{\"name\":\"Changed\"}", &r);
	EXPECT_SCOPE(r, "write");
	api("PUT", w.mpath, w.control, "{\"in_maintenance\":true}", &r);
	EXPECT_SCOPE(r, "write");
	/* a control route passes the scope check (then: the body is checked) */
	snprintf(path, sizeof path, "%s/light", w.ppath);
	api("POST", path, w.control, "{\"on\":true}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
}

/* ------------------------------------------------------------------ the whole route table */

struct route_row {
	char method[8];
	char path[160];
	char handler[64];
	char scope[16];
};

static const char *const METHODS[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };

static int method_index(const char *m)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(m, METHODS[i]) == 0)
			return i;
	return -1;
}

/* Parses the ROUTE(...) rows of routes.def. Returns the count, -1 when unreadable. */
static int load_routes(struct route_row *rows, int max, char *where, size_t wsize)
{
	const char *src = getenv("APF_SRC");
	snprintf(where, wsize, "%s/fcgi/routes.def", src && *src ? src : ".");
	FILE *f = fopen(where, "r");
	if (!f)
		return -1;
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f) && n < max) {
		struct route_row *r = &rows[n];
		if (sscanf(line, " ROUTE ( %7[A-Z] , \"%159[^\"]\" , %63[a-z_0-9] , %15[A-Z] ,",
			   r->method, r->path, r->handler, r->scope) == 4)
			n++;
	}
	fclose(f);
	return n;
}

/* A concrete path for a pattern: each {placeholder} becomes an id that exists nowhere. */
static void concrete(const char *pat, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = pat; *p && o + 40 < size;) {
		if (*p == '{') {
			o += (size_t)snprintf(out + o, size - o, "%s", NO_SUCH_ID);
			const char *close = strchr(p, '}');
			p = close ? close + 1 : p + strlen(p);
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

/* Same shape: same segments, any placeholder equal to any placeholder. */
static void shape_of(const char *pat, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = pat; *p && o + 4 < size;) {
		if (*p == '{') {
			out[o++] = '*';
			const char *close = strchr(p, '}');
			p = close ? close + 1 : p + strlen(p);
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

static void test_unbuilt_order(void)
{
	static struct route_row rows[400];
	char where[1024], path[512];
	struct world w;
	RESP(r);
	FX(make_world(&w));
	/* an unbuilt GET route of the table, while there is one */
	int n = load_routes(rows, 400, where, sizeof where);
	CHECK(n > 0, NULL, "cannot read the route table %s (set APF_SRC to the source tree)", where);
	for (int i = 0; i < n; i++) {
		if (strcmp(rows[i].handler, "unbuilt") != 0 || strcmp(rows[i].method, "GET") != 0 ||
		    strcmp(rows[i].scope, "READ") != 0)
			continue;
		concrete(rows[i].path, path, sizeof path);
		api("GET", path, w.read, NULL, &r);
		EXPECT(r, 501, "NOT_IMPLEMENTED");
		CHECK(resp_header(&r, "X-RateLimit-Limit") != NULL, &r,
		      "a 501 carries X-RateLimit-*");
		break;
	}
	/* 401 before 403 before the handler */
	api("POST", "/jobs/" NO_SUCH_ID "/pause", NULL, NULL, &r);
	EXPECT(r, 401, "UNAUTHORIZED");
	api("POST", "/jobs/" NO_SUCH_ID "/pause", "apf_live_0", NULL, &r);
	EXPECT(r, 401, "TOKEN_INVALID");
	api("POST", "/jobs/" NO_SUCH_ID "/pause", w.read, NULL, &r);
	EXPECT_SCOPE(r, "control");
	api("POST", "/jobs/" NO_SUCH_ID "/pause", w.write, NULL, &r);
	EXPECT_SCOPE(r, "control");
	api("POST", "/jobs/" NO_SUCH_ID "/pause", w.control, NULL, &r);
	EXPECT(r, 404, "JOB_NOT_FOUND");
	/* body parsing comes after the scope check and before the handler */
	api("POST", "/worklist", w.read, "{not json", &r);
	EXPECT_SCOPE(r, "write");
	api("POST", "/worklist", w.write, "{not json", &r);
	EXPECT(r, 400, "INVALID_REQUEST");
	api("POST", "/worklist", w.write, "{}", &r);
	EXPECT(r, 422, "VALIDATION_ERROR");
}

static const char *key_for_scope(const struct world *w, const char *scope)
{
	if (strcmp(scope, "READ") == 0)
		return w->read;
	if (strcmp(scope, "WRITE") == 0)
		return w->write;
	if (strcmp(scope, "CONTROL") == 0)
		return w->control;
	return NULL;
}

static void test_route_table(void)
{
	static struct route_row rows[400];
	char where[1024], path[512], lower[16];
	struct world w;
	struct tenant t2, t3, t4; /* keys holding all scopes but one */
	RESP(r);
	int n = load_routes(rows, 400, where, sizeof where);
	if (!CHECK(n > 0, NULL, "cannot read the route table %s (set APF_SRC to the source tree)",
		   where))
		return;
	FX(make_world(&w));
	FX(fx_tenant(&t2, "write,control"));
	FX(fx_tenant(&t3, "read,control"));
	FX(fx_tenant(&t4, "read,write"));
	int unbuilt = 0, built = 0, refused = 0, anyscope = 0;
	for (int i = 0; i < n; i++) {
		const struct route_row *row = &rows[i];
		concrete(row->path, path, sizeof path);
		int is_unbuilt = strcmp(row->handler, "unbuilt") == 0;
		/* with every scope */
		api(row->method, path, w.t.key, NULL, &r);
		if (is_unbuilt) {
			unbuilt++;
			if (EXPECT(r, 501, "NOT_IMPLEMENTED"))
				CHECK(strstr(jstr(r.json, "error"), row->path) != NULL, &r,
				      "the 501 message names the route %s", row->path);
		} else {
			built++;
			const char *code = jstr(r.json, "code");
			CHECK(r.status != 501 && r.status != 405 && r.status > 0 &&
				      r.status < 500 && !(code && strcmp(code, "NOT_FOUND") == 0),
			      &r, "built route %s %s (%s) is routed and answers", row->method,
			      row->path, row->handler);
		}
		/* without the route's scope */
		const char *skey = NULL;
		if (strcmp(row->scope, "READ") == 0)
			skey = t2.key;
		else if (strcmp(row->scope, "WRITE") == 0)
			skey = t3.key;
		else if (strcmp(row->scope, "CONTROL") == 0)
			skey = t4.key;
		if (skey) {
			snprintf(lower, sizeof lower, "%s", row->scope);
			for (char *p = lower; *p; p++)
				*p = (char)(*p - 'A' + 'a');
			api(row->method, path, skey, NULL, &r);
			EXPECT_SCOPE(r, lower);
			refused++;
			/* and a key with only that scope passes it */
			api(row->method, path, key_for_scope(&w, row->scope), NULL, &r);
			CHECK(r.status != 403, &r, "a %s key passes the scope check", lower);
		} else {
			/* ANY: a key with any single scope is enough */
			const char *single[] = { w.read, w.write, w.control };
			for (int k = 0; k < 3; k++) {
				api(row->method, path, single[k], NULL, &r);
				CHECK(r.status != 403 && r.status != 401, &r,
				      "%s %s accepts a key of any scope", row->method, row->path);
			}
			anyscope++;
		}
	}
	/* 405: for every path shape, a method the table does not have */
	char shapes[400][160];
	unsigned methods[400];
	int nshapes = 0, checked405 = 0;
	for (int i = 0; i < n; i++) {
		char s[160];
		shape_of(rows[i].path, s, sizeof s);
		int k = 0;
		while (k < nshapes && strcmp(shapes[k], s) != 0)
			k++;
		if (k == nshapes) {
			snprintf(shapes[nshapes], sizeof shapes[0], "%s", s);
			methods[nshapes++] = 0;
		}
		int mi = method_index(rows[i].method);
		if (mi >= 0)
			methods[k] |= 1u << mi;
	}
	for (int k = 0; k < nshapes; k++) {
		int miss = 0;
		while (miss < 5 && (methods[k] & (1u << miss)))
			miss++;
		if (miss == 5)
			continue;
		const struct route_row *row = NULL;
		for (int i = 0; i < n && !row; i++) {
			char s[160];
			shape_of(rows[i].path, s, sizeof s);
			if (strcmp(s, shapes[k]) == 0)
				row = &rows[i];
		}
		concrete(row->path, path, sizeof path);
		api(METHODS[miss], path, w.t.key, NULL, &r);
		if (EXPECT(r, 405, "METHOD_NOT_ALLOWED")) {
			const char *allow = resp_header(&r, "Allow");
			CHECK(allow && method_bits(allow) == methods[k], &r,
			      "Allow of %s: got \"%s\"", row->path, allow ? allow : "(none)");
		}
		checked405++;
	}
	printf("\n    route table %s: %d routes, %d unbuilt answered 501, %d built, %d refused "
	       "without their scope, %d of scope ANY, %d path shapes checked for 405 ... ",
	       where, n, unbuilt, built, refused, anyscope, checked405);
	fflush(stdout);
}

int suite_scopes(void)
{
	CU_pSuite s = CU_add_suite("scopes", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_read_only_key);
	ADD_TEST(s, test_write_only_key);
	ADD_TEST(s, test_control_only_key);
	ADD_TEST(s, test_unbuilt_order);
	ADD_TEST(s, test_route_table);
	return 0;
}
