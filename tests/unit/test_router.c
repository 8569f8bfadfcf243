/* test_router.c - the route table (fcgi/routes.def) and the matcher (fcgi/routes.c).
 * Trailing slashes are stripped by the dispatcher before route_match; not tested here. */
#include "tunit.h"

#include "routes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define BIT(m) (1u << (m))

/* route_match on a zeroed request; the caller frees r->segs (match_end). */
static const struct route *match(struct req *r, enum method m, const char *path, unsigned *allow)
{
	char buf[512];
	memset(r, 0, sizeof *r);
	snprintf(buf, sizeof buf, "%s", path);
	*allow = 0xdeadu; /* must be overwritten */
	const struct route *rt = route_match(r, m, buf, allow);
	TU_STR(buf, path); /* the path itself is never modified */
	return rt;
}

static void match_end(struct req *r)
{
	free(r->segs);
	r->segs = NULL;
}

static const struct route *find_route(enum method m, const char *path)
{
	for (unsigned i = 0; i < nroutes; i++)
		if (routes[i].method == m && strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

/* Path with every {placeholder} replaced by "{}". */
static void shape_of(const char *path, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = path; *p && o + 3 < size; p++) {
		if (*p == '{') {
			out[o++] = '{';
			out[o++] = '}';
			while (*p && *p != '}')
				p++;
			if (!*p)
				break;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

static void test_route_count(void)
{
	TU_INT(nroutes, 145); /* 131 of the specification, /openapi.json, 5 under /dispatch
				* (docs/dispatch.md), 8 under /webhooks (docs/webhooks.md) */
}

static void test_route_rows_well_formed(void)
{
	for (unsigned i = 0; i < nroutes; i++) {
		const struct route *rt = &routes[i];
		const char *p = rt->path;
		TU_CHECK(p && p[0] == '/', "row %u: path must start with '/': %s", i, p ? p : "(null)");
		if (!p || p[0] != '/')
			continue;
		TU_CHECK(strlen(p) > 1 && p[strlen(p) - 1] != '/', "row %u: bad end of path %s", i, p);
		TU_CHECK(strncmp(p, "/v1", 3) != 0, "row %u: path must be relative to /v1: %s", i, p);
		TU_CHECK((unsigned)rt->method < M__COUNT, "row %u: method %d", i, (int)rt->method);
		TU_CHECK(rt->fn != NULL, "row %u (%s): no handler", i, p);
		TU_CHECK(rt->handler_name && *rt->handler_name, "row %u (%s): no handler name", i, p);
		TU_CHECK(rt->scope == S_ANY || rt->scope == S_READ || rt->scope == S_WRITE ||
				 rt->scope == S_CONTROL,
			 "row %u (%s): scope %u is not exactly one scope", i, p, rt->scope);
		TU_CHECK((rt->flags & ~(R_BODY | R_OPTBODY | R_RAW | R_TXN | R_PUBLIC | R_OWNTXN |
					R_EXT | R_CACHE)) == 0,
			 "row %u (%s): unknown flags %#x", i, p, rt->flags);
		/* a handler with its own transactions cannot run in the route's */
		TU_CHECK(!(rt->flags & R_OWNTXN) ||
				 (!(rt->flags & R_TXN) &&
				  (rt->method == M_POST || rt->method == M_PATCH)),
			 "row %u (%s): R_OWNTXN with R_TXN or on a method without Idempotency-Key", i,
			 p);
		TU_CHECK(!(rt->flags & R_CACHE) || (rt->method == M_GET && !(rt->flags & R_PUBLIC)),
			 "row %u (%s): R_CACHE on a GET of an authenticated route only", i, p);
		unsigned body = rt->flags & (R_BODY | R_OPTBODY | R_RAW);
		TU_CHECK(body == 0 || body == R_BODY || body == R_OPTBODY || body == R_RAW,
			 "row %u (%s): more than one body mode (%#x)", i, p, body);
		if (rt->method == M_GET)
			TU_CHECK(body == 0, "row %u: GET %s reads a body", i, p);

		/* segments: non-empty; literal [a-z0-9-] (the last one may name a file: openapi.json);
		 * placeholder {name} with name [A-Za-z0-9_] */
		const char *s = p;
		int nph = 0;
		while (*s == '/') {
			s++;
			const char *e = strchr(s, '/');
			size_t n = e ? (size_t)(e - s) : strlen(s);
			TU_CHECK(n > 0, "row %u: empty segment in %s", i, p);
			if (n > 0 && s[0] == '{') {
				nph++;
				int ok = n >= 3 && s[n - 1] == '}';
				for (size_t k = 1; ok && k + 1 < n; k++)
					ok = isalnum((unsigned char)s[k]) || s[k] == '_';
				TU_CHECK(ok, "row %u: malformed placeholder in %s", i, p);
			} else {
				int ok = 1;
				for (size_t k = 0; ok && k < n; k++)
					ok = islower((unsigned char)s[k]) || isdigit((unsigned char)s[k]) ||
					     s[k] == '-' || (s[k] == '.' && !e && k > 0 && k + 1 < n);
				TU_CHECK(ok, "row %u: bad literal segment in %s", i, p);
			}
			s += n;
		}
		TU_CHECK(*s == '\0', "row %u: bad path %s", i, p);
		TU_CHECK(nph <= REQ_MAX_PARAMS, "row %u: %d placeholders > REQ_MAX_PARAMS", i, nph);
		/* the same placeholder name twice in one path would hide the second value */
		char names[REQ_MAX_PARAMS + 4][64];
		int nn = 0;
		for (const char *q = strchr(p, '{'); q && nn < REQ_MAX_PARAMS + 4; q = strchr(q + 1, '{')) {
			const char *qe = strchr(q, '}');
			if (!qe)
				break;
			snprintf(names[nn], sizeof names[nn], "%.*s", (int)(qe - q - 1), q + 1);
			for (int k = 0; k < nn; k++)
				TU_CHECK(strcmp(names[k], names[nn]) != 0, "row %u: {%s} twice in %s", i,
					 names[nn], p);
			nn++;
		}
	}
}

static void test_route_no_duplicate_method_shape(void)
{
	char a[256], b[256];
	int dups = 0;
	for (unsigned i = 0; i < nroutes; i++) {
		shape_of(routes[i].path, a, sizeof a);
		for (unsigned j = i + 1; j < nroutes; j++) {
			if (routes[i].method != routes[j].method)
				continue;
			shape_of(routes[j].path, b, sizeof b);
			if (strcmp(a, b) == 0) {
				dups++;
				TU_CHECK(0, "rows %u and %u: %s %s and %s have the same shape", i, j,
					 method_name(routes[i].method), routes[i].path, routes[j].path);
			}
		}
	}
	TU_INT(dups, 0);
}

/* Every row is reachable: its own pattern with placeholders filled in matches that row, and
 * every placeholder is bound (percent-decoded) under its own name. */
static void test_route_every_row_reachable(void)
{
	struct req r;
	unsigned allow;
	for (unsigned i = 0; i < nroutes; i++) {
		char path[512], name[64];
		size_t o = 0;
		int k = 0;
		for (const char *p = routes[i].path; *p && o + 16 < sizeof path; p++) {
			if (*p == '{') {
				o += (size_t)snprintf(path + o, sizeof path - o, "v%%2D%d", k++);
				while (*p && *p != '}')
					p++;
			} else {
				path[o++] = *p;
			}
		}
		path[o] = '\0';
		const struct route *rt = match(&r, routes[i].method, path, &allow);
		TU_CHECK(rt == &routes[i], "%s %s (from row %u %s) matched %s", method_name(routes[i].method),
			 path, i, routes[i].path, rt ? rt->path : "nothing");
		TU_CHECK(allow & BIT(routes[i].method), "%s: allow %#x lacks own method", path, allow);
		if (rt == &routes[i]) {
			TU_INT(r.nparams, k);
			k = 0;
			for (const char *q = strchr(rt->path, '{'); q; q = strchr(q + 1, '{')) {
				const char *qe = strchr(q, '}');
				char want[16];
				snprintf(name, sizeof name, "%.*s", (int)(qe - q - 1), q + 1);
				snprintf(want, sizeof want, "v-%d", k++);
				TU_CHECK(strcmp(req_param(&r, name), want) == 0, "%s: param %s = \"%s\", want %s",
					 rt->path, name, req_param(&r, name), want);
			}
		}
		match_end(&r);
	}
}

/* Scope rules (docs/api-conventions.md, "Scopes"): GET -> read; physical printer actions ->
 * control; the upload
 * PUT takes any scope; every other mutation -> write (check-availability is a read). The API's
 * description is public: no key, so no scope (docs/openapi.md). */
static void test_route_scopes(void)
{
	static const char *const control[] = {
		"/printers/{id}/control", "/printers/{id}/light", "/printers/{id}/temperature",
		"/printers/{id}/filament/load", "/printers/{id}/filament/unload", "/jobs/{id}/start",
		"/jobs/{id}/pause", "/jobs/{id}/resume", "/jobs/{id}/stop", "/jobs/{id}/cancel", NULL
	};
	int ncontrol = 0, nany = 0, npublic = 0;
	for (unsigned i = 0; i < nroutes; i++) {
		const struct route *rt = &routes[i];
		int is_control = 0;
		for (int k = 0; control[k]; k++)
			if (rt->method == M_POST && strcmp(rt->path, control[k]) == 0)
				is_control = 1;
		unsigned want;
		if (rt->flags & R_PUBLIC)
			want = S_ANY;
		else if (rt->method == M_GET)
			want = S_READ;
		else if (is_control)
			want = S_CONTROL;
		else if (rt->method == M_PUT && strcmp(rt->path, "/files/upload/{token}") == 0)
			want = S_ANY;
		else if (rt->method == M_POST &&
			 strcmp(rt->path, "/materials/components/check-availability") == 0)
			want = S_READ;
		else
			want = S_WRITE;
		TU_CHECK(rt->scope == want, "%s %s: scope %u, want %u", method_name(rt->method), rt->path,
			 rt->scope, want);
		ncontrol += rt->scope == S_CONTROL;
		nany += rt->scope == S_ANY && !(rt->flags & R_PUBLIC);
		npublic += (rt->flags & R_PUBLIC) != 0;
	}
	TU_INT(ncontrol, 10);
	TU_INT(nany, 1);
	TU_INT(npublic, 1);
}

static void expect_route(enum method m, const char *path, const char *want_pattern)
{
	struct req r;
	unsigned allow;
	const struct route *rt = match(&r, m, path, &allow);
	const struct route *want = find_route(m, want_pattern);
	TU_CHECK(want != NULL, "no row %s %s in the table", method_name(m), want_pattern);
	TU_CHECK(rt == want, "%s %s matched %s, want %s", method_name(m), path, rt ? rt->path : "nothing",
		 want_pattern);
	match_end(&r);
}

static void test_route_literal_beats_placeholder(void)
{
	expect_route(M_GET, "/jobs/stats", "/jobs/stats");
	expect_route(M_GET, "/jobs/history", "/jobs/history");
	expect_route(M_GET, "/printers/stats", "/printers/stats");
	expect_route(M_GET, "/skus/low-stock", "/skus/low-stock");
	expect_route(M_GET, "/inventory/stats", "/inventory/stats");
	expect_route(M_GET, "/inventory/alerts", "/inventory/alerts");
	expect_route(M_GET, "/wiki/categories", "/wiki/categories");
	expect_route(M_GET, "/worklist/stats", "/worklist/stats");
	expect_route(M_GET, "/orders/stats", "/orders/stats");
	expect_route(M_GET, "/assembly/stats", "/assembly/stats");
	expect_route(M_GET, "/products/categories", "/products/categories");
	expect_route(M_GET, "/products/components", "/products/components");
	expect_route(M_GET, "/colors/filament-types", "/colors/filament-types");
	expect_route(M_POST, "/products/kit", "/products/kit");
	expect_route(M_POST, "/files/upload-url", "/files/upload-url");
	expect_route(M_POST, "/files/parse-metadata", "/files/parse-metadata");
	expect_route(M_POST, "/materials/components/check-availability",
		     "/materials/components/check-availability");
	expect_route(M_PUT, "/products/p1/images/order", "/products/{id}/images/order");
	/* and the placeholder still takes everything else */
	expect_route(M_GET, "/jobs/abc", "/jobs/{id}");
	expect_route(M_GET, "/jobs/statsx", "/jobs/{id}");
	expect_route(M_GET, "/jobs/stat", "/jobs/{id}");
	expect_route(M_GET, "/wiki/my-article", "/wiki/{idOrSlug}");
	expect_route(M_GET, "/materials/components/c1", "/materials/components/{id}");
	expect_route(M_GET, "/products/p1/images/img1", "/products/{id}/images/{imageId}");
	expect_route(M_DELETE, "/products/p1/images/img1", "/products/{id}/images/{imageId}");
}

static void test_route_params_bound(void)
{
	struct req r;
	unsigned allow;
	const struct route *rt = match(&r, M_GET, "/jobs/abc", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/jobs/{id}") == 0, "GET /jobs/abc -> %s", rt ? rt->path : "-");
	TU_INT(r.nparams, 1);
	TU_STR(req_param(&r, "id"), "abc");
	TU_STR(req_param(&r, "i"), "");     /* a prefix of a name is not that name */
	TU_STR(req_param(&r, "idx"), "");
	TU_STR(req_param(&r, "token"), ""); /* unknown name: "", never NULL */
	match_end(&r);

	rt = match(&r, M_GET, "/inventory/by-sku/X", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/inventory/by-sku/{skuId}") == 0, "by-sku -> %s",
		 rt ? rt->path : "-");
	TU_STR(req_param(&r, "skuId"), "X");
	TU_STR(req_param(&r, "id"), "");
	match_end(&r);

	rt = match(&r, M_GET, "/inventory/by-sku", &allow); /* an item whose id is "by-sku" */
	TU_CHECK(rt && strcmp(rt->path, "/inventory/{id}") == 0, "inventory/by-sku -> %s",
		 rt ? rt->path : "-");
	TU_STR(req_param(&r, "id"), "by-sku");
	match_end(&r);

	rt = match(&r, M_GET, "/wiki/how-to", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/wiki/{idOrSlug}") == 0, "wiki -> %s", rt ? rt->path : "-");
	TU_STR(req_param(&r, "idOrSlug"), "how-to");
	TU_STR(req_param(&r, "id"), "");
	TU_INT(allow, BIT(M_GET) | BIT(M_PATCH)); /* {idOrSlug} and {id} are one shape */
	match_end(&r);

	rt = match(&r, M_PATCH, "/wiki/w1", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/wiki/{id}") == 0, "PATCH wiki -> %s", rt ? rt->path : "-");
	TU_STR(req_param(&r, "id"), "w1");
	match_end(&r);

	rt = match(&r, M_POST, "/orders/o-1/items/it-2/fulfill", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/orders/{id}/items/{itemId}/fulfill") == 0, "fulfill -> %s",
		 rt ? rt->path : "-");
	TU_INT(r.nparams, 2);
	TU_STR(req_param(&r, "id"), "o-1");
	TU_STR(req_param(&r, "itemId"), "it-2");
	match_end(&r);

	rt = match(&r, M_PUT, "/files/f1/versions/3/current", &allow);
	TU_CHECK(rt != NULL, "versions current");
	TU_STR(req_param(&r, "id"), "f1");
	TU_STR(req_param(&r, "version"), "3");
	match_end(&r);

	/* matching twice with the same request replaces the bound parameters (no leak: ASan) */
	memset(&r, 0, sizeof r);
	char p1[] = "/skus/s1/bom", p2[] = "/products/p9/images/i9";
	rt = route_match(&r, M_GET, p1, &allow);
	TU_STR(req_param(&r, "id"), "s1");
	rt = route_match(&r, M_DELETE, p2, &allow);
	TU_CHECK(rt != NULL, "second match");
	TU_INT(r.nparams, 2);
	TU_STR(req_param(&r, "id"), "p9");
	TU_STR(req_param(&r, "imageId"), "i9");
	match_end(&r);
}

static void expect_405(enum method m, const char *path, unsigned want_allow)
{
	struct req r;
	unsigned allow;
	const struct route *rt = match(&r, m, path, &allow);
	TU_CHECK(rt == NULL, "%s %s matched %s, want 405", method_name(m), path, rt ? rt->path : "");
	TU_CHECK(allow == want_allow, "%s %s: allow %#x, want %#x", method_name(m), path, allow,
		 want_allow);
	match_end(&r);
}

static void test_route_method_not_allowed(void)
{
	expect_405(M_DELETE, "/printers", BIT(M_GET));
	expect_405(M_POST, "/printers", BIT(M_GET));
	expect_405(M_PATCH, "/printers/stats", BIT(M_GET));
	expect_405(M_POST, "/printers/p1", BIT(M_GET) | BIT(M_PATCH));
	expect_405(M_DELETE, "/printers/p1", BIT(M_GET) | BIT(M_PATCH));
	expect_405(M_GET, "/printers/p1/control", BIT(M_POST));
	expect_405(M_GET, "/printers/p1/maintenance", BIT(M_PUT));
	expect_405(M_DELETE, "/jobs", BIT(M_GET) | BIT(M_POST));
	expect_405(M_POST, "/jobs/stats", BIT(M_GET));
	expect_405(M_PUT, "/products/p1/components", BIT(M_GET) | BIT(M_POST) | BIT(M_DELETE));
	expect_405(M_PATCH, "/products/p1/images/i1", BIT(M_GET) | BIT(M_DELETE));
	expect_405(M_GET, "/materials/components/check-availability", BIT(M_POST));
	expect_405(M_GET, "/files/upload/tok", BIT(M_PUT));
	expect_405(M_POST, "/files/f1/versions/2/current", BIT(M_PUT));
	expect_405(M_DELETE, "/wiki/w1", BIT(M_GET) | BIT(M_PATCH));
	expect_405(M_GET, "/skus/s1/adjust", BIT(M_POST));
	expect_405(M_POST, "/skus/s1/bom", BIT(M_GET) | BIT(M_PUT));
}

static void expect_404(enum method m, const char *path)
{
	struct req r;
	unsigned allow;
	const struct route *rt = match(&r, m, path, &allow);
	TU_CHECK(rt == NULL, "%s \"%s\" matched %s, want 404", method_name(m), path, rt ? rt->path : "");
	TU_CHECK(allow == 0, "%s \"%s\": allow %#x, want 0", method_name(m), path, allow);
	match_end(&r);
}

static void test_route_unknown(void)
{
	expect_404(M_GET, "/nope");
	expect_404(M_GET, "/");
	expect_404(M_GET, "");
	expect_404(M_GET, "printers");
	expect_404(M_GET, "/v1/printers");
	expect_404(M_GET, "/Printers");
	expect_404(M_GET, "/printers/p1/bogus");
	expect_404(M_GET, "/printers/p1/status/extra");
	expect_404(M_GET, "/printers//status");
	expect_404(M_GET, "//printers");
	expect_404(M_POST, "/jobs/j1/explode");
	expect_404(M_GET, "/hubsx");
	expect_404(M_GET, "/hub");
	expect_404(M_DELETE, "/orders/o1/items/i1");
}

static void test_route_percent_decoding(void)
{
	struct req r;
	unsigned allow;
	const struct route *rt = match(&r, M_PUT, "/files/upload/a%2Fb", &allow);
	TU_CHECK(rt && strcmp(rt->path, "/files/upload/{token}") == 0, "upload -> %s",
		 rt ? rt->path : "-");
	TU_STR(req_param(&r, "token"), "a/b"); /* split first, then decoded */
	match_end(&r);

	rt = match(&r, M_PUT, "/files/upload/a+b%20c", &allow);
	TU_CHECK(rt != NULL, "upload with +");
	TU_STR(req_param(&r, "token"), "a+b c"); /* '+' is not a space in a path */
	match_end(&r);

	rt = match(&r, M_GET, "/jobs/%41%62%2d%7A", &allow);
	TU_CHECK(rt != NULL, "jobs hex");
	TU_STR(req_param(&r, "id"), "Ab-z");
	match_end(&r);

	rt = match(&r, M_GET, "/jobs/%zz%4", &allow); /* malformed escapes are kept */
	TU_CHECK(rt != NULL, "jobs malformed");
	TU_STR(req_param(&r, "id"), "%zz%4");
	match_end(&r);

	rt = match(&r, M_POST, "/orders/a%2F1/items/b%252/fulfill", &allow);
	TU_CHECK(rt != NULL, "two encoded params");
	TU_STR(req_param(&r, "id"), "a/1");
	TU_STR(req_param(&r, "itemId"), "b%2"); /* decoded once only */
	match_end(&r);
}

static void test_url_decode(void)
{
	char a[] = "a+b%2Bc%20d", b[] = "a+b%2Bc%20d", c[] = "%", d[] = "%4", e[] = "%%41x",
	     f[] = "%e2%82%AC", g[] = "", h[] = "abc%";
	url_decode(a, 1);
	TU_STR(a, "a b+c d");
	url_decode(b, 0);
	TU_STR(b, "a+b+c d");
	url_decode(c, 1);
	TU_STR(c, "%");
	url_decode(d, 1);
	TU_STR(d, "%4");
	url_decode(e, 1);
	TU_STR(e, "%Ax");
	url_decode(f, 0);
	TU_STR(f, "\xe2\x82\xac");
	url_decode(g, 1);
	TU_STR(g, "");
	url_decode(h, 1);
	TU_STR(h, "abc%");
}

static void test_method_names(void)
{
	TU_INT(method_parse("GET"), M_GET);
	TU_INT(method_parse("POST"), M_POST);
	TU_INT(method_parse("PUT"), M_PUT);
	TU_INT(method_parse("PATCH"), M_PATCH);
	TU_INT(method_parse("DELETE"), M_DELETE);
	TU_INT(method_parse("get"), -1); /* methods are case-sensitive */
	TU_INT(method_parse("HEAD"), -1);
	TU_INT(method_parse("OPTIONS"), -1);
	TU_INT(method_parse(""), -1);
	TU_INT(method_parse(NULL), -1);
	for (int m = 0; m < M__COUNT; m++)
		TU_INT(method_parse(method_name((enum method)m)), m);
	TU_STR(method_name(M__COUNT), "?");
	TU_STR(method_name((enum method)-1), "?");
}

/* The path the dispatcher logs: parameters filled in, the upload token never. */
static void test_route_log_path(void)
{
	static const char TOKEN[] = "MTc5NjYwOTg4NTpiZjRk.KHqgqEBPPyVvB4XIVfKugwrQcmzSq4bB2GjHz3PosKw";
	struct req r;
	unsigned allow;
	char path[256], out[256], small[12];
	snprintf(path, sizeof path, "/files/upload/%s", TOKEN);
	const struct route *rt = match(&r, M_PUT, path, &allow);
	TU_CHECK(rt != NULL, "PUT %s matches", path);
	r.route = rt;
	r.path = path;
	TU_STR(req_log_path(&r, out, sizeof out), "/files/upload/<redacted>");
	TU_CHECK(!strstr(out, "KHqgqEBP"), "no part of the token");
	TU_STR(req_log_path(&r, small, sizeof small), "/files/uplo"); /* cut, still terminated */
	match_end(&r);
	const char *id = "0d9f3a52-8e0a-4d4b-9a31-2b6f1f0c7e55";
	snprintf(path, sizeof path, "/files/%s/versions/2/current", id);
	rt = match(&r, M_PUT, path, &allow);
	TU_CHECK(rt != NULL, "PUT %s matches", path);
	r.route = rt;
	r.path = path;
	TU_STR(req_log_path(&r, out, sizeof out), path);
	match_end(&r);
	memset(&r, 0, sizeof r);
	r.path = "/no/such/route";
	TU_STR(req_log_path(&r, out, sizeof out), "/no/such/route");
}

int init_router_suite(void)
{
	CU_pSuite s = CU_add_suite("router", NULL, NULL);
	if (!s)
		return -1;
	TU_ADD(s, test_route_count);
	TU_ADD(s, test_route_rows_well_formed);
	TU_ADD(s, test_route_no_duplicate_method_shape);
	TU_ADD(s, test_route_every_row_reachable);
	TU_ADD(s, test_route_scopes);
	TU_ADD(s, test_route_literal_beats_placeholder);
	TU_ADD(s, test_route_params_bound);
	TU_ADD(s, test_route_method_not_allowed);
	TU_ADD(s, test_route_unknown);
	TU_ADD(s, test_route_percent_decoding);
	TU_ADD(s, test_url_decode);
	TU_ADD(s, test_method_names);
	TU_ADD(s, test_route_log_path);
	return 0;
}
