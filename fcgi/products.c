/* products.c - Products: list (category, is_active, search; internal kit parts hidden), get
 * with its SKUs and assembly components, create, update of the display fields, distinct
 * categories. The fields are fcgi/products.def; docs/catalog.md, "Products", has the choices
 * the spec leaves open. */
#include "resources.h"

#include "util.h"

static const struct rfield product_fields[] = {
#define FIELD RES_FIELD
#include "products.def"
#undef FIELD
	RES_FIELD_END
};

static const struct rchild product_children[] = {
	{ "skus", &sku_res, RF_BRIEF, "s.product_id = ?", "s.sku, s.id" },
	{ "components", &component_res, RF_BRIEF, "pc.product_id = ?",
	  "pc.component_name, pc.id" },
	{ NULL, NULL, 0, NULL, NULL }
};

static const struct rfilter product_filters[] = {
	RES_FILTER("category", STR(1, 100), "p.category COLLATE utf8mb4_bin = ?", EXACT),
	RES_FILTER("is_active", BOOL, "p.is_active = ?", EXACT),
	RES_FILTER("search", STR(1, 200),
		   "(p.name LIKE CONCAT('%', ?, '%') ESCAPE '\\\\'"
		   " OR p.description LIKE CONCAT('%', ?, '%') ESCAPE '\\\\')", SUBSTR),
	RES_FILTER_END
};

static const struct runique product_uniques[] = {
	{ "uq_products_account_name", E_DUPLICATE_NAME, "name" },
	{ NULL, E_OK, NULL }
};

/* GET /products/categories: labels of standard and kit products, inactive ones included. */
static const struct rdistinct product_categories = { "p.category", NULL };

const struct resource product_res = {
	.noun = "product", .table = "products", .from = "products p", .alias = "p",
	.not_found = E_PRODUCT_NOT_FOUND, .fields = product_fields, .filters = product_filters,
	.where = "p.product_type <> 'kit_part'", .order = "p.name, p.id", .paging = RP_ALWAYS,
	.children = product_children, .uniques = product_uniques, .touch = "updated_at = NOW(3)",
	.distinct = &product_categories,
};


enum api_err products_check_wiki(struct req *r)
{
	const char *wiki = jhelp_str(r->body, "wiki_id");
	enum api_err err = wiki ? res_exists(r, &wiki_res, wiki) : E_OK;
	if (err == E_ARTICLE_NOT_FOUND)
		return req_fail(r, err, "wiki_id: article %s not found", wiki);
	return err;
}

/* A standard product; is_active is always true on create. Create and update answer the
 * ProductSummary (the list shape); GET /products/{id} adds skus, components and kit. */
enum api_err products_create(struct req *r)
{
	struct sqlb b;
	char id[UUID_LEN + 1];
	enum api_err err;
	if (res_check_body(r, &product_res, RF_CREATE))
		return E_VALIDATION_ERROR;
	if ((err = products_check_wiki(r)) != E_OK)
		return err;
	if ((err = res_insert_begin(&b, r, &product_res, id)) != E_OK) {
		sqlb_release(&b);
		return err;
	}
	if ((err = res_insert_run(r, &product_res, &b)) != E_OK)
		return err;
	return res_reply_view(r, &product_res, id, RF_LIST, 1);
}

/* Display fields only; the product's 404 comes before the article's. */
enum api_err products_update(struct req *r)
{
	struct sqlb b;
	enum api_err err;
	if (res_check_body(r, &product_res, RF_PATCH))
		return E_VALIDATION_ERROR;
	if ((err = res_need_updates(r, &product_res)) != E_OK)
		return err;
	if ((err = res_exists(r, &product_res, req_param(r, "id"))) != E_OK ||
	    (err = products_check_wiki(r)) != E_OK)
		return err;
	res_update_begin(&b, r, &product_res);
	if ((err = res_update_run(r, &product_res, &b)) != E_OK)
		return err;
	return res_reply_view(r, &product_res, req_param(r, "id"), RF_LIST, 0);
}

