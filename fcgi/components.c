/* components.c - Assembly components (aids such as screws and cables; never stock): the
 * catalog-wide list, a product's list, bulk create or replace, delete all. The fields are
 * fcgi/components.def; docs/catalog.md. */
#include "resources.h"

#include "openapi.h"

#include <stdio.h>

#define COMPONENTS_MAX 100

static const struct rfield component_fields[] = {
#define FIELD RES_FIELD
#include "components.def"
#undef FIELD
	RES_FIELD_END
};

/* Catalog-wide: by product, then name. */
const struct resource component_res = {
	.noun = "component", .table = "product_components", .from = "product_components pc",
	.alias = "pc", .not_found = E_NOT_FOUND, .fields = component_fields,
	.order = "pc.product_id, pc.component_name, pc.id", .paging = RP_NONE,
};

const struct jfield component_in[] = {
	{ "component_name", JF_STRING, JF_REQUIRED, 1, 200, { NULL } },
	{ "component_type", JF_STRING, JF_NULLABLE, 0, 100, { NULL } },
	{ "quantity_required", JF_INT, 0, 1, 1000000, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 500, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield COMPONENT_ITEM[] = {
	{ "components", JF_OBJECT, 0, 0, 0, { .sub = component_in } }
};
static const struct jfield F_COMPONENTS_BULK[] = {
	{ "components", JF_ARRAY, JF_REQUIRED, 1, COMPONENTS_MAX, { .sub = COMPONENT_ITEM } },
	{ "replace", JF_BOOL, 0, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
OPENAPI_BODY(components_bulk, F_COMPONENTS_BULK);

/* The product, locked so that concurrent replaces of its list run one after the other. */
static const struct db_query Q_PRODUCT_LOCK = {
	"SELECT 1 FROM products WHERE account_id = ? AND id = ? FOR UPDATE"
};
static const struct db_query Q_COMPONENTS_DELETE = {
	"DELETE FROM product_components WHERE account_id = ? AND product_id = ?"
};
static const struct db_query Q_COMPONENT_INSERT = {
	"INSERT INTO product_components (id, account_id, product_id, component_name,"
	" component_type, quantity_required, notes) VALUES (?, ?, ?, ?, ?, ?, ?)"
};

/* E_OK when the path's product is the account's (locked for a change of its list), else its
 * 404 naming it. */
static enum api_err product_of_path(struct req *r, int lock)
{
	const char *id = req_param(r, "id");
	struct db_res rs;
	enum api_err err = lock ? req_fetch_one(r, &Q_PRODUCT_LOCK,
						DB_ARGS(DS(r->account_id), DS(id)), &rs,
						E_PRODUCT_NOT_FOUND)
				: res_exists(r, &product_res, id);
	if (err == E_PRODUCT_NOT_FOUND)
		return req_fail(r, err, "Product %s not found", id);
	if (!err && lock)
		db_res_free(&rs);
	return err;
}

enum api_err components_clear(struct req *r, const char *product)
{
	return db_exec(r->db, &Q_COMPONENTS_DELETE, DB_ARGS(DS(r->account_id), DS(product)), NULL);
}

enum api_err components_insert(struct req *r, const char *product, const json_t *list)
{
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *c = json_array_get(list, i);
		const json_t *qty = json_object_get(c, "quantity_required");
		char id[UUID_LEN + 1];
		if (util_uuid(id) < 0)
			return E_INTERNAL_ERROR;
		enum api_err err = db_exec(
			r->db, &Q_COMPONENT_INSERT,
			DB_ARGS(DS(id), DS(r->account_id), DS(product),
				DS(jhelp_str(c, "component_name")), DS(jhelp_str(c, "component_type")),
				DI(qty ? json_integer_value(qty) : 1), DS(jhelp_str(c, "notes"))),
			NULL);
		if (err)
			return err;
	}
	return E_OK;
}

/* Checked whole before any write; with replace the old rows go first; one transaction (route
 * R_TXN). 201 with the product's whole list. */
enum api_err components_bulk(struct req *r)
{
	const char *product = req_param(r, "id");
	if (req_check_body(r, F_COMPONENTS_BULK))
		return E_VALIDATION_ERROR;
	enum api_err err = product_of_path(r, 1);
	if (err)
		return err;
	if (json_is_true(json_object_get(r->body, "replace")) &&
	    (err = components_clear(r, product)) != E_OK)
		return err;
	if ((err = components_insert(r, product, json_object_get(r->body, "components"))) != E_OK)
		return err;
	return res_reply_nested(r, &product_res, "components", product, 1);
}

enum api_err components_delete_all(struct req *r)
{
	enum api_err err = product_of_path(r, 0);
	if (err)
		return err;
	if ((err = components_clear(r, req_param(r, "id"))) != E_OK)
		return err;
	return req_ok(r, json_pack("{s:I}", "deleted", (json_int_t)db_affected(r->db)));
}
