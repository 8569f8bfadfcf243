/* t_kits.c - POST /products/kit and PUT /products/{id}/kit: the rows a create writes (kit and
 * part products, variant and part SKUs with their finished goods at ready_stock 0, BOM rows,
 * bundle extras, components), generated SKU codes, the kit breakdown of GET /products/{id};
 * a replace keeps the kept SKUs (ids, codes, ready_stock) and drops the rest; every documented
 * refusal (PRINT_FILE_NOT_FOUND, UNKNOWN_INVENTORY_ITEM, DUPLICATE_NAME, PRODUCT_NOT_FOUND,
 * NOT_A_KIT, NOT_IN_KIT, PART_IN_EXTERNAL_BOM, SKU_IN_USE_BY_ORDER), another account's ids,
 * scopes, bad input (422 naming the field), never-exposed members; a create or replace that
 * fails after writing some rows leaves every table as it was. Stock is set directly in
 * MariaDB. */
#include "cases.h"

#include "apitest.h"
#include "inflight.h"

#include <stdlib.h>
#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const KIT_PRODUCT_KEYS[] = {
	"id", "name", "description", "category", "requires_assembly", "requires_post_processing",
	"image_url", "images", "is_active", "created_at", "updated_at", "kit", "skus",
	"components", NULL
};
static const char *const KIT_KEYS[] = {
	"parts", "bundle_extras", "bundle_extras_by_variant", NULL
};
static const char *const PART_KEYS[] = {
	"part_id", "name", "print_file_id", "file_name", "quantity_per_kit", "fixed_color",
	"requires_assembly", "components", "variants", NULL
};
static const char *const WIRE_KEYS[] = {
	"kit_sku_id", "kit_color", "child_sku_id", "child_sku", "child_color", "child_on_hand", NULL
};
static const char *const EXTRA_KEYS[] = {
	"id", "sku_id", "inventory_item_id", "quantity_required", "created_at", "item_name",
	"remaining", NULL
};

static const struct db_query Q_PACKAGING = {
	"INSERT INTO packaging_inventory (id, account_id, type, name, remaining_units)"
	" VALUES (?, ?, 'box', 'Gift box', 4)"
};
static const struct db_query Q_FILAMENT = {
	"INSERT INTO filament_inventory (id, account_id, type, color, remaining_grams)"
	" VALUES (?, ?, 'PLA', 'Black', 500)"
};
static const struct db_query Q_PRINT_FILE = {
	"INSERT INTO print_files (id, account_id, name) VALUES (?, ?, 'base.3mf')"
};
static const struct db_query Q_STANDARD = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, 'Lamp')"
};
static const struct db_query Q_STANDARD_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color)"
	" VALUES (?, ?, ?, 'LAMP-1', 'Red')"
};
static const struct db_query Q_ORDER = {
	"INSERT INTO orders (id, account_id, order_number, customer_name, total_revenue, status)"
	" VALUES (?, ?, 'A-1', 'Ann', 0, ?)"
};
static const struct db_query Q_ORDER_ITEM = {
	"INSERT INTO order_items (id, account_id, order_id, product_sku_id, sku, product_name,"
	" quantity, unit_price, total_price) VALUES (?, ?, ?, ?, 'x', 'x', 2, 0, 0)"
};
/* Every row of the account in each table a kit touches. */
static const struct db_query Q_COUNTS = {
	"SELECT CONCAT_WS(',',"
	" (SELECT COUNT(*) FROM products x WHERE x.account_id = a.id),"
	" (SELECT COUNT(*) FROM product_skus x WHERE x.account_id = a.id),"
	" (SELECT COUNT(*) FROM finished_goods x WHERE x.account_id = a.id),"
	" (SELECT COUNT(*) FROM sku_bom_children x WHERE x.account_id = a.id),"
	" (SELECT COUNT(*) FROM sku_bom_inventory x WHERE x.account_id = a.id),"
	" (SELECT COUNT(*) FROM product_components x WHERE x.account_id = a.id))"
	" FROM accounts a WHERE a.id = ?"
};
/* The products of the account as "type:name:owned by the kit", by type and name. */
static const struct db_query Q_PRODUCTS = {
	"SELECT GROUP_CONCAT(CONCAT_WS(':', p.product_type, p.name, IFNULL(k.name, '-'),"
	" IFNULL(p.quantity_per_kit, '-'), IFNULL(p.fixed_color, '-'), IFNULL(p.file_name, '-'))"
	" ORDER BY p.product_type, p.name SEPARATOR ',') FROM products p"
	" LEFT JOIN products k ON k.id = p.kit_product_id WHERE p.account_id = ?"
};
/* SKUs as "code:colour:composite:finished-good ready/colour/threshold", by code. */
static const struct db_query Q_SKUS = {
	"SELECT GROUP_CONCAT(CONCAT_WS(':', s.sku, s.color, s.is_composite,"
	" IFNULL(fg.ready_stock, 'none'), IFNULL(fg.color, '-'), IFNULL(fg.low_stock_threshold, '-'))"
	" ORDER BY s.sku SEPARATOR ',') FROM product_skus s"
	" LEFT JOIN finished_goods fg ON fg.product_sku_id = s.id WHERE s.account_id = ?"
};
static const struct db_query Q_BOM = {
	"SELECT GROUP_CONCAT(CONCAT(p.sku, '>', c.sku, ':', b.quantity_required)"
	" ORDER BY p.sku, c.sku SEPARATOR ',') FROM sku_bom_children b"
	" JOIN product_skus p ON p.id = b.parent_sku_id JOIN product_skus c ON c.id = b.child_sku_id"
	" WHERE b.account_id = ?"
};
static const struct db_query Q_EXTRAS = {
	"SELECT GROUP_CONCAT(CONCAT(s.sku, ':', i.inventory_kind, ':', i.quantity_required)"
	" ORDER BY s.sku, i.inventory_kind SEPARATOR ',') FROM sku_bom_inventory i"
	" JOIN product_skus s ON s.id = i.sku_id WHERE i.account_id = ?"
};
static const struct db_query Q_COMPONENTS = {
	"SELECT GROUP_CONCAT(CONCAT(p.name, ':', c.component_name) ORDER BY p.name SEPARATOR ',')"
	" FROM product_components c JOIN products p ON p.id = c.product_id WHERE c.account_id = ?"
};
static const struct db_query Q_SKU_ID = {
	"SELECT id FROM product_skus WHERE account_id = ? AND sku = ?"
};
static const struct db_query Q_PART_ID = {
	"SELECT id FROM products WHERE account_id = ? AND name = ? AND product_type = 'kit_part'"
};
/* The stock that left with removed SKUs, as the ledger recorded it. */
static const struct db_query Q_REMOVED = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT(counter, ':', CAST(delta AS SIGNED)) ORDER BY delta"
	" SEPARATOR ','), '') FROM stock_movements WHERE account_id = ? AND reason = 'removed'"
};
static const struct db_query Q_SET_READY = {
	"UPDATE finished_goods SET ready_stock = ? WHERE product_sku_id = ?"
};
static const struct db_query Q_READY = {
	"SELECT CONCAT(s.sku, ':', s.color, ':', fg.ready_stock) FROM product_skus s"
	" JOIN finished_goods fg ON fg.product_sku_id = s.id WHERE s.id = ?"
};

/* An account's materials and a print file; a standard product with one SKU. */
struct kfx {
	char box[FX_ID], spool[FX_ID], file[FX_ID], lamp[FX_ID], lamp_sku[FX_ID];
};

static int materials(const char *account, struct kfx *f)
{
	if (fx_uuid(f->box) < 0 || FX_SQL(Q_PACKAGING, DS(f->box), DS(account)) < 0 ||
	    fx_uuid(f->spool) < 0 || FX_SQL(Q_FILAMENT, DS(f->spool), DS(account)) < 0 ||
	    fx_uuid(f->file) < 0 || FX_SQL(Q_PRINT_FILE, DS(f->file), DS(account)) < 0 ||
	    fx_uuid(f->lamp) < 0 || FX_SQL(Q_STANDARD, DS(f->lamp), DS(account)) < 0 ||
	    fx_uuid(f->lamp_sku) < 0)
		return -1;
	if (FX_SQL(Q_STANDARD_SKU, DS(f->lamp_sku), DS(account), DS(f->lamp)) < 0)
		return -1;
	return fx_stock_reconcile(account);
}

/* Binds {box} {file} {lamp} {lamp_sku}, and {o_box} {o_file} {o_lamp} of the other account. */
static int setup(struct case_ctx *c, struct kfx *f, struct kfx *o)
{
	if (case_init(c) < 0 || materials(c->t.account, f) < 0 ||
	    materials(c->other.account, o) < 0)
		return -1;
	case_var(c, "box", f->box);
	case_var(c, "file", f->file);
	case_var(c, "lamp", f->lamp);
	case_var(c, "lamp_sku", f->lamp_sku);
	case_var(c, "o_box", o->box);
	case_var(c, "o_file", o->file);
	case_var(c, "o_lamp", o->lamp);
	return 0;
}

/* Red and Blue (Blue: 2 boxes of its own); Base (file, 2 per kit, a screw) and a fixed White
 * Lid; a box and 10 g of the spool for every variant. */
static void desk_set(char *out, size_t size, const struct kfx *f)
{
	snprintf(out, size,
		 "{\"name\":\"Desk Set\",\"description\":\"Pens\",\"category\":\"Office\","
		 "\"variants\":[{\"color\":\"Red\",\"filament_type\":\"PLA\",\"hex_code\":\"#FF0000\"},"
		 "{\"color\":\"Blue\",\"low_stock_threshold\":3,\"bundle_extras\":"
		 "[{\"inventory_item_id\":\"%s\",\"quantity_required\":2}]}],"
		 "\"parts\":[{\"name\":\"Base\",\"quantity_per_kit\":2,\"print_file_id\":\"%s\","
		 "\"components\":[{\"component_name\":\"Screw\"}]},"
		 "{\"name\":\"Lid\",\"fixed_color\":\"White\",\"fixed_hex_code\":\"#FFFFFF\","
		 "\"requires_assembly\":true}],"
		 "\"bundle_extras\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1},"
		 "{\"inventory_item_id\":\"%s\",\"quantity_required\":10}]}",
		 f->box, f->file, f->box, f->spool);
}

static int id_of(const struct db_query *q, const char *account, const char *name,
		 char id[FX_ID])
{
	char buf[FX_ID];
	if (FX_TEXT(buf, *q, DS(account), DS(name)) < 0)
		return -1;
	snprintf(id, FX_ID, "%s", buf);
	return 0;
}

static void test_create(void)
{
	struct case_ctx c;
	struct kfx f, o;
	char body[2048], path[128], kit[FX_ID] = "";
	RESP(r);
	FX(setup(&c, &f, &o));
	desk_set(body, sizeof body, &f);
	api("POST", "/products/kit", c.t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		json_t *d = rdata(&r), *k = json_object_get(d, "kit");
		snprintf(kit, sizeof kit, "%s", jstr(d, "id"));
		KEYS(d, KIT_PRODUCT_KEYS, &r);     /* no print_file_id, wiki_id, product_type ... */
		STR_EQ(jstr(d, "name"), "Desk Set", &r);
		INT_EQ(jbool(d, "requires_assembly"), 1, &r);
		KEYS(k, KIT_KEYS, &r);
		json_t *parts = json_object_get(k, "parts");
		if (INT_EQ(json_array_size(parts), 2, &r)) {
			json_t *base = json_array_get(parts, 0), *lid = json_array_get(parts, 1);
			KEYS(base, PART_KEYS, &r);
			STR_EQ(jstr(base, "name"), "Base", &r);
			STR_EQ(jstr(base, "print_file_id"), f.file, &r);
			STR_EQ(jstr(base, "file_name"), "base.3mf", &r);
			INT_EQ(jint(base, "quantity_per_kit"), 2, &r);
			INT_EQ(jbool(base, "requires_assembly"), 0, &r);
			INT_EQ(json_array_size(json_object_get(base, "components")), 1, &r);
			json_t *w = json_object_get(base, "variants");
			if (INT_EQ(json_array_size(w), 2, &r)) {
				KEYS(json_array_get(w, 0), WIRE_KEYS, &r);
				STR_EQ(jstr(json_array_get(w, 0), "child_sku"), "DESK-SET-BASE-BLUE", &r);
				STR_EQ(jstr(json_array_get(w, 1), "child_color"), "Red", &r);
				INT_EQ(jint(json_array_get(w, 1), "child_on_hand"), 0, &r);
			}
			STR_EQ(jstr(lid, "fixed_color"), "White", &r);
			INT_EQ(jbool(lid, "requires_assembly"), 1, &r);
			w = json_object_get(lid, "variants");
			if (INT_EQ(json_array_size(w), 2, &r))
				STR_EQ(jstr(json_array_get(w, 0), "child_sku_id"),
				       jstr(json_array_get(w, 1), "child_sku_id"), &r);
		}
		json_t *extras = json_object_get(k, "bundle_extras");
		if (INT_EQ(json_array_size(extras), 4, &r)) {
			KEYS(json_array_get(extras, 0), EXTRA_KEYS, &r);
			CHECK(is_iso_ms(jstr(json_array_get(extras, 0), "created_at")), &r, "time");
		}
		INT_EQ(json_object_size(json_object_get(k, "bundle_extras_by_variant")), 2, &r);
		json_t *skus = json_object_get(d, "skus");
		if (INT_EQ(json_array_size(skus), 2, &r)) {   /* the variants only */
			STR_EQ(jstr(json_array_get(skus, 0), "sku"), "DESK-SET-BLUE", &r);
			INT_EQ(jbool(json_array_get(skus, 0), "is_composite"), 1, &r);
			CHECK(!json_object_get(json_array_get(skus, 0), "price"), &r, "no price");
		}
	}
	/* the rows: kit and parts, SKUs each with a finished good at 0, BOM, extras, components */
	DB_IS(&Q_PRODUCTS, c.t.account,
	      "standard:Lamp:-:-:-:-,kit:Desk Set:-:-:-:-,kit_part:Base:Desk Set:2:-:base.3mf,"
	      "kit_part:Lid:Desk Set:1:White:-");
	DB_IS(&Q_SKUS, c.t.account,
	      "DESK-SET-BASE-BLUE:Blue:0:0:Blue:0,DESK-SET-BASE-RED:Red:0:0:Red:0,"
	      "DESK-SET-BLUE:Blue:1:0:Blue:3,DESK-SET-LID-WHITE:White:0:0:White:0,"
	      "DESK-SET-RED:Red:1:0:Red:0,LAMP-1:Red:0:none:-:-");
	DB_IS(&Q_BOM, c.t.account,
	      "DESK-SET-BLUE>DESK-SET-BASE-BLUE:2,DESK-SET-BLUE>DESK-SET-LID-WHITE:1,"
	      "DESK-SET-RED>DESK-SET-BASE-RED:2,DESK-SET-RED>DESK-SET-LID-WHITE:1");
	/* Blue's own 2 boxes win over the kit-wide box */
	DB_IS(&Q_EXTRAS, c.t.account,
	      "DESK-SET-BLUE:filament:10.000,DESK-SET-BLUE:packaging:2.000,"
	      "DESK-SET-RED:filament:10.000,DESK-SET-RED:packaging:1.000");
	DB_IS(&Q_COMPONENTS, c.t.account, "Base:Screw");
	DB_IS(&Q_COUNTS, c.t.account, "4,6,5,4,4,1");
	if (!kit[0])
		return;
	/* GET answers the same breakdown; /skus hides the part SKUs */
	snprintf(path, sizeof path, "/products/%s", kit);
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(json_object_get(json_object_get(rdata(&r), "kit"), "parts")),
		       2, &r);
	api("GET", "/skus", c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 3, &r);
	/* a kit whose name makes the same codes gets numbered ones */
	api("POST", "/products/kit", c.t.key,
	    "{\"name\":\"desk  set!\",\"variants\":[{\"color\":\"red\"}],\"parts\":[{\"name\":\"Base\"}]}",
	    &r);
	if (EXPECT(r, 201, NULL))
		STR_EQ(jstr(json_array_get(json_object_get(rdata(&r), "skus"), 0), "sku"),
		       "DESK-SET-RED-2", &r);
	/* a standard product is still null */
	snprintf(path, sizeof path, "/products/%s", f.lamp);
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		CHECK(json_is_null(json_object_get(rdata(&r), "kit")), &r, "kit null");
}

#define V_RED "{\"color\":\"Red\"}"
#define P_BASE "{\"name\":\"Base\"}"
#define KIT_BODY(name, variants, parts, extra) \
	"{\"name\":\"" name "\",\"variants\":[" variants "],\"parts\":[" parts "]" extra "}"

static void test_create_refused(void)
{
	struct case_ctx c;
	struct kfx f, o;
	FX(setup(&c, &f, &o));
	static const struct case_row rows[] = {
		{ "POST", "/products/kit", "write", KIT_BODY("Lamp", V_RED, P_BASE, ""),
		  409, "DUPLICATE_NAME", { NULL } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"print_file_id\":\"" NO_SUCH_ID "\"}", ""),
		  404, "PRINT_FILE_NOT_FOUND", { NULL } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"print_file_id\":\"{o_file}\"}", ""),
		  404, "PRINT_FILE_NOT_FOUND", { NULL } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", V_RED, P_BASE,
		  ",\"bundle_extras\":[{\"inventory_item_id\":\"{o_box}\",\"quantity_required\":1}]"),
		  404, "UNKNOWN_INVENTORY_ITEM", { NULL } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", "{\"color\":\"Red\",\"bundle_extras\":"
		  "[{\"inventory_item_id\":\"" NO_SUCH_ID "\",\"quantity_required\":1}]}", P_BASE, ""),
		  404, "UNKNOWN_INVENTORY_ITEM", { NULL } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ",\"wiki_id\":\"" NO_SUCH_ID "\""),
		  404, "ARTICLE_NOT_FOUND", { NULL } },
		/* bad input, named */
		{ "POST", "/products/kit", "write", "{\"variants\":[" V_RED "],\"parts\":[" P_BASE "]}",
		  422, "VALIDATION_ERROR", { "details.name" } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", "", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants" } },
		{ "POST", "/products/kit", "write", "{\"name\":\"A\",\"variants\":[" V_RED "]}",
		  422, "VALIDATION_ERROR", { "details.parts" } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", "{}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].color" } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", V_RED ",{\"color\":\"RED\"}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[1].color" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", "{\"color\":\"Red\",\"hex_code\":\"red\"}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].hex_code" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", "{\"color\":\"Red\",\"low_stock_threshold\":-1}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].low_stock_threshold" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"quantity_per_kit\":0}", ""),
		  422, "VALIDATION_ERROR", { "details.parts[0].quantity_per_kit" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"fixed_hex_code\":\"#12345\"}", ""),
		  422, "VALIDATION_ERROR", { "details.parts[0].fixed_hex_code" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"components\":[{\"notes\":\"x\"}]}", ""),
		  422, "VALIDATION_ERROR", { "details.parts[0].components[0].component_name" } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", V_RED, P_BASE,
		  ",\"bundle_extras\":[{\"inventory_item_id\":\"{box}\",\"quantity_required\":0}]"),
		  422, "VALIDATION_ERROR", { "details.bundle_extras[0].quantity_required" } },
		{ "POST", "/products/kit", "write", KIT_BODY("A", V_RED, P_BASE,
		  ",\"bundle_extras\":[{\"inventory_item_id\":\"{box}\",\"quantity_required\":1},"
		  "{\"inventory_item_id\":\"{box}\",\"quantity_required\":2}]"),
		  422, "VALIDATION_ERROR", { "details.bundle_extras[1].inventory_item_id" } },
		/* never accepted */
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", "{\"color\":\"Red\",\"sku_id\":\"{lamp_sku}\"}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].sku_id" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, "{\"name\":\"B\",\"part_id\":\"{lamp}\"}", ""),
		  422, "VALIDATION_ERROR", { "details.parts[0].part_id" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", "{\"color\":\"Red\",\"sku\":\"MINE\"}", P_BASE, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].sku" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ",\"print_file_id\":\"{file}\""),
		  422, "VALIDATION_ERROR", { "details.print_file_id" } },
		{ "POST", "/products/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ",\"product_type\":\"standard\""),
		  422, "VALIDATION_ERROR", { "details.product_type" } },
		/* scope */
		{ "POST", "/products/kit", "read", KIT_BODY("A", V_RED, P_BASE, ""),
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	CASE_RUN(&c, rows);
	/* none of them wrote anything: the lamp and its SKU only */
	DB_IS(&Q_COUNTS, c.t.account, "1,1,0,0,0,0");
}

/* A create failing after the kit, its SKUs and parts were written leaves no row. */
static void test_create_atomic(void)
{
	struct case_ctx c;
	struct kfx f, o;
	char body[2048];
	RESP(r);
	FX(setup(&c, &f, &o));
	DB_IS(&Q_COUNTS, c.t.account, "1,1,0,0,0,0");
	/* the last extra of the last variant is another account's */
	snprintf(body, sizeof body,
		 "{\"name\":\"Set\",\"variants\":[{\"color\":\"Red\"},{\"color\":\"Blue\","
		 "\"bundle_extras\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1},"
		 "{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}],"
		 "\"parts\":[{\"name\":\"Base\",\"components\":[{\"component_name\":\"Screw\"}]}],"
		 "\"bundle_extras\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}",
		 f.spool, o.box, f.box);
	api("POST", "/products/kit", c.t.key, body, &r);
	EXPECT(r, 404, "UNKNOWN_INVENTORY_ITEM");
	DB_IS(&Q_COUNTS, c.t.account, "1,1,0,0,0,0");
	/* the last part's print file is another account's */
	snprintf(body, sizeof body,
		 "{\"name\":\"Set\",\"variants\":[{\"color\":\"Red\"},{\"color\":\"Blue\"}],"
		 "\"parts\":[{\"name\":\"Base\",\"print_file_id\":\"%s\",\"components\":"
		 "[{\"component_name\":\"Screw\"}]},{\"name\":\"Lid\",\"print_file_id\":\"%s\"}]}",
		 f.file, o.file);
	api("POST", "/products/kit", c.t.key, body, &r);
	EXPECT(r, 404, "PRINT_FILE_NOT_FOUND");
	DB_IS(&Q_COUNTS, c.t.account, "1,1,0,0,0,0");
	/* the same kit, corrected, is created whole */
	snprintf(body, sizeof body,
		 "{\"name\":\"Set\",\"variants\":[{\"color\":\"Red\"},{\"color\":\"Blue\"}],"
		 "\"parts\":[{\"name\":\"Base\",\"print_file_id\":\"%s\",\"components\":"
		 "[{\"component_name\":\"Screw\"}]},{\"name\":\"Lid\",\"print_file_id\":\"%s\"}]}",
		 f.file, f.file);
	api("POST", "/products/kit", c.t.key, body, &r);
	EXPECT(r, 201, NULL);
	DB_IS(&Q_COUNTS, c.t.account, "4,7,6,4,0,1");
	DB_IS(&Q_COUNTS, c.other.account, "1,1,0,0,0,0");
}

/* The desk set of test_create, with stock on Red, Red's Base and the Lid. */
struct made {
	char kit[FX_ID], red[FX_ID], blue[FX_ID], base[FX_ID], lid[FX_ID];
	char base_red[FX_ID], base_blue[FX_ID], lid_sku[FX_ID];
};

static int make_desk_set(struct case_ctx *c, const struct kfx *f, struct made *m)
{
	char body[2048];
	desk_set(body, sizeof body, f);
	if (fx_created(c->t.key, "/products/kit", body, m->kit) < 0 ||
	    id_of(&Q_SKU_ID, c->t.account, "DESK-SET-RED", m->red) < 0 ||
	    id_of(&Q_SKU_ID, c->t.account, "DESK-SET-BLUE", m->blue) < 0 ||
	    id_of(&Q_SKU_ID, c->t.account, "DESK-SET-BASE-RED", m->base_red) < 0 ||
	    id_of(&Q_SKU_ID, c->t.account, "DESK-SET-BASE-BLUE", m->base_blue) < 0 ||
	    id_of(&Q_SKU_ID, c->t.account, "DESK-SET-LID-WHITE", m->lid_sku) < 0 ||
	    id_of(&Q_PART_ID, c->t.account, "Base", m->base) < 0 ||
	    id_of(&Q_PART_ID, c->t.account, "Lid", m->lid) < 0)
		return -1;
	case_var(c, "kit", m->kit);
	case_var(c, "red", m->red);
	case_var(c, "blue", m->blue);
	case_var(c, "base", m->base);
	case_var(c, "lid", m->lid);
	if (FX_SQL(Q_SET_READY, DI(5), DS(m->red)) < 0 ||
	    FX_SQL(Q_SET_READY, DI(7), DS(m->base_red)) < 0 ||
	    FX_SQL(Q_SET_READY, DI(4), DS(m->lid_sku)) < 0)
		return -1;
	return fx_stock_reconcile(c->t.account);
}

static void test_replace(void)
{
	struct case_ctx c;
	struct kfx f, o;
	struct made m;
	char body[2048], path[128];
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(make_desk_set(&c, &f, &m));
	snprintf(path, sizeof path, "/products/%s/kit", m.kit);
	/* Red kept as Crimson, Blue dropped, Green new; Base kept (3 per kit), Lid kept, Handle
	 * new; only the kit-wide box */
	snprintf(body, sizeof body,
		 "{\"name\":\"Desk Set 2\",\"variants\":[{\"sku_id\":\"%s\",\"color\":\"Crimson\","
		 "\"low_stock_threshold\":2},{\"color\":\"Green\"}],"
		 "\"parts\":[{\"part_id\":\"%s\",\"name\":\"Base\",\"quantity_per_kit\":3,"
		 "\"components\":[{\"component_name\":\"Bolt\"}]},"
		 "{\"part_id\":\"%s\",\"name\":\"Lid\",\"fixed_color\":\"White\"},{\"name\":\"Handle\"}],"
		 "\"bundle_extras\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}",
		 m.red, m.base, m.lid, f.box);
	api("PUT", path, c.t.key, body, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, KIT_PRODUCT_KEYS, &r);
		STR_EQ(jstr(d, "id"), m.kit, &r);
		STR_EQ(jstr(d, "name"), "Desk Set 2", &r);
		CHECK(json_is_null(json_object_get(d, "description")), &r, "full replace");
		json_t *parts = json_object_get(json_object_get(d, "kit"), "parts");
		if (INT_EQ(json_array_size(parts), 3, &r)) {
			STR_EQ(jstr(json_array_get(parts, 0), "part_id"), m.base, &r);
			STR_EQ(jstr(json_array_get(parts, 2), "name"), "Handle", &r);
		}
	}
	/* kept SKUs: same ids and codes, stock kept, colour followed (the part SKU too) */
	DB_IS(&Q_READY, m.red, "DESK-SET-RED:Crimson:5");
	DB_IS(&Q_READY, m.base_red, "DESK-SET-BASE-RED:Crimson:7");
	DB_IS(&Q_READY, m.lid_sku, "DESK-SET-LID-WHITE:White:4");
	DB_IS(&Q_SKUS, c.t.account,
	      "DESK-SET-2-BASE-GREEN:Green:0:0:Green:0,DESK-SET-2-GREEN:Green:1:0:Green:0,"
	      "DESK-SET-2-HANDLE-CRIMSON:Crimson:0:0:Crimson:0,"
	      "DESK-SET-2-HANDLE-GREEN:Green:0:0:Green:0,DESK-SET-BASE-RED:Crimson:0:7:Crimson:0,"
	      "DESK-SET-LID-WHITE:White:0:4:White:0,DESK-SET-RED:Crimson:1:5:Crimson:2,"
	      "LAMP-1:Red:0:none:-:-");
	DB_IS(&Q_BOM, c.t.account,
	      "DESK-SET-2-GREEN>DESK-SET-2-BASE-GREEN:3,DESK-SET-2-GREEN>DESK-SET-2-HANDLE-GREEN:1,"
	      "DESK-SET-2-GREEN>DESK-SET-LID-WHITE:1,DESK-SET-RED>DESK-SET-2-HANDLE-CRIMSON:1,"
	      "DESK-SET-RED>DESK-SET-BASE-RED:3,DESK-SET-RED>DESK-SET-LID-WHITE:1");
	DB_IS(&Q_EXTRAS, c.t.account,
	      "DESK-SET-2-GREEN:packaging:1.000,DESK-SET-RED:packaging:1.000");
	DB_IS(&Q_COMPONENTS, c.t.account, "Base:Bolt");
	DB_IS(&Q_PRODUCTS, c.t.account,
	      "standard:Lamp:-:-:-:-,kit:Desk Set 2:-:-:-:-,kit_part:Base:Desk Set 2:3:-:-,"
	      "kit_part:Handle:Desk Set 2:1:-:-,kit_part:Lid:Desk Set 2:1:White:-");
	/* Blue and its Base SKU are gone with their finished goods */
	DB_IS(&Q_COUNTS, c.t.account, "5,8,7,6,2,1");

	/* the Lid and the Handle dropped, Base no longer per colour but fixed Black: its old SKUs
	 * go (stock with them), Red keeps its stock */
	FX(FX_SQL(Q_SET_READY, DI(9), DS(m.red)));
	FX(fx_stock_reconcile(c.t.account));
	snprintf(body, sizeof body,
		 "{\"name\":\"Desk Set 2\",\"variants\":[{\"sku_id\":\"%s\",\"color\":\"Crimson\"}],"
		 "\"parts\":[{\"part_id\":\"%s\",\"name\":\"Base\",\"fixed_color\":\"Black\"}]}",
		 m.red, m.base);
	api("PUT", path, c.t.key, body, &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_SKUS, c.t.account,
	      "DESK-SET-2-BASE-BLACK:Black:0:0:Black:0,DESK-SET-RED:Crimson:1:9:Crimson:0,"
	      "LAMP-1:Red:0:none:-:-");
	DB_IS(&Q_BOM, c.t.account, "DESK-SET-RED>DESK-SET-2-BASE-BLACK:1");
	DB_IS(&Q_COUNTS, c.t.account, "3,3,2,1,0,0");
	/* the Base's Red SKU (7) and the Lid's (4) left with their rows: one movement each */
	DB_IS(&Q_REMOVED, c.t.account,
	      "finished_goods.ready_stock:-7,finished_goods.ready_stock:-4");
}

static void test_replace_refused(void)
{
	struct case_ctx c;
	struct kfx f, o;
	struct made m;
	char body[512], other_kit[FX_ID], other_sku[FX_ID], o_kit[FX_ID], order[FX_ID], line[FX_ID];
	char before[64] = "";
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(make_desk_set(&c, &f, &m));
	/* another kit of this account, and one of the other account */
	FX(fx_created(c.t.key, "/products/kit",
		      KIT_BODY("Other", "{\"color\":\"Teal\"}", "{\"name\":\"Foot\"}", ""), other_kit));
	FX(id_of(&Q_SKU_ID, c.t.account, "OTHER-TEAL", other_sku));
	case_var(&c, "other_sku", other_sku);
	FX(fx_created(c.other.key, "/products/kit",
		      KIT_BODY("Theirs", "{\"color\":\"Teal\"}", "{\"name\":\"Foot\"}", ""), o_kit));
	case_var(&c, "o_kit", o_kit);
	/* the lamp is composite with the Lid as a child */
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":1}]}", m.lid_sku);
	{
		char p[128];
		snprintf(p, sizeof p, "/skus/%s/bom", f.lamp_sku);
		api("PUT", p, c.t.key, body, &r);
		FX(EXPECT(r, 200, NULL) ? 0 : -1);
	}
	/* Blue is on an open order line */
	FX(fx_uuid(order));
	FX(fx_uuid(line));
	FX(FX_SQL(Q_ORDER, DS(order), DS(c.t.account), DS("processing")));
	FX(FX_SQL(Q_ORDER_ITEM, DS(line), DS(c.t.account), DS(order), DS(m.blue)));
	FX(FX_TEXT(before, Q_COUNTS, DS(c.t.account)));

#define KEEP_ALL_PARTS "{\"part_id\":\"{base}\",\"name\":\"Base\"},"          \
	"{\"part_id\":\"{lid}\",\"name\":\"Lid\",\"fixed_color\":\"White\"}"
#define KEEP_ALL_VARIANTS "{\"sku_id\":\"{red}\",\"color\":\"Red\"},"         \
	"{\"sku_id\":\"{blue}\",\"color\":\"Blue\"}"
	static const struct case_row rows[] = {
		/* the kit: unknown, another account's (both ways), not a kit */
		{ "PUT", "/products/" NO_SUCH_ID "/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ""), 404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "PUT", "/products/{o_kit}/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ""), 404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "PUT", "/products/{kit}/kit", CASE_OTHER,
		  KIT_BODY("A", V_RED, P_BASE, ""), 404, "PRODUCT_NOT_FOUND", { NULL } },
		{ "PUT", "/products/{lamp}/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ""), 400, "NOT_A_KIT", { NULL } },
		{ "PUT", "/products/{base}/kit", "write",
		  KIT_BODY("A", V_RED, P_BASE, ""), 400, "NOT_A_KIT", { NULL } },
		/* ids of another kit */
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("A", "{\"sku_id\":\"{other_sku}\",\"color\":\"Red\"}", KEEP_ALL_PARTS, ""),
		  400, "NOT_IN_KIT", { NULL } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("A", KEEP_ALL_VARIANTS, "{\"part_id\":\"{lamp}\",\"name\":\"B\"}", ""),
		  400, "NOT_IN_KIT", { NULL } },
		/* removing the Lid (the lamp's child), Blue (open order) */
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Desk Set", KEEP_ALL_VARIANTS, "{\"part_id\":\"{base}\",\"name\":\"Base\"}", ""),
		  409, "PART_IN_EXTERNAL_BOM", { NULL } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Desk Set", KEEP_ALL_VARIANTS,
			   "{\"part_id\":\"{base}\",\"name\":\"Base\"},{\"part_id\":\"{lid}\",\"name\":\"Lid\"}", ""),
		  409, "PART_IN_EXTERNAL_BOM", { NULL } },    /* Lid no longer fixed: its SKU goes */
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Desk Set", "{\"sku_id\":\"{red}\",\"color\":\"Red\"}", KEEP_ALL_PARTS, ""),
		  409, "SKU_IN_USE_BY_ORDER", { NULL } },
		/* name of another product; a print file or item not the account's */
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Lamp", KEEP_ALL_VARIANTS, KEEP_ALL_PARTS, ""), 409, "DUPLICATE_NAME", { NULL } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Desk Set", KEEP_ALL_VARIANTS, KEEP_ALL_PARTS
			   ",{\"name\":\"C\",\"print_file_id\":\"{o_file}\"}", ""),
		  404, "PRINT_FILE_NOT_FOUND", { NULL } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("Desk Set", KEEP_ALL_VARIANTS, KEEP_ALL_PARTS,
			   ",\"bundle_extras\":[{\"inventory_item_id\":\"{o_box}\",\"quantity_required\":1}]"),
		  404, "UNKNOWN_INVENTORY_ITEM", { NULL } },
		/* bad input */
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("A", "{\"sku_id\":\"{red}\",\"color\":\"Red\"},{\"sku_id\":\"{red}\","
			   "\"color\":\"Pink\"}", KEEP_ALL_PARTS, ""),
		  422, "VALIDATION_ERROR", { "details.variants[1].sku_id" } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("A", KEEP_ALL_VARIANTS, "{\"part_id\":\"{base}\",\"name\":\"B\"},"
			   "{\"part_id\":\"{base}\",\"name\":\"C\"}", ""),
		  422, "VALIDATION_ERROR", { "details.parts[1].part_id" } },
		{ "PUT", "/products/{kit}/kit", "write", "{\"name\":\"A\",\"parts\":[" P_BASE "]}",
		  422, "VALIDATION_ERROR", { "details.variants" } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("", KEEP_ALL_VARIANTS, KEEP_ALL_PARTS, ""),
		  422, "VALIDATION_ERROR", { "details.name" } },
		{ "PUT", "/products/{kit}/kit", "write",
		  KIT_BODY("A", "{\"sku_id\":7,\"color\":\"Red\"}", KEEP_ALL_PARTS, ""),
		  422, "VALIDATION_ERROR", { "details.variants[0].sku_id" } },
		/* scope */
		{ "PUT", "/products/{kit}/kit", "read", KIT_BODY("A", V_RED, P_BASE, ""),
		  403, "INSUFFICIENT_SCOPE", { NULL } },
	};
#undef KEEP_ALL_PARTS
#undef KEEP_ALL_VARIANTS
	CASE_RUN(&c, rows);
	/* nothing changed: the same rows, the stock where it was */
	DB_IS(&Q_COUNTS, c.t.account, before);
	DB_IS(&Q_READY, m.red, "DESK-SET-RED:Red:5");
	DB_IS(&Q_READY, m.base_red, "DESK-SET-BASE-RED:Red:7");
	DB_IS(&Q_READY, m.lid_sku, "DESK-SET-LID-WHITE:White:4");
	DB_IS(&Q_PRODUCTS, c.t.account,
	      "standard:Lamp:-:-:-:-,kit:Desk Set:-:-:-:-,kit:Other:-:-:-:-,"
	      "kit_part:Base:Desk Set:2:-:base.3mf,kit_part:Foot:Other:1:-:-,"
	      "kit_part:Lid:Desk Set:1:White:-");
	/* a closed line does not hold Blue back; the lamp's child still does hold the Lid */
	{
		static const struct db_query Q_CLOSE = {
			"UPDATE orders SET status = 'cancelled' WHERE id = ?"
		};
		FX(FX_SQL(Q_CLOSE, DS(order)));
		snprintf(body, sizeof body,
			 "{\"name\":\"Desk Set\",\"variants\":[{\"sku_id\":\"%s\",\"color\":\"Red\"}],"
			 "\"parts\":[{\"part_id\":\"%s\",\"name\":\"Base\"},{\"part_id\":\"%s\","
			 "\"name\":\"Lid\",\"fixed_color\":\"White\"}]}", m.red, m.base, m.lid);
		char p[128];
		snprintf(p, sizeof p, "/products/%s/kit", m.kit);
		api("PUT", p, c.t.key, body, &r);
		EXPECT(r, 200, NULL);
		DB_IS(&Q_READY, m.lid_sku, "DESK-SET-LID-WHITE:White:4");
	}
}

/* A replace failing after it deleted and rewrote rows leaves the kit as it was: same GET
 * answer, same rows, same stock. */
static void test_replace_atomic(void)
{
	struct case_ctx c;
	struct kfx f, o;
	struct made m;
	char body[2048], path[128], before[64] = "";
	char *get_before = NULL;
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(make_desk_set(&c, &f, &m));
	snprintf(path, sizeof path, "/products/%s", m.kit);
	api("GET", path, c.t.key, NULL, &r);
	FX(EXPECT(r, 200, NULL) ? 0 : -1);
	get_before = json_dumps(rdata(&r), JSON_SORT_KEYS | JSON_COMPACT);
	FX(FX_TEXT(before, Q_COUNTS, DS(c.t.account)));
	FX(get_before ? 0 : -1);
	char kit_path[128];
	snprintf(kit_path, sizeof kit_path, "/products/%s/kit", m.kit);
	/* Blue dropped, Green new, a new part; the last extra of the last variant unknown */
	snprintf(body, sizeof body,
		 "{\"name\":\"Renamed\",\"variants\":[{\"sku_id\":\"%s\",\"color\":\"Pink\"},"
		 "{\"color\":\"Green\",\"bundle_extras\":[{\"inventory_item_id\":\"%s\","
		 "\"quantity_required\":1},{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}],"
		 "\"parts\":[{\"part_id\":\"%s\",\"name\":\"Base\",\"quantity_per_kit\":5},"
		 "{\"name\":\"Handle\",\"components\":[{\"component_name\":\"Pin\"}]}]}",
		 m.red, f.spool, o.box, m.base);
	api("PUT", kit_path, c.t.key, body, &r);
	EXPECT(r, 404, "UNKNOWN_INVENTORY_ITEM");
	/* the last part's print file another account's */
	snprintf(body, sizeof body,
		 "{\"name\":\"Renamed\",\"variants\":[{\"sku_id\":\"%s\",\"color\":\"Pink\"},"
		 "{\"color\":\"Green\"}],\"parts\":[{\"part_id\":\"%s\",\"name\":\"Base\"},"
		 "{\"name\":\"Handle\",\"print_file_id\":\"%s\"}]}", m.red, m.base, o.file);
	api("PUT", kit_path, c.t.key, body, &r);
	EXPECT(r, 404, "PRINT_FILE_NOT_FOUND");
	DB_IS(&Q_COUNTS, c.t.account, before);
	DB_IS(&Q_READY, m.red, "DESK-SET-RED:Red:5");
	DB_IS(&Q_READY, m.base_red, "DESK-SET-BASE-RED:Red:7");
	DB_IS(&Q_READY, m.lid_sku, "DESK-SET-LID-WHITE:White:4");
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		char *now = json_dumps(rdata(&r), JSON_SORT_KEYS | JSON_COMPACT);
		CHECK(now && strcmp(now, get_before) == 0, &r, "the kit as before:\n%s",
		      get_before);
		free(now);
	}
	free(get_before);
}

/* Kits created at the same time whose names make the same codes: every one is created whole,
 * each with codes of its own (CUP-RED, CUP-RED-2 ...). */
#define RACERS 6
static const struct db_query Q_CODES = {
	"SELECT CONCAT(COUNT(*), ':', COUNT(DISTINCT s.sku), ':', SUM(s.sku LIKE 'CUP-RED%'), ':',"
	" (SELECT COUNT(*) FROM finished_goods fg WHERE fg.account_id = s.account_id))"
	" FROM product_skus s WHERE s.account_id = ?"
};

static void test_create_race(void)
{
	static const char *const names[RACERS] = { "Cup!", "Cup?", "Cup.", "Cup#", "Cup*", "Cup~" };
	struct tenant t;
	struct preq q[RACERS];
	char bodies[RACERS][256];
	char want[64];
	FX(fx_tenant(&t, "read,write"));
	memset(q, 0, sizeof q);
	for (int i = 0; i < RACERS; i++) {
		snprintf(bodies[i], sizeof bodies[i], KIT_BODY("%s", "{\"color\":\"Red\"}",
			 "{\"name\":\"Handle\"}", ""), names[i]);
		snprintf(q[i].path, sizeof q[i].path, "/products/kit");
		q[i].body = bodies[i];
		q[i].key = t.key;
		preq_start(&q[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		preq_join(&q[i]);
		CHECK(q[i].status == 201, NULL, "%s: 201, got %ld %s", names[i], q[i].status,
		      q[i].code);
	}
	/* a variant and a part SKU per kit, all codes distinct, each with its finished good */
	snprintf(want, sizeof want, "%d:%d:%d:%d", 2 * RACERS, 2 * RACERS, RACERS, 2 * RACERS);
	DB_IS(&Q_CODES, t.account, want);
}

int suite_kits(void)
{
	CU_pSuite s = CU_add_suite("kits", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create);
	ADD_TEST(s, test_create_refused);
	ADD_TEST(s, test_create_atomic);
	ADD_TEST(s, test_replace);
	ADD_TEST(s, test_replace_refused);
	ADD_TEST(s, test_replace_atomic);
	ADD_TEST(s, test_create_race);
	return 0;
}
