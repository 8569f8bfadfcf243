/* bom.c - a SKU's bill of materials: GET /skus/{id}/bom (children and inventory rows with live
 * stock, available_to_build) and PUT /skus/{id}/bom (checked whole, then replaced in one
 * transaction). docs/catalog.md, "Bill of materials and kit assembly", has the choices the
 * spec leaves open. */
#include "resources.h"

#include "openapi.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOM_ROWS_MAX 100

static const struct jfield CHILD_IN[] = {
	{ "child_sku_id", JF_STRING, JF_REQUIRED, 1, 36, { NULL } },
	{ "quantity_required", JF_INT, JF_REQUIRED, 1, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield CHILD_ITEM[] = {
	{ "children", JF_OBJECT, 0, 0, 0, { .sub = CHILD_IN } }
};
const struct jfield bom_inventory_in[] = {
	{ "inventory_item_id", JF_STRING, JF_REQUIRED, 1, 36, { NULL } },
	{ "quantity_required", JF_NUMBER, JF_REQUIRED, 0.001, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield INVENTORY_ITEM[] = {
	{ "inventory", JF_OBJECT, 0, 0, 0, { .sub = bom_inventory_in } }
};
static const struct jfield F_BOM[] = {
	{ "children", JF_ARRAY, 0, 0, BOM_ROWS_MAX, { .sub = CHILD_ITEM } },
	{ "inventory", JF_ARRAY, 0, 0, BOM_ROWS_MAX, { .sub = INVENTORY_ITEM } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(bom_replace, F_BOM);

#define COMPOSITE_OF(alias)                                                                \
	"EXISTS(SELECT 1 FROM sku_bom_children x WHERE x.parent_sku_id = " alias ".id"       \
	" AND x.account_id = " alias ".account_id)"

/* Children by child SKU code: the child's active finished good gives its ready stock (and its
 * id, column 6). The kit check locks the children in this order. */
static const struct db_query Q_CHILDREN = {
	"SELECT b.child_sku_id, b.quantity_required, c.sku, c.color, " COMPOSITE_OF("c") ","
	" COALESCE(cf.ready_stock, 0), cf.id"
	" FROM sku_bom_children b JOIN product_skus c ON c.id = b.child_sku_id"
	" AND c.account_id = b.account_id LEFT JOIN finished_goods cf"
	" ON cf.product_sku_id = c.id AND cf.account_id = c.account_id AND cf.is_active = 1"
	" WHERE b.account_id = ? AND b.parent_sku_id = ? ORDER BY c.sku, c.id"
};
/* Inventory rows by item name (BOM_ITEM_NAME_SQL), in grams for filament, else units; the
 * row's kind in column 5. */
static const struct db_query Q_INVENTORY = {
	"SELECT i.inventory_item_id, i.quantity_required, " BOM_ITEM_NAME_SQL ", "
	BOM_ITEM_REMAINING_SQL ", IF(i.inventory_kind = 'filament', 'g', 'units'),"
	" i.inventory_kind FROM sku_bom_inventory i" BOM_ITEM_JOINS
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

void bom_check_duplicates(struct req *r, const json_t *list, const char *path, const char *key)
{
	for (size_t i = 1; i < json_array_size(list); i++) {
		const char *v = jhelp_str(json_array_get(list, i), key);
		for (size_t j = 0; v && j < i; j++) {
			const char *w = jhelp_str(json_array_get(list, j), key);
			if (w && strcasecmp(v, w) == 0) {
				char field[96];
				snprintf(field, sizeof field, "%s[%zu].%s", path, i, key);
				req_problem(r, field, "%s %s is listed twice", key, v);
				break;
			}
		}
	}
}

enum api_err bom_add_child(struct req *r, const char *parent, const char *child, long long qty)
{
	char row[UUID_LEN + 1];
	if (util_uuid(row) < 0)
		return E_INTERNAL_ERROR;
	return db_exec(r->db, &Q_CHILD_INSERT, DB_ARGS(DS(row), DS(r->account_id), DS(parent),
						       DS(child), DI(qty)), NULL);
}

enum api_err bom_add_inventory(struct req *r, const char *sku, const json_t *row_in,
			       const char *where)
{
	const char *item = jhelp_str(row_in, "inventory_item_id");
	char kind[16], row[UUID_LEN + 1];
	struct db_res kr;
	/* the same id bound to each of the four tables */
	enum api_err err = db_exec(r->db, &Q_ITEM_KIND,
				   DB_ARGS(DS(r->account_id), DS(item), DS(r->account_id), DS(item),
					   DS(r->account_id), DS(item), DS(r->account_id), DS(item)),
				   &kr);
	int found = !err && kr.nrows > 0;
	if (found)
		DB_COPY(kind, &kr, 0, 0);
	db_res_free(&kr);
	if (err)
		return err;
	if (!found)
		return req_fail(r, E_UNKNOWN_INVENTORY_ITEM, "%s: inventory item %s not found",
				where, item);
	if (util_uuid(row) < 0)
		return E_INTERNAL_ERROR;
	return db_exec(r->db, &Q_INVENTORY_INSERT,
		       DB_ARGS(DS(row), DS(r->account_id), DS(sku), DS(item), DS(kind),
			       DD(json_number_value(json_object_get(row_in, "quantity_required")))),
		       NULL);
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

/* Checked whole, then the old rows go and the new ones come; an unknown inventory item found
 * on the way rolls everything back (route R_TXN: run again from the start after a lock
 * conflict, with new row ids). */
enum api_err bom_replace(struct req *r)
{
	const char *id = req_param(r, "id");
	const json_t *children = json_object_get(r->body, "children");
	const json_t *inventory = json_object_get(r->body, "inventory");
	struct db_res rs;
	enum api_err err;
	if (!req_check_body(r, F_BOM)) {
		bom_check_duplicates(r, children, "children", "child_sku_id");
		bom_check_duplicates(r, inventory, "inventory", "inventory_item_id");
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
	if (!err)
		err = db_exec(r->db, &Q_CHILDREN_DELETE, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	if (!err)
		err = db_exec(r->db, &Q_INVENTORY_DELETE, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	for (size_t i = 0; i < json_array_size(children) && !err; i++) {
		const json_t *c = json_array_get(children, i);
		err = bom_add_child(r, id, jhelp_str(c, "child_sku_id"),
				    json_integer_value(json_object_get(c, "quantity_required")));
	}
	for (size_t i = 0; i < json_array_size(inventory) && !err; i++) {
		char where[32];
		snprintf(where, sizeof where, "inventory[%zu]", i);
		err = bom_add_inventory(r, id, json_array_get(inventory, i), where);
	}
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

static const struct jfield F_ASSEMBLE[] = {
	{ "quantity", JF_INT, 0, 1, 1000000, { NULL } },
	{ "assigned_to", JF_STRING, JF_NULLABLE, 1, 36, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 2000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(bom_assemble, F_ASSEMBLE);

/* The SKU's active finished good (locked: kit tasks of one SKU are made one after the other),
 * its product's name and its code. */
static const struct db_query Q_KIT_FG = {
	"SELECT fg.id, p.name, s.sku FROM product_skus s JOIN products p ON p.id = s.product_id"
	" AND p.account_id = s.account_id LEFT JOIN finished_goods fg ON fg.product_sku_id = s.id"
	" AND fg.account_id = s.account_id AND fg.is_active = 1"
	" WHERE s.account_id = ? AND s.id = ? FOR UPDATE"
};
static const struct db_query Q_KIT_TASK_INSERT = {
	"INSERT INTO assembly_tasks (id, account_id, finished_good_id, assigned_to, product_name,"
	" sku, quantity, status, task_type, notes)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 'kit_assembly', ?)"
};


/* The stock counter of a material kind of sku_bom_inventory. */
static enum stock_counter material_counter(const char *kind)
{
	return strcmp(kind, "filament") == 0    ? SC_FILAMENT
	       : strcmp(kind, "packaging") == 0 ? SC_PACKAGING
	       : strcmp(kind, "accessory") == 0 ? SC_COMPONENT
					       : SC_PART;
}

/* Adds to p the rows of q (SKU id's BOM children or inventory rows: id, quantity per kit,
 * name, ..., on hand in column have, the counter's row in column row_col) for kits, and to
 * shortages those that cannot cover them. With lock, each counter's row is locked through the
 * ledger first and its locked level is what is on hand. counter < 0: the row's kind (column 5)
 * names a material. */
static enum api_err add_parts(struct req *r, const struct db_query *q, const char *id,
			      long long kits, int lock, unsigned have, unsigned row_col,
			      int counter, const char *id_key, const char *name_key,
			      json_t *shortages, struct kit_parts *p, unsigned long *n)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, q, DB_ARGS(DS(r->account_id), DS(id)), &rs);
	*n = err ? 0 : rs.nrows;
	if (!err && rs.nrows) {
		struct kit_part *grown = realloc(p->v, (p->n + rs.nrows) * sizeof *p->v);
		if (!grown) {
			db_res_free(&rs);
			return E_INTERNAL_ERROR;
		}
		p->v = grown;
	}
	for (unsigned long i = 0; i < rs.nrows && !err; i++) {
		struct kit_part *part = &p->v[p->n++];
		const char *per = db_get(&rs, i, 1), *on = db_get(&rs, i, have);
		memset(part, 0, sizeof *part);
		part->counter = counter >= 0 ? (enum stock_counter)counter
			       : material_counter(db_get(&rs, i, 5));
		DB_COPY(part->item_id, &rs, i, row_col);
		double required = (double)kits * (per ? strtod(per, NULL) : 0.0);
		double on_hand = on ? strtod(on, NULL) : 0.0;
		struct stock_level lv;
		if (lock && part->item_id[0]) {
			err = stock_lock(r->db, r->account_id, part->counter, part->item_id, &lv);
			if (err == E_NOT_FOUND) /* gone since the read: nothing on hand */
				err = E_OK, part->item_id[0] = '\0', on_hand = 0.0;
			else if (!err)
				on_hand = strtod(lv.before, NULL);
		}
		/* the amount in the counter's own unit, rounded up to its scale (hundredths of a
		 * gram, whole units): what is on hand is in that scale, so covering the exact
		 * amount covers the rounded one */
		long long milli = kits * (long long)((per ? strtod(per, NULL) : 0.0) * 1000.0 + 0.5);
		part->amount = part->counter == SC_FILAMENT ? (milli + 9) / 10 : (milli + 999) / 1000;
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

void bom_kit_parts_free(struct kit_parts *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

enum api_err bom_kit_check(struct req *r, const char *sku_id, long long kits, int lock,
			   struct kit_parts *parts)
{
	unsigned long children, items;
	json_t *shortages = json_array();
	memset(parts, 0, sizeof *parts);
	if (!shortages)
		return E_INTERNAL_ERROR;
	enum api_err err = add_parts(r, &Q_CHILDREN, sku_id, kits, lock, 5, 6, SC_READY,
				     "child_sku_id", "child_sku", shortages, parts, &children);
	if (!err)
		err = add_parts(r, &Q_INVENTORY, sku_id, kits, lock, 3, 0, -1, "inventory_item_id",
				"item_name", shortages, parts, &items);
	if (!err && children == 0)
		err = req_fail(r, E_NOT_COMPOSITE, "SKU %s has no BOM children", sku_id);
	if (!err && json_array_size(shortages) > 0) {
		r->error_extra = json_pack("{s:O}", "shortages", shortages);
		err = req_fail(r, E_INSUFFICIENT_FOR_KIT, "%lld kit(s) of SKU %s cannot be built"
			       " from the stock on hand", kits, sku_id);
	}
	json_decref(shortages);
	if (err)
		bom_kit_parts_free(parts);
	return err;
}

/* R5's build check for quantity kits from the children's ready stock and the inventory rows'
 * remaining material; no stock moves (R2: the task's completion moves it). Route R_TXN. */
enum api_err bom_assemble(struct req *r)
{
	const char *id = req_param(r, "id");
	struct db_res rs;
	struct kit_parts parts;
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
	if ((err = assembly_check_assignee(r, assignee)) != E_OK ||
	    (err = bom_kit_check(r, id, kits, 0, &parts)) != E_OK)
		return err;
	bom_kit_parts_free(&parts);
	if (!has_fg)
		return req_fail(r, E_SKU_NOT_FOUND, "SKU %s has no active finished-goods row", id);
	if (util_uuid(task) < 0)
		return E_INTERNAL_ERROR;
	err = db_exec(r->db, &Q_KIT_TASK_INSERT,
		      DB_ARGS(DS(task), DS(r->account_id), DS(fg), DS(assignee), DS(product),
			      DS(code), DI(kits), DS(jhelp_str(r->body, "notes"))), NULL);
	return err ? err : res_reply_view(r, &assembly_res, task, RF_DETAIL, 1);
}
