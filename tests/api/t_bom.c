/* t_bom.c - GET/PUT /skus/{id}/bom: the BOM object (children with live ready stock, inventory
 * rows with remaining material, available_to_build), the parent's available_to_build and
 * effective_status after a replace (GET /skus/{id}), clearing with empty lists,
 * NESTING_NOT_ALLOWED (composite child, parent that is a child, self), SKU_NOT_FOUND and
 * UNKNOWN_INVENTORY_ITEM (also for another account's ids), bad input (422 naming the field),
 * a failing replace changes nothing (the tables read back), scopes; POST /skus/{id}/assemble:
 * the pending kit_assembly task, no stock moved, INSUFFICIENT_FOR_KIT with its shortages,
 * NOT_COMPOSITE, USER_NOT_FOUND. Catalog and stock rows are made directly in MariaDB. */
#include "cases.h"

#include "apitest.h"

#include "util.h"

#include <string.h>

#define NO_SUCH_ID "00000000-0000-4000-8000-000000000000"

static const char *const BOM_KEYS[] = {
	"sku_id", "is_composite", "available_to_build", "children", "inventory", NULL
};
static const char *const CHILD_KEYS[] = {
	"child_sku_id", "quantity_required", "child_sku", "child_color", "child_is_composite",
	"child_ready_stock", NULL
};
static const char *const ITEM_KEYS[] = {
	"inventory_item_id", "quantity_required", "item_name", "remaining", "unit", NULL
};

static const struct db_query Q_PRODUCT = {
	"INSERT INTO products (id, account_id, name) VALUES (?, ?, 'Set')"
};
static const struct db_query Q_SKU = {
	"INSERT INTO product_skus (id, account_id, product_id, sku, color) VALUES (?, ?, ?, ?, 'Red')"
};
/* Its finished good: ready stock, threshold 5. */
static const struct db_query Q_FG = {
	"INSERT INTO finished_goods (id, account_id, product_sku_id, sku, color, material,"
	" ready_stock, low_stock_threshold, status) VALUES (?, ?, ?, ?, 'Red', '', ?, 5, ?)"
};
static const struct db_query Q_PACKAGING = {
	"INSERT INTO packaging_inventory (id, account_id, type, name, remaining_units)"
	" VALUES (?, ?, 'box', 'Gift box', ?)"
};
static const struct db_query Q_FILAMENT = {
	"INSERT INTO filament_inventory (id, account_id, type, color, remaining_grams)"
	" VALUES (?, ?, 'PLA', 'Black', ?)"
};
/* The stored BOM of a SKU as "code:qty,..." / "kind:qty,..." ("" when none). */
static const struct db_query Q_CHILD_ROWS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT(c.sku, ':', b.quantity_required) ORDER BY c.sku), '')"
	" FROM sku_bom_children b JOIN product_skus c ON c.id = b.child_sku_id"
	" WHERE b.parent_sku_id = ?"
};
static const struct db_query Q_ITEM_ROWS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT(inventory_kind, ':', quantity_required)"
	" ORDER BY inventory_kind), '') FROM sku_bom_inventory WHERE sku_id = ?"
};
/* The SKU's kit tasks as "status:type:qty:notes,..." and its ready stock. */
static const struct db_query Q_KIT_TASKS = {
	"SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', t.status, t.task_type, t.quantity,"
	" IFNULL(t.notes, '-'), t.finished_good_id = fg.id) ORDER BY t.created_at), '')"
	" FROM finished_goods fg JOIN assembly_tasks t ON t.sku = fg.sku"
	" AND t.account_id = fg.account_id WHERE fg.product_sku_id = ?"
};
static const struct db_query Q_READY = {
	"SELECT ready_stock FROM finished_goods WHERE product_sku_id = ?"
};
static const struct db_query Q_USER = {
	"INSERT INTO users (id, account_id, email) VALUES (?, ?, CONCAT(?, '@example.com'))"
};
static const struct db_query Q_COMPOSITE_FLAG = {
	"SELECT is_composite FROM product_skus WHERE id = ?"
};

/* An account's catalog: KIT (to be composite), P1 (7 ready), P2 (5 ready), OTHER (to be
 * composite too), a box (4 left), a spool (500 g left). */
struct bom_fx {
	char product[FX_ID], kit[FX_ID], p1[FX_ID], p2[FX_ID], other[FX_ID];
	char box[FX_ID], spool[FX_ID];
};

static int new_id(char id[FX_ID])
{
	char u[UUID_LEN + 1];
	if (util_uuid(u) < 0)
		return -1;
	snprintf(id, FX_ID, "%s", u);
	return 0;
}

static int sku_with_stock(const char *account, const char *product, const char *code,
			  int ready, char id[FX_ID])
{
	char fg[FX_ID];
	if (new_id(id) < 0 || new_id(fg) < 0 ||
	    FX_SQL(Q_SKU, DS(id), DS(account), DS(product), DS(code)) < 0)
		return -1;
	return FX_SQL(Q_FG, DS(fg), DS(account), DS(id), DS(code), DI(ready),
		      DS(ready > 0 ? "in_stock" : "out_of_stock"));
}

static int catalog(const char *account, struct bom_fx *f)
{
	if (new_id(f->product) < 0 || FX_SQL(Q_PRODUCT, DS(f->product), DS(account)) < 0 ||
	    sku_with_stock(account, f->product, "KIT", 0, f->kit) < 0 ||
	    sku_with_stock(account, f->product, "P1", 7, f->p1) < 0 ||
	    sku_with_stock(account, f->product, "P2", 5, f->p2) < 0 ||
	    sku_with_stock(account, f->product, "OTHER", 0, f->other) < 0 ||
	    new_id(f->box) < 0 || FX_SQL(Q_PACKAGING, DS(f->box), DS(account), DI(4)) < 0 ||
	    new_id(f->spool) < 0)
		return -1;
	if (FX_SQL(Q_FILAMENT, DS(f->spool), DS(account), DD(500.0)) < 0)
		return -1;
	return fx_stock_reconcile(account);
}

/* Binds {kit} {p1} {p2} {other} {box} {spool} of f, and {o_sku} {o_box} of another account. */
static int setup(struct case_ctx *c, struct bom_fx *f, struct bom_fx *o)
{
	if (case_init(c) < 0 || catalog(c->t.account, f) < 0 || catalog(c->other.account, o) < 0)
		return -1;
	case_var(c, "kit", f->kit);
	case_var(c, "p1", f->p1);
	case_var(c, "p2", f->p2);
	case_var(c, "other", f->other);
	case_var(c, "box", f->box);
	case_var(c, "spool", f->spool);
	case_var(c, "o_sku", o->p1);
	case_var(c, "o_box", o->box);
	return 0;
}

static void put_bom(const char *key, const char *sku, const char *body, struct resp *r)
{
	char path[128];
	snprintf(path, sizeof path, "/skus/%s/bom", sku);
	api("PUT", path, key, body, r);
}

static void test_replace_and_get(void)
{
	struct case_ctx c;
	struct bom_fx f, o;
	char body[512], path[128];
	RESP(r);
	FX(setup(&c, &f, &o));

	/* before: not composite, nothing buildable */
	snprintf(path, sizeof path, "/skus/%s/bom", f.kit);
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		KEYS(rdata(&r), BOM_KEYS, &r);
		STR_EQ(jstr(rdata(&r), "sku_id"), f.kit, &r);
		INT_EQ(jbool(rdata(&r), "is_composite"), 0, &r);
		INT_EQ(jint(rdata(&r), "available_to_build"), 0, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "children")), 0, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "inventory")), 0, &r);
	}

	/* 2 x P1 (7 ready: 3), 1 x P2 (5 ready: 5), a box each (4 left: 4), 150 g (500 g: 3) */
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":1},"
		 "{\"child_sku_id\":\"%s\",\"quantity_required\":2}],"
		 "\"inventory\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1},"
		 "{\"inventory_item_id\":\"%s\",\"quantity_required\":150.5}]}",
		 f.p2, f.p1, f.box, f.spool);
	put_bom(c.t.key, f.kit, body, &r);
	if (EXPECT(r, 200, NULL)) {
		json_t *b = rdata(&r);
		KEYS(b, BOM_KEYS, &r);
		INT_EQ(jbool(b, "is_composite"), 1, &r);
		INT_EQ(jint(b, "available_to_build"), 3, &r);
		json_t *ch = json_object_get(b, "children"), *inv = json_object_get(b, "inventory");
		if (INT_EQ(json_array_size(ch), 2, &r)) {
			json_t *c1 = json_array_get(ch, 0), *c2 = json_array_get(ch, 1);
			KEYS(c1, CHILD_KEYS, &r);
			STR_EQ(jstr(c1, "child_sku_id"), f.p1, &r);   /* by child SKU code */
			STR_EQ(jstr(c1, "child_sku"), "P1", &r);
			STR_EQ(jstr(c1, "child_color"), "Red", &r);
			INT_EQ(jint(c1, "quantity_required"), 2, &r);
			INT_EQ(jint(c1, "child_ready_stock"), 7, &r);
			INT_EQ(jbool(c1, "child_is_composite"), 0, &r);
			STR_EQ(jstr(c2, "child_sku"), "P2", &r);
			INT_EQ(jint(c2, "child_ready_stock"), 5, &r);
		}
		if (INT_EQ(json_array_size(inv), 2, &r)) {
			json_t *i1 = json_array_get(inv, 0), *i2 = json_array_get(inv, 1);
			KEYS(i1, ITEM_KEYS, &r);
			STR_EQ(jstr(i1, "inventory_item_id"), f.box, &r);
			STR_EQ(jstr(i1, "item_name"), "Gift box", &r);
			STR_EQ(jstr(i1, "unit"), "units", &r);
			CHECK(json_number_value(json_object_get(i1, "remaining")) == 4.0, &r, "4 boxes");
			CHECK(json_number_value(json_object_get(i1, "quantity_required")) == 1.0, &r,
			      "1 box");
			STR_EQ(jstr(i2, "item_name"), "PLA Black", &r);
			STR_EQ(jstr(i2, "unit"), "g", &r);
			CHECK(json_number_value(json_object_get(i2, "quantity_required")) == 150.5, &r,
			      "150.5 g");
			CHECK(json_number_value(json_object_get(i2, "remaining")) == 500.0, &r, "500 g");
		}
	}
	DB_IS(&Q_CHILD_ROWS, f.kit, "P1:2,P2:1");
	DB_IS(&Q_ITEM_ROWS, f.kit, "filament:150.500,packaging:1.000");
	DB_IS(&Q_COMPOSITE_FLAG, f.kit, "1");
	/* GET answers the same; GET /skus/{id}: 0 ready + 3 buildable <= 5: low_stock */
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "available_to_build"), 3, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "children")), 2, &r);
	}
	snprintf(path, sizeof path, "/skus/%s", f.kit);
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_composite"), 1, &r);
		INT_EQ(jint(rdata(&r), "available_to_build"), 3, &r);
		STR_EQ(jstr(rdata(&r), "effective_status"), "low_stock", &r);
	}

	/* replaced by one child only: the inventory list missing is an empty one */
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":1}]}", f.p1);
	put_bom(c.t.key, f.kit, body, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jint(rdata(&r), "available_to_build"), 7, &r);
		INT_EQ(json_array_size(json_object_get(rdata(&r), "inventory")), 0, &r);
	}
	DB_IS(&Q_CHILD_ROWS, f.kit, "P1:1");
	DB_IS(&Q_ITEM_ROWS, f.kit, "");
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL))
		STR_EQ(jstr(rdata(&r), "effective_status"), "in_stock", &r);   /* 7 > 5 */

	/* cleared: no longer composite, its stored status again */
	put_bom(c.t.key, f.kit, "{\"children\":[],\"inventory\":[]}", &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_composite"), 0, &r);
		INT_EQ(jint(rdata(&r), "available_to_build"), 0, &r);
	}
	DB_IS(&Q_CHILD_ROWS, f.kit, "");
	DB_IS(&Q_COMPOSITE_FLAG, f.kit, "0");
	api("GET", path, c.t.key, NULL, &r);
	if (EXPECT(r, 200, NULL)) {
		INT_EQ(jbool(rdata(&r), "is_composite"), 0, &r);
		STR_EQ(jstr(rdata(&r), "effective_status"), "out_of_stock", &r);
	}
}

/* Every refused replace leaves the BOM it found: two children and the box. */
static void test_refused_changes_nothing(void)
{
	struct case_ctx c;
	struct bom_fx f, o;
	char body[512];
	RESP(r);
	FX(setup(&c, &f, &o));
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":2},"
		 "{\"child_sku_id\":\"%s\",\"quantity_required\":1}],"
		 "\"inventory\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}",
		 f.p1, f.p2, f.box);
	put_bom(c.t.key, f.kit, body, &r);
	FX(EXPECT(r, 200, NULL) ? 0 : -1);
	/* OTHER becomes composite (P2) so that it cannot be a child */
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":1}]}", f.p2);
	put_bom(c.t.key, f.other, body, &r);
	FX(EXPECT(r, 200, NULL) ? 0 : -1);

#define ONE_CHILD(id, qty) \
	"{\"children\":[{\"child_sku_id\":\"{p2}\",\"quantity_required\":1}," \
	"{\"child_sku_id\":\"" id "\",\"quantity_required\":" qty "}]}"
	static const struct case_row bad[] = {
		/* nesting */
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{other}", "1"),
		  400, "NESTING_NOT_ALLOWED", { NULL } },
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{kit}", "1"),
		  400, "NESTING_NOT_ALLOWED", { NULL } },
		/* P1 is KIT's child: it cannot get children of its own */
		{ "PUT", "/skus/{p1}/bom", "write",
		  "{\"children\":[{\"child_sku_id\":\"{p2}\",\"quantity_required\":1}]}",
		  400, "NESTING_NOT_ALLOWED", { NULL } },
		/* unknown / another account's child or item */
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD(NO_SUCH_ID, "1"),
		  404, "SKU_NOT_FOUND", { NULL } },
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{o_sku}", "1"),
		  404, "SKU_NOT_FOUND", { NULL } },
		{ "PUT", "/skus/{kit}/bom", "write",
		  "{\"children\":[],\"inventory\":[{\"inventory_item_id\":\"{spool}\","
		  "\"quantity_required\":1},{\"inventory_item_id\":\"{o_box}\",\"quantity_required\":1}]}",
		  404, "UNKNOWN_INVENTORY_ITEM", { NULL } },
		{ "PUT", "/skus/{kit}/bom", "write",
		  "{\"inventory\":[{\"inventory_item_id\":\"" NO_SUCH_ID "\",\"quantity_required\":1}]}",
		  404, "UNKNOWN_INVENTORY_ITEM", { NULL } },
		/* bad input, named */
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{p1}", "0"),
		  422, "VALIDATION_ERROR", { "details.children[1].quantity_required" } },
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{p1}", "1.5"),
		  422, "VALIDATION_ERROR", { "details.children[1].quantity_required" } },
		{ "PUT", "/skus/{kit}/bom", "write", ONE_CHILD("{p2}", "1"),
		  422, "VALIDATION_ERROR", { "details.children[1].child_sku_id" } },
		{ "PUT", "/skus/{kit}/bom", "write", "{\"children\":[{\"quantity_required\":1}]}",
		  422, "VALIDATION_ERROR", { "details.children[0].child_sku_id" } },
		{ "PUT", "/skus/{kit}/bom", "write", "{\"children\":{}}",
		  422, "VALIDATION_ERROR", { "details.children" } },
		{ "PUT", "/skus/{kit}/bom", "write", "{\"children\":[\"{p1}\"]}",
		  422, "VALIDATION_ERROR", { "details.children[0]" } },
		{ "PUT", "/skus/{kit}/bom", "write",
		  "{\"inventory\":[{\"inventory_item_id\":\"{box}\",\"quantity_required\":0}]}",
		  422, "VALIDATION_ERROR", { "details.inventory[0].quantity_required" } },
		{ "PUT", "/skus/{kit}/bom", "write",
		  "{\"inventory\":[{\"inventory_item_id\":\"{box}\",\"quantity_required\":\"1\"}]}",
		  422, "VALIDATION_ERROR", { "details.inventory[0].quantity_required" } },
		{ "PUT", "/skus/{kit}/bom", "write",
		  "{\"inventory\":[{\"inventory_item_id\":\"{box}\",\"quantity_required\":1},"
		  "{\"inventory_item_id\":\"{box}\",\"quantity_required\":2}]}",
		  422, "VALIDATION_ERROR", { "details.inventory[1].inventory_item_id" } },
		/* the parent: another account's, unknown */
		{ "PUT", "/skus/{o_sku}/bom", "write", "{\"children\":[]}",
		  404, "SKU_NOT_FOUND", { NULL } },
		{ "PUT", "/skus/" NO_SUCH_ID "/bom", "write", "{\"children\":[]}",
		  404, "SKU_NOT_FOUND", { NULL } },
		{ "GET", "/skus/{o_sku}/bom", "read", NULL, 404, "SKU_NOT_FOUND", { NULL } },
		{ "GET", "/skus/" NO_SUCH_ID "/bom", "read", NULL, 404, "SKU_NOT_FOUND", { NULL } },
		/* the other account cannot read or replace this one's */
		{ "GET", "/skus/{kit}/bom", CASE_OTHER, NULL, 404, "SKU_NOT_FOUND", { NULL } },
		{ "PUT", "/skus/{kit}/bom", CASE_OTHER, "{\"children\":[]}",
		  404, "SKU_NOT_FOUND", { NULL } },
		/* scopes */
		{ "PUT", "/skus/{kit}/bom", "read", "{\"children\":[]}",
		  403, "INSUFFICIENT_SCOPE", { NULL } },
		{ "GET", "/skus/{kit}/bom", "write", NULL, 403, "INSUFFICIENT_SCOPE", { NULL } },
	};
#undef ONE_CHILD
	CASE_RUN(&c, bad);
	DB_IS(&Q_CHILD_ROWS, f.kit, "P1:2,P2:1");
	DB_IS(&Q_ITEM_ROWS, f.kit, "packaging:1.000");
	DB_IS(&Q_COMPOSITE_FLAG, f.kit, "1");
	DB_IS(&Q_CHILD_ROWS, f.p1, "");
	DB_IS(&Q_CHILD_ROWS, f.other, "P2:1");
	DB_IS(&Q_CHILD_ROWS, o.p1, "");
	/* and the other account's catalog has no BOM at all */
	DB_IS(&Q_CHILD_ROWS, o.kit, "");
}

static const char *const TASK_KEYS[] = {
	"id", "product_name", "sku", "quantity", "notes", "created_at", "updated_at",
	"completed_at", "status", "task_type", NULL
};

/* The check for q kits; a task made, no stock moved (R2: its completion moves it). */
static void test_assemble(void)
{
	struct case_ctx c;
	struct bom_fx f, o;
	char body[512], path[128], user[FX_ID], ouser[FX_ID];
	RESP(r);
	FX(setup(&c, &f, &o));
	FX(new_id(user));
	FX(FX_SQL(Q_USER, DS(user), DS(c.t.account), DS(user)));
	FX(new_id(ouser));
	FX(FX_SQL(Q_USER, DS(ouser), DS(c.other.account), DS(ouser)));
	case_var(&c, "user", user);
	case_var(&c, "o_user", ouser);
	/* 2 x P1 (7 ready), 1 x P2 (5 ready), a box each (4 left): 3 kits */
	snprintf(body, sizeof body,
		 "{\"children\":[{\"child_sku_id\":\"%s\",\"quantity_required\":2},"
		 "{\"child_sku_id\":\"%s\",\"quantity_required\":1}],"
		 "\"inventory\":[{\"inventory_item_id\":\"%s\",\"quantity_required\":1}]}",
		 f.p1, f.p2, f.box);
	put_bom(c.t.key, f.kit, body, &r);
	FX(EXPECT(r, 200, NULL) ? 0 : -1);

	snprintf(path, sizeof path, "/skus/%s/assemble", f.kit);
	api("POST", path, c.t.key, "{\"quantity\":3,\"notes\":\"gift\",\"assigned_to\":null}", &r);
	if (EXPECT(r, 201, NULL)) {
		json_t *t = rdata(&r);
		KEYS(t, TASK_KEYS, &r);
		CHECK(util_is_uuid(jstr(t, "id")), &r, "id is a UUID");
		STR_EQ(jstr(t, "product_name"), "Set", &r);
		STR_EQ(jstr(t, "sku"), "KIT", &r);
		INT_EQ(jint(t, "quantity"), 3, &r);
		STR_EQ(jstr(t, "notes"), "gift", &r);
		CHECK(is_iso_ms(jstr(t, "created_at")), &r, "created_at");
		CHECK(json_is_null(json_object_get(t, "completed_at")), &r, "completed_at null");
	}
	/* no body: one kit, with an assignee of the account */
	api("POST", path, c.t.key, NULL, &r);
	if (EXPECT(r, 201, NULL))
		INT_EQ(jint(rdata(&r), "quantity"), 1, &r);
	DB_IS(&Q_KIT_TASKS, f.kit, "pending:kit_assembly:3:gift:1,pending:kit_assembly:1:-:1");
	/* nothing moved; pending tasks reserve nothing */
	DB_IS(&Q_READY, f.kit, "0");
	DB_IS(&Q_READY, f.p1, "7");
	DB_IS(&Q_READY, f.p2, "5");

	/* 4 kits: P1 short by 1 (8 > 7); boxes cover 4 */
	api("POST", path, c.t.key, "{\"quantity\":4}", &r);
	if (EXPECT(r, 400, "INSUFFICIENT_FOR_KIT")) {
		json_t *sh = json_object_get(r.json, "shortages");
		if (CHECK(json_array_size(sh) == 1, &r, "one shortage")) {
			json_t *s1 = json_array_get(sh, 0);
			STR_EQ(jstr(s1, "child_sku_id"), f.p1, &r);
			STR_EQ(jstr(s1, "child_sku"), "P1", &r);
			CHECK(json_number_value(json_object_get(s1, "required")) == 8.0, &r, "8");
			CHECK(json_number_value(json_object_get(s1, "on_hand")) == 7.0, &r, "7");
			CHECK(json_number_value(json_object_get(s1, "short_by")) == 1.0, &r, "1");
		}
	}
	/* 6 kits: P1 (12 > 7), P2 (6 > 5) and the box (6 > 4) */
	api("POST", path, c.t.key, "{\"quantity\":6}", &r);
	if (EXPECT(r, 400, "INSUFFICIENT_FOR_KIT")) {
		json_t *sh = json_object_get(r.json, "shortages");
		if (CHECK(json_array_size(sh) == 3, &r, "three shortages")) {
			STR_EQ(jstr(json_array_get(sh, 1), "child_sku"), "P2", &r);
			STR_EQ(jstr(json_array_get(sh, 2), "inventory_item_id"), f.box, &r);
			STR_EQ(jstr(json_array_get(sh, 2), "item_name"), "Gift box", &r);
			CHECK(json_number_value(json_object_get(json_array_get(sh, 2), "short_by")) == 2.0,
			      &r, "2 boxes short");
		}
	}
	static const struct case_row bad[] = {
		{ "POST", "/skus/{kit}/assemble", "write", "{\"assigned_to\":\"{user}\"}",
		  201, NULL, { "data.quantity=1" } },
		{ "POST", "/skus/{p1}/assemble", "write", "{}", 400, "NOT_COMPOSITE", { NULL } },
		{ "POST", "/skus/{kit}/assemble", "write", "{\"assigned_to\":\"{o_user}\"}",
		  404, "USER_NOT_FOUND", { NULL } },
		{ "POST", "/skus/{o_sku}/assemble", "write", "{}", 404, "SKU_NOT_FOUND", { NULL } },
		{ "POST", "/skus/{kit}/assemble", CASE_OTHER, "{}", 404, "SKU_NOT_FOUND", { NULL } },
		{ "POST", "/skus/" NO_SUCH_ID "/assemble", "write", "{}", 404, "SKU_NOT_FOUND", { NULL } },
		{ "POST", "/skus/{kit}/assemble", "write", "{\"quantity\":0}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/skus/{kit}/assemble", "write", "{\"quantity\":\"2\"}",
		  422, "VALIDATION_ERROR", { "details.quantity" } },
		{ "POST", "/skus/{kit}/assemble", "write", "{\"notes\":7}",
		  422, "VALIDATION_ERROR", { "details.notes" } },
		{ "POST", "/skus/{kit}/assemble", "read", "{}", 403, "INSUFFICIENT_SCOPE", { NULL } },
	};
	CASE_RUN(&c, bad);
	/* only the assigned one more; still nothing moved */
	DB_IS(&Q_KIT_TASKS, f.kit, "pending:kit_assembly:3:gift:1,pending:kit_assembly:1:-:1,"
	      "pending:kit_assembly:1:-:1");
	DB_IS(&Q_KIT_TASKS, o.kit, "");
	DB_IS(&Q_READY, f.p1, "7");
}

int suite_bom(void)
{
	CU_pSuite s = CU_add_suite("bom", NULL, NULL);
	if (!s)
		return -1;
	ADD_TEST(s, test_replace_and_get);
	ADD_TEST(s, test_refused_changes_nothing);
	ADD_TEST(s, test_assemble);
	return 0;
}
