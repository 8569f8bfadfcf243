/* bom.c - a SKU's bill of materials: GET /skus/{id}/bom (children and inventory rows with live
 * stock, available_to_build) and PUT /skus/{id}/bom (checked whole, then replaced in one
 * transaction). docs/catalog.md, "Bill of materials and kit assembly", has the choices the
 * spec leaves open. */
#include "resources.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOM_ROWS_MAX 100

static const struct jfield CHILD_IN[] = {
	{ "child_sku_id", JF_STRING, JF_REQUIRED, 1, 36, { NULL } },
	{ "quantity_required", JF_INT, JF_REQUIRED, 1, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield CHILD_ITEM[] = {
	{ "children", JF_OBJECT, 0, 0, 0, { .sub = CHILD_IN } }
};
static const struct jfield INVENTORY_IN[] = {
	{ "inventory_item_id", JF_STRING, JF_REQUIRED, 1, 36, { NULL } },
	{ "quantity_required", JF_NUMBER, JF_REQUIRED, 0.001, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield INVENTORY_ITEM[] = {
	{ "inventory", JF_OBJECT, 0, 0, 0, { .sub = INVENTORY_IN } }
};
static const struct jfield F_BOM[] = {
	{ "children", JF_ARRAY, 0, 0, BOM_ROWS_MAX, { .sub = CHILD_ITEM } },
	{ "inventory", JF_ARRAY, 0, 0, BOM_ROWS_MAX, { .sub = INVENTORY_ITEM } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

#define COMPOSITE_OF(alias)                                                                \
	"EXISTS(SELECT 1 FROM sku_bom_children x WHERE x.parent_sku_id = " alias ".id"       \
	" AND x.account_id = " alias ".account_id)"

/* Children by child SKU code: the child's active finished good gives its ready stock. */
static const struct db_query Q_CHILDREN = {
	"SELECT b.child_sku_id, b.quantity_required, c.sku, c.color, " COMPOSITE_OF("c") ","
	" COALESCE(cf.ready_stock, 0)"
	" FROM sku_bom_children b JOIN product_skus c ON c.id = b.child_sku_id"
	" AND c.account_id = b.account_id LEFT JOIN finished_goods cf"
	" ON cf.product_sku_id = c.id AND cf.account_id = c.account_id AND cf.is_active = 1"
	" WHERE b.account_id = ? AND b.parent_sku_id = ? ORDER BY c.sku, c.id"
};
#define MATERIAL_JOIN(table, alias, kind)                                                  \
	" LEFT JOIN " table " " alias " ON i.inventory_kind = '" kind "' AND " alias ".id ="  \
	" i.inventory_item_id AND " alias ".account_id = i.account_id"
/* Inventory rows by item name: filament is "<type> <color>" in grams; the others their name (type
 * when unnamed) in units. */
static const struct db_query Q_INVENTORY = {
	"SELECT i.inventory_item_id, i.quantity_required,"
	" COALESCE(CONCAT(f.type, ' ', f.color), COALESCE(pk.name, pk.type),"
	" COALESCE(a.name, a.type), COALESCE(pp.name, pp.type)),"
	" COALESCE(f.remaining_grams, pk.remaining_units, a.remaining_units,"
	" pp.remaining_units, 0), IF(i.inventory_kind = 'filament', 'g', 'units')"
	" FROM sku_bom_inventory i"
	MATERIAL_JOIN("filament_inventory", "f", "filament")
	MATERIAL_JOIN("packaging_inventory", "pk", "packaging")
	MATERIAL_JOIN("accessories_inventory", "a", "accessory")
	MATERIAL_JOIN("printer_parts_inventory", "pp", "part")
	" WHERE i.account_id = ? AND i.sku_id = ? ORDER BY 3, i.inventory_item_id"
};

/* The parent, locked so that concurrent replaces of its BOM run one after the other. */
static const struct db_query Q_PARENT_LOCK = {
	"SELECT 1 FROM product_skus WHERE account_id = ? AND id = ? FOR UPDATE"
};
static const struct db_query Q_IS_CHILD = {
	"SELECT 1 FROM sku_bom_children WHERE account_id = ? AND child_sku_id = ? LIMIT 1"
};
static const struct db_query Q_CHILD = {
	"SELECT " COMPOSITE_OF("c") " FROM product_skus c WHERE c.account_id = ? AND c.id = ?"
};
#define MATERIAL_KIND(table, kind) \
	"SELECT '" kind "' FROM " table " WHERE account_id = ? AND id = ?"
static const struct db_query Q_ITEM_KIND = {
	MATERIAL_KIND("filament_inventory", "filament") " UNION ALL "
	MATERIAL_KIND("packaging_inventory", "packaging") " UNION ALL "
	MATERIAL_KIND("accessories_inventory", "accessory") " UNION ALL "
	MATERIAL_KIND("printer_parts_inventory", "part") " LIMIT 1"
};
static const struct db_query Q_CHILDREN_DELETE = {
	"DELETE FROM sku_bom_children WHERE account_id = ? AND parent_sku_id = ?"
};
static const struct db_query Q_INVENTORY_DELETE = {
	"DELETE FROM sku_bom_inventory WHERE account_id = ? AND sku_id = ?"
};
static const struct db_query Q_CHILD_INSERT = {
	"INSERT INTO sku_bom_children (id, account_id, parent_sku_id, child_sku_id,"
	" quantity_required) VALUES (?, ?, ?, ?, ?)"
};
static const struct db_query Q_INVENTORY_INSERT = {
	"INSERT INTO sku_bom_inventory (id, account_id, sku_id, inventory_item_id,"
	" inventory_kind, quantity_required) VALUES (?, ?, ?, ?, ?, ?)"
};
static const struct db_query Q_COMPOSITE_FLAG = {
	"UPDATE product_skus SET is_composite = ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};

static json_t *cell_num(const struct db_res *rs, unsigned long row, unsigned col)
{
	const char *v = db_get(rs, row, col);
	return json_real(v ? strtod(v, NULL) : 0.0);
}

/* The BOM object of SKU id: {sku_id, is_composite, available_to_build, children, inventory}
 * (the first two as GET /skus/{id} computes them). */
static enum api_err bom_object(struct req *r, const char *id, json_t **out)
{
	json_t *sku = NULL;
	struct db_res rs;
	enum api_err err = res_detail(r, &sku_res, id, &sku);
	if (err == E_SKU_NOT_FOUND)
		return req_fail(r, err, "SKU %s not found", id);
	if (err)
		return err;
	json_t *bom = json_pack("{s:s, s:O, s:O, s:[], s:[]}", "sku_id", id, "is_composite",
				json_object_get(sku, "is_composite"), "available_to_build",
				json_object_get(sku, "available_to_build"), "children", "inventory");
	json_decref(sku);
	if (!bom)
		return E_INTERNAL_ERROR;
	json_t *children = json_object_get(bom, "children");
	json_t *inventory = json_object_get(bom, "inventory");
	if ((err = db_exec(r->db, &Q_CHILDREN, DB_ARGS(DS(r->account_id), DS(id)), &rs)) != E_OK)
		goto fail;
	for (unsigned long i = 0; i < rs.nrows; i++)
		json_array_append_new(children, json_pack(
			"{s:s, s:I, s:s, s:s, s:b, s:I}", "child_sku_id", db_get(&rs, i, 0),
			"quantity_required", (json_int_t)db_get_int(&rs, i, 1, 0), "child_sku",
			db_get(&rs, i, 2), "child_color", db_get(&rs, i, 3), "child_is_composite",
			(int)db_get_int(&rs, i, 4, 0), "child_ready_stock",
			(json_int_t)db_get_int(&rs, i, 5, 0)));
	db_res_free(&rs);
	if ((err = db_exec(r->db, &Q_INVENTORY, DB_ARGS(DS(r->account_id), DS(id)), &rs)) != E_OK)
		goto fail;
	for (unsigned long i = 0; i < rs.nrows; i++) {
		const char *name = db_get(&rs, i, 2);
		json_array_append_new(inventory, json_pack(
			"{s:s, s:o, s:s?, s:o, s:s}", "inventory_item_id", db_get(&rs, i, 0),
			"quantity_required", cell_num(&rs, i, 1), "item_name", name, "remaining",
			cell_num(&rs, i, 3), "unit", db_get(&rs, i, 4)));
	}
	db_res_free(&rs);
	*out = bom;
	return E_OK;
fail:
	db_res_free(&rs);
	json_decref(bom);
	return err;
}

enum api_err bom_get(struct req *r)
{
	json_t *bom;
	enum api_err err = bom_object(r, req_param(r, "id"), &bom);
	return err ? err : req_ok(r, bom);
}

/* *found = whether q on (account, id) returns a row; its first cell into first (may be NULL). */
static enum api_err lookup(struct req *r, const struct db_query *q, const char *id,
			   char *first, size_t size, int *found)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, q, DB_ARGS(DS(r->account_id), DS(id)), &rs);
	*found = !err && rs.nrows > 0;
	if (*found && first)
		db_copy(first, size, &rs, 0, 0);
	db_res_free(&rs);
	return err;
}

/* Duplicate ids in list (member key) are problems naming the later one. */
static void check_duplicates(struct req *r, const char *list_name, const char *key)
{
	const json_t *list = json_object_get(r->body, list_name);
	for (size_t i = 1; i < json_array_size(list); i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(jhelp_str(json_array_get(list, i), key),
				   jhelp_str(json_array_get(list, j), key)) == 0) {
				char field[64];
				snprintf(field, sizeof field, "%s[%zu].%s", list_name, i, key);
				req_problem(r, field, "%s %s is listed twice", key,
					    jhelp_str(json_array_get(list, i), key));
				break;
			}
}

/* Every child: the account's, not the parent, not composite; the parent, when it gets
 * children, no child of another SKU (one level of nesting). */
static enum api_err check_children(struct req *r, const char *parent, const json_t *children)
{
	int found;
	enum api_err err;
	if (json_array_size(children) > 0) {
		if ((err = lookup(r, &Q_IS_CHILD, parent, NULL, 0, &found)) != E_OK)
			return err;
		if (found)
			return req_fail(r, E_NESTING_NOT_ALLOWED, "SKU %s is itself a BOM child of"
					" another SKU, so it cannot have children", parent);
	}
	for (size_t i = 0; i < json_array_size(children); i++) {
		const char *child = jhelp_str(json_array_get(children, i), "child_sku_id");
		char composite[4];
		if (strcmp(child, parent) == 0)
			return req_fail(r, E_NESTING_NOT_ALLOWED, "children[%zu]: SKU %s cannot be"
					" its own BOM child", i, child);
		if ((err = lookup(r, &Q_CHILD, child, composite, sizeof composite, &found)) != E_OK)
			return err;
		if (!found)
			return req_fail(r, E_SKU_NOT_FOUND, "children[%zu]: SKU %s not found", i,
					child);
		if (strcmp(composite, "1") == 0)
			return req_fail(r, E_NESTING_NOT_ALLOWED, "children[%zu]: SKU %s is"
					" composite; a BOM child must not have children", i, child);
	}
	return E_OK;
}

/* Checked whole before any write, then the old rows go and the new ones come (route R_TXN:
 * run again from the start after a lock conflict, with new row ids). */
enum api_err bom_replace(struct req *r)
{
	const char *id = req_param(r, "id");
	const json_t *children = json_object_get(r->body, "children");
	const json_t *inventory = json_object_get(r->body, "inventory");
	struct db_res rs;
	enum api_err err;
	if (!req_check_body(r, F_BOM)) {
		check_duplicates(r, "children", "child_sku_id");
		check_duplicates(r, "inventory", "inventory_item_id");
	}
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	if ((err = req_fetch_one(r, &Q_PARENT_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &rs,
				 E_SKU_NOT_FOUND)) == E_SKU_NOT_FOUND)
		return req_fail(r, err, "SKU %s not found", id);
	if (err)
		return err;
	db_res_free(&rs);
	if ((err = check_children(r, id, children)) != E_OK)
		return err;
	size_t n_items = json_array_size(inventory);
	char (*kinds)[16] = n_items ? calloc(n_items, sizeof *kinds) : NULL;
	if (n_items && !kinds)
		return E_INTERNAL_ERROR;
	for (size_t i = 0; i < n_items && !err; i++) {
		const char *item = jhelp_str(json_array_get(inventory, i), "inventory_item_id");
		int found;
		/* the same id bound to each of the four tables */
		struct db_res kr;
		err = db_exec(r->db, &Q_ITEM_KIND,
			      DB_ARGS(DS(r->account_id), DS(item), DS(r->account_id), DS(item),
				      DS(r->account_id), DS(item), DS(r->account_id), DS(item)), &kr);
		found = !err && kr.nrows > 0;
		if (found)
			DB_COPY(kinds[i], &kr, 0, 0);
		db_res_free(&kr);
		if (!err && !found)
			err = req_fail(r, E_UNKNOWN_INVENTORY_ITEM, "inventory[%zu]: inventory item"
				       " %s not found", i, item);
	}
	if (!err)
		err = db_exec(r->db, &Q_CHILDREN_DELETE, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	if (!err)
		err = db_exec(r->db, &Q_INVENTORY_DELETE, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	for (size_t i = 0; i < json_array_size(children) && !err; i++) {
		const json_t *c = json_array_get(children, i);
		char row[UUID_LEN + 1];
		err = util_uuid(row) < 0 ? E_INTERNAL_ERROR
		      : db_exec(r->db, &Q_CHILD_INSERT,
				DB_ARGS(DS(row), DS(r->account_id), DS(id),
					DS(jhelp_str(c, "child_sku_id")),
					DI(json_integer_value(json_object_get(c, "quantity_required")))),
				NULL);
	}
	for (size_t i = 0; i < n_items && !err; i++) {
		const json_t *it = json_array_get(inventory, i);
		char row[UUID_LEN + 1];
		err = util_uuid(row) < 0 ? E_INTERNAL_ERROR
		      : db_exec(r->db, &Q_INVENTORY_INSERT,
				DB_ARGS(DS(row), DS(r->account_id), DS(id),
					DS(jhelp_str(it, "inventory_item_id")), DS(kinds[i]),
					DD(json_number_value(json_object_get(it, "quantity_required")))),
				NULL);
	}
	free(kinds);
	if (!err)
		err = db_exec(r->db, &Q_COMPOSITE_FLAG,
			      DB_ARGS(DI(json_array_size(children) > 0), DS(r->account_id), DS(id)),
			      NULL);
	json_t *bom;
	if (err || (err = bom_object(r, id, &bom)) != E_OK)
		return err;
	return req_ok(r, bom);
}

/* ------------------------------------------------------------------ kit assembly */

/* The assembly group's task projection. */
static const struct rfield kit_task_fields[] = {
	RES_FIELD(id, "t.id", STR, NONE, RF_DETAIL)
	RES_FIELD(product_name, "t.product_name", STR, NONE, RF_DETAIL)
	RES_FIELD(sku, "t.sku", STR, NONE, RF_DETAIL)
	RES_FIELD(quantity, "t.quantity", INT, NONE, RF_DETAIL)
	RES_FIELD(notes, "t.notes", STR, NONE, RF_DETAIL)
	RES_FIELD(created_at, "t.created_at", TIME, NONE, RF_DETAIL)
	RES_FIELD(updated_at, "t.updated_at", TIME, NONE, RF_DETAIL)
	RES_FIELD(completed_at, "t.completed_at", TIME, NONE, RF_DETAIL)
	RES_FIELD_END
};
static const struct resource kit_task_res = {
	.noun = "assembly task", .table = "assembly_tasks", .from = "assembly_tasks t",
	.alias = "t", .not_found = E_TASK_NOT_FOUND, .fields = kit_task_fields,
	.order = "t.created_at, t.id", .paging = RP_NONE,
};

static const struct jfield F_ASSEMBLE[] = {
	{ "quantity", JF_INT, 0, 1, 1000000, { NULL } },
	{ "assigned_to", JF_STRING, JF_NULLABLE, 1, 36, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 2000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* The SKU's active finished good (locked: kit tasks of one SKU are made one after the other),
 * its product's name and its code. */
static const struct db_query Q_KIT_FG = {
	"SELECT fg.id, p.name, s.sku FROM product_skus s JOIN products p ON p.id = s.product_id"
	" AND p.account_id = s.account_id LEFT JOIN finished_goods fg ON fg.product_sku_id = s.id"
	" AND fg.account_id = s.account_id AND fg.is_active = 1"
	" WHERE s.account_id = ? AND s.id = ? FOR UPDATE"
};
static const struct db_query Q_USER = {
	"SELECT 1 FROM users WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_KIT_TASK_INSERT = {
	"INSERT INTO assembly_tasks (id, account_id, finished_good_id, assigned_to, product_name,"
	" sku, quantity, status, task_type, notes)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 'kit_assembly', ?)"
};

/* Appends to shortages the rows of q (SKU id's BOM children or inventory rows: id, quantity
 * per kit, name ... on hand in column have) that cannot cover kits; *n = the rows. */
static enum api_err add_shortages(struct req *r, const struct db_query *q, const char *id,
				  long long kits, unsigned have, const char *id_key,
				  const char *name_key, json_t *shortages, unsigned long *n)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, q, DB_ARGS(DS(r->account_id), DS(id)), &rs);
	*n = err ? 0 : rs.nrows;
	for (unsigned long i = 0; i < rs.nrows; i++) {
		const char *per = db_get(&rs, i, 1), *on = db_get(&rs, i, have);
		double required = (double)kits * (per ? strtod(per, NULL) : 0.0);
		double on_hand = on ? strtod(on, NULL) : 0.0;
		if (on_hand >= required)
			continue;
		json_array_append_new(shortages, json_pack(
			"{s:s, s:s?, s:f, s:f, s:f}", id_key, db_get(&rs, i, 0), name_key,
			db_get(&rs, i, 2), "required", required, "on_hand", on_hand, "short_by",
			required - on_hand));
	}
	db_res_free(&rs);
	return err;
}

/* R5's build check for quantity kits from the children's ready stock and the inventory rows'
 * remaining material; no stock moves (R2: the task's completion moves it). Route R_TXN. */
enum api_err bom_assemble(struct req *r)
{
	const char *id = req_param(r, "id");
	struct db_res rs;
	char fg[UUID_LEN + 1], product[256], code[128], task[UUID_LEN + 1];
	if (r->body && req_check_body(r, F_ASSEMBLE))
		return E_VALIDATION_ERROR;
	const json_t *qv = json_object_get(r->body, "quantity");
	long long kits = qv ? json_integer_value(qv) : 1;
	const char *assignee = jhelp_str(r->body, "assigned_to");
	enum api_err err = req_fetch_one(r, &Q_KIT_FG, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 E_SKU_NOT_FOUND);
	if (err == E_SKU_NOT_FOUND)
		return req_fail(r, err, "SKU %s not found", id);
	if (err)
		return err;
	int has_fg = db_get(&rs, 0, 0) != NULL;
	DB_COPY(fg, &rs, 0, 0);
	DB_COPY(product, &rs, 0, 1);
	DB_COPY(code, &rs, 0, 2);
	db_res_free(&rs);
	int found;
	if (assignee && (err = lookup(r, &Q_USER, assignee, NULL, 0, &found)) != E_OK)
		return err;
	if (assignee && !found)
		return req_fail(r, E_USER_NOT_FOUND, "assigned_to: user %s not found", assignee);
	json_t *shortages = json_array();
	unsigned long children, items;
	err = add_shortages(r, &Q_CHILDREN, id, kits, 5, "child_sku_id", "child_sku", shortages,
			    &children);
	if (!err)
		err = add_shortages(r, &Q_INVENTORY, id, kits, 3, "inventory_item_id", "item_name",
				    shortages, &items);
	if (err) {
		json_decref(shortages);
		return err;
	}
	if (children == 0) {
		json_decref(shortages);
		return req_fail(r, E_NOT_COMPOSITE, "SKU %s has no BOM children", id);
	}
	if (json_array_size(shortages) > 0) {
		r->error_extra = json_pack("{s:o}", "shortages", shortages);
		return req_fail(r, E_INSUFFICIENT_FOR_KIT, "%lld kit(s) of %s cannot be built from"
				" the stock on hand", kits, code);
	}
	json_decref(shortages);
	if (!has_fg)
		return req_fail(r, E_SKU_NOT_FOUND, "SKU %s has no active finished-goods row", id);
	if (util_uuid(task) < 0)
		return E_INTERNAL_ERROR;
	err = db_exec(r->db, &Q_KIT_TASK_INSERT,
		      DB_ARGS(DS(task), DS(r->account_id), DS(fg), DS(assignee), DS(product),
			      DS(code), DI(kits), DS(jhelp_str(r->body, "notes"))), NULL);
	return err ? err : res_reply_view(r, &kit_task_res, task, RF_DETAIL, 1);
}
