/* inventory.c - Finished goods: list (filters, paging on request), low-stock alerts, counts by
 * status, get by id or by SKU id (composite-aware), the rare manual create, metadata update,
 * threshold, and the stock adjustment. Every change of ready_stock goes through the stock
 * ledger (common/stock.h). The fields are fcgi/inventory.def; docs/inventory.md has the
 * choices the spec leaves open. */
#include "resources.h"

#include "composite.h"
#include "openapi.h"
#include "stock.h"

#include <stdio.h>
#include <string.h>

static const char *const assembly_states[] = { "printed", "needs_assembly", "assembled", NULL };
static const char *const fg_states[] = { "in_stock", "low_stock", "out_of_stock",
					 "needs_assembly", NULL };

/* parts_on_hand (R5): one entry per BOM child, by child SKU code; NULL (no children) when the
 * SKU is not composite. */
#define INVENTORY_PARTS_SQL                                                                 \
	"(SELECT JSON_ARRAYAGG(JSON_OBJECT('part_sku_id', b.child_sku_id, 'part_name', cp.name," \
	" 'color', cs.color, 'on_hand', COALESCE(cf.ready_stock, 0), 'quantity_per_kit',"     \
	" b.quantity_required, 'enough_for_one_kit', JSON_EXTRACT(IF(COALESCE(cf.ready_stock,"  \
	" 0) >= b.quantity_required, 'true', 'false'), '$')) ORDER BY cs.sku, cs.id)"        \
	" FROM sku_bom_children b JOIN product_skus cs ON cs.id = b.child_sku_id"             \
	" AND cs.account_id = b.account_id JOIN products cp ON cp.id = cs.product_id"         \
	" AND cp.account_id = cs.account_id LEFT JOIN finished_goods cf"                      \
	" ON cf.product_sku_id = cs.id AND cf.account_id = cs.account_id AND cf.is_active = 1" \
	" WHERE b.parent_sku_id = s.id AND b.account_id = s.account_id)"

static const struct rfield inventory_fields[] = {
#define FIELD RES_FIELD
#include "inventory.def"
#undef FIELD
	RES_FIELD_END
};

/* sku and material match exactly, case included. low_stock=false keeps rows without a
 * threshold (the condition is false for them, never NULL). */
static const struct rfilter inventory_filters[] = {
	RES_FILTER("low_stock", BOOL, "(fg.low_stock_threshold IS NOT NULL"
		   " AND fg.ready_stock <= fg.low_stock_threshold) = ?", EXACT),
	RES_FILTER("sku", STR(1, 100), "fg.sku COLLATE utf8mb4_bin = ?", EXACT),
	RES_FILTER("material", STR(1, 50), "fg.material COLLATE utf8mb4_bin = ?", EXACT),
	RES_FILTER("status", ENUM(fg_states), "fg.status = ?", EXACT),
	RES_FILTER_END
};

static const struct runique inventory_uniques[] = {
	{ "uq_finished_goods_sku", E_DUPLICATE_INVENTORY, "product_sku_id" },
	{ NULL, E_OK, NULL }
};

#define INVENTORY_FROM                                                                     \
	"finished_goods fg JOIN product_skus s ON s.id = fg.product_sku_id"                  \
	" AND s.account_id = fg.account_id JOIN products p ON p.id = s.product_id"           \
	" AND p.account_id = s.account_id"

const struct resource inventory_res = {
	.noun = "finished good", .table = "finished_goods", .from = INVENTORY_FROM, .alias = "fg",
	.not_found = E_INVENTORY_NOT_FOUND, .fields = inventory_fields,
	.filters = inventory_filters, .order = "fg.sku, fg.created_at, fg.id",
	.paging = RP_ON_REQUEST, .uniques = inventory_uniques, .touch = "updated_at = NOW(3)",
};

/* The same rows keyed by their SKU (alias s): GET /inventory/by-sku/{skuId}. */
const struct resource inventory_by_sku_res = {
	.noun = "finished good", .table = "finished_goods", .from = INVENTORY_FROM, .alias = "s",
	.not_found = E_INVENTORY_NOT_FOUND, .fields = inventory_fields,
	.order = "fg.sku, fg.created_at, fg.id", .paging = RP_NONE,
};

/* Active rows at or below a set threshold, largest deficit first; kits whose buildable parts
 * keep them in stock (effective_status, R5) are not alerts. */
const struct resource inventory_alert_res = {
	.noun = "finished good", .table = "finished_goods", .from = INVENTORY_FROM, .alias = "fg",
	.not_found = E_INVENTORY_NOT_FOUND, .fields = inventory_fields, .list = RF_BRIEF,
	.where = "fg.is_active = 1 AND fg.low_stock_threshold IS NOT NULL"
		 " AND fg.ready_stock <= fg.low_stock_threshold AND " SKU_EFFECTIVE_SQL
		 " <> 'in_stock'",
	.order = "fg.low_stock_threshold - fg.ready_stock DESC, fg.sku, fg.id",
	.paging = RP_NONE,
};

/* Counts by stored status of the active rows, with the totals (no pricing aggregate). */
static const struct rcounts inventory_counts = {
	.group = "fg.status", .values = fg_states, .by = NULL,
	.members = { { "total_items", NULL, RC_ALL }, { "total_stock", "fg.ready_stock", 0 },
		     { "total_needs_assembly", "fg.quantity_needs_assembly", 0 },
		     { "total_assembled", "fg.quantity_assembled", 0 } },
};
const struct resource inventory_stats_res = {
	.noun = "finished good", .table = "finished_goods", .from = "finished_goods fg",
	.alias = "fg", .not_found = E_INVENTORY_NOT_FOUND, .fields = inventory_fields,
	.where = "fg.is_active = 1", .order = "fg.sku, fg.id", .paging = RP_NONE,
	.counts = &inventory_counts,
};

/* What a new row copies from its SKU: material is the filament type, PLA when none. */
static const struct db_query Q_SKU = {
	"SELECT s.sku, s.color, COALESCE(NULLIF(s.filament_type, ''), 'PLA'), s.quantity,"
	" p.requires_assembly FROM product_skus s JOIN products p ON p.id = s.product_id"
	" AND p.account_id = s.account_id WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_THRESHOLD = {
	"UPDATE finished_goods SET low_stock_threshold = ?, updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_STATE = {
	"SELECT status, low_stock_threshold FROM finished_goods WHERE account_id = ? AND id = ?"
	" FOR UPDATE"
};

static const struct jfield F_THRESHOLD[] = {
	{ "low_stock_threshold", JF_INT, JF_REQUIRED, 0, 1000000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(inventory_threshold, F_THRESHOLD);
static const char *const adjust_reasons[] = { "manual", "inventory_count", "correction",
					      "damaged", "returned", NULL };
/* Written by the server's own stock movements; refused from clients. */
static const char *const server_reasons[] = { "print_completion", "order_fulfillment",
					      "assembly_completed", NULL };
static const struct jfield F_ADJUST[] = {
	{ "adjustment", JF_INT, JF_REQUIRED, -1000000000, 1000000000, { NULL } },
	{ "reason", JF_ENUM, JF_NULLABLE, 0, 0, { .values = adjust_reasons } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 500, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(inventory_adjust, F_ADJUST);

/* image_url, when a string: an absolute http(s) URL without spaces (recorded otherwise). */
static void check_image_url(struct req *r)
{
	const char *u = jhelp_str(r->body, "image_url");
	if (u && ((strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0) ||
		  strlen(u) <= 8 || strpbrk(u, " \t\r\n\"<>")))
		req_problem(r, "image_url", "image_url must be an absolute http(s) URL or null");
}

/* A finished-goods row for a SKU that has none (route R_TXN): copied from the SKU, its
 * ready_stock recorded in the ledger (reason created) and its status set by R3. */
enum api_err inventory_create(struct req *r)
{
	struct sqlb b;
	struct db_res rs;
	char id[UUID_LEN + 1];
	int bad = res_check_body(r, &inventory_res, RF_CREATE);
	check_image_url(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	const char *sku = jhelp_str(r->body, "product_sku_id");
	enum api_err err = req_fetch_one(r, &Q_SKU, DB_ARGS(DS(r->account_id), DS(sku)), &rs,
					 E_SKU_NOT_FOUND);
	if (err == E_SKU_NOT_FOUND)
		return req_fail(r, err, "SKU %s not found", sku);
	if (err)
		return err;
	if ((err = res_insert_begin(&b, r, &inventory_res, id)) == E_OK) {
		res_set(&b, "product_sku_id = ?", DS(sku));
		res_set(&b, "sku = ?", DS(db_get(&rs, 0, 0)));
		res_set(&b, "color = ?", DS(db_get(&rs, 0, 1)));
		res_set(&b, "material = ?", DS(db_get(&rs, 0, 2)));
		res_set(&b, "quantity_per_sku = ?", DI(db_get_int(&rs, 0, 3, 1)));
		res_set(&b, "requires_assembly = ?", DI(db_get_int(&rs, 0, 4, 0)));
		err = res_insert_run(r, &inventory_res, &b);
	} else {
		sqlb_release(&b);
	}
	db_res_free(&rs);
	const struct stock_src src = { "created", NULL, NULL, r->request_id };
	if (err || (err = stock_record(r->db, r->account_id, SC_READY, id, &src, NULL)) != E_OK)
		return err;
	return res_reply_view(r, &inventory_res, id, RF_LIST, 1);
}

/* image_url, assembly_status, is_active; no counter moves. */
enum api_err inventory_update(struct req *r)
{
	struct sqlb b;
	int bad = res_check_body(r, &inventory_res, RF_PATCH);
	check_image_url(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	enum api_err err = res_need_updates(r, &inventory_res);
	if (err)
		return err;
	res_update_begin(&b, r, &inventory_res);
	if ((err = res_update_run(r, &inventory_res, &b)) != E_OK)
		return err;
	return res_reply_view(r, &inventory_res, req_param(r, "id"), RF_LIST, 0);
}

/* low_stock_threshold set, status recomputed by R3 (route R_TXN). */
enum api_err inventory_threshold(struct req *r)
{
	const char *id = req_param(r, "id");
	if (req_check_body(r, F_THRESHOLD))
		return E_VALIDATION_ERROR;
	long long t = json_integer_value(json_object_get(r->body, "low_stock_threshold"));
	enum api_err err = stock_lock(r->db, r->account_id, SC_READY, id, NULL);
	if (err == E_NOT_FOUND)
		return E_INVENTORY_NOT_FOUND;
	if (err || (err = db_exec(r->db, &Q_THRESHOLD, DB_ARGS(DI(t), DS(r->account_id), DS(id)),
				  NULL)) != E_OK ||
	    (err = stock_restatus(r->db, r->account_id, SC_READY, id)) != E_OK)
		return err;
	return res_reply_view(r, &inventory_res, id, RF_LIST, 0);
}

/* The row's status (out, size 32) and whether ready is at or below its threshold; locked. */
static enum api_err fg_state(struct req *r, const char *id, long long ready, char *status,
			     int *low)
{
	struct db_res rs;
	enum api_err err = req_fetch_one(r, &Q_STATE, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 E_INVENTORY_NOT_FOUND);
	if (err)
		return err;
	snprintf(status, 32, "%s", db_get(&rs, 0, 0) ? db_get(&rs, 0, 0) : "");
	*low = db_get(&rs, 0, 1) != NULL && ready <= db_get_int(&rs, 0, 1, 0);
	db_res_free(&rs);
	return E_OK;
}

/* ready_stock += adjustment through the ledger (reason adjust; the note is the client's reason
 * and notes), never below 0 (route R_TXN). */
enum api_err inventory_adjust(struct req *r)
{
	struct stock_level lv;
	char before[32], after[32], note[600];
	int low;
	const char *id = req_param(r, "id");
	const char *why = jhelp_str(r->body, "reason"), *notes = jhelp_str(r->body, "notes");
	int bad = req_check_body(r, F_ADJUST);
	if (why && jhelp_enum_index(server_reasons, why) >= 0)
		req_problem(r, "reason", "reason %s is reserved for the server's own movements", why);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	long long adj = json_integer_value(json_object_get(r->body, "adjustment"));
	if (!why)
		why = "manual";
	snprintf(note, sizeof note, "%s%s%s", why, notes && notes[0] ? ": " : "",
		 notes ? notes : "");
	const struct stock_src src = { "adjust", note, NULL, r->request_id };
	enum api_err err = fg_state(r, id, 0, before, &low);
	if (err)
		return err;
	if ((err = stock_add_int(r->db, r->account_id, SC_READY, id, adj, &src, &lv)) != E_OK)
		return err;
	if (lv.refused)
		return req_fail(r, E_INVALID_STOCK_ADJUSTMENT, "adjustment %lld would take"
				" ready_stock from %lld to %lld; it must stay within 0..2147483647",
				adj, lv.before_i, lv.before_i + adj);
	if ((adj == 0 && (err = stock_restatus(r->db, r->account_id, SC_READY, id)) != E_OK) ||
	    (err = fg_state(r, id, lv.after_i, after, &low)) != E_OK)
		return err;
	return req_ok(r, json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:s}", "id", id,
				   "previous_stock", (json_int_t)lv.before_i, "adjustment",
				   (json_int_t)adj, "new_stock", (json_int_t)lv.after_i,
				   "previous_status", before, "new_status", after,
				   "is_low_stock", low, "reason", why));
}
