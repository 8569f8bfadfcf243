/* t_products.c - GET/POST /products, GET/PATCH /products/{id}, GET /products/categories:
 * exact projections (the manufacturing wiring, wiki_id and the kit columns never appear),
 * values, order, filters and paging, internal kit parts hidden, the detail's SKUs,
 * components, gallery and kit, DUPLICATE_NAME, the wiki link checked, refused fields and bad
 * input (422 naming the field, nothing written), NO_UPDATES, 404 for another account's ids,
 * and scopes. */
#include "apitest.h"

#include "util.h"

#include <stdlib.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const PRODUCT_KEYS[] = {
	"id", "name", "description", "category", "requires_assembly", "requires_post_processing",
	"image_url", "images", "is_active", "created_at", "updated_at", NULL
};
static const char *const PRODUCT_DETAIL_KEYS[] = {
	"id", "name", "description", "category", "requires_assembly", "requires_post_processing",
	"image_url", "images", "is_active", "created_at", "updated_at", "kit", "skus",
	"components", NULL
};
static const char *const SKU_EMBEDDED_KEYS[] = {
	"id", "sku", "color", "filament_type", "hex_code", "quantity", "stock_level",
	"low_stock_threshold", "is_active", "is_composite", "created_at", "updated_at", NULL
};
static const char *const COMPONENT_KEYS[] = {
	"id", "component_name", "component_type", "quantity_required", "notes", NULL
};
static const char *const IMAGE_KEYS[] = { "id", "sort_order", "url", NULL };

static const struct db_query Q_COUNT_PRODUCTS = {
	"SELECT COUNT(*) FROM products WHERE account_id = ?"
};
static const struct db_query Q_PRODUCT_WIKI = {
	"SELECT IFNULL(wiki_id, '') FROM products WHERE id = ?"
};
static const struct db_query Q_PRODUCT_NAME = { "SELECT name FROM products WHERE id = ?" };
static const struct db_query Q_WIRING = {
	"UPDATE products SET printer_priority = '[\"secret-printer\"]', file_name = 'secret.3mf'"
	" WHERE id = ?"
};
static const struct db_query Q_PART = {
	"INSERT INTO products (id, account_id, name, category, product_type, kit_product_id,"
	" quantity_per_kit) VALUES (?, ?, ?, ?, 'kit_part', ?, 2)"
};
static const struct db_query Q_WIKI = {
	"INSERT INTO wiki_articles (id, account_id, title, slug) VALUES (?, ?, 'Guide', ?)"
};
static const struct db_query Q_COMPONENT = {
	"INSERT INTO product_components (id, account_id, product_id, component_name,"
	" component_type, quantity_required, notes) VALUES (?, ?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_IMAGE = {
	"INSERT INTO product_images (id, account_id, product_id, storage_key, content_type,"
	" size_bytes, sort_order) VALUES (?, ?, ?, 'k', 'image/png', 10, ?)"
};

/* ProductSummary members and their types. */
static void summary_types(const json_t *p, const struct resp *r, const char *file, unsigned line)
{
	at_check(util_is_uuid(jstr(p, "id")), r, file, line, "id is a UUID");
	at_check(json_is_string(json_object_get(p, "name")), r, file, line, "name is a string");
	at_check(jbool(p, "requires_assembly") >= 0 && jbool(p, "requires_post_processing") >= 0 &&
			 jbool(p, "is_active") >= 0,
		 r, file, line, "flags are booleans");
	at_check(json_is_array(json_object_get(p, "images")), r, file, line, "images is an array");
	at_check(is_iso_ms(jstr(p, "created_at")) && is_iso_ms(jstr(p, "updated_at")), r, file,
		 line, "timestamps are ISO-8601 ms Z");
	at_check(r->body && !strstr(r->body, "secret") && !strstr(r->body, "printer_priority") &&
			 !strstr(r->body, "print_file_id") && !strstr(r->body, "wiki_id") &&
			 !strstr(r->body, "account_id") && !strstr(r->body, "product_type"),
		 r, file, line, "no wiring, wiki link, account or kind member");
}
#define SUMMARY_TYPES(p, r) summary_types((p), &(r), __FILE__, __LINE__)

static void test_create(void)
{
	struct tenant t;
	char id[FX_ID], wiki[FX_ID], stored[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	api("POST", "/products", t.key,
	    "{\"name\":\"Desk Lamp\",\"description\":\"A lamp\",\"category\":\"Lighting\","
	    "\"requires_assembly\":true,\"is_active\":false,\"unknown\":1}",
	    &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *p = rdata(&r);
	KEYS(p, PRODUCT_KEYS, &r);
	SUMMARY_TYPES(p, r);
	STR_EQ(jstr(p, "name"), "Desk Lamp", &r);
	STR_EQ(jstr(p, "description"), "A lamp", &r);
	STR_EQ(jstr(p, "category"), "Lighting", &r);
	INT_EQ(jbool(p, "requires_assembly"), 1, &r);
	INT_EQ(jbool(p, "requires_post_processing"), 0, &r);
	INT_EQ(jbool(p, "is_active"), 1, &r); /* always active when created */
	CHECK(json_is_null(json_object_get(p, "image_url")), &r, "no gallery: image_url null");
	INT_EQ(json_array_size(json_object_get(p, "images")), 0, &r);
	/* the name is unique in the account, not across accounts */
	api("POST", "/products", t.key, "{\"name\":\"Desk Lamp\"}", &r);
	if (EXPECT(r, 409, "DUPLICATE_NAME"))
		CHECK(strstr(jstr(r.json, "error"), "Desk Lamp") != NULL, &r, "message names it");
	INT_EQ(fx_count(&Q_COUNT_PRODUCTS, t.account), 1, NULL);
	struct tenant o;
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(o.key, "/products", "{\"name\":\"Desk Lamp\"}", id));
	/* an internal kit part does not hold the name */
	FX(fx_uuid(id));
	FX(FX_SQL(Q_PART, DS(id), DS(t.account), DS("Base"), DNULL, DNULL));
	FX(fx_created(t.key, "/products", "{\"name\":\"Base\"}", id));
	/* the wiki link: the account's article, checked, stored, not echoed */
	FX(fx_uuid(wiki));
	FX(FX_SQL(Q_WIKI, DS(wiki), DS(t.account), DS(wiki)));
	char body[256];
	snprintf(body, sizeof body, "{\"name\":\"With guide\",\"wiki_id\":\"%s\"}", wiki);
	api("POST", "/products", t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		KEYS(rdata(&r), PRODUCT_KEYS, &r);
		if (FX_TEXT(stored, Q_PRODUCT_WIKI, DS(jstr(rdata(&r), "id"))) == 0)
			STR_EQ(stored, wiki, &r);
	}
	/* another account's article is unknown */
	snprintf(body, sizeof body, "{\"name\":\"Foreign guide\",\"wiki_id\":\"%s\"}", wiki);
	api("POST", "/products", o.key, body, &r);
	EXPECT(r, 404, "ARTICLE_NOT_FOUND");
	INT_EQ(fx_count(&Q_COUNT_PRODUCTS, o.account), 1, NULL);
}

/* Bodies refused by create and/or update: 422 naming the field. */
struct bad_body {
	const char *body, *field;
	int ops;    /* 1: refused by POST, 2: by PATCH */
};
static const struct bad_body BAD_BODIES[] = {
	{ "{\"description\":\"no name\"}", "name", 1 },
	{ "{\"name\":\"\"}", "name", 3 },
	{ "{\"name\":12}", "name", 3 },
	{ "{\"name\":null}", "name", 3 },
	{ "{\"name\":\"ok\",\"description\":7}", "description", 3 },
	{ "{\"name\":\"ok\",\"category\":[]}", "category", 3 },
	{ "{\"name\":\"ok\",\"requires_assembly\":\"yes\"}", "requires_assembly", 3 },
	{ "{\"name\":\"ok\",\"requires_post_processing\":1}", "requires_post_processing", 3 },
	{ "{\"name\":\"ok\",\"wiki_id\":5}", "wiki_id", 3 },
	{ "{\"name\":\"ok\",\"is_active\":\"no\"}", "is_active", 2 },  /* ignored by create */
	{ "{\"name\":\"ok\",\"print_file_id\":null}", "print_file_id", 3 },
	{ "{\"name\":\"ok\",\"printer_priority\":[]}", "printer_priority", 3 },
	{ "{\"name\":\"ok\",\"file_name\":\"a.3mf\"}", "file_name", 3 },
	{ "{\"name\":\"ok\",\"product_type\":\"kit\"}", "product_type", 3 },
	{ "{\"name\":\"ok\",\"kit_product_id\":null}", "kit_product_id", 3 },
	{ "{\"name\":\"ok\",\"quantity_per_kit\":2}", "quantity_per_kit", 3 },
	{ "{\"name\":\"ok\",\"fixed_color\":\"Red\"}", "fixed_color", 3 },
	{ "{\"name\":\"ok\",\"tenant_id\":\"x\"}", "tenant_id", 3 },
};

static void test_bad_bodies(void)
{
	struct tenant t;
	char id[FX_ID], path[128], name[256], body[2300];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Keep\"}", id));
	snprintf(path, sizeof path, "/products/%s", id);
	for (size_t i = 0; i < sizeof BAD_BODIES / sizeof BAD_BODIES[0]; i++) {
		const struct bad_body *c = &BAD_BODIES[i];
		if (c->ops & 1) {
			api("POST", "/products", t.key, c->body, &r);
			if (EXPECT(r, 422, "VALIDATION_ERROR"))
				CHECK(rdetail(&r, c->field), &r, "details name %s", c->field);
		}
		if (!(c->ops & 2))
			continue;
		api("PATCH", path, t.key, c->body, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, c->field), &r, "details name %s", c->field);
	}
	/* lengths: 200 / 2000 / 100 characters are the limits (multi-byte counted as one) */
	const struct {
		const char *field, *unit;
		int max;
	} lim[] = { { "name", "\xc3\xa9", 200 }, { "description", "d", 2000 }, { "category", "c", 100 } };
	for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		for (int over = 1; over >= 0; over--) {
			const char *v = rep(0, lim[i].unit, lim[i].max + over);
			if (i == 0)
				snprintf(body, sizeof body, "{\"name\":\"%s\"}", v);
			else
				snprintf(body, sizeof body, "{\"name\":\"Len %zu\",\"%s\":\"%s\"}", i,
					 lim[i].field, v);
			api("POST", "/products", t.key, body, &r);
			if (!over)
				EXPECT(r, 201, NULL);
			else if (EXPECT(r, 422, "VALIDATION_ERROR"))
				CHECK(rdetail(&r, lim[i].field), &r, "details name %s", lim[i].field);
		}
	}
	INT_EQ(fx_count(&Q_COUNT_PRODUCTS, t.account), 4, NULL);
	if (FX_TEXT(name, Q_PRODUCT_NAME, DS(id)) == 0)
		STR_EQ(name, "Keep", NULL);
}

static void test_list(void)
{
	struct tenant t, o;
	char a[FX_ID], b[FX_ID], c[FX_ID], d[FX_ID], part[FX_ID], other[FX_ID];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"charlie\",\"category\":\"Toys\","
			     "\"description\":\"100% cotton\"}", c));
	FX(fx_created(t.key, "/products", "{\"name\":\"Alpha\",\"category\":\"Home\","
			     "\"description\":\"Kitchen SHELF\"}", a));
	FX(fx_created(t.key, "/products", "{\"name\":\"bravo shelf\",\"category\":\"Home\"}", b));
	FX(fx_created(t.key, "/products", "{\"name\":\"Delta\",\"category\":\"toys\"}", d));
	FX(fx_created(o.key, "/products", "{\"name\":\"Aaa other\",\"category\":\"Home\"}", other));
	FX(FX_SQL(Q_WIRING, DS(a)));
	FX(fx_uuid(part));
	FX(FX_SQL(Q_PART, DS(part), DS(t.account), DS("Aardvark part"), DS("Home"), DS(a)));
	char path[160];
	snprintf(path, sizeof path, "/products/%s", d);
	api("PATCH", path, t.key, "{\"is_active\":false}", &r);
	EXPECT(r, 200, NULL);

	api("GET", "/products", t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	const char *want[] = { a, b, c, d };
	json_t *list = rdata(&r);
	if (INT_EQ(json_array_size(list), 4, &r))
		for (size_t i = 0; i < 4; i++) {
			json_t *p = json_array_get(list, i);
			STR_EQ(jstr(p, "id"), want[i], &r);
			KEYS(p, PRODUCT_KEYS, &r);
			SUMMARY_TYPES(p, r);
		}
	json_t *meta = json_object_get(r.json, "meta");
	INT_EQ(jint(meta, "limit"), 50, &r);
	INT_EQ(jint(meta, "offset"), 0, &r);
	INT_EQ(jint(meta, "count"), 4, &r);
	CHECK(!strstr(r.body, part) && !strstr(r.body, other), &r,
	      "no internal part, no other account's product");

	/* filters and paging: query -> ids in order */
	const struct {
		const char *query;
		const char *ids[4];
	} cases[] = {
		{ "?category=Home", { a, b } },
		{ "?category=toys", { d } },          /* exact label: case counts */
		{ "?is_active=false", { d } },
		{ "?is_active=true&category=Toys", { c } },
		{ "?search=SHELF", { a, b } },        /* name or description, any case */
		{ "?search=%25", { c } },             /* a literal % */
		{ "?search=zzz", { NULL } },
		{ "?limit=2&offset=1", { b, c } },
		{ "?limit=1&offset=3", { d } },
		{ "?offset=9", { NULL } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "/products%s", cases[i].query);
		api("GET", path, t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		size_t n = 0;
		while (n < 4 && cases[i].ids[n])
			n++;
		if (!CHECK(json_array_size(rdata(&r)) == n, &r, "%s: %zu products", cases[i].query, n))
			continue;
		for (size_t k = 0; k < n; k++)
			STR_EQ(jstr(json_array_get(rdata(&r), k), "id"), cases[i].ids[k], &r);
		INT_EQ(jint(json_object_get(r.json, "meta"), "count"), (long long)n, &r);
	}
	/* bad query parameters: 422 naming them */
	const struct {
		const char *query, *field;
	} bad[] = {
		{ "?limit=0", "limit" },       { "?limit=101", "limit" },     { "?limit=x", "limit" },
		{ "?offset=-1", "offset" },    { "?is_active=maybe", "is_active" },
		{ "?search=", "search" },      { "?category=", "category" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/products%s", bad[i].query);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, bad[i].field), &r, "details name %s", bad[i].field);
	}
}

static void test_detail(void)
{
	struct tenant t, o;
	char p[FX_ID], part[FX_ID], c1[FX_ID], c2[FX_ID], i1[FX_ID], i2[FX_ID], path[160];
	char url[256];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Planter\",\"category\":\"Garden\"}", p));
	FX(FX_SQL(Q_WIRING, DS(p)));
	snprintf(path, sizeof path, "/products/%s/skus", p);
	api("POST", path, t.key, "{\"sku\":\"PL-RED\",\"color\":\"Red\",\"filament_type\":\"PLA\","
				"\"hex_code\":\"#FF0000\",\"stock_level\":4}", &r);
	EXPECT(r, 201, NULL);
	api("POST", path, t.key, "{\"sku\":\"PL-BLUE\",\"color\":\"Blue\"}", &r);
	EXPECT(r, 201, NULL);
	FX(fx_uuid(c1));
	FX(fx_uuid(c2));
	FX(FX_SQL(Q_COMPONENT, DS(c1), DS(t.account), DS(p), DS("Screw M3"), DS("hardware"), DI(4),
		  DNULL));
	FX(FX_SQL(Q_COMPONENT, DS(c2), DS(t.account), DS(p), DS("Label"), DNULL, DI(1),
		  DS("front")));
	FX(fx_uuid(i1));
	FX(fx_uuid(i2));
	FX(FX_SQL(Q_IMAGE, DS(i1), DS(t.account), DS(p), DI(1)));
	FX(FX_SQL(Q_IMAGE, DS(i2), DS(t.account), DS(p), DI(0)));

	snprintf(path, sizeof path, "/products/%s", p);
	api("GET", path, t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, PRODUCT_DETAIL_KEYS, &r);
	SUMMARY_TYPES(d, r);
	STR_EQ(jstr(d, "name"), "Planter", &r);
	CHECK(json_is_null(json_object_get(d, "kit")), &r, "a standard product's kit is null");
	json_t *skus = json_object_get(d, "skus");
	if (INT_EQ(json_array_size(skus), 2, &r)) {
		STR_EQ(jstr(json_array_get(skus, 0), "sku"), "PL-BLUE", &r); /* by sku */
		json_t *s = json_array_get(skus, 1);
		KEYS(s, SKU_EMBEDDED_KEYS, &r);
		STR_EQ(jstr(s, "sku"), "PL-RED", &r);
		STR_EQ(jstr(s, "hex_code"), "#FF0000", &r);
		INT_EQ(jint(s, "stock_level"), 4, &r);
		INT_EQ(jbool(s, "is_composite"), 0, &r);
	}
	json_t *comps = json_object_get(d, "components");
	if (INT_EQ(json_array_size(comps), 2, &r)) {
		json_t *c = json_array_get(comps, 0); /* by name */
		KEYS(c, COMPONENT_KEYS, &r);
		STR_EQ(jstr(c, "id"), c2, &r);
		STR_EQ(jstr(c, "notes"), "front", &r);
		CHECK(json_is_null(json_object_get(c, "component_type")), &r, "type null");
		INT_EQ(jint(json_array_get(comps, 1), "quantity_required"), 4, &r);
	}
	json_t *imgs = json_object_get(d, "images");
	snprintf(url, sizeof url, "/v1/products/%s/images/%s", p, i2);
	STR_EQ(jstr(d, "image_url"), url, &r); /* the hero: lowest sort_order */
	if (INT_EQ(json_array_size(imgs), 2, &r)) {
		KEYS(json_array_get(imgs, 0), IMAGE_KEYS, &r);
		STR_EQ(jstr(json_array_get(imgs, 0), "id"), i2, &r);
		STR_EQ(jstr(json_array_get(imgs, 0), "url"), url, &r);
		INT_EQ(jint(json_array_get(imgs, 0), "sort_order"), 0, &r);
		STR_EQ(jstr(json_array_get(imgs, 1), "id"), i1, &r);
	}
	CHECK(!strstr(r.body, "storage_key") && !strstr(r.body, "price"), &r,
	      "no storage key or price");
	/* the list carries the same gallery */
	api("GET", "/products", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "image_url"), url, &r);
	/* an internal part is fetchable by id */
	FX(fx_uuid(part));
	FX(FX_SQL(Q_PART, DS(part), DS(t.account), DS("Lid"), DNULL, DS(p)));
	snprintf(path, sizeof path, "/products/%s", part);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "name"), "Lid", &r);
	/* another account's product and an unknown id: 404 */
	snprintf(path, sizeof path, "/products/%s", p);
	api("GET", path, o.key, NULL, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	api("GET", "/products/" NO_SUCH_ID, t.key, NULL, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
}

static void test_update(void)
{
	struct tenant t, o;
	char p[FX_ID], q[FX_ID], wiki[FX_ID], path[160], body[256], stored[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Mug\",\"category\":\"Kitchen\",\"description\":\"Tall\"}",
		      p));
	FX(fx_created(t.key, "/products", "{\"name\":\"Cup\"}", q));
	snprintf(path, sizeof path, "/products/%s", p);
	api("GET", path, t.key, NULL, &r);
	char before[32] = "";
	if (EXPECT(r, 200, NULL))
		snprintf(before, sizeof before, "%s", jstr(rdata(&r), "updated_at"));
	api("PATCH", path, t.key,
	    "{\"name\":\"Mug XL\",\"description\":null,\"requires_post_processing\":true,"
	    "\"is_active\":false}",
	    &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, PRODUCT_KEYS, &r);
		SUMMARY_TYPES(d, r);
		STR_EQ(jstr(d, "name"), "Mug XL", &r);
		CHECK(json_is_null(json_object_get(d, "description")), &r, "description cleared");
		STR_EQ(jstr(d, "category"), "Kitchen", &r); /* absent: unchanged */
		INT_EQ(jbool(d, "requires_post_processing"), 1, &r);
		INT_EQ(jbool(d, "is_active"), 0, &r);
		CHECK(iso_ms(jstr(d, "updated_at")) >= iso_ms(before), &r, "updated_at moves on");
	}
	/* its own name again is no conflict; another product's is */
	api("PATCH", path, t.key, "{\"name\":\"Mug XL\"}", &r);
	EXPECT(r, 200, NULL);
	api("PATCH", path, t.key, "{\"name\":\"Cup\"}", &r);
	EXPECT(r, 409, "DUPLICATE_NAME");
	if (FX_TEXT(stored, Q_PRODUCT_NAME, DS(p)) == 0)
		STR_EQ(stored, "Mug XL", NULL);
	/* nothing to update */
	const char *empty[] = { "{}", "{\"unknown\":1}" };
	for (int i = 0; i < 2; i++) {
		api("PATCH", path, t.key, empty[i], &r);
		EXPECT(r, 400, "NO_UPDATES");
	}
	/* the wiki link */
	FX(fx_uuid(wiki));
	FX(FX_SQL(Q_WIKI, DS(wiki), DS(o.account), DS(wiki)));
	snprintf(body, sizeof body, "{\"wiki_id\":\"%s\"}", wiki);
	api("PATCH", path, t.key, body, &r);
	EXPECT(r, 404, "ARTICLE_NOT_FOUND"); /* another account's article */
	FX(fx_uuid(wiki));
	FX(FX_SQL(Q_WIKI, DS(wiki), DS(t.account), DS(wiki)));
	snprintf(body, sizeof body, "{\"wiki_id\":\"%s\"}", wiki);
	api("PATCH", path, t.key, body, &r);
	if (EXPECT(r, 200, NULL) && FX_TEXT(stored, Q_PRODUCT_WIKI, DS(p)) == 0)
		STR_EQ(stored, wiki, &r);
	api("PATCH", path, t.key, "{\"wiki_id\":null}", &r);
	if (EXPECT(r, 200, NULL) && FX_TEXT(stored, Q_PRODUCT_WIKI, DS(p)) == 0)
		STR_EQ(stored, "", &r);
	/* another account's product, unknown id: 404 (before the article's 404) */
	api("PATCH", path, o.key, "{\"name\":\"Stolen\"}", &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	api("PATCH", "/products/" NO_SUCH_ID, t.key, body, &r);
	EXPECT(r, 404, "PRODUCT_NOT_FOUND");
	if (FX_TEXT(stored, Q_PRODUCT_NAME, DS(p)) == 0)
		STR_EQ(stored, "Mug XL", NULL);
}

static void test_categories(void)
{
	struct tenant t, o, e;
	char id[FX_ID];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_tenant(&e, "read"));
	const char *bodies[] = {
		"{\"name\":\"1\",\"category\":\"Toys\"}", "{\"name\":\"2\",\"category\":\"Home\"}",
		"{\"name\":\"3\",\"category\":\"Toys\"}", "{\"name\":\"4\",\"category\":\"toys\"}",
		"{\"name\":\"5\",\"category\":null}",     "{\"name\":\"6\",\"category\":\"\"}",
		"{\"name\":\"7\",\"category\":\"Attic\"}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		FX(fx_created(t.key, "/products", bodies[i], id));
	char path[160];
	snprintf(path, sizeof path, "/products/%s", id);
	api("PATCH", path, t.key, "{\"is_active\":false}", &r); /* inactive still counts */
	EXPECT(r, 200, NULL);
	FX(fx_uuid(id));
	FX(FX_SQL(Q_PART, DS(id), DS(t.account), DS("Part"), DS("PartsOnly"), DNULL));
	FX(fx_created(o.key, "/products", "{\"name\":\"x\",\"category\":\"Foreign\"}", id));
	api("GET", "/products/categories", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		const char *want[] = { "Attic", "Home", "Toys", "toys" };
		if (INT_EQ(json_array_size(rdata(&r)), 4, &r))
			for (size_t i = 0; i < 4; i++)
				STR_EQ(json_string_value(json_array_get(rdata(&r), i)), want[i], &r);
		CHECK(!json_object_get(r.json, "meta"), &r, "no meta");
	}
	api("GET", "/products/categories", e.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
}

/* A key without the route's scope: 403, nothing written. */
static void test_scopes(void)
{
	struct tenant t;
	char rkey[FX_KEY], wkey[FX_KEY], id[FX_ID], path[160];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_tenant_key(&t, "write", wkey));
	FX(fx_created(t.key, "/products", "{\"name\":\"Scoped\"}", id));
	const struct {
		const char *method, *path, *body, *key, *scope;
	} cases[] = {
		{ "GET", "/products", NULL, wkey, "read" },
		{ "GET", "/products/categories", NULL, wkey, "read" },
		{ "GET", "/products/{id}", NULL, wkey, "read" },
		{ "POST", "/products", "{\"name\":\"Nope\"}", rkey, "write" },
		{ "PATCH", "/products/{id}", "{\"name\":\"Nope\"}", rkey, "write" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		api(cases[i].method, fx_fill(path, sizeof path, cases[i].path, id), cases[i].key,
		    cases[i].body, &r);
		if (EXPECT(r, 403, "INSUFFICIENT_SCOPE"))
			CHECK(strstr(jstr(r.json, "error"), cases[i].scope) != NULL, &r,
			      "names the scope %s", cases[i].scope);
	}
	INT_EQ(fx_count(&Q_COUNT_PRODUCTS, t.account), 1, NULL);
	char name[64];
	if (FX_TEXT(name, Q_PRODUCT_NAME, DS(id)) == 0)
		STR_EQ(name, "Scoped", NULL);
}

int suite_products(void)
{
	CU_pSuite s = CU_add_suite("products", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_bad_bodies);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_detail);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_categories);
	ADD_TEST(s, test_scopes);
	return 0;
}
