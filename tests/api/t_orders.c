/* t_orders.c - /orders: create (lines linked by SKU id or code, snapshots, cents, totals,
 * generated numbers, INVALID_PRODUCT_SKU for unknown and another account's SKUs, 409), list
 * (order, filters, paging), get (lines in order), PATCH (no stock effect, fields refused with a
 * 422 naming them, shipped_at), /orders/stats (every key, last 30 days); fulfilment of one line
 * and of all (R2: ready_stock and stock_movements read before and after; R6 line and order
 * status; R5 KIT_NOT_ASSEMBLED / KIT_NOT_PRODUCED with a kit's parts untouched; a fulfil-all
 * with a short line ships the others and reports it, with every line short changes nothing);
 * produce (kit task and print jobs for the shortfall, bundle-extra shortages, unmatched lines,
 * nothing made twice, no stock moved); cancelled lines; requests at once on one order; scopes,
 * other accounts' ids, bad input. Catalog and stock rows are made directly in MariaDB (then
 * reconciled with the ledger). */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#include <limits.h>
#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const ORD_KEYS[] = {
	"id", "order_number", "platform", "customer_name", "customer_email", "customer_phone",
	"order_date", "status", "total_revenue", "shipping_cost", "tax_amount", "discount_amount",
	"shipping_street", "shipping_city", "shipping_state", "shipping_zip", "shipping_country",
	"tracking_number", "tracking_url", "shipped_at", "external_id", "notes", "created_at",
	"updated_at", NULL
};
static const char *const ORD_ITEMS_KEYS[] = {
	"id", "order_number", "platform", "customer_name", "customer_email", "customer_phone",
	"order_date", "status", "total_revenue", "shipping_cost", "tax_amount", "discount_amount",
	"shipping_street", "shipping_city", "shipping_state", "shipping_zip", "shipping_country",
	"tracking_number", "tracking_url", "shipped_at", "external_id", "notes", "created_at",
	"updated_at", "items", NULL
};
static const char *const ITEM_KEYS[] = {
	"id", "product_sku_id", "sku", "product_name", "quantity", "unit_price", "total_price",
	"quantity_fulfilled", "fulfillment_status", "notes", "created_at", NULL
};

static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name, print_file_id) VALUES (?, ?, ?, ?)"
};
static const struct db_query Q_FILE = {
	"INSERT INTO print_files (id, account_id, name, number_of_units) VALUES (?, ?, ?, 2)"
};
static const struct db_query Q_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color, filament_type,"
	" stock_level) VALUES (?, ?, ?, ?, 'Red', 'PETG', 40)"
};
static const struct db_query Q_FG = {
	"INSERT INTO finished_goods (id, account_id, product_sku_id, sku, color, material,"
	" ready_stock, low_stock_threshold, status) VALUES (?, ?, ?, ?, 'Red', 'PETG', ?, 2, 'in_stock')"
};
static const struct db_query Q_PACKAGING = {
	"INSERT INTO packaging_inventory (id, account_id, type, name, remaining_units)"
	" VALUES (?, ?, 'box', 'Gift box', 1)"
};
static const struct db_query Q_BOM_ITEM = {
	"INSERT INTO sku_bom_inventory (id, account_id, sku_id, inventory_item_id, inventory_kind,"
	" quantity_required) VALUES (?, ?, ?, ?, 'packaging', 1)"
};
static const struct db_query Q_BOM = {
	"INSERT INTO sku_bom_children (id, account_id, parent_sku_id, child_sku_id,"
	" quantity_required) VALUES (?, ?, ?, ?, ?)"
};

/* Reads. */
static const struct db_query Q_READY = {
	"SELECT ready_stock FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_FG_STATUS = {
	"SELECT status FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_SKU_LEVEL = {
	"SELECT stock_level FROM product_skus WHERE id = ?"
};
/* The movements of a SKU's ready stock: "delta:level_after:reason:ref_id:note,..." oldest first. */
static const struct db_query Q_MOVES = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', CAST(m.delta AS SIGNED),"
	" CAST(m.level_after AS SIGNED), m.reason, IFNULL(m.ref_id, '-'), IFNULL(m.note, '-'))"
	" ORDER BY m.id), '') FROM stock_movements m JOIN finished_goods fg ON fg.id = m.item_id"
	" WHERE m.counter = 'finished_goods.ready_stock' AND fg.product_sku_id = ?"
	" AND m.reason <> 'reconciliation'"
};
static const struct db_query Q_MOVES_ACCOUNT = {
	"SELECT COUNT(*) FROM stock_movements WHERE account_id = ?"
};
static const struct db_query Q_ORDER_STATE = {
	"SELECT CONCAT_WS(':', status, shipped_at IS NOT NULL, IFNULL(tracking_number, '-'))"
	" FROM orders WHERE id = ?"
};
/* An order's lines: "sku:fulfilled:status,..." in their order. */
static const struct db_query Q_LINES = {
	"SELECT GROUP_CONCAT(CONCAT_WS(':', sku, quantity_fulfilled, fulfillment_status)"
	" ORDER BY created_at, position, id) FROM order_items WHERE order_id = ?"
};
static const struct db_query Q_LINE_FG = {
	"SELECT GROUP_CONCAT(CONCAT_WS(':', i.sku, fg.id IS NOT NULL AND fg.id = i.finished_good_id)"
	" ORDER BY i.position) FROM order_items i LEFT JOIN finished_goods fg"
	" ON fg.product_sku_id = i.product_sku_id WHERE i.order_id = ?"
};
static const struct db_query Q_TASKS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', t.task_type, t.status, t.sku, t.quantity,"
	" t.order_item_id = i.id) ORDER BY t.sku), '') FROM assembly_tasks t"
	" JOIN order_items i ON i.id = t.order_item_id WHERE t.order_id = ?"
};
static const struct db_query Q_JOBS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', s.sku, j.status, j.number_of_units,"
	" j.quantity_per_print, j.file_name, j.printer_id IS NULL, j.color, j.material_type)"
	" ORDER BY s.sku), '') FROM print_jobs j JOIN product_skus s ON s.id = j.product_sku_id"
	" WHERE j.order_id = ?"
};
static const struct db_query Q_COUNT_TASKS = {
	"SELECT COUNT(*) FROM assembly_tasks WHERE order_id = ?"
};
static const struct db_query Q_COUNT_JOBS = {
	"SELECT COUNT(*) FROM print_jobs WHERE order_id = ?"
};
static const struct db_query Q_LINE_CANCEL = {
	"UPDATE order_items SET fulfillment_status = 'cancelled' WHERE id = ?"
};
static const struct db_query Q_FG_OFF = {
	"UPDATE finished_goods SET is_active = 0 WHERE product_sku_id = ?"
};
static const struct db_query Q_SET_JOB_STATUS = {
	"UPDATE print_jobs SET status = ? WHERE order_id = ?"
};

/* An account's catalog. WIDGET (10 ready) and GADGET (2 ready) of product Widget (print file
 * widget.3mf); KIT (1 ready) of two parts, PART1 x2 (3 ready, product Part with part.3mf) and
 * PART2 x1 (1 ready, product Bare without a print file), and a gift box (1 left) per kit. */
struct ofx {
	char widget[FX_ID], gadget[FX_ID], kit[FX_ID], part1[FX_ID], part2[FX_ID], box[FX_ID];
};

static int new_id(char id[FX_ID])
{
	char u[UUID_LEN + 1];
	if (util_uuid(u) < 0)
		return -1;
	snprintf(id, FX_ID, "%s", u);
	return 0;
}

static int product(const char *account, const char *name, const char *file, char id[FX_ID])
{
	char fid[FX_ID];
	if (new_id(id) < 0 || new_id(fid) < 0)
		return -1;
	if (file && FX_SQL(Q_FILE, DS(fid), DS(account), DS(file)) < 0)
		return -1;
	return FX_SQL(Q_PRODUCT, DS(id), DS(account), DS(name), DS(file ? fid : NULL));
}

static int sku(const char *account, const char *prod, const char *code, int ready,
	       char id[FX_ID])
{
	char fg[FX_ID];
	if (new_id(id) < 0 || new_id(fg) < 0 ||
	    FX_SQL(Q_SKU, DS(id), DS(account), DS(prod), DS(code)) < 0)
		return -1;
	return FX_SQL(Q_FG, DS(fg), DS(account), DS(id), DS(code), DI(ready));
}

static int bom(const char *account, const char *parent, const char *child, int qty)
{
	char id[FX_ID];
	if (new_id(id) < 0)
		return -1;
	return FX_SQL(Q_BOM, DS(id), DS(account), DS(parent), DS(child), DI(qty));
}

static int catalog(const char *account, struct ofx *f)
{
	char widget[FX_ID], kitp[FX_ID], part[FX_ID], bare[FX_ID];
	if (product(account, "Widget", "widget.3mf", widget) < 0 ||
	    product(account, "Kit", NULL, kitp) < 0 ||
	    product(account, "Part", "part.3mf", part) < 0 ||
	    product(account, "Bare", NULL, bare) < 0 ||
	    sku(account, widget, "WIDGET", 10, f->widget) < 0 ||
	    sku(account, widget, "GADGET", 2, f->gadget) < 0 ||
	    sku(account, kitp, "KIT", 1, f->kit) < 0 ||
	    sku(account, part, "PART1", 3, f->part1) < 0 ||
	    sku(account, bare, "PART2", 1, f->part2) < 0 ||
	    bom(account, f->kit, f->part1, 2) < 0 || bom(account, f->kit, f->part2, 1) < 0)
		return -1;
	char row[FX_ID];
	if (new_id(f->box) < 0 || new_id(row) < 0 ||
	    FX_SQL(Q_PACKAGING, DS(f->box), DS(account)) < 0 ||
	    FX_SQL(Q_BOM_ITEM, DS(row), DS(account), DS(f->kit), DS(f->box)) < 0)
		return -1;
	return fx_stock_reconcile(account);
}

static int setup(struct case_ctx *c, struct ofx *f, struct ofx *o)
{
	if (case_init(c) < 0 || catalog(c->t.account, f) < 0 || catalog(c->other.account, o) < 0)
		return -1;
	case_var(c, "widget", f->widget);
	case_var(c, "gadget", f->gadget);
	case_var(c, "kit", f->kit);
	case_var(c, "o_widget", o->widget);
	return 0;
}

/* POST /orders of one line per (sku id, code, quantity) in lines ("" id: linked by code). */
static int order(const char *key, const char *const lines[][3], int n, const char *extra,
		 char id[FX_ID])
{
	char body[2048];
	int len = snprintf(body, sizeof body, "{\"customer_name\":\"Ada\"%s%s,\"items\":[",
			   extra ? "," : "", extra ? extra : "");
	for (int i = 0; i < n; i++)
		len += snprintf(body + len, sizeof body - (size_t)len,
				"%s{%s%s%s\"sku\":\"%s\",\"product_name\":\"P %s\",\"quantity\":%s,"
				"\"unit_price\":250}", i ? "," : "", lines[i][0][0] ? "\"product_sku_id\":\"" : "",
				lines[i][0], lines[i][0][0] ? "\"," : "", lines[i][1], lines[i][1],
				lines[i][2]);
	snprintf(body + len, sizeof body - (size_t)len, "]}");
	return fx_created(key, "/orders", body, id);
}

/* The id of line i of order id. */
static int line_id(const char *key, const char *id, int i, char out[FX_ID])
{
	char path[128];
	RESP(r);
	snprintf(path, sizeof path, "/orders/%s", id);
	api("GET", path, key, NULL, &r);
	const char *v = jstr(json_array_get(json_object_get(rdata(&r), "items"), (size_t)i), "id");
	if (!EXPECT(r, 200, NULL) || !CHECK(v != NULL, &r, "line %d", i))
		return -1;
	snprintf(out, FX_ID, "%s", v);
	return 0;
}

static void test_create_get(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char body[1024], path[128], id[FX_ID];
	RESP(r);
	FX(setup(&c, &f, &o));
	long long moves = fx_count(&Q_MOVES_ACCOUNT, c.t.account);
	/* by id, by code (GADGET), unmatched code; money in cents; total_revenue = sum */
	snprintf(body, sizeof body,
		 "{\"customer_name\":\"Ada\",\"customer_email\":\"ada@example.com\","
		 "\"shipping_cost\":500,\"tax_amount\":120,\"external_id\":\"ext-1\","
		 "\"items\":[{\"product_sku_id\":\"%s\",\"sku\":\"W-SHOP\",\"product_name\":\"Widget red\","
		 "\"quantity\":3,\"unit_price\":1999,\"notes\":\"gift\"},"
		 "{\"sku\":\"GADGET\",\"product_name\":\"Gadget\",\"quantity\":1,\"unit_price\":0},"
		 "{\"sku\":\"NOPE\",\"product_name\":\"Custom\",\"quantity\":2,\"unit_price\":100}]}",
		 f.widget);
	api("POST", "/orders", c.t.key, body, &r);
	if (!EXPECT(r, 201, NULL))
		return;
	json_t *d = rdata(&r);
	KEYS(d, ORD_ITEMS_KEYS, &r);
	snprintf(id, sizeof id, "%s", jstr(d, "id"));
	CHECK(util_is_uuid(id), &r, "id is a UUID");
	const char *num = jstr(d, "order_number");
	CHECK(num && strlen(num) == 17 && strncmp(num, "MAN-", 4) == 0 && num[12] == '-' &&
	      strspn(num + 13, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") == 4, &r,
	      "MAN-YYYYMMDD-XXXX: %s", num ? num : "(null)");
	STR_EQ(jstr(d, "platform"), "manual", &r);
	STR_EQ(jstr(d, "status"), "pending", &r);
	STR_EQ(jstr(d, "shipping_country"), "USA", &r);
	INT_EQ(jint(d, "total_revenue"), 3 * 1999 + 0 + 2 * 100, &r);
	INT_EQ(jint(d, "shipping_cost"), 500, &r);
	INT_EQ(jint(d, "discount_amount"), 0, &r);
	CHECK(is_iso_ms(jstr(d, "order_date")), &r, "order_date defaults to now");
	CHECK(json_is_null(json_object_get(d, "shipped_at")), &r, "shipped_at null");
	json_t *items = json_object_get(d, "items");
	if (INT_EQ(json_array_size(items), 3, &r)) {
		json_t *a = json_array_get(items, 0), *b = json_array_get(items, 1);
		json_t *u = json_array_get(items, 2);
		KEYS(a, ITEM_KEYS, &r);
		STR_EQ(jstr(a, "product_sku_id"), f.widget, &r);
		STR_EQ(jstr(a, "sku"), "W-SHOP", &r);           /* the client's snapshot */
		STR_EQ(jstr(a, "product_name"), "Widget red", &r);
		INT_EQ(jint(a, "total_price"), 5997, &r);
		INT_EQ(jint(a, "quantity_fulfilled"), 0, &r);
		STR_EQ(jstr(a, "fulfillment_status"), "pending", &r);
		STR_EQ(jstr(a, "notes"), "gift", &r);
		STR_EQ(jstr(b, "product_sku_id"), f.gadget, &r); /* matched by code */
		CHECK(json_is_null(json_object_get(u, "product_sku_id")), &r, "unmatched: null");
	}
	/* finished goods resolved for the linked lines; no stock moved */
	DB_IS(&Q_LINE_FG, id, "W-SHOP:1,GADGET:1,NOPE:0");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves, NULL);

	/* GET: the same, lines in the order sent */
	snprintf(path, sizeof path, "/orders/%s", id);
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), ORD_ITEMS_KEYS, &r);
		json_t *it = json_object_get(rdata(&r), "items");
		STR_EQ(jstr(json_array_get(it, 0), "sku"), "W-SHOP", &r);
		STR_EQ(jstr(json_array_get(it, 2), "sku"), "NOPE", &r);
		STR_EQ(jstr(rdata(&r), "external_id"), "ext-1", &r);
	}

	/* given number, platform, total; a second use of the number is 409 */
	api("POST", "/orders", c.t.key,
	    "{\"customer_name\":\"Bo\",\"order_number\":\"SHOP-1\",\"platform\":\"shopify\","
	    "\"total_revenue\":7,\"order_date\":\"2026-01-02T03:04:05Z\",\"items\":[{\"sku\":\"X\","
	    "\"product_name\":\"X\",\"quantity\":1,\"unit_price\":10}]}", &r);
	if (EXPECT(r, 201, NULL)) {
		STR_EQ(jstr(rdata(&r), "order_number"), "SHOP-1", &r);
		INT_EQ(jint(rdata(&r), "total_revenue"), 7, &r);
		STR_EQ(jstr(rdata(&r), "order_date"), "2026-01-02T03:04:05.000Z", &r);
	}
	api("POST", "/orders", c.t.key,
	    "{\"customer_name\":\"Bo\",\"order_number\":\"SHOP-1\",\"items\":[{\"sku\":\"X\","
	    "\"product_name\":\"X\",\"quantity\":1,\"unit_price\":10}]}", &r);
	EXPECT(r, 409, "DUPLICATE_ORDER_NUMBER");
	/* another account may use it */
	api("POST", "/orders", c.other.key,
	    "{\"customer_name\":\"Bo\",\"order_number\":\"SHOP-1\",\"platform\":\"etsy\",\"items\":"
	    "[{\"sku\":\"X\",\"product_name\":\"X\",\"quantity\":1,\"unit_price\":10}]}", &r);
	if (EXPECT(r, 201, NULL))
		STR_EQ(jstr(rdata(&r), "platform"), "etsy", &r);
	api("POST", "/orders", c.t.key,
	    "{\"customer_name\":\"Bo\",\"platform\":\"other\",\"items\":[{\"sku\":\"X\","
	    "\"product_name\":\"X\",\"quantity\":1,\"unit_price\":10}]}", &r);
	if (EXPECT(r, 201, NULL))
		CHECK(strncmp(jstr(rdata(&r), "order_number"), "PF-", 3) == 0, &r, "PF- number");
}

static void test_list(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char a[FX_ID], b[FX_ID], d[FX_ID], oo[FX_ID];
	static const char *const one[][3] = { { "", "X", "1" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, one, 1, "\"order_date\":\"2026-03-01T00:00:00Z\"", a));
	FX(order(c.t.key, one, 1, "\"order_date\":\"2026-05-01T00:00:00Z\",\"platform\":\"etsy\"", b));
	FX(order(c.t.key, one, 1, "\"order_date\":\"2026-04-01T12:00:00Z\"", d));
	FX(order(c.other.key, one, 1, NULL, oo));
	case_var(&c, "a", a);
	case_var(&c, "b", b);
	case_var(&c, "d", d);
	case_var(&c, "oo", oo);
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", d), c.t.key,
	    "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	static const struct case_row rows[] = {
		/* order_date desc; lines not included; another account's order absent */
		{ "GET", "/orders", "read", NULL, 200, NULL,
		  { "data[0].id={b}", "data[1].id={d}", "data[2].id={a}", "!data[3]", "!data[0].items",
		    "meta.count=3" } },
		{ "GET", "/orders?limit=1&offset=1", "read", NULL, 200, NULL,
		  { "data[0].id={d}", "!data[1]", "meta.limit=1", "meta.offset=1", "meta.count=1" } },
		{ "GET", "/orders?status=cancelled", "read", NULL, 200, NULL,
		  { "data[0].id={d}", "!data[1]" } },
		{ "GET", "/orders?platform=etsy", "read", NULL, 200, NULL,
		  { "data[0].id={b}", "!data[1]" } },
		{ "GET", "/orders?from=2026-03-15&to=2026-04-01", "read", NULL, 200, NULL,
		  { "data[0].id={d}", "!data[1]" } },
		{ "GET", "/orders?to=2026-03-01T00:00:00Z", "read", NULL, 200, NULL,
		  { "data[0].id={a}", "!data[1]" } },
		{ "GET", "/orders?status=lost", "read", NULL, 422, "VALIDATION_ERROR", { "details.status" } },
		{ "GET", "/orders?platform=ebay", "read", NULL, 422, "VALIDATION_ERROR",
		  { "details.platform" } },
		{ "GET", "/orders?from=yesterday", "read", NULL, 422, "VALIDATION_ERROR", { "details.from" } },
		{ "GET", "/orders?limit=101", "read", NULL, 422, "VALIDATION_ERROR", { "details.limit" } },
		{ "GET", "/orders?offset=-1", "read", NULL, 422, "VALIDATION_ERROR", { "details.offset" } },
		{ "GET", "/orders", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/orders/{oo}", "read", NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "GET", "/orders/" NO_SUCH_ID, "read", NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "GET", "/orders/{a}", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/orders/{a}", CASE_OTHER, NULL, 404, "ORDER_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, rows);
}

static const struct db_query Q_ORDERS_NAMED = {
	"SELECT COUNT(*) FROM orders WHERE account_id = ? AND customer_name = ?"
};

/* A generated order number that is taken is drawn again (docs/orders.md): a test trigger
 * answers the first INSERT of one customer name with MariaDB's duplicate-key error on
 * uq_orders_account_number (once per database connection: a session variable remembers it),
 * and every INSERT of a second name: 201 with one order, then 409 with none. */
static void test_create_number_taken(void)
{
	struct tenant t;
	char tag[9], trig[1024], body[256], once[64], always[64], n[32];
	RESP(r);
	FX(fx_tenant(&t, "read,write"));
	fx_tag(tag);
	snprintf(once, sizeof once, "Taken once %s", tag);
	snprintf(always, sizeof always, "Taken always %s", tag);
	snprintf(trig, sizeof trig,
		 "CREATE TRIGGER test_order_number_taken_%s BEFORE INSERT ON orders FOR EACH ROW"
		 " IF NEW.customer_name = '%s' OR (NEW.customer_name = '%s' AND @test_taken_%s IS NULL)"
		 " THEN SET @test_taken_%s = NEW.order_number;"
		 " SIGNAL SQLSTATE '23000' SET MYSQL_ERRNO = 1062, MESSAGE_TEXT ="
		 " 'Duplicate entry ''x'' for key ''uq_orders_account_number'''; END IF",
		 tag, always, once, tag, tag);
	FX(fx_schema_sql(trig));
	snprintf(body, sizeof body, "{\"customer_name\":\"%s\",\"items\":[{\"sku\":\"X\","
		 "\"product_name\":\"X\",\"quantity\":1,\"unit_price\":100}]}", once);
	api("POST", "/orders", t.key, body, &r);
	if (EXPECT(r, 201, NULL)) {
		const char *num = jstr(rdata(&r), "order_number");
		CHECK(num && strncmp(num, "MAN-", 4) == 0, &r, "a generated number");
	}
	if (FX_TEXT(n, Q_ORDERS_NAMED, DS(t.account), DS(once)) == 0)
		STR_EQ(n, "1", NULL);
	snprintf(body, sizeof body, "{\"customer_name\":\"%s\",\"items\":[{\"sku\":\"X\","
		 "\"product_name\":\"X\",\"quantity\":1,\"unit_price\":100}]}", always);
	api("POST", "/orders", t.key, body, &r);
	EXPECT(r, 409, "DUPLICATE_ORDER_NUMBER");
	if (FX_TEXT(n, Q_ORDERS_NAMED, DS(t.account), DS(always)) == 0)
		STR_EQ(n, "0", NULL);
	snprintf(trig, sizeof trig, "DROP TRIGGER test_order_number_taken_%s", tag);
	FX(fx_schema_sql(trig));
}

static void test_create_refused(void)
{
	struct case_ctx c;
	struct ofx f, o;
	RESP(r);
	FX(setup(&c, &f, &o));
#define LINE(extra) "{\"sku\":\"X\",\"product_name\":\"X\",\"quantity\":1,\"unit_price\":1" extra "}"
#define ORDER(extra, items) "{\"customer_name\":\"A\"" extra ",\"items\":[" items "]}"
	static const struct case_row rows[] = {
		{ "POST", "/orders", "write", ORDER(, LINE(",\"product_sku_id\":\"" NO_SUCH_ID "\"")),
		  400, "INVALID_PRODUCT_SKU", { NULL } },
		/* another account's SKU is unknown here */
		{ "POST", "/orders", "write", ORDER(, LINE("") "," LINE(",\"product_sku_id\":\"{o_widget}\"")),
		  400, "INVALID_PRODUCT_SKU", { NULL } },
		{ "POST", "/orders", "write", "{\"items\":[" LINE("") "]}", 422, "VALIDATION_ERROR",
		  { "details.customer_name" } },
		{ "POST", "/orders", "write", "{\"customer_name\":\"A\"}", 422, "VALIDATION_ERROR",
		  { "details.items" } },
		{ "POST", "/orders", "write", ORDER(, ), 422, "VALIDATION_ERROR", { "details.items" } },
		{ "POST", "/orders", "write", ORDER(, "{\"product_name\":\"X\",\"quantity\":1,\"unit_price\":1}"),
		  422, "VALIDATION_ERROR", { "details.items[0].sku" } },
		{ "POST", "/orders", "write",
		  ORDER(, LINE("") ",{\"sku\":\"X\",\"product_name\":\"X\",\"quantity\":0,\"unit_price\":1}"),
		  422, "VALIDATION_ERROR", { "details.items[1].quantity" } },
		{ "POST", "/orders", "write",
		  ORDER(, "{\"sku\":\"X\",\"product_name\":\"X\",\"quantity\":1,\"unit_price\":-1}"),
		  422, "VALIDATION_ERROR", { "details.items[0].unit_price" } },
		{ "POST", "/orders", "write",
		  ORDER(, "{\"sku\":\"X\",\"product_name\":\"X\",\"quantity\":1,\"unit_price\":1.5}"),
		  422, "VALIDATION_ERROR", { "details.items[0].unit_price" } },
		{ "POST", "/orders", "write", ORDER(, LINE(",\"finished_good_id\":\"{widget}\"")),
		  422, "VALIDATION_ERROR", { "details.items[0].finished_good_id" } },
		{ "POST", "/orders", "write", ORDER(",\"platform\":\"amazon\"", LINE("")),
		  422, "VALIDATION_ERROR", { "details.platform" } },
		{ "POST", "/orders", "write", ORDER(",\"customer_email\":\"nobody\"", LINE("")),
		  422, "VALIDATION_ERROR", { "details.customer_email" } },
		{ "POST", "/orders", "write", ORDER(",\"external_data\":{\"a\":1}", LINE("")),
		  422, "VALIDATION_ERROR", { "details.external_data" } },
		{ "POST", "/orders", "write", ORDER(",\"shipping_cost\":-5", LINE("")),
		  422, "VALIDATION_ERROR", { "details.shipping_cost" } },
		{ "POST", "/orders", "write", ORDER(",\"order_date\":\"soon\"", LINE("")),
		  422, "VALIDATION_ERROR", { "details.order_date" } },
		{ "POST", "/orders", "write", ORDER(",\"shipping_zip\":\"123456789012345678901\"", LINE("")),
		  422, "VALIDATION_ERROR", { "details.shipping_zip" } },
		{ "POST", "/orders", "read", ORDER(, LINE("")), 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/orders/stats", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	};
#undef LINE
#undef ORDER
	CASE_RUN(&c, rows);
	/* nothing was created by any of them */
	api("GET", "/orders", c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		INT_EQ(json_array_size(rdata(&r)), 0, &r);
}

static void test_update(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], oid[FX_ID], path[128];
	const char *const lines[][3] = { { f.widget, "WIDGET", "2" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 1, NULL, id));
	static const char *const olines[][3] = { { "", "X", "1" } };
	FX(order(c.other.key, olines, 1, NULL, oid));
	case_var(&c, "o", id);
	case_var(&c, "oo", oid);
	long long moves = fx_count(&Q_MOVES_ACCOUNT, c.t.account);
	snprintf(path, sizeof path, "/orders/%s", id);
	api("PATCH", path, c.t.key,
	    "{\"customer_name\":\"Ada L\",\"tracking_number\":\"1Z\",\"tracking_url\":"
	    "\"https://track.example/1Z\",\"discount_amount\":300,\"shipping_zip\":null}", &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), ORD_KEYS, &r); /* ORD without the lines */
		STR_EQ(jstr(rdata(&r), "customer_name"), "Ada L", &r);
		INT_EQ(jint(rdata(&r), "discount_amount"), 300, &r);
		STR_EQ(jstr(rdata(&r), "status"), "pending", &r);
	}
	DB_IS(&Q_ORDER_STATE, id, "pending:0:1Z");
	/* status: a plain overwrite, shipped_at stamped, no stock effect */
	api("PATCH", path, c.t.key, "{\"status\":\"fulfilled\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "fulfilled", &r);
		CHECK(is_iso_ms(jstr(rdata(&r), "shipped_at")), &r, "shipped_at set");
	}
	api("PATCH", path, c.t.key, "{\"status\":\"pending\"}", &r);
	EXPECT(r, 200, NULL);
	DB_IS(&Q_ORDER_STATE, id, "pending:1:1Z");
	DB_IS(&Q_READY, f.widget, "10");
	DB_IS(&Q_LINES, id, "WIDGET:0:pending");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves, NULL);
	static const struct case_row rows[] = {
		{ "PATCH", "/orders/{o}", "write", "{\"items\":[]}", 422, "VALIDATION_ERROR",
		  { "details.items" } },
		{ "PATCH", "/orders/{o}", "write", "{\"order_number\":\"N\"}", 422, "VALIDATION_ERROR",
		  { "details.order_number" } },
		{ "PATCH", "/orders/{o}", "write", "{\"total_revenue\":1}", 422, "VALIDATION_ERROR",
		  { "details.total_revenue" } },
		{ "PATCH", "/orders/{o}", "write", "{\"platform\":\"etsy\"}", 422, "VALIDATION_ERROR",
		  { "details.platform" } },
		{ "PATCH", "/orders/{o}", "write", "{\"external_data\":{}}", 422, "VALIDATION_ERROR",
		  { "details.external_data" } },
		{ "PATCH", "/orders/{o}", "write", "{\"status\":\"lost\"}", 422, "VALIDATION_ERROR",
		  { "details.status" } },
		{ "PATCH", "/orders/{o}", "write", "{\"tracking_url\":\"ftp://x\"}", 422,
		  "VALIDATION_ERROR", { "details.tracking_url" } },
		{ "PATCH", "/orders/{o}", "write", "{\"customer_email\":\"a@b@c\"}", 422,
		  "VALIDATION_ERROR", { "details.customer_email" } },
		{ "PATCH", "/orders/{o}", "write", "{\"nothing\":1}", 400, "NO_UPDATES", { NULL } },
		{ "PATCH", "/orders/{o}", "read", "{\"notes\":\"x\"}", 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/orders/{oo}", "write", "{\"notes\":\"x\"}", 404, "ORDER_NOT_FOUND", { NULL } },
		{ "PATCH", "/orders/{o}", CASE_OTHER, "{\"notes\":\"x\"}", 404, "ORDER_NOT_FOUND", { NULL } },
		{ "PATCH", "/orders/" NO_SUCH_ID, "write", "{\"notes\":\"x\"}", 404, "ORDER_NOT_FOUND",
		  { NULL } },
	};
	CASE_RUN(&c, rows);
	DB_IS(&Q_ORDER_STATE, id, "pending:1:1Z");
}

/* R2 for one line: ready_stock and the ledger before and after each change; R6. */
static void test_fulfill_item(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], other_order[FX_ID], oid[FX_ID], line[FX_ID], line2[FX_ID], oline[FX_ID];
	char path[256], want[512];
	const char *const lines[][3] = { { f.widget, "WIDGET", "5" }, { "", "LOOSE", "1" } };
	const char *const olines[][3] = { { f.widget, "WIDGET", "1" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 2, NULL, id));
	FX(order(c.t.key, olines, 1, NULL, other_order));
	FX(line_id(c.t.key, id, 0, line));
	FX(line_id(c.t.key, id, 1, line2));
	FX(line_id(c.t.key, other_order, 0, oline));
	static const char *const xl[][3] = { { "", "X", "1" } };
	FX(order(c.other.key, xl, 1, NULL, oid));
	case_var(&c, "o", id);
	case_var(&c, "line", line);
	case_var(&c, "line2", line2);
	case_var(&c, "oline", oline);
	case_var(&c, "oo", oid);

	DB_IS(&Q_READY, f.widget, "10");
	DB_IS(&Q_MOVES, f.widget, "");
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", id, line);
	api("POST", path, c.t.key, "{\"quantity\":3}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *it = json_object_get(rdata(&r), "item");
		KEYS(it, ITEM_KEYS, &r);
		INT_EQ(jint(it, "quantity_fulfilled"), 3, &r);
		STR_EQ(jstr(it, "fulfillment_status"), "partial", &r);
		STR_EQ(jstr(rdata(&r), "order_status"), "shipped", &r);
	}
	DB_IS(&Q_READY, f.widget, "7");
	snprintf(want, sizeof want, "-3:7:order_fulfilment:%s:%s", id, line);
	DB_IS(&Q_MOVES, f.widget, want);
	DB_IS(&Q_SKU_LEVEL, f.widget, "40"); /* never the SKU's component counter */
	DB_IS(&Q_ORDER_STATE, id, "shipped:1:-");
	DB_IS(&Q_LINES, id, "WIDGET:3:partial,LOOSE:0:pending");

	static const struct case_row rows[] = {
		{ "POST", "/orders/{o}/items/{line}/fulfill", "write", "{\"quantity\":3}",
		  400, "EXCESSIVE_FULFILLMENT", { NULL } },
		{ "POST", "/orders/{o}/items/{line}/fulfill", "write", "{\"quantity\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/orders/{o}/items/{line}/fulfill", "write", "{}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/orders/{o}/items/{line}/fulfill", "write", NULL,
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/orders/{o}/items/{oline}/fulfill", "write", "{\"quantity\":1}",
		  404, "ORDER_ITEM_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/items/" NO_SUCH_ID "/fulfill", "write", "{\"quantity\":1}",
		  404, "ORDER_ITEM_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{oo}/items/{line}/fulfill", "write", "{\"quantity\":1}",
		  404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/items/{line}/fulfill", CASE_OTHER, "{\"quantity\":1}",
		  404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/items/{line}/fulfill", "read", "{\"quantity\":1}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		/* the unlinked line ships without stock */
		{ "POST", "/orders/{o}/items/{line2}/fulfill", "write", "{\"quantity\":1}",
		  200, NULL, { "data.item.fulfillment_status=fulfilled", "data.order_status=shipped" } },
		{ "POST", "/orders/{o}/items/{line2}/fulfill", "write", "{\"quantity\":1}",
		  400, "ITEM_ALREADY_FULFILLED", { NULL } },
	};
	CASE_RUN(&c, rows);
	DB_IS(&Q_READY, f.widget, "7");
	DB_IS(&Q_MOVES, f.widget, want);

	/* short of stock: 8 wanted, 7 on hand */
	char stock_id[FX_ID], sline[FX_ID];
	const char *const sl[][3] = { { f.widget, "WIDGET", "8" } };
	FX(order(c.t.key, sl, 1, NULL, stock_id));
	FX(line_id(c.t.key, stock_id, 0, sline));
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", stock_id, sline);
	api("POST", path, c.t.key, "{\"quantity\":8}", &r);
	EXPECT(r, 400, "INSUFFICIENT_STOCK");
	DB_IS(&Q_READY, f.widget, "7");
	DB_IS(&Q_MOVES, f.widget, want);
	DB_IS(&Q_LINES, stock_id, "WIDGET:0:pending");
	DB_IS(&Q_ORDER_STATE, stock_id, "pending:0:-");

	/* the rest of the first line: every line fulfilled → fulfilled */
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", id, line);
	api("POST", path, c.t.key, "{\"quantity\":2}", &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "order_status"), "fulfilled", &r);
	DB_IS(&Q_READY, f.widget, "5");
	snprintf(want + strlen(want), sizeof want - strlen(want), ",-2:5:order_fulfilment:%s:%s",
		 id, line);
	DB_IS(&Q_MOVES, f.widget, want);
	DB_IS(&Q_ORDER_STATE, id, "fulfilled:1:-");
	DB_IS(&Q_LINES, id, "WIDGET:5:fulfilled,LOOSE:1:fulfilled");

	/* a cancelled order ships nothing */
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", stock_id), c.t.key,
	    "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", stock_id, sline);
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	EXPECT(r, 400, "ORDER_CANNOT_FULFILL");
	DB_IS(&Q_READY, f.widget, "5");
}

/* Fulfil all: every remaining unit; status codes; tracking. */
static void test_fulfill_all(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], path[256], want[512], line[FX_ID], oid[FX_ID];
	const char *const lines[][3] = { { f.widget, "WIDGET", "4" }, { f.gadget, "GADGET", "2" },
					 { "", "LOOSE", "3" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 3, NULL, id));
	FX(line_id(c.t.key, id, 0, line));
	static const char *const xl[][3] = { { "", "X", "1" } };
	FX(order(c.other.key, xl, 1, NULL, oid));
	case_var(&c, "o", id);
	case_var(&c, "oo", oid);
	/* part of the first line already shipped */
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", id, line);
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	EXPECT(r, 200, NULL);
	static const struct case_row refused[] = {
		{ "POST", "/orders/{o}/fulfill", "write", "{\"tracking_url\":\"nope\"}", 422,
		  "VALIDATION_ERROR", { "details.tracking_url" } },
		{ "POST", "/orders/{o}/fulfill", "write", "{\"notify_customer\":\"yes\"}", 422,
		  "VALIDATION_ERROR", { "details.notify_customer" } },
		{ "POST", "/orders/{o}/fulfill", "read", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "POST", "/orders/{oo}/fulfill", "write", NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/fulfill", CASE_OTHER, NULL, 404, "ORDER_NOT_FOUND", { NULL } },
	};
	CASE_RUN(&c, refused);
	DB_IS(&Q_READY, f.widget, "9");

	snprintf(path, sizeof path, "/orders/%s/fulfill", id);
	api("POST", path, c.t.key,
	    "{\"tracking_number\":\"TRK9\",\"tracking_url\":\"https://t.example/TRK9\","
	    "\"notify_customer\":true}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		KEYS(d, ORD_ITEMS_KEYS, &r); /* no fulfillment_errors when none */
		STR_EQ(jstr(d, "status"), "fulfilled", &r);
		STR_EQ(jstr(d, "tracking_number"), "TRK9", &r);
		CHECK(is_iso_ms(jstr(d, "shipped_at")), &r, "shipped_at");
		json_t *items = json_object_get(d, "items");
		for (size_t i = 0; i < json_array_size(items); i++)
			STR_EQ(jstr(json_array_get(items, i), "fulfillment_status"), "fulfilled", &r);
	}
	DB_IS(&Q_READY, f.widget, "6");
	DB_IS(&Q_READY, f.gadget, "0");
	DB_IS(&Q_FG_STATUS, f.gadget, "out_of_stock"); /* R3 recomputed */
	snprintf(want, sizeof want, "-1:9:order_fulfilment:%s:%s,-3:6:order_fulfilment:%s:%s", id,
		 line, id, line);
	DB_IS(&Q_MOVES, f.widget, want);
	DB_IS(&Q_LINES, id, "WIDGET:4:fulfilled,GADGET:2:fulfilled,LOOSE:3:fulfilled");
	DB_IS(&Q_ORDER_STATE, id, "fulfilled:1:TRK9");
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "ORDER_ALREADY_FULFILLED");
	/* a status set back by hand: nothing left to ship */
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", id), c.t.key,
	    "{\"status\":\"shipped\"}", &r);
	EXPECT(r, 200, NULL);
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "ALL_ITEMS_FULFILLED");
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", id), c.t.key,
	    "{\"status\":\"refunded\"}", &r);
	EXPECT(r, 200, NULL);
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "ORDER_CANNOT_FULFILL");
	DB_IS(&Q_READY, f.widget, "6");
	DB_IS(&Q_MOVES, f.widget, want);
}

/* One short line: it is left as it was and reported, the other ships (and only its movement
 * is written); every line short: 400 and nothing changes. */
static void test_fulfill_all_partial(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], only[FX_ID], path[256], want[256], line[FX_ID];
	const char *const lines[][3] = { { f.widget, "WIDGET", "4" }, { f.gadget, "GADGET", "3" } };
	const char *const short_lines[][3] = { { f.gadget, "GADGET", "3" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 2, NULL, id));
	FX(order(c.t.key, short_lines, 1, NULL, only));
	FX(line_id(c.t.key, id, 0, line));
	long long moves = fx_count(&Q_MOVES_ACCOUNT, c.t.account);

	/* every line short: refused, nothing changed */
	snprintf(path, sizeof path, "/orders/%s/fulfill", only);
	api("POST", path, c.t.key, "{\"tracking_number\":\"T0\"}", &r);
	if (EXPECT(r, 400, "INSUFFICIENT_STOCK"))
		INT_EQ(json_array_size(json_object_get(r.json, "fulfillment_errors")), 1, &r);
	DB_IS(&Q_LINES, only, "GADGET:0:pending");
	DB_IS(&Q_ORDER_STATE, only, "pending:0:-");
	DB_IS(&Q_READY, f.gadget, "2");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves, NULL);

	/* WIDGET ships, GADGET (3 wanted, 2 ready) stays and is reported */
	snprintf(path, sizeof path, "/orders/%s/fulfill", id);
	api("POST", path, c.t.key, "{\"tracking_number\":\"T1\"}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "status"), "shipped", &r);
		json_t *errs = json_object_get(d, "fulfillment_errors");
		if (CHECK(json_array_size(errs) == 1, &r, "one failing line"))
			STR_EQ(json_string_value(json_array_get(errs, 0)),
			       "INSUFFICIENT_STOCK: GADGET needs 3, ready 2", &r);
		json_t *items = json_object_get(d, "items");
		STR_EQ(jstr(json_array_get(items, 0), "fulfillment_status"), "fulfilled", &r);
		STR_EQ(jstr(json_array_get(items, 1), "fulfillment_status"), "pending", &r);
	}
	DB_IS(&Q_READY, f.widget, "6");
	DB_IS(&Q_READY, f.gadget, "2");
	snprintf(want, sizeof want, "-4:6:order_fulfilment:%s:%s", id, line);
	DB_IS(&Q_MOVES, f.widget, want);
	DB_IS(&Q_MOVES, f.gadget, "");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves + 1, NULL);
	DB_IS(&Q_LINES, id, "WIDGET:4:fulfilled,GADGET:0:pending");
	DB_IS(&Q_ORDER_STATE, id, "shipped:1:T1");

	/* again: only GADGET is left and it is still short; the order stays shipped */
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "INSUFFICIENT_STOCK");
	DB_IS(&Q_ORDER_STATE, id, "shipped:1:T1");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves + 1, NULL);
}

/* R5: a kit line deducts the kit only; its parts are never touched; the two codes. */
static void test_fulfill_kits(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char two[FX_ID], three[FX_ID], one[FX_ID], mixed[FX_ID], path[256];
	const char *const l2[][3] = { { f.kit, "KIT", "2" } };
	const char *const l3[][3] = { { f.kit, "KIT", "3" } };
	const char *const l1[][3] = { { f.kit, "KIT", "1" } };
	const char *const lm[][3] = { { f.kit, "KIT", "2" }, { f.gadget, "GADGET", "5" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, l2, 1, NULL, two));
	FX(order(c.t.key, l3, 1, NULL, three));
	FX(order(c.t.key, l1, 1, NULL, one));
	FX(order(c.t.key, lm, 2, NULL, mixed));
	/* 1 ready; parts build 1 more (PART1 3/2, PART2 1/1) */
	snprintf(path, sizeof path, "/orders/%s/fulfill", two);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 400, "KIT_NOT_ASSEMBLED"))
		CHECK(strncmp(json_string_value(json_array_get(
				      json_object_get(r.json, "fulfillment_errors"), 0)),
			      "KIT_NOT_ASSEMBLED: KIT needs 2, ready 1, buildable 1", 50) == 0, &r,
		      "the reason");
	snprintf(path, sizeof path, "/orders/%s/fulfill", three);
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "KIT_NOT_PRODUCED");
	/* the single-line route answers the same */
	char line[FX_ID];
	FX(line_id(c.t.key, three, 0, line));
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", three, line);
	api("POST", path, c.t.key, "{\"quantity\":3}", &r);
	EXPECT(r, 400, "KIT_NOT_PRODUCED");
	api("POST", path, c.t.key, "{\"quantity\":2}", &r);
	EXPECT(r, 400, "KIT_NOT_ASSEMBLED");
	/* two different refusals: FULFILLMENT_FAILED with both */
	snprintf(path, sizeof path, "/orders/%s/fulfill", mixed);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 400, "FULFILLMENT_FAILED"))
		INT_EQ(json_array_size(json_object_get(r.json, "fulfillment_errors")), 2, &r);
	DB_IS(&Q_READY, f.kit, "1");
	DB_IS(&Q_MOVES, f.kit, "");
	/* one kit ships from the kit's own stock; the parts stay */
	snprintf(path, sizeof path, "/orders/%s/fulfill", one);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "status"), "fulfilled", &r);
	DB_IS(&Q_READY, f.kit, "0");
	DB_IS(&Q_READY, f.part1, "3");
	DB_IS(&Q_READY, f.part2, "1");
	DB_IS(&Q_MOVES, f.part1, "");
	DB_IS(&Q_MOVES, f.part2, "");
	char want[256];
	FX(line_id(c.t.key, one, 0, line));
	snprintf(want, sizeof want, "-1:0:order_fulfilment:%s:%s", one, line);
	DB_IS(&Q_MOVES, f.kit, want);
}

/* Produce: the shortfall's task and jobs once; unmatched lines; no stock change. */
static void test_produce(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], path[256], oid[FX_ID], l_kit[FX_ID], l_gadget[FX_ID], l_widget[FX_ID];
	char l_loose[FX_ID];
	const char *const lines[][3] = { { f.kit, "KIT", "3" }, { f.gadget, "GADGET", "5" },
					 { f.widget, "WIDGET", "1" }, { "", "LOOSE", "1" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 4, NULL, id));
	FX(line_id(c.t.key, id, 0, l_kit));
	FX(line_id(c.t.key, id, 1, l_gadget));
	FX(line_id(c.t.key, id, 2, l_widget));
	FX(line_id(c.t.key, id, 3, l_loose));
	static const char *const xl[][3] = { { "", "X", "1" } };
	FX(order(c.other.key, xl, 1, NULL, oid));
	case_var(&c, "o", id);
	case_var(&c, "oo", oid);
	long long moves = fx_count(&Q_MOVES_ACCOUNT, c.t.account);
	snprintf(path, sizeof path, "/orders/%s/produce", id);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		STR_EQ(jstr(d, "order_id"), id, &r);
		INT_EQ(json_array_size(json_object_get(d, "assembly_tasks_created")), 1, &r);
		INT_EQ(json_array_size(json_object_get(d, "print_jobs_created")), 2, &r);
		INT_EQ(json_array_size(json_object_get(d, "skipped_items")), 0, &r);
		json_t *cov = json_object_get(d, "covered_items");
		if (INT_EQ(json_array_size(cov), 1, &r))
			STR_EQ(json_string_value(json_array_get(cov, 0)), l_widget, &r);
		json_t *un = json_object_get(d, "unmatched_items");
		if (INT_EQ(json_array_size(un), 2, &r)) {
			/* the kit's PART2 has no print file; LOOSE has no SKU */
			STR_EQ(jstr(json_array_get(un, 0), "order_item_id"), l_kit, &r);
			STR_EQ(jstr(json_array_get(un, 0), "sku"), "PART2", &r);
			STR_EQ(jstr(json_array_get(un, 0), "reason"), "no_print_file", &r);
			STR_EQ(jstr(json_array_get(un, 1), "order_item_id"), l_loose, &r);
			STR_EQ(jstr(json_array_get(un, 1), "reason"), "no_sku", &r);
		}
		/* the gift boxes: 1 left for 2 kits (reported; the task is made all the same) */
		json_t *sh = json_object_get(d, "shortages");
		if (INT_EQ(json_array_size(sh), 1, &r)) {
			json_t *s1 = json_array_get(sh, 0);
			STR_EQ(jstr(s1, "order_item_id"), l_kit, &r);
			STR_EQ(jstr(s1, "sku"), "KIT", &r);
			STR_EQ(jstr(s1, "inventory_item_id"), f.box, &r);
			CHECK(json_number_value(json_object_get(s1, "required")) == 2.0, &r, "2 boxes");
			CHECK(json_number_value(json_object_get(s1, "on_hand")) == 1.0, &r, "1 box");
			CHECK(json_number_value(json_object_get(s1, "short_by")) == 1.0, &r, "short 1");
		}
	}
	/* 3 kits, 1 ready: a task for 2; PART1 needs 4, has 3: a job of 1; GADGET 5 - 2 = 3 */
	DB_IS(&Q_TASKS, id, "kit_assembly:pending:KIT:2:1");
	DB_IS(&Q_JOBS, id, "GADGET:queued:3:2:widget.3mf:1:Red:PETG,"
			   "PART1:queued:1:2:part.3mf:1:Red:PETG");
	DB_IS(&Q_ORDER_STATE, id, "processing:0:-");
	/* a second call makes nothing */
	api("POST", path, c.t.key, "{}", &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *d = rdata(&r);
		INT_EQ(json_array_size(json_object_get(d, "assembly_tasks_created")), 0, &r);
		INT_EQ(json_array_size(json_object_get(d, "print_jobs_created")), 0, &r);
		json_t *sk = json_object_get(d, "skipped_items");
		if (INT_EQ(json_array_size(sk), 2, &r)) {
			STR_EQ(json_string_value(json_array_get(sk, 0)), l_kit, &r);
			STR_EQ(json_string_value(json_array_get(sk, 1)), l_gadget, &r);
		}
	}
	INT_EQ(fx_count(&Q_COUNT_TASKS, id), 1, NULL);
	INT_EQ(fx_count(&Q_COUNT_JOBS, id), 2, NULL);
	/* no stock moved */
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves, NULL);
	DB_IS(&Q_READY, f.kit, "1");
	DB_IS(&Q_READY, f.part1, "3");
	/* jobs that failed are no longer live: the GADGET line gets a new one */
	FX(FX_SQL(Q_SET_JOB_STATUS, DS("failed"), DS(id)));
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(json_array_size(json_object_get(rdata(&r), "print_jobs_created")), 1, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "skipped_items")), 1, &r);
	}
	INT_EQ(fx_count(&Q_COUNT_JOBS, id), 3, NULL);
	INT_EQ(fx_count(&Q_COUNT_TASKS, id), 1, NULL);
	static const struct case_row rows[] = {
		{ "POST", "/orders/{oo}/produce", "write", NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/produce", CASE_OTHER, NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/" NO_SUCH_ID "/produce", "write", NULL, 404, "ORDER_NOT_FOUND", { NULL } },
		{ "POST", "/orders/{o}/produce", "read", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "PATCH", "/orders/{o}", "write", "{\"status\":\"cancelled\"}", 200, NULL, { NULL } },
		{ "POST", "/orders/{o}/produce", "write", NULL, 400, "ORDER_CANNOT_FULFILL", { NULL } },
	};
	CASE_RUN(&c, rows);
	INT_EQ(fx_count(&Q_COUNT_JOBS, id), 3, NULL);
	/* a SKU whose finished good was deactivated is unmatched */
	char id2[FX_ID];
	const char *const gl[][3] = { { f.gadget, "GADGET", "5" } };
	FX(order(c.t.key, gl, 1, NULL, id2));
	FX(FX_SQL(Q_FG_OFF, DS(f.gadget)));
	snprintf(path, sizeof path, "/orders/%s/produce", id2);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *un = json_object_get(rdata(&r), "unmatched_items");
		if (INT_EQ(json_array_size(un), 1, &r))
			STR_EQ(jstr(json_array_get(un, 0), "reason"), "no_finished_good", &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "print_jobs_created")), 0, &r);
	}
	DB_IS(&Q_ORDER_STATE, id2, "pending:0:-");
}

/* A cancelled line (set by an import; no endpoint cancels one) is refused, skipped by fulfil
 * all and produce, and left out of the order's status (R6). */
static void test_cancelled_lines(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char id[FX_ID], a[FX_ID], b[FX_ID], path[256];
	const char *const lines[][3] = { { f.widget, "WIDGET", "2" }, { f.gadget, "GADGET", "9" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, lines, 2, NULL, id));
	FX(line_id(c.t.key, id, 0, a));
	FX(line_id(c.t.key, id, 1, b));
	FX(FX_SQL(Q_LINE_CANCEL, DS(b)));
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", id, b);
	api("POST", path, c.t.key, "{\"quantity\":1}", &r);
	EXPECT(r, 400, "ITEM_CANCELLED");
	snprintf(path, sizeof path, "/orders/%s/produce", id);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) /* GADGET would need 7 printed: cancelled, nothing made */
		INT_EQ(json_array_size(json_object_get(rdata(&r), "print_jobs_created")), 0, &r);
	INT_EQ(fx_count(&Q_COUNT_JOBS, id), 0, NULL);
	snprintf(path, sizeof path, "/orders/%s/fulfill", id);
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		STR_EQ(jstr(rdata(&r), "status"), "fulfilled", &r);
		CHECK(!json_object_get(rdata(&r), "fulfillment_errors"), &r, "no errors");
	}
	DB_IS(&Q_LINES, id, "WIDGET:2:fulfilled,GADGET:0:cancelled");
	DB_IS(&Q_READY, f.widget, "8");
	DB_IS(&Q_READY, f.gadget, "2");
	api("POST", path, c.t.key, NULL, &r);
	EXPECT(r, 400, "ORDER_ALREADY_FULFILLED");
}

/* Requests at once on one order: the order's lock makes them take turns, so stock moves once
 * per unit shipped and work is produced once. */
static int burst(const char *key, const char *path, const char *body, int n, const char *code,
		 int *refused)
{
	char auth[128];
	struct resp out[8];
	int ok = 0;
	snprintf(auth, sizeof auth, "Bearer %s", key);
	struct call c = { .method = "POST", .path = path, .auth = auth, .body = body };
	int done = api_burst(&c, n, out);
	INT_EQ(done, n, NULL);
	*refused = 0;
	for (int i = 0; i < done; i++) {
		if (out[i].status == 200)
			ok++;
		else if (out[i].status == 400 && strcmp(jstr(out[i].json, "code"), code) == 0)
			(*refused)++;
		else
			CHECK(0, &out[i], "unexpected answer");
		resp_free(&out[i]);
	}
	return ok;
}

static void test_concurrent(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char all[FX_ID], one[FX_ID], line[FX_ID], path[256];
	const char *const la[][3] = { { f.widget, "WIDGET", "4" } };
	const char *const lo[][3] = { { f.widget, "WIDGET", "5" }, { f.kit, "KIT", "3" } };
	int refused;
	FX(setup(&c, &f, &o));
	FX(order(c.t.key, la, 1, NULL, all));
	FX(order(c.t.key, lo, 2, NULL, one));
	FX(line_id(c.t.key, one, 0, line));
	long long moves = fx_count(&Q_MOVES_ACCOUNT, c.t.account);
	/* 8 x fulfil all: one ships */
	snprintf(path, sizeof path, "/orders/%s/fulfill", all);
	INT_EQ(burst(c.t.key, path, NULL, 8, "ORDER_ALREADY_FULFILLED", &refused), 1, NULL);
	INT_EQ(refused, 7, NULL);
	DB_IS(&Q_READY, f.widget, "6");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves + 1, NULL);
	/* 8 x one unit of a 5-unit line: 5 ship (6 on hand) */
	snprintf(path, sizeof path, "/orders/%s/items/%s/fulfill", one, line);
	INT_EQ(burst(c.t.key, path, "{\"quantity\":1}", 8, "ITEM_ALREADY_FULFILLED", &refused), 5,
	       NULL);
	INT_EQ(refused, 3, NULL);
	DB_IS(&Q_READY, f.widget, "1");
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves + 6, NULL);
	DB_IS(&Q_LINES, one, "WIDGET:5:fulfilled,KIT:0:pending");
	/* 6 x produce: the kit's task and its part's job once */
	snprintf(path, sizeof path, "/orders/%s/produce", one);
	INT_EQ(burst(c.t.key, path, NULL, 6, "-", &refused), 6, NULL);
	INT_EQ(fx_count(&Q_COUNT_TASKS, one), 1, NULL);
	INT_EQ(fx_count(&Q_COUNT_JOBS, one), 1, NULL);
	INT_EQ(fx_count(&Q_MOVES_ACCOUNT, c.t.account), moves + 6, NULL);
}

static void test_stats(void)
{
	struct case_ctx c;
	struct ofx f, o;
	char a[FX_ID], b[FX_ID], d[FX_ID], e[FX_ID], x[FX_ID];
	static const char *const one[][3] = { { "", "X", "1" } };
	RESP(r);
	FX(setup(&c, &f, &o));
	/* revenue 250 each by default */
	FX(order(c.t.key, one, 1, "\"shipping_cost\":100,\"tax_amount\":10", a));
	FX(order(c.t.key, one, 1, "\"platform\":\"etsy\",\"total_revenue\":1001,\"discount_amount\":5", b));
	FX(order(c.t.key, one, 1, "\"total_revenue\":9999", d));
	FX(order(c.t.key, one, 1, "\"order_date\":\"2020-01-01T00:00:00Z\",\"total_revenue\":7777", e));
	FX(order(c.other.key, one, 1, NULL, x));
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", d), c.t.key,
	    "{\"status\":\"cancelled\"}", &r);
	EXPECT(r, 200, NULL);
	api("PATCH", fx_fill((char[128]){ 0 }, 128, "/orders/{id}", b), c.t.key,
	    "{\"status\":\"shipped\"}", &r);
	EXPECT(r, 200, NULL);
	api("GET", "/orders/stats", c.t.key, NULL, &r);
	if (!EXPECT(r, 200, NULL))
		return;
	json_t *s = rdata(&r);
	static const char *const KEYS_STATS[] = {
		"total_orders", "by_status", "by_platform", "pending_fulfillment", "last_30_days", NULL
	};
	static const char *const STATUS_KEYS[] = {
		"pending", "processing", "printed", "assembled", "shipped", "fulfilled", "cancelled",
		"refunded", NULL
	};
	static const char *const PLATFORM_KEYS[] = {
		"shopify", "amazon", "etsy", "manual", "other", NULL
	};
	static const char *const L30_KEYS[] = {
		"total_orders", "total_revenue", "total_shipping", "total_tax", "total_discount",
		"avg_order_value", NULL
	};
	KEYS(s, KEYS_STATS, &r);
	json_t *bs = json_object_get(s, "by_status"), *bp = json_object_get(s, "by_platform");
	json_t *l = json_object_get(s, "last_30_days");
	KEYS(bs, STATUS_KEYS, &r);
	KEYS(bp, PLATFORM_KEYS, &r);
	KEYS(l, L30_KEYS, &r);
	INT_EQ(jint(s, "total_orders"), 4, &r);
	INT_EQ(jint(bs, "pending"), 2, &r);
	INT_EQ(jint(bs, "shipped"), 1, &r);
	INT_EQ(jint(bs, "cancelled"), 1, &r);
	INT_EQ(jint(bs, "refunded"), 0, &r);
	INT_EQ(jint(bp, "manual"), 3, &r);
	INT_EQ(jint(bp, "etsy"), 1, &r);
	INT_EQ(jint(bp, "shopify"), 0, &r);
	INT_EQ(jint(s, "pending_fulfillment"), 2, &r);
	/* a (250) and b (1001): not the cancelled one, not the old one */
	INT_EQ(jint(l, "total_orders"), 2, &r);
	INT_EQ(jint(l, "total_revenue"), 1251, &r);
	INT_EQ(jint(l, "total_shipping"), 100, &r);
	INT_EQ(jint(l, "total_tax"), 10, &r);
	INT_EQ(jint(l, "total_discount"), 5, &r);
	INT_EQ(jint(l, "avg_order_value"), 626, &r); /* 625.5 rounded */
	/* an empty account: zeros everywhere */
	struct tenant t;
	FX(fx_tenant(&t, "read"));
	api("GET", "/orders/stats", t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "total_orders"), 0, &r);
		INT_EQ(jint(json_object_get(rdata(&r), "by_status"), "fulfilled"), 0, &r);
		INT_EQ(jint(json_object_get(rdata(&r), "last_30_days"), "avg_order_value"), 0, &r);
	}
}

int suite_orders(void)
{
	CU_pSuite s = CU_add_suite("orders", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_create_get);
	ADD_TEST(s, test_list);
	ADD_TEST(s, test_create_refused);
	ADD_TEST(s, test_create_number_taken);
	ADD_TEST(s, test_update);
	ADD_TEST(s, test_fulfill_item);
	ADD_TEST(s, test_fulfill_all);
	ADD_TEST(s, test_fulfill_all_partial);
	ADD_TEST(s, test_fulfill_kits);
	ADD_TEST(s, test_produce);
	ADD_TEST(s, test_cancelled_lines);
	ADD_TEST(s, test_concurrent);
	ADD_TEST(s, test_stats);
	return 0;
}
