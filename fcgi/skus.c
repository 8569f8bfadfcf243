/* skus.c - SKUs: list (finished_goods_stock; SKUs of internal kit parts hidden), low-stock
 * list, get (available_to_build, effective_status), create (POST /skus and the nested
 * POST /products/{id}/skus: the SKU and its finished-goods row in one transaction), update
 * (mirrored onto the finished-goods row), adjust of the component-level stock_level. The
 * fields are fcgi/skus.def; docs/catalog.md, "SKUs", has the choices the spec leaves open. */
#include "resources.h"

#include "composite.h"
#include "openapi.h"
#include "stock.h"
#include "util.h"

#include <limits.h>
#include <string.h>

/* Of the SKU's active finished-goods row; 0 when none. */
#define SKU_FG_STOCK_SQL \
	"COALESCE(fg.ready_stock + fg.quantity_assembled + fg.quantity_needs_assembly, 0)"

static const struct rfield sku_fields[] = {
#define FIELD RES_FIELD
#include "skus.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rfilter sku_filters[] = {
	RES_FILTER("product_id", STR(1, 36), "s.product_id = ?", EXACT),
	RES_FILTER("color", STR(1, 100), "s.color = ?", EXACT),
	RES_FILTER("filament_type", STR(1, 50), "s.filament_type = ?", EXACT),
	RES_FILTER("low_stock", BOOL, "(s.stock_level <= s.low_stock_threshold) = ?", EXACT),
	RES_FILTER("is_active", BOOL, "s.is_active = ?", EXACT),
	RES_FILTER_END
};

static const struct runique sku_uniques[] = {
	{ "uq_product_skus_account_sku", E_DUPLICATE_SKU, "sku" },
	{ NULL, E_OK, NULL }
};

#define SKU_FROM                                                                          \
	"product_skus s JOIN products p ON p.id = s.product_id AND p.account_id = s.account_id" \
	" LEFT JOIN finished_goods fg ON fg.product_sku_id = s.id"                           \
	" AND fg.account_id = s.account_id AND fg.is_active = 1"
#define SKU_VISIBLE "p.product_type <> 'kit_part'"

const struct resource sku_res = {
	.noun = "SKU", .table = "product_skus", .from = SKU_FROM, .alias = "s",
	.not_found = E_SKU_NOT_FOUND, .fields = sku_fields, .filters = sku_filters,
	.where = SKU_VISIBLE, .order = "s.sku, s.id", .paging = RP_NONE, .uniques = sku_uniques,
	.touch = "updated_at = NOW(3)",
};

/* Active SKUs at or below their threshold, lowest stock first; no query parameters. */
const struct resource sku_low_res = {
	.noun = "SKU", .table = "product_skus", .from = SKU_FROM, .alias = "s",
	.not_found = E_SKU_NOT_FOUND, .fields = sku_fields,
	.where = SKU_VISIBLE " AND s.is_active = 1 AND s.stock_level <= s.low_stock_threshold",
	.order = "s.stock_level, s.sku, s.id", .paging = RP_NONE,
};

static const struct db_query Q_PRODUCT_TYPE = {
	"SELECT product_type FROM products WHERE account_id = ? AND id = ?"
};
/* The paired finished good: nothing ready, nothing awaiting assembly, so out_of_stock (R3). */
static const struct db_query Q_FG_INSERT = {
	"INSERT INTO finished_goods (id, account_id, product_sku_id, sku, color, material,"
	" ready_stock, low_stock_threshold, quantity_per_sku, requires_assembly, status)"
	" SELECT ?, s.account_id, s.id, s.sku, s.color, IFNULL(s.filament_type, ''), 0,"
	" s.low_stock_threshold, s.quantity, p.requires_assembly, 'out_of_stock'"
	" FROM product_skus s JOIN products p ON p.id = s.product_id"
	" AND p.account_id = s.account_id"
	" WHERE s.account_id = ? AND s.id = ?"
};
static const struct db_query Q_SKU_LOCK = {
	"SELECT stock_level, low_stock_threshold FROM product_skus"
	" WHERE account_id = ? AND id = ? FOR UPDATE"
};

static const struct jfield F_ADJUST[] = {
	{ "adjustment", JF_INT, JF_REQUIRED, -1000000000, 1000000000, { NULL } },
	{ "reason", JF_STRING, JF_NULLABLE, 0, 500, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(skus_adjust, F_ADJUST);

/* What an update of the SKU also sets on its finished good. */
static const char *const MIRRORED[] = { "sku", "color", "low_stock_threshold", "is_active" };

int skus_hex_ok(const char *h)
{
	if (!h || !h[0])
		return 1;
	int ok = strlen(h) == 7 && h[0] == '#';
	for (int i = 1; ok && i < 7; i++)
		ok = strchr("0123456789abcdefABCDEF", h[i]) != NULL;
	return ok;
}

/* hex_code: "#RRGGBB", or "" / null for none (recorded as a problem otherwise). The value
 * to store (NULL for none). */
static const char *hex_code(struct req *r)
{
	const char *h = jhelp_str(r->body, "hex_code");
	if (!h || !h[0])
		return NULL;
	if (!skus_hex_ok(h))
		req_problem(r, "hex_code", "hex_code must be #RRGGBB (or empty)");
	return h;
}

enum api_err skus_finished_good(struct req *r, const char *sku_id)
{
	char fg[UUID_LEN + 1];
	const struct stock_src src = { "created", NULL, NULL, r->request_id };
	enum api_err err;
	if (util_uuid(fg) < 0)
		return E_INTERNAL_ERROR;
	if ((err = db_exec(r->db, &Q_FG_INSERT, DB_ARGS(DS(fg), DS(r->account_id), DS(sku_id)),
			   NULL)) != E_OK)
		return err;
	/* the SKU's own component stock, when it was created with some */
	return stock_record(r->db, r->account_id, SC_SKU_LEVEL, sku_id, &src, NULL);
}

/* product must be a standard product of the account. */
static enum api_err check_product(struct req *r, const char *product)
{
	struct db_res rs;
	enum api_err err = req_fetch_one(r, &Q_PRODUCT_TYPE,
					 DB_ARGS(DS(r->account_id), DS(product)), &rs,
					 E_PRODUCT_NOT_FOUND);
	if (err == E_PRODUCT_NOT_FOUND)
		return req_fail(r, err, "Product %s not found", product);
	if (err)
		return err;
	int standard = strcmp(db_get(&rs, 0, 0), "standard") == 0;
	db_res_free(&rs);
	if (!standard)
		return req_fail(r, E_KIT_PRODUCT, "Product %s is a kit or a kit part: its SKUs are"
				" edited through PUT /products/{id}/kit", product);
	return E_OK;
}

/* The SKU and its finished-goods row (route R_TXN: both or neither). path_product: the
 * nested route's product, which wins over a product_id in the body. */
static enum api_err sku_create(struct req *r, const char *path_product)
{
	struct sqlb b;
	char id[UUID_LEN + 1];
	enum api_err err;
	if (path_product) {
		if ((err = check_product(r, path_product)) != E_OK)
			return err;
		if (json_is_object(r->body))
			json_object_set_new(r->body, "product_id", json_string(path_product));
	}
	int bad = res_check_body(r, &sku_res, RF_CREATE);
	const char *hex = hex_code(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	const char *product = jhelp_str(r->body, "product_id");
	if (!path_product && (err = check_product(r, product)) != E_OK)
		return err;
	if ((err = res_insert_begin(&b, r, &sku_res, id)) != E_OK) {
		sqlb_release(&b);
		return err;
	}
	res_set(&b, "product_id = ?", DS(product));
	res_set(&b, "hex_code = ?", DS(hex));
	if ((err = res_insert_run(r, &sku_res, &b)) != E_OK ||
	    (err = skus_finished_good(r, id)) != E_OK)
		return err;
	return res_reply_view(r, &sku_res, id, RF_LIST, 1);
}

/* The mirrored fields present in the body onto the finished good, status recomputed. */
static enum api_err mirror(struct req *r, const char *id)
{
	struct sqlb b;
	int any = 0;
	sqlb_init(&b, "UPDATE finished_goods SET updated_at = NOW(3)");
	for (size_t i = 0; i < sizeof MIRRORED / sizeof MIRRORED[0]; i++) {
		const json_t *v = json_object_get(r->body, MIRRORED[i]);
		if (!v)
			continue;
		sqlb_add(&b, ", ");
		sqlb_add(&b, MIRRORED[i]);
		sqlb_bind(&b, " = ?", res_value(&b, res_field(&sku_res, MIRRORED[i]), v));
		any = 1;
	}
	sqlb_add(&b, ", status = " STOCK_STATUS_SQL);
	sqlb_bind(&b, " WHERE account_id = ?", DS(r->account_id));
	sqlb_bind(&b, " AND product_sku_id = ?", DS(id));
	enum api_err err = any ? sqlb_exec(r->db, &b, NULL) : E_OK;
	sqlb_release(&b);
	return err;
}

enum api_err skus_create(struct req *r)
{
	return sku_create(r, NULL);
}

enum api_err products_create_sku(struct req *r)
{
	return sku_create(r, req_param(r, "id"));
}

/* Safe fields only (RF_FIXED ones refused); route R_TXN with the finished good. */
enum api_err skus_update(struct req *r)
{
	struct sqlb b;
	struct db_res rs;
	const char *id = req_param(r, "id");
	enum api_err err;
	int bad = res_check_body(r, &sku_res, RF_PATCH);
	const char *hex = hex_code(r);
	if (bad || req_invalid(r))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &sku_res)) != E_OK)
		return err;
	if ((err = req_fetch_one(r, &Q_SKU_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &rs,
				 E_SKU_NOT_FOUND)) != E_OK)
		return err;
	db_res_free(&rs);
	res_update_begin(&b, r, &sku_res);
	if (json_object_get(r->body, "hex_code"))
		res_set(&b, "hex_code = ?", DS(hex));
	if ((err = res_update_run(r, &sku_res, &b)) != E_OK || (err = mirror(r, id)) != E_OK)
		return err;
	return res_reply_view(r, &sku_res, id, RF_LIST, 0);
}

/* stock_level += adjustment through the ledger, never below 0 (route R_TXN). */
enum api_err skus_adjust(struct req *r)
{
	struct db_res rs;
	struct stock_level lv;
	const char *id = req_param(r, "id");
	if (req_check_body(r, F_ADJUST))
		return E_VALIDATION_ERROR;
	long long adj = json_integer_value(json_object_get(r->body, "adjustment"));
	const json_t *why = json_object_get(r->body, "reason");
	const struct stock_src src = { "adjust", json_string_value(why), NULL, r->request_id };
	enum api_err err = req_fetch_one(r, &Q_SKU_LOCK, DB_ARGS(DS(r->account_id), DS(id)), &rs,
					 E_SKU_NOT_FOUND);
	if (err)
		return err;
	long long threshold = db_get_int(&rs, 0, 1, 0);
	db_res_free(&rs);
	if ((err = stock_add_int(r->db, r->account_id, SC_SKU_LEVEL, id, adj, &src, &lv)) != E_OK)
		return err;
	if (lv.refused)
		return req_fail(r, E_INVALID_STOCK_LEVEL, "adjustment %lld would take stock_level"
				" from %lld to %lld; it must stay within 0..%d", adj, lv.before_i,
				lv.before_i + adj, INT_MAX);
	return req_ok(r, json_pack("{s:s, s:I, s:I, s:I, s:b}", "id", id, "previous_stock_level",
				   (json_int_t)lv.before_i, "adjustment", (json_int_t)adj,
				   "new_stock_level", (json_int_t)lv.after_i, "is_low_stock",
				   lv.after_i <= threshold));
}
