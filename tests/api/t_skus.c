/* t_skus.c - GET/POST /skus, POST /products/{id}/skus, GET /skus/low-stock, GET/PATCH
 * /skus/{id}, POST /skus/{id}/adjust: exact projections (price never), the paired
 * finished-goods row made with the SKU (and neither when its insert fails), finished_goods_stock,
 * available_to_build and effective_status of composite SKUs (BOM rows made in SQL), internal
 * kit-part SKUs hidden from the lists, filters, DUPLICATE_SKU, immutable fields refused, the
 * update mirrored onto the finished good, the stock adjustment and its bounds, bad input (422
 * naming the field, nothing written), 404 for another account's ids, and scopes. */
#include "apitest.h"

#include "cfg.h"
#include "util.h"

#include <stdlib.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const SKU_KEYS[] = {
	"id", "product_id", "sku", "color", "filament_type", "hex_code", "quantity", "stock_level",
	"low_stock_threshold", "is_active", "is_composite", "created_at", "updated_at",
	"finished_goods_stock", NULL
};
static const char *const SKU_DETAIL_KEYS[] = {
	"id", "product_id", "sku", "color", "filament_type", "hex_code", "quantity", "stock_level",
	"low_stock_threshold", "is_active", "is_composite", "created_at", "updated_at",
	"finished_goods_stock", "available_to_build", "effective_status", NULL
};
static const char *const ADJUST_KEYS[] = {
	"id", "previous_stock_level", "adjustment", "new_stock_level", "is_low_stock", NULL
};

static const struct db_query Q_COUNT_SKUS = {
	"SELECT COUNT(*) FROM product_skus WHERE account_id = ?"
};
static const struct db_query Q_COUNT_FG = {
	"SELECT COUNT(*) FROM finished_goods WHERE account_id = ?"
};
/* The finished good of a SKU, as one text. */
static const struct db_query Q_FG_ROW = {
	"SELECT CONCAT_WS('|', sku, color, material, ready_stock, IFNULL(low_stock_threshold, 'null'),"
	" quantity_per_sku, status, is_active, quantity_needs_assembly, quantity_assembled)"
	" FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_FG_SET = {
	"UPDATE finished_goods SET ready_stock = ?, quantity_assembled = ?,"
	" quantity_needs_assembly = ?, low_stock_threshold = ?, status = ? WHERE product_sku_id = ?"
};
static const struct db_query Q_FG_DELETE = {
	"DELETE FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_SKU_PRICE = {
	"UPDATE product_skus SET price = 987654 WHERE id = ?"
};
static const struct db_query Q_SKU_STOCK = { "SELECT stock_level FROM product_skus WHERE id = ?" };
static const struct db_query Q_SKU_SET_STOCK = {
	"UPDATE product_skus SET stock_level = ? WHERE id = ?"
};
static const struct db_query Q_SKU_CODE = { "SELECT sku FROM product_skus WHERE id = ?" };
static const struct db_query Q_KIT = {
	"INSERT INTO products (id, account_id, name, product_type, kit_product_id)"
	" VALUES (?, ?, ?, ?, ?)"
};
static const struct db_query Q_RAW_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color, stock_level,"
	" low_stock_threshold) VALUES (?, ?, ?, ?, 'Red', ?, ?)"
};
static const struct db_query Q_BOM = {
	"INSERT INTO sku_bom_children (id, account_id, parent_sku_id, child_sku_id,"
	" quantity_required) VALUES (?, ?, ?, ?, ?)"
};
static const struct db_query Q_PACKAGING = {
	"INSERT INTO packaging_inventory (id, account_id, type, remaining_units) VALUES (?, ?, 'box', ?)"
};
static const struct db_query Q_BOM_INV = {
	"INSERT INTO sku_bom_inventory (id, account_id, sku_id, inventory_item_id, inventory_kind,"
	" quantity_required) VALUES (?, ?, ?, ?, 'packaging', ?)"
};

/* The SKU's finished good is (Q_FG_ROW) want; a missing row is a failure. */
static void fg_is(const char *sku, const char *want, const char *file, unsigned line)
{
	char got[512];
	if (at_check(fx_sql_text(&Q_FG_ROW, DB_ARGS(DS(sku)), got, sizeof got) == 0, NULL, file,
		     line, "SKU %s has a finished-goods row", sku))
		at_str(got, want, "finished good", NULL, file, line);
}
#define FG_IS(sku, want) fg_is((sku), (want), __FILE__, __LINE__)

/* A product of t and a SKU under it (nested route). */
static int mk_sku(const char *key, const char *product, const char *body, char id[FX_ID])
{
	char path[160];
	snprintf(path, sizeof path, "/products/%s/skus", product);
	return fx_created(key, path, body, id);
}

static void sku_types(const json_t *s, const struct resp *r, const char *file, unsigned line)
{
	const char *ints[] = { "quantity", "stock_level", "low_stock_threshold",
			       "finished_goods_stock" };
	at_check(util_is_uuid(jstr(s, "id")) && util_is_uuid(jstr(s, "product_id")), r, file, line,
		 "ids are UUIDs");
	for (size_t i = 0; i < 4; i++)
		at_check(json_is_integer(json_object_get(s, ints[i])), r, file, line,
			 "%s is an integer", ints[i]);
	at_check(jbool(s, "is_active") >= 0 && jbool(s, "is_composite") >= 0, r, file, line,
		 "flags are booleans");
	at_check(is_iso_ms(jstr(s, "created_at")) && is_iso_ms(jstr(s, "updated_at")), r, file,
		 line, "timestamps are ISO-8601 ms Z");
	at_check(r->body && !strstr(r->body, "price") && !strstr(r->body, "987654") &&
			 !strstr(r->body, "account_id"),
		 r, file, line, "no price, no account");
}
#define SKU_TYPES(s, r) sku_types((s), &(r), __FILE__, __LINE__)

static void test_create(void)
{
	struct tenant t, o;
	char p[FX_ID], p2[FX_ID], op[FX_ID], id[FX_ID], body[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\",\"requires_assembly\":true}", p));
	FX(fx_created(t.key, "/products", "{\"name\":\"Bowl\"}", p2));
	FX(fx_created(o.key, "/products", "{\"name\":\"Other\"}", op));
	snprintf(body, sizeof body,
		 "{\"product_id\":\"%s\",\"sku\":\"VASE-RED\",\"color\":\"Red\",\"filament_type\":"
		 "\"PETG\",\"hex_code\":\"#ff0000\",\"quantity\":3,\"low_stock_threshold\":4,"
		 "\"stock_level\":9,\"is_composite\":true}",
		 p);
	api("POST", "/skus", t.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *s = rdata(&r);
	KEYS(s, SKU_KEYS, &r);
	SKU_TYPES(s, r);
	snprintf(id, sizeof id, "%s", jstr(s, "id"));
	STR_EQ(jstr(s, "product_id"), p, &r);
	STR_EQ(jstr(s, "sku"), "VASE-RED", &r);
	STR_EQ(jstr(s, "color"), "Red", &r);
	STR_EQ(jstr(s, "filament_type"), "PETG", &r);
	STR_EQ(jstr(s, "hex_code"), "#ff0000", &r);
	INT_EQ(jint(s, "quantity"), 3, &r);
	INT_EQ(jint(s, "stock_level"), 9, &r);
	INT_EQ(jint(s, "low_stock_threshold"), 4, &r);
	INT_EQ(jbool(s, "is_active"), 1, &r);
	INT_EQ(jbool(s, "is_composite"), 0, &r);
	INT_EQ(jint(s, "finished_goods_stock"), 0, &r);
	/* its finished good: sku, colour, material, nothing ready, threshold, per-SKU quantity */
	FG_IS(id, "VASE-RED|Red|PETG|0|4|3|out_of_stock|1|0|0");

	/* the nested alias: defaults; the path's product wins over the body's */
	snprintf(body, sizeof body, "{\"product_id\":\"%s\",\"sku\":\"BOWL-1\",\"color\":\"Blue\","
				    "\"hex_code\":\"\"}", p);
	char path[160];
	snprintf(path, sizeof path, "/products/%s/skus", p2);
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		s = rdata(&r);
		KEYS(s, SKU_KEYS, &r);
		STR_EQ(jstr(s, "product_id"), p2, &r);
		CHECK(json_is_null(json_object_get(s, "hex_code")), &r, "\"\" hex_code: null");
		CHECK(json_is_null(json_object_get(s, "filament_type")), &r, "no filament_type");
		INT_EQ(jint(s, "quantity"), 1, &r);
		INT_EQ(jint(s, "stock_level"), 0, &r);
		INT_EQ(jint(s, "low_stock_threshold"), 0, &r);
		FG_IS(jstr(s, "id"), "BOWL-1|Blue||0|0|1|out_of_stock|1|0|0");
	}
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 2, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 2, NULL);

	/* duplicate code in the account (any product, either route): 409, nothing written */
	snprintf(body, sizeof body, "{\"product_id\":\"%s\",\"sku\":\"VASE-RED\",\"color\":\"X\"}",
		 p2);
	api("POST", "/skus", t.key, body, &r);
	if (EXPECT(r, 409, "DUPLICATE_SKU"))
		CHECK(strstr(jstr(r.json, "error"), "VASE-RED") != NULL, &r, "message names it");
	snprintf(path, sizeof path, "/products/%s/skus", p);
	api("POST", path, t.key, "{\"sku\":\"BOWL-1\",\"color\":\"X\"}", &r);
	EXPECT(r, 409, "DUPLICATE_SKU");
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 2, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 2, NULL);
	/* the same code in another account is fine */
	FX(mk_sku(o.key, op, "{\"sku\":\"VASE-RED\",\"color\":\"Red\"}", id));

	/* products that are not the account's standard products */
	char kit[FX_ID], part[FX_ID];
	FX(fx_uuid(kit));
	FX(fx_uuid(part));
	FX(FX_SQL(Q_KIT, DS(kit), DS(t.account), DS("Kit"), DS("kit"), DNULL));
	FX(FX_SQL(Q_KIT, DS(part), DS(t.account), DS("Kit part"), DS("kit_part"), DS(kit)));
	const struct {
		const char *route, *product, *status, *code;
	} refused[] = {
		{ "/skus", op, "404", "PRODUCT_NOT_FOUND" },
		{ "/skus", NO_SUCH_ID, "404", "PRODUCT_NOT_FOUND" },
		{ "/skus", kit, "400", "KIT_PRODUCT" },
		{ "/skus", part, "400", "KIT_PRODUCT" },
		{ "/products/{id}/skus", op, "404", "PRODUCT_NOT_FOUND" },
		{ "/products/{id}/skus", NO_SUCH_ID, "404", "PRODUCT_NOT_FOUND" },
		{ "/products/{id}/skus", kit, "400", "KIT_PRODUCT" },
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		snprintf(body, sizeof body, "{\"product_id\":\"%s\",\"sku\":\"NEW-%zu\",\"color\":\"Red\"}",
			 refused[i].product, i);
		api("POST", fx_fill(path, sizeof path, refused[i].route, refused[i].product), t.key, body,
		    &r);
		EXPECT(r, atol(refused[i].status), refused[i].code);
	}
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 2, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 2, NULL);
}

/* Create bodies refused with 422 naming the field ({p}: a valid product id). */
static const struct {
	const char *body, *field;
} BAD_CREATE[] = {
	{ "{\"sku\":\"A\",\"color\":\"Red\"}", "product_id" },
	{ "{\"product_id\":7,\"sku\":\"A\",\"color\":\"Red\"}", "product_id" },
	{ "{\"product_id\":\"{p}\",\"color\":\"Red\"}", "sku" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"\",\"color\":\"Red\"}", "sku" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\"}", "color" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":null}", "color" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"hex_code\":\"red\"}", "hex_code" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"hex_code\":\"#12345G\"}", "hex_code" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"hex_code\":\"#1234567\"}", "hex_code" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"quantity\":0}", "quantity" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"quantity\":1.5}", "quantity" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"stock_level\":-1}", "stock_level" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"low_stock_threshold\":-1}",
	  "low_stock_threshold" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"filament_type\":5}", "filament_type" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"price\":1999}", "price" },
	{ "{\"product_id\":\"{p}\",\"sku\":\"A\",\"color\":\"R\",\"tenant_id\":\"x\"}", "tenant_id" },
};

static void test_create_invalid(void)
{
	struct tenant t;
	char p[FX_ID], body[512], tmpl[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	for (size_t i = 0; i < sizeof BAD_CREATE / sizeof BAD_CREATE[0]; i++) {
		snprintf(tmpl, sizeof tmpl, "%s", BAD_CREATE[i].body);
		char *at = strstr(tmpl, "{p}");
		if (at)
			snprintf(body, sizeof body, "%.*s%s%s", (int)(at - tmpl), tmpl, p, at + 3);
		else
			snprintf(body, sizeof body, "%s", tmpl);
		api("POST", "/skus", t.key, body, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, BAD_CREATE[i].field), &r, "details name %s",
			      BAD_CREATE[i].field);
	}
	/* lengths: sku and color 100, filament_type 50 characters */
	const struct {
		const char *field;
		int max;
	} lim[] = { { "sku", 100 }, { "color", 100 }, { "filament_type", 50 } };
	for (size_t i = 0; i < 3; i++)
		for (int over = 1; over >= 0; over--) {
			const char *v = rep(0, "\xc3\xa9", lim[i].max + over);
			if (i == 0)
				snprintf(body, sizeof body, "{\"sku\":\"%s\",\"color\":\"c\"}", v);
			else
				snprintf(body, sizeof body, "{\"sku\":\"L%zu-%d\",\"%s\":\"%s\"%s}", i, over,
					 lim[i].field, v, i == 1 ? "" : ",\"color\":\"c\"");
			char path[160];
			snprintf(path, sizeof path, "/products/%s/skus", p);
			api("POST", path, t.key, body, &r);
			if (!over)
				EXPECT(r, 201, NULL);
			else if (EXPECT(r, 422, "VALIDATION_ERROR"))
				CHECK(rdetail(&r, lim[i].field), &r, "details name %s", lim[i].field);
		}
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 3, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 3, NULL);
}

/* A finished-goods insert that fails (a trigger refuses this one SKU code): the SKU is not
 * written either, on both routes. */
static void test_create_atomic(void)
{
	struct tenant t;
	char p[FX_ID], tag[9], code[64], body[256], path[160], trig[512];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	snprintf(code, sizeof code, "ATOMIC-%s", fx_tag(tag));
	snprintf(trig, sizeof trig,
		 "CREATE TRIGGER test_fg_refuse_%s BEFORE INSERT ON finished_goods FOR EACH ROW"
		 " IF NEW.sku = '%s' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by"
		 " the test'; END IF",
		 tag, code);
	FX(fx_schema_sql(trig));
	snprintf(body, sizeof body, "{\"product_id\":\"%s\",\"sku\":\"%s\",\"color\":\"Red\"}", p,
		 code);
	api("POST", "/skus", t.key, body, &r);
	EXPECT(r, 500, "INTERNAL_ERROR");
	snprintf(path, sizeof path, "/products/%s/skus", p);
	api("POST", path, t.key, body, &r);
	EXPECT(r, 500, "INTERNAL_ERROR");
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 0, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 0, NULL);
	snprintf(trig, sizeof trig, "DROP TRIGGER test_fg_refuse_%s", tag);
	FX(fx_schema_sql(trig));
	/* and once the insert can succeed, both rows */
	api("POST", "/skus", t.key, body, &r);
	EXPECT(r, 201, NULL);
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 1, NULL);
	INT_EQ(fx_count(&Q_COUNT_FG, t.account), 1, NULL);
}

static void test_list(void)
{
	struct tenant t, o;
	char p[FX_ID], q[FX_ID], op[FX_ID], kit[FX_ID], part[FX_ID], hidden[FX_ID];
	char a[FX_ID], b[FX_ID], c[FX_ID], d[FX_ID], x[FX_ID], path[200];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	FX(fx_created(t.key, "/products", "{\"name\":\"Bowl\"}", q));
	FX(fx_created(o.key, "/products", "{\"name\":\"Other\"}", op));
	FX(mk_sku(t.key, p, "{\"sku\":\"C-1\",\"color\":\"Red\",\"filament_type\":\"PLA\","
			   "\"stock_level\":5,\"low_stock_threshold\":5}", c));
	FX(mk_sku(t.key, q, "{\"sku\":\"A-1\",\"color\":\"Blue\",\"filament_type\":\"PETG\","
			   "\"stock_level\":1,\"low_stock_threshold\":0}", a));
	FX(mk_sku(t.key, p, "{\"sku\":\"b-1\",\"color\":\"Red\",\"filament_type\":\"PETG\","
			   "\"stock_level\":0,\"low_stock_threshold\":2}", b));
	FX(mk_sku(t.key, p, "{\"sku\":\"D-1\",\"color\":\"Green\",\"stock_level\":3,"
			   "\"low_stock_threshold\":1}", d));
	FX(mk_sku(o.key, op, "{\"sku\":\"A-0\",\"color\":\"Red\"}", x));
	FX(FX_SQL(Q_SKU_PRICE, DS(a)));
	snprintf(path, sizeof path, "/skus/%s", d);
	api("PATCH", path, t.key, "{\"is_active\":false}", &r);
	EXPECT(r, 200, NULL);
	/* finished_goods_stock = ready + assembled + needs assembly */
	FX(FX_SQL(Q_FG_SET, DI(4), DI(2), DI(1), DI(5), DS("needs_assembly"), DS(a)));
	FX(fx_stock_reconcile(t.account));
	/* an internal kit part's SKU: hidden from both lists */
	FX(fx_uuid(kit));
	FX(fx_uuid(part));
	FX(fx_uuid(hidden));
	FX(FX_SQL(Q_KIT, DS(kit), DS(t.account), DS("Kit"), DS("kit"), DNULL));
	FX(FX_SQL(Q_KIT, DS(part), DS(t.account), DS("Kit part"), DS("kit_part"), DS(kit)));
	FX(FX_SQL(Q_RAW_SKU, DS(hidden), DS(t.account), DS(part), DS("AAA-PART"), DI(0), DI(9)));
	FX(fx_stock_reconcile(t.account));

	api("GET", "/skus", t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	const char *want[] = { a, b, c, d };
	if (INT_EQ(json_array_size(rdata(&r)), 4, &r))
		for (size_t i = 0; i < 4; i++) {
			json_t *s = json_array_get(rdata(&r), i);
			STR_EQ(jstr(s, "id"), want[i], &r);
			KEYS(s, SKU_KEYS, &r);
			SKU_TYPES(s, r);
		}
	INT_EQ(jint(json_array_get(rdata(&r), 0), "finished_goods_stock"), 7, &r);
	INT_EQ(jint(json_array_get(rdata(&r), 1), "finished_goods_stock"), 0, &r);
	CHECK(!json_object_get(r.json, "meta"), &r, "not paginated");
	CHECK(!strstr(r.body, hidden) && !strstr(r.body, x), &r,
	      "no kit-part SKU, no other account's SKU");

	const struct {
		const char *query;
		const char *ids[4];
	} cases[] = {
		{ "?product_id={id}", { b, c, d } },
		{ "?color=Red", { b, c } },
		{ "?filament_type=PETG", { a, b } },
		{ "?low_stock=true", { b, c } },
		{ "?low_stock=false", { a, d } },
		{ "?is_active=false", { d } },
		{ "?is_active=true&color=Red&low_stock=true", { b, c } },
		{ "?color=Purple", { NULL } },
		{ "?product_id=" NO_SUCH_ID, { NULL } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char tmpl[160];
		snprintf(tmpl, sizeof tmpl, "/skus%s", cases[i].query);
		api("GET", fx_fill(path, sizeof path, tmpl, p), t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		size_t n = 0;
		while (n < 4 && cases[i].ids[n])
			n++;
		if (!CHECK(json_array_size(rdata(&r)) == n, &r, "%s: %zu SKUs", cases[i].query, n))
			continue;
		for (size_t k = 0; k < n; k++)
			STR_EQ(jstr(json_array_get(rdata(&r), k), "id"), cases[i].ids[k], &r);
	}
	/* the product filter does not lift the hiding of kit parts */
	snprintf(path, sizeof path, "/skus?product_id=%s", part);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
	const struct {
		const char *query, *field;
	} bad[] = {
		{ "?low_stock=maybe", "low_stock" }, { "?is_active=1x", "is_active" },
		{ "?color=", "color" },              { "?filament_type=", "filament_type" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/skus%s", bad[i].query);
		api("GET", path, t.key, NULL, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, bad[i].field), &r, "details name %s", bad[i].field);
	}

	/* low stock: active, stock_level <= threshold, lowest stock first, no kit parts */
	api("GET", "/skus/low-stock?limit=1", t.key, NULL, &r); /* no parameters: ignored */
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 2, &r)) {
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), b, &r);
		STR_EQ(jstr(json_array_get(rdata(&r), 1), "id"), c, &r);
		KEYS(json_array_get(rdata(&r), 0), SKU_KEYS, &r);
		CHECK(!strstr(r.body, hidden) && !strstr(r.body, x), &r, "no kit part, no other's");
	}
	api("GET", "/skus/low-stock", o.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 1, &r))
		STR_EQ(jstr(json_array_get(rdata(&r), 0), "id"), x, &r);
}

/* available_to_build and effective_status over a composite SKU whose BOM is made in SQL. */
static void test_detail(void)
{
	struct tenant t, o;
	char p[FX_ID], kit[FX_ID], c1[FX_ID], c2[FX_ID], plain[FX_ID], row[FX_ID], pk[FX_ID];
	char path[160];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Set\"}", p));
	FX(mk_sku(t.key, p, "{\"sku\":\"SET-KIT\",\"color\":\"Red\",\"low_stock_threshold\":5}", kit));
	FX(mk_sku(t.key, p, "{\"sku\":\"SET-P1\",\"color\":\"Red\"}", c1));
	FX(mk_sku(t.key, p, "{\"sku\":\"SET-P2\",\"color\":\"Red\"}", c2));
	FX(mk_sku(t.key, p, "{\"sku\":\"SET-PLAIN\",\"color\":\"Red\"}", plain));
	FX(FX_SQL(Q_SKU_PRICE, DS(plain)));

	/* plain, just created: nothing buildable, out_of_stock */
	snprintf(path, sizeof path, "/skus/%s", plain);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *s = rdata(&r);
		KEYS(s, SKU_DETAIL_KEYS, &r);
		SKU_TYPES(s, r);
		STR_EQ(jstr(s, "sku"), "SET-PLAIN", &r);
		INT_EQ(jint(s, "available_to_build"), 0, &r);
		STR_EQ(jstr(s, "effective_status"), "out_of_stock", &r);
	}
	/* plain with stock: the stored status, whatever the children of others hold */
	FX(FX_SQL(Q_FG_SET, DI(10), DI(0), DI(0), DI(5), DS("in_stock"), DS(plain)));
	FX(fx_stock_reconcile(t.account));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "effective_status"), "in_stock", &r);
		INT_EQ(jint(rdata(&r), "finished_goods_stock"), 10, &r);
	}
	/* no finished-goods row: out_of_stock, finished_goods_stock 0 */
	FX(FX_SQL(Q_FG_DELETE, DS(plain)));
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "effective_status"), "out_of_stock", &r);
		INT_EQ(jint(rdata(&r), "finished_goods_stock"), 0, &r);
	}

	/* composite: kit needs 2 x P1 and 1 x P2; P1 has 7 ready, P2 5 -> 3 buildable */
	FX(fx_uuid(row));
	FX(FX_SQL(Q_BOM, DS(row), DS(t.account), DS(kit), DS(c1), DI(2)));
	FX(fx_uuid(row));
	FX(FX_SQL(Q_BOM, DS(row), DS(t.account), DS(kit), DS(c2), DI(1)));
	FX(FX_SQL(Q_FG_SET, DI(7), DI(0), DI(0), DI(5), DS("in_stock"), DS(c1)));
	FX(FX_SQL(Q_FG_SET, DI(5), DI(0), DI(0), DI(5), DS("low_stock"), DS(c2)));
	FX(fx_stock_reconcile(t.account));
	const struct {
		int kit_ready, kit_needs;    /* the kit's own finished good */
		int pack_left;               /* -1: no packaging requirement */
		long long atb;
		const char *status;
	} cases[] = {
		{ 0, 0, -1, 3, "low_stock" },       /* 0 + 3 <= 5 */
		{ 3, 0, -1, 3, "in_stock" },        /* 3 + 3 > 5: buildable keeps it in stock */
		{ 0, 0, 2, 2, "low_stock" },        /* 2 boxes, 1 per kit: 2 */
		{ 0, 0, 0, 0, "out_of_stock" },     /* no boxes: nothing buildable */
		{ 0, 2, 0, 0, "needs_assembly" },
	};
	char pack[FX_ID] = "";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		FX(FX_SQL(Q_FG_SET, DI(cases[i].kit_ready), DI(0), DI(cases[i].kit_needs), DI(5),
			  DS("out_of_stock"), DS(kit)));
		FX(fx_stock_reconcile(t.account));
		if (cases[i].pack_left >= 0) {
			FX(fx_uuid(pk));
			FX(FX_SQL(Q_PACKAGING, DS(pk), DS(t.account), DI(cases[i].pack_left)));
			FX(fx_stock_reconcile(t.account));
			if (pack[0]) {
				static const struct db_query del = {
					"DELETE FROM sku_bom_inventory WHERE sku_id = ?"
				};
				FX(FX_SQL(del, DS(kit)));
			}
			FX(fx_uuid(row));
			FX(FX_SQL(Q_BOM_INV, DS(row), DS(t.account), DS(kit), DS(pk), DD(1.0)));
			snprintf(pack, sizeof pack, "%s", pk);
		}
		snprintf(path, sizeof path, "/skus/%s", kit);
		api("GET", path, t.key, NULL, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		json_t *s = rdata(&r);
		KEYS(s, SKU_DETAIL_KEYS, &r);
		INT_EQ(jbool(s, "is_composite"), 1, &r);
		CHECK(jint(s, "available_to_build") == cases[i].atb, &r, "case %zu: %lld buildable",
		      i, cases[i].atb);
		CHECK(jstr(s, "effective_status") && !strcmp(jstr(s, "effective_status"),
							       cases[i].status),
		      &r, "case %zu: %s", i, cases[i].status);
	}
	/* the list says composite too; the children are not */
	snprintf(path, sizeof path, "/skus?product_id=%s", p);
	api("GET", path, t.key, NULL, &r);
	if (EXPECT(r, 200, NULL) && INT_EQ(json_array_size(rdata(&r)), 4, &r)) {
		INT_EQ(jbool(json_array_get(rdata(&r), 0), "is_composite"), 1, &r);
		INT_EQ(jbool(json_array_get(rdata(&r), 1), "is_composite"), 0, &r);
	}
	/* 404: another account's SKU, unknown id */
	snprintf(path, sizeof path, "/skus/%s", kit);
	api("GET", path, o.key, NULL, &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	api("GET", "/skus/" NO_SUCH_ID, t.key, NULL, &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
}

static void test_update(void)
{
	struct tenant t, o;
	char p[FX_ID], s1[FX_ID], s2[FX_ID], path[160], v[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	FX(mk_sku(t.key, p, "{\"sku\":\"V-1\",\"color\":\"Red\",\"filament_type\":\"PLA\","
			   "\"hex_code\":\"#FF0000\",\"quantity\":2,\"low_stock_threshold\":1}", s1));
	FX(mk_sku(t.key, p, "{\"sku\":\"V-2\",\"color\":\"Blue\"}", s2));
	FX(FX_SQL(Q_FG_SET, DI(3), DI(0), DI(0), DI(1), DS("in_stock"), DS(s1)));
	FX(fx_stock_reconcile(t.account));
	snprintf(path, sizeof path, "/skus/%s", s1);
	api("PATCH", path, t.key,
	    "{\"sku\":\"V-1B\",\"color\":\"Crimson\",\"hex_code\":\"#aa0000\","
	    "\"low_stock_threshold\":3}",
	    &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *s = rdata(&r);
		KEYS(s, SKU_KEYS, &r);
		SKU_TYPES(s, r);
		STR_EQ(jstr(s, "sku"), "V-1B", &r);
		STR_EQ(jstr(s, "color"), "Crimson", &r);
		STR_EQ(jstr(s, "hex_code"), "#aa0000", &r);
		INT_EQ(jint(s, "low_stock_threshold"), 3, &r);
		STR_EQ(jstr(s, "filament_type"), "PLA", &r);
		INT_EQ(jint(s, "quantity"), 2, &r);
		INT_EQ(jint(s, "finished_goods_stock"), 3, &r);
	}
	/* mirrored onto the finished good, status recomputed (3 ready <= 3: low_stock) */
	FG_IS(s1, "V-1B|Crimson|PLA|3|3|2|low_stock|1|0|0");
	api("PATCH", path, t.key, "{\"hex_code\":\"\",\"is_active\":false}", &r);
	if (EXPECT(r, 200, NULL)) {
		CHECK(json_is_null(json_object_get(rdata(&r), "hex_code")), &r, "\"\": null");
		INT_EQ(jbool(rdata(&r), "is_active"), 0, &r);
		/* the finished good is inactive too, so none is counted */
		INT_EQ(jint(rdata(&r), "finished_goods_stock"), 0, &r);
	}
	FG_IS(s1, "V-1B|Crimson|PLA|3|3|2|low_stock|0|0|0");
	/* the code of another SKU: 409; its own: fine */
	api("PATCH", path, t.key, "{\"sku\":\"V-2\"}", &r);
	EXPECT(r, 409, "DUPLICATE_SKU");
	api("PATCH", path, t.key, "{\"sku\":\"V-1B\"}", &r);
	EXPECT(r, 200, NULL);
	/* refused: immutable, never accepted, invalid (422 naming it), nothing to update */
	const struct {
		const char *body, *field;
	} bad[] = {
		{ "{\"quantity\":3}", "quantity" },
		{ "{\"filament_type\":\"PETG\"}", "filament_type" },
		{ "{\"stock_level\":50}", "stock_level" },
		{ "{\"product_id\":\"x\"}", "product_id" },
		{ "{\"color\":\"Red\",\"quantity\":3}", "quantity" },
		{ "{\"price\":100}", "price" },
		{ "{\"sku\":\"\"}", "sku" },
		{ "{\"color\":null}", "color" },
		{ "{\"hex_code\":\"#12\"}", "hex_code" },
		{ "{\"low_stock_threshold\":-2}", "low_stock_threshold" },
		{ "{\"is_active\":\"yes\"}", "is_active" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("PATCH", path, t.key, bad[i].body, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, bad[i].field), &r, "details name %s", bad[i].field);
	}
	api("PATCH", path, t.key, "{\"unknown\":1}", &r);
	EXPECT(r, 400, "NO_UPDATES");
	FG_IS(s1, "V-1B|Crimson|PLA|3|3|2|low_stock|0|0|0");
	if (FX_TEXT(v, Q_SKU_CODE, DS(s1)) == 0)
		STR_EQ(v, "V-1B", NULL);
	/* 404: another account's SKU, unknown id */
	api("PATCH", path, o.key, "{\"color\":\"Stolen\"}", &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	api("PATCH", "/skus/" NO_SUCH_ID, t.key, "{\"color\":\"X\"}", &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
}

static void test_adjust(void)
{
	struct tenant t, o;
	char p[FX_ID], s[FX_ID], path[160], v[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant(&o, "read,write"));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	FX(mk_sku(t.key, p, "{\"sku\":\"V-1\",\"color\":\"Red\",\"stock_level\":2,"
			   "\"low_stock_threshold\":3}", s));
	snprintf(path, sizeof path, "/skus/%s/adjust", s);
	const struct {
		const char *body;
		long long prev, adj, next;
		int low;
	} steps[] = {
		{ "{\"adjustment\":5,\"reason\":\"restock\"}", 2, 5, 7, 0 },
		{ "{\"adjustment\":-4}", 7, -4, 3, 1 },  /* at the threshold: low */
		{ "{\"adjustment\":0,\"reason\":null}", 3, 0, 3, 1 },
		{ "{\"adjustment\":-3}", 3, -3, 0, 1 },  /* down to exactly 0 */
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		api("POST", path, t.key, steps[i].body, &r);
		if (!EXPECT(r, 200, NULL))
			continue;
		json_t *d = rdata(&r);
		KEYS(d, ADJUST_KEYS, &r);
		STR_EQ(jstr(d, "id"), s, &r);
		INT_EQ(jint(d, "previous_stock_level"), steps[i].prev, &r);
		INT_EQ(jint(d, "adjustment"), steps[i].adj, &r);
		INT_EQ(jint(d, "new_stock_level"), steps[i].next, &r);
		INT_EQ(jbool(d, "is_low_stock"), steps[i].low, &r);
	}
	/* below zero: refused, unchanged */
	api("POST", path, t.key, "{\"adjustment\":-1}", &r);
	EXPECT(r, 400, "INVALID_STOCK_LEVEL");
	const struct {
		const char *body, *field;
	} bad[] = {
		{ "{}", "adjustment" },
		{ "{\"adjustment\":null}", "adjustment" },
		{ "{\"adjustment\":1.5}", "adjustment" },
		{ "{\"adjustment\":\"3\"}", "adjustment" },
		{ "{\"adjustment\":10000000000}", "adjustment" },
		{ "{\"adjustment\":1,\"reason\":7}", "reason" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		api("POST", path, t.key, bad[i].body, &r);
		if (EXPECT(r, 422, "VALIDATION_ERROR"))
			CHECK(rdetail(&r, bad[i].field), &r, "details name %s", bad[i].field);
	}
	char body[700];
	snprintf(body, sizeof body, "{\"adjustment\":1,\"reason\":\"%s\"}", rep(0, "r", 501));
	api("POST", path, t.key, body, &r);
	if (EXPECT(r, 422, "VALIDATION_ERROR"))
		CHECK(rdetail(&r, "reason"), &r, "details name reason");
	if (FX_TEXT(v, Q_SKU_STOCK, DS(s)) == 0)
		STR_EQ(v, "0", NULL);
	/* nor above the column's range */
	FX(FX_SQL(Q_SKU_SET_STOCK, DI(2147483000LL), DS(s)));
	FX(fx_stock_reconcile(t.account));
	api("POST", path, t.key, "{\"adjustment\":1000}", &r);
	EXPECT(r, 400, "INVALID_STOCK_LEVEL");
	api("POST", path, t.key, "{\"adjustment\":647}", &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(jint(rdata(&r), "new_stock_level"), 2147483647LL, &r);
	FX(FX_SQL(Q_SKU_SET_STOCK, DI(0), DS(s)));
	FX(fx_stock_reconcile(t.account));
	/* the finished good is not touched */
	FG_IS(s, "V-1|Red||0|3|1|out_of_stock|1|0|0");
	/* 404: another account's SKU, unknown id */
	api("POST", path, o.key, "{\"adjustment\":5}", &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	api("POST", "/skus/" NO_SUCH_ID "/adjust", t.key, "{\"adjustment\":5}", &r);
	EXPECT(r, 404, "SKU_NOT_FOUND");
	if (FX_TEXT(v, Q_SKU_STOCK, DS(s)) == 0)
		STR_EQ(v, "0", NULL);
}

static void test_scopes(void)
{
	struct tenant t;
	char rkey[FX_KEY], wkey[FX_KEY], p[FX_ID], s[FX_ID], path[200], body[200], v[64];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	FX(fx_tenant_key(&t, "read", rkey));
	FX(fx_tenant_key(&t, "write", wkey));
	FX(fx_created(t.key, "/products", "{\"name\":\"Vase\"}", p));
	FX(mk_sku(t.key, p, "{\"sku\":\"V-1\",\"color\":\"Red\"}", s));
	snprintf(body, sizeof body, "{\"product_id\":\"%s\",\"sku\":\"NOPE\",\"color\":\"Red\"}", p);
	const struct {
		const char *method, *path, *body, *key, *scope;
	} cases[] = {
		{ "GET", "/skus", NULL, wkey, "read" },
		{ "GET", "/skus/low-stock", NULL, wkey, "read" },
		{ "GET", "/skus/{id}", NULL, wkey, "read" },
		{ "POST", "/skus", body, rkey, "write" },
		{ "POST", "/products/{id}/skus", body, rkey, "write" },
		{ "PATCH", "/skus/{id}", "{\"sku\":\"NOPE\"}", rkey, "write" },
		{ "POST", "/skus/{id}/adjust", "{\"adjustment\":5}", rkey, "write" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *id = strstr(cases[i].path, "/products") ? p : s;
		api(cases[i].method, fx_fill(path, sizeof path, cases[i].path, id), cases[i].key,
		    cases[i].body, &r);
		if (EXPECT(r, 403, "INSUFFICIENT_SCOPE"))
			CHECK(strstr(jstr(r.json, "error"), cases[i].scope) != NULL, &r,
			      "names the scope %s", cases[i].scope);
	}
	INT_EQ(fx_count(&Q_COUNT_SKUS, t.account), 1, NULL);
	if (FX_TEXT(v, Q_SKU_CODE, DS(s)) == 0)
		STR_EQ(v, "V-1", NULL);
	if (FX_TEXT(v, Q_SKU_STOCK, DS(s)) == 0)
		STR_EQ(v, "0", NULL);
}

int suite_skus(void)
{
	CU_pSuite s = CU_add_suite("skus", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_create_invalid);
	ADD_TEST(s, test_create_atomic);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_detail);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_adjust);
	ADD_TEST(s, test_scopes);
	return 0;
}
