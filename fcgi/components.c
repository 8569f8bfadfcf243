/* components.c - Assembly components (aids such as screws and cables; never stock): the
 * catalog-wide list, a product's list, bulk create or replace, delete all. The fields are
 * fcgi/components.def; docs/catalog.md. */
#include "resources.h"

#include <stdio.h>

#define COMPONENTS_MAX 100

static const struct rfield component_fields[] = {
#define FIELD RES_FIELD
#include "components.def"
#undef FIELD
	RES_FIELD_END
};

/* Catalog-wide: by product, then name. */
static const struct resource component_res = {
	.noun = "component", .table = "product_components", .from = "product_components pc",
	.alias = "pc", .not_found = E_NOT_FOUND, .fields = component_fields,
	.order = "pc.product_id, pc.component_name, pc.id", .paging = RP_NONE,
};

/* A product as the parent of its components (its 404 is PRODUCT_NOT_FOUND). */
static const struct rfield product_id_field[] = {
	RES_FIELD(id, "p.id", STR, NONE, RF_DETAIL)
	RES_FIELD_END
};
static const struct rchild product_components[] = {
	{ "components", &component_res, RF_BRIEF, "pc.product_id = ?",
	  "pc.component_name, pc.id" },
	{ NULL, NULL, 0, NULL, NULL }
};
static const struct resource component_product_res = {
	.noun = "product", .table = "products", .from = "products p", .alias = "p",
	.not_found = E_PRODUCT_NOT_FOUND, .fields = product_id_field, .order = "p.id",
	.children = product_components,
};

static const struct jfield COMPONENT_IN[] = {
	{ "component_name", JF_STRING, JF_REQUIRED, 1, 200, { NULL } },
	{ "component_type", JF_STRING, JF_NULLABLE, 0, 100, { NULL } },
	{ "quantity_required", JF_INT, 0, 1, 1000000, { NULL } },
	{ "notes", JF_STRING, JF_NULLABLE, 0, 500, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};
static const struct jfield COMPONENT_ITEM[] = {
	{ "components", JF_OBJECT, 0, 0, 0, { .sub = COMPONENT_IN } }
};
static const struct jfield F_COMPONENTS_BULK[] = {
	{ "components", JF_ARRAY, JF_REQUIRED, 1, COMPONENTS_MAX, { .sub = COMPONENT_ITEM } },
	{ "replace", JF_BOOL, 0, 0, 0, { NULL } },
	{ NULL, 0, 0, 0, 0, { NULL } }
};

/* The product, locked so that concurrent replaces of its list run one after the other. */
static const struct db_query Q_PRODUCT_LOCK = {
	"SELECT 1 FROM products WHERE account_id = ? AND id = ? FOR UPDATE"
};
static const struct db_query Q_PRODUCT_IN_ACCOUNT = {
	"SELECT 1 FROM products WHERE account_id = ? AND id = ?"
};
static const struct db_query Q_COMPONENTS_DELETE = {
	"DELETE FROM product_components WHERE account_id = ? AND product_id = ?"
};
static const struct db_query Q_COMPONENT_INSERT = {
	"INSERT INTO product_components (id, account_id, product_id, component_name,"
	" component_type, quantity_required, notes) VALUES (?, ?, ?, ?, ?, ?, ?)"
};

/* E_OK when the path's product is the account's (locked with lock), else its 404. */
static enum api_err product_of_path(struct req *r, const struct db_query *q)
{
	struct db_res rs;
	enum api_err err = req_fetch_one(r, q, DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))),
					 &rs, E_PRODUCT_NOT_FOUND);
	if (err == E_PRODUCT_NOT_FOUND)
		return req_fail(r, err, "Product %s not found", req_param(r, "id"));
	if (!err)
		db_res_free(&rs);
	return err;
}

enum api_err components_list_all(struct req *r)
{
	return res_list(r, &component_res);
}

enum api_err components_list(struct req *r)
{
	return res_list_nested(r, &component_product_res, "components");
}

/* Checked whole before any write; with replace the old rows go first; one transaction (route
 * R_TXN). 201 with the product's whole list. */
enum api_err components_bulk(struct req *r)
{
	const char *product = req_param(r, "id");
	if (req_check_body(r, F_COMPONENTS_BULK))
		return E_VALIDATION_ERROR;
	enum api_err err = product_of_path(r, &Q_PRODUCT_LOCK);
	if (err)
		return err;
	if (json_is_true(json_object_get(r->body, "replace")) &&
	    (err = db_exec(r->db, &Q_COMPONENTS_DELETE, DB_ARGS(DS(r->account_id), DS(product)),
			   NULL)) != E_OK)
		return err;
	const json_t *list = json_object_get(r->body, "components");
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *c = json_array_get(list, i);
		const json_t *qty = json_object_get(c, "quantity_required");
		char id[UUID_LEN + 1];
		if (util_uuid(id) < 0)
			return E_INTERNAL_ERROR;
		err = db_exec(r->db, &Q_COMPONENT_INSERT,
			      DB_ARGS(DS(id), DS(r->account_id), DS(product),
				      DS(jhelp_str(c, "component_name")),
				      DS(jhelp_str(c, "component_type")),
				      DI(qty ? json_integer_value(qty) : 1), DS(jhelp_str(c, "notes"))),
			      NULL);
		if (err)
			return err;
	}
	if ((err = components_list(r)) == E_OK)
		r->status = 201;
	return err;
}

enum api_err components_delete_all(struct req *r)
{
	enum api_err err = product_of_path(r, &Q_PRODUCT_IN_ACCOUNT);
	if (err)
		return err;
	err = db_exec(r->db, &Q_COMPONENTS_DELETE,
		      DB_ARGS(DS(r->account_id), DS(req_param(r, "id"))), NULL);
	if (err)
		return err;
	return req_ok(r, json_pack("{s:I}", "deleted", (json_int_t)db_affected(r->db)));
}
