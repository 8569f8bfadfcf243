/* order_fulfil.c - Shipping an order's lines (POST /orders/{id}/fulfill, all of them;
 * POST /orders/{id}/items/{itemId}/fulfill, some units of one) and materialising what its
 * unfulfilled lines still need (POST /orders/{id}/produce: kit-assembly tasks and queued print
 * jobs). Each runs in one transaction with the order's row locked (routes R_TXN), so two
 * requests on one order run one after the other. docs/orders.md. */
#include "orders.h"

#include "composite.h"
#include "openapi.h"
#include "stock.h"
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct db_query Q_ORDER_LOCK = {
	"SELECT o.status, o.order_number FROM orders o WHERE o.account_id = ? AND o.id = ?"
	" FOR UPDATE"
};
/* A line as shipping reads it: id, finished good, units left, status, code, SKU, kit? */
#define LINE_SQL(cond)                                                                      \
	"SELECT i.id, i.finished_good_id, CAST(i.quantity AS SIGNED) - i.quantity_fulfilled,"  \
	" i.fulfillment_status, i.sku, s.id, IF(s.id IS NULL, 0, " SKU_COMPOSITE_SQL ")"     \
	" FROM order_items i LEFT JOIN product_skus s ON s.id = i.product_sku_id"            \
	" AND s.account_id = i.account_id WHERE i.account_id = ? AND i.order_id = ? AND " cond
/* The lines to ship, in the order of their finished goods: concurrent fulfilments of orders
 * sharing SKUs lock the finished goods in one order. */
static const struct db_query Q_LINES_OPEN = {
	LINE_SQL("i.fulfillment_status <> 'cancelled' AND i.quantity > i.quantity_fulfilled")
	" ORDER BY i.finished_good_id, i.id"
};
static const struct db_query Q_LINE = { LINE_SQL("i.id = ?") };
static const struct db_query Q_KIT_BUILDABLE = {
	"SELECT " SKU_ATB_SQL " FROM product_skus s WHERE s.account_id = ? AND s.id = ?"
};
/* R6 for the line: the status first, from the quantity before this change. */
static const struct db_query Q_LINE_SHIP = {
	"UPDATE order_items SET fulfillment_status = IF(quantity_fulfilled + ? >= quantity,"
	" 'fulfilled', IF(quantity_fulfilled + ? > 0, 'partial', 'pending')),"
	" quantity_fulfilled = quantity_fulfilled + ? WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_ORDER_LINES_STATE = {
	"SELECT COUNT(*), COALESCE(SUM(fulfillment_status = 'fulfilled'), 0),"
	" COALESCE(SUM(quantity_fulfilled), 0) FROM order_items"
	" WHERE account_id = ? AND order_id = ? AND fulfillment_status <> 'cancelled'"
};
static const struct db_query Q_ORDER_SHIPPED = {
	"UPDATE orders SET status = ?, shipped_at = IF(? IN ('shipped', 'fulfilled'),"
	" IFNULL(shipped_at, NOW(3)), shipped_at), tracking_number = IFNULL(?, tracking_number),"
	" tracking_url = IFNULL(?, tracking_url), updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ?"
};

static const struct jfield F_FULFILL_ALL[] = {
	{ "tracking_number", JF_STRING, 0, 0, 255, { NULL } },
	{ "tracking_url", JF_STRING, 0, 0, 1000, { NULL } },
	{ "notify_customer", JF_BOOL, 0, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(orders_fulfill, F_FULFILL_ALL);
static const struct jfield F_FULFILL_ONE[] = {
	{ "quantity", JF_INT, JF_REQUIRED, 1, 1000000, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(orders_fulfill_item, F_FULFILL_ONE);

struct order_row {
	char status[16];
	char number[101];
};

struct line {
	char id[UUID_LEN + 1], fg[UUID_LEN + 1], status[16], sku[101], sku_id[UUID_LEN + 1];
	long long left;
	int kit;
};

static void line_read(const struct db_res *rs, unsigned long i, struct line *l)
{
	DB_COPY(l->id, rs, i, 0);
	DB_COPY(l->fg, rs, i, 1);
	l->left = db_get_int(rs, i, 2, 0);
	DB_COPY(l->status, rs, i, 3);
	DB_COPY(l->sku, rs, i, 4);
	DB_COPY(l->sku_id, rs, i, 5);
	l->kit = db_get_int(rs, i, 6, 0) != 0;
}

/* The path's order, locked (ORDER_NOT_FOUND naming it). */
static enum api_err order_lock(struct req *r, struct order_row *o)
{
	struct db_res rs;
	const char *id = req_param(r, "id");
	enum api_err err = req_fetch_one(r, &Q_ORDER_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 E_ORDER_NOT_FOUND);
	if (err == E_ORDER_NOT_FOUND)
		return req_fail(r, err, "Order %s not found", id);
	if (err)
		return err;
	DB_COPY(o->status, &rs, 0, 0);
	DB_COPY(o->number, &rs, 0, 1);
	db_res_free(&rs);
	return E_OK;
}

/* Cancelled and refunded orders ship and produce nothing. */
static enum api_err order_open(struct req *r, const struct order_row *o)
{
	if (strcmp(o->status, "cancelled") == 0 || strcmp(o->status, "refunded") == 0)
		return req_fail(r, E_ORDER_CANNOT_FULFILL, "Order %s is %s", o->number, o->status);
	return E_OK;
}

/* Ships n units of line l of order: its finished good's ready_stock -= n through the ledger
 * (a line without one moves no stock), then the line (R6). A refusal changes nothing and is
 * returned with its reason in why: INSUFFICIENT_STOCK, or for a kit (R5) KIT_NOT_ASSEMBLED
 * when its parts could build the missing kits, else KIT_NOT_PRODUCED. */
static enum api_err ship(struct req *r, const char *order, const struct line *l, long long n,
			 char *why, size_t size)
{
	enum api_err err;
	if (l->fg[0]) {
		struct stock_level lv;
		const struct stock_src src = { "order_fulfilment", l->id, order, r->request_id };
		err = stock_add_int(r->db, r->account_id, SC_READY, l->fg, -n, &src, &lv);
		if (err)
			return err;
		if (lv.refused && !l->kit) {
			snprintf(why, size, "%s needs %lld, ready %lld", l->sku, n, lv.before_i);
			return E_INSUFFICIENT_STOCK;
		}
		if (lv.refused) {
			struct db_res rs;
			err = db_exec(r->db, &Q_KIT_BUILDABLE,
				      DB_ARGS(DS(r->account_id), DS(l->sku_id)), &rs);
			if (err)
				return err;
			long long buildable = db_get_int(&rs, 0, 0, 0);
			db_res_free(&rs);
			snprintf(why, size, "%s needs %lld, ready %lld, buildable %lld", l->sku, n,
				 lv.before_i, buildable);
			return lv.before_i + buildable >= n ? E_KIT_NOT_ASSEMBLED : E_KIT_NOT_PRODUCED;
		}
	}
	return db_exec(r->db, &Q_LINE_SHIP,
		       DB_ARGS(DI(n), DI(n), DI(n), DS(r->account_id), DS(l->id)), NULL);
}

/* R6 for the order after shipping: every open line fulfilled → fulfilled; any unit shipped →
 * shipped; else as it was. shipped_at stamped on entering either; tracking stored when given.
 * The new status into status. */
static enum api_err order_after_shipping(struct req *r, const char *order, char status[16],
					 const char *tracking_number, const char *tracking_url)
{
	struct db_res rs;
	enum api_err err = db_exec(r->db, &Q_ORDER_LINES_STATE,
				   DB_ARGS(DS(r->account_id), DS(order)), &rs);
	if (err)
		return err;
	long long open = db_get_int(&rs, 0, 0, 0), done = db_get_int(&rs, 0, 1, 0);
	long long shipped = db_get_int(&rs, 0, 2, 0);
	db_res_free(&rs);
	if (open == done)
		snprintf(status, 16, "fulfilled");
	else if (shipped > 0)
		snprintf(status, 16, "shipped");
	err = db_exec(r->db, &Q_ORDER_SHIPPED,
		      DB_ARGS(DS(status), DS(status), DS(tracking_number), DS(tracking_url),
			      DS(r->account_id), DS(order)),
		      NULL);
	if (err || open != done)
		return err;
	return webhook_emit(r->db, r->account_id, "order.fulfilled",
			    json_pack("{s:s, s:s}", "order_id", order, "status", status));
}

/* Every open line ships its remaining units. A line that cannot (short of stock, a kit not
 * assembled or not produced) is left as it was and reported in fulfillment_errors ("CODE:
 * reason"); the others ship. When every line fails, nothing changed: 400 with the code they
 * share, else FULFILLMENT_FAILED (fulfillment_errors in the error body). Each line's change is
 * whole or absent; route R_TXN. */
enum api_err orders_fulfill(struct req *r)
{
	const char *id = req_param(r, "id");
	struct order_row o;
	enum api_err err = order_lock(r, &o);
	if (err)
		return err;
	if (r->body && req_check_body(r, F_FULFILL_ALL))
		return E_VALIDATION_ERROR;
	orders_check_contacts(r);
	if (req_invalid(r))
		return E_VALIDATION_ERROR;
	if (strcmp(o.status, "fulfilled") == 0)
		return req_fail(r, E_ORDER_ALREADY_FULFILLED, "Order %s is already fulfilled",
				o.number);
	if ((err = order_open(r, &o)) != E_OK)
		return err;
	struct db_res rs;
	if ((err = db_exec(r->db, &Q_LINES_OPEN, DB_ARGS(DS(r->account_id), DS(id)), &rs)))
		return err;
	if (rs.nrows == 0) {
		db_res_free(&rs);
		return req_fail(r, E_ALL_ITEMS_FULFILLED, "Every line of order %s is fulfilled",
				o.number);
	}
	json_t *errors = json_array();
	enum api_err refusal = E_OK;
	unsigned long shipped = 0;
	for (unsigned long i = 0; !err && i < rs.nrows; i++) {
		struct line l;
		char why[300];
		line_read(&rs, i, &l);
		enum api_err e = ship(r, id, &l, l.left, why, sizeof why);
		if (e == E_OK) {
			shipped++;
			continue;
		}
		if (e != E_INSUFFICIENT_STOCK && e != E_KIT_NOT_ASSEMBLED && e != E_KIT_NOT_PRODUCED) {
			err = e;
			continue;
		}
		json_array_append_new(errors, json_sprintf("%s: %s", err_code(e), why));
		refusal = refusal == E_OK || refusal == e ? e : E_FULFILLMENT_FAILED;
	}
	db_res_free(&rs);
	if (!err && shipped == 0) {
		r->error_extra = json_pack("{s:o}", "fulfillment_errors", errors);
		return req_fail(r, refusal, "No line of order %s can ship", o.number);
	}
	if (!err)
		err = order_after_shipping(r, id, o.status, jhelp_str(r->body, "tracking_number"),
					   jhelp_str(r->body, "tracking_url"));
	json_t *out = NULL;
	if (!err)
		err = res_detail(r, &order_res, id, &out);
	if (err) {
		json_decref(errors);
		return err;
	}
	if (json_array_size(errors))
		json_object_set(out, "fulfillment_errors", errors);
	json_decref(errors);
	return req_ok(r, out);
}

/* quantity units of one line. Answers {item, order_status}. */
enum api_err orders_fulfill_item(struct req *r)
{
	const char *id = req_param(r, "id"), *item = req_param(r, "itemId");
	struct order_row o;
	struct db_res rs;
	struct line l;
	char why[300];
	enum api_err err = order_lock(r, &o);
	if (err)
		return err;
	err = req_fetch_one(r, &Q_LINE, DB_ARGS(DS(r->account_id), DS(id), DS(item)), &rs,
			    E_ORDER_ITEM_NOT_FOUND);
	if (err == E_ORDER_ITEM_NOT_FOUND)
		return req_fail(r, err, "Order %s has no line %s", o.number, item);
	if (err)
		return err;
	line_read(&rs, 0, &l);
	db_res_free(&rs);
	if (!r->body)
		req_problem(r, "quantity", "quantity is required");
	if (req_invalid(r) || req_check_body(r, F_FULFILL_ONE))
		return E_VALIDATION_ERROR;
	long long n = json_integer_value(json_object_get(r->body, "quantity"));
	if ((err = order_open(r, &o)) != E_OK)
		return err;
	if (strcmp(l.status, "cancelled") == 0)
		return req_fail(r, E_ITEM_CANCELLED, "Line %s is cancelled", l.id);
	if (l.left <= 0)
		return req_fail(r, E_ITEM_ALREADY_FULFILLED, "Line %s is already fulfilled", l.id);
	if (n > l.left)
		return req_fail(r, E_EXCESSIVE_FULFILLMENT, "quantity %lld exceeds the %lld unit(s)"
				" line %s has left to ship", n, l.left, l.id);
	err = ship(r, id, &l, n, why, sizeof why);
	if (err == E_INSUFFICIENT_STOCK || err == E_KIT_NOT_ASSEMBLED || err == E_KIT_NOT_PRODUCED)
		return req_fail(r, err, "%s", why);
	if (!err)
		err = order_after_shipping(r, id, o.status, NULL, NULL);
	json_t *row = NULL;
	if (!err)
		err = res_detail(r, &order_item_res, l.id, &row);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:o, s:s}", "item", row, "order_status", o.status));
}

/* ---------------------------------------------------------------------------- produce */

/* The open lines with their SKU, the SKU's finished good and ready stock, kit?, and whether
 * something made for the line is still live (a pending / in-progress task, a job not final). */
static const struct db_query Q_PRODUCE_LINES = {
	"SELECT i.id, i.sku, CAST(i.quantity AS SIGNED) - i.quantity_fulfilled, s.id, fg.id,"
	" COALESCE(fg.ready_stock, 0), IF(s.id IS NULL, 0, " SKU_COMPOSITE_SQL "),"
	" EXISTS(SELECT 1 FROM assembly_tasks t WHERE t.account_id = i.account_id"
	" AND t.order_item_id = i.id AND t.status IN ('pending', 'in_progress'))"
	" OR EXISTS(SELECT 1 FROM print_jobs j WHERE j.account_id = i.account_id"
	" AND j.order_item_id = i.id"
	" AND j.status IN ('queued', 'processing', 'uploaded', 'printing', 'paused')),"
	" p.name, s.sku"
	" FROM order_items i LEFT JOIN product_skus s ON s.id = i.product_sku_id"
	" AND s.account_id = i.account_id LEFT JOIN products p ON p.id = s.product_id"
	" AND p.account_id = s.account_id LEFT JOIN finished_goods fg"
	" ON fg.product_sku_id = s.id AND fg.account_id = s.account_id AND fg.is_active = 1"
	" WHERE i.account_id = ? AND i.order_id = ? AND i.fulfillment_status <> 'cancelled'"
	" AND i.quantity > i.quantity_fulfilled ORDER BY i.created_at, i.position, i.id"
};
/* A kit's parts: child SKU, per kit, code, ready stock. */
static const struct db_query Q_PARTS = {
	"SELECT b.child_sku_id, b.quantity_required, c.sku, COALESCE(cf.ready_stock, 0)"
	" FROM sku_bom_children b JOIN product_skus c ON c.id = b.child_sku_id"
	" AND c.account_id = b.account_id LEFT JOIN finished_goods cf"
	" ON cf.product_sku_id = c.id AND cf.account_id = c.account_id AND cf.is_active = 1"
	" WHERE b.account_id = ? AND b.parent_sku_id = ? ORDER BY c.sku, c.id"
};
/* A kit's bundle extras: item, per kit, what is left. */
static const struct db_query Q_EXTRAS = {
	"SELECT i.inventory_item_id, i.quantity_required, COALESCE(" SKU_ITEM_LEFT_SQL ", 0)"
	" FROM sku_bom_inventory i WHERE i.account_id = ? AND i.sku_id = ?"
	" ORDER BY i.inventory_item_id"
};
static const struct db_query Q_TASK_INSERT = {
	"INSERT INTO assembly_tasks (id, account_id, finished_good_id, product_name, sku,"
	" quantity, status, task_type, order_id, order_item_id, notes)"
	" VALUES (?, ?, ?, ?, ?, ?, 'pending', 'kit_assembly', ?, ?, ?)"
};
/* A queued, unassigned job of the SKU's product's print file (none inserted when the product
 * has no print file): the SKU's colour and filament, the file's units per print. */
static const struct db_query Q_JOB_INSERT = {
	"INSERT INTO print_jobs (id, account_id, print_file_id, product_sku_id, submitted_by,"
	" order_id, order_item_id, file_name, status, color, filament_type, material_type,"
	" number_of_units, quantity_per_print, requires_assembly, filament_needed_grams,"
	" estimated_print_time_minutes, priority, time_submitted, product_id, product_name,"
	" sku_name, created_at, updated_at)"
	" SELECT ?, s.account_id, f.id, s.id, ?, ?, ?, f.name, 'queued', s.color,"
	" IFNULL(s.filament_type, ''), COALESCE(NULLIF(s.filament_type, ''),"
	" NULLIF(f.filament_type, ''), 'PLA'), ?, f.number_of_units, p.requires_assembly,"
	" f.filament_weight_grams, CEIL(f.print_time_seconds / 60), 50, NOW(3), p.id, p.name,"
	" IF(IFNULL(s.filament_type, '') = '', s.color, CONCAT(s.color, ' (', s.filament_type, ')')),"
	" NOW(3), NOW(3)"
	" FROM product_skus s JOIN products p ON p.id = s.product_id AND p.account_id = s.account_id"
	" JOIN print_files f ON f.id = p.print_file_id AND f.account_id = p.account_id"
	" WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_ORDER_PROCESSING = {
	"UPDATE orders SET status = 'processing', updated_at = NOW(3)"
	" WHERE account_id = ? AND id = ? AND status = 'pending'"
};

struct produce {
	struct req *r;
	const char *order, *item;
	json_t *tasks, *jobs, *skipped, *covered, *shortages, *unmatched;
};

static void unmatched(struct produce *p, const char *sku, const char *reason)
{
	json_array_append_new(p->unmatched, json_pack("{s:s, s:s, s:s}", "order_item_id", p->item,
						      "sku", sku, "reason", reason));
}

/* A queued job of units of SKU sku (code) for the line; a product without a print file is
 * unmatched ("no_print_file"). */
static enum api_err job(struct produce *p, const char *sku, const char *code, long long units)
{
	struct req *r = p->r;
	char id[UUID_LEN + 1];
	if (util_uuid(id) < 0)
		return E_INTERNAL_ERROR;
	enum api_err err = db_exec(
		r->db, &Q_JOB_INSERT,
		DB_ARGS(DS(id), DS(r->user_id[0] ? r->user_id : NULL), DS(p->order), DS(p->item),
			DI(units), DS(r->account_id), DS(sku)),
		NULL);
	if (err)
		return err;
	if (db_affected(r->db) == 0)
		unmatched(p, code, "no_print_file");
	else
		json_array_append_new(p->jobs, json_string(id));
	return E_OK;
}

/* The bundle extras (BOM inventory rows) of kit SKU sku that cannot cover kits, as shortages
 * of the line (reported, never blocking: the kit task is made all the same). */
static enum api_err extras(struct produce *p, const char *sku, const char *code, long long kits)
{
	struct db_res rs;
	enum api_err err = db_exec(p->r->db, &Q_EXTRAS,
				   DB_ARGS(DS(p->r->account_id), DS(sku)), &rs);
	for (unsigned long i = 0; !err && i < rs.nrows; i++) {
		double required = (double)kits * strtod(db_get(&rs, i, 1), NULL);
		double on_hand = strtod(db_get(&rs, i, 2), NULL);
		if (on_hand < required)
			json_array_append_new(p->shortages, json_pack(
				"{s:s, s:s, s:s, s:f, s:f, s:f}", "order_item_id", p->item, "sku", code,
				"inventory_item_id", db_get(&rs, i, 0), "required", required,
				"on_hand", on_hand, "short_by", required - on_hand));
	}
	db_res_free(&rs);
	return err;
}

/* A kit line short of kits: one kit_assembly task for them, a job per part for the parts not
 * on hand, and the bundle extras that cannot cover them as shortages (reported, not
 * blocking). */
static enum api_err kit(struct produce *p, const struct db_res *line, unsigned long row,
			long long kits, const char *number)
{
	struct req *r = p->r;
	char id[UUID_LEN + 1], notes[160];
	const char *sku = db_get(line, row, 3);
	if (util_uuid(id) < 0)
		return E_INTERNAL_ERROR;
	snprintf(notes, sizeof notes, "Order %s", number);
	enum api_err err = db_exec(
		r->db, &Q_TASK_INSERT,
		DB_ARGS(DS(id), DS(r->account_id), DS(db_get(line, row, 4)), DS(db_get(line, row, 8)),
			DS(db_get(line, row, 9)), DI(kits), DS(p->order), DS(p->item), DS(notes)),
		NULL);
	if (err)
		return err;
	json_array_append_new(p->tasks, json_string(id));
	struct db_res parts;
	if ((err = db_exec(r->db, &Q_PARTS, DB_ARGS(DS(r->account_id), DS(sku)), &parts)))
		return err;
	for (unsigned long i = 0; !err && i < parts.nrows; i++) {
		long long need = kits * db_get_int(&parts, i, 1, 1) - db_get_int(&parts, i, 3, 0);
		if (need > 0)
			err = job(p, db_get(&parts, i, 0), db_get(&parts, i, 2), need);
	}
	db_res_free(&parts);
	return err ? err : extras(p, sku, db_get(line, row, 9), kits);
}

/* One open line: skipped when something made for it is live, covered when its finished good
 * holds the units, else what the shortfall needs. */
static enum api_err produce_line(struct produce *p, const struct db_res *rs, unsigned long i,
				 const char *number)
{
	long long left = db_get_int(rs, i, 2, 0), ready = db_get_int(rs, i, 5, 0);
	p->item = db_get(rs, i, 0);
	if (db_get_int(rs, i, 7, 0)) {
		json_array_append_new(p->skipped, json_string(p->item));
		return E_OK;
	}
	if (!db_get(rs, i, 3) || !db_get(rs, i, 4)) {
		unmatched(p, db_get(rs, i, 1), db_get(rs, i, 3) ? "no_finished_good" : "no_sku");
		return E_OK;
	}
	if (ready >= left) {
		json_array_append_new(p->covered, json_string(p->item));
		return E_OK;
	}
	if (db_get_int(rs, i, 6, 0))
		return kit(p, rs, i, left - ready, number);
	return job(p, db_get(rs, i, 3), db_get(rs, i, 9), left - ready);
}

/* Tasks and queued jobs for the shortfall of every open line, none twice (a line with live
 * work is skipped); per-line problems are reported, never abort. pending → processing when
 * anything was made. No stock moves. Route R_TXN. */
enum api_err orders_produce(struct req *r)
{
	const char *id = req_param(r, "id");
	struct order_row o;
	struct db_res rs;
	enum api_err err = order_lock(r, &o);
	if (!err)
		err = order_open(r, &o);
	if (err || (err = db_exec(r->db, &Q_PRODUCE_LINES, DB_ARGS(DS(r->account_id), DS(id)),
				  &rs)) != E_OK)
		return err;
	struct produce p = { r, id, NULL, json_array(), json_array(), json_array(), json_array(),
			     json_array(), json_array() };
	for (unsigned long i = 0; !err && i < rs.nrows; i++)
		err = produce_line(&p, &rs, i, o.number);
	db_res_free(&rs);
	if (!err && json_array_size(p.tasks) + json_array_size(p.jobs) > 0)
		err = db_exec(r->db, &Q_ORDER_PROCESSING, DB_ARGS(DS(r->account_id), DS(id)), NULL);
	json_t *out = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "order_id", id,
				"assembly_tasks_created", p.tasks, "print_jobs_created", p.jobs,
				"skipped_items", p.skipped, "covered_items", p.covered,
				"shortages", p.shortages, "unmatched_items", p.unmatched);
	if (err) {
		json_decref(out);
		return err;
	}
	return req_ok(r, out);
}
