/* materials.c - Materials: filament, packaging, components (table accessories_inventory) and
 * printer parts. One description serves the four kinds: the shared rows of fcgi/materials.def
 * with each kind's own (fcgi/material_filament.def, fcgi/material_units.def), one record per
 * kind, and one set of handlers that find their kind by the route's path. Lists and gets are the
 * generic handlers; create and update are handlers because the remaining amount is a stock
 * counter (common/stock.h: its movement and the R4 status); components also have the batch
 * availability check and consume. Choices: docs/materials.md. */
#include "resources.h"

#include "openapi.h"
#include "stock.h"
#include "util.h"

#include <limits.h>
#include <string.h>

#define FIELD RES_FIELD
static const struct rfield filament_fields[] = {
#define MATERIAL_ROWS "material_filament.def"
#include "materials.def"
#undef MATERIAL_ROWS
	RES_FIELD_END
};

#define MATERIAL_ROWS "material_units.def"
#define MATERIAL_SIZE
static const struct rfield packaging_fields[] = {
#include "materials.def"
	RES_FIELD_END
};
#define MATERIAL_DIAMETER
static const struct rfield component_fields[] = {
#include "materials.def"
	RES_FIELD_END
};
#undef MATERIAL_DIAMETER
#undef MATERIAL_SIZE
#define MATERIAL_MODELS
static const struct rfield part_fields[] = {
#include "materials.def"
	RES_FIELD_END
};
#undef MATERIAL_MODELS
#undef MATERIAL_ROWS
#undef FIELD

/* low_stock=true: at or below a set threshold (whatever R4 says of a threshold of 0);
 * false: everything else, rows without a threshold included. */
#define LOW_STOCK(col) \
	RES_FILTER("low_stock", BOOL, \
		   "(m.low_threshold IS NOT NULL AND m." col " <= m.low_threshold) = ?", EXACT)

static const struct rfilter filament_filters[] = {
	LOW_STOCK("remaining_grams"),
	/* exact and case-sensitive */
	RES_FILTER("material_type", STR(1, 100), "m.type = BINARY ?", EXACT),
	RES_FILTER("color", STR(1, 50), "m.color = BINARY ?", EXACT),
	RES_FILTER_END
};
static const struct rfilter unit_filters[] = {
	LOW_STOCK("remaining_units"),
	RES_FILTER_END
};

/* Newest first; not paginated. */
#define MATERIAL_RES(nou, tab, flds, fltr)                                                 \
	{ .noun = nou, .table = tab, .from = tab " m", .alias = "m",                     \
	  .not_found = E_MATERIAL_NOT_FOUND, .fields = flds, .filters = fltr,              \
	  .order = "m.created_at DESC, m.id DESC", .paging = RP_ALWAYS,                     \
	  .touch = "updated_at = NOW(3)" }

const struct resource filament_res =
	MATERIAL_RES("filament", "filament_inventory", filament_fields, filament_filters);
const struct resource packaging_res =
	MATERIAL_RES("packaging", "packaging_inventory", packaging_fields, unit_filters);
const struct resource material_component_res =
	MATERIAL_RES("component", "accessories_inventory", component_fields, unit_filters);
const struct resource part_res =
	MATERIAL_RES("part", "printer_parts_inventory", part_fields, unit_filters);

/* A kind: its path segment below /materials, record, stock counter and counted column. */
struct material_kind {
	const char *segment;
	const struct resource *res;
	enum stock_counter counter;
	const char *remaining;
	int threshold_null; /* 1: an omitted low_threshold is null (else the table's default) */
};

static const struct material_kind KINDS[] = {
	{ "filament", &filament_res, SC_FILAMENT, "remaining_grams", 0 },
	{ "packaging", &packaging_res, SC_PACKAGING, "remaining_units", 1 },
	{ "components", &material_component_res, SC_COMPONENT, "remaining_units", 1 },
	{ "parts", &part_res, SC_PART, "remaining_units", 1 },
};

/* The kind of the route: the segment after /materials/ in its path; NULL for none. */
static const struct material_kind *kind_of(const struct req *r)
{
	static const char prefix[] = "/materials/";
	const char *path = r->route->path;
	if (strncmp(path, prefix, sizeof prefix - 1) != 0)
		return NULL;
	const char *seg = path + sizeof prefix - 1;
	size_t n = strcspn(seg, "/");
	for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
		if (strlen(KINDS[i].segment) == n && strncmp(seg, KINDS[i].segment, n) == 0)
			return &KINDS[i];
	return NULL;
}

/* The body against the kind's rows for op; status (computed, R4) is refused like the cost
 * columns. 1 when there were problems. */
static int check_body(struct req *r, const struct material_kind *k, unsigned op)
{
	int bad = res_check_body(r, k->res, op);
	if (json_is_object(r->body) && json_object_get(r->body, "status")) {
		req_problem(r, "status", "status is computed from %s and low_threshold; it is never"
			    " accepted", k->remaining);
		bad = 1;
	}
	return bad;
}

static enum api_err not_found(struct req *r, const struct material_kind *k, const char *id)
{
	return req_fail(r, E_MATERIAL_NOT_FOUND, "No %s with id %s", k->res->noun, id);
}

/* POST /materials/{kind}: the row, then its opening movement and status (route R_TXN). */
enum api_err materials_create(struct req *r)
{
	const struct material_kind *k = kind_of(r);
	struct sqlb b;
	char id[UUID_LEN + 1];
	enum api_err err;
	if (!k)
		return E_INTERNAL_ERROR;
	if (check_body(r, k, RF_CREATE))
		return E_VALIDATION_ERROR;
	if (k->threshold_null && !json_object_get(r->body, "low_threshold"))
		json_object_set_new(r->body, "low_threshold", json_null());
	if ((err = res_insert_begin(&b, r, k->res, id)) != E_OK) {
		sqlb_release(&b);
		return err;
	}
	const struct stock_src src = { "created", NULL, NULL, r->request_id };
	if ((err = res_insert_run(r, k->res, &b)) != E_OK ||
	    (err = stock_record(r->db, r->account_id, k->counter, id, &src, NULL)) != E_OK)
		return err;
	return res_reply(r, k->res, id, 1);
}

/* PATCH /materials/{kind}/{id}: the fields present; a remaining amount set directly is
 * recorded as a movement, a threshold change recomputes the status (route R_TXN). */
enum api_err materials_update(struct req *r)
{
	const struct material_kind *k = kind_of(r);
	const char *id = req_param(r, "id");
	struct sqlb b;
	enum api_err err;
	if (!k)
		return E_INTERNAL_ERROR;
	if (check_body(r, k, RF_PATCH))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, k->res)) != E_OK)
		return err;
	err = stock_lock(r->db, r->account_id, k->counter, id, NULL);
	if (err == E_NOT_FOUND)
		return not_found(r, k, id);
	if (err)
		return err;
	res_update_begin(&b, r, k->res);
	if ((err = res_update_run(r, k->res, &b)) != E_OK)
		return err;
	const struct stock_src src = { "updated", NULL, NULL, r->request_id };
	if (json_object_get(r->body, k->remaining))
		err = stock_record(r->db, r->account_id, k->counter, id, &src, NULL);
	else if (json_object_get(r->body, "low_threshold"))
		err = stock_restatus(r->db, r->account_id, k->counter, id);
	return err ? err : res_reply(r, k->res, id, 0);
}

/* ------------------------------------------------------------------ components only */

static const char *const CONSUME_REASONS[] = { "manual_adjustment", "damaged", "other", NULL };
static const struct jfield F_CONSUME[] = {
	{ "quantity", JF_INT, JF_REQUIRED, 1, INT_MAX, { NULL } },
	{ "reason", JF_ENUM, 0, 0, 0, { .values = CONSUME_REASONS } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 500, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(materials_consume, F_CONSUME);

static const struct db_query Q_USAGE = {
	"INSERT INTO material_usage_history (id, account_id, material_type, material_id,"
	" usage_amount, reason, notes) VALUES (?, ?, 'accessory', ?, ?, ?, ?)"
};

/* POST /materials/components/{id}/consume: remaining_units -= quantity through the ledger,
 * refused below 0; one usage row (route R_TXN). */
enum api_err materials_consume(struct req *r)
{
	const struct material_kind *k = kind_of(r);
	const char *id = req_param(r, "id");
	struct stock_level lv;
	char usage[UUID_LEN + 1];
	json_t *component = NULL;
	if (!k)
		return E_INTERNAL_ERROR;
	if (req_check_body(r, F_CONSUME))
		return E_VALIDATION_ERROR;
	long long qty = json_integer_value(json_object_get(r->body, "quantity"));
	const char *reason = jhelp_str(r->body, "reason");
	const char *notes = jhelp_str(r->body, "notes");
	const struct stock_src src = { "consume", notes, NULL, r->request_id };
	enum api_err err = stock_add_int(r->db, r->account_id, k->counter, id, -qty, &src, &lv);
	if (err == E_NOT_FOUND)
		return not_found(r, k, id);
	if (err)
		return err;
	if (lv.refused)
		return req_fail(r, E_INSUFFICIENT_QUANTITY, "Cannot consume %lld: the component has"
				" %lld remaining_units", qty, lv.before_i);
	if (util_uuid(usage) < 0)
		return E_INTERNAL_ERROR;
	if ((err = db_exec(r->db, &Q_USAGE,
			   DB_ARGS(DS(usage), DS(r->account_id), DS(id), DI(qty),
				   DS(reason ? reason : "manual_adjustment"), DS(notes)),
			   NULL)) != E_OK ||
	    (err = res_detail(r, k->res, id, &component)) != E_OK)
		return err;
	return req_ok(r, json_pack("{s:o, s:{s:I, s:s?, s:I, s:I}}", "component", component,
				   "consumed", "quantity", (json_int_t)qty, "notes", notes,
				   "previous_quantity", (json_int_t)lv.before_i, "new_quantity",
				   (json_int_t)lv.after_i));
}

#define CHECK_ENTRIES_MAX 100

static const struct jfield CHECK_ENTRY[] = {
	{ "component_type", JF_STRING, JF_REQUIRED, 1, 100, { NULL } },
	{ "quantity_needed", JF_INT, JF_REQUIRED, 1, INT_MAX, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield CHECK_ITEM[] = {
	{ "components", JF_OBJECT, 0, 0, 0, { .sub = CHECK_ENTRY } }
};
static const struct jfield F_CHECK[] = {
	{ "components", JF_ARRAY, JF_REQUIRED, 1, CHECK_ENTRIES_MAX, { .sub = CHECK_ITEM } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(materials_check_availability, F_CHECK);

/* The account's components of one type (the column's case-insensitive collation): the oldest
 * one's id and the sum of their remaining_units. */
static const struct db_query Q_AVAILABLE = {
	"SELECT (SELECT a.id FROM accessories_inventory a WHERE a.account_id = ? AND a.type = ?"
	" ORDER BY a.created_at, a.id LIMIT 1), CAST(COALESCE(SUM(m.remaining_units), 0) AS SIGNED)"
	" FROM accessories_inventory m WHERE m.account_id = ? AND m.type = ?"
};

/* POST /materials/components/check-availability: a pure read, entries in the order sent. */
enum api_err materials_check_availability(struct req *r)
{
	if (req_check_body(r, F_CHECK))
		return E_VALIDATION_ERROR;
	const json_t *in = json_object_get(r->body, "components");
	json_t *out = json_array();
	int any = 0;
	for (size_t i = 0; i < json_array_size(in); i++) {
		const json_t *e = json_array_get(in, i);
		const char *type = jhelp_str(e, "component_type");
		long long need = json_integer_value(json_object_get(e, "quantity_needed"));
		struct db_res rs;
		enum api_err err = db_exec(r->db, &Q_AVAILABLE,
					   DB_ARGS(DS(r->account_id), DS(type), DS(r->account_id),
						   DS(type)), &rs);
		if (err) {
			json_decref(out);
			return err;
		}
		long long have = db_get_int(&rs, 0, 1, 0);
		const char *first = db_get(&rs, 0, 0);
		long long short_by = need > have ? need - have : 0;
		any |= short_by > 0;
		json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:b, s:I, s:s?}",
						     "component_type", type, "quantity_needed",
						     (json_int_t)need, "quantity_available",
						     (json_int_t)have, "has_shortage", short_by > 0,
						     "shortage_amount", (json_int_t)short_by,
						     "component_id", first));
		db_res_free(&rs);
	}
	return req_ok(r, json_pack("{s:b, s:o}", "has_shortage", any, "components", out));
}
